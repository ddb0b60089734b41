/*
 * gen.c: the workload generator behind wl_open_spec (spec syntax in
 * source.h, presets in spec.c).
 *
 * Arrivals: the first request arrives at 0 (batch: at `at`), then gaps
 * are exponential (poisson, mean 1/rate), Gamma with shape 1/cv^2 and
 * scale cv^2/rate (gamma: mean 1/rate, coefficient of variation cv), or
 * exactly 1/rate (constant: request i at i/rate). Times are accumulated
 * in double seconds and rounded to whole nanoseconds when emitted (below
 * 9e6 s, where a double still holds every nanosecond), so a written trace
 * prints them exactly with "%.9f".
 *
 * Lengths: input and output lengths are drawn from their own streams;
 * when both are empirical from the same file, one row is drawn per
 * request (from the input stream) and both lengths come from it, keeping
 * the file's correlation.
 *
 * The chat preset keeps the conversations in flight in a pool (reused
 * slots, each with room for max_ctx / 512 block ids) and a binary min-heap
 * of their next turns ordered by (time, sequence number), and merges that
 * with the arrivals of new conversations, so requests come out in arrival
 * order and ties are broken deterministically. Memory grows with the
 * conversations in flight (rate x their duration), not with n; nothing is
 * allocated per request once the pool has grown.
 */
#include "workloads/wl_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A conversation in flight (chat preset). */
typedef struct wl_conv {
    double next_s;       /* arrival of its next turn */
    uint64_t seq;        /* tie-breaker: order of scheduling */
    uint64_t id;         /* session_id */
    uint32_t turns_left; /* turns still to come, the next included */
    uint32_t turns_done; /* turns emitted */
    uint32_t ctx_tokens; /* system prompt + history so far */
    uint32_t nfull;      /* full blocks of the last prompt, ids kept */
} wl_conv;

typedef struct wl_gen {
    wl_spec spec;
    uint64_t seed;
    wl_rng arr, in, out, chat;
    int joint; /* in and out drawn from one empirical row */
    uint64_t produced;
    uint64_t arrivals; /* arrival times drawn (requests, or conversations for chat) */
    double clock_s;
    char spec_text[WL_DESC_BYTES - 64];

    /* chat */
    wl_conv *convs;
    uint64_t *conv_ids; /* conv i's block ids at [i * max_blocks] */
    uint32_t *free_slots;
    size_t nconvs, cap, nfree;
    uint32_t *heap; /* conv slots ordered by (next_s, seq) */
    size_t nheap;
    uint32_t max_blocks;
    uint64_t next_session, next_block, next_seq;
    double next_new_s; /* arrival of the next new conversation */
    uint64_t *req_ids; /* the ids of the request last returned */
} wl_gen;

/* Rounds T to whole nanoseconds where a double can hold them. */
static double wl__ns(double t)
{
    return t < 9.0e6 ? (double)llround(t * 1e9) / 1e9 : t;
}

/* The next arrival time of the spec's process. */
static double wl__next_arrival(wl_gen *g)
{
    const wl_arrival *a = &g->spec.arrival;
    uint64_t k = g->arrivals++;
    switch (a->kind) {
    case WL_ARRIVAL_BATCH:
        return a->at_s;
    case WL_ARRIVAL_CONSTANT:
        return (double)k / a->rate_per_s;
    case WL_ARRIVAL_GAMMA: {
        if (k > 0) {
            double shape = 1.0 / (a->cv * a->cv);
            g->clock_s += wl_gamma(&g->arr, shape) / (shape * a->rate_per_s);
        }
        return g->clock_s;
    }
    case WL_ARRIVAL_POISSON:
    default:
        if (k > 0)
            g->clock_s += wl_rng_exp(&g->arr, 1.0 / a->rate_per_s);
        return g->clock_s;
    }
}

