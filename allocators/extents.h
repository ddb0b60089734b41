/*
 * extents.h: a free list of address extents for strategies that place
 * variable-size regions in a flat address space (contiguous first/best
 * fit, the jemalloc strategy's device range). Extents are kept sorted by
 * start and merged with their neighbours when freed, so free space is
 * always maximal runs. Private to allocators/.
 *
 * Costs: O(n) per allocation (a scan) and per free (a move), n = free
 * extents, which is at most live regions + 1.
 */
#ifndef KVSIM_ALLOCATORS_EXTENTS_H
#define KVSIM_ALLOCATORS_EXTENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kv_extent {
    uint64_t start;
    uint64_t len;
} kv_extent;

typedef struct kv_extents {
    kv_extent *ext; /* sorted by start, disjoint, never adjacent */
    size_t n;
    size_t cap;
    uint64_t free; /* sum of lengths */
} kv_extents;

enum { KV_FIT_FIRST, KV_FIT_BEST };

/* One free extent [start, start + len). Returns 0, or -1 when out of memory. */
int kv_extents_init(kv_extents *x, uint64_t start, uint64_t len);
void kv_extents_fini(kv_extents *x);

/* Makes room for MORE extra extents, so the next MORE frees cannot fail.
 * Returns 0, or -1 when out of memory. */
int kv_extents_reserve(kv_extents *x, size_t more);

/* Takes LEN units aligned to ALIGN (>= 1) from the first (lowest address)
 * or best (smallest, then lowest) extent that holds them. Returns 0 with
 * *START, or -1 when none does (nothing changed). May need one extent of
 * room (a split in the middle): call kv_extents_reserve first. */
int kv_extents_alloc(kv_extents *x, uint64_t len, uint64_t align, int fit, uint64_t *start);

/* Takes exactly [START, START + LEN) if it is free. Returns 0, or -1. */
int kv_extents_alloc_at(kv_extents *x, uint64_t start, uint64_t len);

/* Returns [START, START + LEN) (not free now) to the list, merging it with
 * its neighbours. Needs one extent of room: call kv_extents_reserve first. */
void kv_extents_free(kv_extents *x, uint64_t start, uint64_t len);

/* The longest free extent. */
uint64_t kv_extents_largest(const kv_extents *x);

/* Checks order, disjointness, merging and the free sum, within [0, LIMIT).
 * Returns 0, or -1 with ERR. */
int kv_extents_check(const kv_extents *x, uint64_t limit, char *err, size_t errlen);

#endif
