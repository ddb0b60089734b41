/*
 * trace_burstgpt.c: BurstGPT traces (HPMLL/BurstGPT, data/BurstGPT_*.csv;
 * Wang et al., "BurstGPT: A Real-world Workload Dataset to Optimize LLM
 * Serving Systems", arXiv:2401.17644; CC-BY-4.0). ChatGPT and GPT-4 calls
 * through Azure OpenAI, with conversation and API logs.
 *
 * Header `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log
 * Type` (case-insensitive, any order; Total tokens, Log Type and any newer
 * column such as Session ID are optional and ignored):
 *   Timestamp        seconds from the start of the collection, a decimal
 *                    >= 0 (integers in the published files);
 *   Model            e.g. ChatGPT or GPT-4;
 *   Request tokens   prompt tokens, >= 1;
 *   Response tokens  generated tokens; 0 marks a failed request (the
 *                    BurstGPT README: BurstGPT_N.csv "with some failure
 *                    that Response tokens are 0s", BurstGPT_without_fails_N
 *                    without them).
 * Example:
 *   Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
 *   5,ChatGPT,472,18,490,Conversation log
 *
 * Policy: a failed request never reached the model, so its row is skipped
 * and counted (trace_counts.failed_skipped), never read as one output
 * token as other formats' zero outputs are. With a model filter, rows of
 * other models are skipped and counted (filtered_out) before that check, so
 * failed_skipped counts the selected model's failures only. Every row is
 * fully validated first, so a malformed row is an error even when it would
 * have been skipped.
 *
 * Arrivals are seconds since the Timestamp of the first data row of the
 * file (whatever its model or status), so a filtered trace keeps its place
 * on the trace's timeline and the second two-month file does not start
 * with two months of idle time.
 */
#include "traces/trace_int.h"

#include <string.h>

/* Column names in slot order (TRACE__COL_*; no hash ids or sessions). */
static const char *const trace__burstgpt_names[TRACE__NCOLS] = {
    "Timestamp", "Request tokens", "Response tokens", NULL, NULL, "Model"};

int trace__burstgpt_header(trace_reader *r, int forced, const char *header, size_t len)
{
    return trace__csv_bind(r, trace__burstgpt_names, TRACE__NCOLS,
                           TRACE__REQ(TRACE__COL_ARRIVAL) | TRACE__REQ(TRACE__COL_INPUT) |
                               TRACE__REQ(TRACE__COL_OUTPUT) | TRACE__REQ(TRACE__COL_MODEL),
                           forced, "burstgpt", header, len);
}

/* Remembers the model name F (cut to fit) for the "no rows of model" message. */
static void trace__burstgpt_note_model(trace_reader *r, const trace__span *f)
{
    size_t n = f->n < TRACE__MODEL_NAME_BYTES - 1 ? f->n : TRACE__MODEL_NAME_BYTES - 1;
    for (size_t i = 0; i < r->models_seen; i++) {
        if (trace__name_eq(f->p, n, r->model_names[i]))
            return; /* seen (case-insensitively, as the filter matches) */
    }
    if (r->models_seen == TRACE__MODELS_SEEN)
        return;
    char *dst = r->model_names[r->models_seen++];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)f->p[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[n] = '\0';
}

int trace__burstgpt_row(trace_reader *r, char *line, size_t len, trace__row *row)
{
    int rc = trace__csv_row(r, line, len);
    if (rc < 0)
        return rc;
    const trace__span *f = r->fields;
    double t;
    rc = trace__parse_columns(r, &t, row);
    if (rc < 0)
        return rc;
    const trace__span *model = &f[r->col[TRACE__COL_MODEL]];
    if (model->n == 0)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: empty field",
                           r->col_name[TRACE__COL_MODEL]);
    if (!r->have_base) {
        r->have_base = 1;
        r->base_s = t;
    }
    row->arrival_s =
        t - r->base_s; /* one before the first row is raised and counted (trace_rows.c) */
    row->num_hash_ids = 0;
    if (r->model_filter != NULL) {
        if (!trace__name_eq(model->p, model->n, r->model_filter)) {
            trace__burstgpt_note_model(r, model);
            r->counts.filtered_out++;
            return TRACE__SKIP;
        }
    }
    if (row->output_tokens == 0) {
        r->counts.failed_skipped++;
        return TRACE__SKIP;
    }
    return 0;
}
