/*
 * test_workloads.c: workload generators, specs and transforms
 * (workloads/source.h).
 *
 * The means of the presets are checked on 100,000 requests against the
 * published figures (the acceptance test: sharegpt within 2 %);
 * the rest checks shapes (Gamma CV, Zipf ratios, clamped means),
 * reproducibility (one stream per component), the chat preset's prefix
 * structure, the transforms' order and arithmetic, and that every bad
 * spec gives one line naming what is wrong.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads/source.h"

static char g_data[1024];

/* Opens SPEC with SEED or fails. */
static wl_source *spec_ok(const char *spec, uint64_t seed)
{
    char err[1024];
    wl_source *s = NULL;
    int rc = wl_open_spec(&s, spec, seed, err, sizeof err);
    if (rc != 0)
        fail_msg("'%s': %d: %s", spec, rc, err);
    return s;
}

/* Summary of a source read to its end. */
typedef struct sums {
    uint64_t n;
    double in, out, first, last;
    double gap_sum, gap_sq; /* inter-arrival gaps */
    uint32_t in_min, in_max, out_min, out_max;
} sums;

static sums drain(wl_source *s)
{
    sums m;
    memset(&m, 0, sizeof m);
    m.in_min = m.out_min = UINT32_MAX;
    trace_request q;
    int rc;
    double prev = 0;
    while ((rc = wl_next(s, &q)) == 1) {
        if (q.index != m.n)
            fail_msg("index %llu at position %llu", (unsigned long long)q.index,
                     (unsigned long long)m.n);
        if (m.n > 0 && q.arrival_s < prev)
            fail_msg("arrival %.9f after %.9f", q.arrival_s, prev);
        if (q.input_tokens < 1 || q.output_tokens < 1)
            fail_msg("empty request at %llu", (unsigned long long)m.n);
        if (m.n == 0)
            m.first = q.arrival_s;
        else {
            double g = q.arrival_s - prev;
            m.gap_sum += g;
            m.gap_sq += g * g;
        }
        prev = m.last = q.arrival_s;
        m.in += q.input_tokens;
        m.out += q.output_tokens;
        m.in_min = q.input_tokens < m.in_min ? q.input_tokens : m.in_min;
        m.in_max = q.input_tokens > m.in_max ? q.input_tokens : m.in_max;
        m.out_min = q.output_tokens < m.out_min ? q.output_tokens : m.out_min;
        m.out_max = q.output_tokens > m.out_max ? q.output_tokens : m.out_max;
        m.n++;
    }
    if (rc != 0)
        fail_msg("error: %s", wl_errmsg(s));
    assert_int_equal(wl_next(s, &q), 0);
    m.in /= (double)m.n;
    m.out /= (double)m.n;
    return m;
}

static void near_rel(double got, double want, double rel, const char *what)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("%s: got %.4f, want %.4f within %.1f %% (off by %.2f %%)", what, got, want,
                 100 * rel, 100 * (got - want) / want);
}

/* ---------------------------------------------------------- presets */

static void test_sharegpt_means(void **state)
{
    (void)state;
    wl_source *s = spec_ok("sharegpt:n=100000,rate=2", 0);
    sums m = drain(s);
    assert_int_equal(m.n, 100000);
    /* vLLM paper, sec. 6.1: ShareGPT mean input 161.31, output 337.99 tokens. */
    near_rel(m.in, 161.31, 0.02, "sharegpt input mean");
    near_rel(m.out, 337.99, 0.02, "sharegpt output mean");
    near_rel((double)(m.n - 1) / (m.last - m.first), 2.0, 0.02, "sharegpt rate");
    assert_true(m.in_max <= 2048 && m.out_max <= 2048);
    print_message("sharegpt n=100000 seed 0: input mean %.2f (%.2f %%), output mean %.2f "
                  "(%.2f %%)\n",
                  m.in, 100 * (m.in - 161.31) / 161.31, m.out, 100 * (m.out - 337.99) / 337.99);
    wl_close(s);
    /* Other seeds too. */
    for (uint64_t seed = 1; seed <= 3; seed++) {
        s = spec_ok("sharegpt:n=100000", seed);
        m = drain(s);
        near_rel(m.in, 161.31, 0.02, "sharegpt input mean (seed 1..3)");
        near_rel(m.out, 337.99, 0.02, "sharegpt output mean (seed 1..3)");
        wl_close(s);
    }
}

