/*
 * trace_kvsim.c: kvsim's own CSV trace format.
 *
 * A header line names the columns, case-insensitively, in any order, with
 * any extra columns (ignored):
 *   arrival_s      seconds, a finite decimal >= 0, used as-is (not shifted
 *                  to start at 0, unlike azure);
 *   input_tokens   prompt length, an unsigned 32-bit integer >= 1;
 *   output_tokens  tokens to generate, an unsigned 32-bit integer (0 is
 *                  read as 1 and counted, see trace.h);
 *   hash_ids       optional: prefix-block ids (as in mooncake traces),
 *                  unsigned 64-bit integers separated by ';' or spaces;
 *                  an empty field means none.
 *   session_id     optional: the conversation a request belongs to (turns
 *                  of one chat share it), an unsigned 64-bit integer; an
 *                  empty field means none.
 * Example:
 *   arrival_s,input_tokens,output_tokens,session_id,hash_ids
 *   0.0,1024,128,7,0;1
 *   0.25,600,7,,0;2
 *
 * Numbers are parsed by hand (trace_fields.c): the format is strict (no sign, no
 * hex, no locale), overflow is detected, arrivals are correctly rounded,
 * and it is several times faster than strtod/sscanf on short decimals.
 * traces/trace_write.c writes this format.
 */
#include "traces/trace_int.h"

/* Column names in slot order (TRACE__COL_*); the first three are required. */
static const char *const trace__kvsim_names[] = {"arrival_s", "input_tokens", "output_tokens",
                                                 "hash_ids", "session_id"};

int trace__kvsim_header(trace_reader *r, int forced, const char *header, size_t len)
{
    return trace__csv_bind(r, trace__kvsim_names, 5,
                           TRACE__REQ(TRACE__COL_ARRIVAL) | TRACE__REQ(TRACE__COL_INPUT) |
                               TRACE__REQ(TRACE__COL_OUTPUT),
                           forced, "kvsim", header, len);
}

/* True for the separators allowed between hash ids besides ';'. */
static int trace__is_space(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Parses the hash_ids field F into r->hash_ids and *COUNT: ids separated by
 * one ';' (spaces around it allowed) or by spaces. Returns 0 or a negative
 * code with a message.
 */
static int trace__kvsim_hashes(trace_reader *r, const trace__span *f, uint32_t *count)
{
    char shown[TRACE__ECHO_BYTES];
    const char *p = f->p;
    size_t n = f->n, i = 0, k = 0;
    while (i < n) {
        size_t s = i;
        uint64_t v = 0;
        int big = 0;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
            unsigned d = (unsigned)(p[i] - '0');
            if (v > (UINT64_MAX - d) / 10)
                big = 1;
            else
                v = v * 10 + d;
        }
        if (i == s || (i < n && !trace__is_space(p[i]) && p[i] != ';'))
            return trace__fail(r, TRACE_EFORMAT, r->lineno,
                               "hash_ids: '%s' is not a list of non-negative integers separated "
                               "by ';' or spaces",
                               trace__echo(shown, p, n));
        if (big)
            return trace__fail(r, TRACE_EFORMAT, r->lineno, "hash_ids: '%s' is out of range",
                               trace__echo(shown, p + s, i - s));
        if (k >= UINT32_MAX)
            return trace__fail(r, TRACE_EFORMAT, r->lineno, "hash_ids: too many ids");
        int rc = trace__hash_reserve(r, k + 1);
        if (rc < 0)
            return rc;
        r->hash_ids[k++] = v;
        while (i < n && trace__is_space(p[i]))
            i++;
        if (i < n && p[i] == ';') {
            i++;
            while (i < n && trace__is_space(p[i]))
                i++;
            if (i == n)
                return trace__fail(r, TRACE_EFORMAT, r->lineno,
                                   "hash_ids: '%s' ends with a separator",
                                   trace__echo(shown, p, n));
        }
    }
    *count = (uint32_t)k;
    return 0;
}

int trace__kvsim_row(trace_reader *r, char *line, size_t len, trace__row *row)
{
    int rc = trace__csv_row(r, line, len);
    if (rc < 0)
        return rc;
    const trace__span *f = r->fields;
    rc = trace__parse_columns(r, &row->arrival_s, row);
    if (rc < 0)
        return rc;
    row->num_hash_ids = 0;
    if (r->col[TRACE__COL_SESSION] != TRACE__NO_COLUMN && f[r->col[TRACE__COL_SESSION]].n > 0) {
        rc = trace__parse_u64(r, &f[r->col[TRACE__COL_SESSION]], r->col_name[TRACE__COL_SESSION],
                              &row->session_id);
        if (rc < 0)
            return rc;
        row->has_session = 1;
    }
    if (r->col[TRACE__COL_HASH] != TRACE__NO_COLUMN)
        return trace__kvsim_hashes(r, &f[r->col[TRACE__COL_HASH]], &row->num_hash_ids);
    return 0;
}
