/*
 * kv_alloc.c: registry, precondition checks and shared accounting around
 * the strategies' ops tables (see kv_alloc.h for the categories).
 *
 * The wrappers keep three sums (used tokens, useful tokens, allocated
 * bytes) in O(1) per operation, so a breakdown costs O(1) whatever the
 * number of live sequences.
 */
#include "allocators/kv_alloc.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const kv_alloc_ops kv_paged_ops;
extern const kv_alloc_ops kv_contiguous_ops;
extern const kv_alloc_ops kv_vattn_ops;
extern const kv_alloc_ops kv_jemalloc_ops;

const kv_alloc_ops *const kv_strategies[] = {&kv_paged_ops, &kv_contiguous_ops, &kv_vattn_ops,
                                             &kv_jemalloc_ops, NULL};

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

const kv_alloc_ops *kv_find(const char *name)
{
    for (size_t i = 0; kv_strategies[i] != NULL; i++)
        if (strcmp(kv_strategies[i]->name, name) == 0)
            return kv_strategies[i];
    return NULL;
}

int kv_create(kv_alloc **out, const char *spec, const kv_pool_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    char name[32];
    const char *colon = strchr(spec, ':');
    size_t n = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
    if (n == 0 || n >= sizeof(name)) {
        snprintf(err, errlen, "--allocator: '%s' has no strategy name", spec);
        return KV_EARG;
    }
    memcpy(name, spec, n);
    name[n] = '\0';
    const kv_alloc_ops *ops = kv_find(name);
    if (ops == NULL) {
        char known[256] = "";
        for (size_t i = 0; kv_strategies[i] != NULL; i++) {
            strncat(known, i ? ", " : "", sizeof(known) - strlen(known) - 1);
            strncat(known, kv_strategies[i]->name, sizeof(known) - strlen(known) - 1);
        }
        snprintf(err, errlen, "--allocator: unknown strategy '%s' (known: %s)", name, known);
        return KV_EARG;
    }
    if (cfg->bytes_per_token == 0 || cfg->pool_bytes == 0) {
        snprintf(err, errlen, "KV pool is empty (%llu bytes, %llu bytes per token)",
                 (unsigned long long)cfg->pool_bytes, (unsigned long long)cfg->bytes_per_token);
        return KV_EARG;
    }
    kv_alloc *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return KV_ENOMEM;
    }
    a->ops = ops;
    a->cfg = *cfg;
    const char *params = colon != NULL ? colon + 1 : "";
    err[0] = '\0';
    int rc = ops->init(a, params, err, errlen);
    if (rc != 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "--allocator %s: out of memory for a %llu-byte pool", name,
                     (unsigned long long)cfg->pool_bytes);
        free(a);
        return rc;
    }
    snprintf(a->spec, sizeof(a->spec), "%s%s%s", name, *params ? ":" : "", params);
    *out = a;
    return 0;
}

void kv_destroy(kv_alloc *a)
{
    if (a == NULL)
        return;
    assert(a->totals.live_seqs == 0);
    a->ops->fini(a);
    free(a);
}

int kv_can_admit(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    return a->ops->can_admit(a, s, tokens);
}

bool kv_never_fits(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    return a->ops->never_fits != NULL ? a->ops->never_fits(a, s, tokens)
                                      : a->ops->can_admit(a, s, tokens) == KV_NEVER;
}

uint32_t kv_cached_tokens(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    return a->ops->cached != NULL && !s->live && tokens > 0 ? a->ops->cached(a, s, tokens) : 0;
}

uint64_t kv_grow_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    assert(s->live && tokens > s->cap_tokens);
    return a->ops->grow_bytes != NULL ? a->ops->grow_bytes(a, s, tokens) : UINT64_MAX;
}

bool kv_grow_uniform(const kv_alloc *a, kv_seq *const *seqs, const uint32_t *span, uint32_t n,
                     kv_grow_unit *unit)
{
    return a->ops->grow_unit != NULL && n > 0 && a->ops->grow_unit(a, seqs, span, n, unit);
}

