/*
 * trace_write.h: writing requests as kvsim CSV (traces/trace_kvsim.c reads
 * it), gzip-compressed when the file name ends in ".gz", plain otherwise.
 *
 * Round trip: reading a written file gives back the same requests, field
 * for field and arrival times bit for bit. An arrival is printed with
 * "%.9f" (nanoseconds, readable) when that text reads back as the same
 * double, and with "%.17g" (which always does) otherwise; the reader
 * rounds correctly, so both are exact.
 */
#ifndef KVSIM_TRACES_TRACE_WRITE_H
#define KVSIM_TRACES_TRACE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "traces/trace.h"

typedef struct trace_writer trace_writer;

/*
 * Creates (or truncates) PATH ("-" is standard output, plain) and writes
 * the header `arrival_s,input_tokens,output_tokens`, with `session_id`
 * when FIELDS has TRACE_FIELD_SESSION and `hash_ids` when it has
 * TRACE_FIELD_HASH_IDS (trace.h). LEVEL is the gzip level 1..9 (0 for
 * zlib's default). Returns 0 with *OUT owning the writer, or a negative
 * TRACE_E* code with a one-line "PATH: reason" in ERR and *OUT NULL.
 */
int trace_writer_open(trace_writer **out, const char *path, int fields, int level, char *err,
                      size_t errlen);

/*
 * As trace_writer_open, but writes to FD, a descriptor open for writing
 * that the writer takes over (trace_writer_close closes it; so does a
 * failure here). PATH names the file in messages and decides gzip.
 */
int trace_writer_open_fd(trace_writer **out, int fd, const char *path, int fields, int level,
                         char *err, size_t errlen);

/*
 * Appends request Q as one row. Session and hash ids are written only when
 * the header has their column (an empty field for a request without one).
 * Returns 0, or a negative code with trace_writer_errmsg() set; the error
 * is sticky.
 */
int trace_writer_put(trace_writer *w, const trace_request *q);

/* The first error as "PATH: reason", or "". */
const char *trace_writer_errmsg(const trace_writer *w);

/* Rows written so far. */
uint64_t trace_writer_rows(const trace_writer *w);

/*
 * Flushes, closes and frees W (NULL is a no-op). Returns 0, or a negative
 * code when an earlier put or the final flush failed; then ERR (if not
 * NULL) gets the message.
 */
int trace_writer_close(trace_writer *w, char *err, size_t errlen);

#endif
