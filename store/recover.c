#include "config.h"

/* recover.c — opening a data directory: crash recovery and corruption checks.
 *
 * Steps: lock the directory; remove temporary files a crash left behind
 * (they were never renamed, so nothing refers to them); load meta and the
 * snapshot (verifying every byte); scan every segment in index order; then
 * reconcile the log with the snapshot.
 *
 * What is repaired, and why it is safe (each repair is reported through
 * store_recovery_note()):
 *  - an incomplete final write in the last segment is cut off: it was never
 *    acknowledged, because the acknowledgement waits for the fdatasync that
 *    would have completed it (format.h explains how it is told from damage);
 *  - segments whose log does not contain the snapshot's last entry with the
 *    snapshot's term are deleted: that state exists only when a crash
 *    interrupted a snapshot install that discards the log (plan.c), and
 *    every entry they hold up to the snapshot index is covered by it.
 * Everything else that does not verify stops the open with -EUCLEAN and a
 * message naming the file and the byte offset, including a log that ends
 * before the commit index recorded in meta (a lost last segment). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "lib/macro.h"
#include "store/format.h"
#include "store/io.h"
#include "store/store-internal.h"

static int report(StoreError *e, int r, const char *dir, const char *name, uint64_t offset,
                  const char *fmt, ...) _printf_(6, 7);

/* Fills *e (when non-NULL) and returns r. The message reads
 * "<dir>/<name>: offset N: <what>" for corruption, "...: <what>: <strerror>"
 * otherwise. */
static int report(StoreError *e, int r, const char *dir, const char *name, uint64_t offset,
                  const char *fmt, ...) {
        _cleanup_free_ char *what = NULL, *file = NULL;
        char where[48] = "";
        va_list ap;
        int k;

        if (!e)
                return r;
        store_error_done(e);
        va_start(ap, fmt);
        k = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (k < 0)
                return r;
        if (asprintf(&file, "%s/%s", dir, name ? name : "") < 0)
                return r;
        if (offset != UINT64_MAX)
                (void) snprintf(where, sizeof where, "offset %" PRIu64 ": ", offset);
        if (r == -EUCLEAN)
                k = asprintf(&e->message, "%s: %s%s", file, where, what);
        else
                k = asprintf(&e->message, "%s: %s%s: %s", file, where, what, strerror(-r));
        if (k < 0)
                e->message = NULL;
        e->offset = offset;
        if (name)
                e->file = TAKE_PTR(file);
        return r;
}

/* Makes a just created directory's own entry durable. */
static int sync_parent(Store *s) {
        _cleanup_free_ char *copy = strdup(s->dir);
        int fd, r;

        if (!copy)
                return -ENOMEM;
        fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = s->io->fsync(s->io->userdata, fd);
        safe_close(fd);
        return r;
}

static int open_dir(Store *s, StoreError *e) {
        int r;

        if (mkdir(s->dir, 0700) >= 0) {
                r = sync_parent(s);
                if (r < 0)
                        return report(e, r, s->dir, NULL, UINT64_MAX, "cannot sync the parent directory");
        } else if (errno != EEXIST)
                return report(e, -errno, s->dir, NULL, UINT64_MAX, "cannot create the data directory");
        s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dirfd < 0)
                return report(e, -errno, s->dir, NULL, UINT64_MAX, "cannot open the data directory");
        s->lock_fd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lock_fd < 0)
                return report(e, -errno, s->dir, "lock", UINT64_MAX, "cannot open");
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                return report(e, r, s->dir, "lock", UINT64_MAX, "data directory in use by another process");
        }
        return 0;
}

