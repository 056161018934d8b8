#include "config.h"

/* test-store-faults.c — store/ against damaged files and failing disks.
 *
 * Each case ends in one of two outcomes, never a third: a correct recovery
 * (every acknowledged entry back, byte for byte) or a clear stop (-EUCLEAN,
 * a message naming the file and the offset of the damage). Faults are made
 * in real files (truncation at every byte of the last record, bit flips,
 * removed or misplaced segments, a full tmpfs) and through the injectable
 * I/O layer (ENOSPC, short writes, failing fdatasync/fsync). */

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "lib/codec.h"
#include "lib/crc32c.h"
#include "store/format.h"
#include "store/store-internal.h"
#include "store/store.h"
#include "tests/unit/test-store-util.h"

/* Offsets of the records of a segment file, walking the length fields. */
static size_t record_offsets(const uint8_t *b, size_t len, uint64_t *ret, size_t max) {
        size_t n = 0;
        for (uint64_t off = SEGMENT_HEADER_SIZE; off + RECORD_HEADER_SIZE <= len && n < max;
             off += RECORD_HEADER_SIZE + le32_load(b + off + 4))
                ret[n++] = off;
        return n;
}

/* Writes `batches` batches of `per` entries, each acknowledged before the
 * next is submitted (so each is its own write+fdatasync). */
static void write_batches(const char *dir, const StoreOptions *o, uint64_t batches, uint64_t per,
                          uint32_t max_len, bool save_commit) {
        Store *s = open_ok(dir, o);
        Recorder rec;

        recorder_attach(&rec, s);
        for (uint64_t b = 0; b < batches; b++) {
                append_range(s, &rec, 1 + b * per, 1 + (b + 1) * per, 1, 5, max_len);
                recorder_drain(&rec, s);
        }
        if (save_commit) {
                RaftHardState hs = { .term = 1, .vote = 1, .commit = batches * per };
                ck_assert_int_eq(store_save_hard_state(s, &hs, 0), 0);
                rec.submitted++;
                recorder_drain(&rec, s);
        }
        ck_assert_int_eq(rec.failed, 0);
        store_free(s);
}

static void expect_corrupt(const char *dir, const char *file, uint64_t offset) {
        StoreError e = open_fail(dir, NULL, -EUCLEAN);
        char *want = path_join(dir, file);
        char where[64];

        ck_assert_ptr_nonnull(e.file);
        ck_assert_str_eq(e.file, want);
        ck_assert_ptr_nonnull(strstr(e.message, want));
        if (offset != UINT64_MAX) {
                snprintf(where, sizeof where, "offset %" PRIu64 ":", offset);
                ck_assert_msg(e.offset == offset && strstr(e.message, where),
                              "expected offset %" PRIu64 ", got: %s", offset, e.message);
        }
        store_error_done(&e);
        free(want);
}

/* A crash while the last record was being written: whatever prefix of it
 * reached the disk, recovery returns exactly the records before it. */
START_TEST(test_torn_every_offset) {
        char *dir = tmpdir_new(), *name, *path;
        uint8_t *orig, *bad;
        uint64_t offs[64];
        size_t len, n;

        write_batches(dir, NULL, 21, 1, 100, false);
        name = dir_segment(dir, 0);
        path = path_join(dir, name);
        orig = file_read(path, &len);
        n = record_offsets(orig, len, offs, 64);
        ck_assert_uint_eq(n, 21);

        for (uint64_t cut = offs[20]; cut < len; cut++) {
                Store *s;
                file_write(path, orig, cut);
                s = open_ok(dir, NULL);
                ck_assert_uint_eq(store_last_index(s), 20);
                ck_assert_uint_eq(store_durable_index(s), 20);
                if (cut > offs[20])
                        ck_assert_ptr_nonnull(strstr(store_recovery_note(s), "incomplete write"));
                else
                        ck_assert_ptr_null(store_recovery_note(s));
                check_range(s, 1, 21, 1, 5, 100);
                store_free(s);
        }

        /* garbage instead of the last record, and zeros after a complete log */
        bad = malloc(len + 4096);
        memcpy(bad, orig, len);
        for (size_t i = offs[20]; i < len; i++)
                bad[i] = (uint8_t) (i * 7919 >> 3);
        file_write(path, bad, len);
        Store *s = open_ok(dir, NULL);
        ck_assert_uint_eq(store_last_index(s), 20);
        store_free(s);
        memcpy(bad, orig, len);
        memset(bad + len, 0, 4096);
        file_write(path, bad, len + 4096);
        s = open_ok(dir, NULL);
        ck_assert_uint_eq(store_last_index(s), 21);
        ck_assert_ptr_nonnull(store_recovery_note(s));
        check_range(s, 1, 22, 1, 5, 100);
        /* and the log goes on from the repaired tail */
        Recorder rec;
        recorder_attach(&rec, s);
        append_range(s, &rec, 22, 30, 1, 5, 100);
        recorder_drain(&rec, s);
        store_free(s);
        s = open_ok(dir, NULL);
        ck_assert_ptr_null(store_recovery_note(s));
        check_range(s, 1, 30, 1, 5, 100);
        store_free(s);

        free(bad);
        free(orig);
        free(path);
        free(name);
        tmpdir_remove(dir);
}
END_TEST

