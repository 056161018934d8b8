#include "config.h"

/* zk-bench — the ZooKeeper side of bench/run's comparison, through the
 * official multi-threaded C client library (libzookeeper_mt).
 *
 * Fair client: each simulated client is one zhandle_t (one persistent session
 * and TCP connection) created once; operations are the library's synchronous
 * calls. Modes mirror etcd-bench (see there) and print "RESULT" lines:
 *   seqput N, writers C SECONDS, get N (sync() then get: ZooKeeper's
 *   linearizable read), lock SECONDS (the standard recipe: ephemeral
 *   sequential children, watch the predecessor), failover SECONDS, fill N C.
 * Every mode is bounded by its count or its duration. */

#include "bench/peers/peer-util.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define THREADED 1 /* the synchronous API of libzookeeper_mt */
#include <zookeeper/zookeeper.h>

#define MAX_EP 8
#define SESSION_MS 10000

static char *ep_host[MAX_EP];
static int ep_port[MAX_EP];
static int n_ep;

typedef struct Waiter {
        pthread_mutex_t mu;
        pthread_cond_t cond;
        bool fired;
        int rc;
} Waiter;

static void waiter_init(Waiter *w) {
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cond, NULL);
        w->fired = false;
}

static void waiter_fire(Waiter *w, int rc) {
        pthread_mutex_lock(&w->mu);
        w->fired = true;
        w->rc = rc;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->mu);
}

/* Waits up to timeout_ms; returns true when fired (and resets). */
static bool waiter_wait(Waiter *w, int timeout_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w->mu);
        while (!w->fired && pthread_cond_timedwait(&w->cond, &w->mu, &ts) == 0)
                ;
        bool fired = w->fired;
        w->fired = false;
        pthread_mutex_unlock(&w->mu);
        return fired;
}

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
        if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE)
                waiter_fire(ctx, 0);
}

/* Opens a session to endpoint ep and waits until it is connected. */
static zhandle_t *zk_open(int ep) {
        char host[128];
        Waiter *w = malloc(sizeof *w);
        waiter_init(w);
        snprintf(host, sizeof host, "%s:%d", ep_host[ep % n_ep], ep_port[ep % n_ep]);
        zhandle_t *zh = zookeeper_init(host, session_watcher, SESSION_MS, NULL, w, 0);
        if (!zh || !waiter_wait(w, 10000)) {
                fprintf(stderr, "zk-bench: cannot connect to %s\n", host);
                exit(1);
        }
        return zh; /* w stays alive as the session watcher's context */
}

static const char small_value[] =
        "max_conns = 200 # a small configuration value of one hundred bytes, as config files are.....";

