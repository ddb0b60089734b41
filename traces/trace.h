/*
 * trace.h: streamed reading of request traces (gzip or plain) through zlib.
 *
 * A reader yields one request at a time, so memory is bounded by one line,
 * not by the trace length. Formats are auto-detected from the header line
 * (or the first line, for JSONL) unless one is forced.
 *
 * Formats:
 *   kvsim    CSV with header `arrival_s,input_tokens,output_tokens`, more
 *            columns allowed (any order; header names case-insensitive).
 *   azure    Azure LLM inference CSV `TIMESTAMP,ContextTokens,GeneratedTokens`
 *            (2023: `2023-11-16 18:15:46.6805900`; 2024: with `+00:00` zone,
 *            fraction optional). Arrivals are seconds since the first row.
 *   mooncake JSONL `{"timestamp": ms, "input_length", "output_length",
 *            "hash_ids": [...]}`. Arrivals are timestamp / 1000.
 *
 * Failure contract: host failures (missing file, corrupt gzip, malformed
 * row) return a negative TRACE_E* code, and trace_errmsg() gives one line
 * "FILE:LINE: reason". Real-world quirks that a user expects to work (CRLF,
 * no final newline, trailing blank lines, an arrival earlier than the one
 * before it, zero output tokens) are accepted and counted in trace_counts.
 */
#ifndef KVSIM_TRACES_TRACE_H
#define KVSIM_TRACES_TRACE_H

#include <stddef.h>
#include <stdint.h>

/* Error codes, negative, from one table (libuv style). */
#define TRACE_ERRNO_MAP(X)                                                                         \
    X(EIO, -1, "cannot read file")                                                                 \
    X(EGZIP, -2, "corrupt or truncated gzip stream")                                               \
    X(EFORMAT, -3, "malformed trace")                                                              \
    X(ENOMEM, -4, "out of memory")                                                                 \
    X(EARG, -5, "bad argument")

enum {
#define TRACE_ERR_ENUM(name, code, msg) TRACE_##name = (code),
    TRACE_ERRNO_MAP(TRACE_ERR_ENUM)
#undef TRACE_ERR_ENUM
};

/* Returns a static description of a TRACE_E* code. */
const char *trace_strerror(int code);

typedef enum trace_format {
    TRACE_FORMAT_AUTO = 0,
    TRACE_FORMAT_KVSIM,
    TRACE_FORMAT_AZURE,
    TRACE_FORMAT_MOONCAKE,
} trace_format;

/* Name of a format ("auto", "kvsim", "azure", "mooncake"). */
const char *trace_format_name(trace_format fmt);

/* Parses a format name; returns 0, or TRACE_EARG if unknown. */
int trace_format_parse(const char *name, trace_format *out);

/* One request as read from a trace. */
typedef struct trace_request {
    uint64_t index;           /* 0-based position among the requests yielded */
    uint64_t line;            /* 1-based line in the source file */
    double arrival_s;         /* >= the previous request's arrival_s */
    uint32_t input_tokens;    /* >= 1 */
    uint32_t output_tokens;   /* >= 1 */
    uint32_t num_hash_ids;    /* 0 when the trace has none */
    const uint64_t *hash_ids; /* borrowed; valid until the next trace_next() */
} trace_request;

/* What a reader accepted and adjusted so far; every adjustment is counted. */
typedef struct trace_counts {
    uint64_t requests;         /* requests yielded */
    uint64_t lines;            /* lines read, header included */
    uint64_t crlf_lines;       /* lines that ended in CRLF */
    uint64_t reordered;        /* arrivals earlier than the previous one, raised to it */
    uint64_t zero_output;      /* output_tokens 0 in the file, read as 1 */
    uint64_t trailing_blank;   /* blank lines at the end of the file, ignored */
    int missing_final_newline; /* 1 when the last line had no newline */
} trace_counts;

typedef struct trace_reader trace_reader;

/*
 * Opens PATH (gzip or plain; "-" is standard input, "<stdin>" in messages)
 * and reads its header and first request, so an empty or header-only trace
 * or a bad first row fails here. On success returns 0 and *out owns the
 * reader (free with trace_close).
 * On failure returns a negative code, *out is NULL, and ERR (if not NULL)
 * holds a one-line message "PATH:LINE: reason" of at most ERRLEN bytes
 * ("PATH: reason" when the file cannot be opened at all).
 */
int trace_open(trace_reader **out, const char *path, trace_format fmt, char *err, size_t errlen);

/*
 * Reads the next request into *req. Returns 1 when one was read, 0 at the
 * end of the trace, or a negative code on error (then trace_errmsg() says
 * why, and further calls return the same code).
 */
int trace_next(trace_reader *r, trace_request *req);

/* The last error as "PATH:LINE: reason", or "" if none. */
const char *trace_errmsg(const trace_reader *r);

/* The detected (or forced) format. */
trace_format trace_get_format(const trace_reader *r);

/* The counts so far. */
void trace_get_counts(const trace_reader *r, trace_counts *out);

/* Closes the reader; trace_close(NULL) is a no-op. */
void trace_close(trace_reader *r);

#endif
