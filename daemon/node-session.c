#include "config.h"

/* node-session.c — what the Node does on its own schedule: this node's
 * session (open it, keep it, report jeopardy when no quorum was reached for
 * ttl_ms - jeopardy_margin_ms), the watches fed from applied notices, the
 * leader's duties (expire sessions not heard from for ttl_ms, with a full
 * ttl of grace after becoming leader; lock-delay ticks; the configured
 * limits), compaction, the graceful stop, and the periodic housekeeping
 * that drives all of these. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/node-internal.h"
#include "lib/log.h"
#include "lib/macro.h"

/* ---- watches ----------------------------------------------------------- */

NodeWatch *node_watch_add(Node *n, const char *path, bool recursive, NodeChangeFn fn, void *userdata) {
        NodeWatch *w;

        if (n->n_watches >= NODE_WATCHES_MAX)
                return NULL;
        w = calloc(1, sizeof(NodeWatch));
        if (!w || !(w->path = strdup(path))) {
                free(w);
                return NULL;
        }
        *w = (NodeWatch) { .node = n, .kind = WATCH_CHANGES, .path = w->path, .recursive = recursive,
                           .change_fn = fn, .userdata = userdata };
        list_append(&n->watches, &w->link);
        n->n_watches++;
        return w;
}

static int session_initial_handler(sd_event_source *s, void *userdata) {
        NodeWatch *w = userdata;

        w->initial = sd_event_source_disable_unref(w->initial);
        node_refresh_session(w->node);
        w->session_fn(&w->node->session, w->userdata);
        return 0;
}

NodeWatch *node_session_watch_add(Node *n, NodeSessionFn fn, void *userdata) {
        NodeWatch *w;

        if (n->n_watches >= NODE_WATCHES_MAX)
                return NULL;
        w = calloc(1, sizeof(NodeWatch));
        if (!w)
                return NULL;
        *w = (NodeWatch) { .node = n, .kind = WATCH_SESSION, .session_fn = fn, .userdata = userdata };
        if (sd_event_add_defer(n->event, &w->initial, session_initial_handler, w) < 0) {
                free(w);
                return NULL;
        }
        list_append(&n->watches, &w->link);
        n->n_watches++;
        return w;
}

NodeWatch *node_watch_remove(Node *n, NodeWatch *w) {
        if (!w)
                return NULL;
        list_remove(&w->link);
        n->n_watches--;
        sd_event_source_disable_unref(w->initial);
        free(w->path);
        free(w);
        return NULL;
}

static bool watch_matches(const NodeWatch *w, const char *path) {
        size_t l = strlen(w->path);

        if (strcmp(w->path, path) == 0)
                return true;
        if (strcmp(w->path, "/") == 0)
                l = 0;
        else if (strncmp(w->path, path, l) != 0 || path[l] != '/')
                return false;
        /* below: any depth when recursive, direct children otherwise */
        return w->recursive || !strchr(path + l + 1, '/');
}

static void deliver_change(Node *n, uint64_t index, const char *kind, const char *path) {
        CtlChange c = { .index = index, .kind = (char *) kind, .path = (char *) path };
        NodeWatch *w;

        list_foreach(w, &n->watches, link)
                if (w->kind == WATCH_CHANGES && watch_matches(w, path))
                        w->change_fn(&c, w->userdata);
}

static char *entry_path(Node *n, uint64_t parent, const char *name) {
        _cleanup_free_ char *dir = NULL;
        char *p;

        if (tree_path(n->tree, parent, &dir) < 0)
                return NULL;
        if (asprintf(&p, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name) < 0)
                return NULL;
        return p;
}

static void session_notice(Node *n, const RaftEntry *e, const TreeNotice *t) {
        if (strcmp(t->name, n->conf->node_name) != 0)
                return;
        if (t->type == TREE_NOTICE_SESSION_OPENED) {
                /* Only a session this process asked for is ours: replaying
                 * the log after a restart shows the old incarnation's. */
                if (e->len != n->session_open_cmd.len || memcmp(e->data, n->session_open_cmd.data, e->len) != 0)
                        return;
                log_info("Session %llu opened.", (unsigned long long) t->session);
                n->next_request = 1;
                node_set_session(n, CTL_SESSION_OK, t->session);
        } else if (t->session == n->session.id) {
                NodeOp *op, *tmp;

                if (n->stopping)
                        log_info("Session %llu closed.", (unsigned long long) t->session);
                else
                        log_warning("Session %llu expired: locks held through this node are lost.",
                                    (unsigned long long) t->session);
                node_set_session(n, n->stopping ? CTL_SESSION_STOPPING : CTL_SESSION_EXPIRED, t->session);
                list_foreach_safe(op, tmp, &n->ops, link)
                        if (op->kind == NODE_OP_PROPOSAL && op->session == t->session)
                                node_ops_finish(n, op, -EIO, "session expired");
        }
}

