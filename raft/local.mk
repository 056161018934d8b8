# raft/: the Raft consensus core (pure: no I/O, clocks, threads or globals),
# its unit tests, the deterministic simulator, the wire fuzzer and the bench.
noinst_LIBRARIES += raft/libraft.a
raft_libraft_a_SOURCES = \
	raft/raft.h raft/entry.h raft/msg.h raft/raft-internal.h \
	raft/raft.c \
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
