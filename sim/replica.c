/*
 * replica.c: the primitives schedulers build a batch with; see replica.h.
 */
#include "sim/replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double to_s(int64_t ns)
{
    return (double)ns / 1e9;
}

void sim_rep_check(sim_replica *r, const char *where)
{
    if (!r->cfg->check)
        return;
    char msg[256];
    if (kv_check(r->kv, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "kvsim: BUG: allocator invariant broken after %s at t=%.9f s: %s\n", where,
                to_s(r->now_ns), msg);
        abort();
    }
}

int sim_rep_grow(sim_replica *r, uint32_t i, uint32_t tokens)
{
    kv_seq *s = &sim_rep_req(r, i)->seq;
    if (kv_grow_is_noop(r->kv, s, tokens) && !r->cfg->check)
        return KV_OK;
    int rc = kv_grow(r->kv, s, tokens);
    if (rc == KV_ENOMEM || rc == KV_EARG) {
        snprintf(r->err, r->errlen, "out of memory for block tables");
        return -1;
    }
    /* An admission's prefix hits count as shared before the caller sets
     * its computed tokens to them; where lanes share a pool (vLLM V1's
     * batches in flight), the blocks' holder may be a prompt whose chunk
     * is still in another batch, its own tokens not yet counted either:
     * the caller checks once it set them. */
    if (rc == KV_OK && s->used_tokens >= s->cached_tokens)
        sim_rep_check(r, "growth");
    return rc == KV_OK ? KV_OK : KV_NOSPACE;
}

/* Sum of (p + 1) for positions p in [a, b): the (query, key) pairs of
 * causal attention computed for those positions. */
static double pairs(double a, double b)
{
    return b > a ? (b * (b + 1.0) - a * (a + 1.0)) / 2.0 : 0.0;
}

static void batch_shape_add(const sim_replica *r, sim_batch_shape *s, const sim_req *q,
                            uint32_t new_tokens, uint32_t pad)
{
    if (new_tokens + pad == 1 && q->computed >= q->input) {
        /* A decode: one token per sample over its context. */
        s->decode_seqs += r->cfg->n_samples;
        s->decode_ctx_tokens += (uint64_t)(q->computed + 1) * r->cfg->n_samples;
        return;
    }
    double n = r->cfg->n_samples;
    double c0 = q->computed, c1 = c0 + new_tokens + pad, in = q->input;
    /* Prompt positions are computed once for all samples; positions past
     * the prompt (a recomputation after preemption) once per sample. */
    double p1 = c1 < in ? c1 : in, o0 = c0 > in ? c0 : in;
    double computed = (p1 > c0 ? p1 - c0 : 0) + n * (c1 > o0 ? c1 - o0 : 0);
    s->prefill_seqs++;
    s->prefill_tokens += (uint64_t)computed;
    s->prefill_attn_pairs += pairs(c0, p1) + n * pairs(o0, c1);
    s->prefill_ctx_tokens += (uint64_t)c0; /* earlier chunks' KV, read by this chunk */
}

void sim_rep_batch_advance(sim_replica *r)
{
    /* batch_shape_add's decode case with each entry's computed one higher;
     * a pad's context does not move. Keep the two in step. */
    r->batch.shape.decode_ctx_tokens += (uint64_t)r->batch.n * r->cfg->n_samples;
}

void sim_rep_decode_shape(const sim_replica *r, sim_batch_shape *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t k = 0; k < r->batch.n; k++)
        batch_shape_add(r, out, sim_rep_req(r, r->batch.req[k]), r->batch.tokens[k], 0);
    for (uint32_t k = 0; k < r->nrunning; k++)
        if (!sim_rep_in_batch(r, r->running[k]))
            batch_shape_add(r, out, sim_rep_req(r, r->running[k]), 0, 1);
}

void sim_rep_batch_add_chunk(sim_replica *r, sim_req *q, uint32_t new_tokens)
{
    batch_shape_add(r, &r->batch.shape, q, new_tokens, 0);
}

void sim_rep_batch_pad(sim_replica *r, uint32_t i, uint32_t pad_tokens)
{
    batch_shape_add(r, &r->batch.shape, sim_rep_req(r, i), 0, pad_tokens);
}

