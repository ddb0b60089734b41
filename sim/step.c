/*
 * step.c: a replica's iteration loop; see step.h.
 */
#include "sim/step.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/parallel.h"
#include "sim/pipeline.h"
#include "sim/sched.h"
#include "sim/spec.h"

static double to_s(int64_t ns)
{
    return (double)ns / 1e9;
}

double sim_step_pass_s(const sim_replica *r, const sim_batch_shape *b, unsigned *outside)
{
    if (r->cfg->step_profile != NULL)
        return sim_step_profile_s(r->cfg->step_profile, b, outside);
    if (outside != NULL)
        *outside = 0;
    return sim_cost_step_s(&r->cost, b);
}

/* The step's price, with *OUTSIDE the profile's out-of-range bits. */
static double step_cost(const sim_replica *r, unsigned *outside)
{
    double draft_s;
    /* Speculative decoding: the verify pass and the drafter (sim/spec.c). */
    double t = r->cfg->spec.method != SIM_SPEC_NONE ? sim_spec_step_s(r, &draft_s, outside)
                                                    : sim_step_pass_s(r, &r->batch.shape, outside);
    uint64_t swap = r->batch.swap_in_bytes + r->batch.swap_out_bytes;
    if (swap > 0) /* vLLM v0 swaps blocks synchronously, before the step's forward pass */
        t += (double)swap / r->cfg->gpu.host_link_Bps;
    return t;
}

double sim_step_cost(const sim_replica *r, unsigned *outside)
{
    return step_cost(r, outside);
}

bool sim_step_observed(const sim_replica *r)
{
    return r->obs != NULL && r->obs->on_step != NULL && r->index == 0;
}

void sim_step_observe(sim_replica *r, const kv_breakdown *mem_after)
{
    r->step.replica = r->index;
    r->step.end_s = to_s(r->now_ns);
    r->step.running_after = sim_rep_pool_seqs(r);
    r->step.waiting_after = sim_rep_waiting(r);
    r->step.mem_after = *mem_after;
    r->obs->on_step(r->obs->ctx, &r->step);
}

static void observe(sim_replica *r)
{
    if (!sim_step_observed(r))
        return; /* the memory observers follow replica 0 (see README) */
    kv_breakdown after;
    kv_get_breakdown(r->kv, 0, &after);
    sim_step_observe(r, &after);
}

void sim_step_observe_idle(sim_replica *r)
{
    /* The pass's preemptions (a lone request preempting itself before it
     * is rejected as outgrowing the pool) are the record's too: the time
     * series sums them to summary.json's preemption.total. */
    uint32_t preempted = r->step.preempted;
    memset(&r->step, 0, sizeof(r->step));
    r->step.preempted = preempted;
    r->step.idle = true;
    r->step.start_s = to_s(r->now_ns);
    r->step.running = sim_rep_pool_seqs(r);
    r->step.waiting = sim_rep_waiting(r);
    kv_get_breakdown(r->kv, 0, &r->step.mem);
    r->step.used_at_end_bytes = 0;
    observe(r);
}

/* With pipeline parallelism: the step of DUR_S (one GPU running the whole
 * model) goes through R's stages, each running its share of the layers
 * (the fullest stage's share, for every stage); the host work before the
 * forward pass (step overhead, synchronous swaps) occupies no stage; the
 * hidden states of the step's tokens cross the link between stages
 * (the link's floor plus bytes at its bus bandwidth). Returns the span
 * from now to the last stage's end, stages waited for included. */
