/*
 * replica.h: one replica's state, and the primitives schedulers build a
 * step's batch with.
 *
 * A replica holds a KV allocator, the requests it runs (in admission
 * order: the last one is the preemption victim, as in vLLM) and a waiting
 * queue (preempted requests go back to its front). A scheduler (sched.h)
 * fills the step's batch through the primitives below, which keep the
 * allocator, the counters and the batch's cost shape consistent; the step
 * loop (step.h) runs the batch and applies its tokens. Requests live in a
 * pool shared by all replicas of a run.
 */
#ifndef KVSIM_SIM_REPLICA_H
#define KVSIM_SIM_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/kv_alloc.h"
#include "sim/config.h"
#include "sim/cost.h"
#include "sim/outcome.h"
#include "sim/request.h"

struct sim_sched_ops;

/* What a step computes: for each entry, the request and how many new
 * tokens (per sample) it computes. Arrays hold max_num_seqs entries. */
typedef struct sim_batch {
    uint32_t n;
    uint32_t *req;
    uint32_t *tokens;
    sim_batch_shape shape;
    uint64_t swap_in_bytes;  /* host -> GPU this step (swapped requests resumed) */
    uint64_t swap_out_bytes; /* GPU -> host this step (requests preempted by swap) */
    sim_spec_batch spec;     /* drafts verified this step (sim/spec.h) */
    /* The pass that built it started, ended, admitted, preempted and
     * swapped nothing, in one go: on the same state the next pass builds
     * the same batch (sim/merge.h). */
    bool steady;
    /* Or it admitted requests, and otherwise ended, preempted and swapped
     * nothing, leaving none waiting: the next pass builds the batch of
     * the same requests, the admitted ones decoding once their prompt is
     * done (sim/merge.h). */
    bool admits;
} sim_batch;

