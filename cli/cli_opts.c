/*
 * cli_opts.c: --goodput parsing and "did you mean"; see cli_opts.h.
 */
#include "cli/cli_opts.h"

#include "sim/catalog.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_goodput(const char *spec, an_slo *out, char *err, size_t errlen)
{
    out->ttft_s = out->tpot_s = out->e2el_s = -1;
    int given = 0;
    const char *p = spec;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        size_t len = strcspn(p, " ,");
        char pair[128];
        if (len >= sizeof(pair)) {
            snprintf(err, errlen, "'%.40s...' is too long for a KEY:MS pair", p);
            return -1;
        }
        memcpy(pair, p, len);
        pair[len] = '\0';
        p += len;
        char *colon = strchr(pair, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "'%s' is not KEY:MS (e.g. ttft:500)", pair);
            return -1;
        }
        *colon = '\0';
        double *dst = strcmp(pair, "ttft") == 0   ? &out->ttft_s
                      : strcmp(pair, "tpot") == 0 ? &out->tpot_s
                      : strcmp(pair, "e2el") == 0 ? &out->e2el_s
                                                  : NULL;
        if (dst == NULL) {
            snprintf(err, errlen, "unknown objective '%s' (known: ttft, tpot, e2el)", pair);
            return -1;
        }
        const char *v = colon + 1;
        char *end;
        errno = 0;
        double ms = strtod(v, &end);
        if (*v == '\0' || *end != '\0' || strpbrk(v, "xX") != NULL || isspace((unsigned char)*v) ||
            errno != 0 || !isfinite(ms) || ms < 0) {
            snprintf(err, errlen, "%s: '%s' is not a non-negative number of milliseconds", pair, v);
            return -1;
        }
        if (*dst >= 0) {
            snprintf(err, errlen, "%s given twice", pair);
            return -1;
        }
        *dst = ms / 1000.0;
        given++;
    }
    if (!given) {
        snprintf(err, errlen, "no objective given (e.g. ttft:500 tpot:50 e2el:10000)");
        return -1;
    }
    return 0;
}

static int is_prefix_ci(const char *word, const char *name)
{
    size_t n = strlen(word);
    if (n > strlen(name))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)word[i]) != tolower((unsigned char)name[i]))
            return 0;
    return 1;
}

const char *cli_did_you_mean(const char *word, const char *const *names, size_t n)
{
    size_t wl = strlen(word);
    size_t limit = wl / 3;
    if (limit < 1)
        limit = 1;
    if (limit > 4)
        limit = 4;
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t k = 0; k < n; k++) {
        size_t d = sim_edit_distance(word, names[k]);
        if (d < best_d) {
            best_d = d;
            best = names[k];
        }
    }
    /* A name the word begins is a better guess than a shorter name the
     * word extends ("--host-bw": --host-bw-gbps, not --host). */
    if (best != NULL && wl >= 3 && is_prefix_ci(best, word))
        for (size_t k = 0; k < n; k++)
            if (is_prefix_ci(word, names[k]))
                return names[k];
    if (best != NULL && best_d <= limit)
        return best;
    /* A word cut short ("--max-num" for "--max-num-seqs"). */
    for (size_t k = 0; k < n; k++)
        if (wl >= 3 && is_prefix_ci(word, names[k]))
            return names[k];
    return NULL;
}
