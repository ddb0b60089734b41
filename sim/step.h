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

#include <stdbool.h>
#include <stdint.h>

#include "sim/replica.h"

/* Seconds a pass of the target model over shape B takes on R: the
 * run's step profile when it has one (cfg->step_profile), else the
 * roofline (sim_cost_step_s). *OUTSIDE (may be NULL) gets the profile's
 * out-of-range bits (SIM_PROFILE_*; 0 without a profile). */
double sim_step_pass_s(const sim_replica *r, const sim_batch_shape *b, unsigned *outside);

/* Longest step the clock accepts: far beyond any real one, far inside
 * int64 nanoseconds. A longer one means cost parameters out of any
 * physical range. */
#define SIM_MAX_STEP_S 1e7

/* Seconds the batch R has built takes; *OUTSIDE (may be NULL) gets the
 * step profile's out-of-range bits (0 without a profile). */
double sim_step_cost(const sim_replica *r, unsigned *outside);

/* Starts a step on idle replica R at r->now_ns. Returns 1 with *END_NS
 * set when a step started, 0 when there is nothing to run, -1 on a host
 * failure (r->err set). */
int sim_step_start(sim_replica *r, int64_t *end_ns);

/* Ends R's step at r->now_ns. */
void sim_step_end(sim_replica *r);

/* Adds a step of DUR_S running R's batch to the run's and the replica's
 * figures (busy time, all-reduce time, steps, tokens computed, the step
 * profile's steps out of its range per OUTSIDE). */
void sim_step_account(sim_replica *r, double dur_s, unsigned outside);

/* Reports COUNT tokens sampled at r->now_ns GAP_NS after their requests'
 * previous ones (GAP_NS < 0: first tokens) to the token observer; COUNT 0
 * reports nothing. */
void sim_step_report_gaps(const sim_replica *r, int64_t gap_ns, uint64_t count);

/* llround(S * 1e9), a step's duration in nanoseconds (0 <= S below
 * SIM_MAX_STEP_S), without the libm call (a tenth of a merged step's
 * bookkeeping): the fraction of a double is exact, so comparing it with
 * one half rounds as llround does, halves away from zero. */
static inline int64_t sim_round_ns(double s)
{
    double x = s * 1e9;
    int64_t i = (int64_t)x;
    return x - (double)i >= 0.5 ? i + 1 : i;
}

/* A step's gaps, run-length coded: in a continuous batch most decodes
 * share the previous step's end, so a step reports a handful of runs, not
 * one value per token. Start with {-1, 0}; add each request's gap in the
 * batch's order; flush once at the end. */
typedef struct sim_gap_run {
    int64_t gap_ns;
    uint64_t count;
} sim_gap_run;

static inline void sim_gap_run_add(const sim_replica *r, sim_gap_run *run, int64_t gap_ns,
                                   uint64_t count)
{
    if (gap_ns != run->gap_ns) {
        sim_step_report_gaps(r, run->gap_ns, run->count);
        run->gap_ns = gap_ns;
        run->count = 0;
    }
    run->count += count;
}

static inline void sim_gap_run_flush(const sim_replica *r, const sim_gap_run *run)
{
    sim_step_report_gaps(r, run->gap_ns, run->count);
}

/* True when R's steps go to the step observer (replica 0's do). */
bool sim_step_observed(const sim_replica *r);

/* Tells the step observer that the step in r->step ended at r->now_ns,
 * leaving the pool as MEM_AFTER. Only when sim_step_observed(R). */
void sim_step_observe(sim_replica *r, const kv_breakdown *mem_after);

/* Reports R's memory state to the observers outside a step (after a
 * rejection changed it while the replica is idle). */
void sim_step_observe_idle(sim_replica *r);

/* kv_set_used(KV, S, COMPUTED) for a pass over the batch that keeps the
 * strategy's used-token sum in *USED_SUM (a local the stores through the
 * requests cannot alias, so it stays in a register): one sample's the
 * arithmetic itself, several samples' through kv_set_used with the sum
 * handed over and back. */
static inline void sim_step_set_used(kv_alloc *kv, kv_seq *s, uint32_t computed, uint64_t *used_sum)
{
    if (s->samples <= 1) {
        *used_sum = *used_sum - s->used_tokens + computed;
        s->used_tokens = computed;
    } else {
        kv->totals.used_tokens = *used_sum;
        kv_set_used(kv, s, computed);
        *used_sum = kv->totals.used_tokens;
    }
}

#endif
