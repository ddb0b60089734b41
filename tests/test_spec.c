/*
 * test_spec.c: speculative decoding (sim/spec.c and its hooks in the V1
 * scheduler and the step loop).
 *
 * Expected values come from outside the code: Leviathan, Kalman and
 * Matias (ICML 2023) eq. 1, mean tokens per target step (1 - a^(k+1)) /
 * (1 - a) under i.i.d. acceptance, and Theorem 3.8, the walltime speedup
 * (1 - a^(k+1)) / ((1 - a)(k c + 1)) when verifying costs one decode step
 * (2.801 at a 0.8, k 4, c 0.05); vLLM's synthetic acceptance (PR #40662:
 * L = 3.5 with k = 5 gives the per-position schedule [1, 1, 0.5, 0, 0]);
 * a roofline closed form written out below for the batch size where
 * speculation stops paying; block counts worked out by hand.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/test_util.h"

#include "analysis/metrics.h"
#include "analysis/report.h"
#include "sim/engine.h"
#include "sim/spec.h"
#include "workloads/source.h"

/* The vllm preset's cost terms, written out so a refit does not move the
 * closed forms below. */
static sim_config config(const char *gpu_name, const char *model_name)
{
    sim_config c = test_config(gpu_name, model_name);
    c.cost.bw_eff = 0.96;
    c.cost.flops_eff = 0.58;
    c.cost.step_overhead_s = 0.0055;
    c.prefix_caching = 0;
    return c;
}

static void set_spec(sim_config *c, const char *json)
{
    char err[512];
    if (sim_spec_parse(json, &c->spec, err, sizeof(err)) != 0)
        fail_msg("%s", err);
}

static double leviathan_eq1(double a, int k)
{
    return (1 - pow(a, k + 1)) / (1 - a);
}

/* Constant acceptance, no drafting cost (n-gram), long outputs: mean
 * tokens per verify step within 1 % of eq. 1, per position a^(i+1). */
static void test_leviathan_eq1(void **state)
{
    (void)state;
    const struct {
        double a;
        int k;
    } cases[] = {{0.6, 4}, {0.8, 5}}; /* 2.3056, 3.6893 (the facts file's check value) */
    for (size_t i = 0; i < 2; i++) {
        sim_config c = config("h100-sxm", "llama-3.1-8b");
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"method\": \"ngram\", \"num_speculative_tokens\": %d, \"acceptance_rate\": %g}",
                 cases[i].k, cases[i].a);
        set_spec(&c, json);
        test_run_out o;
        test_run_workload(&c, "batch:at=0,n=32;in=fixed:64;out=fixed:20000", &o);
        const sim_spec_stats *s = &o.res.spec;
        double want = leviathan_eq1(cases[i].a, cases[i].k);
        double got = 1.0 + (double)s->accepted_tokens / (double)s->num_drafts;
        print_message("a %g k %d: %.4f tokens per step, eq. 1 %.4f\n", cases[i].a, cases[i].k, got,
                      want);
        if (fabs(got - want) > 0.01 * want)
            fail_msg("a %g k %d: %.4f tokens per step, eq. 1 gives %.4f", cases[i].a, cases[i].k,
                     got, want);
        /* The outputs the engine appended agree: one token from each
         * prefill, then accepted + 1 per verify step (the last step of
         * each request cut to its output). */
        double per_step = (double)(o.res.output_tokens - 32) / (double)s->num_drafts;
        assert_true(fabs(per_step - want) < 0.01 * want);
        for (int p = 0; p < cases[i].k; p++) {
            double rate = (double)s->accepted_at[p] / (double)s->proposed_at[p];
            /* Position p is reached only when all before it were accepted:
             * the vLLM per-position rate is a^(p+1). */
            assert_true(fabs(rate - pow(cases[i].a, p + 1)) < 0.02);
        }
        /* ngram keeps no draft KV and needs no lookahead (vLLM V1). */
        assert_int_equal(o.res.plan.draft_kv_bytes_per_token, 0);
        assert_int_equal(s->lookahead_tokens, 0);
        an_metrics_free(&o.m);
    }
}

/* Theorem 3.8: a 0.8, k 4, c 0.05, batch-1 decode (memory-bound: the
 * verify pass of 5 tokens reads the same weights as a decode step):
 * speedup (1 - 0.8^5) / (0.2 x 1.2) = 2.801, within 3 %. */
