# lib.sh — shared helpers of the integration tests (sourced, not run).
#
# A test makes a cluster of real raftfsd processes on 127.0.0.N:7001 with
# real TLS certificates (raftfsctl cert), in a fresh directory under /tmp
# that is removed at exit together with every daemon it started. Tests need
# root (mounts, binding 127.0.0.N) and exit 77 (skip) without it, or when
# RAFTFS_INTEGRATION=0.

set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=$(cd "${top_builddir:-$top_srcdir/build}" && pwd)
RAFTFSD=$top_builddir/raftfsd
RAFTFSCTL=$top_builddir/raftfsctl

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; dump_logs; exit 1; }
log() { echo "--- $*"; }

[ "${RAFTFS_INTEGRATION:-1}" != 0 ] || skip "RAFTFS_INTEGRATION=0"
[ "$(id -u)" = 0 ] || skip "needs root"
[ -x "$RAFTFSD" ] && [ -x "$RAFTFSCTL" ] || skip "raftfsd/raftfsctl not built"
"$RAFTFSD" --help | grep -q -- --clean-mount || skip "raftfsd too old"

T=$(mktemp -d /tmp/raftfs-it-XXXXXX)
PIDS=""
cleanup() {
        for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
        for p in $PIDS; do wait "$p" 2>/dev/null || true; done
        if [ -n "${RAFTFS_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

dump_logs() {
        for f in "$T"/*/raftfsd.log; do
                [ -f "$f" ] || continue
                echo "=== $f (last 40 lines)"
                grep -v "^<7>raft:" "$f" | tail -n 40
        done
}

# Each script sets PORT (distinct, so that `make -j check` can run them
# side by side) before sourcing this file.
PORT=${PORT:-27001}
addr_of() { echo "127.0.0.${1#n}:$PORT"; }

# make_certs NODE... : cluster CA and one certificate per node
make_certs() {
        "$RAFTFSCTL" cert ca "$T/tls" >/dev/null || fail "cert ca"
        for n in "$@"; do
                "$RAFTFSCTL" cert node --ca "$T/tls" --ip "127.0.0.${n#n}" "$n" >/dev/null || fail "cert node $n"
        done
}

# write_conf NODE "MEMBERS" [EXTRA-LINES]
write_conf() {
        local n=$1 members=$2 extra=${3:-}
        mkdir -p "$T/$n"
        cat >"$T/$n/raftfs.conf" <<CONF
[node]
name = $n
listen = $(addr_of "$n")
data_dir = $T/$n/data
mountpoint = $T/$n/mnt
control_socket = $T/$n/control.sock
$extra
[cluster]
initial_members = $members
[tls]
ca = $T/tls/ca.crt
cert = $T/tls/$n.crt
key = $T/tls/$n.key
[raft]
heartbeat_ms = 50
election_timeout_ms = 500
[session]
ttl_ms = 3000
[fuse]
mount = no
CONF
}

members_of() {
        local m="" n
        for n in "$@"; do m="$m${m:+, }$n=$(addr_of "$n")"; done
        echo "$m"
}

start_node() {
        local n=$1
        "$RAFTFSD" -c "$T/$n/raftfs.conf" -v >>"$T/$n/raftfsd.log" 2>&1 &
        echo $! >"$T/$n/pid"
        PIDS="$PIDS $!"
}

pid_of() { cat "$T/$1/pid"; }
ctl() { local n=$1; shift; "$RAFTFSCTL" -s "$T/$n/control.sock" "$@"; }

# json_field NODE FIELD: one scalar of `raftfsctl status --json`
json_field() {
        ctl "$1" status --json 2>/dev/null | sed -n "s/.*\"$2\": \"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p"
}

# wait_for SECONDS COMMAND...: polls every 0.1 s
wait_for() {
        local t=$1 i=0; shift
        while ! "$@" >/dev/null 2>&1; do
                i=$((i + 1))
                [ "$i" -lt $((t * 10)) ] || return 1
                sleep 0.1
        done
}

is_ready() { [ "$(json_field "$1" ready)" = true ]; }
is_leader() { [ "$(json_field "$1" role)" = leader ]; }

# leader_among NODE...: prints the node that reports itself leader
leader_among() {
        local n
        for n in "$@"; do
                if is_leader "$n"; then echo "$n"; return 0; fi
        done
        return 1
}
