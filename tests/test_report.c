/*
 * test_report.c: the analysis observer and reports fed by hand-made step
 * and request records (no engine): summary.json values that read back
 * exactly, latencies of an empty set, and timeseries.csv's timestamps,
 * idle and long stretches and row limit; which method each latency used
 * (summary.json, the terminal and the HTML report).
 * Expected values are the inputs themselves.
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
#include <unistd.h>

#include <cmocka.h>

#include "analysis/html_report.h"
#include "analysis/metrics.h"
#include "analysis/plot_int.h"
#include "analysis/report.h"
#include "sim/engine.h"

static sim_config config(void)
{
    sim_gpu g;
    sim_model m;
    char err[512];
    if (sim_gpu_lookup("a100-80gb", &g, err, sizeof(err)) != 0 ||
        sim_model_lookup("llama-2-7b", &m, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    sim_config c;
    sim_config_defaults(&c, &g, &m);
    return c;
}

/* A pool of 1,000 bytes, all free. */
static sim_memory_plan plan(void)
{
    sim_memory_plan p;
    memset(&p, 0, sizeof(p));
    p.kv_pool_bytes = 1000;
    p.kv_bytes_per_token = 10;
    return p;
}

/* Writes summary.json (or the terminal summary) for RES and M into a
 * string the caller frees. */
static char *report(const sim_result *res, const an_metrics *m, bool json)
{
    sim_config c = config();
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    an_run_info info = {&c, res, m, "test", 0.0};
    if (json)
        assert_int_equal(an_write_summary_json(fp, &info), 0);
    else
        an_print_summary(fp, &info);
    fclose(fp);
    return buf;
}

/* The number after "KEY": in JSON, or NAN when KEY is missing. */
static double json_value(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    const char *p = strstr(json, pat);
    return p != NULL ? strtod(p + strlen(pat), NULL) : NAN;
}

/* A makespan of 21,602,739.541 s printed with 9 significant digits read
 * back as 21,602,739.5 (issue 12): every double must round-trip. */
static void test_summary_values_round_trip(void **state)
{
    (void)state;
    an_metrics m;
    an_metrics_init(&m, NULL, NULL, 1.0);
    sim_observer o = an_metrics_observer(&m);
    sim_memory_plan p = plan();
    o.on_start(o.ctx, &p);
    sim_result r;
    memset(&r, 0, sizeof(r));
    r.plan = p;
    r.makespan_s = 21602739.541;
    r.busy_s = 0.1 + 0.2; /* 0.30000000000000004: needs 17 digits */
    r.output_tokens = 7;
    an_metrics_finish(&m, r.makespan_s);
    char *json = report(&r, &m, true);
    if (json_value(json, "makespan_s") != r.makespan_s || json_value(json, "busy_s") != r.busy_s)
        fail_msg("makespan_s / busy_s do not round-trip:\n%s", json);
    assert_true(json_value(json, "output_tokens_per_s") == 7 / r.makespan_s);
    assert_non_null(strstr(json, "\"makespan_s\": 21602739.541,")); /* and stay short */
    char buf[AN_NUM_LEN];
    assert_string_equal(an_fmt_double(buf, 0.01), "0.01");
    assert_string_equal(an_fmt_double(buf, 0.1 + 0.2), "0.30000000000000004");
    assert_string_equal(an_fmt_double(buf, INFINITY), "null");
    free(json);
    an_metrics_free(&m);
}

/* Nothing completed: latencies have no value (null, n/a), not 0. */
static void test_latency_of_nothing(void **state)
{
    (void)state;
    an_metrics m;
    an_metrics_init(&m, NULL, NULL, 1.0);
    sim_observer o = an_metrics_observer(&m);
    sim_memory_plan p = plan();
    o.on_start(o.ctx, &p);
    sim_request_record rq = {.arrival_s = 0,
                             .first_token_s = -1,
                             .finish_s = 0,
                             .status = SIM_REQ_REJECTED,
                             .reason = SIM_REJECT_PROMPT_TOO_LONG};
    o.on_request(o.ctx, &rq);
    sim_result r;
    memset(&r, 0, sizeof(r));
    r.plan = p;
    r.total = r.rejected = 1;
    an_metrics_finish(&m, 0);
    char *json = report(&r, &m, true);
    const char *want = "\"ttft\": {\"mean\": null, \"p50\": null, \"p90\": null, \"p99\": null, "
                       "\"count\": 0}";
    if (strstr(json, want) == NULL)
        fail_msg("no null latencies in:\n%s", json);
    free(json);
    char *text = report(&r, &m, false);
    json = report(&r, &m, true);
    const char *line = strstr(text, "  TTFT");
    assert_non_null(line);
    const char *na = "  TTFT            n/a        n/a        n/a        n/a        n/a        n/a"
                     "        n/a        n/a\n";
    if (strncmp(line, na, strlen(na)) != 0)
        fail_msg("TTFT line is not n/a:\n%s", text);
    assert_non_null(strstr(text, "  E2EL            n/a"));
    /* The vllm bench block: null, as the other latencies. */
    assert_non_null(strstr(json, "\"mean_ttft_ms\": null, \"median_ttft_ms\": null"));
    free(json);
    free(text);
    an_metrics_free(&m);
}

