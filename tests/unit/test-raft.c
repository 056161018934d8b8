#include "config.h"
/* test-raft.c — behaviour of the raft core, one TCase per feature, on the
 * hand-driven cluster of raft-harness.c. The random schedules live in the
 * simulator (tests/sim); these tests pin each rule down deterministically. */

#include <check.h>
#include <errno.h>
#include <stdio.h>

#include "lib/codec.h"
#include "tests/unit/raft-harness.h"

static bool is_type(const HMsg *m, uint8_t type) {
        return m->data[2] == type;
}

/* ---- election ------------------------------------------------------------ */

START_TEST(test_election_basic) {
        Harness *h = h_new(3, 0, NULL);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(raft_role(h->node[i].r), RAFT_FOLLOWER);
        /* Randomized timeouts: the servers' first deadlines differ and lie in
         * [T, 2T) after start. */
        uint64_t d0 = raft_next_deadline(h->node[0].r), d1 = raft_next_deadline(h->node[1].r);
        ck_assert_uint_ne(d0, d1);
        for (int i = 0; i < 3; i++) {
                uint64_t d = raft_next_deadline(h->node[i].r);
                ck_assert_uint_ge(d, h->now + h->opts.election_timeout_usec);
                ck_assert_uint_lt(d, h->now + 2 * h->opts.election_timeout_usec);
        }
        h_elect(h, 1);
        ck_assert_int_eq(h_leader(h), 1);
        for (int i = 0; i < 3; i++) {
                ck_assert_uint_eq(raft_leader(h->node[i].r), 2);
                ck_assert_uint_eq(raft_term(h->node[i].r), raft_term(h->node[1].r));
        }
        ck_assert(h_has_event(&h->node[1], RAFT_EVENT_ROLE));
        ck_assert(h_has_event(&h->node[0], RAFT_EVENT_LEADER));
        h_free(h);
}
END_TEST

START_TEST(test_election_single_node) {
        Harness *h = h_new(1, 0, NULL);
        /* A lone voter leads at once and commits after its own disk. */
        ck_assert_int_eq(raft_role(h->node[0].r), RAFT_LEADER);
        uint64_t idx;
        ck_assert_int_eq(h_propose(h, 0, "x", &idx), 0);
        ck_assert_uint_eq(raft_commit_index(h->node[0].r), idx);
        ck_assert_uint_eq(h->node[0].applied, idx);
        h_free(h);
}
END_TEST

START_TEST(test_election_votes_after_persist) {
        Harness *h = h_new(3, 0, NULL);
        h_fire(h, 0);           /* pre-vote */
        h_deliver(h);           /* pre-votes granted -> real campaign -> elected */
        ck_assert_int_eq(raft_role(h->node[0].r), RAFT_LEADER);
        /* Now check the flags directly on a fresh campaign. */
        h_free(h);
        h = h_new(3, 0, NULL);
        raft_tick(h->node[0].r, raft_next_deadline(h->node[0].r));
        RaftUpdate u;
        raft_update_get(h->node[0].r, &u);
        ck_assert_uint_eq(u.n_messages, 2);
        for (size_t i = 0; i < u.n_messages; i++) {
                ck_assert_int_eq(u.messages[i].data[2], RAFT_MSG_VOTE);
                ck_assert(u.messages[i].data[3] & RAFT_MSG_F_PRE);
                ck_assert(!u.messages[i].after_persist);   /* pre-votes promise nothing */
        }
        raft_update_done(h->node[0].r);
        h_free(h);
}
END_TEST

static void no_prevote(RaftOptions *o) {
        o->pre_vote = false;
}

static bool drop_to_or_from_2(Harness *h, const HMsg *m, void *u) {
        return m->to != 2 && m->from != 2;
}

START_TEST(test_prevote) {
        /* With PreVote a partitioned server does not inflate its term. */
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        uint64_t term = raft_term(h->node[0].r);
        h->filter = drop_to_or_from_2;
        for (int k = 0; k < 5; k++) {
                h_fire(h, 2);
                h_deliver(h);
        }
        ck_assert_uint_eq(raft_term(h->node[2].r), term);
        ck_assert_int_eq(raft_role(h->node[2].r), RAFT_PRE_CANDIDATE);
        /* Healed: it rejoins without deposing the leader. */
        h->filter = NULL;
        h_advance(h, h->now + h->opts.heartbeat_usec);
        h_deliver(h);
        ck_assert_int_eq(h_leader(h), 0);
        ck_assert_uint_eq(raft_term(h->node[0].r), term);
        ck_assert_int_eq(raft_role(h->node[2].r), RAFT_FOLLOWER);
        h_free(h);

        /* Without PreVote the term grows while partitioned. */
        h = h_new(3, 0, no_prevote);
        h_elect(h, 0);
        term = raft_term(h->node[0].r);
        h->filter = drop_to_or_from_2;
        for (int k = 0; k < 5; k++) {
                h_fire(h, 2);
                h_deliver(h);
        }
        ck_assert_uint_gt(raft_term(h->node[2].r), term + 3);
        h_free(h);
}
END_TEST

static bool drop_from_0(Harness *h, const HMsg *m, void *u) {
        return m->from != 0;
}

static void no_check_quorum(RaftOptions *o) {
        o->check_quorum = false;
}

