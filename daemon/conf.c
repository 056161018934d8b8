#include "config.h"

/* conf.c — parser for raftfs.conf(5).
 *
 * One pass over the text, line by line: strip the comment, trim, then either
 * a "[section]" header or a "key = value" assignment looked up in conf_keys[].
 * Every assignment is parsed by its type's parser straight into the Conf
 * field at the key's offset; a per-key "seen on line N" array catches
 * duplicates. After the pass, defaults are filled in by running the very
 * same parsers on the table's default strings (so a default can never be a
 * value the parser would refuse), derived defaults are computed, and the
 * cross-key rules are checked (timing relations, [tls] needed for more than
 * one member, this node among the initial members).
 *
 * Invariant: on success every non-optional field holds a validated value;
 * on failure nothing escapes but one error string "PATH:LINE: message". */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "lib/log.h"
#include "lib/macro.h"

#define KEY(sec, nm, ty, fl, def, lo, hi, field, desc) \
        { sec, nm, ty, fl, def, lo, hi, offsetof(Conf, field), desc }

const ConfKey conf_keys[] = {
        KEY("node", "name", CONF_TYPE_NAME, CONF_KEY_REQUIRED, NULL, 0, 0, node_name,
            "Name of this node: its identity in the cluster and in its TLS certificate."),
        KEY("node", "listen", CONF_TYPE_ADDRESS, CONF_KEY_REQUIRED, NULL, 0, 0, listen,
            "IP:PORT on which this node accepts mutual-TLS connections from its peers."),
        KEY("node", "data_dir", CONF_TYPE_PATH, 0, "/var/lib/raftfs", 0, 0, data_dir,
            "Directory holding the log segments, term/vote metadata and snapshots."),
        KEY("node", "mountpoint", CONF_TYPE_PATH, 0, "/mnt/raftfs", 0, 0, mountpoint,
            "Where the replicated tree is mounted."),
        KEY("node", "control_socket", CONF_TYPE_SOCKET_PATH, 0, "/run/raftfs/control.sock", 0, 0,
            control_socket, "Unix socket on which raftfsctl talks to the daemon."),
        KEY("node", "log_level", CONF_TYPE_STRING, 0, "info", 0, 0, log_level,
            "Least important message priority logged: debug, info, notice, warning, err, "
            "crit, alert or emerg (raftfsd -v forces debug)."),

        KEY("cluster", "initial_members", CONF_TYPE_MEMBERS, CONF_KEY_REQUIRED, NULL, 0, 0,
            members,
            "Comma-separated NAME=IP:PORT list of the voting members that bootstrap an "
            "empty data_dir; must include this node (unless join = yes). Ignored once "
            "data_dir holds state. With join = yes: current members that may contact "
            "this node until it has received the cluster's configuration."),
        KEY("cluster", "join", CONF_TYPE_BOOL, 0, "no", 0, 0, join,
            "Start with an empty data_dir and wait to be added by 'raftfsctl member add' "
            "on a current member instead of bootstrapping."),

        KEY("tls", "ca", CONF_TYPE_PATH, CONF_KEY_CONDITIONAL, NULL, 0, 0, tls_ca,
            "PEM file of the cluster CA certificate. The [tls] keys are required unless "
            "the cluster has exactly one member."),
        KEY("tls", "cert", CONF_TYPE_PATH, CONF_KEY_CONDITIONAL, NULL, 0, 0, tls_cert,
            "PEM file of this node's certificate, signed by the cluster CA."),
        KEY("tls", "key", CONF_TYPE_PATH, CONF_KEY_CONDITIONAL, NULL, 0, 0, tls_key,
            "PEM file of this node's private key."),

        KEY("raft", "heartbeat_ms", CONF_TYPE_MSEC, 0, "100", 10, 60000, heartbeat_ms,
            "Interval of the leader's heartbeats."),
        KEY("raft", "election_timeout_ms", CONF_TYPE_MSEC, 0, "1000", 50, 600000,
            election_timeout_ms,
            "Base election timeout (randomised between this and twice this); at least "
            "twice heartbeat_ms."),
        KEY("raft", "snapshot_entries", CONF_TYPE_UINT, 0, "10000", 16, 100000000,
            snapshot_entries, "Take a snapshot and compact the log after this many entries."),

        KEY("session", "ttl_ms", CONF_TYPE_MSEC, 0, "10000", 1000, 3600000, session_ttl_ms,
            "The leader expires a node's session (releasing its locks and removing its "
            "ephemeral files) after not hearing from it for this long."),
        KEY("session", "lock_delay_ms", CONF_TYPE_MSEC, 0, "0", 0, 3600000, lock_delay_ms,
            "A lock freed by a session expiry stays unavailable for this long."),
        KEY("session", "jeopardy_margin_ms", CONF_TYPE_MSEC, CONF_KEY_DERIVED, "ttl_ms/5", 0,
            3600000, jeopardy_margin_ms,
            "A node that has not reached a quorum for ttl_ms minus this margin considers "
            "its session in jeopardy: lock holders are told and lock operations fail."),

        KEY("fuse", "mount", CONF_TYPE_BOOL, 0, "yes", 0, 0, mount,
            "Mount the tree at mountpoint; 'no' runs a member that only stores and votes."),
        KEY("fuse", "allow_other", CONF_TYPE_BOOL, 0, "yes", 0, 0, allow_other,
            "Let users other than the daemon's access the mount (permissions are still "
            "checked: the mount always uses default_permissions)."),
        KEY("fuse", "consistency", CONF_TYPE_CONSISTENCY, 0, "linearizable", 0, 0, consistency,
            "linearizable: opens and lookups wait for a read barrier; local: serve the "
            "local replica (monotonic, maybe stale)."),
        KEY("fuse", "max_file_size", CONF_TYPE_SIZE, 0, "1M", 1, UINT64_C(64) << 20,
            max_file_size, "Largest regular file (EFBIG beyond); a file is committed as one "
            "log entry."),
        KEY("fuse", "max_total_size", CONF_TYPE_SIZE, 0, "1G", 1, UINT64_C(1) << 40,
            max_total_size, "Largest total size of all file data in the tree (ENOSPC beyond)."),
        KEY("fuse", "max_name_length", CONF_TYPE_UINT, 0, "255", 1, 255, max_name_length,
            "Longest file name (ENAMETOOLONG beyond)."),
        KEY("fuse", "op_timeout_ms", CONF_TYPE_MSEC, 0, "10000", 100, 3600000, op_timeout_ms,
            "How long an operation waits for a quorum before failing (EROFS for changes, "
            "EIO for linearizable reads)."),
};

