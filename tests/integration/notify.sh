#!/bin/bash
# notify.sh — raftfsd's sd_notify protocol, seen from a fake service
# manager: READY=1 once caught up, STATUS= lines, WATCHDOG=1 pings at half
# of WATCHDOG_USEC, STOPPING=1 on SIGTERM, exit status 0 after a clean stop;
# and exit status 1 with a clear message for a bad configuration.
PORT=27401
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 needed for the fake notify socket"

write_conf n1 "$(members_of n1)"
sed -i '/^\[tls\]/,/^key/d' "$T/n1/raftfs.conf"         # one member: no TLS

# Receive datagrams on $T/notify until killed; one message per line.
python3 - "$T/notify" "$T/messages" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " | ") + "\n")
PY
PIDS="$PIDS $!"
wait_for 5 test -S "$T/notify" || fail "notify socket not created"

NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=200000 "$RAFTFSD" -c "$T/n1/raftfs.conf" >"$T/n1/raftfsd.log" 2>&1 &
pid=$!
PIDS="$PIDS $pid"
wait_for 10 grep -q "^READY=1" "$T/messages" || fail "no READY=1"
wait_for 5 grep -q "^STATUS=leader, term" "$T/messages" || fail "no STATUS=: $(cat "$T/messages")"
sleep 1
pings=$(grep -c "^WATCHDOG=1" "$T/messages" || true)
[ "$pings" -ge 5 ] || fail "only $pings watchdog pings in about a second"
kill -TERM $pid
wait $pid && st=0 || st=$?
[ "$st" = 0 ] || fail "exit status $st after SIGTERM"
grep -q "^STOPPING=1" "$T/messages" || fail "no STOPPING=1"

log "a bad configuration: exit status 1 and FILE:LINE"
echo "bogus = 1" >>"$T/n1/raftfs.conf"
"$RAFTFSD" -c "$T/n1/raftfs.conf" 2>"$T/err" && st=0 || st=$?
[ "$st" = 1 ] || fail "bad config: exit status $st"
grep -q "raftfs.conf:[0-9]*: unknown key 'bogus'" "$T/err" || fail "bad config message: $(cat "$T/err")"
"$RAFTFSD" --no-such-option 2>/dev/null && st=0 || st=$?
[ "$st" = 2 ] || fail "usage error: exit status $st"
echo "PASS"
