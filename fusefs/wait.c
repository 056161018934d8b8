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
 * Tickets: the backend's cb_userdata is a small Ticket pointing at the Op,
 * not the Op itself. When an Op must end before its completion — shutdown,
 * or the watchdog below — the ticket is detached (op = NULL) and freed by
 * the late completion, which then does nothing. So the backend may complete
 * late or never without touching freed memory.
 *
 * Watchdog: the backend promises to complete by the deadline; should it not
 * (a bug, a stuck peer), a timer fails every Op still at the backend one
 * second past its deadline (-ETIMEDOUT, "outcome unknown", for proposals,
 * -EIO for barriers): no request waits forever. */


#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fusefs/internal.h"
#include "lib/log.h"

typedef struct Ticket {
        Op *op;
} Ticket;

#define WATCHDOG_GRACE_USEC USEC_PER_SEC

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
        assert(!op->at_backend);
        assert(!op->ticket);
        /* Never leave a dangling pointer among the proposals in flight. */
        if (op->fs && op->request != 0 && hashmap_get(op->fs->inflight, U64_TO_PTR(op->request)) == op)
                (void) hashmap_remove(op->fs->inflight, U64_TO_PTR(op->request));
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
                fs_reply_err(op->fs, op->kind, op->req, err);
                op->req = NULL;
        }
        op_free(op);
}

/* Takes op off the backend: its ticket no longer leads to it. */
static void op_detach(FuseFs *fs, Op *op) {
        assert(op->at_backend);
        if (op->ticket) {
                op->ticket->op = NULL;
                op->ticket = NULL;
        }
        op->at_backend = false;
        if (op->request != 0 && hashmap_get(fs->inflight, U64_TO_PTR(op->request)) == op)
                (void) hashmap_remove(fs->inflight, U64_TO_PTR(op->request));
        list_remove(&op->node);
        fs->n_ops--;
}

static Ticket *ticket_new(Op *op) {
        Ticket *t = malloc(sizeof(*t));
        if (!t)
                return NULL;
        t->op = op;
        op->ticket = t;
        return t;
}

/* ---- proposals ---- */

/* The end of a proposal, from the backend or the watchdog. */
static void proposal_end(FuseFs *fs, Op *op, int r, uint64_t index, const TreeResult *result) {
        op_detach(fs, op);
        if (op->own_notices && op->request != 0) {
                fs->recent_own[fs->recent_pos][0] = op->session;
                fs->recent_own[fs->recent_pos][1] = op->request;
                fs->recent_pos = (fs->recent_pos + 1) % ELEMENTSOF(fs->recent_own);
        }
        fs->m.commits++;
        fs->m.commit_usec_sum += fs_now_usec(fs) - op->start_usec;
        if (r < 0 && !result)
                fs->m.commit_errors++;
        op->fn(op, r, index, result);
}

static void op_done(void *userdata, int r, uint64_t index, const TreeResult *result) {
        Ticket *t = userdata;
        Op *op = t->op;

        free(t);
        if (!op)
                return;         /* ended meanwhile (shutdown, watchdog) */
        op->ticket = NULL;
        proposal_end(op->fs, op, r, index, result);
}

