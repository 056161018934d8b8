#include "config.h"

/* chaos-client — one workload process of the chaos harness. It uses only
 * file operations on a raftfs mount and appends one history line per
 * operation (format in history.h) to its own file.
 *
 *   chaos-client --mount DIR --out FILE --proc N --workload W [options]
 *   W: setup     create the workload directories and initial values (once)
 *      register  reads/writes of content registers reg/c<k>, written either
 *                in place (open(O_TRUNC)+write+close: what `echo v > f` does)
 *                or by atomic replace (a fresh temporary file, then rename over
 *                reg/c<k>), and reads/compare-and-renames of name registers
 *                reg/n<k>/<value> (readdir; renameat2(RENAME_NOREPLACE) from
 *                the value read)
 *      meta      existence and mode of files meta/m<k> as registers: create
 *                (O_CREAT, with or without O_EXCL, mode from a small set),
 *                unlink, chmod, observed with stat()
 *      set       unique adds: create set/<proc>-<seq> with O_EXCL
 *      lock      flock(LOCK_EX) on locks/L, token from user.raftfs.lock,
 *                append the token to locks/L.guard (fenced: only above the last
 *                token there), short hold, LOCK_UN
 *      session   like lock, but holds long and re-checks its token every
 *                --check-ms (the harness freezes the holder's daemon meanwhile)
 *      final-set, final-lock   one final read of the set / the guarded file
 *   options: --seconds S (default 30) --max-ops N (default 100000) --keys K
 *            (default 4) --seed S --hold-ms MS --check-ms MS --op-wait-s S
 *            --pause-ms MS (register, meta, set: random pause of 0..2*MS
 *            between ops, default 5) --write-mode inplace|replace|mixed
 *            (register content writes, default mixed) --content-only
 *            (register: content registers only, no name registers)
 *
 * Classification, by raftfs's contract (raftfs(7); DESIGN.md section 4): an
 * error returned to the caller means the change will never be applied, except
 * ETIMEDOUT, "outcome unknown" (the entry may have reached a leader's log):
 * such an op is "info", it may take effect at any time after its call. So is
 * ENOTCONN from a call that carries a commit (close, rename, create, unlink,
 * chmod): the daemon died during the call, a crash, which the contract cannot
 * cover. Every other error of a mutation is "fail" (never applied) when it
 * says something about the state (EEXIST of O_EXCL, ENOENT of a cas's source,
 * of unlink, of chmod), otherwise "#X" (no effect, no information: EROFS, a
 * dead mount's ENOTCONN at open, ENOTDIR from the harness's sentinels under
 * an unmounted mountpoint). A handle is one commit (its truncation included):
 * for an in-place write the first error of open, write or close is the op's
 * outcome. A lost process leaves its intent line ("#I ...") behind. Bounded by
 * --seconds and --max-ops; every blocking call is bounded by raftfs's
 * op_timeout, lock waits by an alarm. */

#include "tests/chaos/history.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

typedef struct Ctx {
        const char *mount, *workload;
        FILE *out;
        int proc, keys;
        double seconds;
        long max_ops, seq;
        uint64_t rng, deadline;
        int hold_ms, check_ms, op_wait_s, pause_ms;
        const char *write_mode;
        bool mount_dead; /* this client's last call got ENOTCONN (see outcome_unknown) */
        bool content_only; /* register: no name-register ops */
} Ctx;

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* "Outcome unknown" by the contract (see the top); commit: the call itself
 * carries a commit, so a daemon that died during it may have proposed it.
 * Not so for a call made when this client's previous call had already got
 * ENOTCONN (and nothing else since): the connection was dead before it
 * began. A killed node's mount answers ENOTCONN at once until it is
 * unmounted, and counting the hundreds of such calls as unknown would
 * drown the linearizability search; only the calls in flight at the kill
 * are unknown. */
static bool outcome_unknown(const Ctx *c, int r, bool commit) {
        return r == -ETIMEDOUT || (commit && (r == -ENOTCONN || r == -ECONNABORTED) && !c->mount_dead);
}

/* Remembers whether the last answer came from a dead connection; called
 * with every op's final result. */
static void mount_seen(Ctx *c, int r) {
        c->mount_dead = r == -ENOTCONN || r == -ECONNABORTED;
}

