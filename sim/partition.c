/*
 * partition.c: a run whose replicas share nothing but the request stream,
 * each simulated in a thread of its own; see sim_run_opts in engine.h.
 *
 * Behind the round-robin router with an open-loop client, where request j
 * goes depends on j alone (replica j mod R), and a replica's events touch
 * only its own state: R event loops give each replica the history one
 * loop gives it. Each part (engine_int.h) reads its own copy of the
 * stream, keeps its replica's requests and runs them; what it would tell
 * the observer it writes to a channel instead, as records stamped with
 * the time of the call. This thread merges the channels in time order
 * (ties: the lower replica first) and makes the observer's calls, so the
 * observer sees one time-ordered history, the same whatever the threads'
 * speeds. The parts' totals are added at the end, replica by replica.
 *
 * A channel is a queue of fixed chunks of records, handed over under a
 * lock a chunk at a time (a few hundred records): the producer blocks
 * only when CHAN_MAX_FULL chunks wait for the merger, the merger only
 * when a part that has not ended has nothing written yet. That cannot
 * deadlock: a part the merger waits for holds no full chunk, so it is
 * not blocked, and runs until it fills one or ends.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine_int.h"

enum { CHUNK_BYTES = 64 * 1024, CHAN_MAX_FULL = 16 };

typedef struct chunk {
    struct chunk *next;
    size_t len;
    _Alignas(8) unsigned char data[CHUNK_BYTES];
} chunk;

typedef struct chan {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    chunk *head, *tail; /* full chunks, oldest first */
    unsigned nfull;
    chunk *spare; /* chunks the merger gave back */
    bool closed;  /* the producer has ended (its last chunk is in the queue) */
    chunk *fill;  /* the producer's */
    atomic_bool *stop;
} chan;

/* A record: its time (the observer call's), kind and size (header
 * included, a multiple of 8), then the call's arguments. */
typedef struct rec {
    double t;
    uint32_t kind;
    uint32_t size;
} rec;

enum { REC_STEP = 1, REC_REQUEST, REC_GAPS };

typedef struct rec_gaps {
    rec h;
    double now_s, gap_s;
    uint64_t count;
} rec_gaps;

typedef struct rec_step {
    rec h;
    sim_step_record s;
} rec_step;

typedef struct rec_request {
    rec h;
    sim_request_record r;
} rec_request;

typedef struct part {
    engine e;
    sim_result res;
    char err[1024];
    wl_source *src; /* the caller's for part 0, else opened here */
    chan ch;
    sim_observer rec_obs;
    pthread_t th;
    bool opened; /* sim_engine_open was called */
    bool started;
    int rc;
} part;

/* ------------------------------------------------------------ channel */

static void chan_init(chan *c, atomic_bool *stop)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->stop = stop;
}

static void chan_free(chan *c)
{
    chunk *lists[3] = {c->head, c->spare, c->fill};
    for (int k = 0; k < 3; k++)
        for (chunk *n = lists[k], *next; n != NULL; n = next) {
            next = n->next;
            free(n);
        }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

/* Queues the producer's chunk, waiting while CHAN_MAX_FULL wait already
 * (or until the run stops), and takes an empty one. Returns false when
 * out of memory or stopped. */
static bool chan_publish(chan *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->nfull >= CHAN_MAX_FULL && !atomic_load(c->stop))
        pthread_cond_wait(&c->cv, &c->mu);
    chunk *f = c->fill;
    c->fill = NULL;
    if (f != NULL && f->len > 0) {
        f->next = NULL;
        if (c->tail != NULL)
            c->tail->next = f;
        else
            c->head = f;
        c->tail = f;
        c->nfull++;
        pthread_cond_broadcast(&c->cv);
    } else if (f != NULL) {
        f->next = c->spare;
        c->spare = f;
    }
    chunk *n = c->spare;
    if (n != NULL)
        c->spare = n->next;
    pthread_mutex_unlock(&c->mu);
    if (n == NULL)
        n = malloc(sizeof(*n));
    if (n == NULL)
        return false;
    n->len = 0;
    c->fill = n;
    return !atomic_load(c->stop);
}

/* Room for SIZE bytes of record in the producer's chunk, or NULL. */
static void *chan_reserve(chan *c, size_t size)
{
    if ((c->fill == NULL || c->fill->len + size > CHUNK_BYTES) && !chan_publish(c))
        return NULL;
    void *p = c->fill->data + c->fill->len;
    c->fill->len += size;
    return p;
}

