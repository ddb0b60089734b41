/*
 * cost.c: the step-time model; see cost.h. The engine presets (the
 * efficiency terms) are data: catalog/presets/ *.preset, read by
 * sim/preset.c and fitted by `kvsim calibrate`.
 */
#include "sim/cost.h"

#include "sim/formats.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* The 16-bit tensor rate a GEMM reaches: GeForce cards run fp16 math with
 * fp32 accumulation (what cuBLAS and PyTorch use) at half their
 * fp16-accumulate rate (catalog/gpus.csv notes: RTX 3090 71 vs 142, RTX
 * 4090 165 vs 330 TFLOPS); an engine whose GEMMs accumulate in fp16
 * (llama.cpp's CUDA backend: cublasGemmEx with CUBLAS_COMPUTE_16F in
 * ggml_cuda_op_mul_mat_cublas) gets the full rate there. Other parts have
 * no such split. */
static double fp16_rate(const sim_gpu *g, bool fp16_accumulate)
{
    double r = g->fp16_flops;
    if (fp16_accumulate && sim_gpu_geforce(g))
        r *= 2.0;
    return r;
}

/* Whether llama.cpp's Vulkan backend multiplies on the device's matrix
 * units (ggml-vulkan.cpp, unchanged in this from build 7f76692, September
 * 2025, the build of the scoreboard's Arc B570/B580 and Ryzen AI Max+ 395
 * rows, to August 2026): through VK_NV_cooperative_matrix2 or
 * VK_KHR_cooperative_matrix, which NVIDIA's driver exposes from Turing on
 * (the backend calls a part without it NVIDIA_PRE_TURING), on AMD RDNA3
 * and later (ggml_vk_khr_cooperative_matrix_support: RDNA3 with AMD's
 * drivers; RADV exposes it from RDNA3 on) and on Intel Xe2 only (Arc
 * A-series "has performance regressions"). A device without them runs the
 * shader kernels: quantized weights against q8_1 activations on the integer
 * dot product (VK_KHR_shader_integer_dot_product: dp4a on Pascal,
 * v_dot4_i32_i8 on RDNA2) where it has one, the MMQ pipelines being created
 * only off the cooperative-matrix paths. The GTX 16 series (TU116/TU117) is
 * Turing without tensor cores. */
static bool vk_matrix_units(const sim_gpu *g)
{
    int a = sim_arch_index(g->arch);
    if (strcmp(g->vendor, "NVIDIA") == 0)
        return a >= sim_arch_index("turing") && a <= sim_arch_index("blackwell-rtx") &&
               strstr(g->display, "GTX 16") == NULL;
    if (strcmp(g->vendor, "AMD") == 0) /* RDNA3 and later (rdna3, rdna3.5, ...) */
        return strncmp(g->arch, "rdna", 4) == 0 && strcmp(g->arch, "rdna1") != 0 &&
               strcmp(g->arch, "rdna2") != 0;
    if (strcmp(g->vendor, "Intel") == 0)
        return strcmp(g->arch, "xe2") == 0;
    return false;
}

static void fa_graph_table(sim_cost *c);

void sim_cost_init(sim_cost *c, const sim_gpu *gpu, const sim_model *m, const sim_dtype *w,
                   const sim_dtype *kv, const sim_cost_params *p, uint32_t tp, const sim_link *link)
{
    sim_cost_init_wb(c, gpu, m, w, kv, p, tp, link, NULL);
}

