/*
 * validate.c: published measurements replayed through the cost model and
 * presets fitted to them; see validate.h.
 */
#include "sim/validate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/config.h"
#include "sim/formats.h"
#include "sim/parallel.h"

void sim_validate_preset_name(const sim_measurement *r, char *buf, size_t len)
{
    bool llama = strcmp(r->engine, "llamacpp") == 0;
    if (llama && strcmp(r->backend, "cuda") == 0 &&
        (strcmp(r->bench, "main") == 0 || (r->build_ym > 0 && r->build_ym < 202407)))
        /* ./main was renamed llama-cli in June 2024 (llama.cpp #7809),
         * and MMQ became the CUDA backend's default for quantized
         * prompts in the same month (#8075, merged 2024-06-24): a CUDA
         * row run with ./main, or any CUDA row of a build before July
         * 2024, is from the builds that expanded quantized matrices to
         * fp16 for cuBLAS. The preset's graph and split terms follow the
         * row's build (sim_validate_predict). */
        snprintf(buf, len, "llamacpp-2023");
    else if (llama && r->backend[0] != '\0' && strcmp(r->backend, "cuda") != 0)
        snprintf(buf, len, "llamacpp-%s", r->backend);
    else
        snprintf(buf, len, "%s", r->engine);
}

const char *sim_validate_device_class(const sim_measurement *r)
{
    const sim_gpu *g = &r->gpu;
    if (strncmp(g->name, "cpu-", 4) == 0)
        return "cpu";
    if (strcmp(g->vendor, "Apple") == 0)
        return "apple";
    if (strcmp(g->vendor, "AMD") == 0)
        return "amd";
    if (strcmp(g->vendor, "Intel") == 0) /* Arc cards: consumer and workstation parts */
        return "intel";
    if (sim_gpu_geforce(g))
        return "geforce";
    if (strstr(g->display, "RTX") != NULL || strstr(g->display, "A6000") != NULL ||
        strstr(g->display, "A5000") != NULL || strstr(g->display, "A4000") != NULL)
        return "workstation";
    return "datacenter";
}

enum { DECODE_SAMPLES = 33, SIM_MAX_LAYER_SPLIT = 16 };

/* Decode of BATCH sequences over contexts [FROM, FROM + N): the step time
 * summed, sampled at up to 33 contexts (trapezoid). */
static double decode_sum(const sim_cost *c, double batch, double from, double n)
{
    if (n <= 0)
        return 0;
    int samples = n < DECODE_SAMPLES ? (int)n : DECODE_SAMPLES;
    if (samples == (int)n) {
        double sum = 0;
        for (int i = 0; i < samples; i++) {
            sim_batch_shape b = {.decode_seqs = (uint32_t)batch,
                                 .decode_ctx_tokens = (uint64_t)llround(batch * (from + i))};
            sum += sim_cost_step_s(c, &b);
        }
        return sum;
    }
    /* Trapezoid over the sample points, scaled to n steps. */
    double sum = 0, prev = 0, dx = (n - 1) / (samples - 1);
    for (int i = 0; i < samples; i++) {
        double ctx = from + (n - 1) * (double)i / (samples - 1);
        sim_batch_shape b = {.decode_seqs = (uint32_t)batch,
                             .decode_ctx_tokens = (uint64_t)llround(batch * ctx)};
        double t = sim_cost_step_s(c, &b);
        if (i > 0)
            sum += (prev + t) / 2 * dx;
        prev = t;
    }
    /* sum is the integral over n - 1 unit intervals; the n steps' sum is
     * that plus the mean of the two ends. */
    sim_batch_shape b0 = {.decode_seqs = (uint32_t)batch,
                          .decode_ctx_tokens = (uint64_t)llround(batch * from)};
    double first = sim_cost_step_s(c, &b0);
    return sum + (first + prev) / 2;
}

/*
 * llama.cpp's layer split (-sm layer, its multi-GPU default from January
 * 2024, ggml-org/llama.cpp#4606): each of GPUS GPUs holds an equal run of
 * the layers and their KV, and a step runs them in order, the hidden
 * state (fp32, hidden floats a token) copied from each GPU to the next
 * (ggml_backend_sched's splits: ggml_backend_tensor_copy_async, staged
 * through the host where the boards have no peer access). From #6017
 * (March 2024: "pipeline parallelism", n_ubatch; CUDA and HIP builds
 * only) a batch of more than n_ubatch (512) tokens is computed as
 * ubatches that follow each other through the GPUs without a
 * synchronization between them (the scheduler's n_copies = 4 input
 * copies), so that GPU g runs ubatch j while GPU g + 1 runs ubatch
 * j - 1. A decode is one token: the GPUs in turn, and a copy between
 * each.
 */
typedef struct layer_split {
    uint32_t gpus;        /* 1: no split */
    bool pipeline;        /* ubatches pipelined over the GPUs (#6017) */
    double bytes_per_tok; /* the hidden state copied between two GPUs */
    double link_Bps;      /* the copy's rate (the host link; half when staged) */
    double fixed_s;       /* a copy's fixed time (the preset's staged-copy term) */
} layer_split;

