#include "config.h"
/* test-config.c — unit tests for daemon/conf.c (raftfs.conf parsing).
 *
 * Every error path is exercised through a table of (input, expected message
 * fragment, expected line) so that a change in wording or line reporting
 * shows up here; valid inputs check values, defaults and the dump/parse
 * round trip. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "lib/macro.h"

#define MIN3 "[node]\nname = n1\nlisten = 127.0.0.1:7001\n" \
             "[cluster]\ninitial_members = n1=127.0.0.1:7001\n"

#define TLS "[tls]\nca = /etc/raftfs/tls/ca.crt\ncert = /etc/raftfs/tls/n1.crt\n" \
            "key = /etc/raftfs/tls/n1.key\n"

static Conf *parse_ok(const char *text) {
        Conf *c = NULL;
        char *err = NULL;
        int r = conf_parse("test.conf", text, strlen(text), &c, &err);
        if (r < 0)
                ck_abort_msg("unexpected error %d: %s\n--- input:\n%s", r, err ? err : "(none)", text);
        ck_assert_ptr_null(err);
        ck_assert_ptr_nonnull(c);
        return c;
}

static char *parse_err(const char *text) {
        Conf *c = (Conf *) 0x1;     /* must stay untouched */
        char *err = NULL;
        int r = conf_parse("test.conf", text, strlen(text), &c, &err);
        if (r >= 0)
                ck_abort_msg("input was accepted:\n%s", text);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_ptr_eq(c, (Conf *) 0x1);
        ck_assert_ptr_nonnull(err);
        return err;
}

/* ---- defaults and a full file ------------------------------------------ */

START_TEST(test_defaults) {
        Conf *c = parse_ok(MIN3);

        ck_assert_str_eq(c->node_name, "n1");
        ck_assert_str_eq(c->listen, "127.0.0.1:7001");
        ck_assert_str_eq(c->data_dir, "/var/lib/raftfs");
        ck_assert_str_eq(c->mountpoint, "/mnt/raftfs");
        ck_assert_str_eq(c->control_socket, "/run/raftfs/control.sock");
        ck_assert_str_eq(c->log_level, "info");
        ck_assert_uint_eq(c->n_members, 1);
        ck_assert(!c->join);
        ck_assert_ptr_null(c->tls_ca);          /* one member: no TLS needed */
        ck_assert_uint_eq(c->heartbeat_ms, 100);
        ck_assert_uint_eq(c->election_timeout_ms, 1000);
        ck_assert_uint_eq(c->snapshot_entries, 10000);
        ck_assert_uint_eq(c->session_ttl_ms, 10000);
        ck_assert_uint_eq(c->lock_delay_ms, 0);
        ck_assert_uint_eq(c->jeopardy_margin_ms, 2000);
        ck_assert(c->mount);
        ck_assert(c->allow_other);
        ck_assert_int_eq(c->consistency, CONF_CONSISTENCY_LINEARIZABLE);
        ck_assert_uint_eq(c->max_file_size, 1024 * 1024);
        ck_assert(c->max_total_size == UINT64_C(1) << 30);
        ck_assert_uint_eq(c->max_name_length, 255);
        ck_assert_uint_eq(c->op_timeout_ms, 10000);
        conf_free(c);
}
END_TEST

