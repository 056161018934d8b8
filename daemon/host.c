#include "config.h"

/* host.c — start-up checks of the host (see host.h).
 *
 * Facts behind them are in FUSE-NOTES.md: kernels >= 6.14 can abort a FUSE
 * connection whose replies are late (fatal for waiting locks), and after a
 * kill -9 the old mount answers ENOTCONN until it is unmounted
 * (auto_unmount is not reliable enough to count on). */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/host.h"
#include "lib/log.h"
#include "lib/macro.h"

extern char **environ;

static const char *const timeout_sysctls[] = {
        "/proc/sys/fs/fuse/default_request_timeout",
        "/proc/sys/fs/fuse/max_request_timeout",
};

int host_check_fuse_timeouts(void) {
        int found = 0;

        for (size_t i = 0; i < ELEMENTSOF(timeout_sysctls); i++) {
                FILE *f = fopen(timeout_sysctls[i], "re");
                unsigned long long v = 0;

                if (!f)
                        continue;
                if (fscanf(f, "%llu", &v) == 1 && v != 0) {
                        log_warning("WARNING: %s is %llu: the kernel will abort the whole FUSE "
                                    "connection when any request (such as a waiting cluster lock) "
                                    "takes longer than %llu s. Set it to 0 for raftfs "
                                    "(sysctl fs.fuse.%s=0).", timeout_sysctls[i], v, v,
                                    strrchr(timeout_sysctls[i], '/') + 1);
                        found++;
                }
                fclose(f);
        }
        return found;
}

/* Runs fusermount3 -u -z MOUNTPOINT; its exit status, or negative errno. */
static int run_fusermount(const char *mountpoint) {
        char *argv[] = { (char *) "fusermount3", (char *) "-u", (char *) "-z", (char *) mountpoint, NULL };
        pid_t pid;
        int status, r;

        r = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ);
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int host_prepare_mountpoint(const char *mountpoint) {
        struct stat st;
        int r;

        if (stat(mountpoint, &st) >= 0) {
                if (!S_ISDIR(st.st_mode))
                        return log_error_errno(-ENOTDIR, "Mountpoint '%s' is not a directory.", mountpoint);
                return 0;
        }
        if (errno == ENOENT) {
                if (mkdir(mountpoint, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(-errno, "Failed to create mountpoint '%s': %m", mountpoint);
                log_info("Created mountpoint %s.", mountpoint);
                return 0;
        }
        if (errno != ENOTCONN)
                return log_error_errno(-errno, "Cannot access mountpoint '%s': %m", mountpoint);

        log_notice("Mountpoint %s is a stale mount (transport endpoint not connected), detaching it.",
                   mountpoint);
        r = run_fusermount(mountpoint);
        if (r != 0) {
                if (r < 0)
                        log_warning_errno(r, "Failed to run fusermount3: %m");
                else
                        log_warning("fusermount3 -u -z %s failed with status %d.", mountpoint, r);
                if (umount2(mountpoint, MNT_DETACH) < 0)
                        return log_error_errno(-errno, "Failed to detach stale mount '%s': %m", mountpoint);
        }
        if (stat(mountpoint, &st) < 0)
                return log_error_errno(-errno, "Mountpoint '%s' still unusable after unmount: %m", mountpoint);
        return 0;
}
