#include "config.h"
/* cert.c — creation of the cluster CA and node certificates (see cert.h).
 *
 * Everything goes through the OpenSSL API: key generation (EVP), the X.509
 * structure, extensions built as objects (subjectAltName entries are
 * GENERAL_NAMEs, not a config string, so a name with a comma cannot inject a
 * second entry), signing, PEM encoding. Files are written to a temporary
 * file in the target directory with the final mode, fsync'd and renamed
 * into place (RENAME_NOREPLACE unless forced), so a crash leaves no partly
 * written key, and a private key is never readable by others even briefly. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls/cert.h"
#include "tls/tls-internal.h"

#define BACKDATE_SECONDS 3600
#define SECONDS_PER_DAY 86400

const char *tls_key_type_to_string(TlsKeyType t) {
        switch (t) {
        case TLS_KEY_P256:
                return "p256";
        case TLS_KEY_ED25519:
                return "ed25519";
        default:
                return NULL;
        }
}

int tls_key_type_from_string(const char *s) {
        if (s && (strcmp(s, "p256") == 0 || strcmp(s, "P-256") == 0 || strcmp(s, "ecdsa") == 0))
                return TLS_KEY_P256;
        if (s && (strcmp(s, "ed25519") == 0 || strcmp(s, "Ed25519") == 0))
                return TLS_KEY_ED25519;
        return -EINVAL;
}

/* ---- files ---- */

static int write_file_atomic(const char *path, mode_t mode, const void *data, size_t len, bool force,
                             char **ret_error) {
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
                return tls_set_error(ret_error, -ENOMEM, false, "Out of memory");

        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return tls_set_error(ret_error, -errno, false, "Failed to create '%s': %s", tmp, strerror(errno));
        int r = 0;
        if (fchmod(fd, mode) < 0)
                r = -errno;
        for (size_t done = 0; r == 0 && done < len;) {
                ssize_t n = write(fd, (const uint8_t *) data + done, len - done);
                if (n < 0 && errno != EINTR)
                        r = -errno;
                else if (n > 0)
                        done += (size_t) n;
        }
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0) {
                if (force)
                        r = rename(tmp, path) < 0 ? -errno : 0;
                else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
                        r = -errno;
                        if (r == -EINVAL || r == -ENOSYS) {
                                /* File system without RENAME_NOREPLACE: link() refuses to replace too. */
                                r = link(tmp, path) < 0 ? -errno : 0;
                                (void) unlink(tmp);
                        }
                }
        }
        if (r < 0) {
                (void) unlink(tmp);
                return tls_set_error(ret_error, r, false, "Failed to write '%s': %s", path, strerror(-r));
        }
        return 0;
}

static int refuse_existing(const char *path, bool force, char **ret_error) {
        if (!force && access(path, F_OK) == 0)
                return tls_set_error(ret_error, -EEXIST, false, "'%s' already exists, refusing to overwrite it", path);
        return 0;
}

static int load_pem_cert(const char *path, X509 **ret, char **ret_error) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        int r = tls_read_file(path, 1024 * 1024, &data, &len, ret_error);
        if (r < 0)
                return r;
        _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(data, (int) len);
        X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        if (!x)
                return tls_set_error(ret_error, -EINVAL, true, "Failed to load certificate '%s'", path);
        *ret = x;
        return 0;
}

static int load_pem_key(const char *path, EVP_PKEY **ret, char **ret_error) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        int r = tls_read_file(path, 1024 * 1024, &data, &len, ret_error);
        if (r < 0)
                return r;
        _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(data, (int) len);
        EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        OPENSSL_cleanse(data, len);
        if (!k)
                return tls_set_error(ret_error, -EINVAL, true, "Failed to load private key '%s'", path);
        *ret = k;
        return 0;
}

/* PEM-encodes with `fn` into memory and writes the file. */
static int write_pem(const char *path, mode_t mode, bool force, bool is_key, void *obj, char **ret_error) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        if (!b)
                return tls_set_error(ret_error, -ENOMEM, true, "Failed to encode '%s'", path);
        int ok = is_key ? PEM_write_bio_PrivateKey(b, obj, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(b, obj);
        if (ok != 1)
                return tls_set_error(ret_error, -EPROTO, true, "Failed to encode '%s'", path);
        char *data;
        long len = BIO_get_mem_data(b, &data);
        int r = write_file_atomic(path, mode, data, (size_t) len, force, ret_error);
        if (is_key)
                OPENSSL_cleanse(data, (size_t) len);
        return r;
}

