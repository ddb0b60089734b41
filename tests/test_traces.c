/*
 * test_traces.c: tests of the trace readers (traces/).
 *
 * Inputs come from three places: a corpus of small good and bad files in
 * tests/data/traces (found through KVSIM_SOURCE_DIR, else next to this
 * file), files generated at run time into a temporary directory (gzip
 * corruption, NUL bytes, long lines, large streams, fuzzed mutations), and
 * the real public traces in $KVSIM_SHARED_DIR/traces, whose tests skip with
 * a message when that folder is absent.
 *
 * Every error test checks the code and that the message is exactly
 * "PATH:LINE: " followed by text containing the expected reason.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "traces/trace.h"

#define PATH_BYTES 4096

static char g_data_dir[PATH_BYTES]; /* tests/data/traces */
static char g_tmp_dir[PATH_BYTES];  /* removed with its files at the end */

/* ------------------------------------------------------------- helpers */

/* Absolute value, without needing libm. */
static double dabs(double x)
{
    return x < 0 ? -x : x;
}

/* Fails unless |GOT - WANT| <= TOL, printing both. */
static void assert_near(double got, double want, double tol, const char *what)
{
    if (!(dabs(got - want) <= tol))
        fail_msg("%s: got %.12f, want %.12f (tolerance %g)", what, got, want, tol);
}

/* Writes DIR/NAME into OUT (PATH_BYTES), failing if it does not fit. */
static void join_path(char *out, const char *dir, const char *name)
{
    int k = snprintf(out, PATH_BYTES, "%s/%s", dir, name);
    if (k < 0 || k >= PATH_BYTES)
        fail_msg("path too long: %s/%s", dir, name);
}

/* Writes the path of the corpus file NAME into OUT. */
static void data_path(char *out, const char *name)
{
    join_path(out, g_data_dir, name);
}

/* Writes the path of the temporary file NAME into OUT. */
static void tmp_path(char *out, const char *name)
{
    join_path(out, g_tmp_dir, name);
}

/* Writes LEN bytes to the temporary file NAME; its path goes to OUT. */
static void write_tmp(char *out, const char *name, const void *data, size_t len)
{
    tmp_path(out, name);
    FILE *f = fopen(out, "wb");
    if (f == NULL)
        fail_msg("cannot create %s: %s", out, strerror(errno));
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Gzips LEN bytes into the temporary file NAME; its path goes to OUT. */
static void write_tmp_gz(char *out, const char *name, const void *data, size_t len)
{
    tmp_path(out, name);
    gzFile g = gzopen(out, "wb");
    if (g == NULL)
        fail_msg("cannot create %s", out);
    if (len > 0)
        assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(g), Z_OK);
}

/* Reads the whole file PATH into a malloc'ed buffer (caller frees). */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* A growable text buffer for generated traces. */
typedef struct text {
    char *p;
    size_t n, cap;
} text;

