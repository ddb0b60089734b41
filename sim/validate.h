/*
 * validate.h: published measurements replayed through the cost model
 * (kvsim validate) and the engine presets fitted to them (kvsim
 * calibrate).
 *
 * Each row is replayed as its benchmark ran it (sim/measure.h maps the
 * row to a device, a model, formats, a preset and a parallel layout):
 *   prefill_tok_s   input_tokens / the prompt's steps (llama.cpp computes a
 *                   prompt in micro-batches of 512 tokens, each reading the
 *                   KV of the ones before);
 *   decode_tok_s    one sequence decoding: llama-bench tgN from an empty
 *                   cache over N tokens; llama.cpp main (prompt P, -n N)
 *                   over N - 1 tokens from context P + 1;
 *   ttft_ms         one prefill step of input_tokens at batch 1;
 *   output_tok_s(_per_gpu)  TensorRT-LLM's static batch: one prefill of
 *                   batch x input tokens, then output - 1 decode steps of
 *                   the whole batch; batch x output / the total (per GPU:
 *                   divided by the GPUs).
 *   latency_s       vLLM's benchmark_latency: the same static batch, its
 *                   total time in seconds; a batch whose KV does not fit
 *                   the pool vLLM sizes (sim/config.h's memory plan) ran
 *                   in waves and is refused.
 * The first three are one sequence's: a row of them stating a batch above
 * 1 is refused, not replayed at batch 1.
 * Decode sums sample the step time at 33 contexts (the step time is
 * piecewise linear in the context, so the trapezoid sum is within 0.01 %
 * of the step-by-step sum; test_validate checks it).
 */
#ifndef KVSIM_SIM_VALIDATE_H
#define KVSIM_SIM_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/cost.h"
#include "sim/measure.h"
#include "sim/preset.h"

/* The preset a row's engine and backend take ("llamacpp", "llamacpp-metal",
 * "llamacpp-rocm", "llamacpp-vulkan", "llamacpp-cpu", "trtllm", ...). */
void sim_validate_preset_name(const sim_measurement *r, char *buf, size_t len);

/* The device class a row is reported under: "datacenter", "workstation",
 * "geforce", "apple", "amd", "intel", "cpu". */
const char *sim_validate_device_class(const sim_measurement *r);

/* Predicts row R's metric (in its unit) with cost terms P. Returns 0, or
 * -1 with a one-line WHY when the row cannot be replayed. */
int sim_validate_predict(const sim_measurement *r, const sim_cost_params *p, double *pred,
                         char *why, size_t whylen);

/* The terms calibrate fits: the SIM_FIT_NBASE of sim_fit_param_names,
 * then one arch_flops term per architecture (SIM_FIT_NBASE + its
 * sim_arch_index), then one arch_bw term per architecture (SIM_FIT_BW +
 * its sim_arch_index). */
enum {
    SIM_FIT_NBASE = 15,
    SIM_FIT_BW = SIM_FIT_NBASE + SIM_ARCH_MAX,
    SIM_FIT_NPARAMS = SIM_FIT_BW + SIM_ARCH_MAX
};
extern const char *const sim_fit_param_names[SIM_FIT_NBASE];

/* Counts into DEVICES, per architecture, the devices among ROWS[IDX[0..N))
 * with rows of multi-token steps (every metric but one sequence's decode;
 * not a rate the user gave), the rows an arch_flops term is fitted to.
 * Returns the architecture with the most (-1 when none has 2). */
int sim_fit_arch_devices(const sim_measurement *rows, const size_t *idx, size_t n,
                         size_t devices[SIM_ARCH_MAX]);

/* The same for arch_bw terms: devices with rows of any metric (one
 * sequence's decode is the bandwidth-bound one), not a bandwidth the user
 * gave. */
int sim_fit_arch_bw_devices(const sim_measurement *rows, const size_t *idx, size_t n,
                            size_t devices[SIM_ARCH_MAX]);

/* Fits P's terms (those FREE marks) to the N rows ROWS[IDX[0..N)]
 * (least squares on log(predicted / measured), Nelder-Mead over bounded
 * transforms from fixed starting points: deterministic). P's other fields
 * (flags, runtime overhead) are kept. The free arch_flops terms are kept
 * at a geometric mean of 1 weighted by their devices (sim_fit_arch_devices):
 * flops_eff is then the efficiency of the typical device, the one an
 * architecture without a term gets (free terms and flops_eff would
 * otherwise trade off freely); the free arch_bw terms likewise (devices
 * of sim_fit_arch_bw_devices), bw_eff the typical device's. Returns the sum of squared log errors.
 */
double sim_fit_preset(const sim_measurement *rows, const size_t *idx, size_t n, sim_cost_params *p,
                      const bool free[SIM_FIT_NPARAMS]);

#endif
