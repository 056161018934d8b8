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

# The raftfs group (sysusers.d: members may run mutating raftfsctl commands),
# the default mountpoint (tmpfiles.d), and an example /etc/raftfs/raftfs.conf
# that sets nothing (raftfsd refuses it until the required keys are filled
# in). Each is installed under its own name, raftfs.conf, so the rules are
# written out. The configuration file is installed only when there is none
# (make install never overwrites a configured node) and uninstalled only
# while it is still the unchanged example.
EXTRA_DIST += systemd/raftfs.sysusers systemd/raftfs.tmpfiles systemd/raftfs.conf.example
raftfsconfdir = $(sysconfdir)/raftfs

install-data-local:
	$(MKDIR_P) '$(DESTDIR)$(sysusersdir)' '$(DESTDIR)$(tmpfilesdir)' '$(DESTDIR)$(raftfsconfdir)'
	$(INSTALL_DATA) $(srcdir)/systemd/raftfs.sysusers '$(DESTDIR)$(sysusersdir)/raftfs.conf'
	$(INSTALL_DATA) $(srcdir)/systemd/raftfs.tmpfiles '$(DESTDIR)$(tmpfilesdir)/raftfs.conf'
	@if test -e '$(DESTDIR)$(raftfsconfdir)/raftfs.conf'; then \
		echo "$(DESTDIR)$(raftfsconfdir)/raftfs.conf exists, not replaced"; \
	else \
		echo " $(INSTALL_DATA) $(srcdir)/systemd/raftfs.conf.example '$(DESTDIR)$(raftfsconfdir)/raftfs.conf'"; \
		$(INSTALL_DATA) $(srcdir)/systemd/raftfs.conf.example '$(DESTDIR)$(raftfsconfdir)/raftfs.conf'; \
	fi

uninstall-local:
	rm -f '$(DESTDIR)$(sysusersdir)/raftfs.conf' '$(DESTDIR)$(tmpfilesdir)/raftfs.conf'
	@if cmp -s $(srcdir)/systemd/raftfs.conf.example '$(DESTDIR)$(raftfsconfdir)/raftfs.conf'; then \
		echo " rm -f '$(DESTDIR)$(raftfsconfdir)/raftfs.conf'"; \
		rm -f '$(DESTDIR)$(raftfsconfdir)/raftfs.conf'; \
	fi

# The example stays complete and inert (see the script's header).
TESTS += tests/unit/test-conf-example.sh
EXTRA_DIST += tests/unit/test-conf-example.sh
