#include "config.h"
/* snapshot.c — log compaction and InstallSnapshot in chunks (Raft paper §7,
 * thesis §5).
 *
 * The state machine's snapshot is produced and stored by the caller; the
 * core only records its (index, term) with raft_compact() and, on a leader,
 * reads it back in chunks of snapshot_chunk_bytes through RaftSnapshotSource
 * when a follower needs entries that were compacted away. Transfer is
 * stop-and-wait: one chunk in flight per follower, each answered with the
 * next offset the follower expects (so lost, duplicated or reordered chunks
 * resolve themselves); an unanswered chunk is resent after two heartbeat
 * intervals. Every chunk counts as contact with the leader, so a long
 * transfer does not make the follower time out.
 *
 * The follower hands each chunk to the caller (RaftUpdate.chunks) as it
 * arrives instead of assembling the snapshot in memory, and asks for the
 * install once the last byte is in. Installing replaces the whole log. */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "raft/raft-internal.h"

void snapshot_rx_clear(Raft *r) {
        free(r->rx.conf);
        r->rx = (SnapshotRx) {};
}

void snapshot_send(Raft *r, Progress *p) {
        size_t len = 0, chunk = r->o.snapshot_chunk_bytes;
        uint64_t total = 0;
        Buf conf = BUF_INIT;

        if (!r->o.snapshot.read || r->log.snap_index == 0)
                return;
        if (p->snap_index != r->log.snap_index || p->snap_term != r->log.snap_term) {
                p->snap_index = r->log.snap_index;
                p->snap_term = r->log.snap_term;
                p->snap_offset = 0;
        }
        /* Whatever happens below, wait before trying again. */
        p->snap_waiting = true;
        p->snap_sent_at = r->now;
        if (r->scratch_len < chunk) {
                uint8_t *s = realloc(r->scratch, chunk);
                if (!s)
                        return;
                r->scratch = s;
                r->scratch_len = chunk;
        }
        int k = r->o.snapshot.read(r->o.snapshot.userdata, p->snap_index, p->snap_term,
                                   p->snap_offset, r->scratch, chunk, &len, &total);
        if (k < 0 || len > chunk || p->snap_offset + len > total ||
            (len == 0 && p->snap_offset < total)) {
                trace(r, "snapshot %" PRIu64 " unreadable: %d", p->snap_index, k);
                return;
        }
        if (raft_config_encode(conf_at(r, p->snap_index), &conf) < 0)
                return;
        RaftMsg m = {
                .type = RAFT_MSG_SNAPSHOT, .to = p->id,
                .flags = p->snap_offset + len == total ? RAFT_MSG_F_DONE : 0,
                .index = p->snap_index, .snap_term = p->snap_term,
                .conf = conf.data, .conf_len = conf.len,
                .total = total, .offset = p->snap_offset, .data = r->scratch, .data_len = len,
        };
        send_msg(r, &m, false);
        buf_done(&conf);
}

static int push_chunk(Raft *r, const RaftMsg *m) {
        uint8_t *copy = NULL;
        if (grow((void **) &r->chunks, &r->cap_chunks, r->n_chunks + 1, sizeof(RaftSnapshotChunk)) < 0)
                return -ENOMEM;
        if (m->data_len > 0) {
                copy = malloc(m->data_len);
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, m->data, m->data_len);
        }
        r->chunks[r->n_chunks++] = (RaftSnapshotChunk) {
                .index = m->index, .term = m->snap_term, .offset = m->offset,
                .len = m->data_len, .data = copy,
        };
        return 0;
}

/* The last chunk is in: the snapshot replaces our log and state machine. */
static int install(Raft *r, const RaftMsg *m) {
        RaftConfig c;
        uint8_t *conf = NULL;

        if (raft_config_decode(m->conf, m->conf_len, &c) < 0)
                return -EBADMSG;
        raft_config_done(&c);
        if (m->conf_len > 0) {
                conf = malloc(m->conf_len);
                if (!conf)
                        return -ENOMEM;
                memcpy(conf, m->conf, m->conf_len);
        }
        int k = conf_reset(r, m->index, m->conf, m->conf_len);
        if (k < 0) {
                free(conf);
                return k;
        }
        rlog_reset(r, m->index, m->snap_term);
        r->commit = MAX(r->commit, m->index);
        r->applied = m->index;
        if (r->install)
                free(r->install_meta.conf);
        r->install = true;
        r->install_meta = (RaftSnapshotMeta) {
                .index = m->index, .term = m->snap_term,
                .conf_len = (uint32_t) m->conf_len, .conf = conf,
        };
        trace(r, "installed snapshot %" PRIu64 "/%" PRIu64, m->index, m->snap_term);
        return 0;
}

