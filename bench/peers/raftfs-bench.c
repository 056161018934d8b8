#include "config.h"

/* raftfs-bench — the raftfs side of bench/run's comparison: the same six
 * workloads as etcd-bench and zk-bench, through ordinary file operations on
 * the nodes' mounts (the only interface raftfs offers its users).
 *
 *   put       open(O_WRONLY|O_TRUNC) + write + close of an existing file: one
 *             commit, acknowledged by close()
 *   get       open + read + close: open waits for a read barrier (linearizable)
 *   lock      flock(LOCK_EX) / flock(LOCK_UN) on one file from two mounts
 *   failover  puts in a loop on one mount while the driver kills the leader
 *   fill      N files of 1 KiB (for the RSS figure)
 *
 * Usage: raftfs-bench MOUNT[,MOUNT...] MODE ARGS, modes as in etcd-bench;
 * output: "RESULT <metric> <value>" lines. Bounded by counts and durations;
 * raftfs itself bounds every commit wait by op_timeout. */

#include "bench/peers/peer-util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MNT 8

static char *mounts[MAX_MNT];
static int n_mnt;

static const char small_value[] =
        "max_conns = 200 # a small configuration value of one hundred bytes, as config files are.....";

/* Writes value into path as one commit; returns 0 or a negative errno. */
static int fs_put(const char *path, const char *value, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        ssize_t k = write(fd, value, len);
        int r = k == (ssize_t) len ? 0 : k < 0 ? -errno : -EIO;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        return r;
}

static int fs_get(const char *path) {
        char buf[4096];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t k = read(fd, buf, sizeof buf);
        int r = k < 0 ? -errno : 0;
        close(fd);
        return r;
}

static void mkdir_p(const char *path) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "raftfs-bench: mkdir %s: %m\n", path);
                exit(1);
        }
}

static void mode_seqput(long n) {
        Samples s = {};
        char dir[4096], path[4200];
        snprintf(dir, sizeof dir, "%s/bench-seq", mounts[0]);
        mkdir_p(dir);
        for (long i = 0; i < n; i++) {
                snprintf(path, sizeof path, "%s/%ld", dir, i % 100);
                if (i < 100 && fs_put(path, "", 0) < 0) /* create outside the timed part, as etcd-bench's keys */
                        exit(1);
                uint64_t t0 = peer_now_usec();
                int r = fs_put(path, small_value, sizeof small_value - 1);
                if (r < 0) {
                        fprintf(stderr, "raftfs-bench: put: %s\n", strerror(-r));
                        exit(1);
                }
                samples_add(&s, peer_now_usec() - t0);
        }
        peer_result("put_p50_ms", samples_pct_ms(&s, 50));
        peer_result("put_p99_ms", samples_pct_ms(&s, 99));
        samples_done(&s);
}

static void mode_get(long n) {
        Samples s = {};
        char path[4200];
        snprintf(path, sizeof path, "%s/bench-get", mounts[0]);
        if (fs_put(path, small_value, sizeof small_value - 1) < 0)
                exit(1);
        for (long i = 0; i < n; i++) {
                uint64_t t0 = peer_now_usec();
                if (fs_get(path) < 0) {
                        fprintf(stderr, "raftfs-bench: get failed\n");
                        exit(1);
                }
                samples_add(&s, peer_now_usec() - t0);
        }
        peer_result("get_p50_ms", samples_pct_ms(&s, 50));
        peer_result("get_p99_ms", samples_pct_ms(&s, 99));
        samples_done(&s);
}

typedef struct Worker {
        pthread_t thread;
        int id;
        uint64_t deadline;
        long count, errors, limit;
        bool create;
} Worker;

static void *writer_main(void *arg) {
        Worker *w = arg;
        char dir[4200], path[4300], value[1024];
        uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t) (w->id + 1);
        const char *mnt = mounts[w->id % n_mnt];
        peer_fill_value(value, sizeof value, &rng);
        snprintf(dir, sizeof dir, "%s/bench-w/%d", mnt, w->id);
        mkdir_p(dir);
        snprintf(path, sizeof path, "%s/cur", dir);
        while (peer_now_usec() < w->deadline && (w->limit < 0 || w->count < w->limit)) {
                int r;
                if (w->create) {
                        snprintf(path, sizeof path, "%s/k%ld", dir, w->count);
                        r = fs_put(path, value, sizeof value);
                } else
                        r = fs_put(path, small_value, sizeof small_value - 1);
                if (r < 0) {
                        if (++w->errors > 100)
                                break;
                        continue;
                }
                w->count++;
        }
        return NULL;
}

