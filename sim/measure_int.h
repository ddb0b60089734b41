/*
 * measure_int.h: private parts of the measurements reader, shared by
 * measure_csv.c (the CSV record reader), measure_names.c (the published-names
 * table and the conditions read from a row's free text) and measure.c (the
 * reader and the row mapping, which uses the other two). Not for other
 * folders.
 *
 * The data flow: measure.c hands the file's text to meas_csv_next record by
 * record; measure_names.c loads catalog/published_names.csv through the same
 * record reader; measure.c maps each record's names through meas_name_find
 * and reads the conditions the framework, build and notes texts state
 * through meas_flash_attn_in, meas_tp_of, meas_stddev_of, meas_memory_gb_of
 * and meas_split_mode_of. measure_csv.c and measure_names.c never call into
 * measure.c.
 */
#ifndef KVSIM_SIM_MEASURE_INT_H
#define KVSIM_SIM_MEASURE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------ CSV records (measure_csv.c) */

/* One record's fields, NUL-separated in BUF at offsets OFF. */
typedef struct meas_csv_rec {
    char *buf;
    size_t len, cap;
    size_t *off;
    size_t nf, fcap;
} meas_csv_rec;

/* What meas_csv_next returns: a record, the end of the text, or a failure. */
enum {
    MEAS_CSV_END = 0,
    MEAS_CSV_REC = 1,
    MEAS_CSV_UNTERMINATED = -1,
    MEAS_CSV_NUL = -2,
    MEAS_CSV_NOMEM = -3,
    MEAS_CSV_BAD = -4 /* the caller's verdict: a header or field count it refuses */
};

/* Field I of R, or "" when R has fewer fields. */
const char *meas_rec_get(const meas_csv_rec *r, size_t i);

/* Reads the RFC 4180 record at S[*POS..LEN) into R (contract in measure_csv.c). */
int meas_csv_next(meas_csv_rec *r, const char *s, size_t len, size_t *pos, uint32_t *line,
                  uint32_t *start);

/* True when the record is one empty field (a blank line). */
bool meas_rec_blank(const meas_csv_rec *r);

/* ------------------------------- published names, row texts (measure_names.c) */

/* One row of catalog/published_names.csv; the strings live until exit. */
typedef struct meas_pub_name {
    const char *kind, *published, *catalog, *notes;
} meas_pub_name;

/* The row's free text where conditions are stated: framework, build, notes. */
enum { MEAS_ROW_TEXTS = 3 };

/* Loads the embedded published_names.csv once: 1 loaded, -1 broken (reported on stderr). */
int meas_names_load(void);

/* The entry of KIND whose published text is PUBLISHED exactly, or NULL (also when broken). */
const meas_pub_name *meas_name_find(const char *kind, const char *published);

/* Flash attention over the row's texts: a statement of off wins, then on; else -1. */
int meas_flash_attn_in(const char *const texts[MEAS_ROW_TEXTS]);

/* "TP=4", "TP 4", "tp=4" in TEXT: the size, or 0 when not stated. */
uint32_t meas_tp_of(const char *text);

/* The spread "stddev +-N" in TEXT states: N, 0 when none. */
double meas_stddev_of(const char *text);

/* "host PCIe 3.0" in TEXT: that host link's rate per direction (bytes/s), 0 when none. */
double meas_host_link_of(const char *text);

/* The first "Mon YYYY" or "YYYY-MM-DD" in TEXT as YYYYMM, 0 when none. */
uint32_t meas_build_ym_of(const char *text);

/* "vMAJOR.MINOR[...]" at a word's start in TEXT: MAJOR x 100 + MINOR; 0
 * when none ("v0.6.1": 6; "v1.2": 102). */
uint32_t meas_version_of(const char *text);

/* "48GB", "80 GB" in a device text: the number, 0 when none. */
double meas_memory_gb_of(const char *text);

/* llama.cpp's multi-GPU split the row or its build states: "row", "layer", or NULL. */
const char *meas_split_mode_of(const char *const texts[MEAS_ROW_TEXTS]);

#endif
