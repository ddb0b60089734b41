/*
 * test_samples.c: analysis/samples.c and the vllm-bench statistics of the
 * metrics observer: numpy's percentile (default linear method), median,
 * mean and std, on plain and on weighted (value, count) samples; goodput
 * as `vllm bench serve --goodput` counts it; the exact limit, at which
 * the statistics are still bit for bit the unlimited set's, and past it
 * the fallback on the histogram within its stated bound (qhist.h), alone
 * and through the metrics observer.
 *
 * Where expected values come from: the small cases are numpy's
 * definitions worked by hand (in the comments); the larger ones were
 * printed by numpy 1.24.2 (Debian 12's python3-numpy) for the same
 * generated values, with
 *   v = np.array(lcg(n)); np.mean(v), np.std(v), np.median(v),
 *   np.percentile(v, p) for p in (0, 50, 90, 95, 99, 99.9, 100)
 * where lcg is the generator below written in Python (integer arithmetic
 * mod 2^64, then the same two double operations), so the inputs are the
 * same doubles.
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

#include "analysis/hist.h"
#include "analysis/metrics.h"
#include "analysis/samples.h"

/* Fails with both values printed unless A == B exactly. */
#define assert_same(what, a, b)                                                                    \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(a_ == b_))                                                                           \
            fail_msg("%s: got %.17g, numpy %.17g", what, a_, b_);                                  \
    } while (0)

static void fill(an_samples *s, const double *v, size_t n)
{
    an_samples_init(s);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(an_samples_add(s, v[i]), 0);
    an_samples_sort(s);
}

/* [4, 1, 3, 2]: sorted 1..4; p90: index 3 x 0.9 = 2.7, between 3 and 4 at
 * 0.7, from the upper one (t >= 0.5): 4 - 1 x 0.3 = 3.7; p50: index 1.5,
 * 3 - 1 x 0.5 = 2.5; p25: index 0.75, 2 - 1 x 0.25 = 1.75; median (2 +
 * 3) / 2 = 2.5; mean 2.5; std sqrt((2.25 + 0.25 + 0.25 + 2.25) / 4) =
 * sqrt(1.25). */
static void test_small_by_hand(void **state)
{
    (void)state;
    double v[4] = {4, 1, 3, 2};
    an_samples s;
    fill(&s, v, 4);
    assert_same("p90", an_samples_percentile(&s, 90), 3.7);
    assert_same("p50", an_samples_percentile(&s, 50), 2.5);
    assert_same("p25", an_samples_percentile(&s, 25), 1.75);
    assert_same("p0", an_samples_percentile(&s, 0), 1);
    assert_same("p100", an_samples_percentile(&s, 100), 4);
    assert_same("median", an_samples_median(&s), 2.5);
    assert_same("mean", an_samples_mean(&s), 2.5);
    assert_same("std", an_samples_std(&s), sqrt(1.25));
    assert_same("max", an_samples_max(&s), 4);
    an_samples_free(&s);
    /* Empty: no value (NAN), as summary.json's null. */
    an_samples_init(&s);
    an_samples_sort(&s);
    assert_true(isnan(an_samples_percentile(&s, 50)) && isnan(an_samples_mean(&s)));
    an_samples_free(&s);
}

/* The generator, shared with the Python that produced the expectations. */
static void lcg(double *out, size_t n)
{
    uint64_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        out[i] = (double)(x >> 11) / 9007199254740992.0 * 3.0 + (i % 7 == 0 ? 0.001 : 0.0);
    }
}

static void test_against_numpy(void **state)
{
    (void)state;
    /* n, mean, std, median, p0, p50, p90, p95, p99, p99.9, p100 (numpy 1.24.2). */
    static const double want[][11] = {
        {1, 0.32973581795648388, 0, 0.32973581795648388, 0.32973581795648388, 0.32973581795648388,
         0.32973581795648388, 0.32973581795648388, 0.32973581795648388, 0.32973581795648388,
         0.32973581795648388},
        {2, 0.56294585285484877, 0.23321003489836484, 0.56294585285484877, 0.32973581795648388,
         0.56294585285484877, 0.74951388077354064, 0.7728348842633771, 0.79149168705524631,
         0.79568946768341686, 0.79615588775321355},
        {5, 1.4533738195821817, 0.94662714668163517, 0.9768931851564312, 0.32973581795648388,
         0.9768931851564312, 2.5970080784189999, 2.6269400282122195, 2.6508855880467954,
         2.6562733390095752, 2.6568719780054395},
        {8, 1.5631715900356071, 0.81967308160326269, 1.4284491584446322, 0.32973581795648388,
         1.4284491584446322, 2.5521101537291702, 2.6044910658673048, 2.6463957955778126,
         2.6558243597626769, 2.6568719780054395},
        {9, 1.6612123100717875, 0.82104096840367669, 1.6814166916902797, 0.32973581795648388,
         1.6814166916902797, 2.5371441788325604, 2.5970080784189999, 2.6448991980881518,
         2.6556747000137109, 2.6568719780054395},
        {127, 1.5093694199182379, 0.90114052695425129, 1.5406649959489771, 0.033937584198072357,
         1.5406649959489771, 2.7068403294398422, 2.8789686727729826, 2.9461785885415734,
         2.9673628238015199, 2.969985398399666},
        {128, 1.5009326670159797, 0.90263491126665663, 1.5382673803771767, 0.033937584198072357,
         1.5382673803771767, 2.7057859208400621, 2.8768906887491146, 2.946063483705196,
         2.9673420097174081, 2.969985398399666},
        {129, 1.508051135475303, 0.9027291870637586, 1.5406649959489771, 0.033937584198072357,
         1.5406649959489771, 2.7047315122402824, 2.8748127047252461, 2.9459483788688181,
         2.9673211956332954, 2.969985398399666},
        {1000, 1.5327211536991829, 0.87415417309844357, 1.520595760136078, 0.0027683131343306799,
         1.520595760136078, 2.7596717714712824, 2.8752530996533245, 2.9700613237908309,
         2.9972413325215204, 2.9989742664618113},
        {4099, 1.5123706434125763, 0.86932002783283746, 1.5169550147118063, 0.0020413622675681253,
         1.5169550147118063, 2.7213220693222779, 2.8605457607519669, 2.9700167822086168,
         2.9984726703801075, 3.000710642214186},
    };
    static const double ps[7] = {0, 50, 90, 95, 99, 99.9, 100};
    double v[4099];
    for (size_t c = 0; c < sizeof(want) / sizeof(want[0]); c++) {
        size_t n = (size_t)want[c][0];
        lcg(v, n);
        an_samples s;
        an_samples_init(&s);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(an_samples_add(&s, v[i]), 0);
        /* Mean and std in the order added (numpy's order), before sorting. */
        char what[64];
        snprintf(what, sizeof what, "n=%zu mean", n);
        assert_same(what, an_samples_mean(&s), want[c][1]);
        snprintf(what, sizeof what, "n=%zu std", n);
        assert_same(what, an_samples_std(&s), want[c][2]);
        an_samples_sort(&s);
        snprintf(what, sizeof what, "n=%zu median", n);
        assert_same(what, an_samples_median(&s), want[c][3]);
        for (int k = 0; k < 7; k++) {
            snprintf(what, sizeof what, "n=%zu p%g", n, ps[k]);
            assert_same(what, an_samples_percentile(&s, ps[k]), want[c][4 + k]);
        }
        an_samples_free(&s);
    }
}

