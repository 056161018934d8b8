#include "config.h"
/* caller.c — why is the kernel asking? (only when the cluster cannot answer)
 *
 * In linearizable mode the kernel caches nothing, so every step of every
 * path walk reaches us as LOOKUP or GETATTR (the latter also for each
 * permission check on the way) and waits for a read barrier. When a node
 * has no quorum, that barrier fails, and two promises of raftfs(7) pull in
 * opposite directions:
 *   - reads fail with EIO: a stat(), `test -e`, readlink or getxattr must
 *     not answer from a replica that may be stale;
 *   - mutations fail with EROFS: `echo x > f`, `mkdir d`, `rm f` must say
 *     "Read-only file system", at once when the node knows it has no
 *     quorum.
 * The requests themselves look the same (the LOOKUP and GETATTR of a stat
 * and of an open for writing are identical), so we look at what the
 * calling thread is doing: /proc/TID/syscall names the system call it is
 * blocked in (the FUSE request header carries the thread id), and for an
 * open its flags. The walk of a call that changes the namespace, or opens a
 * file for writing, creating or truncating, fails with EROFS; every other
 * caller, an open for reading included, and any caller we cannot classify,
 * gets EIO. Neither ever gets an answer from the replica: it may be behind,
 * and a change would then fail with a stale EEXIST or ENOENT, or write to a
 * file another node has replaced (the chaos meta and register workloads
 * found all three when walks were answered from the replica).
 *
 * This runs only after a barrier failed, never on the fast path. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fusefs/internal.h"
#include "lib/macro.h"

/* System calls whose path walk may be answered from the replica while the
 * cluster is unreachable: each one changes something (and fails with EROFS
 * by its own request). open and openat count only when their flags write or
 * create (below). Not here: the stat family, access, readlink, getxattr,
 * listxattr, statfs, chdir — pure reads of what the walk reveals. */
static const long mutating_syscalls[] = {
#ifdef SYS_creat
        SYS_creat,
#endif
#ifdef SYS_openat2
        SYS_openat2,    /* its flags are behind a pointer: assume a change */
#endif
#ifdef SYS_mkdir
        SYS_mkdir,
#endif
        SYS_mkdirat,
#ifdef SYS_mknod
        SYS_mknod,
#endif
        SYS_mknodat,
#ifdef SYS_unlink
        SYS_unlink,
#endif
        SYS_unlinkat,
#ifdef SYS_rmdir
        SYS_rmdir,
#endif
#ifdef SYS_rename
        SYS_rename,
#endif
#ifdef SYS_renameat
        SYS_renameat,
#endif
        SYS_renameat2,
#ifdef SYS_link
        SYS_link,
#endif
        SYS_linkat,
#ifdef SYS_symlink
        SYS_symlink,
#endif
        SYS_symlinkat,
#ifdef SYS_chmod
        SYS_chmod,
#endif
        SYS_fchmodat,
#ifdef SYS_fchmodat2
        SYS_fchmodat2,
#endif
#ifdef SYS_chown
        SYS_chown,
#endif
#ifdef SYS_lchown
        SYS_lchown,
#endif
        SYS_fchownat,
        SYS_truncate,
#ifdef SYS_utime
        SYS_utime,
#endif
#ifdef SYS_utimes
        SYS_utimes,
#endif
#ifdef SYS_futimesat
        SYS_futimesat,
#endif
        SYS_utimensat,
        SYS_setxattr,
        SYS_lsetxattr,
        SYS_removexattr,
        SYS_lremovexattr,
};

bool caller_mutates(pid_t tid) {
        char path[64], text[64];

        if (tid <= 0)
                return false;
        snprintf(path, sizeof(path), "/proc/%d/syscall", (int) tid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, text, sizeof(text) - 1);
        if (n <= 0)
                return false;
        text[n] = '\0';
        /* "NR arg1 ... sp pc" while blocked in a call; "-1 sp pc" or
         * "running" otherwise. */
        char *end;
        errno = 0;
        long nr = strtol(text, &end, 10);
        if (errno != 0 || end == text || nr < 0)
                return false;
        /* The arguments follow in hex: open(path, flags), openat(dirfd,
         * path, flags). */
        int flags_arg = nr == SYS_openat ? 2 : -1;
#ifdef SYS_open
        if (nr == SYS_open)
                flags_arg = 1;
#endif
        if (flags_arg >= 0) {
                unsigned long long a = 0;
                char *p = end;
                for (int i = 0; i <= flags_arg; i++) {
                        errno = 0;
                        a = strtoull(p, &end, 16);
                        if (errno != 0 || end == p)
                                return false;
                        p = end;
                }
                return (a & O_ACCMODE) != O_RDONLY || (a & (O_CREAT | O_TRUNC)) != 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(mutating_syscalls); i++)
                if (mutating_syscalls[i] == nr)
                        return true;
        return false;
}