/* Appends printf-style text to T. */
static void text_add(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k =
            vsnprintf(t->p != NULL ? t->p + t->n : NULL, t->p != NULL ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        assert_true(k >= 0);
        if (t->p != NULL && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        t->cap = t->cap == 0 ? 4096 : t->cap;
        while (t->cap <= t->n + (size_t)k)
            t->cap *= 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
}

/* Appends N copies of byte C to T. */
static void text_fill(text *t, char c, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        t->cap = t->n + n + 1;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memset(t->p + t->n, c, n);
    t->n += n;
    t->p[t->n] = '\0';
}

/*
 * Fails unless MSG is "PATH:LINE: ..." (or "PATH: ..." when LINE is 0)
 * with REASON in the rest, on one line.
 */
static void check_msg(const char *msg, const char *path, uint64_t line, const char *reason)
{
    char prefix[PATH_BYTES + 32];
    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%llu: ", path, (unsigned long long)line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", path);
    size_t k = strlen(prefix);
    if (strncmp(msg, prefix, k) != 0 || strstr(msg + k, reason) == NULL)
        fail_msg("message '%s'\n    wanted prefix '%s' and reason '%s'", msg, prefix, reason);
    if (strchr(msg, '\n') != NULL || strchr(msg, '\r') != NULL)
        fail_msg("message '%s' is not one line", msg);
}

/*
 * Opens PATH as FMT and reads it to the first error, which must have code
 * CODE and a message for LINE with REASON; checks that the error is sticky.
 * Returns the number of requests yielded before it.
 */
static uint64_t expect_error(const char *path, trace_format fmt, int code, uint64_t line,
                             const char *reason)
{
    char err[512] = "not cleared";
    trace_reader *r = NULL;
    int rc = trace_open(&r, path, fmt, err, sizeof err);
    if (rc < 0) {
        assert_null(r);
        if (rc != code)
            fail_msg("%s: trace_open returned %d (%s), want %d; message '%s'", path, rc,
                     trace_strerror(rc), code, err);
        check_msg(err, path, line, reason);
        return 0;
    }
    assert_int_equal(rc, 0);
    assert_string_equal(err, "");
    assert_string_equal(trace_errmsg(r), "");
    trace_request q;
    uint64_t n = 0;
    while ((rc = trace_next(r, &q)) == 1) {
        if (++n > 100000000)
            fail_msg("%s: too many requests", path);
    }
    if (rc == 0)
        fail_msg("%s: read %llu requests to the end; wanted the error '%s'", path,
                 (unsigned long long)n, reason);
    if (rc != code)
        fail_msg("%s: trace_next returned %d (%s), want %d; message '%s'", path, rc,
                 trace_strerror(rc), code, trace_errmsg(r));
    check_msg(trace_errmsg(r), path, line, reason);
    char first[512];
    snprintf(first, sizeof first, "%s", trace_errmsg(r));
    assert_int_equal(trace_next(r, &q), code);
    assert_int_equal(trace_next(r, &q), code);
    assert_string_equal(trace_errmsg(r), first);
    trace_close(r);
    return n;
}

/* What reading a whole trace gave. */
typedef struct summary {
    uint64_t n;
    double sum_in, sum_out;
    double first_arrival_s, second_arrival_s, last_arrival_s;
    uint64_t hash_len_mismatch; /* rows with num_hash_ids != ceil(in / 512) */
    uint64_t hash_total, hash_repeats;
    trace_format fmt;
    trace_counts counts;
} summary;

/*
 * Reads PATH (format FMT) to its end, checking the trace.h guarantees of
 * every request, and summarizes it. With TRACK_HASHES, counts ids seen
 * before (ids must then be below 2^26).
 */
static summary read_all(const char *path, trace_format fmt, int track_hashes)
{
    summary s;
    memset(&s, 0, sizeof s);
    char err[512];
    trace_reader *r = NULL;
    int rc = trace_open(&r, path, fmt, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: trace_open failed: %d %s", path, rc, err);
    s.fmt = trace_get_format(r);
    unsigned char *seen = NULL;
    size_t seen_cap = 0;
    trace_request q;
    uint64_t prev_line = 0;
    double prev = 0.0;
    while ((rc = trace_next(r, &q)) == 1) {
        if (q.index != s.n || q.line <= prev_line || q.input_tokens < 1 || q.output_tokens < 1 ||
            !isfinite(q.arrival_s) || q.arrival_s < 0.0 || (s.n > 0 && q.arrival_s < prev) ||
            (q.num_hash_ids > 0) != (q.hash_ids != NULL))
            fail_msg("%s: bad request #%llu line %llu: arrival %g in %u out %u ids %u", path,
                     (unsigned long long)q.index, (unsigned long long)q.line, q.arrival_s,
                     q.input_tokens, q.output_tokens, q.num_hash_ids);
        prev_line = q.line;
        prev = q.arrival_s;
        if (s.n == 0)
            s.first_arrival_s = q.arrival_s;
        if (s.n == 1)
            s.second_arrival_s = q.arrival_s;
        s.last_arrival_s = q.arrival_s;
        s.sum_in += q.input_tokens;
        s.sum_out += q.output_tokens;
        if (q.num_hash_ids != (q.input_tokens + 511u) / 512u)
            s.hash_len_mismatch++;
        for (uint32_t i = 0; track_hashes && i < q.num_hash_ids; i++) {
            uint64_t id = q.hash_ids[i];
            assert_true(id < (UINT64_C(1) << 26));
            if (id >= seen_cap) {
                size_t cap = seen_cap == 0 ? 1024 : seen_cap;
                while (cap <= id)
                    cap *= 2;
                seen = realloc(seen, cap);
                assert_non_null(seen);
                memset(seen + seen_cap, 0, cap - seen_cap);
                seen_cap = cap;
            }
            s.hash_total++;
            s.hash_repeats += seen[id];
            seen[id] = 1;
        }
        s.n++;
    }
    free(seen);
    if (rc != 0)
        fail_msg("%s: error after %llu requests: %s", path, (unsigned long long)s.n,
                 trace_errmsg(r));
    assert_int_equal(trace_next(r, &q), 0); /* the end is sticky too */
    trace_get_counts(r, &s.counts);
    assert_int_equal(s.counts.requests, s.n);
    trace_close(r);
    return s;
}

/* Reads up to MAX requests of PATH into OUT (hash ids not kept); returns n. */
static size_t read_some(const char *path, trace_format fmt, trace_request *out, size_t max,
                        trace_counts *counts, trace_format *detected)
{
    char err[512];
    trace_reader *r = NULL;
    int rc = trace_open(&r, path, fmt, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: trace_open failed: %d %s", path, rc, err);
    size_t n = 0;
    trace_request q;
    while ((rc = trace_next(r, &q)) == 1) {
        assert_true(n < max);
        q.hash_ids = NULL;
        out[n++] = q;
    }
    if (rc != 0)
        fail_msg("%s: %s", path, trace_errmsg(r));
    if (counts != NULL)
        trace_get_counts(r, counts);
    if (detected != NULL)
        *detected = trace_get_format(r);
    trace_close(r);
    return n;
}

/* Fails unless request Q has these values (arrival to 1e-9 s). */
static void check_req(const trace_request *q, uint64_t line, double arrival_s, uint32_t in,
                      uint32_t out)
{
    if (q->line != line || dabs(q->arrival_s - arrival_s) > 1e-9 || q->input_tokens != in ||
        q->output_tokens != out)
        fail_msg("request #%llu: line %llu arrival %.10f in %u out %u; want line %llu arrival "
                 "%.10f in %u out %u",
                 (unsigned long long)q->index, (unsigned long long)q->line, q->arrival_s,
                 q->input_tokens, q->output_tokens, (unsigned long long)line, arrival_s, in, out);
}

/* ------------------------------------------------------- setup/teardown */

static int group_setup(void **state)
{
    (void)state;
    const char *src = getenv("KVSIM_SOURCE_DIR");
    if (src != NULL && src[0] != '\0') {
        snprintf(g_data_dir, sizeof g_data_dir, "%s/tests/data/traces", src);
    } else {
        /* __FILE__ is this file's path as given to the compiler. */
        const char *slash = strrchr(__FILE__, '/');
        int dir_len = slash != NULL ? (int)(slash - __FILE__) : 1;
        snprintf(g_data_dir, sizeof g_data_dir, "%.*s/data/traces", dir_len,
                 slash != NULL ? __FILE__ : ".");
    }
    struct stat st;
    if (stat(g_data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        print_error("test data not found at %s (set KVSIM_SOURCE_DIR to the repository root)\n",
                    g_data_dir);
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_tmp_dir, sizeof g_tmp_dir, "%s/kvsim_test_traces.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(g_tmp_dir) == NULL) {
        print_error("mkdtemp %s: %s\n", g_tmp_dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    /* Unlinking while reading a directory may hide entries: repeat passes. */
    for (int pass = 0; pass < 10; pass++) {
        DIR *d = opendir(g_tmp_dir);
        if (d == NULL)
            return -1;
        struct dirent *e;
        char path[PATH_BYTES + 256];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", g_tmp_dir, e->d_name);
            unlink(path);
        }
        closedir(d);
        if (rmdir(g_tmp_dir) == 0)
            return 0;
    }
    print_error("cannot remove %s: %s\n", g_tmp_dir, strerror(errno));
    return -1;
}

/* ---------------------------------------------------------------- API */

static void test_names_and_codes(void **state)
{
    (void)state;
    assert_string_equal(trace_strerror(TRACE_EIO), "cannot read file");
    assert_string_equal(trace_strerror(TRACE_EGZIP), "corrupt or truncated gzip stream");
    assert_string_equal(trace_strerror(TRACE_EFORMAT), "malformed trace");
    assert_string_equal(trace_strerror(TRACE_ENOMEM), "out of memory");
    assert_string_equal(trace_strerror(TRACE_EARG), "bad argument");
    assert_string_equal(trace_strerror(-999), "unknown error");
    const trace_format all[] = {TRACE_FORMAT_AUTO, TRACE_FORMAT_KVSIM, TRACE_FORMAT_AZURE,
                                TRACE_FORMAT_MOONCAKE};
    for (size_t i = 0; i < 4; i++) {
        trace_format f = TRACE_FORMAT_KVSIM;
        assert_int_equal(trace_format_parse(trace_format_name(all[i]), &f), 0);
        assert_int_equal(f, all[i]);
    }
    assert_string_equal(trace_format_name(TRACE_FORMAT_MOONCAKE), "mooncake");
    trace_format f = TRACE_FORMAT_AZURE;
    assert_int_equal(trace_format_parse("Azure", &f), 0);
    assert_int_equal(f, TRACE_FORMAT_AZURE);
    assert_int_equal(trace_format_parse("csv", &f), TRACE_EARG);
    assert_int_equal(trace_format_parse("", &f), TRACE_EARG);
    assert_int_equal(trace_format_parse(NULL, &f), TRACE_EARG);
    assert_int_equal(f, TRACE_FORMAT_AZURE); /* untouched on failure */
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char path[PATH_BYTES], err[256];
    data_path(path, "kvsim_basic.csv");
    trace_reader *r = (trace_reader *)&r; /* must be reset to NULL */
    assert_int_equal(trace_open(&r, NULL, TRACE_FORMAT_AUTO, err, sizeof err), TRACE_EARG);
    assert_null(r);
    assert_int_equal(trace_open(NULL, path, TRACE_FORMAT_AUTO, err, sizeof err), TRACE_EARG);
    check_msg(err, path, 0, "bad argument");
    assert_int_equal(trace_open(&r, path, (trace_format)7, NULL, 0), TRACE_EARG);
    assert_null(r);
    trace_request q;
    assert_int_equal(trace_next(NULL, &q), TRACE_EARG);
    assert_string_equal(trace_errmsg(NULL), "");
    trace_close(NULL);
    /* A tiny error buffer is filled, truncated, never overrun. */
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    assert_int_equal(trace_open(&r, "/nonexistent/x.csv", TRACE_FORMAT_AUTO, tiny, 5), TRACE_EIO);
    assert_string_equal(tiny, "/non");
    assert_int_equal(tiny[5], 'z');
}

static void test_missing_file_and_directory(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    tmp_path(path, "does-not-exist.csv.gz");
    expect_error(path, TRACE_FORMAT_AUTO, TRACE_EIO, 0, strerror(ENOENT));
    expect_error(g_tmp_dir, TRACE_FORMAT_AUTO, TRACE_EIO, 0, strerror(EISDIR));
}

/* ---------------------------------------------------------- bad corpus */

typedef struct bad_case {
    const char *file;
    trace_format fmt;
    uint64_t line;
    const char *reason;
} bad_case;

/* Corpus files under tests/data/traces that must fail with TRACE_EFORMAT. */
static const bad_case bad_cases[] = {
    {"bad/empty.csv", TRACE_FORMAT_AUTO, 1, "empty file"},
    {"bad/empty.csv", TRACE_FORMAT_MOONCAKE, 1, "empty file"},
    {"bad/blank_only.csv", TRACE_FORMAT_AUTO, 1, "empty file (3 blank lines only)"},
    {"bad/header_only.csv", TRACE_FORMAT_AUTO, 1, "no requests after the header"},
    {"bad/header_only_blank_tail.csv", TRACE_FORMAT_AUTO, 1, "no requests after the header"},
    {"bad/unknown_header.csv", TRACE_FORMAT_AUTO, 1,
     "unrecognized trace header 'time,prompt,completion' (expected kvsim "
     "arrival_s,input_tokens,output_tokens; azure TIMESTAMP,ContextTokens,GeneratedTokens; "
     "burstgpt Timestamp,Model,Request tokens,Response tokens; vidur "
     "arrived_at,num_prefill_tokens,num_decode_tokens; lengths "
     "num_prefill_tokens,num_decode_tokens; or mooncake JSONL); use --format"},
    {"bad/long_unknown_header.csv", TRACE_FORMAT_AUTO, 1,
     "unrecognized trace header 'prefill_tokens_count,decode_tokens_count,num...' (expected"},
    {"bad/too_few_fields.csv", TRACE_FORMAT_AUTO, 3,
     "expected 3 fields, found 2 (missing field 'output_tokens')"},
    {"bad/too_many_fields.csv", TRACE_FORMAT_AUTO, 3, "expected 3 fields, found 4"},
    {"bad/non_numeric.csv", TRACE_FORMAT_AUTO, 2,
     "output_tokens: 'abc' is not a non-negative integer"},
    {"bad/negative_tokens.csv", TRACE_FORMAT_AUTO, 3,
     "input_tokens: '-10' is not a non-negative integer"},
    {"bad/overflow_tokens.csv", TRACE_FORMAT_AUTO, 2,
     "output_tokens: '4294967296' is out of range (max 4294967295)"},
    {"bad/overflow_tokens_long.csv", TRACE_FORMAT_AUTO, 2,
     "output_tokens: '99999999999999999999999' is out of range"},
    {"bad/empty_field.csv", TRACE_FORMAT_AUTO, 2, "input_tokens: empty field"},
    {"bad/nan_arrival.csv", TRACE_FORMAT_AUTO, 3, "arrival_s: 'nan' is not a finite number"},
    {"bad/inf_arrival.csv", TRACE_FORMAT_AUTO, 2, "arrival_s: '-inf' is not a finite number"},
    {"bad/huge_arrival.csv", TRACE_FORMAT_AUTO, 2, "arrival_s: '1e999' is out of range"},
    {"bad/negative_arrival.csv", TRACE_FORMAT_AUTO, 2, "arrival_s: '-0.5' is negative"},
    {"bad/bad_arrival.csv", TRACE_FORMAT_AUTO, 2, "arrival_s: '1.2.3' is not a number"},
    {"bad/zero_input.csv", TRACE_FORMAT_AUTO, 3, "input_tokens must be >= 1"},
    {"bad/blank_middle.csv", TRACE_FORMAT_AUTO, 3,
     "blank line in the middle of the trace (more data on line 4)"},
    {"bad/leading_blank.csv", TRACE_FORMAT_AUTO, 1,
     "blank line before the first line of data (line 2)"},
    {"bad/unterminated_quote.csv", TRACE_FORMAT_AUTO, 2, "unterminated quoted field (field 2)"},
    {"bad/after_quote.csv", TRACE_FORMAT_AUTO, 2,
     "unexpected 'x' after the closing quote of field 2"},
    {"bad/bad_hash_ids.csv", TRACE_FORMAT_AUTO, 3,
     "hash_ids: '1;;2' is not a list of non-negative integers separated by ';' or spaces"},
    {"bad/bad_hash_ids_text.csv", TRACE_FORMAT_AUTO, 2,
     "hash_ids: '1;x' is not a list of non-negative integers"},
    {"bad/hash_ids_overflow.csv", TRACE_FORMAT_AUTO, 2,
     "hash_ids: '18446744073709551616' is out of range"},
    {"bad/duplicate_column.csv", TRACE_FORMAT_AUTO, 1,
     "duplicate column 'input_tokens' in the header (columns 2 and 4)"},
    {"bad/azure_bad_hour.csv", TRACE_FORMAT_AUTO, 3,
     "TIMESTAMP: '2023-11-16 25:00:00' is not a valid timestamp"},
    {"bad/azure_feb29.csv", TRACE_FORMAT_AUTO, 2,
     "TIMESTAMP: '2023-02-29 00:00:00' is not a valid timestamp"},
    {"bad/azure_long_fraction.csv", TRACE_FORMAT_AUTO, 2,
     "TIMESTAMP: '2023-11-16 18:15:46.1234567890' is not a valid timestamp"},
    {"bad/azure_bad_zone.csv", TRACE_FORMAT_AUTO, 2,
     "TIMESTAMP: '2023-11-16 18:15:46+0x:00' is not a valid timestamp"},
    {"bad/azure_word.csv", TRACE_FORMAT_AUTO, 2, "TIMESTAMP: 'yesterday' is not a valid timestamp"},
    {"bad/azure_zero_context.csv", TRACE_FORMAT_AUTO, 2, "ContextTokens must be >= 1 (found 0)"},
    {"bad/azure_missing_field.csv", TRACE_FORMAT_AUTO, 2,
     "expected 3 fields, found 2 (missing field 'GeneratedTokens')"},
    {"bad/mooncake_unterminated.jsonl", TRACE_FORMAT_AUTO, 2, "invalid JSON at column"},
    {"bad/mooncake_not_object.jsonl", TRACE_FORMAT_AUTO, 2, "expected a JSON object, found array"},
    {"bad/mooncake_wrong_type.jsonl", TRACE_FORMAT_AUTO, 3,
     "input_length: expected a non-negative integer, found string"},
    {"bad/mooncake_missing_key.jsonl", TRACE_FORMAT_AUTO, 2, "missing key 'output_length'"},
    {"bad/mooncake_negative.jsonl", TRACE_FORMAT_AUTO, 1,
     "timestamp: -5 is not a non-negative integer"},
    {"bad/mooncake_bad_hash.jsonl", TRACE_FORMAT_AUTO, 1,
     "hash_ids[2]: expected a non-negative integer, found real"},
    {"bad/mooncake_hash_not_array.jsonl", TRACE_FORMAT_AUTO, 1,
     "hash_ids: expected an array of non-negative integers, found object"},
    {"bad/mooncake_overflow.jsonl", TRACE_FORMAT_AUTO, 1,
     "output_length: 4294967296 is out of range (max 4294967295)"},
    {"bad/mooncake_duplicate_key.jsonl", TRACE_FORMAT_AUTO, 1, "duplicate object key"},
    {"bad/mooncake_trailing_garbage.jsonl", TRACE_FORMAT_AUTO, 2, "invalid JSON at column"},
    {"bad/mooncake_blank_middle.jsonl", TRACE_FORMAT_AUTO, 2,
     "blank line in the middle of the trace (more data on line 3)"},
    {"bad/mooncake_zero_input.jsonl", TRACE_FORMAT_AUTO, 1, "input_length must be >= 1"},
    /* A forced format whose header lacks a column, or a CSV read as JSONL. */
    {"kvsim_basic.csv", TRACE_FORMAT_AZURE, 1,
     "missing column 'TIMESTAMP' in azure header 'arrival_s,input_tokens,output_tokens'"},
    {"azure_2023.csv", TRACE_FORMAT_KVSIM, 1,
     "missing column 'arrival_s' in kvsim header 'TIMESTAMP,ContextTokens,GeneratedTokens'"},
    {"kvsim_basic.csv", TRACE_FORMAT_MOONCAKE, 1, "invalid JSON at column"},
    {"mooncake_basic.jsonl", TRACE_FORMAT_KVSIM, 1,
     "missing column 'arrival_s' in kvsim header '{\"timestamp\": 0, \"input_length\": 6758, "
     "\"outp...' (this looks like mooncake JSONL)"},
    {"mooncake_basic.jsonl", TRACE_FORMAT_AZURE, 1,
     "missing column 'TIMESTAMP' in azure header '{\"timestamp\""},
};

static void test_bad_corpus(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        data_path(path, c->file);
        expect_error(path, c->fmt, TRACE_EFORMAT, c->line, c->reason);
    }
}

/* Errors after good rows still yield those rows first (streaming). */
static void test_error_after_good_rows(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    data_path(path, "bad/negative_tokens.csv");
    assert_int_equal(expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 3, "input_tokens"), 1);
    data_path(path, "bad/mooncake_wrong_type.jsonl");
    assert_int_equal(expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 3, "input_length"), 2);
}

/* ------------------------------------------------------- good formats */

static void test_kvsim_basic(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    data_path(path, "kvsim_basic.csv");
    trace_request q[8];
    trace_counts c;
    trace_format f;
    assert_int_equal(read_some(path, TRACE_FORMAT_AUTO, q, 8, &c, &f), 3);
    assert_int_equal(f, TRACE_FORMAT_KVSIM);
    check_req(&q[0], 2, 0.0, 100, 10);
    check_req(&q[1], 3, 0.5, 200, 20);
    check_req(&q[2], 4, 1.25, 300, 30);
    assert_int_equal(q[2].index, 2);
    assert_int_equal(q[0].num_hash_ids, 0);
    assert_int_equal(c.requests, 3);
    assert_int_equal(c.lines, 4);
    assert_int_equal(c.crlf_lines, 0);
    assert_int_equal(c.reordered, 0);
    assert_int_equal(c.zero_output, 0);
    assert_int_equal(c.trailing_blank, 0);
    assert_int_equal(c.missing_final_newline, 0);
}

static void test_kvsim_quirks(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    data_path(path, "kvsim_quirks.csv");
    trace_request q[8];
    trace_counts c;
    trace_format f;
    /* Header: mixed case, any order, an extra quoted column, spaces. */
    assert_int_equal(read_some(path, TRACE_FORMAT_AUTO, q, 8, &c, &f), 4);
    assert_int_equal(f, TRACE_FORMAT_KVSIM);
    check_req(&q[0], 2, 1.0, 10, 5);
    check_req(&q[1], 3, 2.5, 20, 1); /* quoted, padded fields; output 0 read as 1 */
    check_req(&q[2], 4, 2.5, 30, 7); /* 2.0 raised to the previous 2.5 */
    check_req(&q[3], 5, 3.0, 40, 8); /* tabs; a "" inside a quoted extra field; 3e0 */
    assert_int_equal(c.requests, 4);
    assert_int_equal(c.lines, 8);
    assert_int_equal(c.crlf_lines, 7);
    assert_int_equal(c.reordered, 1);
    assert_int_equal(c.zero_output, 1);
    assert_int_equal(c.trailing_blank, 3);
    assert_int_equal(c.missing_final_newline, 1);

    /* The same bytes gzipped read the same. */
    size_t len;
    unsigned char *raw = slurp(path, &len);
    char gz[PATH_BYTES];
    write_tmp_gz(gz, "quirks.csv.gz", raw, len);
    free(raw);
    trace_request g[8];
    trace_counts gc;
    assert_int_equal(read_some(gz, TRACE_FORMAT_KVSIM, g, 8, &gc, NULL), 4);
    for (size_t i = 0; i < 4; i++)
        check_req(&g[i], q[i].line, q[i].arrival_s, q[i].input_tokens, q[i].output_tokens);
    assert_memory_equal(&gc, &c, sizeof c);
}

static void test_kvsim_hash_ids(void **state)
{
    (void)state;
    char path[PATH_BYTES], err[256];
    data_path(path, "kvsim_hash_ids.csv");
    static const uint64_t want[][4] = {{0}, {0, 1}, {0, 2, 3}, {0}, {7, 8, 9, UINT64_MAX}};
    static const uint32_t want_n[] = {1, 2, 3, 0, 4};
    static const uint32_t want_in[] = {512, 1024, 1536, 10, 2000};
    trace_reader *r;
    assert_int_equal(trace_open(&r, path, TRACE_FORMAT_AUTO, err, sizeof err), 0);
    trace_request q;
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(trace_next(r, &q), 1);
        assert_int_equal(q.num_hash_ids, want_n[i]);
        assert_int_equal(q.input_tokens, want_in[i]);
        if (want_n[i] == 0)
            assert_null(q.hash_ids);
        else
            assert_memory_equal(q.hash_ids, want[i], want_n[i] * sizeof(uint64_t));
    }
    assert_int_equal(trace_next(r, &q), 0);
    trace_counts c;
    trace_get_counts(r, &c);
    assert_int_equal(c.missing_final_newline, 1);
    trace_close(r);
}

/* Arrivals of the corpus file NAME (azure), at most 16. */
static size_t azure_arrivals(const char *name, double *out, trace_counts *c)
{
    char path[PATH_BYTES];
    data_path(path, name);
    trace_request q[16];
    trace_format f;
    size_t n = read_some(path, TRACE_FORMAT_AUTO, q, 16, c, &f);
    assert_int_equal(f, TRACE_FORMAT_AZURE);
    for (size_t i = 0; i < n; i++)
        out[i] = q[i].arrival_s;
    return n;
}

static void test_azure_2023(void **state)
{
    (void)state;
    double a[16];
    trace_counts c;
    assert_int_equal(azure_arrivals("azure_2023.csv", a, &c), 4);
    assert_true(a[0] == 0.0);
    /* 18:15:46.6805900 -> 18:15:50.9955690 */
    assert_near(a[1], 4.3149790, 1e-12, "4.3149790 s apart");
    /* The 7th fractional digit survives: 100 ns later. */
    assert_near(a[2] - a[1], 1e-7, 1e-12, "one 7th-digit step");
    /* .9955689 is before .9955691: raised and counted. */
    assert_true(a[3] == a[2]);
    assert_int_equal(c.reordered, 1);
    assert_int_equal(c.zero_output, 1);
    assert_int_equal(c.crlf_lines, 4);
    assert_int_equal(c.lines, 5);
    assert_int_equal(c.missing_final_newline, 1);
}

static void test_azure_2024_zones(void **state)
{
    (void)state;
    double a[16];
    trace_counts c;
    assert_int_equal(azure_arrivals("azure_2024.csv", a, &c), 6);
    assert_true(a[0] == 0.0);
    assert_near(a[1], 0.990070, 1e-12, "row without a fraction");
    assert_near(a[2], 2.490070, 1e-12, "+02:00 offset applied");
    assert_near(a[3], 2.990070, 1e-12, "-01:00 offset across midnight");
    assert_near(a[4], 3.990070001, 1e-12, "9 fractional digits, Z");
    assert_near(a[5], 5.240070, 1e-12, "no zone means UTC");
    assert_int_equal(c.reordered, 0);
    assert_int_equal(c.crlf_lines, 0);
}

static void test_azure_calendar(void **state)
{
    (void)state;
    double a[16];
    trace_counts c;
    assert_int_equal(azure_arrivals("azure_calendar.csv", a, &c), 9);
    assert_near(a[1], 0.75, 1e-12, "across midnight and the end of January");
    assert_near(a[2], 28 * 86400.0 - 0.25, 1e-9, "to the end of February");
    assert_near(a[3] - a[2], 0.75, 1e-9, "across the end of February 2023 (not leap)");
    assert_near(a[4], 334 * 86400.0 - 0.5, 1e-9, "to the end of 2023");
    assert_near(a[5] - a[4], 2.0, 1e-9, "across the new year");
    assert_near(a[7] - a[6], 86400.0, 1e-9, "February 29, 2024 exists");
    assert_near(a[8] - a[7], 86400.0, 1e-9, "March 1 after February 29");
    assert_int_equal(c.reordered, 0);
}

static void test_azure_epoch_and_leap_centuries(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    static const char text_ok[] = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                  "1969-12-31 23:59:59,1,1\n"
                                  "1970-01-01 00:00:00,1,1\n"
                                  "2000-02-29 00:00:00,1,1\n";
    write_tmp(path, "epoch.csv", text_ok, sizeof text_ok - 1);
    trace_request q[4];
    assert_int_equal(read_some(path, TRACE_FORMAT_AUTO, q, 4, NULL, NULL), 3);
    assert_near(q[1].arrival_s, 1.0, 1e-12, "across the Unix epoch");
    /* 1970-01-01 to 2000-02-29 is 11016 days (2000 is a leap year). */
    assert_near(q[2].arrival_s, 1.0 + 11016 * 86400.0, 1e-6, "to 2000-02-29");
    static const char text_bad[] = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                   "1900-02-29 00:00:00,1,1\n";
    write_tmp(path, "1900.csv", text_bad, sizeof text_bad - 1);
    expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 2,
                 "'1900-02-29 00:00:00' is not a valid timestamp");
}

