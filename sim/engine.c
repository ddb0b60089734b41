/*
 * engine.c: the event loop and one vLLM-style replica; see engine.h.
 *
 * Events: ARRIVAL (the next request of the stream; the engine reads one
 * ahead, so memory is bounded by requests in flight) and STEP_END. Requests
 * live in a slab indexed by uint32 and reused through a free list; a slot
 * keeps its block table's host memory, so steady state allocates nothing
 * per step or per token. The running set is an array in admission order
 * (the preemption victim is its last element); the waiting queue is a ring
 * (preempted requests go back to its front).
 *
 * Token bookkeeping, as vLLM: a sequence of length input + generated has
 * KV written for all but its last token. A prefill computes every token of
 * the sequence (the prompt, or prompt and output after a preemption) and
 * emits one; a decode step computes the last token and emits one. A request
 * that produced all its output holds KV for input + output - 1 tokens.
 */
#include "sim/engine.h"
#include "sim/event.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EV_ARRIVAL = 1, EV_STEP_END = 2 };

#define NONE UINT32_MAX

typedef struct req {
    uint64_t id;
    uint64_t line;
    int64_t arrival_ns;
    int64_t first_token_ns; /* -1 until the first token */
    uint32_t input;
    uint32_t output; /* after the cap at max_model_len */
    uint32_t output_requested;
    uint32_t generated;
    uint32_t preemptions;
    uint32_t next_free;
    uint64_t *hash_ids; /* the trace's prompt block ids, owned, kept across slot reuse */
    uint32_t hash_cap;
    kv_seq seq;
} req;

typedef struct engine {
    const sim_config *cfg;
    sim_memory_plan plan;
    sim_cost cost;
    kv_alloc *kv;
    wl_source *src;
    const sim_observer *obs;
    sim_result *res;
    char *err;
    size_t errlen;

    req *reqs;
    uint32_t reqs_len;
    uint32_t reqs_cap;
    uint32_t free_head;

    uint32_t *running; /* admission order */
    uint32_t nrunning;
    uint32_t running_seqs; /* sequences of the running requests (n_samples each) */
    uint32_t batch_first;  /* prefill step: running[batch_first..]; decode: all */
    bool batch_is_prefill;

    uint32_t *wq; /* ring */
    uint32_t wq_head;
    uint32_t wq_len;
    uint32_t wq_cap;

    sim_evq evq;
    int64_t now_ns;
    bool busy;
    uint64_t head_need_bytes; /* the blocked head's kv_need_bytes; 0: no head blocked */
    sim_step_record step;

    trace_request pending;
    int64_t pending_ns;
    bool have_pending;
    double last_arrival_s;
} engine;

static const char *const reject_names[] = {
#define SIM_REJECT_NAME(name, str) str,
    SIM_REJECT_MAP(SIM_REJECT_NAME)
#undef SIM_REJECT_NAME
};

const char *sim_reject_name(int reason)
{
    return reason >= 0 && reason < SIM_REJECT_COUNT ? reject_names[reason] : "unknown";
}

/* ------------------------------------------------------------- config */

void sim_config_defaults(sim_config *cfg, const sim_gpu *gpu, const sim_model *model)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->gpu = *gpu;
    cfg->model = *model;
    cfg->weight_dtype = sim_dtype_find("fp16");
    cfg->kv_dtype = sim_dtype_find("fp16");
    snprintf(cfg->engine, sizeof(cfg->engine), "vllm");
    cfg->cost = sim_engine_preset_find("vllm")->params;
    snprintf(cfg->allocator, sizeof(cfg->allocator), "paged:block=16");
    cfg->mem_util = 0.90;
    cfg->watermark = 0.01;
    cfg->max_num_seqs = 256;
    cfg->n_samples = 1;
    cfg->seed = 0;
}

static double gib(uint64_t b)
{
    return (double)b / 1073741824.0;
}

/* Tokens per block of --num-blocks: the paged spec's block=N, else 16, so
 * every strategy of a comparison gets the same pool. */
