/*
 * merge.h: a run of identical decode steps as one event.
 *
 * Most steps of a long decode differ from the previous one only in each
 * sequence's context length. Once a step has started, the steps after it
 * are identical to it but for those lengths as long as:
 *   - its scheduling pass admitted, preempted, rejected, ended and swapped
 *     nothing (r->batch.steady), and built a batch of one-token decodes of
 *     every running request (static batching's finished requests pad it);
 *     or, where nothing waits after the pass (r->batch.admits, or steady),
 *     some entries are the chunks that end their requests' prompts (one
 *     sample, the batch in the running set's order, growths uniform or
 *     none): their first tokens come at the first step's end, and each
 *     step after it is a decode of every entry (the pass after it admits
 *     nothing);
 *     no speculative decoding (its acceptance draws random numbers), no
 *     pipeline parallelism (its stages are shared between virtual
 *     engines), a single virtual engine in the run;
 *   - no request completes before the last of them (the step that samples
 *     a request's last token is the last one merged), or, where the pass
 *     after such a step is known (the batch is the whole running set in
 *     its order, nothing waits, an ended request sends nothing: open loop,
 *     no static batching's hold, one sample, growths none or uniform over
 *     each request's life), the run goes on: the ended requests are
 *     finished at that step's end as sim_step_end finishes them (brought
 *     to their last token, in the running set's order, before the step is
 *     observed), and the next step is the batch without them, priced on
 *     its own shape;
 *   - a sequence's growth past the capacity it holds (cap_tokens: each
 *     strategy's own answer to "how many appends before an allocation":
 *     the next block, page, reservation end or size class; below it
 *     kv_grow is a no-op) happens in a merged step only when the strategy
 *     promises how much free space it takes and that it then succeeds
 *     (kv_grow_bytes: paged, vattn), the free space covers every growth of
 *     the step with a block per sample to spare (vllm-v0's decode check),
 *     and no waiting request could be admitted whatever the memory (none
 *     waits, or max_num_seqs run); the growths are made in the
 *     scheduler's order, at the same epoch, on the same sequence state;
 *     otherwise the steps stop before the first growth;
 *   - every merged step but the last ends before the next other event
 *     (an arrival, queued or about to be) and the last does not end at
 *     it, so nothing else reads or changes the state in between (an
 *     arrival during the last step reads only the queue and the pool's
 *     size, which the step does not change), observers see their calls
 *     in the same order, and no tie between equal times is broken
 *     differently.
 * Each merged step is still priced by sim_step_cost on its own shape (the
 * batch's shape advanced by one token per decode per step), its clock
 * advanced in integer nanoseconds as the step loop does, its figures and
 * observer calls made as the step loop makes them, in the same order with
 * the same floating-point operations, so the results are identical byte
 * for byte to the step-by-step run (--no-merge-steps, the identity test
 * in tests/test_merge.c). What merging saves is the per-sequence work: a
 * merged event costs O(running requests) once, and at each step that
 * ends requests, plus O(1) per step and O(1) per growth (about one per
 * block of tokens of each sequence: classes of uniform growths or a
 * calendar of the growths by step, not a scan of the batch). Outside
 * --check the run also brings its requests to its last step's end, which
 * sim_step_end reports without its pass over the batch (r->pre_ended: an
 * arrival in between reads only the queue and the pool's size), and where
 * it goes through completions it leaves the next step what it knows: the
 * running requests, each a one-token decode in order, which the budget
 * scheduler's pass takes without its tests where the free space covers
 * their growths (r->pre_pass, r->pass_known), the scan and merge_bound
 * likewise, and its uniform classes, which the next run carries over
 * (carry_classes in sim/merge_grow.c). Debug builds assert each such fact
 * against the computation it replaces.
 */
#ifndef KVSIM_SIM_MERGE_H
#define KVSIM_SIM_MERGE_H

#include <assert.h>
#include <stdint.h>

#include "sim/replica.h"

