#include "config.h"
/* net.c — TlsNet: the member list, listening, dialing, authentication of
 * names, the one-channel-per-peer rule, and the user's callbacks.
 *
 * Owns: the listening socket, one Peer per member (name, address, dial timer
 * with exponential backoff, counters) and every Channel (list
 * net->channels; a channel points to its Peer once its name is known).
 *
 * Invariants:
 *   - peer->active is the only channel tls_net_send() writes to; it is UP.
 *   - The user's callbacks run only from sd-event dispatch: channel
 *     handlers, the dial timer, the listen handler and the deferred `work`
 *     source. Public calls (send, set_peers) only mark state and enable
 *     `work`, so a caller never re-enters itself through a callback.
 *   - on_peer_up and on_peer_down alternate per peer (peer_sync is the only
 *     place that fires them), starting with up.
 *   - A Peer is freed only by the work handler, once it is no longer a
 *     member, has no channels, and its down event was delivered.
 *
 * Duplicate rule (tls.h explains why both sides dial): when a channel comes
 * up while another is up for the same peer, keep the one from the newer
 * peer incarnation; with equal incarnations keep the one dialed by the
 * smaller name; with both dialed by the same side keep the newer. Both ends
 * see the same pair of incarnations and directions, so both retire the same
 * channel; retiring flushes it and says BYE, losing nothing. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls/tls-internal.h"
#include "tls/tls-testing.h"

#define ACCEPT_BATCH 32
#define MAX_PEERS 1024
#define LISTEN_PAUSE_USEC (100 * USEC_PER_MSEC)

static const TlsNetConfig config_defaults = {
        .max_frame_bytes = TLS_NET_DEFAULT_MAX_FRAME_BYTES,
        .max_queue_bytes = 64u * 1024 * 1024,
        .handshake_timeout_usec = 5 * USEC_PER_SEC,
        .backoff_min_usec = 50 * USEC_PER_MSEC,
        .backoff_max_usec = 5 * USEC_PER_SEC,
        .dead_peer_timeout_usec = 15 * USEC_PER_SEC,
        .max_pending = 64,
};

static void peer_sync(Peer *p);
static void peer_schedule_dial(Peer *p, uint64_t delay_usec);

/* ---- helpers ---- */

static void format_sockaddr(const struct sockaddr_storage *sa, char *buf, size_t size) {
        char host[INET6_ADDRSTRLEN] = "?";
        if (sa->ss_family == AF_INET) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *) sa;
                (void) inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
                snprintf(buf, size, "%s:%u", host, ntohs(s4->sin_port));
        } else if (sa->ss_family == AF_INET6) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *) sa;
                (void) inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
                snprintf(buf, size, "[%s]:%u", host, ntohs(s6->sin6_port));
        } else
                snprintf(buf, size, "?");
}

static uint64_t random_below(uint64_t n) {
        return n == 0 ? 0 : tls_random_u64() % n;
}

void net_schedule_work(TlsNet *net) {
        if (net->work)
                (void) sd_event_source_set_enabled(net->work, SD_EVENT_ONESHOT);
}

void net_refused(TlsNet *net, const char *address, const char *peer, TlsRefuseReason reason, const char *detail) {
        assert((unsigned) reason < _TLS_REFUSE_MAX);
        net->stats.refused[reason]++;
        net->stats.refused_total++;
        if (net->cb.on_refused)
                net->cb.on_refused(net, address, peer, reason, detail, net->userdata);
}

/* ---- peers ---- */

static Peer *peer_free(Peer *p) {
        if (!p)
                return NULL;
        sd_event_source_disable_unref(p->dial_timer);
        free(p->name);
        free(p->address);
        free(p);
        return NULL;
}

static bool peer_has_pending_channel(Peer *p, Channel *except) {
        Channel *c;
        list_foreach(c, &p->net->channels, net_node)
                if (c->peer == p && c != except && c->state < CHANNEL_UP && !c->doomed)
                        return true;
        return false;
}

