/*
 * request.c: the request slab and the waiting queues; see request.h.
 */
#include "sim/request.h"

#include <stdlib.h>
#include <string.h>

void sim_req_pool_init(sim_req_pool *p)
{
    memset(p, 0, sizeof(*p));
    p->free_head = SIM_NONE;
}

int sim_req_pool_take(sim_req_pool *p, uint32_t *out)
{
    if (p->free_head != SIM_NONE) {
        *out = p->free_head;
        p->free_head = p->v[*out].next_free;
        return 0;
    }
    if (p->len == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 1024;
        if (cap <= p->cap)
            return -1;
        sim_req *nv = realloc(p->v, (size_t)cap * sizeof(sim_req));
        if (nv == NULL)
            return -1;
        memset(nv + p->cap, 0, (size_t)(cap - p->cap) * sizeof(sim_req));
        p->v = nv;
        p->cap = cap;
    }
    *out = p->len++;
    return 0;
}

void sim_req_pool_put(sim_req_pool *p, uint32_t i)
{
    /* Keep the block table's, key memo's and hash ids' host memory for
     * the next request in this slot. */
    sim_req *r = &p->v[i];
    kv_seq keep = r->seq;
    uint64_t *ids = r->hash_ids;
    uint32_t ids_cap = r->hash_cap;
    memset(r, 0, sizeof(*r));
    r->seq.blocks = keep.blocks;
    r->seq.blocks_cap = keep.blocks_cap;
    r->seq.keys = keep.keys; /* num_keys is 0: the next request's content differs */
    r->seq.keys_cap = keep.keys_cap;
    r->hash_ids = ids;
    r->hash_cap = ids_cap;
    r->next_free = p->free_head;
    p->free_head = i;
}

void sim_req_pool_free(sim_req_pool *p)
{
    for (uint32_t i = 0; i < p->len; i++) {
        kv_seq_free(&p->v[i].seq);
        free(p->v[i].hash_ids);
    }
    free(p->v);
    sim_req_pool_init(p);
}

static int queue_grow(sim_queue *q)
{
    uint32_t cap = q->cap ? q->cap * 2 : 1024;
    if (cap <= q->cap)
        return -1;
    uint32_t *nv = malloc((size_t)cap * sizeof(uint32_t));
    if (nv == NULL)
        return -1;
    for (uint32_t k = 0; k < q->len; k++)
        nv[k] = q->v[(q->head + k) % q->cap];
    free(q->v);
    q->v = nv;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int sim_queue_push_back(sim_queue *q, uint32_t i)
{
    if (q->len == q->cap && queue_grow(q) != 0)
        return -1;
    q->v[(q->head + q->len++) % q->cap] = i;
    return 0;
}

int sim_queue_push_front(sim_queue *q, uint32_t i)
{
    if (q->len == q->cap && queue_grow(q) != 0)
        return -1;
    q->head = (q->head + q->cap - 1) % q->cap;
    q->v[q->head] = i;
    q->len++;
    return 0;
}

uint32_t sim_queue_pop_front(sim_queue *q)
{
    uint32_t i = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return i;
}

void sim_queue_free(sim_queue *q)
{
    free(q->v);
    memset(q, 0, sizeof(*q));
}

/* A queued request's record in a backlog chunk; its hash ids follow. */
typedef struct backlog_rec {
    uint64_t id;
    uint64_t line;
    int64_t arrival_ns;
    uint32_t num_hash_ids;
    uint32_t input;
    uint32_t output_requested;
    uint32_t output;
} backlog_rec;

/* Issue 13: a queued request costs a few dozen bytes. */
_Static_assert(sizeof(backlog_rec) == 40, "a queued request's record grew past 40 bytes");

struct sim_backlog_chunk {
    struct sim_backlog_chunk *next;
    size_t len, cap; /* bytes written, bytes it holds */
    _Alignas(8) unsigned char data[];
};

int sim_backlog_push_back(sim_backlog *b, const sim_queued *q)
{
    size_t size = sizeof(backlog_rec) + (size_t)q->num_hash_ids * sizeof(uint64_t);
    struct sim_backlog_chunk *c = b->tail;
    if (c == NULL || c->len + size > c->cap) {
        if (size <= SIM_BACKLOG_CHUNK && b->spare != NULL) {
            c = b->spare;
            b->spare = NULL;
        } else {
            size_t cap = size > SIM_BACKLOG_CHUNK ? size : SIM_BACKLOG_CHUNK;
            c = malloc(sizeof(*c) + cap);
            if (c == NULL)
                return -1;
            c->cap = cap;
        }
        c->next = NULL;
        c->len = 0;
        if (b->tail != NULL)
            b->tail->next = c;
        else
            b->head = c;
        b->tail = c;
    }
    backlog_rec *r = (backlog_rec *)(c->data + c->len);
    r->id = q->id;
    r->line = q->line;
    r->arrival_ns = q->arrival_ns;
    r->num_hash_ids = q->num_hash_ids;
    r->input = q->input;
    r->output_requested = q->output_requested;
    r->output = q->output;
    if (q->num_hash_ids > 0)
        memcpy(r + 1, q->hash_ids, q->num_hash_ids * sizeof(uint64_t));
    c->len += size;
    b->len++;
    return 0;
}

static void chunk_drop(sim_backlog *b, struct sim_backlog_chunk *c)
{
    if (b->spare == NULL && c->cap == SIM_BACKLOG_CHUNK) {
        b->spare = c; /* the next chunk the tail needs */
        return;
    }
    free(c);
}

void sim_backlog_pop_front(sim_backlog *b, sim_queued *out)
{
    /* The chunk the last pop finished is dropped now: its ids were valid
     * until this call. */
    struct sim_backlog_chunk *c = b->head;
    if (b->head_off >= c->len) {
        b->head = c->next;
        if (b->head == NULL)
            b->tail = NULL;
        chunk_drop(b, c);
        c = b->head;
        b->head_off = 0;
    }
    const backlog_rec *r = (const backlog_rec *)(c->data + b->head_off);
    out->id = r->id;
    out->line = r->line;
    out->arrival_ns = r->arrival_ns;
    out->num_hash_ids = r->num_hash_ids;
    out->hash_ids = r->num_hash_ids > 0 ? (const uint64_t *)(r + 1) : NULL;
    out->input = r->input;
    out->output_requested = r->output_requested;
    out->output = r->output;
    b->head_off += sizeof(*r) + (size_t)r->num_hash_ids * sizeof(uint64_t);
    b->len--;
}

void sim_backlog_free(sim_backlog *b)
{
    for (struct sim_backlog_chunk *c = b->head, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(b->spare);
    memset(b, 0, sizeof(*b));
}
