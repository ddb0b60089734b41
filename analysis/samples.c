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
    an_samples_init_capped(s, SIZE_MAX);
}

void an_samples_init_capped(an_samples *s, size_t max_exact)
{
    s->v = NULL;
    s->n = 0;
    s->cap = 0;
    s->max_exact = max_exact > 0 ? max_exact : 1;
    s->hist = NULL;
    s->sorted = 1;
}

bool an_samples_exact(const an_samples *s)
{
    return s->hist == NULL;
}

/* Past the limit: a histogram of the values so far, in their order, and V;
 * the array freed. Nothing changes when memory runs out. */
static int spill(an_samples *s, double v)
{
    an_qhist *h = malloc(sizeof(*h));
    if (h == NULL)
        return -1;
    an_qhist_init(h);
    for (size_t i = 0; i < s->n; i++)
        if (an_qhist_add_n(h, s->v[i], 1) != 0)
            goto oom;
    if (an_qhist_add_n(h, v, 1) != 0)
        goto oom;
    free(s->v);
    s->v = NULL;
    s->cap = 0;
    s->hist = h;
    s->n++;
    s->sorted = 1;
    return 0;
oom:
    an_qhist_free(h);
    free(h);
    return -1;
}

int an_samples_add(an_samples *s, double v)
{
    if (s->hist != NULL) {
        if (an_qhist_add_n(s->hist, v, 1) != 0)
            return -1;
        s->n++;
        return 0;
    }
    if (s->n == s->max_exact)
        return spill(s, v);
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        if (cap > s->max_exact)
            cap = s->max_exact;
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

/* Sets of 64 to SAMPLES_MSD_MAX values (its 32-bit counters) are sorted
 * by msd_keys: its passes over the values fewer than the LSD sort's,
 * which makes one for each 11 varying bits (most of the 64 for
 * latencies). */
enum { SAMPLES_MSD_MAX = 1 << 20, MSD_BITS = 11, MSD_INSERTION = 32 };

/* Insertion sort of the N keys at A. */
static void insertion_u64(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t k = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > k) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = k;
    }
}

/* Sorts the N keys at A (N >= 2), whose bits VARY (above the top one
 * every key agrees), most significant digit first: the top varying bits,
 * as many as make about N / 2 buckets (4 to MSD_BITS), scatter them into
 * T, each digit's keys are sorted there (by insertion where few, else by
 * the same on their own varying bits, into A's same place and back), and
 * the whole copied back to A. Each level sorts 4 bits or more: at most
 * 16 levels, 16 KiB of counters on the stack each. */
static void msd_keys(uint64_t *a, uint64_t *t, size_t n, uint64_t vary)
{
    int top = 63;
    while (!((vary >> top) & 1))
        top--;
    int bits = 4;
    while (bits < MSD_BITS && ((size_t)1 << bits) < n / 2)
        bits++;
    int s = top >= bits - 1 ? top - (bits - 1) : 0;
    const uint64_t mask = ((uint64_t)1 << bits) - 1;
    const size_t nb = (size_t)mask + 1;
    uint32_t c[(1 << MSD_BITS) + 1], at[1 << MSD_BITS];
    memset(c, 0, (nb + 1) * sizeof(uint32_t));
#pragma GCC unroll 4
    for (size_t i = 0; i < n; i++)
        c[((a[i] >> s) & mask) + 1]++;
    for (size_t d = 0; d < nb; d++)
        c[d + 1] += c[d];
    memcpy(at, c, nb * sizeof(uint32_t));
#pragma GCC unroll 4
    for (size_t i = 0; i < n; i++)
        t[at[(a[i] >> s) & mask]++] = a[i];
    for (size_t d = 0; d < nb && s > 0; d++) { /* s == 0: the digit was the last varying bits */
        size_t lo = c[d], m = c[d + 1] - lo;
        if (m < 2)
            continue;
        if (m <= MSD_INSERTION) {
            insertion_u64(t + lo, m);
            continue;
        }
        uint64_t all_and = ~0ULL, all_or = 0;
        for (size_t i = 0; i < m; i++) {
            all_and &= t[lo + i];
            all_or |= t[lo + i];
        }
        if (all_and != all_or)
            msd_keys(t + lo, a + lo, m, all_and ^ all_or);
    }
    memcpy(a, t, n * sizeof(uint64_t));
}

