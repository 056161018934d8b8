#include "config.h"
/* ns.c — the namespace commands: create, mkdir, symlink, link, unlink,
 * rmdir, rename (plain, NOREPLACE, EXCHANGE), setattr, write, setxattr,
 * removexattr.
 *
 * Each command first validates everything that can fail with an errno
 * (existence, types, names, limits) and only then changes state, so an errno
 * path changes nothing. Allocation failure after that point is fatal for the
 * replica (Apply.oom, see tree_apply()). Timestamps come from the command
 * (time_usec); a changed directory gets mtime = ctime = that time, a changed
 * inode ctime = that time. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/macro.h"
#include "tree/tree-internal.h"

#define EPHEMERAL_XATTR "user.raftfs.ephemeral"
#define LOCK_XATTR "user.raftfs.lock"

static int oom(Apply *a) {
        a->oom = -ENOMEM;
        return -ENOMEM;
}

static uint64_t now(const Apply *a) {
        return a->cmd->time_usec;
}

/* A live directory: exists, is a directory and has not been removed. */
static int get_dir(Apply *a, uint64_t ino, Inode **ret) {
        Inode *i = tree_inode(a->t, ino);
        if (!i)
                return -ENOENT;
        if (!S_ISDIR(i->mode))
                return -ENOTDIR;
        if (!i->links && i != a->t->root)
                return -ENOENT;
        *ret = i;
        return 0;
}

static int check_name(const Apply *a, const char *name) {
        if (!name_valid(name))
                return -EINVAL;
        if (strlen(name) > a->t->limits.max_name_len)
                return -ENAMETOOLONG;
        return 0;
}

static void touch_dir(Apply *a, Inode *dir) {
        dir->mtime = dir->ctime = now(a);
        notice_inode(a, dir->ino, TREE_CHANGE_ATTR | TREE_CHANGE_ENTRIES);
}

static void set_result(Apply *a, const Inode *i) {
        a->result->ino = i->ino;
        inode_fill_attr(i, &a->result->attr);
}

static bool dir_is_ephemeral(const Inode *dir) {
        const Xattr *x = xattrs_find(dir->xattrs, EPHEMERAL_XATTR);
        return x && ephemeral_value(x->value, x->len);
}

/* Common checks of a command that creates inode number a->index named
 * parent/name: the errno, or 0 with *ret_parent set. */
static int check_new(Apply *a, uint64_t parent, const char *name, Inode **ret_parent) {
        Inode *p;
        int r = get_dir(a, parent, &p);
        if (r < 0)
                return r;
        *ret_parent = p;
        r = check_name(a, name);
        if (r < 0)
                return r;
        if (tree_dirent(a->t, p, name))
                return -EEXIST;
        if (a->index < 2)
                return -EINVAL;
        if (a->t->n_inodes >= a->t->limits.max_inodes)
                return -ENOSPC;
        return 0;
}

/* Inserts the new inode i as parent/name; takes ownership of i. */
static int link_new(Apply *a, Inode *parent, const char *name, Inode *i, bool may_be_ephemeral) {
        i->mtime = i->ctime = now(a);
        if (may_be_ephemeral && a->session && dir_is_ephemeral(parent)) {
                if (session_add_ephemeral(a->session, i->ino) < 0) {
                        free(i->data);  /* the union: target or dir */
                        free(i);
                        return oom(a);
                }
                i->owner_session = a->session->id;
        }
        if (tree_inode_insert(a->t, i) < 0) {
                if (i->owner_session)
                        session_del_ephemeral(a->session, i->ino);
                free(i->data);
                free(i);
                return oom(a);
        }
        if (dirent_add(a->t, parent, name, i, a->index) < 0)
                return oom(a);
        touch_dir(a, parent);
        notice_entry(a, TREE_NOTICE_ENTRY_ADDED, parent->ino, name, i->ino);
        set_result(a, i);
        return 0;
}

