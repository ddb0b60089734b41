/*
 * html_report.h: `kvsim report DIR -o report.html`: one self-contained
 * HTML page for the output folder of a run, a compare or a sweep (or an
 * SLO search): the configuration, the figures as tables, and the plots
 * embedded as SVG data (data: URIs, so the page needs no other file and
 * the plots' own element ids cannot clash).
 */
#ifndef KVSIM_ANALYSIS_HTML_REPORT_H
#define KVSIM_ANALYSIS_HTML_REPORT_H

#include <stddef.h>
#include <stdio.h>

/* What kind of folder DIR is: "run" (summary.json), "compare"
 * (compare.csv), "sweep" (curves.csv; "search" with find.json),
 * "searches" (find.csv: a search per point), or NULL when none of them. */
const char *an_report_kind(const char *dir);

/*
 * Writes the page for DIR to FP. Plots missing from DIR are drawn there
 * first (memory.svg from timeseries.csv, compare.svg from compare.csv,
 * the sweep's curves from curves.csv). Returns 0, or -1 with a one-line
 * ERR naming the file and the reason.
 */
int an_write_html_report(const char *dir, FILE *fp, char *err, size_t errlen);

#endif