/* Fires the owed up/down callbacks of one peer. Only from dispatch. */
static void peer_sync(Peer *p) {
        TlsNet *net = p->net;
        Channel *a = p->active;

        if (p->up_reported && (!a || a->peer_incarnation != p->reported_incarnation || !p->member)) {
                if (!a && p->hold_down && p->member)
                        return;   /* a duplicate is about to take over */
                p->up_reported = false;
                int error = a && p->member ? -ESTALE : p->down_error;
                const char *detail = a && p->member ? "peer restarted" : p->down_detail;
                if (net->cb.on_peer_down)
                        net->cb.on_peer_down(net, p->name, error ? error : -ECONNRESET, detail, net->userdata);
        }
        a = p->active;
        if (!p->up_reported && a && !a->doomed && p->member) {
                p->up_reported = true;
                p->reported_incarnation = a->peer_incarnation;
                if (net->cb.on_peer_up)
                        net->cb.on_peer_up(net, p->name, net->userdata);
        }
}

static uint64_t backoff_next(Peer *p) {
        const TlsNetConfig *cfg = &p->net->cfg;
        uint64_t b = MAX(p->backoff_usec, cfg->backoff_min_usec);
        /* "Equal jitter": half fixed, half random, so that nodes restarted
         * together do not dial in lockstep. */
        uint64_t delay = b / 2 + random_below(b / 2 + 1);
        p->backoff_usec = MIN(b * 2, cfg->backoff_max_usec);
        return delay;
}

static void peer_dial(Peer *p) {
        TlsNet *net = p->net;
        Channel *c;

        if (!p->member || !p->address || p->active || p->dialing)
                return;
        int fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        int r = fd < 0 ? -errno : 0;
        if (r == 0 && connect(fd, (const struct sockaddr *) &p->sa, p->sa_len) < 0 && errno != EINPROGRESS)
                r = -errno;
        if (r < 0) {
                (void) safe_close(fd);
                p->status.last_error = r;
                peer_schedule_dial(p, backoff_next(p));
                return;
        }
        /* Even an immediate connect is finished through the first EPOLLOUT. */
        r = channel_new(net, fd, true, true, p, p->address, &c);
        if (r < 0) {
                p->status.last_error = r;
                peer_schedule_dial(p, backoff_next(p));
                return;
        }
        p->dialing = c;
}

static int dial_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        peer_dial(userdata);
        return 0;
}

