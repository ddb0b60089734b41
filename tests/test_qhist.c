/*
 * test_qhist.c: analysis/qhist.c, the bounded histogram behind the exact
 * samples: its stated error bound (AN_QHIST_REL_ERR, 2^-15) on bucket
 * edges, where it is nearly reached, and on a synthetic set against the
 * exact percentiles of analysis/samples.c (numpy's method, tested against
 * numpy in test_samples.c); the exact minimum and maximum; values below
 * and above its range; the running mean and std; its memory.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analysis/qhist.h"
#include "analysis/samples.h"

/* The bound with room for the interpolation's own rounding (a few units
 * in the last place, far below 1e-9 of the bound). */
static double bound(double exact)
{
    return AN_QHIST_REL_ERR * fabs(exact) * (1 + 1e-9);
}

/* Fails with the values printed unless GOT is within the bound of EXACT. */
static void assert_within(const char *what, double got, double exact)
{
    if (!(fabs(got - exact) <= bound(exact)))
        fail_msg("%s: got %.17g, exact %.17g, relative error %.3g > %.3g", what, got, exact,
                 fabs(got - exact) / exact, AN_QHIST_REL_ERR);
}

/* The value the histogram reports for X alone among a smaller minimum and
 * a larger maximum (rank 1 of 3: neither end, so the bucket's value). */
static double reported(double x)
{
    an_qhist h;
    an_qhist_init(&h);
    assert_int_equal(an_qhist_add_n(&h, x / 4, 1), 0);
    assert_int_equal(an_qhist_add_n(&h, x, 1), 0);
    assert_int_equal(an_qhist_add_n(&h, x * 4, 1), 0);
    double v = an_qhist_rank(&h, 1);
    an_qhist_free(&h);
    return v;
}

/* Bucket edges: the first bucket of a binade is [2^e, 2^e (1 + 2^-14)),
 * the widest relatively, so its two ends are the worst case: their error
 * is (hi - lo) / (hi + lo) = 2^-14 / (2 + 2^-14), just under 2^-15. The
 * last bucket of a binade is the narrowest. Every value checked is within
 * the bound, and the worst is within 0.01 % of it (the bound is tight). */
static void test_bucket_edges(void **state)
{
    (void)state;
    double worst = 0;
    for (int e = -35; e <= 35; e += 5) {
        for (uint32_t j = 0; j < (1u << AN_QHIST_SUB_BITS); j += 1023) {
            double lo = ldexp(1.0 + (double)j / 16384.0, e);
            double hi = ldexp(1.0 + (double)(j + 1) / 16384.0, e);
            double xs[3] = {lo, nextafter(hi, 0), (lo + hi) / 2};
            for (int k = 0; k < 3; k++) {
                double got = reported(xs[k]);
                char what[64];
                snprintf(what, sizeof(what), "2^%d bucket %u value %d", e, j, k);
                assert_within(what, got, xs[k]);
                double rel = fabs(got - xs[k]) / xs[k];
                if (rel > worst)
                    worst = rel;
            }
        }
    }
    if (!(worst > AN_QHIST_REL_ERR * 0.9999))
        fail_msg("worst relative error %.6g, expected close to the bound %.6g", worst,
                 AN_QHIST_REL_ERR);
}

/* The generator of test_samples.c, mapped onto six decades: values from
 * 1 ms to 1,000 s, log-uniform, every seventh repeated (ties). */
static void lcg_log(double *out, size_t n)
{
    uint64_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(x >> 11) / 9007199254740992.0;
        out[i] = i % 7 == 6 ? out[i - 1] : 1e-3 * pow(1e6, u);
    }
}

/* 300,000 values: every percentile numpy's method gives on the exact
 * values (a grid of p, and vllm bench serve's) is matched within the
 * bound, the median too; min and max exactly; mean and std within 1e-12
 * of numpy's pairwise ones; 18 binades of counters (2.25 MiB). */
