#include "config.h"
/* bench/fs.c — raftfs through its mounts: latency and throughput of the
 * operations a configuration and lock service lives on.
 *
 * Runs against mounted raftfs file systems (normally a 3-node loopback
 * cluster made by bench/fs.sh); it only does ordinary syscalls:
 *
 *   bench/fs --leader DIR --follower DIR [--local DIR] [--pids P1,P2,P3]
 *            [--kill-leader PID] [--files N] [--seconds S] [--quick]
 *            [--only PART[,PART...]] [--records FILE]
 *
 * Parts (names for --only; "meta" = stat,ls; "wr" = write,read):
 *   write           sequential open(O_TRUNC)+write(100 B)+close on one file:
 *                   one commit each; p50/p99 on the leader's, a follower's
 *                   and the local node's mount
 *   writers         64 threads, each rewriting its own file in a loop on the
 *                   leader's mount for S seconds: commits/s
 *   read            open+read+close p50/p99 and one-thread throughput,
 *                   linearizable (leader, follower: a read barrier per open)
 *                   and local (--local: a node with consistency = local)
 *   stat            per mount, on one file stat'ed before (warm): stat()
 *                   p50/p99 with one thread, then calls/s with 1 and 4
 *                   threads for S/2 seconds each
 *   ls              per mount, a directory of 1,000 files: what `ls -l` does
 *                   (opendir, readdir, lstat of DIR/NAME for each entry, as
 *                   GNU ls does, by path), the first listing and the median
 *                   of the repeats; then the real `ls -l DIR >/dev/null`
 *                   (fork+exec+wait), median of 5
 *   locks           two threads on two mounts (leader, follower) taking
 *                   flock(LOCK_EX) and releasing it on one file in turn:
 *                   handoffs/s
 *   files           RSS after creating N files (default 100,000) of 1 KiB
 *                   with 64 threads: VmRSS of each --pids daemon
 *   failover        with --kill-leader PID: one writer on the follower,
 *                   the leader is killed (SIGKILL), the longest time
 *                   between two successful commits (last)
 *
 * The mounts are labelled by how they read: "linearizable, leader",
 * "linearizable, follower", "local". The stat and ls parts share a setup
 * (bench-stat, bench-ls/ with 1,000 files of 64 B, written through the
 * leader) that waits until every mount has applied it: a marker file with a
 * fresh token is written last and read back on each mount, so neither the
 * stat file nor the directory is looked up before it is measured.
 *
 * Every figure is printed with how it was measured; --records FILE also
 * writes each figure as "figure<TAB>mount<TAB>value<TAB>unit" lines (what
 * bench/fs.sh uses to summarize repeated runs). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))

static const char *leader_dir, *follower_dir, *local_dir;
static char *pids_arg;
static pid_t kill_pid;
static long n_files = 100000;
static double seconds = 5;
static bool quick;
static const char *only;        /* --only: comma-separated part names, see above */
static FILE *records;           /* --records */

typedef struct Mount {
        const char *label;      /* printed */
        const char *key;        /* in --records */
        const char *dir;
} Mount;
static Mount mounts[3];
static int n_mounts;

static bool part(const char *name) {
        if (!only)
                return true;
        char *copy = strdup(only), *save = NULL;
        bool found = false;
        for (char *t = strtok_r(copy, ",", &save); t && !found; t = strtok_r(NULL, ",", &save))
                found = strcmp(t, name) == 0 ||
                        (strcmp(t, "meta") == 0 && (strcmp(name, "stat") == 0 || strcmp(name, "ls") == 0)) ||
                        (strcmp(t, "wr") == 0 && (strcmp(name, "write") == 0 || strcmp(name, "read") == 0));
        free(copy);
        return found;
}

static void record(const char *figure, const char *mount, double value, const char *unit) {
        if (records)
                fprintf(records, "%s\t%s\t%.6g\t%s\n", figure, mount, value, unit);
}

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static void die(const char *what, const char *path) {
        fprintf(stderr, "bench/fs: %s %s: %s\n", what, path ? path : "", strerror(errno));
        exit(1);
}