START_TEST(test_check_quorum) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        h->filter = drop_from_0;        /* its followers no longer hear it... */
        h_drop_all(h);
        /* ...and it hears nobody: after an election timeout it steps down. */
        for (int k = 0; k < 30 && raft_role(h->node[0].r) == RAFT_LEADER; k++) {
                h_advance(h, h->now + h->opts.heartbeat_usec);
                h_drop_all(h);
        }
        ck_assert_int_eq(raft_role(h->node[0].r), RAFT_FOLLOWER);
        ck_assert_uint_eq(raft_leader(h->node[0].r), 0);
        h_free(h);

        h = h_new(3, 0, no_check_quorum);
        h_elect(h, 0);
        for (int k = 0; k < 30; k++) {
                h_advance(h, h->now + h->opts.heartbeat_usec);
                h_drop_all(h);
        }
        ck_assert_int_eq(raft_role(h->node[0].r), RAFT_LEADER);
        h_free(h);
}
END_TEST

START_TEST(test_disruptive_server) {
        /* A follower that hears from its leader ignores vote requests: no
         * answer, no term change (thesis §4.2.3). */
        Harness *h = h_new(3, 0, no_prevote);
        h_elect(h, 0);
        uint64_t term = raft_term(h->node[1].r);
        RaftMsg m = {
                .type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = term + 5,
                .last_index = 100, .last_term = term + 4,
        };
        Buf b = BUF_INIT;
        ck_assert_int_eq(raft_msg_encode(&m, &b), 0);
        ck_assert_int_eq(raft_receive(h->node[1].r, h->now, 3, b.data, b.len), 0);
        ck_assert_uint_eq(raft_term(h->node[1].r), term);
        ck_assert(!raft_has_update(h->node[1].r));
        /* The leader ignores it as well. */
        le64_store(b.data + 12, 1);
        ck_assert_int_eq(raft_receive(h->node[0].r, h->now, 3, b.data, b.len), 0);
        ck_assert_int_eq(raft_role(h->node[0].r), RAFT_LEADER);
        /* Once the lease is over, it is considered. */
        le64_store(b.data + 12, 2);
        h->now += 2 * h->opts.election_timeout_usec;
        ck_assert_int_eq(raft_receive(h->node[1].r, h->now, 3, b.data, b.len), 0);
        ck_assert_uint_eq(raft_term(h->node[1].r), term + 5);
        buf_done(&b);
        h_free(h);
}
END_TEST

START_TEST(test_peer_unreachable) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        uint64_t before = raft_next_deadline(h->node[1].r);
        raft_peer_unreachable(h->node[1].r, h->now, 1);
        uint64_t after = raft_next_deadline(h->node[1].r);
        ck_assert_uint_lt(after, before);
        ck_assert_uint_ge(after, h->now + h->opts.failover_min_usec);
        ck_assert_uint_le(after, h->now + h->opts.failover_max_usec);
        /* Only one link broke: the other follower still hears the leader and
         * refuses, so the leader stays. */
        h_fire(h, 1);
        h_deliver(h);
        ck_assert_int_eq(h_leader(h), 0);
        ck_assert_int_eq(raft_role(h->node[1].r), RAFT_PRE_CANDIDATE);
        h_advance(h, h->now + h->opts.heartbeat_usec);
        h_deliver(h);
        ck_assert_int_eq(raft_role(h->node[1].r), RAFT_FOLLOWER);
        /* The leader is really gone and both followers noticed: fast failover. */
        h_crash(h, 0);
        h_drop_all(h);
        uint64_t t0 = h->now;
        raft_peer_unreachable(h->node[1].r, h->now, 1);
        raft_peer_unreachable(h->node[2].r, h->now, 1);
        h_fire(h, 1);
        h_deliver(h);
        int l = h_leader(h);
        ck_assert(l == 1 || l == 2);
        ck_assert_uint_lt(h->now - t0, h->opts.election_timeout_usec);
        h_free(h);
}
END_TEST

/* ---- replication ------------------------------------------------------------- */

START_TEST(test_replication_commit) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        uint64_t term = raft_term(h->node[0].r);
        /* The first entry of the term is the leader's no-op. */
        uint64_t noop = raft_last_index(h->node[0].r);
        ck_assert_uint_eq(h->node[0].log[noop].type, RAFT_ENTRY_NOOP);
        ck_assert_uint_eq(h->node[0].log[noop].term, term);
        uint64_t idx;
        ck_assert_int_eq(h_propose(h, 0, "hello", &idx), 0);
        ck_assert_uint_eq(idx, noop + 1);
        h_deliver(h);
        ck_assert_uint_eq(raft_commit_index(h->node[0].r), idx);
        ck_assert_uint_eq(h->node[0].applied, idx);
        /* Followers learn the commit index without waiting for a heartbeat. */
        h_deliver(h);
        for (int i = 1; i < 3; i++) {
                ck_assert_uint_eq(h->node[i].applied, idx);
                ck_assert_int_eq(memcmp(h->node[i].log[idx].data, "hello", 5), 0);
        }
        /* A follower forwards a proposal to the leader. */
        ck_assert_int_eq(h_propose(h, 2, "fwd", &idx), 0);
        ck_assert_uint_eq(idx, 0);
        h_deliver(h);
        h_deliver(h);
        ck_assert_uint_eq(h->node[2].applied, raft_last_index(h->node[0].r));
        ck_assert_int_eq(memcmp(h->node[2].log[h->node[2].applied].data, "fwd", 3), 0);
        h_free(h);
}
END_TEST

