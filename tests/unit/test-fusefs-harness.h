/* test-fusefs-harness.h — a real FUSE mount over a fake, single-node backend.
 *
 * A server thread owns an sd_event loop, a Tree and a FuseFs mounted at a
 * fresh mkdtemp() directory. The fake backend stamps and encodes every
 * proposal and applies it on the next turn of the loop (as if the cluster
 * committed it at once), then calls the completion and
 * fusefs_notify_applied(), in the order the real daemon must use. Read
 * barriers complete on the next turn too. Switches make it misbehave like a
 * node without quorum: `stall` keeps proposals and barriers until their
 * deadline (then -EROFS / -EIO), `quorum` is what has_quorum() says.
 *
 * The test thread does ordinary syscalls on the mount (and forks children
 * for lock tests) and runs code on the loop thread with srv_call(), e.g. to
 * apply a command as another node ("n2", a second session).
 *
 * Needs root and /dev/fuse: tests call srv_skip_unless_possible() first,
 * which exits 77 (skipped) otherwise. Cleanup always unmounts lazily. */
#pragma once

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "fusefs/fusefs.h"
#include "lib/buf.h"
#include "lib/codec.h"
#include "lib/list.h"
#include "lib/macro.h"
#include "tree/tree.h"

typedef struct FakePending {
        ListNode node;
        Buf cmd;                /* encoded; empty for a barrier */
        bool barrier;
        uint64_t deadline;
        FsDoneFn done;
        void *ud;
} FakePending;

/* A completion waiting for delivery (the daemon delivers proposal results
 * from a deferred event source, after the notices of the entry). */
typedef struct FakeDone {
        ListNode node;
        FsDoneFn done;
        void *ud;
        int r;
        uint64_t index;
        bool has_result;
        TreeResult res;
} FakeDone;

typedef struct Srv {
        /* loop thread state */
        sd_event *e;
        sd_event_source *defer, *timer, *call_src, *done_src;
        List dones;             /* FakeDone */
        bool sync_done;         /* complete inside the apply, before notices */
        Tree *tree;
        uint64_t index;
        uint64_t session;       /* n1 (us) */
        uint64_t session2;      /* n2 (a simulated remote node) */
        uint64_t request, request2;
        FuseFs *fs;
        List pending;
        TreeNotices notices;

        /* switches (set through srv_call or before start) */
        bool quorum;
        bool stall;
        bool blackhole;         /* never complete (the watchdog must) */
        List held;
        bool no_session;
        uint64_t proposals;     /* proposals applied */
        uint64_t barriers;
        FuseFsOptions opts;

        /* thread plumbing */
        pthread_t thread;
        int call_fd;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        void (*call_fn)(struct Srv *s, void *arg);
        void *call_arg;
        bool call_done;
        bool ready;
        int start_error;
        char dir[64];
        char mnt[128];
        unsigned conn;                  /* fusectl connection number (minor of st_dev) */
        pid_t reaper;                   /* srv_reaper_start() */
} Srv;

static Srv *srv_global;

static uint64_t srv_now(Srv *s) {
        uint64_t now;
        sd_event_now(s->e, CLOCK_MONOTONIC, &now);
        return now;
}

static uint64_t realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void srv_complete(Srv *s, FsDoneFn done, void *ud, int r, uint64_t index, const TreeResult *res) {
        if (s->sync_done) {
                done(ud, r, index, res);
                return;
        }
        FakeDone *d = calloc(1, sizeof(*d));
        ck_assert_ptr_nonnull(d);
        *d = (FakeDone) { .done = done, .ud = ud, .r = r, .index = index, .has_result = res != NULL };
        if (res)
                d->res = *res;
        list_append(&s->dones, &d->node);
        sd_event_source_set_enabled(s->done_src, SD_EVENT_ONESHOT);
}

static int srv_done_handler(sd_event_source *src, void *ud) {
        Srv *s = ud;
        while (!list_empty(&s->dones)) {
                FakeDone *d = list_entry(list_first(&s->dones), FakeDone, node);
                list_remove(&d->node);
                d->done(d->ud, d->r, d->index, d->has_result ? &d->res : NULL);
                free(d);
        }
        return 0;
}

/* Applies encoded bytes at the next index; returns the TreeResult in *res. */
static void srv_apply_bytes(Srv *s, const Buf *b, TreeResult *res, FsDoneFn done, void *ud) {
        tree_notices_clear(&s->notices);
        s->index++;
        int r = tree_apply(s->tree, s->index, b->data, b->len, res, &s->notices);
        ck_assert_int_eq(r, 0);
        if (done && s->sync_done)
                done(ud, res->err, s->index, res);
        else if (done)
                srv_complete(s, done, ud, res->err, s->index, res);
        if (s->fs)
                fusefs_notify_applied(s->fs, s->index, le64_load(b->data + 2), le64_load(b->data + 10),
                                      s->notices.items, s->notices.n);
}

