/*
 * cmd_compare.c: `kvsim compare --allocators A,B,...`: the same workload
 * through each KV allocator strategy, side by side: where the pool's bytes
 * went (time-weighted and at peak), peak allocation, batch, throughput,
 * latency, preemptions, prefix-cache hits where used.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/kv_alloc.h"
#include "analysis/metrics.h"
#include "analysis/plot.h"
#include "analysis/report.h"
#include "cli/cli_out.h"
#include "cli/compare_out.h"
#include "cli/run_config.h"

int cmd_compare(int argc, char **argv);
int cli_compare_spec(const run_opts *o);
int cli_compare_formats(const run_opts *o);

static const char usage_compare[] =
    "usage: kvsim compare --allocators SPEC,SPEC,... --trace FILE --gpu NAME --model NAME\n"
    "                     [--out DIR] [run options]\n"
    "\n"
    "Runs the same workload through each KV allocator and prints them side by side.\n"
    "SPEC is name[:key=value,...]; a comma followed by key=value continues the previous\n"
    "SPEC's parameters, so this works:\n"
    "  --allocators paged,contiguous:reserve=max,fit=first,vattn:page=2m\n"
    "Strategies:\n"
    "%s"
    "--out DIR writes compare.csv, compare.json and compare.png/.svg, and each run's\n"
    "summary.json, requests.csv and timeseries.csv under DIR/<spec>/ (':', '=' and ','\n"
    "in the spec made '_').\n"
    "Every option of kvsim run applies (kvsim run --help) except --allocator and --block-size.\n"
    "\n"
    "kvsim compare --speculative-config JSON [run options] (without --allocators) runs the\n"
    "workload without and with speculative decoding and prints them side by side.\n"
    "kvsim compare --kv-cache-dtypes FMT,FMT,... (or --quantizations FMT,FMT,...) runs it\n"
    "once per KV-cache (or weight) format, e.g. --kv-cache-dtypes fp16,fp8,int4:group=32,\n"
    "residual=128 (a comma and key=value continue the previous format).\n"
    "With --out both write the same files, compare.csv's first column naming the runs\n"
    "(kv_cache_dtype, quantization, or speculative: baseline and speculative), and each\n"
    "run's under DIR/<format>/ or DIR/baseline/ and DIR/speculative/.\n";

enum { MAX_SPECS = 16 };

/* Splits LIST into specs (see usage). Returns the count; exits on error. */
static int split_specs(const char *list, char specs[][128])
{
    int n = 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            cli_die("--allocators: empty entry in '%s'", list);
        int continues = memchr(p, '=', len) != NULL && memchr(p, ':', len) == NULL;
        if (continues) {
            if (n == 0)
                cli_die("--allocators: '%.*s' has no strategy before it", (int)len, p);
            size_t have = strlen(specs[n - 1]);
            if (have + 1 + len >= 128)
                cli_die("--allocators: spec too long");
            /* The first parameter of a bare name starts its parameter list. */
            specs[n - 1][have] = strchr(specs[n - 1], ':') != NULL ? ',' : ':';
            memcpy(specs[n - 1] + have + 1, p, len);
            specs[n - 1][have + 1 + len] = '\0';
        } else {
            if (n == MAX_SPECS)
                cli_die("--allocators: at most %d strategies", MAX_SPECS);
            if (len >= 128)
                cli_die("--allocators: spec too long");
            memcpy(specs[n], p, len);
            specs[n][len] = '\0';
            char name[64];
            size_t nl = strcspn(specs[n], ":");
            snprintf(name, sizeof(name), "%.*s", (int)(nl < 63 ? nl : 63), specs[n]);
            if (kv_find(name) == NULL) {
                char known[256] = "";
                for (size_t i = 0; kv_strategies[i] != NULL; i++) {
                    strncat(known, i ? ", " : "", sizeof(known) - strlen(known) - 1);
                    strncat(known, kv_strategies[i]->name, sizeof(known) - strlen(known) - 1);
                }
                cli_die("--allocators: unknown strategy '%s' (known: %s)", name, known);
            }
            n++;
        }
        p += len + (end ? 1 : 0);
        if (end && *p == '\0')
            cli_die("--allocators: trailing comma in '%s'", list);
    }
    return n;
}

/* A directory name for SPEC: [a-z0-9] kept, the rest as '_'. */
static void spec_dirname(const char *spec, char *buf, size_t len)
{
    size_t i = 0;
    for (; spec[i] && i + 1 < len; i++) {
        char c = spec[i];
        buf[i] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ? c : '_';
    }
    buf[i] = '\0';
}

static double pct(double a, double b)
{
    return b > 0 ? 100.0 * a / b : 0;
}

static double gib(uint64_t b)
{
    return (double)b / 1073741824.0;
}

