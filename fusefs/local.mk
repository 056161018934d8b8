# fusefs/: the FUSE low-level adapter. The only folder that includes
# fuse_lowlevel.h; FUSE_USE_VERSION is defined here and nowhere else.
FUSEFS_CPPFLAGS = $(AM_CPPFLAGS) -DFUSE_USE_VERSION=314

noinst_LIBRARIES += fusefs/libfusefs.a
fusefs_libfusefs_a_SOURCES = \
	fusefs/fusefs.h \
	fusefs/internal.h \
	fusefs/notifier.h \
	fusefs/applied.c \
	fusefs/caller.c \
	fusefs/control-dir.c \
	fusefs/fusefs.c \
	fusefs/inode.c \
	fusefs/notifier.c \
	fusefs/ops-file.c \
	fusefs/ops-lock.c \
	fusefs/ops-namespace.c \
	fusefs/ops-xattr.c \
	fusefs/wait.c
fusefs_libfusefs_a_CPPFLAGS = $(FUSEFS_CPPFLAGS)
EXTRA_DIST += fusefs/GLUE.md
fusefs_libfusefs_a_CFLAGS = $(AM_CFLAGS) $(FUSE_CFLAGS) $(SYSTEMD_CFLAGS)

check_PROGRAMS += tests/unit/test-fusefs
TESTS += tests/unit/test-fusefs
tests_unit_test_fusefs_SOURCES = tests/unit/test-fusefs.c tests/unit/test-fusefs-harness.h
tests_unit_test_fusefs_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_fusefs_LDADD = fusefs/libfusefs.a tree/libtree.a lib/libcommon.a \
	$(CHECK_LIBS) $(FUSE_LIBS) $(SYSTEMD_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/unit/test-fusefs-lock
TESTS += tests/unit/test-fusefs-lock
tests_unit_test_fusefs_lock_SOURCES = tests/unit/test-fusefs-lock.c tests/unit/test-fusefs-harness.h
tests_unit_test_fusefs_lock_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_fusefs_lock_LDADD = $(tests_unit_test_fusefs_LDADD)

# bench/fs: through the mounts of a running cluster (bench/fs.sh makes one).
noinst_PROGRAMS += bench/fs
bench_fs_SOURCES = bench/fs.c
bench_fs_LDADD = $(PTHREAD_LIBS)
EXTRA_DIST += bench/fs.sh

# Through the mounts of real 3-node clusters (need root; exit 77 otherwise,
# and while tests/integration/lib.sh is not there).
TESTS += tests/integration/fusefs-cluster.sh tests/integration/fusefs-locks.sh
dist_check_SCRIPTS += tests/integration/fusefs-cluster.sh tests/integration/fusefs-locks.sh
EXTRA_DIST += tests/integration/fusefs-lib.sh
TESTS += tests/integration/fusefs-conformance.sh
dist_check_SCRIPTS += tests/integration/fusefs-conformance.sh
