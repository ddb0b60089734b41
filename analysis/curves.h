/*
 * curves.h: what a sweep makes of its runs: every numeric figure of each
 * run's summary.json, flattened to dotted names ("vllm_bench.p99_ttft_ms",
 * "memory.time_avg_pct.free", "replicas.0.steps"), aggregated over the
 * seeds of a point as a mean and a 95 % confidence interval (Student t),
 * and written as curves.csv and curves.json.
 *
 * sim.wall_s (host time) is left out, so the curves of identical sweeps
 * are byte-identical whatever the number of processes.
 */
#ifndef KVSIM_ANALYSIS_CURVES_H
#define KVSIM_ANALYSIS_CURVES_H

#include <stddef.h>
#include <stdio.h>

/* One run's figures: names and values in summary.json's order. */
typedef struct an_figures {
    size_t n, cap;
    char **name;
    double *value;      /* NAN for null */
    int borrowed_names; /* NAME belongs to another an_figures (an_figures_share_names) */
} an_figures;

/*
 * Reads the summary.json at PATH into *OUT (initialised here): numbers as
 * they are, booleans as 0 or 1, null as NAN; strings are skipped; array
 * elements are named by their index. Returns 0, or -1 with a one-line ERR
 * naming the file and the reason (then *OUT holds nothing).
 */
int an_figures_read(const char *path, an_figures *out, char *err, size_t errlen);

/* As an_figures_read, from the JSON TEXT[0..LEN) (NAME names it in
 * messages). */
int an_figures_parse(const char *text, size_t len, const char *name, an_figures *out, char *err,
                     size_t errlen);

/* When F has exactly REF's names in REF's order (the runs of one sweep
 * do), frees F's copies and borrows REF's: a run then costs 8 bytes a
 * figure instead of about 60. REF must outlive F's use; F may be freed
 * before or after it. */
void an_figures_share_names(an_figures *f, const an_figures *ref);

/* The value of NAME, or NAN when absent. */
double an_figures_get(const an_figures *f, const char *name);

void an_figures_free(an_figures *f);

/* The 0.975 quantile of Student's t with DF degrees of freedom (DF >= 1):
 * the two-sided 95 % interval's factor. Exact table to 30, then the
 * Cornish-Fisher expansion (within 1e-4). */
double an_t975(unsigned df);

/* Mean and 95 % confidence half-width (t975(n-1) x s / sqrt(n), s the
 * sample standard deviation) of V[0..N); the half-width is NAN for one
 * value, and both are NAN when a value is. */
void an_mean_ci95(const double *v, size_t n, double *mean, double *ci95);

/* One point of a sweep: the values of the varied options and its runs
 * (one per seed, all with figures). */
typedef struct an_curve_point {
    const char *const *vary_values;
    const an_figures *runs;
    size_t nruns;
    const unsigned long long *seeds;
} an_curve_point;

/*
 * curves.csv: a header, then one row per point: point, each varied option
 * (named as its option without the dashes), seeds, and for each figure
 * (of any run, in first-seen order) its mean over the seeds, followed by
 * NAME_ci95 columns when points have more than one seed. Empty cells for
 * no value. Returns 0, or -1 on a write error.
 */
int an_write_curves_csv(FILE *fp, const char *const *vary_names, size_t nvary,
                        const an_curve_point *pts, size_t npts);

/*
 * curves.json: {"vary": [names], "points": [{"point", "options": {name:
 * value}, "seeds": [..], "mean": {figure: value}, "ci95": {...}}]}, null
 * for no value. Returns 0, or -1 on a write error.
 */
int an_write_curves_json(FILE *fp, const char *const *vary_names, size_t nvary,
                         const an_curve_point *pts, size_t npts);

#endif