static void test_theorem_3_8(void **state)
{
    (void)state;
    const char *w = "batch:at=0,n=1;in=fixed:128;out=fixed:8000";
    sim_config c = config("h100-sxm", "llama-3.1-8b");
    test_run_out plain, spec;
    test_run_workload(&c, w, &plain);
    set_spec(&c, "{\"method\": \"eagle\", \"num_speculative_tokens\": 4, "
                 "\"acceptance_rate\": 0.8, \"draft_time_ratio\": 0.05}");
    test_run_workload(&c, w, &spec);
    double want = leviathan_eq1(0.8, 4) / (4 * 0.05 + 1);
    assert_true(fabs(want - 2.801) < 0.001);
    double got = an_hist_mean(&plain.m.tpot) / an_hist_mean(&spec.m.tpot);
    print_message("speedup %.4f, Theorem 3.8 %.4f\n", got, want);
    if (fabs(got - want) > 0.03 * want)
        fail_msg("speedup %.4f, Theorem 3.8 gives %.4f", got, want);
    /* The drafter's share of busy time: 4 x 0.05 of a decode step per
     * step of about 1.2 decode steps, 1/6. */
    double share = spec.res.spec.draft_s / spec.res.busy_s;
    assert_true(fabs(share - 0.2 / 1.2) < 0.01);
    an_metrics_free(&plain.m);
    an_metrics_free(&spec.m);
}

/*
 * Llama-3.1-8B on an H100-SXM drafted by Llama-3.2-1B (k 4, a 0.7: E =
 * 2.773 tokens per step), B requests of 512 prompt and 512 output tokens
 * all at once, so decode runs at batch B over a mean context c = 768.
 * The roofline closed form, per decode step (bytes / (3.35e12 x 0.96),
 * FLOPs / (989.4e12 x 0.58), overhead o = 5.5 ms once per step):
 *   plain    T_p(B) = max((W + B c kv + B kv) / BW, B (2 N + A (c + 1)) / P) + o
 *   spec     T_s(B) = max((W + B c kv + 5 B kv) / BW,
 *                         (5 B 2 N + B A (5 (c + 1) + 10)) / P) + o
 *                     + sum_{j=0..3} max((W_d + B (c + 1 + j) kv_d) / BW,
 *                                        B (2 N_d + A_d (c + 1 + j)) / P)
 * with W = 2 N bytes, N = 8,030,261,248, kv = 131,072, A = 4 x 32 x 32 x
 * 128; N_d = 1,235,814,400 (W_d = 2 N_d), kv_d = 32,768, A_d = 4 x 16 x
 * 32 x 64. Speculation pays while T_s(B) / E < T_p(B): at batch 1,
 * 10.5 ms against 4.9 ms a token (2.14x); the two meet at B* = 234 (both
 * compute-bound there: 5 B 2 N / P grows five times as fast as the plain
 * step's FLOPs, while E stays 2.77). The engine's crossover, from its
 * mean TPOT over a sweep of B, must be within 10 % of 234.
 */
static void test_batch_crossover(void **state)
{
    (void)state;
    const char *json = "{\"method\": \"draft_model\", \"model\": \"llama-3.2-1b\", "
                       "\"num_speculative_tokens\": 4, \"acceptance_rate\": 0.7}";
    double first_tpot_ratio = 0;
    uint32_t crossover = 0;
    for (uint32_t b = 1; b <= 320 && crossover == 0; b = b == 1 ? 160 : b + 8) {
        char w[128];
        snprintf(w, sizeof(w), "batch:at=0,n=%u;in=fixed:512;out=fixed:512", b);
        sim_config c = config("h100-sxm", "llama-3.1-8b");
        test_run_out plain, spec;
        test_run_workload(&c, w, &plain);
        set_spec(&c, json);
        test_run_workload(&c, w, &spec);
        double ratio = an_hist_mean(&plain.m.tpot) / an_hist_mean(&spec.m.tpot);
        if (b == 1)
            first_tpot_ratio = ratio;
        else if (ratio < 1.0)
            crossover = b;
        an_metrics_free(&plain.m);
        an_metrics_free(&spec.m);
    }
    print_message("batch-1 speedup %.3f, crossover at batch %u\n", first_tpot_ratio, crossover);
    /* Batch 1: the closed form's 2.14x within 3 %. */
    if (fabs(first_tpot_ratio - 2.141) > 0.03 * 2.141)
        fail_msg("batch-1 speedup %.3f, closed form 2.141", first_tpot_ratio);
    if (crossover == 0 || fabs((double)crossover - 234) > 23.4)
        fail_msg("speculation stops paying at batch %u, the closed form says 234", crossover);
}

