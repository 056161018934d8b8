#!/bin/bash
# never-lies-kill.sh — SIGKILL never wedges (issue 14): whatever kills the
# daemon — SIGKILL of its whole process group (a supervisor's kill -9 -PGID,
# systemd at the end of a stop timeout), of its main process alone, or of
# its whole cgroup (cgroup.kill) — the process (every thread) is gone within
# 2 s and the mount is either gone or answers ENOTCONN, never hangs; a restart
# mounts cleanly within 2 s, with exactly one fuse.raftfs mount at the mount
# point.
#
# A 3-node cluster with mounts under load: per mount, a loop doing mkdir,
# echo > file, cat, ls, rm, rmdir in a few directories, and a loop of
# blocking flock(1) on one file shared by the three mounts (so that lock
# requests are parked in the daemons). Each daemon runs in its own process
# group (setsid: the test's own group is never hit) and, where cgroup v2 is
# available, in a cgroup of its own made here. ITERATIONS kills cycle through
# the kill kinds and the nodes; every probe runs under `timeout 5`.
#
# A wedged process (threads left after 2 s) is reported with the kernel
# stacks and wait channels of its threads, its FUSE connection is aborted
# (/sys/fs/fuse/connections/N/abort) so that the test can clean up, and the
# test fails.
#
# fusectl is mounted on /sys/fs/fuse/connections when it is not (as systemd
# does at boot; the daemon's mount guard and that abort need it) and left
# mounted (other tests on the host may have started to rely on it).
#
# Stale mounts: a killed daemon's mount stays (answering ENOTCONN) until
# something unmounts it. The restarted daemon must detach it itself (its
# start-up finds it in mountinfo) and end up as the only mount at its mount
# point. RAFTFS_TEST_DAEMON_DETACHES=0 makes the test detach it first with
# fusermount3 -u -z instead (and count how often that was needed).
#
# Environment: RAFTFS_TEST_ITERATIONS (default 36, two to three minutes on a
# busy 2-core machine; the issue asks for 50), RAFTFS_TEST_MOUNT_LIMIT_MS
# (default 2000), RAFTFS_TEST_DAEMON_DETACHES (default 1).
PORT=27561
RAFTFS_TEST_DAEMON_DETACHES=${RAFTFS_TEST_DAEMON_DETACHES:-1}
[ "$RAFTFS_TEST_DAEMON_DETACHES" != 0 ] || RAFTFS_TEST_DAEMON_DETACHES=""
RAFTFS_TEST_PORT=$PORT
. "$(dirname "$0")/fusefs-lib.sh"

ITERATIONS=${RAFTFS_TEST_ITERATIONS:-36}
MOUNT_LIMIT_MS=${RAFTFS_TEST_MOUNT_LIMIT_MS:-2000}
nodes="n1 n2 n3"
NODE_ARR=($nodes)

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# ---- environment: fusectl, cgroup v2 ----
FUSECTL_MOUNTED=""
if ! mountpoint -q /sys/fs/fuse/connections 2>/dev/null; then
        mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null && FUSECTL_MOUNTED=1 ||
                echo "note: fusectl not mounted and cannot be: a wedged daemon cannot be aborted"
fi
CGROOT=""
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [ -n "$cg2" ] && [ -f "$cg2/cgroup.controllers" ] && mkdir "$cg2/raftfs-it-$$" 2>/dev/null; then
        if mkdir "$cg2/raftfs-it-$$/probe" 2>/dev/null && [ -f "$cg2/raftfs-it-$$/probe/cgroup.kill" ]; then
                CGROOT=$cg2/raftfs-it-$$
        fi
        rmdir "$cg2/raftfs-it-$$/probe" 2>/dev/null || true
        [ -n "$CGROOT" ] || rmdir "$cg2/raftfs-it-$$" 2>/dev/null || true
fi
KINDS="pgid main"
[ -z "$CGROOT" ] || KINDS="pgid main cgroup"
KIND_ARR=($KINDS)
echo "kill kinds: $KINDS (cgroup v2: ${CGROOT:-not available}), iterations: $ITERATIONS"

