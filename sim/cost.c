/*
 * cost.c: roofline step times and engine presets; see cost.h.
 *
 * Presets. The efficiency terms are fitted to published measurements (the
 * fit is bench/fit_cost.py over catalog/measurements.csv; README "Cost
 * model" gives the residuals):
 *   trtllm   TensorRT-LLM v0.5/v0.6.1 performance.md, A100/H100/L40S rows
 *            (batch-1 first-token latency and static-batch throughput);
 *   llamacpp llama.cpp batch-1 decode on CUDA cards at F16;
 *   vllm     no vLLM step times are in the calibration set: it takes
 *            TensorRT-LLM's efficiencies with a larger per-step overhead
 *            (Python scheduling and sampling), which the user can override.
 * overhead_bytes is memory outside torch's weights, activations and KV:
 * set so that Llama-2-7B fp16 on an A100-80GB with max length 4096 gets
 * vLLM's logged 7,449 blocks (see README, "KV pool").
 */
#include "sim/cost.h"

#include <math.h>
#include <string.h>

static const sim_engine_preset presets[] = {
    {"vllm",
     {0.80, 0.55, 0.006, 0.80 * 1073741824.0},
     "TensorRT-LLM fit with vLLM's larger per-step overhead (no vLLM data in the fit)"},
    {"trtllm",
     {0.80, 0.55, 0.002, 0.80 * 1073741824.0},
     "fit to TensorRT-LLM v0.5/v0.6.1 performance.md (A100, H100, L40S)"},
    {"llamacpp",
     {0.85, 0.40, 0.001, 0.50 * 1073741824.0},
     "fit to llama.cpp CUDA batch-1 F16 decode rates"},
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

void sim_cost_init(sim_cost *c, const sim_gpu *gpu, const sim_model *m, double w_bytes,
                   double kv_bytes, const sim_cost_params *p)
{
    memset(c, 0, sizeof(*c));
    c->mem_bw_Bps = gpu->mem_bw_Bps;
    /* A GPU without a published FLOP rate is treated as bandwidth-bound. */
    c->peak_flops = gpu->fp16_flops > 0 ? gpu->fp16_flops : INFINITY;
    double expert_params = 0;
    if (m->experts) {
        expert_params = 3.0 * m->hidden * (double)m->intermediate * m->layers * m->experts;
        c->experts = m->experts;
        c->experts_per_tok = m->experts_per_tok;
    }
    c->dense_weight_bytes = ((double)m->params_total - expert_params) * w_bytes;
    c->expert_weight_bytes = expert_params * w_bytes;
    c->active_params = (double)m->params_active;
    c->kv_bytes_per_token = (double)sim_model_kv_bytes_per_token(m, kv_bytes);
    c->attn_flops_per_pair = 4.0 * m->layers * (double)m->heads * m->head_dim;
    c->p = *p;
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
    double kv_read = (double)b->decode_ctx_tokens - b->decode_seqs;
    double bytes = weights + c->kv_bytes_per_token * (kv_read + tokens);
    double flops = 2.0 * c->active_params * tokens +
                   c->attn_flops_per_pair * ((double)b->decode_ctx_tokens + b->prefill_attn_pairs);
    double t_mem = bytes / (c->mem_bw_Bps * c->p.bw_eff);
    double t_compute = flops / (c->peak_flops * c->p.flops_eff);
    return fmax(t_mem, t_compute) + c->p.step_overhead_s;
}

double sim_activation_bytes(const sim_model *m, uint64_t tokens, uint64_t seqs)
{
    /* Per token, in 16-bit: residual and normed hidden states (2h), q/k/v
     * (h + 2 x kv_heads x head_dim), the MLP's gate/up output and its
     * activation (3I; OPT's 2-matrix MLP has no gate, counted the same
     * way). Logits of the sampled positions in fp32, twice (logits and
     * probabilities). */
    double h = m->hidden, I = m->intermediate;
    double kv = (double)m->kv_heads * m->head_dim;
    double per_token = 2.0 * (3.0 * h + 2.0 * kv + 3.0 * I);
    double logits = 2.0 * 4.0 * (double)m->vocab * (double)seqs;
    return per_token * (double)tokens + logits;
}
