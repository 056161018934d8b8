# store/: durable storage of a raft node (segments, meta, snapshot), with its
# own helper thread for group commit. The only folder besides daemon/ that
# performs file I/O; links libsystemd for the sd-event attachment.
noinst_LIBRARIES += store/libstore.a
store_libstore_a_SOURCES = \
	store/store.h \
	store/store-internal.h \
	store/format.c store/format.h \
	store/io.c store/io.h \
	store/plan.c \
	store/read.c \
	store/recover.c \
	store/snapshot.c \
	store/store.c \
	store/writer.c
store_libstore_a_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)

check_PROGRAMS += tests/unit/test-store
TESTS += tests/unit/test-store
tests_unit_test_store_SOURCES = tests/unit/test-store.c \
	tests/unit/test-store-util.c tests/unit/test-store-util.h
tests_unit_test_store_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_store_LDADD = store/libstore.a lib/libcommon.a $(CHECK_LIBS) $(SYSTEMD_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/unit/test-store-faults
TESTS += tests/unit/test-store-faults
tests_unit_test_store_faults_SOURCES = tests/unit/test-store-faults.c \
	tests/unit/test-store-util.c tests/unit/test-store-util.h
tests_unit_test_store_faults_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_store_faults_LDADD = store/libstore.a lib/libcommon.a $(CHECK_LIBS) $(SYSTEMD_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/fuzz/fuzz-store-record
TESTS += tests/fuzz/fuzz-store-record
tests_fuzz_fuzz_store_record_SOURCES = tests/fuzz/fuzz-store-record.c
tests_fuzz_fuzz_store_record_LDADD = store/libstore.a lib/libcommon.a $(FUZZ_LDADD) $(PTHREAD_LIBS)
tests_fuzz_fuzz_store_record_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
EXTRA_DIST += tests/fuzz/corpus/fuzz-store-record

noinst_PROGRAMS += bench/storage
bench_storage_SOURCES = bench/storage.c
bench_storage_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
bench_storage_LDADD = store/libstore.a lib/libcommon.a $(SYSTEMD_LIBS) $(PTHREAD_LIBS)
