/*
 * trace_azure.c: the Azure LLM inference traces (Azure/AzurePublicDataset,
 * AzureLLMInferenceTrace_{code,conv}.csv from the Splitwise paper, 2023,
 * and the week-long 2024 traces, CC-BY-4.0).
 *
 * Header `TIMESTAMP,ContextTokens,GeneratedTokens` (case-insensitive, any
 * order, extra columns ignored). Timestamps are wall-clock:
 *   2023: `2023-11-16 18:15:46.6805900` (7 fractional digits, no zone);
 *   2024: `2024-05-10 00:00:00.009930+00:00`, some rows with no fraction.
 * Accepted: `YYYY-MM-DD[ T]HH:MM:SS[.f{1,9}][Z|(+|-)HH:MM|(+|-)HHMM]`; a
 * zone offset is subtracted to get UTC. The date is turned into a day count
 * arithmetically (days_from_civil, H. Hinnant, "chrono-Compatible Low-Level
 * Date Algorithms"), so the result does not depend on the host's time zone
 * or mktime. A time is kept as integer seconds plus nanoseconds, and the
 * arrival is (seconds - first seconds) + (ns - first ns) / 1e9: a double of
 * absolute epoch seconds (~1.7e9) would keep only ~7 fractional digits, so
 * the 7th digit of the 2023 traces would be lost.
 *
 * Arrivals are seconds since the first row's timestamp (the first is 0.0);
 * a row earlier than the one before is raised and counted (trace_rows.c).
 */
#include "traces/trace_int.h"

/* Column names in slot order (TRACE__COL_*), all required. */
static const char *const trace__azure_names[] = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"};

int trace__azure_header(trace_reader *r, int forced, const char *header, size_t len)
{
    return trace__csv_bind(r, trace__azure_names, 3,
                           TRACE__REQ(TRACE__COL_ARRIVAL) | TRACE__REQ(TRACE__COL_INPUT) |
                               TRACE__REQ(TRACE__COL_OUTPUT),
                           forced, "azure", header, len);
}

/*
 * Days from 1970-01-01 to the proleptic Gregorian date Y-M-D (M 1..12,
 * D 1..31), negative before 1970.
 */
static int64_t trace__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);                       /* [0, 399] */
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

/* Number of days in month M (1..12) of year Y. */
static unsigned trace__days_in_month(unsigned y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return days[m - 1];
}

/*
 * Reads exactly W decimal digits at P[*I..N) into *OUT and advances *I.
 * Returns 1, or 0 if there are fewer digits.
 */
static int trace__digits(const char *p, size_t n, size_t *i, unsigned w, unsigned *out)
{
    unsigned v = 0;
    for (unsigned k = 0; k < w; k++, (*i)++) {
        if (*i >= n || p[*i] < '0' || p[*i] > '9')
            return 0;
        v = v * 10 + (unsigned)(p[*i] - '0');
    }
    *out = v;
    return 1;
}

/* Consumes the character C at P[*I] if it is there; returns 1 if it was. */
static int trace__lit(const char *p, size_t n, size_t *i, char c)
{
    if (*i < n && p[*i] == c) {
        (*i)++;
        return 1;
    }
    return 0;
}

/*
 * Parses the timestamp P[0..N) (format above) into UTC seconds since the
 * Unix epoch *SEC and nanoseconds *NS (0..999999999). Returns 1, or 0 if it
 * is not a valid timestamp (syntax, or a field out of range such as
 * February 29 of a common year).
 */
static int trace__parse_time(const char *p, size_t n, int64_t *sec, int32_t *ns)
{
    size_t i = 0;
    unsigned y, mo, d, h, mi, s, frac = 0;
    if (!trace__digits(p, n, &i, 4, &y) || !trace__lit(p, n, &i, '-') ||
        !trace__digits(p, n, &i, 2, &mo) || !trace__lit(p, n, &i, '-') ||
        !trace__digits(p, n, &i, 2, &d))
        return 0;
    if (!trace__lit(p, n, &i, ' ') && !trace__lit(p, n, &i, 'T'))
        return 0;
    if (!trace__digits(p, n, &i, 2, &h) || !trace__lit(p, n, &i, ':') ||
        !trace__digits(p, n, &i, 2, &mi) || !trace__lit(p, n, &i, ':') ||
        !trace__digits(p, n, &i, 2, &s))
        return 0;
    if (trace__lit(p, n, &i, '.')) {
        unsigned k = 0;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, k++) {
            if (k == 9)
                return 0;
            frac = frac * 10 + (unsigned)(p[i] - '0');
        }
        if (k == 0)
            return 0;
        for (; k < 9; k++)
            frac *= 10;
    }
    int64_t offset_s = 0;
    if (trace__lit(p, n, &i, 'Z')) {
        /* UTC */
    } else if (i < n && (p[i] == '+' || p[i] == '-')) {
        int neg = p[i++] == '-';
        unsigned oh, om;
        if (!trace__digits(p, n, &i, 2, &oh))
            return 0;
        (void)trace__lit(p, n, &i, ':');
        if (!trace__digits(p, n, &i, 2, &om) || oh > 23 || om > 59)
            return 0;
        offset_s = (int64_t)(oh * 3600 + om * 60);
        if (neg)
            offset_s = -offset_s;
    }
    if (i != n)
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > trace__days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59)
        return 0;
    *sec = trace__days_from_civil((int64_t)y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + s) -
           offset_s;
    *ns = (int32_t)frac;
    return 1;
}

int trace__azure_row(trace_reader *r, char *line, size_t len, trace__row *row)
{
    int rc = trace__csv_row(r, line, len);
    if (rc < 0)
        return rc;
    const trace__span *t = &r->fields[r->col[TRACE__COL_ARRIVAL]];
    int64_t sec;
    int32_t ns;
    if (!trace__parse_time(t->p, t->n, &sec, &ns)) {
        char shown[TRACE__ECHO_BYTES];
        return trace__fail(r, TRACE_EFORMAT, r->lineno,
                           "%s: '%s' is not a valid timestamp (expected YYYY-MM-DD "
                           "HH:MM:SS[.fffffff][+HH:MM])",
                           r->col_name[TRACE__COL_ARRIVAL], trace__echo(shown, t->p, t->n));
    }
    if (!r->have_base) {
        r->have_base = 1;
        r->base_sec = sec;
        r->base_ns = ns;
    }
    row->arrival_s = (double)(sec - r->base_sec) + (double)(ns - r->base_ns) / 1e9;
    rc = trace__parse_u32(r, &r->fields[r->col[TRACE__COL_INPUT]], r->col_name[TRACE__COL_INPUT],
                          &row->input_tokens);
    if (rc < 0)
        return rc;
    row->num_hash_ids = 0;
    return trace__parse_u32(r, &r->fields[r->col[TRACE__COL_OUTPUT]],
                            r->col_name[TRACE__COL_OUTPUT], &row->output_tokens);
}
