#!/usr/bin/env bash
# deps.sh — installs the Debian 12 packages raftfs needs to build, test and
# run, when any is missing. Idempotent: does nothing (prints nothing, needs no
# network) when everything is present. Must run as root on a machine without
# them.
#
# Nothing is assumed beyond a minimal Debian root (debootstrap --variant=
# minbase: the Essential and required packages). Every command a test or a
# script of `make check` runs is in one of the packages below, or in an
# Essential one (bash, coreutils, findutils, grep, sed, mawk, perl-base,
# util-linux). scripts/fresh-debian-check.sh proves the list: it runs
# ./scripts/test.sh from a clean clone in such a root and fails on any skip.
set -euo pipefail

packages=(
        # build: compiler, autotools, the libraries configure checks for
        build-essential autoconf automake pkg-config
        libfuse3-dev libsystemd-dev libssl-dev check
        # the fuzzing build and the sanitizer runtime of clang
        clang libclang-rt-14-dev
        # readelf (tests/check-hardening.sh)
        binutils
        # fusermount3 (integration tests, chaos, scripts/cluster.sh)
        fuse3
        # ip and tc (tests/chaos/net.sh: namespaces, veths, bridge, netem)
        iproute2
        # iptables (tests/chaos: cuts, loss, the NFQUEUE delayer); kmod so
        # the kernel can load netfilter/netem modules on a real machine
        iptables kmod
        # nsenter, flock, setsid, mountpoint (util-linux); mount/umount
        util-linux mount
        # getfattr/setfattr (fusefs tests, man-recipes, chaos)
        attr
        # fuser, killall (psmisc); pgrep, ps (procps)
        psmisc procps
        # tests/unit/test-man-lint.sh: mandoc -Tlint and groff -man -ww
        mandoc groff-base
        # editors the fusefs tests run on a mount (test-fusefs tools case,
        # fusefs-cluster.sh): vim (the vim package: vim-tiny has no `vim`)
        # and ed
        vim ed
        # notify.sh and the fusefs tests use python3; fusefs-conformance.sh
        # runs CPython's own file-system regression tests
        python3 libpython3.11-testsuite
        # systemd-analyze (tests/integration/systemd-verify.sh), systemd.pc
        # (configure's unit directory), and the systemd-as-PID-1 container
        # test: systemd-nspawn and debootstrap
        systemd systemd-container debootstrap
)

missing=()
for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
                missing+=("$p")
        fi
done

if [ ${#missing[@]} -eq 0 ]; then
        exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
        exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt run (unattended-upgrades, a provisioning script) may hold the
# lock: wait for it instead of failing.
lock=(-o DPkg::Lock::Timeout=600)
apt-get "${lock[@]}" update -qq
apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
