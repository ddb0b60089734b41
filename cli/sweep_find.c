/*
 * sweep_find.c: `kvsim sweep --find max-rate`: the highest load (--rate-scale,
 * or --request-rate for a length table) at which every --slo objective is
 * met, by doubling or halving to a bracket and then bisection; each load is
 * run over the seeds in the sweep's worker processes (sweep_jobs.h). See cmd_sweep.c
 * for the options.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/curves.h"
#include "analysis/metrics.h"
#include "cli/run_config.h"
#include "cli/sweep_int.h"
#include "cli/sweep_jobs.h"
#include "cli/sweep_mpi.h"

typedef struct eval {
    double x;
    int pass;         /* the mean over seeds meets every objective */
    size_t seeds_met; /* seeds meeting every objective on their own */
    size_t first_job; /* its runs in the job list */
    int last_halving; /* half this load would put arrivals past the 1e9-s bound */
    char dir[96];     /* its folder under DIR/find: the variable and load, e.g. rate-scale_71.5 */
} eval;

/* The value of objective S in FIGS: vllm_bench.METRIC, else METRIC as a
 * dotted name; NAN when absent. */
static double slo_value(const an_figures *figs, const slo *s)
{
    char name[300];
    snprintf(name, sizeof(name), "vllm_bench.%s", s->metric);
    double v = an_figures_get(figs, name);
    return isnan(v) ? an_figures_get(figs, s->metric) : v;
}

typedef struct search {
    sweep_opts *o;
    const char *var; /* "rate-scale" or "request-rate" */
    sweep_job *jobs;
    size_t njobs, cap;
    eval *evals;
    size_t nevals;
} search;

static void judge(search *se, eval *e, int v[4]);

/* Runs every seed at load X (shared among the ranks under MPI) and
 * records the evaluation. */
static eval *evaluate(search *se, double x)
{
    sweep_opts *o = se->o;
    if (se->njobs + o->seeds > se->cap) {
        size_t cap = se->cap ? 2 * se->cap : 64;
        while (cap < se->njobs + o->seeds)
            cap *= 2;
        sweep_job *nj = realloc(se->jobs, cap * sizeof(sweep_job));
        if (nj == NULL)
            cli_die("sweep: out of memory");
        se->jobs = nj;
        se->cap = cap;
    }
    eval *ne = realloc(se->evals, (se->nevals + 1) * sizeof(eval));
    if (ne == NULL)
        cli_die("sweep: out of memory");
    se->evals = ne;
    eval *e = &se->evals[se->nevals];
    memset(e, 0, sizeof(*e));
    e->x = x;
    e->first_job = se->njobs;
    char val[64];
    sweep_fmt_value(val, sizeof(val), x);
    const char *names[1] = {se->var};
    const char *vals[1] = {val};
    /* Named by its load, which curves.csv's rows (sorted by load) give:
     * numbered in the search's order, find/0007 was not curves.csv's
     * point 7. Two loads alike to 15 digits (a --find-tol below 1e-15)
     * get the evaluation's number after the second's. */
    snprintf(e->dir, sizeof(e->dir), "%s_%s", se->var, val);
    for (size_t k = 0; k < se->nevals; k++)
        if (strcmp(se->evals[k].dir, e->dir) == 0) {
            snprintf(e->dir, sizeof(e->dir), "%s_%s-%zu", se->var, val, se->nevals);
            break;
        }
    for (unsigned long long s = 0; s < o->seeds; s++) {
        sweep_job *j = &se->jobs[se->njobs + s];
        memset(j, 0, sizeof(*j));
        unsigned long long seed = o->base_seed + s;
        snprintf(j->dir, sizeof(j->dir), "%s/find/%s/seed-%llu", o->out, e->dir, seed);
        snprintf(j->label, sizeof(j->label), "%s=%s seed %llu", se->var, val, seed);
        j->argv = sweep_run_argv(o, names, vals, 1, seed, j->dir);
        if (se->nevals == 0 && s == 0)
            sweep_validate(j->argv, j->label);
    }
    char what[96];
    snprintf(what, sizeof(what), "find %s=%s", se->var, val);
    if (sweep_run_share(se->jobs + se->njobs, o->seeds, o->jobs, 1, what) != 0)
        exit(1);
    se->njobs += o->seeds;
    se->nevals++;
    /* Under MPI only rank 0 has every seed's figures: it judges, and the
     * verdict goes to every rank so all take the same next load. */
    int verdict[4] = {0, 0, 0, 0}; /* meets, seeds meeting, unknown metric, last halving */
    if (sweep_mpi_rank() == 0)
        judge(se, e, verdict);
    sweep_mpi_bcast_ints(verdict, 4);
    if (verdict[2]) {
        if (sweep_mpi_rank() != 0)
            exit(2); /* rank 0 says why */
        cli_die("--slo: '%s' is not a summary figure (e.g. p99_ttft_ms, mean_tpot_ms, "
                "p99_e2el_ms, phases.p99_queue_ms)",
                o->slo[verdict[2] - 1].metric);
    }
    e->pass = verdict[0];
    e->seeds_met = (size_t)verdict[1];
    e->last_halving = verdict[3];
    if (!o->quiet && sweep_mpi_rank() == 0)
        fprintf(stderr, "find: %s = %s: %s (%zu of %llu seeds meet the objectives)\n", se->var, val,
                e->pass ? "meets" : "misses", e->seeds_met, o->seeds);
    return e;
}

