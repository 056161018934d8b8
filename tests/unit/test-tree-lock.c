#include "config.h"
/* test-tree-lock.c — cluster locks of tree/: flock and POSIX semantics,
 * FIFO fairness, cancel/release/expiry, lock-delay, fencing tokens, range
 * arithmetic, orphans, and a randomised test that checks after every entry
 * that no waiter could have been granted (no lost wake-up), that holders
 * never conflict, and that every queued request ends in exactly one grant or
 * abort notice. The invariant checker looks inside (tree-internal.h). */

#include <check.h>
#include <stdio.h>

#include "tests/unit/test-tree-util.h"
#include "tree/tree-internal.h"

#define ROOT TREE_ROOT_INO
#define EX TREE_LOCK_EXCLUSIVE
#define SH TREE_LOCK_SHARED
#define UN TREE_LOCK_UNLOCK
#define EOFR TREE_LOCK_EOF

static Ctx C;
static uint64_t S1, S2, F;

static uint32_t tree_statfs_locks(const Tree *t) {
        TreeStatfs s;
        tree_statfs(t, &s);
        return s.locks;
}

static void setup(void) {
        ctx_init(&C, NULL);
        S1 = do_session_open(&C, "n1");
        S2 = do_session_open(&C, "n2");
        ck_assert_int_eq(do_create(&C, ROOT, "lockfile", 0), 0);
        F = C.res.ino;
}

static void teardown(void) {
        ctx_done(&C);
}

/* ---- white-box invariants ---- */

static bool conflicts(const Lock *x, const Lock *y) {
        if (x->session == y->session && x->owner == y->owner)
                return false;
        if (x->mode != EX && y->mode != EX)
                return false;
        return x->start <= y->end && y->start <= x->end;
}

static bool owner_blocks(const LockFile *f, const Lock *w, const Lock *r) {
        /* w conflicts with something r's owner holds */
        const Lock *h;
        list_foreach(h, &f->holders[w->table - 1], node)
                if (h->session == r->session && h->owner == r->owner && conflicts(h, w))
                        return true;
        return false;
}

static void check_invariants(const Tree *t) {
        uint32_t total = 0;
        const LockFile *f;
        list_foreach(f, &t->lock_files, link) {
                ck_assert_ptr_eq(f->inode->locks, f);
                ck_assert(!lock_file_empty(f) || f->delay_until != 0);
                for (int k = 0; k < 2; k++) {
                        const Lock *a, *b;
                        list_foreach(a, &f->holders[k], node) {
                                total++;
                                ck_assert_uint_le(a->start, a->end);
                                list_foreach(b, &f->holders[k], node) {
                                        if (a == b)
                                                continue;
                                        ck_assert_msg(!conflicts(a, b), "holders conflict");
                                        if (a->session == b->session && a->owner == b->owner) {
                                                ck_assert_int_eq(k, 1);        /* one flock lock per owner */
                                                /* POSIX: disjoint; same mode never adjacent */
                                                ck_assert(a->end < b->start || b->end < a->start);
                                                if (a->mode == b->mode && ((a->end != EOFR && a->end + 1 == b->start) ||
                                                                           (b->end != EOFR && b->end + 1 == a->start))) {
                                                        const Lock *x;
                                                        list_foreach(x, &f->holders[k], node)
                                                                fprintf(stderr, "  s=%lu o=%lu m=%d [%lu,%lu]\n", (unsigned long) x->session, (unsigned long) x->owner, x->mode, (unsigned long) x->start, (unsigned long) x->end);
                                                        ck_abort_msg("adjacent same-mode ranges");
                                                }
                                        }
                                }
                        }
                        list_foreach(a, &f->waiters[k], node) {
                                total++;
                                if (f->delay_until != 0)
                                        continue;
                                /* No lost wake-up: a waiter is blocked by a holder or an earlier waiter. */
                                bool blocked = false;
                                list_foreach(b, &f->holders[k], node)
                                        blocked |= conflicts(a, b);
                                list_foreach(b, &f->waiters[k], node) {
                                        if (b == a)
                                                break;
                                        blocked |= conflicts(a, b) && !owner_blocks(f, b, a);
                                }
                                ck_assert_msg(blocked, "waiter could be granted");
                        }
                }
        }
        ck_assert_uint_eq(total, t->n_locks);
}

/* ---- flock ---- */

