/*
 * test_measure.c: the measurements reader (sim/measure.h). A fixture with
 * good rows and one row per refusal reason, every line accounted for;
 * malformed files refused with file:line; the published-names file
 * consistent with the catalog; and, when ../shared is present, the
 * reference measurements.csv at least 90 % expressible, with the counts
 * by reason printed; the held-out check files in catalog/checks/ mapped
 * row by row.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim/measure.h"

static const char *source_dir(void)
{
    const char *d = getenv("KVSIM_SOURCE_DIR");
    return d ? d : ".";
}

static void expect_row(const sim_measurement *m, uint32_t line, const char *reason)
{
    if (m->line != line || strcmp(m->reason, reason) != 0)
        fail_msg("row '%s': line %u reason '%s' (%s); expected line %u reason '%s'", m->row_id,
                 m->line, m->reason, m->detail, line, reason);
    if (reason[0] != '\0' && strstr(m->detail, "fixture.csv:") == NULL)
        fail_msg("row '%s': detail '%s' does not name the file", m->row_id, m->detail);
}

static void test_fixture(void **state)
{
    (void)state;
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/tests/data/measurements/fixture.csv", source_dir());
    sim_measurement *rows = NULL;
    size_t n = 0;
    if (sim_measurements_read(path, &rows, &n, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    /* 21 lines after the header: one blank (skipped) and one record over two lines. */
    assert_int_equal(n, 19);

    /* llama-bench tg128: an empty cache, no flash attention, the stated spread. */
    const sim_measurement *m = &rows[0];
    expect_row(m, 2, "");
    assert_string_equal(m->engine, "llamacpp");
    assert_string_equal(m->backend, "cuda");
    assert_string_equal(m->bench, "llama-bench");
    assert_string_equal(m->gpu.name, "rtx-4090");
    assert_string_equal(m->model.name, "llama-2-7b");
    assert_string_equal(m->weights->name, "Q4_0");
    assert_string_equal(m->kv->name, "fp16");
    assert_string_equal(m->split_mode, "");
    assert_int_equal(m->metric, SIM_MEAS_DECODE_TOK_S);
    assert_int_equal(m->flash_attn, 0);
    assert_int_equal(m->input_tokens, 0);
    assert_int_equal(m->output_tokens, 128);
    assert_true(m->value == 186.21 && m->weights_gib == 3.56 && m->stddev == 1.1);
    assert_int_equal(m->layer_split, 1);
    assert_int_equal(m->tp, 1);

    m = &rows[1];
    expect_row(m, 3, "");
    assert_int_equal(m->metric, SIM_MEAS_PREFILL_TOK_S);
    assert_int_equal(m->flash_attn, 1);
    assert_true(m->stddev == 20);

    /* llama.cpp main on two GPUs, a Dec 2023 build: rows split (the default
     * before llama.cpp#4606), LLaMA-1 65B. */
    m = &rows[2];
    expect_row(m, 4, "");
    assert_string_equal(m->bench, "main");
    assert_string_equal(m->model.name, "llama-1-65b");
    assert_string_equal(m->split_mode, "row");
    assert_int_equal(m->layer_split, 1);
    assert_int_equal(m->tp, 2);
    assert_int_equal(m->flash_attn, -1);
    assert_true(m->weights_gib == 0);

    /* TensorRT-LLM: TP from the notes, fp8 weights and fp8 KV. */
    m = &rows[3];
    expect_row(m, 5, "");
    assert_string_equal(m->engine, "trtllm");
    assert_string_equal(m->backend, "");
    assert_string_equal(m->bench, "gptSessionBenchmark");
    assert_string_equal(m->gpu.name, "h100-sxm");
    assert_string_equal(m->model.name, "llama-2-70b");
    assert_int_equal(m->tp, 2);
    assert_int_equal(m->layer_split, 1);
    assert_string_equal(m->split_mode, "tensor");
    assert_int_equal(m->batch, 1024);
    assert_int_equal(m->metric, SIM_MEAS_OUTPUT_TOK_S_PER_GPU);
    assert_string_equal(m->weights->name, "fp8");
    assert_string_equal(m->kv->name, "fp8");

    /* Quoted fields with commas and doubled quotes. */
    m = &rows[4];
    expect_row(m, 6, "");
    assert_string_equal(m->device, "Apple M2 Ultra (76-core GPU, 192GB)");
    assert_string_equal(m->model_name, "LLaMA(-2) 7B (llama-bench \"llama 7B\", 6.74B params)");
    assert_string_equal(m->gpu.name, "m2-ultra");
    assert_string_equal(m->backend, "metal");
    assert_true(m->memory_gb == 192);
    assert_true(rows[0].memory_gb == 0);
    assert_true(rows[3].memory_gb == 80); /* H100 80GB SXM (HBM3) */

    expect_row(&rows[5], 7, "unknown device");
    assert_non_null(strstr(rows[5].detail, "fixture.csv:7: column 'device': 'Foo X'"));
    expect_row(&rows[6], 8, "unknown model");
    expect_row(&rows[7], 9, "bad number");
    assert_non_null(strstr(rows[7].detail, "column 'value': 'fast'"));
    expect_row(&rows[8], 10, "unsupported precision");
    /* Line 11 is blank; the next record runs over lines 12 and 13. */
    expect_row(&rows[9], 12, "missing field");
    assert_non_null(strstr(rows[9].detail, "column 'metric' is empty"));
    expect_row(&rows[10], 14, "unsupported metric");
    expect_row(&rows[11], 15, "ambiguous device");
    expect_row(&rows[12], 16, "runs on the host CPU");
    expect_row(&rows[13], 17, "malformed row");
    expect_row(&rows[14], 18, "bad number");
    assert_non_null(strstr(rows[14].detail, "column 'batch_size'"));
    /* Catalog names work as they are; a GGUF type is not a TensorRT-LLM precision. */
    expect_row(&rows[15], 19, "unsupported precision");
    expect_row(&rows[16], 20, "unit mismatch");
    /* -sm layer stated: layers split; flash attention from "-fa 1". */
    m = &rows[17];
    expect_row(m, 21, "");
    assert_string_equal(m->split_mode, "layer");
    assert_int_equal(m->layer_split, 2);
    assert_int_equal(m->tp, 1);
    assert_int_equal(m->flash_attn, 1);
    /* Two GPUs, no -sm, a build whose default split kvsim does not know. */
    expect_row(&rows[18], 22, "split mode not stated");
    sim_measurements_free(rows);
}

