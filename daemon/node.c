#include "config.h"

/* node.c — one cluster member: lifecycle, the raft driving loop,
 * persistence, peer channels and the apply path (see node.h; operations
 * are in node-ops.c, sessions/watches/leader duties in node-session.c,
 * status and metrics in node-status.c).
 *
 * The Node owns the raft core (raft/), the durable store (store/), the tree
 * (tree/) and the TLS peer network (tls/), all on one sd-event loop:
 *
 *   peer frame / timer / proposal ──> raft ──> update:
 *       writes    -> store (helper thread, group commit); the update's last
 *                    write carries the update's sequence number as cookie
 *       messages  -> TLS at once, or held until the store reports that
 *                    sequence durable (votes and acks promise durable state)
 *       committed -> tree_apply(), results to waiting operations, notices to
 *                    watchers and the FUSE layer
 *       reads     -> read barriers
 *   store completion ──> raft_persisted(), held messages leave
 *
 * Node ids are derived from node names (a fixed hash), so every node can
 * map a TLS-authenticated peer name to the id raft expects without any
 * exchange, and the bootstrap configuration is identical everywhere.
 *
 * Invariants: no raft_*() call other than accessors happens between
 * raft_update_get() and raft_update_done() (in_update guards this); user
 * callbacks run only from the done_source defer handler, never nested in a
 * call that drives raft. */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "daemon/node-internal.h"
#include "lib/hashmap.h"
#include "lib/log.h"
#include "lib/macro.h"

static void register_metrics(Node *n) {
        Metrics *m = n->metrics;
        NodeMetrics *x = &n->m;

        x->proposals = metrics_counter(m, "raftfs_proposals_total", NULL, "Commands proposed by this node.");
        x->proposals_failed = metrics_counter(m, "raftfs_proposals_failed_total", NULL,
                                              "Proposals that failed (no quorum in time, session lost).");
        x->commit_latency = metrics_histogram_usec(m, "raftfs_commit_latency_seconds",
                                                   "Time from proposal to local apply of this node's commands.");
        x->fsync_latency = metrics_histogram_usec(m, "raftfs_fsync_latency_seconds",
                                                  "Time from submitting an update's writes to the store until durable.");
        x->term = metrics_gauge(m, "raftfs_term", NULL, "Current Raft term.");
        for (int r = 0; r < _CTL_ROLE_MAX; r++) {
                char label[48];
                snprintf(label, sizeof(label), "role=\"%s\"", ctl_role_to_string((uint8_t) r));
                x->role[r] = metrics_gauge(m, "raftfs_role", label, "1 for the role this node has now.");
        }
        x->commit_index = metrics_gauge(m, "raftfs_commit_index", NULL, "Highest log index known committed.");
        x->applied_index = metrics_gauge(m, "raftfs_applied_index", NULL, "Highest log index applied.");
        x->last_index = metrics_gauge(m, "raftfs_last_index", NULL, "Highest log index stored.");
        x->peers_connected = metrics_gauge(m, "raftfs_peers_connected", NULL, "Peers with an authenticated TLS channel.");
        x->voters = metrics_gauge(m, "raftfs_voters", NULL, "Voting members in the configuration.");
        x->learners = metrics_gauge(m, "raftfs_learners", NULL, "Learners in the configuration.");
        x->sessions = metrics_gauge(m, "raftfs_sessions", NULL, "Open sessions in the cluster.");
        x->locks_held = metrics_gauge(m, "raftfs_locks", NULL, "Lock holders and waiters in the cluster.");
        x->read_barriers = metrics_counter(m, "raftfs_read_barriers_total", NULL, "Read barriers (ReadIndex) requested.");
        x->read_barrier_latency = metrics_histogram_usec(m, "raftfs_read_barrier_latency_seconds",
                                                         "Time a linearizable read waited for its barrier.");
        x->leader_changes = metrics_counter(m, "raftfs_leader_changes_total", NULL, "Times the known leader changed.");
        x->jeopardy = metrics_counter(m, "raftfs_session_jeopardy_total", NULL,
                                      "Times this node's session went into jeopardy.");
        x->snapshots = metrics_counter(m, "raftfs_snapshots_total", NULL, "Snapshots written by this node.");
        x->messages_sent = metrics_counter(m, "raftfs_messages_sent_total", NULL, "Raft messages sent to peers.");
        x->messages_received = metrics_counter(m, "raftfs_messages_received_total", NULL,
                                               "Raft messages received from peers.");
        x->uptime = metrics_gauge(m, "raftfs_uptime_seconds", NULL, "Seconds since the node started.");
}

