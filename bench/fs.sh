#!/bin/bash
# bench/fs.sh — starts a 3-node loopback cluster with its mounts (n1 leads,
# n2 follows, n3 follows with consistency = local) and runs bench/fs on it.
#   bench/fs.sh [bench/fs options...]      e.g. --quick
# Needs root; uses the integration tests' cluster helpers.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
export top_srcdir
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
