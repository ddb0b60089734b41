/*
 * test_merge.c: merged decode steps (sim/merge.h) change nothing.
 *
 * Each configuration runs twice through the kvsim binary, as a user runs
 * it: with merging (the default) and step by step (--no-merge-steps). The
 * expected output is the step-by-step run's: summary.json (sim.wall_s
 * removed: a wall-clock time), requests.csv and timeseries.csv must be
 * equal byte for byte; no floating-point tolerance is needed because a
 * merged run makes the same floating-point operations in the same order.
 * The merged run must also have merged steps where the configuration
 * allows it (its terminal summary counts them), so that the comparison is
 * not vacuous.
 *
 * The matrix (49 configurations): the bundled Azure conv trace, the Azure code and Mooncake
 * traces from ../shared (skipped with a message when absent), generated
 * workloads (fixed, uniform and chat, the last with prefix-sharing hash
 * ids); every scheduler (vllm V1 with and without chunked prefill and
 * prefix caching, vllm-v0 with and without chunked prefill, sarathi, orca,
 * static); every allocator (paged with block sizes 16 and 32, contiguous
 * with each reservation and placement, vattn, jemalloc); tensor and
 * pipeline parallelism, replicas (one event loop behind a load-aware
 * router, a thread each behind round robin); small pools that preempt by recompute
 * and by swap; parallel sampling; a closed-loop client; speculative
 * decoding; --check. jemalloc's runs compare all three files too, without
 * `setarch -R`: jemalloc offsets a large buffer by a random number of cache
 * lines in its first page, from a generator seeded with an address and
 * advanced by the process's other large allocations (which differ with and
 * without merging), so the allocator records buffers from their pages'
 * starts (allocators/jemalloc.c).
 */
#define _POSIX_C_SOURCE 200809L
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
#define CODE "--trace %S/traces/AzureLLMInferenceTrace_code.csv.gz "
#define MOONCAKE "--trace %S/traces/conversation_trace.jsonl.gz --max-model-len 16384 "
#define L7 "--gpu a100-80gb --model llama-2-7b "
#define H8 "--gpu h100-sxm --model llama-3.1-8b "
#define UNIFORM                                                                                    \
    "--workload 'poisson:rate=50,n=300;in=uniform:min=10,max=3000;out=uniform:min=1,max=3000' "    \
    "--max-model-len 8192 " H8

/* Long decodes at a low rate: most runs end at a request's last token. */
#define DECODES "--workload 'poisson:rate=1,n=200;in=fixed:100;out=uniform:min=100,max=1500' " H8

typedef struct config {
    const char *args; /* %S: the shared directory */
    bool merges;      /* merging must happen */
} config;

