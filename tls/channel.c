#include "config.h"
/* channel.c — one connection to a peer: TCP connect, TLS handshake, HELLO
 * exchange, framing, write queue, graceful and abrupt close.
 *
 * A Channel owns its socket, its SSL object (none in plaintext mode), its
 * sd-event sources and two buffers: `rx` (bytes received, not yet decoded)
 * and `wq` (encoded frames not yet written, from wq_off). It knows nothing
 * about membership or duplicates: it asks net.c (net_tls_done,
 * net_hello_received) whether to accept the other side and tells it what
 * happened (net_channel_up, net_frame_received, net_channel_closed).
 *
 * Invariants:
 *   - Callbacks reach the user only from this file's sd-event handlers (via
 *     net.c), never from channel_queue()/channel_retire()/channel_doom(),
 *     which the user's own calls reach; those only mark and schedule.
 *   - A channel is freed only by channel_close(), called at the top of one of
 *     its own handlers or from the net's deferred work, never while a frame
 *     of it is being delivered.
 *   - Before the channel is up the frame limit is small (PRE_UP_MAX_PAYLOAD),
 *     so an unauthenticated peer cannot make us buffer megabytes.
 *   - SSL_write is retried with the same data at a possibly moved address
 *     (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER) and never a shorter length: the
 *     queue only grows at its end, and we always offer min(queued, cap).
 *   - The socket I/O of OpenSSL goes through the BIO of bio.c (send with
 *     MSG_NOSIGNAL, records coalesced in c->bout), so a peer that vanishes
 *     never raises SIGPIPE in the caller's process. */

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "lib/codec.h"
#include "tls/tls-internal.h"

#define PRE_UP_MAX_PAYLOAD 256
#define READ_CHUNK (64 * 1024)
#define READ_BUDGET (4 * 1024 * 1024)     /* per dispatch, for fairness between channels */
#define WRITE_CHUNK (1024 * 1024)
#define WRITE_BUDGET (4 * 1024 * 1024)
#define RX_SHRINK_BYTES (1024 * 1024)     /* free a big idle receive buffer */
#define CLOSING_TIMEOUT_USEC (2 * USEC_PER_SEC)

static int io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static int timer_handler(sd_event_source *s, uint64_t usec, void *userdata);

/* Records why the channel fails; returns r for `return fail(...)`. */
_printf_(3, 4) static int fail(Channel *c, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(c->doom_detail, sizeof c->doom_detail, fmt, ap);
        va_end(ap);
        return r;
}

static const char *peer_name(const Channel *c) {
        return c->peer ? c->peer->name : NULL;
}

static size_t wq_pending(const Channel *c) {
        return c->wq.len - c->wq_off;
}

size_t channel_queued_bytes(const Channel *c) {
        return wq_pending(c) + tls_bout_pending(c);
}

size_t channel_max_payload(const Channel *c) {
        return c->was_up ? c->net->cfg.max_frame_bytes : PRE_UP_MAX_PAYLOAD;
}

/* ---- socket setup ---- */

static void set_socket_options(int fd, const TlsNetConfig *cfg) {
        int one = 1;
        unsigned timeout_ms = (unsigned) (cfg->dead_peer_timeout_usec / USEC_PER_MSEC);
        int idle = (int) MAX(cfg->dead_peer_timeout_usec / USEC_PER_SEC / 3, 1);
        int intvl = (int) MAX(cfg->dead_peer_timeout_usec / USEC_PER_SEC / 9, 1);
        int cnt = 3;

        /* Best effort: a failure only weakens latency or failure detection. */
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        (void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
        (void) setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms, sizeof timeout_ms);
}

static void update_events(Channel *c) {
        uint32_t ev;

        if (c->state == CHANNEL_CLOSED)
                return;
        if (c->state == CHANNEL_CONNECTING)
                ev = EPOLLOUT;
        else {
                ev = EPOLLIN;
                if (c->hs_want_write || c->read_want_write || tls_bout_pending(c) > 0 ||
                    (wq_pending(c) > 0 && !c->write_want_read))
                        ev |= EPOLLOUT;
        }
        if (ev != c->io_events && sd_event_source_set_io_events(c->io, ev) >= 0)
                c->io_events = ev;
}