static void test_other_preset_means(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        double in, out, rate;
    } p[] = {
        {"alpaca:n=100000", 19.31, 58.45, 1.0},
        {"azure-conv:n=100000", 1155, 211, 5.53},
        {"azure-code:n=100000", 2048, 28, 2.57},
    };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        wl_source *s = spec_ok(p[i].spec, 0);
        sums m = drain(s);
        near_rel(m.in, p[i].in, 0.02, p[i].spec);
        near_rel(m.out, p[i].out, 0.02, p[i].spec);
        near_rel((double)(m.n - 1) / (m.last - m.first), p[i].rate, 0.05, p[i].spec);
        wl_close(s);
    }
    wl_source *s = spec_ok("azure-conv:n=20000", 0);
    sums m = drain(s);
    assert_int_equal(m.out_max, 1000); /* conv outputs are capped at 1000 */
    wl_close(s);
}

/* ---------------------------------------------------------- arrivals */

static void test_arrival_processes(void **state)
{
    (void)state;
    /* Gamma: mean gap 1/rate and the requested coefficient of variation. */
    wl_source *s = spec_ok("gamma:rate=4,cv=3,n=200000;in=fixed:1;out=fixed:1", 5);
    sums m = drain(s);
    double k = (double)(m.n - 1), mean = m.gap_sum / k;
    double cv = sqrt(m.gap_sq / k - mean * mean) / mean;
    near_rel(mean, 0.25, 0.05, "gamma mean gap");
    near_rel(cv, 3.0, 0.05, "gamma cv");
    wl_close(s);
    s = spec_ok("poisson:rate=4,n=200000;in=fixed:1;out=fixed:1", 5);
    m = drain(s);
    mean = m.gap_sum / k;
    cv = sqrt(m.gap_sq / k - mean * mean) / mean;
    near_rel(cv, 1.0, 0.02, "poisson cv");
    assert_true(m.first == 0.0);
    wl_close(s);
    /* Gamma with cv < 1: smoother than Poisson. */
    s = spec_ok("gamma:rate=4,cv=0.25,n=100000;in=fixed:1;out=fixed:1", 5);
    m = drain(s);
    mean = m.gap_sum / (double)(m.n - 1);
    cv = sqrt(m.gap_sq / (double)(m.n - 1) - mean * mean) / mean;
    near_rel(cv, 0.25, 0.05, "gamma cv 0.25");
    wl_close(s);

    /* Constant: request i at exactly i / rate (to the nanosecond). */
    s = spec_ok("constant:rate=3,n=1000;in=fixed:7;out=fixed:9", 0);
    trace_request q;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(wl_next(s, &q), 1);
        assert_true(q.arrival_s == (double)llround(i / 3.0 * 1e9) / 1e9);
        assert_int_equal(q.input_tokens, 7);
        assert_int_equal(q.output_tokens, 9);
        assert_int_equal(q.has_session, 0);
        assert_int_equal(q.num_hash_ids, 0);
    }
    assert_int_equal(wl_next(s, &q), 0);
    wl_close(s);
    /* Batch: all at once. */
    s = spec_ok("batch:n=50,at=2.5;in=fixed:1;out=fixed:1", 0);
    m = drain(s);
    assert_int_equal(m.n, 50);
    assert_true(m.first == 2.5 && m.last == 2.5);
    wl_close(s);
    s = spec_ok("sharegpt:n=10;arrival=batch", 0);
    m = drain(s);
    assert_true(m.first == 0.0 && m.last == 0.0);
    wl_close(s);
    /* A preset's cv turns Poisson into Gamma. */
    s = spec_ok("sharegpt:n=100000,rate=10,cv=4", 0);
    m = drain(s);
    mean = m.gap_sum / (double)(m.n - 1);
    cv = sqrt(m.gap_sq / (double)(m.n - 1) - mean * mean) / mean;
    near_rel(cv, 4.0, 0.08, "sharegpt cv=4");
    assert_non_null(strstr(wl_describe(s), "arrival=gamma:rate=10,cv=4"));
    wl_close(s);
}