/* Prints the two tables of N runs of CFG (O: the command's options). */
static void print_tables(const sim_config *cfg, const run_opts *o, const cli_result *runs, int n)
{
    const sim_result *r0 = &runs[0].res;
    printf("kvsim compare: %s on %s%s, %s\n", cfg->model.name, cfg->gpu.name, cli_layout(cfg),
           runs[0].source);
    /* What every arm shares that kvsim run would do otherwise. */
    if (o->prefix_caching < 0)
        printf("prefix caching off in every arm but a paged spec with prefix=on (kvsim run's "
               "paged default is on)\n");
    if (o->speculative_config != NULL)
        printf("speculative: %s in every arm\n", o->speculative_config);
    printf("KV pool %.2f GiB before strategy rounding, %llu bytes per token\n",
           gib(r0->plan.kv_budget_bytes), (unsigned long long)r0->plan.kv_bytes_per_token);
    /* As kvsim run's summary says it: the strategies are compared on a
     * pool the device could not hold beside the weights. */
    if (r0->plan.pool_exceeds_memory)
        printf("the KV pool set by option is larger than the memory the weights leave: a study of "
               "the pool alone\n");
    /* Pipeline stages of vLLM V0: the breakdowns and peaks are of virtual
     * engine 0's share of the pool above (summary.json's kv_pool_bytes);
     * V1's batches in flight share the one pool. */
    uint32_t ve = sim_config_kv_pools(cfg);
    if (ve > 1)
        printf("with %u virtual engines, the figures below are virtual engine 0's: its 1/%u of the "
               "pool\n",
               ve, ve);
    printf("\n");
    printf("%-36s %-42s %-42s\n", "", "time-weighted share of the pool (%)",
           "at peak allocation (%)");
    printf("%-36s %6s %6s %6s %6s %6s %6s   %6s %6s %6s %6s %6s %6s %6s\n", "allocator", "token",
           "resv", "int", "ext", "blkd", "free", "token", "resv", "int", "ext", "blkd", "free",
           "extidx");
    for (int i = 0; i < n; i++) {
        an_breakdown_pct a, p;
        an_metrics_time_avg(&runs[i].metrics, runs[i].res.makespan_s, &a);
        an_metrics_at_peak(&runs[i].metrics, &p);
        printf("%-36.36s %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f   %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f "
               "%6.3f\n",
               runs[i].res.allocator, a.token_states, a.reservation, a.internal_frag,
               a.external_frag, a.blocked_free, a.free, p.token_states, p.reservation,
               p.internal_frag, p.external_frag, p.blocked_free, p.free,
               an_metrics_ext_index(&runs[i].metrics, runs[i].res.makespan_s));
    }
    printf("\n%-36s %9s %9s %10s %10s %10s %8s %8s %7s %9s %7s\n", "allocator", "peak GiB",
           "running", "out tok/s", "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "preempt",
           "done/rej", "prefix");
    for (int i = 0; i < n; i++) {
        const sim_result *r = &runs[i].res;
        const an_metrics *m = &runs[i].metrics;
        char running[32], done[32];
        snprintf(running, sizeof(running), "%.1f/%u", an_metrics_mean_running(m), r->max_running);
        snprintf(done, sizeof(done), "%llu/%llu", (unsigned long long)r->completed,
                 (unsigned long long)r->rejected);
        char hit[16] = "-";
        if (r->prefix.enabled)
            snprintf(hit, sizeof(hit), "%.1f%%",
                     pct((double)r->prefix.hit_tokens, (double)r->prefix.lookup_tokens));
        cli_compare_lat l;
        cli_compare_lat_of(m, &l);
        printf("%-36.36s %9.2f %9s %10.1f %10.1f %10.1f %8.2f %8.2f %7llu %9s %7s\n", r->allocator,
               gib(m->peak_alloc_bytes), running,
               r->makespan_s > 0 ? (double)r->output_tokens / r->makespan_s : 0, l.median_ttft_ms,
               l.p99_ttft_ms, l.median_tpot_ms, l.p99_tpot_ms, (unsigned long long)r->preemptions,
               done, hit);
    }
    /* extidx sits beside the at-peak shares but is neither a share nor at
     * the peak: said, with the abbreviated categories. */
    printf("\n(resv: slots allocated for tokens not yet computed; int: allocated beyond the "
           "final length; ext: free space the blocked head of the queue could use were it "
           "contiguous; blkd: free space while that head needs more than all of it; extidx: "
           "external fragmentation index, 1 - largest free extent / free space, averaged over "
           "time, not a %%; TTFT and TPOT in ms; running: mean over busy time / most at "
           "once; prefix: the prefix cache's hit rate)\n");
}

/* CFG set for the arm SPEC. Every strategy computes the same tokens:
 * prefix caching (a paged feature) only when asked for, by
 * --enable-prefix-caching or the arm's own paged:prefix=on. */
static void set_arm(sim_config *cfg, const run_opts *o, const char *spec)
{
    snprintf(cfg->allocator, sizeof(cfg->allocator), "%.127s", spec);
    if (o->prefix_caching < 0)
        cfg->prefix_caching = sim_spec_prefix(spec) == 1;
}