START_TEST(test_flock_basic) {
        ck_assert_int_eq(do_flock(&C, S1, F, 1, EX, false), 0);
        uint64_t tok = C.res.token;
        ck_assert_uint_eq(tok, C.index);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, EX, false), -EAGAIN);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, SH, false), -EAGAIN);
        /* Another owner of the same session conflicts too. */
        ck_assert_int_eq(do_flock(&C, S1, F, 3, SH, false), -EAGAIN);
        /* Re-locking in the held mode keeps the token. */
        ck_assert_int_eq(do_flock(&C, S1, F, 1, EX, false), 0);
        ck_assert_uint_eq(C.res.token, tok);
        char *text = lock_text(C.t, F);
        char expect[200];
        snprintf(expect, sizeof expect, "mode=exclusive token=%lu node=n1 pid=1 since=1000\n", (unsigned long) tok);
        ck_assert_str_eq(text, expect);
        free(text);
        Buf b = BUF_INIT;
        ck_assert_int_eq(tree_getxattr(C.t, F, "user.raftfs.lock", &b), 0);
        ck_assert_uint_eq(b.len, strlen(expect));
        buf_done(&b);
        ck_assert_int_eq(do_flock(&C, S1, F, 1, UN, false), 0);
        ck_assert_ptr_null(tree_inode(C.t, F)->locks);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, EX, false), 0);
        ck_assert_uint_gt(C.res.token, tok);
        /* Unlocking what one does not hold is fine. */
        ck_assert_int_eq(do_flock(&C, S1, F, 9, UN, true), 0);
        check_invariants(C.t);
        check_snapshot_roundtrip(C.t);
}
END_TEST

START_TEST(test_flock_fifo) {
        ck_assert_int_eq(do_flock(&C, S1, F, 1, SH, false), 0);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, SH, false), 0);
        ck_assert_int_eq(do_flock(&C, S2, F, 3, EX, true), -EINPROGRESS);
        uint64_t req_c = C.request;
        /* A shared request behind a queued exclusive waiter queues (or fails). */
        ck_assert_int_eq(do_flock(&C, S1, F, 4, SH, false), -EAGAIN);
        ck_assert_int_eq(do_flock(&C, S1, F, 4, SH, true), -EINPROGRESS);
        uint64_t req_d = C.request;
        ck_assert_int_eq(do_flock(&C, S1, F, 5, SH, true), -EINPROGRESS);
        ck_assert_int_eq(do_flock(&C, S2, F, 6, EX, true), -EINPROGRESS);
        check_invariants(C.t);
        char *text = lock_text(C.t, F);
        ck_assert_ptr_nonnull(strstr(text, "waiting mode=exclusive node=n2 pid=3\nwaiting mode=shared node=n1 pid=4\n"));
        free(text);
        ck_assert_int_eq(do_flock(&C, S1, F, 1, UN, false), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 0);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, UN, false), 0);
        const TreeNotice *n = NULL;
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, &n), 1);
        ck_assert_uint_eq(n->session, S2);
        ck_assert_uint_eq(n->owner, 3);
        ck_assert_uint_eq(n->request, req_c);
        ck_assert_uint_eq(n->token, C.index);
        ck_assert_uint_eq(n->ino, F);
        ck_assert_uint_eq(n->table, TREE_LOCK_FLOCK);
        check_invariants(C.t);
        /* The exclusive holder leaves: both shared waiters come together. */
        ck_assert_int_eq(do_flock(&C, S2, F, 3, UN, false), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, &n), 2);
        ck_assert_uint_eq(C.notices.items[1].request, req_d);
        check_invariants(C.t);
        ck_assert_int_eq(do_flock(&C, S1, F, 4, UN, false), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 0);
        ck_assert_int_eq(do_flock(&C, S1, F, 5, UN, false), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, &n), 1);
        ck_assert_uint_eq(n->owner, 6);
        check_invariants(C.t);
        check_snapshot_roundtrip(C.t);
}
END_TEST

START_TEST(test_tokens_increase) {
        uint64_t last = 0;
        ck_assert_int_eq(do_flock(&C, S1, F, 1, EX, false), 0);
        last = C.res.token;
        for (uint64_t o = 2; o < 12; o++)
                ck_assert_int_eq(do_flock(&C, o % 2 ? S1 : S2, F, o, EX, true), -EINPROGRESS);
        for (uint64_t o = 1; o < 11; o++) {
                ck_assert_int_eq(do_flock(&C, o % 2 ? S1 : S2, F, o, UN, false), 0);
                const TreeNotice *n = NULL;
                ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, &n), 1);
                ck_assert_uint_eq(n->owner, o + 1);     /* FIFO */
                ck_assert_uint_gt(n->token, last);
                last = n->token;
        }
}
END_TEST

