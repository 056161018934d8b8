# raft/: the Raft consensus core (pure: no I/O, clocks, threads or globals),
# its unit tests, the deterministic simulator, the wire fuzzer and the bench.
noinst_LIBRARIES += raft/libraft.a
raft_libraft_a_SOURCES = \
	raft/raft.h raft/entry.h raft/msg.h raft/raft-internal.h \
	raft/raft.c \
	raft/update.c \
	raft/rlog.c \
	raft/election.c \
	raft/replication.c \
	raft/readindex.c \
	raft/snapshot.c \
	raft/membership.c \
	raft/config.c \
	raft/codec.c

# The deterministic simulator; tests/sim/run-sim runs it in `make check`.
check_PROGRAMS += tests/sim/raftsim
tests_sim_raftsim_SOURCES = tests/sim/raftsim.c tests/sim/node.c tests/sim/check.c tests/sim/sim.h
tests_sim_raftsim_LDADD = raft/libraft.a lib/libcommon.a
dist_check_SCRIPTS += tests/sim/run-sim
TESTS += tests/sim/run-sim

check_PROGRAMS += tests/unit/test-raft
TESTS += tests/unit/test-raft
tests_unit_test_raft_SOURCES = tests/unit/test-raft.c tests/unit/raft-harness.c tests/unit/raft-harness.h
tests_unit_test_raft_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_raft_LDADD = raft/libraft.a lib/libcommon.a $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-raft-codec
TESTS += tests/unit/test-raft-codec
tests_unit_test_raft_codec_SOURCES = tests/unit/test-raft-codec.c
tests_unit_test_raft_codec_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_raft_codec_LDADD = raft/libraft.a lib/libcommon.a $(CHECK_LIBS)

check_PROGRAMS += tests/fuzz/fuzz-raft-msg
TESTS += tests/fuzz/fuzz-raft-msg
tests_fuzz_fuzz_raft_msg_SOURCES = tests/fuzz/fuzz-raft-msg.c
tests_fuzz_fuzz_raft_msg_LDADD = raft/libraft.a lib/libcommon.a $(FUZZ_LDADD)
tests_fuzz_fuzz_raft_msg_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
EXTRA_DIST += tests/fuzz/corpus/fuzz-raft-msg

# Throughput ceiling of the core: 3 servers in one process, instant I/O.
noinst_PROGRAMS += bench/raft-core
bench_raft_core_SOURCES = bench/raft-core.c
bench_raft_core_LDADD = raft/libraft.a lib/libcommon.a
