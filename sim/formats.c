/*
 * formats.c: weight and KV-cache formats with their exact bytes; see
 * formats.h.
 *
 * llama.cpp blocks (ggml/src/ggml-common.h; ggml_half is 2 bytes, the
 * sizes are the structs' static_asserts):
 *   q4_0   32 weights: d (f16) + 16 bytes of nibbles             18 B  4.5 bpw
 *   q4_1   32: d, m (f16) + 16 B                                  20 B  5.0
 *   q5_0   32: d + qh[4] + 16 B                                   22 B  5.5
 *   q5_1   32: d, m + qh[4] + 16 B                                24 B  6.0
 *   q8_0   32: d + 32 int8                                        34 B  8.5
 *   iq4_nl 32: d + 16 B (non-linear 4-bit grid)                   18 B  4.5
 *   q2_K  256: scales[16] + qs[64] + d, dmin                      84 B  2.625
 *   q3_K  256: hmask[32] + qs[64] + scales[12] + d               110 B  3.4375
 *   q4_K  256: d, dmin + scales[12] + qs[128]                    144 B  4.5
 *   q5_K  256: d, dmin + scales[12] + qh[32] + qs[128]           176 B  5.5
 *   q6_K  256: ql[128] + qh[64] + scales[16] + d                 210 B  6.5625
 *   iq4_xs 256: d + scales_h (2 B) + scales_l[4] + qs[128]       136 B  4.25
 * A file type (Q4_K_M, ...) is a default block type plus the per-tensor
 * choices of llama_tensor_get_type (src/llama-quant.cpp, ggml-org/llama.cpp
 * master 2025; the rules used here have been stable since the K-quants
 * landed in mid-2023): the output matrix in q6_K, attn_v and ffn_down in
 * more bits on the layers use_more_bits picks, the 70B attn_v bump, the
 * 8-expert rules, and the fallback of K-quants for rows that are not a
 * multiple of 256. 1-D tensors (norms, biases) and MoE routers are never
 * quantized: f32. No importance matrix is assumed.
 *
 * Checked (tests/test_formats.c) against QUANT_OPTIONS of
 * tools/quantize/quantize.cpp, whose sizes are "@ Llama-3-8B":
 * Q4_K_M 4.58 GiB, Q8_0 7.96 GiB, Q6_K 6.14, Q5_K_M 5.33, Q3_K_M 3.74,
 * Q2_K 2.96; and against llama-bench's printed sizes for Llama-2-7B
 * (Q8_0 6.67 GiB, Q4_0 3.56 GiB, F16 12.55 GiB).
 */
#include "sim/formats.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/catalog.h"

/* ------------------------------------------------------ llama.cpp types */

enum ggml_t {
    GT_F32,
    GT_F16,
    GT_BF16,
    GT_Q4_0,
    GT_Q4_1,
    GT_Q5_0,
    GT_Q5_1,
    GT_Q8_0,
    GT_Q2_K,
    GT_Q3_K,
    GT_Q4_K,
    GT_Q5_K,
    GT_Q6_K,
    GT_IQ4_NL,
    GT_IQ4_XS,
    GT_COUNT
};

static const struct {
    const char *name;
    uint32_t block, bytes;
} ggml_types[GT_COUNT] = {
    [GT_F32] = {"f32", 1, 4},           [GT_F16] = {"f16", 1, 2},
    [GT_BF16] = {"bf16", 1, 2},         [GT_Q4_0] = {"q4_0", 32, 18},
    [GT_Q4_1] = {"q4_1", 32, 20},       [GT_Q5_0] = {"q5_0", 32, 22},
    [GT_Q5_1] = {"q5_1", 32, 24},       [GT_Q8_0] = {"q8_0", 32, 34},
    [GT_Q2_K] = {"q2_K", 256, 84},      [GT_Q3_K] = {"q3_K", 256, 110},
    [GT_Q4_K] = {"q4_K", 256, 144},     [GT_Q5_K] = {"q5_K", 256, 176},
    [GT_Q6_K] = {"q6_K", 256, 210},     [GT_IQ4_NL] = {"iq4_nl", 32, 18},
    [GT_IQ4_XS] = {"iq4_xs", 256, 136},
};

/* llama.cpp file types (LLAMA_FTYPE_MOSTLY_*) kvsim models. */
enum ftype {
    FT_Q2_K,
    FT_Q3_K_S,
    FT_Q3_K_M,
    FT_Q3_K_L,
    FT_Q4_0,
    FT_Q4_1,
    FT_Q5_0,
    FT_Q5_1,
    FT_Q4_K_S,
    FT_Q4_K_M,
    FT_Q5_K_S,
    FT_Q5_K_M,
    FT_Q6_K,
    FT_Q8_0,
    FT_IQ4_NL,
    FT_IQ4_XS,
};