static bool is_tmp_name(const char *name) {
        size_t n = strlen(name);
        uint64_t ignored;
        char base[SEGMENT_NAME_MAX];

        if (strcmp(name, "meta.tmp") == 0 || strcmp(name, "snapshot.tmp") == 0)
                return true;
        if (n != SEGMENT_NAME_MAX - 1 + 4 || strcmp(name + n - 4, ".tmp") != 0)
                return false;
        memcpy(base, name, SEGMENT_NAME_MAX - 1);
        base[SEGMENT_NAME_MAX - 1] = 0;
        return segment_name_parse(base, &ignored);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* Collects the segments (sorted by first index) and removes leftovers of
 * interrupted atomic writes. */
static int list_dir(Store *s, uint64_t **ret, size_t *ret_n, StoreError *e) {
        _cleanup_free_ uint64_t *v = NULL;
        size_t n = 0, cap = 0;
        bool removed = false;
        struct dirent *de;
        DIR *d;
        int fd, r = 0;

        fd = fcntl(s->dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return report(e, -errno, s->dir, NULL, UINT64_MAX, "cannot list the data directory");
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                safe_close(fd);
                return report(e, r, s->dir, NULL, UINT64_MAX, "cannot list the data directory");
        }
        rewinddir(d);
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                uint64_t first;

                if (is_tmp_name(de->d_name)) {
                        r = s->io->unlinkat(s->io->userdata, s->dirfd, de->d_name);
                        if (r < 0)
                                r = report(e, r, s->dir, de->d_name, UINT64_MAX, "cannot remove");
                        removed = true;
                } else if (segment_name_parse(de->d_name, &first)) {
                        if (n == cap) {
                                uint64_t *nv = realloc(v, (cap = MAX(cap * 2, (size_t) 16)) * sizeof *v);
                                if (!nv)
                                        r = -ENOMEM;
                                else
                                        v = nv;
                        }
                        if (r >= 0)
                                v[n++] = first;
                } else if (strncmp(de->d_name, "seg-", 4) == 0)
                        r = report(e, -EUCLEAN, s->dir, de->d_name, UINT64_MAX,
                                   "unexpected file that looks like a segment");
        }
        if (r >= 0 && errno != 0)
                r = report(e, -errno, s->dir, NULL, UINT64_MAX, "cannot list the data directory");
        closedir(d);
        if (r >= 0 && removed) {
                r = s->io->fsync(s->io->userdata, s->dirfd);
                if (r < 0)
                        r = report(e, r, s->dir, NULL, UINT64_MAX, "cannot sync the data directory");
        }
        if (r < 0)
                return r;
        if (n > 0)
                qsort(v, n, sizeof *v, cmp_u64);
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

static int load_meta(Store *s, StoreError *e) {
        _cleanup_free_ uint8_t *data = NULL;
        const char *reason;
        size_t len;
        int r;

        r = io_read_file(s->io, s->dirfd, "meta", 4096, &data, &len);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG)
                return report(e, -EUCLEAN, s->dir, "meta", 0, "meta file too large");
        if (r < 0)
                return report(e, r, s->dir, "meta", UINT64_MAX, "cannot read");
        if (meta_decode(data, len, &s->hs, &reason) < 0)
                return report(e, -EUCLEAN, s->dir, "meta", 0, "%s", reason);
        return 0;
}

static int load_snapshot(Store *s, StoreError *e) {
        SnapshotFile f;
        const char *reason;
        uint64_t offset;
        int r;

        r = snapshot_file_open(s->io, s->dirfd, RECORD_MAX_PAYLOAD, &f, &reason, &offset);
        if (r == -ENOENT)
                return 0;
        if (r == -EUCLEAN)
                return report(e, r, s->dir, "snapshot", offset, "%s", reason);
        if (r < 0)
                return report(e, r, s->dir, "snapshot", UINT64_MAX, "cannot read");
        r = snapshot_file_verify_data(&f);
        if (r == -EUCLEAN)
                r = report(e, r, s->dir, "snapshot", SNAPSHOT_HEADER_SIZE + (uint64_t) f.h.conf_len,
                           "snapshot data CRC mismatch");
        else if (r < 0)
                r = report(e, r, s->dir, "snapshot", UINT64_MAX, "cannot read");
        if (r >= 0) {
                s->snap = (RaftSnapshotMeta) { .index = f.h.index, .term = f.h.term,
                                               .conf_len = f.h.conf_len, .conf = TAKE_PTR(f.conf) };
                s->has_snap = true;
        }
        snapshot_file_done(&f);
        return r;
}

static int scan_record(void *userdata, const RecordHeader *h, uint64_t offset, const uint8_t *payload) {
        return view_add_index(userdata, h->term, (uint32_t) offset, h->len);
}

static int cut_torn_tail(Store *s, const char *name, uint64_t end, uint64_t size, const char *reason) {
        int fd, r, q;

        fd = s->io->openat(s->io->userdata, s->dirfd, name, O_WRONLY, 0);
        if (fd < 0)
                return fd;
        r = s->io->ftruncate(s->io->userdata, fd, (off_t) end);
        if (r >= 0)
                r = s->io->fsync(s->io->userdata, fd);
        q = s->io->close(s->io->userdata, fd);
        if (r < 0 || q < 0)
                return r < 0 ? r : q;
        store_add_note(s, "%s/%s: cut off an incomplete write at offset %" PRIu64 " (%" PRIu64
                       " bytes; %s)", s->dir, name, end, size - end, reason);
        return 0;
}

/* Scans segment i of n (first index `first`); `*prev_last`/`*prev_term`
 * describe the records before it and are advanced. */
