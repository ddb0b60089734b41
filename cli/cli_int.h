/*
 * cli_int.h: the request-source options that `kvsim run`, `kvsim compare`,
 * `kvsim gen` and `kvsim trace stats` share (a trace or a workload spec,
 * and the transforms), and the run, gen, sweep, trace and model commands.
 * Private to cli/.
 */
#ifndef KVSIM_CLI_CLI_INT_H
#define KVSIM_CLI_CLI_INT_H

#include <stdint.h>

#include "workloads/source.h"

/* Source options as given (NULL when absent). */
typedef struct cli_source_opts {
    const char *trace, *format, *workload, *model_filter, *rate, *rate_scale, *limit, *time_window,
        *sample, *burstiness;
} cli_source_opts;

/* Help lines describing the options above (each line indented by 2). */
extern const char cli_source_help[];

/*
 * Opens the source O names (exactly one of --trace and --workload), wraps
 * it in the transforms, with every random stream seeded by SEED. CMD names
 * the command in messages. With ALLOW_NO_ARRIVALS a length table without
 * --rate is read with arrivals of 0 (statistics). A bad option value
 * prints one line and exits with status 2; a file that cannot be read
 * prints one line and returns 1; 0 with *OUT on success.
 */
int cli_source_open(const cli_source_opts *o, const char *cmd, uint64_t seed, int allow_no_arrivals,
                    wl_source **out);

/*
 * After SRC was read to its end: prints a warning line when its trace had
 * bytes after the gzip data (ignored, as gzip does), once per process.
 */
void cli_source_warn(const wl_source *src);

/*
 * If ARGV[*I] is one of the options above (--name VALUE or --name=VALUE),
 * stores its value in O, advances *I past a separate value and returns 1;
 * returns 0 for any other argument. Exits on a missing or repeated value.
 */
int cli_take_source_option(cli_source_opts *o, int argc, char **argv, int *i, const char *cmd);

/* `kvsim run` on its arguments after "run" (cli/cmd_run.c): the exit
 * status; exits itself on a bad option or an unreadable file. Its output
 * files wait for cli_out_commit (the caller's). */
int cmd_run(int argc, char **argv);

/* `kvsim gen`: writes a workload or a transformed trace as kvsim CSV. */
int cmd_gen(int argc, char **argv);

/* `kvsim sweep`: a run over a grid of option values and seeds, or the
 * highest load meeting objectives (cli/cmd_sweep.c). */
int cmd_sweep(int argc, char **argv);

/* `kvsim trace stats`: statistics of a trace (or a workload). */
int cmd_trace(int argc, char **argv);

/* `kvsim model NAME|PATH` (cmd_model.c): a model's structure without a run. */
int cmd_model(int argc, char **argv);

#endif
