/*
 * formats.h: number formats of weights and of the KV cache, with their
 * exact bytes.
 *
 * A format is a sim_dtype: its name, the mean bytes per element with every
 * scale, zero point and block header counted, and how it is laid out
 * (plain floats, llama.cpp blocks, KIVI groups, AWQ/GPTQ groups, FP4
 * micro-blocks, a llama.cpp file-type mix). Plain and block formats are
 * static; formats with parameters ("int4:group=64,residual=128",
 * "awq:group=64") are interned: the same text gives the same pointer for
 * the life of the process, so a sim_config can hold `const sim_dtype *`
 * and be copied freely.
 *
 * Sources (each table entry in formats.c repeats its own):
 *   llama.cpp ggml/src/ggml-common.h block structs (static_asserts give the
 *     bytes) and src/llama-quant.cpp llama_tensor_get_type (which tensors a
 *     file type keeps at higher precision), ggml-org/llama.cpp master 2025;
 *   vLLM v0.11: kv_cache_dtype (auto, fp8, fp8_e4m3, fp8_e5m2),
 *     AWQLinearMethod/GPTQLinearMethod.create_weights (int32-packed 4-bit
 *     weights and zeros, fp16 scales per group);
 *   KIVI (Liu et al. 2024, jy-yuan/KIVI): 2/4-bit keys per channel and
 *     values per token, an fp16 scale and minimum per group of G, the most
 *     recent R tokens (R a multiple of G) kept in fp16;
 *   OCP Microscaling spec v1.0 (MXFP4: 32 E2M1 values, one E8M0 scale) and
 *     NVIDIA's NVFP4 (16 E2M1 values, one E4M3 scale, one fp32 scale per
 *     tensor).
 */
#ifndef KVSIM_SIM_FORMATS_H
#define KVSIM_SIM_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_gpu;
struct sim_model;

/* How a format lays out its elements. */
enum sim_fmt_kind {
    SIM_FMT_FLOAT = 0, /* IEEE-like elements, no scales worth counting (fp32/16, bf16, fp8) */
    SIM_FMT_INT,       /* int8: 1 byte + a scale per row (KV: per token and head) */
    SIM_FMT_KIVI,      /* KIVI int4/int2 groups: b bits + a 16-bit scale and min per group */
    SIM_FMT_GGML,      /* one llama.cpp block type for every tensor (KV cache types) */
    SIM_FMT_GGUF_MIX,  /* a llama.cpp file type: a block type per tensor */
    SIM_FMT_AWQ,       /* AWQ/GPTQ 4-bit: packed weights, 4-bit zeros and fp16 scales per group */
    SIM_FMT_FP4,       /* MXFP4 / NVFP4 micro-blocks */
};

/* The tensor-core rate a weight format's matrix multiplications run at. */
enum sim_compute {
    SIM_COMPUTE_FP16 = 0, /* fp16/bf16 (weight-only formats dequantize, then multiply in fp16) */
    SIM_COMPUTE_FP32,
    SIM_COMPUTE_FP8, /* W8A8 fp8 where the GPU has an fp8 rate */
    SIM_COMPUTE_INT8 /* W8A8 int8 */
};

typedef struct sim_dtype {
    const char *name; /* canonical name, as reports print it */
    double bytes;     /* mean bytes per element, scales and block headers included */
    int kind;         /* enum sim_fmt_kind */
    uint32_t block;   /* elements per block or group (0: none) */
    uint32_t block_bytes;
    uint32_t residual; /* KIVI: recent tokens kept in fp16 per sequence */
    int compute;       /* enum sim_compute */
    int ggml;          /* SIM_FMT_GGML: the block type; SIM_FMT_GGUF_MIX: its file type */
    bool kv_ok;        /* usable as --kv-cache-dtype */
    bool weight_ok;    /* usable as --quantization / --dtype */
    const char *what;  /* one line: the layout and its source */
} sim_dtype;

/* Looks up a static format by name ("fp16", "q8_0", "Q4_K_M", "awq", ...;
 * GGUF names in any case); NULL when unknown. */