START_TEST(test_flock_convert) {
        ck_assert_int_eq(do_flock(&C, S1, F, 1, SH, false), 0);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, SH, false), 0);
        /* Upgrading drops the shared lock first, as flock(2) does. */
        ck_assert_int_eq(do_flock(&C, S1, F, 1, EX, false), -EAGAIN);
        char *text = lock_text(C.t, F);
        ck_assert_ptr_null(strstr(text, "node=n1"));
        free(text);
        ck_assert_int_eq(do_flock(&C, S1, F, 1, SH, false), 0);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, EX, true), -EINPROGRESS);
        /* S1 leaves: S2's conversion completes. */
        ck_assert_int_eq(do_flock(&C, S1, F, 1, UN, false), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 1);
        text = lock_text(C.t, F);
        ck_assert_ptr_nonnull(strstr(text, "mode=exclusive"));
        ck_assert_ptr_null(strstr(text, "shared"));
        free(text);
        /* Downgrade EX -> SH succeeds at once. */
        ck_assert_int_eq(do_flock(&C, S2, F, 2, SH, false), 0);
        check_invariants(C.t);
}
END_TEST

/* ---- cancel, release, expiry ---- */

START_TEST(test_cancel) {
        ck_assert_int_eq(do_flock(&C, S1, F, 1, SH, false), 0);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, EX, true), -EINPROGRESS);
        uint64_t req_b = C.request;
        ck_assert_int_eq(do_flock(&C, S2, F, 3, SH, true), -EINPROGRESS);
        uint64_t req_c = C.request;
        /* Only the waiter's own session may cancel it. */
        ck_assert_int_eq(do_cancel(&C, S1, F, req_b), -ENOENT);
        /* Cancelling the exclusive waiter lets the shared one through. */
        ck_assert_int_eq(do_cancel(&C, S2, F, req_b), 0);
        const TreeNotice *n = NULL;
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_ABORTED, &n), 1);
        ck_assert_int_eq(n->err, -EINTR);
        ck_assert_uint_eq(n->request, req_b);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, &n), 1);
        ck_assert_uint_eq(n->request, req_c);
        ck_assert_int_eq(do_cancel(&C, S2, F, req_b), -ENOENT);
        ck_assert_int_eq(do_cancel(&C, S2, F, req_c), -ENOENT);  /* already granted */
        ck_assert_int_eq(do_cancel(&C, S2, 999, req_c), -ENOENT);
        ck_assert_int_eq(do_cancel(&C, 0, F, req_c), -EINVAL);
        check_invariants(C.t);
}
END_TEST

START_TEST(test_release) {
        ck_assert_int_eq(do_posix(&C, S1, F, 1, EX, false, 0, 9), 0);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, SH, false, 20, 29), 0);
        ck_assert_int_eq(do_flock(&C, S1, F, 1, SH, false), 0);
        ck_assert_int_eq(do_posix(&C, S1, F, 2, EX, false, 40, 49), 0);
        ck_assert_int_eq(do_posix(&C, S2, F, 3, SH, true, 0, 100), -EINPROGRESS);
        /* FLUSH of owner 1: its POSIX locks go, its flock stays. */
        ck_assert_int_eq(do_release(&C, S1, F, 1, TREE_RELEASE_POSIX), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 0);  /* owner 2 still blocks */
        char *text = lock_text(C.t, F);
        ck_assert_ptr_nonnull(strstr(text, "mode=shared token="));
        ck_assert_ptr_null(strstr(text, "range=0-9"));
        free(text);
        /* Idempotent, also on unknown inodes. */
        ck_assert_int_eq(do_release(&C, S1, F, 1, TREE_RELEASE_POSIX), 0);
        ck_assert_int_eq(do_release(&C, S1, 999, 1, TREE_RELEASE_POSIX), 0);
        ck_assert_int_eq(do_release(&C, S1, F, 1, 8), -EINVAL);
        ck_assert_int_eq(do_release(&C, 0, F, 1, 1), -EINVAL);
        /* Everything of S1, on every file. */
        ck_assert_int_eq(do_create(&C, ROOT, "other", 0), 0);
        uint64_t g = C.res.ino;
        ck_assert_int_eq(do_flock(&C, S1, g, 7, EX, false), 0);
        ck_assert_int_eq(do_release(&C, S1, 0, 0, TREE_RELEASE_ALL_OWNERS | TREE_RELEASE_FLOCK | TREE_RELEASE_POSIX), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 1);
        ck_assert_ptr_null(tree_inode(C.t, g)->locks);
        TreeSessionInfo info;
        ck_assert_int_eq(tree_session_get(C.t, S1, &info), 0);
        ck_assert_uint_eq(info.locks, 0);
        ck_assert_int_eq(tree_session_get(C.t, S2, &info), 0);
        ck_assert_uint_eq(info.locks, 1);
        /* A release also cancels the owner's waiters. */
        ck_assert_int_eq(do_posix(&C, S1, F, 5, EX, true, 0, 0), -EINPROGRESS);
        ck_assert_int_eq(do_release(&C, S1, F, 5, TREE_RELEASE_POSIX), 0);
        const TreeNotice *n = NULL;
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_ABORTED, &n), 1);
        ck_assert_int_eq(n->err, -EINTR);
        check_invariants(C.t);
}
END_TEST