LOAD_PIDS=""
kill_cleanup() {
        local p n
        for p in $LOAD_PIDS; do kill -9 -- "-$p" 2>/dev/null || true; done
        # every daemon's whole group (its mount guard too)
        for n in $nodes; do
                p=$(cat "$T/$n/pid" 2>/dev/null) || continue
                kill -CONT -- "-$p" 2>/dev/null || true
                kill -9 -- "-$p" 2>/dev/null || true
        done
}
cleanup_cgroups() {
        local d
        [ -n "$CGROOT" ] || return 0
        for d in "$CGROOT"/*/; do
                [ -d "$d" ] || continue
                echo 1 >"$d/cgroup.kill" 2>/dev/null || true
                wait_for 5 sh -c "[ -z \"\$(cat '$d/cgroup.procs')\" ]" || true
                rmdir "$d" 2>/dev/null || true
        done
        rmdir "$CGROOT" 2>/dev/null || true
}
trap 'kill_cleanup; unmount_all; cleanup; cleanup_cgroups' EXIT

# start_node NODE: the daemon in its own session and process group (pid =
# pgid) and, with cgroup v2, in a cgroup of its own (its children too).
start_node() {
        local n=$1 cg=""
        if [ -n "$CGROOT" ]; then
                cg=$CGROOT/$n
                mkdir -p "$cg"
        fi
        (
                [ -z "$cg" ] || echo "$BASHPID" >"$cg/cgroup.procs"
                exec setsid "$RAFTFSD" -c "$T/$n/raftfs.conf" -v >>"$T/$n/raftfsd.log" 2>&1
        ) &
        echo $! >"$T/$n/pid"
        PIDS="$PIDS $!"
}

mount_cluster $nodes
for n in $nodes; do
        p=$(pid_of "$n")
        [ "$(ps -o pgid= -p "$p" | tr -d ' ')" = "$p" ] || fail "$n ($p) is not the leader of its own process group"
done

# ---- helpers ----
# mounts_at DIR: how many fuse.raftfs mounts sit at DIR
mounts_at() { awk -v m="$1" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "fuse.raftfs") c++; break } } END { print c + 0 }' /proc/self/mountinfo; }
# conn_of DIR: the FUSE connection number (device minor) of the last mount at DIR
conn_of() { awk -v m="$1" '$5 == m { split($3, d, ":"); c = d[2] } END { print c }' /proc/self/mountinfo; }

# gone PID: no such process, or nothing left of it but a zombie (every
# thread exited)
gone() {
        local s
        [ -d "/proc/$1" ] || return 0
        for s in /proc/"$1"/task/*/stat; do
                [ -e "$s" ] || continue
                case $(awk '{ print $3 }' "$s" 2>/dev/null) in Z | X | "") ;; *) return 1 ;; esac
        done
        return 0
}

dump_threads() {
        local pid=$1 t
        echo "    process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
        for t in /proc/"$pid"/task/*; do
                [ -d "$t" ] || continue
                echo "    thread ${t##*/} ($(cat "$t/comm" 2>/dev/null)): state $(awk '{ print $3 }' "$t/stat" 2>/dev/null), wchan $(cat "$t/wchan" 2>/dev/null)"
                sed 's/^/        /' "$t/stack" 2>/dev/null || true
        done
}

# d_state_on DIR: processes in D state whose command line names DIR
d_state_on() {
        local p
        for p in $(ps -e -o pid=,stat= | awk '$2 ~ /^D/ { print $1 }'); do
                if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF "$1"; then echo "$p"; fi
        done
}

# dead_mount_ok DIR: DIR is no longer mounted, or its mount answers ENOTCONN
# (ls: opendir always asks the daemon, where a plain stat of the mount's root
# may be answered from the kernel's attribute cache). A probe that takes 5 s
# counts as hanging.
MOUNT_STATE=""
dead_mount_ok() {
        local out rc=0
        if [ "$(mounts_at "$1")" = 0 ]; then MOUNT_STATE=unmounted; return 0; fi
        out=$(timeout 5 ls "$1" 2>&1) || rc=$?
        if [ "$rc" = 124 ]; then MOUNT_STATE="hangs (ls timed out after 5 s)"; return 1; fi
        case $out in
        *"Transport endpoint is not connected"*) MOUNT_STATE=ENOTCONN; return 0 ;;
        esac
        if [ "$(mounts_at "$1")" = 0 ]; then MOUNT_STATE=unmounted; return 0; fi
        MOUNT_STATE="ls: status $rc, ${out%%$'\n'*}"
        return 1
}

