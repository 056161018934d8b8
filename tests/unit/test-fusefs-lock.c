#include "config.h"
/* test-fusefs-lock.c — cluster locks through a real mount, single node plus
 * a simulated second node ("n2": commands applied with a second session).
 *
 * flock and fcntl exclusion, shared locks, LOCK_NB, FIFO handoff between
 * local waiters and waiters of the other node, Ctrl-C (and SIGKILL) of a
 * waiter, a killed holder, POSIX release on close of any descriptor, OFD
 * locks released on the last close, user.raftfs.lock (holders, then waiters
 * in queue order, fencing tokens), lock operations without a session.
 * Needs root and /dev/fuse (exit 77 otherwise). */

#include <sys/file.h>
#include <sys/xattr.h>

#include "test-fusefs-harness.h"

/* ---- child processes ---- */

typedef struct Child {
        pid_t pid;
        int fd;                 /* read end: one byte per event */
} Child;

/* Forks a child that runs fn(path, wfd) and exits with its return. */
static Child child_start(int (*fn)(const char *path, int wfd), const char *path) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(p[0]);
                _exit(fn(path, p[1]));
        }
        close(p[1]);
        return (Child) { pid, p[0] };
}

/* Waits up to ms for one event byte; returns it, or -1 on timeout. */
static int child_event(Child *c, int ms) {
        struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
        fd_set set;
        FD_ZERO(&set);
        FD_SET(c->fd, &set);
        if (select(c->fd + 1, &set, NULL, NULL, &tv) <= 0)
                return -1;
        char b;
        return read(c->fd, &b, 1) == 1 ? b : -1;
}

static int child_wait(Child *c) {
        int status;
        ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
        close(c->fd);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void say(int wfd, char b) {
        (void) !write(wfd, &b, 1);
}

static volatile sig_atomic_t got_signal;
static void on_sigint(int sig) {
        got_signal = 1;
}

/* Takes LOCK_EX (blocking), says 'L', waits for stdin-less parent signal
 * through SIGUSR1... simply holds for a while, then exits (releasing). */
static int child_lock_hold(const char *path, int wfd) {
        int fd = open(path, O_RDONLY);
        if (fd < 0)
                return 10;
        say(wfd, 'W');
        if (flock(fd, LOCK_EX) < 0)
                return 11;
        say(wfd, 'L');
        pause();                /* until killed */
        return 0;
}

/* Blocks in flock with a SIGINT handler without SA_RESTART: expects EINTR. */
static int child_lock_interruptible(const char *path, int wfd) {
        struct sigaction sa = { .sa_handler = on_sigint };
        sigaction(SIGINT, &sa, NULL);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
                return 10;
        say(wfd, 'W');
        if (flock(fd, LOCK_EX) < 0) {
                say(wfd, errno == EINTR ? 'I' : 'E');
                return 0;
        }
        say(wfd, 'L');
        return 0;
}

/* Takes a POSIX write lock on bytes 0-9 and holds it until killed. */
static int child_posix_hold(const char *path, int wfd) {
        int fd = open(path, O_RDWR);
        int fd2 = open(path, O_RDONLY);
        struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
        sigset_t usr1;
        int sig;
        /* The parent sends SIGUSR1 as soon as it reads 'L'. It is blocked
         * from the start and taken with sigwait(): with a handler installed
         * only after 'L' the default action could kill the child first, and
         * a handler plus pause() loses a signal that lands between the check
         * and the wait. (sigsuspend() does not work under ThreadSanitizer,
         * which runs the handler only after the mask is restored.) */
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigprocmask(SIG_BLOCK, &usr1, NULL);
        if (fd < 0 || fd2 < 0 || fcntl(fd, F_SETLKW, &l) < 0)
                return 10;
        say(wfd, 'L');
        /* Closing ANY descriptor of the file drops the process's locks. */
        if (sigwait(&usr1, &sig) != 0)
                return 12;
        close(fd2);
        say(wfd, 'C');
        pause();
        return 0;
}

/* ---- the other node ---- */

typedef struct RemoteLock {
        TreeCmd cmd;
        int result;
} RemoteLock;

static void remote_apply(Srv *s, void *arg) {
        RemoteLock *r = arg;
        r->result = srv_apply_as(s, &r->cmd, s->session2);
}

static int remote_flock(Srv *s, uint64_t ino, uint8_t mode, bool wait, uint64_t owner) {
        RemoteLock r = { .cmd = { .type = TREE_CMD_LOCK } };
        r.cmd.lock.ino = ino;
        r.cmd.lock.owner = owner;
        r.cmd.lock.pid = 4711;
        r.cmd.lock.table = TREE_LOCK_FLOCK;
        r.cmd.lock.mode = mode;
        r.cmd.lock.wait = wait;
        r.cmd.lock.end = TREE_LOCK_EOF;
        srv_call(s, remote_apply, &r);
        return r.result;
}

static void remote_unflock(Srv *s, uint64_t ino, uint64_t owner) {
        RemoteLock r = { .cmd = { .type = TREE_CMD_LOCK_RELEASE } };
        r.cmd.lock_release.ino = ino;
        r.cmd.lock_release.owner = owner;
        r.cmd.lock_release.flags = TREE_RELEASE_FLOCK;
        srv_call(s, remote_apply, &r);
}

static uint64_t ino_of(const char *path) {
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        return st.st_ino;
}

static char *lock_text(const char *path) {
        static char buf[4096];
        ssize_t n = getxattr(path, "user.raftfs.lock", buf, sizeof(buf) - 1);
        ck_assert_int_ge(n, 0);
        buf[n] = 0;
        return buf;
}

static int count_lines(const char *t, const char *prefix) {
        int n = 0;
        for (const char *p = t; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, prefix, strlen(prefix)) == 0)
                        n++;
        return n;
}

