/*
 * model.c: models as HuggingFace config.json files describe them; see
 * catalog.h.
 *
 * Parameter counts are computed from the architecture, layer by layer:
 *   embeddings V x h (+ an LM head V x h unless tied) and a final norm h;
 *   attention: q and o h x (H x d), k and v h x (K x d), optional q/k/v
 *     biases, optional per-head q/k norms (Qwen3: 2 x d); or multi-head
 *     latent attention (DeepSeek-V2/V3): q h x H(d_nope + d_rope) (or
 *     through a q_lora_rank bottleneck with its norm), kv_a h x (r +
 *     d_rope) with its norm r, kv_b r x H(d_nope + d_v), o H d_v x h;
 *   MLP: a gated MLP 3 x h x I in a dense layer; in a MoE layer a router
 *     h x E, E routed experts 3 x h x I_moe, and shared experts (DeepSeek
 *     n_shared x 3 x h x I_moe; Qwen2-MoE 3 x h x I_shared and a gate h)
 *     that every token uses;
 *   norms: 2 h per layer (4 h for Gemma-2's sandwich norms).
 *   OPT: token and learned position embeddings (max_pos + 2 rows), biases
 *     everywhere, a 2-matrix ReLU MLP, LayerNorm weights and biases; tied.
 * Which layers are MoE follows each family's config: all of them (Mixtral),
 * decoder_sparse_step and mlp_only_layers (Qwen2/3-MoE),
 * first_k_dense_replace and moe_layer_freq (DeepSeek). The tests compare
 * the counts with published ones.
 *
 * A config is refused, with the field named, when it carries structure
 * kvsim does not model (a model_type it does not know, nested text or
 * vision configs, linear-attention or state-space layers, expert fields
 * of an unknown family): never read as a dense model.
 */
#define _POSIX_C_SOURCE 200809L

#include "sim/catalog.h"
#include "sim/catalog_data.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src);
}

static bool is_arch(const sim_model *m, const char *a)
{
    return strcmp(m->arch, a) == 0;
}

/* ------------------------------------------------------- architectures */

/* model_type values kvsim reads, and what each brings. */
static const char *const known_archs[] = {
    "llama",     "mistral", "mixtral", "qwen2",       "qwen3",       "qwen2_moe",
    "qwen3_moe", "gemma",   "gemma2",  "deepseek_v2", "deepseek_v3", "opt",
};

/* Fields whose presence means structure kvsim does not model. */
static const char *const refused_keys[] = {
    "text_config", /* a multimodal wrapper: the decoder is nested */
    "vision_config",
    "audio_config",
    "layers_block_type", /* hybrid attention / state-space stacks */
    "hybrid_override_pattern",
    "full_attention_interval",
    "linear_num_value_heads",
    "mamba_d_state",
    "ssm_state_size",
    "state_size",
    "interleave_moe_layer_step", /* Llama-4 */
    "no_rope_layers",
    "attention_chunk_size",
    "cross_attention_layers",
};

/* Fields with "expert" or "moe" in their name that kvsim reads or that do
 * not change the weights or the KV (routing details). */
static const char *const moe_keys_read[] = {
    "num_local_experts",
    "num_experts",
    "n_routed_experts",
    "num_experts_per_tok",
    "n_shared_experts",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
    "moe_layer_freq",
    /* routing and training details: no weights, no KV */
    "norm_topk_prob",
    "router_aux_loss_coef",
    "output_router_logits",
    "routed_scaling_factor",
    "scoring_func",
    "topk_method",
    "n_group",
    "topk_group",
    "aux_loss_alpha",
    "seq_aux",
    "ep_size",
    "router_jitter_noise",
    "moe_router_enable_expert_bias",
};

