#include "config.h"

/* cert.c — raftfsctl cert: the cluster CA and node certificates.
 *
 *     raftfsctl cert ca [--force] [--key-type p256|ed25519] DIR
 *     raftfsctl cert node --ca DIR [--ip IP]... [--dns NAME]... [--out DIR]
 *                         [--force] [--key-type p256|ed25519] NAME
 *
 * Argument checking lives here; the certificates are made by tls/cert.h
 * (the only place that includes OpenSSL). Works without a daemon.
 * Existing files are never overwritten without --force. */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "daemon/conf.h"
#include "tls/cert.h"

#define MAX_SANS 64

typedef struct CertArgs {
        bool force;
        const char *key_type;
        const char *ca_dir;
        const char *out_dir;
        char *ips[MAX_SANS];
        size_t n_ips;
        char *dns[MAX_SANS];
        size_t n_dns;
        const char *target;             /* DIR for ca, NAME for node */
} CertArgs;

static int parse_cert_args(int argc, char **argv, bool node, CertArgs *a) {
        enum { ARG_CA = 0x100, ARG_IP, ARG_DNS, ARG_OUT, ARG_FORCE, ARG_KEY_TYPE };
        static const struct option options[] = {
                { "ca", required_argument, NULL, ARG_CA },
                { "ip", required_argument, NULL, ARG_IP },
                { "dns", required_argument, NULL, ARG_DNS },
                { "out", required_argument, NULL, ARG_OUT },
                { "force", no_argument, NULL, ARG_FORCE },
                { "key-type", required_argument, NULL, ARG_KEY_TYPE },
                {}
        };
        const char *what = node ? "cert node" : "cert ca";
        int c;

        *a = (CertArgs) { .key_type = "p256" };
        optind = 0;
        while ((c = getopt_long(argc, argv, "+", options, NULL)) >= 0) {
                if (!node && (c == ARG_CA || c == ARG_IP || c == ARG_DNS || c == ARG_OUT))
                        return ctl_usage("%s: option '%s' applies to 'cert node' only", what, argv[optind - 1]);
                switch (c) {
                case ARG_CA:
                        a->ca_dir = optarg;
                        break;
                case ARG_IP:
                        if (a->n_ips >= MAX_SANS)
                                return ctl_usage("%s: more than %d --ip", what, MAX_SANS);
                        a->ips[a->n_ips++] = optarg;
                        break;
                case ARG_DNS:
                        if (a->n_dns >= MAX_SANS)
                                return ctl_usage("%s: more than %d --dns", what, MAX_SANS);
                        a->dns[a->n_dns++] = optarg;
                        break;
                case ARG_OUT:
                        a->out_dir = optarg;
                        break;
                case ARG_FORCE:
                        a->force = true;
                        break;
                case ARG_KEY_TYPE:
                        if (strcmp(optarg, "p256") != 0 && strcmp(optarg, "ed25519") != 0)
                                return ctl_usage("%s: --key-type must be p256 or ed25519", what);
                        a->key_type = optarg;
                        break;
                default:
                        return ctl_usage("%s: bad option", what);
                }
        }
        if (optind + 1 != argc)
                return ctl_usage(node ? "cert node: expected one NAME" : "cert ca: expected one DIR");
        a->target = argv[optind];
        if (node && !a->ca_dir)
                return ctl_usage("cert node: --ca DIR is required");
        if (node && !conf_node_name_is_valid(a->target))
                return ctl_usage("cert node: invalid node name '%s' (lower-case letters, digits, '.', '_', '-')",
                                 a->target);
        return 0;
}

int ctl_cmd_cert(int argc, char **argv) {
        CertArgs a;
        bool node;
        int r;

        if (argc < 2)
                return ctl_usage("cert: expected 'ca DIR' or 'node --ca DIR NAME'");
        if (strcmp(argv[1], "ca") == 0)
                node = false;
        else if (strcmp(argv[1], "node") == 0)
                node = true;
        else
                return ctl_usage("cert: unknown subcommand '%s'", argv[1]);
        _cleanup_free_ char *error = NULL;
        int key_type;

        r = parse_cert_args(argc - 1, argv + 1, node, &a);
        if (r != 0)
                return r;
        key_type = tls_key_type_from_string(a.key_type);
        if (key_type < 0)
                return ctl_usage("cert: unknown key type '%s'", a.key_type);
        if (!node) {
                r = tls_cert_make_ca(a.target, (TlsKeyType) key_type, a.force, &error);
                if (r < 0)
                        return ctl_fail("cert ca: %s", error ? error : strerror(-r));
                printf("Created the cluster CA in %s (ca.crt, ca.key). Keep ca.key secret.\n", a.target);
                return EXIT_OK;
        }
        r = tls_cert_make_node(a.ca_dir, a.target, a.ips, a.n_ips, a.dns, a.n_dns, a.out_dir,
                               (TlsKeyType) key_type, a.force, &error);
        if (r < 0)
                return ctl_fail("cert node: %s", error ? error : strerror(-r));
        printf("Issued %s/%s.crt and %s.key.\n", a.out_dir ? a.out_dir : a.ca_dir, a.target, a.target);
        return EXIT_OK;
}
