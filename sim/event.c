/*
 * event.c: binary min-heap of events keyed by (time_ns, seq); see event.h.
 */
#include "sim/event.h"

#include <stdlib.h>

static bool before(const sim_event *a, const sim_event *b)
{
    return a->time_ns < b->time_ns || (a->time_ns == b->time_ns && a->seq < b->seq);
}

void sim_evq_init(sim_evq *q)
{
    q->heap = NULL;
    q->len = 0;
    q->cap = 0;
    q->next_seq = 0;
}

void sim_evq_free(sim_evq *q)
{
    free(q->heap);
    sim_evq_init(q);
}

int sim_evq_push(sim_evq *q, int64_t time_ns, uint32_t type, uint32_t target, uint64_t data)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        sim_event *h = realloc(q->heap, cap * sizeof(*h));
        if (h == NULL)
            return -1;
        q->heap = h;
        q->cap = cap;
    }
    sim_event ev = {time_ns, q->next_seq++, type, target, data};
    size_t i = q->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&ev, &q->heap[parent]))
            break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = ev;
    return 0;
}

bool sim_evq_pop(sim_evq *q, sim_event *out)
{
    if (q->len == 0)
        return false;
    *out = q->heap[0];
    sim_event last = q->heap[--q->len];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= q->len)
            break;
        if (child + 1 < q->len && before(&q->heap[child + 1], &q->heap[child]))
            child++;
        if (!before(&q->heap[child], &last))
            break;
        q->heap[i] = q->heap[child];
        i = child;
    }
    if (q->len > 0)
        q->heap[i] = last;
    return true;
}

const sim_event *sim_evq_peek(const sim_evq *q)
{
    return q->len ? &q->heap[0] : NULL;
}
