#include "config.h"
/* membership.c — the configuration history and membership changes, one
 * server at a time (thesis §4.1–§4.3).
 *
 * A configuration takes effect as soon as its entry is in the log, committed
 * or not; so a truncation of the log can undo it and the configuration at
 * any index must stay known (snapshots need it). `confs` holds the
 * configuration in force at the snapshot and every configuration entry
 * after it, in index order; the last one is in force.
 *
 * Rules enforced on the leader:
 *   - at most one uncommitted configuration entry at a time;
 *   - no change before the leader has committed an entry of its own term
 *     (the correction to single-server changes: a new leader could otherwise
 *     append a change conflicting with an uncommitted one of an old leader);
 *   - a new voter first joins as a learner and is promoted only once it has
 *     caught up: replication proceeds in rounds, each to the leader's last
 *     index when the round began; a round finished within an election
 *     timeout means the server is close enough (§4.2.1). After
 *     max_catch_up_rounds rounds the promotion is abandoned;
 *   - a leader that removes or demotes itself keeps leading until that
 *     change commits (not counting itself), then hands over and steps down. */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "raft/raft-internal.h"

static const RaftConfig empty_config = RAFT_CONFIG_INIT;

const RaftConfig *conf_current(const Raft *r) {
        return r->n_confs > 0 ? &r->confs[r->n_confs - 1].conf : &empty_config;
}

const RaftConfig *conf_at(const Raft *r, uint64_t index) {
        for (size_t i = r->n_confs; i > 0; i--)
                if (r->confs[i - 1].index <= index)
                        return &r->confs[i - 1].conf;
        return r->n_confs > 0 ? &r->confs[0].conf : &empty_config;
}

void confs_free(Raft *r) {
        for (size_t i = 0; i < r->n_confs; i++)
                raft_config_done(&r->confs[i].conf);
        free(r->confs);
        r->confs = NULL;
        r->n_confs = 0;
}

void conf_changed(Raft *r) {
        emit_event(r, RAFT_EVENT_CONFIG);
        trace(r, "configuration at %" PRIu64 ": %zu servers, %zu voters", raft_config_index(r),
              conf_current(r)->n, raft_config_voters(conf_current(r)));
        if (r->role == RAFT_LEADER) {
                peers_rebuild(r);
                r->need_flush = true;
                maybe_commit(r);
        }
}

int conf_push(Raft *r, uint64_t index, const void *data, size_t len) {
        RaftConfig c;
        int k = raft_config_decode(data, len, &c);
        if (k < 0)
                return k;       /* an undecodable configuration entry has no effect */
        ConfEntry *n = realloc(r->confs, (r->n_confs + 1) * sizeof(ConfEntry));
        if (!n) {
                raft_config_done(&c);
                return -ENOMEM;
        }
        r->confs = n;
        r->confs[r->n_confs++] = (ConfEntry) { index, c };
        conf_changed(r);
        return 0;
}

void conf_truncate(Raft *r, uint64_t from) {
        bool changed = false;
        while (r->n_confs > 1 && r->confs[r->n_confs - 1].index >= from) {
                raft_config_done(&r->confs[--r->n_confs].conf);
                changed = true;
        }
        if (changed)
                conf_changed(r);
}

void conf_compact(Raft *r, uint64_t index) {
        size_t k = 0;
        while (k + 1 < r->n_confs && r->confs[k + 1].index <= index)
                k++;
        for (size_t i = 0; i < k; i++)
                raft_config_done(&r->confs[i].conf);
        memmove(r->confs, r->confs + k, (r->n_confs - k) * sizeof(ConfEntry));
        r->n_confs -= k;
}

int conf_reset(Raft *r, uint64_t index, const void *data, size_t len) {
        RaftConfig c = RAFT_CONFIG_INIT;
        if (len > 0) {
                int k = raft_config_decode(data, len, &c);
                if (k < 0)
                        return k;
        }
        ConfEntry *n = malloc(sizeof(ConfEntry));
        if (!n) {
                raft_config_done(&c);
                return -ENOMEM;
        }
        confs_free(r);
        r->confs = n;
        r->confs[0] = (ConfEntry) { index, c };
        r->n_confs = 1;
        if (r->started)
                conf_changed(r);
        return 0;
}

/* ---- changes on the leader ---------------------------------------------- */

static bool can_change(const Raft *r) {
        return !r->transfer_target && r->commit >= r->term_start &&
               raft_config_index(r) <= r->commit;
}

static int append_config(Raft *r, const RaftConfig *c, uint64_t *ret_index) {
        Buf b = BUF_INIT;
        int k = raft_config_encode(c, &b);
        if (k >= 0)
                k = leader_append(r, RAFT_ENTRY_CONF, b.data, b.len, ret_index);
        buf_done(&b);
        return k;
}

static void start_promotion(Raft *r, Progress *p) {
        p->promote = true;
        p->rounds = 1;
        p->round_target = r->log.last_index;
        p->round_start = r->now;
        trace(r, "catching up %" PRIu64 ": round 1 to %" PRIu64, p->id, p->round_target);
}

