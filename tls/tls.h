/* tls.h — mutual-TLS peer channels between raftfs nodes.
 *
 * Two objects:
 *
 *   TlsContext  the node's TLS identity: the cluster CA (the only trust
 *               anchor), this node's certificate and key. TLS 1.3 only, peer
 *               certificates required in both directions. Reloadable (SIGHUP):
 *               a reload affects connections made afterwards.
 *
 *   TlsNet      the set of channels to the other members, driven by an
 *               sd_event loop: listens, dials every member with exponential
 *               backoff and jitter, authenticates, frames, queues, and reports
 *               frames and peer up/down events through callbacks.
 *
 * Identity. A peer's node name comes from its certificate: the subject CN, or
 * a DNS subjectAltName, equal (byte for byte) to the name. After the TLS
 * handshake both sides exchange a HELLO naming themselves; a channel is
 * accepted only when the claimed name matches the certificate, is in the
 * member list given by tls_net_set_peers(), is not our own name, and (when we
 * dialed) is the name we dialed. Everything else is refused and reported
 * through on_refused (the library itself never logs above debug).
 *
 * Wire format (version 1), inside TLS:
 *     frame   = u32 length (little endian, payload bytes only) | u8 type | payload
 * Type 0 is reserved for the channel's own control frames (HELLO, READY, BYE;
 * see tls/frame.h); callers use types 1..255. A frame whose payload exceeds
 * the configured maximum, or a malformed control frame, closes that channel
 * (only that one).
 *
 * One channel per peer pair. Both sides dial, so a restarted node is back in
 * contact at once, without waiting for the other side's backoff. When two
 * channels to the same peer are up at once, both ends apply the same rule and
 * close the same one: a channel from a newer incarnation of the peer process
 * (a random 64-bit id sent in HELLO) replaces one from an older incarnation;
 * between channels of the same incarnations the one dialed by the node with
 * the smaller name (strcmp) is kept. The closing end sends BYE and flushes the
 * channel's queue first, so no frame queued on it is lost, and the other end
 * does not report the peer down while the surviving channel exists.
 *
 * Failure detection. When a peer process dies its kernel closes the sockets;
 * the channel sees EOF/RST and on_peer_down fires in the same loop iteration.
 * For a peer whose host vanished, TCP keepalive and TCP_USER_TIMEOUT bound the
 * detection time (TlsNetConfig.dead_peer_timeout_usec).
 *
 * Threading: a TlsNet and its TlsContext belong to the thread running the
 * sd_event loop. Callbacks are invoked only from sd_event dispatch, never from
 * inside a tls_net_*() call, so a caller may call tls_net_send() or
 * tls_net_set_peers() from anywhere, including from within a callback.
 * tls_net_send() starts writing at once when the socket is free (lowest
 * latency); what does not fit waits in the per-peer queue.
 *
 * Signals: sockets are written with MSG_NOSIGNAL, so SIGPIPE need not be
 * ignored for this module's sake.
 *
 * Membership caveat (for the daemon): a node refuses names that are not in
 * its member list. Feed tls_net_set_peers() with every name of every
 * configuration in the log (committed or not), not only the committed one.
 * A follower that has not even received the entry adding node X still
 * refuses X; should X become leader first, that follower stays cut off from
 * the leader until it learns of X (Raft thesis 4.1 lets servers accept RPCs
 * from servers outside their configuration for this reason). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <systemd/sd-event.h>

/* ---------------------------------------------------------------------------
 * TlsContext
 * ------------------------------------------------------------------------- */

typedef struct TlsContext TlsContext;