int sim_rep_make_request(sim_replica *r, const sim_queued *qd, const uint64_t *hash_ids,
                         uint32_t *out)
{
    uint32_t i;
    if (sim_req_pool_take(r->pool, &i) != 0) {
        snprintf(r->err, r->errlen, "out of memory for requests in flight");
        return -1;
    }
    sim_req *q = sim_rep_req(r, i);
    q->id = qd->id;
    q->line = qd->line;
    q->arrival_ns = qd->arrival_ns;
    q->first_token_ns = -1;
    q->first_sched_ns = -1;
    q->input = qd->input;
    q->output_requested = qd->output_requested;
    q->output = qd->output;
    q->replica = r->index;
    if (qd->num_hash_ids > 0) {
        if (qd->num_hash_ids > q->hash_cap) {
            uint64_t *nh = realloc(q->hash_ids, qd->num_hash_ids * sizeof(uint64_t));
            if (nh == NULL) {
                sim_req_pool_put(r->pool, i);
                snprintf(r->err, r->errlen, "out of memory for hash ids");
                return -1;
            }
            q->hash_ids = nh;
            q->hash_cap = qd->num_hash_ids;
        }
        memcpy(q->hash_ids, hash_ids, qd->num_hash_ids * sizeof(uint64_t));
    }
    q->seq.seq_id = qd->id;
    q->seq.hash_ids = qd->num_hash_ids > 0 ? q->hash_ids : NULL;
    q->seq.num_hash_ids = qd->num_hash_ids;
    q->seq.prompt_tokens = qd->input;
    q->seq.samples = r->cfg->n_samples;
    /* The true final length is known to the simulator (not to the
     * scheduler): it sizes oracle and pow2 reservations and classifies
     * the accounting. */
    kv_set_final(r->kv, &q->seq, q->input + q->output - 1);
    *out = i;
    return 0;
}

uint32_t sim_rep_waiting_front(sim_replica *r)
{
    if (r->wq->len == 0) {
        sim_queued qd;
        uint32_t i;
        sim_backlog_pop_front(r->bq, &qd);
        int rc = sim_rep_make_request(r, &qd, qd.hash_ids, &i);
        if (rc != 0)
            return SIM_NONE;
        if (sim_queue_push_back(r->wq, i) != 0) {
            snprintf(r->err, r->errlen, "out of memory for the waiting queue");
            return SIM_NONE;
        }
    }
    return sim_queue_at(r->wq, 0);
}

void sim_rep_start_head(sim_replica *r)
{
    uint32_t i = sim_queue_pop_front(r->wq);
    sim_rep_req(r, i)->replica = r->index; /* a shared queue's request: the lane that runs it */
    r->running[r->nrunning++] = i;
    r->running_seqs += r->cfg->n_samples;
}

void sim_rep_set_admitted(sim_replica *r, sim_req *q, uint32_t computed)
{
    q->computed = computed;
    kv_set_used(r->kv, &q->seq, computed);
    sim_rep_check(r, "admission");
}

int sim_rep_note_admission(sim_replica *r, uint32_t i)
{
    sim_replica *o = r->peers;
    if (i >= o->admit_cap) {
        uint32_t cap = r->pool->cap > i ? r->pool->cap : i + 1;
        uint64_t *nv = realloc(o->admit_order, (size_t)cap * sizeof(*nv));
        if (nv == NULL) {
            snprintf(r->err, r->errlen, "out of memory");
            return -1;
        }
        o->admit_order = nv;
        o->admit_cap = cap;
    }
    o->admit_order[i] = ++o->admissions;
    return 0;
}

uint32_t sim_rep_cached_tokens(sim_replica *r, uint32_t i)
{
    sim_req *q = sim_rep_req(r, i);
    return kv_cached_tokens(r->kv, &q->seq, sim_req_tokens(q));
}

void sim_rep_remove_running(sim_replica *r, uint32_t pos)
{
    memmove(&r->running[pos], &r->running[pos + 1], (r->nrunning - pos - 1) * sizeof(uint32_t));
    r->nrunning--;
    r->running_seqs -= r->cfg->n_samples;
}

