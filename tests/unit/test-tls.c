#include "config.h"
/* test-tls.c — TlsNet over real loopback sockets.
 *
 * Every node has its own sd_event loop; the test drives all of them
 * round-robin (a node whose loop is not driven behaves like a stalled
 * process). Certificates come from tls/cert.h in a fresh temporary directory
 * (test-tls-util.h). Covered: frames both ways, simultaneous connects that
 * must settle on one channel without flapping, every refusal case of the
 * issue (no certificate, foreign CA, expired, non-member, TLS 1.2,
 * plaintext) plus wrong names, handshake timeout and the pending limit;
 * garbage and oversized frames closing only their channel; reconnect after
 * a peer restart; back-pressure; membership changes. */

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "lib/codec.h"
#include "tls/frame.h"
#include "tls/tls-testing.h"
#include "tls/tls.h"
#include "test-tls-util.h"

#define MAX_IDX 10

typedef struct Node {
        char name[16];
        sd_event *event;
        TlsContext *ctx;
        TlsNet *net;
        int port;
        bool paused;              /* loop not driven */

        unsigned ups[MAX_IDX], downs[MAX_IDX];
        int last_down_error[MAX_IDX];
        unsigned refused[_TLS_REFUSE_MAX];
        unsigned n_refused;
        char refused_detail[256];
        unsigned frames[MAX_IDX];
        uint64_t frame_bytes[MAX_IDX];
        uint32_t next_seq[MAX_IDX];
        bool order_ok;
        unsigned drains;
} Node;

static Node *running[16];
static const char *ca_override;   /* CA file for the next node_start_full, if set */