void kv_grow_units(kv_alloc *a, kv_seq *const *seqs, uint32_t n, const kv_grow_unit *unit)
{
    /* kv_grow's sums over the N growths: each sequence is live and single
     * (grow_unit's promise), its useful slots min(cap, final). */
    a->totals.useful_tokens += a->ops->grow_units(a, seqs, n);
    a->totals.alloc_bytes += n * unit->bytes;
}

int kv_grow(kv_alloc *a, kv_seq *s, uint32_t tokens)
{
    if (kv_grow_is_noop(a, s, tokens))
        return KV_OK;
    uint64_t useful_before = s->live ? kv_seq_slots(s, min_u32(s->cap_tokens, s->final_tokens)) : 0;
    if (!s->live)
        s->shared_tokens = 0;
    uint64_t alloc_before = s->alloc_bytes;
    bool was_live = s->live;
    int rc = a->ops->grow(a, s, tokens);
    if (rc != KV_OK)
        return rc;
    assert(s->cap_tokens >= tokens);
    s->live = true;
    if (!was_live)
        a->totals.live_seqs++;
    a->totals.useful_tokens +=
        kv_seq_slots(s, min_u32(s->cap_tokens, s->final_tokens)) - useful_before;
    a->totals.alloc_bytes += s->alloc_bytes - alloc_before;
    return KV_OK;
}

void kv_release(kv_alloc *a, kv_seq *s)
{
    if (!s->live)
        return;
    a->totals.useful_tokens -= kv_seq_slots(s, min_u32(s->cap_tokens, s->final_tokens));
    a->totals.alloc_bytes -= s->alloc_bytes;
    a->totals.live_seqs--;
    a->ops->release(a, s); /* sees used_tokens: prefix caching keys what was computed */
    kv_set_used(a, s, 0);
    s->shared_tokens = 0;
    assert(s->cap_tokens == 0 && s->alloc_bytes == 0);
    s->live = false;
}

void kv_set_final(kv_alloc *a, kv_seq *s, uint32_t final_tokens)
{
    if (s->live) {
        a->totals.useful_tokens -= kv_seq_slots(s, min_u32(s->cap_tokens, s->final_tokens));
        a->totals.useful_tokens += kv_seq_slots(s, min_u32(s->cap_tokens, final_tokens));
    }
    s->final_tokens = final_tokens;
}

uint64_t kv_need_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    uint64_t need = a->ops->need_bytes(a, s, tokens);
    return need > 0 ? need : 1;
}

void kv_get_breakdown(const kv_alloc *a, uint64_t head_need_bytes, kv_breakdown *out)
{
    const kv_totals *t = &a->totals;
    uint64_t bpt = a->cfg.bytes_per_token;
    kv_space sp;
    a->ops->space(a, &sp);
    uint64_t useful = t->useful_tokens - t->dup_tokens, used = t->used_tokens - t->dup_tokens;
    /* The two categories that follow the used tokens (kv_breakdown_at_used). */
    out->token_states = used * bpt;
    out->reservation = (useful - used) * bpt;
    out->internal_frag = kv_allocated_bytes(a) - useful * bpt;
    /* Free space the strategy cannot hand out at all (e.g. the pool's tail
     * beyond the last whole block) is never in pool_bytes. */
    out->external_frag = out->blocked_free = 0;
    if (head_need_bytes > sp.free_bytes)
        out->blocked_free = sp.free_bytes;
    else if (head_need_bytes > sp.largest_free_bytes)
        out->external_frag = sp.free_bytes;
    out->free = sp.free_bytes - out->external_frag - out->blocked_free;
    /* Without a division where the free space is one extent (paged: always):
     * x / x is exactly 1, the index exactly 0. */
    out->ext_frag_index = sp.free_bytes && sp.largest_free_bytes != sp.free_bytes
                              ? 1.0 - (double)sp.largest_free_bytes / (double)sp.free_bytes
                              : 0.0;
}

