/*
 * cmd_sweep.c: `kvsim sweep`: a run repeated over a grid of option values
 * and seeds, aggregated into curves; and `--find max-rate`, the highest
 * load that meets service-level objectives, by bisection.
 *
 *   kvsim sweep --vary KEY=VALUES [--vary ...] [--seeds N] [-j N] --out DIR [run options]
 *   kvsim sweep --find max-rate --slo KEY=LIMIT[,...] [--seeds N] [-j N] --out DIR [run options]
 *
 * Each run is a child `kvsim run` (cli/sweep_jobs.h) writing
 * DIR/points/NNNN/seed-S (or DIR/find/VAR_LOAD/seed-S); the sweep writes
 * DIR/curves.csv and DIR/curves.json (analysis/curves.h), and find.json
 * for a search. Results are ordered by point and seed, never by finishing
 * order, so -j changes nothing in them.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/curves.h"
#include "analysis/metrics.h"
#include "analysis/plot.h"
#include "cli/cli_int.h"
#include "cli/cli_out.h"
#include "cli/run_config.h"
#include "cli/sweep_int.h"
#include "cli/sweep_jobs.h"
#include "cli/sweep_mpi.h"
#include "workloads/source.h"

static const char usage_sweep[] =
    "usage: kvsim sweep --vary KEY=VALUES [--vary KEY=VALUES ...] --out DIR [options] [run "
    "options]\n"
    "       kvsim sweep --find max-rate --slo METRIC=LIMIT[,...] --out DIR [options] [run "
    "options]\n"
    "\n"
    "Runs `kvsim run` with the run options over every combination of the varied\n"
    "values (a grid, the first --vary outermost) and seeds; writes DIR/curves.csv,\n"
    "DIR/curves.json (one row per point: the varied options, then every figure of\n"
    "summary.json, mean over seeds, and NAME_ci95: the 95 % confidence half-width,\n"
    "Student t), each run's folder DIR/points/NNNN/seed-S (its summary.json and\n"
    "timeseries.csv), and plots.\n"
    "\n"
    "  --vary KEY=VALUES       a run option without its dashes and its values:\n"
    "                          v1,v2,...  (';' instead of ',' when values hold commas)\n"
    "                          A..BxF     geometric: A, A*F, ... up to B (1..512x2)\n"
    "                          A..B+S     arithmetic: A, A+S, ... up to B (0.5..4+0.5)\n"
    "                          on,off     a switch: --KEY, or --no-KEY (enable- switches)\n"
    "  --seeds N               seeds per point: --seed, --seed + 1, ... (default 1)\n"
    "  -j N, --jobs N          runs at once (default 1)\n"
    "  --out DIR               where everything goes (required)\n"
    "  --quiet                 no progress and no table\n"
    "  --save-detailed         each run's requests.csv and memory plot as well (as\n"
    "                          vllm bench serve's --save-detailed; a run's share of\n"
    "                          a sweep's time is mostly these)\n"
    "\n"
    "SLO search\n"
    "  --find max-rate         the highest load meeting every --slo: on --request-rate\n"
    "                          when it is given (length tables), else on --rate-scale\n"
    "  --slo METRIC=LIMIT,...  summary.json figures that must stay <= LIMIT, named as\n"
    "                          in vllm_bench (p99_ttft_ms, mean_tpot_ms, p99.9_e2el_ms,\n"
    "                          ...) or by a dotted name (phases.p99_queue_ms)\n"
    "  --find-start X          first load tried (default: --request-rate, or scale 1)\n"
    "  --find-iters N          bisection steps after the bracket (default 10)\n"
    "  --find-tol X            stop when (high - low) <= X x low (default 0.01)\n"
    "  A load meets the objectives when the mean over seeds of each metric does;\n"
    "  the report gives the bracket and how many seeds met them at each end.\n"
    "  Each load's runs: DIR/find/VAR_LOAD/seed-S (e.g. find/rate-scale_2.5/seed-0).\n"
    "  With --vary, one search per point (DIR/points/NNNN) and DIR/find.csv.\n"
    "\n"
    "Every other option is a run option (kvsim run --help), passed to each run.\n";

/* Formats V as a run option value: integers without a point, else the
 * shortest text that reads back. */
void sweep_fmt_value(char *buf, size_t len, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.15g", v);
}

static char *dupstr(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    if (d == NULL)
        cli_die("sweep: out of memory");
    strcpy(d, s);
    return d;
}

static void vary_push(vary *v, const char *s)
{
    if (v->n >= MAX_POINTS)
        cli_die("--vary %s: more than %d values", v->name, MAX_POINTS);
    char **nv = realloc(v->values, (v->n + 1) * sizeof(char *));
    if (nv == NULL)
        cli_die("sweep: out of memory");
    v->values = nv;
    v->values[v->n++] = dupstr(s);
}

/* A range A..BxF or A..B+S into V's values; returns 0 when SPEC is not a
 * range (then it is a list). Exits on a bad range. */