/* The example of DESIGN.md §3, comments and all. */
START_TEST(test_design_example) {
        static const char text[] =
                "[node]\n"
                "name = n1\n"
                "listen = 127.0.0.1:7001          # peer (mutual TLS) address of this node\n"
                "data_dir = /var/lib/raftfs\n"
                "mountpoint = /mnt/raftfs\n"
                "control_socket = /run/raftfs/control.sock\n"
                "[cluster]\n"
                "initial_members = n1=127.0.0.1:7001, n2=127.0.0.1:7002, n3=127.0.0.1:7003\n"
                "# used only to bootstrap an empty data_dir; later membership lives in the log\n"
                "[tls]\n"
                "ca = /etc/raftfs/tls/ca.crt\n"
                "cert = /etc/raftfs/tls/n1.crt\n"
                "key = /etc/raftfs/tls/n1.key\n"
                "[raft]\n"
                "heartbeat_ms = 100\n"
                "election_timeout_ms = 1000\n"
                "snapshot_entries = 10000\n"
                "[session]\n"
                "ttl_ms = 10000\n"
                "lock_delay_ms = 0\n"
                "[fuse]\n"
                "allow_other = yes\n"
                "consistency = linearizable\n"
                "max_file_size = 1M\n"
                "op_timeout_ms = 10000\n";
        Conf *c = parse_ok(text);

        ck_assert_uint_eq(c->n_members, 3);
        ck_assert_str_eq(c->members[0].name, "n1");
        ck_assert_str_eq(c->members[2].name, "n3");
        ck_assert_str_eq(c->members[2].address, "127.0.0.1:7003");
        ck_assert_str_eq(c->tls_key, "/etc/raftfs/tls/n1.key");
        ck_assert_ptr_nonnull(conf_member_find(c, "n2"));
        ck_assert_ptr_null(conf_member_find(c, "n4"));
        conf_free(c);
}
END_TEST

START_TEST(test_syntax_variants) {
        /* CRLF, tabs, ';' comments, comment after a header, no final newline,
         * '#' inside a value, upper-case booleans and suffixes. */
        static const char text[] =
                "; leading comment\r\n"
                "\t[ node ]   # trailing\r\n"
                "name\t=\tn1\r\n"
                "listen=[::1]:7001\r\n"
                "data_dir = /srv/raft#fs\r\n"
                "\n"
                "[cluster]\n"
                "initial_members=n1=[::1]:7001\n"
                "[fuse]\n"
                "allow_other = OFF\n"
                "consistency = local\n"
                "max_file_size = 64k\n"
                "max_total_size = 2g\n"
                "op_timeout_ms = 250ms";
        Conf *c = parse_ok(text);

        ck_assert_str_eq(c->listen, "[::1]:7001");
        ck_assert_str_eq(c->data_dir, "/srv/raft#fs");
        ck_assert(!c->allow_other);
        ck_assert_int_eq(c->consistency, CONF_CONSISTENCY_LOCAL);
        ck_assert_uint_eq(c->max_file_size, 65536);
        ck_assert(c->max_total_size == UINT64_C(2) << 30);
        ck_assert_uint_eq(c->op_timeout_ms, 250);
        conf_free(c);
}
END_TEST

START_TEST(test_join) {
        Conf *c = parse_ok("[node]\nname = n4\nlisten = 10.0.0.4:7001\n"
                           "[cluster]\njoin = yes\ninitial_members = n1=10.0.0.1:7001\n" TLS);
        ck_assert(c->join);
        ck_assert_uint_eq(c->n_members, 1);     /* need not include this node */
        conf_free(c);
}
END_TEST

START_TEST(test_derived_margin) {
        Conf *c = parse_ok(MIN3 "[session]\nttl_ms = 20000\n");
        ck_assert_uint_eq(c->jeopardy_margin_ms, 4000);
        conf_free(c);
        c = parse_ok(MIN3 "[session]\nttl_ms = 20000\njeopardy_margin_ms = 500\n");
        ck_assert_uint_eq(c->jeopardy_margin_ms, 500);
        conf_free(c);
}
END_TEST

/* ---- every error path --------------------------------------------------- */

typedef struct BadCase {
        const char *text;
        const char *message;    /* fragment expected in the error */
} BadCase;

