/* tree.h — the replicated file-system state machine of raftfs.
 *
 * Every node applies the committed Raft entries (tree commands) to its Tree in
 * log order; the tree is PURE and DETERMINISTIC: no clocks, I/O, threads,
 * randomness, global state or logging. The same entries give the same state
 * and the same snapshot bytes on every node. Time enters only through the
 * proposer's timestamp carried in each command (`time_usec`, microseconds
 * since the Unix epoch, the one time type of raftfs).
 *
 * What the tree holds:
 *   - the namespace: directories, regular files (contents in memory), symbolic
 *     links, hard links (not to directories); mode/uid/gid/nlink/size, mtime
 *     and ctime (no atime: report mtime), user.* xattrs;
 *   - sessions (one per daemon), the per-session table of applied request
 *     numbers that makes a retried proposal apply at most once (Raft thesis
 *     §6.3), ephemeral files owned by sessions;
 *   - cluster locks: flock (shared/exclusive) and POSIX byte-range locks with
 *     FIFO wait queues, lock-delay after a session expiry, fencing tokens;
 *   - the limits (replicated: see TREE_CMD_SET_LIMITS).
 *
 * Numbers assigned by the state machine:
 *   - inode number = log index of the entry that created the inode (so it is
 *     unique forever and identical on every node); generation is always 1.
 *     Inode 1 is the root directory and exists in an empty tree. Index 1 is
 *     never a tree command in raftfs (it is the bootstrap configuration); a
 *     creating command applied at index 1 fails with -EINVAL.
 *   - session id = log index of the TREE_CMD_SESSION_OPEN entry.
 *   - fencing token = log index of the entry that granted the lock (the
 *     request itself, a release that handed the lock over, a cancel, a
 *     session expiry or a TREE_CMD_TICK). Tokens of grants made by later
 *     entries are strictly larger; grants made by the same entry (several
 *     shared waiters woken together) share the token.
 *   - readdir cookie: derived from the log index of the entry that created
 *     the directory entry (create/mkdir/symlink/link/rename target), so a
 *     cookie stays valid across concurrent deletes and snapshots.
 *
 * Errors: functions return 0 or a negative errno. tree_apply() returns the
 * errno of the COMMAND in TreeResult.err and reserves its own return value
 * for -ENOMEM (see there). Every input that comes from a peer or a disk
 * (commands, snapshots) is validated; malformed input never crashes the tree.
 *
 * Threading: a Tree is owned by one thread (the daemon's event loop). Queries
 * take a const Tree and may return pointers into the tree, valid until the
 * next tree_apply() or tree_free().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

typedef struct Tree Tree;

#define TREE_ROOT_INO UINT64_C(1)
#define TREE_GENERATION UINT64_C(1)

/* ------------------------------------------------------------------------
 * Limits. They are part of the replicated state: they travel in snapshots,
 * and TREE_CMD_SET_LIMITS changes them through the log. Every node must
 * create its tree with the same limits (use tree_new(NULL), the defaults);
 * the leader proposes TREE_CMD_SET_LIMITS when the configured values differ
 * from tree_get_limits(). Lowering a limit never removes existing data; it
 * only rejects further growth. A zero field in TREE_CMD_SET_LIMITS or in
 * tree_new() means "the default".
 * ------------------------------------------------------------------------ */
typedef struct TreeLimits {
        uint64_t max_file_size;         /* bytes per regular file; -EFBIG. Default 1 MiB */
        uint64_t max_total_bytes;       /* file contents + symlink targets + xattr names and
                                         * values, whole tree; -ENOSPC. Default 1 GiB */
        uint64_t max_inodes;            /* inodes incl. the root; -ENOSPC. Default 1,000,000 */
        uint32_t max_name_len;          /* bytes per name; -ENAMETOOLONG. Default 255 */
        uint32_t max_symlink_len;       /* bytes per symlink target; -ENAMETOOLONG. Default 4095 */
        uint32_t max_xattr_name_len;    /* bytes incl. "user."; -ERANGE. Default 255 */
        uint32_t max_xattr_value_len;   /* bytes per value; -E2BIG. Default 65536 */
        uint32_t max_xattr_bytes;       /* names + values per inode; -ENOSPC. Default 65536 */
        uint32_t max_links;             /* nlink of a non-directory, and subdirectories of a
                                         * directory (+2); -EMLINK. Default 65000 */
        uint32_t max_sessions;          /* open sessions; -EUSERS. Default 1024 */
        uint32_t max_locks;             /* lock holders + queued waiters, whole tree;
                                         * -ENOLCK. Default 65536 */
        uint32_t max_session_results;   /* remembered results per session (dedupe window);
                                         * the oldest is forgotten beyond. Default 4096 */
} TreeLimits;

