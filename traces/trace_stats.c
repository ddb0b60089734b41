/*
 * trace_stats.c: see trace_stats.h.
 *
 * Length histogram: values v < 2^18 count in bucket v; above, v with
 * highest bit e (18..31) goes to bucket 2^18 + (e - 18) * 1024 + the 10
 * bits below the highest, so a bucket spans less than 1/1024 of its
 * values (HdrHistogram's layout, G. Tene). Counts are 64-bit; calloc
 * leaves untouched pages unmapped, so short traces cost little.
 *
 * Seen-id set: open addressing with linear probing over a power-of-two
 * table of 64-bit keys, a splitmix64 finalizer as the hash, grown at 1/2
 * load. Key 0 marks an empty slot, so id 0 is tracked by a flag.
 */
#include "traces/trace_stats.h"

#include <stdlib.h>
#include <string.h>

#define TRACE__SUB_BITS 10
#define TRACE__EXACT_BITS 18
#define TRACE__NBUCKETS                                                                            \
    (TRACE_STATS_EXACT_TOKENS + (32 - TRACE__EXACT_BITS) * (1u << TRACE__SUB_BITS))

/* A set of 64-bit ids. */
typedef struct trace__idset {
    uint64_t *keys;
    size_t cap, n;
    int has_zero;
} trace__idset;

struct trace_stats {
    uint64_t n;
    double first_s, last_s;
    uint64_t sum_in, sum_out;
    uint32_t min_in, max_in, min_out, max_out;
    uint64_t *hist_in, *hist_out;
    uint64_t with_ids, ids, repeats;
    uint64_t with_session;
    trace__idset seen, sessions;
};

static uint64_t trace__mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Inserts K into the table KEYS of CAP slots (K != 0, room assured); 1 if new. */
static int trace__idset_put(uint64_t *keys, size_t cap, uint64_t k)
{
    size_t i = (size_t)trace__mix(k) & (cap - 1);
    while (keys[i] != 0) {
        if (keys[i] == k)
            return 0;
        i = (i + 1) & (cap - 1);
    }
    keys[i] = k;
    return 1;
}

/* Adds K to S. Returns 1 if it is new, 0 if seen before, TRACE_ENOMEM. */
static int trace__idset_add(trace__idset *s, uint64_t k)
{
    if (k == 0) {
        int fresh = !s->has_zero;
        s->has_zero = 1;
        return fresh;
    }
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap == 0 ? 1024 : s->cap * 2;
        uint64_t *keys = calloc(cap, sizeof *keys);
        if (keys == NULL)
            return TRACE_ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->keys[i] != 0)
                (void)trace__idset_put(keys, cap, s->keys[i]);
        }
        free(s->keys);
        s->keys = keys;
        s->cap = cap;
    }
    int fresh = trace__idset_put(s->keys, s->cap, k);
    s->n += (size_t)fresh;
    return fresh;
}

static size_t trace__bucket(uint32_t v)
{
    if (v < TRACE_STATS_EXACT_TOKENS)
        return v;
    unsigned e = 31;
    while ((v >> e) == 0)
        e--;
    uint32_t sub = (v >> (e - TRACE__SUB_BITS)) & ((1u << TRACE__SUB_BITS) - 1);
    return TRACE_STATS_EXACT_TOKENS + (size_t)(e - TRACE__EXACT_BITS) * (1u << TRACE__SUB_BITS) +
           sub;
}

/* The smallest value of bucket B. */
static uint32_t trace__bucket_low(size_t b)
{
    if (b < TRACE_STATS_EXACT_TOKENS)
        return (uint32_t)b;
    size_t k = b - TRACE_STATS_EXACT_TOKENS;
    unsigned e = TRACE__EXACT_BITS + (unsigned)(k >> TRACE__SUB_BITS);
    uint32_t sub = (uint32_t)(k & ((1u << TRACE__SUB_BITS) - 1));
    return (1u << e) | (sub << (e - TRACE__SUB_BITS));
}

trace_stats *trace_stats_create(void)
{
    trace_stats *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->hist_in = calloc(TRACE__NBUCKETS, sizeof *st->hist_in);
    st->hist_out = calloc(TRACE__NBUCKETS, sizeof *st->hist_out);
    if (st->hist_in == NULL || st->hist_out == NULL) {
        trace_stats_destroy(st);
        return NULL;
    }
    return st;
}

