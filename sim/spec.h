/*
 * spec.h: speculative decoding: the --speculative-config JSON, the
 * acceptance model, the drafter's cost, and the hooks the V1 scheduler
 * and the step loop call.
 *
 * The step (vLLM V1, v0.11): each decoding sequence schedules 1 + k query
 * tokens (its last sampled token and k drafts; they consume 1 + k tokens
 * of the step's budget, the drafts cut to what the budget leaves); the
 * target verifies them in one forward pass; a accepted drafts plus one
 * token sampled by the target are appended (a <= k). The drafter's k
 * sequential passes are charged to the same step.
 *
 * KV (vLLM V1 Scheduler.schedule and KVCacheManager.allocate_slots,
 * v0.11): before the step the sequence's KV grows to computed + 1 + k
 * verified slots plus num_lookahead_tokens = k more for methods whose
 * drafter writes KV (draft_model, eagle, eagle3, mtp; 0 for ngram), capped
 * at max_model_len; the lookahead is reserved for every running request
 * with computed tokens, the last chunk of a chunked prompt included (V1
 * reserves it for earlier chunks too; kvsim does not, so that the prefix
 * cache never keys a prompt block before it is computed). After the step num_computed_tokens
 * moves back over the k - a rejected drafts: their slots are not freed (the blocks stay with the
 * sequence and are overwritten by the next step), so they show in the pool's breakdown as
 * reservation (or internal fragmentation past the request's final length) until reused. The draft
 * model's own KV is held in lockstep with the target's (vLLM v0's split_num_cache_blocks_evenly:
 * both caches get the same block count), so a pool slot holds the
 * target's and the drafter's KV of one token.
 *
 * Acceptance (kvsim's model; vLLM's synthetic rejection sampler, PR
 * #40662, for the per-position and mean-length forms):
 *   acceptance_rate a            each draft accepted with probability a
 *                                given the earlier ones were (Leviathan
 *                                et al. 2023's i.i.d. assumption; mean
 *                                tokens per step (1 - a^(k+1)) / (1 - a));
 *   acceptance_rates [r1..rk]    vLLM's synthetic_acceptance_rates: ri is
 *                                the unconditional probability that the
 *                                first i drafts are all accepted
 *                                (non-increasing); drawn through the
 *                                conditional rates ri / r(i-1);
 *   acceptance_length L          vLLM's synthetic_acceptance_length: the
 *                                minimum-variance schedule (L = 3.5, k = 5
 *                                gives [1, 1, 0.5, 0, 0]), or with
 *                                "acceptance_law": "geometric" the i.i.d.
 *                                rate whose mean length is L;
 *   acceptance_concentration c   per-request variation: each request draws
 *                                its own rate from Beta(a c, (1 - a) c)
 *                                (with acceptance_rate only).
 * Draws come from a stream per request (the run's seed and the request's
 * index), so a request accepts the same drafts whatever the load.
 */
#ifndef KVSIM_SIM_SPEC_H
#define KVSIM_SIM_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/catalog.h"
#include "sim/cost.h"

#define SIM_SPEC_MAX_K 16

enum sim_spec_method {
    SIM_SPEC_NONE = 0,
    SIM_SPEC_DRAFT_MODEL,
    SIM_SPEC_EAGLE,
    SIM_SPEC_EAGLE3,
    SIM_SPEC_MTP,
    SIM_SPEC_NGRAM,
};

typedef struct sim_spec_config {
    int method; /* enum sim_spec_method; SIM_SPEC_NONE: off */
    uint32_t k; /* num_speculative_tokens */
    char model[128];
    sim_model draft;             /* draft_model: the catalog model; eagle/mtp: the head */
    double cond[SIM_SPEC_MAX_K]; /* conditional acceptance of draft i */
    double alpha;                /* acceptance_rate; < 0 when another form was given */
    double concentration;        /* Beta concentration; 0: none */
    double draft_time_ratio;     /* > 0: a draft pass costs this x a target decode step */
    char acceptance[96];         /* how acceptance was given, for reports */
    uint32_t lookahead;          /* KV slots beyond the verified ones */
    uint64_t draft_kv_bytes_per_token;
    uint64_t draft_weights_bytes;
    sim_cost draft_cost; /* the drafter's roofline (no per-step overhead); set by resolve */
} sim_spec_config;