static double hop_s(const layer_split *ls, double tokens)
{
    return ls->fixed_s + (ls->link_Bps > 0 ? tokens * ls->bytes_per_tok / ls->link_Bps : 0);
}

/* A prompt of INPUT tokens for each of BATCH sequences, in steps of at
 * most CHUNK tokens per sequence (each reading the KV of the chunks
 * before), over LS's GPUs (NULL or 1: one) for a model of N layers. */
static double prefill(const sim_cost *c, double batch, double input, double chunk,
                      const layer_split *ls, uint32_t n)
{
    uint32_t g = ls != NULL && ls->gpus > 1 ? ls->gpus : 1;
    double t = 0, fin[SIM_MAX_LAYER_SPLIT] = {0}, share[SIM_MAX_LAYER_SPLIT];
    double done_q[SIM_LLAMACPP_INFLIGHT] = {0}; /* when the last ubatches left the last GPU */
    uint32_t nq = 0;
    for (uint32_t k = 0; k < g; k++)
        share[k] = g > 1 ? (double)sim_llamacpp_layers(k, g, n) / n : 1; /* sim/parallel.h */
    for (double done = 0; done < input; done += chunk) {
        double q = fmin(chunk, input - done);
        sim_batch_shape b = {.prefill_seqs = (uint32_t)batch,
                             .prefill_tokens = (uint64_t)(batch * q),
                             .prefill_ctx_tokens = (uint64_t)(batch * done),
                             .prefill_attn_pairs = batch * (q * done + q * (q + 1) / 2)};
        double step = sim_cost_step_s(c, &b);
        if (g == 1) {
            t += step;
            continue;
        }
        double hop = hop_s(ls, batch * q);
        if (!ls->pipeline) {
            t += step + (g - 1) * hop;
            continue;
        }
        /* GPU k starts the chunk when GPU k - 1 has sent it and it is
         * done with the chunk before; nothing waits between llama_decode
         * calls (llama_decode_internal's llama_synchronize is commented
         * out at 4426e298, llama-bench synchronizes after its loop, and
         * the scheduler's ring of 4 input copies carries across calls),
         * so a long prompt's ubatches form one pipeline, of at most
         * SIM_LLAMACPP_INFLIGHT ubatches in flight: ubatch j enters GPU 0
         * when ubatch j - 5 has left the last (sim/parallel.h). */
        double ring = done_q[nq % SIM_LLAMACPP_INFLIGHT];
        /* A hop runs on the sending GPU's stream (sim/parallel.h): the
         * sender is free once it has sent. */
        double at = fmax(fin[0], nq >= SIM_LLAMACPP_INFLIGHT ? ring : 0) + step * share[0];
        for (uint32_t k = 1; k < g; k++) {
            fin[k - 1] = at + hop;
            at = fmax(at + hop, fin[k]) + step * share[k];
        }
        fin[g - 1] = at;
        done_q[nq++ % SIM_LLAMACPP_INFLIGHT] = at;
        t = at;
    }
    return t;
}

/*
 * Whether a static batch of R's BATCH requests, each holding input +
 * output tokens of KV at the end, fits the KV pool vLLM sizes on R's
 * device at TP GPUs (sim/config.h's memory plan: 90 % of CUDA's total,
 * less the weights, the profiling pass's activations over the vllm-v0
 * scheduler's token budget and the preset's non-torch memory; whole
 * blocks of 16 tokens). A batch that does not fit runs in waves (vLLM
 * preempts and recomputes), which the replay does not model. Returns 0
 * when it fits, else -1 with WHY.
 */
static int batch_kv_fits(const sim_measurement *r, const sim_cost_params *p, uint32_t tp,
                         double batch, char *why, size_t whylen)
{
    sim_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.gpu = r->gpu;
    cfg.model = r->model;
    cfg.weight_dtype = r->weights;
    cfg.kv_dtype = r->kv;
    cfg.cost = *p;
    snprintf(cfg.engine, sizeof(cfg.engine), "%s", r->engine);
    snprintf(cfg.scheduler, sizeof(cfg.scheduler), "vllm-v0");
    cfg.mem_util = 0.90;
    cfg.watermark = -1;
    cfg.chunked_prefill = -1;
    cfg.prefix_caching = -1;
    cfg.replicas = 1;
    cfg.n_samples = 1;
    cfg.tensor_parallel = tp;
    cfg.pipeline_parallel = 1;
    cfg.gpu_layers = -1;
    sim_memory_plan plan;
    char err[512];
    if (sim_memory_plan_compute(&cfg, &plan, err, sizeof(err)) != 0) {
        snprintf(why, whylen, "%s", err);
        return -1;
    }
    double blocks = ceil(((double)r->input_tokens + r->output_tokens) / 16.0);
    double need = batch * blocks * 16.0 * (double)plan.kv_bytes_per_token;
    if (need > (double)plan.kv_budget_bytes) {
        /* One text for all such rows: validate counts rows by it. */
        snprintf(why, whylen,
                 "the batch's KV exceeds the pool vLLM's memory plan sizes on the device (taken "
                 "for TensorRT-LLM's too): it ran in waves, which the replay does not model");
        return -1;
    }
    return 0;
}

