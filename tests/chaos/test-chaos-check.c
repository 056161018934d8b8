#include "config.h"

/* test-chaos-check — the chaos checkers on hand-made histories: a valid one
 * passes, each kind of violation (stale read, lost write, impossible cas,
 * overlapping holders, decreasing tokens, lost guarded write, a read of an
 * empty file, stale metadata) fails, and random linearizable histories
 * produced by a real register (or a real file's existence and mode) with
 * overlapping timings always pass (seeded: TEST_SEED=... replays). */

#include "tests/chaos/history.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Checker explanations go to stderr only with CHAOS_TEST_VERBOSE=1. */
static FILE *diag(void) {
        static FILE *f;
        if (!f)
                f = getenv("CHAOS_TEST_VERBOSE") ? stderr : fopen("/dev/null", "we");
        return f ? f : stderr;
}

static History parse(const char *text) {
        History h = {};
        char *copy = strdup(text), *save = NULL;
        unsigned n = 0;
        ck_assert_ptr_nonnull(copy);
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                ck_assert_int_eq(history_add_line(&h, line, ++n), 0);
        free(copy);
        return h;
}

static CheckResult reg(const char *text) {
        History h = parse(text);
        CheckResult r = check_register(&h, 0, diag());
        history_done(&h);
        return r;
}

static CheckResult meta(const char *text) {
        History h = parse(text);
        CheckResult r = check_meta(&h, 0, diag());
        history_done(&h);
        return r;
}

static CheckResult set(const char *text) {
        History h = parse(text);
        CheckResult r = check_set(&h, diag());
        history_done(&h);
        return r;
}

static CheckResult lck(const char *text) {
        History h = parse(text);
        CheckResult r = check_lock(&h, diag());
        history_done(&h);
        return r;
}

START_TEST(test_parse) {
        History h = {};
        ck_assert_int_eq(history_add_line(&h, "# comment", 1), 0);
        ck_assert_int_eq(history_add_line(&h, "", 2), 0);
        ck_assert_int_eq(history_add_line(&h, "1 write k 5 10 20 ok", 3), 0);
        ck_assert_int_eq(history_add_line(&h, "1 cas k 5>6 10 20 info", 4), 0);
        ck_assert_str_eq(h.ops[1].old, "5");
        ck_assert_str_eq(h.ops[1].value, "6");
        ck_assert_int_eq(history_add_line(&h, "1 write k 5 20 10 ok", 5), -EBADMSG); /* returns before call */
        ck_assert_int_eq(history_add_line(&h, "1 frob k 5 10 20 ok", 6), -EBADMSG);
        ck_assert_int_eq(history_add_line(&h, "1 write k 5 10 20 maybe", 7), -EBADMSG);
        ck_assert_int_eq(history_add_line(&h, "1 write k 5 10 ok", 8), -EBADMSG);
        ck_assert_int_eq(history_add_line(&h, "1 cas k 56 10 20 ok", 9), -EBADMSG);
        ck_assert_int_eq(history_add_line(&h, "x write k 5 10 20 ok", 10), -EBADMSG);
        ck_assert_int_eq(history_add_line(&h, "1 write k 5 -1 20 ok", 11), -EBADMSG);
        ck_assert_uint_eq(h.n, 2);
        history_done(&h);
}
END_TEST

/* Intent lines ("#I") become info ops when the client died before the op
 * line; "#X" (no effect) and op lines settle them. */
START_TEST(test_load_intents) {
        const char *text = "#I 1 write k 5 10 10 info\n"
                           "1 write k 5 10 20 ok\n"
                           "#I 1 cas k 5>6 30 30 info\n"
                           "#X errno=107 1 cas k 5>6 30 31 fail\n"
                           "#I 1 write k 7 40 40 info\n";
        FILE *f = fmemopen((void *) text, strlen(text), "r");
        History h = {};
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(history_load(&h, f, "mem"), 0);
        fclose(f);
        ck_assert_uint_eq(h.n, 2);
        ck_assert_int_eq(h.ops[0].outcome, OUTCOME_OK);
        ck_assert_str_eq(h.ops[1].value, "7");
        ck_assert_int_eq(h.ops[1].outcome, OUTCOME_INFO);
        ck_assert_int_eq(h.ops[1].type, OP_WRITE);
        history_done(&h);
}
END_TEST