int ns_create(Apply *a) {
        const TreeCmd *c = a->cmd;
        Inode *p = NULL;
        if ((c->create.mode & S_IFMT) != 0 && (c->create.mode & S_IFMT) != S_IFREG)
                return -EINVAL;
        if (c->create.flags & ~TREE_CREATE_EXCL)
                return -EINVAL;
        int r = check_new(a, c->create.parent, c->create.name, &p);
        if (r == -EEXIST && !(c->create.flags & TREE_CREATE_EXCL)) {
                Dirent *d = tree_dirent(a->t, p, c->create.name);
                if (S_ISDIR(d->inode->mode))
                        return -EISDIR;
                if (!S_ISREG(d->inode->mode))
                        return -EEXIST;
                a->result->flags |= TREE_RESULT_EXISTED;
                set_result(a, d->inode);
                return 0;
        }
        if (r < 0)
                return r;
        Inode *i = inode_new(a->t, a->index, S_IFREG | (c->create.mode & 07777));
        if (!i)
                return oom(a);
        i->uid = c->create.uid;
        i->gid = c->create.gid;
        return link_new(a, p, c->create.name, i, true);
}

int ns_mkdir(Apply *a) {
        const TreeCmd *c = a->cmd;
        Inode *p = NULL;
        if ((c->create.mode & S_IFMT) != 0 && (c->create.mode & S_IFMT) != S_IFDIR)
                return -EINVAL;
        if (c->create.flags != 0)
                return -EINVAL;
        int r = check_new(a, c->create.parent, c->create.name, &p);
        if (r < 0)
                return r;
        if (p->dir->subdirs + 2 >= a->t->limits.max_links)
                return -EMLINK;
        Inode *i = inode_new(a->t, a->index, S_IFDIR | (c->create.mode & 07777));
        if (!i)
                return oom(a);
        i->uid = c->create.uid;
        i->gid = c->create.gid;
        return link_new(a, p, c->create.name, i, false);
}

int ns_symlink(Apply *a) {
        const TreeCmd *c = a->cmd;
        Inode *p = NULL;
        int r = check_new(a, c->symlink.parent, c->symlink.name, &p);
        if (r < 0)
                return r;
        size_t len = strlen(c->symlink.target);
        if (len == 0)
                return -ENOENT;
        if (len > a->t->limits.max_symlink_len)
                return -ENAMETOOLONG;
        if (a->t->total_bytes + len > a->t->limits.max_total_bytes)
                return -ENOSPC;
        Inode *i = inode_new(a->t, a->index, S_IFLNK | 0777);
        if (!i)
                return oom(a);
        i->target = strdup(c->symlink.target);
        if (!i->target) {
                free(i);
                return oom(a);
        }
        i->size = len;
        i->uid = c->symlink.uid;
        i->gid = c->symlink.gid;
        return link_new(a, p, c->symlink.name, i, true);
}

int ns_link(Apply *a) {
        const TreeCmd *c = a->cmd;
        Inode *p, *i = tree_inode(a->t, c->link.ino);
        if (!i)
                return -ENOENT;
        int r = get_dir(a, c->link.new_parent, &p);
        if (r < 0)
                return r;
        r = check_name(a, c->link.new_name);
        if (r < 0)
                return r;
        if (tree_dirent(a->t, p, c->link.new_name))
                return -EEXIST;
        if (S_ISDIR(i->mode))
                return -EPERM;
        if (!i->links)
                return -ENOENT;         /* an orphan cannot get a name back */
        if (i->nlink >= a->t->limits.max_links)
                return -EMLINK;
        if (dirent_add(a->t, p, c->link.new_name, i, a->index) < 0)
                return oom(a);
        i->ctime = now(a);
        touch_dir(a, p);
        notice_entry(a, TREE_NOTICE_ENTRY_ADDED, p->ino, c->link.new_name, i->ino);
        notice_inode(a, i->ino, TREE_CHANGE_ATTR);
        set_result(a, i);
        return 0;
}

/* Removes entry d and frees its inode when that was the last reference. */
static void remove_entry(Apply *a, Dirent *d) {
        Inode *p = d->parent, *i = d->inode;
        notice_entry(a, TREE_NOTICE_ENTRY_REMOVED, p->ino, d->name, i->ino);
        dirent_remove(a->t, d);
        i->ctime = now(a);
        touch_dir(a, p);
        notice_inode(a, i->ino, TREE_CHANGE_ATTR);
        inode_maybe_free(a, i);
}

