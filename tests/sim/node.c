#include "config.h"
/* node.c — one simulated server: the raft core plus what the daemon would
 * do around it, with simulated I/O.
 *
 * Disk: every update that asks for writes becomes a Batch that is durable
 * only when its simulated sync completes (FIFO, random latency). Messages
 * marked after_persist ride in the batch and leave when it is durable;
 * then the core hears raft_persisted(). A crash loses every pending batch;
 * with some probability the oldest one is torn: a prefix of its entries
 * survives, its hard state does not (entries are written before the hard
 * state, as a store with a log and a separate metadata file would).
 *
 * State machine: the chain hash of the applied prefix plus a bitmap of
 * applied client operations (dedup of retries, as the daemon does with
 * author-tagged commands). Its snapshot is that state plus padding; the
 * simulator compacts the log every `snapshot_every` applied entries. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "raft/msg.h"
#include "tests/sim/sim.h"

/* ---- the disk ------------------------------------------------------------ */

static uint64_t disk_last(const Disk *d) {
        return d->first + d->n - 1;
}

static void entry_free(SimEntry *e) {
        free(e->data);
        e->data = NULL;
}

static void disk_truncate(Disk *d, uint64_t from) {
        while (d->n > 0 && disk_last(d) >= from)
                entry_free(&d->log[--d->n]);
}

static void disk_drop_before(Disk *d, uint64_t first) {
        size_t k = 0;
        while (k < d->n && d->first + k < first)
                entry_free(&d->log[k++]);
        if (d->n > k)
                memmove(d->log, d->log + k, (d->n - k) * sizeof(SimEntry));
        d->n -= k;
        d->first = d->n > 0 ? d->first + k : MAX(first, d->first + k);
}

static SimEntry entry_copy(uint64_t term, uint8_t type, const void *data, size_t len) {
        SimEntry e = { .term = term, .type = type, .len = (uint32_t) len };
        if (len > 0) {
                e.data = malloc(len);
                assert(e.data);
                memcpy(e.data, data, len);
        }
        return e;
}

/* Writes entries starting at `first`, truncating a conflicting suffix. */
static void disk_write(World *w, Node *n, uint64_t first, const SimEntry *es, size_t cnt) {
        Disk *d = &n->disk;
        for (size_t j = 0; j < cnt; j++) {
                uint64_t idx = first + j;
                if (idx < d->first)
                        continue;               /* compacted meanwhile */
                if (d->n > 0 && idx <= disk_last(d))
                        disk_truncate(d, idx);
                if (idx != d->first + d->n) {
                        check_fail(w, "node %d: write of entry %" PRIu64 " leaves a gap (disk %" PRIu64
                                   "..%" PRIu64 ")", n->idx, idx, d->first, d->first + d->n - 1);
                        return;
                }
                if (d->n == d->cap) {
                        d->cap = d->cap ? d->cap * 2 : 64;
                        d->log = realloc(d->log, d->cap * sizeof(SimEntry));
                        assert(d->log);
                }
                d->log[d->n++] = entry_copy(es[j].term, es[j].type, es[j].data, es[j].len);
        }
}

static void disk_free(Disk *d) {
        for (size_t i = 0; i < d->n; i++)
                entry_free(&d->log[i]);
        free(d->log);
        free(d->snap);
        free(d->meta.conf);
        *d = (Disk) { .first = 1 };
}

static void batch_free(Batch *b) {
        for (size_t i = 0; i < b->n; i++)
                entry_free(&b->entries[i]);
        free(b->entries);
        for (size_t i = 0; i < b->n_msgs; i++)
                free(b->msgs[i].data);
        free(b->msgs);
        free(b->snap);
        free(b->meta.conf);
        memset(b, 0, sizeof(*b));
}

/* ---- entry and snapshot sources for the core ------------------------------- */

static int src_term(void *userdata, uint64_t index, uint64_t *ret) {
        Node *n = userdata;
        Disk *d = &n->disk;
        if (d->n == 0 || index < d->first || index > disk_last(d))
                return -ENOENT;
        *ret = d->log[index - d->first].term;
        return 0;
}