/* Fills *ret with the defaults above. */
void tree_limits_default(TreeLimits *ret);

/* ------------------------------------------------------------------------
 * Lifecycle and queries
 * ------------------------------------------------------------------------ */

/* A new tree holding only the root directory (mode 0755, uid 0, gid 0, times
 * 0) and applied index 0. limits may be NULL (defaults); zero fields take the
 * default. NULL on allocation failure. */
Tree *tree_new(const TreeLimits *limits);
/* Frees the tree. Takes NULL; returns NULL. */
Tree *tree_free(Tree *t);

/* The index of the last entry passed to tree_apply() (or restored from a
 * snapshot); 0 for a new tree. */
uint64_t tree_applied_index(const Tree *t);
void tree_get_limits(const Tree *t, TreeLimits *ret);

typedef struct TreeAttr {
        uint64_t ino;
        uint64_t generation;    /* always TREE_GENERATION */
        uint32_t mode;          /* S_IFREG/S_IFDIR/S_IFLNK | permission bits (07777) */
        uint32_t nlink;         /* dirs: 2 + subdirectories; 0 for an orphan (below) */
        uint32_t uid;
        uint32_t gid;
        uint64_t size;          /* file: content bytes; symlink: target length;
                                 * dir: number of entries */
        uint64_t mtime_usec;    /* also report as atime */
        uint64_t ctime_usec;
} TreeAttr;

/* Attributes of inode ino. -ENOENT when no such inode (never created, or
 * removed: removed inodes are not kept for the kernel; fusefs keeps its own
 * lookup counts). An "orphan" — an inode whose last name was removed while it
 * still had lock holders or waiters — stays addressable with nlink 0 until its
 * lock state is empty (so flock on an unlinked lock file behaves as on Linux). */
int tree_getattr(const Tree *t, uint64_t ino, TreeAttr *ret);

/* The entry `name` in directory parent. -ENOENT (no parent, or no entry),
 * -ENOTDIR (parent is not a directory), -ENAMETOOLONG. "." and ".." are
 * resolved too (".." of the root is the root). */
int tree_lookup(const Tree *t, uint64_t parent, const char *name, TreeAttr *ret);

/* Up to size bytes of regular file ino starting at offset: *ret_data points
 * into the tree (valid until the next apply/free), *ret_len may be short (or 0)
 * at end of file. -ENOENT, -EISDIR (directory), -EINVAL (not a regular file). */
int tree_read(const Tree *t, uint64_t ino, uint64_t offset, size_t size,
              const uint8_t **ret_data, size_t *ret_len);

/* The target of symlink ino (NUL-terminated, points into the tree).
 * -ENOENT, -EINVAL (not a symlink). */
int tree_readlink(const Tree *t, uint64_t ino, const char **ret_target);

/* Readdir callback. name points into the tree; attr describes the entry
 * (for "." the directory, for ".." its parent). next_cookie is the cookie to
 * pass to resume AFTER this entry. Return 0 to continue, > 0 to stop (e.g.
 * the reply buffer is full: this entry was NOT consumed and tree_readdir()
 * returns 0), < 0 to abort (tree_readdir() returns that error). */
typedef int (*TreeReaddirFunc)(void *userdata, const char *name, const TreeAttr *attr,
                               uint64_t next_cookie);

/* Lists directory ino in cookie order, starting after `cookie` (0 = from the
 * start). The first entries are "." (next_cookie 1) and ".." (next_cookie 2);
 * then the real entries in the order they were created, each with
 * next_cookie = (index of the entry that created it) + 2. Cookies are stable:
 * entries removed meanwhile are simply skipped, entries added meanwhile
 * appear at the end; a renamed entry gets a new cookie (it may be seen twice
 * or not at all by a concurrent listing, as POSIX allows).
 * -ENOENT, -ENOTDIR, or the callback's negative return. */
int tree_readdir(const Tree *t, uint64_t ino, uint64_t cookie, TreeReaddirFunc cb, void *userdata);

/* Appends the value of xattr `name` of ino to *out (the value may be empty).
 * Names are full names ("user.foo"). The virtual "user.raftfs.lock" yields
 * the lock text of tree_lock_text() (empty when unlocked; exists for every
 * inode). -ENOENT (inode), -ENODATA (no such xattr), -EOPNOTSUPP (namespace
 * other than user.), -ERANGE (name too long), -ENOMEM. */
int tree_getxattr(const Tree *t, uint64_t ino, const char *name, Buf *out);

