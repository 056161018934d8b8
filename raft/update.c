#include "config.h"
/* update.c — the work the core hands to its caller (RaftUpdate).
 *
 * Everything the core decides between two raft_update_get() calls is kept
 * in the Raft struct: encoded messages in one buffer (r->out), events,
 * snapshot chunks, read results; entries to persist are the log suffix from
 * `unstable` on; committed entries are those between `applied` and
 * `commit`. raft_update_get() first flushes what was deferred to batch it
 * (appends for everything proposed since the last update, one read-index
 * heartbeat round, forwarded proposals and reads), then points the update
 * at all of it. Nothing is copied except the small arrays of descriptors;
 * the memory stays the core's until raft_update_done(). */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "lib/codec.h"
#include "raft/raft-internal.h"

static void output_clear(Raft *r) {
        for (size_t i = 0; i < r->n_chunks; i++)
                free((void *) r->chunks[i].data);
        r->n_chunks = 0;
        r->n_msgs = 0;
        r->n_events = 0;
        buf_clear(&r->out);
        if (r->install) {
                free(r->install_meta.conf);
                r->install_meta = (RaftSnapshotMeta) {};
                r->install = false;
        }
}

void update_release(Raft *r) {
        for (size_t i = 0; i < r->n_upd_committed; i++)
                if (r->upd_committed_owned[i])
                        raft_entry_done(&r->upd_committed[i]);
        r->n_upd_committed = 0;
        r->n_upd_reads = 0;
        output_clear(r);
}

/* ---- the update ---------------------------------------------------------- */

static void flush(Raft *r) {
        if (!r->need_flush)
                return;
        r->need_flush = false;
        if (r->role == RAFT_LEADER)
                replicate_flush(r);
        else if (r->n_fwd_props > 0 && r->leader) {
                size_t start = send_begin(r);
                RaftMsg hdr = { .type = RAFT_MSG_PROPOSE, .to = r->leader };
                /* Header plus the pre-encoded blobs. */
                hdr.from = r->id;
                hdr.term = r->term;
                if (raft_msg_encode(&hdr, &r->out) == 0) {
                        /* encode wrote n = 0; rewrite the count and body */
                        r->out.len -= 4;
                        if (put_u32(&r->out, r->n_fwd_props) == 0 &&
                            buf_append(&r->out, r->fwd_props.data, r->fwd_props.len) == 0) {
                                le32_store(r->out.data + start + 28,
                                           (uint32_t) (r->out.len - start - RAFT_MSG_HEADER_SIZE));
                                send_end(r, r->leader, start, false);
                        } else
                                r->out.len = start;
                }
                buf_clear(&r->fwd_props);
                r->n_fwd_props = 0;
        }
        reads_flush(r);
}

bool raft_has_update(const Raft *r) {
        return r->need_flush || r->hs_dirty || r->n_msgs > 0 || r->n_events > 0 ||
               r->n_chunks > 0 || r->install || r->log.unstable <= r->log.last_index ||
               (r->applied < r->commit && !r->apply_blocked) ||
               (r->n_ready > 0 && (r->ready[0].error || r->ready[0].index <= r->applied));
}

/* Appends committed entries [lo, hi) that left memory, read through the
 * source in one call, to the update (owned copies). Returns how many. */
static int read_old_committed(Raft *r, uint64_t lo, uint64_t hi, size_t max_bytes) {
        RaftEntry *es = NULL;
        size_t got = 0;
        int k = r->o.entries.entries(r->o.entries.userdata, lo, hi, max_bytes, &es, &got);
        if (k < 0)
                return k;
        for (size_t j = 0; j < got; j++)
                if (k >= 0 && (es[j].index != lo + j || got > hi - lo))
                        k = -EIO;
        if (k < 0 || got == 0) {
                for (size_t j = 0; j < got; j++)
                        raft_entry_done(&es[j]);
                free(es);
                return k < 0 ? k : -EIO;
        }
        for (size_t j = 0; j < got; j++) {
                r->upd_committed[r->n_upd_committed] = es[j];
                r->upd_committed_owned[r->n_upd_committed++] = true;
        }
        free(es);
        return (int) got;
}

/* Hands out committed entries (applied advances), at most max_apply_bytes
 * of payload per update. A storage error stops it until the next tick. */
