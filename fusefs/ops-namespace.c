#include "config.h"
/* ops-namespace.c — names, attributes and directories.
 *
 * Reads (lookup, getattr, opendir) wait for a batched read barrier in
 * linearizable mode (wait.c) and are then served from the local replica;
 * readlink, readdir and statfs read the replica directly (symlinks never
 * change, a directory handle was opened behind a barrier). Every mutation
 * is one proposed TreeCmd; its completion replies with what the tree
 * returned, and marks the entry as "ours" so that applied.c does not
 * invalidate what the reply has just told the kernel.
 *
 * /.raftfs/ (control-dir.c) lives only here: it is not part of the tree, may
 * not be created, removed, renamed or linked, and is not listed in the root. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fusefs/internal.h"
#include "lib/log.h"

static bool is_ctl_name(uint64_t parent, const char *name) {
        return parent == TREE_ROOT_INO && strcmp(name, CTL_NAME) == 0;
}

/* ---- lookup, getattr ---- */

static void lookup_resume(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;
        TreeAttr a;

        if (r < 0)
                /* No barrier (no quorum): the replica may be behind, so
                 * nothing of it is revealed, not even through the error of
                 * a change (EEXIST, ENOENT). A read fails with EIO, a
                 * change with EROFS (caller.c tells them apart). */
                fs_reply_err(fs, OP_LOOKUP, op->req, caller_mutates(op->pid) ? EROFS : EIO);
        else {
                r = tree_lookup(fs_tree(fs), op->ino, op->name, &a);
                if (r == -ENOENT)
                        reply_negative(fs, OP_LOOKUP, op->req);
                else if (r < 0)
                        fs_reply_err(fs, OP_LOOKUP, op->req, -r);
                else
                        reply_entry(fs, OP_LOOKUP, op->req, op->ino, op->name, &a);
        }
        op_free(op);
}

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
        FuseFs *fs = fuse_req_userdata(req);

        if (fs->exiting)
                return fs_reply_err(fs, OP_LOOKUP, req, EIO);
        if (ctl_lookup(fs, req, parent, name))
                return;
        Op *op = op_new(fs, req, OP_LOOKUP, lookup_resume);
        if (!op || op_set_names(op, name, NULL) < 0) {
                op_free(op);
                return fs_reply_err(fs, OP_LOOKUP, req, ENOMEM);
        }
        op->ino = parent;
        op->pid = fuse_req_ctx(req)->pid;
        op_after_meta_barrier(op);
}

void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
        FuseFs *fs = fuse_req_userdata(req);

        fs_forget(fs, ino, nlookup);
        fs_count(fs, OP_FORGET, 0);
        fuse_reply_none(req);
}

void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
        FuseFs *fs = fuse_req_userdata(req);

        for (size_t i = 0; i < count; i++)
                fs_forget(fs, forgets[i].ino, forgets[i].nlookup);
        fs_count(fs, OP_FORGET, 0);
        fuse_reply_none(req);
}

static void getattr_resume(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;
        struct stat st;

        /* Without a barrier (no quorum) a read gets EIO and the walk of a
         * change (the permission checks before mkdir, creat, unlink) EROFS,
         * as changes without a quorum must (caller.c). An fstat() of an
         * open file (fi set) is a read. */
        if (r < 0) {
                fs_reply_err(fs, OP_GETATTR, op->req,
                             !op->has_fi && caller_mutates(op->pid) ? EROFS : EIO);
                op_free(op);
                return;
        }
        uint64_t size;
        if ((r = fs_getattr(fs, op->ino, &st)) >= 0 &&
            handle_pending_size(fs, op->ino, op->has_fi ? &op->fi : NULL, &size))
                st.st_size = (off_t) size;
        if (r < 0)
                fs_reply_err(fs, OP_GETATTR, op->req, -r);
        else {
                fs_count(fs, OP_GETATTR, 0);
                (void) fuse_reply_attr(op->req, &st, st.st_nlink == 0 ? 0 : fs_attr_timeout(fs));
        }
        op_free(op);
}

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);

        if (fs->exiting)
                return fs_reply_err(fs, OP_GETATTR, req, EIO);
        if (ino_is_ctl(ino))
                return ctl_getattr(fs, req, ino);
        Op *op = op_new(fs, req, OP_GETATTR, getattr_resume);
        if (!op)
                return fs_reply_err(fs, OP_GETATTR, req, ENOMEM);
        op->ino = ino;
        op->pid = fuse_req_ctx(req)->pid;
        if (fi) {
                op->fi = *fi;
                op->has_fi = true;
        }
        op_after_meta_barrier(op);
}

