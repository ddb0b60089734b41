/*
 * test_trace_formats.c: the BurstGPT, Vidur and length-table readers, the
 * kvsim session_id column, the kvsim CSV writer (exact round trips) and
 * trace statistics (traces/trace_write.h, traces/trace_stats.h).
 *
 * Inputs: small files in tests/data/traces (KVSIM_SOURCE_DIR), files
 * written at run time into a temporary directory, and the public traces in
 * $KVSIM_SHARED_DIR/traces (skipped with a message when absent).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "traces/trace.h"
#include "traces/trace_stats.h"
#include "traces/trace_write.h"
#include "workloads/rng.h"

#define PATH_BYTES 4096

static char g_data[PATH_BYTES]; /* tests/data/traces */
static char g_tmp[PATH_BYTES];  /* removed at the end */

/* Writes DIR/NAME into OUT (PATH_BYTES), failing if it does not fit. */
static void join_path(char *out, const char *dir, const char *name)
{
    int k = snprintf(out, PATH_BYTES, "%s/%s", dir, name);
    if (k < 0 || k >= PATH_BYTES)
        fail_msg("path too long: %s/%s", dir, name);
}

static void data_path(char *out, const char *name)
{
    join_path(out, g_data, name);
}

static void tmp_path(char *out, const char *name)
{
    join_path(out, g_tmp, name);
}

/* Opens PATH with OPTS or fails the test with the message. */
static trace_reader *open_ok(const char *path, trace_format fmt, const char *model)
{
    char err[512];
    trace_reader *r = NULL;
    trace_open_opts o = {fmt, model};
    int rc = trace_open_ex(&r, path, &o, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: trace_open_ex: %d: %s", path, rc, err);
    return r;
}

/* Reads the next request or fails. */
static void next_ok(trace_reader *r, trace_request *q)
{
    int rc = trace_next(r, q);
    if (rc != 1)
        fail_msg("trace_next returned %d: %s", rc, trace_errmsg(r));
}

static void check(const trace_request *q, uint64_t line, double arrival, uint32_t in, uint32_t out)
{
    if (q->line != line || fabs(q->arrival_s - arrival) > 1e-9 || q->input_tokens != in ||
        q->output_tokens != out)
        fail_msg("got line %llu arrival %.9f in %u out %u; want line %llu arrival %.9f in %u "
                 "out %u",
                 (unsigned long long)q->line, q->arrival_s, q->input_tokens, q->output_tokens,
                 (unsigned long long)line, arrival, in, out);
}

/* Opens PATH expecting failure CODE with "PATH:LINE: ...REASON...". */
static void open_fails(const char *path, trace_format fmt, const char *model, int code,
                       uint64_t line, const char *reason)
{
    char err[1024], prefix[PATH_BYTES + 32];
    trace_reader *r = (trace_reader *)&r;
    trace_open_opts o = {fmt, model};
    int rc = trace_open_ex(&r, path, &o, err, sizeof err);
    assert_null(r);
    snprintf(prefix, sizeof prefix, "%s:%llu: ", path, (unsigned long long)line);
    if (rc != code || strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, reason) == NULL ||
        strchr(err, '\n') != NULL)
        fail_msg("%s: got %d '%s'; want %d '%s...%s'", path, rc, err, code, prefix, reason);
}

/* ------------------------------------------------------------ readers */