uint32_t sim_spec_block_tokens(const char *spec)
{
    if (strncmp(spec, "paged", 5) != 0 || (spec[5] != ':' && spec[5] != '\0'))
        return 16;
    const char *cur = spec[5] == ':' ? spec + 6 : "";
    char key[32], val[64];
    while (kv_param_next(&cur, key, sizeof(key), val, sizeof(val)) == 1) {
        unsigned long long v = strtoull(val, NULL, 10);
        if (strcmp(key, "block") == 0 && v >= 1 && v <= 65536)
            return (uint32_t)v;
    }
    return 16;
}

int sim_memory_plan_compute(const sim_config *cfg, sim_memory_plan *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    const sim_model *m = &cfg->model;
    p->max_model_len = cfg->max_model_len ? cfg->max_model_len : m->max_len;
    p->max_batched_tokens = cfg->max_batched_tokens   ? cfg->max_batched_tokens
                            : p->max_model_len > 2048 ? p->max_model_len
                                                      : 2048;
    p->kv_bytes_per_token = sim_model_kv_bytes_per_token(m, cfg->kv_dtype->bytes);
    p->gpu_bytes = cfg->gpu.memory_bytes;
    p->usable_bytes = (uint64_t)((double)p->gpu_bytes * cfg->mem_util);
    p->weights_bytes = (uint64_t)llround((double)m->params_total * cfg->weight_dtype->bytes);
    p->activation_bytes =
        (uint64_t)llround(sim_activation_bytes(m, p->max_batched_tokens, cfg->max_num_seqs));
    p->overhead_bytes = (uint64_t)llround(cfg->cost.overhead_bytes);
    if (cfg->num_blocks > 0 || cfg->kv_pool_gib > 0) {
        /* The user sized the pool: the plan's other terms are reported, not enforced. */
        p->pool_overridden = true;
        p->kv_budget_bytes =
            cfg->kv_pool_gib > 0
                ? (uint64_t)llround(cfg->kv_pool_gib * 1073741824.0)
                : (uint64_t)cfg->num_blocks *
                      (cfg->num_blocks_tokens ? cfg->num_blocks_tokens
                                              : sim_spec_block_tokens(cfg->allocator)) *
                      p->kv_bytes_per_token;
        return 0;
    }
    uint64_t need = p->weights_bytes + p->activation_bytes + p->overhead_bytes;
    if (need >= p->usable_bytes) {
        snprintf(err, errlen,
                 "%s does not fit on %s: weights %.2f GiB + activations %.2f GiB + runtime "
                 "%.2f GiB >= %.2f GiB usable (%.0f%% of %.2f GiB); use a larger GPU, a smaller "
                 "model, or --kv-pool-gib to study the KV pool alone",
                 m->name, cfg->gpu.name, gib(p->weights_bytes), gib(p->activation_bytes),
                 gib(p->overhead_bytes), gib(p->usable_bytes), cfg->mem_util * 100,
                 gib(p->gpu_bytes));
        return -1;
    }
    p->kv_budget_bytes = p->usable_bytes - need;
    return 0;
}

/* ------------------------------------------------------ request slab */

static int req_new(engine *e, uint32_t *out)
{
    if (e->free_head != NONE) {
        *out = e->free_head;
        e->free_head = e->reqs[*out].next_free;
        return 0;
    }
    if (e->reqs_len == e->reqs_cap) {
        uint32_t cap = e->reqs_cap ? e->reqs_cap * 2 : 1024;
        req *nr = realloc(e->reqs, (size_t)cap * sizeof(req));
        if (nr == NULL)
            return -1;
        memset(nr + e->reqs_cap, 0, (size_t)(cap - e->reqs_cap) * sizeof(req));
        e->reqs = nr;
        e->reqs_cap = cap;
    }
    *out = e->reqs_len++;
    return 0;
}

static void req_free(engine *e, uint32_t i)
{
    /* Keep the block table's and hash ids' host memory for the next request
     * in this slot. */
    kv_seq keep = e->reqs[i].seq;
    uint64_t *ids = e->reqs[i].hash_ids;
    uint32_t ids_cap = e->reqs[i].hash_cap;
    memset(&e->reqs[i], 0, sizeof(req));
    e->reqs[i].seq.blocks = keep.blocks;
    e->reqs[i].seq.blocks_cap = keep.blocks_cap;
    e->reqs[i].seq.keys = keep.keys; /* num_keys is 0: the next request's content differs */
    e->reqs[i].seq.keys_cap = keep.keys_cap;
    e->reqs[i].hash_ids = ids;
    e->reqs[i].hash_cap = ids_cap;
    e->reqs[i].next_free = e->free_head;
    e->free_head = i;
}

