/* store.h — durable storage of one raft node: entry log, hard state, snapshot.
 *
 * A data directory holds
 *   seg-<first index, 16 hex digits>   write-ahead log segments (records with CRC32C)
 *   meta                               term, vote, commit (replaced atomically)
 *   snapshot                           the latest snapshot: meta + state-machine bytes
 *   lock                               flock()ed while a Store has the directory open
 * The formats are specified in store/format.h.
 *
 * Threads. A Store belongs to one thread, the "loop thread" (the daemon's
 * sd-event loop); every function below must be called from it. Writes are
 * asynchronous: store_append(), store_save_hard_state() and
 * store_save_snapshot() queue work for the store's own helper thread, which
 * performs it in submission order and groups everything queued meanwhile
 * under one fdatasync (group commit). Completions come back to the loop
 * through an eventfd: attach it with store_attach_event() or poll
 * store_get_fd() and call store_dispatch_completions(). Nothing is reported
 * durable before the fsync that made it so.
 *
 * The log view. The loop thread sees the log "as submitted": right after
 * store_append() returns, term lookups and entry reads (RaftEntrySource) see
 * the new entries, although they may not be on disk yet; they are kept in
 * memory until written. store_durable_index() tells how far the view is on
 * disk. Older entries are read back from the segments when they fell out of
 * the bounded cache.
 *
 * Failure. Any write or sync error (EIO, ENOSPC, a failed fsync) puts the
 * store into a failed state: a STORE_COMPLETION_FAILED completion is
 * delivered, nothing queued after the failure is acknowledged, and every
 * later call returns the error. There is no retry: after a failed fsync the
 * page cache may no longer say what the disk holds. The caller must exit;
 * recovery on the next start decides what survived.
 *
 * Ownership (the project rule: ownership moves only when a call succeeds).
 *  - A call that returns an error has changed nothing and taken nothing: every
 *    buffer passed in is still the caller's, whatever the helper thread is
 *    doing. This holds for the "store already failed" error too.
 *  - A call that returns 0 has taken what its contract says it takes (only
 *    store_save_snapshot() takes a buffer: `data`), for good. The caller
 *    must not touch it again, also when the submission is never
 *    acknowledged: if the helper fails before it is durable (or had failed
 *    an instant before it was queued), the store frees it and delivers
 *    STORE_COMPLETION_FAILED instead of its completion.
 *  - Buffers handed out (store_entries(), store_snapshot_load(), readers from
 *    store_snapshot_open()) belong to the caller on success; on error the
 *    ret_ parameters are not written. A StoreCompletion is valid only during
 *    the handler call.
 *  - Which thread frees a taken buffer (the helper on failure, the loop
 *    after the completion, store_free() for what is left) is internal
 *    (store-internal.h) and invisible to the caller.
 *
 * Corruption. store_open() tells a crash from damage: an incomplete last
 * write (never acknowledged) is cut off; anything else that does not verify
 * (a CRC mismatch before the tail, a missing segment, segments that do not
 * chain, a log shorter than the commit index in meta, a bad snapshot or
 * meta file) fails with -EUCLEAN and a StoreError naming the file and byte
 * offset. Nothing is skipped silently. Limits of what can be told apart
 * (format.h has the details): damage inside the very last write batch looks
 * like a torn write and is cut off, unless the commit index in meta shows
 * that committed entries went with it; a removed last segment is noticed
 * through the same commit index. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "raft/entry.h"

typedef struct Store Store;
typedef struct StoreSnapshotReader StoreSnapshotReader;

/* ---- injectable I/O layer ------------------------------------------------
 * Every read, write, sync, rename and unlink of the store's files goes
 * through these functions (creating and locking the directory and listing
 * it do not), so tests can inject ENOSPC, EIO from fsync, short writes. Each returns the syscall's
 * result, or a negative errno instead of -1/errno. Paths are relative to
 * `dirfd` (the data directory). They are called from both the loop thread
 * (reads, recovery) and the helper thread (writes): implementations must be
 * thread-safe. store_io_default() returns the plain syscalls. */
