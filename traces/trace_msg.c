/*
 * trace_msg.c: the names and messages of the trace readers: error codes'
 * texts (trace_strerror), format names, the reader's first error as
 * "PATH:LINE: reason" (trace__fail), fields echoed in messages, and the
 * case-insensitive name comparison that headers and formats use.
 */
#define _POSIX_C_SOURCE 200809L

#include "traces/trace_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- names */

const char *trace_strerror(int code)
{
    switch (code) {
#define TRACE_ERR_CASE(name, value, msg)                                                           \
    case value:                                                                                    \
        return msg;
        TRACE_ERRNO_MAP(TRACE_ERR_CASE)
#undef TRACE_ERR_CASE
    default:
        break;
    }
    return code == 0 ? "success" : "unknown error";
}

static const char *const trace__format_names[] = {"auto",     "kvsim", "azure",  "mooncake",
                                                  "burstgpt", "vidur", "lengths"};

const char *trace_format_name(trace_format fmt)
{
    if ((int)fmt < 0 || (int)fmt > (int)TRACE_FORMAT_LAST)
        return "unknown";
    return trace__format_names[fmt];
}

int trace_format_parse(const char *name, trace_format *out)
{
    if (name == NULL || out == NULL)
        return TRACE_EARG;
    for (int i = 0; i <= (int)TRACE_FORMAT_LAST; i++) {
        if (trace__name_eq(name, strlen(name), trace__format_names[i])) {
            *out = (trace_format)i;
            return 0;
        }
    }
    return TRACE_EARG;
}

/* ------------------------------------------------------------- messages */

/* Replaces control bytes in the NUL-terminated S by '?', so it is one line. */
static void trace__one_line(char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            *s = '?';
    }
}

int trace__fail(trace_reader *r, int code, uint64_t line, const char *fmt, ...)
{
    if (r->err != 0)
        return r->err;
    int n;
    if (line > 0)
        n = snprintf(r->errmsg, sizeof r->errmsg, "%s:%llu: ", r->path, (unsigned long long)line);
    else
        n = snprintf(r->errmsg, sizeof r->errmsg, "%s: ", r->path);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof r->errmsg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->errmsg + n, sizeof r->errmsg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    trace__one_line(r->errmsg);
    r->err = code;
    return code;
}

char *trace__echo(char *dst, const char *p, size_t n)
{
    const size_t keep = TRACE__ECHO_BYTES - 4; /* room for "..." and NUL */
    size_t k = n <= TRACE__ECHO_BYTES - 1 ? n : keep;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)p[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (k < n) {
        memcpy(dst + k, "...", 4);
    } else {
        dst[k] = '\0';
    }
    return dst;
}

void trace__err_early(char *err, size_t errlen, const char *path, const char *reason)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s: %s", path, reason);
        trace__one_line(err);
    }
}

/* -------------------------------------------------------------- helpers */

int trace__name_eq(const char *p, size_t n, const char *s)
{
    size_t i = 0;
    for (; i < n && s[i] != '\0'; i++) {
        unsigned char a = (unsigned char)p[i], b = (unsigned char)s[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return i == n && s[i] == '\0';
}
