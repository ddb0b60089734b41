/*
 * merge.c: a run of identical decode steps as one event; see merge.h.
 *
 * Step k of a merged run is replayed as the step loop would run it:
 *   end of step k (at E_k): its tokens' gaps reported (step 1: each
 *     request's own gap, run-length coded as sim_step_end codes them;
 *     later steps: every request's previous token came at the previous
 *     step's end, so one run of the step's duration), its record completed
 *     and observed;
 *   start of step k + 1 (at E_k): kv_tick, the pass stamp, the growths of
 *     the sequences whose next token passes their capacity (in the batch's
 *     order, each sequence's used tokens brought up to date first, as the
 *     pass would find them), the batch's shape one token longer per
 *     decode, its price from sim_step_cost, its record and figures
 *     (sim_step_account).
 * At the end of a step that samples requests' last tokens, when the run
 * goes on past it (through_ok), those requests are brought to their last
 * token and finished, in the running set's order, and taken out of the
 * batch, the running set and the growth classes; the next step's shape
 * loses their decodes and is priced through its own constants.
 * The requests themselves (computed and generated tokens, each sequence's
 * used tokens, the time of their last token) are advanced once, at the
 * end, to the end of the last step, which sim_step_end then reports
 * without its pass over the batch (r->pre_ended; under --check, to its
 * start, and sim_step_end makes the pass); the memory figures in between come
 * from a breakdown taken at the run's start and again after each step
 * with growths, with the used-token sum moved (kv_breakdown_at_used):
 * exact, because between allocations used tokens are all that change.
 * The plain steps (after the first, ending no request, their growths
 * uniform, their records for on_steps) run in a loop of their own,
 * sim/merge_plain.h.
 */
#include "sim/merge.h"

#include "sim/merge_int.h"
#include "sim/merge_plain.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/step.h"

/* Batch entry K, request Q, is a one-token decode of a request that has
 * its first token, whose KV is written up to its context, past its prompt
 * and past the blocks it shares, its next token within its capacity. */
static inline bool merge_plain_decode(const sim_batch *b, uint32_t k, const sim_req *q)
{
    const kv_seq *s = &q->seq;
    return b->tokens[k] == 1 && q->computed + 1 == sim_req_tokens(q) && q->computed >= q->input &&
           q->generated < q->output && q->first_token_ns >= 0 && s->live &&
           s->used_tokens == q->computed && s->used_tokens >= s->prompt_tokens &&
           q->computed >= s->shared_tokens && s->cap_tokens > q->computed;
}

static bool through_ok(const sim_replica *r);

/* How many steps, the one started included, R's batch can run unchanged
 * (0 when no other can follow it): until a request's last token (1 where
 * one comes in the step started and the run may go on past it,
 * through_ok), and,
 * with GROWS (a growth rule) MERGE_GROW_NONE, until a sequence outgrows what it
 * holds. Otherwise r->merge_next[k] is the step that first grows batch
 * entry k (past the bound: none in the run) and *NEXT the first of them
 * in the bound (UINT32_MAX: none). *USED_STEP is what the sum of used
 * tokens grows by at each step's end. O(running),
 * cut short where the answer is 0: a request at its last token where the
 * run may not go on past it, and,
 * since the second step's growths are known here, growths it may not
 * make (the run's loop would stop before that step: a full pool's steps,
 * most of a busy run's, merge nothing). */
