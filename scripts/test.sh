#!/usr/bin/env bash
# test.sh — README command (2): installs what is missing, builds, and runs the
# whole test suite:
#   1. `make check` in build/ (unit suites, fuzz corpus replays, simulator
#      seeds, integration tests with real daemons and FUSE mounts);
#   2. the unit suites again under ASan+UBSan in build-asan/.
# Exits non-zero when any test fails. Set RAFTFS_SKIP_ASAN=1 to skip step 2.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"

status=0
"$top/scripts/build.sh" "$top/build"
make -C "$top/build" -j"$(nproc)" check || status=1

if [ "${RAFTFS_SKIP_ASAN:-0}" != 1 ]; then
        "$top/scripts/build.sh" "$top/build-asan" --enable-sanitizers
        # Integration tests run once, above; the sanitizer pass covers the
        # in-process suites (unit, fuzz replays, simulator). The simulator
        # runs fewer seeds there: ASan slows it tenfold, and the plain build
        # has already run the full set.
        RAFTFS_INTEGRATION=0 RAFTSIM_SEEDS=${RAFTSIM_ASAN_SEEDS:-300} \
                make -C "$top/build-asan" -j"$(nproc)" check || status=1
fi

for d in build build-asan; do
        log="$top/$d/test-suite.log"
        [ -f "$log" ] || continue
        if [ $status -ne 0 ]; then
                echo "==== failures in $d (see $log)"
                grep -E '^(FAIL|ERROR):' "$log" || true
        fi
done

# One closing line for the whole run, counted from automake's .trs files.
find "$top/build" "$top/build-asan" -name '*.trs' 2>/dev/null | xargs -r cat |
        awk '/^:test-result:/ { if ($2 == "PASS" || $2 == "XFAIL") p++; else if ($2 == "SKIP") s++; else f++ }
             END { printf "raftfs: %d passed, %d failed, %d skipped\n", p, f, s }'
exit $status
