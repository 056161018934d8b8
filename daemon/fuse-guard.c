#include "config.h"
/* fuse-guard.c — see fuse-guard.h for why the guard exists.
 *
 * The child is forked from a multi-threaded process, so between fork() and
 * _exit() it makes only async-signal-safe calls (plain system calls): no
 * malloc, no stdio, no logging through lib/log. It closes every inherited
 * descriptor at once (holding the /dev/fuse descriptor would itself keep
 * the connection alive), then sleeps in sigwaitinfo() until the death
 * signal, or until the daemon stops it with SIGKILL before unmounting. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/fuse-guard.h"
#include "lib/log.h"
#include "lib/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);

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