/* Appends the names of the stored xattrs of ino to *out, each followed by a
 * NUL (the listxattr(2) format), sorted bytewise. The virtual
 * user.raftfs.lock is not listed (so cp/rsync do not copy it).
 * -ENOENT, -ENOMEM. */
int tree_listxattr(const Tree *t, uint64_t ino, Buf *out);

/* Builds the path of ino from the root ("/", "/a/b") into a new malloc'd
 * string (*ret, caller frees). A hard-linked file yields one of its paths
 * (the oldest remaining link). -ENOENT (no inode, or an orphan), -ENOMEM. */
int tree_path(const Tree *t, uint64_t ino, char **ret);

typedef struct TreeStatfs {
        uint64_t total_bytes;           /* bytes counted against max_total_bytes */
        uint64_t max_total_bytes;
        uint64_t inodes;                /* inodes in use, incl. the root and orphans */
        uint64_t max_inodes;
        uint32_t max_name_len;
        uint32_t sessions;              /* open sessions */
        uint32_t locks;                 /* lock holders + waiters */
} TreeStatfs;
void tree_statfs(const Tree *t, TreeStatfs *ret);

/* ------------------------------------------------------------------------
 * Commands: one log entry each.
 *
 * Encoding (version 1), all integers little-endian (lib/codec.h):
 *   u8 version (=1), u8 type, u64 session, u64 request, u64 ack, u64 time_usec,
 *   then the type's fields in the order of the TreeCmd member below; strings
 *   and blobs are u32 length + bytes (no NUL; strings may not contain NUL),
 *   bools are u8 0/1, the write extents are u32 count then (u64 offset, blob)
 *   each. Nothing may follow the last field. The decoder accepts names,
 *   targets and xattr names up to TREE_CMD_MAX_STRING bytes, values and
 *   extents up to TREE_CMD_MAX_BLOB, at most TREE_CMD_MAX_EXTENTS extents;
 *   the tree's limits are checked at apply time (with the errno of the limit).
 *
 * Author and dedupe (Raft thesis §6.3). `session` is the author's session id
 * (0 = none), `request` its request number in that session (0 = not deduped),
 * strictly positive and unique per session but not necessarily applied in
 * order (a daemon has many proposals in flight). `ack` is the lowest request
 * number for which the author has not yet received a result: the tree forgets
 * the remembered results below it. A command whose (session, request) was
 * already applied is not applied again: its result is the remembered one
 * (err and the number in ino/token/session; attr is re-read from the current
 * state when the inode still exists) with TREE_RESULT_DUPLICATE set. A
 * duplicate of a request below the forgotten floor yields -EALREADY.
 *
 * A command naming a session that is not open fails with -ENOLINK (the
 * author's session expired: the daemon fails the operation with EIO and opens
 * a new session). Namespace commands may use session 0 (no dedupe, no
 * ephemeral ownership); lock commands need a session (-EINVAL without).
 * ------------------------------------------------------------------------ */

#define TREE_CMD_VERSION 1
#define TREE_CMD_MAX_STRING 4096u
#define TREE_CMD_MAX_BLOB (64u << 20)
#define TREE_CMD_MAX_EXTENTS 65536u

typedef enum TreeCmdType {
        TREE_CMD_CREATE = 1,            /* .create: regular file */
        TREE_CMD_MKDIR = 2,             /* .create: directory (flags must be 0) */
        TREE_CMD_SYMLINK = 3,           /* .symlink */
        TREE_CMD_LINK = 4,              /* .link */
        TREE_CMD_UNLINK = 5,            /* .unlink */
        TREE_CMD_RMDIR = 6,             /* .unlink */
        TREE_CMD_RENAME = 7,            /* .rename */
        TREE_CMD_SETATTR = 8,           /* .setattr */
        TREE_CMD_WRITE = 9,             /* .write */
        TREE_CMD_SETXATTR = 10,         /* .xattr */
        TREE_CMD_REMOVEXATTR = 11,      /* .xattr (value ignored, flags must be 0) */
        TREE_CMD_SESSION_OPEN = 12,     /* .session_open */
        TREE_CMD_SESSION_EXPIRE = 13,   /* .session_expire */
        TREE_CMD_TICK = 14,             /* no fields: only time_usec matters */
        TREE_CMD_SET_LIMITS = 15,       /* .set_limits */
        TREE_CMD_LOCK = 16,             /* .lock */
        TREE_CMD_LOCK_CANCEL = 17,      /* .lock_cancel */
        TREE_CMD_LOCK_RELEASE = 18,     /* .lock_release */
        _TREE_CMD_MAX,
} TreeCmdType;

/* TREE_CMD_CREATE flags */
#define TREE_CREATE_EXCL 0x1u           /* O_EXCL: -EEXIST when the name exists */

