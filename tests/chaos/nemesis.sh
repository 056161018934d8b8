# nemesis.sh — faults of a chaos round (sourced by tests/chaos/run).
#
# A schedule is generated from the round's seed before the round starts and
# printed, one step per line: "AT_S HOLD_S KIND NODE", where AT_S is the
# second (from the round start) the fault begins and HOLD_S how long it
# lasts. Faults that depend on the cluster's state (the leader, the lock
# holder) pick their node when they start; the log says which.
#
# Kinds: kill (SIGKILL + restart), kill-leader, kill-pgroup (SIGKILL of the
# daemon's whole process group, kill -9 -PGID, + restart: the mount guard
# dies too), pause (SIGSTOP/SIGCONT), pause-majority (SIGSTOP a majority
# of the daemons, all but the leader on 3 nodes: the leader stays leader,
# alone, and learns it has no quorum; nobody else is elected meanwhile),
# part-majority (random minority cut off), part-leader (leader isolated),
# part-asym (leader's packets to the others dropped, theirs still arrive),
# part-ring (5 nodes: each sees only its ring neighbours; 3 nodes: n1|n2
# with n3 seeing both), delay (50-150 ms on every node), loss (5-20 % on
# every node), member (remove a node, re-add it wiped), cert (rotate a node's
# certificate, SIGHUP, restart), freeze-holder (SIGSTOP the lock holder's
# daemon past the session ttl).

NEM_ACTIVE=""

nem_log() { printf '%7.1fs  %s\n' "$(awk -v s="$NEM_T0" -v n="$(date +%s.%N)" 'BEGIN { print n - s }')" "$*" | tee -a "$RD/schedule.log"; }

