#include "config.h"

/* control.c — the control socket server (see control.h).
 *
 * One Conn per accepted client, each an sd-event io source. Input is
 * collected in `in` and cut into frames (at most CTL_FRAME_MAX each, so a
 * client cannot make us buffer more); every complete request is answered by
 * appending frames to `out`, which is written as the socket allows.
 * Requests that take time (membership changes, leadership transfer,
 * snapshot) and streams (watch, session watch, snapshot data) are Tasks
 * hanging off the Conn; closing the Conn cancels them all.
 *
 * Lifetime rule: Node callbacks (watch events, op completions) may arrive
 * while the Node iterates its own lists, so a Conn is never freed from
 * inside one: a failing write only marks the Conn dead and arms its
 * `close_source` (a defer source) which frees it on the next iteration. */

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/control-proto.h"
#include "daemon/control.h"
#include "lib/crc32c.h"
#include "lib/list.h"
#include "lib/log.h"
#include "lib/macro.h"

typedef struct Conn Conn;

typedef enum TaskKind {
        TASK_OP,                /* member add/remove, leader transfer */
        TASK_SNAPSHOT,          /* waiting for the export, then streaming */
        TASK_WATCH,
        TASK_SESSION,
} TaskKind;

typedef struct Task {
        ListNode link;
        Conn *conn;
        TaskKind kind;
        uint32_t id;
        NodeOp *op;
        NodeWatch *watch;
        /* snapshot streaming */
        int fd;
        uint64_t offset;
        uint32_t crc;
        CtlSnapshotEnd info;
} Task;

struct Conn {
        ListNode link;
        ControlServer *server;
        int fd;
        sd_event_source *io;
        sd_event_source *close_source;
        uid_t uid;
        pid_t pid;
        bool privileged;
        bool dead;
        bool close_after_flush;
        Buf in;
        Buf out;
        size_t out_pos;
        List tasks;
        size_t n_tasks;
};

struct ControlServer {
        sd_event *event;
        Node *node;
        char *path;
        int fd;
        sd_event_source *io;
        gid_t group_gid;
        List conns;
        size_t n_conns;
        Metric *m_requests, *m_denied, *m_connections;
};

static void conn_update_events(Conn *c);
static void conn_pump_snapshot(Conn *c);

/* ---- helpers ----------------------------------------------------------- */

bool control_peer_is_privileged(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
                                uid_t self_uid, gid_t group_gid) {
        if (uid == 0 || uid == self_uid)
                return true;
        if (group_gid == (gid_t) -1)
                return false;
        if (gid == group_gid)
                return true;
        for (size_t i = 0; i < n_groups; i++)
                if (groups[i] == group_gid)
                        return true;
        return false;
}

char *control_path_normalize(const char *path) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0;
        const char *p = path;

        if (!path || path[0] != '/') {
                errno = EINVAL;
                return NULL;
        }
        out = malloc(strlen(path) + 2);
        if (!out) {
                errno = ENOMEM;
                return NULL;
        }
        while (*p) {
                size_t len;

                while (*p == '/')
                        p++;
                len = strcspn(p, "/");
                if (len == 0)
                        break;
                if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
                        errno = EINVAL;
                        return NULL;
                }
                out[n++] = '/';
                memcpy(out + n, p, len);
                n += len;
                p += len;
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = '\0';
        return TAKE_PTR(out);
}

/* ---- connection lifetime ----------------------------------------------- */

static void task_free(Task *t) {
        Node *node = t->conn->server->node;

        list_remove(&t->link);
        t->conn->n_tasks--;
        if (t->op)
                node_op_cancel(node, t->op);
        node_watch_remove(node, t->watch);
        if (t->fd >= 0)
                (void) close(t->fd);
        free(t);
}

static Conn *conn_free(Conn *c) {
        Task *t, *tmp;

        if (!c)
                return NULL;
        list_foreach_safe(t, tmp, &c->tasks, link)
                task_free(t);
        list_remove(&c->link);
        c->server->n_conns--;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->close_source);
        safe_close(c->fd);
        buf_done(&c->in);
        buf_done(&c->out);
        return mfree(c);
}

