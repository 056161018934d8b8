#include "config.h"
/* test-control.c — unit tests for the control socket: the protocol codec
 * (daemon/control-proto.c), the server (daemon/control.c) driven by a Node
 * in its current form, and raftfsctl's client (ctl/client.c).
 *
 * Server tests fork a child that runs the daemon side (event loop, Node,
 * ControlServer) on a socket in a fresh temporary directory; the test
 * process is the client. */

#include <check.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl/client.h"
#include "daemon/conf.h"
#include "daemon/control-proto.h"
#include "daemon/control.h"
#include "daemon/metrics.h"
#include "daemon/node.h"
#include "lib/macro.h"

/* ---- codec ------------------------------------------------------------- */

/* Parses the single frame in b and checks its header. */
static CtlFrame frame_of(const Buf *b, uint8_t type, uint32_t id) {
        CtlFrame f;
        int k = ctl_frame_parse(b->data, b->len, &f);

        ck_assert_int_eq(k, (int) b->len);
        ck_assert_uint_eq(f.type, type);
        ck_assert_uint_eq(f.id, id);
        return f;
}

START_TEST(test_roundtrip_status) {
        CtlStatus in = {
                .node = (char *) "n1", .version = (char *) "0.1.0", .role = CTL_ROLE_LEADER, .term = 7,
                .leader = (char *) "n1", .commit = 100, .applied = 99, .last_index = 101, .voters = 3,
                .learners = 1, .quorum = true, .ready = true,
                .session = { CTL_SESSION_OK, 42, 8000 }, .session_ttl_ms = 10000, .uptime_ms = 5,
                .mountpoint = (char *) "/mnt/raftfs",
        }, out;
        Buf b = BUF_INIT;
        CtlFrame f;

        ck_assert_int_eq(ctl_put_status(&b, 9, &in), 0);
        f = frame_of(&b, CTL_RESP_STATUS, 9);
        ck_assert_int_eq(ctl_get_status(&f, &out), 0);
        ck_assert_str_eq(out.node, "n1");
        ck_assert_str_eq(out.leader, "n1");
        ck_assert_str_eq(out.mountpoint, "/mnt/raftfs");
        ck_assert_uint_eq(out.role, CTL_ROLE_LEADER);
        ck_assert_uint_eq(out.term, 7);
        ck_assert_uint_eq(out.applied, 99);
        ck_assert_uint_eq(out.learners, 1);
        ck_assert(out.quorum && out.ready);
        ck_assert_uint_eq(out.session.id, 42);
        ck_assert_uint_eq(out.session.valid_ms, 8000);
        ctl_status_done(&out);

        /* every strict prefix of the payload fails, trailing bytes fail */
        for (size_t n = 0; n < f.len; n++) {
                CtlFrame g = f;
                g.len = n;
                ck_assert_int_eq(ctl_get_status(&g, &out), -EBADMSG);
        }
        ck_assert_int_eq(put_u8(&b, 0), 0);
        f.len++;
        ck_assert_int_eq(ctl_get_status(&f, &out), -EBADMSG);
        buf_done(&b);
}
END_TEST

