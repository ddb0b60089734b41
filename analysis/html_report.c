/*
 * html_report.c: the self-contained HTML page; see html_report.h.
 *
 * The page has no external resource: styles inline, plots as base64 SVG
 * data URIs, tables from the folder's JSON and CSV files. A short script
 * at its end checks that every plot decoded (an image with no width logs
 * a console error) and marks the body with data-ok="1", which the browser
 * test reads back.
 */
#define _POSIX_C_SOURCE 200809L

#include "analysis/html_report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/curves.h"
#include "analysis/metrics.h"
#include "analysis/plot.h"

static int exists(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, R_OK) == 0;
}

const char *an_report_kind(const char *dir)
{
    if (exists(dir, "curves.csv"))
        return exists(dir, "find.json") ? "search" : "sweep";
    if (exists(dir, "find.csv"))
        return "searches";
    if (exists(dir, "compare.csv"))
        return "compare";
    if (exists(dir, "summary.json"))
        return "run";
    return NULL;
}

static void html_text(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", fp);
            break;
        case '>':
            fputs("&gt;", fp);
            break;
        case '&':
            fputs("&amp;", fp);
            break;
        case '"':
            fputs("&quot;", fp);
            break;
        default:
            fputc(*s, fp);
        }
    }
}

/* Reads DIR/NAME whole; NULL when it cannot. *LEN gets its size. */
static char *read_all(const char *dir, const char *name, size_t *len)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
        } else {
            buf = nb;
        }
    }
    int bad = ferror(fp);
    fclose(fp);
    if (buf == NULL || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* DIR/NAME (an SVG) as an <img> with a base64 data URI. */
static int embed_svg(FILE *fp, const char *dir, const char *name, const char *alt)
{
    size_t len;
    unsigned char *svg = (unsigned char *)read_all(dir, name, &len);
    if (svg == NULL)
        return -1;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputs("<figure><img class=\"plot\" alt=\"", fp);
    html_text(fp, alt);
    fputs("\" src=\"data:image/svg+xml;base64,", fp);
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)svg[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)svg[i + 1] << 8;
        if (i + 2 < len)
            v |= svg[i + 2];
        fputc(b64[(v >> 18) & 63], fp);
        fputc(b64[(v >> 12) & 63], fp);
        fputc(i + 1 < len ? b64[(v >> 6) & 63] : '=', fp);
        fputc(i + 2 < len ? b64[v & 63] : '=', fp);
    }
    fputs("\"><figcaption>", fp);
    html_text(fp, alt);
    fputs("</figcaption></figure>\n", fp);
    free(svg);
    return 0;
}

static void num_cell(FILE *fp, double v)
{
    if (isnan(v))
        fputs("<td>n/a</td>", fp);
    else if (v == floor(v) && fabs(v) < 1e15)
        fprintf(fp, "<td>%.0f</td>", v);
    else if (fabs(v) >= 1000)
        fprintf(fp, "<td>%.1f</td>", v);
    else
        fprintf(fp, "<td>%.4g</td>", v);
}

/* The configuration object of a summary.json as a two-column table. */
static void config_table(FILE *fp, json_t *cfg)
{
    fputs("<h2>Configuration</h2>\n<table class=\"kv\">\n", fp);
    const char *key;
    json_t *v;
    json_object_foreach(cfg, key, v)
    {
        fputs("<tr><th>", fp);
        html_text(fp, key);
        fputs("</th><td>", fp);
        if (json_is_string(v)) {
            html_text(fp, json_string_value(v));
        } else if (json_is_real(v)) {
            /* As a person reads it (0.9, not 0.90000000000000002). */
            fprintf(fp, "%.6g", json_real_value(v));
        } else {
            char *s = json_dumps(v, JSON_ENCODE_ANY);
            html_text(fp, s != NULL ? s : "");
            free(s);
        }
        fputs("</td></tr>\n", fp);
    }
    fputs("</table>\n", fp);
}

