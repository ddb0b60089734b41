/*
 * samples.h: exact latency samples and the statistics `vllm bench serve`
 * computes from them with numpy (vllm/benchmarks/serve.py,
 * calculate_metrics, vLLM v0.11): mean, median, population standard
 * deviation and percentiles with numpy's default method ("linear",
 * Hyndman and Fan's type 7, numpy 1.22 and later).
 *
 * Percentiles, the median and the maximum depend only on the set of
 * values, so they equal numpy's bit for bit. The mean and the standard
 * deviation are summed pairwise as numpy's add.reduce does, over the
 * values in the order they were added (requests in completion order;
 * vLLM's list is in send order), so they agree with numpy to the last
 * bit or two, not always exactly.
 *
 * Memory: 8 bytes per value, in an array that doubles as it grows (a run
 * of a million completed requests keeps three such arrays: 24 MB, at
 * most 48 MB with the growth slack).
 */
#ifndef KVSIM_ANALYSIS_SAMPLES_H
#define KVSIM_ANALYSIS_SAMPLES_H

#include <stddef.h>

typedef struct an_samples {
    double *v;
    size_t n;
    size_t cap;
    int sorted; /* v is in ascending order (an_samples_sort was called since the last add) */
} an_samples;

/* Initialises an empty set (no memory held). */
void an_samples_init(an_samples *s);

/* Appends V. Returns 0, or -1 when out of memory (nothing changed). */
int an_samples_add(an_samples *s, double v);

/* Sorts the values in place (ascending); later queries need it. */
void an_samples_sort(an_samples *s);

/* numpy.sum of V[0..N) as numpy sums a contiguous float64 array: pairwise,
 * with eight accumulators below 128 values. 0 when N is 0. */
double an_np_sum(const double *v, size_t n);

/* numpy.mean and numpy.std (ddof 0) of the values, in the order added. NAN
 * when empty. */
double an_samples_mean(const an_samples *s);
double an_samples_std(const an_samples *s);

/* numpy.percentile(values, P) with the default linear method: the virtual
 * index (n - 1) x P / 100 between the two nearest order statistics, and
 * numpy's two-sided interpolation (from the upper one when the fraction
 * is at least 1/2). P in [0, 100]. Requires an_samples_sort; NAN when
 * empty. */
double an_samples_percentile(const an_samples *s, double p);

/* numpy.median: the middle value, or the mean of the two middle ones.
 * Requires an_samples_sort; NAN when empty. */
double an_samples_median(const an_samples *s);

/* The largest value; NAN when empty. Requires an_samples_sort. */
double an_samples_max(const an_samples *s);

void an_samples_free(an_samples *s);

#endif
