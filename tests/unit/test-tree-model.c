#include "config.h"
/* test-tree-model.c — model-based test of tree/: long random command
 * sequences are applied to the tree (encoded, through tree_apply) and to a
 * reference model written as plainly as possible, and the two are compared:
 * every command's result, and periodically the whole state (every name,
 * attribute, content, xattr, directory order, session, lock holder and
 * queue). At random points the tree is replaced by the tree restored from its
 * own snapshot, after checking that the restored tree writes the same bytes;
 * the run then continues on the restored tree.
 *
 * The model: inodes and directory entries in flat arrays searched linearly;
 * POSIX locks as per-owner maps of 65 cells (bytes 0..63, and one cell for
 * [64, EOF)); every waiter queue is rescanned after every command, which is
 * the specification ("no waiter is ever left grantable") rather than the
 * tree's bookkeeping of when to scan.
 *
 * TREE_MODEL_SEED=n replays a run, TREE_MODEL_STEPS=n sets its length
 * (default 100000; the acceptance run uses 1000000). */

#include <check.h>
#include <inttypes.h>
#include <stdio.h>

#include "tests/unit/test-tree-util.h"

#define ROOT TREE_ROOT_INO
#define EX TREE_LOCK_EXCLUSIVE
#define SH TREE_LOCK_SHARED
#define UN TREE_LOCK_UNLOCK
#define CELLS 65
#define MAX_OWNERS 64
#define MAX_WAIT 64

/* ---------------- random ---------------- */

static uint64_t rng;
static uint64_t rnd(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}
static uint64_t rn(uint64_t n) {
        return n ? rnd() % n : 0;
}

/* ---------------- the model ---------------- */

typedef struct MXattr {
        char name[32];
        uint8_t value[32];
        size_t len;
} MXattr;

typedef struct MInode {
        uint64_t ino;
        uint32_t mode, uid, gid;
        uint64_t mtime, ctime;
        uint8_t *data;          /* file content or symlink target */
        uint64_t size;
        MXattr x[16];
        int nx;
        uint64_t owner;         /* ephemeral session */
} MInode;

typedef struct MEntry {
        uint64_t parent;
        char name[16];
        uint64_t ino;
        uint64_t id;
} MEntry;

typedef struct MLock {
        uint64_t session, owner, request;
        uint32_t pid;
        uint8_t table, mode;
        uint64_t start, end;    /* cells for POSIX: end 64 means EOF */
        uint64_t token, since;
} MLock;

typedef struct MOwner {
        uint64_t session, owner;
        uint8_t mode[CELLS];
        uint64_t token[CELLS], since[CELLS];
        uint32_t pid[CELLS];
} MOwner;

typedef struct MFile {
        uint64_t ino;
        MLock flock[MAX_OWNERS];
        int nflock;
        MOwner posix[MAX_OWNERS];
        int nposix;
        MLock wait[2][MAX_WAIT];
        int nwait[2];
        uint64_t delay_until;
} MFile;

typedef struct MRes {
        uint64_t request;
        int err;
        uint32_t flags;
        uint64_t value;
} MRes;

typedef struct MSession {
        uint64_t id;
        char node[8];
        uint64_t opened, floor;
        MRes res[512];
        int nres;
} MSession;

typedef struct MNotice {
        uint8_t type;
        uint64_t session, request, token;
        int err;
} MNotice;

typedef struct Model {
        TreeLimits limits;
        MInode *inodes;
        int ninodes, capinodes;
        MEntry *entries;
        int nentries, capentries;
        MSession sessions[8];
        int nsessions;
        MFile *files;
        int nfiles, capfiles;
        /* the command being applied */
        uint64_t index, now;
        MNotice notices[256];
        int nnotices;
} Model;

static void *grow(void *p, int *cap, int need, size_t size) {
        if (need <= *cap)
                return p;
        *cap = need * 2 + 8;
        p = realloc(p, (size_t) *cap * size);
        ck_assert_ptr_nonnull(p);
        return p;
}

static MInode *m_inode(Model *m, uint64_t ino) {
        for (int k = 0; k < m->ninodes; k++)
                if (m->inodes[k].ino == ino)
                        return &m->inodes[k];
        return NULL;
}

static MEntry *m_entry(Model *m, uint64_t parent, const char *name) {
        for (int k = 0; k < m->nentries; k++)
                if (m->entries[k].parent == parent && strcmp(m->entries[k].name, name) == 0)
                        return &m->entries[k];
        return NULL;
}

static int m_links(Model *m, uint64_t ino) {
        int n = 0;
        for (int k = 0; k < m->nentries; k++)
                n += m->entries[k].ino == ino;
        return n;
}

static int m_children(Model *m, uint64_t dir, bool dirs_only) {
        int n = 0;
        for (int k = 0; k < m->nentries; k++)
                if (m->entries[k].parent == dir && (!dirs_only || S_ISDIR(m_inode(m, m->entries[k].ino)->mode)))
                        n++;
        return n;
}

static MEntry *m_entry_of(Model *m, uint64_t ino) {
        MEntry *best = NULL;
        for (int k = 0; k < m->nentries; k++)
                if (m->entries[k].ino == ino && (!best || m->entries[k].id < best->id))
                        best = &m->entries[k];
        return best;
}

static void m_attr(Model *m, const MInode *i, TreeAttr *a) {
        *a = (TreeAttr) { .ino = i->ino, .generation = 1, .mode = i->mode, .uid = i->uid, .gid = i->gid,
                          .size = i->size, .mtime_usec = i->mtime, .ctime_usec = i->ctime };
        if (S_ISDIR(i->mode)) {
                a->size = (uint64_t) m_children(m, i->ino, false);
                a->nlink = (i->ino == ROOT || m_links(m, i->ino)) ? 2 + (uint32_t) m_children(m, i->ino, true) : 0;
        } else
                a->nlink = (uint32_t) m_links(m, i->ino);
}

static uint64_t m_total_bytes(Model *m) {
        uint64_t b = 0;
        for (int k = 0; k < m->ninodes; k++) {
                MInode *i = &m->inodes[k];
                if (!S_ISDIR(i->mode))
                        b += i->size;
                for (int j = 0; j < i->nx; j++)
                        b += strlen(i->x[j].name) + i->x[j].len;
        }
        return b;
}

static MFile *m_file(Model *m, uint64_t ino, bool create) {
        for (int k = 0; k < m->nfiles; k++)
                if (m->files[k].ino == ino)
                        return &m->files[k];
        if (!create)
                return NULL;
        m->files = grow(m->files, &m->capfiles, m->nfiles + 1, sizeof(MFile));
        MFile *f = &m->files[m->nfiles++];
        memset(f, 0, sizeof *f);
        f->ino = ino;
        return f;
}

static int m_posix_runs(const MOwner *o) {
        int n = 0;
        for (int c = 0; c < CELLS; c++)
                if (o->mode[c] && (c == 0 || o->mode[c - 1] != o->mode[c]))
                        n++;
        return n;
}

static bool m_file_empty(const MFile *f) {
        if (f->nflock || f->nwait[0] || f->nwait[1])
                return false;
        for (int k = 0; k < f->nposix; k++)
                if (m_posix_runs(&f->posix[k]))
                        return false;
        return true;
}

static uint32_t m_nlocks(Model *m) {
        uint32_t n = 0;
        for (int k = 0; k < m->nfiles; k++) {
                MFile *f = &m->files[k];
                n += (uint32_t) (f->nflock + f->nwait[0] + f->nwait[1]);
                for (int j = 0; j < f->nposix; j++)
                        n += (uint32_t) m_posix_runs(&f->posix[j]);
        }
        return n;
}

static void m_notice(Model *m, uint8_t type, const MLock *l, uint64_t token, int err) {
        ck_assert_int_lt(m->nnotices, 256);
        m->notices[m->nnotices++] = (MNotice) { type, l->session, l->request, token, err };
}

static void m_inode_remove(Model *m, uint64_t ino) {
        MInode *i = m_inode(m, ino);
        free(i->data);
        *i = m->inodes[--m->ninodes];
}

/* Inodes without names and without lock state go away. */
static void m_gc(Model *m) {
        for (int k = 0; k < m->nfiles; k++)
                if (m_file_empty(&m->files[k]) && m->files[k].delay_until == 0)
                        m->files[k--] = m->files[--m->nfiles];
        for (int k = 0; k < m->ninodes; k++) {
                MInode *i = &m->inodes[k];
                if (i->ino == ROOT || m_links(m, i->ino) || m_file(m, i->ino, false))
                        continue;
                m_inode_remove(m, i->ino);
                k--;
        }
}

/* ---- model: namespace ---- */

static int m_dir(Model *m, uint64_t ino) {
        MInode *i = m_inode(m, ino);
        if (!i)
                return -ENOENT;
        if (!S_ISDIR(i->mode))
                return -ENOTDIR;
        if (ino != ROOT && !m_links(m, ino))
                return -ENOENT;
        return 0;
}

