# cluster.sh — raftfs nodes of a chaos round (sourced by tests/chaos/run).
#
# Node I runs `raftfsd -c $RD/nI/raftfs.conf` inside network namespace
# $(net_ns I) through nsenter --net (not `ip netns exec`, whose private mount
# namespace would hide the FUSE mount from the host); its mount lives in the
# host mount namespace at $RD/nI/mnt, its control socket at
# $RD/nI/control.sock (path sockets work across network namespaces). Peers
# listen on 198.18.0.I:7001 with certificates from `raftfsctl cert`.
# Short timings keep rounds quick: heartbeat 100 ms, election timeout
# 1000 ms, session ttl $CL_TTL_MS, op_timeout $CL_OP_TIMEOUT_MS.
#
# Needs RD (round directory), BUILDDIR, and net.sh loaded.

CL_TTL_MS=${CL_TTL_MS:-3000}
CL_OP_TIMEOUT_MS=${CL_OP_TIMEOUT_MS:-3000}
CL_N=0

cl_ctl() { local i=$1; shift; timeout -s KILL "${CL_CTL_TIMEOUT:-2}" "$BUILDDIR/raftfsctl" -s "$RD/n$i/control.sock" "$@"; }
cl_field() { cl_ctl "$1" status --json 2>/dev/null | sed -n "s/.*\"$2\": \"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p"; }
cl_pid() { cat "$RD/n$1/pid" 2>/dev/null; }
cl_alive() { local p; p=$(cl_pid "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
# CHAOS_SELFTEST=1 (a test of the harness itself, not of raftfs): daemons run
# without mounts and every client uses one shared local directory.
cl_mnt() { if [ "${CHAOS_SELFTEST:-0}" = 1 ]; then echo "$RD/shared"; else echo "$RD/n$1/mnt"; fi; }

cl_members() {
        local m="" i
        for i in $(seq 1 "$1"); do m+="${m:+, }n$i=$(net_ip "$i"):7001"; done
        echo "$m"
}

# cl_conf I MEMBERS [join]
cl_conf() {
        local i=$1 members=$2 join=${3:-no}
        mkdir -p "$RD/n$i/mnt" "$RD/n$i/data"
        # Between a dead daemon's lazy unmount and the next mount, paths lead
        # into this directory itself: plain files named like the workload's
        # directories make every client path fail there with ENOTDIR (no
        # effect), never ENOENT (a cas's "not the expected value") or a write
        # to the local disk.
        [ "${CHAOS_SELFTEST:-0}" = 1 ] || touch "$RD/n$i/mnt/reg" "$RD/n$i/mnt/set" "$RD/n$i/mnt/locks" "$RD/n$i/mnt/meta"
        cat >"$RD/n$i/raftfs.conf" <<CONF
# chaos round $RD, node n$i
[node]
name = n$i
listen = $(net_ip "$i"):7001
data_dir = $RD/n$i/data
mountpoint = $RD/n$i/mnt
control_socket = $RD/n$i/control.sock
[cluster]
initial_members = $members
join = $join
[tls]
ca = $RD/tls/ca.crt
cert = $RD/tls/n$i.crt
key = $RD/tls/n$i.key
[raft]
heartbeat_ms = 100
election_timeout_ms = 1000
[session]
ttl_ms = $CL_TTL_MS
[fuse]
op_timeout_ms = $CL_OP_TIMEOUT_MS
$([ "${CHAOS_SELFTEST:-0}" = 1 ] && echo "mount = no")
CONF
        [ "${CHAOS_SELFTEST:-0}" = 1 ] && mkdir -p "$RD/shared"
        return 0
}

cl_cert() {
        local i=$1
        rm -f "$RD/tls/n$i.crt" "$RD/tls/n$i.key"
        "$BUILDDIR/raftfsctl" cert node --ca "$RD/tls" --ip "$(net_ip "$i")" "n$i" >/dev/null
}

# cl_init N: certificates and configuration of N nodes
cl_init() {
        local n=$1 i
        CL_N=$n
        mkdir -p "$RD/tls"
        "$BUILDDIR/raftfsctl" cert ca "$RD/tls" >/dev/null || return 1
        for i in $(seq 1 "$n"); do
                cl_cert "$i" || return 1
                cl_conf "$i" "$(cl_members "$n")"
        done
}

# The daemon leads its own session and process group (setsid; setsid(1)
# does not fork here: bash's background child is not a group leader, so
# $! is raftfsd itself after nsenter's exec), so "kill -9 -PGID" reaches the
# daemon and its children (raftfsd-guard) and nothing else.
cl_start() {
        local i=$1
        fusermount3 -u -z "$RD/n$i/mnt" 2>/dev/null
        setsid nsenter --net="/run/netns/$(net_ns "$i")" "$BUILDDIR/raftfsd" -c "$RD/n$i/raftfs.conf" \
                </dev/null >>"$RD/n$i/raftfsd.log" 2>&1 &
        echo $! >"$RD/n$i/pid"
        echo "$!" >>"$RD/pids"
        disown $! # killed on purpose: no "Killed" job reports from bash
}

# cl_abort_fuse I: aborts node I's FUSE connection through fusectl, which
# fails every request still waiting on it (a last resort: see cl_kill)
cl_abort_fuse() {
        local dev
        # from mountinfo, not stat(2): a stat of a wedged mount would block too
        dev=$(awk -v m="$RD/n$1/mnt" '$5 == m { for (i = 7; i < NF; i++) if ($i == "-" && $(i + 1) ~ /^fuse/) d = $3 }
                END { print d }' /proc/self/mountinfo)
        [ -n "$dev" ] || return 0
        mountpoint -q /sys/fs/fuse/connections || mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null
        [ -w "/sys/fs/fuse/connections/${dev#*:}/abort" ] && echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort"
        return 0
}

# cl_kill I [group]: SIGKILL of node I's daemon, or with "group" of its whole
# process group (kill -9 -PGID: what systemd does at the end of a stop
# timeout, and a supervisor's kill of a process group; the mount guard dies
# of the same signal). A FUSE daemon whose thread is blocked on its own mount
# cannot finish dying until the kernel's requests are answered; after 3 s
# the stacks of its threads (of every process left in the group) are saved
# (stuck-*.txt, evidence for a bug report) and the connection is aborted so
# the round can go on; $RD/stuck-kills names them (the round then fails).
cl_kill() {
        local i=$1 how=${2:-pid} p pg="" t=0
        p=$(cl_pid "$i")
        if [ -n "$p" ] && [ "$how" = group ]; then
                pg=$(ps -o pgid= -p "$p" 2>/dev/null | tr -d ' ')
                if [ "$pg" != "$p" ]; then
                        echo "chaos: n$i (pid $p) is not its own process group leader (pgid ${pg:-?}); killing the pid only" |
                                tee -a "$RD/schedule.log"
                        pg=""
                fi
        fi
        if [ -n "$pg" ]; then
                kill -CONT -- "-$pg" 2>/dev/null
                kill -9 -- "-$pg" 2>/dev/null
        else
                [ -n "$p" ] && kill -CONT "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
        fi
        # alive: the daemon, or for a group kill any process left in its group
        cl_kill_alive() { kill -0 "$p" 2>/dev/null || { [ -n "$pg" ] && pgrep -g "$pg" >/dev/null 2>&1; }; }
        while [ -n "$p" ] && cl_kill_alive && [ $t -lt 30 ]; do sleep 0.1; t=$((t + 1)); done
        if [ -n "$p" ] && cl_kill_alive; then
                local f q
                f="$RD/n$i/stuck-$(date +%s).txt"
                for q in $({ echo "$p"; [ -n "$pg" ] && pgrep -g "$pg"; } | sort -un); do
                        for task in /proc/"$q"/task/*; do
                                [ -d "$task" ] || continue
                                { echo "== pid $q task ${task##*/} $(cat "$task/comm" 2>/dev/null) $(awk '/^State/ { print $2 }' "$task/status" 2>/dev/null)"
                                  cat "$task/stack" 2>/dev/null; } >>"$f"
                        done
                done
                echo "chaos: n$i (pid $p${pg:+, process group $pg}) still alive 3 s after SIGKILL; thread stacks in $f; aborting its FUSE connection" |
                        tee -a "$RD/schedule.log"
                echo "n$i: $f" >>"$RD/stuck-kills"
                cl_abort_fuse "$i"
                t=0
                while cl_kill_alive && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
        fi
        fusermount3 -u -z "$RD/n$i/mnt" 2>/dev/null
        rm -f "$RD/n$i/pid"
        return 0
}

cl_pause() { kill -STOP "$(cl_pid "$1")" 2>/dev/null; }
cl_resume() { kill -CONT "$(cl_pid "$1")" 2>/dev/null; }

# cl_mounted I: node I's FUSE mount is in the mount table (read from
# mountinfo: mountpoint(1) stats the directory, which blocks on a wedged mount)
cl_mounted() {
        awk -v m="$RD/n$1/mnt" '$5 == m { for (i = 7; i < NF; i++) if ($i == "-" && $(i + 1) ~ /^fuse/) f = 1 }
                END { exit !f }' /proc/self/mountinfo
}

cl_ready() { [ "$(cl_field "$1" ready)" = true ] && { [ "${CHAOS_SELFTEST:-0}" = 1 ] || cl_mounted "$1"; }; }

# cl_wait_ready SECONDS I...: every listed node ready (mounted, caught up)
cl_wait_ready() {
        local t=$1 i deadline; shift
        deadline=$((SECONDS + t))
        for i in "$@"; do
                until cl_ready "$i"; do
                        [ $SECONDS -lt "$deadline" ] || return 1
                        cl_alive "$i" || return 1
                        sleep 0.2
                done
        done
}

cl_leader() {
        local i
        for i in $(seq 1 "$CL_N"); do
                cl_alive "$i" || continue
                [ "$(cl_field "$i" role)" = leader ] && { echo "$i"; return 0; }
        done
        return 1
}

# cl_remove I: removes node I from the membership (through the leader) and stops it
cl_remove() {
        local i=$1 l
        l=$(cl_leader) || return 1
        [ "$l" = "$i" ] && { CL_CTL_TIMEOUT=10 cl_ctl "$l" leader transfer >/dev/null 2>&1; sleep 2; l=$(cl_leader) || return 1; }
        CL_CTL_TIMEOUT=10 cl_ctl "$l" member remove "n$i" >/dev/null || return 1
        cl_kill "$i"
}

# cl_readd I: wipes node I and makes it join again as a learner, then voter
cl_readd() {
        local i=$1 l
        l=$(cl_leader) || return 1
        rm -rf "$RD/n$i/data"
        cl_conf "$i" "$(cl_members "$CL_N")" yes
        cl_start "$i"
        CL_CTL_TIMEOUT=10 cl_ctl "$l" member add "n$i" "$(net_ip "$i"):7001" >/dev/null
}

# cl_rotate_cert I: new key and certificate for node I from the same CA;
# SIGHUP makes the daemon use them for new connections; a restart forces them.
cl_rotate_cert() {
        local i=$1
        cl_cert "$i" || return 1
        kill -HUP "$(cl_pid "$i")" 2>/dev/null
}

cl_stop_all() {
        local p i
        # each daemon leads its own process group (cl_start): the group goes
        # too; only pids that are still raftfsd (an old pid may be reused)
        [ -f "$RD/pids" ] && while read -r p; do
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = raftfsd ] || continue
                kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; kill -9 -- "-$p" 2>/dev/null
        done <"$RD/pids"
        sleep 0.5
        for i in $(seq 1 "$CL_N"); do
                cl_abort_fuse "$i" # only matters for a daemon that could not die
                fusermount3 -u -z "$RD/n$i/mnt" 2>/dev/null
        done
        return 0
}

# cl_lock_holder: the node number holding locks/L, from user.raftfs.lock read on a live node
cl_lock_holder() {
        local i v
        for i in $(seq 1 "$CL_N"); do
                cl_alive "$i" || continue
                v=$(timeout -s KILL 3 getfattr --only-values -n user.raftfs.lock "$(cl_mnt "$i")/locks/L" 2>/dev/null) || continue
                v=$(sed -n 's/.*mode=exclusive.* node=n\([0-9]*\).*/\1/p' <<<"$v" | head -n 1)
                [ -n "$v" ] && { echo "$v"; return 0; }
        done
        return 1
}
