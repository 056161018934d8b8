#include "config.h"
/* test-fusefs.c — the FUSE adapter through a real mount, single node.
 *
 * Every case mounts a fresh FuseFs over the fake backend of
 * test-fusefs-harness.h and exercises it with ordinary syscalls (and child
 * processes for locks): namespace operations and their errno paths, the
 * write-buffering and commit-on-close rules, one version per open handle,
 * quorum loss (EROFS/EIO, never a hang), invalidation of changes applied
 * "from another node", locks with FIFO handoff and interrupts, ephemeral
 * directories and /.raftfs/. Needs root and /dev/fuse (exit 77 otherwise). */

#include <dirent.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "test-fusefs-harness.h"

/* ---------------------------------------------------------------------- */
/* namespace */

START_TEST(test_basic_namespace) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        struct stat st;
        char buf[256];

        ck_assert_int_eq(mkdir(P(s, "d"), 0750), 0);
        ck_assert_int_eq(stat(P(s, "d"), &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_int_eq(st.st_mode & 07777, 0750);

        ck_assert_int_eq(put_file(P(s, "d/f"), "hello\n"), 0);
        ck_assert_str_eq(get_file(P(s, "d/f")), "hello\n");
        ck_assert_int_eq(stat(P(s, "d/f"), &st), 0);
        ck_assert_int_eq(st.st_size, 6);
        ck_assert_int_eq(st.st_nlink, 1);
        ck_assert_int_eq(st.st_uid, 0);

        ck_assert_int_eq(symlink("f", P(s, "d/l")), 0);
        ssize_t n = readlink(P(s, "d/l"), buf, sizeof(buf));
        ck_assert_int_eq(n, 1);
        ck_assert_int_eq(buf[0], 'f');
        ck_assert_str_eq(get_file(P(s, "d/l")), "hello\n");

        ck_assert_int_eq(link(P(s, "d/f"), P(s, "d/h")), 0);
        ck_assert_int_eq(stat(P(s, "d/f"), &st), 0);
        ck_assert_int_eq(st.st_nlink, 2);

        ck_assert_int_eq(rename(P(s, "d/h"), P(s, "g")), 0);
        ck_assert_str_eq(get_file(P(s, "g")), "hello\n");
        ck_assert_int_eq(unlink(P(s, "g")), 0);
        ck_assert_int_eq(stat(P(s, "d/f"), &st), 0);
        ck_assert_int_eq(st.st_nlink, 1);

        ck_assert_int_eq(chmod(P(s, "d/f"), 0600), 0);
        ck_assert_int_eq(chown(P(s, "d/f"), 1234, 5678), 0);
        ck_assert_int_eq(stat(P(s, "d/f"), &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(st.st_uid, 1234);
        ck_assert_int_eq(st.st_gid, 5678);

        ck_assert_int_eq(truncate(P(s, "d/f"), 2), 0);
        ck_assert_str_eq(get_file(P(s, "d/f")), "he");
        struct timespec ts[2] = { { 100, 0 }, { 200, 500000000 } };
        ck_assert_int_eq(utimensat(AT_FDCWD, P(s, "d/f"), ts, 0), 0);
        ck_assert_int_eq(stat(P(s, "d/f"), &st), 0);
        ck_assert_int_eq(st.st_mtim.tv_sec, 200);
        ck_assert_int_eq(st.st_mtim.tv_nsec, 500000000);

        DIR *dir = opendir(P(s, "d"));
        ck_assert_ptr_nonnull(dir);
        int seen = 0;
        struct dirent *de;
        while ((de = readdir(dir)))
                seen |= strcmp(de->d_name, "f") == 0 ? 1 : strcmp(de->d_name, "l") == 0 ? 2 :
                        strcmp(de->d_name, ".") == 0 ? 4 : strcmp(de->d_name, "..") == 0 ? 8 : 16;
        closedir(dir);
        ck_assert_int_eq(seen, 15);

        ck_assert_int_eq(rmdir(P(s, "d")), -1);
        ck_assert_int_eq(errno, ENOTEMPTY);
        ck_assert_int_eq(unlink(P(s, "d/f")), 0);
        ck_assert_int_eq(unlink(P(s, "d/l")), 0);
        ck_assert_int_eq(rmdir(P(s, "d")), 0);
        ck_assert_int_eq(stat(P(s, "d"), &st), -1);
        ck_assert_int_eq(errno, ENOENT);

        struct statvfs sv;
        ck_assert_int_eq(statvfs(s->mnt, &sv), 0);
        ck_assert_int_eq(sv.f_namemax, 255);
        ck_assert_int_gt(sv.f_blocks, 0);
        srv_stop(s);
}
END_TEST

START_TEST(test_errno_paths) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char longname[300];

        ck_assert_int_eq(mkdir(P(s, "d"), 0755), 0);
        ck_assert_int_eq(mkdir(P(s, "d"), 0755), -1);
        ck_assert_int_eq(errno, EEXIST);
        ck_assert_int_eq(put_file(P(s, "f"), "x"), 0);
        ck_assert_int_eq(open(P(s, "f"), O_CREAT | O_EXCL | O_WRONLY, 0644), -1);
        ck_assert_int_eq(errno, EEXIST);
        ck_assert_int_eq(open(P(s, "nope"), O_RDONLY), -1);
        ck_assert_int_eq(errno, ENOENT);
        ck_assert_int_eq(mkdir(P(s, "f/x"), 0755), -1);
        ck_assert_int_eq(errno, ENOTDIR);
        ck_assert_int_eq(rmdir(P(s, "f")), -1);
        ck_assert_int_eq(errno, ENOTDIR);
        ck_assert_int_eq(unlink(P(s, "d")), -1);
        ck_assert_int_eq(errno, EISDIR);
        ck_assert_int_eq(open(P(s, "d"), O_WRONLY), -1);
        ck_assert_int_eq(errno, EISDIR);
        memset(longname, 'a', 256);
        longname[256] = 0;
        ck_assert_int_eq(mkdir(P(s, longname), 0755), -1);
        ck_assert_int_eq(errno, ENAMETOOLONG);
        ck_assert_int_eq(rename(P(s, "d"), P(s, "d/sub")), -1);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_int_eq(mknod(P(s, "fifo"), S_IFIFO | 0644, 0), -1);
        ck_assert_int_eq(errno, EPERM);
        ck_assert_int_eq(link(P(s, "d"), P(s, "dl")), -1);
        ck_assert_int_eq(errno, EPERM);

        /* renameat2 flags */
        ck_assert_int_eq(put_file(P(s, "g"), "y"), 0);
        ck_assert_int_eq(syscall(SYS_renameat2, AT_FDCWD, P(s, "f"), AT_FDCWD, P(s, "g"),
                                 RENAME_NOREPLACE), -1);
        ck_assert_int_eq(errno, EEXIST);
        ck_assert_int_eq(syscall(SYS_renameat2, AT_FDCWD, P(s, "f"), AT_FDCWD, P(s, "g"),
                                 RENAME_EXCHANGE), 0);
        ck_assert_str_eq(get_file(P(s, "f")), "y");
        ck_assert_str_eq(get_file(P(s, "g")), "x");
        ck_assert_int_eq(syscall(SYS_renameat2, AT_FDCWD, P(s, "f"), AT_FDCWD, P(s, "h"),
                                 RENAME_EXCHANGE), -1);
        ck_assert_int_eq(errno, ENOENT);
        ck_assert_int_eq(syscall(SYS_renameat2, AT_FDCWD, P(s, "f"), AT_FDCWD, P(s, "h"),
                                 RENAME_WHITEOUT), -1);
        ck_assert_int_eq(errno, EINVAL);

        /* mknod of a regular file works (mknod(1), some installers) */
        ck_assert_int_eq(mknod(P(s, "reg"), S_IFREG | 0600, 0), 0);
        srv_stop(s);
}
END_TEST

START_TEST(test_file_size_limit) {
        srv_skip_unless_possible();
        FuseFsOptions o = { .max_file_size = 4096 };
        Srv *s = srv_start(&o);
        char data[5000];

        memset(data, 'z', sizeof(data));
        int fd = open(P(s, "big"), O_CREAT | O_WRONLY, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, data, 4096), 4096);
        ck_assert_int_eq(write(fd, data, 10), -1);
        ck_assert_int_eq(errno, EFBIG);
        /* A failed handle commits nothing, ever: not the 4096 bytes
         * written before the failure either; close() says why. */
        ck_assert_int_eq(ftruncate(fd, 10), -1);
        ck_assert_int_eq(errno, EFBIG);
        ck_assert_int_eq(close(fd), -1);
        ck_assert_int_eq(errno, EFBIG);
        struct stat st;
        ck_assert_int_eq(stat(P(s, "big"), &st), 0);
        ck_assert_int_eq(st.st_size, 0);
        /* ftruncate past the limit fails the handle the same way */
        ck_assert_int_eq(put_file(P(s, "big"), "kept"), 0);
        fd = open(P(s, "big"), O_WRONLY | O_TRUNC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, 5000), -1);
        ck_assert_int_eq(errno, EFBIG);
        ck_assert_int_eq(close(fd), -1);
        ck_assert_int_eq(errno, EFBIG);
        ck_assert_str_eq(get_file(P(s, "big")), "kept");
        srv_stop(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* writes, commits, versions */

static void count_proposals(Srv *s, void *arg) {
        *(uint64_t *) arg = s->proposals;
}

static uint64_t proposals(Srv *s) {
        uint64_t n;
        srv_call(s, count_proposals, &n);
        return n;
}

START_TEST(test_commit_on_close) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);

        ck_assert_int_eq(put_file(P(s, "f"), "old"), 0);
        uint64_t before = proposals(s);
        int fd = open(P(s, "f"), O_WRONLY | O_TRUNC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "new content", 11), 11);
        ck_assert_int_eq(write(fd, "!", 1), 1);
        /* not yet visible: nothing committed */
        ck_assert_str_eq(get_file(P(s, "f")), "old");
        ck_assert_int_eq(proposals(s), before);
        ck_assert_int_eq(close(fd), 0);
        /* one entry for the whole handle */
        ck_assert_int_eq(proposals(s), before + 1);
        ck_assert_str_eq(get_file(P(s, "f")), "new content!");

        /* fsync commits and the handle goes on */
        fd = open(P(s, "f"), O_WRONLY);
        ck_assert_int_eq(pwrite(fd, "N", 1, 0), 1);
        ck_assert_int_eq(fsync(fd), 0);
        ck_assert_str_eq(get_file(P(s, "f")), "New content!");
        ck_assert_int_eq(pwrite(fd, "C", 1, 4), 1);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_str_eq(get_file(P(s, "f")), "New Content!");

        /* a read-only open and close commit nothing */
        before = proposals(s);
        ck_assert_ptr_nonnull(get_file(P(s, "f")));
        ck_assert_int_eq(proposals(s), before);
        srv_stop(s);
}
END_TEST