/* ---- small helpers ----------------------------------------------------- */

uint64_t node_now(Node *n) {
        uint64_t t = 0;
        (void) sd_event_now(n->event, CLOCK_MONOTONIC, &t);
        return t;
}

void node_housekeeping_soon(Node *n) {
        /* The handler re-arms itself one heartbeat after the time it fired. */
        if (n->housekeeping_timer)
                (void) sd_event_source_set_time(n->housekeeping_timer, node_now(n));
}

uint64_t node_realtime(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

uint64_t node_id_from_name(const char *name) {
        uint64_t id = hash_bytes(name, strlen(name));
        return id ? id : 1;
}

const RaftServer *node_server_by_name(Node *n, const char *name) {
        const RaftConfig *c = n->raft ? raft_config(n->raft) : NULL;

        for (size_t i = 0; c && i < c->n; i++)
                if (strcmp(c->servers[i].name, name) == 0)
                        return &c->servers[i];
        return NULL;
}

/* The configuration knows members; a node that is still joining has no
 * configuration yet but must answer the leader: peers that authenticated
 * to us are remembered by id too. */
const char *node_name_by_id(Node *n, uint64_t id) {
        const RaftServer *s = n->raft ? raft_config_find(raft_config(n->raft), id) : NULL;

        if (s)
                return s->name;
        return n->peer_names ? hashmap_get(n->peer_names, U64_TO_PTR(id)) : NULL;
}

static void remember_peer(Node *n, const char *peer) {
        uint64_t id = node_id_from_name(peer);
        char *copy;

        if (!n->peer_names || hashmap_contains(n->peer_names, U64_TO_PTR(id)) ||
            hashmap_size(n->peer_names) >= RAFT_MAX_SERVERS + CONF_MEMBERS_MAX)
                return;
        copy = strdup(peer);
        if (copy && hashmap_put(n->peer_names, U64_TO_PTR(id), copy) < 0)
                free(copy);
}

void node_emit(Node *n, NodeEvent event) {
        if (n->event_fn)
                n->event_fn(n, event, n->event_userdata);
}

void node_fatal(Node *n, int r, const char *what) {
        if (n->fatal)
                return;
        n->fatal = true;
        log_error_errno(r, "%s: %m. The node cannot continue.", what);
        node_emit(n, NODE_EVENT_FATAL);
}

/* ---- peers ------------------------------------------------------------- */

static void send_message(Node *n, uint64_t to, const uint8_t *data, size_t len) {
        const char *name = node_name_by_id(n, to);
        int r;

        if (!n->net || !name)
                return;
        r = tls_net_send(n->net, name, NODE_FRAME_RAFT, data, len);
        if (r >= 0)
                metric_inc(n->m.messages_sent);
        else if (r != -ENOTCONN && r != -ENOBUFS)
                log_debug_errno(r, "Failed to send to %s: %m", name);
        /* Raft tolerates lost messages: retransmission is its business. */
}

/* The members the TLS layer accepts and dials: the raft configuration, or,
 * on a node still waiting to join, the members named in the config file
 * (accepted, never dialed). */
static void update_peers(Node *n) {
        const RaftConfig *c = raft_config(n->raft);
        TlsPeerInfo peers[RAFT_MAX_SERVERS + CONF_MEMBERS_MAX];
        size_t k = 0;
        int r;

        if (!n->net)
                return;
        for (size_t i = 0; i < c->n; i++)
                peers[k++] = (TlsPeerInfo) { c->servers[i].name, c->servers[i].address };
        if (c->n == 0)
                for (size_t i = 0; i < n->conf->n_members; i++)
                        peers[k++] = (TlsPeerInfo) { n->conf->members[i].name, NULL };
        r = tls_net_set_peers(n->net, peers, k);
        if (r < 0)
                log_warning_errno(r, "Failed to update the peer list, ignoring: %m");
}

static void on_frame(TlsNet *net, const char *peer, uint8_t type, const void *data, size_t len, void *userdata) {
        Node *n = userdata;
        int r;

        if (type != NODE_FRAME_RAFT || !n->raft) {
                log_debug("Ignoring frame of type %u from %s.", type, peer);
                return;
        }
        metric_inc(n->m.messages_received);
        remember_peer(n, peer);
        /* Before raft sees the message: after a stall (SIGSTOP, a VM
         * pause) the last quorum contact is still the old one, and this is
         * the moment to notice that our session may have expired meanwhile
         * (a grant applied from this message must not be trusted). */
        node_refresh_session(n);
        r = raft_receive(n->raft, node_now(n), node_id_from_name(peer), data, len);
        if (r < 0 && r != -ENOMEM)
                log_debug_errno(r, "Dropped a bad raft message from %s: %m", peer);
        node_drive(n);
}

static void on_peer_up(TlsNet *net, const char *peer, void *userdata) {
        remember_peer(userdata, peer);
        log_info("Peer %s connected.", peer);
}

static void on_peer_down(TlsNet *net, const char *peer, int error, const char *detail, void *userdata) {
        Node *n = userdata;

        log_info("Peer %s disconnected: %s.", peer, detail ? detail : "closed");
        if (!n->raft)
                return;
        /* Fast failover: a follower whose leader vanished campaigns after a
         * short random delay instead of a whole election timeout. */
        raft_peer_unreachable(n->raft, node_now(n), node_id_from_name(peer));
        node_drive(n);
}

static void on_refused(TlsNet *net, const char *address, const char *peer, TlsRefuseReason reason,
                       const char *detail, void *userdata) {
        static uint64_t last_usec;
        Node *n = userdata;
        uint64_t now = node_now(n);

        /* Rate limited: a misconfigured peer redials several times a second. */
        if (last_usec && now - last_usec < 10 * USEC_PER_SEC)
                return;
        last_usec = now;
        log_warning("Refused connection %s %s%s: %s (%s).", address, peer ? "from " : "", peer ? peer : "",
                    tls_refuse_reason_to_string(reason), detail ? detail : "");
}

static int setup_tls(Node *n) {
        static const TlsNetCallbacks callbacks = {
                .on_frame = on_frame,
                .on_peer_up = on_peer_up,
                .on_peer_down = on_peer_down,
                .on_refused = on_refused,
        };
        _cleanup_free_ char *error = NULL;
        TlsNetConfig cfg = {};
        int r;

        if (!n->conf->tls_ca) {
                log_info("No [tls] section: running without peers (single-member cluster).");
                return 0;
        }
        n->tls_ctx = tls_context_new(n->conf->tls_ca, n->conf->tls_cert, n->conf->tls_key, &error);
        if (!n->tls_ctx)
                return log_error_errno(-EINVAL, "%s", error ? error : "Failed to load TLS material");
        if (!tls_context_cert_has_name(n->tls_ctx, n->conf->node_name))
                return log_error_errno(-EINVAL, "Certificate '%s' does not carry the node name '%s' "
                                       "(subject CN or DNS subjectAltName).", n->conf->tls_cert,
                                       n->conf->node_name);
        /* A frame must carry the largest append (one whole entry). */
        cfg.max_frame_bytes = MAX((size_t) TLS_NET_DEFAULT_MAX_FRAME_BYTES, 2 * NODE_ENTRY_MAX(n->conf));
        cfg.max_queue_bytes = 4 * cfg.max_frame_bytes;
        r = tls_net_new(n->event, n->tls_ctx, n->conf->node_name, &callbacks, &cfg, n, &n->net);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the peer network: %m");
        r = tls_net_listen(n->net, n->conf->listen);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s: %m", n->conf->listen);
        return 0;
}

/* ---- persistence ------------------------------------------------------- */

static void release_held(Node *n) {
        HeldMessage *h, *tmp;

        list_foreach_safe(h, tmp, &n->held, link) {
                if (h->seq > n->durable_seq)
                        break;
                send_message(n, h->to, h->data, h->len);
                list_remove(&h->link);
                free(h);
        }
}

static void hold_message(Node *n, uint64_t seq, const RaftOutMessage *m) {
        HeldMessage *h = malloc(sizeof(HeldMessage) + m->len);

        if (!h)
                return;         /* dropped: raft retransmits */
        h->seq = seq;
        h->to = m->to;
        h->len = m->len;
        memcpy(h->data, m->data, m->len);
        list_append(&n->held, &h->link);
}

static void store_completion(Store *s, const StoreCompletion *c, void *userdata) {
        Node *n = userdata;
        uint64_t now = node_now(n), seq = c->cookie & ~NODE_COOKIE_COMPACT;

        switch (c->type) {
        case STORE_COMPLETION_ENTRIES:
                if (n->raft)
                        raft_persisted(n->raft, now, c->index, c->term);
                break;
        case STORE_COMPLETION_HARD_STATE:
                break;
        case STORE_COMPLETION_SNAPSHOT:
                if (c->cookie & NODE_COOKIE_COMPACT) {
                        uint64_t first = c->index + 1 > NODE_COMPACT_KEEP ? c->index + 1 - NODE_COMPACT_KEEP : 1;
                        int r = raft_compact(n->raft, c->index, c->term, MAX(first, store_first_index(s)));
                        if (r < 0)
                                log_warning_errno(r, "Failed to compact the log at %llu, ignoring: %m",
                                                  (unsigned long long) c->index);
                        n->compacting = false;
                        metric_inc(n->m.snapshots);
                        n->snap_reader = store_snapshot_reader_free(n->snap_reader);
                        seq = 0;
                } else if (n->raft)
                        raft_persisted(n->raft, now, c->index, c->term);
                break;
        case STORE_COMPLETION_FAILED:
                node_fatal(n, c->error, "Storage failed");
                return;
        }
        if (seq > n->durable_seq) {
                uint64_t t = n->persist_submit_usec[seq % ELEMENTSOF(n->persist_submit_usec)];
                if (t && now >= t)
                        metric_observe_usec(n->m.fsync_latency, now - t);
                n->durable_seq = seq;
                release_held(n);
        }
        node_drive(n);
}

/* Installs a completely received snapshot: the tree is replaced and the
 * store told to keep it (which drops the log). */
static int install_snapshot(Node *n, const RaftSnapshotMeta *meta, uint64_t cookie) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t len = 0;
        Tree *t = NULL;
        int r;

        if (n->incoming_index != meta->index || n->incoming_term != meta->term)
                return -EBADMSG;
        data = buf_steal(&n->incoming_snapshot, &len);
        r = tree_snapshot_load(data, len, &t);
        if (r < 0)
                return r;
        r = store_save_snapshot(n->store, meta, data, len, cookie);
        if (r < 0) {
                tree_free(t);
                return r;
        }
        TAKE_PTR(data);
        tree_free(n->tree);
        n->tree = t;
        log_info("Installed snapshot at index %llu (term %llu) from the leader.",
                 (unsigned long long) meta->index, (unsigned long long) meta->term);
        /* No notices describe a wholesale replacement: the mount must drop
         * every cached entry and attribute. */
        if (n->reset_fn)
                n->reset_fn(n->reset_userdata);
        return 0;
}