static int close_handler(sd_event_source *s, void *userdata) {
        conn_free(userdata);
        return 0;
}

/* Marks the connection for closing on the next loop iteration (see the
 * lifetime rule at the top). */
static void conn_kill(Conn *c) {
        if (c->dead)
                return;
        c->dead = true;
        (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
        if (sd_event_add_defer(c->server->event, &c->close_source, close_handler, c) < 0)
                log_error("Cannot schedule closing of a control connection; it stays idle.");
}

static void conn_flush(Conn *c) {
        while (!c->dead && c->out_pos < c->out.len) {
                ssize_t k = send(c->fd, c->out.data + c->out_pos, c->out.len - c->out_pos,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                conn_kill(c);
                        break;
                }
                c->out_pos += (size_t) k;
        }
        if (c->out_pos == c->out.len) {
                buf_clear(&c->out);
                c->out_pos = 0;
                if (c->close_after_flush)
                        conn_kill(c);
        }
        if (!c->dead)
                conn_update_events(c);
}

/* Called after frames were appended: an -ENOMEM/-EMSGSIZE from the encoder
 * or an output queue past its limit (a client that does not read its watch
 * stream) ends the connection. */
static void conn_sent(Conn *c, int r) {
        if (c->dead)
                return;
        if (r < 0) {
                log_warning_errno(r, "Control client (pid %d): cannot queue an answer, closing: %m", (int) c->pid);
                conn_kill(c);
                return;
        }
        if (c->out.len - c->out_pos > CONTROL_OUTPUT_MAX) {
                log_warning("Control client (pid %d) does not read its answers, closing.", (int) c->pid);
                conn_kill(c);
                return;
        }
        conn_flush(c);
}

static void conn_error(Conn *c, uint32_t id, int error, const char *message) {
        conn_sent(c, ctl_put_error(&c->out, id, error, message ? message : strerror(error < 0 ? -error : error)));
}

static Task *task_new(Conn *c, TaskKind kind, uint32_t id) {
        Task *t;

        if (c->n_tasks >= CONTROL_REQUESTS_MAX) {
                conn_error(c, id, -EBUSY, "too many requests in flight on this connection");
                return NULL;
        }
        t = calloc(1, sizeof(Task));
        if (!t) {
                conn_error(c, id, -ENOMEM, NULL);
                return NULL;
        }
        *t = (Task) { .conn = c, .kind = kind, .id = id, .fd = -EBADF };
        list_append(&c->tasks, &t->link);
        c->n_tasks++;
        return t;
}

/* ---- callbacks from the node ------------------------------------------- */

static void op_done(int r, const char *message, void *userdata) {
        Task *t = userdata;
        Conn *c = t->conn;
        uint32_t id = t->id;

        t->op = NULL;           /* the node forgets it after this call */
        task_free(t);
        if (r < 0)
                conn_error(c, id, r, message);
        else
                conn_sent(c, ctl_put_ok(&c->out, id, message ? message : ""));
}

static void change_event(const CtlChange *change, void *userdata) {
        Task *t = userdata;
        conn_sent(t->conn, ctl_put_change(&t->conn->out, t->id, change));
}

static void session_event(const CtlSession *session, void *userdata) {
        Task *t = userdata;
        conn_sent(t->conn, ctl_put_session(&t->conn->out, CTL_EVT_SESSION, t->id, 0, session));
}

static void snapshot_ready(int r, const char *message, int fd, const CtlSnapshotEnd *info, void *userdata) {
        Task *t = userdata;
        Conn *c = t->conn;

        t->op = NULL;
        if (r < 0) {
                uint32_t id = t->id;
                task_free(t);
                conn_error(c, id, r, message);
                return;
        }
        t->fd = fd;
        t->info = *info;
        conn_pump_snapshot(c);
}

/* Streams the next chunk of a snapshot when the output queue is empty, so
 * a large snapshot never sits in memory whole. */
static void conn_pump_snapshot(Conn *c) {
        Task *t;

        list_foreach(t, &c->tasks, link) {
                uint8_t *chunk;
                ssize_t k;
                int r;

                if (t->kind != TASK_SNAPSHOT || t->fd < 0)
                        continue;
                if (c->dead || c->out.len - c->out_pos > 0)
                        return;
                chunk = malloc(CTL_DATA_CHUNK);
                if (!chunk) {
                        conn_kill(c);
                        return;
                }
                k = pread(t->fd, chunk, CTL_DATA_CHUNK, (off_t) t->offset);
                if (k < 0) {
                        r = -errno;
                        free(chunk);
                        log_warning_errno(r, "Failed to read snapshot for control client: %m");
                        conn_error(c, t->id, r, "reading the snapshot failed");
                        task_free(t);
                        return;
                }
                if (k == 0) {
                        uint32_t id = t->id;
                        CtlSnapshotEnd end = t->info;
                        free(chunk);
                        end.size = t->offset;
                        end.crc32c = t->crc;
                        task_free(t);
                        conn_sent(c, ctl_put_snapshot_end(&c->out, id, &end));
                        return;
                }
                t->crc = crc32c(t->crc, chunk, (size_t) k);
                t->offset += (uint64_t) k;
                r = ctl_put_data(&c->out, t->id, chunk, (size_t) k);
                free(chunk);
                conn_sent(c, r);
                return;
        }
}

/* ---- request handlers -------------------------------------------------- */

static void handle_status(Conn *c, const CtlFrame *f) {
        CtlStatus s;

        node_get_status(c->server->node, &s);
        conn_sent(c, ctl_put_status(&c->out, f->id, &s));
}

static void handle_members(Conn *c, const CtlFrame *f) {
        CtlMember *m = NULL;
        size_t n = 0;
        int r;

        r = node_get_members(c->server->node, &m, &n);
        if (r < 0)
                return conn_error(c, f->id, r, NULL);
        r = ctl_put_members(&c->out, f->id, m, n);
        free(m);                /* strings are borrowed from the node */
        conn_sent(c, r);
}

static void handle_metrics(Conn *c, const CtlFrame *f) {
        Buf text = BUF_INIT;
        int r;

        r = node_render_metrics(c->server->node, &text);
        if (r >= 0)
                r = put_u8(&text, 0);
        if (r >= 0)
                r = ctl_put_text(&c->out, f->id, (const char *) text.data);
        buf_done(&text);
        conn_sent(c, r);
}

static void handle_ping(Conn *c, const CtlFrame *f) {
        CtlSession s;
        uint64_t nonce;

        if (ctl_get_u64(f, &nonce) < 0)
                return conn_error(c, f->id, -EBADMSG, "malformed ping");
        node_get_session(c->server->node, &s);
        conn_sent(c, ctl_put_session(&c->out, CTL_RESP_PONG, f->id, nonce, &s));
}

/* member add/remove and leader transfer: validate, then start the op. */
static void handle_op(Conn *c, const CtlFrame *f) {
        Node *node = c->server->node;
        _cleanup_free_ char *a = NULL, *b = NULL;
        const char *message = NULL;
        Task *t;
        int r;

        r = f->type == CTL_REQ_MEMBER_ADD ? ctl_get_strings(f, &a, &b) : ctl_get_string(f, &a);
        if (r < 0)
                return conn_error(c, f->id, r, "malformed request");
        if ((f->type != CTL_REQ_LEADER_TRANSFER || a[0]) && !conf_node_name_is_valid(a))
                return conn_error(c, f->id, -EINVAL, "invalid node name");
        if (f->type == CTL_REQ_MEMBER_ADD && !conf_address_is_valid(b))
                return conn_error(c, f->id, -EINVAL, "invalid address (expected IP:PORT, IPv6 in brackets)");

        t = task_new(c, TASK_OP, f->id);
        if (!t)
                return;
        if (f->type == CTL_REQ_MEMBER_ADD)
                r = node_member_add(node, a, b, op_done, t, &t->op, &message);
        else if (f->type == CTL_REQ_MEMBER_REMOVE)
                r = node_member_remove(node, a, op_done, t, &t->op, &message);
        else
                r = node_leader_transfer(node, a[0] ? a : NULL, op_done, t, &t->op, &message);
        if (r < 0) {
                task_free(t);
                return conn_error(c, f->id, r, message);
        }
        log_info("Control client (uid %u, pid %d): %s %s%s%s", (unsigned) c->uid, (int) c->pid,
                 ctl_type_to_string(f->type), a, b ? " " : "", b ? b : "");
}

static void handle_snapshot(Conn *c, const CtlFrame *f) {
        const char *message = NULL;
        Task *t;
        int r;

        if (ctl_get_empty(f) < 0)
                return conn_error(c, f->id, -EBADMSG, "malformed request");
        t = task_new(c, TASK_SNAPSHOT, f->id);
        if (!t)
                return;
        r = node_snapshot_export(c->server->node, snapshot_ready, t, &t->op, &message);
        if (r < 0) {
                task_free(t);
                return conn_error(c, f->id, r, message);
        }
}

static void handle_watch(Conn *c, const CtlFrame *f) {
        _cleanup_free_ char *raw = NULL, *path = NULL;
        bool recursive;
        Task *t;
        int r;

        r = ctl_get_watch(f, &raw, &recursive);
        if (r < 0)
                return conn_error(c, f->id, r, "malformed request");
        path = control_path_normalize(raw);
        if (!path)
                return conn_error(c, f->id, -errno, "watch path must be absolute, without . or .. components");
        t = task_new(c, TASK_WATCH, f->id);
        if (!t)
                return;
        t->watch = node_watch_add(c->server->node, path, recursive, change_event, t);
        if (!t->watch) {
                task_free(t);
                return conn_error(c, f->id, -EUSERS, "too many watches");
        }
        conn_sent(c, ctl_put_ok(&c->out, f->id, path));
}

static void handle_session_watch(Conn *c, const CtlFrame *f) {
        Task *t;

        if (ctl_get_empty(f) < 0)
                return conn_error(c, f->id, -EBADMSG, "malformed request");
        t = task_new(c, TASK_SESSION, f->id);
        if (!t)
                return;
        t->watch = node_session_watch_add(c->server->node, session_event, t);
        if (!t->watch) {
                task_free(t);
                return conn_error(c, f->id, -EUSERS, "too many watches");
        }
}

static void dispatch(Conn *c, const CtlFrame *f) {
        metric_inc(c->server->m_requests);
        if (!ctl_type_is_request(f->type))
                return conn_error(c, f->id, -EOPNOTSUPP, "unknown request type");
        if (ctl_type_is_privileged(f->type) && !c->privileged) {
                char msg[160];
                metric_inc(c->server->m_denied);
                snprintf(msg, sizeof(msg), "'%s' requires root or membership of group '%s'",
                         ctl_type_to_string(f->type), CONTROL_GROUP);
                return conn_error(c, f->id, -EPERM, msg);
        }
        switch (f->type) {
        case CTL_REQ_STATUS:
        case CTL_REQ_MEMBERS:
        case CTL_REQ_METRICS:
                if (ctl_get_empty(f) < 0)
                        return conn_error(c, f->id, -EBADMSG, "malformed request");
                if (f->type == CTL_REQ_STATUS)
                        return handle_status(c, f);
                if (f->type == CTL_REQ_MEMBERS)
                        return handle_members(c, f);
                return handle_metrics(c, f);
        case CTL_REQ_MEMBER_ADD:
        case CTL_REQ_MEMBER_REMOVE:
        case CTL_REQ_LEADER_TRANSFER:
                return handle_op(c, f);
        case CTL_REQ_SNAPSHOT_SAVE:
                return handle_snapshot(c, f);
        case CTL_REQ_WATCH:
                return handle_watch(c, f);
        case CTL_REQ_SESSION_WATCH:
                return handle_session_watch(c, f);
        case CTL_REQ_PING:
                return handle_ping(c, f);
        default:
                assert_not_reached();
        }
}

/* ---- socket I/O -------------------------------------------------------- */

static bool conn_streaming(Conn *c) {
        Task *t;

        list_foreach(t, &c->tasks, link)
                if (t->kind == TASK_SNAPSHOT && t->fd >= 0)
                        return true;
        return false;
}

static void conn_update_events(Conn *c) {
        uint32_t ev = c->close_after_flush ? 0 : EPOLLIN;

        /* Writable wakes us to send more, also to produce the next
         * snapshot chunk once the queue drained. */
        if (c->out_pos < c->out.len || conn_streaming(c))
                ev |= EPOLLOUT;
        (void) sd_event_source_set_io_events(c->io, ev);
}

/* Cuts complete frames off the front of `in` and dispatches them. */
static void conn_process_input(Conn *c) {
        size_t pos = 0;

        while (!c->dead && !c->close_after_flush) {
                CtlFrame f;
                int k = ctl_frame_parse(c->in.data + pos, c->in.len - pos, &f);

                if (k == 0)
                        break;
                if (k == -EPROTONOSUPPORT) {
                        char msg[96];
                        snprintf(msg, sizeof(msg), "control protocol version %u is not supported (daemon speaks %u)",
                                 c->in.data[pos + 4], CTL_PROTO_VERSION);
                        c->close_after_flush = true;
                        conn_error(c, f.id, -EPROTONOSUPPORT, msg);
                        break;
                }
                if (k < 0) {
                        log_debug("Control client (pid %d) sent a bad frame, closing.", (int) c->pid);
                        conn_kill(c);
                        break;
                }
                dispatch(c, &f);
                pos += (size_t) k;
        }
        if (pos > 0) {
                memmove(c->in.data, c->in.data + pos, c->in.len - pos);
                c->in.len -= pos;
        }
}

static int conn_io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Conn *c = userdata;

        if (revents & EPOLLIN) {
                ssize_t k;

                if (buf_reserve(&c->in, 64 * 1024) < 0) {
                        conn_kill(c);
                        return 0;
                }
                k = recv(fd, c->in.data + c->in.len, 64 * 1024, MSG_DONTWAIT);
                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                        conn_kill(c);
                        return 0;
                }
                if (k > 0) {
                        c->in.len += (size_t) k;
                        conn_process_input(c);
                }
        } else if (revents & (EPOLLHUP | EPOLLERR)) {
                conn_kill(c);
                return 0;
        }
        if (!c->dead && (revents & EPOLLOUT))
                conn_flush(c);
        if (!c->dead)
                conn_pump_snapshot(c);
        return 0;
}

