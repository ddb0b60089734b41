/*
 * test_partition.c: replicas simulated in threads of their own
 * (sim/partition.c) give what one event loop for every replica gives.
 *
 * Each configuration runs through the kvsim binary twice: by default
 * (a thread per replica where the run allows it) and with
 * --serial-replicas (one event loop, the reference). Expected, from the
 * design (engine.h, sim_run_opts): requests.csv and timeseries.csv equal
 * byte for byte (each replica's history is the same; the observer's calls
 * come in time order either way, requests ended at one instant in stream
 * order, as the one loop takes the arrivals due at an instant; other ties
 * between replicas go in replica order, which the one loop's event order
 * need not follow, and which none of these runs meets); summary.json
 * equal, its event count included, but for sums of
 * floating-point figures over replicas (busy time and what derives from
 * it), which the threaded run adds replica by replica: those within a
 * relative 1e-12 (the sums of a few thousand steps' durations in
 * another order differ by a few ulps: about 1e-16 relative per
 * addition). The threaded run must say it ran threaded, and the runs
 * that cannot (a load-aware router, a closed-loop client, one replica)
 * must say nothing of it. A bad line in a trace is
 * reported once, with its file and line, as the serial run reports it.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/test_proc.h"

#define AZURE "--trace traces/samples/azure_conv_2023.csv.gz "
#define L7 "--gpu a100-80gb --model llama-2-7b "
#define H8 "--gpu h100-sxm --model llama-3.1-8b "

typedef struct config {
    const char *args;
    bool threaded; /* the default run must use a thread per replica */
} config;

static const config matrix[] = {
    {AZURE "--limit 1500 " L7 "--replicas 3", true},
    {AZURE "--limit 1500 " L7 "--replicas 2 --num-blocks 600", true}, /* preempts */
    {AZURE "--limit 800 " L7 "--replicas 2 --pipeline-parallel-size 2", true},
    /* vLLM V1's batches in flight sharing a tight pool: a lane that waited
     * for KV goes on when another lane's pass frees some, at that instant
     * (found by review: only at the replica's next event, which in the
     * serial run came sooner from other replicas' events). */
    {"--workload 'chat:n=150,rate=3,think=5,sys=1024,max_ctx=4096' --gpu a100-80gb --model "
     "llama-3.1-8b -pp 3 --replicas 3 --num-blocks 700 --max-model-len 4096 --seed 5",
     true},
    {AZURE "--limit 800 " L7 "--replicas 4 --scheduler vllm-v0 --preemption-mode swap "
           "--swap-space 1 --num-blocks 500",
     true},
    {"--workload 'chat:n=300' " H8 "--replicas 3", true}, /* hash ids: prefix caching */
    {"--workload 'poisson:rate=20,n=400;in=uniform:min=10,max=2000;out=uniform:min=1,max=800' " H8
     "--replicas 5 --speculative-config "
     "'{\"method\":\"eagle\",\"num_speculative_tokens\":3,\"acceptance_rate\":0.7}'",
     true},
    {AZURE "--limit 600 " L7 "--replicas 2 --n 2 --check", true},
    /* Requests at one instant over several replicas: 300 at t = 0, the
     * prompts over 1,024 tokens rejected there (the one loop takes them
     * in one event, in stream order); and the azure-code workload, whose
     * arrivals meet at the nanosecond now and then, with rejections at
     * arrival (found by review: the threaded order and event count
     * differed before ties went by request id and events were counted
     * as the one loop counts them). */
    {"--trace tests/data/traces/same_instant.csv " H8 "--replicas 4 --max-model-len 1024", true},
    {"--workload azure-code:n=5000 " H8 "--replicas 7 --client-max-tokens --max-model-len 2048",
     true},
    /* Two rejections at one instant on two replicas: a request of two
     * samples outgrowing a 64-block pool (the pass, at 1.480479178 s)
     * and a 2,000-token prompt arriving then (past --max-model-len, on
     * arrival): the one loop writes the arrival's first, and so must the
     * threaded run (found by the random-combination stress,
     * tests/fuzz/combos.py). The instant is the vllm preset's: after a
     * refit, the second arrival takes the first request's new finish_s. */
    {"--trace tests/data/traces/reject_arrival_and_pass.csv --gpu h100-sxm --model llama-3.2-1b "
     "--num-blocks 64 --max-model-len 1024 --n 2 --replicas 2",
     true},
    {AZURE "--limit 600 " L7 "--replicas 2 --router least-loaded", false},
    {AZURE "--limit 600 " L7 "--replicas 2 --max-concurrency 8", false},
    /* The stream is read once, by the feeder: standard input serves. */
    {"--trace - < traces/samples/azure_conv_2023.csv.gz " L7 "--limit 600 --replicas 2", true},
    /* A request with more hash ids than a channel's chunk holds. */
    {"--trace tests/data/traces/many_hash_ids.csv.gz " H8 "--replicas 2 --max-model-len 131072",
     true},
    {AZURE "--limit 600 " L7, false},
};

