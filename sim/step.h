/*
 * step.h: a replica's iteration loop: start a step (the scheduler picks
 * the batch, the cost model prices it), end it (tokens appended, finished
 * requests released, observers told).
 *
 * What a step costs is sim_step_cost: the roofline of the batch's shape
 * plus KV moved over the host link by swapping, and with speculative
 * decoding the verify pass and the drafter (sim/spec.h). Later terms of a
 * step (parallelism) belong there. A pass of the target model is priced
 * by sim_step_pass_s: the roofline, or the run's measured step profile
 * (sim/step_profile.h) in its place.
 */
#ifndef KVSIM_SIM_STEP_H
#define KVSIM_SIM_STEP_H

#include <stdint.h>

#include "sim/replica.h"

/* Seconds a pass of the target model over shape B takes on R: the
 * run's step profile when it has one (cfg->step_profile), else the
 * roofline (sim_cost_step_s). *OUTSIDE (may be NULL) gets the profile's
 * out-of-range bits (SIM_PROFILE_*; 0 without a profile). */
double sim_step_pass_s(const sim_replica *r, const sim_batch_shape *b, unsigned *outside);

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