/* ------------------------------------------------------ waiting queue */

static int wq_grow(engine *e)
{
    uint32_t cap = e->wq_cap ? e->wq_cap * 2 : 1024;
    uint32_t *nq = malloc((size_t)cap * sizeof(uint32_t));
    if (nq == NULL)
        return -1;
    for (uint32_t k = 0; k < e->wq_len; k++)
        nq[k] = e->wq[(e->wq_head + k) % e->wq_cap];
    free(e->wq);
    e->wq = nq;
    e->wq_cap = cap;
    e->wq_head = 0;
    return 0;
}

static int wq_push_back(engine *e, uint32_t i)
{
    if (e->wq_len == e->wq_cap && wq_grow(e) != 0)
        return -1;
    e->wq[(e->wq_head + e->wq_len++) % e->wq_cap] = i;
    return 0;
}

static int wq_push_front(engine *e, uint32_t i)
{
    if (e->wq_len == e->wq_cap && wq_grow(e) != 0)
        return -1;
    e->wq_head = (e->wq_head + e->wq_cap - 1) % e->wq_cap;
    e->wq[e->wq_head] = i;
    e->wq_len++;
    return 0;
}

static uint32_t wq_pop_front(engine *e)
{
    uint32_t i = e->wq[e->wq_head];
    e->wq_head = (e->wq_head + 1) % e->wq_cap;
    e->wq_len--;
    return i;
}

/* ------------------------------------------------------------ helpers */

static double to_s(int64_t ns)
{
    return (double)ns / 1e9;
}

static void check_kv(engine *e, const char *where)
{
    if (!e->cfg->check)
        return;
    char msg[256];
    if (kv_check(e->kv, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "kvsim: BUG: allocator invariant broken after %s at t=%.9f s: %s\n", where,
                to_s(e->now_ns), msg);
        abort();
    }
}

/* Reports request I as finished (completed or rejected) and frees its slot. */
static void finish_req(engine *e, uint32_t i, int status, int reason)
{
    req *r = &e->reqs[i];
    kv_release(e->kv, &r->seq);
    sim_result *res = e->res;
    if (status == SIM_REQ_COMPLETED) {
        res->completed++;
        res->input_tokens += r->input;
        res->output_tokens += (uint64_t)r->generated * e->cfg->n_samples;
    } else {
        res->rejected++;
        res->rejected_by[reason]++;
    }
    if (e->obs != NULL && e->obs->on_request != NULL) {
        sim_request_record rec = {
            .id = r->id,
            .line = r->line,
            .arrival_s = to_s(r->arrival_ns),
            .first_token_s = r->first_token_ns >= 0 ? to_s(r->first_token_ns) : -1.0,
            .finish_s = to_s(e->now_ns),
            .input_tokens = r->input,
            .output_tokens = r->generated,
            .output_requested = r->output_requested,
            .preemptions = r->preemptions,
            .status = status,
            .reason = reason,
        };
        e->obs->on_request(e->obs->ctx, &rec);
    }
    req_free(e, i);
}

/* ------------------------------------------------------------ arrivals */

