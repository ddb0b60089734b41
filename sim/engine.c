/*
 * engine.c: a run: the client, the router, the replicas and the event
 * loop; see engine.h.
 *
 * Events: ARRIVAL (the client sends the next request of the stream; the
 * engine reads one ahead, so memory is bounded by requests in flight) and
 * STEP_END (target: the replica). The stream's clock starts at its first
 * arrival, whatever the trace's clock.
 */
#include "sim/engine.h"
#include "sim/engine_int.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/event.h"
#include "sim/merge.h"
#include "sim/pipeline.h"
#include "sim/replica.h"
#include "sim/sched.h"
#include "sim/step.h"

static const char *const reject_names[] = {
#define SIM_REJECT_NAME(name, str) str,
    SIM_REJECT_MAP(SIM_REJECT_NAME)
#undef SIM_REJECT_NAME
};

const char *sim_reject_name(int reason)
{
    return reason >= 0 && reason < SIM_REJECT_COUNT ? reject_names[reason] : "unknown";
}

static double to_s(int64_t ns)
{
    return (double)ns / 1e9;
}

/* ------------------------------------------------------------- set-up */

/* The pool of one virtual engine: with pipeline parallelism each of them
 * gets 1/P of the blocks (vLLM v0.6 core/scheduler.py: num_gpu_blocks //=
 * pipeline_parallel_size); llama.cpp's layer split has one, and vLLM V1's
 * lanes share one (sim_config_shared_pool). */
static kv_pool_config pool_config(const sim_config *cfg, const sim_memory_plan *plan)
{
    uint32_t pp = sim_config_kv_pools(cfg);
    kv_pool_config pc = {
        .pool_bytes = plan->kv_budget_bytes / pp,
        .bytes_per_token = plan->kv_bytes_per_token,
        .max_model_len = plan->max_model_len,
        .watermark = cfg->watermark,
        /* No block count: --num-blocks sized kv_budget_bytes (N blocks of
         * the first paged spec's size), and a paged spec cuts that pool into
         * blocks of its own size, as every other strategy cuts the same
         * bytes (N blocks of its own size would give a paged:block=32 twice
         * the pool of a paged:block=16 beside it in a compare). */
        /* One GPU's geometry (vattn's pages): the stage's layers, its KV
         * heads; scales (int8's per token and head) and the drafter's KV
         * spread over the elements. */
        .layers = plan->stage_layers,
        .kv_heads = sim_tp_kv_heads(&cfg->model, cfg->tensor_parallel),
        .head_dim = cfg->model.head_dim,
    };
    pc.kv_elem_bytes =
        (double)plan->kv_bytes_per_token / (2.0 * pc.layers * (double)pc.kv_heads * pc.head_dim);
    return pc;
}

/* vLLM refuses to start when the KV pool cannot hold one sequence of
 * max_model_len tokens (V1: check_enough_kv_cache_memory; v0: the cache
 * engine's max_seq_len check). Returns 0, or -1 with ERR. */
static int check_one_sequence(kv_alloc *kv, const sim_config *cfg, char *err, size_t errlen)
{
    kv_seq s;
    memset(&s, 0, sizeof(s));
    s.final_tokens = cfg->max_model_len;
    s.prompt_tokens = cfg->max_model_len;
    s.samples = 1;
    if (kv_can_admit(kv, &s, cfg->max_model_len) != KV_NEVER) {
        kv_seq_free(&s); /* the prefix cache's key memo */
        return 0;
    }
    /* The longest that fits, as max_model_len too: a reserve=max strategy
     * reserves max_model_len whatever the sequence asks, so with the
     * configured length no shorter sequence would fit either. */
    uint32_t max_len = kv->cfg.max_model_len;
    uint32_t lo = 0, hi = cfg->max_model_len; /* lo fits (or is 0), hi does not */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        s.final_tokens = s.prompt_tokens = mid;
        kv->cfg.max_model_len = mid;
        if (kv_can_admit(kv, &s, mid) != KV_NEVER)
            lo = mid;
        else
            hi = mid;
    }
    kv->cfg.max_model_len = max_len;
    kv_seq_free(&s);
    snprintf(err, errlen,
             "the KV pool (%.2f GiB, %s) cannot hold one sequence of --max-model-len %u (it holds "
             "at most %u tokens): raise --gpu-memory-utilization, --kv-pool-gib or --num-blocks, "
             "or set --max-model-len %u or less",
             (double)kv->pool_bytes / 1073741824.0, kv->spec, cfg->max_model_len, lo, lo);
    return -1;
}

