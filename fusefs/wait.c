#include "config.h"
/* wait.c — requests parked on the backend.
 *
 * An Op is created by a handler that cannot answer at once. It waits for
 * exactly one of: a proposal's completion (op_propose), a read barrier
 * (op_after_barrier), its turn in a handle's flush queue, the end of
 * release-time commits on its inode, or a lock grant (ops-lock.c). Its OpFn
 * then replies (or parks it again).
 *
 * Read barriers are batched: every Op that asks for one during a turn of the
 * loop joins fs->barrier_queue, and a deferred event source starts ONE
 * backend barrier for all of them at the end of the turn. A barrier started
 * after a request arrived covers it (linearizability needs the barrier to
 * begin after the read began, never before), and several barriers may be in
 * flight at once, so a request never waits for an older batch.
 *
 * Orphans: at shutdown every parked request is answered, but the backend may
 * still hold completions for Ops it was given; those Ops stay allocated with
 * fs = NULL and are freed by their late completion. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fusefs/internal.h"
#include "lib/log.h"

Op *op_new(FuseFs *fs, fuse_req_t req, OpKind kind, OpFn fn) {
        Op *op = calloc(1, sizeof(*op));
        if (!op)
                return NULL;
        op->fs = fs;
        op->req = req;
        op->kind = kind;
        op->fn = fn;
        list_init(&op->node);
        list_init(&op->wnode);
        list_init(&op->batch);
        op->start_usec = fs_now_usec(fs);
        return op;
}

Op *op_free(Op *op) {
        if (!op)
                return NULL;
        assert(!op->at_backend || !op->fs);
        list_remove(&op->node);
        list_remove(&op->wnode);
        free(op->name);
        free(op->name2);
        free(op);
        return NULL;
}

int op_set_names(Op *op, const char *name, const char *name2) {
        if (name) {
                op->name = strdup(name);
                if (!op->name)
                        return -ENOMEM;
        }
        if (name2) {
                op->name2 = strdup(name2);
                if (!op->name2)
                        return -ENOMEM;
        }
        return 0;
}

void op_abort(Op *op, int err) {
        assert(!op->at_backend);
        if (op->req) {
                if (op->fs)
                        fs_reply_err(op->fs, op->kind, op->req, err);
                else
                        (void) fuse_reply_err(op->req, err);
                op->req = NULL;
        }
        op_free(op);
}

/* ---- proposals ---- */

static void op_done(void *userdata, int r, uint64_t index, const TreeResult *result) {
        Op *op = userdata;
        FuseFs *fs = op->fs;

        if (!fs) {
                /* Orphaned by fusefs_free(): its request was answered. */
                op->at_backend = false;
                op_free(op);
                return;
        }
        assert(op->at_backend);
        op->at_backend = false;
        if (op->request != 0 && hashmap_get(fs->inflight, U64_TO_PTR(op->request)) == op)
                (void) hashmap_remove(fs->inflight, U64_TO_PTR(op->request));
        list_remove(&op->node);
        fs->n_ops--;
        if (op->own_notices && op->request != 0) {
                fs->recent_own[fs->recent_pos][0] = op->session;
                fs->recent_own[fs->recent_pos][1] = op->request;
                fs->recent_pos = (fs->recent_pos + 1) % ELEMENTSOF(fs->recent_own);
        }
        fs->m.commits++;
        fs->m.commit_usec_sum += fs_now_usec(fs) - op->start_usec;
        if (r == -EROFS && !result)
                fs->m.commit_errors++;
        op->fn(op, r, index, result);
}

int op_propose(Op *op, TreeCmd *cmd) {
        FuseFs *fs = op->fs;

        assert(fs);
        assert(!op->at_backend);
        if (fs->exiting)
                return -EIO;

        uint64_t deadline = fs_now_usec(fs) + fs->opts.op_timeout_usec;
        op->at_backend = true;
        list_remove(&op->node);
        list_append(&fs->ops, &op->node);
        fs->n_ops++;
        int r = fs->backend.propose(fs->bud, cmd, deadline, op_done, op);
        if (r < 0) {
                op->at_backend = false;
                list_remove(&op->node);
                fs->n_ops--;
                return r;
        }
        op->session = cmd->session;
        op->request = cmd->request;
        /* Failure to index it only costs an invalidation or a late grant
         * noticed by the waiter's own completion. */
        if (op->request != 0)
                (void) hashmap_replace(fs->inflight, U64_TO_PTR(op->request), op);
        return 0;
}

