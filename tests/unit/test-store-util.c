#include "config.h"

/* test-store-util.c — helpers shared by the store/ unit tests (see the header).
 * The fault layer wraps store_io_default(); its counters let tests observe
 * how many syncs and reads the store really issued. */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/test-store-util.h"

char *tmpdir_new(void) {
        char *d = strdup("/tmp/test-store-XXXXXX");
        ck_assert_ptr_nonnull(d);
        ck_assert_ptr_nonnull(mkdtemp(d));
        return d;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

void tmpdir_remove(char *dir) {
        if (!dir)
                return;
        (void) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(dir);
}

char *path_join(const char *dir, const char *name) {
        char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

uint8_t *file_read(const char *path, size_t *ret_len) {
        struct stat st;
        uint8_t *b;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return NULL;
        ck_assert_int_eq(fstat(fd, &st), 0);
        b = malloc((size_t) st.st_size + 1);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(pread(fd, b, (size_t) st.st_size, 0), st.st_size);
        close(fd);
        *ret_len = (size_t) st.st_size;
        return b;
}

void file_write(const char *path, const void *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, data, len), (ssize_t) len);
        close(fd);
}

void file_flip_bit(const char *path, uint64_t offset, int bit) {
        uint8_t b;
        int fd = open(path, O_RDWR | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pread(fd, &b, 1, (off_t) offset), 1);
        b ^= (uint8_t) (1u << bit);
        ck_assert_int_eq(pwrite(fd, &b, 1, (off_t) offset), 1);
        close(fd);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static size_t dir_list(const char *dir, const char *prefix, char ***ret) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char **v = NULL;
        size_t n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
                        v = realloc(v, (n + 1) * sizeof *v);
                        v[n++] = strdup(de->d_name);
                }
        closedir(d);
        if (n > 0)
                qsort(v, n, sizeof *v, cmp_str);
        *ret = v;
        return n;
}

size_t dir_count_prefix(const char *dir, const char *prefix) {
        char **v;
        size_t n = dir_list(dir, prefix, &v);
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        return n;
}

void dir_copy(const char *src, const char *dst) {
        DIR *d = opendir(src);
        struct dirent *de;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                char *from, *to;
                uint8_t *b;
                size_t len;

                if (de->d_name[0] == '.')
                        continue;
                from = path_join(src, de->d_name);
                to = path_join(dst, de->d_name);
                b = file_read(from, &len);
                ck_assert_ptr_nonnull(b);
                file_write(to, b, len);
                free(b);
                free(from);
                free(to);
        }
        closedir(d);
}

char *dir_segment(const char *dir, size_t k) {
        char **v, *r = NULL;
        size_t n = dir_list(dir, "seg-", &v);
        for (size_t i = 0; i < n; i++) {
                if (i == k)
                        r = v[i];
                else
                        free(v[i]);
        }
        free(v);
        return r;
}

/* ---- fault layer ---- */

static long bump(_Atomic long *c) {
        return atomic_fetch_add(c, 1) + 1;
}

static bool hit(_Atomic long *at, long n) {
        long a = atomic_load(at);
        return a > 0 && n >= a;
}

/* True when this mutating call is the one (or after the one) to fail. */
static bool mutation_fails(FaultIo *f) {
        long k = bump(&f->n_mutations);
        return hit(&f->mutation_fail_at, k);
}

static int f_openat(void *u, int dirfd, const char *path, int flags, mode_t mode) {
        return store_io_default()->openat(NULL, dirfd, path, flags, mode);
}

static int f_close(void *u, int fd) {
        return store_io_default()->close(NULL, fd);
}

static ssize_t f_pread(void *u, int fd, void *buf, size_t n, off_t off) {
        FaultIo *f = u;
        bump(&f->n_pread);
        return store_io_default()->pread(NULL, fd, buf, n, off);
}

static ssize_t f_pwrite(void *u, int fd, const void *buf, size_t n, off_t off) {
        FaultIo *f = u;
        long k = bump(&f->n_pwrite);

        if (mutation_fails(f))
                return -EIO;

        if (hit(&f->pwrite_fail_at, k)) {
                if (f->short_write && k == atomic_load(&f->pwrite_fail_at) && n > 1)
                        return store_io_default()->pwrite(NULL, fd, buf, n / 2, off);
                return -f->pwrite_errno;
        }
        return store_io_default()->pwrite(NULL, fd, buf, n, off);
}

static int f_fdatasync(void *u, int fd) {
        FaultIo *f = u;
        long k = bump(&f->n_fdatasync);
        long delay = atomic_load(&f->fdatasync_delay_usec);

        if (mutation_fails(f))
                return -EIO;
        if (delay > 0)
                usleep((useconds_t) delay);
        if (hit(&f->fdatasync_fail_at, k))
                return -f->fdatasync_errno;
        return store_io_default()->fdatasync(NULL, fd);
}

static int f_fsync(void *u, int fd) {
        FaultIo *f = u;
        long k = bump(&f->n_fsync);

        if (mutation_fails(f))
                return -EIO;
        if (hit(&f->fsync_fail_at, k))
                return -f->fdatasync_errno;
        return store_io_default()->fsync(NULL, fd);
}

static int f_ftruncate(void *u, int fd, off_t len) {
        if (mutation_fails(u))
                return -EIO;
        return store_io_default()->ftruncate(NULL, fd, len);
}

static int f_renameat(void *u, int dirfd, const char *from, const char *to) {
        if (mutation_fails(u))
                return -EIO;
        return store_io_default()->renameat(NULL, dirfd, from, to);
}

static int f_unlinkat(void *u, int dirfd, const char *path) {
        FaultIo *f = u;
        bump(&f->n_unlink);
        if (mutation_fails(f))
                return -EIO;
        return store_io_default()->unlinkat(NULL, dirfd, path);
}