/* Resolves CFG into E's config and plan. */
static int resolve(const sim_config *cfg, sim_config *out, sim_memory_plan *plan, char *err,
                   size_t errlen)
{
    if (sim_config_resolve(cfg, out, err, errlen) != 0)
        return -1;
    if (sim_sched_find(out->scheduler) == NULL) {
        snprintf(err, errlen, "--scheduler: unknown scheduler '%s'", out->scheduler);
        return -1;
    }
    return sim_memory_plan_compute(out, plan, err, errlen);
}

int sim_check_config(const sim_config *cfg, char *err, size_t errlen)
{
    sim_config c;
    sim_memory_plan plan;
    if (resolve(cfg, &c, &plan, err, errlen) != 0)
        return -1;
    kv_pool_config pc = pool_config(&c, &plan);
    kv_alloc *kv;
    if (kv_create(&kv, c.allocator, &pc, err, errlen) != 0)
        return -1;
    int rc = check_one_sequence(kv, &c, err, errlen);
    kv_destroy(kv);
    return rc;
}

/* ------------------------------------------------------------ arrivals */

/* Reads the next request of the stream into e->pending and its arrival,
 * in nanoseconds since the first request's, into e->pending_ns. */
static int read_next(engine *e)
{
    int rc = e->next != NULL ? e->next(e->next_ctx, &e->pending, e->err, e->errlen)
                             : wl_next(e->src, &e->pending);
    if (rc < 0) {
        if (e->next == NULL)
            snprintf(e->err, e->errlen, "%s", wl_errmsg(e->src));
        return rc;
    }
    e->have_pending = rc == 1;
    if (!e->have_pending)
        return 0;
    if (e->res->first_arrival_s < 0)
        e->res->first_arrival_s = e->pending.arrival_s;
    /* Readers yield non-decreasing arrivals; keep that true for any source. */
    if (e->pending.arrival_s < e->last_arrival_s)
        e->pending.arrival_s = e->last_arrival_s;
    e->last_arrival_s = e->pending.arrival_s;
    double rel = e->pending.arrival_s - e->res->first_arrival_s;
    /* Readers and sources refuse arrivals beyond TRACE_MAX_SPAN_S (1e9 s,
     * far inside int64 nanoseconds) with the file and line. */
    assert(rel <= TRACE_MAX_SPAN_S);
    e->pending_ns = (int64_t)llround(rel * 1e9);
    e->res->arrival_span_s = (double)e->pending_ns / 1e9;
    return 0;
}

static uint32_t ve_load(const sim_replica *r)
{
    return r->nrunning + sim_rep_waiting(r);
}

/* A replica's unfinished requests, over its virtual engines (vLLM V1's
 * lanes: one waiting queue). */
static uint32_t group_load(const engine *e, uint32_t g)
{
    uint32_t n = 0;
    for (uint32_t v = 0; v < e->pp; v++)
        n += e->shared_pool ? e->rep[g * e->pp + v].nrunning : ve_load(&e->rep[g * e->pp + v]);
    return n + (e->shared_pool ? sim_rep_waiting(&e->rep[g * e->pp]) : 0);
}

