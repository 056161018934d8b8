#include "config.h"

/* writer.c — the store's helper thread: executes planned operations with
 * group commit.
 *
 * The loop thread queues Submissions (each a list of Ops planned in store.c).
 * The helper takes the WHOLE queue at once — everything that arrived while
 * it was busy — performs the operations in order and ends the group with a
 * single fdatasync of the segment it wrote last. Only then are the group's
 * Submissions moved to the done list and the eventfd poked: nothing is
 * acknowledged before the sync that made it durable.
 *
 * Batches. Records written between two fdatasyncs of a segment form a batch;
 * each record names the offset where its batch began (format.h). A new batch
 * is begun only after the previous one's fdatasync returned, which is what
 * lets recovery tell a torn final write from damage.
 *
 * Failure is sticky: on the first error the group is dropped unacknowledged,
 * one STORE_COMPLETION_FAILED notice is posted, and every later Submission is
 * discarded. An fsync error is never retried (see io.c).
 *
 * Ownership. A Submission belongs to the store from the moment
 * writer_submit() is called: the helper frees it when it fails (with the
 * whole group and the queue), and the loop frees it after its completion.
 * writer_submit() cannot fail, so no caller ever has to ask who freed what.
 * The failure notice is allocated in writer_start(), so posting it cannot
 * fail either: the loop always learns of a failure through a completion. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/codec.h"
#include "lib/crc32c.h"
#include "lib/macro.h"
#include "store/format.h"
#include "store/io.h"
#include "store/store-internal.h"

/* Largest pwrite the helper builds from consecutive appends. */
#define STAGE_MAX (1u << 20)

static uint64_t now_usec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

static int stage_flush(Store *s);

static int sync_current(Store *s) {
        Writer *w = &s->w;
        int r;

        r = stage_flush(s);
        if (r < 0)
                return r;
        if (!w->dirty)
                return 0;
        r = s->io->fdatasync(s->io->userdata, w->cur_fd);
        if (r < 0)
                return r;
        w->dirty = false;
        return 0;
}

static void close_current(Store *s) {
        Writer *w = &s->w;

        assert(w->stage.len == 0);

        if (w->cur_fd >= 0)
                (void) s->io->close(s->io->userdata, w->cur_fd);
        w->cur_fd = -1;
        w->dirty = false;
}

/* Makes seg-<seg> the current segment, syncing the previous one first. */
static int use_segment(Store *s, uint64_t seg) {
        Writer *w = &s->w;
        char name[SEGMENT_NAME_MAX];
        int fd, r;

        if (w->cur_fd >= 0 && w->cur_seg == seg)
                return 0;
        r = sync_current(s);
        if (r < 0)
                return r;
        close_current(s);
        segment_name(seg, name);
        fd = s->io->openat(s->io->userdata, s->dirfd, name, O_WRONLY, 0);
        if (fd < 0)
                return fd;
        w->cur_fd = fd;
        w->cur_seg = seg;
        return 0;
}

static int op_create_segment(Store *s, uint64_t seg) {
        Writer *w = &s->w;
        char name[SEGMENT_NAME_MAX], tmp[SEGMENT_NAME_MAX + 4];
        uint8_t header[SEGMENT_HEADER_SIZE];
        IoPiece piece = { header, sizeof header };
        int fd, r;

        /* The previous segment must be complete on disk before a successor
         * exists: recovery allows a torn tail only in the last segment. */
        r = sync_current(s);
        if (r < 0)
                return r;
        close_current(s);
        segment_name(seg, name);
        memcpy(tmp, name, SEGMENT_NAME_MAX - 1);
        memcpy(tmp + SEGMENT_NAME_MAX - 1, ".tmp", 5);
        segment_header_encode(seg, header);
        r = io_write_file_atomic(s->io, s->dirfd, name, tmp, &piece, 1);
        if (r < 0)
                return r;
        fd = s->io->openat(s->io->userdata, s->dirfd, name, O_WRONLY, 0);
        if (fd < 0)
                return fd;
        w->cur_fd = fd;
        w->cur_seg = seg;
        return 0;
}

static int op_delete_segment(Store *s, uint64_t seg) {
        char name[SEGMENT_NAME_MAX];

        if (s->w.cur_fd >= 0 && s->w.cur_seg == seg)
                close_current(s);
        segment_name(seg, name);
        return io_unlink_durable(s->io, s->dirfd, name);
}