START_TEST(test_expiry) {
        ck_assert_int_eq(do_flock(&C, S1, F, 1, EX, false), 0);
        ck_assert_int_eq(do_flock(&C, S1, F, 2, EX, true), -EINPROGRESS);
        ck_assert_int_eq(do_flock(&C, S2, F, 3, EX, true), -EINPROGRESS);
        ck_assert_int_eq(do_session_expire(&C, S1, 0, 0), 0);
        const TreeNotice *n = NULL;
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_ABORTED, &n), 1);
        ck_assert_int_eq(n->err, -ENOLINK);
        ck_assert_uint_eq(n->owner, 2);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, &n), 1);
        ck_assert_uint_eq(n->owner, 3);
        ck_assert_uint_eq(n->token, C.index);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_SESSION_EXPIRED, NULL), 1);
        /* Commands of the expired session fail. */
        ck_assert_int_eq(do_flock(&C, S1, F, 1, EX, false), -ENOLINK);
        check_invariants(C.t);
}
END_TEST

START_TEST(test_lock_delay) {
        C.now = 10 * 1000000;
        ck_assert_int_eq(do_flock(&C, S1, F, 1, EX, false), 0);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, EX, true), -EINPROGRESS);
        ck_assert_int_eq(do_session_expire(&C, S1, 5 * 1000000, 0), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 0);
        ck_assert_uint_eq(tree_next_deadline(C.t), 15 * 1000000);
        check_snapshot_roundtrip(C.t);
        uint64_t s3 = do_session_open(&C, "n3");
        ck_assert_int_eq(do_flock(&C, s3, F, 3, SH, false), -EAGAIN);
        ck_assert_int_eq(do_posix(&C, s3, F, 3, SH, false, 0, 0), -EAGAIN);
        C.now = 15 * 1000000 - 1;
        ck_assert_int_eq(do_tick(&C), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 0);
        C.now = 15 * 1000000;
        ck_assert_int_eq(do_tick(&C), 0);
        const TreeNotice *n = NULL;
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, &n), 1);
        ck_assert_uint_eq(n->token, C.index);
        ck_assert_uint_eq(tree_next_deadline(C.t), UINT64_MAX);
        /* Graceful expiry: no delay. And a delay on a file nobody waits for
         * keeps nothing alive afterwards. */
        ck_assert_int_eq(do_flock(&C, S2, F, 2, UN, false), 0);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, EX, false), 0);
        ck_assert_int_eq(do_flock(&C, s3, F, 3, EX, true), -EINPROGRESS);
        ck_assert_int_eq(do_session_expire(&C, S2, 5 * 1000000, TREE_EXPIRE_GRACEFUL), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 1);
        uint64_t s4 = do_session_open(&C, "n4");
        ck_assert_int_eq(do_flock(&C, s4, F, 4, SH, false), -EAGAIN);
        ck_assert_int_eq(do_session_expire(&C, s3, 1000, 0), 0);
        ck_assert_uint_eq(tree_next_deadline(C.t), C.now + 1000);
        ck_assert_ptr_nonnull(tree_inode(C.t, F)->locks);
        /* Any later command ends the delay, not only a tick. */
        C.now += 1000;
        ck_assert_int_eq(do_flock(&C, s4, F, 4, SH, false), 0);
        ck_assert_uint_eq(tree_next_deadline(C.t), UINT64_MAX);
        check_invariants(C.t);
}
END_TEST

