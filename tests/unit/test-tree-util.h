/* test-tree-util.h — helpers shared by the tree/ test suites: a context that
 * encodes a command, applies it at the next index and keeps the result and
 * notices, plus one-line wrappers for the common commands. Every command
 * goes through tree_cmd_encode() and tree_apply(), as in the daemon. */
#pragma once

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/buf.h"
#include "tree/tree.h"

typedef struct Ctx {
        Tree *t;
        uint64_t index;         /* index of the last applied entry */
        uint64_t now;           /* time_usec for the next command */
        uint64_t session;       /* author of namespace commands (0 = none) */
        uint64_t request;       /* last request number used */
        TreeResult res;
        TreeNotices notices;
} Ctx;

static inline void ctx_init(Ctx *c, const TreeLimits *l) {
        *c = (Ctx) { .t = tree_new(l), .index = 1, .now = 1000000 };
        ck_assert_ptr_nonnull(c->t);
}

static inline void ctx_done(Ctx *c) {
        c->t = tree_free(c->t);
        tree_notices_done(&c->notices);
}

/* Applies cmd at the next index; returns the command's errno. */
static inline int ctx_apply(Ctx *c, TreeCmd *cmd) {
        Buf b = BUF_INIT;
        if (cmd->time_usec == 0)
                cmd->time_usec = c->now;
        ck_assert_int_eq(tree_cmd_encode(cmd, &b), 0);
        tree_notices_clear(&c->notices);
        ck_assert_int_eq(tree_apply(c->t, ++c->index, b.data, b.len, &c->res, &c->notices), 0);
        buf_done(&b);
        return c->res.err;
}

/* Fills in the author (ctx session and a fresh request number). */
static inline int ctx_apply_as(Ctx *c, TreeCmd *cmd) {
        if (c->session && !cmd->session) {
                cmd->session = c->session;
                cmd->request = ++c->request;
        }
        return ctx_apply(c, cmd);
}

static inline int do_create(Ctx *c, uint64_t parent, const char *name, uint32_t flags) {
        TreeCmd cmd = { .type = TREE_CMD_CREATE,
                        .create = { .parent = parent, .name = name, .mode = 0644, .uid = 1000, .gid = 100,
                                    .flags = flags } };
        return ctx_apply_as(c, &cmd);
}

static inline int do_mkdir(Ctx *c, uint64_t parent, const char *name) {
        TreeCmd cmd = { .type = TREE_CMD_MKDIR,
                        .create = { .parent = parent, .name = name, .mode = 0755 } };
        return ctx_apply_as(c, &cmd);
}

static inline int do_symlink(Ctx *c, uint64_t parent, const char *name, const char *target) {
        TreeCmd cmd = { .type = TREE_CMD_SYMLINK,
                        .symlink = { .parent = parent, .name = name, .target = target } };
        return ctx_apply_as(c, &cmd);
}

static inline int do_link(Ctx *c, uint64_t ino, uint64_t parent, const char *name) {
        TreeCmd cmd = { .type = TREE_CMD_LINK, .link = { .ino = ino, .new_parent = parent, .new_name = name } };
        return ctx_apply_as(c, &cmd);
}

static inline int do_unlink(Ctx *c, uint64_t parent, const char *name) {
        TreeCmd cmd = { .type = TREE_CMD_UNLINK, .unlink = { .parent = parent, .name = name } };
        return ctx_apply_as(c, &cmd);
}

static inline int do_rmdir(Ctx *c, uint64_t parent, const char *name) {
        TreeCmd cmd = { .type = TREE_CMD_RMDIR, .unlink = { .parent = parent, .name = name } };
        return ctx_apply_as(c, &cmd);
}

static inline int do_rename(Ctx *c, uint64_t p, const char *n, uint64_t np, const char *nn, uint32_t flags) {
        TreeCmd cmd = { .type = TREE_CMD_RENAME,
                        .rename = { .parent = p, .name = n, .new_parent = np, .new_name = nn, .flags = flags } };
        return ctx_apply_as(c, &cmd);
}

static inline int do_write(Ctx *c, uint64_t ino, uint64_t off, const char *data) {
        TreeExtent e = { off, (const uint8_t *) data, strlen(data) };
        TreeCmd cmd = { .type = TREE_CMD_WRITE, .write = { .ino = ino, .extents = &e, .n_extents = 1 } };
        return ctx_apply_as(c, &cmd);
}

static inline int do_truncate(Ctx *c, uint64_t ino, uint64_t size) {
        TreeCmd cmd = { .type = TREE_CMD_SETATTR,
                        .setattr = { .ino = ino, .valid = TREE_SETATTR_SIZE, .size = size } };
        return ctx_apply_as(c, &cmd);
}

