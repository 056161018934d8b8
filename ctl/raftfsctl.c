#include "config.h"

/* raftfsctl.c — the administration command of raftfs.
 *
 *     raftfsctl [-c FILE | -s SOCKET] COMMAND [ARGS]
 *
 * Every command but `cert` talks to the local raftfsd over its control
 * socket (daemon/control-proto.h). The socket is found from -s, else from
 * the control_socket key of -c FILE, else of /etc/raftfs/raftfs.conf when
 * that file exists, else /run/raftfs/control.sock.
 *
 * JSON output (--json) is a stable interface; fields are only ever added:
 *
 *   status:  {"node": str, "version": str, "role": "none"|"follower"|
 *             "candidate"|"leader"|"learner", "term": int, "leader": str|null,
 *             "commit": int, "applied": int, "last_index": int,
 *             "voters": int, "learners": int, "quorum": bool, "ready": bool,
 *             "session": {"state": "none"|"ok"|"jeopardy"|"expired"|
 *             "stopping", "id": int, "valid_ms": int},
 *             "session_ttl_ms": int, "uptime_ms": int, "mountpoint": str|null}
 *   members: {"members": [{"name": str, "address": str, "role": str,
 *             "leader": bool, "self": bool, "connected": bool,
 *             "match_index": int|null, "last_contact_ms": int|null}, ...]}
 *            (match_index and last_contact_ms are known on the leader only) */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "daemon/conf.h"
#include "daemon/control-proto.h"
#include "lib/crc32c.h"
#include "lib/macro.h"

#define DEFAULT_SOCKET "/run/raftfs/control.sock"
#define CALL_TIMEOUT_MS 30000

/* ---- shared helpers ---------------------------------------------------- */

int ctl_fail(const char *format, ...) {
        va_list ap;

        fputs("raftfsctl: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return EXIT_ERROR;
}

int ctl_usage(const char *format, ...) {
        va_list ap;

        fputs("raftfsctl: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputs("\nTry 'raftfsctl --help'.\n", stderr);
        return EXIT_USAGE;
}

/* Finds the socket: -s, else -c FILE's control_socket, else the default
 * config's when that file exists, else the default socket. */
static int resolve_socket(Ctl *ctl) {
        _cleanup_free_ char *error = NULL;
        const char *path = ctl->config_path;
        int r;

        if (ctl->socket_path)
                return 0;
        if (!path && access(CONF_DEFAULT_PATH, F_OK) < 0) {
                ctl->socket_path = DEFAULT_SOCKET;
                return 0;
        }
        r = conf_load(path ? path : CONF_DEFAULT_PATH, &ctl->conf, &error);
        if (r < 0)
                return ctl_fail("%s", error ? error : strerror(-r));
        ctl->socket_path = ctl->conf->control_socket;
        return 0;
}

int ctl_connect(Ctl *ctl) {
        int r;

        if (ctl->client)
                return 0;
        r = resolve_socket(ctl);
        if (r != 0)
                return r;
        r = ctl_client_connect(ctl->socket_path, &ctl->client);
        if (r < 0)
                return ctl_fail("cannot reach raftfsd at %s: %s%s", ctl->socket_path, strerror(-r),
                                r == -ENOENT || r == -ECONNREFUSED ? " (is raftfsd running?)" :
                                r == -EACCES ? " (root or group raftfs needed)" : "");
        return 0;
}

int ctl_fail_frame(const char *what, const CtlFrame *f) {
        _cleanup_free_ char *msg = NULL;
        int error;

        if (f->type != CTL_RESP_ERROR || ctl_get_error(f, &error, &msg) < 0)
                return ctl_fail("%s: unexpected answer '%s' from raftfsd", what, ctl_type_to_string(f->type));
        if (msg[0])
                return ctl_fail("%s: %s (%s)", what, msg, strerror(-error));
        return ctl_fail("%s: %s", what, strerror(-error));
}

int ctl_fail_io(Ctl *ctl, const char *what, int r) {
        if (r == -ECONNRESET || r == -EPIPE)
                return ctl_fail("%s: raftfsd closed the connection", what);
        if (r == -ETIMEDOUT)
                return ctl_fail("%s: raftfsd did not answer in time", what);
        if (r == -EPROTONOSUPPORT)
                return ctl_fail("%s: raftfsd speaks another control protocol version (this raftfsctl: %d)",
                                what, CTL_PROTO_VERSION);
        return ctl_fail("%s: %s", what, strerror(-r));
}

/* Sends a request of `type` with an empty payload (or the one in req) and
 * waits for its answer. 0 with *ret, or EXIT_ERROR after printing. */
static int call(Ctl *ctl, const char *what, Buf *req, uint32_t id, int timeout_ms, CtlFrame *ret) {
        int r;

        r = ctl_connect(ctl);
        if (r != 0)
                return r;
        r = ctl_client_call(ctl->client, req, id, timeout_ms, ret);
        if (r < 0)
                return ctl_fail_io(ctl, what, r);
        if (ret->type == CTL_RESP_ERROR)
                return ctl_fail_frame(what, ret);
        return 0;
}

static int call_empty(Ctl *ctl, const char *what, uint8_t type, CtlFrame *ret) {
        Buf req = BUF_INIT;
        uint32_t id;
        int r;

        r = ctl_connect(ctl);
        if (r != 0)
                return r;
        id = ctl_client_next_id(ctl->client);
        if (ctl_put_empty(&req, type, id) < 0)
                return ctl_fail("out of memory");
        r = call(ctl, what, &req, id, CALL_TIMEOUT_MS, ret);
        buf_done(&req);
        return r;
}

static void json_string(const char *s) {
        putchar('"');
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        printf("\\%c", *p);
                else if (*p < 0x20)
                        printf("\\u%04x", *p);
                else
                        putchar(*p);
        }
        putchar('"');
}

static void json_string_or_null(const char *s) {
        if (s && s[0])
                json_string(s);
        else
                fputs("null", stdout);
}

/* Parses "--json" as the only option of status/members. */
static int parse_json_flag(int argc, char **argv, const char *cmd, bool *ret) {
        *ret = false;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0)
                        *ret = true;
                else
                        return ctl_usage("%s: unexpected argument '%s'", cmd, argv[i]);
        }
        return 0;
}