static int m_name(Model *m, const char *n) {
        if (!n[0] || strchr(n, '/') || !strcmp(n, ".") || !strcmp(n, ".."))
                return -EINVAL;
        if (strlen(n) > m->limits.max_name_len)
                return -ENAMETOOLONG;
        return 0;
}

static void m_touch(Model *m, uint64_t dir) {
        MInode *d = m_inode(m, dir);
        d->mtime = d->ctime = m->now;
}

static void m_add_entry(Model *m, uint64_t parent, const char *name, uint64_t ino) {
        m->entries = grow(m->entries, &m->capentries, m->nentries + 1, sizeof(MEntry));
        MEntry *e = &m->entries[m->nentries++];
        memset(e, 0, sizeof *e);
        e->parent = parent;
        snprintf(e->name, sizeof e->name, "%s", name);
        e->ino = ino;
        e->id = m->index;
}

static void m_del_entry(Model *m, MEntry *e) {
        *e = m->entries[--m->nentries];
}

static bool m_ephemeral_dir(Model *m, uint64_t dir) {
        MInode *d = m_inode(m, dir);
        for (int k = 0; k < d->nx; k++)
                if (!strcmp(d->x[k].name, "user.raftfs.ephemeral"))
                        return (d->x[k].len == 1 && d->x[k].value[0] == '1') ||
                               (d->x[k].len == 2 && !memcmp(d->x[k].value, "1\n", 2));
        return false;
}

static MInode *m_new_inode(Model *m, uint32_t mode, uint32_t uid, uint32_t gid) {
        m->inodes = grow(m->inodes, &m->capinodes, m->ninodes + 1, sizeof(MInode));
        MInode *i = &m->inodes[m->ninodes++];
        memset(i, 0, sizeof *i);
        i->ino = m->index;
        i->mode = mode;
        i->uid = uid;
        i->gid = gid;
        i->mtime = i->ctime = m->now;
        return i;
}

/* Common checks of the creating commands. */
static int m_check_new(Model *m, uint64_t parent, const char *name) {
        int r = m_dir(m, parent);
        if (r)
                return r;
        if ((r = m_name(m, name)))
                return r;
        if (m_entry(m, parent, name))
                return -EEXIST;
        if (m->index < 2)
                return -EINVAL;
        if ((uint64_t) m->ninodes >= m->limits.max_inodes)
                return -ENOSPC;
        return 0;
}

static int m_create(Model *m, const TreeCmd *c, uint64_t session, TreeResult *res, bool dir) {
        uint32_t type = c->create.mode & S_IFMT, want = dir ? S_IFDIR : S_IFREG;
        if (type && type != want)
                return -EINVAL;
        if (dir ? c->create.flags != 0 : (c->create.flags & ~TREE_CREATE_EXCL) != 0)
                return -EINVAL;
        int r = m_check_new(m, c->create.parent, c->create.name);
        if (r == -EEXIST && !dir && !(c->create.flags & TREE_CREATE_EXCL)) {
                MInode *i = m_inode(m, m_entry(m, c->create.parent, c->create.name)->ino);
                if (S_ISDIR(i->mode))
                        return -EISDIR;
                if (!S_ISREG(i->mode))
                        return -EEXIST;
                res->flags |= TREE_RESULT_EXISTED;
                res->ino = i->ino;
                return 0;
        }
        if (r)
                return r;
        if (dir && m_children(m, c->create.parent, true) + 2 >= (int) m->limits.max_links)
                return -EMLINK;
        MInode *i = m_new_inode(m, want | (c->create.mode & 07777), c->create.uid, c->create.gid);
        if (!dir && session && m_ephemeral_dir(m, c->create.parent))
                i->owner = session;
        m_add_entry(m, c->create.parent, c->create.name, i->ino);
        m_touch(m, c->create.parent);
        res->ino = i->ino;
        return 0;
}

static int m_symlink(Model *m, const TreeCmd *c, uint64_t session, TreeResult *res) {
        int r = m_check_new(m, c->symlink.parent, c->symlink.name);
        if (r)
                return r;
        size_t len = strlen(c->symlink.target);
        if (len == 0)
                return -ENOENT;
        if (len > m->limits.max_symlink_len)
                return -ENAMETOOLONG;
        if (m_total_bytes(m) + len > m->limits.max_total_bytes)
                return -ENOSPC;
        MInode *i = m_new_inode(m, S_IFLNK | 0777, c->symlink.uid, c->symlink.gid);
        i->data = (uint8_t *) strdup(c->symlink.target);
        i->size = len;
        if (session && m_ephemeral_dir(m, c->symlink.parent))
                i->owner = session;
        m_add_entry(m, c->symlink.parent, c->symlink.name, i->ino);
        m_touch(m, c->symlink.parent);
        res->ino = i->ino;
        return 0;
}

static int m_link(Model *m, const TreeCmd *c, TreeResult *res) {
        MInode *i = m_inode(m, c->link.ino);
        if (!i)
                return -ENOENT;
        int r = m_dir(m, c->link.new_parent);
        if (r || (r = m_name(m, c->link.new_name)))
                return r;
        if (m_entry(m, c->link.new_parent, c->link.new_name))
                return -EEXIST;
        if (S_ISDIR(i->mode))
                return -EPERM;
        if (!m_links(m, i->ino))
                return -ENOENT;
        if (m_links(m, i->ino) >= (int) m->limits.max_links)
                return -EMLINK;
        m_add_entry(m, c->link.new_parent, c->link.new_name, i->ino);
        i->ctime = m->now;
        m_touch(m, c->link.new_parent);
        res->ino = i->ino;
        return 0;
}

static int m_unlink(Model *m, const TreeCmd *c, bool dir) {
        int r = m_dir(m, c->unlink.parent);
        if (r || (r = m_name(m, c->unlink.name)))
                return r;
        MEntry *e = m_entry(m, c->unlink.parent, c->unlink.name);
        if (!e)
                return -ENOENT;
        MInode *i = m_inode(m, e->ino);
        if (dir && !S_ISDIR(i->mode))
                return -ENOTDIR;
        if (!dir && S_ISDIR(i->mode))
                return -EISDIR;
        if (dir && m_children(m, i->ino, false))
                return -ENOTEMPTY;
        i->ctime = m->now;
        m_touch(m, c->unlink.parent);
        m_del_entry(m, e);
        return 0;
}

static bool m_is_ancestor(Model *m, uint64_t anc, uint64_t d) {
        for (;;) {
                if (d == anc)
                        return true;
                if (d == ROOT)
                        return false;
                MEntry *e = m_entry_of(m, d);
                if (!e)
                        return false;
                d = e->parent;
        }
}

static int m_rename(Model *m, const TreeCmd *c) {
        uint32_t fl = c->rename.flags;
        uint64_t p = c->rename.parent, np = c->rename.new_parent;
        if ((fl & ~3u) || fl == 3)
                return -EINVAL;
        int r = m_dir(m, p);
        if (r || (r = m_dir(m, np)) || (r = m_name(m, c->rename.name)) || (r = m_name(m, c->rename.new_name)))
                return r;
        MEntry *se = m_entry(m, p, c->rename.name);
        if (!se)
                return -ENOENT;
        MEntry *te = m_entry(m, np, c->rename.new_name);
        if ((fl & TREE_RENAME_EXCHANGE) && !te)
                return -ENOENT;
        if ((fl & TREE_RENAME_NOREPLACE) && te)
                return -EEXIST;
        if (te && te->ino == se->ino)
                return 0;
        MInode *src = m_inode(m, se->ino), *tgt = te ? m_inode(m, te->ino) : NULL;
        bool sdir = S_ISDIR(src->mode);
        if (fl & TREE_RENAME_EXCHANGE) {
                bool tdir = S_ISDIR(tgt->mode);
                if ((sdir && m_is_ancestor(m, src->ino, np)) || (tdir && m_is_ancestor(m, tgt->ino, p)))
                        return -EINVAL;
                if (p != np && sdir != tdir &&
                    m_children(m, sdir ? np : p, true) + 2 >= (int) m->limits.max_links)
                        return -EMLINK;
                uint64_t x = se->ino;
                se->ino = te->ino;
                te->ino = x;
                src->ctime = tgt->ctime = m->now;
                m_touch(m, p);
                m_touch(m, np);
                return 0;
        }
        if (sdir && m_is_ancestor(m, src->ino, np))
                return -EINVAL;
        if (tgt) {
                if (S_ISDIR(tgt->mode) && m_children(m, tgt->ino, false))
                        return -ENOTEMPTY;
                if (sdir && !S_ISDIR(tgt->mode))
                        return -ENOTDIR;
                if (!sdir && S_ISDIR(tgt->mode))
                        return -EISDIR;
        }
        if (sdir && p != np && !tgt && m_children(m, np, true) + 2 >= (int) m->limits.max_links)
                return -EMLINK;
        uint64_t ino = se->ino;
        if (tgt) {
                tgt->ctime = m->now;
                m_del_entry(m, te);
        }
        m_del_entry(m, m_entry(m, p, c->rename.name));
        m_add_entry(m, np, c->rename.new_name, ino);
        src->ctime = m->now;
        m_touch(m, p);
        m_touch(m, np);
        return 0;
}

