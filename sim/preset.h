/*
 * preset.h: engine presets, the efficiency terms of the cost model per
 * serving engine and backend, as data.
 *
 * A preset is a small text file, catalog/presets/NAME.preset (embedded in
 * the binary), or any file a user names: one "key value" per line, '#'
 * starts a comment. Keys:
 *   name, backend, basis               text (basis: what the numbers come from)
 *   bw_eff, flops_eff                  shares of spec bandwidth and peak FLOPs, (0, 1]
 *   step_overhead_ms, layer_overhead_us   fixed times per step and per layer
 *   gemm_pj                            pJ per FLOP of multi-token GEMMs at the board's
 *                                      power limit (catalog/gpus.csv tdp_w); 0 no cap
 *   split_base_us, split_sync_us, split_link_share, split_stage_us   llama.cpp's
 *                                      row split: per layer, per layer and extra GPU,
 *                                      the copies' share of the host link, the fixed
 *                                      time of a copy staged through the host
 *   mv_sm_gbps                         GB/s of weights each SM's matrix-vector kernels
 *                                      pull in a one-token step (catalog/gpus.csv
 *                                      sm_count): caps its reads at sm_count x this; 0,
 *                                      a part without an sm_count or a bandwidth the
 *                                      user gave: no cap
 *   runtime_overhead_gib               memory outside weights, activations and KV
 *   flash_attn, fp16_accumulate, dequant_gemm, int8_mmq  0 or 1
 *   coopmat                            0 or 1: matrix products on the device's matrix
 *                                      units where it has them (llama.cpp Vulkan)
 *   cuda_graph_max_tokens              steps up to this many tokens replay a CUDA graph
 *   arch_flops ARCH M                  per device architecture (sim/catalog.h), a
 *                                      multiplier in (0, 2] on flops_eff for the matrix
 *                                      products of multi-token steps; one line per
 *                                      architecture, absent: 1
 *   arch_bw ARCH M                     the same on bw_eff, for every byte a step moves
 *   arch_bw_fit                        0 or 1: `kvsim calibrate` fits arch_bw terms
 *   matmul_measured                    0 or 1: the tensor rates are the device's measured
 *                                      achievable matmul rate (catalog/gpus.csv
 *                                      matmul_tflops), not its peak; flops_eff a share of it
 *   arch_flops_free                    0 or 1: flops_eff fitted to the devices of
 *                                      architectures without a term, the terms free
 *   gqa_kv_per_head                    0 or 1: decode attention reads each KV head once
 *                                      per query head sharing it (TensorRT-LLM's masked
 *                                      MHA before XQA, v0.8)
 *   ggml_graph_2023                    0 or 1: llama.cpp build 1691's graph: the LM head
 *                                      over every token, its logits copied to the host,
 *                                      prompt attention over the padded KV rectangle
 *   min_build_ym                       YYYYMM: `kvsim validate` refuses rows whose build
 *                                      states an earlier month (not this preset's kernels)
 *   fit_data, fit_rows, fit_median_err, fit_p90_err      what `kvsim calibrate` fitted it to
 *   row                                one fitted row per line: its source and row id
 * An unknown key, a missing value or a number out of range is an error
 * naming the file and line.
 */
#ifndef KVSIM_SIM_PRESET_H
#define KVSIM_SIM_PRESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most `row` lines a preset may list. */
#define SIM_PRESET_MAX_FIT 4096

#include "sim/cost.h"

typedef struct sim_engine_preset {
    char name[32];
    char backend[16]; /* "cuda", "metal", ... or "" */
    char basis[320];  /* where the numbers come from, one line */
    sim_cost_params params;
    char fit_data[128];                 /* the measurements file it was fitted to */
    uint32_t fit_rows;                  /* how many of its rows */
    double fit_median_err, fit_p90_err; /* in-sample absolute errors, fractions */
    /* The rows it was fitted to (its `row SOURCE:ID` lines), hashed, in
     * file order: kvsim validate tells a row it was fitted to (in sample)
     * from one it was not. */
    uint32_t nfit;
    uint64_t fit_keys[SIM_PRESET_MAX_FIT];
} sim_engine_preset;

/* Writes into BUF (CAP bytes) the key of the row SOURCE_ID:ROW_ID as a
 * preset's `row` line spells it: "SOURCE:ID", white space and '#' (which
 * would end the line's first word or start a comment) written as '_'.
 * Returns its length, or -1 when it does not fit. */
int sim_preset_row_key(char *buf, size_t cap, const char *source_id, const char *row_id);

/* Whether P was fitted to the row SOURCE_ID:ROW_ID (one of its `row`
 * lines). */
bool sim_preset_fitted(const sim_engine_preset *p, const char *source_id, const char *row_id);

/* Parses preset TEXT; ORIGIN names it in errors. Returns 0, or -1 with a
 * one-line ERR ("origin:line: reason"). */
int sim_preset_parse(const char *text, size_t len, const char *origin, sim_engine_preset *out,
                     char *err, size_t errlen);

/* Finds a catalog preset by name ("vllm", "trtllm", "llamacpp", ...), or
 * reads a preset file when NAME contains '/' or ends in ".preset".
 * Returns 0, or -1 with a one-line ERR listing the known names. */
int sim_preset_lookup(const char *name, sim_engine_preset *out, char *err, size_t errlen);

/* Writes the catalog presets' names, comma-separated, into BUF. */
void sim_engine_preset_names(char *buf, size_t len);

/* Number of catalog presets and the I-th, in name order. */
size_t sim_preset_count(void);
int sim_preset_at(size_t i, sim_engine_preset *out);

#endif
