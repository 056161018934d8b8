# systemd/: the service unit, generated from raftfsd.service.in with the
# configured sbindir (into the build tree, never into srcdir).
systemdsystemunit_DATA += systemd/raftfsd.service
EXTRA_DIST += systemd/raftfsd.service.in
CLEANFILES += systemd/raftfsd.service

systemd/raftfsd.service: $(srcdir)/systemd/raftfsd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' $(srcdir)/systemd/raftfsd.service.in > $@.tmp && \
	mv $@.tmp $@

# systemd-analyze verify on the unit (skipped when the tool is missing).
TESTS += tests/integration/systemd-verify.sh
dist_check_SCRIPTS += tests/integration/systemd-verify.sh
check_DATA = systemd/raftfsd.service
