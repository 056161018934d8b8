#include "config.h"
/* raftsim.c — the world of the simulator: per-seed configuration, the event
 * queue and virtual clock, the random schedule (fault phase), the healed
 * majority (liveness phase) and the command line.
 *
 *   raftsim [--seeds N] [--from S] [--twice] [--verbose] [--stats]
 *
 * Runs seeds S .. S+N-1 and prints one line per seed: its outcome and trace
 * hash (no wall-clock figures). --twice runs every seed twice and fails if
 * the two trace hashes differ (determinism). --verbose prints the cores'
 * decision traces with virtual timestamps (use with one seed to debug a
 * failure, which prints the command that replays it). Exit 0 when every
 * seed holds.
 *
 * A run: fault phase (random proposals, reads, crashes, partitions,
 * membership changes, leadership transfers under lossy, duplicating,
 * reordering links and slow disks), then the liveness phase: every crashed
 * server restarts, a random "healed majority" S (a majority of every voter
 * set any server holds) gets clean links while the others stay cut off, and
 * within a bounded virtual time S must have a leader and every proposal the
 * client ever made must be applied on every member of S. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "raft/msg.h"
#include "tests/sim/sim.h"

struct Event {
        uint64_t time, seq;
        int type, node, from;
        uint8_t *data;
        size_t len;
        uint64_t arg;
};

/* ---- randomness and hashing ---------------------------------------------- */

uint64_t mix64(uint64_t z) {
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

uint64_t world_rand(World *w) {
        w->prng += UINT64_C(0x9e3779b97f4a7c15);
        return mix64(w->prng);
}

uint64_t world_range(World *w, uint64_t lo, uint64_t hi) {
        return hi <= lo ? lo : lo + world_rand(w) % (hi - lo + 1);
}

bool world_chance_pm(World *w, unsigned per_mille) {
        return world_rand(w) % 1000 < per_mille;
}

static uint64_t pick(World *w, const uint64_t *v, size_t n) {
        return v[world_rand(w) % n];
}
#define PICK(w, ...) pick((w), (const uint64_t[]) { __VA_ARGS__ }, \
                          sizeof((const uint64_t[]) { __VA_ARGS__ }) / sizeof(uint64_t))

void world_hash(World *w, uint64_t v) {
        w->hash = mix64(w->hash ^ v) + UINT64_C(0x632be59bd9b4e019);
}

/* ---- the event queue (binary heap on (time, seq)) --------------------------- */