/* ---- POSIX ranges ---- */

START_TEST(test_posix_ranges) {
        C.now = 2000000;
        ck_assert_int_eq(do_posix(&C, S1, F, 1, SH, false, 0, 99), 0);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, UN, false, 40, 59), 0);
        char *text = lock_text(C.t, F);
        ck_assert_ptr_nonnull(strstr(text, "mode=posix-shared range=0-39 "));
        ck_assert_ptr_nonnull(strstr(text, "mode=posix-shared range=60-99 "));
        free(text);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, SH, false, 40, 59), 0);
        text = lock_text(C.t, F);
        ck_assert_ptr_nonnull(strstr(text, "range=0-99 "));
        ck_assert_ptr_null(strstr(text, "range=0-39"));
        free(text);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, EX, false, 10, 19), 0);
        ck_assert_uint_eq(tree_statfs_locks(C.t), 3);
        check_invariants(C.t);
        TreeLockInfo li;
        ck_assert_int_eq(tree_getlk(C.t, F, TREE_LOCK_POSIX, S2, 9, SH, 15, 15, &li), 0);
        ck_assert_uint_eq(li.mode, EX);
        ck_assert_uint_eq(li.start, 10);
        ck_assert_uint_eq(li.end, 19);
        ck_assert_uint_eq(li.session, S1);
        ck_assert_uint_eq(li.owner, 1);
        ck_assert_uint_eq(li.pid, 1);
        ck_assert_int_eq(tree_getlk(C.t, F, TREE_LOCK_POSIX, S2, 9, SH, 50, 50, &li), 0);
        ck_assert_uint_eq(li.mode, UN);
        ck_assert_int_eq(tree_getlk(C.t, F, TREE_LOCK_POSIX, S2, 9, EX, 50, 50, &li), 0);
        ck_assert_uint_eq(li.mode, SH);
        ck_assert_int_eq(tree_getlk(C.t, F, TREE_LOCK_POSIX, S1, 1, EX, 0, EOFR, &li), 0);
        ck_assert_uint_eq(li.mode, UN);         /* own locks never conflict */
        ck_assert_int_eq(tree_getlk(C.t, F, TREE_LOCK_FLOCK, S2, 9, EX, 0, 0, &li), 0);
        ck_assert_uint_eq(li.mode, UN);         /* independent tables */
        ck_assert_int_eq(tree_getlk(C.t, F, 3, S2, 9, EX, 0, 0, &li), -EINVAL);
        ck_assert_int_eq(tree_getlk(C.t, F, TREE_LOCK_POSIX, S2, 9, EX, 5, 4, &li), -EINVAL);
        ck_assert_int_eq(tree_getlk(C.t, 999, TREE_LOCK_POSIX, S2, 9, EX, 0, 0, &li), -ENOENT);
        /* To the end of the file. */
        ck_assert_int_eq(do_posix(&C, S1, F, 1, EX, false, 100, EOFR), 0);
        text = lock_text(C.t, F);
        ck_assert_ptr_nonnull(strstr(text, "range=100-eof token="));
        ck_assert_ptr_nonnull(strstr(text, "since=2000\n"));
        free(text);
        ck_assert_int_eq(do_posix(&C, S2, F, 2, SH, false, 1000000, 1000000), -EAGAIN);
        /* Unlock everything with one range. */
        ck_assert_int_eq(do_posix(&C, S1, F, 1, UN, false, 0, EOFR), 0);
        ck_assert_ptr_null(tree_inode(C.t, F)->locks);
        /* Adjacent ranges of one owner merge; of different modes they do not. */
        ck_assert_int_eq(do_posix(&C, S1, F, 1, SH, false, 0, 9), 0);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, SH, false, 10, 19), 0);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, EX, false, 20, 29), 0);
        ck_assert_uint_eq(tree_statfs_locks(C.t), 2);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, EX, false, 5, 14), 0);
        text = lock_text(C.t, F);
        ck_assert_ptr_nonnull(strstr(text, "posix-shared range=0-4 "));
        ck_assert_ptr_nonnull(strstr(text, "posix-exclusive range=5-14 "));
        ck_assert_ptr_nonnull(strstr(text, "posix-shared range=15-19 "));
        free(text);
        check_invariants(C.t);
        check_snapshot_roundtrip(C.t);
}
END_TEST

