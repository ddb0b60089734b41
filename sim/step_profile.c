/*
 * step_profile.c: measured step times in place of the roofline; the
 * format, the fit and the rules outside the measured range are in
 * step_profile.h.
 *
 * Loading reads the rows, refuses what cannot be taken honestly, sorts
 * them by tokens computed and fits the model; the fitted knots are all
 * that lookups touch. At a knot (the rows of one n) the fit is ordinary
 * least squares of step_ms on the contexts with an intercept per split:
 * slopes from the rows less their split's means. The per-sequence time s
 * is then least squares of what is left on the sequences with an
 * intercept per knot, pooled over the knots; f is the knot's mean with
 * both terms removed. For data of the form f(n) + s*(S - 1) + a(n)*D +
 * b(n)*P it returns f, s, a and b at every knot exactly.
 */
#include "sim/step_profile.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Larger files are refused: a profile has hundreds or thousands of rows. */
#define PROFILE_MAX_BYTES (64u << 20)
/* Counts above 2^53 are not exact in a double. */
#define PROFILE_MAX_COUNT 9007199254740992.0
/* A knot may sit this far below the one before it (measurement noise). */
#define PROFILE_MONOTONE_SLACK 0.01

enum { COL_PF, COL_DEC, COL_DCTX, COL_PCTX, COL_TP, COL_MS, COL_PSEQ, NCOLS };

static const char *const col_names[NCOLS] = {
    "prefill_tokens", "decode_seqs",  "decode_context_tokens", "prefill_context_tokens", "tp",
    "step_ms",        "prefill_seqs",
};

typedef struct row {
    double v[NCOLS];
    uint64_t line;
} row;

struct sim_step_profile {
    sim_step_profile_info info;
    uint32_t nk;
    uint64_t *kn; /* distinct n, increasing */
    double *kf;   /* f at each, seconds */
    double *ka;   /* a at each: seconds per decode context token */
    double *kb;   /* b at each: seconds per prefill context token */
    double s;     /* seconds per sequence beyond the first (one for the profile) */
};

static int fail(char *err, size_t errlen, const char *name, uint64_t line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(err, errlen, "%s:%llu: %s", name, (unsigned long long)line, msg);
    else
        snprintf(err, errlen, "%s: %s", name, msg);
    return -1;
}

/* A field's text for a message: at most 40 bytes, controls as '?'. */
static void shown(char *dst, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    for (; k < n && k < 40 && k + 1 < cap; k++)
        dst[k] = (s[k] < 32 || s[k] == 127) ? '?' : s[k];
    dst[k] = '\0';
    if (n > 40 && cap > 44)
        strcpy(dst + k, "...");
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* A field as trim leaves it, less one pair of enclosing double quotes
 * (pandas' to_csv with csv.QUOTE_ALL or QUOTE_NONNUMERIC quotes the
 * header's names, and every field with QUOTE_ALL): a quoted name or
 * number reads as the bare one. No field of a profile holds a comma or
 * a quote of its own. */
static void unquote(const char **s, size_t *n)
{
    trim(s, n);
    if (*n >= 2 && (*s)[0] == '"' && (*s)[*n - 1] == '"') {
        (*s)++;
        *n -= 2;
        trim(s, n);
    }
}

/* Parses a decimal number (sign, digits, optional fraction and exponent;
 * no hex, inf or nan) of N bytes at S into *V. Returns 0 or -1. */
static int parse_num(const char *s, size_t n, double *v)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    size_t k = 0, digits = 0;
    if (s[k] == '-' || s[k] == '+')
        k++;
    for (; k < n && s[k] >= '0' && s[k] <= '9'; k++)
        digits++;
    if (k < n && s[k] == '.')
        for (k++; k < n && s[k] >= '0' && s[k] <= '9'; k++)
            digits++;
    if (digits == 0)
        return -1;
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        size_t e = ++k;
        if (k < n && (s[k] == '-' || s[k] == '+'))
            e = ++k;
        for (; k < n && s[k] >= '0' && s[k] <= '9'; k++)
            ;
        if (k == e)
            return -1;
    }
    if (k != n)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    *v = strtod(buf, NULL);
    return isfinite(*v) ? 0 : -1;
}

