/*
 * dist.c: length distributions of workload specs and Gamma variates.
 *
 * Every distribution yields integers clamped to [min, max].
 *  - fixed, uniform (inclusive, from 53 random bits: bias below 2^-20 for
 *    any range a uint32 holds);
 *  - normal and lognormal: the user gives the mean of the lengths as
 *    generated, after clamping. The location (mu) is solved by bisection
 *    on the closed-form mean of the clamped variable: for X = clamp(Y, a,
 *    b), E[X] = a P(Y < a) + b P(Y > b) + E[Y; a <= Y <= b], where for a
 *    normal Y, E[Y; a..b] = mu (Phi(beta) - Phi(alpha)) + sd (phi(alpha) -
 *    phi(beta)), and for a lognormal Y = exp(N(mu, s^2)), E[Y; a..b] =
 *    exp(mu + s^2/2) (Phi((ln b - mu - s^2)/s) - Phi((ln a - mu - s^2)/s)).
 *    Rounding to the nearest integer then moves the mean by much less than
 *    a token for smooth densities;
 *  - zipf: P(k) proportional to k^-s on k = 1..N, shifted to start at min
 *    (N = max - min + 1), drawn in O(1) expected time by rejection-
 *    inversion (W. Hormann and G. Derflinger, "Rejection-inversion to
 *    generate variates from monotone discrete distributions", ACM TOMACS
 *    6(3), 1996), as Apache Commons RNG's RejectionInversionZipfSampler;
 *  - empirical: the lengths of a uniformly drawn row of a loaded trace or
 *    length table. A file longer than WL_TABLE_MAX_ROWS rows is reservoir-
 *    sampled (Vitter's algorithm R) so memory stays bounded (8 MiB).
 * Gamma variates: Marsaglia and Tsang, "A simple method for generating
 * gamma variables", ACM TOMS 26(3), 2000; for shape < 1, G(shape + 1) *
 * U^(1/shape).
 */
#define _POSIX_C_SOURCE 200809L

#include "workloads/wl_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

/* Standard normal CDF. */
static double wl__phi_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

/* Standard normal density. */
static double wl__phi_pdf(double x)
{
    return exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
}

/* Mean of clamp(N(mu, sd^2), a, b). */
static double wl__normal_clamped_mean(double mu, double sd, double a, double b)
{
    double al = (a - mu) / sd, be = (b - mu) / sd;
    double pa = wl__phi_cdf(al), pb = wl__phi_cdf(be);
    return a * pa + b * (1.0 - pb) + mu * (pb - pa) + sd * (wl__phi_pdf(al) - wl__phi_pdf(be));
}

/* Mean of clamp(exp(N(mu, s^2)), a, b), 0 < a < b. */
static double wl__lognormal_clamped_mean(double mu, double s, double a, double b)
{
    double la = log(a), lb = log(b);
    double pa = wl__phi_cdf((la - mu) / s), pb = wl__phi_cdf((lb - mu) / s);
    double mid = exp(mu + s * s / 2.0) *
                 (wl__phi_cdf((lb - mu - s * s) / s) - wl__phi_cdf((la - mu - s * s) / s));
    return a * pa + b * (1.0 - pb) + mid;
}

/*
 * Solves F(mu) = TARGET for an increasing F by bisection on [LO, HI].
 * Returns mu.
 */
