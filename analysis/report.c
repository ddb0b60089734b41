/*
 * report.c: summary.json and the terminal summary; see report.h.
 *
 * Doubles in summary.json are printed so that they read back exactly
 * (an_fmt_double: the shortest of %.15g..%.17g that round-trips), shares
 * and indices with fixed decimals, so two runs with the same inputs and
 * seed write byte-identical files apart from sim.wall_s. Latencies of an
 * empty set (nothing completed) are null in JSON and n/a in the terminal.
 */
#include "analysis/report.h"
#include "analysis/report_profile.h"
#include "analysis/report_spec.h"

#include <math.h>
#include <string.h>

#include "sim/preset.h"

void an_csv_cell(FILE *fp, const char *s)
{
    if (strpbrk(s, ",\"\n") == NULL) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

void an_json_str(FILE *fp, const char *s)
{
    /* Runs of characters that need no escape go out in one fwrite (a
     * sweep's curves.json is a megabyte of figure names). */
    fputc('"', fp);
    const char *run = s;
    for (;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '\0' && c != '"' && c != '\\' && c >= 0x20)
            continue;
        fwrite(run, 1, (size_t)(s - run), fp);
        if (c == '\0')
            break;
        if (c == '"' || c == '\\')
            fprintf(fp, "\\%c", c);
        else
            fprintf(fp, "\\u%04x", c);
        run = s + 1;
    }
    fputc('"', fp);
}

/* V as JSON: a double that round-trips (see an_fmt_double). */
static const char *num(char buf[AN_NUM_LEN], double v)
{
    return an_fmt_double(buf, v);
}

static void json_latency(FILE *fp, const char *name, const an_hist *h, int last)
{
    /* An empty histogram has no mean or percentiles: null (NAN), not 0. */
    bool any = h->n > 0;
    char a[AN_NUM_LEN], b[AN_NUM_LEN], c[AN_NUM_LEN], d[AN_NUM_LEN];
    fprintf(
        fp,
        "    \"%s\": {\"mean\": %s, \"p50\": %s, \"p90\": %s, \"p99\": %s, "
        "\"count\": %llu}%s\n",
        name, num(a, any ? an_hist_mean(h) : NAN), num(b, any ? an_hist_percentile(h, 50) : NAN),
        num(c, any ? an_hist_percentile(h, 90) : NAN),
        num(d, any ? an_hist_percentile(h, 99) : NAN), (unsigned long long)h->n, last ? "" : ",");
}

static void json_pct(FILE *fp, const char *name, const an_breakdown_pct *p, int last)
{
    fprintf(fp,
            "    \"%s\": {\"token_states\": %.4f, \"reservation\": %.4f, \"internal_frag\": %.4f, "
            "\"external_frag\": %.4f, \"blocked_free\": %.4f, \"free\": %.4f}%s\n",
            name, p->token_states, p->reservation, p->internal_frag, p->external_frag,
            p->blocked_free, p->free, last ? "" : ",");
}

