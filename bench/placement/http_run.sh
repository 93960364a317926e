#!/usr/bin/env bash
# bench/placement/http_run.sh BUILD_DIR [INSTANCES CALLS CONC] — RunTask
# through berthd's HTTP API (SigV4, from a C load generator) on a fresh
# berthd with INSTANCES registered container instances. Not a test.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:?usage: http_run.sh BUILD_DIR [INSTANCES CALLS CONC]}" && pwd)
OUT=${TMPDIR:-/tmp}/berth-bench-placement
mkdir -p "$OUT"
cmake --build "$BUILD" --target berthd -j2 >/dev/null
# shellcheck disable=SC2046 # pkg-config's flags are words
nice "${CC:-cc}" -std=c17 -O2 -Wall -Wextra -Werror "$HERE"/ecs_http_load.c "$HERE"/../common/aws_json_load.c -o "$OUT/ecs_http_load" $(pkg-config --cflags --libs libcurl jansson)
DATA=$(mktemp -d "$OUT/data.XXXXXX")
PORT=$((20000 + RANDOM % 20000))
"$BUILD"/server/berthd --listen "127.0.0.1:$PORT" --data "$DATA" >"$DATA.log" 2>&1 &
PID=$!
PERF_PID=
stop_perf() {
    [[ -n $PERF_PID ]] || return 0
    kill "$PERF_PID" 2>/dev/null || true # the watcher, if the run ended before it saw the mark
    wait "$PERF_PID" 2>/dev/null || true
    [[ -f $DATA.perfpid ]] || return 0
    local p
    p=$(cat "$DATA.perfpid")
    kill -INT "$p" 2>/dev/null || return 0
    while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
}
trap 'stop_perf; kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA" "$DATA.log" "$DATA.perfpid"' EXIT
for _ in $(seq 100); do [[ -f $DATA/admin-credentials ]] && break; sleep 0.1; done
sleep 0.3
# PERF=FILE: perf record berthd for the RunTask phase only (not the
# registrations nor the first RunTask that loads the cache); PERF_CG picks
# the call graph (default fp; dwarf gives callers in -fomit-frame-pointer code)
MARK=
if [[ -n ${PERF:-} ]]; then
    MARK=$DATA.mark
    (
        for _ in $(seq 6000); do [[ -f $MARK ]] && break; sleep 0.1; done
        perf record -o "$PERF" --call-graph "${PERF_CG:-fp}" -p "$PID" >/dev/null 2>&1 &
        echo $! >"$DATA.perfpid"
        sleep 0.5
        rm -f "$MARK"
    ) &
    PERF_PID=$!
fi
RUN_MARK=$MARK "$OUT/ecs_http_load" "http://127.0.0.1:$PORT/" "$DATA/admin-credentials" "$PID" "${2:-10000}" "${3:-400}" "${4:-8}"