bool fs_is_own(FuseFs *fs, uint64_t session, uint64_t request) {
        if (request == 0)
                return false;
        Op *op = fs_inflight(fs, session, request);
        if (op)
                return op->own_notices;
        for (size_t i = 0; i < ELEMENTSOF(fs->recent_own); i++)
                if (fs->recent_own[i][0] == session && fs->recent_own[i][1] == request)
                        return true;
        return false;
}

Op *fs_inflight(FuseFs *fs, uint64_t session, uint64_t request) {
        if (request == 0)
                return NULL;
        Op *op = hashmap_get(fs->inflight, U64_TO_PTR(request));
        return op && op->session == session ? op : NULL;
}

/* ---- read barriers ---- */

static void batch_finish(FuseFs *fs, List *batch, int r, uint64_t index) {
        Op *w, *tmp;
        list_foreach_safe(w, tmp, batch, node) {
                list_remove(&w->node);
                w->fn(w, r, index, NULL);
        }
}

static void barrier_done(void *userdata, int r, uint64_t index, const TreeResult *result) {
        Op *b = userdata;
        FuseFs *fs = b->fs;

        b->at_backend = false;
        if (!fs) {
                op_free(b);
                return;
        }
        list_remove(&b->node);
        fs->n_ops--;
        fs->m.barrier_usec_sum += fs_now_usec(fs) - b->start_usec;
        if (r < 0) {
                fs->m.barrier_errors++;
                r = -EIO;
        }
        batch_finish(fs, &b->batch, r, index);
        op_free(b);
}

static int barrier_defer_handler(sd_event_source *s, void *userdata) {
        FuseFs *fs = userdata;

        if (list_empty(&fs->barrier_queue))
                return 0;

        Op *b = op_new(fs, NULL, OP_BARRIER, NULL);
        if (!b) {
                List tmp;
                list_init(&tmp);
                /* Move the queue aside: the callbacks may queue new waiters. */
                list_insert_between(&tmp, fs->barrier_queue.prev, fs->barrier_queue.next);
                list_init(&fs->barrier_queue);
                batch_finish(fs, &tmp, -EIO, 0);
                return 0;
        }
        /* Take over the whole queue. */
        list_insert_between(&b->batch, fs->barrier_queue.prev, fs->barrier_queue.next);
        list_init(&fs->barrier_queue);

        b->at_backend = true;
        list_append(&fs->ops, &b->node);
        fs->n_ops++;
        fs->m.barriers++;
        int r = fs->backend.read_barrier(fs->bud, fs_now_usec(fs) + fs->opts.op_timeout_usec,
                                         barrier_done, b);
        if (r < 0) {
                b->at_backend = false;
                list_remove(&b->node);
                fs->n_ops--;
                fs->m.barrier_errors++;
                batch_finish(fs, &b->batch, -EIO, 0);
                op_free(b);
        }
        return 0;
}

int fs_barrier_init(FuseFs *fs) {
        int r = sd_event_add_defer(fs->event, &fs->barrier_defer, barrier_defer_handler, fs);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(fs->barrier_defer, "fusefs-barrier");
        return sd_event_source_set_enabled(fs->barrier_defer, SD_EVENT_OFF);
}

void op_after_barrier(Op *op) {
        FuseFs *fs = op->fs;

        if (!fs_linearizable(fs) || fs->exiting) {
                op->fn(op, fs->exiting ? -EIO : 0, tree_applied_index(fs_tree(fs)), NULL);
                return;
        }
        list_remove(&op->node);
        list_append(&fs->barrier_queue, &op->node);
        fs->m.barrier_waiters++;
        (void) sd_event_source_set_enabled(fs->barrier_defer, SD_EVENT_ONESHOT);
}

/* ---- shutdown ---- */

void ops_abort_all(FuseFs *fs) {
        /* Barriers not started yet. */
        batch_finish(fs, &fs->barrier_queue, -EIO, 0);

        while (!list_empty(&fs->ops)) {
                Op *op = list_entry(list_first(&fs->ops), Op, node);
                list_remove(&op->node);
                fs->n_ops--;
                if (op->kind == OP_BARRIER)
                        batch_finish(fs, &op->batch, -EIO, 0);
                if (op->req) {
                        fs_reply_err(fs, op->kind, op->req, EIO);
                        op->req = NULL;
                }
                list_remove(&op->wnode);
                if (op->waiting)
                        (void) hashmap_remove(fs->lock_waiters, U64_TO_PTR(op->request));
                if (op->request != 0)
                        (void) hashmap_remove(fs->inflight, U64_TO_PTR(op->request));
                op->fs = NULL;  /* orphan: freed by its completion */
        }
}
