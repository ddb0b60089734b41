/*
 * catalog.h: GPU and model specifications.
 *
 * GPUs come from catalog/gpus.csv and models from catalog/models/ *.json
 * (HuggingFace config.json files), both embedded in the binary at build
 * time; a model may also be any config.json on disk. Names are lowercase
 * with hyphens; an unknown name is an error that lists the closest names.
 */
#ifndef KVSIM_SIM_CATALOG_H
#define KVSIM_SIM_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest share of the nvidia-smi total that CUDA does not report
 * among the devices whose CUDA total is published (catalog/gpus.csv,
 * cuda_total_mib): the L4's 23034 - 22559 MiB = 2.06 %. A discrete device
 * without a figure gets memory x (1 - this), the conservative end of the
 * measured range (0.43 % on an H200 to 2.06 %), and is marked estimated. */
#define SIM_CUDA_HIDDEN_SHARE (475.0 / 23034.0)

/* The share of its peak 16-bit tensor rate a device's best matmul
 * reaches where the catalog has no measured figure (matmul_tflops): the
 * median of the NVIDIA parts measured in stas00/ml-engineering's Maximum
 * Achievable Matmul FLOPS table, its second version (mamf-finder v2, the
 * caches reset between shapes; compute/accelerator/README.md @744d01e1:
 * A100 SXM 271.2 of 312, 86.9 %; GH200 828.6 of 989, 83.8 %; A100 PCIe
 * 252.9 of 312, 81.1 %; H100 SXM 794.5 of 989, 80.3 %). Used by presets
 * with matmul_measured (sim/cost.c). */
#define SIM_MATMUL_DEFAULT_SHARE 0.824

/* Device architectures (catalog/gpus.csv, column arch): NVIDIA's by
 * compute capability generation (pascal 6.x, volta 7.0, turing 7.5,
 * ampere 8.0/8.6, ada 8.9, hopper 9.0, blackwell 10.x, blackwell-rtx
 * 12.x), AMD's by GPU generation (cdna2, cdna3, rdna2, rdna3, rdna3.5),
 * Apple's by chip generation, Intel's Xe generation and the CPUs' core
 * generation. The index of a name is its place in this list (engine
 * presets' per-architecture terms are indexed by it). */
enum { SIM_ARCH_MAX = 32 };
size_t sim_arch_count(void);
const char *sim_arch_name(size_t i);
/* The index of architecture NAME; -1 when unknown (or empty). */
int sim_arch_index(const char *name);

typedef struct sim_gpu {
    char name[32];
    char display[64];
    char vendor[16];
    char arch[16];         /* architecture (SIM_ARCH names); "" unknown */
    uint64_t memory_bytes; /* as the driver reports it */
    /* What CUDA (torch.cuda.mem_get_info) reports as the device's total,
     * the figure vLLM multiplies by --gpu-memory-utilization: the
     * nvidia-smi total less what the driver reserves. Unified-memory
     * devices: memory_bytes. cuda_total_estimated: the catalog has no
     * figure for the device and catalog.c derived one (SIM_CUDA_HIDDEN_SHARE). */
    uint64_t cuda_total_bytes;
    bool cuda_total_estimated;
    double mem_bw_Bps;       /* spec memory bandwidth, bytes/s */
    double fp16_flops;       /* dense FP16/BF16 tensor rate, FP32 accumulate, FLOP/s; 0 unknown */
    double fp8_flops;        /* 0 when unknown or unsupported */
    double int8_ops;         /* 0 when unknown */
    char interconnect[16];   /* nvlink4, pcie4, none, unified, ... */
    double interconnect_Bps; /* GPU to GPU, per direction; 0 none */
    double host_link_Bps;    /* host link, per direction; 0 unknown */
    double tdp_W;            /* board power limit (TDP/TGP), watts; 0 unknown */
    double matmul_flops;     /* measured maximum achievable dense 16-bit matmul rate (the
                              * MAMF of catalog/gpus.csv matmul_tflops), FLOP/s; 0 unknown */
    /* Streaming multiprocessors enabled on the SKU (catalog/gpus.csv
     * sm_count): NVIDIA's SMs, AMD's compute units, Intel's Xe cores; 0
     * unknown or not applicable (Apple, CPUs). */
    uint32_t sm_count;
    double boost_hz; /* the vendor's published boost clock (boost_mhz), Hz; 0 unknown */
    bool unified_memory;
    bool rate_given; /* fp16_flops is the user's --peak-tflops: every format runs at it */
    bool bw_given;   /* mem_bw_Bps is the user's --mem-bw-gbps: no architecture term */
    char verified[16];
    char source[1536];
    char notes[1024];
} sim_gpu;