static uint32_t merge_bound(sim_replica *r, int grows, uint64_t *used_step, uint32_t *next,
                            uint32_t *nprompt)
{
    uint64_t need2 = 0; /* free space the second step's growths take */
    const sim_batch *b = &r->batch;
    /* Prompts finishing in the first step: only where nothing waits (a
     * waiting request could take the budget they leave). */
    const bool prompts =
        (b->steady || b->admits) && r->cfg->n_samples == 1 && sim_rep_waiting(r) == 0;
    if (!(b->steady || prompts) || r->pipe != NULL || r->cfg->spec.method != SIM_SPEC_NONE ||
        b->n == 0 || (!prompts && (b->shape.prefill_seqs != 0 || b->shape.prefill_tokens != 0)) ||
        b->spec.drafts != 0)
        return 0;
    uint32_t bound = UINT32_MAX, first_min = UINT32_MAX;
    uint64_t growth = 0;
    *nprompt = 0;
    const uint32_t known = r->pass_known <= b->n ? r->pass_known : 0;
    uint32_t k0 = 0;
    if (known > 0) {
        /* The pass's decodes from the last merged run, noted by the pass
         * (sim_merge_note_known: merge_next, the sums, r->mc_stop): the
         * loop's tests and sums below for them, with its exits (each
         * monotone in the entries taken, so taken in any order). */
#ifndef NDEBUG
        uint32_t bnd = UINT32_MAX, fmin = UINT32_MAX, fmin_grow = UINT32_MAX, n2 = 0, nstop = 0;
        uint64_t gr = 0;
        const bool lazy = r->pass_next_lazy; /* carried: merge_next unwritten */
        for (uint32_t k = 0; k < known; k++) {
            const sim_req *q = sim_rep_req(r, b->req[k]);
            uint32_t left = q->output - q->generated, first = q->seq.cap_tokens - merge_base(q) + 1;
            assert(merge_plain_decode(b, k, q) && (lazy || r->merge_next[k] == first) &&
                   r->merge_last[k] == left);
            bnd = left < bnd ? left : bnd;
            fmin = first < fmin ? first : fmin;
            if (first <= left)
                fmin_grow = first < fmin_grow ? first : fmin_grow;
            gr += q->seq.samples > 1 ? q->seq.samples : 1;
            n2 += first == 2;
            nstop += first > left;
        }
        /* Carried, the least first growth of those growing in their
         * lives: the others' are past their last steps, so past the
         * bound, and change neither the bound nor NEXT below. */
        assert(bnd == r->known_bound && (lazy ? fmin_grow : fmin) == r->known_first_min &&
               gr == r->known_growth && n2 == r->known_n2 && nstop == r->mc_nstop);
#endif
        if (r->known_bound < 2 && !(r->known_bound == 1 && through_ok(r)))
            return 0;
        bound = r->known_bound;
        first_min = r->known_first_min;
        growth = r->known_growth;
        if (r->known_n2 > 0) {
            if (grows == MERGE_GROW_NONE)
                return 0;
            need2 = r->known_need2;
            if (!merge_decode_room(r, need2, grows == MERGE_GROW_NO_EVICT))
                return 0;
        }
        k0 = known;
    } else {
        r->mc_nstop = 0;
    }
    for (uint32_t k = k0; k < b->n; k++) {
        const sim_req *q = sim_rep_req(r, b->req[k]);
        const kv_seq *s = &q->seq;
        /* A one-token decode of a request that has its first token, whose
         * KV is written up to its context, past its prompt and past the
         * blocks it shares: kv_grow returns at once while the next token
         * fits its capacity, and each step adds one used token per sample.
         * Or, with PROMPTS, the chunk that ends a request's prompt, its
         * KV written up to the chunk's start and held up to its end: its
         * first token comes at the first step's end, a decode each step
         * after (merge_base). */
        bool decode = merge_plain_decode(b, k, q);
        /* (Exclusive: a decode is past its prompt, a prompt's chunk not.) */
        bool prompt = !decode && prompts && q->generated == 0 && q->computed < q->input &&
                      b->tokens[k] == q->input - q->computed && q->first_token_ns < 0 && s->live &&
                      s->used_tokens == q->computed && s->cap_tokens >= q->input &&
                      s->shared_tokens <= q->input;
        if (!decode && !prompt)
            return 0;
        *nprompt += prompt;
        uint32_t left = q->output - q->generated; /* the step of its last token ends the run */
        if (left < 2 && !(left == 1 && through_ok(r)))
            return 0; /* its last token now, the run not going on past it: nothing follows */
        if (left < bound)
            bound = left;
        assert(s->samples == r->cfg->n_samples); /* GROWTH's sum below */
        /* Step j grows a request to merge_base + j tokens: past its
         * capacity from step cap_tokens - merge_base + 1 on (checked
         * against the bound below). */
        uint32_t base = merge_base(q);
        uint32_t first = s->cap_tokens - base + 1;
        r->merge_next[k] = first;
        first_min = first < first_min ? first : first_min;
        if (first == 2) {
            /* take_growths' test for step 2, on a prefix of its sum (it
             * only grows): a failure there ends the run at one step. */
            if (grows == MERGE_GROW_NONE)
                return 0;
            uint64_t nb = kv_grow_bytes(r->kv, s, base + 2);
            need2 = nb > UINT64_MAX - need2 ? UINT64_MAX : need2 + nb;
            if (!merge_decode_room(r, need2, grows == MERGE_GROW_NO_EVICT))
                return 0;
        }
    }
    /* Every running request decodes, or is a finished request static
     * batching holds (it pads the batch, its context fixed). The batch
     * holds running requests only, each once: with as many entries as
     * running requests, none is left out. */
    if (b->n != r->nrunning) {
        uint32_t held = 0;
        /* The pass's known decodes are in the batch (the carried pass
         * leaves their stamps, r->pass_unstamped): the running set's
         * first entries. */
        for (uint32_t k = r->pass_unstamped ? r->pass_known : 0; k < r->nrunning; k++) {
            const sim_req *q = sim_rep_req(r, r->running[k]);
            if (sim_rep_in_batch(r, r->running[k]))
                continue;
            if (!(q->hold && q->generated >= q->output))
                return 0;
            held++;
        }
        if (b->n + held != r->nrunning)
            return 0;
    }
    /* Without growths the run stops before the first; else the first in
     * the bound is NEXT (every first growth is at step 2 or later). */
    *next = UINT32_MAX;
    if (grows == MERGE_GROW_NONE && first_min - 1 < bound) {
        bound = first_min - 1;
        if (bound < 2)
            return 0; /* its next step grows: nothing follows */
    } else if (first_min <= bound)
        *next = first_min;
    /* The sequences of the entries after the known ones: each holds the
     * configuration's samples (sim_rep_make_request). */
    const uint64_t samples = r->cfg->n_samples;
    *used_step = growth + (uint64_t)(b->n - k0) * (samples > 1 ? samples : 1);
    return bound;
}

/* Reports the first step's tokens, at r->now_ns, as sim_step_end does:
 * each request's gap since its previous token, equal gaps of consecutive
 * requests in one call, then the first tokens (of prompts ending in the
 * step, whose first token time is set). */
static void first_step_gaps(sim_replica *r)
{
    sim_gap_run run = {-1, 0};
    uint64_t first = 0;
    for (uint32_t k = 0; k < r->batch.n; k++) {
        sim_req *q = sim_rep_req(r, r->batch.req[k]);
        if (q->first_token_ns < 0) {
            q->first_token_ns = r->now_ns;
            first += r->cfg->n_samples;
        } else {
            sim_gap_run_add(r, &run, r->now_ns - q->last_token_ns, r->cfg->n_samples);
        }
    }
    sim_gap_run_flush(r, &run);
    sim_step_report_gaps(r, -1, first);
}

/* What the run's set-up needs to know of the batch, in one pass: whether
 * entry k is r->running[k] for every entry, whether static batching holds
 * one, and the sums over the batch of merge_base + 2 (the context of the
 * second step, every entry a decode) and of merge_base - computed (used
 * tokens the first step's prompts add). */
/* Also the first step's gaps, as first_step_gaps would report them at
 * END_NS (the requests' last tokens do not move before): the runs of
 * equal gaps and the entries whose first token it is (up to
 * MERGE_SCAN_RUNS and MERGE_SCAN_FIRST of them; more: GAPS_OK false, and
 * first_step_gaps makes them). */
