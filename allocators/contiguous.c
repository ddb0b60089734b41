/*
 * contiguous.c: one contiguous region per request, reserved at admission,
 * in a flat address space of the pool's size, as FasterTransformer and
 * Orca do (the vLLM paper's baselines, Kwon et al., SOSP 2023, Sec. 2.3
 * and Fig. 2).
 *
 * Addresses and sizes are in token slots (one slot = bytes_per_token
 * bytes for all layers); the pool holds floor(pool_bytes / bytes_per_token)
 * slots. A request's region is sized by the reservation policy:
 *   reserve=max     the model's max length (Orca-Max, FasterTransformer);
 *   reserve=pow2    the next power of two of the request's true final
 *                   length (Orca-Pow2: at most 2x over-reservation);
 *   reserve=oracle  exactly the true final length (Orca-Oracle).
 * and placed by:
 *   fit=buddy  binary buddy allocation (Knowlton 1965): sizes round up to
 *              a power of two; the pool is cut into maximal aligned
 *              power-of-two chunks (15,728 slots = 8192 + 4096 + 2048 +
 *              ...), and buddies merge only inside a chunk;
 *   fit=first  lowest-address free extent that fits, exact size;
 *   fit=best   smallest free extent that fits (ties: lowest address).
 * Regions never grow: a sequence longer than its region would need a new
 * one (it cannot happen when regions are sized from the true length or the
 * max length, which bounds every sequence). No watermark: the baselines
 * had none.
 *
 * Invariants (contig_check): free extents (or free buddy blocks) are
 * disjoint, inside the pool, and sum to free_slots; with the live regions
 * they tile the pool.
 */
#include "allocators/extents.h"
#include "allocators/kv_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RESERVE_MAX, RESERVE_POW2, RESERVE_ORACLE };
enum { FIT_BUDDY, FIT_FIRST, FIT_BEST };

typedef struct chunk {
    uint64_t start;
    uint32_t order;
} chunk;

enum { MAX_ORDER = 40 };

typedef struct contig {
    int reserve;
    int fit;
    uint64_t pool_slots;
    uint64_t free_slots;
    kv_extents fl; /* first / best fit: the free extents */
    /* buddy: a bitmap of free blocks per order, the pool's base chunks */
    uint64_t *bits[MAX_ORDER + 1];
    uint64_t nfree[MAX_ORDER + 1];
    chunk chunks[MAX_ORDER + 1];
    uint32_t nchunks;
    uint32_t top_order;
} contig;

static uint32_t log2_ceil(uint64_t x)
{
    uint32_t k = 0;
    while (((uint64_t)1 << k) < x)
        k++;
    return k;
}

/* ------------------------------------------------------------ buddy */

static bool bit_get(const contig *c, uint32_t k, uint64_t addr)
{
    uint64_t i = addr >> k;
    return (c->bits[k][i / 64] >> (i % 64)) & 1u;
}

static void bit_set(contig *c, uint32_t k, uint64_t addr, bool on)
{
    uint64_t i = addr >> k;
    uint64_t m = (uint64_t)1 << (i % 64);
    if (on) {
        c->bits[k][i / 64] |= m;
        c->nfree[k]++;
    } else {
        c->bits[k][i / 64] &= ~m;
        c->nfree[k]--;
    }
}

/* Lowest-address free block of order K (nfree[k] > 0). */
static uint64_t lowest_free(const contig *c, uint32_t k)
{
    uint64_t words = ((c->pool_slots >> k) + 64) / 64;
    for (uint64_t w = 0; w < words; w++) {
        uint64_t v = c->bits[k][w];
        if (v != 0) {
            uint32_t b = 0;
            while (!((v >> b) & 1u))
                b++;
            return ((w * 64) + b) << k;
        }
    }
    return UINT64_MAX; /* unreachable while nfree[k] > 0 */
}

static uint32_t chunk_order_at(const contig *c, uint64_t addr)
{
    for (uint32_t i = 0; i < c->nchunks; i++)
        if (addr >= c->chunks[i].start &&
            addr < c->chunks[i].start + ((uint64_t)1 << c->chunks[i].order))
            return c->chunks[i].order;
    return 0;
}

static int buddy_alloc(contig *c, uint32_t k, uint64_t *out)
{
    uint32_t j = k;
    while (j <= c->top_order && c->nfree[j] == 0)
        j++;
    if (j > c->top_order)
        return KV_NOSPACE;
    uint64_t addr = lowest_free(c, j);
    bit_set(c, j, addr, false);
    while (j > k) {
        j--;
        bit_set(c, j, addr + ((uint64_t)1 << j), true); /* the upper half stays free */
    }
    *out = addr;
    return KV_OK;
}

static void buddy_free(contig *c, uint64_t addr, uint32_t k)
{
    uint32_t limit = chunk_order_at(c, addr);
    while (k < limit) {
        uint64_t buddy = addr ^ ((uint64_t)1 << k);
        if (!bit_get(c, k, buddy))
            break;
        bit_set(c, k, buddy, false);
        addr &= ~((uint64_t)1 << k);
        k++;
    }
    bit_set(c, k, addr, true);
}