static int src_entries(void *userdata, uint64_t lo, uint64_t hi, size_t max_bytes,
                       RaftEntry **ret, size_t *ret_n) {
        Node *n = userdata;
        Disk *d = &n->disk;
        size_t bytes = 0, k = 0;

        if (d->n == 0 || lo < d->first || lo > disk_last(d) || hi <= lo)
                return -ENOENT;
        hi = MIN(hi, disk_last(d) + 1);
        RaftEntry *es = calloc(hi - lo, sizeof(RaftEntry));
        assert(es);
        for (uint64_t i = lo; i < hi; i++) {
                const SimEntry *e = &d->log[i - d->first];
                if (k > 0 && bytes + e->len > max_bytes)
                        break;
                es[k] = (RaftEntry) { .term = e->term, .index = i, .type = e->type, .len = e->len };
                if (e->len > 0) {
                        es[k].data = malloc(e->len);
                        assert(es[k].data);
                        memcpy(es[k].data, e->data, e->len);
                }
                bytes += e->len;
                k++;
        }
        *ret = es;
        *ret_n = k;
        return 0;
}

static int src_snapshot(void *userdata, uint64_t index, uint64_t term, uint64_t offset,
                        void *buf, size_t max_len, size_t *ret_len, uint64_t *ret_total) {
        Node *n = userdata;
        Disk *d = &n->disk;
        if (!d->has_snap || d->meta.index != index || d->meta.term != term)
                return -ENOENT;
        if (offset > d->snap_len)
                return -EINVAL;
        size_t len = MIN(max_len, d->snap_len - offset);
        memcpy(buf, d->snap + offset, len);
        *ret_len = len;
        *ret_total = d->snap_len;
        return 0;
}

static void trace_line(void *userdata, const char *line) {
        Node *n = userdata;
        printf("  %10.6f %s\n", (double) n->world->now / 1e6, line);
}

/* ---- the state machine ------------------------------------------------------ */

static void sm_serialize(World *w, Node *n, uint8_t **ret, size_t *ret_len) {
        Buf b = BUF_INIT;
        (void) put_u64(&b, n->sm_index);
        (void) put_u64(&b, n->sm_hash);
        (void) put_bytes(&b, n->applied_ops, sizeof(n->applied_ops));
        for (size_t i = 0; i < w->c.snapshot_pad; i++)
                (void) put_u8(&b, (uint8_t) (i * 131 + n->sm_index));
        *ret = buf_steal(&b, ret_len);
}

static int sm_restore(Node *n, const uint8_t *data, size_t len) {
        Reader rd = reader_init(data, len);
        const uint8_t *ops;
        (void) get_u64(&rd, &n->sm_index);
        (void) get_u64(&rd, &n->sm_hash);
        if (get_bytes(&rd, sizeof(n->applied_ops), &ops) < 0)
                return -EBADMSG;
        memcpy(n->applied_ops, ops, sizeof(n->applied_ops));
        return 0;
}

static void sm_apply(World *w, Node *n, const RaftEntry *e) {
        if (e->index != n->sm_index + 1) {
                check_fail(w, "node %d: applies %" PRIu64 " after %" PRIu64, n->idx, e->index,
                           n->sm_index);
                return;
        }
        uint64_t h = chain_next(n->sm_hash, e->index, e->term, e->type, e->data, e->len);
        check_apply(w, n, e->index, e->term, h);
        n->sm_index = e->index;
        n->sm_hash = h;
        if (e->type == RAFT_ENTRY_NORMAL && e->len >= 8) {
                uint64_t op = le64_load(e->data);
                if (op < SIM_MAX_OPS) {
                        n->applied_ops[op / 8] |= (uint8_t) (1u << (op % 8));
                        w->ops[op].done = true;
                }
        }
}

