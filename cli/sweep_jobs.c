/*
 * sweep_jobs.c: a sweep's runs in worker processes; see sweep_jobs.h.
 *
 * Each slot (at most -j at once) is a worker: this same binary started
 * once with posix_spawn (`kvsim __sweep-worker FD`: no state of the sweep
 * process inherited, nothing forked from an MPI rank), its end of a
 * socket pair at FD, its standard output /dev/null and its standard error
 * an unlinked temporary file, one per slot. A worker runs job after job:
 * it reads a job's `kvsim run` arguments from the socket, empties its
 * standard error, runs cmd_run, commits the run's files and writes back
 * the exit status; it exits at the socket's end. A run that dies (an
 * error's exit, a crash) takes its worker with it: the socket's end says
 * so, and its standard error's first line names the reason.
 *
 * Workers rather than a process per run (posix_spawn of each, until
 * 2026-12): a 100-point sweep of the Azure conv trace spent a quarter of
 * its CPU time in the kernel, most of it faulting in the pages of each
 * new process's heap (about 2,500 a run on this machine, at ~13 us each)
 * and in the exec and dynamic linking. A worker's heap is mapped once,
 * and jemalloc's huge pages (allocators/jemalloc.c's malloc_conf) make
 * the pages it drops between runs cheap to take again: 246,000 faults
 * for those 100 runs in 100 processes, 125,000 in two workers, 18,000
 * with huge pages; 6.0-6.4 s -> 3.8-3.9 s with -j 2 (2026-12-02). Runs
 * share nothing else: each parses its own
 * options and trace, and the process-wide tables (the GPU catalog, a
 * --step-profile by path) are read-only caches of files.
 *
 * Messages (host byte order, one machine): to the worker, the arguments'
 * count and total bytes (two uint32) and then the arguments, each ending
 * in a NUL; back, the status (an int32).
 */
#define _POSIX_C_SOURCE 200809L

#include "cli/sweep_jobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli_int.h"
#include "cli/cli_out.h"
#include "cli/run_config.h"

extern char **environ;

typedef struct slot {
    pid_t pid;  /* the worker, 0 when none */
    int sock;   /* the sweep's end of its socket pair, -1 when none */
    int err_fd; /* its standard error, -1 until the slot first starts */
    int busy;   /* running slot.job */
    size_t job;
    double t0;
} slot;

/* Writes or reads LEN bytes whole; 0, or -1 (errno set; EPIPE-like at a
 * closed end: a read of 0 bytes sets ECONNRESET). */
