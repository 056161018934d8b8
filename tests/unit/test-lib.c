#include "config.h"
/* test-lib.c — unit tests for lib/: codec, CRC32C, Buf, List, Hashmap, log.
 * Failure paths get as much attention as the happy ones: a decoder must
 * reject truncated or overlong input without reading past it. */

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/codec.h"
#include "lib/crc32c.h"
#include "lib/hashmap.h"
#include "lib/list.h"
#include "lib/log.h"

/* ---- codec ------------------------------------------------------------ */

START_TEST(test_codec_roundtrip) {
        Buf b = BUF_INIT;
        ck_assert_int_eq(put_u8(&b, 0xab), 0);
        ck_assert_int_eq(put_u16(&b, 0xbeef), 0);
        ck_assert_int_eq(put_u32(&b, 0xdeadbeef), 0);
        ck_assert_int_eq(put_u64(&b, UINT64_C(0x0123456789abcdef)), 0);
        ck_assert_int_eq(put_str(&b, "hello"), 0);
        ck_assert_int_eq(put_blob(&b, "\0\1\2", 3), 0);
        ck_assert_uint_eq(b.len, 1 + 2 + 4 + 8 + 4 + 5 + 4 + 3);
        /* explicit little-endian layout, whatever the host */
        ck_assert_uint_eq(b.data[1], 0xef);
        ck_assert_uint_eq(b.data[2], 0xbe);
        ck_assert_uint_eq(b.data[7], 0xef);

        Reader r = reader_init(b.data, b.len);
        uint8_t a; uint16_t c; uint32_t d; uint64_t e;
        char *s = NULL; const uint8_t *p; size_t n;
        ck_assert_int_eq(get_u8(&r, &a), 0);
        ck_assert_int_eq(get_u16(&r, &c), 0);
        ck_assert_int_eq(get_u32(&r, &d), 0);
        ck_assert_int_eq(get_u64(&r, &e), 0);
        ck_assert_int_eq(get_str_dup(&r, 16, &s), 0);
        ck_assert_int_eq(get_blob(&r, 16, &p, &n), 0);
        ck_assert_uint_eq(a, 0xab);
        ck_assert_uint_eq(c, 0xbeef);
        ck_assert_uint_eq(d, 0xdeadbeef);
        ck_assert(e == UINT64_C(0x0123456789abcdef));
        ck_assert_str_eq(s, "hello");
        ck_assert_uint_eq(n, 3);
        ck_assert_int_eq(memcmp(p, "\0\1\2", 3), 0);
        ck_assert_int_eq(reader_finish(&r), 0);
        free(s);
        buf_done(&b);
}
END_TEST

/* Every prefix of a valid encoding must fail cleanly and be sticky. */
START_TEST(test_codec_truncation) {
        Buf b = BUF_INIT;
        ck_assert_int_eq(put_u64(&b, 42), 0);
        ck_assert_int_eq(put_str(&b, "abcdef"), 0);
        for (size_t cut = 0; cut < b.len; cut++) {
                uint8_t *copy = malloc(cut ? cut : 1);     /* exact size: ASan catches overreads */
                memcpy(copy, b.data, cut);
                Reader r = reader_init(copy, cut);
                uint64_t v = 7;
                char *s = (char *) "untouched";
                int r1 = get_u64(&r, &v);
                int r2 = get_str_dup(&r, 64, &s);
                ck_assert(r1 < 0 || r2 < 0);
                ck_assert_int_eq(reader_error(&r), -EBADMSG);
                if (r1 < 0)
                        ck_assert(v == 0);
                ck_assert_str_eq(s, "untouched");  /* ret untouched on failure */
                uint32_t w;
                ck_assert_int_eq(get_u32(&r, &w), -EBADMSG);  /* sticky */
                ck_assert_int_eq(reader_finish(&r), -EBADMSG);
                ck_assert_uint_eq(reader_remaining(&r), 0);
                free(copy);
        }
        buf_done(&b);
}
END_TEST

START_TEST(test_codec_overlong) {
        /* A blob claiming 4 GiB in a 10-byte input. */
        uint8_t in[10] = { 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6 };
        Reader r = reader_init(in, sizeof in);
        const uint8_t *p = (const uint8_t *) "x"; size_t n = 9;
        ck_assert_int_eq(get_blob(&r, SIZE_MAX, &p, &n), -EBADMSG);
        ck_assert(p == NULL && n == 0);

        /* Over the caller's limit even though the bytes are there. */
        uint8_t in2[] = { 3, 0, 0, 0, 'a', 'b', 'c' };
        r = reader_init(in2, sizeof in2);
        ck_assert_int_eq(get_blob(&r, 2, &p, &n), -EBADMSG);

        /* A string with an embedded NUL is refused. */
        uint8_t in3[] = { 3, 0, 0, 0, 'a', 0, 'c' };
        char *s = NULL;
        r = reader_init(in3, sizeof in3);
        ck_assert_int_eq(get_str_dup(&r, 16, &s), -EBADMSG);
        ck_assert(s == NULL);

        /* Trailing bytes make an exact format invalid. */
        uint8_t in4[] = { 1, 2 };
        uint8_t v;
        r = reader_init(in4, sizeof in4);
        ck_assert_int_eq(get_u8(&r, &v), 0);
        ck_assert_int_eq(reader_finish(&r), -EBADMSG);

        /* get_bytes beyond the end */
        const uint8_t *q;
        r = reader_init(in4, sizeof in4);
        ck_assert_int_eq(get_bytes(&r, 3, &q), -EBADMSG);
        ck_assert(q == NULL);
}
END_TEST