START_TEST(test_truncate_only_flush) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);

        ck_assert_int_eq(put_file(P(s, "f"), "previous"), 0);
        /* bash `echo x > f`: OPEN(O_TRUNC), dup2 + close (FLUSH before any
         * write), WRITE, close. The early flush must not commit an empty file. */
        uint64_t before = proposals(s);
        int fd = open(P(s, "f"), O_WRONLY | O_TRUNC);
        ck_assert_int_ge(fd, 0);
        int fd2 = dup(fd);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(proposals(s), before);
        ck_assert_str_eq(get_file(P(s, "f")), "previous");
        ck_assert_int_eq(write(fd2, "x\n", 2), 2);
        ck_assert_int_eq(close(fd2), 0);
        ck_assert_int_eq(proposals(s), before + 1);
        ck_assert_str_eq(get_file(P(s, "f")), "x\n");

        /* `: > f` truncates (committed at release) */
        fd = open(P(s, "f"), O_WRONLY | O_TRUNC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(close(fd), 0);
        /* the next open on this node waits for the release commit */
        ck_assert_str_eq(get_file(P(s, "f")), "");
        srv_stop(s);
}
END_TEST

START_TEST(test_one_version_per_handle) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char buf[64];

        ck_assert_int_eq(put_file(P(s, "f"), "version-1"), 0);
        int rfd = open(P(s, "f"), O_RDONLY);
        ck_assert_int_ge(rfd, 0);
        ck_assert_int_eq(read(rfd, buf, 3), 3);
        ck_assert_int_eq(put_file(P(s, "f"), "version-2 longer"), 0);
        /* the reader keeps its version */
        ssize_t n = read(rfd, buf, sizeof(buf));
        ck_assert_int_eq(n, 6);
        ck_assert_int_eq(memcmp(buf, "sion-1", 6), 0);
        ck_assert_int_eq(pread(rfd, buf, sizeof(buf), 0), 9);
        close(rfd);
        ck_assert_str_eq(get_file(P(s, "f")), "version-2 longer");

        /* concurrent writers of different parts both land */
        ck_assert_int_eq(put_file(P(s, "g"), "aaaaaaaaaa"), 0);
        int a = open(P(s, "g"), O_WRONLY), b = open(P(s, "g"), O_WRONLY);
        ck_assert_int_eq(pwrite(a, "AA", 2, 0), 2);
        ck_assert_int_eq(pwrite(b, "BB", 2, 8), 2);
        ck_assert_int_eq(close(a), 0);
        ck_assert_int_eq(close(b), 0);
        ck_assert_str_eq(get_file(P(s, "g")), "AAaaaaaaBB");

        /* O_APPEND appends at the end as it is when the entry applies */
        a = open(P(s, "g"), O_WRONLY | O_APPEND);
        b = open(P(s, "g"), O_WRONLY | O_APPEND);
        ck_assert_int_eq(write(a, "1", 1), 1);
        ck_assert_int_eq(write(b, "2", 1), 1);
        ck_assert_int_eq(close(a), 0);
        ck_assert_int_eq(close(b), 0);
        ck_assert_str_eq(get_file(P(s, "g")), "AAaaaaaaBB12");

        /* read-your-writes within a handle, ftruncate buffered */
        a = open(P(s, "g"), O_RDWR);
        ck_assert_int_eq(pwrite(a, "xyz", 3, 20), 3);
        ck_assert_int_eq(pread(a, buf, sizeof(buf), 18), 5);
        ck_assert_int_eq(memcmp(buf, "\0\0xyz", 5), 0);
        ck_assert_int_eq(ftruncate(a, 4), 0);
        ck_assert_int_eq(close(a), 0);
        ck_assert_str_eq(get_file(P(s, "g")), "AAaa");
        srv_stop(s);
}
END_TEST

