/*
 * trace_write.c: the kvsim CSV writer (trace_write.h).
 *
 * Rows are formatted by hand into one line buffer (integers with a digit
 * loop, arrivals with snprintf) and handed to zlib's gzwrite, which
 * compresses, or with mode "T" copies, into its own buffer: no allocation
 * per row. A row with many hash ids is flushed in pieces when the line
 * buffer fills.
 *
 * Exactness: for a finite double x >= 0, "%.17g" has enough significant
 * digits to identify x (IEEE 754 binary64 needs 17), and trace_kvsim.c
 * parses correctly rounded, so reading it gives x back. "%.9f" is tried
 * first because generated arrivals are whole nanoseconds, for which it is
 * shorter and exact; strtod checks it before it is used.
 */
#define _POSIX_C_SOURCE 200809L

#include "traces/trace_write.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

/* Size of the line buffer; a row longer than this is written in pieces. */
#define TRACE__WBUF_BYTES 4096
/* Room kept free for one more field (a 20-digit id or an arrival). */
#define TRACE__WFIELD_BYTES 64

struct trace_writer {
    gzFile gz;
    char *path;
    int fields;
    int err;
    uint64_t rows;
    char errmsg[512];
    char buf[TRACE__WBUF_BYTES];
    size_t n;
};

/* Records the first error as "PATH: reason" and returns CODE. */
static int trace__wfail(trace_writer *w, int code, const char *fmt, ...)
{
    if (w->err != 0)
        return w->err;
    int k = snprintf(w->errmsg, sizeof w->errmsg, "%s: ", w->path);
    if (k < 0)
        k = 0;
    if ((size_t)k < sizeof w->errmsg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->errmsg + k, sizeof w->errmsg - (size_t)k, fmt, ap);
        va_end(ap);
    }
    w->err = code;
    return code;
}

/* Writes the buffered bytes to zlib. Returns 0 or a negative code. */
static int trace__wflush(trace_writer *w)
{
    if (w->n == 0)
        return 0;
    if (gzwrite(w->gz, w->buf, (unsigned)w->n) != (int)w->n) {
        int zerr = Z_OK;
        const char *m = gzerror(w->gz, &zerr);
        return trace__wfail(w, TRACE_EIO, "cannot write: %s",
                            zerr == Z_ERRNO ? strerror(errno)
                            : m != NULL     ? m
                                            : "zlib error");
    }
    w->n = 0;
    return 0;
}

/* Appends the NUL-terminated S to the line buffer (it has room). */
static void trace__wstr(trace_writer *w, const char *s)
{
    size_t k = strlen(s);
    memcpy(w->buf + w->n, s, k);
    w->n += k;
}

/* Appends V in decimal to the line buffer (it has room). */
static void trace__wu64(trace_writer *w, uint64_t v)
{
    char tmp[24];
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (k > 0)
        w->buf[w->n++] = tmp[--k];
}

/* Appends the arrival X (finite, >= 0) so that it reads back exactly. */
static void trace__warrival(trace_writer *w, double x)
{
    char tmp[TRACE__WFIELD_BYTES];
    snprintf(tmp, sizeof tmp, "%.9f", x);
    if (strtod(tmp, NULL) != x)
        snprintf(tmp, sizeof tmp, "%.17g", x);
    trace__wstr(w, tmp);
}