typedef struct sim_replica {
    uint32_t index;            /* in the engine: replica x pipeline_parallel + virtual engine */
    uint32_t group;            /* the replica (--replicas) it belongs to */
    struct sim_pipeline *pipe; /* its stages, shared by its virtual engines; NULL without PP */
    /* vLLM V1's lanes sharing KV (sim_config_shared_pool): the first of
     * them, which owns the pool, and how many; NULL otherwise. */
    struct sim_replica *peers;
    uint32_t npeers;
    /* ... and, in the first lane, the one scheduler's running order: each
     * request's admission (counted from 1) by pool slot, for its victim,
     * the last admitted (sim_rep_note_admission). */
    uint64_t *admit_order;
    uint32_t admit_cap;
    uint64_t admissions;
    int64_t step_end_ns;         /* the running step's end (engine.c's routing) */
    const sim_config *cfg;       /* resolved */
    const sim_memory_plan *plan; /* the run's; every replica has the same */
    const struct sim_sched_ops *sched;
    void *sched_state;
    kv_alloc *kv;
    sim_cost cost;
    sim_cost_memo cost_memo; /* merged runs' prices (sim_cost_run_memo_init) */
    sim_fa_memo fa_memo;     /* merged steps' last eager split plan (sim_cost_run_ctx_s) */
    sim_req_pool *pool;      /* shared by the run's replicas */
    const sim_observer *obs;
    sim_result *res;          /* the run's totals */
    sim_replica_stats *stats; /* this replica's figures */
    uint64_t block_bytes;     /* paged: bytes of one block; 0 for other strategies */
    uint64_t swap_used_bytes; /* host memory holding swapped KV */
    uint32_t *running;        /* admission order */
    uint32_t nrunning;
    uint32_t running_seqs; /* sequences of the running requests (n per request) */
    sim_queue waiting;     /* requests the scheduler sees, in order; then: */
    sim_backlog queued;    /* arrivals behind them, compact (sim_rep_waiting_front) */
    /* The waiting queue the scheduler takes from: WAITING and QUEUED, or
     * where lanes share a pool (vLLM V1's batches in flight), the first
     * lane's: one scheduler, one FCFS queue. */
    sim_queue *wq;
    sim_backlog *bq;
    sim_batch batch;
    uint64_t stamp; /* schedule passes so far: marks requests already in the batch */
    bool busy;
    sim_queue skipped;         /* V1 without chunking: prompts over the budget left, this pass */
    bool head_blocked;         /* a waiting request waits for memory this step: */
    uint32_t head_req;         /* ... which one */
    uint32_t head_need_tokens; /* ... and the tokens it asked for */
    uint64_t head_need_bytes;  /* ... and the bytes (kv_need_bytes), at the step's start */
    int64_t merge_limit_ns;    /* merge steps that end before this (sim/merge.h) */
    /* The step running was ended ahead by a merged run (sim/merge.c): its
     * batch's requests hold their tokens of its end, each sampled one,
     * PRE_GAP_NS after the one before; PRE_FINISHED of them finished.
     * sim_step_end reports it without a pass over the batch. */
    bool pre_ended;
    bool rejecting_arrival; /* sim_rep_finish's record: a rejection on arrival (engine.c) */
    uint32_t pre_finished;
    int64_t pre_gap_ns;
    /* ... and with PRE_PASS, the next pass's running requests are known:
     * that batch's PRE_PASS_N left after its end, in order, each a
     * one-token decode, the growths among them taking PRE_PASS_NEED bytes
     * (kv_grow_bytes); the budget scheduler's pass takes them without its
     * tests (sim/sched_budget.c). Cleared by the next step's start. */
    bool pre_pass;
    uint32_t pre_pass_n;
    uint64_t pre_pass_need;
    /* ... and where PRE_CTX_KNOWN, the sum of their computed tokens plus
     * one each, PRE_PASS_CTX (the pass's context, from the run's shape). */
    bool pre_ctx_known;
    uint64_t pre_pass_ctx;
    /* The batch's first PASS_KNOWN entries are the decodes the current
     * step's pass took from r->pre_pass (0: none); for merge_bound. */
    uint32_t pass_known;
    /* ... and whether they were in that run's uniform classes over their
     * lives (the unit PRE_GU): kv_grow_uniform accepted them then. */
    bool pre_pass_unit, pass_known_unit;
    uint64_t pass_known_ctx; /* their context tokens, each's new token included */
    /* ... and what merge_bound needs of them, noted by the pass
     * (sim_merge_note_known, each's r->merge_next too): the least of
     * their last steps and of their first growths, those growing at the
     * run's step 2 and those growths' bytes, the sequences they hold. */
    uint32_t known_bound, known_first_min, known_n2;
    uint64_t known_need2, known_growth;
    /* ... the pass carried them from the last run's classes (sim/merge.h):
     * r->merge_next not written for them, and known_first_min the least
     * of those growing in their lives. */
    bool pass_next_lazy;
    /* ... and their last steps (r->merge_last) in order (nondecreasing). */
    bool pass_last_sorted;
    /* ... and their stamps left as they were (read only by merge_bound's
     * test of the running set, which takes them as in the batch). */
    bool pass_unstamped;
    /* A merged run's batch's last steps in order at its end (for the
     * next pass's PASS_LAST_SORTED). */
    bool end_last_sorted;
    uint32_t end_adv; /* ... and its steps, the tokens each entry moved */
    /* That run's life classes (merge_seqs, MC_OFF, unit MC_UNIT, with
     * the pool's array MC_POOL), its steps modulo the unit (MC_SHIFT) and
     * the sequences of the requests its last step finished (MC_FIN, up to
     * 8), for the next run to carry over (sim/merge_grow.c); and of the
     * pass's known decodes, those merge_bound found growing no more
     * (MC_STOP, batch entries, up to 8; MC_NSTOP counts all). */
    bool mc_valid;
    uint32_t mc_unit, mc_shift, mc_nfin, mc_nstop;
    const sim_req *mc_pool;
    uint32_t mc_off[65]; /* MERGE_CAL_W + 1 */
    kv_seq *mc_fin[8];
    uint32_t mc_stop[8];
    kv_grow_unit pre_gu;
    uint32_t *merge_next; /* merged steps' growths ahead; max_num_seqs entries */
    uint32_t *merge_grow; /* ... and one step's; max_num_seqs entries */
    uint32_t *merge_link; /* ... and their calendar's lists; max_num_seqs entries */
    kv_seq **merge_seqs;  /* ... or their uniform classes; max_num_seqs entries */
    kv_seq **merge_tmp;   /* ... and their making's scratch; max_num_seqs entries */
    uint32_t *merge_last; /* ... and their last steps (the pass notes some); max_num_seqs */
    sim_step_record step;
    int64_t now_ns;
    int64_t busy_until_ns;
    char *err;
    size_t errlen;
} sim_replica;