static void check_promotion(Raft *r, Progress *p) {
        if (!p->promote || p->match < p->round_target)
                return;
        if (r->now - p->round_start <= r->o.election_timeout_usec) {
                if (!can_change(r))
                        return;         /* retried at the next tick or commit */
                _cleanup_(raft_config_done) RaftConfig c = RAFT_CONFIG_INIT;
                if (raft_config_copy(conf_current(r), &c) < 0)
                        return;
                for (size_t i = 0; i < c.n; i++)
                        if (c.servers[i].id == p->id)
                                c.servers[i].role = RAFT_VOTER;
                uint64_t id = p->id;
                p->promote = false;
                trace(r, "promoting %" PRIu64, id);
                (void) append_config(r, &c, NULL);      /* p may be stale from here on */
                return;
        }
        if (++p->rounds > r->o.max_catch_up_rounds) {
                trace(r, "%" PRIu64 " did not catch up in %u rounds", p->id, p->rounds - 1);
                p->promote = false;
                return;
        }
        p->round_target = r->log.last_index;
        p->round_start = r->now;
}

void membership_progress(Raft *r, Progress *p) {
        if (p->promote)
                check_promotion(r, p);
}

void membership_tick(Raft *r) {
        for (size_t i = 0; i < r->n_peers && r->role == RAFT_LEADER; i++)
                if (r->peers[i].promote) {
                        check_promotion(r, &r->peers[i]);
                        /* a promotion rebuilds peers: stop, the rest waits a tick */
                        if (!r->peers || !can_change(r))
                                break;
                }
}

void membership_committed(Raft *r) {
        if (r->role != RAFT_LEADER || raft_config_index(r) > r->commit)
                return;
        if (!self_is_voter(r)) {
                leader_step_down_removed(r);
                return;
        }
}

int change_config(Raft *r, RaftConfChangeType type, uint64_t id, const char *name,
                  const char *address, uint64_t *ret_index) {
        const RaftConfig *cur = conf_current(r);
        const RaftServer *s = raft_config_find(cur, id);
        _cleanup_(raft_config_done) RaftConfig c = RAFT_CONFIG_INIT;
        uint64_t idx = 0;
        int k;

        if (id == 0)
                return -EINVAL;
        if (r->transfer_target)
                return -EBUSY;
        if (type == RAFT_CONF_ADD_VOTER && s && s->role == RAFT_LEARNER) {
                Progress *p = peer_find(r, id);
                if (!p)
                        return -ENOENT;
                if (!p->promote)
                        start_promotion(r, p);
                if (ret_index)
                        *ret_index = 0;
                return 0;
        }
        if (!can_change(r))
                return -EBUSY;
        k = raft_config_copy(cur, &c);
        if (k < 0)
                return k;
        switch (type) {
        case RAFT_CONF_ADD_LEARNER:
        case RAFT_CONF_ADD_VOTER:
                if (s)
                        return -EEXIST;
                k = raft_config_add(&c, id, name ? name : "", address ? address : "", RAFT_LEARNER);
                break;
        case RAFT_CONF_DEMOTE:
                if (!s)
                        return -ENOENT;
                if (s->role == RAFT_LEARNER)
                        return -EEXIST;
                if (raft_config_voters(cur) == 1)
                        return -EINVAL;
                for (size_t i = 0; i < c.n; i++)
                        if (c.servers[i].id == id)
                                c.servers[i].role = RAFT_LEARNER;
                break;
        case RAFT_CONF_REMOVE:
                if (!s)
                        return -ENOENT;
                if (s->role == RAFT_VOTER && raft_config_voters(cur) == 1)
                        return -EINVAL;
                k = raft_config_remove(&c, id);
                break;
        default:
                return -EINVAL;
        }
        if (k < 0)
                return k == -EEXIST ? -EEXIST : k == -E2BIG ? -E2BIG : -EINVAL;
        k = append_config(r, &c, &idx);
        if (k < 0)
                return k;
        trace(r, "configuration change %d for %" PRIu64 " at %" PRIu64, type, id, idx);
        if (type == RAFT_CONF_ADD_VOTER) {
                Progress *p = peer_find(r, id);
                if (p)
                        start_promotion(r, p);
        }
        if (ret_index)
                *ret_index = idx;
        return 0;
}

void handle_conf_change(Raft *r, const RaftMsg *m) {
        (void) change_config(r, m->change, m->change_id, m->name, m->address, NULL);
}

int raft_change_config(Raft *r, uint64_t now, RaftConfChangeType type, uint64_t id,
                       const char *name, const char *address, uint64_t *ret_index) {
        assert(r->started && !r->in_update);
        r->now = MAX(r->now, now);
        if (type < RAFT_CONF_ADD_LEARNER || type > RAFT_CONF_REMOVE || id == 0)
                return -EINVAL;
        if ((type == RAFT_CONF_ADD_LEARNER || type == RAFT_CONF_ADD_VOTER) &&
            (!name || !address || !*name || strlen(name) > RAFT_NAME_MAX ||
             strlen(address) > RAFT_ADDRESS_MAX))
                return -EINVAL;
        if (r->role == RAFT_LEADER)
                return change_config(r, type, id, name, address, ret_index);
        if (r->role != RAFT_FOLLOWER || r->leader == 0)
                return -ENOTCONN;
        RaftMsg m = { .type = RAFT_MSG_CONF_CHANGE, .to = r->leader, .change = (uint8_t) type,
                      .change_id = id };
        if (name)
                strcpy(m.name, name);
        if (address)
                strcpy(m.address, address);
        send_msg(r, &m, false);
        if (ret_index)
                *ret_index = 0;
        return 0;
}
