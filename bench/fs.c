#include "config.h"
/* bench/fs.c — raftfs through its mounts: latency and throughput of the
 * operations a configuration and lock service lives on.
 *
 * Runs against mounted raftfs file systems (normally a 3-node loopback
 * cluster made by bench/fs.sh); it only does ordinary syscalls:
 *
 *   bench/fs --leader DIR --follower DIR [--local DIR] [--pids P1,P2,P3]
 *            [--kill-leader PID] [--files N] [--seconds S] [--quick] [--only PART]
 *
 *   write+close     sequential open(O_TRUNC)+write(100 B)+close on one file:
 *                   one commit each; p50/p99 on the leader's and a
 *                   follower's mount
 *   64 writers      64 threads, each rewriting its own file in a loop on the
 *                   leader's mount for S seconds: commits/s
 *   open+read+close p50/p99 and one-thread throughput, linearizable (the
 *                   follower's mount: a read barrier per open) and local
 *                   (--local: a node with consistency = local)
 *   stat            stat() of one file, 4 threads, calls/s (kernel cache)
 *   lock handoff    two threads on two mounts (leader, follower) taking
 *                   flock(LOCK_EX) and releasing it on one file in turn:
 *                   handoffs/s
 *   RSS             after creating N files (default 100,000) of 1 KiB with
 *                   64 threads: VmRSS of each --pids daemon
 *   failover gap    with --kill-leader PID: one writer on the follower,
 *                   the leader is killed (SIGKILL), the longest time
 *                   between two successful commits (last)
 *
 * Every figure is printed with how it was measured. */

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
#include <time.h>
#include <unistd.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))

static const char *leader_dir, *follower_dir, *local_dir;
static char *pids_arg;
static pid_t kill_pid;
static long n_files = 100000;
static double seconds = 5;
static bool quick;
static const char *only;        /* run one part: write, writers, read, stat, locks, files, failover */

static bool part(const char *name) {
        return !only || strcmp(only, name) == 0;
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

static void bench_write_latency(const char *label, const char *dir, int n) {
        char path[4096], data[100];
        double *t = calloc((size_t) n, sizeof(double));

        memset(data, 'w', sizeof(data));
        snprintf(path, sizeof(path), "%s/bench-wlat", dir);
        for (int i = 0; i < n; i++) {
                double a = now_us();
                if (write_file(path, data, sizeof(data)) < 0)
                        die("write", path);
                t[i] = now_us() - a;
        }
        qsort(t, (size_t) n, sizeof(double), cmp_double);
        printf("write+close latency (%s)        p50 %8.3f ms   p99 %8.3f ms   (%d sequential commits of 100 B)\n",
               label, t[n / 2] / 1e3, t[n * 99 / 100] / 1e3, n);
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

static void bench_read(const char *label, const char *dir, int n) {
        char path[4096], buf[4096];
        double *t = calloc((size_t) n, sizeof(double));

        snprintf(path, sizeof(path), "%s/bench-read", dir);
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
        printf("open+read+close (%s)  p50 %8.3f ms   p99 %8.3f ms   %8.0f /s one thread (%d cycles, 1 KiB)\n",
               label, t[n / 2] / 1e3, t[n * 99 / 100] / 1e3, n / (sum / 1e6), n);
        free(t);
}

/* ---- stat ---- */

static void *stat_thread(void *p) {
        Worker *w = p;
        char path[4096];
        struct stat st;

        snprintf(path, sizeof(path), "%s/bench-read", w->dir);
        while (now_us() < w->until)
                for (int i = 0; i < 100; i++) {
                        if (stat(path, &st) < 0)
                                w->errors++;
                        w->done++;
                }
        return NULL;
}

static void bench_stat(const char *dir, double secs) {
        enum { T = 4 };
        Worker w[T];
        double start = now_us();
        long total = 0;

        for (int i = 0; i < T; i++) {
                w[i] = (Worker) { .dir = dir, .until = start + secs * 1e6 };
                pthread_create(&w[i].thread, NULL, stat_thread, &w[i]);
        }
        for (int i = 0; i < T; i++) {
                pthread_join(w[i].thread, NULL);
                total += w[i].done;
        }
        printf("stat throughput                   %8.0f calls/s   (%d threads, one file, follower)\n",
               (double) total / ((now_us() - start) / 1e6), T);
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
                default:
                        fprintf(stderr, "usage: %s --leader DIR --follower DIR [--local DIR] [--pids P,P,P] "
                                        "[--kill-leader PID] [--files N] [--seconds S] [--quick]\n", argv[0]);
                        return c == 'h' ? 0 : 2;
                }
        if (!leader_dir || !follower_dir) {
                fprintf(stderr, "bench/fs: --leader and --follower are required\n");
                return 2;
        }
        int n = quick ? 300 : 3000;
        if (quick) {
                seconds = MIN(seconds, 1);
                n_files = n_files > 2000 ? 2000 : n_files;
        }

        printf("raftfs bench/fs: leader %s, follower %s%s%s\n", leader_dir, follower_dir,
               local_dir ? ", local " : "", local_dir ? local_dir : "");
        if (part("write")) {
                bench_write_latency("leader  ", leader_dir, n);
                bench_write_latency("follower", follower_dir, n);
        }
        if (part("writers"))
                bench_writers(leader_dir, 64, seconds);

        char path[4096], kib[1024];
        memset(kib, 'r', sizeof(kib));
        snprintf(path, sizeof(path), "%s/bench-read", leader_dir);
        if (write_file(path, kib, sizeof(kib)) < 0)
                die("write", path);
        usleep(200 * 1000);
        if (part("read")) {
                bench_read("linearizable, follower", follower_dir, n);
                bench_read("linearizable, leader  ", leader_dir, n);
                if (local_dir)
                        bench_read("local               ", local_dir, n);
        }
        if (part("stat"))
                bench_stat(follower_dir, seconds / 2);
        if (part("locks"))
                bench_locks(leader_dir, follower_dir, seconds);
        if (part("files"))
                bench_files(leader_dir, n_files);
        if (kill_pid > 0 && part("failover"))
                bench_failover(follower_dir, kill_pid);
        return 0;
}
