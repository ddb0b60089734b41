/*
 * jemalloc.c: a general-purpose allocator managing device memory, as
 * frameworks that keep each sequence's KV in one tensor do.
 *
 * Each KV buffer is a mallocx() from a dedicated jemalloc arena whose
 * extent hooks carve a simulated device address range of the pool's size:
 * an mmap with MAP_NORESERVE, so nothing is committed until touched, and
 * KV buffers are never touched (an 80 GB pool costs a few MB of host
 * memory: jemalloc's own metadata, which lives in the range too, as it
 * would in device memory). Buffer sizes follow jemalloc's size classes
 * (four per doubling for large sizes), so rounding is internal
 * fragmentation; the arena's own layout decides when a buffer cannot be
 * placed although enough bytes are free (external fragmentation).
 *
 * Policies (reserve=):
 *   max     one buffer of the model's max length at admission;
 *   pow2    one buffer of the next power of two of the true final length;
 *   oracle  one buffer of the true final length;
 *   grow    a buffer for the prompt, grown as the sequence outgrows it:
 *           xallocx in place when the arena can, else a new buffer (the
 *           old one is freed; contents are never copied, since the
 *           simulation does not need them and copying would commit memory).
 *
 * The hooks manage the range as a coalescing free list. jemalloc's
 * "retain" option is turned off for the process (malloc_conf below): with
 * it, jemalloc never returns extents to the hooks and never merges extents
 * that came from different hook calls, so freed buffers could never form
 * larger ones again, unlike device memory.
 *
 * Determinism: the arena's decay is disabled (it runs on wall-clock time;
 * an allocation that fails purges the arena instead, and retries),
 * the thread cache is bypassed, and the range is aligned to 1 GiB, so the
 * same operations give the same layout in every run. One thing is still
 * random: a large buffer starts at a random cache-line offset inside its
 * first page (jemalloc's cache-oblivious placement, from a per-thread
 * generator seeded with an address and advanced by every large allocation
 * of the thread, kvsim's own included: it changes with address-space
 * randomisation, between threads, and with --no-merge-steps).
 * The live table therefore records a page-multiple buffer from the start of
 * its page, which is where its extent starts whatever the offset.
 *
 * check() cross-checks the sum of usable sizes with jemalloc's own
 * statistics (stats.arenas.<i>.{small,large}.allocated through mallctl).
 * The external fragmentation index takes the largest gap between live
 * buffers as the largest free extent.
 * Sources: jemalloc(3) manual, "EXTENT HOOKS" and "arena.<i>.*" sections.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE */

#include "allocators/extents.h"
#include "allocators/kv_alloc.h"

#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { RESERVE_MAX, RESERVE_POW2, RESERVE_ORACLE, RESERVE_GROW };

/* Read by jemalloc at start-up: an exception to "a strategy's only external
 * symbol is its table", because jemalloc looks this name up. One string
 * for the process, so it carries the heap's setting too: "thp:always",
 * transparent huge pages on jemalloc's own memory (MADV_HUGEPAGE where
 * the kernel's THP mode is madvise, as on Debian; nothing where it is
 * never). The replay's arrays are tens of MiB, faulted in 4 KiB at a
 * time otherwise (about 13 us a fault on this machine): side by side
 * (ten alternating runs each, 2026-12-02), the decode-heavy bench run
 * 0.146 -> 0.099 s of CPU (5,000 -> 1,400 faults), a million requests
 * 3.16 -> 2.67 s, the Azure 7B and 70B replays unchanged, 6 MiB more
 * resident; a sweep's workers, which allocate each run's heap again,
 * 246,000 -> 18,000 faults for 100 runs. The strategy's arena is
 * unaffected: its extents come from its own hooks, which jemalloc never
 * advises. */
const char *malloc_conf = "retain:false,thp:always";

#define RANGE_ALIGN ((uint64_t)1 << 30)

