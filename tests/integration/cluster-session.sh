#!/bin/bash
# cluster-session.sh — sessions of real daemons: every node opens one; the
# leader expires the session of a node killed with -9 after ttl_ms (3 s
# here); a node cut off from its peers (SIGSTOP) reports jeopardy after
# ttl_ms - jeopardy_margin_ms on the remaining one, then recovers; a
# restarted node replaces its old session; SIGHUP reloads certificates.
PORT=27201
. "$(dirname "$0")/lib.sh"

nodes="n1 n2 n3"
make_certs n1 n2 n3
for n in $nodes; do write_conf "$n" "$(members_of $nodes)"; done
for n in $nodes; do start_node "$n"; done
for n in $nodes; do wait_for 20 is_ready "$n" || fail "$n not ready"; done

sessions() { ctl "$1" metrics | sed -n 's/^raftfs_sessions \([0-9]*\)$/\1/p'; }
session_ok() { [ "$(json_field "$1" state)" = ok ]; }
session_state() { json_field "$1" state; }
session_is() { [ "$(session_state "$1")" = "$2" ]; }
sessions_are() { [ "$(sessions "$1")" = "$2" ]; }

for n in $nodes; do wait_for 10 session_ok "$n" || fail "$n has no session"; done
leader=$(leader_among $nodes)
wait_for 10 sessions_are "$leader" 3 || fail "expected 3 sessions, got $(sessions "$leader")"

victim=$(echo $nodes | tr ' ' '\n' | grep -v "^$leader$" | head -1)
log "kill -9 $victim: the leader expires its session after ttl"
kill -9 "$(pid_of "$victim")"
sleep 2
sessions_are "$leader" 3 || fail "session expired before ttl_ms"
wait_for 6 sessions_are "$leader" 2 || fail "session of $victim not expired"
grep -q "Expiring session" "$T/$leader/raftfsd.log" || fail "no expiry logged"

log "restart $victim: it opens a new session"
start_node "$victim"
wait_for 20 is_ready "$victim" || fail "$victim not ready after restart"
wait_for 10 session_ok "$victim" || fail "$victim has no session after restart"
wait_for 10 sessions_are "$leader" 3 || fail "expected 3 sessions after restart"

log "SIGSTOP both peers of $leader: its session goes into jeopardy, then recovers"
others=$(echo $nodes | tr ' ' '\n' | grep -v "^$leader$" | tr '\n' ' ')
for n in $others; do kill -STOP "$(pid_of "$n")"; done
wait_for 6 session_is "$leader" jeopardy || fail "no jeopardy on $leader (state $(session_state "$leader"))"
for n in $others; do kill -CONT "$(pid_of "$n")"; done
wait_for 10 session_ok "$leader" || fail "$leader did not recover (state $(session_state "$leader"))"

log "SIGHUP reloads certificates"
kill -HUP "$(pid_of "$leader")"
wait_for 5 grep -q "Reloaded TLS certificates" "$T/$leader/raftfsd.log" || fail "no reload"
echo "PASS"
