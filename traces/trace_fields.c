/*
 * trace_fields.c: the values of a row's fields, for the per-format row
 * parsers: strict unsigned integers, seconds (a correctly rounded decimal
 * parser), the timed formats' three columns, and room for a row's hash ids.
 *
 * Numbers are parsed by hand: the formats are strict (no sign, no hex, no
 * locale), overflow is detected, and it is several times faster than
 * strtod/sscanf on short decimals.
 */
#include "traces/trace_int.h"

#include <math.h>
#include <stdlib.h>

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
    uint64_t v = 0; /* set when rc is 0; GCC cannot see trace__fail never returns 0 */
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