static const BadCase bad_cases[] = {
        /* syntax */
        { "name = n1\n", "test.conf:1: key 'name' outside of any section" },
        { "[node\n", "test.conf:1: section header without closing ']'" },
        { "[nodes]\n", "test.conf:1: unknown section [nodes]" },
        { "[]\n", "test.conf:1: unknown section []" },
        { "[node]\nname n1\n", "test.conf:2: expected 'key = value' or '[section]'" },
        { "[node]\n = n1\n", "test.conf:2: missing key name before '='" },
        { "[node]\nnam = n1\n", "test.conf:2: unknown key 'nam' in section [node]" },
        { "[raft]\nttl_ms = 5\n", "test.conf:2: unknown key 'ttl_ms' in section [raft] (it belongs in [session])" },
        { MIN3 "[node]\n", "test.conf:6: section [node] appears twice" },
        { "[node]\nname = n1\nname = n2\n", "test.conf:3: duplicate key 'name' (first set on line 2)" },
        { "[node]\nname =\n", "test.conf:2: name: empty value" },
        { "[node]\nname = # comment only\n", "test.conf:2: name: empty value" },
        /* node names and addresses */
        { "[node]\nname = N1\n", "test.conf:2: name: invalid node name 'N1'" },
        { "[node]\nname = -n1\n", "invalid node name '-n1'" },
        { "[node]\nname = n 1\n", "invalid node name 'n 1'" },
        { "[node]\nname = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", "invalid node name" },
        { "[node]\nlisten = 127.0.0.1\n", "test.conf:2: listen: invalid address '127.0.0.1'" },
        { "[node]\nlisten = 127.0.0.1:0\n", "invalid address" },
        { "[node]\nlisten = 127.0.0.1:65536\n", "invalid address" },
        { "[node]\nlisten = 127.0.0.1:07001\n", "invalid address" },
        { "[node]\nlisten = 127.0.0.1:+7001\n", "invalid address" },
        { "[node]\nlisten = 300.0.0.1:7001\n", "invalid address" },
        { "[node]\nlisten = ::1:7001\n", "invalid address" },
        { "[node]\nlisten = [::1:7001\n", "invalid address" },
        { "[node]\nlisten = []:7001\n", "invalid address" },
        { "[node]\nlisten = [zz::1]:7001\n", "invalid address" },
        { "[node]\nlisten = :7001\n", "invalid address" },
        { "[node]\nlisten = -host:7001\n", "invalid address" },
        { "[node]\nlisten = ho_st:7001\n", "invalid address" },
        { "[node]\nlisten = a..b:7001\n", "invalid address" },
        { "[node]\nlisten = node1.example.com:7001\n", "test.conf:2: listen: invalid address 'node1.example.com:7001' (expected IP:PORT, IPv6 in brackets, no host names)" },
        /* paths */
        { "[node]\ndata_dir = var/lib/raftfs\n", "test.conf:2: data_dir: 'var/lib/raftfs' is not an absolute path" },
        { "[node]\ncontrol_socket = /run/raftfs/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
          "control_socket: socket path longer than 107 bytes" },
        { "[node]\nlog_level = loud\n", "test.conf:2: log_level: unknown level 'loud'" },
        /* members */
        { "[cluster]\ninitial_members = n1=127.0.0.1:7001,\n", "test.conf:2: initial_members: empty entry in member list" },
        { "[cluster]\ninitial_members = ,n1=127.0.0.1:7001\n", "empty entry in member list" },
        { "[cluster]\ninitial_members = n1\n", "initial_members: 'n1' is not NAME=IP:PORT" },
        { "[cluster]\ninitial_members = N1=127.0.0.1:7001\n", "initial_members: invalid node name 'N1'" },
        { "[cluster]\ninitial_members = n1=127.0.0.1\n", "initial_members: invalid address '127.0.0.1' for n1" },
        { "[cluster]\ninitial_members = n1=127.0.0.1:7001, n1=127.0.0.1:7002\n", "member 'n1' listed twice" },
        { "[cluster]\ninitial_members = n1=127.0.0.1:7001, n2=127.0.0.1:7001\n", "address 127.0.0.1:7001 given to both n1 and n2" },
        /* booleans, numbers, sizes, durations, enums */
        { "[cluster]\njoin = maybe\n", "test.conf:2: join: invalid boolean 'maybe'" },
        { "[raft]\nheartbeat_ms = fast\n", "test.conf:2: heartbeat_ms: invalid duration 'fast'" },
        { "[raft]\nheartbeat_ms = 100s\n", "invalid duration '100s'" },
        { "[raft]\nheartbeat_ms = -1\n", "invalid duration '-1'" },
        { "[raft]\nheartbeat_ms = 99999999999999999999999\n", "invalid duration" },
        { "[raft]\nheartbeat_ms = 5\n", "test.conf:2: heartbeat_ms = 5 is out of range [10, 60000]" },
        { "[raft]\nsnapshot_entries = 1e6\n", "snapshot_entries: invalid number '1e6'" },
        { "[raft]\nsnapshot_entries = 15\n", "snapshot_entries = 15 is out of range" },
        { "[fuse]\nmax_file_size = 1X\n", "test.conf:2: max_file_size: invalid size '1X'" },
        { "[fuse]\nmax_file_size = 1MB\n", "invalid size '1MB'" },
        { "[fuse]\nmax_file_size = M\n", "invalid size 'M'" },
        { "[fuse]\nmax_file_size = 0\n", "max_file_size = 0 is out of range" },
        { "[fuse]\nmax_file_size = 65M\n", "max_file_size = 68157440 is out of range" },
        { "[fuse]\nmax_total_size = 99999999999T\n", "invalid size" },
        { "[fuse]\nmax_name_length = 256\n", "max_name_length = 256 is out of range [1, 255]" },
        { "[fuse]\nconsistency = strong\n", "consistency: 'strong' is neither 'linearizable' nor 'local'" },
        /* missing keys */
        { "", "test.conf: missing required key 'name' in section [node]" },
        { "[node]\nname = n1\n", "test.conf: missing required key 'listen' in section [node]" },
        { "[node]\nname = n1\nlisten = 127.0.0.1:7001\n", "test.conf: missing required key 'initial_members' in section [cluster]" },
        { "[node]\nname = n1\nlisten = 127.0.0.1:7001\n[cluster]\ninitial_members = n2=127.0.0.1:7002\n",
          "test.conf:5: initial_members does not include this node ('n1')" },
        { "[node]\nname = n1\nlisten = 127.0.0.1:7001\n[cluster]\n"
          "initial_members = n1=127.0.0.1:7001, n2=127.0.0.1:7002\n",
          "test.conf: missing key 'ca' in section [tls] (required for a cluster of more than one member)" },
        { MIN3 "[tls]\nca = /a\ncert = /b\n", "test.conf: missing key 'key' in section [tls]" },
        { "[node]\nname = n4\nlisten = 10.0.0.4:7001\n[cluster]\njoin = yes\ninitial_members = n1=10.0.0.1:1\n", "missing key 'ca' in section [tls]" },
        /* relations */
        { MIN3 "[raft]\nheartbeat_ms = 600\n", "test.conf:7: election_timeout_ms (1000) must be at least twice heartbeat_ms (600)" },
        { MIN3 "[session]\njeopardy_margin_ms = 10000\n", "test.conf:7: jeopardy_margin_ms (10000) must be less than ttl_ms (10000)" },
        { MIN3 "[session]\nttl_ms = 2000\n", "test.conf:7: ttl_ms - jeopardy_margin_ms (1600) must be at least twice election_timeout_ms (1000)" },
        { MIN3 "[fuse]\nmax_total_size = 1M\nmax_file_size = 2M\n", "test.conf:8: max_total_size (1048576) is smaller than max_file_size (2097152)" },
};