static void read_peer_credentials(ControlServer *srv, Conn *c) {
        struct ucred cred = { .pid = 0, .uid = (uid_t) -1, .gid = (gid_t) -1 };
        socklen_t len = sizeof(cred);
        gid_t groups[256];
        socklen_t glen = sizeof(groups);
        size_t n_groups = 0;

        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_warning_errno(-errno, "Failed to read control peer credentials, treating as unprivileged: %m");
                return;
        }
#ifdef SO_PEERGROUPS
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) >= 0)
                n_groups = glen / sizeof(gid_t);
#endif
        c->uid = cred.uid;
        c->pid = cred.pid;
        c->privileged = control_peer_is_privileged(cred.uid, cred.gid, groups, n_groups, geteuid(),
                                                   srv->group_gid);
}

static int accept_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ControlServer *srv = userdata;
        _cleanup_close_ int cfd = -EBADF;
        Conn *c;
        int r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_warning_errno(-errno, "Failed to accept control connection, ignoring: %m");
                return 0;
        }
        if (srv->n_conns >= CONTROL_CONNECTIONS_MAX) {
                log_warning("Too many control connections (%d), refusing one.", CONTROL_CONNECTIONS_MAX);
                return 0;
        }
        c = calloc(1, sizeof(Conn));
        if (!c)
                return 0;
        c->server = srv;
        c->fd = TAKE_FD(cfd);
        list_init(&c->tasks);
        list_append(&srv->conns, &c->link);
        srv->n_conns++;
        metric_inc(srv->m_connections);
        read_peer_credentials(srv, c);
        r = sd_event_add_io(srv->event, &c->io, c->fd, EPOLLIN, conn_io_handler, c);
        if (r < 0) {
                log_warning_errno(r, "Failed to watch control connection: %m");
                conn_free(c);
        }
        return 0;
}

