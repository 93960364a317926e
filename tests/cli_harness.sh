# shellcheck shell=bash
# tests/cli_harness.sh — what the offline `berth ... simulate` end-to-end scripts
# share (tests/policies/cli_e2e.sh, tests/scheduler/cli_e2e.sh). Source it after
# setting CLI_E2E_NAME; define sim() to run the command into $OUT and $ERR with
# its exit status in $RC; then run_case each case and end with cli_finish.
# Needs jq: without it the script skips (exit 77), or fails under E2E_REQUIRE_ALL=1.

command -v jq >/dev/null || {
    echo "jq not found: skipping"
    [ "${E2E_REQUIRE_ALL:-0}" = 1 ] && exit 1
    exit 77
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-${CLI_E2E_NAME:-cli}-e2e.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
OUT=$TMP/out
ERR=$TMP/err
PASSED=0
FAILED=0
FAILED_NAMES=()
CASE_OK=1

expect_eq() { # what expected actual
    if [[ "$2" != "$3" ]]; then
        echo "    $1: expected [$2], got [$3]"
        CASE_OK=0
    fi
}
expect_jq() { # jq-filter expected: on the last command's stdout
    local got
    got=$(jq -c "$1" "$OUT" 2>&1)
    expect_eq "jq $1" "$2" "$got"
}
expect_stdout_line() { # line-number expected
    expect_eq "stdout line $1" "$2" "$(sed -n "$1p" "$OUT")"
}
expect_stderr_has() { # fixed-string
    if ! grep -qF -- "$1" "$ERR"; then
        echo "    stderr lacks [$1]: $(cat "$ERR")"
        CASE_OK=0
    fi
}

run_case() { # sentence fn
    CASE_OK=1
    "$2"
    if ((CASE_OK)); then
        PASSED=$((PASSED + 1))
        echo "ok   $1"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$1")
        echo "FAIL $1"
    fi
}

cli_finish() {
    echo "$PASSED passed, $FAILED failed"
    for n in "${FAILED_NAMES[@]+"${FAILED_NAMES[@]}"}"; do echo "  failed: $n"; done
    ((FAILED == 0))
}
