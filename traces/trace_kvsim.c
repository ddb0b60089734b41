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
 * Example:
 *   arrival_s,input_tokens,output_tokens,hash_ids
 *   0.0,1024,128,0;1
 *   0.25,600,7,0;2
 *
 * Numbers are parsed by hand: the format is strict (no sign, no hex, no
 * locale), overflow is detected, and it is several times faster than
 * strtod/sscanf on the common short decimals.
 */
#include "traces/trace_int.h"

#include <math.h>
#include <stdlib.h>

/* Column names in slot order (TRACE__COL_*); the first three are required. */
static const char *const trace__kvsim_names[] = {"arrival_s", "input_tokens", "output_tokens",
                                                 "hash_ids"};

int trace__kvsim_header(trace_reader *r, int forced, const char *header, size_t len)
{
    return trace__csv_bind(r, trace__kvsim_names, 4, 3, forced, "kvsim", header, len);
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

/* Parses the arrival_s field F into *OUT; returns 0 or a negative code. */
static int trace__kvsim_arrival(trace_reader *r, const trace__span *f, double *out)
{
    char shown[TRACE__ECHO_BYTES];
    const char *name = r->col_name[TRACE__COL_ARRIVAL];
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
    rc = trace__kvsim_arrival(r, &f[r->col[TRACE__COL_ARRIVAL]], &row->arrival_s);
    if (rc < 0)
        return rc;
    rc = trace__parse_u32(r, &f[r->col[TRACE__COL_INPUT]], r->col_name[TRACE__COL_INPUT],
                          &row->input_tokens);
    if (rc < 0)
        return rc;
    rc = trace__parse_u32(r, &f[r->col[TRACE__COL_OUTPUT]], r->col_name[TRACE__COL_OUTPUT],
                          &row->output_tokens);
    if (rc < 0)
        return rc;
    row->num_hash_ids = 0;
    if (r->col[TRACE__COL_HASH] != TRACE__NO_COLUMN)
        return trace__kvsim_hashes(r, &f[r->col[TRACE__COL_HASH]], &row->num_hash_ids);
    return 0;
}
