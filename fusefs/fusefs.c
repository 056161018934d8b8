#include "config.h"
/* fusefs.c — FuseFs lifecycle and the FUSE session inside the sd-event loop.
 *
 * Owns: the fuse_session (mounted at opts.mountpoint), its fd as an sd-event
 * io source, the receive buffer, the notifier thread, the tables of
 * kernel-known inodes and open handles, every parked request (Op), and the
 * metrics. Everything is touched only from the loop thread except the
 * notifier's queue (see notifier.c).
 *
 * The io handler reads requests until the non-blocking fd says EAGAIN and
 * hands each to libfuse, which calls the handlers of the other files. A
 * handler either replies at once or parks an Op; nothing here ever blocks on
 * the cluster.
 *
 * Shutdown (fusefs_free): answer every parked request, then keep answering
 * (with EIO) whatever the kernel still sends until the notifier thread has
 * stopped — it may be inside an invalidation waiting for a directory lock
 * that a request in the kernel's queue holds — and only then unmount
 * (lazily) and close the session. Handles stay valid until then. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <fuse_log.h>

#include "fusefs/internal.h"
#include "lib/log.h"
#include "lib/macro.h"

#define DEFAULT_OP_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define DEFAULT_MAX_FILE_SIZE (UINT64_C(1) << 20)
#define DEFAULT_MAX_HANDLES 65536
#define DEFAULT_MAX_BUFFERED (UINT64_C(256) << 20)
#define DEFAULT_MAX_WAITERS 4096
#define SHUTDOWN_DRAIN_USEC (3 * USEC_PER_SEC)

static const char *const op_names[_OP_KIND_MAX] = {
        [OP_LOOKUP] = "lookup", [OP_GETATTR] = "getattr", [OP_SETATTR] = "setattr",
        [OP_READLINK] = "readlink", [OP_MKNOD] = "mknod", [OP_MKDIR] = "mkdir",
        [OP_UNLINK] = "unlink", [OP_RMDIR] = "rmdir", [OP_SYMLINK] = "symlink",
        [OP_RENAME] = "rename", [OP_LINK] = "link", [OP_OPEN] = "open", [OP_READ] = "read",
        [OP_WRITE] = "write", [OP_FLUSH] = "flush", [OP_RELEASE] = "release",
        [OP_FSYNC] = "fsync", [OP_OPENDIR] = "opendir", [OP_READDIR] = "readdir",
        [OP_RELEASEDIR] = "releasedir", [OP_FSYNCDIR] = "fsyncdir", [OP_STATFS] = "statfs",
        [OP_SETXATTR] = "setxattr", [OP_GETXATTR] = "getxattr", [OP_LISTXATTR] = "listxattr",
        [OP_REMOVEXATTR] = "removexattr", [OP_ACCESS] = "access", [OP_CREATE] = "create",
        [OP_GETLK] = "getlk", [OP_SETLK] = "setlk", [OP_FLOCK] = "flock",
        [OP_FORGET] = "forget", [OP_INTERRUPT] = "interrupt", [OP_BARRIER] = "barrier",
        [OP_COMMIT_BG] = "commit_bg", [OP_LOCK_CANCEL] = "lock_cancel",
};

uint64_t fs_now_usec(FuseFs *fs) {
        uint64_t now;
        if (sd_event_now(fs->event, CLOCK_MONOTONIC, &now) < 0) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
        }
        return now;
}

const Tree *fs_tree(FuseFs *fs) {
        return fs->backend.tree(fs->bud);
}

void fs_count(FuseFs *fs, OpKind kind, int r) {
        assert(kind < _OP_KIND_MAX);
        fs->m.requests[kind]++;
        if (r != 0)
                fs->m.errors[kind]++;
}

void fs_reply_err(FuseFs *fs, OpKind kind, fuse_req_t req, int err) {
        assert(err >= 0);
        fs_count(fs, kind, err);
        (void) fuse_reply_err(req, err);
}

/* ---- libfuse's messages go through our log ---- */

static void libfuse_log(enum fuse_log_level level, const char *fmt, va_list ap) {
        char line[512];
        int prio;

        vsnprintf(line, sizeof(line), fmt, ap);
        line[strcspn(line, "\n")] = 0;
        switch (level) {
        case FUSE_LOG_EMERG: case FUSE_LOG_ALERT: case FUSE_LOG_CRIT: case FUSE_LOG_ERR:
                prio = LOG_ERR;
                break;
        case FUSE_LOG_WARNING:
                prio = LOG_WARNING;
                break;
        case FUSE_LOG_NOTICE: case FUSE_LOG_INFO:
                prio = LOG_INFO;
                break;
        default:
                prio = LOG_DEBUG;
                break;
        }
        log_full(prio, "libfuse: %s", line);
}