static const config matrix[] = {
    {AZURE "--limit 600 " L7, true},
    {AZURE "--limit 600 " L7 "--no-enable-chunked-prefill", true},
    {AZURE "--limit 600 " L7 "--no-enable-prefix-caching --block-size 32", true},
    {AZURE "--limit 600 " L7 "--scheduler vllm-v0", true},
    {AZURE "--limit 600 " L7 "--scheduler vllm-v0 --enable-chunked-prefill", true},
    {AZURE "--limit 600 " L7 "--scheduler sarathi", true},
    {AZURE "--limit 600 " L7 "--scheduler orca", true},
    {AZURE "--limit 600 " L7 "--scheduler static", true},
    {AZURE "--limit 600 " L7 "--scheduler vllm-v0 --allocator contiguous:reserve=max,fit=buddy",
     true},
    {AZURE "--limit 600 " L7 "--allocator contiguous:reserve=pow2,fit=best", true},
    {AZURE "--limit 600 " L7 "--allocator contiguous:reserve=oracle,fit=first", true},
    {AZURE "--limit 600 " L7 "--allocator vattn:page=64k", true},
    {AZURE "--limit 600 " L7 "--allocator jemalloc", true},
    {AZURE "--limit 600 " L7 "--allocator jemalloc:reserve=grow --num-blocks 900", true},
    /* Llama-2-70B fp16 on two A100-80GB (the bench's configuration). */
    {AZURE "--limit 600 --gpu a100-80gb --model llama-2-70b --num-blocks 3328 --max-num-seqs 128 "
           "--max-num-batched-tokens 4096 --tensor-parallel-size 2",
     true},
    {AZURE "--limit 400 " L7 "--pipeline-parallel-size 2", false},
    {AZURE "--limit 400 " L7 "--replicas 2 --router least-loaded", false},
    /* Round robin: a thread per replica (sim/partition.c), each merging. */
    {AZURE "--limit 600 " L7 "--replicas 3", true},
    /* Small pools: preemption by recompute and by swap. */
    {AZURE "--limit 600 " L7 "--num-blocks 400", true},
    {AZURE "--limit 600 " L7 "--num-blocks 400 --scheduler vllm-v0", true},
    {AZURE "--limit 600 " L7 "--num-blocks 400 --scheduler vllm-v0 --preemption-mode swap "
           "--swap-space 1",
     true},
    {AZURE "--limit 600 " L7 "--n 3 --num-blocks 1500", true},
    {AZURE "--limit 600 " L7 "--max-concurrency 16 --ts-interval 0.05", true},
    {AZURE "--limit 600 " L7 "--client-max-tokens --long-prefill-token-threshold 256 "
           "--watermark 0.05 --kv-cache-dtype fp8 --quantization awq",
     true},
    {AZURE "--limit 300 " L7 "--speculative-config "
           "'{\"method\":\"eagle\",\"num_speculative_tokens\":3,\"acceptance_rate\":0.7}'",
     false},
    /* --check also rebuilds each merged run's last shape from scratch. */
    {AZURE "--limit 150 " L7 "--check --num-blocks 500", true},
    {AZURE "--limit 150 " L7 "--check --scheduler static --n 2", true},
    {CODE "--limit 600 " L7, true},
    {MOONCAKE "--limit 600 " H8 "--num-blocks 3000", true},
    {MOONCAKE "--limit 600 " H8 "--num-blocks 1200 --scheduler vllm-v0 --enable-prefix-caching",
     true},
    {"--workload 'chat:n=150' " H8, true},
    {"--workload 'poisson:rate=2,n=100;in=fixed:100;out=fixed:2000' " H8, true},
    /* Equal outputs: the last steps in order (merge_ends_sorted, the
     * carried pass's moved last steps), on other units and schedulers. */
    {"--workload 'poisson:rate=2,n=100;in=fixed:100;out=fixed:2000' " H8 "--block-size 8", true},
    {"--workload 'poisson:rate=4,n=100;in=fixed:300;out=fixed:700' " H8 "--scheduler sarathi",
     true},
    /* Requests ending inside merged runs (nothing waits: the run goes on
     * without them), with uniform growths, none, a calendar, a measured
     * profile, decodes first. */
    {DECODES, true},
    {DECODES "--block-size 32 --no-enable-prefix-caching", true},
    {DECODES "--allocator contiguous:reserve=oracle,fit=first", true},
    {DECODES "--allocator vattn", true},
    {DECODES "--step-profile catalog/profiles/h100-sxm_llama-3.1-8b_roofline.csv", true},
    {DECODES "--scheduler sarathi --ts-interval 0.05", true},
    {DECODES "--replicas 2", true},
    /* Blocks of 2 and 8 tokens: the pass's notes carried from the last
     * run's classes (sim_merge_carry_*), a growth at step 2 in class 0
     * for the unit of 2. */
    {DECODES "--block-size 2", true},
    {DECODES "--block-size 8", true},
    /* Blocks of one token: uniform growths of a one-token unit, every step
     * (the class cycle's unit 1). */
    {DECODES "--block-size 1 --replicas 2", true},
    /* The carried classes and notes (units of 2 tokens) across
     * preemptions by recompute, with prefix-sharing hits changing the
     * block counts (V1), and under vllm-v0 (review9). */
    {"--workload 'chat:n=200' " H8 "--block-size 2 --num-blocks 2000 --max-model-len 3900", true},
    {DECODES "--block-size 2 --num-blocks 3000 --max-model-len 5000 --scheduler vllm-v0", true},
    {UNIFORM "--num-blocks 1500 --allocator vattn", true},
    {UNIFORM "--kv-pool-gib 4 --scheduler static", true},
    {UNIFORM "--kv-pool-gib 4 --scheduler orca --allocator contiguous:reserve=pow2,fit=buddy",
     true},
};

