#!/bin/bash
# never-lies-write.sh — a failed write leaves no trace (issue 14, DESIGN.md
# §4 "Errors"): an error returned to a caller means the change will never be
# applied.
#
# On a 3-node cluster with mounts, for each mutation (`echo new > f`,
# `echo more >> f`, `truncate -s 0 f`, `mv other f`, `rm f`, `mkdir d`, and a
# handle opened with O_TRUNC before the cut and written after it): set up the
# initial state through a mount, wait until every node shows it, SIGSTOP the
# daemons of the two other nodes, wait until the remaining (minority) node
# knows it has no quorum, run the mutation on its mount, SIGCONT the others
# one by one (the old leader first when the minority node is a follower; the
# minority node has a quorum again before the second resumes: this order
# gives a late commit of anything still queued or in the log every chance),
# wait for a leader and for every node to be caught up, then watch the state
# on all three mounts for a while. The whole set runs twice: with the
# minority node the old leader (leadership transferred to it first) and with
# it a follower.
#
# Verdicts, per the contract:
#   - failed with ETIMEDOUT ("Connection timed out"): outcome unknown; the
#     state must be the initial or the intended one, never a third (e.g. an
#     empty file from a truncation whose write failed), and all nodes agree;
#   - failed with anything else (EROFS, EIO, ...): the state on every node
#     equals the initial state, during the whole observation window;
#   - succeeded: for tools that report every error (truncate, mv, rm, mkdir)
#     the change is visible everywhere; bash's builtin redirections ignore
#     close() errors, so there success is "unknown" as above.
#
# Environment: RAFTFS_TEST_WINDOW_MS (observation window after catch-up,
# default 1000), RAFTFS_TEST_OP_TIMEOUT_MS (the nodes' op_timeout_ms,
# default 1000), RAFTFS_TEST_ROLES (default "leader follower"),
# RAFTFS_TEST_MUTATIONS (subset of: trunc append truncate mv rm mkdir handle).
PORT=27541
RAFTFS_TEST_PORT=$PORT
. "$(dirname "$0")/fusefs-lib.sh"

WINDOW_MS=${RAFTFS_TEST_WINDOW_MS:-1000}
OP_TIMEOUT_MS=${RAFTFS_TEST_OP_TIMEOUT_MS:-1000}
ROLES=${RAFTFS_TEST_ROLES:-leader follower}
MUTATIONS=${RAFTFS_TEST_MUTATIONS:-trunc append truncate mv rm mkdir handle}

# op_timeout_ms shorter than fusefs-lib's 2000, to keep the run short: the
# configuration is edited just before each daemon starts.
start_node() {
        sed -i "s/^op_timeout_ms = .*/op_timeout_ms = $OP_TIMEOUT_MS/" "$T/$1/raftfs.conf"
        "$RAFTFSD" -c "$T/$1/raftfs.conf" -v >>"$T/$1/raftfsd.log" 2>&1 &
        echo $! >"$T/$1/pid"
        PIDS="$PIDS $!"
}

nodes="n1 n2 n3"
mount_cluster $nodes

others_of() { echo $nodes | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' '; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The daemons we stopped, so that every exit path resumes them (lib.sh's
# cleanup also sends SIGCONT before it kills).
STOPPED=""
resume_all() {
        local p
        for p in $STOPPED; do kill -CONT "$p" 2>/dev/null || true; done
        STOPPED=""
}

# state_of NODE DIR: one line describing f, other and d under DIR as the
# node's mount shows them: absent, dir, or the file's content with each
# newline shown as '|'; an error is shown as ERROR(text). (A script of its
# own, run under timeout: a mount that hangs must not hang the test.)
cat >"$T/state.sh" <<'STATE'
cd "$1" 2>/dev/null || { echo "ERROR(cd $1)"; exit 0; }
line=""
for name in f other d; do
        if c=$(exec cat -- "$name" 2>&1); then
                c=${c//$'\n'/|}
                [ -z "$c" ] || c="$c|"
                s="$name='$c'"
        else
                case $c in
                *"No such file or directory") s="$name=absent" ;;
                *"Is a directory") s="$name=dir" ;;
                *) s="$name=ERROR(${c##*: })" ;;
                esac
        fi
        line="$line${line:+ }$s"
done
echo "$line"
STATE
state_of() {
        timeout 10 bash "$T/state.sh" "$(mnt "$1")/$2" || echo "ERROR(timeout reading $1)"
}

# all_show DIR STATE: every node's mount shows STATE under DIR
all_show() {
        local n
        for n in $nodes; do [ "$(state_of "$n" "$1")" = "$2" ] || return 1; done
}