/* A malformed file fails as a whole, with one line naming file:line. */
static void expect_file_error(const char *text, const char *want)
{
    sim_measurement *rows = (sim_measurement *)(uintptr_t)1;
    size_t n = 99;
    char err[512] = "";
    assert_int_equal(
        sim_measurements_parse(text, strlen(text), "m.csv", &rows, &n, err, sizeof(err)), -1);
    if (strstr(err, want) == NULL)
        fail_msg("error '%s' lacks '%s'", err, want);
    assert_null(strchr(err, '\n'));
    assert_true(rows == (sim_measurement *)(uintptr_t)1 && n == 99);
}

static void test_malformed_files(void **state)
{
    (void)state;
    static const char header[] = "device,device_count,framework,model,precision_quant,"
                                 "batch_size,input_tokens,output_tokens,metric,value,unit\n";
    expect_file_error("", "m.csv:1: empty file");
    expect_file_error("device,framework\nRTX 4090,x\n", "m.csv:1: header has no 'device_count'");
    char text[1024];
    snprintf(text, sizeof(text),
             "%sRTX 4090,1,llama.cpp (CUDA) main,Llama-2 7B,Q4_0,1,1,2,decode_tok_s,1,tokens/s\n"
             "\"RTX 4090,1,x\n",
             header);
    expect_file_error(text, "m.csv:3: unterminated quoted field");
    char nul[256];
    size_t hl = strlen(header);
    memcpy(nul, header, hl);
    memcpy(nul + hl, "RTX\0", 4);
    sim_measurement *rows;
    size_t n;
    char err[256];
    assert_int_equal(sim_measurements_parse(nul, hl + 4, "m.csv", &rows, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "m.csv:2: NUL byte"));
    assert_int_equal(sim_measurements_read("/nonexistent/m.csv", &rows, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/m.csv: cannot open"));

    /* A header alone is a file without rows; CRLF and a BOM are accepted;
     * columns in any order, extra ones ignored. */
    assert_int_equal(
        sim_measurements_parse(header, strlen(header), "m.csv", &rows, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    sim_measurements_free(rows);
    static const char crlf[] =
        "\xEF\xBB\xBFvalue,unit,extra,device,device_count,framework,model,precision_quant,"
        "batch_size,input_tokens,output_tokens,metric\r\n"
        "55.5,tokens/s,zz,RTX 4090,1,llama.cpp (CUDA) main,Llama-2 7B,Q8_0,1,494,1024,"
        "decode_tok_s\r\n";
    assert_int_equal(
        sim_measurements_parse(crlf, strlen(crlf), "m.csv", &rows, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    if (rows[0].reason[0] != '\0')
        fail_msg("%s: %s", rows[0].reason, rows[0].detail);
    assert_true(rows[0].value == 55.5);
    assert_string_equal(rows[0].weights->name, "Q8_0");
    sim_measurements_free(rows);
    /* A quoted field with line breaks, echoed in a refusal: the detail is
     * one line (fuzz_measure found a model name spanning three lines). */
    static const char multi[] =
        "value,unit,device,device_count,framework,model,precision_quant,batch_size,"
        "input_tokens,output_tokens,metric\n"
        "55.5,tokens/s,RTX 4090,1,llama.cpp (CUDA) main,\"Mystery\n7B\r\nmodel\",Q8_0,1,494,"
        "1024,decode_tok_s\n";
    assert_int_equal(
        sim_measurements_parse(multi, strlen(multi), "m.csv", &rows, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].reason, "unknown model");
    assert_null(strchr(rows[0].detail, '\n'));
    assert_null(strchr(rows[0].detail, '\r'));
    sim_measurements_free(rows);
    /* Two files joined with cat: the second header is named as such, not
     * counted as a bad number ('value' in the value column). */
    static const char joined[] =
        "value,unit,device,device_count,framework,model,precision_quant,batch_size,"
        "input_tokens,output_tokens,metric\n"
        "value,unit,device,device_count,framework,model,precision_quant,batch_size,"
        "input_tokens,output_tokens,metric\n";
    assert_int_equal(
        sim_measurements_parse(joined, strlen(joined), "m.csv", &rows, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].reason, "repeated header");
    assert_non_null(strstr(rows[0].detail, "m.csv:2: the header line again"));
    sim_measurements_free(rows);
    sim_measurements_free(NULL);
}

/* Conditions read from the notes: flash attention as a phrase, not inside
 * a word; the spread; the host's PCIe generation; TensorRT-LLM's TP size. */
/* The release a build column states: "v0.6.1" is 6, "v0.10.0" 10, "v1.2"
 * 102; a llama.cpp commit or a date none (0). */
static void test_build_version(void **state)
{
    (void)state;
    static const struct {
        const char *build;
        uint32_t version;
    } v[] = {{"v0.6.1", 6},
             {"v0.10.0", 10},
             {"TensorRT-LLM v1.2 (2025)", 102},
             {"8e672ef (2023-11-21)", 0},
             {"dev2.3", 0},
             {"v3", 0}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "device,device_count,framework,build,model,precision_quant,batch_size,"
                 "input_tokens,output_tokens,metric,value,unit,notes\n"
                 "RTX 4090,1,llama.cpp (CUDA) llama-bench -ngl 99,%s,Llama-2 7B,Q4_0,1,0,128,"
                 "decode_tok_s,100,tokens/s,\n",
                 v[i].build);
        sim_measurement *rows;
        size_t n;
        char err[256];
        assert_int_equal(
            sim_measurements_parse(text, strlen(text), "v.csv", &rows, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 1);
        if (rows[0].version != v[i].version)
            fail_msg("'%s': version %u, want %u", v[i].build, rows[0].version, v[i].version);
        sim_measurements_free(rows);
    }
}

static void test_conditions(void **state)
{
    (void)state;
    static const struct {
        const char *notes;
        int fa;
        double stddev, host_Bps;
    } v[] = {
        {"pp512/tg128, no FA; stddev \xC2\xB1 0.5", 0, 0.5, 0},
        {"pp512/tg128, with FA; stddev +-3", 1, 3, 0},
        {"no fallback, FAST mode", -1, 0, 0},
        {"-fa 1", 1, 0, 0},
        {"flash attention off", 0, 0, 0},
        {"snapshot Dec 2023; host PCIe 3.0 (Intel Xeon E5-2696 v3)", -1, 0, 16e9},
        {"host pcie 4.0", -1, 0, 32e9},
        {"host PCIe 3.5; PCIe 4.0 card", -1, 0, 0},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "device,device_count,framework,model,precision_quant,batch_size,input_tokens,"
                 "output_tokens,metric,value,unit,notes\n"
                 "RTX 4090,1,llama.cpp (CUDA) llama-bench -ngl 99,Llama-2 7B,Q4_0,1,0,128,"
                 "decode_tok_s,100,tokens/s,\"%s\"\n",
                 v[i].notes);
        sim_measurement *rows;
        size_t n;
        char err[256];
        assert_int_equal(
            sim_measurements_parse(text, strlen(text), "c.csv", &rows, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 1);
        if (rows[0].flash_attn != v[i].fa || rows[0].stddev != v[i].stddev ||
            rows[0].host_link_Bps != v[i].host_Bps)
            fail_msg("'%s': flash_attn %d stddev %g host %g, expected %d %g %g", v[i].notes,
                     rows[0].flash_attn, rows[0].stddev, rows[0].host_link_Bps, v[i].fa,
                     v[i].stddev, v[i].host_Bps);
        assert_string_equal(rows[0].reason, "");
        sim_measurements_free(rows);
    }
    /* TP=4 on 4 GPUs; TP=2 on 4 GPUs is inconsistent; 4 GPUs without TP unstated. */
    static const struct {
        const char *count, *notes, *reason;
    } t[] = {{"4", "TP=4; Low Latency", ""},
             {"4", "TP=2", "inconsistent parallelism"},
             {"4", "Low Latency", "parallelism not stated"},
             {"1", "https://x/tp1", ""}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "device,device_count,framework,model,precision_quant,batch_size,input_tokens,"
                 "output_tokens,metric,value,unit,notes\n"
                 "H100 80GB SXM (HBM3),%s,TensorRT-LLM (v0.5),LLaMA 70B (Llama-2-70b),FP8,1,128,1,"
                 "ttft_ms,26,ms,%s\n",
                 t[i].count, t[i].notes);
        sim_measurement *rows;
        size_t n;
        char err[256];
        assert_int_equal(
            sim_measurements_parse(text, strlen(text), "t.csv", &rows, &n, err, sizeof(err)), 0);
        if (strcmp(rows[0].reason, t[i].reason) != 0)
            fail_msg("'%s' on %s GPUs: reason '%s' (%s), expected '%s'", t[i].notes, t[i].count,
                     rows[0].reason, rows[0].detail, t[i].reason);
        if (t[i].reason[0] == '\0')
            assert_int_equal(rows[0].tp, (uint32_t)atoi(t[i].count));
        sim_measurements_free(rows);
    }
}

/* The build column's year and month: the first "Mon YYYY" or ISO date;
 * none in a bare commit hash, a month without a year, a word that merely
 * ends in a month's letters, or a date inside a longer number. */
static void test_build_month(void **state)
{
    (void)state;
    static const struct {
        const char *build;
        uint32_t ym;
    } v[] = {
        {"build 1026 (c63bb1d), Aug 2023 (as the M1 Max notebooks log)", 202308},
        {"Dec 2023 master (see notebooks)", 202312},
        {"8e672ef (2023-11-21) for original rows; Jan 2025 later", 202311},
        {"8e672ef", 0},
        {"Aug build", 0},
        {"Maug 2023", 0},
        {"12023-11-21", 0},
        {"2023-13-01", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "device,device_count,framework,build,model,precision_quant,batch_size,"
                 "input_tokens,output_tokens,metric,value,unit\n"
                 "RTX 4090,1,llama.cpp (CUDA) llama-bench -ngl 99,\"%s\",Llama-2 7B,Q4_0,1,0,128,"
                 "decode_tok_s,100,tokens/s\n",
                 v[i].build);
        sim_measurement *rows;
        size_t n;
        char err[256];
        assert_int_equal(
            sim_measurements_parse(text, strlen(text), "b.csv", &rows, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 1);
        if (rows[0].build_ym != v[i].ym)
            fail_msg("'%s': build_ym %u, expected %u", v[i].build, rows[0].build_ym, v[i].ym);
        sim_measurements_free(rows);
    }
}

/* latency_s is a static batch's seconds: unit "s", a batch above 1 allowed,
 * prompt and output both needed; "ms" is a unit mismatch. */
static void test_latency_metric(void **state)
{
    (void)state;
    static const struct {
        const char *batch, *in, *unit, *reason;
    } t[] = {{"64", "128", "s", ""},
             {"1", "128", "ms", "unit mismatch"},
             {"8", "0", "s", "inconsistent tokens"}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "device,device_count,framework,model,precision_quant,batch_size,input_tokens,"
                 "output_tokens,metric,value,unit\n"
                 "H100 80GB SXM (HBM3),1,vLLM benchmark_latency.py (LLM-Inference-Bench),"
                 "meta-llama/Meta-Llama-3-8B,float16,%s,%s,128,latency_s,1.69,%s\n",
                 t[i].batch, t[i].in, t[i].unit);
        sim_measurement *rows;
        size_t n;
        char err[256];
        assert_int_equal(
            sim_measurements_parse(text, strlen(text), "l.csv", &rows, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 1);
        if (strcmp(rows[0].reason, t[i].reason) != 0)
            fail_msg("batch %s, input %s, unit %s: reason '%s' (%s), expected '%s'", t[i].batch,
                     t[i].in, t[i].unit, rows[0].reason, rows[0].detail, t[i].reason);
        if (t[i].reason[0] == '\0') {
            assert_int_equal(rows[0].metric, SIM_MEAS_LATENCY_S);
            assert_string_equal(rows[0].engine, "vllm");
            assert_string_equal(rows[0].model.name, "llama-3.1-8b");
            assert_string_equal(rows[0].weights->name, "fp16");
            assert_string_equal(sim_meas_metric_name(rows[0].metric), "latency_s");
        }
        sim_measurements_free(rows);
    }
}

/* Every mapping names something that exists: a catalog GPU or model, a
 * precision kvsim parses, a framework as engine/backend/bench. */
static void test_published_names(void **state)
{
    (void)state;
    size_t n = sim_published_name_count();
    assert_true(n > 50);
    for (size_t i = 0; i < n; i++) {
        const char *kind, *pub, *cat;
        assert_int_equal(sim_published_name_at(i, &kind, &pub, &cat), 0);
        char err[256];
        if (strcmp(kind, "device") == 0) {
            sim_gpu g;
            if (cat[0] != '\0' &&
                (sim_gpu_lookup(cat, &g, err, sizeof(err)) != 0 || strcmp(g.name, cat) != 0))
                fail_msg("device '%s' maps to '%s', not a catalog GPU", pub, cat);
        } else if (strcmp(kind, "model") == 0) {
            sim_model m;
            if (cat[0] != '\0' &&
                (sim_model_lookup(cat, &m, err, sizeof(err)) != 0 || strcmp(m.name, cat) != 0))
                fail_msg("model '%s' maps to '%s', not a catalog model", pub, cat);
        } else if (strcmp(kind, "precision") == 0) {
            char spec[96];
            snprintf(spec, sizeof(spec), "%s", cat);
            char *kv = strstr(spec, ";kv=");
            if (kv)
                *kv = '\0';
            if (!sim_weight_format_parse(spec, err, sizeof(err)))
                fail_msg("precision '%s' -> '%s': %s", pub, cat, err);
            if (kv && !sim_kv_format_parse(kv + 4, NULL, err, sizeof(err)))
                fail_msg("precision '%s' -> '%s': %s", pub, cat, err);
        } else if (strcmp(kind, "build") == 0) {
            if (strcmp(cat, "sm=row") != 0 && strcmp(cat, "sm=layer") != 0)
                fail_msg("build '%s' -> '%s': not sm=row or sm=layer", pub, cat);
        } else if (strcmp(kind, "framework") == 0) {
            const char *s1 = strchr(cat, '/');
            if (!s1 || !strchr(s1 + 1, '/'))
                fail_msg("framework '%s' -> '%s': not engine/backend/bench", pub, cat);
        } else {
            fail_msg("unknown kind '%s'", kind);
        }
        /* No published name twice within a kind. */
        for (size_t j = 0; j < i; j++) {
            const char *k2, *p2, *c2;
            assert_int_equal(sim_published_name_at(j, &k2, &p2, &c2), 0);
            if (strcmp(k2, kind) == 0 && strcmp(p2, pub) == 0)
                fail_msg("%s '%s' listed twice", kind, pub);
        }
    }
}

/* The reference measurements (../shared, absent for users): at least 90 %
 * of the rows expressible, every data line one row, counts by reason. */
static void test_reference_file(void **state)
{
    (void)state;
    const char *shared = getenv("KVSIM_SHARED_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/reference/measurements.csv", shared ? shared : "../shared");
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("skipped: %s not present\n", path);
        skip();
    }
    fclose(f);
    sim_measurement *rows = NULL;
    size_t n = 0;
    char err[512];
    if (sim_measurements_read(path, &rows, &n, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_true(n >= 800);
    enum { MAXR = 32 };
    const char *reasons[MAXR];
    size_t counts[MAXR], nr = 0, ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            assert_true(rows[i].line > rows[i - 1].line);
        if (rows[i].reason[0] == '\0') {
            ok++;
            assert_non_null(rows[i].weights);
            assert_non_null(rows[i].kv);
            assert_true(rows[i].gpu.mem_bw_Bps > 0 && rows[i].gpu.fp16_flops > 0);
            assert_true(rows[i].engine[0] != '\0');
            continue;
        }
        assert_true(rows[i].detail[0] != '\0');
        size_t k = 0;
        while (k < nr && strcmp(reasons[k], rows[i].reason) != 0)
            k++;
        if (k == nr) {
            assert_true(nr < MAXR);
            reasons[nr] = rows[i].reason;
            counts[nr++] = 0;
        }
        counts[k]++;
    }
    printf("%s: %zu rows, %zu expressible (%.1f %%)\n", path, n, ok,
           100.0 * (double)ok / (double)n);
    for (size_t k = 0; k < nr; k++) {
        printf("  %4zu %s\n", counts[k], reasons[k]);
        for (size_t i = 0, shown = 0; i < n && shown < 40; i++)
            if (strcmp(rows[i].reason, reasons[k]) == 0 &&
                (i == 0 || strcmp(rows[i].device, rows[i - 1].device) != 0 ||
                 strcmp(rows[i - 1].reason, reasons[k]) != 0)) {
                printf("       %s\n", rows[i].detail);
                shown++;
            }
    }
    /* Expressible rows by source and by multi-GPU split, for the record. */
    const char *srcs[16];
    size_t src_ok[16], src_all[16], ns = 0, split[4] = {0};
    static const char *const splits[4] = {"", "row", "layer", "tensor"};
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < ns && strcmp(srcs[k], rows[i].source_id) != 0)
            k++;
        if (k == ns && ns < 16) {
            srcs[ns] = rows[i].source_id;
            src_ok[ns] = src_all[ns] = 0;
            ns++;
        }
        if (k < ns) {
            src_all[k]++;
            src_ok[k] += rows[i].reason[0] == '\0';
        }
        for (int j = 0; j < 4; j++)
            if (rows[i].reason[0] == '\0' && strcmp(rows[i].split_mode, splits[j]) == 0)
                split[j]++;
    }
    for (size_t k = 0; k < ns; k++)
        printf("  source %-12s %4zu of %4zu expressible\n", srcs[k], src_ok[k], src_all[k]);
    printf("  expressible by split: one GPU %zu, llama.cpp row %zu, layer %zu, tensor %zu\n",
           split[0], split[1], split[2], split[3]);
    if ((double)ok < 0.9 * (double)n)
        fail_msg("%zu of %zu rows expressible, under 90 %%", ok, n);
    sim_measurements_free(rows);
}

/* The held-out check files (catalog/checks/, never fitted): every row maps
 * onto the catalog through published_names.csv, a multi-GPU row as
 * llama.cpp's layer split over its GPUs (the builds' rows there), a May
 * 2024 build, flash attention off, Llama-3 on the Llama-3.1 geometry. */
static void test_check_files(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        size_t rows;
    } files[] = {{"xj-llama3.csv", 819}, {"xj-llama3-main.csv", 70}};
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char path[4096], err[512];
        snprintf(path, sizeof(path), "%s/catalog/checks/%s", source_dir(), files[f].file);
        sim_measurement *rows = NULL;
        size_t n = 0;
        if (sim_measurements_read(path, &rows, &n, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        assert_int_equal(n, files[f].rows);
        size_t multi = 0;
        for (size_t i = 0; i < n; i++) {
            const sim_measurement *m = &rows[i];
            if (m->reason[0] != '\0')
                fail_msg("%s row %s: %s (%s)", files[f].file, m->row_id, m->reason, m->detail);
            assert_string_equal(m->source_id, "XJ-L3");
            assert_string_equal(m->engine, "llamacpp");
            assert_int_equal(m->build_ym, 202405);
            assert_int_equal(m->flash_attn, 0);
            if (strcmp(m->model.name, "llama-3.1-8b") != 0 &&
                strcmp(m->model.name, "llama-3.1-70b") != 0)
                fail_msg("%s row %s: model %s", files[f].file, m->row_id, m->model.name);
            if (m->device_count > 1) {
                multi++;
                assert_string_equal(m->split_mode, "layer");
                assert_int_equal(m->layer_split, m->device_count);
                assert_int_equal(m->tp, 1);
            }
        }
        assert_true(multi > 0);
        sim_measurements_free(rows);
    }
}

/* catalog/checks/trtllm-v09.csv (source TRTLLM-V09, never fitted):
 * TensorRT-LLM v0.9.0's Peak Throughput tables on H200, H100 SXM and
 * L40S, FP8 weights and KV: all 48 rows map (the H200 to the catalog's
 * SXM part), TensorRT-LLM tensor parallelism over the row's GPUs, v0.9 (XQA's
 * release line, v0.8 on: KV read once per KV head). */
static void test_trtllm_v09_check_file(void **state)
{
    (void)state;
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/catalog/checks/trtllm-v09.csv", source_dir());
    sim_measurement *rows = NULL;
    size_t n = 0;
    if (sim_measurements_read(path, &rows, &n, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(n, 48);
    size_t h200 = 0, multi = 0;
    for (size_t i = 0; i < n; i++) {
        const sim_measurement *m = &rows[i];
        if (m->reason[0] != '\0')
            fail_msg("row %s: %s (%s)", m->row_id, m->reason, m->detail);
        assert_string_equal(m->engine, "trtllm");
        assert_int_equal(m->version, 9);
        assert_int_equal(m->metric, SIM_MEAS_OUTPUT_TOK_S_PER_GPU);
        assert_string_equal(m->weights->name, "fp8");
        h200 += strcmp(m->gpu.name, "h200") == 0;
        if (m->device_count > 1) {
            multi++;
            assert_string_equal(m->split_mode, "tensor");
            assert_int_equal(m->tp, m->device_count);
        }
    }
    assert_int_equal(h200, 16);
    assert_true(multi > 0);
    sim_measurements_free(rows);
}

/* LLM-Inference-Bench's vLLM rows on two and four A100 40GB (Polaris):
 * held out in catalog/checks/alcf-lib.csv until 2026-12-01, then moved
 * into catalog/measurements.csv as rows 2412-2582 of source ALCF-LIB
 * (the study's one source: --cross holds the vllm preset's rows out by
 * device, and each device's fold needs rows at two TP sizes to fit
 * tp_step_ms). Every row maps, as static batches of vLLM timed end to
 * end (latency_s), tensor parallel over every GPU the row names. */
static void test_alcf_a100_tp_rows(void **state)
{
    (void)state;
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/catalog/measurements.csv", source_dir());
    sim_measurement *rows = NULL;
    size_t n = 0;
    if (sim_measurements_read(path, &rows, &n, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    size_t seen = 0, multi = 0;
    for (size_t i = 0; i < n; i++) {
        const sim_measurement *m = &rows[i];
        long id = strtol(m->row_id, NULL, 10);
        if (id < 2412 || id > 2582)
            continue;
        seen++;
        if (m->reason[0] != '\0')
            fail_msg("measurements.csv row %s: %s (%s)", m->row_id, m->reason, m->detail);
        assert_string_equal(m->source_id, "ALCF-LIB");
        assert_int_equal(m->metric, SIM_MEAS_LATENCY_S);
        assert_int_equal(m->tp, m->device_count);
        assert_int_equal(m->layer_split, 1);
        if (m->device_count > 1) {
            multi++;
            assert_string_equal(m->split_mode, "tensor");
        }
        assert_string_equal(m->engine, "vllm");
        assert_string_equal(m->gpu.name, "a100-40gb");
    }
    assert_int_equal(seen, 171);
    assert_true(multi > 0);
    sim_measurements_free(rows);
}

/* catalog/checks/vllm-v1.csv (source VLLM-V1): vLLM V1 static batches
 * (latency_s) whose GPU is Modal's "H100" of unstated form factor. The
 * device text is listed with an empty catalog entry, so every row is
 * refused as an ambiguous device and none is scored; with the device
 * pinned (here to h100-sxm) every other column maps. */
static void test_vllm_v1_check_file(void **state)
{
    (void)state;
    static const char modal[] =
        "NVIDIA H100 80GB (Modal gpu_config H100:1; SXM or PCIe not stated)";
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/catalog/checks/vllm-v1.csv", source_dir());
    sim_measurement *rows = NULL;
    size_t n = 0;
    if (sim_measurements_read(path, &rows, &n, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(rows[i].source_id, "VLLM-V1");
        assert_int_equal(rows[i].metric, SIM_MEAS_LATENCY_S);
        assert_string_equal(rows[i].reason, "ambiguous device");
        assert_string_equal(rows[i].engine, "vllm");
    }
    sim_measurements_free(rows);

    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[65536], pinned[65536];
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[len] = '\0';
    size_t k = 0;
    for (const char *p = text; *p;) {
        if (strncmp(p, modal, sizeof(modal) - 1) == 0) {
            k += (size_t)snprintf(pinned + k, sizeof(pinned) - k, "h100-sxm");
            p += sizeof(modal) - 1;
        } else {
            pinned[k++] = *p++;
        }
        assert_true(k < sizeof(pinned) - 16);
    }
    if (sim_measurements_parse(pinned, k, "vllm-v1.csv (h100-sxm)", &rows, &n, err, sizeof(err)) !=
        0)
        fail_msg("%s", err);
    assert_int_equal(n, 3);
    static const char *const models[] = {"llama-3.1-8b", "llama-3.1-8b", "qwen3-30b-a3b"};
    static const uint32_t versions[] = {6, 6, 10};
    for (size_t i = 0; i < n; i++) {
        if (rows[i].reason[0] != '\0')
            fail_msg("vllm-v1.csv row %s: %s (%s)", rows[i].row_id, rows[i].reason, rows[i].detail);
        assert_string_equal(rows[i].model.name, models[i]);
        assert_int_equal(rows[i].version, versions[i]);
        assert_int_equal(rows[i].tp, 1);
        assert_int_equal(rows[i].batch, 32);
    }
    sim_measurements_free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture),           cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_build_version),     cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_published_names),   cmocka_unit_test(test_reference_file),
        cmocka_unit_test(test_latency_metric),    cmocka_unit_test(test_build_month),
        cmocka_unit_test(test_check_files),       cmocka_unit_test(test_trtllm_v09_check_file),
        cmocka_unit_test(test_alcf_a100_tp_rows), cmocka_unit_test(test_vllm_v1_check_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
