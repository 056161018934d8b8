#!/bin/bash
# systemd-container.sh — raftfsd.service under a real systemd.
#
# Boots systemd as PID 1 in a container (systemd-nspawn) whose root is an
# overlay of / with a tmpfs upper layer, all inside a private mount
# namespace: nothing the container writes reaches the host, and every
# mount disappears with the namespace. The container has its own network
# namespace (loopback only), so its ports never meet the host's tests.
# `make install` runs inside the container against this build tree, then:
#   - one node with the installed raftfsd.service;
#   - three nodes as raftfsd@n1..n3 (a template made from the installed
#     unit: only the config path and the state/runtime directories differ),
#     with the checks run on n1 while n2 and n3 keep the quorum.
# For each: start (Type=notify: READY only once the mount is usable),
# StatusText, write/read through the mount (and on the peers), reload with
# a broken then a good certificate, kill -9 after the mount was used
# (restart, exactly one mount, data intact), a watchdog timeout of a
# SIGSTOPped daemon, a stop that runs into TimeoutStopSec with the service
# cgroup frozen (final SIGKILL to daemon and guard at once; ExecStopPost
# must remove the dead mount), a plain stop (mount gone), and journald's
# per-message priorities.
#
# Needs root and systemd-nspawn (Debian: systemd-container). Exit 77 only
# when the kernel refuses the namespaces. RAFTFS_KEEP=1 keeps the
# directory; the container is always stopped.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "${top_builddir:-$top_srcdir/build}" && pwd)

skip() { echo "SKIP: $*"; exit 77; }
log() { echo "--- $(date +%T) $*"; }

[ "${RAFTFS_INTEGRATION:-1}" != 0 ] || skip "RAFTFS_INTEGRATION=0"
[ "$(id -u)" = 0 ] || skip "needs root"
[ -x "$top_builddir/raftfsd" ] || { echo "FAIL: $top_builddir/raftfsd is not built"; exit 1; }
for tool in systemd-nspawn nsenter unshare; do
        command -v $tool >/dev/null 2>&1 || {
                echo "FAIL: $tool not found (Debian packages systemd-container, util-linux)"; exit 1; }
done
[ -c /dev/fuse ] || skip "no /dev/fuse"
unshare --mount --pid --fork true 2>/dev/null || skip "the kernel refuses new namespaces"

T=$(mktemp -d /tmp/raftfs-sd-XXXXXX)
NSPAWN_PID=""
LAUNCH_PID=""
INIT=""
FROZEN=""
CX_TIMEOUT=120

# awk: sets t to the index of the file system type in a mountinfo line
# (after the optional fields, which end with "-")
FSTYPE_AWK='{ for (t = 7; t < NF && $t != "-"; t++) ; t++ }'

# Runs a command inside the container (all of its namespaces).
PATH_IN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cx() { timeout "$CX_TIMEOUT" nsenter -t "$INIT" -a env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        PATH="$PATH_IN" "$@"; }

journal_tail() {
        [ -n "$INIT" ] || return 0
        echo "=== container journal (last 80 lines)"
        CX_TIMEOUT=20 cx journalctl -q --no-pager -n 80 -o short-monotonic 2>&1 || true
}

fail() {
        echo "FAIL: $*"
        journal_tail
        [ -z "${RAFTFS_SD_HOLD:-}" ] || { echo "holding: nsenter -t $INIT -a"; sleep "$RAFTFS_SD_HOLD"; }
        exit 1
}

