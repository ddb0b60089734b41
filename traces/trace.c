/*
 * trace.c: opening, streaming, line splitting and format detection for
 * request traces; the per-format row parsers are in trace_<format>.c.
 *
 * Input is read in chunks of TRACE__CHUNK_BYTES; a file that starts with
 * the gzip magic (1f 8b) is inflated member after member with zlib's
 * inflate, anything else passes through unchanged. Lines are split here, in
 * place in one buffer that grows only for a line longer than a chunk, up to
 * TRACE__LINE_MAX_BYTES: CSV rows cost no allocation. The members are
 * walked here rather than through zlib's gz* API because that API hides
 * three things a reader must see: bytes after the last member (gzip -t:
 * "trailing garbage ignored"; counted here, and a lone 0x1f, the start of a
 * cut member header, is an error as in gzip), and how far the output of a
 * read that then failed had got (gzread drops it, so a corrupt second
 * member was blamed on line 1: here the lines before it are read and the
 * error names the line where it starts). A truncated member is an error,
 * never a shorter trace.
 *
 * Policy for the quirks of real traces (see trace.h): CRLF, a missing final
 * newline and trailing blank lines are accepted and counted; a blank line
 * followed by more data is an error, since it usually means two files were
 * pasted together or a row was lost.
 */
#define _POSIX_C_SOURCE 200809L

#include "traces/trace_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- names */

const char *trace_strerror(int code)
{
    switch (code) {
#define TRACE_ERR_CASE(name, value, msg)                                                           \
    case value:                                                                                    \
        return msg;
        TRACE_ERRNO_MAP(TRACE_ERR_CASE)
#undef TRACE_ERR_CASE
    default:
        break;
    }
    return code == 0 ? "success" : "unknown error";
}

static const char *const trace__format_names[] = {"auto",     "kvsim", "azure",  "mooncake",
                                                  "burstgpt", "vidur", "lengths"};

const char *trace_format_name(trace_format fmt)
{
    if ((int)fmt < 0 || (int)fmt > (int)TRACE_FORMAT_LAST)
        return "unknown";
    return trace__format_names[fmt];
}

int trace_format_parse(const char *name, trace_format *out)
{
    if (name == NULL || out == NULL)
        return TRACE_EARG;
    for (int i = 0; i <= (int)TRACE_FORMAT_LAST; i++) {
        if (trace__name_eq(name, strlen(name), trace__format_names[i])) {
            *out = (trace_format)i;
            return 0;
        }
    }
    return TRACE_EARG;
}

/* ------------------------------------------------------------- messages */

/* Replaces control bytes in the NUL-terminated S by '?', so it is one line. */
static void trace__one_line(char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            *s = '?';
    }
}

int trace__fail(trace_reader *r, int code, uint64_t line, const char *fmt, ...)
{
    if (r->err != 0)
        return r->err;
    int n;
    if (line > 0)
        n = snprintf(r->errmsg, sizeof r->errmsg, "%s:%llu: ", r->path, (unsigned long long)line);
    else
        n = snprintf(r->errmsg, sizeof r->errmsg, "%s: ", r->path);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof r->errmsg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->errmsg + n, sizeof r->errmsg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    trace__one_line(r->errmsg);
    r->err = code;
    return code;
}

char *trace__echo(char *dst, const char *p, size_t n)
{
    const size_t keep = TRACE__ECHO_BYTES - 4; /* room for "..." and NUL */
    size_t k = n <= TRACE__ECHO_BYTES - 1 ? n : keep;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)p[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (k < n) {
        memcpy(dst + k, "...", 4);
    } else {
        dst[k] = '\0';
    }
    return dst;
}

/* Writes "PATH: reason" into ERR for failures before a reader exists. */
static void trace__err_early(char *err, size_t errlen, const char *path, const char *reason)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s: %s", path, reason);
        trace__one_line(err);
    }
}

/* -------------------------------------------------------------- helpers */

