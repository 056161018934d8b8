#!/bin/bash
# cluster-lock.sh — raftfsctl lock's supervision with real daemons: the
# fencing token reaches the child, the exit status passes through, signals
# are forwarded, -n refuses a held lock, and the child is terminated when
# the session goes into jeopardy (peers stopped) or the daemon stops.
# The lock itself is taken on a local file (RAFTFSCTL_TESTING_FENCE skips the
# mount check and the xattr), so this runs without the FUSE mount.
PORT=27301
. "$(dirname "$0")/lib.sh"

nodes="n1 n2 n3"
make_certs n1 n2 n3
for n in $nodes; do write_conf "$n" "$(members_of $nodes)"; done
for n in $nodes; do start_node "$n"; done
for n in $nodes; do wait_for 20 is_ready "$n" || fail "$n not ready"; done
session_ok() { [ "$(json_field "$1" state)" = ok ]; }
wait_for 10 session_ok n1 || fail "n1 has no session"

export RAFTFSCTL_TESTING_FENCE=4242
lock() { ctl n1 lock "$@"; }

log "fencing token and exit status"
lock "$T/lockfile" -- sh -c "echo \$RAFTFS_FENCE > $T/fence; exit 7" && st=0 || st=$?
[ "$st" = 7 ] || fail "exit status $st, expected 7"
[ "$(cat "$T/fence")" = 4242 ] || fail "RAFTFS_FENCE not exported"

log "-n on a held lock"
flock "$T/lockfile" sleep 3 &
fp=$!
sleep 0.3
lock -n "$T/lockfile" -- true 2>"$T/err" && fail "-n acquired a held lock" || st=$?
[ "$st" = 1 ] && grep -q "locked by another holder" "$T/err" || fail "-n: status $st: $(cat "$T/err")"
log "-w gives up after the wait"
lock -w 0.5 "$T/lockfile" -- true 2>"$T/err" && fail "-w acquired a held lock" || st=$?
grep -q "timed out" "$T/err" || fail "-w: $(cat "$T/err")"
wait $fp

log "signals are forwarded to the command"
lock "$T/lockfile" -- sleep 30 &
lp=$!
sleep 0.5
kill -TERM $lp
wait $lp && st=0 || st=$?
[ "$st" = 143 ] || fail "after SIGTERM: status $st, expected 143"

log "session jeopardy terminates the command"
lock -k 1 "$T/lockfile" -- sleep 30 2>"$T/err" &
lp=$!
sleep 0.5
kill -STOP "$(pid_of n2)" "$(pid_of n3)"
start=$(date +%s%N)
wait $lp && st=0 || st=$?
kill -CONT "$(pid_of n2)" "$(pid_of n3)"
echo "command ended $(( ($(date +%s%N) - start) / 1000000 )) ms after the peers stopped"
[ "$st" = 143 ] || fail "jeopardy: status $st, expected 143: $(cat "$T/err")"
grep -q "session jeopardy" "$T/err" || fail "no jeopardy message: $(cat "$T/err")"

log "a stopping daemon terminates the command"
wait_for 15 session_ok n1 || fail "n1 session did not recover"
lock "$T/lockfile" -- sleep 30 2>"$T/err" &
lp=$!
sleep 0.5
kill -TERM "$(pid_of n1)"
wait $lp && st=0 || st=$?
[ "$st" = 143 ] || fail "daemon stop: status $st: $(cat "$T/err")"
echo "PASS"
