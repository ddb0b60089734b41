/*
 * qhist.c: the bounded histogram behind the exact samples; see qhist.h for
 * the layout, the error bound and the memory.
 *
 * A non-negative double's bits are its biased exponent E (11 bits) and its
 * significand's fraction F (52 bits), the value being 2^(E - 1023) (1 +
 * F / 2^52) for E > 0. The bucket of such a value is (binade E - 1023 -
 * EXP_MIN, sub-bucket F >> (52 - SUB_BITS)): in a binade the sub-buckets
 * have equal widths, 2^(e - SUB_BITS), and their order is the values'
 * order, so ranks read off the counts in index order.
 */
#include "analysis/qhist.h"

#include <assert.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/samples.h"

#define SUBS (1u << AN_QHIST_SUB_BITS)

void an_qhist_init(an_qhist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = INFINITY;
    h->max = -INFINITY;
    h->low_max = -INFINITY;
}

/* Neumaier's compensated sum: *S + *C is the running total, X added. */
static void neumaier(double *s, double *c, double x)
{
    double t = *s + x;
    if (fabs(*s) >= fabs(x))
        *c += (*s - t) + x;
    else
        *c += (x - t) + *s;
    *s = t;
}

/* The binade of V (-1: below the range, AN_QHIST_BINADES: above it) and,
 * inside it, the sub-bucket. */
static int locate(double v, uint32_t *sub)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    if (u >> 63) /* negative (or -0): below everything */
        return -1;
    int e = (int)(u >> 52) - 1023; /* subnormals and zero: -1023, below */
    *sub = (uint32_t)((u >> (52 - AN_QHIST_SUB_BITS)) & (SUBS - 1));
    int b = e - AN_QHIST_EXP_MIN;
    if (b < 0)
        return -1;
    return b < AN_QHIST_BINADES ? b : AN_QHIST_BINADES;
}

/* Counts V COUNT times in its bin (or the low or high tail); -1, nothing
 * counted, where its binade's bins cannot be had. */
static inline int place(an_qhist *h, double v, uint64_t count)
{
    uint32_t sub = 0;
    int b = locate(v, &sub);
    if (b >= 0 && b < AN_QHIST_BINADES) {
        if (h->bins[b] == NULL) {
            h->bins[b] = calloc(SUBS, sizeof(uint64_t));
            if (h->bins[b] == NULL)
                return -1;
        }
        h->bins[b][sub] += count;
        h->binade_n[b] += count;
    } else if (b < 0) {
        h->low_n += count;
        if (v > h->low_max)
            h->low_max = v;
    } else {
        h->high_n += count;
    }
    return 0;
}

int an_qhist_add_n(an_qhist *h, double v, uint64_t count)
{
    if (count == 0)
        return 0;
    if (place(h, v, count) != 0)
        return -1;
    if (h->n == 0)
        h->shift = v;
    h->n += count;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    double c = (double)count, d = v - h->shift;
    neumaier(&h->sum, &h->sum_c, v * c);
    neumaier(&h->dev, &h->dev_c, d * c);
    neumaier(&h->sq, &h->sq_c, d * d * c);
    return 0;
}

/* an_qhist_add_pairs, and with SORTED an_qhist_add_pairs_sorted: the
 * minimum and maximum from the ends of P. */
static inline int add_pairs(an_qhist *h, const an_qhist_pair *p, size_t n, bool sorted)
{
    /* an_qhist_add_n's statements, pair by pair, on local copies of the
     * fields the tables' stores could otherwise alias. */
    double sum = h->sum, sum_c = h->sum_c, dev = h->dev, dev_c = h->dev_c, sq = h->sq,
           sq_c = h->sq_c, lo = h->min, hi = h->max, shift = h->shift;
    uint64_t total = h->n;
    int rc = 0;
    /* The shift is the first value counted into an empty histogram: found
     * before the loop rather than tested for at each pair. */
    const bool fresh = total == 0;
    size_t first = 0;
    if (fresh) {
        while (first < n && p[first].c == 0)
            first++;
        if (first < n)
            shift = p[first].v;
    }
    /* With SORTED, the binade of the last value placed (its sign and
     * exponent bits TOP, UINT64_MAX: none in range), its bins, and the
     * counts placed in it since (binade_n's, added when it changes):
     * ascending values stay in a binade for many pairs. */
    uint64_t cur_top = UINT64_MAX, cur_n = 0;
    uint64_t *cur_bins = NULL;
    int cur_b = 0;
    size_t i = 0;
    for (; i < n; i++) {
        double v = p[i].v;
        uint64_t count = p[i].c;
        if (count == 0)
            continue;
        uint64_t u;
        memcpy(&u, &v, sizeof(u));
        if (sorted && u >> 52 == cur_top) { /* place's bin, in the binade before */
            cur_bins[(u >> (52 - AN_QHIST_SUB_BITS)) & (SUBS - 1)] += count;
            cur_n += count;
        } else {
            if (sorted && cur_top != UINT64_MAX) {
                h->binade_n[cur_b] += cur_n;
                cur_n = 0;
                cur_top = UINT64_MAX;
            }
            if (place(h, v, count) != 0) {
                rc = -1;
                break;
            }
            uint32_t sub;
            int b = locate(v, &sub);
            if (sorted && b >= 0 && b < AN_QHIST_BINADES) {
                cur_top = u >> 52;
                cur_bins = h->bins[b];
                cur_b = b;
            }
        }
        total += count;
        if (!sorted) {
            if (v < lo)
                lo = v;
            if (v > hi)
                hi = v;
        }
        double c = (double)count, d = v - shift;
        neumaier(&sum, &sum_c, v * c);
        neumaier(&dev, &dev_c, d * c);
        neumaier(&sq, &sq_c, d * d * c);
    }
    if (cur_top != UINT64_MAX)
        h->binade_n[cur_b] += cur_n;
    if (rc != 0 && fresh && i <= first)
        shift = h->shift;    /* refused before the first value */
    if (sorted && rc != 0) { /* the pairs added, compared one by one */
        for (size_t j = 0; j < i; j++) {
            if (p[j].c == 0)
                continue;
            if (p[j].v < lo)
                lo = p[j].v;
            if (p[j].v > hi)
                hi = p[j].v;
        }
    } else if (sorted) {
        /* The comparisons above over the pairs in ascending order: of the
         * counted values that are not NaN (NaNs compare false, and sort
         * to the ends), the first may lower the minimum, and the first of
         * the largest ones (-0 before +0) raise the maximum. */
        size_t f = 0;
        while (f < n && (p[f].c == 0 || isnan(p[f].v)))
            f++;
        if (f < n && p[f].v < lo)
            lo = p[f].v;
        size_t l = n;
        while (l > 0 && (p[l - 1].c == 0 || isnan(p[l - 1].v)))
            l--;
        if (l > 0) {
            size_t top = l - 1;
            for (size_t k = top; k-- > 0;) {
                if (p[k].c == 0)
                    continue;
                if (!(p[k].v == p[top].v))
                    break;
                top = k;
            }
            if (p[top].v > hi)
                hi = p[top].v;
        }
    }
    h->sum = sum;
    h->sum_c = sum_c;
    h->dev = dev;
    h->dev_c = dev_c;
    h->sq = sq;
    h->sq_c = sq_c;
    h->min = lo;
    h->max = hi;
    h->shift = shift;
    h->n = total;
    return rc;
}