static void m_resize(MInode *i, uint64_t size) {
        if (size > i->size) {
                i->data = realloc(i->data, size);
                memset(i->data + i->size, 0, size - i->size);
        }
        i->size = size;
}

static int m_size_ok(Model *m, MInode *i, uint64_t size) {
        if (size > m->limits.max_file_size && size > i->size)
                return -EFBIG;
        if (size > i->size && m_total_bytes(m) + size - i->size > m->limits.max_total_bytes)
                return -ENOSPC;
        return 0;
}

static int m_setattr(Model *m, const TreeCmd *c, TreeResult *res) {
        MInode *i = m_inode(m, c->setattr.ino);
        uint32_t v = c->setattr.valid;
        if (!i)
                return -ENOENT;
        if (v & ~0x7fu)
                return -EINVAL;
        if (v & TREE_SETATTR_SIZE) {
                if (S_ISDIR(i->mode))
                        return -EISDIR;
                if (!S_ISREG(i->mode))
                        return -EINVAL;
                int r = m_size_ok(m, i, c->setattr.size);
                if (r)
                        return r;
        }
        if (v & TREE_SETATTR_MODE)
                i->mode = (i->mode & S_IFMT) | (c->setattr.mode & 07777);
        if (v & TREE_SETATTR_UID)
                i->uid = c->setattr.uid;
        if (v & TREE_SETATTR_GID)
                i->gid = c->setattr.gid;
        if (v & TREE_SETATTR_SIZE) {
                m_resize(i, c->setattr.size);
                i->mtime = m->now;
        }
        if (v & TREE_SETATTR_MTIME_NOW)
                i->mtime = m->now;
        else if (v & TREE_SETATTR_MTIME)
                i->mtime = c->setattr.mtime_usec;
        if (v)
                i->ctime = (v & TREE_SETATTR_CTIME) ? c->setattr.ctime_usec : m->now;
        res->ino = i->ino;
        return 0;
}

static int m_write(Model *m, const TreeCmd *c, TreeResult *res) {
        MInode *i = m_inode(m, c->write.ino);
        if (!i)
                return -ENOENT;
        if (S_ISDIR(i->mode))
                return -EISDIR;
        if (!S_ISREG(i->mode))
                return -EINVAL;
        if (c->write.flags & ~3u)
                return -EINVAL;
        /* Apply to a scratch copy; keep it only if every step fits. */
        uint64_t max = m->limits.max_file_size > i->size ? m->limits.max_file_size : i->size;
        uint8_t *buf = calloc(1, max + 1);
        uint64_t size = i->size;
        if (size)
                memcpy(buf, i->data, size);
        if (c->write.flags & TREE_WRITE_TRUNCATE) {
                if (c->write.truncate_size > max) {
                        free(buf);
                        return -EFBIG;
                }
                if (c->write.truncate_size > size)
                        memset(buf + size, 0, c->write.truncate_size - size);
                size = c->write.truncate_size;
        }
        for (size_t k = 0; k < c->write.n_extents; k++) {
                const TreeExtent *e = &c->write.extents[k];
                if (!e->len)
                        continue;
                uint64_t off = e->offset == TREE_WRITE_APPEND ? size : e->offset;
                if (off > max || e->len > max - off) {
                        free(buf);
                        return -EFBIG;
                }
                if (off > size)
                        memset(buf + size, 0, off - size);
                memcpy(buf + off, e->data, e->len);
                if (off + e->len > size)
                        size = off + e->len;
        }
        if (c->write.flags & TREE_WRITE_SET_SIZE) {
                if (c->write.final_size > max) {
                        free(buf);
                        return -EFBIG;
                }
                if (c->write.final_size > size)
                        memset(buf + size, 0, c->write.final_size - size);
                size = c->write.final_size;
        }
        int r = m_size_ok(m, i, size);
        if (r) {
                free(buf);
                return r;
        }
        free(i->data);
        i->data = buf;
        i->size = size;
        i->mtime = i->ctime = m->now;
        res->ino = i->ino;
        return 0;
}

static int m_xattr_name(Model *m, const char *n) {
        if (strncmp(n, "user.", 5))
                return -EOPNOTSUPP;
        if (!n[5])
                return -EINVAL;
        if (strlen(n) > m->limits.max_xattr_name_len)
                return -ERANGE;
        if (!strcmp(n, "user.raftfs.lock"))
                return -EPERM;
        return 0;
}

static int m_setxattr(Model *m, const TreeCmd *c, TreeResult *res, bool remove) {
        MInode *i = m_inode(m, c->xattr.ino);
        if (!i)
                return -ENOENT;
        int r = m_xattr_name(m, c->xattr.name);
        if (r)
                return r;
        int k;
        for (k = 0; k < i->nx && strcmp(i->x[k].name, c->xattr.name); k++)
                ;
        bool exists = k < i->nx;
        if (remove) {
                if (c->xattr.flags)
                        return -EINVAL;
                if (!exists)
                        return -ENODATA;
                i->x[k] = i->x[--i->nx];
        } else {
                uint32_t fl = c->xattr.flags;
                if ((fl & ~3u) || fl == 3)
                        return -EINVAL;
                if (c->xattr.value_len > m->limits.max_xattr_value_len)
                        return -E2BIG;
                if (exists && (fl & TREE_XATTR_CREATE))
                        return -EEXIST;
                if (!exists && (fl & TREE_XATTR_REPLACE))
                        return -ENODATA;
                uint64_t bytes = 0, nl = strlen(c->xattr.name);
                for (int j = 0; j < i->nx; j++)
                        bytes += strlen(i->x[j].name) + i->x[j].len;
                uint64_t old = exists ? nl + i->x[k].len : 0, add = nl + c->xattr.value_len;
                if (bytes - old + add > m->limits.max_xattr_bytes)
                        return -ENOSPC;
                if (add > old && m_total_bytes(m) + add - old > m->limits.max_total_bytes)
                        return -ENOSPC;
                ck_assert_int_lt(i->nx, 16);
                if (!exists)
                        k = i->nx++;
                snprintf(i->x[k].name, sizeof i->x[k].name, "%s", c->xattr.name);
                if (c->xattr.value_len)
                        memcpy(i->x[k].value, c->xattr.value, c->xattr.value_len);
                i->x[k].len = c->xattr.value_len;
        }
        i->ctime = m->now;
        res->ino = i->ino;
        return 0;
}

/* ---- model: locks ---- */

static uint64_t cell_end(uint64_t end) {
        return end >= 64 ? 64 : end;
}

static MOwner *m_powner(MFile *f, uint64_t session, uint64_t owner, bool create) {
        for (int k = 0; k < f->nposix; k++)
                if (f->posix[k].session == session && f->posix[k].owner == owner)
                        return &f->posix[k];
        if (!create)
                return NULL;
        ck_assert_int_lt(f->nposix, MAX_OWNERS);
        MOwner *o = &f->posix[f->nposix++];
        memset(o, 0, sizeof *o);
        o->session = session;
        o->owner = owner;
        return o;
}

static bool same(const MLock *a, uint64_t session, uint64_t owner) {
        return a->session == session && a->owner == owner;
}

/* Whether request l conflicts with what (session, owner) holds on f. */
static bool m_conflicts_with(MFile *f, const MLock *l, uint64_t session, uint64_t owner) {
        if (same(l, session, owner))
                return false;
        if (l->table == TREE_LOCK_FLOCK) {
                for (int k = 0; k < f->nflock; k++)
                        if (same(&f->flock[k], session, owner) && (f->flock[k].mode == EX || l->mode == EX))
                                return true;
                return false;
        }
        MOwner *o = m_powner(f, session, owner, false);
        if (!o)
                return false;
        for (uint64_t c = l->start; c <= l->end; c++)
                if (o->mode[c] && (o->mode[c] == EX || l->mode == EX))
                        return true;
        return false;
}

static bool m_holder_conflict(MFile *f, const MLock *l) {
        if (l->table == TREE_LOCK_FLOCK) {
                for (int k = 0; k < f->nflock; k++)
                        if (m_conflicts_with(f, l, f->flock[k].session, f->flock[k].owner))
                                return true;
                return false;
        }
        for (int k = 0; k < f->nposix; k++)
                if (m_conflicts_with(f, l, f->posix[k].session, f->posix[k].owner))
                        return true;
        return false;
}

static bool m_lock_conflict(const MLock *a, const MLock *b) {
        if (a->session == b->session && a->owner == b->owner)
                return false;
        if (a->mode != EX && b->mode != EX)
                return false;
        return a->start <= b->end && b->start <= a->end;
}

/* Whether a waiter before position `upto` (of table l->table) blocks l. */
static bool m_waiter_blocks(MFile *f, const MLock *l, int upto) {
        int t = l->table - 1;
        for (int k = 0; k < upto; k++) {
                const MLock *w = &f->wait[t][k];
                if (m_lock_conflict(w, l) && !m_conflicts_with(f, w, l->session, l->owner))
                        return true;
        }
        return false;
}