/* TREE_CMD_RENAME flags: the values of <linux/fs.h> */
#define TREE_RENAME_NOREPLACE 0x1u
#define TREE_RENAME_EXCHANGE 0x2u

/* TREE_CMD_SETATTR valid bits */
#define TREE_SETATTR_MODE 0x01u         /* permission bits only; the type is kept */
#define TREE_SETATTR_UID 0x02u
#define TREE_SETATTR_GID 0x04u
#define TREE_SETATTR_SIZE 0x08u         /* regular files only (-EISDIR, -EINVAL) */
#define TREE_SETATTR_MTIME 0x10u        /* to .mtime_usec */
#define TREE_SETATTR_MTIME_NOW 0x20u    /* to the command's time_usec (wins over MTIME) */
#define TREE_SETATTR_CTIME 0x40u        /* to .ctime_usec (else ctime = time_usec) */

/* TREE_CMD_WRITE flags */
#define TREE_WRITE_TRUNCATE 0x1u        /* first set the size to .truncate_size (O_TRUNC: 0) */
#define TREE_WRITE_SET_SIZE 0x2u        /* finally set the size to .final_size */
/* An extent whose offset is TREE_WRITE_APPEND is written at the end of the
 * file as it is at that point of the apply (O_APPEND). */
#define TREE_WRITE_APPEND UINT64_MAX

/* TREE_CMD_SETXATTR flags: the values of <sys/xattr.h> */
#define TREE_XATTR_CREATE 0x1u          /* -EEXIST when present */
#define TREE_XATTR_REPLACE 0x2u         /* -ENODATA when absent */

/* TREE_CMD_SESSION_EXPIRE flags */
#define TREE_EXPIRE_GRACEFUL 0x1u       /* the node closed its own session: no lock-delay */

typedef enum TreeLockTable {
        TREE_LOCK_FLOCK = 1,            /* flock(2): whole file, per open-file owner */
        TREE_LOCK_POSIX = 2,            /* fcntl(2) byte ranges, per lock owner */
} TreeLockTable;

typedef enum TreeLockMode {
        TREE_LOCK_UNLOCK = 0,           /* LOCK_UN / F_UNLCK */
        TREE_LOCK_SHARED = 1,           /* LOCK_SH / F_RDLCK */
        TREE_LOCK_EXCLUSIVE = 2,        /* LOCK_EX / F_WRLCK */
} TreeLockMode;

/* TREE_CMD_LOCK_RELEASE flags */
#define TREE_RELEASE_FLOCK 0x1u         /* release the flock table */
#define TREE_RELEASE_POSIX 0x2u         /* release the POSIX table */
#define TREE_RELEASE_ALL_OWNERS 0x4u    /* every owner of the session (owner ignored) */

/* POSIX range end meaning "to the end of the file, however it grows". */
#define TREE_LOCK_EOF UINT64_MAX

typedef struct TreeExtent {
        uint64_t offset;                /* or TREE_WRITE_APPEND */
        const uint8_t *data;
        size_t len;
} TreeExtent;

/* A command. Encoding borrows every pointer. A decoded command borrows the
 * blobs (write data, xattr value) from the input buffer and owns its strings
 * and extent array (tree_cmd_done() frees them): keep the input alive while
 * using it. */