START_TEST(test_posix_queue) {
        ck_assert_int_eq(do_posix(&C, S1, F, 1, EX, false, 0, 9), 0);
        ck_assert_int_eq(do_posix(&C, S2, F, 2, SH, true, 5, 14), -EINPROGRESS);
        /* Disjoint ranges do not wait. */
        ck_assert_int_eq(do_posix(&C, S2, F, 3, EX, true, 20, 29), 0);
        /* Overlapping a queued waiter: queue behind it. */
        ck_assert_int_eq(do_posix(&C, S2, F, 4, EX, true, 10, 12), -EINPROGRESS);
        ck_assert_int_eq(do_posix(&C, S2, F, 5, SH, true, 14, 14), 0);  /* shared vs shared waiter */
        ck_assert_int_eq(do_posix(&C, S2, F, 6, EX, false, 11, 11), -EAGAIN);  /* behind owner 2 */
        check_invariants(C.t);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, UN, false, 0, 9), 0);
        const TreeNotice *n = NULL;
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, &n), 1);
        ck_assert_uint_eq(n->owner, 2);
        check_invariants(C.t);
        ck_assert_int_eq(do_posix(&C, S2, F, 2, UN, false, 0, EOFR), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, &n), 1);
        ck_assert_uint_eq(n->owner, 4);
        check_invariants(C.t);
}
END_TEST

START_TEST(test_posix_no_fairness_deadlock) {
        /* The holder may downgrade or extend while others wait for it. */
        ck_assert_int_eq(do_posix(&C, S1, F, 1, EX, false, 0, 9), 0);
        ck_assert_int_eq(do_posix(&C, S2, F, 2, EX, true, 0, 19), -EINPROGRESS);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, SH, false, 0, 9), 0);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, SH, false, 10, 19), 0);
        /* Someone else must still queue behind the waiter. */
        ck_assert_int_eq(do_posix(&C, S1, F, 7, SH, false, 15, 15), -EAGAIN);
        check_invariants(C.t);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, UN, false, 0, EOFR), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 1);
        check_invariants(C.t);
}
END_TEST

START_TEST(test_lock_errors) {
        TreeCmd cmd = { .type = TREE_CMD_LOCK, .lock = { .ino = F, .table = 1, .mode = EX } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EINVAL);    /* no session */
        ck_assert_int_eq(do_lock(&C, S1, F, 1, 3, EX, false, 0, 0), -EINVAL);
        ck_assert_int_eq(do_lock(&C, S1, F, 1, 0, EX, false, 0, 0), -EINVAL);
        ck_assert_int_eq(do_lock(&C, S1, F, 1, TREE_LOCK_FLOCK, 3, false, 0, 0), -EINVAL);
        ck_assert_int_eq(do_posix(&C, S1, F, 1, SH, false, 10, 9), -EINVAL);
        ck_assert_int_eq(do_flock(&C, S1, 999, 1, SH, false), -ENOENT);
        ck_assert_int_eq(do_flock(&C, 777, F, 1, SH, false), -ENOLINK);
        cmd = (TreeCmd) { .type = TREE_CMD_LOCK, .session = S1,
                          .lock = { .ino = F, .table = 1, .mode = EX, .wait = true } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EINVAL);    /* waiting needs a request number */
        /* Locks on directories work. */
        ck_assert_int_eq(do_flock(&C, S1, ROOT, 1, EX, false), 0);
}
END_TEST

START_TEST(test_enolck) {
        ctx_done(&C);
        TreeLimits l = { .max_locks = 5 };
        ctx_init(&C, &l);
        S1 = do_session_open(&C, "n1");
        ck_assert_int_eq(do_create(&C, ROOT, "f", 0), 0);
        F = C.res.ino;
        /* Admission needs room for 3 records (request + two splits). */
        ck_assert_int_eq(do_flock(&C, S1, F, 1, SH, false), 0);
        ck_assert_int_eq(do_flock(&C, S1, F, 2, SH, false), 0);
        ck_assert_int_eq(do_flock(&C, S1, F, 3, SH, false), 0);
        ck_assert_int_eq(do_flock(&C, S1, F, 4, SH, false), -ENOLCK);
        ck_assert_int_eq(do_flock(&C, S1, F, 4, SH, true), -ENOLCK);
        ck_assert_int_eq(do_flock(&C, S1, F, 4, UN, false), 0);
        ck_assert_int_eq(do_flock(&C, S1, F, 2, UN, false), 0);
        ck_assert_int_eq(do_flock(&C, S1, F, 4, SH, false), 0);
}
END_TEST

