#!/bin/bash
# debian/verify-install.sh DEB — installs, uses, removes and purges the
# raftfs package inside a throw-away container, never on this host.
#
# The container is systemd 252 booted as PID 1 by systemd-nspawn, on an
# overlay of / whose upper layer is a tmpfs, all inside a private mount
# namespace: whatever dpkg does there (the raftfs group, files, the dpkg
# database) vanishes with the namespace. Its network is its own (loopback
# only). Checks, in order:
#   install  dpkg -i succeeds; the files are in place; the group raftfs
#            exists (sysusers.d); /mnt/raftfs exists (tmpfiles.d);
#            /etc/raftfs/raftfs.conf is a conffile; the unit is neither
#            enabled nor active, and the shipped file is refused by raftfsd -t
#   use      a one-node raftfs.conf; systemctl enable --now: active, a file
#            written through /mnt/raftfs reads back, raftfsctl status
#            answers, the control socket belongs to group raftfs
#   upgrade  dpkg -i of the same .deb again: the running unit is restarted
#            and active, the edited conffile kept
#   remove   dpkg -r: unit stopped, mount gone, programs gone, the
#            configuration kept
#   purge    dpkg -P: configuration gone, the package unknown to dpkg
# Needs root, systemd-nspawn (systemd-container) and /dev/fuse.
set -eu

deb=$(readlink -f "${1:?usage: $0 raftfs_VERSION_ARCH.deb}")
[ -f "$deb" ] || { echo "no such file: $deb"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }

T=$(mktemp -d /tmp/raftfs-deb-XXXXXX)
mkdir "$T/c" "$T/deb"
cp "$deb" "$T/deb/"
DEB_IN=/mnt/deb/$(basename "$deb")
LAUNCH_PID=""
NSPAWN_PID=""
INIT=""
fails=0

cx() { timeout 120 nsenter -t "$INIT" -a env PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }
wait_for() {
        local i=0 t=$1; shift
        until "$@" >/dev/null 2>&1; do i=$((i + 1)); [ $i -lt $((t * 5)) ] || return 1; sleep 0.2; done
}

cleanup() {
        local rc=$?
        trap - EXIT
        if [ -n "$INIT" ] && [ -d "/proc/$INIT" ]; then
                cx sh -c 'grep -q " /mnt/raftfs " /proc/self/mounts && umount -l /mnt/raftfs' 2>/dev/null || true
                cx systemctl --no-block poweroff >/dev/null 2>&1 || true
                for _ in $(seq 100); do [ -d "/proc/$NSPAWN_PID" ] || break; sleep 0.2; done
        fi
        [ -z "$NSPAWN_PID" ] || kill -KILL "$NSPAWN_PID" 2>/dev/null || true
        [ -z "$LAUNCH_PID" ] || { kill -KILL "$LAUNCH_PID" 2>/dev/null; wait "$LAUNCH_PID" 2>/dev/null; } || true
        rm -rf "$T"
        exit $rc
}
trap cleanup EXIT

cat >"$T/launch.sh" <<EOF
set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$T/c"
mkdir "$T/c/upper" "$T/c/work" "$T/c/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/c/upper,workdir=$T/c/work" "$T/c/root"
if [ -d /run/systemd/nspawn ]; then mount -t tmpfs tmpfs /run/systemd/nspawn; fi
# A policy-rc.d of the host (build machines and images often have one that
# answers 101) would forbid the maintainer scripts' start/stop/try-restart.
rm -f "$T/c/root/usr/sbin/policy-rc.d"
# Boot to sysinit.target only (no services of the host), journal in /run.
printf '[Unit]\nRequires=sysinit.target\nAfter=sysinit.target\n' >"$T/c/root/etc/systemd/system/raftfs-deb.target"
mkdir -p "$T/c/root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$T/c/root/etc/systemd/journald.conf.d/raftfs-deb.conf"
echo \$\$ >"$T/nspawn.pid"
exec systemd-nspawn -q -D "$T/c/root" -M "raftfs-deb-\$\$" --register=no --keep-unit \
        --private-network --bind=/dev/fuse --bind-ro="$T/deb:/mnt/deb" \
        -b -- systemd.unit=raftfs-deb.target
EOF
unshare --mount --propagation private -- bash "$T/launch.sh" </dev/null >"$T/nspawn.log" 2>&1 &
LAUNCH_PID=$!

find_init() {
        [ -s "$T/nspawn.pid" ] || return 1
        NSPAWN_PID=$(cat "$T/nspawn.pid")
        INIT=$(pgrep -x -P "$NSPAWN_PID" systemd | head -n 1)
        [ -n "$INIT" ] && return 0
        local c
        for c in $(pgrep -P "$NSPAWN_PID"); do
                INIT=$(pgrep -x -P "$c" systemd | head -n 1)
                [ -n "$INIT" ] && return 0
        done
        return 1
}
wait_for 30 find_init || { cat "$T/nspawn.log"; echo "FAIL: the container did not start"; exit 1; }
find_init
booted() { case $(cx systemctl is-system-running 2>/dev/null) in running|degraded) return 0;; esac; return 1; }
wait_for 60 booted || { echo "FAIL: systemd in the container did not boot"; exit 1; }
echo "container: systemd $(cx systemctl --version | head -n 1 | cut -d' ' -f2) is PID 1 (host pid $INIT)"
cx dpkg-query -W raftfs >/dev/null 2>&1 && { echo "FAIL: raftfs is already installed on this host's root"; exit 1; }

