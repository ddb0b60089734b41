/*
 * sweep_int.h: what cmd_sweep.c (options, grid sweeps) and sweep_find.c
 * (the SLO search) share. Private to cli/.
 */
#ifndef KVSIM_CLI_SWEEP_INT_H
#define KVSIM_CLI_SWEEP_INT_H

#include <stddef.h>

#include "analysis/curves.h"

#define MAX_VARY 8
#define MAX_SLO 8
#define MAX_POINTS 100000
#define MAX_SEEDS 1000

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
    int save_detailed; /* --save-detailed: each run's requests.csv and memory plot too */
    const char *find;
    slo slo[MAX_SLO];
    size_t nslo;
    const char *find_start;
    unsigned find_iters;
    double find_tol;
    char **pass; /* run options passed through, in order */
    size_t npass;
    const char *rate_opt; /* the user's --request-rate or --rate value, if any */
    char *stdin_trace;    /* --trace -: OUT/stdin.trace, the copy the runs read (owned) */
    int latency_drawn;    /* the plots of OUT included latency.png */
} sweep_opts;

/* Formats V as a run option value: integers without a point, else the
 * shortest text that reads back (%.15g). */
void sweep_fmt_value(char *buf, size_t len, double v);

/* The arguments of one run (after "kvsim run"), NULL-terminated, owned by
 * the caller: the passed options, the rate option unless varied, the
 * varied NAMES[k] = VALUES[k], --seed SEED, --out DIR, --quiet, and
 * without --save-detailed --no-requests (unless a requests option was
 * passed) and --no-plot. */
char **sweep_run_argv(const sweep_opts *o, const char *const *names, const char *const *values,
                      size_t n, unsigned long long seed, const char *dir);

/* Checks one run's options in this process: exits with the run's own
 * one-line error, so a bad option stops the sweep before any run. */
void sweep_validate(char **av, const char *label);

/* Writes DIR/curves.csv and curves.json (exits on a write error). */
void sweep_write_curves(const sweep_opts *o, const char *const *names, size_t nnames,
                        const an_curve_point *pts, size_t npts);

/* Commits the files written so far (the plots read them back) and draws
 * the sweep's plots in DIR; exits on an error. */
int sweep_plot_or_die(const char *dir);

/* The SLO search (--find max-rate). Returns the exit status. */
int sweep_find(sweep_opts *o);

#endif
