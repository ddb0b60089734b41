/*
 * sched_static.c: request-level (static) batching, as FasterTransformer
 * or a plain HuggingFace generate() loop serve.
 *
 * When the replica is idle it takes up to max_num_seqs waiting requests
 * (FCFS, while their KV fits) into one batch, prefills their prompts
 * padded to the longest, then decodes the whole batch one token per step
 * until every request has produced all its tokens. Requests that finished
 * early keep decoding padding and keep their KV; all of them return when
 * the batch ends (the response of a batched generate() call), which is
 * when their memory is freed and the next batch may start. Requests that
 * arrive meanwhile wait. The token budget does not apply (these engines
 * have none); its default reservation is contiguous:reserve=max. With
 * paged:prefix=on, a prompt's cached prefix is not computed again and the
 * padding is to the longest uncached part.
 */
#include "sim/sched.h"

static bool done(const sim_req *q)
{
    return q->generated >= q->output;
}

static int static_schedule(sim_replica *r)
{
    bool all_done = true;
    for (uint32_t k = 0; k < r->nrunning; k++)
        all_done = all_done && done(sim_rep_req(r, r->running[k]));
    if (r->nrunning > 0 && all_done) {
        /* The batch returns: every request completes now. */
        while (r->nrunning > 0) {
            uint32_t i = r->running[r->nrunning - 1];
            sim_rep_remove_running(r, r->nrunning - 1);
            sim_rep_finish(r, i, SIM_REQ_COMPLETED, SIM_REJECT_NONE);
        }
    }
    if (r->nrunning > 0) {
        bool preempted = false;
        for (uint32_t k = 0; k < r->nrunning; k++) {
            uint32_t i = r->running[k];
            sim_req *q = sim_rep_req(r, i);
            if (done(q)) {
                sim_rep_batch_pad(r, i, 1);
                continue;
            }
            int rc = sim_sched_make_room(r, i, q, &k, q->computed + 1, false, &preempted);
            if (rc < 0)
                return -1;
            if (rc == 0)
                break;
            sim_rep_batch_add_req(r, i, q, 1);
        }
        return 0;
    }
    uint32_t longest = 0;
    while (sim_rep_waiting(r) > 0 && sim_rep_seq_room(r)) {
        uint32_t i = sim_rep_waiting_front(r);
        if (i == SIM_NONE)
            return -1;
        sim_req *q = sim_rep_req(r, i);
        uint32_t tokens = sim_req_tokens(q);
        int rc = kv_can_admit(r->kv, &q->seq, tokens);
        if (rc == KV_NEVER) {
            sim_rep_reject_head_never_fits(r);
            continue;
        }
        if (rc == KV_OK) {
            /* A preempted request's admission is a recomputation for the
             * prefix-cache counters (its own output blocks may hit, past
             * the prompt the first admission looked up), as v0's. */
            q->seq.recompute = q->preemptions > 0;
            rc = sim_rep_grow(r, i, tokens);
            q->seq.recompute = false;
        }
        if (rc < 0)
            return -1;
        if (rc != KV_OK) {
            if (r->nrunning == 0) {
                sim_rep_reject_head_never_fits(r);
                continue;
            }
            r->head_blocked = true;
            r->head_req = i;
            r->head_need_tokens = tokens;
            break;
        }
        q->hold = true;
        /* A prefix found in the cache (paged:prefix=on) is computed, as
         * under the other schedulers: the prefill skips it. */
        sim_rep_set_admitted(r, q, q->seq.cached_tokens);
        sim_rep_start_head(r);
        sim_rep_batch_add(r, i, tokens - q->computed);
        longest = tokens - q->computed > longest ? tokens - q->computed : longest;
    }
    /* Shorter prompts are padded to the batch's longest. */
    for (uint32_t k = 0; k < r->batch.n; k++) {
        uint32_t i = r->batch.req[k];
        if (r->batch.tokens[k] < longest)
            sim_rep_batch_pad(r, i, longest - r->batch.tokens[k]);
    }
    return 0;
}

const sim_sched_ops sim_sched_static = {
    .name = "static",
    .help = "request-level batching: a batch runs until all its requests finish",
    .schedule = static_schedule,
};