static unsigned idx(const char *name) {
        unsigned i = (unsigned) (name[1] - '0');
        ck_assert_uint_lt(i, MAX_IDX);
        return i;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* ---- callbacks ---- */

static void on_frame(TlsNet *net, const char *peer, uint8_t type, const void *data, size_t len, void *u) {
        Node *n = u;
        unsigned i = idx(peer);
        n->frames[i]++;
        n->frame_bytes[i] += len;
        if (type == 7 && len >= 4) {
                uint32_t seq = le32_load(data);
                if (seq != n->next_seq[i])
                        n->order_ok = false;
                n->next_seq[i] = seq + 1;
                for (size_t k = 4; k < len; k++)
                        if (((const uint8_t *) data)[k] != (uint8_t) (seq + k))
                                n->order_ok = false;
        }
}

static void on_peer_up(TlsNet *net, const char *peer, void *u) {
        Node *n = u;
        n->ups[idx(peer)]++;
}

static void on_peer_down(TlsNet *net, const char *peer, int error, const char *detail, void *u) {
        Node *n = u;
        n->downs[idx(peer)]++;
        n->last_down_error[idx(peer)] = error;
        fprintf(stderr, "%s: peer %s down: %s (%s)\n", n->name, peer, detail, strerror(-error));
}

static void on_refused(TlsNet *net, const char *address, const char *peer, TlsRefuseReason reason, const char *detail,
                       void *u) {
        Node *n = u;
        n->refused[reason]++;
        n->n_refused++;
        snprintf(n->refused_detail, sizeof n->refused_detail, "%s", detail);
        fprintf(stderr, "%s: refused %s (%s): %s: %s\n", n->name, address, peer ? peer : "?",
                tls_refuse_reason_to_string(reason), detail);
}

static void on_drain(TlsNet *net, const char *peer, void *u) {
        Node *n = u;
        n->drains++;
}

static const TlsNetCallbacks callbacks = {
        .on_frame = on_frame,
        .on_peer_up = on_peer_up,
        .on_peer_down = on_peer_down,
        .on_refused = on_refused,
        .on_drain = on_drain,
};

/* ---- nodes and the loop ---- */

static void node_register(Node *n) {
        for (size_t i = 0; i < 16; i++)
                if (!running[i]) {
                        running[i] = n;
                        return;
                }
        ck_abort_msg("too many nodes");
}

static void node_unregister(Node *n) {
        for (size_t i = 0; i < 16; i++)
                if (running[i] == n)
                        running[i] = NULL;
}

/* Starts node `name`. cert: base name of the certificate files (NULL: name);
 * flags: TlsTestingFlags (0: a correct node); plaintext: no TLS at all;
 * port: 0 for any. */
static void node_start_full(Node *n, const char *name, const char *cert, unsigned flags, bool plaintext,
                            const TlsNetConfig *cfg, int port) {
        char crt[300], key[300], addr[64];
        char *err = NULL;

        memset(n, 0, sizeof *n);
        snprintf(n->name, sizeof n->name, "%s", name);
        n->order_ok = true;
        ck_assert_int_ge(sd_event_new(&n->event), 0);
        if (!cert)
                cert = name;
        snprintf(crt, sizeof crt, "%s/%s.crt", pki_dir, cert);
        snprintf(key, sizeof key, "%s/%s.key", pki_dir, cert);
        if (plaintext)
                ck_assert_int_eq(tls_net_new_insecure_plaintext(n->event, name, &callbacks, cfg, n, &n->net), 0);
        else {
                const char *ca = ca_override ? ca_override : pki("ca.crt");
                n->ctx = flags ? tls_context_new_for_testing(ca, crt, key, flags, &err) : tls_context_new(ca, crt, key, &err);
                ck_assert_msg(n->ctx, "context for %s: %s", name, err ? err : "?");
                ck_assert_int_eq(tls_net_new(n->event, n->ctx, name, &callbacks, cfg, n, &n->net), 0);
        }
        snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
        ck_assert_int_eq(tls_net_listen(n->net, addr), 0);
        n->port = tls_net_get_local_port(n->net);
        ck_assert_int_gt(n->port, 0);
        node_register(n);
}

static void node_start(Node *n, const char *name) {
        node_start_full(n, name, NULL, 0, false, NULL, 0);
}

static void node_stop(Node *n) {
        node_unregister(n);
        n->net = tls_net_free(n->net);
        n->ctx = tls_context_unref(n->ctx);
        n->event = sd_event_unref(n->event);
}

/* Peers: members given as Node* (dialed) or, with a NULL node, accept-only names. */
typedef struct Member {
        const char *name;
        Node *node;
} Member;

static void node_set_members(Node *n, const Member *m, size_t count) {
        TlsPeerInfo info[8];
        char addr[8][64];
        for (size_t i = 0; i < count; i++) {
                info[i].name = m[i].name;
                info[i].address = NULL;
                if (m[i].node) {
                        snprintf(addr[i], sizeof addr[i], "127.0.0.1:%d", m[i].node->port);
                        info[i].address = addr[i];
                }
        }
        ck_assert_int_eq(tls_net_set_peers(n->net, info, count), 0);
}

static void step(void) {
        struct pollfd pfd[16];
        size_t n = 0;
        bool any = false;

        for (size_t i = 0; i < 16; i++) {
                Node *node = running[i];
                if (!node || node->paused)
                        continue;
                int r = sd_event_run(node->event, 0);
                ck_assert_int_ge(r, 0);
                any = any || r > 0;
                pfd[n++] = (struct pollfd) { .fd = sd_event_get_fd(node->event), .events = POLLIN };
        }
        if (!any)
                (void) poll(pfd, n, 2);
}

#define RUN_UNTIL(cond, ms)                                                        \
        do {                                                                       \
                uint64_t _deadline = now_ms() + (ms);                              \
                while (!(cond) && now_ms() < _deadline)                            \
                        step();                                                    \
                ck_assert_msg((cond), "timed out waiting for: %s", #cond);         \
        } while (0)

static void run_for(uint64_t ms) {
        uint64_t deadline = now_ms() + ms;
        while (now_ms() < deadline)
                step();
}

static bool connected(Node *n, const char *peer) {
        TlsPeerStatus st;
        return tls_net_get_peer_status(n->net, peer, &st) == 0 && st.connected;
}

static int send_seq(Node *from, const char *to, uint32_t seq, size_t len) {
        uint8_t *p = malloc(len);
        ck_assert_ptr_nonnull(p);
        le32_store(p, seq);
        for (size_t k = 4; k < len; k++)
                p[k] = (uint8_t) (seq + k);
        int r = tls_net_send(from->net, to, 7, p, len);
        free(p);
        return r;
}

static void setup(void) {
        pki_setup();
}

static void teardown(void) {
        for (size_t i = 0; i < 16; i++)
                if (running[i])
                        node_stop(running[i]);
        pki_teardown();
}

/* Full mesh of the given nodes, all dialing each other. */
static void mesh(Node **nodes, size_t count) {
        for (size_t i = 0; i < count; i++) {
                Member m[8];
                for (size_t j = 0; j < count; j++)
                        m[j] = (Member) { nodes[j]->name, nodes[j] };
                node_set_members(nodes[i], m, count);
        }
}

/* ---- behaviour ---- */

START_TEST(test_frames_both_ways) {
        static Node a, b;
        node_start(&a, "n1");
        node_start(&b, "n2");
        ck_assert_int_eq(tls_net_send(a.net, "n2", 7, "x", 1), -ENOENT);
        mesh((Node *[]) { &a, &b }, 2);
        ck_assert_int_eq(tls_net_send(a.net, "n2", 7, "x", 1), -ENOTCONN);
        ck_assert_int_eq(tls_net_send(a.net, "n2", 0, "x", 1), -EINVAL);

        RUN_UNTIL(a.ups[2] == 1 && b.ups[1] == 1, 5000);
        /* Both dialed: the duplicate must be resolved without a flap. */
        run_for(300);
        ck_assert_uint_eq(a.ups[2], 1);
        ck_assert_uint_eq(b.ups[1], 1);
        ck_assert_uint_eq(a.downs[2], 0);
        ck_assert_uint_eq(b.downs[1], 0);
        ck_assert(connected(&a, "n2") && connected(&b, "n1"));
        TlsPeerStatus sa, sb;
        ck_assert_int_eq(tls_net_get_peer_status(a.net, "n2", &sa), 0);
        ck_assert_int_eq(tls_net_get_peer_status(b.net, "n1", &sb), 0);
        fprintf(stderr, "channels up: n1 %llu, n2 %llu (2 each when both dials met)\n",
                (unsigned long long) sa.connects, (unsigned long long) sb.connects);

        for (uint32_t i = 0; i < 200; i++) {
                ck_assert_int_eq(send_seq(&a, "n2", i, 100 + i), 0);
                ck_assert_int_eq(send_seq(&b, "n1", i, 5000 + 37 * i), 0);
        }
        ck_assert_int_eq(tls_net_send(a.net, "n2", 9, NULL, 0), 0);   /* empty frame */
        RUN_UNTIL(b.frames[1] == 201 && a.frames[2] == 200, 5000);
        ck_assert(a.order_ok && b.order_ok);

        TlsPeerStatus st;
        ck_assert_int_eq(tls_net_get_peer_status(a.net, "n2", &st), 0);
        ck_assert_uint_eq(st.frames_sent, 201);
        ck_assert_uint_eq(st.frames_received, 200);
        ck_assert_int_eq(tls_net_get_peer_status(a.net, "n7", &st), -ENOENT);
        TlsNetStats stats;
        tls_net_get_stats(a.net, &stats);
        ck_assert_uint_eq(stats.refused_total, 0);
}
END_TEST

START_TEST(test_three_nodes) {
        static Node a, b, c;
        node_start(&a, "n1");
        node_start(&b, "n2");
        node_start(&c, "n3");
        mesh((Node *[]) { &a, &b, &c }, 3);
        RUN_UNTIL(a.ups[2] && a.ups[3] && b.ups[1] && b.ups[3] && c.ups[1] && c.ups[2], 5000);
        Node *all[] = { &a, &b, &c };
        for (int k = 0; k < 50; k++)
                for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 3; j++)
                                if (i != j)
                                        ck_assert_int_eq(send_seq(all[i], all[j]->name, (uint32_t) k, 64), 0);
        RUN_UNTIL(a.frames[2] == 50 && a.frames[3] == 50 && b.frames[1] == 50 && b.frames[3] == 50 &&
                          c.frames[1] == 50 && c.frames[2] == 50,
                  5000);
        run_for(200);
        for (int i = 0; i < 3; i++) {
                ck_assert(all[i]->order_ok);
                for (int j = 1; j <= 3; j++)
                        ck_assert_uint_eq(all[i]->downs[j], 0);
        }
}
END_TEST

/* ---- refusals ---- */

/* A server n1 that accepts member n2 (and n3) without dialing them; the
 * client `c` dials it. Waits for the server to refuse with `expected`. */
static void expect_server_refusal(Node *server, Node *client, TlsRefuseReason expected) {
        node_set_members(server, (Member[]) { { "n2", NULL }, { "n3", NULL } }, 2);
        node_set_members(client, (Member[]) { { "n1", server } }, 1);
        RUN_UNTIL(server->refused[expected] > 0, 5000);
        run_for(100);
        ck_assert_uint_eq(server->ups[2] + server->ups[3] + server->ups[9], 0);
        ck_assert_uint_eq(client->ups[1], 0);
        TlsNetStats st;
        tls_net_get_stats(server->net, &st);
        ck_assert_uint_ge(st.refused[expected], 1);
}

START_TEST(test_refuse_no_certificate) {
        static Node s, c;
        node_start(&s, "n1");
        node_start_full(&c, "n2", NULL, TLS_TESTING_NO_CERT, false, NULL, 0);
        expect_server_refusal(&s, &c, TLS_REFUSE_NO_CERT);
}
END_TEST

START_TEST(test_refuse_other_ca) {
        static Node s, c;
        node_start(&s, "n1");
        node_start_full(&c, "n2", "other/n2", TLS_TESTING_SKIP_SELF_CHECK, false, NULL, 0);
        expect_server_refusal(&s, &c, TLS_REFUSE_UNTRUSTED);
}
END_TEST

START_TEST(test_refuse_expired) {
        static Node s, c;
        node_start(&s, "n1");
        node_start_full(&c, "n2", "n2-expired", TLS_TESTING_SKIP_SELF_CHECK, false, NULL, 0);
        expect_server_refusal(&s, &c, TLS_REFUSE_EXPIRED);
        /* The client learns that it was rejected (TLS alert). */
        RUN_UNTIL(c.refused[TLS_REFUSE_PEER_ALERT] > 0, 3000);
}
END_TEST

START_TEST(test_refuse_not_member) {
        static Node s, c;
        node_start(&s, "n1");
        node_start(&c, "n9");
        expect_server_refusal(&s, &c, TLS_REFUSE_NOT_MEMBER);
        ck_assert_ptr_nonnull(strstr(s.refused_detail, "n9"));
        RUN_UNTIL(c.refused[TLS_REFUSE_PEER_ALERT] > 0, 3000);
        ck_assert_ptr_nonnull(strstr(c.refused_detail, "member"));
}
END_TEST

START_TEST(test_refuse_tls12) {
        static Node s, c;
        node_start(&s, "n1");
        node_start_full(&c, "n2", NULL, TLS_TESTING_TLS12, false, NULL, 0);
        expect_server_refusal(&s, &c, TLS_REFUSE_PROTOCOL);
}
END_TEST

START_TEST(test_refuse_plaintext_peer) {
        static Node s, c;
        node_start(&s, "n1");
        node_start_full(&c, "n2", NULL, 0, true, NULL, 0);
        expect_server_refusal(&s, &c, TLS_REFUSE_PROTOCOL);
}
END_TEST

static int raw_connect(int port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        return fd;
}

START_TEST(test_refuse_plaintext_http) {
        static Node s;
        node_start(&s, "n1");
        int fd = raw_connect(s.port);
        const char req[] = "GET / HTTP/1.0\r\n\r\n";
        ck_assert_int_eq(write(fd, req, sizeof req - 1), (ssize_t) sizeof req - 1);
        RUN_UNTIL(s.refused[TLS_REFUSE_PROTOCOL] > 0, 3000);
        close(fd);
}
END_TEST

START_TEST(test_refuse_wrong_name) {
        /* A valid certificate for n3 used to claim to be n2. */
        static Node s, c;
        node_start(&s, "n1");
        node_start_full(&c, "n2", "n3", TLS_TESTING_SKIP_SELF_CHECK, false, NULL, 0);
        expect_server_refusal(&s, &c, TLS_REFUSE_WRONG_NAME);
}
END_TEST

START_TEST(test_refuse_dialed_wrong_node) {
        /* n1 believes n2 lives where n3 listens: n1 refuses n3's certificate. */
        static Node a, c;
        node_start(&a, "n1");
        node_start(&c, "n3");
        node_set_members(&c, (Member[]) { { "n1", NULL } }, 1);
        node_set_members(&a, (Member[]) { { "n2", &c } }, 1);
        RUN_UNTIL(a.refused[TLS_REFUSE_WRONG_NAME] > 0, 5000);
        ck_assert_uint_eq(a.ups[2] + a.ups[3] + c.ups[1], 0);
}
END_TEST

START_TEST(test_refuse_server_expired) {
        /* The node we dial presents an expired certificate. */
        static Node a, s;
        node_start(&a, "n1");
        node_start_full(&s, "n2", "n2-expired", TLS_TESTING_SKIP_SELF_CHECK, false, NULL, 0);
        node_set_members(&s, (Member[]) { { "n1", NULL } }, 1);
        node_set_members(&a, (Member[]) { { "n2", &s } }, 1);
        RUN_UNTIL(a.refused[TLS_REFUSE_EXPIRED] > 0, 5000);
        ck_assert_uint_eq(a.ups[2] + s.ups[1], 0);
}
END_TEST

START_TEST(test_refuse_handshake_timeout) {
        TlsNetConfig cfg = { .handshake_timeout_usec = 200 * 1000 };
        static Node s;
        node_start_full(&s, "n1", NULL, 0, false, &cfg, 0);
        int fd = raw_connect(s.port);   /* says nothing */
        RUN_UNTIL(s.refused[TLS_REFUSE_TIMEOUT] > 0, 3000);
        close(fd);
}
END_TEST

START_TEST(test_refuse_pending_limit) {
        TlsNetConfig cfg = { .max_pending = 2 };
        static Node s;
        node_start_full(&s, "n1", NULL, 0, false, &cfg, 0);
        int fds[3];
        for (int i = 0; i < 3; i++)
                fds[i] = raw_connect(s.port);
        RUN_UNTIL(s.refused[TLS_REFUSE_LIMIT] == 1, 3000);
        for (int i = 0; i < 3; i++)
                close(fds[i]);
}
END_TEST

/* ---- bad frames ---- */

static void three_up(Node *a, Node *b, Node *c) {
        mesh((Node *[]) { a, b, c }, 3);
        RUN_UNTIL(a->ups[2] && a->ups[3] && b->ups[1] && b->ups[3] && c->ups[1] && c->ups[2], 5000);
        run_for(100);
}

static void check_others_unharmed(Node *a, Node *c) {
        ck_assert_uint_eq(a->downs[3], 0);
        ck_assert_uint_eq(c->downs[1], 0);
        unsigned before = c->frames[1];
        ck_assert_int_eq(send_seq(a, "n3", c->next_seq[1], 200), 0);
        RUN_UNTIL(c->frames[1] == before + 1, 3000);
        ck_assert(c->order_ok);
}

START_TEST(test_garbage_frame) {
        static Node a, b, c;
        node_start(&a, "n1");
        node_start(&b, "n2");
        node_start(&c, "n3");
        three_up(&a, &b, &c);

        /* A control frame of an unknown kind, from an authenticated peer. */
        const uint8_t garbage[] = { 1, 0, 0, 0, 0, 0x77 };
        ck_assert_int_eq(tls_net_send_raw_for_testing(b.net, "n1", garbage, sizeof garbage), 0);
        RUN_UNTIL(a.downs[2] == 1, 3000);
        ck_assert_int_eq(a.last_down_error[2], -EBADMSG);
        check_others_unharmed(&a, &c);
        TlsNetStats st;
        tls_net_get_stats(a.net, &st);
        ck_assert_uint_eq(st.protocol_errors, 1);
        /* And the pair recovers. */
        RUN_UNTIL(a.ups[2] == 2 && connected(&a, "n2") && connected(&b, "n1"), 5000);
}
END_TEST

START_TEST(test_oversized_frame) {
        TlsNetConfig small = { .max_frame_bytes = 64 * 1024 };
        TlsNetConfig big = { .max_frame_bytes = 1024 * 1024 };
        static Node a, b, c;
        node_start_full(&a, "n1", NULL, 0, false, &small, 0);
        node_start_full(&b, "n2", NULL, 0, false, &big, 0);
        node_start(&c, "n3");
        three_up(&a, &b, &c);

        ck_assert_int_eq(send_seq(&a, "n2", 0, 64 * 1024 + 1), -EMSGSIZE);
        ck_assert_int_eq(send_seq(&b, "n1", 0, 64 * 1024), 0);      /* at the limit: fine */
        ck_assert_int_eq(send_seq(&b, "n1", 1, 100 * 1024), 0);     /* over it */
        RUN_UNTIL(a.downs[2] == 1, 3000);
        ck_assert_uint_eq(a.frames[2], 1);
        ck_assert_int_eq(a.last_down_error[2], -EMSGSIZE);
        check_others_unharmed(&a, &c);
}
END_TEST

START_TEST(test_garbage_length) {
        /* Random bytes whose "length" is huge: refused before buffering. */
        static Node a, b, c;
        node_start(&a, "n1");
        node_start(&b, "n2");
        node_start(&c, "n3");
        three_up(&a, &b, &c);
        const uint8_t junk[] = { 0xff, 0xff, 0xff, 0x7f, 0x01, 'j', 'u', 'n', 'k' };
        ck_assert_int_eq(tls_net_send_raw_for_testing(b.net, "n1", junk, sizeof junk), 0);
        RUN_UNTIL(a.downs[2] == 1, 3000);
        ck_assert_int_eq(a.last_down_error[2], -EMSGSIZE);
        check_others_unharmed(&a, &c);
}
END_TEST

/* ---- restarts, back-pressure, membership ---- */

START_TEST(test_reconnect_after_restart) {
        static Node a, b;
        node_start(&a, "n1");
        node_start(&b, "n2");
        mesh((Node *[]) { &a, &b }, 2);
        RUN_UNTIL(a.ups[2] == 1 && b.ups[1] == 1, 5000);
        run_for(100);

        /* The process dies: its kernel closes the sockets. */
        int port = b.port;
        uint64_t t0 = now_ms();
        node_stop(&b);
        RUN_UNTIL(a.downs[2] == 1, 2000);
        uint64_t detect = now_ms() - t0;
        fprintf(stderr, "peer death noticed after %llu ms\n", (unsigned long long) detect);
        ck_assert_uint_lt(detect, 500);
        ck_assert(!connected(&a, "n2"));

        /* Let n1 fail a few dials (backoff), then the peer comes back. */
        run_for(400);
        t0 = now_ms();
        node_start_full(&b, "n2", NULL, 0, false, NULL, port);
        mesh((Node *[]) { &a, &b }, 2);
        RUN_UNTIL(a.ups[2] == 2 && b.ups[1] == 1 && connected(&a, "n2"), 5000);
        fprintf(stderr, "reconnected after %llu ms\n", (unsigned long long) (now_ms() - t0));
        ck_assert_int_eq(send_seq(&a, "n2", 0, 1000), 0);
        ck_assert_int_eq(send_seq(&b, "n1", 0, 1000), 0);
        RUN_UNTIL(b.frames[1] == 1 && a.frames[2] == 1, 3000);
}
END_TEST

START_TEST(test_restart_race) {
        /* n2 restarts while n1 is stalled: n1 sees the old channel die and
         * the new incarnation connect in the same breath. */
        static Node a, b;
        node_start(&a, "n1");
        node_start(&b, "n2");
        mesh((Node *[]) { &a, &b }, 2);
        RUN_UNTIL(a.ups[2] == 1 && b.ups[1] == 1, 5000);
        run_for(100);

        int port = b.port;
        a.paused = true;
        node_stop(&b);
        node_start_full(&b, "n2", NULL, 0, false, NULL, port);
        mesh((Node *[]) { &a, &b }, 2);
        run_for(50);
        a.paused = false;
        RUN_UNTIL(a.ups[2] == 2 && a.downs[2] == 1 && connected(&a, "n2") && connected(&b, "n1"), 5000);
        run_for(300);
        ck_assert_uint_eq(a.ups[2], 2);
        ck_assert_uint_eq(a.downs[2], 1);
        ck_assert_uint_eq(b.downs[1], 0);
        ck_assert_int_eq(send_seq(&a, "n2", 0, 10), 0);
        RUN_UNTIL(b.frames[1] == 1, 3000);
}
END_TEST

START_TEST(test_back_pressure) {
        TlsNetConfig cfg = { .max_frame_bytes = 256 * 1024, .max_queue_bytes = 1024 * 1024 };
        static Node a, b;
        node_start_full(&a, "n1", NULL, 0, false, &cfg, 0);
        node_start(&b, "n2");
        mesh((Node *[]) { &a, &b }, 2);
        RUN_UNTIL(a.ups[2] == 1 && b.ups[1] == 1, 5000);
        run_for(100);

        b.paused = true;   /* the receiver stops reading */
        uint32_t sent = 0;
        int r = 0;
        for (int i = 0; i < 100000 && r == 0; i++) {
                r = send_seq(&a, "n2", sent, 64 * 1024);
                if (r == 0)
                        sent++;
                if (i % 16 == 0)
                        step();
        }
        ck_assert_int_eq(r, -ENOBUFS);
        TlsPeerStatus st;
        ck_assert_int_eq(tls_net_get_peer_status(a.net, "n2", &st), 0);
        ck_assert_uint_le(st.queued_bytes, cfg.max_queue_bytes);
        ck_assert_uint_gt(st.queued_bytes, cfg.max_queue_bytes / 2);
        fprintf(stderr, "back-pressure after %u frames, %zu bytes queued\n", sent, st.queued_bytes);

        b.paused = false;
        RUN_UNTIL(a.drains == 1, 5000);
        ck_assert_int_eq(send_seq(&a, "n2", sent++, 64 * 1024), 0);
        RUN_UNTIL(b.frames[1] == sent, 10000);
        ck_assert(b.order_ok);
        ck_assert_uint_eq(b.downs[1], 0);
}
END_TEST

START_TEST(test_reload_trusts_new_ca) {
        /* CA rollover: n2 already has a certificate from the new CA; n1
         * refuses it until n1's CA file holds both CAs and is reloaded.
         * The reload affects new connections without a restart. */
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "cat '%s' '%s' > '%s' && cp '%s' '%s'", pki("ca.crt"), pki("other/ca.crt"),
                 pki("bundle.crt"), pki("ca.crt"), pki("live-ca.crt"));
        ck_assert_int_eq(system(cmd), 0);

        static Node a, b;
        ca_override = pki("live-ca.crt");
        node_start(&a, "n1");
        ca_override = pki("bundle.crt");
        node_start_full(&b, "n2", "other/n2", 0, false, NULL, 0);
        ca_override = NULL;
        node_set_members(&a, (Member[]) { { "n2", NULL } }, 1);
        node_set_members(&b, (Member[]) { { "n1", &a } }, 1);
        RUN_UNTIL(a.refused[TLS_REFUSE_UNTRUSTED] > 0, 5000);
        ck_assert_uint_eq(a.ups[2], 0);

        char *err = NULL;
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", pki("bundle.crt"), pki("live-ca.crt"));
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_msg(tls_context_reload(a.ctx, &err) == 0, "%s", err);
        RUN_UNTIL(a.ups[2] == 1 && b.ups[1] == 1, 10000);
}
END_TEST