static int64_t pipeline_span_ns(sim_replica *r, double dur_s)
{
    const sim_batch_shape *sh = &r->batch.shape;
    double roof = sim_cost_step_s(&r->cost, sh);
    double fixed = sim_cost_host_s(&r->cost, sh);
    double host = fixed + (dur_s - roof);
    double share = (double)r->plan->stage_layers / r->cfg->model.layers;
    double stage = (roof - fixed) * share;
    /* What each stage computes of the step: its busy time (a pipelined
     * step's stage reservation below holds its share of the span, bubbles
     * included, not its work). */
    double work = stage;
    double tokens = (double)sh->prefill_tokens + sh->decode_seqs + (double)r->batch.spec.drafts;
    /* vLLM sends 16-bit hidden states; llama.cpp's graph keeps them in
     * fp32 between its layers (ggml's f32 activations). */
    double elem = r->cfg->cost.llamacpp_split ? 4.0 : 2.0;
    double m = 1; /* llama.cpp's ubatches in the step */
    if (r->cfg->cost.llamacpp_split && r->cfg->cost.ubatch_pipeline &&
        tokens > SIM_LLAMACPP_UBATCH) /* sim/parallel.h */
        m = ceil(tokens / SIM_LLAMACPP_UBATCH);
    double crossing = tokens / m;
    double xfer =
        r->cfg->link.floor_s + crossing * elem * r->cfg->model.hidden / r->cfg->link.busbw_Bps;
    if (r->cfg->cost.llamacpp_split) {
        /* llama.cpp copies the hidden state between devices with
         * cudaMemcpyPeerAsync over the host link, staged through host
         * memory on every board (it enables peer access for the row
         * split only): two crossings, each with the preset's fixed time
         * of a staged copy (as kvsim validate prices it). */
        const sim_gpu *g = &r->cfg->gpu;
        double link = g->host_link_Bps > 0 ? g->host_link_Bps : r->cfg->link.busbw_Bps;
        xfer = 2 * r->cfg->cost.split_stage_s + crossing * elem * r->cfg->model.hidden / (link / 2);
        /* llama.cpp's GPUs hold unequal runs of layers (sim/parallel.h)
         * and run one batch in turn: the stages' work sums to the step's.
         * With ubatch_pipeline (#6017, April 2024 on) a batch of more than
         * n_ubatch tokens runs as M ubatches that follow each other
         * through the GPUs: one ubatch through all of them, then M - 1
         * more, each at the fullest GPU's pace (SHARE) or, where more
         * GPUs than that are busy, from the sixth on, at the pace the
         * scheduler's ring allows: SIM_LLAMACPP_INFLIGHT ubatches per
         * passage through all the GPUs and the hops between them
         * (sim_llamacpp_ubatch_span). Each crosses with its own tokens.
         * The P stages below are reserved in turn, each given 1/P of that
         * span less the P - 1 hops the reservation adds. */
        uint32_t p = r->pipe->stages;
        double w = (roof - fixed) / m;
        stage = (sim_llamacpp_ubatch_span(w, share, p, (uint32_t)m, xfer) - (p - 1) * xfer) / p;
        work = (roof - fixed) / p;
    }
    int64_t stage_ns = (int64_t)llround(stage * 1e9);
    int64_t end = sim_pipeline_reserve(r->pipe, r->now_ns, (int64_t)llround(host * 1e9),
                                       stage_ns > 0 ? stage_ns : 1, (int64_t)llround(xfer * 1e9));
    r->res->stage_busy_s += work * r->pipe->stages;
    return end - r->now_ns > 0 ? end - r->now_ns : 1;
}

/* A step's busy time and count, the run's and the replica's. */
static void count_step(sim_replica *r, double dur_s)
{
    r->res->busy_s += dur_s;
    r->res->steps++;
    r->stats->busy_s += dur_s;
    r->stats->steps++;
}

