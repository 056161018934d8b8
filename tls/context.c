#include "config.h"
/* context.c — TlsContext: the node's TLS identity, plus small helpers.
 *
 * A TlsContext owns an SSL_CTX built from three files: the cluster CA bundle
 * (the only trust anchor: the X509_STORE holds nothing else, no system
 * roots), the node's certificate chain and its key. Policy, identical for
 * both directions because every node is both client and server: TLS 1.3
 * only; peer certificate required (SSL_VERIFY_PEER|FAIL_IF_NO_PEER_CERT);
 * no session tickets or session cache (connections are long-lived, and
 * resumption would skip the certificate check we rely on for identity).
 *
 * Reload builds a complete new SSL_CTX and swaps it in only when everything
 * loaded and checked; SSL objects keep a reference to the SSL_CTX they were
 * made from, so established channels are unaffected.
 *
 * Files are read by our own code (tls_read_file) rather than OpenSSL's file
 * BIOs so that "No such file or directory" names the file exactly. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tls/tls-internal.h"
#include "tls/tls-testing.h"

#define PEM_FILE_MAX_BYTES (1024 * 1024)

/* ---- small helpers ---- */

const char *tls_openssl_error(char *buf, size_t size) {
        unsigned long e, first = 0;

        while ((e = ERR_get_error()) != 0)
                if (first == 0)
                        first = e;
        if (first == 0)
                snprintf(buf, size, "unknown error");
        else if (ERR_SYSTEM_ERROR(first))
                snprintf(buf, size, "%s", strerror(ERR_GET_REASON(first)));
        else {
                const char *reason = ERR_reason_error_string(first);
                if (reason)
                        snprintf(buf, size, "%s", reason);
                else
                        ERR_error_string_n(first, buf, size);
        }
        return buf;
}

int tls_set_error(char **ret_error, int r, bool with_openssl, const char *fmt, ...) {
        char msg[512], ossl[256];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (with_openssl)
                (void) tls_openssl_error(ossl, sizeof ossl);
        if (ret_error) {
                char *s;
                if (asprintf(&s, "%s%s%s", msg, with_openssl ? ": " : "", with_openssl ? ossl : "") < 0)
                        s = NULL;
                free(*ret_error);
                *ret_error = s;
        }
        return r;
}

int tls_read_file(const char *path, size_t max_bytes, uint8_t **ret_data, size_t *ret_len, char **ret_error) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return tls_set_error(ret_error, -errno, false, "Failed to open '%s': %s", path, strerror(errno));

        Buf b = BUF_INIT;
        for (;;) {
                if (buf_reserve(&b, 4096) < 0) {
                        buf_done(&b);
                        return tls_set_error(ret_error, -ENOMEM, false, "Failed to read '%s': out of memory", path);
                }
                ssize_t n = read(fd, b.data + b.len, b.cap - b.len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        buf_done(&b);
                        return tls_set_error(ret_error, r, false, "Failed to read '%s': %s", path, strerror(-r));
                }
                if (n == 0)
                        break;
                b.len += (size_t) n;
                if (b.len > max_bytes) {
                        buf_done(&b);
                        return tls_set_error(ret_error, -EFBIG, false, "Failed to read '%s': file too large", path);
                }
        }
        *ret_len = b.len;
        *ret_data = buf_steal(&b, NULL);
        if (!*ret_data) {
                /* Empty file: hand out a valid empty allocation. */
                *ret_data = malloc(1);
                if (!*ret_data)
                        return -ENOMEM;
        }
        return 0;
}

void tls_random_bytes(void *p, size_t n) {
        if (RAND_bytes(p, (int) n) != 1)
                abort();
}

uint64_t tls_random_u64(void) {
        uint64_t v;
        tls_random_bytes(&v, sizeof v);
        return v;
}

bool tls_name_is_valid(const char *name) {
        if (!name)
                return false;
        size_t n = strlen(name);
        if (n == 0 || n > TLS_NAME_MAX || name[0] == '.' || name[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static bool asn1_string_equals(const ASN1_STRING *s, const char *name) {
        size_t n = strlen(name);
        return s && (size_t) ASN1_STRING_length(s) == n && memcmp(ASN1_STRING_get0_data(s), name, n) == 0;
}

bool tls_x509_has_name(X509 *cert, const char *name) {
        if (!cert || !name || !*name)
                return false;

        X509_NAME *subject = X509_get_subject_name(cert);
        for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
                X509_NAME_ENTRY *e = X509_NAME_get_entry(subject, i);
                if (asn1_string_equals(X509_NAME_ENTRY_get_data(e), name))
                        return true;
        }

        GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        bool found = false;
        for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && !found; i++) {
                const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
                if (g->type == GEN_DNS && asn1_string_equals(g->d.dNSName, name))
                        found = true;
        }
        GENERAL_NAMES_free(sans);
        return found;
}

/* ---- loading ---- */

static BIO *bio_from_file(const char *path, char **ret_error, int *ret_r) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;

        *ret_r = tls_read_file(path, PEM_FILE_MAX_BYTES, &data, &len, ret_error);
        if (*ret_r < 0)
                return NULL;
        /* A memory BIO over our copy: BIO_new_mem_buf would not own it. */
        BIO *b = BIO_new(BIO_s_mem());
        if (!b || BIO_write(b, data, (int) len) != (int) len) {
                BIO_free(b);
                *ret_r = tls_set_error(ret_error, -ENOMEM, true, "Failed to buffer '%s'", path);
                return NULL;
        }
        return b;
}

