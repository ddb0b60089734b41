/*
 * source.h: a stream of requests for the engine, read lazily one at a
 * time: from a trace file (traces/), from a seeded workload generator, or
 * through transforms that wrap either. The engine holds only the next
 * arrival, so memory is bounded by the requests in flight.
 *
 * Workload specs (wl_open_spec; `kvsim gen --help` has the user's view):
 *
 *   SPEC    := HEAD (';' CLAUSE)*
 *   HEAD    := NAME [':' KEY=VALUE (',' KEY=VALUE)*]
 *   CLAUSE  := 'in=' DIST | 'out=' DIST | 'arrival=' PROCESS
 *   NAME    := a preset (sharegpt, alpaca, azure-conv, azure-code, chat)
 *              or an arrival process (then in= and out= are required)
 *   PROCESS := poisson:rate=R | gamma:rate=R,cv=C | constant:rate=R
 *              | batch[:at=T]
 *   DIST    := fixed:N | uniform:min=A,max=B
 *              | normal:mean=M,sd=S[,min=A][,max=B]
 *              | lognormal:mean=M,sigma=S[,min=A][,max=B]
 *              | zipf:s=S,max=B[,min=A] | empirical:file=PATH[,format=F]
 * Head keys: n (requests, default 1000); a process's own keys; on a
 * preset, rate and cv change its arrival rate and burstiness (cv != 1
 * makes it Gamma); the chat preset also takes turns, think, sys, max_ctx.
 * Examples: `sharegpt:n=100000,rate=2`,
 * `poisson:rate=5,n=1000;in=lognormal:mean=500,sigma=0.8;out=fixed:200`.
 * Lengths are integers clamped to [min, max] (default [1, 1048576]); for
 * normal and lognormal `mean` is the mean after clamping (the location is
 * solved for it). Every draw comes from a per-component stream of --seed
 * (wl_int.h), so a spec and a seed give the same requests everywhere.
 */
#ifndef KVSIM_WORKLOADS_SOURCE_H
#define KVSIM_WORKLOADS_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "traces/trace.h"

typedef struct wl_source wl_source;

/* A synthetic workload: Poisson arrivals, lognormal lengths. */
typedef struct wl_synth_params {
    uint64_t requests;   /* how many */
    double rate_per_s;   /* mean arrival rate */
    double input_mean;   /* tokens */
    double input_sigma;  /* lognormal sigma of the input length */
    double output_mean;  /* tokens */
    double output_sigma; /* lognormal sigma of the output length */
    uint32_t max_tokens; /* cap on each length */
    uint64_t seed;
} wl_synth_params;

/* Opens a trace file as a source. Returns 0, or a negative TRACE_E* code
 * with a one-line ERR ("PATH:LINE: reason"). */
int wl_open_trace(wl_source **out, const char *path, trace_format fmt, char *err, size_t errlen);

/* Options of wl_open_trace_ex. */
typedef struct wl_trace_opts {
    trace_format format;      /* TRACE_FORMAT_AUTO to detect */
    const char *model_filter; /* burstgpt: keep one model's rows (NULL: all) */
    double rate_per_s;        /* length tables only: Poisson arrivals at this rate,
                                 the first at 0 (0: none, which a length table refuses) */
    uint64_t seed;            /* seeds those arrivals */
    int allow_no_arrivals;    /* 1: a length table without a rate yields arrivals of 0
                                 (for statistics) instead of failing */
    double burstiness;        /* Gamma arrivals of shape B instead of Poisson (vLLM's
                                 --burstiness; 0 or 1: Poisson) */
} wl_trace_opts;

/*
 * Opens a trace file as a source with options. A length table (no arrival
 * times) needs rate_per_s > 0; a trace with arrival times refuses it.
 * Returns 0, or a negative TRACE_E* code with a one-line ERR.
 */
int wl_open_trace_ex(wl_source **out, const char *path, const wl_trace_opts *o, char *err,
                     size_t errlen);

/* Opens a synthetic source. Returns 0, or TRACE_EARG with ERR. */
int wl_open_synth(wl_source **out, const wl_synth_params *p, char *err, size_t errlen);

/*
 * Opens a generator for the workload SPEC (syntax above), seeded by SEED.
 * Returns 0, or a negative TRACE_E* code with a one-line ERR naming the
 * part of the spec that is wrong (TRACE_EARG), or a file of an empirical
 * distribution that cannot be read.
 */
int wl_open_spec(wl_source **out, const char *spec, uint64_t seed, char *err, size_t errlen);

/*
 * Transforms, applied in this order whatever the order of the options:
 *   1. window: keep arrivals in [start_s, end_s) of the source's timeline,
 *      re-based so that start_s becomes 0;
 *   2. sample: keep each request with probability sample_p (seeded
 *      Bernoulli, stream WL_STREAM_SAMPLE of SEED);
 *   3. rate scale: multiply the request rate by rate_scale, i.e. divide
 *      every arrival time by it (2 = twice the load in half the time);
 *   4. limit: stop after `limit` requests.
 */
typedef struct wl_transforms {
    int has_window;
    double window_start_s, window_end_s; /* 0 <= start < end (end may be +inf) */
    double sample_p;                     /* (0, 1]; 1 or 0 = keep all */
    double rate_scale;                   /* > 0; 1 or 0 = unchanged */
    uint64_t limit;                      /* 0 = no limit */
    uint64_t seed;
} wl_transforms;

/*
 * Wraps *S in the transforms T (nothing when T asks for none). On success
 * *S is the wrapper, which owns the old *S. Returns 0, or TRACE_EARG with
 * ERR for a bad value (then *S is unchanged and still the caller's).
 */
int wl_apply_transforms(wl_source **s, const wl_transforms *t, char *err, size_t errlen);

/* Next request: 1 when one was read, 0 at the end, negative on error
 * (wl_errmsg says why). hash_ids in *REQ stay valid until the next call. */
int wl_next(wl_source *s, trace_request *req);

/* The last error as one line, or "". */
const char *wl_errmsg(const wl_source *s);

/* Describes the source ("PATH (format)", "workload SPEC, seed N", with
 * its transforms); counts of skipped rows are included once read. */
const char *wl_describe(const wl_source *s);

/* The trace file S reads (through any transforms) as messages name it
 * ("<stdin>" for "-"), or NULL for a generator: for "FILE:LINE: reason". */
const char *wl_get_path(const wl_source *s);

/* 0 for a length table read without a rate (every arrival is 0), else 1. */
int wl_has_arrivals(const wl_source *s);

/* TRACE_FIELD_* (trace.h) that requests of S may carry: what a writer keeps. */
int wl_get_fields(const wl_source *s);

/* Adjustments a trace reader made (all zero but requests for generators). */
void wl_get_counts(const wl_source *s, trace_counts *out);

/* Closes S; wl_close(NULL) is a no-op. */
void wl_close(wl_source *s);

#endif
