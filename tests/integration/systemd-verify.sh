#!/bin/sh
# systemd-verify.sh — runs `systemd-analyze verify` on raftfsd.service, with
# ExecStart pointing at the freshly built raftfsd (verify checks that the
# executables exist). Exit 77 (skip) when systemd-analyze is not available.
set -eu

command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not found, skipping"; exit 77; }
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=$(cd "${top_builddir:-$top_srcdir}" && pwd)
[ -x "$top_builddir/raftfsd" ] || { echo "raftfsd not built, skipping"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s|@sbindir[@]|$top_builddir|g" "$top_srcdir/systemd/raftfsd.service.in" > "$tmp/raftfsd.service"

# network-online.target etc. may be absent in a minimal container: verify
# reports missing dependencies as errors too, so only our own unit's
# messages count.
out=$(systemd-analyze verify --man=no "$tmp/raftfsd.service" 2>&1) || status=$?
echo "$out"
if echo "$out" | grep -q "raftfsd.service"; then
        echo "FAIL: systemd-analyze verify complained about raftfsd.service"
        exit 1
fi
echo "raftfsd.service verified"