enum { MERGE_SCAN_RUNS = 8, MERGE_SCAN_FIRST = 8 };
typedef struct merge_scan {
    bool in_order, held, gaps_ok;
    uint64_t ctx2, used_base;
    uint32_t nruns, nfirst;
    sim_gap_run runs[MERGE_SCAN_RUNS];
    uint32_t first[MERGE_SCAN_FIRST]; /* their batch entries */
} merge_scan;

static void merge_scan_batch(const sim_replica *r, int64_t end_ns, merge_scan *scan)
{
    const sim_batch *b = &r->batch;
    bool in_order = b->n <= r->nrunning, held = false, gaps_ok = true;
    uint64_t ctx2 = 0, used_base = 0;
    const uint64_t samples = r->cfg->n_samples;
    uint32_t nruns = 0, nfirst = 0;
    int64_t gap_ns = -1; /* the run being counted (sim_gap_run's start) */
    uint64_t count = 0;
    /* The pass's decodes from the last merged run (r->pass_known), one
     * sample each: the running set's first entries in its order, none
     * held, each its own base (a decode), its last token now (that run's
     * end): one run of equal gaps, the context sums the pass's. */
    uint32_t k = 0;
    if (samples == 1 && r->pass_known > 0 && r->pass_known <= b->n) {
        k = r->pass_known;
        ctx2 = r->pass_known_ctx + k; /* the sum of computed + 1, plus one each */
        gap_ns = end_ns - r->now_ns;
        count = k;
#ifndef NDEBUG
        uint64_t c = 0;
        for (uint32_t j = 0; j < k; j++) {
            const sim_req *q = sim_rep_req(r, b->req[j]);
            assert(j < r->nrunning && b->req[j] == r->running[j] && !q->hold &&
                   merge_base(q) == q->computed && q->first_token_ns >= 0 &&
                   q->last_token_ns == r->now_ns);
            c += (uint64_t)q->computed + 2;
        }
        assert(c == ctx2);
#endif
    }
    for (; k < b->n; k++) {
        const sim_req *q = sim_rep_req(r, b->req[k]);
        uint32_t base = merge_base(q);
        in_order &= k < r->nrunning && b->req[k] == r->running[k];
        held |= q->hold;
        ctx2 += (uint64_t)base + 2;
        used_base += base - q->computed;
        if (q->first_token_ns < 0) {
            if (nfirst < MERGE_SCAN_FIRST)
                scan->first[nfirst] = k;
            nfirst++;
            continue;
        }
        int64_t gap = end_ns - q->last_token_ns;
        if (gap != gap_ns) { /* sim_gap_run_add */
            if (count > 0) {
                if (nruns < MERGE_SCAN_RUNS)
                    scan->runs[nruns] = (sim_gap_run){gap_ns, count};
                nruns++;
            }
            gap_ns = gap;
            count = 0;
        }
        count += samples;
    }
    if (count > 0) {
        if (nruns < MERGE_SCAN_RUNS)
            scan->runs[nruns] = (sim_gap_run){gap_ns, count};
        nruns++;
    }
    gaps_ok = nruns <= MERGE_SCAN_RUNS && nfirst <= MERGE_SCAN_FIRST;
    scan->in_order = in_order;
    scan->held = held;
    scan->gaps_ok = gaps_ok;
    scan->ctx2 = ctx2;
    scan->used_base = used_base;
    scan->nruns = nruns;
    scan->nfirst = nfirst;
}

/* first_step_gaps from SCAN's record of them (SCAN->gaps_ok), at
 * r->now_ns: the same calls in the same order. */
static void first_step_gaps_scanned(sim_replica *r, const merge_scan *scan)
{
    for (uint32_t j = 0; j < scan->nruns; j++)
        sim_step_report_gaps(r, scan->runs[j].gap_ns, scan->runs[j].count);
    for (uint32_t j = 0; j < scan->nfirst; j++)
        sim_rep_req(r, r->batch.req[scan->first[j]])->first_token_ns = r->now_ns;
    sim_step_report_gaps(r, -1, (uint64_t)scan->nfirst * r->cfg->n_samples);
}

/* Puts back the shape a step of the run had changed before it broke off:
 * SHAPE, or after step 1, its two fields that move. */
static void merge_shape_back(sim_replica *r, const sim_batch_shape *shape, uint32_t k)
{
    if (k == 1) {
        r->batch.shape = *shape;
    } else {
        r->batch.shape.decode_seqs = shape->decode_seqs;
        r->batch.shape.decode_ctx_tokens = shape->decode_ctx_tokens;
    }
}

/* The run may go on past a step that ends requests (their last token):
 * after it the pass would build the same batch without them, every
 * other running request a one-token decode in the same order, when the
 * batch is the whole running set in its order, nothing waits (nothing to
 * admit into the room they free), and an ended request sends nothing
 * (open loop: a closed-loop client's next request would arrive then).
 * Single samples, not under --check (its checks run at each step end).
 * The tests that need no pass over the batch; the caller adds the
 * batch's order and holds from merge_scan_batch. */
static bool through_ok(const sim_replica *r)
{
    return !r->cfg->check && r->cfg->max_concurrency == 0 && r->cfg->n_samples == 1 &&
           sim_rep_waiting(r) == 0 && r->batch.n == r->nrunning;
}

/* sim_merge_steps' final pass's sums (its locals). */
typedef struct final_pass_t {
    uint32_t finished;
    uint64_t used_sum, need;
#ifndef NDEBUG
    uint64_t used_check, need_check;
#endif
} final_pass_t;

/* sim_merge_steps' final pass over the batch (its statements), SINGLE and
 * NEED_EACH constants where the caller gives them. */
