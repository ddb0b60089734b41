/*
 * metrics.h: the run's observer. It turns the engine's step and request
 * reports into latency distributions, the time-weighted and at-peak KV
 * breakdowns, batch statistics, and (optionally) streams requests.csv and
 * timeseries.csv as the run goes, so memory stays bounded.
 */
#ifndef KVSIM_ANALYSIS_METRICS_H
#define KVSIM_ANALYSIS_METRICS_H

#include <stdbool.h>
#include <stdio.h>

#include "analysis/hist.h"
#include "sim/engine.h"

/* The six categories as shares of the pool (percent, summing to 100). */
typedef struct an_breakdown_pct {
    double token_states;
    double reservation;
    double internal_frag;
    double external_frag;
    double blocked_free;
    double free;
} an_breakdown_pct;

typedef struct an_metrics {
    uint64_t pool_bytes;
    an_hist ttft;
    an_hist tpot;
    an_hist e2e;
    /* Time-weighted memory: byte-seconds per category. */
    double area[6];
    double ext_index_area;
    double last_end_s;
    kv_breakdown last_after;
    uint32_t last_running_after;
    uint32_t last_waiting_after;
    /* Peaks. */
    uint64_t peak_alloc_bytes;
    uint64_t peak_used_bytes;
    kv_breakdown at_peak;
    double peak_time_s;
    /* Batch. */
    double running_area; /* sequences x seconds over busy time */
    double busy_s;
    uint64_t steps;         /* model steps (idle observations left out) */
    uint64_t batch_seqs;    /* sequences computed, summed over steps */
    uint64_t batch_tokens;  /* tokens computed, summed over steps */
    uint64_t resident_seqs; /* sequences holding KV, summed over steps */
    /* Streams (NULL when not written). */
    FILE *requests_csv;
    FILE *timeseries_csv;
    double ts_interval_s;
    double next_ts_s;  /* the next grid point that may get a row */
    uint64_t ts_steps; /* steps and tokens since the last row */
    uint64_t ts_tokens;
    uint64_t ts_rows;     /* rows written */
    double ts_last_s;     /* time of the last row written; -1 before the first */
    uint64_t ts_max_rows; /* AN_TS_MAX_ROWS unless a test lowers it */
    bool ts_truncated;    /* rows stopped at ts_max_rows */
    int io_error;
} an_metrics;

/* Room for an_fmt_double's output. */
#define AN_NUM_LEN 32

/* Writes V into BUF as the shortest of %.15g, %.16g, %.17g that reads back
 * (strtod) as V exactly, so printed values round-trip; "null" when V is
 * not finite. Returns BUF. */
const char *an_fmt_double(char buf[AN_NUM_LEN], double v);

/* timeseries.csv's row limit (about 1 GB): rows past it are not written,
 * and ts_truncated says so (summary.json, terminal summary). */
#define AN_TS_MAX_ROWS 10000000u

/* Initialises M. REQUESTS and TIMESERIES (may be NULL) receive the CSV
 * streams; their headers are written now. TS_INTERVAL_S is the time-series
 * sampling period in simulated seconds: a row at each multiple of it,
 * except rows that would repeat the row before them (same state, no step
 * ended in between: idle gaps, the rest of a step longer than the
 * interval), which are left out, so the file has at most about two rows
 * per step whatever the interval; and at most AN_TS_MAX_ROWS rows. The
 * pool size arrives with the run's start (the observer's on_start). */
void an_metrics_init(an_metrics *m, FILE *requests, FILE *timeseries, double ts_interval_s);

/* The observer to pass to sim_run; it points at M. */
sim_observer an_metrics_observer(an_metrics *m);

/* Closes the accounting at the run's end (MAKESPAN_S). */
void an_metrics_finish(an_metrics *m, double makespan_s);

/* Shares of the pool, time-weighted over [0, makespan] and at peak. */
void an_metrics_time_avg(const an_metrics *m, double makespan_s, an_breakdown_pct *out);
void an_metrics_at_peak(const an_metrics *m, an_breakdown_pct *out);

/* Time-weighted external fragmentation index. */
double an_metrics_ext_index(const an_metrics *m, double makespan_s);

/* Mean running sequences over busy time. */
double an_metrics_mean_running(const an_metrics *m);

/* The mean batch of a model step: sequences computed in it (prefilling or
 * decoding, each sample of --n counted), over steps; unlike mean running,
 * sequences that hold KV but sit out a step (a prompt-only step of a
 * scheduler that does not mix, a static batch's finished requests) are
 * not counted. */
double an_metrics_mean_batch(const an_metrics *m);

/* Sequences holding KV per model step, over steps: the mean batch's
 * counterpart (mean running is over time, so long steps weigh more). */
double an_metrics_mean_resident_per_step(const an_metrics *m);

/* Tokens computed per model step (prompt and recomputed tokens, one per
 * decoding sequence), over steps. */
double an_metrics_mean_batch_tokens(const an_metrics *m);

void an_metrics_free(an_metrics *m);

#endif