/* ----------------------------------------------------- distributions */

static void test_length_distributions(void **state)
{
    (void)state;
    wl_source *s = spec_ok("poisson:rate=1,n=100000;in=uniform:min=10,max=20;out=fixed:5", 1);
    sums m = drain(s);
    assert_int_equal(m.in_min, 10);
    assert_int_equal(m.in_max, 20);
    near_rel(m.in, 15.0, 0.01, "uniform mean");
    assert_true(m.out == 5.0);
    wl_close(s);

    /* Clamping at min=1 would raise a naive normal's mean; the location is solved. */
    s = spec_ok("poisson:rate=1,n=100000;in=normal:mean=50,sd=60;out=normal:mean=300,sd=20,"
                "min=250,max=320",
                1);
    m = drain(s);
    near_rel(m.in, 50.0, 0.02, "clamped normal mean");
    near_rel(m.out, 300.0, 0.01, "doubly clamped normal mean");
    assert_true(m.out_min >= 250 && m.out_max <= 320);
    wl_close(s);

    /* A cap close to the mean: most mass at the cap, mean still as asked. */
    s = spec_ok("poisson:rate=1,n=100000;in=lognormal:mean=900,sigma=1.5,max=1000;"
                "out=lognormal:mean=3,sigma=2",
                1);
    m = drain(s);
    near_rel(m.in, 900.0, 0.01, "capped lognormal mean");
    near_rel(m.out, 3.0, 0.03, "small lognormal mean");
    assert_int_equal(m.in_max, 1000);
    wl_close(s);

    /* Zipf: P(k) ~ k^-s, so count(1) / count(2) = 2^s. */
    s = spec_ok("poisson:rate=1,n=200000;in=zipf:s=1.2,max=100;out=zipf:s=0.5,min=10,max=19", 2);
    trace_request q;
    uint64_t c1 = 0, c2 = 0, c3 = 0, lo = 0, n = 0;
    while (wl_next(s, &q) == 1) {
        assert_true(q.input_tokens >= 1 && q.input_tokens <= 100);
        assert_true(q.output_tokens >= 10 && q.output_tokens <= 19);
        c1 += q.input_tokens == 1;
        c2 += q.input_tokens == 2;
        c3 += q.input_tokens == 3;
        lo += q.output_tokens == 10;
        n++;
    }
    near_rel((double)c1 / (double)c2, pow(2, 1.2), 0.03, "zipf 1:2");
    near_rel((double)c1 / (double)c3, pow(3, 1.2), 0.04, "zipf 1:3");
    double h = 0;
    for (int k = 1; k <= 10; k++)
        h += pow(k, -0.5);
    near_rel((double)lo / (double)n, 1.0 / h, 0.03, "zipf s=0.5 P(min)");
    wl_close(s);
}

static void test_empirical(void **state)
{
    (void)state;
    char spec[8192];
    /* Same file on both sides: whole rows, so only the file's pairs appear. */
    snprintf(spec, sizeof spec,
             "constant:rate=1,n=3000;in=empirical:file=%s/lengths_basic.csv;"
             "out=empirical:file=%s/lengths_basic.csv",
             g_data, g_data);
    wl_source *s = spec_ok(spec, 3);
    trace_request q;
    int seen[3] = {0, 0, 0};
    while (wl_next(s, &q) == 1) {
        if (q.input_tokens == 74 && q.output_tokens == 918)
            seen[0]++;
        else if (q.input_tokens == 290 && q.output_tokens == 905)
            seen[1]++;
        else if (q.input_tokens == 1402 && q.output_tokens == 711)
            seen[2]++;
        else
            fail_msg("pair (%u, %u) is not a row of the table", q.input_tokens, q.output_tokens);
    }
    for (int i = 0; i < 3; i++)
        assert_true(seen[i] > 900 && seen[i] < 1100);
    wl_close(s);
    /* A trace works too, and a different file on the other side draws independently. */
    snprintf(spec, sizeof spec,
             "poisson:rate=1,n=2000;in=empirical:file=%s/kvsim_basic.csv;"
             "out=empirical:file=%s/vidur_basic.csv,format=vidur",
             g_data, g_data);
    s = spec_ok(spec, 3);
    int combos = 0, seen9[9] = {0};
    while (wl_next(s, &q) == 1) {
        int a = q.input_tokens == 100 ? 0 : q.input_tokens == 200 ? 1 : 2;
        int b = q.output_tokens == 10 ? 0 : q.output_tokens == 8 ? 1 : 2;
        assert_true(q.input_tokens == 100 || q.input_tokens == 200 || q.input_tokens == 300);
        assert_true(q.output_tokens == 10 || q.output_tokens == 8 || q.output_tokens == 1);
        if (!seen9[a * 3 + b]++)
            combos++;
    }
    assert_int_equal(combos, 9);
    wl_close(s);
}