void sim_step_account(sim_replica *r, double dur_s, unsigned outside)
{
    const sim_batch_shape *sh = &r->batch.shape;
    /* Over the pool's lanes where they share one (vLLM V1's batches in
     * flight): the one scheduler's running and waiting requests. */
    uint32_t running = sim_rep_pool_seqs(r);
    if (running > r->res->max_running)
        r->res->max_running = running;
    if (running > r->stats->max_running)
        r->stats->max_running = running;
    /* The queue left by the pass (merged steps repeat this step's: no
     * arrival joins it in between). */
    uint32_t waiting = sim_rep_waiting(r);
    if (waiting > r->res->max_waiting)
        r->res->max_waiting = waiting;
    if (waiting > r->stats->max_waiting)
        r->stats->max_waiting = waiting;
    if (r->cfg->spec.method != SIM_SPEC_NONE) {
        double draft_s;
        sim_spec_step_s(r, &draft_s, NULL);
        r->res->spec.draft_s += draft_s;
        if (r->batch.spec.seqs > 0)
            r->res->spec.verify_s += dur_s - draft_s;
    }
    count_step(r, dur_s);
    /* Draft tokens verified in the step are tokens of its pass too. A
     * measured profile has its all-reduces inside step_ms, not apart. */
    if (r->cfg->step_profile == NULL)
        r->res->allreduce_s += sim_cost_allreduce_s(
            &r->cost, (double)sh->prefill_tokens + sh->decode_seqs + (double)r->batch.spec.drafts);
    else
        sim_step_profile_count(&r->res->step_profile, outside);
    r->res->prefill_tokens_computed += sh->prefill_tokens;
}

/* vLLM V1's batches in flight: a request whose chunk is in another
 * lane's batch, with more of its prompt (or recomputation) to compute
 * after it, can have its next chunk in this lane's batch, as V1's
 * schedule() advances num_computed_tokens when it schedules and so gives
 * a prefilling request a chunk in each batch it builds (only a decode
 * waits for its token to come back). Each such request moves to lane R:
 * its chunk in flight is counted computed now (its KV used from now,
 * where the other lane's step end would have) and leaves that lane's
 * batch, whose step is already priced with it. */
static void take_prefills(sim_replica *r)
{
    sim_req *const pool = r->pool->v;
    kv_alloc *const kv = r->kv;
    for (uint32_t l = 0; l < r->npeers; l++) {
        sim_replica *a = &r->peers[l];
        if (a == r || !a->busy)
            continue;
        uint32_t keep = 0;
        for (uint32_t k = 0; k < a->batch.n; k++) {
            uint32_t i = a->batch.req[k], t = a->batch.tokens[k];
            sim_req *q = &pool[i];
            if (q->computed + t >= sim_req_tokens(q) || q->spec_drafts > 0) {
                a->batch.req[keep] = i;
                a->batch.tokens[keep++] = t;
                continue;
            }
            q->computed += t;
            uint64_t used = kv->totals.used_tokens;
            sim_step_set_used(kv, &q->seq, q->computed, &used);
            kv->totals.used_tokens = used;
            for (uint32_t p = 0; p < a->nrunning; p++)
                if (a->running[p] == i) {
                    sim_rep_remove_running(a, p);
                    break;
                }
            q->stamp = 0; /* another lane's pass stamp: not in R's batch */
            q->replica = r->index;
            r->running[r->nrunning++] = i;
            r->running_seqs += r->cfg->n_samples;
        }
        a->batch.n = keep;
    }
}

