#include "config.h"
/* ops-lock.c — cluster-wide flock(2) and fcntl(2) locks through the tree.
 *
 * Every lock request is one TREE_CMD_LOCK for (our session, the kernel's
 * lock_owner). The tree answers at apply time: granted (0, fencing token =
 * the entry's index), conflict (-EAGAIN, for LOCK_NB / F_SETLK), or queued
 * (-EINPROGRESS) in the file's FIFO. A queued request parks its fuse_req_t
 * in fs->lock_waiters (by request number) without holding any thread; the
 * TREE_NOTICE_LOCK_GRANTED or _ABORTED notice of a later entry answers it.
 *
 * Interrupts (FUSE-NOTES.md): Ctrl-C of a waiter sends INTERRUPT; we propose
 * TREE_CMD_LOCK_CANCEL and answer EINTR when the tree confirms with an
 * ABORTED notice. If the grant committed first, the request gets 0 (the
 * process's FLUSH/RELEASE frees the lock). The interrupt callback is
 * registered last, after the proposal: libfuse calls it at once when the
 * INTERRUPT has already arrived. EINTR is never sent without an INTERRUPT
 * (the program would see "Unknown error 512"): a waiter cancelled for any
 * other reason gets ENOLCK, or EIO when its session expired.
 *
 * Who releases what:
 *   - flock: the owner is the open file description, i.e. our Handle, whose
 *     unique id (not the kernel's lock_owner) is the tree's owner. The
 *     kernel frees the struct file before its RELEASE reaches us, so a new
 *     open file may reuse the same lock_owner value and lock before the old
 *     one's release is applied; the handle id cannot be reused. The RELEASE
 *     of the last descriptor drops the FLOCK table of the handle
 *     (idempotent: the kernel may set flock_release after a failed LOCK_NB).
 *   - POSIX: every close() sends FLUSH with the closing process's owner: its
 *     POSIX locks on the inode go (only when this node knows that owner has
 *     some there, KExtra.posix_owners, so that most closes commit nothing).
 *   - OFD (F_OFD_SETLK): they arrive as POSIX locks whose owner is the open
 *     file and never appears in a FLUSH; the handle remembers every POSIX
 *     owner that locked through it and forgets those seen in a FLUSH, and its
 *     RELEASE drops what is left.
 *   - a killed daemon or a lazy unmount: no RELEASE ever comes; the locks
 *     belong to the node's session and expire with it (tree/).
 * Lock owners are reused kernel pointers, so nothing is kept past the
 * FLUSH/RELEASE that ends it. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/file.h>

#include "fusefs/internal.h"
#include "lib/log.h"

static void bg_done(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;
        if (r < 0 && r != -ENOLINK)
                log_debug_errno(r, "Background lock release on %" PRIu64 " failed: %m", op->ino);
        fs_count(fs, op->kind, r < 0);
        op_free(op);
}

static void propose_release_bg(FuseFs *fs, uint64_t ino, uint64_t owner, uint32_t flags) {
        TreeCmd c;

        if (fs->exiting || fs->backend.session_id(fs->bud) == 0)
                return;
        Op *op = op_new(fs, NULL, OP_RELEASE, bg_done);
        if (!op)
                return;
        op->ino = ino;
        cmd_init(&c, TREE_CMD_LOCK_RELEASE);
        c.lock_release.ino = ino;
        c.lock_release.owner = owner;
        c.lock_release.flags = flags;
        if (op_propose(op, &c) < 0)
                op_free(op);
}

static int handle_owner_add(Handle *h, uint64_t owner) {
        for (size_t i = 0; i < h->n_posix_owners; i++)
                if (h->posix_owners[i] == owner)
                        return 0;
        if (h->n_posix_owners >= 1024)
                return -ENOLCK;
        uint64_t *a = realloc(h->posix_owners, (h->n_posix_owners + 1) * sizeof(uint64_t));
        if (!a)
                return -ENOMEM;
        a[h->n_posix_owners++] = owner;
        h->posix_owners = a;
        return 0;
}

static void handle_owner_remove(Handle *h, uint64_t owner) {
        for (size_t i = 0; i < h->n_posix_owners; i++)
                if (h->posix_owners[i] == owner) {
                        h->posix_owners[i] = h->posix_owners[--h->n_posix_owners];
                        return;
                }
}

/* ---- FLUSH and RELEASE ---- */

