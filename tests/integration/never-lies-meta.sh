#!/bin/bash
# never-lies-meta.sh — metadata is linearizable across nodes with warm kernel
# caches (issue 14; DESIGN.md §2 "Reads", consistency = linearizable): every
# operation revealing the namespace or attributes reflects every commit that
# completed, on any node, before the call began.
#
# A 3-node cluster; ROUNDS rounds, each one mutation (create, unlink, rename,
# chmod, chown, setxattr, removexattr, mkdir, rmdir, symlink, link, truncate)
# picked at random and applied through one node's mount to a small set of
# names in one directory. Before the mutation every node has looked up every
# name (the previous round's observation, or the warm-up): the kernels'
# dentry, negative-dentry and attribute caches are warm. As soon as the
# mutation returns, every node observes, in parallel (observers forked before
# the mutation, released through a FIFO): test -e of every name, stat
# (lstat: type, mode, owner, size, nlink; %N reads a link's target with
# readlink), readdir (the shell's glob) and getxattr (getfattr). Before it
# releases them, this shell itself looks at once with test(1) builtins (-e,
# -L, -d, -f, -s, -O, -G, -x: existence, type, size > 0, owner and group 0,
# an x bit). Everything is compared with a model of the directory kept
# here; a difference is a stale observation (printed: round, node, op,
# expected, seen); the node is then given 10 s to converge (a node that never
# does fails at once) and the run goes on. Any stale observation fails the
# test.
#
# That race is won or lost by milliseconds; every FROZEN_EVERY-th round makes
# it deterministic: the daemon of one follower is SIGSTOPped before the
# mutation (which commits through the two other nodes), the frozen node's
# observer starts after the mutation returned, the daemon is resumed once the
# observer has stated the names or after 0.5 s (a correct node answers
# nothing from its kernel caches while its daemon cannot have seen the
# commit: its observer blocks until the SIGCONT and then sees the change).
#
# Environment: RAFTFS_TEST_ROUNDS (default 300; the issue asks for 1000, but
# a round costs about ten process starts: 0.45 to 0.9 s on a shared 2-core
# machine under a load of 8 to 18, so 300 rounds take 2 to 4.5 minutes
# there), RAFTFS_TEST_SEED (replays a run's sequence of mutations: the seed
# is printed at the start; which node mutates may differ when leadership
# does), RAFTFS_TEST_FROZEN_EVERY (default 15; 0: no frozen rounds).
PORT=27551
RAFTFS_TEST_PORT=$PORT
. "$(dirname "$0")/fusefs-lib.sh"

ROUNDS=${RAFTFS_TEST_ROUNDS:-300}
SEED=${RAFTFS_TEST_SEED:-$((${EPOCHREALTIME/./} % 1000000))}
FROZEN_EVERY=${RAFTFS_TEST_FROZEN_EVERY:-15}
RANDOM=$SEED
export LC_ALL=C QUOTING_STYLE=literal
umask 022

nodes="n1 n2 n3"
NODE_ARR=($nodes)
NAMES="a b c d e"
OPS=(create unlink rename chmod chown setxattr removexattr mkdir rmdir symlink link truncate)
MODES=(600 640 644 664 700 711 755 444)
OWNERS=(0:0 1000:1000 65534:65534 1:2)

mount_cluster $nodes
declare -A MNT
for n in $nodes; do MNT[$n]=$(mnt "$n"); done
echo "seed: $SEED (replay with RAFTFS_TEST_SEED=$SEED), rounds: $ROUNDS, frozen every: $FROZEN_EVERY, names: $NAMES"
mkdir "${MNT[n1]}/m"
for n in $nodes; do wait_for 10 test -d "${MNT[$n]}/m" || fail "$n does not see m/"; done

now_us() { echo $((${EPOCHREALTIME/./})); }

# The model: ENT[name] = inode id (unset: absent); per inode its type (f, d,
# l), mode, owner ("uid:gid"), size, xattr user.t (unset: none), link target.
declare -A ENT TYPE MODE OWNER SIZE XATTR TARGET
next_ino=1

# rnd N: a random number in [0, N) in R (no subshell: $RANDOM's sequence is
# the replayable one)
rnd() { R=$((RANDOM % $1)); }