static int check_keys(json_t *root, const sim_model *m, const char *origin, char *err,
                      size_t errlen)
{
    bool arch_ok = false;
    for (size_t i = 0; i < sizeof(known_archs) / sizeof(known_archs[0]); i++)
        arch_ok |= is_arch(m, known_archs[i]);
    if (!arch_ok) {
        snprintf(err, errlen,
                 "%s: model_type '%s' is not one kvsim models (llama, mistral, mixtral, qwen2, "
                 "qwen3, qwen2_moe, qwen3_moe, gemma, gemma2, deepseek_v2, deepseek_v3, opt); "
                 "refusing rather than reading it as a dense llama",
                 origin, m->arch);
        return -1;
    }
    int counts = 0;
    const char *count_keys[] = {"num_local_experts", "num_experts", "n_routed_experts"};
    for (size_t i = 0; i < 3; i++)
        counts += json_object_get(root, count_keys[i]) != NULL &&
                  !json_is_null(json_object_get(root, count_keys[i]));
    if (counts > 1) {
        snprintf(err, errlen,
                 "%s: more than one expert count (num_local_experts, num_experts, "
                 "n_routed_experts): which one the model uses is ambiguous",
                 origin);
        return -1;
    }
    json_t *types = json_object_get(root, "layer_types");
    if (types != NULL && !json_is_null(types)) {
        size_t k;
        json_t *v;
        if (!json_is_array(types)) {
            snprintf(err, errlen, "%s: 'layer_types' must be a list", origin);
            return -1;
        }
        json_array_foreach(types, k, v)
        {
            const char *t = json_is_string(v) ? json_string_value(v) : "";
            if (strcmp(t, "full_attention") != 0 && strcmp(t, "sliding_attention") != 0) {
                snprintf(err, errlen,
                         "%s: layer_types[%zu] '%.40s' is not full_attention or "
                         "sliding_attention; refusing rather than reading an attention layer",
                         origin, k, t);
                return -1;
            }
        }
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        for (size_t i = 0; i < sizeof(refused_keys) / sizeof(refused_keys[0]); i++) {
            if (strcmp(key, refused_keys[i]) == 0 && !json_is_null(val)) {
                snprintf(err, errlen,
                         "%s: field '%s' describes structure kvsim does not model; refusing "
                         "rather than reading a dense model",
                         origin, key);
                return -1;
            }
        }
        if (strstr(key, "expert") == NULL && strstr(key, "moe") == NULL)
            continue;
        bool known = false;
        for (size_t i = 0; i < sizeof(moe_keys_read) / sizeof(moe_keys_read[0]); i++)
            known |= strcmp(key, moe_keys_read[i]) == 0;
        if (!known && !json_is_null(val)) {
            snprintf(err, errlen,
                     "%s: field '%s' is not understood (a mixture-of-experts variant kvsim "
                     "does not model); refusing rather than guessing its weights",
                     origin, key);
            return -1;
        }
    }
    return 0;
}

/* Is layer I (0-based) a MoE layer? */
static bool moe_layer(const sim_model *m, uint32_t i, uint32_t first_dense, uint32_t freq,
                      uint32_t sparse_step, const bool *dense_only)
{
    if (m->experts == 0)
        return false;
    if (is_arch(m, "deepseek_v2") || is_arch(m, "deepseek_v3"))
        return i >= first_dense && i % freq == 0;
    if (is_arch(m, "qwen2_moe") || is_arch(m, "qwen3_moe"))
        return !(dense_only != NULL && dense_only[i]) && (i + 1) % sparse_step == 0;
    return true;
}

static uint64_t attn_params(const sim_model *m)
{
    uint64_t h = m->hidden, H = m->heads;
    if (m->kv_lora_rank > 0) {
        uint64_t qk = m->qk_nope_dim + m->qk_rope_dim, r = m->kv_lora_rank;
        uint64_t q = m->q_lora_rank
                         ? h * m->q_lora_rank + m->q_lora_rank + (uint64_t)m->q_lora_rank * H * qk
                         : h * H * qk;
        uint64_t kv_a = h * (r + m->qk_rope_dim) + r;
        uint64_t kv_b = r * H * (m->qk_nope_dim + m->v_head_dim);
        uint64_t o = H * m->v_head_dim * h;
        return q + kv_a + kv_b + o;
    }
    uint64_t q = H * m->head_dim, kv = (uint64_t)m->kv_heads * m->head_dim;
    return 2 * h * q + 2 * h * kv + (m->qkv_bias ? q + 2 * kv : 0) +
           (m->qk_norm ? 2 * (uint64_t)m->head_dim : 0);
}