static const int ftype_default[] = {
    [FT_Q2_K] = GT_Q2_K,   [FT_Q3_K_S] = GT_Q3_K, [FT_Q3_K_M] = GT_Q3_K,   [FT_Q3_K_L] = GT_Q3_K,
    [FT_Q4_0] = GT_Q4_0,   [FT_Q4_1] = GT_Q4_1,   [FT_Q5_0] = GT_Q5_0,     [FT_Q5_1] = GT_Q5_1,
    [FT_Q4_K_S] = GT_Q4_K, [FT_Q4_K_M] = GT_Q4_K, [FT_Q5_K_S] = GT_Q5_K,   [FT_Q5_K_M] = GT_Q5_K,
    [FT_Q6_K] = GT_Q6_K,   [FT_Q8_0] = GT_Q8_0,   [FT_IQ4_NL] = GT_IQ4_NL, [FT_IQ4_XS] = GT_IQ4_XS,
};

/* ---------------------------------------------------------- the table */

/* Block sizes are repeated from ggml_types (a C11 initializer must be a
 * constant expression); tests/test_formats.c checks they agree. */

static const sim_dtype formats[] = {
    /* name, bytes/elem, kind, block, block bytes, residual, compute, ggml, kv, weight, what */
    {"fp32", 4.0, SIM_FMT_FLOAT, 0, 0, 0, SIM_COMPUTE_FP32, 0, true, true, "IEEE fp32"},
    {"fp16", 2.0, SIM_FMT_FLOAT, 0, 0, 0, SIM_COMPUTE_FP16, 0, true, true, "IEEE fp16"},
    {"bf16", 2.0, SIM_FMT_FLOAT, 0, 0, 0, SIM_COMPUTE_FP16, 0, true, true, "bfloat16"},
    {"fp8", 1.0, SIM_FMT_FLOAT, 0, 0, 0, SIM_COMPUTE_FP8, 0, true, true,
     "fp8 e4m3; weights: vLLM --quantization fp8 (per-tensor scales, lm_head and embeddings "
     "16-bit); KV: per-tensor or per-head scales (per layer, not per token)"},
    {"fp8_e4m3", 1.0, SIM_FMT_FLOAT, 0, 0, 0, SIM_COMPUTE_FP8, 0, true, false,
     "fp8 e4m3 KV (vLLM kv_cache_dtype), per-tensor or per-head scales"},
    {"fp8_e5m2", 1.0, SIM_FMT_FLOAT, 0, 0, 0, SIM_COMPUTE_FP8, 0, true, false,
     "fp8 e5m2 KV (vLLM kv_cache_dtype), no scales"},
    {"int8", 1.0, SIM_FMT_INT, 0, 0, 0, SIM_COMPUTE_INT8, 0, true, true,
     "int8; weights: W8A8 with an fp32 scale per output channel; KV: an fp16 scale per token "
     "and head"},
    {"q8_0", 34.0 / 32, SIM_FMT_GGML, 32, 34, 0, SIM_COMPUTE_FP16, GT_Q8_0, true, false,
     "llama.cpp block_q8_0: 32 int8 + an f16 scale = 34 bytes"},
    {"q4_0", 18.0 / 32, SIM_FMT_GGML, 32, 18, 0, SIM_COMPUTE_FP16, GT_Q4_0, true, false,
     "llama.cpp block_q4_0: 32 nibbles + an f16 scale = 18 bytes"},
    {"q4_1", 20.0 / 32, SIM_FMT_GGML, 32, 20, 0, SIM_COMPUTE_FP16, GT_Q4_1, true, false,
     "llama.cpp block_q4_1: 32 nibbles + f16 scale and min = 20 bytes"},
    {"iq4_nl", 18.0 / 32, SIM_FMT_GGML, 32, 18, 0, SIM_COMPUTE_FP16, GT_IQ4_NL, true, false,
     "llama.cpp block_iq4_nl: 32 non-linear nibbles + an f16 scale = 18 bytes"},
    {"q5_0", 22.0 / 32, SIM_FMT_GGML, 32, 22, 0, SIM_COMPUTE_FP16, GT_Q5_0, true, false,
     "llama.cpp block_q5_0: 32 x 5 bits + an f16 scale = 22 bytes"},
    {"q5_1", 24.0 / 32, SIM_FMT_GGML, 32, 24, 0, SIM_COMPUTE_FP16, GT_Q5_1, true, false,
     "llama.cpp block_q5_1: 32 x 5 bits + f16 scale and min = 24 bytes"},
    {"nvfp4", 4.5 / 8, SIM_FMT_FP4, 16, 9, 0, SIM_COMPUTE_FP16, 0, false, true,
     "NVFP4: 16 e2m1 values + an e4m3 scale (4.5 bpw) and one fp32 scale per tensor; run at the "
     "fp16 rate (the catalog has no FP4 tensor rate)"},
    {"mxfp4", 4.25 / 8, SIM_FMT_FP4, 32, 17, 0, SIM_COMPUTE_FP16, 0, false, true,
     "OCP MXFP4: 32 e2m1 values + an e8m0 scale = 17 bytes (4.25 bpw); run at the fp16 rate"},
};