int trace__name_eq(const char *p, size_t n, const char *s)
{
    size_t i = 0;
    for (; i < n && s[i] != '\0'; i++) {
        unsigned char a = (unsigned char)p[i], b = (unsigned char)s[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return i == n && s[i] == '\0';
}

/* True for the blanks that fields and lines are trimmed of. */
static int trace__is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Strict unsigned decimal of field F, at most MAX: returns 0 with *OUT, or
 * fails naming NAME (empty, not a number, or out of range). */
static int parse_uint(trace_reader *r, const trace__span *f, const char *name, uint64_t max,
                      uint64_t *out)
{
    char shown[TRACE__ECHO_BYTES];
    if (f->n == 0)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: empty field", name);
    uint64_t v = 0;
    int big = 0;
    for (size_t i = 0; i < f->n; i++) {
        unsigned d = (unsigned)(unsigned char)f->p[i] - (unsigned)'0';
        if (d > 9)
            return trace__fail(r, TRACE_EFORMAT, r->lineno,
                               "%s: '%s' is not a non-negative integer", name,
                               trace__echo(shown, f->p, f->n));
        if (!big && v > (max - d) / 10)
            big = 1;
        else if (!big)
            v = v * 10 + d;
    }
    if (big && max < UINT64_MAX)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: '%s' is out of range (max %llu)", name,
                           trace__echo(shown, f->p, f->n), (unsigned long long)max);
    if (big)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: '%s' is out of range", name,
                           trace__echo(shown, f->p, f->n));
    *out = v;
    return 0;
}

int trace__parse_u32(trace_reader *r, const trace__span *f, const char *name, uint32_t *out)
{
    uint64_t v;
    int rc = parse_uint(r, f, name, UINT32_MAX, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

int trace__parse_u64(trace_reader *r, const trace__span *f, const char *name, uint64_t *out)
{
    return parse_uint(r, f, name, UINT64_MAX, out);
}

int trace__parse_columns(trace_reader *r, double *arrival_s, trace__row *row)
{
    const trace__span *f = r->fields;
    int rc = trace__parse_seconds(r, &f[r->col[TRACE__COL_ARRIVAL]],
                                  r->col_name[TRACE__COL_ARRIVAL], arrival_s);
    if (rc < 0)
        return rc;
    rc = trace__parse_u32(r, &f[r->col[TRACE__COL_INPUT]], r->col_name[TRACE__COL_INPUT],
                          &row->input_tokens);
    if (rc < 0)
        return rc;
    return trace__parse_u32(r, &f[r->col[TRACE__COL_OUTPUT]], r->col_name[TRACE__COL_OUTPUT],
                            &row->output_tokens);
}

/* Powers of ten that a double holds exactly. */
static const double trace__pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Outcomes of trace__parse_decimal. */
enum { TRACE__DEC_OK = 0, TRACE__DEC_SYNTAX, TRACE__DEC_NONFINITE, TRACE__DEC_RANGE };

/* True when P[0..N) spells nan, inf or infinity, any case, maybe signed. */
static int trace__is_nonfinite_word(const char *p, size_t n)
{
    if (n > 0 && (p[0] == '-' || p[0] == '+')) {
        p++;
        n--;
    }
    return trace__name_eq(p, n, "nan") || trace__name_eq(p, n, "inf") ||
           trace__name_eq(p, n, "infinity");
}

/*
 * Parses F as [-]digits[.digits][(e|E)[+|-]digits] (or [-].digits...) into
 * *OUT. Values with at most 19 significant digits and a decimal exponent
 * within +-22 are computed exactly rounded from an integer mantissa and an
 * exact power of ten (Clinger's fast path); the rare rest goes to strtod on
 * the already validated text, which assumes the C locale's '.' (kvsim never
 * calls setlocale). F's byte after the field is briefly overwritten with a
 * NUL for strtod and restored. Returns a TRACE__DEC_* outcome.
 */
static int trace__parse_decimal(const trace__span *f, double *out)
{
    const char *p = f->p;
    size_t n = f->n, i = 0;
    int neg = 0;
    if (i < n && p[i] == '-') {
        neg = 1;
        i++;
    }
    uint64_t m = 0;
    int sig = 0, exp10 = 0, digits = 0, inexact = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (m == 0 && d == 0)
            continue;
        if (sig < 19) {
            m = m * 10 + d;
            sig++;
        } else {
            exp10++;
            inexact |= d != 0;
        }
    }
    if (i < n && p[i] == '.') {
        for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
            unsigned d = (unsigned)(p[i] - '0');
            if (m == 0 && d == 0) {
                exp10--;
            } else if (sig < 19) {
                m = m * 10 + d;
                sig++;
                exp10--;
            } else {
                inexact |= d != 0;
            }
        }
    }
    if (digits == 0)
        return trace__is_nonfinite_word(p, n) ? TRACE__DEC_NONFINITE : TRACE__DEC_SYNTAX;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        int eneg = 0, edigits = 0;
        long e = 0;
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            eneg = p[i++] == '-';
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, edigits++) {
            if (e < 100000)
                e = e * 10 + (p[i] - '0');
        }
        if (edigits == 0)
            return TRACE__DEC_SYNTAX;
        exp10 += (int)(eneg ? -e : e);
    }
    if (i != n)
        return TRACE__DEC_SYNTAX;

    double v;
    if (m == 0) {
        v = 0.0;
    } else if (!inexact && m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        v = exp10 < 0 ? (double)m / trace__pow10[-exp10] : (double)m * trace__pow10[exp10];
    } else {
        char *end = f->p + f->n, saved = *end;
        *end = '\0';
        v = strtod(f->p + neg, NULL);
        *end = saved;
    }
    if (!isfinite(v))
        return TRACE__DEC_RANGE;
    *out = neg ? -v : v;
    return TRACE__DEC_OK;
}

