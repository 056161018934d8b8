#include "config.h"

/* lock.c — raftfsctl lock: run a command while holding a cluster lock.
 *
 *     raftfsctl lock [-n] [-w SECONDS] [-s] [-k SECONDS] PATH -- COMMAND [ARG...]
 *
 * Sequence:
 *   1. ask the daemon for its status (node name, session ttl) and subscribe
 *      to session events on the control socket; refuse to start without a
 *      healthy session;
 *   2. open PATH in the mount (creating it like flock(1) does) and flock()
 *      it — shared with -s, failing at once with -n, giving up after -w
 *      seconds (an alarm interrupts the wait; the daemon cancels the queued
 *      request on the FUSE interrupt);
 *   3. read this holder's fencing token from the user.raftfs.lock xattr
 *      (the line with node=<this node> pid=<our pid>) and export it to the
 *      child as RAFTFS_FENCE;
 *   4. run COMMAND in its own process group (given the terminal when we
 *      have it), forward SIGINT/SIGTERM/SIGHUP to that group, and watch:
 *      when the daemon reports the session in jeopardy, expired or stopping,
 *      or stops answering pings, or closes the socket, the group gets
 *      SIGTERM and, after the grace period (-k, default 5 s), SIGKILL;
 *   5. exit with the child's status (128 + signal when killed).
 *
 * Testing: with RAFTFSCTL_TESTING_FENCE=<token> in the environment the
 * mount check and the xattr read are skipped and <token> is exported, so
 * the monitoring above can be tested on any local file with real daemons
 * before (and independently of) the FUSE mount. Not for production use.
 *
 * The lock fd is close-on-exec: the lock belongs to this process, and
 * PR_SET_PDEATHSIG makes sure the child never outlives it unprotected (if
 * raftfsctl is killed, the kernel releases the lock and the child gets
 * SIGKILL). */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "daemon/control-proto.h"

#define FUSE_SUPER_MAGIC 0x65735546
#define LOCK_XATTR "user.raftfs.lock"
#define DEFAULT_GRACE_MS 5000

typedef struct LockArgs {
        bool nonblock;
        bool shared;
        double wait_s;                  /* < 0: wait forever */
        uint64_t grace_ms;
        const char *path;
        char **command;
} LockArgs;

typedef struct Monitor {
        Ctl *ctl;
        pid_t child;
        int sfd;
        uint32_t session_id;            /* request id of the session watch */
        uint32_t ping_id;               /* outstanding ping, 0 none */
        uint64_t ping_sent_ms;
        uint64_t next_ping_ms;
        uint64_t ping_interval_ms;
        uint64_t ping_deadline_ms;
        uint64_t kill_at_ms;            /* SIGKILL deadline once terminating, 0 otherwise */
        bool terminating;
        int status;
} Monitor;

static volatile sig_atomic_t alarm_fired;

