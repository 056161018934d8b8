# lib/: small shared helpers, no dependencies beyond libc and pthreads.
noinst_LIBRARIES += lib/libcommon.a
lib_libcommon_a_SOURCES = \
	lib/macro.h \
	lib/buf.c lib/buf.h \
	lib/codec.c lib/codec.h \
	lib/crc32c.c lib/crc32c.h \
	lib/hashmap.c lib/hashmap.h \
	lib/list.c lib/list.h \
	lib/log.c lib/log.h

check_PROGRAMS += tests/unit/test-lib
TESTS += tests/unit/test-lib
tests_unit_test_lib_SOURCES = tests/unit/test-lib.c
tests_unit_test_lib_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_lib_LDADD = lib/libcommon.a $(CHECK_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/fuzz/fuzz-codec
TESTS += tests/fuzz/fuzz-codec
tests_fuzz_fuzz_codec_SOURCES = tests/fuzz/fuzz-codec.c
tests_fuzz_fuzz_codec_LDADD = lib/libcommon.a $(FUZZ_LDADD) $(PTHREAD_LIBS)
tests_fuzz_fuzz_codec_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
EXTRA_DIST += tests/fuzz/corpus/fuzz-codec