# expected: what an observation prints, from the model, in EXP (trailing
# newlines removed, as $(<file) does)
expected() {
        local k id c line ex="" st="" names="" xa=""
        for k in $NAMES; do
                id=${ENT[$k]:-}
                if [ -z "$id" ]; then ex="$ex$k- "; continue; fi
                ex="$ex$k+ "
                names="$names$k"$'\n'
                case ${TYPE[$id]} in
                f)
                        c=0
                        for line in $NAMES; do if [ "${ENT[$line]:-}" = "$id" ]; then c=$((c + 1)); fi; done
                        if [ "${SIZE[$id]}" = 0 ]; then line="$k|regular empty file"; else line="$k|regular file"; fi
                        line="$line|${MODE[$id]}|${OWNER[$id]/:/|}|${SIZE[$id]}|$c"
                        ;;
                d) line="$k|directory|${MODE[$id]}|${OWNER[$id]/:/|}|0|2" ;;
                l) line="$k -> ${TARGET[$id]}|symbolic link|777|${OWNER[$id]/:/|}|${#TARGET[$id]}|1" ;;
                esac
                st="$st$line"$'\n'
                if [ -n "${XATTR[$id]:-}" ]; then xa="$xa# file: $k"$'\n'"user.t=\"${XATTR[$id]}\""$'\n\n'; fi
        done
        EXP="$ex"$'\n'"--"$'\n'"$st--"$'\n'"$names--"$'\n'"$xa"
        while [ "${EXP%$'\n'}" != "$EXP" ]; do EXP=${EXP%$'\n'}; done
}

# observe_body DIR: the observation (runs in a subshell; output to a file)
observe_body() {
        local k all
        cd "$1" || { echo "(cd $1 failed)"; return 0; }
        for k in $NAMES; do if [ -e "$k" ] || [ -L "$k" ]; then printf '%s+ ' "$k"; else printf '%s- ' "$k"; fi; done
        printf '\n--\n'
        stat -c '%N|%F|%a|%u|%g|%s|%h' -- $NAMES 2>/dev/null || true
        echo --
        shopt -s dotglob nullglob
        all=(*)
        [ ${#all[@]} = 0 ] || printf '%s\n' "${all[@]}"
        echo --
        getfattr -h -m '^user\.t$' -d -- $NAMES 2>/dev/null || true
}
converged() { (observe_body "${MNT[$1]}/m") >"$T/conv.$1" 2>&1; [ "$(<"$T/conv.$1")" = "$EXP" ]; }

# Observers are forked before the mutation and wait on a FIFO each, so that
# they look within a fork's time of the mutation's return. A watchdog kills
# them (FUSE waits are killable) should a mount hang.
for n in $nodes; do mkfifo "$T/go.$n"; done
mkfifo "$T/never"
declare -A OBS_PID
spawn_observers() {
        local n
        for n in $nodes; do
                ( read -r _ <"$T/go.$n" || true; observe_body "${MNT[$n]}/m" ) >"$T/obs.$n" 2>&1 &
                OBS_PID[$n]=$!
        done
}
# wait_observers NODE...: waits for those observers, killing them after 20 s
wait_observers() {
        local n pids="" wd rc=0
        for n in "$@"; do pids="$pids ${OBS_PID[$n]}"; done
        ( read -r -t 20 _ <>"$T/never" || true; kill -9 $pids 2>/dev/null; echo "observers$pids killed after 20 s" ) &
        wd=$!
        wait $pids || rc=$?
        kill "$wd" 2>/dev/null || true
        wait "$wd" 2>/dev/null || true
        return $rc
}
# quick_look NODE...: right after the mutation returned, from this shell
# (builtins, no fork: the earliest look), on those nodes' mounts, per name:
# absent (-), symlink (l), directory (d) or file (f), and for the latter
# size > 0 (s, -s), uid 0 (O, -O), gid 0 (G, -G), any x bit (x, -x as root)
declare -A QUICK
quick_look() {
        local n k p line s
        for n in "$@"; do
                line=""
                for k in $NAMES; do
                        p=${MNT[$n]}/m/$k
                        if [ -L "$p" ]; then
                                s=l
                        elif [ -d "$p" ]; then
                                s=d
                                if [ -O "$p" ]; then s=${s}O; fi
                                if [ -G "$p" ]; then s=${s}G; fi
                        elif [ -f "$p" ]; then
                                s=f
                                if [ -s "$p" ]; then s=${s}s; fi
                                if [ -O "$p" ]; then s=${s}O; fi
                                if [ -G "$p" ]; then s=${s}G; fi
                                if [ -x "$p" ]; then s=${s}x; fi
                        elif [ -e "$p" ]; then
                                s="?"
                        else
                                s=-
                        fi
                        line="$line $k$s"
                done
                QUICK[$n]=${line# }
        done
}
# quick_expected: what quick_look shows, from the model, in QUICK_EXP
quick_expected() {
        local k id s
        QUICK_EXP=""
        for k in $NAMES; do
                id=${ENT[$k]:-}
                if [ -z "$id" ]; then
                        s=-
                else
                        case ${TYPE[$id]} in
                        l) s=l ;;
                        d) s=d ;;
                        f) s=f; if [ "${SIZE[$id]}" != 0 ]; then s=${s}s; fi ;;
                        esac
                        if [ "${TYPE[$id]}" != l ]; then
                                if [ "${OWNER[$id]%%:*}" = 0 ]; then s=${s}O; fi
                                if [ "${OWNER[$id]##*:}" = 0 ]; then s=${s}G; fi
                        fi
                        if [ "${TYPE[$id]}" = f ]; then
                                case ${MODE[$id]} in *[1357]*) s=${s}x ;; esac
                        fi
                fi
                QUICK_EXP="$QUICK_EXP $k$s"
        done
        QUICK_EXP=${QUICK_EXP# }
}