/* LSD radix sort on the keys, 11 bits a pass (6 passes, less those whose
 * digit every key shares; each pass's loops four keys an iteration):
 * O(n), several times faster than qsort's comparator calls on the
 * million values of a long run. The keys take the values' own array (written through a
 * uint64_t view: each element is read as a double before it is stored as
 * a key, and read back as a key before it is stored as a double, so every
 * access matches the element's last store) and one temporary of n keys.
 * Falls back to qsort when the temporary cannot be had. (No NaN reaches
 * here: latencies are differences of finite times.) */
void an_samples_sort(an_samples *s)
{
    if (s->sorted || s->hist != NULL) {
        s->sorted = 1;
        return;
    }
    uint64_t *const tmp = malloc(s->n * sizeof(uint64_t)), *b = tmp;
    if (tmp == NULL) {
        qsort(s->v, s->n, sizeof(double), cmp_double);
        s->sorted = 1;
        return;
    }
    uint64_t *a = (uint64_t *)(void *)s->v;
    uint64_t all_and = ~0ULL, all_or = 0;
    for (size_t i = 0; i < s->n; i++) {
        double x = s->v[i];
        a[i] = sort_key(x);
        all_and &= a[i];
        all_or |= a[i];
    }
    const uint64_t vary = all_and ^ all_or;
    if (s->n >= 64 && s->n <= SAMPLES_MSD_MAX && vary != 0) {
        msd_keys(a, b, s->n, vary);
        for (size_t i = 0; i < s->n; i++) {
            uint64_t k = a[i];
            s->v[i] = from_key(k);
        }
        free(tmp);
        s->sorted = 1;
        return;
    }
    for (int shift = 0; shift < 64; shift += 11) {
        if (((vary >> shift) & 2047) == 0)
            continue; /* every key has this digit: the pass would keep the order */
        size_t count[2049] = {0};
#pragma GCC unroll 4
        for (size_t i = 0; i < s->n; i++)
            count[((a[i] >> shift) & 2047) + 1]++;
        for (int d = 0; d < 2048; d++)
            count[d + 1] += count[d];
#pragma GCC unroll 4
        for (size_t i = 0; i < s->n; i++)
            b[count[(a[i] >> shift) & 2047]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    /* The sorted keys back to values in the values' array (from the
     * temporary after an odd number of passes). */
    for (size_t i = 0; i < s->n; i++) {
        uint64_t k = a[i];
        s->v[i] = from_key(k);
    }
    free(tmp);
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
    if (s->hist != NULL)
        return an_qhist_mean(s->hist);
    return s->n ? an_np_sum(s->v, s->n) / (double)s->n : NAN;
}

/* A squared deviation, in a function of its own so that no compiler fuses
 * it with the sum it goes into (the sums must round as numpy's do). */
static double sqdev(double x, double mean)
{
    return (x - mean) * (x - mean);
}

/* an_np_sum of the squared deviations (V[i] - MEAN)^2, computed where
 * an_np_sum would read them: the same operations in the same order as
 * summing an array of them, without the array. */
static double np_sum_sqdev(const double *v, size_t n, double mean)
{
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++) {
            double d = sqdev(v[i], mean);
            res += d;
        }
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int k = 0; k < 8; k++)
            r[k] = sqdev(v[k], mean);
        size_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int k = 0; k < 8; k++) {
                double d = sqdev(v[i + (size_t)k], mean);
                r[k] += d;
            }
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) {
            double d = sqdev(v[i], mean);
            res += d;
        }
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return np_sum_sqdev(v, n2, mean) + np_sum_sqdev(v + n2, n - n2, mean);
}

/* numpy.std: the squared deviations summed pairwise as numpy sums the
 * array of them (the tree does not depend on the values, so they are
 * computed at its leaves). */
double an_samples_std(const an_samples *s)
{
    if (s->hist != NULL)
        return an_qhist_std(s->hist);
    if (s->n == 0)
        return NAN;
    double mean = an_samples_mean(s);
    return sqrt(np_sum_sqdev(s->v, s->n, mean) / (double)s->n);
}

void an_np_ranks(uint64_t n, double p, uint64_t *i, uint64_t *j, double *t)
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