/* ---- status and members ------------------------------------------------ */

static void format_duration(uint64_t ms, char *buf, size_t size) {
        uint64_t s = ms / 1000;

        if (s >= 86400)
                snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", s / 86400, s / 3600 % 24, s / 60 % 60);
        else if (s >= 3600)
                snprintf(buf, size, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", s / 3600, s / 60 % 60, s % 60);
        else if (s >= 60)
                snprintf(buf, size, "%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
        else
                snprintf(buf, size, "%" PRIu64 ".%03" PRIu64 "s", s, ms % 1000);
}

static void print_status_json(const CtlStatus *s) {
        fputs("{\"node\": ", stdout);
        json_string(s->node);
        fputs(", \"version\": ", stdout);
        json_string(s->version);
        printf(", \"role\": \"%s\", \"term\": %" PRIu64 ", \"leader\": ", ctl_role_to_string(s->role), s->term);
        json_string_or_null(s->leader);
        printf(", \"commit\": %" PRIu64 ", \"applied\": %" PRIu64 ", \"last_index\": %" PRIu64
               ", \"voters\": %" PRIu32 ", \"learners\": %" PRIu32 ", \"quorum\": %s, \"ready\": %s"
               ", \"session\": {\"state\": \"%s\", \"id\": %" PRIu64 ", \"valid_ms\": %" PRIu64 "}"
               ", \"session_ttl_ms\": %" PRIu64 ", \"uptime_ms\": %" PRIu64 ", \"mountpoint\": ",
               s->commit, s->applied, s->last_index, s->voters, s->learners,
               s->quorum ? "true" : "false", s->ready ? "true" : "false",
               ctl_session_state_to_string(s->session.state), s->session.id, s->session.valid_ms,
               s->session_ttl_ms, s->uptime_ms);
        json_string_or_null(s->mountpoint);
        fputs("}\n", stdout);
}

static void print_status_text(const CtlStatus *s) {
        char uptime[64];

        format_duration(s->uptime_ms, uptime, sizeof(uptime));
        printf("node:        %s\n", s->node);
        printf("version:     %s\n", s->version);
        printf("role:        %s\n", ctl_role_to_string(s->role));
        printf("term:        %" PRIu64 "\n", s->term);
        printf("leader:      %s\n", s->leader[0] ? s->leader : "(unknown)");
        printf("commit:      %" PRIu64 "\n", s->commit);
        printf("applied:     %" PRIu64 "\n", s->applied);
        printf("last index:  %" PRIu64 "\n", s->last_index);
        printf("members:     %" PRIu32 " voter%s, %" PRIu32 " learner%s\n", s->voters,
               s->voters == 1 ? "" : "s", s->learners, s->learners == 1 ? "" : "s");
        printf("quorum:      %s\n", s->quorum ? "yes" : "no");
        printf("ready:       %s\n", s->ready ? "yes" : "no");
        if (s->session.state == CTL_SESSION_OK)
                printf("session:     ok (id %" PRIu64 ", safe for %" PRIu64 " ms)\n", s->session.id,
                       s->session.valid_ms);
        else if (s->session.id)
                printf("session:     %s (id %" PRIu64 ")\n", ctl_session_state_to_string(s->session.state),
                       s->session.id);
        else
                printf("session:     %s\n", ctl_session_state_to_string(s->session.state));
        printf("mountpoint:  %s\n", s->mountpoint[0] ? s->mountpoint : "(not mounted)");
        printf("uptime:      %s\n", uptime);
}

static int cmd_status(Ctl *ctl, int argc, char **argv) {
        _cleanup_(ctl_status_done) CtlStatus s = {};
        CtlFrame f;
        bool json;
        int r;

        r = parse_json_flag(argc, argv, "status", &json);
        if (r != 0)
                return r;
        r = call_empty(ctl, "status", CTL_REQ_STATUS, &f);
        if (r != 0)
                return r;
        if (f.type != CTL_RESP_STATUS || ctl_get_status(&f, &s) < 0)
                return ctl_fail("status: malformed answer from raftfsd");
        if (json)
                print_status_json(&s);
        else
                print_status_text(&s);
        return EXIT_OK;
}

static void print_members_json(const CtlMember *m, size_t n) {
        fputs("{\"members\": [", stdout);
        for (size_t i = 0; i < n; i++) {
                fputs(i ? ", {\"name\": " : "{\"name\": ", stdout);
                json_string(m[i].name);
                fputs(", \"address\": ", stdout);
                json_string(m[i].address);
                printf(", \"role\": \"%s\", \"leader\": %s, \"self\": %s, \"connected\": %s, \"match_index\": ",
                       ctl_role_to_string(m[i].role), m[i].flags & CTL_MEMBER_LEADER ? "true" : "false",
                       m[i].flags & CTL_MEMBER_SELF ? "true" : "false",
                       m[i].flags & CTL_MEMBER_CONNECTED ? "true" : "false");
                if (m[i].match_index)
                        printf("%" PRIu64, m[i].match_index);
                else
                        fputs("null", stdout);
                fputs(", \"last_contact_ms\": ", stdout);
                if (m[i].last_contact_ms != UINT64_MAX)
                        printf("%" PRIu64 "}", m[i].last_contact_ms);
                else
                        fputs("null}", stdout);
        }
        fputs("]}\n", stdout);
}

static void print_members_text(const CtlMember *m, size_t n) {
        int wn = 4, wa = 7;

        for (size_t i = 0; i < n; i++) {
                wn = MAX(wn, (int) strlen(m[i].name));
                wa = MAX(wa, (int) strlen(m[i].address));
        }
        printf("%-*s  %-*s  %-9s  %-6s  %-9s  %10s  %s\n", wn, "NAME", wa, "ADDRESS", "ROLE", "LEADER",
               "CONNECTED", "MATCH", "LAST-CONTACT");
        for (size_t i = 0; i < n; i++) {
                char match[24] = "-", contact[32] = "-";

                if (m[i].match_index)
                        snprintf(match, sizeof(match), "%" PRIu64, m[i].match_index);
                if (m[i].flags & CTL_MEMBER_SELF)
                        snprintf(contact, sizeof(contact), "(self)");
                else if (m[i].last_contact_ms != UINT64_MAX)
                        snprintf(contact, sizeof(contact), "%" PRIu64 " ms ago", m[i].last_contact_ms);
                printf("%-*s  %-*s  %-9s  %-6s  %-9s  %10s  %s\n", wn, m[i].name, wa, m[i].address,
                       ctl_role_to_string(m[i].role), m[i].flags & CTL_MEMBER_LEADER ? "*" : "",
                       m[i].flags & CTL_MEMBER_CONNECTED ? "yes" : "no", match, contact);
        }
}

static int cmd_members(Ctl *ctl, int argc, char **argv) {
        CtlMember *m = NULL;
        size_t n = 0;
        CtlFrame f;
        bool json;
        int r;

        r = parse_json_flag(argc, argv, "members", &json);
        if (r != 0)
                return r;
        r = call_empty(ctl, "members", CTL_REQ_MEMBERS, &f);
        if (r != 0)
                return r;
        if (f.type != CTL_RESP_MEMBERS || ctl_get_members(&f, &m, &n) < 0)
                return ctl_fail("members: malformed answer from raftfsd");
        if (json)
                print_members_json(m, n);
        else
                print_members_text(m, n);
        ctl_members_free(m, n);
        return EXIT_OK;
}

/* ---- membership and leadership ----------------------------------------- */

/* Sends a string request and prints the daemon's OK message. No timeout:
 * the daemon bounds these operations itself, and Ctrl-C works. */
static int call_op(Ctl *ctl, const char *what, uint8_t type, const char *a, const char *b,
                   const char *default_message) {
        _cleanup_free_ char *msg = NULL;
        Buf req = BUF_INIT;
        CtlFrame f;
        uint32_t id;
        int r;

        r = ctl_connect(ctl);
        if (r != 0)
                return r;
        id = ctl_client_next_id(ctl->client);
        if (ctl_put_strings(&req, type, id, a, b) < 0)
                return ctl_fail("%s: argument too long", what);
        r = call(ctl, what, &req, id, -1, &f);
        buf_done(&req);
        if (r != 0)
                return r;
        if (f.type != CTL_RESP_OK || ctl_get_string(&f, &msg) < 0)
                return ctl_fail("%s: unexpected answer from raftfsd", what);
        printf("%s\n", msg[0] ? msg : default_message);
        return EXIT_OK;
}

static int cmd_member(Ctl *ctl, int argc, char **argv) {
        char done[160];

        if (argc < 2)
                return ctl_usage("member: expected 'add NAME ADDRESS' or 'remove NAME'");
        if (strcmp(argv[1], "add") == 0) {
                if (argc != 4)
                        return ctl_usage("member add: expected NAME ADDRESS");
                if (!conf_node_name_is_valid(argv[2]))
                        return ctl_usage("member add: invalid node name '%s'", argv[2]);
                if (!conf_address_is_valid(argv[3]))
                        return ctl_usage("member add: invalid address '%s' (expected IP:PORT, IPv6 in brackets)",
                                         argv[3]);
                snprintf(done, sizeof(done), "Added %s at %s as a learner; it becomes a voter once caught up.",
                         argv[2], argv[3]);
                return call_op(ctl, "member add", CTL_REQ_MEMBER_ADD, argv[2], argv[3], done);
        }
        if (strcmp(argv[1], "remove") == 0) {
                if (argc != 3)
                        return ctl_usage("member remove: expected NAME");
                if (!conf_node_name_is_valid(argv[2]))
                        return ctl_usage("member remove: invalid node name '%s'", argv[2]);
                snprintf(done, sizeof(done), "Removed %s.", argv[2]);
                return call_op(ctl, "member remove", CTL_REQ_MEMBER_REMOVE, argv[2], NULL, done);
        }
        return ctl_usage("member: unknown subcommand '%s'", argv[1]);
}

static int cmd_leader(Ctl *ctl, int argc, char **argv) {
        if (argc < 2 || strcmp(argv[1], "transfer") != 0)
                return ctl_usage("leader: expected 'transfer [NAME]'");
        if (argc > 3)
                return ctl_usage("leader transfer: too many arguments");
        if (argc == 3 && !conf_node_name_is_valid(argv[2]))
                return ctl_usage("leader transfer: invalid node name '%s'", argv[2]);
        return call_op(ctl, "leader transfer", CTL_REQ_LEADER_TRANSFER, argc == 3 ? argv[2] : "", NULL,
                       "Leadership transferred.");
}

/* ---- snapshot save ----------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Receives DATA frames into fd until SNAPSHOT_END, checking size and CRC. */
static int receive_snapshot(Ctl *ctl, int fd, uint32_t id, CtlSnapshotEnd *ret) {
        uint64_t size = 0;
        uint32_t crc = 0;

        for (;;) {
                const uint8_t *data;
                size_t len;
                CtlFrame f;
                int r;

                r = ctl_client_read(ctl->client, -1, &f);
                if (r < 0)
                        return ctl_fail_io(ctl, "snapshot save", r);
                if (f.id != id)
                        continue;
                if (f.type == CTL_RESP_ERROR)
                        return ctl_fail_frame("snapshot save", &f);
                if (f.type == CTL_RESP_SNAPSHOT_END) {
                        if (ctl_get_snapshot_end(&f, ret) < 0)
                                return ctl_fail("snapshot save: malformed answer from raftfsd");
                        if (ret->size != size || ret->crc32c != crc)
                                return ctl_fail("snapshot save: received %" PRIu64 " bytes with CRC %08x, "
                                                "daemon sent %" PRIu64 " with %08x", size, crc, ret->size,
                                                ret->crc32c);
                        return 0;
                }
                if (f.type != CTL_RESP_DATA || ctl_get_data(&f, &data, &len) < 0)
                        return ctl_fail("snapshot save: malformed answer from raftfsd");
                r = write_all(fd, data, len);
                if (r < 0)
                        return ctl_fail("snapshot save: write failed: %s", strerror(-r));
                crc = crc32c(crc, data, len);
                size += len;
        }
}

static int cmd_snapshot(Ctl *ctl, int argc, char **argv) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        CtlSnapshotEnd end;
        Buf req = BUF_INIT;
        uint32_t id;
        int r;

        if (argc != 3 || strcmp(argv[1], "save") != 0)
                return ctl_usage("snapshot: expected 'save FILE'");
        r = ctl_connect(ctl);
        if (r != 0)
                return r;
        if (asprintf(&tmp, "%s.tmp-XXXXXX", argv[2]) < 0)
                return ctl_fail("out of memory");
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return ctl_fail("snapshot save: cannot create '%s': %m", tmp);

        id = ctl_client_next_id(ctl->client);
        r = ctl_put_empty(&req, CTL_REQ_SNAPSHOT_SAVE, id);
        if (r >= 0)
                r = ctl_client_send(ctl->client, &req);
        buf_done(&req);
        if (r < 0)
                r = ctl_fail_io(ctl, "snapshot save", r);
        else
                r = receive_snapshot(ctl, fd, id, &end);
        if (r == 0 && fsync(fd) < 0)
                r = ctl_fail("snapshot save: fsync failed: %m");
        if (r == 0 && rename(tmp, argv[2]) < 0)
                r = ctl_fail("snapshot save: cannot rename to '%s': %m", argv[2]);
        if (r != 0) {
                (void) unlink(tmp);
                return r;
        }
        printf("Saved snapshot at index %" PRIu64 " (term %" PRIu64 "), %" PRIu64 " bytes, to %s.\n",
               end.index, end.term, end.size, argv[2]);
        return EXIT_OK;
}

/* ---- watch, metrics ---------------------------------------------------- */

static int cmd_watch(Ctl *ctl, int argc, char **argv) {
        bool recursive = false;
        const char *path = NULL;
        Buf req = BUF_INIT;
        CtlFrame f;
        uint32_t id;
        int r;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "--recursive") == 0)
                        recursive = true;
                else if (argv[i][0] == '-' && argv[i][1])
                        return ctl_usage("watch: unknown option '%s'", argv[i]);
                else if (path)
                        return ctl_usage("watch: more than one PATH");
                else
                        path = argv[i];
        }
        if (!path)
                return ctl_usage("watch: expected PATH");
        if (path[0] != '/')
                return ctl_usage("watch: PATH must be absolute within the tree (e.g. /app/db.conf)");

        r = ctl_connect(ctl);
        if (r != 0)
                return r;
        id = ctl_client_next_id(ctl->client);
        if (ctl_put_watch(&req, id, path, recursive) < 0)
                return ctl_fail("watch: path too long");
        r = call(ctl, "watch", &req, id, CALL_TIMEOUT_MS, &f);
        buf_done(&req);
        if (r != 0)
                return r;
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (;;) {
                _cleanup_(ctl_change_done) CtlChange ch = {};

                r = ctl_client_read(ctl->client, -1, &f);
                if (r < 0)
                        return ctl_fail_io(ctl, "watch", r);
                if (f.id != id)
                        continue;
                if (f.type == CTL_RESP_ERROR)
                        return ctl_fail_frame("watch", &f);
                if (f.type != CTL_EVT_CHANGE || ctl_get_change(&f, &ch) < 0)
                        return ctl_fail("watch: malformed event from raftfsd");
                printf("%" PRIu64 " %s %s\n", ch.index, ch.kind, ch.path);
        }
}