static int parse_range(vary *v, const char *spec)
{
    const char *dots = strstr(spec, "..");
    if (dots == NULL)
        return 0;
    char opt[128];
    snprintf(opt, sizeof(opt), "--vary %s", v->name);
    char a[64], rest[128];
    size_t alen = (size_t)(dots - spec);
    if (alen == 0 || alen >= sizeof(a))
        cli_die("%s: '%s' is not a range A..BxF or A..B+S", opt, spec);
    memcpy(a, spec, alen);
    a[alen] = '\0';
    snprintf(rest, sizeof(rest), "%s", dots + 2);
    char *op = strpbrk(rest, "x+");
    if (op == NULL)
        cli_die("%s: '%s' needs a factor (A..BxF) or a step (A..B+S)", opt, spec);
    char kind = *op;
    *op = '\0';
    double lo = cli_parse_double(opt, a, -1e15, 1e15, 0);
    double hi = cli_parse_double(opt, rest, -1e15, 1e15, 0);
    double by = cli_parse_double(opt, op + 1, 0, 1e15, 1);
    if (hi < lo)
        cli_die("%s: '%s': the end is below the start", opt, spec);
    if (kind == 'x' && (by <= 1 || lo <= 0))
        cli_die("%s: '%s': a geometric range needs a start > 0 and a factor > 1", opt, spec);
    char buf[64];
    for (size_t k = 0;; k++) {
        /* Each value from the start (no accumulated rounding): lo x by^k or lo + k x by. */
        double x = kind == 'x' ? lo * pow(by, (double)k) : lo + (double)k * by;
        if (x > hi * (1 + 1e-12) + 1e-12)
            break;
        sweep_fmt_value(buf, sizeof(buf), x);
        vary_push(v, buf);
    }
    return 1;
}

static int switch_value(const char *v);

static void parse_vary(sweep_opts *o, const char *arg)
{
    if (o->nvary == MAX_VARY)
        cli_die("--vary: at most %d options", MAX_VARY);
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg || eq[1] == '\0')
        cli_die("--vary: '%s' is not KEY=VALUES (e.g. max-num-seqs=1..512x2)", arg);
    vary *v = &o->vary[o->nvary];
    memset(v, 0, sizeof(*v));
    const char *key = arg;
    while (*key == '-')
        key++;
    size_t klen = (size_t)(eq - key);
    if (klen == 0 || klen >= sizeof(v->name))
        cli_die("--vary: '%s': bad option name", arg);
    memcpy(v->name, key, klen);
    v->name[klen] = '\0';
    static const char *const refused[] = {"seed", "out", "quiet", "help"};
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++)
        if (strcmp(v->name, refused[k]) == 0)
            cli_die("--vary: %s cannot be varied (--seeds sets the seeds; --out is the sweep's)",
                    v->name);
    for (size_t k = 0; k < o->nvary; k++)
        if (strcmp(o->vary[k].name, v->name) == 0)
            cli_die("--vary: %s varied twice", v->name);
    const char *spec = eq + 1;
    if (spec[0] == '@') {
        /* Values one per line of a file: for values that hold both ','
         * and ';' (workload specs). Blank lines and '#' comments skipped. */
        FILE *fp = fopen(spec + 1, "r");
        if (fp == NULL)
            cli_die("--vary %s: %s: cannot open: %s", v->name, spec + 1, strerror(errno));
        char line[1024];
        unsigned long lineno = 0;
        while (fgets(line, sizeof(line), fp) != NULL) {
            lineno++;
            size_t len = strlen(line);
            if (len == sizeof(line) - 1 && line[len - 1] != '\n')
                cli_die("--vary %s: %s:%lu: a value longer than 511 characters", v->name, spec + 1,
                        lineno);
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                               line[len - 1] == ' ' || line[len - 1] == '\t'))
                line[--len] = '\0';
            const char *val = line + strspn(line, " \t");
            if (*val == '\0' || *val == '#')
                continue;
            if (strlen(val) > 511)
                cli_die("--vary %s: %s:%lu: a value longer than 511 characters", v->name, spec + 1,
                        lineno);
            vary_push(v, val);
        }
        int bad = ferror(fp);
        fclose(fp);
        if (bad)
            cli_die("--vary %s: %s: read error", v->name, spec + 1);
        if (v->n == 0)
            cli_die("--vary %s: %s: no values (one a line)", v->name, spec + 1);
        o->nvary++;
        return;
    }
    if (!parse_range(v, spec)) {
        char sep = strchr(spec, ';') ? ';' : ',';
        const char *p = spec;
        for (;;) {
            size_t len = strcspn(p, sep == ';' ? ";" : ",");
            if (len == 0)
                cli_die("--vary %s: an empty value in '%s'", v->name, spec);
            char val[512];
            if (len >= sizeof(val))
                cli_die("--vary %s: a value longer than %zu characters", v->name, sizeof(val) - 1);
            memcpy(val, p, len);
            val[len] = '\0';
            vary_push(v, val);
            if (p[len] == '\0')
                break;
            p += len + 1;
        }
        /* A list with a switch value (on, off, ...) is a switch's: every
         * value must be one (else the run would read the odd one as an
         * option of its own). */
        size_t nsw = 0;
        for (size_t k = 0; k < v->n; k++)
            nsw += switch_value(v->values[k]) >= 0;
        for (size_t k = 0; nsw > 0 && k < v->n; k++)
            if (switch_value(v->values[k]) < 0)
                cli_die("--vary %s: '%s' is not a switch's value (on, off, yes, no, true, "
                        "false), as '%s' is",
                        v->name, v->values[k], v->values[k == 0 ? 1 : 0]);
    }
    o->nvary++;
}