START_TEST(test_member_removed) {
        static Node a, b;
        node_start(&a, "n1");
        node_start(&b, "n2");
        mesh((Node *[]) { &a, &b }, 2);
        RUN_UNTIL(a.ups[2] == 1 && b.ups[1] == 1, 5000);

        node_set_members(&a, (Member[]) { { "n1", &a } }, 1);   /* only itself */
        RUN_UNTIL(a.downs[2] == 1 && b.downs[1] == 1, 3000);
        ck_assert_int_eq(a.last_down_error[2], -ECANCELED);
        ck_assert_int_eq(tls_net_send(a.net, "n2", 7, "x", 1), -ENOENT);
        /* n2 still dials n1, which now refuses it. */
        RUN_UNTIL(a.refused[TLS_REFUSE_NOT_MEMBER] > 0 && b.refused[TLS_REFUSE_PEER_ALERT] > 0, 5000);

        /* Back in the list: connected again. */
        mesh((Node *[]) { &a, &b }, 2);
        RUN_UNTIL(a.ups[2] == 2 && b.ups[1] == 2, 5000);
}
END_TEST

START_TEST(test_set_peers_validation) {
        static Node a;
        node_start(&a, "n1");
        TlsPeerInfo bad_name[] = { { "-x", "127.0.0.1:1" } };
        TlsPeerInfo bad_addr[] = { { "n2", "localhost:1" } };
        TlsPeerInfo dup[] = { { "n2", "127.0.0.1:1" }, { "n2", "127.0.0.1:2" } };
        ck_assert_int_eq(tls_net_set_peers(a.net, bad_name, 1), -EINVAL);
        ck_assert_int_eq(tls_net_set_peers(a.net, bad_addr, 1), -EINVAL);
        ck_assert_int_eq(tls_net_set_peers(a.net, dup, 2), -EINVAL);
        TlsPeerStatus st;
        ck_assert_int_eq(tls_net_get_peer_status(a.net, "n2", &st), -ENOENT);

        struct sockaddr_storage sa;
        socklen_t len;
        ck_assert_int_eq(tls_address_parse("[::1]:7001", &sa, &len), 0);
        ck_assert_int_eq(sa.ss_family, AF_INET6);
        ck_assert_int_eq(tls_address_parse("127.0.0.1:65536", &sa, &len), -EINVAL);
        ck_assert_int_eq(tls_address_parse("127.0.0.1", &sa, &len), -EINVAL);
        ck_assert_int_eq(tls_address_parse("[::1]", &sa, &len), -EINVAL);
        ck_assert_int_eq(tls_net_listen(a.net, "127.0.0.1:0"), -EALREADY);

        /* tls_net_new refuses a name our certificate does not carry. */
        TlsNet *net = NULL;
        ck_assert_int_eq(tls_net_new(a.event, a.ctx, "n2", &callbacks, NULL, NULL, &net), -EINVAL);
}
END_TEST