/* llama.cpp file types as weight formats; bytes is the default type's. */
static const struct {
    const char *name;
    int ftype;
} gguf_names[] = {
    {"Q2_K", FT_Q2_K},     {"Q3_K_S", FT_Q3_K_S}, {"Q3_K_M", FT_Q3_K_M}, {"Q3_K_L", FT_Q3_K_L},
    {"Q4_0", FT_Q4_0},     {"Q4_1", FT_Q4_1},     {"Q5_0", FT_Q5_0},     {"Q5_1", FT_Q5_1},
    {"Q4_K_S", FT_Q4_K_S}, {"Q4_K_M", FT_Q4_K_M}, {"Q5_K_S", FT_Q5_K_S}, {"Q5_K_M", FT_Q5_K_M},
    {"Q6_K", FT_Q6_K},     {"Q8_0", FT_Q8_0},     {"IQ4_NL", FT_IQ4_NL}, {"IQ4_XS", FT_IQ4_XS},
};
#define NGGUF (sizeof(gguf_names) / sizeof(gguf_names[0]))

static sim_dtype gguf_formats[NGGUF];
static bool gguf_ready = false;

static void gguf_init(void)
{
    if (gguf_ready)
        return;
    for (size_t i = 0; i < NGGUF; i++) {
        int t = ftype_default[gguf_names[i].ftype];
        gguf_formats[i] = (sim_dtype){
            .name = gguf_names[i].name,
            .bytes = (double)ggml_types[t].bytes / ggml_types[t].block,
            .kind = SIM_FMT_GGUF_MIX,
            .block = ggml_types[t].block,
            .block_bytes = ggml_types[t].bytes,
            .compute = SIM_COMPUTE_FP16,
            .ggml = gguf_names[i].ftype,
            .weight_ok = true,
            .what = "llama.cpp file type: a block type per tensor (llama_tensor_get_type)",
        };
    }
    gguf_ready = true;
}

#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

static bool same_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

const sim_dtype *sim_dtype_find(const char *name)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (strcmp(formats[i].name, name) == 0)
            return &formats[i];
    gguf_init();
    for (size_t i = 0; i < NGGUF; i++)
        if (same_ci(gguf_formats[i].name, name))
            return &gguf_formats[i];
    /* llama.cpp's and vLLM's spellings of the plain types. */
    static const struct {
        const char *alias, *name;
    } aliases[] = {{"f32", "fp32"},      {"f16", "fp16"},     {"half", "fp16"},
                   {"float16", "fp16"},  {"float32", "fp32"}, {"float", "fp32"},
                   {"bfloat16", "bf16"}, {"FP16", "fp16"},    {"BF16", "bf16"},
                   {"F16", "fp16"},      {"F32", "fp32"},     {"BF16", "bf16"}};
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcmp(aliases[i].alias, name) == 0)
            return sim_dtype_find(aliases[i].name);
    return NULL;
}

static void append(char *buf, size_t len, const char *s)
{
    size_t used = strlen(buf);
    if (used + 1 < len)
        snprintf(buf + used, len - used, "%s%s", used ? ", " : "", s);
}

void sim_dtype_list(char *buf, size_t len, bool weights)
{
    buf[0] = '\0';
    if (!weights)
        append(buf, len, "auto");
    for (size_t i = 0; i < NFORMATS; i++)
        if (weights ? formats[i].weight_ok : formats[i].kv_ok)
            append(buf, len, formats[i].name);
    if (weights) {
        append(buf, len, "awq[:group=G]");
        append(buf, len, "gptq[:group=G]");
        for (size_t i = 0; i < NGGUF; i++)
            append(buf, len, gguf_names[i].name);
    } else {
        append(buf, len, "int4[:group=G,residual=R]");
        append(buf, len, "int2[:group=G,residual=R]");
    }
}

void sim_dtype_names(char *buf, size_t len)
{
    buf[0] = '\0';
    static const char *const plain[] = {"fp32", "fp16", "bf16", "fp8"};
    for (size_t i = 0; i < 4; i++)
        append(buf, len, plain[i]);
}

/* ------------------------------------------------- interned parameters */

