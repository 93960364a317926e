#!/bin/bash
# run-fuzzers.sh SECONDS [TARGET...] — builds every libFuzzer target with clang,
# ASan and UBSan (in build-fuzz/), runs each for SECONDS, and prints one line per
# target: executions per second, coverage (edges), corpus size and crashes.
#
# The seed corpus (tests/fuzz/corpus/<target>/) is read, never written: new
# inputs go to a temporary directory. A crash fails the run; its input is kept
# under build-fuzz/crashes/<target>/ and should be added to the seed corpus
# with the fix, so the normal suite replays it from then on.
#
# FUZZ_JOBS (default: number of CPUs) targets run side by side.
set -euo pipefail

seconds=${1:?usage: run-fuzzers.sh SECONDS [TARGET...]}
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
fuzzdir=$top/tests/fuzz
build=${BERTH_FUZZ_BUILD:-$top/build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
# Inputs longer than this are not worth the time: every parser here reads a
# header value, a name or a JSON document, and manifests are capped at 4 MiB.
max_len=65536

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for d in "$fuzzdir"/corpus/*/; do targets+=("$(basename "$d")"); done
fi

echo "run-fuzzers: building ${targets[*]} with clang in $build"
mkdir -p "$build"
blog=$build/run-fuzzers-build.log
CC=clang cmake -S "$top" -B "$build" -DBERTH_FUZZ=ON -DBERTH_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$blog" 2>&1 ||
    { tail -20 "$blog"; exit 1; }
cmake --build "$build" -j "$jobs" --target "${targets[@]/#/fuzz_}" >>"$blog" 2>&1 ||
    { tail -30 "$blog"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

run_one() { # target
    local t=$1 dict=() rc=0
    mkdir -p "$work/$t/corpus" "$work/$t/crash"
    [ -f "$fuzzdir/$t.dict" ] && dict=(-dict="$fuzzdir/$t.dict")
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=$max_len -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$t/crash/" "${dict[@]}" \
        "$work/$t/corpus" "$fuzzdir/corpus/$t" >"$work/$t/log" 2>&1 || rc=$?
    echo $rc >"$work/$t/rc"
}

running=0
for t in "${targets[@]}"; do
    [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "run-fuzzers: no target fuzz_$t"; exit 1; }
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
printf '%-10s %10s %8s %8s %8s %s\n' target exec/s edges corpus crashes status
for t in "${targets[@]}"; do
    log=$work/$t/log
    rc=$(cat "$work/$t/rc")
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    edges=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    corpus=$(find "$work/$t/corpus" "$fuzzdir/corpus/$t" -type f | wc -l)
    crashes=$(find "$work/$t/crash" -type f | wc -l)
    status=ok
    if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
        status="FAILED (exit $rc)"
        failed=1
        mkdir -p "$build/crashes/$t"
        cp "$work/$t/crash/"* "$build/crashes/$t/" 2>/dev/null || true
        cp "$log" "$build/crashes/$t/fuzzer.log"
    fi
    printf '%-10s %10s %8s %8s %8s %s\n' "$t" "${eps:-?}" "${edges:-?}" "$corpus" "$crashes" "$status"
done
if [ "$failed" != 0 ]; then
    for t in "${targets[@]}"; do
        [ -d "$build/crashes/$t" ] || continue
        echo "=== fuzz_$t: the end of its log (all of it and the inputs: $build/crashes/$t/)"
        grep -B2 -A25 -m1 -E 'ERROR|runtime error|invariant broken|deadly signal' "$build/crashes/$t/fuzzer.log" || tail -30 "$build/crashes/$t/fuzzer.log"
    done
    exit 1
fi
