/* sim.h — the deterministic simulator of a raftfs Raft cluster (tests/sim).
 *
 * One seed = one world: a seeded PRNG draws the cluster (3, 5 or 7 voters
 * plus spare servers for membership changes), its options (timeouts,
 * PreVote x CheckQuorum, windows, message and chunk sizes, memory window),
 * the fault rates of the network and the disks, and then a random schedule
 * of client proposals, read barriers, crashes/restarts, partitions
 * (symmetric, asymmetric, isolations), membership changes and leadership
 * transfers, all on a virtual clock driven by an event queue. Nothing reads
 * a real clock, so a seed replays exactly; a 64-bit hash folded over every
 * event is the seed's trace hash.
 *
 * Files: node.c (servers: network, disk, state machine, update handling),
 * check.c (the invariants), raftsim.c (world, schedule, phases, main). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/hashmap.h"
#include "raft/raft.h"

#define SIM_MAX_NODES 9
#define SIM_MAX_OPS   4096

/* ---- world configuration (drawn per seed) ---- */
typedef struct SimConfig {
        int n_voters;                   /* initial voters: 3, 5, 7 */
        int n_nodes;                    /* + spares (not members at start) */
        RaftOptions opts;               /* template; id/seed/sources set per node */
        uint64_t net_min_usec, net_max_usec;
        unsigned drop_pm, dup_pm;       /* per mille */
        uint64_t disk_min_usec, disk_max_usec;
        unsigned tear_pc;               /* percent of crashes that tear the last write */
        unsigned unreachable_pc;        /* percent of broken links reported to the core */
        uint64_t fault_phase_usec;
        uint64_t propose_every_usec, read_every_usec, fault_every_usec;
        bool storm;                     /* faults every few heartbeats */
        unsigned snapshot_every;        /* entries between snapshots (0: never) */
        unsigned snapshot_trailing;     /* entries kept before a snapshot */
        size_t snapshot_pad;            /* padding bytes in each snapshot */
        size_t max_payload;
} SimConfig;

/* ---- durable state of one server ---- */
typedef struct SimEntry {
        uint64_t term;
        uint8_t type;
        uint32_t len;
        uint8_t *data;
} SimEntry;

typedef struct Disk {
        RaftHardState hs;
        bool has_snap;
        RaftSnapshotMeta meta;          /* conf owned */
        uint8_t *snap;
        size_t snap_len;
        uint64_t first;                 /* index of log[0] */
        SimEntry *log;
        size_t n, cap;
} Disk;

/* One update's writes, durable when the simulated sync completes. */
typedef struct Batch {
        bool has_hs;
        RaftHardState hs;
        bool install;
        RaftSnapshotMeta meta;
        uint8_t *snap;
        size_t snap_len;
        uint64_t first;                 /* index of entries[0] */
        SimEntry *entries;
        size_t n;
        struct SimMsg *msgs;            /* held until durable */
        size_t n_msgs;
        uint64_t persist_index, persist_term;
        uint64_t done_at;
} Batch;

typedef struct SimMsg {
        int to;
        size_t len;
        uint8_t *data;
} SimMsg;

typedef struct Node {
        struct World *world;
        int idx;
        uint64_t id;
        bool up;
        unsigned incarnation;
        Raft *r;
        Disk disk;
        Batch *pending;
        size_t n_pending, cap_pending;
        uint64_t disk_busy_until;

        /* incoming snapshot file (volatile until installed) */
        uint8_t *rx;
        size_t rx_len;

        /* state machine: chain hash of the applied prefix + applied ops */
        uint64_t sm_index, sm_hash;
        uint8_t applied_ops[SIM_MAX_OPS / 8];

        /* mirror of the core's log, for Log Matching / Leader Append-Only */
        uint64_t mir_base, mir_base_hash;
        uint64_t *mir_term, *mir_chain;         /* index mir_base + 1 + i */
        size_t mir_n, mir_cap;

        uint64_t timer_gen, timer_at;
        uint64_t leader_term;           /* term in which it is leader, 0 = not */
        uint64_t lead_commit_base;      /* its commit index when it became leader */
        uint64_t dur_term, dur_vote, dur_commit;        /* last durable hard state */
        unsigned restarts;
} Node;

