#!/usr/bin/env bash
# bench/placement/run.sh [BUILD_DIR] — builds placement_bench (optimised) and
# prints how placement time grows with instances and with tasks. Not a test.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-${TMPDIR:-/tmp}/berth-bench-placement}
mkdir -p "$OUT"
# compiled directly: the bench needs only the scheduler's sources, always at -O2
nice "${CC:-cc}" -std=c17 -O2 -DNDEBUG -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT" \
    "$ROOT"/scheduler/cluster.c "$ROOT"/scheduler/cql.c "$ROOT"/scheduler/placement.c \
    "$HERE"/placement_bench.c -o "$OUT/placement_bench"
B="$OUT/placement_bench"
echo "spread(attribute:ecs.availability-zone) + binpack(memory) + memberOf(attribute:ecs.instance-type =~ t2.*)"
printf "%8s %6s %6s %10s %10s\n" instances tasks placed best_ms median_ms
echo "# the issue's point"
nice "$B" 10000 1000
echo "# growth with instances (1,000 tasks)"
for n in 1000 2500 5000 10000 20000 40000; do nice "$B" $n 1000 3; done
echo "# growth with tasks (10,000 instances)"
for t in 100 250 500 1000 2000 4000; do nice "$B" 10000 $t 3; done