/* ---------------------------------------------------------------------- */

START_TEST(test_flock_exclusion) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char *f = P(s, "lock");

        ck_assert_int_eq(put_file(f, ""), 0);
        int a = open(f, O_RDONLY), b = open(f, O_RDONLY);
        ck_assert_int_eq(flock(a, LOCK_EX), 0);
        ck_assert_int_eq(flock(b, LOCK_EX | LOCK_NB), -1);
        ck_assert_int_eq(errno, EWOULDBLOCK);
        ck_assert_int_eq(flock(b, LOCK_SH | LOCK_NB), -1);
        char *t = lock_text(f);
        ck_assert_ptr_nonnull(strstr(t, "mode=exclusive token="));
        ck_assert_ptr_nonnull(strstr(t, "node=n1"));
        ck_assert_int_eq(flock(a, LOCK_UN), 0);
        ck_assert_str_eq(lock_text(f), "");

        /* shared locks coexist; exclusive excluded by them */
        ck_assert_int_eq(flock(a, LOCK_SH), 0);
        ck_assert_int_eq(flock(b, LOCK_SH | LOCK_NB), 0);
        ck_assert_int_eq(count_lines(lock_text(f), "mode=shared"), 2);
        int c = open(f, O_RDONLY);
        ck_assert_int_eq(flock(c, LOCK_EX | LOCK_NB), -1);
        ck_assert_int_eq(errno, EWOULDBLOCK);
        /* close releases (the last close of an open file) */
        close(a);
        close(b);
        ck_assert_int_eq(flock(c, LOCK_EX | LOCK_NB), 0);
        close(c);
        /* the release is in the background: the next request queues behind it */
        int d = open(f, O_RDONLY);
        ck_assert_int_eq(flock(d, LOCK_EX), 0);
        close(d);
        srv_stop(s);
}
END_TEST