int sim_step_start(sim_replica *r, int64_t *end_ns)
{
    if (r->busy)
        return 0;
    if (r->peers != NULL)
        take_prefills(r);
    r->step.preempted = 0;
    r->batch.swap_in_bytes = r->batch.swap_out_bytes = 0;
    uint64_t ended_before = r->res->completed + r->res->rejected;
    uint32_t running_before = r->nrunning, waiting_before = sim_rep_waiting(r);
    uint32_t passes = 0;
    kv_tick(r->kv);
    for (;;) {
        passes++;
        uint32_t preempted_before = r->step.preempted;
        r->stamp++;
        r->batch.n = 0;
        memset(&r->batch.shape, 0, sizeof(r->batch.shape));
        memset(&r->batch.spec, 0, sizeof(r->batch.spec));
        r->head_blocked = false;
        r->head_need_tokens = 0;
        r->pass_known = 0;
        r->pass_known_unit = false;
        r->pass_next_lazy = false;
        r->pass_last_sorted = false;
        r->pass_unstamped = false;
        if (r->sched->schedule(r) != 0)
            return -1;
        /* An empty pass rejected or preempted the request it ended on (a
         * lone request outgrowing the pool; sarathi's last decode, or a
         * static batch's last unfinished request, preempting itself): the
         * new state gets a pass of its own. Each such pass removes a
         * running request or the queue's head, so this ends. */
        if (r->batch.n > 0 || (sim_rep_waiting(r) == 0 && r->nrunning == 0))
            break;
        if (r->nrunning > 0 && r->step.preempted == preempted_before)
            break;
        /* A lane of a shared pool whose requests wait for KV the other
         * lanes hold: it schedules again when one of theirs ends. */
        if (r->nrunning == 0 && sim_rep_pool_running(r) > 0)
            break;
    }
    r->pre_pass = false; /* its first pass may have taken it (sim/sched_budget.c), no later one */
    if (r->pass_known == 0)
        r->mc_valid = false; /* the last run's classes: only for the step right after it */
    /* The pass started, ended, preempted, admitted and swapped nothing:
     * the same state gives the same pass (sim/merge.h). */
    bool calm = passes == 1 && r->step.preempted == 0 &&
                r->res->completed + r->res->rejected == ended_before &&
                r->batch.swap_in_bytes == 0 && r->batch.swap_out_bytes == 0;
    r->batch.steady = calm && r->nrunning == running_before && sim_rep_waiting(r) == waiting_before;
    r->batch.admits = calm && !r->batch.steady && sim_rep_waiting(r) == 0;
    if (r->batch.n == 0) {
        /* Nothing left; or, in a lane of a shared pool, requests that wait
         * for KV another lane holds (sim/sched_budget.c). */
        assert(r->peers != NULL || (r->nrunning == 0 && sim_rep_waiting(r) == 0));
        assert(r->nrunning == 0 || sim_rep_pool_running(r) > r->nrunning);
        /* Rejections or a static batch's end freed memory; or a lane of a
         * shared pool preempted its last request, which waits for KV. */
        if (r->res->completed + r->res->rejected != ended_before || r->step.preempted > 0)
            sim_step_observe_idle(r);
        return 0;
    }
    /* The CLI checks this at start-up (cli/run_config.c); a caller of
     * the library that did not gets a host failure, not roofline terms
     * (pipeline stages, offload) mixed into measured times. */
    if (r->cfg->step_profile != NULL &&
        sim_step_profile_check(r->cfg->step_profile, r->plan->tensor_parallel,
                               r->plan->pipeline_parallel,
                               r->plan->gpu_layers < r->cfg->model.layers, r->err, r->errlen) != 0)
        return -1;
    unsigned outside = 0;
    double dur_s = step_cost(r, &outside);
    if (!(dur_s < SIM_MAX_STEP_S)) {
        snprintf(r->err, r->errlen,
                 "a step of %.3g s at t=%.3f s: the cost parameters (--bw-eff, --flops-eff, "
                 "--step-overhead-ms) or the device and link figures (--peak-tflops, "
                 "--mem-bw-gbps, --allreduce-busbw, --host-*) are outside any physical range",
                 dur_s, to_s(r->now_ns));
        return -1;
    }
    int64_t dur_ns = sim_round_ns(dur_s);
    if (dur_ns < 1)
        dur_ns = 1;
    if (r->now_ns > INT64_MAX / 2 - dur_ns) {
        snprintf(r->err, r->errlen, "the simulated clock overflows at t=%.3f s", to_s(r->now_ns));
        return -1;
    }
    if (r->pipe != NULL)
        dur_ns = pipeline_span_ns(r, dur_s);
    /* The step as the clock runs it, in whole nanoseconds: busy time (and
     * speculation's verify time) summed from the rounded durations stays
     * within the makespan, as the clock's own steps do. */
    dur_s = (double)dur_ns / 1e9;
    const sim_batch_shape *sh = &r->batch.shape;
    r->step.idle = false;
    r->step.start_s = to_s(r->now_ns);
    r->step.prefill_seqs = sh->prefill_seqs;
    r->step.decode_seqs = sh->decode_seqs;
    r->step.prefill_tokens = sh->prefill_tokens;
    r->step.spec_tokens = r->batch.spec.drafts;
    r->step.swap_bytes = r->batch.swap_in_bytes + r->batch.swap_out_bytes;
    r->step.running = sim_rep_pool_seqs(r);
    r->step.waiting = sim_rep_waiting(r);
    uint64_t head_need = 0;
    if (r->head_blocked) {
        const sim_req *h = sim_rep_req(r, r->head_req);
        head_need = kv_need_bytes(r->kv, &h->seq, r->head_need_tokens);
    }
    r->head_need_bytes = head_need;
    kv_get_breakdown(r->kv, head_need, &r->step.mem);
    sim_step_account(r, dur_s, outside);
    r->busy = true;
    *end_ns = r->now_ns + dur_ns;
    return 1;
}