/* Pages of one write reach the disk in any order: damage anywhere in the
 * last batch, with later records of that batch intact, is still a torn
 * write, and the whole rest of the batch goes. */
START_TEST(test_torn_batch_any_order) {
        char *dir = tmpdir_new(), *name, *path;
        uint8_t *orig;
        uint64_t offs[64];
        size_t len, n;

        write_batches(dir, NULL, 10, 1, 50, false);
        Store *s = open_ok(dir, NULL);
        Recorder rec;
        recorder_attach(&rec, s);
        append_range(s, &rec, 11, 16, 1, 5, 50);        /* one batch of five */
        recorder_drain(&rec, s);
        store_free(s);

        name = dir_segment(dir, 0);
        path = path_join(dir, name);
        orig = file_read(path, &len);
        n = record_offsets(orig, len, offs, 64);
        ck_assert_uint_eq(n, 15);
        for (size_t k = 10; k < 15; k++) {
                file_write(path, orig, len);
                file_flip_bit(path, offs[k] + RECORD_HEADER_SIZE, 3);
                s = open_ok(dir, NULL);
                ck_assert_uint_eq(store_last_index(s), k);
                check_range(s, 1, k + 1, 1, 5, 50);
                store_free(s);
        }
        free(orig);
        free(path);
        free(name);
        tmpdir_remove(dir);
}
END_TEST

/* Damage before the last batch is never cut off: every bit flip in the
 * segment header or in an acknowledged, synced batch stops the node with the
 * file and the offset of the damaged record. */
START_TEST(test_bitflip_committed) {
        char *dir = tmpdir_new(), *name, *path;
        uint8_t *orig;
        uint64_t offs[128];
        size_t len, n;

        write_batches(dir, NULL, 30, 3, 40, false);
        name = dir_segment(dir, 0);
        path = path_join(dir, name);
        orig = file_read(path, &len);
        n = record_offsets(orig, len, offs, 128);
        ck_assert_uint_eq(n, 90);

        for (uint64_t off = 0, rec = 0; off < offs[87]; off++) {
                while (rec + 1 < n && offs[rec + 1] <= off)
                        rec++;
                file_flip_bit(path, off, (int) (off % 8));
                expect_corrupt(dir, name, off < SEGMENT_HEADER_SIZE ? 0 : offs[rec]);
                file_flip_bit(path, off, (int) (off % 8));
        }
        /* untouched, it opens */
        Store *s = open_ok(dir, NULL);
        check_range(s, 1, 91, 1, 5, 40);
        store_free(s);
        free(orig);
        free(path);
        free(name);
        tmpdir_remove(dir);
}
END_TEST

