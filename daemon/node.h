/* node.h — one raftfs cluster member: the object that owns the raft core,
 * durable storage, the tree state machine, the peer channels and (later)
 * the FUSE mount, all driven by one sd-event loop.
 *
 * Everything outside (the control server, main's signal handlers, STATUS=
 * updates) talks to the node only through this interface, so that the
 * layers behind it can be wired without touching the callers. All functions
 * must be called from the loop thread. Asynchronous operations (membership
 * changes, leadership transfer, snapshots, shutdown) report completion
 * through a callback, called later from the loop, never from inside the
 * call that started them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "daemon/conf.h"
#include "daemon/control-proto.h"
#include "daemon/metrics.h"
#include "lib/buf.h"

typedef struct Node Node;
/* From tree/tree.h; declared here so that users of the control side do not
 * need the tree's header. */
typedef struct Tree Tree;
typedef struct TreeCmd TreeCmd;
typedef struct TreeResult TreeResult;
typedef struct TreeNotice TreeNotice;

/* ---- lifecycle ---------------------------------------------------------- */

/* Creates a node for `conf` on loop `e`. Borrows conf, e and metrics, which
 * must outlive the node. Registers the node's metrics. Does no I/O yet.
 * Returns 0 or -ENOMEM. */
int node_new(sd_event *e, const Conf *conf, Metrics *metrics, Node **ret);

/* Frees the node without the graceful steps of node_stop(): sockets are
 * closed, pending callbacks are dropped. Takes NULL; returns NULL. */
Node *node_free(Node *n);

/* Opens data_dir (bootstrapping it from initial_members when empty),
 * starts listening for peers and joins the loop. Negative errno, logged. */
int node_start(Node *n);

typedef void (*NodeStoppedFn)(Node *n, void *userdata);

/* Begins a graceful shutdown: the session is reported as stopping, a leader
 * hands leadership to a caught-up voter (bounded by election_timeout), the
 * mount is removed, and `done` is called. Calling it twice is harmless (the
 * first callback wins). */
void node_stop(Node *n, NodeStoppedFn done, void *userdata);

/* SIGHUP: reloads TLS certificates for new connections. Negative errno. */
int node_reload(Node *n);

/* ---- state ------------------------------------------------------------- */

typedef enum NodeEvent {
        NODE_EVENT_STATE,       /* role, term, leader or quorum changed */
        NODE_EVENT_READY,       /* caught up with the leader's commit (once) */
        NODE_EVENT_FATAL,       /* the node cannot continue (corruption, disk error) */
} NodeEvent;

typedef void (*NodeEventFn)(Node *n, NodeEvent event, void *userdata);

/* Sets the one event callback (main uses it for sd_notify). */
void node_set_event_handler(Node *n, NodeEventFn fn, void *userdata);

/* Fills *ret with the current status. The strings point into the node and
 * stay valid until the next loop iteration. */
void node_get_status(Node *n, CtlStatus *ret);

/* The current members (for a leader with replication progress), as a new
 * array the caller frees with free(); its strings are borrowed like above.
 * 0 or -ENOMEM. */
int node_get_members(Node *n, CtlMember **ret, size_t *ret_n);

/* Appends the Prometheus text of the node's metrics (refreshing the gauges
 * first). 0 or -ENOMEM. */
int node_render_metrics(Node *n, Buf *out);

/* The watchdog's question: has the node made progress recently (loop turning,
 * storage thread alive, no stuck fsync)? Returns true when healthy; else
 * false with a static reason in *ret_reason. */
bool node_is_healthy(Node *n, const char **ret_reason);

/* ---- asynchronous administrative operations ----------------------------- */

typedef struct NodeOp NodeOp;

/* Completion of an operation: r >= 0 success, negative errno failure;
 * message is a human explanation (may be NULL) valid during the call. */
typedef void (*NodeOpDoneFn)(int r, const char *message, void *userdata);

/* Each starts an operation and returns 0 with a handle in *ret_op (owned by
 * the node; pass it to node_op_cancel() if the requester goes away before
 * `done` runs), or fails at once with a negative errno and *ret_message set
 * to a static explanation:
 *   -EINVAL bad name/address, -EEXIST/-ENOENT member (not) present,
 *   -ENOTCONN no leader known, -EBUSY another change in progress,
 *   -EOPNOTSUPP not available in this build or state. */
int node_member_add(Node *n, const char *name, const char *address,
                    NodeOpDoneFn done, void *userdata, NodeOp **ret_op, const char **ret_message);
int node_member_remove(Node *n, const char *name,
                       NodeOpDoneFn done, void *userdata, NodeOp **ret_op, const char **ret_message);
/* name NULL: the most caught-up voter. */
int node_leader_transfer(Node *n, const char *name,
                         NodeOpDoneFn done, void *userdata, NodeOp **ret_op, const char **ret_message);

/* Snapshot export: on success `done` receives an fd (owned by the callee of
 * `done`, which must close it) positioned at the start of a snapshot file
 * and its description. */
