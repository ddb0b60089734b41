/*
 * step.h: a replica's iteration loop: start a step (the scheduler picks
 * the batch, the cost model prices it), end it (tokens appended, finished
 * requests released, observers told).
 *
 * What a step costs is sim_step_cost: the roofline of the batch's shape
 * plus KV moved over the host link by swapping, and with speculative
 * decoding the verify pass and the drafter (sim/spec.h). Later terms of a
 * step (parallelism) belong there.
 */
#ifndef KVSIM_SIM_STEP_H
#define KVSIM_SIM_STEP_H

#include <stdint.h>

#include "sim/replica.h"

/* Seconds the batch R has built takes. */
double sim_step_cost(const sim_replica *r);

/* Starts a step on idle replica R at r->now_ns. Returns 1 with *END_NS
 * set when a step started, 0 when there is nothing to run, -1 on a host
 * failure (r->err set). */
int sim_step_start(sim_replica *r, int64_t *end_ns);

/* Ends R's step at r->now_ns. */
void sim_step_end(sim_replica *r);

/* Reports R's memory state to the observers outside a step (after a
 * rejection changed it while the replica is idle). */
void sim_step_observe_idle(sim_replica *r);

#endif
