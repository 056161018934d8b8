/* raft-internal.h — the Raft struct and the functions the core's files share.
 *
 * File map (one concern each):
 *   raft.c         lifecycle, the public entry points, role switching, accessors
 *   update.c       the update: what the caller takes out
 *   rlog.c         the entry log: in-memory window over the caller's storage
 *   election.c     timers, PreVote, RequestVote, TimeoutNow, leadership transfer
 *   replication.c  AppendEntries, heartbeats, per-follower progress, commit
 *   readindex.c    ReadIndex read barriers (leader rounds, follower forwarding)
 *   snapshot.c     InstallSnapshot in chunks (both sides), compaction
 *   membership.c   configuration history, one-at-a-time changes, promotion
 *   config.c       RaftConfig values and their encoding, bootstrap
 *   codec.c        wire encoding (msg.h)
 *
 * Not part of the public interface; nothing outside raft/ includes it except
 * the fuzz target (through msg.h). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/macro.h"
#include "raft/msg.h"
#include "raft/raft.h"

/* ---- the entry log (rlog.c) ------------------------------------------------
 *
 * The log is [first_index, last_index] plus the snapshot (snap_index,
 * snap_term) before it; first_index <= snap_index + 1. A suffix of it,
 * [mem_first, last_index], is held in memory in a ring (`ring`, power-of-two
 * capacity); older entries are read through the caller's RaftEntrySource.
 * Entries >= unstable have not yet been handed to the caller for
 * persisting; entries <= persisted were reported durable. Only entries that
 * are both applied and durable leave memory. */
typedef struct Rlog {
        uint64_t snap_index, snap_term;
        uint64_t first_index;
        uint64_t last_index, last_term;
        uint64_t mem_first;
        RaftEntry *ring;
        size_t cap;                     /* power of two or 0 */
        size_t head;                    /* ring slot of mem_first */
        size_t count;                   /* == last_index - mem_first + 1 */
        size_t mem_bytes;
        uint64_t unstable;
        uint64_t persisted;
} Rlog;

/* ---- per-follower replication state (replication.c) ---------------------- */

typedef struct Inflight {
        uint64_t last;                  /* last index the append carried */
        size_t bytes;
} Inflight;

typedef struct Progress {
        uint64_t id;
        bool voter;
        RaftPeerState state;
        uint64_t match, next;

        Inflight *inflight;             /* ring of max_inflight_msgs */
        size_t if_head, if_count, if_bytes;

        bool probe_sent;                /* PROBE: an append is outstanding */
        uint64_t probe_sent_at;
        unsigned ack_wait;              /* heartbeat answers in a row that showed
                                         * entries it has but never acknowledged */
        uint64_t last_progress;         /* when match last advanced */
        uint64_t last_contact;          /* when it last answered us */
        bool recent_active;             /* answered since the last CheckQuorum */
        uint64_t read_ack;              /* highest heartbeat seq it acknowledged */
        uint64_t sent_commit;           /* commit index last sent to it */

        /* SNAPSHOT state */
        uint64_t snap_index, snap_term, snap_offset;
        bool snap_waiting;              /* a chunk is outstanding */
        uint64_t snap_sent_at;

        /* learner catch-up before promotion (membership.c) */
        bool promote;
        unsigned rounds;
        uint64_t round_target, round_start;
} Progress;

/* ---- configuration history (membership.c) --------------------------------
 * confs[0] is the configuration in force at the snapshot (or the empty
 * configuration at index 0); later elements are configuration entries of the
 * log, in index order. The configuration in force is the last element. */
typedef struct ConfEntry {
        uint64_t index;
        RaftConfig conf;
} ConfEntry;

/* ---- read barriers (readindex.c) ------------------------------------------ */

typedef struct ReadReq {
        uint64_t ctx;
        uint64_t from;                  /* leader: requesting follower, 0 = local */
        uint64_t seq;                   /* leader: round, 0 = not yet assigned */
        uint64_t index;                 /* leader: commit index at round start */
        uint64_t deadline;              /* follower: when a forwarded read fails */
        bool sent;                      /* follower: forwarded already */
} ReadReq;

/* ---- receiving a snapshot (snapshot.c) ------------------------------------ */