# ---- load ----
A=$(mnt n1)
mkdir -p "$A/load" "$A/locks"
: >"$A/locks/L"
for n in $nodes; do wait_for 10 test -e "$(mnt "$n")/locks/L" || fail "$n does not see locks/L"; done
cat >"$T/load.sh" <<'LOAD'
m=$1 n=$2 i=0
while :; do
        i=$((i + 1))
        d=$m/load/$n-$((i % 3))
        if ! mkdir -p "$d" 2>/dev/null; then sleep 0.2; continue; fi
        echo "$n $i" >"$d/f" 2>/dev/null
        cat "$d/f" >/dev/null 2>&1
        ls "$m/load" >/dev/null 2>&1
        rm -f "$d/f" 2>/dev/null
        rmdir "$d" 2>/dev/null
done
LOAD
cat >"$T/locker.sh" <<'LOCKER'
while :; do
        flock "$1/locks/L" sleep 0.2 2>/dev/null || sleep 0.2
done
LOCKER
for n in $nodes; do
        setsid bash "$T/load.sh" "$(mnt "$n")" "$n" </dev/null >/dev/null 2>&1 &
        LOAD_PIDS="$LOAD_PIDS $!"
        setsid bash "$T/locker.sh" "$(mnt "$n")" </dev/null >/dev/null 2>&1 &
        LOAD_PIDS="$LOAD_PIDS $!"
done
wait_for 10 sh -c "getfattr --only-values -n user.raftfs.lock '$A/locks/L' 2>/dev/null | grep -q waiting" ||
        echo "note: no flock waiter seen queued on locks/L yet"

# ---- the kills ----
FAILS=0
STALE_AT_RESTART=0
DETACHED=0
UNMOUNTED=0
ENOTCONN=0
MOUNT_TIMES=""
READY_TIMES=""
GONE_TIMES=""
declare -A KIND_COUNT

failure() { FAILS=$((FAILS + 1)); echo "    FAILURE: $*"; }

# new_mount DIR: a live mount is the top one at DIR: its root can be
# listed (a stat of a dead mount's root may still succeed from the kernel's
# attribute cache, so mountpoint(1) alone cannot tell; and the connection
# number of the dead mount is reused by the next mount once it is freed)
new_mount() {
        mountpoint -q "$1" && timeout 2 ls "$1" >/dev/null 2>&1
}

# restart NODE: starts the daemon; sets T_MOUNT and T_READY (ms from start)
# or returns 1 when it did not mount within 10 s
restart() {
        local n=$1 m t0 p
        m=$(mnt "$n")
        t0=$(now_ms)
        start_node "$n"
        p=$(pid_of "$n")
        T_MOUNT=""
        T_READY=""
        if ! wait_for 10 new_mount "$m"; then
                return 1
        fi
        T_MOUNT=$(($(now_ms) - t0))
        wait_for 20 is_ready "$n" || return 1
        T_READY=$(($(now_ms) - t0))
        return 0
}