/* The replica request T goes to (the router's choice). */
static uint32_t route_group(engine *e, const trace_request *t)
{
    uint32_t groups = e->nrep / e->pp;
    if (groups == 1)
        return 0;
    uint32_t least = 0, most = 0;
    for (uint32_t k = 1; k < groups; k++) {
        if (group_load(e, k) < group_load(e, least))
            least = k;
        if (group_load(e, k) > group_load(e, most))
            most = k;
    }
    switch (e->cfg.router) {
    case SIM_ROUTER_LEAST_LOADED:
        return least;
    case SIM_ROUTER_PREFIX_AFFINITY: {
        /* As SGLang's cache-aware router (v0.4 defaults): go where the
         * prefix went before unless the load is out of balance (the
         * busiest replica holds more than 32 requests beyond the idlest,
         * and more than 1.0001 times as many). The prefix is the trace's
         * first hash id (the shared system prompt or conversation). */
        uint32_t lo = group_load(e, least), hi = group_load(e, most);
        bool imbalanced = hi - lo > 32 && (double)hi > 1.0001 * lo;
        if (t->num_hash_ids == 0 || imbalanced)
            return least;
        return (uint32_t)(kv_mix64(t->hash_ids[0]) % groups);
    }
    default:
        return e->rr_next++ % groups;
    }
}

/* When lane R's scheduler next runs a pass: now if idle, else at its
 * step's end. */
static int64_t lane_next_ns(const sim_replica *r)
{
    return r->busy ? r->step_end_ns : INT64_MIN;
}

/* The virtual engine request T goes to: in the router's replica, the one
 * with the fewest unfinished requests (vLLM v0's add_request with pipeline
 * parallelism), the first on a tie. vLLM V1's lanes share one waiting
 * queue, whichever lane takes it: it is filed with the lane whose
 * scheduler runs next, the first on a tie. */
static uint32_t route(engine *e, const trace_request *t)
{
    uint32_t g = route_group(e, t), best = g * e->pp;
    for (uint32_t v = 1; v < e->pp; v++) {
        const sim_replica *r = &e->rep[g * e->pp + v], *b = &e->rep[best];
        if (e->shared_pool ? lane_next_ns(r) < lane_next_ns(b) : ve_load(r) < ve_load(b))
            best = g * e->pp + v;
    }
    return best;
}

/* Ends arrival QD (hash ids HASH_IDS) at once on R, rejected for REASON. */
static int reject_arrival(sim_replica *r, const sim_queued *qd, const uint64_t *hash_ids,
                          int reason)
{
    uint32_t i;
    if (sim_rep_make_request(r, qd, hash_ids, &i) != 0)
        return -1;
    r->rejecting_arrival = true;
    sim_rep_finish(r, i, SIM_REQ_REJECTED, reason);
    r->rejecting_arrival = false;
    return 0;
}

static int admit_arrival(engine *e, const trace_request *t)
{
    uint32_t k = route(e, t);
    sim_replica *r = &e->rep[k];
    sim_queued qd = {
        .id = t->index,
        .line = t->line,
        .arrival_ns = e->now_ns,
        .num_hash_ids = t->num_hash_ids,
        .input = t->input_tokens,
        .output_requested = t->output_tokens,
        .output = t->output_tokens,
    };
    e->res->total++;
    r->stats->total++;
    r->now_ns = e->now_ns;
    uint32_t max_len = e->plan.max_model_len;
    if (qd.input > max_len)
        return reject_arrival(r, &qd, t->hash_ids, SIM_REJECT_PROMPT_TOO_LONG);
    if (e->cfg.client_max_tokens && (uint64_t)qd.input + qd.output > max_len) {
        /* vLLM's OpenAI server (serving_engine.py, _validate_input, v0.11):
         * prompt + max_tokens > max_model_len is an HTTP 400 before the
         * engine sees the request. */
        return reject_arrival(r, &qd, t->hash_ids, SIM_REJECT_CONTEXT_TOO_LONG);
    }
    uint32_t cap = sim_output_cap(e->cfg.scheduler, qd.input, max_len);
    if (qd.output > cap)
        qd.output = cap; /* counted as truncated if it completes */
    /* Whether the prompt can ever fit, asked of a sequence that holds
     * nothing: whatever the pool holds, only its size matters. */
    kv_seq s;
    memset(&s, 0, sizeof(s));
    s.seq_id = qd.id;
    s.hash_ids = qd.num_hash_ids > 0 ? t->hash_ids : NULL;
    s.num_hash_ids = qd.num_hash_ids;
    s.prompt_tokens = qd.input;
    s.samples = e->cfg.n_samples;
    kv_set_final(r->kv, &s, qd.input + qd.output - 1);
    bool never = kv_never_fits(r->kv, &s, qd.input);
    kv_seq_free(&s); /* the prefix cache's key memo */
    if (never)
        return reject_arrival(r, &qd, t->hash_ids, SIM_REJECT_PROMPT_OVER_POOL);
    if (sim_rep_waiting(r) == 0) {
        /* Nothing waits: a request of the pool at once. */
        uint32_t i;
        if (sim_rep_make_request(r, &qd, t->hash_ids, &i) != 0)
            return -1;
        if (sim_queue_push_back(r->wq, i) != 0) {
            snprintf(e->err, e->errlen, "out of memory for the waiting queue");
            return -1;
        }
        return 0;
    }
    /* Behind others: queued compact, made a request when it reaches the
     * front (sim_rep_waiting_front). */
    qd.hash_ids = qd.num_hash_ids > 0 ? t->hash_ids : NULL; /* copied */
    if (sim_backlog_push_back(r->bq, &qd) != 0) {
        snprintf(e->err, e->errlen, "out of memory for the waiting queue");
        return -1;
    }
    return 0;
}

