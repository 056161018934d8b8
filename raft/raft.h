/* raft.h — the Raft consensus core of raftfs: a pure state machine.
 *
 * The core performs no I/O of any kind: no sockets, files, clocks, threads,
 * random calls or global state. The caller (the daemon, the simulator in
 * tests/sim, the benchmark) drives it with events and carries out the work it
 * hands back:
 *
 *   events in                         work out (RaftUpdate, see below)
 *   ---------                         --------------------------------
 *   raft_tick(now)         ──┐    ┌── hard state to persist (term, vote, commit)
 *   raft_receive(msg)        │    │── entries to persist (may truncate a suffix)
 *   raft_propose(data)       ├──> │── snapshot chunks to write / snapshot to install
 *   raft_read_index(ctx)     │    │── messages to send (some only after the persist)
 *   raft_change_config(...)  │    │── committed entries to apply
 *   raft_transfer_leadership │    │── read-barrier results
 *   raft_persisted(i, t)   ──┘    └── events to log (role, leader, term, members)
 *
 * Time is `now` in microseconds (any monotonic origin, uint64_t, as sd-event
 * uses), passed into every call. The caller arms one timer for
 * raft_next_deadline() and calls raft_tick() when it fires; there is no
 * periodic ticking. Randomness (election timeouts) comes from a private PRNG
 * seeded through RaftOptions.seed, so a run is a pure function of its inputs.
 *
 * Driving loop (sketch):
 *
 *     raft_receive(r, now, from, bytes, len);           // or tick/propose/...
 *     while (raft_has_update(r)) {
 *             RaftUpdate u;
 *             raft_update_get(r, &u);
 *             queue_persist(u.hard_state, u.snapshot, u.chunks, u.entries);   // in order
 *             for each m in u.messages:
 *                     m.after_persist ? send_after_this_persist(m) : send_now(m);
 *             apply(u.committed);  check reads u.reads;  log u.events;
 *             raft_update_done(r);
 *     }
 *     ... later, when the persist queued above is durable:
 *     raft_persisted(r, now, last_index_written, its_term);   // then send the held messages
 *
 * Durability contract. The caller persists the hard state, snapshot chunks,
 * snapshot install and entries of each update in the order of the updates
 * (within one update: snapshot chunks/install first, then entries, then the
 * hard state — or hard state and entries atomically; what matters is that a
 * crash loses only a suffix of the writes). A message with after_persist set
 * may leave only when everything persisted by its update (and all earlier
 * ones) is durable: votes and acknowledgements promise durable state. Other
 * messages (a leader's appends and heartbeats, pre-votes, rejections,
 * forwarded proposals, read-index traffic) may leave at once: the leader
 * writes to its own disk in parallel with replication (Raft thesis §10.2.1)
 * and counts its own log toward commit only up to what raft_persisted()
 * reported durable.
 *
 * Roles are Raft's (follower, pre-candidate, candidate, leader). Whether a
 * node campaigns comes from the configuration: voters do; learners and
 * servers outside the configuration do not, except a server that was a
 * voter before its latest configuration while that one is uncommitted (it
 * may hold the only log that can win; thesis §4.2.2). A configuration takes
 * effect as soon as its entry is in the log.
 *
 * Disruptive servers (thesis §4.2.3): a vote request for a later term is
 * ignored — no answer, no term change — by a follower that heard from a
 * current leader less than an election timeout ago and by a leader, unless
 * it comes from a leadership transfer. With PreVote a partitioned server
 * does not even raise its own term; CheckQuorum makes a leader that lost
 * its quorum step down after an election timeout.
 *
 * Threading: a Raft is owned by one thread. Not reentrant: callbacks
 * (RaftEntrySource, RaftSnapshotSource, trace) must not call back into it.
 *
 * Entries (RaftEntry, RaftHardState, RaftSnapshotMeta, RaftEntrySource) are
 * defined in raft/entry.h, shared with store/. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "raft/entry.h"

typedef struct Raft Raft;

/* ---- limits ---------------------------------------------------------- */

#define RAFT_NAME_MAX       63          /* server name, bytes, without NUL */
#define RAFT_ADDRESS_MAX    255         /* server address, bytes, without NUL */
#define RAFT_MAX_SERVERS    64          /* servers (voters + learners) in one configuration */

/* Wire format version carried in every message header (see raft/codec.c). */
#define RAFT_WIRE_VERSION   1