double an_np_lerp(double a, double b, double t)
{
    double diff = b - a;
    return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

double an_samples_percentile(const an_samples *s, double p)
{
    if (s->hist != NULL)
        return an_qhist_percentile(s->hist, p);
    assert(s->sorted);
    if (s->n == 0)
        return NAN;
    uint64_t i, j;
    double t;
    an_np_ranks(s->n, p, &i, &j, &t);
    return an_np_lerp(s->v[i], s->v[j], t);
}

double an_samples_median(const an_samples *s)
{
    if (s->hist != NULL)
        return an_qhist_median(s->hist);
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
    if (s->hist != NULL)
        return an_qhist_max(s->hist);
    assert(s->sorted);
    return s->n ? s->v[s->n - 1] : NAN;
}

void an_samples_free(an_samples *s)
{
    free(s->v);
    if (s->hist != NULL) {
        an_qhist_free(s->hist);
        free(s->hist);
    }
    an_samples_init_capped(s, s->max_exact);
}

/* ---- weighted samples ------------------------------------------------ */

void an_wsamples_init(an_wsamples *w, size_t max_pairs)
{
    memset(w, 0, sizeof(*w));
    w->max_pairs = max_pairs > 0 ? max_pairs : 1; /* 0 would append to an array of none */
    w->sorted = 1;
}

/* Sorts and merges the pairs in place when the array is full at its
 * limit: gaps repeat across steps (equal batches take equal times), so
 * this usually frees most of it. Overflows into the histogram when the
 * distinct values alone fill half the limit. Returns 0, or -1 when out of
 * memory (the pairs merged, nothing lost). */
static int wcompact(an_wsamples *w);

/* Appends the pair (V, COUNT) to the array, compacting it when full; once
 * overflowed, into the histogram. The caller counts the total. */
static int wappend(an_wsamples *w, double v, uint64_t count)
{
    if (!w->overflow && w->n == w->max_pairs && wcompact(w) != 0)
        return -1;
    if (w->overflow)
        return an_qhist_add_n(w->hist, v, count);
    if (w->n == w->cap) {
        /* The whole limit at once (8 MiB for ITL): its pages are only
         * touched as pairs fill them, where growing by doubling copied
         * the array at each step and faulted in every copy's pages, most
         * of a busy run's page faults. */
        an_wpair *np = realloc(w->p, w->max_pairs * sizeof(an_wpair));
        if (np == NULL)
            return -1;
        w->p = np;
        w->cap = w->max_pairs;
    }
    w->p[w->n].v = v;
    w->p[w->n].c = count;
    w->n++;
    return 0;
}

/* Moves the cache's pairs to the array (or the histogram), slot by slot. */
static int wflush(an_wsamples *w)
{
    for (size_t k = 0; w->cache != NULL && k < AN_WCACHE; k++) {
        an_wpair *e = &w->cache[k];
        if (e->c != 0 && wappend(w, e->v, e->c) != 0)
            return -1;
        e->c = 0;
    }
    return 0;
}

static size_t wslot(double v)
{
    return an_wslot(v);
}

/* The cache's window of lookups (AN_WPROBE_WINDOW), and the adds that
 * skip it after a window of few hits. */
enum { WPROBE_WINDOW = AN_WPROBE_WINDOW, WBYPASS_ADDS = 65536 };

/* True where V is (double)d / 1e9 for an integer 0 <= d < 2^50, d the
 * value's nearest: sort_merge_ns's test (the division is monotone and
 * below 2^50 ns distinct integers give distinct values). Such a d, so
 * written, always passes (v x 1e9 is within 0.2 of it). */
static inline bool ns_value(double v, int64_t *d_out)
{
    /* Signed conversions (one instruction each; NaN, infinities and
     * values past 2^63 give INT64_MIN, out of the range tested). */
    int64_t d = (int64_t)(v * 1e9 + 0.5);
    double back = (double)d / 1e9;
    uint64_t vb, bb;
    memcpy(&vb, &v, sizeof(v));
    memcpy(&bb, &back, sizeof(back));
    *d_out = d;
    return (uint64_t)d < ((uint64_t)1 << 50) && vb == bb;
}

static int wadd(an_wsamples *w, double v, uint64_t count);

int an_wsamples_add(an_wsamples *w, double v, uint64_t count)
{
    if (count == 0)
        return 0;
    int64_t d; /* the sort's test, while it may matter */
    if (!w->non_ns && !w->overflow && !ns_value(v, &d))
        w->non_ns = 1;
    return wadd(w, v, count);
}

int an_wsamples_add_ns(an_wsamples *w, int64_t ns, uint64_t count)
{
    if (count == 0)
        return 0;
    /* ns_value's test on (double)NS / 1e9, which it passes where NS is in
     * its range (see ns_value): the integer at hand decides. */
    if ((uint64_t)ns >= ((uint64_t)1 << 50) && !w->overflow)
        w->non_ns = 1;
    return wadd(w, (double)ns / 1e9, count);
}

/* an_wsamples_add of V, COUNT > 0, once its value is tested. */
static int wadd(an_wsamples *w, double v, uint64_t count)
{
    w->sorted = 0;
    /* The bypass below with room at the array's end (never once
     * overflowed: the array is gone, n == cap == 0): the pair written
     * there, as wappend writes it, without its calls and checks. */
    if (w->bypass > 0 && w->n < w->cap) {
        w->bypass--;
        w->total += count;
        w->p[w->n].v = v;
        w->p[w->n].c = count;
        w->n++;
        return 0;
    }
    if (w->overflow) {
        if (an_qhist_add_n(w->hist, v, count) != 0)
            return -1;
        w->total += count;
        return 0;
    }
    /* Where the last window of lookups found fewer than one in eight
     * values in the cache (steps of unequal lengths, one call each), the
     * next WBYPASS_ADDS go straight to the array, written in order: a
     * lookup in the cache's 256 KiB is a miss of the machine's caches
     * (60 ns a call on the 70B replay), the array's end is not. The pairs
     * are the same either way (the array's are merged when it fills and
     * at the end), so results are too. */
    if (w->bypass > 0) {
        w->bypass--;
        w->total += count;
        if (wappend(w, v, count) != 0)
            return -1;
        return w->overflow ? wflush(w) : 0; /* the cache follows its pairs */
    }
    /* A step reports a few gaps, runs of steps repeat them, and a value
     * stays in the cache until another takes its slot: only then does it
     * take a pair of the array, written in order (the array's pairs are
     * merged when it fills, and at the end). */
    if (w->cache == NULL && (w->cache = calloc(AN_WCACHE, sizeof(an_wpair))) == NULL)
        return -1;
    if (++w->probes == WPROBE_WINDOW) {
        if (w->hits < WPROBE_WINDOW / 8)
            w->bypass = WBYPASS_ADDS;
        w->probes = w->hits = 0;
    }
    an_wpair *e = &w->cache[wslot(v)];
    if (e->c != 0 && e->v == v) {
        w->hits++;
        e->c += count;
        w->total += count;
        return 0;
    }
    if (e->c != 0) {
        if (wappend(w, e->v, e->c) != 0)
            return -1;
        e->c = 0;
        if (w->overflow) { /* the rest of the cache follows its pairs */
            if (wflush(w) != 0)
                return -1;
            return wadd(w, v, count);
        }
    }
    e->v = v;
    e->c = count;
    w->total += count;
    return 0;
}

static int cmp_wpair(const void *a, const void *b)
{
    double x = ((const an_wpair *)a)->v, y = ((const an_wpair *)b)->v;
    return (x > y) - (x < y);
}

/* Pair sorting: the values' keys (sort_key: their order as unsigned
 * integers is the doubles' order) in the values' place while sorting
 * (each value's bytes read as a double, then written as its key, read
 * back as a key and written as the double at the end). */
enum { DIGIT = 11, BUCKETS = 1 << DIGIT, DIGITS = (64 + DIGIT - 1) / DIGIT };
enum { DIGIT2 = 9, BUCKETS2 = 1 << DIGIT2, SMALL = 24, LSD_MIN = BUCKETS / 4 };

static inline uint64_t pair_key(const an_wpair *e)
{
    uint64_t k;
    memcpy(&k, &e->v, sizeof(k));
    return k;
}

/* The LSD radix sort of an_samples_sort on N pairs holding keys at P, 11
 * bits a pass, skipping the passes whose digit every key shares, through
 * TMP (N pairs), the keys agreeing from digit ND on (so only digits below
 * ND are counted: COUNT, ND x BUCKETS counters of scratch, the caller's,
 * allocated once for all of a sort's calls; a calloc of its 96 KiB at
 * each call had jemalloc hand back and fault in its pages every time). */
static void lsd_keys(an_wpair *p, an_wpair *tmp, size_t n, size_t (*count)[BUCKETS], int nd)
{
    memset(count, 0, (size_t)nd * sizeof(*count));
    for (size_t i = 0; i < n; i++) {
        uint64_t k = pair_key(&p[i]);
        for (int d = 0; d < nd; d++)
            count[d][(k >> (DIGIT * d)) & (BUCKETS - 1)]++;
    }
    an_wpair *src = p, *dst = tmp;
    uint64_t first = pair_key(&p[0]);
    for (int d = 0; d < nd; d++) {
        size_t *c = count[d];
        if (c[(first >> (DIGIT * d)) & (BUCKETS - 1)] == n)
            continue; /* every key has this digit */
        size_t at = 0;
        for (int b = 0; b < BUCKETS; b++) {
            size_t k = c[b];
            c[b] = at;
            at += k;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(pair_key(&src[i]) >> (DIGIT * d)) & (BUCKETS - 1)]++] = src[i];
        an_wpair *t = src;
        src = dst;
        dst = t;
    }
    if (src != p)
        memcpy(p, src, n * sizeof(an_wpair));
}