static int admit_arrival(engine *e, const trace_request *t)
{
    uint32_t i;
    if (req_new(e, &i) != 0) {
        snprintf(e->err, e->errlen, "out of memory for requests in flight");
        return -1;
    }
    req *r = &e->reqs[i];
    r->id = t->index;
    r->line = t->line;
    r->arrival_ns = e->now_ns;
    r->first_token_ns = -1;
    r->input = t->input_tokens;
    r->output_requested = t->output_tokens;
    r->output = t->output_tokens;
    e->res->total++;
    if (t->num_hash_ids > 0) {
        if (t->num_hash_ids > r->hash_cap) {
            uint64_t *nh = realloc(r->hash_ids, t->num_hash_ids * sizeof(uint64_t));
            if (nh == NULL) {
                snprintf(e->err, e->errlen, "out of memory for hash ids");
                return -1;
            }
            r->hash_ids = nh;
            r->hash_cap = t->num_hash_ids;
        }
        memcpy(r->hash_ids, t->hash_ids, t->num_hash_ids * sizeof(uint64_t));
    }
    r->seq.seq_id = t->index;
    r->seq.hash_ids = t->num_hash_ids > 0 ? r->hash_ids : NULL;
    r->seq.num_hash_ids = t->num_hash_ids;
    r->seq.prompt_tokens = t->input_tokens;
    r->seq.samples = e->cfg->n_samples;
    uint32_t max_len = e->plan.max_model_len;
    if (r->input > max_len) {
        finish_req(e, i, SIM_REQ_REJECTED, SIM_REJECT_PROMPT_TOO_LONG);
        return 0;
    }
    if (r->input > e->plan.max_batched_tokens) {
        finish_req(e, i, SIM_REQ_REJECTED, SIM_REJECT_PROMPT_OVER_BUDGET);
        return 0;
    }
    if ((uint64_t)r->input + r->output - 1 > max_len) {
        /* vLLM stops a sequence once its length passes max_model_len. */
        r->output = max_len - r->input + 1;
        e->res->truncated++;
    }
    /* The true final length is known to the simulator (not to the scheduler):
     * it sizes oracle and pow2 reservations and classifies the accounting. */
    kv_set_final(e->kv, &r->seq, r->input + r->output - 1);
    if (kv_can_admit(e->kv, &r->seq, r->input) == KV_NEVER) {
        finish_req(e, i, SIM_REQ_REJECTED, SIM_REJECT_PROMPT_OVER_POOL);
        return 0;
    }
    if (wq_push_back(e, i) != 0) {
        snprintf(e->err, e->errlen, "out of memory for the waiting queue");
        return -1;
    }
    return 0;
}

/* Latest arrival accepted, relative to the first: about 31.7 years, far
 * inside int64 nanoseconds. */
#define MAX_ARRIVAL_S 1e9

/* Reads the next request of the stream into e->pending and its arrival,
 * in nanoseconds since the first request's, into e->pending_ns. Time 0 of
 * the run is the first arrival, whatever the trace's clock (a trace in
 * Unix time works as well as one that starts at 0). */