static void test_against_exact(void **state)
{
    (void)state;
    size_t n = 300000;
    double *v = malloc(n * sizeof(double));
    assert_non_null(v);
    lcg_log(v, n);
    an_samples exact;
    an_samples_init(&exact);
    an_qhist h;
    an_qhist_init(&h);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(an_samples_add(&exact, v[i]), 0);
        assert_int_equal(an_qhist_add_n(&h, v[i], 1), 0);
    }
    an_samples_sort(&exact);
    assert_int_equal(h.n, n);
    double worst = 0;
    for (int k = 0; k <= 1000; k++) {
        double p = k / 10.0;
        double want = an_samples_percentile(&exact, p), got = an_qhist_percentile(&h, p);
        char what[64];
        snprintf(what, sizeof(what), "p%g", p);
        assert_within(what, got, want);
        if (fabs(got - want) / want > worst)
            worst = fabs(got - want) / want;
    }
    static const double bench[] = {90, 95, 99, 99.9, 99.99, 0.01};
    for (size_t k = 0; k < sizeof(bench) / sizeof(bench[0]); k++)
        assert_within("vllm bench percentile", an_qhist_percentile(&h, bench[k]),
                      an_samples_percentile(&exact, bench[k]));
    assert_within("median", an_qhist_median(&h), an_samples_median(&exact));
    assert_true(an_qhist_percentile(&h, 0) == an_samples_percentile(&exact, 0));
    assert_true(an_qhist_max(&h) == an_samples_max(&exact));
    double mean = an_samples_mean(&exact), std = an_samples_std(&exact);
    if (!(fabs(an_qhist_mean(&h) - mean) <= 1e-12 * mean))
        fail_msg("mean %.17g, numpy's %.17g", an_qhist_mean(&h), mean);
    if (!(fabs(an_qhist_std(&h) - std) <= 1e-12 * std))
        fail_msg("std %.17g, numpy's %.17g", an_qhist_std(&h), std);
    /* 1 ms .. 1,000 s: binades 2^-10 .. 2^9. */
    assert_true(an_qhist_bytes(&h) <= 20u * 16384u * 8u);
    assert_true(worst > 0); /* not exact: the bound is what holds */
    an_qhist_free(&h);
    an_samples_free(&exact);
    free(v);
}

/* Counts: a value added C times is C ranks; zeros (below the range) are
 * reported as the largest of them, here exactly 0; a value past 2^40 s
 * is only ever the maximum. */
static void test_counts_and_ranges(void **state)
{
    (void)state;
    an_qhist h;
    an_qhist_init(&h);
    assert_int_equal(an_qhist_add_n(&h, 0, 3), 0);
    assert_int_equal(an_qhist_add_n(&h, 0.5, 4), 0);  /* a power of two: its bucket's low end */
    assert_int_equal(an_qhist_add_n(&h, 0.75, 0), 0); /* nothing */
    assert_int_equal(an_qhist_add_n(&h, 2e12, 1), 0);
    assert_int_equal(h.n, 8);
    assert_true(an_qhist_rank(&h, 0) == 0 && an_qhist_rank(&h, 2) == 0);
    for (uint64_t r = 3; r < 7; r++)
        assert_within("rank of 0.5", an_qhist_rank(&h, r), 0.5);
    assert_true(an_qhist_rank(&h, 7) == 2e12);
    /* numpy: p50 of [0,0,0,.5,.5,.5,.5,2e12] is index 3.5, 0.5. */
    assert_within("p50", an_qhist_percentile(&h, 50), 0.5);
    assert_within("median", an_qhist_median(&h), 0.5);
    assert_true(an_qhist_bytes(&h) == 16384u * 8u); /* one binade: 0.5's */
    an_qhist_free(&h);
    /* Empty: no value. */
    an_qhist_init(&h);
    assert_true(isnan(an_qhist_percentile(&h, 50)) && isnan(an_qhist_mean(&h)) &&
                isnan(an_qhist_std(&h)) && isnan(an_qhist_max(&h)) && isnan(an_qhist_median(&h)));
    an_qhist_free(&h);
}

/* The worst case for memory: one value in every binade of the range, 80
 * binades of 16,384 counters, 10 MiB; values outside it cost nothing. */