static void receive_chunks(Node *n, const RaftUpdate *u) {
        for (size_t i = 0; i < u->n_chunks; i++) {
                const RaftSnapshotChunk *ch = &u->chunks[i];

                if (ch->offset == 0) {
                        buf_clear(&n->incoming_snapshot);
                        n->incoming_index = ch->index;
                        n->incoming_term = ch->term;
                }
                if (ch->index != n->incoming_index || ch->term != n->incoming_term ||
                    ch->offset != n->incoming_snapshot.len) {
                        log_debug("Ignoring an out-of-order snapshot chunk.");
                        continue;
                }
                if (buf_append(&n->incoming_snapshot, ch->data, ch->len) < 0)
                        node_fatal(n, -ENOMEM, "Receiving a snapshot");
        }
}

/* Submits the update's writes; the last one carries `seq` as cookie. */
static int persist_update(Node *n, const RaftUpdate *u, uint64_t seq) {
        bool has_entries = u->n_entries > 0, has_hs = u->hard_state_changed;
        int r = 0;

        receive_chunks(n, u);
        if (u->snapshot)
                r = install_snapshot(n, u->snapshot, !has_entries && !has_hs ? seq : 0);
        if (r >= 0 && has_entries)
                r = store_append(n->store, u->entries, u->n_entries, !has_hs ? seq : 0);
        if (r >= 0 && has_hs)
                r = store_save_hard_state(n->store, &u->hard_state, seq);
        if (r >= 0)
                n->persist_submit_usec[seq % ELEMENTSOF(n->persist_submit_usec)] = node_now(n);
        return r;
}

