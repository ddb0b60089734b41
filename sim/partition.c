/*
 * partition.c: a run whose replicas share nothing but the request stream,
 * each simulated in a thread of its own; see sim_run_opts in engine.h.
 *
 * Behind the round-robin router with an open-loop client, where request j
 * goes depends on j alone (replica j mod R), and a replica's events touch
 * only its own state: R event loops give each replica the history one
 * loop gives it. A feeder thread reads the stream once and hands each
 * part (engine_int.h) its replica's requests; what a part would tell the
 * observer it writes to a channel instead, as records stamped with the
 * time of the call. The calling thread merges the channels in time order
 * (ties: requests ending at one instant by their place in the stream, as
 * one loop takes them; others the lower replica first; see tie_first)
 * and makes the observer's calls, so the
 * observer sees one time-ordered history, the same whatever the threads'
 * speeds. The parts' totals are added at the end, replica by replica.
 *
 * A channel is a queue of fixed chunks of records, handed over under a
 * lock a chunk at a time (hundreds of records). Who waits for whom:
 *   - the merger, for a part that has not ended and has written nothing
 *     it has not taken (it cannot order the others' records without it);
 *   - a part, for room in its output (max_full chunks waiting) and for
 *     requests in its input;
 *   - the feeder, for room in the input of the part the next request goes
 *     to, but never while a part waits for input (a part far behind the
 *     others in the stream may hold a full input while one ahead starves:
 *     the feeder then goes on past the limit).
 * No cycle is left: a part the merger waits for is running, or starving,
 * and a starving part is fed, since the feeder waits for no one then.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/channel.h"
#include "sim/engine_int.h"

/* At most MAX_FULL_ALL chunks waiting in each direction over all parts
 * (at least 2 a part). */
enum { MAX_FULL_ALL = 64 };

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

/* A request for a part: trace_request's fields, its hash ids after it. */
typedef struct in_rec {
    uint64_t index, line;
    double arrival_s;
    uint32_t input, output, num_hash_ids, size;
} in_rec;

struct feed;

typedef struct part {
    engine e;
    sim_result res;
    char err[1024];
    struct feed *feed;
    sim_chan in; /* requests from the feeder */
    sim_chunk *in_cur;
    size_t in_off;
    sim_chan out; /* records to the merger */
    sim_observer rec_obs;
    pthread_t th;
    bool opened; /* sim_engine_open was called */
    bool started;
    bool lost; /* a record could not be written */
    int rc;
} part;

/* The feeder: reads the stream, hands request j to part j mod N. */
typedef struct feed {
    wl_source *src;
    part *parts;
    uint32_t n;
    atomic_bool *stop;
    pthread_mutex_t mu; /* the inputs' lock */
    pthread_cond_t cv;
    unsigned starving;      /* parts waiting for input */
    double first_arrival_s; /* set before the first request is handed over */
    uint64_t instants;      /* distinct arrival instants (the one loop's ARRIVAL events) */
    int64_t last_ns;        /* the last request's arrival, from the first */
    bool failed;            /* the stream's error in ERR (before the inputs close) */
    char err[1024];
    pthread_t th;
    bool started;
} feed;

/* ------------------------------------------------- recording observer */

