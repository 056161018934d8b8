#include "config.h"

/* storage.c — benchmark of store/: durable appends per second and latency.
 *
 * Usage: bench/storage [-t SECONDS] [-s PAYLOAD_BYTES] [DIR]
 * DIR defaults to a fresh mkdtemp() under /var/tmp (removed afterwards);
 * everything runs on the file system of DIR.
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

typedef struct Row {
        const char *name;
        double ops;
        uint64_t p50, p99;
        double per_sync;
} Row;

/* ---- raw fdatasync ---- */
static Row bench_raw(const char *dir, size_t record, double seconds, bool overwrite) {
        char path[4096];
        uint8_t *buf = calloc(1, record);
        Samples lat = {};
        uint64_t off = 0, start, end;
        int fd;
        Row row = { .name = overwrite ? "raw overwrite+fdatasync" : "raw append+fdatasync", .per_sync = 1 };

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
                samples_add(&lat, now_usec() - t0);
        }
        row.ops = (double) lat.n / ((double) (now_usec() - start) / 1e6);
        row.p50 = percentile(&lat, 0.50);
        row.p99 = percentile(&lat, 0.99);
        close(fd);
        unlink(path);
        free(lat.v);
        free(buf);
        return row;
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

static Row bench_store(const char *dir, size_t payload, double seconds, int proposers, const char *name) {
        char sub[4096];
        StoreIo io = *store_io_default();
        StoreOptions o = { .io = &io };
        StoreError err;
        Run r = { .payload = payload, .ring = 1024 };
        uint64_t start;
        long syncs0;
        Row row = { .name = name };

        io.fdatasync = count_fdatasync;
        snprintf(sub, sizeof sub, "%s/store-%d", dir, proposers);
        if (store_open(sub, &o, &r.store, &err) < 0) {
                fprintf(stderr, "%s\n", err.message);
                exit(EXIT_FAILURE);
        }
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
        row.ops = (double) r.lat.n / ((double) (now_usec() - start) / 1e6);
        row.p50 = percentile(&r.lat, 0.50);
        row.p99 = percentile(&r.lat, 0.99);
        row.per_sync = (double) r.lat.n / (double) MAX(atomic_load(&n_syncs) - syncs0, 1L);
        store_free(r.store);
        free(r.submit_usec);
        free(r.data);
        free(r.lat.v);
        return row;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

int main(int argc, char **argv) {
        double seconds = 3;
        size_t payload = 128;
        char tmpl[] = "/var/tmp/raftfs-bench-XXXXXX", *dir = NULL, work[4096];
        bool own = false;
        struct statfs sfs;
        Row rows[5];
        int opt;

        while ((opt = getopt(argc, argv, "t:s:h")) >= 0)
                switch (opt) {
                case 't':
                        seconds = atof(optarg);
                        break;
                case 's':
                        payload = (size_t) strtoul(optarg, NULL, 0);
                        break;
                default:
                        fprintf(stderr, "usage: %s [-t SECONDS] [-s PAYLOAD_BYTES] [DIR]\n", argv[0]);
                        return opt == 'h' ? EXIT_SUCCESS : EXIT_FAILURE;
                }
        if (optind < argc) {
                snprintf(work, sizeof work, "%s/raftfs-bench-XXXXXX", argv[optind]);
                dir = mkdtemp(work);
        } else
                dir = mkdtemp(tmpl);
        if (!dir) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        own = true;

        /* The raw rate is measured before and after the store rows, and the
         * two halves averaged, so that a disk whose speed drifts during the
         * run does not favour either side. */
        Row before = bench_raw(dir, payload + 36, seconds / 2, false);
        rows[1] = bench_raw(dir, payload + 36, seconds, true);
        rows[2] = bench_store(dir, payload, seconds, 1, "store, 1 proposer");
        rows[3] = bench_store(dir, payload, seconds, 8, "store, 8 proposers");
        rows[4] = bench_store(dir, payload, seconds, 64, "store, 64 proposers");
        Row after = bench_raw(dir, payload + 36, seconds / 2, false);
        rows[0] = (Row) { .name = before.name, .ops = (before.ops + after.ops) / 2,
                          .p50 = (before.p50 + after.p50) / 2, .p99 = MAX(before.p99, after.p99),
                          .per_sync = 1 };
        printf("raw append+fdatasync before: %.0f/s p50 %" PRIu64 " us; after: %.0f/s p50 %" PRIu64 " us\n",
               before.ops, before.p50, after.ops, after.p50);

        printf("storage benchmark: %s (fs magic 0x%lx), payload %zu B (+36 B record header), %.1f s per row\n",
               dir, statfs(dir, &sfs) == 0 ? (unsigned long) sfs.f_type : 0ul, payload, seconds);
        printf("%-26s %12s %10s %10s %10s %10s\n", "", "appends/s", "p50 us", "p99 us", "x raw", "per sync");
        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                printf("%-26s %12.0f %10" PRIu64 " %10" PRIu64 " %10.2f %10.1f\n", rows[i].name, rows[i].ops,
                       rows[i].p50, rows[i].p99, rows[i].ops / rows[0].ops, rows[i].per_sync);
        printf("targets: 64 proposers >= 20x raw: %s (%.1fx); 1 proposer p50 within 10%% of raw p50: %s (%+.1f%%)\n",
               rows[4].ops >= 20 * rows[0].ops ? "met" : "NOT met", rows[4].ops / rows[0].ops,
               rows[2].p50 <= rows[0].p50 * 1.1 ? "met" : "NOT met",
               100.0 * ((double) rows[2].p50 - (double) rows[0].p50) / (double) MAX(rows[0].p50, (uint64_t) 1));
        if (own)
                (void) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return EXIT_SUCCESS;
}
