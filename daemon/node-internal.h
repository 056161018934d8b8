/* node-internal.h — the Node's state, shared by node.c (lifecycle, raft
 * driving, persistence, peers, apply, status), node-ops.c (proposals,
 * barriers, administrative operations) and node-session.c (sessions,
 * watches, leader duties, compaction, stop, housekeeping). Not for use
 * outside these files. */
#pragma once

#include "daemon/node.h"
#include "lib/hashmap.h"
#include "lib/list.h"
#include "raft/raft.h"
#include "store/store.h"
#include "tls/tls.h"
#include "tree/tree.h"

/* Peer frame types on the TLS channels (1..255; 0 is the channel's own). */
#define NODE_FRAME_RAFT 1

#define NODE_WATCHES_MAX 1024
#define NODE_OPS_MAX 65536
/* Entries kept behind a snapshot so slow followers can catch up from the log. */
#define NODE_COMPACT_KEEP 1000
/* How long a write may wait for its fsync before the watchdog stops pinging. */
#define NODE_STORAGE_STUCK_USEC (20 * USEC_PER_SEC)
/* One log entry holds at most a whole file plus the command's own fields;
 * the store, raft and the TLS frames are all sized from this. */
#define NODE_ENTRY_MAX(conf) ((size_t) (conf)->max_file_size + 1024 * 1024)

/* Cookie bit of store submissions that are our own compactions. */
#define NODE_COOKIE_COMPACT (UINT64_C(1) << 63)

typedef enum NodeOpKind {
        NODE_OP_PROPOSAL,
        NODE_OP_BARRIER,
        NODE_OP_MEMBER_ADD,
        NODE_OP_MEMBER_REMOVE,
        NODE_OP_TRANSFER,
        NODE_OP_SNAPSHOT,
} NodeOpKind;

struct NodeOp {
        ListNode link;                  /* in Node.ops, or Node.done_ops once finished */
        Node *node;
        NodeOpKind kind;
        uint64_t start_usec;
        uint64_t deadline_usec;
        void *userdata;

        /* proposal */
        uint64_t session;               /* author session used (0: none) */
        uint64_t request;               /* request number in that session */
        Buf cmd;                        /* encoded command, for retries */
        uint64_t index, term;           /* where the leader appended it (0: unknown) */
        uint64_t next_try_usec;
        bool may_be_appended;           /* sent at least once */
        NodeProposalFn proposal_fn;
        TreeResult result;

        /* barrier */
        uint64_t ctx;
        NodeBarrierFn barrier_fn;

        /* member add/remove, transfer */
        char *name;
        char *address;
        uint64_t target;
        bool started;                   /* the raft call was accepted */
        NodeOpDoneFn done_fn;

        /* snapshot */
        NodeSnapshotFn snapshot_fn;
        int fd;
        CtlSnapshotEnd info;

        /* outcome, delivered from done_ops after the raft update is done */
        int r;
        char message[192];
};

typedef enum WatchKind {
        WATCH_CHANGES,
        WATCH_SESSION,
} WatchKind;

struct NodeWatch {
        ListNode link;
        Node *node;
        WatchKind kind;
        char *path;
        bool recursive;
        NodeChangeFn change_fn;
        NodeSessionFn session_fn;
        void *userdata;
        sd_event_source *initial;       /* session watch: first report */
};

/* A message that may leave only once the persist of update `seq` is durable. */
typedef struct HeldMessage {
        ListNode link;
        uint64_t seq;
        uint64_t to;
        size_t len;
        uint8_t data[];
} HeldMessage;

typedef struct NodeMetrics {
        Metric *proposals, *proposals_failed, *commit_latency, *fsync_latency;
        Metric *term, *role[_CTL_ROLE_MAX], *commit_index, *applied_index, *last_index;
        Metric *peers_connected, *voters, *learners, *sessions, *locks_held, *locks_waiting;
        Metric *read_barriers, *read_barrier_latency, *leader_changes, *jeopardy, *uptime;
        Metric *snapshots, *messages_sent, *messages_received;
} NodeMetrics;

struct Node {
        sd_event *event;
        const Conf *conf;
        Metrics *metrics;
        NodeMetrics m;
        uint64_t self_id;
        uint64_t housekeeping_last_usec;        /* node_now() of the last housekeeping turn */