/* ---- apply ------------------------------------------------------------- */

static int apply_entries(Node *n, const RaftEntry *entries, size_t count) {
        for (size_t i = 0; i < count; i++) {
                const RaftEntry *e = &entries[i];
                TreeResult res = {};
                uint64_t session = 0, request = 0;
                int r;

                if (e->type != RAFT_ENTRY_NORMAL)
                        continue;
                r = tree_apply(n->tree, e->index, e->data, e->len, &res, &n->notices);
                if (r < 0)
                        return r;       /* -ENOMEM: the tree may be half-changed */
                /* A malformed entry has no author; its result is -EBADMSG. */
                if (tree_cmd_author(e->data, e->len, &session, &request) == 0)
                        node_ops_apply_result(n, e, session, request, &res);
                if (n->notices.n > 0) {
                        node_ops_notices(n, e, n->notices.items, n->notices.n);
                        if (n->notice_fn)
                                n->notice_fn(e->index, session, request, n->notices.items, n->notices.n,
                                             n->notice_userdata);
                        tree_notices_clear(&n->notices);
                }
        }
        return 0;
}

/* ---- the driving loop -------------------------------------------------- */

static void process_update(Node *n) {
        RaftUpdate u;
        uint64_t seq = 0;
        int r = 0;

        raft_update_get(n->raft, &u);
        n->in_update = true;
        if (u.hard_state_changed || u.n_entries > 0 || u.snapshot)
                seq = ++n->persist_seq;
        if (seq || u.n_chunks)
                r = persist_update(n, &u, seq);
        if (r < 0)
                node_fatal(n, r, "Failed to submit writes to the store");

        for (size_t i = 0; i < u.n_messages; i++) {
                const RaftOutMessage *m = &u.messages[i];
                if (m->after_persist && seq > n->durable_seq)
                        hold_message(n, seq, m);
                else
                        send_message(n, m->to, m->data, m->len);
        }
        r = apply_entries(n, u.committed, u.n_committed);
        if (r < 0)
                node_fatal(n, r, "Failed to apply a committed entry");
        for (size_t i = 0; i < u.n_reads; i++)
                node_ops_read_result(n, &u.reads[i]);
        for (size_t i = 0; i < u.n_events; i++)
                node_ops_event(n, &u.events[i]);
        raft_update_done(n->raft);
        n->in_update = false;

        for (size_t i = 0; i < u.n_events; i++)
                if (u.events[i].type == RAFT_EVENT_CONFIG)
                        update_peers(n);
}

