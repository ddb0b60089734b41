/*
 * merge_int.h: what sim/merge.c and sim/merge_grow.c share: the tokens a
 * merged run's entries hold, and the growths of a run (merge_grow.c).
 * Internal to the merged steps (sim/merge.h).
 */
#ifndef KVSIM_SIM_MERGE_INT_H
#define KVSIM_SIM_MERGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/replica.h"

/* Batch entry Q holds merge_base(Q) + J tokens at the end of the run's
 * step J (its KV written, its context at step J + 1): a decode's computed
 * tokens, a prompt ending in the first step (sim/merge.h) its prompt less
 * one, its first token then counting as a decode's. Valid while the run
 * lasts: requests are advanced only at its end. */
static inline uint32_t merge_base(const sim_req *q)
{
    return q->computed < q->input ? q->input - 1 : q->computed;
}

/* The run's step an entry's last token comes at (requests are advanced
 * only at the run's end). */
static inline uint32_t merge_last_step(const sim_req *q)
{
    return q->output - q->generated;
}

/* The request of sequence S (the sim_req holding it). */
static inline sim_req *merge_seq_req(kv_seq *s)
{
    return (sim_req *)(void *)((char *)s - offsetof(sim_req, seq));
}

/* What growths a merged run may make: none; any; or only those that
 * evict nothing from the prefix cache. Growths take free space, and may
 * evict cached blocks: all that a waiting request's admission could see
 * change in a merged run. So any growth when none waits or max_num_seqs
 * run (the queue is not looked at). With a request the pass found
 * blocked for memory (the strategy refused it for want of free space, not
 * its layout, see the caller), less free space keeps it blocked, and,
 * when none of it is in the cache, so do evictions (they cannot add hits;
 * requests skipped before it for the token budget stay skipped with fewer
 * hits); with hits, an eviction could change the tokens the scheduler
 * asks for it, so only growths the cache's free space is not needed for. */
enum { MERGE_GROW_NONE, MERGE_GROW_ANY, MERGE_GROW_NO_EVICT };

/* The calendar's width and the most tokens of a uniform growth unit. */
enum { MERGE_CAL_W = 64 };

/* A run's growths: uniform classes, or a calendar, or none. */
typedef struct merge_growths {
    int rule;      /* MERGE_GROW_*, merge_growth_rule's */
    uint32_t next; /* the first step with a growth in the bound; UINT32_MAX: none */
    uint32_t unit; /* uniform growth's tokens (r->merge_seqs holds the classes); 0: calendar */
    kv_grow_unit gu;
    uint32_t cls; /* with UNIT, the class of the step looked at last */
    uint32_t
        rot; /* with UNIT, class C (first growth C modulo UNIT) is OFF's class (C + ROT) % UNIT */
    uint32_t
        off[MERGE_CAL_W + 1];   /* with UNIT, stored class C is r->merge_seqs[OFF[C], OFF[C + 1]) */
    uint32_t head[MERGE_CAL_W]; /* the calendar's buckets */
} merge_growths;

/* Writes r->merge_next for the pass's known decodes where the pass
 * carried its notes without it (r->pass_next_lazy; sim/merge.h). */
void merge_fill_known_next(sim_replica *r);

/* True when taking NEED bytes leaves a free block per sample (see
 * merge_grow.c). */
bool merge_decode_room(const sim_replica *r, uint64_t need, bool no_evict);

/* R's growth rule (MERGE_GROW_*). */
int merge_growth_rule(const sim_replica *r);

/* Sets up G for a run of R's batch up to step BOUND, NEXT its first
 * growth (merge_bound's), RULE merge_growth_rule's: uniform classes over
 * each entry's life when *THROUGH (the run may go on past completions;
 * cleared where the growths are not uniform), over BOUND otherwise, else
 * the calendar. Returns false where the run cannot go on: NPROMPT entries
 * ending their prompts and growths only the calendar serves. */
bool merge_growths_init(sim_replica *r, merge_growths *g, int rule, uint32_t bound, uint32_t next,
                        bool *through, uint32_t nprompt);

/* The growths of step K + 1 (*NGROW), those of requests ending at step K
 * left out when ENDS; with GO, whether the free space covers them (the
 * growth rule's test). Returns GO and that. */
bool merge_growths_due(sim_replica *r, merge_growths *g, uint32_t k, bool ends, bool go,
                       uint32_t *ngrow);

/* Makes step K + 1's NGROW growths (merge_growths_due's), BOUND the run's
 * bound. Returns 0, or -1 on a host failure (r->err set). */
int merge_growths_apply(sim_replica *r, merge_growths *g, uint32_t k, uint32_t ngrow,
                        uint32_t bound);

/* Keeps G's life classes (uniform, the run through completions) for the
 * next run (carry_classes in merge_grow.c): the run made STEPS steps, its
 * last step finishes NFIN requests (their sequences in r->mc_fin). */
void merge_classes_keep(sim_replica *r, const merge_growths *g, uint32_t steps, uint32_t nfin);

/* Takes ended sequence S out of G's classes; its class is looked in
 * first as HINT modulo the unit (where it is not there, all of them). */
void merge_growths_end(sim_replica *r, merge_growths *g, const kv_seq *s, uint64_t hint);

/* The entries ending at a step of a run found by position (more: the
 * ends' pass takes them entry by entry). */
enum { MERGE_ENDS_AT = 16 };

/* What a scan of a run's batch at its step K that ends requests finds:
 * those ending (NEND, the first MERGE_ENDS_AT of them at AT by position,
 * the sum of their merge_base END_USED) and, of those kept, the next
 * bound (the least last step) with the count and merge_base sum of the
 * entries ending there. */
typedef struct merge_ends {
    uint32_t nend, at[MERGE_ENDS_AT];
    uint64_t end_used;
    uint32_t bound, bound_n;
    uint64_t bound_base;
    bool sorted; /* the scan's: the last steps in order (merge_ends_sorted serves) */
} merge_ends;

/* The scan of the N entries REQ of POOL whose last steps are LAST, at
 * the run's step K (sim/merge_ends.c). */
void merge_ends_scan(const uint32_t *last, const uint32_t *req, const sim_req *pool, uint32_t n,
                     uint32_t k, merge_ends *e);

/* merge_ends_scan where LAST is in order (nondecreasing, its least K):
 * those ending are its first entries, the next bound the one after them,
 * its entries those after it; O(those ending and the next bound's). */
void merge_ends_sorted(const uint32_t *last, const uint32_t *req, const sim_req *pool, uint32_t n,
                       uint32_t k, merge_ends *e);

#endif
