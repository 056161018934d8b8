#include "config.h"

/* storage.c — benchmark of store/: durable appends per second and latency.
 *
 * Usage: bench/storage [-t SECONDS] [-r ROUNDS] [-s PAYLOAD_BYTES] [DIR]
 * Works in a fresh mkdtemp() directory inside DIR (default /var/tmp),
 * removed afterwards; everything runs on the file system of DIR.
 *
 * Disks in shared machines change speed from second to second, so the rows
 * are measured in ROUNDS interleaved rounds (default 5) of SECONDS each
 * (default 1): raw, store 1, store 8, store 64, raw overwrite, then again.
 * appends/s is the median over the rounds; "x raw" the median of the
 * per-round ratio to the raw rate of the same round; latencies are
 * percentiles over all samples of all rounds.
 *
 * Rows:
 *  - raw: this program appends PAYLOAD+36 bytes to a file and calls
 *    fdatasync(), in a loop — what one durable log append costs without any
 *    batching. (Also shown: the same with an in-place overwrite, where the
 *    file size does not change and fdatasync has no metadata to write.)
 *  - store, N proposers: N single-entry appends are kept in flight from one
 *    thread, as the daemon's loop would: each completion ("durable up to")
 *    is timed and immediately replaced by a new append. Latency is submit to
 *    completion dispatch. Group commit lets one fdatasync cover all appends
 *    that arrived while the previous one ran; "per sync" shows how many.
 * Targets (issue 4): 64 proposers >= 20x the raw rate; 1 proposer's p50
 * within 10% of one raw append+fdatasync. */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/macro.h"
#include "store/store.h"

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

/* ---- latency samples ---- */
typedef struct Samples {
        uint64_t *v;
        size_t n, cap;
} Samples;

static void samples_add(Samples *s, uint64_t x) {
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 4096;
                s->v = realloc(s->v, s->cap * sizeof *s->v);
                if (!s->v)
                        abort();
        }
        s->v[s->n++] = x;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static uint64_t percentile(Samples *s, double p) {
        if (s->n == 0)
                return 0;
        qsort(s->v, s->n, sizeof *s->v, cmp_u64);
        return s->v[(size_t) (p * (double) (s->n - 1))];
}

/* One measurement: rate, syncs, and latencies appended to `lat`. */
typedef struct Result {
        double ops;
        double per_sync;
} Result;

#define MAX_ROUNDS 64

typedef struct Row {
        const char *name;
        Samples lat;
        double ops[MAX_ROUNDS];
        double ratio[MAX_ROUNDS];
        double syncs, appends;
} Row;

