/* store-internal.h — the Store structure shared by the files of store/.
 *
 * Two threads touch a Store:
 *  - the loop thread owns everything outside `Writer` and the Writer fields
 *    marked "loop"; it plans every change of the files (which segment, which
 *    offset, what to delete) when work is submitted, so that its view of the
 *    log is exact at all times without asking the helper;
 *  - the helper thread (writer.c) owns the Writer fields marked "helper" and
 *    only executes the planned operations, in order.
 * They share the queue, the done list, `stop` and `failed` under `lock`.
 *
 * Ownership of a Submission (and of everything it points to: ops, records,
 * the conf copy, the caller's snapshot data):
 *  - plan.c builds it; until writer_submit() it belongs to the loop, and an
 *    error before that point frees it there, except snap_data, which stays
 *    the caller's (it is attached only right before writer_submit());
 *  - writer_submit() always takes it over, also when the helper has failed
 *    (it is then freed at once, like any submission a failure drops);
 *  - in the queue and in a group it belongs to the helper, which frees it
 *    when the store fails (op_snapshot() frees snap_data as soon as it is
 *    written, to bound memory);
 *  - on the done list it belongs to whoever takes it with
 *    writer_take_done(): store_dispatch_completions() or store_free(). */
#pragma once

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/list.h"
#include "store/format.h"
#include "store/store.h"

/* ---- planned operations, executed by the helper thread in order ---- */
typedef enum OpType {
        OP_CREATE_SEGMENT,      /* sync the current segment, create seg-<seg> with its header */
        OP_DELETE_SEGMENT,      /* unlink seg-<seg>, fsync the directory */
        OP_TRUNCATE_SEGMENT,    /* ftruncate seg-<seg> to offset, fdatasync; it becomes current */
        OP_WRITE,               /* write `data` (encoded records) at offset of seg-<seg> */
        OP_HARD_STATE,          /* sync, then replace meta */
        OP_SNAPSHOT,            /* sync, then replace snapshot */
} OpType;

typedef struct Op {
        OpType type;
        uint64_t seg;
        uint64_t offset;                /* TRUNCATE: new length; WRITE: where to write */
        size_t rec_off, rec_len;        /* WRITE: bytes of the Submission's `records` */
} Op;

/* One call of store_append()/save_hard_state()/save_snapshot(), or the
 * failure notice (type STORE_COMPLETION_FAILED) the helper posts. */
typedef struct Submission {
        ListNode node;
        uint64_t seq;
        StoreCompletionType type;
        uint64_t cookie;
        uint64_t bytes;                 /* counted against pending_max_bytes */
        Op *ops;
        size_t n_ops, cap_ops;
        Buf records;                    /* encoded records of all WRITE ops */
        RaftHardState hs;
        RaftSnapshotMeta snap_meta;     /* conf owned */
        uint8_t *snap_data;             /* owned */
        size_t snap_len;
        int error;
} Submission;

Submission *submission_free(Submission *sub);

typedef struct Writer {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        List queue;                     /* shared: Submissions to perform */
        List done;                      /* shared: finished Submissions, in order */
        bool stop;                      /* shared */
        _Atomic int failed;             /* shared: 0 or the first error; set under lock */
        _Atomic uint64_t busy_since_usec; /* helper writes, anyone reads */
        Submission *fail_notice;        /* the FAILED notice, allocated up front so that
                                         * posting it cannot fail; fail() takes it
                                         * under `lock`, writer_done() frees it if unused */
        int event_fd;                   /* written by the helper, read by the loop */
        pthread_t thread;               /* loop */
        bool started;                   /* loop */

        /* helper only */
        int cur_fd;
        uint64_t cur_seg;
        bool dirty;                     /* written since the last fdatasync */
        uint64_t batch_start;           /* offset where the unsynced batch began */
        Buf stage;                      /* records for cur_seg at stage_offset, not yet written */
        uint64_t stage_offset;
} Writer;

/* A segment as the loop thread plans it. */
typedef struct ViewSegment {
        uint64_t first;                 /* first index (also the name) */
        uint64_t end;                   /* planned file length */
        int fd;                         /* loop thread's read descriptor, -1 until needed */
} ViewSegment;

/* Where an entry lives: 16 bytes per entry in memory. */
typedef struct IndexEntry {
        uint64_t term;
        uint32_t offset;                /* of the record header in its segment */
        uint32_t len;                   /* payload bytes */
} IndexEntry;

