/*
 * samples.c: exact samples and numpy's statistics; see samples.h.
 *
 * numpy's definitions (numpy/lib/_function_base_impl.py, numpy 2.x, and
 * numpy/_core/src/umath/loops_utils.h.src, pairwise_sum):
 * - percentile: q = p / 100; virtual index g = (n - 1) * q; i = floor(g),
 *   j = i + 1, both clamped to n - 1 when g >= n - 1; t = g - i;
 *   lerp(a, b, t) = a + (b - a) * t, or b - (b - a) * (1 - t) when
 *   t >= 0.5;
 * - median: for odd n the middle value, for even n the mean of the two
 *   middle ones, computed as their sum over 2;
 * - mean: sum / n; std: sqrt(sum((x - mean)^2) / n), both sums pairwise.
 */
#include "analysis/samples.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void an_samples_init(an_samples *s)
{
    s->v = NULL;
    s->n = 0;
    s->cap = 0;
    s->sorted = 1;
}

int an_samples_add(an_samples *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        double *nv = realloc(s->v, cap * sizeof(double));
        if (nv == NULL)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    s->sorted = s->n <= 1 || (s->sorted && s->v[s->n - 2] <= v);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A double's bits as an unsigned key in the same order (IEEE 754: flip
 * every bit of a negative, the sign bit of a positive). */
static uint64_t sort_key(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return (u >> 63) ? ~u : u | (1ull << 63);
}

