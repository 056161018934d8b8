# tree/: the replicated file-system state machine (pure: no I/O, no clocks).
noinst_LIBRARIES += tree/libtree.a
tree_libtree_a_SOURCES = \
	tree/tree.h \
	tree/tree-internal.h \
	tree/apply.c \
	tree/cmd.c \
	tree/itable.c \
	tree/lock.c \
	tree/ns.c \
	tree/session.c \
	tree/snapshot.c \
	tree/tree.c \
	tree/xattr.c

check_PROGRAMS += tests/unit/test-tree
TESTS += tests/unit/test-tree
tests_unit_test_tree_SOURCES = tests/unit/test-tree.c tests/unit/test-tree-util.h
tests_unit_test_tree_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_tree_LDADD = tree/libtree.a lib/libcommon.a $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-tree-lock
TESTS += tests/unit/test-tree-lock
tests_unit_test_tree_lock_SOURCES = tests/unit/test-tree-lock.c tests/unit/test-tree-util.h
tests_unit_test_tree_lock_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_tree_lock_LDADD = tree/libtree.a lib/libcommon.a $(CHECK_LIBS)

# The model-based test: TREE_MODEL_STEPS (default 100000) and TREE_MODEL_SEED.
check_PROGRAMS += tests/unit/test-tree-model
TESTS += tests/unit/test-tree-model
tests_unit_test_tree_model_SOURCES = tests/unit/test-tree-model.c tests/unit/test-tree-util.h
tests_unit_test_tree_model_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_tree_model_LDADD = tree/libtree.a lib/libcommon.a $(CHECK_LIBS)

check_PROGRAMS += tests/fuzz/fuzz-tree-cmd
TESTS += tests/fuzz/fuzz-tree-cmd
tests_fuzz_fuzz_tree_cmd_SOURCES = tests/fuzz/fuzz-tree-cmd.c
tests_fuzz_fuzz_tree_cmd_LDADD = tree/libtree.a lib/libcommon.a $(FUZZ_LDADD)
tests_fuzz_fuzz_tree_cmd_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
EXTRA_DIST += tests/fuzz/corpus/fuzz-tree-cmd

check_PROGRAMS += tests/fuzz/fuzz-tree-snapshot
TESTS += tests/fuzz/fuzz-tree-snapshot
tests_fuzz_fuzz_tree_snapshot_SOURCES = tests/fuzz/fuzz-tree-snapshot.c
tests_fuzz_fuzz_tree_snapshot_LDADD = tree/libtree.a lib/libcommon.a $(FUZZ_LDADD)
tests_fuzz_fuzz_tree_snapshot_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
EXTRA_DIST += tests/fuzz/corpus/fuzz-tree-snapshot
