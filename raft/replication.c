#include "config.h"
/* replication.c — log replication (Raft paper §5.3, thesis §3.5, §10.2):
 * AppendEntries on both sides, heartbeats, per-follower progress, commit.
 *
 * The leader tracks each follower as a small state machine (the design
 * popularised by etcd-io/raft):
 *   PROBE      the match point is unknown: one append at a time, resent when
 *              a heartbeat answer shows the follower is alive but behind;
 *   REPLICATE  appends are pipelined: `next` moves optimistically and each
 *              message is recorded in an in-flight window bounded by count
 *              and bytes (flow control); an answer frees the window up to
 *              its index; a rejection falls back to PROBE. Losses show in
 *              heartbeats, which carry the last index sent so far and are
 *              answered with the follower's last index: if it lacks what
 *              was sent before the heartbeat, an append was lost (or
 *              overtaken); if it has it but is unacknowledged, the answer
 *              was lost (or waits for the follower's disk). When two
 *              answers in a row show either, the leader probes right after
 *              what the follower has;
 *   SNAPSHOT   the entries it needs are compacted: InstallSnapshot (snapshot.c).
 * Rejections carry a hint (the follower's best guess of the last index
 * whose term is <= the leader's prev_term) so that the leader skips a whole
 * conflicting term per round trip instead of one entry (§5.3 optimisation).
 *
 * Commit: only entries of the current term are committed by counting
 * replicas (§5.4.2); the leader's own log counts only up to what the caller
 * reported durable, which lets it write its disk in parallel with sending. */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "raft/raft-internal.h"

/* ---- progress bookkeeping -------------------------------------------------- */

Progress *peer_find(Raft *r, uint64_t id) {
        for (size_t i = 0; i < r->n_peers; i++)
                if (r->peers[i].id == id)
                        return &r->peers[i];
        return NULL;
}

void peers_free(Raft *r) {
        for (size_t i = 0; i < r->n_peers; i++)
                free(r->peers[i].inflight);
        free(r->peers);
        r->peers = NULL;
        r->n_peers = 0;
}

static void inflight_reset(Progress *p) {
        p->if_head = p->if_count = p->if_bytes = 0;
}

/* Keeps the progress of servers still in the configuration, adds fresh ones
 * (probing from our last index) and drops the others. */
void peers_rebuild(Raft *r) {
        const RaftConfig *c = conf_current(r);
        Progress *n = calloc(c->n ? c->n : 1, sizeof(Progress));
        size_t k = 0;

        if (!n)
                return;         /* keep the old set; retried at the next change */
        for (size_t i = 0; i < c->n; i++) {
                const RaftServer *s = &c->servers[i];
                if (s->id == r->id)
                        continue;
                Progress *old = peer_find(r, s->id);
                if (old) {
                        n[k] = *old;
                        old->inflight = NULL;
                } else {
                        n[k] = (Progress) {
                                .id = s->id, .state = RAFT_PEER_PROBE,
                                .next = r->log.last_index + 1, .last_contact = 0,
                                .last_progress = r->now,
                        };
                        n[k].inflight = calloc(r->o.max_inflight_msgs, sizeof(Inflight));
                        if (!n[k].inflight) {
                                for (size_t j = 0; j < k; j++)
                                        free(n[j].inflight);
                                free(n);
                                return;
                        }
                }
                n[k].voter = s->role == RAFT_VOTER;
                k++;
        }
        peers_free(r);
        r->peers = n;
        r->n_peers = k;
}

static bool inflight_full(const Raft *r, const Progress *p) {
        return p->if_count >= r->o.max_inflight_msgs || p->if_bytes >= r->o.max_inflight_bytes;
}

static void inflight_add(Raft *r, Progress *p, uint64_t last, size_t bytes) {
        size_t cap = r->o.max_inflight_msgs;
        p->inflight[(p->if_head + p->if_count) % cap] = (Inflight) { last, bytes };
        p->if_count++;
        p->if_bytes += bytes;
}

