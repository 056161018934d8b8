#include "config.h"

/* store.c — the Store object: options, the loop thread's view of the log,
 * planning of writes, reads, completions.
 *
 * Planning. Every submission is turned into Ops (store-internal.h) here, on
 * the loop thread, against the view: which segment a record goes to and at
 * which offset, when to roll to a new segment, what a truncation or a
 * snapshot deletes. The helper thread only executes them. The view is thus
 * always exact (offsets of records not yet written included), and reads never
 * wait for the helper.
 *
 * Invariants of the view:
 *  - segs[] is sorted, segs[0].first == first_index when there are segments,
 *    and each segment holds [segs[i].first, segs[i+1].first);
 *  - idx holds one IndexEntry per index in [first_index, last_index];
 *  - cache holds the payloads of the last cache.n entries; every entry not
 *    yet durable is among them, so nothing is read from disk before it is
 *    written; durable entries leave the cache oldest first once cache_bytes
 *    exceeds cache_max_bytes;
 *  - durable_index <= last_index, and every entry <= durable_index is on
 *    disk (marks record what each submission makes durable; a truncation or
 *    a discarded log lowers them).
 *
 * Order of deletions (crash safety). A truncation deletes later segments
 * last-first and cuts the remaining one afterwards; a compaction deletes
 * covered segments first-first; a discarded log goes last-first. Each unlink
 * is followed by a directory fsync, so a crash leaves a chain of segments
 * that recovery accepts, never a gap, and never an older segment after a
 * newer one. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

#include "lib/codec.h"
#include "lib/crc32c.h"
#include "lib/macro.h"
#include "store/format.h"
#include "store/io.h"
#include "store/store-internal.h"

#define DEFAULT_SEGMENT_SIZE (UINT64_C(8) << 20)
#define DEFAULT_CACHE_MAX (UINT64_C(64) << 20)
#define DEFAULT_PENDING_MAX (UINT64_C(256) << 20)
#define DEFAULT_ENTRY_MAX (UINT32_C(64) << 20)

/* ---- Deq ------------------------------------------------------------------ */

int deq_reserve(Deq *d, size_t extra) {
        size_t need = d->n + extra, cap;
        uint8_t *p;

        if (d->head + need <= d->cap)
                return 0;
        if (need <= d->cap && d->head >= d->cap / 2) {
                memmove(d->p, d->p + d->head * d->esz, d->n * d->esz);
                d->head = 0;
                return 0;
        }
        cap = MAX(MAX(d->cap * 2, need), (size_t) 16);
        p = malloc(cap * d->esz);
        if (!p)
                return -ENOMEM;
        if (d->n > 0)
                memcpy(p, d->p + d->head * d->esz, d->n * d->esz);
        free(d->p);
        d->p = p;
        d->cap = cap;
        d->head = 0;
        return 0;
}

int deq_push(Deq *d, const void *e) {
        int r = deq_reserve(d, 1);
        if (r < 0)
                return r;
        memcpy(deq_at(d, d->n), e, d->esz);
        d->n++;
        return 0;
}

void deq_drop_front(Deq *d, size_t k) {
        assert(k <= d->n);
        d->head += k;
        d->n -= k;
        if (d->n == 0)
                d->head = 0;
}

void deq_drop_back(Deq *d, size_t k) {
        assert(k <= d->n);
        d->n -= k;
        if (d->n == 0)
                d->head = 0;
}

void deq_done(Deq *d) {
        d->p = mfree(d->p);
        d->head = d->n = d->cap = 0;
}

/* ---- small helpers ------------------------------------------------------ */

Submission *submission_free(Submission *sub) {
        if (!sub)
                return NULL;
        free(sub->ops);
        buf_done(&sub->records);
        free(sub->snap_meta.conf);
        free(sub->snap_data);
        return mfree(sub);
}

