/*
 * plot_table.c: the CSV files plots are drawn from (timeseries.csv,
 * curves.csv, compare.csv), read whole into a table of strings; see
 * plot_int.h.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/plot_int.h"

/* ---- a CSV file as a table of strings ------------------------------- */

void plot_table_free(table *t)
{
    free(t->text);
    free(t->cell);
    free(t->header);
    free(t->line);
    memset(t, 0, sizeof(*t));
}

/* Splits LINE (NUL-terminated, modified) into at most MAX cells, quotes
 * ("a,b", "" for a quote) undone; returns the number of cells. */
static size_t split_csv(char *line, char **out, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return n;
        char *w = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    break;
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',')
                *w++ = *p++;
        }
        char end = *p;
        *w = '\0';
        out[n++] = start;
        if (end != ',')
            return n;
        p++;
    }
}

int plot_table_read(const char *path, table *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    t->text = malloc(cap + 1);
    for (;;) {
        if (t->text == NULL)
            break;
        size_t got = fread(t->text + len, 1, cap - len, fp);
        len += got;
        if (len < cap)
            break;
        cap *= 2;
        char *nt = realloc(t->text, cap + 1);
        if (nt == NULL) {
            free(t->text);
            t->text = NULL;
            break;
        }
        t->text = nt;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (t->text == NULL || bad) {
        snprintf(err, errlen, "%s: %s", path, bad ? "read error" : "out of memory");
        plot_table_free(t);
        return -1;
    }
    t->text[len] = '\0';
    /* Lines. */
    size_t nlines = 0;
    for (size_t i = 0; i < len; i++)
        nlines += t->text[i] == '\n';
    nlines++;
    char **lines = malloc(nlines * sizeof(char *));
    if (lines == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        plot_table_free(t);
        return -1;
    }
    /* Each kept line's number in the file (blank lines are skipped). */
    size_t *lineno = malloc(nlines * sizeof(size_t));
    if (lineno == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(lines);
        plot_table_free(t);
        return -1;
    }
    size_t nl = 0, at = 0;
    for (char *p = t->text; *p;) {
        char *e = strchr(p, '\n');
        if (e != NULL)
            *e = '\0';
        at++;
        if (e != NULL && e > p && e[-1] == '\r')
            e[-1] = '\0'; /* CRLF */
        if (*p) {
            lineno[nl] = at;
            lines[nl++] = p;
        }
        if (e == NULL)
            break;
        p = e + 1;
    }
    t->line = lineno;
    if (nl < 1) {
        snprintf(err, errlen, "%s: empty file", path);
        free(lines);
        plot_table_free(t);
        return -1;
    }
    char *hdr[4096];
    t->cols = split_csv(lines[0], hdr, 4096);
    t->header = malloc(t->cols * sizeof(char *));
    t->rows = nl - 1;
    t->cell = malloc((t->rows ? t->rows : 1) * t->cols * sizeof(char *));
    if (t->header == NULL || t->cell == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(lines);
        plot_table_free(t);
        return -1;
    }
    memcpy(t->header, hdr, t->cols * sizeof(char *));
    for (size_t r = 0; r < t->rows; r++) {
        size_t got = split_csv(lines[r + 1], t->cell + r * t->cols, t->cols);
        if (got != t->cols) {
            snprintf(err, errlen, "%s: line %zu: %zu fields, the header has %zu", path,
                     t->line[r + 1], got, t->cols);
            free(lines);
            plot_table_free(t);
            return -1;
        }
    }
    free(lines);
    /* A column of numbers with a cell that is not one (a hand edit) is
     * refused, never drawn without that point: a column is numbers where
     * most of its non-empty cells are (a column of names may hold a name
     * that reads as a number). */
    for (size_t c = 0; c < t->cols; c++) {
        size_t num = 0, text = 0, first_text = 0;
        for (size_t r = 0; r < t->rows; r++) {
            const char *s = t->cell[r * t->cols + c];
            if (*s == '\0')
                continue;
            char *end;
            (void)strtod(s, &end);
            if (*end == '\0') {
                num++;
            } else if (text++ == 0) {
                first_text = r;
            }
        }
        if (text > 0 && num > text) {
            snprintf(err, errlen, "%s: line %zu: column '%s': '%s' is not a number", path,
                     t->line[first_text + 1], t->header[c], t->cell[first_text * t->cols + c]);
            plot_table_free(t);
            return -1;
        }
    }
    return 0;
}

long plot_table_col(const table *t, const char *name)
{
    for (size_t c = 0; c < t->cols; c++)
        if (strcmp(t->header[c], name) == 0)
            return (long)c;
    return -1;
}

/* Cell (R, C) as a number; NAN when empty or not a number. */
double plot_table_num(const table *t, size_t r, long c)
{
    if (c < 0)
        return NAN;
    const char *s = t->cell[r * t->cols + (size_t)c];
    char *end;
    double v = strtod(s, &end);
    return (*s == '\0' || *end != '\0') ? NAN : v;
}
