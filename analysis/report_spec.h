/*
 * report_spec.h: the speculative-decoding and format parts of the
 * summary (summary.json's "speculative" object, the terminal's spec
 * lines), apart from report.c. Private to analysis/.
 */
#ifndef KVSIM_ANALYSIS_REPORT_SPEC_H
#define KVSIM_ANALYSIS_REPORT_SPEC_H

#include <stdio.h>

#include "analysis/report.h"

/* Writes `  "kv_window": {...},\n` when the KV format keeps a KIVI fp16
 * window and `  "speculative": {...},\n` when the run speculated; nothing
 * otherwise (summary.json keeps its keys for runs without them). */
void an_write_spec_json(FILE *fp, const an_run_info *in);

/* Prints the spec lines of the terminal summary (nothing without it). */
void an_print_spec(FILE *fp, const an_run_info *in);

#endif
