#include "config.h"
/* test-raft-codec.c — the raft wire format and configuration encoding:
 * round trips of every message type, and rejection of malformed input
 * (every truncation, bad header fields, forged counts, trailing bytes). */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "raft/msg.h"
#include "raft/raft.h"

static const RaftMsgLimits lim = { 64, 1 << 16 };

static RaftEntry ents[3] = {
        { .term = 2, .type = RAFT_ENTRY_NORMAL, .len = 3, .data = (uint8_t *) "abc" },
        { .term = 2, .type = RAFT_ENTRY_NOOP },
        { .term = 3, .type = RAFT_ENTRY_CONF, .len = 1, .data = (uint8_t *) "c" },
};
static const uint8_t *blobs[2] = { (const uint8_t *) "p1", (const uint8_t *) "p22" };
static uint32_t blob_lens[2] = { 2, 3 };
static uint64_t ctxs[3] = { 7, 8, 9 };

/* One message of every type, with every field of its type set. */
static size_t sample_messages(RaftMsg *out) {
        RaftMsg base = { .from = 1, .to = 2, .term = 3 };
        size_t n = 0;
        RaftMsg m;

        m = base, m.type = RAFT_MSG_APPEND, m.prev_index = 10, m.prev_term = 2, m.commit = 9,
        m.entries = ents, m.n_entries = 3, out[n++] = m;
        m = base, m.type = RAFT_MSG_APPEND, m.prev_index = 10, m.prev_term = 2, out[n++] = m;
        m = base, m.type = RAFT_MSG_APPEND_RESP, m.flags = RAFT_MSG_F_REJECT, m.index = 5,
        m.last_index = 6, m.hint_index = 4, m.hint_term = 1, out[n++] = m;
        m = base, m.type = RAFT_MSG_HEARTBEAT, m.commit = 5, m.seq = 77, m.index = 12, out[n++] = m;
        m = base, m.type = RAFT_MSG_HEARTBEAT_RESP, m.seq = 77, m.last_index = 12, m.index = 11,
        out[n++] = m;
        m = base, m.type = RAFT_MSG_VOTE, m.flags = RAFT_MSG_F_PRE | RAFT_MSG_F_TRANSFER,
        m.last_index = 20, m.last_term = 3, out[n++] = m;
        m = base, m.type = RAFT_MSG_VOTE_RESP, m.flags = RAFT_MSG_F_PRE, out[n++] = m;
        m = base, m.type = RAFT_MSG_SNAPSHOT, m.flags = RAFT_MSG_F_DONE, m.index = 40, m.snap_term = 3,
        m.conf = (const uint8_t *) "conf", m.conf_len = 4, m.total = 10, m.offset = 6,
        m.data = (const uint8_t *) "data", m.data_len = 4, out[n++] = m;
        m = base, m.type = RAFT_MSG_SNAPSHOT_RESP, m.flags = RAFT_MSG_F_DONE, m.index = 40,
        m.snap_term = 3, m.offset = 10, out[n++] = m;
        m = base, m.type = RAFT_MSG_TIMEOUT_NOW, out[n++] = m;
        m = base, m.type = RAFT_MSG_PROPOSE, m.blobs = blobs, m.blob_lens = blob_lens, m.n_blobs = 2,
        out[n++] = m;
        m = base, m.type = RAFT_MSG_READ_INDEX, m.ctx = ctxs, m.n_ctx = 3, out[n++] = m;
        m = base, m.type = RAFT_MSG_READ_INDEX_RESP, m.index = 30, m.ctx = ctxs, m.n_ctx = 2,
        out[n++] = m;
        m = base, m.type = RAFT_MSG_CONF_CHANGE, m.change = RAFT_CONF_ADD_VOTER, m.change_id = 4;
        strcpy(m.name, "n4");
        strcpy(m.address, "10.0.0.4:7001");
        out[n++] = m;
        return n;
}

