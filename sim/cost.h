/*
 * cost.h: the step-time model and the GPU memory plan.
 *
 * A step (one iteration of the batch) runs two kinds of kernels, each a
 * roofline of its own (they run one after the other, so their times add):
 *   matrix products  bytes: the weights once (not the input embedding: a
 *                    gather; MoE experts as far as the tokens touch them;
 *                    llama.cpp's fp16 copies of quantized matrices for
 *                    GEMMs over more than 32 tokens);
 *                    FLOPs: 2 x the layers' active parameters per token,
 *                    plus the LM head (2 x hidden x vocab) per sampled
 *                    position, at the weight format's rate;
 *   attention        bytes: the KV of every token attended to, the new
 *                    tokens' KV written, and without flash attention the
 *                    fp32 scores (16 bytes per (query, key) pair, head and
 *                    layer); FLOPs: 2 x (head_dim + v_head_dim) x heads x
 *                    layers per pair, at the 16-bit rate;
 *     t = max(B_lin / (bw x bw_eff), F_lin / (R_w x flops_eff x a))
 *       + max(B_att / (bw x bw_eff), F_att / (R_16 x flops_eff))
 *         (B_att's decode reads x (1 + fa_wave_fill x 2 SMs / units x
 *         min(1, split / context)) where the preset has fa_wave_fill:
 *         vllm; with mmha_grid, trtllm, x (1 + fa_wave_fill x 4 SMs /
 *         busy blocks), no split)
 *       + all-reduces (TP) + layers x layer_overhead + step_overhead
 *       + sequences x seq_overhead
 * where the per-layer (launch) overhead is not paid by steps an engine
 * replays as a CUDA graph (vLLM: steps of up to 512 tokens unless
 * --enforce-eager; llama.cpp's CUDA backend: one-token decode).
 * with bytes and FLOPs one GPU's share, R_w the weight format's tensor
 * rate (fp8 at the FP8 rate, W8A8 int8 at the int8 rate, weight-only
 * formats at the 16-bit rate), R_16 the 16-bit rate (GeForce's fp16-
 * accumulate rate for engines that use it), a the preset's arch_flops term
 * for the device's architecture in steps of more than one token (1 in
 * one-token steps, for an architecture the preset has no term for, and
 * for a rate the user gave), and bw the spec bandwidth times the
 * preset's arch_bw term for the architecture (1 when none, and for a
 * bandwidth the user gave). The efficiency terms come
 * from an engine preset (sim/preset.h: fitted to published measurements
 * by `kvsim calibrate`) or the user.
 */
#ifndef KVSIM_SIM_COST_H
#define KVSIM_SIM_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/catalog.h"
#include "sim/parallel.h"

/* Batches whose split-KV splits sim_cost tabulates (fa_graph_split). */
#define SIM_FA_TABLE 256

