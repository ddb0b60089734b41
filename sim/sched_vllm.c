/*
 * sched_vllm.c: vLLM V1's scheduler (the default); see sched_budget.c for
 * the algorithm, config.c for its defaults.
 */
#include "sim/sched.h"

static int vllm_schedule(sim_replica *r)
{
    static const sim_budget_policy v1 = {0};
    return sim_sched_budget(r, &v1);
}

const sim_sched_ops sim_sched_vllm = {
    .name = "vllm",
    .help = "vLLM V1: one token budget for decodes and prompt chunks, running first, prefix "
            "caching",
    .schedule = vllm_schedule,
};