static uint64_t rnd(Ctx *c) {
        uint64_t x = c->rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return c->rng = x;
}

static void sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Records the intent of a mutation before it starts. */
static void intent(Ctx *c, OpType t, const char *key, const char *old, const char *value, uint64_t inv) {
        Op op = { .proc = c->proc, .type = t, .key = (char *) key, .old = (char *) old, .value = (char *) value,
                  .invoke_usec = inv, .complete_usec = inv, .outcome = OUTCOME_INFO };
        fputs("#I ", c->out);
        history_write(c->out, &op);
        fflush(c->out);
}

static void record(Ctx *c, OpType t, const char *key, const char *old, const char *value, uint64_t inv, OpOutcome o) {
        Op op = { .proc = c->proc, .type = t, .key = (char *) key, .old = (char *) old, .value = (char *) value,
                  .invoke_usec = inv, .complete_usec = now_usec(), .outcome = o };
        history_write(c->out, &op);
        fflush(c->out);
}

/* Records a mutation that certainly had no effect and says nothing about the
 * state (the mount was gone: ENOTCONN; a bad argument): a "#X" comment line,
 * which also tells history_load() that the intent before it is settled. */
static void no_effect(Ctx *c, OpType t, const char *key, const char *old, const char *value, uint64_t inv, int err) {
        Op op = { .proc = c->proc, .type = t, .key = (char *) key, .old = (char *) old, .value = (char *) value,
                  .invoke_usec = inv, .complete_usec = now_usec(), .outcome = OUTCOME_FAIL };
        fprintf(c->out, "#X errno=%d ", err);
        history_write(c->out, &op);
        fflush(c->out);
}

/* A comment line naming the call that failed and its errno (for people
 * reading a failed round's histories; the checkers ignore it). */
static void note_error(Ctx *c, const char *key, const char *call, int err) {
        fprintf(c->out, "#E %d %s %s errno=%d (%s)\n", c->proc, key, call, err, strerror(err));
}

/* Reads a whole small file into buf (NUL-terminated). Returns length or -errno. */
static int read_file(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t len = 0;
        for (;;) {
                ssize_t k = read(fd, buf + len, size - 1 - len);
                if (k < 0) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (k == 0 || (len += (size_t) k) == size - 1)
                        break;
        }
        buf[len] = '\0';
        close(fd);
        return (int) len;
}

/* Writes data to path as one commit. Returns 0, or -errno with *ret_stage:
 * 0 = before anything was buffered (open), 1 = write, 2 = close (commit). */
static int write_file(const char *path, const char *data, int flags, int *ret_stage) {
        int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0644);
        *ret_stage = 0;
        if (fd < 0)
                return -errno;
        size_t n = strlen(data);
        if (n > 0 && write(fd, data, n) != (ssize_t) n) {
                int r = -errno;
                *ret_stage = 1;
                (void) close(fd);
                return r ? r : -EIO;
        }
        *ret_stage = 2;
        return close(fd) < 0 ? -errno : 0;
}

static void path_of(Ctx *c, char *buf, size_t size, const char *rel) {
        snprintf(buf, size, "%s/%s", c->mount, rel);
}

/* ---- setup --------------------------------------------------------------- */

static int do_setup(Ctx *c) {
        char p[4096], rel[256];
        int stage;
        /* meta/ starts empty: every metadata register starts "absent" */
        const char *dirs[] = { "reg", "set", "locks", "meta" };
        for (size_t i = 0; i < 4; i++) {
                path_of(c, p, sizeof p, dirs[i]);
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return fprintf(stderr, "chaos-client: mkdir %s: %m\n", p), 1;
        }
        for (int k = 0; k < c->keys; k++) {
                snprintf(rel, sizeof rel, "reg/c%d", k);
                path_of(c, p, sizeof p, rel);
                if (write_file(p, "0", O_CREAT | O_TRUNC, &stage) < 0)
                        return fprintf(stderr, "chaos-client: create %s: %m\n", p), 1;
                snprintf(rel, sizeof rel, "reg/n%d", k);
                path_of(c, p, sizeof p, rel);
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return 1;
                snprintf(rel, sizeof rel, "reg/n%d/0", k);
                path_of(c, p, sizeof p, rel);
                if (write_file(p, "", O_CREAT | O_TRUNC, &stage) < 0)
                        return fprintf(stderr, "chaos-client: create %s: %m\n", p), 1;
        }
        path_of(c, p, sizeof p, "locks/L");
        if (write_file(p, "", O_CREAT, &stage) < 0)
                return 1;
        path_of(c, p, sizeof p, "locks/L.guard");
        if (write_file(p, "", O_CREAT, &stage) < 0)
                return 1;
        return 0;
}