/* KV: lookahead slots, the drafter's cache in every pool slot, rollbacks
 * under memory pressure with the allocator checked after every
 * operation. */
static void test_kv_accounting(void **state)
{
    (void)state;
    /* One request of 104 prompt tokens, EAGLE k 4: the first decode grows
     * to 104 + 1 + 4 drafts + 4 lookahead = 113 slots, 8 blocks of 16
     * (7 without speculation); a slot holds the target's 131,072 bytes
     * and the head's one layer, 131,072 / 32 = 4,096. */
    sim_config c = config("h100-sxm", "llama-3.1-8b");
    c.check = true;
    set_spec(&c, "{\"method\": \"eagle\", \"num_speculative_tokens\": 4, "
                 "\"acceptance_rate\": 0.5}");
    test_run_out o;
    test_run_workload(&c, "batch:at=0,n=1;in=fixed:104;out=fixed:2", &o);
    assert_int_equal(o.res.plan.kv_bytes_per_token, 131072 + 4096);
    assert_int_equal(o.m.peak_alloc_bytes, 8ull * 16 * (131072 + 4096));
    an_metrics_free(&o.m);

    /* A draft model: its weights in the plan, its KV in each slot
     * (Llama-3.2-1B: 2 x 16 x 8 x 64 x 2 = 32,768 bytes). A pool of 200
     * blocks for 64 requests forces preemptions; --check runs kv_check
     * after every allocator operation (it aborts on a broken invariant:
     * the six categories always sum to the pool). */
    c = config("h100-sxm", "llama-3.1-8b");
    c.check = true;
    c.num_blocks = 200;
    c.max_model_len = 2048;
    set_spec(&c, "{\"method\": \"draft_model\", \"model\": \"llama-3.2-1b\", "
                 "\"num_speculative_tokens\": 5, \"acceptance_rates\": [0.8, 0.6, 0.45, 0.3, "
                 "0.2]}");
    test_run_workload(
        &c, "poisson:rate=50,n=64;in=uniform:min=16,max=600;out=uniform:min=1,max=400", &o);
    assert_int_equal(o.res.plan.kv_bytes_per_token, 131072 + 32768);
    assert_int_equal(o.res.plan.draft_kv_bytes_per_token, 32768);
    assert_true(o.res.plan.draft_weights_bytes > 2.4e9 && o.res.plan.draft_weights_bytes < 2.5e9);
    assert_int_equal(o.res.completed, 64);
    assert_true(o.res.preemptions > 0);
    /* Speculation changes when tokens come, never how many: the same
     * outputs as without it (cuts at max_model_len included). */
    sim_config plain = c;
    plain.spec.method = SIM_SPEC_NONE;
    test_run_out p;
    test_run_workload(
        &plain, "poisson:rate=50,n=64;in=uniform:min=16,max=600;out=uniform:min=1,max=400", &p);
    assert_int_equal(p.res.output_tokens, o.res.output_tokens);
    assert_int_equal(p.res.truncated, o.res.truncated);
    an_metrics_free(&p.m);
    const sim_spec_stats *s = &o.res.spec;
    assert_int_equal(s->rolled_back_tokens, s->draft_tokens - s->accepted_tokens);
    an_breakdown_pct avg;
    an_metrics_time_avg(&o.m, o.res.makespan_s, &avg);
    double sum = avg.token_states + avg.reservation + avg.internal_frag + avg.external_frag +
                 avg.blocked_free + avg.free;
    assert_true(fabs(sum - 100.0) < 1e-6);
    /* The rates given are unconditional (vLLM's synthetic rates: draft i
     * and all before it accepted), and so is vLLM's per-position metric
     * (accepted at position i over the drafts that proposed it): the
     * figures come back, 0.8, 0.6, 0.45, 0.3, 0.2, within sampling error
     * over a few thousand drafts. */
    for (int pos = 0; pos < 5; pos++) {
        static const double want[5] = {0.8, 0.6, 0.45, 0.3, 0.2};
        double rate = (double)s->accepted_at[pos] / (double)s->proposed_at[pos];
        assert_true(fabs(rate - want[pos]) < 0.03);
    }
    an_metrics_free(&o.m);
}