/* ---- crc32c ----------------------------------------------------------- */

START_TEST(test_crc32c_known) {
        /* The published CRC-32C check value. */
        ck_assert_uint_eq(crc32c(0, "123456789", 9), UINT32_C(0xE3069283));
        ck_assert_uint_eq(crc32c_sw(0, "123456789", 9), UINT32_C(0xE3069283));
        ck_assert_uint_eq(crc32c(0, "", 0), 0);
        /* 32 zero bytes: RFC 3720 B.4 */
        uint8_t z[32] = { 0 };
        ck_assert_uint_eq(crc32c(0, z, 32), UINT32_C(0x8A9136AA));
}
END_TEST

START_TEST(test_crc32c_hw_matches_sw) {
        uint8_t buf[4096 + 16];
        uint64_t x = 88172645463325252ULL;
        for (size_t i = 0; i < sizeof buf; i++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                buf[i] = (uint8_t) x;
        }
        for (size_t off = 0; off < 9; off++)
                for (size_t len = 0; len < 200; len += 7)
                        ck_assert_uint_eq(crc32c(0, buf + off, len), crc32c_sw(0, buf + off, len));
        /* Incremental equals one-shot. */
        uint32_t whole = crc32c(0, buf, 4096);
        uint32_t part = crc32c(crc32c(0, buf, 1000), buf + 1000, 3096);
        ck_assert_uint_eq(whole, part);
        ck_assert_uint_eq(whole, crc32c_sw(0, buf, 4096));
}
END_TEST

/* ---- buf -------------------------------------------------------------- */

START_TEST(test_buf) {
        Buf b = BUF_INIT;
        for (int i = 0; i < 10000; i++)
                ck_assert_int_eq(buf_append(&b, &i, sizeof i), 0);
        ck_assert_uint_eq(b.len, 10000 * sizeof(int));
        ck_assert_int_eq(((int *) b.data)[9999], 9999);
        buf_clear(&b);
        ck_assert_uint_eq(b.len, 0);
        ck_assert_uint_ge(b.cap, 10000 * sizeof(int));
        ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), -ENOMEM);  /* unchanged on failure */
        ck_assert_int_eq(buf_append(&b, "xy", 2), 0);
        size_t n;
        uint8_t *p = buf_steal(&b, &n);
        ck_assert_uint_eq(n, 2);
        ck_assert(b.data == NULL && b.len == 0);
        free(p);
        ck_assert_int_eq(buf_append(&b, "", 0), 0);
        buf_done(&b);
        buf_done(&b);
}
END_TEST

/* ---- list ------------------------------------------------------------- */

typedef struct Item {
        int v;
        ListNode node;
} Item;

START_TEST(test_list) {
        List head = LIST_HEAD_INIT(head);
        Item items[5];
        ck_assert(list_empty(&head));
        ck_assert(list_first(&head) == NULL);
        for (int i = 0; i < 5; i++) {
                items[i].v = i;
                list_append(&head, &items[i].node);
        }
        ck_assert_uint_eq(list_length(&head), 5);
        Item *it, *tmp;
        int expect = 0;
        list_foreach(it, &head, node)
                ck_assert_int_eq(it->v, expect++);
        list_foreach_safe(it, tmp, &head, node)
                if (it->v % 2 == 0)
                        list_remove(&it->node);
        ck_assert_uint_eq(list_length(&head), 2);
        ck_assert(!list_node_linked(&items[0].node));
        list_remove(&items[0].node);        /* harmless twice */
        ck_assert_int_eq(list_entry(list_first(&head), Item, node)->v, 1);
        ck_assert_int_eq(list_entry(list_last(&head), Item, node)->v, 3);
        list_prepend(&head, &items[4].node);
        ck_assert_int_eq(list_entry(list_first(&head), Item, node)->v, 4);
}
END_TEST

/* ---- hashmap ---------------------------------------------------------- */

START_TEST(test_hashmap_basic) {
        Hashmap *h = hashmap_new(&string_hash_ops);
        ck_assert_ptr_nonnull(h);
        ck_assert_ptr_null(hashmap_get(h, "a"));
        ck_assert_ptr_null(hashmap_remove(h, "a"));
        ck_assert_int_eq(hashmap_put(h, "a", (void *) "1"), 0);
        ck_assert_int_eq(hashmap_put(h, "a", (void *) "2"), -EEXIST);
        ck_assert_str_eq(hashmap_get(h, "a"), "1");
        ck_assert_int_eq(hashmap_replace(h, "a", (void *) "3"), 0);
        ck_assert_str_eq(hashmap_get(h, "a"), "3");
        ck_assert(hashmap_contains(h, "a"));
        ck_assert_uint_eq(hashmap_size(h), 1);
        ck_assert_str_eq(hashmap_remove(h, "a"), "3");
        ck_assert_uint_eq(hashmap_size(h), 0);
        hashmap_clear(h);
        ck_assert_ptr_null(hashmap_free(h));
        ck_assert_ptr_null(hashmap_free(NULL));
}
END_TEST

