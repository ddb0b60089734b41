/*
 * report_profile.h: a measured step profile (--step-profile) in the
 * summary: summary.json's "step_profile" object and the terminal's cost
 * line. Private to analysis/.
 */
#ifndef KVSIM_ANALYSIS_REPORT_PROFILE_H
#define KVSIM_ANALYSIS_REPORT_PROFILE_H

#include <stdio.h>

#include "analysis/report.h"

/* Writes `  "step_profile": {...},\n` when the run priced its steps with
 * a profile; nothing otherwise (the roofline's runs keep their keys). */
void an_write_profile_json(FILE *fp, const an_run_info *in);

/* Prints the terminal's "cost" line of a profiled run (nothing without). */
void an_print_profile(FILE *fp, const an_run_info *in);

#endif