void sim_cost_init_wb(sim_cost *c, const sim_gpu *gpu, const sim_model *m, const sim_dtype *w,
                      const sim_dtype *kv, const sim_cost_params *p, uint32_t tp,
                      const sim_link *link, const sim_weight_bytes *pre)
{
    memset(c, 0, sizeof(*c));
    if (tp < 1)
        tp = 1;
    c->mem_bw_Bps = gpu->mem_bw_Bps;
    /* The preset's share of spec bandwidth on this architecture (arch_bw,
     * a multiplier on bw_eff; none for a bandwidth the user measured). A
     * streaming kernel reaches nearly all of spec on any generation once
     * enough loads are in flight, but a one-token decode's matrix-vector
     * kernels run at far less parallelism, where generations differ:
     * te42kyfo/gpu-benches gpu-stream (a40.txt, l40.txt @0a45416b), two
     * GDDR6 boards, the A40 (Ampere) reads 304 of its 696 GB/s (44 %) at
     * 16.7 % occupancy and needs 46 % occupancy for 95 %; the L40 (Ada)
     * reads 615 of 864 (71 %) at 16.7 % and 95 % at 25 %. Fitted per
     * preset where it opts in (arch_bw_fit: llama.cpp's CUDA scoreboard,
     * where the older the generation, the smaller the term); the values
     * for generations without such a pair measured (Pascal, Turing,
     * Blackwell) are the fit's alone. */
    int arch_b = sim_arch_index(gpu->arch);
    if (arch_b >= 0 && p->arch_bw[arch_b] > 0 && !gpu->bw_given) {
        /* Never past the spec bandwidth: bw_eff x the term at most 1. */
        double share = p->arch_bw[arch_b];
        if (p->bw_eff > 0 && share * p->bw_eff > 1.0)
            share = 1.0 / p->bw_eff;
        c->mem_bw_Bps *= share;
    }
    /* Weight bytes tensor by tensor and the rate the format multiplies at
     * (sim/formats.c); the configuration's checks refused what cannot be
     * computed (a device without a FLOP rate among them), so these cannot
     * fail here. */
    char err[256];
    sim_weight_bytes wb;
    if (pre != NULL)
        wb = *pre;
    if ((pre == NULL && sim_weight_bytes_of(m, w, &wb, err, sizeof(err)) != 0) ||
        sim_weight_peak_flops(gpu, w, &c->peak_flops, err, sizeof(err)) != 0) {
        memset(&wb, 0, sizeof(wb));
        wb.total = (double)m->params_total * w->bytes;
        wb.expert = (double)m->expert_params * w->bytes;
        c->peak_flops = gpu->fp16_flops;
    }
    double f16 = fp16_rate(gpu, p->fp16_accumulate);
    /* Weight-only formats multiply in fp16, at the engine's fp16 rate;
     * llama.cpp's MMQ kernels multiply quantized blocks as int8 against
     * activations quantized to q8_1 (tensor cores' mma since Turing, dp4a
     * before: the catalog's int8 figure either way). */
    if (c->peak_flops == gpu->fp16_flops)
        c->peak_flops = f16;
    if (p->int8_mmq && w->kind != SIM_FMT_FLOAT && gpu->int8_ops > 0)
        c->peak_flops = gpu->int8_ops;
    /* llama.cpp's Vulkan backend on matrix units (vk_matrix_units): the
     * weights dequantized to fp16 in the GEMM's tiles, fp16 accumulators
     * at default precision where the device offers them (NVIDIA and AMD
     * do: ggml_vk_get_mul_mat_mat_pipeline's f16acc pipelines), so
     * GeForce parts at their fp16-accumulate rate. */
    if (p->coopmat && vk_matrix_units(gpu) && gpu->fp16_flops > 0 && !gpu->rate_given)
        c->peak_flops = fp16_rate(gpu, true);
    /* Attention runs in 16 bits whatever the weights (vLLM's attention
     * backends take bf16/fp16 queries; fp8 KV is dequantised in the
     * kernel). */
    c->attn_flops = f16 > 0 ? f16 : c->peak_flops;
    /* A preset with matmul_measured takes the device's measured
     * achievable matmul rate as its tensor rate, not the boost-clock peak
     * of the datasheet: a sustained GEMM on an H100 SXM reaches 80.1 % of
     * its 989 TFLOPS, on an A100 SXM 85.9 % of 312 (stas00/ml-engineering,
     * Maximum Achievable Matmul FLOPS table; catalog/gpus.csv
     * matmul_tflops), since its clock falls under the power limit and the
     * tiles do not fill every SM on every wave; the same share for the
     * FP8 and int8 rates (only the 16-bit one is measured) and for
     * attention. Where the catalog has no figure, SIM_MATMUL_DEFAULT_SHARE
     * (the median measured share). Not for a rate the user gave. */
    if (p->matmul_measured && !gpu->rate_given && gpu->fp16_flops > 0) {
        double share =
            gpu->matmul_flops > 0 ? gpu->matmul_flops / gpu->fp16_flops : SIM_MATMUL_DEFAULT_SHARE;
        c->peak_flops *= share;
        c->attn_flops *= share;
    }
    /* The preset's share of the GEMM rate on this architecture (prompt
     * GEMMs: llama.cpp's MMQ kernels, cuBLAS and CUTLASS are tuned per
     * architecture); none for a rate the user measured. */
    /* A tensor unit does not run at its boost-clock peak past the board's
     * power limit: a GEMM sustained long enough spends about the same
     * energy per FLOP on a generation's parts, so a part with little
     * power per peak FLOP (NVIDIA's spec TGP: RTX 6000 Ada 300 W for 364
     * fp16 TFLOPS, RTX 4090 450 W for 330; A30 165 W, T4 70 W) clocks
     * down under it. The preset's gemm_pJ (fitted) is that energy; none
     * for a rate the user measured. */
    if (p->gemm_pJ > 0 && gpu->tdp_W > 0 && !gpu->rate_given)
        c->power_flops = gpu->tdp_W / (p->gemm_pJ * 1e-12);
    /* A one-token step's matrix-vector kernels keep a bounded number of
     * loads in flight per SM (llama.cpp's dequantize_mul_mat_vec and
     * mul_mat_vec_q: a warp a row or two, a few loads each), so the
     * bytes they pull are about SMs x (bytes in flight / latency), not
     * the memory's figure, where the memory is fast for the SM count:
     * December 2023's F16 decode reached about 1.0 TB/s on an A100 PCIe
     * (108 SMs, 1.94 TB/s) and 1.1 on an H100 PCIe (114, 2.0), against
     * 85-90 % of the figure on GeForce and workstation boards. The
     * preset's mv_sm_Bps (fitted) is the bytes per SM. None for a
     * bandwidth the user gave (--mem-bw-gbps), as arch_bw: the figure
     * the user asked for is the one a one-token step reads at. */
    if (p->mv_sm_Bps > 0 && gpu->sm_count > 0 && !gpu->bw_given)
        c->mv_Bps = gpu->sm_count * p->mv_sm_Bps;
    int arch = sim_arch_index(gpu->arch);
    c->gemm_arch =
        arch >= 0 && p->arch_flops[arch] > 0 && !gpu->rate_given ? p->arch_flops[arch] : 1.0;
    if (m->experts) {
        c->experts = m->experts;
        c->experts_per_tok = m->experts_per_tok;
    }
    /* One GPU's share at TP: vLLM's FusedMoE splits every expert's
     * intermediate over the TP GPUs (no expert parallelism by default);
     * the rest as sim_tp_params_per_gpu splits the parameters, the format's
     * bytes per parameter kept. */
    double per_gpu = (double)sim_tp_params_per_gpu(m, tp);
    double dense_params = (double)m->params_total - (double)m->expert_params;
    double dense_gpu = per_gpu - (double)m->expert_params / tp;
    c->expert_weight_bytes = wb.expert / tp;
    double dense_bytes = dense_params > 0 ? (wb.total - wb.expert) * dense_gpu / dense_params : 0.0;
    /* The input embedding is a gather of one row per token, not a read of
     * the table (vLLM's VocabParallelEmbedding splits it over TP). A tied
     * table is the LM head too and is read every step. */
    c->dense_weight_bytes = dense_bytes - wb.embed / tp;
    /* FLOPs: 2 per multiply-add of the layers' matrices for every token,
     * and the LM head for each sequence's sampled position only (vLLM
     * computes logits at logits_indices, one per scheduled request). */
    double emb_gpu = (double)m->vocab * m->hidden / tp;
    double active = ((double)m->params_active - (double)m->params_total) / tp + per_gpu;
    double linear = active - emb_gpu * (m->tie_embeddings ? 1.0 : 2.0);
    c->linear_flops_per_token = 2.0 * (linear > 0 ? linear : 0.0);
    c->head_flops_per_seq = 2.0 * emb_gpu;
    /* llama.cpp expands quantized matrices to fp16 before a cuBLAS GEMM
     * over more than 32 tokens (ggml_cuda_op_mul_mat_cublas: to_fp16_cuda,
     * then cublasGemmEx; llama.cpp build 1691, 7082d24, Dec 2023): a
     * kernel of its own that reads the blocks and writes the fp16 copy,
     * before the GEMM, which then reads the copy instead of the blocks. */
    if (p->dequant_gemm && w->kind != SIM_FMT_FLOAT) {
        c->dequant_bytes = (w->bytes + 2.0) * wb.quantized_params / tp;
        c->dequant_read_bytes = (2.0 - w->bytes) * wb.quantized_params / tp;
    }
    /* The row split's prompt GEMMs (sim_cost_row_split): fp32 weights at
     * the TF32 rate. cuBLAS runs cublasSgemm on TF32 tensor cores when
     * the handle's math mode allows it (llama.cpp sets
     * CUBLAS_TF32_TENSOR_OP_MATH, ggml_init_cublas, build 1691); TF32
     * runs at half the fp16-with-fp32-accumulate rate on Ampere and later
     * (NVIDIA's Ampere GA102 whitepaper: RTX 3090 35.6 vs 71 TFLOPS, RTX
     * A6000 77.4 vs 154.8; Ada whitepaper: RTX 4090 82.6 vs 165.2; dense
     * figures as their tables give them, not re-read this session), the
     * catalog's fp16_tflops on every part (GeForce rows hold the
     * fp32-accumulate rate). Earlier parts have no TF32: their FP32 rate
     * is not in the catalog, so the split keeps the fp16 rate there. */
    c->weight_elem_bytes = w->bytes;
    int a = sim_arch_index(gpu->arch), ampere = sim_arch_index("ampere");
    bool tf32 = strcmp(gpu->vendor, "NVIDIA") == 0 && a >= ampere && ampere >= 0;
    c->split_flops = tf32 ? gpu->fp16_flops / 2.0 : c->peak_flops;
    sim_model shard = *m;
    shard.kv_heads = sim_tp_kv_heads(m, tp);
    c->kv_bytes_per_token = (double)sim_kv_format_bytes_per_token(&shard, kv);
    c->kv_window_bytes_per_seq = (double)sim_kv_window_bytes_per_seq(&shard, kv);
    /* 2 FLOPs per multiply-add for q.k (head_dim) and for p.v (v_head_dim). */
    c->attn_flops_per_pair =
        2.0 * m->layers * (double)m->heads / tp * ((double)m->head_dim + m->v_head_dim);
    /* vLLM's MLA decode absorbs the up-projections: each head attends over
     * the latent (kv_lora_rank + rope for q.k, kv_lora_rank for p.v);
     * prefill expands the keys and values (v0.11 attention/backends/mla). */
    c->attn_flops_per_decode_pair =
        m->kv_lora_rank > 0
            ? 2.0 * m->layers * (double)m->heads / tp * (2.0 * m->kv_lora_rank + m->qk_rope_dim)
            : c->attn_flops_per_pair;
    /* Without a fused kernel the scores of every (query, key) pair and
     * head go through memory in fp32: written by the q.k product, read
     * and written by the softmax, read by the product with v (llama.cpp's
     * graph without -fa: mul_mat, soft_max_ext, mul_mat): 16 bytes. */
    if (!p->flash_attn)
        c->score_bytes_per_pair = 16.0 * m->layers * (double)m->heads / tp;
    /* TensorRT-LLM v0.5-v0.7's masked multi-head attention ran a thread
     * block per query head, each reading its KV head's cache: with
     * grouped-query attention each KV byte is read once per query head
     * of its group. Its XQA kernel (v0.8: "reducing data loading",
     * docs/source/blogs/XQA-kernel.md) reads it once; Llama-2-70B
     * 128/2048 on one H200 went 1,227 to 2,941 output tokens/s/GPU.
     * Per GPU: its query heads over the KV heads it holds (one, replicated,
     * where TP exceeds the KV heads: Llama-2-70B at TP 16 reads its one
     * KV head four times, not eight). */
    c->decode_kv_reads =
        (p->gqa_kv_per_head || p->xqa_jit) && m->kv_heads > 0 && m->kv_lora_rank == 0
            ? (double)m->heads / tp / sim_tp_kv_heads(m, tp)
            : 1.0;
    /* TensorRT-LLM v0.11 (commit 05316d3): its attention plugin's default
     * JIT path takes XQA only where it expects a gain, 4 x the GPU's KV
     * heads x the batch at least the SM count
     * (DecoderXQAImplJIT::mayHavePerfGain, kEnableMinBlockFactor 4,
     * multi-block mode off by default), never for a model without
     * grouped heads; below it the masked multi-head kernel runs a thread
     * block per query head, each reading its KV head. Without an SM count
     * in the catalog, XQA at every batch. */
    c->xqa_min_seqs = 0;
    if (p->xqa_jit && c->decode_kv_reads > 1.0)
        c->xqa_min_seqs =
            gpu->sm_count > 0 ? ceil(gpu->sm_count / (4.0 * sim_tp_kv_heads(m, tp))) : 1.0;
    /* llama.cpp build 1691 (7082d24, December 2023): the graph's LM head
     * is ggml_mul_mat(model.output, cur) over the whole batch
     * (llm_build_llama), so every prompt token's logits are computed, and
     * llama_decode_internal places that result on the host
     * (res->backend = GGML_BACKEND_CPU), so ggml_cuda_op_mul_mat copies
     * all of them, n_vocab x n_tokens floats, to host memory
     * (cudaMemcpyAsync, cudaMemcpyDeviceToHost, into the pageable compute
     * buffer) before ./main keeps the last row; the KQ product covers
     * every token of the batch against all n_kv cells in use, padded to
     * 32 (attention_s). */
    if (p->ggml_graph_2023) {
        c->head_all_tokens = true;
        c->attn_rect = true;
        c->logits_bytes_per_token = 4.0 * m->vocab;
        c->logits_link_Bps = gpu->host_link_Bps;
    }
    c->layers = m->layers;
    c->tp = tp;
    /* vLLM V0 with tensor parallelism: each step the driver broadcasts
     * the step's metadata and tensors to its workers
     * (broadcast_tensor_dict, vllm/worker/worker_base.py of v0.5-v0.6;
     * vllm-project/vllm#4844 measured one such broadcast at 4-5 % of a
     * TP-2 7B step), and the layers' all-reduces then wait for the
     * slowest worker (#5792). LLM-Inference-Bench's batch-1 steps of
     * 7-8B models on H100 SXM (catalog/measurements.csv, ALCF-LIB) take
     * about 1.0 ms more at TP 2 and 2.0 ms more at TP 4 than the
     * weights, all-reduces and per-step time of TP 1 account for: a
     * term in log2(tp) (a broadcast tree's depth), fitted (tp_step_ms). */
    c->tp_host_s = tp > 1 ? p->tp_step_s * log2((double)tp) : 0.0;
    if (tp > 1 && link != NULL) {
        c->link = *link;
        c->allreduces = 2.0 * m->layers;
        c->allreduce_bytes_per_token = 2.0 * m->hidden;
    }
    /* TensorRT-LLM's decode attention (mmha_grid): the masked multi-head
     * kernel's grid is (num_heads, batch_size), a block of 256 threads per
     * sequence and query head over its whole context
     * (mmha_launch_kernel_ex, mmha_launch_kernel_dispatch: THDS_PER_BLOCK
     * 256; decoderMaskedMultiheadAttentionLaunch.h, NVIDIA/TensorRT-LLM
     * v0.11.0, 05316d3); its own count of what fills the GPU is 4 such
     * blocks an SM ("The max number of warps we can launch per SM is 32
     * limited by registers": batch x heads >= multi_processor_count x 4
     * launches them as they are). XQA's grid (DecoderXQAImplJIT::runImpl,
     * the same commit) is (multi_block, num_kv_heads, batch_size): a
     * block per sequence and KV head, multi_block 1 with multi_block_mode
     * off (v0.11's default). Neither splits a sequence's context. */
    /* Both kernels are CUDA's: on another vendor's GPU (an MI300X has an
     * SM count in the catalog, but vLLM's ROCm attention is its own) the
     * term is off. */
    bool cuda = strcmp(gpu->vendor, "NVIDIA") == 0;
    if (p->fa_wave_fill > 0 && p->mmha_grid && cuda && gpu->sm_count > 0 && m->kv_lora_rank == 0 &&
        m->kv_heads > 0) {
        c->fa_slots = 4.0 * gpu->sm_count;
        c->fa_units_per_seq = (double)m->heads / tp;
        c->fa_xqa_units_per_seq = sim_tp_kv_heads(m, tp);
        c->fa_block_n = 0;
        /* XQA runs for grouped heads where the KV is read once: from
         * xqa_min_seqs under xqa_jit (v0.11), at every batch without it
         * (v0.8-v0.10); never with gqa_kv_per_head (v0.5-v0.7) nor for a
         * model without grouped heads. */
        if (c->fa_units_per_seq > c->fa_xqa_units_per_seq && !p->gqa_kv_per_head)
            c->fa_xqa_seqs = p->xqa_jit ? c->xqa_min_seqs : 1.0;
    }
    /* vLLM 0.5-0.6 (V0, FLASH_ATTN backend) decodes with vllm-flash-attn's
     * flash_attn_with_kvcache (vllm/attention/backends/flash_attn.py),
     * FlashAttention-2's split-KV kernel; see sim_cost_decode_kv_scale. */
    else if (p->fa_wave_fill > 0 && p->flash_attn && cuda && gpu->sm_count > 0 &&
             m->kv_lora_rank == 0 && m->kv_heads > 0) {
        double kvh = sim_tp_kv_heads(m, tp), qh = (double)m->heads / tp;
        double groups = qh > kvh ? qh / kvh : 1.0;
        /* flash_api.cpp: num_splits_heuristic(batch x heads x m_blocks,
         * multiProcessorCount x 2, ...), 2 blocks an SM "to hard-code the
         * fact that we're using 128 threads per block"; a one-token query
         * of grouped heads is swapped to (batch, groups, KV heads), so the
         * heads are the KV heads and m_blocks ceil(groups / 64). */
        c->fa_slots = 2.0 * gpu->sm_count;
        c->fa_units_per_seq = kvh * ceil(groups / 64.0);
        /* set_params_splitkv: block_n 256 for head_dim <= 64, 128 to 128,
         * else 64. */
        c->fa_block_n = m->head_dim <= 64 ? 256 : m->head_dim <= 128 ? 128 : 64;
        /* Under CUDA graphs the block table is padded to
         * max_seq_len_to_capture (8192 by default, at most max_model_len):
         * the kernel's seqlen_k, so its n_blocks, is that width. */
        c->fa_graph_len = m->max_len > 0 && m->max_len < 8192 ? m->max_len : 8192;
    }
    /* vLLM V0's XFORMERS backend for a model whose every layer has a
     * sliding window (selector.py of vLLM 0.5-0.6: FlashAttention-2 is
     * refused "due to sliding window"; Mistral-7B v0.1): its decode is
     * vLLM's PagedAttention (csrc/attention/attention_kernels.cu), see
     * pa_kv_scale. Needs the captured width of the FlashAttention terms
     * above (the same graphs). */
    if (p->paged_v1_Bps > 0 && c->fa_block_n > 0 && m->sliding_window > 0 &&
        m->sliding_layers == m->layers) {
        c->pa_v1_Bps = p->paged_v1_Bps;
        c->pa_units = (double)m->heads / tp;
    }
    c->kv_scaled = c->fa_slots > 0 || c->pa_v1_Bps > 0;
    c->gpu_share = 1.0;
    c->split = 1;
    c->p = *p;
    if (c->fa_slots > 0 && c->fa_block_n > 0)
        fa_graph_table(c);
}