/* ------------------------------------------------------ reproducibility */

static void test_reproducible(void **state)
{
    (void)state;
    const char *spec = "azure-conv:n=2000";
    wl_source *a = spec_ok(spec, 42), *b = spec_ok(spec, 42), *c = spec_ok(spec, 43);
    trace_request qa, qb, qc;
    int differ = 0;
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(wl_next(a, &qa), 1);
        assert_int_equal(wl_next(b, &qb), 1);
        assert_int_equal(wl_next(c, &qc), 1);
        assert_true(qa.arrival_s == qb.arrival_s);
        assert_int_equal(qa.input_tokens, qb.input_tokens);
        assert_int_equal(qa.output_tokens, qb.output_tokens);
        differ += qa.input_tokens != qc.input_tokens;
    }
    assert_true(differ > 1000);
    wl_close(a);
    wl_close(b);
    wl_close(c);
    /* One stream per component: changing the outputs leaves arrivals and inputs alone. */
    a = spec_ok("poisson:rate=3,n=500;in=lognormal:mean=100,sigma=1;out=fixed:5", 9);
    b = spec_ok("poisson:rate=3,n=500;in=lognormal:mean=100,sigma=1;out=zipf:s=1,max=50", 9);
    for (int i = 0; i < 500; i++) {
        assert_int_equal(wl_next(a, &qa), 1);
        assert_int_equal(wl_next(b, &qb), 1);
        assert_true(qa.arrival_s == qb.arrival_s);
        assert_int_equal(qa.input_tokens, qb.input_tokens);
    }
    wl_close(a);
    wl_close(b);
}

/* -------------------------------------------------------------- chat */

static void test_chat(void **state)
{
    (void)state;
    enum { N = 20000, MAXS = 20000 };
    wl_source *s = spec_ok("chat:n=20000,rate=1,turns=5,think=30,sys=1100,max_ctx=8192", 4);
    assert_int_equal(wl_get_fields(s), TRACE_FIELD_HASH_IDS | TRACE_FIELD_SESSION);
    /* The last request of each session: its input and full-block ids. */
    static uint64_t last_ids[MAXS][16];
    static uint32_t last_in[MAXS], turns[MAXS];
    trace_request q;
    double prev = 0;
    uint64_t n = 0, multi = 0;
    while (wl_next(s, &q) == 1) {
        assert_true(q.arrival_s >= prev);
        prev = q.arrival_s;
        assert_int_equal(q.has_session, 1);
        assert_true(q.session_id < MAXS);
        assert_true(q.input_tokens <= 8192 && q.input_tokens > 1100);
        assert_int_equal(q.num_hash_ids, (q.input_tokens + 511) / 512);
        /* The system prompt's two full blocks are 0 and 1 in every session. */
        assert_true(q.hash_ids[0] == 0 && q.hash_ids[1] == 1);
        assert_true(q.hash_ids[2] >= 2);
        uint64_t sid = q.session_id;
        if (turns[sid] > 0) {
            multi++;
            /* A later turn: the history grew, and the previous full blocks are its prefix. */
            assert_true(q.input_tokens > last_in[sid]);
            for (uint32_t b = 0; b < last_in[sid] / 512; b++)
                if (q.hash_ids[b] != last_ids[sid][b])
                    fail_msg("session %llu turn %u: block %u id %llu, was %llu",
                             (unsigned long long)sid, turns[sid] + 1, b,
                             (unsigned long long)q.hash_ids[b],
                             (unsigned long long)last_ids[sid][b]);
            /* The block after them is new content: a new id. */
            uint32_t nb = last_in[sid] / 512;
            if (nb < q.num_hash_ids)
                assert_true(q.hash_ids[nb] != last_ids[sid][nb] || nb >= 16);
        }
        turns[sid]++;
        last_in[sid] = q.input_tokens;
        for (uint32_t b = 0; b < q.num_hash_ids && b < 16; b++)
            last_ids[sid][b] = q.hash_ids[b];
        n++;
    }
    assert_int_equal(n, N);
    assert_true(multi > N / 2); /* most requests are later turns */
    wl_close(s);
}