cleanup() {
        local rc=$? f
        trap - EXIT
        # Thaw what we froze: frozen tasks would outlive the container.
        if [ -n "$INIT" ] && [ -d "/proc/$INIT" ]; then
                for f in $FROZEN; do CX_TIMEOUT=20 cx sh -c "echo 0 > '$f/cgroup.freeze'" 2>/dev/null || true; done
                # Abort and detach every raftfs mount of the container first:
                # a daemon wedged on its own mount would outlive the
                # container's PID namespace. Only connections listed in the
                # container's mount table are touched.
                CX_TIMEOUT=20 cx env FSTYPE_AWK="$FSTYPE_AWK" sh -c 'd=$(mktemp -d) && mount -t fusectl fusectl "$d" || exit 0
                        for c in $(awk "$FSTYPE_AWK \$t == \"fuse.raftfs\" { sub(/^0:/, \"\", \$3); print \$3 }" \
                                        /proc/self/mountinfo); do
                                echo 1 > "$d/$c/abort"
                        done
                        umount "$d"; rmdir "$d"
                        for m in $(awk "$FSTYPE_AWK \$t == \"fuse.raftfs\" { print \$5 }" /proc/self/mountinfo); do
                                umount -l "$m"
                        done' >/dev/null 2>&1 || true
                CX_TIMEOUT=20 cx systemctl --no-block poweroff >/dev/null 2>&1 || true
                for _ in $(seq 100); do [ -d "/proc/$NSPAWN_PID" ] || break; sleep 0.2; done
        fi
        if [ -n "$NSPAWN_PID" ]; then
                kill -TERM "$NSPAWN_PID" 2>/dev/null || true
                for _ in $(seq 50); do [ -d "/proc/$NSPAWN_PID" ] || break; sleep 0.2; done
                kill -KILL "$NSPAWN_PID" 2>/dev/null || true
        fi
        if [ -n "$LAUNCH_PID" ]; then
                kill -KILL "$LAUNCH_PID" 2>/dev/null || true
                wait "$LAUNCH_PID" 2>/dev/null || true
        fi
        # The cgroups made for the container, deepest first (empty now).
        if [ -f "$T/cgroups" ]; then
                while read -r f; do
                        find "$f" -depth -type d -exec rmdir {} + 2>/dev/null || true
                done <"$T/cgroups"
        fi
        if [ -n "${RAFTFS_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
        exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS COMMAND...: polls every 0.2 s
wait_for() {
        local t=$1 i=0; shift
        while ! "$@" >/dev/null 2>&1; do
                i=$((i + 1))
                [ "$i" -lt $((t * 5)) ] || return 1
                sleep 0.2
        done
}

# ---- the container -----------------------------------------------------

# The overlay shows only the root file system: a source or build tree on
# another one is bound in read-only (one on / is writable in the overlay's
# upper layer, which `make install` into a distcheck prefix needs).
BINDS=""
for d in "$top_srcdir" "$top_builddir"; do
        [ "$(findmnt -n -o TARGET --target "$d")" = / ] || BINDS="$BINDS --bind-ro=$d"
done

log "booting systemd in a container (overlay of /, private network) in $T"
cat >"$T/launch.sh" <<EOF
set -e
# Private to this mount namespace: the overlay, its tmpfs, and the lock and
# propagation directories systemd-nspawn keeps under /run/systemd/nspawn.
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$T/c"
mkdir "$T/c/upper" "$T/c/work" "$T/c/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/c/upper,workdir=$T/c/work" "$T/c/root"
# A cgroup of our own in each hierarchy systemd-nspawn uses: with
# --keep-unit it puts the container under the cgroup it was started in, and
# two containers started from the same one (ours and another test's) would
# share its payload/ and supervisor/ subtrees.
cgroups=\$(cat /proc/self/cgroup)  # read once: it changes as we move
while IFS=: read -r _ ctrl path; do
        case \$ctrl in
        "") base=\$(findmnt -n -t cgroup2 -o TARGET | head -n 1) ;;
        name=systemd) base=\$(findmnt -n -t cgroup -o TARGET,OPTIONS | awk '\$2 ~ /name=systemd/ { print \$1; exit }') ;;
        *) continue ;;
        esac
        [ -n "\$base" ] || continue
        d=\$base\${path%/}/raftfs-test-\$\$
        { mkdir "\$d" && echo "\$d" >>"$T/cgroups" && echo \$\$ >"\$d/cgroup.procs"; } || true