static int write_file(const char *path, const char *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t) len) {
                int e = -errno;
                close(fd);
                return e;
        }
        return close(fd) < 0 ? -errno : 0;
}

/* ---- write+close latency ---- */

static void bench_write_latency(const Mount *m, int n) {
        char path[4096], data[100];
        double *t = calloc((size_t) n, sizeof(double));

        memset(data, 'w', sizeof(data));
        snprintf(path, sizeof(path), "%s/bench-wlat", m->dir);
        for (int i = 0; i < n; i++) {
                double a = now_us();
                if (write_file(path, data, sizeof(data)) < 0)
                        die("write", path);
                t[i] = now_us() - a;
        }
        qsort(t, (size_t) n, sizeof(double), cmp_double);
        printf("write+close latency (%-22s)  p50 %8.3f ms   p99 %8.3f ms   (%d sequential open(O_TRUNC)+write 100 B+close, "
               "one commit each, one file)\n",
               m->label, t[n / 2] / 1e3, t[n * 99 / 100] / 1e3, n);
        record("write+close p50", m->key, t[n / 2] / 1e3, "ms");
        record("write+close p99", m->key, t[n * 99 / 100] / 1e3, "ms");
        free(t);
}

/* ---- many writers ---- */

typedef struct Worker {
        pthread_t thread;
        const char *dir;
        int id;
        double until;
        long done;
        long errors;
        long first, count;      /* file creation range */
} Worker;

static void *writer_thread(void *p) {
        Worker *w = p;
        char path[4096], data[100];

        memset(data, 'm', sizeof(data));
        snprintf(path, sizeof(path), "%s/bench-w%02d", w->dir, w->id);
        while (now_us() < w->until) {
                if (write_file(path, data, sizeof(data)) < 0)
                        w->errors++;
                else
                        w->done++;
        }
        return NULL;
}

static void bench_writers(const char *dir, int threads, double secs) {
        Worker *w = calloc((size_t) threads, sizeof(Worker));
        double start = now_us();
        long total = 0, errors = 0;

        for (int i = 0; i < threads; i++) {
                w[i] = (Worker) { .dir = dir, .id = i, .until = start + secs * 1e6 };
                pthread_create(&w[i].thread, NULL, writer_thread, &w[i]);
        }
        for (int i = 0; i < threads; i++) {
                pthread_join(w[i].thread, NULL);
                total += w[i].done;
                errors += w[i].errors;
        }
        double elapsed = (now_us() - start) / 1e6;
        printf("write throughput, %d writers      %8.0f commits/s   (%ld open+write+close, %ld errors, %.1f s, leader)\n",
               threads, (double) total / elapsed, total, errors, elapsed);
        free(w);
}

/* ---- open+read+close ---- */

static void bench_read(const Mount *m, int n) {
        char path[4096], buf[4096];
        double *t = calloc((size_t) n, sizeof(double));

        snprintf(path, sizeof(path), "%s/bench-read", m->dir);
        /* the file is written through the leader and read here */
        for (int i = 0; i < n; i++) {
                double a = now_us();
                int fd = open(path, O_RDONLY);
                if (fd < 0)
                        die("open", path);
                if (read(fd, buf, sizeof(buf)) < 0)
                        die("read", path);
                close(fd);
                t[i] = now_us() - a;
        }
        double sum = 0;
        for (int i = 0; i < n; i++)
                sum += t[i];
        qsort(t, (size_t) n, sizeof(double), cmp_double);
        printf("open+read+close (%-22s)  p50 %8.3f ms   p99 %8.3f ms   %8.0f /s one thread (%d sequential cycles, "
               "one file of 1 KiB)\n",
               m->label, t[n / 2] / 1e3, t[n * 99 / 100] / 1e3, n / (sum / 1e6), n);
        record("open+read+close p50", m->key, t[n / 2] / 1e3, "ms");
        record("open+read+close p99", m->key, t[n * 99 / 100] / 1e3, "ms");
        record("open+read+close 1 thread", m->key, n / (sum / 1e6), "/s");
        free(t);
}

