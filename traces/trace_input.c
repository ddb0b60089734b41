/*
 * trace_input.c: a trace's bytes and lines: opening the file (or standard
 * input), reading it in chunks, inflating gzip, and splitting lines.
 *
 * Input is read in chunks of TRACE__CHUNK_BYTES; a file that starts with
 * the gzip magic (1f 8b) is inflated member after member with zlib's
 * inflate, anything else passes through unchanged. Lines are split here, in
 * place in one buffer that grows only for a line longer than a chunk, up to
 * TRACE__LINE_MAX_BYTES: CSV rows cost no allocation. The members are
 * walked here rather than through zlib's gz* API because that API hides
 * three things a reader must see: bytes after the last member (gzip -t:
 * "trailing garbage ignored"; counted here, and a lone 0x1f, the start of a
 * cut member header, is an error as in gzip), and how far the output of a
 * read that then failed had got (gzread drops it, so a corrupt second
 * member was blamed on line 1: here the lines before it are read and the
 * error names the line where it starts). A truncated member is an error,
 * never a shorter trace. CRLF and a missing final newline are accepted and
 * counted (see trace.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "traces/trace_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* trace__input keeps two bytes ahead to see a gzip magic whole. */
_Static_assert(TRACE__CHUNK_BYTES >= 16, "TRACE__CHUNK_BYTES too small");

/* Records an input failure's reason in r->pending_msg and returns CODE. */
static int trace__input_fail(trace_reader *r, int code, const char *reason)
{
    snprintf(r->pending_msg, sizeof r->pending_msg, "%s", reason);
    return code;
}

/*
 * Reads more raw bytes after the unread ones (moved to the front of
 * r->in). Returns 0 (r->in_eof set at the end of the file) or a negative
 * code with r->pending_msg.
 */
static int trace__read_raw(trace_reader *r)
{
    size_t keep = r->zs.avail_in;
    if (keep > 0 && r->zs.next_in != r->in)
        memmove(r->in, r->zs.next_in, keep);
    r->zs.next_in = r->in;
    ssize_t n;
    do {
        n = read(r->fd, r->in + keep, TRACE__CHUNK_BYTES - keep);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        char reason[128];
        snprintf(reason, sizeof reason, "cannot read: %s", strerror(errno));
        return trace__input_fail(r, TRACE_EIO, reason);
    }
    if (n == 0)
        r->in_eof = 1;
    r->zs.avail_in = (uInt)(keep + (size_t)n);
    return 0;
}

/*
 * What follows a gzip member: the end, another member, or bytes that are
 * not gzip (counted in trailing_garbage and skipped to the end, as gzip
 * does). A lone 0x1f is the start of a cut member header. Returns 0 or a
 * negative code with r->pending_msg; r->zs.avail_in >= 2 unless at the end.
 */
static int trace__after_member(trace_reader *r)
{
    const unsigned char *p = r->zs.next_in;
    if (r->zs.avail_in == 0) {
        r->input_done = 1;
        return 0;
    }
    if (r->zs.avail_in >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
        r->member_end = 0;
        return inflateReset(&r->zs) == Z_OK
                   ? 0
                   : trace__input_fail(r, TRACE_EGZIP, "corrupt gzip stream (reset failed)");
    }
    if (r->zs.avail_in == 1 && p[0] == 0x1f)
        return trace__input_fail(r, TRACE_EGZIP,
                                 "truncated gzip stream (one byte of a member header after the "
                                 "last member: unexpected end of file)");
    for (;;) {
        r->counts.trailing_garbage += r->zs.avail_in;
        r->zs.avail_in = 0;
        if (r->in_eof)
            break;
        int rc = trace__read_raw(r);
        if (rc < 0)
            return rc;
    }
    r->input_done = 1;
    return 0;
}

/*
 * Reads up to CAP bytes of the trace's text (inflated when gzip) into DST
 * and stores their number in *GOT: 0 only at the end. Returns 0, or a
 * negative code with the reason in r->pending_msg; *GOT then says how many
 * good bytes came before the error.
 */
static int trace__input(trace_reader *r, char *dst, size_t cap, size_t *got)
{
    *got = 0;
    int rc = 0;
    if (!r->gzip) {
        if (r->zs.avail_in == 0 && !r->in_eof)
            rc = trace__read_raw(r);
        size_t n = r->zs.avail_in < cap ? r->zs.avail_in : cap;
        memcpy(dst, r->zs.next_in, n);
        r->zs.next_in += n;
        r->zs.avail_in -= (uInt)n;
        *got = n;
        return rc;
    }
    if (cap > UINT_MAX)
        cap = UINT_MAX;
    r->zs.next_out = (Bytef *)dst;
    r->zs.avail_out = (uInt)cap;
    while (rc == 0 && r->zs.avail_out > 0 && !r->input_done) {
        /* Two bytes ahead, so a member header's magic is seen whole. */
        if (r->zs.avail_in < 2 && !r->in_eof) {
            rc = trace__read_raw(r);
            continue;
        }
        if (r->member_end) {
            rc = trace__after_member(r);
            continue;
        }
        int z = inflate(&r->zs, Z_NO_FLUSH);
        if (z == Z_STREAM_END)
            r->member_end = 1;
        else if (z == Z_BUF_ERROR && r->in_eof && r->zs.avail_in == 0)
            rc =
                trace__input_fail(r, TRACE_EGZIP, "truncated gzip stream (unexpected end of file)");
        else if (z == Z_MEM_ERROR)
            rc = trace__input_fail(r, TRACE_ENOMEM, "out of memory in zlib");
        else if (z != Z_OK) {
            char reason[128];
            snprintf(reason, sizeof reason, "corrupt gzip stream (%s)",
                     r->zs.msg != NULL ? r->zs.msg : "no progress");
            rc = trace__input_fail(r, TRACE_EGZIP, reason);
        }
    }
    *got = cap - r->zs.avail_out;
    return rc;
}

