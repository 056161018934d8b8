#include "config.h"
/* test-tls-cert.c — certificate tooling (tls/cert.h) and TlsContext
 * loading: files and modes, refusal to overwrite, names in the
 * certificate, both key types, error messages that name the file, reload
 * that keeps the old material on failure. */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tls/cert.h"
#include "tls/tls.h"
#include "test-tls-util.h"

static mode_t file_mode(const char *path) {
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        return st.st_mode & 07777;
}

static void copy_file(const char *from, const char *to) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
        ck_assert_int_eq(system(cmd), 0);
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
}

START_TEST(test_make_ca_and_node) {
        char *err = NULL;
        pki_setup();

        ck_assert_uint_eq(file_mode(pki("ca.key")), 0600);
        ck_assert_uint_eq(file_mode(pki("ca.crt")), 0644);
        ck_assert_uint_eq(file_mode(pki("n1.key")), 0600);
        ck_assert_uint_eq(file_mode(pki("n1.crt")), 0644);

        /* Never overwrite by accident. */
        ck_assert_int_eq(tls_cert_make_ca(pki_dir, TLS_KEY_P256, false, &err), -EEXIST);
        ck_assert_ptr_nonnull(strstr(err, "ca.key"));
        free(err), err = NULL;
        ck_assert_int_eq(tls_cert_make_node(pki_dir, "n1", NULL, 0, NULL, 0, NULL, TLS_KEY_P256, false, &err), -EEXIST);
        free(err), err = NULL;

        /* Names: CN + DNS SANs; IP SANs do not count as names. */
        char *ips[] = { (char *) "10.0.0.5", (char *) "::1" };
        char *dns[] = { (char *) "db1.example.com", (char *) "n5" };
        ck_assert_int_eq(tls_cert_make_node(pki_dir, "n5", ips, 2, dns, 2, pki("out"), TLS_KEY_P256, false, &err), 0);
        ck_assert_uint_eq(file_mode(pki("out/n5.key")), 0600);
        TlsContext *ctx = tls_context_new(pki("ca.crt"), pki("out/n5.crt"), pki("out/n5.key"), &err);
        ck_assert_msg(ctx, "%s", err);
        ck_assert(tls_context_cert_has_name(ctx, "n5"));
        ck_assert(tls_context_cert_has_name(ctx, "db1.example.com"));
        ck_assert(!tls_context_cert_has_name(ctx, "n1"));
        ck_assert(!tls_context_cert_has_name(ctx, "10.0.0.5"));
        ck_assert(!tls_context_cert_has_name(ctx, "db1"));
        int64_t left = tls_context_cert_not_after(ctx) - (int64_t) time(NULL);
        ck_assert_int_gt(left, (int64_t) (TLS_CERT_NODE_DAYS - 1) * 86400);
        ck_assert_int_le(left, (int64_t) TLS_CERT_NODE_DAYS * 86400);
        tls_context_unref(ctx);

        /* Bad input. */
        char *bad_ip[] = { (char *) "10.0.0.300" };
        char *bad_dns[] = { (char *) "a,DNS:evil" };
        ck_assert_int_eq(tls_cert_make_node(pki_dir, "../n6", NULL, 0, NULL, 0, NULL, TLS_KEY_P256, false, &err), -EINVAL);
        free(err), err = NULL;
        ck_assert_int_eq(tls_cert_make_node(pki_dir, "n6", bad_ip, 1, NULL, 0, NULL, TLS_KEY_P256, false, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "10.0.0.300"));
        free(err), err = NULL;
        ck_assert_int_eq(tls_cert_make_node(pki_dir, "n6", NULL, 0, bad_dns, 1, NULL, TLS_KEY_P256, false, &err), -EINVAL);
        free(err), err = NULL;
        ck_assert_int_eq(access(pki("n6.key"), F_OK), -1);
        ck_assert_int_eq(tls_cert_make_node(pki("nonexistent"), "n6", NULL, 0, NULL, 0, pki("x"), TLS_KEY_P256, false,
                                            &err),
                         -ENOENT);
        ck_assert_ptr_nonnull(strstr(err, "nonexistent/ca.crt"));
        free(err), err = NULL;
        pki_teardown();
}
END_TEST

