# tests/: shared test machinery. Module suites are declared in each module's
# local.mk; this fragment holds the fuzz driver and the integration scripts.

# Fuzz targets: with --enable-fuzzing they link libFuzzer's main; otherwise a
# standalone main replays the committed corpus plus seeded mutations, so every
# decoder meets bad input in `make check` too. FUZZ_LDFLAGS comes from configure.
noinst_LIBRARIES += tests/fuzz/libfuzzmain.a
tests_fuzz_libfuzzmain_a_SOURCES = tests/fuzz/standalone.c
if ENABLE_FUZZING
FUZZ_LDADD =
else
FUZZ_LDADD = tests/fuzz/libfuzzmain.a
endif


# Hardening flags verified on the linked binaries (runs after they are built).
dist_check_SCRIPTS += tests/check-hardening.sh
TESTS += tests/check-hardening.sh

# raftfsd.service under a real systemd (PID 1 in a systemd-nspawn container
# on an overlay of /): start, reload, stop, restarts, watchdog, stop timeout.
TESTS += tests/integration/systemd-container.sh
dist_check_SCRIPTS += tests/integration/systemd-container.sh

# The mount never lies (issue 14), on real 3-node clusters: a mutation that
# failed on a minority node leaves no trace once the quorum returns;
# metadata is linearizable across nodes with warm kernel caches; SIGKILL of
# the process group, the main process or the cgroup never wedges, and a
# restart mounts cleanly.
dist_check_SCRIPTS += tests/integration/never-lies-write.sh tests/integration/never-lies-meta.sh \
	tests/integration/never-lies-kill.sh
TESTS += tests/integration/never-lies-write.sh tests/integration/never-lies-meta.sh \
	tests/integration/never-lies-kill.sh