const sim_dtype *sim_dtype_find(const char *name);

/* Writes the names of the formats usable for weights (WEIGHTS true) or
 * for the KV cache, comma-separated, into BUF. */
void sim_dtype_list(char *buf, size_t len, bool weights);

/* The historic list of plain names (fp32, fp16, bf16, fp8). */
void sim_dtype_names(char *buf, size_t len);

/*
 * Parses a --kv-cache-dtype value: "auto" (AUTO, the model's dtype), a
 * float or fp8 name, "int8", "int4"/"int2" with optional ":group=G" and
 * ",residual=R" (defaults G 32, R 0), or a llama.cpp cache type (q8_0,
 * q4_0, q4_1, iq4_nl, q5_0, q5_1). Returns the format, or NULL with a
 * one-line ERR.
 */
const sim_dtype *sim_kv_format_parse(const char *spec, const sim_dtype *autofmt, char *err,
                                     size_t errlen);

/*
 * Parses a --quantization value: fp16, bf16, fp32, fp8, int8 (W8A8),
 * awq / gptq with optional ":group=G" (default 128), nvfp4, mxfp4, or a
 * llama.cpp file type (q8_0, q6_K, q5_K_M, q5_K_S, q5_0, q5_1, q4_K_M,
 * q4_K_S, q4_0, q4_1, q3_K_L, q3_K_M, q3_K_S, q2_K, iq4_nl, iq4_xs, f16,
 * bf16). Returns the format, or NULL with a one-line ERR.
 */
const sim_dtype *sim_weight_format_parse(const char *spec, char *err, size_t errlen);

/* Checks that KV format F fits MODEL's geometry (a block or group must
 * tile kv_heads x head_dim). Returns 0, or -1 with a one-line ERR. */
int sim_kv_format_check(const sim_dtype *f, const struct sim_model *m, char *err, size_t errlen);

/* Weight bytes of a model in a format. */
typedef struct sim_weight_bytes {
    double total;  /* all weights held on the GPU */
    double expert; /* MoE expert matrices (read as far as tokens touch them) */
    double embed;  /* the input embedding table when it is not also the LM head (0 when tied) */
    double quantized_params; /* parameters stored in the quantized type */
    double kept_params;      /* parameters kept at 16/32 bit (embeddings, norms, ...) */
    double bpw;              /* total x 8 / parameters */
} sim_weight_bytes;

/*
 * Weight bytes of MODEL in format W, tensor by tensor: the layer matrices
 * in W's type (a llama.cpp mix picks a type per tensor as
 * llama_tensor_get_type does), the rest (embeddings and lm_head for vLLM's
 * formats, norms and biases always) at 16 bits (GGUF: 1-D tensors in
 * f32). Returns 0, or -1 with a one-line ERR when a matrix cannot be
 * stored in W (a dimension not a multiple of the group size).
 */
int sim_weight_bytes_of(const struct sim_model *m, const sim_dtype *w, sim_weight_bytes *out,
                        char *err, size_t errlen);

/* Peak FLOP/s the layer matrices of W run at on GPU: the fp16 rate for
 * weight-only formats, the fp8 rate for fp8 where the GPU has one (else
 * fp16: vLLM's weight-only FP8 Marlin path), the int8 rate for int8 W8A8
 * (refused without one). INFINITY when the GPU has no figure at all (the
 * cost model then treats it as bandwidth-bound). Returns 0, or -1 with a
 * one-line ERR naming the catalog field. */
int sim_weight_peak_flops(const struct sim_gpu *g, const sim_dtype *w, double *flops, char *err,
                          size_t errlen);

/* KV bytes per token of MODEL in format F (2 x layers x kv_heads x
 * head_dim elements, scales included). */
uint64_t sim_kv_format_bytes_per_token(const struct sim_model *m, const sim_dtype *f);

/* KIVI's fp16 window: bytes one sequence holds beyond the quantized rate
 * (residual x (fp16 - F) bytes per token); 0 for other formats. */
uint64_t sim_kv_window_bytes_per_seq(const struct sim_model *m, const sim_dtype *f);

#endif
