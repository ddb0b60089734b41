/*
 * sched_budget.c: the token-budget scheduler; see sched.h.
 *
 * Follows vLLM V1's Scheduler.schedule (vllm/v1/core/sched/scheduler.py,
 * v0.11) for the FCFS policy:
 *   1. Running requests, in admission order, while budget remains: each
 *      gets num_tokens - num_computed_tokens new tokens (a decode: 1; a
 *      prompt being chunked: the rest of it), cut to
 *      --long-prefill-token-threshold and to the budget. When its KV
 *      cannot grow, the last running request is preempted (recompute:
 *      KV freed, num_computed_tokens back to 0, to the waiting queue's
 *      front) until it can, or until it preempted itself.
 *   2. Waiting requests, FCFS, only if step 1 preempted nothing, while
 *      budget remains and fewer than max_num_seqs run: a new request's
 *      prefix-cache hit counts as computed (only uncached tokens are
 *      charged); without chunked prefill a prompt larger than the
 *      remaining budget waits for the next step; the first that does not
 *      fit in KV stops admission.
 * The switches of sim_budget_policy give sarathi (decodes first), orca
 * (whole prompts, max-length reservation) and vLLM v0's chunked mode (its
 * admission watermark and decode check).
 *
 * Victims are the last running request not yet in this step's batch
 * (vLLM's FCFS victim is the last running request, never in the batch
 * yet because the pass goes in order; with decodes first it could be).
 * A request that preempts itself while nothing else holds KV can never
 * grow: it is rejected (sequence_outgrew_kv_pool) instead of looping.
 */
#include "sim/sched.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sim/merge.h"
#include "sim/spec.h"

bool sim_sched_v0_room(const sim_replica *r)
{
    if (r->block_bytes == 0)
        return true;
    kv_space sp;
    r->kv->ops->space(r->kv, &sp);
    return sp.free_bytes >= (uint64_t)r->cfg->n_samples * r->block_bytes;
}

/* Position of the preemption victim: the last running request not yet in
 * the batch. */
static uint32_t victim_pos(const sim_replica *r)
{
    for (uint32_t k = r->nrunning; k-- > 0;) {
        const sim_req *q = sim_rep_req(r, r->running[k]);
        /* A static batch's finished requests wait for the batch to end:
         * preempting one would make it produce its last token again. */
        if (!sim_rep_in_batch(r, r->running[k]) && !(q->hold && q->generated >= q->output))
            return k;
    }
    return SIM_NONE;
}

/* Lanes sharing a pool (vLLM V1's batches in flight): V1's one scheduler
 * preempts the last request of its one running list, the last admitted
 * (sim_rep_note_admission), wherever it runs: in another batch in flight
 * too (Scheduler.schedule, self.running.pop(), v0.11). Of lane R's own,
 * those already in the batch its pass builds are passed over, as
 * victim_pos does (V1's pass reaches the last only after them). Sets
 * *LANE and *POS; false when no request is running. */
static bool pool_victim(sim_replica *r, sim_replica **lane, uint32_t *pos)
{
    const uint64_t *order = r->peers->admit_order;
    uint64_t best = 0;
    bool found = false;
    for (uint32_t k = 0; k < r->npeers; k++) {
        sim_replica *p = &r->peers[k];
        for (uint32_t j = 0; j < p->nrunning; j++) {
            uint32_t i = p->running[j];
            if (p == r && sim_rep_in_batch(r, i))
                continue;
            assert(i < r->peers->admit_cap && order[i] > 0);
            if (!found || order[i] > best) {
                best = order[i];
                *lane = p;
                *pos = j;
                found = true;
            }
        }
    }
    return found;
}

/* Preempts lane P's running request at POS for lane R's pass (the
 * preemption counted in R's step). Where it is in P's batch in flight,
 * it leaves it: its KV is freed now and it computes everything again,
 * so the batch's work on it is lost (the step keeps its price). vLLM
 * v0.11's update_from_output appends the token such an entry sampled to
 * the preempted request; here it is sampled again after the recomputation. */