typedef struct TreeCmd {
        uint8_t type;                   /* TreeCmdType */
        uint64_t session;               /* author's session id, 0 = none */
        uint64_t request;               /* request number in the session, 0 = none */
        uint64_t ack;                   /* lowest request without a result at the author */
        uint64_t time_usec;             /* proposer's clock, µs since the epoch */
        union {
                /* CREATE, MKDIR. mode: permission bits (07777); a type in
                 * mode must match the command (S_IFREG / S_IFDIR) or -EINVAL.
                 * CREATE without EXCL on an existing regular file succeeds and
                 * returns it (TREE_RESULT_EXISTED), on anything else -EEXIST
                 * (-EISDIR for a directory). */
                struct {
                        uint64_t parent;
                        const char *name;
                        uint32_t mode;
                        uint32_t uid;
                        uint32_t gid;
                        uint32_t flags;         /* TREE_CREATE_* */
                } create;
                struct {
                        uint64_t parent;
                        const char *name;
                        const char *target;     /* non-empty */
                        uint32_t uid;
                        uint32_t gid;
                } symlink;
                /* LINK: new name new_parent/new_name for inode ino. -EPERM for a
                 * directory, -EEXIST, -EMLINK. */
                struct {
                        uint64_t ino;
                        uint64_t new_parent;
                        const char *new_name;
                } link;
                /* UNLINK (-EISDIR on a directory), RMDIR (-ENOTDIR, -ENOTEMPTY,
                 * -EBUSY for the root, -EINVAL for "."). */
                struct {
                        uint64_t parent;
                        const char *name;
                } unlink;
                /* RENAME: POSIX rename(2)/renameat2(2): replaces a file by a
                 * file, a directory by an empty directory; -ENOTDIR / -EISDIR on
                 * type mismatch, -ENOTEMPTY, -EINVAL when a directory would
                 * move into its own subtree or for flags other than one of
                 * NOREPLACE (-EEXIST when the target exists) and EXCHANGE
                 * (-ENOENT when the target is missing). Renaming a name onto
                 * itself or onto another link of the same inode succeeds and
                 * changes nothing. */
                struct {
                        uint64_t parent;
                        const char *name;
                        uint64_t new_parent;
                        const char *new_name;
                        uint32_t flags;         /* TREE_RENAME_* */
                } rename;
                struct {
                        uint64_t ino;
                        uint32_t valid;         /* TREE_SETATTR_* */
                        uint32_t mode;
                        uint32_t uid;
                        uint32_t gid;
                        uint64_t size;
                        uint64_t mtime_usec;
                        uint64_t ctime_usec;
                } setattr;
                /* WRITE: everything one handle changed, atomically: optional
                 * truncate first, then the extents in order (gaps read as
                 * zeros), then the optional final size. -EFBIG when the file
                 * would exceed max_file_size at any step (or its current size,
                 * when a lowered limit left it larger; so for SETATTR size),
                 * -ENOSPC over
                 * max_total_bytes: then nothing changes. -EISDIR, -EINVAL (not
                 * a regular file). mtime and ctime = time_usec. */
                struct {
                        uint64_t ino;
                        uint32_t flags;         /* TREE_WRITE_* */
                        uint64_t truncate_size;
                        uint64_t final_size;
                        const TreeExtent *extents;
                        size_t n_extents;
                } write;
                /* SETXATTR / REMOVEXATTR: user.* only (-EOPNOTSUPP). Setting
                 * or removing "user.raftfs.lock" is -EPERM. -ERANGE (name too
                 * long), -EINVAL ("user." alone, bad flags), -E2BIG (value),
                 * -ENOSPC (max_xattr_bytes, max_total_bytes), -EEXIST / -ENODATA
                 * per the flags; REMOVEXATTR of an absent name -ENODATA.
                 * "user.raftfs.ephemeral" with value "1" (or "1\n") on a
                 * directory makes it ephemeral: regular files and symlinks
                 * created in it (by a command with a session) belong to that
                 * session and are removed (every link) when it expires. The
                 * ownership stays with the inode if it is renamed away. */
                struct {
                        uint64_t ino;
                        const char *name;
                        const uint8_t *value;
                        size_t value_len;
                        uint32_t flags;         /* TREE_XATTR_* */
                } xattr;
                /* SESSION_OPEN: a new session for node `node` (its name, e.g.
                 * "n2", 1..64 bytes). An open session of the same node name is
                 * expired first (graceful: no lock-delay): a restarted daemon
                 * replaces its old session. Result: .session = the index. */
                struct {
                        const char *node;
                } session_open;
                /* SESSION_EXPIRE (leader decision, or the node itself on clean
                 * shutdown with GRACEFUL): releases every lock and cancels every
                 * waiter of `session`, removes its ephemeral files, forgets its
                 * dedupe table. Unless GRACEFUL, every file on which it held a
                 * lock is unavailable (grants wait) until time_usec +
                 * lock_delay_usec. -ENOENT if not open. The command's own
                 * session field is normally 0. */
                struct {
                        uint64_t session;
                        uint64_t lock_delay_usec;
                        uint32_t flags;         /* TREE_EXPIRE_* */
                } session_expire;
                /* SET_LIMITS: zero fields mean "the default". */
                struct {
                        TreeLimits limits;
                } set_limits;
                /* LOCK: acquire (SHARED/EXCLUSIVE) or release (UNLOCK) for the
                 * lock owner (author session, owner). flock ignores start/end;
                 * POSIX covers [start, end] inclusive (end TREE_LOCK_EOF = to
                 * the end of the file), start <= end or -EINVAL.
                 * Result: 0 granted (.token), -EAGAIN conflict without wait,
                 * -EINPROGRESS queued (a later apply emits a
                 * TREE_NOTICE_LOCK_GRANTED or TREE_NOTICE_LOCK_ABORTED naming
                 * this (session, request); process an apply's result before its
                 * notices), re-requesting the mode already held (flock) returns
                 * 0 with the existing token,
                 * -ENOLCK when fewer than 3 records are left under max_locks
                 * (room for the request and two range splits; grants of queued
                 * waiters may exceed the limit by their splits), -ENOENT,
                 * -EINVAL (no session, bad mode/table, start > end, or a waiting
                 * request without a request number). Deadlocks between owners
                 * are not detected (no -EDEADLK): an interrupt cancels a waiter.
                 * Locks may be taken on any inode type. See "Lock semantics". */
                struct {
                        uint64_t ino;
                        uint64_t owner;         /* kernel lock_owner or a handle id */
                        uint32_t pid;           /* shown in user.raftfs.lock */
                        uint8_t table;          /* TreeLockTable */
                        uint8_t mode;           /* TreeLockMode */
                        bool wait;              /* queue on conflict (LOCK_NB / F_SETLK: false) */
                        uint64_t start;
                        uint64_t end;
                } lock;
                /* LOCK_CANCEL: removes the author session's queued request with
                 * request number `request` on ino (the FUSE interrupt). 0, and
                 * a TREE_NOTICE_LOCK_ABORTED with err -EINTR for it; -ENOENT
                 * when no such waiter (already granted — possibly by this very
                 * entry, when a lock-delay ended at its start: its GRANTED
                 * notice is then in the same apply — reply 0 to the
                 * interrupted request, the grant stands). */
                struct {
                        uint64_t ino;
                        uint64_t request;
                } lock_cancel;
                /* LOCK_RELEASE: releases the locks and cancels the waiters (with
                 * -EINTR notices) of the author session's owner `owner` (or all
                 * its owners with ALL_OWNERS) in the selected tables, on ino or
                 * on every file when ino is 0. FLUSH: POSIX of owner on ino;
                 * RELEASE with flock_release: FLOCK of owner on ino; a daemon
                 * re-mounting: everything with ALL_OWNERS and ino 0. Always 0
                 * (idempotent) unless the session is not open. */
                struct {
                        uint64_t ino;
                        uint64_t owner;
                        uint32_t flags;         /* TREE_RELEASE_* */
                } lock_release;
        };
        void *owned;                    /* decoder's allocations; NULL when encoding */
} TreeCmd;

