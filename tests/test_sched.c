/*
 * test_sched.c: the scheduler family. A contract suite registered once
 * per scheduler (every request ends completed or rejected, the token
 * budget and max_num_seqs hold at every step, allocator invariants after
 * every operation, no livelock on tiny pools), vLLM v0's decode rule and
 * V1's by hand, swap, the closed-loop client, replicas, and the
 * comparisons of the README's scheduler table on the shared traces.
 */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/test_util.h"

#include "analysis/metrics.h"
#include "sim/engine.h"
#include "sim/sched.h"

static sim_config config(const char *gpu_name, const char *model_name, const char *sched)
{
    sim_config c = test_config(gpu_name, model_name);
    snprintf(c.scheduler, sizeof(c.scheduler), "%s", sched);
    return c;
}

static char *write_trace(const char *text)
{
    char *path = strdup("/tmp/kvsim_sched_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* The step checker: limits at every step, chained to the metrics. */
typedef struct checker {
    an_metrics m;
    sim_observer inner;
    uint64_t budget;
    uint32_t max_seqs;
    bool budget_applies;
    uint64_t steps, violations;
    char first[256];
    uint32_t n_samples;
    uint64_t gap_tokens, gap_expected, bad_gaps; /* token gaps reported, expected, not > 0 */
    uint64_t first_tokens, first_expected;       /* first tokens reported, expected */
    double last_now_s;
} checker;

static void ck_start(void *ctx, const sim_memory_plan *plan)
{
    checker *k = ctx;
    k->budget = plan->max_batched_tokens;
    k->max_seqs = plan->max_num_seqs;
    k->inner.on_start(k->inner.ctx, plan);
}

static void ck_step(void *ctx, const sim_step_record *s)
{
    checker *k = ctx;
    if (!s->idle) {
        k->steps++;
        uint64_t tokens = s->prefill_tokens + s->decode_seqs;
        if ((k->budget_applies && tokens > k->budget) || s->running > k->max_seqs) {
            if (k->violations++ == 0)
                snprintf(k->first, sizeof(k->first),
                         "step at %.6f s: %llu tokens (budget %llu), %u running (limit %u)",
                         s->start_s, (unsigned long long)tokens, (unsigned long long)k->budget,
                         s->running, k->max_seqs);
        }
    }
    k->inner.on_step(k->inner.ctx, s);
}

static void ck_request(void *ctx, const sim_request_record *r)
{
    checker *k = ctx;
    /* Every token after a request's first has a gap, rejected requests'
     * included (one that outgrew the pool produced some). */
    if (r->output_tokens > 1)
        k->gap_expected += (uint64_t)(r->output_tokens - 1) * k->n_samples;
    if (r->output_tokens > 0)
        k->first_expected += k->n_samples;
    k->inner.on_request(k->inner.ctx, r);
}

static void ck_gaps(void *ctx, double now_s, double gap_s, uint64_t count)
{
    checker *k = ctx;
    if (gap_s >= 0) {
        k->gap_tokens += count;
        k->bad_gaps += !(gap_s > 0);
    } else {
        k->first_tokens += count;
    }
    k->bad_gaps += now_s < k->last_now_s; /* tokens are reported in time order */
    k->last_now_s = now_s;
    k->inner.on_token_gaps(k->inner.ctx, now_s, gap_s, count);
}

/* Runs SRC through CFG with the checker; fails the test on an error. */
static void run_src(const sim_config *cfg, wl_source *src, checker *k, sim_result *res)
{
    memset(k, 0, sizeof(*k));
    an_metrics_init(&k->m, NULL, NULL, 1.0);
    k->inner = an_metrics_observer(&k->m);
    k->budget_applies = strcmp(cfg->scheduler, "static") != 0;
    k->n_samples = cfg->n_samples;
    sim_observer obs = {k, ck_start, ck_step, ck_request, ck_gaps, NULL};
    char err[512];
    if (sim_run(cfg, src, &obs, res, err, sizeof(err)) != 0)
        fail_msg("%s: %s", cfg->scheduler, err);
    if (k->gap_tokens != k->gap_expected || k->bad_gaps != 0 ||
        k->first_tokens != k->first_expected)
        fail_msg("%s: %llu token gaps reported, %llu expected (tokens after each request's "
                 "first), %llu not positive or out of order; %llu first tokens, %llu expected",
                 cfg->scheduler, (unsigned long long)k->gap_tokens,
                 (unsigned long long)k->gap_expected, (unsigned long long)k->bad_gaps,
                 (unsigned long long)k->first_tokens, (unsigned long long)k->first_expected);
    an_metrics_finish(&k->m, res->makespan_s);
    wl_close(src);
}

static void run_text(const sim_config *cfg, const char *text, checker *k, sim_result *res)
{
    char *p = write_trace(text);
    wl_source *src;
    char err[512];
    if (wl_open_trace(&src, p, TRACE_FORMAT_AUTO, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    run_src(cfg, src, k, res);
    unlink(p);
    free(p);
}

/* A shared trace, or NULL (the test skips) when ../shared is absent. */
static const char *shared(const char *name)
{
    static char path[1024];
    const char *d = getenv("KVSIM_SHARED_DIR");
    snprintf(path, sizeof(path), "%s/traces/%s", d ? d : "../shared", name);
    if (access(path, R_OK) != 0) {
        printf("skipped: %s is absent\n", path);
        return NULL;
    }
    return path;
}

static wl_source *open_path(const char *path, double rate_scale, uint64_t limit)
{
    wl_source *src;
    char err[512];
    if (wl_open_trace(&src, path, TRACE_FORMAT_AUTO, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    wl_transforms t = {.rate_scale = rate_scale, .limit = limit};
    if (wl_apply_transforms(&src, &t, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return src;
}

static void assert_contract(const sim_result *res, const checker *k, uint64_t total)
{
    if (k->violations)
        fail_msg("%llu steps broke a limit; first: %s", (unsigned long long)k->violations,
                 k->first);
    assert_int_equal(res->total, total);
    assert_int_equal(res->completed + res->rejected, total);
}

/* ---------------------------------------------------------- contract */

/* A synthetic mix under pressure: 300 requests in 3 s, prompts up to 900
 * tokens, in a pool of 160 blocks (2,560 tokens). */
static void contract_pressure(void **state)
{
    const char *sched = *state;
    sim_config c = config("a100-80gb", "llama-2-7b", sched);
    c.num_blocks = 160;
    c.max_model_len = 1024;
    c.max_num_seqs = 32;
    if (strcmp(sched, "static") != 0 && strcmp(sched, "orca") != 0)
        c.max_batched_tokens = 1024;
    c.check = true;
    wl_source *src;
    char err[512];
    if (wl_open_spec(&src,
                     "poisson:rate=100,n=300;in=uniform:min=1,max=900;out=uniform:min=1,max=120", 7,
                     err, sizeof(err)) != 0)
        fail_msg("%s", err);
    checker k;
    sim_result res;
    run_src(&c, src, &k, &res);
    assert_contract(&res, &k, 300);
    assert_true(res.completed > 250);
    an_metrics_free(&k.m);
}

/* Tiny pools on the Mooncake trace (long prompts, shared prefixes) with
 * --max-model-len the pool's size: every request must end (peer
 * simulators livelocked here). */
static void contract_tiny_pools_mooncake(void **state)
{
    const char *sched = *state;
    const char *path = shared("conversation_trace.jsonl.gz");
    if (path == NULL)
        skip();
    static const uint32_t pools[] = {10, 37, 100};
    for (size_t p = 0; p < 3; p++) {
        sim_config c = config("h100-sxm", "llama-3.1-8b", sched);
        c.num_blocks = pools[p];
        c.max_model_len = pools[p] * 16;
        c.watermark = 0; /* vllm-v0's 1 % would keep a block of these from one sequence */
        c.max_num_seqs = 8;
        if (strcmp(sched, "static") != 0 && strcmp(sched, "orca") != 0)
            c.max_batched_tokens = 2048;
        checker k;
        sim_result res;
        run_src(&c, open_path(path, 0, 2000), &k, &res);
        assert_contract(&res, &k, 2000);
        an_metrics_free(&k.m);
    }
}

/* Prefix caching under every scheduler (paged:prefix=on, --check): a
 * request computes a 600-token prompt whose first 512 tokens carry hash
 * id 0; two more with the same prompt arrive together after it and both
 * hit its 32 cached blocks. The hits are computed: 2 x 512 tokens saved,
 * 600 + 2 x 88 computed. Static batching computed the whole prompts
 * (1,800 tokens while counting 1,024 saved), and while the two shared
 * blocks were not yet counted as computed the pool's token states went
 * negative (the allocator invariant broke). */
static void contract_prefix_hits(void **state)
{
    const char *sched = *state;
    sim_config c = config("l40s", "llama-3.2-1b", sched);
    snprintf(c.allocator, sizeof(c.allocator), "paged:prefix=on");
    c.max_model_len = 8192;
    c.check = true;
    checker k;
    sim_result res;
    run_text(&c,
             "arrival_s,input_tokens,output_tokens,hash_ids\n0,600,9,0\n3,600,10,0\n"
             "3,600,10,0\n",
             &k, &res);
    assert_contract(&res, &k, 3);
    assert_int_equal(res.completed, 3);
    assert_int_equal(res.prefix.hit_tokens, 1024);
    assert_int_equal(res.prefill_tokens_computed, 600 + 2 * 88);
    an_metrics_free(&k.m);
}

/* ------------------------------------------------------------ by hand */

/* vLLM v0's decode rule: before each decode a request needs one free
 * block per sequence, else the newest running request is preempted.
 * Pool of 4 blocks of 16, no watermark, two requests of 20 prompt and 10
 * output tokens at t = 0. Both prompts are admitted together (2 blocks
 * each: the pool is full). Each decode step then finds 0 free blocks for
 * A, preempts B (its 2 blocks freed) and decodes A; the next step admits
 * B again (a prefill step: v0 runs waiting prompts first) and so on. A
 * produces 1 token at its prefill and 9 in decode steps, each of which
 * preempts B once: 9 preemptions. Then B runs alone (2 free blocks). */
static void test_v0_decode_rule(void **state)
{
    (void)state;
    const char *trace = "arrival_s,input_tokens,output_tokens\n0,20,10\n0,20,10\n";
    sim_config c = config("a100-80gb", "llama-2-7b", "vllm-v0");
    c.num_blocks = 4;
    c.watermark = 0;
    c.max_model_len = 64;
    c.check = true;
    checker k;
    sim_result res;
    run_text(&c, trace, &k, &res);
    assert_int_equal(res.completed, 2);
    assert_int_equal(res.preemptions, 9);
    an_metrics_free(&k.m);
    /* V1 allocates only when a token crosses into a new block: each
     * request ends holding 29 tokens in its 2 blocks (32 slots), so it
     * never preempts. */
    c = config("a100-80gb", "llama-2-7b", "vllm");
    c.num_blocks = 4;
    c.max_model_len = 64;
    c.check = true;
    run_text(&c, trace, &k, &res);
    assert_int_equal(res.completed, 2);
    assert_int_equal(res.preemptions, 0);
    an_metrics_free(&k.m);
}

/* Chunked prefill by hand: a 5,000-token prompt under a 2,048 budget
 * takes three steps (2,048 + 2,048 + 904 tokens) and emits its first
 * token at the third; a decode arriving meanwhile shares those steps. */
static void test_v1_chunks(void **state)
{
    (void)state;
    sim_config c = config("a100-80gb", "llama-3.1-8b", "vllm");
    c.max_model_len = 8192;
    c.check = true;
    checker k;
    sim_result res;
    run_text(&c, "arrival_s,input_tokens,output_tokens\n0,5000,2\n", &k, &res);
    assert_int_equal(res.plan.max_batched_tokens, 2048); /* an A100: vLLM's smaller default */
    assert_int_equal(res.steps, 4);                      /* 3 chunks + 1 decode */
    assert_int_equal(res.prefill_tokens_computed, 5000);
    an_metrics_free(&k.m);
    /* The chunks read the KV of the earlier ones: the third step costs
     * more than a fresh 904-token prefill would. */
}

/* Prefix caching on by default in V1: a second request with the same
 * hash ids computes only its uncached tail. 1,024-token prompts with two
 * 512-token hash ids; the second arrives after the first finished. */
static void test_v1_prefix_default(void **state)
{
    (void)state;
    sim_config c = config("a100-80gb", "llama-3.1-8b", "vllm");
    c.max_model_len = 8192;
    checker k;
    sim_result res;
    run_text(&c, "arrival_s,input_tokens,output_tokens,hash_ids\n0,1024,4,1 2\n5,1024,4,1 2\n", &k,
             &res);
    assert_true(res.prefix_caching);
    /* The second request's 1,024 tokens hit but the last block, which is
     * computed again: 1,024 + 16. */
    assert_int_equal(res.prefill_tokens_computed, 1024 + 16);
    an_metrics_free(&k.m);
    c.prefix_caching = 0;
    run_text(&c, "arrival_s,input_tokens,output_tokens,hash_ids\n0,1024,4,1 2\n5,1024,4,1 2\n", &k,
             &res);
    assert_int_equal(res.prefill_tokens_computed, 2048);
    an_metrics_free(&k.m);
}

/* A lone request whose two samples outgrow the pool is rejected when
 * that shows, and the memory the observers see is empty after it (the
 * run then idles 100 s until the next request). 10 blocks of 16; a
 * 100-token prompt shares 6 full blocks, each sample then needs its own:
 * 6 + 2 x 4 = 14 blocks at 160 tokens. */
static void test_outgrow_then_idle(void **state)
{
    (void)state;
    const char *sched[] = {"vllm", "vllm-v0"};
    for (int s = 0; s < 2; s++) {
        sim_config c = config("a100-80gb", "llama-2-7b", sched[s]);
        c.num_blocks = 10;
        c.max_model_len = 160;
        c.n_samples = 2;
        c.watermark = 0;
        c.check = true;
        checker k;
        sim_result res;
        run_text(&c, "arrival_s,input_tokens,output_tokens\n0,100,200\n100,5,5\n", &k, &res);
        assert_int_equal(res.rejected_by[SIM_REJECT_GREW_OVER_POOL], 1);
        assert_int_equal(res.completed, 1);
        /* Its 200 outputs were cut to 61 at arrival, but it never completed:
         * not a truncated output (issue 12 item 3). */
        assert_int_equal(res.truncated, 0);
        an_breakdown_pct avg;
        an_metrics_time_avg(&k.m, res.makespan_s, &avg);
        /* Busy well under 1 s of ~100 s: token states average under 2 %
         * (before the fix the full pool stuck for the idle 100 s). */
        assert_true(avg.token_states < 2.0);
        an_metrics_free(&k.m);
    }
}

/* Two passes that end on a self-preemption with requests still running
 * (found by review): sarathi's last decode behind a prompt still being
 * chunked one token at a time, and static batching's last unfinished
 * request beside finished ones (which must never be the victim: they
 * would produce their last token twice). Before the fix both runs
 * stalled and aborted; static also broke the allocator invariant. */
static void test_self_preemption_with_others_running(void **state)
{
    (void)state;
    const char *sched[] = {"sarathi", "static"};
    for (int k = 0; k < 2; k++) {
        sim_config c = config("a100-80gb", "llama-2-7b", sched[k]);
        c.num_blocks = 200;
        c.max_model_len = 3000;
        c.check = true;
        if (k == 0)
            c.long_prefill_threshold = 1;
        else
            snprintf(c.allocator, sizeof(c.allocator), "paged");
        wl_source *src;
        char err[512];
        if (wl_open_spec(&src,
                         "poisson:rate=50,n=500;in=uniform:min=1,max=2000;out=uniform:min=1,"
                         "max=300",
                         0, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        checker k2;
        sim_result res;
        run_src(&c, src, &k2, &res);
        assert_contract(&res, &k2, 500);
        assert_true(res.preemptions > 0);
        an_metrics_free(&k2.m);
    }
}

/* First-token times by request id (ids < 8). */
typedef struct ft_obs {
    double first_token[8];
} ft_obs;

static void ft_request(void *ctx, const sim_request_record *r)
{
    ft_obs *o = ctx;
    if (r->id < 8)
        o->first_token[r->id] = r->first_token_s;
}

/* V1 without chunked prefill skips a waiting prompt over the budget left
 * and scans on (scheduler.py, v0.11: skipped_waiting_requests), Orca
 * stops at it. Budget 2,048; A 1,500, B 1,000, C 500 tokens at time 0.
 * V1's first step runs A and C (2,000 tokens; B skipped), its second B;
 * Orca's first runs A alone, its second B and C. Before the fix V1 did as
 * Orca. */
static void test_v1_skips_prompt_over_budget(void **state)
{
    (void)state;
    char *p = write_trace("arrival_s,input_tokens,output_tokens\n0,1500,1\n0,1000,1\n0,500,1\n");
    const char *sched[] = {"vllm", "orca"};
    for (int k = 0; k < 2; k++) {
        sim_config c = config("a100-80gb", "llama-2-7b", sched[k]);
        c.chunked_prefill = 0;
        c.max_model_len = 2048;
        c.max_batched_tokens = 2048;
        c.check = true;
        wl_source *src;
        char err[512];
        if (wl_open_trace(&src, p, TRACE_FORMAT_AUTO, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        ft_obs o = {{0}};
        sim_observer obs = {&o, NULL, NULL, ft_request, NULL, NULL};
        sim_result res;
        if (sim_run(&c, src, &obs, &res, err, sizeof(err)) != 0)
            fail_msg("%s: %s", sched[k], err);
        wl_close(src);
        assert_int_equal(res.completed, 3);
        assert_int_equal(res.steps, 2);
        double a = o.first_token[0], b = o.first_token[1], cc = o.first_token[2];
        assert_true(a > 0 && b > a);
        if (k == 0 && !(cc == a))
            fail_msg("vllm: C's first token at %.6f s, not with A's at %.6f s", cc, a);
        if (k == 1 && !(cc == b))
            fail_msg("orca: C's first token at %.6f s, not with B's at %.6f s", cc, b);
    }
    unlink(p);
    free(p);
}

/* Review repro: 40 requests at once, every other one finishing after two
 * tokens, under orca's contiguous first-fit reservations: the releases
 * leave a free extent between live regions each, more extents than the
 * allocator used to reserve room for (a heap overflow under ASan). */
static void test_contiguous_many_free_extents(void **state)
{
    (void)state;
    char text[4096] = "arrival_s,input_tokens,output_tokens\n";
    for (int i = 0; i < 40; i++) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof(text) - used, "0,10,%d\n", i % 2 ? 100 : 2);
    }
    char *p = write_trace(text);
    const char *specs[] = {"contiguous:reserve=max,fit=first", "contiguous:reserve=max,fit=best"};
    for (int k = 0; k < 2; k++) {
        sim_config c = config("h100-sxm", "llama-3.1-8b", "orca");
        c.max_model_len = 256;
        c.check = true;
        snprintf(c.allocator, sizeof(c.allocator), "%s", specs[k]);
        wl_source *src;
        char err[512];
        if (wl_open_trace(&src, p, TRACE_FORMAT_AUTO, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        checker ck;
        sim_result res;
        run_src(&c, src, &ck, &res);
        assert_int_equal(res.completed, 40);
        an_metrics_free(&ck.m);
    }
    unlink(p);
    free(p);
}

/* Start-up checks, as vLLM refuses its engine arguments. */
static void test_startup_checks(void **state)
{
    (void)state;
    char err[512];
    sim_config c = config("a100-80gb", "llama-2-7b", "vllm");
    c.num_blocks = 10; /* 160 tokens < max_model_len 4096 */
    assert_int_equal(sim_check_config(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--max-model-len 160 or less"));
    c = config("a100-80gb", "llama-2-7b", "vllm");
    c.chunked_prefill = 0;
    c.max_batched_tokens = 2048;
    assert_int_equal(sim_check_config(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "smaller than --max-model-len (4096)"));
    c = config("a100-80gb", "llama-2-7b", "vllm");
    c.preemption_mode = SIM_PREEMPT_SWAP; /* V1 has no swap */
    assert_int_equal(sim_check_config(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "recompute only"));
    c = config("a100-80gb", "llama-2-7b", "vllm");
    c.max_batched_tokens = 100; /* below max_num_seqs 256 */
    assert_int_equal(sim_check_config(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "must be >= --max-num-seqs (256)"));
    c = config("a100-80gb", "llama-2-7b", "vllm");
    c.n_samples = 300;
    assert_int_equal(sim_check_config(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--n 300 cannot exceed --max-num-seqs (256)"));
    c = config("a100-80gb", "llama-2-7b", "vllm");
    assert_int_equal(sim_check_config(&c, err, sizeof(err)), 0);
}

/* vLLM V1's defaults depend on the GPU (EngineArgs.get_batch_defaults):
 * >= 70 GiB and not an A100: 8192 tokens, 1024 sequences; else 2048, 256.
 * The activation estimate follows the budget, not max_model_len. */
static void test_v1_defaults(void **state)
{
    (void)state;
    sim_memory_plan p, p0;
    char err[512];
    sim_config c = config("h100-sxm", "llama-3.1-8b", "vllm");
    assert_int_equal(sim_memory_plan_compute(&c, &p, err, sizeof(err)), 0);
    assert_int_equal(p.max_batched_tokens, 8192);
    assert_int_equal(p.max_num_seqs, 1024);
    c = config("a100-80gb", "llama-3.1-8b", "vllm");
    assert_int_equal(sim_memory_plan_compute(&c, &p, err, sizeof(err)), 0);
    assert_int_equal(p.max_batched_tokens, 2048);
    assert_int_equal(p.max_num_seqs, 256);
    /* vllm-v0 on a 131k-context model: chunked (long context), budget 512. */
    c = config("h100-sxm", "llama-3.1-8b", "vllm-v0");
    assert_int_equal(sim_memory_plan_compute(&c, &p0, err, sizeof(err)), 0);
    assert_int_equal(p0.max_batched_tokens, 512);
    c.chunked_prefill = 0;
    assert_int_equal(sim_memory_plan_compute(&c, &p0, err, sizeof(err)), 0);
    assert_int_equal(p0.max_batched_tokens, 131072);
    assert_true(p0.activation_bytes > 8 * p.activation_bytes);
}

/* ---------------------------------------------------- swap, clients */

/* An overloaded run preempts by swap and by recompute; both account for
 * every request. */
static void test_swap_and_recompute(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        sim_config c = config("a100-80gb", "llama-2-7b", "vllm-v0");
        c.num_blocks = 300;
        c.max_model_len = 2048;
        c.preemption_mode = mode;
        c.swap_space_gib = 0.5;
        c.check = true;
        wl_source *src;
        char err[512];
        if (wl_open_spec(&src,
                         "poisson:rate=50,n=400;in=uniform:min=10,max=600;out=uniform:min=50,"
                         "max=400",
                         3, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        checker k;
        sim_result res;
        run_src(&c, src, &k, &res);
        assert_contract(&res, &k, 400);
        assert_true(res.preemptions > 0);
        if (mode == SIM_PREEMPT_SWAP) {
            assert_true(res.swap_preemptions > 0);
            assert_int_equal(res.swapped_out_bytes, res.swapped_in_bytes);
        } else {
            assert_int_equal(res.swap_preemptions, 0);
            assert_true(res.recomputed_tokens > 0);
        }
        an_metrics_free(&k.m);
    }
}

/* Closed loop: with --max-concurrency 1 requests run one after another,
 * each sent when the previous finished. */
static void test_max_concurrency(void **state)
{
    (void)state;
    sim_config c = config("a100-80gb", "llama-2-7b", "vllm");
    c.max_concurrency = 1;
    checker k;
    sim_result res;
    run_text(&c, "arrival_s,input_tokens,output_tokens\n0,100,10\n0,100,10\n0,100,10\n", &k, &res);
    assert_int_equal(res.completed, 3);
    assert_int_equal(res.max_running, 1);
    /* Each request waits for nothing once sent: E2E is one request alone. */
    assert_true(fabs(an_hist_percentile(&k.m.e2e, 99) - an_hist_percentile(&k.m.e2e, 0)) < 1e-6);
    assert_true(fabs(res.makespan_s - 3 * an_hist_mean(&k.m.e2e)) < 1e-6);
    an_metrics_free(&k.m);
}

/* ----------------------------------------------- the shared traces */

/* Long prompts (Azure code): V1's chunked prefill keeps decodes going
 * while prompts run, so p99 TPOT is lower than v0's prefill-only steps,
 * at the same throughput (the trace's arrivals set it). */
static void test_azure_code_v1_vs_v0(void **state)
{
    (void)state;
    const char *path = shared("AzureLLMInferenceTrace_code.csv.gz");
    if (path == NULL)
        skip();
    sim_result r1, r0;
    checker k1, k0;
    sim_config c = config("h100-sxm", "llama-3.1-8b", "vllm");
    run_src(&c, open_path(path, 0, 0), &k1, &r1);
    c = config("h100-sxm", "llama-3.1-8b", "vllm-v0");
    c.chunked_prefill = 0;
    c.max_model_len = 16384;
    run_src(&c, open_path(path, 0, 0), &k0, &r0);
    double tp1 = (double)r1.output_tokens / r1.makespan_s;
    double tp0 = (double)r0.output_tokens / r0.makespan_s;
    double p99_1 = an_hist_percentile(&k1.m.tpot, 99), p99_0 = an_hist_percentile(&k0.m.tpot, 99);
    printf("azure code: vllm p99 TPOT %.4f s, %.1f tok/s; vllm-v0 %.4f s, %.1f tok/s\n", p99_1, tp1,
           p99_0, tp0);
    assert_true(p99_1 < p99_0);
    assert_true(fabs(tp1 - tp0) / tp0 < 0.05);
    an_metrics_free(&k1.m);
    an_metrics_free(&k0.m);
}

/* Static batching holds every request of a batch until the longest ends
 * and admits nothing meanwhile: lower throughput than V1 on Azure conv
 * with a closed-loop client that keeps 64 requests outstanding. */
static void test_azure_conv_static_vs_v1(void **state)
{
    (void)state;
    const char *path = shared("AzureLLMInferenceTrace_conv.csv.gz");
    if (path == NULL)
        skip();
    sim_result rs, r1;
    checker ks, k1;
    sim_config c = config("h100-sxm", "llama-3.1-8b", "static");
    c.max_concurrency = 64;
    c.max_model_len = 16384;
    run_src(&c, open_path(path, 0, 4000), &ks, &rs);
    c = config("h100-sxm", "llama-3.1-8b", "vllm");
    c.max_concurrency = 64;
    run_src(&c, open_path(path, 0, 4000), &k1, &r1);
    double tps = (double)rs.output_tokens / rs.makespan_s;
    double tp1 = (double)r1.output_tokens / r1.makespan_s;
    printf("azure conv, 64 outstanding: static %.1f tok/s, vllm %.1f tok/s\n", tps, tp1);
    assert_int_equal(rs.completed, 4000);
    assert_true(tps < tp1);
    an_metrics_free(&ks.m);
    an_metrics_free(&k1.m);
}

/* Four replicas behind round robin at four times the rate serve each
 * replica's share as one replica serves the trace: per-replica
 * throughput, TPOT and E2E within 10 %. TTFT comes out lower (0.055 s
 * against 0.070 s when this was written): round robin hands each replica
 * every fourth arrival, a smoother stream than the trace's own (fewer
 * requests land during another's prompt), so it is only bounded above. */
static void test_four_replicas(void **state)
{
    (void)state;
    const char *path = shared("AzureLLMInferenceTrace_conv.csv.gz");
    if (path == NULL)
        skip();
    sim_result r1, r4;
    checker k1, k4;
    sim_config c = config("h100-sxm", "llama-3.1-8b", "vllm");
    run_src(&c, open_path(path, 0, 0), &k1, &r1);
    c.replicas = 4;
    run_src(&c, open_path(path, 4, 0), &k4, &r4);
    assert_int_equal(r4.completed + r4.rejected, 19366);
    const sim_replica_stats *one = &r1.per_replica[0];
    double tp1 = (double)one->output_tokens / r1.makespan_s;
    double ttft1 = one->ttft_sum_s / (double)one->completed;
    double tpot1 = one->tpot_sum_s / (double)one->tpot_n;
    double e2e1 = one->e2e_sum_s / (double)one->completed;
    for (int k = 0; k < 4; k++) {
        const sim_replica_stats *s = &r4.per_replica[k];
        double tp = (double)s->output_tokens / r4.makespan_s;
        double ttft = s->ttft_sum_s / (double)s->completed;
        double tpot = s->tpot_sum_s / (double)s->tpot_n;
        double e2e = s->e2e_sum_s / (double)s->completed;
        printf("replica %d: %.1f tok/s (one: %.1f), TTFT %.4f (%.4f), TPOT %.4f (%.4f), E2E "
               "%.4f (%.4f)\n",
               k, tp, tp1, ttft, ttft1, tpot, tpot1, e2e, e2e1);
        assert_true(fabs(tp - tp1) / tp1 < 0.10);
        assert_true(fabs(tpot - tpot1) / tpot1 < 0.10);
        assert_true(fabs(e2e - e2e1) / e2e1 < 0.10);
        assert_true(ttft < ttft1 * 1.10);
    }
    an_metrics_free(&k1.m);
    an_metrics_free(&k4.m);
}

#define PER_SCHED(fn)                                                                              \
    cmocka_unit_test_prestate(fn, (void *)"vllm"),                                                 \
        cmocka_unit_test_prestate(fn, (void *)"vllm-v0"),                                          \
        cmocka_unit_test_prestate(fn, (void *)"sarathi"),                                          \
        cmocka_unit_test_prestate(fn, (void *)"orca"),                                             \
        cmocka_unit_test_prestate(fn, (void *)"static")

int main(void)
{
    /* Every registered scheduler is in the contract suite. */
    size_t n = 0;
    while (sim_schedulers[n] != NULL)
        n++;
    if (n != 5) {
        fprintf(stderr, "test_sched: %zu schedulers registered, the suite lists 5\n", n);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        PER_SCHED(contract_pressure),
        PER_SCHED(contract_tiny_pools_mooncake),
        PER_SCHED(contract_prefix_hits),
        cmocka_unit_test(test_v0_decode_rule),
        cmocka_unit_test(test_v1_chunks),
        cmocka_unit_test(test_v1_prefix_default),
        cmocka_unit_test(test_outgrow_then_idle),
        cmocka_unit_test(test_self_preemption_with_others_running),
        cmocka_unit_test(test_v1_skips_prompt_over_budget),
        cmocka_unit_test(test_contiguous_many_free_extents),
        cmocka_unit_test(test_startup_checks),
        cmocka_unit_test(test_v1_defaults),
        cmocka_unit_test(test_swap_and_recompute),
        cmocka_unit_test(test_max_concurrency),
        cmocka_unit_test(test_azure_code_v1_vs_v0),
        cmocka_unit_test(test_azure_conv_static_vs_v1),
        cmocka_unit_test(test_four_replicas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
