/*
 * extents.c: sorted, coalescing free-extent list; see extents.h.
 */
#include "allocators/extents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kv_extents_init(kv_extents *x, uint64_t start, uint64_t len)
{
    x->cap = 16;
    x->ext = malloc(x->cap * sizeof(kv_extent));
    if (x->ext == NULL)
        return -1;
    x->n = 0;
    x->free = 0;
    if (len > 0) {
        x->ext[0].start = start;
        x->ext[0].len = len;
        x->n = 1;
        x->free = len;
    }
    return 0;
}

void kv_extents_fini(kv_extents *x)
{
    free(x->ext);
    x->ext = NULL;
    x->n = x->cap = 0;
}

int kv_extents_reserve(kv_extents *x, size_t more)
{
    if (x->n + more <= x->cap)
        return 0;
    size_t cap = x->cap;
    while (cap < x->n + more)
        cap *= 2;
    kv_extent *ne = realloc(x->ext, cap * sizeof(kv_extent));
    if (ne == NULL)
        return -1;
    x->ext = ne;
    x->cap = cap;
    return 0;
}

/* Removes [start, start + len) from extent I, which contains it. */
static void carve(kv_extents *x, size_t i, uint64_t start, uint64_t len)
{
    kv_extent *e = &x->ext[i];
    uint64_t before = start - e->start, after = e->start + e->len - (start + len);
    x->free -= len;
    if (before == 0 && after == 0) {
        memmove(&x->ext[i], &x->ext[i + 1], (x->n - i - 1) * sizeof(kv_extent));
        x->n--;
    } else if (before == 0) {
        e->start += len;
        e->len = after;
    } else if (after == 0) {
        e->len = before;
    } else {
        /* Split: room was reserved by the caller. */
        memmove(&x->ext[i + 2], &x->ext[i + 1], (x->n - i - 1) * sizeof(kv_extent));
        x->n++;
        e->len = before;
        x->ext[i + 1].start = start + len;
        x->ext[i + 1].len = after;
    }
}

int kv_extents_alloc(kv_extents *x, uint64_t len, uint64_t align, int fit, uint64_t *start)
{
    size_t pick = SIZE_MAX;
    uint64_t pick_at = 0;
    for (size_t i = 0; i < x->n; i++) {
        const kv_extent *e = &x->ext[i];
        uint64_t at = (e->start + align - 1) / align * align;
        if (at < e->start || at - e->start > e->len || e->len - (at - e->start) < len)
            continue;
        if (pick == SIZE_MAX || (fit == KV_FIT_BEST && e->len < x->ext[pick].len)) {
            pick = i;
            pick_at = at;
            if (fit == KV_FIT_FIRST)
                break;
        }
    }
    if (pick == SIZE_MAX)
        return -1;
    carve(x, pick, pick_at, len);
    *start = pick_at;
    return 0;
}

int kv_extents_alloc_at(kv_extents *x, uint64_t start, uint64_t len)
{
    for (size_t i = 0; i < x->n; i++) {
        const kv_extent *e = &x->ext[i];
        if (e->start <= start && start - e->start <= e->len && e->start + e->len - start >= len) {
            carve(x, i, start, len);
            return 0;
        }
        if (e->start > start)
            break;
    }
    return -1;
}

void kv_extents_free(kv_extents *x, uint64_t start, uint64_t len)
{
    size_t lo = 0, hi = x->n; /* first extent starting after START */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x->ext[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    bool left = lo > 0 && x->ext[lo - 1].start + x->ext[lo - 1].len == start;
    bool right = lo < x->n && start + len == x->ext[lo].start;
    x->free += len;
    if (left && right) {
        x->ext[lo - 1].len += len + x->ext[lo].len;
        memmove(&x->ext[lo], &x->ext[lo + 1], (x->n - lo - 1) * sizeof(kv_extent));
        x->n--;
    } else if (left) {
        x->ext[lo - 1].len += len;
    } else if (right) {
        x->ext[lo].start = start;
        x->ext[lo].len += len;
    } else {
        memmove(&x->ext[lo + 1], &x->ext[lo], (x->n - lo) * sizeof(kv_extent));
        x->ext[lo].start = start;
        x->ext[lo].len = len;
        x->n++;
    }
}

uint64_t kv_extents_largest(const kv_extents *x)
{
    uint64_t m = 0;
    for (size_t i = 0; i < x->n; i++)
        if (x->ext[i].len > m)
            m = x->ext[i].len;
    return m;
}

int kv_extents_check(const kv_extents *x, uint64_t limit, char *err, size_t errlen)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < x->n; i++) {
        const kv_extent *e = &x->ext[i];
        if (e->len == 0 || e->start + e->len > limit || e->start + e->len < e->start ||
            (i > 0 && x->ext[i - 1].start + x->ext[i - 1].len >= e->start)) {
            snprintf(err, errlen,
                     "free extent %zu [%llu, +%llu) is empty, out of range, overlapping or "
                     "unmerged",
                     i, (unsigned long long)e->start, (unsigned long long)e->len);
            return -1;
        }
        sum += e->len;
    }
    if (sum != x->free) {
        snprintf(err, errlen, "free extents hold %llu, counted %llu", (unsigned long long)sum,
                 (unsigned long long)x->free);
        return -1;
    }
    return 0;
}