/* Insertion sort of N pairs holding keys at P (a few). */
static void insertion_keys(an_wpair *p, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        an_wpair e = p[i];
        uint64_t k = pair_key(&e);
        size_t j = i;
        while (j > 0 && pair_key(&p[j - 1]) > k) {
            p[j] = p[j - 1];
            j--;
        }
        p[j] = e;
    }
}

static int cmp_wkey(const void *a, const void *b)
{
    uint64_t x = pair_key(a), y = pair_key(b);
    return (x > y) - (x < y);
}

/* Sorts the N pairs holding keys at P, which agree from bit BITS on (TMP:
 * N pairs of scratch; COUNT: lsd_keys' counters, NULL where they could
 * not be had): a few by insertion, more by lsd_keys where its counters
 * pay for themselves, else (or without its memory) qsort. Each of
 * lsd_keys' digits clears and sums BUCKETS counters: for a few hundred
 * pairs that is more work than the pairs (a run whose gaps spread over
 * many first and second digits had thousands of such calls: 1.1 G of
 * its 1.8 G instructions in clearing counters). */
static void sort_rest(an_wpair *p, an_wpair *tmp, size_t n, size_t (*count)[BUCKETS], int bits)
{
    if (n <= SMALL)
        insertion_keys(p, n);
    else if (count != NULL && n >= LSD_MIN)
        lsd_keys(p, tmp, n, count, (bits + DIGIT - 1) / DIGIT);
    else
        qsort(p, n, sizeof(an_wpair), cmp_wkey);
}