static int load_segment(Store *s, uint64_t first, bool is_last, uint64_t *prev_last,
                        uint64_t *prev_term, StoreError *e) {
        _cleanup_free_ uint8_t *data = NULL;
        char name[SEGMENT_NAME_MAX];
        ScanResult res;
        size_t len;
        int r;

        segment_name(first, name);
        if (s->n_segs > 0 && first != *prev_last + 1)
                return report(e, -EUCLEAN, s->dir, name, 16,
                              "segment starts at index %" PRIu64 " but the previous one ends at %" PRIu64
                              " (a segment is missing or out of place)", first, *prev_last);
        r = io_read_file(s->io, s->dirfd, name, SEGMENT_MAX_SIZE, &data, &len);
        if (r == -EFBIG)
                return report(e, -EUCLEAN, s->dir, name, SEGMENT_MAX_SIZE, "segment file too large");
        if (r < 0)
                return report(e, r, s->dir, name, UINT64_MAX, "cannot read");
        if (s->n_segs == 0)
                s->first_index = first;
        r = segment_scan(data, len, first, *prev_term, RECORD_MAX_PAYLOAD, is_last,
                         scan_record, s, &res);
        if (r < 0)
                return report(e, r, s->dir, name, UINT64_MAX, "cannot index");
        if (res.status == SCAN_CORRUPT)
                return report(e, -EUCLEAN, s->dir, name, res.end, "%s (damaged data before the end of the log)",
                              res.reason);
        if (res.status == SCAN_TORN) {
                r = cut_torn_tail(s, name, res.end, len, res.reason);
                if (r < 0)
                        return report(e, r, s->dir, name, res.end, "cannot cut off an incomplete write");
        }
        r = view_add_segment(s, first, res.end);
        if (r < 0)
                return r;
        *prev_last = first + res.n_records - 1;
        if (res.n_records > 0)
                *prev_term = res.last_term;
        s->last_index = *prev_last;
        return 0;
}

/* Deletes every segment, last first (completing an interrupted discard). */
static int discard_log(Store *s, StoreError *e) {
        size_t n = s->n_segs;

        while (s->n_segs > 0) {
                char name[SEGMENT_NAME_MAX];
                int r;

                segment_name(s->segs[s->n_segs - 1].first, name);
                r = io_unlink_durable(s->io, s->dirfd, name);
                if (r < 0)
                        return report(e, r, s->dir, name, UINT64_MAX, "cannot remove a stale segment");
                s->n_segs--;
        }
        deq_drop_back(&s->idx, s->idx.n);
        store_add_note(s, "%s: removed %zu segment(s) superseded by the snapshot at index %" PRIu64
                       " (completing an interrupted snapshot install)", s->dir, n, s->snap.index);
        return 0;
}

static int reconcile(Store *s, StoreError *e) {
        uint64_t snap = s->has_snap ? s->snap.index : 0, first, term;
        char name[SEGMENT_NAME_MAX];
        int r;

        if (s->n_segs == 0) {
                s->first_index = snap + 1;
                s->last_index = snap;
                return 0;
        }
        first = s->segs[0].first;
        segment_name(first, name);
        if (first > snap + 1)
                return report(e, -EUCLEAN, s->dir, name, 16,
                              "log starts at index %" PRIu64 " but %s (segments are missing)", first,
                              s->has_snap ? "the snapshot ends before it" : "there is no snapshot");
        if (!s->has_snap || first == snap + 1)
                return 0;
        if (s->last_index >= snap) {
                term = view_idx(s, snap)->term;
                if (term == s->snap.term)
                        return 0;
        }
        r = discard_log(s, e);
        if (r < 0)
                return r;
        s->first_index = snap + 1;
        s->last_index = snap;
        return 0;
}

/* The meta file's commit index was written after every entry up to it was
 * durable (one ordered queue), so a log ending before it lost committed
 * entries: a removed or truncated last segment. */
static int check_commit(Store *s, StoreError *e) {
        char name[SEGMENT_NAME_MAX];

        if (s->hs.commit <= s->last_index)
                return 0;
        if (s->n_segs == 0)
                return report(e, -EUCLEAN, s->dir, "meta", 32,
                              "commit index %" PRIu64 " but the log ends at %" PRIu64
                              " (segments are missing)", s->hs.commit, s->last_index);
        segment_name(s->segs[s->n_segs - 1].first, name);
        return report(e, -EUCLEAN, s->dir, name, s->segs[s->n_segs - 1].end,
                      "log ends at index %" PRIu64 " but the commit index in meta is %" PRIu64
                      " (committed entries are missing)", s->last_index, s->hs.commit);
}

int store_recover(Store *s, StoreError *e) {
        _cleanup_free_ uint64_t *firsts = NULL;
        uint64_t prev_last = 0, prev_term = 0;
        size_t n = 0;
        int r;

        r = open_dir(s, e);
        if (r < 0)
                return r;
        r = list_dir(s, &firsts, &n, e);
        if (r < 0)
                return r;
        r = load_meta(s, e);
        if (r < 0)
                return r;
        r = load_snapshot(s, e);
        if (r < 0)
                return r;
        s->first_index = 1;
        for (size_t i = 0; i < n; i++) {
                r = load_segment(s, firsts[i], i == n - 1, &prev_last, &prev_term, e);
                if (r < 0)
                        return r;
        }
        r = reconcile(s, e);
        if (r < 0)
                return r;
        return check_commit(s, e);
}
