# fusefs/: the FUSE low-level adapter. The only folder that includes
# fuse_lowlevel.h; FUSE_USE_VERSION is defined here and nowhere else.
FUSEFS_CPPFLAGS = $(AM_CPPFLAGS) -DFUSE_USE_VERSION=314

noinst_LIBRARIES += fusefs/libfusefs.a
fusefs_libfusefs_a_SOURCES = \
	fusefs/fusefs.h
fusefs_libfusefs_a_CPPFLAGS = $(FUSEFS_CPPFLAGS)
fusefs_libfusefs_a_CFLAGS = $(AM_CFLAGS) $(FUSE_CFLAGS) $(SYSTEMD_CFLAGS)