typedef struct jem {
    extent_hooks_t hooks; /* first: the hooks receive a pointer to it */
    unsigned arena;
    int flags;
    int reserve;
    char *map; /* the whole mapping */
    size_t map_len;
    char *base;     /* RANGE_ALIGN-aligned start of the simulated range */
    uint64_t range; /* bytes */
    kv_extents fl;  /* parts of the range jemalloc does not hold */
    /* Live buffers, for the largest free gap: a slot per buffer that stays
     * put for the buffer's life (len 0 = free slot, on free_slots); a
     * sequence keeps its slot index in kv_seq.num_blocks (unused by this
     * strategy otherwise). No pointers into the caller's kv_seq: the
     * caller may move it. */
    struct live {
        uint64_t start, len;
    } * live;
    uint32_t nlive, live_cap; /* slots in use or freed, and room */
    uint32_t *free_slots;
    uint32_t nfree_slots;
    uint64_t *scratch; /* starts, sorted in space() */
    uint64_t purges;
    uint64_t page; /* jemalloc's page size (arenas.page) */
} jem;

/* ---------------------------------------------------------- the hooks */

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t alignment,
                        bool *zero, bool *commit, unsigned arena_ind)
{
    (void)arena_ind;
    jem *j = (jem *)h;
    uint64_t start;
    if (new_addr != NULL) {
        /* jemalloc asks to extend an extent in place (xallocx). */
        start = (uint64_t)((char *)new_addr - j->base);
        if ((char *)new_addr < j->base || kv_extents_reserve(&j->fl, 1) != 0 ||
            kv_extents_alloc_at(&j->fl, start, size) != 0)
            return NULL;
    } else if (kv_extents_reserve(&j->fl, 1) != 0 ||
               kv_extents_alloc(&j->fl, size, alignment ? alignment : 4096, KV_FIT_FIRST, &start) !=
                   0) {
        return NULL;
    }
    *zero = true; /* never written: still zero pages */
    *commit = true;
    return j->base + start;
}

/* jemalloc gives an extent back (retain is off): the range takes it again,
 * merged with its free neighbours. */
static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed,
                        unsigned arena_ind)
{
    (void)committed, (void)arena_ind;
    jem *j = (jem *)h;
    if (kv_extents_reserve(&j->fl, 1) != 0)
        return true; /* opt out: jemalloc keeps it */
    kv_extents_free(&j->fl, (uint64_t)((char *)addr - j->base), size);
    return false;
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed,
                         unsigned arena_ind)
{
    hook_dalloc(h, addr, size, committed, arena_ind);
}

static bool hook_commit(extent_hooks_t *h, void *addr, size_t size, size_t offset, size_t length,
                        unsigned arena_ind)
{
    (void)h, (void)addr, (void)size, (void)offset, (void)length, (void)arena_ind;
    return false; /* success: the range is always readable and writable */
}

static bool hook_split(extent_hooks_t *h, void *addr, size_t size, size_t size_a, size_t size_b,
                       bool committed, unsigned arena_ind)
{
    (void)h, (void)addr, (void)size, (void)size_a, (void)size_b, (void)committed, (void)arena_ind;
    return false; /* success */
}

static bool hook_merge(extent_hooks_t *h, void *addr_a, size_t size_a, void *addr_b, size_t size_b,
                       bool committed, unsigned arena_ind)
{
    (void)h, (void)addr_a, (void)size_a, (void)addr_b, (void)size_b, (void)committed,
        (void)arena_ind;
    return false; /* success */
}

/* ------------------------------------------------------------- helpers */

static int arena_ctl(unsigned arena, const char *leaf, void *newp, size_t newlen)
{
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.%s", arena, leaf);
    return mallctl(name, NULL, NULL, newp, newlen);
}

static uint64_t arena_stat(unsigned arena, const char *leaf)
{
    char name[96];
    size_t v = 0, len = sizeof(v);
    snprintf(name, sizeof(name), "stats.arenas.%u.%s", arena, leaf);
    if (mallctl(name, &v, &len, NULL, 0) != 0)
        return UINT64_MAX;
    return v;
}

/* mallocx, and if the arena cannot place it, a purge and one retry: the
 * arena's dirty extents coalesce lazily, and with decay disabled only a
 * purge returns them (to the retained state, where neighbours merge). A
 * caching device allocator does the same on out-of-memory (PyTorch empties
 * its cache and retries). Triggered by simulated events, so deterministic. */
static void *alloc_or_purge(jem *j, size_t size)
{
    void *p = mallocx(size, j->flags);
    if (p == NULL) {
        arena_ctl(j->arena, "purge", NULL, 0);
        j->purges++;
        p = mallocx(size, j->flags);
    }
    return p;
}

