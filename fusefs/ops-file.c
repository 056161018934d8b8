#include "config.h"
/* ops-file.c — file handles: one version per open, one commit per flush.
 *
 * A Handle owns `view`, the whole content as this open file description sees
 * it: a copy of the file taken when the open passed its read barrier (empty
 * for O_TRUNC), changed by the handle's own writes and truncations. Regular
 * files are opened with direct_io, so every read() reaches us and is served
 * from the view: a reader sees one version of the file however long it keeps
 * it open (the page cache cannot give each open its own version).
 *
 * Writes only change the view and remember what changed since the last
 * commit: the smallest size truncated to, the dirty byte ranges, and what was
 * appended through O_APPEND. FLUSH (every close()), FSYNC and RELEASE turn
 * that into ONE TREE_CMD_WRITE — truncate to the smallest size, then the
 * dirty ranges with their bytes from the view, then the appended bytes at
 * the end of the file as it is when the entry applies, then the final size
 * when a truncation happened — so all changes of one handle between two
 * commits become visible together or not at all, and concurrent writers of
 * other parts of the file are not overwritten. close() and fsync() return
 * the commit's errno.
 *
 * Rules from FUSE-NOTES.md: bash flushes an O_TRUNC handle before writing
 * to it, so a flush whose only change is the O_TRUNC of the open commits
 * nothing (the release commits it if nothing else does); write() fails at
 * once with EROFS when the node knows it has no quorum (bash reports write
 * errors but ignores close errors); release is answered at once and its
 * commit, if any, runs in the background — a later open of the same inode on
 * this node waits for it (kinode_wait_bg), so the node reads its own writes.
 *
 * Flushes, fsyncs and the release commit of one handle run one at a time in
 * arrival order (h->flushes); writes arriving meanwhile go into the next
 * commit.
 *
 * A failed handle commits nothing, ever (raftfs(7): an error returned to a
 * caller means the change will never be applied). The first write, ftruncate
 * or commit of a handle that fails records its errno in h->failed and drops
 * the buffered changes, including the O_TRUNC of the open: otherwise `echo x
 * > f` on a node without quorum (write() fails with EROFS, bash carries on)
 * would truncate f at release once a quorum returns. Afterwards write(),
 * flush and fsync of that handle return the same errno, and release commits
 * nothing; reopening the file starts afresh. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fusefs/internal.h"
#include "lib/log.h"

#define DIRTY_RANGES_MAX 4096

/* ---- handles ---- */

static void handle_account(FuseFs *fs, Handle *h) {
        size_t now = h->view.len + h->appended.len;
        fs->buffered_bytes = fs->buffered_bytes - h->accounted + now;
        h->accounted = now;
}

Handle *handle_new(FuseFs *fs, uint64_t ino, int flags) {
        if (fs->n_handles >= fs->opts.max_handles)
                return NULL;
        Handle *h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->ino = ino;
        h->id = ++fs->handle_seq;
        h->open_flags = flags;
        h->writable = (flags & O_ACCMODE) != O_RDONLY;
        h->append = (flags & O_APPEND) != 0;
        list_init(&h->flushes);
        list_append(&fs->handles, &h->node);
        fs->n_handles++;
        return h;
}

void handle_free(FuseFs *fs, Handle *h) {
        if (!h)
                return;
        assert(list_empty(&h->flushes));
        list_remove(&h->node);
        fs->n_handles--;
        fs->buffered_bytes -= h->accounted;
        buf_done(&h->view);
        buf_done(&h->appended);
        free(h->dirty);
        free(h->posix_owners);
        free(h);
}

void handles_abort_all(FuseFs *fs) {
        Handle *h;

        /* The handles themselves stay: the kernel may still send requests
         * for them until the session is closed (handles_free_all). */
        list_foreach(h, &fs->handles, node)
                while (!list_empty(&h->flushes)) {
                        Op *op = list_entry(list_first(&h->flushes), Op, wnode);
                        list_remove(&op->wnode);
                        if (op->flags & 1)      /* counted in bg_commits */
                                kinode_bg_done(fs, h->ino);
                        if (!op->at_backend)
                                op_abort(op, EIO);
                }
}