/* Weighted samples stand for the expanded list: value i of lcg(n) repeated
 * (i mod 5) + 1 times, added in generation order (and each value added
 * in two parts, to exercise merging). numpy 1.24.2 on the expanded list:
 *   np.median(a), np.percentile(a, p) for p in (0, 50, 90, 95, 99, 99.9, 100) */
static void test_weighted_against_numpy(void **state)
{
    (void)state;
    static const double want[][10] = {
        {1, 1, 0.32973581795648388, 0.32973581795648388, 0.32973581795648388, 0.32973581795648388,
         0.32973581795648388, 0.32973581795648388, 0.32973581795648388, 0.32973581795648388},
        {2, 3, 0.79615588775321355, 0.32973581795648388, 0.79615588775321355, 0.79615588775321355,
         0.79615588775321355, 0.79615588775321355, 0.79615588775321355, 0.79615588775321355},
        {7, 18, 2.0315109985874815, 0.32973581795648388, 2.0315109985874815, 2.6568719780054395,
         2.6568719780054395, 2.6568719780054395, 2.6568719780054395, 2.6568719780054395},
        {300, 900, 1.557188977609383, 0.0030818949056872214, 1.557188977609383, 2.7382344445002973,
         2.8543706920646672, 2.9599303297741812, 2.9729132740739459, 2.9989742664618113},
    };
    static const double ps[7] = {0, 50, 90, 95, 99, 99.9, 100};
    double v[300];
    for (size_t c = 0; c < sizeof(want) / sizeof(want[0]); c++) {
        size_t n = (size_t)want[c][0];
        lcg(v, n);
        an_wsamples w;
        an_wsamples_init(&w, 1024);
        for (size_t i = 0; i < n; i++) {
            uint64_t k = i % 5 + 1;
            assert_int_equal(an_wsamples_add(&w, v[i], 1), 0);
            if (k > 1)
                assert_int_equal(an_wsamples_add(&w, v[i], k - 1), 0);
        }
        an_wsamples_sort(&w);
        assert_int_equal(w.total, (uint64_t)want[c][1]);
        char what[64];
        snprintf(what, sizeof what, "n=%zu median", n);
        assert_same(what, an_wsamples_median(&w), want[c][2]);
        for (int k = 0; k < 7; k++) {
            snprintf(what, sizeof what, "n=%zu p%g", n, ps[k]);
            assert_same(what, an_wsamples_percentile(&w, ps[k]), want[c][3 + k]);
        }
        an_wsamples_free(&w);
    }
    /* Past its limit the set compacts, then overflows into its histogram
     * when distinct values fill half of it. */
    an_wsamples w;
    an_wsamples_init(&w, 8);
    for (int i = 0; i < 40; i++)
        assert_int_equal(an_wsamples_add(&w, (double)(i % 3), 1), 0); /* 3 distinct: fits */
    an_wsamples_sort(&w);
    assert_false(w.overflow);
    assert_int_equal(w.total, 40);
    assert_same("median of 14 x 0, 13 x 1, 13 x 2", an_wsamples_median(&w), 1);
    for (int i = 0; i < 40; i++)
        assert_int_equal(an_wsamples_add(&w, 10.0 + i, 1), 0);
    assert_true(w.overflow);
    assert_non_null(w.hist);
    an_wsamples_sort(&w);
    /* 80 values: ranks 39 and 40 are 2 and 10, each within the bound. */
    assert_int_equal(w.total, 80);
    double med = an_wsamples_median(&w);
    assert_true(fabs(med - 6) <= 6 * AN_QHIST_REL_ERR);
    assert_same("max after the overflow", an_wsamples_max(&w), 49);
    assert_same("p0 after the overflow", an_wsamples_percentile(&w, 0), 0);
    an_wsamples_free(&w);
}