static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t k = send(fd, p, len, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t k = read(fd, p, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k == 0)
            errno = ECONNRESET;
        if (k <= 0)
            return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

/* FD moved above the standard streams' numbers where it had one of them
 * (the sweep may start with one closed), close-on-exec: the new number,
 * or -1 (FD closed). */
static int fd_above_2(int fd)
{
    if (fd > STDERR_FILENO)
        return fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 ? fd : (close(fd), -1);
    int to = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    close(fd);
    return to;
}

/* Starts slot S's worker (its standard error created at the first start);
 * 0, or -1 after printing an error. */
static int start_worker(slot *s)
{
    if (s->err_fd < 0) {
        char tmpl[] = "/tmp/kvsim-sweep-err-XXXXXX";
        int efd = mkstemp(tmpl);
        if (efd < 0) {
            cli_error("sweep: cannot create a temporary file: %s", strerror(errno));
            return -1;
        }
        unlink(tmpl);
        /* Only the slot's worker gets it, as fd 2; above 2 here, so the
         * worker's standard output (or a closed standard stream the
         * sweep was started with) never takes its place. */
        s->err_fd = fd_above_2(efd);
        if (s->err_fd < 0) {
            cli_error("sweep: cannot keep a file open: %s", strerror(errno));
            return -1;
        }
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        cli_error("sweep: cannot create a socket pair: %s", strerror(errno));
        return -1;
    }
    /* The sweep's end stays out of every worker; the worker's end goes to
     * this one only, at the same number (closed here once it started). */
    sv[0] = fd_above_2(sv[0]);
    sv[1] = fd_above_2(sv[1]);
    if (sv[0] < 0 || sv[1] < 0 || fcntl(sv[1], F_SETFD, 0) != 0) {
        int e = errno;
        if (sv[0] >= 0)
            close(sv[0]);
        if (sv[1] >= 0)
            close(sv[1]);
        cli_error("sweep: cannot keep a socket open: %s", strerror(e));
        return -1;
    }
    char fdarg[16];
    snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
    char *av[] = {"kvsim", SWEEP_WORKER_COMMAND, fdarg, NULL};
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) {
        rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        if (rc == 0)
            rc = posix_spawn_file_actions_adddup2(&fa, s->err_fd, STDERR_FILENO);
        /* Signals as a new process has them: a sweep started with SIGTERM
         * ignored (nohup, some supervisors) could not stop a run. */
        posix_spawnattr_t at;
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        if (rc == 0 && (rc = posix_spawnattr_init(&at)) == 0) {
            if ((rc = posix_spawnattr_setsigmask(&at, &none)) == 0 &&
                (rc = posix_spawnattr_setsigdefault(&at, &all)) == 0)
                rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
            if (rc == 0)
                rc = posix_spawn(&s->pid, "/proc/self/exe", &fa, &at, av, environ);
            posix_spawnattr_destroy(&at);
        }
        posix_spawn_file_actions_destroy(&fa);
    }
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        s->pid = 0;
        cli_error("sweep: cannot run /proc/self/exe: %s", strerror(rc));
        return -1;
    }
    s->sock = sv[0];
    return 0;
}

/* The most bytes of arguments a job may send (a run's options and specs
 * are a few KiB). */
#define MAX_JOB_BYTES (16u << 20)

/* Sends JOB's arguments to slot S's worker; 0, or -1 (its worker gone). */
static int send_job(slot *s, const sweep_job *job)
{
    uint32_t hdr[2] = {0, 0};
    size_t bytes = 0;
    for (size_t i = 0; job->argv[i] != NULL; i++) {
        hdr[0]++;
        bytes += strlen(job->argv[i]) + 1;
    }
    if (bytes > MAX_JOB_BYTES) {
        errno = E2BIG;
        return -1;
    }
    hdr[1] = (uint32_t)bytes;
    char *buf = malloc(bytes > 0 ? bytes : 1);
    if (buf == NULL)
        return -1;
    size_t at = 0;
    for (size_t i = 0; job->argv[i] != NULL; i++) {
        size_t len = strlen(job->argv[i]) + 1;
        memcpy(buf + at, job->argv[i], len);
        at += len;
    }
    int rc = write_all(s->sock, hdr, sizeof(hdr)) != 0 || write_all(s->sock, buf, bytes) != 0;
    free(buf);
    return rc ? -1 : 0;
}

