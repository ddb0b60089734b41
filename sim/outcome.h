/*
 * outcome.h: what a run reports: why requests were rejected, the records
 * observers receive per request and per step, and the run's totals.
 */
#ifndef KVSIM_SIM_OUTCOME_H
#define KVSIM_SIM_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/kv_alloc.h"
#include "sim/config.h"
#include "traces/trace.h"

enum sim_req_status {
    SIM_REQ_COMPLETED = 0,
    SIM_REQ_REJECTED = 1,
};

/* Why a request was rejected. */
#define SIM_REJECT_MAP(X)                                                                          \
    X(NONE, "none")                                                                                \
    X(PROMPT_TOO_LONG, "prompt_exceeds_max_model_len")                                             \
    X(CONTEXT_TOO_LONG, "context_length_exceeded")                                                 \
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
    double first_token_s;     /* < 0 when no token was produced */
    double first_scheduled_s; /* start of the first step that computed part of it; < 0 never */
    double finish_s;          /* completion or rejection time */
    uint32_t input_tokens;
    uint32_t output_tokens; /* produced */
    uint32_t output_requested;
    uint32_t preemptions;
    uint32_t replica;
    int status;      /* enum sim_req_status */
    int reason;      /* enum sim_reject_reason */
    bool at_arrival; /* rejected as it arrived, before any scheduling pass */
} sim_request_record;

/* One step (iteration), reported at its end. */
typedef struct sim_step_record {
    uint32_t replica;
    bool idle; /* not a step: the memory changed while the replica was idle (a rejection) */
    double start_s;
    double end_s;
    uint32_t prefill_seqs;
    uint32_t decode_seqs;
    uint64_t prefill_tokens; /* prompt (and recomputed) tokens computed, chunks included */
    uint64_t spec_tokens;    /* draft tokens verified (speculative decoding) */
    uint64_t swap_bytes;     /* KV moved over the host link in the step (both ways) */
    uint32_t running;        /* sequences holding KV during the step (n per request) */
    uint32_t waiting;        /* queued at the step's start, after scheduling */
    uint32_t preempted;      /* preemptions decided at this step's start */
    uint32_t output_tokens;  /* tokens sampled at the step's end (each sample of --n counted) */
    uint32_t running_after;  /* sequences still running after the step's completions */
    uint32_t waiting_after;
    kv_breakdown mem;           /* during the step (after this step's allocations) */
    kv_breakdown mem_after;     /* after the step's completions released memory */
    uint64_t used_at_end_bytes; /* KV written at the step's end, before releases */
} sim_step_record;

/* What varies between the records of merged steps (sim_observer.on_steps):
 * the step's span in nanoseconds (start_s and end_s are those over 1e9),
 * its memory, and its memory after it: MEM but for token_states and
 * reservation (the used tokens moved; nothing was allocated or freed). */
typedef struct sim_step_var {
    int64_t start_ns, end_ns;
    uint64_t used_at_end_bytes;
    uint64_t after_token_states, after_reservation;
    kv_breakdown mem;
} sim_step_var;

typedef struct sim_observer {
    void *ctx;
    void (*on_start)(void *ctx, const sim_memory_plan *plan); /* before the first event */
    void (*on_step)(void *ctx, const sim_step_record *step);
    void (*on_request)(void *ctx, const sim_request_record *req);
    /* Output tokens, from every replica, at the end of the step that
     * sampled them (NOW_S, never decreasing): COUNT tokens (each sample of
     * --n counted) sampled GAP_S after the previous token of their request
     * (inter-token latency), or, with GAP_S < 0, COUNT first tokens (no
     * gap: that is TTFT). Equal gaps of one step are reported together, so
     * this is called a few times per step, never per token. May be NULL. */
    void (*on_token_gaps)(void *ctx, double now_s, double gap_s, uint64_t count);
    /* Optional: N merged decode steps (sim/merge.h) in one call, exactly
     * as, for each I in order, on_token_gaps(ctx, END_S, END_S - START_S
     * as nanoseconds to seconds, GAP_COUNT) where GAP_COUNT > 0, then
     * on_step(ctx, REC) with REC = *TMPL but for start_s, end_s, mem,
     * mem_after and used_at_end_bytes, from STEPS[I] (sim_step_var). An
     * observer whose on_step and on_token_gaps share no state with its
     * other calls may take it (the merged run calls it where those calls
     * would come one after the other, nothing else in between but calls
     * to its other callbacks). NULL: the calls come one by one. */
    void (*on_steps)(void *ctx, const sim_step_record *tmpl, const sim_step_var *steps, size_t n,
                     uint64_t gap_count);
} sim_observer;

