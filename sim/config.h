/*
 * config.h: a run's configuration, its defaults, and the memory plan.
 *
 * Option names follow vLLM's engine arguments (v0.11) where vLLM has one.
 * Fields left at their "unset" value (0, or -1 where 0 is meaningful) take
 * the scheduler's defaults in sim_config_resolve, as vLLM's EngineArgs
 * sets them (see config.c).
 */
#ifndef KVSIM_SIM_CONFIG_H
#define KVSIM_SIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/catalog.h"
#include "sim/cost.h"
#include "sim/spec.h"
#include "sim/step_profile.h"

enum sim_preemption_mode { SIM_PREEMPT_RECOMPUTE = 0, SIM_PREEMPT_SWAP = 1 };

enum sim_router { SIM_ROUTER_ROUND_ROBIN = 0, SIM_ROUTER_LEAST_LOADED, SIM_ROUTER_PREFIX_AFFINITY };

/* Most replicas a run may have. */
#define SIM_MAX_REPLICAS 64

typedef struct sim_config {
    sim_gpu gpu;
    sim_model model;
    const sim_dtype *weight_dtype;
    const sim_dtype *kv_dtype;
    char engine[32];             /* cost preset name, for reports */
    char backend[16];            /* the preset's GPU backend (cuda, metal, rocm, vulkan; "" any) */
    sim_cost_params cost;        /* from the preset, with user overrides */
    char scheduler[16];          /* "vllm" (V1), "vllm-v0", "sarathi", "orca", "static" */
    char allocator[128];         /* "paged:block=16"; "" takes the scheduler's default */
    double mem_util;             /* share of GPU memory the engine may use (vLLM 0.90) */
    double kv_pool_gib;          /* > 0: the KV pool's size, overriding the memory plan */
    uint32_t num_blocks;         /* > 0: block count, overriding both */
    uint32_t num_blocks_tokens;  /* tokens per block of num_blocks; 0: the paged spec's, else 16 */
    double watermark;            /* share of blocks kept free at admission; < 0: the scheduler's */
    uint32_t max_num_seqs;       /* 0: the scheduler's default */
    uint32_t max_batched_tokens; /* --max-num-batched-tokens; 0: the scheduler's default */
    uint32_t max_model_len;      /* 0: the model's max_position_embeddings */
    int chunked_prefill;         /* --enable-chunked-prefill: 1 on, 0 off, -1 the scheduler's */
    uint32_t long_prefill_threshold; /* --long-prefill-token-threshold; 0: none */
    int prefix_caching;              /* --enable-prefix-caching: 1, 0, -1 the scheduler's */
    int preemption_mode;             /* enum sim_preemption_mode */
    double swap_space_gib;           /* --swap-space: host memory for swapped KV per GPU */
    uint32_t max_concurrency;        /* closed loop: requests outstanding at most; 0 none */
    uint32_t replicas;               /* >= 1 */
    int router;                      /* enum sim_router */
    uint32_t n_samples;              /* parallel sampling: outputs per request (vLLM's n), >= 1 */
    uint32_t tensor_parallel;        /* --tensor-parallel-size: GPUs per stage, >= 1 */
    uint32_t pipeline_parallel;      /* --pipeline-parallel-size: stages per replica, >= 1 */
    int gpu_layers;                  /* --gpu-layers (llama.cpp -ngl): layers on the GPU; -1 all */
    sim_gpu host;                    /* the host that runs the other layers (has_host) */
    bool has_host;
    double allreduce_busbw_gbps; /* > 0: replaces the interconnect's measured bus bandwidth */
    double allreduce_latency_us; /* > 0: replaces its per-call floor */
    sim_link link;               /* resolved: the all-reduce figures when tensor_parallel > 1 */
    /* The client sends max_tokens = the trace's output length, as `vllm
     * bench serve` does: vLLM's OpenAI server refuses (HTTP 400) a request
     * whose prompt + max_tokens exceeds max_model_len. false: no max_tokens
     * (or the offline LLM API): the engine's stop check cuts the output at
     * max_model_len. */
    bool client_max_tokens;
    uint64_t seed;
    bool check; /* run kv_check after every allocator operation (slow) */
    /* --no-merge-steps: run every decode step as its own event. By default
     * a run of identical decode steps is one event (sim/merge.h), with
     * results identical byte for byte; this is the reference the identity
     * test compares against. */
    bool no_merge_steps;
    sim_spec_config spec; /* --speculative-config; method SIM_SPEC_NONE: off */
    /* --step-profile: measured step times replacing the roofline
     * (sim/step_profile.h); NULL: the analytic model. Borrowed: the caller
     * keeps it alive through the run. A profile that does not fit the run
     * (sim_step_profile_check: tp, pipeline, offload) fails the run. */
    const sim_step_profile *step_profile;
} sim_config;

/* Fills CFG with defaults for GPU and MODEL: the vllm (V1) scheduler and
 * every scheduler-dependent field unset. */
void sim_config_defaults(sim_config *cfg, const sim_gpu *gpu, const sim_model *model);

