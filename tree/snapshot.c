#include "config.h"
/* snapshot.c — deterministic serialization of the whole tree, and a loader
 * that validates every byte.
 *
 * Format (version 1), little-endian via lib/codec.h:
 *   u32 magic "RFTS", u8 version,
 *   u64 applied index, limits (as in TREE_CMD_SET_LIMITS),
 *   u64 n_inodes, then per inode in ascending ino:
 *     u64 ino, u32 mode, u32 uid, u32 gid, u64 mtime, u64 ctime,
 *     u64 owner session (0 = not ephemeral),
 *     regular file: blob content | symlink: str target | directory: nothing,
 *     u32 n_xattrs, then (str name, blob value) in ascending name order;
 *   u64 n_dirents, then per directory in ascending ino, per entry in ascending
 *     creation index: u64 parent, u64 id, u64 child, str name;
 *   u32 n_sessions, per session in ascending id: u64 id, str node, u64 opened,
 *     u64 floor, u32 n_results, then (u64 request, u32 err, u32 flags,
 *     u64 value) in ascending request;
 *   u32 n_lock_files, per file in ascending ino: u64 ino, u64 delay_until,
 *     then for flock and POSIX: u32 n_holders + locks (grant order), u32
 *     n_waiters + locks (queue order); a lock is u64 session, owner, request,
 *     start, end, token, since, u32 pid, u8 mode.
 * Everything derived (nlink, sizes of directories, byte and inode counts,
 * lock counts, ephemeral lists, the next deadline) is recomputed on load, so
 * a snapshot cannot contradict itself in those; the loader rejects anything
 * that is out of order, dangling, cyclic or not what the writer produces. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "tree/tree-internal.h"

#define SNAPSHOT_MAGIC UINT32_C(0x53544652) /* "RFTS" */
#define SNAPSHOT_VERSION 1
#define LOCK_XATTR "user.raftfs.lock"
#define NODE_NAME_MAX 64
#define MARK 0x80000000u       /* temporary mark in Inode.mode during loading */

static int cmp_inode(const void *a, const void *b) {
        uint64_t x = (*(Inode * const *) a)->ino, y = (*(Inode * const *) b)->ino;
        return x < y ? -1 : x > y;
}

static Inode **sorted_inodes(const Tree *t) {
        Inode **v = malloc(MAX(t->n_inodes, 1) * sizeof(Inode *));
        if (!v)
                return NULL;
        size_t n = 0;
        for (size_t k = 0; k <= t->inodes.mask && t->inodes.buckets; k++)
                for (Inode *i = t->inodes.buckets[k]; i; i = i->hnext)
                        v[n++] = i;
        assert(n == t->n_inodes);
        qsort(v, n, sizeof(Inode *), cmp_inode);
        return v;
}

static int write_inode(Buf *b, const Inode *i) {
        int r = 0;
        r = r ?: put_u64(b, i->ino);
        r = r ?: put_u32(b, i->mode);
        r = r ?: put_u32(b, i->uid);
        r = r ?: put_u32(b, i->gid);
        r = r ?: put_u64(b, i->mtime);
        r = r ?: put_u64(b, i->ctime);
        r = r ?: put_u64(b, i->owner_session);
        if (S_ISREG(i->mode))
                r = r ?: put_blob(b, i->data, i->size);
        else if (S_ISLNK(i->mode))
                r = r ?: put_str(b, i->target);
        uint32_t n = i->xattrs ? i->xattrs->n : 0;
        r = r ?: put_u32(b, n);
        for (uint32_t k = 0; k < n && r == 0; k++) {
                r = put_str(b, i->xattrs->items[k].name);
                r = r ?: put_blob(b, i->xattrs->items[k].value, i->xattrs->items[k].len);
        }
        return r;
}

static int write_lock(Buf *b, const Lock *l) {
        int r = 0;
        r = r ?: put_u64(b, l->session);
        r = r ?: put_u64(b, l->owner);
        r = r ?: put_u64(b, l->request);
        r = r ?: put_u64(b, l->start);
        r = r ?: put_u64(b, l->end);
        r = r ?: put_u64(b, l->token);
        r = r ?: put_u64(b, l->since);
        r = r ?: put_u32(b, l->pid);
        r = r ?: put_u8(b, l->mode);
        return r;
}