static inline int do_setxattr(Ctx *c, uint64_t ino, const char *name, const char *value, uint32_t flags) {
        TreeCmd cmd = { .type = TREE_CMD_SETXATTR,
                        .xattr = { .ino = ino, .name = name, .value = (const uint8_t *) value,
                                   .value_len = strlen(value), .flags = flags } };
        return ctx_apply_as(c, &cmd);
}

static inline int do_removexattr(Ctx *c, uint64_t ino, const char *name) {
        TreeCmd cmd = { .type = TREE_CMD_REMOVEXATTR, .xattr = { .ino = ino, .name = name } };
        return ctx_apply_as(c, &cmd);
}

/* Opens a session for node; returns its id. */
static inline uint64_t do_session_open(Ctx *c, const char *node) {
        TreeCmd cmd = { .type = TREE_CMD_SESSION_OPEN, .session_open = { .node = node } };
        ck_assert_int_eq(ctx_apply(c, &cmd), 0);
        ck_assert_uint_eq(c->res.session, c->index);
        return c->res.session;
}

static inline int do_session_expire(Ctx *c, uint64_t session, uint64_t delay, uint32_t flags) {
        TreeCmd cmd = { .type = TREE_CMD_SESSION_EXPIRE,
                        .session_expire = { .session = session, .lock_delay_usec = delay, .flags = flags } };
        return ctx_apply(c, &cmd);
}

static inline int do_tick(Ctx *c) {
        TreeCmd cmd = { .type = TREE_CMD_TICK };
        return ctx_apply(c, &cmd);
}

/* A lock command by (session, owner) with a fresh request number. */
static inline int do_lock(Ctx *c, uint64_t session, uint64_t ino, uint64_t owner, uint8_t table, uint8_t mode,
                          bool wait, uint64_t start, uint64_t end) {
        TreeCmd cmd = { .type = TREE_CMD_LOCK, .session = session, .request = ++c->request,
                        .lock = { .ino = ino, .owner = owner, .pid = (uint32_t) owner, .table = table,
                                  .mode = mode, .wait = wait, .start = start, .end = end } };
        return ctx_apply(c, &cmd);
}

static inline int do_flock(Ctx *c, uint64_t session, uint64_t ino, uint64_t owner, uint8_t mode, bool wait) {
        return do_lock(c, session, ino, owner, TREE_LOCK_FLOCK, mode, wait, 0, 0);
}

static inline int do_posix(Ctx *c, uint64_t session, uint64_t ino, uint64_t owner, uint8_t mode, bool wait,
                           uint64_t start, uint64_t end) {
        return do_lock(c, session, ino, owner, TREE_LOCK_POSIX, mode, wait, start, end);
}

static inline int do_cancel(Ctx *c, uint64_t session, uint64_t ino, uint64_t request) {
        TreeCmd cmd = { .type = TREE_CMD_LOCK_CANCEL, .session = session, .request = ++c->request,
                        .lock_cancel = { .ino = ino, .request = request } };
        return ctx_apply(c, &cmd);
}

static inline int do_release(Ctx *c, uint64_t session, uint64_t ino, uint64_t owner, uint32_t flags) {
        TreeCmd cmd = { .type = TREE_CMD_LOCK_RELEASE, .session = session, .request = ++c->request,
                        .lock_release = { .ino = ino, .owner = owner, .flags = flags } };
        return ctx_apply(c, &cmd);
}

/* The number of notices of a type in the last apply; *ret the last one. */
static inline size_t count_notices(const Ctx *c, uint8_t type, const TreeNotice **ret) {
        size_t n = 0;
        for (size_t k = 0; k < c->notices.n; k++)
                if (c->notices.items[k].type == type) {
                        n++;
                        if (ret)
                                *ret = &c->notices.items[k];
                }
        return n;
}

/* ino of parent/name, or 0. */
static inline uint64_t ino_of(const Ctx *c, uint64_t parent, const char *name) {
        TreeAttr a;
        return tree_lookup(c->t, parent, name, &a) == 0 ? a.ino : 0;
}

/* Snapshot round trip: load(write(t)) writes the same bytes. */
static inline void check_snapshot_roundtrip(const Tree *t) {
        Buf a = BUF_INIT, b = BUF_INIT;
        Tree *u = NULL;
        ck_assert_int_eq(tree_snapshot_write(t, &a), 0);
        ck_assert_int_eq(tree_snapshot_load(a.data, a.len, &u), 0);
        ck_assert_int_eq(tree_snapshot_write(u, &b), 0);
        ck_assert_uint_eq(a.len, b.len);
        ck_assert(memcmp(a.data, b.data, a.len) == 0);
        tree_free(u);
        buf_done(&a);
        buf_done(&b);
}

static inline char *lock_text(const Tree *t, uint64_t ino) {
        Buf b = BUF_INIT;
        ck_assert_int_eq(tree_lock_text(t, ino, &b), 0);
        ck_assert_int_eq(buf_append(&b, "", 1), 0);
        return (char *) b.data;
}