/* Batches in flight per replica with pipeline parallelism (the pipeline's
 * virtual engines): --pipeline-parallel-size for vLLM v0 (a scheduler,
 * 1/P of the KV blocks and its own requests each); 1 for llama.cpp's
 * layer split (cost.llamacpp_split), whose GPUs run one batch in turn. */
uint32_t sim_config_virtual_engines(const sim_config *cfg);

/* vLLM V1 with pipeline parallelism (scheduler "vllm"): one scheduler and
 * one KV pool per replica, its batch queue holding up to P batches in
 * flight (v1/engine/core.py, step_with_batch_queue). kvsim runs the P
 * batches as P lanes (the virtual engines above) that share the pool and
 * its prefix cache and max_num_seqs, each arrival going to the lane with
 * the fewest waiting, then the one that schedules next (sim/engine.c). */
bool sim_config_shared_pool(const sim_config *cfg);

/* KV pools per replica: 1, or vLLM v0's P virtual engines' own 1/P each. */
uint32_t sim_config_kv_pools(const sim_config *cfg);

/*
 * Writes into OUT the configuration a run uses: CFG with the scheduler's
 * defaults filled in (budget, max_num_seqs, chunked prefill, prefix
 * caching, watermark, allocator), then checked as vLLM checks its engine
 * arguments at start-up. Returns 0, or -1 with a one-line ERR naming the
 * options to change.
 */
int sim_config_resolve(const sim_config *cfg, sim_config *out, char *err, size_t errlen);

/* How GPU memory is divided (bytes), and the limits the run uses. */
typedef struct sim_memory_plan {
    /* Per GPU: with tensor parallelism each of the tensor_parallel GPUs
     * holds this much (weights, activations, runtime, KV pool), and
     * kv_bytes_per_token is its share of a token's KV. */
    uint32_t tensor_parallel;
    uint32_t pipeline_parallel;       /* stages; the GPU figures are the fullest stage's */
    uint32_t stage_layers;            /* layers of the fullest stage */
    uint32_t gpu_layers;              /* layers on the GPU (all without offload) */
    uint64_t host_weights_bytes;      /* weights of the offloaded layers, in host memory */
    uint64_t host_usable_bytes;       /* host memory the run may use */
    uint64_t host_kv_bytes_per_token; /* of kv_bytes_per_token, in host memory */
    uint64_t weights_total_bytes;     /* the whole model's */
    uint64_t gpu_bytes;               /* the device's memory as nvidia-smi reports it */
    uint64_t cuda_total_bytes;        /* what CUDA reports as total (sim_gpu.cuda_total_bytes) */
    bool cuda_total_estimated;        /* the catalog has no figure: derived (sim/catalog.h) */
    uint64_t usable_bytes;            /* cuda_total_bytes x mem_util, as vLLM's requested memory */
    uint64_t weights_bytes;
    uint64_t activation_bytes;    /* torch's peak in the profiling pass over the token budget */
    uint64_t overhead_bytes;      /* non-torch memory (the engine preset's overhead_bytes) */
    uint64_t kv_budget_bytes;     /* what is left for KV (or the override) */
    uint64_t kv_pool_bytes;       /* what the allocator manages (whole blocks) */
    uint64_t kv_bytes_per_token;  /* a pool slot: the target's KV, and the drafter's with spec */
    uint64_t draft_weights_bytes; /* speculative decoding's drafter (in weights_bytes) */
    uint64_t draft_kv_bytes_per_token; /* the drafter's share of kv_bytes_per_token */
    uint64_t kv_window_bytes;          /* KIVI's fp16 windows, max_num_seqs of them */
    uint32_t max_model_len;
    uint32_t max_batched_tokens;
    uint32_t max_num_seqs;
    bool pool_overridden;
    bool pool_exceeds_memory; /* the override is larger than the memory left for KV */
} sim_memory_plan;

/* Computes the memory plan of a resolved CFG. Returns 0, or -1 with a
 * one-line ERR when the weights do not fit or the configuration is
 * inconsistent. */
int sim_memory_plan_compute(const sim_config *cfg, sim_memory_plan *out, char *err, size_t errlen);

/* Tokens per block a spec asks for: a paged spec's block=N, else 16. */
uint32_t sim_spec_block_tokens(const char *spec);

/* A paged spec's prefix=on (1) or prefix=off (0); -1 when SPEC does not
 * set it or is not paged. */
int sim_spec_prefix(const char *spec);

/* The most output tokens a request with an INPUT-token prompt gets from
 * the engine's stop check at MAX_LEN (INPUT <= MAX_LEN). vLLM V1
 * (v1/core/sched/utils.py check_stop, v0.11) stops once prompt + output
 * >= max_model_len: MAX_LEN - INPUT, and 1 for a prompt of MAX_LEN (the
 * prefill's token); v0's StopChecker stops once the length passes
 * max_model_len: MAX_LEN - INPUT + 1. SCHEDULER "vllm-v0" follows v0,
 * every other the V1 rule. */
uint32_t sim_output_cap(const char *scheduler, uint32_t input, uint32_t max_len);

#endif