static sim_request_record done(double arrival, double first, double finish, uint32_t out)
{
    sim_request_record r;
    memset(&r, 0, sizeof(r));
    r.arrival_s = arrival;
    r.first_scheduled_s = arrival;
    r.first_token_s = first;
    r.finish_s = finish;
    r.output_tokens = out;
    r.status = SIM_REQ_COMPLETED;
    return r;
}

/* Fails with the values printed unless GOT is within the histogram's
 * bound of EXACT (qhist.h: 2^-15 relative, and the interpolation's
 * rounding, far below 1e-9 of it). */
static void assert_within(const char *what, double got, double exact)
{
    if (!(fabs(got - exact) <= AN_QHIST_REL_ERR * fabs(exact) * (1 + 1e-9)))
        fail_msg("%s: got %.17g, exact %.17g, relative error %.3g > %.3g", what, got, exact,
                 fabs(got - exact) / exact, AN_QHIST_REL_ERR);
}

/* A limit of 5,000 values: up to it the set is exact and its statistics
 * are bit for bit those of a set without a limit (numpy's, checked
 * above); one value more and it falls back on the histogram, frees its
 * array, and every statistic stays within the stated bound of the exact
 * one (mean and std within 1e-12), here for 120,000 values. */
static void test_capped(void **state)
{
    (void)state;
    size_t n = 120000, cap = 5000;
    double *v = malloc(n * sizeof(double));
    assert_non_null(v);
    lcg(v, n);
    static const double ps[] = {0, 0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
    size_t np = sizeof(ps) / sizeof(ps[0]);
    /* At the limit: exact. */
    an_samples a, b;
    an_samples_init_capped(&a, cap);
    an_samples_init(&b);
    for (size_t i = 0; i < cap; i++) {
        assert_int_equal(an_samples_add(&a, v[i]), 0);
        assert_int_equal(an_samples_add(&b, v[i]), 0);
    }
    an_samples_sort(&a);
    an_samples_sort(&b);
    assert_true(an_samples_exact(&a));
    assert_int_equal(a.n, cap);
    for (size_t k = 0; k < np; k++)
        assert_same("at the limit", an_samples_percentile(&a, ps[k]),
                    an_samples_percentile(&b, ps[k]));
    assert_same("median at the limit", an_samples_median(&a), an_samples_median(&b));
    assert_same("mean at the limit", an_samples_mean(&a), an_samples_mean(&b));
    assert_same("std at the limit", an_samples_std(&a), an_samples_std(&b));
    an_samples_free(&a);
    an_samples_free(&b);
    /* Past it: the histogram, every value counted. */
    an_samples_init_capped(&a, cap);
    an_samples_init(&b);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(an_samples_add(&a, v[i]), 0);
        assert_int_equal(an_samples_add(&b, v[i]), 0);
        if (i == cap) { /* the value that passed the limit */
            assert_false(an_samples_exact(&a));
            assert_null(a.v);
        }
    }
    an_samples_sort(&a);
    an_samples_sort(&b);
    assert_int_equal(a.n, n);
    assert_int_equal(a.hist->n, n);
    for (size_t k = 0; k < np; k++) {
        char what[64];
        snprintf(what, sizeof(what), "p%g past the limit", ps[k]);
        assert_within(what, an_samples_percentile(&a, ps[k]), an_samples_percentile(&b, ps[k]));
    }
    assert_within("median", an_samples_median(&a), an_samples_median(&b));
    assert_same("max", an_samples_max(&a), an_samples_max(&b));
    assert_same("p0", an_samples_percentile(&a, 0), an_samples_percentile(&b, 0));
    assert_true(fabs(an_samples_mean(&a) - an_samples_mean(&b)) <= 1e-12 * an_samples_mean(&b));
    assert_true(fabs(an_samples_std(&a) - an_samples_std(&b)) <= 1e-12 * an_samples_std(&b));
    /* Freed and reused: the limit stays. */
    an_samples_free(&a);
    assert_int_equal(a.max_exact, cap);
    assert_null(a.hist);
    an_samples_free(&b);
    free(v);
}

/* The same in the metrics observer: TTFT, TPOT and E2EL limited to
 * 1,000 values (a test's limit, as AN_EXACT_MAX_SAMPLES is the run's),
 * 1,000 requests are exact and the statistics equal the exact set's;
 * 20,000 fall back on the histogram (method AN_METHOD_HIST) within the
 * bound. The same with ITL past a limit of 64 pairs. */