/* ---- registers ------------------------------------------------------------ */

/* The value a content read returns: HISTORY_EMPTY for an empty file; bytes
 * that cannot be a history token (spaces, control characters) become '?'. */
static const char *content_value(char *buf, int len) {
        if (len == 0)
                return HISTORY_EMPTY;
        for (int i = 0; i < len; i++)
                if (buf[i] <= ' ' || buf[i] > '~' || buf[i] == '#')
                        buf[i] = '?';
        return buf;
}

/* In place, as `echo v > f` does: one handle, truncated at open, one write,
 * committed by close. The first error is the op's: the truncation and the
 * data are one commit, so a handle whose write failed must commit nothing. */
static void content_write_inplace(Ctx *c, const char *key, const char *p, const char *value, uint64_t inv) {
        intent(c, OP_WRITE, key, NULL, value, inv);
        int r = 0, fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
        const char *call = "open";
        bool commit = false;
        if (fd < 0)
                r = -errno;
        else {
                size_t n = strlen(value);
                ssize_t w = write(fd, value, n);
                if (w != (ssize_t) n) {
                        r = w < 0 ? -errno : -EIO; /* a short write of a few bytes: treat as failed */
                        call = "write";
                }
                if (close(fd) < 0) {
                        int rc = -errno;
                        if (r < 0)
                                note_error(c, key, "close (after the failed write)", -rc);
                        else {
                                r = rc;
                                call = "close";
                                commit = true;
                        }
                }
        }
        if (r < 0)
                note_error(c, key, call, -r);
        record(c, OP_WRITE, key, NULL, value, inv, r == 0 ? OUTCOME_OK : outcome_unknown(c, r, commit) ? OUTCOME_INFO : OUTCOME_FAIL);
        mount_seen(c, r);
}

/* Atomic replace: a fresh temporary file (its own commit, invisible to the
 * register), then rename over the register (the commit that matters). */
static void content_write_replace(Ctx *c, int k, const char *key, const char *p, const char *value, uint64_t inv) {
        char rel[128], tmp[4096];
        int stage;
        snprintf(rel, sizeof rel, "reg/c%d.tmp.%d.%ld", k, c->proc, c->seq);
        path_of(c, tmp, sizeof tmp, rel);
        intent(c, OP_WRITE, key, NULL, value, inv);
        int r = write_file(tmp, value, O_CREAT | O_EXCL | O_TRUNC, &stage);
        if (r < 0) {
                /* The register was not touched, whatever became of the temporary file. */
                note_error(c, key, stage == 0 ? "open (temporary)" : stage == 1 ? "write (temporary)" : "close (temporary)", -r);
                (void) unlink(tmp);
                record(c, OP_WRITE, key, NULL, value, inv, OUTCOME_FAIL);
                mount_seen(c, r);
                return;
        }
        r = rename(tmp, p) < 0 ? -errno : 0;
        if (r < 0) {
                note_error(c, key, "rename", -r);
                if (!outcome_unknown(c, r, true))
                        (void) unlink(tmp);
        }
        record(c, OP_WRITE, key, NULL, value, inv, r == 0 ? OUTCOME_OK : outcome_unknown(c, r, true) ? OUTCOME_INFO : OUTCOME_FAIL);
        mount_seen(c, r);
}

