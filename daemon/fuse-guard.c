#include "config.h"
/* fuse-guard.c — see fuse-guard.h for why the guard exists. The second
 * half (below "stale mounts") cleans up after a daemon whose guard could not
 * help: one killed together with it (KillMode=mixed sends the final SIGKILL
 * to both), or one without a guard.
 *
 * The child is forked from a multi-threaded process, so between fork() and
 * _exit() it makes only async-signal-safe calls (plain system calls): no
 * malloc, no stdio, no logging through lib/log. It closes every inherited
 * descriptor at once (holding the /dev/fuse descriptor would itself keep
 * the connection alive), then sleeps in sigwaitinfo() until the death
 * signal, or until the daemon stops it with SIGKILL before unmounting. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/fuse-guard.h"
#include "lib/log.h"
#include "lib/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);
DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

extern char **environ;

#define GUARD_SIGNAL SIGUSR2

/* Writes s into buf the way the kernel escapes mount points in mountinfo
 * (space, tab, newline and backslash as \ooo). */
static int escape_mountpoint(const char *s, char *buf, size_t size) {
        size_t n = 0;

        for (; *s; s++) {
                if (n + 5 > size)
                        return -ENAMETOOLONG;
                if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\\')
                        n += (size_t) snprintf(buf + n, size - n, "\\%03o", (unsigned char) *s);
                else
                        buf[n++] = *s;
        }
        buf[n] = '\0';
        return 0;
}

/* The connection number of the FUSE mount at mountpoint, read from
 * /proc/self/mountinfo (never stat(): a wedged mount would block it), or a
 * negative errno (-ENOENT: no FUSE mount there). */
static int mount_connection(const char *mountpoint, unsigned *ret) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        char want[4096 * 4 + 1];
        size_t size = 0;
        int r = -ENOENT;

        if (escape_mountpoint(mountpoint, want, sizeof want) < 0)
                return -ENAMETOOLONG;
        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER";
         * a mount stacked later on the same point comes later: keep the last. */
        while (getline(&line, &size, f) > 0) {
                unsigned major, minor;
                int off = 0;
                char point[sizeof want];

                if (sscanf(line, "%*u %*u %u:%u %*s %16384s%n", &major, &minor, point, &off) != 3)
                        continue;
                const char *sep = strstr(line + off, " - ");
                if (strcmp(point, want) != 0 || !sep || strncmp(sep + 3, "fuse", 4) != 0)
                        continue;
                /* FUSE superblocks have anonymous devices (major 0): the
                 * minor is the number under /sys/fs/fuse/connections. */
                *ret = minor;
                r = major == 0 ? 0 : -ENODEV;
        }
        return r;
}

static _Noreturn void guard_main(pid_t parent, unsigned conn) {
        char path[64];
        sigset_t set;
        siginfo_t si;

        (void) prctl(PR_SET_NAME, (unsigned long) "raftfsd-guard", 0, 0, 0);
        /* Everything but stdin/stdout/stderr (the journal): above all the
         * /dev/fuse descriptor and the data directory's lock. */
        (void) close_range(3, ~0U, 0);
        sigemptyset(&set);
        sigaddset(&set, GUARD_SIGNAL);
        /* Only our signal blocked: the daemon's blocked SIGTERM etc. are
         * inherited, and a guard must die of a plain kill. */
        (void) sigprocmask(SIG_SETMASK, &set, NULL);
        if (prctl(PR_SET_PDEATHSIG, GUARD_SIGNAL, 0, 0, 0) < 0)
                _exit(EXIT_FAILURE);
        if (getppid() == parent) /* else it died before PDEATHSIG was armed */
                while (sigwaitinfo(&set, &si) < 0 && errno == EINTR)
                        ;
        snprintf(path, sizeof path, "/sys/fs/fuse/connections/%u/abort", conn);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (write(fd, "1", 1) < 0) {
                        /* nothing to do about it: nobody listens */
                }
                (void) close(fd);
        }
        _exit(EXIT_SUCCESS);
}