static void test_metrics_capped(void **state)
{
    (void)state;
    static const size_t counts[2] = {1000, 20000};
    for (int c = 0; c < 2; c++) {
        size_t n = counts[c];
        double *v = malloc(2 * n * sizeof(double));
        assert_non_null(v);
        lcg(v, 2 * n);
        an_metrics m;
        an_metrics_init(&m, NULL, NULL, 1.0);
        an_samples_init_capped(&m.ttft_s, 1000);
        an_samples_init_capped(&m.tpot_s, 1000);
        an_samples_init_capped(&m.e2el_s, 1000);
        an_wsamples_free(&m.itl_exact);
        an_wsamples_init(&m.itl_exact, 64);
        sim_observer o = an_metrics_observer(&m);
        an_samples ttft, tpot, e2el, itl;
        an_samples_init(&ttft);
        an_samples_init(&tpot);
        an_samples_init(&e2el);
        an_samples_init(&itl);
        for (size_t i = 0; i < n; i++) {
            double arrival = (double)i, first = arrival + v[2 * i], out = 2 + (double)(i % 50);
            double finish = first + v[2 * i + 1] * (out - 1);
            sim_request_record r = done(arrival, first, finish, (uint32_t)out);
            o.on_request(o.ctx, &r);
            assert_int_equal(an_samples_add(&ttft, first - arrival), 0);
            assert_int_equal(an_samples_add(&e2el, finish - arrival), 0);
            assert_int_equal(an_samples_add(&tpot, (finish - first) / (out - 1)), 0);
            /* Token gaps: each request's value, twice. */
            o.on_token_gaps(o.ctx, finish, v[2 * i + 1], 2);
            assert_int_equal(an_samples_add(&itl, v[2 * i + 1]), 0);
            assert_int_equal(an_samples_add(&itl, v[2 * i + 1]), 0);
        }
        an_metrics_finish(&m, (double)n);
        an_samples_sort(&ttft);
        an_samples_sort(&tpot);
        an_samples_sort(&e2el);
        an_samples_sort(&itl);
        static const int kinds[4] = {AN_LAT_TTFT, AN_LAT_TPOT, AN_LAT_E2EL, AN_LAT_ITL};
        const an_samples *ref[4] = {&ttft, &tpot, &e2el, &itl};
        for (int k = 0; k < 4; k++) {
            an_latency_stats st;
            an_metrics_latency(&m, kinds[k], &st);
            const an_samples *e = ref[k];
            assert_int_equal(st.count, e->n);
            if (c == 0 && kinds[k] != AN_LAT_ITL) {
                assert_int_equal(st.method, AN_METHOD_EXACT);
                assert_true(st.exact);
                assert_same("exact p99", st.p99, an_samples_percentile(e, 99));
                assert_same("exact p99.9", st.p999, an_samples_percentile(e, 99.9));
                assert_same("exact median", st.median, an_samples_median(e));
                assert_same("exact mean", st.mean, an_samples_mean(e));
                assert_same("exact std", st.std, an_samples_std(e));
                continue;
            }
            assert_int_equal(st.method, AN_METHOD_HIST);
            assert_false(st.exact);
            assert_within("p90", st.p90, an_samples_percentile(e, 90));
            assert_within("p95", st.p95, an_samples_percentile(e, 95));
            assert_within("p99", st.p99, an_samples_percentile(e, 99));
            assert_within("p99.9", st.p999, an_samples_percentile(e, 99.9));
            assert_within("median", st.median, an_samples_median(e));
            assert_same("max", st.max, an_samples_max(e));
            assert_true(fabs(st.mean - an_samples_mean(e)) <= 1e-12 * an_samples_mean(e));
            assert_true(fabs(st.std - an_samples_std(e)) <= 1e-12 * an_samples_std(e));
        }
        an_samples_free(&ttft);
        an_samples_free(&tpot);
        an_samples_free(&e2el);
        an_samples_free(&itl);
        an_metrics_free(&m);
        free(v);
    }
    assert_string_equal(an_latency_method_name(AN_METHOD_EXACT), "exact");
    assert_string_equal(an_latency_method_name(AN_METHOD_HIST), "histogram");
    assert_string_equal(an_latency_method_name(AN_METHOD_LOG_HIST), "log_histogram");
}

/* vLLM's goodput: a request is good when every given objective is >= its
 * value; a one-token output counts TPOT 0. Requests (TTFT, TPOT):
 * (0.1, 0.01) good; (0.3, 0.01) TTFT over; (0.1, 0.05) TPOT over;
 * (0.2, one token) good (TPOT 0); (0.2, 0.015625) good: a TTFT equal to
 * the objective meets it. So with ttft 200 ms and tpot 20 ms: 3 good of 5,
 * over a 10 s makespan 0.3 req/s. */
static void test_goodput(void **state)
{
    (void)state;
    an_metrics m;
    an_metrics_init(&m, NULL, NULL, 1.0);
    an_slo slo = {0.2, 0.02, -1};
    an_metrics_set_slo(&m, &slo);
    sim_observer o = an_metrics_observer(&m);
    sim_request_record rs[5] = {
        done(0, 0.1, 0.1 + 0.01 * 10, 11),   done(0, 0.3, 0.3 + 0.01 * 10, 11),
        done(0, 0.1, 0.1 + 0.05 * 10, 11),   done(0, 0.2, 0.2, 1),
        done(0, 0.2, 0.2 + 0.015625 * 4, 5),
    };
    for (int k = 0; k < 5; k++)
        o.on_request(o.ctx, &rs[k]);
    an_metrics_finish(&m, 10);
    assert_int_equal(m.good, 3);
    assert_same("goodput", an_metrics_goodput(&m, 10), 0.3);
    /* TPOT over requests of 2+ tokens only: 4 values. */
    an_latency_stats st;
    an_metrics_latency(&m, AN_LAT_TPOT, &st);
    assert_int_equal(st.count, 4);
    an_metrics_latency(&m, AN_LAT_TTFT, &st);
    assert_int_equal(st.count, 5);
    assert_true(st.exact);
    an_metrics_free(&m);
    /* No objective: no goodput (null), not 0. */
    an_metrics_init(&m, NULL, NULL, 1.0);
    assert_true(isnan(an_metrics_goodput(&m, 10)));
    an_metrics_free(&m);
}

