#include "config.h"

/* plan.c — turns submissions into planned operations and updates the view.
 *
 * Each public call works in two phases: first everything that can fail is
 * checked and allocated (the Submission, its ops array, the encoded records,
 * payload copies for the cache, room in every array), then the view is
 * changed and the ops are recorded, which cannot fail. A call therefore
 * either changes nothing or is fully queued.
 *
 * Raft rules applied here: a conflicting suffix is removed before new
 * entries are appended (§5.3); a snapshot keeps the entries after it only when
 * the log holds its last entry with the same term, otherwise the log is
 * discarded (§7). */

#include <errno.h>
#include <string.h>

#include "lib/macro.h"
#include "store/format.h"
#include "store/store-internal.h"

static Submission *submission_new(StoreCompletionType type, uint64_t cookie, size_t cap_ops) {
        Submission *sub = calloc(1, sizeof *sub);

        if (!sub)
                return NULL;
        list_init(&sub->node);
        sub->type = type;
        sub->cookie = cookie;
        sub->cap_ops = cap_ops;
        if (cap_ops > 0) {
                sub->ops = calloc(cap_ops, sizeof *sub->ops);
                if (!sub->ops)
                        return mfree(sub);
        }
        return sub;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Submission *, submission_free);

static Op *op_add(Submission *sub, OpType type, uint64_t seg, uint64_t offset) {
        Op *op;

        assert(sub->n_ops < sub->cap_ops);
        op = &sub->ops[sub->n_ops++];
        *op = (Op) { .type = type, .seg = seg, .offset = offset };
        return op;
}

/* Hands a fully planned submission to the helper thread. Cannot fail, and
 * ownership of sub moves (writer_submit()): the public call has changed the
 * view already, so from here on it reports success. If the helper failed
 * after view_check_usable(), the submission is dropped unacknowledged like
 * any other the failure overtook, and the FAILED completion follows. */
static int enqueue(Store *s, Submission *sub, uint64_t mark) {
        Mark m = { .seq = s->next_seq++, .value = mark };
        int r;

        sub->seq = m.seq;
        /* room was reserved in phase one, so this cannot fail */
        r = deq_push(&s->marks, &m);
        assert(r == 0);
        s->pending_bytes += sub->bytes;
        writer_submit(s, sub);
        return 0;
}

static void view_delete_segment(Store *s, Submission *sub, size_t i) {
        op_add(sub, OP_DELETE_SEGMENT, s->segs[i].first, 0);
        view_seg_close(s, &s->segs[i]);
}

/* Removes entries >= k from the view (k <= last_index), planning the deletion
 * of later segments (last first) and the cut of the one holding k-1. */
static void plan_truncate(Store *s, Submission *sub, uint64_t k) {
        uint64_t deleted_from = s->last_index + 1;
        size_t drop = s->last_index - k + 1;

        while (s->n_segs > 0 && s->segs[s->n_segs - 1].first >= k) {
                deleted_from = s->segs[s->n_segs - 1].first;
                view_delete_segment(s, sub, s->n_segs - 1);
                s->n_segs--;
        }
        if (s->n_segs > 0 && k < deleted_from) {
                ViewSegment *seg = &s->segs[s->n_segs - 1];
                seg->end = view_idx(s, k)->offset;
                op_add(sub, OP_TRUNCATE_SEGMENT, seg->first, seg->end);
        }
        deq_drop_back(&s->idx, drop);
        view_cache_drop_back(s, MIN(s->cache.n, drop));
        s->last_index = k - 1;
        if (s->n_segs == 0)
                s->first_index = k;
        view_marks_clamp(s, k - 1);
}

/* Places one entry: rolls to a new segment when the current one would grow
 * past segment_size_bytes (a segment always takes at least one record), and
 * appends the encoded record to the WRITE op of its segment. */