int kv_check(const kv_alloc *a, char *err, size_t errlen)
{
    const kv_totals *t = &a->totals;
    kv_space sp;
    a->ops->space(a, &sp);
    if (t->dup_tokens > t->used_tokens || t->dup_bytes > t->alloc_bytes ||
        t->dup_bytes != t->dup_tokens * a->cfg.bytes_per_token) {
        snprintf(err, errlen, "shared-block counts %llu tokens, %llu bytes exceed the sums",
                 (unsigned long long)t->dup_tokens, (unsigned long long)t->dup_bytes);
        return -1;
    }
    if (t->used_tokens > t->useful_tokens) {
        snprintf(err, errlen, "used tokens %llu exceed useful tokens %llu",
                 (unsigned long long)t->used_tokens, (unsigned long long)t->useful_tokens);
        return -1;
    }
    if (t->useful_tokens * a->cfg.bytes_per_token > t->alloc_bytes) {
        snprintf(err, errlen, "useful bytes exceed allocated bytes %llu",
                 (unsigned long long)t->alloc_bytes);
        return -1;
    }
    if (kv_allocated_bytes(a) + sp.free_bytes != a->pool_bytes) {
        snprintf(err, errlen, "allocated %llu + free %llu != pool %llu",
                 (unsigned long long)kv_allocated_bytes(a), (unsigned long long)sp.free_bytes,
                 (unsigned long long)a->pool_bytes);
        return -1;
    }
    if (sp.largest_free_bytes > sp.free_bytes) {
        snprintf(err, errlen, "largest free extent %llu exceeds free bytes %llu",
                 (unsigned long long)sp.largest_free_bytes, (unsigned long long)sp.free_bytes);
        return -1;
    }
    /* Each way a blocked head can split the free space: none, external
     * fragmentation (when the free space is not one extent), blocked. */
    const uint64_t needs[3] = {0, sp.largest_free_bytes + 1, UINT64_MAX};
    for (int k = 0; k < 3; k++) {
        kv_breakdown b;
        kv_get_breakdown(a, needs[k], &b);
        uint64_t sum = b.token_states + b.reservation + b.internal_frag + b.external_frag +
                       b.blocked_free + b.free;
        if (sum != a->pool_bytes) {
            snprintf(err, errlen, "categories sum to %llu, pool is %llu (head needs %llu)",
                     (unsigned long long)sum, (unsigned long long)a->pool_bytes,
                     (unsigned long long)needs[k]);
            return -1;
        }
    }
    if (a->ops->check != NULL)
        return a->ops->check(a, err, errlen);
    return 0;
}

void kv_seq_free(kv_seq *s)
{
    assert(!s->live);
    free(s->blocks);
    s->blocks = NULL;
    free(s->keys);
    s->keys = NULL;
    s->num_keys = s->keys_cap = 0;
    s->blocks_cap = 0;
    s->num_blocks = 0;
}

int kv_param_choice(const char *strategy, const char *key, const char *val,
                    const char *const *names, char *err, size_t errlen)
{
    char known[256] = "";
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], val) == 0)
            return i;
        strncat(known, i ? ", " : "", sizeof(known) - strlen(known) - 1);
        strncat(known, names[i], sizeof(known) - strlen(known) - 1);
    }
    snprintf(err, errlen, "--allocator %s: %s='%s' (known: %s)", strategy, key, val, known);
    return -1;
}

int kv_param_next(const char **cursor, char *key, size_t keylen, char *val, size_t vallen)
{
    const char *p = *cursor;
    if (*p == '\0')
        return 0;
    const char *end = strchr(p, ',');
    if (end == NULL)
        end = p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (eq == NULL || eq == p || (size_t)(eq - p) >= keylen || (size_t)(end - eq - 1) >= vallen ||
        end == eq + 1)
        return KV_EARG;
    memcpy(key, p, (size_t)(eq - p));
    key[eq - p] = '\0';
    memcpy(val, eq + 1, (size_t)(end - eq - 1));
    val[end - eq - 1] = '\0';
    *cursor = *end == ',' ? end + 1 : end;
    return 1;
}
