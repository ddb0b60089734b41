/*
 * trace_csv.c: the CSV layer of the trace readers: a line split into
 * trimmed, unquoted fields in place (no allocation), a header's columns
 * bound to a format's column slots, and a data row checked against the
 * header's field count.
 */
#include "traces/trace_int.h"

#include <string.h>

int trace__csv_split(trace_reader *r, char *line, size_t len, trace__span *out, size_t max,
                     size_t *count)
{
    char *p = line, *end = line + len;
    size_t k = 0;
    for (;;) {
        char *fs, *fe, *next;
        while (p < end && trace__is_blank(*p))
            p++;
        if (p < end && *p == '"') {
            char *c = p + 1;
            for (;;) {
                c = memchr(c, '"', (size_t)(end - c));
                if (c == NULL)
                    return trace__fail(r, TRACE_EFORMAT, r->lineno,
                                       "unterminated quoted field (field %zu)", k + 1);
                if (c + 1 < end && c[1] == '"') {
                    c += 2;
                    continue;
                }
                break;
            }
            fs = p + 1;
            fe = c;
            next = c + 1;
            while (next < end && trace__is_blank(*next))
                next++;
            if (next < end && *next != ',')
                return trace__fail(
                    r, TRACE_EFORMAT, r->lineno,
                    "unexpected '%c' after the closing quote of field %zu",
                    (unsigned char)*next >= 0x20 && (unsigned char)*next < 0x7f ? *next : '?',
                    k + 1);
            while (fs < fe && trace__is_blank(*fs))
                fs++;
        } else {
            char *c = p < end ? memchr(p, ',', (size_t)(end - p)) : NULL;
            next = c != NULL ? c : end;
            fs = p;
            fe = next;
        }
        while (fe > fs && trace__is_blank(fe[-1]))
            fe--;
        if (k < max) {
            out[k].p = fs;
            out[k].n = (size_t)(fe - fs);
        }
        k++;
        if (next >= end)
            break;
        p = next + 1;
    }
    *count = k;
    return 0;
}

int trace__csv_bind(trace_reader *r, const char *const *names, size_t nnames, unsigned required,
                    int forced, const char *fmt_name, const char *header, size_t len)
{
    char shown[TRACE__ECHO_BYTES];
    size_t col[TRACE__NCOLS];
    for (size_t j = 0; j < TRACE__NCOLS; j++)
        col[j] = TRACE__NO_COLUMN;
    for (size_t i = 0; i < r->ncols; i++) {
        for (size_t j = 0; j < nnames && j < TRACE__NCOLS; j++) {
            if (names[j] == NULL || !trace__name_eq(r->fields[i].p, r->fields[i].n, names[j]))
                continue;
            if (col[j] != TRACE__NO_COLUMN)
                return trace__fail(r, TRACE_EFORMAT, r->lineno,
                                   "duplicate column '%s' in the header (columns %zu and %zu)",
                                   names[j], col[j] + 1, i + 1);
            col[j] = i;
        }
    }
    for (size_t j = 0; j < nnames && j < TRACE__NCOLS; j++) {
        if ((required & TRACE__REQ(j)) == 0 || col[j] != TRACE__NO_COLUMN)
            continue;
        if (!forced)
            return 0;
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "missing column '%s' in %s header '%s'",
                           names[j], fmt_name, trace__echo(shown, header, len));
    }
    for (size_t j = 0; j < TRACE__NCOLS; j++) {
        r->col[j] = col[j];
        r->col_name[j] = j < nnames ? names[j] : NULL;
    }
    return 1;
}

int trace__csv_row(trace_reader *r, char *line, size_t len)
{
    size_t n;
    int rc = trace__csv_split(r, line, len, r->fields, r->ncols, &n);
    if (rc < 0)
        return rc;
    if (n == r->ncols)
        return 0;
    if (n > r->ncols)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "expected %zu fields, found %zu", r->ncols,
                           n);
    /* Name the first required column that the short row lacks. */
    const char *missing = NULL;
    size_t at = SIZE_MAX;
    for (size_t j = 0; j < TRACE__NCOLS; j++) {
        if (r->col[j] != TRACE__NO_COLUMN && r->col[j] >= n && r->col[j] < at) {
            at = r->col[j];
            missing = r->col_name[j];
        }
    }
    if (missing != NULL)
        return trace__fail(r, TRACE_EFORMAT, r->lineno,
                           "expected %zu fields, found %zu (missing field '%s')", r->ncols, n,
                           missing);
    return trace__fail(r, TRACE_EFORMAT, r->lineno, "expected %zu fields, found %zu", r->ncols, n);
}