static void test_mooncake_basic(void **state)
{
    (void)state;
    char path[PATH_BYTES], err[256];
    data_path(path, "mooncake_basic.jsonl");
    trace_reader *r;
    assert_int_equal(trace_open(&r, path, TRACE_FORMAT_AUTO, err, sizeof err), 0);
    assert_int_equal(trace_get_format(r), TRACE_FORMAT_MOONCAKE);
    trace_request q;
    assert_int_equal(trace_next(r, &q), 1);
    check_req(&q, 1, 0.0, 6758, 500);
    assert_int_equal(q.num_hash_ids, 14);
    for (uint32_t i = 0; i < 14; i++)
        assert_int_equal(q.hash_ids[i], i);
    assert_int_equal(trace_next(r, &q), 1); /* keys reordered, an extra nested key */
    check_req(&q, 2, 1.5, 600, 3);
    assert_int_equal(q.num_hash_ids, 2);
    assert_int_equal(q.hash_ids[0], 0);
    assert_int_equal(q.hash_ids[1], 14);
    assert_int_equal(trace_next(r, &q), 1); /* empty ids, output 0 */
    check_req(&q, 3, 3.0, 1, 1);
    assert_int_equal(q.num_hash_ids, 0);
    assert_int_equal(trace_next(r, &q), 1); /* no ids, 2999 ms < 3000 ms */
    check_req(&q, 4, 3.0, 7, 9);
    assert_int_equal(q.num_hash_ids, 0);
    assert_null(q.hash_ids);
    assert_int_equal(trace_next(r, &q), 0);
    trace_counts c;
    trace_get_counts(r, &c);
    assert_int_equal(c.requests, 4);
    assert_int_equal(c.lines, 4);
    assert_int_equal(c.reordered, 1);
    assert_int_equal(c.zero_output, 1);
    trace_close(r);
}

