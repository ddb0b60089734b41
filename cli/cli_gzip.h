/*
 * cli_gzip.h: gzip output through a stdio stream. Private to cli/.
 */
#ifndef KVSIM_CLI_CLI_GZIP_H
#define KVSIM_CLI_CLI_GZIP_H

#include <stdio.h>

/* A stream whose bytes reach UNDER gzip-compressed. Closing it (fclose)
 * finishes the gzip data and closes UNDER; its result is non-zero when
 * either failed. Returns NULL when out of memory (UNDER stays open). */
FILE *cli_gzip_stream(FILE *under);

#endif