int ns_unlink(Apply *a, bool dir) {
        const TreeCmd *c = a->cmd;
        Inode *p;
        int r = get_dir(a, c->unlink.parent, &p);
        if (r < 0)
                return r;
        r = check_name(a, c->unlink.name);
        if (r < 0)
                return r;
        Dirent *d = tree_dirent(a->t, p, c->unlink.name);
        if (!d)
                return -ENOENT;
        if (dir && !S_ISDIR(d->inode->mode))
                return -ENOTDIR;
        if (!dir && S_ISDIR(d->inode->mode))
                return -EISDIR;
        if (dir && d->inode->size > 0)
                return -ENOTEMPTY;
        remove_entry(a, d);
        return 0;
}

void ns_remove_inode(Apply *a, Inode *i) {
        while (i->links && !a->oom) {
                Dirent *d = i->links;
                if (!d->next_link) {
                        remove_entry(a, d);     /* may free i */
                        return;
                }
                notice_entry(a, TREE_NOTICE_ENTRY_REMOVED, d->parent->ino, d->name, i->ino);
                Inode *p = d->parent;
                dirent_remove(a->t, d);
                touch_dir(a, p);
        }
}

/* True when dir `anc` is d or one of d's ancestors. */
static bool is_ancestor(const Tree *t, const Inode *anc, const Inode *d) {
        for (;;) {
                if (d == anc)
                        return true;
                if (d == t->root || !d->links)
                        return false;
                d = d->links->parent;
        }
}

static int rename_exchange(Apply *a, Inode *p, Dirent *sd, Inode *np, Dirent *td) {
        Inode *src = sd->inode, *tgt = td->inode;
        const TreeLimits *l = &a->t->limits;
        if (S_ISDIR(src->mode) && is_ancestor(a->t, src, np))
                return -EINVAL;
        if (S_ISDIR(tgt->mode) && is_ancestor(a->t, tgt, p))
                return -EINVAL;
        if (p != np && S_ISDIR(src->mode) != S_ISDIR(tgt->mode)) {
                Inode *gains = S_ISDIR(src->mode) ? np : p;
                if (gains->dir->subdirs + 2 >= l->max_links)
                        return -EMLINK;
        }
        notice_entry(a, TREE_NOTICE_ENTRY_REMOVED, p->ino, sd->name, src->ino);
        notice_entry(a, TREE_NOTICE_ENTRY_REMOVED, np->ino, td->name, tgt->ino);
        /* Swap the inodes behind the two names; the names keep their cookies. */
        Dirent *ds[2] = { sd, td };
        Inode *was[2] = { src, tgt };
        for (int k = 0; k < 2; k++) {
                Dirent **pp = &was[k]->links;
                while (*pp != ds[k])
                        pp = &(*pp)->next_link;
                *pp = ds[k]->next_link;
                ds[k]->next_link = NULL;
        }
        sd->inode = tgt;
        td->inode = src;
        for (int k = 0; k < 2; k++) {
                Inode *i = ds[k]->inode;
                Dirent **pp = &i->links;
                while (*pp && (*pp)->id < ds[k]->id)
                        pp = &(*pp)->next_link;
                ds[k]->next_link = *pp;
                *pp = ds[k];
        }
        if (p != np) {
                if (S_ISDIR(src->mode)) {
                        p->dir->subdirs--;
                        np->dir->subdirs++;
                }
                if (S_ISDIR(tgt->mode)) {
                        np->dir->subdirs--;
                        p->dir->subdirs++;
                }
        }
        src->ctime = tgt->ctime = now(a);
        touch_dir(a, p);
        if (np != p)
                touch_dir(a, np);
        notice_entry(a, TREE_NOTICE_ENTRY_ADDED, p->ino, sd->name, tgt->ino);
        notice_entry(a, TREE_NOTICE_ENTRY_ADDED, np->ino, td->name, src->ino);
        notice_inode(a, src->ino, TREE_CHANGE_ATTR);
        notice_inode(a, tgt->ino, TREE_CHANGE_ATTR);
        return 0;
}

