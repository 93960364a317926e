#!/usr/bin/env bash
# bench/gc/run.sh [BUILD_DIR [WORKDIR]] — builds gc_bench against BUILD_DIR's
# storage and oci libraries (default build/, RelWithDebInfo) and measures a
# full online collection over 100,000 blobs of which 10,000 are garbage, then
# 50,000 / 5,000 for the memory per blob. Needs ~2 GiB in WORKDIR (default
# /work). GC_DUTY=N runs the collections at duty_pct N (default: storage's,
# 20; 100 is unpaced). Not a test. bench/gc/churn.sh is the 8 GiB churn.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
WORK=$(mktemp -d "${2:-/work}/berth-bench-gc.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"${CC:-cc}" -std=c17 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT" "$HERE/gc_bench.c" \
    "$BUILD/storage/libberth_storage.a" "$BUILD/oci/libberth_oci.a" \
    -llmdb -lzstd -ljansson -lcrypto -lpthread -o "$WORK/gc_bench"
for scale in "100000 10000" "50000 5000"; do
    rm -rf "$WORK/data"
    # shellcheck disable=SC2086
    nice "$WORK/gc_bench" "$WORK/data" $scale 5 "${GC_DUTY:-0}"
    du -sh "$WORK/data" | sed 's/^/# du after: /'
done