pid_t fuse_guard_start(const char *mountpoint) {
        unsigned conn;
        pid_t parent = getpid(), pid;
        int r;

        r = mount_connection(mountpoint, &conn);
        if (r < 0)
                return log_warning_errno(r, "No FUSE connection found for %s (%m); running without a mount guard.",
                                         mountpoint);
        if (access("/sys/fs/fuse/connections/", W_OK) < 0)
                return log_warning_errno(-errno, "Cannot write /sys/fs/fuse/connections (%m; is fusectl mounted?); "
                                         "a daemon killed while blocked on its own mount may stay wedged.");
        pid = fork();
        if (pid < 0)
                return log_warning_errno(-errno, "Failed to fork the mount guard: %m");
        if (pid == 0)
                guard_main(parent, conn);
        log_debug("Mount guard %d watches FUSE connection %u.", (int) pid, conn);
        return pid;
}

void fuse_guard_stop(pid_t pid) {
        if (pid <= 0)
                return;
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

/* ---- stale mounts ------------------------------------------------------ *
 *
 * A mount is stale when the daemon that served it is gone. Whether the
 * daemon is gone is decided from the data directory's lock, never from
 * stat() of the mountpoint: once anything touched the mount, the kernel
 * answers stat() from cached root attributes even after the connection died,
 * and on a connection whose server is wedged stat() blocks.
 *
 * Why the data directory's lock: every raftfsd takes data_dir/lock with
 * flock() for its whole life (store/recover.c) and never starts without it.
 * The kernel releases it when the daemon's last descriptor closes, which is
 * the moment it also closes /dev/fuse and the kernel ends the connection. So:
 *   - lock free: no daemon of this configuration exists, every fuse.raftfs
 *     mount at our mountpoint is left over (we then hold the lock while we
 *     clean, so no daemon can start and mount meanwhile);
 *   - lock held by a live process: a daemon runs; we touch nothing (a
 *     SIGSTOPped daemon is live too: it may be continued);
 *   - lock held only by a dying process (main thread exited, SIGKILL
 *     pending, PF_EXITING): a thread blocked in the kernel on the mount keeps
 *     the descriptors, and so the connection, alive; it is the wedge that
 *     only an abort ends, which is our job.
 * The holder is found by scanning /proc/PID/task/TID/fdinfo for the lock's
 * mount id and inode number: no file system call that could block on a
 * wedged mount (stat() of /proc/PID/fd/N could). When the lock is free we
 * still ask the top mount for statfs() from a child with a deadline: a mount
 * that answers is served by someone (a daemon of another configuration with
 * the same mountpoint) and is left alone.
 *
 * A stale mount's connection is aborted through the FUSE control file
 * system (fusectl; mounted on /sys/fs/fuse/connections when it is not, or
 * on a temporary directory where /sys is read-only, as in a container),
 * which fails every request still waiting on it, and the mount is detached
 * with umount2(MNT_DETACH). umount2 acts on the top mount at a path, so
 * stacked mounts are handled from the top, one per round, until none is
 * left. */

#define FUSECTL_DIR "/sys/fs/fuse/connections"
#define FUSECTL_SUPER_MAGIC 0x65735543
#define STALE_MAX_ROUNDS 16
#define PROBE_TIMEOUT_MSEC 1000
#define PF_EXITING_FLAG 0x4U /* include/linux/sched.h */

typedef struct MountEntry {
        unsigned id, parent;
        unsigned major, minor;
        bool raftfs;
} MountEntry;

/* The mounts at mountpoint, in mountinfo order: 0 and *ret (free()d by the
 * caller) with *ret_n entries, or a negative errno. */
static int mounts_at(const char *mountpoint, MountEntry **ret, size_t *ret_n) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        _cleanup_free_ MountEntry *v = NULL;
        char want[4096 * 4 + 1], path[4096];
        size_t size = 0, n = 0, len = strlen(mountpoint);

        /* mountinfo has no trailing slash ("/mnt/raftfs/" is /mnt/raftfs) */
        while (len > 1 && mountpoint[len - 1] == '/')
                len--;
        if (len >= sizeof path)
                return -ENAMETOOLONG;
        memcpy(path, mountpoint, len);
        path[len] = '\0';
        if (escape_mountpoint(path, want, sizeof want) < 0)
                return -ENAMETOOLONG;
        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        while (getline(&line, &size, f) > 0) {
                MountEntry e = {};
                char point[sizeof want], fstype[64];
                int off = 0;

                if (sscanf(line, "%u %u %u:%u %*s %16384s%n", &e.id, &e.parent, &e.major, &e.minor, point,
                           &off) != 5 || strcmp(point, want) != 0)
                        continue;
                const char *sep = strstr(line + off, " - ");
                if (!sep || sscanf(sep + 3, "%63s", fstype) != 1)
                        continue;
                e.raftfs = strcmp(fstype, "fuse.raftfs") == 0 && e.major == 0;
                MountEntry *nv = realloc(v, (n + 1) * sizeof(*v));
                if (!nv)
                        return -ENOMEM;
                v = nv;
                v[n++] = e;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* The mount on top at the path: the one no other mount there sits on. */
static const MountEntry *top_mount(const MountEntry *v, size_t n) {
        const MountEntry *top = NULL;

        for (size_t i = 0; i < n; i++) {
                bool covered = false;
                for (size_t j = 0; j < n; j++)
                        covered = covered || v[j].parent == v[i].id;
                if (!covered)
                        top = &v[i];
        }
        return top;
}

/* "key:\tVALUE" from a /proc file; false when absent. */
static bool proc_field(const char *path, const char *key, char *buf, size_t size) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        char line[256];
        size_t k = strlen(key);

        if (!f)
                return false;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, key, k) == 0 && line[k] == ':') {
                        snprintf(buf, size, "%s", line + k + 1 + strspn(line + k + 1, " \t"));
                        return true;
                }
        return false;
}

