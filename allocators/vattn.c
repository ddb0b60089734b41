/*
 * vattn.c: vAttention (Prabhu et al., ASPLOS 2025, arXiv 2405.04437):
 * each request gets virtually contiguous K and V buffers per layer (the
 * virtual reservation costs no physical memory), and physical pages are
 * mapped into them on demand as the sequence grows.
 *
 * One page of one layer's K (or V) buffer holds
 *     tokens_per_page = floor(page / (kv_heads x head_dim x elem_bytes))
 * tokens. All 2 x layers buffers of a request grow together, so growth
 * maps 2 x layers pages at a time and a request of T tokens holds
 * 2 x layers x ceil(T / tokens_per_page) pages. The unused tail of its last
 * pages, and a page's bytes beyond tokens_per_page whole tokens, are
 * internal fragmentation. Pages are interchangeable (no external
 * fragmentation index). Admission keeps vLLM's watermark, as vAttention
 * runs under vLLM's scheduler.
 *
 * Parameters: page=64k|128k|256k|2m (default 2m: the CUDA driver's
 * granularity; the smaller sizes need vAttention's driver extension).
 * Not modelled: vAttention's eager page pre-allocation and deferred
 * reclamation, which hide mapping latency but not memory.
 */
#include "allocators/kv_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vattn {
    uint64_t page_bytes;
    uint64_t pages_per_group; /* 2 x layers */
    uint64_t group_bytes;
    uint32_t tokens_per_page;
    uint64_t groups;      /* managed pool, in groups of pages */
    uint64_t free_groups; /* pages / pages_per_group */
    uint64_t watermark_groups;
} vattn;

static int vattn_init(kv_alloc *a, const char *params, char *err, size_t errlen)
{
    uint64_t page = 2u << 20;
    char key[32], val[64];
    const char *cur = params;
    int rc;
    while ((rc = kv_param_next(&cur, key, sizeof(key), val, sizeof(val))) == 1) {
        if (strcmp(key, "page") != 0) {
            snprintf(err, errlen, "--allocator vattn: unknown parameter '%s' (known: page)", key);
            return KV_EARG;
        }
        static const char *const names[] = {"64k", "128k", "256k", "2m", NULL};
        static const uint64_t sizes[] = {64u << 10, 128u << 10, 256u << 10, 2u << 20};
        int k = kv_param_choice("vattn", key, val, names, err, errlen);
        if (k < 0)
            return KV_EARG;
        page = sizes[k];
    }
    if (rc < 0) {
        snprintf(err, errlen, "--allocator vattn: malformed parameters '%s' (want key=value,...)",
                 params);
        return KV_EARG;
    }
    const kv_pool_config *c = &a->cfg;
    double per_token_layer = (double)c->kv_heads * c->head_dim * c->kv_elem_bytes;
    if (c->layers == 0 || per_token_layer <= 0) {
        snprintf(err, errlen, "--allocator vattn: needs the model's layers, KV heads and head_dim");
        return KV_EARG;
    }
    uint64_t tpp = (uint64_t)((double)page / per_token_layer);
    if (tpp == 0) {
        snprintf(err, errlen,
                 "--allocator vattn: a %llu-byte page holds no token of one layer (%.0f bytes)",
                 (unsigned long long)page, per_token_layer);
        return KV_EARG;
    }
    vattn *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return KV_ENOMEM;
    v->page_bytes = page;
    v->pages_per_group = 2ull * c->layers;
    v->group_bytes = v->pages_per_group * page;
    v->tokens_per_page = (uint32_t)(tpp > UINT32_MAX ? UINT32_MAX : tpp);
    v->groups = c->pool_bytes / v->group_bytes;
    if (v->groups == 0) {
        snprintf(err, errlen,
                 "--allocator vattn: a pool of %llu bytes holds no group of %llu pages of %llu "
                 "bytes",
                 (unsigned long long)c->pool_bytes, (unsigned long long)v->pages_per_group,
                 (unsigned long long)page);
        free(v);
        return KV_EARG;
    }
    v->free_groups = v->groups;
    v->watermark_groups = (uint64_t)(c->watermark * (double)v->groups); /* as vLLM: floor */
    a->pool_bytes = v->groups * v->group_bytes;
    a->priv = v;
    return 0;
}