show_all() {
        local n
        for n in $nodes; do echo "    $n: $(state_of "$n" "$1")"; done
}

INITIAL="f='old|' other='other|' d=absent"
final_of() {
        case $1 in
        trunc | handle) echo "f='new|' other='other|' d=absent" ;;
        append) echo "f='old|more|' other='other|' d=absent" ;;
        truncate) echo "f='' other='other|' d=absent" ;;
        mv) echo "f='other|' other=absent d=absent" ;;
        rm) echo "f=absent other='other|' d=absent" ;;
        mkdir) echo "f='old|' other='other|' d=dir" ;;
        esac
}
# Paths are absolute ($D, the case's directory on the minority mount), as a
# user types them: a `cd` into the mount is a read, which fails with EIO
# without a quorum before the change is even tried.
command_of() {
        case $1 in
        trunc) echo 'echo new > "$D/f"' ;;
        append) echo 'echo more >> "$D/f"' ;;
        truncate) echo 'truncate -s 0 "$D/f"' ;;
        mv) echo 'mv "$D/other" "$D/f"' ;;
        rm) echo 'rm "$D/f"' ;;
        mkdir) echo 'mkdir "$D/d"' ;;
        handle) echo 'exec 7>"$D/f" (before the cut); echo new >&7; exec 7>&-' ;;
        esac
}
# bash's builtin redirections ignore close() errors: their success does not
# mean the commit succeeded.
success_is_definite() {
        case $1 in trunc | append | handle) return 1 ;; *) return 0 ;; esac
}

has_no_quorum() { [ "$(json_field "$1" quorum)" = false ]; }
has_quorum() { [ "$(json_field "$1" quorum)" = true ]; }

# make_leader NODE: transfer leadership to NODE (a no-op when it leads)
try_make_leader() {
        local l
        l=$(leader_among $nodes) || return 1
        if [ "$l" != "$1" ]; then
                ctl "$l" leader transfer "$1" >/dev/null 2>&1 || return 1
        fi
        wait_for 3 is_leader "$1" && has_quorum "$1"
}

applied_everywhere() {
        local n c a first=""
        for n in $nodes; do
                c=$(json_field "$n" commit); a=$(json_field "$n" applied)
                [ -n "$c" ] && [ "$c" = "$a" ] || return 1
                [ -z "$first" ] || [ "$first" = "$a" ] || return 1
                first=$a
        done
}

# catch_up NODE TAG: a leader, every node ready, a probe written through
# NODE's mount (cat reports close() errors) and read on every mount
# (linearizable opens), and the same applied index everywhere.
catch_up() {
        local via=$1 tag=$2 n
        wait_for 30 leader_among $nodes || fail "no leader after SIGCONT"
        for n in $nodes; do wait_for 30 is_ready "$n" || fail "$n not ready after SIGCONT"; done
        wait_for 20 sh -c "echo '$tag' | cat >'$(mnt "$via")/probe'" ||
                fail "probe write through $via's mount did not succeed within 20 s"
        for n in $nodes; do
                wait_for 10 sh -c "[ \"\$(cat '$(mnt "$n")/probe')\" = '$tag' ]" ||
                        fail "$n does not read the probe '$tag': '$(cat "$(mnt "$n")/probe" 2>&1)'"
        done
        wait_for 10 applied_everywhere || echo "    (note: commit/applied indexes did not settle within 10 s)"
}

FAILED=0
SUMMARY=""
case_no=0
follower_pick=0