/* ---- setattr ---- */

static uint64_t timespec_usec(const struct timespec *ts) {
        if (ts->tv_sec < 0)
                return 0;
        return (uint64_t) ts->tv_sec * USEC_PER_SEC + (uint64_t) ts->tv_nsec / 1000;
}

static void setattr_done(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;

        if (r < 0)
                fs_reply_err(fs, OP_SETATTR, op->req, commit_errno(r));
        else {
                reply_attr(fs, OP_SETATTR, op->req, &res->attr);
        }
        op_free(op);
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);
        Handle *h = handle_of(fi);
        TreeCmd c;
        int r;

        if (fs->exiting)
                return fs_reply_err(fs, OP_SETATTR, req, EIO);
        if (ino_is_ctl(ino))
                return fs_reply_err(fs, OP_SETATTR, req, EPERM);

        if ((to_set & FUSE_SET_ATTR_SIZE) && h && h->writable && !h->is_dir) {
                r = handle_truncate(fs, h, (uint64_t) attr->st_size);
                if (r < 0)
                        return fs_reply_err(fs, OP_SETATTR, req, -r);
                /* The commit of the handle sets mtime and ctime. */
                to_set &= ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW |
                            FUSE_SET_ATTR_CTIME);
        }

        cmd_init(&c, TREE_CMD_SETATTR);
        c.setattr.ino = ino;
        if (to_set & FUSE_SET_ATTR_MODE) {
                c.setattr.valid |= TREE_SETATTR_MODE;
                c.setattr.mode = attr->st_mode & 07777;
        }
        if (to_set & FUSE_SET_ATTR_UID) {
                c.setattr.valid |= TREE_SETATTR_UID;
                c.setattr.uid = attr->st_uid;
        }
        if (to_set & FUSE_SET_ATTR_GID) {
                c.setattr.valid |= TREE_SETATTR_GID;
                c.setattr.gid = attr->st_gid;
        }
        if (to_set & FUSE_SET_ATTR_SIZE) {
                if (attr->st_size < 0)
                        return fs_reply_err(fs, OP_SETATTR, req, EINVAL);
                c.setattr.valid |= TREE_SETATTR_SIZE;
                c.setattr.size = (uint64_t) attr->st_size;
        }
        if (to_set & FUSE_SET_ATTR_MTIME_NOW)
                c.setattr.valid |= TREE_SETATTR_MTIME_NOW;
        else if (to_set & FUSE_SET_ATTR_MTIME) {
                c.setattr.valid |= TREE_SETATTR_MTIME;
                c.setattr.mtime_usec = timespec_usec(&attr->st_mtim);
        }
        if (to_set & FUSE_SET_ATTR_CTIME) {
                c.setattr.valid |= TREE_SETATTR_CTIME;
                c.setattr.ctime_usec = timespec_usec(&attr->st_ctim);
        }

        if (c.setattr.valid == 0) {
                /* Only atime (the tree keeps none) or a buffered size. */
                struct stat st;
                r = fs_getattr(fs, ino, &st);
                if (r < 0)
                        return fs_reply_err(fs, OP_SETATTR, req, -r);
                uint64_t size;
                if (handle_pending_size(fs, ino, fi, &size))
                        st.st_size = (off_t) size;
                fs_count(fs, OP_SETATTR, 0);
                /* An fstat() right after ftruncate() must see the handle's
                 * size, and the kernel sends no file handle with the GETATTR
                 * of an fstat: in local mode this reply stays cached (the
                 * commit invalidates it), in linearizable mode the next
                 * GETATTR finds the size through handle_pending_size(). */
                (void) fuse_reply_attr(req, &st, fs_attr_timeout(fs));
                return;
        }

        Op *op = op_new(fs, req, OP_SETATTR, setattr_done);
        if (!op)
                return fs_reply_err(fs, OP_SETATTR, req, ENOMEM);
        op->ino = ino;
        op->own_notices = true;
        r = op_propose(op, &c);
        if (r < 0) {
                op_free(op);
                fs_reply_err(fs, OP_SETATTR, req, commit_errno(r));
        }
}

/* ---- readlink, statfs, access ---- */

