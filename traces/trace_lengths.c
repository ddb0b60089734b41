/*
 * trace_lengths.c: length tables, request lengths without arrival times,
 * such as sarathi-serve's data/processed_traces/
 * sharegpt_8k_filtered_stats_llama2_tokenizer.csv (ShareGPT conversations
 * tokenized with the Llama-2 tokenizer, at most 8k tokens; Apache-2.0).
 *
 * Header `num_prefill_tokens,num_decode_tokens` (Vidur's names) or
 * `input_tokens,output_tokens` (kvsim's, in a file without arrival_s), any
 * order, case-insensitive, extra columns (num_total_tokens, pd_ratio, ...)
 * ignored. A header that also has arrived_at is a vidur trace and one with
 * arrival_s a kvsim trace; detection tries those first (trace_rows.c).
 *
 * Every request's arrival_s is 0 and trace_has_arrivals() says so: a
 * replay adds arrivals (workloads/source.h: Poisson at a given rate), and
 * a workload can draw lengths from the table (empirical lengths).
 */
#include "traces/trace_int.h"

/* The two accepted name sets, in slot order (TRACE__COL_*; no arrival). */
static const char *const trace__lengths_vidur[] = {NULL, "num_prefill_tokens", "num_decode_tokens"};
static const char *const trace__lengths_kvsim[] = {NULL, "input_tokens", "output_tokens"};

int trace__lengths_header(trace_reader *r, int forced, const char *header, size_t len)
{
    const unsigned req = TRACE__REQ(TRACE__COL_INPUT) | TRACE__REQ(TRACE__COL_OUTPUT);
    int rc = trace__csv_bind(r, trace__lengths_vidur, 3, req, 0, "lengths", header, len);
    if (rc != 0)
        return rc;
    rc = trace__csv_bind(r, trace__lengths_kvsim, 3, req, 0, "lengths", header, len);
    if (rc != 0 || !forced)
        return rc;
    /* Forced and neither set matches: name the missing Vidur column. */
    return trace__csv_bind(r, trace__lengths_vidur, 3, req, 1, "lengths", header, len);
}

int trace__lengths_row(trace_reader *r, char *line, size_t len, trace__row *row)
{
    int rc = trace__csv_row(r, line, len);
    if (rc < 0)
        return rc;
    const trace__span *f = r->fields;
    rc = trace__parse_u32(r, &f[r->col[TRACE__COL_INPUT]], r->col_name[TRACE__COL_INPUT],
                          &row->input_tokens);
    if (rc < 0)
        return rc;
    row->arrival_s = 0.0;
    row->num_hash_ids = 0;
    return trace__parse_u32(r, &f[r->col[TRACE__COL_OUTPUT]], r->col_name[TRACE__COL_OUTPUT],
                            &row->output_tokens);
}
