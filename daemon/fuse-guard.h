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