static int arm_timer(Channel *c, uint64_t usec) {
        uint64_t now;
        int r = sd_event_now(c->net->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        if (!c->timer)
                return sd_event_add_time(c->net->event, &c->timer, CLOCK_MONOTONIC, now + usec, 10 * USEC_PER_MSEC,
                                         timer_handler, c);
        r = sd_event_source_set_time(c->timer, now + usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
        return r;
}

int channel_new(TlsNet *net, int fd, bool outbound, bool connecting, Peer *peer, const char *address,
                Channel **ret) {
        Channel *c = calloc(1, sizeof *c);
        int r;

        if (!c) {
                (void) safe_close(fd);
                return -ENOMEM;
        }
        c->net = net;
        c->fd = fd;
        c->outbound = outbound;
        /* Without TLS an accepted connection goes straight to HELLO. */
        c->state = connecting ? CHANNEL_CONNECTING : net->ctx ? CHANNEL_HANDSHAKE : CHANNEL_HELLO;
        list_init(&c->net_node);
        snprintf(c->address, sizeof c->address, "%s", address);
        set_socket_options(fd, &net->cfg);

        if (net->ctx) {
                c->ssl = SSL_new(tls_context_get_ssl_ctx(net->ctx));
                BIO *bio = c->ssl ? tls_bio_new(c) : NULL;
                if (!bio) {
                        r = -ENOMEM;
                        goto fail;
                }
                SSL_set_bio(c->ssl, bio, bio);
                if (outbound)
                        SSL_set_connect_state(c->ssl);
                else
                        SSL_set_accept_state(c->ssl);
        }

        /* The first event: writability of a connecting socket, or data. */
        c->io_events = connecting ? EPOLLOUT : EPOLLIN | EPOLLOUT;
        r = sd_event_add_io(net->event, &c->io, fd, c->io_events, io_handler, c);
        if (r < 0)
                goto fail;
        r = arm_timer(c, net->cfg.handshake_timeout_usec);
        if (r < 0)
                goto fail;

        list_append(&net->channels, &c->net_node);
        c->peer = peer;
        if (peer)
                peer->n_channels++;
        if (!outbound) {
                c->counted_pending = true;
                net->n_pending++;
        }
        *ret = c;
        return 0;

fail:
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        SSL_free(c->ssl);
        (void) safe_close(fd);
        free(c);
        return r;
}

/* ---- transport: TLS or plaintext ---- */

/* >0 bytes, -EAGAIN (would block; want flags set), or an error (detail set). */
static ssize_t transport_read(Channel *c, void *p, size_t n) {
        if (!c->ssl) {
                ssize_t k = recv(c->fd, p, n, 0);
                if (k > 0)
                        return k;
                if (k == 0)
                        return fail(c, -ESHUTDOWN, "connection closed by peer");
                if (errno == EAGAIN || errno == EINTR)
                        return -EAGAIN;
                return fail(c, -errno, "connection lost: %s", strerror(errno));
        }

        ERR_clear_error();
        int k = SSL_read(c->ssl, p, (int) MIN(n, (size_t) INT_MAX));
        if (k > 0) {
                c->read_want_write = false;
                return k;
        }
        switch (SSL_get_error(c->ssl, k)) {
        case SSL_ERROR_WANT_READ:
                c->read_want_write = false;
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                c->read_want_write = true;
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return fail(c, -ESHUTDOWN, "connection closed by peer");
        case SSL_ERROR_SYSCALL:
                c->ssl_failed = true;
                return fail(c, errno ? -errno : -ECONNRESET, "connection lost: %s",
                            strerror(errno ? errno : ECONNRESET));
        default: {
                unsigned long e = ERR_peek_error();
                c->ssl_failed = true;
                char buf[128];
                if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                        ERR_clear_error();
                        return fail(c, -ECONNRESET, "connection closed by peer");
                }
                if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET && !c->was_up &&
                    c->outbound) {
                        /* TLS 1.3: the server checks our certificate after our
                         * handshake finished; its verdict arrives here. */
                        (void) tls_openssl_error(buf, sizeof buf);
                        net_refused(c->net, c->address, peer_name(c), TLS_REFUSE_PEER_ALERT, buf);
                        return fail(c, -EPROTO, "refused by peer: %s", buf);
                }
                return fail(c, -EPROTO, "TLS error: %s", tls_openssl_error(buf, sizeof buf));
        }
        }
}