void fs_op_readlink(fuse_req_t req, fuse_ino_t ino) {
        FuseFs *fs = fuse_req_userdata(req);
        const char *target;

        if (ino_is_ctl(ino))
                return fs_reply_err(fs, OP_READLINK, req, EINVAL);
        /* A symlink never changes (it can only be replaced), so the replica
         * answers without a barrier. */
        int r = tree_readlink(fs_tree(fs), ino, &target);
        if (r < 0)
                return fs_reply_err(fs, OP_READLINK, req, -r);
        fs_count(fs, OP_READLINK, 0);
        (void) fuse_reply_readlink(req, target);
}

void fs_op_statfs(fuse_req_t req, fuse_ino_t ino) {
        FuseFs *fs = fuse_req_userdata(req);
        TreeStatfs t;
        struct statvfs sv = { 0 };
        const uint64_t bsize = 4096;

        tree_statfs(fs_tree(fs), &t);
        sv.f_bsize = bsize;
        sv.f_frsize = bsize;
        sv.f_blocks = t.max_total_bytes / bsize;
        uint64_t used = DIV_ROUND_UP(t.total_bytes, bsize);
        sv.f_bfree = sv.f_blocks > used ? sv.f_blocks - used : 0;
        sv.f_bavail = sv.f_bfree;
        sv.f_files = t.max_inodes;
        sv.f_ffree = t.max_inodes > t.inodes ? t.max_inodes - t.inodes : 0;
        sv.f_favail = sv.f_ffree;
        sv.f_namemax = t.max_name_len;
        fs_count(fs, OP_STATFS, 0);
        (void) fuse_reply_statfs(req, &sv);
}

void fs_op_access(fuse_req_t req, fuse_ino_t ino, int mask) {
        FuseFs *fs = fuse_req_userdata(req);
        struct stat st;

        /* default_permissions: the kernel checks the mode bits itself and
         * only asks for existence here. */
        if (!ino_is_ctl(ino) && fs_getattr(fs, ino, &st) < 0)
                return fs_reply_err(fs, OP_ACCESS, req, ENOENT);
        fs_reply_err(fs, OP_ACCESS, req, 0);
}

/* ---- creating names ---- */

static void entry_done(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;

        if (r < 0)
                fs_reply_err(fs, op->kind, op->req, commit_errno(r));
        else {
                reply_entry(fs, op->kind, op->req, op->ino2, op->name, &res->attr);
        }
        op_free(op);
}

/* Owner and group of a new inode in parent: the caller's, except that a
 * setgid directory hands down its group (and, to directories, the bit). */
void new_owner(FuseFs *fs, fuse_req_t req, uint64_t parent, uint32_t *mode, bool is_dir,
               uint32_t *ret_uid, uint32_t *ret_gid) {
        const struct fuse_ctx *ctx = fuse_req_ctx(req);
        TreeAttr p;

        *ret_uid = ctx->uid;
        *ret_gid = ctx->gid;
        if (tree_getattr(fs_tree(fs), parent, &p) >= 0 && (p.mode & S_ISGID)) {
                *ret_gid = p.gid;
                if (is_dir)
                        *mode |= S_ISGID;
        }
}

static void propose_entry(FuseFs *fs, fuse_req_t req, OpKind kind, TreeCmd *c, uint64_t parent,
                          const char *name) {
        Op *op = op_new(fs, req, kind, entry_done);
        if (!op || op_set_names(op, name, NULL) < 0) {
                op_free(op);
                return fs_reply_err(fs, kind, req, ENOMEM);
        }
        op->ino2 = parent;
        op->own_notices = true;
        int r = op_propose(op, c);
        if (r < 0) {
                op_free(op);
                fs_reply_err(fs, kind, req, commit_errno(r));
        }
}

static int check_new_name(FuseFs *fs, uint64_t parent, const char *name) {
        if (fs->exiting)
                return -EIO;
        if (ino_is_ctl(parent))
                return -EPERM;
        if (is_ctl_name(parent, name))
                return -EEXIST;
        return 0;
}