static void flush_release_done(Op *op, int r, uint64_t index, const TreeResult *res) {
        /* The session is gone (-ENOLINK): so are its locks. Otherwise a
         * failure to release is the close's error: the lock may still be
         * held cluster-wide. */
        if (r < 0 && r != -ENOLINK && op->err == 0)
                op->err = commit_errno(r);
        op->then(op);
}

void locks_on_flush(FuseFs *fs, Handle *h, uint64_t ino, uint64_t owner, Op *op,
                    void (*then)(Op *op)) {
        TreeCmd c;

        /* A process owner, not an OFD owner of this handle. */
        if (h)
                handle_owner_remove(h, owner);
        KInode *k = kinode_get(fs, ino);
        if (!k || !kinode_owner_remove(k, owner) || fs->exiting ||
            fs->backend.session_id(fs->bud) == 0)
                return then(op);

        cmd_init(&c, TREE_CMD_LOCK_RELEASE);
        c.lock_release.ino = ino;
        c.lock_release.owner = owner;
        c.lock_release.flags = TREE_RELEASE_POSIX;
        op->fn = flush_release_done;
        op->then = then;
        int r = op_propose(op, &c);
        if (r < 0) {
                if (op->err == 0)
                        op->err = commit_errno(r);
                then(op);
        }
}

/* Another open handle of ino uses owner for POSIX locks: the kernel reused
 * the pointer of a released open file for a new one (OFD owners). */
static bool owner_in_use(FuseFs *fs, const Handle *self, uint64_t ino, uint64_t owner) {
        Handle *h;
        list_foreach(h, &fs->handles, node) {
                if (h == self || h->ino != ino || h->released)
                        continue;
                for (size_t i = 0; i < h->n_posix_owners; i++)
                        if (h->posix_owners[i] == owner)
                                return true;
        }
        return false;
}

void locks_on_release(FuseFs *fs, Handle *h, bool flock_release, uint64_t owner) {
        if (flock_release || h->flock_used)
                propose_release_bg(fs, h->ino, h->id, TREE_RELEASE_FLOCK);
        KInode *k = kinode_get(fs, h->ino);
        for (size_t i = 0; i < h->n_posix_owners; i++) {
                uint64_t o = h->posix_owners[i];
                if (owner_in_use(fs, h, h->ino, o))
                        continue;
                if (k)
                        (void) kinode_owner_remove(k, o);
                propose_release_bg(fs, h->ino, o, TREE_RELEASE_POSIX);
        }
        h->n_posix_owners = 0;
}

/* ---- waiters ---- */

static void waiter_remove(FuseFs *fs, Op *op) {
        if (op->waiting) {
                (void) hashmap_remove(fs->lock_waiters, U64_TO_PTR(op->request));
                op->waiting = false;
        }
}

static void waiter_reply(FuseFs *fs, Op *op, int err) {
        waiter_remove(fs, op);
        if (err == 0)
                fs->m.lock_grants_waited++;
        fs_reply_err(fs, op->kind, op->req, err);
        op->req = NULL;
        op_free(op);
}

static void cancel_done(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;
        Op *w = hashmap_get(fs->lock_waiters, U64_TO_PTR(op->target_request));

        /* 0: an ABORTED notice for the waiter follows (or came) and answers
         * it. -ENOENT: it was granted or aborted already. Anything else (no
         * quorum): give up waiting; a late grant is freed by the close. */
        if (r < 0 && r != -ENOENT && w && w->session == op->target_session)
                waiter_reply(fs, w, EINTR);
        fs_count(fs, OP_LOCK_CANCEL, r < 0 && r != -ENOENT);
        op_free(op);
}

