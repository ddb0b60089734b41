/*
 * fuzz_model.c: a libFuzzer target for the config.json reader (sim/model.c:
 * MoE keys, latent attention, sliding windows, quantization_config, the
 * refusals). Any bytes must parse or fail with one non-empty line naming
 * the origin; what parses keeps its guarantees: positive dimensions,
 * active parameters no more than the total, a positive KV size per token,
 * tensor-parallel sizes that split it include 1, weights in a few formats
 * are finite and positive, and the memory plan at TP 1 on a large GPU
 * either computes or refuses with one line.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/catalog.h"
#include "sim/config.h"
#include "sim/formats.h"
#include "sim/parallel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(const char *what, const char *err)
{
    if (err[0] == '\0' || strchr(err, '\n') != NULL) {
        fprintf(stderr, "fuzz_model: %s: bad failure message '%s'\n", what, err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char err[1024] = "";
    sim_model m;
    if (sim_model_parse((const char *)data, size, "fuzz.json", &m, err, sizeof(err)) != 0) {
        one_line("parse", err);
        if (strncmp(err, "fuzz.json", 9) != 0) {
            fprintf(stderr, "fuzz_model: the error does not name the file: '%s'\n", err);
            abort();
        }
        return 0;
    }
    if (m.hidden == 0 || m.layers == 0 || m.heads == 0 || m.kv_heads == 0 || m.head_dim == 0 ||
        m.params_active > m.params_total || m.params_total == 0 ||
        sim_model_kv_bytes_per_token(&m, 2.0) == 0 ||
        (m.experts && (m.experts_per_tok == 0 || m.experts_per_tok > m.experts)) ||
        m.moe_layers > m.layers || m.sliding_layers > m.layers) {
        fprintf(stderr, "fuzz_model: a parsed model broke a guarantee\n");
        abort();
    }
    if (sim_tp_check(&m, 1, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_model: TP 1 refused: %s\n", err);
        abort();
    }
    for (uint32_t tp = 2; tp <= SIM_MAX_TP; tp *= 2) {
        err[0] = '\0';
        if (sim_tp_check(&m, tp, err, sizeof(err)) != 0)
            one_line("tp", err);
        else if (sim_tp_params_per_gpu(&m, tp) > m.params_total)
            abort();
    }
    /* Weights tensor by tensor in a few formats (sim/formats.c's layer
     * walk over MoE, shared experts and latent attention): finite and
     * positive, or refused in one line (a group that does not divide). */
    static const char *const fmts[] = {"fp16", "fp8", "awq", "Q4_K_M", "q8_0", "nvfp4"};
    for (size_t k = 0; k < sizeof(fmts) / sizeof(fmts[0]); k++) {
        const sim_dtype *w = sim_weight_format_parse(fmts[k], err, sizeof(err));
        sim_weight_bytes wb;
        err[0] = '\0';
        if (w == NULL)
            abort();
        if (sim_weight_bytes_of(&m, w, &wb, err, sizeof(err)) != 0)
            one_line("weights", err);
        else if (!(wb.total > 0 && isfinite(wb.total) && wb.expert >= 0 && wb.expert <= wb.total))
            abort();
    }
    sim_gpu g;
    if (sim_gpu_lookup("b200", &g, err, sizeof(err)) != 0)
        abort();
    sim_config c;
    sim_config_defaults(&c, &g, &m);
    sim_memory_plan p;
    err[0] = '\0';
    if (sim_memory_plan_compute(&c, &p, err, sizeof(err)) != 0)
        one_line("plan", err);
    return 0;
}