int sim_rep_preempt(sim_replica *r, uint32_t pos)
{
    uint32_t i = r->running[pos];
    sim_req *q = sim_rep_req(r, i);
    sim_rep_remove_running(r, pos);
    uint64_t bytes = q->seq.alloc_bytes;
    /* Per virtual engine with pipeline parallelism: vLLM v0's scheduler
     * divides the CPU blocks as it divides the GPU ones. */
    uint32_t pp = sim_config_kv_pools(r->cfg);
    uint64_t room = (uint64_t)(r->cfg->swap_space_gib * 1073741824.0) / pp;
    if (r->cfg->preemption_mode == SIM_PREEMPT_SWAP && r->swap_used_bytes + bytes <= room) {
        /* vLLM v0 swaps the victim's blocks to host memory over the host
         * link, in the step that preempts it; its progress is kept. */
        q->swapped = true;
        q->swap_bytes = bytes;
        r->swap_used_bytes += bytes;
        r->batch.swap_out_bytes += bytes;
        r->res->swap_preemptions++;
        r->res->swapped_out_bytes += bytes;
        kv_release(r->kv, &q->seq);
    } else {
        q->seq.recompute = true;
        kv_release(r->kv, &q->seq);
        q->seq.recompute = false;
        r->res->recomputed_tokens += q->computed;
        q->computed = 0;
    }
    q->preemptions++;
    r->res->preemptions++;
    r->stats->preemptions++;
    r->step.preempted++;
    sim_rep_check(r, "preemption");
    if (sim_queue_push_front(r->wq, i) != 0) {
        snprintf(r->err, r->errlen, "out of memory for the waiting queue");
        return -1;
    }
    return 0;
}

int sim_rep_swap_in(sim_replica *r, uint32_t i, uint32_t tokens)
{
    sim_req *q = sim_rep_req(r, i);
    int rc = kv_can_admit(r->kv, &q->seq, tokens);
    if (rc != KV_OK)
        return KV_NOSPACE;
    q->seq.recompute = true; /* not a first admission for the prefix-cache counters */
    rc = sim_rep_grow(r, i, tokens);
    q->seq.recompute = false;
    if (rc != KV_OK)
        return rc;
    kv_set_used(r->kv, &q->seq, q->computed);
    sim_rep_check(r, "swap-in"); /* sim_rep_grow's waited for the computed tokens */
    r->swap_used_bytes -= q->swap_bytes;
    r->batch.swap_in_bytes += q->swap_bytes;
    r->res->swapped_in_bytes += q->swap_bytes;
    q->swapped = false;
    q->swap_bytes = 0;
    return KV_OK;
}

void sim_rep_finish(sim_replica *r, uint32_t i, int status, int reason)
{
    sim_req *q = sim_rep_req(r, i);
    kv_release(r->kv, &q->seq);
    if (q->swapped)
        r->swap_used_bytes -= q->swap_bytes;
    sim_result *res = r->res;
    sim_replica_stats *st = r->stats;
    double finish_s = to_s(r->now_ns), arrival_s = to_s(q->arrival_ns);
    double first_s = q->first_token_ns >= 0 ? to_s(q->first_token_ns) : -1.0;
    if (status == SIM_REQ_COMPLETED) {
        uint64_t out = (uint64_t)q->generated * r->cfg->n_samples;
        res->completed++;
        res->truncated += q->output < q->output_requested;
        res->input_tokens += q->input;
        res->output_tokens += out;
        st->completed++;
        st->input_tokens += q->input;
        st->output_tokens += out;
        st->ttft_sum_s += first_s - arrival_s;
        st->e2e_sum_s += finish_s - arrival_s;
        if (q->generated > 1) {
            st->tpot_sum_s += (finish_s - first_s) / (q->generated - 1);
            st->tpot_n++;
        }
    } else {
        res->rejected++;
        res->rejected_by[reason]++;
        st->rejected++;
    }
    if (r->obs != NULL && r->obs->on_request != NULL) {
        sim_request_record rec = {
            .id = q->id,
            .line = q->line,
            .arrival_s = arrival_s,
            .first_token_s = first_s,
            .first_scheduled_s = q->first_sched_ns >= 0 ? to_s(q->first_sched_ns) : -1.0,
            .finish_s = finish_s,
            .input_tokens = q->input,
            .output_tokens = q->generated,
            .output_requested = q->output_requested,
            .preemptions = q->preemptions,
            .replica = r->group,
            .status = status,
            .reason = reason,
            .at_arrival = r->rejecting_arrival,
        };
        r->obs->on_request(r->obs->ctx, &rec);
    }
    sim_req_pool_put(r->pool, i);
}

void sim_rep_reject_head(sim_replica *r, int reason)
{
    sim_rep_finish(r, sim_queue_pop_front(r->wq), SIM_REQ_REJECTED, reason);
}

void sim_rep_reject_head_never_fits(sim_replica *r)
{
    const sim_req *q = sim_rep_req(r, sim_queue_at(r->wq, 0));
    sim_rep_reject_head(r, q->generated ? SIM_REJECT_GREW_OVER_POOL : SIM_REJECT_PROMPT_OVER_POOL);
}