/* Appends the encoding of cmd to *out. -EINVAL when a field cannot be encoded
 * (unknown type, NULL or over-long string, too many extents), -ENOMEM. *out is
 * unchanged on failure. */
int tree_cmd_encode(const TreeCmd *cmd, Buf *out);

/* Decodes data[0..len) into *ret (see TreeCmd for ownership; call
 * tree_cmd_done() afterwards). -EBADMSG for anything malformed or an unknown
 * version/type, -ENOMEM. *ret is untouched on failure. */
int tree_cmd_decode(const uint8_t *data, size_t len, TreeCmd *ret);
/* Reads only the author (session, request) of an encoded command, without
 * decoding or copying the rest (the daemon names the author of each applied
 * entry to the mount). 0, or -EBADMSG (outputs untouched). */
int tree_cmd_author(const uint8_t *data, size_t len, uint64_t *ret_session, uint64_t *ret_request);

/* Frees what a decoded command owns; a no-op for commands built by hand.
 * Takes NULL. */
void tree_cmd_done(TreeCmd *cmd);

/* A short name for a command type ("create", "lock", ...), "unknown" else. */
const char *tree_cmd_type_to_string(int type);

/* ------------------------------------------------------------------------
 * Apply
 * ------------------------------------------------------------------------ */

#define TREE_RESULT_DUPLICATE 0x1u      /* answered from the dedupe table, not applied */
#define TREE_RESULT_EXISTED 0x2u        /* CREATE without EXCL found an existing file */

typedef struct TreeResult {
        int err;                /* 0 or a negative errno (the command's outcome) */
        uint32_t flags;         /* TREE_RESULT_* */
        uint64_t ino;           /* CREATE/MKDIR/SYMLINK/LINK: the inode; SETATTR/WRITE/
                                 * SETXATTR/REMOVEXATTR: the inode; else 0 */
        TreeAttr attr;          /* attributes of .ino after the command (when .ino != 0) */
        uint64_t token;         /* LOCK granted at once: the fencing token */
        uint64_t session;       /* SESSION_OPEN: the new session id */
} TreeResult;

