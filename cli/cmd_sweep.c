/*
 * cmd_sweep.c: `kvsim sweep`: a run repeated over a grid of option values
 * and seeds, aggregated into curves; and `--find max-rate`, the highest
 * load that meets service-level objectives, by bisection.
 *
 *   kvsim sweep --vary KEY=VALUES [--vary ...] [--seeds N] [-j N] --out DIR [run options]
 *   kvsim sweep --find max-rate --slo KEY=LIMIT[,...] [--seeds N] [-j N] --out DIR [run options]
 *
 * Each run is a child `kvsim run` (cli/sweep_jobs.h) writing
 * DIR/points/NNNN/seed-S (or DIR/find/NNNN/seed-S); the sweep writes
 * DIR/curves.csv and DIR/curves.json (analysis/curves.h), and find.json
 * for a search. Results are ordered by point and seed, never by finishing
 * order, so -j changes nothing in them.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/curves.h"
#include "analysis/metrics.h"
#include "analysis/plot.h"
#include "cli/cli_int.h"
#include "cli/cli_out.h"
#include "cli/run_config.h"
#include "cli/sweep_jobs.h"

#define MAX_VARY 8
#define MAX_SLO 8
#define MAX_POINTS 100000
#define MAX_SEEDS 1000

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
    "Student t), each run's folder DIR/points/NNNN/seed-S, and plots.\n"
    "\n"
    "  --vary KEY=VALUES       a run option without its dashes and its values:\n"
    "                          v1,v2,...  (';' instead of ',' when values hold commas)\n"
    "                          A..BxF     geometric: A, A*F, ... up to B (1..512x2)\n"
    "                          A..B+S     arithmetic: A, A+S, ... up to B (0.5..4+0.5)\n"
    "  --seeds N               seeds per point: --seed, --seed + 1, ... (default 1)\n"
    "  -j N, --jobs N          runs at once (default 1)\n"
    "  --out DIR               where everything goes (required)\n"
    "  --quiet                 no progress and no table\n"
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
    "\n"
    "Every other option is a run option (kvsim run --help), passed to each run.\n";

typedef struct vary {
    char name[64];
    char **values;
    size_t n;
} vary;

typedef struct slo {
    char metric[256];
    double limit;
} slo;

typedef struct sweep_opts {
    vary vary[MAX_VARY];
    size_t nvary;
    unsigned long long seeds, base_seed;
    unsigned jobs;
    const char *out;
    int quiet;
    const char *find;
    slo slo[MAX_SLO];
    size_t nslo;
    const char *find_start;
    unsigned find_iters;
    double find_tol;
    char **pass; /* run options passed through, in order */
    size_t npass;
    const char *rate_opt; /* the user's --request-rate or --rate value, if any */
} sweep_opts;

/* Formats V as a run option value: integers without a point, else the
 * shortest text that reads back. */
static void fmt_value(char *buf, size_t len, double v)
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
        fmt_value(buf, sizeof(buf), x);
        vary_push(v, buf);
    }
    return 1;
}

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
            if (v == NULL)
                cli_die("-j needs a value (kvsim sweep --help)");
            o->jobs = (unsigned)cli_parse_u64("-j", v, 1, 1024);
        } else if (strncmp(a, "-j", 2) == 0 && a[2] >= '0' && a[2] <= '9') {
            o->jobs = (unsigned)cli_parse_u64("-j", a + 2, 1, 1024);
        } else if (is_opt(a, "--out")) {
            if (o->out != NULL)
                cli_die("--out given twice");
            o->out = value_of(argc, argv, &i, "--out");
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
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
    if (o->find != NULL) {
        if (o->nslo == 0)
            cli_die("sweep: --find max-rate needs --slo METRIC=LIMIT[,...]");
        if (o->nvary != 0)
            cli_die("sweep: --find and --vary do not combine: search one configuration at a "
                    "time");
    } else {
        if (o->nvary == 0)
            cli_die("sweep: nothing to vary: --vary KEY=VALUES (or --find max-rate)");
        if (o->nslo != 0)
            cli_die("sweep: --slo needs --find max-rate");
    }
}