void store_add_note(Store *s, const char *fmt, ...) {
        char *line = NULL, *joined = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (k < 0)
                return;
        if (!s->recovery_note) {
                s->recovery_note = line;
                return;
        }
        if (asprintf(&joined, "%s; %s", s->recovery_note, line) >= 0) {
                free(s->recovery_note);
                s->recovery_note = joined;
        }
        free(line);
}

/* The segment holding `index` (which must be in the view). */
size_t view_seg_find(const Store *s, uint64_t index) {
        size_t lo = 0, hi = s->n_segs;

        assert(s->n_segs > 0);
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->segs[mid].first <= index)
                        lo = mid;
                else
                        hi = mid;
        }
        return lo;
}

int view_segs_reserve(Store *s, size_t extra) {
        ViewSegment *p;
        size_t cap;

        if (s->n_segs + extra <= s->cap_segs)
                return 0;
        cap = MAX(s->cap_segs * 2, s->n_segs + extra + 4);
        p = realloc(s->segs, cap * sizeof *p);
        if (!p)
                return -ENOMEM;
        s->segs = p;
        s->cap_segs = cap;
        return 0;
}

int view_add_segment(Store *s, uint64_t first, uint64_t end) {
        int r = view_segs_reserve(s, 1);
        if (r < 0)
                return r;
        s->segs[s->n_segs++] = (ViewSegment) { .first = first, .end = end, .fd = -1 };
        return 0;
}

int view_add_index(Store *s, uint64_t term, uint32_t offset, uint32_t len) {
        IndexEntry e = { .term = term, .offset = offset, .len = len };
        return deq_push(&s->idx, &e);
}

void view_seg_close(Store *s, ViewSegment *seg) {
        if (seg->fd >= 0)
                (void) s->io->close(s->io->userdata, seg->fd);
        seg->fd = -1;
}

void view_cache_drop_back(Store *s, size_t k) {
        for (size_t i = s->cache.n - k; i < s->cache.n; i++) {
                RaftEntry *e = deq_at(&s->cache, i);
                s->cache_bytes -= e->len;
                raft_entry_done(e);
        }
        deq_drop_back(&s->cache, k);
}

void view_cache_drop_front(Store *s, size_t k) {
        for (size_t i = 0; i < k; i++) {
                RaftEntry *e = deq_at(&s->cache, i);
                s->cache_bytes -= e->len;
                raft_entry_done(e);
        }
        deq_drop_front(&s->cache, k);
}

/* Evicts durable entries, oldest first, while the cache is over its limit. */
void view_cache_evict(Store *s) {
        size_t k = 0;
        uint64_t bytes = s->cache_bytes;

        while (k < s->cache.n && bytes > s->opts.cache_max_bytes &&
               view_cache_first(s) + k <= s->durable_index) {
                bytes -= ((RaftEntry *) deq_at(&s->cache, k))->len;
                k++;
        }
        view_cache_drop_front(s, k);
}

void view_marks_clamp(Store *s, uint64_t limit) {
        for (size_t i = 0; i < s->marks.n; i++) {
                Mark *m = deq_at(&s->marks, i);
                m->value = MIN(m->value, limit);
        }
        s->durable_index = MIN(s->durable_index, limit);
}

int view_check_usable(const Store *s) {
        Store *m = (Store *) s;
        if (s->failed < 0)
                return s->failed;
        return writer_failed(m);
}

/* ---- open / free -------------------------------------------------------- */

static int options_fill(StoreOptions *o, const StoreOptions *in) {
        *o = in ? *in : STORE_OPTIONS_INIT;
        if (o->segment_size_bytes == 0)
                o->segment_size_bytes = DEFAULT_SEGMENT_SIZE;
        if (o->cache_max_bytes == 0)
                o->cache_max_bytes = DEFAULT_CACHE_MAX;
        if (o->pending_max_bytes == 0)
                o->pending_max_bytes = DEFAULT_PENDING_MAX;
        if (o->entry_max_bytes == 0)
                o->entry_max_bytes = DEFAULT_ENTRY_MAX;
        if (!o->io)
                o->io = store_io_default();
        if (o->segment_size_bytes < 4096 || o->segment_size_bytes > (UINT64_C(1) << 30) ||
            o->entry_max_bytes > RECORD_MAX_PAYLOAD)
                return -EINVAL;
        return 0;
}

