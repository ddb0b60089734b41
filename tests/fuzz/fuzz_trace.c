/*
 * fuzz_trace.c: a libFuzzer target for the trace readers (traces/).
 *
 * Each input is written to one temporary file (rewritten in place for
 * every input) and read to its end through trace_open/trace_next twice:
 * with the format named by KVSIM_FUZZ_FORMAT forced (one binary per
 * format, see CMakeLists.txt) and with detection. For burstgpt the forced
 * pass also sets a model filter. The harness checks the reader's
 * guarantees (trace.h) and aborts on a broken one, so libFuzzer reports it
 * like a crash; ASan and UBSan check memory and arithmetic.
 *
 * Built only with -DKVSIM_FUZZ=ON and clang; tests/fuzz/run.sh builds and
 * runs every target for a bounded time (CI: 20 s each).
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traces/trace.h"

#ifndef KVSIM_FUZZ_FORMAT
#define KVSIM_FUZZ_FORMAT "auto"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[256];
static int g_fd = -1;

/* Aborts with a message: libFuzzer saves the input that got here. */
static void broken(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_trace: %s: %s\n", what, detail);
    abort();
}

/* Reads g_path as FMT to its end, checking every guarantee of trace.h. */
static void read_all(trace_format fmt, const char *model)
{
    char err[512];
    trace_reader *r = NULL;
    trace_open_opts o = {fmt, model};
    int rc = trace_open_ex(&r, g_path, &o, err, sizeof err);
    if (rc < 0) {
        if (r != NULL || strncmp(err, g_path, strlen(g_path)) != 0 || strchr(err, '\n') != NULL)
            broken("bad open failure", err);
        return;
    }
    trace_request q;
    uint64_t n = 0;
    double prev = 0;
    uint64_t sum = 0;
    while ((rc = trace_next(r, &q)) == 1) {
        if (q.index != n || q.input_tokens < 1 || q.output_tokens < 1 || !isfinite(q.arrival_s) ||
            q.arrival_s < 0 || (n > 0 && q.arrival_s < prev) ||
            (q.num_hash_ids > 0) != (q.hash_ids != NULL) || q.has_session > 1)
            broken("broken request", trace_format_name(trace_get_format(r)));
        for (uint32_t i = 0; i < q.num_hash_ids; i++)
            sum += q.hash_ids[i]; /* every id must be readable */
        prev = q.arrival_s;
        n++;
    }
    if (rc < 0) {
        const char *m = trace_errmsg(r);
        if (strncmp(m, g_path, strlen(g_path)) != 0 || strchr(m, '\n') != NULL ||
            trace_next(r, &q) != rc)
            broken("bad read failure", m);
    } else if (trace_next(r, &q) != 0) {
        broken("end not sticky", g_path);
    }
    trace_counts c;
    trace_get_counts(r, &c);
    if (c.requests != n)
        broken("count mismatch", g_path);
    (void)sum;
    trace_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_fd < 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(g_path, sizeof g_path, "%s/kvsim_fuzz_%s.XXXXXX",
                 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", KVSIM_FUZZ_FORMAT);
        g_fd = mkstemp(g_path);
        if (g_fd < 0)
            broken("mkstemp", g_path);
    }
    if (ftruncate(g_fd, 0) != 0 || (size > 0 && pwrite(g_fd, data, size, 0) != (ssize_t)size))
        broken("cannot write the input file", g_path);
    trace_format fmt;
    if (trace_format_parse(KVSIM_FUZZ_FORMAT, &fmt) != 0)
        broken("unknown format", KVSIM_FUZZ_FORMAT);
    read_all(fmt, fmt == TRACE_FORMAT_BURSTGPT ? "GPT-4" : NULL);
    if (fmt != TRACE_FORMAT_AUTO)
        read_all(TRACE_FORMAT_AUTO, NULL);
    return 0;
}
