#include "config.h"

/* test-store.c — behaviour of store/ on healthy disks: round trips through
 * restarts, truncation of a conflicting suffix, segment rolling, snapshots
 * with compaction or discard, chunked snapshot reads, the bounded cache,
 * group commit, completion order, sd-event attachment, and a randomised
 * model check. Faults and corruption live in test-store-faults.c. */

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "lib/crc32c.h"
#include "store/format.h"
#include "store/store-internal.h"
#include "store/store.h"
#include "tests/unit/test-store-util.h"

START_TEST(test_empty) {
        char *dir = tmpdir_new();
        char *sub = path_join(dir, "data");
        Store *s = open_ok(sub, NULL), *s2 = NULL;
        StoreSnapshotReader *r = NULL;
        RaftEntry *v = NULL;
        size_t n;
        uint64_t t = 99;
        StoreError e;

        ck_assert_uint_eq(store_first_index(s), 1);
        ck_assert_uint_eq(store_last_index(s), 0);
        ck_assert_uint_eq(store_durable_index(s), 0);
        ck_assert_uint_eq(store_hard_state(s)->term, 0);
        ck_assert_ptr_null(store_snapshot_meta(s));
        ck_assert_int_eq(store_term(s, 0, &t), 0);
        ck_assert_uint_eq(t, 0);
        ck_assert_int_eq(store_term(s, 1, &t), -ENOENT);
        ck_assert_int_eq(store_entries(s, 1, 2, 100, &v, &n), -ENOENT);
        ck_assert_int_eq(store_snapshot_open(s, &r), -ENOENT);
        ck_assert_ptr_null(store_recovery_note(s));

        /* one Store per directory */
        ck_assert_int_eq(store_open(sub, NULL, &s2, &e), -EBUSY);
        ck_assert_ptr_nonnull(strstr(e.message, "in use"));
        store_error_done(&e);

        /* the first append must be index 1 */
        RaftEntry bad = { .index = 2, .term = 1, .type = RAFT_ENTRY_NOOP };
        ck_assert_int_eq(store_append(s, &bad, 1, 0), -EINVAL);
        store_free(s);
        s = open_ok(sub, NULL);
        store_free(s);
        free(sub);
        tmpdir_remove(dir);
}
END_TEST