/* One replica's figures. */
typedef struct sim_replica_stats {
    uint64_t total; /* requests routed to it */
    uint64_t completed;
    uint64_t rejected;
    uint64_t input_tokens;     /* of completed requests */
    uint64_t output_tokens;    /* of completed requests, every sample counted */
    uint64_t preemptions;      /* both modes */
    uint64_t swap_preemptions; /* of which by swap */
    uint64_t swapped_out_bytes;
    uint64_t swapped_in_bytes;
    uint64_t recomputed_tokens; /* tokens computed again after preemptions by recompute */
    uint64_t steps;
    double busy_s;
    uint32_t max_running;
    uint32_t max_waiting; /* requests queued at a step's start, after its scheduling pass */
    double ttft_sum_s;    /* over completed requests */
    double tpot_sum_s;    /* over completed requests with more than one token */
    uint64_t tpot_n;
    double e2e_sum_s;
} sim_replica_stats;

/* Totals of a run. */
typedef struct sim_result {
    uint64_t total; /* requests that entered */
    uint64_t completed;
    uint64_t rejected;
    uint64_t rejected_by[SIM_REJECT_COUNT];
    uint64_t truncated;        /* outputs cut at max_model_len */
    uint64_t preemptions;      /* both modes */
    uint64_t swap_preemptions; /* of which by swap */
    uint64_t swapped_out_bytes;
    uint64_t swapped_in_bytes;
    uint64_t recomputed_tokens; /* tokens computed again after preemptions by recompute */
    uint64_t steps;
    uint64_t events;         /* of the step-by-step run: a merged step counts as its own event */
    uint64_t arrival_events; /* of which ARRIVAL events (one per distinct arrival instant) */
    /* Steps merged into an earlier step's event (sim/merge.h); left out of
     * summary.json, which is identical with and without merging. */
    uint64_t merged_steps;
    uint64_t input_tokens;            /* of completed requests */
    uint64_t output_tokens;           /* of completed requests, every sample counted */
    uint64_t prefill_tokens_computed; /* recomputation included */
    double first_arrival_s;           /* the trace's clock at time 0 of the run */
    double arrival_span_s;            /* from the first arrival to the last (0: one or none) */
    double makespan_s;                /* from the first arrival to the last request's end */
    uint32_t max_running;
    uint32_t max_waiting; /* the most requests one replica (virtual engine) left queued at a step */
    double busy_s;
    double allreduce_s;  /* of busy_s, tensor-parallel all-reduces */
    double stage_busy_s; /* pipeline stages' busy time, summed over stages and replicas */
    sim_link link;       /* their figures, when plan.tensor_parallel > 1 */
    sim_memory_plan plan;
    char allocator[128]; /* as resolved (prefix=on added by prefix caching) */
    char scheduler[16];
    bool chunked_prefill;
    bool prefix_caching;
    double watermark;
    uint32_t replicas;
    bool partitioned; /* each replica simulated in a thread of its own (engine.h) */
    sim_replica_stats per_replica[SIM_MAX_REPLICAS];
    trace_counts trace;
    kv_prefix_stats prefix;               /* prefix caching (enabled only with paged:prefix=on) */
    sim_spec_stats spec;                  /* speculative decoding (all zero without it) */
    sim_step_profile_counts step_profile; /* steps priced by --step-profile (zero without) */
} sim_result;

#endif