static void peer_schedule_dial(Peer *p, uint64_t delay_usec) {
        TlsNet *net = p->net;
        uint64_t now;

        if (!p->member || !p->address || p->active || p->dialing)
                return;
        if (sd_event_now(net->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (!p->dial_timer) {
                if (sd_event_add_time(net->event, &p->dial_timer, CLOCK_MONOTONIC, now + delay_usec, USEC_PER_MSEC,
                                      dial_handler, p) < 0)
                        p->dial_timer = NULL;   /* out of memory: the next set_peers retries */
                return;
        }
        (void) sd_event_source_set_time(p->dial_timer, now + delay_usec);
        (void) sd_event_source_set_enabled(p->dial_timer, SD_EVENT_ONESHOT);
}

/* Like peer_schedule_dial, but leaves an armed timer alone (a backoff in
 * progress is not cut short). */
static void peer_ensure_dial(Peer *p, uint64_t delay_usec) {
        int enabled = SD_EVENT_OFF;
        if (p->dial_timer && sd_event_source_get_enabled(p->dial_timer, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                return;
        peer_schedule_dial(p, delay_usec);
}

static void peer_cancel_dial(Peer *p) {
        if (p->dial_timer)
                (void) sd_event_source_set_enabled(p->dial_timer, SD_EVENT_OFF);
}

/* ---- deferred work ---- */

static int work_handler(sd_event_source *s, void *userdata) {
        TlsNet *net = userdata;
        Channel *c;

        /* Close doomed channels, one at a time: each close may run callbacks. */
        for (bool again = true; again;) {
                again = false;
                list_foreach(c, &net->channels, net_node)
                        if (c->doomed) {
                                channel_close(c, c->doom_error, c->doom_detail);
                                again = true;
                                break;
                        }
        }

        /* Snapshot the peers: callbacks may add peers to the map. */
        size_t n = hashmap_size(net->peers), i = 0;
        _cleanup_free_ Peer **snapshot = calloc(MAX(n, 1), sizeof *snapshot);
        if (!snapshot) {
                net_schedule_work(net);   /* try again */
                return 0;
        }
        HashmapIter it = HASHMAP_ITER_INIT;
        void *v;
        while (i < n && hashmap_iterate(net->peers, &it, NULL, &v))
                snapshot[i++] = v;

        for (size_t j = 0; j < i; j++) {
                Peer *p = snapshot[j];
                peer_sync(p);
                if (p->drain_owed) {
                        p->drain_owed = false;
                        if (net->cb.on_drain && p->active)
                                net->cb.on_drain(net, p->name, net->userdata);
                }
        }
        for (size_t j = 0; j < i; j++) {
                Peer *p = snapshot[j];
                if (!p->member && p->n_channels == 0 && !p->up_reported) {
                        (void) hashmap_remove(net->peers, p->name);
                        peer_free(p);
                }
        }
        return 0;
}

/* ---- called by channel.c ---- */

int net_tls_done(Channel *c) {
        if (!c->outbound || !c->ssl)
                return 0;
        /* We dialed a name: the certificate must carry it. */
        X509 *cert = SSL_get0_peer_certificate(c->ssl);
        if (!tls_x509_has_name(cert, c->peer->name)) {
                snprintf(c->doom_detail, sizeof c->doom_detail, "certificate of %s does not carry the name '%s'",
                         c->address, c->peer->name);
                net_refused(c->net, c->address, c->peer->name, TLS_REFUSE_WRONG_NAME, c->doom_detail);
                return -EPROTO;
        }
        return 0;
}

_printf_(4, 5) static int refuse_hello(Channel *c, TlsRefuseReason reason, const char *name, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(c->doom_detail, sizeof c->doom_detail, fmt, ap);
        va_end(ap);
        net_refused(c->net, c->address, name, reason, c->doom_detail);
        return -ECONNREFUSED;
}

int net_hello_received(Channel *c, const TlsControl *hello) {
        TlsNet *net = c->net;
        const char *name = hello->name;

        if (strcmp(name, net->self_name) == 0)
                return refuse_hello(c, TLS_REFUSE_WRONG_NAME, name, "peer claims our own name '%s'", name);
        if (c->outbound) {
                if (strcmp(name, c->peer->name) != 0)
                        return refuse_hello(c, TLS_REFUSE_WRONG_NAME, name, "peer says it is '%s', not the node we dialed",
                                            name);
                if (!c->peer->member)
                        return refuse_hello(c, TLS_REFUSE_NOT_MEMBER, name, "'%s' is no longer a member", name);
                return 0;
        }

        if (c->ssl && !tls_x509_has_name(SSL_get0_peer_certificate(c->ssl), name))
                return refuse_hello(c, TLS_REFUSE_WRONG_NAME, name, "certificate does not carry the claimed name '%s'",
                                    name);
        Peer *p = hashmap_get(net->peers, name);
        if (!p || !p->member) {
                /* Tell it why (it logs "not a member"), then close. */
                (void) tls_control_append_bye(&c->wq, TLS_BYE_REMOVED);
                (void) channel_queue_raw(c, NULL, 0);
                return refuse_hello(c, TLS_REFUSE_NOT_MEMBER, name, "'%s' is not a member", name);
        }
        c->peer = p;
        p->n_channels++;
        if (c->counted_pending) {
                c->counted_pending = false;
                net->n_pending--;
        }
        return 0;
}

void net_channel_up(Channel *c) {
        TlsNet *net = c->net;
        Peer *p = c->peer;
        Channel *d = p->active;

        if (p->dialing == c)
                p->dialing = NULL;
        p->backoff_usec = net->cfg.backoff_min_usec;
        p->status.connects++;
        p->status.last_error = 0;

        if (!d)
                p->active = c;
        else {
                bool keep_new;
                if (c->peer_incarnation != d->peer_incarnation)
                        keep_new = true;    /* the peer restarted: the old channel is stale */
                else if (c->outbound != d->outbound)
                        keep_new = c->outbound == (strcmp(net->self_name, p->name) < 0);
                else
                        keep_new = true;    /* the peer redialed: it gave up on the old one */
                if (keep_new) {
                        p->active = c;
                        channel_retire(d, TLS_BYE_SUPERSEDED);
                } else
                        channel_retire(c, TLS_BYE_SUPERSEDED);
        }
        if (p->active) {
                p->hold_down = false;
                peer_cancel_dial(p);
        }
        peer_sync(p);
}

void net_channel_retiring(Channel *c) {
        Peer *p = c->peer;

        if (!p || p->active != c)
                return;
        p->active = NULL;
        p->status.disconnects++;
        if (p->member) {
                p->down_error = -ESHUTDOWN;
                snprintf(p->down_detail, sizeof p->down_detail, "peer closed the channel");
        }
        if (c->superseded && peer_has_pending_channel(p, c))
                p->hold_down = true;   /* the duplicate that replaces this one is on its way */
        else
                peer_ensure_dial(p, random_below(p->net->cfg.backoff_min_usec));
        net_schedule_work(p->net);
}

void net_frame_received(Channel *c, uint8_t type, const uint8_t *data, size_t len) {
        TlsNet *net = c->net;
        Peer *p = c->peer;

        p->status.frames_received++;
        p->status.bytes_received += len;
        net->cb.on_frame(net, p->name, type, data, len, net->userdata);
}

void net_channel_drained(Channel *c) {
        Peer *p = c->peer;
        if (p->blocked && p->active == c && channel_queued_bytes(c) <= p->net->cfg.max_queue_bytes / 2) {
                p->blocked = false;
                p->drain_owed = true;
                net_schedule_work(p->net);
        }
}

void net_channel_closed(Channel *c, int error, const char *detail) {
        TlsNet *net = c->net;
        Peer *p = c->peer;

        if (!p)
                return;
        assert(p->n_channels > 0);
        p->n_channels--;
        if (net->freeing)
                return;

        if (c->was_up && (error == -EBADMSG || error == -EMSGSIZE))
                net->stats.protocol_errors++;
        if (p->dialing == c) {
                p->dialing = NULL;
                p->status.last_error = error;
                peer_schedule_dial(p, backoff_next(p));
        }
        if (p->active == c) {
                p->active = NULL;
                p->status.disconnects++;
                p->status.last_error = error;
                if (p->member) {
                        p->down_error = error;
                        snprintf(p->down_detail, sizeof p->down_detail, "%s", detail);
                }
        }
        if (p->hold_down && !peer_has_pending_channel(p, NULL))
                p->hold_down = false;
        /* Nothing up and nothing coming: redial soon (the peer dials too;
         * whichever channels come up, the duplicate rule keeps one). */
        if (!p->active && !p->hold_down)
                peer_ensure_dial(p, random_below(net->cfg.backoff_min_usec));
        peer_sync(p);
        if (!p->member)
                net_schedule_work(net);
}

/* ---- TlsNet ---- */

static int net_new(sd_event *event, TlsContext *ctx, const char *self_name, const TlsNetCallbacks *callbacks,
                   const TlsNetConfig *config, void *userdata, TlsNet **ret) {
        assert(event && callbacks && ret);
        if (!tls_name_is_valid(self_name) || !callbacks->on_frame)
                return -EINVAL;
        if (ctx && !ctx->testing && !tls_context_cert_has_name(ctx, self_name))
                return -EINVAL;

        TlsNetConfig cfg = config_defaults;
        if (config) {
#define TAKE(f) if (config->f) cfg.f = config->f
                TAKE(max_frame_bytes);
                TAKE(max_queue_bytes);
                TAKE(handshake_timeout_usec);
                TAKE(backoff_min_usec);
                TAKE(backoff_max_usec);
                TAKE(dead_peer_timeout_usec);
                TAKE(max_pending);
#undef TAKE
        }
        if (cfg.max_frame_bytes > UINT32_MAX || cfg.max_queue_bytes < cfg.max_frame_bytes + TLS_FRAME_HEADER_BYTES ||
            cfg.backoff_max_usec < cfg.backoff_min_usec)
                return -EINVAL;

        TlsNet *net = calloc(1, sizeof *net);
        if (!net)
                return -ENOMEM;
        net->event = sd_event_ref(event);
        net->ctx = ctx ? tls_context_ref(ctx) : NULL;
        net->cb = *callbacks;
        net->cfg = cfg;
        net->userdata = userdata;
        net->listen_fd = -EBADF;
        net->incarnation = tls_random_u64();
        list_init(&net->channels);
        net->self_name = strdup(self_name);
        net->peers = hashmap_new(&string_hash_ops);
        int r = net->self_name && net->peers ? 0 : -ENOMEM;
        if (r == 0 && ctx && !(net->bio_method = tls_bio_method_new()))
                r = -ENOMEM;
        if (r == 0)
                r = sd_event_add_defer(event, &net->work, work_handler, net);
        if (r == 0)
                r = sd_event_source_set_enabled(net->work, SD_EVENT_OFF);
        if (r < 0) {
                tls_net_free(net);
                return r;
        }
        *ret = net;
        return 0;
}

int tls_net_new(sd_event *event, TlsContext *ctx, const char *self_name, const TlsNetCallbacks *callbacks,
                const TlsNetConfig *config, void *userdata, TlsNet **ret) {
        assert(ctx);
        return net_new(event, ctx, self_name, callbacks, config, userdata, ret);
}

int tls_net_new_insecure_plaintext(sd_event *event, const char *self_name, const TlsNetCallbacks *callbacks,
                                   const TlsNetConfig *config, void *userdata, TlsNet **ret) {
        return net_new(event, NULL, self_name, callbacks, config, userdata, ret);
}

TlsNet *tls_net_free(TlsNet *net) {
        if (!net)
                return NULL;
        net->freeing = true;
        while (!list_empty(&net->channels))
                channel_close(list_entry(list_first(&net->channels), Channel, net_node), -ECANCELED, "shutting down");
        if (net->peers) {
                HashmapIter it = HASHMAP_ITER_INIT;
                void *v;
                while (hashmap_iterate(net->peers, &it, NULL, &v))
                        peer_free(v);
                hashmap_free(net->peers);
        }
        sd_event_source_disable_unref(net->listen_source);
        sd_event_source_disable_unref(net->listen_resume);
        (void) safe_close(net->listen_fd);
        sd_event_source_disable_unref(net->work);
        if (net->bio_method)
                BIO_meth_free(net->bio_method);
        tls_context_unref(net->ctx);
        sd_event_unref(net->event);
        free(net->self_name);
        free(net);
        return NULL;
}

/* ---- listening ---- */

static int listen_resume_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        TlsNet *net = userdata;
        (void) sd_event_source_set_enabled(net->listen_source, SD_EVENT_ON);
        return 0;
}

static void listen_pause(TlsNet *net) {
        uint64_t now;
        if (sd_event_now(net->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (!net->listen_resume &&
            sd_event_add_time(net->event, &net->listen_resume, CLOCK_MONOTONIC, 0, USEC_PER_MSEC,
                              listen_resume_handler, net) < 0)
                return;
        if (sd_event_source_set_time(net->listen_resume, now + LISTEN_PAUSE_USEC) >= 0 &&
            sd_event_source_set_enabled(net->listen_resume, SD_EVENT_ONESHOT) >= 0)
                (void) sd_event_source_set_enabled(net->listen_source, SD_EVENT_OFF);
}

static int listen_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        TlsNet *net = userdata;

        for (int i = 0; i < ACCEPT_BATCH; i++) {
                struct sockaddr_storage sa;
                socklen_t len = sizeof sa;
                char address[64];
                Channel *c;

                int cfd = accept4(fd, (struct sockaddr *) &sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno != EAGAIN)
                                /* EMFILE and friends: the socket stays readable;
                                 * pause instead of spinning on it. */
                                listen_pause(net);
                        break;
                }
                net->stats.accepted++;
                format_sockaddr(&sa, address, sizeof address);
                if (net->n_pending >= net->cfg.max_pending) {
                        (void) safe_close(cfd);
                        net_refused(net, address, NULL, TLS_REFUSE_LIMIT, "too many unauthenticated connections");
                        continue;
                }
                (void) channel_new(net, cfd, false, false, NULL, address, &c);
        }
        return 0;
}

int tls_net_listen_fd(TlsNet *net, int fd) {
        assert(net);
        if (net->listen_fd >= 0)
                return -EALREADY;
        if (fd < 0)
                return -EINVAL;
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        int r = sd_event_add_io(net->event, &net->listen_source, fd, EPOLLIN, listen_handler, net);
        if (r < 0)
                return r;
        net->listen_fd = fd;
        return 0;
}

int tls_net_listen(TlsNet *net, const char *address) {
        struct sockaddr_storage sa;
        socklen_t len;
        int one = 1;

        assert(net);
        if (net->listen_fd >= 0)
                return -EALREADY;
        if (tls_address_parse(address, &sa, &len) < 0)
                return -EINVAL;
        _cleanup_close_ int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, len) < 0 || listen(fd, 128) < 0)
                return -errno;
        int r = tls_net_listen_fd(net, fd);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        return 0;
}

int tls_net_get_local_port(TlsNet *net) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof sa;

        assert(net);
        if (net->listen_fd < 0)
                return -ENOTCONN;
        if (getsockname(net->listen_fd, (struct sockaddr *) &sa, &len) < 0)
                return -errno;
        if (sa.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *) &sa)->sin_port);
        if (sa.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *) &sa)->sin6_port);
        return -EAFNOSUPPORT;
}