static int write_lock_list(Buf *b, const List *l) {
        int r = put_u32(b, (uint32_t) list_length(l));
        Lock *x;
        list_foreach(x, l, node)
                r = r ?: write_lock(b, x);
        return r;
}

static int write_sessions(Buf *b, const Tree *t) {
        int r = put_u32(b, t->n_sessions);
        for (uint32_t k = 0; k < t->n_sessions && r == 0; k++) {
                const Session *s = t->sessions[k];
                r = put_u64(b, s->id);
                r = r ?: put_str(b, s->node);
                r = r ?: put_u64(b, s->opened);
                r = r ?: put_u64(b, s->floor);
                r = r ?: put_u32(b, s->n_results);
                for (uint32_t j = 0; j < s->n_results && r == 0; j++) {
                        const Result *x = &s->results[j];
                        r = put_u64(b, x->request);
                        r = r ?: put_u32(b, (uint32_t) x->err);
                        r = r ?: put_u32(b, x->flags);
                        r = r ?: put_u64(b, x->value);
                }
        }
        return r;
}

static int write_body(const Tree *t, Inode **v, Buf *b) {
        int r = 0;
        r = r ?: put_u32(b, SNAPSHOT_MAGIC);
        r = r ?: put_u8(b, SNAPSHOT_VERSION);
        r = r ?: put_u64(b, t->applied);
        r = r ?: limits_encode(b, &t->limits);
        r = r ?: put_u64(b, t->n_inodes);
        for (uint64_t k = 0; k < t->n_inodes && r == 0; k++)
                r = write_inode(b, v[k]);
        r = r ?: put_u64(b, t->dirents.size);
        for (uint64_t k = 0; k < t->n_inodes && r == 0; k++) {
                if (!S_ISDIR(v[k]->mode))
                        continue;
                const DirInfo *dir = v[k]->dir;
                for (uint32_t j = 0; j < dir->n && r == 0; j++) {
                        const Dirent *d = dir->slots[j].d;
                        if (!d)
                                continue;
                        r = put_u64(b, v[k]->ino);
                        r = r ?: put_u64(b, d->id);
                        r = r ?: put_u64(b, d->inode->ino);
                        r = r ?: put_str(b, d->name);
                }
        }
        r = r ?: write_sessions(b, t);
        uint32_t nf = 0;
        for (uint64_t k = 0; k < t->n_inodes; k++)
                nf += v[k]->locks != NULL;
        r = r ?: put_u32(b, nf);
        for (uint64_t k = 0; k < t->n_inodes && r == 0; k++) {
                LockFile *f = v[k]->locks;
                if (!f)
                        continue;
                r = put_u64(b, v[k]->ino);
                r = r ?: put_u64(b, f->delay_until);
                for (int j = 0; j < 2; j++) {
                        r = r ?: write_lock_list(b, &f->holders[j]);
                        r = r ?: write_lock_list(b, &f->waiters[j]);
                }
        }
        return r;
}

int tree_snapshot_write(const Tree *t, Buf *out) {
        size_t saved = out->len;
        Inode **v = sorted_inodes(t);
        if (!v)
                return -ENOMEM;
        /* One reservation for the bulk: contents plus ~64 bytes per record. */
        int r = buf_reserve(out, t->total_bytes + (t->n_inodes + t->dirents.size) * 64 + 4096);
        r = r ?: write_body(t, v, out);
        free(v);
        if (r < 0)
                out->len = saved;
        return r < 0 ? -ENOMEM : 0;
}

/* ---- loading ---- */

static bool mode_valid(uint32_t mode) {
        uint32_t type = mode & S_IFMT;
        return (mode & ~(S_IFMT | 07777)) == 0 && (type == S_IFREG || type == S_IFDIR || type == S_IFLNK);
}

static bool xattr_name_valid(const char *name) {
        return strncmp(name, "user.", 5) == 0 && name[5] != 0 && strcmp(name, LOCK_XATTR) != 0;
}

