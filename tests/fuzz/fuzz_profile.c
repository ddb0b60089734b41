/*
 * fuzz_profile.c: a libFuzzer target for the --step-profile reader
 * (sim/step_profile.c). Any bytes must load or fail with one non-empty
 * line "fuzz.csv:LINE: reason" (or "fuzz.csv: reason"); what loads keeps
 * its guarantees: every lookup, inside the measured range or outside it,
 * is finite and positive, and a lookup at a shape inside the range sets
 * no out-of-range bit.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/step_profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sim_step_profile *p;
    char err[1024] = "";
    if (sim_step_profile_parse((const char *)data, size, "fuzz.csv", &p, err, sizeof(err)) != 0) {
        if (p != NULL || strncmp(err, "fuzz.csv:", 9) != 0 || strchr(err, '\n') != NULL) {
            fprintf(stderr, "fuzz_profile: bad failure: '%s'\n", err);
            abort();
        }
        return 0;
    }
    const sim_step_profile_info *in = sim_step_profile_about(p);
    uint64_t ns[] = {0,
                     1,
                     in->tokens_min,
                     (in->tokens_min + in->tokens_max) / 2,
                     in->tokens_max,
                     in->tokens_max + 1,
                     1u << 20};
    uint64_t cs[] = {0, in->context_min, in->context_max, in->context_max * 3 + 7};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
        for (size_t k = 0; k < sizeof(cs) / sizeof(cs[0]); k++) {
            if (ns[i] == 0)
                continue;
            sim_batch_shape b = {.prefill_tokens = ns[i] / 2,
                                 .decode_seqs = (uint32_t)(ns[i] - ns[i] / 2),
                                 .decode_ctx_tokens = cs[k]};
            if (in->has_prefill_context)
                b.prefill_ctx_tokens = in->prefill_context_min;
            unsigned o;
            double t = sim_step_profile_s(p, &b, &o);
            if (!(t > 0) || !isfinite(t)) {
                fprintf(stderr, "fuzz_profile: step of %g s at n %llu, context %llu\n", t,
                        (unsigned long long)ns[i], (unsigned long long)cs[k]);
                abort();
            }
            bool inside = ns[i] >= in->tokens_min && ns[i] <= in->tokens_max &&
                          cs[k] >= in->context_min && cs[k] <= in->context_max;
            if (inside && o != 0) {
                fprintf(stderr, "fuzz_profile: inside the range, flagged %u\n", o);
                abort();
            }
        }
    sim_step_profile_destroy(p);
    return 0;
}