typedef struct SnapshotRx {
        bool active;
        uint64_t index, term, expected, total;
        uint8_t *conf;
        size_t conf_len;
} SnapshotRx;

/* ---- the core -------------------------------------------------------------- */

typedef void (*RaftStepFn)(Raft *r, const RaftMsg *m);
typedef void (*RaftTickFn)(Raft *r);

typedef struct OutMsg {
        uint64_t to;
        bool after_persist;
        size_t off, len;                /* within Raft.out */
} OutMsg;

struct Raft {
        RaftOptions o;
        uint64_t id;
        uint64_t now;
        uint64_t prng;
        bool started;
        bool in_update;

        /* persistent state (Figure 2) */
        uint64_t term, vote, commit;
        bool hs_dirty;                  /* term or vote changed since the last update */

        Rlog log;
        uint64_t applied;               /* last committed entry handed out */

        ConfEntry *confs;
        size_t n_confs;

        /* role */
        RaftRole role;
        uint64_t leader;
        RaftStepFn step;
        RaftTickFn tick;
        uint64_t election_deadline;
        uint64_t leader_contact;        /* follower: last message from the leader; 0 = none
                                         * or its connection broke (lease given up) */
        uint64_t heard_leader_at;       /* follower: last message from the leader */
        uint64_t votes_granted[RAFT_MAX_SERVERS];
        size_t n_granted, n_rejected;

        /* leader */
        Progress *peers;
        size_t n_peers;
        uint64_t term_start;            /* index of this term's no-op */
        size_t uncommitted_bytes;
        uint64_t heartbeat_deadline;
        uint64_t quorum_deadline;       /* next CheckQuorum */
        uint64_t transfer_target, transfer_deadline;
        uint64_t read_seq;
        bool step_down_pending;         /* removed itself: step down once committed */

        /* read barriers */
        ReadReq *reads;                 /* leader: pending rounds; follower: forwarded */
        size_t n_reads, cap_reads;
        RaftReadResult *ready;          /* confirmed, waiting for apply */
        size_t n_ready, cap_ready;

        /* follower: proposals waiting to be forwarded */
        Buf fwd_props;
        uint32_t n_fwd_props;

        SnapshotRx rx;

        bool need_flush;

        /* ---- output, accumulated until raft_update_get() ---- */
        Buf out;
        OutMsg *msgs;
        size_t n_msgs, cap_msgs;
        RaftEvent *events;
        size_t n_events, cap_events;
        RaftSnapshotChunk *chunks;      /* data owned */
        size_t n_chunks, cap_chunks;
        bool install;
        RaftSnapshotMeta install_meta;  /* conf owned */

        /* ---- the update being handed out ---- */
        RaftOutMessage *upd_msgs;
        size_t cap_upd_msgs;
        RaftEntry *upd_entries;
        size_t cap_upd_entries;
        RaftEntry *upd_committed;
        size_t cap_upd_committed;
        bool *upd_committed_owned;
        size_t cap_upd_owned;
        bool apply_blocked;             /* the source failed: retry at the next tick */
        size_t n_upd_committed;
        RaftReadResult *upd_reads;
        size_t n_upd_reads, cap_upd_reads;
        RaftEvent *upd_events;
        size_t n_upd_events;
        RaftSnapshotChunk *upd_chunks;
        size_t n_upd_chunks;

        uint8_t *scratch;               /* snapshot chunk buffer */
        size_t scratch_len;
};

/* ---- small helpers (raft.c) ---- */
int grow(void **array, size_t *cap, size_t need, size_t elem);
void trace(Raft *r, const char *fmt, ...) _printf_(2, 3);
uint64_t rand_range(Raft *r, uint64_t lo, uint64_t hi);    /* in [lo, hi] */
void emit_event(Raft *r, RaftEventType type);
/* Queues an encoded message; the message is built by `m`. */
void send_msg(Raft *r, RaftMsg *m, bool after_persist);
/* Reserves space for a message the caller encodes into r->out itself. */
size_t send_begin(Raft *r);
void send_end(Raft *r, uint64_t to, size_t start, bool after_persist);
size_t quorum(size_t voters);

/* update.c */
void update_release(Raft *r);