int cmd_compare(int argc, char **argv)
{
    char strategies[1024] = "";
    for (size_t i = 0; kv_strategies[i] != NULL; i++) {
        char line[200];
        snprintf(line, sizeof(line), "  %-11s %s\n", kv_strategies[i]->name,
                 kv_strategies[i]->help);
        strncat(strategies, line, sizeof(strategies) - strlen(strategies) - 1);
    }
    char usage[4096];
    snprintf(usage, sizeof(usage), usage_compare, strategies);
    run_opts o;
    cli_parse_run_args(argc, argv, &o, usage, 1);
    if (o.allocators != NULL && (o.kv_dtypes != NULL || o.quantizations != NULL))
        cli_die("compare: --allocators and %s: one comparison at a time",
                o.kv_dtypes != NULL ? "--kv-cache-dtypes" : "--quantizations");
    if (o.out != NULL)
        cli_out_check_kind(o.out, 1, "compare");
    cli_out_keep(o.trace);
    cli_stdin_replayable(&o); /* --trace -: every arm reads it */
    if (o.allocators == NULL && (o.kv_dtypes != NULL || o.quantizations != NULL))
        return cli_compare_formats(&o); /* one run per format (cmd_compare_formats.c) */
    if (o.allocators == NULL && o.speculative_config != NULL)
        return cli_compare_spec(&o); /* with and without speculation (cmd_compare_spec.c) */
    if (o.allocators == NULL)
        cli_die("compare: say what to compare: --allocators SPEC,..., --kv-cache-dtypes "
                "FMT,..., --quantizations FMT,... or --speculative-config JSON (kvsim compare "
                "--help)");
    if (o.allocator != NULL || o.block_size != NULL)
        cli_die("compare: use --allocators (with block=N in a paged spec), not --allocator or "
                "--block-size");
    if (o.trace == NULL && o.workload == NULL)
        cli_die("compare: --trace FILE is required, or --workload SPEC (kvsim compare --help)");
    static char specs[MAX_SPECS][128];
    int n = split_specs(o.allocators, specs);
    if (n == 0)
        cli_die("--allocators: empty list (give SPEC,SPEC,...; kvsim compare --help)");

    for (int i = 0; i < n; i++)
        for (int k = 0; k < i; k++)
            if (strcmp(specs[i], specs[k]) == 0)
                cli_die("--allocators: '%s' is listed twice", specs[i]);
    sim_config cfg;
    double ts_interval;
    trace_format fmt;
    cli_build_config(&o, "compare", &cfg, &ts_interval, &fmt);
    /* --num-blocks: the same pool for every strategy, in blocks of the first
     * paged spec's size (16 without one). */
    for (int i = 0; i < n && cfg.num_blocks_tokens == 0; i++)
        if (strncmp(specs[i], "paged", 5) == 0)
            cfg.num_blocks_tokens = sim_spec_block_tokens(specs[i]);
    for (int i = 0; i < n; i++) {
        char err[1024];
        set_arm(&cfg, &o, specs[i]);
        if (sim_check_config(&cfg, err, sizeof(err)) != 0) /* which arm, then why */
            cli_die("compare: --allocators %s: %s", specs[i], err);
    }
    if (o.out != NULL)
        cli_make_dirs(o.out);

    static cli_result runs[MAX_SPECS];
    for (int i = 0; i < n; i++) {
        set_arm(&cfg, &o, specs[i]);
        char dir[4096];
        const char *out_dir = NULL;
        if (o.out != NULL) {
            char sub[128];
            spec_dirname(specs[i], sub, sizeof(sub));
            snprintf(dir, sizeof(dir), "%s/%s", o.out, sub);
            cli_make_dirs(dir);
            out_dir = dir;
        }
        if (!o.quiet)
            cli_error("compare: running %s", specs[i]);
        if (cli_run_once(&o, &cfg, fmt, ts_interval, out_dir, &runs[i]) != 0)
            return 1;
        if (out_dir != NULL) {
            an_run_info info = {&cfg, &runs[i].res, &runs[i].metrics, runs[i].source,
                                runs[i].wall_s};
            FILE *js = cli_open_out(out_dir, "summary.json");
            an_write_summary_json(js, &info);
            cli_close_out(js, out_dir, "summary.json");
        }
    }

    if (!o.quiet)
        print_tables(&cfg, &o, runs, n);
    if (o.out != NULL) {
        const char *labels[MAX_SPECS];
        for (int i = 0; i < n; i++)
            labels[i] = runs[i].res.allocator;
        cli_compare_write(o.out, "allocator", labels, runs, n, cfg.model.name, cfg.gpu.name,
                          o.quiet, !o.no_plot, "allocator");
    }
    for (int i = 0; i < n; i++)
        an_metrics_free(&runs[i].metrics);
    return 0;
}
