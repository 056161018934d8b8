/* control-proto.h — the wire format between raftfsctl and raftfsd.
 *
 * Transport: a unix stream socket (raftfs.conf [node] control_socket). The
 * client sends requests, the daemon answers each with one or more frames
 * that echo the request's id; streaming requests (watch, session watch,
 * snapshot save) keep sending frames under that id until the client closes
 * the connection. Several requests may be in flight on one connection
 * (raftfsctl lock pings while it watches its session).
 *
 * Frame (all integers little-endian, see lib/codec.h):
 *
 *     u32 length     bytes that follow this field: 8 + payload, at most
 *                    CTL_FRAME_MAX - 4; anything else closes the connection
 *     u8  version    CTL_PROTO_VERSION; a daemon answers another version with
 *                    CTL_RESP_ERROR (EPROTONOSUPPORT) under version 1 framing
 *                    and closes; the framing itself never changes
 *     u8  type       CtlType
 *     u16 flags      0 (receivers ignore unknown bits)
 *     u32 id         chosen by the client, echoed by every answer
 *     ...            payload: the type's fields, in the order listed below;
 *                    strings are u32 length + bytes (no NUL); trailing bytes
 *                    are an error (formats are exact: a change bumps version)
 *
 * Requests (client -> daemon)               payload
 *     CTL_REQ_STATUS                        -
 *     CTL_REQ_MEMBERS                       -
 *     CTL_REQ_MEMBER_ADD           *        str name, str address
 *     CTL_REQ_MEMBER_REMOVE        *        str name
 *     CTL_REQ_LEADER_TRANSFER      *        str name ("" = best caught-up voter)
 *     CTL_REQ_SNAPSHOT_SAVE        *        -
 *     CTL_REQ_METRICS                       -
 *     CTL_REQ_WATCH                *        str path, u8 recursive
 *     CTL_REQ_SESSION_WATCH                 -
 *     CTL_REQ_PING                          u64 nonce
 *   (* = privileged: the peer must be uid 0 or in group "raftfs", checked
 *    with SO_PEERCRED/SO_PEERGROUPS; watch and snapshot count as privileged
 *    because they expose names and data regardless of file permissions.)
 *
 * Answers (daemon -> client)
 *     CTL_RESP_ERROR      u32 errno (positive), str message
 *     CTL_RESP_OK         str message ("" or a human note, e.g. the new leader)
 *     CTL_RESP_STATUS     CtlStatus (see ctl_status_put)
 *     CTL_RESP_MEMBERS    u32 count, count x CtlMember
 *     CTL_RESP_TEXT       str text (metrics, Prometheus text format)
 *     CTL_RESP_DATA       blob chunk (snapshot bytes, in order)
 *     CTL_RESP_SNAPSHOT_END  u64 index, u64 term, u64 size, u32 crc32c of all data
 *     CTL_RESP_PONG       u64 nonce, CtlSession
 *     CTL_EVT_SESSION     CtlSession (once at subscription, then on every change)
 *     CTL_EVT_CHANGE      u64 index, str kind, str path (one committed change;
 *                         first a CTL_RESP_OK confirms the watch)
 *
 * Version history: 1 — initial. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/codec.h"

#define CTL_PROTO_VERSION 1
#define CTL_HEADER_SIZE 12              /* length + version + type + flags + id */
#define CTL_FRAME_MAX (1024 * 1024)     /* whole frame, length field included */
#define CTL_PAYLOAD_MAX (CTL_FRAME_MAX - CTL_HEADER_SIZE)
#define CTL_STRING_MAX 4096             /* names, addresses, paths, messages */
#define CTL_DATA_CHUNK (256 * 1024)     /* snapshot bytes per CTL_RESP_DATA */
#define CTL_MEMBERS_MAX 1024

