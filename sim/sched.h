/*
 * sched.h: the scheduler interface (an ops table, one file per policy)
 * and its registry.
 *
 * At each iteration start the step loop asks the replica's scheduler for
 * the batch. The scheduler reads the running set and the waiting queue and
 * builds the batch with the primitives of replica.h (grow KV, add tokens
 * to the batch, preempt, reject); the step loop then prices the batch,
 * runs it and applies its tokens. The step loop knows no policy.
 *
 *   vllm     vLLM V1 (default): one token budget shared by decodes and
 *            prompt chunks, running requests first, chunked prefill,
 *            prefix caching, preemption of the last running request;
 *   vllm-v0  vLLM v0: prefill-only steps, watermark admission, one free
 *            block per running sequence at each decode; its chunked-
 *            prefill mode with --enable-chunked-prefill;
 *   sarathi  Sarathi-Serve: decodes first, then prompt chunks up to a
 *            fixed token budget (stall-free batching);
 *   orca     iteration-level batching of whole prompts with decodes, each
 *            request reserving max_model_len at admission;
 *   static   request-level batching: a batch runs until all its requests
 *            finish (FasterTransformer, plain HF generate).
 */
#ifndef KVSIM_SIM_SCHED_H
#define KVSIM_SIM_SCHED_H

#include <stdbool.h>

#include "sim/replica.h"

typedef struct sim_sched_ops {
    const char *name;
    const char *help; /* one line: what it models */
    /* Fills r->batch (empty on entry) for a step starting at r->now_ns.
     * Returns 0, or -1 on a host failure with r->err set. An empty batch
     * with nothing running and requests waiting is allowed only after the
     * pass rejected or preempted something (the step loop asks again). */
    int (*schedule)(sim_replica *r);
} sim_sched_ops;

/* Every scheduler, NULL-terminated, in a fixed order. */
extern const sim_sched_ops *const sim_schedulers[];

/* Finds a scheduler by name; NULL when unknown. */
const sim_sched_ops *sim_sched_find(const char *name);

/*
 * The token-budget scheduler vllm, sarathi, orca and vllm-v0's chunked
 * mode share (vLLM V1's Scheduler.schedule, v0.11), with the switches by
 * which they differ.
 */
typedef struct sim_budget_policy {
    bool decodes_first;   /* sarathi: every decode before any prompt chunk */
    bool v0_decode_check; /* vllm-v0: a free block per running sequence, or preempt */
    bool reserve_max;     /* orca: KV for max_model_len tokens at admission */
    bool strict_fcfs;     /* orca: without chunking a prompt over the budget stops
                           * admission (V1 skips it and scans on) */
} sim_budget_policy;

int sim_sched_budget(sim_replica *r, const sim_budget_policy *pol);

/* Grows running request I (Q, at *POS in the running set) to TOKENS,
 * preempting the last running request not yet in the batch until it fits
 * (with V0_CHECK, until a block per sequence is free as well); adjusts
 * *POS. Returns 1 when it fits, 0 when I preempted itself (rejected when
 * nothing else held KV) or, in a lane of a shared pool, waits for another
 * lane's newer request to free memory, -1 on a host failure. Sets
 * *PREEMPTED when it preempted anything, or waits. */
int sim_sched_make_room_slow(sim_replica *r, uint32_t i, uint32_t *pos, uint32_t tokens,
                             bool v0_check, bool *preempted);
static inline int sim_sched_make_room(sim_replica *r, uint32_t i, const sim_req *q, uint32_t *pos,
                                      uint32_t tokens, bool v0_check, bool *preempted)
{
    /* Most running requests hold their next tokens already: nothing to
     * make room for (sim_rep_grow's own first test, without the calls: this
     * runs for every running request at every step). Q is request I. */
    if (!v0_check && !r->cfg->check && kv_grow_is_noop(r->kv, &q->seq, tokens))
        return 1;
    return sim_sched_make_room_slow(r, i, pos, tokens, v0_check, preempted);
}

/* vllm-v0's decode check: true when the pool has a free block for each
 * sequence of a request (paged allocators; always true for others). */
bool sim_sched_v0_room(const sim_replica *r);

#endif