static long run_writers(int n, double seconds, long total, bool create, double *ret_elapsed) {
        Worker *w = calloc((size_t) n, sizeof *w);
        char dir[4200];
        long sum = 0, errors = 0;
        for (int i = 0; i < n_mnt; i++) {
                snprintf(dir, sizeof dir, "%s/bench-w", mounts[i]);
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        exit(1);
        }
        uint64_t t0 = peer_now_usec();
        for (int i = 0; i < n; i++) {
                w[i] = (Worker) { .id = i, .deadline = t0 + (uint64_t) (seconds * 1e6), .create = create,
                                  .limit = total < 0 ? -1 : total / n + (i < total % n) };
                if (pthread_create(&w[i].thread, NULL, writer_main, &w[i]) != 0)
                        abort();
        }
        for (int i = 0; i < n; i++) {
                pthread_join(w[i].thread, NULL);
                sum += w[i].count;
                errors += w[i].errors;
        }
        *ret_elapsed = (double) (peer_now_usec() - t0) / 1e6;
        if (errors)
                fprintf(stderr, "raftfs-bench: %ld failed writes\n", errors);
        free(w);
        return sum;
}

static pthread_mutex_t lock_mu = PTHREAD_MUTEX_INITIALIZER;
static int last_holder = -1;
static long acquisitions, handoffs;

static void *locker_main(void *arg) {
        Worker *w = arg;
        char path[4200];
        snprintf(path, sizeof path, "%s/bench-lock", mounts[w->id % n_mnt]);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
                fprintf(stderr, "raftfs-bench: open %s: %m\n", path);
                exit(1);
        }
        while (peer_now_usec() < w->deadline) {
                if (flock(fd, LOCK_EX) < 0) {
                        if (++w->errors > 10)
                                break;
                        continue;
                }
                pthread_mutex_lock(&lock_mu);
                acquisitions++;
                if (last_holder >= 0 && last_holder != w->id)
                        handoffs++;
                last_holder = w->id;
                pthread_mutex_unlock(&lock_mu);
                if (flock(fd, LOCK_UN) < 0)
                        w->errors++;
                w->count++;
        }
        close(fd);
        return NULL;
}

static void mode_lock(double seconds, int n) {
        Worker w[2];
        char path[4200];
        snprintf(path, sizeof path, "%s/bench-lock", mounts[0]);
        if (fs_put(path, "", 0) < 0)
                exit(1);
        uint64_t t0 = peer_now_usec();
        for (int i = 0; i < n; i++) {
                w[i] = (Worker) { .id = i, .deadline = t0 + (uint64_t) (seconds * 1e6) };
                pthread_create(&w[i].thread, NULL, locker_main, &w[i]);
        }
        for (int i = 0; i < n; i++)
                pthread_join(w[i].thread, NULL);
        double el = (double) (peer_now_usec() - t0) / 1e6;
        if (n == 1) {
                peer_result("lock_cycles_per_s", (double) acquisitions / el);
                return;
        }
        peer_result("lock_acquisitions_per_s", (double) acquisitions / el);
        peer_result("lock_handoffs_per_s", (double) handoffs / el);
}

static void mode_failover(double seconds) {
        char path[4200];
        uint64_t t0 = peer_now_usec(), deadline = t0 + (uint64_t) (seconds * 1e6), last_ok = 0, gap = 0;
        long ok = 0, failed = 0;
        snprintf(path, sizeof path, "%s/bench-failover", mounts[0]);
        while (peer_now_usec() < deadline) {
                if (fs_put(path, small_value, sizeof small_value - 1) < 0) {
                        failed++;
                        usleep(1000);
                        continue;
                }
                uint64_t now = peer_now_usec();
                if (last_ok && now - last_ok > gap)
                        gap = now - last_ok;
                last_ok = now;
                ok++;
        }
        fprintf(stderr, "raftfs-bench: failover: %ld ok, %ld failed puts\n", ok, failed);
        peer_result("failover_gap_ms", (double) gap / 1000.0);
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr,
                        "usage: raftfs-bench MOUNT[,MOUNT...] MODE ARGS\n"
                        "  seqput N | writers C SECONDS | get N | lock SECONDS | lockcycle SECONDS | failover SECONDS | fill N C\n");
                return 2;
        }
        char *save = NULL;
        for (char *t = strtok_r(argv[1], ",", &save); t && n_mnt < MAX_MNT; t = strtok_r(NULL, ",", &save))
                mounts[n_mnt++] = t;
        const char *mode = argv[2];
        double el;
        if (strcmp(mode, "seqput") == 0)
                mode_seqput(atol(argv[3]));
        else if (strcmp(mode, "writers") == 0 && argc >= 5) {
                long n = run_writers(atoi(argv[3]), atof(argv[4]), -1, false, &el);
                peer_result("writers_puts_per_s", (double) n / el);
        } else if (strcmp(mode, "get") == 0)
                mode_get(atol(argv[3]));
        else if (strcmp(mode, "lock") == 0)
                mode_lock(atof(argv[3]), 2);
        else if (strcmp(mode, "lockcycle") == 0)
                mode_lock(atof(argv[3]), 1);
        else if (strcmp(mode, "failover") == 0)
                mode_failover(atof(argv[3]));
        else if (strcmp(mode, "fill") == 0 && argc >= 5) {
                long total = atol(argv[3]);
                long n = run_writers(atoi(argv[4]), 3600, total, true, &el);
                peer_result("fill_keys", (double) n);
                peer_result("fill_seconds", el);
                if (n < total)
                        return 1;
        } else {
                fprintf(stderr, "raftfs-bench: unknown mode or missing arguments\n");
                return 2;
        }
        return 0;
}