static int preempt_in_lane(sim_replica *r, sim_replica *p, uint32_t pos)
{
    uint32_t i = p->running[pos];
    bool in_flight = p->busy && sim_rep_in_batch(p, i);
    if (sim_rep_preempt(p, pos) != 0)
        return -1;
    p->step.preempted--;
    r->step.preempted++;
    if (in_flight) {
        uint32_t keep = 0;
        for (uint32_t k = 0; k < p->batch.n; k++) {
            if (p->batch.req[k] == i)
                continue;
            p->batch.req[keep] = p->batch.req[k];
            p->batch.tokens[keep++] = p->batch.tokens[k];
        }
        p->batch.n = keep;
    }
    sim_rep_req(p, i)->stamp = 0; /* P's pass stamp: in no batch */
    return 0;
}

int sim_sched_make_room_slow(sim_replica *r, uint32_t i, uint32_t *pos, uint32_t tokens,
                             bool v0_check, bool *preempted)
{
    for (;;) {
        int rc = v0_check && !sim_sched_v0_room(r) ? KV_NOSPACE : sim_rep_grow(r, i, tokens);
        if (rc < 0)
            return -1;
        if (rc == KV_OK)
            return 1;
        sim_replica *lane = r;
        uint32_t v = 0;
        if (r->peers != NULL) {
            bool found = pool_victim(r, &lane, &v);
            assert(found); /* I itself runs, not yet in the batch */
            (void)found;
            if (lane != r) {
                if (preempt_in_lane(r, lane, v) != 0)
                    return -1;
                *preempted = true;
                continue;
            }
        } else {
            v = victim_pos(r);
        }
        bool self = r->running[v] == i;
        if (sim_rep_preempt(r, v) != 0)
            return -1;
        *preempted = true;
        if (self) {
            if (sim_rep_pool_running(r) == 0) /* alone and still too big: it never fits */
                sim_rep_reject_head(r, SIM_REJECT_GREW_OVER_POOL);
            return 0;
        }
        if (v < *pos)
            (*pos)--;
    }
}

/* New tokens for request Q with COMPUTED tokens done, under BUDGET. */
static uint32_t new_tokens(const sim_replica *r, const sim_req *q, uint32_t computed,
                           uint64_t budget)
{
    uint64_t n = sim_req_tokens(q) - computed;
    uint32_t thr = r->cfg->long_prefill_threshold;
    if (thr > 0 && n > thr)
        n = thr;
    return (uint32_t)(n < budget ? n : budget);
}

/* Step 1 over running requests; DECODES: only those (true) or only the
 * others (false), or all (-1). Returns 1 to go on, 0 when a request
 * preempted itself (the pass ends), -1 on error. */
/* The end of a pass that took the run's NRUN known decodes (the last
 * NRUN of BN batch entries) without its per-entry tests: the loop's
 * per-entry sums and tokens, after it (each entry samples sequences, one
 * token each: the same values), DCTX the entries' context before the
 * samples, BUDGET before their tokens. */
static int known_pass_end(sim_replica *r, uint32_t bn, uint32_t nrun, uint64_t dctx,
                          uint64_t budget, uint64_t *budget_io)
{
    const uint32_t samples = r->cfg->n_samples;
    for (uint32_t j = bn - nrun; j < bn; j++)
        r->batch.tokens[j] = 1;
    dctx *= samples;
    r->pass_known = nrun;
    r->pass_known_ctx = dctx;
    r->pass_known_unit = r->pre_pass_unit;
    r->batch.n = bn;
    r->batch.shape.decode_seqs += nrun * samples;
    r->batch.shape.decode_ctx_tokens += dctx;
    *budget_io = budget - nrun;
    return 1;
}