/* FlashAttention-2's num_splits_heuristic (csrc/flash_attn/flash_api.cpp of
 * vllm-project/flash-attention v2.5.9.post1 and v2.6.1, the same code): the
 * fewest splits of each unit's KV whose waves over SLOTS reach 85 % of the
 * best wave efficiency, a split eligible only where it changes the blocks
 * per split; 1 where the units fill 80 % of the slots. */
static bool fa_fills(double units, double slots)
{
    /* batch_nheads_mblocks >= 0.8f * num_SMs: an int against a float */
    return (float)units >= 0.8f * (float)slots;
}

static int fa_num_splits(double units, double slots, int n_blocks, int max_splits)
{
    if (fa_fills(units, slots))
        return 1;
    if (max_splits > (int)slots)
        max_splits = (int)slots;
    if (max_splits > n_blocks)
        max_splits = n_blocks;
    /* In float, as the source computes them (n_waves, eff and
     * max_efficiency are floats; 0.85 a double): in double a tie such as
     * 0.8125 against 0.85 x 16.25 / 17 falls the other way. */
    float eff[128], best = 0.f;
    for (int s = 1; s <= max_splits; s++) {
        bool eligible = s == 1 || (n_blocks + s - 1) / s != (n_blocks + s - 2) / (s - 1);
        float waves = (float)(units * s) / (float)slots;
        eff[s - 1] = eligible ? waves / ceilf(waves) : 0.f;
        if (eff[s - 1] > best)
            best = eff[s - 1];
    }
    for (int s = 1; s <= max_splits; s++)
        if (eff[s - 1] > 0.f && eff[s - 1] >= 0.85 * best)
            return s;
    return 1;
}

