/* io.h — file helpers of store/ on top of the injectable StoreIo layer.
 *
 * Internal to store/. Every function returns 0 or a negative errno and
 * performs its I/O only through the StoreIo it is given, so that tests can
 * inject faults anywhere. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* One piece of a file written by io_write_file_atomic(). */
typedef struct IoPiece {
        const void *data;
        size_t len;
} IoPiece;

/* pwrite()s all n bytes at `offset`, continuing after short writes; a write
 * that makes no progress is -EIO. */
int io_write_all(const StoreIo *io, int fd, const void *p, size_t n, uint64_t offset);

/* pread()s exactly n bytes at `offset`; -EIO when the file is shorter
 * (the caller checked the size, so a short read is a failure). */
int io_read_all(const StoreIo *io, int fd, void *p, size_t n, uint64_t offset);

/* Writes the concatenated pieces to `tmp_name`, fsyncs it, renames it over
 * `name` and fsyncs the directory: after a crash `name` holds either the old
 * or the new contents, never a mixture. */
int io_write_file_atomic(const StoreIo *io, int dirfd, const char *name, const char *tmp_name,
                         const IoPiece *pieces, size_t n_pieces);

/* Unlinks `name` and fsyncs the directory, so that a later step of the
 * caller cannot reach the disk before this removal. */
int io_unlink_durable(const StoreIo *io, int dirfd, const char *name);

/* Reads a whole file of at most max_bytes into a new buffer (-EFBIG when it
 * is larger; -ENOENT when missing). */
int io_read_file(const StoreIo *io, int dirfd, const char *name, uint64_t max_bytes,
                 uint8_t **ret_data, size_t *ret_len);