static uint64_t outstanding(const engine *e)
{
    return e->res->total - e->res->completed - e->res->rejected;
}

static bool client_may_send(const engine *e)
{
    return e->cfg.max_concurrency == 0 || outstanding(e) < e->cfg.max_concurrency;
}

/* Queues the ARRIVAL event of the pending request when the client may
 * send it: at its trace time, or now if a closed-loop client was waiting
 * for a slot. */
static int queue_arrival(engine *e)
{
    if (!e->have_pending || e->arrival_queued || !client_may_send(e))
        return 0;
    int64_t t = e->pending_ns > e->now_ns ? e->pending_ns : e->now_ns;
    if (sim_evq_push(&e->evq, t, EV_ARRIVAL, 0, 0) != 0) {
        snprintf(e->err, e->errlen, "out of memory for the event queue");
        return -1;
    }
    e->arrival_queued = true;
    return 0;
}

/* Sends every request due now that the client may send. */
static int on_arrival(engine *e)
{
    e->arrival_queued = false;
    e->res->arrival_events++;
    while (e->have_pending && e->pending_ns <= e->now_ns && client_may_send(e)) {
        if (admit_arrival(e, &e->pending) != 0 || read_next(e) != 0)
            return -1;
    }
    return 0;
}

/* Steps merged into one event must end before this (sim/merge.h): the
 * next event queued, or the arrival queue_arrival is about to queue;
 * INT64_MIN (no merging) with --no-merge-steps or several virtual engines,
 * whose steps interleave. */
static int64_t merge_limit(const engine *e)
{
    if (e->cfg.no_merge_steps || e->nrep > 1)
        return INT64_MIN;
    const sim_event *next = sim_evq_peek(&e->evq);
    int64_t t = next != NULL ? next->time_ns : INT64_MAX;
    if (e->have_pending && !e->arrival_queued && client_may_send(e)) {
        int64_t a = e->pending_ns > e->now_ns ? e->pending_ns : e->now_ns;
        t = a < t ? a : t;
    }
    return t;
}

/* A step on idle replica K: 1 started, 0 none (nothing it can run), -1 on
 * a host failure. */
static int start_one(engine *e, uint32_t k)
{
    sim_replica *r = &e->rep[k];
    r->now_ns = e->now_ns;
    int64_t end_ns;
    int rc = sim_step_start(r, &end_ns);
    if (rc <= 0)
        return rc;
    r->merge_limit_ns = merge_limit(e);
    if (sim_merge_steps(r, &end_ns) != 0)
        return -1;
    r->step_end_ns = end_ns;
    if (sim_evq_push(&e->evq, end_ns, EV_STEP_END, k, 0) != 0) {
        snprintf(e->err, e->errlen, "out of memory for the event queue");
        return -1;
    }
    return 1;
}

