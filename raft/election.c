#include "config.h"
/* election.c — leader election: randomized timeouts (Raft paper §5.2),
 * PreVote (thesis §9.6), the disruptive-server rule (thesis §4.2.3),
 * TimeoutNow and leadership transfer (thesis §3.10).
 *
 * A pre-candidate asks "would you vote for me in term+1?" without touching
 * any state: a server partitioned away cannot inflate its term and depose a
 * healthy leader when it returns. Votes and their grants are promises about
 * durable state, so real vote traffic is marked after_persist; pre-votes are
 * not (they promise nothing). */

#include <errno.h>
#include <inttypes.h>

#include "raft/raft-internal.h"

void election_reset_timer(Raft *r) {
        uint64_t t = r->o.election_timeout_usec;
        r->election_deadline = r->now + rand_range(r, t, 2 * t - 1);
}

/* True while this server believes a current leader exists and so refuses to
 * help anybody start an election (unless the request is a transfer). A
 * leader is its own current leader (thesis §4.2.3): it never steps down for
 * a vote request, only for a newer leader's traffic or answers carrying a
 * newer term, so a removed or partitioned server cannot depose it. */
bool in_lease(const Raft *r) {
        if (r->role == RAFT_LEADER)
                return true;
        return r->role == RAFT_FOLLOWER && r->leader != 0 && r->leader_contact != 0 &&
               r->now < r->leader_contact + r->o.election_timeout_usec;
}

static bool already_counted(const Raft *r, uint64_t id) {
        for (size_t i = 0; i < r->n_granted + r->n_rejected; i++)
                if (r->votes_granted[i] == id)
                        return true;
        return false;
}

static void record_vote(Raft *r, uint64_t id, bool granted) {
        size_t n = r->n_granted + r->n_rejected;
        if (n >= RAFT_MAX_SERVERS)
                return;
        r->votes_granted[n] = id;
        if (granted)
                r->n_granted++;
        else
                r->n_rejected++;
}

/* Returns 1 when won, -1 when lost, 0 when undecided. */
static int tally(const Raft *r) {
        size_t q = quorum(raft_config_voters(conf_current(r)));
        if (r->n_granted >= q)
                return 1;
        if (r->n_rejected >= q)
                return -1;
        return 0;
}

static void won(Raft *r) {
        if (r->role == RAFT_PRE_CANDIDATE)
                campaign(r, false, false);
        else
                become_leader(r);
}

/* Thesis §4.2.2: a server that is not part of its own latest configuration
 * still starts elections while that configuration is uncommitted and it
 * was a voter before, as it may be needed (it may hold the only log that
 * can win); it just does not count its own vote. */
bool may_campaign(const Raft *r) {
        if (self_is_voter(r))
                return true;
        for (size_t i = r->n_confs; i > 0; i--) {
                const ConfEntry *c = &r->confs[i - 1];
                const RaftServer *s = raft_config_find(&c->conf, r->id);
                if (s && s->role == RAFT_VOTER)
                        return true;
                if (c->index <= r->commit)
                        break;  /* older ones are superseded by a committed one */
        }
        return false;
}

void campaign(Raft *r, bool pre, bool transfer) {
        const RaftConfig *c = conf_current(r);

        if (!may_campaign(r))
                return;
        if (pre)
                become_pre_candidate(r);
        else
                become_candidate(r);
        r->n_granted = r->n_rejected = 0;
        if (self_is_voter(r))
                record_vote(r, r->id, true);
        election_reset_timer(r);
        trace(r, "campaign%s%s last=%" PRIu64 "/%" PRIu64, pre ? " (pre-vote)" : "",
              transfer ? " (transfer)" : "", r->log.last_index, r->log.last_term);
        if (tally(r) > 0) {
                won(r);
                return;
        }
        for (size_t i = 0; i < c->n; i++) {
                const RaftServer *s = &c->servers[i];
                if (s->id == r->id || s->role != RAFT_VOTER)
                        continue;
                RaftMsg m = {
                        .type = RAFT_MSG_VOTE,
                        .to = s->id,
                        .term = pre ? r->term + 1 : r->term,
                        .flags = (pre ? RAFT_MSG_F_PRE : 0) | (transfer ? RAFT_MSG_F_TRANSFER : 0),
                        .last_index = r->log.last_index,
                        .last_term = r->log.last_term,
                };
                send_msg(r, &m, !pre);
        }
}

void follower_tick(Raft *r) {
        if (r->now < r->election_deadline)
                return;
        if (may_campaign(r))
                campaign(r, r->o.pre_vote, false);
        else
                election_reset_timer(r);
}

void candidate_tick(Raft *r) {
        if (r->now >= r->election_deadline)
                campaign(r, r->o.pre_vote, false);
}

