#!/usr/bin/env bash
# `berth placement simulate` when memory runs out: with the fail_malloc shim
# (LD_PRELOAD, tests/faultinject) the run is repeated with the Nth allocation
# failing alone, for each N over the last allocations of a normal run (where the
# placement is computed and the reply built and written), and with every
# allocation from the Nth on failing for every 10th N. Each run must either
# succeed with exactly the normal reply, or fail (exit 1 or 2) saying why on
# stderr: never a signal, never exit 0 with a reply that lost part of itself.
# (The reply builder once ignored failed jansson allocations and printed a reply
# with fields missing.)
#
#   cli_oom.sh BERTH DATA_DIR FAIL_MALLOC_SO
set -uo pipefail

BERTH=${1:?usage: cli_oom.sh BERTH DATA_DIR FAIL_MALLOC_SO}
DATA=${2:?usage: cli_oom.sh BERTH DATA_DIR FAIL_MALLOC_SO}
SHIM=${3:?usage: cli_oom.sh BERTH DATA_DIR FAIL_MALLOC_SO}
# How many of the last allocations are swept: the placement and the whole reply.
WINDOW=${CLI_OOM_WINDOW:-600}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-oom.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
args=(placement simulate --instances "$DATA/ci.json" --task-definition "$DATA/td.json" --count 5
    --placement-strategy type=spread,field=attribute:ecs.availability-zone type=binpack,field=memory --explain)

LD_PRELOAD=$SHIM FAIL_MALLOC_REPORT=1 "$BERTH" "${args[@]}" >"$tmp/want" 2>"$tmp/want.err"
rc=$?
total=$(sed -n 's/^fail_malloc: //p' "$tmp/want.err")
if ((rc != 0)) || [[ -z $total ]] || ! jq -e . "$tmp/want" >/dev/null; then
    echo "FAIL the normal run under the shim: exit $rc, $(head -c 300 "$tmp/want.err")"
    exit 1
fi

failures=0 ok=0 refused=0
first=$((total > WINDOW ? total - WINDOW : 0))
# run_one ENV=N DESCRIPTION: one run with the shim set by ENV=N; judges it.
run_one() {
    env "$1" LD_PRELOAD="$SHIM" "$BERTH" "${args[@]}" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if ((rc >= 128)); then
        echo "FAIL $2: killed by signal $((rc - 128)); $(tail -c 300 "$tmp/err")"
        failures=$((failures + 1))
    elif ((rc == 0)); then
        if cmp -s "$tmp/out" "$tmp/want"; then
            ok=$((ok + 1))
        else
            echo "FAIL $2: exit 0 with a reply that differs from the normal one:"
            diff "$tmp/want" "$tmp/out" | head -5 | sed 's/^/      /'
            failures=$((failures + 1))
        fi
    elif [[ ! -s $tmp/err ]]; then
        echo "FAIL $2: exit $rc with nothing on stderr"
        failures=$((failures + 1))
    else
        refused=$((refused + 1))
    fi
}

for ((n = first + 1; n <= total && failures < 10; n++)); do
    run_one "FAIL_MALLOC_NTH=$n" "allocation $n of $total failing alone"
    ((n % 10)) || run_one "FAIL_MALLOC_AFTER=$((n - 1))" "allocations $n..$total failing"
done
echo "placement simulate with allocation N of $total failing (alone, and with all after it for every 10th), N in $((first + 1))..$total: $refused refused with a message, $ok unaffected, $failures wrong"
((failures == 0 && refused > 0))