static void arm_raft_timer(Node *n) {
        uint64_t deadline = raft_next_deadline(n->raft);

        if (deadline == USEC_INFINITY) {
                (void) sd_event_source_set_enabled(n->raft_timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(n->raft_timer, deadline);
        (void) sd_event_source_set_enabled(n->raft_timer, SD_EVENT_ONESHOT);
}

void node_drive(Node *n) {
        if (!n->raft || n->in_update || n->fatal)
                return;
        while (raft_has_update(n->raft) && !n->fatal)
                process_update(n);
        arm_raft_timer(n);
        node_ops_deliver(n);
}

static int raft_timer_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        Node *n = userdata;

        raft_tick(n->raft, node_now(n));
        node_drive(n);
        return 0;
}

static int housekeeping_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        Node *n = userdata;
        uint64_t now = node_now(n);

        /* A stall of this process (SIGSTOP, a paused VM, a stuck disk) is
         * time in which it could hear nobody: silence measured across it says
         * nothing about the peers. A leader that comes back still leading
         * gives every session a fresh ttl of grace, as a new leader does,
         * instead of expiring the sessions of nodes that were fine. */
        if (n->housekeeping_last_usec != 0 &&
            now > n->housekeeping_last_usec + 2 * n->conf->election_timeout_ms * USEC_PER_MSEC &&
            n->leader_since_usec != 0) {
                log_notice("Event loop stalled for %llu ms: granting every session a full ttl of grace.",
                           (unsigned long long) ((now - n->housekeeping_last_usec) / USEC_PER_MSEC));
                n->leader_since_usec = now;
        }
        n->housekeeping_last_usec = now;

        node_housekeeping(n);
        node_drive(n);
        (void) sd_event_source_set_time(s, usec + n->conf->heartbeat_ms * USEC_PER_MSEC);
        return 0;
}

