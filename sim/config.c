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
#include "sim/parallel.h"
#include "sim/pipeline.h"
#include "sim/preset.h"
#include "sim/spec.h"
#include "sim/support.h"

void sim_config_defaults(sim_config *cfg, const sim_gpu *gpu, const sim_model *model)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->gpu = *gpu;
    cfg->model = *model;
    cfg->weight_dtype = sim_dtype_find("fp16");
    cfg->kv_dtype = sim_dtype_find("fp16");
    snprintf(cfg->engine, sizeof(cfg->engine), "vllm");
    sim_engine_preset pr;
    char err[256];
    if (sim_preset_lookup("vllm", &pr, err, sizeof(err)) == 0) {
        cfg->cost = pr.params;
        snprintf(cfg->backend, sizeof(cfg->backend), "%s", pr.backend);
    }
    snprintf(cfg->scheduler, sizeof(cfg->scheduler), "vllm");
    /* vLLM's --gpu-memory-utilization default; on a Mac the GPU may wire
     * about 75 % of the unified memory (Metal's
     * recommendedMaxWorkingSetSize: 64 GB -> 49,152 MiB, llama.cpp #1870;
     * 96 GB -> 73,728 MB, #3213). Linux unified devices (DGX Spark) and
     * CPU servers have no such limit. */
    cfg->mem_util = gpu->unified_memory && strcmp(gpu->vendor, "Apple") == 0 ? 0.75 : 0.90;
    cfg->watermark = -1;
    cfg->chunked_prefill = -1;
    cfg->prefix_caching = -1;
    cfg->preemption_mode = SIM_PREEMPT_RECOMPUTE;
    cfg->swap_space_gib = 4; /* vLLM's --swap-space default */
    cfg->replicas = 1;
    cfg->n_samples = 1;
    cfg->tensor_parallel = 1;
    cfg->pipeline_parallel = 1;
    cfg->gpu_layers = -1;
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