/* Applies cmd as author `session` (0: none) right now, on the loop thread. */
static int srv_apply_as(Srv *s, TreeCmd *cmd, uint64_t session) {
        Buf b = BUF_INIT;
        TreeResult res;
        cmd->session = session;
        cmd->request = session == 0 ? 0 : session == s->session2 ? ++s->request2 : ++s->request;
        cmd->ack = 0;
        cmd->time_usec = realtime_usec();
        ck_assert_int_eq(tree_cmd_encode(cmd, &b), 0);
        srv_apply_bytes(s, &b, &res, NULL, NULL);
        buf_done(&b);
        return res.err;
}

static void srv_arm_timer(Srv *s) {
        uint64_t next = UINT64_MAX;
        FakePending *p;
        list_foreach(p, &s->pending, node)
                next = MIN(next, p->deadline);
        if (next == UINT64_MAX)
                sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
        else {
                sd_event_source_set_time(s->timer, next);
                sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
        }
}

static void srv_process(Srv *s) {
        FakePending *p, *tmp;
        uint64_t now = srv_now(s);

        list_foreach_safe(p, tmp, &s->pending, node) {
                if (s->blackhole) {
                        list_remove(&p->node);
                        list_append(&s->held, &p->node);
                        continue;
                }
                if (s->stall && p->deadline > now)
                        continue;
                list_remove(&p->node);
                if (s->stall) {
                        srv_complete(s, p->done, p->ud, p->barrier ? -EIO : -EROFS, 0, NULL);
                } else if (p->barrier) {
                        s->barriers++;
                        srv_complete(s, p->done, p->ud, 0, s->index, NULL);
                } else {
                        TreeResult res;
                        s->proposals++;
                        srv_apply_bytes(s, &p->cmd, &res, p->done, p->ud);
                }
                buf_done(&p->cmd);
                free(p);
        }
        srv_arm_timer(s);
}

static int srv_defer_handler(sd_event_source *src, void *ud) {
        srv_process(ud);
        return 0;
}

static int srv_timer_handler(sd_event_source *src, uint64_t usec, void *ud) {
        srv_process(ud);
        return 0;
}

static void srv_kick(Srv *s) {
        sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
}

static int fake_propose(void *ud, TreeCmd *cmd, uint64_t deadline, FsDoneFn done, void *cb_ud) {
        Srv *s = ud;
        if (cmd->type == TREE_CMD_LOCK || cmd->type == TREE_CMD_LOCK_CANCEL ||
            cmd->type == TREE_CMD_LOCK_RELEASE) {
                if (s->no_session)
                        return -ENOLINK;
        }
        FakePending *p = calloc(1, sizeof(*p));
        ck_assert_ptr_nonnull(p);
        cmd->session = s->no_session ? 0 : s->session;
        cmd->request = ++s->request;
        cmd->ack = 0;
        cmd->time_usec = realtime_usec();
        ck_assert_int_eq(tree_cmd_encode(cmd, &p->cmd), 0);
        p->deadline = deadline;
        p->done = done;
        p->ud = cb_ud;
        list_append(&s->pending, &p->node);
        srv_kick(s);
        srv_arm_timer(s);
        return 0;
}

static int fake_barrier(void *ud, uint64_t deadline, FsDoneFn done, void *cb_ud) {
        Srv *s = ud;
        FakePending *p = calloc(1, sizeof(*p));
        ck_assert_ptr_nonnull(p);
        p->barrier = true;
        p->deadline = deadline;
        p->done = done;
        p->ud = cb_ud;
        list_append(&s->pending, &p->node);
        srv_kick(s);
        srv_arm_timer(s);
        return 0;
}

static const Tree *fake_tree(void *ud) {
        return ((Srv *) ud)->tree;
}
static bool fake_has_quorum(void *ud) {
        return ((Srv *) ud)->quorum;
}
static uint64_t fake_node_id(void *ud) {
        return 1;
}
static uint64_t fake_session_id(void *ud) {
        Srv *s = ud;
        return s->no_session ? 0 : s->session;
}
static const char *fake_node_name(void *ud, uint64_t id) {
        return id == 1 ? "n1" : id == 2 ? "n2" : NULL;
}
static int fake_info(void *ud, FsInfo what, Buf *out) {
        Srv *s = ud;
        char text[256];
        switch (what) {
        case FS_INFO_STATUS:
                snprintf(text, sizeof(text),
                         "node: n1\nrole: leader\nterm: 1\nleader: n1\ncommit: %llu\napplied: %llu\n"
                         "members: n1\nsession: %llu\nquorum: %s\n",
                         (unsigned long long) s->index, (unsigned long long) s->index,
                         (unsigned long long) s->session, s->quorum ? "yes" : "no");
                break;
        case FS_INFO_LEADER:
                snprintf(text, sizeof(text), "n1\n");
                break;
        case FS_INFO_MEMBERS:
                snprintf(text, sizeof(text), "n1 127.0.0.1:7001 voter\n");
                break;
        case FS_INFO_METRICS:
                snprintf(text, sizeof(text), "# TYPE raftfs_applied_index gauge\nraftfs_applied_index %llu\n",
                         (unsigned long long) s->index);
                break;
        default:
                return -EINVAL;
        }
        return buf_append(out, text, strlen(text));
}