static void small_window(RaftOptions *o) {
        o->max_inflight_msgs = 3;
        o->max_entries_per_msg = 2;
}

START_TEST(test_replication_batching_pipelining) {
        Harness *h = h_new(3, 0, small_window);
        h_elect(h, 0);
        /* Batching: 4 proposals before the leader's update -> 2 messages of
         * 2 entries per follower, both in flight at once (pipelining). */
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(raft_propose(h->node[0].r, h->now, "p", 1, NULL, NULL), 0);
        h_process(h, 0);
        ck_assert_uint_eq(h_count_queued(h, RAFT_MSG_APPEND), 4);
        h_drop_all(h);
        /* The window: no more than 3 un-acked appends per follower. */
        for (int i = 0; i < 20; i++)
                ck_assert_int_eq(raft_propose(h->node[0].r, h->now, "p", 1, NULL, NULL), 0);
        h_process(h, 0);
        ck_assert_uint_eq(h_count_queued(h, RAFT_MSG_APPEND), 2);       /* 1 slot left each */
        RaftPeerStatus ps;
        ck_assert_int_eq(raft_peer_status(h->node[0].r, 2, &ps), 0);
        ck_assert_int_eq(ps.state, RAFT_PEER_REPLICATE);
        ck_assert_uint_eq(ps.inflight_msgs, 3);
        h_drop_all(h);
        /* Losses are found through heartbeats: the follower reports what it
         * has, the leader probes and catches it up. */
        for (int k = 0; k < 10; k++) {
                h_advance(h, h->now + h->opts.heartbeat_usec);
                h_deliver(h);
        }
        ck_assert_uint_eq(raft_commit_index(h->node[0].r), raft_last_index(h->node[0].r));
        ck_assert_uint_eq(h->node[1].applied, raft_last_index(h->node[0].r));
        h_free(h);
}
END_TEST

static void tiny_messages(RaftOptions *o) {
        o->max_msg_bytes = 10;
        o->max_uncommitted_bytes = 64;
        o->max_entry_bytes = 32;
}

START_TEST(test_flow_control) {
        Harness *h = h_new(3, 0, tiny_messages);
        h_elect(h, 0);
        h->filter = NULL;
        /* max_msg_bytes: entries of 8 bytes travel one per message. */
        ck_assert_int_eq(raft_propose(h->node[0].r, h->now, "12345678", 8, NULL, NULL), 0);
        ck_assert_int_eq(raft_propose(h->node[0].r, h->now, "12345678", 8, NULL, NULL), 0);
        h_process(h, 0);
        ck_assert_uint_eq(h_count_queued(h, RAFT_MSG_APPEND), 4);
        h_drop_all(h);
        /* max_uncommitted_bytes: proposals are refused until commits. */
        int k = 0;
        for (int i = 0; i < 20 && k == 0; i++)
                k = raft_propose(h->node[0].r, h->now, "12345678", 8, NULL, NULL);
        ck_assert_int_eq(k, -EAGAIN);
        h_process(h, 0);
        h_drop_all(h);
        for (int i = 0; i < 30; i++) {
                h_advance(h, h->now + h->opts.heartbeat_usec);
                h_deliver(h);
        }
        ck_assert_uint_eq(raft_commit_index(h->node[0].r), raft_last_index(h->node[0].r));
        ck_assert_int_eq(raft_propose(h->node[0].r, h->now, "12345678", 8, NULL, NULL), 0);
        /* Oversized entries are refused outright. */
        char big[64] = {};
        ck_assert_int_eq(raft_propose(h->node[0].r, h->now, big, sizeof(big), NULL, NULL), -E2BIG);
        h_free(h);
}
END_TEST

START_TEST(test_leader_parallel_disk) {
        /* 3 servers: the leader's slow disk does not hold up commits. */
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        h->node[0].hold = true;
        uint64_t idx;
        ck_assert_int_eq(h_propose(h, 0, "a", &idx), 0);
        /* The append went out before the leader's own write finished. */
        ck_assert_uint_eq(h_count_queued(h, RAFT_MSG_APPEND), 2);
        ck_assert_uint_lt(raft_persisted_index(h->node[0].r), idx);
        h_deliver(h);
        ck_assert_uint_eq(raft_commit_index(h->node[0].r), idx);
        h_release(h, 0);
        h_free(h);

        /* 2 servers: a quorum needs the leader's own disk. */
        h = h_new(2, 0, NULL);
        h_elect(h, 0);
        h->node[0].hold = true;
        ck_assert_int_eq(h_propose(h, 0, "a", &idx), 0);
        h_deliver(h);
        ck_assert_uint_lt(raft_commit_index(h->node[0].r), idx);
        h_release(h, 0);
        ck_assert_uint_eq(raft_commit_index(h->node[0].r), idx);
        h_free(h);
}
END_TEST

static bool drop_appends(Harness *h, const HMsg *m, void *u) {
        return !is_type(m, RAFT_MSG_APPEND);
}

static void inject_ack(Harness *h, int to, int from, uint64_t index) {
        RaftMsg m = {
                .type = RAFT_MSG_APPEND_RESP, .from = (uint64_t) from + 1, .to = (uint64_t) to + 1,
                .term = raft_term(h->node[to].r), .index = index,
        };
        Buf b = BUF_INIT;
        ck_assert_int_eq(raft_msg_encode(&m, &b), 0);
        ck_assert_int_eq(raft_receive(h->node[to].r, h->now, (uint64_t) from + 1, b.data, b.len), 0);
        buf_done(&b);
        h_process(h, to);
}

