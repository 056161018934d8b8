/* fusefs.h — the FUSE mount of raftfs (libfuse3 low-level API).
 *
 * A FuseFs mounts the replicated tree at a mount point and serves the kernel's
 * requests from the daemon's sd-event loop. It never touches raft, the store or
 * the network itself: everything it needs from the cluster goes through an
 * FsBackend, a small vtable the daemon implements (and the unit tests fake
 * with a local Tree that applies every proposal at once):
 *
 *     kernel ──/dev/fuse──> FuseFs ──propose(cmd)──────> backend (daemon: raft)
 *                              │   ──read_barrier()────>    │
 *                              │   <──done(r, index)────────┘  (later, from the loop)
 *                              │   ──tree()──> const Tree *    (queries, synchronous)
 *                              └── <──fusefs_notify_applied()── daemon, after each apply
 *
 * Requests that must wait (a commit, a read barrier, a blocking lock) keep
 * their fuse_req_t and are answered later from the loop; every such wait has a
 * deadline (op_timeout).
 *
 * The rule every reply follows (raftfs(7)): an error returned to the caller
 * means the change was not applied and never will be — EROFS when no leader
 * took it (no quorum), or the tree's own errno — with one exception:
 * ETIMEDOUT, "outcome unknown", when the backend had handed the command to a
 * leader and its result did not come by the deadline (or FuseFs is being
 * freed). An open file whose write, ftruncate or commit failed commits
 * nothing afterwards, its O_TRUNC included (ops-file.c).
 *
 * Caches: in linearizable mode the kernel caches no name and no attribute
 * (timeouts 0), so every step of a path walk reaches FuseFs and waits for a
 * read barrier: stat, lookups, readdir, getxattr see every commit completed
 * before they began. In local mode the kernel caches attributes (invalidated
 * on apply by a private notifier thread) and names for one second. No thread
 * of FuseFs ever asks the kernel for anything that can wait on a lock held
 * by a request parked in the loop (name and page invalidations can):
 * SIGKILL of the daemon therefore always ends the process and its mount.
 *
 * Threading: a FuseFs is owned by the thread running its sd_event loop. Every
 * function below must be called from that thread; every FsBackend callback is
 * invoked on it. The notifier thread is internal.
 *
 * Time: deadlines are CLOCK_MONOTONIC microseconds (sd-event's clock, as
 * returned by sd_event_now(e, CLOCK_MONOTONIC, ...)). File timestamps put into
 * commands come from CLOCK_REALTIME on the proposing node.
 *
 * The tree: FuseFs reads the local replica through the const Tree * the
 * backend returns (tree/tree.h queries) and changes it only by proposing
 * TreeCmd commands; the backend stamps each command's author fields (session,
 * request number, ack, time) so that one allocator serves the whole daemon.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "lib/buf.h"
#include "tree/tree.h"

typedef struct FuseFs FuseFs;

typedef enum FuseFsConsistency {
        /* Nothing is cached by the kernel; open, opendir, lookup, getattr,
         * getxattr, listxattr wait for a read barrier. */
        FUSEFS_CONSISTENCY_LINEARIZABLE = 0,
        /* Served from the local replica, cached by the kernel: maybe stale
         * (names by up to a second more than attributes). */
        FUSEFS_CONSISTENCY_LOCAL = 1,
} FuseFsConsistency;

typedef struct FuseFsOptions {
        const char *mountpoint;         /* absolute path of an existing directory */
        const char *fsname;             /* shown in /proc/mounts; NULL: "raftfs" */
        bool allow_other;               /* allow_other (always with default_permissions) */
        FuseFsConsistency consistency;
        uint64_t op_timeout_usec;       /* deadline of every wait for the cluster; 0: 10 s */
        uint64_t max_file_size;         /* bytes; writes past it fail with EFBIG; 0: 1 MiB */
        uint64_t max_handles;           /* open file handles; 0: 65536 (then EMFILE) */
        uint64_t max_buffered_bytes;    /* all handles' write buffers; 0: 256 MiB (then ENOSPC) */
        uint64_t max_waiters;           /* parked lock requests; 0: 4096 (then ENOLCK) */
        bool debug;                     /* libfuse's request trace on stderr */
} FuseFsOptions;

