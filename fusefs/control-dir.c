#include "config.h"
/* control-dir.c — the virtual directory /.raftfs/.
 *
 * Read-only files whose text comes from the daemon (FsBackend.info): status,
 * leader, members, metrics (FuseFs appends its own metrics to the daemon's).
 * Nothing here is replicated or stored in the tree: the directory is found by
 * lookup in the root but not listed by readdir of the root, so that copies
 * and backups of the mount do not include it, and its name can never be
 * created in the tree.
 *
 * Each open takes a snapshot of the text into the handle (direct_io), so a
 * reader sees one consistent text however it reads it; getattr reports the
 * length of a freshly generated text with attribute timeout 0. The kernel's
 * lookup counts on these inodes are not tracked (they never change). */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>

#include "fusefs/internal.h"

static const char *const ctl_names[_FS_INFO_MAX] = {
        [FS_INFO_STATUS] = "status",
        [FS_INFO_LEADER] = "leader",
        [FS_INFO_MEMBERS] = "members",
        [FS_INFO_METRICS] = "metrics",
};

static int ctl_text(FuseFs *fs, FsInfo what, Buf *out) {
        int r = fs->backend.info(fs->bud, what, out);
        if (r < 0)
                return r;
        if (what == FS_INFO_METRICS)
                r = fusefs_metrics_append(fs, out);
        return r;
}

int ctl_fill_stat(FuseFs *fs, uint64_t ino, struct stat *st) {
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now);
        memset(st, 0, sizeof(*st));
        st->st_ino = ino;
        st->st_uid = 0;
        st->st_gid = 0;
        st->st_atim = st->st_mtim = st->st_ctim = now;
        st->st_blksize = 4096;
        if (ino == CTL_INO_DIR) {
                st->st_mode = S_IFDIR | 0555;
                st->st_nlink = 2;
                st->st_size = _FS_INFO_MAX + 2;
                return 0;
        }
        uint64_t what = ino - CTL_INO_FILE(0);
        if (ino < CTL_INO_FILE(0) || what >= _FS_INFO_MAX)
                return -ENOENT;
        Buf b = BUF_INIT;
        int r = ctl_text(fs, (FsInfo) what, &b);
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = r < 0 ? 0 : (off_t) b.len;
        buf_done(&b);
        return 0;
}

static void ctl_reply_entry(FuseFs *fs, fuse_req_t req, uint64_t ino) {
        struct fuse_entry_param e = { 0 };

        if (ctl_fill_stat(fs, ino, &e.attr) < 0)
                return fs_reply_err(fs, OP_LOOKUP, req, ENOENT);
        e.ino = ino;
        e.generation = 1;
        e.attr_timeout = 0;
        e.entry_timeout = FUSEFS_CTL_ENTRY_TIMEOUT_SEC;
        fs_count(fs, OP_LOOKUP, 0);
        (void) fuse_reply_entry(req, &e);
}

bool ctl_lookup(FuseFs *fs, fuse_req_t req, uint64_t parent, const char *name) {
        if (parent == TREE_ROOT_INO && strcmp(name, CTL_NAME) == 0) {
                ctl_reply_entry(fs, req, CTL_INO_DIR);
                return true;
        }
        if (parent != CTL_INO_DIR)
                return false;
        for (int i = 0; i < _FS_INFO_MAX; i++)
                if (strcmp(name, ctl_names[i]) == 0) {
                        ctl_reply_entry(fs, req, CTL_INO_FILE(i));
                        return true;
                }
        if (strcmp(name, ".") == 0)
                ctl_reply_entry(fs, req, CTL_INO_DIR);
        else if (strcmp(name, "..") == 0) {
                TreeAttr a;
                if (tree_getattr(fs_tree(fs), TREE_ROOT_INO, &a) < 0)
                        fs_reply_err(fs, OP_LOOKUP, req, EIO);
                else
                        reply_entry(fs, OP_LOOKUP, req, TREE_ROOT_INO, NULL, &a);
        } else
                fs_reply_err(fs, OP_LOOKUP, req, ENOENT);
        return true;
}

