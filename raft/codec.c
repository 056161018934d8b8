#include "config.h"
/* codec.c — encoding and decoding of raft wire messages (format: msg.h).
 *
 * Pure functions over lib/codec.h. The decoder validates everything a peer
 * controls: header magic/version/type, flags allowed for the type, the body
 * length against the input, every count against both the configured limit
 * and the bytes left (each counted item takes at least a few bytes, so a
 * forged count fails before any large allocation), and trailing bytes. */

#include <errno.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "raft/msg.h"
#include "raft/raft.h"

static const uint8_t allowed_flags[_RAFT_MSG_MAX] = {
        [RAFT_MSG_APPEND_RESP]     = RAFT_MSG_F_REJECT,
        [RAFT_MSG_VOTE]            = RAFT_MSG_F_PRE | RAFT_MSG_F_TRANSFER,
        [RAFT_MSG_VOTE_RESP]       = RAFT_MSG_F_PRE | RAFT_MSG_F_REJECT,
        [RAFT_MSG_SNAPSHOT]        = RAFT_MSG_F_DONE,
        [RAFT_MSG_SNAPSHOT_RESP]   = RAFT_MSG_F_REJECT | RAFT_MSG_F_DONE,
        [RAFT_MSG_READ_INDEX_RESP] = RAFT_MSG_F_REJECT,
};

const char *raft_msg_type_to_string(uint8_t type) {
        static const char *const names[_RAFT_MSG_MAX] = {
                [RAFT_MSG_APPEND] = "append",
                [RAFT_MSG_APPEND_RESP] = "append-resp",
                [RAFT_MSG_HEARTBEAT] = "heartbeat",
                [RAFT_MSG_HEARTBEAT_RESP] = "heartbeat-resp",
                [RAFT_MSG_VOTE] = "vote",
                [RAFT_MSG_VOTE_RESP] = "vote-resp",
                [RAFT_MSG_SNAPSHOT] = "snapshot",
                [RAFT_MSG_SNAPSHOT_RESP] = "snapshot-resp",
                [RAFT_MSG_TIMEOUT_NOW] = "timeout-now",
                [RAFT_MSG_PROPOSE] = "propose",
                [RAFT_MSG_READ_INDEX] = "read-index",
                [RAFT_MSG_READ_INDEX_RESP] = "read-index-resp",
                [RAFT_MSG_CONF_CHANGE] = "conf-change",
        };
        if (type == 0 || type >= _RAFT_MSG_MAX)
                return "invalid";
        return names[type];
}

void raft_msg_done(RaftMsg *m) {
        if (!m)
                return;
        free(m->entries);
        free(m->blobs);
        free(m->blob_lens);
        free(m->ctx);
        memset(m, 0, sizeof(*m));
}

/* ---- encoding ---- */

static int put_header(Buf *b, uint8_t type, uint8_t flags, uint64_t from, uint64_t to,
                      uint64_t term) {
        uint8_t *p = buf_extend(b, RAFT_MSG_HEADER_SIZE);
        if (!p)
                return -ENOMEM;
        p[0] = RAFT_MSG_MAGIC;
        p[1] = RAFT_WIRE_VERSION;
        p[2] = type;
        p[3] = flags;
        le64_store(p + 4, from);
        le64_store(p + 12, to);
        le64_store(p + 20, term);
        le32_store(p + 28, 0);          /* body length, patched at the end */
        return 0;
}

static void patch_body_len(Buf *b, size_t start) {
        size_t body = b->len - start - RAFT_MSG_HEADER_SIZE;
        le32_store(b->data + start + 28, (uint32_t) body);
}

int raft_msg_append_begin(Buf *b, uint64_t from, uint64_t to, uint64_t term,
                          uint64_t prev_index, uint64_t prev_term, uint64_t commit) {
        int r = put_header(b, RAFT_MSG_APPEND, 0, from, to, term);
        if (r < 0)
                return r;
        uint8_t *p = buf_extend(b, 28);
        if (!p)
                return -ENOMEM;
        le64_store(p, prev_index);
        le64_store(p + 8, prev_term);
        le64_store(p + 16, commit);
        le32_store(p + 24, 0);
        return 0;
}

