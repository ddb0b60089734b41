/*
 * cost.c: roofline step times and engine presets; see cost.h.
 *
 * Presets. The efficiency terms are fitted by bench/fit_cost.c to the
 * published single-GPU measurements in catalog/calibration.csv (sources in
 * its last column), through sim_cost_step_s itself:
 *   trtllm   TensorRT-LLM v0.5/v0.6.1 performance.md, A100 FP16, H100 and
 *            L40S FP8 (static-batch throughput, batch-1 first-token
 *            latency): 17 rows, mean |error| 9.4 %, worst 36.6 %;
 *   llamacpp llama.cpp (CUDA) F16 batch-1 decode and 494-token prefill on
 *            eight cards: 40 rows, decode within 20 %, prefill off by up to
 *            a factor of 2 (one FLOP efficiency cannot fit both GeForce
 *            FP16-accumulate GEMMs and datacenter cards' weak prefill);
 *   llamacpp-metal  llama.cpp (Metal) F16 on an M2 Ultra, XiongjieDai's
 *            benchmarks (Llama-2 7B/13B/70B, prompt 494, 1024 out): 6 rows,
 *            mean |error| 2.5 %, worst 5.2 % (an M1 Max reaches only about
 *            half its bus in the same benchmarks: not fitted);
 *   vllm     no vLLM step times are in the calibration set: it takes the
 *            TensorRT-LLM fit. Override with --bw-eff, --flops-eff and
 *            --step-overhead-ms when you have measurements.
 * overhead_bytes is vLLM's "non-torch memory": GPU memory outside torch's
 * weights, activation peak and KV (cuBLAS and attention workspaces,
 * lazily loaded kernels, NCCL buffers). vllm: 1.30 GiB, fitted to two
 * vLLM logs through the memory plan itself (tests/test_memplan.c, README
 * "KV pool"), each on its CUDA total (catalog/gpus.csv cuda_total_mib)
 * with kvsim's weights and activations:
 *   Llama-2-7B fp16 on an A100-80GB, vLLM PR #2031 (v0.2.5): 7,351 blocks
 *     of 16 tokens, which needs 0.75 GiB (its non-torch figure then also
 *     held the CUDA context: peak = total - free after profiling);
 *   Llama-3-8B on an H100, vLLM PR #10511 (v0.6.x, V0 engine): 53.29 GiB
 *     of KV, which needs 1.81 GiB (it logged 1.79 GiB non-torch).
 * 1.30 GiB puts both within 1 % (-0.95 % and +0.95 %); no one figure fits
 * both better, since the versions measured non-torch memory differently.
 * vLLM V1 logs of 2025 show 0.02-0.26 GiB at TP 1 (CUDA graphs, captured
 * after the KV cache is sized, not counted): against them kvsim's pool is
 * about 1 GiB smaller, on the safe side. trtllm keeps 0.80 GiB, vLLM's
 * former figure (no TensorRT-LLM memory log calibrates it); llamacpp 0.5
 * GiB is likewise not calibrated.
 */
#include "sim/cost.h"

#include "sim/formats.h"

#include <math.h>
#include <string.h>

static const sim_engine_preset presets[] = {
    {"vllm",
     {0.96, 0.58, 0.0055, 1.30 * 1073741824.0},
     "the TensorRT-LLM fit (no vLLM step times in the calibration set)"},
    {"trtllm",
     {0.96, 0.58, 0.0055, 0.80 * 1073741824.0},
     "fit to TensorRT-LLM v0.5/v0.6.1 performance.md (A100 FP16, H100/L40S FP8), 17 rows"},
    {"llamacpp",
     {1.00, 0.31, 0.0065, 0.50 * 1073741824.0},
     "fit to llama.cpp CUDA F16 batch-1 decode and prefill, 40 rows"},
    {"llamacpp-metal",
     {0.84, 0.73, 0.0040, 0.50 * 1073741824.0},
     "fit to llama.cpp Metal F16 batch-1 decode and prefill on an M2 Ultra (Llama-2 7B, 13B, "
     "70B), 6 rows"},
};

const sim_engine_preset *sim_engine_preset_find(const char *name)
{
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
        if (strcmp(presets[i].name, name) == 0)
            return &presets[i];
    return NULL;
}