typedef enum CtlType {
        CTL_REQ_STATUS = 0x01,
        CTL_REQ_MEMBERS = 0x02,
        CTL_REQ_MEMBER_ADD = 0x03,
        CTL_REQ_MEMBER_REMOVE = 0x04,
        CTL_REQ_LEADER_TRANSFER = 0x05,
        CTL_REQ_SNAPSHOT_SAVE = 0x06,
        CTL_REQ_METRICS = 0x07,
        CTL_REQ_WATCH = 0x08,
        CTL_REQ_SESSION_WATCH = 0x09,
        CTL_REQ_PING = 0x0a,

        CTL_RESP_ERROR = 0x40,
        CTL_RESP_OK = 0x41,
        CTL_RESP_STATUS = 0x42,
        CTL_RESP_MEMBERS = 0x43,
        CTL_RESP_TEXT = 0x44,
        CTL_RESP_DATA = 0x45,
        CTL_RESP_SNAPSHOT_END = 0x46,
        CTL_RESP_PONG = 0x47,
        CTL_EVT_SESSION = 0x48,
        CTL_EVT_CHANGE = 0x49,
} CtlType;

/* True for request types the daemon knows; is_privileged for those marked *. */
bool ctl_type_is_request(uint8_t type);
bool ctl_type_is_privileged(uint8_t type);
/* "status", "member-add", ... for logs; "unknown" otherwise. */
const char *ctl_type_to_string(uint8_t type);

typedef enum CtlRole {
        CTL_ROLE_NONE = 0,              /* not (yet) a member: joining, removed */
        CTL_ROLE_FOLLOWER = 1,
        CTL_ROLE_CANDIDATE = 2,
        CTL_ROLE_LEADER = 3,
        CTL_ROLE_LEARNER = 4,
        _CTL_ROLE_MAX,
} CtlRole;

typedef enum CtlSessionState {
        CTL_SESSION_NONE = 0,           /* no session yet (starting, joining) */
        CTL_SESSION_OK = 1,
        CTL_SESSION_JEOPARDY = 2,       /* no quorum for ttl - margin: may be gone */
        CTL_SESSION_EXPIRED = 3,        /* the cluster expired it; locks are lost */
        CTL_SESSION_STOPPING = 4,       /* the daemon is shutting down */
        _CTL_SESSION_MAX,
} CtlSessionState;

const char *ctl_role_to_string(uint8_t role);                   /* "leader", ... */
const char *ctl_session_state_to_string(uint8_t state);         /* "ok", "jeopardy", ... */

typedef struct CtlSession {
        uint8_t state;                  /* CtlSessionState */
        uint64_t id;                    /* 0 when none */
        uint64_t valid_ms;              /* how long the session is known safe from now; 0 unless OK */
} CtlSession;

/* Strings: borrowed when filled for encoding; malloc'd (free with
 * ctl_status_done) when decoded. */
typedef struct CtlStatus {
        char *node;
        char *version;                  /* PACKAGE_VERSION of the daemon */
        uint8_t role;                   /* CtlRole */
        uint64_t term;
        char *leader;                   /* "" when unknown */
        uint64_t commit;
        uint64_t applied;
        uint64_t last_index;
        uint32_t voters;
        uint32_t learners;
        bool quorum;                    /* heard from a quorum recently */
        bool ready;                     /* caught up with the leader (and mounted) */
        CtlSession session;
        uint64_t session_ttl_ms;
        uint64_t uptime_ms;
        char *mountpoint;               /* "" when not mounted */
} CtlStatus;

typedef enum CtlMemberFlags {
        CTL_MEMBER_LEADER = 1 << 0,
        CTL_MEMBER_SELF = 1 << 1,
        CTL_MEMBER_CONNECTED = 1 << 2,  /* a TLS channel to it is up (always for self) */
} CtlMemberFlags;

typedef struct CtlMember {
        char *name;
        char *address;
        uint8_t role;                   /* CTL_ROLE_FOLLOWER..LEARNER as seen by the leader, or NONE */
        uint8_t flags;                  /* CtlMemberFlags */
        uint64_t match_index;           /* replication progress; 0 when unknown (not leader) */
        uint64_t last_contact_ms;       /* ms since last message from it; UINT64_MAX unknown */
} CtlMember;

typedef struct CtlChange {
        uint64_t index;
        char *kind;                     /* "create", "write", "remove", "rename", "attr", ... */
        char *path;
} CtlChange;

typedef struct CtlSnapshotEnd {
        uint64_t index;
        uint64_t term;
        uint64_t size;
        uint32_t crc32c;
} CtlSnapshotEnd;

/* ---- framing ----------------------------------------------------------- */