enum { INTERN_MAX = 64 };
static struct {
    sim_dtype d;
    char name[48];
} interned[INTERN_MAX];
static size_t ninterned = 0;

/* Returns the interned copy of D under NAME (one per distinct name), or
 * NULL when the table is full. */
static const sim_dtype *intern(const sim_dtype *d, const char *name)
{
    for (size_t i = 0; i < ninterned; i++)
        if (strcmp(interned[i].name, name) == 0)
            return &interned[i].d;
    if (ninterned == INTERN_MAX)
        return NULL;
    interned[ninterned].d = *d;
    snprintf(interned[ninterned].name, sizeof(interned[ninterned].name), "%s", name);
    interned[ninterned].d.name = interned[ninterned].name;
    return &interned[ninterned++].d;
}

/* Parses "key=value,..." after a format's ':' into group and residual.
 * Returns 0, or -1 with ERR naming OPT. */
static int parse_params(const char *opt, const char *spec, const char *params, bool allow_residual,
                        uint32_t *group, uint32_t *residual, char *err, size_t errlen)
{
    const char *p = params;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];
        if (n >= sizeof(item)) {
            snprintf(err, errlen, "%s '%s': parameter too long", opt, spec);
            return -1;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *eq = strchr(item, '=');
        char *end = NULL;
        unsigned long v = 0;
        if (eq != NULL && eq[1] != '\0' && isdigit((unsigned char)eq[1]))
            v = strtoul(eq + 1, &end, 10);
        if (eq == NULL || end == NULL || *end != '\0' || v > 1u << 20) {
            snprintf(err, errlen, "%s '%s': '%s' is not key=integer", opt, spec, item);
            return -1;
        }
        *eq = '\0';
        if (strcmp(item, "group") == 0 || strcmp(item, "g") == 0) {
            *group = (uint32_t)v;
        } else if (allow_residual && strcmp(item, "residual") == 0) {
            *residual = (uint32_t)v;
        } else {
            snprintf(err, errlen, "%s '%s': unknown parameter '%s' (known: group%s)", opt, spec,
                     item, allow_residual ? ", residual" : "");
            return -1;
        }
        p += n + (comma ? 1 : 0);
    }
    return 0;
}

static const sim_dtype *kv_parse(const char *spec, const sim_dtype *autofmt, char *err,
                                 size_t errlen)
{
    static const char opt[] = "--kv-cache-dtype";
    if (strcmp(spec, "auto") == 0)
        return autofmt;
    const char *colon = strchr(spec, ':');
    size_t base_len = colon ? (size_t)(colon - spec) : strlen(spec);
    if ((base_len == 4 && (strncmp(spec, "int4", 4) == 0 || strncmp(spec, "int2", 4) == 0))) {
        uint32_t bits = spec[3] == '4' ? 4 : 2, group = 32, residual = 0;
        if (colon && parse_params(opt, spec, colon + 1, true, &group, &residual, err, errlen) != 0)
            return NULL;
        if (group < 2 || (group & (group - 1)) != 0) {
            snprintf(err, errlen, "%s '%s': group %u must be a power of two >= 2", opt, spec,
                     group);
            return NULL;
        }
        if (residual % group != 0) {
            /* KIVI asserts residual_length % group_size == 0: the window
             * is quantized a whole group at a time. */
            snprintf(err, errlen, "%s '%s': residual %u must be a multiple of group %u (KIVI)", opt,
                     spec, residual, group);
            return NULL;
        }
        sim_dtype d = {
            .bytes = (bits + 32.0 / group) / 8.0,
            .kind = SIM_FMT_KIVI,
            .block = group,
            .residual = residual,
            .compute = SIM_COMPUTE_FP16,
            .kv_ok = true,
            .what = "KIVI: keys per channel, values per token, an fp16 scale and min per group, "
                    "the last R tokens in fp16",
        };
        /* Bits per group: b x G values + 32 bits of scale and minimum. */
        d.block_bytes = (bits * group + 32) / 8;
        char name[48];
        snprintf(name, sizeof(name), "int%u:group=%u,residual=%u", bits, group, residual);
        const sim_dtype *f = intern(&d, name);
        if (f == NULL)
            snprintf(err, errlen, "%s '%s': too many distinct formats in one process", opt, spec);
        return f;
    }
    if (colon != NULL) {
        snprintf(err, errlen, "%s '%s': only int4 and int2 take parameters", opt, spec);
        return NULL;
    }
    char lower[32];
    size_t n = 0;
    for (; spec[n] && n + 1 < sizeof(lower); n++)
        lower[n] = (char)tolower((unsigned char)spec[n]);
    lower[n] = '\0';
    const sim_dtype *f = sim_dtype_find(lower);
    if (f == NULL || !f->kv_ok) {
        char names[512];
        sim_dtype_list(names, sizeof(names), false);
        snprintf(err, errlen, "%s: %s '%s' (known: %s)", opt,
                 f == NULL ? "unknown format" : "not a KV-cache format:", spec, names);
        return NULL;
    }
    return f;
}

