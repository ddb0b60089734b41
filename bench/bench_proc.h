/*
 * bench_proc.h: running the kvsim binary as a user would, for the
 * benchmarks: wall time around fork/wait and peak resident set (wait4's
 * ru_maxrss). Private to bench/.
 */
#ifndef KVSIM_BENCH_BENCH_PROC_H
#define KVSIM_BENCH_BENCH_PROC_H

typedef struct bench_measure {
    double wall_s;
    double cpu_s; /* user + system time of the child */
    double rss_mib;
    int status; /* exit status; 128 if killed; -1 if it could not run */
} bench_measure;

/* Monotonic host time in seconds. */
double bench_now_s(void);

/* Runs ARGV (ARGV[0] a path) with stdout, and stderr when QUIET_STDERR, to
 * /dev/null; returns its wall and CPU time, peak RSS and exit status. */
bench_measure bench_run(char *const argv[], int quiet_stderr);

#endif
