#!/bin/sh
# test-conf-example.sh — systemd/raftfs.conf.example, installed as
# /etc/raftfs/raftfs.conf (and shipped as a conffile by the Debian package),
# keeps its two promises:
#  1. As shipped it sets nothing, so raftfsd refuses it (a required key is
#     missing) and an unconfigured node cannot start by accident.
#  2. Every key raftfsd knows is in it, commented out, with its default
#     value: uncommenting the required keys (name, listen, initial_members
#     and the [tls] paths) gives a file whose --dump-config prints exactly
#     the values the example shows, and uncommenting every key still passes
#     raftfsd -t.
# Exit 77 (skip) while raftfsd is not built.
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
raftfsd=$builddir/raftfsd
example=$srcdir/systemd/raftfs.conf.example

if [ ! -x "$raftfsd" ]; then
        echo "SKIP: $raftfsd is not built yet"
        exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# 1. The file as shipped is refused, for the right reason.
if "$raftfsd" -t -c "$example" >"$tmp/out" 2>&1; then
        echo "FAIL: raftfsd -t accepts the example as shipped:"
        cat "$tmp/out"
        fail=1
elif ! grep -q "missing required key" "$tmp/out"; then
        echo "FAIL: raftfsd -t refuses the example for another reason than a missing key:"
        cat "$tmp/out"
        fail=1
else
        echo "ok: the example as shipped is refused (missing required key)"
fi

# 2a. Every commented key uncommented: still a valid file.
sed -E 's/^#([a-z_]+ = )/\1/' "$example" >"$tmp/all.conf"
if "$raftfsd" -t -c "$tmp/all.conf" >"$tmp/out" 2>&1; then
        echo "ok: the example with every key uncommented passes raftfsd -t"
else
        echo "FAIL: the example with every key uncommented is refused:"
        cat "$tmp/out"
        fail=1
fi

# 2b. Only the required keys uncommented: the dump shows the defaults, which
# must be the values the example shows, key for key.
sed -E 's/^#((name|listen|initial_members|ca|cert|key) = )/\1/' "$example" >"$tmp/req.conf"
if ! "$raftfsd" -c "$tmp/req.conf" --dump-config >"$tmp/dump" 2>"$tmp/out"; then
        echo "FAIL: --dump-config of the example with its required keys fails:"
        cat "$tmp/out"
        exit 1
fi
# "key = value" lines of the dump, and "#key = value" lines of the example.
grep -E '^[a-z_]+ = ' "$tmp/dump" | sort >"$tmp/dumped"
sed -n -E 's/^#([a-z_]+ = .*)$/\1/p' "$example" | sort >"$tmp/shown"
n=0
while IFS= read -r line; do
        n=$((n + 1))
        key=${line%% = *}
        if ! grep -qxF "$line" "$tmp/shown"; then
                shown=$(grep -E "^$key = " "$tmp/shown" || true)
                echo "FAIL: raftfsd has '$line'; the example shows '${shown:-nothing}'"
                fail=1
        fi
done <"$tmp/dumped"
while IFS= read -r line; do
        key=${line%% = *}
        if ! grep -qE "^$key = " "$tmp/dumped"; then
                echo "FAIL: the example shows '$line', a key raftfsd does not print"
                fail=1
        fi
done <"$tmp/shown"
[ $fail -eq 0 ] && echo "ok: the example shows all $n keys with their effective values"
exit $fail
