/* msg.h — raft wire messages (internal to raft/, and the fuzz target).
 *
 * Every message is a header followed by a type-specific body:
 *
 *   u8  magic   'R' (0x52)
 *   u8  version RAFT_WIRE_VERSION
 *   u8  type    RaftMsgType
 *   u8  flags   RAFT_MSG_F_* (only the bits the type defines; others rejected)
 *   u64 from, u64 to, u64 term
 *   u32 body length, then exactly that many body bytes
 *
 * All integers little-endian (lib/codec.h). Bodies, by type:
 *   APPEND          u64 prev_index, u64 prev_term, u64 commit, u32 n,
 *                   n × (u64 term, u8 type, blob data)   (index = prev_index + 1 + i)
 *   APPEND_RESP     u64 index, u64 last_index, u64 hint_index, u64 hint_term   (flag REJECT)
 *   HEARTBEAT       u64 commit, u64 seq, u64 index (last index sent to it so far)
 *   HEARTBEAT_RESP  u64 seq, u64 last_index, u64 index (echoed)
 *   VOTE            u64 last_index, u64 last_term                (flags PRE, TRANSFER)
 *   VOTE_RESP       (empty)                                      (flags PRE, REJECT)
 *   SNAPSHOT        u64 index, u64 term, blob conf, u64 total, u64 offset, blob data
 *                                                                (flag DONE: last piece)
 *   SNAPSHOT_RESP   u64 index, u64 term, u64 next_offset         (flags REJECT, DONE: installed)
 *   TIMEOUT_NOW     (empty)
 *   PROPOSE         u32 n, n × blob data                         (forwarded to the leader)
 *   READ_INDEX      u32 n, n × u64 ctx                           (follower -> leader)
 *   READ_INDEX_RESP u64 index, u32 n, n × u64 ctx                (flag REJECT: no longer leader)
 *   CONF_CHANGE     u8 change type, u64 id, str name, str address (forwarded to the leader)
 *
 * Decoding never trusts a count: every count and blob is bounded by the
 * limits passed in and by the remaining input, so a forged count cannot make
 * the decoder allocate more than the message's own size. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "raft/entry.h"

#define RAFT_MSG_MAGIC       0x52
#define RAFT_MSG_HEADER_SIZE 32

typedef enum RaftMsgType {
        RAFT_MSG_APPEND          = 1,
        RAFT_MSG_APPEND_RESP     = 2,
        RAFT_MSG_HEARTBEAT       = 3,
        RAFT_MSG_HEARTBEAT_RESP  = 4,
        RAFT_MSG_VOTE            = 5,
        RAFT_MSG_VOTE_RESP       = 6,
        RAFT_MSG_SNAPSHOT        = 7,
        RAFT_MSG_SNAPSHOT_RESP   = 8,
        RAFT_MSG_TIMEOUT_NOW     = 9,
        RAFT_MSG_PROPOSE         = 10,
        RAFT_MSG_READ_INDEX      = 11,
        RAFT_MSG_READ_INDEX_RESP = 12,
        RAFT_MSG_CONF_CHANGE     = 13,
        _RAFT_MSG_MAX,
} RaftMsgType;

#define RAFT_MSG_F_REJECT   0x01
#define RAFT_MSG_F_PRE      0x02
#define RAFT_MSG_F_TRANSFER 0x04
#define RAFT_MSG_F_DONE     0x08

/* Read-barrier contexts per READ_INDEX / READ_INDEX_RESP message (a fixed
 * protocol limit, independent of the options, so that servers configured
 * differently still understand each other). */
#define RAFT_MSG_MAX_CTX 1024

/* Decode limits; the core passes its options. */
typedef struct RaftMsgLimits {
        size_t max_entries;             /* entries / blobs / ctx per message */
        size_t max_entry_bytes;         /* one entry's payload, one snapshot piece */
} RaftMsgLimits;

/* A decoded message. Pointers (entry data, blobs, strings' bytes) point into
 * the input buffer; `entries`, `blobs` and `ctx` arrays are malloc'd by the
 * decoder and released by raft_msg_done(). */
typedef struct RaftMsg {
        uint8_t type;
        uint8_t flags;
        uint64_t from, to, term;

        /* APPEND, HEARTBEAT */
        uint64_t prev_index, prev_term, commit, seq;
        RaftEntry *entries;             /* APPEND (data not owned) */
        size_t n_entries;

        /* APPEND_RESP, SNAPSHOT, SNAPSHOT_RESP, READ_INDEX_RESP; VOTE (last_*) */
        uint64_t index, last_index, hint_index, hint_term, last_term;

        /* SNAPSHOT */
        uint64_t snap_term, total, offset;
        const uint8_t *conf, *data;
        size_t conf_len, data_len;

        /* PROPOSE */
        const uint8_t **blobs;
        uint32_t *blob_lens;
        size_t n_blobs;

        /* READ_INDEX, READ_INDEX_RESP */
        uint64_t *ctx;
        size_t n_ctx;

        /* CONF_CHANGE */
        uint8_t change;
        uint64_t change_id;
        char name[64];
        char address[256];
} RaftMsg;

/* Releases the arrays a decode allocated; the struct is zeroed. */
void raft_msg_done(RaftMsg *m);

/* Decodes one complete message. *ret is overwritten (zeroed first; on
 * failure it holds nothing to free). -EBADMSG on any malformation,
 * -EPROTONOSUPPORT for another wire version, -ENOMEM. */
int raft_msg_decode(const void *data, size_t len, const RaftMsgLimits *lim, RaftMsg *ret);

/* Encodes m (fields of its type only) by appending to b. 0 or -ENOMEM,
 * -E2BIG when a blob exceeds 4 GiB. */
int raft_msg_encode(const RaftMsg *m, Buf *b);

/* Helpers for the append path, which encodes entries straight from the
 * in-memory window without building a RaftMsg: begin writes the header and
 * the fixed part with n = 0, add_entry appends one entry, finish patches the
 * count and the body length. `start` is b->len before begin. */
int raft_msg_append_begin(Buf *b, uint64_t from, uint64_t to, uint64_t term,
                          uint64_t prev_index, uint64_t prev_term, uint64_t commit);
int raft_msg_append_add(Buf *b, const RaftEntry *e);
void raft_msg_append_finish(Buf *b, size_t start, uint32_t n);

const char *raft_msg_type_to_string(uint8_t type);