void sim_engine_preset_names(char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        strncat(buf, i ? ", " : "", len - strlen(buf) - 1);
        strncat(buf, presets[i].name, len - strlen(buf) - 1);
    }
}

void sim_cost_init(sim_cost *c, const sim_gpu *gpu, const sim_model *m, const sim_dtype *w,
                   const sim_dtype *kv, const sim_cost_params *p, uint32_t tp, const sim_link *link)
{
    memset(c, 0, sizeof(*c));
    if (tp < 1)
        tp = 1;
    c->mem_bw_Bps = gpu->mem_bw_Bps;
    /* Weight bytes tensor by tensor and the rate the format multiplies at
     * (sim/formats.c); the configuration's checks refused what cannot be
     * computed (a device without a FLOP rate among them), so these cannot
     * fail here. */
    char err[256];
    sim_weight_bytes wb;
    if (sim_weight_bytes_of(m, w, &wb, err, sizeof(err)) != 0 ||
        sim_weight_peak_flops(gpu, w, &c->peak_flops, err, sizeof(err)) != 0) {
        wb.total = (double)m->params_total * w->bytes;
        wb.expert = (double)m->expert_params * w->bytes;
        c->peak_flops = gpu->fp16_flops;
    }
    if (m->experts) {
        c->experts = m->experts;
        c->experts_per_tok = m->experts_per_tok;
    }
    /* One GPU's share at TP: vLLM's FusedMoE splits every expert's
     * intermediate over the TP GPUs (no expert parallelism by default);
     * the rest as sim_tp_params_per_gpu splits the parameters, the format's
     * bytes per parameter kept. */
    double per_gpu = (double)sim_tp_params_per_gpu(m, tp);
    double dense_params = (double)m->params_total - (double)m->expert_params;
    double dense_gpu = per_gpu - (double)m->expert_params / tp;
    c->expert_weight_bytes = wb.expert / tp;
    c->dense_weight_bytes =
        dense_params > 0 ? (wb.total - wb.expert) * dense_gpu / dense_params : 0.0;
    /* Active parameters per GPU: the split share, plus the replicated
     * norms and KV projections as sim_tp_params_per_gpu counts them. */
    c->active_params = ((double)m->params_active - (double)m->params_total) / tp + per_gpu;
    sim_model shard = *m;
    shard.kv_heads = sim_tp_kv_heads(m, tp);
    c->kv_bytes_per_token = (double)sim_kv_format_bytes_per_token(&shard, kv);
    c->kv_window_bytes_per_seq = (double)sim_kv_window_bytes_per_seq(&shard, kv);
    /* 2 FLOPs per multiply-add for q.k (head_dim) and for p.v (v_head_dim). */
    c->attn_flops_per_pair =
        2.0 * m->layers * (double)m->heads / tp * ((double)m->head_dim + m->v_head_dim);
    /* vLLM's MLA decode absorbs the up-projections: each head attends over
     * the latent (kv_lora_rank + rope for q.k, kv_lora_rank for p.v);
     * prefill expands the keys and values (v0.11 attention/backends/mla). */
    c->attn_flops_per_decode_pair =
        m->kv_lora_rank > 0
            ? 2.0 * m->layers * (double)m->heads / tp * (2.0 * m->kv_lora_rank + m->qk_rope_dim)
            : c->attn_flops_per_pair;
    c->tp = tp;
    if (tp > 1 && link != NULL) {
        c->link = *link;
        c->allreduces = 2.0 * m->layers;
        c->allreduce_bytes_per_token = 2.0 * m->hidden;
    }
    c->gpu_share = 1.0;
    c->p = *p;
}

void sim_cost_offload(sim_cost *c, double gpu_share, const sim_gpu *host, double link_Bps,
                      uint32_t hidden)
{
    c->gpu_share = gpu_share;
    c->host_bw_Bps = host->mem_bw_Bps;
    c->host_flops = host->fp16_flops;
    c->host_link_Bps = link_Bps;
    c->crossing_bytes_per_token = 4.0 * hidden;
}

double sim_cost_allreduce_s(const sim_cost *c, double tokens)
{
    if (c->allreduces <= 0 || tokens <= 0)
        return 0.0;
    return c->allreduces * sim_allreduce_s(&c->link, c->tp, tokens * c->allreduce_bytes_per_token);
}

