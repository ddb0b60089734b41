/*
 * sched_vllm_v0.c: vLLM v0's scheduler (vllm/core/scheduler.py, v0.6).
 *
 * Without chunked prefill (its default below 32k context): while requests
 * wait, a step admits them FCFS whole (prompt, or prompt and output after
 * a recompute preemption) while the token budget, max_num_seqs and the KV
 * pool above the watermark allow, stopping at the first that does not
 * fit; a step that admitted any is prefill only. Otherwise every running
 * sequence decodes one token. Before each decode both of v0's block
 * managers ask for one free block per sequence of the request (v1's
 * can_append_slots; v2's get_num_blocks_touched_by_append_slots counts a
 * whole block for a one-token append even when the last block has room),
 * preempting the newest running request until there is one. Requests
 * swapped out are brought back after the decodes when nothing was
 * preempted, before any new prompt (v0 schedules swapped before new
 * prefills).
 *
 * With --enable-chunked-prefill: v0's chunked scheduler, which is the
 * token-budget scheduler with v0's watermark and decode check.
 */
#include "sim/sched.h"

static int v0_prefills(sim_replica *r)
{
    uint64_t budget = r->plan->max_batched_tokens, used = 0;
    while (sim_rep_waiting(r) > 0 && sim_rep_seq_room(r)) {
        uint32_t i = sim_rep_waiting_front(r);
        if (i == SIM_NONE)
            return -1;
        sim_req *q = sim_rep_req(r, i);
        if (q->swapped)
            break;
        uint32_t tokens = sim_req_tokens(q);
        if (tokens > budget) {
            /* Only a recomputation can get here (prompts fit the budget). */
            sim_rep_reject_head(r, SIM_REJECT_RECOMPUTE_OVER_BUDGET);
            continue;
        }
        if (used + tokens > budget)
            break;
        int rc = kv_can_admit(r->kv, &q->seq, tokens);
        if (rc == KV_NEVER) {
            sim_rep_reject_head_never_fits(r);
            continue;
        }
        if (rc == KV_OK) {
            q->seq.recompute = q->preemptions > 0;
            rc = sim_rep_grow(r, i, tokens);
            q->seq.recompute = false;
            if (rc < 0)
                return -1;
            if (rc != KV_OK && r->nrunning == 0) {
                /* The layout refused an empty pool: it never fits. */
                sim_rep_reject_head_never_fits(r);
                continue;
            }
        }
        if (rc != KV_OK) {
            r->head_blocked = true;
            r->head_req = i;
            r->head_need_tokens = tokens;
            break;
        }
        sim_rep_set_admitted(r, q, q->seq.cached_tokens); /* a prefix found in the cache */
        sim_rep_start_head(r);
        sim_rep_batch_add(r, i, tokens - q->computed);
        used += tokens;
    }
    return 0;
}

static int v0_schedule(sim_replica *r)
{
    if (r->cfg->chunked_prefill) {
        static const sim_budget_policy v0c = {.v0_decode_check = true};
        return sim_sched_budget(r, &v0c);
    }
    if (v0_prefills(r) != 0)
        return -1;
    if (r->batch.n > 0)
        return 0;
    bool preempted = false;
    for (uint32_t k = 0; k < r->nrunning; k++) {
        uint32_t i = r->running[k];
        sim_req *q = sim_rep_req(r, i);
        int rc = sim_sched_make_room(r, i, q, &k, q->computed + 1, true, &preempted);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        sim_rep_batch_add_req(r, i, q, 1);
    }
    while (!preempted && sim_rep_waiting(r) > 0 && sim_rep_seq_room(r)) {
        uint32_t i = sim_rep_waiting_front(r);
        if (i == SIM_NONE)
            return -1;
        sim_req *q = sim_rep_req(r, i);
        if (!q->swapped)
            break;
        if (kv_never_fits(r->kv, &q->seq, sim_req_tokens(q))) {
            sim_rep_reject_head(r, SIM_REJECT_GREW_OVER_POOL); /* it can never come back */
            continue;
        }
        int rc = sim_rep_swap_in(r, i, sim_req_tokens(q));
        if (rc < 0)
            return -1;
        if (rc != KV_OK) {
            r->head_blocked = true;
            r->head_req = i;
            r->head_need_tokens = sim_req_tokens(q);
            break;
        }
        sim_rep_start_head(r);
        sim_rep_batch_add(r, i, sim_req_tokens(q) - q->computed);
    }
    return 0;
}

const sim_sched_ops sim_sched_vllm_v0 = {
    .name = "vllm-v0",
    .help = "vLLM v0: prefill-only steps, watermark, a free block per sequence at each decode",
    .schedule = v0_schedule,
};
