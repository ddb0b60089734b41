/*
 * paged.c: vLLM's PagedAttention block manager (Kwon et al., SOSP 2023).
 *
 * The pool is cut into num_blocks blocks of `block` tokens for all layers
 * (block_bytes = block x bytes_per_token); the pool's tail beyond the last
 * whole block is not managed. Each sequence owns a block table; free blocks
 * sit on a LIFO stack. Admission keeps a watermark of free blocks
 * (int(watermark x num_blocks), as vLLM v0's BlockSpaceManager); growth
 * during decode ignores it and needs a block only when the last one is full
 * (block manager v2's exact check; v1 asked for a free block per running
 * sequence). Any free block serves any request, so there is
 * no external fragmentation index (largest free extent = all free space).
 *
 * Invariants (paged_check): every block is either on the free stack or in
 * exactly one block table; the free count plus the table lengths is
 * num_blocks; a table holds ceil(cap_tokens / block) blocks.
 *
 * Parameters: block=N (tokens per block, default 16).
 */
#include "allocators/kv_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct paged {
    uint32_t block_tokens;
    uint64_t block_bytes;
    uint32_t num_blocks;
    uint32_t watermark_blocks;
    uint32_t *free_stack; /* free block ids; top at free_stack[num_free - 1] */
    uint32_t num_free;
} paged;

static uint64_t blocks_for(const paged *p, uint64_t tokens)
{
    return (tokens + p->block_tokens - 1) / p->block_tokens;
}

static int paged_init(kv_alloc *a, const char *params, char *err, size_t errlen)
{
    uint64_t block = 16;
    char key[32], val[64];
    const char *cur = params;
    int rc;
    while ((rc = kv_param_next(&cur, key, sizeof(key), val, sizeof(val))) == 1) {
        if (strcmp(key, "block") == 0) {
            char *end;
            unsigned long long v = strtoull(val, &end, 10);
            if (*end != '\0' || val[0] == '-' || v == 0 || v > 65536) {
                snprintf(err, errlen, "--allocator paged: block='%s' must be 1..65536 tokens", val);
                return KV_EARG;
            }
            block = v;
        } else {
            snprintf(err, errlen, "--allocator paged: unknown parameter '%s' (known: block)", key);
            return KV_EARG;
        }
    }
    if (rc < 0) {
        snprintf(err, errlen, "--allocator paged: malformed parameters '%s' (want key=value,...)",
                 params);
        return KV_EARG;
    }
    paged *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return KV_ENOMEM;
    }
    p->block_tokens = (uint32_t)block;
    if (a->cfg.bytes_per_token > UINT64_MAX / block) {
        snprintf(err, errlen, "--allocator paged: a block of %llu tokens overflows",
                 (unsigned long long)block);
        free(p);
        return KV_EARG;
    }
    p->block_bytes = block * a->cfg.bytes_per_token;
    uint64_t n = a->cfg.num_blocks ? a->cfg.num_blocks : a->cfg.pool_bytes / p->block_bytes;
    if (n == 0 || n > UINT32_MAX - 1 || n > UINT64_MAX / p->block_bytes) {
        snprintf(err, errlen,
                 "KV pool of %llu bytes holds %llu blocks of %llu bytes; need 1..%u blocks",
                 (unsigned long long)a->cfg.pool_bytes, (unsigned long long)n,
                 (unsigned long long)p->block_bytes, UINT32_MAX - 1);
        free(p);
        return KV_EARG;
    }
    p->num_blocks = (uint32_t)n;
    /* vLLM: watermark_blocks = int(watermark * num_gpu_blocks), rounded down. */
    p->watermark_blocks = (uint32_t)(a->cfg.watermark * (double)n);
    p->free_stack = malloc(n * sizeof(uint32_t));
    if (p->free_stack == NULL) {
        snprintf(err, errlen, "out of memory for %llu block ids", (unsigned long long)n);
        free(p);
        return KV_ENOMEM;
    }
    /* Block 0 on top, so allocation order is 0, 1, 2, ... from a fresh pool. */
    for (uint32_t i = 0; i < p->num_blocks; i++)
        p->free_stack[i] = p->num_blocks - 1 - i;
    p->num_free = p->num_blocks;
    a->pool_bytes = (uint64_t)p->num_blocks * p->block_bytes;
    a->priv = p;
    return 0;
}