static ssize_t transport_write(Channel *c, const void *p, size_t n) {
        if (!c->ssl) {
                ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
                if (k >= 0)
                        return k;
                if (errno == EAGAIN || errno == EINTR)
                        return -EAGAIN;
                return fail(c, -errno, "connection lost: %s", strerror(errno));
        }

        ERR_clear_error();
        int k = SSL_write(c->ssl, p, (int) MIN(n, (size_t) INT_MAX));
        if (k > 0) {
                c->write_want_read = false;
                return k;
        }
        switch (SSL_get_error(c->ssl, k)) {
        case SSL_ERROR_WANT_WRITE:
                c->write_want_read = false;
                return -EAGAIN;
        case SSL_ERROR_WANT_READ:
                c->write_want_read = true;
                return -EAGAIN;
        case SSL_ERROR_SYSCALL:
                c->ssl_failed = true;
                return fail(c, errno ? -errno : -EPIPE, "connection lost: %s", strerror(errno ? errno : EPIPE));
        default: {
                char buf[128];
                c->ssl_failed = true;
                return fail(c, -EPROTO, "TLS error: %s", tls_openssl_error(buf, sizeof buf));
        }
        }
}

/* ---- writing ---- */

static int do_write(Channel *c) {
        size_t budget = WRITE_BUDGET;

        while (wq_pending(c) > 0 && budget > 0) {
                size_t n = MIN(wq_pending(c), (size_t) WRITE_CHUNK);
                ssize_t k = transport_write(c, c->wq.data + c->wq_off, n);
                if (k == -EAGAIN)
                        break;
                if (k < 0)
                        return (int) k;
                c->wq_off += (size_t) k;
                budget -= MIN(budget, (size_t) k);
        }
        if (c->ssl) {
                int r = tls_bout_flush(c);
                if (r < 0 && r != -EAGAIN)
                        return fail(c, r, "connection lost: %s", strerror(-r));
        }

        if (c->wq_off == c->wq.len) {
                buf_clear(&c->wq);
                c->wq_off = 0;
        } else if (c->wq_off >= 64 * 1024 && c->wq_off >= c->wq.len / 2) {
                /* Compact: amortised O(1) per byte, since at least half moves out. */
                memmove(c->wq.data, c->wq.data + c->wq_off, c->wq.len - c->wq_off);
                c->wq.len -= c->wq_off;
                c->wq_off = 0;
        }
        if (c->peer && c->peer->blocked)
                net_channel_drained(c);
        return 0;
}

/* Write now unless the socket is known to be blocked; errors doom the
 * channel (we may be inside the user's call). */
static void kick_write(Channel *c) {
        if (c->state == CHANNEL_CLOSED || c->doomed || c->state < CHANNEL_HELLO)
                return;
        if (!(c->io_events & EPOLLOUT) || c->write_want_read) {
                int r = do_write(c);
                if (r < 0) {
                        channel_doom(c, r, c->doom_detail);
                        return;
                }
        }
        update_events(c);
}

int channel_queue(Channel *c, uint8_t type, const void *data, size_t len) {
        int r = tls_frame_append(&c->wq, type, data, len);
        if (r < 0)
                return r;
        kick_write(c);
        return 0;
}

static int queue_control(Channel *c, int (*append)(Channel *c)) {
        int r = append(c);
        if (r < 0)
                return fail(c, r, "out of memory");
        kick_write(c);
        return 0;
}

static int append_hello(Channel *c) {
        return tls_control_append_hello(&c->wq, c->net->incarnation, c->net->self_name);
}

static int append_ready(Channel *c) {
        return tls_control_append_ready(&c->wq);
}

int channel_queue_raw(Channel *c, const void *data, size_t len) {
        int r = buf_append(&c->wq, data, len);
        if (r < 0)
                return r;
        kick_write(c);
        return 0;
}

/* ---- state changes ---- */

static void set_up(Channel *c) {
        c->state = CHANNEL_UP;
        c->was_up = true;
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        net_channel_up(c);
}