static int rename_plain(Apply *a, Inode *p, Dirent *sd, Inode *np, Dirent *td) {
        const TreeCmd *c = a->cmd;
        Inode *src = sd->inode, *tgt = td ? td->inode : NULL;
        if (S_ISDIR(src->mode) && is_ancestor(a->t, src, np))
                return -EINVAL;
        if (tgt) {
                if (S_ISDIR(tgt->mode) && tgt->size > 0)
                        return -ENOTEMPTY;
                if (S_ISDIR(src->mode) && !S_ISDIR(tgt->mode))
                        return -ENOTDIR;
                if (!S_ISDIR(src->mode) && S_ISDIR(tgt->mode))
                        return -EISDIR;
        }
        if (S_ISDIR(src->mode) && p != np && !tgt && np->dir->subdirs + 2 >= a->t->limits.max_links)
                return -EMLINK;

        if (td) {
                notice_entry(a, TREE_NOTICE_ENTRY_REMOVED, np->ino, td->name, tgt->ino);
                dirent_remove(a->t, td);
                tgt->ctime = now(a);
                notice_inode(a, tgt->ino, TREE_CHANGE_ATTR);
        }
        notice_entry(a, TREE_NOTICE_ENTRY_REMOVED, p->ino, sd->name, src->ino);
        dirent_remove(a->t, sd);
        if (dirent_add(a->t, np, c->rename.new_name, src, a->index) < 0)
                return oom(a);
        src->ctime = now(a);
        touch_dir(a, p);
        if (np != p)
                touch_dir(a, np);
        notice_entry(a, TREE_NOTICE_ENTRY_ADDED, np->ino, c->rename.new_name, src->ino);
        notice_inode(a, src->ino, TREE_CHANGE_ATTR);
        if (tgt)
                inode_maybe_free(a, tgt);
        return 0;
}

int ns_rename(Apply *a) {
        const TreeCmd *c = a->cmd;
        uint32_t flags = c->rename.flags;
        Inode *p, *np;
        if ((flags & ~(TREE_RENAME_NOREPLACE | TREE_RENAME_EXCHANGE)) ||
            flags == (TREE_RENAME_NOREPLACE | TREE_RENAME_EXCHANGE))
                return -EINVAL;
        int r = get_dir(a, c->rename.parent, &p);
        if (r < 0)
                return r;
        r = get_dir(a, c->rename.new_parent, &np);
        if (r < 0)
                return r;
        r = check_name(a, c->rename.name);
        if (r < 0)
                return r;
        r = check_name(a, c->rename.new_name);
        if (r < 0)
                return r;
        Dirent *sd = tree_dirent(a->t, p, c->rename.name);
        if (!sd)
                return -ENOENT;
        Dirent *td = tree_dirent(a->t, np, c->rename.new_name);
        if ((flags & TREE_RENAME_EXCHANGE) && !td)
                return -ENOENT;
        if ((flags & TREE_RENAME_NOREPLACE) && td)
                return -EEXIST;
        if (td && td->inode == sd->inode)
                return 0;       /* two names of one inode (or the same name): nothing to do */
        if (flags & TREE_RENAME_EXCHANGE)
                return rename_exchange(a, p, sd, np, td);
        return rename_plain(a, p, sd, np, td);
}

/* Resizes the content of regular file i to size bytes (zero-filled growth). */
static int resize(Apply *a, Inode *i, uint64_t size) {
        if (size == i->size)
                return 0;
        if (size == 0)
                i->data = mfree(i->data);
        else {
                uint8_t *d = realloc(i->data, size);
                if (!d)
                        return oom(a);
                if (size > i->size)
                        memset(d + i->size, 0, size - i->size);
                i->data = d;
        }
        a->t->total_bytes = a->t->total_bytes - i->size + size;
        i->size = size;
        return 0;
}

/* The size file i may reach: the limit, or its current size when a lowered
 * limit left it larger (lowering a limit only stops growth). */
static uint64_t max_size(const Apply *a, const Inode *i) {
        return MAX(a->t->limits.max_file_size, i->size);
}

/* Whether file i may end up with `size` bytes: -EFBIG or -ENOSPC. */
static int check_file_size(const Apply *a, const Inode *i, uint64_t size) {
        if (size > max_size(a, i))
                return -EFBIG;
        if (size > i->size && a->t->total_bytes + (size - i->size) > a->t->limits.max_total_bytes)
                return -ENOSPC;
        return 0;
}

