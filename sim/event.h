/*
 * event.h: the discrete-event queue, a binary min-heap ordered by
 * (time_ns, seq). seq is the insertion sequence number, so events at equal
 * times pop in FIFO order and every run is bit-for-bit reproducible (as
 * libuv's timer heap and ROSS's tie-breaker). Push and pop are O(log n).
 */
#ifndef KVSIM_SIM_EVENT_H
#define KVSIM_SIM_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sim_event {
    int64_t time_ns; /* simulated time */
    uint64_t seq;    /* insertion order: the tie-breaker */
    uint32_t type;   /* caller-defined */
    uint32_t target; /* caller-defined, e.g. a replica index */
    uint64_t data;   /* caller-defined payload */
} sim_event;

typedef struct sim_evq {
    sim_event *heap;
    size_t len;
    size_t cap;
    uint64_t next_seq;
} sim_evq;

/* Initialises an empty queue; no memory is held until the first push. */
void sim_evq_init(sim_evq *q);

/* Frees the queue's memory; the queue is empty and reusable afterwards. */
void sim_evq_free(sim_evq *q);

/* Adds an event. Returns 0, or -1 when out of memory (nothing changed). */
int sim_evq_push(sim_evq *q, int64_t time_ns, uint32_t type, uint32_t target, uint64_t data);

/* Removes the earliest event into *out; false when the queue is empty. */
bool sim_evq_pop(sim_evq *q, sim_event *out);

/* The earliest event without removing it; NULL when empty. */
const sim_event *sim_evq_peek(const sim_evq *q);

static inline size_t sim_evq_len(const sim_evq *q)
{
    return q->len;
}

#endif