static int cmd_metrics(Ctl *ctl, int argc, char **argv) {
        _cleanup_free_ char *text = NULL;
        CtlFrame f;
        int r;

        if (argc != 1)
                return ctl_usage("metrics: unexpected argument '%s'", argv[1]);
        r = call_empty(ctl, "metrics", CTL_REQ_METRICS, &f);
        if (r != 0)
                return r;
        if (f.type != CTL_RESP_TEXT || ctl_get_string(&f, &text) < 0)
                return ctl_fail("metrics: malformed answer from raftfsd");
        fputs(text, stdout);
        return EXIT_OK;
}

/* ---- main -------------------------------------------------------------- */

static void help(void) {
        printf("Usage: raftfsctl [-c FILE | -s SOCKET] COMMAND [ARGS]\n"
               "\n"
               "Administer the local raftfs node.\n"
               "\n"
               "Options:\n"
               "  -c, --config FILE    Find the control socket in FILE (default %s)\n"
               "  -s, --socket SOCKET  Talk to the daemon at SOCKET (default %s)\n"
               "  -h, --help           Show this help\n"
               "      --version        Show the version\n"
               "\n"
               "Commands:\n"
               "  status [--json]                 State of this node\n"
               "  members [--json]                Cluster members and their progress\n"
               "  member add NAME ADDRESS         Add a member (learner until caught up)\n"
               "  member remove NAME              Remove a member\n"
               "  leader transfer [NAME]          Hand leadership to NAME or the best voter\n"
               "  snapshot save FILE              Save a snapshot of the whole tree\n"
               "  watch [-r|--recursive] PATH     Print committed changes at (or under) PATH\n"
               "  metrics                         Print metrics (Prometheus text format)\n"
               "  lock [OPTIONS] PATH -- COMMAND [ARG...]\n"
               "                                  Run COMMAND holding a cluster lock on PATH\n"
               "                                  (a file in the mount); exports RAFTFS_FENCE\n"
               "      -n, --nonblock              Fail at once when the lock is held\n"
               "      -w, --wait, --timeout SECONDS  Give up after SECONDS\n"
               "      -s, --shared                Take a shared lock\n"
               "      -k, --kill-after SECONDS    SIGKILL the command SECONDS after SIGTERM (5)\n"
               "  cert ca [--force] [--key-type p256|ed25519] DIR\n"
               "                                  Create the cluster CA in DIR\n"
               "  cert node --ca DIR [--ip IP]... [--dns NAME]... [--out DIR] [--force] NAME\n"
               "                                  Issue a certificate for node NAME\n"
               "\n"
               "Exit status: 0 success, 1 failure (daemon unreachable, refused), 2 usage\n"
               "error; lock: the status of COMMAND (1 if the lock was not acquired).\n",
               CONF_DEFAULT_PATH, DEFAULT_SOCKET);
}