/* Checks field value V of column C. Returns 0, or -1 with ERR. */
static int check_value(int c, double v, const char *txt, char *err, size_t errlen, const char *name,
                       uint64_t line)
{
    if (c == COL_MS) {
        if (!(v > 0))
            return fail(err, errlen, name, line, "step_ms '%s' is not a positive time", txt);
        /* The clock counts nanoseconds: a step of 1e-300 ms was taken
         * as 0 ns, a run of thousands of steps in no time. No measured
         * step is under a microsecond (a CUDA kernel launch alone takes
         * a few). */
        if (v < 1e-3)
            return fail(err, errlen, name, line,
                        "step_ms '%s' is below any measured step (< 0.001 ms, 1 us)", txt);
        if (v > 1e9)
            return fail(err, errlen, name, line, "step_ms '%s' is beyond any step (> 1e9 ms)", txt);
        return 0;
    }
    if (v < 0)
        return fail(err, errlen, name, line, "%s '%s' is negative", col_names[c], txt);
    if (v != floor(v) || v > PROFILE_MAX_COUNT)
        return fail(err, errlen, name, line, "%s '%s' is not a whole count", col_names[c], txt);
    /* A step's sequences are 32-bit counts (sim_batch_shape): a larger
     * one was cut modulo 2^32 when the fit's rows were priced back. */
    if ((c == COL_DEC || c == COL_PSEQ) && v > UINT32_MAX)
        return fail(err, errlen, name, line,
                    "%s '%s' is above %u, the most sequences a step can hold", col_names[c], txt,
                    UINT32_MAX);
    if (c == COL_TP && (v < 1 || v > 1024))
        return fail(err, errlen, name, line, "tp '%s' is not a tensor-parallel size in 1..1024",
                    txt);
    return 0;
}

/* Splits the header of N bytes at S into MAP (column -> field index).
 * Returns the field count, or -1 with ERR. */
static int parse_header(const char *s, size_t n, int map[NCOLS], char *err, size_t errlen,
                        const char *name, uint64_t line)
{
    for (int c = 0; c < NCOLS; c++)
        map[c] = -1;
    int nf = 0;
    for (size_t start = 0;; nf++) {
        size_t end = start;
        while (end < n && s[end] != ',')
            end++;
        const char *f = s + start;
        size_t fl = end - start;
        unquote(&f, &fl);
        int c = 0;
        while (c < NCOLS && !(strlen(col_names[c]) == fl && memcmp(col_names[c], f, fl) == 0))
            c++;
        char txt[48];
        shown(txt, sizeof(txt), f, fl);
        /* Vidur's profiles (time_stats.<op>.median per operator) are a
         * natural thing to try here; they are not step times. */
        bool vidur = false;
        for (size_t k = 0; k + 11 <= n && !vidur; k++)
            vidur = memcmp(s + k, "time_stats.", 11) == 0;
        if (c == NCOLS)
            return fail(err, errlen, name, line,
                        "unknown column '%s' (known: prefill_tokens, decode_seqs, "
                        "decode_context_tokens, step_ms; optional prefill_context_tokens, "
                        "prefill_seqs, tp)%s",
                        txt,
                        vidur ? ": its time_stats columns are a Vidur per-operator profile, not "
                                "step times (README, Measured step profiles: how to sum one "
                                "into step_ms)"
                        : fl == 0 ? ": an unnamed column (a trailing comma, or pandas' row "
                                    "index: write with to_csv(index=False))"
                                  : "");
        if (map[c] >= 0)
            return fail(err, errlen, name, line, "column '%s' given twice", txt);
        map[c] = nf;
        if (end >= n)
            break;
        start = end + 1;
    }
    nf++;
    static const int required[] = {COL_PF, COL_DEC, COL_DCTX, COL_MS};
    for (size_t k = 0; k < sizeof(required) / sizeof(required[0]); k++)
        if (map[required[k]] < 0)
            return fail(err, errlen, name, line,
                        "no column '%s' (a profile needs prefill_tokens, decode_seqs, "
                        "decode_context_tokens and step_ms)",
                        col_names[required[k]]);
    return nf;
}