/* ---- raft sources ------------------------------------------------------ */

static int snapshot_read(void *userdata, uint64_t index, uint64_t term, uint64_t offset, void *buf,
                         size_t max_len, size_t *ret_len, uint64_t *ret_total) {
        Node *n = userdata;
        const RaftSnapshotMeta *meta;
        int r;

        if (n->snap_reader) {
                meta = store_snapshot_reader_meta(n->snap_reader);
                if (meta->index != index || meta->term != term)
                        n->snap_reader = store_snapshot_reader_free(n->snap_reader);
        }
        if (!n->snap_reader) {
                r = store_snapshot_open(n->store, &n->snap_reader);
                if (r < 0)
                        return r;
                meta = store_snapshot_reader_meta(n->snap_reader);
                if (meta->index != index || meta->term != term) {
                        n->snap_reader = store_snapshot_reader_free(n->snap_reader);
                        return -ENOENT;
                }
        }
        r = store_snapshot_reader_read(n->snap_reader, offset, buf, max_len, ret_len);
        if (r < 0)
                return r;
        *ret_total = store_snapshot_reader_size(n->snap_reader);
        return 0;
}

static void raft_trace(void *userdata, const char *line) {
        log_debug("raft: %s", line);
}

/* ---- start ------------------------------------------------------------- */

/* Writes entry 1 (the initial configuration) into an empty data_dir and
 * waits until it is durable, so that raft starts from a durable log. */
static int bootstrap(Node *n) {
        RaftConfig c = RAFT_CONFIG_INIT;
        RaftEntry e = {};
        RaftHardState hs;
        int r;

        for (size_t i = 0; i < n->conf->n_members; i++) {
                r = raft_config_add(&c, node_id_from_name(n->conf->members[i].name), n->conf->members[i].name,
                                    n->conf->members[i].address, RAFT_VOTER);
                if (r < 0) {
                        raft_config_done(&c);
                        return log_error_errno(r, "Invalid initial member %s: %m", n->conf->members[i].name);
                }
        }
        r = raft_bootstrap(&c, &e, &hs);
        raft_config_done(&c);
        if (r < 0)
                return log_error_errno(r, "Failed to build the bootstrap entry: %m");
        r = store_append(n->store, &e, 1, 0);
        raft_entry_done(&e);
        if (r >= 0)
                r = store_save_hard_state(n->store, &hs, 0);
        while (r >= 0 && store_durable_index(n->store) < 1 && !store_is_failed(n->store)) {
                struct pollfd p = { .fd = store_get_fd(n->store), .events = POLLIN };
                if (poll(&p, 1, 10000) <= 0)
                        r = -ETIMEDOUT;
                else
                        (void) store_dispatch_completions(n->store);
        }
        if (r >= 0 && store_is_failed(n->store))
                r = store_failed_error(n->store);
        if (r < 0)
                return log_error_errno(r, "Failed to write the bootstrap entry: %m");
        log_notice("Bootstrapped a new cluster with %zu member%s.", n->conf->n_members,
                   n->conf->n_members == 1 ? "" : "s");
        return 0;
}

