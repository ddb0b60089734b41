/*
 * wl_int.h: private parts of workloads/: the source ops table and layout
 * shared by source.c (trace and legacy synthetic sources), gen.c (spec
 * generators), transform.c (wrapping transforms), and the distributions
 * (dist.c) that spec.c configures. Not for other folders.
 *
 * A wl_source is an ops table plus state (SQLite's sqlite3_mem_methods
 * style): sources are really pluggable (trace, generator, transform
 * wrapper), so the table stays. A wrapper owns the source it wraps.
 */
#ifndef KVSIM_WORKLOADS_WL_INT_H
#define KVSIM_WORKLOADS_WL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "traces/trace.h"
#include "workloads/rng.h"
#include "workloads/source.h"

/*
 * Random stream numbers of the workload components, one per component
 * (rng.h), all seeded with the run's --seed. They start at 0x100 so they
 * never meet the engine's own streams (small numbers).
 */
enum {
    WL_STREAM_ARRIVALS = 0x100,       /* spec generator: inter-arrival gaps */
    WL_STREAM_INPUT = 0x101,          /* spec generator: input lengths */
    WL_STREAM_OUTPUT = 0x102,         /* spec generator: output lengths */
    WL_STREAM_CHAT = 0x103,           /* chat preset: turns per conversation, think times */
    WL_STREAM_RESERVOIR = 0x104,      /* empirical lengths: reservoir sampling of a long file */
    WL_STREAM_SAMPLE = 0x105,         /* --sample transform: Bernoulli keep */
    WL_STREAM_TABLE_ARRIVALS = 0x106, /* Poisson arrivals added to a length table */
};

/* Size of the description and error buffers of a source. */
#define WL_DESC_BYTES 1024
#define WL_ERR_BYTES 1024

typedef struct wl_ops {
    /* As wl_next. */
    int (*next)(wl_source *s, trace_request *req);
    /* Rewrites s->desc from the current state (counts may change at the end). */
    void (*describe)(const wl_source *s);
    /* As wl_get_counts. */
    void (*counts)(const wl_source *s, trace_counts *out);
    /* The source's own error message when s->err is not used; may be NULL. */
    const char *(*errmsg)(const wl_source *s);
    /* Frees what the source owns besides the wl_source itself. */
    void (*close)(wl_source *s);
} wl_ops;

struct wl_source {
    const wl_ops *ops;
    void *impl;             /* owned by the source kind */
    wl_source *inner;       /* the wrapped source (transforms), closed with this one */
    char *desc;             /* WL_DESC_BYTES, rewritten by ops->describe */
    char err[WL_ERR_BYTES]; /* this layer's error, "" if none */
    int fields;             /* TRACE_FIELD_* the requests may carry */
    const char *path;       /* the trace file (borrowed from impl or inner), NULL for a generator */
    int no_arrivals;        /* a length table read without a rate: every arrival is 0 */
    double first_arrival_s; /* of the first request yielded, for TRACE_MAX_SPAN_S */
    int have_first;
};

/*
 * Allocates a source with OPS and IMPL (owned from now on: on failure
 * OPS->close is called on it). Returns NULL when out of memory.
 */
wl_source *wl__source_new(const wl_ops *ops, void *impl, int fields);

/* ------------------------------------------------------- distributions */

typedef enum wl_dist_kind {
    WL_DIST_FIXED = 0,
    WL_DIST_UNIFORM,
    WL_DIST_NORMAL,
    WL_DIST_LOGNORMAL,
    WL_DIST_ZIPF,
    WL_DIST_EMPIRICAL,
} wl_dist_kind;

/* Lengths loaded from a trace or length table for empirical draws. */
typedef struct wl_table {
    uint32_t *in, *out; /* n pairs */
    size_t n;
    char *path;
    int refs;
} wl_table;

/* Most rows kept from a file for empirical draws (a seeded reservoir beyond). */
#define WL_TABLE_MAX_ROWS 1000000u

