/*
 * test_formats.c: weight and KV-cache formats (sim/formats.c).
 *
 * Expected values come from outside the code: KV bytes per token worked
 * out by hand from each format's layout (llama.cpp's block structs in
 * ggml-common.h, KIVI's groups, vLLM's fp8 and int8 scales) for
 * Llama-3.1-8B (32 layers x 8 KV heads x 128 = 32,768 K values and as
 * many V values a token); weight sizes llama.cpp prints: QUANT_OPTIONS in
 * tools/quantize/quantize.cpp ("4.58G @ Llama-3-8B" for Q4_K_M, 7.96G
 * for Q8_0, 6.14G Q6_K, 5.33G Q5_K_M, 3.74G Q3_K_M, 2.96G Q2_K; Llama-3-8B
 * has Llama-3.1-8B's shapes; published files agree: bartowski's
 * Meta-Llama-3-8B-Instruct GGUFs are 8.54 GB at Q8_0 and 4.92 GB at
 * Q4_K_M, decimal, 7.95 and 4.58 GiB) and llama-bench's model sizes for Llama-2-7B
 * in ../shared/reference/measurements.csv (Q8_0 6.67 GiB, Q4_0 3.56 GiB,
 * F16 12.55 GiB); AWQ's 4 + 20/128 = 4.156 bits per weight from vLLM's
 * AWQLinearMethod.create_weights shapes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim/catalog.h"
#include "sim/config.h"
#include "sim/formats.h"

static sim_model model(const char *name)
{
    sim_model m;
    char err[512];
    if (sim_model_lookup(name, &m, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return m;
}

static const sim_dtype *kv(const char *spec)
{
    char err[512];
    const sim_dtype *f = sim_kv_format_parse(spec, sim_dtype_find("fp16"), err, sizeof(err));
    if (f == NULL)
        fail_msg("%s", err);
    return f;
}

static const sim_dtype *wq(const char *spec)
{
    char err[512];
    const sim_dtype *f = sim_weight_format_parse(spec, err, sizeof(err));
    if (f == NULL)
        fail_msg("%s", err);
    return f;
}

/* Every --kv-cache-dtype on Llama-3.1-8B, by hand: E = 65,536 values a
 * token (K and V). */
static void test_kv_bytes_llama31_8b(void **state)
{
    (void)state;
    sim_model m = model("llama-3.1-8b");
    const struct {
        const char *spec;
        uint64_t bytes;
    } cases[] = {
        {"auto", 131072}, /* the model's fp16: 2 B */
        {"fp16", 131072},
        {"bf16", 131072},
        {"fp32", 262144},
        {"fp8", 65536}, /* 1 B; per-tensor/per-head scales are per layer, not per token */
        {"fp8_e4m3", 65536},
        {"fp8_e5m2", 65536},
        {"int8", 66560},           /* 1 B + an fp16 scale per token, head, K/V: 65536 + 2x32x8x2 */
        {"q8_0", 69632},           /* 34 B per 32: 65536 / 32 x 34 */
        {"q5_1", 49152},           /* 24 B per 32 */
        {"q5_0", 45056},           /* 22 B per 32 */
        {"q4_1", 40960},           /* 20 B per 32 */
        {"q4_0", 36864},           /* 18 B per 32 */
        {"iq4_nl", 36864},         /* 18 B per 32 */
        {"int4", 40960},           /* KIVI g32: (32 x 4 + 32) bits per 32 = 5 bits */
        {"int2", 24576},           /* KIVI g32: 3 bits */
        {"int4:group=128", 34816}, /* 4.25 bits */
        {"int2:group=128", 18432}, /* 2.25 bits */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = sim_kv_format_bytes_per_token(&m, kv(cases[i].spec));
        if (got != cases[i].bytes)
            fail_msg("%s: %llu bytes/token, expected %llu", cases[i].spec, (unsigned long long)got,
                     (unsigned long long)cases[i].bytes);
    }
    /* KIVI's window: 128 recent tokens in fp16 instead of 5 bits:
     * 128 x 65536 x (2 - 0.625) bytes per sequence. */
    assert_int_equal(sim_kv_window_bytes_per_seq(&m, kv("int4:group=32,residual=128")),
                     128ull * 65536 * 11 / 8);
    assert_int_equal(sim_kv_window_bytes_per_seq(&m, kv("q8_0")), 0);
    /* llama.cpp's blocks: the table's block bytes agree with bytes/value. */
    static const char *const blocks[] = {"q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"};
    for (size_t i = 0; i < 6; i++) {
        const sim_dtype *f = kv(blocks[i]);
        assert_int_equal(f->block, 32);
        assert_true(fabs((double)f->block_bytes / f->block - f->bytes) < 1e-15);
    }
    /* The same text gives the same interned format. */
    assert_ptr_equal(kv("int4:group=64,residual=128"), kv("int4:group=64,residual=128"));
}