/* ---- change notices ---- */
typedef enum TreeNoticeType {
        TREE_NOTICE_INODE = 1,          /* ino changed: .flags TREE_CHANGE_* */
        TREE_NOTICE_ENTRY_ADDED,        /* parent/name now names ino */
        TREE_NOTICE_ENTRY_REMOVED,      /* parent/name (which named ino) is gone */
        TREE_NOTICE_INODE_REMOVED,      /* ino no longer exists */
        TREE_NOTICE_LOCK_GRANTED,       /* queued (session, request) by owner on ino was
                                         * granted with .token */
        TREE_NOTICE_LOCK_ABORTED,       /* queued (session, request) left the queue without
                                         * a grant: .err -EINTR (cancel/release), -ENOLINK
                                         * (session expired) */
        TREE_NOTICE_SESSION_OPENED,     /* .session, .name = node */
        TREE_NOTICE_SESSION_EXPIRED,    /* .session, .name = node */
} TreeNoticeType;

#define TREE_CHANGE_DATA 0x1u           /* file content (or size) */
#define TREE_CHANGE_ATTR 0x2u           /* mode/owner/times/nlink */
#define TREE_CHANGE_XATTR 0x4u
#define TREE_CHANGE_LOCK 0x8u           /* holders or waiters changed (user.raftfs.lock) */
#define TREE_CHANGE_ENTRIES 0x10u       /* directory listing changed */

typedef struct TreeNotice {
        uint8_t type;           /* TreeNoticeType */
        uint32_t flags;         /* TREE_CHANGE_* for TREE_NOTICE_INODE */
        int err;                /* LOCK_ABORTED */
        uint64_t ino;
        uint64_t parent;        /* ENTRY_* */
        char *name;             /* ENTRY_*: entry name; SESSION_*: node name; owned by
                                 * the TreeNotices */
        uint64_t session;       /* LOCK_*, SESSION_* */
        uint64_t owner;         /* LOCK_* */
        uint64_t request;       /* LOCK_*: request number of the queued LOCK command */
        uint64_t token;         /* LOCK_GRANTED */
        uint8_t table;          /* LOCK_*: TreeLockTable */
} TreeNotice;

/* A growable list the caller owns and drains after each apply. Apply only
 * appends. Order: in the order the changes happened within the entry.
 * A zero-initialised TreeNotices is empty and valid. */
typedef struct TreeNotices {
        TreeNotice *items;
        size_t n;
        size_t cap;
} TreeNotices;

/* Frees the names and forgets the items (keeps the array). */
void tree_notices_clear(TreeNotices *n);
/* Frees everything; the struct is empty and reusable afterwards. Takes NULL. */
void tree_notices_done(TreeNotices *n);

/* Applies the committed entry at `index` holding command bytes data[0..len).
 * index must be larger than tree_applied_index() (assert): the daemon passes
 * every committed NORMAL entry in log order (skipping others is fine).
 *
 * Returns 0 when the entry was applied; its outcome is in *ret (may be NULL):
 * err is 0 or the command's negative errno (every errno path changes
 * nothing), -EBADMSG for a malformed command (applied as a no-op: peers and
 * disks are not trusted), -EINPROGRESS for a queued lock. notices (may be
 * NULL) gets the changes appended.
 *
 * Returns -ENOMEM (and only that) when memory ran out in the middle of the
 * apply: the tree may then be half-changed and must not be used further
 * (a replica cannot skip an entry: the daemon must stop). */
int tree_apply(Tree *t, uint64_t index, const uint8_t *data, size_t len,
               TreeResult *ret, TreeNotices *notices);

/* The earliest time_usec at which a lock-delay ends, or UINT64_MAX when none
 * is pending. The leader proposes a TREE_CMD_TICK with time_usec >= this
 * value once its clock reaches it; any command with a later time_usec also
 * ends the delay (delays are evaluated at the start of every apply). */
uint64_t tree_next_deadline(const Tree *t);

