/*
 * test_util.h: what several test programs share: a run configuration for
 * a catalog GPU and model with fixed cost terms, so that refitting a
 * preset does not move tests whose expected values are written by hand
 * (bandwidth 80 %, FLOPs 50 %, 5 ms per step, no per-layer or
 * per-sequence or per-TP-step overhead, flash attention, 0.8 GiB runtime,
 * matrix products at max(bytes, FLOPs): no gemm_blend_k). Include
 * after <cmocka.h>.
 */
#ifndef KVSIM_TESTS_TEST_UTIL_H
#define KVSIM_TESTS_TEST_UTIL_H

#include <string.h>

#include "analysis/metrics.h"
#include "sim/config.h"
#include "sim/engine.h"
#include "workloads/source.h"

static inline sim_config test_config(const char *gpu_name, const char *model_name)
{
    sim_gpu g;
    sim_model m;
    char err[512];
    if (sim_gpu_lookup(gpu_name, &g, err, sizeof(err)) != 0 ||
        sim_model_lookup(model_name, &m, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    sim_config c;
    sim_config_defaults(&c, &g, &m);
    /* vLLM has no Metal backend (sim/support.c): Apple tests run under the
     * llama.cpp Metal preset's name and backend, with the cost terms set
     * below (the closed forms'), not the preset's own. */
    if (strcmp(g.vendor, "Apple") == 0) {
        snprintf(c.engine, sizeof(c.engine), "llamacpp-metal");
        snprintf(c.backend, sizeof(c.backend), "metal");
    }
    c.cost.bw_eff = 0.8;
    c.cost.flops_eff = 0.5;
    c.cost.step_overhead_s = 0.005;
    c.cost.overhead_bytes = 0.8 * 1073741824.0;
    c.cost.layer_overhead_s = 0;
    c.cost.seq_overhead_s = 0;
    c.cost.tp_step_s = 0;
    c.cost.prefill_layer_s = 0;
    c.cost.fa_wave_fill = 0; /* the closed forms have no split-KV decode term */
    c.cost.gemm_blend_k = 0; /* the closed forms take the matrix products' max(U, V) */
    c.cost.split_sync_s = 0;
    c.cost.flash_attn = true;
    c.cost.fp16_accumulate = false;
    c.cost.dequant_gemm = false;
    /* The closed forms divide by the datasheet's peak rate, not the
     * measured matmul rate a preset may opt into (matmul_measured). */
    c.cost.matmul_measured = false;
    return c;
}

/* A run of configuration C on a workload spec (kvsim gen's syntax), its
 * result and metrics; fails the test on any error. */
typedef struct test_run_out {
    sim_result res;
    an_metrics m;
} test_run_out;

static inline void test_run_workload(const sim_config *c, const char *workload, test_run_out *o)
{
    wl_source *src;
    char err[512];
    memset(o, 0, sizeof(*o));
    if (wl_open_spec(&src, workload, c->seed, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    an_metrics_init(&o->m, NULL, NULL, 1.0);
    sim_observer obs = an_metrics_observer(&o->m);
    if (sim_run(c, src, &obs, &o->res, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    an_metrics_finish(&o->m, o->res.makespan_s);
    wl_close(src);
}

#endif