int op_propose(Op *op, TreeCmd *cmd) {
        FuseFs *fs = op->fs;

        assert(fs);
        assert(!op->at_backend);
        if (fs->exiting)
                return -EIO;

        uint64_t deadline = fs_now_usec(fs) + fs->opts.op_timeout_usec;
        Ticket *t = ticket_new(op);
        if (!t)
                return -ENOMEM;
        op->at_backend = true;
        op->start_usec = fs_now_usec(fs);
        list_remove(&op->node);
        list_append(&fs->ops, &op->node);
        fs->n_ops++;
        int r = fs->backend.propose(fs->bud, cmd, deadline, op_done, t);
        if (r < 0) {
                free(t);
                op->ticket = NULL;
                op_detach(fs, op);
                return r;
        }
        fs_timeout_arm(fs);
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

static void barrier_end(FuseFs *fs, Op *b, int r, uint64_t index) {
        op_detach(fs, b);
        fs->m.barrier_usec_sum += fs_now_usec(fs) - b->start_usec;
        fs->barriers_failing = r < 0;
        if (r < 0) {
                fs->m.barrier_errors++;
                r = -EIO;
        }
        batch_finish(fs, &b->batch, r, index);
        op_free(b);
}

static void barrier_done(void *userdata, int r, uint64_t index, const TreeResult *result) {
        Ticket *t = userdata;
        Op *b = t->op;

        free(t);
        if (!b)
                return;
        b->ticket = NULL;
        barrier_end(b->fs, b, r, index);
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

        Ticket *t = ticket_new(b);
        b->at_backend = true;
        list_append(&fs->ops, &b->node);
        fs->n_ops++;
        fs->m.barriers++;
        int r = t ? fs->backend.read_barrier(fs->bud, fs_now_usec(fs) + fs->opts.op_timeout_usec,
                                             barrier_done, t) : -ENOMEM;
        if (r < 0) {
                free(t);
                b->ticket = NULL;
                barrier_end(fs, b, -EIO, 0);
        } else
                fs_timeout_arm(fs);
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

void op_after_meta_barrier(Op *op) {
        FuseFs *fs = op->fs;

        if (fs_linearizable(fs) && fs->barriers_failing && !fs->backend.has_quorum(fs->bud)) {
                op->fn(op, -EIO, 0, NULL);
                return;
        }
        op_after_barrier(op);
}

/* ---- the watchdog ---- */

static int timeout_handler(sd_event_source *src, uint64_t usec, void *userdata) {
        FuseFs *fs = userdata;
        uint64_t now = fs_now_usec(fs);

        /* Oldest first: ops are appended as they start. Restart the scan
         * after each end, whose callbacks may add and remove ops. */
        for (bool again = true; again;) {
                again = false;
                Op *op;
                list_foreach(op, &fs->ops, node) {
                        if (op->start_usec + fs->opts.op_timeout_usec + WATCHDOG_GRACE_USEC > now)
                                break;
                        log_warning("The cluster layer did not answer a %s request within its deadline; "
                                    "failing it", op->kind == OP_BARRIER ? "read barrier" : "proposal");
                        if (op->kind == OP_BARRIER)
                                barrier_end(fs, op, -EIO, 0);
                        else    /* it may still commit: not EROFS */
                                proposal_end(fs, op, -ETIMEDOUT, 0, NULL);
                        again = true;
                        break;
                }
        }
        fs_timeout_arm(fs);
        return 0;
}

void fs_timeout_arm(FuseFs *fs) {
        if (list_empty(&fs->ops) || fs->exiting) {
                if (fs->timeout_timer)
                        (void) sd_event_source_set_enabled(fs->timeout_timer, SD_EVENT_OFF);
                return;
        }
        Op *oldest = list_entry(list_first(&fs->ops), Op, node);
        uint64_t when = oldest->start_usec + fs->opts.op_timeout_usec + WATCHDOG_GRACE_USEC;
        if (!fs->timeout_timer) {
                if (sd_event_add_time(fs->event, &fs->timeout_timer, CLOCK_MONOTONIC, when,
                                      100 * USEC_PER_MSEC, timeout_handler, fs) < 0)
                        return;
                (void) sd_event_source_set_description(fs->timeout_timer, "fusefs-watchdog");
                return;
        }
        uint64_t cur;
        int enabled;
        if (sd_event_source_get_enabled(fs->timeout_timer, &enabled) >= 0 && enabled &&
            sd_event_source_get_time(fs->timeout_timer, &cur) >= 0 && cur <= when)
                return;
        (void) sd_event_source_set_time(fs->timeout_timer, when);
        (void) sd_event_source_set_enabled(fs->timeout_timer, SD_EVENT_ONESHOT);
}

/* ---- shutdown ---- */

void ops_abort_all(FuseFs *fs) {
        /* Barriers not started yet. */
        batch_finish(fs, &fs->barrier_queue, -EIO, 0);

        while (!list_empty(&fs->ops)) {
                Op *op = list_entry(list_first(&fs->ops), Op, node);
                op_detach(fs, op);
                if (op->kind == OP_BARRIER)
                        batch_finish(fs, &op->batch, -EIO, 0);
                /* A proposal at the backend may still commit after we
                 * are gone: its caller is told "outcome unknown". */
                if (op->req) {
                        fs_reply_err(fs, op->kind, op->req, op->kind == OP_BARRIER ? EIO : ETIMEDOUT);
                        op->req = NULL;
                }
                /* In a handle's flush queue: handles_abort_all() frees the
                 * handle, nothing continues the queue. */
                list_remove(&op->wnode);
                op_free(op);
        }
}
