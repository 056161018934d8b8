#include "config.h"
/* mount.c — implements fusefs/'s FsBackend on top of the Node.
 *
 * Everything here is translation: proposals and barriers go to the node
 * (which stamps the author, retries across leader changes and times out
 * after op_timeout_ms), applied notices and session changes come back from
 * the node and are handed to FuseFs, and /.raftfs/ files are rendered from
 * the node's status. The mount owns no cluster state of its own.
 *
 * Deadlines: FuseFs passes a deadline with each call, but the node already
 * bounds every proposal and barrier by op_timeout_ms (the same setting
 * FuseFs derives its deadline from), so the deadline is not forwarded. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/control-proto.h"
#include "daemon/fuse-guard.h"
#include "daemon/mount.h"
#include "fusefs/fusefs.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "tree/tree.h"

struct Mount {
        Node *node;
        FuseFs *fs;
        NodeWatch *session_watch;
        pid_t guard; /* fuse-guard.h; <= 0 when none */
};

/* One FuseFs completion waiting for the node. */
typedef struct Pending {
        FsDoneFn done;
        void *userdata;
} Pending;

static Pending *pending_new(FsDoneFn done, void *userdata) {
        Pending *p = malloc(sizeof(*p));
        if (p)
                *p = (Pending) { done, userdata };
        return p;
}

static void proposal_done(int r, const TreeResult *res, void *userdata) {
        Pending p = *(Pending *) userdata;

        free(userdata);
        if (r < 0 || !res)
                p.done(p.userdata, r < 0 ? r : -EIO, 0, NULL);
        else
                p.done(p.userdata, res->err, 0, res);
}

static bool is_lock_cmd(uint8_t type) {
        return type == TREE_CMD_LOCK || type == TREE_CMD_LOCK_CANCEL || type == TREE_CMD_LOCK_RELEASE;
}

static int backend_propose(void *userdata, TreeCmd *cmd, uint64_t deadline_usec, FsDoneFn done,
                           void *cb_userdata) {
        Mount *m = userdata;
        bool need_session = is_lock_cmd(cmd->type);
        NodeOp *op;

        Pending *p = pending_new(done, cb_userdata);
        if (!p)
                return -ENOMEM;
        int r = node_propose(m->node, cmd, need_session, proposal_done, p, &op);
        if (r < 0) {
                free(p);
                /* The node says -EIO for "no session"; FuseFs expects -ENOLINK. */
                return r == -EIO && need_session ? -ENOLINK : r;
        }
        return 0;
}

static void barrier_done(int r, void *userdata) {
        Pending p = *(Pending *) userdata;

        free(userdata);
        p.done(p.userdata, r < 0 ? -EIO : 0, 0, NULL);
}

static int backend_read_barrier(void *userdata, uint64_t deadline_usec, FsDoneFn done, void *cb_userdata) {
        Mount *m = userdata;
        NodeOp *op;

        Pending *p = pending_new(done, cb_userdata);
        if (!p)
                return -ENOMEM;
        int r = node_read_barrier(m->node, barrier_done, p, &op);
        if (r < 0) {
                free(p);
                return r == -ENOMEM ? r : -EIO;
        }
        return 0;
}

static const Tree *backend_tree(void *userdata) {
        return node_tree(((Mount *) userdata)->node);
}

static bool backend_has_quorum(void *userdata) {
        return node_has_quorum(((Mount *) userdata)->node);
}

static uint64_t backend_node_id(void *userdata) {
        return node_self_id(((Mount *) userdata)->node);
}

static uint64_t backend_session_id(void *userdata) {
        Mount *m = userdata;
        CtlSession s;

        /* A session in jeopardy may already be gone: locks fail with EIO. */
        node_get_session(m->node, &s);
        return s.state == CTL_SESSION_OK ? s.id : 0;
}

static const char *backend_node_name(void *userdata, uint64_t node_id) {
        return node_member_name(((Mount *) userdata)->node, node_id);
}

/* /.raftfs/status: the keys of DESIGN.md §2, one "key: value" per line. */
static int render_status(Node *node, Buf *out) {
        CtlStatus st;
        char text[1024];

        node_get_status(node, &st);
        int n = snprintf(text, sizeof(text),
                         "node: %s\nrole: %s\nterm: %" PRIu64 "\nleader: %s\ncommit: %" PRIu64 "\n"
                         "applied: %" PRIu64 "\nmembers: %" PRIu32 "\nsession: %" PRIu64 " %s\nquorum: %s\n",
                         st.node, ctl_role_to_string(st.role), st.term, st.leader, st.commit, st.applied,
                         st.voters + st.learners, st.session.id,
                         ctl_session_state_to_string(st.session.state), st.quorum ? "yes" : "no");
        if (n < 0 || (size_t) n >= sizeof(text))
                return -ENOBUFS;
        return buf_append(out, text, (size_t) n);
}