/* Loads the cluster CA bundle `ca_path` (PEM, one or more CA certificates:
 * more than one lets a cluster roll over to a new CA), this node's
 * certificate chain `cert_path` (PEM) and private key `key_path` (PEM,
 * unencrypted). Checks that the key matches the certificate and that the
 * certificate verifies against the CA now (so an expired or foreign
 * certificate is an error at start, not a mystery later).
 *
 * Returns a new context (reference count 1) or NULL. On failure, when
 * ret_error is not NULL, *ret_error receives a malloc'd message naming the
 * file and the reason, e.g.
 *     "Failed to load certificate '/etc/raftfs/tls/n1.crt': No such file or directory"
 *     "Certificate '/etc/raftfs/tls/n1.crt' does not verify against CA '/etc/raftfs/tls/ca.crt': certificate has expired"
 * (caller frees). The paths are copied. */
TlsContext *tls_context_new(const char *ca_path, const char *cert_path, const char *key_path, char **ret_error);

/* Reference counting. A TlsNet holds a reference on its context, so the
 * caller may drop its own after tls_net_new(). unref takes NULL, returns NULL. */
TlsContext *tls_context_ref(TlsContext *ctx);
TlsContext *tls_context_unref(TlsContext *ctx);

/* Reloads CA, certificate and key from the paths given to tls_context_new()
 * (with the same checks). On success the new material is used for every
 * connection made afterwards (established channels keep theirs) and 0 is
 * returned. On failure the context keeps the old material, returns -EINVAL,
 * -ENOENT, -EACCES, -ENOMEM or -EPROTO, and sets *ret_error as for
 * tls_context_new(). */
int tls_context_reload(TlsContext *ctx, char **ret_error);

/* True when the context's own certificate carries `name` as subject CN or as
 * a DNS subjectAltName, i.e. this certificate can act as node `name`. The
 * daemon checks its configured node name with this at start. */
bool tls_context_cert_has_name(TlsContext *ctx, const char *name);

/* The not-after time of the context's own certificate (seconds since the
 * epoch), for a metric/warning about certificates about to expire; 0 when
 * unknown. */
int64_t tls_context_cert_not_after(TlsContext *ctx);

/* Node names: 1..63 bytes of [A-Za-z0-9._-], not starting with '.' or '-'.
 * (They become file names NAME.crt and HELLO fields.) */
#define TLS_NAME_MAX 63
bool tls_name_is_valid(const char *name);

/* ---------------------------------------------------------------------------
 * Addresses
 * ------------------------------------------------------------------------- */

/* Parses a numeric peer address "A.B.C.D:PORT" or "[IPV6]:PORT" (no host
 * names: resolving would block the loop). Port 0 is allowed (listen on an
 * ephemeral port). Returns 0 and fills *ret and *ret_len, or -EINVAL. */
int tls_address_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len);

/* ---------------------------------------------------------------------------
 * TlsNet
 * ------------------------------------------------------------------------- */

typedef struct TlsNet TlsNet;

/* Why a connection attempt was refused (inbound or outbound). */
typedef enum TlsRefuseReason {
        TLS_REFUSE_NO_CERT,         /* peer presented no certificate */
        TLS_REFUSE_UNTRUSTED,       /* certificate not issued by the cluster CA, or otherwise invalid */
        TLS_REFUSE_EXPIRED,         /* certificate expired or not yet valid */
        TLS_REFUSE_PROTOCOL,        /* not TLS 1.3: older TLS version, plaintext, garbage */
        TLS_REFUSE_NOT_MEMBER,      /* authenticated name is not a current member */
        TLS_REFUSE_WRONG_NAME,      /* claimed name not in the certificate, not the dialed peer, or our own */
        TLS_REFUSE_BAD_HELLO,       /* malformed or unexpected frames before the channel was up */
        TLS_REFUSE_TIMEOUT,         /* handshake + HELLO exchange not finished in time */
        TLS_REFUSE_PEER_ALERT,      /* the other side rejected us (TLS alert), e.g. it does not trust our certificate */
        TLS_REFUSE_LIMIT,           /* too many unauthenticated connections at once */
        TLS_REFUSE_TLS_ERROR,       /* any other TLS failure */
        _TLS_REFUSE_MAX,
} TlsRefuseReason;