static int f_fstat_size(void *u, int fd, uint64_t *ret) {
        return store_io_default()->fstat_size(NULL, fd, ret);
}

void fault_io_init(FaultIo *f) {
        memset(f, 0, sizeof *f);
        f->io = (StoreIo) {
                .userdata = f,
                .openat = f_openat,
                .close = f_close,
                .pread = f_pread,
                .pwrite = f_pwrite,
                .fdatasync = f_fdatasync,
                .fsync = f_fsync,
                .ftruncate = f_ftruncate,
                .renameat = f_renameat,
                .unlinkat = f_unlinkat,
                .fstat_size = f_fstat_size,
        };
        f->pwrite_errno = ENOSPC;
        f->fdatasync_errno = EIO;
}

/* ---- completions ---- */

static void on_completion(Store *s, const StoreCompletion *c, void *userdata) {
        Recorder *rec = userdata;

        rec->completed++;
        if (rec->n_cookies < (long) (sizeof rec->cookies / sizeof rec->cookies[0]))
                rec->cookies[rec->n_cookies++] = c->cookie;
        switch (c->type) {
        case STORE_COMPLETION_ENTRIES:
                rec->entries++;
                ck_assert_uint_ge(c->index, rec->last_index > c->index ? 0 : rec->last_index);
                rec->last_index = c->index;
                rec->last_term = c->term;
                break;
        case STORE_COMPLETION_HARD_STATE:
                rec->hard_states++;
                break;
        case STORE_COMPLETION_SNAPSHOT:
                rec->snapshots++;
                break;
        case STORE_COMPLETION_FAILED:
                rec->failed++;
                rec->error = c->error;
                break;
        }
}

void recorder_attach(Recorder *rec, Store *s) {
        memset(rec, 0, sizeof *rec);
        store_set_completion_handler(s, on_completion, rec);
}

void recorder_drain(Recorder *rec, Store *s) {
        while (rec->completed < rec->submitted && rec->failed == 0) {
                struct pollfd p = { .fd = store_get_fd(s), .events = POLLIN };
                int r = poll(&p, 1, 5000);
                ck_assert_msg(r > 0, "timed out waiting for store completions");
                ck_assert_int_ge(store_dispatch_completions(s), 0);
        }
}

/* ---- entries ---- */

static uint64_t mix(uint64_t x) {
        x ^= x >> 33;
        x *= UINT64_C(0xff51afd7ed558ccd);
        x ^= x >> 33;
        x *= UINT64_C(0xc4ceb9fe1a85ec53);
        x ^= x >> 33;
        return x;
}

void entry_make(RaftEntry *e, uint64_t index, uint64_t term, uint32_t seed, uint32_t max_len) {
        uint64_t h = mix(index * 1315423911u + seed);
        uint32_t len = max_len ? 1 + (uint32_t) (h % max_len) : 0;

        *e = (RaftEntry) { .index = index, .term = term, .type = RAFT_ENTRY_NORMAL, .len = len };
        if (len > 0) {
                e->data = malloc(len);
                ck_assert_ptr_nonnull(e->data);
                for (uint32_t i = 0; i < len; i++)
                        e->data[i] = (uint8_t) mix(h + i);
        }
}

void append_range(Store *s, Recorder *rec, uint64_t lo, uint64_t hi, uint64_t term, uint32_t seed,
                  uint32_t max_len) {
        size_t n = hi - lo;
        RaftEntry *v = calloc(n, sizeof *v);

        ck_assert_ptr_nonnull(v);
        for (size_t i = 0; i < n; i++)
                entry_make(&v[i], lo + i, term, seed, max_len);
        ck_assert_int_eq(store_append(s, v, n, lo), 0);
        if (rec)
                rec->submitted++;
        for (size_t i = 0; i < n; i++)
                raft_entry_done(&v[i]);
        free(v);
}

void check_range(Store *s, uint64_t lo, uint64_t hi, uint64_t term, uint32_t seed, uint32_t max_len) {
        uint64_t i = lo;

        while (i < hi) {
                RaftEntry *v = NULL;
                size_t n = 0;
                ck_assert_int_eq(store_entries(s, i, hi, 64 * 1024, &v, &n), 0);
                ck_assert_uint_ge(n, 1);
                for (size_t k = 0; k < n; k++, i++) {
                        RaftEntry want;
                        uint64_t t;
                        entry_make(&want, i, term, seed, max_len);
                        ck_assert_uint_eq(v[k].index, i);
                        if (term)
                                ck_assert_uint_eq(v[k].term, term);
                        ck_assert_int_eq(store_term(s, i, &t), 0);
                        ck_assert_uint_eq(t, v[k].term);
                        ck_assert_uint_eq(v[k].len, want.len);
                        ck_assert(want.len == 0 || memcmp(v[k].data, want.data, want.len) == 0);
                        raft_entry_done(&want);
                        raft_entry_done(&v[k]);
                }
                free(v);
        }
}

Store *open_ok(const char *dir, const StoreOptions *opts) {
        StoreError e;
        Store *s = NULL;
        int r = store_open(dir, opts, &s, &e);

        ck_assert_msg(r == 0, "store_open(%s) failed: %d %s", dir, r, e.message ? e.message : "");
        return s;
}

StoreError open_fail(const char *dir, const StoreOptions *opts, int want) {
        StoreError e;
        Store *s = NULL;
        int r = store_open(dir, opts, &s, &e);

        ck_assert_msg(r == want, "store_open(%s) returned %d, expected %d (%s)", dir, r, want,
                      e.message ? e.message : "");
        ck_assert_ptr_null(s);
        ck_assert_ptr_nonnull(e.message);
        return e;
}