START_TEST(test_commit_current_term_only) {
        /* Figure 8 of the Raft paper: an entry of an earlier term is never
         * committed by counting replicas, only through a later entry of the
         * leader's own term. */
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        uint64_t old_idx, old_term = raft_term(h->node[0].r);
        ck_assert_int_eq(h_propose(h, 0, "old", &old_idx), 0);
        h_drop_all(h);
        /* Server 0 is re-elected in a later term; its appends are lost. */
        h_crash(h, 0);
        h_restart(h, 0);
        h->filter = drop_appends;
        h_elect(h, 0);
        h->filter = NULL;
        h_drop_all(h);
        ck_assert_uint_gt(raft_term(h->node[0].r), old_term);
        uint64_t noop = raft_last_index(h->node[0].r);
        ck_assert_uint_eq(noop, old_idx + 1);
        /* A follower acknowledges the old entry: leader + follower is a
         * majority holding it, yet it is of an earlier term: no commit. */
        inject_ack(h, 0, 1, old_idx);
        ck_assert_uint_lt(raft_commit_index(h->node[0].r), old_idx);
        /* The no-op of the current term commits both. */
        inject_ack(h, 0, 1, noop);
        ck_assert_uint_eq(raft_commit_index(h->node[0].r), noop);
        ck_assert_uint_eq(h->node[0].applied_terms[old_idx], old_term);
        h_free(h);
}
END_TEST

static bool count_rejects(Harness *h, const HMsg *m, void *userdata) {
        *(size_t *) userdata += is_type(m, RAFT_MSG_APPEND_RESP) && (m->data[3] & RAFT_MSG_F_REJECT);
        return true;
}

START_TEST(test_fast_backtracking) {
        /* A follower with a long conflicting suffix is repaired in a few
         * round trips, not one per entry. */
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        /* Leader 0 appends 50 entries nobody else gets, then crashes. */
        for (int i = 0; i < 50; i++)
                ck_assert_int_eq(raft_propose(h->node[0].r, h->now, "x", 1, NULL, NULL), 0);
        h_process(h, 0);
        h_drop_all(h);
        h_crash(h, 0);
        /* 1 and 2 go on in a new term with 50 entries of their own. */
        h_elect(h, 1);
        for (int i = 0; i < 50; i++)
                ck_assert_int_eq(raft_propose(h->node[1].r, h->now, "y", 1, NULL, NULL), 0);
        h_process(h, 1);
        h_deliver(h);
        /* A new leader (2) that knows nothing of server 0's log. */
        ck_assert_int_eq(raft_transfer_leadership(h->node[1].r, h->now, 3), 0);
        h_process(h, 1);
        h_deliver(h);
        ck_assert_int_eq(h_leader(h), 2);
        h_restart(h, 0);
        /* Server 0 returns: count the rejections it sends. */
        size_t rejects = 0;
        h->filter = count_rejects;
        h->filter_userdata = &rejects;
        for (int k = 0; k < 20; k++) {
                h_advance(h, h->now + h->opts.heartbeat_usec);
                h_deliver(h);
        }
        ck_assert_uint_ge(rejects, 1);
        ck_assert_uint_le(rejects, 4);
        uint64_t last = raft_last_index(h->node[2].r);
        ck_assert_uint_eq(raft_last_index(h->node[0].r), last);
        ck_assert_uint_eq(h->node[0].log[last].term, h->node[2].log[last].term);
        ck_assert_int_eq(h->node[0].log[last - 1].data[0], 'y');
        h_free(h);
}
END_TEST

/* ---- read barriers ------------------------------------------------------------ */

START_TEST(test_read_index_leader) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        uint64_t commit = raft_commit_index(h->node[0].r);
        size_t hb0 = h->sent_by_type[RAFT_MSG_HEARTBEAT];
        /* Three concurrent reads share one heartbeat round. */
        for (uint64_t c = 1; c <= 3; c++)
                ck_assert_int_eq(raft_read_index(h->node[0].r, h->now, c), 0);
        h_process(h, 0);
        ck_assert_uint_eq(h->node[0].n_reads, 0);       /* not before a quorum answered */
        ck_assert_uint_eq(h->sent_by_type[RAFT_MSG_HEARTBEAT] - hb0, 2);
        h_deliver(h);
        ck_assert_uint_eq(h->node[0].n_reads, 3);
        for (int i = 0; i < 3; i++) {
                ck_assert_uint_eq(h->node[0].reads[i].ctx, (uint64_t) i + 1);
                ck_assert_int_eq(h->node[0].reads[i].error, 0);
                ck_assert_uint_eq(h->node[0].reads[i].index, commit);
        }
        h_free(h);
}
END_TEST

