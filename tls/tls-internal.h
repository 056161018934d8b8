/* tls-internal.h — definitions shared by the files of tls/ only.
 *
 * Not installed, not included outside tls/ (it pulls in OpenSSL headers,
 * which only tls/ is compiled to find). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/buf.h"
#include "lib/hashmap.h"
#include "lib/list.h"
#include "lib/macro.h"
#include "tls/frame.h"
#include "tls/tls.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(SSL_CTX *, SSL_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);

/* ---- context.c ---- */

struct TlsContext {
        unsigned n_ref;
        char *ca_path;
        char *cert_path;
        char *key_path;
        SSL_CTX *ssl_ctx;     /* current material; SSL objects hold their own reference */
        unsigned testing;     /* TlsTestingFlags (tls-testing.h); 0 in production */
};

/* The SSL_CTX for a new connection (owned by ctx; SSL_new takes its own ref). */
SSL_CTX *tls_context_get_ssl_ctx(TlsContext *ctx);

/* True when `cert` names `name` in its subject CN or a DNS subjectAltName,
 * compared byte for byte (an embedded NUL never matches). */
bool tls_x509_has_name(X509 *cert, const char *name);

/* Describes and clears OpenSSL's error queue of this thread: the earliest
 * error's reason (system errors as strerror text) into buf. Returns buf. */
const char *tls_openssl_error(char *buf, size_t size);

/* Sets *ret_error (when not NULL) to a formatted message, appending
 * ": <OpenSSL reason>" when with_openssl is set (the queue is cleared).
 * Returns r for `return set_error(...)`. */
int tls_set_error(char **ret_error, int r, bool with_openssl, const char *fmt, ...) _printf_(4, 5);

/* Reads a whole (small) file; -errno / -EFBIG with *ret_error naming it. */
int tls_read_file(const char *path, size_t max_bytes, uint8_t **ret_data, size_t *ret_len, char **ret_error);

/* Secure random bytes (RAND_bytes); a failure is fatal (there is no sane way
 * to continue without randomness). */
void tls_random_bytes(void *p, size_t n);
uint64_t tls_random_u64(void);

/* ---- channels and the net (channel.c, net.c) ---- */

typedef struct Peer Peer;
typedef struct Channel Channel;

typedef enum ChannelState {
        CHANNEL_CONNECTING,   /* outbound TCP connect in progress */
        CHANNEL_HANDSHAKE,    /* TLS handshake in progress */
        CHANNEL_HELLO,        /* TLS done; HELLO/READY exchange in progress */
        CHANNEL_UP,           /* authenticated both ways; data frames flow */
        CHANNEL_CLOSING,      /* BYE queued: flushing, still reading until the peer's BYE/EOF */
        CHANNEL_CLOSED,
} ChannelState;

struct Channel {
        TlsNet *net;
        Peer *peer;                  /* outbound: the dialed peer; inbound: set once HELLO is accepted */
        ListNode net_node;           /* in net->channels */
        bool outbound;
        ChannelState state;
        int fd;
        SSL *ssl;                    /* NULL in plaintext mode */
        sd_event_source *io;
        sd_event_source *timer;      /* handshake / closing deadline */
        uint32_t io_events;          /* events currently asked of epoll */
        char address[64];            /* remote "ip:port" */

        Buf rx;                      /* received bytes not yet decoded */
        Buf wq;                      /* encoded frames waiting to be written, from wq_off */
        size_t wq_off;
        Buf bout;                    /* TLS records produced, not yet sent (see the BIO in channel.c) */
        size_t bout_off;
        bool hs_want_write;          /* handshake needs writability */
        bool read_want_write;        /* SSL_read needs writability (TLS key update) */
        bool write_want_read;        /* SSL_write needs readability */
        bool counted_pending;        /* counted in net->n_pending */
        bool ssl_failed;             /* a fatal SSL error happened: no SSL_shutdown */
        bool bio_eof;                /* the socket returned EOF (for BIO_CTRL_EOF) */
        bool was_up;                 /* reached CHANNEL_UP once: full frame limit applies */