done <<<"\$cgroups"
if [ -d /run/systemd/nspawn ]; then mount -t tmpfs tmpfs /run/systemd/nspawn
elif [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd
fi
# Boot only as far as sysinit.target: no timers, no services of the host.
cat >"$T/c/root/etc/systemd/system/raftfs-test.target" <<'UNIT'
[Unit]
Description=raftfs container test
Requires=sysinit.target
After=sysinit.target
UNIT
# The journal in the container's /run, never copied up from the host's.
mkdir -p "$T/c/root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$T/c/root/etc/systemd/journald.conf.d/raftfs-test.conf"
echo \$\$ >"$T/nspawn.pid"
exec systemd-nspawn -q -D "$T/c/root" -M "raftfs-test-\$\$" --register=no --keep-unit \
        --private-network --bind=/dev/fuse $BINDS \
        -b -- systemd.unit=raftfs-test.target
EOF
mkdir "$T/c"
unshare --mount --propagation private -- bash "$T/launch.sh" </dev/null >"$T/nspawn.log" 2>&1 &
LAUNCH_PID=$!

find_init() {
        local c
        [ -s "$T/nspawn.pid" ] || return 1
        NSPAWN_PID=$(cat "$T/nspawn.pid")
        # systemd-nspawn forks the container's init directly or through an
        # intermediate child, depending on the set-up: look two levels down.
        INIT=$(pgrep -x -P "$NSPAWN_PID" systemd | head -n 1)
        [ -n "$INIT" ] && return 0
        for c in $(pgrep -P "$NSPAWN_PID"); do
                INIT=$(pgrep -x -P "$c" systemd | head -n 1)
                [ -n "$INIT" ] && return 0
        done
        return 1
}
wait_for 30 find_init || { cat "$T/nspawn.log"; fail "the container did not start"; }
find_init
booted() { case $(cx systemctl is-system-running 2>/dev/null) in running|degraded) return 0;; esac; return 1; }
wait_for 60 booted || fail "systemd in the container did not finish booting ($(cx systemctl is-system-running 2>&1))"
log "container up: systemd $(cx systemctl --version | head -n 1 | cut -d' ' -f2) is PID 1 (host pid $INIT)"

log "make install inside the container"
cx make -C "$top_builddir" install >"$T/install.log" 2>&1 || { tail -n 30 "$T/install.log"; fail "make install"; }
# Where this build installs (a distcheck build uses its own prefix).
printf 'raftfs-print-dirs:\n\t@echo $(systemdsystemunitdir) $(sbindir) $(bindir)\n' >"$T/dirs.mk"
read -r UNITDIR SBINDIR BINDIR < <(cx make -s --no-print-directory -C "$top_builddir" -f Makefile \
        -f /dev/stdin raftfs-print-dirs <"$T/dirs.mk") || fail "cannot read the install directories"
cx test -x "$SBINDIR/raftfsd" -a -x "$SBINDIR/raftfsctl" || fail "raftfsd/raftfsctl not installed in $SBINDIR"
cx test -f "$UNITDIR/raftfsd.service" || fail "raftfsd.service not installed in $UNITDIR"
PATH_IN=$SBINDIR:$BINDIR:$PATH_IN
cx systemctl daemon-reload
UNIT_PATH=$(cx systemctl show -P FragmentPath raftfsd.service)
if [ -z "$UNIT_PATH" ]; then
        # not a directory systemd reads (a distcheck prefix): link it in
        cx systemctl link "$UNITDIR/raftfsd.service" >/dev/null || fail "systemctl link $UNITDIR/raftfsd.service"
        UNIT_PATH=$UNITDIR/raftfsd.service
fi
log "installed: $UNITDIR/raftfsd.service, $SBINDIR/raftfsd, $SBINDIR/raftfsctl"

# ---- helpers run against the container ---------------------------------

put() { cx sh -c "cat >'$1'"; }
main_pid() { cx systemctl show -P MainPID "$1"; }
n_restarts() { cx systemctl show -P NRestarts "$1"; }
is_active() { [ "$(cx systemctl is-active "$1")" = active ]; }
# raftfs mounts at a mountpoint, from the container's mount table
n_mounts() {
        cx awk -v m="$1" "$FSTYPE_AWK"' $5 == m && $t == "fuse.raftfs" { n++ } END { print n + 0 }' /proc/self/mountinfo
}
cursor() { cx journalctl -q -n 0 --show-cursor | sed -n 's/^-- cursor: //p'; }
# Entries after CURSOR as JSON, one per line. Filtered here rather than
# with journalctl matches: journalctl 252 skips the first matching entry
# when --after-cursor is combined with -t or -p.
journal_after() { cx journalctl -q --no-pager --after-cursor="$1" -o json; }
# journal_has CURSOR TEXT [PRIORITY]: a message containing TEXT after CURSOR
journal_has() {
        journal_after "$1" | grep -F -- "$2" | grep -q "\"PRIORITY\":\"${3:-[0-7]}\""
}
wait_journal() { wait_for "$1" journal_has "${@:2}" || fail "no journal line '$3'${4:+ with PRIORITY=$4}"; }
# prio_of CURSOR TEXT: the PRIORITY of the first such message
prio_of() {
        journal_after "$1" | grep -F -- "$2" | sed -n 's/.*"PRIORITY":"\([0-9]\)".*/\1/p' | head -n 1
}