START_TEST(test_roundtrip) {
        RaftMsg ms[20];
        size_t n = sample_messages(ms);
        ck_assert_uint_eq(n, 14);
        for (size_t i = 0; i < n; i++) {
                Buf b = BUF_INIT, b2 = BUF_INIT;
                RaftMsg d;
                ck_assert_int_eq(raft_msg_encode(&ms[i], &b), 0);
                ck_assert_int_eq(raft_msg_decode(b.data, b.len, &lim, &d), 0);
                ck_assert_int_eq(d.type, ms[i].type);
                ck_assert_uint_eq(d.from, 1);
                ck_assert_uint_eq(d.to, 2);
                ck_assert_uint_eq(d.term, 3);
                /* Decoding then encoding again gives the same bytes. */
                ck_assert_int_eq(raft_msg_encode(&d, &b2), 0);
                ck_assert_uint_eq(b.len, b2.len);
                ck_assert_int_eq(memcmp(b.data, b2.data, b.len), 0);
                if (d.type == RAFT_MSG_APPEND && d.n_entries == 3) {
                        ck_assert_uint_eq(d.entries[0].index, 11);
                        ck_assert_uint_eq(d.entries[2].index, 13);
                        ck_assert_int_eq(memcmp(d.entries[0].data, "abc", 3), 0);
                        ck_assert_uint_eq(d.entries[2].term, 3);
                }
                if (d.type == RAFT_MSG_CONF_CHANGE)
                        ck_assert_str_eq(d.address, "10.0.0.4:7001");
                uint64_t from, to, term;
                ck_assert_int_eq(raft_message_peek(b.data, b.len, &from, &to, &term), 0);
                ck_assert_uint_eq(from + to + term, 6);
                raft_msg_done(&d);
                buf_done(&b);
                buf_done(&b2);
        }
}
END_TEST

START_TEST(test_truncations_and_garbage) {
        RaftMsg ms[20];
        size_t n = sample_messages(ms);
        for (size_t i = 0; i < n; i++) {
                Buf b = BUF_INIT;
                RaftMsg d;
                ck_assert_int_eq(raft_msg_encode(&ms[i], &b), 0);
                /* Every strict prefix is refused (the length field lies). */
                for (size_t len = 0; len < b.len; len++)
                        ck_assert_int_eq(raft_msg_decode(b.data, len, &lim, &d), -EBADMSG);
                /* A trailing byte is refused, even with a matching length. */
                ck_assert_int_eq(buf_append(&b, "", 1), 0);
                ck_assert_int_eq(raft_msg_decode(b.data, b.len, &lim, &d), -EBADMSG);
                le32_store(b.data + 28, (uint32_t) (b.len - RAFT_MSG_HEADER_SIZE));
                ck_assert_int_eq(raft_msg_decode(b.data, b.len, &lim, &d), -EBADMSG);
                buf_done(&b);
        }
}
END_TEST

static int decode_mutated(const RaftMsg *m, size_t off, uint8_t val) {
        Buf b = BUF_INIT;
        RaftMsg d;
        ck_assert_int_eq(raft_msg_encode(m, &b), 0);
        b.data[off] = val;
        int r = raft_msg_decode(b.data, b.len, &lim, &d);
        raft_msg_done(&d);
        buf_done(&b);
        return r;
}

START_TEST(test_header_checks) {
        RaftMsg ms[20];
        sample_messages(ms);
        const RaftMsg *hb = &ms[3];
        ck_assert_int_eq(decode_mutated(hb, 0, 'X'), -EBADMSG);                 /* magic */
        ck_assert_int_eq(decode_mutated(hb, 1, 2), -EPROTONOSUPPORT);           /* version */
        ck_assert_int_eq(decode_mutated(hb, 2, 0), -EBADMSG);                   /* type */
        ck_assert_int_eq(decode_mutated(hb, 2, 200), -EBADMSG);
        ck_assert_int_eq(decode_mutated(hb, 3, RAFT_MSG_F_PRE), -EBADMSG);      /* flag not for its type */
        ck_assert_int_eq(decode_mutated(hb, 4, 0), -EBADMSG);                   /* from = 0 */
        ck_assert_int_eq(decode_mutated(hb, 12, 0), -EBADMSG);                  /* to = 0 */
        ck_assert_int_eq(decode_mutated(&ms[5], 3, RAFT_MSG_F_REJECT), -EBADMSG);
        ck_assert_int_eq(raft_message_peek("RX", 2, NULL, NULL, NULL), -EBADMSG);
}
END_TEST

