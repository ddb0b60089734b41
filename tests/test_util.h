/*
 * test_util.h: what several test programs share: a run configuration for
 * a catalog GPU and model with fixed cost terms, so that refitting a
 * preset does not move tests whose expected values are written by hand
 * (bandwidth 80 %, FLOPs 50 %, 5 ms per step, no per-layer overhead,
 * flash attention, 0.8 GiB runtime). Include
 * after <cmocka.h>.
 */
#ifndef KVSIM_TESTS_TEST_UTIL_H
#define KVSIM_TESTS_TEST_UTIL_H

#include "sim/config.h"

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
    c.cost.bw_eff = 0.8;
    c.cost.flops_eff = 0.5;
    c.cost.step_overhead_s = 0.005;
    c.cost.overhead_bytes = 0.8 * 1073741824.0;
    c.cost.layer_overhead_s = 0;
    c.cost.split_sync_s = 0;
    c.cost.flash_attn = true;
    c.cost.fp16_accumulate = false;
    c.cost.dequant_gemm = false;
    return c;
}

#endif
