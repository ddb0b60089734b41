/*
 * compare_out.c: compare.csv, compare.json and the bars of any kvsim
 * compare (see compare_out.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "cli/compare_out.h"

#include <stdio.h>
#include <stdlib.h>

#include "analysis/metrics.h"
#include "analysis/plot.h"
#include "analysis/report.h"
#include "cli/cli_out.h"

static double pct(double a, double b)
{
    return b > 0 ? 100.0 * a / b : 0;
}

void cli_compare_lat_of(const an_metrics *m, cli_compare_lat *l)
{
    an_latency_stats st;
    an_metrics_latency(m, AN_LAT_TTFT, &st);
    l->median_ttft_ms = st.median * 1e3;
    l->p99_ttft_ms = st.p99 * 1e3;
    an_metrics_latency(m, AN_LAT_TPOT, &st);
    l->median_tpot_ms = st.median * 1e3;
    l->p99_tpot_ms = st.p99 * 1e3;
    an_metrics_latency(m, AN_LAT_E2EL, &st);
    l->mean_e2el_ms = st.mean * 1e3;
}

void cli_compare_write(const char *out, const char *label_col, const char *const *labels,
                       const cli_result *runs, int n, const char *model, const char *gpu,
                       bool quiet, bool plot, const char *what)
{
    FILE *csv = cli_open_out(out, "compare.csv");
    FILE *js = cli_open_out(out, "compare.json");
    fprintf(csv,
            "%s,pool_bytes,avg_token_states_pct,avg_reservation_pct,"
            "avg_internal_frag_pct,avg_external_frag_pct,avg_blocked_free_pct,"
            "avg_free_pct,peak_token_states_pct,peak_reservation_pct,"
            "peak_internal_frag_pct,peak_external_frag_pct,peak_blocked_free_pct,"
            "peak_free_pct,ext_frag_index,peak_alloc_bytes,"
            "mean_running,max_running,output_tokens_per_s,median_ttft_ms,p99_ttft_ms,"
            "median_tpot_ms,p99_tpot_ms,preemptions,completed,rejected,prefix_hit_rate,"
            "prefill_tokens_saved,weights_bytes,kv_bytes_per_token,pool_tokens,"
            "spec_draft_tokens,spec_accepted_tokens\n",
            label_col);
    fputs("{\n  \"model\": ", js);
    an_json_str(js, model);
    fputs(",\n  \"gpu\": ", js);
    an_json_str(js, gpu);
    fputs(",\n  \"runs\": [\n", js);
    for (int i = 0; i < n; i++) {
        const sim_result *r = &runs[i].res;
        const an_metrics *m = &runs[i].metrics;
        an_breakdown_pct a, p;
        an_metrics_time_avg(m, r->makespan_s, &a);
        an_metrics_at_peak(m, &p);
        double tput = r->makespan_s > 0 ? (double)r->output_tokens / r->makespan_s : 0;
        double ext = an_metrics_ext_index(m, r->makespan_s);
        cli_compare_lat l;
        cli_compare_lat_of(m, &l);
        unsigned long long pool_tokens =
            r->plan.kv_bytes_per_token > 0 ? r->plan.kv_pool_bytes / r->plan.kv_bytes_per_token : 0;
        fprintf(csv,
                "\"%s\",%llu,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,"
                "%.6f,%llu,%.4f,%u,%.4f,%.6f,%.6f,%.6f,%.6f,%llu,%llu,%llu,%.6f,%llu,%llu,%llu,"
                "%llu,%llu,%llu\n",
                labels[i], (unsigned long long)r->plan.kv_pool_bytes, a.token_states, a.reservation,
                a.internal_frag, a.external_frag, a.blocked_free, a.free, p.token_states,
                p.reservation, p.internal_frag, p.external_frag, p.blocked_free, p.free, ext,
                (unsigned long long)m->peak_alloc_bytes, an_metrics_mean_running(m), r->max_running,
                tput, l.median_ttft_ms, l.p99_ttft_ms, l.median_tpot_ms, l.p99_tpot_ms,
                (unsigned long long)r->preemptions, (unsigned long long)r->completed,
                (unsigned long long)r->rejected,
                pct((double)r->prefix.hit_tokens, (double)r->prefix.lookup_tokens) / 100.0,
                (unsigned long long)r->prefix.hit_tokens, (unsigned long long)r->plan.weights_bytes,
                (unsigned long long)r->plan.kv_bytes_per_token, pool_tokens,
                (unsigned long long)r->spec.draft_tokens,
                (unsigned long long)r->spec.accepted_tokens);
        fprintf(js, "    {\"%s\": ", label_col);
        an_json_str(js, labels[i]);
        fprintf(js,
                ", \"pool_bytes\": %llu, \"time_avg_pct\": "
                "{\"token_states\": %.4f, \"reservation\": %.4f, \"internal_frag\": %.4f, "
                "\"external_frag\": %.4f, \"blocked_free\": %.4f, \"free\": %.4f}, "
                "\"at_peak_pct\": {\"token_states\": %.4f, \"reservation\": %.4f, "
                "\"internal_frag\": %.4f, \"external_frag\": %.4f, \"blocked_free\": %.4f, "
                "\"free\": %.4f}, \"external_frag_index\": %.6f, "
                "\"peak_kv_allocated_bytes\": %llu, \"peak_kv_allocated_pct\": %.4f, "
                "\"batch\": {\"mean_running\": %.4f, \"max_running\": %u}, "
                "\"output_tokens_per_s\": %.4f, \"median_ttft_ms\": %.6f, \"p99_ttft_ms\": %.6f, "
                "\"median_tpot_ms\": %.6f, \"p99_tpot_ms\": %.6f, \"preemptions\": %llu, "
                "\"requests\": {\"completed\": %llu, \"rejected\": %llu}, \"prefix_cache\": "
                "{\"enabled\": %s, \"hit_rate\": %.6f, \"prefill_tokens_saved\": %llu}, "
                "\"memory\": {\"weights_bytes\": %llu, \"kv_bytes_per_token\": %llu, "
                "\"pool_tokens\": %llu}, \"speculative\": {\"draft_tokens\": %llu, "
                "\"accepted_tokens\": %llu}}%s\n",
                (unsigned long long)r->plan.kv_pool_bytes, a.token_states, a.reservation,
                a.internal_frag, a.external_frag, a.blocked_free, a.free, p.token_states,
                p.reservation, p.internal_frag, p.external_frag, p.blocked_free, p.free, ext,
                (unsigned long long)m->peak_alloc_bytes,
                pct((double)m->peak_alloc_bytes, (double)r->plan.kv_pool_bytes),
                an_metrics_mean_running(m), r->max_running, tput, l.median_ttft_ms, l.p99_ttft_ms,
                l.median_tpot_ms, l.p99_tpot_ms, (unsigned long long)r->preemptions,
                (unsigned long long)r->completed, (unsigned long long)r->rejected,
                r->prefix.enabled ? "true" : "false",
                pct((double)r->prefix.hit_tokens, (double)r->prefix.lookup_tokens) / 100.0,
                (unsigned long long)r->prefix.hit_tokens, (unsigned long long)r->plan.weights_bytes,
                (unsigned long long)r->plan.kv_bytes_per_token, pool_tokens,
                (unsigned long long)r->spec.draft_tokens,
                (unsigned long long)r->spec.accepted_tokens, i + 1 < n ? "," : "");
    }
    fprintf(js, "  ]\n}\n");
    cli_close_out(csv, out, "compare.csv");
    cli_close_out(js, out, "compare.json");
    /* The bars read compare.csv back: the files are committed first. */
    char err[4400];
    if (cli_out_commit() != 0)
        exit(1);
    if (plot && an_plot_compare(out, NULL, err, sizeof(err)) != 0)
        cli_die("compare: %s", err);
    const char *mine[] = {"compare.csv", "compare.json", "compare.png", "compare.svg"};
    if (cli_out_remove_others(out, mine, plot ? 4 : 2) != 0)
        exit(1);
    if (!quiet && plot)
        printf("\nwrote %s/compare.csv, %s/compare.json, %s/compare.png and .svg, and one "
               "folder per %s\n",
               out, out, out, what);
    else if (!quiet)
        printf("\nwrote %s/compare.csv, %s/compare.json (--no-plot: no bars), and one folder "
               "per %s\n",
               out, out, what);
}
