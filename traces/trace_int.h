/*
 * trace_int.h: private state of a trace reader, shared by the files of the
 * reader, in the order data flows through them: trace_input.c (the file's
 * bytes, gzip, lines), trace_rows.c (format detection, lines to requests),
 * the per-format row parsers (trace_kvsim.c, trace_azure.c,
 * trace_mooncake.c, trace_burstgpt.c, trace_vidur.c, trace_lengths.c),
 * trace_csv.c (CSV fields and headers), trace_fields.c (field values),
 * trace_msg.c (names, errors), and trace.c (the API). Not for other
 * folders.
 *
 * Invariants of the line buffer: buf holds cap + 1 bytes; [start, end) are
 * bytes read but not yet returned as lines; [start, scan) is known to hold
 * no '\n'. A line never exceeds TRACE__LINE_MAX_BYTES, so the buffer never
 * grows past that plus one byte for a terminating NUL: memory is bounded by
 * one long line plus the input chunk and zlib's window, whatever the trace
 * length.
 */
#ifndef KVSIM_TRACES_TRACE_INT_H
#define KVSIM_TRACES_TRACE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "traces/trace.h"

/* Bytes read from the file at a time, and the initial size of the line buffer.
 * The fuzz build (tests/fuzz) makes it small, so lines cross chunk
 * boundaries often and each input costs less to open. */
#ifndef TRACE__CHUNK_BYTES
#define TRACE__CHUNK_BYTES (256u * 1024u)
#endif
/* Longest accepted line, terminator excluded; longer is "line too long". */
#define TRACE__LINE_MAX_BYTES (1024u * 1024u)
/* Size of the buffer behind trace_errmsg(). */
#define TRACE__ERRMSG_BYTES 512
/* Size of a buffer holding a field echoed in a message (truncated). */
#define TRACE__ECHO_BYTES 48
/* Column index meaning "not in the header". */
#define TRACE__NO_COLUMN SIZE_MAX

#if defined(__GNUC__)
#define TRACE__PRINTF(fmt_arg, first_arg) __attribute__((format(printf, fmt_arg, first_arg)))
#else
#define TRACE__PRINTF(fmt_arg, first_arg)
#endif

/* Column slots, the same for every format; names in trace_reader.col_name. */
enum {
    TRACE__COL_ARRIVAL = 0, /* arrival_s, TIMESTAMP, timestamp */
    TRACE__COL_INPUT,       /* input_tokens, ContextTokens, input_length */
    TRACE__COL_OUTPUT,      /* output_tokens, GeneratedTokens, output_length */
    TRACE__COL_HASH,        /* hash_ids (optional) */
    TRACE__COL_SESSION,     /* session_id (optional, kvsim) */
    TRACE__COL_MODEL,       /* Model (burstgpt) */
    TRACE__NCOLS
};

/* Bit of column slot J in a csv_bind REQUIRED mask. */
#define TRACE__REQ(j) (1u << (j))

/* What a row parser returns for a row it skips on purpose (counted). */
#define TRACE__SKIP 1

/* Model names remembered for the "no rows of model" message. */
#define TRACE__MODELS_SEEN 8
#define TRACE__MODEL_NAME_BYTES 40

/* A run of bytes inside the line buffer (not NUL-terminated). */
typedef struct trace__span {
    char *p;
    size_t n;
} trace__span;

/* One row as a format parser reads it, before the common checks. */
typedef struct trace__row {
    double arrival_s;
    uint32_t input_tokens;
    uint32_t output_tokens; /* may be 0 here; raised to 1 and counted */
    uint32_t num_hash_ids;  /* ids are in trace_reader.hash_ids */
    uint32_t has_session;
    uint64_t session_id;
} trace__row;

struct trace_reader {
    char *path; /* as shown in messages ("<stdin>" for "-") */
    trace_format fmt;

    /* Input (trace_input.c): the file's raw bytes, read TRACE__CHUNK_BYTES at a
     * time into `in` (zs.next_in and zs.avail_in are the unread part), and
     * inflated when the file is gzip. */
    int fd;
    unsigned char *in;
    int in_eof;     /* read() returned 0 */
    int gzip;       /* 1: gzip members; 0: plain bytes passed through */
    int zs_ready;   /* inflateInit2 succeeded: inflateEnd at close */
    int member_end; /* a gzip member ended; the next bytes decide what follows */
    int input_done; /* the last member ended (and any trailing bytes were counted) */
    z_stream zs;
    int pending_err; /* an input error met after bytes still to be split into
                        lines: raised when those are used up, so it names the
                        line the reader had reached */
    char pending_msg[160];