/* The producer has ended: its last chunk goes to the merger. */
static void chan_close(chan *c)
{
    pthread_mutex_lock(&c->mu);
    chunk *f = c->fill;
    c->fill = NULL;
    if (f != NULL && f->len > 0) {
        f->next = NULL;
        if (c->tail != NULL)
            c->tail->next = f;
        else
            c->head = f;
        c->tail = f;
        c->nfull++;
    } else if (f != NULL) {
        f->next = c->spare;
        c->spare = f;
    }
    c->closed = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* The oldest full chunk, waiting for one; NULL once the producer has
 * ended and every chunk was taken. */
static chunk *chan_take(chan *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->head == NULL && !c->closed)
        pthread_cond_wait(&c->cv, &c->mu);
    chunk *f = c->head;
    if (f != NULL) {
        c->head = f->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->nfull--;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return f;
}

static void chan_give_back(chan *c, chunk *f)
{
    pthread_mutex_lock(&c->mu);
    f->next = c->spare;
    c->spare = f;
    pthread_mutex_unlock(&c->mu);
}

/* Wakes a producer waiting for room (the run stops). */
static void chan_wake(chan *c)
{
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------- recording observer */

static void *put(part *p, double t, uint32_t kind, size_t size)
{
    rec *h = chan_reserve(&p->ch, size);
    if (h == NULL) {
        /* Out of memory or stopped: the loop ends at its next check. */
        atomic_store(p->ch.stop, true);
        return NULL;
    }
    h->t = t;
    h->kind = kind;
    h->size = (uint32_t)size;
    return h;
}

static void rec_on_step(void *ctx, const sim_step_record *s)
{
    rec_step *r = put(ctx, s->end_s, REC_STEP, sizeof(rec_step));
    if (r != NULL)
        r->s = *s;
}

static void rec_on_request(void *ctx, const sim_request_record *q)
{
    rec_request *r = put(ctx, q->finish_s, REC_REQUEST, sizeof(rec_request));
    if (r != NULL)
        r->r = *q;
}

static void rec_on_token_gaps(void *ctx, double now_s, double gap_s, uint64_t count)
{
    rec_gaps *r = put(ctx, now_s, REC_GAPS, sizeof(rec_gaps));
    if (r != NULL) {
        r->now_s = now_s;
        r->gap_s = gap_s;
        r->count = count;
    }
}

/* ---------------------------------------------------------- the parts */

static void *part_main(void *arg)
{
    part *p = arg;
    p->rc = sim_engine_loop(&p->e);
    if (p->rc != 0)
        atomic_store(p->ch.stop, true);
    chan_close(&p->ch);
    return NULL;
}

/* Makes OBS's call for record H. */
static void dispatch(const sim_observer *obs, const rec *h)
{
    switch (h->kind) {
    case REC_STEP:
        obs->on_step(obs->ctx, &((const rec_step *)h)->s);
        break;
    case REC_REQUEST:
        obs->on_request(obs->ctx, &((const rec_request *)h)->r);
        break;
    default: {
        const rec_gaps *g = (const rec_gaps *)h;
        obs->on_token_gaps(obs->ctx, g->now_s, g->gap_s, g->count);
    }
    }
}

/* The parts' records to OBS, in time order, ties in part order. */
static void merge_records(part *parts, uint32_t n, const sim_observer *obs)
{
    chunk *cur[SIM_MAX_REPLICAS];
    size_t off[SIM_MAX_REPLICAS];
    for (uint32_t k = 0; k < n; k++) {
        cur[k] = chan_take(&parts[k].ch);
        off[k] = 0;
    }
    for (;;) {
        uint32_t best = SIM_NONE;
        double best_t = 0;
        for (uint32_t k = 0; k < n; k++) {
            if (cur[k] == NULL)
                continue;
            double t = ((const rec *)(cur[k]->data + off[k]))->t;
            if (best == SIM_NONE || t < best_t) {
                best = k;
                best_t = t;
            }
        }
        if (best == SIM_NONE)
            break;
        const rec *h = (const rec *)(cur[best]->data + off[best]);
        if (obs != NULL)
            dispatch(obs, h);
        off[best] += h->size;
        if (off[best] >= cur[best]->len) {
            chan_give_back(&parts[best].ch, cur[best]);
            cur[best] = chan_take(&parts[best].ch);
            off[best] = 0;
        }
    }
}

/* RES: the parts' totals, added replica by replica. */
static void combine(sim_result *res, const part *parts, uint32_t n)
{
    *res = parts[0].res;
    for (uint32_t k = 1; k < n; k++) {
        const sim_result *p = &parts[k].res;
        res->total += p->total;
        res->completed += p->completed;
        res->rejected += p->rejected;
        for (int r = 0; r < SIM_REJECT_COUNT; r++)
            res->rejected_by[r] += p->rejected_by[r];
        res->truncated += p->truncated;
        res->preemptions += p->preemptions;
        res->swap_preemptions += p->swap_preemptions;
        res->swapped_out_bytes += p->swapped_out_bytes;
        res->swapped_in_bytes += p->swapped_in_bytes;
        res->recomputed_tokens += p->recomputed_tokens;
        res->steps += p->steps;
        res->events += p->events;
        res->merged_steps += p->merged_steps;
        res->input_tokens += p->input_tokens;
        res->output_tokens += p->output_tokens;
        res->prefill_tokens_computed += p->prefill_tokens_computed;
        if (p->makespan_s > res->makespan_s)
            res->makespan_s = p->makespan_s;
        if (p->max_running > res->max_running)
            res->max_running = p->max_running;
        res->busy_s += p->busy_s;
        res->allreduce_s += p->allreduce_s;
        res->stage_busy_s += p->stage_busy_s;
        res->per_replica[k] = p->per_replica[k];
        res->prefix.lookup_tokens += p->prefix.lookup_tokens;
        res->prefix.hit_tokens += p->prefix.hit_tokens;
        res->prefix.recompute_hit_tokens += p->prefix.recompute_hit_tokens;
        res->prefix.evictions += p->prefix.evictions;
        sim_spec_stats *s = &res->spec;
        const sim_spec_stats *ps = &p->spec;
        s->num_drafts += ps->num_drafts;
        s->draft_tokens += ps->draft_tokens;
        s->accepted_tokens += ps->accepted_tokens;
        for (int d = 0; d < SIM_SPEC_MAX_K; d++) {
            s->proposed_at[d] += ps->proposed_at[d];
            s->accepted_at[d] += ps->accepted_at[d];
        }
        s->rolled_back_tokens += ps->rolled_back_tokens;
        s->lookahead_tokens += ps->lookahead_tokens;
        s->draft_s += ps->draft_s;
        s->verify_s += ps->verify_s;
        sim_step_profile_counts *c = &res->step_profile;
        const sim_step_profile_counts *pc = &p->step_profile;
        c->steps += pc->steps;
        c->outside += pc->outside;
        c->tokens_below += pc->tokens_below;
        c->tokens_above += pc->tokens_above;
        c->context_out += pc->context_out;
    }
    res->partitioned = true;
}

int sim_run_partitioned(const sim_config *cfg, wl_source *src, const sim_run_opts *ro,
                        const sim_observer *obs, sim_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    uint32_t n = cfg->replicas;
    part *parts = calloc(n, sizeof(*parts));
    atomic_bool stop;
    atomic_init(&stop, false);
    if (parts == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    uint32_t opened = 0;
    for (uint32_t k = 0; k < n; k++) {
        part *p = &parts[k];
        chan_init(&p->ch, &stop);
        p->e.stop = &stop;
        p->rec_obs.ctx = p;
        if (obs != NULL) {
            p->rec_obs.on_step = obs->on_step != NULL ? rec_on_step : NULL;
            p->rec_obs.on_request = obs->on_request != NULL ? rec_on_request : NULL;
            p->rec_obs.on_token_gaps = obs->on_token_gaps != NULL ? rec_on_token_gaps : NULL;
        }
        opened = k + 1;
        p->src = src;
        if (k > 0 && ro->reopen(ro->reopen_ctx, &p->src, p->err, sizeof(p->err)) != 0) {
            p->src = NULL;
            snprintf(err, errlen, "%s", p->err);
            rc = -1;
            break;
        }
        p->opened = true;
        if (sim_engine_open(&p->e, cfg, p->src, obs != NULL ? &p->rec_obs : NULL, &p->res, k, n,
                            p->err, sizeof(p->err)) != 0) {
            snprintf(err, errlen, "%s", p->err);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && obs != NULL && obs->on_start != NULL)
        obs->on_start(obs->ctx, &parts[0].e.plan);
    for (uint32_t k = 0; rc == 0 && k < n; k++) {
        if (pthread_create(&parts[k].th, NULL, part_main, &parts[k]) != 0) {
            snprintf(err, errlen, "cannot start a thread for replica %u", k);
            atomic_store(&stop, true);
            rc = -1;
            break;
        }
        parts[k].started = true;
    }
    if (rc == 0) {
        merge_records(parts, n, obs);
    } else {
        for (uint32_t k = 0; k < n; k++)
            if (parts[k].started)
                chan_wake(&parts[k].ch);
        /* Drain what started parts write until they see the stop. */
        for (uint32_t k = 0; k < n; k++)
            for (chunk *c; parts[k].started && (c = chan_take(&parts[k].ch)) != NULL;)
                chan_give_back(&parts[k].ch, c);
    }
    for (uint32_t k = 0; k < n; k++)
        if (parts[k].started)
            pthread_join(parts[k].th, NULL);
    /* The first part that failed of itself says why (the others stopped). */
    for (uint32_t k = 0; rc == 0 && k < n; k++)
        if (parts[k].rc != 0 && !parts[k].e.stopped) {
            snprintf(err, errlen, "%s", parts[k].err);
            rc = -1;
        }
    for (uint32_t k = 0; rc == 0 && k < n; k++)
        if (parts[k].rc != 0) {
            snprintf(err, errlen, "out of memory for the replicas' records");
            rc = -1;
        }
    for (uint32_t k = 0; k < opened; k++) {
        part *p = &parts[k];
        if (p->opened)
            sim_engine_close(&p->e);
        if (k > 0 && p->src != NULL)
            wl_close(p->src);
        chan_free(&p->ch);
    }
    if (rc == 0)
        combine(res, parts, n);
    free(parts);
    return rc;
}