void handles_free_all(FuseFs *fs) {
        while (!list_empty(&fs->handles)) {
                Handle *h = list_entry(list_first(&fs->handles), Handle, node);
                assert(list_empty(&h->flushes));
                handle_free(fs, h);
        }
}

static bool handle_has_changes(const Handle *h) {
        return h->trunc_set || h->wrote;
}

/* The change is only the O_TRUNC of the open: bash's early flush. */
static bool handle_only_open_trunc(const Handle *h) {
        return h->trunc_set && !h->trunc_explicit && !h->wrote;
}

static void handle_reset_changes(Handle *h) {
        h->trunc_set = false;
        h->trunc_explicit = false;
        h->trunc_size = 0;
        h->wrote = false;
        h->n_dirty = 0;
        buf_clear(&h->appended);
}

/* Marks h failed with err (positive errno), once: its uncommitted changes
 * are dropped and nothing of it is ever committed. */
static void handle_fail(FuseFs *fs, Handle *h, int err) {
        if (h->failed)
                return;
        h->failed = err > 0 ? err : EIO;
        handle_reset_changes(h);
        handle_account(fs, h);
}

/* Adds [start, end) to the sorted, disjoint dirty ranges, merging what
 * overlaps or touches it. Past DIRTY_RANGES_MAX everything collapses into
 * one range (correct, only less precise: the bytes come from the view). */
static int dirty_add(Handle *h, uint64_t start, uint64_t end) {
        size_t i = 0, j;

        while (i < h->n_dirty && h->dirty[i][1] < start)
                i++;
        j = i;
        while (j < h->n_dirty && h->dirty[j][0] <= end) {
                start = MIN(start, h->dirty[j][0]);
                end = MAX(end, h->dirty[j][1]);
                j++;
        }
        if (i == j) {
                /* No overlap: insert at i. */
                if (h->n_dirty >= DIRTY_RANGES_MAX) {
                        h->dirty[0][0] = MIN(start, h->dirty[0][0]);
                        h->dirty[0][1] = MAX(end, h->dirty[h->n_dirty - 1][1]);
                        h->n_dirty = 1;
                        return 0;
                }
                if (h->n_dirty == h->dirty_cap) {
                        size_t cap = h->dirty_cap ? h->dirty_cap * 2 : 4;
                        void *a = realloc(h->dirty, cap * sizeof(h->dirty[0]));
                        if (!a)
                                return -ENOMEM;
                        h->dirty = a;
                        h->dirty_cap = cap;
                }
                memmove(h->dirty + i + 1, h->dirty + i, (h->n_dirty - i) * sizeof(h->dirty[0]));
                h->n_dirty++;
        } else if (j - i > 1) {
                memmove(h->dirty + i + 1, h->dirty + j, (h->n_dirty - j) * sizeof(h->dirty[0]));
                h->n_dirty -= j - i - 1;
        }
        h->dirty[i][0] = start;
        h->dirty[i][1] = end;
        return 0;
}

/* Resizes the view, zero-filling growth. */
static int view_resize(Handle *h, uint64_t size) {
        if (size <= h->view.len) {
                h->view.len = (size_t) size;
                return 0;
        }
        size_t grow = (size_t) size - h->view.len;
        uint8_t *p = buf_extend(&h->view, grow);
        if (!p)
                return -ENOMEM;
        memset(p, 0, grow);
        return 0;
}

static int handle_truncate_now(FuseFs *fs, Handle *h, uint64_t size);

int handle_truncate(FuseFs *fs, Handle *h, uint64_t size) {
        if (h->failed)
                return -h->failed;
        int r = handle_truncate_now(fs, h, size);
        if (r < 0)
                handle_fail(fs, h, -r);
        return r;
}

static int handle_truncate_now(FuseFs *fs, Handle *h, uint64_t size) {
        if (size > fs->opts.max_file_size)
                return -EFBIG;
        if (size > h->view.len && fs->buffered_bytes + (size - h->view.len) > fs->opts.max_buffered_bytes)
                return -ENOSPC;
        int r = view_resize(h, size);
        if (r < 0)
                return r;
        /* Appended bytes not yet committed were part of the view: fold them
         * into dirty ranges would lose their "at the end" meaning, so an
         * O_APPEND handle that truncates commits them as plain data. */
        if (h->append && h->appended.len > 0) {
                buf_clear(&h->appended);
                r = dirty_add(h, 0, h->view.len);
                if (r < 0)
                        return r;
        }
        h->trunc_size = h->trunc_set ? MIN(h->trunc_size, size) : size;
        h->trunc_set = true;
        h->trunc_explicit = true;
        h->size = size;
        h->change_seq = ++fs->change_seq;
        handle_account(fs, h);
        return 0;
}