static void error_set(StoreError *e, int r, const char *dir, const char *fmt, ...) _printf_(4, 5);

static void error_set(StoreError *e, int r, const char *dir, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        if (!e)
                return;
        *e = (StoreError) { .offset = UINT64_MAX };
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        if (m && asprintf(&e->message, "%s: %s: %s", dir, m, strerror(-r)) < 0)
                e->message = NULL;
        free(m);
}

int store_open(const char *dir, const StoreOptions *opts, Store **ret, StoreError *ret_error) {
        Store *s;
        int r;

        assert(dir);
        assert(ret);
        if (ret_error)
                *ret_error = (StoreError) { .offset = UINT64_MAX };

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->dirfd = s->lock_fd = s->w.event_fd = s->w.cur_fd = -1;
        s->idx.esz = sizeof(IndexEntry);
        s->cache.esz = sizeof(RaftEntry);
        s->marks.esz = sizeof(Mark);
        s->next_seq = 1;
        list_init(&s->w.queue);
        list_init(&s->w.done);
        pthread_mutex_init(&s->w.lock, NULL);
        pthread_cond_init(&s->w.cond, NULL);

        r = options_fill(&s->opts, opts);
        if (r < 0) {
                error_set(ret_error, r, dir, "bad store options");
                goto fail;
        }
        s->io = s->opts.io;
        s->dir = strdup(dir);
        if (!s->dir) {
                r = -ENOMEM;
                goto fail;
        }
        r = store_recover(s, ret_error);
        if (r < 0)
                goto fail;
        s->durable_index = s->last_index;

        s->w.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->w.event_fd < 0) {
                r = -errno;
                error_set(ret_error, r, dir, "cannot create an eventfd");
                goto fail;
        }
        r = writer_start(s);
        if (r < 0) {
                error_set(ret_error, r, dir, "cannot start the storage thread");
                goto fail;
        }
        *ret = s;
        return 0;
fail:
        if (ret_error && !ret_error->message)
                error_set(ret_error, r, dir, "cannot open the store");
        store_free(s);
        return r;
}

Store *store_free(Store *s) {
        ListNode *n;
        List done = LIST_HEAD_INIT(done);

        if (!s)
                return NULL;
        writer_stop(s);
        writer_done(s);
        writer_take_done(s, &done);
        while ((n = list_first(&done))) {
                list_remove(n);
                submission_free(list_entry(n, Submission, node));
        }
        if (s->event_source)
                s->event_source = sd_event_source_disable_unref(s->event_source);
        for (size_t i = 0; i < s->n_segs; i++)
                view_seg_close(s, &s->segs[i]);
        free(s->segs);
        view_cache_drop_front(s, s->cache.n);
        deq_done(&s->cache);
        deq_done(&s->idx);
        deq_done(&s->marks);
        free(s->snap.conf);
        free(s->recovery_note);
        free(s->dir);
        safe_close(s->w.event_fd);
        safe_close(s->lock_fd);
        safe_close(s->dirfd);
        pthread_mutex_destroy(&s->w.lock);
        pthread_cond_destroy(&s->w.cond);
        return mfree(s);
}

void store_error_done(StoreError *e) {
        if (!e)
                return;
        e->file = mfree(e->file);
        e->message = mfree(e->message);
        e->offset = UINT64_MAX;
}

/* ---- state accessors ---------------------------------------------------- */

const RaftHardState *store_hard_state(const Store *s) {
        return &s->hs;
}

const RaftSnapshotMeta *store_snapshot_meta(const Store *s) {
        return s->has_snap ? &s->snap : NULL;
}

uint64_t store_first_index(const Store *s) {
        return s->first_index;
}

uint64_t store_last_index(const Store *s) {
        return s->last_index;
}