static void content_op(Ctx *c, int k) {
        char key[32], p[4096], buf[256], value[32];
        snprintf(key, sizeof key, "c%d", k);
        snprintf(buf, sizeof buf, "reg/c%d", k);
        path_of(c, p, sizeof p, buf);
        uint64_t inv = now_usec();
        if (rnd(c) % 2) {
                int r = read_file(p, buf, sizeof buf);
                record(c, OP_READ, key, NULL, r >= 0 ? content_value(buf, r) : "-", inv, r >= 0 ? OUTCOME_OK : OUTCOME_FAIL);
                mount_seen(c, r < 0 ? r : 0);
                return;
        }
        snprintf(value, sizeof value, "%ld", (long) c->proc * 1000000L + ++c->seq);
        bool inplace = strcmp(c->write_mode, "inplace") == 0 || (strcmp(c->write_mode, "replace") != 0 && rnd(c) % 2);
        if (inplace)
                content_write_inplace(c, key, p, value, inv);
        else
                content_write_replace(c, k, key, p, value, inv);
}

/* Reads a name register: the single entry of reg/n<k>. */
static int name_read(const char *dir, char *value, size_t size) {
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;
        if (!d)
                return -errno;
        while ((errno = 0, de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n++ == 0)
                        snprintf(value, size, "%.63s", de->d_name);
        }
        int r = errno ? -errno : 0;
        closedir(d);
        if (r < 0)
                return r;
        /* readdir() is not a snapshot: entries added or removed after
         * opendir() may or may not show (POSIX), and FUSE serves a listing in
         * several requests, each from the state of its moment. In a correct
         * system the directory always holds exactly one name, so a listing
         * with exactly one name saw the register's value at some moment of
         * the call; any other count is a torn listing that says nothing. */
        return n == 1 ? 0 : -EAGAIN;
}

static void name_op(Ctx *c, int k, char *last_seen) {
        char key[32], dir[4096], rel[64], from[4400], to[4400], value[64];
        snprintf(key, sizeof key, "n%d", k);
        snprintf(rel, sizeof rel, "reg/n%d", k);
        path_of(c, dir, sizeof dir, rel);
        uint64_t inv = now_usec();
        if (rnd(c) % 2 || !last_seen[0]) {
                int r = name_read(dir, value, sizeof value);
                record(c, OP_READ, key, NULL, r == 0 ? value : "-", inv, r == 0 ? OUTCOME_OK : OUTCOME_FAIL);
                mount_seen(c, r);
                if (r == 0)
                        snprintf(last_seen, 64, "%s", value);
                return;
        }
        /* compare-and-rename from the last value this client saw */
        snprintf(value, sizeof value, "%ld", (long) c->proc * 1000000L + ++c->seq);
        snprintf(from, sizeof from, "%s/%s", dir, last_seen);
        snprintf(to, sizeof to, "%s/%s", dir, value);
        intent(c, OP_CAS, key, last_seen, value, inv);
        int r = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0 ? -errno : 0;
        /* ENOENT (source gone) / EEXIST: the register did not hold last_seen:
         * a failed cas. ETIMEDOUT, ENOTCONN: unknown. Any other error: never
         * applied, and says nothing about the register. */
        if (r < 0)
                note_error(c, key, "renameat2", -r);
        if (r == 0 || r == -ENOENT || r == -EEXIST || outcome_unknown(c, r, true))
                record(c, OP_CAS, key, last_seen, value, inv,
                       r == 0 ? OUTCOME_OK : outcome_unknown(c, r, true) ? OUTCOME_INFO : OUTCOME_FAIL);
        else
                no_effect(c, OP_CAS, key, last_seen, value, inv, -r);
        mount_seen(c, r);
        if (r == 0)
                snprintf(last_seen, 64, "%s", value);
}

static int do_register(Ctx *c) {
        char last[64][64] = {};
        int keys = c->keys > 64 ? 64 : c->keys;
        for (long i = 0; i < c->max_ops && now_usec() < c->deadline; i++) {
                int k = (int) (rnd(c) % (uint64_t) keys);
                if (c->content_only || rnd(c) % 2)
                        content_op(c, k);
                else
                        name_op(c, k, last[k]);
                /* Pacing keeps per-key histories small enough for an exhaustive check. */
                if (c->pause_ms > 0)
                        sleep_ms((long) (rnd(c) % (uint64_t) (2 * c->pause_ms + 1)));
        }
        return 0;
}

/* ---- metadata ------------------------------------------------------------- */

static const mode_t meta_modes[] = { 0600, 0640, 0644, 0755 };

