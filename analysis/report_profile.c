/*
 * report_profile.c: a measured step profile in the reports; see
 * report_profile.h. The fit and the out-of-range rules are
 * sim/step_profile.h's; the counts are steps (a speculative step's verify
 * and drafter passes count once, under the rules any of them used).
 */
#include "analysis/report_profile.h"

#include "sim/step_profile.h"

/* How the profile's per-sequence time was determined, for summary.json. */
static const char *seq_fit_name(int fit)
{
    return fit == SIM_PROFILE_SEQ_FITTED     ? "fitted"
           : fit == SIM_PROFILE_SEQ_NEGATIVE ? "negative_fit_not_used"
                                             : "undetermined";
}

void an_write_profile_json(FILE *fp, const an_run_info *in)
{
    const sim_step_profile *p = in->cfg->step_profile;
    if (p == NULL)
        return;
    const sim_step_profile_info *i = sim_step_profile_about(p);
    const sim_step_profile_counts *c = &in->res->step_profile;
    char a[AN_NUM_LEN], a2[AN_NUM_LEN], b[AN_NUM_LEN], b2[AN_NUM_LEN], r[AN_NUM_LEN];
    char sq[AN_NUM_LEN], sqf[AN_NUM_LEN];
    fprintf(fp, "  \"step_profile\": {\"cost_model\": \"step_profile\", \"path\": ");
    an_json_str(fp, i->path);
    fprintf(fp,
            ", \"rows\": %u, \"token_counts\": %u, \"tp\": %u, \"prefill_context_column\": %s, "
            "\"tokens_min\": %llu, \"tokens_max\": %llu, \"context_min\": %llu, "
            "\"context_max\": %llu, \"ms_per_1k_context_tokens\": [%s, %s], "
            "\"ms_per_1k_prefill_context_tokens\": [%s, %s], \"ms_per_seq\": %s, "
            "\"seq_term\": \"%s\", \"ms_per_seq_fitted\": %s, \"seq_token_counts\": %u, "
            "\"max_fit_residual\": %s, "
            "\"max_fit_residual_line\": %llu, \"steps\": %llu, \"steps_outside\": %llu, "
            "\"steps_tokens_below\": %llu, \"steps_tokens_above\": %llu, "
            "\"steps_context_outside\": %llu},\n",
            i->rows, i->knots, i->tp ? i->tp : 1, i->has_prefill_context ? "true" : "false",
            (unsigned long long)i->tokens_min, (unsigned long long)i->tokens_max,
            (unsigned long long)i->context_min, (unsigned long long)i->context_max,
            an_fmt_double(a, i->ctx_s_per_token_min * 1e6),
            an_fmt_double(a2, i->ctx_s_per_token_max * 1e6),
            an_fmt_double(b, i->prefill_ctx_s_per_token_min * 1e6),
            an_fmt_double(b2, i->prefill_ctx_s_per_token_max * 1e6),
            an_fmt_double(sq, i->seq_s * 1e3), seq_fit_name(i->seq_fit),
            an_fmt_double(sqf, i->seq_s_fitted * 1e3), i->seq_knots,
            an_fmt_double(r, i->max_residual_rel), (unsigned long long)i->max_residual_line,
            (unsigned long long)c->steps, (unsigned long long)c->outside,
            (unsigned long long)c->tokens_below, (unsigned long long)c->tokens_above,
            (unsigned long long)c->context_out);
}

void an_print_profile(FILE *fp, const an_run_info *in)
{
    const sim_step_profile *p = in->cfg->step_profile;
    if (p == NULL)
        return;
    const sim_step_profile_info *i = sim_step_profile_about(p);
    const sim_step_profile_counts *c = &in->res->step_profile;
    fprintf(fp,
            "cost         measured step profile %s replaces the roofline (%u rows, %llu..%llu "
            "tokens, %.3g..%.3g ms per 1000 decode context tokens; fit within %.2f%% of every "
            "row)\n",
            i->path, i->rows, (unsigned long long)i->tokens_min, (unsigned long long)i->tokens_max,
            i->ctx_s_per_token_min * 1e6, i->ctx_s_per_token_max * 1e6,
            100.0 * i->max_residual_rel);
    if (i->seq_fit == SIM_PROFILE_SEQ_FITTED)
        fprintf(fp,
                "             %.1f us per sequence beyond the first (fitted over %u token counts "
                "measured with different sequence counts)\n",
                i->seq_s * 1e6, i->seq_knots);
    else if (i->seq_fit == SIM_PROFILE_SEQ_NEGATIVE)
        fprintf(fp,
                "             no per-sequence time: its fit is negative (%.1f us over %u token "
                "counts), taken as 0\n",
                i->seq_s_fitted * 1e6, i->seq_knots);
    else
        fprintf(fp, "             no per-sequence time: no token count measured with different "
                    "sequence counts (decode and prompt rows of equal tokens), taken as 0\n");
    if (c->outside > 0)
        fprintf(fp,
                "             %llu of %llu steps outside its range, priced by its stated rules: "
                "%llu below its fewest tokens (held), %llu above its most (linear), %llu with a "
                "context outside it (linear)\n",
                (unsigned long long)c->outside, (unsigned long long)c->steps,
                (unsigned long long)c->tokens_below, (unsigned long long)c->tokens_above,
                (unsigned long long)c->context_out);
    else
        fprintf(fp, "             all %llu steps inside its measured range\n",
                (unsigned long long)c->steps);
}