/* Parses the row of N bytes at S with NF fields into R. Returns 0, or -1 with ERR. */
static int parse_row(const char *s, size_t n, int nf, const int map[NCOLS], row *r, char *err,
                     size_t errlen, const char *name, uint64_t line)
{
    int col_of[NCOLS];
    for (int k = 0; k < NCOLS; k++)
        col_of[k] = -1;
    for (int c = 0; c < NCOLS; c++)
        if (map[c] >= 0)
            col_of[map[c]] = c;
    memset(r, 0, sizeof(*r));
    r->line = line;
    int k = 0;
    for (size_t start = 0;; k++) {
        size_t end = start;
        while (end < n && s[end] != ',')
            end++;
        if (k >= nf)
            return fail(err, errlen, name, line, "more than the header's %d fields", nf);
        const char *f = s + start;
        size_t fl = end - start;
        unquote(&f, &fl);
        int c = col_of[k];
        char txt[48];
        shown(txt, sizeof(txt), f, fl);
        if (parse_num(f, fl, &r->v[c]) != 0)
            return fail(err, errlen, name, line, "%s '%s' is not a number", col_names[c], txt);
        if (check_value(c, r->v[c], txt, err, errlen, name, line) != 0)
            return -1;
        if (end >= n)
            break;
        start = end + 1;
    }
    if (k + 1 != nf)
        return fail(err, errlen, name, line, "%d fields where the header has %d", k + 1, nf);
    if (map[COL_PSEQ] < 0)
        r->v[COL_PSEQ] = r->v[COL_PF] > 0; /* one prompt computes the row's prompt tokens */
    else if (r->v[COL_PF] > 0 && r->v[COL_PSEQ] == 0)
        return fail(err, errlen, name, line,
                    "prefill_tokens %.0f with prefill_seqs 0: prompt tokens belong to at least "
                    "one prompt",
                    r->v[COL_PF]);
    else if (r->v[COL_PSEQ] > r->v[COL_PF])
        return fail(err, errlen, name, line,
                    "prefill_seqs %.0f is above prefill_tokens %.0f: each prompt in the step "
                    "computes at least one token",
                    r->v[COL_PSEQ], r->v[COL_PF]);
    if (r->v[COL_PF] + r->v[COL_DEC] == 0)
        return fail(err, errlen, name, line,
                    "an empty step: prefill_tokens and decode_seqs are both 0");
    if (r->v[COL_DEC] == 0 && r->v[COL_DCTX] > 0)
        return fail(err, errlen, name, line,
                    "decode_context_tokens %.0f with decode_seqs 0: no sequence decodes to read it",
                    r->v[COL_DCTX]);
    if (r->v[COL_PF] == 0 && r->v[COL_PCTX] > 0)
        return fail(err, errlen, name, line,
                    "prefill_context_tokens %.0f with prefill_tokens 0: no prompt chunk reads it",
                    r->v[COL_PCTX]);
    if (r->v[COL_DCTX] < r->v[COL_DEC])
        return fail(err, errlen, name, line,
                    "decode_context_tokens %.0f is below decode_seqs %.0f: it is the sum of the "
                    "decoding sequences' context lengths, each at least 1",
                    r->v[COL_DCTX], r->v[COL_DEC]);
    r->v[COL_MS] /= 1e3; /* seconds from here on */
    return 0;
}

static double n_of(const row *r)
{
    return r->v[COL_PF] + r->v[COL_DEC];
}

/* The sequences a row's step runs: its prompts and its decodes. */
static double seqs_of(const row *r)
{
    return r->v[COL_PSEQ] + r->v[COL_DEC];
}

/* Rows of one n, then one split (prompt tokens and prompts), adjacent. */
static int cmp_shape(const void *x, const void *y)
{
    const row *a = x, *b = y;
    double ka[6] = {n_of(a),        a->v[COL_PF],   a->v[COL_PSEQ],
                    a->v[COL_DCTX], a->v[COL_PCTX], (double)a->line};
    double kb[6] = {n_of(b),        b->v[COL_PF],   b->v[COL_PSEQ],
                    b->v[COL_DCTX], b->v[COL_PCTX], (double)b->line};
    for (int k = 0; k < 6; k++)
        if (ka[k] != kb[k])
            return ka[k] < kb[k] ? -1 : 1;
    return 0;
}

/* Fills the knots where V (the slopes, VALID where the knot's rows
 * measured them) is missing: linear in n between the knots that have it,
 * held beyond them. Returns false when no knot has it. */