/* Reads every certificate in a PEM file: the first to *ret_first, the
 * others (chain certificates, further CAs) appended to `extras`. */
static int load_certs(const char *path, const char *what, X509 **ret_first, STACK_OF(X509) *extras,
                      char **ret_error) {
        int r;
        _cleanup_(BIO_freep) BIO *b = bio_from_file(path, ret_error, &r);
        if (!b)
                return r;

        _cleanup_(X509_freep) X509 *first = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (!first)
                return tls_set_error(ret_error, -EINVAL, true, "Failed to load %s '%s'", what, path);
        for (;;) {
                X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
                if (!x) {
                        ERR_clear_error();   /* end of file */
                        break;
                }
                if (sk_X509_push(extras, x) <= 0) {
                        X509_free(x);
                        return tls_set_error(ret_error, -ENOMEM, true, "Failed to load %s '%s'", what, path);
                }
        }
        *ret_first = TAKE_PTR(first);
        return 0;
}

static void x509_stack_freep(STACK_OF(X509) **s) {
        sk_X509_pop_free(*s, X509_free);
}

static int load_ca(SSL_CTX *ssl_ctx, const char *ca_path, char **ret_error) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
        _cleanup_(x509_stack_freep) STACK_OF(X509) *all = sk_X509_new_null();
        X509 *first = NULL;
        int r;

        if (!store || !all)
                return tls_set_error(ret_error, -ENOMEM, true, "Failed to allocate certificate store");
        r = load_certs(ca_path, "CA certificate", &first, all, ret_error);
        if (r < 0)
                return r;
        if (sk_X509_unshift(all, first) <= 0) {
                X509_free(first);
                return tls_set_error(ret_error, -ENOMEM, true, "Failed to load CA certificate '%s'", ca_path);
        }
        for (int i = 0; i < sk_X509_num(all); i++) {
                X509 *x = sk_X509_value(all, i);
                if (X509_check_ca(x) == 0)
                        return tls_set_error(ret_error, -EINVAL, false,
                                             "CA file '%s' holds a certificate that is not a CA", ca_path);
                if (X509_STORE_add_cert(store, x) != 1)
                        return tls_set_error(ret_error, -EINVAL, true, "Failed to load CA certificate '%s'", ca_path);
                /* Advertise the CA names to clients (which certificate to send). */
                if (SSL_CTX_add_client_CA(ssl_ctx, x) != 1)
                        return tls_set_error(ret_error, -ENOMEM, true, "Failed to use CA certificate '%s'", ca_path);
        }
        SSL_CTX_set_cert_store(ssl_ctx, TAKE_PTR(store));   /* takes ownership */
        return 0;
}

static int load_identity(SSL_CTX *ssl_ctx, const char *cert_path, const char *key_path, char **ret_error) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *chain = sk_X509_new_null();
        _cleanup_(X509_freep) X509 *cert = NULL;
        int r;

        if (!chain)
                return tls_set_error(ret_error, -ENOMEM, true, "Failed to allocate");
        r = load_certs(cert_path, "certificate", &cert, chain, ret_error);
        if (r < 0)
                return r;
        /* The chain belongs to the leaf, so it is added after the leaf. */
        if (SSL_CTX_use_certificate(ssl_ctx, cert) != 1)
                return tls_set_error(ret_error, -EINVAL, true, "Failed to use certificate '%s'", cert_path);
        for (int i = 0; i < sk_X509_num(chain); i++)
                if (SSL_CTX_add1_chain_cert(ssl_ctx, sk_X509_value(chain, i)) != 1)
                        return tls_set_error(ret_error, -EINVAL, true, "Failed to use certificate chain '%s'", cert_path);

        _cleanup_(BIO_freep) BIO *b = bio_from_file(key_path, ret_error, &r);
        if (!b)
                return r;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        if (!key)
                return tls_set_error(ret_error, -EINVAL, true, "Failed to load private key '%s'", key_path);
        if (SSL_CTX_use_PrivateKey(ssl_ctx, key) != 1 || SSL_CTX_check_private_key(ssl_ctx) != 1)
                return tls_set_error(ret_error, -EINVAL, true, "Private key '%s' does not match certificate '%s'",
                                     key_path, cert_path);
        return 0;
}