# make_node NAME CONF DATA MNT SOCK PORT MEMBERS
make_conf() {
        put "$2" <<EOF
[node]
name = $1
listen = 127.0.0.1:$6
data_dir = $3
mountpoint = $4
control_socket = $5
[cluster]
initial_members = $7
[tls]
ca = /etc/raftfs/tls/ca.crt
cert = /etc/raftfs/tls/$1.crt
key = /etc/raftfs/tls/$1.key
[raft]
heartbeat_ms = 50
election_timeout_ms = 500
[session]
ttl_ms = 3000
EOF
}

dropin() { # UNIT NAME CONTENT: a drop-in, then daemon-reload
        cx mkdir -p "/etc/systemd/system/$1.d"
        printf '[Service]\n%s\n' "$3" | put "/etc/systemd/system/$1.d/$2.conf"
        cx systemctl daemon-reload
}
undropin() { cx rm -f "/etc/systemd/system/$1.d/$2.conf"; cx systemctl daemon-reload; }

# Wedges a unit's processes: moves them into a child of the unit's cgroup
# in the cgroup v2 hierarchy (the unified one of a hybrid set-up) and
# freezes that. Unlike SIGSTOP (systemd sends SIGCONT after the stop signal)
# a frozen process ignores everything but SIGKILL. A child cgroup, so that
# ExecStopPost (started in the unit's cgroup) is not frozen too. Prints the
# child's directory.
wedge() {
        local cg base
        cg=$(cx sed -n 's/^0:://p' "/proc/$(main_pid "$1")/cgroup")
        for base in /sys/fs/cgroup/unified /sys/fs/cgroup; do
                cx test -f "$base$cg/cgroup.freeze" || continue
                cx sh -c "mkdir '$base$cg/wedge' &&
                        for p in \$(cat '$base$cg/cgroup.procs'); do echo \$p > '$base$cg/wedge/cgroup.procs'; done &&
                        echo 1 > '$base$cg/wedge/cgroup.freeze'" || return 1
                echo "$base$cg/wedge"
                return 0
        done
        return 1
}
frozen() { cx grep -q "^frozen 1" "$1/cgroup.events"; }

# ---- the checks, for one unit ------------------------------------------