typedef struct sim_cost_params {
    double bw_eff;           /* achieved share of spec memory bandwidth, (0, 1] */
    double flops_eff;        /* achieved share of peak dense FLOPs, (0, 1] */
    double step_overhead_s;  /* fixed per-step time: scheduling, sampling, the host's work */
    double layer_overhead_s; /* per layer per step: kernel launches and their gaps */
    double seq_overhead_s;   /* per scheduled sequence per step: the host's scheduling, sampling
                              * and output processing of it */
    double prefill_layer_s;  /* per layer, in a step that computes prompt tokens (a context phase):
                              * the attention's extra kernels and host-side setup there */
    double tp_step_s;    /* per step, times log2 of the tensor-parallel size: the driver's per-step
                          * broadcast of the step's inputs to its workers and the all-reduces waiting
                          * on the slowest of them (vLLM V0); 0 none */
    double split_base_s; /* llama.cpp row split: per layer per step once split */
    double split_sync_s; /* llama.cpp row split: per layer per extra GPU per step */
    double gemm_pJ;      /* energy per FLOP of multi-token matrix products at the board's power
                          * limit, picojoules: caps their rate at tdp_W / gemm_pJ; 0 none */
    double split_link_share; /* llama.cpp row split: share of the host link its activation copies
                              * reach per extra GPU */
    double split_stage_s;    /* llama.cpp row split: the fixed time of one copy staged through the
                              * host (no peer access), which the host thread waits out */
    double mv_sm_Bps;        /* one-token (matrix-vector) products: the weight bytes a second each
                              * SM's kernels pull (their loads in flight over the memory's
                              * latency): caps their reads at sm_count x this; 0 none (nor
                              * where the GPU has no sm_count or the user gave its bandwidth) */
    double
        overhead_bytes;   /* GPU memory outside weights, activations and KV (context, workspaces) */
    bool flash_attn;      /* fused attention: the score matrix never reaches memory */
    bool fp16_accumulate; /* fp16 GEMMs accumulate in fp16: GeForce's full tensor rate */
    bool dequant_gemm;    /* quantized weights expanded to fp16 for multi-token GEMMs */
    bool int8_mmq;        /* quantized weights multiplied at the int8 rate (llama.cpp's MMQ) */
    bool llamacpp_split;  /* several GPUs as llama.cpp uses them: --pipeline-parallel-size is its
                           * layer split (-sm layer: the stages in turn, one batch in flight, the
                           * hidden state in fp32 between them); no tensor parallelism */
    bool ubatch_pipeline; /* with llamacpp_split, a step's 512-token ubatches are pipelined over
                           * the GPUs (#6017; CUDA and HIP builds from April 2024) */
    bool coopmat;         /* llama.cpp's Vulkan backend: on a device with matrix units its matrix
                           * products run there in fp16, fp16 accumulation (sim_cost_init) */
    /* Decode attention as FlashAttention-2's split-KV kernel runs it
     * (flash_attn_with_kvcache, vllm-flash-attn 2.5.9-2.6.1: vLLM 0.5-0.6's
     * FLASH_ATTN backend): the kernel's fill and drain, a share of one
     * wave of its thread blocks (2 an SM, as its num_splits heuristic
     * counts them); the decode's KV reads take 1 + fa_wave_fill x slots /
     * units x min(1, split tokens / context) times bytes / (bw x bw_eff)
     * (mmha_grid: 1 + fa_wave_fill x slots / busy blocks;
     * sim_cost_decode_kv_scale).
     * 0: off (every preset but vllm and trtllm). */
    double fa_wave_fill;
    /* With fa_wave_fill: the decode kernel's grid as TensorRT-LLM's masked
     * multi-head attention launches it (and XQA where xqa_jit picks it):
     * one thread block per sequence and query head (XQA: KV head) over
     * the whole context, no split (multi_block_mode off), 4 blocks of 256
     * threads an SM; MMHA widens its blocks where they fall short of
     * that (sim_cost_init, sim_cost_decode_kv_scale). */
    bool mmha_grid;
    /* vLLM V0 (0.5-0.6) runs a model whose every layer has a sliding
     * window on its XFORMERS backend (vllm/attention/selector.py: "Cannot
     * use FlashAttention-2 backend due to sliding window"), whose decode
     * is vLLM's own PagedAttention kernel: V1 (a thread block per
     * sequence and query head over its whole context) where the batch x
     * query heads exceed 512, else V2 (the context in partitions of 512
     * tokens). V1's KV reads run at most this many bytes a second (a
     * GPU's; fitted where the rows hold such steps: the A100 40GB's and
     * H100 SXM's, whose rates differ less than their SMs or bandwidths,
     * README "Cost model"); V2's at bw_eff. 0: every model decodes with
     * FlashAttention (fa_wave_fill). */
    double paged_v1_Bps;
    /* The matrix products' time from their weight reads (U = bytes / (bw x
     * bw_eff)) and FLOPs (V = flops / (rate x flops_eff)): (U^k + V^k)^(1/k)
     * with this k, where a GEMM neither streams its weights at full
     * bandwidth nor multiplies at full rate in the range between (Vidur's
     * measured operator times, microsoft/vidur data/profiling/compute,
     * A100, H100 and A40, 1-4,096 tokens: k 1.25-1.6, 1.5 taken; README "Cost
     * model"). 0: max(U, V), k infinite (every preset but vllm and
     * trtllm). */
    double gemm_blend_k;
    uint32_t graph_max_tokens; /* steps of at most this many tokens replay a CUDA graph: no
                                * per-layer launch overhead; 0: eager */
    /* Per device architecture (sim_arch_index), a multiplier on flops_eff
     * for the matrix products of steps of more than one token (the GEMMs
     * an engine tunes per architecture); 0: none given, 1. */
    double arch_flops[SIM_ARCH_MAX];
    /* Per device architecture, a multiplier on bw_eff for every byte the
     * step moves (the share of spec DRAM bandwidth a generation's memory
     * and caches reach); 0: none given, 1. Fitted only where arch_bw_fit. */
    double arch_bw[SIM_ARCH_MAX];
    bool arch_bw_fit; /* calibrate fits arch_bw (the preset opts in) */
    /* The tensor rates scaled to the device's measured achievable matmul
     * rate (catalog matmul_tflops over fp16_tflops; SIM_MATMUL_DEFAULT_SHARE
     * where unmeasured): flops_eff is then a share of what a GEMM can reach
     * on the device, not of its boost-clock peak. */
    bool matmul_measured;
    /* calibrate fits flops_eff to the devices of architectures without an
     * arch_flops term, every term free relative to it (the preset opts
     * in); otherwise the terms keep a geometric mean of 1 over their
     * devices. */
    bool arch_flops_free;
    /* Decode attention reads a KV head once for each query head that
     * shares it (grouped-query attention without a kernel that shares the
     * read: TensorRT-LLM's masked MHA before its XQA kernel, v0.8), so a
     * decode's KV traffic is the query heads' over the KV heads' times
     * what the cache holds. */
    bool gqa_kv_per_head;
    /* TensorRT-LLM v0.11's choice of decode attention kernel per step: XQA
     * (each KV head read once) where 4 x the GPU's KV heads x the step's
     * decoding sequences reaches the SM count, else the masked multi-head
     * kernel (each KV head read once per query head sharing it). */
    bool xqa_jit;
    /* llama.cpp build 1691's graph (December 2023, llama.cpp and
     * ggml-cuda.cu at 7082d24): the LM head computed for every token of
     * the batch and all its logits copied to host memory (at
     * split_link_share of the host link), and a prompt's attention over
     * the whole padded KV rectangle, not the causal triangle
     * (sim_cost_init). */
    bool ggml_graph_2023;
    /* kvsim validate: a row whose build states an earlier year and month
     * (YYYYMM) is not this preset's (refused); 0 none. */
    uint32_t min_build_ym;
} sim_cost_params;

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
    double peak_flops;         /* the linear layers' rate: the weight format's compute type */
    double attn_flops;         /* attention's rate: 16-bit (vLLM keeps attention in bf16) */
    double gemm_arch;          /* the preset's arch_flops term for the device (1 when none) */
    double power_flops;        /* the board's power limit over gemm_pJ: FLOP/s; 0 no cap */
    double mv_Bps;             /* one-token products' read rate cap: sm_count x mv_sm_Bps; 0 none */
    double dense_weight_bytes; /* weights read every step (not the input embedding: a gather) */
    double expert_weight_bytes; /* MoE expert weights: read as far as tokens touch them */
    double experts;             /* 0 for dense models */
    double experts_per_tok;
    double linear_flops_per_token; /* 2 x the layers' active parameters (no embedding, no head) */
    double head_flops_per_seq;     /* 2 x hidden x vocab: the LM head, per sampled position */
    double dequant_bytes;      /* expanding quantized weights to fp16: blocks read, copy written */
    double dequant_read_bytes; /* the GEMM reading that copy instead of the blocks */
    double score_bytes_per_pair; /* without flash attention: fp32 scores x heads x layers */
    double layers;               /* layers run per step (launch overheads) */
    double kv_bytes_per_token;
    double kv_window_bytes_per_seq; /* KIVI: the fp16 window's extra bytes, read per decode */
    double
        decode_kv_reads; /* times a decode reads each KV byte it attends over (gqa_kv_per_head) */
    double xqa_min_seqs; /* xqa_jit: decoding sequences from which a step reads the KV once
                          * (XQA); 0: decode_kv_reads at every batch */
    /* fa_wave_fill (sim_cost_params): the split-KV decode kernel's terms;
     * fa_slots 0 where the term is off or the GPU has no SM count. */
    double fa_slots;             /* thread-block slots: 2 x sm_count (mmha_grid: 4 x) */
    double fa_units_per_seq;     /* thread blocks per decoding sequence before splitting: the
                                  * GPU's KV heads x ceil(query heads per KV head / 64)
                                  * (mmha_grid: its query heads) */
    double fa_xqa_units_per_seq; /* mmha_grid: the GPU's KV heads, XQA's blocks a sequence */
    double fa_xqa_seqs;          /* mmha_grid: decoding sequences from which XQA runs; 0 never */
    double fa_block_n;           /* KV tokens per block tile (128 for head_dim 65-128); 0: no split
                                  * (mmha_grid), each block over its unit's whole context */
    double fa_graph_len;         /* the KV length the captured kernel was sized for (vLLM's
                                  * block table width under CUDA graphs); 0: the context */
    /* The tokens a split covers at fa_graph_len for 1..fa_graph_seqs
     * decoding sequences (their units split), fa_graph_whole past them. */
    double fa_graph_split[SIM_FA_TABLE];
    uint32_t fa_graph_seqs;
    double fa_graph_whole;
    bool fa_attn_eager; /* every decode's splits follow its own contexts (vLLM V1) */
    /* paged_v1_Bps (sim_cost_params): decode through vLLM's PagedAttention
     * V1/V2 (XFORMERS backend) instead; 0 where it is off. */
    double pa_v1_Bps;                  /* V1's KV read rate (paged_v1_Bps) */
    double pa_units;                   /* V1's thread blocks a sequence: the GPU's query heads */
    bool kv_scaled;                    /* a decode's KV reads take sim_cost_decode_kv_scale */
    double attn_flops_per_pair;        /* 2 x layers x heads x (head_dim + v_head_dim) */
    double attn_flops_per_decode_pair; /* the same for a decoding query (MLA: absorbed) */
    /* Tensor parallelism: everything above is one GPU's share; each step
     * adds allreduces all-reduces of tokens x allreduce_bytes_per_token. */
    uint32_t tp;
    double tp_host_s;  /* tp_step_s x log2(tp): the host's extra time a step at this TP */
    double allreduces; /* 2 x layers when tp > 1, else 0 */
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
    /* llama.cpp's row split (its multi-GPU default before January 2024):
     * every matrix split by rows over split GPUs, the activations copied
     * to each and the results gathered on the main GPU. */
    uint32_t split;
    double split_bytes_per_token; /* fp32 copies per extra GPU per token, all layers: the products'
                                   * inputs whole, its share of their outputs */
    double split_mats;            /* matrices split per layer */
    bool split_peer;              /* peer access over PCIe (not GeForce): copies of steps of up
                                   * to 128 tokens asynchronous, the GPUs multiplying at once */
    double split_link_Bps;        /* the host link they cross, per direction */
    double split_flops;           /* its prompt GEMMs' rate: fp32 (TF32) products */
    double weight_elem_bytes;     /* bytes per weight of the format (its expansion's read) */
    /* ggml_graph_2023 (sim_cost_params): */
    bool head_all_tokens;          /* the LM head computed for every token of a step */
    bool attn_rect;                /* prompt attention over the whole padded KV rectangle */
    double logits_bytes_per_token; /* fp32 logits copied to the host per token */
    double logits_link_Bps;        /* the host link they cross (0: not priced) */
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

