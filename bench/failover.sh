#!/bin/bash
# bench/failover.sh — write availability of a 3-node loopback cluster (real
# TLS, FUSE mounts, heartbeat_ms = 100, election_timeout_ms = 1000) across
#   1. kill -9 of the leader, ROUNDS times (default 10): one writer on a
#      follower that survives opens, writes 64 bytes to and closes one file
#      through its mount in a loop; the write gap is the longest time between
#      two successful close()s (each a committed entry) in the window from 1 s
#      before the kill to 3 s after the first commit that follows it. Also the
#      time from the kill to the first poll of `raftfsctl status` on a
#      survivor that says "leader". The killed node is restarted and must be
#      READY and mounted before the next round.
#   2. a rolling restart: one writer per node mount; each node in turn gets
#      SIGTERM (graceful: leadership transfer, unmount, exit), is started
#      again and must be READY and mounted before the next one. Reported: the
#      longest time in which NO writer committed, and for each writer the
#      longest gap outside the window [SIGTERM, READY and mounted] of its own
#      node.
# Target (daemon issue): median write gap after kill -9 <= 350 ms at an
# election timeout of 1000 ms.
#
#   bench/failover.sh [ROUNDS]
# Environment: FAILOVER_SEED (replays the random port choice), RAFTFS_KEEP=1
# (keeps the cluster's directory with the daemon logs and writer logs).
# Needs root, /dev/fuse and python3 (exit 77 without); uses the integration
# tests' cluster helpers (tests/integration/lib.sh), which kill every daemon
# and remove the directory at exit.
#
# How times are taken: writers record time.time() before open() and after a
# successful close() (the close returns once the entry is committed and
# applied on that node); after a failed operation a writer sleeps 5 ms (so a
# node that fails at once does not spin a core), which bounds the
# measurement error of a gap from above by about 5 ms plus one operation.
# The leader poll runs raftfsctl on each survivor in turn (a few ms per
# call), so election times carry that much granularity.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
export top_srcdir
lib="$top_srcdir/tests/integration/lib.sh"
[ -f "$lib" ] || { echo "bench/failover.sh: $lib not found (needs the daemon's integration helpers)"; exit 77; }
SEED=${FAILOVER_SEED:-$$}
RANDOM=$SEED
. "$lib"
[ -c /dev/fuse ] || skip "no /dev/fuse"
PY=$(command -v python3) || skip "python3 not found"
PORT=${RAFTFS_TEST_PORT:-$((7100 + RANDOM % 800))}
addr_of() { echo "127.0.0.${1#n}:$PORT"; }
ROUNDS=${1:-10}
echo "bench/failover.sh: seed $SEED (FAILOVER_SEED=$SEED replays it), port $PORT, $ROUNDS rounds"