int trace__parse_seconds(trace_reader *r, const trace__span *f, const char *name, double *out)
{
    char shown[TRACE__ECHO_BYTES];
    if (f->n == 0)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: empty field", name);
    double v = 0.0;
    switch (trace__parse_decimal(f, &v)) {
    case TRACE__DEC_OK:
        break;
    case TRACE__DEC_NONFINITE:
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: '%s' is not a finite number", name,
                           trace__echo(shown, f->p, f->n));
    case TRACE__DEC_RANGE:
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: '%s' is out of range", name,
                           trace__echo(shown, f->p, f->n));
    default:
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: '%s' is not a number (seconds)", name,
                           trace__echo(shown, f->p, f->n));
    }
    if (v < 0.0)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: '%s' is negative", name,
                           trace__echo(shown, f->p, f->n));
    *out = v + 0.0; /* -0.0 becomes 0.0 */
    return 0;
}

int trace__hash_reserve(trace_reader *r, size_t n)
{
    if (n <= r->hash_cap)
        return 0;
    size_t cap = r->hash_cap < 64 ? 64 : r->hash_cap;
    while (cap < n)
        cap *= 2;
    uint64_t *p = realloc(r->hash_ids, cap * sizeof *p);
    if (p == NULL)
        return trace__fail(r, TRACE_ENOMEM, r->lineno, "out of memory for %zu hash ids", n);
    r->hash_ids = p;
    r->hash_cap = cap;
    return 0;
}

/* ------------------------------------------------------------------ CSV */

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

/* ---------------------------------------------------------------- lines */

/* trace__input keeps two bytes ahead to see a gzip magic whole. */
_Static_assert(TRACE__CHUNK_BYTES >= 16, "TRACE__CHUNK_BYTES too small");

/* Records an input failure's reason in r->pending_msg and returns CODE. */
static int trace__input_fail(trace_reader *r, int code, const char *reason)
{
    snprintf(r->pending_msg, sizeof r->pending_msg, "%s", reason);
    return code;
}

/*
 * Reads more raw bytes after the unread ones (moved to the front of
 * r->in). Returns 0 (r->in_eof set at the end of the file) or a negative
 * code with r->pending_msg.
 */