static inline __attribute__((always_inline)) void
final_pass(sim_replica *r, kv_alloc *kv, const uint32_t *final_req, uint32_t final_n,
           sim_req *final_pool, uint64_t final_stamp, uint32_t adv, int64_t last_ns, bool pre_pass,
           bool single, bool need_each, bool stamps, final_pass_t *fp)
{
    uint32_t finished = fp->finished;
    uint64_t used_sum = fp->used_sum, need = fp->need;
#ifndef NDEBUG
    uint64_t used_check = fp->used_check, need_check = fp->need_check;
#else
    (void)pre_pass;
#endif
    /* Four entries an iteration (the loop's count and test were a
     * tenth of the pass). */
#pragma GCC unroll 4
    for (uint32_t n = 0; n < final_n; n++) {
        sim_req *q = &final_pool[final_req[n]];
        assert(q == sim_rep_req(r, r->batch.req[n]));
        q->computed = merge_base(q) + adv;
        q->generated += adv;
        bool ends_now = q->generated >= q->output && !q->hold;
        if (ends_now && finished < 8)
            r->mc_fin[finished] = &q->seq;
        finished += ends_now;
#ifndef NDEBUG
        used_check = used_check - q->seq.used_tokens + q->computed;
#endif
        if (single)
            q->seq.used_tokens = q->computed;
        else
            sim_step_set_used(kv, &q->seq, q->computed, &used_sum);
        q->last_token_ns = last_ns;
        if (stamps)
            q->stamp = final_stamp;
#ifndef NDEBUG
        if (pre_pass && !ends_now && q->computed + 1 > q->seq.cap_tokens) {
            uint64_t b = kv_grow_bytes(kv, &q->seq, q->computed + 1);
            need_check = b > UINT64_MAX - need_check ? UINT64_MAX : need_check + b;
        }
#endif
        if (need_each && !ends_now && q->computed + 1 > q->seq.cap_tokens) {
            uint64_t b = kv_grow_bytes(kv, &q->seq, q->computed + 1);
            need = b > UINT64_MAX - need ? UINT64_MAX : need + b;
        }
    }
    fp->finished = finished;
    fp->used_sum = used_sum;
    fp->need = need;
#ifndef NDEBUG
    fp->used_check = used_check;
    fp->need_check = need_check;
#endif
}