static bool fill_slopes(const uint64_t *kn, double *v, const bool *valid, uint32_t nk)
{
    int32_t prev = -1;
    for (uint32_t k = 0; k < nk; k++) {
        if (!valid[k])
            continue;
        for (uint32_t j = prev < 0 ? 0 : (uint32_t)prev + 1; j < k; j++)
            v[j] = prev < 0 ? v[k]
                            : v[prev] + (v[k] - v[prev]) * (double)(kn[j] - kn[prev]) /
                                            (double)(kn[k] - kn[prev]);
        prev = (int32_t)k;
    }
    if (prev < 0)
        return false;
    for (uint32_t j = (uint32_t)prev + 1; j < nk; j++)
        v[j] = v[prev];
    return true;
}

/* Fits P from the N rows R (sorted by n). Returns 0, or -1 with ERR. */
static int fit(sim_step_profile *p, const row *r, size_t n, bool has_pctx, char *err, size_t errlen,
               const char *name, uint64_t header_line)
{
    uint32_t nk = 0;
    for (size_t i = 0; i < n; i++)
        nk += i == 0 || n_of(&r[i]) != n_of(&r[i - 1]);
    if (nk < 2)
        return fail(err, errlen, name, header_line,
                    "every row computes %.0f tokens (prefill_tokens + decode_seqs): a profile "
                    "needs at least two token counts to interpolate between",
                    n_of(&r[0]));
    p->nk = nk;
    p->kn = malloc(nk * sizeof(uint64_t));
    p->kf = malloc(nk * sizeof(double));
    p->ka = malloc(nk * sizeof(double));
    p->kb = malloc(nk * sizeof(double));
    bool *va = malloc(2 * nk * sizeof(bool)), *vb = va + nk;
    uint32_t *first = malloc(nk * sizeof(uint32_t));
    if (p->kn == NULL || p->kf == NULL || p->ka == NULL || p->kb == NULL || va == NULL ||
        first == NULL) {
        free(va);
        free(first);
        return fail(err, errlen, name, 0, "out of memory");
    }
    /* Each knot's slopes: least squares of step_ms on the contexts over
     * its rows, each less the means of the rows of its own split of n
     * into prefill and decode tokens and prompts (a prompt chunk's own
     * attention, a decode batch's sampling and its per-sequence host time
     * differ at equal n; only context varied at a fixed split says what
     * context costs). A split fixes the step's sequences, so the
     * per-sequence term does not enter the slopes. */
    int rc = 0;
    uint32_t k = 0;
    for (size_t i = 0; i < n; k++) {
        size_t j = i;
        while (j < n && n_of(&r[j]) == n_of(&r[i]))
            j++;
        double sdd = 0, sdp = 0, spp = 0, sdt = 0, spt = 0;
        for (size_t g = i; g < j;) {
            size_t e = g;
            double md = 0, mp = 0, mt = 0;
            for (;
                 e < j && r[e].v[COL_PF] == r[g].v[COL_PF] && r[e].v[COL_PSEQ] == r[g].v[COL_PSEQ];
                 e++) {
                md += r[e].v[COL_DCTX];
                mp += r[e].v[COL_PCTX];
                mt += r[e].v[COL_MS];
            }
            double cnt = (double)(e - g);
            md /= cnt, mp /= cnt, mt /= cnt;
            for (size_t q = g; q < e; q++) {
                double d = r[q].v[COL_DCTX] - md, c = r[q].v[COL_PCTX] - mp;
                double t = r[q].v[COL_MS] - mt;
                sdd += d * d, sdp += d * c, spp += c * c, sdt += d * t, spt += c * t;
            }
            g = e;
        }
        p->kn[k] = (uint64_t)n_of(&r[i]);
        first[k] = (uint32_t)i;
        double det = sdd * spp - sdp * sdp;
        va[k] = sdd > 0 && (spp == 0 || det > 1e-9 * sdd * spp);
        vb[k] = spp > 0 && (sdd == 0 || det > 1e-9 * sdd * spp);
        p->ka[k] = va[k] ? (vb[k] ? (sdt * spp - spt * sdp) / det : sdt / sdd) : 0;
        p->kb[k] = vb[k] ? (va[k] ? (spt * sdd - sdt * sdp) / det : spt / spp) : 0;
        double neg = va[k] && p->ka[k] < 0 ? p->ka[k] : vb[k] && p->kb[k] < 0 ? p->kb[k] : 0;
        if (neg < 0 && rc == 0)
            rc = fail(err, errlen, name, r[i].line,
                      "at %.0f tokens computed the fitted time per %s context token is "
                      "negative (%.3g ms per 1000 tokens): step_ms falls as the context grows",
                      n_of(&r[i]), neg == p->ka[k] ? "decode" : "prefill", neg * 1e6);
        i = j;
    }
    if (rc == 0 && !fill_slopes(p->kn, p->ka, va, nk))
        rc = fail(err, errlen, name, header_line,
                  "decode_context_tokens never varies between rows computing the same tokens "
                  "(prefill_tokens + decode_seqs): the time per context token cannot be fitted; "
                  "measure at least one batch at two contexts");
    if (rc == 0 && has_pctx && !fill_slopes(p->kn, p->kb, vb, nk))
        rc = fail(err, errlen, name, header_line,
                  "prefill_context_tokens never varies apart from decode_context_tokens between "
                  "rows computing the same tokens: its time per token cannot be fitted; measure "
                  "it apart, or drop the column (prefill context is then priced as decode "
                  "context)");
    if (rc == 0 && !has_pctx)
        memcpy(p->kb, p->ka, nk * sizeof(double));
    /* The per-sequence time: least squares of what is left once the
     * context term is out on the sequences S - 1, with an intercept per
     * knot (each knot's rows less their means), over the knots whose rows
     * run different numbers of sequences (decodes and prompt chunks of
     * equal n). One value for the profile: host time per scheduled
     * sequence does not depend on the tokens. */
    double sss = 0, ssr = 0;
    uint32_t seq_knots = 0;
    for (k = 0; rc == 0 && k < nk; k++) {
        size_t i = first[k], j = k + 1 < nk ? first[k + 1] : n;
        double ms = 0, mr = 0, kss = 0;
        for (size_t q = i; q < j; q++) {
            ms += seqs_of(&r[q]);
            mr += r[q].v[COL_MS] - p->ka[k] * r[q].v[COL_DCTX] - p->kb[k] * r[q].v[COL_PCTX];
        }
        ms /= (double)(j - i), mr /= (double)(j - i);
        for (size_t q = i; q < j; q++) {
            double ds = seqs_of(&r[q]) - ms;
            double dr =
                r[q].v[COL_MS] - p->ka[k] * r[q].v[COL_DCTX] - p->kb[k] * r[q].v[COL_PCTX] - mr;
            kss += ds * ds, ssr += ds * dr;
        }
        sss += kss;
        seq_knots += kss > 0;
    }
    p->s = 0;
    p->info.seq_knots = seq_knots;
    p->info.seq_fit = SIM_PROFILE_SEQ_NONE;
    if (sss > 0) {
        p->info.seq_s_fitted = ssr / sss;
        p->info.seq_fit = ssr >= 0 ? SIM_PROFILE_SEQ_FITTED : SIM_PROFILE_SEQ_NEGATIVE;
        p->s = ssr >= 0 ? ssr / sss : 0;
    }
    p->info.seq_s = p->s;
    for (k = 0; rc == 0 && k < nk; k++) {
        size_t i = first[k], j = k + 1 < nk ? first[k + 1] : n;
        double f = 0;
        for (size_t q = i; q < j; q++)
            f += r[q].v[COL_MS] - p->ka[k] * r[q].v[COL_DCTX] - p->kb[k] * r[q].v[COL_PCTX] -
                 p->s * (seqs_of(&r[q]) - 1);
        f /= (double)(j - i);
        p->kf[k] = f;
        if (!(f > 0))
            rc = fail(err, errlen, name, r[i].line,
                      "at %.0f tokens computed the fit leaves %.4g ms once the context term "
                      "(%.3g ms per 1000 tokens) and the per-sequence term (%.4g ms per "
                      "sequence beyond the first) are taken out: the profile is not of the form "
                      "f(tokens) + s * (sequences - 1) + a(tokens) * context",
                      n_of(&r[i]), f * 1e3, p->ka[k] * 1e6, p->s * 1e3);
        else if (k > 0 && f < p->kf[k - 1] * (1 - PROFILE_MONOTONE_SLACK))
            rc = fail(err, errlen, name, r[i].line,
                      "at %.0f tokens computed the step takes %.4g ms (context and per-sequence "
                      "terms taken out), less than %.4g ms at %llu tokens (line %llu): computing "
                      "more tokens cannot be faster (under 1 %% is kept as noise)",
                      n_of(&r[i]), f * 1e3, p->kf[k - 1] * 1e3, (unsigned long long)p->kn[k - 1],
                      (unsigned long long)r[first[k - 1]].line);
    }
    free(va);
    free(first);
    return rc;
}

