/*
 * pipeline.h: pipeline parallelism as vLLM v0 runs it (v0.6,
 * engine/llm_engine.py and core/scheduler.py): the layers split into P
 * stages on P GPUs (each tensor-parallel inside), and P virtual engines,
 * each with its own scheduler, its own 1/P of the KV blocks and its own
 * requests (a new request goes to the one with the fewest unfinished), so
 * that up to P batches are in flight, one per stage. A step of one
 * virtual engine goes through the stages in order, each busy with one
 * batch at a time, the hidden states sent between stages; with fewer
 * batches in flight than stages, stages idle (the bubble).
 */
#ifndef KVSIM_SIM_PIPELINE_H
#define KVSIM_SIM_PIPELINE_H

#include <stdint.h>

/* Most stages a pipeline may have. */
#define SIM_MAX_PP 16

/* The stages of one pipeline: when each is next free. */
typedef struct sim_pipeline {
    uint32_t stages;
    int64_t free_ns[SIM_MAX_PP];
} sim_pipeline;

/* Reserves P's stages for a step that starts at NOW_NS: OVERHEAD_NS of
 * host work (scheduling, input preparation) before the first stage, then
 * each stage for STAGE_NS once it is free, XFER_NS between stages.
 * Returns when the last stage ends. Steps reserve in the order they start,
 * so each stage serves them first come, first served. */
int64_t sim_pipeline_reserve(sim_pipeline *p, int64_t now_ns, int64_t overhead_ns, int64_t stage_ns,
                             int64_t xfer_ns);

#endif
