/*
 * fit.c: the arithmetic of `kvsim fit`; see fit.h.
 */
#include "sim/fit.h"

#include "sim/preset.h"
#include "sim/support.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int sim_fit_memory_of(const sim_fit_query *q, sim_fit_memory *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (sim_kv_format_check(q->kv, &q->model, err, errlen) != 0)
        return -1;
    /* A format of another engine is refused once, not on every device. */
    sim_config e;
    memset(&e, 0, sizeof(e));
    /* (auto picks a device's engine for its formats: nothing to refuse.) */
    snprintf(e.engine, sizeof(e.engine), "%s", q->engine[0] != '\0' ? q->engine : "vllm");
    if (strcmp(e.engine, "auto") == 0)
        e.engine[0] = '\0';
    e.cost = q->cost;
    e.weight_dtype = q->weights;
    e.kv_dtype = q->kv;
    if (sim_support_formats(&e, err, errlen) != 0)
        return -1;
    sim_weight_bytes wb;
    if (sim_weight_bytes_of(&q->model, q->weights, &wb, err, errlen) != 0)
        return -1;
    out->weights = wb.total;
    out->bpw = wb.bpw;
    out->kv_per_token = (double)sim_kv_format_bytes_per_token(&q->model, q->kv);
    out->kv_per_seq =
        out->kv_per_token * q->context + (double)sim_kv_window_bytes_per_seq(&q->model, q->kv);
    out->kv = out->kv_per_seq * q->batch;
    out->activations = sim_activation_bytes(&q->model, q->batched_tokens, q->batch, 1);
    out->runtime = q->cost.overhead_bytes;
    out->total = out->weights + out->kv + out->activations + out->runtime;
    return 0;
}

