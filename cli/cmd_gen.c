/*
 * cmd_gen.c: `kvsim gen`, and the request-source options every command
 * shares (cli_int.h): --trace or --workload, the trace options, and the
 * transforms.
 *
 *   kvsim gen --workload SPEC -o FILE.csv.gz [--seed N] [transforms]
 *   kvsim gen --trace FILE [--format F] -o FILE.csv.gz [transforms]
 *
 * The output is kvsim CSV (traces/trace_write.h), gzip when FILE ends in
 * ".gz"; reading it back gives the same requests, arrival times exact.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "cli/cli_opts.h"
#include "cli/cli_out.h"
#include "cli/run_config.h"
#include "traces/trace_stats.h"
#include "traces/trace_write.h"

const char cli_source_help[] =
    "  --trace FILE            request trace, gzip or plain; '-' reads standard input\n"
    "  --format FMT            " TRACE_FORMAT_NAMES " (default auto)\n"
    "  --model-filter NAME     burstgpt traces: keep only this model's rows (e.g. GPT-4)\n"
    "  --rate R                length tables (no arrival times): Poisson arrivals at R req/s\n"
    "  --workload SPEC         a generated workload instead of --trace (kvsim gen --help)\n"
    "  --time-window A:B       keep arrivals in [A, B) seconds, re-based to start at 0\n"
    "                          (A or B may be empty: ':600', '3000:')\n"
    "  --sample P              keep each request with probability P, seeded (0 < P <= 1)\n"
    "  --rate-scale X          multiply the request rate by X: every arrival time / X\n"
    "  --limit N               stop after N requests\n"
    "                          (transforms apply in this order: window, sample, rate-scale,\n"
    "                          limit, whatever the order of the options)\n";

static const char usage_gen[] =
    "usage: kvsim gen --workload SPEC -o FILE [--seed N] [transforms]\n"
    "       kvsim gen --trace FILE [--format F] -o FILE [transforms]\n"
    "\n"
    "Writes a generated workload, or a trace after transforms, as kvsim CSV\n"
    "(arrival_s,input_tokens,output_tokens[,session_id][,hash_ids]), gzip-compressed\n"
    "when FILE ends in .gz; '-o -' writes plain CSV to standard output. Reading the\n"
    "file back gives the same requests, arrival times exact. The same SPEC and seed\n"
    "give the same requests in kvsim run --workload.\n"
    "\n"
    "options\n"
    "  -o, --output FILE       where to write (required)\n"
    "  --seed N                seed of every random stream (default 0)\n"
    "  --quiet                 print nothing but errors\n"
    "%s"
    "\n"
    "SPEC := HEAD[;in=DIST][;out=DIST][;arrival=PROCESS]\n"
    "  HEAD is a preset or an arrival process, with KEY=VALUE parameters after ':'\n"
    "  separated by ','; n=N sets the number of requests (default 1000).\n"
    "\n"
    "presets (defaults; in=, out= and arrival= clauses replace their parts)\n"
    "  sharegpt      Poisson 1 req/s; in lognormal mean 161.31 sigma 1.2, out lognormal\n"
    "                mean 337.99 sigma 1.0, both capped at 2048 (vLLM paper, SOSP 2023)\n"
    "  alpaca        Poisson 1 req/s; in lognormal mean 19.31 sigma 0.6, out mean 58.45\n"
    "                sigma 1.0, capped at 2048 (vLLM paper)\n"
    "  azure-conv    Gamma 5.53 req/s cv 1.09; in lognormal mean 1155 sigma 0.99 (max\n"
    "                16384), out mean 211 sigma 0.86 capped at 1000 (Azure 2023 conv)\n"
    "  azure-code    Gamma 2.57 req/s cv 3.0; in lognormal mean 2048 sigma 1.36 (max\n"
    "                7437), out mean 28 sigma 0.85 (Azure 2023 code)\n"
    "  chat          multi-turn conversations sharing prefixes, with session_id and\n"
    "                hash_ids (512-token blocks, Mooncake's convention): conversations\n"
    "                arrive Poisson at rate=0.5/s; turns=4 (mean, geometric), think=60\n"
    "                (mean s between turns), sys=512 (shared system prompt tokens),\n"
    "                max_ctx=16384; in= and out= are each turn's new message and answer\n"
    "                (default: the sharegpt shapes)\n"
    "  preset keys: n, rate, cv (cv != 1 makes arrivals Gamma); chat also turns, think,\n"
    "  sys, max_ctx\n"
    "\n"
    "arrival processes (the first request arrives at 0)\n"
    "  poisson:rate=R          exponential gaps, mean 1/R\n"
    "  gamma:rate=R,cv=C       Gamma gaps, mean 1/R, coefficient of variation C (bursty > 1)\n"
    "  constant:rate=R         request i at i/R\n"
    "  batch[:at=T]            every request at T (default 0)\n"
    "\n"
    "length distributions (integers clamped to [min, max], default [1, 1048576])\n"
    "  fixed:N\n"
    "  uniform:min=A,max=B\n"
    "  normal:mean=M,sd=S[,min=A][,max=B]      M is the mean after clamping\n"
    "  lognormal:mean=M,sigma=S[,min=A][,max=B]  S is the sd of log(length)\n"
    "  zipf:s=S,max=B[,min=A]  P(min + k - 1) ~ k^-S, k = 1 .. max - min + 1\n"
    "  empirical:file=PATH[,format=F]  lengths of a random row of a trace or length\n"
    "                          table; in= and out= from the same file draw one row\n"
    "\n"
    "examples\n"
    "  kvsim gen --workload sharegpt:n=100000,rate=2 -o sharegpt.csv.gz\n"
    "  kvsim gen --workload 'poisson:rate=5,n=1000;in=lognormal:mean=500,sigma=0.8;"
    "out=fixed:200' -o w.csv.gz\n"
    "  kvsim gen --workload 'gamma:rate=4,cv=3,n=5000;in=empirical:file=t.csv.gz;"
    "out=empirical:file=t.csv.gz' -o bursty.csv.gz\n"
    "  kvsim gen --trace azure_conv.csv.gz --time-window 0:600 --rate-scale 2 -o busy.csv.gz\n";

/* Parses "A:B" (seconds; empty A is 0, empty B the end) into *T; exits on error. */
static void parse_window(const char *s, wl_transforms *t)
{
    const char *colon = strchr(s, ':');
    char a[64], b[64];
    if (colon == NULL || strchr(colon + 1, ':') != NULL || (size_t)(colon - s) >= sizeof a ||
        strlen(colon + 1) >= sizeof b)
        cli_die("--time-window: '%s' is not START:END in seconds (e.g. 0:600, or 3000: to the "
                "end)",
                s);
    snprintf(a, sizeof a, "%.*s", (int)(colon - s), s);
    snprintf(b, sizeof b, "%s", colon + 1);
    t->has_window = 1;
    t->window_start_s = a[0] != '\0' ? cli_parse_double("--time-window start", a, 0, 1e12, 0) : 0;
    t->window_end_s =
        b[0] != '\0' ? cli_parse_double("--time-window end", b, 0, 1e12, 1) : INFINITY;
    if (!(t->window_end_s > t->window_start_s))
        cli_die("--time-window: '%s': END must be after START", s);
}