START_TEST(test_register_linearizable) {
        /* w1 overlaps both reads: r0 before it takes effect, r1 after. */
        ck_assert_int_eq(reg("1 write k 1 10 50 ok\n"
                             "2 read k 0 12 20 ok\n"
                             "3 read k 1 30 40 ok\n"
                             "2 read k 1 60 70 ok\n"),
                         CHECK_VALID);
        /* Two keys are independent registers. */
        ck_assert_int_eq(reg("1 write a 1 10 20 ok\n"
                             "2 write b 2 10 20 ok\n"
                             "1 read a 1 30 40 ok\n"
                             "2 read b 2 30 40 ok\n"),
                         CHECK_VALID);
        /* Needs backtracking: both writes concurrent, reads force w2 then w1. */
        ck_assert_int_eq(reg("1 write k 1 0 100 ok\n"
                             "2 write k 2 0 100 ok\n"
                             "3 read k 2 10 20 ok\n"
                             "3 read k 1 30 40 ok\n"
                             "4 read k 1 110 120 ok\n"),
                         CHECK_VALID);
        /* Failed and info reads carry no information. */
        ck_assert_int_eq(reg("1 write k 1 10 20 ok\n"
                             "2 read k 7 30 40 fail\n"
                             "2 read k 8 50 60 info\n"),
                         CHECK_VALID);
}
END_TEST

START_TEST(test_register_stale_read) {
        ck_assert_int_eq(reg("1 write k 1 10 20 ok\n"
                             "2 read k 0 30 40 ok\n"),
                         CHECK_INVALID);
        /* Reads go back in time. */
        ck_assert_int_eq(reg("1 write k 1 0 100 ok\n"
                             "2 read k 1 10 20 ok\n"
                             "3 read k 0 30 40 ok\n"),
                         CHECK_INVALID);
        /* A value nobody wrote. */
        ck_assert_int_eq(reg("1 write k 1 10 20 ok\n"
                             "2 read k 9 30 40 ok\n"),
                         CHECK_INVALID);
}
END_TEST

START_TEST(test_register_info_and_fail) {
        /* An info write may take effect long after it "returned". */
        ck_assert_int_eq(reg("1 write k 1 10 20 info\n"
                             "2 read k 0 30 40 ok\n"
                             "2 read k 1 500 600 ok\n"),
                         CHECK_VALID);
        /* An info write may never take effect. */
        ck_assert_int_eq(reg("1 write k 1 10 20 info\n"
                             "2 read k 0 30 40 ok\n"),
                         CHECK_VALID);
        /* A failed write never takes effect. */
        ck_assert_int_eq(reg("1 write k 1 10 20 fail\n"
                             "2 read k 1 30 40 ok\n"),
                         CHECK_INVALID);
        /* But not before it was invoked. */
        ck_assert_int_eq(reg("2 read k 1 5 8 ok\n"
                             "1 write k 1 10 20 info\n"),
                         CHECK_INVALID);
}
END_TEST

START_TEST(test_register_cas) {
        ck_assert_int_eq(reg("1 cas k 0>5 10 20 ok\n"
                             "2 cas k 0>6 30 40 fail\n"
                             "2 read k 5 50 60 ok\n"),
                         CHECK_VALID);
        /* Two successful cas from the same old value: one must have failed. */
        ck_assert_int_eq(reg("1 cas k 0>5 10 20 ok\n"
                             "2 cas k 0>6 10 20 ok\n"),
                         CHECK_INVALID);
        /* A failed cas whose expected value was certainly current. */
        ck_assert_int_eq(reg("1 cas k 0>5 10 20 fail\n"
                             "2 read k 0 30 40 ok\n"),
                         CHECK_INVALID);
        /* An info cas applies only if it matched. */
        ck_assert_int_eq(reg("1 write k 3 0 5 ok\n"
                             "1 cas k 0>5 10 20 info\n"
                             "2 read k 5 30 40 ok\n"),
                         CHECK_INVALID);
        ck_assert_int_eq(reg("1 cas k 0>5 10 20 info\n"
                             "2 read k 5 30 40 ok\n"
                             "3 cas k 5>7 50 60 ok\n"
                             "2 read k 7 70 80 ok\n"),
                         CHECK_VALID);
}
END_TEST

/* A real register driven by random ops whose [invoke, complete] intervals
 * surround their effect: such histories are linearizable by construction. */
