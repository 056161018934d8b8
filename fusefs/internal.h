/* internal.h — what the files of fusefs/ share (not a public interface).
 *
 * Overview of the pieces:
 *   fusefs.c        FuseFs lifecycle, the session fd in sd-event, the INIT
 *                   handshake, the ops table, metrics
 *   wait.c          Op records: requests parked on the backend (proposals,
 *                   batched read barriers), orphans after fusefs_free()
 *   inode.c         kernel lookup counts (KInode), tombstones, attribute and
 *                   entry replies, staleness bookkeeping for linearizable opens
 *   applied.c       fusefs_notify_applied(): notices -> invalidations, lock wakeups
 *   ops-namespace.c lookup, getattr, setattr, mknod/mkdir/symlink/link,
 *                   unlink/rmdir/rename, readlink, statfs, directories
 *   ops-file.c      file handles: open/create, read, write buffering,
 *                   commit on flush/fsync/release
 *   ops-xattr.c     xattrs (user.raftfs.lock is the tree's virtual one)
 *   ops-lock.c      flock, POSIX and OFD locks, parked waiters, interrupts
 *   control-dir.c   /.raftfs/ (status, leader, members, metrics)
 *   notifier.c      the invalidation thread
 *
 * Every FUSE handler ends in exactly one reply: either at once, or through
 * an Op whose completion replies. */
#pragma once

#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

#include "fusefs/fusefs.h"
#include "fusefs/notifier.h"
#include "lib/buf.h"
#include "lib/hashmap.h"
#include "lib/list.h"
#include "tree/tree.h"

/* Kernel cache lifetimes (inode.c explains the choice).
 * Linearizable mode: 0 for every tree inode and name, the kernel caches
 * nothing and asks us (behind a read barrier) at every step.
 * Local mode: attributes long, since every change applied from the log
 * invalidates the inode's attributes (applied.c, a notification that
 * cannot block); names short, since invalidating a name takes the parent
 * directory's lock in the kernel, which a request waiting for the loop may
 * hold: no name notification is ever sent, and a name changed by another
 * node is seen within FUSEFS_LOCAL_ENTRY_TIMEOUT_SEC. */
#define FUSEFS_ATTR_TIMEOUT_SEC 3600.0
#define FUSEFS_LOCAL_ENTRY_TIMEOUT_SEC 1.0
/* /.raftfs/ itself never moves. */
#define FUSEFS_CTL_ENTRY_TIMEOUT_SEC 3600.0

/* /.raftfs/: inode numbers the tree never produces (its are log indexes). */
#define CTL_NAME ".raftfs"
#define CTL_INO_BASE (UINT64_MAX - 64)
#define CTL_INO_DIR (CTL_INO_BASE + 0)
#define CTL_INO_FILE(what) (CTL_INO_BASE + 1 + (uint64_t) (what)) /* FsInfo */

static inline bool ino_is_ctl(uint64_t ino) {
        return ino >= CTL_INO_BASE;
}

typedef enum OpKind {
        OP_LOOKUP, OP_GETATTR, OP_SETATTR, OP_READLINK, OP_MKNOD, OP_MKDIR,
        OP_UNLINK, OP_RMDIR, OP_SYMLINK, OP_RENAME, OP_LINK, OP_OPEN, OP_READ,
        OP_WRITE, OP_FLUSH, OP_RELEASE, OP_FSYNC, OP_OPENDIR, OP_READDIR,
        OP_RELEASEDIR, OP_FSYNCDIR, OP_STATFS, OP_SETXATTR, OP_GETXATTR,
        OP_LISTXATTR, OP_REMOVEXATTR, OP_ACCESS, OP_CREATE, OP_GETLK, OP_SETLK,
        OP_FLOCK, OP_FORGET, OP_INTERRUPT,
        OP_BARRIER,             /* a batch of reads waiting for one read barrier */
        OP_COMMIT_BG,           /* a commit nobody waits for (release) */
        OP_LOCK_CANCEL,
        _OP_KIND_MAX,
} OpKind;

