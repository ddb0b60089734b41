/*
 * test_cli_corpus.c: the kvsim binary ($KVSIM_BIN) on the malformed-input
 * corpus and on the trace and workload commands.
 *
 * Every file of tests/data/traces/bad is listed in bad/expected.tsv with
 * the format to force (or auto), the line and the reason of its error;
 * `kvsim trace stats`, `kvsim run` and `kvsim gen` must each exit with
 * status 1 and print exactly one line "kvsim: PATH:LINE: ...REASON...".
 * Under `make asan` the binary is built with ASan and UBSan, so this also
 * shows the corpus runs clean there. Then: bad options of the new commands
 * (one line, status 2), gen -> run giving the same run as run --workload,
 * and stats of the real traces when $KVSIM_SHARED_DIR has them.
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

#include "tests/test_proc.h"

#include <dirent.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[1 << 16];
static char g_tmp[256];

/* Runs "kvsim ARGS" in the source tree, capturing stdout and stderr; returns the exit status. */
static int kvsim(const char *args)
{
    return test_kvsim(args, out, sizeof(out));
}

/* Runs ARGS and fails unless it exits with STATUS and one line starting PREFIX holding REASON. */
static void expect_line(const char *args, int status, const char *prefix, const char *reason)
{
    int rc = kvsim(args);
    if (rc != status || test_count_lines(out) != 1 || strncmp(out, prefix, strlen(prefix)) != 0 ||
        strstr(out, reason) == NULL)
        fail_msg("kvsim %s\n  exit %d (want %d); want one line '%s...%s'; got:\n%s", args, rc,
                 status, prefix, reason, out);
}

/* ---------------------------------------------------------- corpus */

static void test_bad_corpus(void **state)
{
    (void)state;
    const char *src = getenv("KVSIM_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/traces/bad/expected.tsv", src ? src : ".");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    static char listed[256][128];
    int nlisted = 0, cases = 0;
    char line[2048];
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *file = strtok(line, "\t"), *fmt = strtok(NULL, "\t"), *lno = strtok(NULL, "\t"),
             *reason = strtok(NULL, "");
        if (file == NULL || fmt == NULL || lno == NULL || reason == NULL)
            fail_msg("expected.tsv: malformed line");
        assert_true(nlisted < 256);
        snprintf(listed[nlisted++], sizeof listed[0], "%s", file);
        char fopt[64] = "";
        if (strcmp(fmt, "auto") != 0)
            snprintf(fopt, sizeof fopt, "--format %s", fmt);
        /* A length table needs a rate to be replayed; without one, run and gen
         * would stop at that before reaching the bad row. */
        const char *rate = strncmp(file, "lengths_", 8) == 0 ? "--rate 1" : "";
        char prefix[512], args[1024];
        snprintf(prefix, sizeof prefix, "kvsim: tests/data/traces/bad/%s:%s: ", file, lno);
        snprintf(args, sizeof args, "trace stats tests/data/traces/bad/%s %s", file, fopt);
        expect_line(args, 1, prefix, reason);
        snprintf(args, sizeof args,
                 "run --trace tests/data/traces/bad/%s %s %s --gpu a100-80gb --model llama-2-7b "
                 "--quiet",
                 file, fopt, rate);
        expect_line(args, 1, prefix, reason);
        snprintf(args, sizeof args, "gen --trace tests/data/traces/bad/%s %s %s -o %s/corpus.csv",
                 file, fopt, rate, g_tmp);
        expect_line(args, 1, prefix, reason);
        cases++;
    }
    fclose(f);
    /* Every corpus file has its expectation. */
    snprintf(path, sizeof path, "%s/tests/data/traces/bad", src ? src : ".");
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "expected.tsv") == 0)
            continue;
        int found = 0;
        for (int i = 0; i < nlisted && !found; i++)
            found = strcmp(listed[i], e->d_name) == 0;
        if (!found)
            fail_msg("bad/%s is not in bad/expected.tsv", e->d_name);
        files++;
    }
    closedir(d);
    print_message("%d corpus files, %d cases, each through trace stats, run and gen\n", files,
                  cases);
    assert_true(files >= 60);
}