# Without -v: debug logging of every raft message would slow the daemons.
# Each log line gets the wall-clock time it was read at, to line it up with
# the kills and the writers' logs.
stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }
start_node() {
        local n=$1
        "$RAFTFSD" -c "$T/$n/raftfs.conf" > >(stamp >>"$T/$n/raftfsd.log") 2>&1 &
        echo $! >"$T/$n/pid"
        PIDS="$PIDS $!"
}
unmount_all() {
        local d
        for d in "$T"/*/mnt; do umount -l "$d" 2>/dev/null || true; done
}
trap 'unmount_all; cleanup' EXIT

# now: wall-clock microseconds (the writers use the same clock)
now() { local t=$EPOCHREALTIME; echo "${t/[.,]/}"; }
ms_since() { echo $(( ($2 - $1) / 1000 )); }
mounted() { mountpoint -q "$T/$1/mnt"; }
node_up() { is_ready "$1" && mounted "$1"; }

nodes="n1 n2 n3"
make_certs $nodes
for n in $nodes; do
        write_conf "$n" "$(members_of $nodes)"
        sed -i -e 's/^mount = no$/mount = yes/' -e 's/^heartbeat_ms = .*/heartbeat_ms = 100/' \
               -e 's/^election_timeout_ms = .*/election_timeout_ms = 1000/' "$T/$n/raftfs.conf"
        mkdir -p "$T/$n/mnt"
done
for n in $nodes; do start_node "$n"; done
wait_for 30 leader_among $nodes || fail "no leader"
for n in $nodes; do wait_for 30 node_up "$n" || fail "$n not ready and mounted"; done

# ---- the writer: open/write/close in a loop, one line per operation ----
cat >"$T/writer.py" <<'PY'
import errno, os, signal, sys, time
mnt, out = sys.argv[1], sys.argv[2]
parent_dev = os.stat(os.path.dirname(os.path.abspath(mnt))).st_dev
path = os.path.join(mnt, 'failover-' + os.path.basename(out))
stop = False
def on_term(sig, frame):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
log = open(out, 'w', buffering=1)
i = 0
while not stop:
    i += 1
    t0 = time.time()
    try:
        # Unmounted (node stopped): never write into the directory below.
        if os.stat(mnt).st_dev == parent_dev:
            raise OSError(errno.ENODEV, 'not mounted')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if os.fstat(fd).st_dev == parent_dev:
                os.unlink(path)
                raise OSError(errno.ENODEV, 'not mounted')
            os.write(fd, b'%-63d\n' % i)
        except BaseException:
            try:
                os.close(fd)
            except OSError:
                pass
            raise
        os.close(fd)
        log.write('ok %.6f %.6f\n' % (t0, time.time()))
    except OSError as e:
        log.write('err %.6f %.6f %s\n' % (t0, time.time(), errno.errorcode.get(e.errno, str(e.errno))))
        time.sleep(0.005)
PY
WPIDS=""
start_writer() {        # start_writer NODE LOGNAME
        "$PY" "$T/writer.py" "$T/$1/mnt" "$T/$2" &
        WPIDS="$WPIDS $!"
        PIDS="$PIDS $!"
}
stop_writers() {
        local p
        for p in $WPIDS; do kill -TERM "$p" 2>/dev/null || true; done
        for p in $WPIDS; do wait "$p" 2>/dev/null || true; done
        WPIDS=""
}
# oks_after LOG T: number of successful commits that finished after time T
oks_after() { awk -v t="$2" '$1 == "ok" && $3 > t { n++ } END { print n + 0 }' "$T/$1" 2>/dev/null || echo 0; }

# ---- part 1: kill -9 of the leader ----
echo "part 1: kill -9 of the leader, $ROUNDS rounds (writer on a surviving follower)"
: >"$T/rounds"
for r in $(seq 1 "$ROUNDS"); do
        leader=$(leader_among $nodes) || fail "round $r: no leader"
        survivors=$(echo $nodes | tr ' ' '\n' | grep -v "^$leader$" | tr '\n' ' ')
        wnode=$(echo $survivors | cut -d' ' -f1)
        old_term=$(json_field "$leader" term)
        start_writer "$wnode" "kill$r.log"
        wait_for 10 sh -c "grep -q '^ok' '$T/kill$r.log'" || fail "round $r: writer on $wnode never committed"
        sleep 1
        exec 3>&2 2>/dev/null   # bash's "Killed" job notice
        t_kill=$(now)
        kill -9 "$(pid_of "$leader")"
        # Poll the survivors until one calls itself leader (in a newer term).
        new="" t_elected=""
        while [ -z "$new" ]; do
                for n in $survivors; do
                        if [ "$(json_field "$n" role)" = leader ]; then new=$n; t_elected=$(now); break; fi
                done
                [ $(( $(now) - t_kill )) -lt 30000000 ] || fail "round $r: no new leader 30 s after the kill"
        done
        new_term=$(json_field "$new" term)
        wait "$(pid_of "$leader")" 2>/dev/null || true
        exec 2>&3 3>&-
        # Up to 20 s for the writer to commit again, then 3 s more of commits.
        i=0
        while [ "$(oks_after "kill$r.log" "${t_kill:0:-6}.${t_kill: -6}")" = 0 ] && [ $i -lt 200 ]; do
                sleep 0.1; i=$((i + 1))
        done
        sleep 3
        stop_writers
        echo "$r $leader $wnode $new $old_term $new_term $t_kill $t_elected kill$r.log" >>"$T/rounds"
        t_restart=$(now)
        start_node "$leader"
        wait_for 30 node_up "$leader" || fail "round $r: $leader not ready and mounted again after restart"
        echo "  round $r: killed $leader (term $old_term), writer on $wnode, new leader $new (term $new_term)," \
             "$leader back in $(ms_since "$t_restart" "$(now)") ms"
done

# ---- part 2: rolling restart with SIGTERM ----
echo "part 2: rolling restart (SIGTERM, restart, wait for READY + mount), one writer per node"
for n in $nodes; do start_writer "$n" "roll-$n.log"; done
for n in $nodes; do wait_for 10 sh -c "grep -q '^ok' '$T/roll-$n.log'" || fail "rolling: writer on $n never committed"; done
sleep 2
t_roll_start=$(now)
: >"$T/roll"
for n in $nodes; do
        role=$(json_field "$n" role)
        t_term=$(now)
        kill -TERM "$(pid_of "$n")"
        rc=0; wait "$(pid_of "$n")" || rc=$?
        t_exit=$(now)
        mounted "$n" && { echo "  $n exited (status $rc) but its mount is still there; detaching"; umount -l "$T/$n/mnt"; }
        start_node "$n"
        wait_for 30 node_up "$n" || fail "rolling: $n not ready and mounted after restart"
        t_up=$(now)
        echo "$n $t_term $t_up" >>"$T/roll"
        echo "  $n ($role): SIGTERM -> exit (status $rc) $(ms_since "$t_term" "$t_exit") ms," \
             "exit -> READY and mounted $(ms_since "$t_exit" "$t_up") ms"
done
sleep 2
t_roll_end=$(now)
stop_writers

# ---- figures ----
"$PY" - "$T" "$t_roll_start" "$t_roll_end" <<'PY'
import re, statistics, sys
T = sys.argv[1]
roll_start, roll_end = float(sys.argv[2]) / 1e6, float(sys.argv[3]) / 1e6
nan = float('nan')

def read(name):
    ok, err = [], {}
    for line in open('%s/%s' % (T, name)):
        f = line.split()
        if f[0] == 'ok':
            ok.append((float(f[1]), float(f[2])))
        else:
            err[f[3]] = err.get(f[3], 0) + 1
    return ok, err

def gaps(times):
    return [(b - a, a, b) for a, b in zip(times, times[1:])]

def errs(err):
    return ','.join('%s=%d' % kv for kv in sorted(err.items())) or '0'

def log_time(node, pattern, after):
    """Stamp of the first line of NODE's daemon log after AFTER matching PATTERN."""
    for line in open('%s/%s/raftfsd.log' % (T, node), errors='replace'):
        t, _, text = line.partition(' ')
        try:
            t = float(t.replace(',', '.'))
        except ValueError:
            continue
        if t > after and re.search(pattern, text):
            return t
    return nan

print()
print('kill -9 of the leader (heartbeat 100 ms, election timeout 1000 ms); times in ms after the kill')
print('%5s %6s %6s %6s %7s %15s %8s %8s %8s %6s %7s' % ('round', 'killed', 'writer', 'leader', 'gap',
      '(from..to)', 'ctl sees', 'log: dis', 'leader', 'op', 'failed'))
gap_ms, ctl_ms, log_ms = [], [], []
for line in open(T + '/rounds'):
    r, killed, wnode, new, ot, nt, t_kill, t_el, logname = line.split()
    t_kill, t_el = float(t_kill) / 1e6, float(t_el) / 1e6
    ok, err = read(logname)
    done = [b for a, b in ok]
    after = [b for b in done if b > t_kill]
    lo, hi = t_kill - 1.0, (after[0] + 3.0) if after else float('inf')
    g = max(((d, a, b) for d, a, b in gaps(done) if b >= lo and a <= hi), default=(nan, nan, nan))
    before = [b - a for a, b in ok if b < t_kill]
    disc = min(log_time(n, r'Peer %s disconnected' % killed, t_kill) for n in (wnode, new))
    led = log_time(new, r'Role leader in term %s\.' % nt, t_kill)
    gap_ms.append(g[0] * 1e3)
    ctl_ms.append((t_el - t_kill) * 1e3)
    log_ms.append((led - t_kill) * 1e3)
    print('%5s %6s %6s %6s %7.0f %7.0f..%-7.0f %8.0f %8.0f %8.0f %6.1f %7s' % (r, killed, wnode, new, g[0] * 1e3,
          (g[1] - t_kill) * 1e3, (g[2] - t_kill) * 1e3, (t_el - t_kill) * 1e3, (disc - t_kill) * 1e3,
          (led - t_kill) * 1e3, statistics.median(before) * 1e3 if before else nan, errs(err)))
print('write gap:                 median %4.0f ms, max %4.0f ms, min %4.0f ms over %d rounds' % (
      statistics.median(gap_ms), max(gap_ms), min(gap_ms), len(gap_ms)))
print('kill -> leader (ctl poll): median %4.0f ms, max %4.0f ms, min %4.0f ms' % (
      statistics.median(ctl_ms), max(ctl_ms), min(ctl_ms)))
print('kill -> leader (its log):  median %4.0f ms, max %4.0f ms, min %4.0f ms' % (
      statistics.median(log_ms), max(log_ms), min(log_ms)))
print('target median write gap <= 350 ms: %s' % ('met' if statistics.median(gap_ms) <= 350 else 'NOT met'))
print('(gap: longest time between two successful close()s of the writer from 1 s before the kill to 3 s')
print(' after its first commit after the kill; ctl sees: first `raftfsctl status` poll of a survivor saying')
print(' leader; log: dis / leader: the survivors\' "Peer disconnected" and the new leader\'s "Role leader"')
print(' log lines, stamped when read from the daemon\'s stderr; op: median open..close before the kill)')

print()
print('rolling restart (SIGTERM, restart, READY + mounted, next node)')
down = {}
for line in open(T + '/roll'):
    n, a, b = line.split()
    down[n] = (float(a) / 1e6, float(b) / 1e6)
all_done = []
for n in down:
    ok, err = read('roll-%s.log' % n)
    done = [b for a, b in ok if roll_start <= b <= roll_end]
    all_done += done
    s, e = down[n]
    # Split each interval at its node's own down window; keep the parts outside.
    worst = 0.0
    for d, a, b in gaps(done):
        if b <= s or a >= e:
            worst = max(worst, d)
        else:
            worst = max(worst, max(0.0, s - a), max(0.0, b - e))
    own_last = max((b for b in done if b < s), default=s)
    own_first = min((b for b in done if b > e), default=nan)
    print('writer on %s: longest gap outside its own restart %4.0f ms; own restart: last commit %4.0f ms'
          ' before SIGTERM, first %4.0f ms after READY+mounted (down %4.0f ms); %d ok, failed: %s' % (
          n, worst * 1e3, (s - own_last) * 1e3, (own_first - e) * 1e3, (e - s) * 1e3, len(done), errs(err)))
all_done = sorted(all_done)
cluster = gaps([roll_start] + all_done + [roll_end])
for n, (s, e) in down.items():
    w = max(((d, a, b) for d, a, b in cluster if b >= s and a <= e), default=(nan, nan, nan))
    print('restart of %s: longest time without any commit %4.0f ms (%.0f..%.0f ms after its SIGTERM)' % (
          n, w[0] * 1e3, (w[1] - s) * 1e3, (w[2] - s) * 1e3))
w = max(cluster)
print('cluster: longest time without any commit %.0f ms (%.3f..%.3f s after the first SIGTERM)' % (
      w[0] * 1e3, w[1] - roll_start, w[2] - roll_start))
PY

echo
echo "daemon log lines at warning level or above (<0>..<4>), per node:"
for n in $nodes; do
        c=$(grep -c '^[0-9.]* <[0-4]>' "$T/$n/raftfsd.log" || true)
        echo "  $n: $c"
        grep '^[0-9.]* <[0-4]>' "$T/$n/raftfsd.log" | cut -d' ' -f2- | sed 's/[0-9][0-9]*/N/g' | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/    /'
done
exit 0