/* ---- configuration --------------------------------------------------- */

typedef enum RaftServerRole {
        RAFT_VOTER   = 1,               /* votes, counts toward quorums, may lead */
        RAFT_LEARNER = 2,               /* receives the log, never votes or campaigns */
} RaftServerRole;

/* One member. `name` and `address` are opaque to the core: it carries them
 * for the daemon (TLS peer-name checks, dialing). Both are NUL-terminated. */
typedef struct RaftServer {
        uint64_t id;                    /* chosen by the daemon, never 0 */
        uint8_t role;                   /* RaftServerRole */
        char name[RAFT_NAME_MAX + 1];
        char address[RAFT_ADDRESS_MAX + 1];
} RaftServer;

/* A membership configuration: servers sorted by nothing in particular, ids
 * unique. `servers` is malloc'd and owned by the struct. */
typedef struct RaftConfig {
        size_t n;
        RaftServer *servers;
} RaftConfig;

#define RAFT_CONFIG_INIT ((RaftConfig) { 0, NULL })

/* Frees the contents; the config is empty and reusable. Takes NULL. */
void raft_config_done(RaftConfig *c);
/* Deep copy into *ret (which is overwritten, not freed). 0 or -ENOMEM. */
int raft_config_copy(const RaftConfig *c, RaftConfig *ret);
/* The member with that id, or NULL. The pointer is valid until the config
 * changes. */
const RaftServer *raft_config_find(const RaftConfig *c, uint64_t id);
/* Appends a member. -EINVAL: id 0, name empty or longer than RAFT_NAME_MAX,
 * address longer than RAFT_ADDRESS_MAX, bad role; -EEXIST: id or name already
 * present; -E2BIG: RAFT_MAX_SERVERS reached; -ENOMEM. */
int raft_config_add(RaftConfig *c, uint64_t id, const char *name, const char *address,
                    RaftServerRole role);
/* Removes the member with that id. 0 or -ENOENT. */
int raft_config_remove(RaftConfig *c, uint64_t id);
/* Number of voters. */
size_t raft_config_voters(const RaftConfig *c);

/* Encodes a configuration as the payload of a RAFT_ENTRY_CONF entry (and of
 * RaftSnapshotMeta.conf): version byte, u32 count, then per server u64 id,
 * u8 role, str name, str address (lib/codec.h). Appends to b. 0 or -ENOMEM. */
int raft_config_encode(const RaftConfig *c, Buf *b);
/* Decodes what raft_config_encode() wrote into *ret (overwritten, not freed;
 * untouched on failure). -EBADMSG on any malformation (bad version, limits,
 * duplicate ids or names, trailing bytes), -ENOMEM. */
int raft_config_decode(const void *data, size_t len, RaftConfig *ret);

/* Produces the first entry of a brand-new cluster's log: index 1, term 1,
 * type RAFT_ENTRY_CONF, holding `conf` (which must have at least one voter),
 * and the hard state to store with it (term 1, no vote, commit 0). Every
 * initial member bootstraps with the same configuration, so their logs agree
 * on entry 1. A server that joins later starts from an empty data directory
 * without bootstrapping and learns everything from the leader.
 * ret_entry->data is malloc'd (free with raft_entry_done()).
 * -EINVAL (no voter), -ENOMEM. */
int raft_bootstrap(const RaftConfig *conf, RaftEntry *ret_entry, RaftHardState *ret_hs);

/* ---- options and lifecycle ------------------------------------------- */

/* Where a leader reads the bytes of its current snapshot to send them to a
 * follower in chunks. read() copies up to max_len bytes at `offset` of the
 * snapshot (index, term) — the one last announced with raft_compact() — into
 * buf, sets *ret_len (0 only at the end) and *ret_total (the snapshot's whole
 * size). Returns 0, -ENOENT when that snapshot is no longer available (the
 * core restarts the transfer with the current one), -EIO. Synchronous. */
typedef struct RaftSnapshotSource {
        void *userdata;
        int (*read)(void *userdata, uint64_t index, uint64_t term, uint64_t offset,
                    void *buf, size_t max_len, size_t *ret_len, uint64_t *ret_total);
} RaftSnapshotSource;