/* Fills P's info from the N sorted rows R and checks tp. */
static int describe(sim_step_profile *p, const row *r, size_t n, const int map[NCOLS], char *err,
                    size_t errlen, const char *name)
{
    sim_step_profile_info *in = &p->info;
    snprintf(in->path, sizeof(in->path), "%s", name);
    in->rows = (uint32_t)n;
    in->knots = p->nk;
    in->has_prefill_context = map[COL_PCTX] >= 0;
    in->tokens_min = p->kn[0];
    in->tokens_max = p->kn[p->nk - 1];
    in->context_min = in->prefill_context_min = UINT64_MAX;
    in->ctx_s_per_token_min = in->prefill_ctx_s_per_token_min = INFINITY;
    for (uint32_t k = 0; k < p->nk; k++) {
        in->ctx_s_per_token_min = fmin(in->ctx_s_per_token_min, p->ka[k]);
        in->ctx_s_per_token_max = fmax(in->ctx_s_per_token_max, p->ka[k]);
        in->prefill_ctx_s_per_token_min = fmin(in->prefill_ctx_s_per_token_min, p->kb[k]);
        in->prefill_ctx_s_per_token_max = fmax(in->prefill_ctx_s_per_token_max, p->kb[k]);
    }
    const row *first_tp = NULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = (uint64_t)r[i].v[COL_DCTX], q = (uint64_t)r[i].v[COL_PCTX];
        if (!in->has_prefill_context)
            d += q; /* q is 0: there is no such column */
        /* The measured ranges: the decode context over the rows with
         * decodes, the prompts' context over those with prefill (a
         * prefill-only row's decode context of 0 had put every decode
         * context above the range's floor). */
        if (r[i].v[COL_DEC] > 0) {
            in->context_min = d < in->context_min ? d : in->context_min;
            in->context_max = d > in->context_max ? d : in->context_max;
        }
        if (r[i].v[COL_PF] > 0) {
            in->prefill_context_min = q < in->prefill_context_min ? q : in->prefill_context_min;
            in->prefill_context_max = q > in->prefill_context_max ? q : in->prefill_context_max;
        }
        if (map[COL_TP] >= 0) {
            if (first_tp == NULL || r[i].line < first_tp->line)
                first_tp = &r[i];
        }
        sim_batch_shape sh = {.prefill_seqs = (uint32_t)r[i].v[COL_PSEQ],
                              .decode_seqs = (uint32_t)r[i].v[COL_DEC],
                              .prefill_tokens = (uint64_t)r[i].v[COL_PF],
                              .decode_ctx_tokens = d,
                              .prefill_ctx_tokens = q};
        double t = sim_step_profile_s(p, &sh, NULL);
        double rel = fabs(t - r[i].v[COL_MS]) / r[i].v[COL_MS];
        if (rel > in->max_residual_rel || in->max_residual_line == 0) {
            in->max_residual_rel = rel;
            in->max_residual_line = r[i].line;
        }
    }
    if (in->context_min > in->context_max) /* no row with decodes */
        in->context_min = in->context_max = 0;
    if (in->prefill_context_min > in->prefill_context_max) /* none with prefill */
        in->prefill_context_min = in->prefill_context_max = 0;
    if (first_tp != NULL) {
        in->tp = (uint32_t)first_tp->v[COL_TP];
        const row *bad = NULL;
        for (size_t i = 0; i < n; i++)
            if (r[i].v[COL_TP] != first_tp->v[COL_TP] && (bad == NULL || r[i].line < bad->line))
                bad = &r[i];
        if (bad != NULL)
            return fail(err, errlen, name, bad->line,
                        "tp %.0f differs from tp %u at line %llu: one profile per "
                        "tensor-parallel size",
                        bad->v[COL_TP], in->tp, (unsigned long long)first_tp->line);
    }
    return 0;
}

