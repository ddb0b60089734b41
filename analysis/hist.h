/*
 * hist.h: a log-bucketed histogram for latency percentiles in bounded
 * memory. Buckets grow by a factor of 1 + 1/1024 from 1 ns to 10^7 s, so a
 * percentile is within 0.05 % of the exact nearest-rank value (it reports
 * the bucket's geometric midpoint, clamped to the exact min and max). The
 * mean, min and max are exact.
 */
#ifndef KVSIM_ANALYSIS_HIST_H
#define KVSIM_ANALYSIS_HIST_H

#include <stdint.h>

typedef struct an_hist {
    uint64_t *counts; /* NULL until the first value */
    uint64_t n;
    double sum;
    double sumsq; /* sum of squares, for the standard deviation */
    double min;
    double max;
    uint64_t zeros; /* values <= 1 ns */
} an_hist;

/* Initialises an empty histogram (no memory held until the first add). */
void an_hist_init(an_hist *h);

/* Adds V (seconds, >= 0). Returns 0, or -1 when out of memory. */
int an_hist_add(an_hist *h, double v);

/* Adds V COUNT times (COUNT >= 1). Returns 0, or -1 when out of memory. */
int an_hist_add_n(an_hist *h, double v, uint64_t count);

/* Population standard deviation (numpy.std's default, ddof 0) from the
 * sums; 0 when empty. */
double an_hist_std(const an_hist *h);

/* Nearest-rank percentile P in [0, 100]; 0 when empty. */
double an_hist_percentile(const an_hist *h, double p);

/* Mean; 0 when empty. */
double an_hist_mean(const an_hist *h);

void an_hist_free(an_hist *h);

#endif