static double jnum(json_t *root, const char *a, const char *b)
{
    json_t *o = json_object_get(root, a);
    json_t *v = b != NULL ? json_object_get(o, b) : o;
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int report_run(const char *dir, FILE *fp, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_PRESERVE_ORDER, &je);
    if (root == NULL) {
        snprintf(err, errlen, "%s: line %d: %s", path, je.line, je.text);
        return -1;
    }
    /* Every summary kvsim writes opens with its version; another program's
     * JSON (a vllm bench serve result, say) would make a page of n/a and
     * a pool of nan GiB. */
    if (!json_is_string(json_object_get(root, "kvsim_version"))) {
        snprintf(err, errlen, "%s: not a kvsim summary (no \"kvsim_version\" string at its top)",
                 path);
        json_decref(root);
        return -1;
    }
    json_t *cfg = json_object_get(root, "config");
    fputs("<h2>Summary</h2>\n<table>\n<tr><th>requests</th><th>completed</th><th>rejected</th>"
          "<th>makespan s</th><th>req/s</th><th>output tok/s</th><th>total tok/s</th>"
          "<th>goodput req/s</th><th>preemptions</th></tr>\n<tr>",
          fp);
    num_cell(fp, jnum(root, "requests", "total"));
    num_cell(fp, jnum(root, "requests", "completed"));
    num_cell(fp, jnum(root, "requests", "rejected"));
    num_cell(fp, jnum(root, "makespan_s", NULL));
    num_cell(fp, jnum(root, "vllm_bench", "request_throughput"));
    num_cell(fp, jnum(root, "vllm_bench", "output_throughput"));
    num_cell(fp, jnum(root, "vllm_bench", "total_token_throughput"));
    num_cell(fp, jnum(root, "vllm_bench", "request_goodput"));
    num_cell(fp, jnum(root, "preemptions", NULL));
    fputs("</tr>\n</table>\n", fp);
    fputs("<h2>Latency (ms), as vllm bench serve reports it</h2>\n<table>\n<tr><th></th>", fp);
    static const char *const stat[8] = {"mean", "median", "std",   "p90",
                                        "p95",  "p99",    "p99.9", "max"};
    static const char *const lat[6] = {"ttft", "tpot", "itl", "e2el", "queue", "prefill"};
    for (int k = 0; k < 8; k++)
        fprintf(fp, "<th>%s</th>", stat[k]);
    fputs("</tr>\n", fp);
    for (int m = 0; m < 6; m++) {
        fprintf(fp, "<tr><th>%s</th>", lat[m]);
        for (int k = 0; k < 8; k++) {
            char key[64];
            snprintf(key, sizeof(key), "%s_%s_ms", stat[k], lat[m]);
            num_cell(fp, jnum(root, m < 4 ? "vllm_bench" : "phases", key));
        }
        fputs("</tr>\n", fp);
    }
    fputs("</table>\n", fp);
    /* The latencies past the exact limit (summary.json's latency_method). */
    json_t *meth = json_object_get(root, "latency_method");
    int past = 0;
    for (int m = 0; m < 4; m++) {
        const char *how = json_string_value(json_object_get(meth, lat[m]));
        if (how != NULL && strcmp(how, "histogram") == 0)
            fprintf(fp, "%s%s", past++ ? ", " : "<p>", lat[m]);
    }
    if (past)
        fprintf(fp, ": past the exact limit, percentiles from a histogram (within %.4f %%)</p>\n",
                100 * jnum(meth, "histogram_rel_err", NULL));
    fputs("<h2>KV pool</h2>\n<table>\n<tr><th></th>", fp);
    static const char *const cat[6] = {"token_states",  "reservation",  "internal_frag",
                                       "external_frag", "blocked_free", "free"};
    for (int k = 0; k < 6; k++)
        fprintf(fp, "<th>%s %%</th>", cat[k]);
    fputs("</tr>\n", fp);
    json_t *mem = json_object_get(root, "memory");
    static const char *const when[2] = {"time_avg_pct", "at_peak_pct"};
    for (int w = 0; w < 2; w++) {
        fprintf(fp, "<tr><th>%s</th>", w ? "at peak" : "time average");
        for (int k = 0; k < 6; k++)
            num_cell(fp, jnum(json_object_get(mem, when[w]), cat[k], NULL));
        fputs("</tr>\n", fp);
    }
    /* summary.json's pool is one virtual engine's: with vLLM v0's pipeline
     * a GPU holds every virtual engine's share of its stage (vLLM V1 has
     * one, whatever its batches in flight). */
    double tp = jnum(root, "parallel", "tensor_parallel_size");
    double pp = jnum(root, "parallel", "pipeline_parallel_size");
    double ve = jnum(root, "parallel", "virtual_engines");
    if (!(ve >= 1))
        ve = pp >= 1 ? pp : 1; /* a summary.json from before the field: vLLM v0's */
    fprintf(fp, "</table>\n<p>KV pool %.2f GiB (%.0f tokens)",
            ve * jnum(mem, "kv_pool_bytes", NULL) / 1073741824.0,
            ve * jnum(mem, "kv_pool_tokens", NULL));
    if (ve > 1)
        fprintf(fp, " over %.0f virtual engines; virtual engine 0's peak allocated %.2f GiB", ve,
                jnum(mem, "peak_kv_allocated_bytes", NULL) / 1073741824.0);
    else
        fprintf(fp, ", peak allocated %.2f GiB",
                jnum(mem, "peak_kv_allocated_bytes", NULL) / 1073741824.0);
    if (tp > 1 || pp > 1) /* the memory figures are one GPU's (engine.c, report.c) */
        fprintf(fp, "; per GPU of %.0f (tensor parallel %.0f x pipeline %.0f)", tp * pp, tp, pp);
    fputs(".</p>\n", fp);
    json_t *prof = json_object_get(root, "step_profile"); /* only with --step-profile */
    if (json_is_object(prof)) {
        fputs("<p>Step times from the measured step profile ", fp);
        const char *where = json_string_value(json_object_get(prof, "path"));
        html_text(fp, where != NULL ? where : "?");
        fprintf(fp,
                ", which replaces the roofline (the configuration's bw_eff, flops_eff, "
                "step_overhead_s, seq_overhead_s, tp_step_s and prefill_layer_s are not "
                "used): %.0f of %.0f steps outside its measured range, priced by its stated "
                "rules; its fit within %.3g %% of every row",
                jnum(prof, "steps_outside", NULL), jnum(prof, "steps", NULL),
                100 * jnum(prof, "max_fit_residual", NULL));
        const char *term = json_string_value(json_object_get(prof, "seq_term"));
        if (term != NULL && strcmp(term, "fitted") == 0)
            fprintf(fp, "; %.1f us per sequence of a step beyond the first",
                    1e3 * jnum(prof, "ms_per_seq", NULL));
        else if (term != NULL) {
            fputs("; no per-sequence time (", fp);
            html_text(fp, term);
            fputs(")", fp);
        }
        fputs(".</p>\n", fp);
    }
    int rc = 0;
    if (exists(dir, "timeseries.csv") && !exists(dir, "memory.svg"))
        rc = an_plot_memory(dir, NULL, err, errlen);
    if (rc == 0 && exists(dir, "memory.svg"))
        embed_svg(fp, dir, "memory.svg",
                  "KV pool over time, by category; running and waiting requests below");
    if (cfg != NULL)
        config_table(fp, cfg);
    json_decref(root);
    return rc;
}