static void test_autodetect(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        trace_format want;
    } cases[] = {
        {"kvsim_basic.csv", TRACE_FORMAT_KVSIM},         {"kvsim_quirks.csv", TRACE_FORMAT_KVSIM},
        {"kvsim_hash_ids.csv", TRACE_FORMAT_KVSIM},      {"azure_2023.csv", TRACE_FORMAT_AZURE},
        {"azure_2024.csv", TRACE_FORMAT_AZURE},          {"azure_calendar.csv", TRACE_FORMAT_AZURE},
        {"mooncake_basic.jsonl", TRACE_FORMAT_MOONCAKE},
    };
    char path[PATH_BYTES];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        data_path(path, cases[i].file);
        summary s = read_all(path, TRACE_FORMAT_AUTO, 0);
        if (s.fmt != cases[i].want)
            fail_msg("%s detected as %s, want %s", cases[i].file, trace_format_name(s.fmt),
                     trace_format_name(cases[i].want));
        /* Forcing the right format reads the same. */
        summary t = read_all(path, cases[i].want, 0);
        assert_int_equal(t.n, s.n);
        assert_true(t.sum_in == s.sum_in && t.last_arrival_s == s.last_arrival_s);
    }
    /* A BOM and leading spaces before '{' still mean JSONL; a BOM before a header is fine. */
    static const char bom_json[] = "\xEF\xBB\xBF  {\"timestamp\": 5, \"input_length\": 2, "
                                   "\"output_length\": 3}\n";
    write_tmp(path, "bom.jsonl", bom_json, sizeof bom_json - 1);
    summary s = read_all(path, TRACE_FORMAT_AUTO, 0);
    assert_int_equal(s.fmt, TRACE_FORMAT_MOONCAKE);
    assert_near(s.first_arrival_s, 0.005, 1e-15, "5 ms");
    static const char bom_csv[] = "\xEF\xBB\xBFtimestamp,contexttokens,generatedtokens\n"
                                  "2023-11-16 18:15:46,1,2\n";
    write_tmp(path, "bom.csv", bom_csv, sizeof bom_csv - 1);
    assert_int_equal(read_all(path, TRACE_FORMAT_AUTO, 0).fmt, TRACE_FORMAT_AZURE);
    /* A header with both sets of columns is kvsim, the first tried. */
    static const char both[] = "TIMESTAMP,ContextTokens,GeneratedTokens,arrival_s,input_tokens,"
                               "output_tokens\n2023-11-16 18:15:46,1,2,0.5,3,4\n";
    write_tmp(path, "both.csv", both, sizeof both - 1);
    s = read_all(path, TRACE_FORMAT_AUTO, 0);
    assert_int_equal(s.fmt, TRACE_FORMAT_KVSIM);
    assert_true(s.sum_in == 3.0 && s.first_arrival_s == 0.5);
    s = read_all(path, TRACE_FORMAT_AZURE, 0);
    assert_int_equal(s.fmt, TRACE_FORMAT_AZURE);
    assert_true(s.sum_in == 1.0 && s.first_arrival_s == 0.0);
}