static void plan_entry(Store *s, Submission *sub, const RaftEntry *e, uint8_t *copy) {
        uint64_t size = RECORD_HEADER_SIZE + (uint64_t) e->len;
        ViewSegment *seg = s->n_segs > 0 ? &s->segs[s->n_segs - 1] : NULL;
        Op *last = sub->n_ops > 0 ? &sub->ops[sub->n_ops - 1] : NULL;
        RaftEntry cached = { .term = e->term, .index = e->index, .type = e->type,
                             .len = e->len, .data = copy };
        uint8_t *p;
        int r;

        if (!seg || (seg->first <= s->last_index && seg->end + size > s->opts.segment_size_bytes)) {
                op_add(sub, OP_CREATE_SEGMENT, e->index, 0);
                s->segs[s->n_segs++] = (ViewSegment) { .first = e->index, .end = SEGMENT_HEADER_SIZE, .fd = -1 };
                seg = &s->segs[s->n_segs - 1];
                last = NULL;
                if (s->n_segs == 1)
                        s->first_index = e->index;
        }
        if (!last || last->type != OP_WRITE || last->seg != seg->first) {
                last = op_add(sub, OP_WRITE, seg->first, seg->end);
                last->rec_off = sub->records.len;
        }
        p = buf_extend(&sub->records, size);    /* reserved: cannot fail */
        assert(p);
        record_header_encode(e, p);
        if (e->len > 0)
                memcpy(p + RECORD_HEADER_SIZE, e->data, e->len);
        last->rec_len += size;

        r = view_add_index(s, e->term, (uint32_t) seg->end, e->len);
        assert(r == 0);
        r = deq_push(&s->cache, &cached);
        assert(r == 0);
        s->cache_bytes += e->len;
        seg->end += size;
        s->last_index = e->index;
}

static int append_validate(Store *s, const RaftEntry *entries, size_t n, uint64_t *ret_bytes) {
        uint64_t k = entries[0].index, prev_term, bytes = 0;
        int r;

        if (k == 0 || k > s->last_index + 1 || k < s->first_index ||
            (s->has_snap && k <= s->snap.index))
                return -EINVAL;
        r = store_term(s, k - 1, &prev_term);
        if (r < 0)
                return r == -ENOENT ? -EINVAL : r;
        for (size_t i = 0; i < n; i++) {
                const RaftEntry *e = &entries[i];
                if (e->index != k + i || e->term < prev_term || e->len > s->opts.entry_max_bytes ||
                    (e->len > 0 && !e->data) ||
                    (e->type != RAFT_ENTRY_NORMAL && e->type != RAFT_ENTRY_NOOP && e->type != RAFT_ENTRY_CONF))
                        return -EINVAL;
                prev_term = e->term;
                bytes += RECORD_HEADER_SIZE + (uint64_t) e->len;
        }
        *ret_bytes = bytes;
        return 0;
}

static void free_copies(uint8_t **copies, size_t n) {
        for (size_t i = 0; copies && i < n; i++)
                free(copies[i]);
        free(copies);
}

int store_append(Store *s, const RaftEntry *entries, size_t n, uint64_t cookie) {
        _cleanup_(submission_freep) Submission *sub = NULL;
        uint8_t **copies = NULL;
        uint64_t bytes;
        int r;

        assert(s);
        r = view_check_usable(s);
        if (r < 0)
                return r;
        if (n == 0 || !entries)
                return -EINVAL;
        r = append_validate(s, entries, n, &bytes);
        if (r < 0)
                return r;
        if (s->pending_bytes > 0 && s->pending_bytes + bytes > s->opts.pending_max_bytes)
                return -ENOBUFS;

        /* Phase one: everything that can fail. Ops: deletions and a cut,
         * then at most one CREATE and one WRITE per entry. */
        sub = submission_new(STORE_COMPLETION_ENTRIES, cookie, s->n_segs + 1 + 2 * n);
        if (!sub)
                return -ENOMEM;
        sub->bytes = bytes;
        copies = calloc(n, sizeof *copies);
        if (!copies || buf_reserve(&sub->records, bytes) < 0 ||
            deq_reserve(&s->idx, n) < 0 || deq_reserve(&s->cache, n) < 0 ||
            deq_reserve(&s->marks, 1) < 0 || view_segs_reserve(s, n) < 0)
                goto oom;
        for (size_t i = 0; i < n; i++)
                if (entries[i].len > 0) {
                        copies[i] = malloc(entries[i].len);
                        if (!copies[i])
                                goto oom;
                        memcpy(copies[i], entries[i].data, entries[i].len);
                }

        /* Phase two: change the view and record the ops. */
        if (entries[0].index <= s->last_index)
                plan_truncate(s, sub, entries[0].index);
        for (size_t i = 0; i < n; i++)
                plan_entry(s, sub, &entries[i], copies[i]);
        free(copies);
        return enqueue(s, TAKE_PTR(sub), s->last_index);
oom:
        free_copies(copies, n);
        return -ENOMEM;
}

