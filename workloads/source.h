/*
 * source.h: a stream of requests for the engine, read lazily one at a
 * time: from a trace file (traces/) or from a seeded synthetic generator.
 * The engine holds only the next arrival, so memory is bounded by the
 * requests in flight.
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

/* Opens a synthetic source. Returns 0, or TRACE_EARG with ERR. */
int wl_open_synth(wl_source **out, const wl_synth_params *p, char *err, size_t errlen);

/* Next request: 1 when one was read, 0 at the end, negative on error
 * (wl_errmsg says why). hash_ids in *REQ stay valid until the next call. */
int wl_next(wl_source *s, trace_request *req);

/* The last error as one line, or "". */
const char *wl_errmsg(const wl_source *s);

/* Describes the source ("PATH (format)" or "synthetic ..."). */
const char *wl_describe(const wl_source *s);

/* Adjustments a trace reader made (all zero for synthetic sources). */
void wl_get_counts(const wl_source *s, trace_counts *out);

/* Closes S; wl_close(NULL) is a no-op. */
void wl_close(wl_source *s);

#endif