/* Sorts N pairs by value: most significant digit first on the keys' bits
 * that vary (a run's gaps share their high bits), 11 of them into TMP,
 * then each digit's pairs by the next 4 to 9 (about a quarter as many
 * buckets as pairs) back into P, then each of those
 * (mostly one or two pairs: the values differ within a few bits of
 * their top) by insertion, or by the LSD radix sort where there are more;
 * qsort when the temporary cannot be had. Any order of equal keys gives
 * the same merged pairs (equal keys are equal values, bit for bit).
 * Returns true with the pairs holding their keys (sort_merge_pairs takes
 * them back to values), false where qsort sorted the values. The passes
 * over the pairs here and in sort_merge_pairs take four an iteration
 * (#pragma GCC unroll, which Clang takes too: the loops' own count and
 * test were an eighth of them). */
static bool sort_pairs_keys(an_wsamples *w, an_wpair *p, size_t n)
{
    if (n >= 64 && w->tmp_cap < n) {
        free(w->tmp);
        w->tmp = malloc(n * sizeof(an_wpair));
        w->tmp_cap = w->tmp != NULL ? n : 0;
    }
    an_wpair *tmp = n >= 64 ? w->tmp : NULL;
    if (tmp == NULL) {
        qsort(p, n, sizeof(an_wpair), cmp_wpair);
        return false;
    }
    /* lsd_keys' counters, once for the sort (NULL: qsort for those). */
    size_t(*count)[BUCKETS] = malloc(DIGITS * sizeof(*count));
    uint64_t all_and = ~0ULL, all_or = 0;
#pragma GCC unroll 4
    for (size_t i = 0; i < n; i++) {
        uint64_t k = sort_key(p[i].v);
        memcpy(&p[i].v, &k, sizeof(k));
        all_and &= k;
        all_or |= k;
    }
    uint64_t vary = all_and ^ all_or;
    if (vary != 0) {
        int top = 63;
        while (!((vary >> top) & 1))
            top--;
        /* The first digit: bits S1 to TOP (above TOP every key agrees). */
        int s1 = top >= DIGIT - 1 ? top - (DIGIT - 1) : 0;
        size_t c1[BUCKETS + 1];
        memset(c1, 0, sizeof(c1));
#pragma GCC unroll 4
        for (size_t i = 0; i < n; i++)
            c1[((pair_key(&p[i]) >> s1) & (BUCKETS - 1)) + 1]++;
        for (int b = 0; b < BUCKETS; b++)
            c1[b + 1] += c1[b];
        size_t at1[BUCKETS];
        memcpy(at1, c1, sizeof(at1));
#pragma GCC unroll 4
        for (size_t i = 0; i < n; i++)
            tmp[at1[(pair_key(&p[i]) >> s1) & (BUCKETS - 1)]++] = p[i];
        /* Each first digit's pairs, at [c1[b], c1[b + 1]) of TMP, sorted
         * into the same place in P. */
        for (int b = 0; b < BUCKETS; b++) {
            size_t lo = c1[b], m = c1[b + 1] - lo;
            if (m == 0)
                continue;
            an_wpair *q = tmp + lo, *out = p + lo;
            if (m <= SMALL || s1 == 0) { /* s1 == 0: the digit was the last varying bits */
                if (s1 != 0)
                    insertion_keys(q, m);
                memcpy(out, q, m * sizeof(an_wpair));
                continue;
            }
            /* The second digit: as many bits as make about M / 4 buckets
             * (4 to DIGIT2), its counters' passes in proportion to M. */
            int w2 = 4;
            while (w2 < DIGIT2 && ((size_t)1 << w2) < m / 4)
                w2++;
            const int s2 = s1 >= w2 ? s1 - w2 : 0;
            const size_t nb2 = (size_t)1 << (s1 - s2);
            const uint64_t mask2 = nb2 - 1;
            size_t c2[BUCKETS2 + 1];
            memset(c2, 0, (nb2 + 1) * sizeof(size_t));
#pragma GCC unroll 4
            for (size_t i = 0; i < m; i++)
                c2[((pair_key(&q[i]) >> s2) & mask2) + 1]++;
            for (size_t d = 0; d < nb2; d++)
                c2[d + 1] += c2[d];
            size_t at2[BUCKETS2];
            memcpy(at2, c2, nb2 * sizeof(size_t));
#pragma GCC unroll 4
            for (size_t i = 0; i < m; i++)
                out[at2[(pair_key(&q[i]) >> s2) & mask2]++] = q[i];
            if (s2 == 0)
                continue; /* every varying bit sorted */
            for (size_t d = 0; d < nb2; d++) {
                size_t lo2 = c2[d], m2 = c2[d + 1] - lo2;
                if (m2 > 1)
                    sort_rest(out + lo2, q + lo2, m2, count, s2);
            }
        }
    }
    free(count);
    return true;
}

