#include "config.h"

/* io.c — the default StoreIo (plain syscalls, errors as negative errno) and
 * the small helpers every other file of store/ builds its I/O from.
 *
 * Nothing here retries an fsync: once fsync fails the kernel may have dropped
 * the dirty pages, and a second fsync would report success for data that is
 * gone. The caller turns such an error into the store's failed state. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/macro.h"
#include "store/io.h"

static int neg_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

static int sys_openat(void *u, int dirfd, const char *path, int flags, mode_t mode) {
        int fd = openat(dirfd, path, flags | O_CLOEXEC, mode);
        return fd < 0 ? neg_errno() : fd;
}

static int sys_close(void *u, int fd) {
        return close(fd) < 0 ? neg_errno() : 0;
}

static ssize_t sys_pread(void *u, int fd, void *buf, size_t n, off_t offset) {
        ssize_t k;
        do
                k = pread(fd, buf, n, offset);
        while (k < 0 && errno == EINTR);
        return k < 0 ? neg_errno() : k;
}

static ssize_t sys_pwrite(void *u, int fd, const void *buf, size_t n, off_t offset) {
        ssize_t k;
        do
                k = pwrite(fd, buf, n, offset);
        while (k < 0 && errno == EINTR);
        return k < 0 ? neg_errno() : k;
}

static int sys_fdatasync(void *u, int fd) {
        return fdatasync(fd) < 0 ? neg_errno() : 0;
}

static int sys_fsync(void *u, int fd) {
        return fsync(fd) < 0 ? neg_errno() : 0;
}

static int sys_ftruncate(void *u, int fd, off_t length) {
        return ftruncate(fd, length) < 0 ? neg_errno() : 0;
}

static int sys_renameat(void *u, int dirfd, const char *from, const char *to) {
        return renameat(dirfd, from, dirfd, to) < 0 ? neg_errno() : 0;
}

static int sys_unlinkat(void *u, int dirfd, const char *path) {
        return unlinkat(dirfd, path, 0) < 0 ? neg_errno() : 0;
}

static int sys_fstat_size(void *u, int fd, uint64_t *ret_size) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return neg_errno();
        *ret_size = (uint64_t) st.st_size;
        return 0;
}

static const StoreIo default_io = {
        .openat = sys_openat,
        .close = sys_close,
        .pread = sys_pread,
        .pwrite = sys_pwrite,
        .fdatasync = sys_fdatasync,
        .fsync = sys_fsync,
        .ftruncate = sys_ftruncate,
        .renameat = sys_renameat,
        .unlinkat = sys_unlinkat,
        .fstat_size = sys_fstat_size,
};

const StoreIo *store_io_default(void) {
        return &default_io;
}

int io_write_all(const StoreIo *io, int fd, const void *p, size_t n, uint64_t offset) {
        const uint8_t *b = p;

        while (n > 0) {
                ssize_t k = io->pwrite(io->userdata, fd, b, n, (off_t) offset);
                if (k < 0)
                        return (int) k;
                if (k == 0)
                        return -EIO;
                b += k;
                n -= (size_t) k;
                offset += (uint64_t) k;
        }
        return 0;
}

int io_read_all(const StoreIo *io, int fd, void *p, size_t n, uint64_t offset) {
        uint8_t *b = p;

        while (n > 0) {
                ssize_t k = io->pread(io->userdata, fd, b, n, (off_t) offset);
                if (k < 0)
                        return (int) k;
                if (k == 0)
                        return -EIO;
                b += k;
                n -= (size_t) k;
                offset += (uint64_t) k;
        }
        return 0;
}

static int close_keep_error(const StoreIo *io, int fd, int r) {
        int q = io->close(io->userdata, fd);
        return r < 0 ? r : q;
}

int io_write_file_atomic(const StoreIo *io, int dirfd, const char *name, const char *tmp_name,
                         const IoPiece *pieces, size_t n_pieces) {
        uint64_t off = 0;
        int fd, r = 0;

        fd = io->openat(io->userdata, dirfd, tmp_name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
                return fd;
        for (size_t i = 0; i < n_pieces && r >= 0; i++) {
                r = io_write_all(io, fd, pieces[i].data, pieces[i].len, off);
                off += pieces[i].len;
        }
        if (r >= 0)
                r = io->fsync(io->userdata, fd);
        r = close_keep_error(io, fd, r);
        if (r < 0) {
                (void) io->unlinkat(io->userdata, dirfd, tmp_name);
                return r;
        }
        r = io->renameat(io->userdata, dirfd, tmp_name, name);
        if (r < 0)
                return r;
        return io->fsync(io->userdata, dirfd);
}

int io_unlink_durable(const StoreIo *io, int dirfd, const char *name) {
        int r = io->unlinkat(io->userdata, dirfd, name);
        if (r < 0)
                return r;
        return io->fsync(io->userdata, dirfd);
}

int io_read_file(const StoreIo *io, int dirfd, const char *name, uint64_t max_bytes,
                 uint8_t **ret_data, size_t *ret_len) {
        _cleanup_free_ uint8_t *data = NULL;
        uint64_t size;
        int fd, r;

        fd = io->openat(io->userdata, dirfd, name, O_RDONLY, 0);
        if (fd < 0)
                return fd;
        r = io->fstat_size(io->userdata, fd, &size);
        if (r >= 0 && size > max_bytes)
                r = -EFBIG;
        if (r >= 0) {
                data = malloc(size > 0 ? size : 1);
                if (!data)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = io_read_all(io, fd, data, size, 0);
        r = close_keep_error(io, fd, r);
        if (r < 0)
                return r;
        *ret_data = TAKE_PTR(data);
        *ret_len = size;
        return 0;
}
