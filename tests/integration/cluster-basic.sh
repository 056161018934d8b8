#!/bin/bash
# cluster-basic.sh — three real daemons with mutual TLS on 127.0.0.1-3:
# election, READY, membership view, leader failover after kill -9, leadership
# transfer, a fourth node joining as learner and being removed, and a
# graceful stop (SIGTERM hands leadership over).
PORT=27101
. "$(dirname "$0")/lib.sh"

nodes="n1 n2 n3"
make_certs n1 n2 n3 n4
for n in $nodes; do write_conf "$n" "$(members_of $nodes)"; done
for n in $nodes; do start_node "$n"; done

log "waiting for a leader and READY on every node"
wait_for 20 leader_among $nodes || fail "no leader elected"
for n in $nodes; do wait_for 20 is_ready "$n" || fail "$n not ready"; done
leader=$(leader_among $nodes)
log "leader is $leader"
ctl "$leader" members
[ "$(ctl "$leader" members --json | grep -o '"name"' | wc -l)" = 3 ] || fail "members: expected 3"
for n in $nodes; do
        [ "$(json_field "$n" leader)" = "$leader" ] || fail "$n does not know the leader"
        [ "$(json_field "$n" state)" = ok ] || fail "$n has no session"
done

log "kill -9 the leader, expect a new one quickly"
kill -9 "$(pid_of "$leader")"
others=$(echo $nodes | tr ' ' '\n' | grep -v "^$leader$" | tr '\n' ' ')
start=$(date +%s%N)
wait_for 10 leader_among $others || fail "no new leader after kill -9"
new=$(leader_among $others)
echo "new leader $new after $(( ($(date +%s%N) - start) / 1000000 )) ms"
start_node "$leader"
wait_for 20 is_ready "$leader" || fail "restarted $leader not ready"

log "leadership transfer to $leader"
ctl "$new" leader transfer "$leader" || fail "leader transfer"
wait_for 10 is_leader "$leader" || fail "$leader did not take over"
leader=$(leader_among $nodes)

log "add n4 (join = yes), then remove it"
write_conf n4 "$(members_of $nodes)" ""
sed -i 's/^\[cluster\]$/[cluster]\njoin = yes/' "$T/n4/raftfs.conf"
start_node n4
ctl "$leader" member add n4 "$(addr_of n4)" || fail "member add"
wait_for 20 is_ready n4 || fail "n4 did not catch up"
ctl "$leader" members
ctl "$leader" member remove n4 || fail "member remove"
[ "$(ctl "$leader" members --json | grep -o '"name"' | wc -l)" = 3 ] || fail "members after remove"
kill -TERM "$(pid_of n4)"

log "graceful stop of the leader hands leadership over"
kill -TERM "$(pid_of "$leader")"
wait "$(pid_of "$leader")" || fail "$leader exited with $?"
others=$(echo $nodes | tr ' ' '\n' | grep -v "^$leader$" | tr '\n' ' ')
wait_for 5 leader_among $others || fail "no leader after graceful stop"
grep -q "Handing leadership over" "$T/$leader/raftfsd.log" || fail "no transfer on stop"
echo "PASS"