/* ---- frame codec (pure) ---- */

START_TEST(test_frame_codec) {
        Buf b = BUF_INIT;
        TlsFrame f;
        ck_assert_int_eq(tls_frame_append(&b, 5, "hello", 5), 0);
        ck_assert_int_eq(tls_control_append_hello(&b, 42, "n1"), 0);
        ck_assert_int_eq(tls_control_append_ready(&b), 0);
        ck_assert_int_eq(tls_control_append_bye(&b, TLS_BYE_SUPERSEDED), 0);

        for (size_t k = 0; k < 10; k++)
                ck_assert_int_eq(tls_frame_decode(b.data, k, 100, &f), 0);
        ck_assert_int_eq(tls_frame_decode(b.data, b.len, 4, &f), -EMSGSIZE);
        ssize_t n = tls_frame_decode(b.data, b.len, 100, &f);
        ck_assert_int_eq(n, 10);
        ck_assert_uint_eq(f.type, 5);
        ck_assert_int_eq(memcmp(f.payload, "hello", 5), 0);

        TlsControl m;
        size_t off = (size_t) n;
        n = tls_frame_decode(b.data + off, b.len - off, 100, &f);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(tls_control_decode(f.payload, f.len, &m), 0);
        ck_assert_int_eq(m.kind, TLS_CONTROL_HELLO);
        ck_assert_uint_eq(m.incarnation, 42);
        ck_assert_str_eq(m.name, "n1");
        /* Truncations and trailing bytes of a HELLO are malformed. */
        for (size_t k = 0; k < f.len; k++)
                ck_assert_int_eq(tls_control_decode(f.payload, k, &m), -EBADMSG);
        off += (size_t) n;
        n = tls_frame_decode(b.data + off, b.len - off, 100, &f);
        ck_assert_int_eq(tls_control_decode(f.payload, f.len, &m), 0);
        ck_assert_int_eq(m.kind, TLS_CONTROL_READY);
        off += (size_t) n;
        n = tls_frame_decode(b.data + off, b.len - off, 100, &f);
        ck_assert_int_eq(tls_control_decode(f.payload, f.len, &m), 0);
        ck_assert_int_eq(m.kind, TLS_CONTROL_BYE);
        ck_assert_uint_eq(m.bye_reason, TLS_BYE_SUPERSEDED);
        ck_assert_uint_eq(off + (size_t) n, b.len);

        const uint8_t bad_kind[] = { 9 }, bad_name[] = { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, '.', 'x' };
        ck_assert_int_eq(tls_control_decode(bad_kind, 1, &m), -EBADMSG);
        ck_assert_int_eq(tls_control_decode(bad_name, sizeof bad_name, &m), -EBADMSG);
        buf_done(&b);

        ck_assert(tls_name_is_valid("n1"));
        ck_assert(tls_name_is_valid("db-3.example_x"));
        ck_assert(!tls_name_is_valid(""));
        ck_assert(!tls_name_is_valid(".n1"));
        ck_assert(!tls_name_is_valid("n1/x"));
        ck_assert(!tls_name_is_valid("a234567890123456789012345678901234567890123456789012345678901234"));
}
END_TEST

