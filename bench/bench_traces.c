/*
 * bench_traces.c: memory and speed of the trace readers and generators as
 * the input grows tenfold.
 *
 * For every format it writes a synthetic trace of N and 10 N rows (gzip,
 * in $TMPDIR, kept for later runs), then runs the kvsim binary as a child
 *   kvsim gen --trace FILE -o /dev/null --quiet
 * (read everything, write it back as kvsim CSV) and reads its wall time and
 * peak resident set (wait4's ru_maxrss); then the same for generated
 * workloads (kvsim gen --workload sharegpt / chat with n = N and 10 N).
 * Readers stream, so peak RSS must stay flat: the ratio 10 N / N is
 * printed next to each pair. Figures are printed, never asserted (shared
 * machines are noisy).
 *
 * usage: bench_traces [KVSIM_BINARY] [--rows N] (default 200000)
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bench/bench_proc.h"

/* Cheap deterministic lengths (an LCG): the bench measures readers, not shapes. */
static uint64_t g_lcg = 12345;
static uint32_t rnd(uint32_t mod)
{
    g_lcg = g_lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((g_lcg >> 33) % mod);
}

/* Writes row I of format FMT to GZ. */
static void put_row(gzFile gz, const char *fmt, uint64_t i)
{
    double t = (double)i * 0.125;
    uint32_t in = 1 + rnd(4000), out = 1 + rnd(500);
    if (strcmp(fmt, "kvsim") == 0) {
        gzprintf(gz, "%.3f,%u,%u,%llu,", t, in, out, (unsigned long long)(i / 4));
        for (uint32_t b = 0; b < (in + 511) / 512; b++)
            gzprintf(gz, "%s%u", b ? ";" : "", rnd(100000));
        gzputs(gz, "\n");
    } else if (strcmp(fmt, "azure") == 0) {
        uint64_t s = 1700000000ULL + i / 8;
        unsigned frac = (unsigned)(i % 8) * 1250000u;
        gzprintf(gz, "2023-11-16 %02llu:%02llu:%02llu.%07u,%u,%u\r\n",
                 (unsigned long long)(s / 3600 % 24), (unsigned long long)(s / 60 % 60),
                 (unsigned long long)(s % 60), frac, in, out);
    } else if (strcmp(fmt, "mooncake") == 0) {
        gzprintf(gz,
                 "{\"timestamp\": %llu, \"input_length\": %u, \"output_length\": %u, "
                 "\"hash_ids\": [",
                 (unsigned long long)(i * 125), in, out);
        for (uint32_t b = 0; b < (in + 511) / 512; b++)
            gzprintf(gz, "%s%u", b ? ", " : "", rnd(100000));
        gzputs(gz, "]}\n");
    } else if (strcmp(fmt, "burstgpt") == 0) {
        gzprintf(gz, "%llu,%s,%u,%u,%u,Conversation log\n", (unsigned long long)(i / 8),
                 i % 3 ? "ChatGPT" : "GPT-4", in, i % 50 ? out : 0, in + out);
    } else if (strcmp(fmt, "vidur") == 0) {
        gzprintf(gz, "%.6f,%u,%u,%u,%.4f\n", t, in, out, in + out, (double)in / out);
    } else {
        gzprintf(gz, "%u,%u,%u,%.4f\n", in, out, in + out, (double)in / out);
    }
}

static const char *header(const char *fmt)
{
    if (strcmp(fmt, "kvsim") == 0)
        return "arrival_s,input_tokens,output_tokens,session_id,hash_ids\n";
    if (strcmp(fmt, "azure") == 0)
        return "TIMESTAMP,ContextTokens,GeneratedTokens\r\n";
    if (strcmp(fmt, "mooncake") == 0)
        return "";
    if (strcmp(fmt, "burstgpt") == 0)
        return "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n";
    if (strcmp(fmt, "vidur") == 0)
        return "arrived_at,num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n";
    return "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n";
}