/* ---- membership ---- */

static const TlsPeerInfo *find_info(const TlsPeerInfo *peers, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(peers[i].name, name) == 0)
                        return &peers[i];
        return NULL;
}

/* Closes every channel of a peer, gracefully where it is up. */
static void peer_drop_channels(Peer *p, int bye_reason) {
        Channel *c;
        list_foreach(c, &p->net->channels, net_node)
                if (c->peer == p) {
                        if (c->state == CHANNEL_UP)
                                channel_retire(c, bye_reason);
                        else
                                channel_doom(c, -ECANCELED, "peer left the member list or moved");
                }
        p->dialing = NULL;
}

static int validate_peers(const TlsPeerInfo *peers, size_t n) {
        if (n > MAX_PEERS)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                struct sockaddr_storage sa;
                socklen_t len;
                if (!tls_name_is_valid(peers[i].name))
                        return -EINVAL;
                if (peers[i].address && tls_address_parse(peers[i].address, &sa, &len) < 0)
                        return -EINVAL;
                if (find_info(peers, i, peers[i].name))
                        return -EINVAL;
        }
        return 0;
}

static void peer_set_address(Peer *p, char *address) {
        free(p->address);
        p->address = address;
        p->sa_len = 0;
        if (address)
                (void) tls_address_parse(address, &p->sa, &p->sa_len);   /* validated before */
}

