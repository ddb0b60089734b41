/*
 * sweep_mpi.c: distributed sweeps over MPI; see sweep_mpi.h.
 *
 * Messages: for each run owned by a rank other than 0, in run order, that
 * rank sends the length of its summary.json (an unsigned long long, 0
 * when it could not be read) and then its bytes, with tag 0; rank 0
 * receives them in the same order. MPI keeps messages between two ranks
 * in order (non-overtaking), so no tag has to name the run.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli/sweep_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/run_config.h"

#ifdef KVSIM_MPI
#include <mpi.h>

static int active, rank_, size_ = 1;

void sweep_mpi_start(void)
{
    if (getenv("OMPI_COMM_WORLD_SIZE") == NULL && getenv("PMI_SIZE") == NULL &&
        getenv("PMIX_RANK") == NULL)
        return;
    /* Each rank starts its worker processes (posix_spawn, which may fork):
     * Open MPI would warn about fork() otherwise (they never touch MPI). */
    setenv("OMPI_MCA_mpi_warn_on_fork", "0", 0);
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
        cli_die("sweep: MPI_Init failed");
    active = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

int sweep_mpi_rank(void)
{
    return rank_;
}

int sweep_mpi_size(void)
{
    return size_;
}

static char *read_summary(const sweep_job *j, unsigned long long *len)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/summary.json", j->dir);
    FILE *fp = fopen(path, "rb");
    *len = 0;
    if (fp == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    fclose(fp);
    *len = n;
    return buf;
}

int sweep_mpi_gather(sweep_job *jobs, size_t n, int failed)
{
    if (!active || size_ == 1)
        return failed;
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any)
        return 1;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int owner = (int)(i % (size_t)size_);
        if (owner == 0)
            continue;
        if (rank_ == owner) {
            unsigned long long len;
            char *text = read_summary(&jobs[i], &len);
            MPI_Send(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, 0, MPI_COMM_WORLD);
            if (len > 0)
                MPI_Send(text, (int)len, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
            free(text);
        } else if (rank_ == 0) {
            unsigned long long len = 0;
            MPI_Recv(&len, 1, MPI_UNSIGNED_LONG_LONG, owner, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            char *text = len > 0 && len < (1ull << 31) ? malloc(len + 1) : NULL;
            if (len > 0) {
                /* Received even when it cannot be kept, so the order holds. */
                char *sink = text != NULL ? text : malloc(len + 1);
                MPI_Recv(sink, (int)len, MPI_CHAR, owner, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                if (text == NULL)
                    free(sink);
            }
            char err[1300];
            if (text == NULL) {
                if (!bad)
                    cli_error("sweep: %s: its summary.json did not reach rank 0", jobs[i].label);
                bad = 1;
                continue;
            }
            text[len] = '\0';
            if (an_figures_parse(text, (size_t)len, jobs[i].dir, &jobs[i].figs, err, sizeof(err)) !=
                0) {
                if (!bad)
                    cli_error("sweep: %s: %s", jobs[i].label, err);
                bad = 1;
            }
            free(text);
        }
    }
    int all_bad = 0;
    MPI_Allreduce(&bad, &all_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return all_bad;
}

void sweep_mpi_bcast_ints(int *v, int n)
{
    if (active && size_ > 1)
        MPI_Bcast(v, n, MPI_INT, 0, MPI_COMM_WORLD);
}

void sweep_mpi_end(void)
{
    if (active)
        MPI_Finalize();
    active = 0;
}

#else /* one process: nothing to share */

void sweep_mpi_start(void) {}

int sweep_mpi_rank(void)
{
    return 0;
}

int sweep_mpi_size(void)
{
    return 1;
}

int sweep_mpi_gather(sweep_job *jobs, size_t n, int failed)
{
    (void)jobs;
    (void)n;
    return failed;
}

void sweep_mpi_bcast_ints(int *v, int n)
{
    (void)v;
    (void)n;
}

void sweep_mpi_end(void) {}

#endif

int sweep_run_share(sweep_job *jobs, size_t n, unsigned parallel, int quiet, const char *what)
{
    size_t size = (size_t)sweep_mpi_size(), rank = (size_t)sweep_mpi_rank();
    if (size == 1)
        return sweep_run_jobs(jobs, n, parallel, quiet, what);
    sweep_job *mine = calloc(n / size + 1, sizeof(sweep_job));
    if (mine == NULL)
        cli_die("sweep: out of memory");
    size_t k = 0;
    for (size_t i = rank; i < n; i += size)
        mine[k++] = jobs[i];
    char label[160];
    snprintf(label, sizeof(label), "%s (rank 0 of %zu)", what, size);
    int failed = sweep_run_jobs(mine, k, parallel, quiet || rank != 0, label);
    k = 0;
    for (size_t i = rank; i < n; i += size)
        jobs[i] = mine[k++]; /* the figures it read */
    free(mine);
    return sweep_mpi_gather(jobs, n, failed);
}