typedef struct StoreIo {
        void *userdata;
        int (*openat)(void *userdata, int dirfd, const char *path, int flags, mode_t mode);
        int (*close)(void *userdata, int fd);
        ssize_t (*pread)(void *userdata, int fd, void *buf, size_t n, off_t offset);
        ssize_t (*pwrite)(void *userdata, int fd, const void *buf, size_t n, off_t offset);
        int (*fdatasync)(void *userdata, int fd);
        int (*fsync)(void *userdata, int fd);         /* also used on the directory */
        int (*ftruncate)(void *userdata, int fd, off_t length);
        int (*renameat)(void *userdata, int dirfd, const char *from, const char *to);
        int (*unlinkat)(void *userdata, int dirfd, const char *path);
        int (*fstat_size)(void *userdata, int fd, uint64_t *ret_size);
} StoreIo;

const StoreIo *store_io_default(void);

/* ---- options ------------------------------------------------------------ */
typedef struct StoreOptions {
        uint64_t segment_size_bytes;    /* roll to a new segment past this; default 8 MiB */
        uint64_t cache_max_bytes;       /* payload bytes of durable entries kept in memory;
                                         * default 64 MiB (pending entries always stay) */
        uint64_t pending_max_bytes;     /* bytes queued for the helper thread before
                                         * submissions fail with -ENOBUFS; default 256 MiB */
        uint32_t entry_max_bytes;       /* largest payload (and snapshot conf) accepted by
                                         * store_append(); default 64 MiB. Files written
                                         * with a higher limit still open (format limit
                                         * 256 MiB). */
        const StoreIo *io;              /* NULL = store_io_default(); must outlive the Store */
} StoreOptions;

#define STORE_OPTIONS_INIT ((StoreOptions) { 0 })

/* ---- errors from store_open() -------------------------------------------
 * Filled on every failure of store_open() (when the pointer is non-NULL).
 * `message` is a complete sentence for the operator, e.g.
 *   "/var/lib/raftfs/seg-0000000000000001: offset 4132: record CRC mismatch
 *    before the end of the log (damaged committed data)".
 * `file` is NULL when the failure is not about one file; `offset` is
 * UINT64_MAX when no offset applies. Free with store_error_done(). */
typedef struct StoreError {
        char *file;
        uint64_t offset;
        char *message;
} StoreError;

void store_error_done(StoreError *e);

/* ---- open, recover, close ----------------------------------------------- */

/* Opens (creating when missing, mode 0700) the data directory `dir`, locks it,
 * and recovers: loads meta and snapshot, scans every segment, cuts off an
 * incomplete final write, drops entries covered by the snapshot that a crash
 * left behind, and starts the helper thread. Signals are blocked in the
 * helper thread.
 * An empty directory yields hard state {0,0,0}, no snapshot, first index 1,
 * last index 0: bootstrapping is the caller's job (append the first entry).
 * Returns 0 and *ret, or:
 *   -EUCLEAN  corruption (see above), details in *ret_error;
 *   -EBUSY    another process holds the directory;
 *   -EINVAL   bad options; -ENOMEM; other negative errno from the file system
 *             (*ret_error names the file).
 * `opts` may be NULL (defaults); it is copied. */
int store_open(const char *dir, const StoreOptions *opts, Store **ret, StoreError *ret_error);

/* Waits until everything submitted is written (or the store failed), stops
 * the helper thread, closes files, frees. Completions not yet dispatched are
 * dropped. Takes NULL; returns NULL. */
Store *store_free(Store *s);

/* ---- the recovered/current state (loop thread) -------------------------- */

/* The hard state as last submitted (after store_open(): as recovered). */
const RaftHardState *store_hard_state(const Store *s);