/* Short stable string for a reason ("no-certificate", "untrusted", ...). */
const char *tls_refuse_reason_to_string(TlsRefuseReason reason);

typedef struct TlsNetCallbacks {
        /* A frame arrived from `peer` on its current channel. `data` is valid
         * only during the call. Required. */
        void (*on_frame)(TlsNet *net, const char *peer, uint8_t type, const void *data, size_t len,
                         void *userdata);
        /* `peer` is reachable: a channel is authenticated in both directions
         * (tls_net_send() now works). Also fires, after an on_peer_down, when
         * the peer process restarted. Optional. */
        void (*on_peer_up)(TlsNet *net, const char *peer, void *userdata);
        /* `peer` is no longer reachable: its last channel closed. `error` is a
         * negative errno: -ECONNRESET/-EPIPE (peer went away), -ESHUTDOWN
         * (peer closed cleanly), -ETIMEDOUT (dead peer timeout), -EBADMSG or
         * -EMSGSIZE (peer sent a malformed or oversized frame), -EPROTO (TLS
         * error), -ESTALE (the peer restarted; an on_peer_up follows when the
         * new channel is up), -ECANCELED (removed from the member list).
         * `detail` is a short human readable text. The daemon calls Raft's
         * fast-failover hook from here. Optional. */
        void (*on_peer_down)(TlsNet *net, const char *peer, int error, const char *detail, void *userdata);
        /* A connection was refused. `address` is the remote "ip:port",
         * `peer` the node name when known (dialed or claimed) or NULL,
         * `detail` the precise reason (OpenSSL reason, names). The daemon logs
         * these at warning level, rate limited. Optional. */
        void (*on_refused)(TlsNet *net, const char *address, const char *peer, TlsRefuseReason reason,
                           const char *detail, void *userdata);
        /* The write queue to `peer` dropped to half its limit or below after a
         * tls_net_send() had returned -ENOBUFS: sending may resume. Optional. */
        void (*on_drain)(TlsNet *net, const char *peer, void *userdata);
} TlsNetCallbacks;

/* Tunables; a zero field means the default given in brackets. */
typedef struct TlsNetConfig {
        size_t max_frame_bytes;          /* [16 MiB] largest payload accepted or sent */
        size_t max_queue_bytes;          /* [64 MiB] per-peer write queue limit (>= max_frame_bytes + 5) */
        uint64_t handshake_timeout_usec; /* [5 s] TCP connect + TLS handshake + HELLO exchange */
        uint64_t backoff_min_usec;       /* [50 ms] first redial delay after a failure */
        uint64_t backoff_max_usec;       /* [5 s] redial delay cap (delays double, with jitter) */
        uint64_t dead_peer_timeout_usec; /* [15 s] TCP_USER_TIMEOUT and keepalive budget */
        unsigned max_pending;            /* [64] unauthenticated inbound connections at once */
} TlsNetConfig;

#define TLS_FRAME_HEADER_BYTES 5
#define TLS_NET_DEFAULT_MAX_FRAME_BYTES (16u * 1024 * 1024)

/* Creates a peer network on `event` for node `self_name` (which must be a
 * name the context's certificate carries: -EINVAL otherwise).
 * `ctx` is referenced (the caller keeps its own reference); `callbacks` is
 * copied; `config` may be NULL (defaults) and is copied. No socket is opened
 * until tls_net_listen()/tls_net_set_peers().
 * Returns 0 and *ret, or -EINVAL, -ENOMEM. */
int tls_net_new(sd_event *event, TlsContext *ctx, const char *self_name, const TlsNetCallbacks *callbacks,
                const TlsNetConfig *config, void *userdata, TlsNet **ret);

/* Same, but WITHOUT TLS: frames travel in plaintext and the HELLO name is
 * believed. Exists only so that bench/tls can measure TLS against plain TCP
 * through the very same channel code. Never use it for a real cluster. */