static void update_committed(Raft *r) {
        size_t bytes = 0;
        uint64_t hi = r->commit;

        r->n_upd_committed = 0;
        if (hi <= r->applied || r->apply_blocked)
                return;
        size_t want = (size_t) MIN(hi - r->applied, (uint64_t) 1 << 16);
        if (grow((void **) &r->upd_committed, &r->cap_upd_committed, want, sizeof(RaftEntry)) < 0 ||
            grow((void **) &r->upd_committed_owned, &r->cap_upd_owned, want, sizeof(bool)) < 0)
                return;
        while (r->applied < hi && r->n_upd_committed < want && bytes < r->o.max_apply_bytes) {
                uint64_t i = r->applied + 1;
                const RaftEntry *e = rlog_mem(r, i);
                if (e) {
                        r->upd_committed[r->n_upd_committed] = *e;
                        r->upd_committed_owned[r->n_upd_committed++] = false;
                        bytes += e->len;
                        r->applied = i;
                        continue;
                }
                size_t before = r->n_upd_committed;
                uint64_t end = MIN(hi + 1, r->log.mem_first);
                end = MIN(end, i + (want - before));
                int k = read_old_committed(r, i, end, r->o.max_apply_bytes - bytes);
                if (k < 0) {
                        trace(r, "cannot read committed entry %" PRIu64 ": %d", i, k);
                        r->apply_blocked = true;
                        return;
                }
                for (size_t j = before; j < r->n_upd_committed; j++)
                        bytes += r->upd_committed[j].len;
                r->applied += (uint64_t) k;
        }
}

/* Read results whose index has been handed out, in FIFO order. */
static void update_reads(Raft *r) {
        size_t n = 0;
        while (n < r->n_ready && (r->ready[n].error || r->ready[n].index <= r->applied))
                n++;
        r->n_upd_reads = 0;
        if (n == 0 || grow((void **) &r->upd_reads, &r->cap_upd_reads, n, sizeof(RaftReadResult)) < 0)
                return;
        memcpy(r->upd_reads, r->ready, n * sizeof(RaftReadResult));
        memmove(r->ready, r->ready + n, (r->n_ready - n) * sizeof(RaftReadResult));
        r->n_ready -= n;
        r->n_upd_reads = n;
}

void raft_update_get(Raft *r, RaftUpdate *u) {
        Rlog *l = &r->log;

        assert(r->started && !r->in_update);
        flush(r);
        memset(u, 0, sizeof(*u));
        u->hard_state_changed = r->hs_dirty;
        u->hard_state = (RaftHardState) { r->term, r->vote, r->commit };
        r->hs_dirty = false;

        u->chunks = r->chunks;
        u->n_chunks = r->n_chunks;
        u->snapshot = r->install ? &r->install_meta : NULL;

        size_t n = l->unstable <= l->last_index ? (size_t) (l->last_index - l->unstable + 1) : 0;
        if (n > 0 && grow((void **) &r->upd_entries, &r->cap_upd_entries, n, sizeof(RaftEntry)) == 0) {
                for (size_t i = 0; i < n; i++)
                        r->upd_entries[i] = *rlog_mem(r, l->unstable + i);
                u->entries = r->upd_entries;
                u->n_entries = n;
                l->unstable = l->last_index + 1;
        }

        if (r->n_msgs > 0 &&
            grow((void **) &r->upd_msgs, &r->cap_upd_msgs, r->n_msgs, sizeof(RaftOutMessage)) == 0) {
                for (size_t i = 0; i < r->n_msgs; i++)
                        r->upd_msgs[i] = (RaftOutMessage) {
                                .to = r->msgs[i].to,
                                .after_persist = r->msgs[i].after_persist,
                                .len = r->msgs[i].len,
                                .data = r->out.data + r->msgs[i].off,
                        };
                u->messages = r->upd_msgs;
                u->n_messages = r->n_msgs;
        }

        update_committed(r);
        u->committed = r->upd_committed;
        u->n_committed = r->n_upd_committed;
        update_reads(r);
        u->reads = r->upd_reads;
        u->n_reads = r->n_upd_reads;
        u->events = r->events;
        u->n_events = r->n_events;
        r->in_update = true;
}

void raft_update_done(Raft *r) {
        assert(r->in_update);
        r->in_update = false;
        update_release(r);
        rlog_evict(r);
}