/* ------------------------------------------------------------ errors */

static void test_bad_specs(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *reason;
    } bad[] = {
        {"", "empty spec"},
        {"llama", "unknown workload 'llama' (presets: sharegpt"},
        {"sharegpt:n=0", "sharegpt: n: '0' is not an integer in [1, 1000000000000]"},
        {"sharegpt:n=1e3", "n: '1e3' is not an integer"},
        {"sharegpt:rate=-1", "sharegpt: rate: '-1' is not a number in (0, 1e+09]"},
        {"sharegpt:rate=abc", "rate: 'abc'"},
        {"sharegpt:rate=nan", "rate: 'nan'"},
        {"sharegpt:rate=2,rate=3", "sharegpt: rate given twice"},
        {"sharegpt:turns=3", "sharegpt: unknown key 'turns' (known: n, rate, cv)"},
        {"sharegpt:n", "sharegpt: 'n' is not KEY=VALUE"},
        {"sharegpt:n=5,", "sharegpt: empty parameter"},
        {"sharegpt;", "empty clause"},
        {"sharegpt;foo=1", "'foo=1': unknown clause (expected in=DIST, out=DIST or "
                           "arrival=PROCESS)"},
        {"sharegpt;in=fixed:5;in=fixed:6", "'in=fixed:6': in= given twice"},
        {"sharegpt;in=gauss:mean=5", "in=gauss: unknown length distribution"},
        {"sharegpt;in=fixed", "in=fixed: a length is required"},
        {"sharegpt;in=fixed:0", "in=fixed: value: '0' is not an integer"},
        {"sharegpt;in=uniform", "in=uniform: parameters required (e.g. uniform:min=1,max=512)"},
        {"sharegpt;in=uniform:min=5", "in=uniform: missing max="},
        {"sharegpt;in=uniform:min=9,max=5", "in=uniform: min (9) must be >= 1 and <= max (5)"},
        {"sharegpt;out=lognormal:mean=500", "out=lognormal: missing sigma="},
        {"sharegpt;out=lognormal:mean=5000,sigma=1,max=100",
         "out=lognormal: mean 5000 must lie strictly between min 1 and max 100"},
        {"sharegpt;out=normal:mean=5,sd=0", "out=normal: sd: '0' is not a number in (0"},
        {"sharegpt;out=zipf:s=1", "out=zipf: missing max="},
        {"sharegpt;out=zipf:s=1,max=9,x=2", "out=zipf: unknown key 'x' (known: s, max, min)"},
        {"sharegpt;in=empirical:format=kvsim", "in=empirical: missing file="},
        {"sharegpt;in=empirical:file=x,format=csv", "in=empirical: format: unknown format 'csv'"},
        {"sharegpt;arrival=uniform:rate=1", "arrival=uniform: unknown arrival process"},
        {"sharegpt;arrival=gamma:rate=1", "arrival=gamma: missing cv="},
        {"sharegpt;arrival=poisson:rate=1,cv=2", "arrival=poisson: unknown key 'cv' (known: rate)"},
        {"poisson:rate=5", "poisson: an arrival process needs in=DIST and out=DIST"},
        {"poisson:rate=5;in=fixed:5", "poisson: an arrival process needs out=DIST"},
        {"poisson:n=5;in=fixed:5;out=fixed:5", "poisson: missing rate="},
        {"gamma:rate=5,cv=0;in=fixed:5;out=fixed:5", "gamma: cv: '0' is not a number in (0, 100]"},
        {"poisson:rate=5;in=fixed:5;out=fixed:5;arrival=batch",
         "arrival= changes a preset's arrivals"},
        {"batch:at=-1;in=fixed:1;out=fixed:1", "batch: at: '-1'"},
        {"chat:sys=9000,max_ctx=8192", "chat: sys (9000) must be below max_ctx (8192)"},
        {"chat:turns=0.5", "chat: turns: '0.5' is not a number in [1, 1000]"},
        /* arrivals past TRACE_MAX_SPAN_S, refused before any is made */
        {"sharegpt:n=100000000000", "n=100000000000 at 1 requests a second spans about 1e+11 s"},
        {"poisson:n=2000000000,rate=1;in=fixed:5;out=fixed:5", "past the 1e+09 s a run holds"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[1024] = "";
        wl_source *s = (wl_source *)&s;
        int rc = wl_open_spec(&s, bad[i].spec, 0, err, sizeof err);
        if (rc != TRACE_EARG || s != NULL || strstr(err, bad[i].reason) == NULL ||
            strchr(err, '\n') != NULL || strncmp(err, "workload '", 10) != 0)
            fail_msg("spec '%s': got %d '%s'; want '%s'", bad[i].spec, rc, err, bad[i].reason);
    }
    /* The example a process without in= is given is a spec that opens
     * (batch has no rate, gamma needs a cv). */
    static const char *const heads[] = {"poisson:rate=5", "gamma:rate=4,cv=2", "constant:rate=2",
                                        "batch:n=5"};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        char err[1024] = "";
        wl_source *s = NULL;
        assert_int_equal(wl_open_spec(&s, heads[i], 0, err, sizeof err), TRACE_EARG);
        const char *ex = strstr(err, "(e.g. ");
        assert_non_null(ex);
        char spec[256];
        snprintf(spec, sizeof spec, "%.*s", (int)(strlen(ex + 6) - 1), ex + 6);
        wl_source *ok = NULL;
        if (wl_open_spec(&ok, spec, 0, err, sizeof err) != 0)
            fail_msg("%s: its example '%s' does not open: %s", heads[i], spec, err);
        wl_close(ok);
    }
    /* A file that cannot be read is a file error with the file's own message. */
    char err[1024];
    wl_source *s;
    int rc = wl_open_spec(&s, "sharegpt;in=empirical:file=/nonexistent.csv", 0, err, sizeof err);
    assert_int_equal(rc, TRACE_EFORMAT);
    assert_non_null(strstr(err, "/nonexistent.csv: cannot open"));
}