#define SETATTR_ALL                                                                           \
        (TREE_SETATTR_MODE | TREE_SETATTR_UID | TREE_SETATTR_GID | TREE_SETATTR_SIZE |        \
         TREE_SETATTR_MTIME | TREE_SETATTR_MTIME_NOW | TREE_SETATTR_CTIME)

int ns_setattr(Apply *a) {
        const TreeCmd *c = a->cmd;
        uint32_t v = c->setattr.valid;
        Inode *i = tree_inode(a->t, c->setattr.ino);
        if (!i)
                return -ENOENT;
        if (v & ~SETATTR_ALL)
                return -EINVAL;
        if (v & TREE_SETATTR_SIZE) {
                if (S_ISDIR(i->mode))
                        return -EISDIR;
                if (!S_ISREG(i->mode))
                        return -EINVAL;
                int r = check_file_size(a, i, c->setattr.size);
                if (r < 0)
                        return r;
        }
        uint32_t changed = TREE_CHANGE_ATTR;
        if (v & TREE_SETATTR_MODE)
                i->mode = (i->mode & S_IFMT) | (c->setattr.mode & 07777);
        if (v & TREE_SETATTR_UID)
                i->uid = c->setattr.uid;
        if (v & TREE_SETATTR_GID)
                i->gid = c->setattr.gid;
        if (v & TREE_SETATTR_SIZE) {
                if (resize(a, i, c->setattr.size) < 0)
                        return -ENOMEM;
                i->mtime = now(a);
                changed |= TREE_CHANGE_DATA;
        }
        if (v & TREE_SETATTR_MTIME_NOW)
                i->mtime = now(a);
        else if (v & TREE_SETATTR_MTIME)
                i->mtime = c->setattr.mtime_usec;
        if (v != 0)
                i->ctime = (v & TREE_SETATTR_CTIME) ? c->setattr.ctime_usec : now(a);
        notice_inode(a, i->ino, changed);
        set_result(a, i);
        return 0;
}

/* Simulates a write: the largest size reached and the final size, or -EFBIG. */
static int write_sizes(const Apply *a, const Inode *i, uint64_t *ret_peak, uint64_t *ret_final) {
        const TreeCmd *c = a->cmd;
        uint64_t max = max_size(a, i), size = i->size, peak = i->size;
        if (c->write.flags & TREE_WRITE_TRUNCATE)
                size = c->write.truncate_size;
        if (size > max)
                return -EFBIG;
        peak = MAX(peak, size);
        for (size_t k = 0; k < c->write.n_extents; k++) {
                const TreeExtent *e = &c->write.extents[k];
                if (e->len == 0)
                        continue;
                uint64_t off = e->offset == TREE_WRITE_APPEND ? size : e->offset;
                if (off > max || e->len > max - off)
                        return -EFBIG;
                size = MAX(size, off + e->len);
                peak = MAX(peak, size);
        }
        if (c->write.flags & TREE_WRITE_SET_SIZE) {
                size = c->write.final_size;
                if (size > max)
                        return -EFBIG;
                peak = MAX(peak, size);
        }
        *ret_peak = peak;
        *ret_final = size;
        return 0;
}

