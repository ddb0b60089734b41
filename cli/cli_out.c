/*
 * cli_out.c: output files written to a temporary and renamed at the end;
 * see cli_out.h. The pending temporaries and the folders created are kept
 * in two growing lists (a handful of entries: compare writes at most three
 * files per strategy).
 */
#define _POSIX_C_SOURCE 200809L

#include "cli/cli_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/run_config.h"

/* A temporary file and the path it becomes. */
typedef struct cli_pending {
    char *tmp, *path;
} cli_pending;

static cli_pending *pending;
static size_t npending, cap_pending;
static char **made_dirs;
static size_t nmade, cap_made;
static unsigned long tmp_seq;

/* Appends ITEM to the list *LIST of *N entries (capacity *CAP). Returns 0 or -1. */
static int push(void **list, size_t *n, size_t *cap, size_t size, const void *item)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        void *p = realloc(*list, c * size);
        if (p == NULL)
            return -1;
        *list = p;
        *cap = c;
    }
    memcpy((char *)*list + *n * size, item, size);
    (*n)++;
    return 0;
}

int cli_out_create(const char *path)
{
    /* A name that can never be renamed over is refused before any work
     * is done, not at the commit after it. */
    struct stat st;
    int bad = path[0] == '\0' ? ENOENT : stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (bad != 0) {
        cli_error("%s: cannot create: %s", path[0] ? path : "''", strerror(bad));
        exit(1);
    }
    const char *slash = strrchr(path, '/');
    int dirlen = slash != NULL ? (int)(slash - path + 1) : 0;
    const char *base = path + dirlen;
    cli_pending p = {NULL, strdup(path)};
    int fd = -1;
    for (int tries = 0; p.path != NULL && fd < 0 && tries < 100; tries++) {
        char tmp[4096];
        if (snprintf(tmp, sizeof tmp, "%.*s.%s.kvsim-%ld-%lu", dirlen, path, base, (long)getpid(),
                     tmp_seq++) >= (int)sizeof tmp) {
            errno = ENAMETOOLONG;
            break;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666); /* none for a sweep's runs */
        if (fd >= 0 && (p.tmp = strdup(tmp)) == NULL) {
            close(fd);
            unlink(tmp);
            fd = -1;
            errno = ENOMEM;
            break;
        }
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd >= 0 && push((void **)&pending, &npending, &cap_pending, sizeof p, &p) != 0) {
        close(fd);
        unlink(p.tmp);
        fd = -1;
        errno = ENOMEM;
    }
    if (fd < 0) {
        int e = p.path == NULL ? ENOMEM : errno;
        free(p.tmp);
        free(p.path);
        cli_error("%s: cannot create: %s", path, strerror(e));
        exit(1);
    }
    return fd;
}

FILE *cli_out_fopen(const char *path)
{
    int fd = cli_out_create(path);
    FILE *fp = fdopen(fd, "w");
    if (fp == NULL) {
        cli_error("%s: cannot write: %s", path, strerror(errno));
        close(fd);
        exit(1);
    }
    return fp;
}

void cli_out_make_dirs(const char *dir)
{
    char path[4096];
    int e = 0;
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        e = ENAMETOOLONG;
    /* Each prefix ending at a '/', then the whole path. */
    for (char *p = path + 1; e == 0; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0777) == 0) {
            char *copy = strdup(path);
            if (copy == NULL || push((void **)&made_dirs, &nmade, &cap_made, sizeof copy, &copy)) {
                free(copy);
                rmdir(path);
                e = ENOMEM;
            }
        } else if (errno != EEXIST) {
            e = errno;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (e == 0 && stat(path, &st) != 0)
        e = errno;
    if (e == 0 && !S_ISDIR(st.st_mode))
        e = ENOTDIR;
    if (e != 0) {
        cli_error("--out: cannot create %s: %s", dir, strerror(e));
        exit(1);
    }
}

void cli_out_adopt(const char *path)
{
    cli_pending p = {strdup(path), strdup(path)};
    if (p.tmp == NULL || p.path == NULL ||
        push((void **)&pending, &npending, &cap_pending, sizeof p, &p) != 0) {
        free(p.tmp);
        free(p.path);
        unlink(path);
        cli_error("%s: out of memory", path);
        exit(1);
    }
}

/* The files kvsim's commands write at the top of an --out folder: run
 * (summary, requests, time series, memory plot), compare, sweep and
 * search (curves, latency plot, find.json or find.csv, a copy of standard
 * input). */