START_TEST(test_unlinked_open_file) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        struct stat st;
        char buf[16];

        ck_assert_int_eq(put_file(P(s, "f"), "data"), 0);
        int fd = open(P(s, "f"), O_RDWR);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(unlink(P(s, "f")), 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_eq(st.st_nlink, 0);
        ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 4);
        ck_assert_int_eq(write(fd, "more", 4), 4);
        /* data written to an unlinked file goes with it, without error */
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(stat(P(s, "f"), &st), -1);
        srv_stop(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* no quorum */

static void set_stall(Srv *s, void *arg) {
        s->stall = arg != NULL;
}
static void set_quorum(Srv *s, void *arg) {
        s->quorum = arg != NULL;
}

START_TEST(test_no_quorum) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);

        ck_assert_int_eq(put_file(P(s, "f"), "committed"), 0);
        int fd = open(P(s, "f"), O_WRONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "X", 1), 1);

        /* the commit of fsync() times out before any leader took it:
         * fsync() says EROFS, and the handle is done for: later writes
         * and its close() say EROFS too, and nothing of it is committed */
        srv_call(s, set_stall, (void *) 1);
        ck_assert_int_eq(fsync(fd), -1);
        ck_assert_int_eq(errno, EROFS);
        ck_assert_int_eq(write(fd, "X", 1), -1);
        ck_assert_int_eq(errno, EROFS);
        ck_assert_int_eq(close(fd), -1);
        ck_assert_int_eq(errno, EROFS);
        /* mutations: EROFS; linearizable reads: EIO */
        ck_assert_int_eq(mkdir(P(s, "d"), 0755), -1);
        ck_assert_int_eq(errno, EROFS);
        ck_assert_int_eq(open(P(s, "f"), O_RDONLY), -1);
        ck_assert_int_eq(errno, EIO);
        char x[8];
        ck_assert_int_eq(getxattr(P(s, "f"), "user.x", x, sizeof(x)), -1);
        ck_assert_int_eq(errno, EIO);
        /* a name the replica does not have: a read says EIO (absent here
         * may be stale), a creat EROFS */
        ck_assert_int_eq(open(P(s, "new"), O_RDONLY), -1);
        ck_assert_int_eq(errno, EIO);
        ck_assert_int_eq(open(P(s, "new"), O_WRONLY | O_CREAT, 0644), -1);
        ck_assert_int_eq(errno, EROFS);
        /* a write-only open of a name the walk found without a barrier
         * (the replica may be behind: another node may have replaced the
         * file) waits for one, and fails like a change: EROFS */
        srv_call(s, set_quorum, NULL);
        ck_assert_int_eq(open(P(s, "f"), O_WRONLY), -1);
        ck_assert_int_eq(errno, EROFS);
        srv_call(s, set_quorum, (void *) 1);

        /* known no-quorum: write() fails at once */
        srv_call(s, set_stall, NULL);
        fd = open(P(s, "f"), O_WRONLY);
        ck_assert_int_ge(fd, 0);
        srv_call(s, set_quorum, NULL);
        ck_assert_int_eq(write(fd, "Y", 1), -1);
        ck_assert_int_eq(errno, EROFS);
        srv_call(s, set_quorum, (void *) 1);
        ck_assert_int_eq(close(fd), -1);
        ck_assert_int_eq(errno, EROFS);
        ck_assert_str_eq(get_file(P(s, "f")), "committed");

        /* `echo x > f` without quorum: the O_TRUNC of the open belongs to
         * the handle's one commit, which never happens once write() failed
         * (issue 14: the release used to commit the truncation later). The
         * early flush bash sends before writing commits nothing either. */
        srv_call(s, set_quorum, NULL);
        fd = open(P(s, "f"), O_WRONLY | O_TRUNC);
        ck_assert_int_ge(fd, 0);
        int fd2 = dup(fd);
        ck_assert_int_eq(close(fd2), 0);
        ck_assert_int_eq(write(fd, "gone\n", 5), -1);
        ck_assert_int_eq(errno, EROFS);
        ck_assert_int_eq(close(fd), -1);
        ck_assert_int_eq(errno, EROFS);
        srv_call(s, set_quorum, (void *) 1);
        /* the release (answered at once) must not have proposed anything */
        ck_assert_str_eq(get_file(P(s, "f")), "committed");
        ck_assert_str_eq(get_file(P(s, "f")), "committed");
        srv_stop(s);
}
END_TEST

