#!/bin/bash
# fusefs-locks.sh — cluster locks through the mounts of a real 3-node
# cluster: flock and fcntl exclusion across nodes, shared locks, LOCK_NB,
# FIFO handoff across nodes, Ctrl-C of a waiter, a killed holder, the
# holder's node killed (released after the session ttl), the holder's daemon
# frozen with SIGSTOP past the ttl, fencing tokens.
. "$(dirname "$0")/fusefs-lib.sh"

nodes="n1 n2 n3"
mount_cluster $nodes
A=$(mnt n1); B=$(mnt n2); C=$(mnt n3)
: >"$A/lock"
[ -e "$C/lock" ] || fail "lock file not visible"

# hold NODE MODE-FLAG SECONDS: a flock holder in its own process group that
# prints "got <epoch-ns>" when it has the lock; sets HP (pid) and HO (output).
hold() {
        local n=$1 flag=$2 secs=$3
        HO=$T/hold.$1.$RANDOM
        setsid flock $flag "$(mnt $n)/lock" sh -c "echo got \$(date +%s%N); sleep $secs" >"$HO" 2>&1 &
        HP=$!
}
has_lock() { grep -q '^got' "$1"; }

log "exclusion, shared locks, LOCK_NB across nodes"
hold n1 -x 30; p1=$HP; o1=$HO
wait_for 5 has_lock "$o1" || fail "n1 did not get the lock"
expect_fail "" flock -n "$B/lock" true
flock -n -s "$C/lock" true && fail "shared lock granted against an exclusive holder"
lock_text "$A/lock" | grep -q "mode=exclusive token=[0-9]* node=n1" || fail "lock text: $(lock_text "$A/lock")"
kill -- -"$p1" 2>/dev/null || true; wait "$p1" 2>/dev/null || true
wait_for 5 flock -n "$B/lock" true || fail "lock not released after the holder died"
hold n1 -s 30; s1=$HP; so1=$HO
hold n2 -s 30; s2=$HP; so2=$HO
wait_for 5 has_lock "$so1" && wait_for 5 has_lock "$so2" || fail "shared locks do not coexist"
flock -n -x "$C/lock" true && fail "exclusive granted against shared holders"
kill -- -"$s1" -"$s2" 2>/dev/null || true; wait "$s1" "$s2" 2>/dev/null || true

log "FIFO handoff across nodes"
hold n1 -x 2; h=$HP; oh=$HO
wait_for 5 has_lock "$oh" || fail "holder"
hold n2 -x 1; w2=$HP; ow2=$HO
sleep 0.3
hold n3 -x 1; w3=$HP; ow3=$HO
sleep 0.3
t=$(lock_text "$A/lock")
echo "$t"
[ "$(echo "$t" | grep -c '^waiting')" = 2 ] || fail "expected 2 waiters"
echo "$t" | grep '^waiting' | head -1 | grep -q node=n2 || fail "n2 not first in the queue"
wait "$h" "$w2" "$w3" || true
g2=$(sed -n 's/^got //p' "$ow2"); g3=$(sed -n 's/^got //p' "$ow3")
[ -n "$g2" ] && [ -n "$g3" ] && [ "$g2" -lt "$g3" ] || fail "handoff order: n2 $g2, n3 $g3"
tok1=$(lock_text "$A/lock")
[ -z "$tok1" ] || fail "lock still held: $tok1"

log "Ctrl-C of a waiter cancels its queue entry"
hold n1 -x 30; h=$HP; oh=$HO
wait_for 5 has_lock "$oh" || fail "holder"
# (a background job of a script ignores SIGINT: restore the default, as a
# foreground program under Ctrl-C has it)
/usr/bin/python3 -c "import signal, os, fcntl
signal.signal(signal.SIGINT, signal.SIG_DFL)
fcntl.flock(os.open('$B/lock', os.O_RDONLY), fcntl.LOCK_EX)" &
w=$!
sleep 0.5
lock_text "$A/lock" | grep -q '^waiting.*node=n2' || fail "no waiter"
kill -INT "$w"
wait "$w" 2>/dev/null || true
wait_for 5 sh -c "! getfattr --only-values -n user.raftfs.lock '$A/lock' | grep -q waiting" ||
        fail "waiter still queued after SIGINT"
lock_text "$A/lock" | grep -q "^mode=exclusive.*node=n1" || fail "holder lost its lock: $(lock_text "$A/lock")"
kill -- -"$h" 2>/dev/null || true; wait "$h" 2>/dev/null || true

log "fcntl locks across nodes"
py "
import fcntl, os, time
fd = os.open('$A/lock', os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
pid = os.fork()
if pid == 0:
    fd2 = os.open('$B/lock', os.O_RDWR)
    try:
        fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 0)
        os._exit(1)
    except OSError:
        pass
    fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 20)    # disjoint range
    os._exit(0)
_, st = os.waitpid(pid, 0)
assert os.WEXITSTATUS(st) == 0, st
os.close(fd)   # releases the process's locks cluster-wide
fd3 = os.open('$C/lock', os.O_RDWR)
fcntl.lockf(fd3, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
" || fail "fcntl locks"

log "the holder's node dies: released after the session ttl"
victim=n3
[ "$(leader_among $nodes)" = n3 ] && victim=n2
hold $victim -x 300; h=$HP; oh=$HO
wait_for 5 has_lock "$oh" || fail "holder on $victim"
tok_before=$(lock_text "$A/lock" | sed -n 's/.*token=\([0-9]*\).*/\1/p')
kill -9 "$(pid_of $victim)"
start=$(date +%s%N)
flock -w 20 -x "$A/lock" true || fail "lock of a dead node not released"
echo "released $(( ($(date +%s%N) - start) / 1000000 )) ms after kill -9 (ttl 3000 ms)"
kill -- -"$h" 2>/dev/null || true; wait "$h" 2>/dev/null || true
umount -l "$(mnt $victim)"
start_node $victim
wait_for 30 is_ready $victim || fail "$victim did not come back"
wait_for 10 mountpoint -q "$(mnt $victim)" || fail "$victim did not mount again"

log "fencing tokens grow"
hold n1 -x 1; h=$HP; oh=$HO
wait_for 5 has_lock "$oh" || fail "holder"
tok_after=$(lock_text "$A/lock" | sed -n 's/.*token=\([0-9]*\).*/\1/p')
[ -n "$tok_before" ] && [ "$tok_after" -gt "$tok_before" ] || fail "token $tok_after after $tok_before"
wait "$h" || true

log "the holder's daemon frozen past the ttl"
victim=n3
[ "$(leader_among $nodes)" = n3 ] && victim=n2
hold $victim -x 300; h=$HP; oh=$HO
wait_for 5 has_lock "$oh" || fail "holder on $victim"
kill -STOP "$(pid_of $victim)"
flock -w 20 -x "$A/lock" true || fail "lock of a frozen node not released"
kill -CONT "$(pid_of $victim)"
kill -- -"$h" 2>/dev/null || true; wait "$h" 2>/dev/null || true
echo PASS
