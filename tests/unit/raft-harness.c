#include "config.h"
/* raft-harness.c — see raft-harness.h. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/raft-harness.h"

static int src_term(void *userdata, uint64_t index, uint64_t *ret) {
        HNode *n = userdata;
        if (index < n->first || index > n->last || n->last == 0)
                return -ENOENT;
        *ret = n->log[index].term;
        return 0;
}

static int src_entries(void *userdata, uint64_t lo, uint64_t hi, size_t max_bytes,
                       RaftEntry **ret, size_t *ret_n) {
        HNode *n = userdata;
        size_t k = 0, bytes = 0;
        if (lo < n->first || lo > n->last || hi <= lo)
                return -ENOENT;
        hi = MIN(hi, n->last + 1);
        RaftEntry *es = calloc(hi - lo, sizeof(RaftEntry));
        assert(es);
        for (uint64_t i = lo; i < hi; i++) {
                if (k > 0 && bytes + n->log[i].len > max_bytes)
                        break;
                es[k] = (RaftEntry) { n->log[i].term, i, n->log[i].type, n->log[i].len, NULL };
                if (n->log[i].len) {
                        es[k].data = malloc(n->log[i].len);
                        memcpy(es[k].data, n->log[i].data, n->log[i].len);
                }
                bytes += n->log[i].len;
                k++;
        }
        *ret = es;
        *ret_n = k;
        return 0;
}

static int src_snap(void *userdata, uint64_t index, uint64_t term, uint64_t offset, void *buf,
                    size_t max_len, size_t *ret_len, uint64_t *ret_total) {
        HNode *n = userdata;
        if (!n->has_snap || n->snap.index != index || n->snap.term != term)
                return -ENOENT;
        size_t len = MIN(max_len, n->snap_len - offset);
        memcpy(buf, n->snap_data + offset, len);
        *ret_len = len;
        *ret_total = n->snap_len;
        return 0;
}

static void trace_line(void *userdata, const char *line) {
        fprintf(stderr, "%s\n", line);
}

static void start(Harness *h, HNode *n) {
        RaftOptions o = h->opts;
        if (getenv("RAFT_TEST_TRACE"))
                o.trace = trace_line;   /* debugging aid: RAFT_TEST_TRACE=1 */
        o.id = (uint64_t) n->idx + 1;
        o.seed = 1000 + (uint64_t) n->idx;
        o.entries = (RaftEntrySource) { n, src_term, src_entries };
        o.snapshot = (RaftSnapshotSource) { n, src_snap };
        ck_assert_int_eq(raft_new(&o, &n->r), 0);
        RaftStartState st = {
                .hard_state = n->hs, .snapshot = n->has_snap ? &n->snap : NULL,
                .first_index = n->first, .last_index = n->last,
        };
        n->applied = n->has_snap ? n->snap.index : 0;
        n->up = true;
        ck_assert_int_eq(raft_start(n->r, h->now, &st), 0);
        h_process(h, n->idx);
}

Harness *h_new(int voters, int extra, void (*tweak)(RaftOptions *o)) {
        Harness *h = calloc(1, sizeof(Harness));
        RaftConfig c = RAFT_CONFIG_INIT;
        RaftEntry e;
        RaftHardState hs;
        char name[16];

        assert(h);
        h->n = voters + extra;
        h->now = 1000000;
        raft_options_init(&h->opts);
        h->opts.heartbeat_usec = 10000;
        h->opts.election_timeout_usec = 100000;
        h->opts.failover_min_usec = 20000;
        h->opts.failover_max_usec = 30000;
        if (tweak)
                tweak(&h->opts);
        for (int i = 0; i < voters; i++) {
                snprintf(name, sizeof(name), "n%d", i + 1);
                ck_assert_int_eq(raft_config_add(&c, (uint64_t) i + 1, name, "addr", RAFT_VOTER), 0);
        }
        ck_assert_int_eq(raft_bootstrap(&c, &e, &hs), 0);
        for (int i = 0; i < h->n; i++) {
                HNode *n = &h->node[i];
                n->idx = i;
                n->first = 1;
                if (i < voters) {
                        n->hs = hs;
                        n->log[1] = (HEntry) { e.term, e.type, e.len, {} };
                        memcpy(n->log[1].data, e.data, e.len);
                        n->last = 1;
                }
        }
        raft_entry_done(&e);
        raft_config_done(&c);
        for (int i = 0; i < h->n; i++)
                start(h, &h->node[i]);
        return h;
}