static int render_members(Node *node, Buf *out) {
        _cleanup_free_ CtlMember *members = NULL;
        size_t n_members;
        int r;

        r = node_get_members(node, &members, &n_members);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_members; i++) {
                char line[512];
                int n = snprintf(line, sizeof(line), "%s %s %s\n", members[i].name, members[i].address,
                                 ctl_role_to_string(members[i].role));
                if (n < 0 || (size_t) n >= sizeof(line))
                        return -ENOBUFS;
                r = buf_append(out, line, (size_t) n);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int backend_info(void *userdata, FsInfo what, Buf *out) {
        Mount *m = userdata;
        CtlStatus st;

        switch (what) {
        case FS_INFO_STATUS:
                return render_status(m->node, out);
        case FS_INFO_LEADER:
                node_get_status(m->node, &st);
                if (!st.leader[0])
                        return 0;
                return buf_append(out, st.leader, strlen(st.leader)) ?: buf_append(out, "\n", 1);
        case FS_INFO_MEMBERS:
                return render_members(m->node, out);
        case FS_INFO_METRICS:
                return node_render_metrics(m->node, out);
        default:
                return -EINVAL;
        }
}

static void backend_unmounted(void *userdata, int error) {
        if (error < 0)
                log_error_errno(error, "The FUSE session ended: %m");
        else
                log_warning("The file system was unmounted from outside; cluster service continues without it.");
}

static const FsBackend backend = {
        .propose = backend_propose,
        .read_barrier = backend_read_barrier,
        .tree = backend_tree,
        .has_quorum = backend_has_quorum,
        .node_id = backend_node_id,
        .session_id = backend_session_id,
        .node_name = backend_node_name,
        .info = backend_info,
        .unmounted = backend_unmounted,
};

static void on_notices(uint64_t index, uint64_t author_session, uint64_t author_request,
                       const TreeNotice *notices, size_t n_notices, void *userdata) {
        Mount *m = userdata;

        fusefs_notify_applied(m->fs, index, author_session, author_request, notices, n_notices);
}

static void on_reset(void *userdata) {
        Mount *m = userdata;

        fusefs_notify_reset(m->fs);
}

static void on_session(const CtlSession *s, void *userdata) {
        Mount *m = userdata;

        fusefs_notify_session(m->fs, s->state == CTL_SESSION_OK ? s->id : 0);
}

int mount_start(sd_event *e, Node *node, const Conf *conf, Mount **ret) {
        int r;

        Mount *m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        m->node = node;

        FuseFsOptions o = {
                .mountpoint = conf->mountpoint,
                .fsname = conf->node_name,
                .allow_other = conf->allow_other,
                .consistency = conf->consistency == CONF_CONSISTENCY_LOCAL ? FUSEFS_CONSISTENCY_LOCAL
                                                                           : FUSEFS_CONSISTENCY_LINEARIZABLE,
                .op_timeout_usec = conf->op_timeout_ms * USEC_PER_MSEC,
                .max_file_size = conf->max_file_size,
        };
        r = fusefs_new(e, &o, &backend, m, &m->fs);
        if (r < 0) {
                free(m);
                return log_error_errno(r, "Failed to mount at %s: %m", conf->mountpoint);
        }
        node_set_notice_handler(node, on_notices, m);
        node_set_reset_handler(node, on_reset, m);
        m->session_watch = node_session_watch_add(node, on_session, m);
        if (!m->session_watch) {
                mount_stop(m);
                return log_oom();
        }
        node_set_mountpoint(node, conf->mountpoint);
        m->guard = fuse_guard_start(conf->mountpoint);
        log_info("Mounted at %s.", conf->mountpoint);
        *ret = m;
        return 0;
}

Mount *mount_stop(Mount *m) {
        if (!m)
                return NULL;
        node_set_notice_handler(m->node, NULL, NULL);
        node_set_reset_handler(m->node, NULL, NULL);
        m->session_watch = node_watch_remove(m->node, m->session_watch);
        node_set_mountpoint(m->node, NULL);
        fuse_guard_stop(m->guard);
        m->fs = fusefs_free(m->fs);
        free(m);
        return NULL;
}