typedef struct FuseFs FuseFs;
typedef struct Op Op;
typedef struct Handle Handle;

/* Continues a parked request once the backend answered. r as FsDoneFn;
 * result only for proposals. Must reply (when op->req) and then free the op
 * or park it again. */
typedef void (*OpFn)(Op *op, int r, uint64_t index, const TreeResult *result);

/* One request in flight. A fat record rather than a type per operation: the
 * fields an operation does not use stay zero. */
struct Op {
        ListNode node;          /* fs->ops (at the backend), fs->barrier_queue, a barrier's batch */
        ListNode wnode;         /* a handle's flush queue, a KInode's bg_waiters */
        FuseFs *fs;
        struct Ticket *ticket;  /* while at the backend: what its completion finds */
        fuse_req_t req;         /* NULL for background work */
        OpFn fn;
        OpKind kind;
        bool at_backend;        /* waiting for a backend completion (or our timeout) */
        uint64_t start_usec;
        pid_t pid;              /* calling thread (LOOKUP, GETATTR) */

        uint64_t ino;           /* target inode (or parent of name) */
        uint64_t ino2;          /* new parent (rename, link) */
        char *name;
        char *name2;
        uint32_t mode;
        uint32_t flags;
        uint32_t uid, gid;
        int to_set;             /* setattr valid bits (FUSE_SET_ATTR_*) */
        struct stat st;         /* setattr values */
        struct fuse_file_info fi;
        bool has_fi;
        Handle *handle;
        size_t size;
        off_t offset;

        /* locks */
        uint64_t session;
        uint64_t request;
        uint64_t owner;
        uint8_t table;
        uint64_t target_session; /* LOCK_CANCEL: the waiter it cancels */
        uint64_t target_request;
        bool interrupted;
        bool waiting;           /* queued in the tree's lock queue */
        bool own_notices;       /* the reply tells the kernel what the entry changed */
        bool early;             /* a lock notice for this request came before its result */
        int early_err;
        int err;                /* first error of a multi-step operation (flush) */
        void (*then)(Op *op);   /* next step of a multi-step operation */

        List batch;             /* OP_BARRIER: the Ops waiting for it */
};

/* The attributes the kernel got last, compact (there may be 100,000s). */
typedef struct KAttr {
        uint32_t mode, uid, gid;
        bool valid;
        uint64_t size;
        int64_t mtime_ns, ctime_ns;
} KAttr;

/* What few kernel-known inodes need: kept apart so that the common record
 * stays small (the kernel may know 100,000s of inodes). */
typedef struct KExtra {
        unsigned bg_commits;    /* release-time commits in flight on it */
        List bg_waiters;        /* Ops (opens) waiting for bg_commits == 0 */
        uint64_t *posix_owners; /* our lock owners with POSIX locks or waiters here */
        size_t n_posix_owners;
} KExtra;

/* A kernel-known inode: one we gave the kernel an entry for, until FORGET
 * brings its lookup count back to zero. */
typedef struct KInode {
        uint64_t ino;
        uint64_t nlookup;
        uint64_t kparent;       /* directory through which the kernel got it last */
        uint64_t lookup_index;  /* applied index at our last entry reply for it */
        uint64_t name_index;    /* applied index at which another node last removed
                                 * or moved a name of it (0: never) */
        KAttr attr;             /* last attributes the kernel got (tombstone data) */
        KExtra *extra;          /* NULL until needed */
        bool removed;           /* the tree no longer has it */
} KInode;

/* k's KExtra, allocated on first use; NULL on allocation failure. */
KExtra *kinode_extra(KInode *k);

/* An open file or directory. fi->fh holds the pointer. */
struct Handle {
        ListNode node;          /* fs->handles */
        uint64_t ino;
        int open_flags;
        bool is_dir;
        bool is_ctl;            /* a /.raftfs/ file: view holds its text */
        bool writable;
        bool append;
        bool released;          /* RELEASE came; free once the flush queue drains */
        int failed;             /* errno of its first failed write or commit, 0:
                                 * such a handle commits nothing, ever (ops-file.c) */