int sim_merge_steps(sim_replica *r, int64_t *end_io)
{
    int64_t end_ns = *end_io;
    if (!(end_ns < r->merge_limit_ns))
        return 0;
    kv_alloc *kv = r->kv;
    if (!merge_decode_room(r, 0, false))
        return 0; /* vllm-v0's next decode check fails */
    /* A head the strategy accepted but its layout refused (jemalloc): the
     * attempt, made again at every step, may change the strategy's state
     * (a purge, metadata). */
    if (r->head_blocked &&
        kv_can_admit(kv, &sim_rep_req(r, r->head_req)->seq, r->head_need_tokens) == KV_OK)
        return 0;
    int grows = merge_growth_rule(r);
    uint64_t used_step = 0;
    uint32_t next = UINT32_MAX, ngrow = 0, nprompt = 0;
    /* The batch's first entries whose last steps the pass noted in
     * r->merge_last (its known decodes, as merge_bound takes them). */
    const uint32_t noted = r->pass_known <= r->batch.n ? r->pass_known : 0;
    uint32_t bound = merge_bound(r, grows, &used_step, &next, &nprompt);
    if (bound == 0)
        return 0;
    /* Through completions when the growths allow: none, or uniform over
     * each entry's life; and the batch in the running set's order, none
     * held (static batching holds an ended request). With prompts ending
     * in the first step, the steps after it grow in the running set's
     * order (every entry a decode): the batch's must be that order
     * (decodes first can put the prompt last). */
    bool through = through_ok(r);
    merge_scan scan;
    scan.in_order = scan.held = scan.gaps_ok = false;
    scan.ctx2 = scan.used_base = 0;
    scan.nruns = scan.nfirst = 0;
    if (through || nprompt > 0)
        merge_scan_batch(r, end_ns, &scan);
    through = through && scan.in_order && !scan.held;
    if (nprompt > 0 && !scan.in_order)
        return 0;
    merge_growths g;
    if (!merge_growths_init(r, &g, grows, bound, next, &through, nprompt))
        return 0;
    /* The sum of merge_base over the batch (and the used tokens of the
     * running requests outside it): used tokens at step J's end are this
     * plus J x USED_STEP. Ended requests are taken out of it. */
    uint64_t used0 = kv->totals.used_tokens;
    /* The second step's shape: every entry a decode (the first step's
     * advanced, or with prompts ending in it, built anew). */
    sim_batch_shape shape2 = r->batch.shape;
    if (nprompt > 0) { /* merge_bound's sums over the batch */
        memset(&shape2, 0, sizeof(shape2));
        used0 += scan.used_base;
        shape2.decode_seqs = r->batch.n;
        shape2.decode_ctx_tokens = scan.ctx2;
    } else {
        shape2.decode_ctx_tokens += (uint64_t)r->batch.n * r->cfg->n_samples; /* batch_advance */
    }
    const uint64_t bpt = kv->cfg.bytes_per_token;
    uint32_t sampled = r->batch.n * r->cfg->n_samples;
    const bool observed = sim_step_observed(r);
    /* Steps for on_steps (O.N of them), where the observer takes it. */
    const bool batched = observed && r->obs->on_steps != NULL;
    merge_obs obs_buf;
    obs_buf.n = 0;
    kv_breakdown mem0 = r->step.mem; /* the first step's, its head's need included */
    kv_breakdown after0, after;
    /* The breakdown without the head's need after the last growths or
     * ends: MEM0 itself where the head needs nothing. */
    const kv_breakdown *after_base = &after0;
    if (observed)
        kv_get_breakdown(kv, 0, &after0);
    int64_t start_ns = r->now_ns;
    /* The steps' price: sim_step_cost, through the run's constant parts
     * where it comes to sim_cost_step_s (no measured profile, no swap:
     * steady steps swap nothing), the same to the last bit. */
    sim_cost_run price, price_after;
    bool priced = r->cfg->step_profile == NULL && r->batch.swap_in_bytes == 0 &&
                  r->batch.swap_out_bytes == 0 &&
                  sim_cost_run_memo_init(&r->cost, &r->cost_memo, &shape2, &price);
    /* After the first ends: the entries whose last step is BOUND, their
     * count and their merge_base sum (no pass over the batch to find
     * them at the next ends). */
    bool bound_known = false;
    uint32_t bound_n = 0;
    uint64_t bound_base = 0;
    /* The run's first ends' scan, made where their count is wanted and
     * taken up by the ends' pass (ENDS_SCANNED). */
    merge_ends ends_scan;
    bool ends_scanned = false;
    /* Whether r->merge_last is in order, once the first ends filled it. */
    bool last_sorted = false, last_known = false;
    /* Uniform growths where no head is blocked and any growth may be
     * made: due and made here, MEM0 kept by arithmetic between ends. */
    const bool fast_grow = g.unit != 0 && !r->head_blocked && g.rule == MERGE_GROW_ANY;
    /* Uniform classes over each entry's life (the next run's r->pre_pass_unit). */
    const bool life_classes = through && g.unit != 0;
    const uint64_t reserve = (uint64_t)r->cfg->n_samples * r->block_bytes;
    uint64_t ctx_step = (uint64_t)r->batch.n * r->cfg->n_samples; /* the shape's context a step */
    /* Plain steps by merge_plain_steps. */
    const bool plain = batched && fast_grow && priced;
    uint32_t k = 1; /* steps in the run; the last starts at START_NS, ends at END_NS */
    while (end_ns < r->merge_limit_ns) {
        if (plain && k > 1 && k != bound && r->head_need_bytes == 0) {
            merge_plain mp = {.k = k,
                              .bound = bound,
                              .sampled = sampled,
                              .start_ns = start_ns,
                              .end_ns = end_ns,
                              .used0 = used0,
                              .used_step = used_step,
                              .ctx_step = ctx_step,
                              .reserve = reserve,
                              .mem0 = &mem0,
                              .g = &g,
                              .price = &price,
                              .obs = &obs_buf};
            bool ok = merge_plain_steps(r, &mp);
            k = mp.k;
            start_ns = mp.start_ns;
            end_ns = mp.end_ns;
            if (mp.grown)
                after_base = &mem0;
            if (!ok)
                break;
            continue;
        }
        /* Step k ends requests (through_ok): the next step is the batch
         * without them. */
        bool ends = k == bound;
        uint32_t nend = 0;
        uint64_t end_ctx = 0, end_used = 0;
        if (ends) {
            if (!through)
                break;
            if (bound_known) { /* found as the last ends were taken out */
                nend = bound_n;
                end_used = bound_base;
            } else {
                /* The run's first ends: the last steps the pass did not
                 * note into r->merge_last, then the scan the ends' pass
                 * below takes up. */
                uint32_t *const last = r->merge_last;
                /* In order where the pass found its notes so and the
                 * others follow them in order (merge_ends_sorted). */
                bool in_order = noted > 0 && r->pass_last_sorted;
                for (uint32_t n = noted; n < r->batch.n; n++) {
                    last[n] = merge_last_step(sim_rep_req(r, r->batch.req[n]));
                    in_order = in_order && last[n] >= last[n - 1];
                }
                if (in_order)
                    merge_ends_sorted(last, r->batch.req, r->pool->v, r->batch.n, k, &ends_scan);
                else
                    merge_ends_scan(last, r->batch.req, r->pool->v, r->batch.n, k, &ends_scan);
                last_sorted = ends_scan.sorted;
                last_known = true;
                ends_scanned = true;
                nend = ends_scan.nend;
                end_used = ends_scan.end_used;
            }
            end_ctx = end_used + (uint64_t)nend * (k + 1); /* merge_base + k + 1 each */
            if (nend == r->batch.n)
                break; /* nothing runs after it */
        }
        /* Step k + 1, starting before the limit, priced and its growths
         * checked first: a price the step loop would refuse, an end at the
         * limit (an arrival queued after this event would pop after it),
         * growths the free space may not cover, are left to the step
         * loop. The limit may fall inside it: what comes then (arrivals)
         * reads nothing the rest of the step changes. */
        /* The shape as it was, for a break: at step 1 all of it, after it
         * the two fields that move (sim_rep_batch_advance's, the ends'). */
        sim_batch_shape shape;
        if (k == 1) {
            shape = r->batch.shape;
            r->batch.shape = shape2;
        } else { /* sim_rep_batch_advance */
            shape.decode_seqs = r->batch.shape.decode_seqs;
            shape.decode_ctx_tokens = r->batch.shape.decode_ctx_tokens;
            r->batch.shape.decode_ctx_tokens += ctx_step;
        }
        const sim_cost_run *pr = &price;
        if (ends) {
            r->batch.shape.decode_seqs -= nend;
            r->batch.shape.decode_ctx_tokens -= end_ctx;
            if (priced &&
                !sim_cost_run_memo_init(&r->cost, &r->cost_memo, &r->batch.shape, &price_after)) {
                merge_shape_back(r, &shape, k);
                break;
            }
            pr = &price_after;
        }
        unsigned outside = 0;
        double dur_s =
            priced ? sim_cost_run_ctx_s(&r->cost, pr, &r->fa_memo, r->batch.shape.decode_ctx_tokens)
                   : sim_step_cost(r, &outside);
#ifndef NDEBUG
        if (priced) { /* the shape's run, and sim_cost_run_step_s's assertions */
            double check = sim_cost_run_step_s(&r->cost, pr, &r->batch.shape);
            assert(memcmp(&check, &dur_s, sizeof(check)) == 0);
        }
#endif
        int64_t dur_ns = dur_s < SIM_MAX_STEP_S ? sim_round_ns(dur_s) : 0;
        if (dur_ns < 1)
            dur_ns = 1;
        bool go = dur_s < SIM_MAX_STEP_S && end_ns <= INT64_MAX / 2 - dur_ns &&
                  end_ns + dur_ns != r->merge_limit_ns;
        if (fast_grow) {
            /* merge_growths_due's uniform classes, the room from MEM0
             * (merge_decode_room's free space: the head needs nothing,
             * so nothing of it is external or blocked). */
            g.cls = g.cls + 1 >= g.unit ? 0 : g.cls + 1; /* (k + 1) % unit; unit 1: 0 */
            ngrow = g.off[g.cls + 1] - g.off[g.cls];
            for (uint32_t j = g.off[g.cls]; ends && j < g.off[g.cls + 1]; j++)
                ngrow -= merge_last_step(merge_seq_req(r->merge_seqs[j])) == k;
            if (go && ngrow > 0) {
                uint64_t need = ngrow * g.gu.bytes;
                go = need <= mem0.free && mem0.free - need >= reserve;
                assert(go == merge_decode_room(r, need, false));
            }
        } else {
            go = merge_growths_due(r, &g, k, ends, go, &ngrow);
        }
        if (!go) {
            merge_shape_back(r, &shape, k);
            break;
        }
        /* Step k ends. */
        uint64_t used_end = used0 + k * used_step;
        r->now_ns = end_ns;
        if (batched && k > 1 && !ends && r->head_need_bytes == 0) {
            /* Its record and gaps to on_steps: R->step as it stands (the
             * run's steps since the last flush share it), the rest here
             * (sim_step_report_gaps, kv_breakdown_at_used's two fields). */
            if (obs_buf.n == MERGE_OBS_BUF)
                obs_flush(r, &obs_buf);
            r->step.output_tokens = sampled;
            obs_buf.gap_count = r->obs->on_token_gaps != NULL ? sampled : 0;
            sim_step_var *v = &obs_buf.v[obs_buf.n++];
            const kv_totals *t = &kv->totals;
            uint64_t used = used_end - t->dup_tokens, useful = t->useful_tokens - t->dup_tokens;
            v->start_ns = start_ns;
            v->end_ns = end_ns;
            v->used_at_end_bytes = used * bpt;
            v->after_token_states = used * bpt;
            v->after_reservation = (useful - used) * bpt;
            v->mem = r->step.mem;
#ifndef NDEBUG
            kv_breakdown_at_used(kv, after_base, used_end, &after);
            after.token_states = r->step.mem.token_states;
            after.reservation = r->step.mem.reservation;
            assert(memcmp(&after, &r->step.mem, sizeof(after)) == 0);
#endif
            goto stepped;
        }
        if (batched)
            obs_flush(r, &obs_buf);
        if (k == 1 && scan.gaps_ok)
            first_step_gaps_scanned(r, &scan);
        else if (k == 1)
            first_step_gaps(r);
        else
            sim_step_report_gaps(r, end_ns - start_ns, sampled);
        r->step.output_tokens = sampled;
        r->step.used_at_end_bytes = (used_end - kv->totals.dup_tokens) * bpt;
        if (ends) {
            /* As sim_step_end ends them, in the running set's order (the
             * batch's): each brought to its last token, then finished. */
            /* The next bound (the first last step of those kept), and
             * the count and merge_base sum of the entries ending there. */
            uint32_t keep = 0;
            /* The batch, the running set and the pool in registers (the
             * stores below could alias their fields otherwise; the
             * finishes move none of them, the pool's table re-read). */
            uint32_t *const ends_req = r->batch.req, *const ends_run = r->running,
                            *const ends_last = r->merge_last;
            const uint32_t ends_n = r->batch.n;
            sim_req *ends_pool = r->pool->v;
            /* The entries kept: the next bound from their last steps
             * (r->merge_last, filled at the run's first ends); the entries
             * ending now (up to MERGE_ENDS_AT of them) by position: the
             * first ends' scan, or one made now. */
            if (!ends_scanned && last_sorted) /* still in order: entries only left it */
                merge_ends_sorted(ends_last, ends_req, ends_pool, ends_n, k, &ends_scan);
            else if (!ends_scanned)
                merge_ends_scan(ends_last, ends_req, ends_pool, ends_n, k, &ends_scan);
            last_sorted = ends_scan.sorted;
            ends_scanned = false;
            const uint32_t *const at = ends_scan.at, nat = ends_scan.nend;
            assert(nat == nend);
            bound = ends_scan.bound;
            bound_n = ends_scan.bound_n;
            bound_base = ends_scan.bound_base;
            /* Those ending finished in the running set's order (the
             * batch's), the stretch of kept entries after each moved down
             * over it (every entry's tokens are 1 after step 1); with
             * more than MERGE_ENDS_AT, entry by entry. */
            const bool by_at = nat <= MERGE_ENDS_AT;
            if (by_at)
                keep = nat > 0 ? at[0] : ends_n;
            for (uint32_t j = 0, n = 0; by_at ? j < nat : n < ends_n; j++, n++) {
                if (by_at) {
                    n = at[j];
                } else if (ends_last[n] != k) {
                    ends_req[keep] = ends_req[n];
                    ends_run[keep] = ends_run[n];
                    ends_last[keep++] = ends_last[n];
                    continue;
                }
                uint32_t i = ends_req[n];
                sim_req *q = &ends_pool[i];
                assert(merge_last_step(q) == k);
                if (by_at) { /* the kept stretch after it, down to KEEP */
                    uint32_t from = n + 1, to = j + 1 < nat ? at[j + 1] : ends_n;
                    memmove(ends_req + keep, ends_req + from, (to - from) * sizeof(uint32_t));
                    memmove(ends_run + keep, ends_run + from, (to - from) * sizeof(uint32_t));
                    memmove(ends_last + keep, ends_last + from, (to - from) * sizeof(uint32_t));
                    keep += to - from;
                }
                const uint32_t base = merge_base(q);
                q->computed = base + k;
                q->generated += k;
                kv_set_used(kv, &q->seq, q->computed);
                q->last_token_ns = end_ns;
                /* Its class, where it has one: its first growth in the
                 * run, cap_tokens - base + 1, modulo the unit (its growths
                 * moved cap_tokens by whole units). */
                merge_growths_end(r, &g, &q->seq, (uint64_t)q->seq.cap_tokens + 1 - base);
                r->running_seqs -= r->cfg->n_samples;
                sim_rep_finish(r, i, SIM_REQ_COMPLETED, SIM_REJECT_NONE);
                ends_pool = r->pool->v;
                assert(ends_req == r->batch.req && ends_run == r->running && ends_n == r->batch.n);
            }
            r->batch.n = r->nrunning = keep;
            ctx_step = (uint64_t)keep * r->cfg->n_samples;
            used0 -= end_used;
            used_step -= nend;
            used_end = used0 + k * used_step;
            sampled = keep * r->cfg->n_samples;
            bound_known = true;
            if (priced)
                price = price_after;
            if (observed)
                kv_get_breakdown(kv, 0, &after0);
            after_base = &after0;
        }
        if (observed) {
            kv_breakdown_at_used(kv, after_base, used_end, &after);
            sim_step_observe(r, &after);
        }
    stepped:
        r->res->events++; /* the step-by-step run's event */
        r->res->merged_steps++;
        /* Step k + 1 starts: its pass grows the sequences that need it, in
         * its order, each with its KV written up to its context. */
        kv_tick(kv);
        r->stamp++;
        if (fast_grow) {
            if (ngrow > 0) { /* kv_grow_units, used tokens set at the run's end */
                kv->totals.useful_tokens +=
                    kv->ops->grow_units(kv, r->merge_seqs + g.off[g.cls], ngrow);
                kv->totals.alloc_bytes += ngrow * g.gu.bytes;
            }
            if (ngrow > 0 && !ends) {
                /* kv_get_breakdown(kv, 0, &mem0) after the growths: each
                 * unit took a block of the free space (the strategy's own
                 * or a cached one), which stays one extent (paged, the one
                 * strategy with uniform growths). */
                const kv_totals *t = &kv->totals;
                mem0.reservation = (t->useful_tokens - t->used_tokens) * bpt;
                mem0.internal_frag =
                    kv_allocated_bytes(kv) - (t->useful_tokens - t->dup_tokens) * bpt;
                mem0.free -= ngrow * g.gu.bytes;
#ifndef NDEBUG
                kv_breakdown fresh;
                kv_get_breakdown(kv, 0, &fresh);
                assert(memcmp(&fresh, &mem0, sizeof(fresh)) == 0);
#endif
                after_base = &mem0;
                ngrow = 0; /* done: the general case below is for ends */
            }
        } else if (merge_growths_apply(r, &g, k, ngrow, bound) != 0) {
            if (batched)
                obs_flush(r, &obs_buf);
            return -1;
        }
        if (ngrow > 0 || ends) {
            if (r->head_blocked) {
                const kv_seq *h = &sim_rep_req(r, r->head_req)->seq;
                assert(kv_can_admit(kv, h, r->head_need_tokens) != KV_OK);
                r->head_need_bytes = kv_need_bytes(kv, h, r->head_need_tokens);
            }
            kv_get_breakdown(kv, r->head_need_bytes, &mem0);
            after_base = r->head_need_bytes == 0 ? &mem0 : &after0;
            if (observed && r->head_need_bytes != 0)
                kv_get_breakdown(kv, 0, &after0);
        }
        r->step.start_s = to_s(end_ns);
        if (k == 1 && nprompt > 0) { /* the record of a step of decodes */
            if (scan.gaps_ok)        /* the prompts' entries, found by the scan */
                for (uint32_t j = 0; j < scan.nfirst; j++)
                    r->batch.tokens[scan.first[j]] = 1;
            else
                for (uint32_t n = 0; n < r->batch.n; n++)
                    r->batch.tokens[n] = 1;
            r->step.prefill_seqs = 0;
            r->step.prefill_tokens = 0;
            r->step.decode_seqs = r->batch.shape.decode_seqs;
        }
        if (ends) { /* the record of a step without them */
            r->step.decode_seqs = r->batch.shape.decode_seqs;
            r->step.running = r->running_seqs;
        }
        kv_breakdown_at_used(kv, &mem0, used_end, &r->step.mem);
        if (priced) {
            /* sim_step_account's sums for a step that repeats the one
             * before but for its context: no maximum moves, nothing
             * speculated or prefilled, the run's all-reduce time; the
             * step's time as the clock runs it (sim_step_start). */
            r->res->busy_s += (double)dur_ns / 1e9;
            r->res->steps++;
            r->stats->busy_s += (double)dur_ns / 1e9;
            r->stats->steps++;
            r->res->allreduce_s += price.allreduce_s;
        } else
            sim_step_account(r, (double)dur_ns / 1e9, outside);
        start_ns = end_ns;
        end_ns += dur_ns;
        k++;
    }
    if (batched)
        obs_flush(r, &obs_buf);
    if (k == 1)
        return 0;
    /* The requests at the last step's start: k - 1 tokens more each, the
     * latest sampled at its start, in the batch of its pass. Or, outside
     * --check, at its end (what sim_step_end's pass over the batch would
     * make them: a token more each, every one a decode that samples it,
     * at END_NS): nothing reads them before (an arrival during the step
     * reads only the queue and the pool's size, see sim/merge.h), and
     * sim_step_end reports the step without that pass (r->pre_ended). */
    /* Whether the batch's last steps are in order (r->merge_last, filled
     * at the first ends, else here for the entries the pass did not
     * note), for the next pass (r->end_last_sorted). */
    bool end_sorted = last_sorted;
    if (!last_known) {
        uint32_t *const last = r->merge_last;
        end_sorted = noted > 0 && r->pass_last_sorted;
        for (uint32_t n = noted; end_sorted && n < r->batch.n; n++) {
            last[n] = merge_last_step(sim_rep_req(r, r->batch.req[n]));
            end_sorted = last[n] >= last[n - 1];
        }
    }
    const bool pre = !r->cfg->check;
    const uint32_t adv = pre ? k : k - 1;
    r->end_last_sorted = end_sorted;
    r->end_adv = adv;
    const int64_t last_ns = pre ? end_ns : start_ns;
    uint32_t finished = 0;
    /* With the batch the running set in its order and none held (the
     * run's through_ok and scan), the next pass's running requests too:
     * those not finished, each a one-token decode, and the growths among
     * them (r->pre_pass). */
    const bool pre_pass = pre && through_ok(r) && scan.in_order && !scan.held;
    /* The growths among them: with life classes, the class of the run's
     * step K + 1 less its requests finished at step K (a block each);
     * else found entry by entry. */
    uint64_t need = 0;
    const bool need_each = pre_pass && !life_classes;
    if (pre_pass && life_classes) {
        uint32_t c = (uint32_t)((k + 1 + (uint64_t)g.rot) % g.unit), m = 0;
        for (uint32_t j = g.off[c]; j < g.off[c + 1]; j++)
            m += merge_last_step(merge_seq_req(r->merge_seqs[j])) != k;
        need = m * g.gu.bytes;
    }
    /* Every entry one sequence (the used tokens' step, the sum of their
     * samples, is the batch's size): the used tokens' sum is
     * kv_set_used's without the pass (the assertion below). */
    const bool single = used_step == r->batch.n;
    uint64_t used_sum = kv->totals.used_tokens; /* kv_set_used's sum, in a register */
#ifndef NDEBUG
    uint64_t need_check = 0, used_check = used_sum;
#endif
    /* The batch, the pool and the stamp in registers (the stores through
     * Q could alias them otherwise; nothing below moves them). */
    const uint32_t *const final_req = r->batch.req, final_n = r->batch.n;
    sim_req *const final_pool = r->pool->v;
    const uint64_t final_stamp = r->stamp;
    final_pass_t fp = {.finished = finished, .used_sum = used_sum, .need = need};
#ifndef NDEBUG
    fp.used_check = used_check;
    fp.need_check = need_check;
#endif
    /* The stamps of the last step's pass: read only under --check (its
     * rebuilt shape below); otherwise a later pass reads any older stamp
     * as it would read this one (not its own), as it does for a run's
     * steps in between, and merge_bound takes the carried pass's known
     * decodes as in the batch (r->pass_unstamped). */
    if (single && !need_each && pre) /* most runs: the loop without their tests */
        final_pass(r, kv, final_req, final_n, final_pool, final_stamp, adv, last_ns, pre_pass, true,
                   false, false, &fp);
    else
        final_pass(r, kv, final_req, final_n, final_pool, final_stamp, adv, last_ns, pre_pass,
                   single, need_each, !pre, &fp);
    finished = fp.finished;
    used_sum = fp.used_sum;
    need = fp.need;
#ifndef NDEBUG
    used_check = fp.used_check;
    need_check = fp.need_check;
#endif
    kv->totals.used_tokens = single ? used0 + adv * used_step : used_sum;
    assert(kv->totals.used_tokens == used0 + adv * used_step);
    assert(!single || used_check == kv->totals.used_tokens);
    assert(!pre_pass || need_check == need);
    r->pre_ended = pre;
    r->pre_finished = finished;
    r->pre_gap_ns = end_ns - start_ns;
    r->pre_pass = pre_pass && r->batch.n > finished;
    r->pre_pass_unit = life_classes;
    if (life_classes && r->pre_pass && finished <= 8) /* for carry_classes */
        merge_classes_keep(r, &g, k, finished);
    r->pre_gu = g.gu;
    r->pre_pass_n = r->batch.n - finished;
    r->pre_pass_need = need;
    /* The next pass's context: the last step's shape's is the sum of the
     * batch's computed tokens as the final pass left them (each entry one
     * sample, a decode at that step, through_ok), less those finished
     * (their sequences in r->mc_fin, up to 8), plus one for each left. */
    r->pre_ctx_known = r->pre_pass && finished <= 8;
    if (r->pre_ctx_known) {
        uint64_t ctx = r->batch.shape.decode_ctx_tokens + (r->batch.n - finished);
        for (uint32_t j = 0; j < finished; j++)
            ctx -= merge_seq_req(r->mc_fin[j])->computed;
        r->pre_pass_ctx = ctx;
    }
    r->now_ns = start_ns;
    sim_rep_check(r, "merged steps");
    if (r->cfg->check) {
        /* The advanced shape is the one the pass would build. */
        sim_batch_shape fresh;
        sim_rep_decode_shape(r, &fresh);
        if (memcmp(&fresh, &r->batch.shape, sizeof(fresh)) != 0) {
            fprintf(stderr,
                    "kvsim: BUG: merged step at t=%.9f s: shape advanced to %llu context "
                    "tokens, the pass would build %llu\n",
                    to_s(start_ns), (unsigned long long)r->batch.shape.decode_ctx_tokens,
                    (unsigned long long)fresh.decode_ctx_tokens);
            abort();
        }
    }
    *end_io = end_ns;
    return 0;
}