const size_t conf_keys_count = ELEMENTSOF(conf_keys);

static const char *const sections[] = { "node", "cluster", "tls", "raft", "session", "fuse" };

static const char *const type_names[_CONF_TYPE_MAX] = {
        [CONF_TYPE_STRING] = "string",
        [CONF_TYPE_PATH] = "path",
        [CONF_TYPE_SOCKET_PATH] = "path",
        [CONF_TYPE_NAME] = "name",
        [CONF_TYPE_ADDRESS] = "address",
        [CONF_TYPE_MEMBERS] = "member list",
        [CONF_TYPE_BOOL] = "boolean",
        [CONF_TYPE_UINT] = "number",
        [CONF_TYPE_SIZE] = "size",
        [CONF_TYPE_MSEC] = "milliseconds",
        [CONF_TYPE_CONSISTENCY] = "linearizable|local",
};

const char *conf_type_to_string(ConfType t) {
        if (t < 0 || t >= _CONF_TYPE_MAX)
                return NULL;
        return type_names[t];
}

/* ---- value parsers ---------------------------------------------------- */

/* A decimal number without sign or spaces; *end points after the digits. */
static int parse_digits(const char *s, uint64_t *ret, const char **end) {
        uint64_t v = 0;
        const char *p = s;

        if (!isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        *end = p;
        return 0;
}

int conf_parse_size(const char *s, uint64_t *ret) {
        const char *end;
        uint64_t v;
        unsigned shift = 0;
        int r;

        r = parse_digits(s, &v, &end);
        if (r < 0)
                return r;
        switch (*end) {
        case '\0': break;
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        case 't': case 'T': shift = 40; break;
        default: return -EINVAL;
        }
        if (shift > 0 && end[1] != '\0')
                return -EINVAL;
        if (shift > 0 && v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = v << shift;
        return 0;
}

int conf_parse_msec(const char *s, uint64_t *ret) {
        const char *end;
        uint64_t v;
        int r;

        r = parse_digits(s, &v, &end);
        if (r < 0)
                return r;
        if (*end != '\0' && strcmp(end, "ms") != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_uint(const char *s, uint64_t *ret) {
        const char *end;
        uint64_t v;
        int r;

        r = parse_digits(s, &v, &end);
        if (r < 0)
                return r;
        if (*end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

int conf_parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

bool conf_node_name_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > CONF_NODE_NAME_MAX)
                return false;
        if (!islower((unsigned char) s[0]) && !isdigit((unsigned char) s[0]))
                return false;
        for (size_t i = 1; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (!(c >= 'a' && c <= 'z') && !isdigit(c) && c != '.' && c != '_' && c != '-')
                        return false;
        }
        return true;
}

static bool all_digits_and_dots(const char *s) {
        for (; *s; s++)
                if (!isdigit((unsigned char) *s) && *s != '.')
                        return false;
        return true;
}

int conf_address_split(const char *s, char **ret_host, uint16_t *ret_port) {
        const char *colon = strrchr(s, ':');
        _cleanup_free_ char *host = NULL;
        uint64_t port;
        unsigned char addr[16];
        int r;

        if (!colon || colon == s)
                return -EINVAL;
        r = parse_uint(colon + 1, &port);
        if (r < 0 || port == 0 || port > 65535)
                return -EINVAL;
        if (colon[1] == '0')    /* no leading zeros: one spelling per port */
                return -EINVAL;

        if (s[0] == '[') {
                if (colon[-1] != ']' || colon - s < 3)
                        return -EINVAL;
                host = strndup(s + 1, (size_t) (colon - s - 2));
                if (!host)
                        return -ENOMEM;
                if (inet_pton(AF_INET6, host, addr) != 1)
                        return -EINVAL;
        } else {
                host = strndup(s, (size_t) (colon - s));
                if (!host)
                        return -ENOMEM;
                if (strchr(host, ':'))  /* IPv6 needs brackets */
                        return -EINVAL;
                /* Numeric only: the peer layer never resolves names, since a
                 * lookup would block the event loop. */
                if (!all_digits_and_dots(host) || inet_pton(AF_INET, host, addr) != 1)
                        return -EINVAL;
        }
        if (ret_host)
                *ret_host = TAKE_PTR(host);
        if (ret_port)
                *ret_port = (uint16_t) port;
        return 0;
}

bool conf_address_is_valid(const char *s) {
        return conf_address_split(s, NULL, NULL) == 0;
}

/* ---- parser state and errors ------------------------------------------ */

typedef struct Parser {
        const char *path;
        Conf *conf;
        unsigned key_line[ELEMENTSOF(conf_keys)];   /* 0: not set in the file */
        bool section_seen[ELEMENTSOF(sections)];
        char *error;
        int r;                                      /* first error */
} Parser;

static int fail(Parser *p, unsigned line, const char *format, ...) _printf_(3, 4);
static int fail(Parser *p, unsigned line, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        if (p->r < 0)           /* keep the first error */
                return p->r;
        va_start(ap, format);
        k = vasprintf(&msg, format, ap);
        va_end(ap);
        if (k < 0) {
                msg = NULL;
                return (p->r = -ENOMEM);
        }
        k = line > 0 ? asprintf(&p->error, "%s:%u: %s", p->path, line, msg)
                     : asprintf(&p->error, "%s: %s", p->path, msg);
        if (k < 0) {
                p->error = NULL;
                return (p->r = -ENOMEM);
        }
        return (p->r = -EINVAL);
}

static void members_free(ConfMember *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(m[i].name);
                free(m[i].address);
        }
        free(m);
}

/* Splits "a=h:p, b=h:p" into members; validates names and addresses and
 * refuses duplicates of either. */
static int parse_members(Parser *p, unsigned line, const ConfKey *k, const char *value) {
        _cleanup_free_ char *copy = strdup(value);
        ConfMember *m = NULL;
        size_t n = 0;
        char *save = NULL, *item;
        int r = 0;

        if (!copy)
                return (p->r = -ENOMEM);
        m = calloc(CONF_MEMBERS_MAX, sizeof(ConfMember));
        if (!m)
                return (p->r = -ENOMEM);
        /* strtok_r would merge empty items; walk commas by hand instead. */
        for (item = copy; item; item = save) {
                char *comma = strchr(item, ','), *eq, *name, *addr;

                save = comma ? comma + 1 : NULL;
                if (comma)
                        *comma = '\0';
                while (isspace((unsigned char) *item))
                        item++;
                for (size_t l = strlen(item); l > 0 && isspace((unsigned char) item[l - 1]); l--)
                        item[l - 1] = '\0';
                if (*item == '\0') {
                        r = fail(p, line, "%s: empty entry in member list", k->name);
                        goto finish;
                }
                eq = strchr(item, '=');
                if (!eq) {
                        r = fail(p, line, "%s: '%s' is not NAME=IP:PORT", k->name, item);
                        goto finish;
                }
                *eq = '\0';
                name = item;
                addr = eq + 1;
                for (size_t l = strlen(name); l > 0 && isspace((unsigned char) name[l - 1]); l--)
                        name[l - 1] = '\0';
                while (isspace((unsigned char) *addr))
                        addr++;
                if (!conf_node_name_is_valid(name)) {
                        r = fail(p, line, "%s: invalid node name '%s'", k->name, name);
                        goto finish;
                }
                if (!conf_address_is_valid(addr)) {
                        r = fail(p, line, "%s: invalid address '%s' for %s (expected IP:PORT)",
                                 k->name, addr, name);
                        goto finish;
                }
                for (size_t i = 0; i < n; i++) {
                        if (strcmp(m[i].name, name) == 0) {
                                r = fail(p, line, "%s: member '%s' listed twice", k->name, name);
                                goto finish;
                        }
                        if (strcmp(m[i].address, addr) == 0) {
                                r = fail(p, line, "%s: address %s given to both %s and %s",
                                         k->name, addr, m[i].name, name);
                                goto finish;
                        }
                }
                if (n >= CONF_MEMBERS_MAX) {
                        r = fail(p, line, "%s: more than %d members", k->name, CONF_MEMBERS_MAX);
                        goto finish;
                }
                m[n].name = strdup(name);
                m[n].address = strdup(addr);
                n++;
                if (!m[n - 1].name || !m[n - 1].address) {
                        r = (p->r = -ENOMEM);
                        goto finish;
                }
        }
        members_free(p->conf->members, p->conf->n_members);
        p->conf->members = TAKE_PTR(m);
        p->conf->n_members = n;
        n = 0;
finish:
        members_free(m, n);
        return r;
}

static int set_string(Parser *p, const ConfKey *k, const char *value) {
        char **field = (char **) ((uint8_t *) p->conf + k->offset);
        char *copy = strdup(value);

        if (!copy)
                return (p->r = -ENOMEM);
        free(*field);
        *field = copy;
        return 0;
}

static int check_range(Parser *p, unsigned line, const ConfKey *k, uint64_t v) {
        if (v < k->min || v > k->max)
                return fail(p, line, "%s = %" PRIu64 " is out of range [%" PRIu64 ", %" PRIu64 "]",
                            k->name, v, k->min, k->max);
        return 0;
}

static int parse_number(Parser *p, unsigned line, const ConfKey *k, const char *value) {
        uint64_t *field = (uint64_t *) (void *) ((uint8_t *) p->conf + k->offset);
        uint64_t v;
        int r;

        switch (k->type) {
        case CONF_TYPE_SIZE:
                r = conf_parse_size(value, &v);
                if (r < 0)
                        return fail(p, line, "%s: invalid size '%s' (a number with an optional "
                                    "K, M, G or T suffix)", k->name, value);
                break;
        case CONF_TYPE_MSEC:
                r = conf_parse_msec(value, &v);
                if (r < 0)
                        return fail(p, line, "%s: invalid duration '%s' (milliseconds, a plain "
                                    "number)", k->name, value);
                break;
        default:
                r = parse_uint(value, &v);
                if (r < 0)
                        return fail(p, line, "%s: invalid number '%s'", k->name, value);
                break;
        }
        r = check_range(p, line, k, v);
        if (r < 0)
                return r;
        *field = v;
        return 0;
}

static int parse_path(Parser *p, unsigned line, const ConfKey *k, const char *value) {
        if (value[0] != '/')
                return fail(p, line, "%s: '%s' is not an absolute path", k->name, value);
        if (strlen(value) >= PATH_MAX)
                return fail(p, line, "%s: path too long", k->name);
        if (k->type == CONF_TYPE_SOCKET_PATH &&
            strlen(value) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return fail(p, line, "%s: socket path longer than %zu bytes", k->name,
                            sizeof(((struct sockaddr_un *) NULL)->sun_path) - 1);
        return set_string(p, k, value);
}

/* Parses `value` for key `k` into the Conf. line 0 means "a default". */
static int parse_value(Parser *p, unsigned line, const ConfKey *k, const char *value) {
        uint8_t *base = (uint8_t *) p->conf;
        int r;

        if (value[0] == '\0')
                return fail(p, line, "%s: empty value", k->name);

        switch (k->type) {
        case CONF_TYPE_STRING:
                /* The only string key is log_level; validate it here. */
                if (log_level_from_string(value) < 0)
                        return fail(p, line, "%s: unknown level '%s'", k->name, value);
                return set_string(p, k, value);
        case CONF_TYPE_PATH:
        case CONF_TYPE_SOCKET_PATH:
                return parse_path(p, line, k, value);
        case CONF_TYPE_NAME:
                if (!conf_node_name_is_valid(value))
                        return fail(p, line, "%s: invalid node name '%s' (lower-case letters, "
                                    "digits, '.', '_', '-'; at most %d, starting with a letter "
                                    "or digit)", k->name, value, CONF_NODE_NAME_MAX);
                return set_string(p, k, value);
        case CONF_TYPE_ADDRESS:
                if (!conf_address_is_valid(value))
                        return fail(p, line, "%s: invalid address '%s' (expected IP:PORT, "
                                    "IPv6 in brackets, no host names)", k->name, value);
                return set_string(p, k, value);
        case CONF_TYPE_MEMBERS:
                return parse_members(p, line, k, value);
        case CONF_TYPE_BOOL:
                r = conf_parse_bool(value, (bool *) (base + k->offset));
                if (r < 0)
                        return fail(p, line, "%s: invalid boolean '%s' (yes/no, true/false, "
                                    "on/off, 1/0)", k->name, value);
                return 0;
        case CONF_TYPE_UINT:
        case CONF_TYPE_SIZE:
        case CONF_TYPE_MSEC:
                return parse_number(p, line, k, value);
        case CONF_TYPE_CONSISTENCY: {
                ConfConsistency *c = (ConfConsistency *) (void *) (base + k->offset);
                if (strcmp(value, "linearizable") == 0)
                        *c = CONF_CONSISTENCY_LINEARIZABLE;
                else if (strcmp(value, "local") == 0)
                        *c = CONF_CONSISTENCY_LOCAL;
                else
                        return fail(p, line, "%s: '%s' is neither 'linearizable' nor 'local'",
                                    k->name, value);
                return 0;
        }
        default:
                assert_not_reached();
        }
}

/* ---- lines ------------------------------------------------------------ */

static char *trim(char *s) {
        size_t n;

        while (isspace((unsigned char) *s))
                s++;
        n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = '\0';
        return s;
}

/* Cuts the line at the first '#' or ';' that starts it or follows
 * whitespace, so "a = b # note" is "a = b" but "x = a#b" keeps its '#'. */
static void strip_comment(char *s) {
        for (size_t i = 0; s[i]; i++)
                if ((s[i] == '#' || s[i] == ';') && (i == 0 || isspace((unsigned char) s[i - 1]))) {
                        s[i] = '\0';
                        return;
                }
}

static int find_section(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                if (strcmp(sections[i], name) == 0)
                        return (int) i;
        return -1;
}

static const ConfKey *find_key(const char *section, const char *name) {
        for (size_t i = 0; i < conf_keys_count; i++)
                if (strcmp(conf_keys[i].section, section) == 0 && strcmp(conf_keys[i].name, name) == 0)
                        return &conf_keys[i];
        return NULL;
}

static const ConfKey *find_key_any_section(const char *name) {
        for (size_t i = 0; i < conf_keys_count; i++)
                if (strcmp(conf_keys[i].name, name) == 0)
                        return &conf_keys[i];
        return NULL;
}

static int parse_section_line(Parser *p, unsigned line, char *s, int *section) {
        size_t n = strlen(s);
        char *name;
        int i;

        if (s[n - 1] != ']')
                return fail(p, line, "section header without closing ']'");
        s[n - 1] = '\0';
        name = trim(s + 1);
        i = find_section(name);
        if (i < 0)
                return fail(p, line, "unknown section [%s]", name);
        if (p->section_seen[i])
                return fail(p, line, "section [%s] appears twice", name);
        p->section_seen[i] = true;
        *section = i;
        return 0;
}

static int parse_assignment(Parser *p, unsigned line, char *s, int section) {
        char *eq = strchr(s, '='), *key, *value;
        const ConfKey *k;
        size_t idx;

        if (!eq)
                return fail(p, line, "expected 'key = value' or '[section]'");
        *eq = '\0';
        key = trim(s);
        value = trim(eq + 1);
        if (key[0] == '\0')
                return fail(p, line, "missing key name before '='");
        if (section < 0)
                return fail(p, line, "key '%s' outside of any section", key);
        k = find_key(sections[section], key);
        if (!k) {
                const ConfKey *other = find_key_any_section(key);
                if (other)
                        return fail(p, line, "unknown key '%s' in section [%s] (it belongs in [%s])",
                                    key, sections[section], other->section);
                return fail(p, line, "unknown key '%s' in section [%s]", key, sections[section]);
        }
        idx = (size_t) (k - conf_keys);
        if (p->key_line[idx] > 0)
                return fail(p, line, "duplicate key '%s' (first set on line %u)", key, p->key_line[idx]);
        p->key_line[idx] = line;
        return parse_value(p, line, k, value);
}

static int parse_text(Parser *p, const char *text, size_t len) {
        _cleanup_free_ char *buf = NULL;
        int section = -1;
        unsigned line = 0;
        size_t pos = 0;

        if (memchr(text, '\0', len)) {
                size_t nul = (size_t) ((const char *) memchr(text, '\0', len) - text);
                unsigned l = 1;
                for (size_t i = 0; i < nul; i++)
                        l += text[i] == '\n';
                return fail(p, l, "NUL byte in configuration file");
        }
        buf = malloc(CONF_LINE_MAX_BYTES + 1);
        if (!buf)
                return (p->r = -ENOMEM);

        while (pos < len) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - (text + pos)) : len - pos;
                char *s;
                int r;

                line++;
                if (n > CONF_LINE_MAX_BYTES)
                        return fail(p, line, "line longer than %d bytes", CONF_LINE_MAX_BYTES);
                memcpy(buf, text + pos, n);
                buf[n] = '\0';
                pos += n + (nl ? 1 : 0);

                strip_comment(buf);
                s = trim(buf);
                if (*s == '\0')
                        continue;
                if (*s == '[')
                        r = parse_section_line(p, line, s, &section);
                else
                        r = parse_assignment(p, line, s, section);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- defaults and cross-key rules -------------------------------------- */

static unsigned key_line(const Parser *p, const char *section, const char *name) {
        const ConfKey *k = find_key(section, name);
        assert(k);
        return p->key_line[k - conf_keys];
}

static int apply_defaults(Parser *p) {
        for (size_t i = 0; i < conf_keys_count; i++) {
                const ConfKey *k = &conf_keys[i];
                int r;

                if (p->key_line[i] > 0)
                        continue;
                if (k->flags & CONF_KEY_REQUIRED)
                        return fail(p, 0, "missing required key '%s' in section [%s]",
                                    k->name, k->section);
                if (!k->default_value || (k->flags & CONF_KEY_DERIVED))
                        continue;
                r = parse_value(p, 0, k, k->default_value);
                assert(r >= 0);         /* the table's defaults are valid */
                if (r < 0)
                        return r;
        }
        if (key_line(p, "session", "jeopardy_margin_ms") == 0)
                p->conf->jeopardy_margin_ms = p->conf->session_ttl_ms / 5;
        return 0;
}

/* The later line of two keys, for an error about their relation (0: both defaults). */
static unsigned last_line(const Parser *p, const char *s1, const char *k1, const char *s2, const char *k2) {
        return MAX(key_line(p, s1, k1), key_line(p, s2, k2));
}

static int check_timing(Parser *p) {
        Conf *c = p->conf;

        if (c->election_timeout_ms < 2 * c->heartbeat_ms)
                return fail(p, last_line(p, "raft", "heartbeat_ms", "raft", "election_timeout_ms"),
                            "election_timeout_ms (%" PRIu64 ") must be at least twice "
                            "heartbeat_ms (%" PRIu64 ")", c->election_timeout_ms, c->heartbeat_ms);
        if (c->jeopardy_margin_ms >= c->session_ttl_ms)
                return fail(p, last_line(p, "session", "ttl_ms", "session", "jeopardy_margin_ms"),
                            "jeopardy_margin_ms (%" PRIu64 ") must be less than ttl_ms (%" PRIu64 ")",
                            c->jeopardy_margin_ms, c->session_ttl_ms);
        /* An ordinary leader election (up to about two election timeouts)
         * must not put every session in jeopardy. */
        if (c->session_ttl_ms - c->jeopardy_margin_ms < 2 * c->election_timeout_ms)
                return fail(p, MAX(last_line(p, "session", "ttl_ms", "session", "jeopardy_margin_ms"),
                                   key_line(p, "raft", "election_timeout_ms")),
                            "ttl_ms - jeopardy_margin_ms (%" PRIu64 ") must be at least twice "
                            "election_timeout_ms (%" PRIu64 ")",
                            c->session_ttl_ms - c->jeopardy_margin_ms, c->election_timeout_ms);
        if (c->max_total_size < c->max_file_size)
                return fail(p, last_line(p, "fuse", "max_file_size", "fuse", "max_total_size"),
                            "max_total_size (%" PRIu64 ") is smaller than max_file_size (%" PRIu64 ")",
                            c->max_total_size, c->max_file_size);
        return 0;
}

static int check_cluster(Parser *p) {
        Conf *c = p->conf;
        bool need_tls;
        unsigned tls_line = 0;
        const char *missing = NULL;

        if (!c->join) {
                if (!conf_member_find(c, c->node_name))
                        return fail(p, key_line(p, "cluster", "initial_members"),
                                    "initial_members does not include this node ('%s')",
                                    c->node_name);
        }

        /* Anything but a one-member bootstrap talks to peers. */
        need_tls = c->join || c->n_members != 1;
        if (!c->tls_ca)
                missing = "ca";
        else if (!c->tls_cert)
                missing = "cert";
        else if (!c->tls_key)
                missing = "key";
        for (size_t i = 0; i < conf_keys_count; i++)
                if (strcmp(conf_keys[i].section, "tls") == 0)
                        tls_line = MAX(tls_line, p->key_line[i]);
        if (missing && (need_tls || tls_line > 0))
                return fail(p, 0, "missing key '%s' in section [tls]%s", missing,
                            need_tls && tls_line == 0 ? " (required for a cluster of more than one member)" : "");
        return 0;
}

/* ---- public ----------------------------------------------------------- */

Conf *conf_free(Conf *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < conf_keys_count; i++) {
                ConfType t = conf_keys[i].type;
                if (t == CONF_TYPE_STRING || t == CONF_TYPE_PATH || t == CONF_TYPE_SOCKET_PATH ||
                    t == CONF_TYPE_NAME || t == CONF_TYPE_ADDRESS)
                        free(*(char **) ((uint8_t *) c + conf_keys[i].offset));
        }
        members_free(c->members, c->n_members);
        free(c->path);
        return mfree(c);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Conf *, conf_free);

int conf_parse(const char *path, const char *text, size_t len, Conf **ret, char **ret_error) {
        _cleanup_(conf_freep) Conf *c = NULL;
        Parser p = { .path = path };
        int r;

        assert(path);
        assert(text || len == 0);
        assert(ret);

        c = calloc(1, sizeof(Conf));
        if (!c)
                return -ENOMEM;
        c->path = strdup(path);
        if (!c->path)
                return -ENOMEM;
        p.conf = c;

        r = parse_text(&p, text, len);
        if (r >= 0)
                r = apply_defaults(&p);
        if (r >= 0)
                r = check_timing(&p);
        if (r >= 0)
                r = check_cluster(&p);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(p.error);
                free(p.error);
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int conf_load(const char *path, Conf **ret, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        struct stat st;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                goto fail;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto fail;
        }
        if (S_ISDIR(st.st_mode)) {
                r = -EISDIR;
                goto fail;
        }
        text = malloc(CONF_FILE_MAX_BYTES + 1);
        if (!text)
                return -ENOMEM;
        /* Read to EOF rather than trusting st_size: /dev/stdin and pipes work too. */
        for (;;) {
                ssize_t k = read(fd, text + len, CONF_FILE_MAX_BYTES + 1 - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len > CONF_FILE_MAX_BYTES) {
                        r = -EFBIG;
                        goto fail;
                }
        }
        return conf_parse(path, text, len, ret, ret_error);

fail:
        if (ret_error && asprintf(ret_error, "%s: %s", path,
                                  r == -EFBIG ? "file larger than 1 MiB" : strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
}

const ConfMember *conf_member_find(const Conf *c, const char *name) {
        for (size_t i = 0; i < c->n_members; i++)
                if (strcmp(c->members[i].name, name) == 0)
                        return &c->members[i];
        return NULL;
}

static void dump_size(uint64_t v, FILE *f) {
        static const char suffix[] = "KMGT";
        int s = -1;

        while (v >= 1024 && v % 1024 == 0 && s < 3) {
                v /= 1024;
                s++;
        }
        if (s >= 0)
                fprintf(f, "%" PRIu64 "%c", v, suffix[s]);
        else
                fprintf(f, "%" PRIu64, v);
}

static void dump_value(const Conf *c, const ConfKey *k, FILE *f) {
        const uint8_t *base = (const uint8_t *) c;

        switch (k->type) {
        case CONF_TYPE_MEMBERS:
                for (size_t i = 0; i < c->n_members; i++)
                        fprintf(f, "%s%s=%s", i > 0 ? ", " : "", c->members[i].name, c->members[i].address);
                break;
        case CONF_TYPE_BOOL:
                fputs(*(const bool *) (base + k->offset) ? "yes" : "no", f);
                break;
        case CONF_TYPE_UINT:
        case CONF_TYPE_MSEC:
                fprintf(f, "%" PRIu64, *(const uint64_t *) (const void *) (base + k->offset));
                break;
        case CONF_TYPE_SIZE:
                dump_size(*(const uint64_t *) (const void *) (base + k->offset), f);
                break;
        case CONF_TYPE_CONSISTENCY:
                fputs(c->consistency == CONF_CONSISTENCY_LOCAL ? "local" : "linearizable", f);
                break;
        default:
                fputs(*(char *const *) (base + k->offset), f);
                break;
        }
}

void conf_dump(const Conf *c, FILE *f) {
        const char *section = NULL;

        fprintf(f, "# effective configuration read from %s\n", c->path);
        for (size_t i = 0; i < conf_keys_count; i++) {
                const ConfKey *k = &conf_keys[i];
                bool unset = false;

                if (!section || strcmp(section, k->section) != 0) {
                        section = k->section;
                        fprintf(f, "%s[%s]\n", i > 0 ? "\n" : "", section);
                }
                if (k->type == CONF_TYPE_MEMBERS)
                        unset = c->n_members == 0;
                else if (k->type <= CONF_TYPE_ADDRESS)
                        unset = !*(char *const *) ((const uint8_t *) c + k->offset);
                if (unset) {
                        fprintf(f, "# %s = (not set)\n", k->name);
                        continue;
                }
                fprintf(f, "%s = ", k->name);
                dump_value(c, k, f);
                fputc('\n', f);
        }
}
