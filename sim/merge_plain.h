/*
 * merge_plain.h: a merged run's plain steps (see sim/merge.c): the steps
 * after its first that end no request, their records and gaps held for
 * the observer's on_steps, in a loop of their own with the run's state
 * in registers. Internal to sim/merge.c, which alone includes it: the
 * loop is inlined into sim_merge_steps (apart, its state passed through
 * memory, it cost a tenth more).
 */
#ifndef KVSIM_SIM_MERGE_PLAIN_H
#define KVSIM_SIM_MERGE_PLAIN_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "sim/cost.h"
#include "sim/merge_int.h"
#include "sim/replica.h"
#include "sim/step.h"

static inline double to_s(int64_t ns)
{
    return (double)ns / 1e9;
}

/* Merged steps waiting for the observer's on_steps (sim/outcome.h): the
 * plain steps of a run (not its first, none that ends requests, none with
 * a blocked head's need in its memory), whose records differ only in
 * what sim_step_var holds; R->step holds the rest. */
enum { MERGE_OBS_BUF = 128 };
typedef struct merge_obs {
    size_t n;
    uint64_t gap_count; /* each step's gaps: the tokens it samples (0: no on_token_gaps) */
    sim_step_var v[MERGE_OBS_BUF];
} merge_obs;

/* Hands the steps in O to the observer. */
static inline void obs_flush(sim_replica *r, merge_obs *o)
{
    if (o->n == 0)
        return;
    r->step.replica = r->index;
    r->step.running_after = r->running_seqs;
    r->step.waiting_after = sim_rep_waiting(r);
    r->obs->on_steps(r->obs->ctx, &r->step, o->v, o->n, o->gap_count);
    o->n = 0;
}

/* What sim_merge_steps' plain steps read and move (its locals): the
 * run's step K (its bound BOUND), the last one's start and end, the used
 * tokens' sum USED0 + J x USED_STEP at step J's end, the shape's context
 * a step CTX_STEP, the tokens a step samples SAMPLED, MEM0 (the
 * breakdown after the last growths), the growth classes G, the price
 * PRICE, the observer's buffer OBS; GROWN set where a step grew. */
typedef struct merge_plain {
    uint32_t k, bound, sampled;
    int64_t start_ns, end_ns;
    uint64_t used0, used_step, ctx_step, reserve;
    kv_breakdown *mem0;
    merge_growths *g;
    const sim_cost_run *price;
    merge_obs *obs;
    bool grown;
} merge_plain;

/* sim_merge_steps' loop for its plain steps, those after its first that
 * end no request, in a run whose uniform growths it makes itself
 * (fast_grow), priced through the run's constants, with the steps going
 * to on_steps and no head's need in the memory: the statements the loop
 * makes for them, its state in registers. Steps on from step P->K while
 * they are plain and start before the limit; returns false where a step
 * could not follow (the loop breaks off: the shape as it was), true
 * otherwise (the loop takes the next step, or ends). */