int sim_validate_predict(const sim_measurement *r, const sim_cost_params *params, double *pred,
                         char *why, size_t whylen)
{
    /* A row that states flash attention on or off runs with it. */
    sim_cost_params q = *params;
    if (r->flash_attn >= 0)
        q.flash_attn = r->flash_attn == 1;
    /* TensorRT-LLM's XQA kernel (decode attention that reads each KV head
     * once for the query heads sharing it) shipped in the v0.8 releases
     * (NVIDIA's XQA blog: Llama-70B 1,227 -> 2,941 tok/s/GPU, "included in
     * the v0.8 releases"): a row of a release from v0.8 on reads KV once,
     * whatever the preset's era, where XQA runs: in v0.11 where its JIT
     * path expects a gain (xqa_jit, sim/cost.c), before it at every
     * batch; a row of v0.5-v0.7 reads it once per query head
     * (gqa_kv_per_head), whatever the preset's era. */
    if ((q.gqa_kv_per_head || q.xqa_jit) && strcmp(r->engine, "trtllm") == 0 && r->version > 0) {
        q.gqa_kv_per_head = r->version < 8;
        q.xqa_jit = r->version >= 11;
    }
    const sim_cost_params *p = &q;
    sim_cost c;
    sim_link link = {0};
    bool row = strcmp(r->split_mode, "row") == 0;
    uint32_t gpus = r->tp > 0 ? r->tp : 1;
    uint32_t tp = row ? 1 : gpus;
    /* A build older than the preset's (its min_build_ym): llama.cpp's
     * kernels change between builds, and a preset describes one era of
     * them. The Metal preset's rows ran builds of November 2023 on; the
     * same M1 Max (24-core GPU) ran F16 Llama-2-7B at 213 prompt and 13.8
     * decode tokens/s under build 1026 (August 2023, XiongjieDai's
     * notebooks) and at 453 and 22.6 under 8e672ef (2023-11-21, the
     * scoreboard's llama-bench). */
    if (p->min_build_ym > 0 && r->build_ym > 0 && r->build_ym < p->min_build_ym) {
        snprintf(why, whylen,
                 "a build of %04u-%02u, before the builds its preset describes (from %04u-%02u)",
                 r->build_ym / 100, r->build_ym % 100, p->min_build_ym / 100,
                 p->min_build_ym % 100);
        return -1;
    }
    uint32_t lsplit = r->layer_split > 1 ? r->layer_split : 1;
    if (lsplit > SIM_MAX_LAYER_SPLIT) {
        snprintf(why, whylen, "llama.cpp's layer split over %u GPUs: at most %d are modelled",
                 lsplit, SIM_MAX_LAYER_SPLIT);
        return -1;
    }
    if (lsplit > r->model.layers) {
        snprintf(why, whylen,
                 "llama.cpp's layer split over %u GPUs: more GPUs than the model's %u layers",
                 lsplit, r->model.layers);
        return -1;
    }
    /* The weights must fit where they run: a row that did not fit ran
     * from swap or disk, which kvsim does not model (and `kvsim run`
     * refuses). On a Mac the GPU wires about 75 % of the memory (Metal's
     * recommendedMaxWorkingSetSize, as kvsim run's default). */
    /* The row's weight bytes, computed when it was read (sim_measurement's
     * wb_state), else here. */
    sim_weight_bytes wb;
    if (r->wb_state < 0) {
        snprintf(why, whylen, "%s", r->wb_err);
        return -1;
    }
    if (r->wb_state > 0) {
        wb = r->wb;
    } else {
        char werr[256];
        if (sim_weight_bytes_of(&r->model, r->weights, &wb, werr, sizeof(werr)) != 0) {
            snprintf(why, whylen, "%s", werr);
            return -1;
        }
    }
    double mem = r->memory_gb > 0 ? r->memory_gb * 1073741824.0 : (double)r->gpu.memory_bytes;
    if (strcmp(r->gpu.vendor, "Apple") == 0)
        mem *= 0.75;
    /* The weights and KV the fullest GPU holds: a row split's 1/GPUS; a
     * layer split's first GPU, which llama.cpp gives the most layers
     * (sim/parallel.h). */
    double share = 1.0 / gpus;
    if (lsplit > 1)
        share = (double)sim_llamacpp_max_layers(lsplit, r->model.layers) / r->model.layers;
    if (wb.total * share > mem) {
        snprintf(why, whylen, "the weights do not fit in the device's memory (ran from swap)");
        return -1;
    }
    if (tp > 1) {
        char err[256];
        if (sim_link_for(&r->gpu, 0, 0, &link, err, sizeof(err)) != 0) {
            snprintf(why, whylen, "%s", err);
            return -1;
        }
    }
    sim_cost_init_wb(&c, &r->gpu, &r->model, r->weights, r->kv, p, tp, tp > 1 ? &link : NULL, &wb);
    /* One sequence's weights with the KV of its prompt and output (the
     * least an engine allocates; llama.cpp allocates its whole context)
     * must fit too: XiongjieDai's 65B Q4_0 rows on a 48 GB M3 Max (34.3
     * GiB of weights and 3.7 of KV at 1,518 tokens against the 36 GiB
     * the GPU wires) ran at a tenth of the rate of the rows that fit. */
    bool one_seq = r->metric == SIM_MEAS_PREFILL_TOK_S || r->metric == SIM_MEAS_DECODE_TOK_S ||
                   r->metric == SIM_MEAS_TTFT_MS; /* batches: batch_kv_fits, below */
    double kv_gpu = c.kv_bytes_per_token * ((double)r->input_tokens + r->output_tokens) *
                    (row ? 1.0 / gpus : share);
    if (one_seq && wb.total * share + kv_gpu > mem) {
        snprintf(why, whylen,
                 "the weights and the KV of the row's tokens do not fit in the memory the GPU "
                 "may use (%.1f + %.1f GiB > %.1f)",
                 wb.total * share / 1073741824.0, kv_gpu / 1073741824.0, mem / 1073741824.0);
        return -1;
    }
    /* Build 1691's graph (ggml_graph_2023) changed with #6122 (merged
     * 2024-03-26, "greatly reduce output buffer memory usage"; the
     * graph's "skip computing output for unused tokens"): from then on
     * the LM head runs over the rows whose logits are asked for
     * (./main: a prompt's last token) and only those are copied to the
     * host. The KQ rectangle stays (without flash attention). Not
     * modelled: the same get_rows also skips the last layer's FFN for
     * the other rows (about 1/layers of a prompt's FFN FLOPs). */
    bool after_6122 = r->build_ym >= 202404;
    if (p->ggml_graph_2023 && after_6122) {
        c.head_all_tokens = false;
        c.logits_bytes_per_token = 0;
    }
    /* The logits ggml_graph_2023 copies to the host cross the slower
     * slot a row's notes state, as the row split's copies do. */
    if (c.logits_link_Bps > 0 && r->host_link_Bps > 0 && r->host_link_Bps < c.logits_link_Bps)
        c.logits_link_Bps = r->host_link_Bps;
    if (row && gpus > 1) {
        /* The copies cross the host's PCIe: the GPU's own link, or the
         * slower slot a row's notes state (a PCIe 4.0 card in a PCIe 3.0
         * server). */
        double host = r->gpu.host_link_Bps;
        if (r->host_link_Bps > 0 && (!(host > 0) || r->host_link_Bps < host))
            host = r->host_link_Bps;
        sim_cost_row_split(&c, gpus, &r->model, &r->gpu, host);
    }
    /* A multi-token step the preset multiplies at the int8 rate (MMQ)
     * on an RDNA2 part without an int8 figure: its fp16_tflops holds the
     * FP32 rate (no matrix units; catalog/gpus.csv notes), and llama.cpp's
     * quantized prompt kernels run above it (the scoreboard's RX 6900 XT:
     * 1,948 Llama-2-7B tokens/s, 26 TFLOP/s of 23) on v_dot4_i32_i8, four
     * times the FP32 rate: refused, not guessed from the FP32 figure. The
     * catalog's RDNA2 rows carry that rate (int8_tops, sourced there);
     * this refuses a part added without it. */
    if (q.int8_mmq && r->weights->kind != SIM_FMT_FLOAT && !(r->gpu.int8_ops > 0) &&
        strcmp(r->gpu.arch, "rdna2") == 0 && r->metric != SIM_MEAS_DECODE_TOK_S) {
        snprintf(why, whylen,
                 "no int8 rate in the catalog for this RDNA2 part (no matrix units; "
                 "fp16_tflops holds the FP32 rate), which its quantized prompt kernels exceed");
        return -1;
    }
    bool llama = strcmp(r->engine, "llamacpp") == 0;
    double chunk = llama ? SIM_LLAMACPP_UBATCH : 1e12;
    layer_split ls = {.gpus = lsplit};
    if (lsplit > 1) {
        /* The hidden state in fp32 crosses the host link, staged through
         * host memory (two crossings, each with the preset's fixed time of
         * a staged copy, split_stage_us) on every board: llama.cpp enables
         * peer access only for the row split's buffers
         * (ggml_cuda_set_peer_access, called for split matrices only, at
         * 4426e298), and cudaMemcpyPeerAsync between devices without it
         * is staged through the host (CUDA C Programming Guide,
         * peer-to-peer memory copy). The pipeline from #6017 (merged
         * 2024-03-13: builds of April 2024 on; a March build is taken as
         * before it). */
        double host = r->gpu.host_link_Bps;
        if (r->host_link_Bps > 0 && (!(host > 0) || r->host_link_Bps < host))
            host = r->host_link_Bps;
        ls.bytes_per_tok = 4.0 * r->model.hidden;
        ls.link_Bps = host > 0 ? host / 2 : 0;
        ls.fixed_s = 2 * p->split_stage_s;
        /* llama.cpp turns the pipeline on only where every GPU backend
         * has asynchronous compute and events: the CUDA backend (HIP
         * builds define GGML_USE_CUDA too) in 2024's builds
         * (llama_new_context_with_model, #6017), not Vulkan, SYCL or
         * Metal. A row without a build month takes the current preset
         * (sim_validate_preset_name), so the current builds' pipeline,
         * unless its preset is December 2023's graph (./main rows). */
        bool cuda = strcmp(r->backend, "cuda") == 0 || strcmp(r->backend, "rocm") == 0;
        bool current = r->build_ym == 0 && !p->ggml_graph_2023;
        ls.pipeline = cuda && (after_6122 || current);
    }
    double in = r->input_tokens, out = r->output_tokens, batch = r->batch > 0 ? r->batch : 1;
    double v = 0;
    /* These three are one sequence's figures (sim/measure.h): a row with
     * a larger batch means something this replay does not compute. */
    if (batch > 1 && (r->metric == SIM_MEAS_PREFILL_TOK_S || r->metric == SIM_MEAS_TTFT_MS ||
                      r->metric == SIM_MEAS_DECODE_TOK_S)) {
        snprintf(why, whylen, "%s at batch %u: replayed for one sequence only", r->metric_name,
                 r->batch);
        return -1;
    }
    switch (r->metric) {
    case SIM_MEAS_PREFILL_TOK_S:
        if (in <= 0)
            goto bad;
        v = in / prefill(&c, 1, in, chunk, &ls, r->model.layers);
        break;
    case SIM_MEAS_TTFT_MS:
        if (in <= 0)
            goto bad;
        v = 1000.0 * prefill(&c, 1, in, chunk, &ls, r->model.layers);
        break;
    case SIM_MEAS_DECODE_TOK_S: {
        /* llama-bench tgN: N tokens from an empty cache; main: the first
         * token comes with the prompt, N - 1 are timed. */
        double n = in > 0 ? out - 1 : out;
        if (n <= 0)
            goto bad;
        v = n / (decode_sum(&c, 1, in + 1, n) + n * (lsplit - 1) * hop_s(&ls, 1));
        break;
    }
    case SIM_MEAS_OUTPUT_TOK_S:
    case SIM_MEAS_OUTPUT_TOK_S_PER_GPU: {
        if (in <= 0 || out <= 0)
            goto bad;
        double t = prefill(&c, batch, in, chunk, &ls, r->model.layers) +
                   decode_sum(&c, batch, in + 1, out - 1) +
                   (out - 1) * (lsplit - 1) * hop_s(&ls, batch);
        v = batch * out / t;
        if (r->metric == SIM_MEAS_OUTPUT_TOK_S_PER_GPU)
            v /= (double)gpus;
        break;
    }
    case SIM_MEAS_LATENCY_S:
        /* One static batch, as benchmark_latency.py times it: the prompts
         * prefilled (vLLM's scheduler runs waiting prompts before any
         * decode; the token budget splits them into steps whose sum the
         * one step here approximates), then output - 1 decode steps of
         * the whole batch, the first token coming with the prefill. */
        if (in <= 0 || out <= 0)
            goto bad;
        if (batch_kv_fits(r, p, tp, batch, why, whylen) != 0)
            return -1;
        v = prefill(&c, batch, in, chunk, &ls, r->model.layers) +
            decode_sum(&c, batch, in + 1, out - 1) + (out - 1) * (lsplit - 1) * hop_s(&ls, batch);
        break;
    default:
        goto bad;
    }
    if (!(v > 0) || !isfinite(v)) {
        snprintf(why, whylen, "the prediction is not a positive number");
        return -1;
    }
    *pred = v;
    return 0;
bad:
    snprintf(why, whylen, "%s with %u input and %u output tokens cannot be replayed",
             r->metric_name, r->input_tokens, r->output_tokens);
    return -1;
}