static bool same_address(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int tls_net_set_peers(TlsNet *net, const TlsPeerInfo *peers, size_t n_peers) {
        assert(net);
        assert(peers || n_peers == 0);

        int r = validate_peers(peers, n_peers);
        if (r < 0)
                return r;

        /* Phase 1, may fail: allocate and insert new peers, copy addresses. */
        _cleanup_free_ char **addresses = calloc(MAX(n_peers, 1), sizeof *addresses);
        _cleanup_free_ Peer **added = calloc(MAX(n_peers, 1), sizeof *added);
        size_t n_added = 0;
        r = addresses && added ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < n_peers; i++) {
                if (peers[i].address && !(addresses[i] = strdup(peers[i].address)))
                        r = -ENOMEM;
                if (r < 0 || strcmp(peers[i].name, net->self_name) == 0 || hashmap_get(net->peers, peers[i].name))
                        continue;
                Peer *p = calloc(1, sizeof *p);
                if (!p || !(p->name = strdup(peers[i].name)) || hashmap_put(net->peers, p->name, p) < 0) {
                        if (p)
                                free(p->name);
                        free(p);
                        r = -ENOMEM;
                        break;
                }
                p->net = net;
                p->backoff_usec = net->cfg.backoff_min_usec;
                added[n_added++] = p;
        }
        if (r < 0) {
                for (size_t i = 0; i < n_added; i++) {
                        (void) hashmap_remove(net->peers, added[i]->name);
                        peer_free(added[i]);
                }
                for (size_t i = 0; addresses && i < n_peers; i++)
                        free(addresses[i]);
                return r;
        }

        /* Phase 2, cannot fail: members that left. */
        HashmapIter it = HASHMAP_ITER_INIT;
        void *v;
        while (hashmap_iterate(net->peers, &it, NULL, &v)) {
                Peer *p = v;
                if (!p->member || find_info(peers, n_peers, p->name))
                        continue;
                p->member = false;
                p->down_error = -ECANCELED;
                snprintf(p->down_detail, sizeof p->down_detail, "removed from the member list");
                peer_cancel_dial(p);
                peer_drop_channels(p, TLS_BYE_REMOVED);
        }

        /* Members that stay or arrive. */
        for (size_t i = 0; i < n_peers; i++) {
                Peer *p = hashmap_get(net->peers, peers[i].name);
                if (!p)
                        continue;   /* ourselves */
                bool moved = p->member && !same_address(p->address, addresses[i]);
                if (!same_address(p->address, addresses[i]))
                        peer_set_address(p, TAKE_PTR(addresses[i]));
                if (moved)
                        peer_drop_channels(p, TLS_BYE_SHUTDOWN);
                p->member = true;
                peer_schedule_dial(p, 0);
        }
        for (size_t i = 0; i < n_peers; i++)
                free(addresses[i]);
        net_schedule_work(net);
        return 0;
}