START_TEST(test_errors) {
        const BadCase *bc = &bad_cases[_i];
        char *err = parse_err(bc->text);

        if (!strstr(err, bc->message))
                ck_abort_msg("case %d: expected \"%s\", got \"%s\"", _i, bc->message, err);
        /* One error only: the first. */
        ck_assert_ptr_null(strchr(err, '\n'));
        free(err);
}
END_TEST

START_TEST(test_nul_and_long_line) {
        char *err;
        static const char nul[] = "[node]\nname = n1\n\0\n";
        Conf *c = NULL;
        int r = conf_parse("test.conf", nul, sizeof(nul) - 1, &c, &err);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_str_eq(err, "test.conf:3: NUL byte in configuration file");
        free(err);

        size_t n = CONF_LINE_MAX_BYTES + 20;
        char *text = malloc(n + 1);
        memcpy(text, "[node]\n#", 8);
        memset(text + 8, 'x', n - 8);
        text[n] = '\0';
        err = parse_err(text);
        ck_assert_str_eq(err, "test.conf:2: line longer than 4096 bytes");
        free(err);
        free(text);
}
END_TEST

/* ---- value parsers ------------------------------------------------------ */

START_TEST(test_value_parsers) {
        uint64_t v = 42;
        bool b = false;

        ck_assert_int_eq(conf_parse_size("0", &v), 0);
        ck_assert_uint_eq(v, 0);
        ck_assert_int_eq(conf_parse_size("3T", &v), 0);
        ck_assert(v == UINT64_C(3) << 40);
        ck_assert_int_eq(conf_parse_size("18446744073709551615", &v), 0);
        ck_assert(v == UINT64_MAX);
        v = 42;
        ck_assert_int_eq(conf_parse_size("18446744073709551616", &v), -ERANGE);
        ck_assert_int_eq(conf_parse_size("16777216T", &v), -ERANGE);
        ck_assert_int_eq(conf_parse_size("", &v), -EINVAL);
        ck_assert_int_eq(conf_parse_size(" 1", &v), -EINVAL);
        ck_assert_uint_eq(v, 42);       /* untouched on failure */
        ck_assert_int_eq(conf_parse_msec("10ms", &v), 0);
        ck_assert_uint_eq(v, 10);
        ck_assert_int_eq(conf_parse_msec("10 ms", &v), -EINVAL);
        ck_assert_int_eq(conf_parse_bool("TRUE", &b), 0);
        ck_assert(b);
        ck_assert_int_eq(conf_parse_bool("0", &b), 0);
        ck_assert(!b);
        ck_assert_int_eq(conf_parse_bool("y", &b), -EINVAL);

        ck_assert(conf_node_name_is_valid("a"));
        ck_assert(conf_node_name_is_valid("0node-1.dc_2"));
        ck_assert(!conf_node_name_is_valid(""));
        ck_assert(!conf_node_name_is_valid(".a"));
        ck_assert(!conf_address_is_valid("node1.example.com:1"));      /* no host names */
        ck_assert(conf_address_is_valid("10.0.0.1:1"));
        ck_assert(conf_address_is_valid("[fe80::1]:65535"));

        char *host = NULL;
        uint16_t port = 0;
        ck_assert_int_eq(conf_address_split("[::1]:7001", &host, &port), 0);
        ck_assert_str_eq(host, "::1");
        ck_assert_uint_eq(port, 7001);
        free(host);
}
END_TEST

