/*
 * trace_rows.c: from lines to requests: the first line decides the format
 * (trace__detect), and each later non-blank line goes through its
 * format's row parser (trace_<format>.c) and the checks and adjustments
 * common to all formats (trace__read_request).
 *
 * Policy for the quirks of real traces (see trace.h): trailing blank lines
 * are accepted and counted; a blank line followed by more data is an
 * error, since it usually means two files were pasted together or a row
 * was lost.
 */
#include "traces/trace_int.h"

#include <stdlib.h>
#include <string.h>

/* True when LINE[0..LEN) holds only spaces and tabs. */
static int trace__blank_line(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!trace__is_blank(line[i]))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------- requests */

/*
 * Parses the non-blank data line LINE[0..LEN) (line r->lineno) with the
 * reader's format into *REQ, and applies the checks and adjustments common
 * to all formats. Returns 0, TRACE__SKIP for a row the format skips on
 * purpose (counted by it), or a negative code with a message.
 */
static int trace__emit(trace_reader *r, char *line, size_t len, trace_request *req)
{
    trace__row row = {0};
    int rc;
    switch (r->fmt) {
    case TRACE_FORMAT_KVSIM:
        rc = trace__kvsim_row(r, line, len, &row);
        break;
    case TRACE_FORMAT_AZURE:
        rc = trace__azure_row(r, line, len, &row);
        break;
    case TRACE_FORMAT_MOONCAKE:
        rc = trace__mooncake_row(r, line, len, &row);
        break;
    case TRACE_FORMAT_BURSTGPT:
        rc = trace__burstgpt_row(r, line, len, &row);
        break;
    case TRACE_FORMAT_VIDUR:
        rc = trace__vidur_row(r, line, len, &row);
        break;
    case TRACE_FORMAT_LENGTHS:
        rc = trace__lengths_row(r, line, len, &row);
        break;
    default:
        rc = trace__fail(r, TRACE_EARG, r->lineno, "no format selected");
        break;
    }
    if (rc != 0)
        return rc;
    if (row.input_tokens == 0)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s must be >= 1 (found 0)",
                           r->col_name[TRACE__COL_INPUT]);
    if (row.output_tokens == 0) {
        row.output_tokens = 1;
        r->counts.zero_output++;
    }
    if (row.arrival_s < r->prev_arrival_s) {
        row.arrival_s = r->prev_arrival_s;
        r->counts.reordered++;
    }
    if (!r->have_first) {
        r->first_arrival_s = row.arrival_s;
        r->have_first = 1;
    }
    if (!(row.arrival_s - r->first_arrival_s <= TRACE_MAX_SPAN_S))
        return trace__fail(
            r, TRACE_EFORMAT, r->lineno,
            "%s: %.17g s is more than " TRACE_MAX_SPAN_TEXT " s after the first request's arrival "
            "(%.17g s)",
            r->col_name[TRACE__COL_ARRIVAL] != NULL ? r->col_name[TRACE__COL_ARRIVAL] : "arrival",
            row.arrival_s, r->first_arrival_s);
    r->prev_arrival_s = row.arrival_s;
    req->index = 0; /* set when yielded */
    req->line = r->lineno;
    req->arrival_s = row.arrival_s;
    req->input_tokens = row.input_tokens;
    req->output_tokens = row.output_tokens;
    req->num_hash_ids = row.num_hash_ids;
    req->hash_ids = row.num_hash_ids > 0 ? r->hash_ids : NULL;
    req->has_session = row.has_session;
    req->session_id = row.has_session ? row.session_id : 0;
    return 0;
}

int trace__read_request(trace_reader *r, trace_request *req)
{
    char *line;
    size_t len;
    for (;;) {
        int rc = trace__getline(r, &line, &len);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            r->counts.trailing_blank += r->blank_run;
            r->blank_run = 0;
            return 0;
        }
        if (trace__blank_line(line, len)) {
            if (r->blank_run++ == 0)
                r->blank_first = r->lineno;
            continue;
        }
        if (r->blank_run > 0)
            return trace__fail(r, TRACE_EFORMAT, r->blank_first,
                               "blank line in the middle of the trace (more data on line %llu)",
                               (unsigned long long)r->lineno);
        rc = trace__emit(r, line, len, req);
        if (rc == TRACE__SKIP)
            continue;
        return rc < 0 ? rc : 1;
    }
}

/* ----------------------------------------------------------- detection */