/* Writes PATH with N rows of FMT unless an earlier run left it (PATH.ok). */
static int write_trace(const char *path, const char *fmt, uint64_t n)
{
    char marker[600];
    struct stat st;
    snprintf(marker, sizeof marker, "%s.ok", path);
    if (stat(marker, &st) == 0 && stat(path, &st) == 0)
        return 0;
    gzFile gz = gzopen(path, "wb1");
    if (gz == NULL) {
        fprintf(stderr, "bench: cannot write %s\n", path);
        return -1;
    }
    g_lcg = 12345;
    gzputs(gz, header(fmt));
    for (uint64_t i = 0; i < n; i++)
        put_row(gz, fmt, i);
    if (gzclose(gz) != Z_OK)
        return -1;
    FILE *fp = fopen(marker, "w");
    if (fp != NULL)
        fclose(fp);
    return 0;
}

/* Runs ARGV and prints one figure; returns the bench_measure (status -1 on failure). */
static bench_measure bench_one(char *const argv[])
{
    bench_measure m = bench_run(argv, 1);
    if (m.status != 0)
        fprintf(stderr, "bench: %s %s %s %s: kvsim exited with %d\n", argv[1], argv[2], argv[3],
                argv[4] ? argv[4] : "", m.status);
    return m;
}

static void print_pair(const char *label, uint64_t n, bench_measure a, bench_measure b)
{
    printf("%-22s %9llu rows %6.2f s %6.1f MiB | x10 %6.2f s %6.1f MiB | RSS ratio %.2f\n", label,
           (unsigned long long)n, a.wall_s, a.rss_mib, b.wall_s, b.rss_mib,
           a.rss_mib > 0 ? b.rss_mib / a.rss_mib : 0.0);
}

int main(int argc, char **argv)
{
    char kvsim[1024] = "build/cli/kvsim";
    uint64_t rows = 200000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            rows = strtoull(argv[++i], NULL, 10);
        else
            snprintf(kvsim, sizeof kvsim, "%s", argv[i]);
    }
    if (access(kvsim, X_OK) != 0 || rows == 0) {
        fprintf(stderr,
                "bench: %s is not an executable kvsim (usage: bench_traces [KVSIM] "
                "[--rows N])\n",
                kvsim);
        return 2;
    }
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    printf("kvsim trace readers and generators, peak RSS as the input grows tenfold (%s)\n", kvsim);
    printf("input (kvsim gen ... -o /dev/null)  N rows: wall, peak RSS | 10 N rows: wall, peak "
           "RSS | RSS 10 N / N\n");
    static const char *const fmts[] = {"kvsim",    "azure", "mooncake",
                                       "burstgpt", "vidur", "lengths"};
    int failed = 0;
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
        bench_measure m[2];
        for (int k = 0; k < 2; k++) {
            uint64_t n = k == 0 ? rows : rows * 10;
            char path[512];
            snprintf(path, sizeof path, "%s/kvsim_bench_%s_%llu.gz", dir, fmts[f],
                     (unsigned long long)n);
            double t0 = bench_now_s();
            if (write_trace(path, fmts[f], n) != 0)
                return 1;
            if (bench_now_s() - t0 > 1.0)
                fprintf(stderr, "(wrote %s in %.1f s)\n", path, bench_now_s() - t0);
            char *args[] = {
                kvsim, "gen",       "--trace", path,
                "-o",  "/dev/null", "--quiet", strcmp(fmts[f], "lengths") == 0 ? "--rate" : NULL,
                "100", NULL};
            m[k] = bench_one(args);
            failed |= m[k].status != 0;
        }
        print_pair(fmts[f], rows, m[0], m[1]);
    }
    static const char *const specs[] = {"sharegpt", "chat"};
    for (size_t s = 0; s < 2; s++) {
        bench_measure m[2];
        for (int k = 0; k < 2; k++) {
            char spec[128];
            snprintf(spec, sizeof spec, "%s:n=%llu,rate=4", specs[s],
                     (unsigned long long)(k == 0 ? rows : rows * 10));
            char *args[] = {kvsim, "gen", "--workload", spec, "-o", "/dev/null", "--quiet", NULL};
            m[k] = bench_one(args);
            failed |= m[k].status != 0;
        }
        char label[64];
        snprintf(label, sizeof label, "--workload %s", specs[s]);
        print_pair(label, rows, m[0], m[1]);
    }
    return failed ? 1 : 0;
}