void node_ops_notices(Node *n, const RaftEntry *e, const TreeNotice *notices, size_t n_notices) {
        uint64_t index = e->index;

        for (size_t i = 0; i < n_notices; i++) {
                const TreeNotice *t = &notices[i];
                _cleanup_free_ char *path = NULL;
                const char *kind = NULL;

                switch (t->type) {
                case TREE_NOTICE_SESSION_OPENED:
                case TREE_NOTICE_SESSION_EXPIRED:
                        session_notice(n, e, t);
                        continue;
                case TREE_NOTICE_ENTRY_ADDED:
                        kind = "create";
                        break;
                case TREE_NOTICE_ENTRY_REMOVED:
                        kind = "remove";
                        break;
                case TREE_NOTICE_INODE:
                        kind = t->flags & TREE_CHANGE_DATA ? "write" : t->flags & TREE_CHANGE_ATTR ? "attr" :
                               t->flags & TREE_CHANGE_XATTR ? "xattr" : t->flags & TREE_CHANGE_LOCK ? "lock" : NULL;
                        break;
                default:
                        continue;
                }
                if (!kind || n->n_watches == 0)
                        continue;
                if (t->type == TREE_NOTICE_INODE) {
                        if (tree_path(n->tree, t->ino, &path) < 0)
                                continue;
                } else
                        path = entry_path(n, t->parent, t->name);
                if (path)
                        deliver_change(n, index, kind, path);
        }
}

/* ---- this node's session ------------------------------------------------ */

void node_set_session(Node *n, uint8_t state, uint64_t id) {
        NodeWatch *w;

        if (state == CTL_SESSION_JEOPARDY && n->session.state == CTL_SESSION_OK) {
                metric_inc(n->m.jeopardy);
                log_warning("No quorum contact for %llu ms: session %llu may expire; telling lock holders.",
                            (unsigned long long) ((node_now(n) - n->quorum_contact_usec) / USEC_PER_MSEC),
                            (unsigned long long) id);
        }
        if (state == n->session.state && id == n->session.id)
                return;
        if (state == CTL_SESSION_JEOPARDY)
                n->verify_ctx = n->verify_index = n->verify_try_usec = 0;
        n->session.state = state;
        n->session.id = id;
        node_refresh_session(n);
        list_foreach(w, &n->watches, link)
                if (w->kind == WATCH_SESSION && !w->initial)
                        w->session_fn(&n->session, w->userdata);
}

/* Recomputes valid_ms and the OK/JEOPARDY state from the last quorum
 * contact: the leader counts ttl from its last contact with us, which is
 * no earlier than our last contact with a quorum through it. */
void node_refresh_session(Node *n) {
        uint64_t now, contact, limit;
        bool fresh;

        if (!n->raft || n->session.id == 0 || n->session.state == CTL_SESSION_EXPIRED ||
            n->session.state == CTL_SESSION_STOPPING) {
                n->session.valid_ms = 0;
                return;
        }
        now = node_now(n);
        /* raft reports 0 while no leader is known (an election): keep the
         * last real contact, which is what the leader's ttl counts from. */
        n->quorum_contact_usec = MAX(n->quorum_contact_usec, raft_quorum_contact(n->raft));
        contact = n->quorum_contact_usec;
        limit = (n->conf->session_ttl_ms - n->conf->jeopardy_margin_ms) * USEC_PER_MSEC;
        fresh = contact > 0 && now < contact + limit;
        n->session.valid_ms = fresh ? (contact + limit - now) / USEC_PER_MSEC : 0;
        if (!fresh && n->session.state == CTL_SESSION_OK)
                node_set_session(n, CTL_SESSION_JEOPARDY, n->session.id);
        /* Back to OK only once caught up with the index of a read barrier
         * started after entering JEOPARDY (verify_session()). */
        else if (fresh && n->session.state == CTL_SESSION_JEOPARDY && n->verify_index > 0 &&
                 raft_applied_index(n->raft) >= n->verify_index &&
                 tree_session_get(n->tree, n->session.id, &(TreeSessionInfo) {}) >= 0) {
                log_info("Quorum contact is back; session %llu is intact.", (unsigned long long) n->session.id);
                node_set_session(n, CTL_SESSION_OK, n->session.id);
        }
}

