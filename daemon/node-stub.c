#include "config.h"

/* node-stub.c — a Node without replication (see node.h).
 *
 * Built instead of node.c + node-ops.c until the raft, store, tree and tls
 * modules are part of the tree (daemon/local.mk picks one or the other).
 * STUB: this file implements the Node interface from configuration
 * alone, so that the daemon's loop, signals, sd_notify protocol, control
 * socket and raftfsctl can be built and tested before the raft core, store,
 * tree and TLS layers are wired in. What is real here: the metric set, the
 * subscription bookkeeping (watches, session watches, their limits),
 * deferred callbacks, the shutdown sequence's shape. What is not: there is
 * no replication; status shows role "none"; administrative operations fail
 * with EOPNOTSUPP. READY is reported as soon as the node started.
 *
 * Invariants: every callback runs from its own sd-event defer source, never
 * inside the call that requested it, so callers may free themselves in a
 * callback only through their own deferred path (see control.c). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/node.h"
#include "lib/list.h"
#include "lib/log.h"
#include "lib/macro.h"

#define NODE_WATCHES_MAX 1024

typedef enum WatchKind {
        WATCH_CHANGES,
        WATCH_SESSION,
} WatchKind;

struct NodeWatch {
        ListNode link;
        Node *node;
        WatchKind kind;
        char *path;
        bool recursive;
        NodeChangeFn change_fn;
        NodeSessionFn session_fn;
        void *userdata;
        sd_event_source *initial;       /* session watch: first report */
};

struct NodeOp {
        ListNode link;
};

typedef struct NodeMetrics {
        Metric *proposals, *proposals_failed, *commit_latency, *fsync_latency;
        Metric *term, *role[_CTL_ROLE_MAX], *commit_index, *applied_index, *last_index;
        Metric *peers_connected, *voters, *learners, *sessions, *locks_held, *locks_waiting;
        Metric *read_barriers, *read_barrier_latency, *leader_changes, *jeopardy, *uptime;
} NodeMetrics;

struct Node {
        sd_event *event;
        const Conf *conf;
        Metrics *metrics;
        NodeMetrics m;

        NodeEventFn event_fn;
        void *event_userdata;

        List watches;
        size_t n_watches;

        uint64_t start_usec;
        bool started, stopping;
        CtlSession session;

        sd_event_source *ready_source;
        sd_event_source *stop_source;
        NodeStoppedFn stopped_fn;
        void *stopped_userdata;
};

static uint64_t now_usec(Node *n) {
        uint64_t t = 0;
        (void) sd_event_now(n->event, CLOCK_MONOTONIC, &t);
        return t;
}

static void register_metrics(Node *n) {
        Metrics *m = n->metrics;
        NodeMetrics *x = &n->m;

        x->proposals = metrics_counter(m, "raftfs_proposals_total", NULL, "Commands proposed by this node.");
        x->proposals_failed = metrics_counter(m, "raftfs_proposals_failed_total", NULL,
                                              "Proposals that failed (no leader, timeout, lost to a new term).");
        x->commit_latency = metrics_histogram_usec(m, "raftfs_commit_latency_seconds",
                                                   "Time from proposal to local apply of this node's commands.");
        x->fsync_latency = metrics_histogram_usec(m, "raftfs_fsync_latency_seconds",
                                                  "Duration of the storage thread's log syncs.");
        x->term = metrics_gauge(m, "raftfs_term", NULL, "Current Raft term.");
        for (int r = 0; r < _CTL_ROLE_MAX; r++) {
                char label[48];
                snprintf(label, sizeof(label), "role=\"%s\"", ctl_role_to_string((uint8_t) r));
                x->role[r] = metrics_gauge(m, "raftfs_role", label, "1 for the role this node has now.");
        }
        x->commit_index = metrics_gauge(m, "raftfs_commit_index", NULL, "Highest log index known committed.");
        x->applied_index = metrics_gauge(m, "raftfs_applied_index", NULL, "Highest log index applied to the tree.");
        x->last_index = metrics_gauge(m, "raftfs_last_index", NULL, "Highest log index stored.");
        x->peers_connected = metrics_gauge(m, "raftfs_peers_connected", NULL, "Peers with an authenticated TLS channel.");
        x->voters = metrics_gauge(m, "raftfs_voters", NULL, "Voting members in the configuration.");
        x->learners = metrics_gauge(m, "raftfs_learners", NULL, "Learners in the configuration.");
        x->sessions = metrics_gauge(m, "raftfs_sessions", NULL, "Open sessions in the cluster.");
        x->locks_held = metrics_gauge(m, "raftfs_locks_held", NULL, "Lock holders in the cluster.");
        x->locks_waiting = metrics_gauge(m, "raftfs_locks_waiting", NULL, "Queued lock waiters in the cluster.");
        x->read_barriers = metrics_counter(m, "raftfs_read_barriers_total", NULL, "Read barriers (ReadIndex) requested.");
        x->read_barrier_latency = metrics_histogram_usec(m, "raftfs_read_barrier_latency_seconds",
                                                         "Time a linearizable read waited for its barrier.");
        x->leader_changes = metrics_counter(m, "raftfs_leader_changes_total", NULL, "Times the known leader changed.");
        x->jeopardy = metrics_counter(m, "raftfs_session_jeopardy_total", NULL,
                                      "Times this node's session went into jeopardy.");
        x->uptime = metrics_gauge(m, "raftfs_uptime_seconds", NULL, "Seconds since the daemon started.");
}

