/*
 * cmd_calibrate.c: `kvsim calibrate`: the engine presets fitted to a
 * measurements file (cli/validate_fit.c) and written as preset files.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report.h"
#include "cli/run_config.h"
#include "cli/validate_int.h"

int cmd_calibrate(int argc, char **argv);

static const char usage_calibrate[] =
    "usage: kvsim calibrate --data FILE.csv --out DIR [--presets DIR] [-j N]\n"
    "\n"
    "Fits each engine preset's terms to the rows of FILE that name it: bw_eff, flops_eff,\n"
    "step_overhead_ms; layer_overhead_us where the rows span models of different depths (else\n"
    "0); seq_overhead_us where the rows batch different numbers of sequences (else 0);\n"
    "split_base_us, split_sync_us, split_link_share and split_stage_us where rows split\n"
    "matrices by rows over GPUs (else 0); arch_flops for each device architecture\n"
    "(catalog/gpus.csv arch) whose\n"
    "prompt or batch rows come from 2 devices or more (their geometric mean over devices 1);\n"
    "gemm_pj where the starting preset has one and multi-token rows come from 2 devices with\n"
    "a tdp_w or more (else 0); arch_bw (a multiplier on bw_eff) for each architecture whose\n"
    "rows come from 2 devices or more, where the starting preset has arch_bw_fit 1;\n"
    "mv_sm_gbps where the starting preset has one and decode rows come from 2 devices with\n"
    "an sm_count or more (else 0); tp_step_ms where the starting preset has one and rows\n"
    "run at two tensor-parallel sizes or more (else 0); prefill_layer_us where the starting\n"
    "preset has one and layer_overhead_us is fitted (else 0); fa_wave_fill where the\n"
    "starting preset has one and the rows batch different numbers of sequences (else 0);\n"
    "paged_attn_v1_gbps where the starting preset has one (with fa_wave_fill) and the rows\n"
    "batch a model with a sliding window on every layer (else 0).\n"
    "Least squares on log(predicted / measured) from fixed starting points (the\n"
    "same data gives the same presets); writes DIR/NAME.preset with the rows it was fitted to.\n"
    "Flags (flash attention, fp16 accumulation, dequantising GEMMs, MMQ, CUDA graphs,\n"
    "mmha_grid) and the\n"
    "runtime memory overhead are kept from the starting presets (built-in, or --presets DIR).\n"
    "The vllm preset, when the data hold no vLLM rows, takes the TensorRT-LLM fit and says so.\n"
    "-j N, --jobs N: presets fitted at once, in threads (default: the online CPUs); the\n"
    "presets written are the same for any N.\n";

static void write_preset(const char *dir, const sim_engine_preset *pr, const vctx *v,
                         const size_t *idx, size_t m, const char *data, const char *basis)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.preset", dir, pr->name);
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        cli_die("--out: cannot write %s: %s", path, strerror(errno));
    const sim_cost_params *p = &pr->params;
    /* One line: the names are written as given, control bytes as '?'. */
    fputs("# kvsim engine preset, written by kvsim calibrate --data ", fp);
    for (const char *q = data; *q; q++)
        fputc((unsigned char)*q < 0x20 ? '?' : *q, fp);
    fputs(" --out ", fp);
    for (const char *q = dir; *q; q++)
        fputc((unsigned char)*q < 0x20 ? '?' : *q, fp);
    fputc('\n', fp);
    fprintf(fp, "name %s\n", pr->name);
    if (pr->backend[0])
        fprintf(fp, "backend %s\n", pr->backend);
    fprintf(fp, "basis %s\n", basis);
    fprintf(fp,
            "bw_eff %.4f\nflops_eff %.4f\nstep_overhead_ms %.4f\nlayer_overhead_us %.3f\n"
            "seq_overhead_us %.3f\n",
            p->bw_eff, p->flops_eff, p->step_overhead_s * 1e3, p->layer_overhead_s * 1e6,
            p->seq_overhead_s * 1e6);
    if (p->prefill_layer_s > 0)
        fprintf(fp,
                "# prefill_layer_us: per layer, more in a step that computes prompt tokens (the "
                "attention's context phase)\nprefill_layer_us %.3f\n",
                p->prefill_layer_s * 1e6);
    if (p->tp_step_s > 0)
        fprintf(fp,
                "# tp_step_ms: per step, times log2 of the TP size: the driver's broadcast of the "
                "step to its workers\ntp_step_ms %.4f\n",
                p->tp_step_s * 1e3);
    if (p->fa_wave_fill > 0 && p->mmha_grid)
        fprintf(fp,
                "# fa_wave_fill: the masked multi-head (and XQA) decode kernel, a block per "
                "sequence and head over its whole context: fill and drain, a share of one wave "
                "of its thread blocks (4 an SM)\nfa_wave_fill %.4f\n",
                p->fa_wave_fill);
    else if (p->fa_wave_fill > 0)
        fprintf(fp,
                "# fa_wave_fill: FlashAttention-2's split-KV decode: fill and drain, a share of "
                "one wave of its thread blocks (2 an SM)\nfa_wave_fill %.4f\n",
                p->fa_wave_fill);
    if (p->paged_v1_Bps > 0)
        fprintf(fp,
                "# paged_attn_v1_gbps: models with a sliding window on every layer decode "
                "with vLLM's PagedAttention (V0's XFORMERS backend); its V1 kernel reads KV at "
                "most this many GB/s\npaged_attn_v1_gbps %.2f\n",
                p->paged_v1_Bps / 1e9);
    if (p->gemm_blend_k > 0) {
        /* Copied from the starting preset, not fitted: written so that it
         * reads back as the same number (the fit's errors below are
         * computed with it), 15 digits where they do, else 17. */
        char k[32];
        snprintf(k, sizeof(k), "%.15g", p->gemm_blend_k);
        if (strtod(k, NULL) != p->gemm_blend_k)
            snprintf(k, sizeof(k), "%.17g", p->gemm_blend_k);
        fprintf(fp,
                "# gemm_blend_k: the matrix products take (U^k + V^k)^(1/k) of their weight "
                "reads' time U and FLOPs' V (Vidur's measured operators), kept as a flag\n"
                "gemm_blend_k %s\n",
                k);
    }
    fprintf(fp, "gemm_pj %.4f\n", p->gemm_pJ);
    fprintf(fp, "split_base_us %.3f\nsplit_sync_us %.3f\nsplit_link_share %.4f\n",
            p->split_base_s * 1e6, p->split_sync_s * 1e6, p->split_link_share);
    if (p->split_stage_s > 0)
        fprintf(fp, "split_stage_us %.3f\n", p->split_stage_s * 1e6);
    if (p->mv_sm_Bps > 0)
        fprintf(fp,
                "# mv_sm_gbps: a one-token step's matrix-vector kernels pull at most this many "
                "GB/s of weights per SM\nmv_sm_gbps %.4f\n",
                p->mv_sm_Bps / 1e9);
    fprintf(fp, "runtime_overhead_gib %.4f\n", p->overhead_bytes / 1073741824.0);
    fprintf(fp, "flash_attn %d\nfp16_accumulate %d\ndequant_gemm %d\nint8_mmq %d\n", p->flash_attn,
            p->fp16_accumulate, p->dequant_gemm, p->int8_mmq);
    if (p->coopmat)
        fprintf(fp, "coopmat 1\n");
    if (p->llamacpp_split)
        fprintf(fp, "# llamacpp_split: kvsim run's --pipeline-parallel-size is llama.cpp's layer "
                    "split (one batch in flight); no tensor parallelism\nllamacpp_split 1\n");
    if (p->ubatch_pipeline)
        fprintf(fp, "# ubatch_pipeline: with the layer split, a step's 512-token ubatches run "
                    "pipelined over the GPUs (#6017)\nubatch_pipeline 1\n");
    fprintf(fp, "cuda_graph_max_tokens %u\n", p->graph_max_tokens);
    if (p->min_build_ym > 0)
        fprintf(fp,
                "# min_build_ym: rows of builds stated before this month are not this preset's\n"
                "min_build_ym %u\n",
                p->min_build_ym);
    bool any = false;
    if (p->arch_flops_free)
        fprintf(fp, "# arch_flops_free: flops_eff is the efficiency of the devices of "
                    "architectures without a term, the terms relative to it\narch_flops_free 1\n");
    for (size_t a = 0; a < sim_arch_count(); a++)
        if (p->arch_flops[a] > 0) {
            if (!any)
                fprintf(fp,
                        "# arch_flops: flops_eff's multiplier for multi-token matrix products "
                        "per architecture with 2 devices or more%s\n",
                        p->arch_flops_free ? "" : " (their geometric mean over devices 1)");
            any = true;
            fprintf(fp, "arch_flops %s %.4f\n", sim_arch_name(a), p->arch_flops[a]);
        }
    if (p->xqa_jit)
        fprintf(fp,
                "# xqa_jit: decode attention reads the KV once (XQA) where 4 x the GPU's KV heads "
                "x the batch reaches its SM count, else once per query head (v0.11)\nxqa_jit 1\n");
    if (p->mmha_grid)
        fprintf(fp, "# mmha_grid: fa_wave_fill counts TensorRT-LLM's decode attention grid: a "
                    "block per sequence and query head (XQA: KV head), no split\nmmha_grid 1\n");
    if (p->gqa_kv_per_head)
        fprintf(fp, "# gqa_kv_per_head: decode attention reads each KV head once per query head "
                    "sharing it (masked MHA before XQA)\ngqa_kv_per_head 1\n");
    if (p->ggml_graph_2023)
        fprintf(fp, "# ggml_graph_2023: llama.cpp build 1691's graph: the LM head over every "
                    "token, its logits copied to the host, attention over the padded KV "
                    "rectangle, fp32 activations through memory\nggml_graph_2023 1\n");
    if (p->matmul_measured)
        fprintf(fp, "# matmul_measured: flops_eff is a share of the device's measured achievable "
                    "matmul rate (catalog/gpus.csv matmul_tflops)\nmatmul_measured 1\n");
    if (p->arch_bw_fit) {
        fprintf(fp, "# arch_bw: bw_eff's multiplier per architecture with 2 devices or more "
                    "(their geometric mean over devices 1)\n");
        fprintf(fp, "arch_bw_fit 1\n");
        for (size_t a = 0; a < sim_arch_count(); a++)
            if (p->arch_bw[a] > 0)
                fprintf(fp, "arch_bw %s %.4f\n", sim_arch_name(a), p->arch_bw[a]);
    }
    const char *base = strrchr(data, '/');
    /* fit_data holds 127 characters (sim_engine_preset). */
    fprintf(fp, "fit_data %.127s\nfit_rows %zu\n", base ? base + 1 : data, m);
    if (m > 0) {
        double *e = malloc(m * sizeof(double));
        if (e == NULL)
            cli_die("out of memory");
        size_t k = 0;
        for (size_t i = 0; i < m; i++) {
            double pred;
            char why[200];
            if (sim_validate_predict(&v->rows[idx[i]], p, &pred, why, sizeof(why)) == 0)
                e[k++] = fabs(pred / v->rows[idx[i]].value - 1);
        }
        double med, p90, worst;
        vt_spread(e, k, &med, &p90, &worst);
        fprintf(fp, "fit_median_err %.4f\nfit_p90_err %.4f\n", med, p90);
        free(e);
        for (size_t i = 0; i < m; i++) {
            const sim_measurement *r = &v->rows[idx[i]];
            char key[80]; /* source_id and row_id hold 31 and 15 characters */
            if (sim_preset_row_key(key, sizeof(key), r->source_id, r->row_id) < 0)
                cli_die("calibrate: row %s:%s: id too long", r->source_id, r->row_id);
            fprintf(fp, "row %s %s %s %s %s %g\n", key, r->gpu.name, r->model.name,
                    r->weights->name, r->metric_name, r->value);
        }
    }
    if (fclose(fp) != 0)
        cli_die("--out: cannot write %s", path);
    /* What calibrate writes must be a preset kvsim reads. */
    sim_engine_preset back;
    char err[512];
    if (sim_preset_lookup(path, &back, err, sizeof(err)) != 0)
        cli_die("calibrate: wrote a preset kvsim cannot read: %s", err);
    printf("  %s\n", path);
}

