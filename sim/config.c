/*
 * config.c: defaults, start-up checks and the memory plan; see config.h.
 *
 * Defaults follow vLLM's EngineArgs for the `vllm serve` usage context:
 *   vllm (V1, v0.11 EngineArgs.get_batch_defaults): chunked prefill and
 *     prefix caching on; on a GPU with at least 70 GiB that is not an
 *     A100, max_num_batched_tokens 8192 and max_num_seqs 1024, else 2048
 *     and 256 (the A100 exception is vLLM PR #17885: a large budget
 *     lowered its throughput); without chunked prefill the budget is
 *     max(max_model_len, 2048); no admission watermark.
 *   vllm-v0 (v0.6): budget max(max_model_len, 2048), max_num_seqs 256,
 *     watermark 0.01; chunked prefill on by default when max_model_len
 *     exceeds 32768 (v0.6's long-context rule), then a budget of 512 (a
 *     v0.6.4 log: "Chunked prefill is enabled with
 *     max_num_batched_tokens=512").
 *   sarathi: a token budget (chunk) of 512, Sarathi-Serve's strict-SLO
 *     setting (Agrawal et al., OSDI 2024), max_num_seqs 256.
 *   orca, static: budget max(max_model_len, 2048), max_num_seqs 256, a
 *     contiguous max-length reservation per request, placed first-fit
 *     (contiguous:reserve=max,fit=first: exact sizes, as a framework's
 *     own tensor allocation).
 */
#include "sim/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/kv_alloc.h"

void sim_config_defaults(sim_config *cfg, const sim_gpu *gpu, const sim_model *model)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->gpu = *gpu;
    cfg->model = *model;
    cfg->weight_dtype = sim_dtype_find("fp16");
    cfg->kv_dtype = sim_dtype_find("fp16");
    snprintf(cfg->engine, sizeof(cfg->engine), "vllm");
    cfg->cost = sim_engine_preset_find("vllm")->params;
    snprintf(cfg->scheduler, sizeof(cfg->scheduler), "vllm");
    cfg->mem_util = 0.90;
    cfg->watermark = -1;
    cfg->chunked_prefill = -1;
    cfg->prefix_caching = -1;
    cfg->preemption_mode = SIM_PREEMPT_RECOMPUTE;
    cfg->swap_space_gib = 4; /* vLLM's --swap-space default */
    cfg->replicas = 1;
    cfg->n_samples = 1;
}

static double gib(uint64_t b)
{
    return (double)b / 1073741824.0;
}

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

/* Does the paged spec SPEC set KEY? */
static bool spec_has(const char *spec, const char *key)
{
    const char *cur = strchr(spec, ':');
    if (cur == NULL)
        return false;
    cur++;
    char k[32], v[64];
    while (kv_param_next(&cur, k, sizeof(k), v, sizeof(v)) == 1)
        if (strcmp(k, key) == 0)
            return true;
    return false;
}