static void expect_same_file(const char *a, const char *b, const char *name, const char *args)
{
    char *x = test_slurp_in(a, name, NULL), *y = test_slurp_in(b, name, NULL);
    size_t at = 0;
    while (x[at] != '\0' && x[at] == y[at])
        at++;
    if (x[at] != y[at]) {
        size_t from = at > 80 ? at - 80 : 0;
        fail_msg("%s differs at byte %zu threaded and serial for\n  %s\n"
                 "threaded: ...%.160s\nserial:   ...%.160s",
                 name, at, args, x + from, y + from);
    }
    free(x);
    free(y);
}

static bool numch(char c)
{
    return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E';
}

/* summary.json: equal but for numbers within 1e-12 relative (the
 * floating-point sums over replicas) and wall_s. Returns how many numbers
 * differed within the tolerance. */
static int expect_summary(const char *a, const char *b, const char *args)
{
    char *x = test_slurp_in(a, "summary.json", NULL), *y = test_slurp_in(b, "summary.json", NULL);
    test_drop_wall(x);
    test_drop_wall(y);
    int near = 0;
    size_t i = 0, j = 0;
    while (x[i] != '\0' || y[j] != '\0') {
        if (x[i] == y[j]) {
            i++;
            j++;
            continue;
        }
        /* Back to the start of the number both sit in, if they do. */
        while (i > 0 && j > 0 && numch(x[i - 1]) && x[i - 1] == y[j - 1]) {
            i--;
            j--;
        }
        char *ex, *ey;
        double vx = strtod(x + i, &ex), vy = strtod(y + j, &ey);
        if (ex == x + i || ey == y + j || !(fabs(vx - vy) <= 1e-12 * fmax(fabs(vx), fabs(vy)))) {
            size_t from = i > 80 ? i - 80 : 0;
            fail_msg("summary.json differs threaded and serial for\n  %s\n"
                     "threaded: ...%.160s\nserial:   ...%.160s",
                     args, x + from, y + (j - (i - from)));
        }
        near++;
        i = (size_t)(ex - x);
        j = (size_t)(ey - y);
    }
    free(x);
    free(y);
    return near;
}

static void test_threaded_equals_serial(void **state)
{
    (void)state;
    const char *bin = getenv("KVSIM_BIN");
    char tmp[] = "/tmp/kvsim_part_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    static char out[1 << 16];
    for (size_t k = 0; k < sizeof(matrix) / sizeof(matrix[0]); k++) {
        const config *c = &matrix[k];
        char cmd[8192], thr[600], ser[600];
        snprintf(thr, sizeof(thr), "%s/t%zu", tmp, k);
        snprintf(ser, sizeof(ser), "%s/s%zu", tmp, k);
        snprintf(cmd, sizeof(cmd), "'%s' run %s --no-plot --serial-replicas --quiet --out '%s'",
                 bin, c->args, ser);
        if (test_sh(cmd, out, sizeof(out), true) != 0)
            fail_msg("kvsim run %s --serial-replicas failed:\n%s", c->args, out);
        snprintf(cmd, sizeof(cmd), "'%s' run %s --no-plot --out '%s'", bin, c->args, thr);
        if (test_sh(cmd, out, sizeof(out), true) != 0)
            fail_msg("kvsim run %s failed:\n%s", c->args, out);
        bool threaded = strstr(out, "(a thread per replica)") != NULL;
        if (threaded != c->threaded)
            fail_msg("kvsim run %s: %s a thread per replica:\n%s", c->args,
                     threaded ? "ran with" : "did not run with", out);
        expect_same_file(thr, ser, "requests.csv", c->args);
        expect_same_file(thr, ser, "timeseries.csv", c->args);
        int near = expect_summary(thr, ser, c->args);
        if (!c->threaded && near > 0)
            fail_msg("kvsim run %s: a serial run differs from itself", c->args);
    }
    snprintf(out, sizeof(out), "rm -rf '%s'", tmp);
    test_sh(out, out, sizeof(out), true);
}

/* A bad line (line 300 of a trace) stops a threaded run with the line's
 * error, once, as the serial run stops. */
static void test_bad_line(void **state)
{
    (void)state;
    const char *bin = getenv("KVSIM_BIN");
    char tmp[] = "/tmp/kvsim_partbad_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    static char out[1 << 16], serial[1 << 16];
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "gzip -dc traces/samples/azure_conv_2023.csv.gz | head -1000 | "
             "sed '300s/.*/2023-11-16 18:17:10.4782610,abc,413/' > '%s/bad.csv'",
             tmp);
    assert_int_equal(test_sh(cmd, out, sizeof(out), true), 0);
    snprintf(cmd, sizeof(cmd),
             "'%s' run --trace '%s/bad.csv' " L7 "--replicas 3 --quiet --out '%s/o'", bin, tmp,
             tmp);
    int rc = test_sh(cmd, out, sizeof(out), true);
    snprintf(cmd, sizeof(cmd),
             "'%s' run --trace '%s/bad.csv' " L7
             "--replicas 3 --serial-replicas --quiet --out '%s/o'",
             bin, tmp, tmp);
    int rcs = test_sh(cmd, serial, sizeof(serial), true);
    assert_int_not_equal(rcs, 0);
    assert_int_equal(rc, rcs);
    if (strstr(out, "bad.csv:300") == NULL || strcmp(out, serial) != 0)
        fail_msg("threaded: %s\nserial: %s", out, serial);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    test_sh(cmd, out, sizeof(out), true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threaded_equals_serial),
        cmocka_unit_test(test_bad_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