START_TEST(test_read_index_follower) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        uint64_t idx;
        ck_assert_int_eq(h_propose(h, 0, "w", &idx), 0);
        /* Leader commits; follower 2 does not know yet. */
        h_deliver_between(h, 0, 1);
        h_deliver_between(h, 1, 0);
        ck_assert_uint_eq(raft_commit_index(h->node[0].r), idx);
        ck_assert_int_eq(raft_read_index(h->node[2].r, h->now, 42), 0);
        h_process(h, 2);
        h_deliver(h);
        /* The result names the leader's commit index and arrives only once
         * server 2 has applied up to it. */
        ck_assert_uint_eq(h->node[2].n_reads, 1);
        ck_assert_uint_eq(h->node[2].reads[0].ctx, 42);
        ck_assert_uint_ge(h->node[2].reads[0].index, idx);
        ck_assert_uint_ge(h->node[2].applied, h->node[2].reads[0].index);
        /* Without a leader: refused at once. */
        h_crash(h, 0);
        h_fire(h, 1);
        ck_assert_int_eq(raft_read_index(h->node[1].r, h->now, 7), -ENOTCONN);
        h_free(h);
}
END_TEST

START_TEST(test_read_index_waits_for_noop) {
        Harness *h = h_new(3, 0, NULL);
        h_fire(h, 0);
        h_deliver_between(h, 0, 1);
        h_deliver_between(h, 1, 0);     /* pre-vote granted */
        h_deliver_between(h, 0, 1);
        h_deliver_between(h, 1, 0);     /* vote granted: leader */
        ck_assert_int_eq(raft_role(h->node[0].r), RAFT_LEADER);
        ck_assert_int_eq(raft_read_index(h->node[0].r, h->now, 9), 0);
        h_process(h, 0);
        ck_assert_uint_eq(h_count_queued(h, RAFT_MSG_HEARTBEAT), 0);
        h_deliver(h);
        ck_assert_uint_eq(h->node[0].n_reads, 1);
        ck_assert_uint_ge(h->node[0].reads[0].index, raft_commit_index(h->node[0].r) - 0);
        h_free(h);
}
END_TEST

START_TEST(test_read_index_fails_on_step_down) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        ck_assert_int_eq(raft_read_index(h->node[0].r, h->now, 5), 0);
        h_process(h, 0);
        h_drop_all(h);
        h->filter = drop_from_0;
        for (int k = 0; k < 30 && raft_role(h->node[0].r) == RAFT_LEADER; k++) {
                h_advance(h, h->now + h->opts.heartbeat_usec);
                h_drop_all(h);
        }
        ck_assert_uint_eq(h->node[0].n_reads, 1);
        ck_assert_int_eq(h->node[0].reads[0].error, -ENOTCONN);
        h_free(h);
}
END_TEST

/* ---- leadership transfer ------------------------------------------------------ */

START_TEST(test_transfer) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        ck_assert_int_eq(raft_transfer_leadership(h->node[0].r, h->now, 3), 0);
        ck_assert_int_eq(raft_transfer_leadership(h->node[0].r, h->now, 2), -EALREADY);
        ck_assert_int_eq(raft_propose(h->node[0].r, h->now, "x", 1, NULL, NULL), -EBUSY);
        h_process(h, 0);
        h_deliver(h);
        ck_assert_int_eq(h_leader(h), 2);
        ck_assert(h_has_event(&h->node[0], RAFT_EVENT_TRANSFER));
        /* To "the most caught-up voter". */
        ck_assert_int_eq(raft_transfer_leadership(h->node[2].r, h->now, 0), 0);
        h_process(h, 2);
        h_deliver(h);
        ck_assert_int_ne(h_leader(h), 2);
        ck_assert_int_eq(raft_transfer_leadership(h->node[1].r, h->now, 0),
                         h_leader(h) == 1 ? 0 : -ENOTCONN);
        h_free(h);
}
END_TEST

START_TEST(test_transfer_timeout) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        h_crash(h, 1);
        ck_assert_int_eq(raft_transfer_leadership(h->node[0].r, h->now, 2), 0);
        for (int k = 0; k < 15; k++) {
                h_advance(h, h->now + h->opts.heartbeat_usec);
                h_deliver(h);
        }
        ck_assert_int_eq(raft_role(h->node[0].r), RAFT_LEADER);
        bool failed = false;
        for (size_t i = 0; i < h->node[0].n_events; i++)
                if (h->node[0].events[i].type == RAFT_EVENT_TRANSFER && !h->node[0].events[i].ok)
                        failed = true;
        ck_assert(failed);
        ck_assert_int_eq(raft_propose(h->node[0].r, h->now, "x", 1, NULL, NULL), 0);
        h_free(h);
}
END_TEST

/* ---- snapshots ------------------------------------------------------------------ */

static void small_chunks(RaftOptions *o) {
        o->snapshot_chunk_bytes = 100;
        o->mem_entries = 4;
}

