/*
 * hist.c: log-bucketed histogram; see hist.h.
 */
#include "analysis/hist.h"

#include <math.h>
#include <stdlib.h>

#define HIST_MIN 1e-9
#define HIST_GROWTH (1.0 + 1.0 / 1024.0) /* about 37,700 buckets from 1 ns to 1e7 s */

static double log_growth(void)
{
    return log(HIST_GROWTH);
}

static size_t nbuckets(void)
{
    return (size_t)ceil(log(1e7 / HIST_MIN) / log_growth()) + 1;
}

void an_hist_init(an_hist *h)
{
    h->counts = NULL;
    h->n = 0;
    h->sum = 0;
    h->sumsq = 0;
    h->min = INFINITY;
    h->max = 0;
    h->zeros = 0;
}

int an_hist_add_n(an_hist *h, double v, uint64_t count)
{
    if (!(v >= 0))
        v = 0;
    if (h->counts == NULL) {
        h->counts = calloc(nbuckets(), sizeof(uint64_t));
        if (h->counts == NULL)
            return -1;
    }
    h->n += count;
    h->sum += v * (double)count;
    h->sumsq += v * v * (double)count;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    if (v <= HIST_MIN) {
        h->zeros += count;
        return 0;
    }
    double q = log(v / HIST_MIN) / log_growth();
    size_t nb = nbuckets();
    /* The top bucket takes the rest (infinity too: no cast of it). */
    size_t b = q < (double)(nb - 1) ? (size_t)q : nb - 1;
    h->counts[b] += count;
    return 0;
}

int an_hist_add(an_hist *h, double v)
{
    return an_hist_add_n(h, v, 1);
}

double an_hist_std(const an_hist *h)
{
    if (h->n == 0)
        return 0;
    double mean = h->sum / (double)h->n;
    double var = h->sumsq / (double)h->n - mean * mean;
    return var > 0 ? sqrt(var) : 0;
}

double an_hist_percentile(const an_hist *h, double p)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->n);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    if (rank == h->n)
        return h->max;
    uint64_t seen = h->zeros;
    if (seen >= rank)
        return h->min;
    size_t nb = nbuckets();
    /* The buckets below the minimum's are empty: the scan starts at the
     * minimum's bucket, found as an_hist_add_n finds it (a latency of 1 ms
     * or more skips 14,000 of the 37,700). */
    size_t first = 0;
    if (h->min > HIST_MIN) {
        double q = log(h->min / HIST_MIN) / log_growth();
        first = q < (double)(nb - 1) ? (size_t)q : nb - 1;
    }
    for (size_t b = first; b < nb; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            double mid = HIST_MIN * exp(((double)b + 0.5) * log_growth());
            return mid < h->min ? h->min : mid > h->max ? h->max : mid;
        }
    }
    return h->max;
}

double an_hist_mean(const an_hist *h)
{
    return h->n ? h->sum / (double)h->n : 0;
}

void an_hist_free(an_hist *h)
{
    free(h->counts);
    an_hist_init(h);
}
