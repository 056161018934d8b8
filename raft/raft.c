#include "config.h"
/* raft.c — lifecycle, public entry points, role switching and the update.
 *
 * The core is a deterministic function of its inputs: every entry point
 * takes `now`, the only randomness is the private PRNG seeded from the
 * options, and all output is accumulated in the Raft struct until the caller
 * takes it with raft_update_get(). Roles are a pair of function pointers
 * (step for messages, tick for timers) swapped on every role change, so the
 * per-role behaviour lives in election.c / replication.c without switches.
 *
 * The update itself is assembled in update.c.
 *
 * Invariants kept here:
 *   term never decreases; vote is reset only when term grows;
 *   commit never decreases and commit <= last_index;
 *   applied <= commit; while in_update no state changes. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/codec.h"
#include "raft/raft-internal.h"

/* ---- helpers ----------------------------------------------------------- */

int grow(void **array, size_t *cap, size_t need, size_t elem) {
        if (need <= *cap)
                return 0;
        size_t ncap = *cap ? *cap : 8;
        while (ncap < need)
                ncap *= 2;
        void *p = realloc(*array, ncap * elem);
        if (!p)
                return -ENOMEM;
        *array = p;
        *cap = ncap;
        return 0;
}

void trace(Raft *r, const char *fmt, ...) {
        char line[256];
        va_list ap;

        if (!r->o.trace)
                return;
        int n = snprintf(line, sizeof(line), "%" PRIu64 " t%" PRIu64 " %c: ", r->id, r->term,
                         "?FPCL"[r->role]);
        va_start(ap, fmt);
        (void) vsnprintf(line + n, sizeof(line) - (size_t) n, fmt, ap);
        va_end(ap);
        r->o.trace(r->o.trace_userdata, line);
}