START_TEST(test_flock_handoff_local) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char *f = P(s, "lock");

        ck_assert_int_eq(put_file(f, ""), 0);
        int a = open(f, O_RDONLY);
        ck_assert_int_eq(flock(a, LOCK_EX), 0);
        Child c = child_start(child_lock_hold, f);
        ck_assert_int_eq(child_event(&c, 2000), 'W');
        ck_assert_int_eq(child_event(&c, 200), -1);     /* waits */
        ck_assert_int_eq(count_lines(lock_text(f), "waiting mode=exclusive"), 1);
        ck_assert_int_eq(flock(a, LOCK_UN), 0);
        ck_assert_int_eq(child_event(&c, 2000), 'L');   /* handed over */
        /* holder killed: its lock goes with it */
        kill(c.pid, SIGKILL);
        child_wait(&c);
        ck_assert_int_eq(flock(a, LOCK_EX), 0);
        close(a);
        srv_stop(s);
}
END_TEST

START_TEST(test_flock_fifo_across_nodes) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char *f = P(s, "lock");

        ck_assert_int_eq(put_file(f, ""), 0);
        uint64_t ino = ino_of(f);
        /* n2 holds */
        ck_assert_int_eq(remote_flock(s, ino, TREE_LOCK_EXCLUSIVE, false, 77), 0);
        int a = open(f, O_RDONLY);
        ck_assert_int_eq(flock(a, LOCK_EX | LOCK_NB), -1);
        ck_assert_int_eq(errno, EWOULDBLOCK);
        /* local waiter 1, then a waiter of n2, then local waiter 2 */
        Child c1 = child_start(child_lock_hold, f);
        ck_assert_int_eq(child_event(&c1, 2000), 'W');
        usleep(100 * 1000);
        ck_assert_int_eq(remote_flock(s, ino, TREE_LOCK_EXCLUSIVE, true, 78), -EINPROGRESS);
        Child c2 = child_start(child_lock_hold, f);
        ck_assert_int_eq(child_event(&c2, 2000), 'W');
        usleep(100 * 1000);
        char *t = lock_text(f);
        ck_assert_int_eq(count_lines(t, "mode=exclusive"), 1);
        ck_assert_int_eq(count_lines(t, "waiting mode=exclusive"), 3);
        /* queue order: n1, n2, n1 */
        char *w1 = strstr(t, "waiting"), *w2 = strstr(w1 + 1, "waiting"), *w3 = strstr(w2 + 1, "waiting");
        ck_assert_ptr_nonnull(w3);
        ck_assert(strncmp(strstr(w1, "node="), "node=n1", 7) == 0);
        ck_assert(strncmp(strstr(w2, "node="), "node=n2", 7) == 0);
        ck_assert(strncmp(strstr(w3, "node="), "node=n1", 7) == 0);

        /* n2 releases its first lock: handed to c1 in the same entry */
        remote_unflock(s, ino, 77);
        ck_assert_int_eq(child_event(&c1, 2000), 'L');
        ck_assert_int_eq(child_event(&c2, 200), -1);
        /* c1 exits: n2's waiter is next, c2 still waits */
        kill(c1.pid, SIGKILL);
        child_wait(&c1);
        usleep(100 * 1000);
        t = lock_text(f);
        ck_assert(strncmp(strstr(t, "node="), "node=n2", 7) == 0);
        ck_assert_int_eq(child_event(&c2, 200), -1);
        remote_unflock(s, ino, 78);
        ck_assert_int_eq(child_event(&c2, 2000), 'L');
        kill(c2.pid, SIGKILL);
        child_wait(&c2);
        close(a);
        srv_stop(s);
}
END_TEST