/* ---- certificate construction ---- */

static EVP_PKEY *generate_key(TlsKeyType t) {
        switch (t) {
        case TLS_KEY_P256:
                return EVP_EC_gen("P-256");
        case TLS_KEY_ED25519:
                return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        default:
                return NULL;
        }
}

static int set_random_serial(X509 *x) {
        uint8_t bytes[16];
        tls_random_bytes(bytes, sizeof bytes);
        bytes[0] &= 0x7f;   /* positive */
        bytes[0] |= 0x01;   /* never zero, constant length */
        BIGNUM *bn = BN_bin2bn(bytes, sizeof bytes, NULL);
        ASN1_INTEGER *serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
        int ok = serial && X509_set_serialNumber(x, serial) == 1;
        ASN1_INTEGER_free(serial);
        BN_free(bn);
        return ok ? 0 : -ENOMEM;
}

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
        if (!e)
                return -EINVAL;
        int ok = X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        return ok == 1 ? 0 : -ENOMEM;
}

static bool dns_name_is_valid(const char *s) {
        size_t n = strlen(s), label = 0;
        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (c == '.') {
                        if (label == 0)
                                return false;
                        label = 0;
                } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '-' || c == '_') {
                        if (++label > 63)
                                return false;
                } else
                        return false;
        }
        return label > 0;
}

static int san_push(GENERAL_NAMES *gens, int type, const char *value) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        if (!g)
                return -ENOMEM;
        if (type == GEN_DNS) {
                ASN1_IA5STRING *s = ASN1_IA5STRING_new();
                if (!s || ASN1_STRING_set(s, value, (int) strlen(value)) != 1) {
                        ASN1_IA5STRING_free(s);
                        GENERAL_NAME_free(g);
                        return -ENOMEM;
                }
                GENERAL_NAME_set0_value(g, GEN_DNS, s);
        } else {
                ASN1_OCTET_STRING *ip = a2i_IPADDRESS(value);
                if (!ip) {
                        GENERAL_NAME_free(g);
                        return -EINVAL;
                }
                GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
        }
        if (sk_GENERAL_NAME_push(gens, g) <= 0) {
                GENERAL_NAME_free(g);
                return -ENOMEM;
        }
        return 0;
}

static int add_sans(X509 *x, const TlsCertSpec *spec, char **ret_error) {
        if (spec->n_dns == 0 && spec->n_ips == 0)
                return 0;

        GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
        int r = gens ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < spec->n_dns; i++) {
                if (!dns_name_is_valid(spec->dns[i])) {
                        r = tls_set_error(ret_error, -EINVAL, false, "Invalid DNS name '%s'", spec->dns[i]);
                        break;
                }
                r = san_push(gens, GEN_DNS, spec->dns[i]);
        }
        for (size_t i = 0; r == 0 && i < spec->n_ips; i++) {
                struct in6_addr a;
                if (inet_pton(AF_INET, spec->ips[i], &a) != 1 && inet_pton(AF_INET6, spec->ips[i], &a) != 1) {
                        r = tls_set_error(ret_error, -EINVAL, false, "Invalid IP address '%s'", spec->ips[i]);
                        break;
                }
                r = san_push(gens, GEN_IPADD, spec->ips[i]);
        }
        if (r == 0 && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
                r = -ENOMEM;
        GENERAL_NAMES_free(gens);
        if (r == -ENOMEM)
                return tls_set_error(ret_error, r, true, "Failed to add subjectAltName");
        return r;
}

