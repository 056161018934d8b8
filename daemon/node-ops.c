#include "config.h"

/* node-ops.c — what the Node does on behalf of others: proposals with
 * retries, read barriers, membership changes, leadership transfer and
 * snapshot export (sessions, watches, leader duties and the stop sequence
 * are in node-session.c).
 *
 * Operations (NodeOp) live in Node.ops until finished; a finished op moves
 * to Node.done_ops and its callback runs from the done_source defer
 * handler, so a callback never runs inside a raft update or nested in the
 * call that started the op.
 *
 * Proposal retries (Raft thesis §6.3): a command carries (session,
 * request); the tree remembers results per session, so re-proposing the
 * same bytes after a leader change applies at most once. A command without
 * a session has no such protection and is only retried when it certainly
 * did not commit (refused before append, or its log slot committed with
 * another term). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/node-internal.h"
#include "lib/codec.h"
#include "lib/log.h"
#include "lib/macro.h"

/* ---- op bookkeeping ------------------------------------------------------ */

static NodeOp *op_new(Node *n, NodeOpKind kind, void *userdata) {
        NodeOp *op;

        if (n->n_ops >= NODE_OPS_MAX)
                return NULL;
        op = calloc(1, sizeof(NodeOp));
        if (!op)
                return NULL;
        op->node = n;
        op->kind = kind;
        op->userdata = userdata;
        op->fd = -EBADF;
        op->start_usec = node_now(n);
        op->deadline_usec = op->start_usec + n->conf->op_timeout_ms * USEC_PER_MSEC;
        list_append(&n->ops, &op->link);
        n->n_ops++;
        return op;
}

void node_op_free(NodeOp *op) {
        list_remove(&op->link);
        op->node->n_ops--;
        buf_done(&op->cmd);
        free(op->name);
        free(op->address);
        safe_close(op->fd);
        free(op);
}

static int done_handler(sd_event_source *s, void *userdata) {
        Node *n = userdata;

        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        node_ops_deliver(n);
        return 0;
}

void node_ops_finish(Node *n, NodeOp *op, int r, const char *message) {
        op->r = r;
        snprintf(op->message, sizeof(op->message), "%s", message ? message : "");
        list_remove(&op->link);
        list_append(&n->done_ops, &op->link);
        if (!n->done_source && sd_event_add_defer(n->event, &n->done_source, done_handler, n) < 0)
                return;         /* delivered by the next node_drive() */
        (void) sd_event_source_set_enabled(n->done_source, SD_EVENT_ONESHOT);
}

/* Runs the callbacks of finished ops, one at a time: a callback may start
 * new ops or cancel others. */
void node_ops_deliver(Node *n) {
        NodeOp *op;

        if (n->in_update)
                return;
        while (!list_empty(&n->done_ops)) {
                op = list_entry(list_first(&n->done_ops), NodeOp, link);
                list_remove(&op->link);
                list_append(&n->ops, &op->link);        /* node_op_free() unlinks */
                switch (op->kind) {
                case NODE_OP_PROPOSAL:
                        if (op->r >= 0)
                                metric_observe_usec(n->m.commit_latency, node_now(n) - op->start_usec);
                        else
                                metric_inc(n->m.proposals_failed);
                        if (op->proposal_fn)
                                op->proposal_fn(op->r, op->r >= 0 ? &op->result : NULL, op->userdata);
                        break;
                case NODE_OP_BARRIER:
                        if (op->r >= 0)
                                metric_observe_usec(n->m.read_barrier_latency, node_now(n) - op->start_usec);
                        if (op->barrier_fn)
                                op->barrier_fn(op->r, op->userdata);
                        break;
                case NODE_OP_SNAPSHOT:
                        if (op->snapshot_fn)
                                op->snapshot_fn(op->r, op->message, TAKE_FD(op->fd), &op->info, op->userdata);
                        break;
                default:
                        if (op->done_fn)
                                op->done_fn(op->r, op->message[0] ? op->message : NULL, op->userdata);
                        break;
                }
                node_op_free(op);
        }
}

void node_op_cancel(Node *n, NodeOp *op) {
        if (op)
                node_op_free(op);
}

void node_ops_cancel_all(Node *n) {
        NodeOp *op, *tmp;

        list_foreach_safe(op, tmp, &n->ops, link)
                node_op_free(op);
        list_foreach_safe(op, tmp, &n->done_ops, link)
                node_op_free(op);
}

/* ---- proposals --------------------------------------------------------- */