static void m_grant(Model *m, MFile *f, const MLock *l) {
        if (l->table == TREE_LOCK_FLOCK) {
                for (int k = 0; k < f->nflock; k++)
                        if (same(&f->flock[k], l->session, l->owner))
                                f->flock[k--] = f->flock[--f->nflock];
                MLock g = *l;
                g.token = m->index;
                g.since = m->now;
                g.request = 0;
                ck_assert_int_lt(f->nflock, MAX_OWNERS);
                f->flock[f->nflock++] = g;
                return;
        }
        MOwner *o = m_powner(f, l->session, l->owner, true);
        for (uint64_t c = l->start; c <= l->end; c++)
                o->mode[c] = l->mode;
        /* The owner's same-mode run through the range is one lock now. */
        int64_t lo = (int64_t) l->start, hi = (int64_t) l->end;
        while (lo > 0 && o->mode[lo - 1] == l->mode)
                lo--;
        while (hi < CELLS - 1 && o->mode[hi + 1] == l->mode)
                hi++;
        for (int64_t c = lo; c <= hi; c++) {
                o->token[c] = m->index;
                o->since[c] = m->now;
                o->pid[c] = l->pid;
        }
}

static void m_scan(Model *m) {
        for (int k = 0; k < m->nfiles; k++) {
                MFile *f = &m->files[k];
                if (f->delay_until)
                        continue;
                for (int t = 0; t < 2; t++) {
                        bool again = true;
                        while (again) {
                                again = false;
                                for (int j = 0; j < f->nwait[t]; j++) {
                                        MLock w = f->wait[t][j];
                                        if (m_holder_conflict(f, &w) || m_waiter_blocks(f, &w, j))
                                                continue;
                                        memmove(&f->wait[t][j], &f->wait[t][j + 1],
                                                (size_t) (f->nwait[t] - j - 1) * sizeof(MLock));
                                        f->nwait[t]--;
                                        j--;
                                        m_grant(m, f, &w);
                                        m_notice(m, TREE_NOTICE_LOCK_GRANTED, &w, m->index, 0);
                                        again = true;
                                }
                        }
                }
        }
}

static void m_drop(Model *m, MFile *f, uint64_t session, uint64_t owner, bool all, uint32_t tables, int err,
                   bool *held) {
        bool any = false;
        if (tables & TREE_RELEASE_FLOCK)
                for (int k = 0; k < f->nflock; k++)
                        if (f->flock[k].session == session && (all || f->flock[k].owner == owner)) {
                                f->flock[k--] = f->flock[--f->nflock];
                                any = true;
                        }
        if (tables & TREE_RELEASE_POSIX)
                for (int k = 0; k < f->nposix; k++)
                        if (f->posix[k].session == session && (all || f->posix[k].owner == owner)) {
                                any |= m_posix_runs(&f->posix[k]) > 0;
                                f->posix[k--] = f->posix[--f->nposix];
                        }
        for (int t = 0; t < 2; t++) {
                if (!(tables & (t == 0 ? TREE_RELEASE_FLOCK : TREE_RELEASE_POSIX)))
                        continue;
                for (int k = 0; k < f->nwait[t]; k++)
                        if (f->wait[t][k].session == session && (all || f->wait[t][k].owner == owner)) {
                                m_notice(m, TREE_NOTICE_LOCK_ABORTED, &f->wait[t][k], 0, err);
                                memmove(&f->wait[t][k], &f->wait[t][k + 1],
                                        (size_t) (f->nwait[t] - k - 1) * sizeof(MLock));
                                f->nwait[t]--;
                                k--;
                        }
        }
        if (held)
                *held = any;
}

static int m_lock(Model *m, const TreeCmd *c, uint64_t session, TreeResult *res) {
        if (!session)
                return -EINVAL;
        MInode *i = m_inode(m, c->lock.ino);
        if (!i)
                return -ENOENT;
        if (c->lock.table != 1 && c->lock.table != 2)
                return -EINVAL;
        if (c->lock.mode > EX)
                return -EINVAL;
        if (c->lock.table == 2 && c->lock.start > c->lock.end)
                return -EINVAL;
        if (c->lock.wait && !c->request && c->lock.mode != UN)
                return -EINVAL;
        bool fl = c->lock.table == TREE_LOCK_FLOCK;
        MLock l = { .session = session, .owner = c->lock.owner, .request = c->request, .pid = c->lock.pid,
                    .table = c->lock.table, .mode = c->lock.mode,
                    .start = fl ? 0 : c->lock.start, .end = fl ? 0 : cell_end(c->lock.end) };
        MFile *f = m_file(m, i->ino, false);
        if (l.mode == UN) {
                if (!f)
                        return 0;
                if (fl) {
                        for (int k = 0; k < f->nflock; k++)
                                if (same(&f->flock[k], session, l.owner))
                                        f->flock[k--] = f->flock[--f->nflock];
                } else {
                        MOwner *o = m_powner(f, session, l.owner, false);
                        for (uint64_t x = l.start; o && x <= l.end; x++)
                                o->mode[x] = 0;
                }
                return 0;
        }
        if (fl && f)
                for (int k = 0; k < f->nflock; k++)
                        if (same(&f->flock[k], session, l.owner) && f->flock[k].mode == l.mode) {
                                res->token = f->flock[k].token;
                                return 0;
                        }
        if (m_nlocks(m) + 3 > m->limits.max_locks)
                return -ENOLCK;
        f = m_file(m, i->ino, true);
        if (fl)
                for (int k = 0; k < f->nflock; k++)
                        if (same(&f->flock[k], session, l.owner))
                                f->flock[k--] = f->flock[--f->nflock];
        if (!f->delay_until && !m_holder_conflict(f, &l) && !m_waiter_blocks(f, &l, f->nwait[l.table - 1])) {
                m_grant(m, f, &l);
                res->token = m->index;
                return 0;
        }
        if (!c->lock.wait)
                return -EAGAIN;
        ck_assert_int_lt(f->nwait[l.table - 1], MAX_WAIT);
        f->wait[l.table - 1][f->nwait[l.table - 1]++] = l;
        return -EINPROGRESS;
}

static int m_cancel(Model *m, const TreeCmd *c, uint64_t session) {
        if (!session)
                return -EINVAL;
        MFile *f = m_file(m, c->lock_cancel.ino, false);
        if (!f || !m_inode(m, c->lock_cancel.ino) || !c->lock_cancel.request)
                return -ENOENT;
        for (int t = 0; t < 2; t++)
                for (int k = 0; k < f->nwait[t]; k++)
                        if (f->wait[t][k].session == session && f->wait[t][k].request == c->lock_cancel.request) {
                                m_notice(m, TREE_NOTICE_LOCK_ABORTED, &f->wait[t][k], 0, -EINTR);
                                memmove(&f->wait[t][k], &f->wait[t][k + 1],
                                        (size_t) (f->nwait[t] - k - 1) * sizeof(MLock));
                                f->nwait[t]--;
                                return 0;
                        }
        return -ENOENT;
}

static int m_release(Model *m, const TreeCmd *c, uint64_t session) {
        if (!session)
                return -EINVAL;
        uint32_t fl = c->lock_release.flags;
        if (fl & ~7u)
                return -EINVAL;
        for (int k = 0; k < m->nfiles; k++)
                if (!c->lock_release.ino || m->files[k].ino == c->lock_release.ino)
                        m_drop(m, &m->files[k], session, c->lock_release.owner, fl & TREE_RELEASE_ALL_OWNERS, fl, -EINTR,
                               NULL);
        return 0;
}

/* ---- model: sessions ---- */

static MSession *m_session(Model *m, uint64_t id) {
        for (int k = 0; k < m->nsessions; k++)
                if (m->sessions[k].id == id)
                        return &m->sessions[k];
        return NULL;
}

static void m_expire(Model *m, MSession *s, uint64_t delay_until) {
        for (int k = 0; k < m->nfiles; k++) {
                bool held;
                m_drop(m, &m->files[k], s->id, 0, true, 3, -ENOLINK, &held);
                if (held && delay_until > m->now && delay_until > m->files[k].delay_until)
                        m->files[k].delay_until = delay_until;
        }
        for (int k = 0; k < m->ninodes; k++)
                if (m->inodes[k].owner == s->id) {
                        m->inodes[k].owner = 0;
                        for (int j = 0; j < m->nentries; j++)
                                if (m->entries[j].ino == m->inodes[k].ino) {
                                        m_touch(m, m->entries[j].parent);
                                        m->inodes[k].ctime = m->now;
                                        m_del_entry(m, &m->entries[j--]);
                                }
                }
        *s = m->sessions[--m->nsessions];
}