static const sim_dtype *weight_parse(const char *spec, char *err, size_t errlen)
{
    static const char opt[] = "--quantization";
    const char *colon = strchr(spec, ':');
    size_t base_len = colon ? (size_t)(colon - spec) : strlen(spec);
    if ((base_len == 3 && strncmp(spec, "awq", 3) == 0) ||
        (base_len == 4 && strncmp(spec, "gptq", 4) == 0)) {
        uint32_t group = 128, residual = 0;
        if (colon && parse_params(opt, spec, colon + 1, false, &group, &residual, err, errlen) != 0)
            return NULL;
        if (group < 8 || (group & (group - 1)) != 0) {
            snprintf(err, errlen, "%s '%s': group %u must be a power of two >= 8", opt, spec,
                     group);
            return NULL;
        }
        /* vLLM v0.11 AWQLinearMethod.create_weights: qweight int32 [in,
         * out/8] (4 bits a weight), qzeros int32 [in/G, out/8] (4 bits a
         * group and column), scales fp16 [in/G, out]; GPTQ's layout is the
         * same (its g_idx, one int32 per input row with act-order, is
         * not counted). 4 + 20/G bits per weight: 4.156 at G 128. */
        sim_dtype d = {
            .bytes = (4.0 + 20.0 / group) / 8.0,
            .kind = SIM_FMT_AWQ,
            .block = group,
            .block_bytes = (4 * group + 20) / 8,
            .compute = SIM_COMPUTE_FP16,
            .weight_ok = true,
            .what = "AWQ/GPTQ 4-bit: int32-packed weights, a 4-bit zero and an fp16 scale per "
                    "group of G inputs (vLLM create_weights)",
        };
        char name[48];
        snprintf(name, sizeof(name), "%.*s:group=%u", (int)base_len, spec, group);
        const sim_dtype *f = intern(&d, name);
        if (f == NULL)
            snprintf(err, errlen, "%s '%s': too many distinct formats in one process", opt, spec);
        return f;
    }
    /* A llama.cpp name means its file type whatever its case (q8_0 as
     * weights is the Q8_0 file, as a KV type the block type). */
    const sim_dtype *f = NULL;
    gguf_init();
    for (size_t i = 0; i < NGGUF && colon == NULL && f == NULL; i++)
        if (same_ci(gguf_formats[i].name, spec))
            f = &gguf_formats[i];
    if (f == NULL && colon == NULL)
        f = sim_dtype_find(spec);
    if (f == NULL || !f->weight_ok) {
        char names[768];
        sim_dtype_list(names, sizeof(names), true);
        snprintf(err, errlen, "%s: %s '%s' (known: %s)", opt,
                 f == NULL ? "unknown format" : "not a weight format:", spec, names);
        return NULL;
    }
    return f;
}

/* Errors echo the user's text: control characters become '?', so an
 * error stays one line whatever the input. */
