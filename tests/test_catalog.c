/*
 * test_catalog.c: GPU and model catalog. Expected values come from outside
 * the code: KV bytes per token from the closed form 2 x layers x kv_heads x
 * head_dim x bytes (OPT-13B 819,200 as in the vLLM paper; Llama-3.1-8B
 * 131,072 with grouped-query attention), parameter counts from the
 * reference table the catalog files carry (reference/models.csv).
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim/catalog.h"

static sim_model model(const char *name)
{
    sim_model m;
    char err[512];
    if (sim_model_lookup(name, &m, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return m;
}

static void test_kv_bytes_per_token(void **state)
{
    (void)state;
    sim_model m = model("opt-13b");
    assert_int_equal(sim_model_kv_bytes_per_token(&m, 2), 819200);
    m = model("llama-3.1-8b");
    assert_int_equal(m.kv_heads, 8); /* GQA: KV heads, not the 32 attention heads */
    assert_int_equal(sim_model_kv_bytes_per_token(&m, 2), 131072);
    m = model("llama-2-7b"); /* MHA: 2 x 32 x 32 x 128 x 2 */
    assert_int_equal(sim_model_kv_bytes_per_token(&m, 2), 524288);
    m = model("llama-3.1-70b"); /* seed doc's 70B example: 2 x 80 x 8 x 128 x 2 = 320 KiB */
    assert_int_equal(sim_model_kv_bytes_per_token(&m, 2), 327680);
    assert_int_equal(sim_model_kv_bytes_per_token(&m, 1), 163840); /* fp8 KV halves it */
}