/* sim_cost_init with MODEL's weight bytes in W already computed (WB,
 * sim_weight_bytes_of's, which succeeded): what a caller pricing one
 * configuration many times (a fit) computes once. */
void sim_cost_init_wb(sim_cost *c, const sim_gpu *gpu, const sim_model *model, const sim_dtype *w,
                      const sim_dtype *kv, const sim_cost_params *p, uint32_t tp,
                      const sim_link *link, const sim_weight_bytes *wb);

/* The matrix products' time from their weight reads' time U and their
 * FLOPs' time V: max(U, V) where K is 0, else (U^k + V^k)^(1/k)
 * (sim_cost_params gemm_blend_k). */
double sim_cost_blend(double u, double v, double k);

/* The host's part of a step of shape B: step_overhead + sequences x
 * seq_overhead (inside sim_cost_step_s). */
double sim_cost_host_s(const sim_cost *c, const sim_batch_shape *b);

/* Duration of a step in seconds (the formula at the top of this file),
 * with bytes and FLOPs one GPU's share. The all-reduces are not overlapped
 * with compute (vLLM runs them in line on the compute stream). */
double sim_cost_step_s(const sim_cost *c, const sim_batch_shape *b);

/* A run of steps whose shapes differ only in decode_ctx_tokens (merged
 * decode steps, sim/merge.h): the parts of sim_cost_step_s that do not
 * depend on it (the matrix products), computed once. */
