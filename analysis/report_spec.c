/*
 * report_spec.c: speculative decoding in the reports; see report_spec.h.
 *
 * Names follow vLLM's benchmark (vllm/benchmarks/serve.py and
 * vllm/v1/spec_decode/metrics.py, v0.11): acceptance rate = 100 x accepted
 * / draft tokens (%), acceptance length = 1 + accepted / drafts (drafts:
 * verify steps of one sequence), per-position acceptance = accepted at
 * position i / drafts that reached position i (%). kvsim adds the time
 * shares of the drafter and the verify passes (of busy time) and the KV
 * churn: draft tokens whose KV was written and rolled back, in tokens and
 * in bytes of the pool (target and drafter).
 */
#include "analysis/report_spec.h"

#include <string.h>

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0.0;
}

static const char *method_name(int m)
{
    static const char *const names[] = {"none", "draft_model", "eagle", "eagle3", "mtp", "ngram"};
    return m >= 0 && m <= SIM_SPEC_NGRAM ? names[m] : "?";
}

/* The configuration reports get is the one given, before resolution:
 * the lookahead as sim_spec_resolve sets it. */
static uint32_t lookahead(const sim_spec_config *s)
{
    return s->method == SIM_SPEC_NGRAM ? 0 : s->k;
}

void an_write_spec_json(FILE *fp, const an_run_info *in)
{
    const sim_spec_config *s = &in->cfg->spec;
    const sim_spec_stats *st = &in->res->spec;
    const sim_memory_plan *p = &in->res->plan;
    if (p->kv_window_bytes > 0)
        fprintf(fp, "  \"kv_window\": {\"residual_tokens\": %u, \"bytes\": %llu},\n",
                in->cfg->kv_dtype->residual, (unsigned long long)p->kv_window_bytes);
    if (s->method == SIM_SPEC_NONE)
        return;
    fprintf(fp,
            "  \"speculative\": {\"method\": \"%s\", \"model\": \"%s\", "
            "\"num_speculative_tokens\": %u, \"acceptance\": \"%s\", \"lookahead_slots\": %u,\n",
            method_name(s->method), s->model, s->k, s->acceptance, lookahead(s));
    fprintf(fp,
            "    \"spec_decode_acceptance_rate\": %.6f, \"spec_decode_acceptance_length\": %.6f,\n"
            "    \"spec_decode_num_drafts\": %llu, \"spec_decode_draft_tokens\": %llu, "
            "\"spec_decode_accepted_tokens\": %llu,\n"
            "    \"spec_decode_per_position_acceptance_rate\": [",
            100.0 * ratio((double)st->accepted_tokens, (double)st->draft_tokens),
            st->num_drafts ? 1.0 + ratio((double)st->accepted_tokens, (double)st->num_drafts) : 0,
            (unsigned long long)st->num_drafts, (unsigned long long)st->draft_tokens,
            (unsigned long long)st->accepted_tokens);
    for (uint32_t i = 0; i < s->k; i++)
        fprintf(fp, "%s%.6f", i ? ", " : "",
                100.0 * ratio((double)st->accepted_at[i], (double)st->proposed_at[i]));
    fprintf(fp,
            "],\n    \"draft_time_share\": %.6f, \"verify_time_share\": %.6f, "
            "\"draft_s\": %.6f, \"verify_s\": %.6f,\n"
            "    \"kv_rolled_back_tokens\": %llu, \"kv_rolled_back_bytes\": %llu, "
            "\"kv_lookahead_slots_requested\": %llu,\n"
            "    \"draft_weights_bytes\": %llu, \"draft_kv_bytes_per_token\": %llu},\n",
            ratio(st->draft_s, in->res->busy_s), ratio(st->verify_s, in->res->busy_s), st->draft_s,
            st->verify_s, (unsigned long long)st->rolled_back_tokens,
            (unsigned long long)(st->rolled_back_tokens * p->kv_bytes_per_token),
            (unsigned long long)st->lookahead_tokens, (unsigned long long)p->draft_weights_bytes,
            (unsigned long long)p->draft_kv_bytes_per_token);
}

void an_print_spec(FILE *fp, const an_run_info *in)
{
    const sim_spec_config *s = &in->cfg->spec;
    const sim_spec_stats *st = &in->res->spec;
    const sim_memory_plan *p = &in->res->plan;
    if (p->kv_window_bytes > 0)
        fprintf(fp,
                "kv window    KIVI keeps the last %u tokens of each sequence in fp16: %.2f GiB "
                "for %u sequence slots, taken off the KV pool\n",
                in->cfg->kv_dtype->residual, (double)p->kv_window_bytes / 1073741824.0,
                p->max_num_seqs);
    if (s->method == SIM_SPEC_NONE)
        return;
    fprintf(fp,
            "speculative  %s%s%s, k %u, acceptance %s: %.1f%% of %llu drafts accepted, mean "
            "acceptance length %.3f; per position",
            method_name(s->method), s->model[0] ? " " : "", s->model, s->k, s->acceptance,
            100.0 * ratio((double)st->accepted_tokens, (double)st->draft_tokens),
            (unsigned long long)st->draft_tokens,
            st->num_drafts ? 1.0 + ratio((double)st->accepted_tokens, (double)st->num_drafts) : 0);
    for (uint32_t i = 0; i < s->k; i++)
        fprintf(fp, " %.1f", 100.0 * ratio((double)st->accepted_at[i], (double)st->proposed_at[i]));
    fprintf(fp, " %%\n");
    fprintf(
        fp,
        "             drafter %.1f%% and verify %.1f%% of busy time; KV: %llu rejected "
        "draft slots rolled back (%.2f GiB written), lookahead %u slots per sequence; "
        "drafter weights %.2f GiB, KV %llu of the %llu bytes per pool slot\n",
        100.0 * ratio(st->draft_s, in->res->busy_s), 100.0 * ratio(st->verify_s, in->res->busy_s),
        (unsigned long long)st->rolled_back_tokens,
        (double)(st->rolled_back_tokens * p->kv_bytes_per_token) / 1073741824.0, lookahead(s),
        (double)p->draft_weights_bytes / 1073741824.0,
        (unsigned long long)p->draft_kv_bytes_per_token, (unsigned long long)p->kv_bytes_per_token);
}