static void waiter_cancel(FuseFs *fs, Op *w) {
        TreeCmd c;

        fs->m.lock_interrupts++;
        Op *op = op_new(fs, NULL, OP_LOCK_CANCEL, cancel_done);
        if (!op)
                return waiter_reply(fs, w, EINTR);
        /* (op->session/request become the cancel's own: they index it
         * among the proposals in flight.) */
        op->target_request = w->request;
        op->target_session = w->session;
        cmd_init(&c, TREE_CMD_LOCK_CANCEL);
        c.lock_cancel.ino = w->ino;
        c.lock_cancel.request = w->request;
        int r = op_propose(op, &c);
        if (r < 0) {
                op_free(op);
                waiter_reply(fs, w, EINTR);
        }
}

static void lock_interrupt(fuse_req_t req, void *data) {
        Op *op = data;
        FuseFs *fs = op->fs;

        if (!fs || op->interrupted)
                return;
        op->interrupted = true;
        /* Still being proposed: lock_done sees the flag. */
        if (op->waiting)
                waiter_cancel(fs, op);
}

/* A grant is only reported to a process while the session it was made for
 * is still ours and not in jeopardy: after a stall the entries that expire
 * the session may follow the grant (or not have reached us yet), and the
 * process would believe it holds a lock that is already gone. The refused
 * grant stays in the tree until the file's close releases it. */
static bool session_current(FuseFs *fs, const Op *op) {
        uint64_t s = fs->backend.session_id(fs->bud);

        return s != 0 && s == op->session;
}

static void lock_done(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;

        if ((r == 0 || r == -EINPROGRESS) && !session_current(fs, op)) {
                fs_reply_err(fs, op->kind, op->req, EIO);
                op_free(op);
                return;
        }
        if (r == -EINPROGRESS && op->early) {
                /* Granted or aborted already (see locks_notice). */
                int err = op->early_err == 0 ? 0 : op->interrupted ? EINTR :
                          op->early_err == -ENOLINK ? EIO : ENOLCK;
                if (err == 0)
                        fs->m.lock_grants_waited++;
                fs_reply_err(fs, op->kind, op->req, err);
                op_free(op);
                return;
        }
        if (r == -EINPROGRESS) {
                if (hashmap_size(fs->lock_waiters) >= fs->opts.max_waiters ||
                    hashmap_put(fs->lock_waiters, U64_TO_PTR(op->request), op) < 0) {
                        /* Cannot track it: take it out of the queue again. */
                        op->waiting = false;
                        op->interrupted = true;
                        TreeCmd c;
                        cmd_init(&c, TREE_CMD_LOCK_CANCEL);
                        c.lock_cancel.ino = op->ino;
                        c.lock_cancel.request = op->request;
                        Op *cop = op_new(fs, NULL, OP_LOCK_CANCEL, bg_done);
                        if (cop && op_propose(cop, &c) < 0)
                                op_free(cop);
                        fs_reply_err(fs, op->kind, op->req, ENOLCK);
                        op_free(op);
                        return;
                }
                op->waiting = true;
                if (op->interrupted)
                        waiter_cancel(fs, op);
                return;
        }
        if (r == -EAGAIN)
                fs_reply_err(fs, op->kind, op->req, EAGAIN);
        else if (r < 0)
                fs_reply_err(fs, op->kind, op->req, commit_errno(r));
        else
                fs_reply_err(fs, op->kind, op->req, 0);
        op_free(op);
}

