/* entry.h — the types that cross the boundary between the raft core, the
 * durable storage (store/) and the daemon: log entries, hard state, snapshot
 * metadata and the source from which the core reads entries it no longer
 * keeps in memory.
 *
 * These are plain data. Encoding for the wire lives in raft/, encoding for
 * disk lives in store/; both are little-endian through lib/codec.h. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef enum RaftEntryType {
        RAFT_ENTRY_NORMAL = 1,  /* an opaque state-machine command (tree/ command) */
        RAFT_ENTRY_NOOP   = 2,  /* appended by every new leader (Raft thesis §6.4) */
        RAFT_ENTRY_CONF   = 3,  /* a membership configuration, encoded by raft/ */
} RaftEntryType;

/* A log entry. `data` is owned by whoever owns the struct (malloc'd, may be
 * NULL when len == 0); raft_entry_done() frees it. */
typedef struct RaftEntry {
        uint64_t term;
        uint64_t index;
        uint8_t type;           /* RaftEntryType */
        uint32_t len;
        uint8_t *data;
} RaftEntry;

/* The state Raft must persist before answering (Figure 2 of the paper), plus
 * the commit index, which is persisted opportunistically (it may lag). */
typedef struct RaftHardState {
        uint64_t term;
        uint64_t vote;          /* node id voted for in `term`, 0 = none */
        uint64_t commit;
} RaftHardState;

/* Describes a snapshot: the last index/term it covers and the membership
 * configuration in force at that index (encoded by raft/, opaque to store/). */
typedef struct RaftSnapshotMeta {
        uint64_t index;
        uint64_t term;
        uint32_t conf_len;
        uint8_t *conf;          /* owned, malloc'd */
} RaftSnapshotMeta;

/* Where the core reads entries it does not hold in memory (store/ in the
 * daemon, an in-memory disk in the simulator). Both callbacks are synchronous
 * and may only return entries that were reported durable or are still in
 * flight to disk as the caller's storage knows them.
 *
 * term():    0 and *ret_term set, -ENOENT when index is compacted or beyond
 *            the last index, -EIO on a read failure.
 * entries(): copies entries [lo, hi) into a new array (caller frees each with
 *            raft_entry_done() and the array with free()), stopping early
 *            once max_bytes of payload is reached but always returning at
 *            least one entry; -ENOENT when lo is compacted, -ENOMEM, -EIO. */
typedef struct RaftEntrySource {
        void *userdata;
        int (*term)(void *userdata, uint64_t index, uint64_t *ret_term);
        int (*entries)(void *userdata, uint64_t lo, uint64_t hi, size_t max_bytes,
                       RaftEntry **ret_entries, size_t *ret_n);
} RaftEntrySource;

static inline void raft_entry_done(RaftEntry *e) {
        if (!e)
                return;
        free(e->data);
        e->data = NULL;
        e->len = 0;
}
