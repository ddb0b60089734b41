/*
 * fit.h: "what can I run?": the memory a model needs in given weight and
 * KV formats at a context and batch, and for each catalog device whether
 * it fits alone (through the same memory plan `kvsim run` uses), how many
 * GPUs it needs otherwise, the speeds the cost model predicts (decode: each
 * of the batch's sequences; prefill: one prompt) and
 * the most sequences of that context the KV pool holds.
 */
#ifndef KVSIM_SIM_FIT_H
#define KVSIM_SIM_FIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/config.h"
#include "sim/parallel.h"

/* Tensor-parallel sizes fit tries: within one node (sim/parallel.h:
 * past it the catalog's link figures do not hold and kvsim run refuses). */
enum { SIM_FIT_MAX_TP = SIM_NODE_GPUS };

typedef struct sim_fit_query {
    sim_model model;
    const sim_dtype *weights;
    const sim_dtype *kv;
    uint32_t context;        /* tokens per sequence (prompt and output) */
    uint32_t batch;          /* sequences held at once */
    uint32_t batched_tokens; /* the token budget of a step (vLLM profiles over it) */
    double mem_util;
    sim_cost_params cost; /* an engine preset */
    char engine[32];      /* its name and backend (sim_config's); "" the vllm defaults;
                             "auto" each device's own (sim_support_auto_engine) */
    char backend[16];
} sim_fit_query;

/* Memory terms (bytes), independent of the device. */
typedef struct sim_fit_memory {
    double weights;
    double bpw;          /* weights x 8 / parameters */
    double kv_per_token; /* scales included */
    double kv_per_seq;   /* context x kv_per_token, plus KIVI's fp16 window */
    double kv;           /* batch x kv_per_seq */
    double activations;  /* a forward pass over batched_tokens tokens and batch sequences */
    double runtime;      /* the preset's non-torch memory (overhead_bytes) */
    double total;
} sim_fit_memory;

/* One device's answer. */
typedef struct sim_fit_device {
    sim_gpu gpu;
    double usable;        /* CUDA total x mem_util */
    bool refused;         /* the configuration cannot run there (why says so) */
    bool fits;            /* alone, at the batch asked */
    uint32_t gpus;        /* GPUs needed by simple division when it does not fit alone; 0: never */
    uint32_t tp;          /* where it does not fit alone: the smallest tensor-parallel size
                           * (2 to SIM_FIT_MAX_TP; it can be below gpus) whose run resolves
                           * (the heads split) and holds the batch; the speeds and max_seqs
                           * are then at that size; 0: none (no speeds) */
    uint64_t max_seqs;    /* sequences of the context the pool holds (paged, blocks of 16) */
    double decode_tok_s;  /* each sequence's, the batch at the full context; 0 when not computed */
    double prefill_tok_s; /* a prompt of the context; 0 when not computed */
    char why[256];
    char engine[32]; /* under --engine auto, the device's engine preset; "" otherwise */
} sim_fit_device;

/* The memory terms of Q. Returns 0, or -1 with a one-line ERR. */
int sim_fit_memory_of(const sim_fit_query *q, sim_fit_memory *out, char *err, size_t errlen);

/*
 * The answer for GPU: the configuration `kvsim run` would use (V1
 * defaults, --max-model-len the context, --max-num-seqs the batch, the
 * budget Q gives), its memory plan, and the roofline. A device that does
 * not fit alone gets the GPUs it needs by simple division: the smallest n
 * with (weights + KV) / n + activations + non-torch <= usable (tensor
 * parallelism's split of weights and KV heads, without its communication
 * or per-GPU rounding); speeds are not predicted for it.
 */
void sim_fit_device_of(const sim_fit_query *q, const sim_fit_memory *mem, const sim_gpu *gpu,
                       sim_fit_device *out);

#endif