/* Proposes a LOCK for the request and answers it (now or later). */
static void lock_request(FuseFs *fs, fuse_req_t req, OpKind kind, Handle *h, uint64_t ino,
                         uint8_t table, uint8_t mode, uint64_t owner, bool wait, uint64_t start,
                         uint64_t end) {
        TreeCmd c;

        if (fs->exiting)
                return fs_reply_err(fs, kind, req, EIO);
        /* Without a session this node's locks may already be gone. */
        if (fs->backend.session_id(fs->bud) == 0)
                return fs_reply_err(fs, kind, req, EIO);
        if (table == TREE_LOCK_POSIX && mode != TREE_LOCK_UNLOCK) {
                KInode *k = kinode_get(fs, ino);
                int r = k ? kinode_owner_add(k, owner) : 0;
                if (r >= 0 && h)
                        r = handle_owner_add(h, owner);
                if (r < 0)
                        return fs_reply_err(fs, kind, req, -r);
        }

        Op *op = op_new(fs, req, kind, lock_done);
        if (!op)
                return fs_reply_err(fs, kind, req, ENOMEM);
        op->ino = ino;
        op->owner = owner;
        op->table = table;
        cmd_init(&c, TREE_CMD_LOCK);
        c.lock.ino = ino;
        c.lock.owner = owner;
        c.lock.pid = (uint32_t) fuse_req_ctx(req)->pid;
        c.lock.table = table;
        c.lock.mode = mode;
        c.lock.wait = wait && mode != TREE_LOCK_UNLOCK;
        c.lock.start = start;
        c.lock.end = end;
        int r = op_propose(op, &c);
        if (r < 0) {
                op_free(op);
                return fs_reply_err(fs, kind, req, commit_errno(r));
        }
        if (c.lock.wait)
                fuse_req_interrupt_func(req, lock_interrupt, op);
}

void fs_op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op) {
        FuseFs *fs = fuse_req_userdata(req);
        Handle *h = handle_of(fi);
        uint8_t mode;

        if (ino_is_ctl(ino))
                return fs_reply_err(fs, OP_FLOCK, req, EINVAL);
        switch (op & ~LOCK_NB) {
        case LOCK_SH:
                mode = TREE_LOCK_SHARED;
                break;
        case LOCK_EX:
                mode = TREE_LOCK_EXCLUSIVE;
                break;
        case LOCK_UN:
                mode = TREE_LOCK_UNLOCK;
                break;
        default:
                return fs_reply_err(fs, OP_FLOCK, req, EINVAL);
        }
        if (!h)
                return fs_reply_err(fs, OP_FLOCK, req, EBADF);
        h->flock_used = true;
        lock_request(fs, req, OP_FLOCK, h, ino, TREE_LOCK_FLOCK, mode, h->id, !(op & LOCK_NB), 0,
                     TREE_LOCK_EOF);
}

/* struct flock as libfuse passes it (absolute l_start, l_len 0 = to EOF)
 * to an inclusive tree range. */
static int flock_range(const struct flock *l, uint64_t *ret_start, uint64_t *ret_end) {
        if (l->l_start < 0 || l->l_len < 0)
                return -EINVAL;
        *ret_start = (uint64_t) l->l_start;
        *ret_end = l->l_len == 0 ? TREE_LOCK_EOF : (uint64_t) l->l_start + (uint64_t) l->l_len - 1;
        return *ret_end < *ret_start ? -EINVAL : 0;
}

static int mode_from_type(short type, uint8_t *ret) {
        switch (type) {
        case F_RDLCK:
                *ret = TREE_LOCK_SHARED;
                return 0;
        case F_WRLCK:
                *ret = TREE_LOCK_EXCLUSIVE;
                return 0;
        case F_UNLCK:
                *ret = TREE_LOCK_UNLOCK;
                return 0;
        default:
                return -EINVAL;
        }
}

void fs_op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
                 int sleep) {
        FuseFs *fs = fuse_req_userdata(req);
        uint64_t start, end;
        uint8_t mode;

        if (ino_is_ctl(ino))
                return fs_reply_err(fs, OP_SETLK, req, EINVAL);
        if (mode_from_type(lock->l_type, &mode) < 0 || flock_range(lock, &start, &end) < 0)
                return fs_reply_err(fs, OP_SETLK, req, EINVAL);
        lock_request(fs, req, OP_SETLK, handle_of(fi), ino, TREE_LOCK_POSIX, mode, fi->lock_owner,
                     sleep, start, end);
}

