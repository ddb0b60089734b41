/*
 * cli_gzip.c: a stdio stream that writes gzip (zlib's gz* functions
 * behind glibc's fopencookie, level 1: fast), so the metrics observer writes
 * requests.csv.gz with the same fprintf calls as requests.csv. Private to
 * cli/.
 */
#define _GNU_SOURCE

#include "cli/cli_gzip.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

typedef struct gz_cookie {
    gzFile gz;
    FILE *under; /* the output file's own stream, closed last */
} gz_cookie;

static ssize_t gz_write(void *c, const char *buf, size_t len)
{
    gz_cookie *g = c;
    /* gzwrite takes an unsigned length: write in pieces below 2^30. */
    size_t done = 0;
    while (done < len) {
        unsigned piece = (unsigned)(len - done < (1u << 30) ? len - done : (1u << 30));
        int n = gzwrite(g->gz, buf + done, piece);
        if (n <= 0)
            return done > 0 ? (ssize_t)done : -1;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int gz_close(void *c)
{
    gz_cookie *g = c;
    int rc = gzclose(g->gz) == Z_OK ? 0 : -1;
    if ((ferror(g->under) | fclose(g->under)) != 0)
        rc = -1;
    free(g);
    return rc;
}

FILE *cli_gzip_stream(FILE *under)
{
    gz_cookie *g = malloc(sizeof(*g));
    if (g == NULL)
        return NULL;
    fflush(under);
    int fd = dup(fileno(under));
    g->gz = fd >= 0 ? gzdopen(fd, "wb1") : NULL;
    if (g->gz == NULL) {
        if (fd >= 0)
            close(fd);
        free(g);
        return NULL;
    }
    g->under = under;
    cookie_io_functions_t io = {NULL, gz_write, NULL, gz_close};
    FILE *fp = fopencookie(g, "w", io);
    if (fp == NULL) {
        gzclose(g->gz);
        free(g);
        return NULL;
    }
    setvbuf(fp, NULL, _IOFBF, 1 << 18);
    return fp;
}