static void inflight_free_to(Raft *r, Progress *p, uint64_t index) {
        size_t cap = r->o.max_inflight_msgs;
        while (p->if_count > 0 && p->inflight[p->if_head].last <= index) {
                p->if_bytes -= p->inflight[p->if_head].bytes;
                p->if_head = (p->if_head + 1) % cap;
                p->if_count--;
        }
}

void progress_become_probe(Raft *r, Progress *p) {
        p->state = RAFT_PEER_PROBE;
        p->ack_wait = 0;
        p->next = p->match + 1;
        p->probe_sent = false;
        inflight_reset(p);
        r->need_flush = true;
}

void progress_become_replicate(Raft *r, Progress *p) {
        p->state = RAFT_PEER_REPLICATE;
        p->next = p->match + 1;
        p->last_progress = r->now;
        inflight_reset(p);
        r->need_flush = true;
}

void progress_become_snapshot(Raft *r, Progress *p) {
        p->state = RAFT_PEER_SNAPSHOT;
        p->snap_index = r->log.snap_index;
        p->snap_term = r->log.snap_term;
        p->snap_offset = 0;
        p->snap_waiting = false;
        inflight_reset(p);
        trace(r, "peer %" PRIu64 " needs snapshot %" PRIu64, p->id, p->snap_index);
}

/* ---- leader: sending ------------------------------------------------------- */

/* Sends one append from p->next. Returns false when nothing could be sent
 * (the peer moved to SNAPSHOT, or an error). */
static bool send_append(Raft *r, Progress *p) {
        uint64_t prev = p->next - 1, prev_term;
        uint32_t n = 0;
        size_t bytes = 0;

        if (rlog_term(r, prev, &prev_term) < 0) {
                progress_become_snapshot(r, p);
                snapshot_send(r, p);
                return false;
        }
        size_t start = send_begin(r);
        int k = raft_msg_append_begin(&r->out, r->id, p->id, r->term, prev, prev_term, r->commit);
        if (k == 0 && p->next <= r->log.last_index)
                k = rlog_encode_entries(r, &r->out, p->next, r->log.last_index, r->o.max_msg_bytes,
                                        r->o.max_entries_per_msg, &n, &bytes);
        if (k < 0) {
                r->out.len = start;
                if (k == -ENOENT) {
                        progress_become_snapshot(r, p);
                        snapshot_send(r, p);
                }
                return false;
        }
        raft_msg_append_finish(&r->out, start, n);
        send_end(r, p->id, start, false);
        trace(r, "append to %" PRIu64 " prev=%" PRIu64 "/%" PRIu64 " n=%u commit=%" PRIu64, p->id, prev,
              prev_term, n, r->commit);
        p->sent_commit = MAX(p->sent_commit, MIN(r->commit, prev + n));
        if (p->state == RAFT_PEER_REPLICATE && n > 0) {
                inflight_add(r, p, prev + n, bytes);
                p->next = prev + n + 1;
        } else if (p->state == RAFT_PEER_PROBE) {
                p->probe_sent = true;
                p->probe_sent_at = r->now;
        }
        return true;
}

static void send_heartbeat(Raft *r, Progress *p) {
        RaftMsg m = {
                .type = RAFT_MSG_HEARTBEAT, .to = p->id,
                .commit = MIN(p->match, r->commit), .seq = r->read_seq,
                .index = p->state == RAFT_PEER_REPLICATE ? p->next - 1 : 0,
        };
        p->sent_commit = MAX(p->sent_commit, m.commit);
        send_msg(r, &m, false);
}