START_TEST(test_orphan) {
        ck_assert_int_eq(do_flock(&C, S1, F, 1, EX, false), 0);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, EX, true), -EINPROGRESS);
        ck_assert_int_eq(do_unlink(&C, ROOT, "lockfile"), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_INODE_REMOVED, NULL), 0);
        TreeAttr a;
        ck_assert_int_eq(tree_getattr(C.t, F, &a), 0);
        ck_assert_uint_eq(a.nlink, 0);
        char *p;
        ck_assert_int_eq(tree_path(C.t, F, &p), -ENOENT);
        ck_assert_int_eq(do_write(&C, F, 0, "still open"), 0);
        check_snapshot_roundtrip(C.t);
        ck_assert_int_eq(do_flock(&C, S1, F, 1, UN, false), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 1);
        ck_assert_int_eq(do_flock(&C, S2, F, 2, UN, false), 0);
        const TreeNotice *n = NULL;
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_INODE_REMOVED, &n), 1);
        ck_assert_uint_eq(n->ino, F);
        ck_assert_int_eq(tree_getattr(C.t, F, &a), -ENOENT);
        TreeStatfs s;
        tree_statfs(C.t, &s);
        ck_assert_uint_eq(s.inodes, 1);
        ck_assert_uint_eq(s.total_bytes, 0);
        /* An orphan directory too, and a session expiry ending an orphan. */
        ck_assert_int_eq(do_mkdir(&C, ROOT, "d"), 0);
        uint64_t d = C.res.ino;
        ck_assert_int_eq(do_flock(&C, S1, d, 1, SH, false), 0);
        ck_assert_int_eq(do_rmdir(&C, ROOT, "d"), 0);
        ck_assert_int_eq(do_create(&C, d, "x", 0), -ENOENT);
        ck_assert_int_eq(tree_getattr(C.t, d, &a), 0);
        ck_assert_uint_eq(a.nlink, 0);
        check_snapshot_roundtrip(C.t);
        ck_assert_int_eq(do_session_expire(&C, S1, 0, 0), 0);
        ck_assert_int_eq(tree_getattr(C.t, d, &a), -ENOENT);
}
END_TEST

/* ---- randomised: no lost wake-ups, every waiter settles exactly once ---- */

typedef struct Pending {
        uint64_t session, request;
} Pending;

static Pending pend[4096];
static size_t npend;