static void make_node(fuse_req_t req, OpKind kind, uint8_t type, uint64_t parent, const char *name,
                      mode_t mode) {
        FuseFs *fs = fuse_req_userdata(req);
        TreeCmd c;

        int r = check_new_name(fs, parent, name);
        if (r < 0)
                return fs_reply_err(fs, kind, req, -r);
        cmd_init(&c, type);
        c.create.parent = parent;
        c.create.name = name;
        c.create.mode = mode & 07777;
        c.create.flags = type == TREE_CMD_CREATE ? TREE_CREATE_EXCL : 0;
        new_owner(fs, req, parent, &c.create.mode, type == TREE_CMD_MKDIR, &c.create.uid,
                  &c.create.gid);
        propose_entry(fs, req, kind, &c, parent, name);
}

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
        FuseFs *fs = fuse_req_userdata(req);

        /* The tree holds regular files, directories and symlinks only. */
        if (!S_ISREG(mode))
                return fs_reply_err(fs, OP_MKNOD, req, EPERM);
        make_node(req, OP_MKNOD, TREE_CMD_CREATE, parent, name, mode);
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
        make_node(req, OP_MKDIR, TREE_CMD_MKDIR, parent, name, mode);
}

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
        FuseFs *fs = fuse_req_userdata(req);
        TreeCmd c;
        uint32_t mode = 0777;

        int r = check_new_name(fs, parent, name);
        if (r < 0)
                return fs_reply_err(fs, OP_SYMLINK, req, -r);
        cmd_init(&c, TREE_CMD_SYMLINK);
        c.symlink.parent = parent;
        c.symlink.name = name;
        c.symlink.target = link;
        new_owner(fs, req, parent, &mode, false, &c.symlink.uid, &c.symlink.gid);
        propose_entry(fs, req, OP_SYMLINK, &c, parent, name);
}

void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
        FuseFs *fs = fuse_req_userdata(req);
        TreeCmd c;

        int r = check_new_name(fs, newparent, newname);
        if (r == 0 && ino_is_ctl(ino))
                r = -EPERM;
        if (r < 0)
                return fs_reply_err(fs, OP_LINK, req, -r);
        cmd_init(&c, TREE_CMD_LINK);
        c.link.ino = ino;
        c.link.new_parent = newparent;
        c.link.new_name = newname;
        propose_entry(fs, req, OP_LINK, &c, newparent, newname);
}

/* ---- removing and moving names ---- */

static void plain_done(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;

        if (r < 0)
                fs_reply_err(fs, op->kind, op->req, commit_errno(r));
        else {
                fs_reply_err(fs, op->kind, op->req, 0);
        }
        op_free(op);
}

static void propose_plain(FuseFs *fs, fuse_req_t req, OpKind kind, TreeCmd *c) {
        Op *op = op_new(fs, req, kind, plain_done);
        if (!op)
                return fs_reply_err(fs, kind, req, ENOMEM);
        op->own_notices = true;
        int r = op_propose(op, c);
        if (r < 0) {
                op_free(op);
                fs_reply_err(fs, kind, req, commit_errno(r));
        }
}

static void remove_name(fuse_req_t req, OpKind kind, uint8_t type, uint64_t parent,
                        const char *name) {
        FuseFs *fs = fuse_req_userdata(req);
        TreeCmd c;

        if (fs->exiting)
                return fs_reply_err(fs, kind, req, EIO);
        if (ino_is_ctl(parent) || is_ctl_name(parent, name))
                return fs_reply_err(fs, kind, req, EPERM);
        cmd_init(&c, type);
        c.unlink.parent = parent;
        c.unlink.name = name;
        propose_plain(fs, req, kind, &c);
}

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
        remove_name(req, OP_UNLINK, TREE_CMD_UNLINK, parent, name);
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
        remove_name(req, OP_RMDIR, TREE_CMD_RMDIR, parent, name);
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                  const char *newname, unsigned int flags) {
        FuseFs *fs = fuse_req_userdata(req);
        TreeCmd c;

        if (fs->exiting)
                return fs_reply_err(fs, OP_RENAME, req, EIO);
        /* RENAME_WHITEOUT and anything newer: not supported. */
        if (flags & ~(unsigned) (TREE_RENAME_NOREPLACE | TREE_RENAME_EXCHANGE))
                return fs_reply_err(fs, OP_RENAME, req, EINVAL);
        if (ino_is_ctl(parent) || ino_is_ctl(newparent) || is_ctl_name(parent, name) ||
            is_ctl_name(newparent, newname))
                return fs_reply_err(fs, OP_RENAME, req, EPERM);
        cmd_init(&c, TREE_CMD_RENAME);
        c.rename.parent = parent;
        c.rename.name = name;
        c.rename.new_parent = newparent;
        c.rename.new_name = newname;
        c.rename.flags = flags;
        propose_plain(fs, req, OP_RENAME, &c);
}

/* ---- directories ---- */