START_TEST(test_limits) {
        RaftMsg ms[20];
        sample_messages(ms);
        RaftMsgLimits small = { 2, 2 };
        Buf b = BUF_INIT;
        RaftMsg d;
        /* Too many entries, too large an entry. */
        ck_assert_int_eq(raft_msg_encode(&ms[0], &b), 0);
        ck_assert_int_eq(raft_msg_decode(b.data, b.len, &small, &d), -EBADMSG);
        buf_clear(&b);
        /* A forged count larger than the input cannot allocate. */
        ck_assert_int_eq(raft_msg_encode(&ms[11], &b), 0);
        le32_store(b.data + RAFT_MSG_HEADER_SIZE, 1000);
        ck_assert_int_eq(raft_msg_decode(b.data, b.len, &lim, &d), -EBADMSG);
        buf_clear(&b);
        /* Entry terms must not decrease nor exceed the sender's term. */
        RaftMsg bad = ms[0];
        RaftEntry e2[2] = { { .term = 3, .type = 1 }, { .term = 2, .type = 1 } };
        bad.entries = e2;
        bad.n_entries = 2;
        ck_assert_int_eq(raft_msg_encode(&bad, &b), 0);
        ck_assert_int_eq(raft_msg_decode(b.data, b.len, &lim, &d), -EBADMSG);
        buf_clear(&b);
        e2[0].term = e2[1].term = 9;
        ck_assert_int_eq(raft_msg_encode(&bad, &b), 0);
        ck_assert_int_eq(raft_msg_decode(b.data, b.len, &lim, &d), -EBADMSG);
        buf_clear(&b);
        /* Bad entry type. */
        e2[0].term = e2[1].term = 2;
        e2[1].type = 9;
        ck_assert_int_eq(raft_msg_encode(&bad, &b), 0);
        ck_assert_int_eq(raft_msg_decode(b.data, b.len, &lim, &d), -EBADMSG);
        buf_clear(&b);
        /* Snapshot piece beyond the announced total. */
        RaftMsg s = ms[7];
        s.offset = 8;
        ck_assert_int_eq(raft_msg_encode(&s, &b), 0);
        ck_assert_int_eq(raft_msg_decode(b.data, b.len, &lim, &d), -EBADMSG);
        buf_done(&b);
}
END_TEST