int cli_source_open(const cli_source_opts *o, const char *cmd, uint64_t seed, int allow_no_arrivals,
                    wl_source **out)
{
    *out = NULL;
    if (o->trace != NULL && o->workload != NULL)
        cli_die("%s: --trace and --workload both given: give one", cmd);
    if (o->trace == NULL && o->workload == NULL)
        cli_die("%s: --trace FILE is required, or --workload SPEC (kvsim %s --help)", cmd, cmd);
    if (o->trace != NULL && o->trace[0] == '\0')
        cli_die("--trace: empty file name ('-' reads standard input)");
    if (o->workload != NULL && o->rate != NULL && strcmp(o->rate, "inf") == 0)
        cli_die("--request-rate (--rate) applies to --trace; a workload spec sets its own "
                "arrivals: vllm bench serve's inf, every request at once, is ;arrival=batch in it "
                "(e.g. 'sharegpt:n=1000;arrival=batch'; kvsim gen --help)");
    if (o->workload != NULL && o->rate != NULL)
        cli_die("--request-rate (--rate) applies to --trace; a workload spec sets its own rate: "
                "rate=%s in it (e.g. sharegpt:n=1000,rate=%s; kvsim gen --help)",
                o->rate, o->rate);
    if (o->workload != NULL) {
        const char *only_trace = o->format         ? "--format"
                                 : o->model_filter ? "--model-filter"
                                 : o->rate         ? "--rate"
                                 : o->burstiness ? "--burstiness (a spec's gamma:rate=R,cv=C, C = "
                                                   "1/sqrt(B))"
                                                 : NULL;
        if (only_trace != NULL)
            cli_die("%s applies to --trace; a workload spec sets its own (kvsim gen --help)",
                    only_trace);
    }
    wl_transforms t;
    memset(&t, 0, sizeof t);
    t.seed = seed;
    if (o->time_window != NULL)
        parse_window(o->time_window, &t);
    if (o->sample != NULL)
        t.sample_p = cli_parse_double("--sample", o->sample, 0, 1, 1);
    if (o->rate_scale != NULL)
        t.rate_scale = cli_parse_double("--rate-scale", o->rate_scale, 0, 1e9, 1);
    if (o->limit != NULL)
        t.limit = cli_parse_u64("--limit", o->limit, 1, UINT64_MAX);

    char err[2048];
    wl_source *src = NULL;
    int rc;
    if (o->workload != NULL) {
        rc = wl_open_spec(&src, o->workload, seed, err, sizeof err);
        if (rc == TRACE_EARG)
            cli_die("--workload: %s", err);
    } else {
        wl_trace_opts to;
        memset(&to, 0, sizeof to);
        if (o->format != NULL && trace_format_parse(o->format, &to.format) != 0)
            cli_die("--format: unknown format '%s' (known: %s)", o->format, TRACE_FORMAT_NAMES);
        if (o->model_filter != NULL && o->model_filter[0] == '\0')
            cli_die("--model-filter: empty model name");
        to.model_filter = o->model_filter;
        if (o->rate != NULL) /* inf: every request at once, as vllm bench serve's */
            to.rate_per_s = strcmp(o->rate, "inf") == 0
                                ? INFINITY
                                : cli_parse_double("--rate", o->rate, 0, 1e9, 1);
        if (o->rate != NULL && o->burstiness != NULL && isinf(to.rate_per_s))
            cli_die("--burstiness shapes the gaps of a finite --request-rate; inf sends every "
                    "request at once");
        if (o->burstiness != NULL) {
            if (o->rate == NULL)
                cli_die("--burstiness shapes the arrivals of --request-rate (length tables)");
            to.burstiness = cli_parse_double("--burstiness", o->burstiness, 0, 1000, 1);
        }
        to.seed = seed;
        to.allow_no_arrivals = allow_no_arrivals;
        rc = wl_open_trace_ex(&src, o->trace, &to, err, sizeof err);
    }
    if (rc == 0)
        rc = wl_apply_transforms(&src, &t, err, sizeof err);
    if (rc != 0) {
        cli_error("%s", err);
        wl_close(src);
        return 1;
    }
    *out = src;
    return 0;
}