void h_free(Harness *h) {
        for (int i = 0; i < h->n; i++) {
                raft_free(h->node[i].r);
                free(h->node[i].snap.conf);
        }
        for (size_t i = 0; i < h->n_msgs; i++)
                free(h->msgs[i].data);
        free(h);
}

static void queue(Harness *h, int from, const RaftOutMessage *m) {
        ck_assert_uint_lt(h->n_msgs, H_MAX_MSGS);
        uint8_t *d = malloc(m->len);
        memcpy(d, m->data, m->len);
        h->msgs[h->n_msgs++] = (HMsg) { from, (int) m->to - 1, m->after_persist, m->len, d };
        h->sent_by_type[m->data[2]]++;
}

static void persist(HNode *n, const RaftUpdate *u) {
        if (u->snapshot) {
                n->has_snap = true;
                free(n->snap.conf);
                n->snap = *u->snapshot;
                n->snap.conf = malloc(u->snapshot->conf_len + 1);
                memcpy(n->snap.conf, u->snapshot->conf, u->snapshot->conf_len);
                memcpy(n->snap_data, n->rx, n->rx_len);
                n->snap_len = n->rx_len;
                n->first = u->snapshot->index + 1;
                n->last = u->snapshot->index;
                n->applied = u->snapshot->index;
                n->n_installs++;
        }
        for (size_t i = 0; i < u->n_entries; i++) {
                const RaftEntry *e = &u->entries[i];
                ck_assert_uint_lt(e->index, H_MAX_LOG);
                ck_assert_uint_le(e->len, sizeof(n->log[0].data));
                n->log[e->index] = (HEntry) { e->term, e->type, e->len, {} };
                if (e->len)
                        memcpy(n->log[e->index].data, e->data, e->len);
                n->last = e->index;
        }
        if (u->hard_state_changed || u->n_entries)
                n->hs = u->hard_state;
}

void h_process(Harness *h, int i) {
        HNode *n = &h->node[i];
        while (n->up && raft_has_update(n->r)) {
                RaftUpdate u;
                raft_update_get(n->r, &u);
                for (size_t k = 0; k < u.n_chunks; k++) {
                        if (u.chunks[k].offset == 0)
                                n->rx_len = 0;
                        ck_assert_uint_eq(u.chunks[k].offset, n->rx_len);
                        memcpy(n->rx + n->rx_len, u.chunks[k].data, u.chunks[k].len);
                        n->rx_len += u.chunks[k].len;
                }
                persist(n, &u);
                uint64_t pi = 0, pt = 0;
                if (u.n_entries) {
                        pi = u.entries[u.n_entries - 1].index;
                        pt = u.entries[u.n_entries - 1].term;
                } else if (u.snapshot) {
                        pi = u.snapshot->index;
                        pt = u.snapshot->term;
                }
                for (size_t k = 0; k < u.n_messages; k++)
                        queue(h, i, &u.messages[k]);
                for (size_t k = 0; k < u.n_committed; k++) {
                        ck_assert_uint_eq(u.committed[k].index, n->applied + 1);
                        n->applied = u.committed[k].index;
                        n->applied_terms[n->applied] = u.committed[k].term;
                }
                for (size_t k = 0; k < u.n_reads && n->n_reads < 256; k++)
                        n->reads[n->n_reads++] = u.reads[k];
                for (size_t k = 0; k < u.n_events && n->n_events < 1024; k++)
                        n->events[n->n_events++] = u.events[k];
                raft_update_done(n->r);
                if (pi && n->hold) {
                        n->held_index = pi;
                        n->held_term = pt;
                } else if (pi)
                        raft_persisted(n->r, h->now, pi, pt);
        }
}

void h_process_all(Harness *h) {
        for (int i = 0; i < h->n; i++)
                h_process(h, i);
}

static void deliver_one(Harness *h, HMsg *m) {
        HNode *to = &h->node[m->to];
        if (to->up && (!h->filter || h->filter(h, m, h->filter_userdata))) {
                int k = raft_receive(to->r, h->now, (uint64_t) m->from + 1, m->data, m->len);
                ck_assert_int_eq(k, 0);
                h_process(h, m->to);
        }
        free(m->data);
}

size_t h_deliver(Harness *h) {
        size_t total = 0;
        for (int round = 0; round < 1000 && h->n_msgs > 0; round++) {
                size_t n = h->n_msgs;
                HMsg batch[H_MAX_MSGS];
                memcpy(batch, h->msgs, n * sizeof(HMsg));
                h->n_msgs = 0;
                for (size_t i = 0; i < n; i++)
                        deliver_one(h, &batch[i]);
                total += n;
        }
        return total;
}