static void count_params(sim_model *m, uint32_t first_dense, uint32_t freq, uint32_t sparse_step,
                         const bool *dense_only)
{
    uint64_t h = m->hidden, L = m->layers, V = m->vocab, I = m->intermediate;
    if (is_arch(m, "opt")) {
        uint64_t emb = V * h + ((uint64_t)m->max_len + 2) * h;
        uint64_t attn = 4 * (h * h + h);
        uint64_t mlp = 2 * h * I + I + h;
        uint64_t norms = 2 * 2 * h;
        m->params_total = emb + L * (attn + mlp + norms) + 2 * h + (m->tie_embeddings ? 0 : V * h);
        m->params_active = m->params_total;
        return;
    }
    uint64_t emb = V * h * (m->tie_embeddings ? 1 : 2);
    uint64_t per_layer = attn_params(m) + (is_arch(m, "gemma2") ? 4 : 2) * h;
    uint64_t total = emb + h, active = emb + h;
    uint64_t expert = 3 * h * m->moe_intermediate;
    uint64_t shared = 3 * h * m->shared_intermediate + (m->shared_expert_gate ? h : 0);
    m->moe_layers = 0;
    m->expert_params = 0;
    for (uint32_t i = 0; i < m->layers; i++) {
        total += per_layer;
        active += per_layer;
        if (moe_layer(m, i, first_dense, freq, sparse_step, dense_only)) {
            uint64_t router = h * m->experts;
            m->moe_layers++;
            m->expert_params += m->experts * expert;
            total += router + m->experts * expert + shared;
            active += router + m->experts_per_tok * expert + shared;
        } else {
            total += 3 * h * I;
            active += 3 * h * I;
        }
    }
    m->params_total = total;
    m->params_active = active;
}

/* Reads an unsigned integer field; returns 1 if present and valid, 0 if
 * absent (or null), -1 if present but not an integer in [MIN, MAX] (then
 * ERR is set). */
static int get_u32_range(json_t *o, const char *key, uint32_t min, uint32_t max, uint32_t *out,
                         const char *origin, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
        json_integer_value(v) > (json_int_t)max) {
        snprintf(err, errlen, "%s: '%s' must be an integer in [%u, %u]", origin, key, min, max);
        return -1;
    }
    *out = (uint32_t)json_integer_value(v);
    return 1;
}

static int get_u32(json_t *o, const char *key, uint32_t max, uint32_t *out, const char *origin,
                   char *err, size_t errlen)
{
    return get_u32_range(o, key, 1, max, out, origin, err, errlen);
}

/* Sliding-window attention: the window and how many layers use it.
 * Mistral: every layer (when sliding_window is set); Qwen2/3: only with
 * use_sliding_window, on the layers from max_window_layers on; Gemma-2:
 * every other layer (even ones local, as transformers' Gemma2 does). */