static int op_truncate_segment(Store *s, uint64_t seg, uint64_t offset) {
        int r;

        r = use_segment(s, seg);
        if (r < 0)
                return r;
        r = s->io->ftruncate(s->io->userdata, s->w.cur_fd, (off_t) offset);
        if (r < 0)
                return r;
        /* Durable before anything is written at the same offsets again, so
         * that a crash cannot mix new records with the removed ones. fsync,
         * not fdatasync: the new size is all this sync is about. */
        r = s->io->fsync(s->io->userdata, s->w.cur_fd);
        if (r < 0)
                return r;
        s->w.dirty = false;
        return 0;
}

/* Writes the staged records with one pwrite. */
static int stage_flush(Store *s) {
        Writer *w = &s->w;
        int r;

        if (w->stage.len == 0)
                return 0;
        r = io_write_all(s->io, w->cur_fd, w->stage.data, w->stage.len, w->stage_offset);
        buf_clear(&w->stage);
        if (r < 0)
                return r;
        w->dirty = true;
        return 0;
}

/* Queues the records of a WRITE op in the staging buffer, so that the
 * consecutive appends of a group (typically one entry per submission) reach
 * the kernel as one pwrite, not one each. */
static int op_write(Store *s, Submission *sub, const Op *op) {
        Writer *w = &s->w;
        uint8_t *p = sub->records.data + op->rec_off;
        size_t n = op->rec_len;
        int r;

        if (w->stage.len > 0 && (w->cur_seg != op->seg || w->stage_offset + w->stage.len != op->offset ||
                                 w->stage.len + n > STAGE_MAX)) {
                r = stage_flush(s);
                if (r < 0)
                        return r;
        }
        if (w->stage.len == 0) {
                r = use_segment(s, op->seg);
                if (r < 0)
                        return r;
                if (!w->dirty)
                        w->batch_start = op->offset;
                w->stage_offset = op->offset;
        }
        for (size_t i = 0; i < n; ) {
                record_seal(p + i, (uint32_t) w->batch_start);
                i += RECORD_HEADER_SIZE + le32_load(p + i + 4);
        }
        return buf_append(&w->stage, p, n);
}

static int op_hard_state(Store *s, Submission *sub) {
        uint8_t buf[META_SIZE];
        IoPiece piece = { buf, sizeof buf };
        int r;

        r = sync_current(s);
        if (r < 0)
                return r;
        meta_encode(&sub->hs, buf);
        return io_write_file_atomic(s->io, s->dirfd, "meta", "meta.tmp", &piece, 1);
}

static int op_snapshot(Store *s, Submission *sub) {
        uint8_t header[SNAPSHOT_HEADER_SIZE];
        SnapshotHeader h = {
                .index = sub->snap_meta.index,
                .term = sub->snap_meta.term,
                .conf_len = sub->snap_meta.conf_len,
                .data_len = sub->snap_len,
                .data_crc = crc32c(0, sub->snap_data, sub->snap_len),
        };
        IoPiece pieces[] = {
                { header, sizeof header },
                { sub->snap_meta.conf, sub->snap_meta.conf_len },
                { sub->snap_data, sub->snap_len },
        };
        int r;

        r = sync_current(s);
        if (r < 0)
                return r;
        snapshot_header_encode(&h, sub->snap_meta.conf, header);
        r = io_write_file_atomic(s->io, s->dirfd, "snapshot", "snapshot.tmp", pieces, ELEMENTSOF(pieces));
        sub->snap_data = mfree(sub->snap_data);
        return r;
}

