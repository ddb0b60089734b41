/*
 * trace_stats.h: summary statistics of a request stream, for
 * `kvsim trace stats`: counts, duration and rate, means and percentiles of
 * input and output lengths, and prefix reuse when requests carry hash ids.
 *
 * Percentiles are nearest-rank (the smallest length L such that at least
 * p % of the requests have length <= L), from a histogram that is exact
 * for lengths below TRACE_STATS_EXACT_TOKENS and within 0.1 % above (1024
 * sub-buckets per power of two, reported at the bucket's lower bound):
 * memory is fixed (about 4.3 MiB), whatever the trace length. Means are
 * exact (sums in 64-bit integers).
 *
 * Prefix reuse is the share of block ids that repeat an id seen earlier in
 * the trace, in trace order (the Mooncake convention: equal ids are equal
 * prefix blocks; 36.6 % for Mooncake's conversation trace). The set of
 * seen ids is a hash table that grows with the number of distinct ids (16
 * bytes each at most): that, and the set of distinct session ids, are the
 * only parts that grow with the trace.
 */
#ifndef KVSIM_TRACES_TRACE_STATS_H
#define KVSIM_TRACES_TRACE_STATS_H

#include <stdint.h>

#include "traces/trace.h"

/* Lengths below this are counted exactly. */
#define TRACE_STATS_EXACT_TOKENS (1u << 18)

typedef struct trace_stats trace_stats;

/* Distribution of one length. */
typedef struct trace_stats_len {
    double mean;
    uint32_t min, p50, p90, p99, max;
} trace_stats_len;

typedef struct trace_stats_summary {
    uint64_t requests;
    double first_arrival_s, last_arrival_s;
    double duration_s;   /* last - first arrival */
    double rate_per_s;   /* requests / duration, 0 when the duration is 0 */
    trace_stats_len in;  /* input (prompt) tokens */
    trace_stats_len out; /* output tokens */
    uint64_t input_tokens_total, output_tokens_total;
    uint64_t with_hash_ids;   /* requests that carry hash ids */
    uint64_t hash_ids;        /* block ids seen in all */
    uint64_t hash_ids_repeat; /* of those, ids seen before */
    uint64_t hash_ids_distinct;
    double prefix_reuse; /* hash_ids_repeat / hash_ids, 0 when none */
    uint64_t with_session;
    uint64_t sessions; /* distinct session ids */
} trace_stats_summary;

/* Returns a new, empty accumulator, or NULL when out of memory. */
trace_stats *trace_stats_create(void);

/*
 * Adds request Q. Returns 0, or TRACE_ENOMEM when the set of seen ids
 * cannot grow (the request is then counted without its ids).
 */
int trace_stats_add(trace_stats *st, const trace_request *q);

/* Fills *OUT with the statistics of the requests added so far. */
void trace_stats_get(const trace_stats *st, trace_stats_summary *out);

/* Frees ST; NULL is a no-op. */
void trace_stats_destroy(trace_stats *st);

#endif
