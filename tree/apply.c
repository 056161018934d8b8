#include "config.h"
/* apply.c — tree_apply(): decode one committed entry, answer retries from the
 * session's dedupe table (Raft thesis §6.3), dispatch to the command, record
 * the result; plus the change-notice list the daemon drains afterwards.
 *
 * Order inside one apply, identical on every node:
 *   1. decode (malformed: result -EBADMSG, nothing else happens);
 *   2. lock-delays that ended at or before the command's time end, and their
 *      waiters are granted (token = this index);
 *   3. author check: a named session must be open (-ENOLINK); a request number
 *      already applied returns the remembered result (DUPLICATE);
 *   4. the command itself (errno paths change nothing, see tree.h);
 *   5. the result is remembered and results below the author's ack dropped.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "tree/tree-internal.h"

/* ---- notices ---- */

static TreeNotice *notice_add(Apply *a, uint8_t type) {
        TreeNotices *n = a->notices;
        if (!n)
                return NULL;
        if (n->n == n->cap) {
                size_t cap = n->cap ? n->cap * 2 : 16;
                TreeNotice *items = realloc(n->items, cap * sizeof(TreeNotice));
                if (!items) {
                        a->oom = -ENOMEM;
                        return NULL;
                }
                n->items = items;
                n->cap = cap;
        }
        TreeNotice *x = &n->items[n->n++];
        *x = (TreeNotice) { .type = type };
        return x;
}

static char *notice_strdup(Apply *a, const char *s) {
        char *d = strdup(s);
        if (!d)
                a->oom = -ENOMEM;
        return d;
}

void notice_inode(Apply *a, uint64_t ino, uint32_t flags) {
        TreeNotices *n = a->notices;
        /* Coalesce with the previous notice of the same inode. */
        if (n && n->n > 0 && n->items[n->n - 1].type == TREE_NOTICE_INODE &&
            n->items[n->n - 1].ino == ino) {
                n->items[n->n - 1].flags |= flags;
                return;
        }
        TreeNotice *x = notice_add(a, TREE_NOTICE_INODE);
        if (x) {
                x->ino = ino;
                x->flags = flags;
        }
}

void notice_entry(Apply *a, uint8_t type, uint64_t parent, const char *name, uint64_t ino) {
        TreeNotice *x = notice_add(a, type);
        if (!x)
                return;
        x->parent = parent;
        x->ino = ino;
        if (name)
                x->name = notice_strdup(a, name);
}

void notice_lock(Apply *a, uint8_t type, const Lock *l, uint64_t ino, uint64_t token, int err) {
        TreeNotice *x = notice_add(a, type);
        if (!x)
                return;
        x->ino = ino;
        x->session = l->session;
        x->owner = l->owner;
        x->request = l->request;
        x->token = token;
        x->table = l->table;
        x->err = err;
}

void notice_session(Apply *a, uint8_t type, const Session *s) {
        TreeNotice *x = notice_add(a, type);
        if (!x)
                return;
        x->session = s->id;
        x->name = notice_strdup(a, s->node);
}

void tree_notices_clear(TreeNotices *n) {
        if (!n)
                return;
        for (size_t k = 0; k < n->n; k++)
                free(n->items[k].name);
        n->n = 0;
}

void tree_notices_done(TreeNotices *n) {
        if (!n)
                return;
        tree_notices_clear(n);
        free(n->items);
        *n = (TreeNotices) {};
}

/* ---- apply ---- */

static int set_limits(Apply *a) {
        TreeLimits l = a->cmd->set_limits.limits;
        tree_limits_normalize(&l);
        a->t->limits = l;
        return 0;
}