START_TEST(test_snapshot_install) {
        Harness *h = h_new(3, 0, small_chunks);
        h_elect(h, 0);
        h_crash(h, 2);
        for (int i = 0; i < 30; i++) {
                ck_assert_int_eq(h_propose(h, 0, "e", NULL), 0);
                h_deliver(h);
        }
        h_snapshot(h, 0, 0);
        uint64_t si = raft_snapshot_index(h->node[0].r);
        ck_assert_uint_gt(si, 30);
        h_restart(h, 2);
        /* Deliver one round at a time with pauses shorter than an election
         * timeout but longer in total: each chunk keeps the follower from
         * campaigning. */
        size_t chunks0 = h->sent_by_type[RAFT_MSG_SNAPSHOT];
        uint64_t t0 = h->now;
        for (int k = 0; k < 400 && h->node[2].n_installs == 0; k++) {
                h_advance(h, h->now + h->opts.election_timeout_usec / 4);
                h_deliver_once(h);
                ck_assert_int_eq(raft_role(h->node[2].r), RAFT_FOLLOWER);
        }
        ck_assert_uint_eq(h->node[2].n_installs, 1);
        ck_assert_uint_gt(h->now - t0, 3 * h->opts.election_timeout_usec);
        /* 1000 bytes in chunks of 100 */
        ck_assert_uint_ge(h->sent_by_type[RAFT_MSG_SNAPSHOT] - chunks0, 10);
        ck_assert_uint_eq(h->node[2].snap.index, si);
        ck_assert_uint_eq(h->node[2].snap_len, 1000);
        ck_assert_uint_eq(raft_snapshot_index(h->node[2].r), si);
        /* Replication continues after the snapshot. */
        uint64_t idx;
        ck_assert_int_eq(h_propose(h, 0, "after", &idx), 0);
        h_deliver(h);
        h_deliver(h);
        ck_assert_uint_eq(h->node[2].applied, idx);
        ck_assert_uint_eq(h->node[2].applied_terms[idx], raft_term(h->node[0].r));
        h_free(h);
}
END_TEST

START_TEST(test_snapshot_restart) {
        /* A server restarts from snapshot + log: committed entries after the
         * snapshot are applied again, term and vote are kept. */
        Harness *h = h_new(3, 0, small_chunks);
        h_elect(h, 0);
        for (int i = 0; i < 10; i++) {
                ck_assert_int_eq(h_propose(h, 0, "e", NULL), 0);
                h_deliver(h);
        }
        h_deliver(h);
        h_snapshot(h, 1, 2);
        for (int i = 0; i < 5; i++) {
                ck_assert_int_eq(h_propose(h, 0, "f", NULL), 0);
                h_deliver(h);
        }
        h_deliver(h);
        uint64_t term = raft_term(h->node[1].r), applied = h->node[1].applied;
        h_crash(h, 1);
        h_restart(h, 1);
        ck_assert_uint_eq(raft_term(h->node[1].r), term);
        /* The stored commit index may lag; the leader's next heartbeat
         * brings the rest. */
        ck_assert_uint_le(h->node[1].applied, applied);
        ck_assert_uint_ge(h->node[1].applied, h->node[1].snap.index);
        h_advance(h, h->now + h->opts.heartbeat_usec);
        h_deliver(h);
        ck_assert_uint_eq(h->node[1].applied, applied);
        ck_assert_int_eq(raft_snapshot_index(h->node[1].r), h->node[1].snap.index);
        ck_assert_int_eq(raft_compact(h->node[1].r, applied + 5, term, 1), -EINVAL);
        h_free(h);
}
END_TEST

/* ---- membership ------------------------------------------------------------------ */

START_TEST(test_membership_add_voter) {
        Harness *h = h_new(3, 1, NULL);
        h_elect(h, 0);
        for (int i = 0; i < 10; i++) {
                ck_assert_int_eq(h_propose(h, 0, "e", NULL), 0);
                h_deliver(h);
        }
        uint64_t idx;
        ck_assert_int_eq(raft_change_config(h->node[0].r, h->now, RAFT_CONF_ADD_VOTER, 4, "n4",
                                            "addr4", &idx), 0);
        ck_assert_uint_gt(idx, 0);
        /* Joins as a learner first; a second change waits for this one. */
        const RaftServer *s = raft_config_find(raft_config(h->node[0].r), 4);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(s->role, RAFT_LEARNER);
        ck_assert_str_eq(s->name, "n4");
        ck_assert_int_eq(raft_change_config(h->node[0].r, h->now, RAFT_CONF_REMOVE, 3, NULL, NULL,
                                            NULL), -EBUSY);
        h_process(h, 0);
        for (int k = 0; k < 20; k++) {
                h_advance(h, h->now + h->opts.heartbeat_usec);
                h_deliver(h);
        }
        /* Caught up in rounds, then promoted. */
        s = raft_config_find(raft_config(h->node[0].r), 4);
        ck_assert_int_eq(s->role, RAFT_VOTER);
        ck_assert(raft_is_voter(h->node[3].r));
        ck_assert_uint_eq(raft_config_voters(raft_config(h->node[3].r)), 4);
        ck_assert_uint_eq(h->node[3].applied, raft_commit_index(h->node[0].r));
        h_free(h);
}
END_TEST

static bool drop_to_3(Harness *h, const HMsg *m, void *u) {
        return m->to != 3;
}

START_TEST(test_membership_slow_learner) {
        /* A learner that cannot keep up is not promoted: each round must
         * finish within an election timeout, and after max_catch_up_rounds
         * the promotion is dropped. */
        Harness *h = h_new(3, 1, NULL);
        h_elect(h, 0);
        h->filter = drop_to_3;
        ck_assert_int_eq(raft_change_config(h->node[0].r, h->now, RAFT_CONF_ADD_VOTER, 4, "n4",
                                            "addr4", NULL), 0);
        h_process(h, 0);
        for (int k = 0; k < 200; k++) {
                ck_assert_int_eq(h_propose(h, 0, "load", NULL), 0);
                h_advance(h, h->now + h->opts.heartbeat_usec);
                h_deliver(h);
        }
        const RaftServer *s = raft_config_find(raft_config(h->node[0].r), 4);
        ck_assert_int_eq(s->role, RAFT_LEARNER);
        /* Its promotion can be asked for again once it is reachable. */
        h->filter = NULL;
        ck_assert_int_eq(raft_change_config(h->node[0].r, h->now, RAFT_CONF_ADD_VOTER, 4, "n4",
                                            "addr4", NULL), 0);
        for (int k = 0; k < 30; k++) {
                h_advance(h, h->now + h->opts.heartbeat_usec);
                h_deliver(h);
        }
        s = raft_config_find(raft_config(h->node[0].r), 4);
        ck_assert_int_eq(s->role, RAFT_VOTER);
        h_free(h);
}
END_TEST

