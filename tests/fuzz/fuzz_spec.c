/*
 * fuzz_spec.c: a libFuzzer target for workload specs (workloads/spec.c):
 * any text must either open as a generator or fail with one line; an
 * opened generator yields up to 64 requests that keep the guarantees of
 * trace.h (arrivals in order, lengths >= 1, hash ids readable).
 * Specs naming a file (empirical:file=) are skipped: the target stays
 * hermetic and cannot block on a device or a FIFO.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char spec[4097];
    memcpy(spec, data, size);
    spec[size] = '\0';
    if (strlen(spec) != size || strstr(spec, "file") != NULL)
        return 0;
    char err[1024];
    wl_source *s = NULL;
    int rc = wl_open_spec(&s, spec, 1, err, sizeof err);
    if (rc != 0) {
        if (s != NULL || strchr(err, '\n') != NULL || err[0] == '\0') {
            fprintf(stderr, "fuzz_spec: bad failure for '%s': '%s'\n", spec, err);
            abort();
        }
        return 0;
    }
    trace_request q;
    double prev = 0;
    uint64_t sum = 0;
    for (int i = 0; i < 64 && wl_next(s, &q) == 1; i++) {
        if (q.input_tokens < 1 || q.output_tokens < 1 || !isfinite(q.arrival_s) ||
            q.arrival_s < prev) {
            fprintf(stderr, "fuzz_spec: broken request %d for '%s'\n", i, spec);
            abort();
        }
        for (uint32_t k = 0; k < q.num_hash_ids; k++)
            sum += q.hash_ids[k];
        prev = q.arrival_s;
    }
    (void)sum;
    (void)wl_describe(s);
    wl_close(s);
    return 0;
}
