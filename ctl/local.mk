# ctl/: raftfsctl, the administration command. It shares the configuration
# parser and the control protocol codec with raftfsd (daemon/libdaemon.a;
# only the objects it uses are linked) and uses tls/cert.h for `cert`.
sbin_PROGRAMS += raftfsctl
raftfsctl_SOURCES = \
	ctl/raftfsctl.c ctl/ctl.h \
	ctl/client.c ctl/client.h \
	ctl/lock.c \
	ctl/cert.c
raftfsctl_LDADD = daemon/libdaemon.a tls/libtls.a lib/libcommon.a $(OPENSSL_LIBS) $(SYSTEMD_LIBS) -lm