/* The run's arguments: the passed options, the rate option, the varied
 * values NAMES[k]=VALUES[k], the seed, --out DIR and --quiet. */
static char **run_argv(const sweep_opts *o, const char *const *names, const char *const *values,
                       size_t n, unsigned long long seed, const char *dir)
{
    size_t total = o->npass + 2 * n + 8;
    char **av = calloc(total, sizeof(char *));
    if (av == NULL)
        cli_die("sweep: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < o->npass; i++)
        av[k++] = dupstr(o->pass[i]);
    int rate_varied = 0;
    for (size_t i = 0; i < n; i++) {
        char opt[80];
        snprintf(opt, sizeof(opt), "--%s", names[i]);
        rate_varied |= strcmp(names[i], "request-rate") == 0 || strcmp(names[i], "rate") == 0;
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
    av[k] = NULL;
    return av;
}

/* Checks one run's options in this process (exits with the run's own
 * one-line error), so a bad option stops the sweep before any run. */
static void validate(char **av)
{
    int n = 0;
    while (av[n] != NULL)
        n++;
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
}

/* The table printed after a sweep: varied values and a few figures. */
static void print_table(const sweep_opts *o, const an_curve_point *pts, size_t npts)
{
    static const char *const figs[] = {"vllm_bench.output_throughput", "vllm_bench.mean_tpot_ms",
                                       "vllm_bench.p99_ttft_ms", "vllm_bench.p99_e2el_ms",
                                       "preemptions"};
    static const char *const heads[] = {"out tok/s", "TPOT ms", "p99 TTFT ms", "p99 E2EL ms",
                                        "preempt"};
    for (size_t k = 0; k < o->nvary; k++)
        printf("%-16s", o->vary[k].name);
    for (size_t f = 0; f < 5; f++)
        printf(" %*s", o->seeds > 1 ? 22 : 12, heads[f]);
    printf("\n");
    for (size_t p = 0; p < npts; p++) {
        for (size_t k = 0; k < o->nvary; k++)
            printf("%-16s", pts[p].vary_values[k]);
        for (size_t f = 0; f < 5; f++) {
            double v[MAX_SEEDS];
            for (size_t s = 0; s < pts[p].nruns; s++)
                v[s] = an_figures_get(&pts[p].runs[s], figs[f]);
            double mean, ci;
            an_mean_ci95(v, pts[p].nruns, &mean, &ci);
            if (o->seeds > 1)
                printf(" %12.2f +- %7.2f", mean, ci);
            else
                printf(" %12.2f", mean);
        }
        printf("\n");
    }
}

static void write_curves(const sweep_opts *o, const char *const *names, size_t nnames,
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
 * the sweep's plots in DIR. */
static void plot_or_die(const char *dir)
{
    if (cli_out_commit() != 0)
        exit(1);
    char err[1024];
    if (an_plot_curves(dir, NULL, err, sizeof(err)) != 0)
        cli_die("sweep: %s", err);
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
            j->argv = run_argv(o, names, vals + p * o->nvary, o->nvary, seeds[s], j->dir);
            if (s == 0)
                validate(j->argv);
        }
    }
    cli_make_dirs(o->out);
    double t0 = cli_now_s();
    int rc = sweep_run_jobs(jobs, nruns, o->jobs, o->quiet, "sweep");
    double wall = cli_now_s() - t0;
    if (rc == 0) {
        for (size_t p = 0; p < npts; p++) {
            for (size_t s = 0; s < o->seeds; s++)
                figs[p * o->seeds + s] = jobs[p * o->seeds + s].figs;
            pts[p].vary_values = vals + p * o->nvary;
            pts[p].runs = figs + p * o->seeds;
            pts[p].nruns = o->seeds;
            pts[p].seeds = seeds;
        }
        write_curves(o, names, o->nvary, pts, npts);
        plot_or_die(o->out);
        if (!o->quiet) {
            print_table(o, pts, npts);
            printf("%zu runs (%zu points x %llu seeds) in %.2f s wall with -j %u\n", nruns, npts,
                   o->seeds, wall, o->jobs);
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

/* ---- SLO search ---------------------------------------------------- */

typedef struct eval {
    double x;
    int pass;         /* the mean over seeds meets every objective */
    size_t seeds_met; /* seeds meeting every objective on their own */
    size_t first_job; /* its runs in the job list */
} eval;

/* The value of objective S in FIGS: vllm_bench.METRIC, else METRIC as a
 * dotted name; NAN when absent. */
static double slo_value(const an_figures *figs, const slo *s)
{
    char name[300];
    snprintf(name, sizeof(name), "vllm_bench.%s", s->metric);
    double v = an_figures_get(figs, name);
    return isnan(v) ? an_figures_get(figs, s->metric) : v;
}

typedef struct search {
    sweep_opts *o;
    const char *var; /* "rate-scale" or "request-rate" */
    sweep_job *jobs;
    size_t njobs, cap;
    eval *evals;
    size_t nevals;
} search;

/* Runs every seed at load X and records the evaluation. */
static eval *evaluate(search *se, double x)
{
    sweep_opts *o = se->o;
    if (se->njobs + o->seeds > se->cap) {
        size_t cap = se->cap ? 2 * se->cap : 64;
        while (cap < se->njobs + o->seeds)
            cap *= 2;
        sweep_job *nj = realloc(se->jobs, cap * sizeof(sweep_job));
        if (nj == NULL)
            cli_die("sweep: out of memory");
        se->jobs = nj;
        se->cap = cap;
    }
    eval *ne = realloc(se->evals, (se->nevals + 1) * sizeof(eval));
    if (ne == NULL)
        cli_die("sweep: out of memory");
    se->evals = ne;
    eval *e = &se->evals[se->nevals];
    memset(e, 0, sizeof(*e));
    e->x = x;
    e->first_job = se->njobs;
    char val[64];
    fmt_value(val, sizeof(val), x);
    const char *names[1] = {se->var};
    const char *vals[1] = {val};
    for (unsigned long long s = 0; s < o->seeds; s++) {
        sweep_job *j = &se->jobs[se->njobs + s];
        memset(j, 0, sizeof(*j));
        unsigned long long seed = o->base_seed + s;
        snprintf(j->dir, sizeof(j->dir), "%s/find/%04zu/seed-%llu", o->out, se->nevals, seed);
        snprintf(j->label, sizeof(j->label), "%s=%s seed %llu", se->var, val, seed);
        j->argv = run_argv(o, names, vals, 1, seed, j->dir);
        if (se->nevals == 0 && s == 0)
            validate(j->argv);
    }
    char what[96];
    snprintf(what, sizeof(what), "find %s=%s", se->var, val);
    if (sweep_run_jobs(se->jobs + se->njobs, o->seeds, o->jobs, 1, what) != 0)
        exit(1);
    se->njobs += o->seeds;
    se->nevals++;
    e->pass = 1;
    for (size_t k = 0; k < o->nslo; k++) {
        /* A null figure (nothing completed) is NAN: it fails. */
        double v[MAX_SEEDS];
        for (size_t s = 0; s < o->seeds; s++)
            v[s] = slo_value(&se->jobs[e->first_job + s].figs, &o->slo[k]);
        double mean, ci;
        an_mean_ci95(v, o->seeds, &mean, &ci);
        if (!(mean <= o->slo[k].limit))
            e->pass = 0;
    }
    for (size_t s = 0; s < o->seeds; s++) {
        int ok = 1;
        for (size_t k = 0; k < o->nslo; k++)
            if (!(slo_value(&se->jobs[e->first_job + s].figs, &o->slo[k]) <= o->slo[k].limit))
                ok = 0;
        e->seeds_met += (size_t)ok;
    }
    if (!o->quiet)
        fprintf(stderr, "find: %s = %s: %s (%zu of %llu seeds meet the objectives)\n", se->var, val,
                e->pass ? "meets" : "misses", e->seeds_met, o->seeds);
    /* A metric the summary does not have is a usage error, not a miss. */
    for (size_t k = 0; k < o->nslo; k++)
        if (isnan(slo_value(&se->jobs[e->first_job].figs, &o->slo[k]))) {
            char name[300];
            snprintf(name, sizeof(name), "vllm_bench.%s", o->slo[k].metric);
            int known = 0;
            const an_figures *f = &se->jobs[e->first_job].figs;
            for (size_t i = 0; i < f->n; i++)
                known |= strcmp(f->name[i], name) == 0 || strcmp(f->name[i], o->slo[k].metric) == 0;
            if (!known)
                cli_die("--slo: '%s' is not a summary figure (e.g. p99_ttft_ms, mean_tpot_ms, "
                        "p99_e2el_ms, phases.p99_queue_ms)",
                        o->slo[k].metric);
        }
    return e;
}

static int cmp_eval(const void *a, const void *b)
{
    double x = ((const eval *)a)->x, y = ((const eval *)b)->x;
    return (x > y) - (x < y);
}

static int run_find(sweep_opts *o)
{
    search se = {o, o->rate_opt != NULL ? "request-rate" : "rate-scale", NULL, 0, 0, NULL, 0};
    double x0 = o->find_start ? strtod(o->find_start, NULL)
                : o->rate_opt ? cli_parse_double("--request-rate", o->rate_opt, 0, 1e9, 1)
                              : 1.0;
    cli_make_dirs(o->out);
    double lo = NAN, hi = NAN;
    size_t lo_e = 0, hi_e = 0;
    eval *e = evaluate(&se, x0);
    if (e->pass) {
        lo = x0;
        lo_e = se.nevals - 1;
        for (int k = 0; k < 30 && isnan(hi); k++) {
            double x = lo * 2;
            e = evaluate(&se, x);
            if (e->pass) {
                lo = x;
                lo_e = se.nevals - 1;
            } else {
                hi = x;
                hi_e = se.nevals - 1;
            }
        }
    } else {
        hi = x0;
        hi_e = se.nevals - 1;
        for (int k = 0; k < 30 && isnan(lo); k++) {
            double x = hi / 2;
            e = evaluate(&se, x);
            if (e->pass) {
                lo = x;
                lo_e = se.nevals - 1;
            } else {
                hi = x;
                hi_e = se.nevals - 1;
            }
        }
    }
    for (unsigned it = 0;
         it < o->find_iters && !isnan(lo) && !isnan(hi) && hi - lo > o->find_tol * lo; it++) {
        double mid = (lo + hi) / 2;
        e = evaluate(&se, mid);
        if (e->pass) {
            lo = mid;
            lo_e = se.nevals - 1;
        } else {
            hi = mid;
            hi_e = se.nevals - 1;
        }
    }
    /* find.json, and the evaluated loads as curves (sorted by load). */
    FILE *fp = cli_open_out(o->out, "find.json");
    char b1[AN_NUM_LEN], b2[AN_NUM_LEN];
    fprintf(fp, "{\n  \"find\": \"max-rate\",\n  \"variable\": \"%s\",\n  \"slo\": {", se.var);
    for (size_t k = 0; k < o->nslo; k++)
        fprintf(fp, "%s\"%s\": %s", k ? ", " : "", o->slo[k].metric,
                an_fmt_double(b1, o->slo[k].limit));
    fprintf(fp, "},\n  \"seeds\": %llu,\n  \"criterion\": \"mean over seeds <= limit\",\n",
            o->seeds);
    fprintf(fp, "  \"max\": %s,\n  \"bracket\": [%s, ", an_fmt_double(b1, lo),
            an_fmt_double(b2, lo));
    fprintf(fp, "%s],\n", an_fmt_double(b1, hi));
    fprintf(fp, "  \"seeds_meeting_at_low\": %zu,\n  \"seeds_meeting_at_high\": %zu,\n",
            isnan(lo) ? 0 : se.evals[lo_e].seeds_met, isnan(hi) ? 0 : se.evals[hi_e].seeds_met);
    fprintf(fp, "  \"evaluations\": [");
    for (size_t k = 0; k < se.nevals; k++)
        fprintf(fp, "%s\n    {\"%s\": %s, \"meets\": %s, \"seeds_meeting\": %zu}", k ? "," : "",
                se.var, an_fmt_double(b1, se.evals[k].x), se.evals[k].pass ? "true" : "false",
                se.evals[k].seeds_met);
    fprintf(fp, "\n  ]\n}\n");
    cli_close_out(fp, o->out, "find.json");

    eval *sorted = malloc(se.nevals * sizeof(eval));
    an_curve_point *pts = calloc(se.nevals, sizeof(an_curve_point));
    char(*vals)[64] = calloc(se.nevals, 64);
    const char **valp = calloc(se.nevals, sizeof(char *));
    an_figures *figs = calloc(se.njobs, sizeof(an_figures));
    unsigned long long *seeds = calloc(o->seeds, sizeof(unsigned long long));
    if (sorted == NULL || pts == NULL || vals == NULL || valp == NULL || figs == NULL ||
        seeds == NULL)
        cli_die("sweep: out of memory");
    memcpy(sorted, se.evals, se.nevals * sizeof(eval));
    qsort(sorted, se.nevals, sizeof(eval), cmp_eval);
    for (unsigned long long s = 0; s < o->seeds; s++)
        seeds[s] = o->base_seed + s;
    for (size_t k = 0; k < se.nevals; k++) {
        fmt_value(vals[k], 64, sorted[k].x);
        valp[k] = vals[k];
        for (size_t s = 0; s < o->seeds; s++)
            figs[k * o->seeds + s] = se.jobs[sorted[k].first_job + s].figs;
        pts[k].vary_values = &valp[k];
        pts[k].runs = figs + k * o->seeds;
        pts[k].nruns = o->seeds;
        pts[k].seeds = seeds;
    }
    const char *names[1] = {se.var};
    write_curves(o, names, 1, pts, se.nevals);
    plot_or_die(o->out);

    if (!o->quiet) {
        if (isnan(lo))
            printf("no %s down to %g meets the objectives\n", se.var, hi);
        else if (isnan(hi))
            printf("every %s up to %g meets the objectives\n", se.var, lo);
        else
            printf("max %s %g: meets the objectives (%zu of %llu seeds); %g misses them (%zu of "
                   "%llu seeds meet); bracket [%g, %g], %zu loads tried\n",
                   se.var, lo, se.evals[lo_e].seeds_met, o->seeds, hi, se.evals[hi_e].seeds_met,
                   o->seeds, lo, hi, se.nevals);
        if (!isnan(lo))
            printf("at %s %g: %.3f req/s completed, %.1f output tok/s\n", se.var, lo,
                   an_figures_get(&se.jobs[se.evals[lo_e].first_job].figs,
                                  "vllm_bench.request_throughput"),
                   an_figures_get(&se.jobs[se.evals[lo_e].first_job].figs,
                                  "vllm_bench.output_throughput"));
        printf("wrote %s/find.json, %s/curves.csv, %s/curves.json and %s/find/\n", o->out, o->out,
               o->out, o->out);
    }
    for (size_t i = 0; i < se.njobs; i++)
        sweep_job_free(&se.jobs[i]);
    free(se.jobs);
    free(se.evals);
    free(sorted);
    free(pts);
    free(vals);
    free(valp);
    free(figs);
    free(seeds);
    return 0;
}

int cmd_sweep(int argc, char **argv)
{
    sweep_opts o;
    parse_sweep_args(argc, argv, &o);
    int rc = o.find != NULL ? run_find(&o) : run_grid(&o);
    for (size_t k = 0; k < o.nvary; k++) {
        for (size_t i = 0; i < o.vary[k].n; i++)
            free(o.vary[k].values[i]);
        free(o.vary[k].values);
    }
    free(o.pass);
    return rc;
}