# run_case ROLE MUTATION
run_case() {
        local role=$1 mut=$2 dir target l others n rc err t0 ms final verdict allowed seen deadline ok tc first
        case_no=$((case_no + 1))
        tc=$(now_ms)
        dir=c$case_no-$role-$mut
        final=$(final_of "$mut")
        log "case $case_no: $(command_of "$mut") on the minority node, which is the old $role"

        # the initial state, through the leader's mount, seen everywhere
        wait_for 30 leader_among $nodes || fail "no leader before case $case_no"
        l=$(leader_among $nodes)
        mkdir "$(mnt "$l")/$dir" && echo old >"$(mnt "$l")/$dir/f" && echo other >"$(mnt "$l")/$dir/other" ||
                fail "set-up of $dir through $l"
        wait_for 10 all_show "$dir" "$INITIAL" || { show_all "$dir"; fail "initial state of $dir not seen everywhere"; }
        echo "    initial state seen everywhere after $(($(now_ms) - tc)) ms"

        # the minority node
        if [ "$role" = leader ]; then
                target=$(echo $nodes | cut -d' ' -f$((case_no % 3 + 1)))
                wait_for 20 try_make_leader "$target" || fail "could not transfer leadership to $target"
        else
                l=$(leader_among $nodes)
                target=$(others_of "$l" | cut -d' ' -f$((follower_pick % 2 + 1)))
                follower_pick=$((follower_pick + 1))
                is_leader "$target" && fail "$target leads, expected a follower"
        fi
        others=$(others_of "$target")
        # resume order: the old leader first when the minority node is a
        # follower (it leads again and the minority's queued proposals, if
        # any, reach it), else either follower; the minority node has a
        # quorum again before the last one resumes
        l=$(leader_among $nodes)
        first=$(others_of "$target" | cut -d' ' -f1)
        [ "$l" = "$target" ] || first=$l
        echo "    minority node $target ($(json_field "$target" role)), stopping $others (+$(($(now_ms) - tc)) ms)"

        if [ "$mut" = handle ]; then
                exec 7>"$(mnt "$target")/$dir/f"
        fi
        for n in $others; do
                kill -STOP "$(pid_of "$n")"
                STOPPED="$STOPPED $(pid_of "$n")"
        done
        t0=$(now_ms)
        wait_for 15 has_no_quorum "$target" || { resume_all; fail "$target still claims a quorum 15 s after the cut"; }
        echo "    $target knows it has no quorum after $(($(now_ms) - t0)) ms"

        # the mutation
        err=$T/err.$case_no
        t0=$(now_ms)
        if [ "$mut" = handle ]; then
                rc=0
                { echo new >&7; } 2>"$err" || rc=$?
                exec 7>&-
        else
                rc=0
                D="$(mnt "$target")/$dir" timeout -k 5 30 bash -c "$(command_of "$mut")" 2>"$err" || rc=$?
        fi
        ms=$(($(now_ms) - t0))
        echo "    exit status $rc after $ms ms, stderr: $(tr '\n' ' ' <"$err")"
        kill -CONT "$(pid_of "$first")"
        wait_for 10 has_quorum "$target" || echo "    (note: $target has no quorum 10 s after $first resumed)"
        echo "    resumed $first, $target has a quorum again; resuming the other"
        resume_all

        # the outcome, and what the state may be from now on
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
                verdict=hung
                allowed=""
        elif [ "$rc" = 0 ]; then
                if success_is_definite "$mut"; then verdict=succeeded; allowed="$final"
                else verdict="succeeded (bash ignores close errors: unknown)"; allowed="$INITIAL
$final"; fi
        elif grep -q "Connection timed out" "$err"; then
                verdict="unknown (ETIMEDOUT)"
                allowed="$INITIAL
$final"
        else
                verdict="failed: $(sed -n '$s/.*: //p' "$err")"
                allowed="$INITIAL"
        fi
        echo "    outcome: $verdict"

        t0=$(now_ms)
        catch_up "$target" "case $case_no"
        echo "    caught up in $(($(now_ms) - t0)) ms"
        # watch: the state stays allowed on every node for WINDOW_MS, and the
        # nodes agree at the end
        ok=1
        deadline=$(($(now_ms) + WINDOW_MS))
        while :; do
                for n in $nodes; do
                        seen=$(state_of "$n" "$dir")
                        if ! printf '%s\n' "$allowed" | grep -qxF -- "$seen"; then
                                ok=0
                                echo "    VIOLATION on $n: shows $seen"
                                echo "      allowed: $(printf '%s\n' "$allowed" | paste -sd'/' -)"
                        fi
                done
                [ "$ok" = 1 ] || break
                [ "$(now_ms)" -lt "$deadline" ] || break
                sleep 0.2
        done
        if [ "$ok" = 1 ]; then
                seen=$(state_of n1 "$dir")
                all_show "$dir" "$seen" || { ok=0; echo "    VIOLATION: nodes disagree"; }
        fi
        echo "    case took $(($(now_ms) - tc)) ms"
        if [ "$ok" = 1 ] && [ "$verdict" != hung ]; then
                echo "    ok: every node shows $seen"
                SUMMARY="$SUMMARY
ok    $role   $mut: $verdict"
        else
                FAILED=$((FAILED + 1))
                echo "    FAILED: the caller was told '$verdict'; after the quorum returned the nodes show:"
                show_all "$dir"
                SUMMARY="$SUMMARY
FAIL  $role   $mut: $verdict; now $(state_of n1 "$dir")"
        fi
}

for role in $ROLES; do
        for mut in $MUTATIONS; do
                run_case "$role" "$mut"
        done
done

log "summary (minority node role, mutation, outcome)"
echo "$SUMMARY" | sed '/^$/d'
[ "$FAILED" = 0 ] || fail "$FAILED case(s) show a change that the caller was told had failed"
echo PASS