static uint64_t lowest_pending_request(Node *n, uint64_t session, uint64_t fallback) {
        uint64_t low = fallback;
        NodeOp *op;

        list_foreach(op, &n->ops, link)
                if (op->kind == NODE_OP_PROPOSAL && op->session == session && op->request && op->request < low)
                        low = op->request;
        return low;
}

static void try_propose(Node *n, NodeOp *op) {
        uint64_t now = node_now(n), index = 0, term = 0;
        int r;

        r = raft_propose(n->raft, now, op->cmd.data, op->cmd.len, &index, &term);
        if (r == -ENOTCONN || r == -EAGAIN || r == -EBUSY) {
                op->next_try_usec = now + n->conf->heartbeat_ms * USEC_PER_MSEC;
                return;
        }
        if (r < 0) {
                node_ops_finish(n, op, r == -E2BIG ? -EFBIG : r, NULL);
                return;
        }
        op->index = index;
        op->term = term;
        op->may_be_appended = true;
        op->next_try_usec = now + 2 * n->conf->election_timeout_ms * USEC_PER_MSEC;
}

/* The errno for a proposal that ends without its result (deadline, stop).
 * The rule (raftfs(7), fusefs.h): an error means "never applied", except
 * -ETIMEDOUT, "outcome unknown". A command that no leader ever got (every
 * raft_propose() was refused) is -EROFS: nothing can apply it later, since
 * the op is freed here and never sent again. Once any attempt was handed to
 * raft it may sit in some leader's log and commit after we give up. Seeing
 * the slot of our last attempt commit with another entry does not settle
 * it: an earlier attempt (forwarded to an older leader) may still commit,
 * as the chaos set workload showed (an add told EROFS appeared later). */
int node_proposal_abandoned_errno(const NodeOp *op) {
        return op->may_be_appended ? -ETIMEDOUT : -EROFS;
}

static bool may_retry(Node *n, const NodeOp *op) {
        if (!op->may_be_appended || op->session)
                return true;
        /* No dedupe: only when its slot committed with another entry. */
        return op->index && raft_applied_index(n->raft) >= op->index;
}

int node_propose(Node *n, TreeCmd *cmd, bool need_session, NodeProposalFn done, void *userdata,
                 NodeOp **ret_op) {
        TreeCmd c = *cmd;
        NodeOp *op;
        int r;

        if (!n->raft || n->stopping)
                return -EROFS;
        c.session = node_session_id(n);
        if (need_session && !c.session)
                return -EIO;
        op = op_new(n, NODE_OP_PROPOSAL, userdata);
        if (!op)
                return -ENOMEM;
        op->proposal_fn = done;
        op->session = c.session;
        op->request = c.session ? n->next_request++ : 0;
        c.request = op->request;
        c.ack = c.session ? lowest_pending_request(n, c.session, op->request) : 0;
        c.time_usec = node_realtime();
        r = tree_cmd_encode(&c, &op->cmd);
        if (r < 0) {
                node_op_free(op);
                return r;
        }
        /* The caller learns the author it was given (the mount matches lock
         * grants and its own entries by session and request). */
        cmd->session = c.session;
        cmd->request = c.request;
        cmd->ack = c.ack;
        cmd->time_usec = c.time_usec;
        metric_inc(n->m.proposals);
        try_propose(n, op);
        *ret_op = op;
        node_drive(n);
        return 0;
}

void node_ops_apply_result(Node *n, const RaftEntry *e, uint64_t session, uint64_t request,
                           const TreeResult *res) {
        NodeOp *op, *tmp;

        list_foreach_safe(op, tmp, &n->ops, link) {
                if (op->kind != NODE_OP_PROPOSAL)
                        continue;
                if (session ? (op->session == session && op->request == request)
                            : (op->session == 0 && op->cmd.len == e->len && memcmp(op->cmd.data, e->data, e->len) == 0)) {
                        op->result = *res;
                        node_ops_finish(n, op, 0, NULL);
                        return;
                }
        }
}

/* Proposes a command that nobody waits for (session open/expire, ticks,
 * limits): fire and forget, the housekeeping repeats it if needed. */
void node_propose_internal(Node *n, TreeCmd *c) {
        Buf b = BUF_INIT;
        int r;

        c->time_usec = node_realtime();
        r = tree_cmd_encode(c, &b);
        if (r >= 0 && c->type == TREE_CMD_SESSION_OPEN) {
                buf_clear(&n->session_open_cmd);
                r = buf_append(&n->session_open_cmd, b.data, b.len);
        }
        if (r >= 0)
                r = raft_propose(n->raft, node_now(n), b.data, b.len, NULL, NULL);
        if (r < 0 && r != -ENOTCONN && r != -EAGAIN && r != -EBUSY)
                log_debug_errno(r, "Failed to propose %s: %m", tree_cmd_type_to_string(c->type));
        buf_done(&b);
}