static int schedule_running(sim_replica *r, const sim_budget_policy *pol, int decodes,
                            uint64_t *budget_io, bool *preempted)
{
    const bool spec = r->cfg->spec.method != SIM_SPEC_NONE; /* else no drafts, no lookahead */
    const bool v0_check = pol->v0_decode_check;
    /* Read once, kept in registers: stores through Q could alias them. */
    const uint64_t stamp = r->stamp;
    uint64_t budget = *budget_io;
    int rc = 1;
    /* The common case, a decode that holds its next token's KV (most
     * running requests at most steps), in registers: what the general
     * path below does for it (new_tokens 1, sim_sched_make_room's no-op
     * growth, sim_rep_batch_add_req's decode), with the batch's count and
     * shape kept locally and written back before anything else reads
     * them. Not with speculation (drafts), vllm-v0's decode check, or
     * --check (sim_rep_grow's checks). */
    const bool fast = !spec && !v0_check && !r->cfg->check && decodes != 0;
    const bool chunk_keys = r->kv->grow_prompt_chunks;
    const uint32_t samples = r->cfg->n_samples;
    sim_req *pool = r->pool->v;
    uint32_t *const breq = r->batch.req, *const btok = r->batch.tokens;
    uint32_t bn = r->batch.n;
    uint32_t dseqs = 0;
    uint64_t dctx = 0;
    /* The running set changes only in the general path (preemptions). */
    uint32_t nrun = r->nrunning;
    const uint32_t *run = r->running;
    if (r->pre_pass) {
        /* The running requests a merged run left (r->pre_pass): each a
         * one-token decode, in order, the growths among them covered by
         * the free space (so none preempts): the loop below's fast path
         * for each, and its general path's growth (sim_rep_grow, in
         * order) where one needs a block, without the tests. */
        r->pre_pass = false;
        kv_space sp;
        if (decodes == -1 && fast && bn == 0 && nrun == r->pre_pass_n && budget >= nrun &&
            (r->pre_pass_need == 0 ||
             (r->kv->ops->space(r->kv, &sp), r->pre_pass_need <= sp.free_bytes))) {
            /* Where that run's uniform classes held them (kv_grow_uniform
             * accepted each for its life), their growths in one
             * kv_grow_units call after the loop, in the same order: the
             * same blocks and sums as kv_grow's one by one. */
            const bool units = r->pre_pass_unit;
            const uint64_t unit_bytes = units ? r->pre_gu.bytes : 0;
            kv_seq **grow = r->merge_tmp;
            uint32_t *grow_at = r->merge_link, ngrow = 0;
            sim_merge_known kn;
            sim_merge_known_start(&kn, r);
            /* The batch: the running requests in order; their context
             * where the run left it (r->pre_ctx_known), else summed here. */
            memcpy(breq, run, nrun * sizeof(*breq));
            bn = nrun;
            const bool ctx_known = r->pre_ctx_known;
#ifndef NDEBUG
            uint64_t ctx_check = 0;
#endif
            if (units && sim_merge_carry_ok(r)) {
                /* The notes from the last run's classes (sim/merge.h):
                 * each entry's last step and their least, a closer look
                 * near their ends only; the growths the classes'. */
                sim_merge_carry cs;
                sim_merge_carry_start(r, &cs);
                uint32_t *const last = r->merge_last, bound = UINT32_MAX;
                const uint32_t near = cs.unit + 1;
                /* Where the run left the last steps in order, each entry
                 * left's is the run's less its steps, after those it
                 * finished (the first: theirs were the least): moved down
                 * at once; their least the first, those near their ends
                 * the first few. */
                const bool shifted = r->end_last_sorted;
                if (shifted) {
                    const uint32_t nfin = r->mc_nfin, adv = r->end_adv;
                    if (nfin > 0)
                        memmove(last, last + nfin, nrun * sizeof(*last));
                    for (uint32_t k = 0; k < nrun; k++) /* vectorised */
                        last[k] -= adv;
                    bound = nrun > 0 ? last[0] : UINT32_MAX;
                    for (uint32_t k = 0; k < nrun && last[k] <= near; k++)
                        sim_merge_carry_near_end(r, &cs, k, &pool[run[k]], last[k]);
                }
                if (shifted && ctx_known) {
                    /* Most passes: nothing an entry. Their stamps stay
                     * (r->pass_unstamped): after this pass only
                     * merge_bound's test of the running set reads them,
                     * and takes the known decodes as in the batch; any
                     * later pass's stamp is past them. */
                    r->pass_unstamped = true;
#ifndef NDEBUG
                    for (uint32_t k = 0; k < nrun; k++) {
                        const sim_req *q = &pool[run[k]];
                        assert(q->stamp != stamp && q->computed + 1 == sim_req_tokens(q) &&
                               q->computed >= q->input && q->seq.live && q->first_sched_ns >= 0 &&
                               !(chunk_keys && q->seq.used_tokens < q->seq.prompt_tokens) &&
                               q->seq.cap_tokens >= q->computed &&
                               last[k] == q->output - q->generated);
                        ctx_check += (uint64_t)(q->computed + 1);
                    }
#endif
                } else if (shifted) {
                    for (uint32_t k = 0; k < nrun; k++) {
                        sim_req *q = &pool[run[k]];
                        assert(last[k] == q->output - q->generated);
                        q->stamp = stamp;
                        dctx += (uint64_t)(q->computed + 1); /* times samples below */
                    }
#ifndef NDEBUG
                    ctx_check = dctx;
#endif
                }
                for (uint32_t k = 0; !shifted && k < nrun; k++) {
                    sim_req *q = &pool[run[k]];
                    assert(q->stamp != stamp && q->computed + 1 == sim_req_tokens(q) &&
                           q->computed >= q->input && q->seq.live && q->first_sched_ns >= 0 &&
                           !(chunk_keys && q->seq.used_tokens < q->seq.prompt_tokens) &&
                           q->seq.cap_tokens >= q->computed);
                    const uint32_t left = q->output - q->generated;
                    last[k] = left;
                    bound = left < bound ? left : bound;
                    if (left <= near)
                        sim_merge_carry_near_end(r, &cs, k, q, left);
                    q->stamp = stamp;
                    if (!ctx_known)
                        dctx += (uint64_t)(q->computed + 1); /* times samples below */
#ifndef NDEBUG
                    ctx_check += (uint64_t)(q->computed + 1);
#endif
                }
                kv_seq **gs;
                uint32_t gn;
                sim_merge_carry_growths(r, &gs, &gn);
#ifndef NDEBUG
                /* The growths the pass would find: those whose next token
                 * needs a block, in order. */
                for (uint32_t k = 0, j = 0; k < nrun; k++) {
                    const sim_req *q = &pool[run[k]];
                    if (q->seq.cap_tokens == q->computed) {
                        assert(j < gn && gs[j] == &q->seq);
                        j++;
                    }
                    assert(k + 1 < nrun || j == gn);
                }
#endif
                if (gn > 0)
                    kv_grow_units(r->kv, gs, gn, &r->pre_gu);
                sim_merge_carry_end(r, &cs, bound, nrun);
                /* In order where they were at the run's end (each moved
                 * by its steps; those finished taken out). */
                r->pass_last_sorted = r->end_last_sorted;
#ifndef NDEBUG
                for (uint32_t k = 1; r->pass_last_sorted && k < nrun; k++)
                    assert(last[k] >= last[k - 1]);
#endif
#ifndef NDEBUG
                sim_merge_carry_check(r, run, nrun, unit_bytes);
#endif
                if (ctx_known)
                    dctx = r->pre_pass_ctx;
                assert(dctx == ctx_check);
                return known_pass_end(r, bn, nrun, dctx, budget, budget_io);
            }
            for (uint32_t k = 0; k < nrun; k++) {
                uint32_t i = run[k];
                sim_req *q = &pool[i];
                assert(q->stamp != stamp && q->computed + 1 == sim_req_tokens(q) &&
                       q->computed >= q->input && q->seq.live && q->first_sched_ns >= 0 &&
                       !(chunk_keys && q->seq.used_tokens < q->seq.prompt_tokens));
                /* Its first growth step: 1 where its next token needs one
                 * (its KV, written up to its context, fits what it holds). */
                assert(q->seq.cap_tokens >= q->computed);
                const uint32_t first = q->seq.cap_tokens - q->computed + 1;
                if (first == 1) {
                    if (units) {
                        grow_at[ngrow] = k;
                        grow[ngrow++] = &q->seq;
                    } else {
                        int g = sim_rep_grow(r, i, q->computed + 1);
                        if (g < 0)
                            return -1;
                        assert(g == KV_OK);
                        sim_merge_note_known(r, &kn, k, q, 0);
                    }
                } else {
                    sim_merge_note_first(r, &kn, k, q, unit_bytes, first);
                }
                q->stamp = stamp;
                if (!ctx_known)
                    dctx += (uint64_t)(q->computed + 1); /* times samples below */
#ifndef NDEBUG
                ctx_check += (uint64_t)(q->computed + 1);
#endif
            }
            if (ctx_known)
                dctx = r->pre_pass_ctx;
            assert(dctx == ctx_check);
            if (ngrow > 0)
                kv_grow_units(r->kv, grow, ngrow, &r->pre_gu);
            for (uint32_t j = 0; j < ngrow; j++) /* noted once grown */
                sim_merge_note_known(r, &kn, grow_at[j], &pool[run[grow_at[j]]], unit_bytes);
            sim_merge_known_end(r, &kn, nrun);
            return known_pass_end(r, bn, nrun, dctx, budget, budget_io);
        }
    }
    for (uint32_t k = 0; k < nrun && budget > 0; k++) {
        uint32_t i = run[k];
        sim_req *q = &pool[i];
        if (q->stamp == stamp) /* in the batch (sim_rep_in_batch) */
            continue;
        bool is_decode = q->computed + 1 == sim_req_tokens(q) && q->computed >= q->input;
        if (decodes >= 0 && is_decode != (decodes == 1))
            continue;
        if (fast && is_decode && q->seq.live && q->computed + 1 <= q->seq.cap_tokens &&
            !(chunk_keys && q->seq.used_tokens < q->seq.prompt_tokens) && q->first_sched_ns >= 0) {
            q->stamp = stamp;
            dseqs += samples;
            dctx += (uint64_t)(q->computed + 1) * samples;
            breq[bn] = i;
            btok[bn] = 1;
            bn++;
            budget--;
            continue;
        }
        r->batch.n = bn;
        r->batch.shape.decode_seqs += dseqs;
        r->batch.shape.decode_ctx_tokens += dctx;
        dseqs = 0;
        dctx = 0;
        uint32_t n = new_tokens(r, q, q->computed, budget);
        /* Speculative decoding (sim/spec.h): a decode also verifies its
         * drafts, which take budget; a running request's KV grows by its
         * drafts and the lookahead slots (V1's allocate_slots, capped at
         * max_model_len). */
        uint32_t drafts = spec ? sim_spec_drafts(r, q, budget) : 0;
        uint32_t target = spec ? sim_spec_grow_target(r, q, n, drafts) : q->computed + n;
        rc = sim_sched_make_room(r, i, q, &k, target, v0_check && is_decode, preempted);
        if (rc <= 0)
            break;
        sim_rep_batch_add_req(r, i, q, n);
        if (drafts > 0)
            sim_spec_batch_add(r, q, drafts);
        budget -= n + drafts;
        rc = 1;
        bn = r->batch.n;
        nrun = r->nrunning;
        run = r->running;
        pool = r->pool->v; /* read again after the general path, as the rest */
    }
    r->batch.n = bn;
    r->batch.shape.decode_seqs += dseqs;
    r->batch.shape.decode_ctx_tokens += dctx;
    *budget_io = budget;
    return rc;
}