/* trace_writer_open and trace_writer_open_fd: FD < 0 opens PATH itself. */
static int trace__writer_open(trace_writer **out, int fd, const char *path, int fields, int level,
                              char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL || path == NULL || level < 0 || level > 9 ||
        (fields & ~(TRACE_FIELD_HASH_IDS | TRACE_FIELD_SESSION)) != 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: bad argument to trace_writer_open",
                     path != NULL ? path : "(null)");
        if (out != NULL)
            *out = NULL;
        if (fd >= 0)
            close(fd);
        return TRACE_EARG;
    }
    *out = NULL;
    trace_writer *w = calloc(1, sizeof *w);
    if (w != NULL)
        w->path = strdup(strcmp(path, "-") == 0 ? "<stdout>" : path);
    if (w == NULL || w->path == NULL) {
        free(w);
        if (fd >= 0)
            close(fd);
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: out of memory", path);
        return TRACE_ENOMEM;
    }
    w->fields = fields;
    size_t len = strlen(path);
    int gzip = len > 3 && strcmp(path + len - 3, ".gz") == 0;
    char mode[8];
    if (gzip)
        snprintf(mode, sizeof mode, "wb%d", level == 0 ? 6 : level);
    else
        snprintf(mode, sizeof mode, "wbT");
    if (fd >= 0 || strcmp(path, "-") == 0) {
        if (fd < 0)
            fd = dup(STDOUT_FILENO);
        w->gz = fd >= 0 ? gzdopen(fd, mode) : NULL;
        if (w->gz == NULL && fd >= 0)
            close(fd);
    } else {
        w->gz = gzopen(path, mode);
    }
    int rc = 0;
    if (w->gz == NULL) {
        rc = trace__wfail(w, TRACE_EIO, "cannot create: %s",
                          errno != 0 ? strerror(errno) : "out of memory");
    } else {
        trace__wstr(w, "arrival_s,input_tokens,output_tokens");
        if (fields & TRACE_FIELD_SESSION)
            trace__wstr(w, ",session_id");
        if (fields & TRACE_FIELD_HASH_IDS)
            trace__wstr(w, ",hash_ids");
        trace__wstr(w, "\n");
        rc = trace__wflush(w);
    }
    if (rc < 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s", w->errmsg);
        trace_writer_close(w, NULL, 0);
        return rc;
    }
    *out = w;
    return 0;
}

int trace_writer_open(trace_writer **out, const char *path, int fields, int level, char *err,
                      size_t errlen)
{
    return trace__writer_open(out, -1, path, fields, level, err, errlen);
}

int trace_writer_open_fd(trace_writer **out, int fd, const char *path, int fields, int level,
                         char *err, size_t errlen)
{
    if (fd < 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: bad argument to trace_writer_open_fd",
                     path != NULL ? path : "(null)");
        if (out != NULL)
            *out = NULL;
        return TRACE_EARG;
    }
    return trace__writer_open(out, fd, path, fields, level, err, errlen);
}

int trace_writer_put(trace_writer *w, const trace_request *q)
{
    if (w == NULL || q == NULL)
        return TRACE_EARG;
    if (w->err != 0)
        return w->err;
    if (!(q->arrival_s >= 0.0) || q->arrival_s > 1e300)
        return trace__wfail(w, TRACE_EARG,
                            "row %llu: arrival %.17g s is not a time in [0, 1e300] s",
                            (unsigned long long)w->rows + 1, q->arrival_s);
    if (w->n > TRACE__WBUF_BYTES - 4 * TRACE__WFIELD_BYTES && trace__wflush(w) < 0)
        return w->err;
    trace__warrival(w, q->arrival_s);
    w->buf[w->n++] = ',';
    trace__wu64(w, q->input_tokens);
    w->buf[w->n++] = ',';
    trace__wu64(w, q->output_tokens);
    if (w->fields & TRACE_FIELD_SESSION) {
        w->buf[w->n++] = ',';
        if (q->has_session)
            trace__wu64(w, q->session_id);
    }
    if (w->fields & TRACE_FIELD_HASH_IDS) {
        w->buf[w->n++] = ',';
        for (uint32_t i = 0; i < q->num_hash_ids; i++) {
            if (w->n > TRACE__WBUF_BYTES - TRACE__WFIELD_BYTES && trace__wflush(w) < 0)
                return w->err;
            if (i > 0)
                w->buf[w->n++] = ';';
            trace__wu64(w, q->hash_ids[i]);
        }
    }
    w->buf[w->n++] = '\n';
    w->rows++;
    return 0;
}

const char *trace_writer_errmsg(const trace_writer *w)
{
    return w != NULL ? w->errmsg : "";
}

uint64_t trace_writer_rows(const trace_writer *w)
{
    return w != NULL ? w->rows : 0;
}

int trace_writer_close(trace_writer *w, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (w == NULL)
        return 0;
    int rc = w->err;
    if (w->gz != NULL) {
        if (rc == 0)
            rc = trace__wflush(w);
        int zrc = gzclose(w->gz);
        w->gz = NULL;
        if (rc == 0 && zrc != Z_OK)
            rc = trace__wfail(w, TRACE_EIO, "cannot write: %s",
                              zrc == Z_ERRNO ? strerror(errno) : "zlib error on close");
    }
    if (rc < 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", w->errmsg);
    free(w->path);
    free(w);
    return rc;
}