static int read_sliding(json_t *root, sim_model *m, const char *origin, char *err, size_t errlen)
{
    uint32_t w = 0;
    if (get_u32(root, "sliding_window", 1u << 30, &w, origin, err, errlen) < 0)
        return -1;
    if (w == 0)
        return 0;
    json_t *types = json_object_get(root, "layer_types");
    if (json_is_array(types)) {
        /* Explicit per layer (transformers >= 4.53 writes it). */
        size_t k, n = 0;
        json_t *v;
        json_array_foreach(types, k, v) n += strcmp(json_string_value(v), "sliding_attention") == 0;
        if (json_array_size(types) != m->layers) {
            snprintf(err, errlen, "%s: layer_types has %zu entries for %u layers", origin,
                     json_array_size(types), m->layers);
            return -1;
        }
        m->sliding_layers = (uint32_t)n;
        m->sliding_window = n ? w : 0;
        return 0;
    }
    if (is_arch(m, "qwen2") || is_arch(m, "qwen3") || is_arch(m, "qwen2_moe") ||
        is_arch(m, "qwen3_moe")) {
        if (!json_is_true(json_object_get(root, "use_sliding_window")))
            return 0;
        uint32_t from = 0;
        if (get_u32_range(root, "max_window_layers", 0, 1u << 14, &from, origin, err, errlen) < 0)
            return -1;
        m->sliding_layers = from < m->layers ? m->layers - from : 0;
    } else if (is_arch(m, "gemma2")) {
        m->sliding_layers = (m->layers + 1) / 2;
    } else {
        m->sliding_layers = m->layers;
    }
    m->sliding_window = m->sliding_layers ? w : 0;
    return 0;
}

