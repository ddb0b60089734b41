/*
 * qhist.h: a histogram with bounded memory and a stated error, the
 * fallback of the exact latency samples (samples.h) once a run has more
 * values than they keep.
 *
 * Buckets: each binade [2^e, 2^(e+1)) of the values from 2^-40 s to
 * 2^40 s is cut into 2^14 buckets of equal width, found from the bits of
 * the double (its exponent and the top 14 bits of its significand), so a
 * bucket [lo, hi) has hi / lo <= 1 + 2^-14. This is the layout of
 * HdrHistogram (G. Tene: a fixed number of sub-buckets in each power of
 * two, hence a bounded relative error whatever the magnitude), with the
 * double's own fields as the indices. A bucket is reported as the value
 * v = 2 lo hi / (lo + hi), whose largest relative error over [lo, hi] is
 * (hi - lo) / (hi + lo) < 2^-15.
 *
 * Error bound (AN_QHIST_REL_ERR = 2^-15, about 3.05e-5): ranks are exact
 * (every value is counted), so a percentile by numpy's linear method
 * (samples.h) interpolates between the right two order statistics, each
 * replaced by its bucket's value; since both values are within 2^-15 of
 * theirs, relatively, so is the interpolation (a convex combination of
 * non-negative values), up to the rounding of the interpolation itself
 * (a few units in the last place). Rank 0 and rank n - 1 are the exact
 * minimum and maximum, and every reported value is clamped to them.
 * Values below 2^-40 s (zero included) are counted apart and reported as
 * the largest of them (an absolute error under 2^-40 s); values from
 * 2^40 s (35,000 years) as the maximum.
 *
 * Mean and standard deviation: compensated (Neumaier) running sums of the
 * values, and of their deviations from the first value and the squares
 * of those, so they do not depend on the buckets; they agree with numpy's
 * pairwise sums to about 1e-12 relative (not bit for bit).
 *
 * Memory: a binade's 2^14 counters (128 KiB) are allocated when a value
 * first falls in it; at most 80 binades, 10 MiB, whatever the count
 * (latencies from 1 ms to 1,000 s touch 20 binades: 2.5 MiB).
 */
#ifndef KVSIM_ANALYSIS_QHIST_H
#define KVSIM_ANALYSIS_QHIST_H

#include <stddef.h>
#include <stdint.h>

#define AN_QHIST_SUB_BITS 14
#define AN_QHIST_EXP_MIN (-40)
#define AN_QHIST_BINADES 80 /* exponents -40 .. 39 */
/* The largest relative error of a reported percentile: 2^-(SUB_BITS + 1). */
#define AN_QHIST_REL_ERR (1.0 / 32768.0)

typedef struct an_qhist {
    uint64_t *bins[AN_QHIST_BINADES]; /* 2^SUB_BITS counts each; NULL until used */
    uint64_t binade_n[AN_QHIST_BINADES];
    uint64_t low_n;  /* values below 2^EXP_MIN */
    double low_max;  /* the largest of them */
    uint64_t high_n; /* values from 2^(EXP_MIN + BINADES) */
    uint64_t n;
    double min, max;
    double shift;                            /* the first value: the deviations' origin */
    double sum, sum_c, dev, dev_c, sq, sq_c; /* Neumaier sums and their compensations */
} an_qhist;

/* A value and its count (samples.h's weighted pairs). */
typedef struct an_qhist_pair {
    double v;
    uint64_t c;
} an_qhist_pair;

/* Initialises an empty histogram (no memory held until a value comes). */
void an_qhist_init(an_qhist *h);

/* Adds V (>= 0) COUNT times. Returns 0, or -1 when out of memory (nothing
 * changed). */
int an_qhist_add_n(an_qhist *h, double v, uint64_t count);

/* an_qhist_add_n of each of the N pairs at P, in order (the same sums to
 * the bit), the running sums held in registers between them. Returns 0,
 * or -1 when out of memory (the pairs before the one refused added). */
int an_qhist_add_pairs(an_qhist *h, const an_qhist_pair *p, size_t n);

/* an_qhist_add_pairs where P's values are in ascending order (NaNs, if
 * any, at the ends): the same histogram, the minimum and maximum taken
 * from the ends rather than compared pair by pair. */
int an_qhist_add_pairs_sorted(an_qhist *h, const an_qhist_pair *p, size_t n);

/* The value of 0-based rank R (< n) in the sorted multiset, within
 * AN_QHIST_REL_ERR; the exact minimum and maximum at ranks 0 and n - 1. */
double an_qhist_rank(const an_qhist *h, uint64_t r);

/* numpy.percentile's linear method (samples.h) on the ranks, P in
 * [0, 100]; numpy.median; the exact maximum. NAN when empty. */
double an_qhist_percentile(const an_qhist *h, double p);
double an_qhist_median(const an_qhist *h);
double an_qhist_max(const an_qhist *h);

/* Mean and population standard deviation from the running sums; NAN when
 * empty. */
double an_qhist_mean(const an_qhist *h);
double an_qhist_std(const an_qhist *h);

/* Bytes of counters held (for the memory figures and tests). */
uint64_t an_qhist_bytes(const an_qhist *h);

void an_qhist_free(an_qhist *h);

#endif