/* ---- fitting ---- */

const char *const sim_fit_param_names[SIM_FIT_NBASE] = {
    "bw_eff",           "flops_eff",      "step_overhead_ms",  "layer_overhead_us",
    "split_base_us",    "split_sync_us",  "split_link_share",  "seq_overhead_us",
    "gemm_pj",          "split_stage_us", "mv_sm_gbps",        "tp_step_ms",
    "prefill_layer_us", "fa_wave_fill",   "paged_attn_v1_gbps"};

/* Bounds of each term, in the preset's units; the architecture terms
 * (multipliers on flops_eff) in [0.1, 2]. */
static const double lo_base[SIM_FIT_NBASE] = {0.05, 0.02, 0, 0, 0, 0,    0.005, 0,
                                              0.2,  0,    1, 0, 0, 0.01, 50};
static const double hi_base[SIM_FIT_NBASE] = {1.0, 1.0, 50, 500, 5000, 5000, 1,    1000,
                                              50,  500, 40, 20,  500,  1,    10000};
static const double unit[SIM_FIT_NBASE] = {1, 1,    1e-3, 1e-6, 1e-6, 1e-6, 1,  1e-6,
                                           1, 1e-6, 1e9,  1e-3, 1e-6, 1,    1e9};

static double lo(int k)
{
    return k < SIM_FIT_NBASE ? lo_base[k] : k < SIM_FIT_BW ? 0.1 : 0.5;
}