/* ---- round trip and table ---------------------------------------------- */

START_TEST(test_dump_roundtrip) {
        static const char text[] =
                "[node]\nname = n2\nlisten = 10.1.2.3:7002\nlog_level = debug\n"
                "[cluster]\ninitial_members = n1=10.1.2.2:7001, n2=10.1.2.3:7002\n" TLS
                "[raft]\nheartbeat_ms = 50\n"
                "[session]\nttl_ms = 30000\nlock_delay_ms = 1500\n"
                "[fuse]\nmount = no\nconsistency = local\nmax_file_size = 1536K\nmax_total_size = 3000000\n";
        Conf *a = parse_ok(text), *b;
        char *out = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&out, &n);

        conf_dump(a, f);
        fclose(f);
        b = parse_ok(out);
        for (size_t i = 0; i < conf_keys_count; i++) {
                const ConfKey *k = &conf_keys[i];
                const uint8_t *pa = (const uint8_t *) a + k->offset, *pb = (const uint8_t *) b + k->offset;
                switch (k->type) {
                case CONF_TYPE_MEMBERS:
                        ck_assert_uint_eq(a->n_members, b->n_members);
                        for (size_t m = 0; m < a->n_members; m++) {
                                ck_assert_str_eq(a->members[m].name, b->members[m].name);
                                ck_assert_str_eq(a->members[m].address, b->members[m].address);
                        }
                        break;
                case CONF_TYPE_BOOL:
                        ck_assert_int_eq(*(const bool *) pa, *(const bool *) pb);
                        break;
                case CONF_TYPE_UINT: case CONF_TYPE_SIZE: case CONF_TYPE_MSEC:
                        ck_assert(*(const uint64_t *) (const void *) pa == *(const uint64_t *) (const void *) pb);
                        break;
                case CONF_TYPE_CONSISTENCY:
                        ck_assert_int_eq(a->consistency, b->consistency);
                        break;
                default:
                        ck_assert_str_eq(*(char *const *) pa, *(char *const *) pb);
                }
        }
        ck_assert(strstr(out, "max_file_size = 1536K\n"));
        ck_assert(strstr(out, "jeopardy_margin_ms = 6000\n"));
        free(out);
        conf_free(a);
        conf_free(b);
}
END_TEST