static int add_extensions(X509 *x, X509 *issuer, const TlsCertSpec *spec, char **ret_error) {
        X509V3_CTX v3;
        int r = 0;

        X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
        if (spec->is_ca) {
                r = add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
                if (r == 0)
                        r = add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
        } else {
                r = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE");
                if (r == 0)
                        r = add_ext(x, &v3, NID_key_usage, "critical,digitalSignature");
                if (r == 0)
                        r = add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth");
        }
        /* The subject key id first: a self-signed certificate's authority
         * key id refers to it. */
        if (r == 0)
                r = add_ext(x, &v3, NID_subject_key_identifier, "hash");
        if (r == 0)
                r = add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
        if (r < 0)
                return tls_set_error(ret_error, r, true, "Failed to add certificate extensions");
        return add_sans(x, spec, ret_error);
}

static int build_cert(const TlsCertSpec *spec, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, X509 **ret,
                      char **ret_error) {
        _cleanup_(X509_freep) X509 *x = X509_new();
        if (!x || X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) < 0)
                return tls_set_error(ret_error, -ENOMEM, true, "Failed to create certificate");
        if (!ASN1_TIME_set(X509_getm_notBefore(x), (time_t) spec->not_before) ||
            !ASN1_TIME_set(X509_getm_notAfter(x), (time_t) spec->not_after))
                return tls_set_error(ret_error, -EINVAL, true, "Failed to set certificate validity");

        X509_NAME *subject = X509_get_subject_name(x);
        if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *) spec->common_name,
                                       -1, -1, 0) != 1)
                return tls_set_error(ret_error, -EINVAL, true, "Failed to set subject '%s'", spec->common_name);
        if (X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
            X509_set_pubkey(x, key) != 1)
                return tls_set_error(ret_error, -ENOMEM, true, "Failed to create certificate");

        int r = add_extensions(x, issuer, spec, ret_error);
        if (r < 0)
                return r;

        EVP_PKEY *signer = issuer_key ? issuer_key : key;
        /* Ed25519 signs the message itself: no separate digest. */
        const EVP_MD *md = EVP_PKEY_get_id(signer) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
        if (X509_sign(x, signer, md) <= 0)
                return tls_set_error(ret_error, -EPROTO, true, "Failed to sign certificate '%s'", spec->cert_path);
        *ret = TAKE_PTR(x);
        return 0;
}

int tls_cert_issue(const TlsCertSpec *spec, char **ret_error) {
        _cleanup_(X509_freep) X509 *issuer = NULL, *x = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *issuer_key = NULL, *key = NULL;
        int r;

        assert(spec && spec->cert_path && spec->key_path && spec->common_name);
        if (!*spec->common_name || spec->not_after <= spec->not_before || (unsigned) spec->key_type >= _TLS_KEY_MAX)
                return tls_set_error(ret_error, -EINVAL, false, "Invalid certificate parameters for '%s'",
                                     spec->cert_path);
        if (!!spec->issuer_cert_path != !!spec->issuer_key_path)
                return tls_set_error(ret_error, -EINVAL, false, "Issuer certificate and key go together");

        r = refuse_existing(spec->key_path, spec->force, ret_error);
        if (r < 0)
                return r;
        r = refuse_existing(spec->cert_path, spec->force, ret_error);
        if (r < 0)
                return r;

        if (spec->issuer_cert_path) {
                r = load_pem_cert(spec->issuer_cert_path, &issuer, ret_error);
                if (r < 0)
                        return r;
                r = load_pem_key(spec->issuer_key_path, &issuer_key, ret_error);
                if (r < 0)
                        return r;
                if (X509_check_private_key(issuer, issuer_key) != 1)
                        return tls_set_error(ret_error, -EINVAL, true, "CA key '%s' does not match CA certificate '%s'",
                                             spec->issuer_key_path, spec->issuer_cert_path);
        }

        key = generate_key(spec->key_type);
        if (!key)
                return tls_set_error(ret_error, -EPROTO, true, "Failed to generate %s key",
                                     tls_key_type_to_string(spec->key_type));
        r = build_cert(spec, key, issuer, issuer_key, &x, ret_error);
        if (r < 0)
                return r;

        r = write_pem(spec->key_path, 0600, spec->force, true, key, ret_error);
        if (r < 0)
                return r;
        r = write_pem(spec->cert_path, 0644, spec->force, false, x, ret_error);
        if (r < 0) {
                (void) unlink(spec->key_path);   /* a key without its certificate is useless */
                return r;
        }
        return 0;
}