/* A step of [START, END) with ALLOC bytes allocated (token states). */
static sim_step_record step(double start, double end, uint64_t alloc)
{
    sim_step_record s;
    memset(&s, 0, sizeof(s));
    s.start_s = start;
    s.end_s = end;
    s.decode_seqs = 1;
    s.output_tokens = 1;
    s.running = s.running_after = 1;
    s.mem.token_states = alloc;
    s.mem.free = 1000 - alloc;
    s.mem_after = s.mem;
    return s;
}

/* Reads timeseries.csv's time_s column from TEXT into T (at most MAX);
 * returns the row count. */
static size_t ts_times(const char *text, double *t, size_t max)
{
    size_t n = 0;
    const char *p = strchr(text, '\n'); /* after the header */
    while (p != NULL && p[1] != '\0' && n < max) {
        t[n++] = strtod(p + 1, NULL);
        p = strchr(p + 1, '\n');
    }
    return n;
}

/* Steps of 0.2 ms sampled every 0.2 ms: time_s printed with 3 decimals
 * gave 0.000 three times. Each row's time now reads back as the grid
 * point it stands for. */
static void test_timeseries_times_distinct(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    an_metrics m;
    an_metrics_init(&m, NULL, fp, 2e-4);
    sim_observer o = an_metrics_observer(&m);
    sim_memory_plan p = plan();
    o.on_start(o.ctx, &p);
    for (int k = 0; k < 5; k++) {
        sim_step_record s = step(k * 2e-4, (k + 1) * 2e-4, 100 + 100 * (uint64_t)k);
        o.on_step(o.ctx, &s);
    }
    an_metrics_finish(&m, 1e-3);
    fclose(fp);
    double t[16];
    size_t n = ts_times(buf, t, 16);
    assert_true(n >= 5);
    for (size_t i = 1; i < n; i++)
        if (!(t[i] > t[i - 1]))
            fail_msg("row %zu: time_s %.17g after %.17g:\n%s", i, t[i], t[i - 1], buf);
    for (size_t i = 0; i < 5; i++)
        assert_true(fabs(t[i] - (double)i * 2e-4) < 1e-15);
    free(buf);
    an_metrics_free(&m);
}

/* Runs STEPS (N of them) through a metrics observer writing timeseries
 * at INTERVAL_S, with at most MAX_ROWS rows (0: the default), into *CSV
 * (the caller frees it, and M with an_metrics_free). */
static void ts_run(an_metrics *m, char **csv, const sim_step_record *steps, int n,
                   double interval_s, uint64_t max_rows, double makespan_s)
{
    size_t len = 0;
    FILE *fp = open_memstream(csv, &len);
    assert_non_null(fp);
    an_metrics_init(m, NULL, fp, interval_s);
    if (max_rows)
        m->ts_max_rows = max_rows;
    sim_observer o = an_metrics_observer(m);
    sim_memory_plan p = plan();
    o.on_start(o.ctx, &p);
    for (int k = 0; k < n; k++)
        o.on_step(o.ctx, &steps[k]);
    an_metrics_finish(m, makespan_s);
    fclose(fp);
}

/* Two requests 1,000,000 s apart wrote a row per second of the idle gap
 * (46 MB, issue 12). Rows that would repeat the one before are left out:
 * t = 0 (first step), 1 (after it: the step counted), 1,000,000 (second
 * step) and the makespan (its step counted). */