int store_save_hard_state(Store *s, const RaftHardState *hs, uint64_t cookie) {
        Submission *sub;
        int r;

        assert(s);
        assert(hs);
        r = view_check_usable(s);
        if (r < 0)
                return r;
        sub = submission_new(STORE_COMPLETION_HARD_STATE, cookie, 1);
        if (!sub || deq_reserve(&s->marks, 1) < 0) {
                submission_free(sub);
                return -ENOMEM;
        }
        sub->hs = *hs;
        sub->bytes = META_SIZE;
        op_add(sub, OP_HARD_STATE, 0, 0);
        s->hs = *hs;
        return enqueue(s, sub, 0);
}

/* Compaction after a snapshot that matches the log: whole segments whose
 * entries are all <= index go, first to last. */
static void plan_compact(Store *s, Submission *sub, uint64_t index) {
        size_t k = 0;
        uint64_t new_first;

        while (k < s->n_segs) {
                uint64_t last = k + 1 < s->n_segs ? s->segs[k + 1].first - 1 : s->last_index;
                if (last > index)
                        break;
                view_delete_segment(s, sub, k);
                k++;
        }
        memmove(s->segs, s->segs + k, (s->n_segs - k) * sizeof *s->segs);
        s->n_segs -= k;
        new_first = s->n_segs > 0 ? s->segs[0].first : s->last_index + 1;
        deq_drop_front(&s->idx, new_first - s->first_index);
        if (new_first > view_cache_first(s))
                view_cache_drop_front(s, MIN(s->cache.n, new_first - view_cache_first(s)));
        s->first_index = new_first;
}

/* The snapshot does not match the log: every segment goes, last to first. */
static void plan_discard(Store *s, Submission *sub, uint64_t index) {
        while (s->n_segs > 0) {
                view_delete_segment(s, sub, s->n_segs - 1);
                s->n_segs--;
        }
        deq_drop_back(&s->idx, s->idx.n);
        view_cache_drop_back(s, s->cache.n);
        view_marks_clamp(s, s->has_snap ? MIN(s->snap.index, s->durable_index) : 0);
        s->last_index = index;
        s->first_index = index + 1;
}

int store_save_snapshot(Store *s, const RaftSnapshotMeta *meta, uint8_t *data, size_t len,
                        uint64_t cookie) {
        Submission *sub;
        uint8_t *conf = NULL;
        uint64_t term = 0;
        bool keep;
        int r;

        assert(s);
        assert(meta);
        r = view_check_usable(s);
        if (r < 0)
                return r;
        if (meta->index == 0 || (s->has_snap && meta->index < s->snap.index) ||
            meta->conf_len > s->opts.entry_max_bytes || (meta->conf_len > 0 && !meta->conf) ||
            (len > 0 && !data))
                return -EINVAL;
        keep = store_term(s, meta->index, &term) >= 0 && term == meta->term;

        sub = submission_new(STORE_COMPLETION_SNAPSHOT, cookie, s->n_segs + 1);
        conf = malloc(MAX(meta->conf_len, 1u));
        if (!sub || !conf || deq_reserve(&s->marks, 1) < 0)
                goto oom;
        sub->snap_meta = (RaftSnapshotMeta) { .index = meta->index, .term = meta->term,
                                              .conf_len = meta->conf_len };
        sub->snap_meta.conf = malloc(MAX(meta->conf_len, 1u));
        if (!sub->snap_meta.conf)
                goto oom;
        if (meta->conf_len > 0) {
                memcpy(sub->snap_meta.conf, meta->conf, meta->conf_len);
                memcpy(conf, meta->conf, meta->conf_len);
        }
        sub->bytes = len;
        op_add(sub, OP_SNAPSHOT, 0, 0);
        if (keep)
                plan_compact(s, sub, meta->index);
        else
                plan_discard(s, sub, meta->index);
        s->snap.index = meta->index;
        s->snap.term = meta->term;
        s->snap.conf_len = meta->conf_len;
        free(s->snap.conf);
        s->snap.conf = conf;
        s->has_snap = true;
        sub->snap_data = data;
        sub->snap_len = len;
        return enqueue(s, sub, keep ? 0 : meta->index);
oom:
        free(conf);
        submission_free(sub);
        return -ENOMEM;
}