static void one_line(char *err)
{
    for (char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

const sim_dtype *sim_kv_format_parse(const char *spec, const sim_dtype *autofmt, char *err,
                                     size_t errlen)
{
    const sim_dtype *f = kv_parse(spec, autofmt, err, errlen);
    if (f == NULL)
        one_line(err);
    return f;
}

const sim_dtype *sim_weight_format_parse(const char *spec, char *err, size_t errlen)
{
    const sim_dtype *f = weight_parse(spec, err, errlen);
    if (f == NULL)
        one_line(err);
    return f;
}

/* ---------------------------------------------------------------- KV */

/* KV elements per token, and the vectors they form (one per layer and KV
 * head for K and for V; with multi-head latent attention one latent and
 * rope vector per layer, whatever the heads: sim_model_kv_bytes_per_token). */
static double kv_elems(const sim_model *m)
{
    return m->kv_lora_rank > 0 ? (double)m->layers * ((double)m->kv_lora_rank + m->qk_rope_dim)
                               : 2.0 * m->layers * (double)m->kv_heads * m->head_dim;
}

static double kv_vectors(const sim_model *m)
{
    return m->kv_lora_rank > 0 ? (double)m->layers : 2.0 * m->layers * (double)m->kv_heads;
}

int sim_kv_format_check(const sim_dtype *f, const sim_model *m, char *err, size_t errlen)
{
    if (m->kv_lora_rank > 0 && f->kind != SIM_FMT_FLOAT) {
        /* vLLM's MLA backends cache the latent in the model dtype or fp8. */
        snprintf(err, errlen,
                 "--kv-cache-dtype %s: %s caches a latent vector (multi-head latent attention); "
                 "kvsim models it in fp16, bf16, fp32 or fp8 only",
                 f->name, m->name);
        return -1;
    }
    uint64_t row = (uint64_t)m->kv_heads * m->head_dim;
    if (f->kind == SIM_FMT_GGML && row % f->block != 0) {
        /* llama.cpp stores a token's K (and V) of one layer as one row of
         * kv_heads x head_dim values, cut into blocks. */
        snprintf(err, errlen,
                 "--kv-cache-dtype %s: a K/V row of %s (%u KV heads x %u) is not a multiple of "
                 "the %u-value block",
                 f->name, m->name, m->kv_heads, m->head_dim, f->block);
        return -1;
    }
    if (f->kind == SIM_FMT_KIVI && m->head_dim % f->block != 0) {
        snprintf(err, errlen,
                 "--kv-cache-dtype %s: head_dim %u of %s is not a multiple of group %u", f->name,
                 m->head_dim, m->name, f->block);
        return -1;
    }
    return 0;
}

uint64_t sim_kv_format_bytes_per_token(const sim_model *m, const sim_dtype *f)
{
    double elems = kv_elems(m);
    if (f->kind == SIM_FMT_INT) /* an fp16 scale per token and head, for K and for V */
        return (uint64_t)llround(elems + kv_vectors(m) * 2.0);
    return (uint64_t)llround(elems * f->bytes);
}

uint64_t sim_kv_window_bytes_per_seq(const sim_model *m, const sim_dtype *f)
{
    if (f->kind != SIM_FMT_KIVI || f->residual == 0)
        return 0;
    double elems = kv_elems(m);
    return (uint64_t)llround((double)f->residual * elems * (2.0 - f->bytes));
}

/* ------------------------------------------------------------ weights */

/* The matrices of a llama-like layer stack, as llama.cpp names them. */
enum tcat { T_EMBD, T_OUTPUT, T_Q, T_K, T_V, T_O, T_GATE, T_UP, T_DOWN };

static bool use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* llama_tensor_get_type for the file types above (no imatrix, not
 * Falcon), then the fallback for rows that do not fill a block. NE0 is
 * the matrix's input dimension (ggml's ne[0]). */
static int gguf_type(int ft, int cat, int i, int n, uint64_t ne0, const sim_model *m)
{
    int t = ftype_default[ft];
    uint32_t gqa = m->heads / m->kv_heads;
    bool e8 = m->experts == 8;
    bool is70b = strcmp(m->arch, "llama") == 0 && m->layers == 80 && m->heads != m->kv_heads;
    switch (cat) {
    case T_OUTPUT:
        if (ne0 % ggml_types[t].block != 0)
            return GT_Q8_0;
        return t != GT_Q8_0 ? GT_Q6_K : t;
    case T_EMBD:
        break;
    case T_V:
        if (ft == FT_Q2_K)
            t = gqa >= 4 ? GT_Q4_K : GT_Q3_K;
        else if (ft == FT_Q3_K_M)
            t = i < 2 ? GT_Q5_K : GT_Q4_K;
        else if (ft == FT_Q3_K_L)
            t = GT_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && gqa >= 4)
            t = GT_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(i, n))
            t = GT_Q6_K;
        else if (ft == FT_Q4_K_S && i < 4)
            t = GT_Q5_K;
        if (is70b && (t == GT_Q3_K || t == GT_Q4_K))
            t = GT_Q5_K;
        if (e8)
            t = GT_Q8_0;
        break;
    case T_K:
        if (e8)
            t = GT_Q8_0;
        break;
    case T_DOWN:
        if (ft == FT_Q2_K)
            t = GT_Q3_K;
        else if (ft == FT_Q3_K_M)
            t = i < n / 16 ? GT_Q5_K : GT_Q4_K;
        else if (ft == FT_Q3_K_L)
            t = GT_Q5_K;
        else if (ft == FT_Q4_K_M) {
            if (use_more_bits(i, n))
                t = GT_Q6_K;
        } else if (i < n / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS))
            t = GT_Q5_K;
        else if (ft == FT_Q5_K_M && use_more_bits(i, n))
            t = GT_Q6_K;
        else if (ft == FT_Q4_K_S && i < n / 8)
            t = GT_Q5_K;
        break;
    case T_O:
        if (e8) {
            if (ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_IQ4_NL ||
                ft == FT_Q4_K_S || ft == FT_Q4_K_M || ft == FT_IQ4_XS)
                t = GT_Q5_K;
        } else if (ft == FT_Q2_K) {
            t = GT_Q3_K;
        } else if (ft == FT_Q3_K_M) {
            t = GT_Q4_K;
        } else if (ft == FT_Q3_K_L) {
            t = GT_Q5_K;
        }
        break;
    default:
        break;
    }
    if (ggml_types[t].block == 256 && ne0 % 256 != 0) {
        /* tensor_type_fallback: K-quants need rows of whole super-blocks. */
        t = t == GT_Q4_K ? GT_Q5_0 : t == GT_Q5_K ? GT_Q5_1 : t == GT_Q6_K ? GT_Q8_0 : GT_IQ4_NL;
    }
    if (ne0 % ggml_types[t].block != 0)
        t = GT_F16;
    return t;
}