/* Step 2: admits waiting requests. Returns 0, or -1 on error. */
/* Puts the requests schedule_waiting skipped back at the waiting queue's
 * front, in their order (vLLM V1: waiting.prepend_requests). */
static int unskip(sim_replica *r)
{
    while (r->skipped.len > 0) {
        uint32_t k = r->skipped.len - 1;
        if (sim_queue_push_front(r->wq, sim_queue_at(&r->skipped, k)) != 0) {
            snprintf(r->err, r->errlen, "out of memory for the waiting queue");
            return -1;
        }
        r->skipped.len--;
    }
    r->skipped.head = 0;
    return 0;
}

static int schedule_waiting(sim_replica *r, const sim_budget_policy *pol, uint64_t *budget)
{
    int fail = 0;
    while (sim_rep_waiting(r) > 0 && *budget > 0 && sim_rep_seq_room(r)) {
        uint32_t i = sim_rep_waiting_front(r);
        if (i == SIM_NONE)
            return -1;
        sim_req *q = sim_rep_req(r, i);
        uint32_t tokens = sim_req_tokens(q);
        if (kv_never_fits(r->kv, &q->seq, pol->reserve_max ? r->plan->max_model_len : tokens)) {
            sim_rep_reject_head_never_fits(r);
            continue;
        }
        uint32_t cached = q->swapped ? q->computed : sim_rep_cached_tokens(r, i);
        uint32_t n = new_tokens(r, q, cached, UINT64_MAX);
        if (!r->cfg->chunked_prefill && n > *budget) {
            if (pol->strict_fcfs)
                break; /* the whole prompt waits for a step with room for it */
            /* V1 (scheduler.py, v0.11): skipped_waiting_requests; later
             * requests that fit the budget left still run. */
            if (sim_queue_push_back(&r->skipped, sim_queue_pop_front(r->wq)) != 0) {
                snprintf(r->err, r->errlen, "out of memory for the waiting queue");
                fail = -1;
                break;
            }
            continue;
        }
        n = n < *budget ? n : (uint32_t)*budget;
        uint32_t target = pol->reserve_max ? r->plan->max_model_len : cached + n;
        int rc;
        if (q->swapped) {
            rc = sim_rep_swap_in(r, i, target);
        } else {
            rc = kv_can_admit(r->kv, &q->seq, target);
            if (rc == KV_OK) {
                q->seq.recompute = q->preemptions > 0; /* for the prefix-cache counters */
                rc = sim_rep_grow(r, i, target);
                q->seq.recompute = false;
            }
        }
        if (rc < 0)
            return -1;
        if (rc != KV_OK) {
            if (sim_rep_pool_running(r) == 0 && r->batch.n == 0 && !q->swapped) {
                /* The strategy's layout refused an empty pool (a
                 * general-purpose allocator can): it never fits. */
                sim_rep_reject_head_never_fits(r);
                continue;
            }
            r->head_blocked = true;
            r->head_req = i;
            r->head_need_tokens = target;
            break;
        }
        if (!q->swapped && q->computed == 0) {
            sim_rep_set_admitted(r, q,
                                 q->seq.cached_tokens < tokens ? q->seq.cached_tokens : tokens - 1);
            n = new_tokens(r, q, q->computed, *budget);
        }
        sim_rep_start_head(r);
        if (r->peers != NULL && sim_rep_note_admission(r, i) != 0)
            return -1;
        sim_rep_batch_add(r, i, n);
        *budget -= n;
    }
    if (unskip(r) != 0)
        return -1;
    return fail;
}

int sim_sched_budget(sim_replica *r, const sim_budget_policy *pol)
{
    uint64_t budget = r->plan->max_batched_tokens;
    bool preempted = false;
    int rc;
    if (pol->decodes_first) {
        rc = schedule_running(r, pol, 1, &budget, &preempted);
        if (rc > 0)
            rc = schedule_running(r, pol, 0, &budget, &preempted);
    } else {
        rc = schedule_running(r, pol, -1, &budget, &preempted);
    }
    if (rc < 0)
        return -1;
    if (preempted)
        return 0; /* vLLM admits nothing in a step that preempted */
    return schedule_waiting(r, pol, &budget);
}
