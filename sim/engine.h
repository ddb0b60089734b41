/*
 * engine.h: one replica serving a request stream, simulated event by event.
 *
 * The scheduler is vLLM's (v0, without chunked prefill): iteration-level,
 * FCFS. At each iteration start it admits waiting requests in order while
 * the token budget (max_batched_tokens), the sequence limit (max_num_seqs)
 * and the KV allocator (blocks above the watermark) allow, stopping at the
 * first that does not fit; if it admitted any, the step is prefill only.
 * Otherwise every running sequence decodes one token; when a sequence needs
 * a block and none is free, the newest running request is preempted by
 * recompute (its KV freed, back to the front of the queue).
 *
 * Every request ends completed or rejected (with a reason, counted):
 * prompts longer than max_model_len or max_batched_tokens, or that cannot
 * fit in the KV pool even when it is empty, are rejected at arrival; a
 * request preempted after growing beyond the pool is rejected then. Outputs
 * that would run past max_model_len are cut there (counted as truncated), as
 * vLLM caps them.
 *
 * The engine reports to observers (analysis/) through callbacks and never
 * includes analysis code.
 */
#ifndef KVSIM_SIM_ENGINE_H
#define KVSIM_SIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/kv_alloc.h"
#include "sim/catalog.h"
#include "sim/cost.h"
#include "workloads/source.h"

typedef struct sim_config {
    sim_gpu gpu;
    sim_model model;
    const sim_dtype *weight_dtype;
    const sim_dtype *kv_dtype;
    char engine[16];             /* preset name, for reports */
    sim_cost_params cost;        /* from the preset, with user overrides */
    char allocator[128];         /* "paged:block=16" */
    double mem_util;             /* share of GPU memory the engine may use (vLLM 0.90) */
    double kv_pool_gib;          /* > 0: the KV pool's size, overriding the memory plan */
    uint32_t num_blocks;         /* > 0: block count, overriding both */
    uint32_t num_blocks_tokens;  /* tokens per block of num_blocks; 0: the paged spec's, else 16 */
    double watermark;            /* share of blocks kept free at admission (vLLM 0.01) */
    uint32_t max_num_seqs;       /* vLLM 256 */
    uint32_t max_batched_tokens; /* 0: max(max_model_len, 2048) as vLLM v0 */
    uint32_t max_model_len;      /* 0: the model's max_position_embeddings */
    uint32_t n_samples;          /* parallel sampling: outputs per request (vLLM's n), >= 1 */
    uint64_t seed;
    bool check; /* run kv_check after every allocator operation (slow) */
} sim_config;

/* Fills CFG with vLLM-like defaults for GPU and MODEL. */
void sim_config_defaults(sim_config *cfg, const sim_gpu *gpu, const sim_model *model);

/* How GPU memory is divided (bytes). */
typedef struct sim_memory_plan {
    uint64_t gpu_bytes;
    uint64_t usable_bytes; /* gpu_bytes x mem_util */
    uint64_t weights_bytes;
    uint64_t activation_bytes; /* peak of a profiling forward pass */
    uint64_t overhead_bytes;   /* runtime memory outside the above */
    uint64_t kv_budget_bytes;  /* what is left for KV (or the override) */
    uint64_t kv_pool_bytes;    /* what the allocator manages (whole blocks) */
    uint64_t kv_bytes_per_token;
    uint32_t max_model_len;
    uint32_t max_batched_tokens;
    bool pool_overridden;
} sim_memory_plan;

/* Computes the memory plan. Returns 0, or -1 with a one-line ERR when the
 * weights do not fit or the configuration is inconsistent. */
int sim_memory_plan_compute(const sim_config *cfg, sim_memory_plan *out, char *err, size_t errlen);

enum sim_req_status {
    SIM_REQ_COMPLETED = 0,
    SIM_REQ_REJECTED = 1,
};

