/*
 * test_proc.h: what the tests that run the kvsim binary share: a shell
 * command run from the source directory with its output captured, the
 * binary itself run that way, whole files read back, lines counted.
 * Include after <cmocka.h> (failures go through fail_msg) with
 * _POSIX_C_SOURCE defined (popen).
 */
#ifndef KVSIM_TESTS_TEST_PROC_H
#define KVSIM_TESTS_TEST_PROC_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs sh -c "cd SOURCE_DIR && { CMD; }" (KVSIM_SOURCE_DIR, else the
 * current directory), its standard output, and its standard error too
 * with WITH_STDERR, into BUF (LEN bytes, NUL-terminated, cut when
 * longer). Returns the exit status, -1 when killed by a signal. */
static inline int test_sh(const char *cmd, char *buf, size_t len, bool with_stderr)
{
    const char *dir = getenv("KVSIM_SOURCE_DIR");
    size_t need = strlen(cmd) + strlen(dir ? dir : ".") + 32;
    char *full = malloc(need);
    assert_non_null(full);
    snprintf(full, need, "cd '%s' && { %s; }%s", dir ? dir : ".", cmd, with_stderr ? " 2>&1" : "");
    FILE *p = popen(full, "r");
    free(full);
    assert_non_null(p);
    size_t n = fread(buf, 1, len - 1, p);
    buf[n] = '\0';
    while (n == len - 1 && fgetc(p) != EOF) /* the rest, unread, lest the writer block */
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs the kvsim binary (KVSIM_BIN, else kvsim on the path) with ARGS,
 * words for the shell, as test_sh does, standard error with its output.
 * Under LeakSanitizer with a suppressions file the table of suppressions
 * used (fontconfig's font cache, tests/lsan.supp) would join the output
 * that tests compare: print_suppressions=0 leaves it out (leaks are still
 * reported). */
static inline int test_kvsim(const char *args, char *buf, size_t len)
{
    const char *bin = getenv("KVSIM_BIN");
    static const char env[] =
        "LSAN_OPTIONS=\"${LSAN_OPTIONS:+$LSAN_OPTIONS,}print_suppressions=0\" ";
    size_t need = strlen(args) + strlen(bin ? bin : "kvsim") + sizeof(env) + 8;
    char *cmd = malloc(need);
    assert_non_null(cmd);
    snprintf(cmd, need, "%s'%s' %s", env, bin ? bin : "kvsim", args);
    int rc = test_sh(cmd, buf, len, true);
    free(cmd);
    return rc;
}

/* The whole of file PATH in a malloc'd string (the caller frees it), *LEN
 * its size when LEN is not NULL; fails the test when it cannot be read. */
static inline char *test_slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        fail_msg("cannot read %s", path);
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    while ((got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
    }
    fclose(fp);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* test_slurp of DIR/NAME. */
static inline char *test_slurp_in(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return test_slurp(path, len);
}

/* Removes the value of summary.json's "wall_s" (a wall-clock time, the
 * one figure that differs between identical runs, of any length) from
 * JSON, in place; fails the test when it has none. */
static inline void test_drop_wall(char *json)
{
    char *w = strstr(json, "\"wall_s\": ");
    assert_non_null(w);
    w += 10;
    char *end = w;
    while (*end != '\0' && *end != ',' && *end != '}')
        end++;
    memmove(w, end, strlen(end) + 1);
}

/* Newlines in S. */
static inline int test_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

#endif
