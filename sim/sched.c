/*
 * sched.c: the scheduler registry; see sched.h.
 */
#include "sim/sched.h"

#include <string.h>

extern const sim_sched_ops sim_sched_vllm;
extern const sim_sched_ops sim_sched_vllm_v0;
extern const sim_sched_ops sim_sched_sarathi;
extern const sim_sched_ops sim_sched_orca;
extern const sim_sched_ops sim_sched_static;

const sim_sched_ops *const sim_schedulers[] = {
    &sim_sched_vllm, &sim_sched_vllm_v0, &sim_sched_sarathi,
    &sim_sched_orca, &sim_sched_static,  NULL,
};

const sim_sched_ops *sim_sched_find(const char *name)
{
    for (size_t i = 0; sim_schedulers[i] != NULL; i++)
        if (strcmp(sim_schedulers[i]->name, name) == 0)
            return sim_schedulers[i];
    return NULL;
}