/* ---- INIT ---- */

static void fs_op_init(void *userdata, struct fuse_conn_info *conn) {
        FuseFs *fs = userdata;
        unsigned want = FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS |
                        FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_READDIRPLUS |
                        FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_CACHE_SYMLINKS |
                        FUSE_CAP_EXPORT_SUPPORT;

        conn->want |= want & conn->capable;
        /* Writeback caching merges writes of different handles and reads on
         * write-only handles (FUSE-NOTES.md): it breaks per-handle commits.
         * Splicing buys nothing for small files. KILLPRIV off: the kernel
         * then clears setuid/setgid bits itself with an explicit SETATTR. */
        conn->want &= ~(unsigned) (FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
                                   FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                                   FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_AUTO_INVAL_DATA);
        /* Release and readahead share the background slots with everything
         * asynchronous: the default of 12 is far too few (FUSE-NOTES.md). */
        conn->max_background = 1024;
        conn->congestion_threshold = 768;
        conn->time_gran = 1000; /* the tree keeps microseconds */
        log_debug("FUSE session initialised: protocol %u.%u, want 0x%x", conn->proto_major,
                  conn->proto_minor, conn->want);
        (void) fs;
}

static const struct fuse_lowlevel_ops fs_ops = {
        .init = fs_op_init,
        .lookup = fs_op_lookup,
        .forget = fs_op_forget,
        .forget_multi = fs_op_forget_multi,
        .getattr = fs_op_getattr,
        .setattr = fs_op_setattr,
        .readlink = fs_op_readlink,
        .mknod = fs_op_mknod,
        .mkdir = fs_op_mkdir,
        .unlink = fs_op_unlink,
        .rmdir = fs_op_rmdir,
        .symlink = fs_op_symlink,
        .rename = fs_op_rename,
        .link = fs_op_link,
        .open = fs_op_open,
        .read = fs_op_read,
        .write = fs_op_write,
        .flush = fs_op_flush,
        .release = fs_op_release,
        .fsync = fs_op_fsync,
        .opendir = fs_op_opendir,
        .readdir = fs_op_readdir,
        .readdirplus = fs_op_readdirplus,
        .releasedir = fs_op_releasedir,
        .fsyncdir = fs_op_fsyncdir,
        .statfs = fs_op_statfs,
        .setxattr = fs_op_setxattr,
        .getxattr = fs_op_getxattr,
        .listxattr = fs_op_listxattr,
        .removexattr = fs_op_removexattr,
        .access = fs_op_access,
        .create = fs_op_create,
        .getlk = fs_op_getlk,
        .setlk = fs_op_setlk,
        .flock = fs_op_flock,
};

/* ---- the session fd ---- */

static void session_ended(FuseFs *fs, int error) {
        if (!fs->mounted)
                return;
        fs->mounted = false;
        (void) sd_event_source_set_enabled(fs->io_source, SD_EVENT_OFF);
        if (error < 0)
                log_warning_errno(error, "FUSE session on %s failed: %m", fs->mountpoint);
        else
                log_info("FUSE session on %s ended (unmounted)", fs->mountpoint);
        if (fs->backend.unmounted)
                fs->backend.unmounted(fs->bud, error);
}

/* Reads and processes requests until the fd has none. Returns the number
 * processed, or a negative errno when the session ended. */
static int session_drain(FuseFs *fs) {
        int n = 0;

        for (;;) {
                int r = fuse_session_receive_buf(fs->se, &fs->fbuf);
                if (r == -EINTR)
                        continue;
                if (r == -EAGAIN)
                        return n;
                if (r <= 0)
                        return r < 0 ? r : -ENODEV;
                fuse_session_process_buf(fs->se, &fs->fbuf);
                n++;
                if (fuse_session_exited(fs->se))
                        return -ENODEV;
        }
}

static int session_io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        FuseFs *fs = userdata;

        int r = session_drain(fs);
        if (r < 0)
                session_ended(fs, r == -ENODEV ? 0 : r);
        if (fs->notifier && notifier_take_overflow(fs->notifier)) {
                log_warning("Too many kernel cache invalidations queued; invalidating everything");
                fs_invalidate_all(fs);
        }
        return 0;
}

/* ---- mount helpers ---- */