START_TEST(test_register_random_model) {
        const char *env = getenv("TEST_SEED");
        uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5eed1234ull;
        fprintf(stderr, "TEST_SEED=%" PRIu64 "\n", seed);
        for (int round = 0; round < 50; round++) {
                History h = {};
                char line[256];
                int value = 0, next_value = 1;
                uint64_t t = 1000, x = seed + (uint64_t) round * 7919;
                for (int i = 0; i < 60; i++) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        int proc = (int) (x % 5), kind = (int) ((x >> 8) % 4);
                        /* effect at t; the call started before, returns after */
                        uint64_t inv = t - (x >> 16) % 300, comp = t + (x >> 24) % 300;
                        const char *outcome = (x >> 32) % 10 == 0 ? "info" : "ok";
                        if (kind == 0)
                                snprintf(line, sizeof line, "%d read k %d %" PRIu64 " %" PRIu64 " ok", proc, value, inv, comp);
                        else if (kind == 1) {
                                value = next_value++;
                                snprintf(line, sizeof line, "%d write k %d %" PRIu64 " %" PRIu64 " %s", proc, value, inv, comp,
                                         outcome);
                        } else if (kind == 2) {
                                int nv = next_value++;
                                snprintf(line, sizeof line, "%d cas k %d>%d %" PRIu64 " %" PRIu64 " %s", proc, value, nv, inv,
                                         comp, outcome);
                                value = nv;
                        } else
                                snprintf(line, sizeof line, "%d cas k %d>%d %" PRIu64 " %" PRIu64 " fail", proc, value + 1000,
                                         next_value++, inv, comp);
                        ck_assert_int_eq(history_add_line(&h, line, (unsigned) i + 1), 0);
                        t += 100;
                }
                ck_assert_int_eq(check_register(&h, 0, diag()), CHECK_VALID);
                history_done(&h);
        }
}
END_TEST

START_TEST(test_register_budget) {
        /* Many concurrent writes of distinct values, one impossible read at the end. */
        History h = {};
        char line[128];
        for (int i = 0; i < 40; i++) {
                snprintf(line, sizeof line, "%d write k %d 0 1000 ok", i, i + 1);
                ck_assert_int_eq(history_add_line(&h, line, (unsigned) i + 1), 0);
        }
        ck_assert_int_eq(history_add_line(&h, "99 read k 999 2000 2100 ok", 41), 0);
        ck_assert_int_eq(check_register(&h, 1000, diag()), CHECK_UNKNOWN);
        history_done(&h);
}
END_TEST

/* Empty content: no write produces it and the initial value is "0", so a
 * read of "" is a violation wherever it lies; a failed in-place write
 * commits nothing (not even its truncation); an info one may land late. */
START_TEST(test_register_empty) {
        ck_assert_int_eq(reg("2 read c0 \"\" 5 8 ok\n"), CHECK_INVALID);
        ck_assert_int_eq(reg("1 write c0 5 10 20 fail\n"
                             "2 read c0 \"\" 30 40 ok\n"),
                         CHECK_INVALID);
        /* concurrent with a successful write: still no write produced "" */
        ck_assert_int_eq(reg("1 write c0 5 10 50 ok\n"
                             "2 read c0 \"\" 20 30 ok\n"
                             "2 read c0 5 60 70 ok\n"),
                         CHECK_INVALID);
        /* a failed write's value never shows; an info one may, late */
        ck_assert_int_eq(reg("1 write c0 5 10 20 fail\n"
                             "2 read c0 5 30 40 ok\n"),
                         CHECK_INVALID);
        ck_assert_int_eq(reg("1 write c0 5 10 20 info\n"
                             "2 read c0 0 30 40 ok\n"
                             "2 read c0 5 50 60 ok\n"),
                         CHECK_VALID);
        /* an intent left by a killed client (its own file) is an info write */
        const char *texts[] = { "#I 1 write c0 5 10 10 info\n", "2 read c0 5 30 40 ok\n" };
        History h = {};
        for (size_t i = 0; i < 2; i++) {
                FILE *f = fmemopen((void *) texts[i], strlen(texts[i]), "r");
                ck_assert_ptr_nonnull(f);
                ck_assert_int_eq(history_load(&h, f, "mem"), 0);
                fclose(f);
        }
        ck_assert_int_eq(check_register(&h, 0, diag()), CHECK_VALID);
        history_done(&h);
}
END_TEST

