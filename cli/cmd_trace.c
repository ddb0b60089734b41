/*
 * cmd_trace.c: `kvsim trace stats`: what a trace (or a workload) holds,
 * read in one streaming pass: rows, duration and rate, input and output
 * lengths (mean, nearest-rank percentiles from traces/trace_stats.h,
 * exact below 262,144 tokens), prefix reuse when requests carry hash ids,
 * sessions, and the quirks the reader accepted.
 *
 *   kvsim trace stats FILE [--format F] [--model-filter M] [transforms]
 *   kvsim trace stats --workload SPEC [--seed N] [transforms]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "cli/run_config.h"
#include "traces/trace_stats.h"

static const char usage_trace[] =
    "usage: kvsim trace stats FILE [--format F] [--model-filter M] [options]\n"
    "       kvsim trace stats --workload SPEC [--seed N] [options]\n"
    "\n"
    "Reads a trace (gzip or plain, streamed) or a generated workload and prints:\n"
    "rows, duration (first to last arrival) and rate (rows / duration); mean,\n"
    "p50, p90, p99, min and max of input and output tokens (nearest-rank\n"
    "percentiles from a histogram exact below 262,144 tokens, within 0.1 %% above);\n"
    "prefix reuse when requests carry hash_ids (share of block ids that repeat an\n"
    "earlier id, in trace order); distinct sessions; and what the reader skipped or\n"
    "adjusted. A length table without --rate is read with arrivals of 0.\n"
    "\n"
    "options\n"
    "  --seed N                seed of the random streams (default 0)\n"
    "%s";

static void print_len(const char *name, const trace_stats_len *l)
{
    printf("  %-8s %12.2f %9u %9u %9u %9u %9u\n", name, l->mean, l->p50, l->p90, l->p99, l->min,
           l->max);
}

static int trace_stats_cmd(int argc, char **argv)
{
    cli_source_opts so;
    memset(&so, 0, sizeof so);
    const char *seed_s = NULL, *file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf(usage_trace, cli_source_help);
            exit(0);
        }
        if (cli_take_source_option(&so, argc, argv, &i, "trace stats"))
            continue;
        if (strcmp(a, "--seed") == 0 || strncmp(a, "--seed=", 7) == 0) {
            const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (v == NULL)
                cli_die("--seed needs a value (kvsim trace stats --help)");
            if (seed_s != NULL)
                cli_die("--seed given twice");
            seed_s = v;
            continue;
        }
        if (a[0] == '-' && a[1] != '\0')
            cli_die("trace stats: unknown option '%s' (kvsim trace stats --help)", a);
        if (file != NULL || so.trace != NULL)
            cli_die("trace stats: more than one file ('%s'); give one", a);
        file = a;
    }
    if (file != NULL && so.trace != NULL)
        cli_die("trace stats: more than one file ('%s'); give one", file);
    if (file != NULL)
        so.trace = file;
    if (so.trace == NULL && so.workload == NULL)
        cli_die("trace stats: say which trace: kvsim trace stats FILE, or --workload SPEC "
                "(kvsim trace stats --help)");
    uint64_t seed = seed_s != NULL ? cli_parse_u64("--seed", seed_s, 0, UINT64_MAX) : 0;
    wl_source *src;
    if (cli_source_open(&so, "trace stats", seed, 1, &src) != 0)
        return 1;
    trace_stats *st = trace_stats_create();
    if (st == NULL) {
        wl_close(src);
        cli_die("out of memory");
    }
    trace_request q;
    int rc, nomem = 0;
    while ((rc = wl_next(src, &q)) == 1)
        nomem |= trace_stats_add(st, &q) != 0;
    if (rc < 0) {
        cli_error("%s", wl_errmsg(src));
        trace_stats_destroy(st);
        wl_close(src);
        return 1;
    }
    cli_source_warn(src);
    trace_stats_summary s;
    trace_stats_get(st, &s);
    trace_counts c;
    wl_get_counts(src, &c);

    printf("source     %s\n", wl_describe(src));
    printf("requests   %llu\n", (unsigned long long)s.requests);
    if (s.requests == 0)
        printf("duration   none (no requests%s)\n",
               so.time_window != NULL ? "; is the time window past the last arrival?" : "");
    else if (s.duration_s > 0)
        printf("duration   %.3f s (arrivals %.3f .. %.3f s), rate %.4g req/s\n", s.duration_s,
               s.first_arrival_s, s.last_arrival_s, s.rate_per_s);
    else
        printf("duration   0 s (%s at %.3f s%s)\n",
               s.requests == 1 ? "one request" : "every arrival", s.first_arrival_s,
               !wl_has_arrivals(src)
                   ? "; a length table has no arrival times unless --rate adds them"
                   : "");
    printf("tokens     %12s %9s %9s %9s %9s %9s\n", "mean", "p50", "p90", "p99", "min", "max");
    print_len("input", &s.in);
    print_len("output", &s.out);
    printf("           totals: %llu input, %llu output tokens\n",
           (unsigned long long)s.input_tokens_total, (unsigned long long)s.output_tokens_total);
    if (s.hash_ids > 0)
        printf("prefix     %.2f %% of %llu block ids repeat an earlier id (%llu distinct; %llu "
               "requests carry ids)%s\n",
               100.0 * s.prefix_reuse, (unsigned long long)s.hash_ids,
               (unsigned long long)s.hash_ids_distinct, (unsigned long long)s.with_hash_ids,
               nomem ? " (incomplete: out of memory)" : "");
    else
        printf("prefix     no hash ids\n");
    if (s.with_session > 0)
        printf("sessions   %llu distinct (%llu requests carry a session id, %.2f per session)\n",
               (unsigned long long)s.sessions, (unsigned long long)s.with_session,
               s.sessions > 0 ? (double)s.with_session / (double)s.sessions : 0.0);
    if (wl_get_path(src) != NULL) { /* a file's reading; a generator has none */
        printf("reader     %llu lines, %llu CRLF, %llu arrivals raised to the previous one, %llu "
               "zero outputs read as 1, %llu trailing blank lines%s",
               (unsigned long long)c.lines, (unsigned long long)c.crlf_lines,
               (unsigned long long)c.reordered, (unsigned long long)c.zero_output,
               (unsigned long long)c.trailing_blank,
               c.missing_final_newline ? ", no final newline" : "");
        if (c.trailing_garbage > 0)
            printf(", %llu bytes of trailing garbage after the gzip data",
                   (unsigned long long)c.trailing_garbage);
        printf("\n");
    }
    if (c.failed_skipped > 0 || c.filtered_out > 0)
        printf("skipped    %llu failed requests (0 response tokens), %llu rows of other models\n",
               (unsigned long long)c.failed_skipped, (unsigned long long)c.filtered_out);
    trace_stats_destroy(st);
    wl_close(src);
    return 0;
}

int cmd_trace(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        if (argc < 1)
            cli_die("trace: say what to do: kvsim trace stats FILE (kvsim trace stats --help)");
        printf(usage_trace, cli_source_help);
        return 0;
    }
    if (strcmp(argv[0], "stats") == 0)
        return trace_stats_cmd(argc - 1, argv + 1);
    if (strcmp(argv[0], "convert") == 0)
        cli_die("trace: unknown subcommand 'convert': kvsim gen --trace FILE -o OUT.csv[.gz] "
                "writes any trace as kvsim CSV (with --time-window, --rate-scale, ...)");
    cli_die("trace: unknown subcommand '%s' (known: stats)", argv[0]);
    return 2;
}