static void maybe_snapshot(World *w, Node *n) {
        Disk *d = &n->disk;
        uint64_t snap = d->has_snap ? d->meta.index : 0;
        RaftSnapshotMeta meta;

        if (!w->c.snapshot_every || n->sm_index < snap + w->c.snapshot_every)
                return;
        int k = raft_snapshot_meta_at(n->r, n->sm_index, &meta);
        if (k < 0) {
                check_fail(w, "node %d: raft_snapshot_meta_at(%" PRIu64 "): %s", n->idx, n->sm_index,
                           strerror(-k));
                return;
        }
        free(d->snap);
        free(d->meta.conf);
        sm_serialize(w, n, &d->snap, &d->snap_len);
        d->meta = meta;
        d->has_snap = true;
        uint64_t first = MAX(d->first, meta.index + 1 - MIN(w->c.snapshot_trailing, meta.index));
        k = raft_compact(n->r, meta.index, meta.term, first);
        if (k < 0) {
                check_fail(w, "node %d: raft_compact(%" PRIu64 "): %s", n->idx, meta.index, strerror(-k));
                return;
        }
        disk_drop_before(d, first);
        w->n_snapshots++;
}

/* ---- the mirror of the core's log -------------------------------------- */

static uint64_t mirror_last(const Node *n) {
        return n->mir_base + n->mir_n;
}

static uint64_t mirror_chain(const Node *n, uint64_t index) {
        return index == n->mir_base ? n->mir_base_hash : n->mir_chain[index - n->mir_base - 1];
}

static void mirror_reset(Node *n, uint64_t base, uint64_t base_hash) {
        n->mir_base = base;
        n->mir_base_hash = base_hash;
        n->mir_n = 0;
}

static void mirror_push(World *w, Node *n, uint64_t term, uint8_t type, const void *data, size_t len) {
        uint64_t idx = mirror_last(n) + 1;
        uint64_t h = chain_next(mirror_chain(n, idx - 1), idx, term, type, data, len);
        if (n->mir_n == n->mir_cap) {
                n->mir_cap = n->mir_cap ? n->mir_cap * 2 : 256;
                n->mir_term = realloc(n->mir_term, n->mir_cap * sizeof(uint64_t));
                n->mir_chain = realloc(n->mir_chain, n->mir_cap * sizeof(uint64_t));
                assert(n->mir_term && n->mir_chain);
        }
        n->mir_term[n->mir_n] = term;
        n->mir_chain[n->mir_n] = h;
        n->mir_n++;
        check_mirror_append(w, n, idx, term, h);
}