/* -------------------------------------------------------- transforms */

static wl_source *transformed(const char *spec, wl_transforms t)
{
    wl_source *s = spec_ok(spec, 0);
    char err[256];
    if (wl_apply_transforms(&s, &t, err, sizeof err) != 0)
        fail_msg("%s", err);
    return s;
}

static void test_transforms(void **state)
{
    (void)state;
    const char *spec = "constant:rate=10,n=1000;in=fixed:1;out=fixed:1";
    wl_transforms t;
    memset(&t, 0, sizeof t);
    /* Window [10, 20) s: requests 100..199, re-based. */
    t.has_window = 1;
    t.window_start_s = 10;
    t.window_end_s = 20;
    wl_source *s = transformed(spec, t);
    trace_request q;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(wl_next(s, &q), 1);
        assert_int_equal(q.index, i);
        assert_true(fabs(q.arrival_s - i / 10.0) < 1e-9);
        assert_int_equal(q.line, 101 + i);
    }
    assert_int_equal(wl_next(s, &q), 0);
    assert_non_null(strstr(wl_describe(s), "window [10, 20) s re-based to 0"));
    assert_non_null(strstr(wl_describe(s), "(kept 100 of 201 read)")); /* stops at 20.0 */
    wl_close(s);
    /* Then the rate scale divides the re-based times; the limit comes last. */
    t.rate_scale = 4;
    t.limit = 30;
    s = transformed(spec, t);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(wl_next(s, &q), 1);
        assert_true(fabs(q.arrival_s - i / 40.0) < 1e-9);
    }
    assert_int_equal(wl_next(s, &q), 0);
    wl_close(s);
    /* Sample: about P kept, seeded, reproducible, and before the limit. */
    memset(&t, 0, sizeof t);
    t.sample_p = 0.3;
    t.seed = 5;
    s = transformed("constant:rate=10,n=100000;in=fixed:1;out=fixed:1", t);
    sums m = drain(s);
    near_rel((double)m.n, 30000, 0.03, "sample 0.3");
    wl_close(s);
    t.limit = 10;
    s = transformed("constant:rate=10,n=100000;in=fixed:1;out=fixed:1", t);
    m = drain(s);
    assert_int_equal(m.n, 10);
    wl_close(s);
    /* An open-ended window; no transform asked: the source is unchanged. */
    memset(&t, 0, sizeof t);
    t.has_window = 1;
    t.window_start_s = 99.85;
    t.window_end_s = INFINITY;
    s = transformed(spec, t);
    m = drain(s);
    assert_int_equal(m.n, 1);
    wl_close(s);
    memset(&t, 0, sizeof t);
    s = spec_ok(spec, 0);
    wl_source *before = s;
    char err[256];
    assert_int_equal(wl_apply_transforms(&s, &t, err, sizeof err), 0);
    assert_ptr_equal(s, before);
    /* Bad values leave the source untouched. */
    t.sample_p = 1.5;
    assert_int_equal(wl_apply_transforms(&s, &t, err, sizeof err), TRACE_EARG);
    assert_ptr_equal(s, before);
    t.sample_p = 0;
    t.has_window = 1;
    t.window_start_s = 5;
    t.window_end_s = 5;
    assert_int_equal(wl_apply_transforms(&s, &t, err, sizeof err), TRACE_EARG);
    assert_non_null(strstr(err, "time window"));
    t.has_window = 0;
    t.rate_scale = -2;
    assert_int_equal(wl_apply_transforms(&s, &t, err, sizeof err), TRACE_EARG);
    wl_close(s);
}