for it in $(seq 1 "$ITERATIONS"); do
        kind=${KIND_ARR[$(((it - 1) % ${#KIND_ARR[@]}))]}
        victim=${NODE_ARR[$((((it - 1) + (it - 1) / 3) % 3))]}
        KIND_COUNT[$kind]=$((${KIND_COUNT[$kind]:-0} + 1))
        m=$(mnt "$victim")
        pid=$(pid_of "$victim")
        guard=$(pgrep -P "$pid" -x raftfsd-guard || true)
        conn=$(conn_of "$m")
        role=$(json_field "$victim" role)
        # let the load run against the whole cluster for a moment
        sleep 0.3
        t0=$(now_ms)
        case $kind in
        pgid) kill -9 -- "-$pid" ;;
        main) kill -9 "$pid" ;;
        cgroup) echo 1 >"$CGROOT/$victim/cgroup.kill" ;;
        esac
        if wait_for 2 gone "$pid"; then
                t_gone=$(($(now_ms) - t0))
        else
                t_gone=""
                failure "iteration $it: $victim ($role, pid $pid) killed by $kind still has live threads 2 s later"
                dump_threads "$pid"
                [ -z "$guard" ] || { echo "    guard $guard:"; dump_threads "$guard"; }
                if [ -n "$conn" ] && [ -e "/sys/fs/fuse/connections/$conn/abort" ]; then
                        echo "    aborting FUSE connection $conn"
                        echo 1 >"/sys/fs/fuse/connections/$conn/abort" || true
                fi
                wait_for 10 gone "$pid" || fail "iteration $it: $victim ($pid) still alive after its FUSE connection was aborted"
        fi
        wait "$pid" 2>/dev/null || true
        if [ -n "$guard" ] && ! wait_for 2 gone "$guard"; then
                failure "iteration $it: mount guard $guard of $victim outlived it by 2 s"
                dump_threads "$guard"
                kill -9 "$guard" 2>/dev/null || true
        fi
        if wait_for 2 dead_mount_ok "$m"; then
                case $MOUNT_STATE in unmounted) UNMOUNTED=$((UNMOUNTED + 1)) ;; ENOTCONN) ENOTCONN=$((ENOTCONN + 1)) ;; esac
        else
                dead_mount_ok "$m" || true
                failure "iteration $it: $victim's mount after $kind: $MOUNT_STATE"
                if [ -n "$conn" ] && [ -e "/sys/fs/fuse/connections/$conn/abort" ]; then
                        echo "    aborting FUSE connection $conn"
                        echo 1 >"/sys/fs/fuse/connections/$conn/abort" || true
                fi
        fi
        # clients of the dead mount must not stay blocked on it (D state
        # twice, 1 s apart)
        stuck=$(d_state_on "$m")
        if [ -n "$stuck" ]; then
                sleep 1
                stuck2=""
                for p in $(d_state_on "$m"); do case " $stuck " in *" $p "*) stuck2="$stuck2 $p" ;; esac; done
                if [ -n "$stuck2" ]; then
                        failure "iteration $it: processes blocked (D state) on $victim's dead mount:$stuck2"
                        for p in $stuck2; do dump_threads "$p"; done
                fi
        fi
        GONE_TIMES="$GONE_TIMES ${t_gone:-9999}"
        echo "--- $it: kill -9 ($kind) $victim ($role): gone after ${t_gone:-?} ms, mount $MOUNT_STATE"

        # restart
        stale=$(mounts_at "$m")
        if [ "$stale" != 0 ]; then
                STALE_AT_RESTART=$((STALE_AT_RESTART + 1))
                if [ -z "${RAFTFS_TEST_DAEMON_DETACHES:-}" ]; then
                        DETACHED=$((DETACHED + 1))
                        fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
                fi
        fi
        if ! restart "$victim"; then
                p=$(pid_of "$victim")
                echo "    $victim did not come back within 10 s (mounts at the point: $(mounts_at "$m"), daemon $(gone "$p" && echo exited || echo running))"
                grep -v '^<7>' "$T/$victim/raftfsd.log" | tail -n 5 | sed 's/^/    /'
                fail "iteration $it: $victim did not restart"
        fi
        n_mounts=$(mounts_at "$m")
        [ "$n_mounts" = 1 ] || fail "iteration $it: $n_mounts fuse.raftfs mounts at $m after the restart$([ "$stale" = 0 ] || echo " (the daemon mounted over the stale mount)")"
        [ "$T_MOUNT" -le "$MOUNT_LIMIT_MS" ] || failure "iteration $it: $victim mounted $T_MOUNT ms after its start (limit $MOUNT_LIMIT_MS)"
        MOUNT_TIMES="$MOUNT_TIMES $T_MOUNT"
        READY_TIMES="$READY_TIMES $T_READY"
        echo "    restarted: mounted after $T_MOUNT ms, ready after $T_READY ms$([ "$stale" = 0 ] || echo ", a stale mount was at the point$([ -n "${RAFTFS_TEST_DAEMON_DETACHES:-}" ] || echo ": detached by the test")")"
        wait_for 20 leader_among $nodes || fail "no leader after iteration $it"
done

# ---- report ----
dist() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "min %d, p50 %d, p90 %d, max %d ms (n=%d)", v[1], v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5) < 1 ? 1 : int(NR * 0.9 + 0.5)], v[NR], NR }'; }
log "summary"
for k in $KINDS; do echo "    kills by $k: ${KIND_COUNT[$k]:-0}"; done
echo "    process gone after: $(echo "$GONE_TIMES" | dist)"
echo "    mount after the kill: unmounted $UNMOUNTED, ENOTCONN $ENOTCONN"
echo "    restart to mounted: $(echo "$MOUNT_TIMES" | dist)"
echo "    restart to ready:   $(echo "$READY_TIMES" | dist)"
echo "    stale mount at the mount point at restart: $STALE_AT_RESTART of $ITERATIONS; detached by the test (fusermount3 -u -z): $DETACHED"
[ "$FAILS" = 0 ] || fail "$FAILS failure(s)"
echo PASS