static void test_timeseries_skips_idle(void **state)
{
    (void)state;
    sim_step_record st[2] = {step(0, 0.5, 100), step(1e6, 1e6 + 0.5, 200)};
    st[0].mem_after.token_states = 0;
    st[0].mem_after.free = 1000;
    st[0].running_after = 0;
    an_metrics m;
    char *csv = NULL;
    ts_run(&m, &csv, st, 2, 1.0, 0, 1e6 + 0.5);
    double t[8];
    size_t n = ts_times(csv, t, 8);
    if (n != 4 || t[0] != 0 || t[1] != 1 || t[2] != 1e6 || t[3] != 1e6 + 0.5)
        fail_msg("%zu rows:\n%s", n, csv);
    /* Steps, tokens, then preemptions, prompt and output tokens since the row before. */
    assert_non_null(strstr(csv, "\n1,0,0,0,0,0,0,0,1000,0.0000,1,1,0,0,1\n"));
    assert_non_null(strstr(csv, "\n1000000,1,0,200,0,0,0,0,800,20.0000,0,0,0,0,0\n"));
    assert_non_null(strstr(csv, "\n1000000.5,1,0,200,0,0,0,0,800,20.0000,1,1,0,0,1\n"));
    assert_int_equal(m.ts_rows, 4);
    assert_false(m.ts_truncated);
    free(csv);
    an_metrics_free(&m);
}

/* A step longer than the interval (--flops-eff 1e-9 made them hours
 * long; --ts-interval 1e-9 wrote 3.3 GB in 60 s) gives one row, not one
 * per grid point: 1,000 s at 1 ns would be 10^12 rows. */
static void test_timeseries_long_step(void **state)
{
    (void)state;
    sim_step_record st[1] = {step(0, 1000, 300)};
    an_metrics m;
    char *csv = NULL;
    ts_run(&m, &csv, st, 1, 1e-9, 0, 1000);
    double t[8];
    size_t n = ts_times(csv, t, 8);
    if (n != 2 || t[0] != 0 || t[1] != 1000)
        fail_msg("%zu rows:\n%s", n, csv);
    free(csv);
    an_metrics_free(&m);
}

/* Past the row limit rows stop, and the summary says so. */
static void test_timeseries_row_limit(void **state)
{
    (void)state;
    sim_step_record st[10];
    for (int k = 0; k < 10; k++)
        st[k] = step(k, k + 1, 100 * (uint64_t)(k % 2 + 1));
    an_metrics m;
    char *csv = NULL;
    ts_run(&m, &csv, st, 10, 1.0, 3, 10);
    double t[16];
    assert_int_equal(ts_times(csv, t, 16), 3);
    assert_int_equal(m.ts_rows, 3);
    assert_true(m.ts_truncated);
    sim_result r;
    memset(&r, 0, sizeof(r));
    r.plan = plan();
    r.makespan_s = 10;
    char *json = report(&r, &m, true);
    if (strstr(json, "\"timeseries\": {\"interval_s\": 1, \"rows\": 3, \"truncated\": true}") ==
        NULL)
        fail_msg("no truncation flag in:\n%s", json);
    char *text = report(&r, &m, false);
    assert_non_null(strstr(text, "timeseries   stopped at its limit of 3 rows"));
    free(text);
    free(json);
    free(csv);
    an_metrics_free(&m);
    assert_int_equal(AN_TS_MAX_ROWS, 10000000); /* the README's figure */
}

/* Which method each latency used: "exact" up to the limit, "histogram"
 * past it (here a test's limit of 3 TTFT, TPOT and E2EL values, 5
 * requests), in summary.json's latency_method and in a terminal line that
 * only appears past the limit. */
/* plot_thin_rows (analysis/plot_thin.c): a long time series drawn in
 * columns keeps what a drawing of every row would show. The thinning it
 * replaced (every k-th row) missed a peak one row wide: the expected rows
 * here are worked out by hand from the column rule, (t - t0) / (t1 - t0)
 * x COLS. */
static void test_plot_thin_rows(void **state)
{
    (void)state;
    enum { N = 100000, COLS = 700 };
    double *t = malloc(N * sizeof(double)), *a = malloc(N * sizeof(double)),
           *b = malloc(N * sizeof(double));
    size_t *out = malloc(N * sizeof(size_t));
    assert_non_null(t);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(out);
    for (size_t i = 0; i < N; i++) {
        t[i] = (double)i * 0.5; /* irregular gaps do not matter: columns are of time */
        a[i] = 10 + (double)(i % 7);
        b[i] = 50;
    }
    a[54321] = 1000; /* a peak one row wide */
    b[54330] = 3;    /* a dip, in the same column (143 rows a column) */
    const double *area[1] = {a};
    size_t m = plot_thin_rows(t, area, 1, N, COLS, 0, out);
    assert_true(m <= COLS + 2);
    assert_true(m >= COLS); /* every column holds rows */
    assert_int_equal(out[0], 0);
    assert_int_equal(out[m - 1], N - 1);
    int peak = 0;
    for (size_t j = 0; j < m; j++) {
        if (j > 0)
            assert_true(out[j] > out[j - 1]);
        peak |= out[j] == 54321;
    }
    assert_true(peak);
    /* Lines: each key's lowest and highest row of a column, in time order. */
    const double *lines[2] = {a, b};
    m = plot_thin_rows(t, lines, 2, N, COLS, 1, out);
    assert_true(m <= 4 * COLS + 2);
    int seen_peak = 0, seen_dip = 0;
    for (size_t j = 0; j < m; j++) {
        if (j > 0)
            assert_true(out[j] > out[j - 1]);
        seen_peak |= out[j] == 54321;
        seen_dip |= out[j] == 54330;
    }
    assert_true(seen_peak && seen_dip);
    /* Short series are drawn whole; a series at one instant keeps its
     * highest row and its last. */
    m = plot_thin_rows(t, area, 1, 2 * COLS, COLS, 0, out);
    assert_int_equal(m, 2 * COLS);
    for (size_t i = 0; i < N; i++)
        t[i] = 7;
    m = plot_thin_rows(t, area, 1, N, COLS, 0, out);
    assert_int_equal(m, 3);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 54321);
    assert_int_equal(out[2], N - 1);
    free(t);
    free(a);
    free(b);
    free(out);
}

