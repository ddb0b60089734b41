/*
 * channel.h: a queue of records from one producer thread to one consumer
 * thread (sim/partition.c: requests to a replica's thread, observer calls
 * from it), in fixed chunks handed over under a lock, so that threads
 * meet once every few hundred records, not at each one.
 *
 * The producer writes records into its chunk (sim_chan_reserve); a full
 * chunk joins the queue, the producer waiting while max_full chunks wait
 * there already, unless the run stops or, for the inputs that share one
 * lock and one starving count, while any of their consumers waits for a
 * chunk (so a producer that feeds several consumers never waits for one
 * while another starves). The consumer takes chunks oldest first
 * (sim_chan_take) and gives them back for reuse.
 */
#ifndef KVSIM_SIM_CHANNEL_H
#define KVSIM_SIM_CHANNEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Bytes of records a chunk holds (a longer record gets a chunk of its own). */
#define SIM_CHUNK_BYTES (64 * 1024)

typedef struct sim_chunk {
    struct sim_chunk *next;
    size_t len, cap; /* bytes written; SIM_CHUNK_BYTES, or one record's size beyond it */
    _Alignas(8) unsigned char data[];
} sim_chunk;

typedef struct sim_chan {
    pthread_mutex_t *mu; /* OWN_MU, or the lock the inputs share */
    pthread_cond_t *cv;
    pthread_mutex_t own_mu;
    pthread_cond_t own_cv;
    sim_chunk *head, *tail; /* full chunks, oldest first */
    unsigned nfull, max_full;
    sim_chunk *spare; /* chunks the consumer gave back */
    bool closed;      /* the producer has ended (its last chunk is in the queue) */
    sim_chunk *fill;  /* the producer's */
    atomic_bool *stop;
    /* Inputs: consumers waiting for a chunk, counted under the shared
     * lock; the producer does not wait for room while any does. NULL for
     * outputs. */
    unsigned *starving;
} sim_chan;

/* Sets C up: an output channel (SHARED NULL: a lock of its own), or an
 * input one under the lock SHARED (and SHARED_CV) with the starving count
 * STARVING; at most MAX_FULL chunks wait; STOP ends every wait. */
void sim_chan_init(sim_chan *c, atomic_bool *stop, unsigned max_full, pthread_mutex_t *shared,
                   pthread_cond_t *shared_cv, unsigned *starving);

/* Frees C's chunks and its own lock (not a shared one). */
void sim_chan_free(sim_chan *c);

/* Producer: room for SIZE bytes (a multiple of 8) of record, or NULL when
 * out of memory or the run stops. */
void *sim_chan_reserve(sim_chan *c, size_t size);

/* Producer: it has ended; its last chunk goes to the consumer. */
void sim_chan_close(sim_chan *c);

/* Consumer: the oldest full chunk, waiting for one; NULL once the
 * producer has ended and every chunk was taken (or, for an input, when
 * the run stops). */
sim_chunk *sim_chan_take(sim_chan *c);

/* Consumer: F is read; back for reuse. */
void sim_chan_give_back(sim_chan *c, sim_chunk *f);

#endif
