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

/* R has just started a step (sim_step_start returned 1) that ends at
 * *END_NS. Extends it over the identical steps that follow, as far as the
 * rules above allow with r->merge_limit_ns the next other event; the
 * merged steps are accounted for and observed, the requests advanced to
 * the start of the last one, r->step holds the last one's start and
 * *END_NS its end (unchanged when nothing was merged); sim_step_end then
 * ends it as any step. Returns 0, or -1 on a host failure (r->err set). */
int sim_merge_steps(sim_replica *r, int64_t *end_ns);

#endif