        bool hello_received;
        uint64_t peer_incarnation;
        bool bye_sent, bye_received;
        bool superseded;             /* the peer retired this channel in favour of another */

        /* Deferred close requested from an API path (callbacks must not run there). */
        bool doomed;
        int doom_error;
        char doom_detail[192];
};

struct Peer {
        TlsNet *net;
        char *name;
        char *address;               /* NULL: never dialed */
        struct sockaddr_storage sa;
        socklen_t sa_len;
        bool member;

        Channel *active;             /* the UP channel frames are sent on */
        Channel *dialing;            /* outbound channel not yet UP */
        unsigned n_channels;         /* channels with ->peer == this */
        sd_event_source *dial_timer;
        uint64_t backoff_usec;

        bool up_reported;            /* on_peer_up fired, on_peer_down not yet */
        uint64_t reported_incarnation;
        bool hold_down;              /* active retired by the peer for a duplicate that is coming up */
        int down_error;
        char down_detail[192];
        bool blocked;                /* tls_net_send returned -ENOBUFS: on_drain owed once drained */
        bool drain_owed;             /* drained: on_drain to fire from the work handler */

        TlsPeerStatus status;        /* counters (connected/queued computed on demand) */
};

struct TlsNet {
        sd_event *event;
        TlsContext *ctx;             /* NULL: insecure plaintext mode (benchmarks only) */
        char *self_name;
        TlsNetCallbacks cb;
        void *userdata;
        TlsNetConfig cfg;
        uint64_t incarnation;        /* random per TlsNet: tells a restarted peer from the old one */

        int listen_fd;
        sd_event_source *listen_source;
        sd_event_source *listen_resume;   /* re-enables accepting after EMFILE and the like */
        Hashmap *peers;              /* name -> Peer */
        List channels;
        unsigned n_pending;          /* inbound channels not yet bound to a peer */
        sd_event_source *work;       /* deferred work: doomed channels, owed callbacks */
        BIO_METHOD *bio_method;      /* NULL in plaintext mode */

        TlsNetStats stats;
        bool freeing;                /* tls_net_free() in progress: no callbacks, no bookkeeping */
};

/* channel.c */
int channel_new(TlsNet *net, int fd, bool outbound, bool connecting, Peer *peer, const char *address,
                Channel **ret);
/* Closes the channel now and frees it; informs the net (which may invoke
 * callbacks). Only from event handlers. */
void channel_close(Channel *c, int error, const char *detail);
/* Schedules a close for the next loop iteration (safe from API paths). */
void channel_doom(Channel *c, int error, const char *detail);
/* Appends an encoded frame and tries to write. 0 or -ENOMEM; write errors
 * doom the channel. */
int channel_queue(Channel *c, uint8_t type, const void *data, size_t len);
/* Graceful close: BYE, flush, read until the peer's BYE/EOF. */
void channel_retire(Channel *c, int reason);
/* Appends raw bytes (tests) and tries to write. 0 or -ENOMEM. */
int channel_queue_raw(Channel *c, const void *data, size_t len);
size_t channel_queued_bytes(const Channel *c);

/* bio.c */
BIO_METHOD *tls_bio_method_new(void);
BIO *tls_bio_new(Channel *c);
/* Bytes of TLS records produced but not yet sent. */
size_t tls_bout_pending(const Channel *c);
/* Sends them: 0 when all are out, -EAGAIN when the socket is full, -errno. */
int tls_bout_flush(Channel *c);
size_t channel_max_payload(const Channel *c);

/* net.c, called by channel.c */
void net_schedule_work(TlsNet *net);
int net_tls_done(Channel *c);
int net_hello_received(Channel *c, const TlsControl *hello);
void net_channel_up(Channel *c);
/* The channel stops carrying new frames (it is being retired). */
void net_channel_retiring(Channel *c);
void net_frame_received(Channel *c, uint8_t type, const uint8_t *data, size_t len);
void net_channel_closed(Channel *c, int error, const char *detail);
void net_refused(TlsNet *net, const char *address, const char *peer, TlsRefuseReason reason, const char *detail);
void net_channel_drained(Channel *c);