typedef struct sim_cost_run {
    bool ok;
    double tokens;
    double t_lin;       /* the matrix products */
    double allreduce_s; /* sim_cost_allreduce_s of the run's tokens */
    double launches_s;
    double host_s; /* sim_cost_host_s */
    /* attention_s's terms that do not depend on decode_ctx_tokens, each
     * as it computes them (the shape's other fields are the run's). */
    double seqs;        /* (double)decode_seqs */
    double kv_reads;    /* decode_kv_reads, or 1 where xqa_jit's XQA runs */
    double prefill_ctx; /* (double)prefill_ctx_tokens */
    bool fa_graphed;    /* a decode-only step replayed as a CUDA graph (fa_wave_fill) */
    double fa_scale;    /* sim_cost_decode_kv_scale where no context changes it; 0: per step */
    /* Where 0 and every step's split plan is eager (V1, or no graph), the
     * factor per step from the memo's plan while the tiles stay the same
     * (sim_cost_run_ctx_s): FA_BLOCK_N, the tile's tokens; 0 otherwise. */
    double fa_block_n;
    double window_bytes; /* kv_window_bytes_per_seq x decode_seqs */
    double prompt_pairs;
    double prompt_flops; /* attn_flops_per_pair x prompt_pairs */
    double bw_den;       /* roof's divisors: mem_bw_Bps x bw_eff */
    double flops_den;    /* attn_flops x flops_eff */
#ifndef NDEBUG
    sim_batch_shape shape; /* the first shape, for the assertions */
#endif
} sim_cost_run;