/* A length distribution over integers [min, max], min >= 1. */
typedef struct wl_dist {
    wl_dist_kind kind;
    uint32_t min, max;
    double mean;  /* normal, lognormal: the target mean after clamping */
    double sd;    /* normal */
    double sigma; /* lognormal: sigma of log(X) */
    double mu;    /* normal, lognormal: location solved so the clamped mean is `mean` */
    double s;     /* zipf exponent */
    /* zipf rejection-inversion constants */
    double z_hx1, z_hn, z_s;
    wl_table *table; /* empirical (shared, reference-counted) */
    int column;      /* empirical: 0 input, 1 output */
} wl_dist;

/*
 * Checks D's parameters and precomputes what sampling needs (the solved
 * location, Zipf constants). Returns 0, or -1 with a reason in ERR.
 */
int wl_dist_prepare(wl_dist *d, char *err, size_t errlen);

/* Draws one length from D with R. */
uint32_t wl_dist_draw(const wl_dist *d, wl_rng *r);

/* Draws the row index of an empirical draw; see wl_dist_row. */
size_t wl_table_pick(const wl_table *t, wl_rng *r);

/* Describes D in spec syntax ("lognormal:mean=161.31,sigma=1.2,max=2048"). */
void wl_dist_describe(const wl_dist *d, char *buf, size_t len);

/* The mean of D, exact for the discrete kinds, the target for the others. */
double wl_dist_mean(const wl_dist *d);

/*
 * Loads PATH (any trace or length table, FORMAT or auto) for empirical
 * draws, keeping at most WL_TABLE_MAX_ROWS rows (a reservoir sample seeded
 * by SEED beyond that). Returns the table with one reference, or NULL with
 * a one-line reason in ERR.
 */
wl_table *wl_table_load(const char *path, trace_format format, uint64_t seed, char *err,
                        size_t errlen);

/* Drops one reference to T; frees it at zero. NULL is a no-op. */
void wl_table_release(wl_table *t);

/* Gamma(shape, 1) variate (Marsaglia and Tsang, 2000). */
double wl_gamma(wl_rng *r, double shape);

/* ---------------------------------------------------------- generator */

typedef enum wl_arrival_kind {
    WL_ARRIVAL_POISSON = 0,
    WL_ARRIVAL_GAMMA,
    WL_ARRIVAL_CONSTANT,
    WL_ARRIVAL_BATCH,
} wl_arrival_kind;

/* An arrival process. The first request arrives at `at_s` (0 unless batch:at=). */
typedef struct wl_arrival {
    wl_arrival_kind kind;
    double rate_per_s; /* poisson, gamma, constant */
    double cv;         /* gamma: coefficient of variation of the gaps */
    double at_s;       /* batch: when all arrive */
} wl_arrival;

/* Defaults of the chat preset's conversations. */
typedef struct wl_chat {
    double turns_mean;   /* turns per conversation, geometric on 1, 2, ... */
    double think_s;      /* mean gap between a turn's arrival and the next (exponential) */
    uint32_t sys_tokens; /* system prompt shared by every conversation */
    uint32_t max_ctx;    /* a conversation ends before a prompt would exceed this */
} wl_chat;

/* Tokens per hash-id block (Mooncake's convention). */
#define WL_BLOCK_TOKENS 512u

/* A parsed workload spec. */
typedef struct wl_spec {
    char name[32];  /* preset or process name, for the description */
    int is_process; /* the head is an arrival process, not a preset */
    int is_chat;
    uint64_t requests;
    wl_arrival arrival;
    wl_dist in, out;
    wl_chat chat;
} wl_spec;

/*
 * Parses SPEC (syntax in source.h) into *OUT, loading empirical tables.
 * Returns 0, or -1 with a one-line reason in ERR; on failure nothing is
 * left to free. On success free with wl_spec_release.
 */
int wl_spec_parse(const char *spec, uint64_t seed, wl_spec *out, char *err, size_t errlen);

/* Releases the tables a parsed spec holds. */
void wl_spec_release(wl_spec *s);

/* Describes SPEC in full spec syntax into BUF. */
void wl_spec_describe(const wl_spec *s, char *buf, size_t len);

/* Opens a generator for a parsed spec; takes over its tables (even on failure). */
int wl__open_gen(wl_source **out, wl_spec *spec, uint64_t seed, char *err, size_t errlen);

#endif