static inline sim_req *sim_rep_req(const sim_replica *r, uint32_t i)
{
    return &r->pool->v[i];
}

/* Requests waiting for admission: the waiting queue and the arrivals
 * queued behind it. */
static inline uint32_t sim_rep_waiting(const sim_replica *r)
{
    return r->wq->len + r->bq->len;
}

/* The first waiting request (sim_rep_waiting(R) > 0), made a request of
 * the pool from its queued arrival when the waiting queue is empty (which
 * invalidates pointers into the pool). Returns its index, or SIM_NONE on a
 * host failure (r->err set). */
uint32_t sim_rep_waiting_front(sim_replica *r);

/* Makes arrival Q, with its Q->num_hash_ids hash ids HASH_IDS (copied),
 * a request of the pool routed to R, its true final length set; *OUT its
 * index. Returns 0, or -1 on a host failure (r->err set). Invalidates
 * pointers into the pool. */
int sim_rep_make_request(sim_replica *r, const sim_queued *q, const uint64_t *hash_ids,
                         uint32_t *out);

/* Requests holding KV in R's pool (SEQS false) or their sequences (true):
 * R's, or all its lanes' where they share one. */
static inline uint32_t sim_rep_pool_count(const sim_replica *r, bool seqs)
{
    if (r->peers == NULL)
        return seqs ? r->running_seqs : r->nrunning;
    uint32_t n = 0;
    for (uint32_t k = 0; k < r->npeers; k++)
        n += seqs ? r->peers[k].running_seqs : r->peers[k].nrunning;
    return n;
}

static inline uint32_t sim_rep_pool_running(const sim_replica *r)
{
    return sim_rep_pool_count(r, false);
}

static inline uint32_t sim_rep_pool_seqs(const sim_replica *r)
{
    return sim_rep_pool_count(r, true);
}

/* Room under max_num_seqs (vLLM V1's lanes: one scheduler's limit over
 * all of them). */
static inline bool sim_rep_seq_room(const sim_replica *r)
{
    return sim_rep_pool_seqs(r) + r->cfg->n_samples <= r->plan->max_num_seqs;
}

/* Grows request I's KV to hold TOKENS tokens per sample. Returns KV_OK,
 * KV_NOSPACE (nothing changed), or -1 on a host failure (ERR set). */
int sim_rep_grow(sim_replica *r, uint32_t i, uint32_t tokens);

/* Puts request I in this step's batch with NEW_TOKENS tokens to compute
 * (per sample; its KV already grown to computed + NEW_TOKENS), adding its
 * work to the batch's cost shape. */
void sim_rep_batch_add_chunk(sim_replica *r, sim_req *q, uint32_t new_tokens);
/* As sim_rep_batch_add, Q being request I. */
static inline void sim_rep_batch_add_req(sim_replica *r, uint32_t i, sim_req *q,
                                         uint32_t new_tokens)
{
    q->stamp = r->stamp;
    /* Batches are built at the step's start (now): its first step. */
    if (q->first_sched_ns < 0)
        q->first_sched_ns = r->now_ns;
    if (new_tokens == 1 && q->computed >= q->input) {
        /* A decode: one token per sample over its context (as the shape's
         * general case, sim_rep_batch_add_chunk, counts it). */
        r->batch.shape.decode_seqs += r->cfg->n_samples;
        r->batch.shape.decode_ctx_tokens += (uint64_t)(q->computed + 1) * r->cfg->n_samples;
    } else {
        sim_rep_batch_add_chunk(r, q, new_tokens);
    }
    r->batch.req[r->batch.n] = i;
    r->batch.tokens[r->batch.n] = new_tokens;
    r->batch.n++;
}
static inline void sim_rep_batch_add(sim_replica *r, uint32_t i, uint32_t new_tokens)
{
    sim_rep_batch_add_req(r, i, sim_rep_req(r, i), new_tokens);
}