/* For merge_bound (sim/merge.c), where the pass takes r->pre_pass: batch
 * entry K is request Q, one of those decodes, its KV grown for its next
 * token: its first growth step in a run started now (r->merge_next[K]),
 * its last step, and the sums of them (r->known_*, r->mc_stop for those
 * that grow no more in their lives); the pass starts them with
 * sim_merge_known_start. */
/* The calendar's width (MERGE_CAL_W in sim/merge_int.h), the most
 * tokens of a uniform growth unit. */
enum { MERGE_CARRY_W = 64 };

typedef struct sim_merge_known {
    uint32_t bound, first_min, n2, nstop;
    uint64_t need2;
    uint32_t *next, *last; /* r->merge_next and r->merge_last, in registers */
} sim_merge_known;

static inline void sim_merge_known_start(sim_merge_known *kn, sim_replica *r)
{
    kn->next = r->merge_next;
    kn->last = r->merge_last;
    kn->bound = kn->first_min = UINT32_MAX;
    kn->n2 = kn->nstop = 0;
    kn->need2 = 0;
}

/* sim_merge_note_known with FIRST, the entry's first growth step
 * (cap_tokens - computed + 1: 1 where its next token needs a growth),
 * computed by the caller. */
static inline void sim_merge_note_first(sim_replica *r, sim_merge_known *kn, uint32_t k,
                                        const sim_req *q, uint64_t unit_bytes, uint32_t first)
{
    const kv_seq *s = &q->seq;
    uint32_t left = q->output - q->generated;
    assert(first == s->cap_tokens - q->computed + 1);
    kn->next[k] = first;
    kn->last[k] = left;
    kn->bound = left < kn->bound ? left : kn->bound;
    kn->first_min = first < kn->first_min ? first : kn->first_min;
    assert(s->samples == r->cfg->n_samples); /* sim_merge_known_end's growth */
    if (first == 2) {
        /* UNIT_BYTES (not 0): the entry's growths in its life are units
         * of that many bytes (the last run's life classes held it,
         * kv_grow_uniform's promise); this one is in its life where
         * first <= left. */
        uint64_t nb = unit_bytes != 0 && first <= left ? unit_bytes
                                                       : kv_grow_bytes(r->kv, s, q->computed + 2);
        assert(nb == kv_grow_bytes(r->kv, s, q->computed + 2));
        kn->n2++;
        kn->need2 = nb > UINT64_MAX - kn->need2 ? UINT64_MAX : kn->need2 + nb;
    }
    if (first > left) {
        if (kn->nstop < 8)
            r->mc_stop[kn->nstop] = k;
        kn->nstop++;
    }
}

static inline void sim_merge_note_known(sim_replica *r, sim_merge_known *kn, uint32_t k,
                                        const sim_req *q, uint64_t unit_bytes)
{
    sim_merge_note_first(r, kn, k, q, unit_bytes, q->seq.cap_tokens - q->computed + 1);
}

/* The sums of the notes in KN, of N entries, into R: the sequences they
 * hold, N x the samples of each (a request's sequence holds the
 * configuration's, sim_rep_make_request). */
static inline void sim_merge_known_end(sim_replica *r, const sim_merge_known *kn, uint32_t n)
{
    const uint64_t samples = r->cfg->n_samples;
    r->known_bound = kn->bound;
    r->known_first_min = kn->first_min;
    r->known_n2 = kn->n2;
    r->known_need2 = kn->need2;
    r->known_growth = (uint64_t)n * (samples > 1 ? samples : 1);
    r->mc_nstop = kn->nstop;
}

/* The pass's notes carried from the last run's life classes (the pass
 * takes r->pre_pass with r->pre_pass_unit, sim/merge_grow.c): where that
 * run kept its classes (r->mc_valid, the pool's array unmoved, a unit of
 * two tokens or more, single samples), the pass writes each decode's last
 * step (r->merge_last) and the least of them, and looks closer only at
 * the entries within a unit and a step of their last token
 * (sim_merge_carry_near_end: those growing no more in their lives, r->mc_stop);
 * the growths it makes (those whose next token needs a block: the class
 * of the run's next step, less the requests its last step finished) and
 * the sums merge_bound takes come from the classes (sim_merge_carry_end),
 * and r->merge_next is left for merge_growths_init to fill where it needs
 * it (r->pass_next_lazy). */