int sim_spec_prefix(const char *spec)
{
    if (!is_paged(spec) || spec[5] == '\0')
        return -1;
    const char *cur = spec + 6;
    char k[32], v[64];
    int on = -1;
    while (kv_param_next(&cur, k, sizeof(k), v, sizeof(v)) == 1)
        if (strcmp(k, "prefix") == 0)
            on = strcmp(v, "on") == 0 ? 1 : strcmp(v, "off") == 0 ? 0 : -1;
    return on;
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
    /* vLLM compares get_device_total_memory(), CUDA's total, with 70 GiB. */
    bool big = (double)o->gpu.cuda_total_bytes >= 70.0 * 1073741824.0 &&
               strstr(o->gpu.name, "a100") == NULL;
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
    /* The switch and a paged spec's prefix=on|off are one setting: a spec
     * that sets it decides when the switch is not given, and the two may
     * not disagree (the summary's enable_prefix_caching is what ran). */
    int spec_prefix = sim_spec_prefix(o->allocator);
    if (o->prefix_caching >= 0 && spec_prefix >= 0 && o->prefix_caching != spec_prefix) {
        snprintf(err, errlen, "--%s-prefix-caching: --allocator %s turns prefix caching %s",
                 o->prefix_caching ? "enable" : "no-enable", o->allocator,
                 spec_prefix ? "on" : "off");
        return -1;
    }
    if (o->prefix_caching < 0)
        o->prefix_caching = spec_prefix >= 0 ? spec_prefix : v1 && is_paged(o->allocator);
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

/* The memory terms of CFG's model on one of TP GPUs into P (no checks):
 * its share of the weights, activations of the profiling pass, runtime
 * overhead, and a token's KV. Returns what they leave for KV (negative
 * when they do not fit). */
static double plan_terms(const sim_config *cfg, uint32_t tp, sim_memory_plan *p)
{
    const sim_model *m = &cfg->model;
    uint32_t pp = cfg->pipeline_parallel > 1 ? cfg->pipeline_parallel : 1;
    p->tensor_parallel = tp;
    p->pipeline_parallel = pp;
    /* vLLM's stages (the fullest: ceil(N / P)); llama.cpp's layer split
     * its own assignment (sim/parallel.h). */
    p->stage_layers = cfg->cost.llamacpp_split ? sim_llamacpp_max_layers(pp, m->layers)
                                               : (m->layers + pp - 1) / pp;
    sim_model shard = *m;
    shard.kv_heads = sim_tp_kv_heads(m, tp);
    /* Formats (sim/formats.c): KV scales counted; weights tensor by tensor
     * (sim_memory_plan_compute checked that they can be computed).
     * Speculative decoding adds the drafter's weights and its KV per pool
     * slot (sim/spec.h), whole on every GPU (kvsim does not split the
     * drafter); KIVI's fp16 windows are a buffer per sequence slot. */
    p->draft_kv_bytes_per_token = cfg->spec.draft_kv_bytes_per_token;
    p->kv_bytes_per_token =
        sim_kv_format_bytes_per_token(&shard, cfg->kv_dtype) / m->layers * p->stage_layers +
        p->draft_kv_bytes_per_token;
    /* vLLM V1 (gpu_worker.py init_device and determine_available_memory,
     * vllm-project/vllm @35d5cda1): requested_memory = the total of
     * torch.cuda.mem_get_info x gpu_memory_utilization; the KV cache gets
     * requested_memory - (weights + torch's activation peak + non-torch
     * increase). CUDA's total is the nvidia-smi total less what the driver
     * reserves (catalog/gpus.csv, cuda_total_mib). */
    p->gpu_bytes = cfg->gpu.memory_bytes;
    p->cuda_total_bytes = cfg->gpu.cuda_total_bytes;
    p->cuda_total_estimated = cfg->gpu.cuda_total_estimated;
    p->usable_bytes = (uint64_t)((double)p->cuda_total_bytes * cfg->mem_util);
    sim_weight_bytes wb;
    char e[256];
    if (sim_weight_bytes_of(m, cfg->weight_dtype, &wb, e, sizeof(e)) != 0)
        wb.total = (double)m->params_total * cfg->weight_dtype->bytes;
    p->weights_total_bytes = (uint64_t)llround(wb.total);
    /* The format's bytes per parameter, applied to each GPU's share. */
    double per_param = m->params_total > 0 ? wb.total / (double)m->params_total : 0;
    double params = (double)sim_tp_params_per_gpu(m, tp);
    if (pp > 1) {
        /* The fullest stage: its layers, and one vocabulary table (the
         * embedding on the first stage, the LM head, a copy when tied, on
         * the last), split over the TP GPUs; the final norm. */
        double table = ceil((double)m->vocab * m->hidden / tp);
        double layers_part = params - table * (m->tie_embeddings ? 1 : 2) - m->hidden;
        params = layers_part * p->stage_layers / m->layers + table + m->hidden;
    }
    p->draft_weights_bytes = cfg->spec.draft_weights_bytes;
    p->weights_bytes = (uint64_t)llround(params * per_param) + p->draft_weights_bytes;
    p->kv_window_bytes =
        (uint64_t)cfg->max_num_seqs * sim_kv_window_bytes_per_seq(&shard, cfg->kv_dtype);
    /* vLLM profiles one forward pass over the token budget (and the
     * sampler over max_num_seqs) before it sizes the KV pool. */
    p->activation_bytes =
        (uint64_t)llround(sim_activation_bytes(m, p->max_batched_tokens, cfg->max_num_seqs, tp));
    /* Non-torch memory (cuBLAS and attention workspaces, lazily loaded
     * kernels, NCCL buffers): the preset's figure, fitted to two vLLM logs
     * (sim/cost.c, tests/test_memplan.c). */
    p->overhead_bytes = (uint64_t)llround(cfg->cost.overhead_bytes);
    return (double)p->usable_bytes - ((double)p->weights_bytes + (double)p->activation_bytes +
                                      (double)p->overhead_bytes + (double)p->kv_window_bytes);
}

/* Partial offload: the GPU holds N of the layers' weights and KV, the
 * host the rest (llama.cpp -ngl N; kvsim splits every term by layers, the
 * embedding and LM head included). Fills P's offload fields; returns what
 * the GPU leaves for KV, as plan_terms. */
static double offload_terms(const sim_config *cfg, uint32_t n, sim_memory_plan *p)
{
    const sim_model *m = &cfg->model;
    double left = plan_terms(cfg, 1, p);
    double share = (double)n / m->layers;
    uint64_t kvpt = p->kv_bytes_per_token, w = p->weights_bytes;
    p->gpu_layers = n;
    p->weights_bytes = (uint64_t)llround((double)w * share);
    p->host_weights_bytes = w - p->weights_bytes;
    p->host_kv_bytes_per_token = kvpt - (uint64_t)llround((double)kvpt * share);
    p->host_usable_bytes = (uint64_t)((double)cfg->host.memory_bytes * cfg->mem_util);
    return left + (double)p->host_weights_bytes;
}

/* The pool a user sized (--num-blocks of the spec's block, which
 * overrides --kv-pool-gib, or --kv-pool-gib) into P->kv_budget_bytes:
 * every strategy's pool is cut from this one byte count. Returns 0, or
 * -1 with ERR when it exceeds what 64-bit byte counts hold. */
static int user_pool(const sim_config *cfg, sim_memory_plan *p, char *err, size_t errlen)
{
    if (cfg->num_blocks > 0) {
        uint64_t block =
            cfg->num_blocks_tokens ? cfg->num_blocks_tokens : sim_spec_block_tokens(cfg->allocator);
        /* The paged allocator's block table indexes blocks in 30 bits (its
         * own test, allocators/paged.c, would name the pool, not this). */
        if (cfg->num_blocks > UINT32_MAX / 4) {
            snprintf(err, errlen, "--num-blocks %u: the paged allocator holds at most %u blocks",
                     cfg->num_blocks, UINT32_MAX / 4);
            return -1;
        }
        /* Exact in integers (a double loses the last blocks past 2^53 bytes). */
        uint64_t per_block = block * p->kv_bytes_per_token;
        if (p->kv_bytes_per_token > (UINT64_C(1) << 62) / block ||
            cfg->num_blocks > (UINT64_C(1) << 62) / per_block) {
            snprintf(err, errlen, "--num-blocks: a KV pool of %.3g bytes is beyond any device",
                     (double)cfg->num_blocks * (double)block * (double)p->kv_bytes_per_token);
            return -1;
        }
        p->pool_overridden = true;
        p->kv_budget_bytes = cfg->num_blocks * per_block;
        return 0;
    }
    double bytes = cfg->kv_pool_gib * 1073741824.0;
    if (!(bytes < 0x1p62)) {
        snprintf(err, errlen, "--kv-pool-gib: a KV pool of %.3g bytes is beyond any device", bytes);
        return -1;
    }
    p->pool_overridden = true;
    p->kv_budget_bytes = (uint64_t)llround(bytes);
    return 0;
}

/* Does LEFT bytes of GPU memory hold one max_model_len sequence of P's
 * KV (the GPU's share of it with offload)? What a suggested size must
 * give, or the run is refused at start-up (engine.c). */
static bool holds_one(double left, const sim_memory_plan *p)
{
    double gpu_kv = (double)(p->kv_bytes_per_token - p->host_kv_bytes_per_token);
    return left > 0 && left >= gpu_kv * p->max_model_len;
}

/* The plan with N = cfg->gpu_layers < layers on the GPU: the GPU holds
 * its share of the weights and every token's KV, the host the rest; the
 * pool holds as many tokens as the tighter of the two leaves room for. */
static int offload_plan(const sim_config *cfg, sim_memory_plan *p, char *err, size_t errlen)
{
    const sim_model *m = &cfg->model;
    uint32_t n = (uint32_t)cfg->gpu_layers;
    double gpu_left = offload_terms(cfg, n, p);
    if (!(gpu_left > 0)) {
        uint32_t fit = 0;
        for (uint32_t k = n; k-- > 0;) {
            sim_memory_plan q = *p;
            if (holds_one(offload_terms(cfg, k, &q), &q)) {
                fit = k + 1;
                break;
            }
        }
        offload_terms(cfg, n, p);
        snprintf(err, errlen,
                 "--gpu-layers %u: %u of %s's layers take %.2f GiB of weights + activations "
                 "%.2f GiB + non-torch %.2f GiB >= %.2f GiB usable on %s; %s",
                 n, n, m->name, gib(p->weights_bytes), gib(p->activation_bytes),
                 gib(p->overhead_bytes), gib(p->usable_bytes), cfg->gpu.name,
                 fit > 0 ? "the largest that fits is --gpu-layers " : "not even one layer fits");
        if (fit > 0) {
            size_t used = strlen(err);
            snprintf(err + used, errlen - used, "%u (with KV for one %u-token sequence)", fit - 1,
                     p->max_model_len);
        }
        return -1;
    }
    double host_left = (double)p->host_usable_bytes - (double)p->host_weights_bytes;
    if (!(host_left > 0)) {
        snprintf(err, errlen,
                 "--gpu-layers %u: the other %u layers' %.2f GiB of weights do not fit in the "
                 "host's %.2f GiB usable (%s)",
                 n, m->layers - n, gib(p->host_weights_bytes), gib(p->host_usable_bytes),
                 cfg->host.name);
        return -1;
    }
    uint64_t gpu_kv = p->kv_bytes_per_token - p->host_kv_bytes_per_token;
    double tokens = INFINITY;
    if (gpu_kv > 0)
        tokens = gpu_left / (double)gpu_kv;
    if (p->host_kv_bytes_per_token > 0)
        tokens = fmin(tokens, host_left / (double)p->host_kv_bytes_per_token);
    if (cfg->num_blocks > 0 || cfg->kv_pool_gib > 0) {
        if (user_pool(cfg, p, err, errlen) != 0)
            return -1;
        p->pool_exceeds_memory =
            (double)p->kv_budget_bytes > tokens * (double)p->kv_bytes_per_token;
        return 0;
    }
    p->kv_budget_bytes = (uint64_t)(tokens * (double)p->kv_bytes_per_token);
    return 0;
}

int sim_memory_plan_compute(const sim_config *cfg_in, sim_memory_plan *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    sim_config cfg;
    if (fill_defaults(cfg_in, &cfg, err, errlen) != 0)
        return -1;
    const sim_model *m = &cfg.model;
    uint32_t tp = cfg.tensor_parallel ? cfg.tensor_parallel : 1;
    if (sim_tp_check(m, tp, err, errlen) != 0)
        return -1;
    p->max_model_len = cfg.max_model_len;
    p->max_batched_tokens = cfg.max_batched_tokens;
    p->max_num_seqs = cfg.max_num_seqs;
    sim_weight_bytes wb;
    if (sim_weight_bytes_of(m, cfg.weight_dtype, &wb, err, errlen) != 0)
        return -1;
    if (cfg.gpu_layers >= 0 && (uint32_t)cfg.gpu_layers < m->layers)
        return offload_plan(&cfg, p, err, errlen);
    double left = plan_terms(&cfg, tp, p);
    p->gpu_layers = m->layers;
    if (!(left > 0)) {
        /* Always checked, an explicit pool size included: weights that do
         * not fit never pass. */
        char hint[256] = "use a larger GPU, a smaller model or budget";
        sim_link l;
        char e1[256];
        /* Parallel sizes only where GPUs have a link; offload only where
         * the host's memory is not the device's (unified memory). */
        bool linked = sim_link_for(&cfg.gpu, cfg.allreduce_busbw_gbps, cfg.allreduce_latency_us, &l,
                                   e1, sizeof(e1)) == 0;
        /* llama.cpp has no tensor parallelism: its layer split instead
         * (--pipeline-parallel-size with a llamacpp_split preset). */
        for (uint32_t t = (cfg.pipeline_parallel > 1 ? cfg.pipeline_parallel : 1) + 1;
             linked && cfg.cost.llamacpp_split && t <= SIM_MAX_PP && t <= m->layers; t++) {
            sim_config split = cfg;
            split.pipeline_parallel = t;
            sim_memory_plan q = *p;
            if (holds_one(plan_terms(&split, 1, &q), &q)) {
                snprintf(hint, sizeof(hint),
                         "--pipeline-parallel-size %u fits (llama.cpp's layer split: %.2f GiB of "
                         "weights per GPU, KV for a %u-token sequence)",
                         t, gib(q.weights_bytes), p->max_model_len);
                break;
            }
        }
        const uint32_t tp_max =
            sim_tp_max_for_link(cfg.allreduce_busbw_gbps, cfg.allreduce_latency_us);
        bool hinted = false;
        for (uint32_t t = tp * 2; linked && !cfg.cost.llamacpp_split && t <= tp_max; t *= 2) {
            sim_memory_plan q = *p;
            char e2[256];
            if (sim_tp_check(m, t, e2, sizeof(e2)) == 0 && holds_one(plan_terms(&cfg, t, &q), &q)) {
                snprintf(hint, sizeof(hint),
                         "--tensor-parallel-size %u fits (%.2f GiB of weights per GPU, KV for "
                         "a %u-token sequence)",
                         t, gib(q.weights_bytes), p->max_model_len);
                hinted = true;
                break;
            }
        }
        /* Past a node: its largest tensor-parallel size that splits the
         * model, and pipeline stages across nodes. */
        uint32_t tn = 0;
        for (uint32_t t = 1; t <= tp_max; t *= 2) {
            char e2[256];
            if (sim_tp_check(m, t, e2, sizeof(e2)) == 0)
                tn = t;
        }
        for (uint32_t pp = (cfg.pipeline_parallel > 1 ? cfg.pipeline_parallel : 1) * 2;
             linked && !hinted && !cfg.cost.llamacpp_split && tn > 0 && pp <= SIM_MAX_PP &&
             pp <= m->layers;
             pp *= 2) {
            sim_config split = cfg;
            split.pipeline_parallel = pp;
            sim_memory_plan q = *p;
            if (holds_one(plan_terms(&split, tn, &q), &q)) {
                snprintf(hint, sizeof(hint),
                         "--tensor-parallel-size %u --pipeline-parallel-size %u fits (%.2f GiB "
                         "of weights per GPU, KV for a %u-token sequence)",
                         tn, pp, gib(q.weights_bytes), p->max_model_len);
                break;
            }
        }
        /* Offload is refused with speculation (sim/spec.c). */
        const bool drafting = cfg.spec.method != SIM_SPEC_NONE;
        for (uint32_t k = m->layers; !drafting && tp == 1 && cfg.pipeline_parallel <= 1 &&
                                     !cfg.gpu.unified_memory && k-- > 0;) {
            sim_memory_plan q = *p;
            if (holds_one(offload_terms(&cfg, k, &q), &q)) {
                size_t used = strlen(hint);
                snprintf(hint + used, sizeof(hint) - used,
                         "; or offload: --gpu-layers %u fits, the rest on the host", k);
                break;
            }
        }
        /* The drafter's weights named apart: a drafter larger than the
         * model it drafts for is most of them. */
        char drafter[160] = "";
        if (p->draft_weights_bytes > 0)
            snprintf(drafter, sizeof(drafter), " (the drafter %s: %.2f GiB of them%s)",
                     cfg.spec.method == SIM_SPEC_DRAFT_MODEL ? cfg.spec.draft.name : "head",
                     gib(p->draft_weights_bytes),
                     cfg.spec.draft.params_total > m->params_total ? ", larger than the model"
                                                                   : "");
        snprintf(err, errlen,
                 "%s does not fit on %s%s: weights %.2f GiB%s%s + activations %.2f GiB (for "
                 "--max-num-batched-tokens %u) + non-torch %.2f GiB >= %.2f GiB usable (%.0f%% of "
                 "%s %.2f GiB%s); %s",
                 m->name, cfg.gpu.name, tp > 1 ? " per GPU" : "", gib(p->weights_bytes),
                 tp > 1 ? " (its share)" : "", drafter, gib(p->activation_bytes),
                 p->max_batched_tokens, gib(p->overhead_bytes), gib(p->usable_bytes),
                 cfg.mem_util * 100,
                 cfg.gpu.unified_memory ? "the unified memory" : "the CUDA total",
                 gib(p->cuda_total_bytes), p->cuda_total_estimated ? ", estimated" : "", hint);
        return -1;
    }
    if (cfg.num_blocks > 0 || cfg.kv_pool_gib > 0) {
        /* The user sized the pool: the weights still have to fit; a pool
         * larger than what they leave is a study of the pool alone, and
         * the report says so. */
        if (user_pool(&cfg, p, err, errlen) != 0)
            return -1;
        p->pool_exceeds_memory = (double)p->kv_budget_bytes > left;
        return 0;
    }
    p->kv_budget_bytes = (uint64_t)left;
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
        sim_spec_resolve(&o->spec, o, err, errlen) != 0 || sim_support_check(o, err, errlen) != 0)
        return -1;
    if (o->n_samples == 0 || o->n_samples > o->max_num_seqs) {
        snprintf(err, errlen, "--n %u cannot exceed --max-num-seqs (%u)", o->n_samples,
                 o->max_num_seqs);
        return -1;
    }
    if (!(o->gpu.fp16_flops > 0)) {
        /* Never infinitely fast: a step's compute time needs a rate. */
        snprintf(err, errlen,
                 "%s has no compute figure in the catalog (fp16_tflops); give --peak-tflops T, "
                 "the device's dense FP16 rate in TFLOPS",
                 o->gpu.name);
        return -1;
    }
    if (!(o->gpu.mem_bw_Bps > 0)) {
        snprintf(err, errlen,
                 "%s has no memory bandwidth in the catalog (mem_bw_gbps); give --mem-bw-gbps B",
                 o->gpu.name);
        return -1;
    }
    if (o->tensor_parallel == 0)
        o->tensor_parallel = 1;
    if (sim_tp_check(&o->model, o->tensor_parallel, err, errlen) != 0)
        return -1;
    if (o->has_host && o->gpu_layers < 0) {
        /* Nothing runs on the host without a partial offload: a host given
         * alone would be silently unused. */
        snprintf(err, errlen,
                 "--host and --host-bw-gbps/--host-tflops/--host-memory-gib describe where "
                 "offloaded layers run: they need --gpu-layers N (fewer than the model's %u)",
                 o->model.layers);
        return -1;
    }
    if (o->gpu_layers >= 0 && (uint32_t)o->gpu_layers < o->model.layers) {
        if (o->tensor_parallel > 1 || o->pipeline_parallel > 1) {
            snprintf(err, errlen,
                     "--gpu-layers: partial offload runs on one GPU (no tensor or pipeline "
                     "parallelism)");
            return -1;
        }
        if (!o->has_host || !(o->host.mem_bw_Bps > 0) || !(o->host.fp16_flops > 0) ||
            o->host.memory_bytes == 0) {
            snprintf(err, errlen,
                     "--gpu-layers %d: the other layers run on the host; name it with --host "
                     "NAME (a catalog CPU) or give --host-bw-gbps, --host-tflops and "
                     "--host-memory-gib",
                     o->gpu_layers);
            return -1;
        }
        if (strncmp(o->host.name, "cpu-", 4) != 0 && strcmp(o->host.name, "host") != 0) {
            snprintf(err, errlen,
                     "--host %s: the offloaded layers run on a CPU; name one of the catalog's "
                     "cpu-* devices (kvsim list gpus) or describe it with --host-bw-gbps, "
                     "--host-tflops and --host-memory-gib",
                     o->host.name);
            return -1;
        }
        /* Also at --gpu-layers 0: a batch of 32 tokens or more runs the
         * host layers' products on the GPU, their weights copied over the
         * link (sim_cost_step_s), which without one took infinite time. */
        if (!(o->gpu.host_link_Bps > 0)) {
            snprintf(err, errlen, "--gpu-layers: %s has no host link bandwidth in the catalog",
                     o->gpu.name);
            return -1;
        }
    }
    if (o->pipeline_parallel == 0)
        o->pipeline_parallel = 1;
    if (o->pipeline_parallel > SIM_MAX_PP || o->pipeline_parallel > o->model.layers) {
        snprintf(err, errlen, "--pipeline-parallel-size %u must be 1..%u (%s has %u layers)",
                 o->pipeline_parallel, SIM_MAX_PP, o->model.name, o->model.layers);
        return -1;
    }
    /* Virtual engines: vLLM v0's P per replica, one with llama.cpp's
     * layer split (sim_config_virtual_engines). */
    uint32_t ve = sim_config_virtual_engines(o);
    if (o->replicas * ve > SIM_MAX_REPLICAS) {
        snprintf(err, errlen,
                 "--replicas %u x --pipeline-parallel-size %u exceed %d virtual engines",
                 o->replicas, o->pipeline_parallel, SIM_MAX_REPLICAS);
        return -1;
    }
    if (sim_config_kv_pools(o) > 1 && o->num_blocks > 0 && o->num_blocks < ve) {
        snprintf(err, errlen,
                 "--num-blocks %u: each of the %u virtual engines gets 1/%u of the blocks (vLLM "
                 "v0 with --pipeline-parallel-size): give at least %u",
                 o->num_blocks, ve, ve, ve);
        return -1;
    }
    if (o->model.kv_lora_rank > 0 && strncmp(o->allocator, "vattn", 5) == 0) {
        snprintf(err, errlen,
                 "--allocator %s: vAttention maps K and V pages per KV head; %s caches a latent "
                 "vector (multi-head latent attention), which it has no layout for",
                 o->allocator, o->model.name);
        return -1;
    }
    if (o->cost.llamacpp_split && o->tensor_parallel > 1) {
        snprintf(err, errlen,
                 "--tensor-parallel-size %u: llama.cpp has no tensor parallelism; it splits a "
                 "model over GPUs by layers (-sm layer, its default): give "
                 "--pipeline-parallel-size %u",
                 o->tensor_parallel, o->tensor_parallel);
        return -1;
    }
    if ((o->tensor_parallel > 1 || o->pipeline_parallel > 1) &&
        sim_link_for(&o->gpu, o->allreduce_busbw_gbps, o->allreduce_latency_us, &o->link, err,
                     errlen) != 0)
        return -1;
    if (o->tensor_parallel >
        sim_tp_max_for_link(o->allreduce_busbw_gbps, o->allreduce_latency_us)) {
        snprintf(err, errlen,
                 "--tensor-parallel-size %u spans more than one node of %d GPUs: the catalog's "
                 "all-reduce figures for %s (%s) were measured within one; across nodes "
                 "(InfiniBand, RoCE) give your fabric's --allreduce-busbw GBPS and "
                 "--allreduce-latency-us US (nccl-tests all_reduce_perf over the nodes), or "
                 "keep tensor parallelism within a node and add --pipeline-parallel-size, as "
                 "vLLM does across nodes",
                 o->tensor_parallel, SIM_NODE_GPUS, o->gpu.name, o->link.interconnect);
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

uint32_t sim_config_virtual_engines(const sim_config *cfg)
{
    if (cfg->cost.llamacpp_split || cfg->pipeline_parallel <= 1)
        return 1;
    return cfg->pipeline_parallel;
}

bool sim_config_shared_pool(const sim_config *cfg)
{
    return sim_config_virtual_engines(cfg) > 1 && strcmp(cfg->scheduler, "vllm") == 0;
}

uint32_t sim_config_kv_pools(const sim_config *cfg)
{
    return sim_config_shared_pool(cfg) ? 1 : sim_config_virtual_engines(cfg);
}
