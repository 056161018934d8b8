/* fuse-guard.h — a tiny child process that aborts our FUSE connection when
 * the daemon's main thread dies without unmounting.
 *
 * Why: the kernel ends a FUSE connection when the last /dev/fuse descriptor
 * is closed, i.e. when every thread of the daemon has exited. A thread of
 * ours blocked in the kernel on the mount itself (the notifier's
 * fuse_lowlevel_notify_inval_entry() waits, uninterruptibly, for a
 * directory lock that a client holds while its request waits for us) never
 * exits after SIGKILL: the descriptor stays open, the client's request is
 * never failed, and process and mount are wedged until someone writes to
 * /sys/fs/fuse/connections/N/abort. The guard is that someone. It is told
 * of the main thread's death by PR_SET_PDEATHSIG (sent when the thread that
 * forked it exits, even while other threads of the process linger). */
#pragma once

#include <sys/types.h>

/* Forks the guard for the FUSE mount at mountpoint (mounted by this
 * process). Must be called from the thread whose death is to be watched
 * (the event loop thread). Returns the guard's pid, or a negative errno
 * (logged; the daemon runs on without a guard). */
pid_t fuse_guard_start(const char *mountpoint);

/* Stops the guard before a regular unmount (so it never aborts a later
 * connection that reuses the number) and reaps it. Takes pid <= 0 (no-op). */
void fuse_guard_stop(pid_t pid);

/* Detaches every stale fuse.raftfs mount at mountpoint: one whose daemon
 * is gone, told by the data directory's lock (data_dir/lock, held by every
 * daemon for its whole life; see fuse-guard.c for why not stat()). Each is
 * aborted through the FUSE control file system (mounted when needed) and
 * detached with umount2(MNT_DETACH), from the top of a stack of mounts down,
 * until none is left. Never touches a mount while a live process holds the
 * lock, or one that answers statfs(). Detaching needs CAP_SYS_ADMIN, or
 * fusermount3 and the mount's owner; aborting needs root (without it the
 * mount is only detached). Does not create the mountpoint.
 * 0 when no raftfs mount is left at mountpoint; -EBUSY (logged) when a live
 * daemon's mount is there or another file system covers one; other negative
 * errno (logged) on failure. */
int fuse_guard_clean_stale(const char *mountpoint, const char *data_dir);
