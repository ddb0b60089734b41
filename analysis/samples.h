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
#include <stdint.h>

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

/*
 * Weighted samples: values with repeat counts, for inter-token latencies,
 * where a step gives one gap to a whole batch. The same numpy definitions
 * apply to the multiset they stand for (value v repeated c times), so
 * percentiles, the median and the maximum are numpy's exactly; the mean
 * and std are sums over the pairs (not numpy's pairwise order over the
 * expanded list: equal to the last bits). Memory: a hash table of
 * 16-byte pairs, at most MAX_PAIRS of them (rounded up to a power of two),
 * at most half of them used: a value seen before costs nothing, and when
 * the distinct values would pass MAX_PAIRS / 2 the set gives up
 * (overflow: its pairs are freed and the caller falls back on a
 * histogram). Nothing is sorted until an_wsamples_sort.
 */
typedef struct an_wpair {
    double v;
    uint64_t c;
} an_wpair;

typedef struct an_wsamples {
    an_wpair *p; /* a hash table of cap slots while values come; sorted pairs after the sort */
    size_t n;    /* distinct values */
    size_t cap, max_pairs;
    uint64_t total; /* sum of the counts */
    size_t last;    /* the slot of the last value added (SIZE_MAX: none) */
    int overflow;   /* more than max_pairs / 2 distinct values: the pairs were dropped */
    int sorted;
    int hashed; /* p is the table (values came since the last sort) */
} an_wsamples;

/* Initialises an empty set that keeps at most MAX_PAIRS pairs. */
void an_wsamples_init(an_wsamples *w, size_t max_pairs);

/* Adds V COUNT times (to its pair when V was seen). Returns 0, or -1 when
 * out of memory; past MAX_PAIRS / 2 distinct values the set overflows
 * (frees its pairs, returns 0). */
int an_wsamples_add(an_wsamples *w, double v, uint64_t count);

/* Sorts by value and merges equal values; later queries need it. */
void an_wsamples_sort(an_wsamples *w);

/* numpy.percentile / numpy.median / max of the multiset (NAN when empty
 * or overflowed); require an_wsamples_sort. */
double an_wsamples_percentile(const an_wsamples *w, double p);
double an_wsamples_median(const an_wsamples *w);
double an_wsamples_max(const an_wsamples *w);

/* Mean and population std of the multiset (NAN when empty or overflowed);
 * require an_wsamples_sort (they sum over the sorted pairs). */
double an_wsamples_mean(const an_wsamples *w);
double an_wsamples_std(const an_wsamples *w);

void an_wsamples_free(an_wsamples *w);

#endif