/* The tokens each split of a unit's KV covers in a step whose kernel
 * is sized for LEN tokens at SEQS decoding sequences: ceil(n_blocks /
 * splits) tiles of block_n. */
static int fa_tiles(const sim_cost *c, double len)
{
    int nb = (int)ceil(len / c->fa_block_n);
    return nb < 1 ? 1 : nb;
}

static double fa_split_tiles(const sim_cost *c, double seqs, int nb)
{
    int s = fa_num_splits(seqs * c->fa_units_per_seq, c->fa_slots, nb, 128);
    return ceil((double)nb / s) * c->fa_block_n;
}

static double fa_split_len(const sim_cost *c, double seqs, double len)
{
    return fa_split_tiles(c, seqs, fa_tiles(c, len));
}

/* The batch a captured decode of N sequences replays: vLLM pads it to the
 * next captured size, 1, 2, 4, then multiples of 8 (_get_graph_batch_size,
 * vllm/worker/model_runner.py 0.5-0.6; the padding rows have seq_len 1
 * and an empty block table). The split-KV kernel's num_splits was chosen
 * at capture for that batch (set_params_splitkv runs on the host when
 * the graph is captured; a replay launches the same grid). */
static double fa_graph_batch(double n)
{
    return n <= 2 ? n : n <= 4 ? 4 : ceil(n / 8) * 8;
}

/* fa_graph_split: fa_split_len at the captured width and the padded
 * batch for each batch whose units split (below 80 % of the slots); past
 * the table one split. */
static void fa_graph_table(sim_cost *c)
{
    c->fa_graph_seqs = 0;
    for (int n = 1; n < SIM_FA_TABLE; n++) {
        double padded = fa_graph_batch(n);
        if (fa_fills(padded * c->fa_units_per_seq, c->fa_slots))
            break;
        c->fa_graph_split[n] = fa_split_len(c, padded, c->fa_graph_len);
        c->fa_graph_seqs = (uint32_t)n;
    }
    c->fa_graph_whole = fa_split_len(c, 1e9, c->fa_graph_len);
}

/*
 * TensorRT-LLM's decode attention (mmha_grid): one block per unit (a
 * sequence's query head under MMHA, its KV head under XQA) over the
 * unit's whole context, so the longest block is a unit's context and the
 * factor is 1 + fa_wave_fill x slots / busy blocks, slots 4 blocks of 256
 * threads an SM. Where batch x heads falls short of the slots, MMHA
 * widens its blocks (mmha_launch_kernel_ex: block_size_factor =
 * min(ceil(SMs x blocks_per_sm / blocks), blocks_per_sm), 256 x it
 * threads, under 512 run as 256, under 1024 as 512, at most 1024): a
 * block of 512 or 1024 threads counts as 2 or 4 slots' worth, its unit's
 * context read that much faster (v0.5-v0.7 rows, MMHA at every batch,
 * take v0.11's launch). The factor depends on the batch only, so the time
 * grows with the context at every batch.
 */
static double mmha_kv_scale(const sim_cost *c, double seqs)
{
    bool xqa = c->fa_xqa_seqs > 0 && seqs >= c->fa_xqa_seqs;
    double units = seqs * (xqa ? c->fa_xqa_units_per_seq : c->fa_units_per_seq);
    double busy = units;
    if (!xqa && units < c->fa_slots) {
        double f = ceil(c->fa_slots / units);
        busy *= f >= 4 ? 4 : f >= 2 ? 2 : 1;
    }
    return 1.0 + c->p.fa_wave_fill * c->fa_slots / busy;
}

/*
 * FlashAttention-2's split-KV decode runs one thread block per unit (a
 * sequence's KV head) and split of its KV, 2 an SM at a time. Its reads
 * reach bw_eff once its blocks stream, plus a fill and drain of about
 * fa_wave_fill of a wave of blocks, each as long as the longest block at
 * its share of the bandwidth (bw / slots): time = bytes / (bw x bw_eff) +
 * fa_wave_fill x slots x the longest block's bytes / (bw x bw_eff), the
 * longest block a split's tokens or the context, whichever is shorter. As
 * a factor on the reads: 1 + fa_wave_fill x slots / units x min(1, split
 * tokens / context). Under CUDA graphs the splits cover the padded width
 * (fa_graph_len) and were chosen for the padded batch (fa_graph_batch;
 * its padding rows' blocks exit at once, so the busy units are the
 * step's own), so with contexts short of a split the blocks past the
 * context exit at once and each unit's one busy block reads it all: a low
 * achieved bandwidth; with more units than slots the fill and drain is a
 * smaller share of the waves. The time grows with the context at every
 * batch (a longer context never shortens the longest block). An eager
 * step's splits cover its own contexts (the mean stands for the batch's
 * longest).
 */
