#!/usr/bin/env bash
# bench/gc/churn.sh [BUILD_DIR [MIB]] — the issue's churn at full size: push
# and delete MIB (default 8192) in 16 rounds (512 MiB each at 8 GiB), big
# (8 MiB, files) and small (64 KiB, LMDB) blobs, a collection after each
# round; fails when `du` of the data directory ends above twice the live
# data plus 64 MiB. It is the storage_gc suite's churn test, which CI runs
# at 1 GiB. Needs about 1.2 GiB free in /tmp. Not a test.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
export BERTH_GC_CHURN_MIB="${2:-8192}"
start=$(date +%s)
nice "$BUILD/tests/storage/test_storage_gc" --verbose --filter 'gc/churn_*' 2>&1 | grep -E 'churn:|PASS|FAIL|Synthesis'
echo "# ${BERTH_GC_CHURN_MIB} MiB in $(($(date +%s) - start)) s"
