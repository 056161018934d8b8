#include "config.h"
/* test-control-node.c — the Node behind the control socket (daemon/node.c,
 * node-ops.c), driven in-process on its own sd-event loop as a one-member
 * cluster in a fresh data directory: bootstrap, READY, session, proposals
 * with results and watch events, read barriers, snapshot export, restart
 * from the same directory, graceful stop.
 *
 * Multi-node behaviour (elections, failover, membership, session expiry) is
 * covered by tests/integration/cluster-*.sh with real daemons. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/metrics.h"
#include "daemon/node.h"
#include "daemon/restore.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "tree/tree.h"

typedef struct Fixture {
        char dir[64];
        Conf *conf;
        sd_event *event;
        Metrics *metrics;
        Node *node;
        bool ready, stopped;
        int proposal_r, barrier_r;
        bool proposal_done, barrier_done;
        TreeResult result;
        char changes[1024];
        uint8_t session_states[16];
        size_t n_session_states;
} Fixture;

static void on_event(Node *n, NodeEvent ev, void *userdata) {
        Fixture *f = userdata;
        if (ev == NODE_EVENT_READY)
                f->ready = true;
        ck_assert_int_ne(ev, NODE_EVENT_FATAL);
}

static void setup(Fixture *f, bool fresh) {
        char text[512];

        if (fresh) {
                memset(f, 0, sizeof(*f));
                snprintf(f->dir, sizeof(f->dir), "/tmp/test-node-XXXXXX");
                ck_assert_ptr_nonnull(mkdtemp(f->dir));
        }
        snprintf(text, sizeof(text),
                 "[node]\nname = solo\nlisten = 127.0.0.1:7001\ndata_dir = %s/data\ncontrol_socket = %s/s\n"
                 "[cluster]\ninitial_members = solo=127.0.0.1:7001\n"
                 "[raft]\nheartbeat_ms = 20\nelection_timeout_ms = 100\nsnapshot_entries = 16\n"
                 "[session]\nttl_ms = 1000\n[fuse]\nmount = no\n", f->dir, f->dir);
        ck_assert_int_eq(conf_parse("test.conf", text, strlen(text), &f->conf, NULL), 0);
        ck_assert_int_ge(sd_event_new(&f->event), 0);
        f->metrics = metrics_new();
        ck_assert_int_eq(node_new(f->event, f->conf, f->metrics, &f->node), 0);
        node_set_event_handler(f->node, on_event, f);
        ck_assert_int_eq(node_start(f->node), 0);
}

static void teardown(Fixture *f, bool remove) {
        char cmd[128];

        f->node = node_free(f->node);
        f->metrics = metrics_free(f->metrics);
        f->event = sd_event_unref(f->event);
        f->conf = conf_free(f->conf);
        if (remove) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
                ck_assert_int_eq(system(cmd), 0);
        }
}

/* Runs the loop until *flag is true (5 s at most). */
static void run_until(Fixture *f, const bool *flag) {
        for (int i = 0; i < 5000 && !*flag; i++)
                ck_assert_int_ge(sd_event_run(f->event, 1000), 0);
        ck_assert(*flag);
}

static bool session_ok;

static void on_session(const CtlSession *s, void *userdata) {
        Fixture *f = userdata;
        if (f->n_session_states < ELEMENTSOF(f->session_states))
                f->session_states[f->n_session_states++] = s->state;
        session_ok = s->state == CTL_SESSION_OK;
}

static void on_change(const CtlChange *c, void *userdata) {
        Fixture *f = userdata;
        size_t l = strlen(f->changes);
        snprintf(f->changes + l, sizeof(f->changes) - l, "%s %s\n", c->kind, c->path);
}

static void on_proposal(int r, const TreeResult *res, void *userdata) {
        Fixture *f = userdata;
        f->proposal_r = r;
        if (res)
                f->result = *res;
        f->proposal_done = true;
}

static void on_barrier(int r, void *userdata) {
        Fixture *f = userdata;
        f->barrier_r = r;
        f->barrier_done = true;
}

static void on_stopped(Node *n, void *userdata) {
        ((Fixture *) userdata)->stopped = true;
}

