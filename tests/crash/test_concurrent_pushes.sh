#!/bin/bash
# Many small pushes at once over several event loops: berthd must survive,
# acknowledge every push and serve every blob. Pins a bug where the loops'
# contexts were built on the main thread, so h2o's per-thread buffer free
# lists were shared by all loops and corrupted under concurrent load
# (double frees, "chunk != NULL" asserts). Also: concurrent pushes of the
# same tag — the last acknowledged one wins, and the tag is never half-set.
# Needs: $BERTHD, $REGLOAD, curl, sha256sum, xargs, python3.
set -euo pipefail

REGLOAD=${REGLOAD:?set REGLOAD to bench/registry/regload built}
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# Clients at once, and blobs each pushes: enough to keep the loops waking
# each other through the writer's completions.
CLIENTS=16
PUSHES=2000
start "$work/data" --threads 4

# 4 rounds of 2000 pushes of 4 KiB blobs, each in three requests (POST, PATCH,
# PUT) as skopeo makes them, over 16 keep-alive connections (regload, our load
# generator from bench/registry). A round must see every push acknowledged.
total=0
for round in 1 2 3 4; do
    if ! "$REGLOAD" push-small "127.0.0.1:$port" "conc/r$round" "$PUSHES" 4096 "$CLIENTS" >"$work/round.$round" 2>&1; then
        fail "round $round: $(head -c 300 "$work/round.$round")"
    fi
    total=$((total + PUSHES))
    kill -0 "$pid" 2>/dev/null || break
done
if kill -0 "$pid" 2>/dev/null; then
    pass "berthd survived $total pushes (three requests each) from $CLIENTS keep-alive clients on 4 event loops"
else
    fail "berthd died under concurrent pushes: $(grep -v '^berthd' "$work/berthd.log" | tail -3 | tr '\n' ' ')"
fi
acked=$(grep -ho 'ops=[0-9]*' "$work"/round.* | cut -d= -f2 | awk '{s += $1} END {print s + 0}')
[[ $acked == "$total" ]] && pass "all $total pushes acknowledged with 201" || fail "$acked of $total pushes acknowledged"

# The same tag pushed by many clients at once: each PUT is 201 and the tag
# ends on one of the pushed manifests, whole.
cfg=$work/config.json
echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$cfg"
cfgd=sha256:$(sha256sum "$cfg" | cut -d' ' -f1)
curl -s -o /dev/null -X POST --data-binary @"$cfg" "$base/v2/conc/tag/blobs/uploads/?digest=$cfgd"
for i in $(seq 32); do
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[],"annotations":{"n":"%s"}}' \
        "$cfgd" "$(stat -c %s "$cfg")" "$i" >"$work/m.$i"
done
seq 32 | xargs -P 16 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$work/m.{}" "$base/v2/conc/tag/manifests/latest" >"$work/tagcodes"
[[ $(grep -c '^201$' "$work/tagcodes") == 32 ]] && pass "32 concurrent pushes of one tag: all 201" ||
    fail "concurrent tag pushes: $(sort "$work/tagcodes" | uniq -c | tr '\n' ' ')"
curl -s -o "$work/latest" "$base/v2/conc/tag/manifests/latest"
found=0
for i in $(seq 32); do cmp -s "$work/latest" "$work/m.$i" && found=1; done
((found == 1)) && pass "the tag serves one of the pushed manifests byte for byte" || fail "the tag serves bytes no client pushed"

# A clean shutdown after all that (the sanitizer build reports leaks and races at exit).
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
[[ $rc == 0 ]] && pass "berthd shuts down cleanly (exit 0)" || fail "berthd exited with $rc: $(tail -5 "$work/berthd.log" | tr '\n' ' ')"

finish "concurrent pushes"