static void check_request_timeout_sysctl(void) {
        static const char *const paths[] = {
                "/proc/sys/fs/fuse/default_request_timeout",
                "/proc/sys/fs/fuse/max_request_timeout",
        };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                FILE *f = fopen(paths[i], "re");
                if (!f)
                        continue;
                unsigned long v = 0;
                if (fscanf(f, "%lu", &v) == 1 && v != 0)
                        log_warning("%s is %lu: the kernel aborts the whole FUSE connection when "
                                    "any reply is late, which kills waiting cluster locks; set it to 0",
                                    paths[i], v);
                fclose(f);
        }
}

/* A killed daemon leaves its mount behind, answering ENOTCONN: detach it. */
static int cleanup_stale_mount(const char *path) {
        struct stat st;

        if (stat(path, &st) >= 0)
                return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
        if (errno != ENOTCONN && errno != ECONNABORTED)
                return -errno;
        log_notice("Detaching the stale mount at %s", path);
        if (umount2(path, MNT_DETACH) < 0)
                return log_warning_errno(-errno, "Failed to detach the stale mount at %s: %m", path);
        if (stat(path, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int session_create(FuseFs *fs) {
        _cleanup_free_ char *opts = NULL;
        /* fsname may not contain a comma (it would split the option list). */
        if (strchr(fs->fsname, ',') || strchr(fs->fsname, '\\'))
                return -EINVAL;
        if (asprintf(&opts, "default_permissions,%sfsname=%s,subtype=raftfs",
                     fs->opts.allow_other ? "allow_other," : "", fs->fsname) < 0)
                return -ENOMEM;

        char *argv[] = { (char *) "raftfsd", (char *) "-o", opts, (char *) "-d", NULL };
        struct fuse_args args = FUSE_ARGS_INIT(fs->opts.debug ? 4 : 3, argv);

        fs->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
        fuse_opt_free_args(&args);      /* parsing may have copied argv */
        if (!fs->se)
                return -EIO;
        if (fuse_session_mount(fs->se, fs->mountpoint) != 0)
                return -EIO;
        fs->mounted = true;

        int fd = fuse_session_fd(fs->se);
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        int r = sd_event_add_io(fs->event, &fs->io_source, fd, EPOLLIN, session_io_handler, fs);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(fs->io_source, "fusefs-session");
        return 0;
}

int fusefs_new(sd_event *e, const FuseFsOptions *opts, const FsBackend *backend,
               void *backend_userdata, FuseFs **ret) {
        assert(e);
        assert(opts);
        assert(backend);
        assert(ret);

        if (!opts->mountpoint || opts->mountpoint[0] != '/')
                return -EINVAL;
        if (!backend->propose || !backend->read_barrier || !backend->tree || !backend->has_quorum ||
            !backend->node_id || !backend->session_id || !backend->info)
                return -EINVAL;

        FuseFs *fs = calloc(1, sizeof(*fs));
        if (!fs)
                return -ENOMEM;
        fs->event = sd_event_ref(e);
        fs->opts = *opts;
        fs->backend = *backend;
        fs->bud = backend_userdata;
        fs->opts.mountpoint = NULL;
        fs->opts.fsname = NULL;
        if (fs->opts.op_timeout_usec == 0)
                fs->opts.op_timeout_usec = DEFAULT_OP_TIMEOUT_USEC;
        if (fs->opts.max_file_size == 0)
                fs->opts.max_file_size = DEFAULT_MAX_FILE_SIZE;
        if (fs->opts.max_handles == 0)
                fs->opts.max_handles = DEFAULT_MAX_HANDLES;
        if (fs->opts.max_buffered_bytes == 0)
                fs->opts.max_buffered_bytes = DEFAULT_MAX_BUFFERED;
        if (fs->opts.max_waiters == 0)
                fs->opts.max_waiters = DEFAULT_MAX_WAITERS;
        list_init(&fs->handles);
        list_init(&fs->ops);
        list_init(&fs->barrier_queue);
        fs->session = backend->session_id(backend_userdata);

        int r = -ENOMEM;
        fs->mountpoint = strdup(opts->mountpoint);
        fs->fsname = strdup(opts->fsname ? opts->fsname : "raftfs");
        fs->lock_waiters = hashmap_new(&u64_hash_ops);
        fs->inflight = hashmap_new(&u64_hash_ops);
        if (!fs->mountpoint || !fs->fsname || !fs->lock_waiters || !fs->inflight)
                goto fail;
        r = kinodes_init(fs);
        if (r < 0)
                goto fail;
        r = fs_barrier_init(fs);
        if (r < 0)
                goto fail;

        /* Process-wide, but fusefs/ is the only user of libfuse. The debug
         * trace (opts->debug) stays on stderr as libfuse writes it. */
        if (!fs->opts.debug)
                fuse_set_log_func(libfuse_log);
        check_request_timeout_sysctl();
        r = cleanup_stale_mount(fs->mountpoint);
        if (r < 0)
                goto fail;
        r = session_create(fs);
        if (r < 0)
                goto fail;
        /* Linearizable mode lets the kernel cache nothing: there is
         * nothing to invalidate. */
        if (!fs_linearizable(fs)) {
                fs->notifier = notifier_new(fs->se);
                if (!fs->notifier) {
                        r = -errno;
                        goto fail;
                }
        }
        log_debug("Mounted raftfs at %s", fs->mountpoint);
        *ret = fs;
        return 0;
fail:
        fusefs_free(fs);
        return r;
}

/* Answers what the kernel still sends while the notifier thread finishes.
 * Handlers see fs->exiting and answer at once. */
static void shutdown_drain(FuseFs *fs) {
        uint64_t deadline = fs_now_usec(fs) + SHUTDOWN_DRAIN_USEC;
        bool aborted = false;

        while (fs->notifier && !notifier_stopped(fs->notifier)) {
                if (fs->mounted) {
                        struct pollfd p = { .fd = fuse_session_fd(fs->se), .events = POLLIN };
                        if (poll(&p, 1, 10) > 0 && session_drain(fs) < 0)
                                fs->mounted = false;
                } else
                        (void) poll(NULL, 0, 10);

                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                uint64_t now = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
                if (now > deadline && !aborted) {
                        /* Last resort: abort the connection, which fails every
                         * request in the kernel and frees the locks the
                         * notifier waits for. */
                        struct stat st;
                        if (fs->se && fstat(fuse_session_fd(fs->se), &st) >= 0) {
                                char p[128];
                                snprintf(p, sizeof(p), "/sys/fs/fuse/connections/%u/abort",
                                         minor(st.st_rdev));
                                log_warning("Notifier thread stuck at shutdown; aborting the connection");
                                _cleanup_close_ int afd = open(p, O_WRONLY | O_CLOEXEC);
                                if (afd >= 0)
                                        (void) !write(afd, "1", 1);
                        }
                        aborted = true;
                }
                if (now > deadline + SHUTDOWN_DRAIN_USEC) {
                        log_error("Notifier thread did not stop; leaving it behind");
                        return;
                }
        }
}

FuseFs *fusefs_free(FuseFs *fs) {
        if (!fs)
                return NULL;

        fs->exiting = true;
        ops_abort_all(fs);
        locks_abort_all(fs);
        handles_abort_all(fs);
        kinodes_abort_waiters(fs);

        if (fs->notifier) {
                notifier_stop(fs->notifier);
                shutdown_drain(fs);
                if (notifier_stopped(fs->notifier))
                        fs->notifier = notifier_free(fs->notifier);
        }

        fs->io_source = sd_event_source_disable_unref(fs->io_source);
        fs->barrier_defer = sd_event_source_disable_unref(fs->barrier_defer);
        fs->timeout_timer = sd_event_source_disable_unref(fs->timeout_timer);
        if (fs->se) {
                /* Lazy (as root): busy descriptors do not hold us up;
                 * closes the fd, which fails what the kernel still has. */
                fuse_session_unmount(fs->se);
                fuse_session_destroy(fs->se);
        }
        handles_free_all(fs);
        free(fs->fbuf.mem);
        kinodes_free(fs);
        hashmap_free(fs->lock_waiters);
        hashmap_free(fs->inflight);
        sd_event_unref(fs->event);
        free(fs->mountpoint);
        free(fs->fsname);
        free(fs);
        return NULL;
}

bool fusefs_is_mounted(const FuseFs *fs) {
        return fs && fs->mounted;
}

void fusefs_notify_session(FuseFs *fs, uint64_t session_id) {
        if (fs->session == session_id)
                return;
        fs->session = session_id;
        locks_session_changed(fs, session_id);
}

/* ---- metrics ---- */

#define APPENDF(out, ...)                                                       \
        do {                                                                    \
                char _line[512];                                                \
                int _n = snprintf(_line, sizeof(_line), __VA_ARGS__);           \
                if (_n < 0 || (size_t) _n >= sizeof(_line))                     \
                        return -EINVAL;                                         \
                if (buf_append(out, _line, (size_t) _n) < 0)                    \
                        return -ENOMEM;                                         \
        } while (0)

int fusefs_metrics_append(const FuseFs *fs, Buf *out) {
        const FuseFsMetrics *m = &fs->m;

        APPENDF(out, "# HELP raftfs_fuse_requests_total FUSE requests by operation.\n"
                     "# TYPE raftfs_fuse_requests_total counter\n");
        for (int k = 0; k < _OP_KIND_MAX; k++)
                if (m->requests[k] > 0)
                        APPENDF(out, "raftfs_fuse_requests_total{op=\"%s\"} %" PRIu64 "\n",
                                op_names[k], m->requests[k]);
        APPENDF(out, "# HELP raftfs_fuse_errors_total FUSE requests answered with an error.\n"
                     "# TYPE raftfs_fuse_errors_total counter\n");
        for (int k = 0; k < _OP_KIND_MAX; k++)
                if (m->errors[k] > 0)
                        APPENDF(out, "raftfs_fuse_errors_total{op=\"%s\"} %" PRIu64 "\n",
                                op_names[k], m->errors[k]);
        APPENDF(out, "# TYPE raftfs_fuse_commits_total counter\n"
                     "raftfs_fuse_commits_total %" PRIu64 "\n"
                     "# TYPE raftfs_fuse_commit_errors_total counter\n"
                     "raftfs_fuse_commit_errors_total %" PRIu64 "\n"
                     "# TYPE raftfs_fuse_commit_seconds_total counter\n"
                     "raftfs_fuse_commit_seconds_total %.6f\n",
                m->commits, m->commit_errors, (double) m->commit_usec_sum / 1e6);
        APPENDF(out, "# TYPE raftfs_fuse_read_barriers_total counter\n"
                     "raftfs_fuse_read_barriers_total %" PRIu64 "\n"
                     "# TYPE raftfs_fuse_read_barrier_waiters_total counter\n"
                     "raftfs_fuse_read_barrier_waiters_total %" PRIu64 "\n"
                     "# TYPE raftfs_fuse_read_barrier_errors_total counter\n"
                     "raftfs_fuse_read_barrier_errors_total %" PRIu64 "\n"
                     "# TYPE raftfs_fuse_read_barrier_seconds_total counter\n"
                     "raftfs_fuse_read_barrier_seconds_total %.6f\n",
                m->barriers, m->barrier_waiters, m->barrier_errors,
                (double) m->barrier_usec_sum / 1e6);
        APPENDF(out, "# TYPE raftfs_fuse_parked_requests gauge\n"
                     "raftfs_fuse_parked_requests %zu\n"
                     "# TYPE raftfs_fuse_lock_waiters gauge\n"
                     "raftfs_fuse_lock_waiters %zu\n"
                     "# TYPE raftfs_fuse_open_handles gauge\n"
                     "raftfs_fuse_open_handles %zu\n"
                     "# TYPE raftfs_fuse_buffered_bytes gauge\n"
                     "raftfs_fuse_buffered_bytes %" PRIu64 "\n"
                     "# TYPE raftfs_fuse_kernel_inodes gauge\n"
                     "raftfs_fuse_kernel_inodes %zu\n",
                fs->n_ops, hashmap_size(fs->lock_waiters), fs->n_handles, fs->buffered_bytes,
                hashmap_size(fs->inodes));
        APPENDF(out, "# TYPE raftfs_fuse_lock_interrupts_total counter\n"
                     "raftfs_fuse_lock_interrupts_total %" PRIu64 "\n"
                     "# TYPE raftfs_fuse_estale_retries_total counter\n"
                     "raftfs_fuse_estale_retries_total %" PRIu64 "\n",
                m->lock_interrupts, m->estale_retries);
        if (fs->notifier) {
                NotifierStats ns;
                notifier_stats(fs->notifier, &ns);
                APPENDF(out, "# TYPE raftfs_fuse_invalidations_total counter\n"
                             "raftfs_fuse_invalidations_total %" PRIu64 "\n"
                             "# TYPE raftfs_fuse_invalidation_errors_total counter\n"
                             "raftfs_fuse_invalidation_errors_total %" PRIu64 "\n"
                             "# TYPE raftfs_fuse_invalidations_queued gauge\n"
                             "raftfs_fuse_invalidations_queued %" PRIu64 "\n",
                        ns.sent, ns.failed, ns.queued);
        }
        return 0;
}