/* One op on meta/m<k>: stat (half of the ops), or a create with or without
 * O_EXCL, an unlink or a chmod (mode from meta_modes). */
static void meta_op(Ctx *c, int k) {
        char key[32], rel[64], p[4096], value[16];
        snprintf(key, sizeof key, "m%d", k);
        snprintf(rel, sizeof rel, "meta/m%d", k);
        path_of(c, p, sizeof p, rel);
        uint64_t inv = now_usec();
        if (rnd(c) % 2) {
                struct stat st;
                int r = stat(p, &st) < 0 ? -errno : 0;
                if (r == 0)
                        snprintf(value, sizeof value, "%o", (unsigned) (st.st_mode & 07777));
                record(c, OP_READ, key, NULL, r == 0 ? value : r == -ENOENT ? HISTORY_ABSENT : "-", inv,
                       r == 0 || r == -ENOENT ? OUTCOME_OK : OUTCOME_FAIL);
                mount_seen(c, r);
                return;
        }
        mode_t mode = meta_modes[rnd(c) % (sizeof meta_modes / sizeof meta_modes[0])];
        OpType t = (OpType[]) { OP_XCREATE, OP_CREATE, OP_UNLINK, OP_CHMOD }[rnd(c) % 4];
        int r, expected; /* expected: the errno that is an observation (fail) */
        const char *call = op_type_to_string(t);
        if (t == OP_UNLINK)
                strcpy(value, "-");
        else
                snprintf(value, sizeof value, "%o", (unsigned) mode);
        intent(c, t, key, NULL, value, inv);
        switch (t) {
        case OP_XCREATE:
        case OP_CREATE: {
                int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | (t == OP_XCREATE ? O_EXCL : 0), mode);
                r = fd < 0 ? -errno : 0;
                /* The create is the commit; the handle has nothing to flush. */
                if (fd >= 0 && close(fd) < 0)
                        note_error(c, key, "close (after the create)", errno);
                expected = t == OP_XCREATE ? -EEXIST : 1;
                break;
        }
        case OP_UNLINK:
                r = unlink(p) < 0 ? -errno : 0;
                expected = -ENOENT;
                break;
        default:
                r = chmod(p, mode) < 0 ? -errno : 0;
                expected = -ENOENT;
                break;
        }
        if (r < 0)
                note_error(c, key, call, -r);
        if (r == 0 || r == expected || outcome_unknown(c, r, true))
                record(c, t, key, NULL, value, inv, r == 0 ? OUTCOME_OK : r == expected ? OUTCOME_FAIL : OUTCOME_INFO);
        else
                no_effect(c, t, key, NULL, value, inv, -r);
        mount_seen(c, r);
}

static int do_meta(Ctx *c) {
        umask(0); /* the modes the history records are the modes set */
        for (long i = 0; i < c->max_ops && now_usec() < c->deadline; i++) {
                meta_op(c, (int) (rnd(c) % (uint64_t) c->keys));
                if (c->pause_ms > 0)
                        sleep_ms((long) (rnd(c) % (uint64_t) (2 * c->pause_ms + 1)));
        }
        return 0;
}

/* ---- set ------------------------------------------------------------------ */

static int do_set(Ctx *c) {
        char elem[64], rel[128], p[4096];
        for (long i = 0; i < c->max_ops && now_usec() < c->deadline; i++) {
                int stage;
                snprintf(elem, sizeof elem, "%d-%ld", c->proc, ++c->seq);
                snprintf(rel, sizeof rel, "set/%s", elem);
                path_of(c, p, sizeof p, rel);
                uint64_t inv = now_usec();
                intent(c, OP_ADD, "s", NULL, elem, inv);
                int r = write_file(p, elem, O_CREAT | O_EXCL, &stage);
                /* The create (open) is the commit of the add: after ETIMEDOUT
                 * or a dying daemon's ENOTCONN it is unknown, after any other
                 * error of open not applied (the checker then requires the
                 * element to stay absent). Once open succeeded the element
                 * exists; a failed write or close of its content leaves the
                 * add as it was: info, as before. */
                if (r < 0)
                        note_error(c, "s", stage == 0 ? "open" : stage == 1 ? "write" : "close", -r);
                record(c, OP_ADD, "s", NULL, elem, inv,
                       r == 0 ? OUTCOME_OK : stage > 0 || outcome_unknown(c, r, true) ? OUTCOME_INFO : OUTCOME_FAIL);
                mount_seen(c, r);
                if (r < 0)
                        sleep_ms(20); /* no quorum: do not spin */
                else if (c->pause_ms > 0)
                        sleep_ms((long) (rnd(c) % (uint64_t) (2 * c->pause_ms + 1)));
        }
        return 0;
}