START_TEST(test_flock_interrupt) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char *f = P(s, "lock");

        ck_assert_int_eq(put_file(f, ""), 0);
        int a = open(f, O_RDONLY);
        ck_assert_int_eq(flock(a, LOCK_EX), 0);
        /* Ctrl-C: the waiter gets EINTR and leaves the queue */
        Child c = child_start(child_lock_interruptible, f);
        ck_assert_int_eq(child_event(&c, 2000), 'W');
        usleep(100 * 1000);
        ck_assert_int_eq(count_lines(lock_text(f), "waiting"), 1);
        kill(c.pid, SIGINT);
        ck_assert_int_eq(child_event(&c, 2000), 'I');
        ck_assert_int_eq(child_wait(&c), 0);
        ck_assert_int_eq(count_lines(lock_text(f), "waiting"), 0);

        /* SIGKILL of a waiter: gone from the queue too */
        c = child_start(child_lock_hold, f);
        ck_assert_int_eq(child_event(&c, 2000), 'W');
        usleep(100 * 1000);
        ck_assert_int_eq(count_lines(lock_text(f), "waiting"), 1);
        kill(c.pid, SIGKILL);
        ck_assert_int_eq(child_wait(&c), 128 + SIGKILL);
        usleep(100 * 1000);
        ck_assert_int_eq(count_lines(lock_text(f), "waiting"), 0);
        ck_assert_int_eq(flock(a, LOCK_UN), 0);
        ck_assert_str_eq(lock_text(f), "");
        close(a);
        srv_stop(s);
}
END_TEST

START_TEST(test_posix_locks) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char *f = P(s, "data");

        ck_assert_int_eq(put_file(f, "0123456789abcdef"), 0);
        Child c = child_start(child_posix_hold, f);
        ck_assert_int_eq(child_event(&c, 2000), 'L');
        int fd = open(f, O_RDWR);
        struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 2 };
        ck_assert_int_eq(fcntl(fd, F_SETLK, &l), -1);
        ck_assert(errno == EAGAIN || errno == EACCES);
        l = (struct flock) { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 2 };
        ck_assert_int_eq(fcntl(fd, F_GETLK, &l), 0);
        ck_assert_int_eq(l.l_type, F_WRLCK);
        ck_assert_int_eq(l.l_start, 0);
        ck_assert_int_eq(l.l_len, 10);
        ck_assert_int_eq(l.l_pid, c.pid);
        /* outside the range: fine */
        l = (struct flock) { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 0 };
        ck_assert_int_eq(fcntl(fd, F_SETLK, &l), 0);
        /* the holder closes another descriptor of the file: all its locks go */
        kill(c.pid, SIGUSR1);
        ck_assert_int_eq(child_event(&c, 2000), 'C');
        l = (struct flock) { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
        ck_assert_int_eq(fcntl(fd, F_SETLK, &l), 0);
        kill(c.pid, SIGKILL);
        child_wait(&c);
        close(fd);
        ck_assert_str_eq(lock_text(f), "");
        srv_stop(s);
}
END_TEST