typedef struct RaftOptions {
        uint64_t id;                            /* this server's id, != 0 */
        uint64_t seed;                          /* PRNG seed (timeouts); any value */

        uint64_t heartbeat_usec;                /* leader heartbeat interval (100 ms) */
        uint64_t election_timeout_usec;         /* base T; each timeout is random in [T, 2T) (1 s) */
        /* After raft_peer_unreachable() for the leader: start PreVote after a
         * random delay in [min, max] instead of a full election timeout. */
        uint64_t failover_min_usec;             /* 50 ms */
        uint64_t failover_max_usec;             /* 150 ms */
        bool pre_vote;                          /* Raft thesis §9.6 (true) */
        bool check_quorum;                      /* leader steps down without a quorum (true) */

        /* Flow control (every resource a peer can grow has a limit). */
        size_t max_msg_bytes;                   /* entry payload bytes per append (1 MiB) */
        size_t max_inflight_msgs;               /* un-acked appends per follower (64) */
        size_t max_inflight_bytes;              /* un-acked append bytes per follower (16 MiB) */
        size_t max_uncommitted_bytes;           /* leader: proposal bytes not yet committed (64 MiB) */
        size_t max_entry_bytes;                 /* one entry's payload (8 MiB); also a decode limit */
        size_t max_entries_per_msg;             /* decode limit and send batch (4096) */
        size_t snapshot_chunk_bytes;            /* InstallSnapshot chunk size (1 MiB) */
        size_t max_pending_reads;               /* queued read barriers (65536) */
        size_t max_apply_bytes;                 /* committed payload bytes per update (16 MiB) */
        /* In-memory window: entries older than this many (and applied, and
         * durable) are dropped from memory and read back through `entries`
         * when a slow follower needs them. */
        size_t mem_entries;                     /* 8192 */
        size_t mem_bytes;                       /* 64 MiB */
        /* Learner catch-up before promotion (thesis §4.2.1): a round replicates
         * up to the leader's last index at the round's start; a round that
         * finishes within one election timeout ends the catch-up. */
        unsigned max_catch_up_rounds;           /* 10; then promotion is dropped */

        RaftEntrySource entries;                /* required */
        RaftSnapshotSource snapshot;            /* required on nodes that may lead */

        /* Debug trace of decisions (elections, rejections, commits): one line
         * per call, no newline. NULL: nothing is formatted. */
        void (*trace)(void *userdata, const char *line);
        void *trace_userdata;
} RaftOptions;

/* Fills *o with the defaults shown above (id 0, sources unset). */
void raft_options_init(RaftOptions *o);

/* Creates a core. The options are copied (the sources' userdata must outlive
 * the core). -EINVAL on bad options (id 0, zero timeouts, heartbeat >=
 * election timeout, missing entry source, failover_min > failover_max),
 * -ENOMEM. The core does nothing until raft_start(). */
int raft_new(const RaftOptions *opts, Raft **ret);
/* Frees everything the core owns. Takes NULL, returns NULL. */
Raft *raft_free(Raft *r);

/* What the caller found in its data directory. */
typedef struct RaftStartState {
        RaftHardState hard_state;               /* zeros for an empty directory */
        const RaftSnapshotMeta *snapshot;       /* the latest durable snapshot, NULL if none */
        uint64_t first_index;                   /* first entry readable through the source */
        uint64_t last_index;                    /* last durable entry, 0 if the log is empty */
} RaftStartState;

/* Starts the core from durable state, as a follower. Entries after the
 * snapshot are read through the entry source to find the last term and the
 * latest configuration, and the uncommitted ones are loaded into memory.
 * last_index must be >= the snapshot's index: storage whose log ends before
 * its snapshot (a crash between writing both) discards the log and passes
 * first_index = snapshot index + 1, last_index = snapshot index. The commit
 * index starts at max(hard_state.commit, snapshot index), capped at
 * last_index. The caller has restored its state machine from the snapshot
 * (applied index = snapshot index); committed entries after it come out in
 * updates. A node whose configuration has itself as the only voter becomes
 * leader at once; otherwise it waits an election timeout.
 * -EBADMSG: inconsistent state (entries missing between snapshot and
 * last_index, undecodable configuration), -EIO from the source, -ENOMEM,
 * -EALREADY when already started. */
int raft_start(Raft *r, uint64_t now, const RaftStartState *st);

/* ---- events in --------------------------------------------------------- */

/* Absolute time at which raft_tick() must be called next (USEC_INFINITY:
 * no deadline). Changes after every call; re-arm the timer after each. */
uint64_t raft_next_deadline(const Raft *r);