int sim_step_profile_parse(const char *text, size_t len, const char *name, sim_step_profile **out,
                           char *err, size_t errlen)
{
    *out = NULL;
    int map[NCOLS], nf = -1;
    row *rows = NULL;
    size_t n = 0, cap = 0;
    uint64_t line = 0, header_line = 0;
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* a UTF-8 byte-order mark, as spreadsheet exports write */
    int rc = -1;
    if (len >= 2 && (unsigned char)text[0] == 0x1f && (unsigned char)text[1] == 0x8b)
        return fail(err, errlen, name, 1,
                    "gzip-compressed: a step profile is plain CSV (gunzip it first)");
    while (pos < len) {
        line++;
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t ln = nl ? (size_t)(nl - s) : len - pos;
        pos += ln + (nl != NULL);
        if (ln > 0 && s[ln - 1] == '\r')
            ln--;
        const char *t = s;
        size_t tl = ln;
        trim(&t, &tl);
        if (tl == 0 || t[0] == '#')
            continue;
        if (memchr(s, '\0', ln) != NULL) {
            /* Binary data (its bytes would be read as an unknown column or
             * a bad number). */
            fail(err, errlen, name, line, "a NUL byte: a step profile is plain CSV text");
            goto done;
        }
        if (nf < 0) {
            header_line = line;
            if ((nf = parse_header(t, tl, map, err, errlen, name, line)) < 0)
                goto done;
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            row *g = realloc(rows, cap * sizeof(row));
            if (g == NULL) {
                fail(err, errlen, name, 0, "out of memory");
                goto done;
            }
            rows = g;
        }
        if (parse_row(t, tl, nf, map, &rows[n], err, errlen, name, line) != 0)
            goto done;
        n++;
    }
    if (nf < 0) {
        fail(err, errlen, name, line > 0 ? line : 1, "empty: no header line");
        goto done;
    }
    if (n == 0) {
        fail(err, errlen, name, header_line,
             "a header and no rows: a profile needs measured steps");
        goto done;
    }
    qsort(rows, n, sizeof(row), cmp_shape);
    for (size_t i = 1; i < n; i++) {
        const row *a = &rows[i - 1], *b = &rows[i];
        if (a->v[COL_PF] == b->v[COL_PF] && a->v[COL_DEC] == b->v[COL_DEC] &&
            a->v[COL_PSEQ] == b->v[COL_PSEQ] && a->v[COL_DCTX] == b->v[COL_DCTX] &&
            a->v[COL_PCTX] == b->v[COL_PCTX]) {
            fail(err, errlen, name, b->line,
                 "the same step shape as line %llu (one row per shape: average repeated "
                 "measurements first)",
                 (unsigned long long)a->line);
            goto done;
        }
    }
    sim_step_profile *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        fail(err, errlen, name, 0, "out of memory");
        goto done;
    }
    if (fit(p, rows, n, map[COL_PCTX] >= 0, err, errlen, name, header_line) != 0 ||
        describe(p, rows, n, map, err, errlen, name) != 0) {
        sim_step_profile_destroy(p);
        goto done;
    }
    *out = p;
    rc = 0;