static void vattn_fini(kv_alloc *a)
{
    free(a->priv);
}

static uint64_t groups_for(const vattn *v, uint64_t tokens)
{
    return (tokens + v->tokens_per_page - 1) / v->tokens_per_page;
}

static uint64_t samples_of(const kv_seq *s)
{
    return s->samples > 1 ? s->samples : 1;
}

/* Groups S holds per sample (each parallel sample maps its own pages). */
static uint64_t held(const vattn *v, const kv_seq *s)
{
    return s->live ? s->alloc_bytes / v->group_bytes / samples_of(s) : 0;
}

static int vattn_can_admit(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const vattn *v = a->priv;
    uint64_t need = groups_for(v, tokens);
    if (need * samples_of(s) + v->watermark_groups > v->groups)
        return KV_NEVER;
    uint64_t have = held(v, s);
    uint64_t extra = (need > have ? need - have : 0) * samples_of(s);
    return v->free_groups >= extra + v->watermark_groups ? KV_OK : KV_NOSPACE;
}

static uint64_t vattn_need_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const vattn *v = a->priv;
    uint64_t need = groups_for(v, tokens), have = held(v, s);
    uint64_t extra = (need > have ? need - have : 0) * samples_of(s);
    return (extra + v->watermark_groups) * v->group_bytes;
}

static int vattn_grow(kv_alloc *a, kv_seq *s, uint32_t tokens)
{
    vattn *v = a->priv;
    uint64_t need = groups_for(v, tokens), have = held(v, s), n = samples_of(s);
    if (need > have) {
        if ((need - have) * n > v->free_groups)
            return KV_NOSPACE;
        v->free_groups -= (need - have) * n;
    } else {
        need = have;
    }
    uint64_t cap = need * v->tokens_per_page;
    s->cap_tokens = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
    s->alloc_bytes = need * n * v->group_bytes;
    return KV_OK;
}

/* vattn_grow's growth of a live S: its samples' groups of pages for
 * TOKENS beyond those it maps. */
static uint64_t vattn_grow_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const vattn *v = a->priv;
    uint64_t need = groups_for(v, tokens), have = held(v, s);
    return need > have ? (need - have) * samples_of(s) * v->group_bytes : 0;
}

static void vattn_release(kv_alloc *a, kv_seq *s)
{
    vattn *v = a->priv;
    v->free_groups += s->alloc_bytes / v->group_bytes;
    s->cap_tokens = 0;
    s->alloc_bytes = 0;
}

static void vattn_space(const kv_alloc *a, kv_space *out)
{
    const vattn *v = a->priv;
    out->free_bytes = v->free_groups * v->group_bytes;
    out->largest_free_bytes = out->free_bytes;
    out->cached_bytes = 0;
}

static int vattn_check(const kv_alloc *a, char *err, size_t errlen)
{
    const vattn *v = a->priv;
    if (a->totals.alloc_bytes % v->group_bytes != 0 ||
        a->totals.alloc_bytes / v->group_bytes + v->free_groups != v->groups) {
        snprintf(err, errlen, "vattn: %llu free + %llu mapped groups != %llu",
                 (unsigned long long)v->free_groups,
                 (unsigned long long)(a->totals.alloc_bytes / v->group_bytes),
                 (unsigned long long)v->groups);
        return -1;
    }
    return 0;
}

const kv_alloc_ops kv_vattn_ops = {
    .name = "vattn",
    .help = "vAttention: per-layer pages mapped on demand: page=64k|128k|256k|2m (2m)",
    .init = vattn_init,
    .fini = vattn_fini,
    .can_admit = vattn_can_admit,
    .need_bytes = vattn_need_bytes,
    .grow = vattn_grow,
    .grow_bytes = vattn_grow_bytes,
    .release = vattn_release,
    .space = vattn_space,
    .check = vattn_check,
};