int node_new(sd_event *e, const Conf *conf, Metrics *metrics, Node **ret) {
        Node *n;

        assert(e);
        assert(conf);
        assert(metrics);
        assert(ret);

        n = calloc(1, sizeof(Node));
        if (!n)
                return -ENOMEM;
        n->event = sd_event_ref(e);
        n->conf = conf;
        n->metrics = metrics;
        list_init(&n->watches);
        register_metrics(n);
        *ret = n;
        return 0;
}

static void watch_free(NodeWatch *w) {
        list_remove(&w->link);
        sd_event_source_disable_unref(w->initial);
        free(w->path);
        free(w);
}

Node *node_free(Node *n) {
        NodeWatch *w, *tmp;

        if (!n)
                return NULL;
        list_foreach_safe(w, tmp, &n->watches, link)
                watch_free(w);
        sd_event_source_disable_unref(n->ready_source);
        sd_event_source_disable_unref(n->stop_source);
        sd_event_unref(n->event);
        return mfree(n);
}

static int ready_handler(sd_event_source *s, void *userdata) {
        Node *n = userdata;

        n->ready_source = sd_event_source_disable_unref(n->ready_source);
        if (n->event_fn)
                n->event_fn(n, NODE_EVENT_READY, n->event_userdata);
        return 0;
}

int node_start(Node *n) {
        int r;

        assert(!n->started);
        n->start_usec = now_usec(n);
        n->started = true;
        log_warning("This build has no replication yet (stub node): serving status only.");
        r = sd_event_add_defer(n->event, &n->ready_source, ready_handler, n);
        if (r < 0)
                return log_error_errno(r, "Failed to queue the ready event: %m");
        return 0;
}

static void notify_session(Node *n) {
        NodeWatch *w;

        list_foreach(w, &n->watches, link)
                if (w->kind == WATCH_SESSION && !w->initial)
                        w->session_fn(&n->session, w->userdata);
}

static int stop_handler(sd_event_source *s, void *userdata) {
        Node *n = userdata;

        n->stop_source = sd_event_source_disable_unref(n->stop_source);
        if (n->stopped_fn)
                n->stopped_fn(n, n->stopped_userdata);
        return 0;
}

void node_stop(Node *n, NodeStoppedFn done, void *userdata) {
        if (n->stopping)
                return;
        n->stopping = true;
        n->stopped_fn = done;
        n->stopped_userdata = userdata;
        n->session = (CtlSession) { .state = CTL_SESSION_STOPPING, .id = n->session.id };
        notify_session(n);
        if (sd_event_add_defer(n->event, &n->stop_source, stop_handler, n) < 0 && done)
                done(n, userdata);      /* cannot defer: finish at once */
}

int node_reload(Node *n) {
        log_info("Nothing to reload: TLS is not wired into this build yet.");
        return 0;
}

void node_set_event_handler(Node *n, NodeEventFn fn, void *userdata) {
        n->event_fn = fn;
        n->event_userdata = userdata;
}

void node_get_session(Node *n, CtlSession *ret) {
        *ret = n->session;
}

void node_get_status(Node *n, CtlStatus *ret) {
        *ret = (CtlStatus) {
                .node = n->conf->node_name,
                .version = (char *) PACKAGE_VERSION,
                .role = CTL_ROLE_NONE,
                .leader = (char *) "",
                .voters = (uint32_t) n->conf->n_members,
                .ready = n->started && !n->ready_source,
                .session = n->session,
                .session_ttl_ms = n->conf->session_ttl_ms,
                .uptime_ms = n->started ? (now_usec(n) - n->start_usec) / USEC_PER_MSEC : 0,
                .mountpoint = (char *) "",
        };
}