int sweep_worker_main(int argc, char **argv)
{
    char *end = NULL;
    long fd = argc == 1 ? strtol(argv[0], &end, 10) : -1;
    struct stat st;
    if (fd < 3 || *end != '\0' || fd > INT32_MAX || fstat((int)fd, &st) != 0 ||
        !S_ISSOCK(st.st_mode)) {
        cli_error("%s is kvsim sweep's own: kvsim sweep --help", SWEEP_WORKER_COMMAND);
        return 2;
    }
    for (;;) {
        uint32_t hdr[2];
        if (read_all((int)fd, hdr, sizeof(hdr)) != 0)
            return 0; /* the sweep's end closed: done */
        /* At most MAX_JOB_BYTES of arguments, each ending in its NUL. */
        if (hdr[1] > MAX_JOB_BYTES || hdr[0] > hdr[1]) {
            cli_error("sweep: a job's arguments: %s", strerror(EPROTO));
            return 1;
        }
        char *buf = malloc((size_t)hdr[1] + 1);
        char **av = calloc((size_t)hdr[0] + 1, sizeof(char *));
        int bad = buf == NULL || av == NULL             ? ENOMEM
                  : read_all((int)fd, buf, hdr[1]) != 0 ? errno
                                                        : 0;
        size_t at = 0;
        if (bad == 0)
            buf[hdr[1]] = '\0';
        for (uint32_t i = 0; bad == 0 && i < hdr[0]; i++) {
            size_t len = strnlen(buf + at, hdr[1] - at);
            if (at + len >= hdr[1]) { /* no NUL of its own */
                bad = EPROTO;
                break;
            }
            av[i] = buf + at;
            at += len + 1;
        }
        if (bad == 0 && at != hdr[1])
            bad = EPROTO;
        if (bad != 0) {
            cli_error("sweep: a job's arguments: %s", strerror(bad));
            free(buf);
            free(av);
            return 1;
        }
        /* This job's standard error only (the sweep reads it with pread). */
        if (ftruncate(STDERR_FILENO, 0) == 0)
            (void)lseek(STDERR_FILENO, 0, SEEK_SET);
        int32_t status = cmd_run((int)hdr[0], av);
        if (status == 0)
            status = cli_out_commit();
        else
            cli_out_abort();
        fflush(NULL);
        free(av);
        free(buf);
        if (write_all((int)fd, &status, sizeof(status)) != 0)
            return 1;
    }
}

/* A path the runs read that messages name otherwise (sweep_jobs_alias). */
static const char *alias_path, *alias_as;

void sweep_jobs_alias(const char *path, const char *as)
{
    alias_path = path;
    alias_as = as;
}

/* LINE (of LEN bytes' room) with the alias's path written as its name. */
static void apply_alias(char *line, size_t len)
{
    size_t pl = alias_path != NULL ? strlen(alias_path) : 0, al;
    char *at = pl > 0 ? strstr(line, alias_path) : NULL;
    if (at == NULL)
        return;
    al = strlen(alias_as);
    size_t tail = strlen(at + pl);
    if ((size_t)(at - line) + al + tail + 1 > len)
        return;
    memmove(at + al, at + pl, tail + 1);
    memcpy(at, alias_as, al);
}

/* The first line of a worker's standard error with text in it (a
 * sanitizer's report opens with an empty line and a rule), into BUF. */
static void first_err_line(int fd, char *buf, size_t len)
{
    buf[0] = '\0';
    ssize_t got = pread(fd, buf, len - 1, 0);
    if (got <= 0) {
        buf[0] = '\0';
        return;
    }
    buf[got] = '\0';
    char *line = buf;
    while (*line == '\n' || *line == '=')
        line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != '\0');
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "kvsim: ", 7) == 0)
        line += 7;
    memmove(buf, line, strlen(line) + 1);
    apply_alias(buf, len);
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

/* What a run stopped by SIGTERM left in its folder DIR (its process
 * PID): its output temporaries (cli_out.h: ".NAME.kvsim-PID-N"), then the
 * folder and its parent where empty (a point's seed-S and the point: a
 * run creates them). */
