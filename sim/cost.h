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
#include "sim/parallel.h"

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
    double kv_window_bytes_per_seq;    /* KIVI: the fp16 window's extra bytes, read per decode */
    double attn_flops_per_pair;        /* 2 x layers x heads x (head_dim + v_head_dim) */
    double attn_flops_per_decode_pair; /* the same for a decoding query (MLA: absorbed) */
    /* Tensor parallelism: everything above is one GPU's share; each step
     * adds allreduces all-reduces of tokens x allreduce_bytes_per_token. */
    uint32_t tp;
    double allreduces;                /* 2 x layers when tp > 1, else 0 */
    double allreduce_bytes_per_token; /* hidden x 2 (16-bit activations) */
    sim_link link;
    /* Partial offload (llama.cpp's -ngl): gpu_share of the layers run on
     * the GPU, the rest at the host's bandwidth and FLOPs; the hidden
     * states cross the host link between the two parts. */
    double gpu_share; /* 1 without offload */
    double host_bw_Bps;
    double host_flops;
    double host_link_Bps;
    double crossing_bytes_per_token;
    sim_cost_params p;
} sim_cost;

/* Prepares a cost model for GPU x MODEL with weights in W and KV in KV,
 * split over TP GPUs joined by LINK (unused, may be NULL, when TP is 1).
 * Weight bytes and the compute rate follow W (sim/formats.h: fp8 at the
 * GPU's FP8 tensor rate when it has one, int8 W8A8 at its int8 rate,
 * weight-only formats at the fp16 rate); KV bytes follow KV, scales
 * included. */
void sim_cost_init(sim_cost *c, const sim_gpu *gpu, const sim_model *model, const sim_dtype *w,
                   const sim_dtype *kv, const sim_cost_params *p, uint32_t tp,
                   const sim_link *link);

/* Duration of a step in seconds:
 *     max(bytes / (bw x bw_eff), flops / (peak x flops_eff)) + all-reduces + overhead
 * with bytes and FLOPs one GPU's share. The all-reduces are not overlapped
 * with compute (vLLM runs them in line on the compute stream). */
double sim_cost_step_s(const sim_cost *c, const sim_batch_shape *b);

/* Runs 1 - GPU_SHARE of C's layers on HOST (its memory bandwidth and FP16
 * rate), joined to the GPU by a link of LINK_BPS per direction; HIDDEN is
 * the model's hidden size (activations cross in fp32, as llama.cpp keeps
 * them). */
void sim_cost_offload(sim_cost *c, double gpu_share, const sim_gpu *host, double link_Bps,
                      uint32_t hidden);

/* The all-reduce part of a step computing TOKENS tokens (0 without TP). */
double sim_cost_allreduce_s(const sim_cost *c, double tokens);

/* Peak activation memory on one of TP GPUs of a forward pass over TOKENS
 * tokens and SEQS sequences (hidden states, the GPU's share of the
 * attention and MLP intermediates, and the sampler's logits, gathered on
 * the first GPU), as vLLM's profiling run measures before sizing the KV
 * pool. */
double sim_activation_bytes(const sim_model *m, uint64_t tokens, uint64_t seqs, uint32_t tp);

#endif