int main(int argc, char **argv) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "socket", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        static const struct {
                const char *name;
                int (*fn)(Ctl *ctl, int argc, char **argv);
        } commands[] = {
                { "status", cmd_status },
                { "members", cmd_members },
                { "member", cmd_member },
                { "leader", cmd_leader },
                { "snapshot", cmd_snapshot },
                { "watch", cmd_watch },
                { "metrics", cmd_metrics },
                { "lock", ctl_cmd_lock },
        };
        Ctl ctl = {};
        int c, r;

        while ((c = getopt_long(argc, argv, "+c:s:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        ctl.config_path = optarg;
                        break;
                case 's':
                        ctl.socket_path = optarg;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case ARG_VERSION:
                        printf("raftfsctl %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                default:
                        fputs("Try 'raftfsctl --help'.\n", stderr);
                        return EXIT_USAGE;
                }
        }
        if (ctl.config_path && ctl.socket_path)
                return ctl_usage("-c and -s exclude each other");
        if (optind >= argc)
                return ctl_usage("missing COMMAND");

        argc -= optind;
        argv += optind;
        if (strcmp(argv[0], "cert") == 0)
                return ctl_cmd_cert(argc, argv);
        if (strcmp(argv[0], "help") == 0) {
                help();
                return EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                if (strcmp(argv[0], commands[i].name) != 0)
                        continue;
                r = commands[i].fn(&ctl, argc, argv);
                ctl_client_free(ctl.client);
                conf_free(ctl.conf);
                return r;
        }
        return ctl_usage("unknown command '%s'", argv[0]);
}
