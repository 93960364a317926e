#!/bin/bash
# run-all.sh [SCRIPT...] — run the end-to-end scripts (default: all of them) one after
# another against $E2E_TARGET (reference, berth with $BERTHD, or external), and print one
# closing line adding up their cases.  Exit 0 only if no case failed.
#
#   E2E_TARGET=reference tests/e2e/run-all.sh
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/run-all.sh
#   E2E_TARGET=reference tests/e2e/run-all.sh test_api_curl.sh
set -euo pipefail

dir=$(cd "$(dirname "$0")" && pwd)
if (($# == 0)); then
    set -- test_api_curl.sh test_skopeo.sh test_podman.sh test_docker.sh
fi

passed=0 failed=0 skipped=0 broken=()
for script in "$@"; do
    echo "=== ${script%.sh} (target ${E2E_TARGET:-reference})"
    rc=0
    "$dir/${script##*/}" | tee "${TMPDIR:-/tmp}/berth-e2e-run-all.$$" || rc=$?
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "${TMPDIR:-/tmp}/berth-e2e-run-all.$$" | tail -n 1 || true)
    rm -f "${TMPDIR:-/tmp}/berth-e2e-run-all.$$"
    if [[ -z $summary ]]; then
        broken+=("$script (exit $rc, no summary line)")
        failed=$((failed + 1))
        continue
    fi
    read -r p _ f _ s _ <<<"${summary//,/}"
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    if [[ $rc != 0 && $rc != 77 && $f == 0 ]]; then
        broken+=("$script (exit $rc)")
        failed=$((failed + 1))
    fi
done
for b in "${broken[@]}"; do
    echo "# broken: $b"
done
echo "e2e: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
