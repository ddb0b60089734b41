/*
 * merge_ends.c: the requests a merged run's step ends (sim/merge.c's
 * ends: those whose last step it is, and the next bound among the rest),
 * by a scan of the entries' last steps or, where those are in order, from
 * the first of them (sim/merge_int.h).
 */
#include "sim/merge_int.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

/* The scan of the N entries REQ of POOL whose last steps are LAST. */
void merge_ends_scan(const uint32_t *last, const uint32_t *req, const sim_req *pool, uint32_t n,
                     uint32_t k, merge_ends *e)
{
    uint32_t nend = 0, bound = UINT32_MAX, bound_n = 0, prev = 0;
    uint64_t end_used = 0, bound_base = 0;
    bool sorted = true;
    /* Four entries an iteration (a few compares each: the loop's own
     * count and test were an eighth of the scan; GCC and Clang both take
     * the pragma). */
#pragma GCC unroll 4
    for (uint32_t j = 0; j < n; j++) {
        uint32_t l = last[j];
        assert(l == merge_last_step(&pool[req[j]]));
        sorted &= l >= prev;
        prev = l;
        if (l == k) {
            if (nend < MERGE_ENDS_AT)
                e->at[nend] = j;
            nend++;
            end_used += merge_base(&pool[req[j]]);
            continue;
        }
        if (l < bound) {
            bound = l;
            bound_n = 0;
            bound_base = 0;
        }
        if (l == bound) {
            bound_n++;
            bound_base += merge_base(&pool[req[j]]);
        }
    }
    e->sorted = sorted;
    e->nend = nend;
    e->end_used = end_used;
    e->bound = bound;
    e->bound_n = bound_n;
    e->bound_base = bound_base;
}

/* merge_ends_scan where LAST is in order (nondecreasing, its least K):
 * those ending are its first entries, the next bound the one after them,
 * its entries those after it; O(those ending and the next bound's). */
void merge_ends_sorted(const uint32_t *last, const uint32_t *req, const sim_req *pool, uint32_t n,
                       uint32_t k, merge_ends *e)
{
    uint32_t j = 0, bound_n = 0;
    uint64_t end_used = 0, bound_base = 0;
    for (; j < n && last[j] == k; j++) {
        if (j < MERGE_ENDS_AT)
            e->at[j] = j;
        end_used += merge_base(&pool[req[j]]);
    }
    const uint32_t nend = j, bound = j < n ? last[j] : UINT32_MAX;
    for (; j < n && last[j] == bound; j++) {
        bound_n++;
        bound_base += merge_base(&pool[req[j]]);
    }
#ifndef NDEBUG
    merge_ends check;
    merge_ends_scan(last, req, pool, n, k, &check);
    assert(check.sorted && check.nend == nend && check.end_used == end_used &&
           check.bound == bound && check.bound_n == bound_n && check.bound_base == bound_base);
#endif
    e->sorted = true;
    e->nend = nend;
    e->end_used = end_used;
    e->bound = bound;
    e->bound_n = bound_n;
    e->bound_base = bound_base;
}