static void test_number_forms(void **state)
{
    (void)state;
    static const char text_ok[] =
        "arrival_s,input_tokens,output_tokens\n"
        "0,1,1\n"
        "-0,1,1\n"
        ".5,1,1\n"
        "1.,1,1\n"
        "1.5E1,1,1\n"
        "150e-1,1,1\n"
        "0000000000000000000000000000015.000000000000000000000000000000000,1,1\n"
        "15.000000000000000000001,1,1\n"
        "3501.7219370,4294967295,0004294967295\n";
    char path[PATH_BYTES];
    write_tmp(path, "numbers.csv", text_ok, sizeof text_ok - 1);
    trace_request q[16];
    assert_int_equal(read_some(path, TRACE_FORMAT_AUTO, q, 16, NULL, NULL), 9);
    assert_true(q[0].arrival_s == 0.0 && q[1].arrival_s == 0.0);
    assert_true(q[2].arrival_s == 0.5);
    assert_true(q[3].arrival_s == 1.0);
    assert_true(q[4].arrival_s == 15.0);
    assert_true(q[5].arrival_s == 15.0);
    assert_true(q[6].arrival_s == 15.0);
    assert_true(q[7].arrival_s == 15.000000000000000000001); /* slow path, strtod */
    assert_true(q[8].arrival_s == 3501.7219370);             /* exactly rounded */
    assert_int_equal(q[8].input_tokens, UINT32_MAX);
    assert_int_equal(q[8].output_tokens, UINT32_MAX);
    /* A huge first arrival is a clock's origin; only later ones are bounded. */
    static const char text_big[] = "arrival_s,input_tokens,output_tokens\n"
                                   "12345678901234567890123,1,1\n";
    write_tmp(path, "numbers.csv", text_big, sizeof text_big - 1);
    assert_int_equal(read_some(path, TRACE_FORMAT_AUTO, q, 16, NULL, NULL), 1);
    assert_true(q[0].arrival_s == 12345678901234567890123.0);

    static const struct {
        const char *row;
        const char *reason;
    } bad[] = {
        {"+1,1,1", "arrival_s: '+1' is not a number"},
        {"1e,1,1", "arrival_s: '1e' is not a number"},
        {"0x10,1,1", "arrival_s: '0x10' is not a number"},
        {".,1,1", "arrival_s: '.' is not a number"},
        {"1 2,1,1", "arrival_s: '1 2' is not a number"},
        {"Infinity,1,1", "arrival_s: 'Infinity' is not a finite number"},
        {"1,+1,1", "input_tokens: '+1' is not a non-negative integer"},
        {"1,1.0,1", "input_tokens: '1.0' is not a non-negative integer"},
        {"1,1,1e3", "output_tokens: '1e3' is not a non-negative integer"},
        {"1,1, ", "output_tokens: empty field"},
        {"1,1,\"\"", "output_tokens: empty field"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text_bad[256];
        int k = snprintf(text_bad, sizeof text_bad, "arrival_s,input_tokens,output_tokens\n%s\n",
                         bad[i].row);
        write_tmp(path, "number.csv", text_bad, (size_t)k);
        expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 2, bad[i].reason);
    }
}

/* ---------------------------------------------------- generated inputs */