static double hi(int k)
{
    return k < SIM_FIT_NBASE ? hi_base[k] : k < SIM_FIT_BW ? 2.0 : 1.5;
}

static void set(sim_cost_params *p, int k, double x)
{
    switch (k) {
    case 0:
        p->bw_eff = x;
        break;
    case 1:
        p->flops_eff = x;
        break;
    case 2:
        p->step_overhead_s = x * unit[2];
        break;
    case 3:
        p->layer_overhead_s = x * unit[3];
        break;
    case 4:
        p->split_base_s = x * unit[4];
        break;
    case 5:
        p->split_sync_s = x * unit[5];
        break;
    case 6:
        p->split_link_share = x * unit[6];
        break;
    case 7:
        p->seq_overhead_s = x * unit[7];
        break;
    case 8:
        p->gemm_pJ = x * unit[8];
        break;
    case 9:
        p->split_stage_s = x * unit[9];
        break;
    case 10:
        p->mv_sm_Bps = x * unit[10];
        break;
    case 11:
        p->tp_step_s = x * unit[11];
        break;
    case 12:
        p->prefill_layer_s = x * unit[12];
        break;
    case 13:
        p->fa_wave_fill = x * unit[13];
        break;
    case 14:
        p->paged_v1_Bps = x * unit[14];
        break;
    default:
        if (k < SIM_FIT_BW)
            p->arch_flops[k - SIM_FIT_NBASE] = x;
        else
            p->arch_bw[k - SIM_FIT_BW] = x;
    }
}