static void parse_slo(sweep_opts *o, const char *arg)
{
    const char *p = arg;
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[256];
        if (len == 0 || len >= sizeof(item))
            cli_die("--slo: '%s' is not METRIC=LIMIT[,...]", arg);
        memcpy(item, p, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        if (eq == NULL || eq == item)
            cli_die("--slo: '%s' is not METRIC=LIMIT (e.g. p99_ttft_ms=1000)", item);
        *eq = '\0';
        for (size_t k = 0; k < o->nslo; k++)
            if (strcmp(o->slo[k].metric, item) == 0)
                cli_die("--slo: %s given twice", item);
        if (o->nslo == MAX_SLO)
            cli_die("--slo: at most %d objectives", MAX_SLO);
        slo *s = &o->slo[o->nslo++];
        snprintf(s->metric, sizeof(s->metric), "%s", item);
        char opt[300];
        snprintf(opt, sizeof(opt), "--slo %s", item);
        s->limit = cli_parse_double(opt, eq + 1, -1e300, 1e300, 0);
        p += len;
        if (*p == ',')
            p++;
    }
    if (o->nslo == 0)
        cli_die("--slo: no objective given");
}

static void pass_push(sweep_opts *o, const char *a)
{
    char **np = realloc(o->pass, (o->npass + 2) * sizeof(char *));
    if (np == NULL)
        cli_die("sweep: out of memory");
    o->pass = np;
    o->pass[o->npass++] = (char *)a;
    o->pass[o->npass] = NULL;
}

/* The value of a sweep option at ARGV[*I] (--name V or --name=V). */
static const char *value_of(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (a[n] == '=')
        return a + n + 1;
    if (*i + 1 >= argc)
        cli_die("%s needs a value (kvsim sweep --help)", name);
    return argv[++*i];
}