void channel_retire(Channel *c, int reason) {
        if (c->state == CHANNEL_CLOSED || c->state == CHANNEL_CLOSING)
                return;
        if (c->state < CHANNEL_HELLO) {
                /* Nothing was said on it yet: just close it soon. */
                channel_doom(c, -ECANCELED, "closed before it was up");
                return;
        }
        net_channel_retiring(c);
        c->state = CHANNEL_CLOSING;
        if (tls_control_append_bye(&c->wq, (TlsByeReason) reason) < 0) {
                channel_doom(c, -ENOMEM, "out of memory");
                return;
        }
        c->bye_sent = true;
        if (arm_timer(c, CLOSING_TIMEOUT_USEC) < 0) {
                channel_doom(c, -ENOMEM, "out of memory");
                return;
        }
        kick_write(c);
        if (c->bye_received && channel_queued_bytes(c) == 0)
                channel_doom(c, -ESHUTDOWN, "closed after BYE");
}

void channel_doom(Channel *c, int error, const char *detail) {
        if (c->doomed || c->state == CHANNEL_CLOSED)
                return;
        c->doomed = true;
        c->doom_error = error;
        if (detail != c->doom_detail)
                snprintf(c->doom_detail, sizeof c->doom_detail, "%s", detail);
        net_schedule_work(c->net);
}

void channel_close(Channel *c, int error, const char *detail) {
        char saved[sizeof c->doom_detail];

        if (c->state == CHANNEL_CLOSED)
                return;
        snprintf(saved, sizeof saved, "%s", detail ? detail : "");
        c->io = sd_event_source_disable_unref(c->io);
        c->timer = sd_event_source_disable_unref(c->timer);
        if (c->ssl) {
                /* Best effort close_notify: the peer can tell a clean close
                 * from a crash. Never blocks (non-blocking socket). Not
                 * after a fatal TLS error, as OpenSSL requires. */
                if (c->state >= CHANNEL_HELLO && !c->ssl_failed)
                        (void) SSL_shutdown(c->ssl);
                ERR_clear_error();
                SSL_free(c->ssl);
                c->ssl = NULL;
        }
        c->fd = safe_close(c->fd);
        list_remove(&c->net_node);
        if (c->counted_pending) {
                c->counted_pending = false;
                c->net->n_pending--;
        }

        /* net.c looks at the state the channel was in. */
        net_channel_closed(c, error, saved);
        c->state = CHANNEL_CLOSED;
        buf_done(&c->rx);
        buf_done(&c->wq);
        buf_done(&c->bout);
        free(c);
}

/* ---- handshake ---- */

static TlsRefuseReason classify_handshake_error(Channel *c, int ssl_error, char *detail, size_t size) {
        long vr = SSL_get_verify_result(c->ssl);
        unsigned long e = ERR_peek_error();
        int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);

        if (ssl_error == SSL_ERROR_SYSCALL ||
            (lib == ERR_LIB_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) || e == 0) {
                ERR_clear_error();
                snprintf(detail, size, "connection closed during the TLS handshake");
                return TLS_REFUSE_TLS_ERROR;
        }
        if (vr != X509_V_OK && lib == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
                ERR_clear_error();
                snprintf(detail, size, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
                return vr == X509_V_ERR_CERT_HAS_EXPIRED || vr == X509_V_ERR_CERT_NOT_YET_VALID
                               ? TLS_REFUSE_EXPIRED
                               : TLS_REFUSE_UNTRUSTED;
        }
        (void) tls_openssl_error(detail, size);
        if (lib != ERR_LIB_SSL)
                return TLS_REFUSE_TLS_ERROR;
        if (reason >= SSL_AD_REASON_OFFSET)
                return TLS_REFUSE_PEER_ALERT;
        switch (reason) {
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
                return TLS_REFUSE_NO_CERT;
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_HTTP_REQUEST:
        case SSL_R_HTTPS_PROXY_REQUEST:
        case SSL_R_UNKNOWN_PROTOCOL:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_RECORD_LENGTH_MISMATCH:
        case SSL_R_NO_PROTOCOLS_AVAILABLE:
        case SSL_R_WRONG_SSL_VERSION:
        case SSL_R_VERSION_TOO_LOW:
        case SSL_R_UNSUPPORTED_SSL_VERSION:
                return TLS_REFUSE_PROTOCOL;
        default:
                return TLS_REFUSE_TLS_ERROR;
        }
}