int cmd_calibrate(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *dir = NULL;
    unsigned jobs = 0; /* vt_default_jobs() unless given */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_calibrate, stdout);
            return 0;
        }
        if (vt_jobs_opt(argc, argv, &i, &jobs))
            continue;
        const char **dst = strcmp(a, "--data") == 0      ? &data
                           : strcmp(a, "--out") == 0     ? &out
                           : strcmp(a, "--presets") == 0 ? &dir
                                                         : NULL;
        if (dst == NULL)
            cli_die("calibrate: unknown option '%s' (kvsim calibrate --help)", a);
        if (i + 1 >= argc)
            cli_die("%s needs a value", a);
        if (*dst != NULL)
            cli_die("%s given twice", a);
        *dst = argv[++i];
    }
    if (data == NULL || out == NULL)
        cli_die("calibrate: --data FILE.csv and --out DIR are required (kvsim calibrate --help)");
    if (jobs == 0)
        jobs = vt_default_jobs();
    vt_check_presets_dir(dir);
    cli_make_dirs(out);
    vctx v = {.preset_dir = dir};
    vt_read_rows(data, &v);
    size_t *idx = malloc((v.n + 1) * sizeof(size_t));
    if (idx == NULL)
        cli_die("out of memory");
    const char *names[64];
    size_t np = vt_preset_names(&v, names);
    char err[512];
    sim_engine_preset trt;
    bool have_trt = false;
    size_t written = 0;
    printf("kvsim calibrate: %s\n", data);
    /* Each preset's fit a job (vt_run_jobs), its rows those the model can
     * replay: a row refused for its layout or memory is refused whatever
     * the terms. */
    sim_engine_preset *prs = calloc(np + 1, sizeof(*prs));
    fit_job *fj = calloc(np + 1, sizeof(*fj));
    size_t *total = calloc(np + 1, sizeof(size_t));
    if (prs == NULL || fj == NULL || total == NULL)
        cli_die("out of memory");
    for (size_t k = 0; k < np; k++) {
        if (vt_load_preset(dir, names[k], &prs[k], err, sizeof(err)) != 0)
            cli_die("calibrate: rows name preset '%s' but %s", names[k], err);
        size_t m = vt_preset_rows(&v, names[k], idx);
        total[k] = m;
        fj[k].p = prs[k].params;
        fj[k].train = malloc((m + 1) * sizeof(size_t));
        if (fj[k].train == NULL)
            cli_die("out of memory");
        for (size_t i = 0; i < m; i++) {
            double pred;
            char why[200];
            if (sim_validate_predict(&v.rows[idx[i]], &prs[k].params, &pred, why, sizeof(why)) ==
                0) {
                fj[k].train[fj[k].nt++] = idx[i];
                v.out[idx[i]].ok = true; /* fitted to (the count of those not, below) */
            } else {
                snprintf(v.out[idx[i]].why, sizeof(v.out[idx[i]].why), "%s", why);
            }
        }
    }
    vt_run_jobs(&v, fj, np, jobs);
    for (size_t k = 0; k < np; k++) {
        sim_engine_preset *pr = &prs[k];
        size_t m = fj[k].nt;
        if (m == 0) {
            printf("  %s: none of its %zu rows can be replayed; not written\n", names[k], total[k]);
            continue;
        }
        pr->params = fj[k].p;
        const size_t *fit_idx = fj[k].train;
        char basis[320];
        size_t nsrc = 0;
        char srcs[200] = "";
        for (size_t i = 0; i < m; i++) {
            const char *s = v.rows[fit_idx[i]].source_id;
            if (strstr(srcs, s) == NULL && strlen(srcs) + strlen(s) + 3 < sizeof(srcs)) {
                strcat(srcs, nsrc ? ", " : "");
                strcat(srcs, s);
                nsrc++;
            }
        }
        snprintf(basis, sizeof(basis), "fitted to %zu rows of %s (sources %s)", m, data, srcs);
        write_preset(out, pr, &v, fit_idx, m, data, basis);
        written++;
        if (strcmp(names[k], "trtllm") == 0) {
            trt = *pr;
            have_trt = true;
        }
    }
    /* The rows no preset was fitted to, by reason, as validate counts
     * them: a typo in a measurement must not leave a preset fitted to the
     * rest without a word. */
    vt_print_unpredicted(&v, "not fitted");
    for (size_t k = 0; k < np; k++)
        free(fj[k].train);
    free(fj);
    free(prs);
    free(total);
    /* vLLM: no vLLM rows in the data: the TensorRT-LLM fit, said so. */
    size_t mv = vt_preset_rows(&v, "vllm", idx);
    if (mv == 0 && have_trt) {
        sim_engine_preset vl;
        if (vt_load_preset(dir, "vllm", &vl, err, sizeof(err)) != 0)
            cli_die("calibrate: %s", err);
        sim_cost_params flags = vl.params;
        vl.params = trt.params;
        vl.params.flash_attn = flags.flash_attn;
        vl.params.overhead_bytes = flags.overhead_bytes;
        vl.params.graph_max_tokens = flags.graph_max_tokens;
        write_preset(out, &vl, &v, idx, 0, data,
                     "no vLLM rows in the data: the TensorRT-LLM fit, its per-layer launch "
                     "overhead not paid by steps vLLM replays as CUDA graphs (override with "
                     "--bw-eff, --flops-eff, --layer-overhead-us, or a step profile)");
        written++;
    }
    free(idx);
    free(v.out);
    sim_measurements_free(v.rows);
    if (written == 0) {
        /* Nothing fitted is a failure, not a quiet success. */
        fflush(stdout);
        cli_error("calibrate: %s: no preset written: no row can be replayed (kvsim validate "
                  "--data counts them by reason)",
                  data);
        return 1;
    }
    return 0;
}