        Buf view;               /* the content this handle sees (files); for a
                                 * write-only handle only the bytes it wrote */
        uint64_t size;          /* the file's size as this handle sees it */
        uint64_t change_seq;    /* fs->change_seq at its last uncommitted change */
        size_t accounted;       /* bytes counted in fs->buffered_bytes */

        /* Changes since the last commit: the truncation to apply first
         * (smallest size truncated to), dirty byte ranges (data comes from
         * view at commit time), bytes appended through O_APPEND. */
        bool trunc_set;
        bool trunc_explicit;    /* ftruncate(), not only O_TRUNC at open */
        uint64_t trunc_size;
        bool wrote;             /* any write since the last commit */
        uint64_t (*dirty)[2];   /* sorted, disjoint [start, end) */
        size_t n_dirty, dirty_cap;
        Buf appended;

        List flushes;           /* Ops (flush/fsync/bg commit) in order; first in flight */

        /* locks */
        bool flock_used;
        uint64_t id;            /* unique per FuseFs: the flock owner in the tree */
        uint64_t *posix_owners; /* owners that set POSIX locks through this handle and
                                 * were not seen in a FLUSH since: OFD candidates */
        size_t n_posix_owners;
};

typedef struct FuseFsMetrics {
        uint64_t requests[_OP_KIND_MAX];
        uint64_t errors[_OP_KIND_MAX];
        uint64_t commits, commit_errors, commit_usec_sum;
        uint64_t barriers, barrier_waiters, barrier_errors, barrier_usec_sum;
        uint64_t lock_grants_waited, lock_interrupts;
        uint64_t estale_retries;
} FuseFsMetrics;

struct FuseFs {
        sd_event *event;
        sd_event_source *io_source;
        sd_event_source *barrier_defer;
        sd_event_source *timeout_timer;
        struct fuse_session *se;
        struct fuse_buf fbuf;
        bool mounted;
        bool exiting;
        char *mountpoint;
        char *fsname;
        FuseFsOptions opts;

        FsBackend backend;
        void *bud;

        Notifier *notifier;
        Hashmap *inodes;        /* ino -> KInode */
        List handles;           /* of Handle */
        size_t n_handles;
        uint64_t buffered_bytes;
        List ops;               /* Ops at the backend */
        size_t n_ops;
        List barrier_queue;     /* Ops waiting for the next barrier to start */
        Hashmap *lock_waiters;  /* request number -> Op (queued in the tree) */
        uint64_t session;       /* last session told by fusefs_notify_session() / seen */

        Hashmap *inflight;      /* request number -> Op, proposals at the backend */
        uint64_t change_seq;
        uint64_t handle_seq;
        bool barriers_failing;  /* the last read barrier failed */
        /* (session, request) of our last completed proposals whose replies
         * informed the kernel, for backends that complete a proposal before
         * they report its notices. */
        uint64_t recent_own[32][2];
        unsigned recent_pos;

        FuseFsMetrics m;
};

/* The errno a user sees for a negative outcome of a proposal: the tree's
 * own errno, except for outcomes that mean "the cluster could not do it":
 * the session expired (-ENOLINK), a malformed or forgotten command. -EROFS
 * (no quorum by the deadline) passes through. */
static inline int commit_errno(int r) {
        switch (r) {
        case -ENOLINK:
        case -EBADMSG:
        case -EALREADY:
        case -EINPROGRESS:
        case -ECANCELED:
                return EIO;
        default:
                return r < 0 ? -r : EIO;
        }
}

static inline void cmd_init(TreeCmd *c, uint8_t type) {
        memset(c, 0, sizeof(*c));
        c->type = type;
}