int sim_model_parse(const char *text, size_t len, const char *origin, sim_model *out, char *err,
                    size_t errlen)
{
    json_error_t je;
    /* A UTF-8 byte order mark, as some editors write, is not JSON (the
     * trace readers skip it too). */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    /* A key given twice is refused, as the trace readers do: which value
     * a tool takes differs, so the file is ambiguous. */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        /* jansson quotes the text near the error: keep it on one line. */
        for (char *c = je.text; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        snprintf(err, errlen, "%s:%d: invalid JSON: %s", origin, je.line, je.text);
        return -1;
    }
    int rc = -1;
    bool *dense_only = NULL;
    memset(out, 0, sizeof(*out));
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s:1: a config.json must be a JSON object", origin);
        goto done;
    }
    json_t *mt = json_object_get(root, "model_type");
    if (mt != NULL && !json_is_string(mt)) {
        snprintf(err, errlen, "%s: 'model_type' must be a string", origin);
        goto done;
    }
    /* A config without model_type is read as a llama (older exports). */
    copy_str(out->arch, sizeof(out->arch), mt != NULL ? json_string_value(mt) : "llama");
    if (check_keys(root, out, origin, err, errlen) != 0)
        goto done;
    /* Bounds far above any real model keep each field's products sane
     * (sequence lengths < 2^30 as --max-model-len); the parameter count is
     * checked as a whole below. */
    struct {
        const char *key;
        uint32_t *dst;
        uint32_t max;
        int required;
    } fields[] = {
        {"hidden_size", &out->hidden, 1u << 20, 1},
        {"num_hidden_layers", &out->layers, 1u << 14, 1},
        {"num_attention_heads", &out->heads, 1u << 14, 1},
        {"num_key_value_heads", &out->kv_heads, 1u << 14, 0},
        {"head_dim", &out->head_dim, 1u << 14, 0},
        {"intermediate_size", &out->intermediate, 1u << 22, 0},
        {"ffn_dim", &out->intermediate, 1u << 22, 0},
        {"vocab_size", &out->vocab, 1u << 24, 1},
        {"max_position_embeddings", &out->max_len, 1u << 30, 0},
        {"n_positions", &out->max_len, 1u << 30, 0}, /* GPT-2 style configs */
        {"num_local_experts", &out->experts, 1u << 12, 0},
        {"num_experts", &out->experts, 1u << 12, 0},
        {"n_routed_experts", &out->experts, 1u << 12, 0},
        {"num_experts_per_tok", &out->experts_per_tok, 1u << 12, 0},
        {"moe_intermediate_size", &out->moe_intermediate, 1u << 22, 0},
        {"shared_expert_intermediate_size", &out->shared_intermediate, 1u << 22, 0},
        {"kv_lora_rank", &out->kv_lora_rank, 1u << 16, 0},
        {"q_lora_rank", &out->q_lora_rank, 1u << 16, 0},
        {"qk_nope_head_dim", &out->qk_nope_dim, 1u << 14, 0},
        {"qk_rope_head_dim", &out->qk_rope_dim, 1u << 14, 0},
        {"v_head_dim", &out->v_head_dim, 1u << 14, 0},
        {"num_nextn_predict_layers", &out->mtp_layers, 64, 0},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        int got = get_u32(root, fields[i].key, fields[i].max, fields[i].dst, origin, err, errlen);
        if (got < 0)
            goto done;
        if (got == 0 && fields[i].required) {
            snprintf(err, errlen, "%s: missing '%s' (needed for KV size and weights)", origin,
                     fields[i].key);
            goto done;
        }
    }
    if (out->intermediate == 0) {
        snprintf(err, errlen, "%s: missing 'intermediate_size' (or 'ffn_dim')", origin);
        goto done;
    }
    if (out->kv_heads == 0)
        out->kv_heads = out->heads;
    bool mla = out->kv_lora_rank > 0;
    if (mla && (out->qk_rope_dim == 0 || out->qk_nope_dim == 0 || out->v_head_dim == 0)) {
        snprintf(err, errlen,
                 "%s: multi-head latent attention (kv_lora_rank) needs qk_nope_head_dim, "
                 "qk_rope_head_dim and v_head_dim",
                 origin);
        goto done;
    }
    if (!mla && (out->q_lora_rank || out->qk_rope_dim || out->qk_nope_dim)) {
        snprintf(err, errlen, "%s: q_lora_rank or qk_*_head_dim without kv_lora_rank", origin);
        goto done;
    }
    if (mla) {
        /* The q/k head size; attention FLOPs use it and v_head_dim. */
        out->head_dim = out->qk_nope_dim + out->qk_rope_dim;
    } else if (out->head_dim == 0) {
        if (out->hidden % out->heads != 0) {
            snprintf(err, errlen, "%s: hidden_size %u is not a multiple of %u heads", origin,
                     out->hidden, out->heads);
            goto done;
        }
        out->head_dim = out->hidden / out->heads;
    }
    if (!mla && out->v_head_dim == 0)
        out->v_head_dim = out->head_dim;
    if (is_arch(out, "opt") &&
        ((uint64_t)out->heads * out->head_dim != out->hidden || out->kv_heads != out->heads)) {
        /* OPT's projections are hidden x hidden, every head with its K and V. */
        snprintf(err, errlen,
                 "%s: an OPT config needs num_attention_heads x head_dim = hidden_size (%u x %u "
                 "!= %u) and no grouped KV heads",
                 origin, out->heads, out->head_dim, out->hidden);
        goto done;
    }
    if (out->heads % out->kv_heads != 0) {
        snprintf(err, errlen, "%s: num_attention_heads %u is not a multiple of %u KV heads", origin,
                 out->heads, out->kv_heads);
        goto done;
    }
    if (out->experts && (out->experts_per_tok == 0 || out->experts_per_tok > out->experts)) {
        snprintf(err, errlen, "%s: num_experts_per_tok must be 1..the expert count (%u)", origin,
                 out->experts);
        goto done;
    }
    if (!out->experts && (out->experts_per_tok || out->moe_intermediate)) {
        snprintf(err, errlen,
                 "%s: expert fields without an expert count (num_local_experts, num_experts or "
                 "n_routed_experts)",
                 origin);
        goto done;
    }
    if (out->experts && out->moe_intermediate == 0)
        out->moe_intermediate = out->intermediate; /* Mixtral: intermediate_size per expert */
    uint32_t n_shared = 0, first_dense = 0, freq = 1, sparse_step = 1;
    if (get_u32_range(root, "n_shared_experts", 0, 1u << 12, &n_shared, origin, err, errlen) < 0 ||
        get_u32_range(root, "first_k_dense_replace", 0, 1u << 14, &first_dense, origin, err,
                      errlen) < 0 ||
        get_u32(root, "moe_layer_freq", 1u << 14, &freq, origin, err, errlen) < 0 ||
        get_u32(root, "decoder_sparse_step", 1u << 14, &sparse_step, origin, err, errlen) < 0)
        goto done;
    out->shared_intermediate += n_shared * out->moe_intermediate;
    out->shared_expert_gate = is_arch(out, "qwen2_moe") && out->shared_intermediate > 0;
    json_t *only = json_object_get(root, "mlp_only_layers");
    if (json_is_array(only) && json_array_size(only) > 0) {
        dense_only = calloc(out->layers, sizeof(bool));
        if (dense_only == NULL) {
            snprintf(err, errlen, "%s: out of memory", origin);
            goto done;
        }
        size_t k;
        json_t *v;
        json_array_foreach(only, k, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) >= (json_int_t)out->layers) {
                snprintf(err, errlen, "%s: mlp_only_layers[%zu] is not a layer index", origin, k);
                goto done;
            }
            dense_only[json_integer_value(v)] = true;
        }
    } else if (only != NULL && !json_is_array(only) && !json_is_null(only)) {
        snprintf(err, errlen, "%s: 'mlp_only_layers' must be a list of layer indices", origin);
        goto done;
    }
    /* Never guessed: it sets the default --max-model-len, and OPT's learned
     * position embeddings count in the weights. */
    if (out->max_len == 0) {
        snprintf(err, errlen,
                 "%s: missing 'max_position_embeddings' (the model's longest sequence; "
                 "'n_positions' is read too)",
                 origin);
        goto done;
    }
    /* The longest sequence vLLM derives (v0.11 config/model.py,
     * _get_and_verify_max_len): max_position_embeddings, times the
     * rope_scaling factor for types other than llama3, longrope and su
     * (yarn from its original_max_position_embeddings). */
    out->derived_max_len = out->max_len;
    json_t *rs = json_object_get(root, "rope_scaling");
    if (json_is_object(rs)) {
        json_t *ty = json_object_get(rs, "rope_type");
        if (!json_is_string(ty))
            ty = json_object_get(rs, "type");
        const char *type = json_is_string(ty) ? json_string_value(ty) : "";
        json_t *f = json_object_get(rs, "factor"),
               *orig = json_object_get(rs, "original_max_position_"
                                           "embeddings");
        double factor = json_is_number(f) ? json_number_value(f) : 1.0;
        if (strcmp(type, "llama3") != 0 && strcmp(type, "longrope") != 0 &&
            strcmp(type, "su") != 0 && factor >= 1.0 && factor <= 1024.0) {
            double base =
                strcmp(type, "yarn") == 0 && json_is_integer(orig) && json_integer_value(orig) > 0
                    ? (double)json_integer_value(orig)
                    : (double)out->max_len;
            double d = base * factor;
            out->derived_max_len = d < 4294967295.0 ? (uint32_t)d : UINT32_MAX;
        }
    }
    if (read_sliding(root, out, origin, err, errlen) != 0)
        goto done;
    json_t *tie = json_object_get(root, "tie_word_embeddings");
    /* HF's default is true; OPT and Gemma configs often omit it. */
    out->tie_embeddings = tie == NULL ? true : json_is_true(tie);
    json_t *bias = json_object_get(root, "attention_bias");
    out->qkv_bias = is_arch(out, "qwen2") || is_arch(out, "qwen2_moe") || json_is_true(bias);
    out->qk_norm = is_arch(out, "qwen3") || is_arch(out, "qwen3_moe");
    json_t *qc = json_object_get(root, "quantization_config");
    if (qc != NULL && !json_is_null(qc)) {
        /* What vLLM reads to pick the weight format (quant_method). */
        json_t *qm = json_is_object(qc) ? json_object_get(qc, "quant_method") : NULL;
        const char *method = json_is_string(qm) ? json_string_value(qm) : "";
        json_t *bits = json_object_get(qc, "bits"), *group = json_object_get(qc, "group_size");
        if ((strcmp(method, "awq") == 0 || strcmp(method, "gptq") == 0) && json_is_integer(bits) &&
            json_integer_value(bits) == 4 && json_is_integer(group) &&
            json_integer_value(group) > 0 && json_integer_value(group) <= 4096) {
            snprintf(out->quantization, sizeof(out->quantization), "%s:group=%d", method,
                     (int)json_integer_value(group));
        } else if (strcmp(method, "fp8") == 0) {
            snprintf(out->quantization, sizeof(out->quantization), "fp8");
        } else {
            /* Not guessed: a run must name the format (cli_build_formats). */
            snprintf(out->quantization, sizeof(out->quantization), "?%.30s", method);
        }
    }
    json_t *meta = json_object_get(root, "_kvsim");
    json_t *v;
    if (json_is_object(meta)) {
        if (json_is_string(v = json_object_get(meta, "display_name")))
            copy_str(out->display, sizeof(out->display), json_string_value(v));
        if (json_is_integer(v = json_object_get(meta, "params_computed_reference")))
            out->params_reference = (uint64_t)json_integer_value(v);
    }
    /* The counts are exact in 64 bits below 10^15 parameters; estimate
     * first in floating point so a hostile config cannot wrap them. */
    double hd = out->hidden, ed = out->experts ? out->experts : 1;
    double mlp = 3.0 * hd * fmax(out->intermediate, (double)out->moe_intermediate * ed) +
                 3.0 * hd * out->shared_intermediate;
    double attn = 2.0 * hd * out->heads * (out->head_dim + out->v_head_dim) +
                  2.0 * hd * out->kv_heads * out->head_dim +
                  (double)out->kv_lora_rank * out->heads * (out->qk_nope_dim + out->v_head_dim);
    double est = 2.0 * out->vocab * hd + (double)out->layers * (attn + mlp + hd * ed) +
                 ((double)out->max_len + 2) * hd;
    if (!(est < 1e15)) {
        snprintf(err, errlen, "%s: the dimensions give about %.3g parameters: not a real model",
                 origin, est);
        goto done;
    }
    count_params(out, first_dense, freq, sparse_step, dense_only);
    copy_str(out->origin, sizeof(out->origin), origin);
    rc = 0;