static void test_latency_method(void **state)
{
    (void)state;
    for (int past = 0; past < 2; past++) {
        an_metrics m;
        an_metrics_init(&m, NULL, NULL, 1.0);
        if (past) {
            an_samples_init_capped(&m.ttft_s, 3);
            an_samples_init_capped(&m.tpot_s, 3);
            an_samples_init_capped(&m.e2el_s, 3);
        }
        sim_observer o = an_metrics_observer(&m);
        sim_memory_plan p = plan();
        o.on_start(o.ctx, &p);
        for (int k = 0; k < 5; k++) {
            sim_request_record rq = {.arrival_s = k,
                                     .first_scheduled_s = k,
                                     .first_token_s = k + 0.1 * (k + 1),
                                     .finish_s = k + 1,
                                     .output_tokens = 4,
                                     .status = SIM_REQ_COMPLETED};
            o.on_request(o.ctx, &rq);
        }
        o.on_token_gaps(o.ctx, 1, 0.25, 3);
        sim_result r;
        memset(&r, 0, sizeof(r));
        r.plan = p;
        r.total = r.completed = 5;
        r.makespan_s = 5;
        an_metrics_finish(&m, r.makespan_s);
        char *json = report(&r, &m, true);
        char *text = report(&r, &m, false);
        char want[512];
        const char *meth = past ? "histogram" : "exact";
        snprintf(want, sizeof(want),
                 "\"latency_method\": {\"ttft\": \"%s\", \"tpot\": \"%s\", \"itl\": \"exact\", "
                 "\"e2el\": \"%s\", \"queue\": \"log_histogram\", \"prefill\": \"log_histogram\", "
                 "\"exact_max_values\": %d, \"itl_exact_max_gaps\": 262144, "
                 "\"histogram_rel_err\": 3.0517578125e-05, \"log_histogram_rel_err\": 0.0005},",
                 meth, meth, meth, past ? 3 : 2097152);
        if (strstr(json, want) == NULL)
            fail_msg("no %s in:\n%s", want, json);
        const char *line = "  TTFT, TPOT, E2EL: past the exact limit, percentiles from a histogram "
                           "(within 0.0031 %)\n";
        if ((strstr(text, line) != NULL) != past)
            fail_msg("the terminal line is %s:\n%s", past ? "missing" : "there", text);
        /* The HTML report says it too, from summary.json. */
        char dir[] = "/tmp/kvsim_test_report_XXXXXX", path[64];
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/summary.json", dir);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(json, fp);
        fclose(fp);
        char *html = NULL, err[512];
        size_t len = 0;
        fp = open_memstream(&html, &len);
        if (an_write_html_report(dir, fp, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        fclose(fp);
        const char *note = "<p>ttft, tpot, e2el: past the exact limit, percentiles from a "
                           "histogram (within 0.0031 %)</p>";
        if ((strstr(html, note) != NULL) != past)
            fail_msg("the HTML note is %s:\n%s", past ? "missing" : "there", html);
        free(html);
        unlink(path);
        rmdir(dir);
        free(text);
        free(json);
        an_metrics_free(&m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_values_round_trip),
        cmocka_unit_test(test_latency_of_nothing),
        cmocka_unit_test(test_timeseries_times_distinct),
        cmocka_unit_test(test_timeseries_skips_idle),
        cmocka_unit_test(test_timeseries_long_step),
        cmocka_unit_test(test_timeseries_row_limit),
        cmocka_unit_test(test_latency_method),
        cmocka_unit_test(test_plot_thin_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