/*
 * Refills the buffer after [start, end) turned out to hold no newline:
 * moves the partial line to the front, grows the buffer if it is full (up
 * to the line cap), and reads one chunk. Returns 0 (r->eof set at the end
 * of input) or a negative code: a line over the cap, a gzip or read error.
 */
static int trace__fill(trace_reader *r)
{
    if (r->pending_err != 0)
        return trace__fail(r, r->pending_err, r->lineno + 1, "%s", r->pending_msg);
    size_t pending = r->end - r->start;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, pending);
        r->start = 0;
        r->end = pending;
    }
    r->scan = r->end;
    if (r->end == r->cap) {
        if (r->cap > TRACE__LINE_MAX_BYTES)
            return trace__fail(r, TRACE_EFORMAT, r->lineno + 1,
                               "line too long (more than %u bytes)", TRACE__LINE_MAX_BYTES);
        size_t cap =
            r->cap * 2 > TRACE__LINE_MAX_BYTES + 1 ? TRACE__LINE_MAX_BYTES + 1 : r->cap * 2;
        char *p = realloc(r->buf, cap + 1);
        if (p == NULL)
            return trace__fail(r, TRACE_ENOMEM, r->lineno + 1, "out of memory for a %zu-byte line",
                               cap);
        r->buf = p;
        r->cap = cap;
    }
    size_t got = 0;
    int rc = trace__input(r, r->buf + r->end, r->cap - r->end, &got);
    r->end += got;
    if (rc < 0 && got > 0) {
        r->pending_err = rc; /* raised once the lines before it are used */
        return 0;
    }
    if (rc < 0)
        return trace__fail(r, rc, r->lineno + 1, "%s", r->pending_msg);
    if (got == 0)
        r->eof = 1;
    return 0;
}

int trace__getline(trace_reader *r, char **line, size_t *len)
{
    char *nl;
    for (;;) {
        nl = memchr(r->buf + r->scan, '\n', r->end - r->scan);
        if (nl != NULL || r->eof)
            break;
        int rc = trace__fill(r);
        if (rc < 0)
            return rc;
    }
    char *p = r->buf + r->start;
    size_t n;
    if (nl != NULL) {
        n = (size_t)(nl - p);
        r->start = r->scan = (size_t)(nl - r->buf) + 1;
    } else {
        if (r->start == r->end)
            return 0;
        n = r->end - r->start;
        r->start = r->scan = r->end;
        r->counts.missing_final_newline = 1;
    }
    r->lineno++;
    r->counts.lines++;
    if (n > TRACE__LINE_MAX_BYTES)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "line too long (more than %u bytes)",
                           TRACE__LINE_MAX_BYTES);
    if (n > 0 && p[n - 1] == '\r') {
        n--;
        if (nl != NULL)
            r->counts.crlf_lines++;
    }
    if (memchr(p, '\0', n) != NULL)
        return trace__fail(r, TRACE_EFORMAT, r->lineno,
                           "NUL byte in line (binary data, or a compressed format other than "
                           "gzip?)");
    p[n] = '\0';
    *line = p;
    *len = n;
    return 1;
}

int trace__open_stream(trace_reader *r, const char *path)
{
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY);
    if (fd < 0)
        return trace__fail(r, TRACE_EIO, 0, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return trace__fail(r, TRACE_EIO, 0, "cannot read: %s", strerror(EISDIR));
    }
    r->fd = fd;
    r->cap = TRACE__CHUNK_BYTES;
    r->buf = malloc(r->cap + 1);
    r->in = malloc(TRACE__CHUNK_BYTES);
    if (r->buf == NULL || r->in == NULL)
        return trace__fail(r, TRACE_ENOMEM, 0, "out of memory for the input buffers");
    r->zs.next_in = r->in;
    while (r->zs.avail_in < 6 && !r->in_eof) {
        if (trace__read_raw(r) < 0)
            return trace__fail(r, TRACE_EIO, 0, "%s", r->pending_msg);
    }
    /* Other compressors' magic numbers, named (their bytes were read as a
     * header, "unrecognized trace header '(?/?d`??'" for zstd). */
    static const struct {
        const char *name, *magic, *undo;
        size_t len;
    } other[] = {
        {"zstd", "\x28\xb5\x2f\xfd", "zstd -d", 4},
        {"xz", "\xfd\x37\x7a\x58\x5a\x00", "xz -d", 6},
        {"bzip2", "BZh", "bzip2 -d", 3},
        {"zip", "PK\x03\x04", "unzip", 4},
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        if (r->zs.avail_in >= other[i].len && memcmp(r->in, other[i].magic, other[i].len) == 0)
            return trace__fail(r, TRACE_EFORMAT, 1,
                               "compressed with %s, which kvsim does not read: decompress it "
                               "(%s) or compress it with gzip",
                               other[i].name, other[i].undo);
    /* gzip's magic; a lone 0x1f is a cut gzip header (inflate says so). */
    r->gzip = r->zs.avail_in >= 1 && r->in[0] == 0x1f && (r->zs.avail_in == 1 || r->in[1] == 0x8b);
    if (r->gzip) {
        if (inflateInit2(&r->zs, 15 + 16) != Z_OK)
            return trace__fail(r, TRACE_ENOMEM, 0, "cannot open: out of memory in zlib");
        r->zs_ready = 1;
    }
    return 0;
}
