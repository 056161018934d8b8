#include "config.h"

/* node-status.c — what the Node tells about itself: status, members with
 * replication progress, metrics, quorum and health (the watchdog's
 * question). Read-only: nothing here drives raft, so it may be called at
 * any time, also from callbacks during an update. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/node-internal.h"
#include "lib/log.h"
#include "lib/macro.h"

/* ---- status ------------------------------------------------------------ */

static uint8_t ctl_role(Node *n) {
        const RaftServer *self;

        if (!n->raft)
                return CTL_ROLE_NONE;
        switch (raft_role(n->raft)) {
        case RAFT_LEADER:
                return CTL_ROLE_LEADER;
        case RAFT_CANDIDATE:
        case RAFT_PRE_CANDIDATE:
                return CTL_ROLE_CANDIDATE;
        default:
                self = raft_config_find(raft_config(n->raft), n->self_id);
                if (!self)
                        return CTL_ROLE_NONE;
                return self->role == RAFT_LEARNER ? CTL_ROLE_LEARNER : CTL_ROLE_FOLLOWER;
        }
}

void node_set_mountpoint(Node *n, const char *mountpoint) {
        free(n->mountpoint);
        n->mountpoint = mountpoint ? strdup(mountpoint) : NULL;
}

bool node_has_quorum(Node *n) {
        uint64_t contact, now = node_now(n);

        if (!n->raft)
                return false;
        contact = raft_quorum_contact(n->raft);
        return contact > 0 && now - contact <= n->conf->election_timeout_ms * USEC_PER_MSEC;
}

uint64_t node_session_id(Node *n) {
        return n->session.state == CTL_SESSION_OK ? n->session.id : 0;
}

void node_get_session(Node *n, CtlSession *ret) {
        node_refresh_session(n);
        *ret = n->session;
}

void node_get_status(Node *n, CtlStatus *ret) {
        const RaftConfig *c = n->raft ? raft_config(n->raft) : NULL;
        const char *leader = n->raft ? node_name_by_id(n, raft_leader(n->raft)) : NULL;
        size_t voters = c ? raft_config_voters(c) : 0;

        node_refresh_session(n);
        *ret = (CtlStatus) {
                .node = n->conf->node_name,
                .version = (char *) PACKAGE_VERSION,
                .role = ctl_role(n),
                .term = n->raft ? raft_term(n->raft) : 0,
                .leader = (char *) (leader ? leader : ""),
                .commit = n->raft ? raft_commit_index(n->raft) : 0,
                .applied = n->raft ? raft_applied_index(n->raft) : 0,
                .last_index = n->raft ? raft_last_index(n->raft) : 0,
                .voters = (uint32_t) voters,
                .learners = (uint32_t) (c ? c->n - voters : 0),
                .quorum = node_has_quorum(n),
                .ready = n->ready,
                .session = n->session,
                .session_ttl_ms = n->conf->session_ttl_ms,
                .uptime_ms = n->started ? (node_now(n) - n->start_usec) / USEC_PER_MSEC : 0,
                .mountpoint = n->mountpoint ? n->mountpoint : (char *) "",
        };
}

int node_get_members(Node *n, CtlMember **ret, size_t *ret_n) {
        const RaftConfig *c = n->raft ? raft_config(n->raft) : NULL;
        size_t count = c ? c->n : 0;
        uint64_t leader = n->raft ? raft_leader(n->raft) : 0, now = node_now(n);
        bool is_leader = n->raft && raft_role(n->raft) == RAFT_LEADER;
        CtlMember *m = calloc(count ? count : 1, sizeof(CtlMember));

        if (!m)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                const RaftServer *s = &c->servers[i];
                bool self = s->id == n->self_id;
                TlsPeerStatus ps = {};
                RaftPeerStatus rs = {};
                uint8_t flags = 0;

                if (s->id == leader)
                        flags |= CTL_MEMBER_LEADER;
                if (self)
                        flags |= CTL_MEMBER_SELF | CTL_MEMBER_CONNECTED;
                else if (n->net && tls_net_get_peer_status(n->net, s->name, &ps) >= 0 && ps.connected)
                        flags |= CTL_MEMBER_CONNECTED;
                m[i] = (CtlMember) {
                        .name = (char *) s->name,
                        .address = (char *) s->address,
                        .role = s->id == leader ? CTL_ROLE_LEADER :
                                s->role == RAFT_LEARNER ? CTL_ROLE_LEARNER : CTL_ROLE_FOLLOWER,
                        .flags = flags,
                        .last_contact_ms = self ? 0 : UINT64_MAX,
                };
                if (is_leader && self)
                        m[i].match_index = raft_last_index(n->raft);
                if (is_leader && !self && raft_peer_status(n->raft, s->id, &rs) >= 0) {
                        m[i].match_index = rs.match_index;
                        if (rs.last_contact_usec && now >= rs.last_contact_usec)
                                m[i].last_contact_ms = (now - rs.last_contact_usec) / USEC_PER_MSEC;
                }
        }
        *ret = m;
        *ret_n = count;
        return 0;
}

static int count_session(void *userdata, const TreeSessionInfo *info) {
        (*(uint64_t *) userdata)++;
        return 0;
}

int node_render_metrics(Node *n, Buf *out) {
        CtlStatus s;
        TreeStatfs fs = {};
        uint64_t sessions = 0, peers = 0;

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
        if (n->tree) {
                tree_statfs(n->tree, &fs);
                (void) tree_session_foreach(n->tree, count_session, &sessions);
        }
        metric_set(n->m.sessions, (double) sessions);
        metric_set(n->m.locks_held, fs.locks);
        if (n->raft && n->net) {
                const RaftConfig *c = raft_config(n->raft);
                for (size_t i = 0; i < c->n; i++) {
                        TlsPeerStatus ps;
                        if (c->servers[i].id != n->self_id &&
                            tls_net_get_peer_status(n->net, c->servers[i].name, &ps) >= 0 && ps.connected)
                                peers++;
                }
        }
        metric_set(n->m.peers_connected, (double) peers);
        return metrics_render(n->metrics, out);
}

bool node_is_healthy(Node *n, const char **ret_reason) {
        uint64_t now = node_now(n);

        if (n->fatal) {
                *ret_reason = "the node hit a fatal error";
                return false;
        }
        if (n->durable_seq < n->persist_seq) {
                uint64_t t = n->persist_submit_usec[(n->durable_seq + 1) % ELEMENTSOF(n->persist_submit_usec)];
                if (t && now > t + NODE_STORAGE_STUCK_USEC) {
                        *ret_reason = "the storage thread has not finished a write for 20 s";
                        return false;
                }
        }
        return true;
}