static int is_opt(const char *a, const char *name)
{
    size_t n = strlen(name);
    return strncmp(a, name, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

static void parse_sweep_args(int argc, char **argv, sweep_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seeds = 1;
    o->jobs = 1;
    o->find_iters = 10;
    o->find_tol = 0.01;
    int jobs_given = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_sweep, stdout);
            exit(0);
        }
        if (is_opt(a, "--vary")) {
            parse_vary(o, value_of(argc, argv, &i, "--vary"));
        } else if (is_opt(a, "--seeds")) {
            o->seeds = cli_parse_u64("--seeds", value_of(argc, argv, &i, "--seeds"), 1, MAX_SEEDS);
        } else if (is_opt(a, "--jobs") || strcmp(a, "-j") == 0) {
            const char *v = strcmp(a, "-j") == 0 ? (i + 1 < argc ? argv[++i] : NULL)
                                                 : value_of(argc, argv, &i, "--jobs");
            const char *name = strcmp(a, "-j") == 0 ? "-j" : "--jobs";
            if (v == NULL)
                cli_die("%s needs a value (kvsim sweep --help)", name);
            if (jobs_given++)
                cli_die("%s: the number of jobs given twice", name);
            o->jobs = (unsigned)cli_parse_u64(name, v, 1, 1024);
        } else if (strncmp(a, "-j", 2) == 0 && a[2] >= '0' && a[2] <= '9') {
            if (jobs_given++)
                cli_die("-j: the number of jobs given twice");
            o->jobs = (unsigned)cli_parse_u64("-j", a + 2, 1, 1024);
        } else if (is_opt(a, "--out")) {
            if (o->out != NULL)
                cli_die("--out given twice");
            o->out = value_of(argc, argv, &i, "--out");
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
        } else if (strcmp(a, "--save-detailed") == 0) {
            o->save_detailed = 1;
        } else if (is_opt(a, "--find")) {
            o->find = value_of(argc, argv, &i, "--find");
            if (strcmp(o->find, "max-rate") != 0)
                cli_die("--find: '%s' is not a search kvsim knows (max-rate)", o->find);
        } else if (is_opt(a, "--slo")) {
            parse_slo(o, value_of(argc, argv, &i, "--slo"));
        } else if (is_opt(a, "--find-start")) {
            o->find_start = value_of(argc, argv, &i, "--find-start");
            cli_parse_double("--find-start", o->find_start, 0, 1e9, 1);
        } else if (is_opt(a, "--find-iters")) {
            o->find_iters = (unsigned)cli_parse_u64(
                "--find-iters", value_of(argc, argv, &i, "--find-iters"), 0, 100);
        } else if (is_opt(a, "--find-tol")) {
            o->find_tol =
                cli_parse_double("--find-tol", value_of(argc, argv, &i, "--find-tol"), 0, 1, 1);
        } else if (is_opt(a, "--seed")) {
            o->base_seed = cli_parse_u64("--seed", value_of(argc, argv, &i, "--seed"), 0,
                                         UINT64_MAX - MAX_SEEDS);
        } else {
            /* A run option: itself, and its value when it takes one (the
             * next argument unless it is an option or given with '='). */
            /* --request-rate (or --rate) is kept apart: run_argv passes it on
             * unless it is varied, and the search sets it. */
            if (is_opt(a, "--request-rate") || is_opt(a, "--rate")) {
                if (o->rate_opt != NULL)
                    cli_die("--request-rate given twice");
                o->rate_opt =
                    value_of(argc, argv, &i, is_opt(a, "--rate") ? "--rate" : "--request-rate");
                continue;
            }
            pass_push(o, a);
            if (strchr(a, '=') == NULL && i + 1 < argc && argv[i + 1][0] != '-')
                pass_push(o, argv[++i]);
        }
    }
    if (o->out == NULL)
        cli_die("sweep: --out DIR is required (kvsim sweep --help)");
    /* A varied option given as well (under any of its names): the run
     * would say "given twice" of an option typed once, or the varied
     * rate would silently replace the one given. */
    static const char *const alias[][2] = {{"tensor-parallel-size", "-tp"},
                                           {"pipeline-parallel-size", "-pp"},
                                           {"quantization", "-q"},
                                           {"gpu-layers", "-ngl"},
                                           {"kv-cache-dtype", "--kv-dtype"},
                                           {"kv-dtype", "--kv-cache-dtype"},
                                           {"gpu-memory-utilization", "--mem-util"},
                                           {"mem-util", "--gpu-memory-utilization"},
                                           {"max-num-batched-tokens", "--max-batched-tokens"},
                                           {"max-batched-tokens", "--max-num-batched-tokens"}};
    for (size_t k = 0; k < o->nvary; k++) {
        const char *name = o->vary[k].name;
        if (o->rate_opt != NULL && (strcmp(name, "request-rate") == 0 || strcmp(name, "rate") == 0))
            cli_die("sweep: --request-rate is varied (--vary %s=...) and given too: one or the "
                    "other",
                    name);
        char opt[80], no[90];
        snprintf(opt, sizeof(opt), "--%s", name);
        snprintf(no, sizeof(no), "--no-%s", name);
        const char *other = NULL;
        for (size_t a2 = 0; a2 < sizeof(alias) / sizeof(alias[0]); a2++)
            if (strcmp(alias[a2][0], name) == 0)
                other = alias[a2][1];
        for (size_t i = 0; i < o->npass; i++)
            if (is_opt(o->pass[i], opt) || is_opt(o->pass[i], no) ||
                (other != NULL && is_opt(o->pass[i], other)))
                cli_die("sweep: %s is varied (--vary %s=...) and given too (as %.*s): one or the "
                        "other",
                        opt, name, (int)strcspn(o->pass[i], "="), o->pass[i]);
    }
    if (o->find != NULL) {
        if (o->nslo == 0)
            cli_die("sweep: --find max-rate needs --slo METRIC=LIMIT[,...]");
        for (size_t k = 0; k < o->nvary; k++)
            if (strcmp(o->vary[k].name, "rate-scale") == 0 ||
                strcmp(o->vary[k].name, "request-rate") == 0 ||
                strcmp(o->vary[k].name, "rate") == 0)
                cli_die("sweep: --find max-rate searches the load itself: --vary %s does not "
                        "combine with it",
                        o->vary[k].name);
        /* Without --request-rate the search sets --rate-scale on every run. */
        for (size_t k = 0; k < o->npass && o->rate_opt == NULL; k++)
            if (is_opt(o->pass[k], "--rate-scale"))
                cli_die("sweep: --find max-rate searches the load itself: --rate-scale does not "
                        "combine with it (--find-start X starts the search at scale X)");
    } else {
        if (o->nvary == 0)
            cli_die("sweep: nothing to vary: --vary KEY=VALUES (or --find max-rate)");
        if (o->nslo != 0)
            cli_die("sweep: --slo needs --find max-rate");
    }
}

/* 1 for on/true/yes, 0 for off/false/no, -1 for any other value. */
static int switch_value(const char *v)
{
    static const char *const on[] = {"on", "true", "yes"}, *const off[] = {"off", "false", "no"};
    for (int k = 0; k < 3; k++) {
        if (strcmp(v, on[k]) == 0)
            return 1;
        if (strcmp(v, off[k]) == 0)
            return 0;
    }
    return -1;
}

/* The run's arguments: the passed options, the rate option, the varied
 * values NAMES[k]=VALUES[k], the seed, --out DIR and --quiet. */
