#!/bin/bash
# scripts/check-boundaries passes on this tree, and refuses each kind of
# violation planted in a temporary copy of it: another part's *_internal.h
# (in a part, and in bench/), a part's header that DESIGN.md's table does not
# let the includer use. An internal header included by a test stays allowed.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
check=$top/scripts/check-boundaries
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0

expect() { # status tree description [pattern]
    local want=$1 tree=$2 what=$3 pattern=${4:-}
    local out st=0
    out=$("$check" "$tree" 2>&1) || st=$?
    if [ "$st" -ne "$want" ]; then
        echo "FAIL $what: exit $st, expected $want"
        echo "$out"
        failed=1
    elif [ -n "$pattern" ] && ! grep -qF -- "$pattern" <<<"$out"; then
        echo "FAIL $what: no line matching '$pattern' in:"
        echo "$out"
        failed=1
    else
        echo "PASS $what"
    fi
}

fresh() { # a copy of the sources the check reads
    rm -rf "$work/tree"
    mkdir "$work/tree"
    (cd "$top" && cp -r auth bench cli oci policies scheduler server storage tests "$work/tree/")
}

expect 0 "$top" "this tree keeps its boundaries"

fresh
expect 0 "$work/tree" "an unchanged copy passes"

fresh
sed -i '0,/#include "storage\/storage_internal.h"/s//&\n#include "auth\/auth_internal.h"/' "$work/tree/storage/store.c"
line=$(grep -n '#include "auth/auth_internal.h"' "$work/tree/storage/store.c" | cut -d: -f1)
expect 1 "$work/tree" "storage/ including auth/auth_internal.h is refused" \
    "storage/store.c:$line: includes auth/auth_internal.h, internal to auth/"

fresh
printf '#include "storage/storage_internal.h"\n' >>"$work/tree/bench/placement/planted.c"
expect 1 "$work/tree" "bench/ including storage/storage_internal.h is refused" \
    "bench/placement/planted.c:1: includes storage/storage_internal.h, internal to storage/"

fresh
printf '#include "policies/policies.h"\n#include "storage/storage.h"\n' >"$work/tree/policies/planted.h"
expect 1 "$work/tree" "policies/ (pure) including storage/storage.h is refused" \
    "policies/planted.h:2: includes storage/storage.h, but policies/ may not use storage/"

fresh
printf '  #  include "server/server_internal.h"\n' >"$work/tree/scheduler/planted.c"
expect 1 "$work/tree" "an indented '#  include' is read too" "scheduler/planted.c:1: includes server/server_internal.h"

fresh
printf '#include "storage/storage_internal.h"\n' >"$work/tree/tests/planted.c"
expect 0 "$work/tree" "a test including storage/storage_internal.h is allowed"

expect 2 "$work" "a directory that is not a Berth tree is an error"

exit $failed
