/*
 * trace.h: streamed reading of request traces (gzip or plain) through zlib.
 *
 * A reader yields one request at a time, so memory is bounded by one line,
 * not by the trace length. Formats are auto-detected from the header line
 * (or the first line, for JSONL) unless one is forced.
 *
 * Formats (one file each, traces/trace_<format>.c):
 *   kvsim    CSV with header `arrival_s,input_tokens,output_tokens`, more
 *            columns allowed (any order; header names case-insensitive);
 *            optional `hash_ids` and `session_id`.
 *   azure    Azure LLM inference CSV `TIMESTAMP,ContextTokens,GeneratedTokens`
 *            (2023: `2023-11-16 18:15:46.6805900`; 2024: with `+00:00` zone,
 *            fraction optional). Arrivals are seconds since the first row.
 *   mooncake JSONL `{"timestamp": ms, "input_length", "output_length",
 *            "hash_ids": [...]}`. Arrivals are timestamp / 1000.
 *   burstgpt BurstGPT CSV `Timestamp,Model,Request tokens,Response tokens,
 *            Total tokens,Log Type`. Arrivals are seconds since the first
 *            row; rows with 0 response tokens (failed requests) are skipped
 *            and counted; a model filter keeps one model's rows.
 *   vidur    Vidur / Splitwise CSV `arrived_at,num_prefill_tokens,
 *            num_decode_tokens`. Arrivals are arrived_at, as given.
 *   lengths  a length table without times, `num_prefill_tokens,
 *            num_decode_tokens` (or `input_tokens,output_tokens` without
 *            `arrival_s`), such as sarathi-serve's ShareGPT table. Every
 *            arrival is 0 and trace_has_arrivals() is 0: a workload source
 *            adds arrivals (workloads/source.h).
 *
 * Failure contract: host failures (missing file, corrupt gzip, malformed
 * row) return a negative TRACE_E* code, and trace_errmsg() gives one line
 * "FILE:LINE: reason". Real-world quirks that a user expects to work (CRLF,
 * no final newline, trailing blank lines, an arrival earlier than the one
 * before it, zero output tokens) are accepted and counted in trace_counts;
 * so are rows a format skips on purpose (failed BurstGPT requests, rows of
 * other models under a model filter).
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

/*
 * Latest arrival accepted, in seconds after the first request's: about 31.7
 * years, far inside the engine's int64 nanoseconds (sim/engine.c checks the
 * same bound). Every reader and source (workloads/source.h) refuses a
 * later one with "FILE:LINE: reason", so no command sees one.
 */
#define TRACE_MAX_SPAN_S 1e9
/* The same bound as text, for messages. */
#define TRACE_MAX_SPAN_TEXT "1e9"

/* Returns a static description of a TRACE_E* code. */
const char *trace_strerror(int code);

typedef enum trace_format {
    TRACE_FORMAT_AUTO = 0,
    TRACE_FORMAT_KVSIM,
    TRACE_FORMAT_AZURE,
    TRACE_FORMAT_MOONCAKE,
    TRACE_FORMAT_BURSTGPT,
    TRACE_FORMAT_VIDUR,
    TRACE_FORMAT_LENGTHS,
    TRACE_FORMAT_LAST = TRACE_FORMAT_LENGTHS
} trace_format;

/* The known format names, comma-separated, for messages and help texts. */
#define TRACE_FORMAT_NAMES "auto, kvsim, azure, mooncake, burstgpt, vidur, lengths"

/* Name of a format ("auto", "kvsim", "azure", "mooncake", "burstgpt",
 * "vidur", "lengths"), or "unknown". */
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
    uint32_t has_session;     /* 1 when session_id is set (kvsim session_id column) */
    uint64_t session_id;      /* conversation the request belongs to; 0 when has_session is 0 */
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
    uint64_t failed_skipped;   /* burstgpt rows with 0 response tokens (failed requests), skipped */
    uint64_t filtered_out;     /* rows of other models, skipped by the model filter */
    uint64_t trailing_garbage; /* bytes after the last gzip member that are not gzip, ignored
                                  as gzip does ("trailing garbage ignored") */
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

/* Options of trace_open_ex; zero-initialized means trace_open's defaults. */
typedef struct trace_open_opts {
    trace_format format;      /* TRACE_FORMAT_AUTO to detect */
    const char *model_filter; /* burstgpt: keep only rows whose Model equals this
                                 (case-insensitive); NULL keeps all. Other formats
                                 fail with a message when it is set. */
} trace_open_opts;

/*
 * As trace_open, with options (OPTS may be NULL). With a model filter that
 * no row matches, the message names the models the trace has.
 */
int trace_open_ex(trace_reader **out, const char *path, const trace_open_opts *opts, char *err,
                  size_t errlen);

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

/*
 * 1 when the trace has arrival times, 0 for a length table (every arrival_s
 * is then 0, and a caller that replays it must add arrivals).
 */
int trace_has_arrivals(const trace_reader *r);

/*
 * 1 when requests of this trace may carry hash ids (a kvsim trace with a
 * hash_ids column, mooncake), 2 when they may carry a session id (kvsim
 * with a session_id column), 3 for both, 0 for neither: what a writer
 * needs to keep. Known after trace_open.
 */
int trace_get_fields(const trace_reader *r);
#define TRACE_FIELD_HASH_IDS 1
#define TRACE_FIELD_SESSION 2

/* The counts so far. */
void trace_get_counts(const trace_reader *r, trace_counts *out);

/* Closes the reader; trace_close(NULL) is a no-op. */
void trace_close(trace_reader *r);

#endif