/* Why a request was rejected. */
#define SIM_REJECT_MAP(X)                                                                          \
    X(NONE, "none")                                                                                \
    X(PROMPT_TOO_LONG, "prompt_exceeds_max_model_len")                                             \
    X(PROMPT_OVER_BUDGET, "prompt_exceeds_max_batched_tokens")                                     \
    X(PROMPT_OVER_POOL, "prompt_exceeds_kv_pool")                                                  \
    X(GREW_OVER_POOL, "sequence_outgrew_kv_pool")                                                  \
    X(RECOMPUTE_OVER_BUDGET, "recomputation_exceeds_max_batched_tokens")

enum sim_reject_reason {
#define SIM_REJECT_ENUM(name, str) SIM_REJECT_##name,
    SIM_REJECT_MAP(SIM_REJECT_ENUM)
#undef SIM_REJECT_ENUM
        SIM_REJECT_COUNT
};

/* A stable snake_case name for REASON. */
const char *sim_reject_name(int reason);

/* One request's outcome, reported once when it completes or is rejected. */
typedef struct sim_request_record {
    uint64_t id;   /* index in the stream */
    uint64_t line; /* source line */
    double arrival_s;
    double first_token_s; /* < 0 when no token was produced */
    double finish_s;      /* completion or rejection time */
    uint32_t input_tokens;
    uint32_t output_tokens; /* produced */
    uint32_t output_requested;
    uint32_t preemptions;
    int status; /* enum sim_req_status */
    int reason; /* enum sim_reject_reason */
} sim_request_record;

/* One step (iteration), reported at its end. */
typedef struct sim_step_record {
    double start_s;
    double end_s;
    uint32_t prefill_seqs;
    uint32_t decode_seqs;
    uint64_t prefill_tokens;
    uint32_t running;       /* sequences holding KV during the step (n per request) */
    uint32_t waiting;       /* queued at the step's start, after scheduling */
    uint32_t preempted;     /* preemptions decided at this step's start */
    uint32_t running_after; /* sequences still running after the step's completions */
    uint32_t waiting_after;
    kv_breakdown mem;           /* during the step (after this step's allocations) */
    kv_breakdown mem_after;     /* after the step's completions released memory */
    uint64_t used_at_end_bytes; /* KV written at the step's end, before releases */
} sim_step_record;

typedef struct sim_observer {
    void *ctx;
    void (*on_start)(void *ctx, const sim_memory_plan *plan); /* before the first event */
    void (*on_step)(void *ctx, const sim_step_record *step);
    void (*on_request)(void *ctx, const sim_request_record *req);
} sim_observer;

/* Totals of a run. */
typedef struct sim_result {
    uint64_t total; /* requests that entered */
    uint64_t completed;
    uint64_t rejected;
    uint64_t rejected_by[SIM_REJECT_COUNT];
    uint64_t truncated; /* outputs cut at max_model_len */
    uint64_t preemptions;
    uint64_t steps;
    uint64_t events;
    uint64_t input_tokens;            /* of completed requests */
    uint64_t output_tokens;           /* of completed requests, every sample counted */
    uint64_t prefill_tokens_computed; /* recomputation included */
    double first_arrival_s;           /* the trace's clock at time 0 of the run */
    double makespan_s;                /* from the first arrival to the last request's end */
    uint32_t max_running;
    double busy_s;
    sim_memory_plan plan;
    char allocator[128];
    trace_counts trace;
    kv_prefix_stats prefix; /* prefix caching (enabled only with paged:prefix=on) */
} sim_result;

/* Tokens per block a spec asks for: a paged spec's block=N, else 16. */
uint32_t sim_spec_block_tokens(const char *spec);

/* Checks that CFG can run: the memory plan fits and the allocator spec is
 * valid for the pool. Returns 0, or -1 with a one-line ERR. */
int sim_check_config(const sim_config *cfg, char *err, size_t errlen);

/*
 * Runs SRC through a replica configured by CFG, reporting to OBS (may be
 * NULL). Returns 0 with *RES filled, or a negative code with a one-line ERR
 * (a trace error, a configuration that does not fit, out of memory).
 * Simulated outcomes (rejections, preemptions) are results, not errors.
 */
int sim_run(const sim_config *cfg, wl_source *src, const sim_observer *obs, sim_result *res,
            char *err, size_t errlen);

#endif