static int perform(Store *s, Submission *sub) {
        for (size_t i = 0; i < sub->n_ops; i++) {
                const Op *op = &sub->ops[i];
                int r = 0;

                if (op->type != OP_WRITE) {
                        r = stage_flush(s);
                        if (r < 0)
                                return r;
                }
                switch (op->type) {
                case OP_CREATE_SEGMENT:
                        r = op_create_segment(s, op->seg);
                        break;
                case OP_DELETE_SEGMENT:
                        r = op_delete_segment(s, op->seg);
                        break;
                case OP_TRUNCATE_SEGMENT:
                        r = op_truncate_segment(s, op->seg, op->offset);
                        break;
                case OP_WRITE:
                        r = op_write(s, sub, op);
                        break;
                case OP_HARD_STATE:
                        r = op_hard_state(s, sub);
                        break;
                case OP_SNAPSHOT:
                        r = op_snapshot(s, sub);
                        break;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static void poke(Store *s) {
        uint64_t one = 1;
        ssize_t k;

        do
                k = write(s->w.event_fd, &one, sizeof one);
        while (k < 0 && errno == EINTR);
        /* EAGAIN means the counter is saturated: the loop will wake anyway. */
}

static void free_list(List *l) {
        ListNode *n;

        while ((n = list_first(l))) {
                list_remove(n);
                submission_free(list_entry(n, Submission, node));
        }
}

static void list_move_all(List *into, List *from) {
        ListNode *n;

        while ((n = list_first(from))) {
                list_remove(n);
                list_append(into, n);
        }
}

/* Records the failure, drops the group (and with it every buffer the
 * Submissions own, snapshot data included: the store took them over when
 * they were submitted) and posts the one FAILED notice. */
static void fail(Store *s, List *group, int error) {
        Writer *w = &s->w;
        Submission *notice;

        buf_clear(&w->stage);   /* never written: this group is not acknowledged */
        free_list(group);
        pthread_mutex_lock(&w->lock);
        atomic_store(&w->failed, error);
        free_list(&w->queue);
        notice = TAKE_PTR(w->fail_notice);
        assert(notice);         /* failure is sticky: fail() runs once */
        notice->error = error;
        list_append(&w->done, &notice->node);
        pthread_mutex_unlock(&w->lock);
        poke(s);
}

static void *writer_main(void *userdata) {
        Store *s = userdata;
        Writer *w = &s->w;

        for (;;) {
                List group = LIST_HEAD_INIT(group);
                Submission *sub;
                bool failed;
                int r = 0;

                pthread_mutex_lock(&w->lock);
                while (list_empty(&w->queue) && !w->stop)
                        pthread_cond_wait(&w->cond, &w->lock);
                failed = atomic_load(&w->failed) < 0;
                if (failed)
                        free_list(&w->queue);
                else
                        list_move_all(&group, &w->queue);
                if (list_empty(&group) && w->stop) {
                        pthread_mutex_unlock(&w->lock);
                        break;
                }
                pthread_mutex_unlock(&w->lock);
                if (failed)
                        continue;

                atomic_store(&w->busy_since_usec, now_usec());
                list_foreach(sub, &group, node) {
                        r = perform(s, sub);
                        if (r < 0)
                                break;
                }
                if (r >= 0)
                        r = sync_current(s);
                atomic_store(&w->busy_since_usec, 0);

                if (r < 0) {
                        fail(s, &group, r);
                        continue;
                }
                pthread_mutex_lock(&w->lock);
                list_move_all(&w->done, &group);
                pthread_mutex_unlock(&w->lock);
                poke(s);
        }
        close_current(s);
        buf_done(&w->stage);
        return NULL;
}

int writer_start(Store *s) {
        Writer *w = &s->w;
        sigset_t all, saved;
        int r;

        w->cur_fd = -1;
        w->fail_notice = calloc(1, sizeof *w->fail_notice);
        if (!w->fail_notice)
                return -ENOMEM;
        list_init(&w->fail_notice->node);
        w->fail_notice->type = STORE_COMPLETION_FAILED;
        /* The helper must never run a signal handler meant for the loop. */
        sigfillset(&all);
        r = -pthread_sigmask(SIG_SETMASK, &all, &saved);
        if (r < 0)
                return r;
        r = -pthread_create(&w->thread, NULL, writer_main, s);
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r < 0)
                return r;
        w->started = true;
        return 0;
}

void writer_stop(Store *s) {
        Writer *w = &s->w;

        if (!w->started)
                return;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        (void) pthread_join(w->thread, NULL);
        w->started = false;
}

void writer_done(Store *s) {
        s->w.fail_notice = submission_free(s->w.fail_notice);
}

/* The caller (plan.c) checked that the store had not failed before it
 * changed the view; the helper may have failed since. Such a submission is
 * treated exactly like one the helper accepted and then dropped when it
 * failed: it is freed here, never acknowledged, and the FAILED completion
 * already on its way tells the loop. Refusing it instead would leave the
 * caller with an error after the view had changed, and with a buffer whose
 * owner depends on a race (issue 16). */
void writer_submit(Store *s, Submission *sub) {
        Writer *w = &s->w;
        bool failed;

        pthread_mutex_lock(&w->lock);
        failed = atomic_load(&w->failed) < 0;
        if (!failed) {
                list_append(&w->queue, &sub->node);
                pthread_cond_signal(&w->cond);
        }
        pthread_mutex_unlock(&w->lock);
        if (failed)
                submission_free(sub);
}

void writer_take_done(Store *s, List *into) {
        pthread_mutex_lock(&s->w.lock);
        list_move_all(into, &s->w.done);
        pthread_mutex_unlock(&s->w.lock);
}

int writer_failed(Store *s) {
        return atomic_load(&s->w.failed);
}