static inline bool merge_plain_steps(sim_replica *r, merge_plain *p)
{
    kv_alloc *kv = r->kv;
    const uint64_t bpt = kv->cfg.bytes_per_token;
    const int64_t limit = r->merge_limit_ns;
    const uint32_t bound = p->bound, unit = p->g->unit;
    const uint32_t *const off = p->g->off;
    kv_seq **const seqs = r->merge_seqs;
    const uint64_t gu_bytes = p->g->gu.bytes, reserve = p->reserve;
    const uint64_t used0 = p->used0, used_step = p->used_step, ctx_step = p->ctx_step;
    const sim_cost_run *const price = p->price;
    merge_obs *const obs = p->obs;
    uint32_t k = p->k, cls = p->g->cls;
    int64_t start_ns = p->start_ns, end_ns = p->end_ns;
    kv_breakdown mem0 = *p->mem0;
    /* R->step's memory (the breakdown at the last step's end, MEM0's
     * but for the two fields that follow the used tokens), as the loop
     * leaves it after each step: written back at the end. */
    uint64_t cur_ts = r->step.mem.token_states, cur_res = r->step.mem.reservation;
    double res_busy = r->res->busy_s, stats_busy = r->stats->busy_s,
           allreduce = r->res->allreduce_s;
    const double allreduce_s = price->allreduce_s;
    const uint64_t stamp0 = r->stamp, epoch0 = kv->epoch;
    uint64_t ctx = r->batch.shape.decode_ctx_tokens;
    bool grown = false, ok = true;
    /* The strategy's free stack, where it has one (kv_grow_from_stack). */
    kv_grow_stack st0 = {0};
    const bool stacked = kv->ops->grow_stack != NULL && kv->ops->grow_stack(kv, &st0);
    const kv_grow_stack st = st0; /* apart from ST0, whose address the call took */
#ifndef NDEBUG
    kv_breakdown at = mem0;
    at.token_states = cur_ts;
    at.reservation = cur_res;
    assert(memcmp(&at, &r->step.mem, sizeof(at)) == 0);
#endif
    r->step.output_tokens = p->sampled;
    obs->gap_count = r->obs->on_token_gaps != NULL ? p->sampled : 0;
    while (end_ns < limit && k != bound) {
        double dur_s = sim_cost_run_ctx_s(&r->cost, price, &r->fa_memo, ctx + ctx_step);
#ifndef NDEBUG
        r->batch.shape.decode_ctx_tokens = ctx + ctx_step;
        double check = sim_cost_run_step_s(&r->cost, price, &r->batch.shape);
        assert(memcmp(&check, &dur_s, sizeof(check)) == 0);
        r->batch.shape.decode_ctx_tokens = ctx;
#endif
        int64_t dur_ns = dur_s < SIM_MAX_STEP_S ? sim_round_ns(dur_s) : 0;
        if (dur_ns < 1)
            dur_ns = 1;
        bool go =
            dur_s < SIM_MAX_STEP_S && end_ns <= INT64_MAX / 2 - dur_ns && end_ns + dur_ns != limit;
        cls = cls + 1 >= unit ? 0 : cls + 1; /* (k + 1) % unit; unit 1: 0 */
        const uint32_t c = cls;
        uint32_t ngrow = off[c + 1] - off[c];
        if (go && ngrow > 0) {
            uint64_t need = ngrow * gu_bytes;
            go = need <= mem0.free && mem0.free - need >= reserve;
            assert(go == merge_decode_room(r, need, false));
        }
        if (!go) { /* the shape as it was */
            ok = false;
            break;
        }
        ctx += ctx_step;
        /* Step k ends: its record and gaps to on_steps. */
        uint64_t used_end = used0 + k * used_step;
        r->now_ns = end_ns;
        if (obs->n == MERGE_OBS_BUF) {
            r->stamp = stamp0 + (k - p->k);
            obs_flush(r, obs);
        }
        sim_step_var *v = &obs->v[obs->n++];
        const uint64_t dup = kv->totals.dup_tokens;
        uint64_t used = used_end - dup, useful = kv->totals.useful_tokens - dup;
        v->start_ns = start_ns;
        v->end_ns = end_ns;
        v->used_at_end_bytes = used * bpt;
        v->after_token_states = used * bpt;
        v->after_reservation = (useful - used) * bpt;
        v->mem = mem0;
        v->mem.token_states = cur_ts;
        v->mem.reservation = cur_res;
        /* Step k + 1 starts: its growths (kv_grow_units), MEM0 after
         * them by arithmetic (see sim_merge_steps). */
        kv->epoch = epoch0 + (k - p->k) + 1; /* kv_tick */
        if (ngrow > 0) {
            kv_totals *t = &kv->totals;
            kv_seq *const *sc = seqs + off[c];
            uint64_t add;
            if (stacked && *st.num_free >= ngrow) /* grow_units' common case, inline */
                add = st.prefix ? kv_grow_from_stack(&st, sc, ngrow, true, kv->epoch)
                                : kv_grow_from_stack(&st, sc, ngrow, false, 0);
            else
                add = kv->ops->grow_units(kv, sc, ngrow);
            t->useful_tokens += add;
            t->alloc_bytes += ngrow * gu_bytes;
            mem0.reservation = (t->useful_tokens - t->used_tokens) * bpt;
            mem0.internal_frag = kv_allocated_bytes(kv) - (t->useful_tokens - t->dup_tokens) * bpt;
            mem0.free -= ngrow * gu_bytes;
#ifndef NDEBUG
            kv_breakdown fresh;
            kv_get_breakdown(kv, 0, &fresh);
            assert(memcmp(&fresh, &mem0, sizeof(fresh)) == 0);
#endif
            grown = true;
            useful = kv->totals.useful_tokens - dup;
        }
        cur_ts = used * bpt; /* kv_breakdown_at_used(kv, &mem0, used_end, &r->step.mem) */
        cur_res = (useful - used) * bpt;
#ifndef NDEBUG
        kv_breakdown_at_used(kv, &mem0, used_end, &at);
        assert(at.token_states == cur_ts && at.reservation == cur_res);
#endif
        res_busy += (double)dur_ns / 1e9; /* as the clock runs it (sim_step_start) */
        stats_busy += (double)dur_ns / 1e9;
        allreduce += allreduce_s;
        start_ns = end_ns;
        end_ns += dur_ns;
        k++;
    }
    r->batch.shape.decode_ctx_tokens = ctx; /* sim_rep_batch_advance's, each step */
    uint32_t steps = k - p->k;
    if (steps > 0) {
        r->res->events += steps; /* the step-by-step run's events */
        r->res->merged_steps += steps;
        r->stamp = stamp0 + steps;
        r->step.start_s = to_s(start_ns);
        r->step.mem = mem0;
        r->step.mem.token_states = cur_ts;
        r->step.mem.reservation = cur_res;
        r->res->busy_s = res_busy;
        r->res->steps += steps;
        r->stats->busy_s = stats_busy;
        r->stats->steps += steps;
        r->res->allreduce_s = allreduce;
        *p->mem0 = mem0;
    }
    p->g->cls = cls;
    p->grown = grown;
    p->k = k;
    p->start_ns = start_ns;
    p->end_ns = end_ns;
    return ok;
}

#endif