/* Unbounded coordinate u <-> bounded term: a logistic map. */
static double to_term(int k, double u)
{
    return lo(k) + (hi(k) - lo(k)) / (1 + exp(-u));
}

static double to_u(int k, double x)
{
    double f = (x - lo(k)) / (hi(k) - lo(k));
    f = fmin(fmax(f, 1e-6), 1 - 1e-6);
    return log(f / (1 - f));
}

int sim_fit_arch_devices(const sim_measurement *rows, const size_t *idx, size_t n,
                         size_t devices[SIM_ARCH_MAX])
{
    memset(devices, 0, SIM_ARCH_MAX * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        const sim_measurement *r = &rows[idx[i]];
        int a = sim_arch_index(r->gpu.arch);
        if (a < 0 || r->gpu.rate_given || r->metric == SIM_MEAS_DECODE_TOK_S)
            continue;
        bool seen = false; /* a device counted once */
        for (size_t j = 0; j < i && !seen; j++) {
            const sim_measurement *q = &rows[idx[j]];
            seen = q->metric != SIM_MEAS_DECODE_TOK_S && !q->gpu.rate_given &&
                   strcmp(q->gpu.name, r->gpu.name) == 0;
        }
        if (!seen)
            devices[a]++;
    }
    int ref = -1;
    for (int a = 0; a < (int)sim_arch_count(); a++)
        if (devices[a] >= 2 && (ref < 0 || devices[a] > devices[ref]))
            ref = a;
    return ref;
}

int sim_fit_arch_bw_devices(const sim_measurement *rows, const size_t *idx, size_t n,
                            size_t devices[SIM_ARCH_MAX])
{
    memset(devices, 0, SIM_ARCH_MAX * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        const sim_measurement *r = &rows[idx[i]];
        int a = sim_arch_index(r->gpu.arch);
        if (a < 0 || r->gpu.bw_given)
            continue;
        bool seen = false; /* a device counted once */
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(rows[idx[j]].gpu.name, r->gpu.name) == 0;
        if (!seen)
            devices[a]++;
    }
    int ref = -1;
    for (int a = 0; a < (int)sim_arch_count(); a++)
        if (devices[a] >= 2 && (ref < 0 || devices[a] > devices[ref]))
            ref = a;
    return ref;
}

typedef struct fit_ctx {
    const sim_measurement *rows;
    const size_t *idx;
    size_t n;
    sim_cost_params base;
    int map[SIM_FIT_NPARAMS]; /* free term of each coordinate */
    int dims;
    double weight[SIM_ARCH_MAX];    /* devices of each architecture with a free term */
    int ref;                        /* the architecture of most devices: no coordinate; -1 none */
    double bw_weight[SIM_ARCH_MAX]; /* the same for the arch_bw terms */
    int bw_ref;
} fit_ctx;