static const FsBackend fake_backend = {
        .propose = fake_propose,
        .read_barrier = fake_barrier,
        .tree = fake_tree,
        .has_quorum = fake_has_quorum,
        .node_id = fake_node_id,
        .session_id = fake_session_id,
        .node_name = fake_node_name,
        .info = fake_info,
};

static int srv_call_handler(sd_event_source *src, int fd, uint32_t revents, void *ud) {
        Srv *s = ud;
        uint64_t v;
        (void) !read(fd, &v, sizeof(v));
        pthread_mutex_lock(&s->lock);
        if (s->call_fn) {
                s->call_fn(s, s->call_arg);
                s->call_fn = NULL;
                s->call_done = true;
                pthread_cond_broadcast(&s->cond);
        }
        pthread_mutex_unlock(&s->lock);
        return 0;
}

/* Runs fn(s, arg) on the loop thread and waits for it. */
static void srv_call(Srv *s, void (*fn)(Srv *s, void *arg), void *arg) {
        uint64_t one = 1;
        pthread_mutex_lock(&s->lock);
        s->call_fn = fn;
        s->call_arg = arg;
        s->call_done = false;
        ck_assert_int_eq(write(s->call_fd, &one, sizeof(one)), (int) sizeof(one));
        while (!s->call_done)
                pthread_cond_wait(&s->cond, &s->lock);
        pthread_mutex_unlock(&s->lock);
}

static void srv_exit_fn(Srv *s, void *arg) {
        sd_event_exit(s->e, 0);
}

static void *srv_thread(void *ud) {
        Srv *s = ud;
        TreeCmd c = { .type = TREE_CMD_SESSION_OPEN };
        int r;

        sd_event_new(&s->e);
        s->tree = tree_new(NULL);
        s->index = 1;           /* index 1: the bootstrap configuration */
        list_init(&s->pending);
        list_init(&s->held);
        sd_event_add_defer(s->e, &s->defer, srv_defer_handler, s);
        sd_event_source_set_enabled(s->defer, SD_EVENT_OFF);
        sd_event_add_time(s->e, &s->timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, srv_timer_handler, s);
        sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
        sd_event_add_io(s->e, &s->call_src, s->call_fd, EPOLLIN, srv_call_handler, s);
        list_init(&s->dones);
        sd_event_add_defer(s->e, &s->done_src, srv_done_handler, s);
        sd_event_source_set_enabled(s->done_src, SD_EVENT_OFF);

        c.session_open.node = "n1";
        ck_assert_int_eq(srv_apply_as(s, &c, 0), 0);
        s->session = s->index;
        c = (TreeCmd) { .type = TREE_CMD_SESSION_OPEN };
        c.session_open.node = "n2";
        ck_assert_int_eq(srv_apply_as(s, &c, 0), 0);
        s->session2 = s->index;

        s->opts.mountpoint = s->mnt;
        r = fusefs_new(s->e, &s->opts, &fake_backend, s, &s->fs);

        pthread_mutex_lock(&s->lock);
        s->start_error = r;
        s->ready = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);

        if (r >= 0)
                sd_event_loop(s->e);

        s->fs = fusefs_free(s->fs);
        /* Late completions of orphaned requests: delivered and ignored. */
        srv_done_handler(NULL, s);
        /* Fail what the backend still holds, as the daemon would (late:
         * after fusefs_free, which must have detached them). */
        while (!list_empty(&s->held)) {
                FakePending *p = list_entry(list_first(&s->held), FakePending, node);
                list_remove(&p->node);
                list_append(&s->pending, &p->node);
        }
        while (!list_empty(&s->pending)) {
                FakePending *p = list_entry(list_first(&s->pending), FakePending, node);
                list_remove(&p->node);
                p->done(p->ud, p->barrier ? -EIO : -EROFS, 0, NULL);
                buf_done(&p->cmd);
                free(p);
        }
        sd_event_source_disable_unref(s->done_src);
        sd_event_source_disable_unref(s->defer);
        sd_event_source_disable_unref(s->timer);
        sd_event_source_disable_unref(s->call_src);
        sd_event_unref(s->e);
        tree_free(s->tree);
        tree_notices_done(&s->notices);
        return NULL;
}