/* ---- fusefs.c ---- */
uint64_t fs_now_usec(FuseFs *fs);
const Tree *fs_tree(FuseFs *fs);
static inline bool fs_linearizable(const FuseFs *fs) {
        return fs->opts.consistency == FUSEFS_CONSISTENCY_LINEARIZABLE;
}
static inline double fs_attr_timeout(const FuseFs *fs) {
        return fs_linearizable(fs) ? 0.0 : FUSEFS_ATTR_TIMEOUT_SEC;
}
static inline double fs_entry_timeout(const FuseFs *fs) {
        return fs_linearizable(fs) ? 0.0 : FUSEFS_LOCAL_ENTRY_TIMEOUT_SEC;
}
void fs_count(FuseFs *fs, OpKind kind, int r);
/* Replies err (positive errno or 0) and counts it. */
void fs_reply_err(FuseFs *fs, OpKind kind, fuse_req_t req, int err);

/* ---- wait.c ---- */
Op *op_new(FuseFs *fs, fuse_req_t req, OpKind kind, OpFn fn);
Op *op_free(Op *op);
/* Sets op->name (and name2) to copies; -ENOMEM. */
int op_set_names(Op *op, const char *name, const char *name2);
/* Proposes cmd for op; on success op->fn runs later and op->session /
 * op->request hold the stamped author fields. On failure nothing was
 * proposed (the caller still owns op). */
int op_propose(Op *op, TreeCmd *cmd);
/* Runs op->fn after a read barrier (linearizable), or at once (local). */
void op_after_barrier(Op *op);
/* The same for the kernel's own metadata lookups (LOOKUP, GETATTR): while
 * barriers fail and the node knows it has no quorum they do not wait for
 * one (-EIO at once; the handler then answers EROFS or EIO, caller.c), so
 * that `mkdir` or `echo x > f` fails at once rather than after op_timeout
 * for every step of its path walk. */
void op_after_meta_barrier(Op *op);
/* Answers op's request with err (if any) and frees it; for an op that is
 * not at the backend. */
void op_abort(Op *op, int err);
/* Every parked request gets an answer (shutdown). */
void ops_abort_all(FuseFs *fs);
int fs_barrier_init(FuseFs *fs);
/* Arms the watchdog of ops at the backend (see wait.c). */
void fs_timeout_arm(FuseFs *fs);

/* ---- inode.c ---- */
int kinodes_init(FuseFs *fs);
void kinodes_free(FuseFs *fs);
/* Answers the opens waiting for release-time commits (shutdown). */
void kinodes_abort_waiters(FuseFs *fs);
KInode *kinode_get(FuseFs *fs, uint64_t ino);
void attr_to_stat(const TreeAttr *a, struct stat *st);
/* Replies an entry for attr found as parent/name and takes a kernel reference. */
void reply_entry(FuseFs *fs, OpKind kind, fuse_req_t req, uint64_t parent, const char *name,
                 const TreeAttr *attr);
/* fuse_reply_create() with the same bookkeeping; < 0 when the kernel did
 * not take it (then no RELEASE will come for fi->fh). */
int reply_create(FuseFs *fs, fuse_req_t req, uint64_t parent, const char *name,
                 const TreeAttr *attr, const struct fuse_file_info *fi);
/* Negative lookup: cached by the kernel only in local mode. */
void reply_negative(FuseFs *fs, OpKind kind, fuse_req_t req);
void reply_attr(FuseFs *fs, OpKind kind, fuse_req_t req, const TreeAttr *attr);
/* Attributes of ino from the tree, or from the tombstone of a removed
 * kernel-known inode (nlink 0). */
int fs_getattr(FuseFs *fs, uint64_t ino, struct stat *ret);
void fs_forget(FuseFs *fs, uint64_t ino, uint64_t nlookup);
/* The kernel's reference for a readdirplus entry of directory parent. */
int readdirplus_ref(FuseFs *fs, uint64_t parent, const char *name, const struct stat *st);
/* true when the dentry path the kernel used to reach ino may be stale: a
 * name of it or of a directory above it was moved or removed by another node
 * after the kernel last looked it up (linearizable opens answer ESTALE, and
 * the VFS retries the walk with LOOKUP_REVAL). */
