#!/bin/bash
# bench/fs.sh — starts a 3-node loopback cluster with its mounts (n1 leads,
# n2 follows, n3 follows with consistency = local) and runs bench/fs on it.
#   bench/fs.sh [bench/fs options...]      e.g. --quick, --only meta
#   RUNS=3 bench/fs.sh [options...]        three runs, each on a fresh
#                                          cluster, then the median and range
#                                          of every figure (see bench/METADATA.md)
#   bench/fs.sh --summary RECORDS...       the same summary of earlier
#                                          --records files (no cluster)
# Needs root; uses the integration tests' cluster helpers.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
export top_srcdir

# summarize RECORDS...: per figure and mount, the median and range over the
# files (bench/fs --records), in the order the figures first appear.
summarize() {
        awk -F '\t' '
        { key = $1 "\t" $2; if (!(key in n)) { order[++k] = key; unit[key] = $4; n[key] = 0 }
          v[key, n[key]++] = $3 + 0 }
        END {
                for (o = 1; o <= k; o++) {
                        key = order[o]; c = n[key]
                        for (i = 1; i < c; i++)
                                for (j = i; j > 0 && v[key, j - 1] > v[key, j]; j--) {
                                        t = v[key, j]; v[key, j] = v[key, j - 1]; v[key, j - 1] = t
                                }
                        med = c % 2 ? v[key, (c - 1) / 2] : (v[key, c / 2 - 1] + v[key, c / 2]) / 2
                        split(key, f, "\t")
                        fmt = med >= 100 ? "%.0f" : "%.4g"
                        printf "%-26s %-13s %12s  (%s-%s) %s, %d runs\n", f[1], f[2], sprintf(fmt, med),
                               sprintf(fmt, v[key, 0]), sprintf(fmt, v[key, c - 1]), unit[key], c
                }
        }' "$@"
}

if [ "${1:-}" = --summary ]; then
        shift
        summarize "$@"
        exit
fi

# RUNS > 1: run this script RUNS times (a run whose cluster does not come up,
# e.g. on a port another test holds, is tried again with another port, up to
# 3 times), then summarize the --records of the runs. The machine's load is
# printed around each run: figures from a busy machine vary.
if [ "${RUNS:-1}" -gt 1 ] && [ -z "${BENCH_FS_RUN:-}" ]; then
        out=$(mktemp -d /tmp/bench-fs-runs-XXXXXX)
        for i in $(seq "$RUNS"); do
                for try in 1 2 3; do
                        echo "=== run $i of $RUNS, try $try: $(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
                        rm -f "$out/run$i"
                        BENCH_FS_RUN=$i "$0" "$@" --records "$out/run$i" 2>&1 | tee "$out/out$i"
                        [ "${PIPESTATUS[0]}" = 0 ] && break
                done
                [ -s "$out/run$i" ] || { echo "bench/fs.sh: run $i failed 3 times, see $out/out$i"; exit 1; }
                echo "=== run $i done: $(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
        done
        echo "=== median of $RUNS runs (min-max), records in $out"
        summarize $(for i in $(seq "$RUNS"); do echo "$out/run$i"; done)
        exit 0
fi
lib="$top_srcdir/tests/integration/lib.sh"
[ -f "$lib" ] || { echo "bench/fs.sh: $lib not found (needs the daemon's integration helpers)"; exit 77; }
. "$lib"
PORT=${RAFTFS_TEST_PORT:-$((7100 + RANDOM % 800))}
addr_of() { echo "127.0.0.${1#n}:$PORT"; }
BENCH=$top_builddir/bench/fs
[ -x "$BENCH" ] || skip "bench/fs not built"

# Without -v: debug logging of every raft message would be measured too.
start_node() {
        local n=$1
        "$RAFTFSD" -c "$T/$n/raftfs.conf" >>"$T/$n/raftfsd.log" 2>&1 &
        echo $! >"$T/$n/pid"
        PIDS="$PIDS $!"
}

nodes="n1 n2 n3"
make_certs $nodes
for n in $nodes; do
        write_conf "$n" "$(members_of $nodes)"
        sed -i -e 's/^mount = no$/mount = yes/' -e 's/^heartbeat_ms = .*/heartbeat_ms = 100/' \
               -e 's/^election_timeout_ms = .*/election_timeout_ms = 1000/' "$T/$n/raftfs.conf"
        mkdir -p "$T/$n/mnt"
done
echo "consistency = local" >>"$T/n3/raftfs.conf"
for n in $nodes; do start_node "$n"; done
wait_for 30 leader_among $nodes || fail "no leader"
for n in $nodes; do wait_for 30 is_ready "$n" || fail "$n not ready"; done
leader=$(leader_among $nodes)
if [ "$leader" != n1 ]; then
        ctl "$leader" leader transfer n1 || fail "leader transfer"
        wait_for 10 is_leader n1 || fail "n1 did not take over"
fi
for n in $nodes; do wait_for 10 mountpoint -q "$T/$n/mnt" || fail "$n not mounted"; done

"$BENCH" --leader "$T/n1/mnt" --follower "$T/n2/mnt" --local "$T/n3/mnt" \
         --pids "$(pid_of n1),$(pid_of n2),$(pid_of n3)" --kill-leader "$(pid_of n1)" "$@"
status=$?
for n in $nodes; do umount -l "$T/$n/mnt" 2>/dev/null || true; done
exit $status