/* ---- metadata: setup shared by stat and ls ---- */

enum { LS_FILES = 1000 };

static void *ls_create_thread(void *p) {
        Worker *w = p;
        char path[4096], data[64];

        memset(data, 'c', sizeof(data));
        for (long i = w->first; i < w->first + w->count; i++) {
                snprintf(path, sizeof(path), "%s/bench-ls/f%04ld", w->dir, i);
                if (write_file(path, data, sizeof(data)) < 0)
                        w->errors++;
        }
        return NULL;
}

/* true when the marker's text on this mount is the token: open+read, which
 * looks up only the marker's name. */
static bool marker_is(const char *dir, const char *token) {
        char path[4096], buf[64];
        snprintf(path, sizeof(path), "%s/bench-meta-ready", dir);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
                return false;
        ssize_t k = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (k < 0)
                return false;
        buf[k] = 0;
        return strcmp(buf, token) == 0;
}

/* Through the leader: bench-stat (100 B) and bench-ls/ with LS_FILES files of
 * 64 B (8 threads), then the marker with a fresh token; returns once every
 * mount reads the token back. The log is applied in order, so the token
 * means the files are there too, and the measured names were not looked up
 * on the other mounts (the leader's mount created them: its names are
 * cached, as they would be on the node that made them). */
static void setup_meta(void) {
        enum { T = 8 };
        Worker w[T];
        char path[4096], data[100], token[64];
        long errors = 0;

        memset(data, 's', sizeof(data));
        snprintf(path, sizeof(path), "%s/bench-stat", leader_dir);
        if (write_file(path, data, sizeof(data)) < 0)
                die("write", path);
        snprintf(path, sizeof(path), "%s/bench-ls", leader_dir);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                die("mkdir", path);
        double start = now_us();
        for (int i = 0; i < T; i++) {
                w[i] = (Worker) { .dir = leader_dir, .first = LS_FILES / T * i,
                                  .count = i == T - 1 ? LS_FILES - LS_FILES / T * i : LS_FILES / T };
                pthread_create(&w[i].thread, NULL, ls_create_thread, &w[i]);
        }
        for (int i = 0; i < T; i++) {
                pthread_join(w[i].thread, NULL);
                errors += w[i].errors;
        }
        if (errors > 0) {
                fprintf(stderr, "bench/fs: %ld of %d files in %s/bench-ls not written\n", errors, LS_FILES, leader_dir);
                exit(1);
        }
        double created = now_us() - start;
        snprintf(token, sizeof(token), "%d-%.0f", (int) getpid(), now_us());
        snprintf(path, sizeof(path), "%s/bench-meta-ready", leader_dir);
        if (write_file(path, token, strlen(token)) < 0)
                die("write", path);
        for (int i = 0; i < n_mounts; i++) {
                double deadline = now_us() + 30e6;
                while (!marker_is(mounts[i].dir, token)) {
                        if (now_us() > deadline) {
                                fprintf(stderr, "bench/fs: %s did not apply the setup within 30 s\n", mounts[i].dir);
                                exit(1);
                        }
                        usleep(10 * 1000);
                }
        }
        printf("metadata setup                    bench-stat and %d files of 64 B in bench-ls/ written through the "
               "leader (8 threads, %.2f s), applied on every mount after %.2f s\n",
               LS_FILES, created / 1e6, (now_us() - start) / 1e6);
}

/* ---- stat ---- */

static void stat_path(const Mount *m, char *path, size_t size) {
        snprintf(path, size, "%s/bench-stat", m->dir);
}