static void *put(part *p, double t, uint32_t kind, size_t size)
{
    rec *h = sim_chan_reserve(&p->out, size);
    if (h == NULL) {
        /* Out of memory or stopped: the record is lost, so the run fails
         * (part_main), and the loop ends at its next check. */
        p->lost = true;
        atomic_store(p->out.stop, true);
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

/* Stops the run: every thread sees it at its next wait or check. */
static void stop_all(feed *f)
{
    atomic_store(f->stop, true);
    pthread_mutex_lock(&f->mu);
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    for (uint32_t k = 0; k < f->n; k++) {
        pthread_mutex_lock(f->parts[k].out.mu);
        pthread_cond_broadcast(f->parts[k].out.cv);
        pthread_mutex_unlock(f->parts[k].out.mu);
    }
}

static void *feeder_main(void *arg)
{
    feed *f = arg;
    double last = 0;
    int64_t last_ns = 0;
    for (uint64_t j = 0; !atomic_load(f->stop); j++) {
        trace_request t;
        int rc = wl_next(f->src, &t);
        if (rc < 0) {
            snprintf(f->err, sizeof(f->err), "%s", wl_errmsg(f->src));
            f->failed = true;
            break;
        }
        if (rc == 0)
            break;
        if (j == 0)
            f->first_arrival_s = t.arrival_s;
        /* As the engine's read_next: non-decreasing arrivals, and their
         * nanoseconds; one loop for all replicas has an ARRIVAL event per
         * distinct instant, the parts one each for theirs. */
        if (j > 0 && t.arrival_s < last)
            t.arrival_s = last;
        last = t.arrival_s;
        int64_t ns = (int64_t)llround((t.arrival_s - f->first_arrival_s) * 1e9);
        if (j == 0 || ns != last_ns)
            f->instants++;
        last_ns = ns;
        f->last_ns = ns;
        size_t size = (sizeof(in_rec) + (size_t)t.num_hash_ids * sizeof(uint64_t) + 7) & ~(size_t)7;
        in_rec *r = sim_chan_reserve(&f->parts[j % f->n].in, size);
        if (r == NULL) {
            if (!atomic_load(f->stop)) {
                snprintf(f->err, sizeof(f->err), "out of memory for the replicas' requests");
                f->failed = true;
            }
            break;
        }
        r->index = t.index;
        r->line = t.line;
        r->arrival_s = t.arrival_s;
        r->input = t.input_tokens;
        r->output = t.output_tokens;
        r->num_hash_ids = t.num_hash_ids;
        r->size = (uint32_t)size;
        if (t.num_hash_ids > 0)
            memcpy(r + 1, t.hash_ids, t.num_hash_ids * sizeof(uint64_t));
    }
    for (uint32_t k = 0; k < f->n; k++)
        sim_chan_close(&f->parts[k].in);
    return NULL;
}

/* The engine's NEXT for a part: its next request from the feeder. */
static int part_next(void *ctx, trace_request *req, char *err, size_t errlen)
{
    part *p = ctx;
    if (p->in_cur == NULL || p->in_off >= p->in_cur->len) {
        if (p->in_cur != NULL)
            sim_chan_give_back(&p->in, p->in_cur); /* the last request's hash ids are copied */
        p->in_cur = sim_chan_take(&p->in);
        p->in_off = 0;
        if (p->in_cur == NULL) {
            /* The feeder's verdict, written before it closed the inputs
             * under their lock: read under it too (a stop can end the
             * wait before the close). */
            pthread_mutex_lock(&p->feed->mu);
            bool failed = p->feed->failed && p->in.closed;
            pthread_mutex_unlock(&p->feed->mu);
            if (failed) {
                snprintf(err, errlen, "%s", p->feed->err);
                return -1;
            }
            if (atomic_load(p->feed->stop)) {
                p->e.stopped = true;
                snprintf(err, errlen, "stopped: another replica's thread failed");
                return -1;
            }
            return 0;
        }
    }
    const in_rec *r = (const in_rec *)(p->in_cur->data + p->in_off);
    p->in_off += r->size;
    /* The stream's clock starts at its first request, not this part's. */
    if (p->res.first_arrival_s < 0)
        p->res.first_arrival_s = p->feed->first_arrival_s;
    memset(req, 0, sizeof(*req));
    req->index = r->index;
    req->line = r->line;
    req->arrival_s = r->arrival_s;
    req->input_tokens = r->input;
    req->output_tokens = r->output;
    req->num_hash_ids = r->num_hash_ids;
    req->hash_ids = r->num_hash_ids > 0 ? (const uint64_t *)(r + 1) : NULL;
    return 1;
}

static void *part_main(void *arg)
{
    part *p = arg;
    p->rc = sim_engine_loop(&p->e);
    if (p->rc == 0 && p->lost) {
        p->e.stopped = true; /* says why below, in sim_run_partitioned */
        p->rc = -1;
    }
    sim_chan_close(&p->out);
    if (p->rc != 0)
        stop_all(p->feed);
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

/* At equal times: whether A goes before B (from a later part). The
 * serial loop takes every arrival due at one instant in one event, in
 * stream order, whatever the replica, and its scheduling passes after:
 * requests ended at the same instant go by their place in the stream,
 * but a rejection on arrival before one by a pass. Other ties go in part
 * order, which the serial loop's event order need not follow
 * (engine.h). */
static bool tie_first(const rec *a, const rec *b)
{
    if (a->kind != REC_REQUEST || b->kind != REC_REQUEST)
        return false;
    const sim_request_record *x = &((const rec_request *)a)->r;
    const sim_request_record *y = &((const rec_request *)b)->r;
    /* Two rejections, one on its arrival and one by a scheduling pass:
     * one loop takes the instant's arrivals before its passes. */
    if (x->status == SIM_REQ_REJECTED && y->status == SIM_REQ_REJECTED &&
        x->at_arrival != y->at_arrival)
        return x->at_arrival;
    return x->id < y->id;
}

/* The parts' records to OBS, in time order (ties: tie_first). */
static void merge_records(part *parts, uint32_t n, const sim_observer *obs)
{
    sim_chunk *cur[SIM_MAX_REPLICAS];
    size_t off[SIM_MAX_REPLICAS];
    for (uint32_t k = 0; k < n; k++) {
        cur[k] = sim_chan_take(&parts[k].out);
        off[k] = 0;
    }
    for (;;) {
        uint32_t best = SIM_NONE;
        double best_t = 0;
        for (uint32_t k = 0; k < n; k++) {
            if (cur[k] == NULL)
                continue;
            const rec *h = (const rec *)(cur[k]->data + off[k]);
            if (best == SIM_NONE || h->t < best_t ||
                (h->t == best_t && tie_first(h, (const rec *)(cur[best]->data + off[best])))) {
                best = k;
                best_t = h->t;
            }
        }
        if (best == SIM_NONE)
            break;
        const rec *h = (const rec *)(cur[best]->data + off[best]);
        if (obs != NULL)
            dispatch(obs, h);
        off[best] += h->size;
        if (off[best] >= cur[best]->len) {
            sim_chan_give_back(&parts[best].out, cur[best]);
            cur[best] = sim_chan_take(&parts[best].out);
            off[best] = 0;
        }
    }
}

/* RES: the parts' totals, added replica by replica. */
static void combine(sim_result *res, const part *parts, uint32_t n, const feed *f)
{
    *res = parts[0].res;
    wl_get_counts(f->src, &res->trace);
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
        res->arrival_events += p->arrival_events;
        res->merged_steps += p->merged_steps;
        res->input_tokens += p->input_tokens;
        res->output_tokens += p->output_tokens;
        res->prefill_tokens_computed += p->prefill_tokens_computed;
        if (p->makespan_s > res->makespan_s)
            res->makespan_s = p->makespan_s;
        if (p->max_running > res->max_running)
            res->max_running = p->max_running;
        if (p->max_waiting > res->max_waiting)
            res->max_waiting = p->max_waiting;
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
    /* Events as one loop counts them: its ARRIVAL events, not the parts'. */
    res->events = res->events - res->arrival_events + f->instants;
    res->arrival_events = f->instants;
    res->arrival_span_s = (double)f->last_ns / 1e9;
    res->partitioned = true;
}

int sim_run_partitioned(const sim_config *cfg, wl_source *src, const sim_observer *obs,
                        sim_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    err[0] = '\0';
    uint32_t n = cfg->replicas;
    part *parts = calloc(n, sizeof(*parts));
    feed *f = calloc(1, sizeof(*f));
    atomic_bool stop;
    atomic_init(&stop, false);
    if (parts == NULL || f == NULL) {
        free(parts);
        free(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    f->src = src;
    f->parts = parts;
    f->n = n;
    f->stop = &stop;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    unsigned max_full = MAX_FULL_ALL / n > 2 ? MAX_FULL_ALL / n : 2;
    int rc = 0;
    for (uint32_t k = 0; k < n; k++) {
        part *p = &parts[k];
        p->feed = f;
        sim_chan_init(&p->in, &stop, max_full, &f->mu, &f->cv, &f->starving);
        sim_chan_init(&p->out, &stop, max_full, NULL, NULL, NULL);
        p->e.stop = &stop;
        p->e.next = part_next;
        p->e.next_ctx = p;
        p->rec_obs.ctx = p;
        if (obs != NULL) {
            p->rec_obs.on_step = obs->on_step != NULL ? rec_on_step : NULL;
            p->rec_obs.on_request = obs->on_request != NULL ? rec_on_request : NULL;
            p->rec_obs.on_token_gaps = obs->on_token_gaps != NULL ? rec_on_token_gaps : NULL;
        }
    }
    for (uint32_t k = 0; rc == 0 && k < n; k++) {
        part *p = &parts[k];
        p->opened = true;
        if (sim_engine_open(&p->e, cfg, NULL, obs != NULL ? &p->rec_obs : NULL, &p->res, k, n,
                            p->err, sizeof(p->err)) != 0) {
            snprintf(err, errlen, "%s", p->err);
            rc = -1;
        }
    }
    if (rc == 0 && obs != NULL && obs->on_start != NULL)
        obs->on_start(obs->ctx, &parts[0].e.plan);
    if (rc == 0) {
        f->started = pthread_create(&f->th, NULL, feeder_main, f) == 0;
        rc = f->started ? 0 : -1;
    }
    for (uint32_t k = 0; rc == 0 && k < n; k++) {
        parts[k].started = pthread_create(&parts[k].th, NULL, part_main, &parts[k]) == 0;
        rc = parts[k].started ? 0 : -1;
    }
    if (rc != 0 && err[0] == '\0')
        snprintf(err, errlen, "cannot start the threads of %u replicas", n);
    if (rc != 0) {
        /* What did start sees the stop; what did not is closed. */
        stop_all(f);
        for (uint32_t k = 0; k < n; k++)
            if (!parts[k].started)
                sim_chan_close(&parts[k].out);
        for (uint32_t k = 0; !f->started && k < n; k++)
            sim_chan_close(&parts[k].in);
    }
    /* The merger, or after a failed start the drain of what started parts
     * write until they see the stop. */
    merge_records(parts, n, rc == 0 ? obs : NULL);
    if (f->started)
        pthread_join(f->th, NULL);
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
    if (rc == 0 && atomic_load(&stop)) { /* a stop no part failed for: a lost record */
        snprintf(err, errlen, "out of memory for the replicas' records");
        rc = -1;
    }
    for (uint32_t k = 0; k < n; k++)
        if (parts[k].opened)
            sim_engine_close(&parts[k].e); /* completes its totals */
    if (rc == 0)
        combine(res, parts, n, f);
    for (uint32_t k = 0; k < n; k++) {
        part *p = &parts[k];
        if (p->in_cur != NULL)
            free(p->in_cur);
        sim_chan_free(&p->in);
        sim_chan_free(&p->out);
    }
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
    free(parts);
    return rc;
}
