#include "config.h"

/* control-proto.c — encoders and decoders of the control socket protocol
 * (format and version history in control-proto.h).
 *
 * Pure functions over lib/codec.h: no I/O, no logging. Linked into both
 * raftfsd and raftfsctl, so the two always agree on the layout. Decoders
 * validate everything a hostile peer could send: lengths against the
 * limits, enums against their ranges, and exactness (no trailing bytes). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/control-proto.h"
#include "lib/macro.h"

static const struct {
        uint8_t type;
        bool privileged;
        const char *name;
} type_table[] = {
        { CTL_REQ_STATUS, false, "status" },
        { CTL_REQ_MEMBERS, false, "members" },
        { CTL_REQ_MEMBER_ADD, true, "member-add" },
        { CTL_REQ_MEMBER_REMOVE, true, "member-remove" },
        { CTL_REQ_LEADER_TRANSFER, true, "leader-transfer" },
        { CTL_REQ_SNAPSHOT_SAVE, true, "snapshot-save" },
        { CTL_REQ_METRICS, false, "metrics" },
        { CTL_REQ_WATCH, true, "watch" },
        { CTL_REQ_SESSION_WATCH, false, "session-watch" },
        { CTL_REQ_PING, false, "ping" },
        { CTL_RESP_ERROR, false, "error" },
        { CTL_RESP_OK, false, "ok" },
        { CTL_RESP_STATUS, false, "status-reply" },
        { CTL_RESP_MEMBERS, false, "members-reply" },
        { CTL_RESP_TEXT, false, "text" },
        { CTL_RESP_DATA, false, "data" },
        { CTL_RESP_SNAPSHOT_END, false, "snapshot-end" },
        { CTL_RESP_PONG, false, "pong" },
        { CTL_EVT_SESSION, false, "session-event" },
        { CTL_EVT_CHANGE, false, "change-event" },
};

bool ctl_type_is_request(uint8_t type) {
        return type >= CTL_REQ_STATUS && type <= CTL_REQ_PING;
}

bool ctl_type_is_privileged(uint8_t type) {
        for (size_t i = 0; i < ELEMENTSOF(type_table); i++)
                if (type_table[i].type == type)
                        return type_table[i].privileged;
        return true;
}

const char *ctl_type_to_string(uint8_t type) {
        for (size_t i = 0; i < ELEMENTSOF(type_table); i++)
                if (type_table[i].type == type)
                        return type_table[i].name;
        return "unknown";
}

const char *ctl_role_to_string(uint8_t role) {
        static const char *const names[_CTL_ROLE_MAX] = {
                [CTL_ROLE_NONE] = "none",
                [CTL_ROLE_FOLLOWER] = "follower",
                [CTL_ROLE_CANDIDATE] = "candidate",
                [CTL_ROLE_LEADER] = "leader",
                [CTL_ROLE_LEARNER] = "learner",
        };
        return role < _CTL_ROLE_MAX ? names[role] : "unknown";
}

const char *ctl_session_state_to_string(uint8_t state) {
        static const char *const names[_CTL_SESSION_MAX] = {
                [CTL_SESSION_NONE] = "none",
                [CTL_SESSION_OK] = "ok",
                [CTL_SESSION_JEOPARDY] = "jeopardy",
                [CTL_SESSION_EXPIRED] = "expired",
                [CTL_SESSION_STOPPING] = "stopping",
        };
        return state < _CTL_SESSION_MAX ? names[state] : "unknown";
}

/* ---- framing ----------------------------------------------------------- */

int ctl_frame_begin(Buf *b, uint8_t type, uint32_t id, size_t *ret_start) {
        size_t start = b->len;
        uint8_t *p = buf_extend(b, CTL_HEADER_SIZE);

        if (!p)
                return -ENOMEM;
        le32_store(p, 0);
        p[4] = CTL_PROTO_VERSION;
        p[5] = type;
        le16_store(p + 6, 0);
        le32_store(p + 8, id);
        *ret_start = start;
        return 0;
}