static void remove_leftovers(const char *dir, pid_t pid)
{
    char tag[32], path[1400];
    snprintf(tag, sizeof(tag), ".kvsim-%ld-", (long)pid);
    DIR *d = opendir(dir);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        if (e->d_name[0] == '.' && strstr(e->d_name, tag) != NULL &&
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
            unlink(path);
    if (d != NULL)
        closedir(d);
    if (rmdir(dir) == 0) {
        snprintf(path, sizeof(path), "%s", dir);
        char *slash = strrchr(path, '/');
        if (slash != NULL && slash != path) {
            *slash = '\0';
            rmdir(path);
        }
    }
}

/* Stops every worker: those running a job at once (SIGTERM: their run's
 * files removed here), the idle ones at their socket's end; waits for
 * them. */
static void stop_all(slot *slots, unsigned parallel, const sweep_job *jobs)
{
    for (unsigned k = 0; k < parallel; k++) {
        if (slots[k].pid != 0 && slots[k].busy)
            kill(slots[k].pid, SIGTERM);
        if (slots[k].sock >= 0)
            close(slots[k].sock);
        slots[k].sock = -1;
    }
    for (unsigned k = 0; k < parallel; k++)
        if (slots[k].pid != 0) {
            while (waitpid(slots[k].pid, NULL, 0) < 0 && errno == EINTR) {
            }
            if (slots[k].busy)
                remove_leftovers(jobs[slots[k].job].dir, slots[k].pid);
            slots[k].pid = 0;
        }
}

/* Gives jobs from *NEXT to the idle slots (starting their workers the
 * first time) while fewer than PARALLEL run. Returns 0, or -1 when one
 * could not start. */
static int fill(sweep_job *jobs, size_t n, slot *slots, unsigned parallel, size_t *next,
                size_t *running)
{
    while (*next < n && *running < parallel) {
        unsigned s = 0;
        while (slots[s].busy)
            s++;
        if (slots[s].pid == 0 && start_worker(&slots[s]) != 0)
            return -1;
        if (send_job(&slots[s], &jobs[*next]) != 0) {
            /* Its worker ended while idle (killed from outside): how. */
            int e = errno, ws = 0;
            char line[1024] = "";
            close(slots[s].sock);
            slots[s].sock = -1;
            if (waitpid(slots[s].pid, &ws, 0) == slots[s].pid) {
                first_err_line(slots[s].err_fd, line, sizeof(line));
                cli_error("sweep: %s: its run process had ended (%s %d)%s%s", jobs[*next].label,
                          WIFSIGNALED(ws) ? "signal" : "status",
                          WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws), *line ? ": " : "",
                          line);
            } else {
                cli_error("sweep: %s: cannot reach its run process: %s", jobs[*next].label,
                          strerror(e));
            }
            slots[s].pid = 0;
            return -1;
        }
        slots[s].busy = 1;
        slots[s].job = (*next)++;
        slots[s].t0 = cli_now_s();
        (*running)++;
    }
    return 0;
}

/* Slot S's job ended: its status, or its worker's end (the run exited or
 * crashed). Returns whether it succeeded, after printing its error. */
static int job_ended(slot *s, sweep_job *job, int tty)
{
    int32_t status;
    int wstatus = 0, died = read_all(s->sock, &status, sizeof(status)) != 0;
    if (died) {
        close(s->sock);
        s->sock = -1;
        while (waitpid(s->pid, &wstatus, 0) < 0 && errno == EINTR) {
        }
        if (WIFSIGNALED(wstatus)) /* a crash: no exit handler removed its files */
            remove_leftovers(job->dir, s->pid);
        s->pid = 0;
        status = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0 ? WEXITSTATUS(wstatus) : 1;
    }
    if (status == 0)
        return 1;
    char line[1024];
    first_err_line(s->err_fd, line, sizeof(line));
    if (tty)
        fputc('\n', stderr);
    if (died && WIFSIGNALED(wstatus))
        cli_error("sweep: %s: killed by signal %d%s%s", job->label, WTERMSIG(wstatus),
                  *line ? ": " : "", line);
    else
        cli_error("sweep: %s: %s", job->label, *line ? line : "failed");
    return 0;
}

/* After the last job: each worker's exit (a sanitizer's leak report, at a
 * worker's exit, fails the sweep as it failed a run). Returns 0 or 1. */
static int finish_workers(slot *slots, unsigned parallel)
{
    int failed = 0;
    for (unsigned k = 0; k < parallel; k++) {
        if (slots[k].sock >= 0)
            close(slots[k].sock);
        slots[k].sock = -1;
    }
    for (unsigned k = 0; k < parallel; k++) {
        if (slots[k].pid == 0)
            continue;
        int ws = 0;
        while (waitpid(slots[k].pid, &ws, 0) < 0 && errno == EINTR) {
        }
        slots[k].pid = 0;
        if (!failed && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0)) {
            char line[1024];
            first_err_line(slots[k].err_fd, line, sizeof(line));
            cli_error("sweep: a run process ended with %s %d after its runs%s%s",
                      WIFSIGNALED(ws) ? "signal" : "status",
                      WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws), *line ? ": " : "", line);
            failed = 1;
        }
    }
    return failed;
}