/* role transitions (raft.c) */
void become_follower(Raft *r, uint64_t term, uint64_t leader);
void become_pre_candidate(Raft *r);
void become_candidate(Raft *r);
void become_leader(Raft *r);
void set_leader(Raft *r, uint64_t leader);
bool self_is_voter(const Raft *r);

/* rlog.c */
void rlog_init(Rlog *l);
void rlog_done(Rlog *l);
int rlog_term(const Raft *r, uint64_t index, uint64_t *ret);
bool rlog_match(const Raft *r, uint64_t index, uint64_t term);
const RaftEntry *rlog_mem(const Raft *r, uint64_t index);
int rlog_append(Raft *r, uint64_t term, uint8_t type, const void *data, size_t len);
void rlog_truncate(Raft *r, uint64_t from);
void rlog_evict(Raft *r);
void rlog_reset(Raft *r, uint64_t snap_index, uint64_t snap_term);
int rlog_encode_entries(Raft *r, Buf *b, uint64_t lo, uint64_t hi_incl, size_t max_bytes,
                        size_t max_n, uint32_t *ret_n, size_t *ret_bytes);

/* election.c */
void election_reset_timer(Raft *r);
void campaign(Raft *r, bool pre, bool transfer);
bool may_campaign(const Raft *r);
void follower_tick(Raft *r);
void candidate_tick(Raft *r);
void handle_vote(Raft *r, const RaftMsg *m);
void handle_vote_resp(Raft *r, const RaftMsg *m);
bool in_lease(const Raft *r);
void transfer_check(Raft *r, Progress *p);
void transfer_end(Raft *r, bool ok);
void leader_step_down_removed(Raft *r);

/* replication.c */
Progress *peer_find(Raft *r, uint64_t id);
void peers_rebuild(Raft *r);
void peers_free(Raft *r);
void replicate_flush(Raft *r);
void broadcast_heartbeat(Raft *r);
void leader_tick(Raft *r);
void maybe_commit(Raft *r);
void handle_append(Raft *r, const RaftMsg *m);
void handle_append_resp(Raft *r, const RaftMsg *m);
void handle_heartbeat(Raft *r, const RaftMsg *m);
void handle_heartbeat_resp(Raft *r, const RaftMsg *m);
void handle_propose(Raft *r, const RaftMsg *m);
void progress_become_probe(Raft *r, Progress *p);
void progress_become_replicate(Raft *r, Progress *p);
void progress_become_snapshot(Raft *r, Progress *p);
int leader_append(Raft *r, uint8_t type, const void *data, size_t len, uint64_t *ret_index);
void commit_advanced(Raft *r, uint64_t old_commit);

/* readindex.c */
void reads_flush(Raft *r);
void reads_check_quorum(Raft *r);
void reads_fail_all(Raft *r, int error);
void reads_tick(Raft *r);
uint64_t reads_next_deadline(const Raft *r);
void handle_read_index(Raft *r, const RaftMsg *m);
void handle_read_index_resp(Raft *r, const RaftMsg *m);
int ready_push(Raft *r, uint64_t ctx, uint64_t index, int error);

/* snapshot.c */
void snapshot_send(Raft *r, Progress *p);
void handle_snapshot(Raft *r, const RaftMsg *m);
void handle_snapshot_resp(Raft *r, const RaftMsg *m);
void snapshot_rx_clear(Raft *r);

/* membership.c */
const RaftConfig *conf_current(const Raft *r);
const RaftConfig *conf_at(const Raft *r, uint64_t index);
int conf_push(Raft *r, uint64_t index, const void *data, size_t len);
void conf_truncate(Raft *r, uint64_t from);
void conf_compact(Raft *r, uint64_t index);
int conf_reset(Raft *r, uint64_t index, const void *data, size_t len);
void confs_free(Raft *r);
void conf_changed(Raft *r);
void membership_tick(Raft *r);
void membership_progress(Raft *r, Progress *p);
void membership_committed(Raft *r);
void handle_conf_change(Raft *r, const RaftMsg *m);
int change_config(Raft *r, RaftConfChangeType type, uint64_t id, const char *name,
                  const char *address, uint64_t *ret_index);
