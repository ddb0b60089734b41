/*
 * engine_int.h: the engine's state and its three phases, shared by
 * engine.c (one event loop for every replica) and partition.c (a loop per
 * replica, in threads of their own). Not for other folders.
 */
#ifndef KVSIM_SIM_ENGINE_INT_H
#define KVSIM_SIM_ENGINE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/engine.h"
#include "sim/event.h"
#include "sim/pipeline.h"
#include "sim/replica.h"

enum { EV_ARRIVAL = 1, EV_STEP_END = 2 };

typedef struct engine {
    sim_config cfg; /* resolved */
    sim_memory_plan plan;
    wl_source *src;
    const sim_observer *obs;
    sim_result *res;
    char *err;
    size_t errlen;

    sim_req_pool pool;
    sim_replica rep[SIM_MAX_REPLICAS]; /* replicas x virtual engines (pipeline_parallel) */
    uint32_t nrep;
    uint32_t pp;      /* virtual engines per replica */
    bool shared_pool; /* vLLM V1: the lanes share a pool (sim_config_shared_pool) */
    sim_pipeline pipes[SIM_MAX_REPLICAS]; /* one per replica with pipeline parallelism */
    uint32_t rr_next;                     /* round robin */
    /* A part of a partitioned run (partition.c): this engine simulates
     * replica PART of NPARTS, whose requests (the stream's PART, PART +
     * NPARTS, ...: round robin) NEXT gives it, as wl_next would, with the
     * reason of a failure in ERR; NPARTS 0 and NEXT NULL for the whole
     * run, read from SRC. */
    uint32_t part, nparts;
    int (*next)(void *ctx, trace_request *req, char *err, size_t errlen);
    void *next_ctx;
    atomic_bool *stop; /* a part: set when another part failed; NULL otherwise */
    bool stopped;      /* the loop ended because STOP was set */

    sim_evq evq;
    int64_t now_ns;

    trace_request pending;
    int64_t pending_ns;
    bool have_pending;
    bool arrival_queued; /* an ARRIVAL event is in the queue */
    double last_arrival_s;
} engine;

/* Sets E up (zeroed by the caller; a part's NEXT set) to run SRC (NULL
 * for a part) with CFG (as given; resolved
 * here) on the whole run (NPARTS 0) or on replica PART of NPARTS, reporting
 * to OBS (may be NULL; its on_start is the caller's) and counting in RES
 * (zeroed here). Returns 0, or -1 with ERR; sim_engine_close frees it
 * either way. */
int sim_engine_open(engine *e, const sim_config *cfg, wl_source *src, const sim_observer *obs,
                    sim_result *res, uint32_t part, uint32_t nparts, char *err, size_t errlen);

/* Runs E's events to the end. Returns 0, or -1 with e->err. */
int sim_engine_loop(engine *e);

/* Completes RES (the trace's counts, the prefix cache's) and frees E. */
void sim_engine_close(engine *e);

/* The part of a run the partitioned engine can take: more than one
 * replica, a router that reads no replica's state (round robin) and an
 * open-loop client (a closed loop's next request waits for any
 * replica's completion). CFG resolved. */
bool sim_engine_partitionable(const sim_config *cfg);

/* Runs CFG's replicas each in its own thread (partition.c). */
int sim_run_partitioned(const sim_config *cfg, wl_source *src, const sim_observer *obs,
                        sim_result *res, char *err, size_t errlen);

#endif