static void paged_fini(kv_alloc *a)
{
    paged *p = a->priv;
    free(p->free_stack);
    free(p);
}

static int paged_can_admit(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const paged *p = a->priv;
    uint64_t need = blocks_for(p, tokens);
    uint64_t have = s->live ? s->num_blocks : 0;
    /* As vLLM v0: never if even an empty pool would dip below the watermark. */
    if (need + p->watermark_blocks > p->num_blocks)
        return KV_NEVER;
    uint64_t extra = need > have ? need - have : 0;
    return p->num_free >= extra + p->watermark_blocks ? KV_OK : KV_NOSPACE;
}

static int paged_grow(kv_alloc *a, kv_seq *s, uint32_t tokens)
{
    paged *p = a->priv;
    uint64_t need = blocks_for(p, tokens);
    uint32_t have = s->live ? s->num_blocks : 0;
    if (need <= have) {
        s->cap_tokens = have * p->block_tokens;
        return KV_OK;
    }
    uint64_t extra = need - have;
    if (extra > p->num_free)
        return KV_NOSPACE;
    if (need > s->blocks_cap) {
        /* Host memory for the table: grows geometrically and is kept across
         * reuses of S, so steady state does no allocation. */
        uint64_t cap = s->blocks_cap ? s->blocks_cap : 8;
        while (cap < need)
            cap *= 2;
        uint32_t *nb = realloc(s->blocks, cap * sizeof(uint32_t));
        if (nb == NULL)
            return KV_ENOMEM;
        s->blocks = nb;
        s->blocks_cap = (uint32_t)cap;
    }
    for (uint64_t i = 0; i < extra; i++)
        s->blocks[have + i] = p->free_stack[--p->num_free];
    s->num_blocks = (uint32_t)need;
    s->cap_tokens = (uint32_t)(need * p->block_tokens);
    s->alloc_bytes = need * p->block_bytes;
    return KV_OK;
}

static void paged_release(kv_alloc *a, kv_seq *s)
{
    paged *p = a->priv;
    /* Push in reverse so the sequence's first block is reused first. */
    for (uint32_t i = s->num_blocks; i-- > 0;)
        p->free_stack[p->num_free++] = s->blocks[i];
    s->num_blocks = 0;
    s->cap_tokens = 0;
    s->alloc_bytes = 0;
}

static void paged_space(const kv_alloc *a, kv_space *out)
{
    const paged *p = a->priv;
    out->free_bytes = (uint64_t)p->num_free * p->block_bytes;
    out->largest_free_bytes = out->free_bytes;
}

static int paged_check(const kv_alloc *a, char *err, size_t errlen)
{
    const paged *p = a->priv;
    uint64_t in_tables = a->totals.alloc_bytes / p->block_bytes;
    if (in_tables * p->block_bytes != a->totals.alloc_bytes ||
        in_tables + p->num_free != p->num_blocks) {
        snprintf(err, errlen, "paged: %u free + %llu in tables != %u blocks", p->num_free,
                 (unsigned long long)in_tables, p->num_blocks);
        return -1;
    }
    /* Every free id is in range and appears once. O(num_blocks): tests only. */
    uint8_t *seen = calloc(p->num_blocks, 1);
    if (seen == NULL) {
        snprintf(err, errlen, "paged: out of memory in check");
        return -1;
    }
    int rc = 0;
    for (uint32_t i = 0; i < p->num_free && rc == 0; i++) {
        uint32_t b = p->free_stack[i];
        if (b >= p->num_blocks || seen[b]) {
            snprintf(err, errlen, "paged: free block %u %s", b,
                     b >= p->num_blocks ? "out of range" : "listed twice");
            rc = -1;
        } else {
            seen[b] = 1;
        }
    }
    free(seen);
    return rc;
}

const kv_alloc_ops kv_paged_ops = {
    .name = "paged",
    .help = "vLLM PagedAttention blocks: block=16 (tokens per block)",
    .init = paged_init,
    .fini = paged_fini,
    .can_admit = paged_can_admit,
    .grow = paged_grow,
    .release = paged_release,
    .space = paged_space,
    .check = paged_check,
};