typedef void (*NodeSnapshotFn)(int r, const char *message, int fd, const CtlSnapshotEnd *info,
                               void *userdata);
int node_snapshot_export(Node *n, NodeSnapshotFn done, void *userdata, NodeOp **ret_op,
                         const char **ret_message);

/* Forgets an operation: its callback will not be called. Takes NULL. */
void node_op_cancel(Node *n, NodeOp *op);

/* ---- subscriptions ----------------------------------------------------- */

typedef struct NodeWatch NodeWatch;

typedef void (*NodeChangeFn)(const CtlChange *change, void *userdata);
typedef void (*NodeSessionFn)(const CtlSession *session, void *userdata);

/* Calls fn for every committed change at `path` (or below it, when
 * recursive) applied from now on. path is absolute and normalised by the
 * caller. Returns NULL on allocation failure or when the per-node limit of
 * watches is reached. Remove with node_watch_remove(). */
NodeWatch *node_watch_add(Node *n, const char *path, bool recursive, NodeChangeFn fn, void *userdata);

/* Calls fn with the current session state from the loop soon after, and
 * then on every change. NULL on allocation failure or limit. */
NodeWatch *node_session_watch_add(Node *n, NodeSessionFn fn, void *userdata);

/* Removes a subscription of either kind. Takes NULL; returns NULL. */
NodeWatch *node_watch_remove(Node *n, NodeWatch *w);

/* The current session, as node_session_watch_add would report it. */
void node_get_session(Node *n, CtlSession *ret);

/* ---- the seam for the FUSE layer (fusefs/) ------------------------------- */

/* The local replica, for reads. Valid until the next loop iteration (the
 * tree changes only while committed entries are applied). */
const Tree *node_tree(Node *n);

/* True when the node heard from a quorum recently enough that a write may
 * succeed (DESIGN §2: a write() on a node that knows it has no quorum fails
 * at once with EROFS). */
bool node_has_quorum(Node *n);

/* Tells the node that the tree is mounted at `mountpoint` (NULL: not
 * mounted), for status and STATUS=. The string is copied. */
void node_set_mountpoint(Node *n, const char *mountpoint);

/* This node's id in the Raft configuration (never 0). */
uint64_t node_self_id(Node *n);

/* The name of member `id`, or NULL when it is not in the configuration. */
const char *node_member_name(Node *n, uint64_t id);

/* This node's session id (0 when it has none: writes that need a session,
 * such as locks, must fail with EIO then). */
uint64_t node_session_id(Node *n);

typedef void (*NodeProposalFn)(int r, const TreeResult *result, void *userdata);

/* Proposes a tree command. The node fills the author fields (session,
 * request number, ack) and time_usec, encodes it, and keeps retrying it
 * (to the current leader, with the same request number, so that the state
 * machine applies it at most once) until it is applied locally or
 * op_timeout_ms passes. `done` runs once, from the loop: r = 0 and the
 * result (result->err is the command's own errno) once applied here;
 * -EROFS when it certainly was not and never will be applied (no leader
 * ever accepted any attempt before op_timeout_ms); -ETIMEDOUT when an
 * attempt was handed to raft but not seen
 * applied by op_timeout_ms or the stop: the outcome is unknown (it may
 * still commit); -EIO when the session expired meanwhile (the tree refuses
 * the session's later entries, so it will not apply). Commands with
 * need_session false are sent without a session when the node has none
 * (no dedupe: they are not retried after they may have been appended).
 * The author fields and time_usec it stamped are written back into *cmd.
 * 0 with *ret_op, or -EINVAL (cannot encode), -EIO (no session but
 * need_session), -ENOMEM at once. */
int node_propose(Node *n, TreeCmd *cmd, bool need_session, NodeProposalFn done, void *userdata,
                 NodeOp **ret_op);

typedef void (*NodeBarrierFn)(int r, void *userdata);

/* A linearizable read barrier (ReadIndex): `done` runs with 0 once the local
 * replica has applied everything committed when the barrier was requested,
 * or -EIO when no quorum confirmed it within op_timeout_ms. Concurrent
 * barriers are batched by the raft core. 0 with *ret_op, or -ENOMEM. */
int node_read_barrier(Node *n, NodeBarrierFn done, void *userdata, NodeOp **ret_op);

/* Called with the notices of every applied entry, in order (cache
 * invalidation, lock grants), with the entry's author (session, request;
 * 0 when none). The notices are valid during the call only.
 * The handler must not call node functions that drive raft (propose,
 * barrier); it may queue work for later. */
typedef void (*NodeNoticeFn)(uint64_t index, uint64_t author_session, uint64_t author_request,
                             const TreeNotice *notices, size_t n_notices, void *userdata);
void node_set_notice_handler(Node *n, NodeNoticeFn fn, void *userdata);

/* Called after the tree was replaced wholesale by a snapshot from the
 * leader (no notices describe that change). NULL unsets. */
typedef void (*NodeResetFn)(void *userdata);
void node_set_reset_handler(Node *n, NodeResetFn fn, void *userdata);