static void test_nul_bytes(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    static const char row_nul[] = "arrival_s,input_tokens,output_tokens\n0.0,10,5\n1.0,1\0,5\n";
    write_tmp(path, "nul_row.csv", row_nul, sizeof row_nul - 1);
    assert_int_equal(expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 3, "NUL byte in line"),
                     1);
    /* NUL in an ignored column is still an error, never skipped. */
    static const char col_nul[] = "arrival_s,input_tokens,output_tokens,note\n0.0,10,5,a\0b\n";
    write_tmp(path, "nul_col.csv", col_nul, sizeof col_nul - 1);
    expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 2, "NUL byte in line");
    /* Binary garbage: NULs on line 1. */
    static const unsigned char garbage[] = {0x29, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0x61,
                                            0x00, 0xff, 0x10, 0x0a, 0x01, 0x02};
    write_tmp(path, "garbage.bin", garbage, sizeof garbage);
    expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 1, "NUL byte in line");
    /* Other compressors, named by their magic numbers (the formats' own
     * specifications: zstd RFC 8878 28 B5 2F FD, xz FD '7zXZ' 00, bzip2
     * 'BZh', zip local header 'PK' 03 04). A zstd frame whose first line
     * holds no NUL was an "unrecognized trace header '(?/?...'". */
    static const struct {
        const char *name;
        unsigned char bytes[8];
        const char *reason;
    } packed[] = {
        {"t.csv.zst", {0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x41, 0x0a, 0x31}, "compressed with zstd"},
        {"t.csv.xz", {0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04}, "compressed with xz"},
        {"t.csv.bz2", {'B', 'Z', 'h', '9', '1', 'A', 'Y', '&'}, "compressed with bzip2"},
        {"t.zip", {'P', 'K', 0x03, 0x04, 0x14, 0x0a, 0x41, 0x42}, "compressed with zip"},
    };
    for (size_t i = 0; i < sizeof packed / sizeof packed[0]; i++) {
        write_tmp(path, packed[i].name, packed[i].bytes, sizeof packed[i].bytes);
        expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 1, packed[i].reason);
    }
    /* Garbage without NULs is an unrecognized header, shown printable. */
    static const unsigned char noise[] = {0x80, 0xfe, 0x07, 0x41, 0x2c, 0x1b, 0x0d, 0x0a, 0x42};
    write_tmp(path, "noise.bin", noise, sizeof noise);
    expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 1, "unrecognized trace header '???A,?'");
}

static void test_long_lines(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    const size_t max = 1024 * 1024;
    text t = {0};
    /* A 600 KB row (padding spaces trimmed) grows the 256 KiB buffer. */
    text_add(&t, "arrival_s,input_tokens,output_tokens\n0.0,");
    text_fill(&t, ' ', 600000);
    text_add(&t, "10,5\n1.0,20,6\n");
    write_tmp(path, "long_ok.csv", t.p, t.n);
    summary s = read_all(path, TRACE_FORMAT_AUTO, 0);
    assert_int_equal(s.n, 2);
    assert_true(s.sum_in == 30.0);

    /* Exactly the cap is accepted, one byte more is "line too long". */
    for (int over = 0; over <= 1; over++) {
        for (int final_newline = 0; final_newline <= 1; final_newline++) {
            t.n = 0;
            text_add(&t, "arrival_s,input_tokens,output_tokens\n0.0,1,1\n1.0,2,");
            text_fill(&t, ' ', max - strlen("1.0,2,") - 1 + (size_t)over);
            text_add(&t, final_newline ? "3\n" : "3");
            write_tmp(path, "long_edge.csv", t.p, t.n);
            if (over) {
                assert_int_equal(expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 3,
                                              "line too long (more than 1048576 bytes)"),
                                 1);
            } else {
                s = read_all(path, TRACE_FORMAT_AUTO, 0);
                assert_int_equal(s.n, 2);
                assert_int_equal(s.counts.missing_final_newline, !final_newline);
            }
        }
    }

    /* A 3 MiB line, through gzip. */
    t.n = 0;
    text_add(&t, "arrival_s,input_tokens,output_tokens\n0.0,1,1\n0.5,2,2\n");
    text_fill(&t, 'x', 3 * max);
    text_add(&t, "\n1.0,3,3\n");
    write_tmp_gz(path, "long_bad.csv.gz", t.p, t.n);
    assert_int_equal(expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 4, "line too long"), 2);

    /* A mooncake row with 100,000 hash ids (about 700 KB). */
    t.n = 0;
    text_add(&t, "{\"timestamp\": 1, \"input_length\": 51200000, \"output_length\": 1, "
                 "\"hash_ids\": [");
    for (uint32_t i = 0; i < 100000; i++)
        text_add(&t, i == 0 ? "%u" : ", %u", 7 * i);
    text_add(&t, "]}\n{\"timestamp\": 2, \"input_length\": 1, \"output_length\": 1, "
                 "\"hash_ids\": [9]}\n");
    write_tmp(path, "long.jsonl", t.p, t.n);
    char err[256];
    trace_reader *r;
    assert_int_equal(trace_open(&r, path, TRACE_FORMAT_AUTO, err, sizeof err), 0);
    trace_request q;
    assert_int_equal(trace_next(r, &q), 1);
    assert_int_equal(q.num_hash_ids, 100000);
    for (uint32_t i = 0; i < 100000; i++) {
        if (q.hash_ids[i] != 7ull * i)
            fail_msg("hash_ids[%u] = %llu", i, (unsigned long long)q.hash_ids[i]);
    }
    assert_int_equal(trace_next(r, &q), 1);
    assert_int_equal(q.num_hash_ids, 1);
    assert_int_equal(q.hash_ids[0], 9);
    assert_int_equal(trace_next(r, &q), 0);
    trace_close(r);
    free(t.p);
}

/* Gzips TEXT and returns the compressed bytes (caller frees). */
static unsigned char *gzip_bytes(const char *name, const char *data, size_t len, size_t *out_len)
{
    char path[PATH_BYTES];
    write_tmp_gz(path, name, data, len);
    return slurp(path, out_len);
}

static const char g_small_csv[] = "arrival_s,input_tokens,output_tokens\n"
                                  "0.0,10,5\n"
                                  "1.0,20,6\n";

static void test_gzip_corruption(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    size_t n;
    unsigned char *gz = gzip_bytes("small.csv.gz", g_small_csv, sizeof g_small_csv - 1, &n);
    assert_true(n > 18);
    tmp_path(path, "small.csv.gz");
    assert_int_equal(read_all(path, TRACE_FORMAT_AUTO, 0).n, 2);

    /* Only the 8-byte trailer is cut: every row comes out, then the error. */
    write_tmp(path, "no_trailer.csv.gz", gz, n - 8);
    assert_int_equal(expect_error(path, TRACE_FORMAT_AUTO, TRACE_EGZIP, 4,
                                  "truncated gzip stream (unexpected end of file)"),
                     2);
    /* Cut inside the header. */
    write_tmp(path, "cut_header.csv.gz", gz, 10);
    expect_error(path, TRACE_FORMAT_AUTO, TRACE_EGZIP, 1,
                 "truncated gzip stream (unexpected end of file)");

    /* Bad CRC-32 and bad length in the trailer: zlib's own words, at the
     * line the reader had reached when the trailer was checked. */
    unsigned char *bad = malloc(n);
    assert_non_null(bad);
    memcpy(bad, gz, n);
    bad[n - 8] ^= 0x55;
    write_tmp(path, "bad_crc.csv.gz", bad, n);
    assert_int_equal(expect_error(path, TRACE_FORMAT_AUTO, TRACE_EGZIP, 4,
                                  "corrupt gzip stream (incorrect data check)"),
                     2);
    memcpy(bad, gz, n);
    bad[n - 1] ^= 0x01;
    write_tmp(path, "bad_len.csv.gz", bad, n);
    expect_error(path, TRACE_FORMAT_AUTO, TRACE_EGZIP, 4,
                 "corrupt gzip stream (incorrect length check)");
    /* The first deflate block claims the reserved block type 3. */
    memcpy(bad, gz, n);
    bad[10] = 0xff;
    write_tmp(path, "bad_block.csv.gz", bad, n);
    expect_error(path, TRACE_FORMAT_AUTO, TRACE_EGZIP, 1,
                 "corrupt gzip stream (invalid block type)");
    free(bad);

    /* Two gzip members back to back are one stream. */
    size_t n2;
    static const char more[] = "2.0,30,7\n";
    unsigned char *gz2 = gzip_bytes("more.gz", more, sizeof more - 1, &n2);
    unsigned char *both = malloc(n + n2);
    assert_non_null(both);
    memcpy(both, gz, n);
    memcpy(both + n, gz2, n2);
    write_tmp(path, "members.csv.gz", both, n + n2);
    summary s = read_all(path, TRACE_FORMAT_AUTO, 0);
    assert_int_equal(s.n, 3);
    assert_true(s.sum_in == 60.0);
    assert_int_equal(s.counts.trailing_garbage, 0);
    /* A corrupt second member: the rows of the first are read, and the
     * error names the line where the second starts, not line 1. */
    both[n + 10] = 0xff;
    write_tmp(path, "bad_member2.csv.gz", both, n + n2);
    assert_int_equal(expect_error(path, TRACE_FORMAT_AUTO, TRACE_EGZIP, 4,
                                  "corrupt gzip stream (invalid block type)"),
                     2);
    /* Bytes after the last member that are not gzip are ignored, as gzip
     * does, and counted; a lone 0x1f is a cut member header (gzip:
     * "unexpected end of file"). */
    memcpy(both, gz, n);
    memcpy(both + n, "garbage!", 8);
    write_tmp(path, "garbage.csv.gz", both, n + 8);
    s = read_all(path, TRACE_FORMAT_AUTO, 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.counts.trailing_garbage, 8);
    both[n] = 0x1f;
    write_tmp(path, "lone_1f.csv.gz", both, n + 1);
    assert_int_equal(expect_error(path, TRACE_FORMAT_AUTO, TRACE_EGZIP, 4,
                                  "truncated gzip stream (one byte of a member header"),
                     2);
    free(both);
    free(gz2);
    free(gz);

    /* An empty gzip stream is an empty file. */
    write_tmp_gz(path, "empty.csv.gz", "", 0);
    expect_error(path, TRACE_FORMAT_AUTO, TRACE_EFORMAT, 1, "empty file");
}