static void maintain_session(Node *n, uint64_t now) {
        bool need = n->session.id == 0 || n->session.state == CTL_SESSION_EXPIRED;
        uint64_t retry = 2 * n->conf->election_timeout_ms * USEC_PER_MSEC;
        TreeCmd c = { .type = TREE_CMD_SESSION_OPEN };

        node_refresh_session(n);
        if (!need || n->stopping || raft_leader(n->raft) == 0 || !raft_config_find(raft_config(n->raft), n->self_id))
                return;
        if (n->session_open_sent_usec && now < n->session_open_sent_usec + retry)
                return;
        n->session_open_sent_usec = now;
        c.session_open.node = n->conf->node_name;
        node_propose_internal(n, &c);
}

/* ---- leader duties ------------------------------------------------------ */

typedef struct ExpiryScan {
        Node *n;
        uint64_t now;
        uint64_t victim;
        const char *victim_node;
} ExpiryScan;

static int expiry_scan(void *userdata, const TreeSessionInfo *s) {
        ExpiryScan *x = userdata;
        Node *n = x->n;
        const RaftServer *srv;
        uint64_t alive;

        if (strcmp(s->node, n->conf->node_name) == 0)
                return 0;
        srv = node_server_by_name(n, s->node);
        alive = MAX(srv ? raft_peer_last_contact(n->raft, srv->id) : 0, n->leader_since_usec);
        if (x->now < alive + n->conf->session_ttl_ms * USEC_PER_MSEC)
                return 0;
        if (s->id == n->expire_sent_session &&
            x->now < n->expire_sent_usec + 2 * n->conf->election_timeout_ms * USEC_PER_MSEC)
                return 0;       /* proposed recently, wait for it */
        x->victim = s->id;
        x->victim_node = s->node;
        return 1;
}

static void leader_duties(Node *n, uint64_t now) {
        ExpiryScan x = { .n = n, .now = now };
        TreeLimits lim;
        uint64_t deadline;

        if (raft_role(n->raft) != RAFT_LEADER || n->leader_since_usec == 0)
                return;

        if (tree_session_foreach(n->tree, expiry_scan, &x) > 0) {
                TreeCmd c = { .type = TREE_CMD_SESSION_EXPIRE };
                log_notice("Expiring session %llu of %s: not heard from for %llu ms.",
                           (unsigned long long) x.victim, x.victim_node,
                           (unsigned long long) n->conf->session_ttl_ms);
                c.session_expire.session = x.victim;
                c.session_expire.lock_delay_usec = n->conf->lock_delay_ms * USEC_PER_MSEC;
                n->expire_sent_session = x.victim;
                n->expire_sent_usec = now;
                node_propose_internal(n, &c);
        }

        deadline = tree_next_deadline(n->tree);
        if (deadline != UINT64_MAX && node_realtime() >= deadline && n->tick_proposed_for != deadline) {
                TreeCmd c = { .type = TREE_CMD_TICK };
                n->tick_proposed_for = deadline;
                node_propose_internal(n, &c);
        }

        if (n->limits_proposed_term != raft_term(n->raft)) {
                n->limits_proposed_term = raft_term(n->raft);
                tree_get_limits(n->tree, &lim);
                if (lim.max_file_size != n->conf->max_file_size || lim.max_total_bytes != n->conf->max_total_size ||
                    lim.max_name_len != n->conf->max_name_length) {
                        TreeCmd c = { .type = TREE_CMD_SET_LIMITS };
                        lim.max_file_size = n->conf->max_file_size;
                        lim.max_total_bytes = n->conf->max_total_size;
                        lim.max_name_len = (uint32_t) n->conf->max_name_length;
                        c.set_limits.limits = lim;
                        log_info("Proposing the configured limits to the cluster.");
                        node_propose_internal(n, &c);
                }
        }
}

/* ---- compaction -------------------------------------------------------- */

static void maybe_compact(Node *n) {
        uint64_t applied = raft_applied_index(n->raft);
        RaftSnapshotMeta meta = {};
        Buf b = BUF_INIT;
        uint8_t *data;
        size_t len;
        int r;

        if (n->compacting || applied < raft_snapshot_index(n->raft) + n->conf->snapshot_entries)
                return;
        r = raft_snapshot_meta_at(n->raft, applied, &meta);
        if (r >= 0)
                r = tree_snapshot_write(n->tree, &b);
        if (r < 0) {
                free(meta.conf);
                buf_done(&b);
                log_warning_errno(r, "Failed to take a snapshot, ignoring: %m");
                return;
        }
        data = buf_steal(&b, &len);
        r = store_save_snapshot(n->store, &meta, data, len, NODE_COOKIE_COMPACT | applied);
        free(meta.conf);
        if (r < 0) {
                free(data);
                node_fatal(n, r, "Failed to submit a snapshot");
                return;
        }
        n->compacting = true;
        log_debug("Snapshot at %llu submitted (%zu bytes).", (unsigned long long) applied, len);
}

