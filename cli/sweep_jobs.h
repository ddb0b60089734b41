/*
 * sweep_jobs.h: the runs of a sweep in worker processes. Each job is one
 * `kvsim run ... --out DIR --quiet`, run by one of at most `jobs` workers
 * (this same binary, started once each: sweep_jobs.c); a finished job's
 * summary.json is read back as figures (analysis/curves.h). A crash stays
 * in its worker, away from the sweep's own state. Private to cli/.
 */
#ifndef KVSIM_CLI_SWEEP_JOBS_H
#define KVSIM_CLI_SWEEP_JOBS_H

#include <stddef.h>

#include "analysis/curves.h"

typedef struct sweep_job {
    char **argv;     /* the run's arguments after "kvsim run", NULL-terminated, owned */
    char dir[1024];  /* its --out folder */
    char label[256]; /* how messages name it: "point 3 (max-num-seqs=64) seed 1" */
    an_figures figs; /* filled when it succeeded */
    double wall_s;   /* host time it took */
} sweep_job;

/*
 * Runs JOBS[0..N) with at most PARALLEL at once, showing progress on
 * standard error (a bar that redraws on a terminal, a line per finished
 * run otherwise; nothing with QUIET). Runs whose figures have the names
 * of the first one read borrow them (an_figures_share_names): use the
 * figures only while every job is alive (free them in any order).
 * Returns 0 when every job succeeded
 * and its summary was read; else prints one line naming the first failed
 * job and its error, stops the others, and returns 1.
 */
int sweep_run_jobs(sweep_job *jobs, size_t n, unsigned parallel, int quiet, const char *what);

/* The command kvsim's main hands to sweep_worker_main with the arguments
 * after it (a worker's socket's file descriptor): not for users. */
#define SWEEP_WORKER_COMMAND "__sweep-worker"

/* A worker: runs the jobs read from its socket until its end. Returns the
 * exit status (0 at the end; 2 when not started by a sweep). A job's
 * error may exit the process, as `kvsim run` would. */
int sweep_worker_main(int argc, char **argv);

/* Until called again with NULL, a run's message naming PATH names it AS
 * instead (a copy of standard input the runs read: "<stdin>"). Both must
 * outlive the jobs. */
void sweep_jobs_alias(const char *path, const char *as);

/* Frees a job's arguments and figures. */
void sweep_job_free(sweep_job *j);

#endif
