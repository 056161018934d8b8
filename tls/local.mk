# tls/: mutual-TLS peer channels, framing and certificate tooling. The only
# folder compiled with OpenSSL's flags (a stray #include <openssl/...>
# elsewhere fails to compile).
noinst_LIBRARIES += tls/libtls.a
tls_libtls_a_SOURCES = \
	tls/tls.h \
	tls/cert.h \
	tls/frame.h \
	tls/tls-internal.h \
	tls/tls-testing.h \
	tls/context.c \
	tls/cert.c \
	tls/frame.c \
	tls/net.c \
	tls/bio.c \
	tls/channel.c
tls_libtls_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(SYSTEMD_CFLAGS)

# Anything linking tls/libtls.a needs: $(TLS_LIBS)
TLS_LIBS = tls/libtls.a lib/libcommon.a $(OPENSSL_LIBS) $(SYSTEMD_LIBS)

check_PROGRAMS += tests/unit/test-tls
TESTS += tests/unit/test-tls
tests_unit_test_tls_SOURCES = tests/unit/test-tls.c tests/unit/test-tls-util.h
tests_unit_test_tls_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_tls_LDADD = $(TLS_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-tls-cert
TESTS += tests/unit/test-tls-cert
tests_unit_test_tls_cert_SOURCES = tests/unit/test-tls-cert.c tests/unit/test-tls-util.h
tests_unit_test_tls_cert_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_tls_cert_LDADD = $(TLS_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/fuzz/fuzz-tls-frame
TESTS += tests/fuzz/fuzz-tls-frame
tests_fuzz_fuzz_tls_frame_SOURCES = tests/fuzz/fuzz-tls-frame.c
tests_fuzz_fuzz_tls_frame_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
tests_fuzz_fuzz_tls_frame_LDADD = tls/libtls.a lib/libcommon.a $(FUZZ_LDADD) $(OPENSSL_LIBS) $(SYSTEMD_LIBS)
tests_fuzz_fuzz_tls_frame_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
EXTRA_DIST += tests/fuzz/corpus/fuzz-tls-frame

noinst_PROGRAMS += bench/tls
bench_tls_SOURCES = bench/tls.c
bench_tls_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
bench_tls_LDADD = $(TLS_LIBS) -lm
