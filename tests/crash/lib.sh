# shellcheck shell=bash
# What the crash-safety and load scripts share. Source it after `set -euo pipefail`
# with BERTHD set; it makes $work (removed at exit), $port and $base.
#
#   start DATA-DIR [FLAGS...]   start berthd on $port (pid in $pid), wait for GET /v2/
#   stop                        SIGTERM and wait; kill9: SIGKILL and wait
#   stop_clean WHAT             SIGTERM and wait; pass if berthd exited 0 and logged no
#                               sanitizer report since its start, fail otherwise
#   pass / fail MESSAGE         one line each; fail counts
#   finish NAME                 summary line, exit 1 if anything failed

BERTHD=${BERTHD:?set BERTHD to the berthd binary}
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-test.XXXXXX")
pid=""
bg_pids=()
mnt=""
cleanup() {
    local p
    for p in "${bg_pids[@]}" $pid; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ -n $mnt ]] && umount "$mnt" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

log_mark=0 # where the running berthd's part of berthd.log starts
failures=0
fail() {
    echo "FAIL  $*"
    failures=$((failures + 1))
}
pass() { echo "PASS  $*"; }

# shellcheck source=../ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/../ports.sh"
port=$(free_port)
base=http://127.0.0.1:$port

start() { # data-dir [berthd flags...]
    local data=$1
    shift
    log_mark=$(stat -c %s "$work/berthd.log" 2>/dev/null || echo 0)
    "$BERTHD" --listen "127.0.0.1:$port" --data "$data" --insecure-no-auth "$@" 2>>"$work/berthd.log" &
    pid=$!
    for _ in $(seq 100); do
        curl -fs -o /dev/null "$base/v2/" && return 0
        sleep 0.05
    done
    echo "berthd did not start"
    cat "$work/berthd.log"
    exit 1
}

stop() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}

stop_clean() { # what
    local rc=0 report
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    pid=""
    # ASan/LSan/UBSan reports (the ASan build runs with abort_on_error=1, so
    # most also show in the status; a UBSan report without halt_on_error does not).
    report=$(tail -c +$((log_mark + 1)) "$work/berthd.log" | grep -E -m 1 -A 4 'Sanitizer|runtime error:' || true)
    if [[ $rc == 0 && -z $report ]]; then
        pass "$1: berthd shuts down cleanly on SIGTERM (exit 0)"
    else
        fail "$1: berthd exited with $rc on SIGTERM: ${report:-$(tail -c +$((log_mark + 1)) "$work/berthd.log" | tail -5)}"
    fi
}

kill9() {
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

finish() {
    if ((failures > 0)); then
        echo "$1: $failures failures"
        exit 1
    fi
    echo "$1: all checks passed"
}