/* Sets P's terms from coordinates U: the free architecture terms but the
 * reference's are relative to it; all then divided by their geometric
 * mean over devices, and flops_eff multiplied by it (the same predictions
 * for devices with a term, the typical efficiency for the rest). */
static void normalise(const double *weight, int ref, double *terms, double *eff, int k)
{
    if (ref < 0)
        return;
    terms[ref] = 1.0;
    double sw = 0, sl = 0;
    for (int a = 0; a < SIM_ARCH_MAX; a++)
        if (weight[a] > 0) {
            sw += weight[a];
            sl += weight[a] * log(terms[a]);
        }
    double g = exp(sl / sw);
    *eff = fmin(*eff * g, 1.0);
    for (int a = 0; a < SIM_ARCH_MAX; a++)
        if (weight[a] > 0)
            terms[a] = fmin(fmax(terms[a] / g, lo(k)), hi(k));
}

static void apply(const fit_ctx *f, const double *u, sim_cost_params *p)
{
    for (int d = 0; d < f->dims; d++)
        set(p, f->map[d], to_term(f->map[d], u[d]));
    normalise(f->weight, f->ref, p->arch_flops, &p->flops_eff, SIM_FIT_NBASE);
    normalise(f->bw_weight, f->bw_ref, p->arch_bw, &p->bw_eff, SIM_FIT_BW);
}

static double objective(const fit_ctx *f, const double *u)
{
    sim_cost_params p = f->base;
    apply(f, u, &p);
    double sse = 0;
    char why[160];
    for (size_t i = 0; i < f->n; i++) {
        const sim_measurement *r = &f->rows[f->idx[i]];
        double pred;
        if (sim_validate_predict(r, &p, &pred, why, sizeof(why)) != 0)
            continue;
        double e = log(pred / r->value);
        sse += e * e;
    }
    return sse;
}

/* Nelder-Mead (reflection 1, expansion 2, contraction 1/2, shrink 1/2). */
static double nelder_mead(const fit_ctx *f, double *x, int iters)
{
    enum { MAXD = SIM_FIT_NPARAMS };
    int d = f->dims;
    double s[MAXD + 1][MAXD] = {{0}}, v[MAXD + 1] = {0};
    for (int i = 0; i <= d; i++) {
        for (int j = 0; j < d; j++)
            s[i][j] = x[j] + (i == j + 1 ? 1.0 : 0.0);
        v[i] = objective(f, s[i]);
    }
    for (int it = 0; it < iters; it++) {
        /* Order: best first. */
        for (int i = 1; i <= d; i++)
            for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
                double t = v[j];
                v[j] = v[j - 1];
                v[j - 1] = t;
                for (int k = 0; k < d; k++) {
                    t = s[j][k];
                    s[j][k] = s[j - 1][k];
                    s[j - 1][k] = t;
                }
            }
        if (v[d] - v[0] < 1e-10 * (1 + v[0]))
            break;
        double cen[MAXD] = {0}, xr[MAXD], xe[MAXD], xc[MAXD];
        for (int i = 0; i < d; i++)
            for (int k = 0; k < d; k++)
                cen[k] += s[i][k] / d;
        for (int k = 0; k < d; k++)
            xr[k] = cen[k] + (cen[k] - s[d][k]);
        double fr = objective(f, xr);
        if (fr < v[0]) {
            for (int k = 0; k < d; k++)
                xe[k] = cen[k] + 2 * (cen[k] - s[d][k]);
            double fe = objective(f, xe);
            memcpy(s[d], fe < fr ? xe : xr, sizeof(double) * (size_t)d);
            v[d] = fe < fr ? fe : fr;
        } else if (fr < v[d - 1]) {
            memcpy(s[d], xr, sizeof(double) * (size_t)d);
            v[d] = fr;
        } else {
            for (int k = 0; k < d; k++)
                xc[k] = cen[k] + 0.5 * (s[d][k] - cen[k]);
            double fc = objective(f, xc);
            if (fc < v[d]) {
                memcpy(s[d], xc, sizeof(double) * (size_t)d);
                v[d] = fc;
            } else {
                for (int i = 1; i <= d; i++) {
                    for (int k = 0; k < d; k++)
                        s[i][k] = s[0][k] + 0.5 * (s[i][k] - s[0][k]);
                    v[i] = objective(f, s[i]);
                }
            }
        }
    }
    int best = 0;
    for (int i = 1; i <= d; i++)
        if (v[i] < v[best])
            best = i;
    memcpy(x, s[best], sizeof(double) * (size_t)d);
    return v[best];
}

