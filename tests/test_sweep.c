/*
 * test_sweep.c: `kvsim sweep` end to end (the binary in KVSIM_BIN, runs
 * on a small generated workload in a temporary folder), the SLO search,
 * and the plot files.
 *
 * Expected values: range expansions by their definitions (1..16x2 is 1,
 * 2, 4, 8, 16); -j 1 and -j 3 give byte-identical curves (results are
 * ordered by point and seed, sim.wall_s is left out); a search on a fixed
 * seed set is deterministic, and its answer lies between the largest load
 * that met the objective and the smallest that missed it in a plain sweep
 * of the same loads (bisection keeps lo meeting and hi missing); plot
 * files are PNGs of AN_PLOT_WIDTH x AN_PLOT_HEIGHT (the IHDR chunk) and
 * SVGs, with the series the figure should have (6 memory categories, one
 * line per value of a second varied option).
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/test_proc.h"

#include "analysis/curves.h"
#include "analysis/plot.h"
#include "analysis/plot_int.h"
#include "sim/catalog.h"
#include "sim/config.h"
#include "sim/cost.h"

static char out[1 << 16];
static char tmp[256];

/* The kvsim binary with the arguments FMT makes, output into OUT. */
static int kvsim(const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return test_kvsim(args, out, sizeof(out));
}