/* Starts a step on every idle replica that has work. Lanes of a shared
 * pool go round again while a lane's pass changed the pool (preempted or
 * rejected, whether it then started a step or not): a lane before it that
 * waited for KV may go on now, at this instant, not at the replica's next
 * event (which would tie it to other replicas' events: threaded and
 * serial runs would differ). Each such round removes a running or waiting
 * request, so this ends. */
static int start_steps(engine *e)
{
    bool again = true;
    while (again) {
        again = false;
        for (uint32_t k = 0; k < e->nrep; k++) {
            sim_replica *r = &e->rep[k];
            /* An idle lane of a shared pool with nothing of its own may take
             * a prompt's next chunk from another lane's batch in flight. */
            if (r->busy || (r->nrunning == 0 && sim_rep_waiting(r) == 0 && !e->shared_pool))
                continue;
            uint64_t ended = e->res->completed + e->res->rejected;
            uint32_t running = sim_rep_pool_running(r), waiting = sim_rep_waiting(r);
            int rc = start_one(e, k);
            if (rc < 0)
                return -1;
            if (e->shared_pool &&
                (r->step.preempted > 0 || e->res->completed + e->res->rejected != ended ||
                 (rc == 0 &&
                  (sim_rep_pool_running(r) != running || sim_rep_waiting(r) != waiting))))
                again = true;
        }
    }
    return 0;
}

/* ------------------------------------------------------------- the run */

static void engine_free(engine *e)
{
    /* Every lane's sequences first: a shared pool goes with its owner. */
    for (uint32_t k = 0; k < e->nrep; k++) {
        sim_replica *r = &e->rep[k];
        for (uint32_t n = 0; n < e->pool.len; n++)
            if (e->pool.v[n].replica == r->index)
                kv_release(r->kv, &e->pool.v[n].seq);
    }
    for (uint32_t k = 0; k < e->nrep; k++) {
        sim_replica *r = &e->rep[k];
        if (r->peers == NULL || r->peers == r) /* a shared pool's owner: its first lane */
            kv_destroy(r->kv);
        free(r->running);
        free(r->admit_order);
        free(r->batch.req);
        free(r->batch.tokens);
        free(r->merge_next);
        free(r->merge_grow);
        free(r->merge_link);
        free(r->merge_seqs);
        free(r->merge_tmp);
        free(r->merge_last);
        sim_queue_free(&r->waiting);
        sim_backlog_free(&r->queued);
        sim_queue_free(&r->skipped);
    }
    sim_req_pool_free(&e->pool);
    sim_evq_free(&e->evq);
}