static double wl__bisect(double (*f)(double, double, double, double), double p, double a, double b,
                         double target, double lo, double hi)
{
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (f(mid, p, a, b) < target)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Zipf helpers (Apache Commons RNG, RejectionInversionZipfSampler). */
static double wl__zipf_helper1(double x)
{
    return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

static double wl__zipf_helper2(double x)
{
    return fabs(x) > 1e-8 ? expm1(x) / x
                          : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

/* H(x) = integral of h(t) = t^-s, up to a constant. */
static double wl__zipf_H(double x, double s)
{
    double lx = log(x);
    return wl__zipf_helper2((1.0 - s) * lx) * lx;
}

static double wl__zipf_h(double x, double s)
{
    return exp(-s * log(x));
}

static double wl__zipf_Hinv(double x, double s)
{
    double t = x * (1.0 - s);
    if (t < -1.0)
        t = -1.0; /* limits rounding errors */
    return exp(wl__zipf_helper1(t) * x);
}

/* ------------------------------------------------------- distributions */

int wl_dist_prepare(wl_dist *d, char *err, size_t errlen)
{
    if (d->min < 1 || d->min > d->max) {
        snprintf(err, errlen, "min (%u) must be >= 1 and <= max (%u)", d->min, d->max);
        return -1;
    }
    double a = d->min, b = d->max;
    switch (d->kind) {
    case WL_DIST_FIXED:
    case WL_DIST_UNIFORM:
        return 0;
    case WL_DIST_NORMAL:
        if (!(d->sd > 0) || !isfinite(d->sd)) {
            snprintf(err, errlen, "sd must be > 0");
            return -1;
        }
        if (!(d->mean > a && d->mean < b)) {
            snprintf(err, errlen, "mean %g must lie strictly between min %u and max %u", d->mean,
                     d->min, d->max);
            return -1;
        }
        d->mu = wl__bisect(wl__normal_clamped_mean, d->sd, a, b, d->mean, a - 50.0 * d->sd - b,
                           b + 50.0 * d->sd + b);
        return 0;
    case WL_DIST_LOGNORMAL:
        if (!(d->sigma > 0) || !(d->sigma <= 10)) {
            snprintf(err, errlen, "sigma must be in (0, 10]");
            return -1;
        }
        if (!(d->mean > a && d->mean < b)) {
            snprintf(err, errlen, "mean %g must lie strictly between min %u and max %u", d->mean,
                     d->min, d->max);
            return -1;
        }
        d->mu = wl__bisect(wl__lognormal_clamped_mean, d->sigma, a, b, d->mean,
                           log(a) - 12.0 * d->sigma - 1.0, log(b) + 12.0 * d->sigma + 1.0);
        return 0;
    case WL_DIST_ZIPF: {
        if (!(d->s > 0) || !(d->s <= 100)) {
            snprintf(err, errlen, "s must be in (0, 100]");
            return -1;
        }
        double n = (double)(d->max - d->min) + 1.0;
        d->z_hx1 = wl__zipf_H(1.5, d->s) - 1.0;
        d->z_hn = wl__zipf_H(n + 0.5, d->s);
        d->z_s = 2.0 - wl__zipf_Hinv(wl__zipf_H(2.5, d->s) - wl__zipf_h(2.0, d->s), d->s);
        return 0;
    }
    case WL_DIST_EMPIRICAL:
        if (d->table == NULL || d->table->n == 0) {
            snprintf(err, errlen, "empirical: no rows loaded");
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "unknown distribution");
    return -1;
}

/* Clamps X to D's [min, max] and rounds it to the nearest integer. */
static uint32_t wl__clamp(const wl_dist *d, double x)
{
    if (!(x >= (double)d->min))
        return d->min;
    if (x >= (double)d->max)
        return d->max;
    return (uint32_t)llround(x);
}

size_t wl_table_pick(const wl_table *t, wl_rng *r)
{
    size_t i = (size_t)(wl_rng_uniform(r) * (double)t->n);
    return i < t->n ? i : t->n - 1;
}

uint32_t wl_dist_draw(const wl_dist *d, wl_rng *r)
{
    switch (d->kind) {
    case WL_DIST_FIXED:
        return d->min;
    case WL_DIST_UNIFORM: {
        double span = (double)(d->max - d->min) + 1.0;
        uint64_t k = (uint64_t)(wl_rng_uniform(r) * span);
        return d->min + (uint32_t)(k < (uint64_t)span ? k : (uint64_t)span - 1);
    }
    case WL_DIST_NORMAL:
        return wl__clamp(d, d->mu + d->sd * wl_rng_normal(r));
    case WL_DIST_LOGNORMAL:
        return wl__clamp(d, exp(d->mu + d->sigma * wl_rng_normal(r)));
    case WL_DIST_ZIPF: {
        double n = (double)(d->max - d->min) + 1.0;
        for (;;) {
            double u = d->z_hn + wl_rng_uniform(r) * (d->z_hx1 - d->z_hn);
            double x = wl__zipf_Hinv(u, d->s);
            double k = floor(x + 0.5);
            if (k < 1.0)
                k = 1.0;
            else if (k > n)
                k = n;
            if (k - x <= d->z_s || u >= wl__zipf_H(k + 0.5, d->s) - wl__zipf_h(k, d->s))
                return d->min + (uint32_t)(k - 1.0);
        }
    }
    case WL_DIST_EMPIRICAL: {
        size_t i = wl_table_pick(d->table, r);
        uint32_t v = d->column == 0 ? d->table->in[i] : d->table->out[i];
        return v < d->min ? d->min : v > d->max ? d->max : v;
    }
    }
    return d->min;
}

double wl_dist_mean(const wl_dist *d)
{
    switch (d->kind) {
    case WL_DIST_FIXED:
        return d->min;
    case WL_DIST_UNIFORM:
        return ((double)d->min + (double)d->max) / 2.0;
    case WL_DIST_NORMAL:
    case WL_DIST_LOGNORMAL:
        return d->mean;
    case WL_DIST_ZIPF: {
        double num = 0, den = 0;
        uint32_t n = d->max - d->min + 1;
        uint32_t lim = n < 1000000u ? n : 1000000u; /* tail beyond is negligible for s > 1 */
        for (uint32_t k = 1; k <= lim; k++) {
            double w = pow((double)k, -d->s);
            num += w * ((double)d->min + (double)k - 1.0);
            den += w;
        }
        return num / den;
    }
    case WL_DIST_EMPIRICAL: {
        double sum = 0;
        for (size_t i = 0; i < d->table->n; i++)
            sum += d->column == 0 ? d->table->in[i] : d->table->out[i];
        return sum / (double)d->table->n;
    }
    }
    return 0;
}

void wl_dist_describe(const wl_dist *d, char *buf, size_t len)
{
    char range[64] = "";
    if (d->min != 1)
        snprintf(range, sizeof range, ",min=%u", d->min);
    size_t k = strlen(range);
    switch (d->kind) {
    case WL_DIST_FIXED:
        snprintf(buf, len, "fixed:%u", d->min);
        return;
    case WL_DIST_UNIFORM:
        snprintf(buf, len, "uniform:min=%u,max=%u", d->min, d->max);
        return;
    case WL_DIST_NORMAL:
        snprintf(range + k, sizeof range - k, ",max=%u", d->max);
        snprintf(buf, len, "normal:mean=%.10g,sd=%.10g%s", d->mean, d->sd, range);
        return;
    case WL_DIST_LOGNORMAL:
        snprintf(range + k, sizeof range - k, ",max=%u", d->max);
        snprintf(buf, len, "lognormal:mean=%.10g,sigma=%.10g%s", d->mean, d->sigma, range);
        return;
    case WL_DIST_ZIPF:
        snprintf(buf, len, "zipf:s=%.10g,max=%u%s", d->s, d->max, range);
        return;
    case WL_DIST_EMPIRICAL:
        snprintf(buf, len, "empirical:file=%s", d->table != NULL ? d->table->path : "?");
        return;
    }
    snprintf(buf, len, "?");
}

/* ------------------------------------------------------------ gamma */

double wl_gamma(wl_rng *r, double shape)
{
    if (shape < 1.0) {
        double u = wl_rng_uniform(r);
        return wl_gamma(r, shape + 1.0) * pow(1.0 - u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = wl_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = 1.0 - wl_rng_uniform(r); /* (0, 1] */
        if (u < 1.0 - 0.0331 * x * x * x * x)
            return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
}

/* ------------------------------------------------------------ tables */

wl_table *wl_table_load(const char *path, trace_format format, uint64_t seed, char *err,
                        size_t errlen)
{
    wl_table *t = calloc(1, sizeof *t);
    if (t != NULL)
        t->path = strdup(path);
    if (t == NULL || t->path == NULL) {
        free(t);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    t->refs = 1;
    trace_reader *r;
    int rc = trace_open(&r, path, format, err, errlen);
    if (rc < 0) {
        wl_table_release(t);
        return NULL;
    }
    wl_rng rng;
    wl_rng_seed(&rng, seed, WL_STREAM_RESERVOIR);
    size_t cap = 0;
    uint64_t seen = 0;
    trace_request q;
    while ((rc = trace_next(r, &q)) == 1) {
        size_t slot;
        if (t->n < WL_TABLE_MAX_ROWS) {
            if (t->n == cap) {
                size_t ncap = cap == 0 ? 4096 : cap * 2;
                if (ncap > WL_TABLE_MAX_ROWS)
                    ncap = WL_TABLE_MAX_ROWS;
                uint32_t *in = realloc(t->in, ncap * sizeof *in);
                if (in != NULL)
                    t->in = in;
                uint32_t *out = in != NULL ? realloc(t->out, ncap * sizeof *out) : NULL;
                if (out == NULL) {
                    snprintf(err, errlen, "%s: out of memory for %zu rows", path, ncap);
                    trace_close(r);
                    wl_table_release(t);
                    return NULL;
                }
                t->out = out;
                cap = ncap;
            }
            slot = t->n++;
        } else {
            /* Algorithm R: row number seen (0-based) replaces a random slot with
             * probability WL_TABLE_MAX_ROWS / (seen + 1). */
            uint64_t j = (uint64_t)(wl_rng_uniform(&rng) * (double)(seen + 1));
            if (j >= WL_TABLE_MAX_ROWS) {
                seen++;
                continue;
            }
            slot = (size_t)j;
        }
        t->in[slot] = q.input_tokens;
        t->out[slot] = q.output_tokens;
        seen++;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s", trace_errmsg(r));
        trace_close(r);
        wl_table_release(t);
        return NULL;
    }
    trace_close(r);
    return t;
}

void wl_table_release(wl_table *t)
{
    if (t == NULL || --t->refs > 0)
        return;
    free(t->in);
    free(t->out);
    free(t->path);
    free(t);
}