/* ----------------------------------------------------------------- ops */

static void jem_fini(kv_alloc *a)
{
    jem *j = a->priv;
    if (j->arena != UINT32_MAX)
        arena_ctl(j->arena, "destroy", NULL, 0);
    if (j->map != NULL)
        munmap(j->map, j->map_len);
    free(j->live);
    free(j->scratch);
    free(j->free_slots);
    kv_extents_fini(&j->fl);
    free(j);
}

static int jem_init(kv_alloc *a, const char *params, char *err, size_t errlen)
{
    int reserve = RESERVE_GROW;
    char key[32], val[64];
    const char *cur = params;
    int rc;
    while ((rc = kv_param_next(&cur, key, sizeof(key), val, sizeof(val))) == 1) {
        if (strcmp(key, "reserve") != 0) {
            snprintf(err, errlen, "--allocator jemalloc: unknown parameter '%s' (known: reserve)",
                     key);
            return KV_EARG;
        }
        /* Names in the order of the RESERVE_* constants. */
        static const char *const reserves[] = {"max", "pow2", "oracle", "grow", NULL};
        if ((reserve = kv_param_choice("jemalloc", key, val, reserves, err, errlen)) < 0)
            return KV_EARG;
    }
    if (rc < 0) {
        snprintf(err, errlen,
                 "--allocator jemalloc: malformed parameters '%s' (want key=value,...)", params);
        return KV_EARG;
    }
    jem *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return KV_ENOMEM;
    j->arena = UINT32_MAX;
    j->reserve = reserve;
    j->range = a->cfg.pool_bytes / 4096 * 4096;
    j->map_len = (size_t)(j->range + RANGE_ALIGN);
    a->priv = j;
    void *m = mmap(NULL, j->map_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED || j->range == 0) {
        snprintf(err, errlen, "--allocator jemalloc: cannot reserve %llu bytes of address space",
                 (unsigned long long)j->map_len);
        if (m != MAP_FAILED)
            munmap(m, j->map_len);
        j->map = NULL;
        jem_fini(a);
        return KV_EARG;
    }
    j->map = m;
    j->base = j->map + (RANGE_ALIGN - (uint64_t)(uintptr_t)j->map % RANGE_ALIGN) % RANGE_ALIGN;
    if (kv_extents_init(&j->fl, 0, j->range) != 0) {
        jem_fini(a);
        return KV_ENOMEM;
    }
    j->hooks.alloc = hook_alloc;
    j->hooks.dalloc = hook_dalloc;
    j->hooks.destroy = hook_destroy;
    j->hooks.commit = hook_commit;
    j->hooks.split = hook_split;
    j->hooks.merge = hook_merge;
    extent_hooks_t *hp = &j->hooks;
    unsigned arena;
    size_t len = sizeof(arena);
    if (mallctl("arenas.create", &arena, &len, &hp, sizeof(hp)) != 0) {
        /* jemalloc takes its arena's metadata from the range itself
         * (the extent hooks): a pool too small for that fails here. */
        snprintf(err, errlen,
                 "--allocator jemalloc: jemalloc cannot make its arena in a %.2f MiB pool (its "
                 "own metadata lives there too): raise --num-blocks, --kv-pool-gib or "
                 "--gpu-memory-utilization",
                 (double)j->range / 1048576.0);
        jem_fini(a);
        return KV_EARG;
    }
    j->arena = arena;
    ssize_t never = -1;
    if (arena_ctl(arena, "dirty_decay_ms", &never, sizeof(never)) != 0 ||
        arena_ctl(arena, "muzzy_decay_ms", &never, sizeof(never)) != 0) {
        snprintf(err, errlen, "--allocator jemalloc: cannot configure arena %u", arena);
        jem_fini(a);
        return KV_EARG;
    }
    size_t page = 0;
    len = sizeof(page);
    if (mallctl("arenas.page", &page, &len, NULL, 0) != 0 || page == 0) {
        snprintf(err, errlen, "--allocator jemalloc: cannot read jemalloc's page size");
        jem_fini(a);
        return KV_EARG;
    }
    j->page = page;
    j->flags = (int)MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE;
    a->pool_bytes = j->range;
    return 0;
}

