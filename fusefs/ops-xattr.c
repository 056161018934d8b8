#include "config.h"
/* ops-xattr.c — extended attributes.
 *
 * Only user.* attributes exist (the tree answers EOPNOTSUPP for the other
 * namespaces). Setting and removing are one committed entry each; reading
 * waits for a read barrier in linearizable mode like every read, which
 * matters for the virtual user.raftfs.lock (holders and waiters of the
 * file's cluster locks, produced by the tree) and user.raftfs.ephemeral.
 * getxattr/listxattr follow the size protocol of the syscalls: size 0 asks
 * for the length, a too small buffer gets ERANGE. */

#include <errno.h>
#include <stdlib.h>

#include "fusefs/internal.h"

static void xattr_done(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;

        if (r < 0)
                fs_reply_err(fs, op->kind, op->req, commit_errno(r));
        else {
                /* Nothing of it is cached by the kernel but the ctime. */
                fs_reply_err(fs, op->kind, op->req, 0);
        }
        op_free(op);
}

static void propose_xattr(FuseFs *fs, fuse_req_t req, OpKind kind, uint8_t type, uint64_t ino,
                          const char *name, const char *value, size_t size, int flags) {
        TreeCmd c;

        if (fs->exiting)
                return fs_reply_err(fs, kind, req, EIO);
        if (ino_is_ctl(ino))
                return fs_reply_err(fs, kind, req, EPERM);
        if (flags & ~(TREE_XATTR_CREATE | TREE_XATTR_REPLACE))
                return fs_reply_err(fs, kind, req, EINVAL);
        cmd_init(&c, type);
        c.xattr.ino = ino;
        c.xattr.name = name;
        c.xattr.value = (const uint8_t *) value;
        c.xattr.value_len = size;
        c.xattr.flags = (uint32_t) flags;
        Op *op = op_new(fs, req, kind, xattr_done);
        if (!op)
                return fs_reply_err(fs, kind, req, ENOMEM);
        op->ino = ino;
        op->own_notices = true;
        int r = op_propose(op, &c);
        if (r < 0) {
                op_free(op);
                fs_reply_err(fs, kind, req, commit_errno(r));
        }
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags) {
        propose_xattr(fuse_req_userdata(req), req, OP_SETXATTR, TREE_CMD_SETXATTR, ino, name, value,
                      size, flags);
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
        propose_xattr(fuse_req_userdata(req), req, OP_REMOVEXATTR, TREE_CMD_REMOVEXATTR, ino, name,
                      NULL, 0, 0);
}

/* Answers a get/list request from out, following the size protocol. */
static void reply_sized(FuseFs *fs, OpKind kind, fuse_req_t req, const Buf *out, size_t size) {
        if (size == 0) {
                fs_count(fs, kind, 0);
                (void) fuse_reply_xattr(req, out->len);
        } else if (out->len > size)
                fs_reply_err(fs, kind, req, ERANGE);
        else {
                fs_count(fs, kind, 0);
                (void) fuse_reply_buf(req, (const char *) out->data, out->len);
        }
}

static void xattr_read_resume(Op *op, int r, uint64_t index, const TreeResult *res) {
        FuseFs *fs = op->fs;
        Buf out = BUF_INIT;

        if (r < 0)
                fs_reply_err(fs, op->kind, op->req, EIO);
        else {
                if (op->kind == OP_GETXATTR)
                        r = tree_getxattr(fs_tree(fs), op->ino, op->name, &out);
                else
                        r = tree_listxattr(fs_tree(fs), op->ino, &out);
                if (r < 0)
                        fs_reply_err(fs, op->kind, op->req, -r);
                else
                        reply_sized(fs, op->kind, op->req, &out, op->size);
        }
        buf_done(&out);
        op_free(op);
}

static void xattr_read(fuse_req_t req, OpKind kind, uint64_t ino, const char *name, size_t size) {
        FuseFs *fs = fuse_req_userdata(req);

        if (fs->exiting)
                return fs_reply_err(fs, kind, req, EIO);
        if (ino_is_ctl(ino)) {
                if (kind == OP_GETXATTR)
                        return fs_reply_err(fs, kind, req, ENODATA);
                Buf empty = BUF_INIT;
                return reply_sized(fs, kind, req, &empty, size);
        }
        Op *op = op_new(fs, req, kind, xattr_read_resume);
        if (!op || op_set_names(op, name, NULL) < 0) {
                op_free(op);
                return fs_reply_err(fs, kind, req, ENOMEM);
        }
        op->ino = ino;
        op->size = size;
        op_after_barrier(op);
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
        xattr_read(req, OP_GETXATTR, ino, name, size);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
        xattr_read(req, OP_LISTXATTR, ino, NULL, size);
}