double sim_fit_preset(const sim_measurement *rows, const size_t *idx, size_t n, sim_cost_params *p,
                      const bool free[SIM_FIT_NPARAMS])
{
    fit_ctx f = {.rows = rows, .idx = idx, .n = n, .base = *p, .ref = -1, .bw_ref = -1};
    /* The free architecture terms, the one of most devices the
     * reference (no coordinate of its own). */
    size_t devices[SIM_ARCH_MAX];
    sim_fit_arch_devices(rows, idx, n, devices);
    for (int a = 0; a < SIM_ARCH_MAX; a++)
        if (free[SIM_FIT_NBASE + a] && devices[a] > 0) {
            f.weight[a] = (double)devices[a];
            if (f.ref < 0 || devices[a] > devices[f.ref])
                f.ref = a;
        }
    size_t bw_devices[SIM_ARCH_MAX];
    sim_fit_arch_bw_devices(rows, idx, n, bw_devices);
    for (int a = 0; a < SIM_ARCH_MAX; a++)
        if (free[SIM_FIT_BW + a] && bw_devices[a] > 0) {
            f.bw_weight[a] = (double)bw_devices[a];
            if (f.bw_ref < 0 || bw_devices[a] > bw_devices[f.bw_ref])
                f.bw_ref = a;
        }
    int arch_dims = 0; /* more iterations for more terms */
    for (int k = 0; k < SIM_FIT_NPARAMS; k++)
        if (free[k] && !(f.ref >= 0 && k == SIM_FIT_NBASE + f.ref) &&
            !(f.bw_ref >= 0 && k == SIM_FIT_BW + f.bw_ref)) {
            f.map[f.dims++] = k;
            arch_dims += k >= SIM_FIT_NBASE;
        }
    /* arch_flops_free: where devices of architectures without a term
     * remain, flops_eff is theirs and every term is free relative to it
     * (the reference gets a coordinate; nothing is normalised). A device
     * of an architecture the fit has no term for then gets the efficiency
     * of such devices, not the device-weighted mean of the architectures
     * with terms (llama.cpp's Vulkan rows: four Intel Xe2 parts at a
     * sixth of the NVIDIA parts' share of their peak). Before the rule
     * below: an architecture alone with a term keeps it here, relative to
     * the termless devices, rather than being folded into flops_eff. */
    if (p->arch_flops_free && f.ref >= 0) {
        size_t termless = 0;
        for (int a = 0; a < SIM_ARCH_MAX; a++)
            if (!(f.weight[a] > 0))
                termless += devices[a];
        if (termless > 0) {
            f.map[f.dims++] = SIM_FIT_NBASE + f.ref;
            arch_dims++;
            f.ref = -1;
        }
    }
    /* One architecture alone: flops_eff is its efficiency. */
    bool flops_dims = false, bw_dims = false;
    for (int d = 0; d < f.dims; d++) {
        flops_dims |= f.map[d] >= SIM_FIT_NBASE && f.map[d] < SIM_FIT_BW;
        bw_dims |= f.map[d] >= SIM_FIT_BW;
    }
    if (!flops_dims && f.ref >= 0) {
        f.base.arch_flops[f.ref] = p->arch_flops[f.ref] = 0;
        f.ref = -1;
    }
    if (!bw_dims && f.bw_ref >= 0) {
        f.base.arch_bw[f.bw_ref] = p->arch_bw[f.bw_ref] = 0;
        f.bw_ref = -1;
    }
    if (f.dims == 0 || n == 0)
        return objective(&f, NULL);
    /* Fixed starting points (not the preset's current terms: the same
     * rows and flags give the same fit whatever was fitted before);
     * restarts from the best until it stops improving. */
    static const double starts[4][SIM_FIT_NBASE] = {
        {0.7, 0.4, 2, 20, 100, 100, 0.2, 10, 4, 10, 10, 1, 20, 0.5, 600},
        {0.7, 0.6, 2, 20, 100, 100, 0.2, 80, 2, 10, 15, 0.5, 80, 0.3, 1000},
        {0.9, 0.6, 0.5, 5, 300, 30, 0.6, 40, 8, 30, 6, 2, 5, 0.7, 300},
        {0.5, 0.25, 5, 50, 30, 300, 0.05, 100, 1, 3, 25, 0.2, 150, 0.2, 2000}};
    double best[SIM_FIT_NPARAMS], bv = INFINITY;
    for (int start = 0; start < 4; start++) {
        double u[SIM_FIT_NPARAMS];
        for (int d = 0; d < f.dims; d++) /* architecture terms start at 1 */
            u[d] = to_u(f.map[d], f.map[d] < SIM_FIT_NBASE ? starts[start][f.map[d]] : 1.0);
        double v = INFINITY;
        for (int round = 0; round < 4; round++) {
            double nv = nelder_mead(&f, u, 400 + 100 * arch_dims);
            if (!(nv < v - 1e-9 * (1 + v))) {
                v = fmin(v, nv);
                break;
            }
            v = nv;
        }
        if (v < bv) {
            bv = v;
            memcpy(best, u, sizeof(best));
        }
    }
    apply(&f, best, p);
    return bv;
}