# candidates KIND...: names in CAND matching one of the kinds (absent, f, d,
# l, x = f or d with an xattr, fd = f or d)
candidates() {
        local k id t want
        CAND=()
        for k in $NAMES; do
                id=${ENT[$k]:-}
                t=${id:+${TYPE[$id]}}
                for want in "$@"; do
                        case $want in
                        absent) [ -z "$id" ] || continue ;;
                        x) [ -n "$id" ] && [ "$t" != l ] && [ -n "${XATTR[$id]:-}" ] || continue ;;
                        fd) [ -n "$id" ] && [ "$t" != l ] || continue ;;
                        any) [ -n "$id" ] || continue ;;
                        *) [ "$t" = "$want" ] || continue ;;
                        esac
                        CAND+=("$k")
                        break
                done
        done
        [ ${#CAND[@]} -gt 0 ]
}
pick() { rnd ${#CAND[@]}; PICK=${CAND[$R]}; }

# mutate ROUND: picks and applies one mutation through MUT_NODE's mount,
# updates the model, sets OP to its description
PAD=xxxxxxxxxxxxxxxxxxxx
mutate() {
        local round=$1 op src dst id m v k dir
        if [ -n "$FROZEN" ]; then
                # through one of the two running nodes
                CAND=()
                for k in $nodes; do [ "$k" = "$FROZEN" ] || CAND+=("$k"); done
                pick; MUT_NODE=$PICK
        else
                rnd 3; MUT_NODE=${NODE_ARR[$R]}
        fi
        dir=${MNT[$MUT_NODE]}/m
        while :; do
                rnd ${#OPS[@]}; op=${OPS[$R]}
                case $op in
                create | mkdir | symlink) candidates absent || continue ;;
                unlink) candidates f l || continue ;;
                rename | chown) candidates any || continue ;;
                chmod | setxattr) candidates fd || continue ;;
                removexattr) candidates x || continue ;;
                rmdir) candidates d || continue ;;
                link) candidates f || continue; candidates absent || continue ;;
                truncate) candidates f || continue ;;
                esac
                break
        done
        case $op in
        create)
                pick; rnd 20; v="r$round${PAD:0:R}"
                OP="create $PICK (${#v} bytes)"
                printf '%s' "$v" >"$dir/$PICK" || fail "round $round: $OP via $MUT_NODE"
                id=$next_ino; next_ino=$((next_ino + 1))
                ENT[$PICK]=$id; TYPE[$id]=f; MODE[$id]=644; OWNER[$id]=0:0; SIZE[$id]=${#v}; unset "XATTR[$id]"
                ;;
        mkdir)
                pick; OP="mkdir $PICK"
                mkdir "$dir/$PICK" || fail "round $round: $OP via $MUT_NODE"
                id=$next_ino; next_ino=$((next_ino + 1))
                ENT[$PICK]=$id; TYPE[$id]=d; MODE[$id]=755; OWNER[$id]=0:0; SIZE[$id]=0; unset "XATTR[$id]"
                ;;
        symlink)
                pick; v=/nonexistent/t$round; OP="symlink $PICK -> $v"
                ln -s "$v" "$dir/$PICK" || fail "round $round: $OP via $MUT_NODE"
                id=$next_ino; next_ino=$((next_ino + 1))
                ENT[$PICK]=$id; TYPE[$id]=l; OWNER[$id]=0:0; TARGET[$id]=$v; unset "XATTR[$id]"
                ;;
        unlink)
                pick; OP="unlink $PICK"
                rm -- "$dir/$PICK" || fail "round $round: $OP via $MUT_NODE"
                unset "ENT[$PICK]"
                ;;
        rmdir)
                pick; OP="rmdir $PICK"
                rmdir -- "$dir/$PICK" || fail "round $round: $OP via $MUT_NODE"
                unset "ENT[$PICK]"
                ;;
        rename)
                pick; src=$PICK
                # a destination rename(2) accepts: absent, or of a kind that
                # can be replaced (a non-directory by a non-directory that is
                # not the same inode, an empty directory by a directory)
                CAND=()
                for dst in $NAMES; do
                        [ "$dst" != "$src" ] || continue
                        id=${ENT[$dst]:-}
                        if [ -z "$id" ]; then CAND+=("$dst"); continue; fi
                        [ "$id" != "${ENT[$src]}" ] || continue
                        if [ "${TYPE[$id]}" = d ]; then
                                if [ "${TYPE[${ENT[$src]}]}" = d ]; then CAND+=("$dst"); fi
                        elif [ "${TYPE[${ENT[$src]}]}" != d ]; then
                                CAND+=("$dst")
                        fi
                done
                if [ ${#CAND[@]} = 0 ]; then
                        # nothing to rename to: chown instead
                        op=chown
                        rnd ${#OWNERS[@]}; v=${OWNERS[$R]}; OP="chown $v $src"
                        chown -h "$v" "$dir/$src" || fail "round $round: $OP via $MUT_NODE"
                        OWNER[${ENT[$src]}]=$v
                else
                        pick; dst=$PICK
                        OP="rename $src $dst${ENT[$dst]:+ (replacing)}"
                        mv -T -- "$dir/$src" "$dir/$dst" || fail "round $round: $OP via $MUT_NODE"
                        ENT[$dst]=${ENT[$src]}; unset "ENT[$src]"
                fi
                ;;
        chmod)
                pick; rnd ${#MODES[@]}; m=${MODES[$R]}; OP="chmod $m $PICK"
                chmod "$m" "$dir/$PICK" || fail "round $round: $OP via $MUT_NODE"
                MODE[${ENT[$PICK]}]=$m
                ;;
        chown)
                pick; rnd ${#OWNERS[@]}; v=${OWNERS[$R]}; OP="chown $v $PICK"
                chown -h "$v" "$dir/$PICK" || fail "round $round: $OP via $MUT_NODE"
                OWNER[${ENT[$PICK]}]=$v
                ;;
        setxattr)
                pick; v=x$round; OP="setxattr user.t=$v $PICK"
                setfattr -n user.t -v "$v" "$dir/$PICK" || fail "round $round: $OP via $MUT_NODE"
                XATTR[${ENT[$PICK]}]=$v
                ;;
        removexattr)
                pick; OP="removexattr user.t $PICK"
                setfattr -x user.t "$dir/$PICK" || fail "round $round: $OP via $MUT_NODE"
                unset "XATTR[${ENT[$PICK]}]"
                ;;
        link)
                candidates f; pick; src=$PICK
                candidates absent; pick; dst=$PICK
                OP="link $src $dst"
                ln -- "$dir/$src" "$dir/$dst" || fail "round $round: $OP via $MUT_NODE"
                ENT[$dst]=${ENT[$src]}
                ;;
        truncate)
                pick; rnd 30; OP="truncate -s $R $PICK"
                truncate -s "$R" "$dir/$PICK" || fail "round $round: $OP via $MUT_NODE"
                SIZE[${ENT[$PICK]}]=$R
                ;;
        esac
        OP_COUNT[$op]=$((${OP_COUNT[$op]:-0} + 1))
}

