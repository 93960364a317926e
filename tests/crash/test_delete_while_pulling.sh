#!/bin/bash
# A big blob collected by berthd's garbage collection while a slow client
# pulls it: the pull completes with the right bytes, new requests no longer
# find the blob, its file is gone from blobs/ once the pull has ended (the
# pull reads through the descriptor it opened, so the name may go sooner, as
# soon as no snapshot older than the delete is left), and berthd then holds no
# deleted file open (the space is back).
# Needs: $BERTHD, curl, sha256sum, jq.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
data=$work/data

# a collection every second, sparing what was linked in the last 2 s (the blob must outlive the gap between
# its push and its manifest's on a loaded machine): the blob goes at the first one after its manifest
start "$data" --gc-interval 1 --gc-grace 2
blob=$work/blob
head -c $((48 << 20)) /dev/urandom >"$blob"
d=sha256:$(sha "$blob")
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$blob" "$base/v2/gc/big/blobs/uploads/?digest=$d")
[[ $code == 201 ]] || fail "push of a 48 MiB blob → $code"
printf '{}' >"$work/config"
cd_=sha256:$(sha "$work/config")
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$work/config" "$base/v2/gc/big/blobs/uploads/?digest=$cd_")
[[ $code == 201 ]] || fail "push of the config → $code"
# a manifest keeps the blob from the collections until the pull is under way
jq -cn --arg c "$cd_" --arg l "$d" --argjson ls $((48 << 20)) '{schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: 2},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]}' >"$work/manifest"
md=sha256:$(sha "$work/manifest")
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$work/manifest" "$base/v2/gc/big/manifests/v1")
[[ $code == 201 ]] || fail "push of the manifest → $code"
file=$data/blobs/sha256/${d:7:2}/${d:7}
[[ -f $file ]] && pass "the 48 MiB blob is a file in blobs/" || fail "no file $file"

# ~12 s at 4 MB/s; the manifest goes a second in, and a collection takes the blob once its 2 s of grace are over
curl -s --limit-rate 4M -o "$work/pulled" "$base/v2/gc/big/blobs/$d" &
puller=$!
bg_pids+=("$puller")
sleep 1
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/v2/gc/big/manifests/$md")
[[ $code == 202 ]] || fail "DELETE of the manifest → $code"
code=000
for _ in $(seq 80); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -I "$base/v2/gc/big/blobs/$d") || code=000
    [[ $code == 404 ]] && break
    sleep 0.1
done
[[ $code == 404 ]] && pass "a collection took the blob mid-pull: a new HEAD → 404" || fail "HEAD after the collections → $code"
if kill -0 "$puller" 2>/dev/null; then pass "the slow pull was still running after the collection"; else fail "the pull ended before the collection: the test is too fast"; fi
wait "$puller" || fail "the slow pull failed (curl $?)"
bg_pids=()
[[ sha256:$(sha "$work/pulled") == "$d" ]] && pass "the slow pull completed with every byte right" ||
    fail "the slow pull got $(stat -c %s "$work/pulled") bytes, wrong digest"

gone=0
for _ in $(seq 50); do
    [[ -e $file ]] || { gone=1; break; }
    sleep 0.1
done
((gone)) && pass "the blob's name is gone from blobs/ once the pull ended" || fail "$file still there after the pull ended"
held=1
for _ in $(seq 50); do
    held=$(find /proc/"$pid"/fd -lname '*(deleted)' 2>/dev/null | wc -l)
    ((held == 0)) && break
    sleep 0.1
done
((held == 0)) && pass "berthd holds no deleted file open after the pull" || fail "berthd still holds $held deleted files"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$blob" "$base/v2/gc/big/blobs/uploads/?digest=$d")
[[ $code == 201 ]] && pass "the same blob pushed again is stored again" || fail "re-push → $code"
# A SIGTERM within about a second of a big POST makes berthd abort in h2o's
# h2o_timeout_dispose (an assertion; main's berthd too, a server/ matter
# reported apart): let the connections settle first.
sleep 3
stop_clean "delete while pulling"
finish "delete-while-pulling"
