/* test-store-util.h — shared helpers of the store/ unit tests: temporary
 * directories, a fault-injecting StoreIo, a completion recorder that drives
 * the store's eventfd, and deterministic entry payloads. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ---- directories and files ---- */
char *tmpdir_new(void);                         /* mkdtemp under /tmp; abort on failure */
void tmpdir_remove(char *dir);                  /* rm -rf and free */
char *path_join(const char *dir, const char *name);     /* malloc'd */
uint8_t *file_read(const char *path, size_t *ret_len);  /* whole file or NULL */
void file_write(const char *path, const void *data, size_t len);
void file_flip_bit(const char *path, uint64_t offset, int bit);
size_t dir_count_prefix(const char *dir, const char *prefix);
/* Copies the regular files of src into dst (which exists). */
void dir_copy(const char *src, const char *dst);
/* The n-th (0-based) segment name in sorted order, malloc'd, or NULL. */
char *dir_segment(const char *dir, size_t n);

/* ---- fault-injecting I/O layer ---- */
typedef struct FaultIo {
        StoreIo io;
        _Atomic long n_pwrite, n_fdatasync, n_fsync, n_pread, n_unlink;
        /* pwrite number `pwrite_fail_at` (1-based; 0 = never) and all later
         * ones fail with pwrite_errno; with short_write, that one first
         * writes half of its bytes. */
        _Atomic long pwrite_fail_at;
        int pwrite_errno;
        bool short_write;
        _Atomic long fdatasync_fail_at;         /* same for fdatasync ... */
        int fdatasync_errno;
        _Atomic long fsync_fail_at;             /* ... and for fsync (files and directory) */
        _Atomic long fdatasync_delay_usec;      /* sleep inside every fdatasync */
        /* Every call that changes the disk (pwrite, fdatasync, fsync,
         * ftruncate, renameat, unlinkat) counts in n_mutations; number
         * `mutation_fail_at` (1-based; 0 = never) and all later ones fail
         * with EIO: a disk that dies at that point. */
        _Atomic long n_mutations;
        _Atomic long mutation_fail_at;
} FaultIo;

void fault_io_init(FaultIo *f);

/* ---- completions ---- */
typedef struct Recorder {
        long submitted;         /* bumped by the submit helpers below */
        long completed;
        long entries, hard_states, snapshots, failed;
        int error;
        uint64_t last_index, last_term;         /* from the latest ENTRIES completion */
        uint64_t cookies[4096];
        long n_cookies;
} Recorder;

void recorder_attach(Recorder *rec, Store *s);
/* Polls and dispatches until every submission completed or the store failed
 * (5 s timeout per wait, then the test fails). */
void recorder_drain(Recorder *rec, Store *s);

/* ---- entries ---- */
/* Payload of entry `index` for `seed`: length 1..max_len, deterministic. */
void entry_make(RaftEntry *e, uint64_t index, uint64_t term, uint32_t seed, uint32_t max_len);
/* Appends [lo, hi) with `term`, one submission; asserts success. */
void append_range(Store *s, Recorder *rec, uint64_t lo, uint64_t hi, uint64_t term, uint32_t seed,
                  uint32_t max_len);
/* Checks entries [lo, hi) against entry_make(seed) and `term` (0 = any). */
void check_range(Store *s, uint64_t lo, uint64_t hi, uint64_t term, uint32_t seed, uint32_t max_len);

/* Opens, asserting success. */
Store *open_ok(const char *dir, const StoreOptions *opts);
/* Opens expecting failure r; returns the error (caller frees with store_error_done). */
StoreError open_fail(const char *dir, const StoreOptions *opts, int r);