/* The last eager split plan priced (sim_cost_decode_kv_scale_memo): the
 * split tokens for SEQS sequences over N_BLOCKS tiles each; seqs 0:
 * none. Its owner's, one per thread (a replica's merged runs). */
typedef struct sim_fa_memo {
    double seqs;
    int n_blocks;
    double split_len;
    double wave; /* fa_wave_fill x slots / (seqs x units per sequence), as the factor computes it */
} sim_fa_memo;

/* The factor on a decode's KV reads for FlashAttention-2's split-KV
 * kernel at SEQS decoding sequences over CTX context tokens in all, in a
 * step replayed as a CUDA graph or not (GRAPHED: the splits cover the
 * captured width); sim_cost_params fa_wave_fill; 1 where the term is off. */
double sim_cost_decode_kv_scale(const sim_cost *c, double seqs, double ctx, bool graphed);

/* sim_cost_decode_kv_scale, the same value, with an eager step's split
 * plan taken from MEMO where its batch and tiles are the last ones (a
 * merged run's steps keep theirs for a block of tiles' tokens). */
double sim_cost_decode_kv_scale_memo(const sim_cost *c, sim_fa_memo *memo, double seqs, double ctx,
                                     bool graphed);

/* The run's max_model_len (0: the model's max_position_embeddings, as
 * sim_cost_init takes it): vLLM V0 pads a captured decode's block table
 * to max_seq_len_to_capture, 8,192 by default and at most max_model_len,
 * the split-KV kernel's width (fa_graph_len). */
void sim_cost_set_max_model_len(sim_cost *c, uint32_t max_model_len);

/* The engine plans each decode's attention from the step's own lengths,
 * captured or not: vLLM V1's FlashAttention backend builds its split
 * schedule every step from the batch's sequence lengths
 * (FlashAttentionMetadataBuilder.build: _schedule_decode(seqlens,
 * max_seq_len, max_num_splits), vllm/v1/attention/backends/
 * flash_attn.py), where V0 replayed the splits chosen at capture for
 * the padded width. */
void sim_cost_set_attention_eager(sim_cost *c);

/* Sets RUN up from the run's first shape B; false (RUN unusable) where
 * sim_cost_step_s has terms the run would have to recompute (layers on
 * the host, whose time depends on the context). */
bool sim_cost_run_init(const sim_cost *c, const sim_batch_shape *b, sim_cost_run *run);

/* The runs sim_cost_run_memo_init set up last (zeroed: none), one a slot
 * by decode count: a run's terms are its shape's but for the decode
 * context, so a shape that differs from a slot's only there takes the
 * slot's run. For one sim_cost, which must not change while it is used. */
enum { SIM_COST_MEMO = 8 };
typedef struct sim_cost_memo {
    bool valid[SIM_COST_MEMO];
    sim_batch_shape key[SIM_COST_MEMO]; /* decode_ctx_tokens 0 */
    sim_cost_run run[SIM_COST_MEMO];
} sim_cost_memo;

/* sim_cost_run_init(C, B, RUN), through MEMO: the same RUN, bit for bit. */
bool sim_cost_run_memo_init(const sim_cost *c, sim_cost_memo *memo, const sim_batch_shape *b,
                            sim_cost_run *run);

/* sim_cost_step_s(C, B) for a shape B of RUN, the same operations on the
 * same values, so the same result to the last bit. */
double sim_cost_run_step_s(const sim_cost *c, const sim_cost_run *run, const sim_batch_shape *b);