static int open_store(Node *n) {
        StoreError err = { .offset = UINT64_MAX };
        StoreOptions opts = STORE_OPTIONS_INIT;
        int r;

        opts.entry_max_bytes = (uint32_t) MAX((size_t) (64 << 20), NODE_ENTRY_MAX(n->conf));
        /* The raft core already keeps the recent entries in memory (its
         * mem_entries window); the store's cache only serves older ones to a
         * slow follower, so it need not be large. */
        opts.cache_max_bytes = 8 << 20;
        r = store_open(n->conf->data_dir, &opts, &n->store, &err);
        if (r < 0) {
                if (err.message)
                        log_error("%s", err.message);
                if (r == -EUCLEAN)
                        log_error("Refusing to serve possibly wrong data. Restore data_dir from a healthy "
                                  "member (remove it and re-add the node) after investigating.");
                else if (r == -EBUSY)
                        log_error("Another process uses %s.", n->conf->data_dir);
                store_error_done(&err);
                return log_error_errno(r, "Failed to open data directory '%s': %m", n->conf->data_dir);
        }
        store_set_completion_handler(n->store, store_completion, n);
        r = store_attach_event(n->store, n->event, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the store: %m");
        if (store_last_index(n->store) == 0 && !store_snapshot_meta(n->store)) {
                if (n->conf->join) {
                        log_notice("Empty data directory and join = yes: waiting to be added to the cluster.");
                        return 0;
                }
                return bootstrap(n);
        }
        return 0;
}

static int load_tree(Node *n) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t len = 0;
        int r;

        if (!store_snapshot_meta(n->store)) {
                n->tree = tree_new(NULL);
                return n->tree ? 0 : log_error_errno(-ENOMEM, "Out of memory.");
        }
        r = store_snapshot_load(n->store, &data, &len);
        if (r >= 0)
                r = tree_snapshot_load(data, len, &n->tree);
        if (r < 0)
                return log_error_errno(r, "Failed to restore the tree from the snapshot: %m");
        return 0;
}

static int start_raft(Node *n) {
        RaftOptions o;
        RaftStartState st;
        int r;

        raft_options_init(&o);
        o.id = n->self_id;
        if (getrandom(&o.seed, sizeof(o.seed), 0) != sizeof(o.seed))
                o.seed = node_realtime() ^ n->self_id;
        o.heartbeat_usec = n->conf->heartbeat_ms * USEC_PER_MSEC;
        o.election_timeout_usec = n->conf->election_timeout_ms * USEC_PER_MSEC;
        o.max_entry_bytes = MAX(o.max_entry_bytes, NODE_ENTRY_MAX(n->conf));
        o.entries = store_entry_source(n->store);
        o.snapshot = (RaftSnapshotSource) { .userdata = n, .read = snapshot_read };
        if (log_get_max_level() >= LOG_DEBUG) {
                o.trace = raft_trace;
                o.trace_userdata = n;
        }
        r = raft_new(&o, &n->raft);
        if (r < 0)
                return log_error_errno(r, "Failed to create the raft core: %m");
        st = (RaftStartState) {
                .hard_state = *store_hard_state(n->store),
                .snapshot = store_snapshot_meta(n->store),
                .first_index = store_first_index(n->store),
                .last_index = store_last_index(n->store),
        };
        r = raft_start(n->raft, node_now(n), &st);
        if (r < 0)
                return log_error_errno(r, "Failed to start raft from %s: %m", n->conf->data_dir);
        return 0;
}