/* Builds the WRITE command for the handle's changes. *ret_ext is malloc'd
 * (caller frees) and points into the handle's buffers. */
static int handle_build_cmd(Handle *h, TreeCmd *c, TreeExtent **ret_ext) {
        size_t n = h->n_dirty + (h->appended.len > 0);
        TreeExtent *ext = calloc(n ? n : 1, sizeof(TreeExtent));
        size_t k = 0;

        if (!ext)
                return -ENOMEM;
        for (size_t i = 0; i < h->n_dirty; i++) {
                uint64_t s = h->dirty[i][0], e = MIN(h->dirty[i][1], (uint64_t) h->view.len);
                if (s >= e)
                        continue;
                ext[k++] = (TreeExtent) { .offset = s, .data = h->view.data + s, .len = (size_t) (e - s) };
        }
        if (h->appended.len > 0)
                ext[k++] = (TreeExtent) { .offset = TREE_WRITE_APPEND, .data = h->appended.data,
                                          .len = h->appended.len };

        cmd_init(c, TREE_CMD_WRITE);
        c->write.ino = h->ino;
        if (h->trunc_set) {
                c->write.flags = TREE_WRITE_TRUNCATE | TREE_WRITE_SET_SIZE;
                c->write.truncate_size = h->trunc_size;
                c->write.final_size = h->view.len;
                /* Appends land after final_size would cut them: an append
                 * handle that truncated commits plain data instead (see
                 * handle_truncate), so this cannot happen. */
                assert(h->appended.len == 0);
        }
        c->write.extents = ext;
        c->write.n_extents = k;
        *ret_ext = ext;
        return 0;
}

bool handle_pending_size(FuseFs *fs, uint64_t ino, const struct fuse_file_info *fi, uint64_t *ret) {
        Handle *h = handle_of(fi), *best = NULL, *i;

        if (h && !h->is_dir && !h->is_ctl && h->writable && h->ino == ino) {
                *ret = h->size;
                return true;
        }
        /* fstat() sends no handle: the change of this node's last writer
         * (the kernel invalidates the size after every write, and a
         * process that wrote and asks must see its size). */
        list_foreach(i, &fs->handles, node)
                if (i->ino == ino && !i->is_dir && i->writable && handle_has_changes(i) &&
                    (!best || i->change_seq > best->change_seq))
                        best = i;
        if (!best)
                return false;
        *ret = best->size;
        return true;
}

/* ---- the flush queue ---- */

static void handle_flush_next(FuseFs *fs, Handle *h);

static void flush_finish(Op *op) {
        FuseFs *fs = op->fs;
        Handle *h = op->handle;

        list_remove(&op->wnode);
        if (op->req)
                fs_reply_err(fs, op->kind, op->req, op->err);
        else if (op->kind == OP_COMMIT_BG) {
                fs_count(fs, OP_COMMIT_BG, op->err);
                if (op->err != 0)
                        log_warning("Commit of %" PRIu64 " at release failed: %s", h->ino,
                                    strerror(op->err));
                if (op->flags & 1)
                        kinode_bg_done(fs, h->ino);
        }
        op->req = NULL;
        op_free(op);
        handle_flush_next(fs, h);
}

static void flush_locks_done(Op *op) {
        flush_finish(op);
}

static void commit_done(Op *op, int r, uint64_t index, const TreeResult *res) {
        /* A file removed while this handle had it open: its data goes with
         * it, as on any POSIX file system. */
        if (r == -ENOENT)
                r = 0;
        if (r < 0 && op->err == 0)
                op->err = commit_errno(r);
        if (r < 0)
                handle_fail(op->fs, op->handle, op->err);
        if (op->kind == OP_FLUSH)
                locks_on_flush(op->fs, op->handle, op->ino, op->owner, op, flush_locks_done);
        else
                flush_finish(op);
}