void sim_cost_set_max_model_len(sim_cost *c, uint32_t max_model_len)
{
    if (c->fa_slots > 0 && c->fa_block_n > 0 && max_model_len > 0) {
        c->fa_graph_len = max_model_len < 8192 ? max_model_len : 8192;
        fa_graph_table(c);
    }
}

void sim_cost_set_attention_eager(sim_cost *c)
{
    c->fa_attn_eager = true;
}

/*
 * vLLM's PagedAttention decode (vllm/attention/ops/paged_attn.py of vLLM
 * 0.5-0.6, forward_decode): V1 where max_seq_len <= 8192 and either one
 * 512-token partition covers it or num_seqs x num_heads > 512 ("enough
 * work to parallelize"), else V2. V1's grid is (num_heads, num_seqs): a
 * block of 128 threads per sequence and query head walks its whole
 * context; V2's adds a partition per 512 tokens. Under CUDA graphs the
 * choice was made at capture, for the padded batch and
 * max_seq_len_to_capture (fa_graph_len); an eager step's for its own.
 * V1's KV reads run at pa_v1_Bps (the factor that brings bytes / (bw x
 * bw_eff) to bytes / pa_v1_Bps where that is slower); V2's at bw_eff.
 */
static double pa_kv_scale(const sim_cost *c, double seqs, double ctx, bool graphed)
{
    double per_seq = ctx / seqs, n = seqs, len = per_seq;
    if (graphed && per_seq <= c->fa_graph_len) {
        n = fa_graph_batch(seqs);
        len = c->fa_graph_len;
    }
    bool v1 = len <= 8192 && (len <= 512 || n * c->pa_units > 512);
    if (!v1)
        return 1.0;
    double bw = c->mem_bw_Bps * c->p.bw_eff;
    return bw > c->pa_v1_Bps ? bw / c->pa_v1_Bps : 1.0;
}

static double decode_kv_scale(const sim_cost *c, sim_fa_memo *memo, double seqs, double ctx,
                              bool graphed)
{
    if (!(seqs > 0) || !(ctx > 0))
        return 1.0;
    if (c->pa_v1_Bps > 0 && !c->fa_attn_eager)
        return pa_kv_scale(c, seqs, ctx, graphed);
    if (!(c->fa_slots > 0))
        return 1.0;
    if (!(c->fa_block_n > 0))
        return mmha_kv_scale(c, seqs);
    double per_seq = ctx / seqs, split_len;
    /* V0 replays a graph only while the batch's longest sequence is
     * within max_seq_len_to_capture (model_runner: use_cuda_graph needs
     * max_decode_seq_len <= max_seq_len_to_capture; the mean stands for
     * the longest); V1 plans every step (sim_cost_set_attention_eager). */
    if (!graphed || c->fa_attn_eager || per_seq > c->fa_graph_len) {
        int nb = fa_tiles(c, per_seq);
        if (memo != NULL && memo->seqs == seqs && memo->n_blocks == nb) {
            split_len = memo->split_len;
        } else {
            split_len = fa_split_tiles(c, seqs, nb);
            if (memo != NULL)
                *memo = (sim_fa_memo){.seqs = seqs,
                                      .n_blocks = nb,
                                      .split_len = split_len,
                                      .wave = c->p.fa_wave_fill * c->fa_slots /
                                              (seqs * c->fa_units_per_seq)};
        }
    } else if (seqs <= c->fa_graph_seqs)
        split_len = c->fa_graph_split[(uint32_t)seqs];
    else if (fa_fills(fa_graph_batch(seqs) * c->fa_units_per_seq, c->fa_slots))
        split_len = c->fa_graph_whole;
    else /* a table too short for this GPU's slots */
        split_len = fa_split_len(c, fa_graph_batch(seqs), c->fa_graph_len);
    double share = split_len < per_seq ? split_len / per_seq : 1.0;
    return 1.0 + c->p.fa_wave_fill * c->fa_slots / (seqs * c->fa_units_per_seq) * share;
}

double sim_cost_decode_kv_scale(const sim_cost *c, double seqs, double ctx, bool graphed)
{
    return decode_kv_scale(c, NULL, seqs, ctx, graphed);
}

double sim_cost_decode_kv_scale_memo(const sim_cost *c, sim_fa_memo *memo, double seqs, double ctx,
                                     bool graphed)
{
    return decode_kv_scale(c, memo, seqs, ctx, graphed);
}

void sim_cost_offload(sim_cost *c, double gpu_share, const sim_gpu *host, double link_Bps,
                      uint32_t hidden)
{
    c->gpu_share = gpu_share;
    c->host_bw_Bps = host->mem_bw_Bps;
    c->host_flops = host->fp16_flops;
    c->host_link_Bps = link_Bps;
    c->crossing_bytes_per_token = 4.0 * hidden;
}

void sim_cost_row_split(sim_cost *c, uint32_t gpus, const sim_model *m, const sim_gpu *gpu,
                        double link_Bps)
{
    if (gpus < 2)
        return;
    c->split = gpus;
    c->split_link_Bps = link_Bps;
    /* Per layer and token, fp32: the inputs of q, k, v, o, gate, up, down
     * copied whole to each other GPU (cudaMemcpyAsync of src1_ncols x
     * ne10 floats in ggml_cuda_op_mul_mat), and each other GPU's share of
     * the outputs, its rows, gathered back (cudaMemcpy2DAsync of row_diff
     * x src1_ncols floats); llama.cpp build 1691, 7082d24. */
    double h = m->hidden, q = (double)m->heads * m->head_dim;
    double kv = (double)m->kv_heads * m->head_dim, I = m->intermediate;
    double in = 3 * h + q + 2 * h + I, out = q + 2 * kv + h + 2 * I + h;
    c->split_bytes_per_token = 4.0 * (in + out / gpus) * m->layers;
    c->split_mats = 7; /* q, k, v, o, gate, up, down */
    /* Peer access over PCIe: NVIDIA's workstation and datacenter boards
     * have it; GeForce boards do not (cudaDeviceCanAccessPeer is 0 for
     * them over PCIe), so their copies are staged through the host at
     * any batch size. */
    c->split_peer = strcmp(gpu->vendor, "NVIDIA") == 0 && !sim_gpu_geforce(gpu);
}

double sim_cost_allreduce_s(const sim_cost *c, double tokens)
{
    if (c->allreduces <= 0 || tokens <= 0)
        return 0.0;
    return c->allreduces * sim_allreduce_s(&c->link, c->tp, tokens * c->allreduce_bytes_per_token);
}

/* The larger of A and B: fmax for the numbers here (never NaN), inline
 * (fmax is a libm call: a tenth of a step's pricing). */
static inline double max2(double a, double b)
{
    return a >= b ? a : b;
}

/* The weight reads' time U and the FLOPs' V combined as the preset's
 * gemm_blend_k says: max(U, V), or (U^k + V^k)^(1/k) (sim_cost_params). */
