#include "config.h"
/* readindex.c — linearizable read barriers without log writes (ReadIndex,
 * thesis §6.4).
 *
 * Leader: a request waits until the leader has committed an entry of its
 * own term (its no-op), so that its commit index is at least that of every
 * earlier leader. All requests that arrived since the last update then form
 * one round: they record the current commit index as their read index and
 * the round gets a sequence number carried by a heartbeat to every peer.
 * Once a quorum (the leader included) has acknowledged a heartbeat with that
 * sequence number or a later one, no other leader can have existed when the
 * round started, and every request of the round (and of earlier rounds) is
 * confirmed. Rounds are FIFO: confirming seq s confirms everything <= s.
 *
 * Follower: requests are forwarded to the leader in one message per update;
 * the leader answers with its confirmed read index and the follower reports
 * the result once it has applied up to that index. A forwarded request fails
 * with -ENOTCONN when the leader changes, -ETIMEDOUT after two election
 * timeouts without an answer.
 *
 * `reads` is FIFO; on the leader, requests not yet in a round (seq 0) are
 * always at the tail. `ready` holds confirmed results until the entries up
 * to their index have been handed out (raft.c: update_reads). */

#include <errno.h>
#include <string.h>

#include "raft/raft-internal.h"

int ready_push(Raft *r, uint64_t ctx, uint64_t index, int error) {
        if (grow((void **) &r->ready, &r->cap_ready, r->n_ready + 1, sizeof(RaftReadResult)) < 0)
                return -ENOMEM;
        r->ready[r->n_ready++] = (RaftReadResult) { ctx, index, error };
        return 0;
}

static int reads_push(Raft *r, ReadReq q) {
        if (r->n_reads >= r->o.max_pending_reads)
                return -EAGAIN;
        if (grow((void **) &r->reads, &r->cap_reads, r->n_reads + 1, sizeof(ReadReq)) < 0)
                return -ENOMEM;
        r->reads[r->n_reads++] = q;
        return 0;
}

static void reads_drop_prefix(Raft *r, size_t n) {
        memmove(r->reads, r->reads + n, (r->n_reads - n) * sizeof(ReadReq));
        r->n_reads -= n;
}

int raft_read_index(Raft *r, uint64_t now, uint64_t ctx) {
        assert(r->started && !r->in_update);
        r->now = MAX(r->now, now);
        if (r->role == RAFT_LEADER) {
                int k = reads_push(r, (ReadReq) { .ctx = ctx });
                if (k < 0)
                        return k;
        } else {
                if (r->role != RAFT_FOLLOWER || r->leader == 0)
                        return -ENOTCONN;
                int k = reads_push(r, (ReadReq) {
                        .ctx = ctx, .deadline = r->now + 2 * r->o.election_timeout_usec,
                });
                if (k < 0)
                        return k;
        }
        r->need_flush = true;
        return 0;
}

/* Sends answers for reads[lo, hi) requested by followers, one message per
 * run of the same follower and index. */
static void answer_remote(Raft *r, size_t lo, size_t hi, bool reject) {
        uint64_t ctx[RAFT_MSG_MAX_CTX];
        size_t i = lo;

        while (i < hi) {
                if (r->reads[i].from == 0) {
                        i++;
                        continue;
                }
                RaftMsg m = {
                        .type = RAFT_MSG_READ_INDEX_RESP, .to = r->reads[i].from,
                        .flags = reject ? RAFT_MSG_F_REJECT : 0,
                        .index = reject ? 0 : r->reads[i].index, .ctx = ctx,
                };
                size_t j = i;
                while (j < hi && m.n_ctx < ELEMENTSOF(ctx) && r->reads[j].from == m.to &&
                       (reject || r->reads[j].index == m.index))
                        ctx[m.n_ctx++] = r->reads[j++].ctx;
                send_msg(r, &m, false);
                /* Skip local requests interleaved later by restarting at j. */
                i = j;
        }
}