static void test_required_names_resolve(void **state)
{
    (void)state;
    const char *gpus[] = {"a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200",
                          "l40s",      "rtx-3090",  "rtx-4090", "rtx-5090",  "rtx-6000-ada",
                          "a6000",     "m2-ultra",  "m3-max"};
    const char *models[] = {"opt-13b",     "opt-66b",      "llama-2-7b",    "llama-2-13b",
                            "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.2-1b",
                            "mistral-7b",  "mixtral-8x7b", "qwen2.5-7b",    "qwen2.5-72b"};
    char err[512];
    for (size_t i = 0; i < sizeof(gpus) / sizeof(gpus[0]); i++) {
        sim_gpu g;
        if (sim_gpu_lookup(gpus[i], &g, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        assert_true(g.memory_bytes > (8ull << 30));
        assert_true(g.mem_bw_Bps > 100e9);
        assert_true(g.source[0] != '\0');
    }
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
        model(models[i]);
}

/* Every catalog model's computed parameter count matches the reference
 * count it carries to within 0.5 %. */
static void test_param_counts(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t i = 0; i < sim_model_count(); i++) {
        sim_model m;
        assert_int_equal(sim_model_at(i, &m), 0);
        if (m.params_reference == 0)
            continue;
        double rel =
            ((double)m.params_total - (double)m.params_reference) / (double)m.params_reference;
        if (rel > 0.005 || rel < -0.005)
            fail_msg("%s: computed %llu params, reference %llu (%.2f%%)", m.name,
                     (unsigned long long)m.params_total, (unsigned long long)m.params_reference,
                     rel * 100);
        checked++;
    }
    assert_true(checked >= 12);
    /* Exact for the two dense families whose layouts the code spells out. */
    assert_int_equal(model("llama-2-7b").params_total, 6738415616ull);
    assert_int_equal(model("opt-13b").params_total, 12853473280ull);
    /* MoE: all experts stored, two of eight active per token. */
    sim_model mx = model("mixtral-8x7b");
    assert_int_equal(mx.params_total, 46702792704ull);
    assert_int_equal(mx.params_active, 12879925248ull);
}

static void test_unknown_names_suggest(void **state)
{
    (void)state;
    char err[512];
    sim_gpu g;
    sim_model m;
    assert_int_equal(sim_gpu_lookup("a10x", &g, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown GPU 'a10x'"));
    assert_non_null(strstr(err, "a10g"));
    assert_int_equal(sim_model_lookup("lama-2-7b", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown model 'lama-2-7b'"));
    assert_non_null(strstr(err, "llama-2-7b"));
}

/* Names as users type them (issue 10): any case, separators optional, a
 * unique beginning of 3+ characters; a beginning shared by several names
 * lists them. */
static void test_names_any_case(void **state)
{
    (void)state;
    char err[512];
    sim_gpu g;
    sim_model m;
    static const char *const gpus[][2] = {{"H100-SXM", "h100-sxm"}, {"h100sxm", "h100-sxm"},
                                          {"L40S", "l40s"},         {"RTX 4090", "rtx-4090"},
                                          {"MI300", "mi300x"},      {"H200", "h200"}};
    for (size_t k = 0; k < sizeof(gpus) / sizeof(gpus[0]); k++) {
        if (sim_gpu_lookup(gpus[k][0], &g, err, sizeof(err)) != 0)
            fail_msg("--gpu %s: %s", gpus[k][0], err);
        assert_string_equal(g.name, gpus[k][1]);
    }
    assert_int_equal(sim_gpu_lookup("H100", &g, err, sizeof(err)), -1);
    assert_string_equal(err, "GPU 'H100' is ambiguous: h100-sxm, h100-pcie");
    assert_int_equal(sim_gpu_lookup("a100", &g, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ambiguous: a100-40gb, a100-80gb, a100-80gb-pcie, a100-40gb-pcie"));
    assert_int_equal(sim_gpu_lookup("h2", &g, err, sizeof(err)), -1); /* too short to guess */
    assert_non_null(strstr(err, "unknown GPU 'h2'"));
    assert_int_equal(sim_model_lookup("Llama-3.1-8B", &m, err, sizeof(err)), 0);
    assert_string_equal(m.name, "llama-3.1-8b");
    assert_int_equal(sim_model_lookup("MIXTRAL-8x7B", &m, err, sizeof(err)), 0);
    assert_string_equal(m.name, "mixtral-8x7b");
    assert_int_equal(sim_model_lookup("llama-3.1", &m, err, sizeof(err)), -1);
    assert_string_equal(err, "model 'llama-3.1' is ambiguous: llama-3.1-405b, llama-3.1-70b, "
                             "llama-3.1-8b");
}

static const char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/kvsim_cfg_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_config_json_path(void **state)
{
    (void)state;
    char err[512];
    sim_model m;
    /* A minimal GQA config: KV size from num_key_value_heads. */
    const char *p = write_tmp("{\"model_type\": \"llama\", \"hidden_size\": 2048,\n"
                              " \"num_hidden_layers\": 4, \"num_attention_heads\": 16,\n"
                              " \"num_key_value_heads\": 4, \"intermediate_size\": 5632,\n"
                              " \"vocab_size\": 32000, \"max_position_embeddings\": 4096}\n");
    assert_int_equal(sim_model_lookup(p, &m, err, sizeof(err)), 0);
    assert_int_equal(m.head_dim, 128);
    assert_int_equal(sim_model_kv_bytes_per_token(&m, 2), 2 * 4 * 4 * 128 * 2);
    unlink(p);

    p = write_tmp("{\"hidden_size\": 2048,\n \"num_hidden_layers\": \"four\"}\n");
    assert_int_equal(sim_model_lookup(p, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "num_hidden_layers"));
    unlink(p);

    p = write_tmp("{\"hidden_size\": 2048,\n \"num_hidden_layers\": 4,\n");
    assert_int_equal(sim_model_lookup(p, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "invalid JSON"));
    unlink(p);

    p = write_tmp("{\"hidden_size\": 2048, \"num_hidden_layers\": 4, \"vocab_size\": 10,"
                  " \"intermediate_size\": 10}");
    assert_int_equal(sim_model_lookup(p, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "missing 'num_attention_heads'"));
    unlink(p);

    /* Absurd sizes are refused before they can overflow a product. */
    p = write_tmp("{\"hidden_size\": 4294967295, \"num_hidden_layers\": 4, \"vocab_size\": 10,"
                  " \"num_attention_heads\": 1, \"intermediate_size\": 10}");
    assert_int_equal(sim_model_lookup(p, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'hidden_size' must be an integer in [1, 1048576]"));
    unlink(p);

    assert_int_equal(sim_model_lookup("/nonexistent/config.json", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/config.json: cannot open"));
}

/* The config.json quirks: a byte order mark is skipped, a duplicate key and
 * a missing max_position_embeddings are refused with the file named, and a
 * folder means its config.json (HuggingFace's layout). */
static void test_config_json_quirks(void **state)
{
    (void)state;
    char err[512];
    sim_model m;
    static const char body[] = "\"hidden_size\": 2048, \"num_hidden_layers\": 4,"
                               " \"num_attention_heads\": 16, \"intermediate_size\": 5632,"
                               " \"vocab_size\": 32000";
    char text[1024];
    snprintf(text, sizeof(text), "\xEF\xBB\xBF{%s, \"max_position_embeddings\": 4096}\n", body);
    const char *p = write_tmp(text);
    assert_int_equal(sim_model_lookup(p, &m, err, sizeof(err)), 0);
    assert_int_equal(m.max_len, 4096);
    unlink(p);

    snprintf(text, sizeof(text),
             "{%s,\n \"max_position_embeddings\": 4096,\n"
             " \"num_hidden_layers\": 8}\n",
             body);
    p = write_tmp(text);
    assert_int_equal(sim_model_lookup(p, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "duplicate object key"));
    unlink(p);

    snprintf(text, sizeof(text), "{%s}\n", body);
    p = write_tmp(text);
    assert_int_equal(sim_model_lookup(p, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "missing 'max_position_embeddings'"));
    unlink(p);
    snprintf(text, sizeof(text), "{%s, \"n_positions\": 1024}\n", body);
    p = write_tmp(text);
    assert_int_equal(sim_model_lookup(p, &m, err, sizeof(err)), 0);
    assert_int_equal(m.max_len, 1024);
    unlink(p);

    char dir[] = "/tmp/kvsim_model_XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(sim_model_lookup(dir, &m, err, sizeof(err)), -1);
    snprintf(path, sizeof(path), "%s/config.json: cannot open", dir);
    if (strstr(err, path) == NULL)
        fail_msg("--model DIR without config.json: '%s'", err);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{%s, \"max_position_embeddings\": 4096}\n", body);
    fclose(f);
    assert_int_equal(sim_model_lookup(dir, &m, err, sizeof(err)), 0);
    assert_string_equal(m.name, strrchr(dir, '/') + 1);
    assert_int_equal(m.layers, 4);
    unlink(path);
    rmdir(dir);
}

static int parse(const char *json, sim_model *m, char *err, size_t errlen)
{
    return sim_model_parse(json, strlen(json), "test.json", m, err, errlen);
}

/* Mixture of experts under every key real configs use, and latent
 * attention. Expected values: the model cards' published counts
 * (Qwen3-30B-A3B 30.5B total / 3.3B activated; DeepSeek-V2-Lite 15.7B /
 * 2.4B activated, which leaves out the 209.7M input embedding;
 * Qwen1.5-MoE-A2.7B 14.3B / 2.7B) and, exactly, the layer-by-layer sums
 * written out in the catalog files' notes. DeepSeek-V2-Lite's KV:
 * 27 layers x (512 latent + 64 rope) x 2 bytes = 31,104 (a GQA reading of
 * its 16 KV heads x 192 would give 221,184). */
static void test_moe_and_mla(void **state)
{
    (void)state;
    char err[512];
    sim_model m;
    assert_int_equal(sim_model_lookup("qwen3-30b-a3b", &m, err, sizeof(err)), 0);
    assert_int_equal(m.params_total, 30532122624ull);
    assert_int_equal(m.params_active, 3353032704ull);
    assert_int_equal(m.moe_layers, 48);
    assert_true(fabs((double)m.params_total * 2 / 1073741824.0 - 56.87) < 0.01);
    assert_int_equal(sim_model_lookup("deepseek-v2-lite", &m, err, sizeof(err)), 0);
    assert_int_equal(m.params_total, 15706484224ull);
    assert_int_equal(m.params_active, 2661150208ull);
    assert_true(fabs((double)(m.params_active - 102400ull * 2048) / 1e9 - 2.45) < 0.01);
    assert_int_equal(m.moe_layers, 26);
    assert_int_equal(sim_model_kv_bytes_per_token(&m, 2.0), 31104);
    assert_int_equal(sim_model_lookup("qwen3-8b", &m, err, sizeof(err)), 0);
    assert_int_equal(m.params_total, 8190735360ull);
    /* Qwen1.5-MoE-A2.7B (config quoted in public parsers): 60 routed
     * experts of 1408, 4 per token, a shared expert of 5632 with its gate,
     * QKV biases (qwen2_moe). */
    static const char qwen15moe[] =
        "{\"model_type\": \"qwen2_moe\", \"hidden_size\": 2048, \"num_hidden_layers\": 24,"
        " \"num_attention_heads\": 16, \"num_key_value_heads\": 16, \"intermediate_size\": 5632,"
        " \"moe_intermediate_size\": 1408, \"shared_expert_intermediate_size\": 5632,"
        " \"vocab_size\": 151936, \"max_position_embeddings\": 8192, \"num_experts\": 60,"
        " \"num_experts_per_tok\": 4, \"norm_topk_prob\": false, \"decoder_sparse_step\": 1,"
        " \"tie_word_embeddings\": false}";
    assert_int_equal(parse(qwen15moe, &m, err, sizeof(err)), 0);
    assert_int_equal(m.params_total, 14315784192ull);
    assert_int_equal(m.params_active, 2689173504ull);
    /* Mixtral's key (num_local_experts) keeps its reference count. */
    assert_int_equal(sim_model_lookup("mixtral-8x7b", &m, err, sizeof(err)), 0);
    assert_int_equal(m.params_total, 46702792704ull);
    assert_int_equal(m.params_active, 12879925248ull);
}

/* What kvsim does not model is refused with the field named, never read
 * as a dense model. */
/* AMD int8 rates (the rate llama.cpp's quantized prompt kernels multiply
 * at): CUs x 512 int8 ops/clock x boost on RDNA2 (v_dot4_i32_i8, four
 * times the FP32 rate: Microsoft's RDNA2 Xbox Series X GPU, 52 CUs at
 * 1.825 GHz, 12.15 FP32 TFLOPS and 49 int8 TOPS) and on RDNA3 (WMMA IU8
 * at the FP16 WMMA rate). */
static void test_amd_int8_rates(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        double cus, ghz;
    } parts[] = {{"rx-6900-xt", 80, 2.25},   {"rx-6800-xt", 72, 2.25}, {"rx-6700-xt", 40, 2.581},
                 {"rx-7900-xtx", 96, 2.498}, {"rx-7900-xt", 84, 2.4},  {"rx-7900-gre", 80, 2.245},
                 {"rx-7800-xt", 60, 2.43}};
    char err[512];
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        sim_gpu g;
        if (sim_gpu_lookup(parts[i].name, &g, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        double want = parts[i].cus * 512 * parts[i].ghz * 1e9;
        if (fabs(g.int8_ops / want - 1) > 0.005)
            fail_msg("%s: int8 %.4g, want %.4g", parts[i].name, g.int8_ops, want);
        /* RDNA2: four times the FP32 rate its fp16_tflops holds; RDNA3:
         * the FP16 WMMA rate. */
        double ratio = strcmp(g.arch, "rdna2") == 0 ? 4.0 : 1.0;
        if (fabs(g.int8_ops / (ratio * g.fp16_flops) - 1) > 0.005)
            fail_msg("%s: int8 %.4g against fp16 %.4g", parts[i].name, g.int8_ops, g.fp16_flops);
    }
}

/* catalog/gpus.csv sm_count and boost_mhz. Expected values come from the
 * vendors' figures (NVIDIA A100/H100/Ada whitepapers, AMD's ROCm spec
 * table and MI300X peak engine clock), read in the sources the rows cite:
 * A100 108 SMs at 1410 MHz, H100 SXM5 132 at 1980, H100 PCIe 114 at 1755,
 * L40S 142 at 2520, RTX 4090 128 at 2520, RTX 3090 82 at 1695, MI300X 304
 * CUs at 2100. */
static void test_sm_counts_and_clocks(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint32_t sms;
        double mhz;
    } parts[] = {{"a100-80gb", 108, 1410}, {"a100-40gb", 108, 1410}, {"h100-sxm", 132, 1980},
                 {"h100-pcie", 114, 1755}, {"l40s", 142, 2520},      {"rtx-4090", 128, 2520},
                 {"rtx-3090", 82, 1695},   {"mi300x", 304, 2100}};
    char err[512];
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        sim_gpu g;
        if (sim_gpu_lookup(parts[i].name, &g, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        if (g.sm_count != parts[i].sms || fabs(g.boost_hz - parts[i].mhz * 1e6) > 0.5)
            fail_msg("%s: %u SMs at %.0f MHz, want %u at %.0f", parts[i].name, g.sm_count,
                     g.boost_hz / 1e6, parts[i].sms, parts[i].mhz);
    }
    /* Every NVIDIA, AMD and Intel GPU row (all carry a bandwidth) has both
     * figures, except boost clocks no source gives: NVIDIA publishes none
     * for the B200 and the RTX PRO 6000 Blackwell, AWS none for the A10G.
     * Apple's GPUs and the CPUs have neither. */
    static const char *const no_boost[] = {"b200", "a10g", "rtx-pro-6000"};
    size_t filled = 0;
    for (size_t i = 0; i < sim_gpu_count(); i++) {
        sim_gpu g;
        assert_int_equal(sim_gpu_at(i, &g), 0);
        assert_true(strlen(g.source) + 1 < sizeof(g.source)); /* nothing cut */
        assert_true(strlen(g.notes) + 1 < sizeof(g.notes));
        bool cpu = strncmp(g.name, "cpu-", 4) == 0;
        if (strcmp(g.vendor, "Apple") == 0 || cpu) {
            if (g.sm_count != 0 || g.boost_hz != 0)
                fail_msg("%s: an Apple GPU or a CPU has no sm_count/boost_mhz", g.name);
            continue;
        }
        assert_true(g.mem_bw_Bps > 0);
        bool exempt = false;
        for (size_t k = 0; k < sizeof(no_boost) / sizeof(no_boost[0]); k++)
            exempt |= strcmp(g.name, no_boost[k]) == 0;
        if (g.sm_count == 0 || (g.boost_hz == 0) != exempt)
            fail_msg("%s: %u SMs, boost %.0f MHz%s", g.name, g.sm_count, g.boost_hz / 1e6,
                     exempt ? " (listed without a boost clock)" : "");
        if (g.sm_count > 0 && strstr(g.source, "SMs") == NULL)
            fail_msg("%s: sm_count without its source", g.name);
        /* GeForce RTX (Turing to Blackwell): the row's FP32-accumulate
         * tensor rate is 512 FLOP per SM per clock at boost (4 x the FP32
         * rate of 128 lanes, or Turing's 8 x 64, halved), so the new
         * columns agree with the rates derived before them. */
        if (strstr(g.display, "GeForce RTX") != NULL) {
            double want = g.sm_count * 512.0 * g.boost_hz;
            if (fabs(g.fp16_flops / want - 1) > 0.01)
                fail_msg("%s: fp16 %.4g against %u SMs x 512 x %.0f MHz", g.name, g.fp16_flops,
                         g.sm_count, g.boost_hz / 1e6);
        }
        filled++;
    }
    assert_true(filled >= 70);
}

/* A malformed sm_count or boost_mhz is refused with one line naming the
 * file, the line the record starts on, and the column. */
static void test_bad_sm_columns(void **state)
{
    (void)state;
    static const char head[] = "name,display_name,vendor,memory_mib,mem_bw_gbps,fp16_tflops,"
                               "sm_count,boost_mhz\n"
                               "ok,\"Two\nlines\",NVIDIA,1024,100,10,108,1410.5\n"
                               "apple,Apple,Apple,1024,100,10,,\n";
    static const struct {
        const char *row, *want;
    } bad[] = {
        {"x,X,NVIDIA,1024,100,10,10.5,1410",
         "t.csv:5: column 'sm_count': '10.5' is not a whole number"},
        {"x,X,NVIDIA,1024,100,10,-3,1410",
         "t.csv:5: column 'sm_count': '-3' is not a whole number"},
        {"x,X,NVIDIA,1024,100,10,0,1410",
         "t.csv:5: column 'sm_count': '0' is not a count in [1, 100000]"},
        {"x,X,NVIDIA,1024,100,10,99999999999,1410",
         "t.csv:5: column 'sm_count': '99999999999' is not a count in [1, 100000]"},
        {"x,X,NVIDIA,1024,100,10,108,fast",
         "t.csv:5: column 'boost_mhz': 'fast' is not a clock in MHz"},
        {"x,X,NVIDIA,1024,100,10,108,1.4 GHz",
         "t.csv:5: column 'boost_mhz': '1.4 GHz' is not a clock in MHz"},
        {"x,X,NVIDIA,1024,100,10,108,0", "t.csv:5: column 'boost_mhz': '0' is not a clock in MHz"},
        {"x,X,NVIDIA,1024,100,10,\"1\n2\",1410", /* a quoted field over two lines: one line */
         "t.csv:5: column 'sm_count': '1?2' is not a whole number"},
    };
    sim_gpu table[4];
    size_t n = 0;
    char text[512], err[512];
    assert_int_equal(sim_gpu_catalog_parse(head, "t.csv", table, 4, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_int_equal(table[0].sm_count, 108);
    assert_true(fabs(table[0].boost_hz - 1410.5e6) < 1);
    assert_int_equal(table[1].sm_count, 0); /* empty: unknown */
    assert_true(table[1].boost_hz == 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "%s%s\n", head, bad[i].row);
        err[0] = '\0';
        assert_int_equal(sim_gpu_catalog_parse(text, "t.csv", table, 4, &n, err, sizeof(err)), -1);
        assert_string_equal(err, bad[i].want);
    }
}

static void test_refused_configs(void **state)
{
    (void)state;
    char err[512];
    sim_model m;
    static const char base[] = "\"hidden_size\": 2048, \"num_hidden_layers\": 4,"
                               " \"num_attention_heads\": 16, \"intermediate_size\": 5632,"
                               " \"vocab_size\": 32000, \"max_position_embeddings\": 4096";
    char text[1024];
    snprintf(text, sizeof(text), "{%s, \"model_type\": \"mamba\"}", base);
    assert_int_equal(parse(text, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "model_type 'mamba'"));
    snprintf(text, sizeof(text), "{%s, \"model_type\": \"llama\", \"text_config\": {}}", base);
    assert_int_equal(parse(text, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'text_config'"));
    snprintf(text, sizeof(text),
             "{%s, \"model_type\": \"qwen3_moe\", \"num_experts\": 8, \"num_experts_per_tok\": 2,"
             " \"expert_capacity_factor\": 1.25}",
             base);
    assert_int_equal(parse(text, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'expert_capacity_factor'"));
    snprintf(text, sizeof(text), "{%s, \"moe_intermediate_size\": 768}", base);
    assert_int_equal(parse(text, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "without an expert count"));
    snprintf(text, sizeof(text),
             "{%s, \"model_type\": \"mixtral\", \"num_local_experts\": 8, \"num_experts\": 16,"
             " \"num_experts_per_tok\": 2}",
             base);
    assert_int_equal(parse(text, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than one expert count"));
    snprintf(text, sizeof(text),
             "{%s, \"model_type\": \"qwen3\", \"layer_types\": [\"full_attention\","
             " \"linear_attention\", \"full_attention\", \"full_attention\"]}",
             base);
    assert_int_equal(parse(text, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "layer_types[1] 'linear_attention'"));
    /* At the fields' bounds the count would wrap 64 bits: refused. */
    static const char huge[] =
        "{\"model_type\": \"qwen3_moe\", \"hidden_size\": 1048576, \"num_hidden_layers\": 16384,"
        " \"num_attention_heads\": 16384, \"intermediate_size\": 4194304,"
        " \"moe_intermediate_size\": 4194304, \"num_experts\": 4096, \"num_experts_per_tok\": 8,"
        " \"vocab_size\": 16777216, \"max_position_embeddings\": 4096}";
    assert_int_equal(parse(huge, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a real model"));
    /* Found by fuzzing (tests/fuzz/fuzz_model.c): an OPT config with a
     * head_dim that does not make hidden x hidden projections wrapped the
     * per-GPU split; a key with a newline made a two-line message. */
    snprintf(text, sizeof(text), "{%s, \"model_type\": \"opt\", \"head_dim\": 256}", base);
    assert_int_equal(parse(text, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "an OPT config needs"));
    snprintf(text, sizeof(text), "{%s, \"moe\\nrouting\": 1}", base);
    assert_int_equal(parse(text, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'moe?routing'"));
    /* A quantized checkpoint: vLLM picks the format from quant_method. */
    snprintf(text, sizeof(text),
             "{%s, \"quantization_config\": {\"quant_method\": \"awq\", \"bits\": 4,"
             " \"group_size\": 128}}",
             base);
    assert_int_equal(parse(text, &m, err, sizeof(err)), 0);
    assert_string_equal(m.quantization, "awq:group=128");
    snprintf(text, sizeof(text), "{%s, \"model_type\": \"deepseek_v2\", \"kv_lora_rank\": 512}",
             base);
    assert_int_equal(parse(text, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "qk_rope_head_dim"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_bytes_per_token),   cmocka_unit_test(test_required_names_resolve),
        cmocka_unit_test(test_param_counts),         cmocka_unit_test(test_unknown_names_suggest),
        cmocka_unit_test(test_config_json_path),     cmocka_unit_test(test_config_json_quirks),
        cmocka_unit_test(test_moe_and_mla),          cmocka_unit_test(test_refused_configs),
        cmocka_unit_test(test_names_any_case),       cmocka_unit_test(test_amd_int8_rates),
        cmocka_unit_test(test_sm_counts_and_clocks), cmocka_unit_test(test_bad_sm_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
