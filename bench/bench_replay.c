/*
 * bench_replay.c: speed and memory of `kvsim run`, as a user runs it.
 *
 * Runs the kvsim binary as a child process and reads its wall time
 * (CLOCK_MONOTONIC around fork/wait) and peak resident set (wait4's
 * ru_maxrss) on:
 *   1. the bundled Azure conv trace (19,366 requests), llama-2-7b on
 *      a100-80gb: target < 0.5 s wall;
 *   2. the same trace on Llama-2-70B fp16 over two A100-80GB (tensor
 *      parallel, 3,328 blocks, 128 sequences, 4,096-token budget): target
 *      < 80 ms wall (issue 13);
 *   3. a decode-heavy workload (20,000 requests of 100 prompt and 2,000
 *      output tokens at 2 req/s), llama-3.1-8b on h100-sxm: simulated
 *      sequence-steps (output tokens, read from its summary.json) per CPU
 *      second, target >= 1e9 (issue 13), with --no-merge-steps beside it;
 *   4. synthetic traces of 100,000 and 1,000,000 requests (Poisson
 *      arrivals, lognormal lengths shaped like Azure conv), llama-3.1-8b on
 *      h100-sxm: target < 30 s and < 256 MiB for the million, and peak RSS
 *      flat when the trace grows tenfold;
 *   5. an overloaded run: a million requests arriving within a simulated
 *      second, nearly all queued at once: peak RSS per million queued
 *      (issue 13, item 2: a queued request costs a few dozen bytes);
 *   6. a 100-point sweep of the Azure trace: target < 5 s with -j 2;
 *   7. the floor: `kvsim trace stats` (read and decompress the trace,
 *      nothing else) against the replay of the same trace, the Azure one
 *      and the synthetic million: target replay <= 2 x the floor;
 *   8. a week of Azure-like traffic at its real rate, 27 million requests
 *      over four replicas, a thread each (target < 60 s, < 256 MiB), and
 *      the same with --serial-replicas (one event loop): by default a
 *      million of them, with the week's wall extrapolated (27 x: the
 *      replay is linear in the requests) and its memory as measured (flat
 *      past the exact-sample limits); --week runs all 27 million.
 * Figures are printed, never asserted: the machines are shared and noisy,
 * so compare ratios within one run.
 *
 * usage: bench_replay [KVSIM_BINARY] [--quick] [--week]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bench/bench_proc.h"

#include "workloads/source.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs ARGV REPS times; prints min and median wall and the largest RSS. */
static int bench(const char *label, char *const argv[], int reps, double target_s,
                 double target_mib)
{
    double walls[16];
    double rss = 0;
    for (int i = 0; i < reps; i++) {
        bench_measure m = bench_run(argv, 0);
        if (m.status != 0) {
            fprintf(stderr, "bench: %s: kvsim exited with %d\n", label, m.status);
            return -1;
        }
        walls[i] = m.wall_s;
        if (m.rss_mib > rss)
            rss = m.rss_mib;
    }
    qsort(walls, (size_t)reps, sizeof(double), cmp_double);
    printf("%-44s wall min %7.3f s  median %7.3f s  peak RSS %7.1f MiB", label, walls[0],
           walls[reps / 2], rss);
    if (target_s > 0)
        printf("  (targets: < %g s%s", target_s, target_mib > 0 ? "" : ")");
    if (target_mib > 0)
        printf(", < %.0f MiB)", target_mib);
    printf("\n");
    return 0;
}

/* The integer after KEY in the file PATH; -1 when absent. */
static double read_key(const char *path, const char *key)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *at = strstr(buf, key);
    return at != NULL ? strtod(at + strlen(key), NULL) : -1;
}

/* Runs ARGV REPS times and prints TOKENS (the run's output tokens) per
 * CPU second, the least CPU time's. */
static int bench_steps(const char *label, char *const argv[], double tokens, int reps,
                       double target)
{
    double cpu = 0, wall = 0;
    for (int i = 0; i < reps; i++) {
        bench_measure m = bench_run(argv, 1);
        if (m.status != 0)
            return -1;
        if (i == 0 || m.cpu_s < cpu) {
            cpu = m.cpu_s;
            wall = m.wall_s;
        }
    }
    printf("%-44s cpu min %7.3f s  wall %7.3f s  %.3g sequence-steps per CPU s", label, cpu, wall,
           cpu > 0 ? tokens / cpu : 0);
    if (target > 0)
        printf("  (target: >= %.0e)", target);
    printf("\n");
    return 0;
}

/* The replay RUN (its least wall of REPS) against `kvsim trace stats
 * TRACE` (reading and decompressing the trace alone: the floor). */
static int floor_ratio(const char *label, const char *kvsim, const char *trace, char *const run[],
                       int reps)
{
    char *stats[] = {(char *)kvsim, "trace", "stats", (char *)trace, NULL};
    double fl = 0, rp = 0;
    for (int i = 0; i < reps; i++) {
        bench_measure a = bench_run(stats, 0), b = bench_run(run, 0);
        if (a.status != 0 || b.status != 0) {
            fprintf(stderr, "bench: %s: a run failed\n", label);
            return -1;
        }
        if (i == 0 || a.wall_s < fl)
            fl = a.wall_s;
        if (i == 0 || b.wall_s < rp)
            rp = b.wall_s;
    }
    printf("%-44s %.3f s / %.3f s = %.1f x  (target: <= 2 x)\n", label, rp, fl,
           fl > 0 ? rp / fl : 0);
    return 0;
}