/* ITL from run-length token gaps: 3 tokens at 10 ms and 1 at 30 ms: mean
 * 15 ms, max 30 ms, std sqrt((3 x 25 + 225) / 4) = sqrt(75) ms. */
static void test_itl_runs(void **state)
{
    (void)state;
    an_metrics m;
    an_metrics_init(&m, NULL, NULL, 1.0);
    sim_observer o = an_metrics_observer(&m);
    o.on_token_gaps(o.ctx, 0.5, -1, 2); /* two first tokens: no gap */
    o.on_token_gaps(o.ctx, 0.6, 0.010, 3);
    o.on_token_gaps(o.ctx, 1.2, 0.030, 1);
    an_metrics_finish(&m, 1);
    an_latency_stats st;
    an_metrics_latency(&m, AN_LAT_ITL, &st);
    assert_int_equal(st.count, 4);
    assert_true(st.exact); /* numpy's definitions on (gap, count) pairs */
    assert_true(fabs(st.mean - 0.015) < 1e-15);
    assert_same("max", st.max, 0.030);
    assert_true(fabs(st.std - sqrt(75) * 1e-3) < 1e-12);
    assert_same("median of 10, 10, 10, 30 ms", st.median, 0.010);
    /* p90: index 3 x 0.9 = 2.7 between 10 and 30 ms, from the upper one:
     * 30 - 20 x 0.3 = 24 ms, in numpy's own arithmetic. */
    double t = 3 * 0.9 - 2;
    assert_same("p90", st.p90, 0.030 - (0.030 - 0.010) * (1 - t));
    /* Tokens per second of simulated time: [0, 1) has 2 + 3, [1, 2) has 1. */
    assert_int_equal(m.max_tok_bucket, 5);
    an_metrics_free(&m);
}

/* The histogram (analysis/hist.h) places every value where
 * the plain formula does, floor(log(v / 1 ns) / log(1 + 1/1024)): values
 * creeping up by a few ns as a merged run's step times do, values going
 * back and forth between two buckets, values on and
 * an ulp around 4,096 bucket edges (1.0 to 54 us), and jumps. */
static void test_hist_buckets(void **state)
{
    (void)state;
    an_hist h;
    an_hist_init(&h);
    double lg = log(1.0 + 1.0 / 1024.0);
    uint64_t added = 0;
    double vals[4096 * 3 + 20000];
    size_t nv = 0;
    for (int k = 0; k < 20000; k++)
        vals[nv++] = 7e-3 + k * 1.3e-9;        /* a run's creeping step times */
    for (int b = 7070; b < 7070 + 4096; b++) { /* edges from 1.0 to 54 us */
        double edge = 1e-9 * exp(b * lg);
        vals[nv++] = edge;
        vals[nv++] = nextafter(edge, 0);
        vals[nv++] = nextafter(edge, 1);
    }
    for (size_t i = 0; i < nv; i++) {
        double v = vals[i];
        size_t want = (size_t)(log(v / 1e-9) / lg);
        uint64_t before = h.counts ? h.counts[want] : 0;
        assert_int_equal(an_hist_add(&h, v), 0);
        added++;
        if (h.counts[want] != before + 1)
            fail_msg("value %.17g: not in bucket %zu", v, want);
    }
    assert_int_equal(h.n, added);
    an_hist_free(&h);
}

/* The cache slot an_wsamples gives V (samples.c's wslot), to build values
 * that take each other's slot. */
static size_t wslot_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return (size_t)((u * 0x9E3779B97F4A7C15ull) >> 32) & (AN_WCACHE - 1);
}

/* N values from START up that share START's cache slot. */
static void colliding(double start, double *out, size_t n)
{
    size_t s0 = wslot_of(start), k = 0;
    for (uint64_t i = 0; k < n; i++) {
        double v = start + (double)i * 1e-6;
        if (wslot_of(v) == s0)
            out[k++] = v;
    }
}

/* An add whose eviction compacts the full array is the last before the
 * sort: the sort must still move the cache's pairs in and sort the pair
 * appended after the compaction (the compaction leaves the array sorted
 * but not the set: the cache holds the value just added). Then every
 * count is in the pairs and the statistics are the multiset's. */
static void test_weighted_compact_last(void **state)
{
    (void)state;
    double v[3];
    colliding(1.0, v, 3);
    an_wsamples w;
    an_wsamples_init(&w, 8);
    an_samples ref;
    an_samples_init(&ref);
    /* A and B take turns in one slot: 8 evictions fill the array. */
    for (int i = 0; i < 9; i++) {
        assert_int_equal(an_wsamples_add(&w, v[i % 2], 1), 0);
        assert_int_equal(an_samples_add(&ref, v[i % 2]), 0);
    }
    /* C evicts A: the array is full, compacts to 2 pairs and takes A. */
    assert_int_equal(an_wsamples_add(&w, v[2], 5), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(an_samples_add(&ref, v[2]), 0);
    assert_int_equal(an_wsamples_sort(&w), 0);
    an_samples_sort(&ref);
    assert_false(w.overflow);
    uint64_t sum = 0;
    for (size_t i = 0; i < w.n; i++) {
        sum += w.p[i].c;
        if (i > 0)
            assert_true(w.p[i - 1].v < w.p[i].v);
    }
    assert_int_equal(sum, w.total);
    assert_int_equal(w.total, 14);
    assert_same("max", an_wsamples_max(&w), v[2]);
    static const double ps[] = {0, 10, 50, 64, 90, 100};
    for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++)
        assert_same("percentile", an_wsamples_percentile(&w, ps[k]),
                    an_samples_percentile(&ref, ps[k]));
    assert_same("median", an_wsamples_median(&w), an_samples_median(&ref));
    an_wsamples_free(&w);
    an_samples_free(&ref);
}