static int ensure_dir(const char *dir, char **ret_error) {
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return tls_set_error(ret_error, -errno, false, "Failed to create directory '%s': %s", dir,
                                     strerror(errno));
        struct stat st;
        if (stat(dir, &st) < 0)
                return tls_set_error(ret_error, -errno, false, "Failed to access '%s': %s", dir, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return tls_set_error(ret_error, -ENOTDIR, false, "'%s' is not a directory", dir);
        return 0;
}

int tls_cert_make_ca(const char *dir, TlsKeyType key_type, bool force, char **ret_error) {
        _cleanup_free_ char *crt = NULL, *key = NULL, *cn = NULL;

        assert(dir);
        int r = ensure_dir(dir, ret_error);
        if (r < 0)
                return r;
        /* A random tag in the CA's name tells the CAs of two clusters apart
         * in error messages and `openssl x509 -text` output. */
        if (asprintf(&crt, "%s/ca.crt", dir) < 0 || asprintf(&key, "%s/ca.key", dir) < 0 ||
            asprintf(&cn, "raftfs cluster CA %08x", (unsigned) tls_random_u64()) < 0)
                return tls_set_error(ret_error, -ENOMEM, false, "Out of memory");

        int64_t now = (int64_t) time(NULL);
        TlsCertSpec spec = {
                .cert_path = crt,
                .key_path = key,
                .common_name = cn,
                .is_ca = true,
                .not_before = now - BACKDATE_SECONDS,
                .not_after = now + (int64_t) TLS_CERT_CA_DAYS * SECONDS_PER_DAY,
                .key_type = key_type,
                .force = force,
        };
        return tls_cert_issue(&spec, ret_error);
}

int tls_cert_make_node(const char *ca_dir, const char *name, char *const *ips, size_t n_ips, char *const *dns,
                       size_t n_dns, const char *out_dir, TlsKeyType key_type, bool force, char **ret_error) {
        _cleanup_free_ char *ca_crt = NULL, *ca_key = NULL, *crt = NULL, *key = NULL;
        _cleanup_free_ char **all_dns = NULL;
        size_t n_all = 0;

        assert(ca_dir && name);
        if (!tls_name_is_valid(name))
                return tls_set_error(ret_error, -EINVAL, false,
                                     "Invalid node name '%s' (1-63 of A-Z a-z 0-9 . _ -, not starting with . or -)",
                                     name);
        if (!out_dir)
                out_dir = ca_dir;
        int r = ensure_dir(out_dir, ret_error);
        if (r < 0)
                return r;
        if (asprintf(&ca_crt, "%s/ca.crt", ca_dir) < 0 || asprintf(&ca_key, "%s/ca.key", ca_dir) < 0 ||
            asprintf(&crt, "%s/%s.crt", out_dir, name) < 0 || asprintf(&key, "%s/%s.key", out_dir, name) < 0)
                return tls_set_error(ret_error, -ENOMEM, false, "Out of memory");

        /* DNS:name first, then the extra names without duplicates. */
        all_dns = calloc(n_dns + 1, sizeof *all_dns);
        if (!all_dns)
                return tls_set_error(ret_error, -ENOMEM, false, "Out of memory");
        all_dns[n_all++] = (char *) name;
        for (size_t i = 0; i < n_dns; i++) {
                bool dup = false;
                for (size_t j = 0; j < n_all; j++)
                        dup = dup || strcmp(all_dns[j], dns[i]) == 0;
                if (!dup)
                        all_dns[n_all++] = dns[i];
        }

        int64_t now = (int64_t) time(NULL);
        TlsCertSpec spec = {
                .cert_path = crt,
                .key_path = key,
                .common_name = name,
                .issuer_cert_path = ca_crt,
                .issuer_key_path = ca_key,
                .not_before = now - BACKDATE_SECONDS,
                .not_after = now + (int64_t) TLS_CERT_NODE_DAYS * SECONDS_PER_DAY,
                .ips = ips,
                .n_ips = n_ips,
                .dns = all_dns,
                .n_dns = n_all,
                .key_type = key_type,
                .force = force,
        };
        return tls_cert_issue(&spec, ret_error);
}