    char *buf; /* line buffer, see the invariants above */
    size_t cap, start, end, scan;
    int eof;

    uint64_t lineno;      /* lines returned so far (1-based number of the last) */
    uint64_t header_line; /* line of the CSV header, 0 for JSONL */
    uint64_t blank_run;   /* blank lines since the last non-blank one */
    uint64_t blank_first; /* line of the first of them */

    int err; /* first error, sticky; 0 if none */
    char errmsg[TRACE__ERRMSG_BYTES];
    trace_counts counts;
    double prev_arrival_s;
    double first_arrival_s; /* of the first request, when counts.requests or has_pending */
    int have_first;

    trace_request pending; /* first request, read by trace_open */
    int has_pending;
    int done;

    /* CSV: fields of the current row, one slot per header column. */
    trace__span *fields;
    size_t ncols;
    size_t col[TRACE__NCOLS];
    const char *col_name[TRACE__NCOLS];

    /* Azure: the first row's timestamp, origin of the arrivals. */
    int have_base;
    int64_t base_sec;
    int32_t base_ns;
    /* BurstGPT: the first row's Timestamp in seconds. */
    double base_s;

    /* BurstGPT model filter (owned copy, NULL for none) and models seen. */
    char *model_filter;
    size_t models_seen;
    char model_names[TRACE__MODELS_SEEN][TRACE__MODEL_NAME_BYTES];

    /* Hash ids of the current row, grown as needed, never shrunk. */
    uint64_t *hash_ids;
    size_t hash_cap;
};

/* True for the blanks that fields and lines are trimmed of. Inline: the CSV
 * splitter asks it of every byte around a field. */
static inline int trace__is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* ---------------------------------------------- trace_input.c: bytes, lines */

/*
 * Opens PATH ("-": a duplicate of standard input, so closing the reader
 * leaves stdin open) as a gzip-or-plain stream. Returns 0 or a negative
 * code with a message without a line number.
 */
int trace__open_stream(trace_reader *r, const char *path);

/*
 * Returns the next line in *LINE and *LEN, NUL-terminated, without its "\n" or
 * "\r\n" (counted), valid until the next call. Returns 1 for a line, 0 at
 * the end of input, or a negative code (line too long, NUL byte, I/O).
 */
int trace__getline(trace_reader *r, char **line, size_t *len);

/* --------------------------------------- trace_rows.c: lines to requests */

/*
 * Reads the first non-blank line and decides the format: a line starting
 * with '{' is mooncake JSONL (parsed at once as the first request, in
 * r->pending), else it is a CSV header whose column names decide, unless
 * FMT forces one. Returns 0 or a negative code with a message.
 */
int trace__detect(trace_reader *r, trace_format fmt);

/*
 * Reads lines up to the next request. Returns 1 with *REQ filled, 0 at the
 * end (trailing blank lines counted), or a negative code.
 */
int trace__read_request(trace_reader *r, trace_request *req);

/* ------------------------------------------- trace_msg.c: names, messages */

/*
 * Records the reader's first error as "PATH:LINE: reason" (or "PATH: reason"
 * when LINE is 0) and returns CODE. A later call keeps the first message and
 * returns the first code, so an error is never overwritten by its fallout.
 */
int trace__fail(trace_reader *r, int code, uint64_t line, const char *fmt, ...) TRACE__PRINTF(4, 5);

/*
 * Writes into DST (TRACE__ECHO_BYTES) a printable copy of P[0..N) for a
 * message: bytes outside printable ASCII become '?', and a long value is cut
 * with "...". Returns DST.
 */
char *trace__echo(char *dst, const char *p, size_t n);

/* Writes "PATH: reason" into ERR (ERRLEN bytes; none when NULL or 0) for
 * failures before a reader exists. */
void trace__err_early(char *err, size_t errlen, const char *path, const char *reason);

/* Case-insensitive ASCII comparison of P[0..N) with the C string S. */
int trace__name_eq(const char *p, size_t n, const char *s);

/* ----------------------------------------------- trace_csv.c: CSV fields */