static void mkdir_cmd(Fixture *f, const char *name) {
        TreeCmd c = { .type = TREE_CMD_MKDIR };
        NodeOp *op;

        c.create.parent = TREE_ROOT_INO;
        c.create.name = name;
        c.create.mode = 0755;
        f->proposal_done = false;
        ck_assert_int_eq(node_propose(f->node, &c, true, on_proposal, f, &op), 0);
        run_until(f, &f->proposal_done);
}

START_TEST(test_node_lifecycle) {
        Fixture f;
        NodeWatch *w, *sw;
        CtlStatus st;
        TreeAttr attr;
        NodeOp *op;
        CtlMember *m;
        size_t n;

        log_set_max_level(LOG_WARNING);
        setup(&f, true);
        run_until(&f, &f.ready);
        sw = node_session_watch_add(f.node, on_session, &f);
        ck_assert_ptr_nonnull(sw);
        session_ok = false;
        run_until(&f, &session_ok);
        ck_assert_uint_ne(node_session_id(f.node), 0);
        ck_assert(node_has_quorum(f.node));

        node_get_status(f.node, &st);
        ck_assert_str_eq(st.node, "solo");
        ck_assert_uint_eq(st.role, CTL_ROLE_LEADER);
        ck_assert_str_eq(st.leader, "solo");
        ck_assert(st.ready);
        ck_assert_uint_eq(st.voters, 1);
        ck_assert_int_eq(node_get_members(f.node, &m, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert(m[0].flags & CTL_MEMBER_SELF);
        free(m);

        /* a proposal: applied, result returned, watchers told */
        w = node_watch_add(f.node, "/", true, on_change, &f);
        ck_assert_ptr_nonnull(w);
        mkdir_cmd(&f, "app");
        ck_assert_int_eq(f.proposal_r, 0);
        ck_assert_int_eq(f.result.err, 0);
        ck_assert_int_eq(tree_lookup(node_tree(f.node), TREE_ROOT_INO, "app", &attr), 0);
        ck_assert_ptr_nonnull(strstr(f.changes, "create /app\n"));
        /* the command's own errno comes back as a result, not a failure */
        mkdir_cmd(&f, "app");
        ck_assert_int_eq(f.proposal_r, 0);
        ck_assert_int_eq(f.result.err, -EEXIST);
        node_watch_remove(f.node, w);

        /* a read barrier */
        ck_assert_int_eq(node_read_barrier(f.node, on_barrier, &f, &op), 0);
        run_until(&f, &f.barrier_done);
        ck_assert_int_eq(f.barrier_r, 0);

        /* enough entries for a snapshot (snapshot_entries = 16) */
        for (int i = 0; i < 20; i++) {
                char name[16];
                snprintf(name, sizeof(name), "d%d", i);
                mkdir_cmd(&f, name);
                ck_assert_int_eq(f.result.err, 0);
        }

        /* graceful stop: session reported stopping, then closed */
        node_stop(f.node, on_stopped, &f);
        run_until(&f, &f.stopped);
        ck_assert_uint_eq(f.session_states[f.n_session_states - 1], CTL_SESSION_STOPPING);
        node_watch_remove(f.node, sw);
        teardown(&f, false);

        /* restart from the same directory: the tree comes back */
        setup(&f, false);
        f.ready = false;
        run_until(&f, &f.ready);
        ck_assert_int_eq(tree_lookup(node_tree(f.node), TREE_ROOT_INO, "d19", &attr), 0);
        ck_assert_int_eq(tree_lookup(node_tree(f.node), TREE_ROOT_INO, "app", &attr), 0);
        teardown(&f, true);
}
END_TEST

static bool snapshot_done;
static int snapshot_fd = -1;
static CtlSnapshotEnd snapshot_info;

static void on_snapshot(int r, const char *message, int fd, const CtlSnapshotEnd *info, void *userdata) {
        ck_assert_int_eq(r, 0);
        snapshot_fd = fd;
        snapshot_info = *info;
        snapshot_done = true;
}

START_TEST(test_node_snapshot_export) {
        Fixture f;
        NodeOp *op;
        const char *msg = NULL;
        struct stat st;

        log_set_max_level(LOG_WARNING);
        setup(&f, true);
        run_until(&f, &f.ready);
        for (int i = 0; i < 5000 && node_session_id(f.node) == 0; i++)
                ck_assert_int_ge(sd_event_run(f.event, 1000), 0);
        mkdir_cmd(&f, "x");
        ck_assert_int_eq(node_snapshot_export(f.node, on_snapshot, &f, &op, &msg), 0);
        run_until(&f, &snapshot_done);
        ck_assert_int_ge(snapshot_fd, 0);
        ck_assert_int_eq(fstat(snapshot_fd, &st), 0);
        ck_assert_uint_eq((uint64_t) st.st_size, snapshot_info.size);
        ck_assert_uint_gt(snapshot_info.index, 0);
        close(snapshot_fd);

        /* operations a one-member cluster without TLS refuses */
        ck_assert_int_eq(node_member_add(f.node, "n2", "127.0.0.2:7001", NULL, NULL, &op, &msg), -EOPNOTSUPP);
        ck_assert_ptr_nonnull(msg);
        ck_assert_int_eq(node_member_remove(f.node, "n9", NULL, NULL, &op, &msg), -ENOENT);
        ck_assert_int_eq(node_leader_transfer(f.node, NULL, NULL, NULL, &op, &msg), -ENOENT);
        teardown(&f, true);
}
END_TEST

/* snapshot export -> file -> restore into a fresh data_dir -> the tree is
 * back, without the old sessions; a non-empty data_dir is refused. */
START_TEST(test_node_restore) {
        Fixture f;
        NodeOp *op;
        const char *msg = NULL;
        char path[128], cmd[256];
        TreeAttr attr;
        uint8_t buf[65536];
        ssize_t k;
        int out;

        log_set_max_level(LOG_WARNING);
        setup(&f, true);
        run_until(&f, &f.ready);
        for (int i = 0; i < 5000 && node_session_id(f.node) == 0; i++)
                ck_assert_int_ge(sd_event_run(f.event, 1000), 0);
        mkdir_cmd(&f, "kept");
        snapshot_done = false;
        ck_assert_int_eq(node_snapshot_export(f.node, on_snapshot, &f, &op, &msg), 0);
        run_until(&f, &snapshot_done);
        snprintf(path, sizeof(path), "%s/backup", f.dir);
        out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ck_assert_int_ge(out, 0);
        while ((k = pread(snapshot_fd, buf, sizeof(buf), lseek(out, 0, SEEK_CUR))) > 0)
                ck_assert_int_eq(write(out, buf, (size_t) k), k);
        close(out);
        close(snapshot_fd);
        /* a data_dir in use is refused, and so is one that holds state */
        ck_assert_int_eq(restore_data_dir(f.conf, path), -EBUSY);
        f.node = node_free(f.node);
        ck_assert_int_eq(restore_data_dir(f.conf, path), -ENOTEMPTY);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/data'", f.dir);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(restore_data_dir(f.conf, path), 0);
        teardown(&f, false);

        setup(&f, false);       /* starts from the restored data_dir */
        f.ready = false;
        run_until(&f, &f.ready);
        ck_assert_int_eq(tree_lookup(node_tree(f.node), TREE_ROOT_INO, "kept", &attr), 0);
        /* the old session is gone; a new one opens */
        for (int i = 0; i < 5000 && node_session_id(f.node) == 0; i++)
                ck_assert_int_ge(sd_event_run(f.event, 1000), 0);
        {
                TreeSessionInfo info;
                ck_assert_int_eq(tree_session_get(node_tree(f.node), node_session_id(f.node), &info), 0);
        }
        mkdir_cmd(&f, "after");
        ck_assert_int_eq(f.result.err, 0);
        teardown(&f, true);
}
END_TEST

static Suite *node_suite(void) {
        Suite *s = suite_create("control-node");
        TCase *tc;

        tc = tcase_create("lifecycle");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_node_lifecycle);
        suite_add_tcase(s, tc);
        tc = tcase_create("snapshot-export");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_node_snapshot_export);
        suite_add_tcase(s, tc);
        tc = tcase_create("restore");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_node_restore);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(node_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