static void replicate_peer(Raft *r, Progress *p) {
        switch (p->state) {
        case RAFT_PEER_SNAPSHOT:
                if (!p->snap_waiting)
                        snapshot_send(r, p);
                return;
        case RAFT_PEER_PROBE:
                if (!p->probe_sent)
                        (void) send_append(r, p);
                return;
        case RAFT_PEER_REPLICATE:
                while (p->next <= r->log.last_index && !inflight_full(r, p))
                        if (!send_append(r, p))
                                return;
                /* Nothing new to send but the follower has not heard of the
                 * latest commit index: tell it, so that it applies promptly. */
                if (p->state == RAFT_PEER_REPLICATE && p->sent_commit < MIN(p->match, r->commit))
                        send_heartbeat(r, p);
                return;
        }
}

void replicate_flush(Raft *r) {
        for (size_t i = 0; i < r->n_peers; i++)
                replicate_peer(r, &r->peers[i]);
}

void broadcast_heartbeat(Raft *r) {
        for (size_t i = 0; i < r->n_peers; i++)
                send_heartbeat(r, &r->peers[i]);
}

/* Retransmission of a snapshot chunk without an answer. */
static void retransmit_check(Raft *r) {
        uint64_t limit = 2 * r->o.heartbeat_usec;
        for (size_t i = 0; i < r->n_peers; i++) {
                Progress *p = &r->peers[i];
                if (p->state == RAFT_PEER_SNAPSHOT && p->snap_waiting &&
                    r->now - p->snap_sent_at >= limit) {
                        p->snap_waiting = false;
                        r->need_flush = true;
                }
        }
}

static bool quorum_active(Raft *r) {
        size_t voters = 0, active = 0;
        if (self_is_voter(r)) {
                voters++;
                active++;
        }
        for (size_t i = 0; i < r->n_peers; i++)
                if (r->peers[i].voter) {
                        voters++;
                        active += r->peers[i].recent_active;
                }
        return voters > 0 && active >= quorum(voters);
}

void leader_tick(Raft *r) {
        if (r->now >= r->quorum_deadline) {
                r->quorum_deadline = r->now + r->o.election_timeout_usec;
                if (r->o.check_quorum && !quorum_active(r)) {
                        trace(r, "CheckQuorum failed: stepping down");
                        become_follower(r, r->term, 0);
                        return;
                }
                for (size_t i = 0; i < r->n_peers; i++)
                        r->peers[i].recent_active = false;
        }
        if (r->transfer_target && r->now >= r->transfer_deadline)
                transfer_end(r, false);
        if (r->now >= r->heartbeat_deadline) {
                r->heartbeat_deadline = r->now + r->o.heartbeat_usec;
                retransmit_check(r);
                broadcast_heartbeat(r);
                membership_tick(r);
        }
}

/* ---- leader: appending and committing -------------------------------------- */

int leader_append(Raft *r, uint8_t type, const void *data, size_t len, uint64_t *ret_index) {
        int k = rlog_append(r, r->term, type, data, len);
        if (k < 0)
                return k;
        uint64_t idx = r->log.last_index;
        r->uncommitted_bytes += len;
        if (type == RAFT_ENTRY_CONF) {
                k = conf_push(r, idx, data, len);
                assert(k >= 0 || k == -ENOMEM);
        }
        r->need_flush = true;
        if (ret_index)
                *ret_index = idx;
        return 0;
}

void commit_advanced(Raft *r, uint64_t old_commit) {
        if (r->role == RAFT_LEADER) {
                for (uint64_t i = old_commit + 1; i <= r->commit; i++) {
                        const RaftEntry *e = rlog_mem(r, i);
                        size_t len = e ? e->len : 0;
                        r->uncommitted_bytes -= MIN(len, r->uncommitted_bytes);
                }
                r->need_flush = true;
        }
        trace(r, "commit %" PRIu64, r->commit);
        membership_committed(r);
}

static int cmp_desc(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? 1 : x > y ? -1 : 0;
}