int ns_write(Apply *a) {
        const TreeCmd *c = a->cmd;
        Inode *i = tree_inode(a->t, c->write.ino);
        uint64_t peak, final;
        if (!i)
                return -ENOENT;
        if (S_ISDIR(i->mode))
                return -EISDIR;
        if (!S_ISREG(i->mode))
                return -EINVAL;
        if (c->write.flags & ~(TREE_WRITE_TRUNCATE | TREE_WRITE_SET_SIZE))
                return -EINVAL;
        int r = write_sizes(a, i, &peak, &final);
        if (r < 0)
                return r;
        r = check_file_size(a, i, final);
        if (r < 0)
                return r;

        /* Work in one buffer of the peak size; `size` is the logical size so
         * far, bytes past it are garbage until zeroed on growth. */
        uint64_t old = i->size, size = old;
        uint8_t *d = i->data;
        if (peak > old) {
                d = realloc(i->data, peak);
                if (!d)
                        return oom(a);
                i->data = d;
        }
        if (c->write.flags & TREE_WRITE_TRUNCATE) {
                if (c->write.truncate_size > size)
                        memset(d + size, 0, c->write.truncate_size - size);
                size = c->write.truncate_size;
        }
        for (size_t k = 0; k < c->write.n_extents; k++) {
                const TreeExtent *e = &c->write.extents[k];
                if (e->len == 0)
                        continue;
                uint64_t off = e->offset == TREE_WRITE_APPEND ? size : e->offset;
                if (off > size)
                        memset(d + size, 0, off - size);
                memcpy(d + off, e->data, e->len);
                size = MAX(size, off + e->len);
        }
        if (c->write.flags & TREE_WRITE_SET_SIZE) {
                if (final > size)
                        memset(d + size, 0, final - size);
                size = final;
        }
        assert(size == final);
        if (final == 0)
                i->data = mfree(i->data);
        else if (final < MAX(peak, old)) {
                uint8_t *s = realloc(i->data, final);
                if (s)
                        i->data = s;
        }
        a->t->total_bytes = a->t->total_bytes - old + final;
        i->size = final;
        i->mtime = i->ctime = now(a);
        notice_inode(a, i->ino, TREE_CHANGE_DATA | TREE_CHANGE_ATTR);
        set_result(a, i);
        return 0;
}

static int check_xattr_name(const Apply *a, const char *name) {
        if (strncmp(name, "user.", 5) != 0)
                return -EOPNOTSUPP;
        if (name[5] == 0)
                return -EINVAL;
        if (strlen(name) > a->t->limits.max_xattr_name_len)
                return -ERANGE;
        if (strcmp(name, LOCK_XATTR) == 0)
                return -EPERM;
        return 0;
}

int ns_setxattr(Apply *a) {
        const TreeCmd *c = a->cmd;
        const TreeLimits *l = &a->t->limits;
        uint32_t flags = c->xattr.flags;
        Inode *i = tree_inode(a->t, c->xattr.ino);
        if (!i)
                return -ENOENT;
        int r = check_xattr_name(a, c->xattr.name);
        if (r < 0)
                return r;
        if ((flags & ~(TREE_XATTR_CREATE | TREE_XATTR_REPLACE)) ||
            flags == (TREE_XATTR_CREATE | TREE_XATTR_REPLACE))
                return -EINVAL;
        if (c->xattr.value_len > l->max_xattr_value_len)
                return -E2BIG;
        const Xattr *x = xattrs_find(i->xattrs, c->xattr.name);
        if (x && (flags & TREE_XATTR_CREATE))
                return -EEXIST;
        if (!x && (flags & TREE_XATTR_REPLACE))
                return -ENODATA;
        uint64_t name_len = strlen(c->xattr.name);
        uint64_t old = x ? name_len + x->len : 0, add = name_len + c->xattr.value_len;
        uint64_t bytes = i->xattrs ? i->xattrs->bytes : 0;
        if (bytes - old + add > l->max_xattr_bytes)
                return -ENOSPC;
        if (add > old && a->t->total_bytes + (add - old) > l->max_total_bytes)
                return -ENOSPC;
        if (xattrs_set(a->t, i, c->xattr.name, c->xattr.value, c->xattr.value_len) < 0)
                return oom(a);
        i->ctime = now(a);
        notice_inode(a, i->ino, TREE_CHANGE_XATTR | TREE_CHANGE_ATTR);
        set_result(a, i);
        return 0;
}

int ns_removexattr(Apply *a) {
        const TreeCmd *c = a->cmd;
        Inode *i = tree_inode(a->t, c->xattr.ino);
        if (!i)
                return -ENOENT;
        int r = check_xattr_name(a, c->xattr.name);
        if (r < 0)
                return r;
        if (c->xattr.flags != 0)
                return -EINVAL;
        r = xattrs_remove(a->t, i, c->xattr.name);
        if (r < 0)
                return r;
        i->ctime = now(a);
        notice_inode(a, i->ino, TREE_CHANGE_XATTR | TREE_CHANGE_ATTR);
        set_result(a, i);
        return 0;
}