/* Adds, sorts and queries interleaved at random on values that collide in
 * the cache (evictions, compactions at any add, an overflow), against the
 * expanded list: the counts always sum to the total; exact statistics
 * equal the list's, the histogram's are within its bound. */
static void test_weighted_stress(void **state)
{
    (void)state;
    enum { NV = 40 };
    double pool[NV];
    colliding(0.01, pool, NV / 2);
    colliding(0.5, pool + NV / 2, NV / 2);
    uint64_t x = 12345;
    for (int round = 0; round < 200; round++) {
        size_t max_pairs = 4 + (size_t)(round % 29), distinct = 2 + (size_t)(round % 17);
        an_wsamples w;
        an_wsamples_init(&w, max_pairs);
        an_samples ref;
        an_samples_init(&ref);
        for (int i = 0; i < 400; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            double v = pool[(x >> 33) % distinct];
            uint64_t c = 1 + (x >> 20) % 3;
            assert_int_equal(an_wsamples_add(&w, v, c), 0);
            for (uint64_t j = 0; j < c; j++)
                assert_int_equal(an_samples_add(&ref, v), 0);
            if ((x >> 40) % 37 != 0 && i != 399)
                continue;
            assert_int_equal(an_wsamples_sort(&w), 0);
            an_samples_sort(&ref);
            assert_int_equal(w.total, ref.n);
            if (w.overflow) {
                assert_int_equal(w.hist->n, w.total);
                assert_same("max", an_wsamples_max(&w), an_samples_max(&ref));
                assert_within("p50", an_wsamples_percentile(&w, 50),
                              an_samples_percentile(&ref, 50));
                continue;
            }
            uint64_t sum = 0;
            for (size_t k = 0; k < w.n; k++)
                sum += w.p[k].c;
            assert_int_equal(sum, w.total);
            assert_same("max", an_wsamples_max(&w), an_samples_max(&ref));
            assert_same("p50", an_wsamples_percentile(&w, 50), an_samples_percentile(&ref, 50));
            assert_same("p99", an_wsamples_percentile(&w, 99), an_samples_percentile(&ref, 99));
            assert_same("median", an_wsamples_median(&w), an_samples_median(&ref));
        }
        an_wsamples_free(&w);
        an_samples_free(&ref);
    }
}

/* The sort tests' values: for a draw X, the value of FORM (0: 10-50 ms in
 * nanoseconds, 1: 37 values, 2: 0 to 1e6 s, zero included, negative too
 * where SIGNED_, 3: half of them a unit in the last place apart, half in
 * [0.5, 2), 4: the lowest 8 bits differ, 5: one value, a few others). */
static double sort_form_value(int form, uint64_t x, bool signed_)
{
    double v;
    switch (form) {
    case 0:
        return (double)(10000000 + (x >> 33) % 40000000) / 1e9;
    case 1:
        return 0.001 * (double)((x >> 33) % 37);
    case 2:
        v = (x >> 60) == 0
                ? 0.0
                : ldexp((double)(x >> 11) / 9007199254740992.0, (int)((x >> 3) % 60) - 30);
        if (signed_ && ((x >> 2) & 1) && v != 0) /* no -0: qsort orders it anywhere among 0 */
            v = -v;
        return v;
    case 3:
        if ((x >> 63) == 0)
            return 0.5 + 1.5 * (double)(x >> 11) / 9007199254740992.0;
        v = 1.0;
        for (uint64_t k = (x >> 33) % 1000; k > 0; k--)
            v = nextafter(v, 2.0);
        return v;
    case 4: {
        uint64_t bits;
        double one = 1.5;
        memcpy(&bits, &one, sizeof(bits));
        bits |= (x >> 40) & 0xff;
        memcpy(&v, &bits, sizeof(v));
        return v;
    }
    default:
        return (x >> 58) == 0 ? (double)(x >> 40) : 18.25;
    }
}

/* an_wsamples_sort on many pairs (its sort's digits, insertion and
 * fallback paths) against qsort's order of the same pairs, merged: values
 * in a narrow band (a run's gaps), few distinct ones repeated, a wide
 * range with zero, a thousand values a unit in the last place apart among
 * others (one digit of the first pass and of the second: the LSD sort
 * within), and
 * values that differ only in their lowest bits (the first digit last). */
static int cmp_double_v(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_pair_v(const void *a, const void *b)
{
    double x = ((const an_wpair *)a)->v, y = ((const an_wpair *)b)->v;
    return (x > y) - (x < y);
}

/* Sorts W and checks its pairs against REF's N (value, count) pairs
 * sorted by qsort, equal values merged (their counts summed), bit for
 * bit. */
static void assert_sorted_as_qsort(an_wsamples *w, an_wpair *ref, size_t n)
{
    assert_int_equal(an_wsamples_sort(w), 0);
    qsort(ref, n, sizeof(*ref), cmp_pair_v);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && ref[m - 1].v == ref[i].v)
            ref[m - 1].c += ref[i].c;
        else
            ref[m++] = ref[i];
    }
    assert_false(w->overflow);
    assert_int_equal(w->n, m);
    for (size_t i = 0; i < m; i++) {
        assert_memory_equal(&w->p[i].v, &ref[i].v, sizeof(double));
        assert_int_equal(w->p[i].c, ref[i].c);
    }
}

