/*
 * step_profile.h: measured step times (`--step-profile FILE.csv`) in
 * place of the analytic roofline (sim/cost.h).
 *
 * The file is CSV, one measured step per row, a header naming the
 * columns in any order ('#' lines are comments, blank lines are skipped):
 *
 *   prefill_tokens          prompt tokens computed in the step (chunks
 *                           included, cached prefix excluded)
 *   decode_seqs             sequences decoding one token in the step
 *   decode_context_tokens   the SUM of the decoding sequences' context
 *                           lengths, new token included (the KV the step
 *                           reads for them)
 *   step_ms                 the step's measured wall time, milliseconds
 *   prefill_context_tokens  optional: KV of earlier tokens the prompt
 *                           chunks read (previous chunks, prefix-cache hits)
 *   tp                      optional: the tensor-parallel size measured at
 *   prefill_seqs            optional: the prompts whose chunks make up
 *                           prefill_tokens; without the column a row with
 *                           prompt tokens is ONE prompt (1 if
 *                           prefill_tokens > 0, else 0)
 *
 * The model, exact for data of this form:
 *
 *   t(shape) = f(n) + s * (S - 1) + a(n) * D + b(n) * P
 *
 * with n = prefill_tokens + decode_seqs the tokens the step computes
 * (what the linear layers, and so most of a step, scale with), S =
 * prefill_seqs + decode_seqs the sequences it runs (a row: its prompts,
 * by the convention above, plus its decodes; a priced step: the batch
 * shape's prefill_seqs + decode_seqs, where a speculative verify pass's
 * drafts are tokens of its decoding sequences and add none), D the
 * decode context tokens and P the prefill context tokens. f(n) is so the
 * time of a step of n tokens in one sequence, and s the time each further
 * sequence adds (an engine's host work per scheduled sequence: sampling,
 * scheduling, input preparation). There is one knot per distinct n of
 * the file. At each knot a and b (time per context token read: KV read,
 * attention) are the least-squares slopes of step_ms on D and P over the
 * knot's rows, each row less the mean of the rows with its own split (its
 * prompt tokens and prompts; n fixes its decodes, so a split fixes S):
 * rows that differ only in context say what context costs; a prompt's
 * own attention, n^2 / 2 pairs for one n-token prompt, stays in f: prompt
 * rows are priced as measured. s is one constant for the profile: the
 * least-squares slope of step_ms - a*D - b*P on S over the rows of the
 * knots whose rows run different S (decode rows and prompt rows of equal
 * n), each row less its knot's mean; it is 0 when no knot has two S
 * (the file cannot tell sequences from tokens; the info says so), and
 * taken as 0 when the fit is negative (more sequences cannot save time;
 * the info gives the fitted value). f is the mean over the knot's rows
 * of step_ms - s*(S - 1) - a*D - b*P. The slopes are per knot because what a context
 * token costs depends on n: a decode-heavy step reads it at memory
 * bandwidth, a prompt chunk of n tokens computes n x P attention pairs.
 * A knot whose rows do not vary D (or P) takes a (b) linearly in n from
 * the knots that measured it, held beyond the first and last. Between
 * knots f, a and b are linear in n; s holds at every n. Without a prefill_context_tokens
 * column P is priced as decode context (b = a): both are KV read once in
 * the step. Lookup is a binary search over the knots: O(log knots), no
 * allocation.
 *
 * Outside the measured range the rule is stated, not hidden: below the
 * smallest measured n, f holds its first knot's value (a step never gets
 * faster for computing fewer tokens; the weights are read all the same);
 * above the largest, f continues the line through its last two knots; a
 * context outside the measured [min, max] continues the linear term. Each
 * lookup says which of these it did, and the run counts such steps
 * (summary.json "step_profile", the terminal summary).
 *
 * Refused at load, each as one line "FILE:LINE: reason": a missing,
 * unknown or repeated column; a row with the wrong number of fields; a
 * field that is not a number, is negative, not an integer where a count
 * is expected, or a step_ms that is not positive; decode context below
 * decode_seqs (each decoding sequence reads at least its own token);
 * prefill_seqs 0 with prompt tokens, or above prefill_tokens; a
 * context with no sequence to read it (decode_context_tokens without
 * decode_seqs, prefill_context_tokens without prefill_tokens); an empty
 * step; two rows of the same shape; tp differing between rows; a
 * profile that cannot fit a or b (no two rows of one split with different
 * context), gives a negative one, has fewer than two distinct n, leaves
 * f not positive at a knot, or whose fitted f (the per-sequence and
 * context terms taken out) falls by more than 1 % from one knot to the
 * next (a step that computes more tokens cannot be faster; noise under
 * 1 % is kept).
 */