static int m_session_open(Model *m, const TreeCmd *c, TreeResult *res) {
        const char *node = c->session_open.node;
        if (!node[0] || strlen(node) > 64)
                return -EINVAL;
        MSession *old = NULL;
        for (int k = 0; k < m->nsessions; k++)
                if (!strcmp(m->sessions[k].node, node))
                        old = &m->sessions[k];
        if (!old && (uint32_t) m->nsessions >= m->limits.max_sessions)
                return -EUSERS;
        if (old)
                m_expire(m, old, 0);
        ck_assert_int_lt(m->nsessions, 8);
        MSession *s = &m->sessions[m->nsessions++];
        memset(s, 0, sizeof *s);
        s->id = m->index;
        snprintf(s->node, sizeof s->node, "%s", node);
        s->opened = m->now;
        res->session = s->id;
        return 0;
}

static int m_session_expire(Model *m, const TreeCmd *c) {
        MSession *s = m_session(m, c->session_expire.session);
        if (!s)
                return -ENOENT;
        if (c->session_expire.flags & ~1u)
                return -EINVAL;
        uint64_t until = 0;
        if (!(c->session_expire.flags & 1) && c->session_expire.lock_delay_usec)
                until = m->now + c->session_expire.lock_delay_usec;
        m_expire(m, s, until);
        return 0;
}

static void m_limits(TreeLimits *l) {
        TreeLimits d;
        tree_limits_default(&d);
#define D(f) if (!l->f) l->f = d.f
        D(max_file_size); D(max_total_bytes); D(max_inodes); D(max_name_len); D(max_symlink_len);
        D(max_xattr_name_len); D(max_xattr_value_len); D(max_xattr_bytes); D(max_links); D(max_sessions);
        D(max_locks); D(max_session_results);
#undef D
}

/* Applies one command to the model: the tree_apply() contract. */
static void m_apply(Model *m, uint64_t index, const TreeCmd *c, TreeResult *res) {
        *res = (TreeResult) {};
        m->index = index;
        m->now = c->time_usec;
        m->nnotices = 0;
        /* Lock-delays that are over end before the command runs (their
         * waiters are granted with this index as token). */
        for (int k = 0; k < m->nfiles; k++)
                if (m->files[k].delay_until && m->files[k].delay_until <= m->now)
                        m->files[k].delay_until = 0;
        m_scan(m);
        m_gc(m);
        MSession *s = NULL;
        if (c->session) {
                s = m_session(m, c->session);
                if (!s) {
                        res->err = -ENOLINK;
                        goto done;
                }
                if (c->request) {
                        for (int k = 0; k < s->nres; k++)
                                if (s->res[k].request == c->request) {
                                        res->err = s->res[k].err;
                                        res->flags = s->res[k].flags | TREE_RESULT_DUPLICATE;
                                        if (c->type == TREE_CMD_LOCK)
                                                res->token = s->res[k].value;
                                        else
                                                res->ino = s->res[k].value;
                                        goto done;
                                }
                        if (c->request < s->floor) {
                                res->err = -EALREADY;
                                res->flags = TREE_RESULT_DUPLICATE;
                                goto done;
                        }
                }
        }
        uint64_t sid = s ? s->id : 0;
        switch (c->type) {
        case TREE_CMD_CREATE: res->err = m_create(m, c, sid, res, false); break;
        case TREE_CMD_MKDIR: res->err = m_create(m, c, sid, res, true); break;
        case TREE_CMD_SYMLINK: res->err = m_symlink(m, c, sid, res); break;
        case TREE_CMD_LINK: res->err = m_link(m, c, res); break;
        case TREE_CMD_UNLINK: res->err = m_unlink(m, c, false); break;
        case TREE_CMD_RMDIR: res->err = m_unlink(m, c, true); break;
        case TREE_CMD_RENAME: res->err = m_rename(m, c); break;
        case TREE_CMD_SETATTR: res->err = m_setattr(m, c, res); break;
        case TREE_CMD_WRITE: res->err = m_write(m, c, res); break;
        case TREE_CMD_SETXATTR: res->err = m_setxattr(m, c, res, false); break;
        case TREE_CMD_REMOVEXATTR: res->err = m_setxattr(m, c, res, true); break;
        case TREE_CMD_SESSION_OPEN: res->err = m_session_open(m, c, res); break;
        case TREE_CMD_SESSION_EXPIRE: res->err = m_session_expire(m, c); break;
        case TREE_CMD_TICK: break;
        case TREE_CMD_SET_LIMITS: m->limits = c->set_limits.limits; m_limits(&m->limits); break;
        case TREE_CMD_LOCK: res->err = m_lock(m, c, sid, res); break;
        case TREE_CMD_LOCK_CANCEL: res->err = m_cancel(m, c, sid); break;
        case TREE_CMD_LOCK_RELEASE: res->err = m_release(m, c, sid); break;
        default: ck_abort();
        }
        if (res->err && res->err != -EINPROGRESS)
                *res = (TreeResult) { .err = res->err, .flags = res->flags };
        if (c->session && (s = m_session(m, c->session))) {
                if (c->ack > s->floor) {
                        s->floor = c->ack;
                        for (int k = 0; k < s->nres; k++)
                                if (s->res[k].request < s->floor)
                                        s->res[k--] = s->res[--s->nres];
                }
                if (c->request && c->request >= s->floor) {
                        ck_assert_int_lt(s->nres, 512);
                        s->res[s->nres++] = (MRes) { c->request, res->err, res->flags,
                                                     c->type == TREE_CMD_LOCK ? res->token : res->ino };
                }
        }
done:
        m_scan(m);
        m_gc(m);
        /* Result attributes come from the final state. */
        if (res->ino) {
                MInode *i = m_inode(m, res->ino);
                if (i)
                        m_attr(m, i, &res->attr);
        }
}

/* ---------------- comparison ---------------- */

static void cmp_attr(const TreeAttr *a, const TreeAttr *b, const char *what) {
        ck_assert_msg(a->ino == b->ino && a->mode == b->mode && a->nlink == b->nlink && a->uid == b->uid &&
                      a->gid == b->gid && a->size == b->size && a->mtime_usec == b->mtime_usec &&
                      a->ctime_usec == b->ctime_usec,
                      "%s: attr of %" PRIu64 " differs: mode %o/%o nlink %u/%u size %" PRIu64 "/%" PRIu64
                      " mtime %" PRIu64 "/%" PRIu64 " ctime %" PRIu64 "/%" PRIu64,
                      what, a->ino, a->mode, b->mode, a->nlink, b->nlink, a->size, b->size, a->mtime_usec,
                      b->mtime_usec, a->ctime_usec, b->ctime_usec);
}

typedef struct DirList {
        char names[256][16];
        uint64_t inos[256];
        int n;
} DirList;

static int dir_cb(void *userdata, const char *name, const TreeAttr *attr, uint64_t next_cookie) {
        DirList *l = userdata;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
                return 0;
        ck_assert_int_lt(l->n, 256);
        snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
        l->inos[l->n++] = attr->ino;
        return 0;
}

static int cmp_entry_id(const void *a, const void *b) {
        uint64_t x = (*(MEntry * const *) a)->id, y = (*(MEntry * const *) b)->id;
        return x < y ? -1 : x > y;
}

typedef struct Run {
        uint64_t session, owner, start, end, token, since;
        uint32_t pid;
        uint8_t mode;
} Run;

#define CMP(f) if (x->f != y->f) return x->f < y->f ? -1 : 1
static int cmp_run(const void *a, const void *b) {
        const Run *x = a, *y = b;
        CMP(session);
        CMP(owner);
        CMP(start);
        CMP(end);
        CMP(mode);
        CMP(token);
        CMP(since);
        CMP(pid);
        return 0;
}