/* The acceptance forms and their errors. */
static void test_acceptance_forms(void **state)
{
    (void)state;
    sim_spec_config s;
    char err[512];
    /* vLLM's minimum-variance schedule: L 3.5, k 5 -> [1, 1, 0.5, 0, 0]. */
    assert_int_equal(sim_spec_parse("{\"method\": \"mtp\", \"num_speculative_tokens\": 5, "
                                    "\"acceptance_length\": 3.5}",
                                    &s, err, sizeof(err)),
                     0);
    static const double mv[5] = {1, 1, 0.5, 0, 0};
    for (int i = 0; i < 5; i++)
        assert_true(fabs(s.cond[i] - mv[i]) < 1e-12);
    assert_true(fabs(sim_spec_expected_tokens(s.cond, 5) - 3.5) < 1e-12);
    /* The geometric law: the i.i.d. rate with that mean. */
    assert_int_equal(sim_spec_parse("{\"method\": \"eagle3\", \"num_speculative_tokens\": 4, "
                                    "\"acceptance_length\": 2.773, \"acceptance_law\": "
                                    "\"geometric\"}",
                                    &s, err, sizeof(err)),
                     0);
    assert_true(fabs(s.cond[0] - 0.7) < 1e-3 && fabs(s.cond[3] - s.cond[0]) < 1e-12);
    /* Unconditional rates to conditional ones. */
    assert_int_equal(sim_spec_parse("{\"method\": \"ngram\", \"num_speculative_tokens\": 3, "
                                    "\"synthetic_acceptance_rates\": [0.8, 0.4, 0.1]}",
                                    &s, err, sizeof(err)),
                     0);
    assert_true(fabs(s.cond[1] - 0.5) < 1e-12 && fabs(s.cond[2] - 0.25) < 1e-12);
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"method\": \"medusa\", \"num_speculative_tokens\": 2, \"acceptance_rate\": 0.5}",
         "\"method\""},
        {"{\"method\": \"ngram\", \"num_speculative_tokens\": 2}", "exactly one"},
        {"{\"method\": \"ngram\", \"num_speculative_tokens\": 0, \"acceptance_rate\": 0.5}",
         "num_speculative_tokens"},
        {"{\"method\": \"ngram\", \"num_speculative_tokens\": 2, \"acceptance_rate\": 1.5}",
         "acceptance_rate"},
        {"{\"method\": \"ngram\", \"num_speculative_tokens\": 2, \"acceptance_rates\": [0.5, "
         "0.6]}",
         "not above"},
        {"{\"method\": \"ngram\", \"num_speculative_tokens\": 2, \"acceptance_rate\": 0.5, "
         "\"alpha\": 1}",
         "unknown key \"alpha\""},
        {"{\"method\": \"draft_model\", \"num_speculative_tokens\": 2, \"acceptance_rate\": 0.5}",
         "needs \"model\""},
        {"{\"method\": \"draft_model\", \"model\": \"llama-9\", \"num_speculative_tokens\": 2, "
         "\"acceptance_rate\": 0.5}",
         "unknown model"},
        {"{\"method\": \"ngram\", \"num_speculative_tokens\": 2, \"acceptance_length\": 2, "
         "\"acceptance_concentration\": 5}",
         "acceptance_concentration"},
        {"[1, 2]", "JSON object"},
        {"{", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sim_spec_parse(bad[i].json, &s, err, sizeof(err)) == 0)
            fail_msg("accepted %s", bad[i].json);
        if (strstr(err, bad[i].msg) == NULL || strncmp(err, "--speculative-config", 20) != 0)
            fail_msg("%s: '%s' lacks '%s'", bad[i].json, err, bad[i].msg);
    }
    /* What the configuration refuses: another scheduler, a drafter with
     * another tokenizer. */
    sim_config c = config("h100-sxm", "llama-3.1-8b"), o;
    set_spec(&c, "{\"method\": \"ngram\", \"num_speculative_tokens\": 2, "
                 "\"acceptance_rate\": 0.5}");
    snprintf(c.scheduler, sizeof(c.scheduler), "sarathi");
    assert_int_equal(sim_config_resolve(&c, &o, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--scheduler vllm"));
    c = config("h100-sxm", "llama-3.1-8b");
    set_spec(&c, "{\"method\": \"draft_model\", \"model\": \"llama-2-7b\", "
                 "\"num_speculative_tokens\": 2, \"acceptance_rate\": 0.5}");
    assert_int_equal(sim_config_resolve(&c, &o, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "vocabulary"));
}

/* Per-request Beta variation: its own stream (the same seed, the same
 * draws; another seed, others), and a concentration so high that every
 * request's rate is the mean gives the i.i.d. figures. */
static void test_beta_per_request(void **state)
{
    (void)state;
    const char *w = "poisson:rate=20,n=200;in=fixed:64;out=fixed:300";
    sim_config c = config("h100-sxm", "llama-3.1-8b");
    set_spec(&c, "{\"method\": \"ngram\", \"num_speculative_tokens\": 4, "
                 "\"acceptance_rate\": 0.6, \"acceptance_concentration\": 4}");
    test_run_out a, b, d, iid;
    test_run_workload(&c, w, &a);
    test_run_workload(&c, w, &b);
    c.seed = 1;
    test_run_workload(&c, w, &d);
    assert_int_equal(a.res.spec.accepted_tokens, b.res.spec.accepted_tokens);
    assert_int_equal(a.res.spec.num_drafts, b.res.spec.num_drafts);
    assert_true(a.res.spec.accepted_tokens != d.res.spec.accepted_tokens);
    c.seed = 0;
    set_spec(&c, "{\"method\": \"ngram\", \"num_speculative_tokens\": 4, "
                 "\"acceptance_rate\": 0.6, \"acceptance_concentration\": 1e8}");
    test_run_workload(&c, w, &iid);
    double L = 1.0 + (double)iid.res.spec.accepted_tokens / (double)iid.res.spec.num_drafts;
    assert_true(fabs(L - leviathan_eq1(0.6, 4)) < 0.02 * leviathan_eq1(0.6, 4));
    /* Spread rates change the mix: a request at a rate near 1 drafts
     * seldom, one near 0 often, so per step the mean length differs from
     * the i.i.d. one. */
    double La = 1.0 + (double)a.res.spec.accepted_tokens / (double)a.res.spec.num_drafts;
    assert_true(fabs(La - L) > 0.05);
    an_metrics_free(&a.m);
    an_metrics_free(&b.m);
    an_metrics_free(&d.m);
    an_metrics_free(&iid.m);
}

/* A step by hand: one request (128 prompt tokens, 101 output), a draft
 * model, k 4, nothing accepted, so each verify step appends one token.
 * At computed tokens c the step reads the target's weights W (but its
 * input embedding, 128,256 x 4,096: a gather; Llama-3.2-1B's is tied, the
 * LM head, read every pass) and its KV
 * for c + 5 tokens (context read, 5 query tokens written), memory-bound
 * at batch 1, plus the 5.5 ms overhead; then 4 draft passes of
 * Llama-3.2-1B, pass j reading its weights W_d and its KV for c + j + 1
 * tokens, without overhead. TPOT is the mean over c = 128 .. 227. */
static void test_step_by_hand(void **state)
{
    (void)state;
    sim_config c = config("h100-sxm", "llama-3.1-8b");
    set_spec(&c, "{\"method\": \"draft_model\", \"model\": \"llama-3.2-1b\", "
                 "\"num_speculative_tokens\": 4, \"acceptance_rate\": 0}");
    test_run_out o;
    test_run_workload(&c, "batch:at=0,n=1;in=fixed:128;out=fixed:101", &o);
    const double bw = 3350e9 * 0.96, W = (8030261248.0 - 525336576.0) * 2, Wd = 1235814400.0 * 2;
    const double kv = 131072, kvd = 32768;
    double sum = 0;
    for (int i = 0; i < 100; i++) {
        double ctx = 128 + i;
        double t = (W + kv * (ctx + 5)) / bw + 0.0055;
        for (int j = 0; j < 4; j++)
            t += (Wd + kvd * (ctx + j + 1)) / bw;
        sum += t;
    }
    double want = sum / 100;
    assert_int_equal(o.res.spec.accepted_tokens, 0);
    assert_int_equal(o.res.spec.num_drafts, 100);
    if (fabs(an_hist_mean(&o.m.tpot) - want) > 1e-9)
        fail_msg("TPOT %.9f, by hand %.9f", an_hist_mean(&o.m.tpot), want);
    assert_int_equal(o.res.plan.draft_weights_bytes, (uint64_t)Wd); /* tied: all of it */
    an_metrics_free(&o.m);
}

/* Prefix caching with speculation: chunked prompts that share prefixes
 * (the chat preset, a 512-token budget), the allocator checked after
 * every operation (kv_check through every lookahead and rollback). The
 * cache finds what it finds without speculation: this load evicts
 * nothing, so the hits do not depend on timing, and the drafts and
 * lookahead slots lie past the prompts the hash ids describe. */
static void test_prefix_cache(void **state)
{
    (void)state;
    const char *w = "chat:n=100";
    sim_config c = config("a100-40gb", "llama-3.1-8b");
    c.prefix_caching = 1;
    c.max_batched_tokens = 512;
    c.check = true;
    test_run_out plain, spec;
    test_run_workload(&c, w, &plain);
    set_spec(&c, "{\"method\": \"eagle\", \"num_speculative_tokens\": 8, "
                 "\"acceptance_rate\": 0.6}");
    test_run_workload(&c, w, &spec);
    assert_true(plain.res.prefix.hit_tokens > 0);
    assert_int_equal(plain.res.prefix.evictions, 0);
    assert_int_equal(spec.res.prefix.hit_tokens, plain.res.prefix.hit_tokens);
    assert_int_equal(spec.res.prefix.lookup_tokens, plain.res.prefix.lookup_tokens);
    assert_int_equal(spec.res.output_tokens, plain.res.output_tokens);
    an_metrics_free(&plain.m);
    an_metrics_free(&spec.m);
}

/* summary.json carries vLLM's names, with values that agree with the
 * counters: 100 x accepted / drafts proposed, 1 + accepted / drafts. */
static void test_summary_keys(void **state)
{
    (void)state;
    sim_config c = config("h100-sxm", "llama-3.1-8b");
    set_spec(&c, "{\"method\": \"ngram\", \"num_speculative_tokens\": 3, "
                 "\"acceptance_rates\": [0.9, 0.5, 0.25]}");
    test_run_out o;
    test_run_workload(&c, "batch:at=0,n=4;in=fixed:32;out=fixed:4000", &o);
    char *json = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&json, &len);
    an_run_info info = {&c, &o.res, &o.m, "test", 0.0};
    assert_int_equal(an_write_summary_json(fp, &info), 0);
    fclose(fp);
    const sim_spec_stats *s = &o.res.spec;
    char want[128];
    snprintf(want, sizeof(want), "\"spec_decode_acceptance_rate\": %.6f",
             100.0 * (double)s->accepted_tokens / (double)s->draft_tokens);
    assert_non_null(strstr(json, want));
    snprintf(want, sizeof(want), "\"spec_decode_acceptance_length\": %.6f",
             1.0 + (double)s->accepted_tokens / (double)s->num_drafts);
    assert_non_null(strstr(json, want));
    assert_non_null(strstr(json, "\"spec_decode_per_position_acceptance_rate\": ["));
    assert_non_null(strstr(json, "\"lookahead_slots\": 0")); /* ngram */
    /* 1 + 0.9 + 0.5 + 0.25 = 2.65 tokens per step (vLLM's unconditional rates). */
    assert_true(fabs(1.0 + (double)s->accepted_tokens / (double)s->num_drafts - 2.65) < 0.03);
    free(json);
    an_metrics_free(&o.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leviathan_eq1),    cmocka_unit_test(test_theorem_3_8),
        cmocka_unit_test(test_batch_crossover),  cmocka_unit_test(test_kv_accounting),
        cmocka_unit_test(test_acceptance_forms), cmocka_unit_test(test_beta_per_request),
        cmocka_unit_test(test_summary_keys),     cmocka_unit_test(test_step_by_hand),
        cmocka_unit_test(test_prefix_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