int tls_net_new_insecure_plaintext(sd_event *event, const char *self_name, const TlsNetCallbacks *callbacks,
                                   const TlsNetConfig *config, void *userdata, TlsNet **ret);

/* Closes every socket, drops every queued frame and frees the net, without
 * invoking callbacks. Must not be called from within a callback of this net.
 * Takes NULL, returns NULL. */
TlsNet *tls_net_free(TlsNet *net);

/* Listens on `address` (see tls_address_parse; port 0 picks a free port,
 * read it back with tls_net_get_local_port). SO_REUSEADDR is set. Once only.
 * Returns 0, -EINVAL (bad address), -EALREADY, or the socket/bind/listen
 * errno (-EADDRINUSE, -EACCES, ...). */
int tls_net_listen(TlsNet *net, const char *address);

/* Listens on an already bound, listening stream socket (socket activation,
 * tests). Takes ownership of `fd` on success. 0, -EALREADY, -EINVAL, -ENOMEM. */
int tls_net_listen_fd(TlsNet *net, int fd);

/* The port we listen on, or -ENOTCONN when not listening. */
int tls_net_get_local_port(TlsNet *net);

typedef struct TlsPeerInfo {
        const char *name;     /* node name (valid, see tls_name_is_valid) */
        const char *address;  /* where to dial it ("ip:port"), or NULL: accept only, never dial */
} TlsPeerInfo;

/* Replaces the member list: the names allowed to connect and the addresses
 * to dial. Our own name may appear in the list; it is skipped. Peers that
 * are new are dialed at once; peers that left have their channels closed
 * (on_peer_down with -ECANCELED, from the loop, later); a peer whose address
 * changed is redialed at the new address and its channels are closed.
 * Established channels to peers that stay are untouched.
 * Validates everything first: on -EINVAL (bad name or address, duplicate
 * name) or -ENOMEM nothing changed. The strings are copied. */
int tls_net_set_peers(TlsNet *net, const TlsPeerInfo *peers, size_t n_peers);

/* Queues one frame for `peer` and starts writing it (the data is copied).
 * Returns 0 (queued; it may still be lost if the channel fails), -ENOTCONN
 * (no channel up: the caller, Raft, tolerates the loss), -ENOBUFS (the
 * peer's write queue would exceed max_queue_bytes: back-pressure, nothing
 * queued, on_drain follows), -EMSGSIZE (len > max_frame_bytes), -EINVAL
 * (type 0, which is reserved), -ENOENT (not a member), -ENOMEM.
 * Frames to one peer arrive in the order sent while its channel lives. */
int tls_net_send(TlsNet *net, const char *peer, uint8_t type, const void *data, size_t len);

typedef struct TlsPeerStatus {
        bool connected;              /* a channel is up: tls_net_send() can queue */
        size_t queued_bytes;         /* bytes waiting in the write queue */
        uint64_t frames_sent;        /* counted when queued */
        uint64_t frames_received;
        uint64_t bytes_sent;         /* payload bytes */
        uint64_t bytes_received;
        uint64_t connects;           /* channels that came up */
        uint64_t disconnects;        /* channels that went down (up -> closed) */
        int last_error;              /* negative errno of the last failed dial/close, or 0 */
} TlsPeerStatus;

/* Fills *ret for member `peer`. 0 or -ENOENT (not a member). */
int tls_net_get_peer_status(TlsNet *net, const char *peer, TlsPeerStatus *ret);

typedef struct TlsNetStats {
        uint64_t accepted;                       /* inbound TCP connections accepted */
        uint64_t refused[_TLS_REFUSE_MAX];       /* refusals by reason */
        uint64_t refused_total;
        uint64_t protocol_errors;                /* up channels closed for bad/oversized frames */
} TlsNetStats;

void tls_net_get_stats(TlsNet *net, TlsNetStats *ret);