# nem_schedule SEED SECONDS KINDS N: prints the schedule
nem_schedule() {
        local seed=$1 secs=$2 kinds=$3 n=$4 t=2 hold kind k
        local -a ks
        IFS=',' read -r -a ks <<<"$kinds"
        RANDOM=$seed
        while :; do
                kind=${ks[$((RANDOM % ${#ks[@]}))]}
                hold=$((2 + RANDOM % 5))
                [ "$kind" = freeze-holder ] && hold=$(((CL_TTL_MS * 5 / 2 + 999) / 1000))
                [ "$kind" = member ] && hold=$((4 + RANDOM % 3))
                [ $((t + hold + 2)) -le "$secs" ] || break
                k=$((1 + RANDOM % n))
                echo "$t $hold $kind $k"
                t=$((t + hold + 1 + RANDOM % 3))
        done
}

nem_others() { local x=$1 i; for i in $(seq 1 "$CL_N"); do [ "$i" = "$x" ] || printf '%s ' "$i"; done; }

# nem_start KIND NODE: begins a fault; records what nem_stop must undo
nem_start() {
        local kind=$1 k=$2 l
        case $kind in
        kill) nem_log "kill -9 n$k"; cl_kill "$k"; NEM_ACTIVE="restart $k" ;;
        kill-leader)
                l=$(cl_leader) || l=$k
                nem_log "kill -9 leader n$l"; cl_kill "$l"; NEM_ACTIVE="restart $l" ;;
        kill-pgroup)
                nem_log "kill -9 -PGID n$k (the daemon's whole process group)"; cl_kill "$k" group; NEM_ACTIVE="restart $k" ;;
        pause) nem_log "SIGSTOP n$k"; cl_pause "$k"; NEM_ACTIVE="resume $k" ;;
        pause-majority)
                local maj
                l=$(cl_leader) || l=$k
                maj=$(for i in $(nem_others "$l"); do echo "$((RANDOM)) $i"; done | sort -n | head -n $((CL_N / 2 + 1)) |
                        awk '{ print $2 }' | tr '\n' ' ')
                nem_log "SIGSTOP a majority [${maj% }] (leader n$l left alone)"
                for i in $maj; do cl_pause "$i"; done
                NEM_ACTIVE="resume ${maj% }" ;;
        freeze-holder)
                l=$(cl_lock_holder) || l=$k
                nem_log "SIGSTOP lock holder n$l (past the ${CL_TTL_MS} ms ttl)"; cl_pause "$l"; NEM_ACTIVE="resume $l" ;;
        part-majority)
                local all shuffled minority rest
                all=$(seq 1 "$CL_N" | tr '\n' ' ')
                shuffled=$(for i in $all; do echo "$((RANDOM)) $i"; done | sort -n | awk '{ print $2 }' | tr '\n' ' ')
                minority=$(echo "$shuffled" | cut -d' ' -f1-$(((CL_N - 1) / 2)))
                rest=$(echo "$shuffled" | cut -d' ' -f$(((CL_N - 1) / 2 + 1))-)
                nem_log "partition [$minority] | [$rest]"; net_partition "$minority" "$rest"; NEM_ACTIVE="heal" ;;
        part-leader)
                l=$(cl_leader) || l=$k
                nem_log "isolate leader n$l"; net_partition "$l" "$(nem_others "$l")"; NEM_ACTIVE="heal" ;;
        part-asym)
                l=$(cl_leader) || l=$k
                nem_log "drop leader n$l's packets to the others (one way)"
                for i in $(nem_others "$l"); do net_cut_oneway "$l" "$i"; done
                NEM_ACTIVE="heal" ;;
        part-ring)
                if [ "$CL_N" -ge 5 ]; then nem_log "ring partition"; net_ring "$CL_N"
                else nem_log "bridge partition n1|n2, n3 sees both"; net_cut 1 2; fi
                NEM_ACTIVE="heal" ;;
        delay)
                local ms=$((50 + RANDOM % 101))
                nem_log "delay ${ms} ms on every node"
                for i in $(seq 1 "$CL_N"); do net_delay "$i" "$ms"; done
                NEM_ACTIVE="heal" ;;
        loss)
                local pct=$((5 + RANDOM % 16))
                nem_log "loss ${pct}% on every node"
                for i in $(seq 1 "$CL_N"); do net_loss "$i" "$pct"; done
                NEM_ACTIVE="heal" ;;
        member)
                nem_log "member remove n$k"
                if cl_remove "$k"; then NEM_ACTIVE="readd $k"; else nem_log "  (remove refused: no leader)"; NEM_ACTIVE=""; fi ;;
        cert)
                nem_log "rotate certificate of n$k, SIGHUP, restart"
                cl_rotate_cert "$k"; sleep 1; cl_kill "$k"; cl_start "$k"; NEM_ACTIVE="" ;;
        *) nem_log "unknown nemesis $kind"; return 1 ;;
        esac
}

nem_stop() {
        local what=${NEM_ACTIVE%% *} k=${NEM_ACTIVE#* }
        case $what in
        restart) nem_log "restart n$k"; cl_start "$k" ;;
        resume) nem_log "SIGCONT $(printf 'n%s ' $k)"; for i in $k; do cl_resume "$i"; done ;;
        heal) nem_log "heal network"; net_heal ;;
        readd) nem_log "member add n$k (wiped, join = yes)"; cl_readd "$k" || nem_log "  (add failed)" ;;
        esac
        NEM_ACTIVE=""
}

# nem_run SCHEDULE-FILE: executes the schedule (times relative to NEM_T0)
nem_run() {
        local at hold kind k now
        while read -r at hold kind k; do
                now=$(awk -v s="$NEM_T0" -v n="$(date +%s.%N)" 'BEGIN { print n - s }')
                sleep "$(awk -v a="$at" -v n="$now" 'BEGIN { d = a - n; print (d > 0 ? d : 0) }')"
                nem_start "$kind" "$k"
                sleep "$hold"
                nem_stop
        done <"$1"
}

# nem_heal_all: the end of a round: every fault undone, every node running
nem_heal_all() {
        local i
        [ -n "$NEM_ACTIVE" ] && nem_stop
        net_heal
        for i in $(seq 1 "$CL_N"); do
                if cl_alive "$i"; then cl_resume "$i"; else cl_start "$i"; fi
        done
}