done:
    free(rows);
    return rc;
}

int sim_step_profile_load(const char *path, sim_step_profile **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return fail(err, errlen, path, 0, "cannot open: %s", strerror(errno));
    char *buf = malloc(PROFILE_MAX_BYTES + 1u);
    if (buf == NULL) {
        fclose(fp);
        return fail(err, errlen, path, 0, "out of memory");
    }
    errno = 0;
    size_t len = fread(buf, 1, PROFILE_MAX_BYTES + 1u, fp);
    int bad = ferror(fp), read_errno = errno; /* EISDIR: a directory opens, then fails to read */
    fclose(fp);
    int rc;
    if (bad)
        rc = fail(err, errlen, path, 0, "cannot read: %s",
                  read_errno ? strerror(read_errno) : "read error");
    else if (len > PROFILE_MAX_BYTES)
        rc = fail(err, errlen, path, 0, "larger than %u MiB: not a step profile",
                  PROFILE_MAX_BYTES >> 20);
    else
        rc = sim_step_profile_parse(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}

void sim_step_profile_destroy(sim_step_profile *p)
{
    if (p == NULL)
        return;
    free(p->kn);
    free(p->kf);
    free(p->ka);
    free(p->kb);
    free(p);
}

const sim_step_profile_info *sim_step_profile_about(const sim_step_profile *p)
{
    return &p->info;
}

double sim_step_profile_s(const sim_step_profile *p, const sim_batch_shape *b, unsigned *outside)
{
    uint64_t n = b->prefill_tokens + b->decode_seqs;
    const uint64_t *kn = p->kn;
    const double *kf = p->kf;
    uint32_t last = p->nk - 1;
    unsigned o = 0;
    double f, a, bq;
    if (n <= kn[0]) {
        f = kf[0], a = p->ka[0], bq = p->kb[0];
        o |= n < kn[0] ? SIM_PROFILE_TOKENS_BELOW : 0u;
    } else if (n >= kn[last]) {
        double slope = (kf[last] - kf[last - 1]) / (double)(kn[last] - kn[last - 1]);
        f = kf[last] + (slope > 0 ? slope : 0) * (double)(n - kn[last]);
        a = p->ka[last], bq = p->kb[last];
        o |= n > kn[last] ? SIM_PROFILE_TOKENS_ABOVE : 0u;
    } else {
        uint32_t lo = 0, hi = last; /* kn[lo] < n < kn[hi] */
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (kn[mid] <= n)
                lo = mid;
            else
                hi = mid;
        }
        double w = (double)(n - kn[lo]) / (double)(kn[hi] - kn[lo]);
        f = kf[lo] + w * (kf[hi] - kf[lo]);
        a = p->ka[lo] + w * (p->ka[hi] - p->ka[lo]);
        bq = p->kb[lo] + w * (p->kb[hi] - p->kb[lo]);
    }
    const sim_step_profile_info *in = &p->info;
    uint64_t d = b->decode_ctx_tokens, q = b->prefill_ctx_tokens;
    if (in->has_prefill_context) {
        if ((b->decode_seqs > 0 && (d < in->context_min || d > in->context_max)) ||
            (b->prefill_tokens > 0 && (q < in->prefill_context_min || q > in->prefill_context_max)))
            o |= SIM_PROFILE_CONTEXT_OUT;
    } else if ((b->decode_seqs > 0 || q > 0) &&
               (d + q < in->context_min || d + q > in->context_max)) {
        o |= SIM_PROFILE_CONTEXT_OUT; /* priced as the decodes' context */
    }
    if (outside != NULL)
        *outside = o;
    uint64_t seqs = (uint64_t)b->prefill_seqs + b->decode_seqs;
    return f + p->s * (double)(seqs > 1 ? seqs - 1 : 0) + a * (double)d + bq * (double)q;
}