/* Makes the cost shape of a batch of one-token decodes (and pads) that of
 * the same batch one step later: each entry's context one token longer,
 * as sim_rep_batch_add would give once every entry has computed its
 * token. For merged steps (sim/merge.h). */
void sim_rep_batch_advance(sim_replica *r);

/* The cost shape of R's batch built from scratch, as the scheduler's
 * pass builds it, for a batch of decodes whose other running requests
 * pad it with one token each (static batching's finished ones). For
 * checking sim_rep_batch_advance (--check). */
void sim_rep_decode_shape(const sim_replica *r, sim_batch_shape *out);

/* Adds PAD_TOKENS of compute for request I to the batch's cost shape
 * without producing anything: the padding of static batching (a finished
 * request still decoding, a prompt shorter than the batch's longest). */
void sim_rep_batch_pad(sim_replica *r, uint32_t i, uint32_t pad_tokens);

/* Moves the waiting queue's head into the running set. */
void sim_rep_start_head(sim_replica *r);

/* An admitted request Q's computed tokens: COMPUTED (its prefix found in
 * the cache), its KV used so far, then --check's look at the pool (which
 * sim_rep_grow leaves to this while the admission's hits are uncounted). */
void sim_rep_set_admitted(sim_replica *r, sim_req *q, uint32_t computed);

/* Lanes sharing a pool (vLLM V1's batches in flight): notes request I's
 * admission to the running set, after every earlier one (its place in
 * V1's one running list). Returns 0, or -1 out of memory (r->err set). */
int sim_rep_note_admission(sim_replica *r, uint32_t i);

/* How many leading tokens of the waiting request I are in the prefix
 * cache (computed KV it can share), at most sim_req_tokens - 1. */
uint32_t sim_rep_cached_tokens(sim_replica *r, uint32_t i);

/* Preempts the running request at position POS: by swap when the run
 * swaps and host space allows (its KV leaves the pool, its progress is
 * kept), else by recompute (KV freed, progress lost); it goes back to the
 * waiting queue's front. Returns 0, or -1 on a host failure. */
int sim_rep_preempt(sim_replica *r, uint32_t pos);

/* Brings swapped request I back: allocates KV for TOKENS tokens, marks
 * its computed tokens written and counts the transfer. Returns KV_OK,
 * KV_NOSPACE (nothing changed) or -1 on a host failure. */
int sim_rep_swap_in(sim_replica *r, uint32_t i, uint32_t tokens);

/* Ends request I (completed, or rejected with REASON): releases its KV,
 * reports it and frees its slot. It must be in neither the running set
 * nor the waiting queue. */
void sim_rep_finish(sim_replica *r, uint32_t i, int status, int reason);

/* Rejects the waiting queue's head with REASON. */
void sim_rep_reject_head(sim_replica *r, int reason);

/* Rejects the waiting queue's head, which cannot fit even in an empty
 * pool: its prompt (prompt_exceeds_kv_pool), or, once it has produced
 * tokens, what it grew to (sequence_outgrew_kv_pool). */
void sim_rep_reject_head_never_fits(sim_replica *r);

/* True when request I is in the batch being built. */
static inline bool sim_rep_in_batch(const sim_replica *r, uint32_t i)
{
    return r->pool->v[i].stamp == r->stamp;
}

/* Removes running request at POS from the running set (no KV change). */
void sim_rep_remove_running(sim_replica *r, uint32_t pos);

/* Runs the allocator's checks when --check is on; aborts on a violation. */
void sim_rep_check(sim_replica *r, const char *where);

#endif