int raft_msg_append_add(Buf *b, const RaftEntry *e) {
        uint8_t *p = buf_extend(b, 13 + (size_t) e->len);
        if (!p)
                return -ENOMEM;
        le64_store(p, e->term);
        p[8] = e->type;
        le32_store(p + 9, e->len);
        if (e->len > 0)
                memcpy(p + 13, e->data, e->len);
        return 0;
}

void raft_msg_append_finish(Buf *b, size_t start, uint32_t n) {
        le32_store(b->data + start + RAFT_MSG_HEADER_SIZE + 24, n);
        patch_body_len(b, start);
}

static int encode_body(const RaftMsg *m, Buf *b) {
        int r = 0;

        switch (m->type) {
        case RAFT_MSG_APPEND:
                r |= put_u64(b, m->prev_index);
                r |= put_u64(b, m->prev_term);
                r |= put_u64(b, m->commit);
                r |= put_u32(b, (uint32_t) m->n_entries);
                for (size_t i = 0; i < m->n_entries; i++) {
                        r |= put_u64(b, m->entries[i].term);
                        r |= put_u8(b, m->entries[i].type);
                        r |= put_blob(b, m->entries[i].data, m->entries[i].len);
                }
                break;
        case RAFT_MSG_APPEND_RESP:
                r |= put_u64(b, m->index);
                r |= put_u64(b, m->last_index);
                r |= put_u64(b, m->hint_index);
                r |= put_u64(b, m->hint_term);
                break;
        case RAFT_MSG_HEARTBEAT:
                r |= put_u64(b, m->commit);
                r |= put_u64(b, m->seq);
                r |= put_u64(b, m->index);
                break;
        case RAFT_MSG_HEARTBEAT_RESP:
                r |= put_u64(b, m->seq);
                r |= put_u64(b, m->last_index);
                r |= put_u64(b, m->index);
                break;
        case RAFT_MSG_VOTE:
                r |= put_u64(b, m->last_index);
                r |= put_u64(b, m->last_term);
                break;
        case RAFT_MSG_VOTE_RESP:
        case RAFT_MSG_TIMEOUT_NOW:
                break;
        case RAFT_MSG_SNAPSHOT:
                r |= put_u64(b, m->index);
                r |= put_u64(b, m->snap_term);
                r |= put_blob(b, m->conf, m->conf_len);
                r |= put_u64(b, m->total);
                r |= put_u64(b, m->offset);
                r |= put_blob(b, m->data, m->data_len);
                break;
        case RAFT_MSG_SNAPSHOT_RESP:
                r |= put_u64(b, m->index);
                r |= put_u64(b, m->snap_term);
                r |= put_u64(b, m->offset);
                break;
        case RAFT_MSG_PROPOSE:
                r |= put_u32(b, (uint32_t) m->n_blobs);
                for (size_t i = 0; i < m->n_blobs; i++)
                        r |= put_blob(b, m->blobs[i], m->blob_lens[i]);
                break;
        case RAFT_MSG_READ_INDEX_RESP:
                r |= put_u64(b, m->index);
                __attribute__((fallthrough));
        case RAFT_MSG_READ_INDEX:
                r |= put_u32(b, (uint32_t) m->n_ctx);
                for (size_t i = 0; i < m->n_ctx; i++)
                        r |= put_u64(b, m->ctx[i]);
                break;
        case RAFT_MSG_CONF_CHANGE:
                r |= put_u8(b, m->change);
                r |= put_u64(b, m->change_id);
                r |= put_str(b, m->name);
                r |= put_str(b, m->address);
                break;
        default:
                return -EINVAL;
        }
        /* put_* return 0, -ENOMEM or -E2BIG; OR-ing keeps "some error". */
        return r < 0 ? (r == -E2BIG ? -E2BIG : -ENOMEM) : 0;
}

int raft_msg_encode(const RaftMsg *m, Buf *b) {
        size_t start = b->len;
        int r = put_header(b, m->type, m->flags, m->from, m->to, m->term);
        if (r < 0)
                return r;
        r = encode_body(m, b);
        if (r < 0) {
                b->len = start;
                return r;
        }
        patch_body_len(b, start);
        return 0;
}

/* ---- decoding ---- */

