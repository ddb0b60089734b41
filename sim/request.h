/*
 * request.h: a request's state inside a replica, the slab that holds the
 * requests in flight, and the FIFO queues schedulers keep them in.
 *
 * Token bookkeeping follows vLLM V1 (vllm/v1/request.py, v0.11): a request
 * has num_tokens = input + generated tokens and num_computed_tokens
 * (`computed` here) whose KV is written. Each step a scheduler gives it
 * some new tokens to compute; when computed catches up with num_tokens the
 * step emits one output token. A whole prefill, a prompt chunk, a decode
 * and a recomputation after preemption are all this one rule. Parallel
 * samples (--n) advance in lockstep and are counted per sample.
 *
 * The slab hands out uint32 indices and reuses them through a free list; a
 * slot keeps its block table's and hash ids' host memory for the next
 * request, so a steady state allocates nothing per request or per step.
 */
#ifndef KVSIM_SIM_REQUEST_H
#define KVSIM_SIM_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "allocators/kv_alloc.h"
#include "workloads/rng.h"

#define SIM_NONE UINT32_MAX

typedef struct sim_req {
    /* What the step loop reads and writes for every request of a batch,
     * first and together (two cache lines with the hot part of seq). */
    uint32_t computed;  /* tokens whose KV is computed, per sample */
    uint32_t generated; /* output tokens emitted */
    uint32_t input;
    uint32_t output;        /* tokens it will produce (after the cap at max_model_len) */
    uint64_t stamp;         /* the replica's schedule pass that last put it in a batch */
    int64_t first_token_ns; /* -1 until the first token */
    int64_t last_token_ns;  /* when its latest output token was sampled */
    int64_t first_sched_ns; /* start of the first step that computed any of it; -1 before */
    /* Speculative decoding (sim/spec.h): drafts in the batch being built,
     * the request's acceptance stream and rate, seeded at its first draw. */
    uint32_t spec_drafts;
    bool spec_ready;
    bool swapped; /* preempted by swap: its KV sits in host memory */
    bool hold;    /* static batching: keeps its memory after its last token */
    kv_seq seq;
    /* The rest: arrival, accounting, host memory. */
    uint64_t id;   /* index in the stream */
    uint64_t line; /* source line */
    int64_t arrival_ns;
    uint64_t swap_bytes; /* host bytes while swapped */
    uint64_t *hash_ids;  /* the trace's prompt block ids, owned, kept across slot reuse */
    double spec_alpha;
    wl_rng spec_rng;
    uint32_t output_requested;
    uint32_t preemptions;
    union {
        uint32_t replica;   /* in use: the replica (virtual engine) it was routed to */
        uint32_t next_free; /* free: the next free slot */
    };
    uint32_t hash_cap;
} sim_req;

/* Four cache lines: the pool's stride a power of two, each request's hot
 * part in its first two lines (the pool's memory is page-aligned). */
_Static_assert(sizeof(sim_req) == 256, "sim_req is 256 bytes");

/* Tokens the request holds or will hold once caught up: input + generated. */
static inline uint32_t sim_req_tokens(const sim_req *r)
{
    return r->input + r->generated;
}

typedef struct sim_req_pool {
    sim_req *v;
    uint32_t len;
    uint32_t cap;
    uint32_t free_head;
} sim_req_pool;

void sim_req_pool_init(sim_req_pool *p);

/* A zeroed slot (host memory of earlier occupants kept) in *OUT. Returns
 * 0, or -1 when out of memory (nothing changed). Pointers into the pool
 * are invalidated by this call. */
int sim_req_pool_take(sim_req_pool *p, uint32_t *out);

/* Returns slot I to the pool; its KV must be released first. */
void sim_req_pool_put(sim_req_pool *p, uint32_t i);

/* Frees the pool's host memory (KV must be released by the caller). */
void sim_req_pool_free(sim_req_pool *p);

/* A FIFO ring of request indices that can also be pushed at its front
 * (preempted requests go back first). */
typedef struct sim_queue {
    uint32_t *v;
    uint32_t head;
    uint32_t len;
    uint32_t cap;
} sim_queue;

/* Each returns 0, or -1 when out of memory (nothing changed). */
int sim_queue_push_back(sim_queue *q, uint32_t i);
int sim_queue_push_front(sim_queue *q, uint32_t i);

/* The K-th element from the front (K < len). */
static inline uint32_t sim_queue_at(const sim_queue *q, uint32_t k)
{
    return q->v[(q->head + k) % q->cap];
}

/* Removes and returns the front element (len > 0). */
uint32_t sim_queue_pop_front(sim_queue *q);

void sim_queue_free(sim_queue *q);

/* A request that has arrived and waits behind the waiting queue, not yet
 * seen by the scheduler: what a sim_req is made of at its arrival. */
typedef struct sim_queued {
    uint64_t id;
    uint64_t line;
    int64_t arrival_ns;
    const uint64_t *hash_ids; /* borrowed (see sim_backlog), NULL when none */
    uint32_t num_hash_ids;
    uint32_t input;
    uint32_t output_requested;
    uint32_t output; /* after the cap at max_model_len */
} sim_queued;

/* A FIFO of queued requests, so that an overloaded replica's queue costs
 * little: each a 40-byte record (a sim_req takes 256) followed by its
 * hash ids, packed in chunks of SIM_BACKLOG_CHUNK bytes freed as the
 * front leaves them (a record longer than a chunk gets one of its own). */
#define SIM_BACKLOG_CHUNK 65536

struct sim_backlog_chunk;

typedef struct sim_backlog {
    struct sim_backlog_chunk *head, *tail, *spare;
    size_t head_off; /* the front record's offset in HEAD */
    uint32_t len;    /* records */
} sim_backlog;

/* Appends *Q, copying its hash ids. Returns 0, or -1 when out of memory
 * (nothing changed). */
int sim_backlog_push_back(sim_backlog *b, const sim_queued *q);

/* Removes the front record into *OUT (len > 0); its hash ids stay valid
 * until the next pop or sim_backlog_free. */
void sim_backlog_pop_front(sim_backlog *b, sim_queued *out);

/* Frees B. */
void sim_backlog_free(sim_backlog *b);

#endif