/* Bytes of the buffer a new sequence asks for. */
static uint64_t want_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const jem *j = a->priv;
    uint64_t n = j->reserve == RESERVE_MAX      ? a->cfg.max_model_len
                 : j->reserve == RESERVE_POW2   ? kv_next_pow2(s->final_tokens)
                 : j->reserve == RESERVE_ORACLE ? s->final_tokens
                                                : tokens;
    if (n < tokens)
        n = tokens;
    /* Parallel samples each get their own copy, in the same buffer. */
    return (n ? n : 1) * a->cfg.bytes_per_token * (s->samples > 1 ? s->samples : 1);
}

static int jem_can_admit(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const jem *j = a->priv;
    uint64_t want = want_bytes(a, s, tokens);
    if (want > j->range)
        return KV_NEVER;
    /* A large buffer's extent is its size class and a page more (the
     * cache-oblivious offset's room; large from 4 pages, jemalloc 5's
     * SC_LARGE_MINCLASS): past the range it never fits. */
    size_t cls = nallocx((size_t)want, j->flags);
    uint64_t extent = cls + (cls >= 4 * j->page ? j->page : 0);
    if (cls == 0 || extent > j->range)
        return KV_NEVER;
    /* Whether the arena can place it is known only by trying (its own
     * metadata lives in the range too): kv_grow may still answer
     * KV_NOSPACE, and the engine treats that as blocked. */
    uint64_t used = a->totals.alloc_bytes;
    return want <= j->range - used ? KV_OK : KV_NOSPACE;
}

/* One buffer of jemalloc's size class for what S asks (a new buffer when
 * a growing one cannot extend in place). */
static uint64_t jem_need_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const jem *j = a->priv;
    uint64_t want;
    if (!s->live)
        want = want_bytes(a, s, tokens);
    else if (tokens > s->cap_tokens && j->reserve == RESERVE_GROW)
        want = (uint64_t)tokens * a->cfg.bytes_per_token * (s->samples > 1 ? s->samples : 1);
    else
        return 0;
    size_t cls = want <= j->range ? nallocx((size_t)want, j->flags) : 0;
    return cls >= want ? cls : want;
}

/* Records S's buffer P (new or moved). The live table has room: grow()
 * reserved it before allocating. */
static void set_buffer(kv_alloc *a, kv_seq *s, void *p, bool was_live)
{
    jem *j = a->priv;
    size_t usable = sallocx(p, j->flags);
    uint64_t cap = usable / a->cfg.bytes_per_token / (s->samples > 1 ? s->samples : 1);
    s->offset = (uint64_t)(uintptr_t)p;
    s->alloc_bytes = usable;
    s->cap_tokens = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
    if (!was_live)
        s->num_blocks = j->nfree_slots > 0 ? j->free_slots[--j->nfree_slots] : j->nlive++;
    uint64_t start = (uint64_t)((char *)p - j->base);
    /* A large buffer (its size a page multiple) from its page's start: the
     * cache-oblivious offset is random (see Determinism above). */
    if (usable % j->page == 0)
        start -= start % j->page;
    j->live[s->num_blocks].start = start;
    j->live[s->num_blocks].len = usable;
}

static int reserve_live_slot(jem *j)
{
    if (j->nfree_slots > 0 || j->nlive < j->live_cap)
        return KV_OK;
    uint32_t cap = j->live_cap ? j->live_cap * 2 : 256;
    struct live *nl = realloc(j->live, cap * sizeof(*nl));
    if (nl == NULL)
        return KV_ENOMEM;
    j->live = nl;
    uint64_t *ns = realloc(j->scratch, cap * sizeof(uint64_t) * 2);
    if (ns == NULL)
        return KV_ENOMEM;
    j->scratch = ns;
    uint32_t *nf = realloc(j->free_slots, cap * sizeof(uint32_t));
    if (nf == NULL)
        return KV_ENOMEM;
    j->free_slots = nf;
    j->live_cap = cap;
    return KV_OK;
}