/* RequestVote / PreVote receiver (Figure 2; §5.4.1 up-to-date check). The
 * term rules ran already: m->term >= r->term, or a pre-vote for a later term. */
void handle_vote(Raft *r, const RaftMsg *m) {
        bool pre = m->flags & RAFT_MSG_F_PRE;
        bool can_vote = r->vote == m->from || (r->vote == 0 && r->leader == 0) ||
                        (pre && m->term > r->term);
        bool up_to_date = m->last_term > r->log.last_term ||
                          (m->last_term == r->log.last_term && m->last_index >= r->log.last_index);
        RaftMsg resp = { .type = RAFT_MSG_VOTE_RESP, .to = m->from };

        if (can_vote && up_to_date) {
                resp.flags = pre ? RAFT_MSG_F_PRE : 0;
                resp.term = m->term;
                if (!pre) {
                        r->vote = m->from;
                        r->hs_dirty = true;
                        election_reset_timer(r);
                }
                trace(r, "grant %svote to %" PRIu64, pre ? "pre-" : "", m->from);
        } else {
                resp.flags = RAFT_MSG_F_REJECT | (pre ? RAFT_MSG_F_PRE : 0);
                trace(r, "reject %svote from %" PRIu64 " (vote=%" PRIu64 ", up-to-date=%d)",
                      pre ? "pre-" : "", m->from, r->vote, up_to_date);
        }
        send_msg(r, &resp, !pre);
}

void handle_vote_resp(Raft *r, const RaftMsg *m) {
        bool pre = m->flags & RAFT_MSG_F_PRE;
        bool granted = !(m->flags & RAFT_MSG_F_REJECT);

        if (pre != (r->role == RAFT_PRE_CANDIDATE))
                return;         /* a response to an earlier round */
        if (pre && granted && m->term != r->term + 1)
                return;
        const RaftServer *s = raft_config_find(conf_current(r), m->from);
        if (!s || s->role != RAFT_VOTER || already_counted(r, m->from))
                return;
        record_vote(r, m->from, granted);
        int t = tally(r);
        if (t > 0)
                won(r);
        else if (t < 0)
                become_follower(r, r->term, 0);
}

/* ---- leadership transfer ---------------------------------------------- */

void transfer_end(Raft *r, bool ok) {
        uint64_t target = r->transfer_target;
        r->transfer_target = 0;
        if (grow((void **) &r->events, &r->cap_events, r->n_events + 1, sizeof(RaftEvent)) < 0)
                return;
        r->events[r->n_events++] = (RaftEvent) {
                .type = RAFT_EVENT_TRANSFER, .role = r->role, .term = r->term,
                .leader = target, .ok = ok,
        };
}

static void send_timeout_now(Raft *r, uint64_t to) {
        RaftMsg m = { .type = RAFT_MSG_TIMEOUT_NOW, .to = to };
        trace(r, "timeout-now to %" PRIu64, to);
        send_msg(r, &m, false);
}

void transfer_check(Raft *r, Progress *p) {
        if (r->transfer_target == p->id && p->match == r->log.last_index)
                send_timeout_now(r, p->id);
}

/* The most caught-up voter other than us, or 0. */
static uint64_t best_voter(Raft *r) {
        Progress *best = NULL;
        for (size_t i = 0; i < r->n_peers; i++) {
                Progress *p = &r->peers[i];
                if (p->voter && (!best || p->match > best->match))
                        best = p;
        }
        return best ? best->id : 0;
}

int raft_transfer_leadership(Raft *r, uint64_t now, uint64_t target) {
        assert(r->started && !r->in_update);
        r->now = MAX(r->now, now);
        if (r->role != RAFT_LEADER)
                return -ENOTCONN;
        if (r->transfer_target)
                return -EALREADY;
        if (target == r->id)
                return -EINVAL;
        if (target == 0)
                target = best_voter(r);
        Progress *p = target ? peer_find(r, target) : NULL;
        if (!p || !p->voter)
                return -ENOENT;
        r->transfer_target = target;
        r->transfer_deadline = r->now + r->o.election_timeout_usec;
        trace(r, "transfer leadership to %" PRIu64, target);
        transfer_check(r, p);
        r->need_flush = true;
        return 0;
}

/* A leader that removed (or demoted) itself hands over and steps down once
 * the change is committed (thesis §4.2.2). */
void leader_step_down_removed(Raft *r) {
        uint64_t t = best_voter(r);
        Progress *p = t ? peer_find(r, t) : NULL;
        if (p && p->match == r->log.last_index)
                send_timeout_now(r, t);
        trace(r, "removed from the configuration: stepping down");
        become_follower(r, r->term, 0);
}