/* ------------------------------------------------- trace-backed sources */

static void test_length_table_source(void **state)
{
    (void)state;
    char path[4200], err[1024];
    snprintf(path, sizeof path, "%s/lengths_basic.csv", g_data);
    wl_source *s;
    wl_trace_opts o = {TRACE_FORMAT_AUTO, NULL, 0.0, 0, 0, 0.0};
    assert_int_equal(wl_open_trace_ex(&s, path, &o, err, sizeof err), TRACE_EARG);
    assert_non_null(strstr(err, "a length table has no arrival times"));
    o.allow_no_arrivals = 1;
    assert_int_equal(wl_open_trace_ex(&s, path, &o, err, sizeof err), 0);
    sums m = drain(s);
    assert_true(m.n == 3 && m.last == 0.0);
    assert_int_equal(wl_has_arrivals(s), 0);
    assert_string_equal(wl_get_path(s), path);
    wl_close(s);
    o.allow_no_arrivals = 0;
    o.rate_per_s = 2;
    o.seed = 1;
    assert_int_equal(wl_open_trace_ex(&s, path, &o, err, sizeof err), 0);
    trace_request q;
    assert_int_equal(wl_next(s, &q), 1);
    assert_true(q.arrival_s == 0.0);
    assert_int_equal(q.input_tokens, 74);
    assert_int_equal(wl_next(s, &q), 1);
    assert_true(q.arrival_s > 0.0);
    assert_true(q.arrival_s == (double)llround(q.arrival_s * 1e9) / 1e9);
    assert_non_null(strstr(wl_describe(s), "(lengths, Poisson arrivals at 2 req/s)"));
    assert_int_equal(wl_has_arrivals(s), 1);
    wl_close(s);
    /* A trace with times refuses a rate. */
    snprintf(path, sizeof path, "%s/kvsim_basic.csv", g_data);
    assert_int_equal(wl_open_trace_ex(&s, path, &o, err, sizeof err), TRACE_EARG);
    assert_non_null(strstr(err, "this kvsim trace has arrival times"));
    /* Skipped rows show in the description once read. */
    snprintf(path, sizeof path, "%s/burstgpt_basic.csv", g_data);
    wl_trace_opts b = {TRACE_FORMAT_AUTO, "ChatGPT", 0.0, 0, 0, 0.0};
    assert_int_equal(wl_open_trace_ex(&s, path, &b, err, sizeof err), 0);
    m = drain(s);
    assert_int_equal(m.n, 2);
    assert_non_null(strstr(wl_describe(s), "1 failed requests (0 response tokens) skipped, 3 "
                                           "rows of other models skipped"));
    trace_counts c;
    wl_get_counts(s, &c);
    assert_int_equal(c.failed_skipped, 1);
    assert_int_equal(c.filtered_out, 3);
    wl_close(s);
}

