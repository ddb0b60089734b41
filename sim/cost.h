/*
 * cost.h: the roofline step-time model and the GPU memory plan.
 *
 * A step (one iteration of the batch) moves bytes (the weights once; the
 * KV of every decoding sequence's context read; new KV written) and does
 * FLOPs (2 x active parameters per token, plus attention: 4 x layers x
 * heads x head_dim per (query, key) pair). Its duration is
 *     max(bytes / (bandwidth x bw_eff), flops / (peak x flops_eff)) + overhead
 * with the efficiency terms from an engine preset (fitted to published
 * measurements, see cost.c) or overridden by the user.
 */
#ifndef KVSIM_SIM_COST_H
#define KVSIM_SIM_COST_H

#include <stddef.h>
#include <stdint.h>

#include "sim/catalog.h"

typedef struct sim_cost_params {
    double bw_eff;          /* achieved share of spec memory bandwidth, (0, 1] */
    double flops_eff;       /* achieved share of peak dense FLOPs, (0, 1] */
    double step_overhead_s; /* fixed per-step time: launches, scheduling, sampling */
    double
        overhead_bytes; /* GPU memory outside weights, activations and KV (context, workspaces) */
} sim_cost_params;

typedef struct sim_engine_preset {
    const char *name;
    sim_cost_params params;
    const char *basis; /* where the numbers come from */
} sim_engine_preset;

/* Finds a preset ("vllm", "trtllm", "llamacpp"); NULL when unknown. */
const sim_engine_preset *sim_engine_preset_find(const char *name);

/* Writes the preset names, comma-separated, into BUF. */
void sim_engine_preset_names(char *buf, size_t len);

/* What one step computes. */
typedef struct sim_batch_shape {
    uint32_t prefill_seqs;
    uint32_t decode_seqs;
    uint64_t prefill_tokens;    /* prompt tokens computed this step */
    uint64_t decode_ctx_tokens; /* sum of decoding sequences' context lengths, new token included */
    double prefill_attn_pairs;  /* (query, key) pairs of the prompt tokens computed */
    uint64_t
        prefill_ctx_tokens; /* KV of earlier tokens the prompt chunks read (chunks, cache hits) */
} sim_batch_shape;

/* Everything the model needs, fixed for a run. */
typedef struct sim_cost {
    double mem_bw_Bps;
    double peak_flops;
    double dense_weight_bytes;  /* weights read every step */
    double expert_weight_bytes; /* MoE expert weights: read as far as tokens touch them */
    double experts;             /* 0 for dense models */
    double experts_per_tok;
    double active_params;
    double kv_bytes_per_token;
    double kv_window_bytes_per_seq; /* KIVI: the fp16 window's extra bytes, read per decode */
    double attn_flops_per_pair;     /* 4 x layers x heads x head_dim */
    sim_cost_params p;
} sim_cost;

/* Prepares a cost model for GPU x MODEL with weights in W and KV in KV.
 * Weight bytes and the compute rate follow W (sim/formats.h: fp8 at the
 * GPU's FP8 tensor rate when it has one, int8 W8A8 at its int8 rate,
 * weight-only formats at the fp16 rate); KV bytes follow KV, scales
 * included. */
void sim_cost_init(sim_cost *c, const sim_gpu *gpu, const sim_model *model, const sim_dtype *w,
                   const sim_dtype *kv, const sim_cost_params *p);

/* Duration of a step in seconds. */
double sim_cost_step_s(const sim_cost *c, const sim_batch_shape *b);

/* Peak activation memory of a forward pass over TOKENS tokens and SEQS
 * sequences (hidden states, MLP intermediates, and the sampler's logits),
 * as vLLM's profiling run measures before sizing the KV pool. */
double sim_activation_bytes(const sim_model *m, uint64_t tokens, uint64_t seqs);

#endif