START_TEST(test_bitflip_segments) {
        char *dir = tmpdir_new();
        StoreOptions o = { .segment_size_bytes = 4096 };
        size_t nseg;

        write_batches(dir, &o, 40, 10, 60, false);
        nseg = dir_count_prefix(dir, "seg-");
        ck_assert_uint_gt(nseg, 5);
        for (size_t i = 0; i + 1 < nseg; i++) {
                char *name = dir_segment(dir, i), *path = path_join(dir, name);
                size_t len;
                uint8_t *b = file_read(path, &len);
                uint64_t offs[256];
                size_t n = record_offsets(b, len, offs, 256);

                /* the very last byte of a full, earlier segment */
                file_flip_bit(path, len - 1, 0);
                StoreError e = open_fail(dir, &o, -EUCLEAN);
                ck_assert_str_eq(e.file, path);
                ck_assert_uint_eq(e.offset, offs[n - 1]);
                store_error_done(&e);
                file_flip_bit(path, len - 1, 0);
                free(b);
                free(path);
                free(name);
        }
        Store *s = open_ok(dir, &o);
        check_range(s, 1, 401, 1, 5, 60);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

START_TEST(test_missing_segment) {
        char *dir = tmpdir_new();
        StoreOptions o = { .segment_size_bytes = 4096 };
        size_t nseg, len;

        write_batches(dir, &o, 30, 10, 60, true);
        nseg = dir_count_prefix(dir, "seg-");
        ck_assert_uint_gt(nseg, 4);

        for (size_t k = 0; k < nseg; k++) {
                char *name = dir_segment(dir, k), *path = path_join(dir, name);
                char *next = k + 1 < nseg ? dir_segment(dir, k + 1) : NULL;
                uint8_t *b = file_read(path, &len);
                StoreError e;

                ck_assert_int_eq(unlink(path), 0);
                e = open_fail(dir, &o, -EUCLEAN);
                if (k + 1 < nseg) {
                        /* the gap is reported at the segment after it */
                        char *np = path_join(dir, next);
                        ck_assert_str_eq(e.file, np);
                        ck_assert_ptr_nonnull(strstr(e.message, "missing"));
                        free(np);
                } else {
                        /* the last one: the commit index in meta gives it away */
                        ck_assert_ptr_nonnull(strstr(e.message, "committed entries are missing"));
                }
                store_error_done(&e);
                file_write(path, b, len);
                free(b);
                free(next);
                free(path);
                free(name);
        }

        /* a segment that does not follow the previous one */
        uint8_t header[SEGMENT_HEADER_SIZE];
        char stale[SEGMENT_NAME_MAX];
        segment_header_encode(100000, header);
        segment_name(100000, stale);
        char *sp = path_join(dir, stale);
        file_write(sp, header, sizeof header);
        expect_corrupt(dir, stale, 16);
        ck_assert_int_eq(unlink(sp), 0);
        free(sp);

        /* a segment whose header names another first index than its file */
        char *name = dir_segment(dir, 2), *path = path_join(dir, name);
        uint8_t *b = file_read(path, &len);
        le64_store(b + 16, le64_load(b + 16) + 1);
        le32_store(b + 28, crc32c(0, b, 28));
        file_write(path, b, len);
        expect_corrupt(dir, name, 16);
        free(b);
        free(path);
        free(name);
        tmpdir_remove(dir);
}
END_TEST

static void snapshot_store(const char *dir) {
        Store *s = open_ok(dir, NULL);
        Recorder rec;
        uint8_t conf[4] = { 9, 8, 7, 6 };
        RaftSnapshotMeta m = { .index = 10, .term = 1, .conf_len = 4, .conf = conf };
        uint8_t *data = malloc(10000);

        for (int i = 0; i < 10000; i++)
                data[i] = (uint8_t) i;
        recorder_attach(&rec, s);
        append_range(s, &rec, 1, 21, 1, 5, 30);
        ck_assert_int_eq(store_save_snapshot(s, &m, data, 10000, 0), 0);
        rec.submitted++;
        recorder_drain(&rec, s);
        store_free(s);
}

START_TEST(test_snapshot_corrupt) {
        char *dir = tmpdir_new(), *path;
        uint8_t *orig;
        size_t len;

        snapshot_store(dir);
        path = path_join(dir, "snapshot");
        orig = file_read(path, &len);
        ck_assert_uint_eq(len, SNAPSHOT_HEADER_SIZE + 4 + 10000);

        /* every byte of header and conf, a sample of the data */
        for (uint64_t off = 0; off < len; off += off < 100 ? 1 : 997) {
                file_flip_bit(path, off, (int) (off % 8));
                expect_corrupt(dir, "snapshot", UINT64_MAX);
                file_flip_bit(path, off, (int) (off % 8));
        }
        file_flip_bit(path, 5000, 1);
        expect_corrupt(dir, "snapshot", SNAPSHOT_HEADER_SIZE + 4);
        file_write(path, orig, len - 1);
        expect_corrupt(dir, "snapshot", UINT64_MAX);
        file_write(path, orig, 20);
        expect_corrupt(dir, "snapshot", UINT64_MAX);
        file_write(path, orig, len);
        Store *s = open_ok(dir, NULL);
        ck_assert_uint_eq(store_snapshot_meta(s)->index, 10);
        store_free(s);
        free(orig);
        free(path);
        tmpdir_remove(dir);
}
END_TEST

START_TEST(test_meta_corrupt) {
        char *dir = tmpdir_new(), *path;
        uint8_t *orig;
        size_t len;

        write_batches(dir, NULL, 2, 5, 10, true);
        path = path_join(dir, "meta");
        orig = file_read(path, &len);
        ck_assert_uint_eq(len, META_SIZE);
        for (uint64_t off = 0; off < len; off++) {
                file_flip_bit(path, off, (int) (off % 8));
                expect_corrupt(dir, "meta", 0);
                file_flip_bit(path, off, (int) (off % 8));
        }
        file_write(path, orig, len - 1);
        expect_corrupt(dir, "meta", 0);
        file_write(path, orig, len);
        Store *s = open_ok(dir, NULL);
        ck_assert_uint_eq(store_hard_state(s)->commit, 10);
        store_free(s);
        free(orig);
        free(path);
        tmpdir_remove(dir);
}
END_TEST

/* Runs 5 acknowledged batches of 10, then arms `arm` and submits one more;
 * the store must fail without acknowledging it and refuse everything after. */
static void fail_after_five(const char *dir, FaultIo *f, void (*arm)(FaultIo *f), int want) {
        StoreOptions o = { .io = &f->io };
        Store *s = open_ok(dir, &o);
        Recorder rec;
        RaftHardState hs = { .term = 2 };
        RaftEntry *v;
        size_t n;
        uint64_t t;

        recorder_attach(&rec, s);
        for (uint64_t b = 0; b < 5; b++) {
                append_range(s, &rec, 1 + b * 10, 11 + b * 10, 1, 5, 200);
                recorder_drain(&rec, s);
        }
        arm(f);
        append_range(s, &rec, 51, 61, 1, 5, 200);
        recorder_drain(&rec, s);
        ck_assert_int_eq(rec.failed, 1);
        ck_assert_int_eq(rec.error, want);
        ck_assert_int_eq(rec.entries, 5);
        ck_assert_uint_eq(rec.last_index, 50);
        ck_assert_uint_eq(store_durable_index(s), 50);
        ck_assert(store_is_failed(s));
        ck_assert_int_eq(store_failed_error(s), want);
        RaftEntry e;
        entry_make(&e, 61, 1, 5, 10);
        ck_assert_int_eq(store_append(s, &e, 1, 0), want);
        raft_entry_done(&e);
        ck_assert_int_eq(store_save_hard_state(s, &hs, 0), want);
        ck_assert_int_eq(store_term(s, 5, &t), want);
        ck_assert_int_eq(store_entries(s, 1, 5, 100, &v, &n), want);
        store_free(s);
}

/* After a failure, recovery with a healthy disk has every acknowledged
 * entry, and anything else it has is right too. */
static void recover_after_failure(const char *dir, uint64_t acked, uint64_t submitted) {
        Store *s = open_ok(dir, NULL);
        ck_assert_uint_ge(store_last_index(s), acked);
        ck_assert_uint_le(store_last_index(s), submitted);
        check_range(s, 1, store_last_index(s) + 1, 1, 5, 200);
        store_free(s);
}

static void arm_enospc(FaultIo *f) {
        atomic_store(&f->pwrite_fail_at, atomic_load(&f->n_pwrite) + 1);
}

static void arm_short_enospc(FaultIo *f) {
        f->short_write = true;
        arm_enospc(f);
}

static void arm_fdatasync(FaultIo *f) {
        atomic_store(&f->fdatasync_fail_at, atomic_load(&f->n_fdatasync) + 1);
}

START_TEST(test_enospc) {
        char *dir = tmpdir_new();
        FaultIo f;

        fault_io_init(&f);
        fail_after_five(dir, &f, arm_enospc, -ENOSPC);
        recover_after_failure(dir, 50, 50);

        /* a short write first: half a batch on disk, cut off on recovery */
        fault_io_init(&f);
        tmpdir_remove(dir);
        dir = tmpdir_new();
        fail_after_five(dir, &f, arm_short_enospc, -ENOSPC);
        Store *s = open_ok(dir, NULL);
        /* the complete records of the half-written batch may stay (never
         * acknowledged, but valid); the cut one is gone */
        ck_assert_uint_ge(store_last_index(s), 50);
        ck_assert_uint_lt(store_last_index(s), 60);
        ck_assert_ptr_nonnull(strstr(store_recovery_note(s), "incomplete write"));
        check_range(s, 1, store_last_index(s) + 1, 1, 5, 200);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

START_TEST(test_fsync_fail) {
        char *dir = tmpdir_new();
        FaultIo f;

        fault_io_init(&f);
        f.fdatasync_errno = EIO;
        fail_after_five(dir, &f, arm_fdatasync, -EIO);
        /* the page cache may still hold the unsynced batch: it may come back,
         * correct, or not at all */
        recover_after_failure(dir, 50, 60);
        tmpdir_remove(dir);
}
END_TEST

/* fsync of the new meta file, of the directory, of a snapshot: any of them
 * failing fails the store; afterwards meta/snapshot hold the old or the new
 * version, never a mixture. */
START_TEST(test_fsync_fail_meta_snapshot) {
        for (long nth = 1; nth <= 4; nth++) {
                char *dir = tmpdir_new();
                FaultIo f;
                StoreOptions o = { .io = &f.io };
                Store *s;
                Recorder rec;
                RaftHardState hs = { .term = 7, .vote = 3, .commit = 10 };
                uint8_t *data = malloc(1000);

                memset(data, 0x5a, 1000);
                fault_io_init(&f);
                s = open_ok(dir, &o);
                recorder_attach(&rec, s);
                append_range(s, &rec, 1, 11, 1, 5, 200);
                recorder_drain(&rec, s);
                /* meta: fsync of file, then of the directory; snapshot: the same */
                atomic_store(&f.fsync_fail_at, atomic_load(&f.n_fsync) + nth);
                ck_assert_int_eq(store_save_hard_state(s, &hs, 0), 0);
                rec.submitted++;
                RaftSnapshotMeta m = { .index = 10, .term = 1 };
                /* the helper may already have failed on the meta write: 0
                 * (the store owns data now, whether or not it is ever
                 * written) or the error (data is still ours), never both */
                int r = store_save_snapshot(s, &m, data, 1000, 0);
                if (r == 0)
                        rec.submitted++;
                else {
                        ck_assert_int_eq(r, -EIO);
                        free(data);
                }
                recorder_drain(&rec, s);
                ck_assert_int_eq(rec.failed, 1);
                ck_assert_int_eq(rec.error, -EIO);
                /* the meta write may have been a group of its own */
                if (nth <= 2)
                        ck_assert_int_eq(rec.hard_states, 0);
                ck_assert_int_eq(rec.snapshots, 0);
                store_free(s);

                s = open_ok(dir, NULL);
                const RaftHardState *h = store_hard_state(s);
                ck_assert(h->term == 0 || (h->term == 7 && h->vote == 3 && h->commit == 10));
                if (rec.hard_states == 1)
                        ck_assert_uint_eq(h->term, 7);
                ck_assert_uint_eq(store_last_index(s), 10);
                if (store_snapshot_meta(s)) {
                        uint8_t *d;
                        size_t n;
                        ck_assert_int_eq(store_snapshot_load(s, &d, &n), 0);
                        ck_assert_uint_eq(n, 1000);
                        free(d);
                }
                check_range(s, store_first_index(s), 11, 1, 5, 200);
                store_free(s);
                tmpdir_remove(dir);
        }
}
END_TEST

/* ---- ownership on the "helper may already have failed" paths -----------
 * store.h: an error return leaves every buffer with the caller and the view
 * unchanged; 0 moves ownership for good, even if the submission is never
 * acknowledged. Run under ASan (build-asan) these cases also prove the
 * absence of a double free (both sides freeing) and of a leak (neither). */

/* The helper failed (on the fsync of meta) before the call: the error is
 * returned, nothing changes, and the caller frees its buffer. The loop has
 * not dispatched the FAILED completion yet, as in the race of issue 16. */
START_TEST(test_ownership_failed_before_submit) {
        char *dir = tmpdir_new();
        FaultIo f;
        StoreOptions o = { .io = &f.io };
        Store *s;
        Recorder rec;
        RaftHardState hs = { .term = 7, .vote = 3, .commit = 10 };
        RaftSnapshotMeta m = { .index = 10, .term = 1 };
        uint8_t *data = malloc(1000);
        RaftEntry e;

        ck_assert_ptr_nonnull(data);
        memset(data, 0x5a, 1000);
        fault_io_init(&f);
        s = open_ok(dir, &o);
        recorder_attach(&rec, s);
        append_range(s, &rec, 1, 11, 1, 5, 200);
        recorder_drain(&rec, s);
        atomic_store(&f.fsync_fail_at, atomic_load(&f.n_fsync) + 1);
        ck_assert_int_eq(store_save_hard_state(s, &hs, 0), 0);
        rec.submitted++;
        /* wait for the helper's failure without dispatching it */
        for (int i = 0; i < 5000 && !store_is_failed(s); i++)
                usleep(1000);
        ck_assert(store_is_failed(s));

        ck_assert_int_eq(store_save_snapshot(s, &m, data, 1000, 0), -EIO);
        ck_assert_ptr_null(store_snapshot_meta(s));
        ck_assert_uint_eq(store_first_index(s), 1);
        ck_assert_uint_eq(store_last_index(s), 10);
        free(data);                     /* still ours: the store must not free it */
        entry_make(&e, 11, 1, 5, 200);
        ck_assert_int_eq(store_append(s, &e, 1, 0), -EIO);
        ck_assert_uint_eq(store_last_index(s), 10);
        raft_entry_done(&e);            /* copied or not, the entry stays ours */

        recorder_drain(&rec, s);
        ck_assert_int_eq(rec.failed, 1);
        ck_assert_int_eq(rec.error, -EIO);
        ck_assert_int_eq(rec.hard_states, 0);
        ck_assert_int_eq(rec.snapshots, 0);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

/* The store accepted the snapshot (0), then the helper failed writing it:
 * the store owns and frees the data, the caller must not; the only
 * completion is FAILED. */
START_TEST(test_ownership_fails_after_accept) {
        for (long nth = 1; nth <= 2; nth++) {   /* fsync of the file, of the directory */
                char *dir = tmpdir_new();
                FaultIo f;
                StoreOptions o = { .io = &f.io };
                Store *s;
                Recorder rec;
                RaftSnapshotMeta m = { .index = 10, .term = 1 };
                uint8_t *data = malloc(1000);

                ck_assert_ptr_nonnull(data);
                memset(data, 0x6b, 1000);
                fault_io_init(&f);
                s = open_ok(dir, &o);
                recorder_attach(&rec, s);
                append_range(s, &rec, 1, 11, 1, 5, 200);
                recorder_drain(&rec, s);
                ck_assert(!store_is_failed(s));
                atomic_store(&f.fsync_fail_at, atomic_load(&f.n_fsync) + nth);
                ck_assert_int_eq(store_save_snapshot(s, &m, data, 1000, 0), 0);
                data = NULL;            /* the store's now, whatever happens */
                rec.submitted++;
                recorder_drain(&rec, s);
                ck_assert_int_eq(rec.failed, 1);
                ck_assert_int_eq(rec.error, -EIO);
                ck_assert_int_eq(rec.snapshots, 0);
                store_free(s);
                tmpdir_remove(dir);
        }
}
END_TEST

/* The window between the public call's check and the queue: the helper has
 * failed, writer_submit() is handed a submission carrying snapshot data. It
 * must take it over (and free it) and never acknowledge it; under ASan a
 * leak or a double free fails the case. White-box: store-internal.h. */
START_TEST(test_ownership_submit_after_failure) {
        char *dir = tmpdir_new();
        FaultIo f;
        StoreOptions o = { .io = &f.io };
        Store *s;
        Recorder rec;
        RaftHardState hs = { .term = 2 };
        Submission *sub;

        fault_io_init(&f);
        s = open_ok(dir, &o);
        recorder_attach(&rec, s);
        atomic_store(&f.fsync_fail_at, atomic_load(&f.n_fsync) + 1);
        ck_assert_int_eq(store_save_hard_state(s, &hs, 0), 0);
        rec.submitted++;
        for (int i = 0; i < 5000 && writer_failed(s) >= 0; i++)
                usleep(1000);
        ck_assert_int_eq(writer_failed(s), -EIO);

        sub = calloc(1, sizeof *sub);
        ck_assert_ptr_nonnull(sub);
        list_init(&sub->node);
        sub->type = STORE_COMPLETION_SNAPSHOT;
        sub->cookie = 99;
        sub->snap_len = 1000;
        sub->snap_data = malloc(sub->snap_len);
        ck_assert_ptr_nonnull(sub->snap_data);
        writer_submit(s, sub);          /* cannot fail; sub is the store's */

        recorder_drain(&rec, s);
        ck_assert_int_eq(rec.failed, 1);
        ck_assert_int_eq(rec.completed, 1);     /* FAILED only, never cookie 99 */
        ck_assert_int_eq(store_dispatch_completions(s), 0);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

/* A real full file system: a small tmpfs in a private mount namespace. */
START_TEST(test_enospc_real) {
        char *dir = tmpdir_new();
        Store *s;
        Recorder rec;
        uint64_t next = 1;

        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", dir, "tmpfs", 0, "size=256k") < 0) {
                printf("test_enospc_real: cannot mount a tmpfs (%m), skipped\n");
                tmpdir_remove(dir);
                return;
        }
        s = open_ok(dir, NULL);
        recorder_attach(&rec, s);
        while (rec.failed == 0 && next < 100000) {
                append_range(s, &rec, next, next + 10, 1, 5, 200);
                next += 10;
                recorder_drain(&rec, s);
        }
        ck_assert_int_eq(rec.failed, 1);
        ck_assert_int_eq(rec.error, -ENOSPC);
        uint64_t acked = rec.last_index;
        ck_assert_uint_gt(acked, 100);
        store_free(s);
        recover_after_failure(dir, acked, next - 1);
        ck_assert_int_eq(umount(dir), 0);
        tmpdir_remove(dir);
}
END_TEST

/* ---- a disk that dies at every step of a truncation or snapshot ----------
 * The base log is 1..300 (term 1) in many segments. A scenario is run with
 * the n-th disk-changing call failing (EIO, and every one after it), for
 * every n until the scenario gets through; each time, recovery on a healthy
 * disk must succeed (no false alarm) and give a log made of old and new
 * entries in a possible order — never a stale entry after a newer one. */

typedef enum Scenario { SC_TRUNCATE, SC_INSTALL, SC_COMPACT } Scenario;

static bool run_scenario(Store *s, Scenario sc) {
        Recorder rec;
        uint8_t *data = malloc(500);
        RaftSnapshotMeta m = { .index = sc == SC_INSTALL ? 500 : 200, .term = sc == SC_INSTALL ? 3 : 1 };
        RaftEntry e[10];

        memset(data, 0x33, 500);
        recorder_attach(&rec, s);
        if (sc == SC_TRUNCATE) {
                for (int i = 0; i < 10; i++)
                        entry_make(&e[i], 40 + (uint64_t) i, 2, 2, 60);
                rec.submitted += store_append(s, e, 10, 0) == 0;
                for (int i = 0; i < 10; i++)
                        raft_entry_done(&e[i]);
                free(data);
        } else {
                int r = store_save_snapshot(s, &m, data, 500, 0);
                if (r < 0)
                        free(data);
                rec.submitted += r == 0;
        }
        uint64_t lo = sc == SC_TRUNCATE ? 50 : sc == SC_INSTALL ? 501 : 301;
        uint64_t term = sc == SC_TRUNCATE ? 2 : sc == SC_INSTALL ? 3 : 1;
        uint32_t seed = sc == SC_TRUNCATE ? 2 : sc == SC_INSTALL ? 3 : 5;
        for (int i = 0; i < 10; i++)
                entry_make(&e[i], lo + (uint64_t) i, term, seed, 60);
        rec.submitted += store_append(s, e, 10, 0) == 0;
        for (int i = 0; i < 10; i++)
                raft_entry_done(&e[i]);
        recorder_drain(&rec, s);
        return rec.failed > 0;
}

static void verify_scenario(Store *s, Scenario sc) {
        const RaftSnapshotMeta *m = store_snapshot_meta(s);
        uint64_t first = store_first_index(s), last = store_last_index(s), t;

        switch (sc) {
        case SC_TRUNCATE:
                ck_assert_ptr_null(m);
                ck_assert_uint_eq(first, 1);
                ck_assert_uint_ge(last, 39);
                check_range(s, 1, 40, 1, 5, 60);
                if (last < 40)
                        break;
                ck_assert_int_eq(store_term(s, 40, &t), 0);
                if (t == 1) {
                        /* the old suffix, possibly shortened from its end */
                        ck_assert_uint_le(last, 300);
                        check_range(s, 40, last + 1, 1, 5, 60);
                } else {
                        ck_assert_uint_le(last, 59);
                        check_range(s, 40, last + 1, 2, 2, 60);
                }
                break;
        case SC_INSTALL:
                if (!m) {
                        ck_assert_uint_eq(last, 300);
                        check_range(s, 1, 301, 1, 5, 60);
                } else {
                        ck_assert_uint_eq(m->index, 500);
                        ck_assert_uint_eq(first, 501);
                        ck_assert_uint_le(last, 510);
                        if (last > 500)
                                check_range(s, 501, last + 1, 3, 3, 60);
                }
                break;
        case SC_COMPACT:
                if (m) {
                        ck_assert_uint_eq(m->index, 200);
                        ck_assert_uint_le(first, 201);
                } else
                        ck_assert_uint_eq(first, 1);
                ck_assert_uint_ge(last, 300);
                ck_assert_uint_le(last, 310);
                check_range(s, first, last + 1, 1, 5, 60);
                break;
        }
}

static void crash_points(Scenario sc) {
        char *base = tmpdir_new();
        StoreOptions o = { .segment_size_bytes = 4096 };
        long n;

        write_batches(base, &o, 30, 10, 60, false);
        ck_assert_uint_gt(dir_count_prefix(base, "seg-"), 4);
        for (n = 1; n < 500; n++) {
                char *dir = tmpdir_new();
                FaultIo f;
                Store *s;
                bool failed;

                dir_copy(base, dir);
                fault_io_init(&f);
                o.io = &f.io;
                s = open_ok(dir, &o);
                atomic_store(&f.mutation_fail_at, atomic_load(&f.n_mutations) + n);
                failed = run_scenario(s, sc);
                store_free(s);
                o.io = NULL;
                s = open_ok(dir, &o);
                verify_scenario(s, sc);
                store_free(s);
                tmpdir_remove(dir);
                if (!failed)
                        break;
        }
        ck_assert_int_gt(n, 3);
        ck_assert_int_lt(n, 500);
        printf("crash points of scenario %d: %ld\n", (int) sc, n - 1);
        tmpdir_remove(base);
}

START_TEST(test_crash_points_truncate) {
        crash_points(SC_TRUNCATE);
}
END_TEST

START_TEST(test_crash_points_install) {
        crash_points(SC_INSTALL);
}
END_TEST

START_TEST(test_crash_points_compact) {
        crash_points(SC_COMPACT);
}
END_TEST

static Suite *store_faults_suite(void) {
        Suite *s = suite_create("store-faults");
        struct {
                const char *name;
                const TTest *fn;
        } cases[] = {
                { "torn-every-offset", test_torn_every_offset },
                { "torn-batch-any-order", test_torn_batch_any_order },
                { "bitflip-committed", test_bitflip_committed },
                { "bitflip-segments", test_bitflip_segments },
                { "missing-segment", test_missing_segment },
                { "snapshot-corrupt", test_snapshot_corrupt },
                { "meta-corrupt", test_meta_corrupt },
                { "enospc", test_enospc },
                { "fsync-fail", test_fsync_fail },
                { "fsync-fail-meta-snapshot", test_fsync_fail_meta_snapshot },
                { "ownership-failed-before-submit", test_ownership_failed_before_submit },
                { "ownership-fails-after-accept", test_ownership_fails_after_accept },
                { "ownership-submit-after-failure", test_ownership_submit_after_failure },
                { "enospc-real", test_enospc_real },
                { "crash-points-truncate", test_crash_points_truncate },
                { "crash-points-install", test_crash_points_install },
                { "crash-points-compact", test_crash_points_compact },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                TCase *tc = tcase_create(cases[i].name);
                tcase_add_test(tc, cases[i].fn);
                tcase_set_timeout(tc, 120);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(store_faults_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