/* The snapshot the log view is based on (the last submitted or recovered
 * one), or NULL when there is none. Owned by the store; valid until the next
 * store_save_snapshot(). */
const RaftSnapshotMeta *store_snapshot_meta(const Store *s);

/* First index still in the log (entries before it are compacted; it may be
 * <= the snapshot index, since compaction removes whole segments only) and the
 * last index in the view (== snapshot index when the log is empty, 0 when
 * there is nothing at all). first == last + 1 means no entries. */
uint64_t store_first_index(const Store *s);
uint64_t store_last_index(const Store *s);

/* Highest index I such that every entry <= I of the current view is on disk. */
uint64_t store_durable_index(const Store *s);

/* Term of entry `index`; the snapshot's term for the snapshot index, 0 for
 * index 0. -ENOENT when compacted or beyond the last index; -EIO/-ENOSPC/...
 * when the store failed. */
int store_term(const Store *s, uint64_t index, uint64_t *ret_term);

/* Copies entries [lo, hi) as described for RaftEntrySource.entries: stops
 * once max_bytes of payload is reached but returns at least one entry.
 * -ENOENT when lo is compacted or hi > last + 1 or lo >= hi; -ENOMEM; -EIO
 * (also -EUCLEAN when a record read back does not verify). */
int store_entries(Store *s, uint64_t lo, uint64_t hi, size_t max_bytes,
                  RaftEntry **ret_entries, size_t *ret_n);

/* A RaftEntrySource backed by store_term()/store_entries(); valid while the
 * Store lives. */
RaftEntrySource store_entry_source(Store *s);

/* ---- asynchronous writes (loop thread) ----------------------------------
 * Each call queues work and returns at once; `cookie` comes back in the
 * completion. All return -EIO (or the original error) once the store failed,
 * -ENOBUFS when pending_max_bytes would be exceeded (nothing queued). On any
 * error nothing was queued, the view is unchanged and the caller keeps every
 * buffer it passed. 0 means queued: its completion, or a FAILED completion
 * if the store fails first, will follow (a failure of the helper that races
 * with the call does not turn its 0 into an error; the submission is then
 * dropped unacknowledged like any other a failure overtakes). */

/* Appends n >= 1 entries with consecutive indices. When entries[0].index <=
 * last index, the view's suffix from entries[0].index on is truncated first
 * (a conflicting suffix, Raft §5.3); the index must be > the snapshot index
 * and >= the first index. entries[0].index > last + 1 is -EINVAL; payloads
 * over entry_max_bytes -EINVAL; bad types -EINVAL. The entries are copied
 * (the caller keeps ownership). */
int store_append(Store *s, const RaftEntry *entries, size_t n, uint64_t cookie);

/* Persists term/vote/commit (write new file, fsync, rename, fsync dir), in
 * order with the appends around it. Raft needs term and vote durable before
 * answering a vote or an append; commit may lag. hs->commit must not exceed
 * the last index submitted before this call (Raft never commits entries a
 * node does not hold): recovery treats a log that ends before the recorded
 * commit index as damage (committed entries missing). */
int store_save_hard_state(Store *s, const RaftHardState *hs, uint64_t cookie);

/* Writes a snapshot (temporary file, fsync, rename, fsync dir) of the state
 * machine at meta->index, then removes the segments it covers. When the log
 * holds meta->index with meta->term, the entries after it are kept (Raft
 * §7); otherwise the whole log is discarded and the next append must be
 * meta->index + 1. meta->index must be >= the current snapshot index (-EINVAL
 * otherwise). `meta` is copied. `data` (malloc'd, len bytes; may be NULL
 * when len is 0):
 *   returns 0   the store owns it from now on and frees it (after writing
 *               it, or when the store fails before it is written, or in
 *               store_free()); the caller must neither free nor read it;
 *   returns < 0 (-EINVAL, -ENOMEM, or the failed store's error) the
 *               caller still owns it and must free it.
 * The log view changes at once (on success only); store_snapshot_open()
 * gives the new snapshot once it is durable. */