void reads_check_quorum(Raft *r) {
        uint64_t acks[RAFT_MAX_SERVERS + 1];
        size_t n = 0;

        if (r->role != RAFT_LEADER || r->n_reads == 0)
                return;
        if (self_is_voter(r))
                acks[n++] = r->read_seq;
        for (size_t i = 0; i < r->n_peers; i++)
                if (r->peers[i].voter)
                        acks[n++] = r->peers[i].read_ack;
        if (n == 0)
                return;
        /* The quorum-th highest acknowledged sequence number. */
        size_t q = quorum(n);
        for (size_t k = 0; k < q; k++)
                for (size_t j = k + 1; j < n; j++)
                        if (acks[j] > acks[k]) {
                                uint64_t x = acks[j];
                                acks[j] = acks[k];
                                acks[k] = x;
                        }
        uint64_t confirmed = acks[q - 1];
        size_t done = 0;
        while (done < r->n_reads && r->reads[done].seq != 0 && r->reads[done].seq <= confirmed)
                done++;
        if (done == 0)
                return;
        for (size_t i = 0; i < done; i++)
                if (r->reads[i].from == 0)
                        (void) ready_push(r, r->reads[i].ctx, r->reads[i].index, 0);
        answer_remote(r, 0, done, false);
        reads_drop_prefix(r, done);
}

static void leader_reads_flush(Raft *r) {
        size_t first = r->n_reads;
        while (first > 0 && r->reads[first - 1].seq == 0)
                first--;
        if (first == r->n_reads || r->commit < r->term_start)
                return;         /* nothing new, or our no-op is not committed yet */
        r->read_seq++;
        for (size_t i = first; i < r->n_reads; i++) {
                r->reads[i].seq = r->read_seq;
                r->reads[i].index = r->commit;
        }
        broadcast_heartbeat(r);
        reads_check_quorum(r);  /* a lone voter confirms at once */
}

static void follower_reads_flush(Raft *r) {
        uint64_t ctx[RAFT_MSG_MAX_CTX];
        size_t i = 0;

        if (r->leader == 0)
                return;
        while (i < r->n_reads) {
                RaftMsg m = { .type = RAFT_MSG_READ_INDEX, .to = r->leader, .ctx = ctx };
                for (; i < r->n_reads && m.n_ctx < ELEMENTSOF(ctx); i++)
                        if (!r->reads[i].sent) {
                                r->reads[i].sent = true;
                                ctx[m.n_ctx++] = r->reads[i].ctx;
                        }
                if (m.n_ctx > 0)
                        send_msg(r, &m, false);
        }
}

void reads_flush(Raft *r) {
        if (r->n_reads == 0)
                return;
        if (r->role == RAFT_LEADER)
                leader_reads_flush(r);
        else if (r->role == RAFT_FOLLOWER)
                follower_reads_flush(r);
}

void reads_fail_all(Raft *r, int error) {
        for (size_t i = 0; i < r->n_reads; i++)
                if (r->reads[i].from == 0)
                        (void) ready_push(r, r->reads[i].ctx, 0, error);
        if (r->role == RAFT_LEADER)
                answer_remote(r, 0, r->n_reads, true);
        r->n_reads = 0;
}

void reads_tick(Raft *r) {
        size_t n = 0;
        if (r->role == RAFT_LEADER)
                return;
        while (n < r->n_reads && r->reads[n].deadline <= r->now) {
                (void) ready_push(r, r->reads[n].ctx, 0, -ETIMEDOUT);
                n++;
        }
        if (n > 0)
                reads_drop_prefix(r, n);
}

uint64_t reads_next_deadline(const Raft *r) {
        if (r->role == RAFT_LEADER || r->n_reads == 0)
                return USEC_INFINITY;
        return r->reads[0].deadline;
}

void handle_read_index(Raft *r, const RaftMsg *m) {
        for (size_t i = 0; i < m->n_ctx; i++)
                if (reads_push(r, (ReadReq) { .ctx = m->ctx[i], .from = m->from }) < 0) {
                        RaftMsg resp = {
                                .type = RAFT_MSG_READ_INDEX_RESP, .to = m->from,
                                .flags = RAFT_MSG_F_REJECT, .ctx = m->ctx + i,
                                .n_ctx = m->n_ctx - i,
                        };
                        send_msg(r, &resp, false);
                        break;
                }
        r->need_flush = true;
}

void handle_read_index_resp(Raft *r, const RaftMsg *m) {
        bool reject = m->flags & RAFT_MSG_F_REJECT;

        if (m->from != r->leader)
                return;         /* from an earlier leader: those reads failed already */
        for (size_t i = 0; i < m->n_ctx; i++)
                for (size_t j = 0; j < r->n_reads; j++)
                        if (r->reads[j].sent && r->reads[j].ctx == m->ctx[i]) {
                                (void) ready_push(r, m->ctx[i], reject ? 0 : m->index,
                                                  reject ? -ENOTCONN : 0);
                                memmove(r->reads + j, r->reads + j + 1,
                                        (r->n_reads - j - 1) * sizeof(ReadReq));
                                r->n_reads--;
                                break;
                        }
}