/* Reads a count that is followed by items of at least min_item bytes each. */
static int get_count(Reader *rd, size_t limit, size_t min_item, size_t *ret) {
        uint32_t n;
        if (get_u32(rd, &n) < 0)
                return -EBADMSG;
        if (n > limit || (size_t) n * min_item > reader_remaining(rd))
                return -EBADMSG;
        *ret = n;
        return 0;
}

static int decode_append(Reader *rd, const RaftMsgLimits *lim, RaftMsg *m) {
        (void) get_u64(rd, &m->prev_index);
        (void) get_u64(rd, &m->prev_term);
        (void) get_u64(rd, &m->commit);
        if (get_count(rd, lim->max_entries, 13, &m->n_entries) < 0)
                return -EBADMSG;
        if (m->prev_index > UINT64_MAX - m->n_entries - 1)
                return -EBADMSG;
        if (m->n_entries > 0) {
                m->entries = calloc(m->n_entries, sizeof(RaftEntry));
                if (!m->entries)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < m->n_entries; i++) {
                RaftEntry *e = &m->entries[i];
                const uint8_t *p;
                size_t n;
                (void) get_u64(rd, &e->term);
                (void) get_u8(rd, &e->type);
                if (get_blob(rd, lim->max_entry_bytes, &p, &n) < 0)
                        return -EBADMSG;
                if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF || e->term == 0)
                        return -EBADMSG;
                /* Terms never decrease along a log, and no entry is newer than
                 * the leader sending it (checked against m->term by the caller). */
                if (e->term < (i == 0 ? m->prev_term : m->entries[i - 1].term))
                        return -EBADMSG;
                e->index = m->prev_index + 1 + i;
                e->len = (uint32_t) n;
                e->data = (uint8_t *) p;
        }
        return 0;
}

static int decode_body(Reader *rd, const RaftMsgLimits *lim, RaftMsg *m) {
        const uint8_t *p;
        size_t n;
        int r;

        switch (m->type) {
        case RAFT_MSG_APPEND:
                return decode_append(rd, lim, m);
        case RAFT_MSG_APPEND_RESP:
                (void) get_u64(rd, &m->index);
                (void) get_u64(rd, &m->last_index);
                (void) get_u64(rd, &m->hint_index);
                (void) get_u64(rd, &m->hint_term);
                return 0;
        case RAFT_MSG_HEARTBEAT:
                (void) get_u64(rd, &m->commit);
                (void) get_u64(rd, &m->seq);
                (void) get_u64(rd, &m->index);
                return 0;
        case RAFT_MSG_HEARTBEAT_RESP:
                (void) get_u64(rd, &m->seq);
                (void) get_u64(rd, &m->last_index);
                (void) get_u64(rd, &m->index);
                return 0;
        case RAFT_MSG_VOTE:
                (void) get_u64(rd, &m->last_index);
                (void) get_u64(rd, &m->last_term);
                return 0;
        case RAFT_MSG_VOTE_RESP:
        case RAFT_MSG_TIMEOUT_NOW:
                return 0;
        case RAFT_MSG_SNAPSHOT:
                (void) get_u64(rd, &m->index);
                (void) get_u64(rd, &m->snap_term);
                (void) get_blob(rd, 1 << 20, &m->conf, &m->conf_len);
                (void) get_u64(rd, &m->total);
                (void) get_u64(rd, &m->offset);
                (void) get_blob(rd, lim->max_entry_bytes, &m->data, &m->data_len);
                if (reader_error(rd))
                        return -EBADMSG;
                if (m->index == 0 || m->snap_term == 0 || m->offset > m->total ||
                    m->data_len > m->total - m->offset)
                        return -EBADMSG;
                return 0;
        case RAFT_MSG_SNAPSHOT_RESP:
                (void) get_u64(rd, &m->index);
                (void) get_u64(rd, &m->snap_term);
                (void) get_u64(rd, &m->offset);
                return 0;
        case RAFT_MSG_PROPOSE:
                if (get_count(rd, lim->max_entries, 4, &m->n_blobs) < 0)
                        return -EBADMSG;
                if (m->n_blobs > 0) {
                        m->blobs = calloc(m->n_blobs, sizeof(*m->blobs));
                        m->blob_lens = calloc(m->n_blobs, sizeof(*m->blob_lens));
                        if (!m->blobs || !m->blob_lens)
                                return -ENOMEM;
                }
                for (size_t i = 0; i < m->n_blobs; i++) {
                        if (get_blob(rd, lim->max_entry_bytes, &p, &n) < 0)
                                return -EBADMSG;
                        m->blobs[i] = p;
                        m->blob_lens[i] = (uint32_t) n;
                }
                return 0;
        case RAFT_MSG_READ_INDEX_RESP:
                (void) get_u64(rd, &m->index);
                __attribute__((fallthrough));
        case RAFT_MSG_READ_INDEX:
                if (get_count(rd, RAFT_MSG_MAX_CTX, 8, &m->n_ctx) < 0)
                        return -EBADMSG;
                if (m->n_ctx > 0) {
                        m->ctx = calloc(m->n_ctx, sizeof(uint64_t));
                        if (!m->ctx)
                                return -ENOMEM;
                }
                for (size_t i = 0; i < m->n_ctx; i++)
                        (void) get_u64(rd, &m->ctx[i]);
                return 0;
        case RAFT_MSG_CONF_CHANGE:
                (void) get_u8(rd, &m->change);
                (void) get_u64(rd, &m->change_id);
                r = get_blob(rd, sizeof(m->name) - 1, &p, &n);
                if (r < 0 || memchr(p, 0, n))
                        return -EBADMSG;
                memcpy(m->name, p, n);
                m->name[n] = 0;
                r = get_blob(rd, sizeof(m->address) - 1, &p, &n);
                if (r < 0 || memchr(p, 0, n))
                        return -EBADMSG;
                memcpy(m->address, p, n);
                m->address[n] = 0;
                return 0;
        default:
                return -EBADMSG;
        }
}

