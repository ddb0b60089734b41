/*
 * cli_opts.h: small option helpers kept apart from run_config.c: vLLM's
 * --goodput syntax, and the "did you mean" suggestion for an unknown
 * option or name. Private to cli/.
 */
#ifndef KVSIM_CLI_CLI_OPTS_H
#define KVSIM_CLI_CLI_OPTS_H

#include <stddef.h>

#include "analysis/metrics.h"

/*
 * Parses goodput objectives as `vllm bench serve --goodput` takes them:
 * KEY:MS pairs, KEY one of ttft, tpot, e2el, MS a non-negative number of
 * milliseconds, separated by spaces or commas ("ttft:500 tpot:50"). Fills
 * *OUT in seconds (-1 for a key not given). Returns 0, or -1 with a
 * one-line ERR naming the pair and the reason (an unknown key, a bad or
 * negative value, a key given twice, nothing given).
 */
int cli_parse_goodput(const char *spec, an_slo *out, char *err, size_t errlen);

/*
 * The name among NAMES[0..N) closest to WORD by edit distance, or NULL
 * when none is close: a distance of at most a third of WORD's length (at
 * least 1, at most 4). A name that WORD is a prefix of (3+ characters)
 * also counts as close. Ties go to the first.
 */
const char *cli_did_you_mean(const char *word, const char *const *names, size_t n);

#endif
