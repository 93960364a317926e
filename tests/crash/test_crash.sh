#!/bin/bash
# Crash safety: SIGKILL berthd in the middle of a large upload and of a stream
# of manifest pushes, restart it on the same data, and check that
#  - every blob and manifest that was acknowledged (201) is there, byte-exact
#    and digest-correct;
#  - the interrupted upload either resumes at the offset the server reports
#    (and then completes with the right digest) or is cleanly unknown (404);
#  - no blob is ever served with bytes that do not match its digest.
# Three rounds, killing at different moments. Needs: $BERTHD, curl, sha256sum.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
data=$work/data

# Acknowledged objects, one per line: "blob <repo> <digest>" / "manifest <repo> <tag> <digest> <file>"
acked=$work/acked
: >"$acked"

# Small blobs pushed monolithically, acknowledged one by one.
push_small_blobs() { # round count
    local i f d code
    for ((i = 0; i < $2; i++)); do
        f=$work/small.$1.$i
        head -c $((1000 + i * 37)) /dev/urandom >"$f"
        d=sha256:$(sha "$f")
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$f" \
            "$base/v2/crash/small/blobs/uploads/?digest=$d" || true)
        [[ $code == 201 ]] && echo "blob crash/small $d" >>"$acked"
    done
}

# Manifests pushed in a tight loop until the server dies; each 201 is recorded.
push_manifests_forever() { # round config-digest config-size
    local i=0 f d code
    while :; do
        f=$work/manifest.$1.$i
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[],"annotations":{"n":"%s.%s"}}' \
            "$2" "$3" "$1" "$i" >"$f"
        d=sha256:$(sha "$f")
        code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
            --data-binary @"$f" "$base/v2/crash/manifests/r$1-$i" || true)
        if [[ $code == 201 ]]; then
            echo "manifest crash r$1-$i $d $f" >>"$acked"
        elif [[ $code == 000 ]]; then
            return 0
        fi
        i=$((i + 1))
    done
}

verify_acked() {
    local kind repo a b c n=0 bad=0 got
    while read -r kind repo a b c; do
        n=$((n + 1))
        if [[ $kind == blob ]]; then
            got=$(curl -s "$base/v2/$repo/blobs/$a" | sha256sum | cut -d' ' -f1)
            [[ sha256:$got == "$a" ]] || { fail "acknowledged blob $a lost or corrupt after SIGKILL"; bad=$((bad + 1)); }
        else
            curl -s -o "$work/got" "$base/v2/$repo/manifests/$b"
            cmp -s "$work/got" "$c" || { fail "acknowledged manifest $b lost or changed after SIGKILL"; bad=$((bad + 1)); }
            curl -s -o "$work/got" "$base/v2/$repo/manifests/$a"
            cmp -s "$work/got" "$c" || { fail "acknowledged tag $a lost after SIGKILL"; bad=$((bad + 1)); }
        fi
    done <"$acked"
    ((bad == 0)) && pass "all $n acknowledged blobs and manifests intact and digest-correct after restart"
}

big=$work/big
head -c $((200 << 20)) /dev/urandom >"$big"
big_digest=sha256:$(sha "$big")
big_size=$(stat -c %s "$big")

start "$data"
cfg=$work/config.json
echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$cfg"
cfg_digest=sha256:$(sha "$cfg")
curl -fs -o /dev/null -X POST --data-binary @"$cfg" "$base/v2/crash/blobs/uploads/?digest=$cfg_digest"
echo "blob crash $cfg_digest" >>"$acked"