/* The loads tried so far that met the objectives (the highest, LO) and
 * missed them (the lowest, HI), and their evaluations' indices. */
typedef struct bracket {
    double lo, hi;
    size_t lo_e, hi_e;
} bracket;

/* Evaluates load X and moves BR's side it falls on. */
static void try_load(search *se, double x, bracket *br)
{
    eval *e = evaluate(se, x);
    if (e->pass) {
        br->lo = x;
        br->lo_e = se->nevals - 1;
    } else {
        br->hi = x;
        br->hi_e = se->nevals - 1;
    }
}

/* Rank 0's verdict on evaluation E: V[0] whether the mean over seeds of
 * each metric meets its objective, V[1] how many seeds meet them all on
 * their own, V[2] 1 + the index of an objective naming no summary figure
 * (0: none), V[3] whether half the load would stretch a seed's arrivals
 * (at most its makespan, doubled) past the readers' 1e9-s bound. */
static void judge(search *se, eval *e, int v[4])
{
    sweep_opts *o = se->o;
    for (size_t s = 0; s < o->seeds; s++)
        if (!(2 * an_figures_get(&se->jobs[e->first_job + s].figs, "makespan_s") <= 1e9))
            v[3] = 1;
    /* A metric the summary does not have is a usage error, not a miss. */
    for (size_t k = 0; k < o->nslo; k++)
        if (isnan(slo_value(&se->jobs[e->first_job].figs, &o->slo[k]))) {
            char name[300];
            snprintf(name, sizeof(name), "vllm_bench.%s", o->slo[k].metric);
            int known = 0;
            const an_figures *f = &se->jobs[e->first_job].figs;
            for (size_t i = 0; i < f->n; i++)
                known |= strcmp(f->name[i], name) == 0 || strcmp(f->name[i], o->slo[k].metric) == 0;
            if (!known) {
                v[2] = (int)k + 1;
                return;
            }
        }
    v[0] = 1;
    for (size_t k = 0; k < o->nslo; k++) {
        /* A null figure (nothing completed) is NAN: it fails. */
        double x[MAX_SEEDS];
        for (size_t s = 0; s < o->seeds; s++)
            x[s] = slo_value(&se->jobs[e->first_job + s].figs, &o->slo[k]);
        double mean, ci;
        an_mean_ci95(x, o->seeds, &mean, &ci);
        if (!(mean <= o->slo[k].limit))
            v[0] = 0;
    }
    for (size_t s = 0; s < o->seeds; s++) {
        int ok = 1;
        for (size_t k = 0; k < o->nslo; k++)
            if (!(slo_value(&se->jobs[e->first_job + s].figs, &o->slo[k]) <= o->slo[k].limit))
                ok = 0;
        v[1] += ok;
    }
}

/* Whether evaluations A and B (two loads) ran alike: every seed's
 * makespan and vllm bench figures equal. Then the load changes nothing
 * (every request arrives at once: a batch workload, or a trace of one
 * instant, whose arrival times a rate scale leaves at 0). */
static int loads_alike(const search *se, const eval *a, const eval *b)
{
    for (size_t s = 0; s < se->o->seeds; s++) {
        const an_figures *fa = &se->jobs[a->first_job + s].figs,
                         *fb = &se->jobs[b->first_job + s].figs;
        /* Arrivals at one instant, under both loads: saturated loads
         * under --max-concurrency can give equal figures as well, and
         * those have a load to search. */
        if (fa->n != fb->n ||
            an_figures_get(fa, "makespan_s") != an_figures_get(fb, "makespan_s") ||
            !(an_figures_get(fa, "arrival_span_s") == 0) ||
            !(an_figures_get(fb, "arrival_span_s") == 0))
            return 0;
        for (size_t i = 0; i < fa->n; i++)
            if (strncmp(fa->name[i], "vllm_bench.", 11) == 0 && !(fa->value[i] == fb->value[i]) &&
                !(isnan(fa->value[i]) && isnan(fb->value[i])))
                return 0;
    }
    return 1;
}