START_TEST(test_roundtrip_restart) {
        char *dir = tmpdir_new();
        Store *s = open_ok(dir, NULL);
        Recorder rec;
        RaftHardState hs = { .term = 3, .vote = 2, .commit = 400 };

        recorder_attach(&rec, s);
        for (uint64_t lo = 1; lo <= 500; lo += 50)
                append_range(s, &rec, lo, lo + 50, 1 + lo / 200, 7, 300);
        /* readable before they are durable */
        check_range(s, 1, 501, 0, 7, 300);
        ck_assert_int_eq(store_save_hard_state(s, &hs, 99), 0);
        rec.submitted++;
        recorder_drain(&rec, s);
        ck_assert_int_eq(rec.failed, 0);
        ck_assert_int_eq(rec.entries, 10);
        ck_assert_int_eq(rec.hard_states, 1);
        ck_assert_uint_eq(rec.last_index, 500);
        ck_assert_uint_eq(rec.last_term, 3);
        ck_assert_uint_eq(store_durable_index(s), 500);
        for (long i = 0; i < 10; i++)
                ck_assert_uint_eq(rec.cookies[i], 1 + 50 * (uint64_t) i);
        ck_assert_uint_eq(rec.cookies[10], 99);
        store_free(s);

        s = open_ok(dir, NULL);
        ck_assert_ptr_null(store_recovery_note(s));
        ck_assert_uint_eq(store_first_index(s), 1);
        ck_assert_uint_eq(store_last_index(s), 500);
        ck_assert_uint_eq(store_durable_index(s), 500);
        ck_assert_uint_eq(store_hard_state(s)->term, 3);
        ck_assert_uint_eq(store_hard_state(s)->vote, 2);
        ck_assert_uint_eq(store_hard_state(s)->commit, 400);
        check_range(s, 1, 501, 0, 7, 300);
        /* and it keeps appending where it stopped */
        recorder_attach(&rec, s);
        append_range(s, &rec, 501, 520, 3, 7, 300);
        recorder_drain(&rec, s);
        store_free(s);
        s = open_ok(dir, NULL);
        check_range(s, 1, 520, 0, 7, 300);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

START_TEST(test_append_validation) {
        char *dir = tmpdir_new();
        Store *s = open_ok(dir, NULL);
        Recorder rec;
        RaftEntry e[2];

        recorder_attach(&rec, s);
        append_range(s, &rec, 1, 10, 2, 1, 50);
        entry_make(&e[0], 11, 2, 1, 10);
        ck_assert_int_eq(store_append(s, e, 1, 0), -EINVAL);           /* gap */
        e[0].index = 0;
        ck_assert_int_eq(store_append(s, e, 1, 0), -EINVAL);           /* index 0 */
        e[0].index = 10;
        e[0].term = 1;
        ck_assert_int_eq(store_append(s, e, 1, 0), -EINVAL);           /* term below entry 9's */
        e[0].term = 2;
        e[0].type = 9;
        ck_assert_int_eq(store_append(s, e, 1, 0), -EINVAL);           /* type */
        e[0].type = RAFT_ENTRY_NORMAL;
        entry_make(&e[1], 12, 2, 1, 10);
        ck_assert_int_eq(store_append(s, e, 2, 0), -EINVAL);           /* not consecutive */
        ck_assert_int_eq(store_append(s, e, 0, 0), -EINVAL);
        ck_assert_uint_eq(store_last_index(s), 9);
        raft_entry_done(&e[0]);
        raft_entry_done(&e[1]);
        recorder_drain(&rec, s);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

/* Raft §5.3: the conflicting suffix goes, also across segment boundaries
 * and while the entries it replaces are still being written. */
START_TEST(test_truncate_suffix) {
        char *dir = tmpdir_new();
        StoreOptions o = { .segment_size_bytes = 4096 };
        FaultIo f;
        Store *s;
        Recorder rec;
        uint64_t t;

        fault_io_init(&f);
        o.io = &f.io;
        s = open_ok(dir, &o);
        recorder_attach(&rec, s);
        append_range(s, &rec, 1, 301, 1, 1, 100);
        recorder_drain(&rec, s);
        ck_assert_uint_gt(dir_count_prefix(dir, "seg-"), 5);

        /* inside the last segment */
        append_range(s, &rec, 290, 295, 2, 2, 100);
        ck_assert_uint_eq(store_last_index(s), 294);
        ck_assert_uint_le(store_durable_index(s), 289);
        recorder_drain(&rec, s);
        ck_assert_uint_eq(store_durable_index(s), 294);
        ck_assert_uint_eq(rec.last_index, 294);
        ck_assert_uint_eq(rec.last_term, 2);

        /* across several segments */
        append_range(s, &rec, 40, 60, 3, 3, 100);
        ck_assert_int_eq(store_term(s, 39, &t), 0);
        ck_assert_uint_eq(t, 1);
        ck_assert_int_eq(store_term(s, 40, &t), 0);
        ck_assert_uint_eq(t, 3);
        ck_assert_int_eq(store_term(s, 60, &t), -ENOENT);
        recorder_drain(&rec, s);

        /* while the replaced entries are still in flight */
        atomic_store(&f.fdatasync_delay_usec, 20000);
        append_range(s, &rec, 60, 120, 3, 4, 100);
        append_range(s, &rec, 100, 130, 4, 5, 100);
        append_range(s, &rec, 125, 140, 5, 6, 100);
        ck_assert_uint_le(store_durable_index(s), 59);
        recorder_drain(&rec, s);
        ck_assert_uint_eq(store_durable_index(s), 139);
        atomic_store(&f.fdatasync_delay_usec, 0);
        check_range(s, 1, 40, 1, 1, 100);
        check_range(s, 40, 60, 3, 3, 100);
        check_range(s, 60, 100, 3, 4, 100);
        check_range(s, 100, 125, 4, 5, 100);
        check_range(s, 125, 140, 5, 6, 100);
        store_free(s);

        s = open_ok(dir, NULL);
        ck_assert_ptr_null(store_recovery_note(s));
        ck_assert_uint_eq(store_last_index(s), 139);
        check_range(s, 1, 40, 1, 1, 100);
        check_range(s, 40, 60, 3, 3, 100);
        check_range(s, 60, 100, 3, 4, 100);
        check_range(s, 100, 125, 4, 5, 100);
        check_range(s, 125, 140, 5, 6, 100);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

START_TEST(test_segments_roll) {
        char *dir = tmpdir_new();
        StoreOptions o = { .segment_size_bytes = 8192 };
        Store *s = open_ok(dir, &o);
        Recorder rec;
        size_t nseg;

        recorder_attach(&rec, s);
        for (uint64_t lo = 1; lo < 2000; lo += 100)
                append_range(s, &rec, lo, lo + 100, 1, 9, 200);
        /* one entry larger than a whole segment gets a segment of its own */
        append_range(s, &rec, 2001, 2002, 1, 9, 20000);
        append_range(s, &rec, 2002, 2010, 1, 9, 200);
        recorder_drain(&rec, s);
        nseg = dir_count_prefix(dir, "seg-");
        ck_assert_uint_gt(nseg, 20);
        for (size_t i = 0; i + 1 < nseg; i++) {
                char *name = dir_segment(dir, i), *p = path_join(dir, name);
                size_t len;
                uint8_t *b = file_read(p, &len);
                ck_assert(len <= 8192 || len > 20000);
                free(b);
                free(p);
                free(name);
        }
        store_free(s);
        /* a lower entry limit later does not make old records unreadable */
        o.entry_max_bytes = 1000;
        s = open_ok(dir, &o);
        check_range(s, 1, 2001, 1, 9, 200);
        check_range(s, 2001, 2002, 1, 9, 20000);
        check_range(s, 2002, 2010, 1, 9, 200);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

static uint8_t *snap_data(size_t len, uint8_t seed) {
        uint8_t *d = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(d);
        for (size_t i = 0; i < len; i++)
                d[i] = (uint8_t) (i * 31 + seed);
        return d;
}

static void save_snapshot(Store *s, Recorder *rec, uint64_t index, uint64_t term, size_t len, uint8_t seed) {
        uint8_t conf[5] = { 'c', 'o', 'n', 'f', seed };
        RaftSnapshotMeta m = { .index = index, .term = term, .conf_len = sizeof conf, .conf = conf };
        uint8_t *d = snap_data(len, seed);

        ck_assert_int_eq(store_save_snapshot(s, &m, d, len, index), 0);
        rec->submitted++;
}

static void check_snapshot(Store *s, uint64_t index, uint64_t term, size_t len, uint8_t seed) {
        uint8_t *d = NULL, *want = snap_data(len, seed);
        size_t n = 0;
        const RaftSnapshotMeta *m = store_snapshot_meta(s);

        ck_assert_ptr_nonnull(m);
        ck_assert_uint_eq(m->index, index);
        ck_assert_uint_eq(m->term, term);
        ck_assert_uint_eq(m->conf_len, 5);
        ck_assert_uint_eq(m->conf[4], seed);
        ck_assert_int_eq(store_snapshot_load(s, &d, &n), 0);
        ck_assert_uint_eq(n, len);
        ck_assert_int_eq(memcmp(d, want, len), 0);
        free(d);
        free(want);
}

START_TEST(test_snapshot_compact) {
        char *dir = tmpdir_new();
        StoreOptions o = { .segment_size_bytes = 4096 };
        Store *s = open_ok(dir, &o);
        Recorder rec;
        size_t before;
        uint64_t t;

        recorder_attach(&rec, s);
        append_range(s, &rec, 1, 301, 1, 1, 100);
        recorder_drain(&rec, s);
        before = dir_count_prefix(dir, "seg-");
        save_snapshot(s, &rec, 200, 1, 100000, 1);
        /* the view changes at once: whole segments up to 200 are gone */
        ck_assert_uint_gt(store_first_index(s), 1);
        ck_assert_uint_le(store_first_index(s), 201);
        ck_assert_int_eq(store_term(s, 200, &t), 0);
        ck_assert_uint_eq(t, 1);
        ck_assert_int_eq(store_term(s, 1, &t), -ENOENT);
        recorder_drain(&rec, s);
        ck_assert_int_eq(rec.snapshots, 1);
        ck_assert_uint_lt(dir_count_prefix(dir, "seg-"), before);
        ck_assert_uint_eq(store_last_index(s), 300);
        check_range(s, store_first_index(s), 301, 1, 1, 100);
        check_snapshot(s, 200, 1, 100000, 1);
        /* entries keep coming after the snapshot */
        append_range(s, &rec, 301, 320, 2, 1, 100);
        recorder_drain(&rec, s);
        uint64_t first = store_first_index(s);
        store_free(s);

        s = open_ok(dir, &o);
        ck_assert_ptr_null(store_recovery_note(s));
        check_snapshot(s, 200, 1, 100000, 1);
        ck_assert_uint_eq(store_first_index(s), first);
        ck_assert_uint_eq(store_last_index(s), 319);
        check_range(s, first, 301, 1, 1, 100);
        check_range(s, 301, 320, 2, 1, 100);

        /* a snapshot at the last index empties the log */
        recorder_attach(&rec, s);
        save_snapshot(s, &rec, 319, 2, 10, 2);
        ck_assert_uint_eq(store_first_index(s), 320);
        ck_assert_uint_eq(store_last_index(s), 319);
        recorder_drain(&rec, s);
        ck_assert_uint_eq(dir_count_prefix(dir, "seg-"), 0);
        append_range(s, &rec, 320, 330, 2, 3, 100);
        recorder_drain(&rec, s);
        store_free(s);
        s = open_ok(dir, &o);
        check_snapshot(s, 319, 2, 10, 2);
        ck_assert_uint_eq(store_first_index(s), 320);
        check_range(s, 320, 330, 2, 3, 100);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

/* Raft §7: a snapshot that does not match the log replaces all of it. */
START_TEST(test_snapshot_discard) {
        char *dir = tmpdir_new();
        Store *s = open_ok(dir, NULL);
        Recorder rec;
        uint64_t t;
        RaftEntry e;

        recorder_attach(&rec, s);
        append_range(s, &rec, 1, 101, 1, 1, 100);
        /* beyond the log */
        save_snapshot(s, &rec, 500, 3, 1000, 4);
        ck_assert_uint_eq(store_first_index(s), 501);
        ck_assert_uint_eq(store_last_index(s), 500);
        ck_assert_int_eq(store_term(s, 500, &t), 0);
        ck_assert_uint_eq(t, 3);
        ck_assert_int_eq(store_term(s, 100, &t), -ENOENT);
        entry_make(&e, 500, 3, 1, 10);
        ck_assert_int_eq(store_append(s, &e, 1, 0), -EINVAL);  /* covered by the snapshot */
        raft_entry_done(&e);
        append_range(s, &rec, 501, 511, 3, 5, 100);
        recorder_drain(&rec, s);
        ck_assert_uint_eq(store_durable_index(s), 510);
        ck_assert_uint_eq(dir_count_prefix(dir, "seg-"), 1);
        store_free(s);

        s = open_ok(dir, NULL);
        check_snapshot(s, 500, 3, 1000, 4);
        check_range(s, 501, 511, 3, 5, 100);
        /* inside the log with another term */
        recorder_attach(&rec, s);
        save_snapshot(s, &rec, 505, 4, 10, 6);
        ck_assert_uint_eq(store_last_index(s), 505);
        ck_assert_uint_eq(store_first_index(s), 506);
        recorder_drain(&rec, s);
        store_free(s);
        s = open_ok(dir, NULL);
        check_snapshot(s, 505, 4, 10, 6);
        ck_assert_uint_eq(store_last_index(s), 505);
        ck_assert_int_eq(store_snapshot_meta(s)->index, 505);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

START_TEST(test_snapshot_reader) {
        char *dir = tmpdir_new();
        Store *s = open_ok(dir, NULL);
        Recorder rec;
        StoreSnapshotReader *r;
        uint8_t *want = snap_data(300000, 7), buf[4096];
        uint64_t off = 0;
        size_t n;

        recorder_attach(&rec, s);
        append_range(s, &rec, 1, 11, 1, 1, 100);
        save_snapshot(s, &rec, 10, 1, 300000, 7);
        recorder_drain(&rec, s);
        ck_assert_int_eq(store_snapshot_open(s, &r), 0);
        ck_assert_uint_eq(store_snapshot_reader_meta(r)->index, 10);
        ck_assert_uint_eq(store_snapshot_reader_size(r), 300000);
        /* a newer snapshot replaces the file; the open reader keeps the old one */
        append_range(s, &rec, 11, 21, 1, 1, 100);
        save_snapshot(s, &rec, 20, 1, 5000, 8);
        recorder_drain(&rec, s);
        for (;;) {
                ck_assert_int_eq(store_snapshot_reader_read(r, off, buf, sizeof buf, &n), 0);
                if (n == 0)
                        break;
                ck_assert_int_eq(memcmp(buf, want + off, n), 0);
                off += n;
        }
        ck_assert_uint_eq(off, 300000);
        store_snapshot_reader_free(r);
        ck_assert_int_eq(store_snapshot_open(s, &r), 0);
        ck_assert_uint_eq(store_snapshot_reader_meta(r)->index, 20);
        store_snapshot_reader_free(r);
        free(want);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

/* A crash between writing a discarding snapshot and deleting the segments
 * leaves a log that does not match it: recovery completes the discard. */
START_TEST(test_interrupted_install) {
        char *dir = tmpdir_new();
        Store *s = open_ok(dir, NULL);
        Recorder rec;
        uint8_t conf[3] = { 1, 2, 3 }, data[10] = { 0 }, header[SNAPSHOT_HEADER_SIZE];
        SnapshotHeader h = { .index = 50, .term = 2, .conf_len = 3, .data_len = 10,
                             .data_crc = crc32c(0, data, 10) };
        char *p = path_join(dir, "snapshot");
        uint8_t file[SNAPSHOT_HEADER_SIZE + 13];

        recorder_attach(&rec, s);
        append_range(s, &rec, 1, 101, 1, 1, 100);
        recorder_drain(&rec, s);
        store_free(s);

        snapshot_header_encode(&h, conf, header);
        memcpy(file, header, sizeof header);
        memcpy(file + sizeof header, conf, 3);
        memcpy(file + sizeof header + 3, data, 10);
        file_write(p, file, sizeof file);
        s = open_ok(dir, NULL);
        ck_assert_ptr_nonnull(store_recovery_note(s));
        ck_assert_ptr_nonnull(strstr(store_recovery_note(s), "superseded by the snapshot"));
        ck_assert_uint_eq(store_last_index(s), 50);
        ck_assert_uint_eq(store_first_index(s), 51);
        ck_assert_uint_eq(dir_count_prefix(dir, "seg-"), 0);
        store_free(s);
        free(p);
        tmpdir_remove(dir);
}
END_TEST

START_TEST(test_bounded_cache) {
        char *dir = tmpdir_new();
        StoreOptions o = { .cache_max_bytes = 8192, .segment_size_bytes = 65536 };
        FaultIo f;
        Store *s;
        Recorder rec;
        long preads;

        fault_io_init(&f);
        o.io = &f.io;
        s = open_ok(dir, &o);
        recorder_attach(&rec, s);
        for (uint64_t lo = 1; lo <= 2000; lo += 100)
                append_range(s, &rec, lo, lo + 100, 1, 3, 100);
        recorder_drain(&rec, s);
        ck_assert_uint_le(s->cache_bytes, 8192);
        ck_assert_uint_gt(s->cache.n, 50);
        /* recent entries come from memory */
        preads = atomic_load(&f.n_pread);
        check_range(s, 1950, 2001, 1, 3, 100);
        ck_assert_int_eq(atomic_load(&f.n_pread), preads);
        /* old ones from disk, correctly */
        check_range(s, 1, 1900, 1, 3, 100);
        ck_assert_int_gt(atomic_load(&f.n_pread), preads);
        ck_assert_uint_le(s->cache_bytes, 8192);
        /* the byte budget of a read is honoured, at least one entry */
        RaftEntry *v;
        size_t n;
        ck_assert_int_eq(store_entries(s, 1, 2001, 1, &v, &n), 0);
        ck_assert_uint_eq(n, 1);
        raft_entry_done(&v[0]);
        free(v);
        ck_assert_int_eq(store_entries(s, 1, 2001, 1000, &v, &n), 0);
        ck_assert_uint_ge(n, 1);
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
                total += v[i].len;
                raft_entry_done(&v[i]);
        }
        free(v);
        ck_assert_uint_le(total, 1000);
        ck_assert_int_eq(store_entries(s, 0, 5, 1000, &v, &n), -ENOENT);
        ck_assert_int_eq(store_entries(s, 5, 2002, 1000, &v, &n), -ENOENT);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

/* Appends that arrive while a sync is running share the next one. */
START_TEST(test_group_commit) {
        char *dir = tmpdir_new();
        StoreOptions o = {};
        FaultIo f;
        Store *s;
        Recorder rec;
        long syncs;

        fault_io_init(&f);
        o.io = &f.io;
        s = open_ok(dir, &o);
        recorder_attach(&rec, s);
        append_range(s, &rec, 1, 2, 1, 1, 10);
        recorder_drain(&rec, s);
        syncs = atomic_load(&f.n_fdatasync);
        atomic_store(&f.fdatasync_delay_usec, 20000);
        for (uint64_t i = 2; i < 202; i++)
                append_range(s, &rec, i, i + 1, 1, 1, 10);
        recorder_drain(&rec, s);
        syncs = atomic_load(&f.n_fdatasync) - syncs;
        ck_assert_int_eq(rec.entries, 201);
        ck_assert_msg(syncs <= 5, "200 appends took %ld fdatasyncs", syncs);
        for (long i = 0; i < rec.n_cookies; i++)
                ck_assert_uint_eq(rec.cookies[i], (uint64_t) i + 1);
        ck_assert_uint_eq(rec.last_index, 201);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

START_TEST(test_order) {
        char *dir = tmpdir_new();
        Store *s = open_ok(dir, NULL);
        Recorder rec;
        RaftHardState hs = { .term = 5, .vote = 1, .commit = 0 };

        recorder_attach(&rec, s);
        append_range(s, &rec, 1, 5, 1, 1, 10);
        ck_assert_int_eq(store_save_hard_state(s, &hs, 1000), 0);
        rec.submitted++;
        append_range(s, &rec, 5, 9, 5, 1, 10);
        hs.commit = 8;
        ck_assert_int_eq(store_save_hard_state(s, &hs, 1001), 0);
        rec.submitted++;
        ck_assert_uint_eq(store_hard_state(s)->commit, 8);
        recorder_drain(&rec, s);
        ck_assert_int_eq(rec.n_cookies, 4);
        ck_assert_uint_eq(rec.cookies[0], 1);
        ck_assert_uint_eq(rec.cookies[1], 1000);
        ck_assert_uint_eq(rec.cookies[2], 5);
        ck_assert_uint_eq(rec.cookies[3], 1001);
        store_free(s);
        s = open_ok(dir, NULL);
        ck_assert_uint_eq(store_hard_state(s)->term, 5);
        ck_assert_uint_eq(store_hard_state(s)->commit, 8);
        store_free(s);
        tmpdir_remove(dir);
}
END_TEST

static void on_event_completion(Store *s, const StoreCompletion *c, void *userdata) {
        sd_event *e = userdata;
        if (c->type == STORE_COMPLETION_ENTRIES && c->index == 20)
                (void) sd_event_exit(e, 0);
}

START_TEST(test_sd_event) {
        char *dir = tmpdir_new();
        Store *s = open_ok(dir, NULL);
        sd_event *e = NULL;

        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_eq(store_attach_event(s, e, 0), 0);
        ck_assert_int_eq(store_attach_event(s, e, 0), -EBUSY);
        store_set_completion_handler(s, on_event_completion, e);
        append_range(s, NULL, 1, 11, 1, 1, 10);
        append_range(s, NULL, 11, 21, 1, 1, 10);
        ck_assert_int_ge(sd_event_loop(e), 0);
        ck_assert_uint_eq(store_durable_index(s), 20);
        store_free(s);
        sd_event_unref(e);
        tmpdir_remove(dir);
}
END_TEST

/* Random appends (with conflicting suffixes), snapshots and restarts,
 * checked against a model of the log. Replay with TEST_SEED=<n>. */
typedef struct Model {
        uint64_t first, last, snap, snap_term;
        uint64_t term[4000];
        uint32_t seed[4000];
} Model;

static uint64_t rnd(uint64_t *st) {
        *st = *st * 6364136223846793005u + 1442695040888963407u;
        return *st >> 33;
}

static void model_check(Store *s, const Model *m) {
        ck_assert_uint_eq(store_last_index(s), m->last);
        ck_assert_uint_le(store_first_index(s), m->snap + 1);
        for (uint64_t i = MAX(store_first_index(s), 1); i <= m->last; i++)
                check_range(s, i, i + 1, m->term[i], m->seed[i], 64);
}

START_TEST(test_random_model) {
        const char *env = getenv("TEST_SEED");
        uint64_t seed = env ? strtoull(env, NULL, 0) : 12345, st = seed;
        char *dir = tmpdir_new();
        StoreOptions o = { .segment_size_bytes = 4096, .cache_max_bytes = 2048 };
        Store *s = open_ok(dir, &o);
        Model *m = calloc(1, sizeof *m);
        Recorder rec;
        uint64_t cur_term = 1;

        printf("test_random_model: TEST_SEED=%" PRIu64 "\n", seed);
        m->first = 1;
        recorder_attach(&rec, s);
        for (int step = 0; step < 400; step++) {
                uint64_t op = rnd(&st) % 20;
                if (op < 14 && m->last < 3900) {
                        uint64_t lo = m->last + 1, n = 1 + rnd(&st) % 20;
                        if (op < 3 && m->last > m->snap + 1)
                                lo = m->snap + 1 + rnd(&st) % (m->last - m->snap);
                        if (lo <= m->last)
                                cur_term++;
                        uint32_t sd = (uint32_t) rnd(&st);
                        append_range(s, &rec, lo, lo + n, cur_term, sd, 64);
                        for (uint64_t i = lo; i < lo + n; i++) {
                                m->term[i] = cur_term;
                                m->seed[i] = sd;
                        }
                        m->last = lo + n - 1;
                } else if (op < 16 && m->last > m->snap) {
                        uint64_t idx = m->snap + 1 + rnd(&st) % (m->last - m->snap);
                        save_snapshot(s, &rec, idx, m->term[idx], 100, 1);
                        m->snap = idx;
                        m->snap_term = m->term[idx];
                } else if (op < 17) {
                        /* snapshot from a "leader" that replaces the log */
                        uint64_t idx = m->last + 1 + rnd(&st) % 10;
                        cur_term++;
                        save_snapshot(s, &rec, idx, cur_term, 100, 2);
                        m->snap = m->last = idx;
                        m->snap_term = cur_term;
                } else if (op < 19) {
                        recorder_drain(&rec, s);
                } else {
                        recorder_drain(&rec, s);
                        store_free(s);
                        s = open_ok(dir, &o);
                        ck_assert_ptr_null(store_recovery_note(s));
                        recorder_attach(&rec, s);
                }
                if (step % 25 == 0)
                        model_check(s, m);
        }
        recorder_drain(&rec, s);
        model_check(s, m);
        store_free(s);
        s = open_ok(dir, &o);
        model_check(s, m);
        store_free(s);
        free(m);
        tmpdir_remove(dir);
}
END_TEST

static Suite *store_suite(void) {
        Suite *s = suite_create("store");
        struct {
                const char *name;
                const TTest *fn;
        } cases[] = {
                { "empty", test_empty },
                { "roundtrip-restart", test_roundtrip_restart },
                { "append-validation", test_append_validation },
                { "truncate-suffix", test_truncate_suffix },
                { "segments-roll", test_segments_roll },
                { "snapshot-compact", test_snapshot_compact },
                { "snapshot-discard", test_snapshot_discard },
                { "snapshot-reader", test_snapshot_reader },
                { "interrupted-install", test_interrupted_install },
                { "bounded-cache", test_bounded_cache },
                { "group-commit", test_group_commit },
                { "order", test_order },
                { "sd-event", test_sd_event },
                { "random-model", test_random_model },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                TCase *tc = tcase_create(cases[i].name);
                tcase_add_test(tc, cases[i].fn);
                tcase_set_timeout(tc, 60);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(store_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
