/* test-tls-util.h — shared fixtures for the tls/ tests: a temporary
 * directory with a cluster CA, node certificates, and deliberately bad
 * certificates (expired, from a foreign CA), all made through tls/cert.h. */
#pragma once

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tls/cert.h"

static char pki_dir[256];

static inline const char *pki(const char *file) {
        static char buf[8][384];
        static unsigned i;
        char *b = buf[i++ % 8];
        snprintf(b, sizeof buf[0], "%s/%s", pki_dir, file);
        return b;
}

static inline void pki_issue(const char *cn, const char *crt, const char *key, const char *ca_crt, const char *ca_key,
                             int64_t not_before, int64_t not_after, bool is_ca) {
        char *dns[] = { (char *) cn };
        char *err = NULL;
        TlsCertSpec spec = {
                .cert_path = crt,
                .key_path = key,
                .common_name = cn,
                .is_ca = is_ca,
                .issuer_cert_path = ca_crt,
                .issuer_key_path = ca_key,
                .not_before = not_before,
                .not_after = not_after,
                .dns = is_ca ? NULL : dns,
                .n_dns = is_ca ? 0 : 1,
        };
        int r = tls_cert_issue(&spec, &err);
        ck_assert_msg(r == 0, "issue %s: %s", cn, err ? err : "?");
}

/* CA + n1..n4 + n9 in pki_dir; n2-expired.crt (expired yesterday), a
 * foreign CA in pki_dir/other and other/n2.crt signed by it. */
static inline void pki_setup(void) {
        char *err = NULL;
        char *ips[] = { (char *) "127.0.0.1" };

        snprintf(pki_dir, sizeof pki_dir, "/tmp/test-tls-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(pki_dir));
        ck_assert_msg(tls_cert_make_ca(pki_dir, TLS_KEY_P256, false, &err) == 0, "%s", err);
        const char *names[] = { "n1", "n2", "n3", "n4", "n9" };
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                ck_assert_msg(tls_cert_make_node(pki_dir, names[i], ips, 1, NULL, 0, NULL, TLS_KEY_P256, false, &err) == 0,
                              "%s", err);

        int64_t now = (int64_t) time(NULL);
        pki_issue("n2", pki("n2-expired.crt"), pki("n2-expired.key"), pki("ca.crt"), pki("ca.key"), now - 10 * 86400,
                  now - 86400, false);
        ck_assert_msg(tls_cert_make_ca(pki("other"), TLS_KEY_P256, false, &err) == 0, "%s", err);
        ck_assert_msg(tls_cert_make_node(pki("other"), "n2", ips, 1, NULL, 0, NULL, TLS_KEY_P256, false, &err) == 0,
                      "%s", err);
}

static inline void pki_teardown(void) {
        char cmd[400];
        if (!pki_dir[0])
                return;
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", pki_dir);
        (void) !system(cmd);
        pki_dir[0] = 0;
}