/* Random inserts and removals against a plain array as the model; this
 * exercises backward-shift deletion across wrap-around. */
START_TEST(test_hashmap_model) {
        enum { N = 4096 };
        static uint8_t present[N];
        uint64_t seed = getenv("TEST_SEED") ? strtoull(getenv("TEST_SEED"), NULL, 0) : 12345;
        printf("test_hashmap_model: TEST_SEED=%" PRIu64 "\n", seed);
        uint64_t x = seed ? seed : 1;
        Hashmap *h = hashmap_new(&u64_hash_ops);
        size_t count = 0;
        for (int step = 0; step < 200000; step++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                uint64_t k = x % N;
                if ((x >> 20) % 3) {
                        int r = hashmap_put(h, U64_TO_PTR(k), U64_TO_PTR(k + 1));
                        ck_assert_int_eq(r, present[k] ? -EEXIST : 0);
                        if (!present[k]) { present[k] = 1; count++; }
                } else {
                        void *v = hashmap_remove(h, U64_TO_PTR(k));
                        ck_assert(v == (present[k] ? U64_TO_PTR(k + 1) : NULL));
                        if (present[k]) { present[k] = 0; count--; }
                }
                ck_assert_uint_eq(hashmap_size(h), count);
        }
        for (uint64_t k = 0; k < N; k++)
                ck_assert(hashmap_get(h, U64_TO_PTR(k)) == (present[k] ? U64_TO_PTR(k + 1) : NULL));
        HashmapIter it = HASHMAP_ITER_INIT;
        const void *key;
        void *val;
        size_t seen = 0;
        while (hashmap_iterate(h, &it, &key, &val)) {
                ck_assert(present[PTR_TO_U64(key)]);
                ck_assert(val == U64_TO_PTR(PTR_TO_U64(key) + 1));
                seen++;
        }
        ck_assert_uint_eq(seen, count);
        hashmap_free(h);
}
END_TEST

START_TEST(test_hash_stable) {
        /* Pure modules depend on the hash being the same on every node. */
        ck_assert(hash_u64(0) == 0);
        ck_assert(hash_u64(1) == UINT64_C(0x5692161d100b05e5));
        ck_assert(hash_bytes("abc", 3) == hash_bytes("abc", 3));
        ck_assert(hash_bytes("abc", 3) != hash_bytes("abd", 3));
}
END_TEST

/* ---- log -------------------------------------------------------------- */

static char last_line[256];
static int last_level = -1;
static int lines;

static void sink(int level, const char *line, void *userdata) {
        (void) userdata;
        last_level = level;
        snprintf(last_line, sizeof last_line, "%s", line);
        lines++;
}

START_TEST(test_log) {
        log_set_sink(sink, NULL);
        log_set_max_level(LOG_INFO);
        log_debug("hidden");
        ck_assert_int_eq(lines, 0);
        ck_assert_int_eq(log_error_errno(-ENOENT, "open '%s': %m", "x"), -ENOENT);
        ck_assert_int_eq(last_level, LOG_ERR);
        ck_assert_str_eq(last_line, "open 'x': No such file or directory");
        ck_assert_int_eq(log_warning_errno(EACCES, "positive errno %m"), -EACCES);
        ck_assert_int_eq(log_info("plain"), 0);
        ck_assert_int_eq(lines, 3);
        errno = 77;
        log_info("errno preserved");
        ck_assert_int_eq(errno, 77);
        ck_assert_int_eq(log_level_from_string("debug"), LOG_DEBUG);
        ck_assert_int_eq(log_level_from_string("error"), LOG_ERR);
        ck_assert_int_eq(log_level_from_string("4"), LOG_WARNING);
        ck_assert_int_eq(log_level_from_string("loud"), -EINVAL);
        ck_assert_int_eq(log_level_from_string("9"), -EINVAL);
        log_set_sink(NULL, NULL);
}
END_TEST

static Suite *lib_suite(void) {
        Suite *s = suite_create("lib");
        struct { const char *name; const TTest *fn; } cases[] = {
                { "codec-roundtrip", test_codec_roundtrip },
                { "codec-truncation", test_codec_truncation },
                { "codec-overlong", test_codec_overlong },
                { "crc32c-known", test_crc32c_known },
                { "crc32c-hw-sw", test_crc32c_hw_matches_sw },
                { "buf", test_buf },
                { "list", test_list },
                { "hashmap-basic", test_hashmap_basic },
                { "hashmap-model", test_hashmap_model },
                { "hash-stable", test_hash_stable },
                { "log", test_log },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                TCase *tc = tcase_create(cases[i].name);
                tcase_set_timeout(tc, 30);
                tcase_add_test(tc, cases[i].fn);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(lib_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