static void set_blackhole(Srv *s, void *arg) {
        s->blackhole = arg != NULL;
}

START_TEST(test_backend_never_answers) {
        srv_skip_unless_possible();
        FuseFsOptions o = { .debug = getenv("FUSEFS_DEBUG") != NULL };
        Srv *s = srv_start(&o);

        ck_assert_int_eq(put_file(P(s, "f"), "x"), 0);
        srv_call(s, set_blackhole, (void *) 1);
        /* op_timeout 300 ms + 1 s of grace: the walk's barriers are failed
         * by FuseFs itself, and a name it cannot confirm absent makes the
         * change fail as changes do without a quorum, proposing nothing */
        ck_assert_int_eq(mkdir(P(s, "d"), 0755), -1);
        ck_assert_int_eq(errno, EROFS);
        /* a proposal the backend took but never answered (fchmod: no walk,
         * no barrier): outcome unknown */
        srv_call(s, set_blackhole, NULL);
        int fd = open(P(s, "f"), O_RDONLY);
        ck_assert_int_ge(fd, 0);
        srv_call(s, set_blackhole, (void *) 1);
        ck_assert_int_eq(fchmod(fd, 0600), -1);
        ck_assert_int_eq(errno, ETIMEDOUT);
        close(fd);
        ck_assert_int_eq(open(P(s, "f"), O_RDONLY), -1);
        ck_assert_int_eq(errno, EIO);
        srv_call(s, set_blackhole, NULL);
        ck_assert_str_eq(get_file(P(s, "f")), "x");
        srv_stop(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* changes from another node */

typedef struct Remote {
        TreeCmd cmd;
        int result;
} Remote;

static void remote_apply(Srv *s, void *arg) {
        Remote *r = arg;
        r->result = srv_apply_as(s, &r->cmd, s->session2);
}

static uint64_t ino_of(const char *path) {
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        return st.st_ino;
}

static int remote_write(Srv *s, uint64_t ino, const char *text) {
        TreeExtent e = { .offset = 0, .data = (const uint8_t *) text, .len = strlen(text) };
        Remote r = { .cmd = { .type = TREE_CMD_WRITE } };
        r.cmd.write.ino = ino;
        r.cmd.write.flags = TREE_WRITE_TRUNCATE;
        r.cmd.write.extents = &e;
        r.cmd.write.n_extents = 1;
        srv_call(s, remote_apply, &r);
        return r.result;
}

static void flush_notifier(Srv *s, void *arg) {
        (void) arg;
}

/* Lets the notifier thread send what is queued (it runs on its own; a
 * short pause is what a real remote change has too). */
static void settle(Srv *s) {
        srv_call(s, flush_notifier, NULL);
        usleep(20 * 1000);
}

START_TEST(test_remote_changes_invalidate) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        struct stat st;

        ck_assert_int_eq(mkdir(P(s, "d"), 0755), 0);
        ck_assert_int_eq(put_file(P(s, "d/f"), "short"), 0);
        uint64_t ino = ino_of(P(s, "d/f"));
        ck_assert_int_eq(stat(P(s, "d/f"), &st), 0);
        ck_assert_int_eq(st.st_size, 5);

        /* content and size */
        ck_assert_int_eq(remote_write(s, ino, "a much longer text"), 0);
        settle(s);
        ck_assert_int_eq(stat(P(s, "d/f"), &st), 0);
        ck_assert_int_eq(st.st_size, 18);
        ck_assert_str_eq(get_file(P(s, "d/f")), "a much longer text");

        /* a name that did not exist, looked up before */
        ck_assert_int_eq(stat(P(s, "d/g"), &st), -1);
        Remote r = { .cmd = { .type = TREE_CMD_CREATE } };
        r.cmd.create.parent = ino_of(P(s, "d"));
        r.cmd.create.name = "g";
        r.cmd.create.mode = 0644;
        srv_call(s, remote_apply, &r);
        ck_assert_int_eq(r.result, 0);
        ck_assert_int_eq(stat(P(s, "d/g"), &st), 0);

        /* removal */
        r = (Remote) { .cmd = { .type = TREE_CMD_UNLINK } };
        r.cmd.unlink.parent = ino_of(P(s, "d"));
        r.cmd.unlink.name = "f";
        srv_call(s, remote_apply, &r);
        ck_assert_int_eq(r.result, 0);
        settle(s);
        ck_assert_int_eq(stat(P(s, "d/f"), &st), -1);
        ck_assert_int_eq(errno, ENOENT);

        /* a directory renamed away and replaced: the cached path must not
         * lead into the old directory */
        ck_assert_int_eq(mkdir(P(s, "app"), 0755), 0);
        ck_assert_int_eq(put_file(P(s, "app/conf"), "old"), 0);
        ck_assert_str_eq(get_file(P(s, "app/conf")), "old");
        r = (Remote) { .cmd = { .type = TREE_CMD_RENAME } };
        r.cmd.rename.parent = TREE_ROOT_INO;
        r.cmd.rename.name = "app";
        r.cmd.rename.new_parent = TREE_ROOT_INO;
        r.cmd.rename.new_name = "app.old";
        srv_call(s, remote_apply, &r);
        ck_assert_int_eq(r.result, 0);
        r = (Remote) { .cmd = { .type = TREE_CMD_MKDIR } };
        r.cmd.create.parent = TREE_ROOT_INO;
        r.cmd.create.name = "app";
        r.cmd.create.mode = 0755;
        srv_call(s, remote_apply, &r);
        uint64_t newdir = s->index;
        r = (Remote) { .cmd = { .type = TREE_CMD_CREATE } };
        r.cmd.create.parent = newdir;
        r.cmd.create.name = "conf";
        r.cmd.create.mode = 0644;
        srv_call(s, remote_apply, &r);
        ck_assert_int_eq(remote_write(s, s->index, "new"), 0);
        /* no settle(): the open must be right even before the notifier ran */
        ck_assert_str_eq(get_file(P(s, "app/conf")), "new");
        ck_assert_str_eq(get_file(P(s, "app.old/conf")), "old");
        srv_stop(s);
}
END_TEST

static void reset_fn(Srv *s, void *arg) {
        fusefs_notify_reset(s->fs);
}

START_TEST(test_reset) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);

        /* After a snapshot install every cached path is suspect: the next
         * open re-walks it (ESTALE + LOOKUP_REVAL) and still succeeds. */
        ck_assert_int_eq(mkdir(P(s, "d"), 0755), 0);
        ck_assert_int_eq(put_file(P(s, "d/f"), "one"), 0);
        ck_assert_str_eq(get_file(P(s, "d/f")), "one");
        srv_call(s, reset_fn, NULL);
        settle(s);
        ck_assert_str_eq(get_file(P(s, "d/f")), "one");
        ck_assert_int_eq(put_file(P(s, "d/f"), "two"), 0);
        ck_assert_str_eq(get_file(P(s, "d/f")), "two");
        srv_stop(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* xattrs, ephemeral directories, /.raftfs/ */

START_TEST(test_xattr) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        char buf[256];

        ck_assert_int_eq(put_file(P(s, "f"), ""), 0);
        ck_assert_int_eq(setxattr(P(s, "f"), "user.color", "blue", 4, 0), 0);
        ck_assert_int_eq(getxattr(P(s, "f"), "user.color", NULL, 0), 4);
        ck_assert_int_eq(getxattr(P(s, "f"), "user.color", buf, sizeof(buf)), 4);
        ck_assert_int_eq(memcmp(buf, "blue", 4), 0);
        ck_assert_int_eq(getxattr(P(s, "f"), "user.color", buf, 2), -1);
        ck_assert_int_eq(errno, ERANGE);
        ck_assert_int_eq(setxattr(P(s, "f"), "user.color", "red", 3, XATTR_CREATE), -1);
        ck_assert_int_eq(errno, EEXIST);
        ck_assert_int_eq(setxattr(P(s, "f"), "user.size", "1", 1, XATTR_REPLACE), -1);
        ck_assert_int_eq(errno, ENODATA);
        ssize_t n = listxattr(P(s, "f"), buf, sizeof(buf));
        ck_assert_int_eq(n, 11);
        ck_assert_str_eq(buf, "user.color");
        ck_assert_int_eq(removexattr(P(s, "f"), "user.color"), 0);
        ck_assert_int_eq(getxattr(P(s, "f"), "user.color", buf, sizeof(buf)), -1);
        ck_assert_int_eq(errno, ENODATA);
        ck_assert_int_eq(setxattr(P(s, "f"), "trusted.x", "1", 1, 0), -1);
        ck_assert_int_eq(errno, EOPNOTSUPP);
        /* unlocked: empty lock text */
        ck_assert_int_eq(getxattr(P(s, "f"), "user.raftfs.lock", buf, sizeof(buf)), 0);
        srv_stop(s);
}
END_TEST