/* Our own certificate must verify against the CA now: otherwise every peer
 * would refuse us, and the reason is best reported at start. */
static int check_own_cert(SSL_CTX *ssl_ctx, const char *cert_path, const char *ca_path, char **ret_error) {
        X509 *cert = SSL_CTX_get0_certificate(ssl_ctx);
        STACK_OF(X509) *chain = NULL;
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *sctx = X509_STORE_CTX_new();

        if (!sctx)
                return tls_set_error(ret_error, -ENOMEM, true, "Failed to allocate");
        (void) SSL_CTX_get0_chain_certs(ssl_ctx, &chain);
        if (X509_STORE_CTX_init(sctx, SSL_CTX_get_cert_store(ssl_ctx), cert, chain) != 1)
                return tls_set_error(ret_error, -ENOMEM, true, "Failed to check certificate '%s'", cert_path);
        if (X509_verify_cert(sctx) != 1) {
                int e = X509_STORE_CTX_get_error(sctx);
                ERR_clear_error();
                return tls_set_error(ret_error, -EINVAL, false, "Certificate '%s' does not verify against CA '%s': %s",
                                     cert_path, ca_path, X509_verify_cert_error_string(e));
        }
        return 0;
}

static int build_ssl_ctx(const char *ca_path, const char *cert_path, const char *key_path, unsigned testing,
                         SSL_CTX **ret, char **ret_error) {
        int version = (testing & TLS_TESTING_TLS12) ? TLS1_2_VERSION : TLS1_3_VERSION;
        _cleanup_(SSL_CTX_freep) SSL_CTX *c = SSL_CTX_new(TLS_method());
        int r;

        if (!c)
                return tls_set_error(ret_error, -ENOMEM, true, "Failed to create TLS context");
        if (SSL_CTX_set_min_proto_version(c, version) != 1 || SSL_CTX_set_max_proto_version(c, version) != 1)
                return tls_set_error(ret_error, -EPROTO, true, "Failed to restrict TLS context to TLS 1.3");
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_verify_depth(c, 4);
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
        (void) SSL_CTX_set_num_tickets(c, 0);
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
        /* Partial writes let a big frame go out as the socket drains; the
         * buffer moves as the write queue compacts between retries. */
        SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        /* Read ahead into a buffer of several records: one recv() brings in
         * many records instead of two recv() calls per record. channel.c
         * drains what OpenSSL buffered (SSL_has_pending). */
        SSL_CTX_set_read_ahead(c, 1);
        SSL_CTX_set_default_read_buffer_len(c, 128 * 1024);
        /* AES-128-GCM first: as strong as needed here, and the fastest with
         * AES-NI (AES-256 is OpenSSL's default first choice). */
        if (SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1)
                return tls_set_error(ret_error, -EPROTO, true, "Failed to set TLS 1.3 cipher suites");

        r = load_ca(c, ca_path, ret_error);
        if (r < 0)
                return r;
        if (!(testing & TLS_TESTING_NO_CERT)) {
                r = load_identity(c, cert_path, key_path, ret_error);
                if (r < 0)
                        return r;
        }
        if (!(testing & (TLS_TESTING_NO_CERT | TLS_TESTING_SKIP_SELF_CHECK))) {
                r = check_own_cert(c, cert_path, ca_path, ret_error);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- TlsContext ---- */

static TlsContext *context_new(const char *ca_path, const char *cert_path, const char *key_path, unsigned testing,
                               char **ret_error) {
        TlsContext *ctx = calloc(1, sizeof *ctx);
        if (!ctx) {
                (void) tls_set_error(ret_error, -ENOMEM, false, "Out of memory");
                return NULL;
        }
        ctx->n_ref = 1;
        ctx->testing = testing;
        ctx->ca_path = strdup(ca_path);
        ctx->cert_path = strdup(cert_path ? cert_path : "");
        ctx->key_path = strdup(key_path ? key_path : "");
        if (!ctx->ca_path || !ctx->cert_path || !ctx->key_path) {
                (void) tls_set_error(ret_error, -ENOMEM, false, "Out of memory");
                return tls_context_unref(ctx);
        }
        if (build_ssl_ctx(ca_path, cert_path, key_path, testing, &ctx->ssl_ctx, ret_error) < 0)
                return tls_context_unref(ctx);
        return ctx;
}

TlsContext *tls_context_new(const char *ca_path, const char *cert_path, const char *key_path, char **ret_error) {
        assert(ca_path && cert_path && key_path);
        return context_new(ca_path, cert_path, key_path, 0, ret_error);
}

TlsContext *tls_context_new_for_testing(const char *ca_path, const char *cert_path, const char *key_path,
                                        unsigned flags, char **ret_error) {
        assert(ca_path);
        assert((cert_path && key_path) || (flags & TLS_TESTING_NO_CERT));
        return context_new(ca_path, cert_path, key_path, flags, ret_error);
}

TlsContext *tls_context_ref(TlsContext *ctx) {
        assert(ctx && ctx->n_ref > 0);
        ctx->n_ref++;
        return ctx;
}

TlsContext *tls_context_unref(TlsContext *ctx) {
        if (!ctx)
                return NULL;
        assert(ctx->n_ref > 0);
        if (--ctx->n_ref > 0)
                return NULL;
        SSL_CTX_free(ctx->ssl_ctx);
        free(ctx->ca_path);
        free(ctx->cert_path);
        free(ctx->key_path);
        free(ctx);
        return NULL;
}

int tls_context_reload(TlsContext *ctx, char **ret_error) {
        assert(ctx);

        SSL_CTX *c = NULL;
        int r = build_ssl_ctx(ctx->ca_path, ctx->cert_path, ctx->key_path, ctx->testing, &c, ret_error);
        if (r < 0)
                return r;
        SSL_CTX_free(ctx->ssl_ctx);
        ctx->ssl_ctx = c;
        return 0;
}

SSL_CTX *tls_context_get_ssl_ctx(TlsContext *ctx) {
        assert(ctx);
        return ctx->ssl_ctx;
}

bool tls_context_cert_has_name(TlsContext *ctx, const char *name) {
        assert(ctx);
        return tls_x509_has_name(SSL_CTX_get0_certificate(ctx->ssl_ctx), name);
}

int64_t tls_context_cert_not_after(TlsContext *ctx) {
        assert(ctx);
        X509 *cert = SSL_CTX_get0_certificate(ctx->ssl_ctx);
        const ASN1_TIME *t = cert ? X509_get0_notAfter(cert) : NULL;
        struct tm tm;
        if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
                return 0;
        return (int64_t) timegm(&tm);
}

/* ---- addresses ---- */

int tls_address_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len) {
        assert(ret && ret_len);
        if (!s)
                return -EINVAL;

        const char *colon = strrchr(s, ':');
        if (!colon || colon == s || !colon[1] || strlen(colon + 1) > 5)
                return -EINVAL;
        unsigned port = 0;
        for (const char *p = colon + 1; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                port = port * 10 + (unsigned) (*p - '0');
        }
        if (port > 65535)
                return -EINVAL;

        char host[INET6_ADDRSTRLEN + 2];
        size_t n = (size_t) (colon - s);
        if (n >= sizeof host)
                return -EINVAL;
        memcpy(host, s, n);
        host[n] = 0;

        struct sockaddr_storage ss = {};
        if (host[0] == '[') {
                struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *) &ss;
                if (n < 3 || host[n - 1] != ']')
                        return -EINVAL;
                host[n - 1] = 0;
                if (inet_pton(AF_INET6, host + 1, &sa6->sin6_addr) != 1)
                        return -EINVAL;
                sa6->sin6_family = AF_INET6;
                sa6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof *sa6;
        } else {
                struct sockaddr_in *sa4 = (struct sockaddr_in *) &ss;
                if (inet_pton(AF_INET, host, &sa4->sin_addr) != 1)
                        return -EINVAL;
                sa4->sin_family = AF_INET;
                sa4->sin_port = htons((uint16_t) port);
                *ret_len = sizeof *sa4;
        }
        *ret = ss;
        return 0;
}

const char *tls_refuse_reason_to_string(TlsRefuseReason reason) {
        static const char *const table[_TLS_REFUSE_MAX] = {
                [TLS_REFUSE_NO_CERT] = "no-certificate",
                [TLS_REFUSE_UNTRUSTED] = "untrusted-certificate",
                [TLS_REFUSE_EXPIRED] = "expired-certificate",
                [TLS_REFUSE_PROTOCOL] = "not-tls13",
                [TLS_REFUSE_NOT_MEMBER] = "not-a-member",
                [TLS_REFUSE_WRONG_NAME] = "wrong-name",
                [TLS_REFUSE_BAD_HELLO] = "bad-hello",
                [TLS_REFUSE_TIMEOUT] = "handshake-timeout",
                [TLS_REFUSE_PEER_ALERT] = "rejected-by-peer",
                [TLS_REFUSE_LIMIT] = "too-many-connections",
                [TLS_REFUSE_TLS_ERROR] = "tls-error",
        };
        if ((unsigned) reason >= _TLS_REFUSE_MAX)
                return "unknown";
        return table[reason];
}