static int do_final_set(Ctx *c) {
        char p[4096];
        path_of(c, p, sizeof p, "set");
        while (now_usec() < c->deadline) {
                uint64_t inv = now_usec();
                DIR *d = opendir(p);
                struct dirent *de;
                size_t len = 0, cap = 4096;
                char *list = malloc(cap);
                if (!d || !list) {
                        free(list);
                        if (d)
                                closedir(d);
                        sleep_ms(200);
                        continue;
                }
                list[0] = '\0';
                while ((errno = 0, de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        size_t n = strlen(de->d_name);
                        if (len + n + 2 > cap) {
                                char *l = realloc(list, cap *= 2);
                                if (!l)
                                        abort();
                                list = l;
                        }
                        len += (size_t) sprintf(list + len, "%s%s", len ? "," : "", de->d_name);
                }
                int err = errno;
                closedir(d);
                if (err == 0) {
                        record(c, OP_FINAL, "s", NULL, len ? list : "-", inv, OUTCOME_OK);
                        free(list);
                        return 0;
                }
                free(list);
                sleep_ms(200);
        }
        fprintf(stderr, "chaos-client: no final read of the set before the deadline\n");
        return 1;
}

/* ---- locks ---------------------------------------------------------------- */

static void on_alarm(int sig) {
        (void) sig; /* interrupts a blocked flock() with EINTR */
}

/* Finds my token in the user.raftfs.lock xattr: the holder line with my pid. */
static int my_token(int fd, uint64_t *ret) {
        char buf[8192], pat[64];
        ssize_t n = fgetxattr(fd, "user.raftfs.lock", buf, sizeof buf - 1);
        if (n < 0)
                return errno == ENODATA ? -ENOENT : -errno; /* ENODATA: no holder at all */
        buf[n] = '\0';
        snprintf(pat, sizeof pat, "pid=%d", (int) getpid());
        for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                char *end = strchr(line, '\n');
                if (end)
                        *end = '\0';
                char *t = strstr(line, "token="), *pid = strstr(line, pat);
                bool holder = strncmp(line, "waiting", 7) != 0 && strstr(line, "mode=exclusive");
                if (end)
                        *end = '\n';
                if (holder && t && pid && (pid[strlen(pat)] == ' ' || pid[strlen(pat)] == '\n' || pid[strlen(pat)] == '\0')) {
                        *ret = strtoull(t + 6, NULL, 10);
                        return 0;
                }
        }
        return -ENOENT;
}

/* This node's session ("ID STATE") from /.raftfs/status, or "" when it
 * cannot be read. */
static void my_session(Ctx *c, char *out, size_t size) {
        char p[4096], buf[2048];
        out[0] = '\0';
        path_of(c, p, sizeof p, ".raftfs/status");
        int n = read_file(p, buf, sizeof buf - 1);
        if (n < 0)
                return;
        buf[n] = '\0';
        char *s = strstr(buf, "\nsession: ");
        if (!s)
                return;
        s += strlen("\nsession: ");
        size_t l = strcspn(s, "\n");
        snprintf(out, size, "%.*s", (int) l, s);
}