typedef struct Op {
        bool done;
        bool submitted;
        uint64_t last_try;
} Op;

typedef struct Read {
        uint64_t ctx;
        int node;
        uint64_t min_index;             /* max applied index anywhere at request */
        bool pending;
} Read;

typedef struct World World;

/* ---- node.c ---- */
int node_start(World *w, Node *n);
void node_crash(World *w, Node *n);
void node_process(World *w, Node *n);
void node_free(Node *n);
void node_disk_done(World *w, Node *n);
void node_deliver(World *w, Node *n, int from, const uint8_t *data, size_t len);
void node_tick(World *w, Node *n, uint64_t gen);
void net_send(World *w, int from, int to, const uint8_t *data, size_t len);

/* ---- check.c ---- */
void check_fail(World *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t chain_next(uint64_t prev, uint64_t index, uint64_t term, uint8_t type,
                    const void *data, size_t len);
void check_mirror_append(World *w, Node *n, uint64_t index, uint64_t term, uint64_t chain);
void check_became_leader(World *w, Node *n, uint64_t term);
void check_leader_commit(World *w, Node *n, uint64_t term, uint64_t commit);
void check_apply(World *w, Node *n, uint64_t index, uint64_t term, uint64_t chain);
void check_hard_state(World *w, Node *n, const RaftHardState *hs);
void check_vote_sent(World *w, Node *n, const uint8_t *data, size_t len);
void check_read(World *w, Node *n, const RaftReadResult *rr);
void checks_init(World *w);
void checks_done(World *w);

/* ---- raftsim.c: the world ---- */
typedef struct Event Event;

struct World {
        uint64_t seed;
        uint64_t prng;
        uint64_t now;
        uint64_t hash;                  /* trace hash */
        bool failed;
        char failure[512];
        bool verbose;
        bool heal_phase;
        SimConfig c;
        Node nodes[SIM_MAX_NODES];
        bool blocked[SIM_MAX_NODES][SIM_MAX_NODES];    /* from -> to */
        bool in_s[SIM_MAX_NODES];       /* heal phase: the healed majority */

        Event **heap;
        size_t n_heap, cap_heap;
        uint64_t ev_seq;

        Op ops[SIM_MAX_OPS];
        size_t n_ops;
        Read *reads;
        size_t n_reads, cap_reads;
        uint64_t reads_ok, reads_failed;

        /* invariant registries (check.c) */
        Hashmap *leaders;               /* term -> node idx + 1 */
        Hashmap *votes;                 /* term * 16 + voter -> candidate id */
        Hashmap *commit_by_term;        /* term -> highest index its leader committed */
        struct EntryKey *entries_tab;   /* (index, term) -> chain */
        size_t entries_cap, entries_n;
        uint64_t *applied_chain;        /* index -> chain (0 unknown) */
        uint64_t *applied_term;
        size_t applied_cap;
        uint64_t max_applied;

        /* statistics */
        uint64_t n_msgs, n_elections, n_crashes, n_snapshots, n_installs, n_conf_changes,
                 n_transfers;
};

uint64_t world_rand(World *w);
uint64_t world_range(World *w, uint64_t lo, uint64_t hi);        /* [lo, hi] */
bool world_chance_pm(World *w, unsigned per_mille);
void world_schedule(World *w, uint64_t at, int type, int node, int from, uint8_t *data,
                    size_t len, uint64_t arg);
void world_hash(World *w, uint64_t v);
uint64_t mix64(uint64_t z);

enum {
        EV_NONE = 0,                    /* cancelled */
        EV_MSG = 1,
        EV_TIMER,
        EV_DISK,
        EV_PROPOSE,
        EV_READ,
        EV_FAULT,
        EV_RESTART,
        EV_RETRY,
        EV_HEAL,
        EV_DEADLINE,
};