/* What a batch speculates, summed over its speculating sequences. */
typedef struct sim_spec_batch {
    uint32_t seqs;
    uint32_t max_drafts;
    uint64_t drafts;
    uint64_t ctx_tokens; /* sum of (computed + 1) */
    double pairs;        /* attention pairs the drafts add to the verify pass */
} sim_spec_batch;

/* Figures of a run (vLLM's spec-decode metrics, and kvsim's KV churn). */
typedef struct sim_spec_stats {
    uint64_t num_drafts;      /* verify steps, per sequence */
    uint64_t draft_tokens;    /* drafts proposed */
    uint64_t accepted_tokens; /* drafts accepted */
    uint64_t proposed_at[SIM_SPEC_MAX_K];
    uint64_t accepted_at[SIM_SPEC_MAX_K];
    uint64_t rolled_back_tokens; /* rejected drafts whose KV was written, then rolled back */
    uint64_t lookahead_tokens;   /* lookahead slots asked for */
    double draft_s;              /* drafter time */
    double verify_s;             /* target time of steps that verified drafts */
} sim_spec_stats;

/* Parses --speculative-config JSON into OUT (the draft model looked up in
 * the catalog). Returns 0, or -1 with a one-line ERR naming the key. */
int sim_spec_parse(const char *json, sim_spec_config *out, char *err, size_t errlen);

struct sim_config;
struct sim_replica;
struct sim_req;

/* Checks S against the run's configuration CFG and prepares the drafter's
 * cost and memory (weights, KV bytes per token). Returns 0, or -1 with a
 * one-line ERR. */
int sim_spec_resolve(sim_spec_config *s, const struct sim_config *cfg, char *err, size_t errlen);

/* Mean tokens per verify step of a request with conditional rates COND
 * over K drafts: 1 + sum of the unconditional rates. */
double sim_spec_expected_tokens(const double *cond, uint32_t k);

/* Drafts for running request Q at this step under BUDGET tokens left: k
 * cut to the budget (one token is the sampled one) and to max_model_len;
 * 0 when speculation is off or Q is not decoding. */
uint32_t sim_spec_drafts(const struct sim_replica *r, const struct sim_req *q, uint64_t budget);

/* The KV length running request Q grows to before a step that computes N
 * tokens and verifies DRAFTS drafts: computed + N + DRAFTS, plus the
 * lookahead slots when Q has computed tokens and the growth reaches past
 * its prompt, capped at max_model_len; computed + N without
 * speculation. */
uint32_t sim_spec_grow_target(const struct sim_replica *r, const struct sim_req *q, uint32_t n,
                              uint32_t drafts);

/* Records that Q verifies DRAFTS drafts in the batch being built. */
void sim_spec_batch_add(struct sim_replica *r, struct sim_req *q, uint32_t drafts);

/* Step time of R's batch when speculation is on: the verify pass (the
 * target over the batch with every draft as a query token) plus the
 * drafter's passes (its pass over the step's prompt chunks, then k draft
 * passes over the speculating sequences); *DRAFT_S gets the drafter's
 * share. With a step profile the target's passes (the verify pass, and
 * the drafter's at draft_time_ratio) are priced through it, a draft
 * model's by its roofline; *OUTSIDE (may be NULL) gets the profile's
 * out-of-range bits of those passes. */
double sim_spec_step_s(const struct sim_replica *r, double *draft_s, unsigned *outside);

/* At the step's end: draws how many of Q's drafts are accepted (cut to
 * its remaining output), counts them, and clears Q's drafts. Returns the
 * accepted drafts. */
uint32_t sim_spec_step_end(struct sim_replica *r, struct sim_req *q);

#endif