static void test_weighted_sort_large(void **state)
{
    (void)state;
    enum { N = 20000 };
    an_wpair *ref = malloc(N * sizeof(*ref));
    assert_non_null(ref);
    uint64_t x = 987654321;
    for (int form = 0; form < 5; form++) {
        an_wsamples w;
        an_wsamples_init(&w, 4 * N); /* no compaction before the sort */
        for (size_t i = 0; i < N; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            double v = sort_form_value(form, x, false);
            uint64_t c = 1 + (x >> 17) % 4;
            ref[i].v = v;
            ref[i].c = c;
            /* Straight to the array: the cache would merge repeats first. */
            w.bypass = 1;
            assert_int_equal(an_wsamples_add(&w, v, c), 0);
        }
        assert_sorted_as_qsort(&w, ref, N);
        an_wsamples_free(&w);
    }
    free(ref);
}

/* an_wsamples_sort where the values are whole nanoseconds, (double)ns /
 * 1e9, as the simulator's gaps (samples.c's sort_merge_ns: one, two and
 * three digits, one value for all, too many varying bits, and a value
 * that is not such a gap, first or last, which sends the pairs back to
 * the general sort), against qsort's order of the same pairs, merged. */
static double ns_form_value(int form, uint64_t x, size_t i, size_t n)
{
    switch (form) {
    case 0:
        return (double)((x >> 33) % 4000) / 1e9; /* one digit, zero included */
    case 1:
        return (double)(15000000 + (x >> 33) % 13000000) / 1e9; /* two */
    case 2:
        return (double)((x >> 30) % ((uint64_t)1 << 38)) / 1e9; /* three */
    case 3:
        return 0.018; /* one value */
    case 4:
        return (double)((x >> 20) % ((uint64_t)1 << 44)) / 1e9; /* too many bits */
    case 5: /* not a gap last: the integers back to values */
        return i + 1 == n ? 0.0180000005 : (double)(15000000 + (x >> 33) % 13000000) / 1e9;
    case 6: /* not a gap first */
        return i == 0 ? 1e-10 : (double)(15000000 + (x >> 33) % 13000000) / 1e9;
    default: /* past 2^50 ns */
        return (double)(((uint64_t)1 << 50) + (x >> 33) % 1000) / 1e9;
    }
}

static void test_weighted_sort_ns(void **state)
{
    (void)state;
    static const size_t sizes[] = {8191, 8192, 20000};
    uint64_t x = 55555;
    for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
        size_t n = sizes[z];
        an_wpair *ref = malloc(n * sizeof(*ref));
        assert_non_null(ref);
        for (int form = 0; form < 8; form++) {
            an_wsamples w;
            an_wsamples_init(&w, 4 * n); /* no compaction before the sort */
            for (size_t i = 0; i < n; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                double v = ns_form_value(form, x, i, n);
                uint64_t c = 1 + (x >> 17) % 4;
                ref[i].v = v;
                ref[i].c = c;
                w.bypass = 1; /* straight to the array */
                assert_int_equal(an_wsamples_add(&w, v, c), 0);
            }
            assert_sorted_as_qsort(&w, ref, n);
            an_wsamples_free(&w);
        }
        free(ref);
    }
}

/* an_wsamples_add_ns against an_wsamples_add of (double)ns / 1e9: the
 * same pairs and statistics, through the cache, the array, a compaction
 * and the histogram (a cap of 1,000 pairs), with gaps of whole
 * nanoseconds that repeat (the cache's hits), gaps that do not, and one
 * past 2^50 ns (no longer a nanosecond value to the sort). */
static void test_weighted_add_ns(void **state)
{
    (void)state;
    for (int big = 0; big < 2; big++) {
        an_wsamples a, b;
        an_wsamples_init(&a, 1000);
        an_wsamples_init(&b, 1000);
        uint64_t x = 77;
        for (int i = 0; i < 5000; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            int64_t ns = i % 3 == 0 ? 7000000 + (int64_t)(x >> 54) : 5000000 + (int64_t)(x >> 40);
            if (big && (i == 400 || i == 4990)) /* before and after the overflow */
                ns = ((int64_t)1 << 50) + 3;
            uint64_t c = 1 + (x >> 20) % 5;
            assert_int_equal(an_wsamples_add(&a, (double)ns / 1e9, c), 0);
            assert_int_equal(
                i % 2 ? an_wsamples_add_ns(&b, ns, c) : an_wsamples_add_ns_inline(&b, ns, c), 0);
            assert_int_equal(a.non_ns, b.non_ns);
        }
        assert_int_equal(an_wsamples_sort(&a), 0);
        assert_int_equal(an_wsamples_sort(&b), 0);
        assert_int_equal(a.total, b.total);
        assert_int_equal(a.overflow, b.overflow);
        const double ps[] = {0, 1, 50, 90, 99, 99.9, 100};
        for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
            double pa = an_wsamples_percentile(&a, ps[k]), pb = an_wsamples_percentile(&b, ps[k]);
            assert_memory_equal(&pa, &pb, sizeof(pa));
        }
        double ma = an_wsamples_mean(&a), mb = an_wsamples_mean(&b);
        assert_memory_equal(&ma, &mb, sizeof(ma));
        an_wsamples_free(&a);
        an_wsamples_free(&b);
    }
}

/* an_samples_sort (its MSD passes, insertion and LSD paths) against
 * qsort's order of the same values, bit for bit: the forms of
 * test_weighted_sort_large, negative values among them, at sizes on
 * either side of the MSD sort's range and its digits' widths. */