static int dispatch(Apply *a) {
        switch (a->cmd->type) {
        case TREE_CMD_CREATE:
                return ns_create(a);
        case TREE_CMD_MKDIR:
                return ns_mkdir(a);
        case TREE_CMD_SYMLINK:
                return ns_symlink(a);
        case TREE_CMD_LINK:
                return ns_link(a);
        case TREE_CMD_UNLINK:
                return ns_unlink(a, false);
        case TREE_CMD_RMDIR:
                return ns_unlink(a, true);
        case TREE_CMD_RENAME:
                return ns_rename(a);
        case TREE_CMD_SETATTR:
                return ns_setattr(a);
        case TREE_CMD_WRITE:
                return ns_write(a);
        case TREE_CMD_SETXATTR:
                return ns_setxattr(a);
        case TREE_CMD_REMOVEXATTR:
                return ns_removexattr(a);
        case TREE_CMD_SESSION_OPEN:
                return session_open(a);
        case TREE_CMD_SESSION_EXPIRE:
                return session_expire(a);
        case TREE_CMD_TICK:
                return 0;       /* its work (ending lock-delays) happened before dispatch */
        case TREE_CMD_SET_LIMITS:
                return set_limits(a);
        case TREE_CMD_LOCK:
                return lock_cmd(a);
        case TREE_CMD_LOCK_CANCEL:
                return lock_cancel(a);
        case TREE_CMD_LOCK_RELEASE:
                return lock_release(a);
        default:
                return -EBADMSG;
        }
}

/* Which number a command's result carries. */
static uint64_t result_value(uint8_t type, const TreeResult *r) {
        if (type == TREE_CMD_LOCK)
                return r->token;
        if (type == TREE_CMD_SESSION_OPEN)
                return r->session;
        return r->ino;
}

static void result_from_remembered(const Tree *t, uint8_t type, const Result *old, TreeResult *res) {
        *res = (TreeResult) { .err = old->err, .flags = old->flags | TREE_RESULT_DUPLICATE };
        if (type == TREE_CMD_LOCK)
                res->token = old->value;
        else if (type == TREE_CMD_SESSION_OPEN)
                res->session = old->value;
        else if (old->value != 0) {
                Inode *i = tree_inode(t, old->value);
                res->ino = old->value;
                if (i)
                        inode_fill_attr(i, &res->attr);
        }
}

static int apply_cmd(Tree *t, uint64_t index, const TreeCmd *cmd, TreeResult *res, TreeNotices *notices) {
        Apply a = { .t = t, .index = index, .cmd = cmd, .result = res, .notices = notices };

        lock_run_deadlines(&a, cmd->time_usec);
        if (a.oom)
                return a.oom;

        if (cmd->session != 0) {
                a.session = session_get(t, cmd->session);
                if (!a.session) {
                        res->err = -ENOLINK;
                        return 0;
                }
                if (cmd->request != 0) {
                        bool forgotten = false;
                        const Result *old = session_find_result(a.session, cmd->request, &forgotten);
                        if (old) {
                                result_from_remembered(t, cmd->type, old, res);
                                return 0;
                        }
                        if (forgotten) {
                                res->err = -EALREADY;
                                res->flags = TREE_RESULT_DUPLICATE;
                                return 0;
                        }
                }
        }

        res->err = dispatch(&a);
        if (a.oom)
                return a.oom;
        if (res->err != 0 && res->err != -EINPROGRESS) {
                /* An errno path reports nothing else. */
                uint32_t flags = res->flags;
                *res = (TreeResult) { .err = res->err, .flags = flags };
        }

        if (cmd->session != 0) {
                /* The command may have expired its own session. */
                Session *s = session_get(t, cmd->session);
                if (s) {
                        Result r = {
                                .request = cmd->request,
                                .err = res->err,
                                .flags = res->flags,
                                .value = result_value(cmd->type, res),
                        };
                        int k = session_remember(t, s, cmd->request, cmd->ack, &r);
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

int tree_apply(Tree *t, uint64_t index, const uint8_t *data, size_t len, TreeResult *ret,
               TreeNotices *notices) {
        assert(t);
        assert(index > t->applied);
        TreeResult res = {};
        TreeCmd cmd;

        t->applied = index;
        int r = tree_cmd_decode(data, len, &cmd);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                res.err = -EBADMSG;
        else {
                r = apply_cmd(t, index, &cmd, &res, notices);
                tree_cmd_done(&cmd);
                if (r < 0)
                        return r;
        }
        if (ret)
                *ret = res;
        return 0;
}
