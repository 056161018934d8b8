/* tree-internal.h — data structures shared by the files of tree/.
 *
 * Memory layout (the target is < 300 bytes of overhead per file beyond its
 * name and content):
 *   - Inode (96 bytes) lives in an intrusive chained hash table keyed by ino
 *     (one 8-byte `hnext` per inode plus ~8-16 bytes of buckets).
 *   - Dirent (40 bytes + name) lives in ONE global intrusive hash table keyed
 *     by (parent ino, name), and in its directory's DirInfo slot array
 *     (16 bytes per entry, ordered by creation index: that order gives the
 *     stable readdir cookies; removed slots become holes that a compaction
 *     squeezes out once they are a third of the array).
 *   - File contents are one malloc'd array of exactly `size` bytes.
 *   - xattrs, lock state, directory data and session ownership hang off
 *     pointers that are NULL for most inodes.
 *
 * Nothing here may depend on hash-table iteration order where it could leak
 * into replicated state or snapshot bytes: iteration for output always
 * follows an order defined by data (ino, creation index, name, list order).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/codec.h"
#include "lib/list.h"
#include "tree/tree.h"

typedef struct Inode Inode;
typedef struct Dirent Dirent;
typedef struct LockFile LockFile;

/* ---- intrusive chained hash table (itable.c) ---- */
typedef struct ITable {
        void **buckets;
        size_t mask;            /* n_buckets - 1 (n_buckets a power of two), 0 when empty */
        size_t size;
        size_t next_off;        /* offset of the element's `void *next` chain pointer */
        uint64_t (*hash)(const void *elem);
} ITable;

void itable_init(ITable *t, size_t next_off, uint64_t (*hash)(const void *elem));
void itable_done(ITable *t);
/* Inserts elem (not present). 0 or -ENOMEM (then unchanged). */
int itable_insert(ITable *t, void *elem);
/* Removes elem (present). */
void itable_remove(ITable *t, void *elem);
/* The first element of the chain that may hold elements with hash h. */
void *itable_first(const ITable *t, uint64_t h);
static inline void *itable_next(const ITable *t, const void *elem) {
        return *(void * const *) ((const char *) elem + t->next_off);
}

/* ---- namespace ---- */
typedef struct DirSlot {
        uint64_t id;            /* creation index of the entry (cookie = id + 2) */
        Dirent *d;              /* NULL: removed (a hole) */
} DirSlot;

typedef struct DirInfo {
        DirSlot *slots;         /* ascending id */
        uint32_t n;             /* used slots incl. holes */
        uint32_t cap;
        uint32_t holes;
        uint32_t subdirs;
} DirInfo;

typedef struct Xattr {
        char *name;
        uint8_t *value;
        uint32_t len;
} Xattr;

typedef struct Xattrs {
        uint32_t n;
        uint32_t bytes;         /* names + values */
        Xattr items[];          /* sorted by name (strcmp) */
} Xattrs;

struct Inode {
        uint64_t ino;
        Inode *hnext;           /* ino table chain */
        Dirent *links;          /* names of this inode, ascending id; NULL: root or orphan */
        uint32_t mode;
        uint32_t uid;
        uint32_t gid;
        uint32_t nlink;
        uint64_t size;          /* file/symlink: bytes; dir: entries */
        uint64_t mtime;
        uint64_t ctime;
        union {
                uint8_t *data;  /* S_IFREG: size bytes, NULL when size == 0 */
                char *target;   /* S_IFLNK: NUL-terminated */
                DirInfo *dir;   /* S_IFDIR */
        };
        Xattrs *xattrs;         /* NULL when none */
        LockFile *locks;        /* NULL when no lock state */
        uint64_t owner_session; /* ephemeral owner, 0 = none */
};

struct Dirent {
        Dirent *hnext;          /* (parent, name) table chain */
        Inode *parent;
        Inode *inode;
        Dirent *next_link;
        uint64_t id;
        uint32_t slot;          /* index in parent->dir->slots */
        uint16_t name_len;
        char name[];            /* NUL-terminated */
};

/* ---- sessions ---- */
typedef struct Result {
        uint64_t request;
        int32_t err;
        uint32_t flags;
        uint64_t value;         /* ino, token or session id, per command */
} Result;

typedef struct Session {
        uint64_t id;
        char *node;
        uint64_t opened;
        uint64_t floor;         /* results of requests below are forgotten */
        Result *results;        /* ascending request */
        uint32_t n_results;
        uint32_t cap_results;
        uint64_t *ephemeral;    /* owned inodes, ascending */
        uint32_t n_ephemeral;
        uint32_t cap_ephemeral;
        uint32_t n_locks;       /* holders + waiters */
} Session;

/* ---- locks ---- */
typedef struct Lock {
        ListNode node;          /* in LockFile.holders[] or .waiters[] */
        uint64_t session;
        uint64_t owner;
        uint64_t request;       /* waiters: the request to report; holders: 0 */
        uint64_t start;
        uint64_t end;           /* inclusive */
        uint64_t token;         /* holders */
        uint64_t since;         /* holders: grant time */
        uint32_t pid;
        uint8_t table;          /* TreeLockTable */
        uint8_t mode;           /* SHARED / EXCLUSIVE */
} Lock;

