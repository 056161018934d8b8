#include "config.h"

/* snapshot.c — reading the snapshot file: its header for recovery, chunked
 * reads for InstallSnapshot, and whole loads for restoring the state machine.
 *
 * The file is replaced by rename(), so an open descriptor keeps reading the
 * version it opened even while the helper thread installs a newer one. */

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "lib/crc32c.h"
#include "lib/macro.h"
#include "store/format.h"
#include "store/io.h"
#include "store/store-internal.h"

#define VERIFY_CHUNK (UINT64_C(1) << 20)

struct StoreSnapshotReader {
        const StoreIo *io;
        int fd;
        RaftSnapshotMeta meta;
        uint64_t data_offset;
        uint64_t data_len;
        uint32_t data_crc;
};

void snapshot_file_done(SnapshotFile *f) {
        if (f->fd >= 0 && f->io)
                (void) f->io->close(f->io->userdata, f->fd);
        f->fd = -1;
        f->conf = mfree(f->conf);
}

int snapshot_file_open(const StoreIo *io, int dirfd, uint32_t max_conf, SnapshotFile *ret,
                       const char **ret_reason, uint64_t *ret_offset) {
        SnapshotFile f = { .io = io, .fd = -1 };
        uint8_t header[SNAPSHOT_HEADER_SIZE];
        uint64_t size;
        int r;

        *ret_reason = NULL;
        *ret_offset = 0;
        f.fd = io->openat(io->userdata, dirfd, "snapshot", O_RDONLY, 0);
        if (f.fd < 0)
                return f.fd;
        r = io->fstat_size(io->userdata, f.fd, &size);
        if (r < 0)
                goto fail;
        r = io_read_all(io, f.fd, header, MIN(size, (uint64_t) sizeof header), 0);
        if (r < 0)
                goto fail;
        r = snapshot_header_decode(header, MIN(size, (uint64_t) sizeof header), max_conf, &f.h, ret_reason);
        if (r < 0)
                goto bad;
        if (size != SNAPSHOT_HEADER_SIZE + (uint64_t) f.h.conf_len + f.h.data_len) {
                *ret_reason = "snapshot file size does not match its header";
                *ret_offset = size;
                goto bad;
        }
        f.conf = malloc(MAX(f.h.conf_len, 1u));
        if (!f.conf) {
                r = -ENOMEM;
                goto fail;
        }
        r = io_read_all(io, f.fd, f.conf, f.h.conf_len, SNAPSHOT_HEADER_SIZE);
        if (r < 0)
                goto fail;
        if (snapshot_header_verify(header, f.conf, f.h.conf_len) < 0) {
                *ret_reason = "snapshot header CRC mismatch";
                *ret_offset = 44;
                goto bad;
        }
        *ret = f;
        return 0;
bad:
        r = -EUCLEAN;
fail:
        snapshot_file_done(&f);
        return r;
}

int snapshot_file_verify_data(const SnapshotFile *f) {
        _cleanup_free_ uint8_t *buf = malloc(VERIFY_CHUNK);
        uint64_t off = SNAPSHOT_HEADER_SIZE + (uint64_t) f->h.conf_len, left = f->h.data_len;
        uint32_t crc = 0;

        if (!buf)
                return -ENOMEM;
        while (left > 0) {
                size_t n = (size_t) MIN(left, VERIFY_CHUNK);
                int r = io_read_all(f->io, f->fd, buf, n, off);
                if (r < 0)
                        return r;
                crc = crc32c(crc, buf, n);
                off += n;
                left -= n;
        }
        return crc == f->h.data_crc ? 0 : -EUCLEAN;
}

int store_snapshot_open(Store *s, StoreSnapshotReader **ret) {
        SnapshotFile f;
        StoreSnapshotReader *r;
        const char *reason;
        uint64_t offset;
        int q;

        q = view_check_usable(s);
        if (q < 0)
                return q;
        q = snapshot_file_open(s->io, s->dirfd, RECORD_MAX_PAYLOAD, &f, &reason, &offset);
        if (q < 0)
                return q;
        r = calloc(1, sizeof *r);
        if (!r) {
                snapshot_file_done(&f);
                return -ENOMEM;
        }
        *r = (StoreSnapshotReader) {
                .io = s->io,
                .fd = TAKE_FD(f.fd),
                .meta = { .index = f.h.index, .term = f.h.term, .conf_len = f.h.conf_len,
                          .conf = TAKE_PTR(f.conf) },
                .data_offset = SNAPSHOT_HEADER_SIZE + (uint64_t) f.h.conf_len,
                .data_len = f.h.data_len,
                .data_crc = f.h.data_crc,
        };
        *ret = r;
        return 0;
}

const RaftSnapshotMeta *store_snapshot_reader_meta(const StoreSnapshotReader *r) {
        return &r->meta;
}

uint64_t store_snapshot_reader_size(const StoreSnapshotReader *r) {
        return r->data_len;
}

int store_snapshot_reader_read(StoreSnapshotReader *r, uint64_t offset, void *buf, size_t len,
                               size_t *ret_n) {
        size_t n;
        int q;

        if (offset >= r->data_len) {
                *ret_n = 0;
                return 0;
        }
        n = (size_t) MIN((uint64_t) len, r->data_len - offset);
        q = io_read_all(r->io, r->fd, buf, n, r->data_offset + offset);
        if (q < 0)
                return q;
        *ret_n = n;
        return 0;
}

StoreSnapshotReader *store_snapshot_reader_free(StoreSnapshotReader *r) {
        if (!r)
                return NULL;
        if (r->fd >= 0)
                (void) r->io->close(r->io->userdata, r->fd);
        free(r->meta.conf);
        return mfree(r);
}

int store_snapshot_load(Store *s, uint8_t **ret_data, size_t *ret_len) {
        StoreSnapshotReader *r = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        size_t n = 0;
        int q;

        q = store_snapshot_open(s, &r);
        if (q < 0)
                return q;
        if (r->data_len > SIZE_MAX - 1) {
                q = -EFBIG;
                goto out;
        }
        data = malloc(MAX(r->data_len, (uint64_t) 1));
        if (!data) {
                q = -ENOMEM;
                goto out;
        }
        q = store_snapshot_reader_read(r, 0, data, (size_t) r->data_len, &n);
        if (q >= 0 && crc32c(0, data, n) != r->data_crc)
                q = -EUCLEAN;
        if (q >= 0) {
                *ret_data = TAKE_PTR(data);
                *ret_len = n;
        }
out:
        store_snapshot_reader_free(r);
        return q;
}