/* ARGS with %S replaced by DIR, into OUT (LEN). */
static void expand(const char *args, const char *dir, char *out, size_t len)
{
    size_t n = 0;
    for (const char *a = args; *a && n + 1 < len; a++) {
        if (a[0] == '%' && a[1] == 'S') {
            n += (size_t)snprintf(out + n, len - n, "%s", dir);
            a++;
        } else {
            out[n++] = *a;
        }
    }
    out[n < len ? n : len - 1] = '\0';
}

/* NAME in directories A and B is the same; HOW says what differs. */
static void expect_same_how(const char *a, const char *b, const char *name, const char *args,
                            const char *how)
{
    size_t na, nb;
    char *x = test_slurp_in(a, name, &na), *y = test_slurp_in(b, name, &nb);
    if (strcmp(name, "summary.json") == 0) {
        test_drop_wall(x);
        test_drop_wall(y);
        na = strlen(x);
        nb = strlen(y);
    }
    size_t at = 0;
    while (at < na && at < nb && x[at] == y[at])
        at++;
    if (na != nb || at < na) {
        size_t from = at > 80 ? at - 80 : 0;
        fail_msg("%s differs at byte %zu %s for\n  %s\n"
                 "first:  ...%.160s\nsecond: ...%.160s",
                 name, at, how, args, x + from, y + from);
    }
    free(x);
    free(y);
}

static void expect_same(const char *a, const char *b, const char *name, const char *args)
{
    expect_same_how(a, b, name, args, "with (first) and without (second) --no-merge-steps");
}

static void test_identity_matrix(void **state)
{
    (void)state;
    const char *bin = getenv("KVSIM_BIN");
    const char *shared = getenv("KVSIM_SHARED_DIR");
    bool have_shared = shared != NULL && access(shared, R_OK) == 0;
    char tmp[] = "/tmp/kvsim_merge_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    static char out[1 << 16];
    int ran = 0, skipped = 0;
    for (size_t k = 0; k < sizeof(matrix) / sizeof(matrix[0]); k++) {
        const config *c = &matrix[k];
        if (strstr(c->args, "%S") != NULL && !have_shared) {
            skipped++;
            continue;
        }
        char args[2048], cmd[8192], merged[600], steps[600];
        expand(c->args, have_shared ? shared : "", args, sizeof(args));
        snprintf(merged, sizeof(merged), "%s/m%zu", tmp, k);
        snprintf(steps, sizeof(steps), "%s/s%zu", tmp, k);
        /* Both runs at once; the step-by-step one's messages to a file. */
        snprintf(cmd, sizeof(cmd),
                 "'%s' run %s --quiet --no-merge-steps --out '%s' >'%s.log' 2>&1 & p=$!; "
                 "'%s' run %s --out '%s' 2>&1; m=$?; wait $p; s=$?; "
                 "[ $s = 0 ] || { cat '%s.log'; exit 2; }; exit $m",
                 bin, args, steps, steps, bin, args, merged, steps);
        int rc = test_sh(cmd, out, sizeof(out), false);
        if (rc != 0)
            fail_msg("kvsim run %s failed (%s):\n%s", args,
                     rc == 2 ? "with --no-merge-steps" : "merged", out);
        const char *m = strstr(out, "steps merged");
        unsigned long long nmerged = 0;
        while (m != NULL && m > out && m[-1] != '(')
            m--;
        if (m == NULL || sscanf(m, "%llu", &nmerged) != 1)
            fail_msg("no merged-step count in the summary of kvsim run %s:\n%s", args, out);
        if (c->merges && nmerged == 0)
            fail_msg("kvsim run %s merged no step", args);
        if (!c->merges && nmerged != 0)
            fail_msg("kvsim run %s merged %llu steps, where it must not", args, nmerged);
        expect_same(merged, steps, "requests.csv", args);
        expect_same(merged, steps, "summary.json", args);
        expect_same(merged, steps, "timeseries.csv", args);
        ran++;
    }
    snprintf(out, sizeof(out), "rm -rf '%s'", tmp);
    test_sh(out, out, sizeof(out), false);
    if (skipped > 0)
        print_message("test_merge: %d configurations compared; %d skipped (no shared traces)\n",
                      ran, skipped);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_matrix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