size_t h_deliver_once(Harness *h) {
        size_t n = h->n_msgs;
        HMsg batch[H_MAX_MSGS];
        memcpy(batch, h->msgs, n * sizeof(HMsg));
        h->n_msgs = 0;
        for (size_t i = 0; i < n; i++)
                deliver_one(h, &batch[i]);
        return n;
}

size_t h_deliver_between(Harness *h, int from, int to) {
        size_t n = h->n_msgs, k = 0, got = 0;
        HMsg batch[H_MAX_MSGS];
        memcpy(batch, h->msgs, n * sizeof(HMsg));
        h->n_msgs = 0;
        for (size_t i = 0; i < n; i++) {
                if (batch[i].from == from && batch[i].to == to) {
                        deliver_one(h, &batch[i]);
                        got++;
                } else
                        batch[k++] = batch[i];
        }
        /* keep the others, before anything queued meanwhile */
        memmove(h->msgs + k, h->msgs, h->n_msgs * sizeof(HMsg));
        memcpy(h->msgs, batch, k * sizeof(HMsg));
        h->n_msgs += k;
        return got;
}

void h_drop_all(Harness *h) {
        for (size_t i = 0; i < h->n_msgs; i++)
                free(h->msgs[i].data);
        h->n_msgs = 0;
}

void h_advance(Harness *h, uint64_t now) {
        h->now = now;
        for (int i = 0; i < h->n; i++)
                if (h->node[i].up && raft_next_deadline(h->node[i].r) <= now) {
                        raft_tick(h->node[i].r, now);
                        h_process(h, i);
                }
}

void h_fire(Harness *h, int i) {
        uint64_t d = raft_next_deadline(h->node[i].r);
        ck_assert_uint_ne(d, USEC_INFINITY);
        h->now = MAX(h->now, d);
        raft_tick(h->node[i].r, h->now);
        h_process(h, i);
}

void h_elect(Harness *h, int i) {
        for (int tries = 0; tries < 20 && raft_role(h->node[i].r) != RAFT_LEADER; tries++) {
                while (raft_role(h->node[i].r) == RAFT_FOLLOWER)
                        h_fire(h, i);
                h_deliver(h);
        }
        ck_assert_int_eq(raft_role(h->node[i].r), RAFT_LEADER);
        h_deliver(h);
}

void h_release(Harness *h, int i) {
        HNode *n = &h->node[i];
        n->hold = false;
        if (n->held_index)
                raft_persisted(n->r, h->now, n->held_index, n->held_term);
        n->held_index = 0;
        h_process(h, i);
}

void h_crash(Harness *h, int i) {
        HNode *n = &h->node[i];
        n->r = raft_free(n->r);
        n->up = false;
}

void h_restart(Harness *h, int i) {
        start(h, &h->node[i]);
}

int h_leader(Harness *h) {
        int l = -1;
        for (int i = 0; i < h->n; i++)
                if (h->node[i].up && raft_role(h->node[i].r) == RAFT_LEADER &&
                    (l < 0 || raft_term(h->node[i].r) > raft_term(h->node[l].r)))
                        l = i;
        return l;
}

int h_propose(Harness *h, int i, const char *s, uint64_t *ret_index) {
        int k = raft_propose(h->node[i].r, h->now, s, strlen(s), ret_index, NULL);
        h_process(h, i);
        return k;
}

size_t h_count_queued(Harness *h, uint8_t type) {
        size_t c = 0;
        for (size_t i = 0; i < h->n_msgs; i++)
                c += h->msgs[i].data[2] == type;
        return c;
}

bool h_has_event(HNode *n, RaftEventType type) {
        for (size_t i = 0; i < n->n_events; i++)
                if (n->events[i].type == type)
                        return true;
        return false;
}

void h_snapshot(Harness *h, int i, uint64_t trailing) {
        HNode *n = &h->node[i];
        RaftSnapshotMeta m;
        ck_assert_int_eq(raft_snapshot_meta_at(n->r, n->applied, &m), 0);
        free(n->snap.conf);
        n->snap = m;
        n->has_snap = true;
        n->snap_len = 1000;
        memset(n->snap_data, 'S', n->snap_len);
        uint64_t first = m.index + 1 > trailing ? m.index + 1 - trailing : 1;
        first = MAX(first, n->first);
        ck_assert_int_eq(raft_compact(n->r, m.index, m.term, first), 0);
        n->first = first;
}