static void test_kv_format_errors(void **state)
{
    (void)state;
    char err[512];
    assert_null(sim_kv_format_parse("int4:group=48", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "power of two"));
    assert_null(sim_kv_format_parse("int2:group=32,residual=40", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "multiple of group"));
    assert_null(sim_kv_format_parse("q4_K", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "--kv-cache-dtype"));
    assert_null(sim_kv_format_parse("int4:bits=3", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown parameter 'bits'"));
    /* A group wider than a head. */
    sim_model m = model("llama-3.2-1b"); /* head_dim 64 */
    assert_int_equal(sim_kv_format_check(kv("int4:group=128"), &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "head_dim 64"));
}

static double gib_of(const char *model_name, const char *fmt)
{
    sim_model m = model(model_name);
    sim_weight_bytes wb;
    char err[512];
    if (sim_weight_bytes_of(&m, wq(fmt), &wb, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return wb.total / 1073741824.0;
}

static void expect_within(const char *what, double got, double want, double rel)
{
    if (fabs(got - want) > rel * want)
        fail_msg("%s: %.4f, expected %.4f within %.1f%%", what, got, want, rel * 100);
}

/* llama.cpp's printed sizes (GiB) against the per-tensor mixes. */
static void test_gguf_sizes(void **state)
{
    (void)state;
    expect_within("Llama-3-8B Q4_K_M", gib_of("llama-3.1-8b", "Q4_K_M"), 4.58, 0.01);
    expect_within("Llama-3-8B Q8_0", gib_of("llama-3.1-8b", "Q8_0"), 7.96, 0.01);
    expect_within("Llama-3-8B Q6_K", gib_of("llama-3.1-8b", "Q6_K"), 6.14, 0.01);
    expect_within("Llama-3-8B Q5_K_M", gib_of("llama-3.1-8b", "q5_k_m"), 5.33, 0.01);
    expect_within("Llama-3-8B Q3_K_M", gib_of("llama-3.1-8b", "Q3_K_M"), 3.74, 0.01);
    expect_within("Llama-3-8B Q2_K", gib_of("llama-3.1-8b", "Q2_K"), 2.96, 0.01);
    expect_within("Llama-3-8B Q4_K_S", gib_of("llama-3.1-8b", "Q4_K_S"), 4.37, 0.01);
    expect_within("Llama-2-7B Q8_0", gib_of("llama-2-7b", "Q8_0"), 6.67, 0.005);
    expect_within("Llama-2-7B Q4_0", gib_of("llama-2-7b", "Q4_0"), 3.56, 0.005);
    expect_within("Llama-2-7B F16", gib_of("llama-2-7b", "fp16"), 12.55, 0.005);
    /* Q4_K_M by hand (bytes): token_embd q4_K 128256 x 4096 x 144/256;
     * output q6_K x 210/256; 32 layers of q, k, v, o, gate, up, down in
     * q4_K except attn_v and ffn_down in q6_K on the 16 layers
     * use_more_bits picks (0-3, 28-31, 6, 9, ..., 27); norms f32. */
    double emb = 128256.0 * 4096;
    double layer = 4096.0 * 4096 * 2 + 4096.0 * 1024 * 2 + 3 * 4096.0 * 14336;
    double up = 4096.0 * 1024 + 4096.0 * 14336; /* attn_v + ffn_down */
    double want = emb * 144 / 256 + emb * 210 / 256 + 32 * layer * 144 / 256 +
                  16 * up * (210.0 - 144) / 256 + (65.0 * 4096) * 4;
    sim_model m = model("llama-3.1-8b");
    sim_weight_bytes wb;
    char err[256];
    assert_int_equal(sim_weight_bytes_of(&m, wq("Q4_K_M"), &wb, err, sizeof(err)), 0);
    assert_true(fabs(wb.total - want) < 1.0);
}

/* AWQ/GPTQ 4-bit, group 128: 4 + 16/128 (fp16 scale) + 4/128 (4-bit
 * zero) = 4.15625 bits per quantized weight; embeddings, lm_head and
 * norms stay 16-bit. */
static void test_awq(void **state)
{
    (void)state;
    sim_model m = model("llama-3.1-8b");
    sim_weight_bytes wb;
    char err[256];
    assert_int_equal(sim_weight_bytes_of(&m, wq("awq"), &wb, err, sizeof(err)), 0);
    double layers = 32 * (4096.0 * 4096 * 2 + 4096.0 * 1024 * 2 + 3 * 4096.0 * 14336);
    double kept = 2 * 128256.0 * 4096 + 65.0 * 4096;
    assert_true(fabs(wb.quantized_params - layers) < 1);
    assert_true(fabs(wb.total - (layers * 4.15625 / 8 + kept * 2)) < 1.0);
    assert_true(fabs(wq("gptq:group=32")->bytes * 8 - 4.625) < 1e-12);
    /* A group that does not divide a matrix's inputs is refused. */
    assert_int_equal(sim_weight_bytes_of(&m, wq("awq:group=8192"), &wb, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "group"));
    /* Formats that are refused as weights, with the list. */
    assert_null(sim_weight_format_parse("q4_K", err, sizeof(err)));
    assert_non_null(strstr(err, "Q4_K_M"));
    /* llama.cpp's names in either case: q8_0 as weights is the Q8_0 file
     * type, as a KV type the block. */
    assert_ptr_equal(wq("q8_0"), wq("Q8_0"));
    assert_int_equal(wq("q8_0")->kind, SIM_FMT_GGUF_MIX);
    assert_int_equal(kv("Q8_0")->kind, SIM_FMT_GGML);
    /* FP4: NVFP4 4.5 and MXFP4 4.25 bits per layer weight. */
    assert_true(fabs(wq("nvfp4")->bytes * 8 - 4.5) < 1e-12);
    assert_true(fabs(wq("mxfp4")->bytes * 8 - 4.25) < 1e-12);
}

/* The rate the matrices run at: fp8 at the FP8 tensor rate (H100
 * 1979 TFLOPS), weight-only FP8 on an A100 at its fp16 rate (vLLM's Marlin
 * path), int8 W8A8 at the int8 rate, refused without one. */
static void test_compute_rates(void **state)
{
    (void)state;
    sim_gpu h100, a100, m1;
    char err[512];
    assert_int_equal(sim_gpu_lookup("h100-sxm", &h100, err, sizeof(err)), 0);
    assert_int_equal(sim_gpu_lookup("a100-80gb", &a100, err, sizeof(err)), 0);
    assert_int_equal(sim_gpu_lookup("m1-max", &m1, err, sizeof(err)), 0);
    double f;
    assert_int_equal(sim_weight_peak_flops(&h100, wq("fp8"), &f, err, sizeof(err)), 0);
    assert_true(fabs(f - 1979e12) < 1e9);
    assert_int_equal(sim_weight_peak_flops(&a100, wq("fp8"), &f, err, sizeof(err)), 0);
    assert_true(fabs(f - 312e12) < 1e9);
    assert_int_equal(sim_weight_peak_flops(&a100, wq("int8"), &f, err, sizeof(err)), 0);
    assert_true(fabs(f - 624e12) < 1e9);
    assert_int_equal(sim_weight_peak_flops(&h100, wq("Q4_K_M"), &f, err, sizeof(err)), 0);
    assert_true(fabs(f - 989.4e12) < 1e9);
    assert_int_equal(sim_weight_peak_flops(&m1, wq("int8"), &f, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "int8_tops"));
    /* The configuration refuses it too, before any run. */
    sim_model m = model("llama-3.1-8b");
    sim_config c, o;
    sim_config_defaults(&c, &m1, &m);
    c.weight_dtype = wq("int8");
    assert_int_equal(sim_config_resolve(&c, &o, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "int8_tops"));
}

/* The memory plan follows the formats: Q4_K_M weights, q8_0 KV. */
static void test_memory_plan(void **state)
{
    (void)state;
    sim_gpu g;
    sim_model m = model("llama-3.1-8b");
    char err[512];
    assert_int_equal(sim_gpu_lookup("rtx-4090", &g, err, sizeof(err)), 0);
    sim_config c, o;
    sim_config_defaults(&c, &g, &m);
    snprintf(c.engine, sizeof(c.engine), "llamacpp"); /* q8_0: llama.cpp's cache type */
    snprintf(c.backend, sizeof(c.backend), "cuda");
    c.weight_dtype = wq("Q4_K_M");
    c.kv_dtype = kv("q8_0");
    c.max_model_len = 8192;
    assert_int_equal(sim_config_resolve(&c, &o, err, sizeof(err)), 0);
    sim_memory_plan p;
    assert_int_equal(sim_memory_plan_compute(&o, &p, err, sizeof(err)), 0);
    assert_int_equal(p.kv_bytes_per_token, 69632);
    expect_within("plan weights", (double)p.weights_bytes / 1073741824.0, 4.58, 0.01);
    /* KIVI's windows come off the pool: max_num_seqs of them. */
    c.kv_dtype = kv("int4:group=32,residual=128");
    assert_int_equal(sim_config_resolve(&c, &o, err, sizeof(err)), 0);
    assert_int_equal(sim_memory_plan_compute(&o, &p, err, sizeof(err)), 0);
    assert_int_equal(p.kv_window_bytes, (uint64_t)o.max_num_seqs * (128ull * 65536 * 11 / 8));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_bytes_llama31_8b), cmocka_unit_test(test_kv_format_errors),
        cmocka_unit_test(test_gguf_sizes),          cmocka_unit_test(test_awq),
        cmocka_unit_test(test_compute_rates),       cmocka_unit_test(test_memory_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