void sim_fit_device_of(const sim_fit_query *q, const sim_fit_memory *mem, const sim_gpu *gpu,
                       sim_fit_device *out)
{
    memset(out, 0, sizeof(*out));
    out->gpu = *gpu;
    /* The share of CUDA's total, as kvsim run's memory plan (config.c). */
    out->usable = (double)gpu->cuda_total_bytes * q->mem_util;
    sim_config c, r;
    sim_config_defaults(&c, gpu, &q->model);
    c.weight_dtype = q->weights;
    c.kv_dtype = q->kv;
    c.cost = q->cost;
    sim_cost_params cost_params = q->cost;
    if (strcmp(q->engine, "auto") == 0) {
        /* The device's own engine (--engine auto): vLLM where it runs,
         * else the llama.cpp preset of its backend. */
        const char *name = sim_support_auto_engine(gpu, q->weights, q->kv);
        sim_engine_preset pr;
        if (name == NULL || sim_preset_lookup(name, &pr, out->why, sizeof(out->why)) != 0) {
            if (name == NULL)
                snprintf(out->why, sizeof(out->why), "a CPU: no engine preset describes one");
            out->refused = true;
            return;
        }
        snprintf(out->engine, sizeof(out->engine), "%s", pr.name);
        snprintf(c.engine, sizeof(c.engine), "%s", pr.name);
        snprintf(c.backend, sizeof(c.backend), "%s", pr.backend);
        c.cost = cost_params = pr.params;
    } else if (q->engine[0] != '\0') {
        snprintf(c.engine, sizeof(c.engine), "%s", q->engine);
        snprintf(c.backend, sizeof(c.backend), "%s", q->backend);
    }
    c.mem_util = q->mem_util;
    c.max_model_len = q->context;
    c.max_num_seqs = q->batch;
    c.max_batched_tokens = q->batched_tokens;
    c.prefix_caching = 0;
    if (sim_config_resolve(&c, &r, out->why, sizeof(out->why)) != 0) {
        out->refused = true;
        return;
    }
    /* A sequence holds whole blocks of 16 (vLLM's default). */
    double per_seq = ceil(q->context / 16.0) * 16.0 * mem->kv_per_token +
                     (double)sim_kv_window_bytes_per_seq(&q->model, q->kv);
    sim_memory_plan p;
    char err[512];
    if (sim_memory_plan_compute(&r, &p, err, sizeof(err)) == 0) {
        /* The plan took KIVI's windows for `batch` sequences off the
         * pool; each further sequence needs its window too. */
        double window = (double)sim_kv_window_bytes_per_seq(&q->model, q->kv);
        double slot = ceil(q->context / 16.0) * 16.0 * mem->kv_per_token;
        out->max_seqs =
            (uint64_t)(((double)p.kv_budget_bytes + (double)p.kv_window_bytes) / (slot + window));
        out->fits = out->max_seqs >= q->batch;
    }
    uint32_t tp = 1;
    if (!out->fits) {
        double room = out->usable - mem->activations - mem->runtime;
        double need = mem->weights + per_seq * q->batch;
        out->gpus = room > 0 ? (uint32_t)ceil(need / room) : 0;
        if (out->gpus > 1024)
            out->gpus = 0;
        snprintf(out->why, sizeof(out->why), "%s",
                 out->gpus ? "needs more than one GPU" : "does not fit on any number");
        /* The smallest tensor-parallel size that kvsim run would take: the
         * heads split (sim_config_resolve), the weights and a batch of the
         * context fit each GPU's pool. From 2, not from gpus: the simple
         * division charges each GPU the whole of one GPU's activations,
         * where each of n holds about 1/n of them, so a size below gpus
         * can hold it (Llama-2-70B fp16 at 2,048 tokens on the RTX 4000
         * Ada: gpus 9, TP 8 runs; from 9 up the first that splits 64
         * heads was 16). */
        for (uint32_t n = 2; out->gpus > 0 && n <= SIM_FIT_MAX_TP && out->tp == 0; n++) {
            c.tensor_parallel = n;
            if (sim_config_resolve(&c, &r, err, sizeof(err)) != 0 ||
                sim_memory_plan_compute(&r, &p, err, sizeof(err)) != 0 || p.kv_bytes_per_token == 0)
                continue;
            double window = (double)p.kv_window_bytes / (q->batch > 0 ? q->batch : 1);
            double slot = ceil(q->context / 16.0) * 16.0 * (double)p.kv_bytes_per_token;
            uint64_t seqs = (uint64_t)(((double)p.kv_budget_bytes + (double)p.kv_window_bytes) /
                                       (slot + window));
            if (seqs >= q->batch) {
                out->tp = n;
                out->max_seqs = seqs;
            }
        }
        if (out->tp == 0) {
            out->max_seqs = 0;
            return;
        }
        tp = out->tp;
    }
    sim_cost cost;
    sim_cost_init(&cost, gpu, &q->model, q->weights, q->kv, &cost_params, tp,
                  tp > 1 ? &r.link : NULL);
    /* As kvsim run prices the step (replica_init): its max_model_len,
     * its scheduler's attention plan. */
    sim_cost_set_max_model_len(&cost, r.max_model_len);
    if (strcmp(r.scheduler, "vllm") == 0)
        sim_cost_set_attention_eager(&cost);
    /* Each sequence's decode speed with the whole batch at the context:
     * one token each a step (--users 16 had printed the batch-1 speed
     * under a header saying batch 16). */
    uint32_t b = q->batch > 0 ? q->batch : 1;
    sim_batch_shape d = {.decode_seqs = b, .decode_ctx_tokens = (uint64_t)b * q->context};
    out->decode_tok_s = 1.0 / sim_cost_step_s(&cost, &d);
    if (gpu->fp16_flops > 0) {
        /* Without a published FLOP rate a prefill would be priced as
         * bandwidth-bound, infinitely fast: not predicted. */
        double n = q->context;
        sim_batch_shape pf = {
            .prefill_seqs = 1, .prefill_tokens = q->context, .prefill_attn_pairs = n * (n + 1) / 2};
        out->prefill_tok_s = n / sim_cost_step_s(&cost, &pf);
    }
}