START_TEST(test_meta_valid) {
        ck_assert_int_eq(meta("1 read m0 absent 0 5 ok\n"
                              "1 xcreate m0 644 10 20 ok\n"
                              "2 read m0 644 30 40 ok\n"
                              "3 xcreate m0 600 45 50 fail\n"
                              "3 create m0 600 55 60 ok\n"
                              "2 read m0 644 61 62 ok\n"
                              "1 chmod m0 755 70 80 ok\n"
                              "2 read m0 755 90 95 ok\n"
                              "3 unlink m0 - 100 110 ok\n"
                              "2 unlink m0 - 120 130 fail\n"
                              "2 chmod m0 600 131 132 fail\n"
                              "1 read m0 absent 140 150 ok\n"
                              "1 create m0 640 160 170 ok\n"
                              "2 read m0 640 180 190 ok\n"),
                         CHECK_VALID);
        /* concurrent chmod and stat: either order */
        ck_assert_int_eq(meta("1 xcreate m0 644 10 20 ok\n"
                              "1 chmod m0 600 30 60 ok\n"
                              "2 read m0 600 35 40 ok\n"
                              "3 read m0 600 45 50 ok\n"),
                         CHECK_VALID);
        /* files are independent */
        ck_assert_int_eq(meta("1 xcreate m0 644 10 20 ok\n"
                              "2 read m1 absent 30 40 ok\n"),
                         CHECK_VALID);
        /* info ops may land late or never */
        ck_assert_int_eq(meta("1 xcreate m0 644 10 20 info\n"
                              "2 read m0 absent 30 40 ok\n"
                              "2 read m0 644 50 60 ok\n"
                              "3 unlink m0 - 70 80 info\n"
                              "2 read m0 644 90 95 ok\n"),
                         CHECK_VALID);
}
END_TEST

START_TEST(test_meta_stale) {
        /* unlink returned, then a stat on another node still sees the file */
        ck_assert_int_eq(meta("1 xcreate m0 644 10 20 ok\n"
                              "2 read m0 644 30 40 ok\n"
                              "1 unlink m0 - 50 60 ok\n"
                              "2 read m0 644 70 80 ok\n"),
                         CHECK_INVALID);
        /* a stale mode after chmod */
        ck_assert_int_eq(meta("1 xcreate m0 644 10 20 ok\n"
                              "1 chmod m0 600 30 40 ok\n"
                              "2 read m0 644 50 60 ok\n"),
                         CHECK_INVALID);
        /* a created file not visible */
        ck_assert_int_eq(meta("1 create m0 644 10 20 ok\n"
                              "2 read m0 absent 30 40 ok\n"),
                         CHECK_INVALID);
        /* EEXIST although the file certainly did not exist */
        ck_assert_int_eq(meta("1 xcreate m0 644 10 20 fail\n"
                              "2 read m0 absent 30 40 ok\n"),
                         CHECK_INVALID);
        /* two exclusive creates both succeeded */
        ck_assert_int_eq(meta("1 xcreate m0 644 10 20 ok\n"
                              "2 xcreate m0 600 10 20 ok\n"),
                         CHECK_INVALID);
        /* chmod succeeded on a file that certainly did not exist */
        ck_assert_int_eq(meta("1 chmod m0 600 10 20 ok\n"), CHECK_INVALID);
        /* plain create of an existing file keeps its mode */
        ck_assert_int_eq(meta("1 xcreate m0 644 10 20 ok\n"
                              "2 create m0 600 30 40 ok\n"
                              "3 read m0 600 50 60 ok\n"),
                         CHECK_INVALID);
        /* ENOENT from unlink while the file certainly existed */
        ck_assert_int_eq(meta("1 xcreate m0 644 10 20 ok\n"
                              "2 unlink m0 - 30 40 fail\n"),
                         CHECK_INVALID);
}
END_TEST