uint64_t node_mirror_chain_at(const Node *n, uint64_t index, bool *ok);
uint64_t node_mirror_chain_at(const Node *n, uint64_t index, bool *ok) {
        *ok = index >= n->mir_base && index <= mirror_last(n);
        return *ok ? mirror_chain(n, index) : 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

int node_start(World *w, Node *n) {
        Disk *d = &n->disk;
        RaftOptions o = w->c.opts;

        n->world = w;
        o.id = n->id;
        o.seed = mix64(w->seed ^ mix64((uint64_t) n->idx * 977 + n->restarts));
        o.entries = (RaftEntrySource) { n, src_term, src_entries };
        o.snapshot = (RaftSnapshotSource) { n, src_snapshot };
        if (w->verbose) {
                o.trace = trace_line;
                o.trace_userdata = n;
        }
        /* A log that ends before the snapshot is useless: start after it. */
        if (d->has_snap && (d->n == 0 || disk_last(d) < d->meta.index)) {
                disk_truncate(d, 0);
                d->first = d->meta.index + 1;
        }
        memset(n->applied_ops, 0, sizeof(n->applied_ops));
        n->sm_index = n->sm_hash = 0;
        if (d->has_snap && sm_restore(n, d->snap, d->snap_len) < 0) {
                check_fail(w, "node %d: bad snapshot on disk", n->idx);
                return -EBADMSG;
        }
        mirror_reset(n, n->sm_index, n->sm_hash);
        for (size_t i = 0; i < d->n; i++)
                if (d->first + i > n->mir_base)
                        mirror_push(w, n, d->log[i].term, d->log[i].type, d->log[i].data, d->log[i].len);

        RaftStartState st = {
                .hard_state = d->hs,
                .snapshot = d->has_snap ? &d->meta : NULL,
                .first_index = d->first,
                .last_index = d->n > 0 ? disk_last(d) : (d->has_snap ? d->meta.index : 0),
        };
        int k = raft_new(&o, &n->r);
        if (k < 0) {
                check_fail(w, "node %d: raft_new: %s", n->idx, strerror(-k));
                return k;
        }
        n->up = true;
        n->leader_term = 0;
        n->timer_at = USEC_INFINITY;
        k = raft_start(n->r, w->now, &st);
        if (k < 0) {
                check_fail(w, "node %d: raft_start: %s", n->idx, strerror(-k));
                return k;
        }
        world_hash(w, 0x5157 + n->idx);
        node_process(w, n);
        return 0;
}

void node_crash(World *w, Node *n) {
        if (!n->up)
                return;
        if (n->n_pending > 0 && world_range(w, 1, 100) <= w->c.tear_pc) {
                Batch *b = &n->pending[0];
                if (!b->install && b->n > 0) {
                        size_t keep = (size_t) world_range(w, 0, b->n - 1);
                        disk_write(w, n, b->first, b->entries, keep);
                }
        }
        for (size_t i = 0; i < n->n_pending; i++)
                batch_free(&n->pending[i]);
        n->n_pending = 0;
        n->disk_busy_until = 0;
        n->r = raft_free(n->r);
        free(n->rx);
        n->rx = NULL;
        n->rx_len = 0;
        n->up = false;
        n->incarnation++;
        n->restarts++;
        n->leader_term = 0;
        n->timer_gen++;
        w->n_crashes++;
        world_hash(w, 0xc4a54 + n->idx);
}

void node_free(Node *n) {
        for (size_t i = 0; i < n->n_pending; i++)
                batch_free(&n->pending[i]);
        free(n->pending);
        n->r = raft_free(n->r);
        disk_free(&n->disk);
        free(n->rx);
        free(n->mir_term);
        free(n->mir_chain);
}

/* ---- the update ---------------------------------------------------------- */

static void write_chunk(World *w, Node *n, const RaftSnapshotChunk *c) {
        if (c->offset == 0)
                n->rx_len = 0;
        if (c->offset != n->rx_len) {
                check_fail(w, "node %d: snapshot chunk at %" PRIu64 " after %zu bytes", n->idx,
                           c->offset, n->rx_len);
                return;
        }
        n->rx = realloc(n->rx, n->rx_len + c->len + 1);
        assert(n->rx);
        memcpy(n->rx + n->rx_len, c->data, c->len);
        n->rx_len += c->len;
}

static void take_install(World *w, Node *n, const RaftSnapshotMeta *m, Batch *b) {
        b->install = true;
        b->meta = *m;
        b->meta.conf = malloc(m->conf_len + 1);
        assert(b->meta.conf);
        memcpy(b->meta.conf, m->conf, m->conf_len);
        b->snap = malloc(n->rx_len + 1);
        assert(b->snap);
        memcpy(b->snap, n->rx, n->rx_len);
        b->snap_len = n->rx_len;
        if (sm_restore(n, n->rx, n->rx_len) < 0 || n->sm_index != m->index) {
                check_fail(w, "node %d: installed snapshot does not match its metadata", n->idx);
                return;
        }
        check_apply(w, n, n->sm_index, m->term, n->sm_hash);
        mirror_reset(n, n->sm_index, n->sm_hash);
        b->persist_index = m->index;
        b->persist_term = m->term;
        w->n_installs++;
}

static void take_entries(World *w, Node *n, const RaftUpdate *u, Batch *b) {
        uint64_t first = u->entries[0].index;
        if (first <= mirror_last(n)) {
                if (n->leader_term && n->leader_term == u->hard_state.term)
                        check_fail(w, "Leader Append-Only: node %d (leader of term %" PRIu64
                                   ") truncates its log at %" PRIu64, n->idx, n->leader_term, first);
                if (first <= n->mir_base)
                        check_fail(w, "node %d: truncation at %" PRIu64 " below its snapshot %" PRIu64,
                                   n->idx, first, n->mir_base);
                else
                        n->mir_n = first - n->mir_base - 1;
        } else if (first != mirror_last(n) + 1)
                check_fail(w, "node %d: entries from %" PRIu64 " after last %" PRIu64, n->idx, first,
                           mirror_last(n));
        b->first = first;
        b->entries = calloc(u->n_entries, sizeof(SimEntry));
        assert(b->entries);
        for (size_t i = 0; i < u->n_entries; i++) {
                const RaftEntry *e = &u->entries[i];
                if (e->index != first + i)
                        check_fail(w, "node %d: entries not consecutive", n->idx);
                b->entries[i] = entry_copy(e->term, e->type, e->data, e->len);
                mirror_push(w, n, e->term, e->type, e->data, e->len);
        }
        b->n = u->n_entries;
        b->persist_index = u->entries[u->n_entries - 1].index;
        b->persist_term = u->entries[u->n_entries - 1].term;
}

static void take_messages(World *w, Node *n, const RaftUpdate *u, Batch *b) {
        for (size_t i = 0; i < u->n_messages; i++) {
                const RaftOutMessage *m = &u->messages[i];
                int to = -1;
                for (int j = 0; j < w->c.n_nodes; j++)
                        if (w->nodes[j].id == m->to)
                                to = j;
                world_hash(w, mix64(m->to) ^ m->len ^ ((uint64_t) m->after_persist << 40));
                if (to < 0)
                        continue;
                if (!m->after_persist) {
                        net_send(w, n->idx, to, m->data, m->len);
                        continue;
                }
                b->msgs = realloc(b->msgs, (b->n_msgs + 1) * sizeof(SimMsg));
                assert(b->msgs);
                uint8_t *copy = malloc(m->len);
                assert(copy);
                memcpy(copy, m->data, m->len);
                b->msgs[b->n_msgs++] = (SimMsg) { to, m->len, copy };
        }
}

static void take_events(World *w, Node *n, const RaftUpdate *u) {
        uint64_t old_term = n->leader_term;
        for (size_t i = 0; i < u->n_events; i++) {
                const RaftEvent *e = &u->events[i];
                world_hash(w, mix64(e->type * 31 + e->term) ^ e->role ^ (e->leader << 8));
                if (e->type != RAFT_EVENT_ROLE)
                        continue;
                if (e->role == RAFT_LEADER) {
                        n->leader_term = e->term;
                        /* What it knew committed before leading is not its doing. */
                        if (e->term != old_term)
                                n->lead_commit_base = u->hard_state.commit;
                        w->n_elections++;
                        check_became_leader(w, n, e->term);
                } else
                        n->leader_term = 0;
        }
}

static void push_batch(World *w, Node *n, Batch *b) {
        if (n->n_pending == n->cap_pending) {
                n->cap_pending = n->cap_pending ? n->cap_pending * 2 : 8;
                n->pending = realloc(n->pending, n->cap_pending * sizeof(Batch));
                assert(n->pending);
        }
        /* Group commit: a write issued while earlier ones are in flight
         * completes with them at the earliest (one fsync covers all). A
         * batch that writes nothing only keeps its place in the order. */
        bool writes = b->has_hs || b->install || b->n > 0;
        uint64_t d = writes ? world_range(w, w->c.disk_min_usec, w->c.disk_max_usec) : 0;
        b->done_at = MAX(n->disk_busy_until, w->now + d);
        n->disk_busy_until = b->done_at;
        n->pending[n->n_pending++] = *b;
        world_schedule(w, b->done_at, EV_DISK, n->idx, -1, NULL, 0, n->incarnation);
}

static void process_one(World *w, Node *n) {
        RaftUpdate u;
        Batch b = {};
        bool need = false;

        raft_update_get(n->r, &u);
        world_hash(w, mix64(u.n_entries ^ (u.n_messages << 16) ^ (u.n_committed << 32)) ^
                      u.hard_state.term ^ (u.hard_state.commit << 20));
        for (size_t i = 0; i < u.n_chunks; i++)
                write_chunk(w, n, &u.chunks[i]);
        if (u.snapshot) {
                take_install(w, n, u.snapshot, &b);
                need = true;
        }
        if (u.n_entries > 0) {
                take_entries(w, n, &u, &b);
                need = true;
        }
        take_events(w, n, &u);
        if (n->leader_term && raft_role(n->r) == RAFT_LEADER)
                if (u.hard_state.commit > n->lead_commit_base)
                        check_leader_commit(w, n, n->leader_term, u.hard_state.commit);
        take_messages(w, n, &u, &b);
        need = need || u.hard_state_changed || b.n_msgs > 0 || u.n_chunks > 0;
        if (u.hard_state_changed || b.n > 0 || b.install) {
                /* The commit index rides along with any write (it may lag). */
                b.has_hs = true;
                b.hs = u.hard_state;
        }
        for (size_t i = 0; i < u.n_committed; i++)
                sm_apply(w, n, &u.committed[i]);
        for (size_t i = 0; i < u.n_reads; i++)
                check_read(w, n, &u.reads[i]);
        raft_update_done(n->r);
        if (need)
                push_batch(w, n, &b);
}

void node_process(World *w, Node *n) {
        unsigned guard = 0;
        while (n->up && raft_has_update(n->r) && !w->failed) {
                process_one(w, n);
                if (++guard > 100000) {
                        check_fail(w, "node %d: raft_has_update() never becomes false", n->idx);
                        return;
                }
        }
        if (!n->up || w->failed)
                return;
        maybe_snapshot(w, n);
        uint64_t d = raft_next_deadline(n->r);
        if (d != n->timer_at) {
                n->timer_at = d;
                n->timer_gen++;
                if (d != USEC_INFINITY)
                        world_schedule(w, MAX(d, w->now), EV_TIMER, n->idx, -1, NULL, 0, n->timer_gen);
        }
}

void node_tick(World *w, Node *n, uint64_t gen) {
        if (!n->up || gen != n->timer_gen)
                return;
        n->timer_at = USEC_INFINITY;
        raft_tick(n->r, w->now);
        node_process(w, n);
}

void node_disk_done(World *w, Node *n) {
        if (!n->up || n->n_pending == 0)
                return;
        Batch b = n->pending[0];
        memmove(n->pending, n->pending + 1, (n->n_pending - 1) * sizeof(Batch));
        n->n_pending--;
        Disk *d = &n->disk;
        if (b.install) {
                free(d->snap);
                free(d->meta.conf);
                d->snap = TAKE_PTR(b.snap);
                d->snap_len = b.snap_len;
                d->meta = b.meta;
                b.meta.conf = NULL;
                d->has_snap = true;
                disk_truncate(d, 0);
                d->first = d->meta.index + 1;
        }
        if (b.n > 0)
                disk_write(w, n, b.first, b.entries, b.n);
        if (b.has_hs) {
                check_hard_state(w, n, &b.hs);
                d->hs = b.hs;
        }
        for (size_t i = 0; i < b.n_msgs; i++)
                net_send(w, n->idx, b.msgs[i].to, b.msgs[i].data, b.msgs[i].len);
        if (b.persist_index)
                raft_persisted(n->r, w->now, b.persist_index, b.persist_term);
        batch_free(&b);
        node_process(w, n);
}

void node_deliver(World *w, Node *n, int from, const uint8_t *data, size_t len) {
        if (!n->up || w->blocked[from][n->idx])
                return;
        int k = raft_receive(n->r, w->now, w->nodes[from].id, data, len);
        if (k < 0) {
                check_fail(w, "node %d: raft_receive of a %s from %d: %s", n->idx, raft_msg_type_to_string(data[2]), from, strerror(-k));
                return;
        }
        node_process(w, n);
}

void net_send(World *w, int from, int to, const uint8_t *data, size_t len) {
        w->n_msgs++;
        /* A grant counts as given once it leaves (it left durable state behind). */
        check_vote_sent(w, &w->nodes[from], data, len);
        if (w->blocked[from][to])
                return;
        if (!w->heal_phase && world_chance_pm(w, w->c.drop_pm))
                return;
        int copies = (!w->heal_phase && world_chance_pm(w, w->c.dup_pm)) ? 2 : 1;
        for (int i = 0; i < copies; i++) {
                uint8_t *copy = malloc(len);
                assert(copy);
                memcpy(copy, data, len);
                world_schedule(w, w->now + world_range(w, w->c.net_min_usec, w->c.net_max_usec),
                               EV_MSG, to, from, copy, len, 0);
        }
}