static void expire_session(Srv *s, void *arg) {
        TreeCmd c = { .type = TREE_CMD_SESSION_EXPIRE };
        c.session_expire.session = *(uint64_t *) arg;
        ck_assert_int_eq(srv_apply_as(s, &c, 0), 0);
}

START_TEST(test_ephemeral) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        struct stat st;

        ck_assert_int_eq(mkdir(P(s, "members"), 0755), 0);
        ck_assert_int_eq(setxattr(P(s, "members"), "user.raftfs.ephemeral", "1", 1, 0), 0);
        ck_assert_int_eq(put_file(P(s, "members/n1"), "alive"), 0);
        ck_assert_int_eq(put_file(P(s, "plain"), "stays"), 0);
        uint64_t session = s->session;
        srv_call(s, expire_session, &session);
        settle(s);
        ck_assert_int_eq(stat(P(s, "members/n1"), &st), -1);
        ck_assert_int_eq(errno, ENOENT);
        ck_assert_int_eq(stat(P(s, "plain"), &st), 0);
        srv_stop(s);
}
END_TEST

START_TEST(test_control_dir) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        struct stat st;

        ck_assert_int_eq(stat(P(s, ".raftfs"), &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        char *t = get_file(P(s, ".raftfs/status"));
        ck_assert_ptr_nonnull(t);
        ck_assert_ptr_nonnull(strstr(t, "node: n1\n"));
        ck_assert_ptr_nonnull(strstr(t, "quorum: yes\n"));
        ck_assert_str_eq(get_file(P(s, ".raftfs/leader")), "n1\n");
        t = get_file(P(s, ".raftfs/metrics"));
        ck_assert_ptr_nonnull(strstr(t, "raftfs_applied_index"));
        ck_assert_ptr_nonnull(strstr(t, "raftfs_fuse_requests_total{op=\"open\"}"));
        ck_assert_int_eq(open(P(s, ".raftfs/status"), O_WRONLY), -1);
        ck_assert_int_eq(errno, EROFS);
        ck_assert_int_eq(mkdir(P(s, ".raftfs/x"), 0755), -1);
        ck_assert_int_eq(mkdir(P(s, ".raftfs"), 0755), -1);
        ck_assert_int_eq(errno, EEXIST);
        ck_assert_int_eq(rmdir(P(s, ".raftfs")), -1);

        /* not listed in the root */
        DIR *d = opendir(s->mnt);
        struct dirent *de;
        while ((de = readdir(d)))
                ck_assert_str_ne(de->d_name, ".raftfs");
        closedir(d);
        d = opendir(P(s, ".raftfs"));
        ck_assert_ptr_nonnull(d);
        int n = 0;
        while ((de = readdir(d)))
                n++;
        closedir(d);
        ck_assert_int_eq(n, 6);
        srv_stop(s);
}
END_TEST


/* ---------------------------------------------------------------------- */
/* everyday tools */

static int sh(Srv *s, const char *script) {
        char cmd[4096];
        snprintf(cmd, sizeof(cmd), "cd '%s' && set -e; %s", s->mnt, script);
        int st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_tools) {
        srv_skip_unless_possible();
        Srv *s = srv_start(NULL);
        struct stat st;

        /* shell redirections, sed -i (temp file + rename), cp, mv, install, dd, tee */
        ck_assert_int_eq(sh(s, "echo 'max_conns = 100' > db.conf; echo 'x = 1' >> db.conf"), 0);
        ck_assert_str_eq(get_file(P(s, "db.conf")), "max_conns = 100\nx = 1\n");
        ck_assert_int_eq(sh(s, "sed -i 's/100/200/' db.conf"), 0);
        ck_assert_str_eq(get_file(P(s, "db.conf")), "max_conns = 200\nx = 1\n");
        ck_assert_int_eq(sh(s, "cp db.conf copy.conf && cmp db.conf copy.conf"), 0);
        ck_assert_int_eq(sh(s, "cp -a db.conf attrs.conf && mkdir -p a/b/c && cp -r a a2"), 0);
        ck_assert_int_eq(sh(s, "mv copy.conf a/b/c/moved.conf && test -f a/b/c/moved.conf && ! test -e copy.conf"), 0);
        ck_assert_int_eq(sh(s, "install -m 0640 db.conf installed.conf"), 0);
        ck_assert_int_eq(stat(P(s, "installed.conf"), &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0640);
        ck_assert_int_eq(sh(s, "dd if=/dev/zero of=zeros bs=1k count=64 2>/dev/null && test $(stat -c %s zeros) = 65536"), 0);
        ck_assert_int_eq(sh(s, "echo hi | tee t1 >/dev/null && test \"$(cat t1)\" = hi"), 0);
        /* editors: vim writes a backup and renames (or overwrites in place) */
        ck_assert_int_eq(sh(s, "vim -E -s -u NONE -c '%s/200/300/' -c 'wq' db.conf </dev/null"), 0);
        ck_assert_str_eq(get_file(P(s, "db.conf")), "max_conns = 300\nx = 1\n");
        ck_assert_int_eq(sh(s, "printf ',s/300/400/\\nw\\nq\\n' | ed -s db.conf"), 0);
        ck_assert_str_eq(get_file(P(s, "db.conf")), "max_conns = 400\nx = 1\n");
        /* python's atomic replace pattern */
        ck_assert_int_eq(sh(s, "python3 -c \"import os,tempfile; fd,p=tempfile.mkstemp(dir='.'); "
                               "os.write(fd,b'py\\n'); os.fsync(fd); os.close(fd); os.replace(p,'db.conf')\""), 0);
        ck_assert_str_eq(get_file(P(s, "db.conf")), "py\n");
        ck_assert_int_eq(sh(s, "rm -rf a a2 && ! test -e a"), 0);
        ck_assert_int_eq(sh(s, "ls -la >/dev/null && find . >/dev/null && du -s . >/dev/null"), 0);
        srv_stop(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* a rough look at the adapter's own cost (the fake commits at once):
 * FUSEFS_PERF=1 CK_RUN_CASE=perf tests/unit/test-fusefs */

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

START_TEST(test_perf) {
        srv_skip_unless_possible();
        if (!getenv("FUSEFS_PERF"))
                return;
        for (int mode = 0; mode < 2; mode++) {
                FuseFsOptions o = { .consistency = mode ? FUSEFS_CONSISTENCY_LOCAL : FUSEFS_CONSISTENCY_LINEARIZABLE };
                Srv *s = srv_start(&o);
                enum { N = 3000 };
                static double t[N];
                char buf[2048], data[1024];
                memset(data, 'q', sizeof(data));
                ck_assert_int_eq(put_file(P(s, "f"), "x"), 0);
                for (int i = 0; i < N; i++) {
                        double a = now_us();
                        int fd = open(P(s, "f"), O_WRONLY | O_TRUNC);
                        ck_assert_int_eq(write(fd, data, sizeof(data)), (int) sizeof(data));
                        ck_assert_int_eq(close(fd), 0);
                        t[i] = now_us() - a;
                }
                qsort(t, N, sizeof(double), cmp_double);
                printf("%s write+close: p50 %.1f us p99 %.1f us\n", mode ? "local" : "linearizable", t[N / 2], t[N * 99 / 100]);
                for (int i = 0; i < N; i++) {
                        double a = now_us();
                        int fd = open(P(s, "f"), O_RDONLY);
                        ck_assert_int_eq(read(fd, buf, sizeof(buf)), (int) sizeof(data));
                        close(fd);
                        t[i] = now_us() - a;
                }
                qsort(t, N, sizeof(double), cmp_double);
                printf("%s open+read+close: p50 %.1f us p99 %.1f us\n", mode ? "local" : "linearizable", t[N / 2], t[N * 99 / 100]);
                struct stat st;
                double a = now_us();
                for (int i = 0; i < N; i++)
                        ck_assert_int_eq(stat(P(s, "f"), &st), 0);
                printf("%s stat: %.1f us each\n", mode ? "local" : "linearizable", (now_us() - a) / N);
                srv_stop(s);
        }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* a mount for manual runs: FUSEFS_RUN='command' CK_RUN_CASE=run
 * tests/unit/test-fusefs runs the command (sh -c) with $MNT set to the
 * mount point and fails when it fails. Used for the conformance runs. */

START_TEST(test_run) {
        srv_skip_unless_possible();
        const char *cmd = getenv("FUSEFS_RUN");
        if (!cmd)
                return;
        FuseFsOptions o = { .op_timeout_usec = 10 * USEC_PER_SEC,
                            .max_file_size = getenv("FUSEFS_MAX_FILE_SIZE") ?
                                             strtoull(getenv("FUSEFS_MAX_FILE_SIZE"), NULL, 0) : 0,
                            .consistency = getenv("FUSEFS_LOCAL") ? FUSEFS_CONSISTENCY_LOCAL
                                                                  : FUSEFS_CONSISTENCY_LINEARIZABLE };
        Srv *s = srv_start(&o);
        setenv("MNT", s->mnt, 1);
        int st = system(cmd);
        srv_stop(s);
        ck_assert_int_eq(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void cleanup_mounts(void) {
        if (srv_global)
                (void) umount2(srv_global->mnt, MNT_DETACH);
}

/* Check's runner parent: detach whatever a crashed or timed-out case left. */
static void sweep_stale_mounts(void) {
        FILE *f = fopen("/proc/self/mounts", "re");
        char line[1024], src[256], dst[512];
        if (!f)
                return;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "%255s %511s", src, dst) == 2 && strcmp(src, "raftfs-test") == 0 &&
                    strncmp(dst, "/tmp/test-fusefs-", 17) == 0) {
                        (void) umount2(dst, MNT_DETACH);
                        (void) rmdir(dst);
                        char *slash = strrchr(dst, '/');
                        if (slash) {
                                *slash = 0;
                                (void) rmdir(dst);
                        }
                }
        fclose(f);
}

static Suite *fusefs_suite(void) {
        const struct {
                const char *name;
                const TTest *fn;
        } cases[] = {
                { "basic-namespace", test_basic_namespace },
                { "errno-paths", test_errno_paths },
                { "file-size-limit", test_file_size_limit },
                { "commit-on-close", test_commit_on_close },
                { "truncate-only-flush", test_truncate_only_flush },
                { "one-version-per-handle", test_one_version_per_handle },
                { "unlinked-open-file", test_unlinked_open_file },
                { "no-quorum", test_no_quorum },
                { "backend-never-answers", test_backend_never_answers },
                { "remote-changes-invalidate", test_remote_changes_invalidate },
                { "reset", test_reset },
                { "xattr", test_xattr },
                { "ephemeral", test_ephemeral },
                { "control-dir", test_control_dir },
                { "tools", test_tools },
                { "perf", test_perf },
                { "run", test_run },
        };
        Suite *s = suite_create("fusefs");
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
                fprintf(stderr, "test-fusefs: needs root and /dev/fuse, skipping\n");
                return 77;
        }
        atexit(cleanup_mounts);
        SRunner *sr = srunner_create(fusefs_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_stale_mounts();
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