static void handle_flush_next(FuseFs *fs, Handle *h) {
        while (!list_empty(&h->flushes)) {
                Op *op = list_entry(list_first(&h->flushes), Op, wnode);
                if (h->failed) {
                        /* Nothing more of this handle is committed; a
                         * flush or fsync reports why. */
                        if (op->kind != OP_COMMIT_BG)
                                op->err = h->failed;
                        commit_done(op, 0, 0, NULL);
                        return;
                }
                bool commit = handle_has_changes(h) &&
                              !(op->kind == OP_FLUSH && handle_only_open_trunc(h));
                if (!commit) {
                        commit_done(op, 0, 0, NULL);
                        return;         /* commit_done continues the queue */
                }
                TreeCmd c;
                _cleanup_free_ TreeExtent *ext = NULL;
                /* The kernel already marks size and times stale after each
                 * write (and O_TRUNC), so our own commit needs no
                 * invalidation unless other handles here may have cached
                 * pages (applied.c). */
                op->own_notices = true;
                int r = handle_build_cmd(h, &c, &ext);
                if (r >= 0)
                        r = op_propose(op, &c);
                handle_reset_changes(h);
                handle_account(fs, h);
                if (r < 0)
                        commit_done(op, r, 0, NULL);
                return;                 /* commit_done continues the queue */
        }
        if (h->released)
                handle_free(fs, h);
}

static void handle_flush_enqueue(FuseFs *fs, Handle *h, Op *op) {
        bool idle = list_empty(&h->flushes);
        op->handle = h;
        op->ino = h->ino;
        list_append(&h->flushes, &op->wnode);
        if (idle)
                handle_flush_next(fs, h);
}

/* ---- open, create ---- */

static int handle_load(FuseFs *fs, Handle *h, uint64_t size) {
        const uint8_t *data;
        size_t len;

        if (size == 0)
                return 0;
        if (fs->buffered_bytes + size > fs->opts.max_buffered_bytes)
                return -ENOMEM;
        int r = tree_read(fs_tree(fs), h->ino, 0, (size_t) size, &data, &len);
        if (r < 0)
                return r;
        r = buf_append(&h->view, data, len);
        if (r < 0)
                return r;
        handle_account(fs, h);
        return 0;
}

/* Sets up a handle for attr (a regular file) and fills fi. */
static int handle_open(FuseFs *fs, const TreeAttr *attr, struct fuse_file_info *fi, bool created,
                       Handle **ret) {
        Handle *h = handle_new(fs, attr->ino, fi->flags);
        if (!h)
                return fs->n_handles >= fs->opts.max_handles ? -ENFILE : -ENOMEM;

        if ((fi->flags & O_TRUNC) && h->writable) {
                h->trunc_set = true;
                h->trunc_size = 0;
                /* A brand-new file is already empty: nothing to commit. */
                if (created)
                        h->trunc_set = false;
        } else if (!h->writable || (fi->flags & O_ACCMODE) == O_RDWR) {
                /* Write-only handles keep no copy: their commits only carry
                 * their own bytes and sizes (see handle_build_cmd). */
                int r = handle_load(fs, h, attr->size);
                if (r < 0) {
                        handle_free(fs, h);
                        return r;
                }
        }
        h->size = h->trunc_set ? 0 : attr->size;
        fi->fh = (uintptr_t) h;
        fi->direct_io = 1;
        fi->keep_cache = 0;
        fi->nonseekable = 0;
        *ret = h;
        return 0;
}

