/*
 * test_parallel.c: tensor parallelism. The memory plan and the step time
 * of Llama-3.1-70B fp16 on h100-sxm at TP 1, 2, 4, 8 against a hand
 * computation from the model's config.json (written out below), an
 * NVLink-versus-PCIe comparison at equal per-GPU bandwidth, the split
 * rules vLLM enforces, and the weights check an explicit pool cannot
 * bypass.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/test_util.h"

#include "sim/config.h"
#include "sim/engine.h"
#include "sim/parallel.h"
#include "sim/pipeline.h"

static sim_config config(const char *gpu_name, const char *model_name)
{
    return test_config(gpu_name, model_name);
}

static void near(double got, double want, double rel, const char *what)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("%s: got %.9g, want %.9g (within %.2g)", what, got, want, rel);
}

/*
 * Llama-3.1-70B (config.json: hidden h 8192, 80 layers, 64 heads, 8 KV
 * heads, head_dim 128, intermediate 28672, vocab 128256, untied):
 *   embeddings + LM head 2 x 128256 x 8192 = 2,101,346,304
 *   per layer: q, o 2 x 8192 x 8192 + k, v 2 x 8192 x 1024 = 150,994,944;
 *   MLP 3 x 8192 x 28672 = 704,643,072; norms 2 x 8192
 *   total 2,101,346,304 + 80 x 855,654,400 + 8192 = 70,553,706,496.
 * At TP t each GPU holds (total - norms - kv proj) / t, its KV heads'
 * projections (8 / t of 1,342,177,280) and the norms (1,318,912):
 *   TP 2: 34,605,105,152 + 671,088,640 + 1,318,912 = 35,277,512,704
 *         x 2 bytes = 70,555,025,408 bytes (65.71 GiB)
 *   TP 4: 35,278,831,616 bytes (32.86 GiB); TP 8: 17,640,734,720 (16.43 GiB);
 *   TP 1: 141,107,412,992 bytes (131.42 GiB): does not fit in 81,559 MiB.
 * Activations of the profiling pass (V1 on an H100: 8,192 tokens, 1,024
 * sequences): 8192 x 2 x (2h + h/t + 2 x 128 x 8/t + 3 x 28672/t) +
 * 1024 x 12 x 128256 (three fp32 copies of the logits): TP 2
 * 2,632,974,336, TP 4 2,238,709,760, TP 8 2,041,577,472. Non-torch 0.8
 * GiB (tests/test_util.h). Usable: the CUDA total, 81,121 MiB, x 0.9.
 *   KV left per GPU: TP 2 2.3361 GiB, TP 4 35.5568 GiB, TP 8 52.1672 GiB;
 *   KV per token per GPU 327,680 / t: 163,840, 81,920, 40,960.
 * A decode step of 64 sequences at 1,024 tokens of context each
 * (h100-sxm 3,350 GB/s x 0.8, 989.4 TFLOPS x 0.5, 5 ms overhead), the
 * matrix products and attention each a roofline (sim/cost.h):
 *   matrix bytes = weights but the input embedding (128,256 x 8,192 x 2 / t:
 *   a gather), memory-bound (FLOPs 2 x 64 x per-GPU parameters are 9 ms
 *   at TP 2); attention bytes = KV per token x 65,536 (64 x 1,023 read,
 *   64 written), memory-bound;
 *   all-reduces 2 x 80 x (10 us + 2 (t-1)/t x 64 x 8192 x 2 / 370 GB/s):
 *   TP 2: weights 25.934 ms, KV 4.0065 ms, all-reduce 2.0534 ms, step 36.994 ms (5.6 %)
 *   TP 4: weights 12.968 ms, KV 2.0032 ms, all-reduce 2.2802 ms, step 22.251 ms (10.2 %)
 *   TP 8: weights  6.484 ms, KV 1.0016 ms, all-reduce 2.3935 ms, step 14.879 ms (16.1 %)
 */