/* Draws a request's input and output lengths. */
static void wl__lengths(wl_gen *g, uint32_t *in, uint32_t *out)
{
    if (g->joint) {
        size_t i = wl_table_pick(g->spec.in.table, &g->in);
        uint32_t a = g->spec.in.table->in[i], b = g->spec.in.table->out[i];
        *in = a < g->spec.in.min ? g->spec.in.min : a > g->spec.in.max ? g->spec.in.max : a;
        *out = b < g->spec.out.min ? g->spec.out.min : b > g->spec.out.max ? g->spec.out.max : b;
        return;
    }
    *in = wl_dist_draw(&g->spec.in, &g->in);
    *out = wl_dist_draw(&g->spec.out, &g->out);
}

/* ---------------------------------------------------------------- chat */

static int wl__before(const wl_gen *g, uint32_t a, uint32_t b)
{
    const wl_conv *x = &g->convs[a], *y = &g->convs[b];
    return x->next_s < y->next_s || (x->next_s == y->next_s && x->seq < y->seq);
}

static void wl__heap_push(wl_gen *g, uint32_t slot)
{
    size_t i = g->nheap++;
    g->heap[i] = slot;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!wl__before(g, g->heap[i], g->heap[p]))
            break;
        uint32_t t = g->heap[i];
        g->heap[i] = g->heap[p];
        g->heap[p] = t;
        i = p;
    }
}

static uint32_t wl__heap_pop(wl_gen *g)
{
    uint32_t top = g->heap[0];
    g->heap[0] = g->heap[--g->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < g->nheap && wl__before(g, g->heap[l], g->heap[m]))
            m = l;
        if (r < g->nheap && wl__before(g, g->heap[r], g->heap[m]))
            m = r;
        if (m == i)
            break;
        uint32_t t = g->heap[i];
        g->heap[i] = g->heap[m];
        g->heap[m] = t;
        i = m;
    }
    return top;
}

/* A free conversation slot, growing the pool. Returns UINT32_MAX when out of memory. */
static uint32_t wl__conv_slot(wl_gen *g)
{
    if (g->nfree > 0)
        return g->free_slots[--g->nfree];
    if (g->nconvs == g->cap) {
        size_t cap = g->cap == 0 ? 64 : g->cap * 2;
        if (cap > UINT32_MAX / 2)
            return UINT32_MAX;
        wl_conv *c = realloc(g->convs, cap * sizeof *c);
        if (c != NULL)
            g->convs = c;
        uint64_t *ids = c != NULL ? realloc(g->conv_ids, cap * g->max_blocks * sizeof *ids) : NULL;
        if (ids != NULL)
            g->conv_ids = ids;
        uint32_t *fs = ids != NULL ? realloc(g->free_slots, cap * sizeof *fs) : NULL;
        if (fs != NULL)
            g->free_slots = fs;
        uint32_t *h = fs != NULL ? realloc(g->heap, cap * sizeof *h) : NULL;
        if (h == NULL)
            return UINT32_MAX;
        g->heap = h;
        g->cap = cap;
    }
    return (uint32_t)g->nconvs++;
}

/* Geometric number of turns on 1, 2, ... with the chat mean. */
static uint32_t wl__turns(wl_gen *g)
{
    double m = g->spec.chat.turns_mean;
    if (m <= 1.0)
        return 1;
    double p = 1.0 / m;
    double u = 1.0 - wl_rng_uniform(&g->chat); /* (0, 1] */
    double t = 1.0 + floor(log(u) / log1p(-p));
    return t >= 1e6 ? 1000000u : (uint32_t)t;
}

/*
 * Emits the next turn of conversation SLOT at time T into *REQ, or ends
 * the conversation when its prompt would exceed max_ctx. Returns 1 when a
 * request was emitted, 0 when the conversation ended instead.
 */