/* A real file driven by random ops whose intervals surround their effect. */
START_TEST(test_meta_random_model) {
        const char *env = getenv("TEST_SEED");
        uint64_t seed = env ? strtoull(env, NULL, 0) : 0x3e7aull;
        static const char *const modes[] = { "600", "640", "644", "755" };
        for (int round = 0; round < 50; round++) {
                History h = {};
                char line[256];
                const char *state = "absent";
                uint64_t t = 1000, x = seed + (uint64_t) round * 104729;
                for (int i = 0; i < 60; i++) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        int proc = (int) (x % 5), kind = (int) ((x >> 8) % 5);
                        uint64_t inv = t - (x >> 16) % 300, comp = t + (x >> 24) % 300;
                        const char *m = modes[(x >> 40) % 4], *outcome = (x >> 32) % 10 == 0 ? "info" : "ok";
                        bool exists = strcmp(state, "absent") != 0;
                        if (kind == 0)
                                snprintf(line, sizeof line, "%d read m0 %s %" PRIu64 " %" PRIu64 " ok", proc, state, inv, comp);
                        else if (kind == 1) {
                                snprintf(line, sizeof line, "%d xcreate m0 %s %" PRIu64 " %" PRIu64 " %s", proc, m, inv, comp,
                                         exists ? "fail" : outcome);
                                if (!exists)
                                        state = m;
                        } else if (kind == 2) {
                                snprintf(line, sizeof line, "%d create m0 %s %" PRIu64 " %" PRIu64 " %s", proc, m, inv, comp,
                                         outcome);
                                if (!exists)
                                        state = m;
                        } else if (kind == 3) {
                                snprintf(line, sizeof line, "%d unlink m0 - %" PRIu64 " %" PRIu64 " %s", proc, inv, comp,
                                         exists ? outcome : "fail");
                                state = "absent";
                        } else {
                                snprintf(line, sizeof line, "%d chmod m0 %s %" PRIu64 " %" PRIu64 " %s", proc, m, inv, comp,
                                         exists ? outcome : "fail");
                                if (exists)
                                        state = m;
                        }
                        ck_assert_int_eq(history_add_line(&h, line, (unsigned) i + 1), 0);
                        t += 100;
                }
                ck_assert_int_eq(check_meta(&h, 0, diag()), CHECK_VALID);
                history_done(&h);
        }
}
END_TEST

START_TEST(test_set) {
        ck_assert_int_eq(set("1 add s a 10 20 ok\n"
                             "2 add s b 10 20 info\n"
                             "3 add s c 10 20 info\n"
                             "4 final s a,b 100 110 ok\n"
                             "5 final s b,a 100 110 ok\n"),
                         CHECK_VALID);
        /* lost acknowledged add on one node's final read */
        ck_assert_int_eq(set("1 add s a 10 20 ok\n"
                             "1 add s b 30 40 ok\n"
                             "4 final s a,b 100 110 ok\n"
                             "5 final s a 100 110 ok\n"),
                         CHECK_INVALID);
        /* an element never added; one whose add certainly failed */
        ck_assert_int_eq(set("1 add s a 10 20 ok\n"
                             "4 final s a,z 100 110 ok\n"),
                         CHECK_INVALID);
        ck_assert_int_eq(set("1 add s a 10 20 fail\n"
                             "4 final s a 100 110 ok\n"),
                         CHECK_INVALID);
        /* no final read at all */
        ck_assert_int_eq(set("1 add s a 10 20 ok\n"
                             "4 final s - 100 110 fail\n"),
                         CHECK_INVALID);
        ck_assert_int_eq(set("4 final s - 100 110 ok\n"), CHECK_VALID);
}
END_TEST

START_TEST(test_lock_valid) {
        ck_assert_int_eq(lck("1 acquire L 10 0 100 ok\n"
                             "1 guard L 10 110 120 ok\n"
                             "1 release L 10 130 140 ok\n"
                             "2 acquire L 15 50 150 ok\n"
                             "2 guard L 15 160 170 ok\n"
                             "2 check L 15 175 178 ok\n"
                             "2 release L 15 180 190 ok\n"
                             "3 acquire L 22 185 200 ok\n"
                             "3 guard L 22 210 220 info\n"
                             "3 release L 22 230 240 info\n"
                             "9 final L 10,15,22 500 510 ok\n"),
                         CHECK_VALID);
        /* a holder killed before releasing does not count as overlapping */
        ck_assert_int_eq(lck("1 acquire L 10 0 100 ok\n"
                             "1 release L 10 130 140 info\n"
                             "2 acquire L 15 50 120 ok\n"
                             "2 release L 15 180 190 ok\n"
                             "9 final L - 500 510 ok\n"),
                         CHECK_VALID);
}
END_TEST

