/* cert.h — cluster CA and node certificates, made with the OpenSSL API.
 *
 * Backs `raftfsctl cert ca DIR` and `raftfsctl cert node --ca DIR [--ip IP]...
 * [--dns NAME]... NAME`, so that nobody has to learn the openssl command line.
 *
 * Files (PEM):
 *     DIR/ca.crt     the cluster CA certificate (mode 0644), the trust anchor
 *                    every node configures as [tls] ca
 *     DIR/ca.key     its private key (mode 0600)
 *     OUT/NAME.crt   node certificate (0644), followed by nothing else
 *     OUT/NAME.key   node private key (0600)
 *
 * Choices (also in raftfsctl(8)):
 *   - keys: ECDSA P-256 (default) or Ed25519; signatures SHA-256 (Ed25519:
 *     none, as the algorithm prescribes);
 *   - CA: subject CN "raftfs cluster CA <random hex>", basicConstraints
 *     critical CA:TRUE pathlen:0, keyUsage critical keyCertSign+cRLSign,
 *     validity 10 years;
 *   - node: subject CN NAME, subjectAltName DNS:NAME plus every --dns and
 *     --ip given, basicConstraints critical CA:FALSE, keyUsage critical
 *     digitalSignature, extendedKeyUsage serverAuth+clientAuth (each node is
 *     both), validity 2 years;
 *   - notBefore is backdated 1 hour to tolerate clock skew between nodes;
 *     serial numbers are 128 random bits;
 *   - existing files are never overwritten unless `force` is set (a lost CA
 *     key cannot be recovered; overwriting one by accident splits a cluster).
 *     Files are written to a temporary name and renamed into place, so a
 *     crash leaves either the old or the new file.
 *
 * All functions return 0 or a negative errno (-EEXIST, -EINVAL, -ENOENT,
 * -EACCES, -ENOMEM, -EPROTO for OpenSSL failures) and, when ret_error is not
 * NULL, set *ret_error to a malloc'd message naming the file and the reason
 * (caller frees; untouched on success). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum TlsKeyType {
        TLS_KEY_P256,     /* ECDSA on NIST P-256 (default) */
        TLS_KEY_ED25519,
        _TLS_KEY_MAX,
} TlsKeyType;

/* "p256" / "ed25519" <-> TlsKeyType; from_string returns -EINVAL on others. */
const char *tls_key_type_to_string(TlsKeyType t);
int tls_key_type_from_string(const char *s);

#define TLS_CERT_CA_DAYS   3650   /* 10 years */
#define TLS_CERT_NODE_DAYS 730    /* 2 years */

/* Creates DIR (mode 0755, parents not created) if missing, then DIR/ca.key
 * and DIR/ca.crt. -EEXIST when either file exists and !force. */
int tls_cert_make_ca(const char *dir, TlsKeyType key_type, bool force, char **ret_error);

/* Issues a certificate for node `name` (tls_name_is_valid()) signed by the
 * CA in ca_dir (ca.crt + ca.key), with subjectAltName DNS:name, DNS:dns[i]
 * and IP:ips[i] (IPv4 or IPv6 literals; -EINVAL otherwise), and writes
 * out_dir/NAME.crt and out_dir/NAME.key (out_dir NULL means ca_dir; it is
 * created, mode 0755, if missing). -EEXIST when a file exists and !force. */
int tls_cert_make_node(const char *ca_dir, const char *name, char *const *ips, size_t n_ips,
                       char *const *dns, size_t n_dns, const char *out_dir, TlsKeyType key_type,
                       bool force, char **ret_error);

/* The general form behind both, also used by tests to make expired,
 * not-yet-valid or foreign certificates. Times are seconds since the epoch. */
typedef struct TlsCertSpec {
        const char *cert_path;        /* where to write the certificate */
        const char *key_path;         /* where to write the new private key (0600) */
        const char *common_name;      /* subject CN */
        bool is_ca;                   /* CA certificate (no SAN/EKU) or end entity */
        const char *issuer_cert_path; /* signing CA; NULL: self-signed */
        const char *issuer_key_path;
        int64_t not_before;
        int64_t not_after;
        char *const *ips;             /* IP subjectAltNames */
        size_t n_ips;
        char *const *dns;             /* DNS subjectAltNames (common_name is NOT added implicitly) */
        size_t n_dns;
        TlsKeyType key_type;
        bool force;                   /* overwrite existing files */
} TlsCertSpec;

int tls_cert_issue(const TlsCertSpec *spec, char **ret_error);