START_TEST(test_config) {
        RaftConfig c = RAFT_CONFIG_INIT, d = RAFT_CONFIG_INIT;
        ck_assert_int_eq(raft_config_add(&c, 1, "n1", "127.0.0.1:7001", RAFT_VOTER), 0);
        ck_assert_int_eq(raft_config_add(&c, 2, "n2", "127.0.0.1:7002", RAFT_LEARNER), 0);
        ck_assert_int_eq(raft_config_add(&c, 2, "n9", "x", RAFT_VOTER), -EEXIST);
        ck_assert_int_eq(raft_config_add(&c, 3, "n1", "x", RAFT_VOTER), -EEXIST);
        ck_assert_int_eq(raft_config_add(&c, 0, "n0", "x", RAFT_VOTER), -EINVAL);
        ck_assert_int_eq(raft_config_add(&c, 4, "", "x", RAFT_VOTER), -EINVAL);
        char longname[80];
        memset(longname, 'a', sizeof(longname));
        longname[64] = 0;
        ck_assert_int_eq(raft_config_add(&c, 4, longname, "x", RAFT_VOTER), -EINVAL);
        longname[63] = 0;
        ck_assert_int_eq(raft_config_add(&c, 4, longname, "x", RAFT_LEARNER), 0);
        ck_assert_uint_eq(raft_config_voters(&c), 1);

        Buf b = BUF_INIT;
        ck_assert_int_eq(raft_config_encode(&c, &b), 0);
        ck_assert_int_eq(raft_config_decode(b.data, b.len, &d), 0);
        ck_assert_uint_eq(d.n, 3);
        ck_assert_str_eq(raft_config_find(&d, 2)->address, "127.0.0.1:7002");
        ck_assert_int_eq(raft_config_find(&d, 4)->role, RAFT_LEARNER);
        raft_config_done(&d);
        for (size_t len = 0; len < b.len; len++)
                ck_assert_int_eq(raft_config_decode(b.data, len, &d), -EBADMSG);
        /* Duplicate ids are refused on decode too. */
        Buf dup = BUF_INIT;
        RaftConfig one = RAFT_CONFIG_INIT;
        ck_assert_int_eq(raft_config_add(&one, 5, "a", "x", RAFT_VOTER), 0);
        ck_assert_int_eq(raft_config_encode(&one, &dup), 0);
        size_t body = dup.len - 5;
        ck_assert_int_eq(buf_append(&dup, dup.data + 5, body), 0);
        le32_store(dup.data + 1, 2);
        ck_assert_int_eq(raft_config_decode(dup.data, dup.len, &d), -EBADMSG);
        buf_done(&dup);
        raft_config_done(&one);

        ck_assert_int_eq(raft_config_remove(&c, 2), 0);
        ck_assert_int_eq(raft_config_remove(&c, 2), -ENOENT);
        RaftConfig copy;
        ck_assert_int_eq(raft_config_copy(&c, &copy), 0);
        ck_assert_uint_eq(copy.n, 2);
        raft_config_done(&copy);

        /* Bootstrap: entry 1 of term 1 carrying the configuration. */
        RaftEntry e;
        RaftHardState hs;
        ck_assert_int_eq(raft_bootstrap(&c, &e, &hs), 0);
        ck_assert_uint_eq(e.index, 1);
        ck_assert_uint_eq(e.term, 1);
        ck_assert_uint_eq(e.type, RAFT_ENTRY_CONF);
        ck_assert_uint_eq(hs.term, 1);
        ck_assert_int_eq(raft_config_decode(e.data, e.len, &d), 0);
        ck_assert_uint_eq(d.n, 2);
        raft_config_done(&d);
        raft_entry_done(&e);
        RaftConfig learners = RAFT_CONFIG_INIT;
        ck_assert_int_eq(raft_config_add(&learners, 1, "l", "x", RAFT_LEARNER), 0);
        ck_assert_int_eq(raft_bootstrap(&learners, &e, &hs), -EINVAL);
        raft_config_done(&learners);
        buf_done(&b);
        raft_config_done(&c);
}
END_TEST

static Suite *codec_suite(void) {
        Suite *s = suite_create("raft-codec");
        TCase *tc;
        tc = tcase_create("roundtrip");
        tcase_add_test(tc, test_roundtrip);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        tc = tcase_create("malformed");
        tcase_add_test(tc, test_truncations_and_garbage);
        tcase_add_test(tc, test_header_checks);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        tc = tcase_create("limits");
        tcase_add_test(tc, test_limits);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        tc = tcase_create("config");
        tcase_add_test(tc, test_config);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        return s;
}

/* RAFT_CORPUS_DIR=dir: writes one valid encoding of every message type and
 * a configuration there (the seed corpus of tests/fuzz/fuzz-raft-msg). */
static void dump_corpus(const char *dir) {
        RaftMsg ms[20];
        size_t n = sample_messages(ms);
        char path[4096];
        for (size_t i = 0; i <= n; i++) {
                Buf b = BUF_INIT;
                if (i < n)
                        (void) raft_msg_encode(&ms[i], &b);
                else {
                        RaftConfig c = RAFT_CONFIG_INIT;
                        (void) raft_config_add(&c, 1, "n1", "127.0.0.1:7001", RAFT_VOTER);
                        (void) raft_config_add(&c, 2, "n2", "127.0.0.1:7002", RAFT_LEARNER);
                        (void) raft_config_encode(&c, &b);
                        raft_config_done(&c);
                }
                snprintf(path, sizeof(path), "%s/%02zu-%s", dir, i,
                         i < n ? raft_msg_type_to_string(ms[i].type) : "config");
                FILE *f = fopen(path, "wb");
                if (f) {
                        (void) fwrite(b.data, 1, b.len, f);
                        (void) fclose(f);
                }
                buf_done(&b);
        }
}

int main(void) {
        if (getenv("RAFT_CORPUS_DIR")) {
                dump_corpus(getenv("RAFT_CORPUS_DIR"));
                return EXIT_SUCCESS;
        }
        SRunner *sr = srunner_create(codec_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