done:
    free(dense_only);
    json_decref(root);
    /* Messages quote keys and values of the file: one line whatever they hold. */
    for (char *c = err; rc != 0 && errlen > 0 && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return rc;
}

size_t sim_model_count(void)
{
    return sim_catalog_num_models;
}

int sim_model_at(size_t i, sim_model *out)
{
    char err[256];
    if (i >= sim_catalog_num_models)
        return -1;
    const sim_catalog_file *f = &sim_catalog_models[i];
    if (sim_model_parse(f->text, strlen(f->text), f->name, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvsim: built-in catalog: %s\n", err);
        return -1;
    }
    copy_str(out->name, sizeof(out->name), f->name);
    copy_str(out->origin, sizeof(out->origin), "catalog");
    if (out->display[0] == '\0')
        copy_str(out->display, sizeof(out->display), f->name);
    return 0;
}

static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap || cap >= (64u << 20))
            break;
        char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(fp), bad_errno = errno;
    fclose(fp);
    if (buf == NULL || bad || n == cap) {
        snprintf(err, errlen, "%s: %s%s", path,
                 buf == NULL ? "out of memory"
                 : bad       ? "cannot read: "
                             : "larger than 64 MiB",
                 bad && buf != NULL ? strerror(bad_errno) : "");
        free(buf);
        return -1;
    }
    *text = buf;
    *len = n;
    return 0;
}