static void test_memory_bound(void **state)
{
    (void)state;
    an_qhist h;
    an_qhist_init(&h);
    for (int e = -60; e <= 60; e++)
        assert_int_equal(an_qhist_add_n(&h, ldexp(1.5, e), 1), 0);
    assert_true(an_qhist_bytes(&h) == (uint64_t)AN_QHIST_BINADES * 16384u * 8u);
    assert_true(an_qhist_bytes(&h) <= 10u * 1048576u);
    an_qhist_free(&h);
}

/* an_qhist_add_pairs leaves the histogram as an_qhist_add_n pair by pair
 * does, bit for bit: counts, range and the running sums (pairs with zero
 * counts, below and above the range, from an empty and a used one); so
 * does an_qhist_add_pairs_sorted with the pairs in ascending order. */
static int cmp_pair(const void *a, const void *b)
{
    double x = ((const an_qhist_pair *)a)->v, y = ((const an_qhist_pair *)b)->v;
    return (x > y) - (x < y);
}

static void test_add_pairs_as_add_n(void **state)
{
    (void)state;
    enum { N = 20000 };
    an_qhist_pair *p = malloc(N * sizeof(*p));
    assert_non_null(p);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double u = (double)(x >> 11) / 9007199254740992.0;
        p[i].v = i % 997 == 0 ? 0.0 : i % 991 == 0 ? 3e12 : ldexp(1.0 + u, (int)(x % 30) - 20);
        p[i].c = i % 101 == 0 ? 0 : 1 + x % 1000;
    }
    /* The same pairs in ascending order for an_qhist_add_pairs_sorted
     * (equal values, -0 and +0 among them, and zero counts at the ends). */
    an_qhist_pair *q = malloc(N * sizeof(*q));
    assert_non_null(q);
    memcpy(q, p, N * sizeof(*q));
    for (int i = 0; i < N; i += 1499)
        q[i].v = -0.0;
    qsort(q, N, sizeof(*q), cmp_pair);
    q[0].c = 0;
    q[N - 1].c = 0;
    for (int mode = 0; mode <= 2; mode++) {
        int split = mode == 1;
        if (mode == 2)
            memcpy(p, q, N * sizeof(*p));
        an_qhist a, b;
        an_qhist_init(&a);
        an_qhist_init(&b);
        size_t from = split ? N / 3 : 0;
        for (size_t i = 0; i < from; i++) {
            assert_int_equal(an_qhist_add_n(&a, p[i].v, p[i].c), 0);
            assert_int_equal(an_qhist_add_n(&b, p[i].v, p[i].c), 0);
        }
        for (size_t i = from; i < N; i++)
            assert_int_equal(an_qhist_add_n(&a, p[i].v, p[i].c), 0);
        if (mode == 2)
            assert_int_equal(an_qhist_add_pairs_sorted(&b, p + from, N - from), 0);
        else
            assert_int_equal(an_qhist_add_pairs(&b, p + from, N - from), 0);
        assert_memory_equal(a.binade_n, b.binade_n, sizeof(a.binade_n));
        for (int k = 0; k < AN_QHIST_BINADES; k++) {
            assert_true((a.bins[k] == NULL) == (b.bins[k] == NULL));
            if (a.bins[k] != NULL)
                assert_memory_equal(a.bins[k], b.bins[k], (sizeof(uint64_t) << AN_QHIST_SUB_BITS));
        }
        const double da[] = {a.low_max, a.min, a.max,   a.shift, a.sum,
                             a.sum_c,   a.dev, a.dev_c, a.sq,    a.sq_c};
        const double db[] = {b.low_max, b.min, b.max,   b.shift, b.sum,
                             b.sum_c,   b.dev, b.dev_c, b.sq,    b.sq_c};
        assert_memory_equal(da, db, sizeof(da));
        assert_true(a.n == b.n && a.low_n == b.low_n && a.high_n == b.high_n);
        an_qhist_free(&a);
        an_qhist_free(&b);
    }
    free(q);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_edges),       cmocka_unit_test(test_against_exact),
        cmocka_unit_test(test_counts_and_ranges),  cmocka_unit_test(test_memory_bound),
        cmocka_unit_test(test_add_pairs_as_add_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
