#!/bin/bash
# fusefs-cluster.sh — the mount on a real 3-node loopback cluster: writes
# visible everywhere at once (linearizable opens), the same file written from
# three nodes, everyday tools, O_EXCL races, close() returning the error of a
# failed commit, EROFS/EIO without quorum, ephemeral files of a dead node,
# /.raftfs/status against raftfsctl status.
. "$(dirname "$0")/fusefs-lib.sh"

nodes="n1 n2 n3"
mount_cluster $nodes
A=$(mnt n1); B=$(mnt n2); C=$(mnt n3)

log "write on one node, read on the others right after close()"
for i in $(seq 1 50); do
        echo "value $i" >"$A/conf"
        [ "$(cat "$B/conf")" = "value $i" ] || fail "n2 read stale data at $i"
        [ "$(cat "$C/conf")" = "value $i" ] || fail "n3 read stale data at $i"
done
mkdir -p "$B/app/sub" && echo x >"$B/app/sub/f"
[ -f "$C/app/sub/f" ] || fail "mkdir/create not visible on n3"
stat "$A/app/sub/f" >/dev/null || fail "stat on n1"

log "the same file written from three nodes"
writers=""
for n in $nodes; do
        ( d=$(mnt $n); for i in $(seq 1 100); do echo "$n $i" >"$d/shared" || exit 1; done ) &
        writers="$writers $!"
done
for w in $writers; do wait "$w" || fail "a concurrent writer failed"; done
v1=$(cat "$A/shared"); v2=$(cat "$B/shared"); v3=$(cat "$C/shared")
[ "$v1" = "$v2" ] && [ "$v2" = "$v3" ] || fail "nodes disagree: '$v1' '$v2' '$v3'"
echo "$v1" | grep -Eq '^n[123] 100$' || fail "unexpected final content '$v1'"

log "tools: sed -i, cp, mv, install, editors"
printf 'max_conns = 100\n' >"$A/db.conf"
sed -i 's/100/200/' "$B/db.conf"
[ "$(cat "$C/db.conf")" = "max_conns = 200" ] || fail "sed -i on n2 not seen on n3"
cp "$C/db.conf" "$A/copy.conf" && cmp "$A/copy.conf" "$B/copy.conf" || fail "cp"
# Opens are linearizable (a read barrier, then ESTALE and a fresh walk when
# the kernel's dentry went stale); a bare stat() may still be answered from
# the kernel's dentry cache until the asynchronous invalidation arrives, so
# the checks open the files.
mv "$B/copy.conf" "$B/app/moved.conf" && cat "$C/app/moved.conf" >/dev/null &&
        ! cat "$A/copy.conf" 2>/dev/null || fail "mv"
install -m 0640 "$A/db.conf" "$C/installed.conf" && [ "$(stat -c %a "$A/installed.conf")" = 640 ] || fail "install"
vim -E -s -u NONE -c '%s/200/300/' -c wq "$A/db.conf" </dev/null || fail "vim"
[ "$(cat "$B/db.conf")" = "max_conns = 300" ] || fail "vim's write not seen"
py "import os,tempfile
fd,p=tempfile.mkstemp(dir='$C'); os.write(fd,b'atomic\n'); os.fsync(fd); os.close(fd); os.replace(p,'$C/db.conf')" || fail "python replace"
[ "$(cat "$A/db.conf")" = atomic ] || fail "atomic replace not seen"

log "O_CREAT|O_EXCL: exactly one creator wins"
for round in $(seq 1 20); do
        rm -f "$A/excl"
        racers=""
        for n in $nodes; do ( set -C; echo "$n" >"$(mnt $n)/excl" ) 2>/dev/null & racers="$racers $!"; done
        wins=0
        for w in $racers; do if wait "$w"; then wins=$((wins + 1)); fi; done
        [ "$wins" = 1 ] || fail "round $round: $wins creators won"
done

log "/.raftfs/status agrees with raftfsctl status"
for n in $nodes; do
        s=$(cat "$(mnt $n)/.raftfs/status")
        echo "$s" | grep -q "^node: $n$" || fail "$n status: $s"
        leader=$(json_field "$n" leader)
        echo "$s" | grep -q "^leader: $leader$" || fail "$n status leader differs from raftfsctl ($leader): $s"
        [ "$(cat "$(mnt $n)/.raftfs/leader")" = "$leader" ] || fail "$n .raftfs/leader"
        grep -q raftfs_fuse_requests_total "$(mnt $n)/.raftfs/metrics" || fail "$n metrics"
done
ls -a "$A" | grep -q raftfs && fail ".raftfs listed in the root"