# check_unit UNIT CONF MNT [PEER_MNT...]
check_unit() {
        local u=$1 conf=$2 mnt=$3 c pid pid2 r0 f st prio
        shift 3

        log "$u: start"
        cx systemctl start "$u" || fail "systemctl start $u"
        # READY=1 has been received: the mount must be usable right now.
        [ "$(n_mounts "$mnt")" = 1 ] || fail "$u active but $(n_mounts "$mnt") mounts at $mnt"
        cx cat "$mnt/.raftfs/status" >/dev/null || fail "$u: $mnt/.raftfs/status unreadable right after READY"
        is_active "$u" || fail "$u is not active"
        st=$(cx systemctl show -P StatusText "$u")
        echo "    StatusText: $st"
        case $st in *term*leader*commit*) ;; *) fail "$u: unexpected StatusText '$st'";; esac

        log "$u: write and read through the mount"
        echo "written via $u" | cx sh -c "cat >'$mnt/sd-test'" || fail "write to $mnt/sd-test"
        [ "$(cx cat "$mnt/sd-test")" = "written via $u" ] || fail "read back $mnt/sd-test"
        for p in "$@"; do
                [ "$(cx cat "$p/sd-test")" = "written via $u" ] || fail "$p/sd-test does not show the write"
        done

        log "$u: journald keeps per-message priorities"
        c=$(cursor)
        # --clean-mount against the live daemon's configuration must refuse
        # with an error line; its stderr goes to journald through a stream
        # like the unit's (systemd-cat; systemd-run --wait needs D-Bus).
        if cx systemd-cat -t raftfsd-clean raftfsd --clean-mount -c "$conf"; then
                fail "--clean-mount did not refuse to touch the mount of a running daemon"
        fi
        [ "$(n_mounts "$mnt")" = 1 ] && cx cat "$mnt/sd-test" >/dev/null || fail "the live mount was touched"
        wait_journal 10 "$c" "is running with data_dir"
        prio=$(prio_of "$c" "is running with data_dir")
        [ "$prio" = 3 ] || fail "the refusal was logged with PRIORITY=$prio, not 3 (err)"
        # and the unit's own lines: info for the mount, warning for the guard
        # that finds no fusectl in this container
        prio=$(cx journalctl -q --no-pager -u "$u" -o json | grep '"MESSAGE":"Mounted at ' |
               sed -n 's/.*"PRIORITY":"\([0-9]\)".*/\1/p' | tail -n 1)
        [ "$prio" = 6 ] || fail "'Mounted at' has PRIORITY=$prio, not 6"

        log "$u: reload with a broken certificate, then a good one"
        cx cp "/etc/raftfs/tls/$NODE.crt" /root/crt.save
        echo "not a certificate" | put "/etc/raftfs/tls/$NODE.crt"
        c=$(cursor)
        cx systemctl reload "$u" || fail "systemctl reload $u"
        wait_journal 10 "$c" "Reload failed, keeping the current certificates" 4
        cx cp /root/crt.save "/etc/raftfs/tls/$NODE.crt"
        c=$(cursor)
        cx systemctl reload "$u" || fail "systemctl reload $u"
        wait_journal 10 "$c" "Reloaded TLS certificates" 6
        is_active "$u" || fail "$u not active after reload"

        log "$u: kill -9 after the mount was used"
        pid=$(main_pid "$u"); r0=$(n_restarts "$u")
        cx stat "$mnt" >/dev/null && cx cat "$mnt/sd-test" >/dev/null
        c=$(cursor)
        cx kill -9 "$pid"
        restarted() { is_active "$u" && [ "$(n_restarts "$u")" -gt "$r0" ] && [ "$(main_pid "$u")" != "$pid" ]; }
        wait_for 30 restarted || fail "$u was not restarted after kill -9"
        [ "$(n_mounts "$mnt")" = 1 ] || fail "after kill -9 and restart: $(n_mounts "$mnt") mounts at $mnt"
        [ "$(cx cat "$mnt/sd-test")" = "written via $u" ] || fail "data lost after kill -9"
        journal_has "$c" "Detached the stale mount" || fail "nothing detached the dead mount"
        prio=$(prio_of "$c" "Detached the stale mount")
        [ "$prio" = 5 ] || fail "'Detached the stale mount' has PRIORITY=$prio, not 5 (notice)"

        log "$u: SIGSTOP with WatchdogSec=3s"
        dropin "$u" watchdog $'WatchdogSec=3s\nTimeoutAbortSec=5s\nLimitCORE=0'
        cx systemctl restart "$u" || fail "restart $u with the watchdog drop-in"
        pid=$(main_pid "$u"); r0=$(n_restarts "$u")
        sleep 3         # pings arrive: no restart while it runs
        [ "$(main_pid "$u")" = "$pid" ] || fail "$u restarted although it pinged the watchdog"
        c=$(cursor)
        cx kill -STOP "$pid"
        wait_for 30 restarted || fail "$u was not restarted by the watchdog"
        journal_has "$c" "Watchdog timeout" || fail "no watchdog timeout in the journal"
        [ "$(n_mounts "$mnt")" = 1 ] || fail "after the watchdog restart: $(n_mounts "$mnt") mounts at $mnt"
        [ "$(cx cat "$mnt/sd-test")" = "written via $u" ] || fail "data lost after the watchdog restart"
        undropin "$u" watchdog

        log "$u: stop of a wedged daemon (frozen cgroup, TimeoutStopSec=3s)"
        dropin "$u" stoptimeout $'TimeoutStopSec=3s'
        cx systemctl restart "$u" || fail "restart $u with the stop-timeout drop-in"
        cx cat "$mnt/sd-test" >/dev/null
        c=$(cursor)
        f=$(wedge "$u") || fail "cannot freeze the processes of $u (cgroup v2 freezer)"
        FROZEN="$FROZEN $f"
        wait_for 10 frozen "$f" || fail "$u did not freeze"
        echo "    frozen: $(cx sh -c "for p in \$(cat '$f/cgroup.procs'); do echo \$p \$(cat /proc/\$p/comm); done" |
                tr '\n' ' ')"
        # A client now waits on the frozen daemon.
        cx sh -c "stat -f '$mnt' >/dev/null 2>&1 &"
        cx systemctl stop "$u" || true
        journal_after "$c" | grep -F -e "\"_SYSTEMD_UNIT\":\"$u\"" -e "\"UNIT\":\"$u\"" |
                sed -n 's/.*"MESSAGE":"\([^"]*\)".*/    journal: \1/p'
        journal_has "$c" "timed out. Killing" || fail "the stop did not reach its timeout"
        [ "$(n_mounts "$mnt")" = 0 ] || fail "$(n_mounts "$mnt") raftfs mounts left at $mnt after a timed-out stop"
        journal_has "$c" "Detached the stale mount" || fail "ExecStopPost did not detach the mount"
        cx sh -c "echo 0 > '$f/cgroup.freeze'; rmdir '$f'" 2>/dev/null || true
        undropin "$u" stoptimeout
        cx systemctl reset-failed "$u" 2>/dev/null || true

        log "$u: start again, then a plain stop"
        cx systemctl start "$u" || fail "start $u after the timed-out stop"
        [ "$(cx cat "$mnt/sd-test")" = "written via $u" ] || fail "data lost after the timed-out stop"
        cx systemctl stop "$u" || fail "systemctl stop $u"
        [ "$(n_mounts "$mnt")" = 0 ] || fail "mount still there after systemctl stop"
        [ "$(cx systemctl is-active "$u")" = inactive ] || fail "$u not inactive after stop"
}

