/* tls-testing.h — hooks for tests of tls/ only. Never used by the daemon.
 *
 * The rejection tests need clients that misbehave in ways a correct
 * TlsContext refuses to: no certificate, TLS 1.2, an expired or foreign
 * certificate (which tls_context_new() rejects at load). And the protocol
 * tests need to put raw bytes on an authenticated channel. */
#pragma once

#include <stddef.h>

#include "tls/tls.h"

typedef enum TlsTestingFlags {
        TLS_TESTING_SKIP_SELF_CHECK = 1 << 0,  /* accept an own certificate that does not verify */
        TLS_TESTING_NO_CERT = 1 << 1,          /* present no certificate (cert/key ignored, may be NULL) */
        TLS_TESTING_TLS12 = 1 << 2,            /* speak TLS 1.2 only */
} TlsTestingFlags;

/* Like tls_context_new() with deliberate defects. A TlsNet made on such a
 * context skips the check that self_name is in its certificate. */
TlsContext *tls_context_new_for_testing(const char *ca_path, const char *cert_path, const char *key_path,
                                        unsigned flags, char **ret_error);

/* Appends raw bytes to the write queue of the channel up with `peer` and
 * starts writing them. 0, -ENOTCONN, -ENOMEM. */
int tls_net_send_raw_for_testing(TlsNet *net, const char *peer, const void *data, size_t len);