/* Parses the tree's lock text into holder runs and waiter lines. */
static void cmp_locks(Model *m, Tree *t, MFile *f, uint64_t ino) {
        /* Expected text, built from the model in the documented format:
         * holders are compared as sorted sets (grant order is the tree's
         * bookkeeping), waiters line by line in queue order. */
        Run exp[256], got[256];
        int ne = 0, ng = 0;
        char wexp[4096] = "", wgot[4096] = "";
        if (f) {
                for (int k = 0; k < f->nflock; k++) {
                        MLock *l = &f->flock[k];
                        exp[ne++] = (Run) { l->session, l->owner, 0, UINT64_MAX, l->token, l->since / 1000, l->pid,
                                            (uint8_t) (l->mode | 0x10) };
                }
                for (int k = 0; k < f->nposix; k++) {
                        MOwner *o = &f->posix[k];
                        for (int c = 0; c < CELLS; c++) {
                                if (!o->mode[c] || (c > 0 && o->mode[c - 1] == o->mode[c]))
                                        continue;
                                int e = c;
                                while (e + 1 < CELLS && o->mode[e + 1] == o->mode[c]) {
                                        ck_assert_uint_eq(o->token[e + 1], o->token[c]);
                                        e++;
                                }
                                ck_assert_int_lt(ne, 256);
                                exp[ne++] = (Run) { o->session, o->owner, (uint64_t) c,
                                                    e == 64 ? UINT64_MAX : (uint64_t) e, o->token[c],
                                                    o->since[c] / 1000, o->pid[c], o->mode[c] };
                        }
                }
                for (int tb = 0; tb < 2; tb++)
                        for (int k = 0; k < f->nwait[tb]; k++) {
                                MLock *l = &f->wait[tb][k];
                                char line[200], range[64] = "";
                                MSession *s = m_session(m, l->session);
                                if (tb == 1) {
                                        if (l->end == 64)
                                                snprintf(range, sizeof range, " range=%" PRIu64 "-eof", l->start);
                                        else
                                                snprintf(range, sizeof range, " range=%" PRIu64 "-%" PRIu64, l->start, l->end);
                                }
                                snprintf(line, sizeof line, "waiting mode=%s%s%s node=%s pid=%u\n",
                                         tb ? "posix-" : "", l->mode == EX ? "exclusive" : "shared", range,
                                         s ? s->node : "?", l->pid);
                                strncat(wexp, line, sizeof wexp - strlen(wexp) - 1);
                        }
        }
        char *text = lock_text(t, ino);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                if (!strncmp(line, "waiting ", 8)) {
                        strncat(wgot, line, sizeof wgot - strlen(wgot) - 2);
                        strcat(wgot, "\n");
                        continue;
                }
                char mode[32], node[16], range[64] = "";
                Run r = {};
                if (!strncmp(line, "mode=posix-", 11)) {
                        ck_assert_int_eq(sscanf(line, "mode=%31s range=%63s token=%" SCNu64 " node=%15s pid=%u since=%" SCNu64,
                                                mode, range, &r.token, node, &r.pid, &r.since), 6);
                        char *dash = strchr(range, '-');
                        r.start = strtoull(range, NULL, 10);
                        r.end = !strcmp(dash + 1, "eof") ? UINT64_MAX : strtoull(dash + 1, NULL, 10);
                        r.mode = !strcmp(mode, "posix-exclusive") ? EX : SH;
                } else {
                        ck_assert_int_eq(sscanf(line, "mode=%31s token=%" SCNu64 " node=%15s pid=%u since=%" SCNu64,
                                                mode, &r.token, node, &r.pid, &r.since), 5);
                        r.start = 0;
                        r.end = UINT64_MAX;
                        r.mode = (uint8_t) ((!strcmp(mode, "exclusive") ? EX : SH) | 0x10);
                }
                /* node name -> session */
                for (int k = 0; k < m->nsessions; k++)
                        if (!strcmp(m->sessions[k].node, node))
                                r.session = m->sessions[k].id;
                ck_assert_int_lt(ng, 256);
                got[ng++] = r;
        }
        free(text);
        ck_assert_msg(!strcmp(wexp, wgot), "ino %" PRIu64 " waiters differ:\nmodel:\n%stree:\n%s", ino, wexp, wgot);
        ck_assert_int_eq(ne, ng);
        /* The text does not carry owners: compare without them. */
        for (int k = 0; k < ne; k++)
                exp[k].owner = 0;
        qsort(exp, (size_t) ne, sizeof(Run), cmp_run);
        qsort(got, (size_t) ng, sizeof(Run), cmp_run);
        for (int k = 0; k < ne; k++)
                ck_assert_msg(exp[k].session == got[k].session && exp[k].start == got[k].start &&
                              exp[k].end == got[k].end && exp[k].token == got[k].token &&
                              exp[k].since == got[k].since && exp[k].pid == got[k].pid && exp[k].mode == got[k].mode,
                              "ino %" PRIu64 " holder %d differs: [%" PRIu64 ",%" PRIu64 "] token %" PRIu64 "/%" PRIu64
                              " mode %d/%d pid %u/%u",
                              ino, k, exp[k].start, exp[k].end, exp[k].token, got[k].token, exp[k].mode, got[k].mode,
                              exp[k].pid, got[k].pid);
        uint64_t deadline = UINT64_MAX;
        for (int k = 0; k < m->nfiles; k++)
                if (m->files[k].delay_until && m->files[k].delay_until < deadline)
                        deadline = m->files[k].delay_until;
        ck_assert_uint_eq(tree_next_deadline(t), deadline);
}

static void compare_all(Model *m, Tree *t) {
        TreeStatfs st;
        tree_statfs(t, &st);
        ck_assert_uint_eq(st.inodes, (uint64_t) m->ninodes);
        ck_assert_uint_eq(st.total_bytes, m_total_bytes(m));
        ck_assert_uint_eq(st.sessions, (uint32_t) m->nsessions);
        ck_assert_uint_eq(st.locks, m_nlocks(m));
        TreeLimits l;
        tree_get_limits(t, &l);
        ck_assert(!memcmp(&l, &m->limits, sizeof l));
        for (int k = 0; k < m->ninodes; k++) {
                MInode *i = &m->inodes[k];
                TreeAttr a, b;
                ck_assert_int_eq(tree_getattr(t, i->ino, &a), 0);
                m_attr(m, i, &b);
                cmp_attr(&a, &b, "getattr");
                if (S_ISREG(i->mode)) {
                        const uint8_t *d;
                        size_t n;
                        ck_assert_int_eq(tree_read(t, i->ino, 0, 1 << 20, &d, &n), 0);
                        ck_assert_uint_eq(n, i->size);
                        ck_assert(n == 0 || !memcmp(d, i->data, n));
                } else if (S_ISLNK(i->mode)) {
                        const char *target;
                        ck_assert_int_eq(tree_readlink(t, i->ino, &target), 0);
                        ck_assert_uint_eq(strlen(target), i->size);
                        ck_assert(!memcmp(target, i->data, i->size));
                } else {
                        /* Directory listing in creation order. */
                        MEntry *v[256];
                        int n = 0;
                        for (int j = 0; j < m->nentries; j++)
                                if (m->entries[j].parent == i->ino)
                                        v[n++] = &m->entries[j];
                        qsort(v, (size_t) n, sizeof(MEntry *), cmp_entry_id);
                        DirList dl = {};
                        ck_assert_int_eq(tree_readdir(t, i->ino, 0, dir_cb, &dl), 0);
                        ck_assert_int_eq(dl.n, n);
                        for (int j = 0; j < n; j++) {
                                ck_assert_str_eq(dl.names[j], v[j]->name);
                                ck_assert_uint_eq(dl.inos[j], v[j]->ino);
                        }
                }
                /* xattrs */
                Buf b1 = BUF_INIT;
                ck_assert_int_eq(tree_listxattr(t, i->ino, &b1), 0);
                int nx = 0;
                for (size_t p = 0; p < b1.len; p += strlen((char *) b1.data + p) + 1) {
                        const char *name = (const char *) b1.data + p;
                        int j;
                        for (j = 0; j < i->nx && strcmp(i->x[j].name, name); j++)
                                ;
                        ck_assert_int_lt(j, i->nx);
                        Buf v = BUF_INIT;
                        ck_assert_int_eq(tree_getxattr(t, i->ino, name, &v), 0);
                        ck_assert_uint_eq(v.len, i->x[j].len);
                        ck_assert(v.len == 0 || !memcmp(v.data, i->x[j].value, v.len));
                        buf_done(&v);
                        nx++;
                }
                ck_assert_int_eq(nx, i->nx);
                buf_done(&b1);
                cmp_locks(m, t, m_file(m, i->ino, false), i->ino);
                TreeSessionInfo si;
                if (i->owner)
                        ck_assert_int_eq(tree_session_get(t, i->owner, &si), 0);
        }
        for (int k = 0; k < m->nentries; k++) {
                TreeAttr a;
                ck_assert_int_eq(tree_lookup(t, m->entries[k].parent, m->entries[k].name, &a), 0);
                ck_assert_uint_eq(a.ino, m->entries[k].ino);
        }
        for (int k = 0; k < m->nsessions; k++) {
                TreeSessionInfo si;
                ck_assert_int_eq(tree_session_get(t, m->sessions[k].id, &si), 0);
                ck_assert_str_eq(si.node, m->sessions[k].node);
                ck_assert_uint_eq(si.opened_usec, m->sessions[k].opened);
                uint32_t eph = 0;
                for (int j = 0; j < m->ninodes; j++)
                        eph += m->inodes[j].owner == m->sessions[k].id;
                ck_assert_uint_eq(si.ephemeral, eph);
        }
}

/* ---------------- generator ---------------- */

static const char *const NAMES[] = { "a", "b", "c", "d", "e", "f" };
static const char *const NODES[] = { "n1", "n2", "n3", "n4" };

typedef struct Gen {
        Model *m;
        char name1[300], name2[300], target[40], xname[300];
        uint8_t value[40];
        uint8_t data[4][24];
        TreeExtent ext[4];
        uint64_t next_request[8];       /* per session slot, by session id */
        uint64_t sess_ids[8];
} Gen;

static uint64_t pick_ino(Gen *g) {
        Model *m = g->m;
        uint64_t r = rn(20);
        if (r == 0)
                return rn(m->index + 5) + 1;    /* maybe missing */
        if (r < 6) {
                /* a directory */
                for (int tries = 0; tries < 8; tries++) {
                        MInode *i = &m->inodes[rn((uint64_t) m->ninodes)];
                        if (S_ISDIR(i->mode))
                                return i->ino;
                }
                return ROOT;
        }
        return m->inodes[rn((uint64_t) m->ninodes)].ino;
}