/* Processes timers due at `now` (election timeout, heartbeat, CheckQuorum,
 * transfer timeout). Calling it early is harmless. */
void raft_tick(Raft *r, uint64_t now);

/* Decodes and processes one message received from peer `from` (the id the
 * caller authenticated for the connection). -EBADMSG: malformed, or sent by
 * another id than `from`, or addressed to another id (the message is
 * dropped and nothing changes); -EPROTONOSUPPORT: unknown wire version;
 * -ENOMEM. Stale or unexpected messages are valid input and return 0. */
int raft_receive(Raft *r, uint64_t now, uint64_t from, const void *data, size_t len);

/* Reads the routing header of an encoded message without decoding the body:
 * sender, recipient and term. 0, or -EBADMSG / -EPROTONOSUPPORT. */
int raft_message_peek(const void *data, size_t len, uint64_t *ret_from, uint64_t *ret_to,
                      uint64_t *ret_term);

/* Proposes a state-machine command (a RAFT_ENTRY_NORMAL entry; `data` is
 * copied). On the leader it is appended and *ret_index / *ret_term name the
 * entry: the command is committed when an update's committed entries reach
 * that index with that term, and lost if that index commits with another
 * term. On a follower the command is forwarded to the leader (fire and
 * forget: no index comes back, *ret_index = *ret_term = 0; the daemon tags
 * commands so that a retry is deduplicated by the state machine). ret_index
 * and ret_term may be NULL.
 * Errors: -ENOTCONN no leader known (or this node is a candidate);
 * -EAGAIN the leader's max_uncommitted_bytes is reached (retry after
 * commits), or a follower already holds max_entries_per_msg proposals (or
 * max_uncommitted_bytes) not yet forwarded (retry after the next update);
 * -EBUSY a leadership transfer is under way; -E2BIG larger than
 * max_entry_bytes; -ENOMEM. Forwarded proposals that the leader refuses
 * (limits, transfer) or that are still buffered when the leader changes are
 * dropped silently. */
int raft_propose(Raft *r, uint64_t now, const void *data, size_t len,
                 uint64_t *ret_index, uint64_t *ret_term);

/* Asks for a linearizable read barrier (ReadIndex, thesis §6.4) tagged with
 * the caller's `ctx`. The result comes back in a later update's `reads` as
 * (ctx, index, 0) once the caller may serve the read: the index is the
 * leader's commit index at the time of the request, confirmed by a quorum
 * heartbeat round, and every committed entry up to it has been handed out
 * (in that update or an earlier one), so the read is safe right after
 * applying the update's committed entries. Concurrent requests share one
 * heartbeat round; a follower forwards its requests to the leader.
 * A request fails later with (ctx, 0, -ENOTCONN) when leadership is lost or
 * the leader changes, (ctx, 0, -ETIMEDOUT) when a forwarded request gets no
 * answer within two election timeouts.
 * Immediate errors: -ENOTCONN no leader known; -EAGAIN max_pending_reads
 * reached; -ENOMEM. */
int raft_read_index(Raft *r, uint64_t now, uint64_t ctx);

typedef enum RaftConfChangeType {
        RAFT_CONF_ADD_LEARNER = 1,      /* add as learner */
        RAFT_CONF_ADD_VOTER   = 2,      /* add as learner (or take an existing learner),
                                         * catch it up in rounds, then promote it */
        RAFT_CONF_DEMOTE      = 3,      /* voter -> learner */
        RAFT_CONF_REMOVE      = 4,      /* remove (a leader removing itself steps down
                                         * once the change commits) */
} RaftConfChangeType;

/* Changes membership one server at a time (thesis §4.1). On the leader the
 * configuration entry is appended at once (*ret_index names it; 0 when only
 * a promotion was scheduled) and takes effect as soon as it is appended; on
 * a follower the request is forwarded to the leader (fire and forget,
 * *ret_index = 0; watch RAFT_EVENT_CONFIG). name/address are used by ADD_*
 * only (may be NULL otherwise).
 * Errors: -ENOTCONN no leader known; -EBUSY a configuration change is not
 * yet committed, or the leader has not yet committed an entry of its own
 * term (thesis §4.1 bug fix), or a transfer is under way; -EEXIST already a
 * member in that role; -ENOENT not a member; -EINVAL bad name/address/id or
 * the change would leave no voter; -ENOMEM. */
int raft_change_config(Raft *r, uint64_t now, RaftConfChangeType type, uint64_t id,
                       const char *name, const char *address, uint64_t *ret_index);