static int trace__read_raw(trace_reader *r)
{
    size_t keep = r->zs.avail_in;
    if (keep > 0 && r->zs.next_in != r->in)
        memmove(r->in, r->zs.next_in, keep);
    r->zs.next_in = r->in;
    ssize_t n;
    do {
        n = read(r->fd, r->in + keep, TRACE__CHUNK_BYTES - keep);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        char reason[128];
        snprintf(reason, sizeof reason, "cannot read: %s", strerror(errno));
        return trace__input_fail(r, TRACE_EIO, reason);
    }
    if (n == 0)
        r->in_eof = 1;
    r->zs.avail_in = (uInt)(keep + (size_t)n);
    return 0;
}

/*
 * What follows a gzip member: the end, another member, or bytes that are
 * not gzip (counted in trailing_garbage and skipped to the end, as gzip
 * does). A lone 0x1f is the start of a cut member header. Returns 0 or a
 * negative code with r->pending_msg; r->zs.avail_in >= 2 unless at the end.
 */
static int trace__after_member(trace_reader *r)
{
    const unsigned char *p = r->zs.next_in;
    if (r->zs.avail_in == 0) {
        r->input_done = 1;
        return 0;
    }
    if (r->zs.avail_in >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
        r->member_end = 0;
        return inflateReset(&r->zs) == Z_OK
                   ? 0
                   : trace__input_fail(r, TRACE_EGZIP, "corrupt gzip stream (reset failed)");
    }
    if (r->zs.avail_in == 1 && p[0] == 0x1f)
        return trace__input_fail(r, TRACE_EGZIP,
                                 "truncated gzip stream (one byte of a member header after the "
                                 "last member: unexpected end of file)");
    for (;;) {
        r->counts.trailing_garbage += r->zs.avail_in;
        r->zs.avail_in = 0;
        if (r->in_eof)
            break;
        int rc = trace__read_raw(r);
        if (rc < 0)
            return rc;
    }
    r->input_done = 1;
    return 0;
}

/*
 * Reads up to CAP bytes of the trace's text (inflated when gzip) into DST
 * and stores their number in *GOT: 0 only at the end. Returns 0, or a
 * negative code with the reason in r->pending_msg; *GOT then says how many
 * good bytes came before the error.
 */
static int trace__input(trace_reader *r, char *dst, size_t cap, size_t *got)
{
    *got = 0;
    int rc = 0;
    if (!r->gzip) {
        if (r->zs.avail_in == 0 && !r->in_eof)
            rc = trace__read_raw(r);
        size_t n = r->zs.avail_in < cap ? r->zs.avail_in : cap;
        memcpy(dst, r->zs.next_in, n);
        r->zs.next_in += n;
        r->zs.avail_in -= (uInt)n;
        *got = n;
        return rc;
    }
    if (cap > UINT_MAX)
        cap = UINT_MAX;
    r->zs.next_out = (Bytef *)dst;
    r->zs.avail_out = (uInt)cap;
    while (rc == 0 && r->zs.avail_out > 0 && !r->input_done) {
        /* Two bytes ahead, so a member header's magic is seen whole. */
        if (r->zs.avail_in < 2 && !r->in_eof) {
            rc = trace__read_raw(r);
            continue;
        }
        if (r->member_end) {
            rc = trace__after_member(r);
            continue;
        }
        int z = inflate(&r->zs, Z_NO_FLUSH);
        if (z == Z_STREAM_END)
            r->member_end = 1;
        else if (z == Z_BUF_ERROR && r->in_eof && r->zs.avail_in == 0)
            rc =
                trace__input_fail(r, TRACE_EGZIP, "truncated gzip stream (unexpected end of file)");
        else if (z == Z_MEM_ERROR)
            rc = trace__input_fail(r, TRACE_ENOMEM, "out of memory in zlib");
        else if (z != Z_OK) {
            char reason[128];
            snprintf(reason, sizeof reason, "corrupt gzip stream (%s)",
                     r->zs.msg != NULL ? r->zs.msg : "no progress");
            rc = trace__input_fail(r, TRACE_EGZIP, reason);
        }
    }
    *got = cap - r->zs.avail_out;
    return rc;
}

