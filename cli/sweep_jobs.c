/*
 * sweep_jobs.c: a sweep's runs as child processes; see sweep_jobs.h.
 *
 * A child's standard output goes to /dev/null (it runs with --quiet) and
 * its standard error to an unlinked temporary file, one per slot, emptied
 * before each run and read back when it failed, so its one-line error
 * reaches the user with the job's name. Children start with posix_spawn
 * (glibc's shares the parent's memory until the exec, where fork would
 * copy its page tables and then fault on every page either side writes),
 * and the next run starts before the finished one's summary is read.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli/sweep_jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/run_config.h"

extern char **environ;

typedef struct slot {
    pid_t pid;
    size_t job;
    int err_fd; /* -1 until the slot first runs a job */
    double t0;
} slot;

/* Starts JOB with standard error to *ERR_FD (created at the slot's first
 * job, emptied before each); returns the child's pid, or -1 after printing
 * an error. */
static pid_t spawn(sweep_job *job, int *err_fd)
{
    if (*err_fd < 0) {
        char tmpl[] = "/tmp/kvsim-sweep-err-XXXXXX";
        int efd = mkstemp(tmpl);
        if (efd < 0) {
            cli_error("sweep: cannot create a temporary file: %s", strerror(errno));
            return -1;
        }
        unlink(tmpl);
        *err_fd = efd;
    } else if (ftruncate(*err_fd, 0) != 0 || lseek(*err_fd, 0, SEEK_SET) != 0) {
        cli_error("sweep: cannot empty a temporary file: %s", strerror(errno));
        return -1;
    }
    size_t n = 0;
    while (job->argv[n] != NULL)
        n++;
    char **av = calloc(n + 3, sizeof(char *));
    if (av == NULL) {
        cli_error("sweep: out of memory");
        return -1;
    }
    av[0] = "kvsim";
    av[1] = "run";
    for (size_t i = 0; i < n; i++)
        av[i + 2] = job->argv[i];
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) {
        rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        if (rc == 0)
            rc = posix_spawn_file_actions_adddup2(&fa, *err_fd, STDERR_FILENO);
        pid_t pid;
        if (rc == 0)
            rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, av, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc == 0) {
            free(av);
            return pid;
        }
    }
    free(av);
    cli_error("sweep: %s: cannot run /proc/self/exe: %s", job->label, strerror(rc));
    return -1;
}

/* The child's first line of standard error, into BUF. */
static void first_err_line(int fd, char *buf, size_t len)
{
    buf[0] = '\0';
    if (lseek(fd, 0, SEEK_SET) != 0)
        return;
    ssize_t got = read(fd, buf, len - 1);
    if (got <= 0)
        return;
    buf[got] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (strncmp(buf, "kvsim: ", 7) == 0)
        memmove(buf, buf + 7, strlen(buf + 7) + 1);
}

static void progress(int tty, size_t done, size_t n, double t0, const sweep_job *last,
                     const char *what)
{
    double el = cli_now_s() - t0;
    if (tty) {
        int width = 30, fill = n ? (int)((double)width * (double)done / (double)n) : width;
        fprintf(stderr, "\r%s [", what);
        for (int k = 0; k < width; k++)
            fputc(k < fill ? '#' : ' ', stderr);
        fprintf(stderr, "] %zu/%zu runs, %.1f s", done, n, el);
        if (done == n)
            fputc('\n', stderr);
    } else if (last != NULL) {
        fprintf(stderr, "%s: %zu/%zu done: %s (%.2f s)\n", what, done, n, last->label,
                last->wall_s);
    }
    fflush(stderr);
}

/* Starts jobs from *NEXT into the free slots while fewer than PARALLEL
 * run. Returns 0, or -1 when one could not start. */
static int fill(sweep_job *jobs, size_t n, slot *slots, unsigned parallel, size_t *next,
                size_t *running)
{
    while (*next < n && *running < parallel) {
        unsigned s = 0;
        while (slots[s].pid != 0)
            s++;
        pid_t pid = spawn(&jobs[*next], &slots[s].err_fd);
        if (pid < 0)
            return -1;
        slots[s].pid = pid;
        slots[s].job = (*next)++;
        slots[s].t0 = cli_now_s();
        (*running)++;
    }
    return 0;
}

int sweep_run_jobs(sweep_job *jobs, size_t n, unsigned parallel, int quiet, const char *what)
{
    if (parallel < 1)
        parallel = 1;
    slot *slots = calloc(parallel, sizeof(slot));
    if (slots == NULL) {
        cli_error("sweep: out of memory");
        return 1;
    }
    for (unsigned s = 0; s < parallel; s++)
        slots[s].err_fd = -1;
    int tty = !quiet && isatty(STDERR_FILENO);
    double t0 = cli_now_s();
    size_t next = 0, done = 0, running = 0;
    int failed = 0;
    const an_figures *ref = NULL; /* the first run read: the others borrow its names */
    if (tty)
        progress(tty, 0, n, t0, NULL, what);
    if (fill(jobs, n, slots, parallel, &next, &running) != 0)
        failed = 1;
    while (running > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            cli_error("sweep: waitpid: %s", strerror(errno));
            failed = 1;
            break;
        }
        unsigned s = 0;
        while (s < parallel && slots[s].pid != pid)
            s++;
        if (s == parallel)
            continue; /* not ours */
        sweep_job *job = &jobs[slots[s].job];
        job->wall_s = cli_now_s() - slots[s].t0;
        running--;
        slots[s].pid = 0;
        int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && !failed) {
            char line[1024];
            first_err_line(slots[s].err_fd, line, sizeof(line));
            if (tty)
                fputc('\n', stderr);
            if (WIFSIGNALED(status))
                cli_error("sweep: %s: killed by signal %d%s%s", job->label, WTERMSIG(status),
                          *line ? ": " : "", line);
            else
                cli_error("sweep: %s: %s", job->label, *line ? line : "failed");
            failed = 1;
            /* Stop the others: their results would not be used. */
            for (unsigned k = 0; k < parallel; k++)
                if (slots[k].pid != 0)
                    kill(slots[k].pid, SIGTERM);
        }
        /* The next run first: reading this one's summary need not keep
         * its slot idle. */
        if (!failed && fill(jobs, n, slots, parallel, &next, &running) != 0) {
            failed = 1;
            for (unsigned k = 0; k < parallel; k++)
                if (slots[k].pid != 0)
                    kill(slots[k].pid, SIGTERM);
        }
        if (ok && !failed) {
            char path[1100], err[1300];
            snprintf(path, sizeof(path), "%s/summary.json", job->dir);
            if (an_figures_read(path, &job->figs, err, sizeof(err)) != 0) {
                cli_error("sweep: %s: %s", job->label, err);
                failed = 1;
                for (unsigned k = 0; k < parallel; k++)
                    if (slots[k].pid != 0)
                        kill(slots[k].pid, SIGTERM);
            } else if (ref == NULL) {
                ref = &job->figs;
            } else {
                an_figures_share_names(&job->figs, ref);
            }
        }
        done++;
        if (!quiet && !failed)
            progress(tty, done, n, t0, job, what);
    }
    for (unsigned s = 0; s < parallel; s++)
        if (slots[s].err_fd >= 0)
            close(slots[s].err_fd);
    free(slots);
    return failed;
}

void sweep_job_free(sweep_job *j)
{
    if (j->argv != NULL)
        for (size_t i = 0; j->argv[i] != NULL; i++)
            free(j->argv[i]);
    free(j->argv);
    j->argv = NULL;
    an_figures_free(&j->figs);
}