/* sim_cost_run_step_s for RUN's shape with CTX decode context tokens,
 * inline (its statements; sim_cost_run_step_s asserts them against
 * sim_cost_step_s's): for a merged run's plain steps, whose loop keeps
 * its state in registers across it. */
static inline double sim_cost_run_ctx_s(const sim_cost *c, const sim_cost_run *run,
                                        sim_fa_memo *memo, uint64_t ctx_tokens)
{
    /* attention_s and roof with the run's terms: the same operations on
     * the same values, in the same order. */
    double ctx = (double)(int64_t)ctx_tokens; /* through int64 (far below 2^63): the same value */
    double kv_read = (ctx - run->seqs) * run->kv_reads;
    if (c->kv_scaled) {
        double scale = run->fa_scale;
        if (!(scale > 0)) {
            /* decode_kv_scale's eager plan (sim/cost.c) where the memo has
             * this batch's tiles: its statements on the memo's terms. The
             * tiles, ceil(per_seq / block_n) at least 1, without libm's
             * ceil (a call on the baseline x86-64): the same integer. */
            bool done = false;
            if (run->fa_block_n > 0 && ctx > 0 && memo != NULL && memo->seqs == run->seqs) {
                double per_seq = ctx / run->seqs, q = per_seq / run->fa_block_n;
                int64_t t = (int64_t)q; /* q finite, below 2^63 */
                int nb = (int)(q > (double)t ? t + 1 : t);
                if (memo->n_blocks == (nb < 1 ? 1 : nb)) {
                    double share = memo->split_len < per_seq ? memo->split_len / per_seq : 1.0;
                    scale = 1.0 + memo->wave * share;
                    done = true;
                }
            }
            if (!done)
                scale = sim_cost_decode_kv_scale_memo(c, memo, run->seqs, ctx, run->fa_graphed);
        }
        kv_read *= scale;
    }
    kv_read += run->prefill_ctx;
    double pairs = ctx + run->prompt_pairs;
    double attn_bytes = c->kv_bytes_per_token * (kv_read + run->tokens) + run->window_bytes +
                        c->score_bytes_per_pair * pairs;
    double attn_flops = c->attn_flops_per_decode_pair * ctx + run->prompt_flops;
    double t_bytes = attn_bytes / run->bw_den, t_flops = attn_flops / run->flops_den;
    double t_attn = t_bytes >= t_flops ? t_bytes : t_flops; /* max2 */
    double t = c->gpu_share * (run->t_lin + t_attn);
    /* step_total_s's sum, in its order. */
    return t + run->allreduce_s + run->launches_s + run->host_s;
}

/* Runs 1 - GPU_SHARE of C's layers on HOST (its memory bandwidth and FP16
 * rate), joined to the GPU by a link of LINK_BPS per direction; HIDDEN is
 * the model's hidden size (activations cross in fp32, as llama.cpp keeps
 * them). */
void sim_cost_offload(sim_cost *c, double gpu_share, const sim_gpu *host, double link_Bps,
                      uint32_t hidden);

/* Splits every matrix of C by rows over GPUS GPUs as llama.cpp's row
 * split does (its multi-GPU default before January 2024): each step
 * divides the matrix products by GPUS (attention and the KV stay on the
 * main GPU; with the preset's dequant_gemm, December 2023's builds, a
 * prompt's split products run in fp32, see sim_cost_step_s) and adds,
 * per layer, the preset's split_base_s and split_sync_s per extra GPU,
 * and the matrix products' fp32 inputs copied to each extra GPU and its
 * rows of their outputs copied back, at split_link_share of LINK_BPS,
 * the host link per direction the copies cross. Where the copies are
 * staged through the host (GPU a GeForce board, or a step over 128
 * tokens), each costs split_stage_s more and the extra GPUs' products run
 * one after another. */
void sim_cost_row_split(sim_cost *c, uint32_t gpus, const sim_model *m, const sim_gpu *gpu,
                        double link_Bps);

/* The all-reduce part of a step computing TOKENS tokens (0 without TP). */
double sim_cost_allreduce_s(const sim_cost *c, double tokens);

/* Peak activation memory on one of TP GPUs of a forward pass over TOKENS
 * tokens and SEQS sequences (hidden states, the GPU's share of the
 * attention and MLP intermediates, and the sampler's logits, gathered on
 * the first GPU), as vLLM's profiling run measures before sizing the KV
 * pool. */
double sim_activation_bytes(const sim_model *m, uint64_t tokens, uint64_t seqs, uint32_t tp);

#endif