static double safe_div(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static const char *const lat_names[AN_LAT_COUNT] = {"ttft", "tpot",  "itl",
                                                    "e2el", "queue", "prefill"};

/* One latency as vLLM's benchmark JSON names it: mean_NAME_ms,
 * median_NAME_ms, std_NAME_ms, pP_NAME_ms (P = 90, 95, 99, 99.9), and
 * max_NAME_ms (kvsim's); null when there is no value. */
static void json_vllm_latency(FILE *fp, const an_metrics *m, int kind, int last)
{
    an_latency_stats st;
    an_metrics_latency(m, kind, &st);
    const char *k = lat_names[kind];
    char a[AN_NUM_LEN], b[AN_NUM_LEN], c[AN_NUM_LEN], d[AN_NUM_LEN], e[AN_NUM_LEN], f[AN_NUM_LEN],
        g[AN_NUM_LEN], h[AN_NUM_LEN];
    fprintf(fp,
            "    \"mean_%s_ms\": %s, \"median_%s_ms\": %s, \"std_%s_ms\": %s,\n"
            "    \"p90_%s_ms\": %s, \"p95_%s_ms\": %s, \"p99_%s_ms\": %s, \"p99.9_%s_ms\": %s, "
            "\"max_%s_ms\": %s%s\n",
            k, num(a, st.mean * 1e3), k, num(b, st.median * 1e3), k, num(c, st.std * 1e3), k,
            num(d, st.p90 * 1e3), k, num(e, st.p95 * 1e3), k, num(f, st.p99 * 1e3), k,
            num(g, st.p999 * 1e3), k, num(h, st.max * 1e3), last ? "" : ",");
}

/* "latency_method": how each latency of "vllm_bench" and "phases" was
 * summarised (an_latency_method_name), and the limits and bounds behind
 * the names. */
static void write_latency_method_json(FILE *fp, const an_metrics *m)
{
    fprintf(fp, "  \"latency_method\": {");
    for (int k = 0; k < AN_LAT_COUNT; k++) {
        an_latency_stats st;
        an_metrics_latency(m, k, &st);
        fprintf(fp, "\"%s\": \"%s\", ", lat_names[k], an_latency_method_name(st.method));
    }
    char a[AN_NUM_LEN];
    fprintf(fp,
            "\"exact_max_values\": %llu, \"itl_exact_max_gaps\": %llu, "
            "\"histogram_rel_err\": %s, \"log_histogram_rel_err\": 0.0005},\n",
            (unsigned long long)m->ttft_s.max_exact,
            (unsigned long long)(m->itl_exact.max_pairs / 2), num(a, AN_QHIST_REL_ERR));
}

/* The "vllm_bench" block (vllm bench serve's result JSON keys), "goodput"
 * and "phases" (queueing and prefill per request). */
static void write_vllm_bench_json(FILE *fp, const an_run_info *in)
{
    const sim_result *r = in->res;
    const an_metrics *m = in->metrics;
    double span = r->makespan_s;
    char a[AN_NUM_LEN], b[AN_NUM_LEN], c[AN_NUM_LEN], d[AN_NUM_LEN], e[AN_NUM_LEN];
    fprintf(fp,
            "  \"vllm_bench\": {\n    \"duration\": %s, \"completed\": %llu, \"failed\": %llu, "
            "\"total_input_tokens\": %llu, \"total_output_tokens\": %llu,\n"
            "    \"request_throughput\": %s, \"request_goodput\": %s, \"output_throughput\": %s, "
            "\"total_token_throughput\": %s, \"max_output_tokens_per_s\": %llu,\n",
            num(a, span), (unsigned long long)r->completed, (unsigned long long)r->rejected,
            (unsigned long long)r->input_tokens, (unsigned long long)r->output_tokens,
            num(b, safe_div((double)r->completed, span)), num(c, an_metrics_goodput(m, span)),
            num(d, safe_div((double)r->output_tokens, span)),
            num(e, safe_div((double)(r->input_tokens + r->output_tokens), span)),
            (unsigned long long)m->max_tok_bucket);
    json_vllm_latency(fp, m, AN_LAT_TTFT, 0);
    json_vllm_latency(fp, m, AN_LAT_TPOT, 0);
    json_vllm_latency(fp, m, AN_LAT_ITL, 0);
    json_vllm_latency(fp, m, AN_LAT_E2EL, 1);
    fprintf(fp, "  },\n");
    fprintf(fp,
            "  \"goodput\": {\"ttft_ms\": %s, \"tpot_ms\": %s, \"e2el_ms\": %s, "
            "\"good_requests\": %llu, \"request_goodput\": %s},\n",
            num(a, m->slo.ttft_s >= 0 ? m->slo.ttft_s * 1e3 : NAN),
            num(b, m->slo.tpot_s >= 0 ? m->slo.tpot_s * 1e3 : NAN),
            num(c, m->slo.e2el_s >= 0 ? m->slo.e2el_s * 1e3 : NAN),
            (unsigned long long)(m->goodput_set ? m->good : 0),
            num(d, an_metrics_goodput(m, span)));
    fprintf(fp, "  \"phases\": {\n");
    json_vllm_latency(fp, m, AN_LAT_QUEUE, 0);
    json_vllm_latency(fp, m, AN_LAT_PREFILL, 1);
    fprintf(fp, "  },\n");
    write_latency_method_json(fp, m);
}

static const char *const router_names[] = {"round-robin", "least-loaded", "prefix-affinity"};

/* The scheduler's resolved settings, inside "config" (closes it). */
static void write_sched_config_json(FILE *fp, const an_run_info *in)
{
    const sim_config *c = in->cfg;
    const sim_result *r = in->res;
    fprintf(fp,
            "    \"scheduler\": \"%s\",\n    \"enable_chunked_prefill\": %s,\n"
            "    \"long_prefill_token_threshold\": %u,\n    \"enable_prefix_caching\": %s,\n"
            "    \"preemption_mode\": \"%s\",\n    \"swap_space_gib\": %.17g,\n"
            "    \"max_concurrency\": %u,\n    \"client_max_tokens\": %s,\n"
            "    \"replicas\": %u,\n    \"router\": \"%s\",\n"
            "    \"tensor_parallel_size\": %u,\n    \"pipeline_parallel_size\": %u\n  },\n",
            r->scheduler, r->chunked_prefill ? "true" : "false", c->long_prefill_threshold,
            r->prefix_caching ? "true" : "false",
            c->preemption_mode == SIM_PREEMPT_SWAP ? "swap" : "recompute", c->swap_space_gib,
            c->max_concurrency, c->client_max_tokens ? "true" : "false", r->replicas,
            router_names[c->router], r->plan.tensor_parallel, r->plan.pipeline_parallel);
}

static double per(double x, uint64_t n)
{
    return n ? x / (double)n : 0.0;
}

/* Preemptions by mode and each replica's figures. */
static void write_replicas_json(FILE *fp, const an_run_info *in)
{
    const sim_result *r = in->res;
    fprintf(fp,
            "  \"preemption\": {\"total\": %llu, \"swap\": %llu, \"recompute\": %llu, "
            "\"swapped_out_bytes\": %llu, \"swapped_in_bytes\": %llu, "
            "\"recomputed_tokens\": %llu},\n",
            (unsigned long long)r->preemptions, (unsigned long long)r->swap_preemptions,
            (unsigned long long)(r->preemptions - r->swap_preemptions),
            (unsigned long long)r->swapped_out_bytes, (unsigned long long)r->swapped_in_bytes,
            (unsigned long long)r->recomputed_tokens);
    fprintf(fp, "  \"replicas\": [");
    for (uint32_t k = 0; k < r->replicas; k++) {
        const sim_replica_stats *s = &r->per_replica[k];
        fprintf(fp,
                "%s\n    {\"replica\": %u, \"requests\": %llu, \"completed\": %llu, "
                "\"rejected\": %llu, \"output_tokens_per_s\": %.17g, \"steps\": %llu, "
                "\"busy_s\": %.17g, \"preemptions\": %llu, \"max_running\": %u, "
                "\"max_waiting\": %u, \"mean_ttft_ms\": %.17g, \"mean_tpot_ms\": %.17g, "
                "\"mean_e2el_ms\": %.17g}",
                k ? "," : "", k, (unsigned long long)s->total, (unsigned long long)s->completed,
                (unsigned long long)s->rejected,
                r->makespan_s > 0 ? (double)s->output_tokens / r->makespan_s : 0.0,
                (unsigned long long)s->steps, s->busy_s, (unsigned long long)s->preemptions,
                s->max_running, s->max_waiting, 1e3 * per(s->ttft_sum_s, s->completed),
                1e3 * per(s->tpot_sum_s, s->tpot_n), 1e3 * per(s->e2e_sum_s, s->completed));
    }
    fprintf(fp, "\n  ],\n");
}

/* The host's per-step time of tensor parallelism at TP (sim_cost_init's
 * tp_host_s): tp_step_s x log2(TP), 0 at TP 1. */
static double tp_host_s(const sim_config *c, uint32_t tp)
{
    return tp > 1 ? c->cost.tp_step_s * log2((double)tp) : 0.0;
}

/* Terminal lines: the scheduler, preemptions by mode, replicas. */
static void print_sched_summary(FILE *fp, const an_run_info *in)
{
    const sim_config *c = in->cfg;
    const sim_result *r = in->res;
    fprintf(fp,
            "scheduler    %s: budget %u tokens/step, chunked prefill %s, prefix caching %s, "
            "%s\n",
            r->scheduler, r->plan.max_batched_tokens, r->chunked_prefill ? "on" : "off",
            r->prefix_caching ? "on" : "off",
            strcmp(r->scheduler, "orca") == 0 /* it reserves max_model_len at admission */
                ? "no preemption (KV reserved for max_model_len at admission)"
                : c->preemption_mode == SIM_PREEMPT_SWAP ? "preemption by swap"
                                                         : "preemption by recompute");
    if (r->swap_preemptions)
        fprintf(fp,
                "             %llu preemptions by swap (%.2f GiB out, %.2f GiB in), %llu by "
                "recompute (%llu tokens recomputed)\n",
                (unsigned long long)r->swap_preemptions,
                (double)r->swapped_out_bytes / 1073741824.0,
                (double)r->swapped_in_bytes / 1073741824.0,
                (unsigned long long)(r->preemptions - r->swap_preemptions),
                (unsigned long long)r->recomputed_tokens);
    const uint32_t pp = r->plan.pipeline_parallel;
    const double stages_busy = 100.0 * safe_div(r->stage_busy_s, r->makespan_s * pp * r->replicas);
    if (pp > 1 && c->cost.llamacpp_split)
        fprintf(fp,
                "pipeline     llama.cpp layer split: %u GPUs (the fullest %u of the %u layers) run "
                "each step in turn, one batch in flight: GPUs busy %.1f%% of the time\n",
                pp, r->plan.stage_layers, c->model.layers, stages_busy);
    else if (pp > 1 && sim_config_shared_pool(c))
        fprintf(fp,
                "pipeline     %u stages of %u layers, vLLM V1: one scheduler and KV pool, up to %u "
                "batches in flight: stages busy %.1f%% of the time\n",
                pp, r->plan.stage_layers, pp, stages_busy);
    else if (pp > 1)
        fprintf(fp,
                "pipeline     %u stages of %u layers, %u virtual engines per replica with 1/%u of "
                "the KV blocks each: stages busy %.1f%% of the time\n",
                pp, r->plan.stage_layers, pp, pp, stages_busy);
    if (r->plan.tensor_parallel > 1) {
        /* With stages, each runs its share of the all-reduces: the share is
         * of the stages' busy time (busy time counts waits for stages). */
        double share =
            r->plan.pipeline_parallel > 1
                ? safe_div(r->allreduce_s * r->plan.stage_layers * r->plan.pipeline_parallel,
                           r->stage_busy_s * c->model.layers)
                : safe_div(r->allreduce_s, r->busy_s);
        fprintf(fp,
                "parallel     tensor parallel %u over %s (all-reduce %.1f GB/s bus bandwidth, "
                "%.1f us floor%s): all-reduces %.1f%% of %s time",
                r->plan.tensor_parallel, r->link.interconnect, r->link.busbw_Bps / 1e9,
                r->link.floor_s * 1e6, strcmp(r->link.source, "user") == 0 ? ", set by option" : "",
                100.0 * share, r->plan.pipeline_parallel > 1 ? "the stages' busy" : "busy");
        /* The host's per-step time of tensor parallelism (sim_cost_init's
         * tp_host_s), which a measured profile has inside its steps. */
        if (c->cost.tp_step_s > 0 && c->step_profile == NULL)
            fprintf(fp, "; the host's broadcast %.2f ms a step (tp_step_ms %.4g x log2 %u)",
                    1e3 * tp_host_s(c, r->plan.tensor_parallel), 1e3 * c->cost.tp_step_s,
                    r->plan.tensor_parallel);
        fprintf(fp, "\n");
    }
    if (r->replicas <= 1)
        return;
    fprintf(fp, "replicas     %u behind %s (memory figures below: replica 0)\n", r->replicas,
            router_names[c->router]);
    fprintf(fp, "  replica  requests  completed   out tok/s mean TTFT ms mean TPOT ms  preempt\n");
    for (uint32_t k = 0; k < r->replicas; k++) {
        const sim_replica_stats *s = &r->per_replica[k];
        fprintf(fp, "  %7u %9llu %10llu %11.1f %12.1f %12.2f %8llu\n", k,
                (unsigned long long)s->total, (unsigned long long)s->completed,
                r->makespan_s > 0 ? (double)s->output_tokens / r->makespan_s : 0.0,
                1e3 * per(s->ttft_sum_s, s->completed), 1e3 * per(s->tpot_sum_s, s->tpot_n),
                (unsigned long long)s->preemptions);
    }
}

int an_write_summary_json(FILE *fp, const an_run_info *in)
{
    const sim_config *c = in->cfg;
    const sim_result *r = in->res;
    const an_metrics *m = in->metrics;
    const sim_memory_plan *p = &r->plan;
    double span = r->makespan_s;
    an_breakdown_pct avg, peak;
    an_metrics_time_avg(m, span, &avg);
    an_metrics_at_peak(m, &peak);

    fprintf(fp, "{\n  \"kvsim_version\": \"0.1.0\",\n  \"config\": {\n    \"source\": ");
    an_json_str(fp, in->source);
    fprintf(fp, ",\n    \"gpu\": ");
    an_json_str(fp, c->gpu.name);
    /* The device's figures the run used: the catalog's, or what
     * --mem-bw-gbps, --peak-tflops and --host-link-gbps gave (null: none,
     * a unified-memory device's host link). */
    {
        char b1[AN_NUM_LEN], b2[AN_NUM_LEN], b3[AN_NUM_LEN];
        fprintf(fp,
                ",\n    \"gpu_mem_bw_gbps\": %s,\n    \"gpu_fp16_tflops\": %s,\n"
                "    \"gpu_host_link_gbps\": %s",
                num(b1, c->gpu.mem_bw_Bps / 1e9), num(b2, c->gpu.fp16_flops / 1e12),
                c->gpu.host_link_Bps > 0 ? num(b3, c->gpu.host_link_Bps / 1e9) : "null");
    }
    fprintf(fp, ",\n    \"model\": ");
    an_json_str(fp, c->model.name);
    fprintf(fp, ",\n    \"allocator\": ");
    an_json_str(fp, r->allocator);
    fprintf(fp, ",\n    \"engine\": ");
    an_json_str(fp, c->engine);
    /* What the preset's terms were fitted to (a built-in preset's basis). */
    sim_engine_preset pr;
    char perr[256];
    fprintf(fp, ",\n    \"engine_basis\": ");
    if (sim_preset_lookup(c->engine, &pr, perr, sizeof(perr)) == 0)
        an_json_str(fp, pr.basis);
    else
        fprintf(fp, "null");
    char n1[AN_NUM_LEN], n2[AN_NUM_LEN], n3[AN_NUM_LEN], n4[AN_NUM_LEN], n5[AN_NUM_LEN],
        n6[AN_NUM_LEN], n7[AN_NUM_LEN], n8[AN_NUM_LEN], n9[AN_NUM_LEN], n10[AN_NUM_LEN];
    /* A graphed decode step's fixed time: the host's per step (and per
     * step of tensor parallelism), the per-layer launches of an eager one. */
    double step_fixed =
        c->cost.step_overhead_s +
        (c->cost.graph_max_tokens > 1 ? 0.0 : c->model.layers * c->cost.layer_overhead_s) +
        tp_host_s(c, p->tensor_parallel);
    fprintf(fp,
            ",\n    \"weight_dtype\": \"%s\",\n    \"kv_dtype\": \"%s\",\n"
            "    \"max_num_seqs\": %u,\n    \"max_batched_tokens\": %u,\n"
            "    \"max_model_len\": %u,\n    \"mem_util\": %s,\n    \"watermark\": %s,\n"
            "    \"seed\": %llu,\n    \"n\": %u,\n    \"bw_eff\": %s,\n    \"flops_eff\": %s,\n"
            "    \"step_overhead_s\": %s,\n    \"layer_overhead_s\": %s,\n"
            "    \"seq_overhead_s\": %s,\n    \"tp_step_s\": %s,\n"
            "    \"prefill_layer_s\": %s,\n"
            "    \"step_fixed_s\": %s,\n",
            c->weight_dtype->name, c->kv_dtype->name, p->max_num_seqs, p->max_batched_tokens,
            p->max_model_len, num(n1, c->mem_util), num(n2, r->watermark),
            (unsigned long long)c->seed, c->n_samples, num(n3, c->cost.bw_eff),
            num(n4, c->cost.flops_eff), num(n5, c->cost.step_overhead_s),
            num(n6, c->cost.layer_overhead_s), num(n8, c->cost.seq_overhead_s),
            num(n9, c->cost.tp_step_s), num(n10, c->cost.prefill_layer_s), num(n7, step_fixed));
    write_sched_config_json(fp, in);

    fprintf(fp, "  \"requests\": {\"total\": %llu, \"completed\": %llu, \"rejected\": %llu, ",
            (unsigned long long)r->total, (unsigned long long)r->completed,
            (unsigned long long)r->rejected);
    fprintf(fp, "\"truncated\": %llu, \"rejected_by\": {", (unsigned long long)r->truncated);
    int first = 1;
    for (int k = 1; k < SIM_REJECT_COUNT; k++) {
        fprintf(fp, "%s\"%s\": %llu", first ? "" : ", ", sim_reject_name(k),
                (unsigned long long)r->rejected_by[k]);
        first = 0;
    }
    fprintf(fp, "}},\n");

    fprintf(fp,
            "  \"trace\": {\"lines\": %llu, \"crlf_lines\": %llu, \"reordered\": %llu, "
            "\"zero_output\": %llu, \"trailing_blank\": %llu, \"missing_final_newline\": %d, "
            "\"failed_skipped\": %llu, \"filtered_out\": %llu},\n",
            (unsigned long long)r->trace.lines, (unsigned long long)r->trace.crlf_lines,
            (unsigned long long)r->trace.reordered, (unsigned long long)r->trace.zero_output,
            (unsigned long long)r->trace.trailing_blank, r->trace.missing_final_newline,
            (unsigned long long)r->trace.failed_skipped, (unsigned long long)r->trace.filtered_out);

    fprintf(fp,
            "  \"throughput\": {\"output_tokens_per_s\": %s, \"total_tokens_per_s\": %s, "
            "\"requests_per_s\": %s},\n",
            num(n1, safe_div((double)r->output_tokens, span)),
            num(n2, safe_div((double)(r->input_tokens + r->output_tokens), span)),
            num(n3, safe_div((double)r->completed, span)));

    fprintf(fp, "  \"latency_s\": {\n");
    json_latency(fp, "ttft", &m->ttft, 0);
    json_latency(fp, "tpot", &m->tpot, 0);
    json_latency(fp, "e2e", &m->e2e, 1);
    fprintf(fp, "  },\n");
    write_vllm_bench_json(fp, in);

    fprintf(fp,
            "  \"memory\": {\n    \"gpu_bytes\": %llu,\n    \"cuda_total_bytes\": %llu,\n"
            "    \"cuda_total_estimated\": %s,\n    \"usable_bytes\": %llu,\n"
            "    \"weights_bytes\": %llu,\n    \"activation_bytes\": %llu,\n"
            "    \"overhead_bytes\": %llu,\n    \"kv_pool_bytes\": %llu,\n"
            "    \"kv_pool_overridden\": %s,\n    \"kv_bytes_per_token\": %llu,\n"
            "    \"kv_pool_tokens\": %llu,\n    \"peak_kv_allocated_bytes\": %llu,\n"
            "    \"peak_kv_used_bytes\": %llu,\n    \"peak_time_s\": %s,\n"
            "    \"external_frag_index_time_avg\": %.6f,\n"
            "    \"tensor_parallel_size\": %u,\n    \"weights_total_bytes\": %llu,\n"
            "    \"kv_pool_exceeds_memory\": %s,\n"
            "    \"gpu_layers\": %u,\n    \"host_weights_bytes\": %llu,\n"
            "    \"host_kv_bytes_per_token\": %llu,\n",
            (unsigned long long)p->gpu_bytes, (unsigned long long)p->cuda_total_bytes,
            p->cuda_total_estimated ? "true" : "false", (unsigned long long)p->usable_bytes,
            (unsigned long long)p->weights_bytes, (unsigned long long)p->activation_bytes,
            (unsigned long long)p->overhead_bytes, (unsigned long long)p->kv_pool_bytes,
            p->pool_overridden ? "true" : "false", (unsigned long long)p->kv_bytes_per_token,
            (unsigned long long)(p->kv_pool_bytes / p->kv_bytes_per_token),
            (unsigned long long)m->peak_alloc_bytes, (unsigned long long)m->peak_used_bytes,
            num(n1, m->peak_time_s), an_metrics_ext_index(m, span), p->tensor_parallel,
            (unsigned long long)p->weights_total_bytes, p->pool_exceeds_memory ? "true" : "false",
            p->gpu_layers, (unsigned long long)p->host_weights_bytes,
            (unsigned long long)p->host_kv_bytes_per_token);
    json_pct(fp, "time_avg_pct", &avg, 0);
    json_pct(fp, "at_peak_pct", &peak, 1);
    fprintf(fp, "  },\n");

    fprintf(fp,
            "  \"batch\": {\"mean_running\": %.6f, \"max_running\": %u, \"max_waiting\": %u, "
            "\"steps\": %llu, \"mean_batch_seqs\": %.6f, \"mean_resident_seqs\": %.6f, "
            "\"mean_batch_tokens\": %.6f},\n",
            an_metrics_mean_running(m), r->max_running, r->max_waiting,
            (unsigned long long)m->steps, an_metrics_mean_batch(m),
            an_metrics_mean_resident_per_step(m), an_metrics_mean_batch_tokens(m));
    fprintf(
        fp,
        "  \"parallel\": {\"tensor_parallel_size\": %u, \"pipeline_parallel_size\": %u, "
        "\"virtual_engines\": %u, \"batches_in_flight\": %u, \"gpus\": %u, \"allreduce_s\": %s, "
        "\"stage_busy_pct\": %s, \"allreduce_busbw_gbps\": %s, \"allreduce_latency_us\": %s},\n",
        r->plan.tensor_parallel, r->plan.pipeline_parallel, sim_config_kv_pools(c),
        sim_config_virtual_engines(c),
        r->plan.tensor_parallel * r->plan.pipeline_parallel * r->replicas, num(n1, r->allreduce_s),
        r->plan.pipeline_parallel > 1
            ? num(n4, 100.0 * safe_div(r->stage_busy_s,
                                       r->makespan_s * r->plan.pipeline_parallel * r->replicas))
            : "null",
        r->plan.tensor_parallel > 1 || r->plan.pipeline_parallel > 1
            ? num(n2, r->link.busbw_Bps / 1e9)
            : "null",
        r->plan.tensor_parallel > 1 || r->plan.pipeline_parallel > 1
            ? num(n3, r->link.floor_s * 1e6)
            : "null");
    fprintf(fp, "  \"preemptions\": %llu,\n", (unsigned long long)r->preemptions);
    fprintf(fp, "  \"prefill_tokens_computed\": %llu,\n",
            (unsigned long long)r->prefill_tokens_computed);
    fprintf(fp,
            "  \"prefix_cache\": {\"enabled\": %s, \"hit_rate\": %.6f, \"lookup_tokens\": %llu, "
            "\"hit_tokens\": %llu, \"recompute_hit_tokens\": %llu, \"prefill_tokens_saved\": %llu, "
            "\"evictions\": %llu},\n",
            r->prefix.enabled ? "true" : "false",
            safe_div((double)r->prefix.hit_tokens, (double)r->prefix.lookup_tokens),
            (unsigned long long)r->prefix.lookup_tokens, (unsigned long long)r->prefix.hit_tokens,
            (unsigned long long)r->prefix.recompute_hit_tokens,
            (unsigned long long)(r->prefix.hit_tokens + r->prefix.recompute_hit_tokens),
            (unsigned long long)r->prefix.evictions);
    an_write_spec_json(fp, in);    /* only when the run speculated */
    an_write_profile_json(fp, in); /* only with --step-profile */
    fprintf(fp, "  \"timeseries\": {\"interval_s\": %s, \"rows\": %llu, \"truncated\": %s},\n",
            num(n1, m->ts_interval_s), (unsigned long long)m->ts_rows,
            m->ts_truncated ? "true" : "false");
    fprintf(fp, "  \"arrival_span_s\": %s,\n", num(n1, r->arrival_span_s));
    fprintf(fp, "  \"makespan_s\": %s,\n", num(n1, span));
    fprintf(fp, "  \"busy_s\": %s,\n", num(n2, r->busy_s));
    write_replicas_json(fp, in);
    fprintf(fp, "  \"sim\": {\"wall_s\": %.6f, \"events\": %llu, \"steps\": %llu}\n}\n", in->wall_s,
            (unsigned long long)r->events, (unsigned long long)r->steps);
    return ferror(fp) ? -1 : 0;
}

/* vllm bench serve's latencies in ms; n/a where there is none. */
static void print_latency_table(FILE *fp, const an_metrics *m)
{
    static const char *const names[AN_LAT_COUNT] = {"TTFT", "TPOT",  "ITL",
                                                    "E2EL", "queue", "prefill"};
    fprintf(fp, "latency (ms)        mean     median        std        p90        p95        p99"
                "      p99.9        max\n");
    for (int k = 0; k < AN_LAT_COUNT; k++) {
        an_latency_stats st;
        an_metrics_latency(m, k, &st);
        fprintf(fp, "  %-8s", names[k]);
        double v[8] = {st.mean, st.median, st.std, st.p90, st.p95, st.p99, st.p999, st.max};
        for (int j = 0; j < 8; j++) {
            if (st.count == 0) /* nothing completed (or no request of 2+ tokens, for TPOT) */
                fprintf(fp, " %10s", "n/a");
            else
                fprintf(fp, " %10.2f", v[j] * 1e3);
        }
        fprintf(fp, "\n");
    }
    /* Which of vllm bench serve's four passed the exact limit, if any. */
    static const int bench[4] = {AN_LAT_TTFT, AN_LAT_TPOT, AN_LAT_ITL, AN_LAT_E2EL};
    int past = 0;
    for (int k = 0; k < 4; k++) {
        an_latency_stats st;
        an_metrics_latency(m, bench[k], &st);
        if (st.method == AN_METHOD_HIST)
            fprintf(fp, "%s%s", past++ ? ", " : "  ", names[bench[k]]);
    }
    if (past)
        fprintf(fp, ": past the exact limit, percentiles from a histogram (within %.4f %%)\n",
                100 * AN_QHIST_REL_ERR);
}

static double gib(uint64_t b)
{
    return (double)b / 1073741824.0;
}

void an_print_summary(FILE *fp, const an_run_info *in)
{
    const sim_config *c = in->cfg;
    const sim_result *r = in->res;
    const an_metrics *m = in->metrics;
    const sim_memory_plan *p = &r->plan;
    /* vLLM v0's P per replica, one with llama.cpp's layer split; vLLM
     * V1's one scheduler runs its P batches in flight as lanes sharing its
     * pool (SHARED). */
    uint32_t ve = sim_config_virtual_engines(c);
    const bool shared = sim_config_shared_pool(c);
    double span = r->makespan_s;
    an_breakdown_pct avg, peak;
    an_metrics_time_avg(m, span, &avg);
    an_metrics_at_peak(m, &peak);

    /* A preset other than vllm sets the step costs (and its non-torch
     * memory, the memory line's), not the scheduler: that stays
     * --scheduler's (its line below). */
    fprintf(fp, "kvsim: %s on %s (%s weights, %s KV), %s, engine %s%s\n", c->model.name,
            c->gpu.name, c->weight_dtype->name, c->kv_dtype->name, r->allocator, c->engine,
            strcmp(c->engine, "vllm") == 0 ? "" : " (step costs; the scheduler line below)");
    fprintf(fp, "trace: %s\n", in->source);
    /* A preset fitted to no measurements of its own engine says so. */
    sim_engine_preset pr;
    char perr[256];
    if (c->step_profile == NULL && sim_preset_lookup(c->engine, &pr, perr, sizeof(perr)) == 0 &&
        pr.fit_rows == 0 && pr.params.bw_eff == c->cost.bw_eff &&
        pr.params.flops_eff == c->cost.flops_eff &&
        pr.params.step_overhead_s == c->cost.step_overhead_s &&
        pr.params.layer_overhead_s == c->cost.layer_overhead_s &&
        pr.params.seq_overhead_s == c->cost.seq_overhead_s &&
        pr.params.tp_step_s == c->cost.tp_step_s &&
        pr.params.prefill_layer_s == c->cost.prefill_layer_s)
        fprintf(fp, "cost model: preset %s: %s\n", pr.name, pr.basis);
    fprintf(fp, "\n");
    an_print_profile(fp, in);
    fprintf(fp, "requests     %llu total: %llu completed, %llu rejected",
            (unsigned long long)r->total, (unsigned long long)r->completed,
            (unsigned long long)r->rejected);
    if (r->rejected) {
        fprintf(fp, " (");
        int first = 1;
        for (int k = 1; k < SIM_REJECT_COUNT; k++)
            if (r->rejected_by[k]) {
                fprintf(fp, "%s%llu %s", first ? "" : ", ", (unsigned long long)r->rejected_by[k],
                        sim_reject_name(k));
                first = 0;
            }
        fprintf(fp, ")");
    }
    fprintf(fp, "\n");
    if (r->rejected_by[SIM_REJECT_PROMPT_TOO_LONG])
        fprintf(fp,
                "             prompts longer than max_model_len %u are rejected, as vLLM does "
                "(--max-model-len changes it)\n",
                p->max_model_len);
    if (r->truncated)
        fprintf(fp,
                "             %llu outputs cut at max_model_len %u by the engine's stop check "
                "(--client-max-tokens: refused as a server does)\n",
                (unsigned long long)r->truncated, p->max_model_len);
    if (r->trace.reordered || r->trace.zero_output || r->trace.trailing_blank)
        fprintf(
            fp,
            "             trace adjusted: %llu arrivals earlier than the row before raised to it, "
            "%llu zero outputs read "
            "as 1, %llu trailing blank lines\n",
            (unsigned long long)r->trace.reordered, (unsigned long long)r->trace.zero_output,
            (unsigned long long)r->trace.trailing_blank);
    fprintf(fp, "makespan     %.1f s (busy %.1f s%s), %llu steps, %llu preemptions\n", span,
            r->busy_s,
            p->pipeline_parallel <= 1 ? ""
            : shared ? " summed over the batches in flight, waits for stages included"
            : ve > 1 ? " summed over virtual engines, waits for stages included"
                     : ", waits for stages included",
            (unsigned long long)r->steps, (unsigned long long)r->preemptions);
    fprintf(fp,
            "throughput   %.1f output tok/s, %.1f total tok/s, %.3f req/s; peak %llu output "
            "tokens in one second\n",
            safe_div((double)r->output_tokens, span),
            safe_div((double)(r->input_tokens + r->output_tokens), span),
            safe_div((double)r->completed, span), (unsigned long long)m->max_tok_bucket);
    if (r->prefix.enabled)
        fprintf(fp,
                "prefix cache %.1f%% of %llu looked-up prompt tokens hit; %llu prefill tokens "
                "saved (%llu more by recomputations), %llu computed; %llu evictions\n",
                100.0 * safe_div((double)r->prefix.hit_tokens, (double)r->prefix.lookup_tokens),
                (unsigned long long)r->prefix.lookup_tokens,
                (unsigned long long)r->prefix.hit_tokens,
                (unsigned long long)r->prefix.recompute_hit_tokens,
                (unsigned long long)r->prefill_tokens_computed,
                (unsigned long long)r->prefix.evictions);
    fprintf(fp,
            "batch        %.1f sequences (%.0f tokens) computed per step of %.1f resident; "
            "%.1f resident over busy time, max %u (limit %u)%s; at most %u requests waiting%s\n",
            an_metrics_mean_batch(m), an_metrics_mean_batch_tokens(m),
            an_metrics_mean_resident_per_step(m), an_metrics_mean_running(m), r->max_running,
            p->max_num_seqs,
            shared   ? "; steps of the first batch in flight, sequences of the pool"
            : ve > 1 ? "; virtual engine 0"
                     : "",
            r->max_waiting,
            shared            ? ""
            : ve > 1          ? " at one virtual engine"
            : r->replicas > 1 ? " at one replica"
                              : "");
    print_sched_summary(fp, in);
    an_print_spec(fp, in);
    if (m->ts_truncated)
        fprintf(fp,
                "timeseries   stopped at its limit of %llu rows: timeseries.csv ends before the "
                "run (timeseries.truncated in summary.json)\n",
                (unsigned long long)m->ts_max_rows);
    fprintf(fp, "\n");

    print_latency_table(fp, m);
    double goodput = an_metrics_goodput(m, span);
    if (!isnan(goodput)) {
        fprintf(fp, "goodput      %.3f req/s: %llu of %llu completed requests meet", goodput,
                (unsigned long long)m->good, (unsigned long long)r->completed);
        const char *sep = "";
        if (m->slo.ttft_s >= 0) {
            fprintf(fp, " TTFT <= %g ms", m->slo.ttft_s * 1e3);
            sep = ",";
        }
        if (m->slo.tpot_s >= 0) {
            fprintf(fp, "%s TPOT <= %g ms", sep, m->slo.tpot_s * 1e3);
            sep = ",";
        }
        if (m->slo.e2el_s >= 0)
            fprintf(fp, "%s E2EL <= %g ms", sep, m->slo.e2el_s * 1e3);
        fprintf(fp, "\n");
    }

    /* The CUDA-visible total is what the utilisation multiplies (vLLM's
     * requested memory); "estimated" where the catalog has no figure. A
     * unified-memory device's total is its memory. */
    const char *est = p->cuda_total_estimated ? " (estimated)" : "";
    const char *total = c->gpu.unified_memory ? "unified memory" : "CUDA total";
    if (p->pipeline_parallel > 1 && c->cost.llamacpp_split)
        fprintf(fp,
                "\nmemory       each of %u GPUs (llama.cpp layer split): %s %.2f GiB%s x %.2f = "
                "%.2f GiB: weights %.2f (of %.2f), activations %.2f, non-torch %.2f, KV pool %.2f "
                "GiB%s\n",
                p->pipeline_parallel, total, gib(p->cuda_total_bytes), est, c->mem_util,
                gib(p->usable_bytes), gib(p->weights_bytes), gib(p->weights_total_bytes),
                gib(p->activation_bytes), gib(p->overhead_bytes), gib(p->kv_pool_bytes),
                p->pool_overridden ? " (set by option)" : "");
    else if (p->tensor_parallel > 1 || p->pipeline_parallel > 1)
        fprintf(fp,
                "\nmemory       each of %u GPUs (TP %u x PP %u): %s %.2f GiB%s x %.2f = "
                "%.2f GiB: weights %.2f (of %.2f), activations %.2f, non-torch %.2f, KV pool %.2f "
                "GiB%s\n",
                p->tensor_parallel * p->pipeline_parallel, p->tensor_parallel, p->pipeline_parallel,
                total, gib(p->cuda_total_bytes), est, c->mem_util, gib(p->usable_bytes),
                gib(p->weights_bytes), gib(p->weights_total_bytes), gib(p->activation_bytes),
                gib(p->overhead_bytes), gib(p->kv_pool_bytes * sim_config_kv_pools(c)),
                p->pool_overridden ? " (set by option)" : "");
    else
        fprintf(fp,
                "\nmemory       %s %.2f GiB%s x %.2f = %.2f GiB: weights %.2f, activations "
                "%.2f, non-torch %.2f, KV pool %.2f GiB%s\n",
                total, gib(p->cuda_total_bytes), est, c->mem_util, gib(p->usable_bytes),
                gib(p->weights_bytes), gib(p->activation_bytes), gib(p->overhead_bytes),
                gib(p->kv_pool_bytes), p->pool_overridden ? " (set by option)" : "");
    if (p->gpu_layers < c->model.layers)
        fprintf(fp,
                "             offload: %u of %u layers on the GPU; the host (%s) holds %.2f GiB of "
                "weights and %llu of the %llu KV bytes of each token (%.2f GiB of the pool)\n",
                p->gpu_layers, c->model.layers, c->host.name, gib(p->host_weights_bytes),
                (unsigned long long)p->host_kv_bytes_per_token,
                (unsigned long long)p->kv_bytes_per_token,
                gib(p->kv_pool_bytes) *
                    safe_div((double)p->host_kv_bytes_per_token, (double)p->kv_bytes_per_token));
    if (c->model.sliding_window)
        fprintf(fp,
                "             %u of %u layers attend to the last %u tokens: kvsim keeps their KV "
                "for the whole sequence, vLLM V1 frees what falls out of the window\n",
                c->model.sliding_layers, c->model.layers, c->model.sliding_window);
    if (p->pool_exceeds_memory)
        fprintf(fp, "             the KV pool set by option is larger than the memory the weights "
                    "leave: a study of the pool alone\n");
    if (ve > 1 && !shared)
        fprintf(fp,
                "             with %u virtual engines, the KV figures below are virtual engine "
                "0's: its 1/%u of the blocks\n",
                ve, ve);
    fprintf(fp,
            "             KV %llu bytes/token, pool holds %llu tokens; peak allocated %.2f GiB "
            "(%.1f%%), peak used %.2f GiB\n",
            (unsigned long long)p->kv_bytes_per_token,
            (unsigned long long)(p->kv_pool_bytes / p->kv_bytes_per_token),
            gib(m->peak_alloc_bytes),
            100.0 * safe_div((double)m->peak_alloc_bytes, (double)p->kv_pool_bytes),
            gib(m->peak_used_bytes));
    fprintf(fp, "KV pool (%%)   token states  reservation  internal frag  external frag  "
                "blocked free    free\n");
    fprintf(fp, "  time avg   %12.2f %12.2f %14.2f %14.2f %13.2f %7.2f\n", avg.token_states,
            avg.reservation, avg.internal_frag, avg.external_frag, avg.blocked_free, avg.free);
    fprintf(fp, "  at peak    %12.2f %12.2f %14.2f %14.2f %13.2f %7.2f\n", peak.token_states,
            peak.reservation, peak.internal_frag, peak.external_frag, peak.blocked_free, peak.free);
    fprintf(fp,
            "\nsimulated %llu events (%llu steps merged into others' events) in %.3f s wall%s\n",
            (unsigned long long)r->events, (unsigned long long)r->merged_steps, in->wall_s,
            r->partitioned ? " (a thread per replica)" : "");
}