static const char *const known_outputs[] = {
    "summary.json", "requests.csv", "requests.csv.gz", "timeseries.csv", "memory.png",
    "memory.svg",   "compare.csv",  "compare.json",    "compare.png",    "compare.svg",
    "curves.csv",   "curves.json",  "curves.png",      "curves.svg",     "latency.png",
    "latency.svg",  "find.json",    "find.csv",        "stdin.trace"};

/* The command that writes known_outputs[K]: 0 run, 1 compare, 2 sweep. */
static int output_kind(size_t k)
{
    return k < 6 ? 0 : k < 10 ? 1 : 2;
}

/* Whether the --out folder already held this command's main file (a
 * folder kvsim wrote before: its stale files may go), and the files the
 * command reads, which never go (cli_out_keep). */
static bool out_reused;
static struct {
    dev_t dev;
    ino_t ino;
} kept[8];
static size_t nkept;

void cli_out_keep(const char *path)
{
    struct stat st;
    if (path != NULL && nkept < sizeof(kept) / sizeof(kept[0]) && stat(path, &st) == 0) {
        kept[nkept].dev = st.st_dev;
        kept[nkept].ino = st.st_ino;
        nkept++;
    }
}

void cli_out_check_kind(const char *dir, int kind, const char *cmd)
{
    static const char *const names[] = {"kvsim run", "kvsim compare", "kvsim sweep"};
    static const char *const main_file[][2] = {
        {"summary.json", NULL}, {"compare.csv", NULL}, {"curves.csv", NULL}};
    struct stat mst;
    char mpath[4200];
    out_reused = false;
    for (int m = 0; m < 2; m++)
        if (main_file[kind][m] != NULL &&
            snprintf(mpath, sizeof(mpath), "%s/%s", dir, main_file[kind][m]) < (int)sizeof(mpath) &&
            stat(mpath, &mst) == 0)
            out_reused = true;
    for (size_t k = 0; k < sizeof(known_outputs) / sizeof(known_outputs[0]); k++) {
        if (output_kind(k) == kind)
            continue;
        char path[4200];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, known_outputs[k]);
        if (stat(path, &st) == 0) {
            cli_error("%s: --out %s holds %s's files (%s): give another folder, or remove them",
                      cmd, dir, names[output_kind(k)], known_outputs[k]);
            exit(2);
        }
    }
}

int cli_out_remove_others(const char *dir, const char *const *mine, size_t n)
{
    /* Only in a folder kvsim had written this command's files to: a name
     * in a folder of the user's may be the user's own. */
    for (size_t k = 0; out_reused && k < sizeof(known_outputs) / sizeof(known_outputs[0]); k++) {
        size_t m = 0;
        while (m < n && strcmp(mine[m], known_outputs[k]) != 0)
            m++;
        if (m < n)
            continue;
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, known_outputs[k]);
        struct stat st;
        bool input = false;
        for (size_t i = 0; i < nkept && stat(path, &st) == 0; i++)
            input |= st.st_dev == kept[i].dev && st.st_ino == kept[i].ino;
        if (input)
            continue; /* a file this command read (a sweep's stdin.trace given as --trace) */
        if (unlink(path) != 0 && errno != ENOENT) {
            cli_error("%s: cannot remove an earlier command's file: %s", path, strerror(errno));
            return 1;
        }
    }
    return 0;
}

/* Frees the lists (the files and folders themselves stay). */
static void forget(void)
{
    for (size_t i = 0; i < npending; i++) {
        free(pending[i].tmp);
        free(pending[i].path);
    }
    for (size_t i = 0; i < nmade; i++)
        free(made_dirs[i]);
    free(pending);
    free(made_dirs);
    pending = NULL;
    made_dirs = NULL;
    npending = cap_pending = nmade = cap_made = 0;
}

int cli_out_commit(void)
{
    for (size_t i = 0; i < npending; i++) {
        if (rename(pending[i].tmp, pending[i].path) != 0) {
            cli_error("%s: cannot write: rename from %s: %s", pending[i].path, pending[i].tmp,
                      strerror(errno));
            /* Those renamed stay; the rest go. */
            for (size_t k = 0; k < i; k++) {
                free(pending[k].tmp);
                free(pending[k].path);
            }
            memmove(pending, pending + i, (npending - i) * sizeof *pending);
            npending -= i;
            cli_out_abort();
            return 1;
        }
    }
    forget();
    return 0;
}

void cli_out_abort(void)
{
    for (size_t i = npending; i-- > 0;)
        unlink(pending[i].tmp);
    for (size_t i = nmade; i-- > 0;)
        rmdir(made_dirs[i]);
    forget();
}
