#!/bin/bash
# A slow disk does not stall pulls: blob GETs do not block on writers. berthd
# acknowledges a push only after its sync (fdatasync of the data, then a
# synchronous write of LMDB's meta page), so on a slow disk a push waits
# seconds; pulls must not queue behind it, and the pushed blob must not be
# visible to them before it is durable.
#
# strace holds every fdatasync/fsync/msync of a running berthd for $DELAY
# seconds (-e inject=…:delay_enter; SLOW_FSYNC_DELAY, default 5). With a push waiting in that sync, a 32 MiB
# blob GET (sha256 checked), a blob HEAD, manifest GETs by tag and by digest
# and the tag list must each complete, correct, while the push is still
# unacknowledged: the checks are on that order, never on durations. While the
# sync is held, a HEAD of the blob being pushed must be 404. The test
# fails if no berthd thread was ever seen held in a sync by the tracer (then the
# delay did not take effect and nothing would be shown). The push must then be
# acknowledged (201) and its blob served.
#
# strace attaches to berthd (-p) instead of starting it: LeakSanitizer cannot
# stop a traced process's threads, so strace detaches before the SIGTERM and
# the sanitizer build still checks the shutdown for leaks.
#
# Needs: $BERTHD, strace, root (to attach to a process that is not strace's
# child), curl, sha256sum, python3. Without strace or root it is skipped (exit
# 77), or fails when E2E_REQUIRE_ALL=1 (scripts/test-all).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

DELAY=${SLOW_FSYNC_DELAY:-5} # seconds each sync is held

unavailable() { # reason
    if [[ ${E2E_REQUIRE_ALL:-0} == 1 ]]; then
        fail "$* (E2E_REQUIRE_ALL=1: a test that cannot run fails)"
        finish "slow-fsync"
    fi
    echo "SKIP  (all) $*"
    exit 77
}
command -v strace >/dev/null || unavailable "strace is not installed (scripts/install-deps test)"
[[ $(id -u) == 0 ]] || unavailable "attaching strace to berthd needs root (uid is $(id -u))"
# The sync calls' numbers, to see a thread held in one in /proc/TID/syscall.
case $(uname -m) in
x86_64) sync_nrs=" 74 75 26 " ;;    # fsync fdatasync msync
aarch64) sync_nrs=" 82 83 227 " ;; # fsync fdatasync msync
*) unavailable "no syscall numbers for $(uname -m) in this script" ;;
esac

data=$work/data
repo=slow/app
mt=application/vnd.oci.image.manifest.v1+json

# push_blob FILE: monolithic POST, its digest in $d; fails unless 201.
push_blob() {
    local code
    d=sha256:$(sha "$1")
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$1" "$base/v2/$repo/blobs/uploads/?digest=$d")
    [[ $code == 201 ]] || fail "setup: pushing $(stat -c %s "$1") bytes → $code"
}

# ---- a repository to pull from, written by a berthd without delays ------------------
start "$data"
big=$work/big
head -c $((32 << 20)) /dev/urandom >"$big"
push_blob "$big"
big_d=$d
small=$work/small
head -c 4321 /dev/urandom >"$small"
push_blob "$small"
small_d=$d
cfg=$work/config.json
echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$cfg"
push_blob "$cfg"
cfg_d=$d
manifest=$work/manifest.json
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "$mt" "$cfg_d" "$(stat -c %s "$cfg")" "$big_d" "$(stat -c %s "$big")" "$small_d" "$(stat -c %s "$small")" >"$manifest"
man_d=sha256:$(sha "$manifest")
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Content-Type: $mt" --data-binary @"$manifest" "$base/v2/$repo/manifests/v1")
[[ $code == 201 ]] || fail "setup: manifest PUT → $code"
((failures == 0)) || finish "slow-fsync"
pass "setup: a 32 MiB blob, a small blob, a config and a manifest tagged v1 pushed"
stop_clean "setup"

# ---- the same store, every sync held for $DELAY s ------------------------------------
start "$data"
srv=$pid
strace -f -p "$srv" -e trace=fdatasync,fsync,msync -e inject=fdatasync,fsync,msync:delay_enter="${DELAY}s" \
    -o "$work/strace.out" 2>"$work/strace.err" &