char **sweep_run_argv(const sweep_opts *o, const char *const *names, const char *const *values,
                      size_t n, unsigned long long seed, const char *dir)
{
    size_t total = o->npass + 2 * n + 10;
    char **av = calloc(total, sizeof(char *));
    if (av == NULL)
        cli_die("sweep: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < o->npass; i++)
        av[k++] = dupstr(o->pass[i]);
    int rate_varied = 0;
    for (size_t i = 0; i < n; i++) {
        char opt[80];
        rate_varied |= strcmp(names[i], "request-rate") == 0 || strcmp(names[i], "rate") == 0;
        /* A switch (--enable-prefix-caching, --client-max-tokens) varies as
         * on/off: on gives --KEY, off gives --no-KEY for an enable- switch
         * (vLLM's pair) and nothing for the others. */
        int sw = switch_value(values[i]);
        if (sw == 1) {
            snprintf(opt, sizeof(opt), "--%s", names[i]);
            av[k++] = dupstr(opt);
            continue;
        }
        if (sw == 0) {
            if (strncmp(names[i], "enable-", 7) == 0) {
                snprintf(opt, sizeof(opt), "--no-%s", names[i]);
                av[k++] = dupstr(opt);
            }
            continue;
        }
        snprintf(opt, sizeof(opt), "--%s", names[i]);
        av[k++] = dupstr(opt);
        av[k++] = dupstr(values[i]);
    }
    if (o->rate_opt != NULL && !rate_varied) {
        av[k++] = dupstr("--request-rate");
        av[k++] = dupstr(o->rate_opt);
    }
    char sb[32];
    snprintf(sb, sizeof(sb), "%llu", seed);
    av[k++] = dupstr("--seed");
    av[k++] = dupstr(sb);
    av[k++] = dupstr("--out");
    av[k++] = dupstr(dir);
    av[k++] = dupstr("--quiet");
    /* Without --save-detailed, each run keeps its summary and time series:
     * its requests.csv and memory plot (a plotting library's start-up
     * alone) cost more than most runs. A requests option passed through
     * or varied asks for the file (--no-requests with --requests-gzip
     * would stop the run). */
    if (!o->save_detailed) {
        int asked = 0, no_plot = 0;
        for (size_t i = 0; i < o->npass; i++) {
            asked |= strcmp(o->pass[i], "--requests-gzip") == 0 ||
                     strcmp(o->pass[i], "--no-requests") == 0;
            no_plot |= strcmp(o->pass[i], "--no-plot") == 0;
        }
        for (size_t i = 0; i < n; i++) {
            asked |= strcmp(names[i], "requests-gzip") == 0 || strcmp(names[i], "no-requests") == 0;
            no_plot |= strcmp(names[i], "no-plot") == 0;
        }
        if (!asked)
            av[k++] = dupstr("--no-requests");
        if (!no_plot)
            av[k++] = dupstr("--no-plot");
    }
    av[k] = NULL;
    return av;
}

/* Checks one run's options in this process (exits with the run's own
 * one-line error), so a bad option stops the sweep before any run. */
void sweep_validate(char **av, const char *label)
{
    int n = 0;
    while (av[n] != NULL)
        n++;
    char ctx[300];
    snprintf(ctx, sizeof(ctx), "sweep: %s", label);
    cli_error_context(ctx); /* a point's error names it, as a run's does */
    run_opts ro;
    cli_parse_run_args(n, av, &ro, "", 0);
    if (ro.trace == NULL && ro.workload == NULL)
        cli_die("sweep: --trace FILE or --workload SPEC is required (kvsim run --help)");
    sim_config cfg;
    double ts;
    trace_format fmt;
    cli_build_config(&ro, "sweep", &cfg, &ts, &fmt);
    char err[1024];
    if (sim_check_config(&cfg, err, sizeof(err)) != 0)
        cli_die("sweep: %s", err);
    /* A workload spec is read here too (a trace waits for its runs:
     * reading one is a run's work). */
    wl_source *src = NULL;
    if (ro.workload != NULL) {
        if (cli_open_source(&ro, fmt, &src) != 0)
            exit(2);
        wl_close(src);
    }
    cli_error_context(NULL);
}

/* The table printed after a sweep: varied values and a few figures. */
static void print_table(const sweep_opts *o, const an_curve_point *pts, size_t npts)
{
    static const char *const figs[] = {"vllm_bench.output_throughput", "vllm_bench.mean_tpot_ms",
                                       "vllm_bench.p99_ttft_ms", "vllm_bench.p99_e2el_ms",
                                       "preemptions"};
    static const char *const heads[] = {"out tok/s", "TPOT ms", "p99 TTFT ms", "p99 E2EL ms",
                                        "preempt"};
    /* Each varied option's column as wide as its name and values, and a
     * space (pipeline-parallel-size ran into the next name at 16). */
    int width[MAX_VARY];
    for (size_t k = 0; k < o->nvary; k++) {
        size_t w = strlen(o->vary[k].name);
        for (size_t p = 0; p < npts; p++)
            if (strlen(pts[p].vary_values[k]) > w)
                w = strlen(pts[p].vary_values[k]);
        width[k] = (int)(w < 15 ? 15 : w > 60 ? 60 : w) + 1;
    }
    for (size_t k = 0; k < o->nvary; k++)
        printf("%-*s", width[k], o->vary[k].name);
    for (size_t f = 0; f < 5; f++)
        printf(" %*s", o->seeds > 1 ? 22 : 12, heads[f]);
    printf("\n");
    for (size_t p = 0; p < npts; p++) {
        for (size_t k = 0; k < o->nvary; k++)
            printf("%-*s", width[k], pts[p].vary_values[k]);
        for (size_t f = 0; f < 5; f++) {
            double v[MAX_SEEDS];
            for (size_t s = 0; s < pts[p].nruns; s++)
                v[s] = an_figures_get(&pts[p].runs[s], figs[f]);
            double mean, ci;
            an_mean_ci95(v, pts[p].nruns, &mean, &ci);
            if (o->seeds > 1)
                printf(" %12.2f +- %7.2f", mean, ci);
            else if (f == 4) /* a count */
                printf(" %12.0f", mean);
            else
                printf(" %12.2f", mean);
        }
        printf("\n");
    }
}

void sweep_write_curves(const sweep_opts *o, const char *const *names, size_t nnames,
                        const an_curve_point *pts, size_t npts)
{
    FILE *csv = cli_open_out(o->out, "curves.csv");
    if (an_write_curves_csv(csv, names, nnames, pts, npts) != 0)
        cli_die("%s/curves.csv: write error", o->out);
    cli_close_out(csv, o->out, "curves.csv");
    FILE *js = cli_open_out(o->out, "curves.json");
    if (an_write_curves_json(js, names, nnames, pts, npts) != 0)
        cli_die("%s/curves.json: write error", o->out);
    cli_close_out(js, o->out, "curves.json");
}

/* Commits the curves written so far (the plots read them back) and draws
 * the sweep's plots in DIR; returns whether it drew latency.png too. */
int sweep_plot_or_die(const char *dir)
{
    if (cli_out_commit() != 0)
        exit(1);
    char err[1024];
    an_plot_info info = {0};
    if (an_plot_curves(dir, &info, err, sizeof(err)) != 0)
        cli_die("sweep: %s", err);
    return info.files > 2; /* curves.png and .svg, then latency's */
}

static int run_grid(sweep_opts *o)
{
    size_t npts = 1;
    for (size_t k = 0; k < o->nvary; k++) {
        npts *= o->vary[k].n;
        if (npts > MAX_POINTS)
            cli_die("sweep: more than %d points", MAX_POINTS);
    }
    size_t nruns = npts * o->seeds;
    sweep_job *jobs = calloc(nruns, sizeof(sweep_job));
    an_curve_point *pts = calloc(npts, sizeof(an_curve_point));
    const char **vals = calloc(npts * o->nvary, sizeof(char *));
    const char *names[MAX_VARY];
    an_figures *figs = calloc(nruns, sizeof(an_figures));
    unsigned long long *seeds = calloc(o->seeds, sizeof(unsigned long long));
    if (jobs == NULL || pts == NULL || vals == NULL || figs == NULL || seeds == NULL)
        cli_die("sweep: out of memory");
    for (size_t k = 0; k < o->nvary; k++)
        names[k] = o->vary[k].name;
    for (unsigned long long s = 0; s < o->seeds; s++)
        seeds[s] = o->base_seed + s;
    for (size_t p = 0; p < npts; p++) {
        /* Point P's values: mixed radix, the last --vary fastest. */
        size_t rem = p;
        for (size_t k = o->nvary; k-- > 0;) {
            vals[p * o->nvary + k] = o->vary[k].values[rem % o->vary[k].n];
            rem /= o->vary[k].n;
        }
        char label[200] = "";
        for (size_t k = 0; k < o->nvary; k++) {
            size_t len = strlen(label);
            snprintf(label + len, sizeof(label) - len, "%s%s=%s", k ? " " : "", names[k],
                     vals[p * o->nvary + k]);
        }
        for (unsigned long long s = 0; s < o->seeds; s++) {
            sweep_job *j = &jobs[p * o->seeds + s];
            snprintf(j->dir, sizeof(j->dir), "%s/points/%04zu/seed-%llu", o->out, p, seeds[s]);
            snprintf(j->label, sizeof(j->label), "point %zu (%s) seed %llu", p, label, seeds[s]);
            j->argv = sweep_run_argv(o, names, vals + p * o->nvary, o->nvary, seeds[s], j->dir);
            if (s == 0)
                sweep_validate(j->argv, j->label);
        }
    }
    cli_make_dirs(o->out);
    double t0 = cli_now_s();
    int rc = sweep_run_share(jobs, nruns, o->jobs, o->quiet, "sweep");
    double wall = cli_now_s() - t0;
    if (rc == 0 && sweep_mpi_rank() == 0) {
        for (size_t p = 0; p < npts; p++) {
            for (size_t s = 0; s < o->seeds; s++)
                figs[p * o->seeds + s] = jobs[p * o->seeds + s].figs;
            pts[p].vary_values = vals + p * o->nvary;
            pts[p].runs = figs + p * o->seeds;
            pts[p].nruns = o->seeds;
            pts[p].seeds = seeds;
        }
        sweep_write_curves(o, names, o->nvary, pts, npts);
        o->latency_drawn = sweep_plot_or_die(o->out);
        if (!o->quiet) {
            print_table(o, pts, npts);
            printf("%zu runs (%zu points x %llu seed%s) in %.2f s wall with -j %u\n", nruns, npts,
                   o->seeds, o->seeds == 1 ? "" : "s", wall, o->jobs);
            printf("wrote %s/curves.csv, %s/curves.json, plots and %s/points/\n", o->out, o->out,
                   o->out);
        }
    }
    for (size_t i = 0; i < nruns; i++)
        sweep_job_free(&jobs[i]);
    free(jobs);
    free(pts);
    free(vals);
    free(figs);
    free(seeds);
    return rc;
}

/* The run options of a point: --KEY VALUE for each varied option (a
 * switch as --KEY, --no-KEY or nothing), appended to a copy of O's
 * passed options in *PO. The added strings are owned by *PO (free with
 * free_point_opts). */
static void point_opts(const sweep_opts *o, const char *const *values, sweep_opts *po)
{
    *po = *o;
    po->nvary = 0;
    po->pass = calloc(o->npass + 2 * o->nvary + 1, sizeof(char *));
    if (po->pass == NULL)
        cli_die("sweep: out of memory");
    memcpy(po->pass, o->pass, o->npass * sizeof(char *));
    po->npass = o->npass;
    for (size_t k = 0; k < o->nvary; k++) {
        char opt[80];
        int sw = switch_value(values[k]);
        if (sw == 0 && strncmp(o->vary[k].name, "enable-", 7) != 0)
            continue;
        snprintf(opt, sizeof(opt), "--%s%s", sw == 0 ? "no-" : "", o->vary[k].name);
        po->pass[po->npass++] = dupstr(opt);
        if (sw < 0)
            po->pass[po->npass++] = dupstr(values[k]);
    }
    po->pass[po->npass] = NULL;
}

static void free_point_opts(const sweep_opts *o, sweep_opts *po)
{
    for (size_t i = o->npass; i < po->npass; i++)
        free(po->pass[i]);
    free(po->pass);
}

/* --find with --vary: one search per point of the grid, each in
 * DIR/points/NNNN (its own find.json, curves and plots), and DIR/find.csv
 * with every point's answer. */
static int find_grid(sweep_opts *o)
{
    size_t npts = 1;
    for (size_t k = 0; k < o->nvary; k++) {
        npts *= o->vary[k].n;
        if (npts > MAX_POINTS)
            cli_die("sweep: more than %d points", MAX_POINTS);
    }
    cli_make_dirs(o->out);
    int root = sweep_mpi_rank() == 0;
    FILE *csv = root ? cli_open_out(o->out, "find.csv") : NULL;
    if (root) {
        fputs("point", csv);
        for (size_t k = 0; k < o->nvary; k++)
            fprintf(csv, ",%s", o->vary[k].name);
        fputs(",max,high,seeds,seeds_meeting_at_low,seeds_meeting_at_high,"
              "request_throughput_at_max,output_throughput_at_max\n",
              csv);
    }
    for (size_t p = 0; p < npts; p++) {
        const char *vals[MAX_VARY];
        size_t rem = p;
        for (size_t k = o->nvary; k-- > 0;) {
            vals[k] = o->vary[k].values[rem % o->vary[k].n];
            rem /= o->vary[k].n;
        }
        char label[200] = "", dir[1024];
        for (size_t k = 0; k < o->nvary; k++) {
            size_t len = strlen(label);
            snprintf(label + len, sizeof(label) - len, "%s%s=%s", k ? " " : "", o->vary[k].name,
                     vals[k]);
        }
        snprintf(dir, sizeof(dir), "%s/points/%04zu", o->out, p);
        sweep_opts po;
        point_opts(o, vals, &po);
        po.out = dir;
        if (!o->quiet && root)
            printf("== point %zu (%s)\n", p, label);
        int rc = sweep_find(&po);
        free_point_opts(o, &po);
        if (rc != 0)
            return rc;
        if (!root)
            continue;
        char path[1100];
        snprintf(path, sizeof(path), "%s/find.json", dir);
        json_error_t je;
        json_t *j = json_load_file(path, 0, &je);
        if (j == NULL)
            cli_die("sweep: %s: line %d: %s", path, je.line, je.text);
        fprintf(csv, "%zu", p);
        for (size_t k = 0; k < o->nvary; k++) {
            fputc(',', csv);
            if (strpbrk(vals[k], ",\"") != NULL) {
                fputc('"', csv);
                for (const char *c = vals[k]; *c; c++)
                    fprintf(csv, *c == '"' ? "\"\"" : "%c", *c);
                fputc('"', csv);
            } else {
                fputs(vals[k], csv);
            }
        }
        json_t *at = json_object_get(j, "at_max");
        json_t *cells[7] = {json_object_get(j, "max"),
                            json_array_get(json_object_get(j, "bracket"), 1),
                            json_object_get(j, "seeds"),
                            json_object_get(j, "seeds_meeting_at_low"),
                            json_object_get(j, "seeds_meeting_at_high"),
                            json_object_get(at, "request_throughput"),
                            json_object_get(at, "output_throughput")};
        char b[AN_NUM_LEN];
        for (int k = 0; k < 7; k++) /* null (no load met, or every load did): empty */
            fprintf(csv, ",%s",
                    json_is_number(cells[k]) ? an_fmt_double(b, json_number_value(cells[k])) : "");
        fputc('\n', csv);
        json_decref(j);
    }
    if (root) {
        cli_close_out(csv, o->out, "find.csv");
        if (!o->quiet)
            printf("wrote %s/find.csv (one search per point) and %s/points/\n", o->out, o->out);
    }
    return 0;
}

/* --trace - (standard input): it can be read once, and each run reads its
 * trace, so the bytes (gzip or not, as given) are copied to
 * OUT/stdin.trace, kept with the outputs when the sweep succeeds (removed
 * when it fails), and the runs read that file. */
static void trace_from_stdin(sweep_opts *o)
{
    for (size_t k = 0; k < o->nvary; k++)
        for (size_t i = 0; strcmp(o->vary[k].name, "trace") == 0 && i < o->vary[k].n; i++)
            if (cli_is_stdin_path(o->vary[k].values[i]))
                cli_die("sweep: --vary trace: '%s' (standard input) can be read only once; give "
                        "files, or one trace as --trace -",
                        o->vary[k].values[i]);
    size_t at = SIZE_MAX;
    for (size_t i = 0; i < o->npass && at == SIZE_MAX; i++)
        if (strncmp(o->pass[i], "--trace=", 8) == 0 && cli_is_stdin_path(o->pass[i] + 8))
            at = i;
        else if (strcmp(o->pass[i], "--trace") == 0 && i + 1 < o->npass &&
                 cli_is_stdin_path(o->pass[i + 1]))
            at = i + 1;
    if (at == SIZE_MAX)
        return;
    if (sweep_mpi_size() > 1)
        cli_die("sweep: --trace - under mpirun: standard input reaches one rank; give a file");
    cli_make_dirs(o->out);
    size_t len = strlen(o->out) + sizeof("--trace=/stdin.trace");
    char *arg = malloc(len);
    if (arg == NULL)
        cli_die("sweep: out of memory");
    snprintf(arg, len, "--trace=%s/stdin.trace", o->out);
    const char *path = arg + strlen("--trace=");
    /* Its first bytes before the file: an empty input leaves an earlier
     * sweep's copy alone. */
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), stdin);
    if (ferror(stdin))
        cli_die("<stdin>: read error: %s", strerror(errno));
    if (n == 0)
        cli_die("sweep: --trace -: standard input is empty");
    FILE *fp = fopen(path, "wbe");
    if (fp == NULL)
        cli_die("%s: cannot create: %s", path, strerror(errno));
    cli_out_adopt(path); /* removed if the sweep fails */
    do {
        if (fwrite(buf, 1, n, fp) != n)
            break;
    } while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0);
    if (ferror(stdin))
        cli_die("<stdin>: read error: %s", strerror(errno));
    if ((ferror(fp) | fclose(fp)) != 0)
        cli_die("%s: write error", path);
    /* "--trace" "-" becomes "--trace=PATH" and an empty slot, dropped. */
    if (strcmp(o->pass[at], "--trace") != 0 && strncmp(o->pass[at], "--trace=", 8) != 0) {
        memmove(&o->pass[at], &o->pass[at + 1], (o->npass - at) * sizeof(char *));
        o->npass--;
        at--;
    }
    o->pass[at] = arg;
    o->stdin_trace = arg;
    sweep_jobs_alias(path, "<stdin>"); /* the runs' messages name standard input */
}