typedef struct sim_model {
    char name[64]; /* catalog name, or the file name for a path */
    char display[64];
    char arch[32];    /* HF model_type: llama, mistral, mixtral, qwen2, opt, gemma2, ... */
    char origin[256]; /* "catalog" or the path it was read from */
    uint32_t hidden;
    uint32_t layers;
    uint32_t heads;
    uint32_t kv_heads;
    uint32_t head_dim;
    uint32_t intermediate; /* per expert for MoE; OPT's ffn_dim */
    uint32_t vocab;
    uint32_t max_len; /* max_position_embeddings */
    /* The longest --max-model-len vLLM takes: max_len, scaled by rope_scaling's
     * factor for types other than llama3/longrope (yarn: from its
     * original_max_position_embeddings), as vLLM derives it. */
    uint32_t derived_max_len;
    /* Multi-token-prediction layers (config.json num_nextn_predict_layers:
     * DeepSeek-V3, GLM-4.5, MiMo, Qwen3-Next); 0: none, so no "mtp". */
    uint32_t mtp_layers;
    uint32_t experts; /* routed experts per MoE layer; 0 for dense */
    uint32_t experts_per_tok;
    uint32_t moe_intermediate;    /* a routed expert's intermediate size */
    uint32_t shared_intermediate; /* shared experts every token uses, per MoE layer (total) */
    bool shared_expert_gate;      /* Qwen2-MoE: the shared expert's sigmoid gate (h weights) */
    uint32_t moe_layers;          /* layers with routed experts */
    uint64_t expert_params;       /* routed experts' weights, all layers */
    /* Multi-head latent attention (DeepSeek-V2/V3) when kv_lora_rank > 0;
     * head_dim is then qk_nope_dim + qk_rope_dim. */
    uint32_t kv_lora_rank;
    uint32_t q_lora_rank; /* 0: a plain q projection */
    uint32_t qk_nope_dim;
    uint32_t qk_rope_dim;
    uint32_t v_head_dim;     /* head_dim unless MLA */
    uint32_t sliding_window; /* tokens; 0 none */
    uint32_t sliding_layers; /* layers that use it */
    bool tie_embeddings;
    bool qkv_bias;
    bool qk_norm; /* Qwen3: RMSNorm over each q and k head */
    /* The checkpoint's weight format from its quantization_config, as a
     * --quantization value ("awq:group=128", "gptq:group=128", "fp8"),
     * or "?" and its quant_method when kvsim does not read it; empty for
     * an unquantized checkpoint. */
    char quantization[32];
    uint64_t params_total;     /* computed from the architecture */
    uint64_t params_active;    /* per token (MoE: routed experts only) */
    uint64_t params_reference; /* the catalog's reference count; 0 when absent */
} sim_model;

/* Parses TEXT, a catalog/gpus.csv (RFC 4180, header row first), into
 * TABLE[0..CAP); ORIGIN names it in errors. Returns 0 with *COUNT rows, or
 * -1 with a one-line ERR ("origin:line: column 'sm_count': 'x' is not a
 * whole number"); the built-in catalog is this applied to the embedded
 * file. */
int sim_gpu_catalog_parse(const char *text, const char *origin, sim_gpu *table, size_t cap,
                          size_t *count, char *err, size_t errlen);

/* Looks up a GPU by catalog name. Returns 0, or -1 with a one-line ERR
 * ("unknown GPU 'x'; closest: ...") of at most ERRLEN bytes. */
int sim_gpu_lookup(const char *name, sim_gpu *out, char *err, size_t errlen);

/* True for NVIDIA's consumer cards (the catalog's display name says
 * GeForce): FP32-accumulate tensor math at half the FP16-accumulate rate,
 * no peer access over PCIe. */
bool sim_gpu_geforce(const sim_gpu *g);

/* Number of catalog GPUs, and the I-th (0 <= I < count) in file order. */
size_t sim_gpu_count(void);
int sim_gpu_at(size_t i, sim_gpu *out);

/* Looks up a model by catalog name, or reads a config.json when NAME
 * contains '/' or ends in ".json". Returns 0, or -1 with a one-line ERR. */
int sim_model_lookup(const char *name, sim_model *out, char *err, size_t errlen);

/* Parses config.json text; ORIGIN names it in errors ("path:line: reason"). */
int sim_model_parse(const char *text, size_t len, const char *origin, sim_model *out, char *err,
                    size_t errlen);

/* Number of catalog models, and the I-th, sorted by name. */
size_t sim_model_count(void);
int sim_model_at(size_t i, sim_model *out);

/* Levenshtein distance between A and B (their first 255 characters),
 * ASCII case folded. */
size_t sim_edit_distance(const char *a, const char *b);

/* Compares a name as a user types it with a catalog NAME: ASCII case
 * folded, separators ('-', '_', ' ') dropped; 0 when equal, or with PREFIX
 * when WANT's letters begin NAME's. */
int sim_name_cmp(const char *want, const char *name, int prefix);

/* Finds WANT among NAMES[0..N) as sim_name_cmp compares: an exact match
 * wins; else the one name WANT begins (3 characters or more). Returns its
 * index; -1 when none matches; -2 when several begin with WANT, listed in
 * AMBIG (LEN bytes). */
long sim_match_name(const char *want, const char *const *names, size_t n, char *ambig, size_t len);

/* Writes into BUF the (at most three) NAMES closest to WANT: names that
 * start with or contain it first, then by edit distance. */
void sim_closest_names(const char *want, const char *const *names, size_t n, char *buf, size_t len);

/* KV bytes per token: 2 (K and V) x layers x kv_heads x head_dim x
 * BYTES_PER_ELEM; with multi-head latent attention layers x (kv_lora_rank
 * + qk_rope_dim) x BYTES_PER_ELEM. */
uint64_t sim_model_kv_bytes_per_token(const sim_model *m, double bytes_per_elem);

/* Splits one RFC 4180 CSV record at *P into FIELDS (at most MAXF,
 * NUL-terminated inside BUF, truncated to BUFLEN); returns the field count,
 * or -1 on an unterminated quote. Advances *P past the record's line end. */
int sim_csv_record(const char **p, char *buf, size_t buflen, char **fields, int maxf);

/* Element formats for weights and KV (sim_dtype, sim_dtype_find) live in
 * sim/formats.h. */
#include "sim/formats.h"

#endif
