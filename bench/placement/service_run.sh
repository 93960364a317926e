#!/usr/bin/env bash
# bench/placement/service_run.sh BUILD_DIR [INSTANCES TASKS CALLS] — builds
# ecs_service_bench against BUILD_DIR's libraries (configure it RelWithDebInfo
# or Release) and times ECS services on live cluster state. Not a test.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:?usage: service_run.sh BUILD_DIR [INSTANCES TASKS CALLS]}" && pwd)
OUT=${TMPDIR:-/tmp}/berth-bench-placement
mkdir -p "$OUT"
cmake --build "$BUILD" --target berth_scheduler_state -j2 >/dev/null
# shellcheck disable=SC2046 # pkg-config's flags are words
nice "${CC:-cc}" -std=c17 -O2 -DNDEBUG -Wall -Wextra -Werror -I"$ROOT" "$HERE"/ecs_service_bench.c -o "$OUT/ecs_service_bench" \
    "$BUILD"/scheduler/libberth_scheduler_state.a "$BUILD"/scheduler/libberth_scheduler.a "$BUILD"/storage/libberth_storage.a \
    "$BUILD"/oci/libberth_oci.a -llmdb $(pkg-config --libs jansson libzstd libcrypto) -lpthread
nice "$OUT/ecs_service_bench" "${2:-10000}" "${3:-100}" "${4:-50}"
