/*
 * cmd_compare_formats.c: `kvsim compare --kv-cache-dtypes A,B,...` or
 * `--quantizations A,B,...` (without --allocators): the same workload with
 * each KV-cache or weight format, side by side: bytes per token and pool
 * capacity, the weights, preemptions, latency and throughput. A comma
 * followed by key=value continues the previous format, as in
 * --allocators: int4:group=32,residual=128,fp8 is two formats.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "analysis/metrics.h"
#include "analysis/report.h"
#include "cli/compare_out.h"
#include "cli/run_config.h"

int cli_compare_formats(const run_opts *o);

enum { MAX_FORMATS = 12 };

static double gib(uint64_t b)
{
    return (double)b / 1073741824.0;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* Splits LIST (see above) into NAMES; returns the count, exits on error. */
static int split_formats(const char *opt, const char *list, char names[][64])
{
    int n = 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            cli_die("%s: empty entry in '%s'", opt, list);
        bool continues = memchr(p, '=', len) != NULL && memchr(p, ':', len) == NULL;
        if (continues) {
            if (n == 0)
                cli_die("%s: '%.*s' has no format before it", opt, (int)len, p);
            size_t have = strlen(names[n - 1]);
            if (have + 1 + len >= 64)
                cli_die("%s: format too long", opt);
            names[n - 1][have] = ',';
            memcpy(names[n - 1] + have + 1, p, len);
            names[n - 1][have + 1 + len] = '\0';
        } else {
            if (n == MAX_FORMATS)
                cli_die("%s: at most %d formats", opt, MAX_FORMATS);
            if (len >= 64)
                cli_die("%s: format too long", opt);
            memcpy(names[n], p, len);
            names[n][len] = '\0';
            n++;
        }
        p += len + (end ? 1 : 0);
        if (end && *p == '\0')
            cli_die("%s: trailing comma in '%s'", opt, list);
    }
    return n;
}

int cli_compare_formats(const run_opts *o)
{
    if (o->trace == NULL && o->workload == NULL)
        cli_die("compare: --trace FILE is required, or --workload SPEC (kvsim compare --help)");
    bool kv = o->kv_dtypes != NULL;
    const char *opt = kv ? "--kv-cache-dtypes" : "--quantizations";
    if (kv && o->quantizations != NULL)
        cli_die("compare: --kv-cache-dtypes and --quantizations: one list at a time");
    if (kv ? o->kv_dtype != NULL : o->quantization != NULL)
        cli_die("compare: %s with %s: give the formats in the list", opt,
                kv ? "--kv-cache-dtype" : "--quantization");
    static char names[MAX_FORMATS][64];
    int n = split_formats(opt, kv ? o->kv_dtypes : o->quantizations, names);
    if (n == 0)
        cli_die("%s: empty list (give FMT,FMT,...; kvsim compare --help)", opt);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < i; k++)
            if (strcmp(names[i], names[k]) == 0)
                cli_die("%s: '%s' is listed twice", opt, names[i]);
    static sim_config cfgs[MAX_FORMATS];
    static cli_result runs[MAX_FORMATS];
    double ts_interval;
    trace_format fmt;
    for (int i = 0; i < n; i++) {
        run_opts one = *o;
        if (kv)
            one.kv_dtype = names[i];
        else
            one.quantization = names[i];
        cli_build_config(&one, "compare", &cfgs[i], &ts_interval, &fmt);
        char err[1024];
        if (sim_check_config(&cfgs[i], err, sizeof(err)) != 0) /* which entry, then why */
            cli_die("compare: %s %s: %s", opt, names[i], err);
    }
    if (o->out != NULL)
        cli_make_dirs(o->out);
    for (int i = 0; i < n; i++) {
        char dir[4096];
        const char *out_dir = NULL;
        if (o->out != NULL) {
            char sub[64];
            size_t k = 0;
            for (; names[i][k] && k + 1 < sizeof(sub); k++) {
                char c = names[i][k];
                sub[k] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                 (c >= '0' && c <= '9') || c == '-'
                             ? c
                             : '_';
            }
            sub[k] = '\0';
            snprintf(dir, sizeof(dir), "%s/%s", o->out, sub);
            cli_make_dirs(dir);
            out_dir = dir;
        }
        if (!o->quiet)
            cli_error("compare: running %s", names[i]);
        if (cli_run_once(o, &cfgs[i], fmt, ts_interval, out_dir, &runs[i]) != 0)
            return 1;
        if (out_dir != NULL) {
            an_run_info info = {&cfgs[i], &runs[i].res, &runs[i].metrics, runs[i].source,
                                runs[i].wall_s};
            FILE *js = cli_open_out(out_dir, "summary.json");
            an_write_summary_json(js, &info);
            cli_close_out(js, out_dir, "summary.json");
        }
    }
    if (!o->quiet) {
        printf("kvsim compare: %s on %s%s, %s\n", cfgs[0].model.name, cfgs[0].gpu.name,
               cli_layout(&cfgs[0]), runs[0].source);
        if (o->speculative_config != NULL)
            printf("speculative: %s in every run\n", o->speculative_config);
        printf("\n%-28s %8s %9s %10s %7s %9s %9s %9s %9s %10s %8s %11s\n",
               kv ? "KV format" : "weights", "weights", "KV B/tok", "pool tok", "preempt",
               "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "out tok/s", "resident", "done/rej");
        for (int i = 0; i < n; i++) {
            const sim_result *r = &runs[i].res;
            const an_metrics *m = &runs[i].metrics;
            cli_compare_lat l;
            cli_compare_lat_of(m, &l);
            char done[32];
            snprintf(done, sizeof(done), "%llu/%llu", (unsigned long long)r->completed,
                     (unsigned long long)r->rejected);
            printf("%-28.28s %8.2f %9llu %10llu %7llu %9.1f %9.1f %9.2f %9.2f %10.1f %8.1f %11s\n",
                   names[i], gib(r->plan.weights_bytes),
                   (unsigned long long)r->plan.kv_bytes_per_token,
                   (unsigned long long)(r->plan.kv_pool_bytes / r->plan.kv_bytes_per_token),
                   (unsigned long long)r->preemptions, l.median_ttft_ms, l.p99_ttft_ms,
                   l.median_tpot_ms, l.p99_tpot_ms, ratio((double)r->output_tokens, r->makespan_s),
                   an_metrics_mean_running(m), done);
        }
        printf(
            "\n(weights GiB; KV bytes per token with scales; TTFT and TPOT in ms; "
            "resident: sequences holding KV, mean over busy time; done/rej: requests completed and "
            "rejected)\n");
    }
    if (o->out != NULL) {
        const char *labels[MAX_FORMATS];
        for (int i = 0; i < n; i++)
            labels[i] = names[i];
        cli_compare_write(o->out, kv ? "kv_cache_dtype" : "quantization", labels, runs, n,
                          cfgs[0].model.name, cfgs[0].gpu.name, o->quiet, !o->no_plot, "format");
    }
    for (int i = 0; i < n; i++)
        an_metrics_free(&runs[i].metrics);
    return 0;
}