static int read_xattrs(Reader *rd, Tree *t, Inode *i) {
        uint32_t n;
        int r = get_u32(rd, &n);
        if (r < 0)
                return r;
        if (n > reader_remaining(rd) / 8)
                return -EBADMSG;
        for (uint32_t k = 0; k < n; k++) {
                _cleanup_free_ char *name = NULL;
                const uint8_t *value;
                size_t len;
                r = get_str_dup(rd, TREE_CMD_MAX_STRING, &name);
                r = r ?: get_blob(rd, TREE_CMD_MAX_BLOB, &value, &len);
                if (r < 0)
                        return r;
                if (!xattr_name_valid(name))
                        return -EBADMSG;
                if (k > 0 && strcmp(i->xattrs->items[k - 1].name, name) >= 0)
                        return -EBADMSG;
                r = xattrs_set(t, i, name, value, len);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_inode(Reader *rd, Tree *t, uint64_t prev_ino, Inode **ret) {
        uint64_t ino, mtime, ctime, owner;
        uint32_t mode, uid, gid;
        (void) get_u64(rd, &ino);
        (void) get_u32(rd, &mode);
        (void) get_u32(rd, &uid);
        (void) get_u32(rd, &gid);
        (void) get_u64(rd, &mtime);
        (void) get_u64(rd, &ctime);
        int r = get_u64(rd, &owner);
        if (r < 0)
                return r;
        /* Numbers are indexes of applied entries: a later entry must never
         * create an inode number (or entry id) that already exists. */
        if (ino <= prev_ino || !mode_valid(mode) || (ino != TREE_ROOT_INO && (ino < 2 || ino > t->applied)))
                return -EBADMSG;
        if (ino == TREE_ROOT_INO ? !S_ISDIR(mode) : prev_ino == 0)
                return -EBADMSG;        /* the root comes first and is a directory */
        if (owner != 0 && S_ISDIR(mode))
                return -EBADMSG;
        Inode *i = ino == TREE_ROOT_INO ? t->root : inode_new(t, ino, mode);
        if (!i)
                return -ENOMEM;
        i->mode = mode;
        i->uid = uid;
        i->gid = gid;
        i->mtime = mtime;
        i->ctime = ctime;
        i->owner_session = owner;
        if (i != t->root) {
                r = tree_inode_insert(t, i);
                if (r < 0) {
                        free(i->dir);
                        free(i);
                        return r;
                }
        }
        /* From here on the tree owns i: content set below is freed with it. */
        if (S_ISREG(mode)) {
                const uint8_t *data;
                size_t len;
                r = get_blob(rd, SIZE_MAX, &data, &len);
                if (r < 0)
                        return r;
                if (len > 0) {
                        i->data = malloc(len);
                        if (!i->data)
                                return -ENOMEM;
                        memcpy(i->data, data, len);
                }
                i->size = len;
        } else if (S_ISLNK(mode)) {
                r = get_str_dup(rd, TREE_CMD_MAX_STRING, &i->target);
                if (r < 0)
                        return r;
                i->size = strlen(i->target);
                if (i->size == 0)
                        return -EBADMSG;
        }
        t->total_bytes += i->size * !S_ISDIR(mode);
        r = read_xattrs(rd, t, i);
        if (r < 0)
                return r;
        *ret = i;
        return 0;
}

static int read_inodes(Reader *rd, Tree *t) {
        uint64_t n, prev = 0;
        int r = get_u64(rd, &n);
        if (r < 0)
                return r;
        if (n == 0 || n > reader_remaining(rd) / 44 + 1)
                return -EBADMSG;
        for (uint64_t k = 0; k < n; k++) {
                Inode *i;
                r = read_inode(rd, t, prev, &i);
                if (r < 0)
                        return r;
                prev = i->ino;
        }
        return 0;
}

static int read_dirents(Reader *rd, Tree *t) {
        uint64_t n, prev_parent = 0;
        int r = get_u64(rd, &n);
        if (r < 0)
                return r;
        if (n > reader_remaining(rd) / 28)
                return -EBADMSG;
        for (uint64_t k = 0; k < n; k++) {
                uint64_t parent, id, child;
                _cleanup_free_ char *name = NULL;
                (void) get_u64(rd, &parent);
                (void) get_u64(rd, &id);
                (void) get_u64(rd, &child);
                r = get_str_dup(rd, TREE_CMD_MAX_STRING, &name);
                if (r < 0)
                        return r;
                Inode *p = tree_inode(t, parent), *c = tree_inode(t, child);
                if (!p || !c || !S_ISDIR(p->mode) || c == t->root || !name_valid(name) || parent < prev_parent ||
                    id > t->applied)
                        return -EBADMSG;
                if (p->dir->n > 0 && p->dir->slots[p->dir->n - 1].id >= id)
                        return -EBADMSG;
                if (S_ISDIR(c->mode) && c->links)
                        return -EBADMSG;        /* a directory has one name */
                if (tree_dirent(t, p, name))
                        return -EBADMSG;
                r = dirent_add(t, p, name, c, id);
                if (r < 0)
                        return r;
                prev_parent = parent;
        }
        return 0;
}

static int read_session(Reader *rd, Tree *t, uint64_t prev_id) {
        Session *s = calloc(1, sizeof(Session));
        if (!s)
                return -ENOMEM;
        (void) get_u64(rd, &s->id);
        int r = get_str_dup(rd, NODE_NAME_MAX, &s->node);
        (void) get_u64(rd, &s->opened);
        (void) get_u64(rd, &s->floor);
        uint32_t n = 0;
        r = r ?: get_u32(rd, &n);
        if (r == 0 && (s->id <= prev_id || s->id > t->applied || !s->node[0] ||
                       tree_session_find(t, s->node) || n > reader_remaining(rd) / 24))
                r = -EBADMSG;
        if (r == 0 && n > 0 && !(s->results = calloc(n, sizeof(Result))))
                r = -ENOMEM;
        s->cap_results = n;
        for (uint32_t k = 0; k < n && r == 0; k++) {
                Result *x = &s->results[k];
                uint32_t err;
                (void) get_u64(rd, &x->request);
                (void) get_u32(rd, &err);
                (void) get_u32(rd, &x->flags);
                r = get_u64(rd, &x->value);
                x->err = (int32_t) err;
                if (r == 0 && (x->request < MAX(s->floor, 1) || (k > 0 && x->request <= s->results[k - 1].request) ||
                               x->err > 0 || x->err < -4095 ||
                               (x->flags & ~(TREE_RESULT_EXISTED | TREE_RESULT_DUPLICATE))))
                        r = -EBADMSG;
                s->n_results = k + 1;
        }
        r = r ?: session_insert(t, s);
        if (r < 0)
                session_free(s);
        return r;
}

static int read_sessions(Reader *rd, Tree *t) {
        uint32_t n;
        uint64_t prev = 0;
        int r = get_u32(rd, &n);
        if (r < 0)
                return r;
        if (n > reader_remaining(rd) / 32)
                return -EBADMSG;
        for (uint32_t k = 0; k < n; k++) {
                r = read_session(rd, t, prev);
                if (r < 0)
                        return r;
                prev = t->sessions[t->n_sessions - 1]->id;
        }
        return 0;
}

static int read_lock_list(Reader *rd, Tree *t, LockFile *f, uint8_t table, bool waiting) {
        uint32_t n;
        int r = get_u32(rd, &n);
        if (r < 0)
                return r;
        if (n > reader_remaining(rd) / 61)
                return -EBADMSG;
        for (uint32_t k = 0; k < n; k++) {
                Lock l = { .table = table };
                (void) get_u64(rd, &l.session);
                (void) get_u64(rd, &l.owner);
                (void) get_u64(rd, &l.request);
                (void) get_u64(rd, &l.start);
                (void) get_u64(rd, &l.end);
                (void) get_u64(rd, &l.token);
                (void) get_u64(rd, &l.since);
                (void) get_u32(rd, &l.pid);
                r = get_u8(rd, &l.mode);
                if (r < 0)
                        return r;
                Session *s = session_get(t, l.session);
                if (!s || (l.mode != TREE_LOCK_SHARED && l.mode != TREE_LOCK_EXCLUSIVE) || l.start > l.end)
                        return -EBADMSG;
                if (table == TREE_LOCK_FLOCK && (l.start != 0 || l.end != UINT64_MAX))
                        return -EBADMSG;
                if (waiting ? (l.request == 0 || l.token != 0 || l.since != 0)
                            : (l.request != 0 || l.token == 0 || l.token > t->applied))
                        return -EBADMSG;
                Lock *x = malloc(sizeof(Lock));
                if (!x)
                        return -ENOMEM;
                *x = l;
                list_append(waiting ? &f->waiters[table - 1] : &f->holders[table - 1], &x->node);
                s->n_locks++;
                t->n_locks++;
        }
        return 0;
}

static int read_lock_files(Reader *rd, Tree *t) {
        uint32_t n;
        uint64_t prev = 0;
        int r = get_u32(rd, &n);
        if (r < 0)
                return r;
        if (n > reader_remaining(rd) / 32)
                return -EBADMSG;
        for (uint32_t k = 0; k < n; k++) {
                uint64_t ino, delay;
                (void) get_u64(rd, &ino);
                r = get_u64(rd, &delay);
                if (r < 0)
                        return r;
                Inode *i = tree_inode(t, ino);
                if (!i || ino <= prev)
                        return -EBADMSG;
                prev = ino;
                LockFile *f = lock_file_new(i);
                if (!f)
                        return -ENOMEM;
                lock_file_link(t, f);
                f->delay_until = delay;
                for (uint8_t table = TREE_LOCK_FLOCK; table <= TREE_LOCK_POSIX; table++) {
                        r = read_lock_list(rd, t, f, table, false);
                        r = r ?: read_lock_list(rd, t, f, table, true);
                        if (r < 0)
                                return r;
                }
                if (lock_file_empty(f) && delay == 0)
                        return -EBADMSG;
        }
        tree_update_deadline(t);
        return 0;
}

/* Every named directory reaches the root through its ancestors (no cycles),
 * every inode without a name is the root or an orphan with lock state, and
 * ephemeral owners are open sessions. Builds the sessions' ephemeral lists. */
static int check_structure(Tree *t, Inode **v, uint64_t n) {
        int r = 0;
        t->root->mode |= MARK;
        for (uint64_t k = 0; k < n && r == 0; k++) {
                Inode *i = v[k];
                if (!i->links && i != t->root && !i->locks)
                        r = -EBADMSG;
                else if (S_ISDIR(i->mode & ~MARK) && !i->links && i != t->root && i->size > 0)
                        r = -EBADMSG;
                if (r == 0 && i->owner_session) {
                        Session *s = session_get(t, i->owner_session);
                        r = s ? session_add_ephemeral(s, i->ino) : -EBADMSG;
                }
                if (r < 0 || !S_ISDIR(i->mode & ~MARK) || !i->links)
                        continue;
                /* Walk up to a marked (verified) directory within n steps. */
                uint64_t steps = 0;
                Inode *d = i;
                while (!(d->mode & MARK) && d->links && steps++ <= n)
                        d = d->links->parent;
                if (!(d->mode & MARK)) {
                        r = -EBADMSG;
                        break;
                }
                for (d = i; !(d->mode & MARK); d = d->links->parent)
                        d->mode |= MARK;
        }
        for (uint64_t k = 0; k < n; k++)
                v[k]->mode &= ~MARK;
        return r;
}

static int load(Reader *rd, Tree *t) {
        uint32_t magic;
        uint8_t version;
        TreeLimits l = {}, norm;
        (void) get_u32(rd, &magic);
        (void) get_u8(rd, &version);
        (void) get_u64(rd, &t->applied);
        int r = limits_decode(rd, &l);
        if (r < 0)
                return r;
        norm = l;
        tree_limits_normalize(&norm);
        if (magic != SNAPSHOT_MAGIC || version != SNAPSHOT_VERSION || memcmp(&l, &norm, sizeof l) != 0)
                return -EBADMSG;
        t->limits = l;
        r = read_inodes(rd, t);
        r = r ?: read_dirents(rd, t);
        r = r ?: read_sessions(rd, t);
        r = r ?: read_lock_files(rd, t);
        r = r ?: reader_finish(rd);
        if (r < 0)
                return r;
        Inode **v = sorted_inodes(t);
        if (!v)
                return -ENOMEM;
        r = check_structure(t, v, t->n_inodes);
        free(v);
        return r;
}

int tree_snapshot_load(const uint8_t *data, size_t len, Tree **ret) {
        Tree *t = tree_new(NULL);
        if (!t)
                return -ENOMEM;
        /* The root is re-read from the snapshot; its byte count starts at 0. */
        Reader rd = reader_init(data, len);
        int r = load(&rd, t);
        if (r < 0) {
                tree_free(t);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        *ret = t;
        return 0;
}
