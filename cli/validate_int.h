/*
 * validate_int.h: what `kvsim validate` (cli/cmd_validate.c) and `kvsim
 * calibrate` (cli/cmd_calibrate.c) share (cli/validate_fit.c): the rows
 * read with each one's prediction, the presets they name, and the fits,
 * run in threads.
 */
#ifndef KVSIM_CLI_VALIDATE_INT_H
#define KVSIM_CLI_VALIDATE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "sim/preset.h"
#include "sim/validate.h"

typedef struct row_out {
    char preset[32];
    bool ok;          /* predicted */
    double pred, err; /* err = pred / measured - 1 */
    bool fitted;      /* its preset was fitted to it (in sample; never with --cross) */
    char why[200];    /* when not expressible or not predicted */
} row_out;

typedef struct vctx {
    sim_measurement *rows;
    size_t n;
    row_out *out;
    const char *preset_dir;
} vctx;

/* One fit: P (the starting preset's terms, then the fitted ones) fitted
 * to the rows TRAIN[0..NT) where NT > 0, then the rows TEST[0..NTEST)
 * predicted with it. Jobs share V's rows (read only: everything
 * sim_validate_predict reads was set up when they were read, the
 * catalog's tables included) and write only their own rows' outputs. */
typedef struct fit_job {
    size_t *train, nt;
    size_t *test, ntest;
    sim_cost_params p;
} fit_job;

/* --presets DIR must be a directory: a mistyped one would otherwise mean
 * the built-in presets without a word (dies naming it). */
void vt_check_presets_dir(const char *dir);

/* DIR/NAME.preset when DIR has one, else the built-in NAME. */
int vt_load_preset(const char *dir, const char *name, sim_engine_preset *p, char *err,
                   size_t errlen);

/* The median, 90th percentile (numpy's, analysis/samples.h) and largest
 * of V[0..N); NAN when N is 0. */
void vt_spread(const double *v, size_t n, double *med, double *p90, double *worst);

/* Reads DATA's rows into V, each with the preset its framework names. */
void vt_read_rows(const char *data, vctx *v);

/* Rows of preset NAME that can be predicted, into IDX. */
size_t vt_preset_rows(const vctx *v, const char *name, size_t *idx);

/* Distinct preset names of the expressible rows, in first-seen order. */
size_t vt_preset_names(const vctx *v, const char *names[64]);

/* Every row of V not predicted (out[i].ok false), counted by reason
 * (out[i].why) with the first one's detail as an example, under the
 * heading TITLE; nothing when every row was. */
void vt_print_unpredicted(const vctx *v, const char *title);

/* Fits P's free terms to the rows IDX[0..m); terms the rows cannot
 * determine are 0. */
void vt_fit(const vctx *v, const size_t *idx, size_t m, sim_cost_params *p);

/* Row I's prediction with P, into V's outputs. */
void vt_predict(vctx *v, size_t i, const sim_cost_params *p);

/* Runs the N JOBS on up to THREADS threads, the largest fits first; each
 * job's result is the same whichever thread runs it. */
void vt_run_jobs(vctx *v, fit_job *jobs, size_t n, unsigned threads);

/* -j's default: the online CPUs. */
unsigned vt_default_jobs(void);

/* -j N, -jN, --jobs N or --jobs=N at ARGV[*I]: true (the count in *JOBS, *I past
 * its value) when it is one of them; *JOBS is 0 until given (a second
 * one is refused), the caller's default after the options. */
bool vt_jobs_opt(int argc, char **argv, int *i, unsigned *jobs);

#endif