/* TLS done (or no TLS): the dialer speaks first. */
static int start_hello(Channel *c) {
        c->hs_want_write = false;
        c->state = CHANNEL_HELLO;
        int r = net_tls_done(c);
        if (r < 0)
                return r;
        if (c->outbound)
                return queue_control(c, append_hello);
        return 0;
}

static int do_handshake(Channel *c) {
        ERR_clear_error();
        int k = SSL_do_handshake(c->ssl);
        if (k == 1)
                return start_hello(c);

        int e = SSL_get_error(c->ssl, k);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                c->hs_want_write = e == SSL_ERROR_WANT_WRITE;
                return 0;
        }
        char detail[160];
        TlsRefuseReason reason = classify_handshake_error(c, e, detail, sizeof detail);
        /* A dial that died with the connection is a failed dial, not a refusal. */
        if (!c->outbound || reason != TLS_REFUSE_TLS_ERROR)
                net_refused(c->net, c->address, peer_name(c), reason, detail);
        return fail(c, -EPROTO, "TLS handshake failed: %s", detail);
}

static int finish_connect(Channel *c) {
        int err = 0;
        socklen_t len = sizeof err;

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        if (err != 0)
                return fail(c, -err, "connect failed: %s", strerror(err));
        c->state = CHANNEL_HANDSHAKE;
        if (!c->ssl)
                return start_hello(c);
        return 0;
}

/* ---- reading ---- */

static int refuse_pre_up(Channel *c, TlsRefuseReason reason, const char *what) {
        net_refused(c->net, c->address, peer_name(c), reason, what);
        return fail(c, -EBADMSG, "%s", what);
}

static int handle_control(Channel *c, const TlsFrame *f) {
        TlsControl m;
        int r;

        if (tls_control_decode(f->payload, f->len, &m) < 0) {
                if (!c->was_up)
                        return refuse_pre_up(c, TLS_REFUSE_BAD_HELLO, "malformed control frame");
                return fail(c, -EBADMSG, "malformed control frame");
        }
        switch (m.kind) {
        case TLS_CONTROL_HELLO:
                if (c->state != CHANNEL_HELLO || c->hello_received)
                        return c->was_up ? fail(c, -EBADMSG, "unexpected HELLO")
                                         : refuse_pre_up(c, TLS_REFUSE_BAD_HELLO, "unexpected HELLO");
                if (m.version != TLS_PROTOCOL_VERSION)
                        return refuse_pre_up(c, TLS_REFUSE_BAD_HELLO, "unsupported protocol version");
                c->hello_received = true;
                c->peer_incarnation = m.incarnation;
                r = net_hello_received(c, &m);
                if (r < 0)
                        return r;
                if (!c->outbound)
                        return queue_control(c, append_hello);
                r = queue_control(c, append_ready);
                if (r < 0)
                        return r;
                set_up(c);
                return 0;

        case TLS_CONTROL_READY:
                if (c->outbound || c->state != CHANNEL_HELLO || !c->hello_received)
                        return refuse_pre_up(c, TLS_REFUSE_BAD_HELLO, "unexpected READY");
                set_up(c);
                return 0;

        case TLS_CONTROL_BYE:
                c->bye_received = true;
                if (!c->was_up) {
                        if (c->outbound && m.bye_reason == TLS_BYE_REMOVED)
                                net_refused(c->net, c->address, peer_name(c), TLS_REFUSE_PEER_ALERT,
                                            "peer does not count us as a member");
                        return fail(c, -ECONNREFUSED, "peer closed the channel before it was up");
                }
                if (m.bye_reason == TLS_BYE_SUPERSEDED)
                        c->superseded = true;
                if (c->state == CHANNEL_UP)
                        channel_retire(c, m.bye_reason);
                return 0;
        }
        assert_not_reached();
}

