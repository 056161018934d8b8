#!/usr/bin/env bash
# fresh-debian-check.sh — runs README command (2), ./scripts/test.sh, the way
# a new user would: as root on a fresh Debian 12 machine that has nothing but
# the base system, from a clean clone. Proves that scripts/deps.sh installs
# everything every test needs (test.sh fails on any skip).
#
#   scripts/fresh-debian-check.sh [--keep] [--refresh] [--cache DIR] [--shell]
#                                 [-- VAR=VALUE...]
#
# 1. A minimal Debian 12 root (debootstrap --variant=minbase bookworm: only
#    the Essential and required packages, less than any real installation),
#    made once and cached as a tarball (DIR/bookworm-minbase.tar, default
#    DIR /var/tmp/raftfs-fresh; --refresh makes it anew). Its apt sources
#    are the Debian archive this host uses (/etc/apt/sources.list*), or
#    MIRROR=URL.
# 2. A clean clone of this repository's committed HEAD in /root/raftfs of a
#    copy of that root (uncommitted changes are not in it, on purpose).
# 3. ./scripts/test.sh run there as root in a systemd-nspawn container with
#    its own network namespace (--private-network: only lo; the integration
#    tests use 127.0.0.N, the chaos tests make their own namespaces, veths,
#    a bridge and iptables rules inside it), /dev/fuse bound in, and every
#    capability (mounts, namespaces, netfilter). VAR=VALUE after -- is
#    passed to test.sh (e.g. RAFTFS_SKIP_ASAN=1).
# The output goes to the terminal and to RUN/test.log; the run's root is
# removed afterwards unless the run failed or --keep was given (RUN is
# printed). --shell opens a shell in the container instead of running the
# tests. Exit status: test.sh's.
#
# Needs root, debootstrap and systemd-nspawn (systemd-container) on the host.
set -euo pipefail
# The whole script is one compound command, read before it runs: editing
# this file (git checkout, rebase) during a run cannot change the run.
{

top=$(cd "$(dirname "$0")/.." && pwd)
cache=/var/tmp/raftfs-fresh
keep=0 refresh=0 shell=0
while [ $# -gt 0 ]; do
        case $1 in
        --keep) keep=1 ;;
        --refresh) refresh=1 ;;
        --cache) cache=$2; shift ;;
        --shell) shell=1 ;;
        --) shift; break ;;
        -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fresh-debian-check: unknown option $1" >&2; exit 2 ;;
        esac
        shift
done
envs=("$@")

die() { echo "fresh-debian-check: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for t in debootstrap systemd-nspawn git tar; do
        command -v "$t" >/dev/null || die "$t is missing (apt-get install debootstrap systemd-container git tar)"
done
[ -c /dev/fuse ] || die "no /dev/fuse on this host"

# The host's Debian archive: the first URI of a deb822 stanza or a one-line
# entry for bookworm; the security archive likewise.
sources() { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; }
archive_of() {  # SUITE: prints the URI serving it
        sources | awk -v suite="$1" '
                /^[[:space:]]*#/ { next }
                /^deb[[:space:]]/ { sub(/\[[^]]*\]/, ""); $0 = $0; for (i = 3; i <= NF; i++) if ($i == suite) { print $2; exit } }
                /^URIs:/ { uri = $2 }
                /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite && uri != "") { print uri; exit } }
                /^$/ { uri = "" }'
}
mirror=${MIRROR:-$(archive_of bookworm)}
mirror=${mirror:-http://deb.debian.org/debian}
security=$(archive_of bookworm-security)

mkdir -p "$cache"
tarball=$cache/bookworm-minbase.tar
if [ $refresh = 1 ] || [ ! -s "$tarball" ]; then
        echo "fresh-debian-check: debootstrap bookworm (minbase) from $mirror"
        tmp=$(mktemp -d "$cache/debootstrap-XXXXXX")
        if ! debootstrap --variant=minbase bookworm "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
                tail -n 20 "$tmp/debootstrap.log" >&2
                rm -rf "$tmp"
                die "debootstrap failed"
        fi
        tar -C "$tmp/root" --numeric-owner -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$tmp"
fi

run=$(mktemp -d /var/tmp/raftfs-fresh-run-XXXXXX)
root=$run/root
mkdir "$root"
tar -C "$root" --numeric-owner -xf "$tarball"
{
        echo "deb $mirror bookworm main"
        echo "deb $mirror bookworm-updates main"
        [ -z "$security" ] || echo "deb $security bookworm-security main"
} >"$root/etc/apt/sources.list"
# The container shares the host's resolver configuration only to reach the
# archive; nothing else is copied from the host.
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

rev=$(git -C "$top" rev-parse HEAD)
git clone -q --no-hardlinks "$top" "$root/root/raftfs"
git -C "$root/root/raftfs" checkout -q "$rev"
echo "fresh-debian-check: $(git -C "$root/root/raftfs" log -1 --format='%h %s' | cut -c1-100)"
echo "fresh-debian-check: root $root"

# Two steps: deps.sh with the host's network (it needs the Debian archive),
# then test.sh in a private network namespace (only lo: the integration
# tests' fixed ports on 127.0.0.N cannot meet anything of the host's). There
# test.sh runs deps.sh again, which finds everything and needs no network.
nspawn=(systemd-nspawn -q -D "$root" --register=no --keep-unit
        --bind=/dev/fuse --capability=all --chdir=/root/raftfs
        --setenv=HOME=/root --setenv=LANG=C.UTF-8)
# The fuse control file system, as systemd mounts it on a real machine
# (sys-fs-fuse-connections.mount); raftfsd aborts its own dead or wedged
# connection through it. It is one instance per kernel, so the host's is the
# one the container would mount.
if mountpoint -q /sys/fs/fuse/connections; then
        nspawn+=(--bind=/sys/fs/fuse/connections)
else
        echo "fresh-debian-check: warning: /sys/fs/fuse/connections is not mounted on this host (mount -t fusectl fusectl /sys/fs/fuse/connections)" >&2
fi

steps() {
        local rc=0 t0=$SECONDS t1
        echo "==== deps.sh (host network, for the Debian archive only)"
        "${nspawn[@]}" /root/raftfs/scripts/deps.sh || rc=$?
        t1=$SECONDS
        echo "==== deps.sh: exit $rc, $((t1 - t0)) s"
        [ $rc = 0 ] || return $rc
        echo "==== test.sh (private network namespace)"
        "${nspawn[@]}" --private-network /usr/bin/env "${envs[@]}" ./scripts/test.sh || rc=$?
        echo "==== test.sh: exit $rc, $((SECONDS - t1)) s"
        return $rc
}

status=0
if [ $shell = 1 ]; then
        "${nspawn[@]}" --private-network /bin/bash || status=$?
else
        set +e
        steps 2>&1 | tee "$run/test.log"
        status=${PIPESTATUS[0]}
        set -e
fi

# Stray network namespaces or mounts of the run die with the container; the
# root is removed unless asked to keep it or the run failed.
if [ $keep = 1 ] || [ "$status" != 0 ]; then
        echo "fresh-debian-check: kept $run (test.log, root/root/raftfs/build*/test-suite.log)"
else
        rm -rf "$root"
        echo "fresh-debian-check: log in $run/test.log"
fi
exit "$status"
}
