/*
 * sched_orca.c: Orca (Yu et al., OSDI 2022): iteration-level scheduling
 * with whole prompts batched beside decodes, FCFS up to max_num_seqs, and
 * KV reserved for max_model_len tokens when a request is admitted (Orca
 * allocates a request's maximum up front, so a running request never
 * runs out of KV and nothing is preempted). Pair it with the contiguous
 * allocator (its default: contiguous:reserve=max) to see what the
 * reservation wastes.
 */
#include "sim/sched.h"

static int orca_schedule(sim_replica *r)
{
    static const sim_budget_policy orca = {.reserve_max = true, .strict_fcfs = true};
    return sim_sched_budget(r, &orca);
}

const sim_sched_ops sim_sched_orca = {
    .name = "orca",
    .help = "Orca: iteration-level, whole prompts with decodes, max-length reservation",
    .schedule = orca_schedule,
};