/* A regular file most of the time. */
static uint64_t pick_file(Gen *g) {
        Model *m = g->m;
        if (rn(5))
                for (int tries = 0; tries < 8; tries++) {
                        MInode *i = &m->inodes[rn((uint64_t) m->ninodes)];
                        if (S_ISREG(i->mode))
                                return i->ino;
                }
        return pick_ino(g);
}

/* A file with lock state half of the time, for contention. */
static uint64_t pick_lock_ino(Gen *g) {
        Model *m = g->m;
        if (m->nfiles && rn(2))
                return m->files[rn((uint64_t) m->nfiles)].ino;
        return pick_file(g);
}

static void pick_name(Gen *g, char *buf) {
        uint64_t r = rn(60);
        if (r == 0)
                strcpy(buf, "");
        else if (r == 1)
                strcpy(buf, r % 2 ? "." : "..");
        else if (r == 2)
                strcpy(buf, "x/y");
        else if (r == 3)
                strcpy(buf, "longname123");
        else
                strcpy(buf, NAMES[rn(6)]);
}

static uint64_t pick_session(Gen *g) {
        Model *m = g->m;
        if (m->nsessions == 0 || rn(20) == 0)
                return rn(4) == 0 ? 7777 : 0;
        return m->sessions[rn((uint64_t) m->nsessions)].id;
}

static void gen_limits(TreeLimits *l, int variant) {
        if (variant == 0)
                *l = (TreeLimits) { .max_file_size = 64, .max_total_bytes = 1500, .max_inodes = 40,
                                    .max_name_len = 8, .max_symlink_len = 16, .max_xattr_name_len = 20,
                                    .max_xattr_value_len = 24, .max_xattr_bytes = 60, .max_links = 5,
                                    .max_sessions = 3, .max_locks = 48, .max_session_results = 4096 };
        else
                *l = (TreeLimits) { .max_file_size = 48, .max_total_bytes = 1000, .max_inodes = 50,
                                    .max_name_len = 6, .max_symlink_len = 12, .max_xattr_name_len = 16,
                                    .max_xattr_value_len = 20, .max_xattr_bytes = 50, .max_links = 7,
                                    .max_sessions = 4, .max_locks = 32, .max_session_results = 4096 };
}

/* Fills *c with a random command (pointers into g). */
static void gen(Gen *g, TreeCmd *c) {
        Model *m = g->m;
        *c = (TreeCmd) {};
        c->session = pick_session(g);
        /* Mix (out of 100): namespace 57, sessions 4 (more while none is
         * open), tick 2, limits 1, locks 36. */
        uint64_t kind = rn(100);
        if (m->nsessions == 0 && rn(3) == 0)
                kind = 64;
        pick_name(g, g->name1);
        pick_name(g, g->name2);
        if (kind < 10) {
                c->type = TREE_CMD_CREATE;
                c->create = (typeof(c->create)) { pick_ino(g), g->name1, rn(10) ? 0644 : (rn(2) ? S_IFREG | 0600 : S_IFDIR),
                                                  (uint32_t) rn(3), (uint32_t) rn(3), rn(8) ? (uint32_t) rn(2) : 4 };
        } else if (kind < 14) {
                c->type = TREE_CMD_MKDIR;
                c->create = (typeof(c->create)) { pick_ino(g), g->name1, 0755, 0, 0, rn(20) ? 0 : 1 };
        } else if (kind < 16) {
                c->type = TREE_CMD_SYMLINK;
                size_t len = rn(20);
                memset(g->target, 't', len);
                g->target[len] = 0;
                c->symlink = (typeof(c->symlink)) { pick_ino(g), g->name1, g->target, 1, 2 };
        } else if (kind < 19) {
                c->type = TREE_CMD_LINK;
                c->link = (typeof(c->link)) { pick_file(g), pick_ino(g), g->name1 };
        } else if (kind < 29) {
                c->type = rn(3) ? TREE_CMD_UNLINK : TREE_CMD_RMDIR;
                c->unlink = (typeof(c->unlink)) { pick_ino(g), g->name1 };
        } else if (kind < 35) {
                c->type = TREE_CMD_RENAME;
                uint64_t f = rn(10);
                c->rename = (typeof(c->rename)) { pick_ino(g), g->name1, pick_ino(g), g->name2,
                                                  f < 5 ? 0 : f < 7 ? TREE_RENAME_NOREPLACE : f < 9 ? TREE_RENAME_EXCHANGE : (uint32_t) rn(8) };
        } else if (kind < 40) {
                c->type = TREE_CMD_SETATTR;
                c->setattr = (typeof(c->setattr)) { pick_file(g), (uint32_t) rn(rn(30) ? 0x80 : 0x200), (uint32_t) rn(010000),
                                                    (uint32_t) rn(3), (uint32_t) rn(3), rn(70), rn(1000000), rn(1000000) };
        } else if (kind < 51) {
                c->type = TREE_CMD_WRITE;
                size_t n = rn(4);
                for (size_t k = 0; k < n; k++) {
                        size_t len = rn(20);
                        for (size_t j = 0; j < len; j++)
                                g->data[k][j] = (uint8_t) rnd();
                        g->ext[k] = (TreeExtent) { rn(6) == 0 ? TREE_WRITE_APPEND : rn(70), g->data[k], len };
                }
                c->write = (typeof(c->write)) { pick_file(g), (uint32_t) rn(rn(30) ? 4 : 8), rn(60), rn(70), g->ext, n };
        } else if (kind < 57) {
                c->type = rn(3) ? TREE_CMD_SETXATTR : TREE_CMD_REMOVEXATTR;
                uint64_t x = rn(30);
                if (x == 0)
                        strcpy(g->xname, "trusted.x");
                else if (x == 1)
                        strcpy(g->xname, "user.");
                else if (x == 2)
                        strcpy(g->xname, "user.raftfs.lock");
                else if (x == 3)
                        strcpy(g->xname, "user.much_too_long_for_it");
                else if (x < 10)
                        strcpy(g->xname, "user.raftfs.ephemeral");
                else
                        snprintf(g->xname, sizeof g->xname, "user.%s", NAMES[rn(4)]);
                size_t len = rn(10) ? rn(8) : rn(30);
                for (size_t j = 0; j < len; j++)
                        g->value[j] = (uint8_t) ('0' + rn(3));
                if (x >= 4 && x < 10 && rn(2)) {
                        len = 1;
                        g->value[0] = '1';
                }
                c->xattr = (typeof(c->xattr)) { pick_ino(g), g->xname, g->value, len,
                                                c->type == TREE_CMD_SETXATTR ? (uint32_t) rn(rn(10) ? 3 : 4) : (uint32_t) (rn(20) == 0) };
        } else if (kind < 60 || kind == 64) {
                c->type = TREE_CMD_SESSION_OPEN;
                c->session = 0;
                c->session_open.node = NODES[rn(4)];
        } else if (kind < 61) {
                c->type = TREE_CMD_SESSION_EXPIRE;
                c->session = 0;
                c->session_expire.session = m->nsessions && rn(6) ? m->sessions[rn((uint64_t) m->nsessions)].id : rn(100);
                c->session_expire.lock_delay_usec = rn(2) ? rn(5000) : 0;
                c->session_expire.flags = rn(4) == 0 ? TREE_EXPIRE_GRACEFUL : (rn(30) ? 0 : 2);
        } else if (kind < 63) {
                c->type = TREE_CMD_TICK;
        } else if (kind < 64 || (kind == 65 && rn(2))) {
                c->type = TREE_CMD_SET_LIMITS;
                c->session = 0;
                gen_limits(&c->set_limits.limits, (int) rn(2));
        } else if (kind < 88) {
                c->type = TREE_CMD_LOCK;
                uint64_t a = rn(64), b = rn(6) == 0 ? TREE_LOCK_EOF : a + rn(10);
                if (b != TREE_LOCK_EOF && b > 63)
                        b = 63;
                if (rn(40) == 0)
                        b = a - 1;      /* start > end (or EOF when a == 0) */
                c->lock = (typeof(c->lock)) { rn(8) ? pick_lock_ino(g) : pick_ino(g),
                                              rn(4) + 1, (uint32_t) rn(1000), (uint8_t) (rn(40) ? rn(2) + 1 : rn(4)),
                                              (uint8_t) (rn(5) == 0 ? UN : rn(2) + 1), rn(3) != 0, a, b };
                if (rn(50) == 0)
                        c->lock.mode = 3;
        } else if (kind < 94) {
                c->type = TREE_CMD_LOCK_CANCEL;
                c->lock_cancel.ino = m->nfiles ? m->files[rn((uint64_t) m->nfiles)].ino : pick_ino(g);
                c->lock_cancel.request = rn(g->next_request[c->session % 8] + 2);
                /* prefer a queued request of the author */
                MFile *f = m_file(m, c->lock_cancel.ino, false);
                for (int t = 0; f && t < 2 && rn(4); t++)
                        for (int k = 0; k < f->nwait[t]; k++)
                                if (f->wait[t][k].session == c->session && rn(2))
                                        c->lock_cancel.request = f->wait[t][k].request;
        } else {
                c->type = TREE_CMD_LOCK_RELEASE;
                c->lock_release.ino = rn(4) ? (m->nfiles ? m->files[rn((uint64_t) m->nfiles)].ino : pick_ino(g)) : 0;
                c->lock_release.owner = rn(4) + 1;
                c->lock_release.flags = (uint32_t) (rn(30) ? rn(8) : rn(16));
        }
        if (c->session) {
                uint64_t *next = &g->next_request[c->session % 8];
                if (g->sess_ids[c->session % 8] != c->session) {
                        g->sess_ids[c->session % 8] = c->session;
                        *next = 0;
                }
                if (rn(8))
                        c->request = ++*next;
                c->ack = *next > 20 ? *next - rn(20) : (*next ? 1 : 0);
        }
}