static bool pending_has_sigkill(const char *status_path, const char *key) {
        char v[64];

        return proc_field(status_path, key, v, sizeof v) && (strtoull(v, NULL, 16) & (1ULL << (SIGKILL - 1)));
}

/* A task that exits, or will as soon as it leaves the kernel. */
static bool task_dying(pid_t pid, const char *tid) {
        char path[96], buf[1024], state = 0;
        unsigned flags = 0;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/task/%s/stat", (int) pid, tid);
        f = fopen(path, "re");
        if (!f)
                return true; /* gone while we looked */
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *p = strrchr(buf, ')'); /* the name may contain anything */
        /* ") S ppid pgrp session tty tpgid flags" */
        if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
                return false;
        if (state == 'Z' || state == 'X' || (flags & PF_EXITING_FLAG))
                return true;
        snprintf(path, sizeof path, "/proc/%d/task/%s/status", (int) pid, tid);
        return pending_has_sigkill(path, "SigPnd") || pending_has_sigkill(path, "ShdPnd");
}

/* The leader decides for the process: a thread group whose leader exited
 * or got SIGKILL is gone, whatever its stuck threads do. */
static bool process_dying(pid_t pid) {
        char tid[16];

        snprintf(tid, sizeof tid, "%d", (int) pid);
        return task_dying(pid, tid);
}

/* "mnt_id" and "ino" of an fdinfo file. */
static bool fdinfo_ids(const char *path, unsigned long long *mnt_id, unsigned long long *ino) {
        char v[64];

        if (!proc_field(path, "mnt_id", v, sizeof v))
                return false;
        *mnt_id = strtoull(v, NULL, 10);
        if (!proc_field(path, "ino", v, sizeof v))
                return false;
        *ino = strtoull(v, NULL, 10);
        return true;
}

/* Whether any task of pid has a descriptor on the file (mnt_id, ino). */
static bool process_holds(pid_t pid, unsigned long long mnt_id, unsigned long long ino) {
        _cleanup_(closedirp) DIR *tasks = NULL;
        char path[320];
        struct dirent *t;

        snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
        tasks = opendir(path);
        if (!tasks)
                return false;
        /* Every task: a leader that exited has no descriptor table left,
         * its stuck threads still do. */
        while ((t = readdir(tasks))) {
                _cleanup_(closedirp) DIR *fds = NULL;
                struct dirent *fd;

                if (t->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof path, "/proc/%d/task/%s/fdinfo", (int) pid, t->d_name);
                fds = opendir(path);
                if (!fds)
                        continue;
                while ((fd = readdir(fds))) {
                        unsigned long long m, i;
                        char p[sizeof path + 256];

                        if (fd->d_name[0] == '.')
                                continue;
                        snprintf(p, sizeof p, "%s/%s", path, fd->d_name);
                        if (fdinfo_ids(p, &m, &i) && m == mnt_id && i == ino)
                                return true;
                }
        }
        return false;
}

typedef enum Owner {
        OWNER_NONE,     /* no daemon of this data_dir: its mounts are stale */
        OWNER_DYING,    /* only a dying process holds the lock */
        OWNER_LIVE,     /* a daemon runs (pid in *ret_pid, 0 if unseen) */
} Owner;