typedef struct CtlFrame {
        uint8_t type;
        uint32_t id;
        const uint8_t *payload;         /* points into the parsed input */
        size_t len;
} CtlFrame;

/* Appends a frame header with a placeholder length and stores its offset in
 * *ret_start; append the payload, then call ctl_frame_end(). 0 or -ENOMEM. */
int ctl_frame_begin(Buf *b, uint8_t type, uint32_t id, size_t *ret_start);
/* Patches the length of the frame started at `start`. -EMSGSIZE (and the
 * frame is removed from b) when the payload exceeds CTL_PAYLOAD_MAX. */
int ctl_frame_end(Buf *b, size_t start);

/* Looks for one frame at the front of data[0..len). Returns 0 when the
 * frame is not complete yet, the number of bytes it occupies (> 0) and
 * *ret filled when complete, -EBADMSG for a length out of range, or
 * -EPROTONOSUPPORT for another version (then *ret is filled so the caller
 * can answer the id). */
int ctl_frame_parse(const uint8_t *data, size_t len, CtlFrame *ret);

/* ---- complete frames -------------------------------------------------- */
/* Each appends one whole frame to b: 0, -ENOMEM or -EMSGSIZE (b unchanged). */
int ctl_put_empty(Buf *b, uint8_t type, uint32_t id);
int ctl_put_error(Buf *b, uint32_t id, int error, const char *message);
int ctl_put_ok(Buf *b, uint32_t id, const char *message);
int ctl_put_text(Buf *b, uint32_t id, const char *text);
int ctl_put_strings(Buf *b, uint8_t type, uint32_t id, const char *s1, const char *s2);  /* s2 may be NULL */
int ctl_put_watch(Buf *b, uint32_t id, const char *path, bool recursive);
int ctl_put_u64(Buf *b, uint8_t type, uint32_t id, uint64_t v);        /* PING */
int ctl_put_status(Buf *b, uint32_t id, const CtlStatus *s);
int ctl_put_members(Buf *b, uint32_t id, const CtlMember *m, size_t n);
int ctl_put_session(Buf *b, uint8_t type, uint32_t id, uint64_t nonce, const CtlSession *s);   /* PONG uses nonce */
int ctl_put_change(Buf *b, uint32_t id, const CtlChange *c);
int ctl_put_data(Buf *b, uint32_t id, const void *data, size_t len);
int ctl_put_snapshot_end(Buf *b, uint32_t id, const CtlSnapshotEnd *e);

/* ---- payload decoders -------------------------------------------------- */
/* Each decodes a whole payload; 0, -EBADMSG (malformed, out-of-range enum,
 * trailing bytes) or -ENOMEM. Outputs are untouched on failure; strings are
 * malloc'd and owned by the caller. */
int ctl_get_error(const CtlFrame *f, int *ret_error, char **ret_message);
int ctl_get_string(const CtlFrame *f, char **ret);                     /* OK, TEXT, MEMBER_REMOVE, LEADER_TRANSFER */
int ctl_get_strings(const CtlFrame *f, char **ret1, char **ret2);      /* MEMBER_ADD */
int ctl_get_watch(const CtlFrame *f, char **ret_path, bool *ret_recursive);
int ctl_get_u64(const CtlFrame *f, uint64_t *ret);                     /* PING */
int ctl_get_empty(const CtlFrame *f);
int ctl_get_status(const CtlFrame *f, CtlStatus *ret);
int ctl_get_members(const CtlFrame *f, CtlMember **ret, size_t *ret_n);
int ctl_get_session(const CtlFrame *f, uint64_t *ret_nonce, CtlSession *ret);  /* PONG, EVT_SESSION (nonce may be NULL) */
int ctl_get_change(const CtlFrame *f, CtlChange *ret);
int ctl_get_data(const CtlFrame *f, const uint8_t **ret, size_t *ret_len);     /* points into the frame */
int ctl_get_snapshot_end(const CtlFrame *f, CtlSnapshotEnd *ret);

/* Free decoded contents (not the struct). Take NULL. */
void ctl_status_done(CtlStatus *s);
void ctl_members_free(CtlMember *m, size_t n);
void ctl_change_done(CtlChange *c);