START_TEST(test_roundtrip_members) {
        CtlMember in[2] = {
                { (char *) "n1", (char *) "127.0.0.1:7001", CTL_ROLE_LEADER, CTL_MEMBER_LEADER | CTL_MEMBER_SELF, 10, 0 },
                { (char *) "n2", (char *) "[::1]:7002", CTL_ROLE_LEARNER, 0, 0, UINT64_MAX },
        };
        CtlMember *out = NULL;
        size_t n = 0;
        Buf b = BUF_INIT;
        CtlFrame f;

        ck_assert_int_eq(ctl_put_members(&b, 1, in, 2), 0);
        f = frame_of(&b, CTL_RESP_MEMBERS, 1);
        ck_assert_int_eq(ctl_get_members(&f, &out, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(out[1].address, "[::1]:7002");
        ck_assert_uint_eq(out[1].role, CTL_ROLE_LEARNER);
        ck_assert(out[1].last_contact_ms == UINT64_MAX);
        ck_assert_uint_eq(out[0].flags, CTL_MEMBER_LEADER | CTL_MEMBER_SELF);
        ctl_members_free(out, n);
        for (size_t k = 0; k < f.len; k++) {
                CtlFrame g = f;
                g.len = k;
                ck_assert_int_eq(ctl_get_members(&g, &out, &n), -EBADMSG);
        }
        /* an out-of-range role is refused */
        b.data[CTL_HEADER_SIZE + 4 + 4 + 2 + 4 + 14] = _CTL_ROLE_MAX;
        ck_assert_int_eq(ctl_get_members(&f, &out, &n), -EBADMSG);
        buf_done(&b);
}
END_TEST

START_TEST(test_roundtrip_small) {
        Buf b = BUF_INIT;
        CtlFrame f;
        char *s1 = NULL, *s2 = NULL;
        bool rec = false;
        uint64_t v = 0;
        int err = 0;
        CtlSession sess;
        CtlChange ch;
        CtlSnapshotEnd end;
        const uint8_t *data;
        size_t len;

        ck_assert_int_eq(ctl_put_strings(&b, CTL_REQ_MEMBER_ADD, 2, "n4", "10.0.0.4:7001"), 0);
        f = frame_of(&b, CTL_REQ_MEMBER_ADD, 2);
        ck_assert_int_eq(ctl_get_strings(&f, &s1, &s2), 0);
        ck_assert_str_eq(s1, "n4");
        ck_assert_str_eq(s2, "10.0.0.4:7001");
        free(s1), free(s2);
        buf_clear(&b);

        ck_assert_int_eq(ctl_put_watch(&b, 3, "/a/b", true), 0);
        f = frame_of(&b, CTL_REQ_WATCH, 3);
        ck_assert_int_eq(ctl_get_watch(&f, &s1, &rec), 0);
        ck_assert_str_eq(s1, "/a/b");
        ck_assert(rec);
        free(s1);
        b.data[b.len - 1] = 2;          /* a bool must be 0 or 1 */
        ck_assert_int_eq(ctl_get_watch(&f, &s1, &rec), -EBADMSG);
        buf_clear(&b);

        ck_assert_int_eq(ctl_put_u64(&b, CTL_REQ_PING, 4, 77), 0);
        f = frame_of(&b, CTL_REQ_PING, 4);
        ck_assert_int_eq(ctl_get_u64(&f, &v), 0);
        ck_assert_uint_eq(v, 77);
        buf_clear(&b);

        ck_assert_int_eq(ctl_put_session(&b, CTL_RESP_PONG, 4, 77, &(CtlSession) { CTL_SESSION_JEOPARDY, 5, 0 }), 0);
        f = frame_of(&b, CTL_RESP_PONG, 4);
        ck_assert_int_eq(ctl_get_session(&f, &v, &sess), 0);
        ck_assert_uint_eq(v, 77);
        ck_assert_uint_eq(sess.state, CTL_SESSION_JEOPARDY);
        buf_clear(&b);

        ck_assert_int_eq(ctl_put_error(&b, 5, -EPERM, "nope"), 0);
        f = frame_of(&b, CTL_RESP_ERROR, 5);
        ck_assert_int_eq(ctl_get_error(&f, &err, &s1), 0);
        ck_assert_int_eq(err, -EPERM);
        ck_assert_str_eq(s1, "nope");
        free(s1);
        buf_clear(&b);

        ck_assert_int_eq(ctl_put_change(&b, 6, &(CtlChange) { 12, (char *) "write", (char *) "/x" }), 0);
        f = frame_of(&b, CTL_EVT_CHANGE, 6);
        ck_assert_int_eq(ctl_get_change(&f, &ch), 0);
        ck_assert_uint_eq(ch.index, 12);
        ck_assert_str_eq(ch.kind, "write");
        ck_assert_str_eq(ch.path, "/x");
        ctl_change_done(&ch);
        buf_clear(&b);

        ck_assert_int_eq(ctl_put_data(&b, 7, "abc", 3), 0);
        f = frame_of(&b, CTL_RESP_DATA, 7);
        ck_assert_int_eq(ctl_get_data(&f, &data, &len), 0);
        ck_assert_uint_eq(len, 3);
        ck_assert_int_eq(memcmp(data, "abc", 3), 0);
        buf_clear(&b);

        ck_assert_int_eq(ctl_put_snapshot_end(&b, 8, &(CtlSnapshotEnd) { 9, 2, 3, 0xdeadbeef }), 0);
        f = frame_of(&b, CTL_RESP_SNAPSHOT_END, 8);
        ck_assert_int_eq(ctl_get_snapshot_end(&f, &end), 0);
        ck_assert_uint_eq(end.crc32c, 0xdeadbeef);
        buf_clear(&b);

        ck_assert_int_eq(ctl_put_text(&b, 9, "metric 1\n"), 0);
        f = frame_of(&b, CTL_RESP_TEXT, 9);
        ck_assert_int_eq(ctl_get_string(&f, &s1), 0);
        ck_assert_str_eq(s1, "metric 1\n");
        free(s1);
        buf_done(&b);
}
END_TEST

START_TEST(test_framing) {
        Buf b = BUF_INIT;
        CtlFrame f;
        char big[CTL_STRING_MAX + 2];

        ck_assert_int_eq(ctl_put_empty(&b, CTL_REQ_STATUS, 1), 0);
        ck_assert_uint_eq(b.len, CTL_HEADER_SIZE);
        for (size_t n = 0; n < b.len; n++)
                ck_assert_int_eq(ctl_frame_parse(b.data, n, &f), 0);   /* incomplete */
        ck_assert_int_eq(ctl_frame_parse(b.data, b.len, &f), CTL_HEADER_SIZE);
        ck_assert_int_eq(ctl_get_empty(&f), 0);

        b.data[4] = CTL_PROTO_VERSION + 1;
        ck_assert_int_eq(ctl_frame_parse(b.data, b.len, &f), -EPROTONOSUPPORT);
        ck_assert_uint_eq(f.id, 1);     /* filled so the daemon can answer */
        b.data[4] = CTL_PROTO_VERSION;

        le32_store(b.data, 3);          /* shorter than a header */
        ck_assert_int_eq(ctl_frame_parse(b.data, b.len, &f), -EBADMSG);
        le32_store(b.data, CTL_FRAME_MAX);      /* one past the limit */
        ck_assert_int_eq(ctl_frame_parse(b.data, b.len, &f), -EBADMSG);
        buf_clear(&b);

        /* over-long strings are refused at encoding, and b is unchanged */
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        ck_assert_int_eq(ctl_put_strings(&b, CTL_REQ_MEMBER_REMOVE, 1, big, NULL), -EMSGSIZE);
        ck_assert_uint_eq(b.len, 0);
        /* error messages are cut instead */
        ck_assert_int_eq(ctl_put_error(&b, 1, EIO, big), 0);
        buf_done(&b);

        ck_assert(ctl_type_is_request(CTL_REQ_PING));
        ck_assert(!ctl_type_is_request(CTL_RESP_OK));
        ck_assert(ctl_type_is_privileged(CTL_REQ_MEMBER_ADD));
        ck_assert(ctl_type_is_privileged(CTL_REQ_WATCH));
        ck_assert(!ctl_type_is_privileged(CTL_REQ_STATUS));
        ck_assert(!ctl_type_is_privileged(CTL_REQ_PING));
        ck_assert_str_eq(ctl_role_to_string(200), "unknown");
}
END_TEST

START_TEST(test_helpers) {
        gid_t groups[] = { 10, 20 };
        char *p;

        ck_assert(control_peer_is_privileged(0, 0, NULL, 0, 1000, (gid_t) -1));
        ck_assert(control_peer_is_privileged(1000, 1000, NULL, 0, 1000, (gid_t) -1));
        ck_assert(!control_peer_is_privileged(1001, 1001, groups, 2, 1000, (gid_t) -1));
        ck_assert(control_peer_is_privileged(1001, 1001, groups, 2, 1000, 20));
        ck_assert(control_peer_is_privileged(1001, 30, groups, 2, 1000, 30));
        ck_assert(!control_peer_is_privileged(1001, 1001, groups, 2, 1000, 30));

        p = control_path_normalize("//a///b/");
        ck_assert_str_eq(p, "/a/b");
        free(p);
        p = control_path_normalize("/");
        ck_assert_str_eq(p, "/");
        free(p);
        p = control_path_normalize("/.hidden/x..y");
        ck_assert_str_eq(p, "/.hidden/x..y");
        free(p);
        ck_assert_ptr_null(control_path_normalize("a/b"));
        ck_assert_ptr_null(control_path_normalize("/a/../b"));
        ck_assert_ptr_null(control_path_normalize("/a/./b"));
        ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- metrics (served through the control socket) ------------------------ */

START_TEST(test_metrics_render) {
        Metrics *m = metrics_new();
        Metric *c = metrics_counter(m, "x_total", NULL, "A counter.");
        Metric *g1 = metrics_gauge(m, "role", "role=\"a\"", "Roles.");
        Metric *h = metrics_histogram_usec(m, "lat_seconds", "Latency.");
        Metric *g2 = metrics_gauge(m, "role", "role=\"b\"", "Roles.");
        Buf b = BUF_INIT;
        const char *text;

        metric_inc(c);
        metric_add(c, 41);
        metric_set(g1, 1);
        metric_set(g2, 0.5);
        metric_observe_usec(h, 40);             /* first bucket */
        metric_observe_usec(h, 1000);           /* exactly on a bound: le is inclusive */
        metric_observe_usec(h, 60 * 1000000);   /* beyond the last bound */
        metric_add(NULL, 1);                    /* a failed registration is harmless */
        ck_assert(metric_value(c) == 42);
        ck_assert_uint_eq(metric_count(h), 3);
        ck_assert_int_eq(metrics_render(m, &b), 0);
        ck_assert_int_eq(put_u8(&b, 0), 0);
        text = (const char *) b.data;
        ck_assert_ptr_nonnull(strstr(text, "# HELP x_total A counter.\n# TYPE x_total counter\nx_total 42\n"));
        /* one HELP/TYPE per family, its series together */
        ck_assert_ptr_nonnull(strstr(text, "# TYPE role gauge\nrole{role=\"a\"} 1\nrole{role=\"b\"} 0.5\n"));
        ck_assert_ptr_null(strstr(strstr(text, "# TYPE role") + 1, "# TYPE role"));
        ck_assert_ptr_nonnull(strstr(text, "lat_seconds_bucket{le=\"5e-05\"} 1\n"));
        ck_assert_ptr_nonnull(strstr(text, "lat_seconds_bucket{le=\"0.001\"} 2\n"));
        ck_assert_ptr_nonnull(strstr(text, "lat_seconds_bucket{le=\"30\"} 2\n"));
        ck_assert_ptr_nonnull(strstr(text, "lat_seconds_bucket{le=\"+Inf\"} 3\n"));
        ck_assert_ptr_nonnull(strstr(text, "lat_seconds_sum 60.001040\nlat_seconds_count 3\n"));
        buf_done(&b);
        metrics_free(m);
}
END_TEST

/* ---- server ------------------------------------------------------------ */

static char tmpdir[64], sock_path[128];
static pid_t server_pid;

static void server_child(void) {
        char conf_text[512];
        Conf *conf = NULL;
        sd_event *e = NULL;
        Metrics *m = metrics_new();
        Node *node = NULL;
        ControlServer *srv = NULL;
        sigset_t mask;

        snprintf(conf_text, sizeof(conf_text),
                 "[node]\nname = n1\nlisten = 127.0.0.1:7001\ncontrol_socket = %s\ndata_dir = %s/data\n"
                 "[cluster]\ninitial_members = n1=127.0.0.1:7001\n[fuse]\nmount = no\n", sock_path, tmpdir);
        if (conf_parse("test.conf", conf_text, strlen(conf_text), &conf, NULL) < 0)
                _exit(10);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if (sd_event_new(&e) < 0 || sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL) < 0)
                _exit(11);
        if (node_new(e, conf, m, &node) < 0 || control_server_new(e, node, m, sock_path, &srv) < 0)
                _exit(12);
        if (node_start(node) < 0)
                _exit(13);
        (void) sd_event_loop(e);
        control_server_free(srv);
        node_free(node);
        metrics_free(m);
        sd_event_unref(e);
        conf_free(conf);
        _exit(0);
}

static void server_start(void) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-control-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        snprintf(sock_path, sizeof(sock_path), "%s/run/control.sock", tmpdir);
        server_pid = fork();
        ck_assert_int_ge(server_pid, 0);
        if (server_pid == 0)
                server_child();
        for (int i = 0; i < 500 && access(sock_path, F_OK) < 0; i++)
                usleep(10000);
        ck_assert_int_eq(access(sock_path, F_OK), 0);
}

static void server_stop(void) {
        char path[160];
        int status;

        kill(server_pid, SIGTERM);
        ck_assert_int_eq(waitpid(server_pid, &status, 0), server_pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        /* the server removes its socket */
        ck_assert_int_eq(access(sock_path, F_OK), -1);
        snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
        ck_assert_int_eq(system(path), 0);
}

/* The socket file appears at bind(), a moment before listen(). */
static CtlClient *client(void) {
        CtlClient *c = NULL;
        int r = -1;

        for (int i = 0; i < 500 && (r = ctl_client_connect(sock_path, &c)) == -ECONNREFUSED; i++)
                usleep(10000);
        ck_assert_int_eq(r, 0);
        return c;
}

static CtlFrame request_empty(CtlClient *c, uint8_t type) {
        Buf b = BUF_INIT;
        uint32_t id = ctl_client_next_id(c);
        CtlFrame f;

        ck_assert_int_eq(ctl_put_empty(&b, type, id), 0);
        ck_assert_int_eq(ctl_client_call(c, &b, id, 5000, &f), 1);
        buf_done(&b);
        return f;
}

START_TEST(test_server_basics) {
        CtlClient *c;
        CtlStatus s;
        CtlFrame f;
        CtlMember *m;
        size_t n;
        char *text;
        struct stat st;

        server_start();
        ck_assert_int_eq(stat(sock_path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0660);

        c = client();
        f = request_empty(c, CTL_REQ_STATUS);
        ck_assert_uint_eq(f.type, CTL_RESP_STATUS);
        ck_assert_int_eq(ctl_get_status(&f, &s), 0);
        ck_assert_str_eq(s.node, "n1");
        ck_assert_str_eq(s.version, PACKAGE_VERSION);
        ck_assert_uint_eq(s.voters, 1);
        ck_assert_uint_eq(s.session_ttl_ms, 10000);
        ctl_status_done(&s);

        f = request_empty(c, CTL_REQ_MEMBERS);
        ck_assert_uint_eq(f.type, CTL_RESP_MEMBERS);
        ck_assert_int_eq(ctl_get_members(&f, &m, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(m[0].name, "n1");
        ck_assert(m[0].flags & CTL_MEMBER_SELF);
        ctl_members_free(m, n);

        f = request_empty(c, CTL_REQ_METRICS);
        ck_assert_uint_eq(f.type, CTL_RESP_TEXT);
        ck_assert_int_eq(ctl_get_string(&f, &text), 0);
        ck_assert_ptr_nonnull(strstr(text, "# TYPE raftfs_term gauge\n"));
        ck_assert_ptr_nonnull(strstr(text, "raftfs_control_requests_total 3\n"));
        free(text);

        /* an unknown request type and a malformed payload get errors, and
         * the connection stays usable */
        f = request_empty(c, 0x3f);
        ck_assert_uint_eq(f.type, CTL_RESP_ERROR);
        {
                Buf b = BUF_INIT;
                uint32_t id = ctl_client_next_id(c);
                ck_assert_int_eq(ctl_put_u64(&b, CTL_REQ_STATUS, id, 1), 0);   /* status takes nothing */
                ck_assert_int_eq(ctl_client_call(c, &b, id, 5000, &f), 1);
                ck_assert_uint_eq(f.type, CTL_RESP_ERROR);
                buf_done(&b);
        }
        f = request_empty(c, CTL_REQ_STATUS);
        ck_assert_uint_eq(f.type, CTL_RESP_STATUS);
        ctl_client_free(c);
        server_stop();
}
END_TEST

START_TEST(test_server_streams) {
        CtlClient *c;
        Buf b = BUF_INIT;
        CtlFrame f;
        CtlSession s;
        uint64_t nonce;
        int err;
        char *msg;

        server_start();
        c = client();

        /* the session watch reports at once; pings answer with the nonce.
         * A watch that first reported NONE reports again when the session
         * opens: wait for that, so that no event of stream 50 can arrive in
         * the middle of the calls below (ctl_client_call() takes the next
         * frame as its answer). */
        ck_assert_int_eq(ctl_put_empty(&b, CTL_REQ_SESSION_WATCH, 50), 0);
        ck_assert_int_eq(ctl_put_u64(&b, CTL_REQ_PING, 51, 1234), 0);
        ck_assert_int_eq(ctl_client_send(c, &b), 0);
        for (bool pong = false, open = false; !pong || !open;) {
                ck_assert_int_eq(ctl_client_read(c, 5000, &f), 1);
                if (f.id == 50) {
                        ck_assert_uint_eq(f.type, CTL_EVT_SESSION);
                        ck_assert_int_eq(ctl_get_session(&f, NULL, &s), 0);
                        ck_assert(s.state == CTL_SESSION_NONE || s.state == CTL_SESSION_OK);
                        open = s.state == CTL_SESSION_OK;
                } else {
                        ck_assert_uint_eq(f.id, 51);
                        ck_assert_uint_eq(f.type, CTL_RESP_PONG);
                        ck_assert_int_eq(ctl_get_session(&f, &nonce, &s), 0);
                        ck_assert_uint_eq(nonce, 1234);
                        pong = true;
                }
        }

        /* watch paths are checked and normalised */
        ck_assert_int_eq(ctl_put_watch(&b, 52, "/a/../b", false), 0);
        ck_assert_int_eq(ctl_client_call(c, &b, 52, 5000, &f), 1);
        ck_assert_uint_eq(f.type, CTL_RESP_ERROR);
        ck_assert_int_eq(ctl_get_error(&f, &err, &msg), 0);
        ck_assert_int_eq(err, -EINVAL);
        free(msg);
        ck_assert_int_eq(ctl_put_watch(&b, 53, "//app//", true), 0);
        ck_assert_int_eq(ctl_client_call(c, &b, 53, 5000, &f), 1);
        ck_assert_uint_eq(f.type, CTL_RESP_OK);
        ck_assert_int_eq(ctl_get_string(&f, &msg), 0);
        ck_assert_str_eq(msg, "/app");
        free(msg);

        /* operations the node cannot do yet fail cleanly */
        ck_assert_int_eq(ctl_put_strings(&b, CTL_REQ_MEMBER_ADD, 54, "n2", "bad address"), 0);
        ck_assert_int_eq(ctl_client_call(c, &b, 54, 5000, &f), 1);
        ck_assert_uint_eq(f.type, CTL_RESP_ERROR);
        ck_assert_int_eq(ctl_get_error(&f, &err, &msg), 0);
        ck_assert_int_eq(err, -EINVAL);
        free(msg);

        buf_done(&b);
        ctl_client_free(c);
        server_stop();
}
END_TEST

/* Raw bytes: a wrong version gets an answer and a close; an oversized
 * length closes at once. */
START_TEST(test_server_bad_frames) {
        uint8_t hdr[CTL_HEADER_SIZE];
        CtlClient *c;
        CtlFrame f;
        Buf b = BUF_INIT;
        int err;
        char *msg;

        server_start();
        c = client();
        ck_assert_int_eq(ctl_put_empty(&b, CTL_REQ_STATUS, 9), 0);
        b.data[4] = 99;
        ck_assert_int_eq(ctl_client_send(c, &b), 0);
        ck_assert_int_eq(ctl_client_read(c, 5000, &f), 1);
        ck_assert_uint_eq(f.type, CTL_RESP_ERROR);
        ck_assert_uint_eq(f.id, 9);
        ck_assert_int_eq(ctl_get_error(&f, &err, &msg), 0);
        ck_assert_int_eq(err, -EPROTONOSUPPORT);
        ck_assert_ptr_nonnull(strstr(msg, "version 99"));
        free(msg);
        ck_assert_int_eq(ctl_client_read(c, 5000, &f), -ECONNRESET);
        ctl_client_free(c);

        c = client();
        le32_store(hdr, CTL_FRAME_MAX + 100);
        memset(hdr + 4, 0, sizeof(hdr) - 4);
        ck_assert_int_eq(buf_append(&b, hdr, sizeof(hdr)), 0);
        ck_assert_int_eq(ctl_client_send(c, &b), 0);
        ck_assert_int_eq(ctl_client_read(c, 5000, &f), -ECONNRESET);
        ctl_client_free(c);
        buf_done(&b);
        server_stop();
}
END_TEST

/* A client that is neither root, nor the daemon's user, nor in group
 * raftfs may read status but not change membership or watch. */
START_TEST(test_server_privilege) {
        int status;
        pid_t pid;

        if (geteuid() != 0) {
                fprintf(stderr, "not root: skipping the privilege test\n");
                return;
        }
        server_start();
        ck_assert_int_eq(chmod(sock_path, 0666), 0);
        ck_assert_int_eq(chmod(tmpdir, 0755), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                CtlClient *c = NULL;
                Buf b = BUF_INIT;
                CtlFrame f;
                int err;
                char *msg;

                if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                    setresuid(65534, 65534, 65534) < 0)
                        _exit(20);
                for (int i = 0; i < 500 && ctl_client_connect(sock_path, &c) == -ECONNREFUSED; i++)
                        usleep(10000);
                if (!c)
                        _exit(21);
                if (ctl_put_empty(&b, CTL_REQ_STATUS, 1) < 0 || ctl_client_call(c, &b, 1, 5000, &f) != 1 ||
                    f.type != CTL_RESP_STATUS)
                        _exit(22);
                if (ctl_put_strings(&b, CTL_REQ_MEMBER_REMOVE, 2, "n2", NULL) < 0 ||
                    ctl_client_call(c, &b, 2, 5000, &f) != 1 || f.type != CTL_RESP_ERROR ||
                    ctl_get_error(&f, &err, &msg) < 0 || err != -EPERM || !strstr(msg, "group 'raftfs'"))
                        _exit(23);
                free(msg);
                if (ctl_put_watch(&b, 3, "/", true) < 0 || ctl_client_call(c, &b, 3, 5000, &f) != 1 ||
                    f.type != CTL_RESP_ERROR)
                        _exit(24);
                buf_done(&b);
                ctl_client_free(c);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        server_stop();
}
END_TEST

/* A second server on the same path is refused while the first lives; a
 * stale socket file (no listener) is replaced. */
START_TEST(test_server_stale_socket) {
        sd_event *e = NULL;
        Metrics *m = metrics_new();
        ControlServer *srv = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        server_start();
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(control_server_new(e, NULL, m, sock_path, &srv), -EADDRINUSE);
        server_stop();

        /* leave a socket file with nobody listening */
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-control-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        snprintf(sock_path, sizeof(sock_path), "%s/control.sock", tmpdir);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        strcpy(sa.sun_path, sock_path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        close(fd);
        ck_assert_int_eq(control_server_new(e, NULL, m, sock_path, &srv), 0);
        control_server_free(srv);
        ck_assert_int_eq(access(sock_path, F_OK), -1);
        rmdir(tmpdir);
        metrics_free(m);
        sd_event_unref(e);
}
END_TEST

static Suite *control_suite(void) {
        Suite *s = suite_create("control");
        TCase *tc;

#define ADD(name, fn) do { tc = tcase_create(name); tcase_set_timeout(tc, 30); \
                tcase_add_test(tc, fn); suite_add_tcase(s, tc); } while (0)
        ADD("roundtrip-status", test_roundtrip_status);
        ADD("roundtrip-members", test_roundtrip_members);
        ADD("roundtrip-small", test_roundtrip_small);
        ADD("framing", test_framing);
        ADD("helpers", test_helpers);
        ADD("metrics-render", test_metrics_render);
        ADD("server-basics", test_server_basics);
        ADD("server-streams", test_server_streams);
        ADD("server-bad-frames", test_server_bad_frames);
        ADD("server-privilege", test_server_privilege);
        ADD("server-stale-socket", test_server_stale_socket);
#undef ADD
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(control_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