        Store *store;
        Raft *raft;
        Tree *tree;
        TlsContext *tls_ctx;
        TlsNet *net;
        Hashmap *peer_names;            /* id -> malloc'd name of every authenticated peer seen */
        sd_event_source *raft_timer;
        sd_event_source *housekeeping_timer;
        sd_event_source *done_source;   /* delivers done_ops */
        bool in_update;                 /* between raft_update_get and _done */

        NodeEventFn event_fn;
        void *event_userdata;
        NodeNoticeFn notice_fn;
        NodeResetFn reset_fn;
        void *reset_userdata;
        void *notice_userdata;

        /* persistence */
        uint64_t persist_seq;           /* last update with writes */
        uint64_t durable_seq;           /* last update whose writes are durable */
        uint64_t persist_submit_usec[64]; /* submission time by seq % 64, for the fsync metric */
        List held;                      /* HeldMessage, in seq order */
        Buf incoming_snapshot;          /* InstallSnapshot chunks being received */
        uint64_t incoming_index, incoming_term;
        bool compacting;
        StoreSnapshotReader *snap_reader;

        /* operations */
        List ops;
        List done_ops;
        size_t n_ops;
        uint64_t next_ctx;

        /* session */
        CtlSession session;             /* as reported to watchers */
        uint64_t quorum_contact_usec;   /* latest raft_quorum_contact() seen (monotonic) */
        /* Leaving JEOPARDY needs a read barrier started after entering it
         * (node_refresh_session): its ctx while in flight, then its index. */
        uint64_t verify_ctx, verify_index, verify_try_usec;
        uint64_t next_request;
        uint64_t session_open_sent_usec;
        Buf session_open_cmd;           /* bytes of our last SESSION_OPEN proposal */
        List watches;
        size_t n_watches;

        /* leadership duties */
        uint64_t leader_since_usec;     /* 0 when not leader */
        uint64_t limits_proposed_term;
        uint64_t tick_proposed_for;     /* tree deadline a TICK was proposed for */
        uint64_t expire_sent_session, expire_sent_usec;
        uint64_t last_leader;

        TreeNotices notices;            /* reused by every apply */
        char *mountpoint;               /* set by the FUSE layer once mounted */
        char message_buf[192];          /* for *ret_message texts that name things */

        /* lifecycle */
        int stop_phase;                 /* 0 running, 1 closing session, 2 transferring, 3 done */
        uint64_t stop_phase_deadline_usec;
        uint64_t start_usec;
        bool started, ready, stopping, transfer_started, fatal;
        uint64_t ready_ctx;             /* barrier ctx of the readiness check, 0 none */
        uint64_t ready_try_usec;
        uint64_t stop_deadline_usec;
        NodeStoppedFn stopped_fn;
        void *stopped_userdata;
        sd_event_source *stop_source;
};

/* node.c */
uint64_t node_now(Node *n);                     /* CLOCK_MONOTONIC, usec */
uint64_t node_realtime(void);                   /* CLOCK_REALTIME, usec */
uint64_t node_id_from_name(const char *name);
const RaftServer *node_server_by_name(Node *n, const char *name);
const char *node_name_by_id(Node *n, uint64_t id);
void node_drive(Node *n);                       /* process raft updates, re-arm timers */
void node_fatal(Node *n, int r, const char *what);
void node_emit(Node *n, NodeEvent event);

/* node-ops.c */
void node_propose_internal(Node *n, TreeCmd *c);   /* fire and forget */
void node_ops_housekeeping(Node *n, uint64_t now);
void node_ops_apply_result(Node *n, const RaftEntry *e, uint64_t session, uint64_t request,
                           const TreeResult *res);
void node_ops_read_result(Node *n, const RaftReadResult *rr);
void node_ops_event(Node *n, const RaftEvent *ev);
void node_ops_notices(Node *n, const RaftEntry *e, const TreeNotice *notices, size_t n_notices);
void node_ops_finish(Node *n, NodeOp *op, int r, const char *message);
/* -EROFS (certainly never applied) or -ETIMEDOUT (outcome unknown) for a
 * proposal given up before its result came. */
int node_proposal_abandoned_errno(const NodeOp *op);
void node_ops_deliver(Node *n);                 /* run finished ops' callbacks */
void node_ops_cancel_all(Node *n);
void node_op_free(NodeOp *op);

/* node-session.c */
void node_housekeeping(Node *n);                /* sessions, jeopardy, retries, timeouts */
void node_housekeeping_soon(Node *n);           /* run it on the next loop turn, not a heartbeat later */
void node_set_session(Node *n, uint8_t state, uint64_t id);
void node_refresh_session(Node *n);