struct LockFile {
        Inode *inode;
        ListNode link;          /* in Tree.lock_files */
        List holders[2];        /* [table - 1], grant order */
        List waiters[2];        /* [table - 1], queue order */
        uint64_t delay_until;   /* 0: no lock-delay */
};

/* ---- the tree ---- */
struct Tree {
        TreeLimits limits;
        uint64_t applied;
        Inode *root;
        ITable inodes;          /* by ino */
        ITable dirents;         /* by (parent ino, name) */
        uint64_t n_inodes;
        uint64_t total_bytes;
        Session **sessions;     /* ascending id */
        uint32_t n_sessions;
        uint32_t cap_sessions;
        List lock_files;        /* LockFile.link */
        uint32_t n_locks;
        uint64_t next_deadline; /* min delay_until, UINT64_MAX when none */
};

/* Context of one apply. */
typedef struct Apply {
        Tree *t;
        uint64_t index;
        const TreeCmd *cmd;
        Session *session;       /* the author's session, when open */
        TreeResult *result;
        TreeNotices *notices;
        int oom;                /* -ENOMEM seen while changing state */
} Apply;

/* tree.c */
void tree_limits_normalize(TreeLimits *l);
Inode *tree_inode(const Tree *t, uint64_t ino);
Dirent *tree_dirent(const Tree *t, const Inode *parent, const char *name);
Inode *inode_new(Tree *t, uint64_t ino, uint32_t mode);
int tree_inode_insert(Tree *t, Inode *i);
void inode_fill_attr(const Inode *i, TreeAttr *ret);
/* Adds an entry parent/name -> inode with creation index id; inode's nlink
 * and the parent's counters are updated. 0 or -ENOMEM (unchanged). */
int dirent_add(Tree *t, Inode *parent, const char *name, Inode *inode, uint64_t id);
/* Removes the entry; updates nlink and counters; does not free the inode. */
void dirent_remove(Tree *t, Dirent *d);
/* Frees an inode that has no links: content, xattrs, ephemeral ownership. */
void inode_destroy(Tree *t, Inode *i);
/* Called when an inode lost its last link (or its lock state): removes it
 * unless it still has lock state (then it stays as an orphan). */
void inode_maybe_free(Apply *a, Inode *i);
bool name_valid(const char *name);
uint64_t tree_dirent_hash_of(uint64_t parent, const char *name, size_t len);
uint64_t inode_bytes(const Inode *i);

/* cmd.c */
int limits_encode(Buf *b, const TreeLimits *l);
int limits_decode(Reader *rd, TreeLimits *l);

/* apply.c: notices */
void notice_inode(Apply *a, uint64_t ino, uint32_t flags);
void notice_entry(Apply *a, uint8_t type, uint64_t parent, const char *name, uint64_t ino);
void notice_lock(Apply *a, uint8_t type, const Lock *l, uint64_t ino, uint64_t token, int err);
void notice_session(Apply *a, uint8_t type, const Session *s);

/* ns.c: namespace commands; return the command's errno */
int ns_create(Apply *a);
int ns_mkdir(Apply *a);
int ns_symlink(Apply *a);
int ns_link(Apply *a);
int ns_unlink(Apply *a, bool dir);
int ns_rename(Apply *a);
int ns_setattr(Apply *a);
int ns_write(Apply *a);
int ns_setxattr(Apply *a);
int ns_removexattr(Apply *a);
/* Removes every link of inode i (ephemeral cleanup). */
void ns_remove_inode(Apply *a, Inode *i);

/* xattr.c */
const Xattr *xattrs_find(const Xattrs *x, const char *name);
int xattrs_set(Tree *t, Inode *i, const char *name, const uint8_t *value, size_t len);
int xattrs_remove(Tree *t, Inode *i, const char *name);
void xattrs_free(Xattrs *x);
bool ephemeral_value(const uint8_t *value, size_t len);

/* lock.c */
int lock_cmd(Apply *a);
int lock_cancel(Apply *a);
int lock_release(Apply *a);
/* Drops everything session s holds or waits for; delay_until > 0 starts a
 * lock-delay on the files where it held locks. */
void lock_release_session(Apply *a, uint64_t session, uint64_t delay_until);
/* Ends lock-delays that are over at time now and grants waiters. */
void lock_run_deadlines(Apply *a, uint64_t now);
void lock_file_free(Tree *t, LockFile *f);
LockFile *lock_file_new(Inode *i);
void lock_file_link(Tree *t, LockFile *f);
void tree_update_deadline(Tree *t);
bool lock_file_empty(const LockFile *f);
int lock_format(const Tree *t, const Inode *i, Buf *out);

/* session.c */
Session *session_get(const Tree *t, uint64_t id);
int session_insert(Tree *t, Session *s);
Session *session_free(Session *s);
int session_open(Apply *a);
int session_expire(Apply *a);
void session_expire_one(Apply *a, Session *s, uint64_t delay_until);
/* Dedupe: the remembered result of request, or NULL; *forgotten set when
 * the request is below the floor. */
const Result *session_find_result(const Session *s, uint64_t request, bool *forgotten);
int session_remember(Tree *t, Session *s, uint64_t request, uint64_t ack, const Result *r);
int session_add_ephemeral(Session *s, uint64_t ino);
void session_del_ephemeral(Session *s, uint64_t ino);