static bool ev_less(const Event *a, const Event *b) {
        return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void world_schedule(World *w, uint64_t at, int type, int node, int from, uint8_t *data,
                    size_t len, uint64_t arg) {
        Event *e = malloc(sizeof(Event));
        assert(e);
        *e = (Event) { at, w->ev_seq++, type, node, from, data, len, arg };
        if (w->n_heap == w->cap_heap) {
                w->cap_heap = w->cap_heap ? w->cap_heap * 2 : 1024;
                w->heap = realloc(w->heap, w->cap_heap * sizeof(Event *));
                assert(w->heap);
        }
        size_t i = w->n_heap++;
        while (i > 0 && ev_less(e, w->heap[(i - 1) / 2])) {
                w->heap[i] = w->heap[(i - 1) / 2];
                i = (i - 1) / 2;
        }
        w->heap[i] = e;
}

static Event *heap_pop(World *w) {
        if (w->n_heap == 0)
                return NULL;
        Event *top = w->heap[0], *last = w->heap[--w->n_heap];
        size_t i = 0;
        for (;;) {
                size_t c = 2 * i + 1;
                if (c >= w->n_heap)
                        break;
                if (c + 1 < w->n_heap && ev_less(w->heap[c + 1], w->heap[c]))
                        c++;
                if (!ev_less(w->heap[c], last))
                        break;
                w->heap[i] = w->heap[c];
                i = c;
        }
        if (w->n_heap > 0)
                w->heap[i] = last;
        return top;
}

/* ---- configuration of a world ------------------------------------------------ */

static void draw_config(World *w) {
        SimConfig *c = &w->c;
        RaftOptions *o = &c->opts;

        c->n_voters = (int) PICK(w, 3, 5, 7);
        c->n_nodes = c->n_voters + (int) world_range(w, 0, 2);
        raft_options_init(o);
        o->heartbeat_usec = world_range(w, 10, 50) * USEC_PER_MSEC;
        o->election_timeout_usec = o->heartbeat_usec * world_range(w, 5, 15);
        o->failover_min_usec = world_range(w, o->heartbeat_usec, 2 * o->heartbeat_usec);
        o->failover_max_usec = o->failover_min_usec + world_range(w, 0, 2 * o->heartbeat_usec);
        /* All four PreVote x CheckQuorum combinations, in turn. */
        o->pre_vote = w->seed & 1;
        o->check_quorum = (w->seed >> 1) & 1;
        o->max_msg_bytes = PICK(w, 128, 512, 4096, 65536, 1 << 20);
        o->max_inflight_msgs = PICK(w, 1, 2, 4, 16, 64);
        o->max_inflight_bytes = PICK(w, 1024, 16384, 1 << 20);
        o->max_uncommitted_bytes = PICK(w, 2048, 16384, 1 << 20);
        o->max_entries_per_msg = PICK(w, 1, 4, 64, 4096);
        o->snapshot_chunk_bytes = PICK(w, 64, 512, 4096);
        o->mem_entries = PICK(w, 4, 32, 1024);
        o->mem_bytes = PICK(w, 1024, 1 << 20);
        o->max_pending_reads = PICK(w, 4, 1024);
        o->max_apply_bytes = PICK(w, 256, 1 << 20);
        o->max_catch_up_rounds = (unsigned) world_range(w, 2, 10);

        c->net_min_usec = world_range(w, 50, 2000);
        c->net_max_usec = c->net_min_usec + world_range(w, 0, o->heartbeat_usec);
        c->drop_pm = (unsigned) world_range(w, 0, 100);
        c->dup_pm = (unsigned) world_range(w, 0, 50);
        c->disk_min_usec = world_range(w, 10, 1000);
        c->disk_max_usec = c->disk_min_usec + world_range(w, 0, 10000);
        c->tear_pc = (unsigned) world_range(w, 0, 100);
        c->unreachable_pc = (unsigned) world_range(w, 0, 100);
        c->fault_phase_usec = world_range(w, 1000, 6000) * USEC_PER_MSEC;
        c->propose_every_usec = world_range(w, 1, 30) * USEC_PER_MSEC;
        c->read_every_usec = world_range(w, 2, 100) * USEC_PER_MSEC;
        c->fault_every_usec = world_range(w, 50, 1000) * USEC_PER_MSEC;
        /* A quarter of the worlds are storms: faults every few heartbeats,
         * which is what it takes to reach the rare interleavings (Figure 8
         * of the Raft paper needs three leader changes around one entry). */
        c->storm = world_chance_pm(w, 250);
        if (c->storm)
                c->fault_every_usec = world_range(w, 1, 6) * o->heartbeat_usec;
        c->snapshot_every = (unsigned) PICK(w, 0, 10, 50, 200);
        c->snapshot_trailing = (unsigned) world_range(w, 0, 20);
        c->snapshot_pad = (size_t) world_range(w, 0, 3000);
        c->max_payload = (size_t) PICK(w, 16, 200, 2000);
}

static void describe(const World *w) {
        const SimConfig *c = &w->c;
        printf("  config: %d voters + %d spares, heartbeat %" PRIu64 "ms, election %" PRIu64
               "ms, prevote %d, checkquorum %d\n", c->n_voters, c->n_nodes - c->n_voters,
               c->opts.heartbeat_usec / 1000, c->opts.election_timeout_usec / 1000,
               c->opts.pre_vote, c->opts.check_quorum);
        printf("  net %" PRIu64 "-%" PRIu64 "us drop %u‰ dup %u‰, disk %" PRIu64 "-%" PRIu64
               "us tear %u%%, msg %zuB window %zu/%zuB, uncommitted %zuB, chunk %zuB, snapshot every %u\n",
               c->net_min_usec, c->net_max_usec, c->drop_pm, c->dup_pm, c->disk_min_usec,
               c->disk_max_usec, c->tear_pc, c->opts.max_msg_bytes, c->opts.max_inflight_msgs,
               c->opts.max_inflight_bytes, c->opts.max_uncommitted_bytes,
               c->opts.snapshot_chunk_bytes, c->snapshot_every);
}

static void bootstrap(World *w) {
        RaftConfig conf = RAFT_CONFIG_INIT;
        RaftEntry e;
        RaftHardState hs;
        char name[16], addr[32];

        for (int i = 0; i < w->c.n_voters; i++) {
                snprintf(name, sizeof(name), "n%d", i + 1);
                snprintf(addr, sizeof(addr), "sim:%d", i + 1);
                int k = raft_config_add(&conf, (uint64_t) i + 1, name, addr, RAFT_VOTER);
                assert(k == 0);
        }
        int k = raft_bootstrap(&conf, &e, &hs);
        assert(k == 0);
        for (int i = 0; i < w->c.n_nodes; i++) {
                Node *n = &w->nodes[i];
                n->idx = i;
                n->id = (uint64_t) i + 1;
                n->world = w;
                n->disk.first = 1;
                if (i >= w->c.n_voters)
                        continue;       /* spares start empty and wait to be added */
                n->disk.hs = hs;
                n->disk.log = calloc(64, sizeof(SimEntry));
                assert(n->disk.log);
                n->disk.cap = 64;
                n->disk.log[0] = (SimEntry) { e.term, e.type, e.len, malloc(e.len) };
                memcpy(n->disk.log[0].data, e.data, e.len);
                n->disk.n = 1;
        }
        raft_entry_done(&e);
        raft_config_done(&conf);
}

/* ---- the client ----------------------------------------------------------- */

static int pick_node(World *w, bool prefer_leader) {
        int cand[SIM_MAX_NODES], nc = 0, leader = -1;
        uint64_t lterm = 0;
        for (int i = 0; i < w->c.n_nodes; i++) {
                Node *n = &w->nodes[i];
                if (!n->up || (w->heal_phase && !w->in_s[i]))
                        continue;
                cand[nc++] = i;
                if (raft_role(n->r) == RAFT_LEADER && raft_term(n->r) >= lterm) {
                        lterm = raft_term(n->r);
                        leader = i;
                }
        }
        if (nc == 0)
                return -1;
        if (prefer_leader && leader >= 0)
                return leader;
        return cand[world_rand(w) % (uint64_t) nc];
}

static void submit(World *w, size_t op) {
        uint8_t buf[2048 + 8];
        int i = pick_node(w, w->heal_phase || world_chance_pm(w, 500));
        if (i < 0)
                return;
        size_t len = 8 + (size_t) world_range(w, 0, w->c.max_payload);
        le64_store(buf, op);
        for (size_t j = 8; j < len; j++)
                buf[j] = (uint8_t) (op * 7 + j);
        w->ops[op].submitted = true;
        w->ops[op].last_try = w->now;
        int k = raft_propose(w->nodes[i].r, w->now, buf, len, NULL, NULL);
        if (w->verbose)
                printf("  %10.6f client: op %zu to n%d: %d\n", (double) w->now / 1e6, op, i + 1, k);
        world_hash(w, 0x9000 + (uint64_t) i * 8 + (uint64_t) -k);
        node_process(w, &w->nodes[i]);
}

static void ev_propose(World *w) {
        /* A client with bounded concurrency, like the daemon's parked
         * requests: a new operation only while few are outstanding. */
        size_t pending = 0;
        for (size_t o = w->n_ops > 256 ? w->n_ops - 256 : 0; o < w->n_ops; o++)
                pending += !w->ops[o].done;
        if (!w->heal_phase && w->n_ops < SIM_MAX_OPS && pending < 64)
                submit(w, w->n_ops++);
        if (!w->heal_phase)
                world_schedule(w, w->now + world_range(w, 0, 2 * w->c.propose_every_usec), EV_PROPOSE,
                               -1, -1, NULL, 0, 0);
}

static void ev_retry(World *w) {
        /* Like the daemon: an operation not done after a while is retried
         * (the state machine deduplicates), a bounded number at a time so
         * that retries cannot flood a slow cluster with duplicates. */
        unsigned n = 0;
        uint64_t every = w->c.opts.election_timeout_usec;
        for (size_t i = 0; i < w->n_ops && n < 32; i++)
                if (!w->ops[i].done && w->now - w->ops[i].last_try >= 4 * every) {
                        submit(w, i);
                        n++;
                }
        world_schedule(w, w->now + every, EV_RETRY, -1, -1, NULL, 0, 0);
}

static void ev_read(World *w) {
        int i = pick_node(w, false);
        if (i >= 0) {
                if (w->n_reads == w->cap_reads) {
                        w->cap_reads = w->cap_reads ? w->cap_reads * 2 : 256;
                        w->reads = realloc(w->reads, w->cap_reads * sizeof(Read));
                        assert(w->reads);
                }
                uint64_t ctx = w->n_reads++;
                w->reads[ctx] = (Read) { ctx, i, w->max_applied, true };
                int k = raft_read_index(w->nodes[i].r, w->now, ctx);
                if (k < 0) {
                        w->reads[ctx].pending = false;
                        w->reads_failed++;
                }
                node_process(w, &w->nodes[i]);
        }
        world_schedule(w, w->now + world_range(w, 0, 2 * w->c.read_every_usec), EV_READ, -1, -1,
                       NULL, 0, 0);
}

/* ---- faults ------------------------------------------------------------- */

static void report_unreachable(World *w, int at, int peer) {
        Node *n = &w->nodes[at];
        if (!n->up || world_range(w, 1, 100) > w->c.unreachable_pc)
                return;
        raft_peer_unreachable(n->r, w->now, w->nodes[peer].id);
        node_process(w, n);
}

static void block(World *w, int a, int b) {
        if (a == b || w->blocked[a][b])
                return;
        w->blocked[a][b] = true;
        report_unreachable(w, a, b);
        report_unreachable(w, b, a);
}

static void unblock_all(World *w) {
        memset(w->blocked, 0, sizeof(w->blocked));
}

static void fault_crash(World *w) {
        int i = pick_node(w, world_chance_pm(w, 300));
        if (i < 0)
                return;
        node_crash(w, &w->nodes[i]);
        for (int j = 0; j < w->c.n_nodes; j++)
                if (j != i)
                        report_unreachable(w, j, i);
        if (world_chance_pm(w, 850))
                world_schedule(w, w->now + world_range(w, 1000, 4 * w->c.opts.election_timeout_usec),
                               EV_RESTART, i, -1, NULL, 0, 0);
}

static void fault_partition(World *w) {
        int n = w->c.n_nodes;
        switch (world_range(w, 0, 3)) {
        case 0: {                       /* isolate one server */
                int i = (int) world_range(w, 0, (uint64_t) n - 1);
                for (int j = 0; j < n; j++) {
                        block(w, i, j);
                        block(w, j, i);
                }
                break;
        }
        case 1: {                       /* split in two */
                bool side[SIM_MAX_NODES];
                for (int i = 0; i < n; i++)
                        side[i] = world_chance_pm(w, 500);
                for (int i = 0; i < n; i++)
                        for (int j = 0; j < n; j++)
                                if (side[i] != side[j])
                                        block(w, i, j);
                break;
        }
        case 2: {                       /* asymmetric: some one-way links */
                int k = (int) world_range(w, 1, 3);
                for (int x = 0; x < k; x++)
                        block(w, (int) world_range(w, 0, (uint64_t) n - 1),
                              (int) world_range(w, 0, (uint64_t) n - 1));
                break;
        }
        default:
                unblock_all(w);
        }
}

/* The up server that leads the highest term, or -1. */
static int find_leader(World *w) {
        int li = -1;
        for (int i = 0; i < w->c.n_nodes; i++) {
                Node *n = &w->nodes[i];
                if (n->up && raft_role(n->r) == RAFT_LEADER &&
                    (li < 0 || raft_term(n->r) > raft_term(w->nodes[li].r)))
                        li = i;
        }
        return li;
}

static void fault_membership(World *w) {
        int li = find_leader(w);
        int at = li >= 0 && world_chance_pm(w, 800) ? li : pick_node(w, false);
        if (at < 0 || li < 0)
                return;
        const RaftConfig *c = raft_config(w->nodes[li].r);
        int target = (int) world_range(w, 0, (uint64_t) w->c.n_nodes - 1);
        const RaftServer *s = raft_config_find(c, w->nodes[target].id);
        RaftConfChangeType t;
        char name[16], addr[32];

        if (!s)
                t = world_chance_pm(w, 700) ? RAFT_CONF_ADD_VOTER : RAFT_CONF_ADD_LEARNER;
        else if (s->role == RAFT_LEARNER)
                t = world_chance_pm(w, 600) ? RAFT_CONF_ADD_VOTER : RAFT_CONF_REMOVE;
        else if (raft_config_voters(c) <= 2)
                return;                 /* keep a cluster worth the name */
        else
                t = world_chance_pm(w, 700) ? RAFT_CONF_REMOVE : RAFT_CONF_DEMOTE;
        snprintf(name, sizeof(name), "n%d", target + 1);
        snprintf(addr, sizeof(addr), "sim:%d", target + 1);
        int k = raft_change_config(w->nodes[at].r, w->now, t, w->nodes[target].id, name, addr, NULL);
        world_hash(w, 0xc0f + (uint64_t) t * 64 + (uint64_t) target + (uint64_t) -k * 4096);
        if (k == 0)
                w->n_conf_changes++;
        node_process(w, &w->nodes[at]);
}

static void fault_transfer(World *w) {
        int li = find_leader(w);
        if (li < 0)
                return;
        uint64_t target = world_chance_pm(w, 500) ? 0 : w->nodes[world_range(w, 0, (uint64_t) w->c.n_nodes - 1)].id;
        int k = raft_transfer_leadership(w->nodes[li].r, w->now, target);
        if (k == 0)
                w->n_transfers++;
        node_process(w, &w->nodes[li]);
}

static void ev_fault(World *w) {
        if (w->heal_phase)
                return;
        uint64_t x = world_range(w, 0, 99);
        if (x < (w->c.storm ? 40 : 20))
                fault_crash(w);
        else if (x < 50)
                fault_partition(w);
        else if (x < 65)
                unblock_all(w);
        else if (x < 85)
                fault_membership(w);
        else
                fault_transfer(w);
        world_schedule(w, w->now + world_range(w, 0, 2 * w->c.fault_every_usec), EV_FAULT, -1, -1,
                       NULL, 0, 0);
}

/* ---- liveness phase ---------------------------------------------------------- */

/* S must hold a majority of every voter set some server holds (whether or
 * not that server is a voter there: a demoted server's configuration may
 * be the one that wins). A promotion begun during the fault phase may
 * complete after healing, so the learners outside S count as voters too
 * (the worst case; learners inside S only help). */
static bool majority_everywhere(World *w, const bool *s) {
        for (int i = 0; i < w->c.n_nodes; i++) {
                Node *n = &w->nodes[i];
                if (!n->up)
                        continue;
                const RaftConfig *c = raft_config(n->r);
                size_t v = 0, in = 0;
                for (size_t j = 0; j < c->n; j++) {
                        uint64_t id = c->servers[j].id;
                        bool inside = id <= (uint64_t) w->c.n_nodes && s[id - 1];
                        if (c->servers[j].role == RAFT_VOTER || !inside) {
                                v++;
                                in += inside;
                        }
                }
                if (v > 0 && in < v / 2 + 1)
                        return false;
        }
        return true;
}

static void ev_heal(World *w) {
        w->heal_phase = true;
        /* The fault phase is over: membership change requests still in
         * flight are lost (the network may lose anything), so that the
         * configurations S is chosen against are the last ones. */
        for (size_t i = 0; i < w->n_heap; i++) {
                Event *e = w->heap[i];
                if (e->type == EV_MSG && e->len > 2 && e->data[2] == RAFT_MSG_CONF_CHANGE)
                        e->type = EV_NONE;
        }
        for (int i = 0; i < w->c.n_nodes; i++)
                if (!w->nodes[i].up)
                        (void) node_start(w, &w->nodes[i]);
        /* Start from every server that some server's configuration names. */
        memset(w->in_s, 0, sizeof(w->in_s));
        for (int i = 0; i < w->c.n_nodes; i++) {
                Node *n = &w->nodes[i];
                const RaftConfig *c = raft_config(n->r);
                for (size_t j = 0; j < c->n; j++)
                        if (c->servers[j].id <= (uint64_t) w->c.n_nodes)
                                w->in_s[c->servers[j].id - 1] = true;
        }
        /* Leave some out while a majority of everything remains. */
        for (int i = 0; i < w->c.n_nodes; i++) {
                int j = (int) world_range(w, 0, (uint64_t) w->c.n_nodes - 1);
                if (!w->in_s[j] || !world_chance_pm(w, 400))
                        continue;
                w->in_s[j] = false;
                if (!majority_everywhere(w, w->in_s))
                        w->in_s[j] = true;
        }
        unblock_all(w);
        for (int i = 0; i < w->c.n_nodes; i++)
                for (int j = 0; j < w->c.n_nodes; j++)
                        if (w->in_s[i] != w->in_s[j])
                                block(w, i, j);
        if (w->verbose) {
                printf("  %10.6f heal: S =", (double) w->now / 1e6);
                for (int i = 0; i < w->c.n_nodes; i++)
                        if (w->in_s[i])
                                printf(" n%d", i + 1);
                printf("\n");
        }
        if (w->n_ops < SIM_MAX_OPS)
                submit(w, w->n_ops++);
        /* Generous, but bounded: elections, then every pending proposal
         * (the uncommitted-bytes limit may let only one through per round
         * trip), then catching up members (snapshots in chunks). */
        size_t pending = 0;
        for (size_t o = 0; o < w->n_ops; o++)
                pending += !w->ops[o].done;
        uint64_t rtt = 2 * w->c.net_max_usec + 2 * w->c.disk_max_usec;
        uint64_t bound = 30 * USEC_PER_SEC + 50 * w->c.opts.election_timeout_usec + 4 * pending * rtt;
        world_schedule(w, w->now + bound, EV_DEADLINE, -1, -1, NULL, 0, 0);
}

/* Liveness holds: S has a leader no S member outranks, every proposal ever
 * made is done, and every member of the leader's configuration in S has
 * applied all of them. */
static bool live(World *w) {
        int li = -1;
        for (int i = 0; i < w->c.n_nodes; i++) {
                if (!w->in_s[i] || !w->nodes[i].up)
                        continue;
                Raft *r = w->nodes[i].r;
                if (raft_role(r) == RAFT_LEADER && (li < 0 || raft_term(r) > raft_term(w->nodes[li].r)))
                        li = i;
        }
        if (li < 0)
                return false;
        for (size_t o = 0; o < w->n_ops; o++)
                if (!w->ops[o].done)
                        return false;
        /* Servers the leader no longer has in its configuration (removed
         * ones) may campaign in vain: only members count. */
        const RaftConfig *c = raft_config(w->nodes[li].r);
        for (size_t j = 0; j < c->n; j++) {
                uint64_t id = c->servers[j].id;
                if (id > (uint64_t) w->c.n_nodes || !w->in_s[id - 1])
                        continue;
                Node *n = &w->nodes[id - 1];
                if (raft_term(n->r) > raft_term(w->nodes[li].r))
                        return false;
                for (size_t o = 0; o < w->n_ops; o++)
                        if (!(n->applied_ops[o / 8] & (1u << (o % 8))))
                                return false;
        }
        return true;
}

static const char *liveness_report(World *w, char *buf, size_t size) {
        size_t done = 0;
        for (size_t o = 0; o < w->n_ops; o++)
                done += w->ops[o].done;
        int n = snprintf(buf, size, "liveness: after healing, %zu/%zu proposals done;", done, w->n_ops);
        for (int i = 0; i < w->c.n_nodes && n > 0 && (size_t) n < size; i++) {
                Node *x = &w->nodes[i];
                n += snprintf(buf + n, size - (size_t) n, " n%d%s:%s/t%" PRIu64 "/c%" PRIu64 "/a%" PRIu64,
                              i + 1, w->in_s[i] ? "" : "(out)",
                              x->up ? raft_role_to_string(raft_role(x->r)) : "down",
                              x->up ? raft_term(x->r) : 0, x->up ? raft_commit_index(x->r) : 0,
                              x->sm_index);
        }
        return buf;
}

/* ---- one seed ------------------------------------------------------------------ */

static void dispatch(World *w, Event *e) {
        switch (e->type) {
        case EV_MSG:
                node_deliver(w, &w->nodes[e->node], e->from, e->data, e->len);
                break;
        case EV_TIMER:
                node_tick(w, &w->nodes[e->node], e->arg);
                break;
        case EV_DISK:
                if (w->nodes[e->node].incarnation == e->arg)
                        node_disk_done(w, &w->nodes[e->node]);
                break;
        case EV_PROPOSE:
                ev_propose(w);
                break;
        case EV_READ:
                ev_read(w);
                break;
        case EV_FAULT:
                ev_fault(w);
                break;
        case EV_RESTART:
                if (!w->nodes[e->node].up && !w->heal_phase)
                        (void) node_start(w, &w->nodes[e->node]);
                break;
        case EV_RETRY:
                ev_retry(w);
                break;
        case EV_HEAL:
                ev_heal(w);
                break;
        case EV_DEADLINE: {
                char buf[400];
                check_fail(w, "%s", liveness_report(w, buf, sizeof(buf)));
                break;
        }
        }
}

static void world_free(World *w) {
        Event *e;
        while ((e = heap_pop(w))) {
                free(e->data);
                free(e);
        }
        free(w->heap);
        for (int i = 0; i < SIM_MAX_NODES; i++)
                node_free(&w->nodes[i]);
        free(w->reads);
        checks_done(w);
}

typedef struct Outcome {
        bool ok;
        uint64_t hash;
        uint64_t end_usec;
        char failure[512];
} Outcome;

static Outcome run_seed(uint64_t seed, bool verbose, bool stats) {
        World *w = calloc(1, sizeof(World));
        Outcome out = {};
        uint64_t same_time = 0, last_time = 0;

        assert(w);
        w->seed = seed;
        w->prng = mix64(seed * 0x9e37 + 1);
        w->verbose = verbose;
        checks_init(w);
        draw_config(w);
        if (verbose)
                describe(w);
        bootstrap(w);
        for (int i = 0; i < w->c.n_nodes && !w->failed; i++)
                (void) node_start(w, &w->nodes[i]);
        world_schedule(w, world_range(w, 0, w->c.propose_every_usec), EV_PROPOSE, -1, -1, NULL, 0, 0);
        world_schedule(w, world_range(w, 0, w->c.read_every_usec), EV_READ, -1, -1, NULL, 0, 0);
        world_schedule(w, world_range(w, 0, w->c.fault_every_usec), EV_FAULT, -1, -1, NULL, 0, 0);
        world_schedule(w, w->c.opts.election_timeout_usec, EV_RETRY, -1, -1, NULL, 0, 0);
        world_schedule(w, w->c.fault_phase_usec, EV_HEAL, -1, -1, NULL, 0, 0);

        Event *e;
        while (!w->failed && (e = heap_pop(w))) {
                w->now = e->time;
                world_hash(w, e->time ^ ((uint64_t) e->type << 56) ^ ((uint64_t) (e->node + 1) << 48) ^
                              ((uint64_t) (e->from + 1) << 40) ^ e->len);
                if (e->len > 0)
                        world_hash(w, hash_bytes(e->data, e->len));
                dispatch(w, e);
                free(e->data);
                free(e);
                if (w->now == last_time) {
                        if (++same_time > 2000000)
                                check_fail(w, "livelock at %" PRIu64 "us", w->now);
                } else {
                        last_time = w->now;
                        same_time = 0;
                }
                if (w->heal_phase && !w->failed && live(w))
                        break;
        }
        out.ok = !w->failed;
        out.hash = w->hash;
        out.end_usec = w->now;
        snprintf(out.failure, sizeof(out.failure), "%s", w->failure);
        if (stats || verbose)
                printf("  t=%.3fs msgs %" PRIu64 " ops %zu reads %" PRIu64 "/%" PRIu64 " fail, elections %"
                       PRIu64 " crashes %" PRIu64 " snapshots %" PRIu64 " installs %" PRIu64
                       " conf %" PRIu64 " transfers %" PRIu64 "\n",
                       (double) w->now / 1e6, w->n_msgs, w->n_ops, w->reads_ok, w->reads_failed,
                       w->n_elections, w->n_crashes, w->n_snapshots, w->n_installs,
                       w->n_conf_changes, w->n_transfers);
        world_free(w);
        free(w);
        return out;
}

static void usage(void) {
        printf("usage: raftsim [--seeds N] [--from S] [--twice] [--verbose] [--stats] [--quiet]\n");
}

int main(int argc, char **argv) {
        uint64_t n = 100, from = 1, failed = 0;
        bool twice = false, verbose = false, stats = false, quiet = false;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc)
                        n = strtoull(argv[++i], NULL, 0);
                else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
                        from = strtoull(argv[++i], NULL, 0);
                else if (strcmp(argv[i], "--twice") == 0)
                        twice = true;
                else if (strcmp(argv[i], "--verbose") == 0)
                        verbose = true;
                else if (strcmp(argv[i], "--stats") == 0)
                        stats = true;
                else if (strcmp(argv[i], "--quiet") == 0)
                        quiet = true;
                else {
                        usage();
                        return strcmp(argv[i], "--help") == 0 ? 0 : 2;
                }
        }
        for (uint64_t s = from; s < from + n; s++) {
                if (verbose || stats)
                        printf("seed %" PRIu64 ":\n", s);
                Outcome o = run_seed(s, verbose, stats);
                if (o.ok && twice) {
                        Outcome o2 = run_seed(s, false, false);
                        if (o2.hash != o.hash || !o2.ok) {
                                o.ok = false;
                                snprintf(o.failure, sizeof(o.failure),
                                         "not deterministic: trace hash %016" PRIx64 " then %016" PRIx64,
                                         o.hash, o2.hash);
                        }
                }
                if (!o.ok) {
                        failed++;
                        printf("seed %" PRIu64 ": FAIL hash %016" PRIx64 " at %.6fs: %s\n"
                               "  replay: raftsim --seeds 1 --from %" PRIu64 " --verbose\n",
                               s, o.hash, (double) o.end_usec / 1e6, o.failure, s);
                } else if (!quiet)
                        printf("seed %" PRIu64 ": ok hash %016" PRIx64 "\n", s, o.hash);
                fflush(stdout);
        }
        printf("%" PRIu64 " seeds from %" PRIu64 ": %" PRIu64 " failed\n", n, from, failed);
        return failed ? 1 : 0;
}
