/*
 * report.h: the run's summary as JSON (summary.json, stable keys
 * documented in the README) and as a readable terminal summary.
 */
#ifndef KVSIM_ANALYSIS_REPORT_H
#define KVSIM_ANALYSIS_REPORT_H

#include <stdio.h>

#include "analysis/metrics.h"
#include "sim/engine.h"

typedef struct an_run_info {
    const sim_config *cfg;
    const sim_result *res;
    const an_metrics *metrics;
    const char *source; /* what was replayed */
    double wall_s;      /* host time: the only field that varies between identical runs */
} an_run_info;

/* Writes summary.json to FP. Returns 0, or -1 on a write error. */
int an_write_summary_json(FILE *fp, const an_run_info *info);

/* Prints the readable summary to FP. */
void an_print_summary(FILE *fp, const an_run_info *info);

/* Writes S to FP as a JSON string (quotes, backslashes and control
 * characters escaped). */
void an_json_str(FILE *fp, const char *s);

/* Writes S to FP as one RFC 4180 CSV cell: quoted, inner quotes doubled,
 * when it holds a comma, a quote or a line break. */
void an_csv_cell(FILE *fp, const char *s);

#endif