/*
 * Splits LINE[0..LEN) into comma-separated fields, each trimmed of spaces and
 * tabs and stripped of one pair of enclosing double quotes ("" inside quotes
 * is an escaped quote and stays as is). Stores the first MAX fields in OUT
 * and the number of fields in *COUNT. Returns 0, or a negative code (with a
 * message for line r->lineno) for an unterminated quote or text after a
 * closing quote.
 */
int trace__csv_split(trace_reader *r, char *line, size_t len, trace__span *out, size_t max,
                     size_t *count);

/*
 * Binds the format's columns to the header in r->fields[0..r->ncols): NAMES
 * has NNAMES canonical names in slot order (TRACE__COL_*; NULL for a slot
 * the format lacks), those whose TRACE__REQ bit is in REQUIRED required;
 * matching is case-insensitive. Returns 1 when every required column is
 * present (and sets r->col and r->col_name), 0 when one is missing and
 * FORCED is 0, or a negative code: a duplicate column, or a missing one
 * when FORCED. HEADER[0..LEN) is the raw header line, echoed in messages.
 */
int trace__csv_bind(trace_reader *r, const char *const *names, size_t nnames, unsigned required,
                    int forced, const char *fmt_name, const char *header, size_t len);

/*
 * Splits a CSV data row into r->fields and checks it has as many fields as
 * the header. Returns 0 or a negative code with a message.
 */
int trace__csv_row(trace_reader *r, char *line, size_t len);

/* ------------------------------------------ trace_fields.c: field values */

/*
 * Parses F as an unsigned 32-bit decimal integer (digits only). Returns 0,
 * or a negative code with a message naming the column NAME.
 */
int trace__parse_u32(trace_reader *r, const trace__span *f, const char *name, uint32_t *out);

/*
 * Parses F as seconds, a finite decimal >= 0 ([-]digits[.digits][e[+-]d],
 * correctly rounded), into *OUT. Returns 0, or a negative code with a
 * message naming the column NAME (empty, not a number, not finite, out of
 * range, negative).
 */
int trace__parse_seconds(trace_reader *r, const trace__span *f, const char *name, double *out);

/*
 * Parses F as an unsigned 64-bit decimal integer (digits only). Returns 0,
 * or a negative code with a message naming the column NAME.
 */
int trace__parse_u64(trace_reader *r, const trace__span *f, const char *name, uint64_t *out);

/* The columns every timed CSV format has: arrival (seconds, into
 * *ARRIVAL_S), input and output tokens (into ROW). 0, or the failure of
 * the first bad field. */
int trace__parse_columns(trace_reader *r, double *arrival_s, trace__row *row);

/*
 * Makes room for N hash ids in r->hash_ids. Returns 0 or TRACE_ENOMEM (with
 * a message); the ids already there are kept.
 */
int trace__hash_reserve(trace_reader *r, size_t n);

/* ---------------------------------- trace_<format>.c: one row of a format */

/*
 * Format hooks. *_header: as trace__csv_bind, for the header line
 * r->fields[0..r->ncols) (raw text HEADER[0..LEN)). *_row: parse one
 * non-blank data line into *ROW; return 0 or a negative code with a
 * message for line r->lineno.
 */
int trace__kvsim_header(trace_reader *r, int forced, const char *header, size_t len);
int trace__kvsim_row(trace_reader *r, char *line, size_t len, trace__row *row);
int trace__azure_header(trace_reader *r, int forced, const char *header, size_t len);
int trace__azure_row(trace_reader *r, char *line, size_t len, trace__row *row);
/* Sets the mooncake column names used in messages; it has no header. */
void trace__mooncake_init(trace_reader *r);
int trace__mooncake_row(trace_reader *r, char *line, size_t len, trace__row *row);
/* BurstGPT rows may also return TRACE__SKIP (a failed or filtered row). */
int trace__burstgpt_header(trace_reader *r, int forced, const char *header, size_t len);
int trace__burstgpt_row(trace_reader *r, char *line, size_t len, trace__row *row);
int trace__vidur_header(trace_reader *r, int forced, const char *header, size_t len);
int trace__vidur_row(trace_reader *r, char *line, size_t len, trace__row *row);
int trace__lengths_header(trace_reader *r, int forced, const char *header, size_t len);
int trace__lengths_row(trace_reader *r, char *line, size_t len, trace__row *row);

#endif