static void open_resume(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;
        TreeAttr a;
        Handle *h;

        if (r < 0) {
                fs_reply_err(fs, OP_OPEN, op->req, EIO);
                goto out;
        }
        r = tree_getattr(fs_tree(fs), op->ino, &a);
        if (r == -ENOENT) {
                /* The kernel's dentry led to an inode that is gone: make the
                 * VFS walk the path again with fresh lookups. */
                fs->m.estale_retries++;
                fs_reply_err(fs, OP_OPEN, op->req, ESTALE);
                goto out;
        }
        if (r < 0) {
                fs_reply_err(fs, OP_OPEN, op->req, -r);
                goto out;
        }
        if (S_ISDIR(a.mode)) {
                fs_reply_err(fs, OP_OPEN, op->req, EISDIR);
                goto out;
        }
        if (!S_ISREG(a.mode)) {
                fs_reply_err(fs, OP_OPEN, op->req, EINVAL);
                goto out;
        }
        if (fs_linearizable(fs) && kinode_path_stale(fs, op->ino)) {
                fs->m.estale_retries++;
                fs_reply_err(fs, OP_OPEN, op->req, ESTALE);
                goto out;
        }
        r = handle_open(fs, &a, &op->fi, false, &h);
        if (r < 0) {
                fs_reply_err(fs, OP_OPEN, op->req, -r);
                goto out;
        }
        fs_count(fs, OP_OPEN, 0);
        if (fuse_reply_open(op->req, &op->fi) < 0)
                handle_free(fs, h);
out:
        op_free(op);
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);

        if (fs->exiting)
                return fs_reply_err(fs, OP_OPEN, req, EIO);
        if (ino_is_ctl(ino))
                return ctl_open(fs, req, ino, fi);
        Op *op = op_new(fs, req, OP_OPEN, open_resume);
        if (!op)
                return fs_reply_err(fs, OP_OPEN, req, ENOMEM);
        op->ino = ino;
        op->fi = *fi;
        /* A write-only handle reads nothing: it needs neither a copy of the
         * file nor a barrier (its writes are ordered by the log), so it
         * opens even without a quorum and its write()s say EROFS. (In
         * linearizable mode the walk that found the inode was behind
         * barriers: the name led to the current file.) */
        if ((fi->flags & O_ACCMODE) == O_WRONLY)
                return open_resume(op, 0, 0, NULL);
        /* Read this node's own writes: wait for release-time commits. */
        if (kinode_wait_bg(fs, ino, op))
                return;
        op_after_barrier(op);
}

static void create_done(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;
        Handle *h;

        if (r < 0) {
                fs_reply_err(fs, OP_CREATE, op->req, commit_errno(r));
                goto out;
        }
        bool existed = res->flags & TREE_RESULT_EXISTED;
        /* The handle sees the file as this entry left it. */
        r = handle_open(fs, &res->attr, &op->fi, !existed, &h);
        if (r < 0) {
                fs_reply_err(fs, OP_CREATE, op->req, -r);
                goto out;
        }
        if (reply_create(fs, op->req, op->ino, op->name, &res->attr, &op->fi) < 0)
                handle_free(fs, h);
out:
        op_free(op);
}

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);
        TreeCmd c;

        if (fs->exiting)
                return fs_reply_err(fs, OP_CREATE, req, EIO);
        if (ino_is_ctl(parent))
                return fs_reply_err(fs, OP_CREATE, req, EPERM);
        if (parent == TREE_ROOT_INO && strcmp(name, CTL_NAME) == 0)
                return fs_reply_err(fs, OP_CREATE, req, EEXIST);
        if (!S_ISREG(mode))
                return fs_reply_err(fs, OP_CREATE, req, EPERM);

        cmd_init(&c, TREE_CMD_CREATE);
        c.create.parent = parent;
        c.create.name = name;
        c.create.mode = mode & 07777;
        /* O_EXCL is decided in apply: exactly one of racing creators wins. */
        c.create.flags = (fi->flags & O_EXCL) ? TREE_CREATE_EXCL : 0;
        new_owner(fs, req, parent, &c.create.mode, false, &c.create.uid, &c.create.gid);

        Op *op = op_new(fs, req, OP_CREATE, create_done);
        if (!op || op_set_names(op, name, NULL) < 0) {
                op_free(op);
                return fs_reply_err(fs, OP_CREATE, req, ENOMEM);
        }
        op->ino = parent;
        op->fi = *fi;
        op->own_notices = true;
        int r = op_propose(op, &c);
        if (r < 0) {
                op_free(op);
                fs_reply_err(fs, OP_CREATE, req, commit_errno(r));
        }
}

/* ---- read, write ---- */

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);
        Handle *h = handle_of(fi);

        if (!h || h->is_dir)
                return fs_reply_err(fs, OP_READ, req, EBADF);
        if (off < 0)
                return fs_reply_err(fs, OP_READ, req, EINVAL);
        size_t len = 0;
        if ((uint64_t) off < h->view.len)
                len = MIN(size, h->view.len - (size_t) off);
        fs_count(fs, OP_READ, 0);
        (void) fuse_reply_buf(req, len ? (const char *) h->view.data + off : NULL, len);
}

