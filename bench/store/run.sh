#!/usr/bin/env bash
# bench/store/run.sh [WORKDIR] — builds threshold.c and measures, per blob size,
# making a blob durable in LMDB (1 MiB chunks; one or 16 blobs per synced
# commit) against a file (write, fdatasync, rename, directory fsync): the
# numbers behind the big-blob threshold. Needs about 30 GiB free in WORKDIR
# (default /work). Not a test.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${1:-/work}/berth-bench-store.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"${CC:-cc}" -std=c17 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror "$HERE/threshold.c" -llmdb -o "$WORK/threshold"
"$WORK/threshold" "$WORK/data"
du -sh "$WORK/data/lmdb" "$WORK/data/blobs" | sed 's/^/# /'