static void bench_stat_latency(const Mount *m, int n) {
        char path[4096];
        struct stat st;
        double *t = calloc((size_t) n, sizeof(double));

        stat_path(m, path, sizeof(path));
        for (int i = 0; i < 10; i++)            /* warm: looked up and its attributes fetched */
                if (stat(path, &st) < 0)
                        die("stat", path);
        for (int i = 0; i < n; i++) {
                double a = now_us();
                if (stat(path, &st) < 0)
                        die("stat", path);
                t[i] = now_us() - a;
        }
        qsort(t, (size_t) n, sizeof(double), cmp_double);
        printf("stat latency (%-22s)     p50 %8.4f ms   p99 %8.4f ms   (%d sequential stat() of one warm file, "
               "1 thread)\n", m->label, t[n / 2] / 1e3, t[n * 99 / 100] / 1e3, n);
        record("stat p50", m->key, t[n / 2] / 1e3, "ms");
        record("stat p99", m->key, t[n * 99 / 100] / 1e3, "ms");
        free(t);
}

static void *stat_thread(void *p) {
        Worker *w = p;
        char path[4096];
        struct stat st;

        snprintf(path, sizeof(path), "%s/bench-stat", w->dir);
        while (now_us() < w->until)
                for (int i = 0; i < 100; i++) {
                        if (stat(path, &st) < 0)
                                w->errors++;
                        w->done++;
                }
        return NULL;
}

static void bench_stat_throughput(const Mount *m, int threads, double secs) {
        Worker w[4];
        double start = now_us();
        long total = 0, errors = 0;
        char figure[64];

        for (int i = 0; i < threads; i++) {
                w[i] = (Worker) { .dir = m->dir, .until = start + secs * 1e6 };
                pthread_create(&w[i].thread, NULL, stat_thread, &w[i]);
        }
        for (int i = 0; i < threads; i++) {
                pthread_join(w[i].thread, NULL);
                total += w[i].done;
                errors += w[i].errors;
        }
        double elapsed = (now_us() - start) / 1e6;
        printf("stat throughput (%-22s)  %8.0f calls/s   (%d thread%s, one warm file, %.1f s, %ld calls, %ld errors)\n",
               m->label, (double) total / elapsed, threads, threads > 1 ? "s" : "", elapsed, total, errors);
        snprintf(figure, sizeof(figure), "stat %d thread%s", threads, threads > 1 ? "s" : "");
        record(figure, m->key, (double) total / elapsed, "calls/s");
}

/* ---- ls -l of a directory of LS_FILES files ---- */

/* What GNU ls -l does to the file system: opendir, readdir to the end, and
 * an lstat (statx without following) of "DIR/NAME" for each entry, by path
 * like ls, so each is a path walk through DIR. Returns microseconds. */
static double ls_equivalent(const char *dir, long *ret_entries) {
        char path[4096];
        struct stat st;
        long entries = 0;

        double a = now_us();
        DIR *d = opendir(dir);
        if (!d)
                die("opendir", dir);
        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (lstat(path, &st) < 0)
                        die("lstat", path);
                entries++;
        }
        if (errno != 0)
                die("readdir", dir);
        closedir(d);
        *ret_entries = entries;
        return now_us() - a;
}

/* The real thing: fork, exec ls -l DIR with stdout on /dev/null, wait.
 * Includes process creation and ls's own start (a few ms). */
static double ls_real(const char *dir) {
        double a = now_us();
        pid_t pid = fork();
        if (pid < 0)
                die("fork", NULL);
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY);
                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
                        _exit(126);
                execlp("ls", "ls", "-l", dir, (char *) NULL);
                _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0)
                die("waitpid", NULL);
        double t = now_us() - a;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench/fs: ls -l %s failed (status %d)\n", dir, status);
                exit(1);
        }
        return t;
}