static void opendir_resume(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;
        TreeAttr a;

        if (r < 0) {
                fs_reply_err(fs, OP_OPENDIR, op->req, EIO);
                goto out;
        }
        r = tree_getattr(fs_tree(fs), op->ino, &a);
        if (r < 0) {
                fs_reply_err(fs, OP_OPENDIR, op->req, -r);
                goto out;
        }
        if (!S_ISDIR(a.mode)) {
                fs_reply_err(fs, OP_OPENDIR, op->req, ENOTDIR);
                goto out;
        }
        if (fs_linearizable(fs) && kinode_path_stale(fs, op->ino)) {
                fs->m.estale_retries++;
                fs_reply_err(fs, OP_OPENDIR, op->req, ESTALE);
                goto out;
        }
        Handle *h = handle_new(fs, op->ino, op->fi.flags);
        if (!h) {
                fs_reply_err(fs, OP_OPENDIR, op->req, ENOMEM);
                goto out;
        }
        h->is_dir = true;
        op->fi.fh = (uintptr_t) h;
        op->fi.keep_cache = 0;
        op->fi.cache_readdir = 0;
        fs_count(fs, OP_OPENDIR, 0);
        if (fuse_reply_open(op->req, &op->fi) < 0)
                handle_free(fs, h);
out:
        op_free(op);
}

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);

        if (fs->exiting)
                return fs_reply_err(fs, OP_OPENDIR, req, EIO);
        if (ino_is_ctl(ino)) {
                fi->fh = 0;
                fs_count(fs, OP_OPENDIR, 0);
                (void) fuse_reply_open(req, fi);
                return;
        }
        Op *op = op_new(fs, req, OP_OPENDIR, opendir_resume);
        if (!op)
                return fs_reply_err(fs, OP_OPENDIR, req, ENOMEM);
        op->ino = ino;
        op->fi = *fi;
        op_after_barrier(op);
}

typedef struct DirFill {
        FuseFs *fs;
        fuse_req_t req;
        uint64_t dir;
        bool plus;
        char *buf;
        size_t size;
        size_t used;
} DirFill;

static int dir_fill_cb(void *userdata, const char *name, const TreeAttr *attr, uint64_t next_cookie) {
        DirFill *d = userdata;
        size_t n;

        if (d->plus) {
                bool dot = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
                struct fuse_entry_param e = { 0 };
                e.ino = attr->ino;
                e.generation = attr->generation;
                attr_to_stat(attr, &e.attr);
                e.attr_timeout = fs_attr_timeout(d->fs);
                e.entry_timeout = fs_entry_timeout(d->fs);
                n = fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name, &e,
                                           (off_t) next_cookie);
                if (n > d->size - d->used)
                        return 1;       /* full: this entry was not consumed */
                /* The kernel takes a lookup reference for every entry but
                 * "." and ".." (fuse_direntplus_link). */
                if (!dot && readdirplus_ref(d->fs, d->dir, name, &e.attr) < 0)
                        return -ENOMEM;
        } else {
                struct stat st = { .st_ino = attr->ino, .st_mode = attr->mode };
                n = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, &st,
                                      (off_t) next_cookie);
                if (n > d->size - d->used)
                        return 1;
        }
        d->used += n;
        return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, bool plus) {
        FuseFs *fs = fuse_req_userdata(req);
        OpKind kind = OP_READDIR;

        if (fs->exiting)
                return fs_reply_err(fs, kind, req, EIO);
        if (ino_is_ctl(ino))
                return ctl_readdir(fs, req, ino, size, off, plus);
        if (off < 0)
                return fs_reply_err(fs, kind, req, EINVAL);
        size = MIN(size, (size_t) 1 << 20);
        DirFill d = { .fs = fs, .req = req, .dir = ino, .plus = plus, .size = size };
        d.buf = malloc(size ? size : 1);
        if (!d.buf)
                return fs_reply_err(fs, kind, req, ENOMEM);
        int r = tree_readdir(fs_tree(fs), ino, (uint64_t) off, dir_fill_cb, &d);
        if (r == -ENOENT)
                r = 0;          /* removed while open: an empty listing */
        if (r < 0)
                fs_reply_err(fs, kind, req, -r);
        else {
                fs_count(fs, kind, 0);
                (void) fuse_reply_buf(req, d.buf, d.used);
        }
        free(d.buf);
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
        do_readdir(req, ino, size, off, fi, false);
}

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi) {
        do_readdir(req, ino, size, off, fi, true);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);
        Handle *h = handle_of(fi);

        if (h)
                handle_free(fs, h);
        fs_reply_err(fs, OP_RELEASEDIR, req, 0);
}

void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);

        /* Every directory change was committed before it was answered. */
        fs_reply_err(fs, OP_FSYNCDIR, req, 0);
}