int node_start(Node *n) {
        uint64_t now;
        int r;

        assert(!n->started);
        n->start_usec = node_now(n);
        r = open_store(n);
        if (r >= 0)
                r = load_tree(n);
        if (r >= 0)
                r = setup_tls(n);
        if (r >= 0)
                r = start_raft(n);
        if (r < 0)
                return r;
        update_peers(n);

        now = node_now(n);
        r = sd_event_add_time(n->event, &n->raft_timer, CLOCK_MONOTONIC, now, 0, raft_timer_handler, n);
        if (r >= 0)
                r = sd_event_add_time(n->event, &n->housekeeping_timer, CLOCK_MONOTONIC,
                                      now + n->conf->heartbeat_ms * USEC_PER_MSEC, 0, housekeeping_handler, n);
        if (r >= 0)
                r = sd_event_source_set_enabled(n->housekeeping_timer, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the node's timers: %m");
        n->started = true;
        log_info("Node %s started: term %llu, log %llu..%llu, applied %llu.", n->conf->node_name,
                 (unsigned long long) raft_term(n->raft), (unsigned long long) store_first_index(n->store),
                 (unsigned long long) store_last_index(n->store), (unsigned long long) tree_applied_index(n->tree));
        node_drive(n);
        return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

int node_new(sd_event *e, const Conf *conf, Metrics *metrics, Node **ret) {
        Node *n;

        assert(e && conf && metrics && ret);
        n = calloc(1, sizeof(Node));
        if (!n)
                return -ENOMEM;
        n->event = sd_event_ref(e);
        n->conf = conf;
        n->metrics = metrics;
        n->self_id = node_id_from_name(conf->node_name);
        n->next_request = 1;
        n->peer_names = hashmap_new(&u64_hash_ops);
        if (!n->peer_names) {
                free(n);
                return -ENOMEM;
        }
        list_init(&n->ops);
        list_init(&n->done_ops);
        list_init(&n->watches);
        list_init(&n->held);
        register_metrics(n);
        *ret = n;
        return 0;
}

Node *node_free(Node *n) {
        HeldMessage *h, *tmp;
        NodeWatch *w, *wtmp;

        if (!n)
                return NULL;
        node_ops_cancel_all(n);
        list_foreach_safe(w, wtmp, &n->watches, link)
                node_watch_remove(n, w);
        list_foreach_safe(h, tmp, &n->held, link) {
                list_remove(&h->link);
                free(h);
        }
        if (n->peer_names) {
                void *name;
                HashmapIter it = HASHMAP_ITER_INIT;
                while (hashmap_iterate(n->peer_names, &it, NULL, &name))
                        free(name);
                hashmap_free(n->peer_names);
        }
        sd_event_source_disable_unref(n->raft_timer);
        sd_event_source_disable_unref(n->housekeeping_timer);
        sd_event_source_disable_unref(n->done_source);
        sd_event_source_disable_unref(n->stop_source);
        tls_net_free(n->net);
        tls_context_unref(n->tls_ctx);
        store_snapshot_reader_free(n->snap_reader);
        store_free(n->store);           /* waits for queued writes */
        raft_free(n->raft);
        tree_free(n->tree);
        tree_notices_done(&n->notices);
        buf_done(&n->incoming_snapshot);
        buf_done(&n->session_open_cmd);
        free(n->mountpoint);
        sd_event_unref(n->event);
        return mfree(n);
}

int node_reload(Node *n) {
        _cleanup_free_ char *error = NULL;
        int r;

        if (!n->tls_ctx) {
                log_info("No TLS configured, nothing to reload.");
                return 0;
        }
        r = tls_context_reload(n->tls_ctx, &error);
        if (r < 0)
                return log_warning_errno(r, "%s", error ? error : "TLS reload failed");
        log_info("Reloaded TLS certificates; new connections use them.");
        return 0;
}

void node_set_event_handler(Node *n, NodeEventFn fn, void *userdata) {
        n->event_fn = fn;
        n->event_userdata = userdata;
}

uint64_t node_self_id(Node *n) {
        return n->self_id;
}

const char *node_member_name(Node *n, uint64_t id) {
        const RaftServer *s = n->raft ? raft_config_find(raft_config(n->raft), id) : NULL;
        return s ? s->name : NULL;
}

void node_set_reset_handler(Node *n, NodeResetFn fn, void *userdata) {
        n->reset_fn = fn;
        n->reset_userdata = userdata;
}

void node_set_notice_handler(Node *n, NodeNoticeFn fn, void *userdata) {
        n->notice_fn = fn;
        n->notice_userdata = userdata;
}

const Tree *node_tree(Node *n) {
        return n->tree;
}
