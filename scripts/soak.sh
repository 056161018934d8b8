#!/usr/bin/env bash
# soak.sh [-n RUNS] [-j JOBS] [--asan] [--tsan] — runs the in-process suites
# again and again with fresh seeds until one fails.
#
# The suites are every test program of tests/unit/ (Check suites), the fuzz
# corpus replays with seeded mutations (tests/fuzz/), and the Raft simulator
# (tests/sim/run-sim) on a fresh range of seeds. Integration tests (real
# daemons on fixed ports) are not part of it: RAFTFS_INTEGRATION=0.
#
# Two builds, each configured once by scripts/build.sh:
#   --asan   build-asan/, --enable-sanitizers (AddressSanitizer + UBSan;
#            LeakSanitizer included);
#   --tsan   build-tsan/, --enable-tsan (ThreadSanitizer).
# Neither option: both, ASan first. Each of the RUNS runs draws one seed and
# gives it to every randomised test (TEST_SEED, TREE_LOCK_SEED,
# TREE_MODEL_SEED, FUZZ_SEED; the simulator runs RAFTSIM_SEEDS seeds from
# RAFTSIM_FROM, derived from it). The first failing suite stops the soak; it
# prints the seed, the log and the exact command that replays that suite.
#
# -j JOBS runs that many suites of a run at once (default 1: the timing of a
# run then looks like a quiet machine; 2 adds load, which finds other races).
# Environment: RAFTSIM_SOAK_SEEDS (simulator seeds per run; default 300 for
# ASan, 100 for TSan), CK_TIMEOUT_MULTIPLIER (default 1 for ASan, 4 for TSan),
# SOAK_SEED (use this seed for the first run instead of a random one, e.g. to
# replay a whole run), SOAK_SUITES (space-separated names such as
# "test-store fuzz-codec run-sim": only these), SOAK_SUITE_TIMEOUT (seconds
# one suite may take before it counts as hung and fails; default 1800).
# TREE_MODEL_STEPS, TREE_LOCK_STEPS and FUZZ_MUTATIONS shorten or lengthen
# the randomised suites as usual; when set they appear in the replay command.
# Results go to BUILDDIR/soak/ (one directory per run; the logs of passing
# runs are removed, a failing run's are kept; times.log has every suite's
# duration).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
runs=10
jobs=1
modes=()

usage() {
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit "${1:-0}"
}

while [ $# -gt 0 ]; do
        case "$1" in
        -n) runs=$2; shift 2 ;;
        -n*) runs=${1#-n}; shift ;;
        -j) jobs=$2; shift 2 ;;
        -j*) jobs=${1#-j}; shift ;;
        --asan) modes+=(asan); shift ;;
        --tsan) modes+=(tsan); shift ;;
        -h|--help) usage 0 ;;
        *) echo "soak.sh: unknown argument '$1'" >&2; usage 2 >&2 ;;
        esac
done
[ ${#modes[@]} -gt 0 ] || modes=(asan tsan)
case "$runs$jobs" in *[!0-9]*) echo "soak.sh: -n and -j take numbers" >&2; exit 2 ;; esac

# ThreadSanitizer of GCC 12 / LLVM 14 maps its shadow at fixed addresses and
# aborts ("unexpected memory mapping") when the kernel randomises mmap with
# more entropy than it knows (vm.mmap_rnd_bits = 32 on recent kernels).
# Running without address randomisation avoids that; ASan does not need it.
norandom=()
tsan_needs_norandom() {
        local bits
        bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)
        [ "$bits" -gt 28 ] && command -v setarch >/dev/null
}

build() {
        local mode=$1 dir=$2
        case $mode in
        asan) "$top/scripts/build.sh" "$dir" --enable-sanitizers ;;
        tsan) "$top/scripts/build.sh" "$dir" --enable-tsan ;;
        esac >"$dir.build.log" 2>&1 || { tail -30 "$dir.build.log"; echo "soak.sh: build of $dir failed" >&2; exit 1; }
        # check_PROGRAMS without running anything
        make -C "$dir" -j"$(nproc)" check TESTS= >>"$dir.build.log" 2>&1 ||
                { tail -30 "$dir.build.log"; echo "soak.sh: build of $dir's tests failed" >&2; exit 1; }
}

# Test programs of a build directory, as paths relative to it.
suites() {
        local dir=$1 f name
        for f in "$dir"/tests/unit/test-* "$dir"/tests/fuzz/fuzz-*; do
                name=${f##*/}
                [ -f "$f" ] && [ -x "$f" ] || continue
                case $name in *.*) continue ;; esac    # scripts, objects, logs
                if [ -n "${SOAK_SUITES:-}" ] && [[ " $SOAK_SUITES " != *" $name "* ]]; then continue; fi
                echo "${f#"$dir"/}"
        done
        if [ -z "${SOAK_SUITES:-}" ] || [[ " $SOAK_SUITES " == *" run-sim "* ]]; then
                echo "run-sim"
        fi
}

new_seed() {
        local s
        s=$(od -An -N4 -tu4 /dev/urandom | tr -d " ")
        echo $((s == 0 ? 1 : s))
}