START_TEST(test_ed25519) {
        char *err = NULL;
        pki_setup();
        ck_assert_int_eq(tls_cert_make_ca(pki("ed"), TLS_KEY_ED25519, false, &err), 0);
        ck_assert_int_eq(tls_cert_make_node(pki("ed"), "n1", NULL, 0, NULL, 0, NULL, TLS_KEY_ED25519, false, &err), 0);
        TlsContext *ctx = tls_context_new(pki("ed/ca.crt"), pki("ed/n1.crt"), pki("ed/n1.key"), &err);
        ck_assert_msg(ctx, "%s", err);
        ck_assert(tls_context_cert_has_name(ctx, "n1"));
        tls_context_unref(ctx);
        /* Mixed: an Ed25519 node under the P-256 CA. */
        ck_assert_int_eq(tls_cert_make_node(pki_dir, "n7", NULL, 0, NULL, 0, NULL, TLS_KEY_ED25519, false, &err), 0);
        ctx = tls_context_new(pki("ca.crt"), pki("n7.crt"), pki("n7.key"), &err);
        ck_assert_msg(ctx, "%s", err);
        tls_context_unref(ctx);
        ck_assert_int_eq(tls_key_type_from_string("ed25519"), TLS_KEY_ED25519);
        ck_assert_int_eq(tls_key_type_from_string("p256"), TLS_KEY_P256);
        ck_assert_int_eq(tls_key_type_from_string("rsa"), -EINVAL);
        pki_teardown();
}
END_TEST

static void expect_context_error(const char *ca, const char *crt, const char *key, const char *needle1,
                                 const char *needle2) {
        char *err = NULL;
        TlsContext *ctx = tls_context_new(ca, crt, key, &err);
        ck_assert_ptr_null(ctx);
        ck_assert_ptr_nonnull(err);
        fprintf(stderr, "expected error: %s\n", err);
        ck_assert_msg(strstr(err, needle1), "'%s' lacks '%s'", err, needle1);
        ck_assert_msg(!needle2 || strstr(err, needle2), "'%s' lacks '%s'", err, needle2);
        free(err);
}

START_TEST(test_context_errors) {
        pki_setup();
        expect_context_error(pki("missing.crt"), pki("n1.crt"), pki("n1.key"), "missing.crt", "No such file");
        expect_context_error(pki("ca.crt"), pki("missing.crt"), pki("n1.key"), "missing.crt", "No such file");
        expect_context_error(pki("ca.crt"), pki("n1.crt"), pki("missing.key"), "missing.key", "No such file");
        expect_context_error(pki("ca.crt"), pki("n1.crt"), pki("n2.key"), "n2.key", "does not match");
        expect_context_error(pki("ca.crt"), pki("other/n2.crt"), pki("other/n2.key"), "other/n2.crt", "does not verify");
        expect_context_error(pki("ca.crt"), pki("n2-expired.crt"), pki("n2-expired.key"), "n2-expired.crt", "expired");
        expect_context_error(pki("n1.crt"), pki("n1.crt"), pki("n1.key"), "n1.crt", "not a CA");
        write_text(pki("garbage.pem"), "hello\n");
        expect_context_error(pki("ca.crt"), pki("garbage.pem"), pki("n1.key"), "garbage.pem", NULL);
        expect_context_error(pki("garbage.pem"), pki("n1.crt"), pki("n1.key"), "garbage.pem", NULL);
        pki_teardown();
}
END_TEST

START_TEST(test_reload) {
        char *err = NULL;
        pki_setup();
        copy_file(pki("n1.crt"), pki("live.crt"));
        copy_file(pki("n1.key"), pki("live.key"));
        TlsContext *ctx = tls_context_new(pki("ca.crt"), pki("live.crt"), pki("live.key"), &err);
        ck_assert_msg(ctx, "%s", err);
        ck_assert(tls_context_cert_has_name(ctx, "n1"));

        /* A broken file: reload fails, names it, keeps the old identity. */
        write_text(pki("live.crt"), "not a certificate\n");
        ck_assert_int_lt(tls_context_reload(ctx, &err), 0);
        ck_assert_ptr_nonnull(strstr(err, "live.crt"));
        free(err), err = NULL;
        ck_assert(tls_context_cert_has_name(ctx, "n1"));

        /* New material: picked up. */
        copy_file(pki("n3.crt"), pki("live.crt"));
        copy_file(pki("n3.key"), pki("live.key"));
        ck_assert_int_eq(tls_context_reload(ctx, &err), 0);
        ck_assert(tls_context_cert_has_name(ctx, "n3"));
        ck_assert(!tls_context_cert_has_name(ctx, "n1"));
        tls_context_unref(ctx);
        pki_teardown();
}
END_TEST

static Suite *cert_suite(void) {
        Suite *s = suite_create("tls-cert");
        TCase *tc;

        tc = tcase_create("make_ca_and_node");
        tcase_add_test(tc, test_make_ca_and_node);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        tc = tcase_create("ed25519");
        tcase_add_test(tc, test_ed25519);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        tc = tcase_create("context_errors");
        tcase_add_test(tc, test_context_errors);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        tc = tcase_create("reload");
        tcase_add_test(tc, test_reload);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(cert_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