/* ---------------------------------------------------------- options */

#define RUNX " --gpu a100-80gb --model llama-2-7b --quiet"

static void test_bad_options(void **state)
{
    (void)state;
    static const struct {
        const char *args, *reason;
    } bad[] = {
        {"gen --workload sharegpt", "gen: -o FILE is required"},
        /* vllm bench serve's spelling, and a misspelling, get kvsim's. */
        {"gen --workload sharegpt --num-prompts 10 -o x.csv",
         "gen: unknown option '--num-prompts': vLLM's; kvsim's: --limit N with a "
         "trace, or n=N in --workload"},
        {"gen --worklaod sharegpt -o x.csv",
         "gen: unknown option '--worklaod': did you mean --workload?"},
        {"gen -o x.csv", "gen: --trace FILE is required, or --workload SPEC"},
        {"gen --workload sharegpt --trace t.csv -o x.csv", "--trace and --workload both given"},
        {"gen --workload sharegpt:n=0 -o x.csv",
         "--workload: workload 'sharegpt:n=0': sharegpt: n: '0' is not an integer"},
        {"gen --workload 'sharegpt;in=lognormal:mean=5' -o x.csv", "in=lognormal: missing sigma="},
        {"gen --workload sharegpt --format kvsim -o x.csv", "--format applies to --trace"},
        {"gen --workload sharegpt --rate 3 -o x.csv",
         "(--rate) applies to --trace; a workload spec sets its own rate: rate=3"},
        {"gen --workload sharegpt --model-filter GPT-4 -o x.csv",
         "--model-filter applies to --trace"},
        {"gen --workload sharegpt --rate-scale 0 -o x.csv",
         "--rate-scale: '0' is not a number in (0, 1e+09]"},
        {"gen --workload sharegpt --rate-scale fast -o x.csv", "--rate-scale: 'fast'"},
        {"gen --workload sharegpt --limit 0 -o x.csv", "--limit: '0' is not an integer"},
        {"gen --workload sharegpt --limit -5 -o x.csv", "--limit: '-5'"},
        {"gen --workload sharegpt --sample 0 -o x.csv", "--sample: '0' is not a number in (0, 1]"},
        {"gen --workload sharegpt --sample 1.5 -o x.csv", "--sample: '1.5'"},
        {"gen --workload sharegpt --time-window 600 -o x.csv",
         "--time-window: '600' is not START:END in seconds"},
        {"gen --workload sharegpt --time-window 9:3 -o x.csv", "END must be after START"},
        {"gen --workload sharegpt --time-window a:3 -o x.csv", "--time-window start: 'a'"},
        {"gen --workload sharegpt --time-window 1:2:3 -o x.csv", "is not START:END"},
        {"gen --workload sharegpt --seed -1 -o x.csv", "--seed: '-1'"},
        {"gen --workload sharegpt -o", "-o needs a value"},
        {"gen --workload sharegpt -o ''", "-o: empty file name"},
        {"gen --workload sharegpt --limit 5 --limit 6 -o x.csv", "--limit given twice"},
        {"gen --workload sharegpt --frob -o x.csv", "gen: unknown option '--frob'"},
        {"gen --trace tests/data/traces/kvsim_basic.csv --format csv -o x.csv",
         "--format: unknown format 'csv' (known: auto, kvsim, azure, mooncake, burstgpt, vidur, "
         "lengths)"},
        {"gen --trace tests/data/traces/kvsim_basic.csv --model-filter '' -o x.csv",
         "--model-filter: empty model name"},
        {"gen --trace tests/data/traces/kvsim_basic.csv --rate 0 -o x.csv", "--rate: '0'"},
        {"trace", "trace: say what to do"},
        {"trace frob", "trace: unknown subcommand 'frob'"},
        {"trace stats", "trace stats: say which trace: kvsim trace stats FILE, or --workload SPEC"},
        {"trace stats a.csv b.csv", "trace stats: more than one file ('b.csv')"},
        {"trace stats a.csv --frob", "trace stats: unknown option '--frob'"},
        {"trace stats --workload chat:think=-1", "chat: think: '-1'"},
        {"run --workload sharegpt:rate=0" RUNX, "sharegpt: rate: '0' is not a number"},
        {"run --workload sharegpt --trace x.csv" RUNX, "--trace and --workload both given"},
        {"run --gpu a100-80gb --model llama-2-7b", "run: --trace FILE is required, or --workload"},
        {"run --trace tests/data/traces/kvsim_basic.csv --time-window x" RUNX, "--time-window"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_line(bad[i].args, 2, "kvsim: ", bad[i].reason);
    /* compare prints its progress first; the error is its last line. */
    int rc = kvsim("compare --allocators paged --workload sharegpt:n=0 --gpu a100-80gb --model "
                   "llama-2-7b");
    if (rc != 2 ||
        strstr(out, "kvsim: --workload: workload 'sharegpt:n=0': sharegpt: n: '0'") == NULL)
        fail_msg("compare with a bad workload: exit %d:\n%s", rc, out);
    /* File-level problems exit with 1. */
    expect_line("run --trace tests/data/traces/lengths_basic.csv" RUNX, 1,
                "kvsim: tests/data/traces/lengths_basic.csv: ",
                "a length table has no arrival "
                "times: give a rate");
    expect_line("run --trace tests/data/traces/azure_2023.csv --rate 2" RUNX, 1,
                "kvsim: tests/data/traces/azure_2023.csv: ",
                "this azure trace has arrival times; a rate applies to length tables only");
    expect_line("trace stats tests/data/traces/azure_2023.csv --model-filter GPT-4", 1,
                "kvsim: tests/data/traces/azure_2023.csv:1: ",
                "a model filter applies to burstgpt traces only");
    expect_line("trace stats tests/data/traces/burstgpt_basic.csv --model-filter llama", 1,
                "kvsim: tests/data/traces/burstgpt_basic.csv:1: ",
                "no rows of model 'llama' (6 rows of other models: ChatGPT, GPT-4)");
    expect_line("gen --workload 'sharegpt;in=empirical:file=/nonexistent.csv' -o x.csv", 1,
                "kvsim: /nonexistent.csv: ", "cannot open");
    /* Arrivals a source makes are held to the readers' bound (1e9 s after
     * the first), in the readers' form FILE:LINE (or the request's number). */
    expect_line("trace stats tests/data/traces/kvsim_basic.csv --rate-scale 1e-9", 1,
                "kvsim: tests/data/traces/kvsim_basic.csv:4: ",
                "arrival 1250000000 s is more than 1e9 s after the first request's (0 s)");
    expect_line("run --workload 'poisson:rate=1,n=5;in=fixed:5;out=fixed:5' --rate-scale 1e-9" RUNX,
                1, "kvsim: workload: request 3: ", "is more than 1e9 s after the first request's");
    /* --host names a catalog CPU (not the GPUs closest in spelling), and
     * only with a partial offload (nothing runs on the host otherwise). */
    expect_line("run --workload sharegpt:n=5 --host foo --gpu-layers 10" RUNX, 2,
                "kvsim: --host: unknown host 'foo' (the catalog's: cpu-", "--host-memory-gib)");
    expect_line("run --workload sharegpt:n=5 --host-bw-gbps 1" RUNX, 1, "kvsim: --host and ",
                "they need --gpu-layers N (fewer than the model's 32)");
    /* A workload whose n and rate alone span past the bound is refused
     * before it generates anything. */
    expect_line("run --workload 'poisson:rate=1e-9,n=5;in=fixed:5;out=fixed:5'" RUNX, 2,
                "kvsim: --workload: ", "spans about 5e+09 s of arrivals, past the 1e+09 s");
    expect_line(
        "trace stats tests/data/traces/lengths_basic.csv --rate 1e-9", 1,
        "kvsim: tests/data/traces/lengths_basic.csv:", "is more than 1e9 s after the first");
    char args[512];
    snprintf(args, sizeof args, "gen --workload sharegpt:n=5 -o %s/no/such/dir/x.csv", g_tmp);
    expect_line(args, 1, "kvsim: ", "no/such/dir/x.csv: cannot create");
    expect_line("trace stats --trace ''", 2, "kvsim: ", "--trace: empty file name");
    /* A folder as the output file: refused before generating, one line,
     * no "wrote" (it was printed before the rename failed). */
    snprintf(args, sizeof args, "gen --workload sharegpt:n=5 -o %s", g_tmp);
    expect_line(args, 1, "kvsim: ", ": cannot create: Is a directory");
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(kvsim("gen --help"), 0);
    const char *words[] = {
        "sharegpt",     "alpaca",   "azure-conv",     "azure-code", "chat",          "poisson",
        "gamma",        "constant", "batch",          "fixed:N",    "uniform:",      "normal:",
        "lognormal:",   "zipf:",    "empirical:",     "--workload", "--time-window", "--sample",
        "--rate-scale", "--limit",  "--model-filter", "--rate R",   "161.31",        "337.99",
        "19.31",        "58.45"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(out, words[i]) == NULL)
            fail_msg("kvsim gen --help does not mention %s", words[i]);
    assert_int_equal(kvsim("run --help"), 0);
    const char *run_words[] = {"--workload", "--time-window",  "--sample", "--rate-scale",
                               "--limit",    "--model-filter", "--rate R", "burstgpt"};
    for (size_t i = 0; i < sizeof run_words / sizeof run_words[0]; i++)
        if (strstr(out, run_words[i]) == NULL)
            fail_msg("kvsim run --help does not mention %s", run_words[i]);
    assert_int_equal(kvsim("trace stats --help"), 0);
    assert_non_null(strstr(out, "nearest-rank"));
    assert_int_equal(kvsim("--help"), 0);
    assert_non_null(strstr(out, "kvsim gen"));
    assert_non_null(strstr(out, "kvsim trace stats"));
}

/* Removes the second comma-separated field (the source line) of every line of S. */
static void drop_line_column(char *s)
{
    char *w = s;
    while (*s != '\0') {
        char *c1 = strchr(s, ','), *nl = strchr(s, '\n');
        if (nl == NULL)
            nl = s + strlen(s);
        char *c2 = c1 != NULL && c1 < nl ? strchr(c1 + 1, ',') : NULL;
        char *from = s, *skip_to = c2 != NULL && c2 < nl ? c2 : NULL;
        if (skip_to != NULL) {
            size_t k = (size_t)(c1 - from);
            memmove(w, from, k);
            w += k;
            from = skip_to;
        }
        size_t k = (size_t)(nl - from) + (*nl == '\n');
        memmove(w, from, k);
        w += k;
        s = nl + (*nl == '\n');
    }
    *w = '\0';
}

/*
 * kvsim gen then run --trace gives the same requests.csv as run --workload
 * (but for the `line` column: a request's line in the file vs its number).
 */
static void test_gen_then_run(void **state)
{
    (void)state;
    const char *spec = "'chat:n=400,rate=2;out=lognormal:mean=120,sigma=0.7'";
    char args[2048], a[512], b[512];
    snprintf(args, sizeof args, "gen --workload %s --seed 11 --limit 300 -o %s/w.csv.gz", spec,
             g_tmp);
    assert_int_equal(kvsim(args), 0);
    assert_non_null(strstr(out, "wrote 300 requests"));
    snprintf(args, sizeof args,
             "run --workload %s --seed 11 --limit 300 --gpu a100-40gb --model opt-13b --quiet "
             "--out %s/direct",
             spec, g_tmp);
    assert_int_equal(kvsim(args), 0);
    snprintf(args, sizeof args,
             "run --trace %s/w.csv.gz --seed 11 --gpu a100-40gb --model opt-13b --quiet --out "
             "%s/via_file",
             g_tmp, g_tmp);
    assert_int_equal(kvsim(args), 0);
    snprintf(a, sizeof a, "%s/direct/requests.csv", g_tmp);
    snprintf(b, sizeof b, "%s/via_file/requests.csv", g_tmp);
    char *x = test_slurp(a, NULL), *y = test_slurp(b, NULL);
    assert_true(strlen(x) > 1000);
    drop_line_column(x);
    drop_line_column(y);
    assert_string_equal(x, y);
    free(x);
    free(y);
    /* The generated file's stats: sessions and hash ids survived. */
    /* One request of a timed trace is not described as a length table. */
    assert_int_equal(kvsim("trace stats tests/data/traces/kvsim_basic.csv --limit 1"), 0);
    if (strstr(out, "duration   0 s (one request at 0.000 s)\n") == NULL ||
        strstr(out, "length table") != NULL)
        fail_msg("trace stats of one request:\n%s", out);
    assert_int_equal(kvsim("trace stats tests/data/traces/lengths_basic.csv"), 0);
    assert_non_null(strstr(out, "a length table has no arrival times unless --rate adds them"));
    /* --request-rate inf (vllm bench serve's): every request at 0. */
    assert_int_equal(
        kvsim("gen --trace tests/data/traces/lengths_basic.csv --request-rate inf -o - --quiet"),
        0);
    for (const char *l = strchr(out, '\n'); l != NULL && l[1] != '\0'; l = strchr(l + 1, '\n'))
        if (strncmp(l + 1, "0.000000000,", 12) != 0)
            fail_msg("a request not at 0 under --request-rate inf: %.60s", l + 1);
    expect_line("run --trace tests/data/traces/lengths_basic.csv --gpu a100-40gb --model opt-13b "
                "--request-rate inf --burstiness 2",
                2, "kvsim: --burstiness shapes the gaps of a finite --request-rate", "");
    snprintf(args, sizeof args, "trace stats %s/w.csv.gz", g_tmp);
    assert_int_equal(kvsim(args), 0);
    assert_non_null(strstr(out, "requests   300\n"));
    assert_non_null(strstr(out, "prefix     "));
    assert_non_null(strstr(out, "sessions   "));
    /* Plain output to stdout: header plus one row per request. */
    assert_int_equal(kvsim("gen --workload alpaca:n=25 --seed 2 -o - --quiet"), 0);
    assert_int_equal(test_count_lines(out), 26);
    assert_int_equal(strncmp(out, "arrival_s,input_tokens,output_tokens\n0.000000000,", 47), 0);
}

/* Runs the shell command CMD; fails the test unless it exits 0. */
static void sh(const char *cmd)
{
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("command failed: %s", cmd);
}

/*
 * A failing command leaves no partial file and keeps an existing one: gen
 * on a truncated trace, run and compare with --out in a folder they create
 * (removed again). A write error on standard output is an error.
 */
static void test_outputs_whole_or_not(void **state)
{
    (void)state;
    char args[2048], cmd[2048];
    snprintf(args, sizeof args, "gen --workload sharegpt:n=3000 --quiet -o %s/full.csv.gz", g_tmp);
    assert_int_equal(kvsim(args), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && head -c 20000 full.csv.gz > cut.csv.gz && mkdir w && echo keep > w/x.csv",
             g_tmp);
    sh(cmd);
    snprintf(args, sizeof args, "gen --trace %s/cut.csv.gz -o %s/w/x.csv", g_tmp, g_tmp);
    expect_line(args, 1, "kvsim: ", "truncated gzip stream");
    snprintf(args, sizeof args, "%s/w/x.csv", g_tmp);
    char *kept = test_slurp(args, NULL);
    assert_string_equal(kept, "keep\n");
    free(kept);
    /* Nothing else in the folder: the temporary is gone. */
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s/w')\" = x.csv", g_tmp);
    sh(cmd);
    snprintf(
        args, sizeof args,
        "run --trace %s/cut.csv.gz --gpu a100-80gb --model llama-2-7b --quiet --out %s/new/sub",
        g_tmp, g_tmp);
    expect_line(args, 1, "kvsim: ", "truncated gzip stream");
    snprintf(args, sizeof args,
             "compare --allocators paged,vattn --trace %s/cut.csv.gz --gpu a100-80gb --model "
             "llama-2-7b --quiet --out %s/new/sub",
             g_tmp, g_tmp);
    expect_line(args, 1, "kvsim: ", "truncated gzip stream");
    snprintf(cmd, sizeof cmd, "test ! -e '%s/new'", g_tmp);
    sh(cmd);
    /* A good gen replaces the file whole. */
    snprintf(args, sizeof args, "gen --trace %s/full.csv.gz --quiet -o %s/w/x.csv", g_tmp, g_tmp);
    assert_int_equal(kvsim(args), 0);
    snprintf(cmd, sizeof cmd,
             "test $(wc -l < '%s/w/x.csv') -eq 3001 && test \"$(ls -A '%s/w')\" = x.csv", g_tmp,
             g_tmp);
    sh(cmd);

    /* Bytes after the gzip data: read, with one warning line naming the file and the count. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && gzip -cd full.csv.gz | head -5 | gzip > junk.csv.gz && printf junk >> "
             "junk.csv.gz",
             g_tmp);
    sh(cmd);
    snprintf(args, sizeof args, "trace stats %s/junk.csv.gz", g_tmp);
    assert_int_equal(kvsim(args), 0);
    if (strstr(out, "junk.csv.gz: 4 bytes of trailing garbage after the gzip data ignored\n") ==
            NULL ||
        strstr(out, "kvsim: warning: ") == NULL || strstr(out, "requests   4\n") == NULL)
        fail_msg("trace stats of a gzip file with trailing garbage:\n%s", out);

    /* Standard output on a full device: status 1 and one line, every command. */
    const char *cmds[] = {"list gpus",
                          "list models",
                          "--help",
                          "run --help",
                          "trace stats tests/data/traces/kvsim_basic.csv",
                          "gen --workload alpaca:n=5 -o -"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(args, sizeof args, "%s >/dev/full 2>'%s/err'; rc=$?; cat '%s/err'; exit $rc",
                 cmds[i], g_tmp, g_tmp);
        int rc = kvsim(args);
        if (rc == 0 || test_count_lines(out) != 1 || strstr(out, "kvsim: ") != out ||
            (strstr(out, "write error") == NULL && strstr(out, "cannot write") == NULL))
            fail_msg("kvsim %s > /dev/full: exit %d, output:\n%s", cmds[i], rc, out);
    }
}

static void test_real_trace_stats(void **state)
{
    (void)state;
    const char *dir = getenv("KVSIM_SHARED_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/traces/conversation_trace.jsonl.gz", dir ? dir : "");
    if (dir == NULL || access(path, R_OK) != 0) {
        print_message("skipped: %s is not readable (KVSIM_SHARED_DIR)\n", path);
        skip();
        return;
    }
    char args[1200];
    snprintf(args, sizeof args, "trace stats %s", path);
    assert_int_equal(kvsim(args), 0);
    assert_non_null(strstr(out, "requests   12031\n"));
    assert_non_null(strstr(out, "36.64 % of 288500 block ids repeat an earlier id"));
    assert_non_null(strstr(out, "12035.06"));
    snprintf(args, sizeof args,
             "trace stats %s/traces/sharegpt_8k_filtered_stats_llama2_tokenizer.csv.gz --rate 4 "
             "--seed 1",
             dir);
    assert_int_equal(kvsim(args), 0);
    assert_non_null(strstr(out, "(lengths, Poisson arrivals at 4 req/s)"));
    assert_non_null(strstr(out, "requests   30731\n"));
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/kvsim_cli_corpus.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    return mkdtemp(g_tmp) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_corpus),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_gen_then_run),
        cmocka_unit_test(test_outputs_whole_or_not),
        cmocka_unit_test(test_real_trace_stats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