/* Writes N synthetic requests as kvsim CSV, gzip-compressed. */
static int write_synth(const char *path, uint64_t n)
{
    struct stat st;
    char marker[600];
    snprintf(marker, sizeof(marker), "%s.ok", path);
    if (stat(marker, &st) == 0 && stat(path, &st) == 0)
        return 0; /* generated by an earlier run with the same parameters */
    wl_synth_params p = {
        .requests = n,
        .rate_per_s = 8.0,
        .input_mean = 1155,
        .input_sigma = 1.0,
        .output_mean = 211,
        .output_sigma = 0.8,
        .max_tokens = 8192,
        .seed = 2023,
    };
    wl_source *src;
    char err[256];
    if (wl_open_synth(&src, &p, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    gzFile gz = gzopen(path, "wb6");
    if (gz == NULL) {
        fprintf(stderr, "bench: cannot write %s\n", path);
        wl_close(src);
        return -1;
    }
    gzprintf(gz, "arrival_s,input_tokens,output_tokens\n");
    trace_request r;
    while (wl_next(src, &r) == 1)
        gzprintf(gz, "%.6f,%u,%u\n", r.arrival_s, r.input_tokens, r.output_tokens);
    wl_close(src);
    if (gzclose(gz) != Z_OK)
        return -1;
    FILE *fp = fopen(marker, "w");
    if (fp != NULL)
        fclose(fp);
    return 0;
}

int main(int argc, char **argv)
{
    char kvsim[1024] = "build/cli/kvsim";
    int quick = 0, week = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--week") == 0)
            week = 1;
        else
            snprintf(kvsim, sizeof(kvsim), "%s", argv[i]);
    }
    if (access(kvsim, X_OK) != 0) {
        fprintf(stderr, "bench: %s is not an executable kvsim (pass its path)\n", kvsim);
        return 2;
    }
    printf("kvsim replay benchmark (%s)\n", kvsim);

    char *azure[] = {kvsim,     "run",       "--trace", "traces/samples/azure_conv_2023.csv.gz",
                     "--gpu",   "a100-80gb", "--model", "llama-2-7b",
                     "--quiet", NULL};
    if (bench("azure conv 19,366 req, llama-2-7b/a100-80gb", azure, quick ? 3 : 7, 0.5, 0) != 0)
        return 1;

    char *azure70[] = {kvsim,
                       "run",
                       "--trace",
                       "traces/samples/azure_conv_2023.csv.gz",
                       "--gpu",
                       "a100-80gb",
                       "--model",
                       "llama-2-70b",
                       "--tensor-parallel-size",
                       "2",
                       "--num-blocks",
                       "3328",
                       "--max-num-seqs",
                       "128",
                       "--max-num-batched-tokens",
                       "4096",
                       "--quiet",
                       NULL};
    if (bench("azure conv, llama-2-70b/2x a100-80gb TP2", azure70, quick ? 3 : 7, 0.08, 0) != 0)
        return 1;
    if (floor_ratio("azure conv: replay / trace stats (floor)", kvsim,
                    "traces/samples/azure_conv_2023.csv.gz", azure, quick ? 3 : 7) != 0)
        return 1;

    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    /* Output tokens from one run's summary.json (every request completes:
     * 20,000 x 2,000); the timed runs write nothing, as in issue 13. */
    char decode_out[512], summary[600];
    snprintf(decode_out, sizeof(decode_out), "%s/kvsim_bench_decode", dir);
    snprintf(summary, sizeof(summary), "%s/summary.json", decode_out);
    char *decode[] = {
        kvsim,     "run",      "--workload", "poisson:rate=2,n=20000;in=fixed:100;out=fixed:2000",
        "--gpu",   "h100-sxm", "--model",    "llama-3.1-8b",
        "--quiet", NULL,       NULL,         NULL,
        NULL,      NULL};
    decode[9] = "--no-requests";
    decode[10] = "--out";
    decode[11] = decode_out;
    bench_measure m = bench_run(decode, 0);
    double tokens = read_key(summary, "\"total_output_tokens\": ");
    if (m.status != 0 || tokens <= 0) {
        fprintf(stderr, "bench: the decode-heavy run failed or wrote no %s\n", summary);
        return 1;
    }
    decode[9] = decode[10] = decode[11] = NULL;
    if (bench_steps("decode-heavy 20,000 x 2,000 tokens, h100", decode, tokens, quick ? 1 : 3,
                    1e9) != 0)
        return 1;
    decode[9] = "--no-merge-steps";
    if (bench_steps("  the same, --no-merge-steps", decode, tokens, 1, 0) != 0)
        printf("  (this kvsim has no --no-merge-steps: it predates merged steps)\n");

    uint64_t sizes[2] = {100000, 1000000};
    for (int k = 0; k < (quick ? 1 : 2); k++) {
        char path[512], label[128];
        snprintf(path, sizeof(path), "%s/kvsim_bench_synth_%llu.csv.gz", dir,
                 (unsigned long long)sizes[k]);
        double t0 = bench_now_s();
        if (write_synth(path, sizes[k]) != 0)
            return 1;
        double gen = bench_now_s() - t0;
        if (gen > 0.5)
            printf("(generated %s in %.1f s)\n", path, gen);
        snprintf(label, sizeof(label), "synthetic %llu req, llama-3.1-8b/h100-sxm",
                 (unsigned long long)sizes[k]);
        char *synth[] = {kvsim,      "run",     "--trace",      path,      "--gpu",
                         "h100-sxm", "--model", "llama-3.1-8b", "--quiet", NULL};
        if (bench(label, synth, sizes[k] >= 1000000 ? 1 : 3, sizes[k] >= 1000000 ? 30 : 0,
                  sizes[k] >= 1000000 ? 256 : 0) != 0)
            return 1;
        if (sizes[k] >= 1000000 &&
            floor_ratio("synthetic 1,000,000: replay / trace stats", kvsim, path, synth, 1) != 0)
            return 1;
    }

    /* A week of Azure-2024-like traffic (issue 13): 44.6 req/s, four
     * replicas (two fall behind), no per-request file; a thread per
     * replica (the default behind round robin), then one event loop for
     * all (--serial-replicas) beside it. */
    if (!quick) {
        char work[96];
        snprintf(work, sizeof(work), "azure-conv:n=%d,rate=44.6", week ? 27000000 : 1000000);
        char *wk[] = {kvsim,           "run",     "--workload",   work,         "--gpu",
                      "h100-sxm",      "--model", "llama-3.1-8b", "--replicas", "4",
                      "--no-requests", "--quiet", NULL,           NULL};
        for (int serial = 0; serial < 2; serial++) {
            wk[12] = serial ? "--serial-replicas" : NULL;
            bench_measure wm = bench_run(wk, 1);
            if (wm.status != 0) {
                fprintf(stderr, "bench: the week run failed\n");
                return 1;
            }
            const char *label = serial ? "  the same, --serial-replicas"
                                : week ? "week: 27,000,000 req, 4 replicas"
                                       : "week at 1/27: 1,000,000 req, 4 replicas";
            if (week)
                printf("%-44s wall %7.1f s  cpu %7.1f s  peak RSS %7.1f MiB  (targets: < 60 s, < "
                       "256 MiB)\n",
                       label, wm.wall_s, wm.cpu_s, wm.rss_mib);
            else
                printf("%-44s wall %7.2f s  cpu %7.2f s  peak RSS %7.1f MiB: the week (x 27) %.0f "
                       "s  (targets: < 60 s, < 256 MiB; --week runs it)\n",
                       label, wm.wall_s, wm.cpu_s, wm.rss_mib, 27 * wm.wall_s);
        }
    }

    /* Overloaded: a million requests arrive within a simulated second, so
     * nearly all of them wait at once (issue 13, item 2): peak RSS beyond
     * a thousand-request run's, per million queued. */
    if (!quick) {
        char *over[] = {kvsim,      "run",     "--workload",   NULL,      "--gpu",
                        "h100-sxm", "--model", "llama-3.1-8b", "--quiet", NULL};
        over[3] = "poisson:rate=1000000,n=1000;in=fixed:100;out=fixed:10";
        bench_measure small = bench_run(over, 0);
        over[3] = "poisson:rate=1000000,n=1000000;in=fixed:100;out=fixed:10";
        bench_measure big = bench_run(over, 0);
        if (small.status != 0 || big.status != 0) {
            fprintf(stderr, "bench: the overloaded runs failed\n");
            return 1;
        }
        printf("%-44s wall %7.3f s  peak RSS %7.1f MiB: %.1f MiB per million queued\n",
               "overloaded, 1,000,000 queued at once", big.wall_s, big.rss_mib,
               big.rss_mib - small.rss_mib);
    }

    /* A study: 100 points of the Azure trace at rate scales 0.05..5, one
     * run each, as many processes as cores (issue 10). Peak RSS is the
     * sweep process's own, not its runs'. */
    if (!quick) {
        char out[512], jobs[24];
        snprintf(out, sizeof(out), "%s/kvsim_bench_sweep", dir);
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        snprintf(jobs, sizeof(jobs), "%ld", ncpu > 0 ? ncpu : 1);
        char *sweep[] = {kvsim,     "sweep",
                         "--vary",  "rate-scale=0.05..5+0.05",
                         "--trace", "traces/samples/azure_conv_2023.csv.gz",
                         "--gpu",   "h100-sxm",
                         "--model", "llama-3.1-8b",
                         "-j",      jobs,
                         "--out",   out,
                         "--quiet", NULL};
        char label[128];
        snprintf(label, sizeof(label), "sweep 100 points azure conv, -j %s", jobs);
        if (bench(label, sweep, 1, 5, 0) != 0)
            return 1;
    }
    return 0;
}