static int wl__turn(wl_gen *g, uint32_t slot, double t, trace_request *req)
{
    wl_conv *c = &g->convs[slot];
    const wl_chat *ch = &g->spec.chat;
    uint32_t user, answer;
    wl__lengths(g, &user, &answer);
    uint64_t input = (uint64_t)c->ctx_tokens + user;
    if (input > ch->max_ctx) {
        if (c->turns_done > 0) {
            g->free_slots[g->nfree++] = slot;
            return 0;
        }
        input = ch->max_ctx; /* a first message longer than the context is cut */
    }
    uint64_t *ids = g->conv_ids + (size_t)slot * g->max_blocks;
    uint32_t nb = (uint32_t)((input + WL_BLOCK_TOKENS - 1) / WL_BLOCK_TOKENS);
    uint32_t full = (uint32_t)(input / WL_BLOCK_TOKENS);
    for (uint32_t b = 0; b < nb; b++) {
        if (b >= c->nfull) {
            uint64_t id = g->next_block++;
            if (b < full)
                ids[b] = id; /* a full block: the next turn starts with it */
            g->req_ids[b] = id;
        } else {
            g->req_ids[b] = ids[b];
        }
    }
    c->nfull = full;
    c->turns_done++;
    memset(req, 0, sizeof *req);
    req->index = g->produced;
    req->line = g->produced + 1;
    req->arrival_s = wl__ns(t);
    req->input_tokens = (uint32_t)input;
    req->output_tokens = answer;
    req->num_hash_ids = nb;
    req->hash_ids = g->req_ids;
    req->has_session = 1;
    req->session_id = c->id;
    uint64_t ctx = input + answer;
    c->ctx_tokens = ctx > UINT32_MAX ? UINT32_MAX : (uint32_t)ctx;
    if (--c->turns_left > 0) {
        double think = ch->think_s > 0 ? wl_rng_exp(&g->chat, ch->think_s) : 0.0;
        c->next_s = t + think;
        c->seq = g->next_seq++;
        wl__heap_push(g, slot);
    } else {
        g->free_slots[g->nfree++] = slot;
    }
    return 1;
}

static int wl__chat_next(wl_gen *g, trace_request *req)
{
    for (;;) {
        if (g->nheap > 0 && g->convs[g->heap[0]].next_s <= g->next_new_s) {
            uint32_t slot = wl__heap_pop(g);
            if (wl__turn(g, slot, g->convs[slot].next_s, req))
                return 1;
            continue;
        }
        uint32_t slot = wl__conv_slot(g);
        if (slot == UINT32_MAX)
            return TRACE_ENOMEM;
        wl_conv *c = &g->convs[slot];
        const wl_chat *ch = &g->spec.chat;
        c->id = g->next_session++;
        c->turns_left = wl__turns(g);
        c->turns_done = 0;
        c->ctx_tokens = ch->sys_tokens;
        c->nfull = ch->sys_tokens / WL_BLOCK_TOKENS;
        uint64_t *ids = g->conv_ids + (size_t)slot * g->max_blocks;
        for (uint32_t b = 0; b < c->nfull; b++)
            ids[b] = b; /* the shared system prompt's blocks */
        double t = g->next_new_s;
        g->next_new_s = wl__next_arrival(g);
        if (wl__turn(g, slot, t, req))
            return 1;
    }
}

/* -------------------------------------------------------------- source */

static int wl__gen_next(wl_source *s, trace_request *req)
{
    wl_gen *g = s->impl;
    if (g->produced >= g->spec.requests)
        return 0;
    if (g->spec.is_chat) {
        int rc = wl__chat_next(g, req);
        if (rc < 0) {
            snprintf(s->err, sizeof s->err, "workload: out of memory for %zu conversations",
                     g->nconvs);
            return rc;
        }
        g->produced++;
        return 1;
    }
    memset(req, 0, sizeof *req);
    req->index = g->produced;
    req->line = g->produced + 1;
    req->arrival_s = wl__ns(wl__next_arrival(g));
    wl__lengths(g, &req->input_tokens, &req->output_tokens);
    g->produced++;
    return 1;
}

static void wl__gen_describe(const wl_source *s)
{
    const wl_gen *g = s->impl;
    snprintf(s->desc, WL_DESC_BYTES, "workload %s, seed %llu", g->spec_text,
             (unsigned long long)g->seed);
}

static void wl__gen_counts(const wl_source *s, trace_counts *out)
{
    const wl_gen *g = s->impl;
    memset(out, 0, sizeof *out);
    out->requests = g->produced;
}

