/*
 * trace_mooncake.c: Mooncake JSONL traces (kvcache-ai/Mooncake,
 * FAST25-release/traces/, e.g. conversation_trace.jsonl, Apache-2.0).
 *
 * One JSON object per line, no header:
 *   {"timestamp": 0, "input_length": 6758, "output_length": 500,
 *    "hash_ids": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]}
 *   timestamp      integer milliseconds from the trace start; arrival_s is
 *                  timestamp / 1000 (not shifted: the first is not forced
 *                  to 0);
 *   input_length   prompt tokens, an unsigned 32-bit integer >= 1;
 *   output_length  tokens to generate (0 is read as 1 and counted);
 *   hash_ids       optional array of non-negative integers: ids of the
 *                  prompt's 512-token prefix blocks, equal ids meaning equal
 *                  prefixes, so len == ceil(input_length / 512) in the
 *                  published traces (not enforced here).
 * Keys may come in any order; unknown keys are ignored; duplicate keys are
 * an error. Each line is parsed with jansson's json_loadb (one allocation
 * tree per line, freed before the next), which gives the column of a
 * syntax error; the ids are copied into the reader's growing buffer.
 */
#include "traces/trace_int.h"

#include <stdio.h>

#include <jansson.h>

/* Key names in slot order (TRACE__COL_*), used in messages. */
static const char *const trace__mooncake_names[TRACE__NCOLS] = {"timestamp", "input_length",
                                                                "output_length", "hash_ids"};

void trace__mooncake_init(trace_reader *r)
{
    for (size_t j = 0; j < TRACE__NCOLS; j++)
        r->col_name[j] = trace__mooncake_names[j];
}

/* A JSON value's type, as named in messages. */
static const char *trace__json_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/*
 * Reads V, the value of NAME, as an integer in [0, MAX] into *OUT. Returns
 * 0, or a negative code with a message (wrong type, negative, too large).
 */
static int trace__json_uint(trace_reader *r, const json_t *v, const char *name, uint64_t max,
                            uint64_t *out)
{
    if (!json_is_integer(v))
        return trace__fail(r, TRACE_EFORMAT, r->lineno,
                           "%s: expected a non-negative integer, found %s", name,
                           trace__json_type(v));
    json_int_t x = json_integer_value(v);
    if (x < 0)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: %lld is not a non-negative integer",
                           name, (long long)x);
    if ((uint64_t)x > max)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "%s: %lld is out of range (max %llu)", name,
                           (long long)x, (unsigned long long)max);
    *out = (uint64_t)x;
    return 0;
}

/*
 * Reads the required key NAME of object O as in trace__json_uint. Returns 0
 * or a negative code ("missing key" included).
 */
static int trace__json_key(trace_reader *r, const json_t *o, const char *name, uint64_t max,
                           uint64_t *out)
{
    const json_t *v = json_object_get(o, name);
    if (v == NULL)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "missing key '%s'", name);
    return trace__json_uint(r, v, name, max, out);
}

/*
 * Parses the fields of the JSON object O into *ROW and r->hash_ids.
 * Returns 0 or a negative code with a message.
 */
static int trace__mooncake_object(trace_reader *r, const json_t *o, trace__row *row)
{
    uint64_t ts, in, out;
    int rc = trace__json_key(r, o, "timestamp", (uint64_t)INT64_MAX, &ts);
    if (rc == 0)
        rc = trace__json_key(r, o, "input_length", UINT32_MAX, &in);
    if (rc == 0)
        rc = trace__json_key(r, o, "output_length", UINT32_MAX, &out);
    if (rc < 0)
        return rc;
    row->arrival_s = (double)ts / 1000.0;
    row->input_tokens = (uint32_t)in;
    row->output_tokens = (uint32_t)out;
    row->num_hash_ids = 0;

    const json_t *ids = json_object_get(o, "hash_ids");
    if (ids == NULL)
        return 0;
    if (!json_is_array(ids))
        return trace__fail(r, TRACE_EFORMAT, r->lineno,
                           "hash_ids: expected an array of non-negative integers, found %s",
                           trace__json_type(ids));
    size_t n = json_array_size(ids);
    if (n > UINT32_MAX)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "hash_ids: too many ids (%zu)", n);
    rc = trace__hash_reserve(r, n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        char name[40];
        const json_t *v = json_array_get(ids, i);
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            r->hash_ids[i] = (uint64_t)json_integer_value(v);
            continue;
        }
        snprintf(name, sizeof name, "hash_ids[%zu]", i);
        return trace__json_uint(r, v, name, UINT64_MAX, &r->hash_ids[i]);
    }
    row->num_hash_ids = (uint32_t)n;
    return 0;
}

int trace__mooncake_row(trace_reader *r, char *line, size_t len, trace__row *row)
{
    json_error_t e;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
    if (o == NULL)
        return trace__fail(r, TRACE_EFORMAT, r->lineno, "invalid JSON at column %d: %s", e.column,
                           e.text);
    int rc;
    if (!json_is_object(o))
        rc = trace__fail(r, TRACE_EFORMAT, r->lineno, "expected a JSON object, found %s",
                         trace__json_type(o));
    else
        rc = trace__mooncake_object(r, o, row);
    json_decref(o);
    return rc;
}