static void test_sort_large(void **state)
{
    (void)state;
    static const size_t sizes[] = {63, 64, 100, 1000, 20000, 70000};
    uint64_t x = 123456789;
    for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
        size_t n = sizes[z];
        double *ref = malloc(n * sizeof(*ref));
        assert_non_null(ref);
        for (int form = 0; form < 6; form++) {
            an_samples s;
            an_samples_init(&s);
            for (size_t i = 0; i < n; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                double v = sort_form_value(form, x, true);
                ref[i] = v;
                assert_int_equal(an_samples_add(&s, v), 0);
            }
            an_samples_sort(&s);
            qsort(ref, n, sizeof(*ref), cmp_double_v);
            assert_int_equal(s.n, n);
            for (size_t i = 0; i < n; i++)
                assert_memory_equal(&s.v[i], &ref[i], sizeof(double));
            an_samples_free(&s);
        }
        free(ref);
    }
}

/* A value past the top bucket (1e7 s and up, infinity included) between
 * two runs of the same bucket: the second run stays in its bucket, not
 * the top one (a bucket memo once placed it there). */
static void test_hist_top_bucket(void **state)
{
    (void)state;
    an_hist h;
    an_hist_init(&h);
    double lg = log(1.0 + 1.0 / 1024.0);
    size_t want = (size_t)(log(5.0 / 1e-9) / lg);
    const double vals[] = {5.0, 5.0, 2e7, 5.0, 5.0, INFINITY, 5.0};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        assert_int_equal(an_hist_add(&h, vals[i]), 0);
    assert_int_equal(h.counts[want], 5);
    an_hist_free(&h);
}

/* an_put_fixed9 (requests.csv's times) writes what printf's "%.9f"
 * writes, the reference being glibc's printf itself: halfway cases (a
 * binary value whose ninth decimal is followed by exactly 5: round half
 * to even), zeros of both signs, subnormals, values that round to zero
 * or carry into the integer part, the 2^33 limit where printf takes over,
 * infinities and NaN, and a million random doubles over 2^-40 .. 2^40. */
static void expect_fixed9(double v)
{
    char want[512], got[512];
    snprintf(want, sizeof(want), "%.9f", v);
    char *end = an_put_fixed9(got, v);
    *end = '\0';
    if (strcmp(want, got) != 0)
        fail_msg("an_put_fixed9(%a): '%s', printf: '%s'", v, got, want);
}

/* an_put_fixed with DIGITS decimals against printf's "%.<DIGITS>f". */
static void expect_fixed(double v, int digits)
{
    char want[512], got[512];
    snprintf(want, sizeof(want), "%.*f", digits, v);
    char *end = an_put_fixed(got, v, digits);
    *end = '\0';
    if (strcmp(want, got) != 0)
        fail_msg("an_put_fixed(%a, %d): '%s', printf: '%s'", v, digits, got, want);
}

static void test_fixed9_as_printf(void **state)
{
    (void)state;
    const double cases[] = {0.0,
                            -0.0,
                            1.0,
                            0.0009765625, /* 2^-10: 976562.5e-9, to even: ...562 */
                            0.0029296875, /* 3 x 2^-10: 2929687.5e-9, to even: ...688 */
                            1.0000000005,
                            0.9999999995,
                            0.99999999951,
                            1e-9,
                            4e-10,
                            5e-10,
                            6e-10,
                            -4e-10,
                            -1e-12,
                            123456.123456789,
                            8589934591.999999,
                            8589934592.0,
                            9.5e9,
                            1e19,
                            -3.25e15,
                            4.9406564584124654e-324,
                            2.2250738585072014e-308,
                            INFINITY,
                            -INFINITY,
                            NAN};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        expect_fixed9(cases[k]);
    /* Every k x 2^-n with a halfway ninth decimal, n = 10..33. */
    for (int n = 10; n <= 33; n++)
        for (int k = 1; k < 200; k += 2)
            expect_fixed9(ldexp(k, -n));
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 1000000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double mant = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
        int e = (int)((x >> 3) % 81) - 40;
        double v = ldexp(1.0 + mant, e);
        expect_fixed9((x & 1) ? -v : v);
        expect_fixed((x & 1) ? -v : v, 1 + (int)((x >> 20) % 9));
    }
    /* The other widths (timeseries.csv's "%.4f" percentages): halfway
     * cases k x 2^-n at each width, and percentages of a pool. */
    for (int d = 0; d <= 10; d++) {
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
            expect_fixed(cases[k], d);
        for (int n = 1; n <= 33; n++)
            for (int k = 1; k < 200; k += 2)
                expect_fixed(ldexp(k, -n), d);
    }
    for (uint64_t a = 0; a <= 100000; a += 7)
        expect_fixed(100.0 * (double)(a * 3221225472ULL) / (100000.0 * 3221225472.0), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_by_hand),
        cmocka_unit_test(test_fixed9_as_printf),
        cmocka_unit_test(test_against_numpy),
        cmocka_unit_test(test_weighted_against_numpy),
        cmocka_unit_test(test_goodput),
        cmocka_unit_test(test_itl_runs),
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_hist_top_bucket),
        cmocka_unit_test(test_capped),
        cmocka_unit_test(test_metrics_capped),
        cmocka_unit_test(test_weighted_compact_last),
        cmocka_unit_test(test_weighted_stress),
        cmocka_unit_test(test_weighted_sort_large),
        cmocka_unit_test(test_weighted_sort_ns),
        cmocka_unit_test(test_weighted_add_ns),
        cmocka_unit_test(test_sort_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