static int replica_init(engine *e, uint32_t k, const sim_observer *obs)
{
    sim_replica *r = &e->rep[k];
    memset(r, 0, sizeof(*r));
    /* Numbered in the whole run: a part's replica is replica PART. */
    r->index = k + e->part * e->pp;
    r->group = r->index / e->pp;
    if (e->cfg.pipeline_parallel > 1) {
        r->pipe = &e->pipes[r->group];
        r->pipe->stages = e->cfg.pipeline_parallel;
    }
    r->cfg = &e->cfg;
    r->plan = &e->plan;
    r->sched = sim_sched_find(e->cfg.scheduler);
    r->pool = &e->pool;
    r->obs = obs;
    r->res = e->res;
    r->stats = &e->res->per_replica[r->group];
    r->err = e->err;
    r->errlen = e->errlen;
    kv_pool_config pc = pool_config(&e->cfg, &e->plan);
    if (e->shared_pool) {
        /* vLLM V1's lanes: the replica's first lane creates the pool, the
         * others share it. */
        r->peers = &e->rep[k - k % e->pp];
        r->npeers = e->pp;
    }
    r->wq = &r->waiting;
    r->bq = &r->queued;
    if (r->peers != NULL && r->peers != r) {
        r->wq = &r->peers->waiting;
        r->bq = &r->peers->queued;
    }
    if (r->peers != NULL && r->peers != r)
        r->kv = r->peers->kv;
    else if (kv_create(&r->kv, e->cfg.allocator, &pc, e->err, e->errlen) != 0)
        return -1;
    if (strcmp(r->kv->ops->name, "paged") == 0)
        r->block_bytes =
            (uint64_t)sim_spec_block_tokens(e->cfg.allocator) * e->plan.kv_bytes_per_token;
    sim_cost_init(&r->cost, &e->cfg.gpu, &e->cfg.model, e->cfg.weight_dtype, e->cfg.kv_dtype,
                  &e->cfg.cost, e->cfg.tensor_parallel, &e->cfg.link);
    sim_cost_set_max_model_len(&r->cost, e->plan.max_model_len);
    if (strcmp(e->cfg.scheduler, "vllm") == 0) /* V1 */
        sim_cost_set_attention_eager(&r->cost);
    if (e->plan.gpu_layers < e->cfg.model.layers)
        sim_cost_offload(&r->cost, (double)e->plan.gpu_layers / e->cfg.model.layers, &e->cfg.host,
                         e->cfg.gpu.host_link_Bps, e->cfg.model.hidden);
    size_t n = e->plan.max_num_seqs;
    r->running = malloc(n * sizeof(uint32_t));
    r->batch.req = malloc(n * sizeof(uint32_t));
    r->batch.tokens = malloc(n * sizeof(uint32_t));
    r->merge_next = malloc(n * sizeof(uint32_t));
    r->merge_grow = malloc(n * sizeof(uint32_t));
    r->merge_link = malloc(n * sizeof(uint32_t));
    r->merge_seqs = malloc(n * sizeof(kv_seq *));
    r->merge_tmp = malloc(n * sizeof(kv_seq *));
    r->merge_last = malloc(n * sizeof(uint32_t));
    if (r->running == NULL || r->batch.req == NULL || r->batch.tokens == NULL ||
        r->merge_next == NULL || r->merge_grow == NULL || r->merge_link == NULL ||
        r->merge_seqs == NULL || r->merge_tmp == NULL || r->merge_last == NULL) {
        snprintf(e->err, e->errlen, "out of memory");
        return -1;
    }
    return 0;
}

int sim_engine_open(engine *e, const sim_config *cfg, wl_source *src, const sim_observer *obs,
                    sim_result *res, uint32_t part, uint32_t nparts, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    res->first_arrival_s = -1;
    e->src = src;
    e->obs = obs;
    e->res = res;
    e->err = err;
    e->errlen = errlen;
    e->part = part;
    e->nparts = nparts;
    sim_req_pool_init(&e->pool);
    sim_evq_init(&e->evq);
    int rc = resolve(cfg, &e->cfg, &e->plan, err, errlen);
    e->pp = sim_config_virtual_engines(&e->cfg);
    e->shared_pool = rc == 0 && sim_config_shared_pool(&e->cfg);
    /* A part runs one replica: its virtual engines, numbered as in the
     * whole run (replica_init). */
    uint32_t n = nparts > 0 ? e->pp : e->cfg.replicas * e->pp;
    for (uint32_t k = 0; rc == 0 && k < n; k++) {
        e->nrep = k + 1;
        rc = replica_init(e, k, obs);
    }
    if (rc == 0)
        rc = check_one_sequence(e->rep[0].kv, &e->cfg, err, errlen);
    if (rc != 0)
        return -1;
    e->plan.kv_pool_bytes = e->rep[0].kv->pool_bytes;
    res->plan = e->plan;
    res->link = e->cfg.link;
    snprintf(res->allocator, sizeof(res->allocator), "%s", e->rep[0].kv->spec);
    snprintf(res->scheduler, sizeof(res->scheduler), "%s", e->cfg.scheduler);
    res->chunked_prefill = e->cfg.chunked_prefill != 0;
    res->prefix_caching = e->cfg.prefix_caching != 0;
    res->watermark = e->cfg.watermark;
    res->replicas = e->cfg.replicas;
    return 0;
}

