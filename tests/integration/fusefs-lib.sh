# fusefs-lib.sh — helpers of the mount tests (sourced after lib.sh).
#
# mount_cluster NODES...: certificates, configurations with the mount on
# (op_timeout 2 s, session ttl 3 s from lib.sh; FUSE_EXTRA: more [fuse]
# lines), daemons started, a leader
# elected, every node READY and mounted. M_n1... hold the mount points.

here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "SKIP: tests/integration/lib.sh missing"; exit 77; }
. "$here/lib.sh"

# A port of our own: other clusters may run on 127.0.0.N:7001 meanwhile.
PORT=${RAFTFS_TEST_PORT:-$((7100 + RANDOM % 800))}
addr_of() { echo "127.0.0.${1#n}:$PORT"; }

mount_cluster() {
        make_certs "$@"
        local n
        for n in "$@"; do
                write_conf "$n" "$(members_of "$@")"
                sed -i 's/^mount = no$/mount = yes\nop_timeout_ms = 2000/' "$T/$n/raftfs.conf"
                [ -z "${FUSE_EXTRA:-}" ] || echo "$FUSE_EXTRA" >>"$T/$n/raftfs.conf"
                mkdir -p "$T/$n/mnt"
                eval "M_$n=$T/$n/mnt"
        done
        for n in "$@"; do start_node "$n"; done
        wait_for 30 leader_among "$@" || fail "no leader elected"
        for n in "$@"; do
                wait_for 30 is_ready "$n" || fail "$n not ready"
                wait_for 10 mountpoint -q "$T/$n/mnt" || fail "$n did not mount"
        done
}

mnt() { echo "$T/$1/mnt"; }

# expect_errno ERRNO-NAME COMMAND...: the command must fail and say the
# error's text (strerror) on stderr.
expect_fail() {
        local want=$1; shift
        local out
        if out=$("$@" 2>&1); then fail "expected failure ($want): $*"; fi
        echo "$out" | grep -q "$want" || fail "expected '$want' from '$*', got: $out"
}

lock_text() { getfattr --only-values -n user.raftfs.lock "$1" 2>/dev/null; }

# py: run a python snippet (for precise errno checks)
py() { /usr/bin/python3 -c "$@"; }

unmount_all() {
        local d
        for d in "$T"/*/mnt; do umount -l "$d" 2>/dev/null || true; done
}
trap 'unmount_all; cleanup' EXIT
