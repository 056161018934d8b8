#!/bin/bash
# man-recipes.sh — runs every recipe of raftfs(7), as the page prints it, on
# a real three-node cluster on 127.0.0.1 and checks that it does what the
# page promises. The recipes come from the page source through
# man/extract-recipe.sh, with /mnt/raftfs replaced by each node's mount point
# and /srv/store by a scratch directory; `raftfsctl` in PATH is a wrapper that
# adds the node's -s SOCKET.
#
# Needs root, /dev/fuse, fusermount3, flock, getfattr/setfattr and a build
# whose raftfsd replicates and whose raftfsctl can make certificates; exits 77
# (skip) otherwise, or when RAFTFS_INTEGRATION=0.
set -u

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=$(cd "${top_builddir:-$srcdir}" && pwd)
page=$srcdir/man/raftfs.7
extract=$srcdir/man/extract-recipe.sh

skip() { echo "SKIP: $*"; exit 77; }
[ "${RAFTFS_INTEGRATION:-1}" != 0 ] || skip "RAFTFS_INTEGRATION=0"
[ "$(id -u)" = 0 ] || skip "needs root"
[ -c /dev/fuse ] || skip "no /dev/fuse"
for t in fusermount3 flock getfattr setfattr setsid; do
        command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
done
for p in raftfsd raftfsctl; do
        [ -x "$builddir/$p" ] || skip "$p is not built"
done

base=$(mktemp -d /tmp/raftfs-recipes.XXXXXX)
nodes=(n1 n2 n3)
port0=$((20000 + RANDOM % 20000))
declare -A port pid
i=0
for n in "${nodes[@]}"; do port[$n]=$((port0 + i)); i=$((i + 1)); done

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

mnt() { echo "$base/mnt-$1"; }
ctl() { local n=$1; shift; "$builddir/raftfsctl" -s "$base/$n/control.sock" "$@"; }

cleanup() {
        local n
        for n in "${nodes[@]}"; do
                [ -n "${pid[$n]:-}" ] && kill -TERM "${pid[$n]}" 2>/dev/null
        done
        sleep 1
        for n in "${nodes[@]}"; do
                [ -n "${pid[$n]:-}" ] && kill -KILL "${pid[$n]}" 2>/dev/null
                fusermount3 -u -z "$(mnt "$n")" 2>/dev/null
        done
        # Background recipe processes run in their own sessions: stop them.
        [ -f "$base/pgids" ] && while read -r g; do kill -KILL -- "-$g" 2>/dev/null; done <"$base/pgids"
        if [ "$failures" -gt 0 ]; then
                for n in "${nodes[@]}"; do
                        echo "--- last lines of $n's log"
                        tail -n 15 "$base/$n/raftfsd.log" 2>/dev/null
                done
        fi
        rm -rf "$base"
}
trap cleanup EXIT

# ---- certificates and configuration --------------------------------------
if ! "$builddir/raftfsctl" cert ca "$base/tls" >"$base/cert.log" 2>&1; then
        grep -q "not built" "$base/cert.log" && skip "raftfsctl cert is not built yet"
        cat "$base/cert.log"; echo "FAIL: raftfsctl cert ca"; exit 1
fi
members=""
for n in "${nodes[@]}"; do
        members+="${members:+, }$n=127.0.0.1:${port[$n]}"
        "$builddir/raftfsctl" cert node --ca "$base/tls" --ip 127.0.0.1 "$n" >/dev/null ||
                { echo "FAIL: raftfsctl cert node $n"; exit 1; }
done
start_node() {
        local n=$1
        mkdir -p "$base/$n" "$(mnt "$n")"
        cat >"$base/$n/raftfs.conf" <<CONF
[node]
name = $n
listen = 127.0.0.1:${port[$n]}
data_dir = $base/$n/data
mountpoint = $(mnt "$n")
control_socket = $base/$n/control.sock
[cluster]
initial_members = $members
[tls]
ca = $base/tls/ca.crt
cert = $base/tls/$n.crt
key = $base/tls/$n.key
[raft]
heartbeat_ms = 50
election_timeout_ms = 500
[session]
ttl_ms = 3000
[fuse]
op_timeout_ms = 5000
CONF
        setsid "$builddir/raftfsd" -c "$base/$n/raftfs.conf" </dev/null >>"$base/$n/raftfsd.log" 2>&1 &
        pid[$n]=$!
}
wait_ready() {
        local n=$1 deadline=$((SECONDS + 30)) js
        while [ $SECONDS -lt $deadline ]; do
                js=$(ctl "$n" status --json 2>/dev/null)
                case "$js" in
                *'"ready": true'*'"role": "none"'* | *'"role": "none"'*'"ready": true'*)
                        skip "raftfsd is a stub build (ready without being a member)";;
                *'"ready": true'*'"mountpoint": null'*)
                        skip "this raftfsd build does not mount the tree (no FUSE layer yet)";;
                *'"ready": true'*)
                        mountpoint -q "$(mnt "$n")" && return 0;;
                esac
                sleep 0.2
        done
        return 1
}
for n in "${nodes[@]}"; do start_node "$n"; done
for n in "${nodes[@]}"; do
        wait_ready "$n" || { fail "$n did not become ready"; exit 1; }
