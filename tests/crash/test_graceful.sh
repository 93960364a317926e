#!/bin/bash
# Graceful shutdown (issue 18): on SIGTERM berthd stops accepting, lets a
# request still arriving finish within --shutdown-timeout, syncs and exits 0;
# one that takes longer is cut, and its upload resumes after the restart at
# the offset its GET reports.
#   1. a PATCH trickling 256 KiB at 128 KiB/s, SIGTERM half a second in,
#      --shutdown-timeout 10: the PATCH gets its 202, berthd exits 0 after it,
#      and a new connection meanwhile is refused;
#   2. after a restart, GET of the upload reports 0-262143; a PATCH of 2 MiB
#      at 256 KiB/s, SIGTERM, --shutdown-timeout 1: berthd exits 0 within a
#      few seconds, the PATCH fails;
#   3. after a restart, GET still reports 0-262143: the rest is sent from
#      there, the PUT with the digest makes the blob, and it reads back whole.
# Needs: $BERTHD, curl, sha256sum.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
data=$work/data
head -c $((256 << 10)) /dev/urandom >"$work/part1"
head -c $((2 << 20)) /dev/urandom >"$work/part2"
cat "$work/part1" "$work/part2" >"$work/blob"
d=sha256:$(sha "$work/blob")

# The upload's Range as GET /v2/.../blobs/uploads/<id> reports it.
upload_range() {
    curl -s -D - -o /dev/null "$base$loc" | tr -d '\r' | sed -n 's/^[Rr]ange: //p'
}

start "$data" --shutdown-timeout 10
loc=$(curl -s -D - -o /dev/null -X POST "$base/v2/grace/blob/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
loc=${loc#http://127.0.0.1:$port}
[[ $loc == /v2/grace/blob/blobs/uploads/* ]] || fail "POST gave Location '$loc'"

curl -s -o /dev/null -w '%{http_code}' --limit-rate 128K -X PATCH -H 'Content-Type: application/octet-stream' \
    --data-binary @"$work/part1" "$base$loc" >"$work/patch1.code" &
patch=$!
bg_pids+=($patch)
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$pid"
sleep 0.3
if curl -s -o /dev/null --max-time 2 "$base/v2/"; then
    fail "a new connection was served while berthd drained"
else
    pass "no new connection is accepted while in-flight requests finish"
fi
wait "$patch" || true
rc=0
wait "$pid" || rc=$?
pid=""
ms=$((($(date +%s%N) - t0) / 1000000))
[[ $(cat "$work/patch1.code") == 202 ]] && pass "the PATCH in flight at SIGTERM finished: 202" ||
    fail "the PATCH in flight at SIGTERM got $(cat "$work/patch1.code")"
((rc == 0 && ms < 8000)) && pass "berthd exited 0 after the PATCH, ${ms} ms after SIGTERM" ||
    fail "berthd exited $rc, ${ms} ms after SIGTERM"

start "$data" --shutdown-timeout 1
r=$(upload_range)
[[ $r == 0-262143 ]] && pass "after the restart the upload reports Range $r" || fail "after the restart: Range '$r'"
curl -s -o /dev/null -w '%{http_code}' --limit-rate 256K -X PATCH -H 'Content-Type: application/octet-stream' \
    --data-binary @"$work/part2" "$base$loc" >"$work/patch2.code" &
patch=$!
bg_pids+=($patch)
sleep 0.5
t0=$(date +%s%N)
stop_clean "SIGTERM with a 2 MiB PATCH arriving at 256 KiB/s, --shutdown-timeout 1"
ms=$((($(date +%s%N) - t0) / 1000000))
wait "$patch" || true
((ms >= 900 && ms < 5000)) && pass "the slow PATCH was waited for --shutdown-timeout, then cut (${ms} ms)" ||
    fail "shutdown took ${ms} ms with --shutdown-timeout 1"
[[ $(cat "$work/patch2.code") != 202 ]] && pass "the cut PATCH was not acknowledged ($(cat "$work/patch2.code"))" ||
    fail "the cut PATCH got 202"

start "$data"
r=$(upload_range)
[[ $r == 0-262143 ]] && pass "after the cut the upload still reports Range $r" || fail "after the cut: Range '$r'"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/octet-stream' \
    --data-binary @"$work/part2" "$base$loc")
[[ $code == 202 && $(upload_range) == 0-$(((256 << 10) + (2 << 20) - 1)) ]] && pass "the rest resumes from the reported offset" ||
    fail "resuming PATCH: $code, Range $(upload_range)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$base$loc?digest=$d")
[[ $code == 201 ]] && pass "PUT with the digest completes the upload" || fail "PUT → $code"
curl -s -o "$work/got" "$base/v2/grace/blob/blobs/$d"
[[ sha256:$(sha "$work/got") == "$d" ]] && pass "the blob reads back whole" || fail "the blob read back differs"
stop_clean "after the resumed upload"
finish test_graceful