static void test_legacy_synth(void **state)
{
    (void)state;
    wl_synth_params p = {10000, 8.0, 1155, 1.0, 211, 0.8, 8192, 2023};
    char err[256];
    wl_source *a, *b;
    assert_int_equal(wl_open_synth(&a, &p, err, sizeof err), 0);
    assert_int_equal(wl_open_synth(&b, &p, err, sizeof err), 0);
    sums ma = drain(a), mb = drain(b);
    assert_int_equal(ma.n, 10000);
    assert_true(ma.in == mb.in && ma.last == mb.last);
    near_rel(ma.in, 1155, 0.05, "synth input mean");
    assert_non_null(strstr(wl_describe(a), "synthetic: 10000 requests"));
    wl_close(a);
    wl_close(b);
    p.rate_per_s = 0;
    assert_int_equal(wl_open_synth(&a, &p, err, sizeof err), TRACE_EARG);
    wl_close(NULL);
}

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("KVSIM_SOURCE_DIR");
    snprintf(g_data, sizeof g_data, "%s/tests/data/traces", src != NULL ? src : ".");
    return 0;
}

/* --request-rate R --burstiness B on a length table: Gamma gaps of shape B
 * and scale 1/(R x B), as vllm bench serve draws them: mean 1/R, CV
 * 1/sqrt(B) (2 for B = 0.25). 20,000 gaps: the CV's sampling error is a
 * few percent. */
static void test_length_table_burstiness(void **state)
{
    (void)state;
    char path[] = "/tmp/kvsim_burst_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    fprintf(fp, "input_tokens,output_tokens\n");
    for (int i = 0; i < 20001; i++)
        fprintf(fp, "%d,%d\n", 10 + i % 50, 5 + i % 7);
    fclose(fp);
    wl_trace_opts o = {TRACE_FORMAT_AUTO, NULL, 2.0, 11, 0, 0.25};
    wl_source *src;
    char err[256];
    assert_int_equal(wl_open_trace_ex(&src, path, &o, err, sizeof(err)), 0);
    trace_request r;
    double prev = -1, sum = 0, sum2 = 0;
    int n = 0;
    while (wl_next(src, &r) == 1) {
        if (prev >= 0) {
            double g = r.arrival_s - prev;
            sum += g;
            sum2 += g * g;
            n++;
        }
        prev = r.arrival_s;
    }
    wl_close(src);
    unlink(path);
    double mean = sum / n, cv = sqrt(sum2 / n - mean * mean) / mean;
    if (fabs(mean - 0.5) > 0.03 || fabs(cv - 2.0) > 0.15)
        fail_msg("gaps: mean %.4f s (want 0.5), CV %.3f (want 2)", mean, cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sharegpt_means),
        cmocka_unit_test(test_other_preset_means),
        cmocka_unit_test(test_arrival_processes),
        cmocka_unit_test(test_length_distributions),
        cmocka_unit_test(test_empirical),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_transforms),
        cmocka_unit_test(test_length_table_source),
        cmocka_unit_test(test_length_table_burstiness),
        cmocka_unit_test(test_legacy_synth),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