static void test_llama70b_h100_by_hand(void **state)
{
    (void)state;
    const uint32_t tps[] = {2, 4, 8};
    const double weights[] = {70555025408.0, 35278831616.0, 17640734720.0};
    const double kv_gib[] = {2.3361175535, 35.5568206785, 52.1671722410};
    const double comm_ms[] = {2.05343827, 2.28015741, 2.39351697};
    const double step_ms[] = {36.99439741, 22.25112911, 14.87949495};
    char err[512];
    sim_config c = config("h100-sxm", "llama-3.1-70b");
    sim_memory_plan p;
    assert_int_equal(sim_memory_plan_compute(&c, &p, err, sizeof(err)), -1);
    /* TP 2 leaves KV for 15,309 tokens, not one sequence of the model's
     * 131,072: the suggestion is the size that does. */
    assert_non_null(strstr(err, "--tensor-parallel-size 4 fits"));
    for (int k = 0; k < 3; k++) {
        c.tensor_parallel = tps[k];
        sim_config r;
        if (sim_config_resolve(&c, &r, err, sizeof(err)) != 0 ||
            sim_memory_plan_compute(&r, &p, err, sizeof(err)) != 0)
            fail_msg("TP %u: %s", tps[k], err);
        assert_int_equal(p.weights_total_bytes, 141107412992ull);
        assert_int_equal(p.weights_bytes, (uint64_t)weights[k]);
        assert_int_equal(p.kv_bytes_per_token, 327680 / tps[k]);
        near((double)p.kv_budget_bytes / 1073741824.0, kv_gib[k], 1e-6, "KV left per GPU");
        sim_cost cost;
        sim_cost_init(&cost, &r.gpu, &r.model, r.weight_dtype, r.kv_dtype, &r.cost, tps[k],
                      &r.link);
        sim_batch_shape b = {0};
        b.decode_seqs = 64;
        b.decode_ctx_tokens = 64 * 1024;
        near(sim_cost_allreduce_s(&cost, 64) * 1e3, comm_ms[k], 1e-6, "all-reduce ms");
        near(sim_cost_step_s(&cost, &b) * 1e3, step_ms[k], 1e-6, "step ms");
    }
}

/* The per-step time of tensor parallelism (tp_step_ms, vLLM V0's
 * broadcast of each step to its workers) is tp_step_s x log2(TP) added to
 * every step, and nothing at TP 1: Llama-3.1-70B on h100-sxm at TP 2, 4,
 * 8 gains exactly 1, 2 and 3 ms a step with tp_step_s 1 ms; Llama-3.1-8B
 * at TP 1 none. */
static void test_tp_step_term(void **state)
{
    (void)state;
    char err[512];
    const uint32_t tps[] = {1, 2, 4, 8};
    for (int k = 0; k < 4; k++) {
        sim_config c = config("h100-sxm", tps[k] == 1 ? "llama-3.1-8b" : "llama-3.1-70b");
        c.tensor_parallel = tps[k];
        sim_config r;
        if (sim_config_resolve(&c, &r, err, sizeof(err)) != 0)
            fail_msg("TP %u: %s", tps[k], err);
        sim_batch_shape b = {0};
        b.decode_seqs = 16;
        b.decode_ctx_tokens = 16 * 2048;
        double t[2];
        for (int on = 0; on < 2; on++) {
            sim_cost_params p = r.cost;
            p.tp_step_s = on ? 1e-3 : 0.0;
            sim_cost cost;
            sim_cost_init(&cost, &r.gpu, &r.model, r.weight_dtype, r.kv_dtype, &p, tps[k],
                          tps[k] > 1 ? &r.link : NULL);
            t[on] = sim_cost_step_s(&cost, &b);
        }
        near((t[1] - t[0]) * 1e3 + 1.0, log2((double)tps[k]) + 1.0, 1e-9, "tp step ms");
    }
}

/* The context phase's time per layer (prefill_layer_us, TensorRT-LLM's
 * attention plugin's extra work in a step with prompt tokens): a step
 * that computes prompt tokens pays layers x prefill_layer_s more (80 x 50
 * us = 4 ms for Llama-3.1-70B at TP 4), a decode-only step nothing. */
