#include "config.h"
/* raft-core.c — the throughput ceiling of the raft core.
 *
 * Three servers in one process and one thread, with an instant network (a
 * FIFO queue; every message is copied, encoded and decoded as on the wire)
 * and an instant disk (an update counts as durable as soon as it is taken;
 * entries are copied into a bounded in-memory store). The leader proposes
 * entries of a fixed size in batches (all proposals of a batch before the
 * next update is taken, as a daemon handling many requests per loop
 * iteration would), and the run ends when every server has applied all of
 * them. Real I/O can only lower these figures.
 *
 *   bench/raft-core [--entries N] [--size BYTES] [--batch B]...
 *
 * Prints, per batch size: entries committed per second (wall clock) and
 * the CPU time per entry (process CPU time / entries, all three servers). */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/macro.h"
#include "raft/raft.h"

#define N_NODES 3
#define STORE   65536           /* entries each store keeps (ring) */

typedef struct Stored {
        uint64_t index, term;
        uint8_t type;
        uint32_t len;
        uint8_t *data;
} Stored;

typedef struct Node {
        Raft *r;
        Stored store[STORE];
        uint64_t last;
        uint64_t applied;
} Node;

typedef struct Msg {
        int from, to;
        size_t len;
        uint8_t *data;
} Msg;

static Node nodes[N_NODES];
static Msg *queue;
static size_t q_head, q_len, q_cap;

static int src_term(void *u, uint64_t index, uint64_t *ret) {
        Node *n = u;
        Stored *s = &n->store[index % STORE];
        if (s->index != index)
                return -ENOENT;
        *ret = s->term;
        return 0;
}

static int src_entries(void *u, uint64_t lo, uint64_t hi, size_t max_bytes, RaftEntry **ret,
                       size_t *ret_n) {
        Node *n = u;
        size_t k = 0, bytes = 0;
        RaftEntry *es = calloc(hi - lo, sizeof(RaftEntry));
        if (!es)
                return -ENOMEM;
        for (uint64_t i = lo; i < hi; i++) {
                Stored *s = &n->store[i % STORE];
                if (s->index != i || (k > 0 && bytes + s->len > max_bytes))
                        break;
                es[k] = (RaftEntry) { s->term, i, s->type, s->len, malloc(s->len + 1) };
                if (s->len)
                        memcpy(es[k].data, s->data, s->len);
                bytes += s->len;
                k++;
        }
        if (k == 0) {
                free(es);
                return -ENOENT;
        }
        *ret = es;
        *ret_n = k;
        return 0;
}

static void enqueue(int from, const RaftOutMessage *m) {
        if (q_len == q_cap) {
                size_t ncap = q_cap ? q_cap * 2 : 1024;
                Msg *n = malloc(ncap * sizeof(Msg));
                if (!n)
                        abort();
                for (size_t i = 0; i < q_len; i++)
                        n[i] = queue[(q_head + i) % q_cap];
                free(queue);
                queue = n;
                q_cap = ncap;
                q_head = 0;
        }
        uint8_t *d = malloc(m->len);
        if (!d)
                abort();
        memcpy(d, m->data, m->len);
        queue[(q_head + q_len++) % q_cap] = (Msg) { from, (int) m->to - 1, m->len, d };
}

static void store_entries(Node *n, const RaftEntry *es, size_t cnt) {
        for (size_t i = 0; i < cnt; i++) {
                Stored *s = &n->store[es[i].index % STORE];
                if (s->len < es[i].len || !s->data) {
                        free(s->data);
                        s->data = malloc(es[i].len + 1);
                        if (!s->data)
                                abort();
                }
                if (es[i].len)
                        memcpy(s->data, es[i].data, es[i].len);
                s->index = es[i].index;
                s->term = es[i].term;
                s->type = es[i].type;
                s->len = es[i].len;
                n->last = es[i].index;
        }
}

static void process(int i, uint64_t now) {
        Node *n = &nodes[i];
        while (raft_has_update(n->r)) {
                RaftUpdate u;
                raft_update_get(n->r, &u);
                store_entries(n, u.entries, u.n_entries);
                for (size_t k = 0; k < u.n_messages; k++)
                        enqueue(i, &u.messages[k]);
                if (u.n_committed)
                        n->applied = u.committed[u.n_committed - 1].index;
                uint64_t pi = u.n_entries ? u.entries[u.n_entries - 1].index : 0;
                uint64_t pt = u.n_entries ? u.entries[u.n_entries - 1].term : 0;
                raft_update_done(n->r);
                if (pi)
                        raft_persisted(n->r, now, pi, pt);
        }
}

static void pump(uint64_t now) {
        for (int i = 0; i < N_NODES; i++)
                process(i, now);
        while (q_len > 0) {
                Msg m = queue[q_head];
                q_head = (q_head + 1) % q_cap;
                q_len--;
                if (raft_receive(nodes[m.to].r, now, (uint64_t) m.from + 1, m.data, m.len) < 0)
                        abort();
                free(m.data);
                process(m.to, now);
        }
}