START_TEST(test_membership_rules) {
        Harness *h = h_new(3, 1, NULL);
        /* A leader that has not committed an entry of its term refuses. */
        h_fire(h, 0);
        h_deliver_between(h, 0, 1);
        h_deliver_between(h, 1, 0);
        h_deliver_between(h, 0, 1);
        h_deliver_between(h, 1, 0);
        ck_assert_int_eq(raft_role(h->node[0].r), RAFT_LEADER);
        ck_assert_int_eq(raft_change_config(h->node[0].r, h->now, RAFT_CONF_ADD_LEARNER, 4, "n4",
                                            "a", NULL), -EBUSY);
        h_deliver(h);
        ck_assert_int_eq(raft_change_config(h->node[0].r, h->now, RAFT_CONF_ADD_LEARNER, 4, "n4",
                                            "a", NULL), 0);
        h_process(h, 0);
        h_deliver(h);
        h_deliver(h);
        ck_assert_int_eq(raft_change_config(h->node[0].r, h->now, RAFT_CONF_ADD_LEARNER, 4, "n4",
                                            "a", NULL), -EEXIST);
        ck_assert_int_eq(raft_change_config(h->node[0].r, h->now, RAFT_CONF_REMOVE, 9, NULL, NULL,
                                            NULL), -ENOENT);
        ck_assert_int_eq(raft_change_config(h->node[0].r, h->now, RAFT_CONF_ADD_LEARNER, 5, "",
                                            "a", NULL), -EINVAL);
        /* Learners never campaign. */
        for (int k = 0; k < 5; k++)
                h_fire(h, 3);
        ck_assert_int_eq(raft_role(h->node[3].r), RAFT_FOLLOWER);
        /* Followers forward changes to the leader. */
        ck_assert_int_eq(raft_change_config(h->node[1].r, h->now, RAFT_CONF_REMOVE, 4, NULL, NULL,
                                            NULL), 0);
        h_process(h, 1);
        h_deliver(h);
        h_deliver(h);
        ck_assert_ptr_null(raft_config_find(raft_config(h->node[0].r), 4));
        h_free(h);
}
END_TEST

START_TEST(test_membership_remove_leader) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        ck_assert_int_eq(raft_change_config(h->node[0].r, h->now, RAFT_CONF_REMOVE, 1, NULL, NULL,
                                            NULL), 0);
        h_process(h, 0);
        /* It leads until the change commits (without counting itself), then
         * steps down and hands over. */
        h_deliver(h);
        ck_assert_int_eq(raft_role(h->node[0].r), RAFT_FOLLOWER);
        ck_assert(!raft_is_voter(h->node[0].r));
        h_deliver(h);
        int l = h_leader(h);
        ck_assert(l == 1 || l == 2);
        ck_assert_uint_eq(raft_config_voters(raft_config(h->node[l].r)), 2);
        /* The removed server never campaigns again. */
        for (int k = 0; k < 3; k++)
                h_fire(h, 0);
        ck_assert_int_eq(raft_role(h->node[0].r), RAFT_FOLLOWER);
        h_free(h);
}
END_TEST

/* ---- durability and the update contract -------------------------------------- */

START_TEST(test_restart_keeps_state) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        uint64_t idx;
        ck_assert_int_eq(h_propose(h, 0, "keep", &idx), 0);
        h_deliver(h);
        h_deliver(h);
        uint64_t term = raft_term(h->node[1].r), vote = h->node[1].hs.vote;
        ck_assert_uint_eq(vote, 1);
        h_crash(h, 1);
        h_restart(h, 1);
        ck_assert_uint_eq(raft_term(h->node[1].r), term);
        ck_assert_uint_eq(raft_last_index(h->node[1].r), idx);
        /* It does not vote for someone else in the same term. */
        RaftMsg m = { .type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = term,
                      .last_index = 1000, .last_term = term };
        Buf b = BUF_INIT;
        ck_assert_int_eq(raft_msg_encode(&m, &b), 0);
        ck_assert_int_eq(raft_receive(h->node[1].r, h->now, 3, b.data, b.len), 0);
        RaftUpdate u;
        raft_update_get(h->node[1].r, &u);
        bool rejected = false;
        for (size_t i = 0; i < u.n_messages; i++)
                if (u.messages[i].data[2] == RAFT_MSG_VOTE_RESP)
                        rejected = u.messages[i].data[3] & RAFT_MSG_F_REJECT;
        ck_assert(rejected);
        raft_update_done(h->node[1].r);
        buf_done(&b);
        h_free(h);
}
END_TEST