/* A CSV file as an HTML table, the columns whose names COLS lists (all
 * when COLS is NULL). */
static int csv_table(FILE *fp, const char *dir, const char *name, const char *const *cols,
                     size_t ncols, char *err, size_t errlen)
{
    size_t len;
    char *text = read_all(dir, name, &len);
    if (text == NULL) {
        snprintf(err, errlen, "%s/%s: cannot read", dir, name);
        return -1;
    }
    /* Header: which columns to show, in the file's order. */
    char *line = text, *next = strchr(line, '\n');
    if (next != NULL)
        *next++ = '\0';
    char *hdr[4096];
    size_t nh = 0;
    for (char *c = line; c != NULL && nh < 4096;) {
        hdr[nh++] = c;
        c = strchr(c, ',');
        if (c != NULL)
            *c++ = '\0';
    }
    int show[4096];
    for (size_t i = 0; i < nh; i++) {
        show[i] = cols == NULL;
        for (size_t k = 0; k < ncols && !show[i]; k++) {
            size_t kl = strlen(cols[k]);
            /* A listed name, or a leading column (the varied options sit before "seeds"). */
            show[i] = strcmp(hdr[i], cols[k]) == 0 ||
                      (strncmp(hdr[i], cols[k], kl) == 0 && strcmp(hdr[i] + kl, "_ci95") == 0);
        }
    }
    if (cols != NULL) /* the sweep's leading columns, up to and with "seeds" */
        for (size_t i = 0; i < nh; i++) {
            show[i] = 1;
            if (strcmp(hdr[i], "seeds") == 0)
                break;
        }
    fputs("<table>\n<tr>", fp);
    for (size_t i = 0; i < nh; i++)
        if (show[i]) {
            fputs("<th>", fp);
            html_text(fp, hdr[i]);
            fputs("</th>", fp);
        }
    fputs("</tr>\n", fp);
    size_t lineno = 1, rows = 0;
    while (next != NULL && *next) {
        line = next;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        if (*line == '\0')
            continue; /* a blank line, as the plots' reader skips it */
        fputs("<tr>", fp);
        size_t i = 0;
        char *c = line;
        for (; c != NULL && i < nh; i++) {
            char *end;
            if (*c == '"') { /* a quoted cell (names with commas) */
                end = strchr(c + 1, '"');
                if (end != NULL) {
                    *end = '\0';
                    end = strchr(end + 1, ',');
                }
                c++;
            } else {
                end = strchr(c, ',');
                if (end != NULL)
                    *end = '\0';
            }
            if (show[i]) {
                char *numend;
                double v = strtod(c, &numend);
                if (*c != '\0' && *numend == '\0')
                    num_cell(fp, v);
                else {
                    fputs("<td>", fp);
                    html_text(fp, c);
                    fputs("</td>", fp);
                }
            }
            c = end != NULL ? end + 1 : NULL;
        }
        if (i != nh || c != NULL) { /* a cut or hand-edited file: not a table to show */
            snprintf(err, errlen, "%s/%s: line %zu: %s fields than the header's %zu", dir, name,
                     lineno, i != nh ? "fewer" : "more", nh);
            free(text);
            return -1;
        }
        fputs("</tr>\n", fp);
        rows++;
    }
    free(text);
    if (rows == 0) { /* kvsim writes these files with a row per run or point */
        snprintf(err, errlen, "%s/%s: a header and no rows", dir, name);
        return -1;
    }
    fputs("</table>\n", fp);
    return 0;
}