/* Appends token to the guarded file unless a token >= it is already there. */
static void guard(Ctx *c, uint64_t token) {
        char p[4096], buf[65536], tok[32];
        int stage;
        path_of(c, p, sizeof p, "locks/L.guard");
        snprintf(tok, sizeof tok, "%" PRIu64, token);
        uint64_t inv = now_usec();
        int n = read_file(p, buf, sizeof buf - 32);
        if (n < 0) {
                record(c, OP_GUARD, "L", NULL, tok, inv, OUTCOME_FAIL);
                return;
        }
        char *last = NULL;
        for (char *s = buf; (s = strchr(s, '\n')) && s[1]; s++)
                last = s + 1;
        uint64_t last_tok = n == 0 ? 0 : strtoull(last ? last : buf, NULL, 10);
        if (n > 0 && last_tok >= token) {
                record(c, OP_GUARD, "L", NULL, tok, inv, OUTCOME_FAIL); /* fenced off */
                return;
        }
        snprintf(buf + n, sizeof buf - (size_t) n, "%s\n", tok);
        intent(c, OP_GUARD, "L", NULL, tok, inv);
        int r = write_file(p, buf, O_TRUNC, &stage);
        record(c, OP_GUARD, "L", NULL, tok, inv, r == 0 ? OUTCOME_OK : stage == 0 ? OUTCOME_FAIL : OUTCOME_INFO);
}

static int do_lock(Ctx *c, bool session) {
        char p[4096], tok[32];
        struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
        sigaction(SIGALRM, &sa, NULL);
        path_of(c, p, sizeof p, "locks/L");
        for (long i = 0; i < c->max_ops && now_usec() < c->deadline; i++) {
                int fd = open(p, O_RDWR | O_CLOEXEC);
                if (fd < 0) {
                        sleep_ms(100);
                        continue;
                }
                char sess_before[128], sess_after[128];
                my_session(c, sess_before, sizeof sess_before);
                uint64_t inv = now_usec(), token;
                alarm((unsigned) c->op_wait_s);
                int r = flock(fd, LOCK_EX) < 0 ? -errno : 0;
                alarm(0);
                if (r < 0) {
                        record(c, OP_ACQUIRE, "L", NULL, "-", inv, r == -EINTR || r == -EWOULDBLOCK ? OUTCOME_FAIL : OUTCOME_INFO);
                        close(fd);
                        sleep_ms(50);
                        continue;
                }
                uint64_t acquired = now_usec();
                r = my_token(fd, &token);
                if (r == 0)
                        snprintf(tok, sizeof tok, "%" PRIu64, token);
                else
                        strcpy(tok, "-");
                if (r == -ENOENT) {
                        /* Not listed. Legitimate only if the node's session
                         * changed or left "ok" since before the flock: the
                         * lock went with the session between the grant and
                         * our look ("lost", which the checker accepts). */
                        my_session(c, sess_after, sizeof sess_after);
                        if (!sess_before[0] || strcmp(sess_before, sess_after) != 0 ||
                            !strstr(sess_before, " ok"))
                                strcpy(tok, "lost");
                }
                {
                        /* No holder line for me in a listing that could be read,
                         * with the same session throughout, is an anomaly the
                         * checker reports (ok with "-"); a listing that could not
                         * be read (the mount died just after the grant) leaves
                         * the token unknown: info. */
                        Op op = { .proc = c->proc, .type = OP_ACQUIRE, .key = (char *) "L", .value = tok, .invoke_usec = inv,
                                  .complete_usec = acquired, .outcome = r == 0 || r == -ENOENT ? OUTCOME_OK : OUTCOME_INFO };
                        history_write(c->out, &op);
                        fflush(c->out);
                }
                if (r == 0)
                        guard(c, token);
                if (session) {
                        /* Hold for a long time, checking that the token is still ours. */
                        uint64_t until = now_usec() + (uint64_t) c->hold_ms * 1000u;
                        while (r == 0 && now_usec() < until) {
                                sleep_ms(c->check_ms);
                                uint64_t cinv = now_usec(), t2;
                                int q = my_token(fd, &t2);
                                bool mine = q == 0 && t2 == token;
                                record(c, OP_CHECK, "L", NULL, mine ? tok : "lost", cinv, OUTCOME_OK);
                                if (!mine)
                                        break;
                        }
                } else
                        sleep_ms((long) (rnd(c) % (uint64_t) (c->hold_ms + 1)));
                uint64_t rinv = now_usec();
                r = flock(fd, LOCK_UN) < 0 ? -errno : 0;
                record(c, OP_RELEASE, "L", NULL, tok, rinv, r == 0 ? OUTCOME_OK : OUTCOME_FAIL);
                close(fd);
                if (session)
                        sleep_ms(100);
        }
        return 0;
}

