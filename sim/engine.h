/*
 * engine.h: a run: a request stream served by one or more replicas behind
 * a router, simulated event by event.
 *
 * The client sends each request at its arrival time (open loop), or at
 * most --max-concurrency at a time, the next when one finishes (closed
 * loop, as `vllm bench serve --max-concurrency`). The router picks a
 * replica; each replica runs iterations whose batch its scheduler picks
 * (sched.h: vLLM V1 by default) and whose duration the cost model gives.
 *
 * Every request ends completed or rejected (with a reason, counted):
 * prompts longer than max_model_len, or that cannot fit in the KV pool
 * even when it is empty, are rejected at arrival; a request that grows
 * beyond what the pool can hold is rejected when that shows. Outputs that
 * would run past max_model_len are cut there (counted as truncated), as
 * vLLM caps them.
 *
 * The engine reports to observers (analysis/) through callbacks and never
 * includes analysis code.
 */
#ifndef KVSIM_SIM_ENGINE_H
#define KVSIM_SIM_ENGINE_H

#include <stddef.h>

#include "sim/config.h"
#include "sim/outcome.h"
#include "workloads/source.h"

/* Checks that CFG can run: its options resolve, vLLM's start-up checks
 * pass, the memory plan fits, the allocator spec is valid for the pool
 * and the pool holds one max_model_len sequence. Returns 0, or -1 with a
 * one-line ERR. */
int sim_check_config(const sim_config *cfg, char *err, size_t errlen);

/*
 * Runs SRC through the replicas configured by CFG, reporting to OBS (may
 * be NULL). Returns 0 with *RES filled, or a negative code with a
 * one-line ERR (a trace error, a configuration that does not fit, out of
 * memory). Simulated outcomes (rejections, preemptions) are results, not
 * errors.
 */
int sim_run(const sim_config *cfg, wl_source *src, const sim_observer *obs, sim_result *res,
            char *err, size_t errlen);

typedef struct sim_run_opts {
    /* By default, with more than one replica behind the round-robin
     * router and an open-loop client, the replicas share nothing but the
     * stream: each is simulated in a thread of its own, fed its share of
     * the requests by a thread that reads the stream, and the observer's
     * calls are merged in time order (ties in replica order). Results are
     * the same whatever the machine's cores; against one event loop for
     * every replica (SERIAL) only sums of floating-point figures over
     * replicas may differ in their last bits (added replica by replica),
     * and a replica's step ending at the very nanosecond of one of its
     * arrivals may take them in the other order. */
    bool serial; /* one event loop for every replica whatever the run */
} sim_run_opts;

/* As sim_run, with RO (NULL: the defaults, as sim_run). */
int sim_run_ex(const sim_config *cfg, wl_source *src, const sim_run_opts *ro,
               const sim_observer *obs, sim_result *res, char *err, size_t errlen);

#endif