/* ---- raw fdatasync ---- */
static Result bench_raw(const char *dir, size_t record, double seconds, bool overwrite, Samples *lat) {
        char path[4096];
        uint8_t *buf = calloc(1, record);
        uint64_t off = 0, start, end, n = 0;
        int fd;

        snprintf(path, sizeof path, "%s/raw-fdatasync", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || !buf) {
                perror("raw");
                exit(EXIT_FAILURE);
        }
        if (overwrite) {
                /* a preallocated, synced region that is rewritten in place */
                for (int i = 0; i < 256; i++)
                        if (pwrite(fd, buf, record, (off_t) (i * record)) != (ssize_t) record)
                                abort();
                (void) fsync(fd);
        }
        start = now_usec();
        end = start + (uint64_t) (seconds * 1e6);
        for (uint64_t i = 0;; i++) {
                uint64_t t0 = now_usec();
                if (t0 >= end)
                        break;
                buf[0] = (uint8_t) i;
                if (pwrite(fd, buf, record, (off_t) off) != (ssize_t) record || fdatasync(fd) < 0) {
                        perror("raw write");
                        exit(EXIT_FAILURE);
                }
                off = overwrite ? (off + record) % (256 * record) : off + record;
                samples_add(lat, now_usec() - t0);
                n++;
        }
        Result res = { .ops = (double) n / ((double) (now_usec() - start) / 1e6), .per_sync = 1 };
        close(fd);
        unlink(path);
        free(buf);
        return res;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void rm_tree(const char *path) {
        (void) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
        double tmp[MAX_ROUNDS];
        memcpy(tmp, v, (size_t) n * sizeof *v);
        qsort(tmp, (size_t) n, sizeof *tmp, cmp_double);
        return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* ---- the store ---- */

/* Counts fdatasyncs on top of the default layer. */
static _Atomic long n_syncs;
static int count_fdatasync(void *u, int fd) {
        atomic_fetch_add(&n_syncs, 1);
        return store_io_default()->fdatasync(NULL, fd);
}

typedef struct Run {
        Store *store;
        uint64_t next_index;
        uint64_t *submit_usec;          /* by index, ring of `ring` slots */
        size_t ring;
        size_t payload;
        uint8_t *data;
        uint64_t deadline;
        long in_flight;
        Samples lat;
        int error;
} Run;

static void submit_one(Run *r) {
        RaftEntry e = { .index = r->next_index, .term = 1, .type = RAFT_ENTRY_NORMAL,
                        .len = (uint32_t) r->payload, .data = r->data };
        int q;

        r->submit_usec[e.index % r->ring] = now_usec();
        q = store_append(r->store, &e, 1, e.index);
        if (q < 0) {
                r->error = q;
                return;
        }
        r->next_index++;
        r->in_flight++;
}

static void on_completion(Store *s, const StoreCompletion *c, void *userdata) {
        Run *r = userdata;

        if (c->type == STORE_COMPLETION_FAILED) {
                r->error = c->error;
                return;
        }
        if (c->type != STORE_COMPLETION_ENTRIES)
                return;
        samples_add(&r->lat, now_usec() - r->submit_usec[c->cookie % r->ring]);
        r->in_flight--;
        if (now_usec() < r->deadline)
                submit_one(r);
}

static Result bench_store(const char *dir, size_t payload, double seconds, int proposers, Samples *lat) {
        char sub[4096];
        StoreIo io = *store_io_default();
        StoreOptions o = { .io = &io };
        StoreError err;
        Run r = { .payload = payload, .ring = 1024 };
        uint64_t start;
        long syncs0;
        size_t n0 = lat->n;
        Result res;

        io.fdatasync = count_fdatasync;
        snprintf(sub, sizeof sub, "%s/store-%d", dir, proposers);
        if (store_open(sub, &o, &r.store, &err) < 0) {
                fprintf(stderr, "%s\n", err.message);
                exit(EXIT_FAILURE);
        }
        r.lat = *lat;
        r.submit_usec = calloc(r.ring, sizeof *r.submit_usec);
        r.data = calloc(1, payload ? payload : 1);
        r.next_index = store_last_index(r.store) + 1;
        store_set_completion_handler(r.store, on_completion, &r);

        syncs0 = atomic_load(&n_syncs);
        start = now_usec();
        r.deadline = start + (uint64_t) (seconds * 1e6);
        for (int i = 0; i < proposers; i++)
                submit_one(&r);
        while (r.in_flight > 0 && r.error == 0) {
                struct pollfd p = { .fd = store_get_fd(r.store), .events = POLLIN };
                if (poll(&p, 1, 10000) <= 0)
                        break;
                (void) store_dispatch_completions(r.store);
        }
        if (r.error < 0) {
                fprintf(stderr, "store failed: %s\n", strerror(-r.error));
                exit(EXIT_FAILURE);
        }
        *lat = r.lat;
        res.ops = (double) (lat->n - n0) / ((double) (now_usec() - start) / 1e6);
        res.per_sync = (double) (lat->n - n0) / (double) MAX(atomic_load(&n_syncs) - syncs0, 1L);
        store_free(r.store);
        rm_tree(sub);
        free(r.submit_usec);
        free(r.data);
        return res;
}

int main(int argc, char **argv) {
        double seconds = 1;
        int rounds = 5;
        size_t payload = 128;
        char work[4096], *dir;
        struct statfs sfs;
        Row rows[] = {
                { .name = "raw append+fdatasync" },
                { .name = "raw overwrite+fdatasync" },
                { .name = "store, 1 proposer" },
                { .name = "store, 8 proposers" },
                { .name = "store, 64 proposers" },
        };
        int opt;

        while ((opt = getopt(argc, argv, "t:r:s:h")) >= 0)
                switch (opt) {
                case 't':
                        seconds = atof(optarg);
                        break;
                case 'r':
                        rounds = CLAMP(atoi(optarg), 1, MAX_ROUNDS);
                        break;
                case 's':
                        payload = (size_t) strtoul(optarg, NULL, 0);
                        break;
                default:
                        fprintf(stderr, "usage: %s [-t SECONDS] [-r ROUNDS] [-s PAYLOAD_BYTES] [DIR]\n", argv[0]);
                        return opt == 'h' ? EXIT_SUCCESS : EXIT_FAILURE;
                }
        snprintf(work, sizeof work, "%s/raftfs-bench-XXXXXX", optind < argc ? argv[optind] : "/var/tmp");
        dir = mkdtemp(work);
        if (!dir) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }

        for (int k = 0; k < rounds; k++) {
                static const int proposers[] = { 1, 8, 64 };
                Result res[ELEMENTSOF(rows)];

                res[0] = bench_raw(dir, payload + 36, seconds, false, &rows[0].lat);
                for (size_t i = 0; i < ELEMENTSOF(proposers); i++)
                        res[2 + i] = bench_store(dir, payload, seconds, proposers[i], &rows[2 + i].lat);
                res[1] = bench_raw(dir, payload + 36, seconds, true, &rows[1].lat);
                for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                        rows[i].ops[k] = res[i].ops;
                        rows[i].ratio[k] = res[i].ops / res[0].ops;
                        rows[i].appends += res[i].ops;
                        rows[i].syncs += res[i].ops / res[i].per_sync;
                }
        }

        printf("storage benchmark: %s (fs magic 0x%lx), payload %zu B (+36 B record header),\n"
               "%d interleaved rounds of %.1f s per row\n",
               dir, statfs(dir, &sfs) == 0 ? (unsigned long) sfs.f_type : 0ul, payload, rounds, seconds);
        printf("%-26s %12s %10s %10s %10s %10s\n", "", "appends/s", "p50 us", "p99 us", "x raw", "per sync");
        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                printf("%-26s %12.0f %10" PRIu64 " %10" PRIu64 " %10.2f %10.1f\n", rows[i].name,
                       median(rows[i].ops, rounds), percentile(&rows[i].lat, 0.50),
                       percentile(&rows[i].lat, 0.99), median(rows[i].ratio, rounds),
                       rows[i].appends / rows[i].syncs);
        printf("per round, raw append+fdatasync/s:");
        for (int k = 0; k < rounds; k++)
                printf(" %.0f", rows[0].ops[k]);
        printf("\nper round, store 64 proposers/s:");
        for (int k = 0; k < rounds; k++)
                printf(" %.0f", rows[4].ops[k]);
        uint64_t raw50 = percentile(&rows[0].lat, 0.50), one50 = percentile(&rows[2].lat, 0.50);
        printf("\ntargets: 64 proposers >= 20x raw: %s (%.1fx); 1 proposer p50 within 10%% of raw p50: %s (%+.1f%%)\n",
               median(rows[4].ratio, rounds) >= 20 ? "met" : "NOT met", median(rows[4].ratio, rounds),
               one50 <= raw50 * 1.1 ? "met" : "NOT met",
               100.0 * ((double) one50 - (double) raw50) / (double) MAX(raw50, (uint64_t) 1));
        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                free(rows[i].lat.v);
        rm_tree(dir);
        return EXIT_SUCCESS;
}
