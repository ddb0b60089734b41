/*
 * channel.c: chunked queues between threads; see channel.h.
 */
#include "sim/channel.h"

#include <stdlib.h>
#include <string.h>

/* An output channel (SHARED NULL: a lock of its own), or an input one
 * under the inputs' lock SHARED and their starving count STARVING. */
void sim_chan_init(sim_chan *c, atomic_bool *stop, unsigned max_full, pthread_mutex_t *shared,
                   pthread_cond_t *shared_cv, unsigned *starving)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->own_mu, NULL);
    pthread_cond_init(&c->own_cv, NULL);
    c->mu = shared != NULL ? shared : &c->own_mu;
    c->cv = shared != NULL ? shared_cv : &c->own_cv;
    c->stop = stop;
    c->max_full = max_full;
    c->starving = starving;
}

void sim_chan_free(sim_chan *c)
{
    sim_chunk *lists[3] = {c->head, c->spare, c->fill};
    for (int k = 0; k < 3; k++)
        for (sim_chunk *n = lists[k], *next; n != NULL; n = next) {
            next = n->next;
            free(n);
        }
    pthread_mutex_destroy(&c->own_mu);
    pthread_cond_destroy(&c->own_cv);
}

/* Under C's lock: the producer's chunk joins the queue (an empty one goes
 * back to the spares). */
static void queue_fill(sim_chan *c)
{
    sim_chunk *f = c->fill;
    c->fill = NULL;
    if (f == NULL)
        return;
    if (f->len == 0) {
        f->next = c->spare;
        c->spare = f;
        return;
    }
    f->next = NULL;
    if (c->tail != NULL)
        c->tail->next = f;
    else
        c->head = f;
    c->tail = f;
    c->nfull++;
}

/* Queues the producer's chunk, waiting while max_full wait already
 * (unless a consumer of the inputs starves, or the run stops), and takes
 * an empty one with room for SIZE bytes. Returns false when out of memory
 * or stopped. */
static bool publish(sim_chan *c, size_t size)
{
    pthread_mutex_lock(c->mu);
    while (c->nfull >= c->max_full && !atomic_load(c->stop) &&
           (c->starving == NULL || *c->starving == 0))
        pthread_cond_wait(c->cv, c->mu);
    queue_fill(c);
    pthread_cond_broadcast(c->cv);
    sim_chunk *n = size <= SIM_CHUNK_BYTES ? c->spare : NULL;
    if (n != NULL)
        c->spare = n->next;
    pthread_mutex_unlock(c->mu);
    if (n == NULL) {
        size_t cap = size > SIM_CHUNK_BYTES ? size : SIM_CHUNK_BYTES;
        n = malloc(sizeof(*n) + cap);
        if (n == NULL)
            return false;
        n->cap = cap;
    }
    n->len = 0;
    c->fill = n;
    return !atomic_load(c->stop);
}

/* Room for SIZE bytes of record in the producer's chunk, or NULL. */
void *sim_chan_reserve(sim_chan *c, size_t size)
{
    if ((c->fill == NULL || c->fill->len + size > c->fill->cap) && !publish(c, size))
        return NULL;
    void *p = c->fill->data + c->fill->len;
    c->fill->len += size;
    return p;
}

/* The producer has ended: its last chunk goes to the consumer. */
void sim_chan_close(sim_chan *c)
{
    pthread_mutex_lock(c->mu);
    queue_fill(c);
    c->closed = true;
    pthread_cond_broadcast(c->cv);
    pthread_mutex_unlock(c->mu);
}

/* The oldest full chunk, waiting for one; NULL once the producer has
 * ended and every chunk was taken. */
sim_chunk *sim_chan_take(sim_chan *c)
{
    pthread_mutex_lock(c->mu);
    /* An input's consumer also leaves when the run stops. */
    while (c->head == NULL && !c->closed && !(c->starving != NULL && atomic_load(c->stop))) {
        if (c->starving != NULL) {
            ++*c->starving;
            pthread_cond_broadcast(c->cv); /* the feeder may wait for room */
        }
        pthread_cond_wait(c->cv, c->mu);
        if (c->starving != NULL)
            --*c->starving;
    }
    sim_chunk *f = c->head;
    if (f != NULL) {
        c->head = f->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->nfull--;
        pthread_cond_broadcast(c->cv);
    }
    pthread_mutex_unlock(c->mu);
    return f;
}

void sim_chan_give_back(sim_chan *c, sim_chunk *f)
{
    if (f->cap != SIM_CHUNK_BYTES) {
        free(f); /* one big record's */
        return;
    }
    pthread_mutex_lock(c->mu);
    f->next = c->spare;
    c->spare = f;
    pthread_mutex_unlock(c->mu);
}