int sweep_run_jobs(sweep_job *jobs, size_t n, unsigned parallel, int quiet, const char *what)
{
    if (parallel < 1)
        parallel = 1;
    if (parallel > n && n > 0)
        parallel = (unsigned)n;
    slot *slots = calloc(parallel, sizeof(slot));
    struct pollfd *pfd = calloc(parallel, sizeof(struct pollfd));
    if (slots == NULL || pfd == NULL) {
        free(slots);
        free(pfd);
        cli_error("sweep: out of memory");
        return 1;
    }
    for (unsigned s = 0; s < parallel; s++)
        slots[s].err_fd = slots[s].sock = -1;
    /* Two descriptors a slot (its socket, its standard error) for the
     * whole sweep: the soft limit raised where -j needs it (1,024 by
     * default, and -j goes to 1,024), up to the hard one. */
    struct rlimit rl;
    const rlim_t need = 2 * (rlim_t)parallel + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlim_t cap = rl.rlim_max;
        rl.rlim_cur = cap == RLIM_INFINITY || cap > need ? need : cap;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need) {
            cli_error("sweep: -j %u needs %llu open files; the limit is %llu (ulimit -n)", parallel,
                      (unsigned long long)need,
                      (unsigned long long)(cap == RLIM_INFINITY ? rl.rlim_cur : cap));
            free(slots);
            free(pfd);
            return 1;
        }
    }
    int tty = !quiet && isatty(STDERR_FILENO);
    double t0 = cli_now_s();
    size_t next = 0, done = 0, running = 0;
    int failed = 0;
    const an_figures *ref = NULL; /* the first run read: the others borrow its names */
    if (tty)
        progress(tty, 0, n, t0, NULL, what);
    fflush(NULL); /* nothing buffered is written twice */
    if (fill(jobs, n, slots, parallel, &next, &running) != 0)
        failed = 1;
    while (running > 0 && !failed) {
        nfds_t np = 0;
        for (unsigned s = 0; s < parallel; s++)
            if (slots[s].busy) {
                pfd[np].fd = slots[s].sock;
                pfd[np].events = POLLIN;
                pfd[np].revents = 0;
                np++;
            }
        if (poll(pfd, np, -1) < 0) {
            if (errno == EINTR)
                continue;
            cli_error("sweep: poll: %s", strerror(errno));
            failed = 1;
            break;
        }
        for (nfds_t i = 0; i < np && !failed; i++) {
            if (pfd[i].revents == 0)
                continue;
            unsigned s = 0;
            while (slots[s].sock != pfd[i].fd)
                s++;
            sweep_job *job = &jobs[slots[s].job];
            job->wall_s = cli_now_s() - slots[s].t0;
            slots[s].busy = 0;
            running--;
            if (!job_ended(&slots[s], job, tty)) {
                failed = 1;
                break;
            }
            /* The next run first: reading this one's summary need not
             * keep its slot idle. */
            if (fill(jobs, n, slots, parallel, &next, &running) != 0) {
                failed = 1;
                break;
            }
            char path[1100], err[1300];
            snprintf(path, sizeof(path), "%s/summary.json", job->dir);
            if (an_figures_read(path, &job->figs, err, sizeof(err)) != 0) {
                cli_error("sweep: %s: %s", job->label, err);
                failed = 1;
                break;
            }
            if (ref == NULL)
                ref = &job->figs;
            else
                an_figures_share_names(&job->figs, ref);
            done++;
            if (!quiet)
                progress(tty, done, n, t0, job, what);
        }
    }
    if (failed)
        stop_all(slots, parallel, jobs);
    else
        failed = finish_workers(slots, parallel);
    for (unsigned s = 0; s < parallel; s++)
        if (slots[s].err_fd >= 0)
            close(slots[s].err_fd);
    free(slots);
    free(pfd);
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