#define BASE "--workload 'sharegpt:n=120,rate=20' --gpu a100-80gb --model llama-2-7b --quiet "

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/kvsim-test-sweep-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* A geometric range, two processes against one: the same curves. */
static void test_grid_and_jobs(void **state)
{
    (void)state;
    int rc = kvsim("sweep --vary max-num-seqs=1..16x2 -j 1 --out %s/j1 " BASE, tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    rc = kvsim("sweep --vary max-num-seqs=1..16x2 -j 3 --out %s/j3 " BASE, tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    char p1[512], p3[512];
    snprintf(p1, sizeof(p1), "%s/j1/curves.csv", tmp);
    snprintf(p3, sizeof(p3), "%s/j3/curves.csv", tmp);
    char *a = test_slurp(p1, NULL), *b = test_slurp(p3, NULL);
    if (strcmp(a, b) != 0)
        fail_msg("-j 1 and -j 3 curves differ");
    assert_int_equal(test_count_lines(a), 6); /* header + 1, 2, 4, 8, 16 */
    assert_non_null(strstr(a, "point,max-num-seqs,seeds,"));
    assert_non_null(strstr(a, ",vllm_bench.p99_ttft_ms,"));
    assert_non_null(strstr(a, "\n4,16,1,"));
    assert_null(strstr(a, "wall_s"));
    free(a);
    free(b);
    /* Each run's folder, and curves.json with the options. */
    snprintf(p1, sizeof(p1), "%s/j1/points/0004/seed-0/summary.json", tmp);
    assert_int_equal(access(p1, R_OK), 0);
    snprintf(p1, sizeof(p1), "%s/j1/curves.json", tmp);
    a = test_slurp(p1, NULL);
    assert_non_null(strstr(a, "\"options\": {\"max-num-seqs\": \"16\"}"));
    free(a);
    /* Throughput grows with the batch limit on a saturating load. */
    an_figures f1, f16;
    char err[512];
    snprintf(p1, sizeof(p1), "%s/j1/points/0000/seed-0/summary.json", tmp);
    snprintf(p3, sizeof(p3), "%s/j1/points/0004/seed-0/summary.json", tmp);
    assert_int_equal(an_figures_read(p1, &f1, err, sizeof(err)), 0);
    assert_int_equal(an_figures_read(p3, &f16, err, sizeof(err)), 0);
    assert_true(an_figures_get(&f16, "vllm_bench.output_throughput") >
                2 * an_figures_get(&f1, "vllm_bench.output_throughput"));
    an_figures_free(&f1);
    an_figures_free(&f16);
}

/* SUMMARY's text without its wall_s (host time): a malloc'ed copy. */
static char *summary_less_wall(const char *path)
{
    char *a = test_slurp(path, NULL);
    char *w = strstr(a, "\"wall_s\": ");
    if (w != NULL) {
        char *e = w + strcspn(w, ",}");
        memmove(w, e, strlen(e) + 1);
    }
    return a;
}

/* A worker process runs job after job (sweep_jobs.c): with -j 1 one
 * worker runs all three points, and the third (the first's options after
 * another model) writes the first's summary, which is also what a kvsim
 * run of those options on its own writes (less the host time). */
static void test_worker_runs_alike(void **state)
{
    (void)state;
    int rc = kvsim("sweep --vary model=llama-2-7b,llama-3.1-8b,llama-2-7b -j 1 --out %s/wk "
                   "--workload 'sharegpt:n=120,rate=20' --gpu a100-80gb --quiet",
                   tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    rc = kvsim("run --model llama-2-7b --workload 'sharegpt:n=120,rate=20' --gpu a100-80gb "
               "--no-plot --no-requests --out %s/wk1 --quiet",
               tmp);
    if (rc != 0)
        fail_msg("run failed: %s", out);
    char p[512];
    snprintf(p, sizeof(p), "%s/wk/points/0000/seed-0/summary.json", tmp);
    char *a = summary_less_wall(p);
    snprintf(p, sizeof(p), "%s/wk/points/0002/seed-0/summary.json", tmp);
    char *b = summary_less_wall(p);
    snprintf(p, sizeof(p), "%s/wk1/summary.json", tmp);
    char *c = summary_less_wall(p);
    snprintf(p, sizeof(p), "%s/wk/points/0001/seed-0/summary.json", tmp);
    char *d = summary_less_wall(p);
    if (strcmp(a, b) != 0)
        fail_msg("the same options run again in the worker gave another summary");
    if (strcmp(a, c) != 0)
        fail_msg("a sweep point's summary differs from kvsim run's");
    assert_string_not_equal(a, d); /* another model: another summary */
    assert_null(strstr(a, "wall_s"));
    free(a);
    free(b);
    free(c);
    free(d);
}

/* Writes TEXT to DIR/NAME (DIR under tmp, made here). */
static void put_file(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof(path), "mkdir -p '%s/%s'", tmp, dir);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof(path), "%s/%s/%s", tmp, dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* A run that fails in its worker (the trace's last line is broken, so
 * every point fails when it reads it): one line naming the first failed
 * point and the reason, exit 1, and no temporary left in any point. */
static void test_worker_run_fails(void **state)
{
    (void)state;
    char trace[512], cmd[1200];
    snprintf(trace, sizeof(trace), "%s/broken.csv", tmp);
    FILE *fp = fopen(trace, "w");
    assert_non_null(fp);
    fputs("arrival_s,input_tokens,output_tokens\n", fp);
    for (int i = 0; i < 200; i++)
        fprintf(fp, "%.2f,%d,%d\n", i * 0.05, 100 + i, 50);
    fputs("10.5,7\n", fp);
    fclose(fp);
    int rc = kvsim("sweep --vary max-num-seqs=8,16,32,64 -j 2 --out %s/wf --trace %s "
                   "--gpu a100-80gb --model llama-2-7b --quiet",
                   tmp, trace);
    assert_int_equal(rc, 1);
    assert_int_equal(test_count_lines(out), 1);
    assert_non_null(strstr(out, "kvsim: sweep: point "));
    assert_non_null(strstr(out, "broken.csv:202: expected 3 fields, found 2"));
    snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s/wf' -name '.*kvsim-*')\"", tmp);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s/wf/curves.csv", tmp);
    assert_int_not_equal(access(cmd, F_OK), 0);
}

/* A switch varies as on/off: --enable-prefix-caching, then
 * --no-enable-prefix-caching (summary.json's prefix_cache.enabled 1, 0). */
static void test_switch_vary(void **state)
{
    (void)state;
    int rc = kvsim("sweep --vary enable-prefix-caching=on,off --out %s/sw " BASE, tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    for (int k = 0; k < 2; k++) {
        char p[512], err[512];
        snprintf(p, sizeof(p), "%s/sw/points/%04d/seed-0/summary.json", tmp, k);
        an_figures f;
        assert_int_equal(an_figures_read(p, &f, err, sizeof(err)), 0);
        assert_true(an_figures_get(&f, "prefix_cache.enabled") == (k == 0 ? 1 : 0));
        an_figures_free(&f);
    }
    /* Columns are every run's figures: replica 1's appear although the
     * first point has one replica (its cells empty). */
    rc = kvsim("sweep --vary replicas=1,2 --out %s/rep " BASE, tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    char p[512];
    snprintf(p, sizeof(p), "%s/rep/curves.csv", tmp);
    char *a = test_slurp(p, NULL);
    assert_non_null(strstr(a, ",replicas.1.steps"));
    assert_non_null(strstr(a, ",,")); /* point 0 has no replica 1 */
    free(a);
}

/* The KV ceiling a max-num-seqs sweep's throughput panel marks. The
 * rows are those of an Azure code sweep on an H100 (Llama-3.1-8B,
 * max-num-seqs 8..128x2): the trace's 2.6 req/s never fill 128 sequences
 * (at most 102 ran), no request waited for KV (blocked free space and
 * external fragmentation 0) and half the pool was free at its peak: the
 * load, not the pool, held the batch, so no ceiling; the plot had marked
 * "KV capacity" at 128. The same row with a request held back by the
 * pool (blocked free space 0.4 %, or the pool full at its peak, free
 * 0 %) is the ceiling, as is a row that preempted; a curves.csv without
 * the memory columns (older sweeps) keeps the batch-under-its-limit
 * rule. */
static void test_kv_ceiling_needs_kv(void **state)
{
    (void)state;
    static const char *const hdr =
        "max-num-seqs,vllm_bench.output_throughput,vllm_bench.mean_tpot_ms,config.step_fixed_s,"
        "batch.max_running,preemptions,memory.time_avg_pct.blocked_free,"
        "memory.time_avg_pct.external_frag,memory.at_peak_pct.free\n";
    static const char *const rows =
        "8,71.43,19.8,0.0018664,8,0,0,0,91.18\n16,71.46,29.2,0.0018664,16,0,0,0,85.11\n"
        "32,71.47,45.6,0.0018664,32,0,0,0,75.35\n64,71.48,64.3,0.0018664,64,0,0,0,62.65\n";
    struct {
        const char *last; /* the 128 row */
        double ceiling;   /* NAN: none */
        int old_columns;  /* the table without the three memory columns */
    } cases[] = {
        {"128,71.48,68.6,0.0018664,102,0,0,0,51.55", NAN, 0},
        {"128,71.48,68.6,0.0018664,102,0,0.4,0,0", 128, 0},
        {"128,71.48,68.6,0.0018664,102,0,0,0,0", 128, 0},
        {"128,71.48,68.6,0.0018664,102,0,0,2.1,0", 128, 0},
        {"128,71.48,68.6,0.0018664,128,7,0,0,0", 128, 0},
        {"128,71.48,68.6,0.0018664,102,0", 128, 1},
    };
    char dir[] = "/tmp/kvsim_ceil_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[256];
    snprintf(path, sizeof(path), "%s/curves.csv", dir);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        if (cases[k].old_columns) {
            /* The first six columns of every line. */
            fputs("max-num-seqs,vllm_bench.output_throughput,vllm_bench.mean_tpot_ms,"
                  "config.step_fixed_s,batch.max_running,preemptions\n",
                  fp);
            fputs("8,71.43,19.8,0.0018664,8,0\n16,71.46,29.2,0.0018664,16,0\n"
                  "32,71.47,45.6,0.0018664,32,0\n64,71.48,64.3,0.0018664,64,0\n",
                  fp);
        } else {
            fputs(hdr, fp);
            fputs(rows, fp);
        }
        fprintf(fp, "%s\n", cases[k].last);
        fclose(fp);
        table t;
        if (plot_table_read(path, &t, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        size_t groups[5] = {0};
        double knee, ceiling;
        plot_batch_limits(&t, plot_table_col(&t, "max-num-seqs"), groups, 0, &knee, &ceiling);
        plot_table_free(&t);
        /* Throughput flat from the first point (the load sets it): no
         * bend to mark (the step-time fit needs a point under the
         * ceiling past the first two; the old columns' case has none). */
        if (cases[k].old_columns == 0 && isnan(cases[k].ceiling) && !isnan(knee) && knee < 32)
            fail_msg("case %zu: knee %g on a flat line", k, knee);
        if (isnan(cases[k].ceiling) ? !isnan(ceiling) : ceiling != cases[k].ceiling)
            fail_msg("case %zu (%s): ceiling %g, want %g", k, cases[k].last, ceiling,
                     cases[k].ceiling);
    }
    unlink(path);
    rmdir(dir);
}

/* Seeds: mean and a confidence column; an arithmetic range; a grid of two
 * options gives one line per value of the second in the plot. */
static void test_seeds_grid_plots(void **state)
{
    (void)state;
    int rc = kvsim("sweep --vary max-num-seqs=8,32 --vary block-size=16..32+16 --seeds 3 -j 2 "
                   "--out %s/g " BASE,
                   tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    char p[512];
    snprintf(p, sizeof(p), "%s/g/curves.csv", tmp);
    char *a = test_slurp(p, NULL);
    assert_int_equal(test_count_lines(a), 5); /* 2 x 2 points */
    assert_non_null(strstr(a, "point,max-num-seqs,block-size,seeds,"));
    assert_non_null(strstr(a, ",vllm_bench.output_throughput_ci95,"));
    assert_non_null(strstr(a, "\n3,32,32,3,"));
    free(a);
    /* The plots: valid files of the expected size and series. */
    snprintf(p, sizeof(p), "%s/g", tmp);
    an_plot_info info;
    char err[512];
    assert_int_equal(an_plot_curves(p, &info, err, sizeof(err)), 0);
    assert_int_equal(info.files, 2);
    assert_int_equal(info.series, 2); /* block-size 16 and 32 */
    snprintf(p, sizeof(p), "%s/g/curves.png", tmp);
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    unsigned char h[24];
    assert_int_equal(fread(h, 1, 24, fp), 24);
    fclose(fp);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_memory_equal(h, sig, 8);
    assert_memory_equal(h + 12, "IHDR", 4);
    unsigned w = (unsigned)h[16] << 24 | (unsigned)h[17] << 16 | (unsigned)h[18] << 8 | h[19];
    unsigned ht = (unsigned)h[20] << 24 | (unsigned)h[21] << 16 | (unsigned)h[22] << 8 | h[23];
    assert_int_equal(w, AN_PLOT_WIDTH);
    assert_int_equal(ht, AN_PLOT_HEIGHT);
    snprintf(p, sizeof(p), "%s/g/curves.svg", tmp);
    a = test_slurp(p, NULL);
    assert_non_null(strstr(a, "<svg"));
    assert_non_null(strstr(a, "width=\"1000"));
    free(a);
    /* A run's folder holds its summary and time series; its requests and
     * memory plot only with --save-detailed (below). */
    snprintf(p, sizeof(p), "%s/g/points/0000/seed-0/timeseries.csv", tmp);
    assert_int_equal(access(p, R_OK), 0);
    snprintf(p, sizeof(p), "%s/g/points/0000/seed-0/requests.csv", tmp);
    assert_int_not_equal(access(p, F_OK), 0);
    snprintf(p, sizeof(p), "%s/g/points/0000/seed-0/memory.svg", tmp);
    assert_int_not_equal(access(p, F_OK), 0);
    /* A run's memory plot: six stacked categories, and running and waiting
     * requests in the panel below. */
    snprintf(p, sizeof(p), "%s/g/points/0000/seed-0", tmp);
    assert_int_equal(an_plot_memory(p, &info, err, sizeof(err)), 0);
    assert_int_equal(info.series, 8); /* and running, waiting below */
    snprintf(p, sizeof(p), "%s/g/points/0000/seed-0/memory.svg", tmp);
    a = test_slurp(p, NULL);
    assert_non_null(strstr(a, "<svg"));
    free(a);
    /* kvsim report: one page with the points' table and both plots embedded. */
    rc = kvsim("report %s/g -o %s/g/r.html", tmp, tmp);
    if (rc != 0)
        fail_msg("report: %s", out);
    snprintf(p, sizeof(p), "%s/g/r.html", tmp);
    a = test_slurp(p, NULL);
    assert_non_null(strstr(a, "<h1>kvsim sweep report</h1>"));
    assert_non_null(strstr(a, "<th>vllm_bench.output_throughput_ci95</th>"));
    assert_non_null(strstr(a, "src=\"data:image/svg+xml;base64,"));
    assert_null(strstr(a, "<img src=\"http")); /* nothing outside the page */
    free(a);
    /* kvsim plot DIR draws them again. */
    rc = kvsim("plot %s/g", tmp);
    if (rc != 0 || strstr(out, "wrote 2 plot files") == NULL)
        fail_msg("plot: %d %s", rc, out);
}

/* Names as the first varied option (schedulers, allocators, GPUs): the
 * curves are drawn against the point number, every point on them (fmin
 * ignores a name's NAN, so the range alone did not tell names apart and
 * the axes came out empty). */
static void test_named_values_plot(void **state)
{
    (void)state;
    int rc = kvsim("sweep --vary scheduler=vllm,sarathi --vary max-num-seqs=8,32 --out %s/nm " BASE,
                   tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    char p[512], err[512];
    snprintf(p, sizeof(p), "%s/nm", tmp);
    an_plot_info info;
    assert_int_equal(an_plot_curves(p, &info, err, sizeof(err)), 0);
    assert_int_equal(info.files, 2);
    assert_int_equal(info.series, 2); /* max-num-seqs 8 and 32 */
    assert_int_equal(info.points, 4); /* 2 schedulers x 2 limits, all drawn */
    /* The schedulers' names on the x axis, each line's points at their
     * places (it had drawn them against the point number, 0..3: one
     * line's at 0 and 2, the other's at 1 and 3). */
    assert_int_equal(info.categories, 2);
    /* A load swept with another option: the latency figure draws the p99
     * of each combination, a line each (it had drawn median, p90 and p99
     * through every row, zigzagging between the combinations). */
    rc =
        kvsim("sweep --vary rate-scale=0.5,1 --vary scheduler=vllm,sarathi --out %s/lg " BASE, tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    snprintf(p, sizeof(p), "%s/lg", tmp);
    assert_int_equal(an_plot_curves(p, &info, err, sizeof(err)), 0);
    assert_int_equal(info.files, 4);  /* curves and latency, png and svg */
    assert_int_equal(info.series, 2); /* vllm and sarathi */
    assert_int_equal(info.points, 4); /* 2 loads each, every point once */
}

/* The SLO search: deterministic, and between the plain sweep's last
 * meeting and first missing load. */
static void test_find_max_rate(void **state)
{
    (void)state;
#define FIND                                                                                       \
    "sweep --find max-rate --slo p99_ttft_ms=2000 --seeds 2 -j 2 --find-tol 0.001 "                \
    "--workload 'sharegpt:n=200,rate=4' --gpu l40s --model llama-3.1-8b --quiet "
    int rc = kvsim(FIND "--out %s/f1", tmp);
    if (rc != 0)
        fail_msg("find failed: %s", out);
    rc = kvsim(FIND "--out %s/f2", tmp);
    if (rc != 0)
        fail_msg("find failed: %s", out);
    char p[512];
    snprintf(p, sizeof(p), "%s/f1/find.json", tmp);
    char *a = test_slurp(p, NULL);
    snprintf(p, sizeof(p), "%s/f2/find.json", tmp);
    char *b = test_slurp(p, NULL);
    assert_string_equal(a, b);
    const char *m = strstr(a, "\"max\": ");
    assert_non_null(m);
    double found = strtod(m + 7, NULL);
    assert_true(found > 0);
    /* The answer's runs are in the folder named by its load (they were
     * numbered in the search's order, which curves.csv's rows are not). */
    char fv[64]; /* as the sweep writes values (sweep_fmt_value) */
    snprintf(fv, sizeof(fv), found == floor(found) ? "%.0f" : "%.15g", found);
    snprintf(p, sizeof(p), "%s/f1/find/rate-scale_%s/seed-1/summary.json", tmp, fv);
    assert_int_equal(access(p, R_OK), 0);
    char dk[128];
    snprintf(dk, sizeof(dk), "\"dir\": \"find/rate-scale_%s\"", fv);
    assert_non_null(strstr(a, dk));
    /* The terminal's line at the answer is find.json's at_max: the mean
     * over the seeds (it was the first seed's alone). */
    static const char at_key[] = "\"at_max\": {\"request_throughput\": ";
    const char *at = strstr(a, at_key);
    assert_non_null(at);
    double req_mean = strtod(at + strlen(at_key), NULL);
    free(b);
    rc = kvsim("sweep --find max-rate --slo p99_ttft_ms=2000 --seeds 2 -j 2 --find-tol 0.001 "
               "--workload 'sharegpt:n=200,rate=4' --gpu l40s --model llama-3.1-8b --out %s/f3",
               tmp);
    if (rc != 0)
        fail_msg("find failed: %s", out);
    char want[128];
    snprintf(want, sizeof(want), "at rate-scale %g: %.3f req/s completed,", found, req_mean);
    if (strstr(out, want) == NULL || strstr(out, "(mean over seeds)") == NULL)
        fail_msg("wanted '%s ... (mean over seeds)' in:\n%s", want, strstr(out, "at rate"));
    free(a);
    /* A plain sweep over loads around it. */
    rc = kvsim("sweep --vary rate-scale=0.25..8x2 --seeds 2 -j 2 --out %s/plain "
               "--workload 'sharegpt:n=200,rate=4' --gpu l40s --model llama-3.1-8b --quiet",
               tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    snprintf(p, sizeof(p), "%s/plain/curves.csv", tmp);
    a = test_slurp(p, NULL);
    /* Columns: point, rate-scale, seeds, ...; find vllm_bench.p99_ttft_ms. */
    char *hdr_end = strchr(a, '\n');
    *hdr_end = '\0';
    int col = -1, k = 0;
    for (char *c = a; c != NULL; c = strchr(c, ','), k++) {
        if (*c == ',')
            c++;
        if (strncmp(c, "vllm_bench.p99_ttft_ms,", 23) == 0)
            col = k;
    }
    assert_true(col > 0);
    double met = 0, missed = INFINITY;
    for (char *line = hdr_end + 1; *line; line = strchr(line, '\n') + 1) {
        double x = 0, v = 0;
        char *c = line;
        for (int i = 0; i <= col; i++) {
            if (i == 1)
                x = strtod(c, NULL);
            if (i == col)
                v = strtod(c, NULL);
            c = strchr(c, ',') + 1;
        }
        if (v <= 2000 && x > met)
            met = x;
        if (v > 2000 && x < missed)
            missed = x;
        if (strchr(line, '\n') == NULL)
            break;
    }
    free(a);
    if (!(met <= found && found < missed))
        fail_msg("search found %g; the plain sweep met at %g and missed at %g", found, met, missed);
}

/*
 * The batch-size study's knee. A decode step of B sequences at context c
 * (sim/cost.c's roofline) moves
 *     bytes(B) = W + kv x B x (c + 1)        (weights once, each sequence's KV)
 * and computes
 *     flops(B) = B x (2 P + a x (c + 1))    (a = 4 x layers x heads x head_dim)
 * so it turns compute-bound where flops / (F x fe) = bytes / (BW x be):
 *     B* = (W / (BW x be)) / ((2 P + a (c + 1)) / (F x fe) - kv (c + 1) / (BW x be)).
 * Llama-3.1-8B on an H100 SXM, 32-token prompts and 480-token outputs all
 * at once (decode dominates; the mean context of a decode is 32 + 240):
 * B* is about 224 with the vllm preset's GPU terms (244 before its
 * split-KV decode term's refit; its host time per sequence, 68 us fitted
 * to vLLM's benchmark_latency rows, is set to 0 here: it adds B x 68 us
 * to every step, so throughput never doubles
 * with the batch; this test is about the GPU's roofline). From the
 * sweep, the knee is where the memory-bound
 * step time (TPOT through the two smallest batches: overhead + W / (BW x
 * be) + B x kv (c + 1) / (BW x be)) meets the compute-bound one (TPOT
 * through the overhead and the batch of 512: overhead + B x the compute
 * per sequence); the two agree within 15 %. Throughput doubles per
 * doubling of the batch well below the knee and hardly grows past it.
 */
static void test_batch_knee(void **state)
{
    (void)state;
    /* The vllm preset without its split-KV decode term (fa_wave_fill 0):
     * the fill and drain of the attention's thread blocks, a fixed time
     * per step at small batches, is not in the closed form. */
    const char *src = getenv("KVSIM_SOURCE_DIR");
    if (src == NULL)
        skip();
    char in[1024], preset[1024], line[512];
    snprintf(in, sizeof(in), "%s/catalog/presets/vllm.preset", src);
    snprintf(preset, sizeof(preset), "%s/gpu-only.preset", tmp);
    FILE *fi = fopen(in, "r"), *fo = fopen(preset, "w");
    assert_non_null(fi);
    assert_non_null(fo);
    bool seen = false;
    while (fgets(line, sizeof(line), fi) != NULL) {
        if (strncmp(line, "fa_wave_fill ", 13) == 0) {
            snprintf(line, sizeof(line), "fa_wave_fill 0\n");
            seen = true;
        }
        fputs(line, fo);
    }
    fclose(fi);
    fclose(fo);
    assert_true(seen);
    int rc = kvsim("sweep --vary max-num-seqs=8..1024x2 -j 2 --quiet --out %s/knee "
                   "--workload 'sharegpt:n=3000;in=fixed:32;out=fixed:480;arrival=batch' "
                   "--gpu h100-sxm --model llama-3.1-8b --seq-overhead-us 0 --engine %s",
                   tmp, preset);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    sim_gpu g;
    sim_model m;
    char err[512];
    assert_int_equal(sim_gpu_lookup("h100-sxm", &g, err, sizeof(err)), 0);
    assert_int_equal(sim_model_lookup("llama-3.1-8b", &m, err, sizeof(err)), 0);
    sim_config cfg;
    sim_config_defaults(&cfg, &g, &m);
    sim_cost c;
    sim_cost_init(&c, &g, &m, cfg.weight_dtype, cfg.kv_dtype, &cfg.cost, 1, NULL);
    double ctx1 = 32 + 240 + 1, bw = c.mem_bw_Bps * c.p.bw_eff, fl = c.peak_flops * c.p.flops_eff;
    /* Decode of B sequences: max(weights / bw, B x (linear + head) FLOPs /
     * fl) for the matrix products, plus the attention kernel (memory-bound
     * at 4 FLOPs per byte of KV): the knee is where the two matrix terms
     * meet. */
    (void)ctx1;
    double knee =
        (c.dense_weight_bytes / bw) / ((c.linear_flops_per_token + c.head_flops_per_seq) / fl);
    /* TPOT (s) and output throughput of the points 8, 16, ..., 1024. */
    double tpot[8], thr[8];
    for (int k = 0; k < 8; k++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/knee/points/%04d/seed-0/summary.json", tmp, k);
        an_figures f;
        assert_int_equal(an_figures_read(p, &f, err, sizeof(err)), 0);
        tpot[k] = an_figures_get(&f, "vllm_bench.mean_tpot_ms") / 1e3;
        thr[k] = an_figures_get(&f, "vllm_bench.output_throughput");
        an_figures_free(&f);
    }
    /* The fixed time of a decode step: the points used (8, 16, 512
     * sequences) replay CUDA graphs (vllm: up to 512 tokens), so no
     * per-layer launches. */
    double ovh =
        c.p.step_overhead_s + (c.p.graph_max_tokens >= 512 ? 0 : c.layers * c.p.layer_overhead_s);
    double slope_mem = (tpot[1] - tpot[0]) / 8, base_mem = tpot[0] - 8 * slope_mem - ovh;
    double per_seq_compute = (tpot[6] - ovh) / 512;
    double est = base_mem / (per_seq_compute - slope_mem);
    printf("knee: closed form %.1f sequences, from the sweep %.1f\n", knee, est);
    if (!(fabs(est - knee) <= 0.15 * knee) || knee < 100 || knee > 1000)
        fail_msg("knee from the sweep %.1f, closed form %.1f", est, knee);
    for (int k = 0; k < 8; k++)
        printf("max-num-seqs %d: %.1f tokens/s\n", 8 << k, thr[k]);
    for (int k = 0; k < 3; k++) /* 8..64: memory-bound, nearly linear */
        if (!(thr[k + 1] / thr[k] > 1.8))
            fail_msg("throughput %g -> %g: not doubling below the knee", thr[k], thr[k + 1]);
    if (!(thr[7] / thr[6] < 1.15)) /* 512 -> 1024: compute-bound, flat */
        fail_msg("throughput %g -> %g: still growing past the knee", thr[6], thr[7]);
}

/* A run of one instant (its only request rejected at time 0) has a time
 * series of one row: its memory plot is empty axes, not a PLplot error,
 * and the run succeeds. */
static void test_one_row_plot(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/allrej.csv", tmp);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("arrival_s,input_tokens,output_tokens\n0,100000,10\n", fp);
    fclose(fp);
    int rc = kvsim("run --trace %s --gpu a100-80gb --model llama-2-7b --out %s/allrej --quiet",
                   path, tmp);
    if (rc != 0 || out[0] != '\0')
        fail_msg("exit %d, output:\n%s", rc, out);
    snprintf(path, sizeof(path), "%s/allrej/memory.png", tmp);
    assert_int_equal(access(path, R_OK), 0);
}

/* kvsim plot on odd files (robustness, as the trace corpus): it draws, or
 * exits non-zero with one line; never a crash or PLplot's own messages. */
static void test_plot_robustness(void **state)
{
    (void)state;
    static const char *const hdr_ts = "time_s,running,waiting,token_states_bytes,reservation_bytes,"
                                      "internal_frag_bytes,external_frag_bytes,blocked_free_bytes,"
                                      "free_bytes\n";
    static const struct {
        const char *file, *text;
    } cases[] = {
        {"curves.csv", ""},
        {"curves.csv", "point"},
        {"curves.csv", "point,x,seeds\n0,\"abc,1\n"},
        {"curves.csv", "point,x,seeds,vllm_bench.output_throughput\n0,1,1,abc\n1,2,1,\n"},
        {"curves.csv", "point,x,seeds,vllm_bench.output_throughput\n0,-1,1,5\n1,0,1,6\n"},
        {"curves.csv", "point,x,seeds\n0,1e308,1\n1,-1e308,1\n"},
        {"curves.csv", "point,\"a\"\"b\",seeds\n0,\"x\"\"y\",1\n"},
        {"timeseries.csv", "-5,1,1,1,1,1,1,1,1\n1e308,1,1,1e308,1,1,1,1,1\n"},
        {"timeseries.csv", "nan,1,1,x,1,1,1,1,1\ninf,1,1,1,1,1,1,1,1\n"},
        {"timeseries.csv", "0,1,1,1,1,1,1,1,1\n0,1,1,1,1,1,1,1,1\n"},
        {"compare.csv", "allocator,avg_token_states_pct,avg_reservation_pct,avg_internal_frag_pct,"
                        "avg_external_frag_pct,avg_blocked_free_pct,avg_free_pct\n"
                        "\"a\",1e308,nan,-5,1,1,1\n"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char dir[512], path[600];
        snprintf(dir, sizeof(dir), "%s/robust%zu", tmp, k);
        snprintf(path, sizeof(path), "mkdir -p '%s'", dir);
        assert_int_equal(system(path), 0);
        snprintf(path, sizeof(path), "%s/%s", dir, cases[k].file);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        if (strcmp(cases[k].file, "timeseries.csv") == 0)
            fputs(hdr_ts, fp);
        fputs(cases[k].text, fp);
        fclose(fp);
        int rc = kvsim("plot %s", dir);
        int ok = rc == 0 || (rc > 0 && rc < 128 && test_count_lines(out) == 1 &&
                             strncmp(out, "kvsim: ", 7) == 0);
        if (!ok || strstr(out, "PLPLOT") != NULL)
            fail_msg("case %zu (%s): exit %d:\n%s", k, cases[k].file, rc, out);
    }
}

/* --find with --vary: one search per point, each the same as a search of
 * that configuration alone (byte-identical find.json), and find.csv with
 * every answer. */
static void test_find_per_point(void **state)
{
    (void)state;
#define FINDP                                                                                      \
    "--find max-rate --slo p99_ttft_ms=3000 --find-tol 0.05 --workload 'sharegpt:n=100,rate=4' "   \
    "--gpu l40s --model llama-3.1-8b --quiet -j 2 "
    int rc = kvsim("sweep " FINDP "--vary max-num-seqs=8,64 --out %s/fp", tmp);
    if (rc != 0)
        fail_msg("find per point failed: %s", out);
    rc = kvsim("sweep " FINDP "--max-num-seqs 64 --out %s/fp64", tmp);
    if (rc != 0)
        fail_msg("find failed: %s", out);
    char p[512];
    snprintf(p, sizeof(p), "%s/fp/points/0001/find.json", tmp);
    char *a = test_slurp(p, NULL);
    snprintf(p, sizeof(p), "%s/fp64/find.json", tmp);
    char *b = test_slurp(p, NULL);
    assert_string_equal(a, b);
    free(a);
    free(b);
    snprintf(p, sizeof(p), "%s/fp/find.csv", tmp);
    a = test_slurp(p, NULL);
    assert_int_equal(test_count_lines(a), 3);
    assert_non_null(strstr(a, "point,max-num-seqs,max,high,seeds,"));
    assert_non_null(strstr(a, "\n1,64,"));
    free(a);
    rc = kvsim("report %s/fp -o %s/fp/r.html", tmp, tmp);
    if (rc != 0)
        fail_msg("report: %s", out);
    snprintf(p, sizeof(p), "%s/fp/r.html", tmp);
    a = test_slurp(p, NULL);
    assert_non_null(strstr(a, "<h1>kvsim searches report</h1>"));
    assert_non_null(strstr(a, "<th>request_throughput_at_max</th>"));
    free(a);
}

/* An objective no load meets (TTFT is never 0): the search halves until
 * half the load would stretch the arrivals past the readers' 1e9-s bound
 * and answers that nothing met (it went on until a run failed on that
 * bound, naming a request and an arrival); the report says so too (it
 * printed "nan" and a bracket from 0). */
static void test_find_unmeetable(void **state)
{
    (void)state;
    int rc = kvsim("sweep --find max-rate --slo p99_ttft_ms=0 --out %s/un " BASE, tmp);
    if (rc != 0)
        fail_msg("find failed: %s", out);
    char p[512];
    snprintf(p, sizeof(p), "%s/un/find.json", tmp);
    char *a = test_slurp(p, NULL);
    assert_non_null(strstr(a, "\"max\": null,"));
    assert_non_null(strstr(a, "\"bracket\": [null, "));
    free(a);
    rc = kvsim("report %s/un -o %s/un/r.html", tmp, tmp);
    if (rc != 0)
        fail_msg("report: %s", out);
    snprintf(p, sizeof(p), "%s/un/r.html", tmp);
    a = test_slurp(p, NULL);
    assert_non_null(strstr(a, "No rate-scale tried meets the objectives: <b>none</b> down to "));
    assert_null(strstr(a, "nan"));
    free(a);
    /* An objective every load meets on 120 requests: the answer comes with
     * the note that the run ended draining a queue (a burst). */
    rc = kvsim("sweep --find max-rate --slo p99_ttft_ms=1e9 --workload 'sharegpt:n=120,rate=20' "
               "--gpu a100-80gb --model llama-2-7b --out %s/burst 2>/dev/null",
               tmp);
    if (rc != 0)
        fail_msg("find failed: %s", out);
    assert_non_null(strstr(out, "every rate-scale up to "));
    assert_non_null(strstr(out, "note: at that load the requests arrive over "));
    assert_non_null(strstr(out, "the run ends draining a queue"));
}

/* --goodput end to end: objectives every request meets give goodput =
 * request throughput, in the terminal and in summary.json (both keys);
 * an objective none meets gives 0. */
static void test_goodput_run(void **state)
{
    (void)state;
    int rc = kvsim("run " BASE "--goodput ttft:1e9 tpot:1e9 e2el:1e9 --out %s/gp", tmp);
    if (rc != 0)
        fail_msg("run failed: %s", out);
    char p[512], err[512];
    snprintf(p, sizeof(p), "%s/gp/summary.json", tmp);
    an_figures f;
    assert_int_equal(an_figures_read(p, &f, err, sizeof(err)), 0);
    double good = an_figures_get(&f, "vllm_bench.request_goodput");
    assert_true(good > 0 && good == an_figures_get(&f, "vllm_bench.request_throughput"));
    assert_true(an_figures_get(&f, "goodput.good_requests") ==
                an_figures_get(&f, "requests.completed"));
    assert_true(an_figures_get(&f, "goodput.ttft_ms") == 1e9);
    an_figures_free(&f);
    rc = kvsim("run --workload 'sharegpt:n=120,rate=20' --gpu a100-80gb --model llama-2-7b "
               "--goodput=ttft:0");
    if (rc != 0 || strstr(out, "goodput      0.000 req/s: 0 of 120 completed requests meet "
                               "TTFT <= 0 ms") == NULL)
        fail_msg("exit %d:\n%s", rc, out);
}

static void expect_error(const char *args, const char *needle)
{
    int rc = kvsim("%s", args);
    if (rc == 0 || strstr(out, needle) == NULL || test_count_lines(out) != 1)
        fail_msg("kvsim %s\n  exit %d, wanted non-zero and one line with '%s'; got:\n%s", args, rc,
                 needle, out);
}

/* --vary KEY=@FILE: values one a line (workload specs hold both ','
 * and ';', which no inline list could separate); blank and '#' lines
 * skipped; an empty file refused. */
static void test_vary_from_file(void **state)
{
    (void)state;
    char path[600], args[1024];
    put_file("vl", "loads.txt",
             "# two loads\npoisson:rate=5,n=60;in=fixed:200;out=fixed:50\n\n"
             "  poisson:rate=20,n=60;in=fixed:200;out=fixed:50  \n");
    snprintf(path, sizeof(path), "%s/vl/loads.txt", tmp);
    int rc = kvsim("sweep --vary workload=@%s --gpu a100-80gb --model llama-2-7b --quiet --out "
                   "%s/vf",
                   path, tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    char cpath[600];
    snprintf(cpath, sizeof(cpath), "%s/vf/curves.csv", tmp);
    char *c = test_slurp(cpath, NULL);
    assert_int_equal(test_count_lines(c), 3);
    assert_non_null(strstr(c, "\n0,\"poisson:rate=5,n=60;in=fixed:200;out=fixed:50\","));
    assert_non_null(strstr(c, "\n1,\"poisson:rate=20,n=60;in=fixed:200;out=fixed:50\","));
    free(c);
    snprintf(args, sizeof(args), "sweep --vary workload=@/dev/null --out %s/vf2 " BASE, tmp);
    expect_error(args, "--vary workload: /dev/null: no values (one a line)");
}

/* An --out folder reused: kvsim report and plot read a folder's files as
 * one command's, so a run with --no-plot removes an earlier run's memory
 * plot (the report had shown it beside this run's tables), a sweep
 * removes an earlier search's find.json and latency plot (the report was
 * titled a search's, with its answer), and a command refuses a folder
 * that holds another command's files. */
static void test_out_folder_reuse(void **state)
{
    (void)state;
    char path[600], args[1024];
    assert_int_equal(kvsim("run --out %s/ru " BASE, tmp), 0);
    snprintf(path, sizeof(path), "%s/ru/memory.png", tmp);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(kvsim("run --no-plot --max-num-seqs 4 --out %s/ru " BASE, tmp), 0);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(args, sizeof(args), "compare --allocators paged,contiguous --out %s/ru " BASE, tmp);
    expect_error(args, "compare: --out");
    assert_non_null(strstr(out, "/ru holds kvsim run's files (summary.json): give another folder"));
    snprintf(args, sizeof(args), "sweep --vary max-num-seqs=4,8 --out %s/ru " BASE, tmp);
    expect_error(args, "holds kvsim run's files (summary.json)");
    int rc =
        kvsim("sweep --find max-rate --slo p99_ttft_ms=3000 --find-iters 2 --out %s/rs " BASE, tmp);
    if (rc != 0)
        fail_msg("search failed: %s", out);
    snprintf(path, sizeof(path), "%s/rs/find.json", tmp);
    assert_int_equal(access(path, F_OK), 0);
    rc = kvsim("sweep --vary max-num-seqs=4,8 --out %s/rs " BASE, tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/rs/latency.png", tmp);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/rs/curves.png", tmp);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(args, sizeof(args), "run --out %s/rs " BASE, tmp);
    expect_error(args, "holds kvsim sweep's files (curves.csv)");
}

/* --trace - : standard input is read once, into OUT/stdin.trace, which
 * every run reads (each run had read standard input itself: the first
 * took it all, or the sweep's check of the options part of it, and a run
 * then failed on an empty file). '-' among --vary trace's values is
 * refused. */
static void test_trace_stdin(void **state)
{
    (void)state;
    char src[512], copy[512];
    snprintf(src, sizeof(src), "%s/traces/samples/tiny.csv",
             getenv("KVSIM_SOURCE_DIR") ? getenv("KVSIM_SOURCE_DIR") : ".");
    int rc = kvsim("sweep --vary max-num-seqs=4,8 --trace - -j 2 --out %s/st --gpu a100-80gb "
                   "--model llama-2-7b --quiet < '%s'",
                   tmp, src);
    if (rc != 0)
        fail_msg("sweep --trace - failed: %s", out);
    snprintf(copy, sizeof(copy), "%s/st/stdin.trace", tmp);
    size_t n1, n2;
    char *a = test_slurp(src, &n1), *b = test_slurp(copy, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
    snprintf(copy, sizeof(copy), "%s/st/curves.csv", tmp);
    a = test_slurp(copy, NULL);
    assert_int_equal(test_count_lines(a), 3);
    free(a);
    char args[1024];
    snprintf(args, sizeof(args), "sweep --vary trace=-,x --out %s/st2 " BASE, tmp);
    expect_error(args, "--vary trace: '-' (standard input) can be read only once");
}

static void test_bad_sweeps(void **state)
{
    (void)state;
    char args[1024];
    snprintf(args, sizeof(args), "sweep --vary max-num-seqs --out %s/bad " BASE, tmp);
    expect_error(args, "--vary: 'max-num-seqs' is not KEY=VALUES");
    snprintf(args, sizeof(args), "sweep --vary max-num-seqs=16..1x2 --out %s/bad " BASE, tmp);
    expect_error(args, "the end is below the start");
    snprintf(args, sizeof(args), "sweep --vary enable-prefix-caching=off,foo --out %s/bad " BASE,
             tmp);
    expect_error(args, "--vary enable-prefix-caching: 'foo' is not a switch's value");
    snprintf(args, sizeof(args), "sweep --vary max-num-seqs=1..16x1 --out %s/bad " BASE, tmp);
    expect_error(args, "a factor > 1");
    snprintf(args, sizeof(args), "sweep --vary max-num-seq=1,2 --out %s/bad " BASE, tmp);
    expect_error(args, "did you mean --max-num-seqs?");
    snprintf(args, sizeof(args), "sweep --vary max-num-seqs=1,0 --out %s/bad " BASE, tmp);
    /* The sweep's check of each point's options names the point, as a
     * run's own failure does. */
    expect_error(args, "kvsim: sweep: point 1 (max-num-seqs=0) seed 0: --max-num-seqs: '0'");
    /* The sweep's own options misspelt reach the runs' parser, which
     * suggests them too. */
    snprintf(args, sizeof(args), "sweep --vary n=1,2 --save-detaile --out %s/bad " BASE, tmp);
    expect_error(args, "did you mean --save-detailed?");
    /* Arrivals all at once: a rate scale changes nothing, and the search
     * had doubled 30 times and answered "every rate-scale up to 5.4e8
     * meets". */
    snprintf(
        args, sizeof(args),
        "sweep --find max-rate --slo p99_ttft_ms=1000 --workload 'sharegpt:n=20;arrival=batch' "
        "--gpu a100-80gb --model llama-2-7b --quiet --out %s/batch",
        tmp);
    expect_error(args, "--find max-rate: rate-scale 1 and 2 ran alike: the load does not change");
    snprintf(args, sizeof(args), "sweep --vary gpu=l40s,a100-80gb --out %s/bad " BASE, tmp);
    expect_error(args, "sweep: --gpu is varied (--vary gpu=...) and given too");
    snprintf(args, sizeof(args), "sweep --vary seed=1,2 --out %s/bad " BASE, tmp);
    expect_error(args, "seed cannot be varied");
    snprintf(args, sizeof(args), "sweep --slo p99_ttft_ms=1 --vary n=1 --out %s/bad " BASE, tmp);
    expect_error(args, "--slo needs --find max-rate");
    expect_error("sweep --vary n=1,2 " BASE, "--out DIR is required");
    snprintf(args, sizeof(args), "sweep --find max-rate --slo p99_bogus_ms=1 --out %s/bad " BASE,
             tmp);
    expect_error(args, "'p99_bogus_ms' is not a summary figure");
    snprintf(args, sizeof(args),
             "sweep --find max-rate --slo p99_ttft_ms=1 --vary rate-scale=1,2 --out %s/bad " BASE,
             tmp);
    expect_error(args, "--vary rate-scale does not combine with it");
    /* The search sets --rate-scale itself (it said "--rate-scale given
     * twice" of one --rate-scale); an objective given twice would be two
     * equal keys in find.json. */
    snprintf(args, sizeof(args),
             "sweep --find max-rate --slo p99_ttft_ms=1 --rate-scale 2 --out %s/bad " BASE, tmp);
    expect_error(args, "--rate-scale does not combine with it (--find-start X starts");
    snprintf(args, sizeof(args),
             "sweep --find max-rate --slo p99_ttft_ms=1,mean_tpot_ms=9 --slo p99_ttft_ms=2 "
             "--out %s/bad " BASE,
             tmp);
    expect_error(args, "--slo: p99_ttft_ms given twice");
    /* --goodput: vLLM's syntax, each mistake named. */
    static const char *const goodput[][2] = {
        {"--goodput ttfx:3", "--goodput: unknown objective 'ttfx' (known: ttft, tpot, e2el)"},
        {"--goodput ttft:-1", "--goodput: ttft: '-1' is not a non-negative number"},
        {"--goodput ttft", "--goodput: 'ttft' is not KEY:MS"},
        {"--goodput", "--goodput: no objective given"},
        {"--goodput ttft:1 tpot:2 ttft:3", "--goodput: ttft given twice"},
        {"--goodput ttft:1 --goodput tpot:1", "--goodput given twice"},
    };
    for (size_t k = 0; k < sizeof(goodput) / sizeof(goodput[0]); k++) {
        snprintf(args, sizeof(args), "run " BASE "%s", goodput[k][0]);
        expect_error(args, goodput[k][1]);
    }
    /* kvsim plot and kvsim report on folders that are not kvsim's, or
     * hold malformed files. */
    expect_error("swep --vary n=1", "unknown command 'swep': did you mean sweep?");
    /* model and fit are commands too (no suggestion was made for them). */
    expect_error("fitt --model llama-3.1-8b", "unknown command 'fitt': did you mean fit?");
    expect_error("modl llama-3.1-8b", "unknown command 'modl': did you mean model?");
    expect_error("plot /nonexistent", "plot: /nonexistent: No such file or directory");
    expect_error("plot README.md", "plot: README.md is not a folder");
    expect_error("report /nonexistent", "report: /nonexistent: No such file or directory");
    expect_error("plot", "plot: say which folder");
    expect_error("plot /tmp/a /tmp/b", "plot: one folder at a time ('/tmp/a' and '/tmp/b')");
    expect_error("plot -x", "plot: unknown option '-x'");
    expect_error("list", "list: say what to list");
    expect_error("list gpus extra", "list gpus: unexpected argument 'extra'");
    expect_error("list foo", "list: 'foo' is not a list");
    expect_error("model llama-2-7b extra", "model: one model at a time");
    expect_error("sweep -j 2 -j2 --vary n=1 --out /tmp/x", "-j: the number of jobs given twice");
    expect_error("validate --data x.csv --jobs=2 -j 3", "-j: the number of jobs given twice");
    expect_error("calibrate -j1 --jobs 2 --data x --out y",
                 "--jobs: the number of jobs given twice");
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/malformed", tmp);
    snprintf(path, sizeof(path), "mkdir -p '%s'", dir);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("time_s,running\n0,1\n", fp); /* not a kvsim time series */
    fclose(fp);
    snprintf(args, sizeof(args), "plot %s", dir);
    expect_error(args, "timeseries.csv: not a kvsim time series (columns missing)");
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("time_s,a,b\n1,2\n", fp); /* a short row */
    fclose(fp);
    expect_error(args, "timeseries.csv: line 2: 2 fields, the header has 3");
    /* A hand-edited cell in a column of numbers is refused with its line
     * (blank lines counted), not drawn without its point; a column of
     * names may hold one that reads as a number. */
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("time_s,name\r\n0,a\r\n\n1,b\n2,7\nabc,c\n", fp);
    fclose(fp);
    expect_error(args, "timeseries.csv: line 6: column 'time_s': 'abc' is not a number");
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/curves.csv", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("point,x\n", fp); /* no seeds column, no rows */
    fclose(fp);
    expect_error(args, "curves.csv: no points");
    /* Nothing left behind by a failed sweep. */
    snprintf(args, sizeof(args), "%s/bad/curves.csv", tmp);
    assert_int_not_equal(access(args, F_OK), 0);
}

/* kvsim report and kvsim plot meet files that are not what kvsim wrote
 * with one line and a non-zero exit. They wrote a page of n/a with "KV
 * pool nan GiB" for a summary.json of another program, dropped a search's
 * answer without a word when find.json did not parse, showed a cut
 * curves.csv (its plot already drawn) as a table, and drew a time series
 * whose times were nan, negative or running backwards. */
static void test_report_plot_refuse(void **state)
{
    (void)state;
    static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n";
    char args[1024];
    put_file("rr/foreign", "summary.json", "{\"duration\": 10, \"completed\": 5}\n");
    snprintf(args, sizeof(args), "report %s/rr/foreign", tmp);
    expect_error(args, "summary.json: not a kvsim summary (no \"kvsim_version\"");
    put_file("rr/find", "curves.csv", "point,rate-scale,seeds,vllm_bench.p99_ttft_ms\n0,1,1,5\n");
    put_file("rr/find", "curves.svg", svg);
    put_file("rr/find", "find.json", "{\"find\": \"max-rate\",\n");
    snprintf(args, sizeof(args), "report %s/rr/find", tmp);
    expect_error(args, "find.json: line 2: ");
    put_file("rr/find", "find.json", "[]\n");
    expect_error(args, "find.json: not a kvsim search's answer");
    put_file("rr/cut", "curves.csv",
             "point,rate-scale,seeds,vllm_bench.p99_ttft_ms\n0,1,1,5\n1,2\n");
    put_file("rr/cut", "curves.svg", svg);
    snprintf(args, sizeof(args), "report %s/rr/cut", tmp);
    expect_error(args, "curves.csv: line 3: fewer fields than the header's 4");
    put_file("rr/cut", "curves.csv", "point,rate-scale,seeds,vllm_bench.p99_ttft_ms\n\n");
    expect_error(args, "curves.csv: a header and no rows");
    put_file("rr/cut", "curves.csv", "point,rate-scale,seeds\n0,1,1,5\n");
    expect_error(args, "curves.csv: line 2: more fields than the header's 3");
    static const char hdr[] = "time_s,running,waiting,token_states_bytes,reservation_bytes,"
                              "internal_frag_bytes,external_frag_bytes,blocked_free_bytes,"
                              "free_bytes\n";
    static const char *const ts[][2] = {
        {"0,1,0,1,1,1,1,1,1\n2,1,0,1,1,1,1,1,1\n1,1,0,1,1,1,1,1,1\n",
         "line 4: column 'time_s': '1' is earlier than the row before it"},
        {"nan,1,0,1,1,1,1,1,1\n", "line 2: column 'time_s': 'nan' is not a finite number"},
        {"-5,1,0,1,1,1,1,1,1\n", "line 2: column 'time_s': '-5' is negative"},
        {"0,1,0,1,1,1,1,1,1\n1,1,0,-1e300,1,1,1,1,1\n",
         "line 3: column 'token_states_bytes': '-1e300' is negative"},
        {"0,1,0,1,1,1,1,1,1\n1,1,,1,1,1,1,1,1\n",
         "line 3: column 'waiting': '' is not a finite number"},
    };
    for (size_t k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
        char text[512];
        snprintf(text, sizeof(text), "%s%s", hdr, ts[k][0]);
        put_file("rr/ts", "timeseries.csv", text);
        snprintf(args, sizeof(args), "plot %s/rr/ts", tmp);
        expect_error(args, ts[k][1]);
    }
    /* A search per point (--find with --vary) has its plots in its points. */
    put_file("rr/searches", "find.csv", "point,max-num-seqs,max\n0,8,1\n");
    snprintf(args, sizeof(args), "plot %s/rr/searches", tmp);
    expect_error(args, "holds a search per point (find.csv), each with its own plots: kvsim plot");
    /* Equal times are a time series (a step shorter than the interval). */
    char text[512];
    snprintf(text, sizeof(text), "%s0,1,0,1,1,1,1,1,1\n0,2,0,1,1,1,1,1,1\n", hdr);
    put_file("rr/ts", "timeseries.csv", text);
    if (kvsim("plot %s/rr/ts", tmp) != 0)
        fail_msg("plot of equal times: %s", out);
}

/* --save-detailed: each run's requests.csv and memory plot as well; a
 * requests option passed through or varied asks for that file alone. */
static void test_save_detailed(void **state)
{
    (void)state;
    int rc = kvsim("sweep --vary max-num-seqs=8,32 --save-detailed --out %s/sd " BASE, tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    char p[512];
    const char *files[] = {"summary.json", "timeseries.csv", "requests.csv", "memory.png",
                           "memory.svg"};
    for (int k = 0; k < 5; k++) {
        snprintf(p, sizeof(p), "%s/sd/points/0001/seed-0/%s", tmp, files[k]);
        if (access(p, R_OK) != 0)
            fail_msg("--save-detailed: %s missing", p);
    }
    rc = kvsim("sweep --vary max-num-seqs=8,32 --requests-gzip --out %s/sg " BASE, tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    snprintf(p, sizeof(p), "%s/sg/points/0001/seed-0/requests.csv.gz", tmp);
    assert_int_equal(access(p, R_OK), 0);
    snprintf(p, sizeof(p), "%s/sg/points/0001/seed-0/memory.svg", tmp);
    assert_int_not_equal(access(p, F_OK), 0);
    /* Varied, the switch asks for the file too: on gives requests.csv.gz
     * (not --no-requests with it, which stops the run), off requests.csv. */
    rc = kvsim("sweep --vary requests-gzip=on,off --out %s/vg " BASE, tmp);
    if (rc != 0)
        fail_msg("sweep failed: %s", out);
    snprintf(p, sizeof(p), "%s/vg/points/0000/seed-0/requests.csv.gz", tmp);
    assert_int_equal(access(p, R_OK), 0);
    snprintf(p, sizeof(p), "%s/vg/points/0001/seed-0/requests.csv", tmp);
    assert_int_equal(access(p, R_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_and_jobs),      cmocka_unit_test(test_seeds_grid_plots),
        cmocka_unit_test(test_find_max_rate),      cmocka_unit_test(test_batch_knee),
        cmocka_unit_test(test_bad_sweeps),         cmocka_unit_test(test_switch_vary),
        cmocka_unit_test(test_goodput_run),        cmocka_unit_test(test_one_row_plot),
        cmocka_unit_test(test_find_per_point),     cmocka_unit_test(test_plot_robustness),
        cmocka_unit_test(test_save_detailed),      cmocka_unit_test(test_named_values_plot),
        cmocka_unit_test(test_find_unmeetable),    cmocka_unit_test(test_kv_ceiling_needs_kv),
        cmocka_unit_test(test_report_plot_refuse), cmocka_unit_test(test_worker_runs_alike),
        cmocka_unit_test(test_worker_run_fails),   cmocka_unit_test(test_trace_stdin),
        cmocka_unit_test(test_out_folder_reuse),   cmocka_unit_test(test_vary_from_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
