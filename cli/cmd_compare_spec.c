/*
 * cmd_compare_spec.c: `kvsim compare --speculative-config JSON` without
 * --allocators: the same workload and configuration run without and with
 * speculative decoding, side by side (throughput, latency, KV, and the
 * speculation's own figures).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "analysis/metrics.h"
#include "analysis/report.h"
#include "cli/compare_out.h"
#include "cli/run_config.h"

int cli_compare_spec(const run_opts *o);

static double gib(uint64_t b)
{
    return (double)b / 1073741824.0;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

int cli_compare_spec(const run_opts *o)
{
    if (o->trace == NULL && o->workload == NULL)
        cli_die("compare: --trace FILE is required, or --workload SPEC (kvsim compare --help)");
    sim_config with;
    double ts_interval;
    trace_format fmt;
    cli_build_config(o, "compare", &with, &ts_interval, &fmt);
    sim_config without = with;
    without.spec.method = SIM_SPEC_NONE;
    char err[1024];
    if (sim_check_config(&without, err, sizeof(err)) != 0 ||
        sim_check_config(&with, err, sizeof(err)) != 0)
        cli_die("%s", err);
    static cli_result runs[2];
    const sim_config *cfgs[2] = {&without, &with};
    const char *names[2] = {"no speculation", "speculative"};
    if (o->out != NULL)
        cli_make_dirs(o->out);
    for (int i = 0; i < 2; i++) {
        char dir[4096];
        const char *out_dir = NULL;
        if (o->out != NULL) {
            snprintf(dir, sizeof(dir), "%s/%s", o->out, i ? "speculative" : "baseline");
            cli_make_dirs(dir);
            out_dir = dir;
        }
        if (!o->quiet)
            cli_error("compare: running %s", names[i]);
        if (cli_run_once(o, cfgs[i], fmt, ts_interval, out_dir, &runs[i]) != 0)
            return 1;
        if (out_dir != NULL) {
            an_run_info info = {cfgs[i], &runs[i].res, &runs[i].metrics, runs[i].source,
                                runs[i].wall_s};
            FILE *js = cli_open_out(out_dir, "summary.json");
            an_write_summary_json(js, &info);
            cli_close_out(js, out_dir, "summary.json");
        }
    }
    if (!o->quiet) {
        printf("kvsim compare: %s on %s%s, %s\nspeculative: %s\n\n", with.model.name, with.gpu.name,
               cli_layout(&with), runs[0].source, o->speculative_config);
        printf("%-15s %10s %9s %9s %9s %9s %9s %8s %8s %7s %7s %7s %9s\n", "", "out tok/s",
               "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "E2E mean", "peak KV", "KV/slot",
               "preempt", "accept", "length", "draft %");
        for (int i = 0; i < 2; i++) {
            const sim_result *r = &runs[i].res;
            const an_metrics *m = &runs[i].metrics;
            char acc[16] = "-", len[16] = "-", draft[16] = "-";
            if (i == 1) {
                snprintf(acc, sizeof(acc), "%.1f%%",
                         100 *
                             ratio((double)r->spec.accepted_tokens, (double)r->spec.draft_tokens));
                snprintf(len, sizeof(len), "%.3f",
                         1 + ratio((double)r->spec.accepted_tokens, (double)r->spec.num_drafts));
                snprintf(draft, sizeof(draft), "%.1f", 100 * ratio(r->spec.draft_s, r->busy_s));
            }
            cli_compare_lat l;
            cli_compare_lat_of(m, &l);
            printf("%-15s %10.1f %9.1f %9.1f %9.2f %9.2f %9.1f %8.2f %8llu %7llu %7s %7s %9s\n",
                   names[i], ratio((double)r->output_tokens, r->makespan_s), l.median_ttft_ms,
                   l.p99_ttft_ms, l.median_tpot_ms, l.p99_tpot_ms, l.mean_e2el_ms,
                   gib(m->peak_alloc_bytes), (unsigned long long)r->plan.kv_bytes_per_token,
                   (unsigned long long)r->preemptions, acc, len, draft);
        }
        cli_compare_lat la, lb;
        cli_compare_lat_of(&runs[0].metrics, &la);
        cli_compare_lat_of(&runs[1].metrics, &lb);
        printf("\nspeedup (TPOT p50) %.3fx, output throughput %.3fx; the drafter's weights "
               "%.2f GiB and KV (%llu bytes a slot) shrink the pool from %llu to %llu tokens\n",
               ratio(la.median_tpot_ms, lb.median_tpot_ms),
               ratio(ratio((double)runs[1].res.output_tokens, runs[1].res.makespan_s),
                     ratio((double)runs[0].res.output_tokens, runs[0].res.makespan_s)),
               gib(runs[1].res.plan.draft_weights_bytes),
               (unsigned long long)runs[1].res.plan.draft_kv_bytes_per_token,
               (unsigned long long)(runs[0].res.plan.kv_pool_bytes /
                                    runs[0].res.plan.kv_bytes_per_token),
               (unsigned long long)(runs[1].res.plan.kv_pool_bytes /
                                    runs[1].res.plan.kv_bytes_per_token));
        printf("(TTFT, TPOT and E2E in ms; peak KV in GiB; KV/slot: bytes a token slot)\n");
    }
    if (o->out != NULL) {
        const char *labels[2] = {"baseline", "speculative"}; /* the runs' folders */
        cli_compare_write(o->out, "speculative", labels, runs, 2, with.model.name, with.gpu.name,
                          o->quiet, !o->no_plot, "run");
    }
    for (int i = 0; i < 2; i++)
        an_metrics_free(&runs[i].metrics);
    return 0;
}