/* Pairs whose values are all whole nanoseconds as the simulator writes
 * its gaps, (double)ns / 1e9 (checked bit for bit, pair by pair): sorted
 * by those integers, whose order is the values' (the division is
 * monotone, and below 2^50 ns distinct integers give distinct values),
 * on their varying bits only, in up to NS_DIGITS LSD passes of at most
 * NS_DIGIT bits (two of 12 or 13 for a run's gaps, 15-28 ms), rather
 * than on the doubles' 52 mantissa bits; then merged, the values
 * written back from the integers (the same bits). Equal values merge as
 * sort_merge_pairs merges them, so the pairs come out the same. Returns
 * false, the pairs as they were, where a value is not such a gap (or
 * the varying bits are too many), with *M the pairs left otherwise. */
enum { NS_DIGIT = 13, NS_BUCKETS = 1 << NS_DIGIT, NS_DIGITS = 3, NS_MIN_PAIRS = 8192 };

static bool sort_merge_ns(an_wsamples *w, an_wpair *p, size_t n, size_t *m_out)
{
    if (n < NS_MIN_PAIRS || n > UINT32_MAX)
        return false;
    if (w->tmp_cap < n) {
        free(w->tmp);
        w->tmp = malloc(n * sizeof(an_wpair));
        w->tmp_cap = w->tmp != NULL ? n : 0;
    }
    an_wpair *tmp = w->tmp;
    if (tmp == NULL)
        return false;
    /* The integers in the values' place (each value's bytes read as a
     * double, written as its integer), their varying bits. */
    uint64_t all_and = ~0ULL, all_or = 0;
    size_t i = 0;
    if (!w->non_ns) { /* every value added passed ns_value: no test */
#pragma GCC unroll 4
        for (; i < n; i++) {
            int64_t d = (int64_t)(p[i].v * 1e9 + 0.5);
#ifndef NDEBUG
            int64_t e;
            assert(ns_value(p[i].v, &e) && e == d);
#endif
            memcpy(&p[i].v, &d, sizeof(d));
            all_and &= d;
            all_or |= d;
        }
    } else {
#pragma GCC unroll 4
        for (; i < n; i++) {
            int64_t d;
            bool ok = ns_value(p[i].v, &d);
            if (!ok)
                break;
            memcpy(&p[i].v, &d, sizeof(d));
            all_and &= d;
            all_or |= d;
        }
    }
    uint64_t vary = all_and ^ all_or;
    int bits = 0;
    while (bits < 64 && (vary >> bits) != 0)
        bits++;
    if (i < n || bits > NS_DIGIT * NS_DIGITS) {
        for (size_t j = 0; j < i; j++) { /* the values back */
            double v = (double)(int64_t)pair_key(&p[j]) / 1e9;
            memcpy(&p[j].v, &v, sizeof(v));
        }
        return false;
    }
    /* BITS varying bits in ND digits of DW bits each. */
    const int nd = bits == 0 ? 0 : (bits + NS_DIGIT - 1) / NS_DIGIT;
    const int dw = nd == 0 ? 0 : (bits + nd - 1) / nd;
    const uint64_t mask = ((uint64_t)1 << dw) - 1;
    uint32_t(*count)[NS_BUCKETS] = NULL;
    if (nd > 0) {
        count = calloc((size_t)nd, sizeof(*count));
        if (count == NULL) {
            for (size_t j = 0; j < n; j++) {
                double v = (double)(int64_t)pair_key(&p[j]) / 1e9;
                memcpy(&p[j].v, &v, sizeof(v));
            }
            return false;
        }
    }
    if (nd == 1) {
#pragma GCC unroll 4
        for (size_t j = 0; j < n; j++)
            count[0][pair_key(&p[j]) & mask]++;
    } else if (nd == 2) {
#pragma GCC unroll 4
        for (size_t j = 0; j < n; j++) {
            uint64_t k = pair_key(&p[j]);
            count[0][k & mask]++;
            count[1][(k >> dw) & mask]++;
        }
    } else if (nd == 3) {
#pragma GCC unroll 4
        for (size_t j = 0; j < n; j++) {
            uint64_t k = pair_key(&p[j]);
            count[0][k & mask]++;
            count[1][(k >> dw) & mask]++;
            count[2][(k >> (2 * dw)) & mask]++;
        }
    }
    an_wpair *src = p, *dst = tmp;
    const uint64_t first = pair_key(&p[0]);
    for (int d = 0; d < nd; d++) {
        uint32_t *c = count[d];
        const int s = d * dw;
        if (c[(first >> s) & mask] == n)
            continue; /* every key has this digit */
        uint32_t at = 0;
        for (uint64_t b = 0; b <= mask; b++) {
            uint32_t k = c[b];
            c[b] = at;
            at += k;
        }
#pragma GCC unroll 4
        for (size_t j = 0; j < n; j++)
            dst[c[(pair_key(&src[j]) >> s) & mask]++] = src[j];
        an_wpair *t = src;
        src = dst;
        dst = t;
    }
    free(count);
    /* Merged from SRC into P (in place where SRC is P: M <= J). */
    size_t m = 0;
    uint64_t prev = UINT64_MAX; /* the last pair's integer (none: above 2^50) */
#pragma GCC unroll 4
    for (size_t j = 0; j < n; j++) {
        uint64_t k = pair_key(&src[j]), c = src[j].c;
        if (k == prev) {
            p[m - 1].c += c;
        } else {
            p[m].v = (double)(int64_t)k / 1e9;
            p[m].c = c;
            m++;
            prev = k;
        }
    }
    *m_out = m;
    return true;
}

