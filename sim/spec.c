/*
 * spec.c: speculative decoding; see spec.h for the model.
 *
 * The drafter's cost:
 *   draft_model  k sequential decode passes of the draft model (a catalog
 *                model, in the target's weight and KV formats) over the
 *                speculating sequences, each through the roofline;
 *   eagle, eagle3, mtp
 *                k passes of a head: one decoder layer of the target's
 *                shape, EAGLE's fc (2h x h) and the target's lm_head, which
 *                it shares (its own memory is the layer and the fc, 16-bit);
 *                its KV is one layer of the target's;
 *   ngram        nothing (prompt lookup runs on the host);
 *   draft_time_ratio c > 0 replaces any of these: a pass costs c times a
 *                plain decode step of the same sequences on the target
 *                (Leviathan et al.'s cost coefficient).
 * The engine's per-step overhead (scheduling, sampling, launches) is
 * charged once per step, not per draft pass. The drafter also computes
 * every prompt chunk the step prefills, in a pass of its own. The first
 * draft pass of a step also takes in the tokens accepted at the step
 * before (a + 1 of them): memory-bound, it is priced as one token.
 */
#include "sim/spec.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/config.h"
#include "sim/replica.h"
#include "sim/step.h"
#include "workloads/rng.h"

/* The stream id of acceptance draws (per request: this ^ request index). */
#define SPEC_STREAM 0x5bec0dec0de5ULL

static const char *const method_names[] = {"none",   "draft_model", "eagle",
                                           "eagle3", "mtp",         "ngram"};

double sim_spec_expected_tokens(const double *cond, uint32_t k)
{
    double p = 1.0, sum = 1.0;
    for (uint32_t i = 0; i < k; i++) {
        p *= cond[i];
        sum += p;
    }
    return sum;
}

