/*
 * support.h: what each engine runs on, and with which formats.
 *
 * A configuration the real engine refuses, or one kvsim has no preset
 * for, is refused here with the engine's reason, never priced: vLLM on a
 * Pascal GPU or an Apple GPU, bf16 before Ampere, a quantization below
 * its kernels' minimum compute capability, llama.cpp's cache types under
 * vLLM, AWQ weights under llama.cpp, a preset of one GPU backend on
 * another vendor's device, multi-token prediction on a model without
 * MTP layers. The rules and their sources are in support.c.
 */
#ifndef KVSIM_SIM_SUPPORT_H
#define KVSIM_SIM_SUPPORT_H

#include <stddef.h>

#include "sim/config.h"

/* NVIDIA compute capability x 10 of GPU's architecture (75 for Turing,
 * 89 for Ada, ...), 0 for other vendors or an unknown architecture. */
int sim_gpu_compute_capability(const sim_gpu *gpu);

/* The engine preset `--engine auto` takes on GPU for weights W and KV KV:
 * vllm where vLLM runs the device (NVIDIA from compute capability 7.0,
 * AMD's CDNA and RDNA3, Intel) and the formats are not llama.cpp's own
 * (its cache types), else the llama.cpp preset of the device's backend
 * (llamacpp on NVIDIA, -metal on Apple, -rocm on AMD, -vulkan on Intel);
 * NULL for a CPU, which no preset describes. */
const char *sim_support_auto_engine(const sim_gpu *gpu, const sim_dtype *w, const sim_dtype *kv);

/* The device-free part of sim_support_check: CFG's weight and KV formats
 * against its engine (a format of another engine: llama.cpp's cache types
 * under vLLM, AWQ under llama.cpp, GGUF under TensorRT-LLM). */
int sim_support_formats(const sim_config *cfg, char *err, size_t errlen);

/* Checks CFG's engine (cfg->engine, cfg->backend) against its device,
 * weight and KV formats, speculation and max_model_len. Returns 0, or -1
 * with a one-line ERR saying why and what runs instead. */
int sim_support_check(const sim_config *cfg, char *err, size_t errlen);

#endif