static bool is_paged(const char *spec)
{
    return strncmp(spec, "paged", 5) == 0 && (spec[5] == ':' || spec[5] == '\0');
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/* Fills the scheduler's defaults; no checks beyond what they need. */
static int fill_defaults(const sim_config *cfg, sim_config *o, char *err, size_t errlen)
{
    *o = *cfg;
    const char *s = o->scheduler;
    bool v1 = strcmp(s, "vllm") == 0, v0 = strcmp(s, "vllm-v0") == 0;
    bool sarathi = strcmp(s, "sarathi") == 0, orca = strcmp(s, "orca") == 0;
    bool stat = strcmp(s, "static") == 0;
    if (!v1 && !v0 && !sarathi && !orca && !stat) {
        snprintf(err, errlen,
                 "--scheduler: unknown scheduler '%s' (known: vllm, vllm-v0, sarathi, orca, "
                 "static)",
                 s);
        return -1;
    }
    uint32_t max_len = o->max_model_len ? o->max_model_len : o->model.max_len;
    o->max_model_len = max_len;
    if (o->chunked_prefill < 0)
        o->chunked_prefill = v1 || sarathi || (v0 && max_len > 32768);
    if (o->chunked_prefill && (orca || stat)) {
        snprintf(err, errlen, "--enable-chunked-prefill: the %s scheduler does not chunk prompts",
                 s);
        return -1;
    }
    if (!o->chunked_prefill && sarathi) {
        snprintf(err, errlen, "--no-enable-chunked-prefill: sarathi always chunks prompts");
        return -1;
    }
    bool big =
        (double)o->gpu.memory_bytes >= 70.0 * 1073741824.0 && strstr(o->gpu.name, "a100") == NULL;
    if (o->max_num_seqs == 0)
        o->max_num_seqs = v1 && big ? 1024 : 256;
    if (o->max_batched_tokens == 0) {
        if (v1 && o->chunked_prefill)
            o->max_batched_tokens = big ? 8192 : 2048;
        else if (v0 && o->chunked_prefill)
            o->max_batched_tokens = 512;
        else if (sarathi)
            o->max_batched_tokens = 512;
        else
            o->max_batched_tokens = max_u32(max_len, 2048);
    }
    if (o->watermark < 0)
        o->watermark = v0 ? 0.01 : 0.0;
    if (o->allocator[0] == '\0')
        snprintf(o->allocator, sizeof(o->allocator), "%s",
                 orca || stat ? "contiguous:reserve=max,fit=first" : "paged:block=16");
    if (o->prefix_caching < 0)
        o->prefix_caching = (v1 && is_paged(o->allocator)) || strstr(o->allocator, "prefix=on");
    if (o->prefix_caching) {
        if (!is_paged(o->allocator)) {
            snprintf(err, errlen,
                     "--enable-prefix-caching needs the paged allocator (--allocator %s)",
                     o->allocator);
            return -1;
        }
        if (!spec_has(o->allocator, "prefix")) {
            size_t len = strlen(o->allocator);
            snprintf(o->allocator + len, sizeof(o->allocator) - len, "%sprefix=on",
                     strchr(o->allocator, ':') ? "," : ":");
        }
    }
    return 0;
}

uint32_t sim_output_cap(const char *scheduler, uint32_t input, uint32_t max_len)
{
    if (strcmp(scheduler, "vllm-v0") == 0)
        return max_len - input + 1;
    return input < max_len ? max_len - input : 1;
}

int sim_memory_plan_compute(const sim_config *cfg_in, sim_memory_plan *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    sim_config cfg;
    if (fill_defaults(cfg_in, &cfg, err, errlen) != 0)
        return -1;
    const sim_model *m = &cfg.model;
    p->max_model_len = cfg.max_model_len;
    p->max_batched_tokens = cfg.max_batched_tokens;
    p->max_num_seqs = cfg.max_num_seqs;
    /* Formats (sim/formats.c): KV scales counted; weights tensor by
     * tensor. Speculative decoding adds the drafter's weights and its KV
     * per pool slot (sim/spec.h); KIVI's fp16 windows are a buffer per
     * sequence slot. */
    p->draft_kv_bytes_per_token = cfg.spec.draft_kv_bytes_per_token;
    p->kv_bytes_per_token =
        sim_kv_format_bytes_per_token(m, cfg.kv_dtype) + p->draft_kv_bytes_per_token;
    p->gpu_bytes = cfg.gpu.memory_bytes;
    p->usable_bytes = (uint64_t)((double)p->gpu_bytes * cfg.mem_util);
    sim_weight_bytes wb;
    if (sim_weight_bytes_of(m, cfg.weight_dtype, &wb, err, errlen) != 0)
        return -1;
    p->draft_weights_bytes = cfg.spec.draft_weights_bytes;
    p->weights_bytes = (uint64_t)llround(wb.total) + p->draft_weights_bytes;
    p->kv_window_bytes = (uint64_t)cfg.max_num_seqs * sim_kv_window_bytes_per_seq(m, cfg.kv_dtype);
    /* vLLM profiles one forward pass over the token budget (and the
     * sampler over max_num_seqs) before it sizes the KV pool. */
    p->activation_bytes =
        (uint64_t)llround(sim_activation_bytes(m, p->max_batched_tokens, cfg.max_num_seqs));
    p->overhead_bytes = (uint64_t)llround(cfg.cost.overhead_bytes);
    if (cfg.num_blocks > 0 || cfg.kv_pool_gib > 0) {
        /* The user sized the pool: the plan's other terms are reported, not enforced. */
        p->pool_overridden = true;
        p->kv_budget_bytes =
            cfg.kv_pool_gib > 0
                ? (uint64_t)llround(cfg.kv_pool_gib * 1073741824.0)
                : (uint64_t)cfg.num_blocks *
                      (cfg.num_blocks_tokens ? cfg.num_blocks_tokens
                                             : sim_spec_block_tokens(cfg.allocator)) *
                      p->kv_bytes_per_token;
        return 0;
    }
    uint64_t need = p->weights_bytes + p->activation_bytes + p->overhead_bytes + p->kv_window_bytes;
    if (need >= p->usable_bytes) {
        snprintf(err, errlen,
                 "%s does not fit on %s: weights %.2f GiB + activations %.2f GiB (for "
                 "--max-num-batched-tokens %u) + runtime %.2f GiB >= %.2f GiB usable (%.0f%% of "
                 "%.2f GiB); use a larger GPU, a smaller model or budget, or --kv-pool-gib to "
                 "study the KV pool alone",
                 m->name, cfg.gpu.name, gib(p->weights_bytes), gib(p->activation_bytes),
                 p->max_batched_tokens, gib(p->overhead_bytes), gib(p->usable_bytes),
                 cfg.mem_util * 100, gib(p->gpu_bytes));
        return -1;
    }
    p->kv_budget_bytes = p->usable_bytes - need;
    return 0;
}

int sim_config_resolve(const sim_config *cfg, sim_config *o, char *err, size_t errlen)
{
    if (fill_defaults(cfg, o, err, errlen) != 0)
        return -1;
    /* Formats the model's shape or the GPU cannot run (sim/formats.c). */
    sim_weight_bytes wb;
    double flops;
    if (sim_weight_bytes_of(&o->model, o->weight_dtype, &wb, err, errlen) != 0 ||
        sim_weight_peak_flops(&o->gpu, o->weight_dtype, &flops, err, errlen) != 0 ||
        sim_kv_format_check(o->kv_dtype, &o->model, err, errlen) != 0 ||
        sim_spec_resolve(&o->spec, o, err, errlen) != 0)
        return -1;
    if (o->n_samples == 0 || o->n_samples > o->max_num_seqs) {
        snprintf(err, errlen, "--n %u cannot exceed --max-num-seqs (%u)", o->n_samples,
                 o->max_num_seqs);
        return -1;
    }
    if (o->replicas == 0 || o->replicas > SIM_MAX_REPLICAS) {
        snprintf(err, errlen, "--replicas %u must be 1..%d", o->replicas, SIM_MAX_REPLICAS);
        return -1;
    }
    /* vLLM's SchedulerConfig checks (v0.11 vllm/config/scheduler.py). */
    if (!o->chunked_prefill && o->max_batched_tokens < o->max_model_len) {
        snprintf(err, errlen,
                 "--max-num-batched-tokens (%u) is smaller than --max-model-len (%u) without "
                 "chunked prefill: longer prompts could never run; raise "
                 "--max-num-batched-tokens, lower --max-model-len, or use "
                 "--enable-chunked-prefill",
                 o->max_batched_tokens, o->max_model_len);
        return -1;
    }
    if (o->max_batched_tokens < o->max_num_seqs) {
        snprintf(err, errlen,
                 "--max-num-batched-tokens (%u) must be >= --max-num-seqs (%u): raise the "
                 "budget or lower --max-num-seqs",
                 o->max_batched_tokens, o->max_num_seqs);
        return -1;
    }
    if (o->preemption_mode == SIM_PREEMPT_SWAP && strcmp(o->scheduler, "static") == 0) {
        snprintf(err, errlen,
                 "--preemption-mode swap: static batching recomputes a preempted "
                 "request; use --preemption-mode recompute");
        return -1;
    }
    if (o->preemption_mode == SIM_PREEMPT_SWAP && strcmp(o->scheduler, "vllm") == 0) {
        /* V1's _preempt_request frees the KV and resets the computed
         * tokens (v0.11): there is no swap path. */
        snprintf(err, errlen,
                 "--preemption-mode swap: vLLM V1 (--scheduler vllm) preempts by recompute "
                 "only; use --scheduler vllm-v0 or sarathi to model swapping");
        return -1;
    }
    if (o->preemption_mode == SIM_PREEMPT_SWAP && !(o->gpu.host_link_Bps > 0)) {
        snprintf(err, errlen,
                 "--preemption-mode swap: %s has no host link bandwidth in the catalog; use "
                 "--preemption-mode recompute",
                 o->gpu.name);
        return -1;
    }
    return 0;
}
