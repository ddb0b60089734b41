/*
 * trace_vidur.c: Vidur / Splitwise request traces (microsoft/vidur,
 * data/processed_traces/, and the same columns in sarathi-serve),
 * with arrival times.
 *
 * Header `arrived_at,num_prefill_tokens,num_decode_tokens`, any order,
 * case-insensitive, extra columns (num_total_tokens, pd_ratio, ...)
 * ignored:
 *   arrived_at          seconds, a finite decimal >= 0, used as given (not
 *                       shifted to start at 0);
 *   num_prefill_tokens  prompt tokens, >= 1;
 *   num_decode_tokens   tokens to generate (0 read as 1 and counted).
 * Example:
 *   arrived_at,num_prefill_tokens,num_decode_tokens
 *   0.0,4808,10
 *   4.314979,3180,8
 * The same columns without arrived_at are a length table (trace_lengths.c).
 */
#include "traces/trace_int.h"

/* Column names in slot order (TRACE__COL_*). */
static const char *const trace__vidur_names[] = {"arrived_at", "num_prefill_tokens",
                                                 "num_decode_tokens"};

int trace__vidur_header(trace_reader *r, int forced, const char *header, size_t len)
{
    return trace__csv_bind(r, trace__vidur_names, 3,
                           TRACE__REQ(TRACE__COL_ARRIVAL) | TRACE__REQ(TRACE__COL_INPUT) |
                               TRACE__REQ(TRACE__COL_OUTPUT),
                           forced, "vidur", header, len);
}

int trace__vidur_row(trace_reader *r, char *line, size_t len, trace__row *row)
{
    int rc = trace__csv_row(r, line, len);
    if (rc < 0)
        return rc;
    row->num_hash_ids = 0;
    return trace__parse_columns(r, &row->arrival_s, row);
}