/* Completion of an asynchronous backend call. Called exactly once per
 * accepted call, on the loop thread, never from inside the call that
 * accepted it; it may run later than the apply (e.g. from a deferred event
 * source, after later entries were applied and notified).
 *   propose:      r is result->err, the tree's outcome of applying the
 *                 command (0, -EINPROGRESS for a queued lock, or a negative
 *                 errno such as -EEXIST; -ENOLINK when the session expired),
 *                 and `result` is the TreeResult of tree_apply() (valid only
 *                 during the call); or r is a negative errno and result NULL
 *                 when it was not applied here: -EROFS when it certainly
 *                 was not and never will be (no leader ever took it before
 *                 the deadline),
 *                 -ETIMEDOUT when a leader may have it but it was not seen
 *                 applied by the deadline or the node's stop (outcome
 *                 unknown), -EIO when the session expired meanwhile (its
 *                 later entries are refused). A proposal is never sent
 *                 again after its completion ran. index is the log index of
 *                 the applied entry, or 0 when unknown or not applied.
 *   read_barrier: r is 0 once this node has applied everything that was
 *                 committed when the barrier started (ReadIndex, Raft thesis
 *                 §6.4); or -EIO on timeout or shutdown. index is the applied
 *                 index or 0; result is always NULL. */
typedef void (*FsDoneFn)(void *cb_userdata, int r, uint64_t index, const TreeResult *result);

/* The files of the virtual directory /.raftfs/ whose text the backend provides. */
typedef enum FsInfo {
        FS_INFO_STATUS,                 /* "key: value" lines (DESIGN.md §2) */
        FS_INFO_LEADER,                 /* the leader's name and a newline, or empty */
        FS_INFO_MEMBERS,                /* one "name address role" line per member */
        FS_INFO_METRICS,                /* Prometheus text; FuseFs appends its own */
        _FS_INFO_MAX,
} FsInfo;

/* What the daemon provides. All callbacks run on the loop thread and must not
 * block; `userdata` is the backend_userdata given to fusefs_new(). */
typedef struct FsBackend {
        /* Submits a tree command. FuseFs fills the type and the type's fields;
         * the backend stamps the author fields — cmd->session (this node's
         * current session, 0 when it has none), cmd->request (a fresh request
         * number of that session), cmd->ack and cmd->time_usec (CLOCK_REALTIME
         * now) — and leaves them in *cmd for the caller (FuseFs matches lock
         * notices by (session, request)), encodes it (tree_cmd_encode()),
         * forwards it to the leader, waits until it is applied locally and
         * calls done. The backend may re-propose the same bytes after a leader
         * change (the tree's dedupe makes that safe). Returns 0 (done will be
         * called), or a negative errno without calling done: -EROFS when the
         * node knows it cannot commit now, -ENOLINK for a lock command while
         * there is no session, -E2BIG (larger than an entry may be), -ENOMEM.
         * Nothing of *cmd is referenced after the call returns. */
        int (*propose)(void *userdata, TreeCmd *cmd, uint64_t deadline_usec,
                       FsDoneFn done, void *cb_userdata);
        /* Starts (or joins) a linearizable read barrier. FuseFs already batches
         * all requests that arrive in one turn of the loop into one call.
         * 0 (done will be called) or a negative errno (-EIO) without calling done. */
        int (*read_barrier)(void *userdata, uint64_t deadline_usec, FsDoneFn done, void *cb_userdata);
        /* The local replica. Never NULL while the FuseFs exists; FuseFs keeps
         * no pointers into it across turns of the loop. */
        const Tree *(*tree)(void *userdata);
        /* false when this node knows it cannot reach a quorum right now
         * (write() then fails at once with EROFS, FUSE-NOTES.md). */
        bool (*has_quorum)(void *userdata);
        /* This node's id (as in the Raft configuration), never 0.
         * Informational (debug output). */
        uint64_t (*node_id)(void *userdata);
        /* The id of this node's current cluster session, 0 when it has none or
         * may have lost it (jeopardy): lock operations then fail with EIO. */
        uint64_t (*session_id)(void *userdata);
        /* The name of a node, or NULL when unknown. Optional (may be NULL);
         * unused at present: the tree's lock text names holders by their
         * session's node name. */
        const char *(*node_name)(void *userdata, uint64_t node_id);
        /* Appends the text of /.raftfs/<what> to out. 0 or a negative errno. */
        int (*info)(void *userdata, FsInfo what, Buf *out);
        /* Called when the kernel ended the session (someone unmounted the file
         * system, or /dev/fuse failed); the FuseFs stays allocated and answers
         * nothing more; the daemon decides whether to exit. Optional. */
        void (*unmounted)(void *userdata, int error);
} FsBackend;