double sim_cost_blend(double u, double v, double k)
{
    double m = u > v ? u : v;
    /* An infinite time stays infinite (the ratio below would be inf /
     * inf, NaN, where both are). */
    if (!(k > 0) || !(m > 0) || m == INFINITY)
        return m;
    /* m ((u/m)^k + (v/m)^k)^(1/k), whose larger term is 1^k = 1 exactly:
     * one pow fewer, the same bits. */
    double r = (u > v ? v : u) / m;
    if (k == 1.5) { /* the presets' k: r^1.5 and x^(2/3) without pow (half its time) */
        double x = 1.0 + r * sqrt(r);
        return m * cbrt(x * x);
    }
    return m * pow(1.0 + pow(r, k), 1.0 / k);
}

static double blend(const sim_cost *c, double u, double v)
{
    return sim_cost_blend(u, v, c->p.gemm_blend_k);
}

/* A roofline: the longer of moving BYTES and computing FLOPS (attention). */
static double roof(const sim_cost *c, double bytes, double flops, double rate)
{
    return max2(bytes / (c->mem_bw_Bps * c->p.bw_eff), flops / (rate * c->p.flops_eff));
}

/* roof for matrix products (blend). */
static double roof_lin(const sim_cost *c, double bytes, double flops, double rate)
{
    return blend(c, bytes / (c->mem_bw_Bps * c->p.bw_eff), flops / (rate * c->p.flops_eff));
}

/* The same for a multi-token GEMM: its rate also capped by the board's
 * power (sim_cost_init, power_flops). */
static double roof_gemm(const sim_cost *c, double bytes, double flops, double rate)
{
    double r = rate * c->p.flops_eff;
    if (c->power_flops > 0 && c->power_flops < r)
        r = c->power_flops;
    return blend(c, bytes / (c->mem_bw_Bps * c->p.bw_eff), flops / r);
}

/* The matrix products' time for a shape of TOKENS tokens over SEQS
 * sequences, and (through WEIGHTS_OUT, LIN_FLOPS_OUT) what the host's
 * layers need of them. */
static double linear_s(const sim_cost *c, double tokens, double seqs, double *weights_out,
                       double *lin_flops_out)
{
    double weights = c->dense_weight_bytes;
    if (c->experts > 0) {
        /* Expected share of experts touched when each token picks k of E:
         * 1 - (1 - k/E)^tokens, per layer. */
        double miss = pow(1.0 - c->experts_per_tok / c->experts, tokens);
        weights += c->expert_weight_bytes * (1.0 - miss);
    }
    /* The matrix products: weights (and their fp16 copies) against the
     * linear FLOPs at the weight format's rate. */
    double lin_bytes = weights + (tokens > 32 ? c->dequant_read_bytes : 0.0);
    double lin_flops = c->linear_flops_per_token * tokens +
                       c->head_flops_per_seq * (c->head_all_tokens ? tokens : seqs);
    *weights_out = weights;
    *lin_flops_out = lin_flops;
    /* One-token steps run matrix-vector kernels (memory-bound): the
     * architecture's GEMM term applies to steps of more than one token. */
    double t_lin = tokens > 1 ? roof_gemm(c, lin_bytes, lin_flops, c->peak_flops * c->gemm_arch)
                              : roof_lin(c, lin_bytes, lin_flops, c->peak_flops);
    if (tokens <= 1 && c->mv_Bps > 0) /* the matrix-vector kernels' loads in flight */
        t_lin = max2(t_lin, lin_bytes / c->mv_Bps);
    if (tokens > 32) /* the expansion runs before the GEMM, not beside it */
        t_lin += c->dequant_bytes / (c->mem_bw_Bps * c->p.bw_eff);
    if (c->split > 1) { /* row split: the matrices shared, attention on the main GPU */
        double extra = c->split - 1;
        if (c->p.dequant_gemm && tokens > 32) {
            /* A split matrix does not take the fp16 path of
             * ggml_cuda_op_mul_mat_cublas (it requires row_diff ==
             * src0->ne[1], all the rows on one GPU): each GPU expands its
             * rows to fp32 (to_fp32_cuda, fp16 weights too) and runs
             * cublasSgemm, once per 128-token slice of the batch
             * (MUL_MAT_SRC1_COL_STRIDE 128: the expansion repeats per
             * slice); llama.cpp build 1691, 7082d24, Dec 2023. */
            double params = c->linear_flops_per_token / 2.0 / c->split;
            double slices = ceil(tokens / 128.0);
            double expand = slices * params * (c->weight_elem_bytes + 4.0);
            t_lin = expand / (c->mem_bw_Bps * c->p.bw_eff) +
                    roof_gemm(c, 4.0 * params, lin_flops / c->split, c->split_flops * c->gemm_arch);
        } else {
            t_lin = t_lin / c->split;
        }
        /* The copies go between GPUs through the host where peer access
         * is off: GeForce cards have none over PCIe, and llama.cpp turns
         * it off for batches of more than 128 tokens anyway
         * (ggml_cuda_set_peer_access, GGML_CUDA_PEER_MAX_BATCH_SIZE 128,
         * build 1691), so the driver stages them in host memory. A staged
         * copy between devices does not return to the host thread until
         * the work queued before it on its stream and the copy itself are
         * done (NVIDIA developer forums, thread 295894 "Queueing
         * device-to-device/peer memcpy stalls concurrent copy operations":
         * 4x RTX 3090, CUDA 12.2, host-staged cudaMemcpyAsync calls seen
         * blocking in the host trace), and ggml_cuda_op_mul_mat issues, slice by slice and
         * GPU by GPU, the input's copy, the GPU's product and its rows'
         * copy back from one host thread: the other GPUs' products run
         * one after another, each between its copies (the main GPU's own
         * share, queued first, runs beside them). With peer access the
         * copies are asynchronous and the GPUs multiply at once. */
        bool staged = !c->split_peer || tokens > 128;
        if (staged)
            t_lin *= extra > 1 ? extra : 1;
        t_lin += c->layers * (c->p.split_base_s + extra * c->p.split_sync_s);
        /* Each staged copy's fixed time, waited out by the host thread:
         * per split matrix, slice and other GPU, its input out and its
         * rows back. */
        if (staged)
            t_lin +=
                c->layers * extra * 2.0 * c->split_mats * ceil(tokens / 128.0) * c->p.split_stage_s;
        double rate = c->p.split_link_share * c->split_link_Bps;
        if (rate > 0)
            t_lin += extra * tokens * c->split_bytes_per_token / rate;
    }
    /* ggml_graph_2023: the logits copied to pageable host memory, which
     * the driver stages through a pinned buffer of its own, as it does the
     * row split's copies between GPUs without peer access: at the same
     * share of the host link (split_link_share). */
    double link = c->split > 1 && c->split_link_Bps > 0 ? c->split_link_Bps : c->logits_link_Bps;
    if (c->logits_bytes_per_token > 0 && link > 0 && c->p.split_link_share > 0)
        t_lin += tokens * c->logits_bytes_per_token / (c->p.split_link_share * link);
    return t_lin;
}

/* Attention's time for shape B of TOKENS tokens, a kernel of its own:
 * the KV read (the context, new tokens' KV written), the scores when not
 * fused, at the 16-bit rate; *BYTES_OUT and *FLOPS_OUT its traffic and
 * work. */