/* ---------------- driver ---------------- */

typedef struct Past {
        uint8_t *data;
        size_t len;
        uint64_t session;
} Past;

static void compare_result(const TreeResult *a, const TreeResult *b, const TreeCmd *c, uint64_t step) {
        ck_assert_msg(a->err == b->err && a->flags == b->flags && a->ino == b->ino && a->token == b->token &&
                      a->session == b->session,
                      "step %" PRIu64 " %s: tree err %d flags %u ino %" PRIu64 " token %" PRIu64
                      " / model err %d flags %u ino %" PRIu64 " token %" PRIu64,
                      step, tree_cmd_type_to_string(c->type), a->err, a->flags, a->ino, a->token, b->err, b->flags,
                      b->ino, b->token);
        if (a->ino)
                cmp_attr(&a->attr, &b->attr, "result");
}

static int cmp_notice(const void *a, const void *b) {
        const MNotice *x = a, *y = b;
        CMP(type);
        CMP(session);
        CMP(request);
        CMP(token);
        CMP(err);
        return 0;
}

static void compare_notices(Model *m, const TreeNotices *n) {
        MNotice got[256];
        int ng = 0;
        for (size_t k = 0; k < n->n; k++) {
                const TreeNotice *x = &n->items[k];
                if (x->type != TREE_NOTICE_LOCK_GRANTED && x->type != TREE_NOTICE_LOCK_ABORTED)
                        continue;
                ck_assert_int_lt(ng, 256);
                got[ng++] = (MNotice) { x->type, x->session, x->request, x->token, x->err };
        }
        ck_assert_int_eq(ng, m->nnotices);
        qsort(got, (size_t) ng, sizeof(MNotice), cmp_notice);
        qsort(m->notices, (size_t) ng, sizeof(MNotice), cmp_notice);
        for (int k = 0; k < ng; k++)
                ck_assert_msg(cmp_notice(&got[k], &m->notices[k]) == 0,
                              "notice %d: tree type %d s=%" PRIu64 " r=%" PRIu64 " token %" PRIu64 " err %d / model type %d s=%" PRIu64
                              " r=%" PRIu64 " token %" PRIu64 " err %d",
                              k, got[k].type, got[k].session, got[k].request, got[k].token, got[k].err, m->notices[k].type,
                              m->notices[k].session, m->notices[k].request, m->notices[k].token, m->notices[k].err);
}

static void model_free(Model *m) {
        for (int k = 0; k < m->ninodes; k++)
                free(m->inodes[k].data);
        free(m->inodes);
        free(m->entries);
        free(m->files);
}

/* Outcome histogram: [type][errno bucket] — shows what a run exercised. */
static uint64_t hist[_TREE_CMD_MAX][3];
static uint64_t errs[_TREE_CMD_MAX][140];

static void run_model(uint64_t seed, uint64_t steps) {
        fprintf(stderr, "tree model: seed %" PRIu64 ", %" PRIu64 " steps (TREE_MODEL_SEED / TREE_MODEL_STEPS)\n",
                seed, steps);
        rng = seed * 0x9e3779b97f4a7c15 + 1;
        TreeLimits limits;
        gen_limits(&limits, 0);
        m_limits(&limits);
        Tree *t = tree_new(&limits);
        Model m = { .limits = limits };
        m.inodes = grow(NULL, &m.capinodes, 1, sizeof(MInode));
        m.ninodes = 1;
        memset(&m.inodes[0], 0, sizeof(MInode));
        m.inodes[0] = (MInode) { .ino = ROOT, .mode = S_IFDIR | 0755 };
        Gen g = { .m = &m };
        TreeNotices notices = {};
        Past past[16] = {};
        uint64_t now = 1000000, restores = 0, dups = 0;
        for (uint64_t step = 0, index = 2; step < steps; step++, index++) {
                TreeCmd c;
                Buf b = BUF_INIT;
                TreeResult tr, mr;
                now += rn(2000);
                if (rn(50) == 0)
                        now -= rn(now / 4);     /* another proposer's clock */
                uint64_t pi = rn(16);
                if (rn(30) == 0 && past[pi].data) {
                        /* A retried proposal: the same bytes again. */
                        ck_assert_int_eq(buf_append(&b, past[pi].data, past[pi].len), 0);
                        dups++;
                } else {
                        gen(&g, &c);
                        c.time_usec = now;
                        ck_assert_int_eq(tree_cmd_encode(&c, &b), 0);
                        if (c.request) {
                                free(past[pi].data);
                                past[pi] = (Past) { malloc(b.len), b.len, c.session };
                                memcpy(past[pi].data, b.data, b.len);
                        }
                }
                TreeCmd d;
                ck_assert_int_eq(tree_cmd_decode(b.data, b.len, &d), 0);
                tree_notices_clear(&notices);
                ck_assert_int_eq(tree_apply(t, index, b.data, b.len, &tr, &notices), 0);
                m_apply(&m, index, &d, &mr);
                compare_result(&tr, &mr, &d, step);
                hist[d.type][tr.err == 0 ? 0 : tr.err == -EINPROGRESS ? 2 : 1]++;
                if (tr.err < 0 && -tr.err < 140)
                        errs[d.type][-tr.err]++;
                compare_notices(&m, &notices);
                tree_cmd_done(&d);
                buf_done(&b);
                if (step % 500 == 0 || step + 1 == steps)
                        compare_all(&m, t);
                if (rn(3000) == 0 || step + 1 == steps) {
                        Buf s1 = BUF_INIT, s2 = BUF_INIT;
                        Tree *u;
                        ck_assert_int_eq(tree_snapshot_write(t, &s1), 0);
                        ck_assert_int_eq(tree_snapshot_load(s1.data, s1.len, &u), 0);
                        ck_assert_int_eq(tree_snapshot_write(u, &s2), 0);
                        ck_assert_uint_eq(s1.len, s2.len);
                        ck_assert(!memcmp(s1.data, s2.data, s1.len));
                        tree_free(t);
                        t = u;          /* continue on the restored tree */
                        compare_all(&m, t);
                        restores++;
                        buf_done(&s1);
                        buf_done(&s2);
                }
        }
        fprintf(stderr, "tree model: ok, %" PRIu64 " restores, %" PRIu64 " retried proposals, %d inodes, %d sessions at the end\n",
                restores, dups, m.ninodes, m.nsessions);
        for (int k = 0; k < 16; k++)
                free(past[k].data);
        tree_notices_done(&notices);
        tree_free(t);
        model_free(&m);
}

static uint64_t env_u64(const char *name, uint64_t def) {
        const char *v = getenv(name);
        return v && *v ? strtoull(v, NULL, 0) : def;
}

START_TEST(test_model) {
        uint64_t steps = env_u64("TREE_MODEL_STEPS", 100000);
        uint64_t seed = env_u64("TREE_MODEL_SEED", 0);
        if (seed) {
                run_model(seed, steps);
                return;
        }
        /* Several seeds share the budget, so both limit sets and many session
         * histories are covered. */
        for (uint64_t s = 1; s <= 4; s++)
                run_model(s, steps / 4);
        if (getenv("TREE_MODEL_HIST"))
                for (int t = 1; t < _TREE_CMD_MAX; t++)
                {
                        fprintf(stderr, "  %-15s ok %8" PRIu64 "  error %8" PRIu64 "  queued %8" PRIu64 "  errnos:",
                                tree_cmd_type_to_string(t), hist[t][0], hist[t][1], hist[t][2]);
                        for (int e = 1; e < 140; e++)
                                if (errs[t][e])
                                        fprintf(stderr, " %d:%" PRIu64, e, errs[t][e]);
                        fprintf(stderr, "\n");
                }
}
END_TEST

int main(void) {
        Suite *s = suite_create("tree-model");
        TCase *tc = tcase_create("model");
        tcase_set_timeout(tc, 3600);
        tcase_add_test(tc, test_model);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
