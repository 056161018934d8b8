/* host.h — checks and repairs of the host around the mount, done once at
 * start: kernel FUSE request timeouts and a stale mount left by a killed
 * daemon. */
#pragma once

/* Warns (loudly, once per non-zero value) when the kernel's
 * fs.fuse.default_request_timeout or fs.fuse.max_request_timeout is set:
 * such a kernel aborts the whole connection when any request waits longer,
 * which a blocking cluster lock legitimately does. Missing files (older
 * kernels) are fine. Returns the number of non-zero settings found. */
int host_check_fuse_timeouts(void);

/* When `mountpoint` answers stat() with ENOTCONN (the FUSE daemon behind it
 * died), detaches it with `fusermount3 -u -z`, falling back to
 * umount2(MNT_DETACH) when that is unavailable and we are root. Creates the
 * mountpoint directory (0755) when it does not exist. 0 when the mountpoint
 * is usable afterwards, negative errno (logged) otherwise. */
int host_prepare_mountpoint(const char *mountpoint);
