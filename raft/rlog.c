#include "config.h"
/* rlog.c — the entry log as the core sees it: a bounded in-memory window
 * (a ring holding the suffix [mem_first, last_index]) over the caller's
 * durable storage, read through RaftEntrySource for anything older.
 *
 * Invariants (see Rlog in raft-internal.h):
 *   first_index <= snap_index + 1,  mem_first == last_index + 1 - count,
 *   every entry >= unstable and every entry > min(applied, persisted) is in
 *   memory, so truncation (which only ever hits uncommitted entries, and
 *   applied <= commit) never needs the storage.
 * The core never reads through the source an entry that was not reported
 * durable: such entries never leave memory. */

#include <errno.h>
#include <string.h>

#include "raft/raft-internal.h"

void rlog_init(Rlog *l) {
        *l = (Rlog) { .first_index = 1, .mem_first = 1, .unstable = 1 };
}

static RaftEntry *slot(const Rlog *l, uint64_t index) {
        return &l->ring[(l->head + (size_t) (index - l->mem_first)) & (l->cap - 1)];
}

void rlog_done(Rlog *l) {
        for (uint64_t i = l->mem_first; i <= l->last_index && l->count > 0; i++)
                raft_entry_done(slot(l, i));
        free(l->ring);
        rlog_init(l);
}

const RaftEntry *rlog_mem(const Raft *r, uint64_t index) {
        const Rlog *l = &r->log;
        if (index < l->mem_first || index > l->last_index)
                return NULL;
        return slot(l, index);
}

int rlog_term(const Raft *r, uint64_t index, uint64_t *ret) {
        const Rlog *l = &r->log;

        if (index == 0) {
                *ret = 0;
                return 0;
        }
        if (index == l->snap_index) {
                *ret = l->snap_term;
                return 0;
        }
        if (index > l->last_index || index < l->first_index)
                return -ENOENT;
        if (index >= l->mem_first) {
                *ret = slot(l, index)->term;
                return 0;
        }
        uint64_t t;
        int k = r->o.entries.term(r->o.entries.userdata, index, &t);
        if (k < 0)
                return k;
        *ret = t;
        return 0;
}

bool rlog_match(const Raft *r, uint64_t index, uint64_t term) {
        uint64_t t;
        return rlog_term(r, index, &t) == 0 && t == term;
}

static int ring_grow(Rlog *l) {
        size_t ncap = l->cap ? l->cap * 2 : 256;
        RaftEntry *n = malloc(ncap * sizeof(RaftEntry));
        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < l->count; i++)
                n[i] = l->ring[(l->head + i) & (l->cap - 1)];
        free(l->ring);
        l->ring = n;
        l->cap = ncap;
        l->head = 0;
        return 0;
}

/* Appends one entry at last_index + 1; copies data. */
int rlog_append(Raft *r, uint64_t term, uint8_t type, const void *data, size_t len) {
        Rlog *l = &r->log;
        uint8_t *copy = NULL;

        if (l->count == l->cap && ring_grow(l) < 0)
                return -ENOMEM;
        if (len > 0) {
                copy = malloc(len);
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, data, len);
        }
        if (l->count == 0)
                l->mem_first = l->last_index + 1;
        l->last_index++;
        l->last_term = term;
        l->count++;
        *slot(l, l->last_index) = (RaftEntry) {
                .term = term, .index = l->last_index, .type = type,
                .len = (uint32_t) len, .data = copy,
        };
        l->mem_bytes += len;
        return 0;
}

/* Drops [from, last_index]. Only uncommitted entries are ever truncated, and
 * those are always in memory. */
void rlog_truncate(Raft *r, uint64_t from) {
        Rlog *l = &r->log;

        assert(from > r->commit && from >= l->mem_first && from <= l->last_index);
        while (l->last_index >= from) {
                RaftEntry *e = slot(l, l->last_index);
                l->mem_bytes -= e->len;
                raft_entry_done(e);
                l->count--;
                l->last_index--;
        }
        l->last_term = 0;
        (void) rlog_term(r, l->last_index, &l->last_term);
        l->unstable = MIN(l->unstable, from);
        l->persisted = MIN(l->persisted, from - 1);
}

/* Frees entries from the front of the window while it is over its limits and
 * the entry is both applied and durable. */
void rlog_evict(Raft *r) {
        Rlog *l = &r->log;
        uint64_t keep_from = MIN(r->applied, l->persisted) + 1;

        while (l->count > 0 && l->mem_first < keep_from && l->mem_first < l->unstable &&
               (l->count > r->o.mem_entries || l->mem_bytes > r->o.mem_bytes)) {
                RaftEntry *e = slot(l, l->mem_first);
                l->mem_bytes -= e->len;
                raft_entry_done(e);
                l->head = (l->head + 1) & (l->cap - 1);
                l->count--;
                l->mem_first++;
        }
}

/* After installing a snapshot: the log is empty and continues at index + 1. */
void rlog_reset(Raft *r, uint64_t snap_index, uint64_t snap_term) {
        Rlog *l = &r->log;
        while (l->count > 0) {
                raft_entry_done(slot(l, l->mem_first));
                l->head = (l->head + 1) & (l->cap - 1);
                l->count--;
                l->mem_first++;
        }
        l->mem_bytes = 0;
        l->head = 0;
        l->snap_index = snap_index;
        l->snap_term = snap_term;
        l->first_index = snap_index + 1;
        l->last_index = snap_index;
        l->last_term = snap_term;
        l->mem_first = snap_index + 1;
        l->unstable = snap_index + 1;
        l->persisted = MIN(l->persisted, snap_index);
}

/* Encodes entries [lo, hi_incl] for an append, stopping at max_n entries or
 * once max_bytes of payload is reached (at least one entry is always
 * encoded). -ENOENT when lo is no longer available (compacted). */
int rlog_encode_entries(Raft *r, Buf *b, uint64_t lo, uint64_t hi_incl, size_t max_bytes,
                        size_t max_n, uint32_t *ret_n, size_t *ret_bytes) {
        Rlog *l = &r->log;
        uint32_t n = 0;
        size_t bytes = 0;
        int k;

        if (lo < l->first_index || lo > l->last_index)
                return -ENOENT;
        hi_incl = MIN(hi_incl, l->last_index);
        uint64_t i = lo;
        /* Older part through the source, in one call. */
        if (i < l->mem_first) {
                RaftEntry *es = NULL;
                size_t got = 0;
                uint64_t hi = MIN(hi_incl + 1, l->mem_first);
                hi = MIN(hi, i + max_n);
                k = r->o.entries.entries(r->o.entries.userdata, i, hi, max_bytes, &es, &got);
                if (k < 0)
                        return k;
                for (size_t j = 0; j < got; j++) {
                        if (k >= 0 && (es[j].index != i || es[j].len > r->o.max_entry_bytes))
                                k = -EIO;
                        if (k >= 0)
                                k = raft_msg_append_add(b, &es[j]);
                        if (k >= 0) {
                                bytes += es[j].len;
                                n++;
                                i++;
                        }
                        raft_entry_done(&es[j]);
                }
                free(es);
                if (k < 0)
                        return k;
                if (got == 0)
                        return -EIO;
        }
        for (; i >= l->mem_first && i <= hi_incl && n < max_n; i++) {
                const RaftEntry *e = slot(l, i);
                if (n > 0 && bytes + e->len > max_bytes)
                        break;
                k = raft_msg_append_add(b, e);
                if (k < 0)
                        return k;
                bytes += e->len;
                n++;
        }
        *ret_n = n;
        *ret_bytes = bytes;
        return 0;
}