/* A double-ended array: elements [head, head + n) of p. */
typedef struct Deq {
        uint8_t *p;
        size_t head, n, cap, esz;
} Deq;

static inline void *deq_at(const Deq *d, size_t i) {
        return d->p + (d->head + i) * d->esz;
}
int deq_reserve(Deq *d, size_t extra);
int deq_push(Deq *d, const void *e);
void deq_drop_front(Deq *d, size_t k);
void deq_drop_back(Deq *d, size_t k);
void deq_done(Deq *d);

/* A durability mark: when submission `seq` completes, the durable index
 * becomes max(durable, value). */
typedef struct Mark {
        uint64_t seq;
        uint64_t value;
} Mark;

struct Store {
        StoreOptions opts;
        const StoreIo *io;
        char *dir;
        int dirfd;
        int lock_fd;

        RaftHardState hs;
        RaftSnapshotMeta snap;          /* index 0 = none */
        bool has_snap;

        /* the log view */
        ViewSegment *segs;
        size_t n_segs, cap_segs;
        Deq idx;                        /* IndexEntry for [first_index, last_index] */
        uint64_t first_index, last_index;
        Deq cache;                      /* RaftEntry for (last_index - cache.n, last_index] */
        uint64_t cache_bytes;

        /* durability */
        uint64_t durable_index;
        Deq marks;                      /* Mark, in seq order */
        uint64_t next_seq;
        uint64_t pending_bytes;
        int failed;                     /* loop's copy */

        StoreCompletionFn fn;
        void *userdata;
        void *event_source;             /* sd_event_source * */
        char *recovery_note;

        Writer w;
};

/* recover.c: fills a freshly allocated Store from the directory. */
int store_recover(Store *s, StoreError *ret_error);

/* snapshot.c: the snapshot file with a verified header and conf. */
typedef struct SnapshotFile {
        const StoreIo *io;
        int fd;
        SnapshotHeader h;
        uint8_t *conf;
} SnapshotFile;

/* Opens "snapshot" and verifies size, header and conf crc: 0, -ENOENT,
 * -EUCLEAN (with a static reason and the offset of the damage), -EIO... */
int snapshot_file_open(const StoreIo *io, int dirfd, uint32_t max_conf, SnapshotFile *ret,
                       const char **ret_reason, uint64_t *ret_offset);
/* Reads the data and checks its crc: 0, -EUCLEAN, -EIO, -ENOMEM. */
int snapshot_file_verify_data(const SnapshotFile *f);
void snapshot_file_done(SnapshotFile *f);

/* writer.c */
/* Allocates the failure notice and starts the helper: 0, -ENOMEM, or the
 * error of pthread_create(). */
int writer_start(Store *s);
/* Waits for the queue to drain (or the store to fail), joins the helper. */
void writer_stop(Store *s);
/* Frees what writer_start() allocated; after writer_stop(). */
void writer_done(Store *s);
/* Queues sub. Cannot fail: ownership of sub always moves to the store. When
 * the helper has failed meanwhile, sub is freed at once and never
 * acknowledged (see above). */
void writer_submit(Store *s, Submission *sub);
/* Moves the done list to `into` (the loop then owns those Submissions). */
void writer_take_done(Store *s, List *into);
int writer_failed(Store *s);

/* ---- store.c: the view, used by plan.c, read.c, recover.c ---- */
static inline uint64_t view_cache_first(const Store *s) {
        return s->last_index + 1 - s->cache.n;
}
static inline IndexEntry *view_idx(const Store *s, uint64_t index) {
        assert(index >= s->first_index && index <= s->last_index);
        return deq_at(&s->idx, index - s->first_index);
}
/* Index of the segment holding `index` (which must be in the view). */
size_t view_seg_find(const Store *s, uint64_t index);
int view_segs_reserve(Store *s, size_t extra);
int view_add_segment(Store *s, uint64_t first, uint64_t end);
int view_add_index(Store *s, uint64_t term, uint32_t offset, uint32_t len);
void view_seg_close(Store *s, ViewSegment *seg);
void view_cache_drop_back(Store *s, size_t k);
void view_cache_drop_front(Store *s, size_t k);
/* Evicts durable entries, oldest first, while the cache is over its limit. */
void view_cache_evict(Store *s);
/* Lowers every pending durability mark and the durable index to `limit`. */
void view_marks_clamp(Store *s, uint64_t limit);
/* 0, or the error the store failed with. */
int view_check_usable(const Store *s);
void store_add_note(Store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
