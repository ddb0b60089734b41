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
 * Memory: 8 bytes per value, in an array that doubles as it grows, up to
 * a limit (max_exact values; none unless set). Past it the set falls back
 * on a bounded histogram (qhist.h): the values kept so far are poured
 * into it in the order they came, the array is freed, and from then on
 * percentiles, the median and the maximum are numpy's linear method on
 * exact ranks with each value within AN_QHIST_REL_ERR (2^-15), the max
 * exact, and the mean and std compensated running sums (about 1e-12
 * relative from numpy's). an_samples_exact says which.
 */
#ifndef KVSIM_ANALYSIS_SAMPLES_H
#define KVSIM_ANALYSIS_SAMPLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "analysis/qhist.h"

typedef struct an_samples {
    double *v;        /* the values while exact; NULL once in the histogram */
    size_t n;         /* values added (exact or not) */
    size_t cap;       /* room in v */
    size_t max_exact; /* most values kept one by one (SIZE_MAX: no limit) */
    an_qhist *hist;   /* every value once n passed max_exact; NULL before */
    int sorted;       /* v is in ascending order (an_samples_sort was called since the last add) */
} an_samples;

/* Initialises an empty set with no limit (no memory held). */
void an_samples_init(an_samples *s);

/* Initialises an empty set that keeps at most MAX_EXACT values one by one
 * (at least 1), then falls back on a histogram. */
void an_samples_init_capped(an_samples *s, size_t max_exact);

/* Appends V (>= 0 once past the limit: latencies). Returns 0, or -1 when
 * out of memory (nothing changed). */
int an_samples_add(an_samples *s, double v);

/* Whether the statistics are numpy's on the exact values (the limit was
 * not passed), or the histogram's. */
bool an_samples_exact(const an_samples *s);

/* numpy's linear method over N sorted values: the P-th percentile lies
 * between 0-based ranks *I and *J (equal at the ends) at fraction *T; and
 * numpy's _lerp of A and B at T (from the nearer end, bit for bit). */
void an_np_ranks(uint64_t n, double p, uint64_t *i, uint64_t *j, double *t);
double an_np_lerp(double a, double b, double t);

/* Sorts the values in place (ascending), through a temporary of 8 bytes a
 * value; later queries need it (a no-op once in the histogram). */
void an_samples_sort(an_samples *s);

/* numpy.sum of V[0..N) as numpy sums a contiguous float64 array: pairwise,
 * with eight accumulators below 128 values. 0 when N is 0. */
double an_np_sum(const double *v, size_t n);

/* numpy.mean and numpy.std (ddof 0) of the values, in the order added
 * (exact), or the histogram's running sums. NAN when empty. */
double an_samples_mean(const an_samples *s);
double an_samples_std(const an_samples *s);

/* numpy.percentile(values, P) with the default linear method: the virtual
 * index (n - 1) x P / 100 between the two nearest order statistics, and
 * numpy's two-sided interpolation (from the upper one when the fraction
 * is at least 1/2). P in [0, 100]. Requires an_samples_sort; NAN when
 * empty. Past the limit, the same on the histogram's ranks. */
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
 * expanded list: equal to the last bits). Memory: a cache of AN_WCACHE
 * pairs (direct-mapped by the value's bits: a value seen again while it
 * holds its slot costs nothing; where values seldom repeat, as on busy
 * runs whose every step lasts its own time, adds skip it for a while, a
 * lookup in it being a cache miss of the machine's) in front of an array
 * of 16-byte pairs, at
 * most MAX_PAIRS of them, which takes a pair when the cache gives one up:
 * when full, its pairs are sorted and merged in place, and when distinct
 * values fill half of it the set overflows: its pairs (and the cache's)
 * are poured into a histogram (qhist.h) and freed, and the statistics
 * come from the histogram from then on, as an_samples' do past their
 * limit.
 */
#define AN_WCACHE 16384 /* pairs in the cache (256 KiB), a power of two */

typedef an_qhist_pair an_wpair; /* a value and its count (qhist.h) */

typedef struct an_wsamples {
    an_wpair *p;
    size_t n, cap, max_pairs;
    uint64_t total;  /* sum of the counts */
    int overflow;    /* more than max_pairs pairs were needed: the pairs are in hist */
    an_qhist *hist;  /* every value once overflowed; NULL before */
    an_wpair *cache; /* AN_WCACHE slots (count 0: empty), allocated at the first add */
    /* The sort's scratch, TMP_CAP pairs, kept from one sort to the next:
     * a full array's is 8 MiB, which jemalloc returns to the system at
     * each free (its oversize threshold), so a new one per sort faulted
     * its pages in again every time. */
    an_wpair *tmp;
    size_t tmp_cap;
    int sorted; /* ready for the queries: an_wsamples_sort since the last add */
    /* The cache's use: lookups and hits in the current window, and adds
     * left that go straight to the array (see an_wsamples_add). */
    uint32_t probes, hits, bypass;
    /* Set once a value added is not a whole number of nanoseconds as the
     * simulator writes its gaps ((double)ns / 1e9, 0 <= ns < 2^50): while
     * clear, the sort takes the values' integers without checking each. */
    int non_ns;
} an_wsamples;

/* Initialises an empty set that keeps at most MAX_PAIRS pairs. */
void an_wsamples_init(an_wsamples *w, size_t max_pairs);

/* Adds V COUNT times (merged with the last pair when equal). Returns 0, or
 * -1 when out of memory; past MAX_PAIRS the set overflows into its
 * histogram. */
int an_wsamples_add(an_wsamples *w, double v, uint64_t count);

/* an_wsamples_add of (double)NS / 1e9 (a gap in nanoseconds), the same
 * pairs, without testing the value for a whole number of nanoseconds (NS
 * is one). */
int an_wsamples_add_ns(an_wsamples *w, int64_t ns, uint64_t count);

/* The cache slot of V: a multiplicative hash of its bits; and the window
 * of cache lookups after which the adds may skip the cache (samples.c). */
static inline size_t an_wslot(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return (size_t)((u * 0x9E3779B97F4A7C15ull) >> 32) & (AN_WCACHE - 1);
}
enum { AN_WPROBE_WINDOW = 4096 };

/* an_wsamples_add of (double)NS / 1e9 (a gap in nanoseconds), its first
 * case inline: while the adds skip the cache (see an_wsamples_add) with
 * room at the array's end, the pair is written there. For callers that
 * add a value per step. */
static inline int an_wsamples_add_ns_inline(an_wsamples *w, int64_t ns, uint64_t count)
{
    if (count == 0)
        return 0;
    double v = (double)ns / 1e9;
    if ((uint64_t)ns >= ((uint64_t)1 << 50) && !w->overflow) /* as an_wsamples_add's test */
        w->non_ns = 1;
    w->sorted = 0;
    if (w->bypass > 0 && w->n < w->cap) {
        w->bypass--;
        w->total += count;
        w->p[w->n].v = v;
        w->p[w->n].c = count;
        w->n++;
        return 0;
    }
    /* Past the limit: the histogram's (as an_wsamples_add does it). */
    if (w->overflow) {
        if (an_qhist_add_n(w->hist, v, count) != 0)
            return -1;
        w->total += count;
        return 0;
    }
    /* A value the cache holds, inside the window of lookups (where the
     * next lookup closes it, samples.c weighs the window first): what
     * an_wsamples_add does for it. */
    if (w->bypass == 0 && w->cache != NULL && w->probes + 1 < AN_WPROBE_WINDOW) {
        an_wpair *e = &w->cache[an_wslot(v)];
        if (e->c != 0 && e->v == v) {
            w->probes++;
            w->hits++;
            e->c += count;
            w->total += count;
            return 0;
        }
    }
    return an_wsamples_add_ns(w, ns, count);
}

/* Moves the cache's pairs to the array, sorts by value and merges equal
 * values; later queries need it. Returns 0, or -1 when out of memory (the
 * queries then give NAN). */
int an_wsamples_sort(an_wsamples *w);

/* numpy.percentile / numpy.median / max of the multiset (NAN when empty;
 * the histogram's once overflowed); require an_wsamples_sort. */
double an_wsamples_percentile(const an_wsamples *w, double p);
double an_wsamples_median(const an_wsamples *w);
double an_wsamples_max(const an_wsamples *w);

/* Mean and population std of the multiset (NAN when empty). */
double an_wsamples_mean(const an_wsamples *w);
double an_wsamples_std(const an_wsamples *w);

void an_wsamples_free(an_wsamples *w);

#endif