static double from_key(uint64_t k)
{
    uint64_t u = (k >> 63) ? k & ~(1ull << 63) : ~k;
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* LSD radix sort on the keys, 11 bits a pass (6 passes), through a
 * temporary of n keys: O(n), several times faster than qsort's
 * comparator calls on the million values of a long run. Falls back to
 * qsort when the temporary cannot be had. (No NaN reaches here:
 * latencies are differences of finite times.) */
void an_samples_sort(an_samples *s)
{
    if (s->sorted)
        return;
    uint64_t *a = malloc(2 * s->n * sizeof(uint64_t));
    if (a == NULL) {
        qsort(s->v, s->n, sizeof(double), cmp_double);
        s->sorted = 1;
        return;
    }
    uint64_t *b = a + s->n;
    for (size_t i = 0; i < s->n; i++)
        a[i] = sort_key(s->v[i]);
    for (int shift = 0; shift < 64; shift += 11) {
        size_t count[2049] = {0};
        for (size_t i = 0; i < s->n; i++)
            count[((a[i] >> shift) & 2047) + 1]++;
        for (int d = 0; d < 2048; d++)
            count[d + 1] += count[d];
        for (size_t i = 0; i < s->n; i++)
            b[count[(a[i] >> shift) & 2047]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    /* Six passes: the sorted keys are back in the first half. */
    for (size_t i = 0; i < s->n; i++)
        s->v[i] = from_key(a[i]);
    free(a < b ? a : b);
    s->sorted = 1;
}

/* numpy's pairwise summation: below 8 values a plain loop; up to 128,
 * eight interleaved accumulators combined as ((r0+r1)+(r2+r3)) +
 * ((r4+r5)+(r6+r7)), then the remainder in order; above, the two halves
 * (the first a multiple of 8 long) summed recursively. */
double an_np_sum(const double *v, size_t n)
{
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++)
            res += v[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int k = 0; k < 8; k++)
            r[k] = v[k];
        size_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int k = 0; k < 8; k++)
                r[k] += v[i + (size_t)k];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += v[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return an_np_sum(v, n2) + an_np_sum(v + n2, n - n2);
}

double an_samples_mean(const an_samples *s)
{
    return s->n ? an_np_sum(s->v, s->n) / (double)s->n : NAN;
}

/* Squared deviations in blocks, summed pairwise as numpy would sum the
 * whole array of them: the pairwise split does not depend on the values,
 * so summing each 128-aligned block of deviations and then the blocks in
 * numpy's tree order needs the whole array; a temporary of n doubles is
 * the simple way, and this runs once per run. */
double an_samples_std(const an_samples *s)
{
    if (s->n == 0)
        return NAN;
    double mean = an_samples_mean(s);
    double *d = malloc(s->n * sizeof(double));
    if (d == NULL) { /* out of memory at the end of a run: a plain sum, close enough */
        double acc = 0;
        for (size_t i = 0; i < s->n; i++)
            acc += (s->v[i] - mean) * (s->v[i] - mean);
        return sqrt(acc / (double)s->n);
    }
    for (size_t i = 0; i < s->n; i++)
        d[i] = (s->v[i] - mean) * (s->v[i] - mean);
    double var = an_np_sum(d, s->n) / (double)s->n;
    free(d);
    return sqrt(var);
}

/* numpy's linear method over N sorted values: the P-th percentile lies
 * between ranks *I and *J at fraction *T. */
static void numpy_ranks(uint64_t n, double p, uint64_t *i, uint64_t *j, double *t)
{
    double g = (double)(n - 1) * (p / 100.0);
    if (g >= (double)(n - 1)) {
        *i = *j = n - 1;
    } else if (g < 0) {
        *i = *j = 0;
    } else {
        *i = (uint64_t)floor(g);
        *j = *i + 1;
    }
    *t = g - floor(g);
}

/* numpy's _lerp: from whichever end is nearer, bit for bit. */
static double numpy_lerp(double a, double b, double t)
{
    double diff = b - a;
    return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

double an_samples_percentile(const an_samples *s, double p)
{
    assert(s->sorted);
    if (s->n == 0)
        return NAN;
    uint64_t i, j;
    double t;
    numpy_ranks(s->n, p, &i, &j, &t);
    return numpy_lerp(s->v[i], s->v[j], t);
}

double an_samples_median(const an_samples *s)
{
    assert(s->sorted);
    if (s->n == 0)
        return NAN;
    size_t h = s->n / 2;
    if (s->n % 2)
        return s->v[h];
    return (s->v[h - 1] + s->v[h]) / 2.0;
}

double an_samples_max(const an_samples *s)
{
    assert(s->sorted);
    return s->n ? s->v[s->n - 1] : NAN;
}

void an_samples_free(an_samples *s)
{
    free(s->v);
    an_samples_init(s);
}

/* ---- weighted samples ------------------------------------------------ */

void an_wsamples_init(an_wsamples *w, size_t max_pairs)
{
    memset(w, 0, sizeof(*w));
    w->max_pairs = max_pairs;
    w->sorted = 1;
    w->last = SIZE_MAX;
}

/* While values come, the pairs are an open-addressing table (linear
 * probing, a count of 0 marks an empty slot) of a power-of-two size that
 * doubles as the distinct values reach half of it: an add is a lookup, a
 * value seen before costs no memory, and nothing is sorted until the
 * queries (an_wsamples_sort). The set gives up (overflow) when the
 * distinct values would fill more than half of MAX_PAIRS slots. */
static size_t whash(double v, size_t mask)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return (size_t)((u * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* Puts V with COUNT in the table (V absent or present). */
static void wput(an_wpair *t, size_t cap, double v, uint64_t count, size_t *slot)
{
    size_t i = whash(v, cap - 1);
    while (t[i].c != 0 && !(t[i].v == v))
        i = (i + 1) & (cap - 1);
    if (t[i].c == 0)
        t[i].v = v;
    t[i].c += count;
    *slot = i;
}

/* Rehashes the N pairs of the table or, when !w->hashed, of the sorted
 * array, into a table of CAP slots. */
static int wrehash(an_wsamples *w, size_t cap)
{
    an_wpair *t = calloc(cap, sizeof(an_wpair));
    if (t == NULL)
        return -1;
    size_t slot, from = w->hashed ? w->cap : w->n;
    for (size_t i = 0; i < from; i++)
        if (w->p[i].c != 0)
            wput(t, cap, w->p[i].v, w->p[i].c, &slot);
    free(w->p);
    w->p = t;
    w->cap = cap;
    w->hashed = 1;
    w->last = SIZE_MAX;
    return 0;
}

int an_wsamples_add(an_wsamples *w, double v, uint64_t count)
{
    if (w->overflow || count == 0)
        return 0;
    /* A step's batch shares a gap, and runs of steps repeat it. */
    if (w->hashed && w->last != SIZE_MAX && w->p[w->last].v == v) {
        w->p[w->last].c += count;
        w->total += count;
        return 0;
    }
    if (!w->hashed) { /* the first value, or one after the queries sorted the pairs */
        size_t cap = 1024;
        while (2 * (w->n + 1) > cap)
            cap *= 2;
        if (wrehash(w, cap) != 0)
            return -1;
    }
    size_t i = whash(v, w->cap - 1);
    while (w->p[i].c != 0 && !(w->p[i].v == v))
        i = (i + 1) & (w->cap - 1);
    if (w->p[i].c == 0) { /* a new value */
        if (2 * (w->n + 1) > w->max_pairs) {
            free(w->p);
            w->p = NULL;
            w->n = w->cap = 0;
            w->hashed = 0;
            w->overflow = 1;
            return 0;
        }
        if (2 * (w->n + 1) > w->cap) {
            if (wrehash(w, 2 * w->cap) != 0)
                return -1;
            i = whash(v, w->cap - 1);
            while (w->p[i].c != 0)
                i = (i + 1) & (w->cap - 1);
        }
        w->p[i].v = v;
        w->n++;
    }
    w->p[i].c += count;
    w->total += count;
    w->last = i;
    w->sorted = 0;
    return 0;
}

static int cmp_wpair(const void *a, const void *b)
{
    double x = ((const an_wpair *)a)->v, y = ((const an_wpair *)b)->v;
    return (x > y) - (x < y);
}

/* Sorts N pairs by value: the LSD radix sort of an_samples_sort on the
 * values' keys, a byte a pass, skipping the passes whose byte every key
 * shares (a run's gaps share their high bytes), through a temporary of N
 * pairs (as much as glibc's qsort takes for its merge sort). Falls back to
 * qsort when the temporary cannot be had. Equal values end up adjacent,
 * which is all the callers need. */
static void sort_pairs(an_wpair *p, size_t n)
{
    an_wpair *tmp = n >= 64 ? malloc(n * sizeof(an_wpair)) : NULL;
    if (tmp == NULL) {
        qsort(p, n, sizeof(an_wpair), cmp_wpair);
        return;
    }
    size_t count[8][256] = {{0}}; /* 16 KiB */
    for (size_t i = 0; i < n; i++) {
        uint64_t k = sort_key(p[i].v);
        for (int d = 0; d < 8; d++)
            count[d][(k >> (8 * d)) & 255]++;
    }
    an_wpair *src = p, *dst = tmp;
    uint64_t first = sort_key(p[0].v);
    for (int d = 0; d < 8; d++) {
        size_t *c = count[d];
        if (c[(first >> (8 * d)) & 255] == n)
            continue; /* every key has this byte */
        size_t at = 0;
        for (int b = 0; b < 256; b++) {
            size_t k = c[b];
            c[b] = at;
            at += k;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(sort_key(src[i].v) >> (8 * d)) & 255]++] = src[i];
        an_wpair *t = src;
        src = dst;
        dst = t;
    }
    if (src != p)
        memcpy(p, src, n * sizeof(an_wpair));
    free(tmp);
}

void an_wsamples_sort(an_wsamples *w)
{
    if (w->hashed) {
        size_t m = 0;
        for (size_t i = 0; i < w->cap; i++)
            if (w->p[i].c != 0)
                w->p[m++] = w->p[i];
        w->n = m;
        w->hashed = 0;
        w->last = SIZE_MAX;
    }
    if (!w->sorted)
        sort_pairs(w->p, w->n);
    /* Equal values into one pair (0 and -0). */
    size_t m = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (m > 0 && w->p[m - 1].v == w->p[i].v)
            w->p[m - 1].c += w->p[i].c;
        else
            w->p[m++] = w->p[i];
    }
    w->n = m;
    w->sorted = 1;
}

/* The value at 0-based rank R of the sorted multiset. */
static double wrank(const an_wsamples *w, uint64_t r)
{
    uint64_t seen = 0;
    for (size_t i = 0; i < w->n; i++) {
        seen += w->p[i].c;
        if (r < seen)
            return w->p[i].v;
    }
    return w->p[w->n - 1].v;
}

static int wempty(const an_wsamples *w)
{
    return w->overflow || w->total == 0 || w->n == 0;
}

double an_wsamples_percentile(const an_wsamples *w, double p)
{
    if (wempty(w))
        return NAN;
    assert(w->sorted);
    /* numpy's linear method on the expanded list. */
    uint64_t i, j;
    double t;
    numpy_ranks(w->total, p, &i, &j, &t);
    double a = wrank(w, i);
    return numpy_lerp(a, j == i ? a : wrank(w, j), t);
}

double an_wsamples_median(const an_wsamples *w)
{
    if (wempty(w))
        return NAN;
    assert(w->sorted);
    uint64_t h = w->total / 2;
    if (w->total % 2)
        return wrank(w, h);
    return (wrank(w, h - 1) + wrank(w, h)) / 2.0;
}

double an_wsamples_max(const an_wsamples *w)
{
    if (wempty(w))
        return NAN;
    assert(w->sorted);
    return w->p[w->n - 1].v;
}

double an_wsamples_mean(const an_wsamples *w)
{
    assert(!w->hashed); /* an_wsamples_sort first */
    if (wempty(w))
        return NAN;
    double s = 0;
    for (size_t i = 0; i < w->n; i++)
        s += w->p[i].v * (double)w->p[i].c;
    return s / (double)w->total;
}

double an_wsamples_std(const an_wsamples *w)
{
    if (wempty(w))
        return NAN;
    double mean = an_wsamples_mean(w), s = 0;
    for (size_t i = 0; i < w->n; i++)
        s += (w->p[i].v - mean) * (w->p[i].v - mean) * (double)w->p[i].c;
    return sqrt(s / (double)w->total);
}

void an_wsamples_free(an_wsamples *w)
{
    free(w->p);
    an_wsamples_init(w, w->max_pairs);
}