/* splitmix64: tiny, good enough for timeouts, and identical everywhere. */
static uint64_t prng_next(Raft *r) {
        uint64_t z = (r->prng += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

uint64_t rand_range(Raft *r, uint64_t lo, uint64_t hi) {
        if (hi <= lo)
                return lo;
        return lo + prng_next(r) % (hi - lo + 1);
}

size_t quorum(size_t voters) {
        return voters / 2 + 1;
}

void emit_event(Raft *r, RaftEventType type) {
        if (grow((void **) &r->events, &r->cap_events, r->n_events + 1, sizeof(RaftEvent)) < 0)
                return;         /* events are informational; losing one under OOM is tolerable */
        r->events[r->n_events++] = (RaftEvent) {
                .type = type, .role = r->role, .term = r->term, .leader = r->leader,
                .index = raft_config_index(r),
        };
}

size_t send_begin(Raft *r) {
        return r->out.len;
}

void send_end(Raft *r, uint64_t to, size_t start, bool after_persist) {
        if (grow((void **) &r->msgs, &r->cap_msgs, r->n_msgs + 1, sizeof(OutMsg)) < 0) {
                r->out.len = start;     /* dropped: Raft tolerates lost messages */
                return;
        }
        r->msgs[r->n_msgs++] = (OutMsg) {
                .to = to, .after_persist = after_persist, .off = start, .len = r->out.len - start,
        };
}

void send_msg(Raft *r, RaftMsg *m, bool after_persist) {
        m->from = r->id;
        m->term = m->term ? m->term : r->term;
        size_t start = send_begin(r);
        if (raft_msg_encode(m, &r->out) < 0)
                return;
        trace(r, "send %s to %" PRIu64, raft_msg_type_to_string(m->type), m->to);
        send_end(r, m->to, start, after_persist);
}

const char *raft_role_to_string(RaftRole role) {
        switch (role) {
        case RAFT_FOLLOWER: return "follower";
        case RAFT_PRE_CANDIDATE: return "pre-candidate";
        case RAFT_CANDIDATE: return "candidate";
        case RAFT_LEADER: return "leader";
        }
        return "invalid";
}

const char *raft_peer_state_to_string(RaftPeerState s) {
        switch (s) {
        case RAFT_PEER_PROBE: return "probe";
        case RAFT_PEER_REPLICATE: return "replicate";
        case RAFT_PEER_SNAPSHOT: return "snapshot";
        }
        return "invalid";
}

/* ---- options and lifecycle --------------------------------------------- */

void raft_options_init(RaftOptions *o) {
        *o = (RaftOptions) {
                .heartbeat_usec = 100 * USEC_PER_MSEC,
                .election_timeout_usec = 1000 * USEC_PER_MSEC,
                .failover_min_usec = 50 * USEC_PER_MSEC,
                .failover_max_usec = 150 * USEC_PER_MSEC,
                .pre_vote = true,
                .check_quorum = true,
                .max_msg_bytes = 1 << 20,
                .max_inflight_msgs = 64,
                .max_inflight_bytes = 16 << 20,
                .max_uncommitted_bytes = 64 << 20,
                .max_entry_bytes = 8 << 20,
                .max_entries_per_msg = 4096,
                .snapshot_chunk_bytes = 1 << 20,
                .max_pending_reads = 65536,
                .max_apply_bytes = 16 << 20,
                .mem_entries = 8192,
                .mem_bytes = 64 << 20,
                .max_catch_up_rounds = 10,
        };
}

int raft_new(const RaftOptions *opts, Raft **ret) {
        const RaftOptions *o = opts;

        if (o->id == 0 || o->heartbeat_usec == 0 || o->election_timeout_usec <= o->heartbeat_usec ||
            o->failover_min_usec > o->failover_max_usec || !o->entries.term ||
            !o->entries.entries || o->max_msg_bytes == 0 || o->max_inflight_msgs == 0 ||
            o->max_entries_per_msg == 0 || o->snapshot_chunk_bytes == 0 ||
            o->max_entry_bytes == 0 || o->max_apply_bytes == 0)
                return -EINVAL;
        Raft *r = calloc(1, sizeof(Raft));
        if (!r)
                return -ENOMEM;
        r->o = *o;
        r->id = o->id;
        r->prng = o->seed ^ (o->id * UINT64_C(0x2545f4914f6cdd1d));
        rlog_init(&r->log);
        r->role = RAFT_FOLLOWER;
        r->step = NULL;
        r->election_deadline = USEC_INFINITY;
        *ret = r;
        return 0;
}


Raft *raft_free(Raft *r) {
        if (!r)
                return NULL;
        update_release(r);
        rlog_done(&r->log);
        confs_free(r);
        peers_free(r);
        snapshot_rx_clear(r);
        buf_done(&r->out);
        buf_done(&r->fwd_props);
        free(r->msgs);
        free(r->events);
        free(r->chunks);
        free(r->reads);
        free(r->ready);
        free(r->upd_msgs);
        free(r->upd_entries);
        free(r->upd_committed);
        free(r->upd_committed_owned);
        free(r->upd_reads);
        free(r->scratch);
        return mfree(r);
}

/* Scans the entries after the snapshot for configuration entries. */
static int load_configs(Raft *r, uint64_t from, uint64_t to) {
        uint64_t i = from;
        while (i <= to) {
                RaftEntry *es = NULL;
                size_t got = 0;
                int k = r->o.entries.entries(r->o.entries.userdata, i, to + 1, 4 << 20, &es, &got);
                if (k < 0)
                        return k == -ENOENT ? -EBADMSG : k;
                for (size_t j = 0; j < got; j++) {
                        if (k >= 0 && es[j].index != i + j)
                                k = -EBADMSG;
                        if (k >= 0 && es[j].type == RAFT_ENTRY_CONF)
                                k = conf_push(r, es[j].index, es[j].data, es[j].len);
                        raft_entry_done(&es[j]);
                }
                free(es);
                if (k < 0)
                        return k;
                if (got == 0)
                        return -EBADMSG;
                i += got;
        }
        return 0;
}

/* Reads [from, last_index] into the in-memory window. */
static int load_tail(Raft *r, uint64_t from) {
        Rlog *l = &r->log;
        uint64_t last = l->last_index, i = from;

        if (from > last)
                return 0;
        l->last_index = from - 1;
        l->mem_first = from;
        while (i <= last) {
                RaftEntry *es = NULL;
                size_t got = 0;
                int k = r->o.entries.entries(r->o.entries.userdata, i, last + 1, 4 << 20, &es, &got);
                if (k < 0)
                        return k == -ENOENT ? -EBADMSG : k;
                for (size_t j = 0; j < got; j++) {
                        if (k >= 0 && es[j].index != i + j)
                                k = -EBADMSG;
                        if (k >= 0)
                                k = rlog_append(r, es[j].term, es[j].type, es[j].data, es[j].len);
                        raft_entry_done(&es[j]);
                }
                free(es);
                if (k < 0)
                        return k;
                if (got == 0)
                        return -EBADMSG;
                i += got;
        }
        l->unstable = last + 1;
        return 0;
}

int raft_start(Raft *r, uint64_t now, const RaftStartState *st) {
        const RaftSnapshotMeta *s = st->snapshot;
        Rlog *l = &r->log;
        int k;

        if (r->started)
                return -EALREADY;
        r->now = now;
        uint64_t si = s ? s->index : 0, stt = s ? s->term : 0;
        if (st->last_index < si || st->first_index > si + 1 || (s && (si == 0 || stt == 0)))
                return -EBADMSG;
        l->snap_index = si;
        l->snap_term = stt;
        l->first_index = st->first_index ? st->first_index : si + 1;
        l->last_index = st->last_index;
        l->mem_first = st->last_index + 1;
        l->unstable = st->last_index + 1;
        l->persisted = st->last_index;
        k = rlog_term(r, l->last_index, &l->last_term);
        if (k < 0)
                return k == -ENOENT ? -EBADMSG : k;

        k = conf_reset(r, si, s ? s->conf : NULL, s ? s->conf_len : 0);
        if (k < 0)
                return k;
        k = load_configs(r, si + 1, l->last_index);
        if (k < 0)
                return k;

        /* currentTerm >= last log term always holds; a crash between writing
         * entries and the hard state may have broken it on disk. */
        r->term = MAX(st->hard_state.term, l->last_term);
        r->vote = r->term == st->hard_state.term ? st->hard_state.vote : 0;
        r->commit = MIN(MAX(st->hard_state.commit, si), l->last_index);
        r->applied = si;
        /* Uncommitted entries stay in memory (truncation works there only). */
        k = load_tail(r, r->commit + 1);
        if (k < 0)
                return k;
        r->started = true;
        trace(r, "start last=%" PRIu64 "/%" PRIu64 " commit=%" PRIu64 " snap=%" PRIu64,
              l->last_index, l->last_term, r->commit, si);
        become_follower(r, r->term, 0);
        emit_event(r, RAFT_EVENT_CONFIG);
        /* A lone voter needs nobody's vote. */
        const RaftConfig *c = conf_current(r);
        if (self_is_voter(r) && raft_config_voters(c) == 1)
                campaign(r, false, false);
        return 0;
}

/* ---- role transitions -------------------------------------------------- */

bool self_is_voter(const Raft *r) {
        const RaftServer *s = raft_config_find(conf_current(r), r->id);
        return s && s->role == RAFT_VOTER;
}

void set_leader(Raft *r, uint64_t leader) {
        if (r->leader == leader)
                return;
        uint64_t old = r->leader;
        r->leader = leader;
        emit_event(r, RAFT_EVENT_LEADER);
        /* Forwarded reads went to the old leader; their answers cannot be
         * matched to the new one. */
        if (r->role != RAFT_LEADER && old != 0 && r->n_reads > 0)
                reads_fail_all(r, -ENOTCONN);
        /* Proposals waiting to be forwarded were meant for the old leader:
         * drop them (the daemon retries on timeout). */
        buf_clear(&r->fwd_props);
        r->n_fwd_props = 0;
}

static void set_role(Raft *r, RaftRole role, RaftStepFn step, RaftTickFn tick) {
        bool changed = r->role != role;
        r->role = role;
        r->step = step;
        r->tick = tick;
        if (changed)
                emit_event(r, RAFT_EVENT_ROLE);
}

static void step_follower(Raft *r, const RaftMsg *m);
static void step_candidate(Raft *r, const RaftMsg *m);
static void step_leader(Raft *r, const RaftMsg *m);

static void leave_leader(Raft *r) {
        if (r->role != RAFT_LEADER)
                return;
        reads_fail_all(r, -ENOTCONN);
        if (r->transfer_target)
                transfer_end(r, true);
        peers_free(r);
        r->step_down_pending = false;
}

void become_follower(Raft *r, uint64_t term, uint64_t leader) {
        leave_leader(r);
        if (term > r->term) {
                r->term = term;
                r->vote = 0;
                r->hs_dirty = true;
                emit_event(r, RAFT_EVENT_TERM);
        }
        set_role(r, RAFT_FOLLOWER, step_follower, follower_tick);
        set_leader(r, leader);
        r->leader_contact = leader ? r->now : 0;
        r->heard_leader_at = leader ? r->now : 0;
        election_reset_timer(r);
        trace(r, "follower of %" PRIu64, leader);
}

void become_pre_candidate(Raft *r) {
        leave_leader(r);
        set_role(r, RAFT_PRE_CANDIDATE, step_candidate, candidate_tick);
        set_leader(r, 0);
        r->leader_contact = 0;
}

void become_candidate(Raft *r) {
        leave_leader(r);
        r->term++;
        r->vote = r->id;
        r->hs_dirty = true;
        emit_event(r, RAFT_EVENT_TERM);
        set_role(r, RAFT_CANDIDATE, step_candidate, candidate_tick);
        set_leader(r, 0);
        r->leader_contact = 0;
}

void become_leader(Raft *r) {
        assert(r->role == RAFT_CANDIDATE);
        set_role(r, RAFT_LEADER, step_leader, leader_tick);
        set_leader(r, r->id);
        r->uncommitted_bytes = 0;
        r->read_seq = 0;
        r->transfer_target = 0;
        r->step_down_pending = false;
        peers_rebuild(r);
        r->heartbeat_deadline = r->now;
        r->quorum_deadline = r->now + r->o.election_timeout_usec;
        /* The no-op lets the leader commit entries of earlier terms and learn
         * the commit index before serving reads (thesis §6.4, §3.6.2). */
        uint64_t idx;
        if (leader_append(r, RAFT_ENTRY_NOOP, NULL, 0, &idx) < 0) {
                become_follower(r, r->term, 0);
                return;
        }
        r->term_start = idx;
        trace(r, "leader, no-op at %" PRIu64, idx);
        maybe_commit(r);
        r->need_flush = true;
}

/* ---- message dispatch ---------------------------------------------------- */

static bool from_leader_type(uint8_t type) {
        return type == RAFT_MSG_APPEND || type == RAFT_MSG_HEARTBEAT ||
               type == RAFT_MSG_SNAPSHOT || type == RAFT_MSG_TIMEOUT_NOW;
}

static void step_follower(Raft *r, const RaftMsg *m) {
        if (from_leader_type(m->type)) {
                if (r->leader != m->from)
                        set_leader(r, m->from);
                r->leader_contact = r->now;
                r->heard_leader_at = r->now;
                election_reset_timer(r);
        }
        switch (m->type) {
        case RAFT_MSG_APPEND:
                handle_append(r, m);
                break;
        case RAFT_MSG_HEARTBEAT:
                handle_heartbeat(r, m);
                break;
        case RAFT_MSG_SNAPSHOT:
                handle_snapshot(r, m);
                break;
        case RAFT_MSG_TIMEOUT_NOW:
                campaign(r, false, true);
                break;
        case RAFT_MSG_VOTE:
                handle_vote(r, m);
                break;
        case RAFT_MSG_READ_INDEX_RESP:
                handle_read_index_resp(r, m);
                break;
        default:
                break;          /* proposals/reads sent to a non-leader are dropped */
        }
}

static void step_candidate(Raft *r, const RaftMsg *m) {
        switch (m->type) {
        case RAFT_MSG_APPEND:
        case RAFT_MSG_HEARTBEAT:
        case RAFT_MSG_SNAPSHOT:
                /* A leader exists in our term (or a later one). */
                become_follower(r, m->term, m->from);
                step_follower(r, m);
                break;
        case RAFT_MSG_TIMEOUT_NOW:
                campaign(r, false, true);
                break;
        case RAFT_MSG_VOTE:
                handle_vote(r, m);
                break;
        case RAFT_MSG_VOTE_RESP:
                handle_vote_resp(r, m);
                break;
        default:
                break;
        }
}

static void step_leader(Raft *r, const RaftMsg *m) {
        switch (m->type) {
        case RAFT_MSG_APPEND_RESP:
                handle_append_resp(r, m);
                break;
        case RAFT_MSG_HEARTBEAT_RESP:
                handle_heartbeat_resp(r, m);
                break;
        case RAFT_MSG_SNAPSHOT_RESP:
                handle_snapshot_resp(r, m);
                break;
        case RAFT_MSG_VOTE:
                handle_vote(r, m);
                break;
        case RAFT_MSG_PROPOSE:
                handle_propose(r, m);
                break;
        case RAFT_MSG_READ_INDEX:
                handle_read_index(r, m);
                break;
        case RAFT_MSG_CONF_CHANGE:
                handle_conf_change(r, m);
                break;
        default:
                break;
        }
}

/* Term rules common to every role (Figure 2, thesis §3.3, §4.2.3, §9.6).
 * Returns false when the message must be dropped. */
static bool check_term(Raft *r, const RaftMsg *m) {
        if (m->term > r->term) {
                if (m->type == RAFT_MSG_VOTE && !(m->flags & RAFT_MSG_F_TRANSFER) && in_lease(r)) {
                        /* Disruptive-server rule: we heard from a current leader
                         * less than an election timeout ago. */
                        trace(r, "ignore vote from %" PRIu64 " (leader lease)", m->from);
                        return false;
                }
                if (m->type == RAFT_MSG_VOTE && (m->flags & RAFT_MSG_F_PRE))
                        return true;            /* a pre-vote never changes our term */
                if (m->type == RAFT_MSG_VOTE_RESP && (m->flags & RAFT_MSG_F_PRE) &&
                    !(m->flags & RAFT_MSG_F_REJECT))
                        return true;            /* granted pre-votes carry the future term */
                become_follower(r, m->term, from_leader_type(m->type) ? m->from : 0);
                return true;
        }
        if (m->term < r->term) {
                RaftMsg resp = { .to = m->from };
                switch (m->type) {
                case RAFT_MSG_APPEND:
                case RAFT_MSG_HEARTBEAT:
                case RAFT_MSG_SNAPSHOT:
                        /* Tell a stale leader about the newer term so it steps down. */
                        resp.type = RAFT_MSG_APPEND_RESP;
                        resp.flags = RAFT_MSG_F_REJECT;
                        send_msg(r, &resp, false);
                        return false;
                case RAFT_MSG_VOTE:
                        resp.type = RAFT_MSG_VOTE_RESP;
                        resp.flags = RAFT_MSG_F_REJECT | (m->flags & RAFT_MSG_F_PRE);
                        send_msg(r, &resp, false);
                        return false;
                case RAFT_MSG_PROPOSE:
                case RAFT_MSG_READ_INDEX:
                case RAFT_MSG_CONF_CHANGE:
                        return true;            /* client traffic does not depend on the term */
                default:
                        return false;
                }
        }
        return true;
}

int raft_receive(Raft *r, uint64_t now, uint64_t from, const void *data, size_t len) {
        RaftMsgLimits lim = { r->o.max_entries_per_msg, r->o.max_entry_bytes };
        RaftMsg m;

        assert(r->started && !r->in_update);
        r->now = MAX(r->now, now);
        int k = raft_msg_decode(data, len, &lim, &m);
        if (k < 0)
                return k;
        if (m.from != from || m.to != r->id || m.from == r->id) {
                raft_msg_done(&m);
                return -EBADMSG;
        }
        trace(r, "recv %s from %" PRIu64 " t%" PRIu64, raft_msg_type_to_string(m.type), m.from,
              m.term);
        if (check_term(r, &m))
                r->step(r, &m);
        raft_msg_done(&m);
        return 0;
}

void raft_tick(Raft *r, uint64_t now) {
        assert(r->started && !r->in_update);
        r->now = MAX(r->now, now);
        r->apply_blocked = false;       /* retry reading committed entries */
        r->tick(r);
        reads_tick(r);
}

uint64_t raft_next_deadline(const Raft *r) {
        if (!r->started)
                return USEC_INFINITY;
        uint64_t d = reads_next_deadline(r);
        if (r->role == RAFT_LEADER) {
                d = MIN(d, r->heartbeat_deadline);
                d = MIN(d, r->quorum_deadline);
                if (r->transfer_target)
                        d = MIN(d, r->transfer_deadline);
        } else
                d = MIN(d, r->election_deadline);
        return d;
}

int raft_propose(Raft *r, uint64_t now, const void *data, size_t len, uint64_t *ret_index,
                 uint64_t *ret_term) {
        assert(r->started && !r->in_update);
        r->now = MAX(r->now, now);
        if (len > r->o.max_entry_bytes)
                return -E2BIG;
        if (r->role == RAFT_LEADER) {
                uint64_t idx;
                if (r->transfer_target)
                        return -EBUSY;
                if (r->uncommitted_bytes > 0 &&
                    r->uncommitted_bytes + len > r->o.max_uncommitted_bytes)
                        return -EAGAIN;
                int k = leader_append(r, RAFT_ENTRY_NORMAL, data, len, &idx);
                if (k < 0)
                        return k;
                if (ret_index)
                        *ret_index = idx;
                if (ret_term)
                        *ret_term = r->term;
                return 0;
        }
        if (r->role != RAFT_FOLLOWER || r->leader == 0)
                return -ENOTCONN;
        if (r->fwd_props.len + len > r->o.max_uncommitted_bytes ||
            r->n_fwd_props >= r->o.max_entries_per_msg)
                return -EAGAIN;
        if (put_blob(&r->fwd_props, data, len) < 0)
                return -ENOMEM;
        r->n_fwd_props++;
        r->need_flush = true;
        if (ret_index)
                *ret_index = 0;
        if (ret_term)
                *ret_term = 0;
        return 0;
}

void raft_persisted(Raft *r, uint64_t now, uint64_t index, uint64_t term) {
        assert(r->started && !r->in_update);
        r->now = MAX(r->now, now);
        index = MIN(index, r->log.last_index);
        if (index <= r->log.persisted || !rlog_match(r, index, term))
                return;
        r->log.persisted = index;
        if (r->role == RAFT_LEADER)
                maybe_commit(r);
        rlog_evict(r);
}

void raft_peer_unreachable(Raft *r, uint64_t now, uint64_t id) {
        assert(r->started && !r->in_update);
        r->now = MAX(r->now, now);
        if (r->role == RAFT_LEADER) {
                Progress *p = peer_find(r, id);
                if (p && p->state == RAFT_PEER_REPLICATE)
                        progress_become_probe(r, p);
                return;
        }
        if (r->role != RAFT_FOLLOWER || id == 0 || id != r->leader)
                return;
        /* The leader is probably gone: forget its lease so that we grant
         * votes again, and campaign soon. Other followers that still hear
         * from it keep refusing, so one broken link cannot depose it. */
        r->leader_contact = 0;
        uint64_t d = now + rand_range(r, r->o.failover_min_usec, r->o.failover_max_usec);
        r->election_deadline = MIN(r->election_deadline, d);
        trace(r, "leader %" PRIu64 " unreachable, campaign at %" PRIu64, id, r->election_deadline);
}

/* ---- accessors ----------------------------------------------------------- */

RaftRole raft_role(const Raft *r) { return r->role; }
uint64_t raft_id(const Raft *r) { return r->id; }
uint64_t raft_term(const Raft *r) { return r->term; }
uint64_t raft_leader(const Raft *r) { return r->leader; }
uint64_t raft_commit_index(const Raft *r) { return r->commit; }
uint64_t raft_applied_index(const Raft *r) { return r->applied; }
uint64_t raft_last_index(const Raft *r) { return r->log.last_index; }
uint64_t raft_last_term(const Raft *r) { return r->log.last_term; }
uint64_t raft_persisted_index(const Raft *r) { return r->log.persisted; }
uint64_t raft_snapshot_index(const Raft *r) { return r->log.snap_index; }
const RaftConfig *raft_config(const Raft *r) { return conf_current(r); }
uint64_t raft_config_index(const Raft *r) { return r->n_confs ? r->confs[r->n_confs - 1].index : 0; }
bool raft_is_voter(const Raft *r) { return self_is_voter(r); }

int raft_peer_status(const Raft *r, uint64_t id, RaftPeerStatus *ret) {
        if (r->role != RAFT_LEADER)
                return -ENOTCONN;
        const Progress *p = peer_find((Raft *) r, id);
        if (!p)
                return -ENOENT;
        *ret = (RaftPeerStatus) {
                .id = p->id, .state = p->state, .match_index = p->match, .next_index = p->next,
                .inflight_msgs = p->if_count, .inflight_bytes = p->if_bytes,
                .last_contact_usec = p->last_contact,
        };
        return 0;
}

uint64_t raft_peer_last_contact(const Raft *r, uint64_t id) {
        if (r->role != RAFT_LEADER)
                return 0;
        const Progress *p = peer_find((Raft *) r, id);
        return p ? p->last_contact : 0;
}

uint64_t raft_quorum_contact(const Raft *r) {
        if (r->role != RAFT_LEADER)
                return r->leader ? r->heard_leader_at : 0;
        /* The quorum-th most recent contact among voters (we count as now). */
        uint64_t t[RAFT_MAX_SERVERS];
        size_t n = 0;
        if (self_is_voter(r))
                t[n++] = r->now;
        for (size_t i = 0; i < r->n_peers; i++)
                if (r->peers[i].voter && n < RAFT_MAX_SERVERS)
                        t[n++] = r->peers[i].last_contact;
        if (n == 0)
                return 0;
        size_t q = quorum(n);
        /* selection by repeated max: n <= 64 */
        for (size_t k = 0; k < q; k++)
                for (size_t j = k + 1; j < n; j++)
                        if (t[j] > t[k]) {
                                uint64_t x = t[j];
                                t[j] = t[k];
                                t[k] = x;
                        }
        return t[q - 1];
}