/* ---- sending and status ---- */

int tls_net_send(TlsNet *net, const char *peer, uint8_t type, const void *data, size_t len) {
        assert(net && peer);
        assert(data || len == 0);

        if (type == TLS_FRAME_TYPE_CONTROL)
                return -EINVAL;
        if (len > net->cfg.max_frame_bytes)
                return -EMSGSIZE;
        Peer *p = hashmap_get(net->peers, peer);
        if (!p || !p->member)
                return -ENOENT;
        Channel *c = p->active;
        if (!c || c->doomed || c->state != CHANNEL_UP)
                return -ENOTCONN;
        size_t queued = channel_queued_bytes(c);
        if (queued > 0 && queued + TLS_FRAME_HEADER_BYTES + len > net->cfg.max_queue_bytes) {
                p->blocked = true;
                return -ENOBUFS;
        }
        int r = channel_queue(c, type, data, len);
        if (r < 0)
                return r;
        p->status.frames_sent++;
        p->status.bytes_sent += len;
        return 0;
}

int tls_net_send_raw_for_testing(TlsNet *net, const char *peer, const void *data, size_t len) {
        Peer *p = hashmap_get(net->peers, peer);
        if (!p || !p->active)
                return -ENOTCONN;
        return channel_queue_raw(p->active, data, len);
}

int tls_net_get_peer_status(TlsNet *net, const char *peer, TlsPeerStatus *ret) {
        assert(net && peer && ret);
        Peer *p = hashmap_get(net->peers, peer);
        if (!p || !p->member)
                return -ENOENT;
        *ret = p->status;
        ret->connected = p->active && !p->active->doomed;
        ret->queued_bytes = p->active ? channel_queued_bytes(p->active) : 0;
        return 0;
}

void tls_net_get_stats(TlsNet *net, TlsNetStats *ret) {
        assert(net && ret);
        *ret = net->stats;
}
