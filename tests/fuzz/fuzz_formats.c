/*
 * fuzz_formats.c: a libFuzzer target for the parsers of issue 9: the
 * first byte picks --speculative-config JSON (sim/spec.c),
 * --kv-cache-dtype or --quantization (sim/formats.c), the rest is the
 * text. Any text must parse or fail with one non-empty line; what parses
 * keeps its guarantees (acceptance rates in [0, 1] and a mean length in
 * [1, k + 1]; positive, finite bytes on Llama-3.1-8B's shape). Texts with
 * '/' are skipped: a draft model path would read files.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/formats.h"
#include "sim/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(const char *what, const char *text, const char *err)
{
    if (err[0] == '\0' || strchr(err, '\n') != NULL) {
        fprintf(stderr, "fuzz_formats: %s: bad failure for '%s': '%s'\n", what, text, err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    char text[4097];
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (strlen(text) != size - 1 || strchr(text, '/') != NULL)
        return 0;
    static sim_model m;
    static int have_model = 0;
    char err[1024] = "";
    if (!have_model) {
        if (sim_model_lookup("llama-3.1-8b", &m, err, sizeof err) != 0)
            abort();
        have_model = 1;
    }
    switch (data[0] % 3) {
    case 0: {
        sim_spec_config s;
        if (sim_spec_parse(text, &s, err, sizeof err) != 0) {
            check_err("spec", text, err);
            return 0;
        }
        if (s.k < 1 || s.k > SIM_SPEC_MAX_K)
            abort();
        for (uint32_t i = 0; i < s.k; i++)
            if (!(s.cond[i] >= 0 && s.cond[i] <= 1))
                abort();
        double L = sim_spec_expected_tokens(s.cond, s.k);
        if (!(L >= 1 && L <= s.k + 1.0))
            abort();
        return 0;
    }
    case 1: {
        const sim_dtype *f = sim_kv_format_parse(text, sim_dtype_find("fp16"), err, sizeof err);
        if (f == NULL) {
            check_err("kv", text, err);
            return 0;
        }
        if (!(f->bytes > 0 && f->bytes <= 4) || !f->kv_ok)
            abort();
        if (sim_kv_format_check(f, &m, err, sizeof err) == 0 &&
            sim_kv_format_bytes_per_token(&m, f) == 0)
            abort();
        return 0;
    }
    default: {
        const sim_dtype *f = sim_weight_format_parse(text, err, sizeof err);
        if (f == NULL) {
            check_err("weights", text, err);
            return 0;
        }
        sim_weight_bytes wb;
        if (sim_weight_bytes_of(&m, f, &wb, err, sizeof err) != 0) {
            check_err("weight bytes", text, err);
            return 0;
        }
        if (!(wb.total > 0 && isfinite(wb.total)))
            abort();
        return 0;
    }
    }
}
