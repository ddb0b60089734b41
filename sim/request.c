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

/* Issue 13: a queued request costs a few dozen bytes. */
_Static_assert(sizeof(sim_queued) <= 48, "sim_queued grew past 48 bytes");

int sim_backlog_push_back(sim_backlog *b, const sim_queued *q)
{
    if (b->len == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 1024;
        if (cap <= b->cap)
            return -1;
        sim_queued *nv = malloc((size_t)cap * sizeof(sim_queued));
        if (nv == NULL)
            return -1;
        for (uint32_t k = 0; k < b->len; k++)
            nv[k] = b->v[(b->head + k) % b->cap];
        free(b->v);
        b->v = nv;
        b->cap = cap;
        b->head = 0;
    }
    b->v[(b->head + b->len++) % b->cap] = *q;
    return 0;
}

void sim_backlog_pop_front(sim_backlog *b, sim_queued *out)
{
    *out = b->v[b->head];
    b->head = (b->head + 1) % b->cap;
    b->len--;
}

void sim_backlog_free(sim_backlog *b)
{
    for (uint32_t k = 0; k < b->len; k++)
        free(b->v[(b->head + k) % b->cap].hash_ids);
    free(b->v);
    memset(b, 0, sizeof(*b));
}
