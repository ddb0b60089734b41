/*
 * sched_sarathi.c: Sarathi-Serve (Agrawal et al., OSDI 2024, Algorithm 2):
 * each iteration takes every running decode first, then the prompt
 * chunks of requests already prefilling, then new requests' chunks, up to
 * a fixed token budget (the chunk size, --max-num-batched-tokens, 512 by
 * default). Decodes never wait for a prefill ("stall-free").
 */
#include "sim/sched.h"

static int sarathi_schedule(sim_replica *r)
{
    static const sim_budget_policy sarathi = {.decodes_first = true};
    return sim_sched_budget(r, &sarathi);
}

const sim_sched_ops sim_sched_sarathi = {
    .name = "sarathi",
    .help = "Sarathi-Serve: decodes first, then prompt chunks up to a fixed budget",
    .schedule = sarathi_schedule,
};