/* Generates a kvsim CSV of N rows with CRLF endings; caller frees T. */
static void gen_kvsim(text *t, uint32_t n)
{
    t->n = 0;
    text_add(t, "arrival_s,input_tokens,output_tokens\r\n");
    for (uint32_t i = 0; i < n; i++)
        text_add(t, "%u.%03u,%u,%u\r\n", i / 1000, i % 1000, 1 + i % 4000, i % 700);
}

static void test_large_stream_and_truncation(void **state)
{
    (void)state;
    const uint32_t rows = 200000;
    char path[PATH_BYTES];
    text t = {0};
    gen_kvsim(&t, rows);
    write_tmp_gz(path, "large.csv.gz", t.p, t.n);
    summary s = read_all(path, TRACE_FORMAT_AUTO, 0);
    assert_int_equal(s.n, rows);
    assert_int_equal(s.counts.crlf_lines, rows + 1);
    assert_int_equal(s.counts.zero_output, (rows + 699) / 700);
    assert_near(s.last_arrival_s, (rows - 1) / 1000.0, 1e-12, "last arrival");
    double want_in = 0;
    for (uint32_t i = 0; i < rows; i++)
        want_in += 1 + i % 4000;
    assert_true(s.sum_in == want_in);

    /* Cut the compressed stream in half: rows before the cut, then an error for the cut line. */
    size_t n;
    unsigned char *gz = slurp(path, &n);
    write_tmp(path, "large_cut.csv.gz", gz, n / 2);
    free(gz);
    trace_reader *r;
    char err[256];
    assert_int_equal(trace_open(&r, path, TRACE_FORMAT_AUTO, err, sizeof err), 0);
    trace_request q;
    uint64_t got = 0;
    int rc;
    while ((rc = trace_next(r, &q)) == 1)
        got++;
    trace_close(r);
    assert_int_equal(rc, TRACE_EGZIP);
    assert_true(got > 1000 && got < rows);
    /* Header and GOT rows were whole; the cut line, never yielded, is the next. */
    assert_int_equal(expect_error(path, TRACE_FORMAT_AUTO, TRACE_EGZIP, got + 2,
                                  "truncated gzip stream (unexpected end of file)"),
                     got);
    free(t.p);
}

static void test_crlf_across_chunks(void **state)
{
    (void)state;
    /* Lay out a plain file so that a "\r\n" straddles the first 256 KiB read. */
    const size_t chunk = 256 * 1024;
    char path[PATH_BYTES];
    text t = {0};
    text_add(&t, "arrival_s,input_tokens,output_tokens\r\n");
    uint32_t rows = 0;
    while (t.n < chunk - 200) {
        text_add(&t, "%u,1,1\r\n", rows);
        rows++;
    }
    text_add(&t, "%u,2,", rows++);
    text_fill(&t, ' ', chunk - 1 - t.n - 1); /* the "3" lands at chunk-2, '\r' at chunk-1 */
    text_add(&t, "3\r\n%u,4,4\r\n", rows++);
    assert_int_equal(t.p[chunk - 1], '\r');
    write_tmp(path, "crlf_edge.csv", t.p, t.n);
    summary s = read_all(path, TRACE_FORMAT_AUTO, 0);
    assert_int_equal(s.n, rows);
    assert_int_equal(s.counts.crlf_lines, rows + 1);
    assert_true(s.sum_out == (double)(rows - 2) + 3.0 + 4.0);
    free(t.p);
}

static void test_stdin(void **state)
{
    (void)state;
    char path[PATH_BYTES], err[256];
    data_path(path, "azure_2023.csv");
    int saved = dup(STDIN_FILENO);
    int fd = open(path, O_RDONLY);
    assert_true(saved >= 0 && fd >= 0);
    assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    trace_reader *r;
    assert_int_equal(trace_open(&r, "-", TRACE_FORMAT_AUTO, err, sizeof err), 0);
    assert_int_equal(trace_get_format(r), TRACE_FORMAT_AZURE);
    trace_request q;
    int n = 0;
    while (trace_next(r, &q) == 1)
        n++;
    assert_int_equal(n, 4);
    trace_close(r);
    /* Closing the reader left the process's stdin open. */
    assert_true(fcntl(STDIN_FILENO, F_GETFD) != -1);

    /* Errors on stdin name it. */
    static const char bad[] = "arrival_s,input_tokens,output_tokens\n0,x,1\n";
    write_tmp(path, "stdin_bad.csv", bad, sizeof bad - 1);
    fd = open(path, O_RDONLY);
    assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    assert_int_equal(trace_open(&r, "-", TRACE_FORMAT_AUTO, err, sizeof err), TRACE_EFORMAT);
    check_msg(err, "<stdin>", 2, "input_tokens: 'x' is not a non-negative integer");
    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
}

/* ------------------------------------------------------------- fuzzing */

/* A small deterministic generator (xorshift64*), so failures reproduce. */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t bound)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1Dull) >> 33) % bound;
}

/*
 * Opens and drains PATH, checking that it either reads to the end with
 * every guarantee of trace.h or stops with a negative code and a one-line
 * message naming the file.
 */
static void fuzz_one(const char *path, trace_format fmt, size_t len)
{
    char err[512];
    trace_reader *r = NULL;
    int rc = trace_open(&r, path, fmt, err, sizeof err);
    const char *msg = err;
    if (rc == 0) {
        trace_request q;
        uint64_t n = 0;
        double prev = 0.0;
        while ((rc = trace_next(r, &q)) == 1) {
            if (q.input_tokens < 1 || q.output_tokens < 1 || !isfinite(q.arrival_s) ||
                q.arrival_s < 0 || (n > 0 && q.arrival_s < prev) || q.index != n ||
                (q.num_hash_ids > 0 && q.hash_ids == NULL))
                fail_msg("%s: broken request %llu", path, (unsigned long long)n);
            for (uint32_t i = 0; i < q.num_hash_ids; i++)
                g_rng += q.hash_ids[i]; /* touch every id (ASan checks the reads) */
            prev = q.arrival_s;
            if (++n > len + 1)
                fail_msg("%s: more requests than bytes", path);
        }
        msg = trace_errmsg(r);
    }
    if (rc < 0) {
        if (rc != TRACE_EFORMAT && rc != TRACE_EGZIP)
            fail_msg("%s: unexpected code %d: %s", path, rc, msg);
        if (strncmp(msg, path, strlen(path)) != 0 || msg[strlen(path)] != ':' ||
            strchr(msg, '\n') != NULL)
            fail_msg("%s: bad message '%s'", path, msg);
    }
    trace_close(r);
}

