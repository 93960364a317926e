#!/usr/bin/env bash
# bench/ecr/run.sh LABEL=BERTHD [LABEL=BERTHD...] [-- IMAGES ROUNDS]
#
# DescribeImages and ListImages pages of a repository of IMAGES images
# (default 10,000), populated once by PutImage through the API (by the first
# berthd), then served by each berthd in turn from the same data directory,
# twice over in alternation (load on the shared machine drifts), driven by a
# C client that signs with libcurl's SigV4. BERTHD is a binary, or git:REF to
# build REF's berthd here first, e.g.
#   bench/ecr/run.sh before=git:fe03494^ after=build/server/berthd
# Not a test.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${TMPDIR:-/tmp}/berth-bench-ecr
mkdir -p "$OUT"
labels=() bins=()
while (($#)) && [[ $1 != -- ]]; do
    label=${1%%=*} bin=${1#*=}
    if [[ $bin == git:* ]]; then
        src=$OUT/src-$label
        rm -rf "$src" && mkdir -p "$src"
        git -C "$ROOT" archive "${bin#git:}" | tar -x -C "$src"
        cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        nice cmake --build "$src/build" --target berthd -j2 >/dev/null
        bin=$src/build/server/berthd
    fi
    labels+=("$label") bins+=("$(realpath "$bin")")
    shift
done
[[ ${1:-} == -- ]] && shift
IMAGES=${1:-10000} ROUNDS=${2:-5}
((${#bins[@]})) || { echo "usage: run.sh LABEL=BERTHD... [-- IMAGES ROUNDS]" >&2; exit 2; }
# shellcheck disable=SC2046 # pkg-config's flags are words
"${CC:-cc}" -std=c17 -O2 -Wall -Wextra -Werror "$HERE"/ecr_page_bench.c "$HERE"/../common/aws_json_load.c -o "$OUT/ecr_page_bench" $(pkg-config --cflags --libs libcurl jansson)
DATA=$(mktemp -d "$OUT/data.XXXXXX")
PID=
stop() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap 'stop; rm -rf "$DATA" "$DATA.log"' EXIT
PORT=$((20000 + RANDOM % 20000))
start() {
    "$1" --listen "127.0.0.1:$PORT" --data "$DATA" >>"$DATA.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        [[ -f $DATA/admin-credentials ]] && curl -fs "http://127.0.0.1:$PORT/readyz" -o /dev/null && return
        sleep 0.1
    done
    echo "berthd $1 did not become ready: $(tail -3 "$DATA.log")" >&2
    exit 1
}
B=("$OUT/ecr_page_bench" "http://127.0.0.1:$PORT/" "$DATA/admin-credentials")
echo "machine: $(nproc) cores, shared with other engineers' builds and tests; load average $(cut -d' ' -f1-3 /proc/loadavg)"
start "${bins[0]}"
"${B[@]}" "$PID" populate "$IMAGES" 8
stop
echo "| berthd | operation      | page | pages | p50 ms | p99 ms | berthd CPU ms/page | berthd CPU us/image | berthd CPU s | client CPU s | wall s |"
echo "|--------|----------------|------|-------|--------|--------|--------|--------|-------|-------|-------|"
for pass in 1 2; do
    for i in "${!bins[@]}"; do
        start "${bins[$i]}"
        "${B[@]}" "$PID" measure "$ROUNDS" "${labels[$i]}"
        stop
    done
    echo "(pass $pass done; load average $(cut -d' ' -f1-3 /proc/loadavg))"
done