/* ---- read barriers ----------------------------------------------------- */

static void try_barrier(Node *n, NodeOp *op) {
        int r;

        op->ctx = ++n->next_ctx;
        r = raft_read_index(n->raft, node_now(n), op->ctx);
        if (r < 0)
                op->next_try_usec = node_now(n) + n->conf->heartbeat_ms * USEC_PER_MSEC;
        else
                op->next_try_usec = UINT64_MAX;
}

int node_read_barrier(Node *n, NodeBarrierFn done, void *userdata, NodeOp **ret_op) {
        NodeOp *op;

        if (!n->raft)
                return -EIO;
        op = op_new(n, NODE_OP_BARRIER, userdata);
        if (!op)
                return -ENOMEM;
        op->barrier_fn = done;
        metric_inc(n->m.read_barriers);
        try_barrier(n, op);
        *ret_op = op;
        node_drive(n);
        return 0;
}

void node_ops_read_result(Node *n, const RaftReadResult *rr) {
        NodeOp *op;

        if (rr->ctx == n->verify_ctx && n->verify_ctx) {
                n->verify_ctx = 0;
                if (rr->error == 0)
                        n->verify_index = MAX(rr->index, 1);
                else
                        n->verify_try_usec = 0; /* try again at the next housekeeping */
                node_housekeeping_soon(n);
                return;
        }
        if (rr->ctx == n->ready_ctx && n->ready_ctx) {
                n->ready_ctx = 0;
                if (rr->error == 0 && !n->ready) {
                        n->ready = true;
                        log_info("Caught up with the leader's commit index %llu.", (unsigned long long) rr->index);
                        node_emit(n, NODE_EVENT_READY);
                }
                return;
        }
        list_foreach(op, &n->ops, link) {
                if (op->kind != NODE_OP_BARRIER || op->ctx != rr->ctx)
                        continue;
                if (rr->error == 0)
                        /* Committed entries of this update were applied before
                         * its reads are looked at: the replica is current. */
                        node_ops_finish(n, op, 0, NULL);
                else
                        op->next_try_usec = node_now(n);        /* leader changed: ask again */
                return;
        }
}

/* ---- membership and leadership ------------------------------------------ */

static const char *leader_name(Node *n) {
        const char *name = node_name_by_id(n, raft_leader(n->raft));
        return name ? name : "unknown";
}

static int change_error(Node *n, int r, const char **ret_message) {
        switch (r) {
        case -ENOTCONN:
                *ret_message = "no leader is known right now; try again";
                break;
        case -EBUSY:
                *ret_message = "another membership change or a leadership transfer is in progress";
                break;
        case -EEXIST:
                *ret_message = "already a member";
                break;
        case -ENOENT:
                *ret_message = "not a member";
                break;
        case -EINVAL:
                *ret_message = "refused: bad name or address, or the change would leave no voter";
                break;
        default:
                *ret_message = NULL;
        }
        return r;
}

int node_member_add(Node *n, const char *name, const char *address,
                    NodeOpDoneFn done, void *userdata, NodeOp **ret_op, const char **ret_message) {
        NodeOp *op;
        int r;

        *ret_message = NULL;
        if (!n->raft)
                return -EOPNOTSUPP;
        if (!n->net) {
                *ret_message = "this node runs without TLS ([tls] missing): it cannot have peers";
                return -EOPNOTSUPP;
        }
        if (node_server_by_name(n, name))
                return change_error(n, -EEXIST, ret_message);
        op = op_new(n, NODE_OP_MEMBER_ADD, userdata);
        if (!op || !(op->name = strdup(name)) || !(op->address = strdup(address))) {
                if (op)
                        node_op_free(op);
                return -ENOMEM;
        }
        op->done_fn = done;
        r = raft_change_config(n->raft, node_now(n), RAFT_CONF_ADD_VOTER, node_id_from_name(name), name,
                               address, NULL);
        if (r < 0) {
                node_op_free(op);
                return change_error(n, r, ret_message);
        }
        op->started = true;
        *ret_op = op;
        node_drive(n);
        return 0;
}