static void test_burstgpt(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    data_path(path, "burstgpt_basic.csv");
    trace_reader *r = open_ok(path, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(trace_get_format(r), TRACE_FORMAT_BURSTGPT);
    assert_int_equal(trace_has_arrivals(r), 1);
    assert_int_equal(trace_get_fields(r), 0);
    trace_request q;
    next_ok(r, &q);
    check(&q, 2, 0.0, 472, 18); /* Timestamp 5 is the origin */
    next_ok(r, &q);
    check(&q, 4, 41.5, 417, 505); /* line 3 failed (0 response tokens): skipped */
    assert_int_equal(q.index, 1);
    next_ok(r, &q);
    check(&q, 5, 42.0, 100, 20);
    next_ok(r, &q);
    check(&q, 7, 43.25, 200, 30); /* line 6 failed */
    assert_int_equal(trace_next(r, &q), 0);
    trace_counts c;
    trace_get_counts(r, &c);
    assert_int_equal(c.requests, 4);
    assert_int_equal(c.failed_skipped, 2);
    assert_int_equal(c.filtered_out, 0);
    assert_int_equal(c.zero_output, 0);
    assert_int_equal(c.crlf_lines, 7);
    trace_close(r);
}

static void test_burstgpt_model_filter(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    data_path(path, "burstgpt_basic.csv");
    /* Case-insensitive: GPT-4 and gpt-4 rows; the origin stays the file's first row. */
    trace_reader *r = open_ok(path, TRACE_FORMAT_AUTO, "gpt-4");
    trace_request q;
    next_ok(r, &q);
    check(&q, 4, 41.5, 417, 505);
    next_ok(r, &q);
    check(&q, 7, 43.25, 200, 30);
    assert_int_equal(trace_next(r, &q), 0);
    trace_counts c;
    trace_get_counts(r, &c);
    assert_int_equal(c.filtered_out, 3);   /* the ChatGPT rows, the failed one included */
    assert_int_equal(c.failed_skipped, 1); /* GPT-4's failure on line 6 */
    trace_close(r);

    open_fails(path, TRACE_FORMAT_AUTO, "llama", TRACE_EFORMAT, 1,
               "no rows of model 'llama' (6 rows of other models: ChatGPT, GPT-4)");
    data_path(path, "azure_2023.csv");
    open_fails(path, TRACE_FORMAT_AUTO, "GPT-4", TRACE_EARG, 1,
               "a model filter applies to burstgpt traces only (this trace is azure)");
    data_path(path, "bad/burstgpt_all_failed.csv");
    open_fails(path, TRACE_FORMAT_AUTO, NULL, TRACE_EFORMAT, 1,
               "no requests after the header (2 failed requests with 0 response tokens skipped");
}

static void test_vidur(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    data_path(path, "vidur_basic.csv");
    trace_reader *r = open_ok(path, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(trace_get_format(r), TRACE_FORMAT_VIDUR);
    trace_request q;
    next_ok(r, &q);
    check(&q, 2, 0.0, 4808, 10);
    next_ok(r, &q);
    check(&q, 3, 4.314979, 3180, 8);
    next_ok(r, &q);
    check(&q, 4, 4.5, 110, 1); /* 0 decode tokens: read as 1, counted */
    assert_int_equal(trace_next(r, &q), 0);
    trace_counts c;
    trace_get_counts(r, &c);
    assert_int_equal(c.zero_output, 1);
    trace_close(r);
}

static void test_lengths(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    data_path(path, "lengths_basic.csv");
    trace_reader *r = open_ok(path, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(trace_get_format(r), TRACE_FORMAT_LENGTHS);
    assert_int_equal(trace_has_arrivals(r), 0);
    trace_request q;
    next_ok(r, &q);
    check(&q, 2, 0.0, 74, 918);
    next_ok(r, &q);
    check(&q, 3, 0.0, 290, 905);
    next_ok(r, &q);
    check(&q, 4, 0.0, 1402, 711);
    assert_int_equal(trace_next(r, &q), 0);
    trace_close(r);

    data_path(path, "lengths_kvsim_names.csv");
    r = open_ok(path, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(trace_get_format(r), TRACE_FORMAT_LENGTHS);
    next_ok(r, &q);
    check(&q, 2, 0.0, 10, 5);
    next_ok(r, &q);
    check(&q, 3, 0.0, 20, 1);
    trace_close(r);

    /* Forced on a Vidur trace: its times are ignored. */
    data_path(path, "vidur_basic.csv");
    r = open_ok(path, TRACE_FORMAT_LENGTHS, NULL);
    next_ok(r, &q);
    next_ok(r, &q);
    check(&q, 3, 0.0, 3180, 8);
    trace_close(r);
    /* Forced on a file with neither name set. */
    data_path(path, "azure_2023.csv");
    open_fails(path, TRACE_FORMAT_LENGTHS, NULL, TRACE_EFORMAT, 1,
               "missing column 'num_prefill_tokens' in lengths header");
}

static void test_forced_mismatch(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    data_path(path, "kvsim_basic.csv");
    open_fails(path, TRACE_FORMAT_BURSTGPT, NULL, TRACE_EFORMAT, 1,
               "missing column 'Timestamp' in burstgpt header");
    open_fails(path, TRACE_FORMAT_VIDUR, NULL, TRACE_EFORMAT, 1,
               "missing column 'arrived_at' in vidur header");
    data_path(path, "mooncake_basic.jsonl");
    open_fails(path, TRACE_FORMAT_VIDUR, NULL, TRACE_EFORMAT, 1,
               "missing column 'arrived_at' in vidur header '{\"timestamp\"");
    open_fails(path, TRACE_FORMAT_BURSTGPT, NULL, TRACE_EFORMAT, 1,
               "missing column 'Timestamp' in burstgpt header");
    open_fails(path, TRACE_FORMAT_LENGTHS, NULL, TRACE_EFORMAT, 1,
               "missing column 'num_prefill_tokens' in lengths header");
    /* Every name parses back. */
    for (int f = 0; f <= (int)TRACE_FORMAT_LAST; f++) {
        trace_format got;
        assert_int_equal(trace_format_parse(trace_format_name((trace_format)f), &got), 0);
        assert_int_equal(got, f);
        assert_non_null(strstr(TRACE_FORMAT_NAMES, trace_format_name((trace_format)f)));
    }
    assert_string_equal(trace_format_name((trace_format)(TRACE_FORMAT_LAST + 1)), "unknown");
}

static void test_kvsim_session(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    data_path(path, "kvsim_session.csv");
    trace_reader *r = open_ok(path, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(trace_get_fields(r), TRACE_FIELD_HASH_IDS | TRACE_FIELD_SESSION);
    trace_request q;
    next_ok(r, &q);
    assert_int_equal(q.has_session, 1);
    assert_int_equal(q.session_id, 7);
    assert_int_equal(q.num_hash_ids, 2);
    next_ok(r, &q);
    assert_int_equal(q.has_session, 0); /* empty field: none */
    assert_int_equal(q.session_id, 0);
    assert_int_equal(q.num_hash_ids, 0);
    next_ok(r, &q);
    assert_int_equal(q.session_id, 7);
    assert_int_equal(q.num_hash_ids, 3);
    next_ok(r, &q);
    assert_int_equal(q.has_session, 1);
    assert_true(q.session_id == UINT64_MAX);
    trace_close(r);
    /* Files without the column have no sessions. */
    data_path(path, "kvsim_basic.csv");
    r = open_ok(path, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(trace_get_fields(r), 0);
    next_ok(r, &q);
    assert_int_equal(q.has_session, 0);
    trace_close(r);
}

/* ------------------------------------------------------------- writer */

/* Requests with awkward values, kept with their ids for comparison. */
#define RT_N 5000
#define RT_IDS 8
static trace_request g_reqs[RT_N];
static uint64_t g_ids[RT_N][RT_IDS];

static void make_requests(void)
{
    wl_rng r;
    wl_rng_seed(&r, 7, 0);
    double t = 0;
    for (int i = 0; i < RT_N; i++) {
        trace_request *q = &g_reqs[i];
        memset(q, 0, sizeof *q);
        switch (i % 5) {
        case 0: /* any double: needs %.17g */
            t += wl_rng_uniform(&r) * 3.0;
            break;
        case 1: /* a whole nanosecond: %.9f */
            t = ceil(t * 1e9 + 1) / 1e9;
            break;
        case 2: /* tiny steps near a large time */
            t = nextafter(t, INFINITY);
            break;
        case 3: /* a power-of-two fraction */
            t += 1.0 / 1024.0;
            break;
        default: /* the same time again */
            break;
        }
        if (i == RT_N - 1)
            t = 1e9 + 0.125; /* near the readers' bound, 1e9 s after the first */
        q->arrival_s = t;
        q->input_tokens = 1 + (uint32_t)(wl_rng_u64(&r) % 100000);
        q->output_tokens = i == 7 ? UINT32_MAX : 1 + (uint32_t)(wl_rng_u64(&r) % 5000);
        q->has_session = i % 3 != 0;
        q->session_id = q->has_session ? (i == 10 ? UINT64_MAX : wl_rng_u64(&r) >> (i % 64)) : 0;
        q->num_hash_ids = (uint32_t)(i % (RT_IDS + 1));
        for (uint32_t k = 0; k < q->num_hash_ids; k++)
            g_ids[i][k] = k == 0 ? UINT64_MAX - (uint64_t)i : wl_rng_u64(&r) >> (k * 7);
        q->hash_ids = q->num_hash_ids > 0 ? g_ids[i] : NULL;
        q->index = (uint64_t)i;
    }
}

/* Writes the requests to NAME with FIELDS and reads them back through the reader. */
static void roundtrip(const char *name, int fields)
{
    char path[PATH_BYTES], err[512];
    tmp_path(path, name);
    trace_writer *w;
    assert_int_equal(trace_writer_open(&w, path, fields, 0, err, sizeof err), 0);
    for (int i = 0; i < RT_N; i++)
        assert_int_equal(trace_writer_put(w, &g_reqs[i]), 0);
    assert_int_equal(trace_writer_rows(w), RT_N);
    assert_int_equal(trace_writer_close(w, err, sizeof err), 0);

    trace_reader *r = open_ok(path, TRACE_FORMAT_AUTO, NULL);
    assert_int_equal(trace_get_format(r), TRACE_FORMAT_KVSIM);
    assert_int_equal(trace_get_fields(r), fields);
    trace_request q;
    for (int i = 0; i < RT_N; i++) {
        next_ok(r, &q);
        const trace_request *e = &g_reqs[i];
        if (memcmp(&q.arrival_s, &e->arrival_s, sizeof(double)) != 0)
            fail_msg("%s: request %d: arrival %.17g read back as %.17g", name, i, e->arrival_s,
                     q.arrival_s);
        assert_int_equal(q.input_tokens, e->input_tokens);
        assert_int_equal(q.output_tokens, e->output_tokens);
        assert_int_equal(q.index, (uint64_t)i);
        if (fields & TRACE_FIELD_SESSION) {
            assert_int_equal(q.has_session, e->has_session);
            assert_true(q.session_id == e->session_id);
        } else {
            assert_int_equal(q.has_session, 0);
        }
        if (fields & TRACE_FIELD_HASH_IDS) {
            assert_int_equal(q.num_hash_ids, e->num_hash_ids);
            if (e->num_hash_ids > 0)
                assert_memory_equal(q.hash_ids, e->hash_ids, e->num_hash_ids * sizeof(uint64_t));
        } else {
            assert_int_equal(q.num_hash_ids, 0);
        }
    }
    assert_int_equal(trace_next(r, &q), 0);
    trace_counts c;
    trace_get_counts(r, &c);
    assert_int_equal(c.reordered, 0);
    assert_int_equal(c.zero_output, 0);
    trace_close(r);
}

static void test_writer_roundtrip(void **state)
{
    (void)state;
    make_requests();
    roundtrip("rt_all.csv.gz", TRACE_FIELD_HASH_IDS | TRACE_FIELD_SESSION);
    roundtrip("rt_plain.csv", TRACE_FIELD_HASH_IDS | TRACE_FIELD_SESSION);
    roundtrip("rt_none.csv.gz", 0);
    roundtrip("rt_ids.csv.gz", TRACE_FIELD_HASH_IDS);
    roundtrip("rt_session.csv", TRACE_FIELD_SESSION);

    /* The .gz file is gzip, the other plain. */
    char path[PATH_BYTES];
    tmp_path(path, "rt_all.csv.gz");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fgetc(f), 0x1f);
    assert_int_equal(fgetc(f), 0x8b);
    fclose(f);
    tmp_path(path, "rt_plain.csv");
    f = fopen(path, "rb");
    assert_non_null(f);
    char head[64] = "";
    assert_non_null(fgets(head, sizeof head, f));
    fclose(f);
    assert_string_equal(head, "arrival_s,input_tokens,output_tokens,session_id,hash_ids\n");
}

/* A row with many ids is written in pieces and read back whole. */
static void test_writer_long_row(void **state)
{
    (void)state;
    static uint64_t ids[20000];
    for (size_t i = 0; i < 20000; i++)
        ids[i] = UINT64_MAX - i;
    trace_request q = {0};
    q.arrival_s = 1.5;
    q.input_tokens = 20000 * 512;
    q.output_tokens = 3;
    q.num_hash_ids = 20000;
    q.hash_ids = ids;
    char path[PATH_BYTES], err[512];
    tmp_path(path, "long.csv.gz");
    trace_writer *w;
    assert_int_equal(trace_writer_open(&w, path, TRACE_FIELD_HASH_IDS, 9, err, sizeof err), 0);
    assert_int_equal(trace_writer_put(w, &q), 0);
    assert_int_equal(trace_writer_close(w, err, sizeof err), 0);
    trace_reader *r = open_ok(path, TRACE_FORMAT_AUTO, NULL);
    trace_request g;
    next_ok(r, &g);
    assert_int_equal(g.num_hash_ids, 20000);
    assert_memory_equal(g.hash_ids, ids, sizeof ids);
    trace_close(r);
}

static void test_writer_errors(void **state)
{
    (void)state;
    char err[512];
    trace_writer *w = (trace_writer *)&w;
    assert_int_equal(trace_writer_open(&w, "/nonexistent-dir/x.csv.gz", 0, 0, err, sizeof err),
                     TRACE_EIO);
    assert_null(w);
    assert_non_null(strstr(err, "/nonexistent-dir/x.csv.gz: cannot create"));
    assert_int_equal(trace_writer_open(&w, "x.csv", 0, 11, err, sizeof err), TRACE_EARG);
    assert_int_equal(trace_writer_open(&w, "x.csv", 8, 0, err, sizeof err), TRACE_EARG);
    assert_int_equal(trace_writer_close(NULL, err, sizeof err), 0);
    assert_int_equal(trace_writer_put(NULL, NULL), TRACE_EARG);

    char path[PATH_BYTES];
    tmp_path(path, "bad_arrival.csv");
    assert_int_equal(trace_writer_open(&w, path, 0, 0, err, sizeof err), 0);
    trace_request q = {0};
    q.arrival_s = -1.0;
    q.input_tokens = q.output_tokens = 1;
    assert_int_equal(trace_writer_put(w, &q), TRACE_EARG);
    q.arrival_s = 0.0;
    assert_int_equal(trace_writer_put(w, &q), TRACE_EARG); /* sticky */
    assert_non_null(
        strstr(trace_writer_errmsg(w), "row 1: arrival -1 s is not a time in [0, 1e300]"));
    assert_int_equal(trace_writer_close(w, err, sizeof err), TRACE_EARG);
    assert_non_null(strstr(err, "bad_arrival.csv: row 1: arrival -1 s"));

    /* A full device: the error comes at a flush or at close, never silently. */
    if (access("/dev/full", W_OK) == 0) {
        assert_int_equal(trace_writer_open(&w, "/dev/full", 0, 0, err, sizeof err), 0);
        q.arrival_s = 1.0;
        int rc = 0;
        for (int i = 0; i < 100000 && rc == 0; i++)
            rc = trace_writer_put(w, &q);
        int crc = trace_writer_close(w, err, sizeof err);
        assert_int_equal(rc, TRACE_EIO); /* a flush failed while writing */
        assert_int_equal(crc, TRACE_EIO);
        if (strstr(err, "/dev/full: cannot write") == NULL)
            fail_msg("message '%s'", err);
    }
}

/* ------------------------------------------------------------- stats */

static void test_stats_small(void **state)
{
    (void)state;
    trace_stats *st = trace_stats_create();
    assert_non_null(st);
    trace_stats_summary s;
    trace_stats_get(st, &s);
    assert_int_equal(s.requests, 0);
    /* Inputs 1..100, outputs 1000 x i, arrivals i / 10 s. */
    uint64_t ids[3];
    for (uint32_t i = 1; i <= 100; i++) {
        trace_request q = {0};
        q.arrival_s = i / 10.0;
        q.input_tokens = i;
        q.output_tokens = i == 100 ? 4000000000u : 1000 * i;
        ids[0] = 0;     /* shared by all */
        ids[1] = i % 2; /* 0 or 1 */
        ids[2] = 1000 + i;
        q.hash_ids = ids;
        q.num_hash_ids = 3;
        q.has_session = 1;
        q.session_id = i % 7;
        assert_int_equal(trace_stats_add(st, &q), 0);
    }
    trace_stats_get(st, &s);
    assert_int_equal(s.requests, 100);
    assert_true(fabs(s.duration_s - 9.9) < 1e-12);
    assert_true(fabs(s.rate_per_s - 100 / 9.9) < 1e-9);
    assert_true(s.in.mean == 50.5);
    assert_int_equal(s.in.p50, 50); /* nearest rank: the 50th of 100 */
    assert_int_equal(s.in.p90, 90);
    assert_int_equal(s.in.p99, 99);
    assert_int_equal(s.in.min, 1);
    assert_int_equal(s.in.max, 100);
    assert_int_equal(s.out.p50, 50000);
    assert_int_equal(s.out.p99, 99000);
    assert_int_equal(s.out.max, 4000000000u);
    /* 300 ids: id 0 first seen at request 1 (twice there), 1 at request 1,
     * 1001..1100 once each: 102 distinct, 198 repeats. */
    assert_int_equal(s.hash_ids, 300);
    assert_int_equal(s.hash_ids_distinct, 102);
    assert_int_equal(s.hash_ids_repeat, 198);
    assert_true(fabs(s.prefix_reuse - 0.66) < 1e-12);
    assert_int_equal(s.sessions, 7);
    assert_int_equal(s.with_session, 100);
    trace_stats_destroy(st);
    trace_stats_destroy(NULL);
}

/* Above the exact range the reported percentile is within 0.1 % below the value. */
static void test_stats_large_values(void **state)
{
    (void)state;
    trace_stats *st = trace_stats_create();
    assert_non_null(st);
    const uint32_t vals[] = {262143, 262144, 300001, 1000003, 123456789, 4294967295u};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        trace_request q = {0};
        q.input_tokens = vals[k];
        q.output_tokens = 1;
        assert_int_equal(trace_stats_add(st, &q), 0);
    }
    trace_stats_summary s;
    trace_stats_get(st, &s);
    assert_int_equal(s.in.min, 262143);
    assert_int_equal(s.in.max, 4294967295u);
    /* p50 = the 3rd of 6 = 300001; p99 = the 6th. */
    assert_true(s.in.p50 <= 300001 && s.in.p50 >= 300001 - 300001 / 1024);
    assert_true(s.in.p99 <= 4294967295u && s.in.p99 >= 4294967295u - 4294967295u / 1024);
    assert_int_equal(s.duration_s == 0.0, 1);
    assert_true(s.rate_per_s == 0.0);
    trace_stats_destroy(st);

    /* One value above the exact range: every percentile is that value,
     * never its bucket's low end below the minimum. */
    st = trace_stats_create();
    assert_non_null(st);
    trace_request q = {0};
    q.input_tokens = 300001;
    q.output_tokens = 1;
    assert_int_equal(trace_stats_add(st, &q), 0);
    trace_stats_get(st, &s);
    assert_int_equal(s.in.min, 300001);
    assert_int_equal(s.in.p50, 300001);
    assert_int_equal(s.in.p90, 300001);
    assert_int_equal(s.in.p99, 300001);
    trace_stats_destroy(st);
}

/* ------------------------------------------------------- real traces */

static int shared(char *out, const char *name)
{
    const char *dir = getenv("KVSIM_SHARED_DIR");
    if (dir == NULL || dir[0] == '\0') {
        print_message("skipped: KVSIM_SHARED_DIR is not set (real trace %s)\n", name);
        return 0;
    }
    snprintf(out, PATH_BYTES, "%s/traces/%s", dir, name);
    if (access(out, R_OK) != 0) {
        print_message("skipped: %s is not readable: %s\n", out, strerror(errno));
        return 0;
    }
    return 1;
}

/* Stats of PATH, and writes it to OUT_NAME (when not NULL) then compares a re-read. */
static void stats_and_roundtrip(const char *path, const char *out_name, trace_stats_summary *s)
{
    trace_reader *r = open_ok(path, TRACE_FORMAT_AUTO, NULL);
    trace_stats *st = trace_stats_create();
    assert_non_null(st);
    char wpath[PATH_BYTES], err[512];
    trace_writer *w = NULL;
    if (out_name != NULL) {
        tmp_path(wpath, out_name);
        assert_int_equal(trace_writer_open(&w, wpath, trace_get_fields(r), 1, err, sizeof err), 0);
    }
    trace_request q;
    int rc;
    while ((rc = trace_next(r, &q)) == 1) {
        assert_int_equal(trace_stats_add(st, &q), 0);
        if (w != NULL)
            assert_int_equal(trace_writer_put(w, &q), 0);
    }
    assert_int_equal(rc, 0);
    trace_stats_get(st, s);
    trace_stats_destroy(st);
    if (w == NULL) {
        trace_close(r);
        return;
    }
    assert_int_equal(trace_writer_close(w, err, sizeof err), 0);
    trace_close(r);
    /* Re-read both side by side: identical requests. */
    trace_reader *a = open_ok(path, TRACE_FORMAT_AUTO, NULL);
    trace_reader *b = open_ok(wpath, TRACE_FORMAT_KVSIM, NULL);
    trace_request qa, qb;
    uint64_t n = 0;
    while ((rc = trace_next(a, &qa)) == 1) {
        next_ok(b, &qb);
        if (memcmp(&qa.arrival_s, &qb.arrival_s, sizeof(double)) != 0 ||
            qa.input_tokens != qb.input_tokens || qa.output_tokens != qb.output_tokens ||
            qa.num_hash_ids != qb.num_hash_ids ||
            (qa.num_hash_ids > 0 &&
             memcmp(qa.hash_ids, qb.hash_ids, qa.num_hash_ids * sizeof(uint64_t)) != 0))
            fail_msg("%s: request %llu differs after the round trip", path, (unsigned long long)n);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(trace_next(b, &qb), 0);
    trace_close(a);
    trace_close(b);
}

static void test_real_traces_stats(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    trace_stats_summary s;
    if (!shared(path, "AzureLLMInferenceTrace_conv.csv.gz")) {
        skip();
        return;
    }
    stats_and_roundtrip(path, "conv.csv.gz", &s);
    assert_int_equal(s.requests, 19366);
    assert_true(fabs(s.in.mean - 1154.6974) < 0.001 && fabs(s.out.mean - 211.1259) < 0.001);
    assert_true(fabs(s.rate_per_s - 5.53) < 0.01);
    assert_int_equal(s.out.max, 1000);

    assert_true(shared(path, "AzureLLMInferenceTrace_code.csv.gz"));
    stats_and_roundtrip(path, "code.csv.gz", &s);
    assert_int_equal(s.requests, 8819);
    assert_true(fabs(s.in.mean - 2047.8483) < 0.001 && fabs(s.out.mean - 27.8825) < 0.001);
    assert_int_equal(s.in.p99, 7436); /* README: p99 7436 */
    assert_true(fabs(s.rate_per_s - 2.567) < 0.01);

    assert_true(shared(path, "conversation_trace.jsonl.gz"));
    stats_and_roundtrip(path, "mooncake.csv.gz", &s);
    assert_int_equal(s.requests, 12031);
    assert_true(fabs(s.in.mean - 12035.0613) < 0.001 && fabs(s.out.mean - 342.6189) < 0.001);
    assert_int_equal(s.in.p99, 85401); /* README: p99 85,401 */
    assert_int_equal(s.hash_ids, 288500);
    assert_int_equal(s.hash_ids_repeat, 105710);
    assert_true(fabs(100.0 * s.prefix_reuse - 36.64) < 0.01); /* README: 36.6 % */

    assert_true(shared(path, "sharegpt_8k_filtered_stats_llama2_tokenizer.csv.gz"));
    stats_and_roundtrip(path, NULL, &s);
    assert_int_equal(s.requests, 30731);
    assert_true(fabs(s.in.mean - 2340.0335) < 0.001 && fabs(s.out.mean - 438.7097) < 0.001);
    assert_true(s.duration_s == 0.0);
}

/* ------------------------------------------------------ setup/teardown */

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("KVSIM_SOURCE_DIR");
    snprintf(g_data, sizeof g_data, "%s/tests/data/traces", src != NULL ? src : ".");
    struct stat st;
    if (stat(g_data, &st) != 0) {
        print_error("test data not found at %s (set KVSIM_SOURCE_DIR)\n", g_data);
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/kvsim_test_formats.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    return mkdtemp(g_tmp) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(g_tmp);
    if (d != NULL) {
        struct dirent *e;
        char path[PATH_BYTES + 256];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", g_tmp, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    return rmdir(g_tmp) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burstgpt),
        cmocka_unit_test(test_burstgpt_model_filter),
        cmocka_unit_test(test_vidur),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_forced_mismatch),
        cmocka_unit_test(test_kvsim_session),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_writer_long_row),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_stats_small),
        cmocka_unit_test(test_stats_large_values),
        cmocka_unit_test(test_real_traces_stats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