/* Finds out who holds data_dir/lock. On OWNER_NONE *ret_lock_fd holds the
 * lock (or is -1 when there is no lock file: no daemon ever ran there). */
static Owner lock_owner(const char *data_dir, int *ret_lock_fd, pid_t *ret_pid) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *path = NULL;
        _cleanup_(closedirp) DIR *proc = NULL;
        unsigned long long mnt_id, ino;
        char self[64];
        struct dirent *de;
        bool dying = false;

        *ret_lock_fd = -1;
        *ret_pid = 0;
        if (asprintf(&path, "%s/lock", data_dir) < 0)
                return OWNER_LIVE; /* cannot tell: the safe answer */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR ? OWNER_NONE : OWNER_LIVE;
        if (flock(fd, LOCK_EX | LOCK_NB) >= 0) {
                *ret_lock_fd = TAKE_FD(fd);
                return OWNER_NONE;
        }
        snprintf(self, sizeof self, "/proc/self/fdinfo/%d", fd);
        proc = opendir("/proc");
        if (!proc || !fdinfo_ids(self, &mnt_id, &ino))
                return OWNER_LIVE;
        while ((de = readdir(proc))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);

                if (*end || pid <= 0 || pid == getpid() || !process_holds((pid_t) pid, mnt_id, ino))
                        continue;
                if (!process_dying((pid_t) pid)) {
                        *ret_pid = (pid_t) pid;
                        return OWNER_LIVE;
                }
                dying = true;
        }
        /* Locked, but by nobody we can see (another pid namespace): live. */
        return dying ? OWNER_DYING : OWNER_LIVE;
}

/* Whether the file system at path answers statfs() within the deadline.
 * Asked from a child so that a request nobody reads cannot block us; the
 * child waits killably (the request is still queued), so SIGKILL ends it. */
static bool probe_answers(const char *path) {
        struct timespec tick = { 0, 20 * 1000 * 1000 };
        int status;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return false;
        if (pid == 0) {
                struct statfs sfs;
                _exit(statfs(path, &sfs) < 0 ? 1 : 0);
        }
        for (int i = 0; i < PROBE_TIMEOUT_MSEC / 20; i++) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
                if (r < 0 && errno != EINTR)
                        return false;
                (void) nanosleep(&tick, NULL);
        }
        (void) kill(pid, SIGKILL);
        for (int i = 0; i < 50 && waitpid(pid, &status, WNOHANG) == 0; i++)
                (void) nanosleep(&tick, NULL);
        return false;
}

/* The fusectl file system: where it is, and whether we mounted it on a
 * temporary directory that must go again. */
typedef struct Fusectl {
        char dir[64];
        bool ready, temporary;
} Fusectl;

static bool is_fusectl(const char *dir) {
        struct statfs sfs;

        return statfs(dir, &sfs) >= 0 && (unsigned long) sfs.f_type == FUSECTL_SUPER_MAGIC;
}