static int cmp_eval(const void *a, const void *b)
{
    double x = ((const eval *)a)->x, y = ((const eval *)b)->x;
    return (x > y) - (x < y);
}

int sweep_find(sweep_opts *o)
{
    search se = {o, o->rate_opt != NULL ? "request-rate" : "rate-scale", NULL, 0, 0, NULL, 0};
    double x0 = o->find_start ? strtod(o->find_start, NULL)
                : o->rate_opt ? cli_parse_double("--request-rate", o->rate_opt, 0, 1e9, 1)
                              : 1.0;
    cli_make_dirs(o->out);
    bracket br = {NAN, NAN, 0, 0};
    try_load(&se, x0, &br);
    /* Double (or halve) until one load meets the objectives and another
     * misses them; never past the load options' bound (then met at every
     * load tried), nor below the load whose arrivals would pass the 1e9-s
     * bound of a trace (then missed at every load tried: the runs would
     * fail). */
    for (int k = 0; k < 30 && (isnan(br.lo) || isnan(br.hi)); k++) {
        double x = isnan(br.hi) ? br.lo * 2 : br.hi / 2;
        if (x > 1e9 || (isnan(br.lo) && se.evals[br.hi_e].last_halving))
            break;
        try_load(&se, x, &br);
        /* Two loads that ran alike: there is no load to search (it had
         * doubled or halved 30 times, then answered with a bound). */
        int alike[1] = {0};
        if (k == 0 && sweep_mpi_rank() == 0)
            alike[0] = loads_alike(&se, &se.evals[0], &se.evals[1]);
        if (k == 0)
            sweep_mpi_bcast_ints(alike, 1);
        if (alike[0]) {
            if (sweep_mpi_rank() != 0)
                exit(2);
            cli_die("sweep: --find max-rate: %s %g and %g ran alike: the load does not change "
                    "the runs (every request arrives at once: a batch workload, or a trace of one "
                    "instant); give arrivals over time (a rate), or sweep --vary max-concurrency "
                    "without --find",
                    se.var, x0, x);
        }
    }
    for (unsigned it = 0; it < o->find_iters && !isnan(br.lo) && !isnan(br.hi) &&
                          br.hi - br.lo > o->find_tol * br.lo;
         it++)
        try_load(&se, (br.lo + br.hi) / 2, &br);
    double lo = br.lo, hi = br.hi;
    size_t lo_e = br.lo_e, hi_e = br.hi_e;
    if (sweep_mpi_rank() != 0) { /* rank 0 writes everything */
        for (size_t i = 0; i < se.njobs; i++)
            sweep_job_free(&se.jobs[i]);
        free(se.jobs);
        free(se.evals);
        return 0;
    }
    /* find.json, and the evaluated loads as curves (sorted by load). */
    FILE *fp = cli_open_out(o->out, "find.json");
    char b1[AN_NUM_LEN], b2[AN_NUM_LEN];
    fprintf(fp, "{\n  \"find\": \"max-rate\",\n  \"variable\": \"%s\",\n  \"slo\": {", se.var);
    for (size_t k = 0; k < o->nslo; k++)
        fprintf(fp, "%s\"%s\": %s", k ? ", " : "", o->slo[k].metric,
                an_fmt_double(b1, o->slo[k].limit));
    fprintf(fp, "},\n  \"seeds\": %llu,\n  \"criterion\": \"mean over seeds <= limit\",\n",
            o->seeds);
    fprintf(fp, "  \"max\": %s,\n  \"bracket\": [%s, ", an_fmt_double(b1, lo),
            an_fmt_double(b2, lo));
    fprintf(fp, "%s],\n", an_fmt_double(b1, hi));
    fprintf(fp, "  \"seeds_meeting_at_low\": %zu,\n  \"seeds_meeting_at_high\": %zu,\n",
            isnan(lo) ? 0 : se.evals[lo_e].seeds_met, isnan(hi) ? 0 : se.evals[hi_e].seeds_met);
    /* At the answer: the mean over seeds of what the runs completed. */
    double at[2] = {NAN, NAN};
    static const char *const at_names[2] = {"vllm_bench.request_throughput",
                                            "vllm_bench.output_throughput"};
    for (int k = 0; k < 2 && !isnan(lo); k++) {
        double v[MAX_SEEDS], ci;
        for (size_t s = 0; s < o->seeds; s++)
            v[s] = an_figures_get(&se.jobs[se.evals[lo_e].first_job + s].figs, at_names[k]);
        an_mean_ci95(v, o->seeds, &at[k], &ci);
    }
    fprintf(fp, "  \"at_max\": {\"request_throughput\": %s, ", an_fmt_double(b1, at[0]));
    fprintf(fp, "\"output_throughput\": %s},\n", an_fmt_double(b1, at[1]));
    fprintf(fp, "  \"evaluations\": [");
    for (size_t k = 0; k < se.nevals; k++)
        fprintf(fp,
                "%s\n    {\"%s\": %s, \"meets\": %s, \"seeds_meeting\": %zu, \"dir\": "
                "\"find/%s\"}",
                k ? "," : "", se.var, an_fmt_double(b1, se.evals[k].x),
                se.evals[k].pass ? "true" : "false", se.evals[k].seeds_met, se.evals[k].dir);
    fprintf(fp, "\n  ]\n}\n");
    cli_close_out(fp, o->out, "find.json");

    eval *sorted = malloc(se.nevals * sizeof(eval));
    an_curve_point *pts = calloc(se.nevals, sizeof(an_curve_point));
    char(*vals)[64] = calloc(se.nevals, 64);
    const char **valp = calloc(se.nevals, sizeof(char *));
    an_figures *figs = calloc(se.njobs, sizeof(an_figures));
    unsigned long long *seeds = calloc(o->seeds, sizeof(unsigned long long));
    if (sorted == NULL || pts == NULL || vals == NULL || valp == NULL || figs == NULL ||
        seeds == NULL)
        cli_die("sweep: out of memory");
    memcpy(sorted, se.evals, se.nevals * sizeof(eval));
    qsort(sorted, se.nevals, sizeof(eval), cmp_eval);
    for (unsigned long long s = 0; s < o->seeds; s++)
        seeds[s] = o->base_seed + s;
    for (size_t k = 0; k < se.nevals; k++) {
        sweep_fmt_value(vals[k], 64, sorted[k].x);
        valp[k] = vals[k];
        for (size_t s = 0; s < o->seeds; s++)
            figs[k * o->seeds + s] = se.jobs[sorted[k].first_job + s].figs;
        pts[k].vary_values = &valp[k];
        pts[k].runs = figs + k * o->seeds;
        pts[k].nruns = o->seeds;
        pts[k].seeds = seeds;
    }
    const char *names[1] = {se.var};
    sweep_write_curves(o, names, 1, pts, se.nevals);
    o->latency_drawn = sweep_plot_or_die(o->out);

    if (!o->quiet) {
        if (isnan(lo))
            printf("no %s down to %g meets the objectives\n", se.var, hi);
        else if (isnan(hi))
            printf("every %s up to %g meets the objectives\n", se.var, lo);
        else
            printf("max %s %g: meets the objectives (%zu of %llu seeds); %g misses them (%zu of "
                   "%llu seeds meet); bracket [%g, %g], %zu loads tried\n",
                   se.var, lo, se.evals[lo_e].seeds_met, o->seeds, hi, se.evals[hi_e].seeds_met,
                   o->seeds, lo, hi, se.nevals);
        if (!isnan(lo)) { /* find.json's at_max: the mean over the seeds */
            printf("at %s %g: %.3f req/s completed, %.1f output tok/s%s\n", se.var, lo, at[0],
                   at[1], o->seeds > 1 ? " (mean over seeds)" : "");
            /* A workload whose arrivals end long before its requests do
             * tests a burst: the queue is still draining when the run
             * ends, and a longer one at the same load may miss. */
            const an_figures *f0 = &se.jobs[se.evals[lo_e].first_job].figs;
            double span = an_figures_get(f0, "arrival_span_s");
            double make = an_figures_get(f0, "makespan_s");
            if (span > 0 && make > 1.5 * span)
                printf("note: at that load the requests arrive over %.3g s but take %.3g s to "
                       "serve: the run ends draining a queue, so the answer holds for a burst "
                       "of this size; more requests test sustained load\n",
                       span, make);
        }
        printf("wrote %s/find.json, %s/curves.csv, %s/curves.json, plots and %s/find/\n", o->out,
               o->out, o->out, o->out);
    }
    for (size_t i = 0; i < se.njobs; i++)
        sweep_job_free(&se.jobs[i]);
    free(se.jobs);
    free(se.evals);
    free(sorted);
    free(pts);
    free(vals);
    free(valp);
    free(figs);
    free(seeds);
    return 0;
}