typedef struct sim_merge_carry {
    uint32_t unit, rot, nstop, xn2;
    uint64_t xneed2;
    uint32_t stop_in[MERGE_CARRY_W]; /* per old class: growing no more */
} sim_merge_carry;

/* Whether R's pass can take its notes from the last run's classes. */
bool sim_merge_carry_ok(const sim_replica *r);

/* Starts C for R's pass. */
void sim_merge_carry_start(sim_replica *r, sim_merge_carry *c);

/* Entry K, request Q, whose last step LEFT is within a unit and a step:
 * whether it grows no more in its life (noted in r->mc_stop). */
void sim_merge_carry_near_end(sim_replica *r, sim_merge_carry *c, uint32_t k, const sim_req *q,
                              uint32_t left);

/* The growths the pass makes (their sequences in order: *SEQS, *N). */
void sim_merge_carry_growths(sim_replica *r, kv_seq ***seqs, uint32_t *n);

/* The sums of the pass's N decodes, BOUND the least of their last steps,
 * into R (as sim_merge_known_end leaves them, but for known_first_min:
 * the least first growth step of the entries that grow in their lives,
 * which merge_bound takes alike). */
void sim_merge_carry_end(sim_replica *r, const sim_merge_carry *c, uint32_t bound, uint32_t n);

#ifndef NDEBUG
/* Asserts that the carried notes of the pass's NRUN decodes RUN (grown)
 * are those sim_merge_note_known would make of them: r->merge_last, the
 * sums (known_first_min over those growing in their lives), r->mc_stop. */
static inline void sim_merge_carry_check(sim_replica *r, const uint32_t *run, uint32_t nrun,
                                         uint64_t unit_bytes)
{
    uint32_t bound = UINT32_MAX, fmin = UINT32_MAX, n2 = 0, nstop = 0;
    uint64_t need2 = 0;
    for (uint32_t k = 0; k < nrun; k++) {
        const sim_req *q = sim_rep_req(r, run[k]);
        const kv_seq *s = &q->seq;
        uint32_t first = s->cap_tokens - q->computed + 1, left = q->output - q->generated;
        assert(r->merge_last[k] == left && first >= 2);
        bound = left < bound ? left : bound;
        if (first <= left)
            fmin = first < fmin ? first : fmin;
        if (first == 2) {
            uint64_t nb = unit_bytes != 0 && first <= left
                              ? unit_bytes
                              : kv_grow_bytes(r->kv, s, q->computed + 2);
            assert(nb == kv_grow_bytes(r->kv, s, q->computed + 2));
            n2++;
            need2 = nb > UINT64_MAX - need2 ? UINT64_MAX : need2 + nb;
        }
        if (first > left) {
            assert(nstop >= 8 || r->mc_stop[nstop] == k);
            nstop++;
        }
    }
    assert(bound == r->known_bound && fmin == r->known_first_min && n2 == r->known_n2 &&
           need2 == r->known_need2 && nstop == r->mc_nstop && r->known_growth == nrun);
    (void)bound, (void)fmin, (void)n2, (void)nstop, (void)need2;
}
#endif

/* R has just started a step (sim_step_start returned 1) that ends at
 * *END_NS. Extends it over the identical steps that follow, as far as the
 * rules above allow with r->merge_limit_ns the next other event; the
 * merged steps are accounted for and observed, the requests advanced to
 * the start of the last one, r->step holds the last one's start and
 * *END_NS its end (unchanged when nothing was merged); sim_step_end then
 * ends it as any step. Returns 0, or -1 on a host failure (r->err set). */
int sim_merge_steps(sim_replica *r, int64_t *end_ns);

#endif