static double median(double *v, int n) {
        qsort(v, (size_t) n, sizeof(double), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void bench_ls(const Mount *m, int repeats) {
        enum { REAL = 5 };
        char dir[4096];
        double t[32], real[REAL];
        long entries = 0;

        snprintf(dir, sizeof(dir), "%s/bench-ls", m->dir);
        double first = ls_equivalent(dir, &entries);
        if (entries != LS_FILES) {
                fprintf(stderr, "bench/fs: %s has %ld entries, not %d\n", dir, entries, LS_FILES);
                exit(1);
        }
        for (int i = 0; i < repeats; i++)
                t[i] = ls_equivalent(dir, &entries);
        double med = median(t, repeats);
        printf("ls -l equivalent (%-22s) first %8.2f ms   median %8.2f ms   (opendir+readdir+lstat of each of %d "
               "files by path; first listing, then median of %d more, range %.2f-%.2f ms)\n",
               m->label, first / 1e3, med / 1e3, LS_FILES, repeats, t[0] / 1e3, t[repeats - 1] / 1e3);
        record("ls -l equivalent first", m->key, first / 1e3, "ms");
        record("ls -l equivalent", m->key, med / 1e3, "ms");
        for (int i = 0; i < REAL; i++)
                real[i] = ls_real(dir);
        double rmed = median(real, REAL);
        printf("real ls -l (%-22s)              %8.2f ms   (fork+exec+wait of `ls -l DIR >/dev/null`, %d files, "
               "median of %d, range %.2f-%.2f ms)\n",
               m->label, rmed / 1e3, LS_FILES, REAL, real[0] / 1e3, real[REAL - 1] / 1e3);
        record("real ls -l", m->key, rmed / 1e3, "ms");
}

/* The same two measurements on a directory of the machine's own /tmp: what
 * the process start and ls cost without raftfs, to read the figures above. */
static void bench_ls_baseline(int repeats) {
        enum { REAL = 5 };
        char dir[] = "/tmp/bench-fs-ls-XXXXXX", path[4096], data[64];
        double t[32], real[REAL];
        long entries = 0;

        if (!mkdtemp(dir))
                die("mkdtemp", dir);
        memset(data, 'c', sizeof(data));
        for (int i = 0; i < LS_FILES; i++) {
                snprintf(path, sizeof(path), "%s/f%04d", dir, i);
                if (write_file(path, data, sizeof(data)) < 0)
                        die("write", path);
        }
        for (int i = 0; i < repeats; i++)
                t[i] = ls_equivalent(dir, &entries);
        for (int i = 0; i < REAL; i++)
                real[i] = ls_real(dir);
        double med = median(t, repeats), rmed = median(real, REAL);
        printf("ls -l baseline (/tmp, not raftfs)         equivalent median %6.2f ms, real ls -l median %6.2f ms "
               "(same %d files of 64 B)\n", med / 1e3, rmed / 1e3, LS_FILES);
        record("ls -l equivalent", "baseline-tmp", med / 1e3, "ms");
        record("real ls -l", "baseline-tmp", rmed / 1e3, "ms");
        for (int i = 0; i < LS_FILES; i++) {
                snprintf(path, sizeof(path), "%s/f%04d", dir, i);
                (void) unlink(path);
        }
        (void) rmdir(dir);
}

/* ---- lock handoff ---- */

static atomic_long handoffs;
static atomic_int last_holder = -1;

static void *lock_thread(void *p) {
        Worker *w = p;
        char path[4096];

        snprintf(path, sizeof(path), "%s/bench-lock", w->dir);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
                die("open", path);
        while (now_us() < w->until) {
                if (flock(fd, LOCK_EX) < 0) {
                        w->errors++;
                        continue;
                }
                if (atomic_exchange(&last_holder, w->id) != w->id)
                        atomic_fetch_add(&handoffs, 1);
                w->done++;
                if (flock(fd, LOCK_UN) < 0)
                        w->errors++;
        }
        close(fd);
        return NULL;
}

static void bench_locks(const char *a, const char *b, double secs) {
        Worker w[2];
        char path[4096];
        double start = now_us();

        snprintf(path, sizeof(path), "%s/bench-lock", a);
        if (write_file(path, "", 0) < 0)
                die("create", path);
        usleep(200 * 1000);     /* let the other node apply it */
        w[0] = (Worker) { .dir = a, .id = 0, .until = start + secs * 1e6 };
        w[1] = (Worker) { .dir = b, .id = 1, .until = start + secs * 1e6 };
        for (int i = 0; i < 2; i++)
                pthread_create(&w[i].thread, NULL, lock_thread, &w[i]);
        for (int i = 0; i < 2; i++)
                pthread_join(w[i].thread, NULL);
        double elapsed = (now_us() - start) / 1e6;
        printf("lock handoffs between two nodes   %8.0f /s        (flock EX/UN in two threads on leader and follower, "
               "%ld acquisitions, %ld handoffs, %ld errors)\n",
               (double) atomic_load(&handoffs) / elapsed, w[0].done + w[1].done, (long) atomic_load(&handoffs),
               w[0].errors + w[1].errors);
}

/* ---- many files, RSS ---- */

static void *create_thread(void *p) {
        Worker *w = p;
        char path[4096], data[1024];

        memset(data, 'f', sizeof(data));
        for (long i = w->first; i < w->first + w->count; i++) {
                snprintf(path, sizeof(path), "%s/bench-files/%02ld/f%07ld", w->dir, i % 64, i);
                if (write_file(path, data, sizeof(data)) < 0)
                        w->errors++;
                else
                        w->done++;
        }
        return NULL;
}

static long rss_kib(const char *pid) {
        char path[64], line[256];
        long v = -1;
        snprintf(path, sizeof(path), "/proc/%s/status", pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld", &v) == 1)
                        break;
        fclose(f);
        return v;
}

static void bench_files(const char *dir, long n) {
        enum { T = 64 };
        Worker w[T];
        char path[4096];
        long done = 0, errors = 0;

        snprintf(path, sizeof(path), "%s/bench-files", dir);
        (void) mkdir(path, 0755);
        for (int i = 0; i < 64; i++) {
                snprintf(path, sizeof(path), "%s/bench-files/%02d", dir, i);
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        die("mkdir", path);
        }
        double start = now_us();
        for (int i = 0; i < T; i++) {
                w[i] = (Worker) { .dir = dir, .first = n / T * i, .count = i == T - 1 ? n - n / T * i : n / T };
                pthread_create(&w[i].thread, NULL, create_thread, &w[i]);
        }
        for (int i = 0; i < T; i++) {
                pthread_join(w[i].thread, NULL);
                done += w[i].done;
                errors += w[i].errors;
        }
        printf("created %ld files of 1 KiB        %8.0f files/s   (%d threads, %ld errors)\n", done,
               (double) done / ((now_us() - start) / 1e6), T, errors);
        if (!pids_arg)
                return;
        sleep(2);               /* followers apply the tail */
        char *copy = strdup(pids_arg), *save = NULL;
        for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
                printf("RSS of daemon pid %-8s        %8.1f MiB     (VmRSS after %ld files)\n", p,
                       (double) rss_kib(p) / 1024.0, done);
        free(copy);
}

/* ---- failover ---- */

static void bench_failover(const char *dir, pid_t victim) {
        char path[4096], data[16] = "failover";
        double last_ok = 0, worst = 0, killed_at = 0;
        double end = 0;
        long ok = 0, failed = 0;

        snprintf(path, sizeof(path), "%s/bench-failover", dir);
        double start = now_us();
        for (;;) {
                double t = now_us();
                if (!killed_at && t - start > 1e6) {
                        kill(victim, SIGKILL);
                        killed_at = t;
                        end = t + 15e6;
                }
                if (end && t > end)
                        break;
                if (write_file(path, data, sizeof(data)) == 0) {
                        double done = now_us();
                        if (last_ok && killed_at && done - last_ok > worst)
                                worst = done - last_ok;
                        last_ok = done;
                        ok++;
                        if (killed_at && done - killed_at > 3e6 && worst > 0)
                                break;
                } else
                        failed++;
        }
        printf("failover gap                      %8.0f ms        (longest time between two commits of one writer on a "
               "follower around kill -9 of the leader; %ld ok, %ld failed)\n", worst / 1e3, ok, failed);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "leader", required_argument, NULL, 'l' },
                { "follower", required_argument, NULL, 'f' },
                { "local", required_argument, NULL, 'L' },
                { "pids", required_argument, NULL, 'p' },
                { "kill-leader", required_argument, NULL, 'k' },
                { "files", required_argument, NULL, 'n' },
                { "seconds", required_argument, NULL, 's' },
                { "quick", no_argument, NULL, 'q' },
                { "only", required_argument, NULL, 'o' },
                { "records", required_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'l': leader_dir = optarg; break;
                case 'f': follower_dir = optarg; break;
                case 'L': local_dir = optarg; break;
                case 'p': pids_arg = optarg; break;
                case 'k': kill_pid = (pid_t) atoi(optarg); break;
                case 'n': n_files = atol(optarg); break;
                case 's': seconds = atof(optarg); break;
                case 'q': quick = true; break;
                case 'o': only = optarg; break;
                case 'r':
                        records = fopen(optarg, "we");
                        if (!records)
                                die("open", optarg);
                        break;
                default:
                        fprintf(stderr, "usage: %s --leader DIR --follower DIR [--local DIR] [--pids P,P,P] "
                                        "[--kill-leader PID] [--files N] [--seconds S] [--quick]\n"
                                        "       [--only PART,...] [--records FILE]\n"
                                        "parts: write writers read stat ls locks files failover; "
                                        "meta = stat,ls; wr = write,read\n", argv[0]);
                        return c == 'h' ? 0 : 2;
                }
        if (!leader_dir || !follower_dir) {
                fprintf(stderr, "bench/fs: --leader and --follower are required\n");
                return 2;
        }
        mounts[n_mounts++] = (Mount) { "linearizable, leader", "lin-leader", leader_dir };
        mounts[n_mounts++] = (Mount) { "linearizable, follower", "lin-follower", follower_dir };
        if (local_dir)
                mounts[n_mounts++] = (Mount) { "local", "local", local_dir };
        int n = quick ? 300 : 3000;
        int n_stat = quick ? 2000 : 20000, ls_repeats = quick ? 3 : 9;
        if (quick) {
                seconds = MIN(seconds, 1);
                n_files = n_files > 2000 ? 2000 : n_files;
        }

        printf("raftfs bench/fs: leader %s, follower %s%s%s\n", leader_dir, follower_dir,
               local_dir ? ", local " : "", local_dir ? local_dir : "");
        if (part("write"))
                for (int i = 0; i < n_mounts; i++)
                        bench_write_latency(&mounts[i], n);
        if (part("writers"))
                bench_writers(leader_dir, 64, seconds);

        char path[4096], kib[1024];
        memset(kib, 'r', sizeof(kib));
        snprintf(path, sizeof(path), "%s/bench-read", leader_dir);
        if (write_file(path, kib, sizeof(kib)) < 0)
                die("write", path);
        usleep(200 * 1000);
        if (part("read")) {
                bench_read(&mounts[1], n);      /* follower first, as before */
                bench_read(&mounts[0], n);
                if (local_dir)
                        bench_read(&mounts[2], n);
        }
        if (part("stat") || part("ls"))
                setup_meta();
        if (part("stat"))
                for (int i = 0; i < n_mounts; i++) {
                        bench_stat_latency(&mounts[i], n_stat);
                        bench_stat_throughput(&mounts[i], 1, seconds / 2);
                        bench_stat_throughput(&mounts[i], 4, seconds / 2);
                }
        if (part("ls")) {
                for (int i = 0; i < n_mounts; i++)
                        bench_ls(&mounts[i], ls_repeats);
                bench_ls_baseline(ls_repeats);
        }
        if (part("locks"))
                bench_locks(leader_dir, follower_dir, seconds);
        if (part("files"))
                bench_files(leader_dir, n_files);
        if (kill_pid > 0 && part("failover"))
                bench_failover(follower_dir, kill_pid);
        if (records && fclose(records) != 0)
                die("close", "--records");
        return 0;
}