/* The prompt tokens' (query, key) pairs attention computes. */
static double prompt_pairs_of(const sim_cost *c, const sim_batch_shape *b)
{
    double prompt_pairs = b->prefill_attn_pairs;
    if (c->attn_rect && b->prefill_tokens > 0) {
        /* ggml's KQ covers every token of the batch against the n_kv
         * cells in use, padded to 32 (llama_decode_internal:
         * kv_self.n = GGML_PAD(cell_max, 32)), the mask zeroing the
         * future: a rectangle, not the causal triangle. */
        double seqs = b->prefill_seqs > 0 ? b->prefill_seqs : 1;
        double n_kv =
            ceil(((double)b->prefill_ctx_tokens + (double)b->prefill_tokens) / seqs / 32.0) * 32.0;
        prompt_pairs = (double)b->prefill_tokens * n_kv;
    }
    return prompt_pairs;
}

/* A decode-only step the engine replays as a CUDA graph (vLLM V0 captures
 * decode batches; kvsim's rule: graph_max_tokens). */
static bool fa_graphed(const sim_cost *c, const sim_batch_shape *b, double tokens)
{
    return b->prefill_tokens == 0 && tokens <= c->p.graph_max_tokens;
}

static double attention_s(const sim_cost *c, const sim_batch_shape *b, double tokens,
                          double *bytes_out, double *flops_out)
{
    double reads =
        c->xqa_min_seqs > 0 && b->decode_seqs >= c->xqa_min_seqs ? 1.0 : c->decode_kv_reads;
    double kv_read = ((double)b->decode_ctx_tokens - b->decode_seqs) * reads;
    if (c->kv_scaled)
        kv_read *= sim_cost_decode_kv_scale(c, (double)b->decode_seqs, (double)b->decode_ctx_tokens,
                                            fa_graphed(c, b, tokens));
    kv_read += (double)b->prefill_ctx_tokens;
    double prompt_pairs = prompt_pairs_of(c, b);
    double pairs = (double)b->decode_ctx_tokens + prompt_pairs;
    double attn_bytes = c->kv_bytes_per_token * (kv_read + tokens) +
                        c->kv_window_bytes_per_seq * b->decode_seqs + /* KIVI's fp16 window */
                        c->score_bytes_per_pair * pairs;
    double attn_flops = c->attn_flops_per_decode_pair * (double)b->decode_ctx_tokens +
                        c->attn_flops_per_pair * prompt_pairs;
    *bytes_out = attn_bytes;
    *flops_out = attn_flops;
    return roof(c, attn_bytes, attn_flops, c->attn_flops);
}

/* The step's fixed parts after its forward pass: all-reduces, launches
 * (a step replayed as a CUDA graph launches once, not kernel by kernel:
 * vLLM V1 captures batches up to max_cudagraph_capture_size, 512 by
 * default, vllm/config/compilation.py; llama.cpp's CUDA backend graphs
 * one-token decodes, ggml-cuda since #6766) and the host's share, added
 * to T in that order. */
static double step_total_s(const sim_cost *c, const sim_batch_shape *b, double tokens, double t)
{
    double launches = tokens > c->p.graph_max_tokens ? c->layers * c->p.layer_overhead_s : 0.0;
    /* A step with prompt tokens runs its attention's context phase:
     * TensorRT-LLM's attention plugin (GPTAttentionPluginCommon::
     * enqueueContext, cpp/tensorrt_llm/plugins/gptAttentionCommon/
     * gptAttentionCommon.cpp) sets up cuBLAS, builds the batch's offsets
     * and mask (invokeBuildDecoderInfo), applies rotary and writes the KV
     * cache (invokeApplyBiasRopeUpdateKVCache) and sets up and runs the
     * fused attention kernel, layer by layer, where a generation step
     * runs one masked-attention kernel (enqueueGeneration). A preset's
     * prefill_layer_s (fitted) is that extra time per layer. Speculative
     * drafts verified in a step are generation-phase tokens (TensorRT-LLM
     * verifies them in its generation kernels), so only a step with
     * prompt chunks pays it. */
    if (b->prefill_seqs > 0) /* prompts, not a verify pass's drafts (sim_spec_step_s) */
        launches += c->layers * c->p.prefill_layer_s;
    return t + sim_cost_allreduce_s(c, tokens) + launches + sim_cost_host_s(c, b);
}

double sim_cost_step_s(const sim_cost *c, const sim_batch_shape *b)
{
    double tokens = (double)b->prefill_tokens + b->decode_seqs;
    if (tokens <= 0)
        return 0.0;
    double seqs = (double)b->prefill_seqs + b->decode_seqs;
    double weights, lin_flops, attn_bytes, attn_flops;
    double t_lin = linear_s(c, tokens, seqs, &weights, &lin_flops);
    double t_attn = attention_s(c, b, tokens, &attn_bytes, &attn_flops);
    double g = c->gpu_share;
    double t = g * (t_lin + t_attn);
    if (g < 1.0) {
        /* The host's layers run after (or before) the GPU's, not beside
         * them; with both parts present the hidden states cross the link
         * once each way (llama.cpp splits the layers into two contiguous
         * ranges). A batch of 32 tokens or more runs the host layers'
         * matrix products on the GPU instead, their weights copied over
         * the link (llama.cpp's CUDA backend, offload_op: min_batch_size
         * 32); their KV stays on the host. */
        double h = 1 - g, flops = lin_flops + attn_flops;
        double bytes = weights + attn_bytes, kv = attn_bytes;
        if (tokens >= 32)
            t +=
                h * weights / c->host_link_Bps + fmax(h * kv / (c->host_bw_Bps * c->p.bw_eff),
                                                      h * flops / (c->peak_flops * c->p.flops_eff));
        else
            t += fmax(h * bytes / (c->host_bw_Bps * c->p.bw_eff),
                      h * flops / (c->host_flops * c->p.flops_eff));
        if (g > 0)
            t += 2.0 * tokens * c->crossing_bytes_per_token / c->host_link_Bps;
    }
    return step_total_s(c, b, tokens, t);
}

bool sim_cost_run_init(const sim_cost *c, const sim_batch_shape *b, sim_cost_run *run)
{
    double tokens = (double)b->prefill_tokens + b->decode_seqs;
    run->ok = tokens > 0 && c->gpu_share == 1.0;
    if (!run->ok)
        return false;
    double seqs = (double)b->prefill_seqs + b->decode_seqs, weights, lin_flops;
    run->tokens = tokens;
    run->t_lin = linear_s(c, tokens, seqs, &weights, &lin_flops);
    /* step_total_s's terms, each as it computes them. */
    run->allreduce_s = sim_cost_allreduce_s(c, tokens);
    run->launches_s = tokens > c->p.graph_max_tokens ? c->layers * c->p.layer_overhead_s : 0.0;
    if (b->prefill_seqs > 0)
        run->launches_s += c->layers * c->p.prefill_layer_s;
    run->host_s = sim_cost_host_s(c, b);
    run->seqs = b->decode_seqs;
    run->kv_reads =
        c->xqa_min_seqs > 0 && b->decode_seqs >= c->xqa_min_seqs ? 1.0 : c->decode_kv_reads;
    run->prefill_ctx = (double)b->prefill_ctx_tokens;
    run->fa_graphed = fa_graphed(c, b, tokens);
    /* The factor where the context does not enter it: TensorRT-LLM's
     * grid (the batch alone), or units that fill 80 % of the slots (one
     * split, as long as the context: share 1). The same value
     * sim_cost_decode_kv_scale gives at every context of the run. */
    run->fa_scale = 0;
    /* (vLLM's PagedAttention, pa_kv_scale: per step, the context decides
     * whether a step replays its graph.) */
    if (!(c->pa_v1_Bps > 0 && !c->fa_attn_eager) && c->fa_slots > 0 && run->seqs > 0 &&
        (!(c->fa_block_n > 0) || fa_fills(run->seqs * c->fa_units_per_seq, c->fa_slots)))
        run->fa_scale = sim_cost_decode_kv_scale(c, run->seqs, 1.0, run->fa_graphed);
    /* Per step, decode_kv_scale's eager plan on every step of the run
     * (its branch for any context), which sim_cost_run_ctx_s takes from
     * the memo. */
    run->fa_block_n = 0;
    if (!(run->fa_scale > 0) && !(c->pa_v1_Bps > 0 && !c->fa_attn_eager) && c->fa_slots > 0 &&
        c->fa_block_n > 0 && run->seqs > 0 && (!run->fa_graphed || c->fa_attn_eager))
        run->fa_block_n = c->fa_block_n;
    run->window_bytes = c->kv_window_bytes_per_seq * b->decode_seqs;
    run->prompt_pairs = prompt_pairs_of(c, b);
    run->prompt_flops = c->attn_flops_per_pair * run->prompt_pairs;
    run->bw_den = c->mem_bw_Bps * c->p.bw_eff;
    run->flops_den = c->attn_flops * c->p.flops_eff;
#ifndef NDEBUG
    run->shape = *b;
#endif
    return true;
}