void handle_snapshot(Raft *r, const RaftMsg *m) {
        RaftMsg resp = {
                .type = RAFT_MSG_SNAPSHOT_RESP, .to = m->from,
                .index = m->index, .snap_term = m->snap_term,
        };
        SnapshotRx *rx = &r->rx;

        if (m->index <= r->commit || rlog_match(r, m->index, m->snap_term)) {
                /* We hold everything it covers already (§7: retain the
                 * entries following it). */
                if (m->index > r->commit) {
                        uint64_t old = r->commit;
                        r->commit = m->index;
                        commit_advanced(r, old);
                }
                snapshot_rx_clear(r);
                resp.flags = RAFT_MSG_F_DONE;
                send_msg(r, &resp, true);
                return;
        }
        if (m->offset == 0) {
                snapshot_rx_clear(r);
                *rx = (SnapshotRx) {
                        .active = true, .index = m->index, .term = m->snap_term, .total = m->total,
                };
        } else if (!rx->active || rx->index != m->index || rx->term != m->snap_term ||
                   rx->total != m->total) {
                resp.offset = 0;        /* start over */
                send_msg(r, &resp, true);
                return;
        }
        if (m->offset != rx->expected) {
                resp.offset = rx->expected;
                send_msg(r, &resp, true);
                return;
        }
        if (push_chunk(r, m) < 0)
                return;         /* no answer: the leader resends */
        rx->expected += m->data_len;
        resp.offset = rx->expected;
        if (m->flags & RAFT_MSG_F_DONE) {
                int k = rx->expected == rx->total ? install(r, m) : -EBADMSG;
                snapshot_rx_clear(r);
                if (k == -ENOMEM)
                        return;
                resp.flags = k < 0 ? RAFT_MSG_F_REJECT : RAFT_MSG_F_DONE;
        }
        send_msg(r, &resp, true);
}

void handle_snapshot_resp(Raft *r, const RaftMsg *m) {
        Progress *p = peer_find(r, m->from);
        if (!p)
                return;
        p->last_contact = r->now;
        p->recent_active = true;
        if (m->flags & RAFT_MSG_F_DONE) {
                if (m->index > r->log.last_index)
                        return;
                p->match = MAX(p->match, m->index);
                p->last_progress = r->now;
                if (p->state == RAFT_PEER_SNAPSHOT || p->next <= p->match)
                        progress_become_probe(r, p);
                maybe_commit(r);
                if (r->role == RAFT_LEADER) {
                        transfer_check(r, p);
                        membership_progress(r, p);
                }
                return;
        }
        if (p->state != RAFT_PEER_SNAPSHOT || m->index != p->snap_index ||
            m->snap_term != p->snap_term)
                return;
        if (m->flags & RAFT_MSG_F_REJECT) {
                progress_become_probe(r, p);
                return;
        }
        p->snap_offset = m->offset;
        p->snap_waiting = false;
        r->need_flush = true;
}

int raft_compact(Raft *r, uint64_t index, uint64_t term, uint64_t first_index) {
        Rlog *l = &r->log;
        uint64_t t;

        assert(r->started && !r->in_update);
        if (index > r->applied || index < l->snap_index || first_index > index + 1 ||
            rlog_term(r, index, &t) < 0 || t != term)
                return -EINVAL;
        if (index > l->snap_index) {
                conf_compact(r, index);
                l->snap_index = index;
                l->snap_term = term;
        }
        l->first_index = MAX(l->first_index, first_index);
        trace(r, "compacted to %" PRIu64 " (first kept %" PRIu64 ")", index, l->first_index);
        return 0;
}

int raft_snapshot_meta_at(const Raft *r, uint64_t index, RaftSnapshotMeta *ret) {
        Buf b = BUF_INIT;
        uint64_t t;

        if (index < r->log.snap_index || index > r->applied || index == 0)
                return -EINVAL;
        int k = rlog_term(r, index, &t);
        if (k < 0)
                return k == -ENOENT ? -EINVAL : k;
        k = raft_config_encode(conf_at(r, index), &b);
        if (k < 0)
                return k;
        size_t len;
        uint8_t *conf = buf_steal(&b, &len);
        *ret = (RaftSnapshotMeta) { .index = index, .term = t, .conf_len = (uint32_t) len, .conf = conf };
        return 0;
}