static int read_next(engine *e)
{
    int rc = wl_next(e->src, &e->pending);
    if (rc < 0) {
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
    if (!(rel <= MAX_ARRIVAL_S)) {
        snprintf(e->err, e->errlen,
                 "%s: line %llu: arrival %.17g s is more than 1e9 s after the first request's",
                 wl_describe(e->src), (unsigned long long)e->pending.line, e->pending.arrival_s);
        return -1;
    }
    e->pending_ns = (int64_t)llround(rel * 1e9);
    return 0;
}

/* ----------------------------------------------------------- scheduling */

static void preempt(engine *e, uint32_t pos)
{
    uint32_t i = e->running[pos];
    req *r = &e->reqs[i];
    r->seq.recompute = true;
    kv_release(e->kv, &r->seq);
    r->seq.recompute = false;
    r->preemptions++;
    e->res->preemptions++;
    e->step.preempted++;
    memmove(&e->running[pos], &e->running[pos + 1], (e->nrunning - pos - 1) * sizeof(uint32_t));
    e->nrunning--;
    e->running_seqs -= e->cfg->n_samples;
}

/* One scheduling pass; see schedule(). */
static int schedule_once(engine *e, sim_batch_shape *shape)
{
    memset(shape, 0, sizeof(*shape));
    e->head_need_bytes = 0;
    e->batch_first = e->nrunning;
    uint64_t budget = e->plan.max_batched_tokens;
    uint64_t used = 0;

    while (e->wq_len > 0) {
        uint32_t i = e->wq[e->wq_head];
        req *r = &e->reqs[i];
        uint32_t tokens = r->input + r->generated;
        if (e->running_seqs + e->cfg->n_samples > e->cfg->max_num_seqs)
            break;
        if (tokens > budget) {
            /* Only a recomputation can get here (prompts were checked at arrival). */
            wq_pop_front(e);
            finish_req(e, i, SIM_REQ_REJECTED, SIM_REJECT_RECOMPUTE_OVER_BUDGET);
            continue;
        }
        if (used + tokens > budget)
            break;
        int rc = kv_can_admit(e->kv, &r->seq, tokens);
        if (rc == KV_NEVER) {
            wq_pop_front(e);
            finish_req(e, i, SIM_REQ_REJECTED,
                       r->generated ? SIM_REJECT_GREW_OVER_POOL : SIM_REJECT_PROMPT_OVER_POOL);
            continue;
        }
        if (rc == KV_NOSPACE) {
            e->head_need_bytes = kv_need_bytes(e->kv, &r->seq, tokens);
            break;
        }
        rc = kv_grow(e->kv, &r->seq, tokens);
        if (rc == KV_ENOMEM) {
            snprintf(e->err, e->errlen, "out of memory for block tables");
            return -1;
        }
        if (rc == KV_NOSPACE) {
            /* The strategy's layout refused what its free bytes allowed
             * (a general-purpose allocator can). With nothing running the
             * pool is as empty as it gets: the request can never fit. */
            if (e->nrunning == 0) {
                wq_pop_front(e);
                finish_req(e, i, SIM_REQ_REJECTED,
                           r->generated ? SIM_REJECT_GREW_OVER_POOL : SIM_REJECT_PROMPT_OVER_POOL);
                continue;
            }
            e->head_need_bytes = kv_need_bytes(e->kv, &r->seq, tokens);
            break;
        }
        /* A prefix found in the cache is already computed. */
        uint32_t cached = r->seq.cached_tokens;
        kv_set_used(e->kv, &r->seq, cached);
        check_kv(e, "admission");
        wq_pop_front(e);
        e->running[e->nrunning++] = i;
        e->running_seqs += e->cfg->n_samples;
        used += tokens;
        /* The prompt is computed once for all samples; after a preemption
         * each sample's own tokens are computed again too. */
        double n = e->cfg->n_samples, in = r->input < tokens ? r->input : tokens;
        double pairs_in = in * (in + 1.0) / 2.0, pairs_all = (double)tokens * (tokens + 1.0) / 2.0;
        double computed = in + n * (tokens - in) - cached;
        shape->prefill_seqs++;
        shape->prefill_tokens += (uint64_t)computed;
        shape->prefill_attn_pairs +=
            pairs_in + n * (pairs_all - pairs_in) - (double)cached * (cached + 1.0) / 2.0;
    }
    if (shape->prefill_seqs > 0) {
        e->batch_is_prefill = true;
        e->res->prefill_tokens_computed += shape->prefill_tokens;
        return (int)shape->prefill_seqs;
    }

    e->batch_is_prefill = false;
    e->batch_first = 0;
    for (uint32_t k = 0; k < e->nrunning; k++) {
        req *r = &e->reqs[e->running[k]];
        uint32_t tokens = r->input + r->generated;
        bool self_preempted = false;
        for (;;) {
            int rc = kv_grow(e->kv, &r->seq, tokens);
            if (rc == KV_OK)
                break;
            if (rc == KV_ENOMEM) {
                snprintf(e->err, e->errlen, "out of memory for block tables");
                return -1;
            }
            uint32_t victim_pos = e->nrunning - 1;
            uint32_t victim = e->running[victim_pos];
            preempt(e, victim_pos);
            if (wq_push_front(e, victim) != 0) {
                snprintf(e->err, e->errlen, "out of memory for the waiting queue");
                return -1;
            }
            check_kv(e, "preemption");
            if (victim_pos == k) {
                self_preempted = true;
                break;
            }
        }
        if (self_preempted)
            break;
        check_kv(e, "decode growth");
        shape->decode_seqs += e->cfg->n_samples;
        shape->decode_ctx_tokens += (uint64_t)tokens * e->cfg->n_samples;
    }
    return (int)shape->decode_seqs;
}

/* Picks the next batch; returns -1 on host failure, else the batch's size.
 * A pass can end with nothing running and an empty batch when a lone
 * sequence outgrew the pool and preempted itself: then the queue's head is
 * admitted or rejected by another pass, each of which makes progress. */
static int schedule(engine *e, sim_batch_shape *shape)
{
    e->step.preempted = 0;
    kv_tick(e->kv);
    for (;;) {
        int n = schedule_once(e, shape);
        if (n != 0 || e->wq_len == 0 || e->nrunning > 0)
            return n;
    }
}

static void observe_step_end(engine *e)
{
    if (e->obs == NULL || e->obs->on_step == NULL)
        return;
    e->step.end_s = to_s(e->now_ns);
    e->step.running_after = e->running_seqs;
    e->step.waiting_after = e->wq_len;
    kv_get_breakdown(e->kv, 0, &e->step.mem_after);
    e->obs->on_step(e->obs->ctx, &e->step);
}

static int try_start_step(engine *e)
{
    if (e->busy)
        return 0;
    sim_batch_shape shape;
    int n = schedule(e, &shape);
    if (n < 0)
        return -1;
    if (n == 0) {
        /* Nothing to run: every waiting request is behind a blocked head
         * only while something runs, so an idle replica has an empty queue. */
        assert(e->wq_len == 0 || e->nrunning > 0);
        return 0;
    }
    double dur_s = sim_cost_step_s(&e->cost, &shape);
    int64_t dur_ns = (int64_t)llround(dur_s * 1e9);
    if (dur_ns < 1)
        dur_ns = 1;
    e->step.start_s = to_s(e->now_ns);
    e->step.prefill_seqs = shape.prefill_seqs;
    e->step.decode_seqs = shape.decode_seqs;
    e->step.prefill_tokens = shape.prefill_tokens;
    e->step.running = e->running_seqs;
    e->step.waiting = e->wq_len;
    kv_get_breakdown(e->kv, e->head_need_bytes, &e->step.mem);
    if (e->running_seqs > e->res->max_running)
        e->res->max_running = e->running_seqs;
    e->res->busy_s += dur_s;
    if (sim_evq_push(&e->evq, e->now_ns + dur_ns, EV_STEP_END, 0, 0) != 0) {
        snprintf(e->err, e->errlen, "out of memory for the event queue");
        return -1;
    }
    e->busy = true;
    e->res->steps++;
    return 0;
}

static void end_step(engine *e)
{
    e->busy = false;
    uint32_t from = e->batch_is_prefill ? e->batch_first : 0;
    for (uint32_t k = from; k < e->nrunning; k++) {
        req *r = &e->reqs[e->running[k]];
        kv_set_used(e->kv, &r->seq, r->input + r->generated);
        r->generated++;
        if (r->first_token_ns < 0)
            r->first_token_ns = e->now_ns;
    }
    /* KV written peaks here: every batch token computed, nothing released yet. */
    e->step.used_at_end_bytes =
        (e->kv->totals.used_tokens - e->kv->totals.dup_tokens) * e->kv->cfg.bytes_per_token;
    uint32_t keep = from;
    for (uint32_t k = from; k < e->nrunning; k++) {
        uint32_t i = e->running[k];
        req *r = &e->reqs[i];
        if (r->generated >= r->output) {
            finish_req(e, i, SIM_REQ_COMPLETED, SIM_REJECT_NONE);
            e->running_seqs -= e->cfg->n_samples;
        } else {
            e->running[keep++] = i;
        }
    }
    e->nrunning = keep;
    check_kv(e, "step end");
    observe_step_end(e);
}

/* ------------------------------------------------------------- the run */

static kv_pool_config pool_config(const sim_config *cfg, const sim_memory_plan *plan)
{
    kv_pool_config pc = {
        .pool_bytes = plan->kv_budget_bytes,
        .bytes_per_token = plan->kv_bytes_per_token,
        .max_model_len = plan->max_model_len,
        .watermark = cfg->watermark,
        .num_blocks = cfg->num_blocks,
        .layers = cfg->model.layers,
        .kv_heads = cfg->model.kv_heads,
        .head_dim = cfg->model.head_dim,
        .kv_elem_bytes = cfg->kv_dtype->bytes,
    };
    return pc;
}

int sim_check_config(const sim_config *cfg, char *err, size_t errlen)
{
    sim_memory_plan plan;
    if (sim_memory_plan_compute(cfg, &plan, err, errlen) != 0)
        return -1;
    kv_pool_config pc = pool_config(cfg, &plan);
    kv_alloc *kv;
    if (kv_create(&kv, cfg->allocator, &pc, err, errlen) != 0)
        return -1;
    kv_destroy(kv);
    return 0;
}

static void engine_free(engine *e)
{
    for (uint32_t i = 0; i < e->reqs_len; i++) {
        kv_release(e->kv, &e->reqs[i].seq);
        kv_seq_free(&e->reqs[i].seq);
        free(e->reqs[i].hash_ids);
    }
    free(e->reqs);
    free(e->running);
    free(e->wq);
    sim_evq_free(&e->evq);
    kv_destroy(e->kv);
}

int sim_run(const sim_config *cfg, wl_source *src, const sim_observer *obs, sim_result *res,
            char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    res->first_arrival_s = -1;
    engine e;
    memset(&e, 0, sizeof(e));
    e.cfg = cfg;
    e.src = src;
    e.obs = obs;
    e.res = res;
    e.err = err;
    e.errlen = errlen;
    e.free_head = NONE;
    sim_evq_init(&e.evq);
    if (cfg->n_samples == 0 || cfg->n_samples > cfg->max_num_seqs) {
        snprintf(err, errlen, "--n %u must be 1..--max-num-seqs (%u)", cfg->n_samples,
                 cfg->max_num_seqs);
        return -1;
    }
    if (cfg->max_num_seqs == 0) {
        snprintf(err, errlen, "--max-num-seqs must be >= 1");
        return -1;
    }
    if (sim_memory_plan_compute(cfg, &e.plan, err, errlen) != 0)
        return -1;
    kv_pool_config pc = pool_config(cfg, &e.plan);
    if (kv_create(&e.kv, cfg->allocator, &pc, err, errlen) != 0)
        return -1;
    e.plan.kv_pool_bytes = e.kv->pool_bytes;
    res->plan = e.plan;
    snprintf(res->allocator, sizeof(res->allocator), "%s", e.kv->spec);
    sim_cost_init(&e.cost, &cfg->gpu, &cfg->model, cfg->weight_dtype, cfg->kv_dtype, &cfg->cost);
    if (obs != NULL && obs->on_start != NULL)
        obs->on_start(obs->ctx, &e.plan);
    e.running = malloc((size_t)cfg->max_num_seqs * sizeof(uint32_t));
    if (e.running == NULL) {
        snprintf(err, errlen, "out of memory");
        engine_free(&e);
        return -1;
    }

    int rc = read_next(&e);
    if (rc == 0 && e.have_pending && sim_evq_push(&e.evq, e.pending_ns, EV_ARRIVAL, 0, 0) != 0)
        rc = -1;
    sim_event ev;
    while (rc == 0 && sim_evq_pop(&e.evq, &ev)) {
        e.now_ns = ev.time_ns;
        res->events++;
        if (ev.type == EV_ARRIVAL) {
            /* Admit every request that arrives at this instant, then start a
             * step if the replica is idle. */
            while (rc == 0 && e.have_pending && e.pending_ns <= e.now_ns) {
                rc = admit_arrival(&e, &e.pending);
                if (rc == 0)
                    rc = read_next(&e);
            }
            if (rc == 0 && e.have_pending &&
                sim_evq_push(&e.evq, e.pending_ns, EV_ARRIVAL, 0, 0) != 0) {
                snprintf(err, errlen, "out of memory for the event queue");
                rc = -1;
            }
        } else {
            end_step(&e);
        }
        if (rc == 0)
            rc = try_start_step(&e);
    }
    if (rc == 0) {
        if (e.wq_len != 0 || e.nrunning != 0 || res->completed + res->rejected != res->total) {
            fprintf(stderr,
                    "kvsim: BUG: run ended with %u waiting, %u running, %llu + %llu != %llu\n",
                    e.wq_len, e.nrunning, (unsigned long long)res->completed,
                    (unsigned long long)res->rejected, (unsigned long long)res->total);
            abort();
        }
        res->makespan_s = to_s(e.now_ns);
    }
    if (res->first_arrival_s < 0)
        res->first_arrival_s = 0;
    wl_get_counts(src, &res->trace);
    res->prefix = e.kv->prefix;
    engine_free(&e);
    return rc;
}