int sim_model_lookup(const char *name, sim_model *out, char *err, size_t errlen)
{
    size_t nlen = strlen(name);
    int path_like =
        strchr(name, '/') != NULL || (nlen > 5 && strcmp(name + nlen - 5, ".json") == 0);
    int in_catalog = 0;
    for (size_t i = 0; i < sim_catalog_num_models && !path_like && !in_catalog; i++)
        in_catalog = sim_name_cmp(name, sim_catalog_models[i].name, 0) == 0;
    struct stat st;
    int in_dir = !in_catalog && stat(name, &st) == 0 && S_ISDIR(st.st_mode);
    if (path_like || in_dir) {
        /* A folder is a HuggingFace model folder: its config.json is read,
         * as the HuggingFace tools do. A catalog name is never a folder. */
        char path[4096];
        if (in_dir)
            snprintf(path, sizeof(path), "%s%sconfig.json", name,
                     nlen > 0 && name[nlen - 1] == '/' ? "" : "/");
        else
            snprintf(path, sizeof(path), "%s", name);
        char *text;
        size_t len;
        /* A HuggingFace id (org/name, as vLLM takes it) that is no local
         * path: kvsim reads no hub; the catalog's closest names. */
        const char *org = strchr(name, '/');
        if (!in_dir && stat(path, &st) != 0 && errno == ENOENT && org != NULL && org != name &&
            strchr(org + 1, '/') == NULL && org[1] != '\0' && name[0] != '.' && name[0] != '~' &&
            !(nlen > 5 && strcmp(name + nlen - 5, ".json") == 0)) {
            const char *names[256];
            size_t n = 0;
            for (size_t i = 0; i < sim_catalog_num_models && n < 256; i++)
                names[n++] = sim_catalog_models[i].name;
            char hint[256];
            sim_closest_names(org + 1, names, n, hint, sizeof(hint));
            snprintf(err, errlen,
                     "%s: no such file or folder; kvsim does not read the HuggingFace Hub: give a "
                     "catalog name (closest: %s; kvsim list models) or a local config.json",
                     name, hint);
            return -1;
        }
        if (read_file(path, &text, &len, err, errlen) != 0)
            return -1;
        int rc = sim_model_parse(text, len, path, out, err, errlen);
        free(text);
        if (rc != 0)
            return -1;
        /* The model's name: the folder's, or the file's. */
        char base[256];
        copy_str(base, sizeof(base), name);
        size_t bl = strlen(base);
        while (in_dir && bl > 1 && base[bl - 1] == '/')
            base[--bl] = '\0';
        const char *slash = strrchr(base, '/');
        copy_str(out->name, sizeof(out->name),
                 slash != NULL && slash[1] != '\0' ? slash + 1 : base);
        if (out->display[0] == '\0')
            copy_str(out->display, sizeof(out->display), out->name);
        return 0;
    }
    const char *names[256];
    size_t n = 0;
    for (size_t i = 0; i < sim_catalog_num_models && n < 256; i++)
        names[n++] = sim_catalog_models[i].name;
    char hint[256];
    long k = sim_match_name(name, names, n, hint, sizeof(hint));
    if (k >= 0)
        return sim_model_at((size_t)k, out) == 0 ? 0
                                                 : (snprintf(err, errlen, "broken catalog"), -1);
    if (k == -2) {
        snprintf(err, errlen, "model '%s' is ambiguous: %s", name, hint);
        return -1;
    }
    sim_closest_names(name, names, n, hint, sizeof(hint));
    snprintf(err, errlen,
             "unknown model '%s'; closest: %s (kvsim list models shows all, or pass a "
             "config.json path)",
             name, hint);
    return -1;
}

uint64_t sim_model_kv_bytes_per_token(const sim_model *m, double bytes_per_elem)
{
    /* Multi-head latent attention caches one latent vector and the rope
     * part of the key per layer and token (vLLM's MLA backends: kv_lora_rank
     * + qk_rope_head_dim elements), whatever the head count. */
    double per_layer = m->kv_lora_rank > 0 ? (double)m->kv_lora_rank + m->qk_rope_dim
                                           : 2.0 * (double)m->kv_heads * m->head_dim;
    return (uint64_t)llround(m->layers * per_layer * bytes_per_elem);
}