/* ------------------------------------------------------------- ops */

static void contig_fini(kv_alloc *a)
{
    contig *c = a->priv;
    for (uint32_t k = 0; k <= MAX_ORDER; k++)
        free(c->bits[k]);
    kv_extents_fini(&c->fl);
    free(c);
}

static int contig_init(kv_alloc *a, const char *params, char *err, size_t errlen)
{
    int reserve = RESERVE_MAX, fit = FIT_BUDDY;
    char key[32], val[64];
    const char *cur = params;
    int rc;
    while ((rc = kv_param_next(&cur, key, sizeof(key), val, sizeof(val))) == 1) {
        /* Names in the order of the RESERVE_* and FIT_* constants. */
        static const char *const reserves[] = {"max", "pow2", "oracle", NULL};
        static const char *const fits[] = {"buddy", "first", "best", NULL};
        if (strcmp(key, "reserve") == 0) {
            if ((reserve = kv_param_choice("contiguous", key, val, reserves, err, errlen)) < 0)
                return KV_EARG;
        } else if (strcmp(key, "fit") == 0) {
            if ((fit = kv_param_choice("contiguous", key, val, fits, err, errlen)) < 0)
                return KV_EARG;
        } else {
            snprintf(err, errlen,
                     "--allocator contiguous: unknown parameter '%s' (known: reserve, fit)", key);
            return KV_EARG;
        }
    }
    if (rc < 0) {
        snprintf(err, errlen,
                 "--allocator contiguous: malformed parameters '%s' (want key=value,...)", params);
        return KV_EARG;
    }
    uint64_t slots = a->cfg.pool_bytes / a->cfg.bytes_per_token;
    if (slots == 0 || slots >= ((uint64_t)1 << MAX_ORDER)) {
        snprintf(err, errlen, "--allocator contiguous: a pool of %llu token slots is not usable",
                 (unsigned long long)slots);
        return KV_EARG;
    }
    contig *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return KV_ENOMEM;
    c->reserve = reserve;
    c->fit = fit;
    c->pool_slots = slots;
    c->free_slots = slots;
    a->priv = c;
    a->pool_bytes = slots * a->cfg.bytes_per_token;
    if (fit == FIT_BUDDY) {
        uint64_t start = 0;
        for (int k = MAX_ORDER; k >= 0; k--) {
            if (slots - start >= ((uint64_t)1 << k)) {
                c->chunks[c->nchunks].start = start;
                c->chunks[c->nchunks].order = (uint32_t)k;
                c->nchunks++;
                if ((uint32_t)k > c->top_order)
                    c->top_order = (uint32_t)k;
                start += (uint64_t)1 << k;
            }
        }
        for (uint32_t k = 0; k <= c->top_order; k++) {
            c->bits[k] = calloc(((slots >> k) + 64) / 64, sizeof(uint64_t));
            if (c->bits[k] == NULL) {
                contig_fini(a);
                return KV_ENOMEM;
            }
        }
        for (uint32_t i = 0; i < c->nchunks; i++)
            bit_set(c, c->chunks[i].order, c->chunks[i].start, true);
    } else {
        if (kv_extents_init(&c->fl, 0, slots) != 0) {
            contig_fini(a);
            return KV_ENOMEM;
        }
    }
    return 0;
}

/* Slots a new region for S needs (before buddy rounding). */
static uint64_t region_slots(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const contig *c = a->priv;
    uint64_t n = c->reserve == RESERVE_MAX    ? a->cfg.max_model_len
                 : c->reserve == RESERVE_POW2 ? kv_next_pow2(s->final_tokens)
                                              : s->final_tokens;
    n = n > tokens ? n : (tokens ? tokens : 1);
    /* Parallel samples each get their own copy, in the same region. */
    return n * (s->samples > 1 ? s->samples : 1);
}

static int contig_can_admit(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const contig *c = a->priv;
    if (s->live)
        return tokens <= s->cap_tokens ? KV_OK : KV_NEVER;
    uint64_t n = region_slots(a, s, tokens);
    if (c->fit == FIT_BUDDY) {
        uint32_t k = log2_ceil(n);
        if (k > c->top_order)
            return KV_NEVER;
        for (uint32_t j = k; j <= c->top_order; j++)
            if (c->nfree[j] > 0)
                return KV_OK;
        return KV_NOSPACE;
    }
    if (n > c->pool_slots)
        return KV_NEVER;
    return kv_extents_largest(&c->fl) >= n ? KV_OK : KV_NOSPACE;
}

/* One free extent of the region's size (a buddy block of the rounded one). */
static uint64_t contig_need_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const contig *c = a->priv;
    if (s->live)
        return 0; /* regions never grow: it fits or never will */
    uint64_t n = region_slots(a, s, tokens);
    if (c->fit == FIT_BUDDY)
        n = (uint64_t)1 << log2_ceil(n);
    return n * a->cfg.bytes_per_token;
}

