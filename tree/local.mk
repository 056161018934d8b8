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