START_TEST(test_lock_overlap) {
        ck_assert_int_eq(lck("1 acquire L 10 0 100 ok\n"
                             "1 release L 10 130 140 ok\n"
                             "2 acquire L 15 50 120 ok\n"
                             "2 release L 15 180 190 ok\n"
                             "9 final L - 500 510 ok\n"),
                         CHECK_INVALID);
        /* a frozen holder that still confirms its token after the next grant */
        ck_assert_int_eq(lck("1 acquire L 10 0 100 ok\n"
                             "2 acquire L 15 200 300 ok\n"
                             "2 release L 15 310 320 ok\n"
                             "1 check L 10 400 410 ok\n"
                             "9 final L - 500 510 ok\n"),
                         CHECK_INVALID);
        /* told it lost the lock, its unlock then succeeds (a new session has nothing to unlock): fine */
        ck_assert_int_eq(lck("1 acquire L 10 0 100 ok\n"
                             "2 acquire L 15 200 300 ok\n"
                             "1 check L lost 150 400 ok\n"
                             "1 release L 10 420 430 ok\n"
                             "2 release L 15 500 510 ok\n"
                             "9 final L - 600 610 ok\n"),
                         CHECK_VALID);
        /* it learnt that it lost the lock: fine */
        ck_assert_int_eq(lck("1 acquire L 10 0 100 ok\n"
                             "2 acquire L 15 200 300 ok\n"
                             "2 release L 15 310 320 ok\n"
                             "1 check L lost 400 410 ok\n"
                             "1 release L 10 420 430 fail\n"
                             "9 final L - 500 510 ok\n"),
                         CHECK_VALID);
}
END_TEST

START_TEST(test_lock_untokened) {
        /* a grant whose holder found no token for itself, session intact */
        ck_assert_int_eq(lck("1 acquire L - 0 100 ok\n"
                             "1 release L - 130 140 ok\n"
                             "9 final L - 500 510 ok\n"),
                         CHECK_INVALID);
        /* gone with the session before the holder looked */
        ck_assert_int_eq(lck("1 acquire L lost 0 100 ok\n"
                             "1 release L lost 130 140 ok\n"
                             "2 acquire L 15 150 160 ok\n"
                             "2 release L 15 180 190 ok\n"
                             "9 final L - 500 510 ok\n"),
                         CHECK_VALID);
}
END_TEST

START_TEST(test_lock_tokens) {
        /* tokens decrease in grant order */
        ck_assert_int_eq(lck("1 acquire L 20 0 100 ok\n"
                             "1 release L 20 130 140 ok\n"
                             "2 acquire L 15 50 150 ok\n"
                             "2 release L 15 180 190 ok\n"
                             "9 final L - 500 510 ok\n"),
                         CHECK_INVALID);
        /* guarded file out of order */
        ck_assert_int_eq(lck("1 acquire L 10 0 100 ok\n"
                             "1 guard L 10 110 120 ok\n"
                             "1 release L 10 130 140 ok\n"
                             "2 acquire L 15 150 160 ok\n"
                             "2 guard L 15 170 175 ok\n"
                             "2 release L 15 180 190 ok\n"
                             "9 final L 15,10 500 510 ok\n"),
                         CHECK_INVALID);
        /* lost acknowledged guarded write */
        ck_assert_int_eq(lck("1 acquire L 10 0 100 ok\n"
                             "1 guard L 10 110 120 ok\n"
                             "1 release L 10 130 140 ok\n"
                             "9 final L - 500 510 ok\n"),
                         CHECK_INVALID);
        /* a token no holder wrote; an acquisition without a token */
        ck_assert_int_eq(lck("1 acquire L 10 0 100 ok\n"
                             "1 release L 10 130 140 ok\n"
                             "9 final L 10 500 510 ok\n"),
                         CHECK_INVALID);
        ck_assert_int_eq(lck("1 acquire L - 0 100 ok\n"
                             "9 final L - 500 510 ok\n"),
                         CHECK_INVALID);
}
END_TEST

static Suite *chaos_check_suite(void) {
        Suite *s = suite_create("chaos-check");
        struct {
                const char *name;
                const TTest *test;
        } cases[] = {
                { "history-parse", test_parse },
                { "history-intents", test_load_intents },
                { "register-linearizable", test_register_linearizable },
                { "register-stale-read", test_register_stale_read },
                { "register-info-fail", test_register_info_and_fail },
                { "register-cas", test_register_cas },
                { "register-random-model", test_register_random_model },
                { "register-budget", test_register_budget },
                { "register-empty", test_register_empty },
                { "meta-valid", test_meta_valid },
                { "meta-stale", test_meta_stale },
                { "meta-random-model", test_meta_random_model },
                { "set-lost-writes", test_set },
                { "lock-valid", test_lock_valid },
                { "lock-overlap", test_lock_overlap },
                { "lock-untokened", test_lock_untokened },
                { "lock-tokens", test_lock_tokens },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                TCase *tc = tcase_create(cases[i].name);
                tcase_set_timeout(tc, 60);
                tcase_add_test(tc, cases[i].test);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(chaos_check_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
