/*
 * measure_csv.c: the CSV record reader of the measurements reader: splits
 * a text into RFC 4180 records, fields NUL-separated in one growing
 * buffer. First step of the data flow: measure.c reads the measurements
 * file through it, and measure_names.c the embedded published_names.csv.
 * It knows nothing of columns or of what a field means.
 */
#include "sim/measure_int.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- CSV records */

static int rec_putc(meas_csv_rec *r, char c)
{
    if (r->len + 1 >= r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        char *b = realloc(r->buf, cap);
        if (!b)
            return -1;
        r->buf = b;
        r->cap = cap;
    }
    r->buf[r->len++] = c;
    return 0;
}

static int rec_field(meas_csv_rec *r)
{
    if (r->nf == r->fcap) {
        size_t cap = r->fcap ? 2 * r->fcap : 32;
        size_t *o = realloc(r->off, cap * sizeof(*o));
        if (!o)
            return -1;
        r->off = o;
        r->fcap = cap;
    }
    r->off[r->nf++] = r->len;
    return 0;
}

const char *meas_rec_get(const meas_csv_rec *r, size_t i)
{
    return i < r->nf ? r->buf + r->off[i] : "";
}

/*
 * Reads the RFC 4180 record at S[*POS..LEN) into R. Quoted fields may hold
 * commas, doubled quotes and line breaks; text after a closing quote is
 * kept as it is (lenient). *LINE counts the lines consumed; *START gets the
 * record's first line. Returns MEAS_CSV_REC, MEAS_CSV_END at the end of the
 * text, or a negative MEAS_CSV_ code (*LINE then names the line at fault).
 */
int meas_csv_next(meas_csv_rec *r, const char *s, size_t len, size_t *pos, uint32_t *line,
                  uint32_t *start)
{
    size_t p = *pos;
    r->len = 0;
    r->nf = 0;
    if (p >= len)
        return MEAS_CSV_END;
    *start = *line;
    if (rec_field(r) != 0)
        return MEAS_CSV_NOMEM;
    uint32_t quote_line = 0;
    bool quoted = false;
    for (;;) {
        if (p >= len) {
            if (quoted) {
                *line = quote_line;
                return MEAS_CSV_UNTERMINATED;
            }
            break;
        }
        char c = s[p];
        if (c == '\0')
            return MEAS_CSV_NUL;
        if (quoted) {
            if (c == '"') {
                if (p + 1 < len && s[p + 1] == '"') {
                    if (rec_putc(r, '"') != 0)
                        return MEAS_CSV_NOMEM;
                    p += 2;
                    continue;
                }
                quoted = false;
                p++;
                continue;
            }
            if (c == '\n')
                (*line)++;
            if (rec_putc(r, c) != 0)
                return MEAS_CSV_NOMEM;
            p++;
            continue;
        }
        if (c == '"' && (r->len == r->off[r->nf - 1])) {
            quoted = true;
            quote_line = *line;
            p++;
            continue;
        }
        if (c == ',') {
            if (rec_putc(r, '\0') != 0 || rec_field(r) != 0)
                return MEAS_CSV_NOMEM;
            p++;
            continue;
        }
        if (c == '\n' || (c == '\r' && p + 1 < len && s[p + 1] == '\n')) {
            p += c == '\r' ? 2 : 1;
            (*line)++;
            break;
        }
        if (rec_putc(r, c) != 0)
            return MEAS_CSV_NOMEM;
        p++;
    }
    if (rec_putc(r, '\0') != 0)
        return MEAS_CSV_NOMEM;
    *pos = p;
    return MEAS_CSV_REC;
}

/* True when the record is one empty field (a blank line). */
bool meas_rec_blank(const meas_csv_rec *r)
{
    if (r->nf != 1)
        return false;
    for (const char *c = r->buf; *c; c++)
        if (!isspace((unsigned char)*c))
            return false;
    return true;
}