echo "--- install: dpkg -i $(basename "$deb")"
cx dpkg -i "$DEB_IN" || { bad "dpkg -i"; exit 1; }
for f in /usr/sbin/raftfsd /usr/sbin/raftfsctl; do check "$f installed" cx test -x $f; done
for f in /lib/systemd/system/raftfsd.service /usr/lib/sysusers.d/raftfs.conf /usr/lib/tmpfiles.d/raftfs.conf \
        /usr/share/man/man8/raftfsd.8.gz /usr/share/man/man8/raftfsctl.8.gz /usr/share/man/man5/raftfs.conf.5.gz \
        /usr/share/man/man7/raftfs.7.gz /usr/share/doc/raftfs/README.Debian; do
        check "$f installed" cx test -f $f
done
check "group raftfs created (sysusers.d)" cx getent group raftfs
check "/mnt/raftfs created (tmpfiles.d)" cx test -d /mnt/raftfs
check "/etc/raftfs/raftfs.conf is a conffile" \
        sh -c "nsenter -t $INIT -a dpkg-query -W -f='\${Conffiles}' raftfs | grep -q ' /etc/raftfs/raftfs.conf '"
[ "$(cx systemctl is-enabled raftfsd.service 2>&1)" = disabled ] && ok "raftfsd.service not enabled" \
        || bad "raftfsd.service is-enabled: $(cx systemctl is-enabled raftfsd.service 2>&1)"
[ "$(cx systemctl is-active raftfsd.service 2>&1)" = inactive ] && ok "raftfsd.service not started" \
        || bad "raftfsd.service is-active: $(cx systemctl is-active raftfsd.service 2>&1)"
check "the shipped raftfs.conf is refused by raftfsd -t" sh -c "! nsenter -t $INIT -a raftfsd -t"

echo "--- use: a one-node configuration, systemctl enable --now raftfsd"
# What an administrator does: uncomment and fill in the three required keys.
cx sed -i -e 's/^#name = .*/name = solo/' -e 's/^#listen = .*/listen = 127.0.0.1:7001/' \
        -e 's/^#initial_members = .*/initial_members = solo=127.0.0.1:7001/' /etc/raftfs/raftfs.conf
cx raftfsd -t || bad "the one-node configuration is refused"
cx systemctl enable --now raftfsd.service || bad "systemctl enable --now raftfsd"
check "raftfsd.service active" cx systemctl is-active raftfsd.service
check "raftfsd.service enabled" cx systemctl is-enabled raftfsd.service
wait_for 10 cx sh -c 'echo hello > /mnt/raftfs/greeting' && ok "wrote /mnt/raftfs/greeting" || bad "write through the mount"
[ "$(cx cat /mnt/raftfs/greeting 2>&1)" = hello ] && ok "read it back" || bad "read back: $(cx cat /mnt/raftfs/greeting 2>&1)"
check "raftfsctl status" cx raftfsctl status
[ "$(cx stat -c %G /run/raftfs/control.sock 2>&1)" = raftfs ] && ok "control socket belongs to group raftfs" \
        || bad "control socket group: $(cx stat -c %G /run/raftfs/control.sock 2>&1)"
pid1=$(cx systemctl show -P MainPID raftfsd.service)

echo "--- upgrade: dpkg -i of the same package while the unit runs"
cx dpkg -i "$DEB_IN" >/dev/null || bad "dpkg -i (again)"
check "raftfsd.service active after the upgrade" cx systemctl is-active raftfsd.service
pid2=$(cx systemctl show -P MainPID raftfsd.service)
[ "$pid1" != "$pid2" ] && ok "the running unit was restarted (pid $pid1 -> $pid2)" \
        || echo "note: the running unit was not restarted (pid $pid1)"
check "the edited conffile is kept" cx grep -q '^name = solo' /etc/raftfs/raftfs.conf
wait_for 10 cx grep -qx hello /mnt/raftfs/greeting && ok "data intact through the upgrade" || bad "data after the upgrade"

echo "--- remove: dpkg -r raftfs"
cx dpkg -r raftfs || bad "dpkg -r"
[ "$(cx systemctl is-active raftfsd.service 2>&1)" != active ] && ok "unit stopped" || bad "unit still active after dpkg -r"
check "no raftfs mount left" sh -c "! nsenter -t $INIT -a grep -q ' /mnt/raftfs ' /proc/self/mounts"
check "programs removed" sh -c "! nsenter -t $INIT -a test -e /usr/sbin/raftfsd"
check "configuration kept after remove" cx test -f /etc/raftfs/raftfs.conf
echo "dpkg status after remove: $(cx dpkg-query -W -f='${db:Status-Abbrev}' raftfs)"

echo "--- purge: dpkg -P raftfs"
cx dpkg -P raftfs || bad "dpkg -P"
check "configuration removed by purge" sh -c "! nsenter -t $INIT -a test -e /etc/raftfs/raftfs.conf"
check "package unknown to dpkg" sh -c "! nsenter -t $INIT -a dpkg-query -W raftfs"
check "no unit left" sh -c "! nsenter -t $INIT -a test -e /lib/systemd/system/raftfsd.service"
check "no enablement symlink left" sh -c "! nsenter -t $INIT -a test -e /etc/systemd/system/multi-user.target.wants/raftfsd.service"
echo "left behind on purge (by design, see README.Debian): $(cx sh -c 'ls -d /var/lib/raftfs /etc/raftfs /mnt/raftfs 2>/dev/null | tr "\n" " "; getent group raftfs')"

[ $fails -eq 0 ] && echo "PASS: install, use, upgrade, remove, purge" || echo "FAIL: $fails check(s) failed"
[ $fails -eq 0 ]