int node_member_remove(Node *n, const char *name,
                       NodeOpDoneFn done, void *userdata, NodeOp **ret_op, const char **ret_message) {
        const RaftServer *s;
        NodeOp *op;
        int r;

        *ret_message = NULL;
        if (!n->raft)
                return -EOPNOTSUPP;
        s = node_server_by_name(n, name);
        if (!s)
                return change_error(n, -ENOENT, ret_message);
        op = op_new(n, NODE_OP_MEMBER_REMOVE, userdata);
        if (!op || !(op->name = strdup(name))) {
                if (op)
                        node_op_free(op);
                return -ENOMEM;
        }
        op->done_fn = done;
        r = raft_change_config(n->raft, node_now(n), RAFT_CONF_REMOVE, s->id, NULL, NULL, NULL);
        if (r < 0) {
                node_op_free(op);
                return change_error(n, r, ret_message);
        }
        op->started = true;
        *ret_op = op;
        node_drive(n);
        return 0;
}

int node_leader_transfer(Node *n, const char *name,
                         NodeOpDoneFn done, void *userdata, NodeOp **ret_op, const char **ret_message) {
        uint64_t target = 0;
        NodeOp *op;
        int r;

        *ret_message = NULL;
        if (!n->raft)
                return -EOPNOTSUPP;
        if (raft_role(n->raft) != RAFT_LEADER) {
                snprintf(n->message_buf, sizeof(n->message_buf),
                         "this node is not the leader; run the command on the leader (%s)", leader_name(n));
                *ret_message = n->message_buf;
                return -ENOTCONN;
        }
        if (name) {
                const RaftServer *s = node_server_by_name(n, name);
                if (!s || s->role != RAFT_VOTER) {
                        *ret_message = "the target is not a voting member";
                        return -ENOENT;
                }
                target = s->id;
        }
        op = op_new(n, NODE_OP_TRANSFER, userdata);
        if (!op)
                return -ENOMEM;
        op->done_fn = done;
        r = raft_transfer_leadership(n->raft, node_now(n), target);
        if (r < 0) {
                node_op_free(op);
                *ret_message = r == -EINVAL ? "this node already leads" :
                               r == -EALREADY ? "a transfer is already under way" :
                               r == -ENOENT ? "no other voter to hand leadership to" : NULL;
                return r;
        }
        op->target = target;
        op->started = true;
        *ret_op = op;
        node_drive(n);
        return 0;
}

/* Membership ops finish once the configuration they asked for is committed. */
static void check_config_ops(Node *n) {
        const RaftConfig *c = raft_config(n->raft);
        bool committed = raft_commit_index(n->raft) >= raft_config_index(n->raft);
        NodeOp *op, *tmp;

        list_foreach_safe(op, tmp, &n->ops, link) {
                bool present;

                if ((op->kind != NODE_OP_MEMBER_ADD && op->kind != NODE_OP_MEMBER_REMOVE) || !committed)
                        continue;
                present = raft_config_find(c, node_id_from_name(op->name)) != NULL;
                if (op->kind == NODE_OP_MEMBER_ADD && present) {
                        char msg[160];
                        snprintf(msg, sizeof(msg), "Added %s at %s as a learner; it becomes a voter once caught up.",
                                 op->name, op->address);
                        node_ops_finish(n, op, 0, msg);
                } else if (op->kind == NODE_OP_MEMBER_REMOVE && !present) {
                        char msg[96];
                        snprintf(msg, sizeof(msg), "Removed %s.", op->name);
                        node_ops_finish(n, op, 0, msg);
                }
        }
}

/* ---- snapshot export --------------------------------------------------- */

int node_snapshot_export(Node *n, NodeSnapshotFn done, void *userdata, NodeOp **ret_op,
                         const char **ret_message) {
        RaftSnapshotMeta meta = {};
        Buf b = BUF_INIT;
        NodeOp *op;
        size_t off = 0;
        int r;

        *ret_message = NULL;
        if (!n->raft || !n->tree)
                return -EOPNOTSUPP;
        r = raft_snapshot_meta_at(n->raft, raft_applied_index(n->raft), &meta);
        if (r < 0) {
                *ret_message = "cannot describe the applied state";
                return r;
        }
        free(meta.conf);
        op = op_new(n, NODE_OP_SNAPSHOT, userdata);
        if (!op)
                return -ENOMEM;
        op->snapshot_fn = done;
        r = tree_snapshot_write(n->tree, &b);
        if (r >= 0) {
                /* An anonymous file: the control server streams it in chunks. */
                op->fd = memfd_create("raftfs-snapshot", MFD_CLOEXEC);
                r = op->fd < 0 ? -errno : 0;
        }
        while (r >= 0 && off < b.len) {
                ssize_t k = write(op->fd, b.data + off, b.len - off);
                if (k < 0 && errno != EINTR)
                        r = -errno;
                else if (k > 0)
                        off += (size_t) k;
        }
        op->info = (CtlSnapshotEnd) { .index = meta.index, .term = meta.term, .size = b.len };
        buf_done(&b);
        if (r < 0) {
                node_op_free(op);
                *ret_message = "writing the snapshot failed";
                return r;
        }
        node_ops_finish(n, op, 0, NULL);
        *ret_op = op;
        return 0;
}