static int contig_grow(kv_alloc *a, kv_seq *s, uint32_t tokens)
{
    contig *c = a->priv;
    if (s->live)
        return tokens <= s->cap_tokens ? KV_OK : KV_NOSPACE;
    uint64_t n = region_slots(a, s, tokens);
    uint64_t start;
    int rc;
    if (c->fit == FIT_BUDDY) {
        uint32_t k = log2_ceil(n);
        if (k > c->top_order)
            return KV_NOSPACE;
        n = (uint64_t)1 << k;
        rc = buddy_alloc(c, k, &start);
    } else {
        /* Free extents never outnumber the live regions + 1 (they lie
         * between them): room for that many after this allocation, made
         * now, where failure can be reported, so releases never fail. */
        size_t most = (size_t)a->totals.live_seqs + 2;
        if (kv_extents_reserve(&c->fl, most > c->fl.n ? most - c->fl.n : 0) != 0)
            return KV_ENOMEM;
        rc = kv_extents_alloc(&c->fl, n, 1, c->fit == FIT_FIRST ? KV_FIT_FIRST : KV_FIT_BEST,
                              &start) == 0
                 ? KV_OK
                 : KV_NOSPACE;
    }
    if (rc != KV_OK)
        return rc;
    c->free_slots -= n;
    s->offset = start;
    uint64_t per_sample = n / (s->samples > 1 ? s->samples : 1);
    s->cap_tokens = (uint32_t)(per_sample > UINT32_MAX ? UINT32_MAX : per_sample);
    s->alloc_bytes = n * a->cfg.bytes_per_token;
    return KV_OK;
}

static void contig_release(kv_alloc *a, kv_seq *s)
{
    contig *c = a->priv;
    uint64_t n = s->alloc_bytes / a->cfg.bytes_per_token;
    if (c->fit == FIT_BUDDY) {
        buddy_free(c, s->offset, log2_ceil(n));
    } else {
        kv_extents_free(&c->fl, s->offset, n); /* cannot fail: grow reserved the room */
    }
    c->free_slots += n;
    s->cap_tokens = 0;
    s->alloc_bytes = 0;
}

static void contig_space(const kv_alloc *a, kv_space *out)
{
    const contig *c = a->priv;
    uint64_t largest = 0;
    if (c->fit == FIT_BUDDY) {
        for (uint32_t k = 0; k <= c->top_order; k++)
            if (c->nfree[k])
                largest = (uint64_t)1 << k;
    } else {
        largest = kv_extents_largest(&c->fl);
    }
    out->free_bytes = c->free_slots * a->cfg.bytes_per_token;
    out->largest_free_bytes = largest * a->cfg.bytes_per_token;
    out->cached_bytes = 0;
}

static int contig_check(const kv_alloc *a, char *err, size_t errlen)
{
    const contig *c = a->priv;
    uint64_t sum = 0;
    if (c->fit == FIT_BUDDY) {
        for (uint32_t k = 0; k <= c->top_order; k++) {
            uint64_t n = 0;
            for (uint64_t addr = 0; addr + ((uint64_t)1 << k) <= c->pool_slots;
                 addr += (uint64_t)1 << k)
                if (bit_get(c, k, addr)) {
                    n++;
                    if (k < chunk_order_at(c, addr) && bit_get(c, k, addr ^ ((uint64_t)1 << k))) {
                        snprintf(err, errlen,
                                 "contiguous: free buddies %llu and %llu at order %u "
                                 "not merged",
                                 (unsigned long long)addr,
                                 (unsigned long long)(addr ^ ((uint64_t)1 << k)), k);
                        return -1;
                    }
                }
            if (n != c->nfree[k]) {
                snprintf(err, errlen, "contiguous: order %u has %llu free blocks, counted %llu", k,
                         (unsigned long long)n, (unsigned long long)c->nfree[k]);
                return -1;
            }
            sum += n << k;
        }
    } else {
        if (kv_extents_check(&c->fl, c->pool_slots, err, errlen) != 0)
            return -1;
        sum = c->fl.free;
    }
    if (sum != c->free_slots) {
        snprintf(err, errlen, "contiguous: free lists hold %llu slots, counted %llu",
                 (unsigned long long)sum, (unsigned long long)c->free_slots);
        return -1;
    }
    return 0;
}

const kv_alloc_ops kv_contiguous_ops = {
    .name = "contiguous",
    .help = "one region per request: reserve=max|pow2|oracle (max), fit=buddy|first|best (buddy)",
    .init = contig_init,
    .fini = contig_fini,
    .can_admit = contig_can_admit,
    .need_bytes = contig_need_bytes,
    .grow = contig_grow,
    .release = contig_release,
    .space = contig_space,
    .check = contig_check,
};