void sim_step_report_gaps(const sim_replica *r, int64_t gap_ns, uint64_t count)
{
    if (count > 0 && r->obs != NULL && r->obs->on_token_gaps != NULL)
        r->obs->on_token_gaps(r->obs->ctx, to_s(r->now_ns), gap_ns < 0 ? -1.0 : to_s(gap_ns),
                              count);
}

void sim_step_end(sim_replica *r)
{
    r->busy = false;
    /* Gaps since each request's previous token, run-length coded. */
    sim_gap_run run = {-1, 0};
    uint64_t first = 0;
    uint32_t sampled = 0, finished = 0;
    /* The batch's finished requests (the first STEP_FIN of them), for
     * their removal from the running set without a look at the others. */
    enum { STEP_FIN = 8 };
    uint32_t fin[STEP_FIN];
    /* Read once: the stores below through Q could alias them for the
     * compiler (a load each per request otherwise). */
    const uint32_t n = r->batch.n, samples = r->cfg->n_samples;
    const uint32_t *req = r->batch.req, *tokens = r->batch.tokens;
    const int64_t now = r->now_ns;
    sim_req *const pool = r->pool->v;
    kv_alloc *const kv = r->kv;
    /* kv_set_used's sum in a register (stores through Q could alias it),
     * in memory around the calls that may read it. */
    uint64_t used_sum = kv->totals.used_tokens;
    const bool pre = r->pre_ended;
    if (pre) {
        /* A merged run made the pass below (r->pre_ended): every entry a
         * decode that sampled its token PRE_GAP_NS after its previous one.
         * The same reports: a run of equal gaps, no first token. */
        r->pre_ended = false;
        sim_gap_run_add(r, &run, r->pre_gap_ns, (uint64_t)n * samples);
        sampled = n * samples;
        finished = r->pre_finished;
#ifndef NDEBUG
        for (uint32_t k = 0; k < n; k++) {
            const sim_req *q = &pool[req[k]];
            assert(tokens[k] == 1 && q->computed + 1 == sim_req_tokens(q) &&
                   q->seq.used_tokens == q->computed && q->last_token_ns == now &&
                   q->first_token_ns >= 0 && q->generated <= q->output);
        }
#endif
    }
    /* Four entries an iteration (Azure 7B's replay 7.8 million
     * instructions fewer; two: 1.5 million, eight: 3.7). Only where GCC
     * optimizes: at -O0 it ignores the pragma on this loop's test with a
     * warning (the pass's count hoisted out of the test would quiet it,
     * but cost the Azure replays a million instructions). */
#ifdef __OPTIMIZE__
#pragma GCC unroll 4
#endif
    for (uint32_t k = 0; !pre && k < n; k++) {
        sim_req *q = &pool[req[k]];
        q->computed += tokens[k];
        /* Speculative decoding: accepted drafts are computed tokens and
         * outputs; the rejected ones' slots stay allocated (sim/spec.h). */
        uint32_t accepted = 0;
        if (q->spec_drafts > 0) {
            kv->totals.used_tokens = used_sum;
            accepted = sim_spec_step_end(r, q);
            used_sum = kv->totals.used_tokens;
        }
        q->computed += accepted;
        sim_step_set_used(kv, &q->seq, q->computed, &used_sum);
        if (q->computed >= sim_req_tokens(q) && q->generated < q->output) {
            /* Caught up: the step sampled a token (one per sample), and
             * the drafts it accepted; they reach the client together (one
             * inter-token gap per step, as vLLM's streamed chunks). */
            q->generated += 1 + accepted;
            sampled += (1 + accepted) * samples;
            if (q->first_token_ns < 0) {
                q->first_token_ns = now;
                first += samples;
            } else {
                sim_gap_run_add(r, &run, now - q->last_token_ns, samples);
            }
            q->last_token_ns = now;
        }
        if (q->generated >= q->output && !q->hold) {
            if (finished < STEP_FIN)
                fin[finished] = req[k];
            finished++;
        }
    }
    kv->totals.used_tokens = used_sum;
    sim_gap_run_flush(r, &run);
    sim_step_report_gaps(r, -1, first);
    r->step.output_tokens = sampled;
    r->batch.n = 0;
    /* KV written peaks here: every batch token computed, nothing released yet. */
    r->step.used_at_end_bytes =
        (r->kv->totals.used_tokens - r->kv->totals.dup_tokens) * r->kv->cfg.bytes_per_token;
    /* Lanes sharing a pool: the others allocated while this step ran, so
     * its record's memory is the pool's now, before releases (the KV
     * written above never exceeds what is allocated at the same time). */
    if (r->peers != NULL)
        kv_get_breakdown(r->kv, r->head_need_bytes, &r->step.mem);
    /* Only a request of the batch can have finished: the others' counts
     * did not move since the last step's end kept them (the pass over the
     * running set is skipped without one; --check makes it and compares). */
    if (finished > 0 && finished <= STEP_FIN && !pre && !r->cfg->check) {
        /* Their places in the running set (indices only: the requests'
         * states are not read again), in its order, which their finishes
         * keep (the loop below's). */
        uint32_t at[STEP_FIN], *rs = r->running, nrun = r->nrunning;
        for (uint32_t j = 0; j < finished; j++) {
            uint32_t p = 0;
            while (p < nrun && rs[p] != fin[j])
                p++;
            assert(p < nrun);
            uint32_t m = j;
            for (; m > 0 && at[m - 1] > p; m--)
                at[m] = at[m - 1];
            at[m] = p;
        }
        for (uint32_t j = 0; j < finished; j++) {
            r->running_seqs -= r->cfg->n_samples;
            sim_rep_finish(r, rs[at[j]], SIM_REQ_COMPLETED, SIM_REJECT_NONE);
        }
        uint32_t keep = at[0];
        for (uint32_t j = 0; j < finished; j++) {
            uint32_t end = j + 1 < finished ? at[j + 1] : nrun;
            for (uint32_t p = at[j] + 1; p < end; p++)
                rs[keep++] = rs[p];
        }
        r->nrunning = keep;
    } else if (finished > 0 || r->cfg->check) {
        uint32_t keep = 0, removed = 0;
        for (uint32_t k = 0; k < r->nrunning; k++) {
            uint32_t i = r->running[k];
            sim_req *q = sim_rep_req(r, i);
            if (q->generated >= q->output && !q->hold) {
                r->running_seqs -= r->cfg->n_samples;
                sim_rep_finish(r, i, SIM_REQ_COMPLETED, SIM_REJECT_NONE);
                removed++;
            } else {
                r->running[keep++] = i;
            }
        }
        r->nrunning = keep;
        if (r->cfg->check && removed != finished) {
            fprintf(stderr,
                    "kvsim: BUG: step end at t=%.9f s: %u requests finished, %u of them in "
                    "the batch\n",
                    to_s(r->now_ns), removed, finished);
            abort();
        }
    }
    sim_rep_check(r, "step end");
    observe(r);
}