static void test_prefill_layer_term(void **state)
{
    (void)state;
    char err[512];
    sim_config c = config("h100-sxm", "llama-3.1-70b");
    c.tensor_parallel = 4;
    sim_config r;
    if (sim_config_resolve(&c, &r, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    sim_batch_shape dec = {0}, mixed = {0};
    dec.decode_seqs = mixed.decode_seqs = 8;
    dec.decode_ctx_tokens = mixed.decode_ctx_tokens = 8 * 1024;
    mixed.prefill_seqs = 1;
    mixed.prefill_tokens = 512;
    mixed.prefill_attn_pairs = 512.0 * 513.0 / 2.0;
    double t[2][2];
    for (int on = 0; on < 2; on++) {
        sim_cost_params p = r.cost;
        p.prefill_layer_s = on ? 50e-6 : 0.0;
        sim_cost cost;
        sim_cost_init(&cost, &r.gpu, &r.model, r.weight_dtype, r.kv_dtype, &p, 4, &r.link);
        t[on][0] = sim_cost_step_s(&cost, &dec);
        t[on][1] = sim_cost_step_s(&cost, &mixed);
    }
    assert_true(t[1][0] == t[0][0]);
    near((t[1][1] - t[0][1]) * 1e3, 80 * 0.05, 1e-9, "context phase ms");
}

/* The seed's claim, as a number: TP 2 over PCIe (rtx-4090, 25.7 GB/s bus
 * bandwidth, 40 us floor) is slower per decode step than the same GPU
 * joined by NVLink 3 (200 GB/s, 10 us): Llama-3.1-8B, 32 sequences. The
 * difference is the all-reduces: 64 x (40 - 10) us for the floors alone. */
static void test_pcie_slower_than_nvlink(void **state)
{
    (void)state;
    char err[512];
    sim_config c = config("rtx-4090", "llama-3.1-8b");
    c.tensor_parallel = 2;
    c.max_model_len = 8192;
    sim_config pcie, nvl;
    assert_int_equal(sim_config_resolve(&c, &pcie, err, sizeof(err)), 0);
    snprintf(c.gpu.interconnect, sizeof(c.gpu.interconnect), "nvlink3");
    assert_int_equal(sim_config_resolve(&c, &nvl, err, sizeof(err)), 0);
    sim_cost a, b;
    sim_cost_init(&a, &pcie.gpu, &pcie.model, pcie.weight_dtype, pcie.kv_dtype, &pcie.cost, 2,
                  &pcie.link);
    sim_cost_init(&b, &nvl.gpu, &nvl.model, nvl.weight_dtype, nvl.kv_dtype, &nvl.cost, 2,
                  &nvl.link);
    sim_batch_shape s = {0};
    s.decode_seqs = 32;
    s.decode_ctx_tokens = 32 * 2048;
    double ta = sim_cost_step_s(&a, &s), tb = sim_cost_step_s(&b, &s);
    print_message("TP 2 decode step, 32 sequences: PCIe %.3f ms, NVLink %.3f ms\n", ta * 1e3,
                  tb * 1e3);
    assert_true(ta > tb);
    double floors = 64 * (40e-6 - 10e-6);
    assert_true(ta - tb > floors);
}

/* vLLM's split rules, and devices without a link. */
static void test_split_rules(void **state)
{
    (void)state;
    char err[512];
    sim_config c = config("h100-sxm", "llama-3.1-70b");
    c.tensor_parallel = 3;
    sim_config r;
    assert_int_equal(sim_config_resolve(&c, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "64 attention heads are not a multiple"));
    assert_non_null(strstr(err, "1, 2, 4, 8, 16"));
    /* TP 16 crosses an 8-GPU HGX node: the catalog's NVLink figures
     * (nccl-tests on 8 H100s) do not describe it, so it is refused... */
    c.tensor_parallel = 16;
    assert_int_equal(sim_config_resolve(&c, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "spans more than one node of 8 GPUs"));
    assert_non_null(strstr(err, "--allreduce-busbw"));
    /* ... unless the fabric's figures are given (a 400 Gb/s NIC a GPU).
     * 8 KV heads at TP 16: one per GPU, each replicated twice (allowed). */
    c.allreduce_busbw_gbps = 45;
    c.allreduce_latency_us = 25;
    assert_int_equal(sim_config_resolve(&c, &r, err, sizeof(err)), 0);
    assert_int_equal(sim_tp_kv_heads(&r.model, 16), 1);
    c.allreduce_busbw_gbps = c.allreduce_latency_us = 0;
    sim_config m = config("dgx-spark", "llama-3.1-8b");
    m.tensor_parallel = 2;
    assert_int_equal(sim_config_resolve(&m, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no GPU-to-GPU link"));
    /* Given figures describe a link the catalog does not have. */
    m.allreduce_busbw_gbps = 10;
    m.allreduce_latency_us = 50;
    assert_int_equal(sim_config_resolve(&m, &r, err, sizeof(err)), 0);
    near(r.link.busbw_Bps, 10e9, 1e-12, "given bus bandwidth");
    near(r.link.floor_s, 50e-6, 1e-12, "given floor");
}

/* An explicit pool size never lets weights that do not fit pass: Llama-2-
 * 70B (128.5 GiB fp16) on one A100-80GB with --num-blocks 3328. */
static void test_weights_check_holds(void **state)
{
    (void)state;
    char err[512];
    sim_config c = config("a100-80gb", "llama-2-70b");
    c.num_blocks = 3328;
    sim_memory_plan p;
    assert_int_equal(sim_memory_plan_compute(&c, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not fit on a100-80gb"));
    assert_non_null(strstr(err, "--tensor-parallel-size 2 fits"));
    c.tensor_parallel = 2;
    assert_int_equal(sim_memory_plan_compute(&c, &p, err, sizeof(err)), 0);
    assert_true(p.pool_overridden);
    /* Llama-3.1-405B (756 GiB in bf16) needs more than a node of H100s:
     * the hint keeps tensor parallelism within the node and adds
     * pipeline stages (it had offered TP 16 over NVLink). */
    sim_config b = config("h100-sxm", "llama-3.1-405b");
    assert_int_equal(sim_memory_plan_compute(&b, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--tensor-parallel-size 8 --pipeline-parallel-size 2 fits"));
}

/* A device without a compute figure is refused, never infinitely fast
 * (a device with m2-max's bandwidth, 400 GB/s, but no FP16 rate), and
 * Apple's unified memory defaults to the 75 % macOS lets the GPU wire
 * (Metal's recommendedMaxWorkingSetSize: 64 GB -> 49,152 MiB, llama.cpp
 * #1870); other devices keep vLLM's 0.90. */
static void test_devices_refused_or_bounded(void **state)
{
    (void)state;
    char err[512];
    sim_config c = config("m2-max", "llama-3.1-8b");
    c.gpu.fp16_flops = 0;
    sim_config r;
    assert_int_equal(sim_config_resolve(&c, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "m2-max has no compute figure"));
    assert_non_null(strstr(err, "--peak-tflops"));
    c.gpu.fp16_flops = 13.6e12;
    assert_int_equal(sim_config_resolve(&c, &r, err, sizeof(err)), 0);
    sim_config m = config("m1-max", "llama-3.1-8b");
    near(m.mem_util, 0.75, 0, "unified memory default");
    near(config("dgx-spark", "llama-3.1-8b").mem_util, 0.90, 0, "unified, not Apple");
    near(config("cpu-epyc-9654", "llama-3.1-8b").mem_util, 0.90, 0, "a CPU server");
    sim_memory_plan p;
    assert_int_equal(sim_memory_plan_compute(&m, &p, err, sizeof(err)), 0);
    assert_int_equal(p.usable_bytes, 49152ull * 1048576);
}

/* Stage reservation by hand: 2 stages, host work 1, stage 10, transfer 2
 * (ns). The first step holds stage 0 over [1, 11] and stage 1 over
 * [13, 23]; a second one started at 0 waits for stage 0 ([11, 21]) and
 * for stage 1 ([23, 33]): one batch per stage in flight. */
static void test_pipeline_by_hand(void **state)
{
    (void)state;
    sim_pipeline p = {.stages = 2};
    assert_int_equal(sim_pipeline_reserve(&p, 0, 1, 10, 2), 23);
    assert_int_equal(sim_pipeline_reserve(&p, 0, 1, 10, 2), 33);
    assert_int_equal(p.free_ns[0], 21);
    assert_int_equal(p.free_ns[1], 33);
    /* Later, with the pipeline drained, a step sees no wait. */
    assert_int_equal(sim_pipeline_reserve(&p, 100, 1, 10, 2), 123);
}

/* llama.cpp's ubatch pipeline (sim_llamacpp_ubatch_span) against the
 * recurrence kvsim validate runs (sim/validate.c, prefill): GPU k takes
 * ubatch j once GPU k - 1 has sent it and GPU k is done with ubatch j - 1,
 * and ubatch j enters GPU 0 only once ubatch j - 5 has left the last GPU.
 * Layers 32 in llama.cpp's split (sim_llamacpp_layers), equal ubatches of
 * work 1, hops of 0, 0.02 and 0.3. Over eight GPUs (5/32 on the first) a
 * passage (1 + 7 hops) is more than five of the first GPU's turns, but
 * the ring waits only from the sixth ubatch on: two to five ubatches go
 * at the first GPU's pace, so a 2,560-token step is 1 + 4 x 5/32. */
static void test_llamacpp_ubatch_span(void **state)
{
    (void)state;
    const double hops[] = {0, 0.02, 0.3};
    for (uint32_t p = 2; p <= 8; p++)
        for (int hi = 0; hi < 3; hi++)
            for (uint32_t m = 1; m <= 24; m++) {
                double h = hops[hi], fin[8] = {0}, left[24] = {0}, at = 0;
                for (uint32_t j = 0; j < m; j++) {
                    at = fmax(fin[0], j >= 5 ? left[j - 5] : 0) +
                         sim_llamacpp_layers(0, p, 32) / 32.0;
                    for (uint32_t k = 1; k < p; k++) { /* the sender busy until sent */
                        fin[k - 1] = at + h;
                        at = fmax(at + h, fin[k]) + sim_llamacpp_layers(k, p, 32) / 32.0;
                    }
                    fin[p - 1] = at;
                    left[j] = at;
                }
                double share = sim_llamacpp_max_layers(p, 32) / 32.0;
                near(sim_llamacpp_ubatch_span(1, share, p, m, h), at, 1e-12,
                     "ubatch span as the recurrence");
            }
    near(sim_llamacpp_ubatch_span(1, 5.0 / 32, 8, 5, 0), 1 + 4 * 5.0 / 32, 1e-12,
         "five ubatches: the ring does not wait");
    near(sim_llamacpp_ubatch_span(1, 5.0 / 32, 8, 16, 0), 4, 1e-12,
         "sixteen: three more passages after the first five");
}

/* Llama-3.1-70B fp16 on h100-sxm at TP 2 x PP 2 (4 GPUs): the fullest
 * stage holds 40 layers and one vocabulary table. Per TP-2 GPU the whole
 * model is 35,277,512,704 parameters (test above), of which the two
 * tables 2 x 128256 x 8192 / 2 = 1,050,673,152 and the final norm 8,192:
 * layers 34,226,831,360; a stage 40/80 of that + 525,336,576 + 8,192 =
 * 17,638,760,448 parameters, 35,277,520,896 bytes. KV per token per GPU
 * 163,840 x 40 / 80 = 81,920. Each of the 2 virtual engines has half the
 * blocks. A lone request keeps one batch in flight: the stages are busy
 * at most half the time. */
static void test_pipeline_memory_and_bubble(void **state)
{
    (void)state;
    char err[512];
    sim_config c = config("h100-sxm", "llama-3.1-70b");
    c.tensor_parallel = 2;
    c.pipeline_parallel = 2;
    c.max_model_len = 8192;
    sim_config r;
    sim_memory_plan p;
    if (sim_config_resolve(&c, &r, err, sizeof(err)) != 0 ||
        sim_memory_plan_compute(&r, &p, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(p.stage_layers, 40);
    assert_int_equal(p.weights_bytes, 35277520896ull);
    assert_int_equal(p.kv_bytes_per_token, 81920);
    wl_source *src;
    if (wl_open_spec(&src,
                     "poisson:rate=1,n=1;in=uniform:min=100,max=100;out=uniform:min=50,max=50", 0,
                     err, sizeof(err)) != 0)
        fail_msg("%s", err);
    sim_result res;
    if (sim_run(&c, src, NULL, &res, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    wl_close(src);
    assert_int_equal(res.completed, 1);
    double busy = res.stage_busy_s / (2 * res.makespan_s);
    print_message("one request, PP 2: stages busy %.1f %% of the time\n", 100 * busy);
    assert_true(busy > 0 && busy <= 0.5);
    c.pipeline_parallel = 99;
    assert_int_equal(sim_config_resolve(&c, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--pipeline-parallel-size 99"));
}

/* llama.cpp's layer split (a preset with llamacpp_split): -tp is refused
 * (llama.cpp has no tensor parallelism); -pp 2 is one batch in flight
 * over two GPUs in turn, so one virtual engine holds the whole KV pool
 * (vLLM v0's two would hold half each), and a lone request runs at about
 * one GPU's speed: each step's stages in turn, a copy of the hidden state
 * (fp32) between them; the GPUs busy at most half the time. */
static void run_one(const sim_config *c, sim_result *res)
{
    char err[512];
    wl_source *src;
    if (wl_open_spec(&src,
                     "poisson:rate=1,n=1;in=uniform:min=100,max=100;out=uniform:min=50,max=50", 0,
                     err, sizeof(err)) != 0)
        fail_msg("%s", err);
    if (sim_run(c, src, NULL, res, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    wl_close(src);
}

/* The makespan of C's run of workload SPEC (one request). */
static double one_prompt_makespan(const sim_config *c, const char *spec)
{
    char err[512];
    wl_source *src;
    if (wl_open_spec(&src, spec, 0, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    sim_result res;
    if (sim_run(c, src, NULL, &res, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    wl_close(src);
    return res.makespan_s;
}

static void test_llamacpp_layer_split(void **state)
{
    (void)state;
    char err[512];
    sim_config c = config("rtx-4090", "llama-3.1-8b");
    c.max_model_len = 8192;
    c.cost.llamacpp_split = true;
    sim_config r;
    c.tensor_parallel = 2;
    assert_int_equal(sim_config_resolve(&c, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "llama.cpp has no tensor parallelism"));
    c.tensor_parallel = 1;
    sim_result one, two, vllm;
    run_one(&c, &one);
    c.pipeline_parallel = 2;
    if (sim_config_resolve(&c, &r, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(sim_config_virtual_engines(&r), 1);
    run_one(&c, &two);
    sim_config v = c;
    v.cost.llamacpp_split = false;
    snprintf(v.scheduler, sizeof(v.scheduler), "vllm-v0");
    assert_int_equal(sim_config_virtual_engines(&v), 2);
    run_one(&v, &vllm);
    assert_int_equal(one.completed, 1);
    assert_int_equal(two.completed, 1);
    /* One pool for the one batch in flight; vLLM v0 splits it in two. The
     * fullest GPU holds 17 of the 32 layers in llama.cpp's split (16 in
     * vLLM's). */
    assert_int_equal(two.plan.stage_layers, 17);
    assert_int_equal(vllm.plan.stage_layers, 16);
    sim_memory_plan pl;
    if (sim_memory_plan_compute(&r, &pl, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    near((double)two.plan.kv_pool_bytes, (double)pl.kv_budget_bytes, 1e-3,
         "one virtual engine's pool: the whole budget");
    sim_config rv;
    if (sim_config_resolve(&v, &rv, err, sizeof(err)) != 0 ||
        sim_memory_plan_compute(&rv, &pl, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    near((double)vllm.plan.kv_pool_bytes, pl.kv_budget_bytes / 2.0, 1e-3,
         "vLLM v0: each of two virtual engines half");
    /* vLLM V1: one scheduler and one pool, its two batches in flight
     * sharing it (v1/engine/core.py's batch queue). */
    sim_config v1 = v;
    snprintf(v1.scheduler, sizeof(v1.scheduler), "vllm");
    sim_result one_pool;
    run_one(&v1, &one_pool);
    assert_int_equal(one_pool.completed, 1);
    if (sim_config_resolve(&v1, &rv, err, sizeof(err)) != 0 ||
        sim_memory_plan_compute(&rv, &pl, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_true(sim_config_shared_pool(&rv));
    assert_int_equal(sim_config_kv_pools(&rv), 1);
    near((double)one_pool.plan.kv_pool_bytes, pl.kv_budget_bytes, 1e-3,
         "vLLM V1: one pool for both batches in flight");
    print_message("one request: one GPU %.4f s, layer split over 2 %.4f s\n", one.makespan_s,
                  two.makespan_s);
    assert_true(two.makespan_s > one.makespan_s);
    assert_true(two.makespan_s < 1.05 * one.makespan_s);
    /* The hidden states cross the host link (--host-link-gbps): staged
     * on GeForce, twice at the link's rate. The prompt's 100 tokens and
     * 49 decodes cross once each, 4 x 4,096 bytes a token: from 32 to 4
     * GB/s adds 149 x 16,384 x 2 x (1/4e9 - 1/32e9) s = 1.07 ms. */
    sim_config slow = c;
    slow.gpu.host_link_Bps = 4e9;
    c.gpu.host_link_Bps = 32e9;
    sim_result fast_link, slow_link;
    run_one(&c, &fast_link);
    run_one(&slow, &slow_link);
    near(slow_link.makespan_s - fast_link.makespan_s, 149.0 * 16384 * 2 * (1 / 4e9 - 1 / 32e9),
         2e-6, "hops over a slower host link");
    double busy = two.stage_busy_s / (2 * two.makespan_s);
    assert_true(busy > 0 && busy <= 0.5);

    /* A 2,048-token prompt step is four 512-token ubatches in a
     * pipeline over four GPUs (a preset with ubatch_pipeline): (4 + 4 - 1)
     * stage times of a ubatch on the fullest GPU, 9 of the 32 layers
     * (llama.cpp's split: 9, 8, 8, 7), 63/128 of one GPU's step (2.03 x
     * faster), less the hops and the host's time. */
    sim_config q = c;
    q.cost.ubatch_pipeline = true;
    q.max_batched_tokens = 2048;
    double ttft[2], busy4 = 0;
    for (int k = 0; k < 2; k++) {
        q.pipeline_parallel = k == 0 ? 1 : 4;
        wl_source *src;
        if (wl_open_spec(&src, "poisson:rate=1,n=1;in=fixed:2048;out=fixed:2", 0, err,
                         sizeof(err)) != 0)
            fail_msg("%s", err);
        sim_result res;
        if (sim_run(&q, src, NULL, &res, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        wl_close(src);
        ttft[k] = res.makespan_s;
        busy4 = res.stage_busy_s / (4 * res.makespan_s);
    }
    print_message("2,048-token prompt and a token: one GPU %.4f s, four %.4f s (%.2f x)\n", ttft[0],
                  ttft[1], ttft[0] / ttft[1]);
    assert_true(ttft[0] / ttft[1] > 1.7 && ttft[0] / ttft[1] < 2.03);
    /* Each GPU computes its quarter of the prompt step's layers in 7/16
     * of one GPU's step: busy 4/7 of it (not the reserved 7/16 x 1/4),
     * less the hops and the decode step. */
    print_message("four GPUs busy %.1f%% of the time\n", 100 * busy4);
    assert_true(busy4 > 0.45 && busy4 < 4.0 / 7);

    /* An 8,192-token prompt is sixteen ubatches; over eight GPUs (5/32
     * of the layers on the fullest) at most five are in flight (the
     * scheduler's ring, sim/parallel.h), so after the first each comes at
     * a fifth of a passage through all eight GPUs (a ubatch's whole work
     * and seven hops), not at 5/32 of its work: about 16 / (1 + 15 / 5)
     * = 4 x one GPU at best, where without the ring it would be
     * 16 / (1 + 15 x 5 / 32) = 4.8 x. */
    q.max_batched_tokens = 8192;
    q.max_model_len = 16384;
    for (int k = 0; k < 2; k++) {
        q.pipeline_parallel = k == 0 ? 1 : 8;
        ttft[k] = one_prompt_makespan(&q, "poisson:rate=1,n=1;in=fixed:8192;out=fixed:2");
    }
    print_message("8,192-token prompt and a token: one GPU %.4f s, eight %.4f s (%.2f x)\n",
                  ttft[0], ttft[1], ttft[0] / ttft[1]);
    assert_true(ttft[0] / ttft[1] > 3.3 && ttft[0] / ttft[1] < 4.0);
    /* A 2,560-token step is five ubatches: the ring has none to wait for
     * (ubatch j waits for ubatch j - 5), so they go at the fullest GPU's
     * pace, 5 / (1 + 4 x 5/32) = 3.08 x one GPU at best, less the hops
     * and the decode step (2.68 x), not at a fifth of a passage (5 / 1.8
     * = 2.78 x at best; 2.43 x with the hops and the decode). */
    for (int k = 0; k < 2; k++) {
        q.pipeline_parallel = k == 0 ? 1 : 8;
        ttft[k] = one_prompt_makespan(&q, "poisson:rate=1,n=1;in=fixed:2560;out=fixed:2");
    }
    print_message("2,560-token prompt and a token: one GPU %.4f s, eight %.4f s (%.2f x)\n",
                  ttft[0], ttft[1], ttft[0] / ttft[1]);
    assert_true(ttft[0] / ttft[1] > 2.6 && ttft[0] / ttft[1] < 5 / (1 + 4 * 5.0 / 32));

    /* One virtual engine a replica: 33 replicas of two GPUs are 33 of
     * them, and a pool of 3 blocks is not split four ways. */
    sim_config b = c;
    b.pipeline_parallel = 2;
    b.replicas = 33;
    if (sim_config_resolve(&b, &r, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    b.cost.llamacpp_split = false;
    assert_int_equal(sim_config_resolve(&b, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "exceed 64 virtual engines"));
    b = c;
    b.pipeline_parallel = 4;
    b.num_blocks = 3;
    if (sim_config_resolve(&b, &r, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    b.cost.llamacpp_split = false;
    snprintf(b.scheduler, sizeof(b.scheduler), "vllm-v0"); /* V1's lanes share the 3 */
    assert_int_equal(sim_config_resolve(&b, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--num-blocks 3"));

    /* A model too large for one GPU: the hint is the layer split, never
     * the tensor parallelism llama.cpp lacks. */
    sim_config big = config("rtx-4090", "llama-2-13b");
    big.cost.llamacpp_split = true;
    sim_memory_plan plan;
    assert_int_equal(sim_memory_plan_compute(&big, &plan, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--pipeline-parallel-size 2 fits"));
    assert_null(strstr(err, "--tensor-parallel-size"));
    big.cost.llamacpp_split = false;
    assert_int_equal(sim_memory_plan_compute(&big, &plan, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--tensor-parallel-size 2 fits"));
}

/* Partial offload (llama.cpp -ngl) of Llama-3.1-8B fp16 on an rtx-4090,
 * the rest on a host of 83 GB/s and 2 TFLOPS: batch-1 decode at 1,024
 * tokens of context, written out. The whole step reads 16,060,522,496
 * bytes of weights but the input embedding (1,050,673,152 bytes: a
 * gather) + 131,072 x 1,024 of KV at bw_eff 0.8 (it is
 * memory-bound on both sides), split by layers: GPU share g at 1,008 GB/s,
 * the rest at 83 GB/s, plus two crossings of 4 x 4096 bytes over PCIe 4
 * (32 GB/s) when both parts run, plus 5 ms: g = 0 gives 0.2331 s, the
 * GPU alone 0.0238 s; each 8 layers moves a quarter of the bytes from the
 * host to the GPU, so tokens/s rises with N (the seed: a quarter on the
 * GPU is only a little faster than none). On an rtx-4060 (8 GiB; no
 * published CUDA total, so 8188 MiB less 2.06 %, 8,019 MiB, x 0.9) 30
 * layers do not fit: the error names the largest N that does. */
static void test_offload(void **state)
{
    (void)state;
    char err[512];
    sim_config c = config("rtx-4090", "llama-3.1-8b");
    c.max_model_len = 8192;
    c.has_host = true;
    snprintf(c.host.name, sizeof(c.host.name), "host");
    c.host.mem_bw_Bps = 83e9;
    c.host.fp16_flops = 2e12;
    c.host.memory_bytes = 128ull << 30;
    double bytes = 16060522496.0 - 1050673152.0 + 131072.0 * 1024;
    double prev = INFINITY;
    for (int n = 0; n <= 32; n += 8) {
        c.gpu_layers = n;
        sim_config r;
        sim_memory_plan p;
        if (sim_config_resolve(&c, &r, err, sizeof(err)) != 0 ||
            sim_memory_plan_compute(&r, &p, err, sizeof(err)) != 0)
            fail_msg("--gpu-layers %d: %s", n, err);
        sim_cost cost;
        sim_cost_init(&cost, &r.gpu, &r.model, r.weight_dtype, r.kv_dtype, &r.cost, 1, NULL);
        double g = n / 32.0;
        if (n < 32)
            sim_cost_offload(&cost, g, &r.host, r.gpu.host_link_Bps, r.model.hidden);
        sim_batch_shape b = {0};
        b.decode_seqs = 1;
        b.decode_ctx_tokens = 1024;
        double want = g * bytes / (1008e9 * 0.8) + (1 - g) * bytes / (83e9 * 0.8) +
                      (n > 0 && n < 32 ? 2 * 4.0 * 4096 / 32e9 : 0) + 0.005;
        double got = sim_cost_step_s(&cost, &b);
        print_message("--gpu-layers %2d: %.4f s per token (by hand %.4f)\n", n, got, want);
        near(got, want, 1e-9, "offloaded decode step");
        assert_true(got < prev);
        prev = got;
    }
    sim_config s = config("rtx-4060", "llama-3.1-8b");
    s.max_model_len = 4096;
    s.host = c.host;
    s.has_host = true;
    s.gpu_layers = 30;
    sim_config r;
    sim_memory_plan p;
    assert_int_equal(sim_config_resolve(&s, &r, err, sizeof(err)), 0);
    assert_int_equal(sim_memory_plan_compute(&r, &p, err, sizeof(err)), -1);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "the largest that fits is --gpu-layers 11"));
    s.gpu_layers = 11;
    assert_int_equal(sim_config_resolve(&s, &r, err, sizeof(err)), 0);
    assert_int_equal(sim_memory_plan_compute(&r, &p, err, sizeof(err)), 0);
    assert_int_equal(p.host_kv_bytes_per_token, 131072 / 32 * 21);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama70b_h100_by_hand),
        cmocka_unit_test(test_tp_step_term),
        cmocka_unit_test(test_prefill_layer_term),
        cmocka_unit_test(test_pcie_slower_than_nvlink),
        cmocka_unit_test(test_split_rules),
        cmocka_unit_test(test_weights_check_holds),
        cmocka_unit_test(test_devices_refused_or_bounded),
        cmocka_unit_test(test_pipeline_by_hand),
        cmocka_unit_test(test_pipeline_memory_and_bubble),
        cmocka_unit_test(test_llamacpp_ubatch_span),
        cmocka_unit_test(test_llamacpp_layer_split),
        cmocka_unit_test(test_offload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