static void setup(void) {
        RaftConfig c = RAFT_CONFIG_INIT;
        RaftEntry e;
        RaftHardState hs;
        for (int i = 0; i < N_NODES; i++) {
                char name[8];
                snprintf(name, sizeof(name), "n%d", i + 1);
                if (raft_config_add(&c, (uint64_t) i + 1, name, "mem", RAFT_VOTER) < 0)
                        abort();
        }
        if (raft_bootstrap(&c, &e, &hs) < 0)
                abort();
        for (int i = 0; i < N_NODES; i++) {
                Node *n = &nodes[i];
                RaftOptions o;
                raft_options_init(&o);
                o.id = (uint64_t) i + 1;
                o.seed = (uint64_t) i;
                o.entries = (RaftEntrySource) { n, src_term, src_entries };
                store_entries(n, &e, 1);
                if (raft_new(&o, &n->r) < 0)
                        abort();
                RaftStartState st = { .hard_state = hs, .first_index = 1, .last_index = 1 };
                if (raft_start(n->r, 1, &st) < 0)
                        abort();
        }
        raft_entry_done(&e);
        raft_config_done(&c);
        /* Node 1 campaigns first (its deadline is forced by ticking at 10 s). */
        raft_tick(nodes[0].r, 10 * USEC_PER_SEC);
        pump(10 * USEC_PER_SEC);
        if (raft_role(nodes[0].r) != RAFT_LEADER)
                abort();
}

static void teardown(void) {
        for (int i = 0; i < N_NODES; i++) {
                nodes[i].r = raft_free(nodes[i].r);
                for (size_t k = 0; k < STORE; k++)
                        free(nodes[i].store[k].data);
                memset(&nodes[i], 0, sizeof(nodes[i]));
        }
        free(queue);
        queue = NULL;
        q_head = q_len = q_cap = 0;
}

static double seconds(clockid_t clk) {
        struct timespec ts;
        clock_gettime(clk, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void run(uint64_t entries, size_t size, uint64_t batch) {
        uint8_t *payload = calloc(1, size + 1);
        uint64_t now = 10 * USEC_PER_SEC, done = 0;

        setup();
        uint64_t target = raft_last_index(nodes[0].r) + entries;
        double w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
        while (done < entries) {
                for (uint64_t k = 0; k < batch && done < entries; k++, done++) {
                        int r = raft_propose(nodes[0].r, now, payload, size, NULL, NULL);
                        if (r == -EAGAIN) {
                                pump(now);      /* uncommitted limit: let commits catch up */
                                k--, done--;
                                continue;
                        }
                        if (r < 0)
                                abort();
                }
                pump(now);
                now += 10;      /* 10 us of virtual time per loop, far below any timeout */
        }
        for (int k = 0; k < 10 && (nodes[1].applied < target || nodes[2].applied < target); k++) {
                now += 200 * USEC_PER_MSEC;     /* a heartbeat carries the last commit index */
                for (int i = 0; i < N_NODES; i++)
                        raft_tick(nodes[i].r, now);
                pump(now);
        }
        double w = seconds(CLOCK_MONOTONIC) - w0, c = seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (raft_commit_index(nodes[0].r) < target || nodes[1].applied < target ||
            nodes[2].applied < target) {
                fprintf(stderr, "not all entries committed/applied\n");
                abort();
        }
        printf("%8" PRIu64 " %8zu %12" PRIu64 " %14.0f %12.0f %10.3f\n", batch, size, entries,
               (double) entries / w, c / (double) entries * 1e9, w);
        teardown();
        free(payload);
}

int main(int argc, char **argv) {
        uint64_t entries = 2000000, batches[16] = { 1, 16, 256, 4096 };
        size_t size = 100, n_batches = 4, user_batches = 0;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc)
                        entries = strtoull(argv[++i], NULL, 0);
                else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
                        size = strtoull(argv[++i], NULL, 0);
                else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc && user_batches < 16)
                        batches[user_batches++] = strtoull(argv[++i], NULL, 0);
                else {
                        fprintf(stderr, "usage: raft-core [--entries N] [--size BYTES] [--batch B]...\n");
                        return 2;
                }
        }
        if (user_batches)
                n_batches = user_batches;
        printf("raft-core: 3 servers, one thread, instant network and disk (every message\n"
               "encoded, copied, decoded); entries committed by the leader and applied on all.\n"
               "cpu/entry = process CPU time of all three servers / entries.\n\n");
        printf("%8s %8s %12s %14s %12s %10s\n", "batch", "bytes", "entries", "entries/s",
               "cpu ns/entry", "wall s");
        for (size_t i = 0; i < n_batches; i++)
                run(batches[i] == 1 ? MIN(entries, 200000) : entries, size, batches[i]);
        return 0;
}