/* Adds the bytes of a ROWS x NE0 matrix stored as W (one of the layer
 * matrices). Returns -1 with ERR when W cannot hold it. */
static int add_matrix(const sim_model *m, const sim_dtype *w, int cat, int layer, double count,
                      uint64_t ne0, uint64_t rows, double *bytes, char *err, size_t errlen)
{
    double params = (double)ne0 * (double)rows * count;
    switch (w->kind) {
    case SIM_FMT_GGUF_MIX: {
        int t = gguf_type(w->ggml, cat, layer, (int)m->layers, ne0, m);
        *bytes += params / ggml_types[t].block * ggml_types[t].bytes;
        return 0;
    }
    case SIM_FMT_INT: /* int8 W8A8: an fp32 scale per output channel */
        *bytes += params + 4.0 * (double)rows * count;
        return 0;
    case SIM_FMT_AWQ:
    case SIM_FMT_FP4:
        if (ne0 % w->block != 0) {
            snprintf(err, errlen,
                     "--quantization %s: a matrix of %s with %llu inputs is not a multiple of the "
                     "%u-value group",
                     w->name, m->name, (unsigned long long)ne0, w->block);
            return -1;
        }
        *bytes += params * w->bytes;
        return 0;
    default:
        *bytes += params * w->bytes;
        return 0;
    }
}