int node_get_members(Node *n, CtlMember **ret, size_t *ret_n) {
        const Conf *c = n->conf;
        CtlMember *m = calloc(c->n_members ? c->n_members : 1, sizeof(CtlMember));

        if (!m)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_members; i++) {
                bool self = strcmp(c->members[i].name, c->node_name) == 0;
                m[i] = (CtlMember) {
                        .name = c->members[i].name,
                        .address = c->members[i].address,
                        .role = CTL_ROLE_NONE,
                        .flags = self ? CTL_MEMBER_SELF | CTL_MEMBER_CONNECTED : 0,
                        .last_contact_ms = self ? 0 : UINT64_MAX,
                };
        }
        *ret = m;
        *ret_n = c->n_members;
        return 0;
}

int node_render_metrics(Node *n, Buf *out) {
        CtlStatus s;

        node_get_status(n, &s);
        for (int r = 0; r < _CTL_ROLE_MAX; r++)
                metric_set(n->m.role[r], r == s.role);
        metric_set(n->m.term, (double) s.term);
        metric_set(n->m.commit_index, (double) s.commit);
        metric_set(n->m.applied_index, (double) s.applied);
        metric_set(n->m.last_index, (double) s.last_index);
        metric_set(n->m.voters, s.voters);
        metric_set(n->m.learners, s.learners);
        metric_set(n->m.uptime, (double) s.uptime_ms / 1000.0);
        return metrics_render(n->metrics, out);
}

bool node_is_healthy(Node *n, const char **ret_reason) {
        return true;
}

static const char not_wired[] = "not available: the raft layer is not wired into this build yet";

int node_member_add(Node *n, const char *name, const char *address,
                    NodeOpDoneFn done, void *userdata, NodeOp **ret_op, const char **ret_message) {
        *ret_message = not_wired;
        return -EOPNOTSUPP;
}

int node_member_remove(Node *n, const char *name,
                       NodeOpDoneFn done, void *userdata, NodeOp **ret_op, const char **ret_message) {
        *ret_message = not_wired;
        return -EOPNOTSUPP;
}

int node_leader_transfer(Node *n, const char *name,
                         NodeOpDoneFn done, void *userdata, NodeOp **ret_op, const char **ret_message) {
        *ret_message = not_wired;
        return -EOPNOTSUPP;
}

int node_snapshot_export(Node *n, NodeSnapshotFn done, void *userdata, NodeOp **ret_op,
                         const char **ret_message) {
        *ret_message = not_wired;
        return -EOPNOTSUPP;
}

void node_op_cancel(Node *n, NodeOp *op) {
}

NodeWatch *node_watch_add(Node *n, const char *path, bool recursive, NodeChangeFn fn, void *userdata) {
        NodeWatch *w;

        if (n->n_watches >= NODE_WATCHES_MAX)
                return NULL;
        w = calloc(1, sizeof(NodeWatch));
        if (!w)
                return NULL;
        w->path = strdup(path);
        if (!w->path) {
                free(w);
                return NULL;
        }
        w->kind = WATCH_CHANGES;
        w->node = n;
        w->recursive = recursive;
        w->change_fn = fn;
        w->userdata = userdata;
        list_append(&n->watches, &w->link);
        n->n_watches++;
        return w;
}

static int session_initial_handler(sd_event_source *s, void *userdata) {
        NodeWatch *w = userdata;

        w->initial = sd_event_source_disable_unref(w->initial);
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
        w->kind = WATCH_SESSION;
        w->session_fn = fn;
        w->userdata = userdata;
        w->node = n;
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
        watch_free(w);
        n->n_watches--;
        return NULL;
}

const Tree *node_tree(Node *n) {
        return NULL;
}

bool node_has_quorum(Node *n) {
        return false;
}

uint64_t node_session_id(Node *n) {
        return 0;
}

int node_propose(Node *n, const TreeCmd *cmd, bool need_session, NodeProposalFn done, void *userdata,
                 NodeOp **ret_op) {
        return -EROFS;
}

int node_read_barrier(Node *n, NodeBarrierFn done, void *userdata, NodeOp **ret_op) {
        return -EIO;
}

void node_set_notice_handler(Node *n, NodeNoticeFn fn, void *userdata) {
}