static int handle_write(FuseFs *fs, Handle *h, const char *data, size_t size, uint64_t off);

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
                 struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);
        Handle *h = handle_of(fi);
        int r;

        if (!h || h->is_dir || h->is_ctl || !h->writable)
                return fs_reply_err(fs, OP_WRITE, req, h && h->is_ctl ? EROFS : EBADF);
        if (off < 0)
                return fs_reply_err(fs, OP_WRITE, req, EINVAL);
        if (h->failed)
                return fs_reply_err(fs, OP_WRITE, req, h->failed);
        r = fs->exiting ? -EIO : handle_write(fs, h, data, size, (uint64_t) off);
        if (r < 0) {
                handle_fail(fs, h, -r);
                return fs_reply_err(fs, OP_WRITE, req, -r);
        }
        fs_count(fs, OP_WRITE, 0);
        (void) fuse_reply_write(req, size);
}

/* Buffers one write in h. 0 or a negative errno (h unchanged). */
static int handle_write(FuseFs *fs, Handle *h, const char *data, size_t size, uint64_t off) {
        int r;

        /* The commit would fail after op_timeout: say so now, where every
         * tool (even bash's builtin redirections) reports it. */
        if (!fs->backend.has_quorum(fs->bud))
                return -EROFS;

        uint64_t start = h->append ? h->view.len : off;
        uint64_t end = start + size;
        uint64_t new_size = h->append ? h->size + size : MAX(h->size, end);
        if (end > fs->opts.max_file_size || end < start || new_size > fs->opts.max_file_size)
                return -EFBIG;
        uint64_t grow = end > h->view.len ? end - h->view.len : 0;
        if (h->append)
                grow += size;
        if (fs->buffered_bytes + grow > fs->opts.max_buffered_bytes)
                return -ENOSPC;

        if (end > h->view.len) {
                r = view_resize(h, end);
                if (r < 0)
                        return r;
        }
        if (h->append && !h->trunc_set)
                r = buf_append(&h->appended, data, size);
        else
                r = dirty_add(h, start, end);
        if (r < 0)
                return r;
        memcpy(h->view.data + start, data, size);
        h->wrote = true;
        h->size = new_size;
        h->change_seq = ++fs->change_seq;
        handle_account(fs, h);
        return 0;
}

/* ---- flush, fsync, release ---- */

void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);
        Handle *h = handle_of(fi);

        if (!h || h->is_ctl)
                return fs_reply_err(fs, OP_FLUSH, req, 0);
        Op *op = op_new(fs, req, OP_FLUSH, commit_done);
        if (!op)
                return fs_reply_err(fs, OP_FLUSH, req, ENOMEM);
        op->owner = fi->lock_owner;
        handle_flush_enqueue(fs, h, op);
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);
        Handle *h = handle_of(fi);

        if (!h || h->is_ctl)
                return fs_reply_err(fs, OP_FSYNC, req, 0);
        Op *op = op_new(fs, req, OP_FSYNC, commit_done);
        if (!op)
                return fs_reply_err(fs, OP_FSYNC, req, ENOMEM);
        handle_flush_enqueue(fs, h, op);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
        FuseFs *fs = fuse_req_userdata(req);
        Handle *h = handle_of(fi);

        /* Answered at once: release shares the kernel's background slots. */
        fs_reply_err(fs, OP_RELEASE, req, 0);
        if (!h)
                return;
        if (h->is_ctl) {
                handle_free(fs, h);
                return;
        }
        locks_on_release(fs, h, fi->flock_release, fi->lock_owner);
        h->released = true;
        if (handle_has_changes(h) && !h->failed && !fs->exiting) {
                Op *op = op_new(fs, NULL, OP_COMMIT_BG, commit_done);
                if (op) {
                        KInode *k = kinode_get(fs, h->ino);
                        KExtra *x = k ? kinode_extra(k) : NULL;
                        if (x) {
                                x->bg_commits++;
                                op->flags = 1;  /* counted in bg_commits */
                        }
                        handle_flush_enqueue(fs, h, op);
                        return;
                }
                log_warning("Out of memory committing %" PRIu64 " at release; changes lost", h->ino);
        }
        if (list_empty(&h->flushes))
                handle_free(fs, h);
}