STALE=0
STALE_ROUNDS=0
SHOWN=0
FROZEN_STALE=0
FROZEN_ROUNDS=0
declare -A OP_COUNT OP_STALE

# report ROUND NODE OP WANT SEEN: one stale observation
report() {
        local round=$1 n=$2 op=$3 want=$4 seen=$5 t0
        STALE=$((STALE + 1))
        STALE_HERE=1
        if [ "$SHOWN" -lt 25 ]; then
                SHOWN=$((SHOWN + 1))
                echo "STALE round $round on $n$([ "$n" != "$FROZEN" ] || echo " (frozen)") after '$op' (through $MUT_NODE's mount): expected -, seen +"
                diff <(echo "$want") <(echo "$seen") | sed -n 's/^</    -/p; s/^>/    +/p' || true
        else
                echo "STALE round $round on $n$([ "$n" != "$FROZEN" ] || echo " (frozen)") after '$op'"
        fi
        t0=$(now_us)
        wait_for 10 converged "$n" ||
                fail "round $round: $n still differs from the model 10 s after '$op': $(diff <(echo "$EXP") "$T/conv.$n")"
        [ "$SHOWN" -ge 25 ] || echo "    $n converged after $((($(now_us) - t0) / 1000)) ms"
}

# check ROUND: releases the observers (the frozen node's too, then resumes
# it), compares everything with the model
check() {
        local round=$1 n seen running="" i
        for n in $nodes; do [ "$n" = "$FROZEN" ] || running="$running $n"; done
        quick_look $running
        for n in $nodes; do echo go >"$T/go.$n"; done
        if [ -n "$FROZEN" ]; then
                # until the frozen node's observer has stated the names (it
                # answers from caches) or 0.5 s have passed (it waits)
                for i in 1 2 3 4 5; do
                        [ "$(grep -c '^--$' "$T/obs.$FROZEN")" -lt 2 ] || break
                        sleep 0.1
                done
                kill -CONT "$(pid_of "$FROZEN")"
        fi
        wait_observers $nodes || true
        expected
        quick_expected
        STALE_HERE=0
        for n in $running; do
                [ "${QUICK[$n]}" = "$QUICK_EXP" ] ||
                        report "$round" "$n" "$OP" "at once: $QUICK_EXP" "at once: ${QUICK[$n]}"
        done
        for n in $nodes; do
                seen=$(<"$T/obs.$n")
                [ "$seen" = "$EXP" ] || report "$round" "$n" "$OP" "$EXP" "$seen"
        done
        if [ "$STALE_HERE" = 1 ]; then
                STALE_ROUNDS=$((STALE_ROUNDS + 1))
                OP_STALE[${OP%% *}]=$((${OP_STALE[${OP%% *}]:-0} + 1))
                [ -z "$FROZEN" ] || FROZEN_STALE=$((FROZEN_STALE + 1))
        fi
}