int ctl_frame_end(Buf *b, size_t start) {
        size_t total = b->len - start;

        assert(b->len >= start + CTL_HEADER_SIZE);
        if (total > CTL_FRAME_MAX) {
                b->len = start;
                return -EMSGSIZE;
        }
        le32_store(b->data + start, (uint32_t) (total - 4));
        return 0;
}

int ctl_frame_parse(const uint8_t *data, size_t len, CtlFrame *ret) {
        uint32_t flen;

        if (len < 4)
                return 0;
        flen = le32_load(data);
        if (flen < CTL_HEADER_SIZE - 4 || flen > CTL_FRAME_MAX - 4)
                return -EBADMSG;
        if (len < (size_t) flen + 4)
                return 0;
        *ret = (CtlFrame) {
                .type = data[5],
                .id = le32_load(data + 8),
                .payload = data + CTL_HEADER_SIZE,
                .len = flen + 4 - CTL_HEADER_SIZE,
        };
        if (data[4] != CTL_PROTO_VERSION)
                return -EPROTONOSUPPORT;
        return (int) (flen + 4);
}

/* Runs `body` (a sequence of put_* calls) between begin and end and undoes
 * the partial frame on failure, so callers see all-or-nothing. */
#define FRAME(b, type, id, body)                                        \
        ({                                                              \
                size_t _start = 0;                                      \
                int _r = ctl_frame_begin((b), (type), (id), &_start);   \
                if (_r >= 0) {                                          \
                        _r = ({ body; });                               \
                        if (_r >= 0)                                    \
                                _r = ctl_frame_end((b), _start);        \
                        else                                            \
                                (b)->len = _start;                      \
                }                                                       \
                _r;                                                     \
        })

/* ---- encoders ---------------------------------------------------------- */

/* put_str, but "" for NULL and refusing over-long strings. */
static int put_string(Buf *b, const char *s) {
        if (!s)
                s = "";
        if (strlen(s) > CTL_STRING_MAX)
                return -EMSGSIZE;
        return put_str(b, s);
}

int ctl_put_empty(Buf *b, uint8_t type, uint32_t id) {
        return FRAME(b, type, id, 0);
}

int ctl_put_error(Buf *b, uint32_t id, int error, const char *message) {
        char cut[CTL_STRING_MAX + 1];

        /* Messages may quote user input: cut rather than fail. */
        snprintf(cut, sizeof(cut), "%s", message ? message : "");
        return FRAME(b, CTL_RESP_ERROR, id,
                     put_u32(b, (uint32_t) (error < 0 ? -error : error)) ?: put_string(b, cut));
}

int ctl_put_ok(Buf *b, uint32_t id, const char *message) {
        return FRAME(b, CTL_RESP_OK, id, put_string(b, message));
}

int ctl_put_text(Buf *b, uint32_t id, const char *text) {
        size_t n = strlen(text);
        if (n > CTL_PAYLOAD_MAX - 4)
                return -EMSGSIZE;
        return FRAME(b, CTL_RESP_TEXT, id, put_blob(b, text, n));
}

int ctl_put_strings(Buf *b, uint8_t type, uint32_t id, const char *s1, const char *s2) {
        return FRAME(b, type, id, put_string(b, s1) ?: (s2 ? put_string(b, s2) : 0));
}

int ctl_put_watch(Buf *b, uint32_t id, const char *path, bool recursive) {
        return FRAME(b, CTL_REQ_WATCH, id, put_string(b, path) ?: put_u8(b, recursive));
}

int ctl_put_u64(Buf *b, uint8_t type, uint32_t id, uint64_t v) {
        return FRAME(b, type, id, put_u64(b, v));
}

static int put_session(Buf *b, const CtlSession *s) {
        return put_u8(b, s->state) ?: put_u64(b, s->id) ?: put_u64(b, s->valid_ms);
}