static void srv_skip_unless_possible(void) {
        if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) < 0) {
                fprintf(stderr, "test-fusefs: needs root and /dev/fuse, skipping\n");
                exit(77);
        }
}

/* Check ends a failed test with _exit() while the mount is up. The exit
 * closes the files the test still had open on the mount, and flushing them
 * waits for the server thread, which the exit has already stopped; the lock
 * children forked by the test hold a copy of /dev/fuse, so the connection is
 * not aborted either. The test process never ends and its failure is never
 * reported (the soak found tests/unit/test-fusefs-lock stuck like this).
 * A small reaper process, outside the test's process group (Check kills
 * that group on a timeout), waits for the test thread to die
 * (PR_SET_PDEATHSIG) and then aborts the connection through fusectl, which
 * turns every such wait into ENOTCONN. srv_stop() ends it. The child only
 * makes async-signal-safe calls: the test process has threads. */
static pid_t srv_reaper_start(unsigned conn) {
        pid_t parent = getpid(), pid;
        char path[64];
        sigset_t set;
        int sig, fd;

        snprintf(path, sizeof(path), "/sys/fs/fuse/connections/%u/abort", conn);
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        pid = fork();
        if (pid != 0)
                return pid;
        (void) setpgid(0, 0);
        (void) sigprocmask(SIG_BLOCK, &set, NULL);
        (void) close_range(3, ~0U, 0);  /* /dev/fuse above all */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
                _exit(1);
        if (getppid() == parent)
                (void) sigwait(&set, &sig);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0)
                (void) !write(fd, "1", 1);
        _exit(0);
}

/* Mounts. opts may be NULL; tweak takes the options before the start. */
static Srv *srv_start(const FuseFsOptions *opts) {
        struct stat st;
        Srv *s = calloc(1, sizeof(Srv));
        ck_assert_ptr_nonnull(s);
        strcpy(s->dir, "/tmp/test-fusefs-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(s->dir));
        snprintf(s->mnt, sizeof(s->mnt), "%s/mnt", s->dir);
        ck_assert_int_eq(mkdir(s->mnt, 0755), 0);
        s->quorum = true;
        if (opts)
                s->opts = *opts;
        if (s->opts.op_timeout_usec == 0)
                s->opts.op_timeout_usec = 300 * 1000;
        s->opts.fsname = "raftfs-test";
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        s->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ck_assert_int_ge(s->call_fd, 0);
        srv_global = s;

        ck_assert_int_eq(pthread_create(&s->thread, NULL, srv_thread, s), 0);
        pthread_mutex_lock(&s->lock);
        while (!s->ready)
                pthread_cond_wait(&s->cond, &s->lock);
        pthread_mutex_unlock(&s->lock);
        if (s->start_error < 0) {
                fprintf(stderr, "fusefs_new: %s\n", strerror(-s->start_error));
                pthread_join(s->thread, NULL);
                rmdir(s->mnt);
                rmdir(s->dir);
                ck_abort_msg("mount failed");
        }
        ck_assert_int_eq(stat(s->mnt, &st), 0);
        s->conn = minor(st.st_dev);
        s->reaper = srv_reaper_start(s->conn);
        ck_assert_int_gt(s->reaper, 0);
        return s;
}

static void srv_stop(Srv *s) {
        kill(s->reaper, SIGKILL);
        (void) waitpid(s->reaper, NULL, 0);
        srv_call(s, srv_exit_fn, NULL);
        pthread_join(s->thread, NULL);
        (void) umount2(s->mnt, MNT_DETACH);
        rmdir(s->mnt);
        rmdir(s->dir);
        close(s->call_fd);
        srv_global = NULL;
        free(s);
}

/* ---- small helpers for the test bodies ---- */

_unused_ static char *P(Srv *s, const char *rel) {
        static char bufs[8][512];
        static int i;
        char *b = bufs[i++ % 8];
        snprintf(b, 512, "%s/%s", s->mnt, rel);
        return b;
}

/* Writes text with open(O_TRUNC)+write+close; returns 0 or -errno (of
 * whichever step failed first; close's is what the commit said). */
_unused_ static int put_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
                return -errno;
        size_t n = strlen(text);
        if (n > 0 && write(fd, text, n) != (ssize_t) n) {
                int e = -errno;
                close(fd);
                return e;
        }
        if (close(fd) < 0)
                return -errno;
        return 0;
}

/* Reads the whole file into a static buffer; NULL with errno on failure. */
_unused_ static char *get_file(const char *path) {
        static char buf[65536];
        int fd = open(path, O_RDONLY);
        if (fd < 0)
                return NULL;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        int e = errno;
        close(fd);
        if (n < 0) {
                errno = e;
                return NULL;
        }
        buf[n] = 0;
        return buf;
}
