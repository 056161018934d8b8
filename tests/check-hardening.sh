#!/usr/bin/env bash
# check-hardening.sh — verifies on the linked binaries that the hardening
# flags configure chose really took effect (a misspelt flag variable would
# silently do nothing): PIE, full RELRO (BIND_NOW), non-executable stack, and
# the stack protector. Exit 77 when no program is built or readelf is absent.
set -u
bd=${top_builddir:-.}
command -v readelf >/dev/null || exit 77
progs=()
for p in raftfsd raftfsctl tests/unit/test-lib; do
        [ -x "$bd/$p" ] && progs+=("$bd/$p")
done
[ ${#progs[@]} -gt 0 ] || exit 77
fail=0
for p in "${progs[@]}"; do
        hdr=$(readelf -h -W "$p")
        dyn=$(readelf -d -W "$p")
        seg=$(readelf -l -W "$p")
        grep -q 'Type:.*DYN' <<<"$hdr" || { echo "$p: not PIE"; fail=1; }
        grep -q 'GNU_RELRO' <<<"$seg" || { echo "$p: no RELRO segment"; fail=1; }
        grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<<"$dyn" || { echo "$p: no BIND_NOW (partial RELRO)"; fail=1; }
        if grep -A1 'GNU_STACK' <<<"$seg" | grep -q 'RWE'; then echo "$p: executable stack"; fail=1; fi
        # Sanitizer builds use their own stack checks; only require the
        # protector symbol in plain builds.
        if ! readelf -s -W "$p" | grep -q '__asan_init'; then
                readelf -s -W "$p" | grep -q '__stack_chk_fail' || { echo "$p: no stack protector"; fail=1; }
        fi
        [ $fail -eq 0 ] && echo "$p: PIE, RELRO+BIND_NOW, NX stack, stack protector: ok"
done
exit $fail
