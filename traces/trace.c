/*
 * trace.c: the trace reader's API: opening a trace (its stream, its
 * format, its first request), the requests one by one, what the reader
 * counted, and closing. The stages behind it, in the order data flows:
 * trace_input.c (bytes, gzip, lines), trace_rows.c (format detection,
 * lines to requests), trace_<format>.c (one row of each format),
 * trace_csv.c and trace_fields.c (fields and their values), trace_msg.c
 * (names and messages).
 */
#define _POSIX_C_SOURCE 200809L

#include "traces/trace_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The message for a trace whose rows were all skipped (by the model
 * filter, or as failed requests), or that has only a header.
 */
static int trace__fail_no_requests(trace_reader *r)
{
    if (r->model_filter != NULL && r->counts.filtered_out > 0 && r->counts.failed_skipped == 0) {
        char models[TRACE__MODELS_SEEN * (TRACE__MODEL_NAME_BYTES + 2)];
        size_t n = 0;
        models[0] = '\0';
        for (size_t i = 0; i < r->models_seen && n < sizeof models; i++)
            n += (size_t)snprintf(models + n, sizeof models - n, "%s%s", i > 0 ? ", " : "",
                                  r->model_names[i]);
        return trace__fail(r, TRACE_EFORMAT, r->header_line,
                           "no rows of model '%s' (%llu rows of other models: %s%s)",
                           r->model_filter, (unsigned long long)r->counts.filtered_out, models,
                           r->models_seen == TRACE__MODELS_SEEN ? ", ..." : "");
    }
    if (r->counts.failed_skipped > 0)
        return trace__fail(r, TRACE_EFORMAT, r->header_line,
                           "no requests after the header (%llu failed requests with 0 response "
                           "tokens skipped, %llu rows of other models)",
                           (unsigned long long)r->counts.failed_skipped,
                           (unsigned long long)r->counts.filtered_out);
    return trace__fail(r, TRACE_EFORMAT, r->header_line, "no requests after the header");
}

int trace_open(trace_reader **out, const char *path, trace_format fmt, char *err, size_t errlen)
{
    trace_open_opts o = {fmt, NULL};
    return trace_open_ex(out, path, &o, err, errlen);
}

int trace_open_ex(trace_reader **out, const char *path, const trace_open_opts *opts, char *err,
                  size_t errlen)
{
    static const trace_open_opts defaults = {TRACE_FORMAT_AUTO, NULL};
    if (opts == NULL)
        opts = &defaults;
    trace_format fmt = opts->format;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL || path == NULL || (int)fmt < (int)TRACE_FORMAT_AUTO ||
        (int)fmt > (int)TRACE_FORMAT_LAST) {
        trace__err_early(err, errlen, path != NULL ? path : "(null)", "bad argument to trace_open");
        if (out != NULL)
            *out = NULL;
        return TRACE_EARG;
    }
    *out = NULL;
    trace_reader *r = calloc(1, sizeof *r);
    if (r != NULL)
        r->path = strdup(strcmp(path, "-") == 0 ? "<stdin>" : path);
    if (r != NULL && r->path != NULL && opts->model_filter != NULL)
        r->model_filter = strdup(opts->model_filter);
    if (r == NULL || r->path == NULL || (opts->model_filter != NULL && r->model_filter == NULL)) {
        if (r != NULL)
            free(r->path);
        free(r);
        trace__err_early(err, errlen, path, "out of memory");
        return TRACE_ENOMEM;
    }
    for (size_t j = 0; j < TRACE__NCOLS; j++)
        r->col[j] = TRACE__NO_COLUMN;
    r->fd = -1;

    int rc = trace__open_stream(r, path);
    if (rc == 0)
        rc = trace__detect(r, fmt);
    if (rc == 0 && r->model_filter != NULL && r->fmt != TRACE_FORMAT_BURSTGPT)
        rc = trace__fail(r, TRACE_EARG, r->header_line > 0 ? r->header_line : 1,
                         "a model filter applies to burstgpt traces only (this trace is %s)",
                         trace_format_name(r->fmt));
    if (rc == 0 && !r->has_pending) {
        rc = trace__read_request(r, &r->pending);
        if (rc == 1) {
            r->has_pending = 1;
            rc = 0;
        } else if (rc == 0) {
            rc = trace__fail_no_requests(r);
        }
    }
    if (rc < 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s", r->errmsg);
        trace_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int trace_next(trace_reader *r, trace_request *req)
{
    if (r == NULL || req == NULL)
        return TRACE_EARG;
    if (r->err != 0)
        return r->err;
    if (r->has_pending) {
        *req = r->pending;
        r->has_pending = 0;
    } else {
        if (r->done)
            return 0;
        int rc = trace__read_request(r, req);
        if (rc <= 0) {
            r->done = rc == 0;
            return rc;
        }
    }
    req->index = r->counts.requests++;
    return 1;
}

const char *trace_errmsg(const trace_reader *r)
{
    return r != NULL ? r->errmsg : "";
}

trace_format trace_get_format(const trace_reader *r)
{
    return r != NULL ? r->fmt : TRACE_FORMAT_AUTO;
}

int trace_has_arrivals(const trace_reader *r)
{
    return r != NULL && r->fmt != TRACE_FORMAT_LENGTHS;
}

int trace_get_fields(const trace_reader *r)
{
    if (r == NULL)
        return 0;
    if (r->fmt == TRACE_FORMAT_MOONCAKE)
        return TRACE_FIELD_HASH_IDS;
    if (r->fmt != TRACE_FORMAT_KVSIM)
        return 0;
    return (r->col[TRACE__COL_HASH] != TRACE__NO_COLUMN ? TRACE_FIELD_HASH_IDS : 0) |
           (r->col[TRACE__COL_SESSION] != TRACE__NO_COLUMN ? TRACE_FIELD_SESSION : 0);
}

void trace_get_counts(const trace_reader *r, trace_counts *out)
{
    if (out == NULL)
        return;
    if (r == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = r->counts;
}

void trace_close(trace_reader *r)
{
    if (r == NULL)
        return;
    if (r->zs_ready)
        (void)inflateEnd(&r->zs);
    if (r->fd >= 0)
        close(r->fd);
    free(r->in);
    free(r->buf);
    free(r->fields);
    free(r->hash_ids);
    free(r->model_filter);
    free(r->path);
    free(r);
}