double sim_cost_step_s(const sim_cost *c, const sim_batch_shape *b)
{
    double tokens = (double)b->prefill_tokens + b->decode_seqs;
    if (tokens <= 0)
        return 0.0;
    double weights = c->dense_weight_bytes;
    if (c->experts > 0) {
        /* Expected share of experts touched when each token picks k of E:
         * 1 - (1 - k/E)^tokens, per layer. */
        double miss = pow(1.0 - c->experts_per_tok / c->experts, tokens);
        weights += c->expert_weight_bytes * (1.0 - miss);
    }
    double kv_read = (double)b->decode_ctx_tokens - b->decode_seqs + (double)b->prefill_ctx_tokens;
    double bytes = weights + c->kv_bytes_per_token * (kv_read + tokens) +
                   c->kv_window_bytes_per_seq * b->decode_seqs; /* KIVI's fp16 window */
    double flops = 2.0 * c->active_params * tokens +
                   c->attn_flops_per_decode_pair * (double)b->decode_ctx_tokens +
                   c->attn_flops_per_pair * b->prefill_attn_pairs;
    double g = c->gpu_share;
    double t_mem = g * bytes / (c->mem_bw_Bps * c->p.bw_eff);
    double t_compute = g * flops / (c->peak_flops * c->p.flops_eff);
    double t = g > 0 ? fmax(t_mem, t_compute) : 0.0;
    if (g < 1.0) {
        /* The host's layers run after (or before) the GPU's, not beside
         * them; with both parts present the hidden states cross the link
         * once each way (llama.cpp splits the layers into two contiguous
         * ranges). A batch of 32 tokens or more runs the host layers'
         * matrix products on the GPU instead, their weights copied over
         * the link (llama.cpp's CUDA backend, offload_op: min_batch_size
         * 32); their KV stays on the host. */
        double h = 1 - g, kv = bytes - weights;
        if (tokens >= 32)
            t +=
                h * weights / c->host_link_Bps + fmax(h * kv / (c->host_bw_Bps * c->p.bw_eff),
                                                      h * flops / (c->peak_flops * c->p.flops_eff));
        else
            t += fmax(h * bytes / (c->host_bw_Bps * c->p.bw_eff),
                      h * flops / (c->host_flops * c->p.flops_eff));
        if (g > 0)
            t += 2.0 * tokens * c->crossing_bytes_per_token / c->host_link_Bps;
    }
    return t + sim_cost_allreduce_s(c, tokens) + c->p.step_overhead_s;
}

double sim_activation_bytes(const sim_model *m, uint64_t tokens, uint64_t seqs, uint32_t tp)
{
    /* Per token, in 16-bit: residual and normed hidden states (2h), q/k/v
     * (h + 2 x kv_heads x head_dim), the MLP's gate/up output and its
     * activation (3I; OPT's 2-matrix MLP has no gate, counted the same
     * way); with TP the q heads and the MLP split, the KV heads as the
     * weights do.
     * The sampler: one row of logits per sequence, min(seqs, tokens) of
     * them (V1's dummy sampler run takes min(max_num_seqs,
     * max_num_batched_tokens) requests; V0 profiles max_num_seqs sequences
     * sharing the budget), held as three fp32 tensors: the logits cast to
     * fp32, the probabilities and the log-probabilities (vLLM's Sampler).
     * 12 bytes per logit is what the two logs of tests/test_memplan.c
     * show: 87 MB over 256 x 32,000 logits (10.6 bytes; Llama-2-7B, vLLM
     * PR #2031, A100-80GB) and 413 MB over 256 x 128,256 (12.6 bytes;
     * Llama-3-8B, PR #10511, H100) above the per-token part. */
    double n = tp > 1 ? tp : 1;
    double h = m->hidden, I = m->intermediate;
    double kv = m->kv_lora_rank > 0 ? ((double)m->kv_lora_rank + m->qk_rope_dim) / 2.0
                                    : (double)sim_tp_kv_heads(m, tp > 1 ? tp : 1) * m->head_dim;
    double per_token = 2.0 * (2.0 * h + h / n + 2.0 * kv + 3.0 * I / n);
    double rows = (double)(seqs < tokens ? seqs : tokens);
    double logits = 3.0 * 4.0 * (double)m->vocab * rows;
    return per_token * (double)tokens + logits;
}