/* Every default in the table must parse, and its type have a name. */
START_TEST(test_key_table) {
        for (size_t i = 0; i < conf_keys_count; i++) {
                const ConfKey *k = &conf_keys[i];
                ck_assert_ptr_nonnull(conf_type_to_string(k->type));
                ck_assert_ptr_nonnull(k->description);
                if (k->flags & CONF_KEY_REQUIRED)
                        ck_assert_ptr_null(k->default_value);
                for (size_t j = 0; j < i; j++)
                        ck_assert(strcmp(k->section, conf_keys[j].section) != 0 ||
                                  strcmp(k->name, conf_keys[j].name) != 0);
        }
}
END_TEST

/* ---- files -------------------------------------------------------------- */

START_TEST(test_load_file) {
        char dir[] = "/tmp/test-config-XXXXXX", path[64];
        Conf *c = NULL;
        char *err = NULL;
        int fd;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/raftfs.conf", dir);

        ck_assert_int_eq(conf_load(path, &c, &err), -ENOENT);
        ck_assert(strstr(err, "raftfs.conf: No such file or directory"));
        free(err);
        err = NULL;

        ck_assert_int_eq(conf_load(dir, &c, &err), -EISDIR);
        free(err);
        err = NULL;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, MIN3, strlen(MIN3)), (ssize_t) strlen(MIN3));
        close(fd);
        ck_assert_int_eq(conf_load(path, &c, &err), 0);
        ck_assert_str_eq(c->path, path);
        c = conf_free(c);

        /* Too large: refused before parsing. */
        ck_assert_int_eq(truncate(path, CONF_FILE_MAX_BYTES + 1), 0);
        ck_assert_int_eq(conf_load(path, &c, &err), -EFBIG);
        ck_assert(strstr(err, "file larger than 1 MiB"));
        free(err);

        unlink(path);
        rmdir(dir);
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc;

#define ADD(name, fn) do { tc = tcase_create(name); tcase_set_timeout(tc, 30); \
                tcase_add_test(tc, fn); suite_add_tcase(s, tc); } while (0)
        ADD("defaults", test_defaults);
        ADD("design-example", test_design_example);
        ADD("syntax-variants", test_syntax_variants);
        ADD("join", test_join);
        ADD("derived-margin", test_derived_margin);
        tc = tcase_create("errors");
        tcase_add_loop_test(tc, test_errors, 0, (int) ELEMENTSOF(bad_cases));
        suite_add_tcase(s, tc);
        ADD("nul-and-long-line", test_nul_and_long_line);
        ADD("value-parsers", test_value_parsers);
        ADD("dump-roundtrip", test_dump_roundtrip);
        ADD("key-table", test_key_table);
        ADD("load-file", test_load_file);
#undef ADD
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(config_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