for round in 1 2 3; do
    push_small_blobs "$round" 20
    loc=$(curl -s -D - -o /dev/null -X POST "$base/v2/crash/big/blobs/uploads/" | tr -d '\r' | sed -n 's/^location: //Ip')
    [[ -n $loc ]] || { fail "round $round: no upload location"; continue; }
    curl -s -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' --data-binary @"$big" "$base$loc" &
    bg_pids+=($!)
    push_manifests_forever "$round" "$cfg_digest" "$(stat -c %s "$cfg")" &
    bg_pids+=($!)
    # Kill at a different moment each round: 1: while the body streams in;
    # 2: once part of it is stored (the upload's offset has moved); 3: after
    # the PATCH was acknowledged, while manifests are still being pushed.
    case $round in
    1) sleep 0.3 ;;
    2) for _ in $(seq 400); do
           r=$(curl -s -D - -o /dev/null "$base$loc" | tr -d '\r' | sed -n 's/^range: //Ip')
           [[ -n $r && $r != 0-0 ]] && break
           sleep 0.01
       done ;;
    3) wait "${bg_pids[0]}" || true; sleep 0.2 ;;
    esac
    kill9
    wait "${bg_pids[@]}" 2>/dev/null || true
    bg_pids=()
    start "$data"

    verify_acked

    # The interrupted upload: resume where the server says, or it is gone.
    hdrs=$(curl -s -D - -o /dev/null "$base$loc" | tr -d '\r')
    status=$(echo "$hdrs" | head -1 | cut -d' ' -f2)
    if [[ $status == 204 ]]; then
        range=$(echo "$hdrs" | sed -n 's/^range: //Ip')
        end=${range#0-}
        have=$((end + 1))
        [[ $range == 0-0 ]] && have=0
        if ((have > big_size)); then
            fail "round $round: upload claims $have bytes of $big_size"
            continue
        fi
        ((round != 2 || have > 0)) || fail "round 2: killed after data was stored, yet the upload restarted at 0"
        if ((have < big_size)); then
            tail -c +$((have + 1)) "$big" >"$work/rest"
            code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H "Content-Range: $have-$((big_size - 1))" \
                --data-binary @"$work/rest" "$base$loc")
            [[ $code == 202 ]] || fail "round $round: resuming PATCH at $have → $code"
            rm -f "$work/rest"
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$base$loc?digest=${big_digest/:/%3A}")
        if [[ $code == 201 ]]; then
            got=$(curl -s "$base/v2/crash/big/blobs/$big_digest" | sha256sum | cut -d' ' -f1)
            if [[ sha256:$got == "$big_digest" ]]; then
                pass "round $round: interrupted upload resumed at byte $have and completed digest-correct"
                echo "blob crash/big $big_digest" >>"$acked"
            else
                fail "round $round: resumed upload serves wrong bytes"
            fi
        else
            fail "round $round: completing the resumed upload → $code"
        fi
    elif [[ $status == 404 ]]; then
        pass "round $round: interrupted upload is cleanly unknown (404) after restart"
    else
        fail "round $round: upload status after restart → $status"
    fi
done

# Big monolithic pushes (files, issue 15), killed mid-stream: every acknowledged
# one survives; after the restart no temp or orphan file is left, and every
# file in blobs/ is a blob the registry serves with the right bytes.
push_big_blobs() { # count
    local i f d code
    for ((i = 0; i < $1; i++)); do
        f=$work/bigput.$i
        head -c $((16 << 20)) /dev/urandom >"$f"
        d=sha256:$(sha "$f")
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$f" \
            "$base/v2/crash/bigput/blobs/uploads/?digest=$d" || true)
        [[ $code == 201 ]] && echo "blob crash/bigput $d" >>"$acked"
        rm -f "$f"
    done
}
push_big_blobs 64 &
bg_pids+=($!)
sleep 1.5
kill9
wait "${bg_pids[@]}" 2>/dev/null || true
bg_pids=()
start "$data"
verify_acked
left=$(find "$data/uploads" -type f | wc -l)
[[ $left == 0 ]] && pass "after SIGKILL mid-push: no temp or upload file left" || fail "after SIGKILL mid-push: $left files left in uploads/"
bad=0
nfiles=0
while read -r f; do
    nfiles=$((nfiles + 1))
    d=sha256:$(basename "$f")
    got=$(curl -s "$base/v2/crash/bigput/blobs/$d" | sha256sum | cut -d' ' -f1)
    [[ sha256:$got == "$d" ]] || got=$(curl -s "$base/v2/crash/big/blobs/$d" | sha256sum | cut -d' ' -f1)
    [[ sha256:$got == "$d" ]] || { fail "blob file $d is not served with its bytes"; bad=$((bad + 1)); }
done < <(find "$data/blobs" -type f)
((bad == 0 && nfiles > 0)) && pass "all $nfiles blob files are served blobs with the right bytes (no orphan kept)"

# Finally every blob the store knows in crash/big must hash right (never wrong bytes).
verify_acked
kill9
finish "crash"