void cli_source_warn(const wl_source *src)
{
    static int warned;
    trace_counts c;
    wl_get_counts(src, &c);
    if (c.trailing_garbage > 0 && !warned) {
        warned = 1;
        /* The description starts with the path as the reader names it. */
        const char *d = wl_describe(src);
        const char *paren = strstr(d, " (");
        cli_error("warning: %.*s: %llu bytes of trailing garbage after the gzip data ignored",
                  paren != NULL ? (int)(paren - d) : (int)strlen(d), d,
                  (unsigned long long)c.trailing_garbage);
    }
}

int cli_take_source_option(cli_source_opts *o, int argc, char **argv, int *i, const char *cmd)
{
    struct {
        const char *name;
        const char **dst;
    } valued[] = {
        {"--trace", &o->trace},       {"--format", &o->format},
        {"--workload", &o->workload}, {"--model-filter", &o->model_filter},
        {"--rate", &o->rate},         {"--rate-scale", &o->rate_scale},
        {"--request-rate", &o->rate}, {"--burstiness", &o->burstiness},
        {"--limit", &o->limit},       {"--time-window", &o->time_window},
        {"--sample", &o->sample},
    };
    const char *a = argv[*i];
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
        if (strlen(valued[k].name) != nlen || strncmp(a, valued[k].name, nlen) != 0)
            continue;
        const char *v = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
        if (v == NULL)
            cli_die("%s needs a value (kvsim %s --help)", valued[k].name, cmd);
        if (*valued[k].dst != NULL)
            cli_die("%s given twice", valued[k].name);
        *valued[k].dst = v;
        return 1;
    }
    return 0;
}