/* ---- raft events -------------------------------------------------------- */

void node_ops_event(Node *n, const RaftEvent *ev) {
        NodeOp *op, *tmp;

        switch (ev->type) {
        case RAFT_EVENT_ROLE:
                log_info("Role %s in term %llu.", raft_role_to_string(ev->role), (unsigned long long) ev->term);
                /* A new leader first grants every session a full ttl of grace. */
                n->leader_since_usec = ev->role == RAFT_LEADER ? node_now(n) : 0;
                node_emit(n, NODE_EVENT_STATE);
                break;
        case RAFT_EVENT_LEADER:
                if (ev->leader != n->last_leader) {
                        metric_inc(n->m.leader_changes);
                        n->last_leader = ev->leader;
                        log_info("Leader is %s (term %llu).", ev->leader ? (node_name_by_id(n, ev->leader) ?: "?") : "unknown",
                                 (unsigned long long) ev->term);
                        /* Forwarded proposals may have died with the old leader.
                         * Retry them, and what waited for a leader, at once:
                         * a heartbeat's wait here is pure failover latency. */
                        list_foreach(op, &n->ops, link)
                                if (op->kind == NODE_OP_PROPOSAL && op->index == 0)
                                        op->next_try_usec = node_now(n);
                        if (ev->leader)
                                node_housekeeping_soon(n);
                }
                node_emit(n, NODE_EVENT_STATE);
                break;
        case RAFT_EVENT_TERM:
                break;
        case RAFT_EVENT_CONFIG:
                log_info("Configuration changed (entry %llu): %zu member%s.", (unsigned long long) ev->index,
                         raft_config(n->raft)->n, raft_config(n->raft)->n == 1 ? "" : "s");
                break;
        case RAFT_EVENT_TRANSFER:
                list_foreach_safe(op, tmp, &n->ops, link)
                        if (op->kind == NODE_OP_TRANSFER) {
                                if (ev->ok) {
                                        char msg[96];
                                        snprintf(msg, sizeof(msg), "Leadership transferred to %s.",
                                                 node_name_by_id(n, ev->leader) ?: "another member");
                                        node_ops_finish(n, op, 0, msg);
                                } else
                                        node_ops_finish(n, op, -ETIMEDOUT, "the transfer was abandoned "
                                                        "(target did not take over in time)");
                        }
                if (n->stop_phase == 2)
                        n->stop_phase_deadline_usec = 0;        /* next housekeeping finishes the stop */
                break;
        }
}

/* ---- housekeeping ------------------------------------------------------ */

/* Retries what is due, fails what is past op_timeout_ms, finishes
 * membership changes that committed. */
void node_ops_housekeeping(Node *n, uint64_t now) {
        NodeOp *op, *tmp;

        list_foreach_safe(op, tmp, &n->ops, link) {
                if (now >= op->deadline_usec) {
                        switch (op->kind) {
                        case NODE_OP_PROPOSAL: {
                                int r = node_proposal_abandoned_errno(op);
                                node_ops_finish(n, op, r, r == -EROFS ? "no quorum within op_timeout_ms"
                                                : "not seen committed within op_timeout_ms: outcome unknown");
                                break;
                        }
                        case NODE_OP_BARRIER:
                                node_ops_finish(n, op, -EIO, "no quorum within op_timeout_ms");
                                break;
                        case NODE_OP_TRANSFER:
                                break;  /* ended by RAFT_EVENT_TRANSFER */
                        default:
                                node_ops_finish(n, op, -ETIMEDOUT, "not committed within op_timeout_ms "
                                                "(is a quorum reachable?)");
                        }
                        continue;
                }
                if (op->next_try_usec && now >= op->next_try_usec) {
                        if (op->kind == NODE_OP_PROPOSAL && may_retry(n, op))
                                try_propose(n, op);
                        else if (op->kind == NODE_OP_BARRIER)
                                try_barrier(n, op);
                        else
                                op->next_try_usec = 0;
                }
        }
        check_config_ops(n);
}