static int fusectl_open(Fusectl *c) {
        if (c->ready)
                return 0;
        snprintf(c->dir, sizeof c->dir, "%s", FUSECTL_DIR);
        if (is_fusectl(c->dir) ||
            mount("fusectl", c->dir, "fusectl", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) >= 0) {
                c->ready = true;
                return 0;
        }
        /* /sys/fs/fuse missing or read-only (a container): anywhere will do,
         * fusectl lists every connection of the kernel wherever it is. */
        snprintf(c->dir, sizeof c->dir, "/run/raftfsd-fusectl.XXXXXX");
        if (!mkdtemp(c->dir)) {
                snprintf(c->dir, sizeof c->dir, "/tmp/raftfsd-fusectl.XXXXXX");
                if (!mkdtemp(c->dir))
                        return -errno;
        }
        if (mount("fusectl", c->dir, "fusectl", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                int r = -errno;
                (void) rmdir(c->dir);
                return r;
        }
        c->ready = c->temporary = true;
        return 0;
}

static void fusectl_close(Fusectl *c) {
        if (c->temporary) {
                (void) umount2(c->dir, MNT_DETACH);
                (void) rmdir(c->dir);
        }
        *c = (Fusectl) {};
}

/* Writes to N/abort: every request waiting on the connection fails, and a
 * thread of a dead daemon blocked on the mount can finish dying. */
static int connection_abort(Fusectl *c, unsigned conn) {
        char path[96];
        int fd, r;

        r = fusectl_open(c);
        if (r < 0)
                return r;
        snprintf(path, sizeof path, "%s/%u/abort", c->dir, conn);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno; /* already gone */
        r = write(fd, "1", 1) < 0 ? -errno : 0;
        (void) close(fd);
        return r;
}

/* umount2(MNT_DETACH) as root; without CAP_SYS_ADMIN (a daemon that
 * mounted through fusermount3 as its user), `fusermount3 -u -z`, which
 * lets the mount's owner do the same. */
static int detach(const char *mountpoint) {
        char *argv[] = { (char *) "fusermount3", (char *) "-u", (char *) "-z", (char *) "--",
                         (char *) mountpoint, NULL };
        int status;
        pid_t pid;

        if (umount2(mountpoint, MNT_DETACH) >= 0)
                return 0;
        if (errno != EPERM)
                return -errno;
        int r = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ);
        if (r != 0)
                return -EPERM;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

/* One round: detaches the top mount at mountpoint if it is a stale raftfs
 * mount. 1 when it detached one, 0 when none is left, negative errno. */
static int clean_one(const char *mountpoint, Owner owner, Fusectl *ctl) {
        _cleanup_free_ MountEntry *v = NULL;
        size_t n;
        int r;

        r = mounts_at(mountpoint, &v, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to read /proc/self/mountinfo: %m");
        const MountEntry *top = top_mount(v, n);
        bool any = false;
        if (!top)
                return 0;
        for (size_t i = 0; i < n; i++)
                any = any || v[i].raftfs;
        if (!any)
                return 0;
        if (!top->raftfs)
                return log_error_errno(-EBUSY, "A raftfs mount at %s is covered by another file system "
                                       "(mount %u); unmount that first.", mountpoint, top->id);
        if (owner == OWNER_NONE && probe_answers(mountpoint))
                return log_error_errno(-EBUSY, "The raftfs mount at %s (FUSE connection %u) answers: a live "
                                       "daemon serves it (another configuration?); not touching it.",
                                       mountpoint, top->minor);
        r = connection_abort(ctl, top->minor);
        if (r < 0)
                log_warning_errno(r, "Cannot abort FUSE connection %u through fusectl (%m), detaching anyway.",
                                  top->minor);
        r = detach(mountpoint);
        if (r < 0)
                return log_error_errno(r, "Failed to detach the stale mount at %s: %m", mountpoint);
        log_notice("Detached the stale mount at %s (FUSE connection %u; its daemon is gone).", mountpoint,
                   top->minor);
        return 1;
}

int fuse_guard_clean_stale(const char *mountpoint, const char *data_dir) {
        _cleanup_free_ MountEntry *v = NULL;
        _cleanup_close_ int lock_fd = -1;
        Fusectl ctl = {};
        size_t n;
        pid_t pid;
        int r;

        r = mounts_at(mountpoint, &v, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to read /proc/self/mountinfo: %m");
        bool any = false;
        for (size_t i = 0; i < n; i++)
                any = any || v[i].raftfs;
        if (!any)
                return 0; /* the common case: nothing to look at */

        Owner owner = lock_owner(data_dir, &lock_fd, &pid);
        if (owner == OWNER_LIVE) {
                if (pid > 0)
                        return log_error_errno(-EBUSY, "raftfsd (pid %d) is running with data_dir %s: its "
                                               "mount at %s is not stale, not touching it.",
                                               (int) pid, data_dir, mountpoint);
                return log_error_errno(-EBUSY, "%s/lock is held by a process this namespace cannot see: the "
                                       "mount at %s may be live, not touching it.", data_dir, mountpoint);
        }
        if (owner == OWNER_DYING)
                log_notice("The daemon of %s is exiting but blocked; aborting its FUSE connection.", data_dir);
        for (int round = 0;; round++) {
                if (round == STALE_MAX_ROUNDS) {
                        r = log_error_errno(-ELOOP, "Still a raftfs mount at %s after %d detaches, giving up.",
                                            mountpoint, round);
                        break;
                }
                r = clean_one(mountpoint, owner, &ctl);
                if (r <= 0)
                        break;
        }
        fusectl_close(&ctl);
        return r;
}