static void ensure_node(zhandle_t *zh, const char *path) {
        int rc = zoo_create(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
        if (rc != ZOK && rc != ZNODEEXISTS) {
                fprintf(stderr, "zk-bench: create %s: %s\n", path, zerror(rc));
                exit(1);
        }
}

static void mode_seqput(long n) {
        zhandle_t *zh = zk_open(0);
        Samples s = {};
        char path[64];
        ensure_node(zh, "/bench");
        for (int i = 0; i < 1000 && i < n; i++) {
                snprintf(path, sizeof path, "/bench/seq%d", i);
                ensure_node(zh, path);
        }
        for (long i = 0; i < n; i++) {
                snprintf(path, sizeof path, "/bench/seq%ld", i % 1000);
                uint64_t t0 = peer_now_usec();
                int rc = zoo_set(zh, path, small_value, (int) sizeof small_value - 1, -1);
                if (rc != ZOK) {
                        fprintf(stderr, "zk-bench: set: %s\n", zerror(rc));
                        exit(1);
                }
                samples_add(&s, peer_now_usec() - t0);
        }
        peer_result("put_p50_ms", samples_pct_ms(&s, 50));
        peer_result("put_p99_ms", samples_pct_ms(&s, 99));
        samples_done(&s);
        zookeeper_close(zh);
}

typedef struct Worker {
        pthread_t thread;
        int id;
        uint64_t deadline;
        long count, errors, limit;
        int value_size;
        bool create; /* fill: create new nodes instead of setting one */
} Worker;

static void *writer_main(void *arg) {
        Worker *w = arg;
        zhandle_t *zh = zk_open(w->id);
        char path[64], *value = malloc((size_t) w->value_size);
        uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t) (w->id + 1);
        peer_fill_value(value, (size_t) w->value_size, &rng);
        snprintf(path, sizeof path, "/bench/w%d", w->id);
        ensure_node(zh, path);
        while (peer_now_usec() < w->deadline && (w->limit < 0 || w->count < w->limit)) {
                int rc;
                if (w->create) {
                        snprintf(path, sizeof path, "/bench/w%d/k%ld", w->id, w->count);
                        rc = zoo_create(zh, path, value, w->value_size, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
                } else
                        rc = zoo_set(zh, path, value, w->value_size, -1);
                if (rc != ZOK) {
                        if (++w->errors > 100)
                                break;
                        continue;
                }
                w->count++;
        }
        zookeeper_close(zh);
        free(value);
        return NULL;
}

static long run_writers(int n, double seconds, long total, int value_size, bool create, double *ret_elapsed) {
        Worker *w = calloc((size_t) n, sizeof *w);
        zhandle_t *zh = zk_open(0);
        long sum = 0, errors = 0;
        ensure_node(zh, "/bench");
        zookeeper_close(zh);
        uint64_t t0 = peer_now_usec();
        for (int i = 0; i < n; i++) {
                w[i] = (Worker) { .id = i, .deadline = t0 + (uint64_t) (seconds * 1e6), .value_size = value_size,
                                  .create = create, .limit = total < 0 ? -1 : total / n + (i < total % n) };
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
                fprintf(stderr, "zk-bench: %ld failed writes\n", errors);
        free(w);
        return sum;
}

static void sync_done(int rc, const char *value, const void *data) {
        waiter_fire((Waiter *) data, rc);
}

static void mode_get(long n) {
        zhandle_t *zh = zk_open(0);
        Samples s = {};
        Waiter w;
        char buf[256];
        waiter_init(&w);
        ensure_node(zh, "/bench");
        ensure_node(zh, "/bench/get");
        zoo_set(zh, "/bench/get", small_value, (int) sizeof small_value - 1, -1);
        for (long i = 0; i < n; i++) {
                int len = sizeof buf;
                uint64_t t0 = peer_now_usec();
                /* sync() makes the server catch up with the leader first. */
                if (zoo_async(zh, "/bench/get", sync_done, &w) != ZOK || !waiter_wait(&w, 5000) || w.rc != ZOK ||
                    zoo_get(zh, "/bench/get", 0, buf, &len, NULL) != ZOK) {
                        fprintf(stderr, "zk-bench: sync+get failed\n");
                        exit(1);
                }
                samples_add(&s, peer_now_usec() - t0);
        }
        peer_result("get_p50_ms", samples_pct_ms(&s, 50));
        peer_result("get_p99_ms", samples_pct_ms(&s, 99));
        samples_done(&s);
        zookeeper_close(zh);
}

static pthread_mutex_t lock_mu = PTHREAD_MUTEX_INITIALIZER;
static int last_holder = -1;
static long acquisitions, handoffs;

static void pred_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
        if (type == ZOO_DELETED_EVENT || type == ZOO_CHANGED_EVENT)
                waiter_fire(ctx, 0);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The lock recipe: returns 0 with my node's path in mine once it is the
 * lowest child. Gives up at the deadline or on an error, deleting its own
 * node first: a node left behind would stay the predecessor of every later
 * node of this session and block them for good. */
static int zk_lock(zhandle_t *zh, Waiter *w, char *mine, int size, uint64_t deadline) {
        int rc = zoo_create(zh, "/bench-lock/n-", "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL | ZOO_SEQUENCE, mine, size);
        if (rc != ZOK)
                return -EIO;
        const char *me = strrchr(mine, '/') + 1;
        while (peer_now_usec() < deadline) {
                struct String_vector kids;
                if (zoo_get_children(zh, "/bench-lock", 0, &kids) != ZOK)
                        break;
                qsort(kids.data, (size_t) kids.count, sizeof *kids.data, cmp_str);
                char pred[256] = "";
                for (int i = 0; i < kids.count && strcmp(kids.data[i], me) < 0; i++)
                        snprintf(pred, sizeof pred, "/bench-lock/%s", kids.data[i]);
                deallocate_String_vector(&kids);
                if (!pred[0])
                        return 0;
                rc = zoo_wexists(zh, pred, pred_watcher, w, NULL);
                if (rc == ZNONODE)
                        continue;
                if (rc != ZOK)
                        break;
                (void) waiter_wait(w, 1000);
        }
        (void) zoo_delete(zh, mine, -1);
        return -EIO;
}

static void *locker_main(void *arg) {
        Worker *w = arg;
        zhandle_t *zh = zk_open(w->id);
        Waiter wt;
        char mine[256];
        waiter_init(&wt);
        while (peer_now_usec() < w->deadline) {
                if (zk_lock(zh, &wt, mine, sizeof mine, w->deadline) < 0) {
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
                int rc = ZOK, tries = 0;
                while ((rc = zoo_delete(zh, mine, -1)) != ZOK && rc != ZNONODE && ++tries < 50)
                        usleep(10000);
                if (rc != ZOK && rc != ZNONODE) {
                        w->errors++;
                        break; /* closing the session removes the node */
                }
                w->count++;
        }
        zookeeper_close(zh);
        return NULL;
}

static void mode_lock(double seconds, int n) {
        Worker w[2];
        zhandle_t *zh = zk_open(0);
        ensure_node(zh, "/bench-lock");
        zookeeper_close(zh);
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
        zhandle_t *zh = zk_open(0);
        uint64_t t0 = peer_now_usec(), deadline = t0 + (uint64_t) (seconds * 1e6), last_ok = 0, gap = 0;
        long ok = 0, failed = 0;
        ensure_node(zh, "/bench");
        ensure_node(zh, "/bench/failover");
        while (peer_now_usec() < deadline) {
                int rc = zoo_set(zh, "/bench/failover", small_value, (int) sizeof small_value - 1, -1);
                if (rc != ZOK) {
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
        fprintf(stderr, "zk-bench: failover: %ld ok, %ld failed sets\n", ok, failed);
        peer_result("failover_gap_ms", (double) gap / 1000.0);
        zookeeper_close(zh);
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr,
                        "usage: zk-bench HOST:PORT[,HOST:PORT...] MODE ARGS\n"
                        "  seqput N | writers C SECONDS | get N | lock SECONDS | lockcycle SECONDS | failover SECONDS | fill N C\n");
                return 2;
        }
        zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
        n_ep = peer_split_endpoints(argv[1], ep_host, ep_port, MAX_EP);
        if (n_ep == 0)
                return 2;
        const char *mode = argv[2];
        double el;
        if (strcmp(mode, "seqput") == 0)
                mode_seqput(atol(argv[3]));
        else if (strcmp(mode, "writers") == 0 && argc >= 5) {
                long n = run_writers(atoi(argv[3]), atof(argv[4]), -1, (int) sizeof small_value - 1, false, &el);
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
                long n = run_writers(atoi(argv[4]), 3600, total, 1024, true, &el);
                peer_result("fill_keys", (double) n);
                peer_result("fill_seconds", el);
                if (n < total)
                        return 1;
        } else {
                fprintf(stderr, "zk-bench: unknown mode or missing arguments\n");
                return 2;
        }
        return 0;
}