tracer=$!
bg_pids+=("$tracer")

# attached: every berthd thread is traced by strace.
attached() {
    local t tp
    for t in /proc/"$srv"/task/*/status; do
        tp=$(sed -n 's/^TracerPid:\t//p' "$t" 2>/dev/null)
        [[ $tp == "$1" ]] || return 1
    done
}
for _ in $(seq 200); do
    attached "$tracer" && break
    kill -0 "$tracer" 2>/dev/null || break
    sleep 0.05
done
if ! attached "$tracer"; then
    fail "strace could not attach to berthd (ptrace not permitted here?): $(head -c 400 "$work/strace.err")"
    finish "slow-fsync"
fi

# held_in_sync: some berthd thread is stopped by the tracer inside a sync call.
held_in_sync() {
    local t st nr
    for t in /proc/"$srv"/task/*; do
        st=$(cat "$t/stat" 2>/dev/null) || continue
        st=${st##*) }
        read -r nr _ <"$t/syscall" 2>/dev/null || continue
        [[ ${st%% *} == t && $sync_nrs == *" $nr "* ]] && return 0
    done
    return 1
}

# The push: a new blob in one POST, acknowledged only after the writer's sync.
new=$work/new
head -c $((1 << 20)) /dev/urandom >"$new"
new_d=sha256:$(sha "$new")
: >"$work/push.code"
curl -s -o /dev/null -w '%{http_code}' --max-time 300 -X POST --data-binary @"$new" \
    "$base/v2/$repo/blobs/uploads/?digest=$new_d" >"$work/push.code" &
push_pid=$!
bg_pids+=("$push_pid")
# pending: the push has not been answered yet (curl writes its status at the end).
pending() { [[ ! -s $work/push.code ]] && kill -0 "$push_pid" 2>/dev/null; }

for _ in $(seq 600); do
    held_in_sync && break
    pending || break
    sleep 0.05
done
if ! held_in_sync; then
    fail "no berthd thread was ever held in fdatasync/fsync/msync (push answered: '$(cat "$work/push.code")'): the ${DELAY}s delay did not take effect, so this run shows nothing; strace: $(head -c 400 "$work/strace.err")"
    finish "slow-fsync"
fi
pass "the push is waiting in a sync held for ${DELAY}s by strace"

# before_pull; PULL; after_pull WHAT: the pull must return while the push still
# waits; after_pull fails and returns 1 otherwise.
before_pull() {
    was_pending=0
    if pending; then was_pending=1; fi
}
after_pull() {
    if pending; then
        return 0
    elif ((was_pending)); then
        fail "$1 returned only after the push was acknowledged ($(cat "$work/push.code")): it waited for the writer's sync"
    else
        fail "$1 is not tested: the push was acknowledged before it started (an earlier step outlasted the held syncs)"
    fi
    return 1
}

# 1. GET the 32 MiB blob.
before_pull
r=$(curl -s --max-time 120 -o "$work/got.big" -w '%{http_code} %{time_total}' "$base/v2/$repo/blobs/$big_d" || true)
if after_pull "GET of the 32 MiB blob"; then
    got=sha256:$(sha "$work/got.big")
    if [[ ${r% *} == 200 && $got == "$big_d" ]]; then
        pass "GET of the 32 MiB blob during the held sync: 200, sha256 matches (${r#* } s, push still waiting)"
    else
        fail "GET of the 32 MiB blob during the held sync: ${r% *}, $(stat -c %s "$work/got.big") bytes, $got"
    fi
fi

# 2. HEAD the small blob.
before_pull
r=$(curl -s --max-time 120 --head -o /dev/null -D "$work/head.hdrs" -w '%{http_code} %{time_total}' "$base/v2/$repo/blobs/$small_d" || true)
if after_pull "HEAD of a blob"; then
    len=$(tr -d '\r' <"$work/head.hdrs" | sed -n 's/^content-length: //Ip')
    dcd=$(tr -d '\r' <"$work/head.hdrs" | sed -n 's/^docker-content-digest: //Ip')
    if [[ ${r% *} == 200 && $len == "$(stat -c %s "$small")" && $dcd == "$small_d" ]]; then
        pass "HEAD of a blob during the held sync: 200, right length and digest (${r#* } s, push still waiting)"
    else
        fail "HEAD of a blob during the held sync: ${r% *}, content-length '$len', docker-content-digest '$dcd'"
    fi
fi

# 3. and 4. GET the manifest by tag and by digest.
for ref in v1 "$man_d"; do
    before_pull
    r=$(curl -s --max-time 120 -H "Accept: $mt" -o "$work/got.manifest" -D "$work/man.hdrs" -w '%{http_code} %{time_total}' \
        "$base/v2/$repo/manifests/$ref" || true)
    if after_pull "GET of the manifest by ${ref:0:16}"; then
        dcd=$(tr -d '\r' <"$work/man.hdrs" | sed -n 's/^docker-content-digest: //Ip')
        if [[ ${r% *} == 200 && $dcd == "$man_d" ]] && cmp -s "$work/got.manifest" "$manifest"; then
            pass "GET of the manifest by ${ref:0:16} during the held sync: 200, the pushed bytes (${r#* } s, push still waiting)"
        else
            fail "GET of the manifest by $ref during the held sync: ${r% *}, digest '$dcd', body $(head -c 200 "$work/got.manifest")"
        fi
    fi
done

# 5. The tag list.
before_pull
r=$(curl -s --max-time 120 -o "$work/got.tags" -w '%{http_code} %{time_total}' "$base/v2/$repo/tags/list" || true)
if after_pull "GET of the tag list"; then
    if [[ ${r% *} == 200 ]] && python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
sys.exit(0 if t.get("name") == sys.argv[2] and t.get("tags") == ["v1"] else 1)' "$work/got.tags" "$repo" 2>/dev/null; then
        pass "GET of the tag list during the held sync: 200, [\"v1\"] (${r#* } s, push still waiting)"
    else
        fail "GET of the tag list during the held sync: ${r% *} $(head -c 200 "$work/got.tags")"
    fi
fi

# All of that happened inside the stall: the push is still waiting for its sync.
if pending; then
    pass "after all the pulls the push is still waiting for its sync"
else
    fail "the stall did not outlast the pulls (push answered: '$(cat "$work/push.code")'): the pulls were not shown to overlap a slow sync"
fi

# Nothing is visible before it is durable: while the push's sync is held, a HEAD
# of its blob is 404. (Asked only while a sync is held, so the moment between the
# durable commit and curl reading the 201 cannot make this flaky.)
early=no
heads=0
while pending; do
    c=$(curl -s --max-time 120 --head -o /dev/null -w '%{http_code}' "$base/v2/$repo/blobs/$new_d" || true)
    if held_in_sync && pending; then
        heads=$((heads + 1))
        [[ $c == 200 ]] && early=yes && break
    fi
    sleep 0.2
done
if [[ $early == yes ]]; then
    fail "the pushed blob was served (HEAD 200) while its push was still held in a sync: visible before durable"
elif ((heads == 0)); then
    fail "no HEAD of the pushed blob landed while its sync was held: the check above shows nothing"
else
    pass "while the push's sync was held, its blob stayed invisible ($heads HEADs, all 404)"
fi

# The push completes once its syncs are done, with 201, and its blob is served.
wait "$push_pid" || true
code=$(cat "$work/push.code")
if [[ $code == 201 ]]; then
    pass "the push is acknowledged with 201 once its sync returns"
else
    fail "the push after the held sync → '$code'"
fi
got=sha256:$(curl -s "$base/v2/$repo/blobs/$new_d" | sha256sum | cut -d' ' -f1)
if [[ $got == "$new_d" ]]; then
    pass "the pushed blob is served digest-correct"
else
    fail "the pushed blob is served as $got, not $new_d"
fi

# strace detaches (a traced process's LeakSanitizer cannot run), then berthd stops.
kill -TERM "$tracer" 2>/dev/null || true
wait "$tracer" 2>/dev/null || true
attached 0 || fail "strace did not detach from berthd"
echo "NOTE  syncs held by strace: $(grep -c 'DELAYED' "$work/strace.out" || true)"
stop_clean "after the held syncs"

finish "slow-fsync"