static int handle_frame(Channel *c, const TlsFrame *f) {
        if (f->type == TLS_FRAME_TYPE_CONTROL)
                return handle_control(c, f);
        if (!c->was_up)
                return refuse_pre_up(c, TLS_REFUSE_BAD_HELLO, "data frame before the channel was up");
        if (c->bye_received)
                return fail(c, -EBADMSG, "data frame after BYE");
        net_frame_received(c, f->type, f->payload, f->len);
        return 0;
}

static int process_rx(Channel *c) {
        size_t off = 0;
        int r = 0;

        while (off < c->rx.len && !c->doomed) {
                TlsFrame f;
                ssize_t n = tls_frame_decode(c->rx.data + off, c->rx.len - off, channel_max_payload(c), &f);
                if (n == 0)
                        break;
                if (n < 0) {
                        if (!c->was_up)
                                r = refuse_pre_up(c, TLS_REFUSE_BAD_HELLO, "oversized frame before the channel was up");
                        else
                                r = fail(c, -EMSGSIZE, "frame of %u bytes exceeds the limit of %zu bytes",
                                         le32_load(c->rx.data + off), channel_max_payload(c));
                        break;
                }
                off += (size_t) n;
                r = handle_frame(c, &f);
                if (r < 0)
                        break;
        }

        if (off == c->rx.len) {
                buf_clear(&c->rx);
                if (c->rx.cap > RX_SHRINK_BYTES)
                        buf_done(&c->rx);
        } else if (off > 0) {
                memmove(c->rx.data, c->rx.data + off, c->rx.len - off);
                c->rx.len -= off;
        }
        return r;
}

static int do_read(Channel *c) {
        size_t budget = READ_BUDGET;

        while (!c->doomed) {
                if (buf_reserve(&c->rx, READ_CHUNK) < 0)
                        return fail(c, -ENOMEM, "out of memory");
                ssize_t n = transport_read(c, c->rx.data + c->rx.len, c->rx.cap - c->rx.len);
                if (n == -EAGAIN)
                        break;
                if (n < 0)
                        return (int) n;
                c->rx.len += (size_t) n;
                int r = process_rx(c);
                if (r < 0)
                        return r;
                budget -= MIN(budget, (size_t) n);
                /* Decrypted bytes inside OpenSSL do not make the socket
                 * readable: drain them even past the budget. */
                if (budget == 0 && !(c->ssl && SSL_has_pending(c->ssl)))
                        break;
        }
        return 0;
}

/* ---- handlers ---- */

static int channel_step(Channel *c) {
        int r;

        if (c->state == CHANNEL_CONNECTING) {
                r = finish_connect(c);
                if (r < 0 || c->state == CHANNEL_CONNECTING)
                        return r;
        }
        if (c->state == CHANNEL_HANDSHAKE) {
                r = do_handshake(c);
                if (r < 0 || c->state == CHANNEL_HANDSHAKE)
                        return r;
        }
        r = do_read(c);
        if (r < 0)
                return r;
        return do_write(c);
}

static int io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Channel *c = userdata;

        int r = channel_step(c);
        if (r < 0) {
                /* EOF after both BYEs is the normal end of a retired channel. */
                if (c->state == CHANNEL_CLOSING && c->bye_sent && (r == -ESHUTDOWN || r == -ECONNRESET))
                        channel_close(c, c->superseded ? -ESHUTDOWN : r, "closed after BYE");
                else
                        channel_close(c, r, c->doom_detail);
                return 0;
        }
        if (c->doomed) {
                channel_close(c, c->doom_error, c->doom_detail);
                return 0;
        }
        if (c->state == CHANNEL_CLOSING && c->bye_received && channel_queued_bytes(c) == 0) {
                channel_close(c, -ESHUTDOWN, "closed after BYE");
                return 0;
        }
        update_events(c);
        return 0;
}

static int timer_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        Channel *c = userdata;

        if (c->state == CHANNEL_CLOSING) {
                channel_close(c, -ETIMEDOUT, "peer did not finish closing in time");
                return 0;
        }
        if (!c->outbound)
                net_refused(c->net, c->address, NULL, TLS_REFUSE_TIMEOUT,
                            c->state == CHANNEL_HANDSHAKE ? "TLS handshake not finished in time"
                                                          : "HELLO exchange not finished in time");
        channel_close(c, -ETIMEDOUT, "connection setup timed out");
        return 0;
}
