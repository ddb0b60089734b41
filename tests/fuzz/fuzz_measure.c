/*
 * fuzz_measure.c: a libFuzzer target for the measurements reader
 * (sim/measure.c). Any bytes either fail as a file with one non-empty line
 * naming the origin, or give rows that each carry a line number inside the
 * text and either no reason and a complete mapping (device, model, formats,
 * engine, positive value) or a reason with a detail naming origin:line.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_measure: %s: '%s'\n", what, text);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char err[512] = "";
    sim_measurement *rows = NULL;
    size_t n = 0;
    if (sim_measurements_parse((const char *)data, size, "fuzz.csv", &rows, &n, err, sizeof(err)) !=
        0) {
        if (err[0] == '\0' || strchr(err, '\n') != NULL || strncmp(err, "fuzz.csv", 8) != 0)
            fail("bad file error", err);
        return 0;
    }
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    for (size_t i = 0; i < n; i++) {
        const sim_measurement *m = &rows[i];
        if (m->line < 2 || m->line > lines || (i > 0 && m->line <= rows[i - 1].line))
            fail("line out of order", m->row_id);
        if (m->reason[0] == '\0') {
            if (!m->weights || !m->kv || m->engine[0] == '\0' || !(m->value > 0) ||
                !(m->gpu.mem_bw_Bps > 0) || m->model.layers == 0 || m->tp == 0 ||
                m->layer_split == 0 || m->device_count == 0)
                fail("expressible row incomplete", m->device);
        } else if (strncmp(m->detail, "fuzz.csv:", 9) != 0 || strchr(m->detail, '\n') != NULL) {
            fail("bad row detail", m->detail);
        }
    }
    sim_measurements_free(rows);
    return 0;
}