# ---- one node -----------------------------------------------------------

cx mkdir -p /etc/raftfs
cx raftfsctl cert ca /etc/raftfs/tls >/dev/null || fail "raftfsctl cert ca"
for n in n1 n2 n3; do
        cx raftfsctl cert node --ca /etc/raftfs/tls --ip 127.0.0.1 $n >/dev/null || fail "raftfsctl cert node $n"
done

log "=== one node: raftfsd.service"
NODE=n1
make_conf n1 /etc/raftfs/raftfs.conf /var/lib/raftfs /mnt/raftfs /run/raftfs/control.sock 7001 \
        "n1=127.0.0.1:7001"
cx raftfsd -t -c /etc/raftfs/raftfs.conf >/dev/null || fail "the one-node configuration"
check_unit raftfsd.service /etc/raftfs/raftfs.conf /mnt/raftfs

# ---- three nodes ---------------------------------------------------------

log "=== three nodes: raftfsd@n1..n3 (template made from $UNIT_PATH)"
cx sed -e 's|/etc/raftfs/raftfs.conf|/etc/raftfs/%i.conf|g' \
        -e 's|^StateDirectory=raftfs$|StateDirectory=raftfs/%i|' \
        -e 's|^RuntimeDirectory=raftfs$|RuntimeDirectory=raftfs/%i|' \
        -e 's|^Description=.*|& (%i)|' "$UNIT_PATH" | put /etc/systemd/system/raftfsd@.service
cx systemctl daemon-reload
MEMBERS="n1=127.0.0.1:7011, n2=127.0.0.1:7012, n3=127.0.0.1:7013"
for i in 1 2 3; do
        make_conf n$i /etc/raftfs/n$i.conf /var/lib/raftfs/n$i /mnt/raftfs-n$i /run/raftfs/n$i/control.sock 701$i \
                "$MEMBERS"
done
cx systemctl start raftfsd@n2 raftfsd@n3 &
peers=$!
sleep 0.5
NODE=n1
check_unit raftfsd@n1.service /etc/raftfs/n1.conf /mnt/raftfs-n1 /mnt/raftfs-n2 /mnt/raftfs-n3
wait $peers || fail "systemctl start raftfsd@n2 raftfsd@n3"
for n in n2 n3; do
        is_active raftfsd@$n || fail "raftfsd@$n is not active"
        [ "$(cx cat /mnt/raftfs-$n/sd-test)" = "written via raftfsd@n1.service" ] || fail "$n lost the data"
done
log "three nodes: stop"
cx systemctl stop raftfsd@n2 raftfsd@n3 || fail "stop n2 n3"
for n in n2 n3; do [ "$(n_mounts /mnt/raftfs-$n)" = 0 ] || fail "$n still mounted after stop"; done

echo "PASS: raftfsd.service under systemd $(cx systemctl --version | head -n 1 | cut -d' ' -f2) in a container: one and three nodes"