START_TEST(test_ofd_locks) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char *f = P(s, "data");

        ck_assert_int_eq(put_file(f, "x"), 0);
        int a = open(f, O_RDWR), b = open(f, O_RDWR);
        struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        ck_assert_int_eq(fcntl(a, F_OFD_SETLK, &l), 0);
        l = (struct flock) { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        ck_assert_int_eq(fcntl(b, F_OFD_SETLK, &l), -1);
        ck_assert_int_eq(errno, EAGAIN);
        /* closing b (FLUSH with the process's owner) does not drop a's OFD lock */
        int b2 = dup(b);
        close(b);
        l = (struct flock) { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        ck_assert_int_eq(fcntl(b2, F_OFD_SETLK, &l), -1);
        /* the last close of a's open file does */
        close(a);
        usleep(100 * 1000);
        l = (struct flock) { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        ck_assert_int_eq(fcntl(b2, F_OFD_SETLKW, &l), 0);
        close(b2);
        usleep(100 * 1000);
        ck_assert_str_eq(lock_text(f), "");
        srv_stop(s);
}
END_TEST

START_TEST(test_flock_owner_reuse) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char *f = P(s, "lock");

        /* The kernel frees a closed file before its RELEASE reaches the
         * daemon, and the next open often gets the same lock_owner: the
         * late release must not drop the new file's lock. */
        ck_assert_int_eq(put_file(f, ""), 0);
        for (int i = 0; i < 200; i++) {
                int a = open(f, O_RDONLY);
                ck_assert_int_eq(flock(a, LOCK_EX), 0);
                close(a);
                int b = open(f, O_RDONLY);
                ck_assert_int_eq(flock(b, LOCK_EX), 0);
                usleep(1000);
                int c = open(f, O_RDONLY);
                ck_assert_int_eq(flock(c, LOCK_EX | LOCK_NB), -1);
                close(c);
                close(b);
        }
        srv_stop(s);
}
END_TEST

/* n2 holds an exclusive flock on a new file f (owner 77); a local child
 * waits for it (interruptibly). Returns the file's inode. */
static uint64_t local_waiter_behind_n2(Srv *s, const char *f, Child *ret) {
        ck_assert_int_eq(put_file(f, ""), 0);
        uint64_t ino = ino_of(f);
        ck_assert_int_eq(remote_flock(s, ino, TREE_LOCK_EXCLUSIVE, false, 77), 0);
        *ret = child_start(child_lock_interruptible, f);
        ck_assert_int_eq(child_event(ret, 2000), 'W');
        usleep(100 * 1000);
        return ino;
}

static void lose_session(Srv *s, void *arg) {
        s->no_session = true;
        fusefs_notify_session(s->fs, 0);
}

START_TEST(test_no_session) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char *f = P(s, "lock");

        Child c;
        (void) local_waiter_behind_n2(s, f, &c);
        /* the session is lost: the waiter fails with EIO (not EINTR) */
        srv_call(s, lose_session, NULL);
        ck_assert_int_eq(child_event(&c, 2000), 'E');
        child_wait(&c);
        int a = open(f, O_RDONLY);
        ck_assert_int_eq(flock(a, LOCK_SH | LOCK_NB), -1);
        ck_assert_int_eq(errno, EIO);
        close(a);
        srv_stop(s);
}
END_TEST

static void stall_session(Srv *s, void *arg) {
        s->no_session = true; /* session_id() says 0; no notice sent (yet) */
}

START_TEST(test_grant_without_session) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char *f = P(s, "lock");

        Child c;
        uint64_t ino = local_waiter_behind_n2(s, f, &c);
        /* The node stalled: its session is in doubt when n2's release hands
         * the lock over. The tree grants it; the process must not be told
         * it holds a lock that may already have gone with the session. */
        srv_call(s, stall_session, NULL);
        remote_unflock(s, ino, 77);
        ck_assert_int_eq(child_event(&c, 2000), 'E');
        child_wait(&c);
        srv_stop(s);
}
END_TEST

static void cleanup_mounts(void) {
        if (srv_global)
                (void) umount2(srv_global->mnt, MNT_DETACH);
}

static Suite *lock_suite(void) {
        const struct {
                const char *name;
                const TTest *fn;
        } cases[] = {
                { "flock-exclusion", test_flock_exclusion },
                { "flock-owner-reuse", test_flock_owner_reuse },
                { "flock-handoff-local", test_flock_handoff_local },
                { "flock-fifo-across-nodes", test_flock_fifo_across_nodes },
                { "flock-interrupt", test_flock_interrupt },
                { "posix-locks", test_posix_locks },
                { "ofd-locks", test_ofd_locks },
                { "no-session", test_no_session },
                { "grant-without-session", test_grant_without_session },
        };
        Suite *s = suite_create("fusefs-lock");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                TCase *tc = tcase_create(cases[i].name);
                tcase_set_timeout(tc, 30);
                tcase_add_test(tc, cases[i].fn);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) < 0) {
                fprintf(stderr, "test-fusefs-lock: needs root and /dev/fuse, skipping\n");
                return 77;
        }
        atexit(cleanup_mounts);
        SRunner *sr = srunner_create(lock_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