int cmd_sweep(int argc, char **argv)
{
    static const char *const own[] = {"--vary",       "--seeds",         "--jobs",     "--out",
                                      "--quiet",      "--save-detailed", "--find",     "--slo",
                                      "--find-start", "--find-iters",    "--find-tol", "--seed"};
    cli_run_extra_option_names(own, sizeof(own) / sizeof(own[0]));
    sweep_mpi_start();
    sweep_opts o;
    parse_sweep_args(argc, argv, &o);
    cli_out_check_kind(o.out, 2, "sweep");
    for (size_t i = 0; i < o.npass; i++) /* the trace the runs read */
        if (strncmp(o.pass[i], "--trace=", 8) == 0)
            cli_out_keep(o.pass[i] + 8);
        else if (strcmp(o.pass[i], "--trace") == 0 && i + 1 < o.npass)
            cli_out_keep(o.pass[i + 1]);
    trace_from_stdin(&o);
    int rc = o.find == NULL ? run_grid(&o) : o.nvary > 0 ? find_grid(&o) : sweep_find(&o);
    if (rc == 0 && sweep_mpi_rank() == 0) {
        /* What an earlier sweep or search left that this one did not
         * write (a search's find.json beside these curves). */
        const char *mine[8];
        size_t nm = 0;
        if (o.find != NULL && o.nvary > 0) {
            mine[nm++] = "find.csv";
        } else {
            static const char *const curves[] = {"curves.csv", "curves.json", "curves.png",
                                                 "curves.svg"};
            for (size_t k = 0; k < 4; k++)
                mine[nm++] = curves[k];
            if (o.latency_drawn) {
                mine[nm++] = "latency.png";
                mine[nm++] = "latency.svg";
            }
            if (o.find != NULL)
                mine[nm++] = "find.json";
        }
        if (o.stdin_trace != NULL)
            mine[nm++] = "stdin.trace";
        if (cli_out_commit() != 0 || cli_out_remove_others(o.out, mine, nm) != 0)
            rc = 1;
    }
    sweep_mpi_end();
    for (size_t k = 0; k < o.nvary; k++) {
        for (size_t i = 0; i < o.vary[k].n; i++)
            free(o.vary[k].values[i]);
        free(o.vary[k].values);
    }
    free(o.pass);
    free(o.stdin_trace);
    return rc;
}
