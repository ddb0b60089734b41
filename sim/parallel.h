/*
 * parallel.h: tensor parallelism: how a model is split over N GPUs, and
 * what the all-reduces between them cost.
 *
 * Megatron-style tensor parallelism, as vLLM implements it (v0.11,
 * model_executor/layers/linear.py): the QKV and MLP up/gate projections
 * are split by columns (heads, intermediate), the attention output and MLP
 * down projections by rows, the embedding and LM head by vocabulary; the
 * norms are replicated. Each GPU holds num_attention_heads / N query heads
 * and num_key_value_heads / N KV heads, or one KV head replicated N /
 * num_key_value_heads times when N exceeds them. Two all-reduces per layer
 * per step (after the attention output and the MLP down projection), each
 * of tokens x hidden activations in 16 bits, timed as
 *     t = floor + 2 (N - 1) / N x bytes / busbw
 * (nccl-tests doc/PERFORMANCE.md: busbw = algbw x 2 (N - 1) / N), with the
 * floor and the bus bandwidth measured on the interconnect (parallel.c).
 */
#ifndef KVSIM_SIM_PARALLEL_H
#define KVSIM_SIM_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

#include "sim/catalog.h"

/* Most GPUs one tensor-parallel group may have. */
#define SIM_MAX_TP 64

/* Most GPUs the catalog's all-reduce figures describe: they were measured
 * within one node (nccl-tests on 8 H100 or A100 SXM of an HGX board, 4-8
 * PCIe cards), and a tensor-parallel group past a node's 8 GPUs crosses
 * nodes over InfiniBand or RoCE (a 400 Gb/s NIC a GPU: about 50 GB/s a
 * direction, against 450 over NVLink 4), which no catalog figure
 * describes. vLLM's docs keep tensor parallelism within a node and use
 * pipeline parallelism across nodes. */
#define SIM_NODE_GPUS 8

/* An interconnect's measured all-reduce figures. */
typedef struct sim_link {
    const char *interconnect; /* as the GPU catalog names it: nvlink3, pcie4, ... */
    double busbw_Bps;         /* achieved all-reduce bus bandwidth */
    double floor_s;           /* per all-reduce latency of a small message */
    const char *source;
} sim_link;

/* The all-reduce figures of GPU's interconnect into OUT, with BUSBW_GBPS
 * and FLOOR_US (> 0) replacing the catalog's. Returns 0, or -1 with a
 * one-line ERR when the GPU has no GPU-to-GPU link or kvsim has no
 * measured figure for it (the message names the options that supply one). */
int sim_link_for(const sim_gpu *gpu, double busbw_gbps, double floor_us, sim_link *out, char *err,
                 size_t errlen);

/* The largest tensor-parallel group the link figures describe: SIM_NODE_GPUS
 * with the catalog's, SIM_MAX_TP where the user gave both figures
 * (BUSBW_GBPS and FLOOR_US > 0: their fabric, measured). */
uint32_t sim_tp_max_for_link(double busbw_gbps, double floor_us);

/* Seconds of one all-reduce of BYTES over N GPUs on L (0 when N is 1). */
double sim_allreduce_s(const sim_link *l, uint32_t n, double bytes);

/* Checks that M splits over TP GPUs as vLLM allows (attention heads a
 * multiple of TP; KV heads a multiple of TP, or TP a multiple of them).
 * Returns 0, or -1 with a one-line ERR naming the sizes that work. */
int sim_tp_check(const sim_model *m, uint32_t tp, char *err, size_t errlen);

/* KV heads each GPU holds at TP (at least one: replicated past the count). */
uint32_t sim_tp_kv_heads(const sim_model *m, uint32_t tp);

/* Parameters each GPU holds at TP: the split matrices' share, the KV
 * projections of its KV heads, the replicated norms. */
uint64_t sim_tp_params_per_gpu(const sim_model *m, uint32_t tp);

/* Parameters of M replicated on every GPU (norms, MoE routers, MLA's
 * latent projection), and in the K and V projections (weights and
 * biases), for the split above. */
uint64_t sim_model_norm_params(const sim_model *m);

/* llama.cpp's layer split (llm_load_tensors, 4426e298, May 2024): with P
 * GPUs of equal free memory the N layers and the output layer are split
 * as N + 1 units, layer i to GPU floor(i P / (N + 1)), so the first GPUs
 * carry the extra layers (32 layers over 4 GPUs: 9, 8, 8, 7 and the
 * output). Returns GPU K's layers. */
uint32_t sim_llamacpp_layers(uint32_t k, uint32_t p, uint32_t n);

/* llama.cpp's pipeline of a prompt's ubatches over a layer split (#6017,
 * 4426e298): n_ubatch tokens each (512 by default), and at most
 * SIM_LLAMACPP_INFLIGHT of them in flight. The scheduler keeps a ring of
 * GGML_SCHED_MAX_COPIES (4) copies of each split's inputs, and before it
 * queues a split that takes a user input (the positions and the KQ mask,
 * which every GPU's layers read) the host waits on the event recorded
 * after the split of the ubatch that used the same copy, four ubatches
 * before (ggml_backend_sched_compute_splits: ggml_backend_event_synchronize).
 * The splits are queued in order, so ubatch j's first is queued only after
 * ubatch j - 1's last, which waited for ubatch j - 5 to leave the last
 * GPU: ubatch j enters the first GPU when ubatch j - 5 has left the last. */
enum { SIM_LLAMACPP_UBATCH = 512, SIM_LLAMACPP_INFLIGHT = 5 };

/* That pipeline's span for M equal ubatches of W seconds of work each
 * (the whole model's), starting empty, over P GPUs whose fullest holds
 * SHARE of the layers (the first), a hop of XFER between two GPUs: from
 * the first ubatch entering the first GPU to the last leaving the last.
 * A hop is queued on the sending GPU's stream (cudaMemcpyPeerAsync on
 * the source's stream, ggml_backend_cuda_cpy_tensor_async at 4426e298),
 * so a GPU that sends is busy for its part and the hop: the first GPU's
 * pace is C = W SHARE + XFER. A passage is T = W + (P - 1) XFER. Ubatch
 * j enters the first GPU at S(j) = max(S(j - 1) + C, S(j - 5) + T),
 * S(0) = 0, so S(j) = (j mod 5) C + floor(j / 5) T where T > 5 C (the
 * ring binds, and only from the sixth ubatch on), else j C; the span is
 * S(M - 1) + T. validate's recurrence (prefill) is this with each
 * ubatch's own work and each GPU's own share. */
double sim_llamacpp_ubatch_span(double w, double share, uint32_t p, uint32_t m, double xfer);

/* The fullest GPU's layers in that split (GPU 0's). */
uint32_t sim_llamacpp_max_layers(uint32_t p, uint32_t n);
uint64_t sim_model_kv_proj_params(const sim_model *m);

#endif
