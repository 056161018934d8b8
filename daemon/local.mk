# daemon/: raftfsd, the node. libdaemon.a holds everything but main(), so
# unit tests and raftfsctl (which shares conf.c and the control protocol
# codec) link the same objects.
noinst_LIBRARIES += daemon/libdaemon.a
daemon_libdaemon_a_SOURCES = \
	daemon/conf.c daemon/conf.h \
	daemon/control-proto.c daemon/control-proto.h \
	daemon/metrics.c daemon/metrics.h \
	daemon/control.c daemon/control.h \
	daemon/host.c daemon/host.h \
	daemon/fuse-guard.c daemon/fuse-guard.h \
	daemon/node.c daemon/node.h daemon/node-internal.h \
	daemon/node-ops.c \
	daemon/node-session.c \
	daemon/node-status.c \
	daemon/restore.c daemon/restore.h \
	daemon/mount.c daemon/mount.h
daemon_libdaemon_a_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)

sbin_PROGRAMS += raftfsd
raftfsd_SOURCES = daemon/main.c
raftfsd_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
# Everything the Node links: the layers below the daemon.
DAEMON_LIBS = daemon/libdaemon.a fusefs/libfusefs.a raft/libraft.a store/libstore.a tree/libtree.a tls/libtls.a \
	lib/libcommon.a $(OPENSSL_LIBS) $(FUSE_LIBS) $(SYSTEMD_LIBS) $(PTHREAD_LIBS) -lm
raftfsd_LDADD = $(DAEMON_LIBS)

check_PROGRAMS += tests/unit/test-config
TESTS += tests/unit/test-config
tests_unit_test_config_SOURCES = tests/unit/test-config.c
tests_unit_test_config_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_config_LDADD = daemon/libdaemon.a lib/libcommon.a $(CHECK_LIBS)

check_PROGRAMS += tests/fuzz/fuzz-config
TESTS += tests/fuzz/fuzz-config
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz-config.c
tests_fuzz_fuzz_config_LDADD = daemon/libdaemon.a lib/libcommon.a $(FUZZ_LDADD)
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
EXTRA_DIST += tests/fuzz/corpus/fuzz-config

check_PROGRAMS += tests/unit/test-control
TESTS += tests/unit/test-control
tests_unit_test_control_SOURCES = tests/unit/test-control.c ctl/client.c ctl/client.h
tests_unit_test_control_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_control_LDADD = $(DAEMON_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/fuzz/fuzz-control
TESTS += tests/fuzz/fuzz-control
tests_fuzz_fuzz_control_SOURCES = tests/fuzz/fuzz-control.c
tests_fuzz_fuzz_control_LDADD = daemon/libdaemon.a lib/libcommon.a $(FUZZ_LDADD)
tests_fuzz_fuzz_control_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
EXTRA_DIST += tests/fuzz/corpus/fuzz-control

# Integration tests: real daemons on 127.0.0.N with real TLS (need root;
# exit 77 otherwise).
TESTS += tests/integration/cluster-basic.sh tests/integration/cluster-session.sh tests/integration/cluster-lock.sh tests/integration/notify.sh
dist_check_SCRIPTS += tests/integration/cluster-basic.sh tests/integration/cluster-session.sh tests/integration/cluster-lock.sh tests/integration/notify.sh
EXTRA_DIST += tests/integration/lib.sh

check_PROGRAMS += tests/unit/test-control-node
TESTS += tests/unit/test-control-node
tests_unit_test_control_node_SOURCES = tests/unit/test-control-node.c
tests_unit_test_control_node_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_control_node_LDADD = $(DAEMON_LIBS) $(CHECK_LIBS)
