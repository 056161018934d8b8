/* tls-internal.h — definitions shared by the files of tls/ only.
 *
 * Not installed, not included outside tls/ (it pulls in OpenSSL headers,
 * which only tls/ is compiled to find). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/buf.h"
#include "lib/hashmap.h"
#include "lib/list.h"
#include "lib/macro.h"
#include "tls/tls.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(SSL_CTX *, SSL_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);

/* ---- context.c ---- */

struct TlsContext {
        unsigned n_ref;
        char *ca_path;
        char *cert_path;
        char *key_path;
        SSL_CTX *ssl_ctx;     /* current material; SSL objects hold their own reference */
};

/* The SSL_CTX for a new connection (owned by ctx; SSL_new takes its own ref). */
SSL_CTX *tls_context_get_ssl_ctx(TlsContext *ctx);

/* True when `cert` names `name` in its subject CN or a DNS subjectAltName,
 * compared byte for byte (an embedded NUL never matches). */
bool tls_x509_has_name(X509 *cert, const char *name);

/* Describes and clears OpenSSL's error queue of this thread: the earliest
 * error's reason (system errors as strerror text) into buf. Returns buf. */
const char *tls_openssl_error(char *buf, size_t size);

/* Sets *ret_error (when not NULL) to a formatted message, appending
 * ": <OpenSSL reason>" when with_openssl is set (the queue is cleared).
 * Returns r for `return set_error(...)`. */
int tls_set_error(char **ret_error, int r, bool with_openssl, const char *fmt, ...) _printf_(4, 5);

/* Reads a whole (small) file; -errno / -EFBIG with *ret_error naming it. */
int tls_read_file(const char *path, size_t max_bytes, uint8_t **ret_data, size_t *ret_len, char **ret_error);

/* Secure random bytes (RAND_bytes); a failure is fatal (there is no sane way
 * to continue without randomness). */
void tls_random_bytes(void *p, size_t n);
uint64_t tls_random_u64(void);
