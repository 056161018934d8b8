# tests/chaos/: black-box fault-injection harness (see tests/chaos/README).
# The checkers are a small library used by chaos-check and by their unit
# suite; chaos-client is the workload process that only uses the mount.
noinst_LIBRARIES += tests/chaos/libchaoscheck.a
tests_chaos_libchaoscheck_a_SOURCES = \
	tests/chaos/history.c tests/chaos/history.h \
	tests/chaos/check-register.c tests/chaos/check-set.c tests/chaos/check-lock.c

check_PROGRAMS += tests/chaos/chaos-check tests/chaos/chaos-client tests/chaos/chaos-netdelay
tests_chaos_chaos_check_SOURCES = tests/chaos/chaos-check.c
tests_chaos_chaos_check_LDADD = tests/chaos/libchaoscheck.a
tests_chaos_chaos_client_SOURCES = tests/chaos/chaos-client.c
tests_chaos_chaos_client_LDADD = tests/chaos/libchaoscheck.a
tests_chaos_chaos_netdelay_SOURCES = tests/chaos/chaos-netdelay.c

check_PROGRAMS += tests/chaos/test-chaos-check
TESTS += tests/chaos/test-chaos-check
tests_chaos_test_chaos_check_SOURCES = tests/chaos/test-chaos-check.c
tests_chaos_test_chaos_check_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_chaos_test_chaos_check_LDADD = tests/chaos/libchaoscheck.a $(CHECK_LIBS)

# The short fault matrix: real clusters in network namespaces; exits 77
# (skipped) without root, /dev/fuse, ip/iptables, netns or a built raftfsd.
dist_check_SCRIPTS += tests/chaos/matrix
TESTS += tests/chaos/matrix
EXTRA_DIST += tests/chaos/run tests/chaos/net.sh tests/chaos/cluster.sh tests/chaos/nemesis.sh tests/chaos/README