log "ephemeral files vanish after their node dies (session ttl 3 s)"
mkdir "$A/members"
setfattr -n user.raftfs.ephemeral -v 1 "$A/members"
for n in $nodes; do echo alive >"$(mnt $n)/members/$n"; done
[ "$(ls "$A/members" | wc -l)" = 3 ] || fail "members: $(ls "$A/members")"
victim=n3
[ "$(leader_among $nodes)" = n3 ] && victim=n2
vpid=$(pid_of $victim)
guard=$(pgrep -P "$vpid" -x raftfsd-guard) || fail "no mount guard child of $victim ($vpid)"
kill -9 "$vpid"
# the guard acts on its parent's death (aborts the FUSE connection) and exits
wait_for 10 sh -c "! kill -0 $guard 2>/dev/null" || fail "mount guard $guard of $victim outlived it"
umount -l "$(mnt $victim)"
survivor=$(echo $nodes | tr ' ' '\n' | grep -v "^$victim$" | head -1)
wait_for 20 sh -c "! test -e '$(mnt $survivor)/members/$victim'" || fail "ephemeral file of $victim stayed"
[ -e "$(mnt $survivor)/members/$survivor" ] || fail "a live node's ephemeral file went"
start_node $victim
wait_for 30 is_ready $victim || fail "$victim did not come back"
wait_for 10 mountpoint -q "$(mnt $victim)" || fail "$victim did not mount again"

log "no quorum: mutations EROFS, linearizable reads EIO, write() fails at once"
leader=$(leader_among $nodes)
f=$(echo $nodes | tr ' ' '\n' | grep -v "^$leader$" | head -1)
others=$(echo $nodes | tr ' ' '\n' | grep -v "^$f$" | tr '\n' ' ')
echo before >"$(mnt $f)/q"
exec 7>"$(mnt $f)/q.open"            # a write handle opened while all is well
for n in $others; do kill -STOP "$(pid_of $n)"; done
# Each failure must come within a few op_timeouts (2 s): the kernel's
# lookup and permission check may each wait for a barrier first.
timed() {
        local t0=$(date +%s%N) ms
        "$@"
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        echo "    ${ms} ms: ${*:2:3}"
        [ "$ms" -lt 9000 ] || fail "took ${ms} ms: $*"
}
timed expect_fail "Read-only file system" mkdir "$(mnt $f)/nq"
timed expect_fail "Input/output error" cat "$(mnt $f)/q"
sleep 1
# With O_TRUNC: the truncation belongs to the handle's one commit, which
# never happens once its write() failed (issue 14; the content is checked
# after the quorum returns).
timed expect_fail "Read-only file system" py "
import os
fd=os.open('$(mnt $f)/q', os.O_WRONLY | os.O_TRUNC)
os.write(fd, b'x')"
timed expect_fail "Read-only file system" bash -c "echo late >&7"
for n in $others; do kill -CONT "$(pid_of $n)"; done
exec 7>&-
wait_for 20 leader_among $nodes || fail "no leader after SIGCONT"
# Nothing of the failed writers above may appear: q still says "before"
# on every node once they caught up.
wait_for 20 sh -c "[ \"\$(cat '$(mnt $f)/q')\" = before ]" ||
        fail "a failed write left a trace: '$(cat "$(mnt $f)/q")'"
for n in $nodes; do
        got=$(cat "$(mnt $n)/q"); [ "$got" = before ] || fail "content after recovery on $n: '$got'"
done
# cat reports a failed commit (close() error); the shell's echo would not.
wait_for 10 sh -c "echo after | cat >'$(mnt $f)/q' && [ \"\$(cat '$(mnt $f)/q')\" = after ]" ||
        fail "writes did not come back: '$(cat "$(mnt $f)/q")'"
for n in $nodes; do
        got=$(cat "$(mnt $n)/q"); [ "$got" = after ] || fail "content after recovery on $n: '$got'"
done

log "close() returns the error of a failed commit"
py "
import os, signal, time
fd = os.open('$(mnt $f)/c', os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644)
os.write(fd, b'data')
for p in [$(for n in $others; do printf '%s,' "$(pid_of $n)"; done)]:
    os.kill(p, signal.SIGSTOP)
try:
    os.close(fd)
    raise SystemExit('close() succeeded without quorum')
except OSError as e:
    # EROFS when no leader took it, ETIMEDOUT when the (frozen) leader
    # may have: the commit was forwarded before the follower noticed.
    assert e.errno in (30, 110), e
finally:
    for p in [$(for n in $others; do printf '%s,' "$(pid_of $n)"; done)]:
        os.kill(p, signal.SIGCONT)
" || fail "close() error"
wait_for 20 leader_among $nodes || fail "no leader after SIGCONT"

echo PASS