done
ok "cluster of ${nodes[*]} is up"

# ---- the recipes as scripts in PATH ----------------------------------------
mkdir -p "$base/bin" "$base/store"
recipe() {      # recipe NAME NODE: the recipe's text for that node
        "$extract" "$page" "$1" | sed -e "s#/mnt/raftfs#$(mnt "$2")#g" -e "s#/srv/store#$base/store#g"
}
install_script() {      # install_script RECIPE NODE FILE
        recipe "$1" "$2" >"$base/bin/$3" && chmod +x "$base/bin/$3"
}
for n in "${nodes[@]}"; do
        mkdir -p "$base/bin-$n"
        printf '#!/bin/sh\nexec %s -s %s "$@"\n' "$builddir/raftfsctl" "$base/$n/control.sock" \
                >"$base/bin-$n/raftfsctl"
        chmod +x "$base/bin-$n/raftfsctl"
done
on() {          # on NODE COMMAND...: run with that node's raftfsctl and scripts
        local n=$1; shift
        PATH="$base/bin-$n:$base/bin-$n/scripts:$base/bin:$PATH" "$@"
}
node_scripts() {        # per-node copies of the recipes that name the mount
        local n=$1 d="$base/bin-$n/scripts"
        mkdir -p "$d"
        recipe leader-election "$n" >"$d/run-as-leader"
        recipe cluster-cron "$n" >"$d/cluster-cron"
        recipe edit-config "$n" >"$d/raftfs-edit"
        recipe fencing-job-flock "$n" >"$d/report-job"
        chmod +x "$d"/*
}
for n in "${nodes[@]}"; do node_scripts "$n"; done
install_script fencing-store n1 fenced-put
printf '#!/bin/sh\necho "report from $(hostname) at $(date +%%s%%N)"\n' >"$base/bin/make-report"
chmod +x "$base/bin/make-report"

eventually() {  # eventually SECONDS COMMAND...: retry until it succeeds
        local deadline=$((SECONDS + $1)); shift
        until "$@"; do
                [ $SECONDS -lt $deadline ] || return 1
                sleep 0.2
        done
}
bg() {          # bg NODE COMMAND...: start in a session of its own; prints its id
        local n=$1 f=$base/pgid.$RANDOM$RANDOM; shift
        on "$n" setsid sh -c 'echo $$ >"$0"; exec "$@"' "$f" "$@" </dev/null >>"$base/bg.log" 2>&1 &
        eventually 5 test -s "$f" || { fail "could not start $*"; return; }
        cat "$f" >>"$base/pgids"
        cat "$f"
}

# ---- leader election with flock(1) -------------------------------------------
: >"$base/leaders"
declare -A leader_pid
for n in "${nodes[@]}"; do
        leader_pid[$n]=$(bg "$n" run-as-leader web sh -c "echo $n >>$base/leaders; exec sleep 600")
done
count_leaders() { [ "$(wc -l <"$base/leaders")" -eq "$1" ]; }
if eventually 10 count_leaders 1 && sleep 2 && count_leaders 1; then
        ok "leader election: exactly one of three runs"
else
        fail "leader election: $(wc -l <"$base/leaders") instances started"
fi
lock_text=$(getfattr --only-values -n user.raftfs.lock "$(mnt n2)/locks/web" 2>/dev/null)
if [ "$(grep -c '^mode=exclusive token=' <<<"$lock_text")" = 1 ] &&
   [ "$(grep -c '^waiting mode=exclusive' <<<"$lock_text")" = 2 ]; then
        ok "leader election: user.raftfs.lock shows one holder and two waiters"
else
        fail "leader election: user.raftfs.lock is: $lock_text"
fi
first=$(head -n 1 "$base/leaders")
kill -TERM -- "-${leader_pid[$first]}" 2>/dev/null
if eventually 10 count_leaders 2; then
        ok "leader election: another member took over when $first's leader stopped"
else
        fail "leader election: nobody took over from $first"
fi
for n in "${nodes[@]}"; do kill -KILL -- "-${leader_pid[$n]}" 2>/dev/null; done

# ---- a singleton cron job ----------------------------------------------------
: >"$base/cron-ran"
cron_pids=()
for n in "${nodes[@]}"; do
        on "$n" cluster-cron report 86400 sh -c "echo $n >>$base/cron-ran; sleep 1" &
        cron_pids+=($!)
done
wait "${cron_pids[@]}"
if [ "$(wc -l <"$base/cron-ran")" = 1 ]; then
        ok "cluster-cron: three members, one run"
else
        fail "cluster-cron: ran $(wc -l <"$base/cron-ran") times"
fi
on n2 cluster-cron report 86400 sh -c "echo again >>$base/cron-ran"
[ "$(wc -l <"$base/cron-ran")" = 1 ] && ok "cluster-cron: the slot is not run twice" ||
        fail "cluster-cron: ran again in the same slot"
if on n3 cluster-cron failing 86400 false; then
        fail "cluster-cron: a failing job reported success"
elif [ -e "$(mnt n1)/cron/failing.done" ]; then
        fail "cluster-cron: a failing job recorded its slot"
else
        ok "cluster-cron: a failing job leaves its slot to the next member"
fi

# ---- editing a configuration file safely -------------------------------------
mkdir -p "$(mnt n1)/app"
echo 'max_conns = 200' | cat >"$(mnt n1)/app/db.conf" && chmod 0640 "$(mnt n1)/app/db.conf"
EDITOR="sed -i s/200/300/" on n2 raftfs-edit "$(mnt n2)/app/db.conf"
if [ "$(cat "$(mnt n3)/app/db.conf")" = "max_conns = 300" ] &&
   [ "$(stat -c %a "$(mnt n3)/app/db.conf")" = 640 ]; then
        ok "raftfs-edit: change visible on another member, mode kept"
else
        fail "raftfs-edit: n3 sees '$(cat "$(mnt n3)/app/db.conf")' mode $(stat -c %a "$(mnt n3)/app/db.conf")"
fi
if VALIDATE=false EDITOR="sed -i s/300/400/" on n1 raftfs-edit "$(mnt n1)/app/db.conf" 2>/dev/null; then
        fail "raftfs-edit: a failed validation reported success"
fi
[ "$(cat "$(mnt n2)/app/db.conf")" = "max_conns = 300" ] && ok "raftfs-edit: failed validation keeps the old file" ||
        fail "raftfs-edit: failed validation changed the file"
for n in n1 n2 n3; do   # three editors at once: no update may be lost
        printf '#!/bin/sh\nsleep 0.5\necho "edited by %s" >>"$1"\n' "$n" >"$base/bin/append-$n"
        chmod +x "$base/bin/append-$n"
done
edit_pids=()
for n in n1 n2 n3; do
        EDITOR="$base/bin/append-$n" on "$n" raftfs-edit "$(mnt "$n")/app/db.conf" &
        edit_pids+=($!)
done
wait "${edit_pids[@]}"
if [ "$(grep -c '^edited by' "$(mnt n1)/app/db.conf")" = 3 ]; then
        ok "raftfs-edit: three concurrent editors, no lost update"
else
        fail "raftfs-edit: concurrent edits left: $(cat "$(mnt n1)/app/db.conf")"
fi

# ---- fencing tokens with a downstream store ----------------------------------
recipe fencing-job n1 >"$base/fencing-job.sh"
if on n1 sh "$base/fencing-job.sh" && [ -s "$base/store/report" ]; then
        t1=$(cat "$base/store/.fence")
        ok "fencing: raftfsctl lock job stored its report with token $t1"
else
        fail "fencing: the raftfsctl lock job did not store its report"
        t1=0
fi
if on n2 flock "$(mnt n2)/locks/report" report-job; then
        t2=$(cat "$base/store/.fence")
        [ "$t2" -gt "$t1" ] && ok "fencing: flock(1) job stored with a larger token ($t2)" ||
                fail "fencing: token did not grow ($t1 then $t2)"
else
        fail "fencing: the flock(1) job failed"
fi
if echo stale | on n3 fenced-put "$t1" report 2>/dev/null; then
        fail "fencing: the store accepted a stale token"
else
        ok "fencing: the store refused a stale token"
fi

# ---- service membership with an ephemeral directory (kills n2 last) ----------
recipe membership-setup n1 | on n1 sh -e
for n in "${nodes[@]}"; do recipe membership-register "$n" | on "$n" sh -e; done
listed() { [ "$(recipe membership-list n1 | on n1 sh | wc -l)" -eq "$1" ]; }
eventually 5 listed 3 && ok "membership: three members listed" ||
        fail "membership: listed $(recipe membership-list n1 | on n1 sh | tr '\n' ' ')"
recipe membership-deregister n3 | on n3 sh -e
eventually 5 listed 2 && ok "membership: deregistered member gone" || fail "membership: n3 still listed"
kill -KILL "${pid[n2]}"
pid[n2]=
if eventually 15 listed 1 && recipe membership-list n1 | on n1 sh | grep -q '^n1 '; then
        ok "membership: a killed member's entry expired with its session"
else
        fail "membership: after killing n2: $(recipe membership-list n1 | on n1 sh | tr '\n' ' ')"
fi

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