bool sim_cost_run_memo_init(const sim_cost *c, sim_cost_memo *memo, const sim_batch_shape *b,
                            sim_cost_run *run)
{
    sim_batch_shape key = *b;
    key.decode_ctx_tokens = 0;
    const unsigned slot = b->decode_seqs % SIM_COST_MEMO;
    if (memo->valid[slot] && memcmp(&memo->key[slot], &key, sizeof(key)) == 0) {
        *run = memo->run[slot];
#ifndef NDEBUG
        run->shape = *b;
        sim_cost_run fresh;
        bool ok = sim_cost_run_init(c, b, &fresh);
        /* Field by field (the struct has padding), the doubles' bits. */
        const double f[] = {fresh.tokens,       fresh.t_lin,        fresh.allreduce_s,
                            fresh.launches_s,   fresh.host_s,       fresh.seqs,
                            fresh.kv_reads,     fresh.prefill_ctx,  fresh.fa_scale,
                            fresh.window_bytes, fresh.prompt_pairs, fresh.prompt_flops,
                            fresh.bw_den,       fresh.flops_den,    fresh.fa_block_n};
        const double m[] = {run->tokens,   run->t_lin,        run->allreduce_s,  run->launches_s,
                            run->host_s,   run->seqs,         run->kv_reads,     run->prefill_ctx,
                            run->fa_scale, run->window_bytes, run->prompt_pairs, run->prompt_flops,
                            run->bw_den,   run->flops_den,    run->fa_block_n};
        assert(ok && run->ok && fresh.fa_graphed == run->fa_graphed &&
               memcmp(f, m, sizeof(f)) == 0);
#endif
        return true;
    }
    if (!sim_cost_run_init(c, b, run))
        return false;
    memo->valid[slot] = true;
    memo->key[slot] = key;
    memo->run[slot] = *run;
    return true;
}

double sim_cost_run_step_s(const sim_cost *c, const sim_cost_run *run, const sim_batch_shape *b)
{
    /* attention_s and roof with the run's terms: the same operations on
     * the same values, in the same order. */
    assert(b->decode_seqs == run->shape.decode_seqs && b->prefill_seqs == run->shape.prefill_seqs &&
           b->prefill_tokens == run->shape.prefill_tokens &&
           b->prefill_ctx_tokens == run->shape.prefill_ctx_tokens &&
           b->prefill_attn_pairs == run->shape.prefill_attn_pairs);
    double ctx = (double)b->decode_ctx_tokens;
    double kv_read = (ctx - run->seqs) * run->kv_reads;
    if (c->kv_scaled)
        kv_read *= run->fa_scale > 0 ? run->fa_scale
                                     : sim_cost_decode_kv_scale(c, run->seqs, ctx, run->fa_graphed);
    kv_read += run->prefill_ctx;
    double pairs = ctx + run->prompt_pairs;
    double attn_bytes = c->kv_bytes_per_token * (kv_read + run->tokens) + run->window_bytes +
                        c->score_bytes_per_pair * pairs;
    double attn_flops = c->attn_flops_per_decode_pair * ctx + run->prompt_flops;
    double t_attn = max2(attn_bytes / run->bw_den, attn_flops / run->flops_den);
#ifndef NDEBUG
    {
        double eb, ef, ta = attention_s(c, b, run->tokens, &eb, &ef);
        assert(memcmp(&ta, &t_attn, sizeof(ta)) == 0);
    }
#endif
    double t = c->gpu_share * (run->t_lin + t_attn);
    /* step_total_s's sum, in its order. */
    double s = t + run->allreduce_s + run->launches_s + run->host_s;
#ifndef NDEBUG
    {
        double inl = sim_cost_run_ctx_s(c, run, NULL, b->decode_ctx_tokens);
        assert(memcmp(&inl, &s, sizeof(s)) == 0);
        double whole = sim_cost_step_s(c, b); /* the step's price, every term */
        assert(memcmp(&whole, &s, sizeof(s)) == 0);
    }
#endif
    return s;
}

double sim_cost_host_s(const sim_cost *c, const sim_batch_shape *b)
{
    /* The host's share: per step, and per sequence scheduled (vLLM's V0
     * engine prepared inputs, sampled and detokenised each sequence on
     * the CPU between forward passes; its v0.6.0 release notes measured
     * the GPU idle for much of a step on Llama-3-8B/H100 because of it). */
    return c->p.step_overhead_s + c->tp_host_s +
           ((double)b->prefill_seqs + b->decode_seqs) * c->p.seq_overhead_s;
}

double sim_activation_bytes(const sim_model *m, uint64_t tokens, uint64_t seqs, uint32_t tp)
{
    /* Per token, in 16-bit: residual and normed hidden states (2h), q/k/v
     * (h + 2 x kv_heads x head_dim), the MLP's gate/up output and its
     * activation (3I; OPT's 2-matrix MLP has no gate, counted the same
     * way); with TP the q heads and the MLP split, the KV heads as the
     * weights do.
     * The sampler: one row of logits per sequence, min(seqs, tokens) of
     * them (V1's dummy sampler run takes min(max_num_seqs,
     * max_num_batched_tokens) requests; V0 profiles max_num_seqs sequences
     * sharing the budget), held as three fp32 tensors: the logits cast to
     * fp32, the probabilities and the log-probabilities (vLLM's Sampler).
     * 12 bytes per logit is what the two logs of tests/test_memplan.c
     * show: 87 MB over 256 x 32,000 logits (10.6 bytes; Llama-2-7B, vLLM
     * PR #2031, A100-80GB) and 413 MB over 256 x 128,256 (12.6 bytes;
     * Llama-3-8B, PR #10511, H100) above the per-token part. */
    double n = tp > 1 ? tp : 1;
    double h = m->hidden, I = m->intermediate;
    double kv = m->kv_lora_rank > 0 ? ((double)m->kv_lora_rank + m->qk_rope_dim) / 2.0
                                    : (double)sim_tp_kv_heads(m, tp > 1 ? tp : 1) * m->head_dim;
    double per_token = 2.0 * (2.0 * h + h / n + 2.0 * kv + 3.0 * I / n);
    double rows = (double)(seqs < tokens ? seqs : tokens);
    double logits = 3.0 * 4.0 * (double)m->vocab * rows;
    return per_token * (double)tokens + logits;
}
