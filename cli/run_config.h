/*
 * run_config.h: what `kvsim run` and `kvsim compare` share: the run
 * options, their parsing into a sim_config, opening the request source,
 * and running one configuration with the metrics observer. Private to
 * cli/.
 */
#ifndef KVSIM_CLI_RUN_CONFIG_H
#define KVSIM_CLI_RUN_CONFIG_H

#include <stdio.h>

#include "analysis/metrics.h"
#include "sim/engine.h"
#include "workloads/source.h"

/* Options of a run, as given (NULL when absent). */
typedef struct run_opts {
    const char *trace, *format, *gpu, *model, *out, *allocator, *block_size, *dtype, *kv_dtype,
        *engine, *bw_eff, *flops_eff, *step_overhead_ms, *layer_overhead_us, *seq_overhead_us,
        *tp_step_ms, *runtime_overhead_gib, *mem_util, *kv_pool_gib, *num_blocks, *watermark,
        *max_num_seqs, *max_batched_tokens, *max_model_len, *seed, *ts_interval, *allocators,
        *n_samples, *scheduler, *long_prefill, *preemption_mode, *swap_space, *max_concurrency,
        *replicas, *router, *tensor_parallel, *pipeline_parallel, *allreduce_busbw,
        *allreduce_latency, *peak_tflops, *mem_bw_gbps, *host_link_gbps, *gpu_layers, *host,
        *host_bw_gbps, *host_tflops, *host_memory_gib;
    const char *quantization, *speculative_config; /* issue 9: formats, speculation */
    const char *step_profile;                      /* --step-profile FILE.csv */
    const char *mem_util_opt; /* the name --mem-util's value came under (errors name it) */
    const char *kv_dtypes, *quantizations; /* kvsim compare: format lists */
    /* request source besides --trace/--format (cli/cli_int.h, cli/cmd_gen.c) */
    const char *workload, *model_filter, *rate, *rate_scale, *limit, *time_window, *sample,
        *burstiness;
    int quiet, check, no_merge_steps, serial_replicas, client_max_tokens, enforce_eager;
    int no_requests, requests_gzip;      /* --no-requests, --requests-gzip */
    int no_plot;                         /* --no-plot: no memory.png/.svg with --out */
    int chunked_prefill, prefix_caching; /* 1 enable, 0 disable, -1 not given */
    an_slo slo;                          /* --goodput objectives (-1: not given) */
} run_opts;

/* Prints "kvsim: " and the message to stderr on one line (control
 * characters as '?'); cli_die then exits with status 2. */
void cli_error(const char *fmt, ...);
/* Until called again with NULL, cli_error and cli_die put CTX before
 * their messages ("kvsim: CTX: message"): a sweep's check of a point's
 * options names the point. CTX must outlive its use. */
void cli_error_context(const char *ctx);
void cli_die(const char *fmt, ...);

/* Strict number parsing of option OPT's value S; exits with a one-line
 * error naming the option, the value and the accepted range. */
double cli_parse_double(const char *opt, const char *s, double lo, double hi, int lo_open);
uint64_t cli_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi);

/* The per-request file a run with O writes under --out: "requests.csv",
 * "requests.csv.gz" (--requests-gzip), or NULL (--no-requests). */
const char *cli_requests_name(const run_opts *o);

/* " x N GPUs (TP t x PP p; memory figures per GPU)" for a parallel CFG,
 * "" otherwise: for headers (a static buffer). */
const char *cli_layout(const sim_config *cfg);

/* Monotonic host time in seconds. */
double cli_now_s(void);

/* Creates DIR and its missing parents (mkdir -p); exits on failure. Those
 * created are removed again if the command fails (cli/cli_out.h). */
void cli_make_dirs(const char *dir);

/* Opens DIR/NAME for writing, or exits with a message. It is written to a
 * temporary that becomes DIR/NAME when the command succeeds (cli_out.h). */
FILE *cli_open_out(const char *dir, const char *name);

/* Closes FP (may be NULL); exits with a message on a write error. */
void cli_close_out(FILE *fp, const char *dir, const char *name);

/* Where NAME (an option, up to any '=') is one of `vllm bench serve`'s
 * workload options, how kvsim spells it; else NULL. */
const char *cli_bench_option_hint(const char *name);

/* Exits with status 2 after "unknown option 'ARG'", with the closest of
 * NAMES[0..N) as a "did you mean" when one is close (cli_opts.h).
 * NAME_LEN is the length of ARG's option name (before any '='). */
void cli_die_unknown_option(const char *arg, size_t name_len, const char *const *names, size_t n);

/* Takes --goodput at ARGV[I] (--goodput=SPEC, or --goodput followed by
 * KEY:MS arguments up to the next option) into *SLO; exits with a
 * one-line error on a bad objective. Returns the index of the last
 * argument taken. */
int cli_take_goodput(int argc, char **argv, int i, an_slo *slo);

/* Names of the calling command's own options (kvsim sweep's), offered
 * too when cli_parse_run_args suggests a name for an unknown option: a
 * sweep passes what it does not know to its runs, so its own misspelt
 * options meet the run's parser. At most 32 are used. */
void cli_run_extra_option_names(const char *const *names, size_t n);

/* Parses the run options in ARGV; --help prints USAGE and exits 0. With
 * ALLOW_ALLOCATORS, --allocators LIST is accepted (kvsim compare). */
void cli_parse_run_args(int argc, char **argv, run_opts *o, const char *usage,
                        int allow_allocators);

/* Builds the configuration from O (exits on a bad value): *CFG, the
 * time-series interval and the trace format. Requires --gpu and --model. */
void cli_build_config(const run_opts *o, const char *cmd, sim_config *cfg, double *ts_interval,
                      trace_format *fmt);

/* Sets CFG's weight and KV formats from --dtype, --quantization and
 * --kv-cache-dtype (exits on a bad value). */
void cli_build_formats(const run_opts *o, sim_config *cfg);

/* Opens the request source O names. Returns 0, or 1 after printing a
 * one-line error. */
int cli_open_source(const run_opts *o, trace_format fmt, wl_source **src);

/* One finished run. */
typedef struct cli_result {
    sim_result res;
    an_metrics metrics; /* free with an_metrics_free */
    double wall_s;
    char source[1024];
} cli_result;

/* Whether trace path P names standard input: '-', or the device files
 * that are its descriptor (/dev/stdin, /dev/fd/0). */
bool cli_is_stdin_path(const char *p);

/* For a command that runs O's trace more than once (compare): with
 * --trace - (or /dev/stdin), standard input is made readable again: a
 * file is read again from where it stood, a pipe is copied once to an
 * unlinked file in $TMPDIR that becomes standard input; each cli_run_once
 * reads it from that start (messages still name <stdin>). Exits with a
 * one-line error when it cannot be copied. A no-op for any other trace. */
void cli_stdin_replayable(const run_opts *o);

/* Runs CFG over a freshly opened source. With OUT_DIR, streams
 * requests.csv and timeseries.csv there. Returns 0, or 1 after printing a
 * one-line error (then nothing needs freeing). */
int cli_run_once(const run_opts *o, const sim_config *cfg, trace_format fmt, double ts_interval,
                 const char *out_dir, cli_result *out);

#endif
