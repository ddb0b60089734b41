/*
 * parallel.c: tensor-parallel split and all-reduce cost; see parallel.h.
 *
 * The all-reduce figures are measurements, per interconnect, with their
 * sources. Decode steps send small messages (tokens x hidden x 2 bytes:
 * 1 MiB for 64 sequences of hidden 8192), where the per-call floor
 * dominates: vLLM's custom all-reduce takes 9.1-10.1 us at TP 2/4/8 on
 * H100 for a small message (SGLang PR #2904) and 10 us for 0.5 MB at TP 4
 * (vLLM PR #24532), where pure ring bandwidth would need about 2 us.
 */
#include "sim/parallel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const sim_link links[] = {
    {"nvlink3", 200e9, 10e-6,
     "A100 SXM x8 all_reduce_perf busbw 200-208 GB/s (NVIDIA/nccl-tests #149, #178); floor: "
     "vLLM custom all-reduce on H100, 9.1-10.1 us (sglang PR #2904), no A100 figure found"},
    {"nvlink4", 370e9, 10e-6,
     "H100 x8 ring all-reduce busbw about 370 GB/s (NVIDIA/nccl-tests #212, maintainer; NVLS "
     "reaches 480 GB/s on large messages only); floor 9.1-10.1 us at TP 2/4/8 (sglang PR #2904), "
     "10 us for 0.5 MB at TP 4 (vLLM PR #24532)"},
    {"nvlink5", 721.8e9, 10e-6,
     "not measured: NCCL's own topology model, 40.1 GB/s x 18 links (nccl src/graph/topo.h "
     "@f3d51667; its H100 value, 370.8, matches the measured ring busbw); floor taken from "
     "H100"},
    {"pcie4", 25.7e9, 40e-6,
     "4x RTX 4090 all_reduce_perf busbw 25.7-25.95 GB/s (tinygrad/open-gpu-kernel-modules "
     "#36; Alibaba SimAI uses 0.8 x 32 = 25.6); floor: 8x RTX 4090, 8-byte all-reduce 40-42 "
     "us (NVIDIA/nccl #1530)"},
    {"pcie5", 35e9, 40e-6,
     "4x RTX 5090 all_reduce_perf busbw 35 GB/s, 28 GB/s at 8 GPUs (NVIDIA/nccl #1639); floor "
     "as PCIe 4"},
};

int sim_link_for(const sim_gpu *gpu, double busbw_gbps, double floor_us, sim_link *out, char *err,
                 size_t errlen)
{
    const sim_link *l = NULL;
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
        if (strcmp(links[i].interconnect, gpu->interconnect) == 0)
            l = &links[i];
    if (l == NULL && !(busbw_gbps > 0 && floor_us > 0)) {
        if (gpu->unified_memory || strcmp(gpu->interconnect, "unified") == 0 ||
            gpu->interconnect[0] == '\0' || strcmp(gpu->interconnect, "none") == 0)
            snprintf(err, errlen,
                     "tensor or pipeline parallelism: %s has no GPU-to-GPU link in the catalog; "
                     "--allreduce-busbw GBPS and --allreduce-latency-us US describe one",
                     gpu->name);
        else
            snprintf(err, errlen,
                     "tensor or pipeline parallelism: no measured all-reduce figure for %s's "
                     "interconnect '%s'; give --allreduce-busbw GBPS and --allreduce-latency-us US",
                     gpu->name, gpu->interconnect);
        return -1;
    }
    if (l != NULL)
        *out = *l;
    else
        *out = (sim_link){gpu->interconnect, 0, 0, "user"};
    if (busbw_gbps > 0) {
        out->busbw_Bps = busbw_gbps * 1e9;
        out->source = "user";
    }
    if (floor_us > 0) {
        out->floor_s = floor_us * 1e-6;
        out->source = "user";
    }
    return 0;
}

uint32_t sim_tp_max_for_link(double busbw_gbps, double floor_us)
{
    return busbw_gbps > 0 && floor_us > 0 ? SIM_MAX_TP : SIM_NODE_GPUS;
}

double sim_allreduce_s(const sim_link *l, uint32_t n, double bytes)
{
    if (n <= 1)
        return 0.0;
    return l->floor_s + 2.0 * (n - 1) / n * bytes / l->busbw_Bps;
}

/* Do M's heads split over TP GPUs as vLLM allows? */
static bool splits(const sim_model *m, uint32_t tp)
{
    /* MLA's latent cache is one vector per token, replicated on every GPU. */
    bool kv =
        m->kv_lora_rank > 0 || (tp <= m->kv_heads ? m->kv_heads % tp == 0 : tp % m->kv_heads == 0);
    return m->heads % tp == 0 && kv;
}

