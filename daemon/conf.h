/* conf.h — raftfs.conf(5): the daemon's configuration file.
 *
 * (Named conf.h, not config.h: every .c file starts with #include "config.h",
 * which must find autoconf's header, and a quoted include looks in the
 * including file's own directory first.)
 *
 * The file is INI style. Sections and keys are fixed (see conf_keys[]);
 * unknown sections or keys, duplicate keys, malformed values and missing
 * required keys are errors reported as "FILE:LINE: message". The parsed
 * result is a plain struct of values, public on purpose: every consumer
 * (daemon, fusefs, raftfsctl) only reads it, and the fields carry their
 * units in their names.
 *
 * Syntax, in short (raftfs.conf(5) has the full text):
 *   - "[section]" lines start a section; "key = value" lines set a key of the
 *     current section. Surrounding whitespace is trimmed.
 *   - '#' or ';' at the start of a line, or after whitespace, starts a
 *     comment that runs to the end of the line. Blank lines are ignored.
 *   - Sizes: a decimal number with an optional K, M, G or T suffix (powers
 *     of 1024, case-insensitive). Durations: milliseconds, a plain number
 *     with an optional "ms" suffix. Booleans: yes/no, true/false, on/off, 1/0.
 *   - Node names: [a-z0-9][a-z0-9._-]{0,62}. Addresses: IP:PORT with an IPv4
 *     address or a bracketed IPv6 address; no host names (the peer layer
 *     never resolves: a lookup would block the event loop).
 *   - Paths must be absolute. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_DEFAULT_PATH "/etc/raftfs/raftfs.conf"

/* Limits on the file itself: input that exceeds them is refused. */
#define CONF_FILE_MAX_BYTES (1024 * 1024)
#define CONF_LINE_MAX_BYTES 4096
#define CONF_NODE_NAME_MAX 63
#define CONF_MEMBERS_MAX 64

typedef enum ConfConsistency {
        CONF_CONSISTENCY_LINEARIZABLE = 0,
        CONF_CONSISTENCY_LOCAL = 1,
} ConfConsistency;

typedef struct ConfMember {
        char *name;
        char *address;          /* IP:PORT as written */
} ConfMember;

typedef struct Conf {
        char *path;             /* the file this was read from */

        /* [node] */
        char *node_name;
        char *listen;           /* IP:PORT for peer connections */
        char *data_dir;
        char *mountpoint;
        char *control_socket;
        char *log_level;        /* NULL: "info"; validated with log_level_from_string() rules */

        /* [cluster] */
        ConfMember *members;    /* initial_members, in file order */
        size_t n_members;
        bool join;              /* start empty and wait to be added */

        /* [tls]; all NULL when the section is absent (single-member cluster) */
        char *tls_ca;
        char *tls_cert;
        char *tls_key;

        /* [raft] */
        uint64_t heartbeat_ms;
        uint64_t election_timeout_ms;
        uint64_t snapshot_entries;

        /* [session] */
        uint64_t session_ttl_ms;
        uint64_t lock_delay_ms;
        uint64_t jeopardy_margin_ms;

        /* [fuse] */
        bool mount;
        bool allow_other;
        ConfConsistency consistency;
        uint64_t max_file_size;
        uint64_t max_total_size;
        uint64_t max_name_length;
        uint64_t op_timeout_ms;
} Conf;

typedef enum ConfType {
        CONF_TYPE_STRING,       /* free text (log_level) */
        CONF_TYPE_PATH,         /* absolute path */
        CONF_TYPE_SOCKET_PATH,  /* absolute path that fits sockaddr_un */
        CONF_TYPE_NAME,         /* node name */
        CONF_TYPE_ADDRESS,      /* IP:PORT */
        CONF_TYPE_MEMBERS,      /* NAME=IP:PORT, ... */
        CONF_TYPE_BOOL,
        CONF_TYPE_UINT,         /* plain count */
        CONF_TYPE_SIZE,         /* bytes, K/M/G/T suffixes */
        CONF_TYPE_MSEC,         /* milliseconds */
        CONF_TYPE_CONSISTENCY,  /* linearizable | local */
        _CONF_TYPE_MAX,
} ConfType;

typedef enum ConfKeyFlags {
        CONF_KEY_REQUIRED    = 1 << 0,  /* must be set in the file */
        CONF_KEY_CONDITIONAL = 1 << 1,  /* required in some cases, see description */
        CONF_KEY_DERIVED     = 1 << 2,  /* default computed from other keys */
} ConfKeyFlags;

/* One key of the file. `default_value` is the documented default as it
 * would be written in the file ("yes", "1M", "10000"), a formula for a
 * CONF_KEY_DERIVED key ("ttl_ms/5"), or NULL for a key that is required or
 * has no value unless set. min/max bound numeric values (inclusive). This
 * table is the single source of truth for the parser, `raftfsd
 * --dump-config` and the manual-page drift test. */
typedef struct ConfKey {
        const char *section;
        const char *name;
        ConfType type;
        ConfKeyFlags flags;
        const char *default_value;
        uint64_t min, max;
        size_t offset;          /* of the field in Conf */
        const char *description;
} ConfKey;

extern const ConfKey conf_keys[];
extern const size_t conf_keys_count;

/* The name of a type as the manual writes it ("size", "milliseconds", ...). */
const char *conf_type_to_string(ConfType t);

/* Parses `len` bytes of configuration text. `path` names the source in
 * error messages and is copied into the result. On success stores a new Conf
 * in *ret (free with conf_free()) and returns 0. On failure returns -EINVAL
 * (syntax, unknown or duplicate key, bad value, missing key, inconsistent
 * values) or -ENOMEM, and, when ret_error is not NULL, stores a malloc'd
 * "PATH:LINE: message" (or "PATH: message" for errors without a line) in
 * *ret_error. *ret is untouched on failure. */
int conf_parse(const char *path, const char *text, size_t len, Conf **ret, char **ret_error);

/* Reads and parses the file at `path`. Errors as conf_parse(), plus the
 * negative errno of open/read (with a message "PATH: ...") and -EFBIG when
 * the file is larger than CONF_FILE_MAX_BYTES. */
int conf_load(const char *path, Conf **ret, char **ret_error);

/* Frees a Conf. Takes NULL; returns NULL. */
Conf *conf_free(Conf *c);

/* Writes the effective configuration (every key, defaults included) in the
 * file's own syntax; reading the output back gives an equal Conf. */
void conf_dump(const Conf *c, FILE *f);

/* The member entry named `name`, or NULL. */
const ConfMember *conf_member_find(const Conf *c, const char *name);

/* Validators shared with raftfsctl (member add) and the control server.
 * They return true when the string is acceptable. */
bool conf_node_name_is_valid(const char *s);
bool conf_address_is_valid(const char *s);

/* Splits "IP:PORT" (IP may be "[v6]") into a malloc'd host without
 * brackets and the port. 0, -EINVAL for a malformed address, -ENOMEM. */
int conf_address_split(const char *s, char **ret_host, uint16_t *ret_port);

/* Parsers for single values, exported for tests and raftfsctl.
 * Each returns 0 and stores the value, or -EINVAL/-ERANGE (untouched). */
int conf_parse_size(const char *s, uint64_t *ret);
int conf_parse_bool(const char *s, bool *ret);
int conf_parse_msec(const char *s, uint64_t *ret);