/* Sorts the N pairs at P by value and merges equal values into one pair
 * (their counts summed); returns the pairs left. The keys go back to
 * values in the merging's pass. *KEYED: sorted by the values' keys (NaNs
 * at the ends), not by qsort's comparisons. */
static size_t sort_merge_pairs(an_wsamples *w, an_wpair *p, size_t n, bool *keyed)
{
    size_t m = 0;
    if (sort_merge_ns(w, p, n, &m)) {
        *keyed = true; /* finite values, ascending */
        return m;
    }
    *keyed = sort_pairs_keys(w, p, n);
    if (*keyed) {
#pragma GCC unroll 4
        for (size_t i = 0; i < n; i++) {
            double v = from_key(pair_key(&p[i]));
            uint64_t c = p[i].c;
            if (m > 0 && p[m - 1].v == v) {
                p[m - 1].c += c;
            } else {
                p[m].v = v;
                p[m].c = c;
                m++;
            }
        }
        return m;
    }
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && p[m - 1].v == p[i].v)
            p[m - 1].c += p[i].c;
        else
            p[m++] = p[i];
    }
    return m;
}

int an_wsamples_sort(an_wsamples *w)
{
    if (w->sorted)
        return 0;
    if (wflush(w) != 0)
        return -1; /* out of memory: still unsorted, the queries refuse */
    w->sorted = 1;
    if (w->overflow)
        return 0;
    bool keyed;
    w->n = sort_merge_pairs(w, w->p, w->n, &keyed); /* equal values into one pair */
    return 0;
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
    return w->total == 0 || w->n == 0 || !w->sorted;
}