/* Mounts the tree at opts->mountpoint and attaches the FUSE session fd to
 * `e` (FuseFs takes a reference on e). A stale mount left at the mount point
 * by a killed daemon ("Transport endpoint is not connected") is detached
 * first. In local mode, starts the notifier thread (with all signals
 * blocked). `opts` and
 * `backend` are copied; backend_userdata must outlive the FuseFs.
 * Returns 0 and stores the new FuseFs in *ret, or a negative errno: -EINVAL
 * (bad options), -ENOENT/-ENOTDIR (mount point), -EPERM (no permission to
 * mount), -ENOMEM, -EIO (libfuse refused). *ret is untouched on failure. */
int fusefs_new(sd_event *e, const FuseFsOptions *opts, const FsBackend *backend,
               void *backend_userdata, FuseFs **ret);

/* Answers every parked request with EIO (commits and barriers in flight, lock
 * waiters: never EINTR, which the kernel only accepts after an INTERRUPT),
 * keeps answering what the kernel still sends until the notifier thread has
 * stopped, unmounts (lazily, so busy file descriptors do not block shutdown;
 * they then fail with ENOTCONN) and frees. Commits that release() started
 * in the background are abandoned. Completions of backend calls still in
 * flight are accepted and ignored afterwards (each call holds a small ticket
 * that outlives the FuseFs), so the backend may complete them later or
 * never; it must not call any other fusefs_* function after this. Call it
 * before the backend goes away. Takes NULL; returns NULL. */
FuseFs *fusefs_free(FuseFs *fs);

/* The daemon calls this after applying each log entry that produced
 * notices (it may skip entries without notices), from the loop thread, in
 * log order. `notices[0..n_notices)` is what tree_apply() reported for the
 * entry: changed inodes (in local mode, queued for invalidation of the
 * kernel's attributes on the notifier thread) and directory entries, lock
 * grants and aborts (parked lock requests are answered). author_session/author_request are the session and
 * request number in the applied command's header (tree.h: bytes 2..17 of
 * the encoding), 0 when unknown: they let FuseFs recognise its own
 * proposals (whose replies already told the kernel what changed) whatever
 * the order of this call and the proposal's completion. Cheap: no I/O, no
 * blocking. Nothing is kept after the call. */
void fusefs_notify_applied(FuseFs *fs, uint64_t index, uint64_t author_session,
                           uint64_t author_request, const TreeNotice *notices, size_t n_notices);

/* The tree was replaced wholesale (a snapshot was installed): invalidates
 * every inode and entry the kernel knows, and makes the next open of each
 * re-walk its path. Parked lock requests stay parked: a grant or abort that
 * happened in the entries the snapshot covers produces no notice (they end
 * with the session or an interrupt). */
void fusefs_notify_reset(FuseFs *fs);

/* This node's session changed (session_id() now returns `session_id`, 0 when
 * the session is lost or in jeopardy): parked lock requests of an older
 * session are answered with EIO, and lock operations on locks taken under an
 * older session fail with EIO. */
void fusefs_notify_session(FuseFs *fs, uint64_t session_id);

/* Appends FuseFs's own Prometheus metrics (requests by operation, parked
 * requests, commit and barrier latencies, invalidations) to out, so that the
 * daemon can include them elsewhere (raftfsctl). 0 or -ENOMEM. */
int fusefs_metrics_append(const FuseFs *fs, Buf *out);

/* True while the kernel session is mounted and served. */
bool fusefs_is_mounted(const FuseFs *fs);