uint64_t store_durable_index(const Store *s) {
        return s->durable_index;
}

bool store_is_failed(const Store *s) {
        return view_check_usable(s) < 0;
}

int store_failed_error(const Store *s) {
        return view_check_usable(s);
}

uint64_t store_busy_since_usec(const Store *s) {
        return atomic_load(&((Store *) s)->w.busy_since_usec);
}

const char *store_recovery_note(const Store *s) {
        return s->recovery_note;
}

int store_term(const Store *s, uint64_t index, uint64_t *ret_term) {
        int r = view_check_usable(s);

        if (r < 0)
                return r;
        if (index == 0) {
                *ret_term = 0;
                return 0;
        }
        if (s->has_snap && index == s->snap.index) {
                *ret_term = s->snap.term;
                return 0;
        }
        if (index < s->first_index || index > s->last_index)
                return -ENOENT;
        *ret_term = view_idx(s, index)->term;
        return 0;
}

/* ---- completions -------------------------------------------------------- */

void store_set_completion_handler(Store *s, StoreCompletionFn fn, void *userdata) {
        s->fn = fn;
        s->userdata = userdata;
}

int store_get_fd(const Store *s) {
        return s->w.event_fd;
}

/* Submission `seq` is durable, and with it everything submitted before. */
static void advance_marks(Store *s, uint64_t seq) {
        size_t k = 0;

        while (k < s->marks.n) {
                const Mark *m = deq_at(&s->marks, k);
                if (m->seq > seq)
                        break;
                s->durable_index = MAX(s->durable_index, m->value);
                k++;
        }
        deq_drop_front(&s->marks, k);
        assert(s->durable_index <= s->last_index);
        view_cache_evict(s);
}

static StoreCompletion completion_of(Store *s, const Submission *sub) {
        StoreCompletion c = { .type = sub->type, .cookie = sub->cookie };

        switch (sub->type) {
        case STORE_COMPLETION_FAILED:
                c.error = sub->error;
                break;
        case STORE_COMPLETION_ENTRIES:
                c.index = s->durable_index;
                if (store_term(s, c.index, &c.term) < 0)
                        c.term = 0;
                break;
        case STORE_COMPLETION_HARD_STATE:
                c.hard_state = sub->hs;
                break;
        case STORE_COMPLETION_SNAPSHOT:
                c.index = sub->snap_meta.index;
                c.term = sub->snap_meta.term;
                break;
        }
        return c;
}

int store_dispatch_completions(Store *s) {
        List done = LIST_HEAD_INIT(done);
        uint64_t counter;
        ListNode *n;
        int count = 0;

        assert(s);
        /* Reset the eventfd first: a completion posted after this read pokes
         * it again, so none can be missed. */
        (void) !read(s->w.event_fd, &counter, sizeof counter);
        writer_take_done(s, &done);
        while ((n = list_first(&done))) {
                Submission *sub = list_entry(n, Submission, node);
                StoreCompletion c;

                list_remove(n);
                if (sub->type == STORE_COMPLETION_FAILED)
                        s->failed = sub->error;
                else {
                        s->pending_bytes -= sub->bytes;
                        advance_marks(s, sub->seq);
                }
                c = completion_of(s, sub);
                submission_free(sub);
                if (s->fn)
                        s->fn(s, &c, s->userdata);
                count++;
        }
        return count;
}

static int event_handler(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        (void) store_dispatch_completions(userdata);
        return 0;
}

int store_attach_event(Store *s, sd_event *event, int64_t priority) {
        sd_event_source *source = NULL;
        int r;

        if (s->event_source)
                return -EBUSY;
        r = sd_event_add_io(event, &source, s->w.event_fd, EPOLLIN, event_handler, s);
        if (r < 0)
                return r;
        r = sd_event_source_set_priority(source, priority);
        if (r < 0) {
                sd_event_source_unref(source);
                return r;
        }
        s->event_source = source;
        return 0;
}