log "warm-up: every node looks every name up"
expected
for n in $nodes; do converged "$n" || fail "$n: the empty directory m/ is not as expected: $(<"$T/conv.$n")"; done

log "$ROUNDS rounds"
t_start=$(now_us)
t_mut=0
t_check=0
for round in $(seq 1 "$ROUNDS"); do
        FROZEN=""
        if [ "$FROZEN_EVERY" -gt 0 ] && [ $((round % FROZEN_EVERY)) = 0 ]; then
                l=$(leader_among $nodes) || fail "no leader at round $round"
                for n in $nodes; do [ "$n" = "$l" ] || { FROZEN=$n; break; }; done
                FROZEN_ROUNDS=$((FROZEN_ROUNDS + 1))
        fi
        spawn_observers
        [ -z "$FROZEN" ] || kill -STOP "$(pid_of "$FROZEN")"
        t0=$(now_us)
        mutate "$round"
        t1=$(now_us)
        check "$round"
        t_mut=$((t_mut + t1 - t0)); t_check=$((t_check + $(now_us) - t1))
        if [ $((round % 100)) = 0 ]; then
                echo "    round $round: $STALE stale observations in $STALE_ROUNDS rounds so far ($((($(now_us) - t_start) / 1000)) ms)"
        fi
done
elapsed=$((($(now_us) - t_start) / 1000))

log "summary: $ROUNDS rounds in $elapsed ms ($((elapsed / ROUNDS)) ms per round: mutation $((t_mut / ROUNDS / 1000)) ms, observation $((t_check / ROUNDS / 1000)) ms), seed $SEED"
for op in "${OPS[@]}"; do
        printf '    %-12s %4d rounds, %4d with a stale observation\n' "$op" "${OP_COUNT[$op]:-0}" "${OP_STALE[$op]:-0}"
done
echo "    frozen-observer rounds: $FROZEN_ROUNDS, $FROZEN_STALE with a stale observation"
[ "$STALE" = 0 ] || fail "$STALE stale observations in $STALE_ROUNDS of $ROUNDS rounds (seed $SEED)"
echo PASS