void sim_step_profile_count(sim_step_profile_counts *c, unsigned outside)
{
    c->steps++;
    c->outside += outside != 0;
    c->tokens_below += (outside & SIM_PROFILE_TOKENS_BELOW) != 0;
    c->tokens_above += (outside & SIM_PROFILE_TOKENS_ABOVE) != 0;
    c->context_out += (outside & SIM_PROFILE_CONTEXT_OUT) != 0;
}

int sim_step_profile_check(const sim_step_profile *p, uint32_t tp, uint32_t pp, bool offload,
                           char *err, size_t errlen)
{
    const sim_step_profile_info *in = &p->info;
    uint32_t measured = in->tp ? in->tp : 1;
    if (tp < 1)
        tp = 1;
    if (tp != measured)
        return fail(err, errlen, in->path, 0,
                    in->tp ? "measured at tp %u (its tp column), the run has "
                             "--tensor-parallel-size %u: a profile prices only the size it was "
                             "measured at"
                           : "has no tp column, so it is taken as measured on one GPU (tp %u); "
                             "the run has --tensor-parallel-size %u: add a tp column if it was "
                             "measured at that size",
                    measured, tp);
    if (pp > 1)
        return fail(err, errlen, in->path, 0,
                    "--pipeline-parallel-size %u: a measured step does not split into pipeline "
                    "stages; run the profile without pipeline parallelism",
                    pp);
    if (offload)
        return fail(err, errlen, in->path, 0,
                    "--gpu-layers offloads layers to the host: a profile measured on the GPU "
                    "cannot price them");
    return 0;
}