void maybe_commit(Raft *r) {
        uint64_t m[RAFT_MAX_SERVERS + 1];
        size_t n = 0;

        if (self_is_voter(r))
                m[n++] = r->log.persisted;
        for (size_t i = 0; i < r->n_peers; i++)
                if (r->peers[i].voter)
                        m[n++] = r->peers[i].match;
        if (n == 0)
                return;
        qsort(m, n, sizeof(uint64_t), cmp_desc);
        uint64_t idx = m[quorum(n) - 1];
        uint64_t t;
        if (idx <= r->commit || rlog_term(r, idx, &t) < 0 || t != r->term)
                return;
        uint64_t old = r->commit;
        r->commit = idx;
        commit_advanced(r, old);
}

/* ---- leader: answers ---------------------------------------------------- */

static void handle_reject(Raft *r, Progress *p, const RaftMsg *m) {
        if (p->state == RAFT_PEER_SNAPSHOT)
                return;
        if ((p->state == RAFT_PEER_REPLICATE && m->index <= p->match) ||
            (p->state == RAFT_PEER_PROBE && m->index != p->next - 1))
                return;         /* stale */
        /* Skip back over the follower's conflicting term in one step: our
         * last entry at or below its hint whose term is <= the hinted term. */
        uint64_t j = MIN(m->hint_index, m->index);
        while (j > p->match) {
                uint64_t t;
                if (rlog_term(r, j, &t) < 0 || t <= m->hint_term)
                        break;
                j--;
        }
        uint64_t next = CLAMP(j + 1, p->match + 1, m->index);
        trace(r, "peer %" PRIu64 " rejected %" PRIu64 ", hint %" PRIu64 "/%" PRIu64 ": next %" PRIu64,
              p->id, m->index, m->hint_index, m->hint_term, next);
        progress_become_probe(r, p);
        p->next = next;
}

void handle_append_resp(Raft *r, const RaftMsg *m) {
        Progress *p = peer_find(r, m->from);
        if (!p)
                return;
        p->last_contact = r->now;
        p->recent_active = true;
        if (m->flags & RAFT_MSG_F_REJECT) {
                handle_reject(r, p, m);
                return;
        }
        if (m->index > r->log.last_index)
                return;         /* cannot be: we never sent that far */
        trace(r, "peer %" PRIu64 " acked %" PRIu64 " (match %" PRIu64 ")", p->id, m->index, p->match);
        inflight_free_to(r, p, m->index);
        if (m->index > p->match) {
                p->match = m->index;
                p->last_progress = r->now;
                p->ack_wait = 0;
        }
        p->next = MAX(p->next, m->index + 1);
        if (p->state == RAFT_PEER_PROBE)
                progress_become_replicate(r, p);
        else if (p->state == RAFT_PEER_SNAPSHOT && p->match >= p->snap_index)
                progress_become_probe(r, p);
        maybe_commit(r);
        if (r->role != RAFT_LEADER)
                return;
        transfer_check(r, p);
        membership_progress(r, p);
        r->need_flush = true;
}

void handle_heartbeat_resp(Raft *r, const RaftMsg *m) {
        Progress *p = peer_find(r, m->from);
        if (!p)
                return;
        p->last_contact = r->now;
        p->recent_active = true;
        if (m->seq <= r->read_seq && m->seq > p->read_ack)
                p->read_ack = m->seq;
        if (p->state == RAFT_PEER_PROBE && p->probe_sent &&
            r->now - p->probe_sent_at >= 2 * r->o.heartbeat_usec) {
                /* The probe or its answer was lost: send it again. */
                p->probe_sent = false;
                r->need_flush = true;
        } else if (p->state == RAFT_PEER_REPLICATE && m->index > p->match &&
                   m->index < p->next) {
                /* Two answers in a row, so that a reordered append or a
                 * slow disk does not look like a loss. */
                if (++p->ack_wait >= 2) {
                        uint64_t next = MAX(p->match + 1, MIN(m->last_index + 1, p->next));
                        trace(r, "peer %" PRIu64 " has %" PRIu64 ", match %" PRIu64 ", sent %" PRIu64
                              ": probing", p->id, m->last_index, p->match, m->index);
                        progress_become_probe(r, p);
                        p->next = next;
                }
        }
        transfer_check(r, p);           /* resends TimeoutNow if it was lost */
        reads_check_quorum(r);
}