/* The i.i.d. rate whose mean tokens per step over K drafts is L. */
static double geometric_rate(double L, uint32_t k)
{
    double lo = 0, hi = 1;
    for (int it = 0; it < 200; it++) {
        double mid = (lo + hi) / 2, cond[SIM_SPEC_MAX_K];
        for (uint32_t i = 0; i < k; i++)
            cond[i] = mid;
        if (sim_spec_expected_tokens(cond, k) < L)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

/* Conditional rates from vLLM's unconditional ones. */
static void cond_from_uncond(const double *u, uint32_t k, double *cond)
{
    for (uint32_t i = 0; i < k; i++) {
        double prev = i == 0 ? 1.0 : u[i - 1];
        cond[i] = prev > 0 ? u[i] / prev : 0.0;
        if (cond[i] > 1)
            cond[i] = 1;
    }
}

static int get_number(json_t *root, const char *key, double lo, double hi, double *out, char *err,
                      size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        snprintf(err, errlen, "--speculative-config: \"%s\" must be a number in [%g, %g]", key, lo,
                 hi);
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

static int spec_parse(const char *text, sim_spec_config *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->alpha = -1;
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(err, errlen, "--speculative-config: invalid JSON: %s", je.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "--speculative-config: must be a JSON object");
        goto done;
    }
    static const char *const known[] = {"method",
                                        "model",
                                        "num_speculative_tokens",
                                        "prompt_lookup_max",
                                        "prompt_lookup_min",
                                        "rejection_sample_method",
                                        "acceptance_rate",
                                        "acceptance_rates",
                                        "synthetic_acceptance_rates",
                                        "acceptance_length",
                                        "synthetic_acceptance_length",
                                        "acceptance_law",
                                        "acceptance_concentration",
                                        "draft_time_ratio"};
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok = ok || strcmp(key, known[i]) == 0;
        if (!ok) {
            snprintf(err, errlen,
                     "--speculative-config: unknown key \"%s\" (known: method, model, "
                     "num_speculative_tokens, acceptance_rate, acceptance_rates, "
                     "acceptance_length, acceptance_law, acceptance_concentration, "
                     "draft_time_ratio, prompt_lookup_max/min)",
                     key);
            goto done;
        }
    }
    json_t *m = json_object_get(root, "method");
    json_t *model = json_object_get(root, "model");
    if (model != NULL && !json_is_string(model)) {
        snprintf(err, errlen, "--speculative-config: \"model\" must be a string");
        goto done;
    }
    if (model != NULL)
        snprintf(s->model, sizeof(s->model), "%s", json_string_value(model));
    if (m == NULL) {
        /* vLLM: a model without a method is a draft model ("ngram" names the method). */
        if (model == NULL) {
            snprintf(err, errlen,
                     "--speculative-config: \"method\" is required (draft_model, "
                     "eagle, eagle3, mtp, ngram)");
            goto done;
        }
        s->method = strcmp(s->model, "ngram") == 0 ? SIM_SPEC_NGRAM : SIM_SPEC_DRAFT_MODEL;
    } else {
        for (int i = 1; i <= SIM_SPEC_NGRAM && json_is_string(m); i++)
            if (strcmp(json_string_value(m), method_names[i]) == 0)
                s->method = i;
        if (s->method == SIM_SPEC_NONE) {
            snprintf(err, errlen,
                     "--speculative-config: \"method\" must be draft_model, eagle, eagle3, mtp "
                     "or ngram");
            goto done;
        }
    }
    /* N-gram drafts come from the prompt: vLLM's SpeculativeConfig sets
     * model to "ngram" whatever was given, so a model given is dropped
     * (the report had named it as the drafter). */
    if (s->method == SIM_SPEC_NGRAM)
        s->model[0] = '\0';
    json_t *k = json_object_get(root, "num_speculative_tokens");
    if (!json_is_integer(k) || json_integer_value(k) < 1 ||
        json_integer_value(k) > SIM_SPEC_MAX_K) {
        snprintf(err, errlen,
                 "--speculative-config: \"num_speculative_tokens\" must be an integer in [1, %d]",
                 SIM_SPEC_MAX_K);
        goto done;
    }
    s->k = (uint32_t)json_integer_value(k);
    if (s->method == SIM_SPEC_DRAFT_MODEL) {
        if (s->model[0] == '\0') {
            snprintf(err, errlen,
                     "--speculative-config: method draft_model needs \"model\" (a catalog model "
                     "or a config.json)");
            goto done;
        }
        char e2[512];
        if (sim_model_lookup(json_string_value(model), &s->draft, e2, sizeof(e2)) != 0) {
            snprintf(err, errlen, "--speculative-config: \"model\": %s", e2);
            goto done;
        }
    }
    json_t *rsm = json_object_get(root, "rejection_sample_method");
    if (rsm != NULL && !(json_is_string(rsm) && strcmp(json_string_value(rsm), "synthetic") == 0)) {
        snprintf(err, errlen,
                 "--speculative-config: \"rejection_sample_method\" can only be "
                 "\"synthetic\" (kvsim draws acceptance from its model)");
        goto done;
    }
    /* Acceptance: exactly one form. */
    json_t *rates = json_object_get(root, "acceptance_rates");
    if (rates == NULL)
        rates = json_object_get(root, "synthetic_acceptance_rates");
    double alpha = -1, length = -1, conc = 0;
    int got_a = get_number(root, "acceptance_rate", 0, 1, &alpha, err, errlen);
    int got_l = get_number(root, "acceptance_length", 1, s->k + 1.0, &length, err, errlen);
    if (got_l == 0)
        got_l =
            get_number(root, "synthetic_acceptance_length", 1, s->k + 1.0, &length, err, errlen);
    int got_c = get_number(root, "acceptance_concentration", 1e-6, 1e9, &conc, err, errlen);
    int got_r = get_number(root, "draft_time_ratio", 0, 100, &s->draft_time_ratio, err, errlen);
    if (got_a < 0 || got_l < 0 || got_c < 0 || got_r < 0)
        goto done;
    if ((got_a > 0) + (got_l > 0) + (rates != NULL) != 1) {
        snprintf(err, errlen,
                 "--speculative-config: give exactly one of \"acceptance_rate\" (i.i.d.), "
                 "\"acceptance_rates\" (per position) or \"acceptance_length\" (mean): kvsim "
                 "does not guess acceptance");
        goto done;
    }
    json_t *law = json_object_get(root, "acceptance_law");
    bool geometric = false;
    if (law != NULL) {
        if (!json_is_string(law) || got_l <= 0 ||
            (strcmp(json_string_value(law), "geometric") != 0 &&
             strcmp(json_string_value(law), "min_variance") != 0)) {
            snprintf(err, errlen,
                     "--speculative-config: \"acceptance_law\" is \"min_variance\" (vLLM's) or "
                     "\"geometric\", with \"acceptance_length\"");
            goto done;
        }
        geometric = strcmp(json_string_value(law), "geometric") == 0;
    }
    if (got_c > 0 && got_a <= 0) {
        snprintf(err, errlen,
                 "--speculative-config: \"acceptance_concentration\" varies "
                 "\"acceptance_rate\" per request; give that form");
        goto done;
    }
    s->concentration = conc;
    if (got_a > 0) {
        s->alpha = alpha;
        for (uint32_t i = 0; i < s->k; i++)
            s->cond[i] = alpha;
        snprintf(s->acceptance, sizeof(s->acceptance), "rate %g i.i.d.%s", alpha,
                 conc > 0 ? ", Beta per request" : "");
    } else if (got_l > 0) {
        if (geometric) {
            double a = geometric_rate(length, s->k);
            for (uint32_t i = 0; i < s->k; i++)
                s->cond[i] = a;
        } else {
            double u[SIM_SPEC_MAX_K];
            for (uint32_t i = 0; i < s->k; i++)
                u[i] = fmin(1.0, fmax(0.0, length - 1.0 - i));
            cond_from_uncond(u, s->k, s->cond);
        }
        snprintf(s->acceptance, sizeof(s->acceptance), "mean length %g (%s)", length,
                 geometric ? "geometric" : "minimum variance, vLLM");
    } else {
        if (!json_is_array(rates) || json_array_size(rates) != s->k) {
            snprintf(err, errlen,
                     "--speculative-config: \"acceptance_rates\" must be an array of "
                     "num_speculative_tokens (%u) numbers",
                     s->k);
            goto done;
        }
        double u[SIM_SPEC_MAX_K];
        for (uint32_t i = 0; i < s->k; i++) {
            json_t *v = json_array_get(rates, i);
            u[i] = json_is_number(v) ? json_number_value(v) : -1;
            if (u[i] < 0 || u[i] > 1 || (i > 0 && u[i] > u[i - 1])) {
                snprintf(err, errlen,
                         "--speculative-config: \"acceptance_rates\"[%u] must be in [0, 1] and "
                         "not above the one before (they are unconditional, as vLLM's "
                         "synthetic_acceptance_rates)",
                         i);
                goto done;
            }
        }
        cond_from_uncond(u, s->k, s->cond);
        snprintf(s->acceptance, sizeof(s->acceptance), "per-position rates (vLLM synthetic)");
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int sim_spec_parse(const char *text, sim_spec_config *s, char *err, size_t errlen)
{
    if (spec_parse(text, s, err, errlen) == 0)
        return 0;
    /* Errors echo the user's text: control characters become '?'. */
    for (char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return -1;
}

/* ------------------------------------------------------------- resolve */

/* An EAGLE/MTP head as the roofline reads it each pass: one decoder layer
 * of the target's shape (its active share, for MoE), EAGLE's fc and the
 * target's lm_head (the embedding lookup is a gather of a few rows). */
static void head_model(const sim_model *t, sim_model *h)
{
    *h = *t;
    double emb = (double)t->vocab * t->hidden * (t->tie_embeddings ? 1 : 2);
    /* Memory holds a whole layer (every expert of a MoE layer); a pass
     * computes its active share. */
    double layer = ((double)t->params_total - emb - t->hidden) / t->layers;
    double active = ((double)t->params_active - emb - t->hidden) / t->layers;
    double fc = 2.0 * t->hidden * (double)t->hidden;
    double lm_head = (double)t->vocab * t->hidden;
    h->layers = 1;
    h->experts = 0;
    h->experts_per_tok = 0;
    h->moe_layers = 0;
    h->expert_params = 0;
    h->shared_intermediate = 0;
    h->tie_embeddings = true;
    h->params_total = (uint64_t)llround(lm_head + layer + fc + t->hidden);
    h->params_active = (uint64_t)llround(lm_head + active + fc + t->hidden);
    snprintf(h->name, sizeof(h->name), "%.58s-head", t->name);
}

int sim_spec_resolve(sim_spec_config *s, const sim_config *cfg, char *err, size_t errlen)
{
    if (s->method == SIM_SPEC_NONE)
        return 0;
    if (strcmp(cfg->scheduler, "vllm") != 0) {
        snprintf(err, errlen,
                 "--speculative-config: speculative decoding is modelled on vLLM V1's scheduler "
                 "(--scheduler vllm), not %s",
                 cfg->scheduler);
        return -1;
    }
    if (strncmp(cfg->allocator, "paged", 5) != 0) {
        snprintf(err, errlen,
                 "--speculative-config: needs the paged allocator (the draft cache is held "
                 "block for block with the target's), not %s",
                 cfg->allocator);
        return -1;
    }
    if (cfg->n_samples > 1) {
        snprintf(err, errlen,
                 "--speculative-config: not with --n %u (vLLM does not speculate "
                 "with parallel sampling)",
                 cfg->n_samples);
        return -1;
    }
    if (cfg->pipeline_parallel > 1) {
        /* Speculation over pipeline stages (the drafter on the last stage,
         * drafts in vLLM V1's batch queue) is not modelled; with a llama.cpp
         * preset the pipeline is llama.cpp's layer split. */
        snprintf(err, errlen, "%s",
                 cfg->cost.llamacpp_split
                     ? "--speculative-config: not with --pipeline-parallel-size (speculation is "
                       "modelled on vLLM, the layer split on llama.cpp)"
                     : "--speculative-config: not with --pipeline-parallel-size (kvsim does not "
                       "model drafts over pipeline stages)");
        return -1;
    }
    if (cfg->gpu_layers >= 0 && (uint32_t)cfg->gpu_layers < cfg->model.layers) {
        snprintf(err, errlen,
                 "--speculative-config: not with --gpu-layers (speculation is modelled on "
                 "vLLM, partial offload on llama.cpp)");
        return -1;
    }
    const sim_model *t = &cfg->model;
    sim_cost_params p = cfg->cost;
    p.step_overhead_s = 0; /* charged once per engine step */
    p.tp_step_s = 0;       /* the driver's broadcast too: once per engine step */
    /* The host time per sequence is per forward pass: a draft model's
     * passes pay it too (vLLM V0's draft runner prepared each pass's
     * inputs and sampled on the host, sequence by sequence; its
     * speculative decoding was measured slower than none at high rates,
     * vLLM blog, 2024-10-17). */
    s->lookahead = s->method == SIM_SPEC_NGRAM ? 0 : s->k;
    s->draft_kv_bytes_per_token = 0;
    s->draft_weights_bytes = 0;
    uint64_t target_bpt = sim_kv_format_bytes_per_token(t, cfg->kv_dtype);
    switch (s->method) {
    case SIM_SPEC_DRAFT_MODEL: {
        if (s->draft.vocab != t->vocab) {
            snprintf(err, errlen,
                     "--speculative-config: draft model %s has a vocabulary of %u, the target %s "
                     "%u: vLLM needs the same tokenizer",
                     s->draft.name, s->draft.vocab, t->name, t->vocab);
            return -1;
        }
        if (s->draft.max_len < cfg->max_model_len) {
            /* vLLM v0 stopped speculating past the drafter's length
             * (speculative_max_model_len); kvsim does not model that. */
            snprintf(err, errlen,
                     "--speculative-config: draft model %s holds %u positions, fewer than "
                     "--max-model-len %u; lower --max-model-len",
                     s->draft.name, s->draft.max_len, cfg->max_model_len);
            return -1;
        }
        if (sim_kv_format_check(cfg->kv_dtype, &s->draft, err, errlen) != 0)
            return -1;
        sim_weight_bytes wb;
        if (sim_weight_bytes_of(&s->draft, cfg->weight_dtype, &wb, err, errlen) != 0)
            return -1;
        s->draft_weights_bytes = (uint64_t)llround(wb.total);
        s->draft_kv_bytes_per_token = sim_kv_format_bytes_per_token(&s->draft, cfg->kv_dtype);
        break;
    }
    case SIM_SPEC_EAGLE:
    case SIM_SPEC_EAGLE3:
    case SIM_SPEC_MTP: {
        head_model(t, &s->draft);
        /* Its own memory: the layer and the fc, 16-bit (it shares the
         * target's embeddings and lm_head). */
        double lm_head = (double)t->vocab * t->hidden;
        s->draft_weights_bytes = (uint64_t)llround(((double)s->draft.params_total - lm_head) * 2.0);
        s->draft_kv_bytes_per_token = target_bpt / t->layers;
        break;
    }
    default:
        break;
    }
    if (s->method != SIM_SPEC_NGRAM) {
        const sim_dtype *w =
            s->method == SIM_SPEC_DRAFT_MODEL ? cfg->weight_dtype : sim_dtype_find("fp16");
        /* The drafter runs whole on each GPU (kvsim does not split it:
         * vLLM's draft_tensor_parallel_size may be 1 or the target's). */
        sim_cost_init(&s->draft_cost, &cfg->gpu, &s->draft, w, cfg->kv_dtype, &p, 1, NULL);
        /* Its attention planned as the target's (replica_init). */
        sim_cost_set_max_model_len(&s->draft_cost, cfg->max_model_len);
        if (strcmp(cfg->scheduler, "vllm") == 0)
            sim_cost_set_attention_eager(&s->draft_cost);
    }
    return 0;
}

/* --------------------------------------------------------------- hooks */

uint32_t sim_spec_drafts(const sim_replica *r, const sim_req *q, uint64_t budget)
{
    const sim_spec_config *s = &r->cfg->spec;
    if (s->method == SIM_SPEC_NONE || q->computed + 1 != sim_req_tokens(q) ||
        q->computed < q->input || budget < 2)
        return 0;
    uint64_t k = s->k;
    if (k > budget - 1)
        k = budget - 1;
    /* V1 (scheduler.py, v0.11) keeps every position below max_model_len:
     * num_new_tokens <= max_model_len - 1 - num_computed_tokens. */
    uint32_t tokens = sim_req_tokens(q), max_len = r->plan->max_model_len;
    uint64_t room = max_len > tokens + 1 ? max_len - 1 - tokens : 0;
    return (uint32_t)(k < room ? k : room);
}

uint32_t sim_spec_grow_target(const sim_replica *r, const sim_req *q, uint32_t n, uint32_t drafts)
{
    uint64_t t = (uint64_t)q->computed + n;
    if (r->cfg->spec.method == SIM_SPEC_NONE)
        return (uint32_t)t;
    /* effective_lookahead_tokens = 0 if num_computed_tokens == 0 else
     * num_lookahead_tokens (scheduler.py, v0.11). kvsim leaves it off a
     * prompt chunk that ends inside the prompt: the paged prefix cache
     * keys the prompt blocks a growth covers, and slots past the chunk
     * would key a block not computed yet (V1 caches only verified
     * tokens). Such a chunk's next one fills those slots anyway. */
    bool past_prompt = t + drafts >= q->input;
    uint64_t want = t + drafts + (q->computed > 0 && past_prompt ? r->cfg->spec.lookahead : 0);
    uint64_t cap = r->plan->max_model_len > t + drafts ? r->plan->max_model_len : t + drafts;
    return (uint32_t)(want < cap ? want : cap);
}

void sim_spec_batch_add(sim_replica *r, sim_req *q, uint32_t drafts)
{
    sim_spec_batch *b = &r->batch.spec;
    double c = (double)q->computed + 1; /* keys the sampled token's query sees */
    q->spec_drafts = drafts;
    b->seqs++;
    b->drafts += drafts;
    if (drafts > b->max_drafts)
        b->max_drafts = drafts;
    b->ctx_tokens += q->computed + 1;
    /* Draft j (1..drafts) sits at position computed + j and attends to
     * computed + j + 1 keys. */
    b->pairs += drafts * c + drafts * (drafts + 1.0) / 2.0;
    r->res->spec.lookahead_tokens += r->cfg->spec.lookahead;
}

double sim_spec_step_s(const sim_replica *r, double *draft_s, unsigned *outside)
{
    const sim_spec_config *s = &r->cfg->spec;
    const sim_spec_batch *b = &r->batch.spec;
    sim_batch_shape v = r->batch.shape;
    /* The verify pass: every draft is one more query token over its
     * sequence's context; its KV is written. */
    v.prefill_tokens += b->drafts;
    v.prefill_attn_pairs += b->pairs;
    unsigned out = 0, o = 0;
    double t = sim_step_pass_s(r, &v, &out);
    double d = 0;
    /* Under draft_time_ratio c a draft pass costs c times the target's
     * whole pass over the same tokens, its fixed host part included
     * (Leviathan et al.'s c is a ratio of model calls; a measured step has
     * that part inside too): the prompt pass as the k decode passes. */
    const sim_batch_shape *sh = &r->batch.shape;
    if (s->method != SIM_SPEC_NGRAM && sh->prefill_tokens > 0) {
        /* The drafter computes the step's prompt chunks too (its own KV,
         * or the head's hidden states), in a pass of its own. */
        sim_batch_shape pf = {.prefill_seqs = sh->prefill_seqs,
                              .prefill_tokens = sh->prefill_tokens,
                              .prefill_attn_pairs = sh->prefill_attn_pairs,
                              .prefill_ctx_tokens = sh->prefill_ctx_tokens};
        if (s->draft_time_ratio > 0) {
            d += s->draft_time_ratio * sim_step_pass_s(r, &pf, &o);
            out |= o;
        } else {
            d += sim_cost_step_s(&s->draft_cost, &pf);
        }
    }
    if (s->method != SIM_SPEC_NGRAM && b->seqs > 0) {
        sim_batch_shape pass = {.decode_seqs = b->seqs};
        double plain = 0;
        if (s->draft_time_ratio > 0) {
            pass.decode_ctx_tokens = b->ctx_tokens;
            plain = sim_step_pass_s(r, &pass, &o);
            out |= o;
        }
        for (uint32_t j = 0; j < b->max_drafts; j++) {
            pass.decode_ctx_tokens = b->ctx_tokens + (uint64_t)j * b->seqs;
            d += s->draft_time_ratio > 0 ? s->draft_time_ratio * plain
                                         : sim_cost_step_s(&s->draft_cost, &pass);
        }
    }
    *draft_s = d;
    if (outside != NULL)
        *outside = out;
    return t + d;
}

/* A Gamma(shape, 1) variate (Marsaglia and Tsang 2000; shape < 1 through
 * the boost U^(1/shape)). */
static double gamma_draw(wl_rng *g, double shape)
{
    double boost = 1.0;
    if (shape < 1) {
        boost = pow(wl_rng_uniform(g) + 1e-300, 1.0 / shape);
        shape += 1.0;
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = wl_rng_normal(g), v = 1.0 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = wl_rng_uniform(g);
        if (log(u + 1e-300) < 0.5 * x * x + d - d * v + d * log(v))
            return d * v * boost;
    }
}

uint32_t sim_spec_step_end(sim_replica *r, sim_req *q)
{
    const sim_spec_config *s = &r->cfg->spec;
    sim_spec_stats *st = &r->res->spec;
    uint32_t drafts = q->spec_drafts;
    q->spec_drafts = 0;
    if (!q->spec_ready) {
        wl_rng_seed(&q->spec_rng, r->cfg->seed ^ SPEC_STREAM, q->id);
        q->spec_alpha = s->alpha;
        if (s->concentration > 0 && s->alpha > 0 && s->alpha < 1) {
            double x = gamma_draw(&q->spec_rng, s->alpha * s->concentration);
            double y = gamma_draw(&q->spec_rng, (1 - s->alpha) * s->concentration);
            q->spec_alpha = x + y > 0 ? x / (x + y) : s->alpha;
        }
        q->spec_ready = true;
    }
    uint32_t a = 0;
    while (a < drafts) {
        double p = s->concentration > 0 ? q->spec_alpha : s->cond[a];
        if (!(wl_rng_uniform(&q->spec_rng) < p))
            break;
        a++;
    }
    st->num_drafts++;
    st->draft_tokens += drafts;
    for (uint32_t i = 0; i < drafts; i++) {
        st->proposed_at[i]++;
        st->accepted_at[i] += i < a;
    }
    st->accepted_tokens += a;
    st->rolled_back_tokens += drafts - a;
    /* The sampled token and the accepted drafts, at most the output left
     * (the step's own token is counted by the step loop). */
    uint32_t left = q->output > q->generated + 1 ? q->output - q->generated - 1 : 0;
    return a < left ? a : left;
}