/* ---- stop -------------------------------------------------------------- */

static int stop_handler(sd_event_source *s, void *userdata) {
        Node *n = userdata;

        n->stop_source = sd_event_source_disable_unref(n->stop_source);
        if (n->stopped_fn)
                n->stopped_fn(n, n->stopped_userdata);
        return 0;
}

static void stop_finish(Node *n) {
        NodeOp *op, *tmp;

        n->stop_phase = 3;
        list_foreach_safe(op, tmp, &n->ops, link)
                node_ops_finish(n, op, op->kind == NODE_OP_PROPOSAL ? node_proposal_abandoned_errno(op) : -ECANCELED,
                                "the node is stopping");
        if (sd_event_add_defer(n->event, &n->stop_source, stop_handler, n) < 0 && n->stopped_fn)
                n->stopped_fn(n, n->stopped_userdata);
}

/* 1: close our session gracefully (locks released without lock-delay);
 * 2: a leader hands leadership to a caught-up voter; 3: done. Each phase
 * is bounded by one election timeout. */
static void stop_step(Node *n, uint64_t now) {
        uint64_t phase_time = n->conf->election_timeout_ms * USEC_PER_MSEC;

        if (n->stop_phase == 1) {
                bool closed = n->session.id == 0 ||
                              tree_session_get(n->tree, n->session.id, &(TreeSessionInfo) {}) < 0;
                if (!closed && now < n->stop_phase_deadline_usec)
                        return;
                n->stop_phase = 2;
                n->stop_phase_deadline_usec = now + phase_time;
                if (raft_role(n->raft) == RAFT_LEADER && raft_config_voters(raft_config(n->raft)) > 1 &&
                    raft_transfer_leadership(n->raft, now, 0) >= 0) {
                        log_info("Handing leadership over before stopping.");
                        return;
                }
                n->stop_phase_deadline_usec = 0;
        }
        if (n->stop_phase == 2 && now >= n->stop_phase_deadline_usec)
                stop_finish(n);
}

void node_stop(Node *n, NodeStoppedFn done, void *userdata) {
        uint64_t id = n->session.id;

        if (n->stopping)
                return;
        n->stopping = true;
        n->stopped_fn = done;
        n->stopped_userdata = userdata;
        node_set_session(n, CTL_SESSION_STOPPING, id);
        if (!n->raft) {
                stop_finish(n);
                return;
        }
        n->stop_phase = 1;
        n->stop_phase_deadline_usec = node_now(n) + n->conf->election_timeout_ms * USEC_PER_MSEC;
        if (id && tree_session_get(n->tree, id, &(TreeSessionInfo) {}) >= 0) {
                TreeCmd c = { .type = TREE_CMD_SESSION_EXPIRE };
                c.session_expire.session = id;
                c.session_expire.flags = TREE_EXPIRE_GRACEFUL;
                node_propose_internal(n, &c);
        }
        stop_step(n, node_now(n));
        node_drive(n);
}

/* An expiry of our session may be in the log, committed while we could not
 * hear of it, and the entries we have may stop short of it (our commit
 * index only covers what we received). A read barrier started now returns
 * an index that includes it; node_refresh_session() waits for it. Here, not
 * in node_refresh_session(), which also runs inside raft updates. */
static void verify_session(Node *n, uint64_t now) {
        if (n->session.state != CTL_SESSION_JEOPARDY || n->verify_index > 0 || now < n->verify_try_usec ||
            !raft_leader(n->raft))
                return;
        n->verify_ctx = ++n->next_ctx;
        n->verify_try_usec = now + n->conf->election_timeout_ms * USEC_PER_MSEC;
        if (raft_read_index(n->raft, now, n->verify_ctx) < 0)
                n->verify_ctx = 0;
}

void node_housekeeping(Node *n) {
        uint64_t now = node_now(n);

        if (!n->raft || n->fatal)
                return;
        node_ops_housekeeping(n, now);
        maintain_session(n, now);
        verify_session(n, now);
        leader_duties(n, now);
        maybe_compact(n);
        /* READY: a read barrier proves we applied the leader's commit index;
         * repeated until one succeeds (an unanswered one is superseded). */
        if (!n->ready && raft_leader(n->raft) && now >= n->ready_try_usec) {
                n->ready_ctx = ++n->next_ctx;
                n->ready_try_usec = now + n->conf->election_timeout_ms * USEC_PER_MSEC;
                if (raft_read_index(n->raft, now, n->ready_ctx) < 0)
                        n->ready_ctx = 0;
        }
        if (n->stopping && n->stop_phase > 0 && n->stop_phase < 3)
                stop_step(n, now);
}