void handle_propose(Raft *r, const RaftMsg *m) {
        for (size_t i = 0; i < m->n_blobs; i++) {
                if (r->transfer_target)
                        return;
                if (r->uncommitted_bytes > 0 &&
                    r->uncommitted_bytes + m->blob_lens[i] > r->o.max_uncommitted_bytes)
                        return;         /* dropped: the proposer retries */
                if (leader_append(r, RAFT_ENTRY_NORMAL, m->blobs[i], m->blob_lens[i], NULL) < 0)
                        return;
        }
}

/* ---- follower side --------------------------------------------------------- */

static void reply_append(Raft *r, const RaftMsg *m, bool reject, uint64_t index) {
        RaftMsg resp = {
                .type = RAFT_MSG_APPEND_RESP, .to = m->from,
                .flags = reject ? RAFT_MSG_F_REJECT : 0,
                .index = index, .last_index = r->log.last_index,
        };
        if (reject) {
                /* Our last index at or below prev whose term is <= prev_term:
                 * everything after it conflicts or is missing. Entries up to
                 * commit match the leader, so the scan stops there. */
                uint64_t h = MIN(m->prev_index, r->log.last_index), t = 0;
                while (h > r->commit && rlog_term(r, h, &t) == 0 && t > m->prev_term)
                        h--;
                if (rlog_term(r, h, &t) < 0)
                        t = 0;
                resp.hint_index = h;
                resp.hint_term = t;
        }
        /* An acknowledgement promises that the entries are durable; a
         * rejection promises nothing and may leave at once. */
        send_msg(r, &resp, !reject);
}

static void follower_commit(Raft *r, uint64_t commit) {
        commit = MIN(commit, r->log.last_index);
        if (commit <= r->commit)
                return;
        uint64_t old = r->commit;
        r->commit = commit;
        commit_advanced(r, old);
}

void handle_append(Raft *r, const RaftMsg *m) {
        uint64_t prev = m->prev_index;
        size_t skip = 0;

        /* Entries up to our commit index are known to match the leader's. */
        if (prev < r->commit) {
                skip = (size_t) MIN((uint64_t) m->n_entries, r->commit - prev);
                if (skip == m->n_entries) {
                        reply_append(r, m, false, r->commit);
                        return;
                }
                prev += skip;
        } else if (prev > r->log.last_index || !rlog_match(r, prev, m->prev_term)) {
                trace(r, "reject append prev=%" PRIu64 "/%" PRIu64, prev, m->prev_term);
                reply_append(r, m, true, m->prev_index);
                return;
        }

        for (size_t i = skip; i < m->n_entries; i++) {
                const RaftEntry *e = &m->entries[i];
                if (e->index <= r->log.last_index) {
                        uint64_t t = 0;
                        (void) rlog_term(r, e->index, &t);
                        if (t == e->term)
                                continue;
                        /* Conflict (§5.3): drop it and everything after it. */
                        assert(e->index > r->commit);
                        trace(r, "truncate from %" PRIu64, e->index);
                        rlog_truncate(r, e->index);
                        conf_truncate(r, e->index);
                }
                if (rlog_append(r, e->term, e->type, e->data, e->len) < 0)
                        return;         /* out of memory: no answer; the leader retries */
                if (e->type == RAFT_ENTRY_CONF &&
                    conf_push(r, e->index, e->data, e->len) == -ENOMEM)
                        return;
        }
        uint64_t last_new = m->prev_index + m->n_entries;
        follower_commit(r, MIN(m->commit, last_new));
        reply_append(r, m, false, last_new);
}

void handle_heartbeat(Raft *r, const RaftMsg *m) {
        RaftMsg resp = {
                .type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .seq = m->seq, .index = m->index,
        };
        follower_commit(r, m->commit);
        resp.last_index = r->log.last_index;
        send_msg(r, &resp, false);
}