bool kinode_path_stale(FuseFs *fs, uint64_t ino);
int kinode_owner_add(KInode *k, uint64_t owner);
bool kinode_owner_remove(KInode *k, uint64_t owner);
/* Parks op until no release-time commit is in flight on ino; false when
 * none is (then the caller goes on at once). */
bool kinode_wait_bg(FuseFs *fs, uint64_t ino, Op *op);
void kinode_bg_done(FuseFs *fs, uint64_t ino);

/* ---- caller.c ---- */
/* True when thread tid is blocked in a system call that changes the
 * namespace or opens a file; false for reads and when it cannot tell. */
bool caller_mutates(pid_t tid);

/* ---- applied.c ---- */
void fs_invalidate_all(FuseFs *fs);

/* ---- ops-*.c: the handlers, assembled into the ops table in fusefs.c ---- */
void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi);
void fs_op_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                  const char *newname, unsigned int flags);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fs_op_statfs(fuse_req_t req, fuse_ino_t ino);
void fs_op_access(fuse_req_t req, fuse_ino_t ino, int mask);
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                 struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

void fs_op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock);
void fs_op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
                 int sleep);
void fs_op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);

/* ---- ops-file.c ---- */
Handle *handle_new(FuseFs *fs, uint64_t ino, int flags);
void handle_free(FuseFs *fs, Handle *h);
static inline Handle *handle_of(const struct fuse_file_info *fi) {
        return fi ? (Handle *) (uintptr_t) fi->fh : NULL;
}
/* Shutdown: answers what waits in flush queues (handles stay valid for
 * requests still coming), then, once the session is closed, frees them. */
void handles_abort_all(FuseFs *fs);
void handles_free_all(FuseFs *fs);
/* The size a GETATTR should report for ino on this node: the size seen by
 * the handle fi names, or by the open handle of ino changed last and not
 * committed yet; false when the tree's size stands. */
bool handle_pending_size(FuseFs *fs, uint64_t ino, const struct fuse_file_info *fi, uint64_t *ret);
/* ftruncate() through a writable handle: buffered with its writes. */
int handle_truncate(FuseFs *fs, Handle *h, uint64_t size);
/* uid/gid (and setgid inheritance into *mode) of a new inode in parent. */
void new_owner(FuseFs *fs, fuse_req_t req, uint64_t parent, uint32_t *mode, bool is_dir,
               uint32_t *ret_uid, uint32_t *ret_gid);

/* ---- ops-lock.c ---- */
/* FLUSH of a handle: POSIX locks of owner on ino go (cluster-wide). Calls
 * then(op) when finished (at once when this node holds none there); op is
 * the flush's Op, free for a proposal. */
void locks_on_flush(FuseFs *fs, Handle *h, uint64_t ino, uint64_t owner, Op *op,
                    void (*then)(Op *op));
/* RELEASE: flock (flock_release) and OFD locks of the handle, in background. */
void locks_on_release(FuseFs *fs, Handle *h, bool flock_release, uint64_t owner);
void locks_notice(FuseFs *fs, const TreeNotice *n);
/* The proposal at the backend with this request number, or NULL. */
Op *fs_inflight(FuseFs *fs, uint64_t session, uint64_t request);
/* True when (session, request) is one of our proposals whose reply tells
 * the kernel what it changed (in flight or just completed). */
bool fs_is_own(FuseFs *fs, uint64_t session, uint64_t request);
void locks_session_changed(FuseFs *fs, uint64_t session);
void locks_abort_all(FuseFs *fs);

/* ---- control-dir.c ---- */
bool ctl_lookup(FuseFs *fs, fuse_req_t req, uint64_t parent, const char *name);
void ctl_getattr(FuseFs *fs, fuse_req_t req, uint64_t ino);
void ctl_open(FuseFs *fs, fuse_req_t req, uint64_t ino, struct fuse_file_info *fi);
void ctl_readdir(FuseFs *fs, fuse_req_t req, uint64_t ino, size_t size, off_t off, bool plus);
int ctl_fill_stat(FuseFs *fs, uint64_t ino, struct stat *st);