static uint64_t rng_state;
static uint64_t rnd(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

/* Settles pending requests from the last apply's notices. */
static void settle(void) {
        for (size_t k = 0; k < C.notices.n; k++) {
                const TreeNotice *n = &C.notices.items[k];

                if (n->type != TREE_NOTICE_LOCK_GRANTED && n->type != TREE_NOTICE_LOCK_ABORTED)
                        continue;
                size_t j;
                for (j = 0; j < npend; j++)
                        if (pend[j].session == n->session && pend[j].request == n->request)
                                break;
                if (j == npend) {
                        fprintf(stderr, "notice type %d session %lu request %lu owner %lu; last res %d, index %lu; last request %lu\n", n->type,
                                (unsigned long) n->session, (unsigned long) n->request, (unsigned long) n->owner, C.res.err,
                                (unsigned long) C.index, (unsigned long) C.request);
                        for (size_t q = 0; q < C.notices.n; q++)
                                fprintf(stderr, "   notice %d s=%lu r=%lu\n", C.notices.items[q].type, (unsigned long) C.notices.items[q].session, (unsigned long) C.notices.items[q].request);
                }
                ck_assert_msg(j < npend, "notice for an unknown or settled request");
                pend[j] = pend[--npend];
        }
}

START_TEST(test_random_wakeups) {
        const char *env = getenv("TREE_LOCK_SEED");
        uint64_t seed = env ? strtoull(env, NULL, 0) : 0x1234567;
        int steps = getenv("TREE_LOCK_STEPS") ? atoi(getenv("TREE_LOCK_STEPS")) : 20000;
        fprintf(stderr, "test_random_wakeups: seed %#llx (TREE_LOCK_SEED to replay)\n", (unsigned long long) seed);
        rng_state = seed | 1;
        npend = 0;
        uint64_t sessions[3] = { S1, S2, do_session_open(&C, "n3") };
        const char *nodes[3] = { "n1", "n2", "n3" };
        for (int step = 0; step < steps; step++) {
                int si = (int) (rnd() % 3);
                uint64_t s = sessions[si], owner = rnd() % 4 + 1;
                uint8_t table = rnd() % 2 ? TREE_LOCK_FLOCK : TREE_LOCK_POSIX;
                uint64_t a = rnd() % 8, b = a + rnd() % 4;
                if (rnd() % 8 == 0)
                        b = EOFR;
                int r;
                size_t k;
                C.now += rnd() % 3000;
                tree_notices_clear(&C.notices);        /* a skipped step applies nothing */
                switch (rnd() % 16) {
                case 0 ... 7:
                        r = do_lock(&C, s, F, owner, table, rnd() % 2 ? EX : SH, rnd() % 3 != 0, a, b);
                        if (r == -EINPROGRESS) {
                                ck_assert_uint_lt(npend, 4096);
                                pend[npend++] = (Pending) { s, C.request };
                        } else
                                ck_assert(r == 0 || r == -EAGAIN);
                        break;
                case 8 ... 10:
                        ck_assert_int_eq(do_lock(&C, s, F, owner, table, UN, false, a, b), 0);
                        break;
                case 11:
                        if (npend == 0)
                                break;
                        k = rnd() % npend;
                        r = do_cancel(&C, pend[k].session, F, pend[k].request);
                        if (r == -ENOENT) {
                                /* Only when a lock-delay ended at the start of this
                                 * very entry and granted the waiter first. */
                                bool granted = false;
                                for (size_t q = 0; q < C.notices.n; q++)
                                        granted |= C.notices.items[q].type == TREE_NOTICE_LOCK_GRANTED &&
                                                   C.notices.items[q].request == pend[k].request;
                                ck_assert(granted);
                        } else
                                ck_assert_int_eq(r, 0);
                        break;
                case 12:
                case 13:
                        ck_assert_int_eq(do_release(&C, s, F, owner, rnd() % 3 + 1), 0);
                        break;
                case 14:
                        ck_assert_int_eq(do_tick(&C), 0);
                        break;
                default:
                        ck_assert_int_eq(do_session_expire(&C, s, rnd() % 2 ? rnd() % 5000 : 0, 0), 0);
                        settle();
                        sessions[si] = do_session_open(&C, nodes[si]);
                        break;
                }
                settle();
                check_invariants(C.t);
                /* Pending requests are exactly the queued waiters. */
                LockFile *f = tree_inode(C.t, F)->locks;
                ck_assert_uint_eq(npend, f ? list_length(&f->waiters[0]) + list_length(&f->waiters[1]) : 0);
                if (step % 1000 == 0)
                        check_snapshot_roundtrip(C.t);
        }
        /* Everyone leaves: nothing stays pending. */
        for (int k = 0; k < 3; k++) {
                ck_assert_int_eq(do_session_expire(&C, sessions[k], 0, 0), 0);
                settle();
        }
        ck_assert_uint_eq(npend, 0);
        ck_assert_uint_eq(tree_statfs_locks(C.t), 0);
}
END_TEST

static Suite *lock_suite(void) {
        Suite *s = suite_create("tree-lock");
        struct {
                const char *name;
                const TTest *test;
        } cases[] = {
                { "flock_basic", test_flock_basic },
                { "flock_fifo", test_flock_fifo },
                { "tokens_increase", test_tokens_increase },
                { "flock_convert", test_flock_convert },
                { "cancel", test_cancel },
                { "release", test_release },
                { "expiry", test_expiry },
                { "lock_delay", test_lock_delay },
                { "posix_ranges", test_posix_ranges },
                { "posix_queue", test_posix_queue },
                { "posix_no_fairness_deadlock", test_posix_no_fairness_deadlock },
                { "lock_errors", test_lock_errors },
                { "enolck", test_enolck },
                { "orphan", test_orphan },
                { "random_wakeups", test_random_wakeups },
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
                TCase *tc = tcase_create(cases[k].name);
                tcase_add_checked_fixture(tc, setup, teardown);
                tcase_set_timeout(tc, 120);
                tcase_add_test(tc, cases[k].test);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(lock_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