static void test_fuzz_mutations(void **state)
{
    (void)state;
    static const char *const seeds[] = {"kvsim_quirks.csv", "kvsim_hash_ids.csv", "azure_2023.csv",
                                        "azure_2024.csv", "mooncake_basic.jsonl"};
    static const char alphabet[] = "0123456789.,;-+eE\"\r\n \t{}[]:x\0\xff";
    char path[PATH_BYTES], out[PATH_BYTES];
    tmp_path(out, "fuzz.bin");
    unsigned char *buf = malloc(4096);
    assert_non_null(buf);
    for (size_t si = 0; si < sizeof seeds / sizeof seeds[0]; si++) {
        data_path(path, seeds[si]);
        size_t seed_len;
        unsigned char *seed = slurp(path, &seed_len);
        assert_true(seed_len < 1024);
        for (int iter = 0; iter < 600; iter++) {
            size_t n = seed_len;
            memcpy(buf, seed, n);
            int edits = 1 + (int)rnd(4);
            for (int e = 0; e < edits; e++) {
                uint32_t pos = rnd((uint32_t)n + 1);
                unsigned char c = (unsigned char)alphabet[rnd(sizeof alphabet - 1)];
                switch (rnd(4)) {
                case 0: /* overwrite */
                    if (pos < n)
                        buf[pos] = c;
                    break;
                case 1: /* insert */
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = c;
                    n++;
                    break;
                case 2: /* delete */
                    if (pos < n) {
                        memmove(buf + pos, buf + pos + 1, n - pos - 1);
                        n--;
                    }
                    break;
                default: /* truncate */
                    n = pos;
                    break;
                }
            }
            FILE *f = fopen(out, "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(buf, 1, n, f), n);
            fclose(f);
            trace_format fmt = iter % 5 == 4 ? (trace_format)(1 + rnd(3)) : TRACE_FORMAT_AUTO;
            fuzz_one(out, fmt, n);
        }
        /* The gzip layer: flip bytes of the compressed seed. */
        size_t gz_len;
        unsigned char *gz = gzip_bytes("fuzz_seed.gz", (const char *)seed, seed_len, &gz_len);
        for (int iter = 0; iter < 200; iter++) {
            memcpy(buf, gz, gz_len);
            buf[rnd((uint32_t)gz_len)] ^= (unsigned char)(1u << rnd(8));
            size_t n = iter % 3 == 0 ? rnd((uint32_t)gz_len + 1) : gz_len;
            FILE *f = fopen(out, "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(buf, 1, n, f), n);
            fclose(f);
            fuzz_one(out, TRACE_FORMAT_AUTO, (size_t)1 << 20);
        }
        free(gz);
        free(seed);
    }
    free(buf);
}

/* ---------------------------------------------------------- real traces */

/*
 * Writes the path of $KVSIM_SHARED_DIR/traces/NAME into OUT and returns 1,
 * or prints why and returns 0 when it is not available.
 */
static int shared_trace(char *out, const char *name)
{
    const char *dir = getenv("KVSIM_SHARED_DIR");
    if (dir == NULL || dir[0] == '\0') {
        print_message("skipped: KVSIM_SHARED_DIR is not set (real traces for %s)\n", name);
        return 0;
    }
    snprintf(out, PATH_BYTES, "%s/traces/%s", dir, name);
    if (access(out, R_OK) != 0) {
        print_message("skipped: %s is not readable: %s\n", out, strerror(errno));
        return 0;
    }
    return 1;
}

static void test_real_azure_conv(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    if (!shared_trace(path, "AzureLLMInferenceTrace_conv.csv.gz")) {
        skip();
        return;
    }
    summary s = read_all(path, TRACE_FORMAT_AUTO, 0);
    assert_int_equal(s.fmt, TRACE_FORMAT_AZURE);
    assert_int_equal(s.n, 19366);
    assert_near(s.sum_in / (double)s.n, 1154.6974, 0.5, "conv input mean");
    assert_near(s.sum_out / (double)s.n, 211.1259, 0.5, "conv output mean");
    assert_true(s.first_arrival_s == 0.0);
    /* 18:15:46.6805900 -> 18:15:50.9951690 */
    assert_near(s.second_arrival_s, 4.3145790, 1e-9, "first gap");
    /* 18:15:46.6805900 -> 19:14:08.4025270: about an hour. */
    assert_near(s.last_arrival_s, 3501.7219370, 1e-9, "last arrival");
    assert_int_equal(s.counts.lines, 19367);
    assert_int_equal(s.counts.crlf_lines, 19366);
    assert_int_equal(s.counts.missing_final_newline, 1);
    assert_int_equal(s.counts.reordered, 0);
    assert_int_equal(s.counts.zero_output, 0);
    assert_int_equal(s.counts.trailing_blank, 0);
}

static void test_real_azure_code(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    if (!shared_trace(path, "AzureLLMInferenceTrace_code.csv.gz")) {
        skip();
        return;
    }
    summary s = read_all(path, TRACE_FORMAT_AUTO, 0);
    assert_int_equal(s.fmt, TRACE_FORMAT_AZURE);
    assert_int_equal(s.n, 8819);
    assert_near(s.sum_in / (double)s.n, 2047.8483, 0.5, "code input mean");
    assert_near(s.sum_out / (double)s.n, 27.8825, 0.5, "code output mean");
    /* 18:17:03.9799600 -> 19:14:19.9280160 */
    assert_near(s.last_arrival_s, 3435.9480560, 1e-9, "last arrival");
    assert_int_equal(s.counts.reordered, 0);
    assert_int_equal(s.counts.zero_output, 0);
}

static void test_real_mooncake_conversation(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    if (!shared_trace(path, "conversation_trace.jsonl.gz")) {
        skip();
        return;
    }
    summary s = read_all(path, TRACE_FORMAT_AUTO, 1);
    assert_int_equal(s.fmt, TRACE_FORMAT_MOONCAKE);
    assert_int_equal(s.n, 12031);
    assert_near(s.sum_in / (double)s.n, 12035.0613, 0.5, "conversation input mean");
    assert_near(s.sum_out / (double)s.n, 342.6189, 0.5, "conversation output mean");
    assert_int_equal(s.hash_len_mismatch, 0); /* len(hash_ids) == ceil(input / 512) */
    assert_int_equal(s.hash_total, 288500);
    assert_int_equal(s.hash_repeats, 105710); /* 36.6 % repeat an earlier id */
    assert_near(s.last_arrival_s, 3536.999, 1e-9, "last arrival");
    assert_int_equal(s.counts.reordered, 0);
}

static void test_real_sharegpt_lengths(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    if (!shared_trace(path, "sharegpt_8k_filtered_stats_llama2_tokenizer.csv.gz")) {
        skip();
        return;
    }
    /* Lengths only, no arrivals: a length table, every arrival 0. */
    summary s = read_all(path, TRACE_FORMAT_AUTO, 0);
    assert_int_equal(s.fmt, TRACE_FORMAT_LENGTHS);
    assert_int_equal(s.n, 30731);
    assert_near(s.sum_in / (double)s.n, 2340.0335, 0.001, "sharegpt input mean");
    assert_near(s.sum_out / (double)s.n, 438.7097, 0.001, "sharegpt output mean");
    assert_true(s.last_arrival_s == 0.0);
    assert_int_equal(s.counts.zero_output, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_codes),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_missing_file_and_directory),
        cmocka_unit_test(test_bad_corpus),
        cmocka_unit_test(test_error_after_good_rows),
        cmocka_unit_test(test_kvsim_basic),
        cmocka_unit_test(test_kvsim_quirks),
        cmocka_unit_test(test_kvsim_hash_ids),
        cmocka_unit_test(test_azure_2023),
        cmocka_unit_test(test_azure_2024_zones),
        cmocka_unit_test(test_azure_calendar),
        cmocka_unit_test(test_azure_epoch_and_leap_centuries),
        cmocka_unit_test(test_mooncake_basic),
        cmocka_unit_test(test_autodetect),
        cmocka_unit_test(test_number_forms),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_gzip_corruption),
        cmocka_unit_test(test_large_stream_and_truncation),
        cmocka_unit_test(test_crlf_across_chunks),
        cmocka_unit_test(test_stdin),
        cmocka_unit_test(test_fuzz_mutations),
        cmocka_unit_test(test_real_azure_conv),
        cmocka_unit_test(test_real_azure_code),
        cmocka_unit_test(test_real_mooncake_conversation),
        cmocka_unit_test(test_real_sharegpt_lengths),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