int trace__detect(trace_reader *r, trace_format fmt)
{
    char *line;
    size_t len;
    for (;;) {
        int rc = trace__getline(r, &line, &len);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (r->blank_run > 0)
                return trace__fail(r, TRACE_EFORMAT, 1, "empty file (%llu blank lines only)",
                                   (unsigned long long)r->blank_run);
            return trace__fail(r, TRACE_EFORMAT, 1, "empty file");
        }
        /* A UTF-8 byte order mark, as spreadsheet exports write, is not data. */
        if (r->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            len -= 3;
        }
        if (!trace__blank_line(line, len))
            break;
        if (r->blank_run++ == 0)
            r->blank_first = r->lineno;
    }
    if (r->blank_run > 0)
        return trace__fail(r, TRACE_EFORMAT, r->blank_first,
                           "blank line before the first line of data (line %llu)",
                           (unsigned long long)r->lineno);

    size_t lead = 0;
    while (lead < len && trace__is_blank(line[lead]))
        lead++;
    /* A JSON document holding an array, not JSONL (one object per line):
     * as CSV its quotes would give a baffling message. */
    if ((fmt == TRACE_FORMAT_AUTO || fmt == TRACE_FORMAT_MOONCAKE) && line[lead] == '[')
        return trace__fail(r, TRACE_EFORMAT, r->lineno,
                           "this is a JSON array, not JSONL (one JSON object per line, as "
                           "mooncake traces are); convert it, e.g. jq -c '.[]' FILE");
    if (fmt == TRACE_FORMAT_MOONCAKE || (fmt == TRACE_FORMAT_AUTO && line[lead] == '{')) {
        r->fmt = TRACE_FORMAT_MOONCAKE;
        trace__mooncake_init(r);
        int rc = trace__emit(r, line, len, &r->pending);
        if (rc < 0)
            return rc;
        r->has_pending = 1;
        return 0;
    }

    r->header_line = r->lineno;
    if (line[lead] == '{') {
        /* A CSV format was forced on JSONL; its quotes would not split as CSV. */
        static const char *const first_column[] = {"arrival_s",         "arrival_s", "TIMESTAMP",
                                                   "arrival_s",         "Timestamp", "arrived_at",
                                                   "num_prefill_tokens"};
        char shown[TRACE__ECHO_BYTES];
        return trace__fail(r, TRACE_EFORMAT, r->lineno,
                           "missing column '%s' in %s header '%s' (this looks like mooncake JSONL)",
                           first_column[fmt], trace_format_name(fmt),
                           trace__echo(shown, line, len));
    }
    size_t n;
    int rc = trace__csv_split(r, line, len, NULL, 0, &n);
    if (rc < 0)
        return rc;
    r->fields = malloc(n * sizeof *r->fields);
    if (r->fields == NULL)
        return trace__fail(r, TRACE_ENOMEM, r->lineno, "out of memory for %zu columns", n);
    r->ncols = n;
    rc = trace__csv_split(r, line, len, r->fields, n, &n);
    if (rc < 0)
        return rc;

    /* CSV formats in detection order: vidur before lengths, whose columns
     * vidur's include; kvsim before lengths for the same reason. */
    static const struct {
        trace_format fmt;
        int (*header)(trace_reader *, int, const char *, size_t);
    } csv_formats[] = {
        {TRACE_FORMAT_KVSIM, trace__kvsim_header},       {TRACE_FORMAT_AZURE, trace__azure_header},
        {TRACE_FORMAT_BURSTGPT, trace__burstgpt_header}, {TRACE_FORMAT_VIDUR, trace__vidur_header},
        {TRACE_FORMAT_LENGTHS, trace__lengths_header},
    };
    const size_t ncsv = sizeof csv_formats / sizeof csv_formats[0];
    for (size_t i = 0; i < ncsv; i++) {
        if (fmt != TRACE_FORMAT_AUTO && fmt != csv_formats[i].fmt)
            continue;
        rc = csv_formats[i].header(r, fmt != TRACE_FORMAT_AUTO, line, len);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            r->fmt = csv_formats[i].fmt;
            return 0;
        }
    }
    char shown[TRACE__ECHO_BYTES];
    /* A header without commas but with ';' or tabs (a spreadsheet's
     * export): said so, beside the headers known. */
    const char *sep = memchr(line, ',', len) != NULL ? ""
                      : memchr(line, ';', len) != NULL
                          ? " (its fields are separated by ';': a CSV trace takes commas)"
                      : memchr(line, '\t', len) != NULL
                          ? " (its fields are separated by tabs: a CSV trace takes commas)"
                          : "";
    return trace__fail(r, TRACE_EFORMAT, r->lineno,
                       "unrecognized trace header '%s'%s (expected kvsim "
                       "arrival_s,input_tokens,output_tokens; azure "
                       "TIMESTAMP,ContextTokens,GeneratedTokens; burstgpt "
                       "Timestamp,Model,Request tokens,Response tokens; vidur "
                       "arrived_at,num_prefill_tokens,num_decode_tokens; lengths "
                       "num_prefill_tokens,num_decode_tokens; or mooncake JSONL); use --format",
                       trace__echo(shown, line, len), sep);
}