/* ---- setup ------------------------------------------------------------- */

/* A socket file at `path` is stale when nothing accepts on it. */
static int remove_stale_socket(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return log_error_errno(-EEXIST, "'%s' exists and is not a socket, refusing to replace it.", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                return log_error_errno(-EADDRINUSE, "Another daemon answers on '%s'.", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return log_error_errno(-errno, "Failed to remove stale socket '%s': %m", path);
        return 0;
}

static int make_parent_dir(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "Failed to create '%s': %m", dir);
        return 0;
}

static int listen_socket(ControlServer *srv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        mode_t old_umask;
        int r;

        assert(strlen(srv->path) < sizeof(sa.sun_path));   /* conf.c checked */
        strcpy(sa.sun_path, srv->path);
        r = make_parent_dir(srv->path);
        if (r < 0)
                return r;
        r = remove_stale_socket(srv->path);
        if (r < 0)
                return r;
        srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (srv->fd < 0)
                return log_error_errno(-errno, "Failed to create control socket: %m");
        old_umask = umask(0117);        /* socket file mode 0660 from the start */
        r = bind(srv->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ? -errno : 0;
        umask(old_umask);
        if (r < 0)
                return log_error_errno(r, "Failed to bind control socket '%s': %m", srv->path);
        if (srv->group_gid != (gid_t) -1 && chown(srv->path, (uid_t) -1, srv->group_gid) < 0)
                log_warning_errno(-errno, "Failed to give '%s' to group %s, ignoring: %m", srv->path, CONTROL_GROUP);
        if (listen(srv->fd, 64) < 0)
                return log_error_errno(-errno, "Failed to listen on '%s': %m", srv->path);
        return 0;
}

int control_server_new(sd_event *e, Node *node, Metrics *metrics, const char *path, ControlServer **ret) {
        ControlServer *srv;
        struct group *g;
        int r;

        srv = calloc(1, sizeof(ControlServer));
        if (!srv)
                return log_error_errno(-ENOMEM, "Out of memory.");
        srv->event = sd_event_ref(e);
        srv->node = node;
        srv->fd = -EBADF;
        list_init(&srv->conns);
        srv->path = strdup(path);
        g = getgrnam(CONTROL_GROUP);
        srv->group_gid = g ? g->gr_gid : (gid_t) -1;
        if (!srv->path) {
                control_server_free(srv);
                return log_error_errno(-ENOMEM, "Out of memory.");
        }
        r = listen_socket(srv);         /* logs its errors */
        if (r < 0) {
                control_server_free(srv);
                return r;
        }
        r = sd_event_add_io(e, &srv->io, srv->fd, EPOLLIN, accept_handler, srv);
        if (r < 0) {
                log_error_errno(r, "Failed to watch the control socket: %m");
                control_server_free(srv);
                return r;
        }
        /* Registered only on success: a registry holds each name once. */
        srv->m_requests = metrics_counter(metrics, "raftfs_control_requests_total", NULL,
                                          "Requests received on the control socket.");
        srv->m_denied = metrics_counter(metrics, "raftfs_control_denied_total", NULL,
                                        "Control requests refused for lack of privilege.");
        srv->m_connections = metrics_counter(metrics, "raftfs_control_connections_total", NULL,
                                             "Connections accepted on the control socket.");
        log_debug("Control socket listening on %s.", path);
        *ret = srv;
        return 0;
}

ControlServer *control_server_free(ControlServer *srv) {
        Conn *c, *tmp;

        if (!srv)
                return NULL;
        list_foreach_safe(c, tmp, &srv->conns, link)
                conn_free(c);
        sd_event_source_disable_unref(srv->io);
        if (srv->fd >= 0) {
                safe_close(srv->fd);
                (void) unlink(srv->path);
        }
        free(srv->path);
        sd_event_unref(srv->event);
        return mfree(srv);
}
