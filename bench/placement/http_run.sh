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
nice "${CC:-cc}" -std=c17 -O2 -Wall -Wextra -Werror "$HERE"/ecs_http_load.c -o "$OUT/ecs_http_load" $(pkg-config --cflags --libs libcurl jansson)
DATA=$(mktemp -d "$OUT/data.XXXXXX")
PORT=$((20000 + RANDOM % 20000))
"$BUILD"/server/berthd --listen "127.0.0.1:$PORT" --data "$DATA" >"$DATA.log" 2>&1 &
PID=$!
PERF_PID=
trap '[[ -n $PERF_PID ]] && { kill -INT $PERF_PID; wait $PERF_PID; }; kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA" "$DATA.log"' EXIT
for _ in $(seq 100); do [[ -f $DATA/admin-credentials ]] && break; sleep 0.1; done
sleep 0.3
# PERF=FILE: perf record berthd for the whole run
if [[ -n ${PERF:-} ]]; then
    perf record -o "$PERF" -g -p "$PID" >/dev/null 2>&1 &
    PERF_PID=$!
fi
"$OUT/ecs_http_load" "http://127.0.0.1:$PORT/" "$DATA/admin-credentials" "$PID" "${2:-10000}" "${3:-400}" "${4:-8}"