static void alarm_handler(int sig) {
        alarm_fired = 1;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int parse_seconds(const char *s, double *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e6)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_lock_args(int argc, char **argv, LockArgs *a) {
        static const struct option options[] = {
                { "nonblock", no_argument, NULL, 'n' },
                { "wait", required_argument, NULL, 'w' },
                { "timeout", required_argument, NULL, 'w' },
                { "shared", no_argument, NULL, 's' },
                { "kill-after", required_argument, NULL, 'k' },
                {}
        };
        double v;
        int c;

        *a = (LockArgs) { .wait_s = -1, .grace_ms = DEFAULT_GRACE_MS };
        optind = 0;     /* reset getopt for the subcommand's argv */
        while ((c = getopt_long(argc, argv, "+nw:sk:", options, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        a->nonblock = true;
                        break;
                case 's':
                        a->shared = true;
                        break;
                case 'w':
                        if (parse_seconds(optarg, &a->wait_s) < 0)
                                return ctl_usage("lock: invalid -w SECONDS '%s'", optarg);
                        break;
                case 'k':
                        if (parse_seconds(optarg, &v) < 0)
                                return ctl_usage("lock: invalid -k SECONDS '%s'", optarg);
                        a->grace_ms = (uint64_t) (v * 1000);
                        break;
                default:
                        return ctl_usage("lock: bad option");
                }
        }
        if (a->nonblock && a->wait_s >= 0)
                return ctl_usage("lock: -n and -w exclude each other");
        if (optind >= argc)
                return ctl_usage("lock: expected PATH -- COMMAND [ARG...]");
        a->path = argv[optind++];
        if (optind < argc && strcmp(argv[optind], "--") == 0)
                optind++;
        if (optind >= argc)
                return ctl_usage("lock: expected COMMAND after PATH");
        a->command = argv + optind;
        return 0;
}

/* ---- talking to the daemon --------------------------------------------- */

static int fetch_status(Ctl *ctl, CtlStatus *ret) {
        Buf req = BUF_INIT;
        CtlFrame f;
        uint32_t id = ctl_client_next_id(ctl->client);
        int r;

        if (ctl_put_empty(&req, CTL_REQ_STATUS, id) < 0)
                return ctl_fail("out of memory");
        r = ctl_client_call(ctl->client, &req, id, 10000, &f);
        buf_done(&req);
        if (r < 0)
                return ctl_fail_io(ctl, "lock", r);
        if (f.type == CTL_RESP_ERROR)
                return ctl_fail_frame("lock", &f);
        if (f.type != CTL_RESP_STATUS || ctl_get_status(&f, ret) < 0)
                return ctl_fail("lock: malformed status from raftfsd");
        return 0;
}

static int send_simple(Ctl *ctl, uint8_t type, uint32_t id, uint64_t nonce) {
        Buf req = BUF_INIT;
        int r;

        r = type == CTL_REQ_PING ? ctl_put_u64(&req, type, id, nonce) : ctl_put_empty(&req, type, id);
        if (r >= 0)
                r = ctl_client_send(ctl->client, &req);
        buf_done(&req);
        return r;
}

/* ---- the lock ---------------------------------------------------------- */

static int open_lock_file(const char *path) {
        int fd = open(path, O_RDONLY | O_NOCTTY | O_CREAT | O_CLOEXEC, 0666);

        if (fd < 0 && (errno == EISDIR || errno == EACCES || errno == EROFS))
                fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* flock() with the -n/-w policy. 0, -EWOULDBLOCK, -ETIMEDOUT or -errno. */
static int take_lock(int fd, const LockArgs *a) {
        struct sigaction sa = { .sa_handler = alarm_handler }, old;
        struct itimerval it = {};
        int op = (a->shared ? LOCK_SH : LOCK_EX) | (a->nonblock ? LOCK_NB : 0), r;

        if (a->wait_s < 0)
                return flock(fd, op) < 0 ? -errno : 0;
        if (a->wait_s == 0)
                return flock(fd, op | LOCK_NB) < 0 ? (errno == EWOULDBLOCK ? -ETIMEDOUT : -errno) : 0;

        /* No SA_RESTART: the alarm must interrupt the wait. */
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGALRM, &sa, &old);
        it.it_value.tv_sec = (time_t) a->wait_s;
        it.it_value.tv_usec = (suseconds_t) ((a->wait_s - (double) it.it_value.tv_sec) * 1e6);
        if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
                it.it_value.tv_usec = 1;
        (void) setitimer(ITIMER_REAL, &it, NULL);
        r = flock(fd, op) < 0 ? -errno : 0;
        it = (struct itimerval) {};
        (void) setitimer(ITIMER_REAL, &it, NULL);
        (void) sigaction(SIGALRM, &old, NULL);
        if (r == -EINTR && alarm_fired)
                return -ETIMEDOUT;
        return r;
}

/* Finds our holder line in the user.raftfs.lock text and returns its token. */
static int read_fence(int fd, const char *node, uint64_t *ret) {
        char buf[65536], want_node[96], want_pid[32];
        ssize_t n;

        n = fgetxattr(fd, LOCK_XATTR, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        snprintf(want_node, sizeof(want_node), "node=%s", node);
        snprintf(want_pid, sizeof(want_pid), "pid=%d", (int) getpid());
        for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                bool node_ok = false, pid_ok = false;
                uint64_t token = 0;
                char *s2 = NULL;

                if (strncmp(line, "waiting", 7) == 0)
                        continue;
                for (char *w = strtok_r(line, " ", &s2); w; w = strtok_r(NULL, " ", &s2)) {
                        if (strcmp(w, want_node) == 0)
                                node_ok = true;
                        else if (strcmp(w, want_pid) == 0)
                                pid_ok = true;
                        else if (strncmp(w, "token=", 6) == 0)
                                token = strtoull(w + 6, NULL, 10);
                }
                if (node_ok && pid_ok && token > 0) {
                        *ret = token;
                        return 0;
                }
        }
        return -ENOENT;
}

/* ---- the child --------------------------------------------------------- */

static bool have_terminal(void) {
        return isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
}

static _noreturn_ void exec_child(char **command, uint64_t token, pid_t parent, bool terminal,
                                  const sigset_t *old_mask) {
        char fence[32];

        (void) setpgid(0, 0);
        if (terminal)
                (void) tcsetpgrp(STDIN_FILENO, getpid());
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)        /* the parent died before prctl */
                _exit(128 + SIGKILL);
        (void) sigprocmask(SIG_SETMASK, old_mask, NULL);
        snprintf(fence, sizeof(fence), "%" PRIu64, token);
        (void) setenv("RAFTFS_FENCE", fence, 1);
        execvp(command[0], command);
        fprintf(stderr, "raftfsctl: lock: cannot run '%s': %s\n", command[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
}

/* ---- monitoring -------------------------------------------------------- */

static void terminate_child(Monitor *m, const char *why) {
        if (m->terminating)
                return;
        m->terminating = true;
        fprintf(stderr, "raftfsctl: lock: %s; terminating %d.\n", why, (int) m->child);
        (void) kill(-m->child, SIGTERM);
        m->kill_at_ms = now_ms() + MAX((uint64_t) 1, m->kill_at_ms);
}

static void handle_signal(Monitor *m) {
        struct signalfd_siginfo si;

        while (read(m->sfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                if (si.ssi_signo == SIGCHLD) {
                        int status;
                        pid_t p = waitpid(m->child, &status, WNOHANG);
                        if (p == m->child) {
                                m->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                                m->child = 0;
                                return;
                        }
                        continue;
                }
                /* SIGINT/SIGTERM/SIGHUP sent to us: pass them on. */
                (void) kill(-m->child, (int) si.ssi_signo);
        }
}

static void handle_frame(Monitor *m, const CtlFrame *f) {
        CtlSession s;
        char why[96];

        if (f->type == CTL_RESP_PONG && f->id == m->ping_id) {
                m->ping_id = 0;
                if (ctl_get_session(f, NULL, &s) >= 0 && s.state != CTL_SESSION_OK) {
                        snprintf(why, sizeof(why), "session %s", ctl_session_state_to_string(s.state));
                        terminate_child(m, why);
                }
                return;
        }
        if (f->type == CTL_EVT_SESSION && f->id == m->session_id) {
                if (ctl_get_session(f, NULL, &s) < 0)
                        return terminate_child(m, "malformed session event from raftfsd");
                if (s.state != CTL_SESSION_OK) {
                        snprintf(why, sizeof(why), "session %s (the lock may be lost)",
                                 ctl_session_state_to_string(s.state));
                        terminate_child(m, why);
                }
                return;
        }
        if (f->type == CTL_RESP_ERROR)
                terminate_child(m, "raftfsd refused the session watch");
}

static void monitor_step(Monitor *m) {
        struct pollfd p[2] = {
                { .fd = m->sfd, .events = POLLIN },
                { .fd = m->ctl->client ? ctl_client_fd(m->ctl->client) : -1, .events = POLLIN },
        };
        uint64_t now = now_ms(), wake = UINT64_MAX;
        int timeout, r;

        if (m->terminating)
                wake = m->kill_at_ms;
        else if (m->ping_id)
                wake = m->ping_sent_ms + m->ping_deadline_ms;
        else
                wake = m->next_ping_ms;
        timeout = wake == UINT64_MAX ? -1 : wake <= now ? 0 : (int) MIN(wake - now, (uint64_t) 60000);

        r = poll(p, 2, timeout);
        if (r < 0 && errno != EINTR)
                return terminate_child(m, "poll failed");
        if (p[0].revents & POLLIN)
                handle_signal(m);
        if (!m->child)
                return;
        if (p[1].revents) {
                CtlFrame f;
                while ((r = ctl_client_read(m->ctl->client, 0, &f)) > 0)
                        handle_frame(m, &f);
                if (r < 0) {
                        m->ctl->client = ctl_client_free(m->ctl->client);
                        terminate_child(m, "lost the connection to raftfsd");
                }
        }

        now = now_ms();
        if (m->terminating) {
                if (m->kill_at_ms && now >= m->kill_at_ms) {
                        fprintf(stderr, "raftfsctl: lock: %d did not exit, killing it.\n", (int) m->child);
                        (void) kill(-m->child, SIGKILL);
                        m->kill_at_ms = 0;
                }
                return;
        }
        if (m->ping_id && now >= m->ping_sent_ms + m->ping_deadline_ms)
                return terminate_child(m, "raftfsd stopped answering");
        if (!m->ping_id && now >= m->next_ping_ms) {
                m->ping_id = ctl_client_next_id(m->ctl->client);
                m->ping_sent_ms = now;
                m->next_ping_ms = now + m->ping_interval_ms;
                if (send_simple(m->ctl, CTL_REQ_PING, m->ping_id, now) < 0)
                        terminate_child(m, "lost the connection to raftfsd");
        }
}

/* ---- the command ------------------------------------------------------- */

static int run_locked(Ctl *ctl, const LockArgs *a, const CtlStatus *st, int lock_fd, uint64_t token) {
        sigset_t mask, old_mask;
        bool terminal = have_terminal();
        Monitor m = { .ctl = ctl };
        pid_t parent = getpid();

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTTOU);      /* for tcsetpgrp() from the background */
        if (sigprocmask(SIG_BLOCK, &mask, &old_mask) < 0)
                return ctl_fail("lock: cannot block signals: %m");
        sigdelset(&mask, SIGTTOU);
        m.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (m.sfd < 0)
                return ctl_fail("lock: signalfd: %m");

        /* Ping well within the time the session survives without us. */
        m.ping_interval_ms = CLAMP(st->session_ttl_ms / 10, (uint64_t) 100, (uint64_t) 1000);
        m.ping_deadline_ms = CLAMP(st->session_ttl_ms / 4, (uint64_t) 250, (uint64_t) 3000);
        m.next_ping_ms = now_ms() + m.ping_interval_ms;
        m.kill_at_ms = a->grace_ms;     /* stored as the grace until terminate_child() */

        m.child = fork();
        if (m.child < 0)
                return ctl_fail("lock: fork: %m");
        if (m.child == 0) {
                (void) close(m.sfd);
                exec_child(a->command, token, parent, terminal, &old_mask);
        }
        (void) setpgid(m.child, m.child);
        if (terminal)
                (void) tcsetpgrp(STDIN_FILENO, m.child);

        while (m.child > 0)
                monitor_step(&m);

        if (terminal)
                (void) tcsetpgrp(STDIN_FILENO, getpgrp());
        (void) flock(lock_fd, LOCK_UN);
        (void) close(m.sfd);
        (void) sigprocmask(SIG_SETMASK, &old_mask, NULL);
        return m.status;
}

int ctl_cmd_lock(Ctl *ctl, int argc, char **argv) {
        _cleanup_(ctl_status_done) CtlStatus st = {};
        _cleanup_close_ int fd = -EBADF;
        const char *testing;
        struct statfs sfs;
        LockArgs a;
        uint64_t token = 0;
        uint32_t watch_id;
        CtlFrame f;
        CtlSession s;
        int r;

        r = parse_lock_args(argc, argv, &a);
        if (r != 0)
                return r;
        r = ctl_connect(ctl);
        if (r != 0)
                return r;
        r = fetch_status(ctl, &st);
        if (r != 0)
                return r;

        /* Subscribe before locking, so no jeopardy report can be missed. */
        watch_id = ctl_client_next_id(ctl->client);
        r = send_simple(ctl, CTL_REQ_SESSION_WATCH, watch_id, 0);
        if (r >= 0)
                r = ctl_client_read(ctl->client, 10000, &f);
        if (r == 0)
                r = -ETIMEDOUT;
        if (r < 0)
                return ctl_fail_io(ctl, "lock", r);
        if (f.type == CTL_RESP_ERROR)
                return ctl_fail_frame("lock", &f);
        if (f.type != CTL_EVT_SESSION || ctl_get_session(&f, NULL, &s) < 0)
                return ctl_fail("lock: malformed session event from raftfsd");
        if (s.state != CTL_SESSION_OK)
                return ctl_fail("lock: node %s has no healthy session (%s); not locking", st.node,
                                ctl_session_state_to_string(s.state));

        testing = getenv("RAFTFSCTL_TESTING_FENCE");
        fd = open_lock_file(a.path);
        if (fd < 0)
                return ctl_fail("lock: cannot open '%s': %s", a.path, strerror(-fd));
        if (!testing && (fstatfs(fd, &sfs) < 0 || sfs.f_type != FUSE_SUPER_MAGIC))
                return ctl_fail("lock: '%s' is not on a raftfs mount", a.path);

        r = take_lock(fd, &a);
        if (r == -EWOULDBLOCK)
                return ctl_fail("lock: '%s' is locked by another holder", a.path);
        if (r == -ETIMEDOUT)
                return ctl_fail("lock: timed out waiting for '%s'", a.path);
        if (r < 0)
                return ctl_fail("lock: cannot lock '%s': %s", a.path, strerror(-r));

        if (testing)
                token = strtoull(testing, NULL, 10);
        r = testing ? 0 : read_fence(fd, st.node, &token);
        if (r < 0)
                return ctl_fail("lock: cannot read the fencing token of '%s' (%s): %s", a.path, LOCK_XATTR,
                                r == -ENOENT ? "no holder line for this process" : strerror(-r));
        return run_locked(ctl, &a, &st, fd, token);
}