/*
 * Refills the buffer after [start, end) turned out to hold no newline:
 * moves the partial line to the front, grows the buffer if it is full (up
 * to the line cap), and reads one chunk. Returns 0 (r->eof set at the end
 * of input) or a negative code: a line over the cap, a gzip or read error.
 */
static int trace__fill(trace_reader *r)
{
    if (r->pending_err != 0)
        return trace__fail(r, r->pending_err, r->lineno + 1, "%s", r->pending_msg);
    size_t pending = r->end - r->start;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, pending);
        r->start = 0;
        r->end = pending;
    }
    r->scan = r->end;
    if (r->end == r->cap) {
        if (r->cap > TRACE__LINE_MAX_BYTES)
            return trace__fail(r, TRACE_EFORMAT, r->lineno + 1,
                               "line too long (more than %u bytes)", TRACE__LINE_MAX_BYTES);
        size_t cap =
            r->cap * 2 > TRACE__LINE_MAX_BYTES + 1 ? TRACE__LINE_MAX_BYTES + 1 : r->cap * 2;
        char *p = realloc(r->buf, cap + 1);
        if (p == NULL)
            return trace__fail(r, TRACE_ENOMEM, r->lineno + 1, "out of memory for a %zu-byte line",
                               cap);
        r->buf = p;
        r->cap = cap;
    }
    size_t got = 0;
    int rc = trace__input(r, r->buf + r->end, r->cap - r->end, &got);
    r->end += got;
    if (rc < 0 && got > 0) {
        r->pending_err = rc; /* raised once the lines before it are used */
        return 0;
    }
    if (rc < 0)
        return trace__fail(r, rc, r->lineno + 1, "%s", r->pending_msg);
    if (got == 0)
        r->eof = 1;
    return 0;
}

/*
 * Returns the next line in *LINE and *LEN, NUL-terminated, without its "\n" or
 * "\r\n" (counted), valid until the next call. Returns 1 for a line, 0 at
 * the end of input, or a negative code (line too long, NUL byte, I/O).
 */
static int trace__getline(trace_reader *r, char **line, size_t *len)
{
    char *nl;
    for (;;) {
        nl = memchr(r->buf + r->scan, '\n', r->end - r->scan);
        if (nl != NULL || r->eof)
            break;
        int rc = trace__fill(r);
        if (rc < 0)
            return rc;
    }
    char *p = r->buf + r->start;
    size_t n;
    if (nl != NULL) {
        n = (size_t)(nl - p);
        r->start = r->scan = (size_t)(nl - r->buf) + 1;
    } else {
        if (r->start == r->end)
            return 0;
        n = r->end - r->start;
        r->start = r->scan = r->end;
        r->counts.missing_final_newline = 1;
    }
    r->lineno++;
    r->counts.lines++;
    if (n > TRACE__LINE_MAX_BYTES)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "line too long (more than %u bytes)",
                           TRACE__LINE_MAX_BYTES);
    if (n > 0 && p[n - 1] == '\r') {
        n--;
        if (nl != NULL)
            r->counts.crlf_lines++;
    }
    if (memchr(p, '\0', n) != NULL)
        return trace__fail(r, TRACE_EFORMAT, r->lineno,
                           "NUL byte in line (binary data, or a compressed format other than "
                           "gzip?)");
    p[n] = '\0';
    *line = p;
    *len = n;
    return 1;
}

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

/*
 * Reads lines up to the next request. Returns 1 with *REQ filled, 0 at the
 * end (trailing blank lines counted), or a negative code.
 */
static int trace__read_request(trace_reader *r, trace_request *req)
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

/*
 * Reads the first non-blank line and decides the format: a line starting
 * with '{' is mooncake JSONL (parsed at once as the first request), else
 * it is a CSV header whose column names decide, unless FMT forces one.
 * Returns 0 or a negative code with a message.
 */