static int jem_grow(kv_alloc *a, kv_seq *s, uint32_t tokens)
{
    jem *j = a->priv;
    if (!s->live) {
        if (reserve_live_slot(j) != KV_OK)
            return KV_ENOMEM;
        uint64_t want = want_bytes(a, s, tokens);
        void *p = want <= j->range ? alloc_or_purge(j, (size_t)want) : NULL;
        if (p == NULL)
            return KV_NOSPACE;
        set_buffer(a, s, p, false);
        return KV_OK;
    }
    if (tokens <= s->cap_tokens)
        return KV_OK;
    if (j->reserve != RESERVE_GROW)
        return KV_NOSPACE; /* fixed reservations do not grow */
    void *old = (void *)(uintptr_t)s->offset;
    size_t want = (size_t)tokens * a->cfg.bytes_per_token * (s->samples > 1 ? s->samples : 1);
    if (xallocx(old, want, 0, j->flags) >= want) {
        set_buffer(a, s, old, true);
        return KV_OK;
    }
    void *p = alloc_or_purge(j, want);
    if (p == NULL)
        return KV_NOSPACE;
    dallocx(old, j->flags);
    set_buffer(a, s, p, true);
    return KV_OK;
}

static void jem_release(kv_alloc *a, kv_seq *s)
{
    jem *j = a->priv;
    dallocx((void *)(uintptr_t)s->offset, j->flags);
    j->live[s->num_blocks].len = 0;
    j->free_slots[j->nfree_slots++] = s->num_blocks;
    s->num_blocks = 0;
    s->offset = 0;
    s->alloc_bytes = 0;
    s->cap_tokens = 0;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void jem_space(const kv_alloc *a, kv_space *out)
{
    const jem *j = a->priv;
    out->free_bytes = j->range - a->totals.alloc_bytes;
    out->cached_bytes = 0;
    /* The largest gap between live buffers (and the range's ends): what a
     * contiguous buffer could get at most. jemalloc's metadata (a few MiB
     * in the range) counts as free here. O(n log n) in live buffers. */
    uint64_t *st = j->scratch;
    uint32_t n = 0;
    for (uint32_t i = 0; i < j->nlive; i++) {
        if (j->live[i].len == 0)
            continue;
        st[2 * n] = j->live[i].start;
        st[2 * n + 1] = j->live[i].len;
        n++;
    }
    /* Sort (start, len) pairs by start: pairs sort as 16-byte records
     * (none before the first buffer: SCRATCH is made with it). */
    if (n > 1)
        qsort(st, n, 2 * sizeof(uint64_t), cmp_u64);
    uint64_t largest = 0, at = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (st[2 * i] > at && st[2 * i] - at > largest)
            largest = st[2 * i] - at;
        if (st[2 * i] + st[2 * i + 1] > at)
            at = st[2 * i] + st[2 * i + 1];
    }
    if (j->range - at > largest)
        largest = j->range - at;
    out->largest_free_bytes = largest < out->free_bytes ? largest : out->free_bytes;
}

static int jem_check(const kv_alloc *a, char *err, size_t errlen)
{
    const jem *j = a->priv;
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);
    mallctl("epoch", &epoch, &len, &epoch, len);
    uint64_t small = arena_stat(j->arena, "small.allocated");
    uint64_t large = arena_stat(j->arena, "large.allocated");
    if (small == UINT64_MAX || large == UINT64_MAX)
        return 0; /* a jemalloc built without statistics: nothing to cross-check */
    if (small + large != a->totals.alloc_bytes) {
        snprintf(err, errlen, "jemalloc: arena %u holds %llu bytes, the accounting %llu", j->arena,
                 (unsigned long long)(small + large), (unsigned long long)a->totals.alloc_bytes);
        return -1;
    }
    if (kv_extents_check(&j->fl, j->range, err, errlen) != 0)
        return -1;
    if (j->range - j->fl.free < a->totals.alloc_bytes) {
        snprintf(err, errlen, "jemalloc: arena holds %llu bytes of the range, buffers %llu",
                 (unsigned long long)(j->range - j->fl.free),
                 (unsigned long long)a->totals.alloc_bytes);
        return -1;
    }
    return 0;
}

const kv_alloc_ops kv_jemalloc_ops = {
    .name = "jemalloc",
    .help = "mallocx from an arena over the pool: reserve=max|pow2|oracle|grow (grow)",
    .init = jem_init,
    .fini = jem_fini,
    .can_admit = jem_can_admit,
    .need_bytes = jem_need_bytes,
    .grow = jem_grow,
    .release = jem_release,
    .space = jem_space,
    .check = jem_check,
};
