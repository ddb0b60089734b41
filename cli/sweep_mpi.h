/*
 * sweep_mpi.h: distributed sweeps. Built with -DKVSIM_MPI=ON and started
 * by mpirun, `kvsim sweep` shares its runs among the ranks (run i on rank
 * i mod size, each rank with its own -j worker processes) and gathers every
 * run's summary.json to rank 0, which writes the curves and plots exactly
 * as a single process would: curves.csv is byte-identical to -j's. Each
 * rank writes its runs' folders under --out (the same path on every
 * node). An SLO search runs its loop on every rank: each load's seeds are
 * shared the same way and rank 0's verdict is broadcast, so all ranks
 * take the same next load. Without MPI (or not under mpirun) there is
 * one rank and these calls do nothing. Private to cli/.
 */
#ifndef KVSIM_CLI_SWEEP_MPI_H
#define KVSIM_CLI_SWEEP_MPI_H

#include <stddef.h>

#include "cli/sweep_jobs.h"

/* Joins the MPI job when the process was started by mpirun (Open MPI's or
 * a PMI launcher's environment), else stays alone. Call once, first. */
void sweep_mpi_start(void);

/* This process's rank and the number of ranks (0 and 1 without MPI). */
int sweep_mpi_rank(void);
int sweep_mpi_size(void);

/*
 * After each rank ran its share of JOBS[0..N) (run i on rank i mod size)
 * with FAILED its own outcome (0 or 1): agrees on the outcome across
 * ranks, and when all succeeded sends every run's summary.json to rank
 * 0, which reads it into the job's figures. Returns 0 when every rank
 * succeeded, 1 otherwise (the failing rank printed why).
 */
int sweep_mpi_gather(sweep_job *jobs, size_t n, int failed);

/*
 * Runs JOBS[0..N): in one process all of them (sweep_run_jobs, PARALLEL
 * at once, progress unless QUIET, WHAT naming it); under MPI this rank's
 * share (run i on rank i mod size, progress on rank 0 only), then
 * sweep_mpi_gather. Returns 0 when every run succeeded on every rank.
 */
int sweep_run_share(sweep_job *jobs, size_t n, unsigned parallel, int quiet, const char *what);

/* Rank 0's V[0..N) to every rank (a no-op in one process). */
void sweep_mpi_bcast_ints(int *v, int n);

/* Leaves the MPI job (a no-op without one). */
void sweep_mpi_end(void);

#endif