/* Hands leadership to `target` (0: the most caught-up voter): the leader
 * stops accepting proposals, brings the target up to date, then sends it
 * TimeoutNow so that it campaigns at once (thesis §3.10). Used for graceful
 * shutdown. If the target is not leader within one election timeout the
 * transfer is abandoned (RAFT_EVENT_TRANSFER with ok = false).
 * Errors: -ENOTCONN not the leader; -EALREADY a transfer is under way;
 * -ENOENT target is not a voter (or no other voter exists); -EINVAL target
 * is this node. */
int raft_transfer_leadership(Raft *r, uint64_t now, uint64_t target);

/* The daemon's connection to peer `id` closed. A follower whose leader it
 * is starts a PreVote (or an election without PreVote) after a random
 * failover delay instead of a full election timeout; a leader marks the
 * peer for probing. Other peers: no effect. PreVote and the disruptive-server
 * rule keep this safe when only this one link broke. */
void raft_peer_unreachable(Raft *r, uint64_t now, uint64_t id);

/* The caller reports that everything it was asked to persist up to entry
 * (index, term) — including a snapshot installed at (index, term) — is
 * durable. Reports whose (index, term) no longer matches the log (it was
 * truncated meanwhile) are ignored; reports may be coalesced. */
void raft_persisted(Raft *r, uint64_t now, uint64_t index, uint64_t term);

/* The caller has durably written a snapshot of its state machine covering
 * entries up to `index` (<= applied index, with the term of that entry and
 * the configuration raft_snapshot_meta_at() gave for it), and the entry
 * source may from now on refuse entries below `first_index` (<= index + 1;
 * keeping a trailing run of entries lets slow followers catch up without a
 * snapshot). Leaders send this snapshot to followers that need entries
 * below first_index. -EINVAL: index beyond the applied index or below the
 * current snapshot, term mismatch, first_index > index + 1. */
int raft_compact(Raft *r, uint64_t index, uint64_t term, uint64_t first_index);

/* The metadata to store with a snapshot at applied index `index`: its term
 * and the configuration in force there (ret->conf malloc'd; free it).
 * -EINVAL outside [snapshot index, applied index], -ENOMEM, -EIO. */
int raft_snapshot_meta_at(const Raft *r, uint64_t index, RaftSnapshotMeta *ret);

/* ---- work out: the update ------------------------------------------------ */

typedef struct RaftOutMessage {
        uint64_t to;
        bool after_persist;             /* send only once this update's persist is durable */
        size_t len;
        const uint8_t *data;            /* encoded message, core-owned */
} RaftOutMessage;

/* A piece of a snapshot being received: write `len` bytes at `offset` of the
 * incoming snapshot (index, term); offset 0 starts a new file (discard any
 * partial one). The install follows in `snapshot` once the last piece came. */
typedef struct RaftSnapshotChunk {
        uint64_t index;
        uint64_t term;
        uint64_t offset;
        size_t len;
        const uint8_t *data;
} RaftSnapshotChunk;

typedef struct RaftReadResult {
        uint64_t ctx;
        uint64_t index;
        int error;                      /* 0, -ENOTCONN, -ETIMEDOUT */
} RaftReadResult;

typedef enum RaftRole {
        RAFT_FOLLOWER      = 1,
        RAFT_PRE_CANDIDATE = 2,
        RAFT_CANDIDATE     = 3,
        RAFT_LEADER        = 4,
} RaftRole;

const char *raft_role_to_string(RaftRole role);

typedef enum RaftEventType {
        RAFT_EVENT_ROLE     = 1,        /* role changed: role, term */
        RAFT_EVENT_LEADER   = 2,        /* known leader changed: leader (0 = none), term */
        RAFT_EVENT_TERM     = 3,        /* term advanced: term */
        RAFT_EVENT_CONFIG   = 4,        /* configuration changed (appended, truncated
                                         * or installed): index; read it with raft_config() */
        RAFT_EVENT_TRANSFER = 5,        /* leadership transfer ended: leader = target; ok:
                                         * this node is no longer leader (handed over or
                                         * lost), !ok: timed out, still leader */
} RaftEventType;

typedef struct RaftEvent {
        RaftEventType type;
        RaftRole role;
        uint64_t term;
        uint64_t leader;
        uint64_t index;
        bool ok;
} RaftEvent;