# The environment of one suite in one run, as NAME=VALUE words.
suite_env() {
        local mode=$1 dir=$2 seed=$3
        local simseeds mult
        if [ "$mode" = tsan ]; then
                simseeds=${RAFTSIM_SOAK_SEEDS:-100}
                mult=${CK_TIMEOUT_MULTIPLIER:-4}
        else
                simseeds=${RAFTSIM_SOAK_SEEDS:-300}
                mult=${CK_TIMEOUT_MULTIPLIER:-1}
        fi
        echo "RAFTFS_INTEGRATION=0 CK_DEFAULT_TIMEOUT=60 CK_TIMEOUT_MULTIPLIER=$mult" \
             "top_srcdir=$top top_builddir=$dir" \
             "TEST_SEED=$seed TREE_LOCK_SEED=$seed TREE_MODEL_SEED=$seed FUZZ_SEED=$seed" \
             "RAFTSIM_FROM=$seed RAFTSIM_SEEDS=$simseeds"
        local v
        for v in TREE_MODEL_STEPS TREE_LOCK_STEPS FUZZ_MUTATIONS; do
                [ -z "${!v:-}" ] || echo "$v=${!v}"
        done
        case $mode in
        asan) echo "ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1" ;;
        tsan) echo "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:exitcode=66:suppressions=$top/tests/tsan.supp" ;;
        esac
}

suite_cmd() {
        local suite=$1
        if [ "$suite" = run-sim ]; then
                echo "$top/tests/sim/run-sim"
        else
                echo "./$suite"
        fi
}

# Runs one suite; 0 passed or skipped (exit 77), else its exit status
# (124 or 137: it hung past SOAK_SUITE_TIMEOUT).
run_suite() {
        local mode=$1 dir=$2 seed=$3 suite=$4 log=$5 rc=0 t0
        t0=$(date +%s)
        # shellcheck disable=SC2046  # word splitting of NAME=VALUE is intended
        (cd "$dir" && timeout -k 30 "${SOAK_SUITE_TIMEOUT:-1800}" \
                env $(suite_env "$mode" "$dir" "$seed") "${norandom[@]}" $(suite_cmd "$suite")) \
                >"$log" 2>&1 || rc=$?
        echo "$seed ${suite##*/} $(($(date +%s) - t0)) s, exit $rc" >>"$dir/soak/times.log"
        [ $rc -eq 77 ] && rc=0
        return $rc
}

report_failure() {
        local mode=$1 dir=$2 seed=$3 suite=$4 log=$5 rc=$6 run=$7
        echo
        echo "soak: FAILED: $suite ($mode) in run $run, exit status $rc, seed $seed"
        echo "---- last lines of $log"
        tail -40 "$log"
        echo "----"
        echo "Replay this suite with the same seeds:"
        echo "  cd $dir && env $(suite_env "$mode" "$dir" "$seed" | tr '\n' ' ')${norandom[*]:+${norandom[*]} }$(suite_cmd "$suite")"
        echo "Replay the whole run: SOAK_SEED=$seed $top/scripts/soak.sh -n 1 --$mode"
}

soak_mode() {
        local mode=$1 dir=$top/build-$mode
        local -a list
        local run seed t0 t1 total=0 first_seed=${SOAK_SEED:-}

        echo "soak: building $dir"
        build "$mode" "$dir"
        norandom=()
        if [ "$mode" = tsan ] && tsan_needs_norandom; then
                norandom=(setarch "$(uname -m)" -R)
        fi
        mapfile -t list < <(suites "$dir")
        [ ${#list[@]} -gt 0 ] || { echo "soak.sh: no suites found in $dir" >&2; exit 1; }
        echo "soak: $mode: ${#list[@]} suites x $runs runs, $jobs at a time"
        rm -rf "$dir/soak"
        mkdir -p "$dir/soak"
        for ((run = 1; run <= runs; run++)); do
                if [ -n "$first_seed" ]; then seed=$first_seed; first_seed=; else seed=$(new_seed); fi
                local rundir=$dir/soak/run-$run
                mkdir -p "$rundir"
                t0=$(date +%s)
                local -a pids=() names=()
                local i failed=
                for ((i = 0; i < ${#list[@]}; i++)); do
                        local suite=${list[$i]} log=$rundir/${list[$i]##*/}.log
                        run_suite "$mode" "$dir" "$seed" "$suite" "$log" &
                        pids+=($!)
                        names+=("$suite")
                        if [ ${#pids[@]} -ge "$jobs" ] || [ $i -eq $((${#list[@]} - 1)) ]; then
                                local k rc
                                for ((k = 0; k < ${#pids[@]}; k++)); do
                                        rc=0
                                        wait "${pids[$k]}" || rc=$?
                                        if [ $rc -ne 0 ] && [ -z "$failed" ]; then
                                                failed=1
                                                report_failure "$mode" "$dir" "$seed" "${names[$k]}" \
                                                        "$rundir/${names[$k]##*/}.log" "$rc" "$run"
                                        fi
                                done
                                pids=()
                                names=()
                                [ -z "$failed" ] || break
                        fi
                done
                t1=$(date +%s)
                if [ -n "$failed" ]; then
                        echo "soak: $mode: stopped after $((run - 1)) clean runs"
                        return 1
                fi
                total=$((total + t1 - t0))
                echo "soak: $mode run $run/$runs ok, seed $seed, $((t1 - t0)) s"
                rm -rf "$rundir"
        done
        echo "soak: $mode: $runs runs clean, $((total / runs)) s per run on average"
}

for mode in "${modes[@]}"; do
        soak_mode "$mode"
done