#ifndef KVSIM_SIM_STEP_PROFILE_H
#define KVSIM_SIM_STEP_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/cost.h"

typedef struct sim_step_profile sim_step_profile;

/* What a loaded profile is, for reports. */
typedef struct sim_step_profile_info {
    char path[512];
    uint32_t rows;
    uint32_t knots;                  /* distinct token counts n */
    uint32_t tp;                     /* the tp column's value; 0 when the file has none */
    bool has_prefill_context;        /* the file has prefill_context_tokens */
    uint64_t tokens_min, tokens_max; /* measured n */
    uint64_t context_min,
        context_max; /* measured D (D + P without the P column), rows with decodes */
    uint64_t prefill_context_min, prefill_context_max; /* measured P, rows with prefill */
    double ctx_s_per_token_min, ctx_s_per_token_max;   /* a over the knots */
    double prefill_ctx_s_per_token_min, prefill_ctx_s_per_token_max; /* b (= a without P) */
    int seq_fit;                /* SIM_PROFILE_SEQ_*: how s was determined */
    double seq_s;               /* s, seconds per sequence beyond the first (0 unless FITTED) */
    double seq_s_fitted;        /* the least-squares value (differs from seq_s when NEGATIVE) */
    uint32_t seq_knots;         /* knots whose rows run different numbers of sequences */
    double max_residual_rel;    /* largest |fit - measured| / measured over the rows */
    uint64_t max_residual_line; /* its line */
} sim_step_profile_info;

/* How a profile's per-sequence time s was determined. */
enum {
    SIM_PROFILE_SEQ_NONE = 0, /* no knot has rows of different S: s = 0 */
    SIM_PROFILE_SEQ_FITTED,   /* least squares over seq_knots knots */
    SIM_PROFILE_SEQ_NEGATIVE, /* the fit was negative: s = 0 */
};

/* Where a lookup left the measured range (a bit set). */
enum {
    SIM_PROFILE_TOKENS_BELOW = 1, /* n below the smallest measured: f held */
    SIM_PROFILE_TOKENS_ABOVE = 2, /* n above the largest: f extrapolated linearly */
    SIM_PROFILE_CONTEXT_OUT = 4,  /* a context outside the measured range: linear term extended */
};

/* Steps a run priced outside the profile's range, by rule. */
typedef struct sim_step_profile_counts {
    uint64_t steps;        /* priced through the profile (verify passes included) */
    uint64_t outside;      /* of which outside in any way */
    uint64_t tokens_below; /* the three reasons (a step may have two) */
    uint64_t tokens_above;
    uint64_t context_out;
} sim_step_profile_counts;

/* Reads the profile at PATH. Returns 0 with *OUT set (free with
 * sim_step_profile_destroy), or -1 with a one-line ERR "PATH:LINE:
 * reason" (or "PATH: reason" when the file cannot be read) and *OUT NULL. */
int sim_step_profile_load(const char *path, sim_step_profile **out, char *err, size_t errlen);

/* As sim_step_profile_load on the LEN bytes of TEXT, NAME standing for
 * the path in messages. */
int sim_step_profile_parse(const char *text, size_t len, const char *name, sim_step_profile **out,
                           char *err, size_t errlen);

/* Frees P; NULL is a no-op. */
void sim_step_profile_destroy(sim_step_profile *p);

/* What P is. */
const sim_step_profile_info *sim_step_profile_about(const sim_step_profile *p);

/* Seconds a step of shape B takes by P. *OUTSIDE (may be NULL) gets the
 * SIM_PROFILE_* bits of the rules used, 0 inside the measured range.
 * O(log knots), no allocation; P is only read (safe to share). */
double sim_step_profile_s(const sim_step_profile *p, const sim_batch_shape *b, unsigned *outside);

/* Adds a lookup's OUTSIDE bits to C. */
void sim_step_profile_count(sim_step_profile_counts *c, unsigned outside);

/* Checks that P can price a run at tensor-parallel size TP, PP pipeline
 * stages, with all layers on the GPU (OFFLOAD false). Returns 0, or -1
 * with a one-line ERR: a profile without a tp column is taken as measured
 * at tp 1 and refused at tp > 1; pipeline parallelism and partial offload
 * are refused (a measured step does not split into stages or host and GPU
 * parts). */
int sim_step_profile_check(const sim_step_profile *p, uint32_t tp, uint32_t pp, bool offload,
                           char *err, size_t errlen);

#endif