int sim_engine_loop(engine *e)
{
    sim_result *res = e->res;
    int rc = read_next(e);
    if (rc == 0)
        rc = queue_arrival(e);
    sim_event ev;
    while (rc == 0 && sim_evq_pop(&e->evq, &ev)) {
        e->now_ns = ev.time_ns;
        res->events++;
        if (e->stop != NULL && (res->events & 4095) == 0 && atomic_load(e->stop)) {
            e->stopped = true;
            snprintf(e->err, e->errlen, "stopped: another replica's thread failed");
            rc = -1;
            break;
        }
        if (ev.type == EV_ARRIVAL) {
            rc = on_arrival(e);
        } else {
            sim_replica *r = &e->rep[ev.target];
            r->now_ns = e->now_ns;
            sim_step_end(r);
        }
        if (rc == 0)
            rc = start_steps(e);
        if (rc == 0)
            rc = queue_arrival(e); /* after completions freed client slots */
    }
    if (rc == 0) {
        bool idle = true;
        for (uint32_t k = 0; k < e->nrep; k++)
            idle = idle && sim_rep_waiting(&e->rep[k]) == 0 && e->rep[k].nrunning == 0;
        if (!idle || e->have_pending || res->completed + res->rejected != res->total) {
            fprintf(stderr,
                    "kvsim: BUG: run ended with work left or %llu + %llu != %llu requests\n",
                    (unsigned long long)res->completed, (unsigned long long)res->rejected,
                    (unsigned long long)res->total);
            abort();
        }
        res->makespan_s = to_s(e->now_ns);
    }
    return rc;
}

void sim_engine_close(engine *e)
{
    sim_result *res = e->res;
    if (res->first_arrival_s < 0)
        res->first_arrival_s = 0;
    if (e->src != NULL)
        wl_get_counts(e->src, &res->trace);
    for (uint32_t k = 0; k < e->nrep; k++) {
        if (e->rep[k].kv == NULL)
            break; /* a set-up that failed */
        if (e->rep[k].peers != NULL && e->rep[k].peers != &e->rep[k])
            continue; /* a lane of a shared pool, counted with its owner */
        const kv_prefix_stats *p = &e->rep[k].kv->prefix;
        if (k == 0) {
            res->prefix = *p;
            continue;
        }
        res->prefix.lookup_tokens += p->lookup_tokens;
        res->prefix.hit_tokens += p->hit_tokens;
        res->prefix.recompute_hit_tokens += p->recompute_hit_tokens;
        res->prefix.evictions += p->evictions;
    }
    engine_free(e);
}

bool sim_engine_partitionable(const sim_config *cfg)
{
    return cfg->replicas > 1 && cfg->router == SIM_ROUTER_ROUND_ROBIN && cfg->max_concurrency == 0;
}

int sim_run_ex(const sim_config *cfg, wl_source *src, const sim_run_opts *ro,
               const sim_observer *obs, sim_result *res, char *err, size_t errlen)
{
    if (ro == NULL || !ro->serial) {
        sim_config c;
        sim_memory_plan plan;
        if (resolve(cfg, &c, &plan, err, errlen) != 0) {
            memset(res, 0, sizeof(*res));
            return -1;
        }
        if (sim_engine_partitionable(&c))
            return sim_run_partitioned(cfg, src, obs, res, err, errlen);
    }
    engine *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = sim_engine_open(e, cfg, src, obs, res, 0, 0, err, errlen);
    if (rc == 0 && obs != NULL && obs->on_start != NULL)
        obs->on_start(obs->ctx, &e->plan);
    if (rc == 0)
        rc = sim_engine_loop(e);
    sim_engine_close(e);
    free(e);
    return rc;
}

int sim_run(const sim_config *cfg, wl_source *src, const sim_observer *obs, sim_result *res,
            char *err, size_t errlen)
{
    return sim_run_ex(cfg, src, NULL, obs, res, err, errlen);
}