START_TEST(test_update_contract) {
        Harness *h = h_new(3, 0, NULL);
        h_elect(h, 0);
        ck_assert_int_eq(raft_propose(h->node[0].r, h->now, "x", 1, NULL, NULL), 0);
        ck_assert(raft_has_update(h->node[0].r));
        h_process(h, 0);
        ck_assert(!raft_has_update(h->node[0].r));
        ck_assert_uint_eq(h->n_msgs, 2);
        for (size_t i = 0; i < h->n_msgs; i++)
                ck_assert(!h->msgs[i].after_persist);   /* leader appends go at once */
        /* The follower's acknowledgement waits for its disk. */
        h->node[1].hold = true;
        ck_assert_uint_eq(h_deliver_between(h, 0, 1), 1);
        ck_assert_uint_eq(h->n_msgs, 2);
        const HMsg *ack = &h->msgs[1];
        ck_assert_int_eq(ack->data[2], RAFT_MSG_APPEND_RESP);
        ck_assert(!(ack->data[3] & RAFT_MSG_F_REJECT));
        ck_assert(ack->after_persist);
        /* Reports for entries the log does not hold are ignored. */
        raft_persisted(h->node[1].r, h->now, 999, 1);
        ck_assert_uint_lt(raft_persisted_index(h->node[1].r), 999);
        h_release(h, 1);
        ck_assert_uint_eq(raft_persisted_index(h->node[1].r), raft_last_index(h->node[0].r));
        h_free(h);
}
END_TEST

START_TEST(test_status_and_errors) {
        Harness *h = h_new(3, 0, NULL);
        ck_assert_int_eq(raft_propose(h->node[0].r, h->now, "x", 1, NULL, NULL), -ENOTCONN);
        ck_assert_int_eq(raft_transfer_leadership(h->node[0].r, h->now, 2), -ENOTCONN);
        RaftPeerStatus ps;
        ck_assert_int_eq(raft_peer_status(h->node[0].r, 2, &ps), -ENOTCONN);
        ck_assert_uint_eq(raft_quorum_contact(h->node[0].r), 0);
        h_elect(h, 0);
        ck_assert_int_eq(raft_peer_status(h->node[0].r, 2, &ps), 0);
        ck_assert_uint_eq(ps.match_index, raft_last_index(h->node[0].r));
        ck_assert_int_eq(raft_peer_status(h->node[0].r, 9, &ps), -ENOENT);
        ck_assert_uint_eq(raft_peer_last_contact(h->node[0].r, 2), h->now);
        ck_assert_uint_eq(raft_quorum_contact(h->node[0].r), h->now);
        ck_assert_uint_eq(raft_quorum_contact(h->node[1].r), h->now);
        ck_assert_str_eq(raft_role_to_string(RAFT_LEADER), "leader");
        ck_assert_str_eq(raft_peer_state_to_string(RAFT_PEER_SNAPSHOT), "snapshot");
        ck_assert_uint_eq(raft_id(h->node[2].r), 3);
        ck_assert_uint_eq(raft_config(h->node[2].r)->n, 3);
        /* Bad input from a peer is refused and changes nothing. */
        uint8_t junk[40] = { 'R', 1, 99 };
        ck_assert_int_eq(raft_receive(h->node[1].r, h->now, 1, junk, sizeof(junk)), -EBADMSG);
        junk[1] = 7;
        ck_assert_int_eq(raft_receive(h->node[1].r, h->now, 1, junk, sizeof(junk)), -EPROTONOSUPPORT);
        /* Sender must match the authenticated peer. */
        RaftMsg m = { .type = RAFT_MSG_HEARTBEAT, .from = 3, .to = 2, .term = 1 };
        Buf b = BUF_INIT;
        ck_assert_int_eq(raft_msg_encode(&m, &b), 0);
        ck_assert_int_eq(raft_receive(h->node[1].r, h->now, 1, b.data, b.len), -EBADMSG);
        buf_done(&b);
        h_free(h);
}
END_TEST

static Suite *raft_suite(void) {
        Suite *s = suite_create("raft");
        struct {
                const char *name;
                const TTest *test;
        } cases[] = {
                { "election", test_election_basic },
                { "election-single", test_election_single_node },
                { "election-persist", test_election_votes_after_persist },
                { "prevote", test_prevote },
                { "check-quorum", test_check_quorum },
                { "disruptive-server", test_disruptive_server },
                { "peer-unreachable", test_peer_unreachable },
                { "replication", test_replication_commit },
                { "batching-pipelining", test_replication_batching_pipelining },
                { "flow-control", test_flow_control },
                { "leader-parallel-disk", test_leader_parallel_disk },
                { "commit-current-term", test_commit_current_term_only },
                { "fast-backtracking", test_fast_backtracking },
                { "read-index-leader", test_read_index_leader },
                { "read-index-follower", test_read_index_follower },
                { "read-index-noop", test_read_index_waits_for_noop },
                { "read-index-step-down", test_read_index_fails_on_step_down },
                { "transfer", test_transfer },
                { "transfer-timeout", test_transfer_timeout },
                { "snapshot-install", test_snapshot_install },
                { "snapshot-restart", test_snapshot_restart },
                { "membership-add-voter", test_membership_add_voter },
                { "membership-slow-learner", test_membership_slow_learner },
                { "membership-rules", test_membership_rules },
                { "membership-remove-leader", test_membership_remove_leader },
                { "restart", test_restart_keeps_state },
                { "update-contract", test_update_contract },
                { "status-errors", test_status_and_errors },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                TCase *tc = tcase_create(cases[i].name);
                tcase_set_timeout(tc, 30);
                _tcase_add_test(tc, cases[i].test, 0, 0, 0, 1);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(raft_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