/* The powers of two up to SIM_MAX_TP that split M, comma-separated, into BUF. */
static void tp_sizes(const sim_model *m, char *buf, size_t len)
{
    buf[0] = '\0';
    for (uint32_t t = 1; t <= SIM_MAX_TP; t *= 2) {
        if (splits(m, t)) {
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, "%s%u", used ? ", " : "", t);
        }
    }
}

int sim_tp_check(const sim_model *m, uint32_t tp, char *err, size_t errlen)
{
    if (tp < 1 || tp > SIM_MAX_TP) {
        snprintf(err, errlen, "--tensor-parallel-size must be 1..%d", SIM_MAX_TP);
        return -1;
    }
    if (splits(m, tp))
        return 0;
    char ok[128];
    tp_sizes(m, ok, sizeof(ok));
    if (m->heads % tp != 0)
        snprintf(err, errlen,
                 "--tensor-parallel-size %u: %s's %u attention heads are not a multiple of it "
                 "(sizes that split it: %s)",
                 tp, m->name, m->heads, ok);
    else
        snprintf(err, errlen,
                 "--tensor-parallel-size %u: %s's %u KV heads neither divide it nor are a "
                 "multiple of it (sizes that split it: %s)",
                 tp, m->name, m->kv_heads, ok);
    return -1;
}

uint32_t sim_tp_kv_heads(const sim_model *m, uint32_t tp)
{
    return m->kv_heads >= tp ? m->kv_heads / tp : 1;
}

uint64_t sim_model_norm_params(const sim_model *m)
{
    uint64_t h = m->hidden;
    if (strcmp(m->arch, "opt") == 0)
        return m->layers * 2 * 2 * h + 2 * h; /* LayerNorm weight and bias, twice a layer */
    uint64_t n = m->layers * (strcmp(m->arch, "gemma2") == 0 ? 4 : 2) * h + h;
    n += m->qk_norm ? m->layers * 2 * (uint64_t)m->head_dim : 0;
    /* Routers and MLA's latent projections are replicated too (vLLM's
     * DeepseekV2Attention: kv_a_proj_with_mqa and q_a_proj are
     * ReplicatedLinear). */
    n += (uint64_t)m->moe_layers * h * m->experts;
    if (m->kv_lora_rank > 0)
        n += m->layers * (h * ((uint64_t)m->kv_lora_rank + m->qk_rope_dim) + m->kv_lora_rank);
    if (m->q_lora_rank > 0) /* q_a_proj and its norm (vLLM: ReplicatedLinear) */
        n += m->layers * (h * (uint64_t)m->q_lora_rank + m->q_lora_rank);
    return n;
}

uint64_t sim_model_kv_proj_params(const sim_model *m)
{
    if (m->kv_lora_rank > 0)
        return 0; /* counted as replicated above */
    uint64_t kv = (uint64_t)m->kv_heads * m->head_dim;
    bool bias = m->qkv_bias || strcmp(m->arch, "opt") == 0;
    return m->layers * 2 * (m->hidden * kv + (bias ? kv : 0));
}

uint64_t sim_tp_params_per_gpu(const sim_model *m, uint32_t tp)
{
    if (tp <= 1)
        return m->params_total;
    uint64_t norms = sim_model_norm_params(m), kvp = sim_model_kv_proj_params(m);
    uint64_t split = m->params_total - norms - kvp;
    /* Each GPU holds its KV heads' projections: kv_heads / tp of them, or
     * one replicated head. */
    uint64_t kv_share = kvp / m->kv_heads * sim_tp_kv_heads(m, tp);
    return (split + tp - 1) / tp + kv_share + norms;
}

uint32_t sim_llamacpp_layers(uint32_t k, uint32_t p, uint32_t n)
{
    uint32_t layers = 0;
    for (uint32_t i = 0; i < n; i++)
        layers += (uint32_t)(((uint64_t)i * p) / ((uint64_t)n + 1)) == k;
    return layers;
}

double sim_llamacpp_ubatch_span(double w, double share, uint32_t p, uint32_t m, double xfer)
{
    double pass = w + (p > 1 ? p - 1 : 0) * xfer, pace = w * share + (p > 1 ? xfer : 0);
    uint32_t n = m > 1 ? m - 1 : 0; /* the ubatches after the first */
    if (pass > SIM_LLAMACPP_INFLIGHT * pace)
        return pass + (n % SIM_LLAMACPP_INFLIGHT) * pace + (n / SIM_LLAMACPP_INFLIGHT) * pass;
    return pass + n * pace;
}

uint32_t sim_llamacpp_max_layers(uint32_t p, uint32_t n)
{
    uint32_t most = 0;
    for (uint32_t k = 0; k < p; k++) {
        uint32_t l = sim_llamacpp_layers(k, p, n);
        most = l > most ? l : most;
    }
    return most;
}