static int trace__detect(trace_reader *r, trace_format fmt)
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
    return trace__fail(r, TRACE_EFORMAT, r->lineno,
                       "unrecognized trace header '%s' (expected kvsim "
                       "arrival_s,input_tokens,output_tokens; azure "
                       "TIMESTAMP,ContextTokens,GeneratedTokens; burstgpt "
                       "Timestamp,Model,Request tokens,Response tokens; vidur "
                       "arrived_at,num_prefill_tokens,num_decode_tokens; lengths "
                       "num_prefill_tokens,num_decode_tokens; or mooncake JSONL); use --format",
                       trace__echo(shown, line, len));
}

/* -------------------------------------------------------------- the API */

/*
 * Opens PATH ("-": a duplicate of standard input, so closing the reader
 * leaves stdin open) as a gzip-or-plain stream. Returns 0 or a negative
 * code with a message without a line number.
 */
static int trace__open_stream(trace_reader *r, const char *path)
{
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY);
    if (fd < 0)
        return trace__fail(r, TRACE_EIO, 0, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return trace__fail(r, TRACE_EIO, 0, "cannot read: %s", strerror(EISDIR));
    }
    r->fd = fd;
    r->cap = TRACE__CHUNK_BYTES;
    r->buf = malloc(r->cap + 1);
    r->in = malloc(TRACE__CHUNK_BYTES);
    if (r->buf == NULL || r->in == NULL)
        return trace__fail(r, TRACE_ENOMEM, 0, "out of memory for the input buffers");
    r->zs.next_in = r->in;
    while (r->zs.avail_in < 2 && !r->in_eof) {
        if (trace__read_raw(r) < 0)
            return trace__fail(r, TRACE_EIO, 0, "%s", r->pending_msg);
    }
    /* gzip's magic; a lone 0x1f is a cut gzip header (inflate says so). */
    r->gzip = r->zs.avail_in >= 1 && r->in[0] == 0x1f && (r->zs.avail_in == 1 || r->in[1] == 0x8b);
    if (r->gzip) {
        if (inflateInit2(&r->zs, 15 + 16) != Z_OK)
            return trace__fail(r, TRACE_ENOMEM, 0, "cannot open: out of memory in zlib");
        r->zs_ready = 1;
    }
    return 0;
}

/*
 * The message for a trace whose rows were all skipped (by the model
 * filter, or as failed requests), or that has only a header.
 */
static int trace__fail_no_requests(trace_reader *r)
{
    if (r->model_filter != NULL && r->counts.filtered_out > 0 && r->counts.failed_skipped == 0) {
        char models[TRACE__MODELS_SEEN * (TRACE__MODEL_NAME_BYTES + 2)];
        size_t n = 0;
        models[0] = '\0';
        for (size_t i = 0; i < r->models_seen && n < sizeof models; i++)
            n += (size_t)snprintf(models + n, sizeof models - n, "%s%s", i > 0 ? ", " : "",
                                  r->model_names[i]);
        return trace__fail(r, TRACE_EFORMAT, r->header_line,
                           "no rows of model '%s' (%llu rows of other models: %s%s)",
                           r->model_filter, (unsigned long long)r->counts.filtered_out, models,
                           r->models_seen == TRACE__MODELS_SEEN ? ", ..." : "");
    }
    if (r->counts.failed_skipped > 0)
        return trace__fail(r, TRACE_EFORMAT, r->header_line,
                           "no requests after the header (%llu failed requests with 0 response "
                           "tokens skipped, %llu rows of other models)",
                           (unsigned long long)r->counts.failed_skipped,
                           (unsigned long long)r->counts.filtered_out);
    return trace__fail(r, TRACE_EFORMAT, r->header_line, "no requests after the header");
}

int trace_open(trace_reader **out, const char *path, trace_format fmt, char *err, size_t errlen)
{
    trace_open_opts o = {fmt, NULL};
    return trace_open_ex(out, path, &o, err, errlen);
}