static Suite *tls_suite(void) {
        Suite *s = suite_create("tls");
        struct {
                const char *name;
                const TTest *test;
                int timeout;
        } cases[] = {
                { "frame_codec", test_frame_codec, 10 },
                { "frames_both_ways", test_frames_both_ways, 30 },
                { "three_nodes", test_three_nodes, 30 },
                { "refuse_no_certificate", test_refuse_no_certificate, 30 },
                { "refuse_other_ca", test_refuse_other_ca, 30 },
                { "refuse_expired", test_refuse_expired, 30 },
                { "refuse_not_member", test_refuse_not_member, 30 },
                { "refuse_tls12", test_refuse_tls12, 30 },
                { "refuse_plaintext_peer", test_refuse_plaintext_peer, 30 },
                { "refuse_plaintext_http", test_refuse_plaintext_http, 30 },
                { "refuse_wrong_name", test_refuse_wrong_name, 30 },
                { "refuse_dialed_wrong_node", test_refuse_dialed_wrong_node, 30 },
                { "refuse_server_expired", test_refuse_server_expired, 30 },
                { "refuse_handshake_timeout", test_refuse_handshake_timeout, 30 },
                { "refuse_pending_limit", test_refuse_pending_limit, 30 },
                { "garbage_frame", test_garbage_frame, 30 },
                { "garbage_length", test_garbage_length, 30 },
                { "oversized_frame", test_oversized_frame, 30 },
                { "reconnect_after_restart", test_reconnect_after_restart, 30 },
                { "restart_race", test_restart_race, 30 },
                { "back_pressure", test_back_pressure, 60 },
                { "member_removed", test_member_removed, 30 },
                { "reload_trusts_new_ca", test_reload_trusts_new_ca, 30 },
                { "set_peers_validation", test_set_peers_validation, 30 },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                TCase *tc = tcase_create(cases[i].name);
                tcase_add_checked_fixture(tc, setup, teardown);
                tcase_add_test(tc, cases[i].test);
                tcase_set_timeout(tc, cases[i].timeout);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(tls_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
