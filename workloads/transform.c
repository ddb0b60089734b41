/*
 * transform.c: transforms of any source, as one wrapping wl_source
 * (source.h has the order and the definitions).
 *
 * The window relies on the source yielding arrivals in non-decreasing
 * order (trace readers raise earlier ones, generators emit in order), so
 * the first arrival at or past its end ends the stream without reading
 * the rest of the file. Requests are renumbered (index) in the order they
 * leave the wrapper; their line stays the source's.
 */
#include "workloads/wl_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wl_xform {
    wl_transforms t;
    wl_rng sample;
    uint64_t read, yielded;
    int done;
    char suffix[256];
} wl_xform;

/* A window or a sample that kept none of the requests read: an error, as
 * an empty trace is (a run of nothing would print an all-zero summary
 * and exit 0). */
static int xform_kept_none(wl_source *s, wl_xform *x)
{
    char what[160] = "";
    if (x->t.has_window)
        snprintf(what, sizeof(what), "the time window [%g, %g) s", x->t.window_start_s,
                 x->t.window_end_s);
    if (x->t.sample_p > 0 && x->t.sample_p < 1)
        snprintf(what + strlen(what), sizeof(what) - strlen(what), "%ssampling at %g",
                 what[0] ? " and " : "", x->t.sample_p);
    const char *path = wl_get_path(s->inner);
    if (x->read == 1)
        snprintf(s->err, WL_ERR_BYTES, "%s%s%s kept none of the 1 request read", path ? path : "",
                 path ? ": " : "", what);
    else
        snprintf(s->err, WL_ERR_BYTES, "%s%s%s kept none of the %llu requests read",
                 path ? path : "", path ? ": " : "", what, (unsigned long long)x->read);
    x->done = 1;
    return TRACE_EARG;
}

static int wl__xform_next(wl_source *s, trace_request *req)
{
    wl_xform *x = s->impl;
    if (x->done)
        return 0;
    for (;;) {
        if (x->t.limit > 0 && x->yielded >= x->t.limit) {
            x->done = 1;
            return 0;
        }
        int rc = wl_next(s->inner, req);
        if (rc == 0 && x->yielded == 0 && x->read > 0)
            return xform_kept_none(s, x);
        if (rc <= 0) {
            x->done = rc == 0;
            return rc;
        }
        x->read++;
        double a = req->arrival_s;
        if (x->t.has_window) {
            if (a < x->t.window_start_s)
                continue;
            if (a >= x->t.window_end_s) {
                if (x->yielded == 0)
                    return xform_kept_none(s, x);
                x->done = 1;
                return 0;
            }
            a -= x->t.window_start_s;
        }
        if (x->t.sample_p > 0 && x->t.sample_p < 1 && !(wl_rng_uniform(&x->sample) < x->t.sample_p))
            continue;
        if (x->t.rate_scale > 0 && x->t.rate_scale != 1)
            a /= x->t.rate_scale;
        req->arrival_s = a;
        req->index = x->yielded++;
        return 1;
    }
}

static void wl__xform_describe(const wl_source *s)
{
    const wl_xform *x = s->impl;
    snprintf(s->desc, WL_DESC_BYTES, "%s%s (kept %llu of %llu read)", wl_describe(s->inner),
             x->suffix, (unsigned long long)x->yielded, (unsigned long long)x->read);
}

static void wl__xform_counts(const wl_source *s, trace_counts *out)
{
    wl_get_counts(s->inner, out);
}

static void wl__xform_close(wl_source *s)
{
    free(s->impl);
}

static const wl_ops wl__xform_ops = {wl__xform_next, wl__xform_describe, wl__xform_counts, NULL,
                                     wl__xform_close};

int wl_apply_transforms(wl_source **s, const wl_transforms *t, char *err, size_t errlen)
{
    if (t->has_window && (!(t->window_start_s >= 0) || !(t->window_end_s > t->window_start_s) ||
                          !isfinite(t->window_start_s))) {
        snprintf(err, errlen, "time window: need 0 <= start < end (got %g:%g)", t->window_start_s,
                 t->window_end_s);
        return TRACE_EARG;
    }
    if (!(t->sample_p >= 0 && t->sample_p <= 1)) {
        snprintf(err, errlen, "sample: %g is not a probability in (0, 1]", t->sample_p);
        return TRACE_EARG;
    }
    if (!(t->rate_scale >= 0) || !isfinite(t->rate_scale)) {
        snprintf(err, errlen, "rate scale: %g is not a finite number > 0", t->rate_scale);
        return TRACE_EARG;
    }
    int sample = t->sample_p > 0 && t->sample_p < 1;
    int scale = t->rate_scale > 0 && t->rate_scale != 1;
    if (!t->has_window && !sample && !scale && t->limit == 0)
        return 0;
    wl_xform *x = calloc(1, sizeof *x);
    if (x == NULL) {
        snprintf(err, errlen, "out of memory");
        return TRACE_ENOMEM;
    }
    x->t = *t;
    wl_rng_seed(&x->sample, t->seed, WL_STREAM_SAMPLE);
    size_t n = 0;
    if (t->has_window)
        n += (size_t)snprintf(x->suffix + n, sizeof x->suffix - n,
                              "; window [%.9g, %.9g) s re-based to 0", t->window_start_s,
                              t->window_end_s);
    if (sample && n < sizeof x->suffix)
        n += (size_t)snprintf(x->suffix + n, sizeof x->suffix - n, "; sample %.9g", t->sample_p);
    if (scale && n < sizeof x->suffix)
        n += (size_t)snprintf(x->suffix + n, sizeof x->suffix - n, "; rate x%.9g", t->rate_scale);
    if (t->limit > 0 && n < sizeof x->suffix)
        snprintf(x->suffix + n, sizeof x->suffix - n, "; limit %llu", (unsigned long long)t->limit);
    wl_source *w = wl__source_new(&wl__xform_ops, x, wl_get_fields(*s));
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return TRACE_ENOMEM;
    }
    w->inner = *s;
    w->path = (*s)->path;
    w->no_arrivals = (*s)->no_arrivals;
    *s = w;
    return 0;
}
