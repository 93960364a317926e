#!/bin/bash
# SIGTERM while connections are in every state: a 48 MiB monolithic push
# arriving or being stored, a slow pull, an idle keep-alive connection, half a
# request head, half a body. berthd exits 0 within a few seconds with no
# sanitizer report, and after a restart the blob is either whole or absent.
# (h2o 2.2.5 asserted on both: a completion queued for a stopped loop, and a
# connection's timer still linked in the context being disposed.)
# Needs: $BERTHD, curl, python3, sha256sum.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
data=$work/data
blob=$work/blob
head -c $((48 << 20)) /dev/urandom >"$blob"
d=sha256:$(sha "$blob")

# holds a connection open after sending $1 (escapes as in printf)
hold() {
    /usr/bin/python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
time.sleep(20)' "$port" "$1" &
    bg_pids+=($!)
}

timed_stop() { # what
    local t0=$SECONDS
    stop_clean "$1"
    ((SECONDS - t0 <= 5)) && pass "$1: shut down in $((SECONDS - t0)) s" || fail "$1: shutdown took $((SECONDS - t0)) s"
}

for delay in 0.05 0.2 0.4 0.8; do
    rm -rf "$data"
    start "$data"
    curl -s -o /dev/null -X POST --data-binary @"$blob" "$base/v2/term/big/blobs/uploads/?digest=$d" &
    bg_pids+=($!)
    sleep "$delay"
    timed_stop "SIGTERM ${delay}s into a 48 MiB push"
    wait "${bg_pids[@]}" 2>/dev/null || true
    bg_pids=()
    start "$data"
    code=$(curl -s -o "$work/got" -w '%{http_code}' "$base/v2/term/big/blobs/$d")
    if [[ $code == 200 && sha256:$(sha "$work/got") == "$d" ]] || [[ $code == 404 ]]; then
        pass "after the restart the blob is whole or absent ($code)"
    else
        fail "after the restart: $code, $(stat -c %s "$work/got") bytes"
    fi
    stop
done

rm -rf "$data"
# the held connections are requests in flight: --shutdown-timeout bounds the wait for them
start "$data" --shutdown-timeout 1
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$blob" "$base/v2/term/big/blobs/uploads/?digest=$d")
[[ $code == 201 ]] || fail "push → $code"
curl -s --limit-rate 1M -o /dev/null "$base/v2/term/big/blobs/$d" &
bg_pids+=($!)
hold 'GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n'
hold 'PATCH /v2/term/big/blobs/uploads/0123 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc'
hold 'GET /v2/ HT'
sleep 1
timed_stop "SIGTERM with a slow pull, an idle keep-alive, half a body and half a head open"

# One berthd per data directory and per address: a second one exits 1 with a
# reason instead of sharing the store (its start-up clean-up would remove a
# running upload's file) or the port (SO_REUSEPORT would hand it clients).
start "$data"
other_port=$(free_port)
if "$BERTHD" --listen "127.0.0.1:$other_port" --data "$data" --insecure-no-auth 2>"$work/second.log"; then
    fail "a second berthd on the same data directory started"
else
    grep -q "in use by another berthd (pid $pid)" "$work/second.log" && pass "a second berthd on the same data directory exits naming the first's pid" ||
        fail "second berthd on the data directory said: $(cat "$work/second.log")"
fi
if "$BERTHD" --listen "127.0.0.1:$port" --data "$work/other" --insecure-no-auth 2>"$work/second.log"; then
    fail "a second berthd on the same port started"
else
    grep -q "Address already in use" "$work/second.log" && pass "a second berthd on the same port exits: address in use" ||
        fail "second berthd on the port said: $(cat "$work/second.log")"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v2/")
[[ $code == 200 ]] && pass "the first berthd still serves" || fail "the first berthd answers $code"
stop_clean "after refused second starts"
start "$data"
pass "the data directory is free again once its berthd has stopped"
stop_clean "restart"
finish test_sigterm