/* One batch of work. Every pointer is owned by the core and valid until
 * raft_update_done(); in between, the caller must not call any raft_
 * function other than the read-only accessors below. */
typedef struct RaftUpdate {
        /* Term or vote changed: persist hard_state before sending this
         * update's after_persist messages. hard_state.commit is always the
         * current commit index; storing it is optional (it may lag, the core
         * relearns it), so write it along with other writes. */
        bool hard_state_changed;
        RaftHardState hard_state;

        const RaftSnapshotChunk *chunks;        /* snapshot pieces to write, in order */
        size_t n_chunks;
        /* Install the completely received snapshot: replace the state machine
         * with it and drop the whole log; the log continues at index + 1.
         * Then report raft_persisted(index, term). */
        const RaftSnapshotMeta *snapshot;

        /* Entries to persist. entries[0].index may be <= the last index
         * written before: the stored log is then truncated from there. Report
         * raft_persisted(last.index, last.term) once durable. */
        const RaftEntry *entries;
        size_t n_entries;

        const RaftOutMessage *messages;
        size_t n_messages;

        /* Committed entries to apply, consecutive, in order (after installing
         * `snapshot` when set). May include entries not yet durable here:
         * committed means durable on a quorum. Entries that left memory are
         * read through the entry source; if it fails, handing out stops
         * until the next raft_tick(). */
        const RaftEntry *committed;
        size_t n_committed;

        const RaftReadResult *reads;            /* safe after applying `committed` */
        size_t n_reads;

        const RaftEvent *events;
        size_t n_events;
} RaftUpdate;

/* True when work is waiting for raft_update_get(). */
bool raft_has_update(const Raft *r);
/* Moves the pending work into *ret (overwritten). Always succeeds: when
 * nothing is pending the update is empty. Must be followed by
 * raft_update_done() before any other non-accessor call. Committed entries
 * are limited to max_apply_bytes per update: call again while
 * raft_has_update(). */
void raft_update_get(Raft *r, RaftUpdate *ret);
/* Releases the update's memory; marks its committed entries as applied. */
void raft_update_done(Raft *r);

/* ---- status accessors (any time) ------------------------------------------ */

RaftRole raft_role(const Raft *r);
uint64_t raft_id(const Raft *r);
uint64_t raft_term(const Raft *r);
uint64_t raft_leader(const Raft *r);            /* 0 when unknown */
uint64_t raft_commit_index(const Raft *r);
uint64_t raft_applied_index(const Raft *r);     /* last committed entry handed out */
uint64_t raft_last_index(const Raft *r);
uint64_t raft_last_term(const Raft *r);
uint64_t raft_persisted_index(const Raft *r);   /* last entry reported durable */
uint64_t raft_snapshot_index(const Raft *r);
/* The configuration in force (the latest one appended, committed or not),
 * and the index of its entry (0 when none). Valid until the next call. */
const RaftConfig *raft_config(const Raft *r);
uint64_t raft_config_index(const Raft *r);
/* True when this node is a voter in its configuration. */
bool raft_is_voter(const Raft *r);

typedef enum RaftPeerState {
        RAFT_PEER_PROBE     = 1,        /* finding the match point, one append at a time */
        RAFT_PEER_REPLICATE = 2,        /* pipelining appends within the window */
        RAFT_PEER_SNAPSHOT  = 3,        /* receiving a snapshot */
} RaftPeerState;

const char *raft_peer_state_to_string(RaftPeerState s);

typedef struct RaftPeerStatus {
        uint64_t id;
        RaftPeerState state;
        uint64_t match_index;
        uint64_t next_index;
        size_t inflight_msgs;
        size_t inflight_bytes;
        uint64_t last_contact_usec;     /* `now` of the last message from it, 0 never */
} RaftPeerStatus;

/* Leader only: progress of peer `id`. -ENOTCONN not the leader, -ENOENT no
 * such peer (or id is this node). */
int raft_peer_status(const Raft *r, uint64_t id, RaftPeerStatus *ret);
/* Leader only: time the peer was last heard from (0: never or not leader). */
uint64_t raft_peer_last_contact(const Raft *r, uint64_t id);
/* Last time this node knew itself in contact with a quorum: on the leader,
 * when a quorum (counting itself) had last acknowledged it; on a follower,
 * when it last heard from the current leader. 0: never. Used by the daemon
 * to tell when its session may have expired. */
uint64_t raft_quorum_contact(const Raft *r);