int an_qhist_add_pairs(an_qhist *h, const an_qhist_pair *p, size_t n)
{
    return add_pairs(h, p, n, false);
}

int an_qhist_add_pairs_sorted(an_qhist *h, const an_qhist_pair *p, size_t n)
{
    return add_pairs(h, p, n, true);
}

/* The value that stands for bucket SUB of binade B: 2 lo hi / (lo + hi),
 * the point of [lo, hi] whose largest relative distance to the others is
 * least ((hi - lo) / (hi + lo) to both ends). */
static double bucket_value(int b, uint32_t sub)
{
    int e = b + AN_QHIST_EXP_MIN;
    double lo = ldexp(1.0 + (double)sub / SUBS, e);
    double hi = ldexp(1.0 + (double)(sub + 1) / SUBS, e);
    return 2.0 * lo * hi / (lo + hi);
}

double an_qhist_rank(const an_qhist *h, uint64_t r)
{
    assert(r < h->n);
    if (r == 0)
        return h->min;
    if (r == h->n - 1)
        return h->max;
    if (r < h->low_n)
        return h->low_max;
    uint64_t seen = h->low_n;
    for (int b = 0; b < AN_QHIST_BINADES; b++) {
        if (r >= seen + h->binade_n[b]) {
            seen += h->binade_n[b];
            continue;
        }
        for (uint32_t s = 0; s < SUBS; s++) {
            seen += h->bins[b][s];
            if (r < seen) {
                double v = bucket_value(b, s);
                return v < h->min ? h->min : v > h->max ? h->max : v;
            }
        }
    }
    return h->max; /* in the values above the range */
}

double an_qhist_percentile(const an_qhist *h, double p)
{
    if (h->n == 0)
        return NAN;
    uint64_t i, j;
    double t;
    an_np_ranks(h->n, p, &i, &j, &t);
    double a = an_qhist_rank(h, i);
    return an_np_lerp(a, j == i ? a : an_qhist_rank(h, j), t);
}

double an_qhist_median(const an_qhist *h)
{
    if (h->n == 0)
        return NAN;
    uint64_t m = h->n / 2;
    if (h->n % 2)
        return an_qhist_rank(h, m);
    return (an_qhist_rank(h, m - 1) + an_qhist_rank(h, m)) / 2.0;
}

double an_qhist_max(const an_qhist *h)
{
    return h->n ? h->max : NAN;
}

double an_qhist_mean(const an_qhist *h)
{
    return h->n ? (h->sum + h->sum_c) / (double)h->n : NAN;
}

/* Variance as E[d^2] - E[d]^2 with d the deviation from the first value:
 * with the origin inside the values' spread, the two terms are of the
 * variance's order and the subtraction loses little. */
double an_qhist_std(const an_qhist *h)
{
    if (h->n == 0)
        return NAN;
    double n = (double)h->n;
    double md = (h->dev + h->dev_c) / n;
    double var = (h->sq + h->sq_c) / n - md * md;
    return var > 0 ? sqrt(var) : 0;
}

uint64_t an_qhist_bytes(const an_qhist *h)
{
    uint64_t bytes = 0;
    for (int b = 0; b < AN_QHIST_BINADES; b++)
        if (h->bins[b] != NULL)
            bytes += SUBS * sizeof(uint64_t);
    return bytes;
}

void an_qhist_free(an_qhist *h)
{
    for (int b = 0; b < AN_QHIST_BINADES; b++)
        free(h->bins[b]);
    an_qhist_init(h);
}