static void wl__gen_close(wl_source *s)
{
    wl_gen *g = s->impl;
    if (g == NULL)
        return;
    wl_spec_release(&g->spec);
    free(g->convs);
    free(g->conv_ids);
    free(g->free_slots);
    free(g->heap);
    free(g->req_ids);
    free(g);
}

static const wl_ops wl__gen_ops = {wl__gen_next, wl__gen_describe, wl__gen_counts, NULL,
                                   wl__gen_close};

int wl__open_gen(wl_source **out, wl_spec *spec, uint64_t seed, char *err, size_t errlen)
{
    *out = NULL;
    wl_gen *g = calloc(1, sizeof *g);
    if (g == NULL) {
        wl_spec_release(spec);
        snprintf(err, errlen, "workload: out of memory");
        return TRACE_ENOMEM;
    }
    g->spec = *spec;
    g->seed = seed;
    wl_spec_describe(spec, g->spec_text, sizeof g->spec_text);
    wl_rng_seed(&g->arr, seed, WL_STREAM_ARRIVALS);
    wl_rng_seed(&g->in, seed, WL_STREAM_INPUT);
    wl_rng_seed(&g->out, seed, WL_STREAM_OUTPUT);
    wl_rng_seed(&g->chat, seed, WL_STREAM_CHAT);
    g->joint = spec->in.kind == WL_DIST_EMPIRICAL && spec->out.kind == WL_DIST_EMPIRICAL &&
               spec->in.table == spec->out.table;
    int fields = 0;
    if (spec->is_chat) {
        g->max_blocks = (spec->chat.max_ctx + WL_BLOCK_TOKENS - 1) / WL_BLOCK_TOKENS;
        g->req_ids = malloc(g->max_blocks * sizeof *g->req_ids);
        g->next_block = spec->chat.sys_tokens / WL_BLOCK_TOKENS;
        g->next_new_s = wl__next_arrival(g);
        fields = TRACE_FIELD_HASH_IDS | TRACE_FIELD_SESSION;
        if (g->req_ids == NULL) {
            wl__gen_close(&(wl_source){.impl = g});
            snprintf(err, errlen, "workload: out of memory");
            return TRACE_ENOMEM;
        }
    }
    wl_source *s = wl__source_new(&wl__gen_ops, g, fields);
    if (s == NULL) {
        snprintf(err, errlen, "workload: out of memory");
        return TRACE_ENOMEM;
    }
    *out = s;
    return 0;
}

int wl_open_spec(wl_source **out, const char *spec, uint64_t seed, char *err, size_t errlen)
{
    *out = NULL;
    wl_spec s;
    char why[WL_ERR_BYTES];
    int rc = wl_spec_parse(spec, seed, &s, why, sizeof why);
    /* Arrivals spanning past what a run holds (TRACE_MAX_SPAN_S) are
     * refused before any is generated: the source would otherwise run for
     * hours before stopping at the limit (n = 1e11 at 1 request a
     * second). */
    if (rc == 0 && s.arrival.kind != WL_ARRIVAL_BATCH && s.arrival.rate_per_s > 0 &&
        (double)s.requests / s.arrival.rate_per_s > TRACE_MAX_SPAN_S) {
        snprintf(why, sizeof why,
                 "n=%llu at %g requests a second spans about %.3g s of arrivals, past the %.0e s "
                 "a run holds (raise rate= or lower n=)",
                 (unsigned long long)s.requests, s.arrival.rate_per_s,
                 (double)s.requests / s.arrival.rate_per_s, TRACE_MAX_SPAN_S);
        wl_spec_release(&s);
        rc = -1;
    }
    if (rc == -2) {
        snprintf(err, errlen, "%s", why); /* a file of an empirical distribution */
        return TRACE_EFORMAT;
    }
    if (rc < 0) {
        snprintf(err, errlen, "workload '%s': %s", spec != NULL ? spec : "", why);
        /* The spec is echoed: keep the message one printable line. */
        for (char *p = err; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
                *p = '?';
        }
        return TRACE_EARG;
    }
    return wl__open_gen(out, &s, seed, err, errlen);
}