static int report_sweep(const char *dir, FILE *fp, char *err, size_t errlen)
{
    if (exists(dir, "find.json")) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/find.json", dir);
        json_error_t je;
        json_t *root = json_load_file(path, JSON_PRESERVE_ORDER, &je); /* objectives in order */
        if (root == NULL) { /* the search's answer is the page's point: not left out */
            snprintf(err, errlen, "%s: line %d: %s", path, je.line, je.text);
            return -1;
        }
        if (!json_is_array(json_object_get(root, "bracket")) ||
            !json_is_object(json_object_get(root, "slo"))) {
            snprintf(err, errlen, "%s: not a kvsim search's answer (no \"bracket\" or \"slo\")",
                     path);
            json_decref(root);
            return -1;
        }
        const char *var = json_string_value(json_object_get(root, "variable"));
        json_t *br = json_object_get(root, "bracket");
        fputs("<h2>SLO search</h2>\n<p>", fp);
        /* A bracket's open end is null: nothing met, or everything did. */
        json_t *b0 = json_array_get(br, 0), *b1 = json_array_get(br, 1);
        var = var != NULL ? var : "load";
        if (!json_is_number(b0))
            fprintf(fp,
                    "No %s tried meets the objectives: <b>none</b> down to %.6g (%.0f of "
                    "%.0f seeds meet them there). ",
                    var, json_number_value(b1), jnum(root, "seeds_meeting_at_high", NULL),
                    jnum(root, "seeds", NULL));
        else if (!json_is_number(b1))
            fprintf(fp,
                    "Every %s tried meets the objectives, up to <b>%.6g</b> (%.0f of %.0f "
                    "seeds meet them there). ",
                    var, json_number_value(b0), jnum(root, "seeds_meeting_at_low", NULL),
                    jnum(root, "seeds", NULL));
        else
            fprintf(fp,
                    "Highest %s meeting the objectives: <b>%.6g</b> (bracket [%.6g, %.6g]; "
                    "%.0f of %.0f seeds meet them at the low end, %.0f at the high end). ",
                    var, jnum(root, "max", NULL), json_number_value(b0), json_number_value(b1),
                    jnum(root, "seeds_meeting_at_low", NULL), jnum(root, "seeds", NULL),
                    jnum(root, "seeds_meeting_at_high", NULL));
        fputs("Objectives:", fp);
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(root, "slo"), key, v)
        {
            fputs(" ", fp);
            html_text(fp, key);
            fprintf(fp, " &le; %g;", json_number_value(v));
        }
        fputs("</p>\n", fp);
        json_decref(root);
    }
    int rc = 0;
    if (!exists(dir, "curves.svg"))
        rc = an_plot_curves(dir, NULL, err, errlen);
    if (rc != 0)
        return rc;
    fputs("<h2>Curves</h2>\n", fp);
    embed_svg(fp, dir, "curves.svg", "Output throughput and mean TPOT");
    if (exists(dir, "latency.svg"))
        embed_svg(fp, dir, "latency.svg", "Latency percentiles against the load");
    static const char *const cols[] = {"vllm_bench.request_throughput",
                                       "vllm_bench.output_throughput",
                                       "vllm_bench.request_goodput",
                                       "vllm_bench.mean_tpot_ms",
                                       "vllm_bench.p99_tpot_ms",
                                       "vllm_bench.median_ttft_ms",
                                       "vllm_bench.p99_ttft_ms",
                                       "vllm_bench.p99_e2el_ms",
                                       "preemptions",
                                       "memory.peak_kv_allocated_bytes"};
    fputs("<h2>Points (means over seeds; _ci95: 95 % confidence half-width)</h2>\n", fp);
    return csv_table(fp, dir, "curves.csv", cols, sizeof(cols) / sizeof(cols[0]), err, errlen);
}