int sim_weight_bytes_of(const sim_model *m, const sim_dtype *w, sim_weight_bytes *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    double total_params = (double)m->params_total;
    if (w->kind == SIM_FMT_FLOAT && w->compute != SIM_COMPUTE_FP8) {
        /* Unquantized: every parameter in the dtype. */
        out->total = total_params * w->bytes;
        out->kept_params = total_params;
        out->expert = (double)m->expert_params * w->bytes;
        out->embed = m->tie_embeddings ? 0 : (double)m->vocab * m->hidden * w->bytes;
        out->bpw = w->bytes * 8;
        return 0;
    }
    bool gguf = w->kind == SIM_FMT_GGUF_MIX;
    uint64_t h = m->hidden, q = (uint64_t)m->heads * m->head_dim;
    uint64_t kv = (uint64_t)m->kv_heads * m->head_dim, I = m->intermediate, V = m->vocab;
    double E = m->experts ? m->experts : 1;
    bool gated = strcmp(m->arch, "opt") != 0;
    double bytes = 0, expert = 0, matrices = 0;
    /* Embeddings and lm_head: GGUF quantizes them (llama_tensor_get_type);
     * vLLM's quantized checkpoints keep them in 16 bits. */
    double emb = (double)V * (double)h;
    if (gguf) {
        if (add_matrix(m, w, m->tie_embeddings ? T_OUTPUT : T_EMBD, 0, 1, h, V, &bytes, err,
                       errlen) != 0)
            return -1;
        if (!m->tie_embeddings)
            out->embed = bytes;
        if (!m->tie_embeddings && add_matrix(m, w, T_OUTPUT, 0, 1, h, V, &bytes, err, errlen) != 0)
            return -1;
        out->quantized_params += emb * (m->tie_embeddings ? 1 : 2);
    } else {
        out->embed = m->tie_embeddings ? 0 : emb * 2.0;
        bytes += emb * (m->tie_embeddings ? 1 : 2) * 2.0;
        out->kept_params += emb * (m->tie_embeddings ? 1 : 2);
    }
    matrices += emb * (m->tie_embeddings ? 1 : 2);
    /* Dense layers first (DeepSeek's first_k_dense_replace; Qwen's
     * mlp_only_layers anywhere would only move which layers get the
     * mixes' extra bits). */
    uint32_t dense_layers = m->layers - m->moe_layers;
    uint64_t Im = m->moe_intermediate, Ish = m->shared_intermediate;
    for (uint32_t l = 0; l < m->layers; l++) {
        int L = (int)l;
        bool moe = m->experts && l >= dense_layers;
        struct {
            int cat;
            uint64_t ne0, rows;
            double count;
            bool is_expert;
        } t[12];
        size_t nt = 0;
#define MAT(c_, ne0_, rows_, count_, ex_)                                                          \
    do {                                                                                           \
        t[nt].cat = (c_);                                                                          \
        t[nt].ne0 = (ne0_);                                                                        \
        t[nt].rows = (rows_);                                                                      \
        t[nt].count = (count_);                                                                    \
        t[nt].is_expert = (ex_);                                                                   \
        nt++;                                                                                      \
    } while (0)
        if (m->kv_lora_rank > 0) {
            /* Multi-head latent attention (DeepSeek-V2/V3). */
            uint64_t qk = (uint64_t)m->qk_nope_dim + m->qk_rope_dim, H = m->heads;
            if (m->q_lora_rank) {
                MAT(T_Q, h, m->q_lora_rank, 1, false);
                MAT(T_Q, m->q_lora_rank, H * qk, 1, false);
            } else {
                MAT(T_Q, h, H * qk, 1, false);
            }
            MAT(T_K, h, (uint64_t)m->kv_lora_rank + m->qk_rope_dim, 1, false);
            MAT(T_V, m->kv_lora_rank, H * ((uint64_t)m->qk_nope_dim + m->v_head_dim), 1, false);
            MAT(T_O, H * m->v_head_dim, h, 1, false);
        } else {
            MAT(T_Q, h, q, 1, false);
            MAT(T_K, h, kv, 1, false);
            MAT(T_V, h, kv, 1, false);
            MAT(T_O, q, h, 1, false);
        }
        if (moe) {
            MAT(T_GATE, h, Im, gated ? E : 0, true);
            MAT(T_UP, h, Im, E, true);
            MAT(T_DOWN, Im, h, E, true);
            if (Ish) {
                MAT(T_GATE, h, Ish, gated ? 1 : 0, false);
                MAT(T_UP, h, Ish, 1, false);
                MAT(T_DOWN, Ish, h, 1, false);
            }
        } else {
            MAT(T_GATE, h, I, gated ? 1 : 0, false);
            MAT(T_UP, h, I, 1, false);
            MAT(T_DOWN, I, h, 1, false);
        }
#undef MAT
        for (size_t k = 0; k < nt; k++) {
            if (t[k].count == 0)
                continue;
            double before = bytes;
            if (add_matrix(m, w, t[k].cat, L, t[k].count, t[k].ne0, t[k].rows, &bytes, err,
                           errlen) != 0)
                return -1;
            if (t[k].is_expert)
                expert += bytes - before;
            double p = (double)t[k].ne0 * (double)t[k].rows * t[k].count;
            out->quantized_params += p;
            matrices += p;
        }
    }
    /* The rest: norms, biases, MoE routers, OPT's position embeddings. */
    double rest = total_params - matrices;
    if (rest < 0)
        rest = 0;
    bytes += rest * (gguf ? 4.0 : 2.0);
    out->kept_params += rest;
    out->total = bytes;
    out->expert = expert;
    out->bpw = total_params > 0 ? bytes * 8.0 / total_params : 0;
    return 0;
}

int sim_weight_peak_flops(const sim_gpu *g, const sim_dtype *w, double *flops, char *err,
                          size_t errlen)
{
    double fp16 = g->fp16_flops > 0 ? g->fp16_flops : INFINITY;
    switch (w->compute) {
    case SIM_COMPUTE_FP8:
        /* W8A8 on FP8 tensor cores; without them vLLM runs fp8 checkpoints
         * weight-only (FP8 Marlin, Ampere), multiplying in fp16. */
        *flops = g->fp8_flops > 0 ? g->fp8_flops : fp16;
        return 0;
    case SIM_COMPUTE_INT8:
        if (!(g->int8_ops > 0)) {
            snprintf(err, errlen,
                     "--quantization int8: W8A8 runs at the int8 tensor rate and %s has no "
                     "int8_tops in catalog/gpus.csv; use a weight-only format (awq, gptq, a "
                     "GGUF type) or add the figure",
                     g->name);
            return -1;
        }
        *flops = g->int8_ops;
        return 0;
    case SIM_COMPUTE_FP32:
        /* fp32 matrices run on the CUDA cores (PyTorch leaves TF32 off
         * for matmuls by default: torch.backends.cuda.matmul.allow_tf32),
         * at a rate the catalog does not hold: the user's figure, or a
         * refusal rather than the 16-bit tensor rate (several times too
         * fast). */
        if (g->rate_given) {
            *flops = g->fp16_flops;
            return 0;
        }
        snprintf(err, errlen,
                 "fp32 weights multiply on %s's CUDA cores, at a rate catalog/gpus.csv does "
                 "not hold (its figure is the 16-bit tensor rate); give it with --peak-tflops",
                 g->name);
        return -1;
    default:
        *flops = fp16;
        return 0;
    }
}
