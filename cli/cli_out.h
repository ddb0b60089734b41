/*
 * cli_out.h: output files that appear whole or not at all. Every file
 * kvsim writes (gen's output, run's and compare's --out files) is written
 * to a temporary file in the same folder, ".NAME.kvsim-PID-N", and renamed
 * over NAME by cli_out_commit when the command succeeded; rename within a
 * folder replaces the old file atomically (POSIX). So a command that fails
 * leaves no partial file and keeps an existing one as it was: cli_out_abort
 * unlinks the temporaries and removes the folders cli_out_make_dirs
 * created, and kvsim.c runs it at exit unless the command committed.
 * Replacing a file gives it a new inode with default permissions. Private
 * to cli/.
 */
#ifndef KVSIM_CLI_CLI_OUT_H
#define KVSIM_CLI_CLI_OUT_H

#include <stdio.h>

/*
 * Creates a temporary file for PATH in PATH's folder and returns a file
 * descriptor open for writing, owned by the caller. Exits with status 1
 * after a one-line message naming PATH when it cannot be created.
 */
int cli_out_create(const char *path);

/* As cli_out_create, wrapped in a stdio stream (close with fclose). */
FILE *cli_out_fopen(const char *path);

/*
 * Creates DIR and its missing parents (mkdir -p), remembering those it
 * created for cli_out_abort. Exits with status 1 after a message.
 */
void cli_out_make_dirs(const char *dir);

/*
 * Takes PATH, a file the command wrote under its own name (one its runs
 * read while it works), as its own output: kept by cli_out_commit (a
 * rename onto itself), removed by cli_out_abort. Exits with status 1
 * after a message (PATH removed) when out of memory.
 */
void cli_out_adopt(const char *path);

/*
 * Renames every temporary over its file, in the order they were created.
 * Returns 0, or 1 after a one-line message (then the files not yet renamed
 * are removed as by cli_out_abort).
 */
int cli_out_commit(void);

/*
 * Exits with status 2 and a one-line message (CMD: ...) when DIR holds a
 * file another command writes (KIND: 0 run, 1 compare, 2 sweep or
 * search): a folder's files are read as one command's (kvsim report, kvsim
 * plot), so one command's outputs are never written beside another's.
 */
void cli_out_check_kind(const char *dir, int kind, const char *cmd);

/* PATH is a file the command reads: cli_out_remove_others leaves it. */
void cli_out_keep(const char *path);

/*
 * After a command's files are committed (and its plots drawn): removes
 * from DIR every file another kvsim command (or this one with other
 * options) writes there that is not among MINE[0..N), the names this
 * command wrote; kvsim report and plot take a folder's files as one
 * command's (a plot left by an earlier run beside this run's tables, a
 * search's find.json beside a sweep's curves). Only those names are
 * touched, only where cli_out_check_kind found this command's main file
 * (summary.json, compare.csv or curves.csv) already there, and
 * never a file given to cli_out_keep. Returns 0, or 1 after a one-line
 * message.
 */
int cli_out_remove_others(const char *dir, const char *const *mine, size_t n);

/*
 * Unlinks the temporaries not committed and removes the folders
 * cli_out_make_dirs created (those left empty), newest first. A no-op
 * after cli_out_commit.
 */
void cli_out_abort(void);

#endif