void ctl_getattr(FuseFs *fs, fuse_req_t req, uint64_t ino) {
        struct stat st;

        if (ctl_fill_stat(fs, ino, &st) < 0)
                return fs_reply_err(fs, OP_GETATTR, req, ENOENT);
        fs_count(fs, OP_GETATTR, 0);
        (void) fuse_reply_attr(req, &st, 0);
}

void ctl_open(FuseFs *fs, fuse_req_t req, uint64_t ino, struct fuse_file_info *fi) {
        if (ino == CTL_INO_DIR)
                return fs_reply_err(fs, OP_OPEN, req, EISDIR);
        uint64_t what = ino - CTL_INO_FILE(0);
        if (ino < CTL_INO_FILE(0) || what >= _FS_INFO_MAX)
                return fs_reply_err(fs, OP_OPEN, req, ENOENT);
        if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
                return fs_reply_err(fs, OP_OPEN, req, EROFS);

        Handle *h = handle_new(fs, ino, fi->flags);
        if (!h)
                return fs_reply_err(fs, OP_OPEN, req, ENFILE);
        h->is_ctl = true;
        int r = ctl_text(fs, (FsInfo) what, &h->view);
        if (r < 0) {
                handle_free(fs, h);
                return fs_reply_err(fs, OP_OPEN, req, -r);
        }
        h->accounted = h->view.len;
        fs->buffered_bytes += h->accounted;
        fi->fh = (uintptr_t) h;
        fi->direct_io = 1;
        fi->keep_cache = 0;
        fs_count(fs, OP_OPEN, 0);
        if (fuse_reply_open(req, fi) < 0)
                handle_free(fs, h);
}

static size_t ctl_add(fuse_req_t req, char *buf, size_t size, const char *name, uint64_t ino,
                      mode_t mode, off_t next, bool plus) {
        if (plus) {
                struct fuse_entry_param e = { .ino = ino, .generation = 1,
                                              .entry_timeout = FUSEFS_CTL_ENTRY_TIMEOUT_SEC };
                e.attr.st_ino = ino;
                e.attr.st_mode = mode;
                e.attr.st_nlink = 1;
                return fuse_add_direntry_plus(req, buf, size, name, &e, next);
        }
        struct stat st = { .st_ino = ino, .st_mode = mode };
        return fuse_add_direntry(req, buf, size, name, &st, next);
}

void ctl_readdir(FuseFs *fs, fuse_req_t req, uint64_t ino, size_t size, off_t off, bool plus) {
        char buf[4096];
        size_t used = 0;

        if (ino != CTL_INO_DIR)
                return fs_reply_err(fs, OP_READDIR, req, ENOTDIR);
        size = MIN(size, sizeof(buf));
        /* Offsets: 1 after ".", 2 after "..", 3 + i after file i. "." and
         * ".." are not linked by the kernel in readdirplus; the files are,
         * with attributes marked stale (attr_timeout 0 above). */
        for (off_t i = off; i < 2 + _FS_INFO_MAX; i++) {
                size_t n;
                if (i == 0)
                        n = ctl_add(req, buf + used, size - used, ".", CTL_INO_DIR, S_IFDIR | 0555, 1, plus);
                else if (i == 1)
                        n = ctl_add(req, buf + used, size - used, "..", TREE_ROOT_INO, S_IFDIR | 0755, 2,
                                    plus);
                else
                        n = ctl_add(req, buf + used, size - used, ctl_names[i - 2],
                                    CTL_INO_FILE(i - 2), S_IFREG | 0444, i + 1, plus);
                if (n > size - used)
                        break;
                used += n;
        }
        fs_count(fs, OP_READDIR, 0);
        (void) fuse_reply_buf(req, buf, used);
}