static void getlk_resume(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;
        TreeLockInfo info;
        struct flock l = { 0 };

        if (r < 0) {
                fs_reply_err(fs, OP_GETLK, op->req, EIO);
                goto out;
        }
        r = tree_getlk(fs_tree(fs), op->ino, TREE_LOCK_POSIX, fs->backend.session_id(fs->bud),
                       op->owner, (uint8_t) op->mode, (uint64_t) op->st.st_size,
                       (uint64_t) op->offset, &info);
        if (r < 0) {
                fs_reply_err(fs, OP_GETLK, op->req, -r);
                goto out;
        }
        l.l_whence = SEEK_SET;
        if (info.mode == TREE_LOCK_UNLOCK)
                l.l_type = F_UNLCK;
        else {
                l.l_type = info.mode == TREE_LOCK_SHARED ? F_RDLCK : F_WRLCK;
                l.l_start = (off_t) info.start;
                l.l_len = info.end == TREE_LOCK_EOF ? 0 : (off_t) (info.end - info.start + 1);
                /* A pid of another machine means nothing here. */
                l.l_pid = info.session == fs->backend.session_id(fs->bud) ? (pid_t) info.pid : 0;
        }
        fs_count(fs, OP_GETLK, 0);
        (void) fuse_reply_lock(op->req, &l);
out:
        op_free(op);
}

void fs_op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock) {
        FuseFs *fs = fuse_req_userdata(req);
        uint64_t start, end;
        uint8_t mode;

        if (fs->exiting)
                return fs_reply_err(fs, OP_GETLK, req, EIO);
        if (ino_is_ctl(ino) || mode_from_type(lock->l_type, &mode) < 0 ||
            flock_range(lock, &start, &end) < 0)
                return fs_reply_err(fs, OP_GETLK, req, EINVAL);
        Op *op = op_new(fs, req, OP_GETLK, getlk_resume);
        if (!op)
                return fs_reply_err(fs, OP_GETLK, req, ENOMEM);
        op->ino = ino;
        op->owner = fi->lock_owner;
        op->mode = mode;
        op->st.st_size = (off_t) start;        /* range kept in spare fields */
        op->offset = (off_t) end;
        op_after_barrier(op);
}

/* ---- notices from applied entries ---- */

void locks_notice(FuseFs *fs, const TreeNotice *n) {
        Op *w = hashmap_get(fs->lock_waiters, U64_TO_PTR(n->request));

        if (!w || w->session != n->session) {
                /* The backend may deliver the LOCK's own result (-EINPROGRESS)
                 * after the notices of later entries: remember the outcome
                 * for lock_done. */
                Op *op = fs_inflight(fs, n->session, n->request);
                if (op && (op->kind == OP_FLOCK || op->kind == OP_SETLK)) {
                        op->early = true;
                        op->early_err = n->type == TREE_NOTICE_LOCK_GRANTED ? 0 : n->err;
                }
                return;
        }
        if (n->type == TREE_NOTICE_LOCK_GRANTED)
                waiter_reply(fs, w, session_current(fs, w) ? 0 : EIO);
        else if (n->type == TREE_NOTICE_LOCK_ABORTED) {
                int err = w->interrupted ? EINTR : n->err == -ENOLINK ? EIO : ENOLCK;
                waiter_reply(fs, w, err);
        }
}

static void abort_waiters(FuseFs *fs, bool all, uint64_t session) {
        size_t n = hashmap_size(fs->lock_waiters), i = 0;
        if (n == 0)
                return;
        Op **v = calloc(n, sizeof(Op *));
        if (!v)
                return;
        HashmapIter it = HASHMAP_ITER_INIT;
        void *val;
        while (i < n && hashmap_iterate(fs->lock_waiters, &it, NULL, &val)) {
                Op *w = val;
                if (all || w->session != session)
                        v[i++] = w;
        }
        while (i > 0)
                waiter_reply(fs, v[--i], EIO);
        free(v);
}

void locks_session_changed(FuseFs *fs, uint64_t session) {
        abort_waiters(fs, false, session);
}

void locks_abort_all(FuseFs *fs) {
        abort_waiters(fs, true, 0);
}