double an_wsamples_percentile(const an_wsamples *w, double p)
{
    if (w->overflow)
        return an_qhist_percentile(w->hist, p);
    if (wempty(w))
        return NAN;
    assert(w->sorted);
    /* numpy's linear method on the expanded list. */
    uint64_t i, j;
    double t;
    an_np_ranks(w->total, p, &i, &j, &t);
    double a = wrank(w, i);
    return an_np_lerp(a, j == i ? a : wrank(w, j), t);
}

double an_wsamples_median(const an_wsamples *w)
{
    if (w->overflow)
        return an_qhist_median(w->hist);
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
    if (w->overflow)
        return an_qhist_max(w->hist);
    if (wempty(w))
        return NAN;
    assert(w->sorted);
    return w->p[w->n - 1].v;
}

double an_wsamples_mean(const an_wsamples *w)
{
    if (w->overflow)
        return an_qhist_mean(w->hist);
    if (wempty(w))
        return NAN;
    double s = 0;
    for (size_t i = 0; i < w->n; i++)
        s += w->p[i].v * (double)w->p[i].c;
    return s / (double)w->total;
}

double an_wsamples_std(const an_wsamples *w)
{
    if (w->overflow)
        return an_qhist_std(w->hist);
    if (wempty(w))
        return NAN;
    double mean = an_wsamples_mean(w), s = 0;
    for (size_t i = 0; i < w->n; i++)
        s += (w->p[i].v - mean) * (w->p[i].v - mean) * (double)w->p[i].c;
    return sqrt(s / (double)w->total);
}

/* Apart from an_wsamples_add, where it is inlined otherwise (its frame
 * then heavier for every add). */
static __attribute__((noinline)) int wcompact(an_wsamples *w)
{
    bool keyed; /* sorted by the values' keys: NaNs at the ends */
    w->n = sort_merge_pairs(w, w->p, w->n, &keyed);
    /* Not w->sorted: the cache still holds pairs, and the caller may
     * append one after this (an_wsamples_sort's flag alone says the set
     * is ready for the queries). */
    if (w->n <= w->max_pairs / 2)
        return 0;
    an_qhist *h = malloc(sizeof(*h));
    if (h == NULL)
        return -1;
    an_qhist_init(h);
    if ((keyed ? an_qhist_add_pairs_sorted : an_qhist_add_pairs)(h, w->p, w->n) != 0) {
        an_qhist_free(h);
        free(h);
        return -1;
    }
    free(w->p);
    free(w->tmp);
    w->p = w->tmp = NULL;
    w->n = w->cap = w->tmp_cap = 0;
    w->hist = h;
    w->overflow = 1;
    return 0;
}

void an_wsamples_free(an_wsamples *w)
{
    free(w->p);
    free(w->cache);
    free(w->tmp);
    if (w->hist != NULL) {
        an_qhist_free(w->hist);
        free(w->hist);
    }
    an_wsamples_init(w, w->max_pairs);
}
