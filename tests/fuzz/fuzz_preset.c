/*
 * fuzz_preset.c: a libFuzzer target for the engine preset reader
 * (sim/preset.c). Any bytes must parse or fail with one non-empty line
 * naming "fuzz.preset"; what parses keeps its guarantees: efficiencies in
 * (0, 1], times and memory finite and non-negative, and a step priced
 * with it (Llama-2-7B on an A100, a prefill and a decode) finite and
 * positive.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/catalog.h"
#include "sim/cost.h"
#include "sim/formats.h"
#include "sim/preset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sim_engine_preset p;
    char err[1024] = "";
    if (sim_preset_parse((const char *)data, size, "fuzz.preset", &p, err, sizeof(err)) != 0) {
        if (strncmp(err, "fuzz.preset", 11) != 0 || strchr(err, '\n') != NULL) {
            fprintf(stderr, "fuzz_preset: bad failure: '%s'\n", err);
            abort();
        }
        return 0;
    }
    const sim_cost_params *c = &p.params;
    if (!(c->bw_eff > 0 && c->bw_eff <= 1 && c->flops_eff > 0 && c->flops_eff <= 1) ||
        !(c->step_overhead_s >= 0 && isfinite(c->step_overhead_s)) ||
        !(c->layer_overhead_s >= 0 && isfinite(c->layer_overhead_s)) ||
        !(c->overhead_bytes >= 0 && isfinite(c->overhead_bytes))) {
        fprintf(stderr, "fuzz_preset: out-of-range terms accepted\n");
        abort();
    }
    static sim_gpu g;
    static sim_model m;
    static int ready;
    char e2[512];
    if (!ready) {
        if (sim_gpu_lookup("a100-80gb", &g, e2, sizeof(e2)) != 0 ||
            sim_model_lookup("llama-2-7b", &m, e2, sizeof(e2)) != 0)
            abort();
        ready = 1;
    }
    const sim_dtype *f16 = sim_dtype_find("fp16");
    sim_cost cost;
    sim_cost_init(&cost, &g, &m, f16, f16, c, 1, NULL);
    sim_batch_shape pf = {.prefill_seqs = 1, .prefill_tokens = 512, .prefill_attn_pairs = 131328};
    sim_batch_shape d = {.decode_seqs = 8, .decode_ctx_tokens = 8 * 1000};
    double a = sim_cost_step_s(&cost, &pf), b = sim_cost_step_s(&cost, &d);
    if (!(a > 0 && isfinite(a) && b > 0 && isfinite(b))) {
        fprintf(stderr, "fuzz_preset: step %g / %g\n", a, b);
        abort();
    }
    return 0;
}