int trace_open_ex(trace_reader **out, const char *path, const trace_open_opts *opts, char *err,
                  size_t errlen)
{
    static const trace_open_opts defaults = {TRACE_FORMAT_AUTO, NULL};
    if (opts == NULL)
        opts = &defaults;
    trace_format fmt = opts->format;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL || path == NULL || (int)fmt < (int)TRACE_FORMAT_AUTO ||
        (int)fmt > (int)TRACE_FORMAT_LAST) {
        trace__err_early(err, errlen, path != NULL ? path : "(null)", "bad argument to trace_open");
        if (out != NULL)
            *out = NULL;
        return TRACE_EARG;
    }
    *out = NULL;
    trace_reader *r = calloc(1, sizeof *r);
    if (r != NULL)
        r->path = strdup(strcmp(path, "-") == 0 ? "<stdin>" : path);
    if (r != NULL && r->path != NULL && opts->model_filter != NULL)
        r->model_filter = strdup(opts->model_filter);
    if (r == NULL || r->path == NULL || (opts->model_filter != NULL && r->model_filter == NULL)) {
        if (r != NULL)
            free(r->path);
        free(r);
        trace__err_early(err, errlen, path, "out of memory");
        return TRACE_ENOMEM;
    }
    for (size_t j = 0; j < TRACE__NCOLS; j++)
        r->col[j] = TRACE__NO_COLUMN;
    r->fd = -1;

    int rc = trace__open_stream(r, path);
    if (rc == 0)
        rc = trace__detect(r, fmt);
    if (rc == 0 && r->model_filter != NULL && r->fmt != TRACE_FORMAT_BURSTGPT)
        rc = trace__fail(r, TRACE_EARG, r->header_line > 0 ? r->header_line : 1,
                         "a model filter applies to burstgpt traces only (this trace is %s)",
                         trace_format_name(r->fmt));
    if (rc == 0 && !r->has_pending) {
        rc = trace__read_request(r, &r->pending);
        if (rc == 1) {
            r->has_pending = 1;
            rc = 0;
        } else if (rc == 0) {
            rc = trace__fail_no_requests(r);
        }
    }
    if (rc < 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s", r->errmsg);
        trace_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int trace_next(trace_reader *r, trace_request *req)
{
    if (r == NULL || req == NULL)
        return TRACE_EARG;
    if (r->err != 0)
        return r->err;
    if (r->has_pending) {
        *req = r->pending;
        r->has_pending = 0;
    } else {
        if (r->done)
            return 0;
        int rc = trace__read_request(r, req);
        if (rc <= 0) {
            r->done = rc == 0;
            return rc;
        }
    }
    req->index = r->counts.requests++;
    return 1;
}

const char *trace_errmsg(const trace_reader *r)
{
    return r != NULL ? r->errmsg : "";
}

trace_format trace_get_format(const trace_reader *r)
{
    return r != NULL ? r->fmt : TRACE_FORMAT_AUTO;
}

int trace_has_arrivals(const trace_reader *r)
{
    return r != NULL && r->fmt != TRACE_FORMAT_LENGTHS;
}

int trace_get_fields(const trace_reader *r)
{
    if (r == NULL)
        return 0;
    if (r->fmt == TRACE_FORMAT_MOONCAKE)
        return TRACE_FIELD_HASH_IDS;
    if (r->fmt != TRACE_FORMAT_KVSIM)
        return 0;
    return (r->col[TRACE__COL_HASH] != TRACE__NO_COLUMN ? TRACE_FIELD_HASH_IDS : 0) |
           (r->col[TRACE__COL_SESSION] != TRACE__NO_COLUMN ? TRACE_FIELD_SESSION : 0);
}

void trace_get_counts(const trace_reader *r, trace_counts *out)
{
    if (out == NULL)
        return;
    if (r == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = r->counts;
}

void trace_close(trace_reader *r)
{
    if (r == NULL)
        return;
    if (r->zs_ready)
        (void)inflateEnd(&r->zs);
    if (r->fd >= 0)
        close(r->fd);
    free(r->in);
    free(r->buf);
    free(r->fields);
    free(r->hash_ids);
    free(r->model_filter);
    free(r->path);
    free(r);
}
