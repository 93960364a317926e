#!/bin/bash
# A full store: pushes past the limit get 507 with the OCI error JSON, nothing
# half-written becomes visible, every acknowledged blob stays byte-exact, and
# the store takes writes again once there is room — without a restart when
# the disk grows, after a restart with a bigger --map-size when the map was
# the limit. Two rounds:
#   map:  --map-size 64M (the smallest allowed) on an ordinary disk (runs anywhere);
#   disk: the data dir on a 24 MiB tmpfs (needs root to mount; a run as root
#         that cannot mount fails, since CI runs as root).
# Needs: $BERTHD, curl, sha256sum, python3.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

acked=$work/acked # digests acknowledged with 201, one per line

# push_until_full ROUND KIB: monolithic pushes of KIB KiB until one is
# refused. Every refusal must be 507 with the OCI error JSON; every 201 is
# recorded. Below 1 MiB a blob goes to LMDB (the map fills), from 1 MiB on
# to a file (the disk fills).
push_until_full() {
    local round=$1 kib=$2 i f d code
    for ((i = 0; i < 256; i++)); do
        f=$work/blob.$round.$i
        head -c $((kib << 10)) /dev/urandom >"$f"
        d=sha256:$(sha "$f")
        code=$(curl -s -o "$work/resp" -w '%{http_code}' -X POST --data-binary @"$f" \
            "$base/v2/full/$round/blobs/uploads/?digest=$d" || true)
        if [[ $code == 201 ]]; then
            echo "$round $d" >>"$acked"
            continue
        fi
        rm -f "$f"
        if [[ $code == 507 ]] && python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["errors"][0]
sys.exit(0 if e["code"] and e["message"] and "full" in e["message"] else 1)' "$work/resp" 2>/dev/null; then
            pass "$round: push $((i + 1)) of $kib KiB on a full store → 507 with the OCI error JSON ($(head -c 160 "$work/resp"))"
        else
            fail "$round: push on a full store → $code $(head -c 300 "$work/resp")"
        fi
        (( i > 0 )) || fail "$round: not even the first push fitted; the test's sizes are wrong"
        return 0
    done
    fail "$round: 256 pushes of $kib KiB and the store never filled"
}

# verify_acked: every acknowledged blob is served byte-exact.
verify_acked() {
    local what=$1 round d n=0 bad=0 got
    while read -r round d; do
        n=$((n + 1))
        got=$(curl -s "$base/v2/full/$round/blobs/$d" | sha256sum | cut -d' ' -f1)
        [[ sha256:$got == "$d" ]] || bad=$((bad + 1))
    done <"$acked"
    if ((bad == 0)); then pass "$what: all $n acknowledged blobs intact"; else fail "$what: $bad of $n acknowledged blobs lost or corrupt"; fi
}

# push_one ROUND WHAT: one small push must now succeed.
push_one() {
    local f=$work/after.$1 d code
    head -c 100000 /dev/urandom >"$f"
    d=sha256:$(sha "$f")
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$f" "$base/v2/full/$1/blobs/uploads/?digest=$d")
    if [[ $code == 201 ]]; then
        echo "$1 $d" >>"$acked"
        pass "$2"
    else
        fail "$2: got $code"
    fi
}

# ---- round 1: the map reservation is the limit ----------------------------------------
: >"$acked"
start "$work/map" --map-size 64M
push_until_full map 700
verify_acked "map full, same process"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v2/")
[[ $code == 200 ]] && pass "map full: the registry still answers GET /v2/" || fail "map full: GET /v2/ → $code"
stop
start "$work/map" --map-size 256M
verify_acked "map full, restarted with --map-size 256M"
push_one map "map full, restarted with a bigger --map-size: pushes succeed again"
stop

# ---- round 2: the file system is full ---------------------------------------------------
if [[ $(id -u) != 0 ]]; then
    echo "SKIP  disk: mounting a small tmpfs needs root"
else
    mnt=$work/tmpfs
    mkdir -p "$mnt"
    mount -t tmpfs -o size=24m tmpfs "$mnt" || { fail "disk: cannot mount a tmpfs as root"; mnt=""; }
fi
if [[ -n $mnt ]]; then
    : >"$acked"
    start "$mnt/data"
    push_until_full disk 3072
    verify_acked "disk full, same process"
    # nothing partial: no temp or upload file left, and every blob file is an acknowledged blob
    left=$(find "$mnt/data/uploads" -type f | wc -l)
    [[ $left == 0 ]] && pass "disk full: no upload or temp file left behind" || fail "disk full: $left files left in uploads/"
    nblobs=$(find "$mnt/data/blobs" -type f | wc -l)
    nacked=$(grep -c '^disk ' "$acked" || true)
    [[ $nblobs == "$nacked" ]] && pass "disk full: $nblobs blob files, one per acknowledged push" ||
        fail "disk full: $nblobs blob files for $nacked acknowledged pushes"

    # A streamed PATCH bigger than the space left: h2o cannot spool it and
    # drops the connection. The upload must stay where it was, not half-written.
    loc=$(curl -s -D - -o /dev/null -X POST "$base/v2/full/disk/blobs/uploads/" | tr -d '\r' | sed -n 's/^location: //Ip')
    head -c $((40 << 20)) /dev/urandom >"$work/big"
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH --data-binary @"$work/big" "$base$loc" || true)
    rm -f "$work/big"
    range=$(curl -s -D - -o /dev/null "$base$loc" | tr -d '\r' | sed -n 's/^range: //Ip')
    if [[ $code != 202 && $range == 0-0 ]]; then
        pass "disk full: a 40 MiB PATCH is refused (status $code) and the upload stays at offset 0"
    else
        fail "disk full: 40 MiB PATCH → $code, upload range afterwards '$range'"
    fi

    mount -o remount,size=64m "$mnt"
    push_one disk "disk grown under a running berthd: pushes succeed again without a restart"
    stop
    start "$mnt/data"
    verify_acked "disk full, after a restart"
    stop
fi

finish "full-disk"