static int report_compare(const char *dir, FILE *fp, char *err, size_t errlen)
{
    int rc = 0;
    if (!exists(dir, "compare.svg"))
        rc = an_plot_compare(dir, NULL, err, errlen);
    if (rc != 0)
        return rc;
    /* The runs' subject from compare.csv's first column (compare_out.h). */
    char path[4200], head[64] = "allocator";
    snprintf(path, sizeof(path), "%s/compare.csv", dir);
    FILE *in = fopen(path, "r");
    if (in != NULL) {
        if (fscanf(in, "%63[^,\n]", head) != 1)
            snprintf(head, sizeof(head), "allocator");
        fclose(in);
    }
    const char *what = an_compare_subject(head);
    char alt[96];
    snprintf(alt, sizeof(alt), "KV pool breakdown by %s", what);
    fprintf(fp, "<h2>Runs by %s</h2>\n", what);
    embed_svg(fp, dir, "compare.svg", alt);
    return csv_table(fp, dir, "compare.csv", NULL, 0, err, errlen);
}

int an_write_html_report(const char *dir, FILE *fp, char *err, size_t errlen)
{
    const char *kind = an_report_kind(dir);
    if (kind == NULL) {
        snprintf(err, errlen,
                 "%s: not a kvsim output folder (no summary.json, compare.csv or curves.csv)", dir);
        return -1;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>kvsim "
          "report: ",
          fp);
    html_text(fp, dir);
    fputs("</title>\n<style>\nbody{font-family:sans-serif;margin:2em;color:#222}\n"
          "table{border-collapse:collapse;margin:0.5em 0 1.5em}\n"
          "th,td{border:1px solid #ccc;padding:0.2em 0.5em;text-align:right;font-size:0.9em}\n"
          "th{background:#f3f3f3}\ntable.kv th,table.kv td{text-align:left}\n"
          "img.plot{max-width:100%;border:1px solid #ddd}\nfigure{margin:1em 0}\n"
          "figcaption{font-size:0.85em;color:#555}\n</style>\n</head>\n<body>\n",
          fp);
    fprintf(fp, "<h1>kvsim %s report</h1>\n<p>Folder: <code>", kind);
    html_text(fp, dir);
    fputs("</code></p>\n", fp);
    int rc;
    if (strcmp(kind, "run") == 0)
        rc = report_run(dir, fp, err, errlen);
    else if (strcmp(kind, "compare") == 0)
        rc = report_compare(dir, fp, err, errlen);
    else if (strcmp(kind, "searches") == 0) {
        fputs("<h2>SLO search per point</h2>\n<p>The highest load meeting the objectives for "
              "each point (each search's own report: <code>kvsim report "
              "DIR/points/NNNN</code>).</p>\n",
              fp);
        rc = csv_table(fp, dir, "find.csv", NULL, 0, err, errlen);
    } else
        rc = report_sweep(dir, fp, err, errlen);
    fputs("<script>\nwindow.addEventListener('load',function(){var bad=0;var imgs=document.images;"
          "for(var i=0;i<imgs.length;i++){if(!imgs[i].complete||imgs[i].naturalWidth===0){"
          "bad++;console.error('kvsim report: plot '+imgs[i].alt+' did not load');}}"
          "if(!bad&&document.querySelectorAll('table').length>0)"
          "document.body.setAttribute('data-ok','1');});\n</script>\n</body>\n</html>\n",
          fp);
    if (rc == 0 && ferror(fp)) {
        snprintf(err, errlen, "write error");
        return -1;
    }
    return rc;
}