int raft_msg_decode(const void *data, size_t len, const RaftMsgLimits *lim, RaftMsg *ret) {
        RaftMsg m = {};
        const uint8_t *p = data;

        memset(ret, 0, sizeof(*ret));
        if (len < RAFT_MSG_HEADER_SIZE || p[0] != RAFT_MSG_MAGIC)
                return -EBADMSG;
        if (p[1] != RAFT_WIRE_VERSION)
                return -EPROTONOSUPPORT;
        m.type = p[2];
        m.flags = p[3];
        if (m.type == 0 || m.type >= _RAFT_MSG_MAX || (m.flags & ~allowed_flags[m.type]))
                return -EBADMSG;
        m.from = le64_load(p + 4);
        m.to = le64_load(p + 12);
        m.term = le64_load(p + 20);
        if (le32_load(p + 28) != len - RAFT_MSG_HEADER_SIZE || m.from == 0 || m.to == 0)
                return -EBADMSG;

        Reader rd = reader_init(p + RAFT_MSG_HEADER_SIZE, len - RAFT_MSG_HEADER_SIZE);
        int r = decode_body(&rd, lim, &m);
        if (r == 0)
                r = reader_finish(&rd);
        if (r == 0 && m.type == RAFT_MSG_APPEND && m.n_entries > 0 &&
            m.entries[m.n_entries - 1].term > m.term)
                r = -EBADMSG;
        if (r < 0) {
                raft_msg_done(&m);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        *ret = m;
        return 0;
}

int raft_message_peek(const void *data, size_t len, uint64_t *ret_from, uint64_t *ret_to,
                      uint64_t *ret_term) {
        const uint8_t *p = data;

        if (len < RAFT_MSG_HEADER_SIZE || p[0] != RAFT_MSG_MAGIC)
                return -EBADMSG;
        if (p[1] != RAFT_WIRE_VERSION)
                return -EPROTONOSUPPORT;
        if (p[2] == 0 || p[2] >= _RAFT_MSG_MAX || le32_load(p + 28) != len - RAFT_MSG_HEADER_SIZE)
                return -EBADMSG;
        if (ret_from)
                *ret_from = le64_load(p + 4);
        if (ret_to)
                *ret_to = le64_load(p + 12);
        if (ret_term)
                *ret_term = le64_load(p + 20);
        return 0;
}