static int do_final_lock(Ctx *c) {
        char p[4096], buf[65536];
        path_of(c, p, sizeof p, "locks/L.guard");
        while (now_usec() < c->deadline) {
                uint64_t inv = now_usec();
                int n = read_file(p, buf, sizeof buf);
                if (n >= 0) {
                        for (char *s = buf; (s = strchr(s, '\n'));)
                                *s = s[1] ? ',' : '\0';
                        record(c, OP_FINAL, "L", NULL, n > 0 && buf[0] ? buf : "-", inv, OUTCOME_OK);
                        return 0;
                }
                sleep_ms(200);
        }
        fprintf(stderr, "chaos-client: no final read of the guarded file before the deadline\n");
        return 1;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "mount", required_argument, NULL, 'm' },   { "out", required_argument, NULL, 'o' },
                { "proc", required_argument, NULL, 'p' },    { "workload", required_argument, NULL, 'w' },
                { "seconds", required_argument, NULL, 's' }, { "max-ops", required_argument, NULL, 'n' },
                { "keys", required_argument, NULL, 'k' },    { "seed", required_argument, NULL, 'S' },
                { "hold-ms", required_argument, NULL, 'H' }, { "check-ms", required_argument, NULL, 'C' },
                { "op-wait-s", required_argument, NULL, 'W' }, { "pause-ms", required_argument, NULL, 'P' },
                { "write-mode", required_argument, NULL, 'M' }, { "content-only", no_argument, NULL, 'O' }, {},
        };
        Ctx c = { .seconds = 30, .max_ops = 100000, .keys = 4, .rng = 1, .hold_ms = 30, .check_ms = 200, .op_wait_s = 15, .pause_ms = 5,
                  .write_mode = "mixed" };
        const char *out = NULL;
        int o;
        while ((o = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (o) {
                case 'm': c.mount = optarg; break;
                case 'o': out = optarg; break;
                case 'p': c.proc = atoi(optarg); break;
                case 'w': c.workload = optarg; break;
                case 's': c.seconds = atof(optarg); break;
                case 'n': c.max_ops = atol(optarg); break;
                case 'k': c.keys = atoi(optarg); break;
                case 'S': c.rng = strtoull(optarg, NULL, 0) * 2654435761u + 1; break;
                case 'H': c.hold_ms = atoi(optarg); break;
                case 'C': c.check_ms = atoi(optarg); break;
                case 'W': c.op_wait_s = atoi(optarg); break;
                case 'P': c.pause_ms = atoi(optarg); break;
                case 'M': c.write_mode = optarg; break;
                case 'O': c.content_only = true; break;
                default: return 2;
                }
        if (!c.mount || !c.workload || c.keys < 1 || c.seconds <= 0 || c.op_wait_s < 1 || c.check_ms < 1 || c.hold_ms < 0 ||
            (strcmp(c.write_mode, "mixed") != 0 && strcmp(c.write_mode, "inplace") != 0 && strcmp(c.write_mode, "replace") != 0)) {
                fprintf(stderr, "usage: chaos-client --mount DIR --workload W [--out FILE] [--proc N] ...\n");
                return 2;
        }
        c.rng += (uint64_t) c.proc * 0x9e3779b97f4a7c15ull;
        c.out = out ? fopen(out, "ae") : stdout;
        if (!c.out)
                return fprintf(stderr, "chaos-client: %s: %m\n", out), 2;
        c.deadline = now_usec() + (uint64_t) (c.seconds * 1e6);
        const char *w = c.workload;
        int r = strcmp(w, "setup") == 0      ? do_setup(&c)
                : strcmp(w, "register") == 0 ? do_register(&c)
                : strcmp(w, "meta") == 0     ? do_meta(&c)
                : strcmp(w, "set") == 0      ? do_set(&c)
                : strcmp(w, "lock") == 0     ? do_lock(&c, false)
                : strcmp(w, "session") == 0  ? do_lock(&c, true)
                : strcmp(w, "final-set") == 0 ? do_final_set(&c)
                : strcmp(w, "final-lock") == 0 ? do_final_lock(&c)
                                              : (fprintf(stderr, "chaos-client: unknown workload %s\n", w), 2);
        if (c.out != stdout)
                fclose(c.out);
        return r;
}
