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
#include "analysis/samples.h"
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

/* Service-level objectives for goodput, as `vllm bench serve --goodput`
 * takes them (seconds here; < 0: not given). A completed request is good
 * when it meets every objective given (TTFT <= ttft, TPOT <= tpot, E2EL <=
 * e2el); a request of one output token has TPOT 0 for this test, as in
 * vLLM. */
typedef struct an_slo {
    double ttft_s, tpot_s, e2el_s;
} an_slo;

/* How a latency's statistics were computed. */
enum an_latency_method {
    AN_METHOD_EXACT,    /* numpy's definitions on the exact values */
    AN_METHOD_HIST,     /* past the exact limit: numpy's percentile on exact ranks, each value
                           within AN_QHIST_REL_ERR (qhist.h); mean and std from running sums */
    AN_METHOD_LOG_HIST, /* nearest rank in hist.h's log histogram (within 0.05 %) */
};

/* The method's name in summary.json: "exact", "histogram", "log_histogram". */
const char *an_latency_method_name(int method);

/* The figures `vllm bench serve` prints for one latency, in seconds (NAN
 * when COUNT is 0). */
typedef struct an_latency_stats {
    double mean, median, std, p90, p95, p99, p999, max;
    uint64_t count;
    bool exact; /* numpy's definitions on exact values (METHOD is AN_METHOD_EXACT) */
    int method; /* an an_latency_method */
} an_latency_stats;

enum an_latency_kind {
    AN_LAT_TTFT,    /* arrival to first token */
    AN_LAT_TPOT,    /* (E2EL - TTFT) / (output - 1), requests of 2+ tokens */
    AN_LAT_ITL,     /* each token's gap after the previous one of its request */
    AN_LAT_E2EL,    /* arrival to last token */
    AN_LAT_QUEUE,   /* arrival to the first step that computes part of it */
    AN_LAT_PREFILL, /* that step's start to the first token */
    AN_LAT_COUNT
};

typedef struct an_metrics {
    uint64_t pool_bytes;
    an_hist ttft;
    an_hist tpot;
    an_hist e2e;
    /* Exact values for numpy-style statistics (completed requests), up to
     * AN_EXACT_MAX_SAMPLES each, then a bounded histogram (samples.h). */
    an_samples ttft_s;
    an_samples tpot_s;
    an_samples e2el_s;
    an_wsamples itl_exact; /* token gaps as (gap, tokens) pairs, up to AN_ITL_MAX_PAIRS, then a
                              bounded histogram */
    an_hist queue;         /* queueing delay of completed requests */
    an_hist prefill;       /* prefill time of completed requests */
    /* Peak output tokens in one second (vllm bench's max_output_tokens_per_s):
     * tokens counted in 1-s buckets [k, k+1) of simulated time. */
    int64_t tok_bucket;      /* the bucket being counted; -1 before the first token */
    uint64_t tok_in_bucket;  /* tokens in it so far */
    uint64_t max_tok_bucket; /* the largest bucket so far */
    an_slo slo;
    bool goodput_set; /* at least one objective given */
    uint64_t good;    /* completed requests meeting every objective */
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
    uint64_t ts_preempted;     /* preemptions since the last row */
    uint64_t ts_prompt_tokens; /* prompt (and recomputed) tokens computed since the last row */
    uint64_t ts_output_tokens; /* tokens sampled since the last row */
    uint64_t ts_rows;          /* rows written */
    double ts_last_s;          /* time of the last row written; -1 before the first */
    uint64_t ts_max_rows;      /* AN_TS_MAX_ROWS unless a test lowers it */
    bool ts_truncated;         /* rows stopped at ts_max_rows */
    int io_error;
} an_metrics;

/* Most (gap, tokens) pairs kept for exact ITL percentiles: 16 bytes each,
 * 8 MiB (and as much again while sorting them). A step gives one pair per
 * distinct gap of its batch, usually one or two, and equal gaps merge, so
 * runs of up to 262,144 distinct gaps stay exact (the Azure trace has
 * 62 k, 100,000 synthetic requests 144 k); past that ITL falls back on
 * the bounded histogram (qhist.h: within AN_QHIST_REL_ERR, 2^-15). */
#define AN_ITL_MAX_PAIRS (1u << 19)

/* Most TTFT, TPOT and E2EL values kept one by one for exact percentiles:
 * 2,097,152 each (16 MiB each, 48 MiB for the three, and a temporary of
 * 16 MiB while sorting one at the end). A run with more completed
 * requests falls back, metric by metric, on the bounded histogram
 * (qhist.h: percentiles within AN_QHIST_REL_ERR, 2^-15 relative, at most
 * 10 MiB each), which frees the array. A test may lower the limit by
 * calling an_samples_init_capped on the three sets before the run. */
#define AN_EXACT_MAX_SAMPLES ((size_t)1 << 21)

/* Room for an_fmt_double's output. */
#define AN_NUM_LEN 32

/* Writes V into BUF as the shortest of %.15g, %.16g, %.17g that reads back
 * (strtod) as V exactly, so printed values round-trip; "null" when V is
 * not finite. Returns BUF. */
const char *an_fmt_double(char buf[AN_NUM_LEN], double v);

/* Writes V at W as printf's "%.9f" writes it (the exact binary value
 * rounded half to even at nine decimals), without printf for |V| below
 * 2^33 (8.6e9 s: the engine's times, in int64 nanoseconds, stay below
 * 9.3e9); returns the end, at most AN_NUM_LEN - 1 characters past W
 * (|V| < 1e20; larger values are cut there). */
char *an_put_fixed9(char *w, double v);

/* The same for printf's "%.<DIGITS>f", DIGITS 1 to 9 (printf itself
 * outside that range): timeseries.csv's allocated_pct ("%.4f"). */
char *an_put_fixed(char *w, double v, int digits);

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

/* Sets the goodput objectives (before the run). */
void an_metrics_set_slo(an_metrics *m, const an_slo *slo);

/* The statistics of latency KIND over completed requests (TTFT, TPOT and
 * E2EL exact with numpy's definitions, see samples.h, up to
 * AN_EXACT_MAX_SAMPLES values, ITL while its distinct gaps fit
 * AN_ITL_MAX_PAIRS, else from the bounded histogram; queueing and prefill
 * from log histograms: nearest rank within 0.05 %); OUT->method says
 * which. Call it after an_metrics_finish, which sorts the exact samples. */
void an_metrics_latency(const an_metrics *m, int kind, an_latency_stats *out);

/* Request goodput: completed requests meeting every objective per second
 * of MAKESPAN_S; NAN when no objective was given. */
double an_metrics_goodput(const an_metrics *m, double makespan_s);

/* The observer to pass to sim_run; it points at M. */
sim_observer an_metrics_observer(an_metrics *m);

/* Closes the accounting at the run's end (MAKESPAN_S) and sorts the exact
 * samples. */
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