int cmd_gen(int argc, char **argv)
{
    cli_source_opts so;
    memset(&so, 0, sizeof so);
    const char *output = NULL, *seed_s = NULL;
    int quiet = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf(usage_gen, cli_source_help);
            return 0;
        }
        if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (cli_take_source_option(&so, argc, argv, &i, "gen"))
            continue;
        const char **dst = NULL;
        const char *name = a;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 || strncmp(a, "--output=", 9) == 0) {
            dst = &output;
            name = "-o";
        } else if (strcmp(a, "--seed") == 0 || strncmp(a, "--seed=", 7) == 0) {
            dst = &seed_s;
            name = "--seed";
        }
        if (dst == NULL) {
            static const char *const names[] = {"-o",           "--output",       "--seed",
                                                "--quiet",      "--trace",        "--format",
                                                "--workload",   "--model-filter", "--rate",
                                                "--rate-scale", "--request-rate", "--burstiness",
                                                "--limit",      "--time-window",  "--sample"};
            const char *kv = cli_bench_option_hint(a);
            if (kv != NULL)
                cli_die("gen: unknown option '%.*s': vLLM's; kvsim's: %s", (int)strcspn(a, "="), a,
                        kv);
            char nm[256];
            snprintf(nm, sizeof(nm), "%.*s", (int)strcspn(a, "="), a);
            const char *hint =
                a[0] == '-' ? cli_did_you_mean(nm, names, sizeof(names) / sizeof(names[0])) : NULL;
            if (hint != NULL)
                cli_die("gen: unknown option '%s': did you mean %s? (kvsim gen --help lists them)",
                        a, hint);
            cli_die("gen: unknown option '%s' (kvsim gen --help lists them)", a);
        }
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (v == NULL)
            cli_die("%s needs a value (kvsim gen --help)", name);
        if (*dst != NULL)
            cli_die("%s given twice", name);
        *dst = v;
    }
    if (output == NULL)
        cli_die("gen: -o FILE is required (kvsim gen --help)");
    if (output[0] == '\0')
        cli_die("-o: empty file name");
    uint64_t seed = seed_s != NULL ? cli_parse_u64("--seed", seed_s, 0, UINT64_MAX) : 0;

    wl_source *src;
    if (cli_source_open(&so, "gen", seed, 0, &src) != 0)
        return 1;
    char err[1024];
    trace_writer *w;
    /* A file is written to a temporary renamed at the end (cli_out.h). */
    int fd = strcmp(output, "-") == 0 ? -1 : cli_out_create(output);
    if ((fd < 0
             ? trace_writer_open(&w, output, wl_get_fields(src), 6, err, sizeof err)
             : trace_writer_open_fd(&w, fd, output, wl_get_fields(src), 6, err, sizeof err)) != 0) {
        cli_error("%s", err);
        wl_close(src);
        return 1;
    }
    trace_stats *st = trace_stats_create();
    if (st == NULL) {
        cli_error("out of memory");
        trace_writer_close(w, NULL, 0);
        wl_close(src);
        return 1;
    }
    trace_request q;
    int rc;
    int status = 0;
    while ((rc = wl_next(src, &q)) == 1) {
        if (trace_writer_put(w, &q) != 0)
            break;
        /* The summary needs lengths and times only: without the ids, the
         * stats keep no per-id state and memory stays flat. */
        q.num_hash_ids = 0;
        q.hash_ids = NULL;
        q.has_session = 0;
        (void)trace_stats_add(st, &q);
    }
    if (rc < 0) {
        cli_error("%s", wl_errmsg(src));
        status = 1;
    } else {
        cli_source_warn(src);
    }
    if (trace_writer_close(w, err, sizeof err) != 0) {
        cli_error("%s", err);
        status = 1;
    }
    /* The file is in place (renamed over its name) before it is said to
     * be written. */
    if (status == 0 && fd >= 0)
        status = cli_out_commit();
    if (status == 0 && !quiet) {
        trace_stats_summary s;
        trace_stats_get(st, &s);
        FILE *fp = strcmp(output, "-") == 0 ? stderr : stdout;
        fprintf(fp, "wrote %llu requests to %s\n  from %s\n", (unsigned long long)s.requests,
                output, wl_describe(src));
        /* Arrivals at one instant have no rate (requests / 0 s): said, not
         * printed as 0 req/s. */
        char rate[64];
        if (s.duration_s > 0)
            snprintf(rate, sizeof(rate), "%.4g req/s", s.rate_per_s);
        else
            snprintf(rate, sizeof(rate), "%s", s.requests == 1 ? "one request" : "all at once");
        fprintf(fp,
                "  input mean %.2f (p50 %u, p99 %u), output mean %.2f (p50 %u, p99 %u); "
                "arrivals %.3f..%.3f s (%s)\n",
                s.in.mean, s.in.p50, s.in.p99, s.out.mean, s.out.p50, s.out.p99, s.first_arrival_s,
                s.last_arrival_s, rate);
    }
    trace_stats_destroy(st);
    wl_close(src);
    return status;
}