int ctl_put_status(Buf *b, uint32_t id, const CtlStatus *s) {
        return FRAME(b, CTL_RESP_STATUS, id,
                     put_string(b, s->node) ?: put_string(b, s->version) ?: put_u8(b, s->role) ?:
                     put_u64(b, s->term) ?: put_string(b, s->leader) ?: put_u64(b, s->commit) ?:
                     put_u64(b, s->applied) ?: put_u64(b, s->last_index) ?:
                     put_u32(b, s->voters) ?: put_u32(b, s->learners) ?:
                     put_u8(b, s->quorum) ?: put_u8(b, s->ready) ?: put_session(b, &s->session) ?:
                     put_u64(b, s->session_ttl_ms) ?: put_u64(b, s->uptime_ms) ?:
                     put_string(b, s->mountpoint));
}

static int put_member(Buf *b, const CtlMember *m) {
        return put_string(b, m->name) ?: put_string(b, m->address) ?: put_u8(b, m->role) ?:
               put_u8(b, m->flags) ?: put_u64(b, m->match_index) ?: put_u64(b, m->last_contact_ms);
}

int ctl_put_members(Buf *b, uint32_t id, const CtlMember *m, size_t n) {
        if (n > CTL_MEMBERS_MAX)
                return -EMSGSIZE;
        return FRAME(b, CTL_RESP_MEMBERS, id, ({
                int _k = put_u32(b, (uint32_t) n);
                for (size_t i = 0; _k >= 0 && i < n; i++)
                        _k = put_member(b, &m[i]);
                _k;
        }));
}

int ctl_put_session(Buf *b, uint8_t type, uint32_t id, uint64_t nonce, const CtlSession *s) {
        assert(type == CTL_RESP_PONG || type == CTL_EVT_SESSION);
        return FRAME(b, type, id, (type == CTL_RESP_PONG ? put_u64(b, nonce) : 0) ?: put_session(b, s));
}

int ctl_put_change(Buf *b, uint32_t id, const CtlChange *c) {
        return FRAME(b, CTL_EVT_CHANGE, id,
                     put_u64(b, c->index) ?: put_string(b, c->kind) ?: put_string(b, c->path));
}

int ctl_put_data(Buf *b, uint32_t id, const void *data, size_t len) {
        if (len > CTL_PAYLOAD_MAX - 4)
                return -EMSGSIZE;
        return FRAME(b, CTL_RESP_DATA, id, put_blob(b, data, len));
}

int ctl_put_snapshot_end(Buf *b, uint32_t id, const CtlSnapshotEnd *e) {
        return FRAME(b, CTL_RESP_SNAPSHOT_END, id,
                     put_u64(b, e->index) ?: put_u64(b, e->term) ?: put_u64(b, e->size) ?:
                     put_u32(b, e->crc32c));
}

/* ---- decoders ---------------------------------------------------------- */

static Reader frame_reader(const CtlFrame *f) {
        return reader_init(f->payload, f->len);
}

static int get_string(Reader *r, char **ret) {
        return get_str_dup(r, CTL_STRING_MAX, ret);
}