int trace_stats_add(trace_stats *st, const trace_request *q)
{
    if (st->n == 0) {
        st->first_s = q->arrival_s;
        st->min_in = st->max_in = q->input_tokens;
        st->min_out = st->max_out = q->output_tokens;
    }
    st->last_s = q->arrival_s;
    st->n++;
    st->sum_in += q->input_tokens;
    st->sum_out += q->output_tokens;
    if (q->input_tokens < st->min_in)
        st->min_in = q->input_tokens;
    if (q->input_tokens > st->max_in)
        st->max_in = q->input_tokens;
    if (q->output_tokens < st->min_out)
        st->min_out = q->output_tokens;
    if (q->output_tokens > st->max_out)
        st->max_out = q->output_tokens;
    st->hist_in[trace__bucket(q->input_tokens)]++;
    st->hist_out[trace__bucket(q->output_tokens)]++;
    int rc = 0;
    if (q->has_session) {
        st->with_session++;
        if (trace__idset_add(&st->sessions, q->session_id) < 0)
            rc = TRACE_ENOMEM;
    }
    if (q->num_hash_ids > 0 && q->hash_ids != NULL) {
        st->with_ids++;
        for (uint32_t i = 0; i < q->num_hash_ids; i++) {
            int fresh = trace__idset_add(&st->seen, q->hash_ids[i]);
            if (fresh < 0)
                return TRACE_ENOMEM;
            st->ids++;
            st->repeats += (uint64_t)(fresh == 0);
        }
    }
    return rc;
}

/* Nearest-rank percentile P (0..100] of the N values in histogram H. */
static uint32_t trace__percentile(const uint64_t *h, uint64_t n, double p)
{
    if (n == 0)
        return 0;
    double want = p / 100.0 * (double)n;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t b = 0; b < TRACE__NBUCKETS; b++) {
        seen += h[b];
        if (seen >= rank)
            return trace__bucket_low(b);
    }
    return trace__bucket_low(TRACE__NBUCKETS - 1);
}

static void trace__len_summary(const uint64_t *h, uint64_t n, uint64_t sum, uint32_t lo,
                               uint32_t hi, trace_stats_len *out)
{
    out->mean = n > 0 ? (double)sum / (double)n : 0.0;
    out->min = lo;
    out->max = hi;
    /* A bucket's low end may lie below the smallest value in it (or above
     * the largest, never): the exact extremes bound every percentile. */
    uint32_t p[3] = {trace__percentile(h, n, 50), trace__percentile(h, n, 90),
                     trace__percentile(h, n, 99)};
    for (size_t i = 0; i < 3; i++)
        p[i] = p[i] < lo ? lo : p[i] > hi ? hi : p[i];
    out->p50 = p[0];
    out->p90 = p[1];
    out->p99 = p[2];
}

void trace_stats_get(const trace_stats *st, trace_stats_summary *out)
{
    memset(out, 0, sizeof *out);
    out->requests = st->n;
    if (st->n == 0)
        return;
    out->first_arrival_s = st->first_s;
    out->last_arrival_s = st->last_s;
    out->duration_s = st->last_s - st->first_s;
    out->rate_per_s = out->duration_s > 0 ? (double)st->n / out->duration_s : 0.0;
    trace__len_summary(st->hist_in, st->n, st->sum_in, st->min_in, st->max_in, &out->in);
    trace__len_summary(st->hist_out, st->n, st->sum_out, st->min_out, st->max_out, &out->out);
    out->input_tokens_total = st->sum_in;
    out->output_tokens_total = st->sum_out;
    out->with_hash_ids = st->with_ids;
    out->hash_ids = st->ids;
    out->hash_ids_repeat = st->repeats;
    out->hash_ids_distinct = st->seen.n + (uint64_t)st->seen.has_zero;
    out->prefix_reuse = st->ids > 0 ? (double)st->repeats / (double)st->ids : 0.0;
    out->with_session = st->with_session;
    out->sessions = st->sessions.n + (uint64_t)st->sessions.has_zero;
}

void trace_stats_destroy(trace_stats *st)
{
    if (st == NULL)
        return;
    free(st->hist_in);
    free(st->hist_out);
    free(st->seen.keys);
    free(st->sessions.keys);
    free(st);
}