/* ------------------------------------------------------------------------
 * Lock semantics
 *
 * Holders are (session, owner); pid and node are informational. flock and
 * POSIX are independent tables per inode. Conflicts: flock — any exclusive vs
 * anything of another owner; POSIX — overlapping ranges of different owners
 * where at least one is exclusive (write). An owner never conflicts with
 * itself: flock re-locking converts (as Linux does, the old lock is dropped
 * first, then the new mode is requested; a conversion that must wait or fails
 * with -EAGAIN has lost the old lock: the one errno path that changes state),
 * POSIX re-locking replaces the owner's locks on the range, splitting and
 * merging adjacent ranges of the same mode (a split that needs a record over
 * max_locks fails with -ENOLCK).
 *
 * FIFO fairness, precisely: a request R of owner O is granted iff
 *   (1) no holder of another owner conflicts with R, and
 *   (2) no waiter W queued before R (same table, same file) "blocks" R, where
 *       W blocks R when W conflicts with R and W does not conflict with any
 *       lock O already holds.
 * So a shared request behind a queued exclusive waiter queues too (writers
 * do not starve), while an owner may always downgrade or extend what it holds
 * when the waiters in front wait for that owner anyway (otherwise fairness
 * would deadlock what Linux allows). Non-blocking requests follow the same
 * rule (-EAGAIN). Whenever records go away (unlock, release, cancel, expiry,
 * end of a lock-delay) the queue is scanned front to back and each waiter is
 * granted iff the rule allows it at that point; so consecutive shared waiters
 * are granted together and waiters for disjoint ranges do not block each
 * other. Handoff happens inside the entry that freed the lock, with that
 * entry's index as token. A queued request is never granted by the apply
 * that queued it.
 *
 * Lock-delay: while a file's delay runs (see SESSION_EXPIRE), no grant happens
 * on it (requests queue or fail with -EAGAIN; unlocks still work).
 *
 * When the last name of a locked inode goes away the inode becomes an orphan
 * (nlink 0) that keeps its locks, queue and content until its lock state is
 * empty; then it is removed (TREE_NOTICE_INODE_REMOVED).
 * ------------------------------------------------------------------------ */

typedef struct TreeLockInfo {
        uint8_t table;          /* TreeLockTable */
        uint8_t mode;           /* TreeLockMode; UNLOCK: no conflict */
        uint64_t start;
        uint64_t end;
        uint64_t session;
        uint64_t owner;
        uint32_t pid;
        uint64_t token;
        uint64_t since_usec;    /* time_usec of the granting entry */
} TreeLockInfo;

/* F_GETLK: the first holder in table `table` on ino that conflicts with a
 * request (session, owner, mode, [start, end]); *ret->mode is
 * TREE_LOCK_UNLOCK when none does (queued waiters are not considered).
 * -ENOENT, -EINVAL (bad table/mode/range). */
int tree_getlk(const Tree *t, uint64_t ino, uint8_t table, uint64_t session, uint64_t owner,
               uint8_t mode, uint64_t start, uint64_t end, TreeLockInfo *ret);

/* Appends the user.raftfs.lock text of ino to *out: one line per holder,
 * flock first, then POSIX, each in grant order:
 *   "mode=exclusive token=812 node=n2 pid=4711 since=1700000000123\n"
 *   "mode=shared token=..."                              (flock)
 *   "mode=posix-exclusive range=0-99 token=... node=... pid=... since=...\n"
 *   "mode=posix-shared range=100-eof token=..."          (POSIX)
 * then one line per queued waiter in queue order:
 *   "waiting mode=exclusive node=n3 pid=99\n"  (POSIX: mode=posix-... range=...)
 * `since` is in Unix milliseconds. Nothing when unlocked. -ENOENT, -ENOMEM. */
int tree_lock_text(const Tree *t, uint64_t ino, Buf *out);

/* ------------------------------------------------------------------------
 * Sessions
 * ------------------------------------------------------------------------ */

typedef struct TreeSessionInfo {
        uint64_t id;            /* = index of its SESSION_OPEN entry */
        const char *node;       /* points into the tree */
        uint64_t opened_usec;   /* time_usec of the SESSION_OPEN */
        uint32_t locks;         /* holders + waiters it owns */
        uint32_t ephemeral;     /* ephemeral inodes it owns */
} TreeSessionInfo;

/* -ENOENT when session id is not open. */
int tree_session_get(const Tree *t, uint64_t id, TreeSessionInfo *ret);
/* The open session of node name `node`, or 0. */
uint64_t tree_session_find(const Tree *t, const char *node);
/* Calls cb for every open session in id order; a non-zero return stops and is
 * returned. */
int tree_session_foreach(const Tree *t, int (*cb)(void *userdata, const TreeSessionInfo *info),
                         void *userdata);

/* ------------------------------------------------------------------------
 * Snapshots
 *
 * The whole replicated state (namespace, contents, xattrs, sessions with their
 * dedupe tables, locks and queues, lock-delays, limits, applied index) in a
 * deterministic, versioned encoding: equal states give equal bytes on every
 * node. No checksum (store/ checksums the file).
 * ------------------------------------------------------------------------ */

/* Appends the snapshot of t to *out. -ENOMEM (then *out is unchanged). */
int tree_snapshot_write(const Tree *t, Buf *out);

/* Builds a new tree from a snapshot. Everything is validated (structure,
 * references, counts, limits): -EBADMSG for anything inconsistent or an
 * unknown version, -ENOMEM. The restored tree serializes to the same bytes
 * and behaves identically to the tree that wrote it. */
int tree_snapshot_load(const uint8_t *data, size_t len, Tree **ret);