static int get_bool(Reader *r, bool *ret) {
        uint8_t v;
        int k = get_u8(r, &v);
        if (k < 0)
                return k;
        if (v > 1)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int ctl_get_empty(const CtlFrame *f) {
        return f->len == 0 ? 0 : -EBADMSG;
}

int ctl_get_error(const CtlFrame *f, int *ret_error, char **ret_message) {
        Reader r = frame_reader(f);
        _cleanup_free_ char *msg = NULL;
        uint32_t e;
        int k;

        k = get_u32(&r, &e);
        if (k >= 0)
                k = get_string(&r, &msg);
        if (k >= 0)
                k = reader_finish(&r);
        if (k < 0)
                return k;
        if (e == 0 || e > 4095)
                return -EBADMSG;
        *ret_error = -(int) e;
        *ret_message = TAKE_PTR(msg);
        return 0;
}

int ctl_get_string(const CtlFrame *f, char **ret) {
        Reader r = frame_reader(f);
        _cleanup_free_ char *s = NULL;
        int k;

        if (f->type == CTL_RESP_TEXT)
                k = get_str_dup(&r, CTL_PAYLOAD_MAX, &s);
        else
                k = get_string(&r, &s);
        if (k >= 0)
                k = reader_finish(&r);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(s);
        return 0;
}

int ctl_get_strings(const CtlFrame *f, char **ret1, char **ret2) {
        Reader r = frame_reader(f);
        _cleanup_free_ char *a = NULL, *b = NULL;
        int k;

        k = get_string(&r, &a);
        if (k >= 0)
                k = get_string(&r, &b);
        if (k >= 0)
                k = reader_finish(&r);
        if (k < 0)
                return k;
        *ret1 = TAKE_PTR(a);
        *ret2 = TAKE_PTR(b);
        return 0;
}

int ctl_get_watch(const CtlFrame *f, char **ret_path, bool *ret_recursive) {
        Reader r = frame_reader(f);
        _cleanup_free_ char *path = NULL;
        bool rec = false;
        int k;

        k = get_string(&r, &path);
        if (k >= 0)
                k = get_bool(&r, &rec);
        if (k >= 0)
                k = reader_finish(&r);
        if (k < 0)
                return k;
        *ret_path = TAKE_PTR(path);
        *ret_recursive = rec;
        return 0;
}

int ctl_get_u64(const CtlFrame *f, uint64_t *ret) {
        Reader r = frame_reader(f);
        uint64_t v;
        int k;

        k = get_u64(&r, &v);
        if (k >= 0)
                k = reader_finish(&r);
        if (k < 0)
                return k;
        *ret = v;
        return 0;
}

static int get_session(Reader *r, CtlSession *ret) {
        CtlSession s = {};
        int k;

        k = get_u8(r, &s.state);
        if (k >= 0)
                k = get_u64(r, &s.id);
        if (k >= 0)
                k = get_u64(r, &s.valid_ms);
        if (k < 0)
                return k;
        if (s.state >= _CTL_SESSION_MAX)
                return -EBADMSG;
        *ret = s;
        return 0;
}

void ctl_status_done(CtlStatus *s) {
        if (!s)
                return;
        free(s->node);
        free(s->version);
        free(s->leader);
        free(s->mountpoint);
        *s = (CtlStatus) {};
}

int ctl_get_status(const CtlFrame *f, CtlStatus *ret) {
        Reader r = frame_reader(f);
        _cleanup_(ctl_status_done) CtlStatus s = {};
        int k;

        k = get_string(&r, &s.node);
        if (k >= 0) k = get_string(&r, &s.version);
        if (k >= 0) k = get_u8(&r, &s.role);
        if (k >= 0) k = get_u64(&r, &s.term);
        if (k >= 0) k = get_string(&r, &s.leader);
        if (k >= 0) k = get_u64(&r, &s.commit);
        if (k >= 0) k = get_u64(&r, &s.applied);
        if (k >= 0) k = get_u64(&r, &s.last_index);
        if (k >= 0) k = get_u32(&r, &s.voters);
        if (k >= 0) k = get_u32(&r, &s.learners);
        if (k >= 0) k = get_bool(&r, &s.quorum);
        if (k >= 0) k = get_bool(&r, &s.ready);
        if (k >= 0) k = get_session(&r, &s.session);
        if (k >= 0) k = get_u64(&r, &s.session_ttl_ms);
        if (k >= 0) k = get_u64(&r, &s.uptime_ms);
        if (k >= 0) k = get_string(&r, &s.mountpoint);
        if (k >= 0) k = reader_finish(&r);
        if (k < 0)
                return k;
        if (s.role >= _CTL_ROLE_MAX)
                return -EBADMSG;
        *ret = s;
        s = (CtlStatus) {};
        return 0;
}

void ctl_members_free(CtlMember *m, size_t n) {
        for (size_t i = 0; m && i < n; i++) {
                free(m[i].name);
                free(m[i].address);
        }
        free(m);
}

int ctl_get_members(const CtlFrame *f, CtlMember **ret, size_t *ret_n) {
        Reader r = frame_reader(f);
        CtlMember *m = NULL;
        uint32_t n;
        size_t got = 0;
        int k;

        k = get_u32(&r, &n);
        if (k < 0)
                return k;
        if (n > CTL_MEMBERS_MAX)
                return -EBADMSG;
        m = calloc(n ? n : 1, sizeof(CtlMember));
        if (!m)
                return -ENOMEM;
        for (; got < n && k >= 0; got++) {
                CtlMember *x = &m[got];
                k = get_string(&r, &x->name);
                if (k >= 0) k = get_string(&r, &x->address);
                if (k >= 0) k = get_u8(&r, &x->role);
                if (k >= 0) k = get_u8(&r, &x->flags);
                if (k >= 0) k = get_u64(&r, &x->match_index);
                if (k >= 0) k = get_u64(&r, &x->last_contact_ms);
                if (k >= 0 && x->role >= _CTL_ROLE_MAX)
                        k = -EBADMSG;
        }
        if (k >= 0)
                k = reader_finish(&r);
        if (k < 0) {
                ctl_members_free(m, got);
                return k;
        }
        *ret = m;
        *ret_n = n;
        return 0;
}

int ctl_get_session(const CtlFrame *f, uint64_t *ret_nonce, CtlSession *ret) {
        Reader r = frame_reader(f);
        uint64_t nonce = 0;
        CtlSession s;
        int k = 0;

        if (f->type == CTL_RESP_PONG)
                k = get_u64(&r, &nonce);
        if (k >= 0)
                k = get_session(&r, &s);
        if (k >= 0)
                k = reader_finish(&r);
        if (k < 0)
                return k;
        if (ret_nonce)
                *ret_nonce = nonce;
        *ret = s;
        return 0;
}

void ctl_change_done(CtlChange *c) {
        if (!c)
                return;
        free(c->kind);
        free(c->path);
        *c = (CtlChange) {};
}

int ctl_get_change(const CtlFrame *f, CtlChange *ret) {
        Reader r = frame_reader(f);
        _cleanup_(ctl_change_done) CtlChange c = {};
        int k;

        k = get_u64(&r, &c.index);
        if (k >= 0) k = get_string(&r, &c.kind);
        if (k >= 0) k = get_string(&r, &c.path);
        if (k >= 0) k = reader_finish(&r);
        if (k < 0)
                return k;
        *ret = c;
        c = (CtlChange) {};
        return 0;
}

int ctl_get_data(const CtlFrame *f, const uint8_t **ret, size_t *ret_len) {
        Reader r = frame_reader(f);
        const uint8_t *p;
        size_t n;
        int k;

        k = get_blob(&r, CTL_PAYLOAD_MAX, &p, &n);
        if (k >= 0)
                k = reader_finish(&r);
        if (k < 0)
                return k;
        *ret = p;
        *ret_len = n;
        return 0;
}

int ctl_get_snapshot_end(const CtlFrame *f, CtlSnapshotEnd *ret) {
        Reader r = frame_reader(f);
        CtlSnapshotEnd e;
        int k;

        k = get_u64(&r, &e.index);
        if (k >= 0) k = get_u64(&r, &e.term);
        if (k >= 0) k = get_u64(&r, &e.size);
        if (k >= 0) k = get_u32(&r, &e.crc32c);
        if (k >= 0) k = reader_finish(&r);
        if (k < 0)
                return k;
        *ret = e;
        return 0;
}