int store_save_snapshot(Store *s, const RaftSnapshotMeta *meta, uint8_t *data, size_t len,
                        uint64_t cookie);

/* ---- completions -------------------------------------------------------- */
typedef enum StoreCompletionType {
        STORE_COMPLETION_ENTRIES = 1,   /* an append is durable: see durable_index/term */
        STORE_COMPLETION_HARD_STATE,    /* hard_state is durable */
        STORE_COMPLETION_SNAPSHOT,      /* the snapshot (index, term) is durable, log compacted */
        STORE_COMPLETION_FAILED,        /* the store failed with `error`; the last completion */
} StoreCompletionType;

typedef struct StoreCompletion {
        StoreCompletionType type;
        uint64_t cookie;                /* as submitted (0 for FAILED) */
        int error;                      /* FAILED: negative errno */
        uint64_t index, term;           /* ENTRIES: store_durable_index() and its term after
                                         * this completion; SNAPSHOT: the snapshot's */
        RaftHardState hard_state;       /* HARD_STATE */
} StoreCompletion;

typedef void (*StoreCompletionFn)(Store *s, const StoreCompletion *c, void *userdata);

/* Sets the function that store_dispatch_completions() calls, in submission
 * order, once per finished submission. The handler may submit more work and
 * read the store, but must not free it. */
void store_set_completion_handler(Store *s, StoreCompletionFn fn, void *userdata);

/* An eventfd that becomes readable when completions are waiting. */
int store_get_fd(const Store *s);

/* Delivers every waiting completion. Returns the number delivered (>= 0). */
int store_dispatch_completions(Store *s);

/* Adds an io source on store_get_fd() to `event` that dispatches completions.
 * 0, or negative errno from sd-event. The source is removed by store_free().
 * At most once per Store (-EBUSY). */
int store_attach_event(Store *s, sd_event *event, int64_t priority);

/* True once the store failed; store_failed_error() gives the negative errno. */
bool store_is_failed(const Store *s);
int store_failed_error(const Store *s);

/* CLOCK_MONOTONIC microseconds at which the helper thread began its current
 * group of writes, 0 when it is idle: the daemon's watchdog check compares it
 * with now to notice a storage thread stuck in the kernel. */
uint64_t store_busy_since_usec(const Store *s);

/* What recovery repaired, for the daemon to log (e.g. "seg-...: cut off an
 * incomplete write at offset 4132 (57 bytes)"), or NULL when nothing was. */
const char *store_recovery_note(const Store *s);

/* ---- snapshots for sending and restoring (loop thread) ------------------ */

/* Opens the latest DURABLE snapshot for chunked reading (InstallSnapshot).
 * The reader keeps its own file descriptor, so a newer snapshot replacing the
 * file does not disturb it. -ENOENT when there is none; -ENOMEM; -EIO. */
int store_snapshot_open(Store *s, StoreSnapshotReader **ret);
const RaftSnapshotMeta *store_snapshot_reader_meta(const StoreSnapshotReader *r);
uint64_t store_snapshot_reader_size(const StoreSnapshotReader *r);    /* data bytes */
/* Copies up to len data bytes from `offset`; *ret_n = 0 at the end. -EIO. */
int store_snapshot_reader_read(StoreSnapshotReader *r, uint64_t offset, void *buf, size_t len,
                               size_t *ret_n);
StoreSnapshotReader *store_snapshot_reader_free(StoreSnapshotReader *r);

/* Reads the whole latest durable snapshot into a new buffer (the caller
 * frees it) and verifies its CRC: what the daemon restores its state machine
 * from at start. -ENOENT when there is none, -EUCLEAN when it does not verify,
 * -ENOMEM, -EIO. */
int store_snapshot_load(Store *s, uint8_t **ret_data, size_t *ret_len);
