#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# Connection limits, with real clients: h2c is never served; a push over a slow
# link succeeds as long as bytes keep arriving (curl and skopeo through a
# throttling proxy this script runs on loopback); an idle or slowloris
# connection is closed after --idle-timeout, but not one whose request the
# server is still working on; --max-connections-per-ip refuses the next
# connection; anonymous bodies past --max-spool are cut while a small push
# goes through; with 128 file descriptors and 300 idle connections berthd
# neither spins nor stops serving.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_limits.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/curl /usr/bin/skopeo /usr/bin/python3 /usr/bin/aws jq
is_berth || skip_all "Berth's own connection limits (flags the reference registry does not have)"

HELPER=$E2E_DIR/limits_helper.py
readonly MIB=$((1024 * 1024))

# proxy RATE: a throttling proxy to the registry in the background; sets PROXY (host:port).
proxy() {
    local pf=$E2E_TMP/proxy.$RANDOM
    /usr/bin/python3 "$HELPER" proxy "$pf" "$REGISTRY_PORT" "$1" &
    at_exit "kill $!"
    for _ in $(seq 100); do
        [[ -s $pf ]] && break
        sleep 0.05
    done
    PROXY=127.0.0.1:$(cat "$pf")
}

# unable REASON: a case that cannot run here skips, or fails under E2E_REQUIRE_ALL=1 (CI).
unable() {
    [[ ${E2E_REQUIRE_ALL:-0} == 1 ]] && { fail "cannot run: $* (E2E_REQUIRE_ALL=1)"; exit 1; }
    skip_case "$@"
}

# cpu_ticks PID: user + system CPU time of PID so far, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

t_flags() {
    local args
    for args in "--http2" "--idle-timeout 0" "--request-timeout 90000" "--max-connections 0" "--max-connections-per-ip -1" \
        "--max-spool 1Q"; do
        # shellcheck disable=SC2086 # one string of flags per case
        run "$BERTHD" --listen 127.0.0.1:1 --data "$E2E_TMP/never" --insecure-no-auth $args
        expect_exit 2
    done
    run "$BERTHD" --request-timeout 7200 --idle-timeout 30 --max-connections 100 --max-connections-per-ip 0 --max-spool 1G --help
    expect_exit 0
    for args in --http2 --request-timeout --idle-timeout --max-connections --max-connections-per-ip --max-spool; do
        grep -q -- "^  $args" "$E2E_TMP/cmd.out" || fail "berthd --help does not describe $args"
    done
}
run_case "berthd takes the limits' flags (and --help describes them); refuses --http2 without --tls-cert and out-of-range limits (exit 2)" t_flags

# A thread that cannot start (a process limit) ends berthd with a message: the
# loops that did start were waiting for it at the start-up barrier, for ever.
# RLIMIT_NPROC does not bind root, so berthd runs as nobody; the limit leaves
# room for nobody's other tasks, berthd's main thread, storage's threads (five
# today: the writer, the hasher and three file threads), the garbage
# collector's thread (started before the loops) and at least one loop,
# so a loop that started has to be told to stop.
t_thread_cannot_start() {
    if [[ $(id -u) != 0 ]] || ! command -v setpriv >/dev/null || ! command -v prlimit >/dev/null; then
        unable "needs root, setpriv and prlimit to run berthd as a user under a thread limit"
    fi
    local d others
    d=$(mktemp -d /tmp/berth-nproc.XXXXXX) # nobody cannot enter $E2E_TMP
    chown 65534 "$d"
    others=$({ ps -L -u 65534 --no-headers || true; } | wc -l)
    # LeakSanitizer's check at exit needs a thread of its own too; a hung berthd
    # ignores SIGTERM (its main thread waits at the barrier), hence -k
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
        run timeout -k 2 20 setpriv --reuid=65534 --regid=65534 --clear-groups prlimit --nproc=$((others + 8)) \
        "$BERTHD" --listen "127.0.0.1:$(free_port)" --data "$d/data" --insecure-no-auth --threads 4
    expect_exit 1
    expect_stderr_match '^berthd: cannot start event-loop thread [2-4] of 4: '
    expect_stderr_no_match 'serving the OCI'
    rm -rf "$d"
}
run_case "a process limit that lets only some of 4 loop threads start: berthd says which could not and exits 1 within 20 s" \
    t_thread_cannot_start

start_registry

# ---------------------------------------------------------------- HTTP/2

t_no_h2c() {
    # curl's %{http_version} says 1.1 even after a 101 to h2c: read the status lines it got instead
    run /usr/bin/curl -s -o /dev/null -D - --http2 "$BASE/v2/"
    expect_success
    expect_eq "status lines curl --http2 (Upgrade: h2c) gets on plain http" "HTTP/1.1 200 OK" \
        "$(grep '^HTTP/' "$E2E_TMP/cmd.out" | tr -d '\r' | paste -sd '|')"
    run /usr/bin/curl -s -o /dev/null -w '%{http_version}' --http2-prior-knowledge "$BASE/v2/"
    [[ $(cmd_out) == 2 ]] && fail "curl --http2-prior-knowledge was served HTTP/2 (exit $CMD_STATUS)"
    return 0
}
run_case "h2c is never served: curl --http2 stays on HTTP/1.1, --http2-prior-knowledge gets no HTTP/2" t_no_h2c

# ---------------------------------------------------------------- slow links, default timeouts

t_slow_patch() {
    local body=$E2E_TMP/slow.bin loc digest
    head -c $((20 * MIB)) /dev/urandom >"$body"
    digest=sha256:$(sha256_file "$body")
    proxy $((3 * MIB / 2))
    req POST /v2/e2e/slow/blobs/uploads/
    expect_status 202
    loc=$(header Location)
    # 20 MiB at 1.5 MiB/s: ~14 s, past h2o's 10 s request timeout
    req PATCH "http://$PROXY$loc" -H 'Content-Type: application/octet-stream' --data-binary "@$body"
    expect_status 202
    expect_header Range "0-$((20 * MIB - 1))"
    req PUT "$(header Location)?digest=$digest"
    expect_status 201
    req HEAD "/v2/e2e/slow/blobs/$digest"
    expect_status 200
    expect_header Content-Length $((20 * MIB))
}
run_case "curl PATCH of 20 MiB through a 1.5 MiB/s link (~14 s) is accepted whole (202, Range 0-20971519), then completes (201)" t_slow_patch

t_slow_skopeo() {
    local layer size
    read -r layer size < <(/usr/bin/python3 "$HELPER" oci-image "$E2E_TMP/big-oci" $((30 * MIB)))
    proxy $((2 * MIB))
    echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$E2E_TMP/policy.json"
    E2E_CMD_TIMEOUT=60 run /usr/bin/skopeo --policy "$E2E_TMP/policy.json" copy --dest-tls-verify=false \
        "oci:$E2E_TMP/big-oci:v1" "docker://$PROXY/e2e/slow-skopeo:v1"
    expect_success
    req HEAD "/v2/e2e/slow-skopeo/blobs/$layer"
    expect_status 200
    expect_header Content-Length "$size"
}
run_case "skopeo copy of a 30 MiB layer through a 2 MiB/s link (~15 s) succeeds" t_slow_skopeo

# ---------------------------------------------------------------- idle connections, caps

restart_registry --idle-timeout 2 --max-connections-per-ip 4

t_idle() {
    run /usr/bin/python3 "$HELPER" idle "$REGISTRY_PORT"
    expect_success
    local k t
    for k in "nothing sent" "half a request head" "half a body" "a head trickled a byte every 0.5 s"; do
        t=$(jq -r --arg k "$k" '.[$k]' "$E2E_TMP/cmd.out")
        # checked once a second: closed between 2 and 3 s after the last byte (the first, for the
        # trickled head), with slack
        awk -v t="$t" 'BEGIN { exit !(t >= 1.5 && t <= 4.5) }' ||
            fail_diff "seconds until a connection with $k is closed (--idle-timeout 2)" "2 to 4.5" "$t"
    done
}
run_case "--idle-timeout 2: a connection that sent nothing, half a request head, or half a body, or that trickles its head a byte every 0.5 s (slowloris), is closed after ~2 s" t_idle

t_stalled_reader() {
    local body=$E2E_TMP/pull.bin digest got
    head -c $((20 * MIB)) /dev/urandom >"$body"
    digest=sha256:$(sha256_file "$body")
    req POST "/v2/e2e/stall/blobs/uploads/?digest=$digest" -H 'Content-Type: application/octet-stream' --data-binary "@$body"
    expect_status 201
    # reads nothing for 6 s, then all it can: the whole blob (and its head) unless berthd cut it
    run /usr/bin/python3 "$HELPER" stall "$REGISTRY_PORT" "/v2/e2e/stall/blobs/$digest" 6
    expect_success
    got=$(cmd_out)
    ((got < 20 * MIB)) || fail_diff "bytes a client that stopped reading for 6 s still gets (--idle-timeout 2)" \
        "fewer than the blob's $((20 * MIB)) (cut)" "$got"
}
run_case "--idle-timeout 2: a client that stops reading a 20 MiB blob download is cut" t_stalled_reader

t_slow_server_not_cut() {
    local body=$E2E_TMP/small.bin digest tracer loc code
    head -c 100000 /dev/urandom >"$body"
    digest=sha256:$(sha256_file "$body")
    req POST /v2/e2e/busy/blobs/uploads/
    expect_status 202
    loc=$(header Location)
    # Every sync of berthd held 4 s: the PUT below waits in the writer, twice the idle timeout.
    strace -f -p "$REGISTRY_PID" -e trace=fdatasync,fsync,msync -e inject=fdatasync,fsync,msync:delay_enter=4s \
        -o "$E2E_TMP/strace.out" 2>"$E2E_TMP/strace.err" &
    tracer=$!
    sleep 1
    kill -0 "$tracer" 2>/dev/null || unable "strace cannot attach to berthd here: $(head -c 200 "$E2E_TMP/strace.err")"
    req PUT "$loc?digest=$digest" -H 'Content-Type: application/octet-stream' --data-binary "@$body"
    code=$RESP_STATUS
    kill "$tracer"
    wait "$tracer" 2>/dev/null || true
    grep -q DELAYED "$E2E_TMP/strace.out" || unable "no sync was held (strace: $(head -c 200 "$E2E_TMP/strace.err"))"
    expect_eq "PUT status while the writer's sync is held 4 s (--idle-timeout 2)" 201 "$code"
}
run_case "a request the server is still working on (a sync held 4 s by strace) is not cut by --idle-timeout 2" t_slow_server_not_cut

t_per_ip_cap() {
    local holder
    /usr/bin/python3 "$HELPER" hold "$REGISTRY_PORT" 4 "$E2E_TMP/held4" &
    holder=$!
    for _ in $(seq 100); do
        [[ -e $E2E_TMP/held4 ]] && break
        sleep 0.05
    done
    sleep 0.3
    req GET /v2/
    kill "$holder"
    wait "$holder" 2>/dev/null || true
    expect_eq "GET /v2/ as a 5th connection from 127.0.0.1 (--max-connections-per-ip 4)" 503 "$RESP_STATUS"
    sleep 0.3
    req GET /v2/
    expect_status 200
}
run_case "--max-connections-per-ip 4: a 5th connection from one address gets 503; once the 4 close, it is served" t_per_ip_cap

# ---------------------------------------------------------------- anonymous bodies and --max-spool

export E2E_BERTH_AUTH=1
restart_registry --max-spool 16M --max-body 1G --idle-timeout 5
client_env

t_spool() {
    local flood pw body=$E2E_TMP/legit.bin digest loc spooled
    pw=$("${AWS[@]}" ecr get-login-password) || { fail "get-login-password failed"; return; }
    head -c 200000 /dev/urandom >"$body"
    digest=sha256:$(sha256_file "$body")
    # four anonymous 64 MiB bodies at 16 MiB/s each (~4 s): past 16M held, all but the largest are cut
    /usr/bin/python3 "$HELPER" bodies "$REGISTRY_PORT" 4 $((64 * MIB)) $((16 * MIB)) /v2/e2e/legit/blobs/uploads/ \
        >"$E2E_TMP/flood.out" &
    flood=$!
    sleep 1.5
    spooled=$(find "/proc/$REGISTRY_PID/fd" -lname '*h2o.b.*' | wc -l)
    req POST /v2/e2e/legit/blobs/uploads/ -u "AWS:$pw"
    expect_status 202
    loc=$(header Location)
    req PUT "$loc?digest=$digest" -u "AWS:$pw" -H 'Content-Type: application/octet-stream' --data-binary "@$body"
    expect_status 201
    wait "$flood" || true
    note "anonymous clients: $(cat "$E2E_TMP/flood.out"); spool files open 1.5 s in: $spooled"
    local cut
    cut=$(grep -o cut "$E2E_TMP/flood.out" | wc -l) || true
    ((cut >= 2)) || fail_diff "anonymous 64 MiB bodies cut (of 4, --max-spool 16M)" "at least 2" "$cut: $(cat "$E2E_TMP/flood.out")"
    grep -q 'reply 2' "$E2E_TMP/flood.out" && fail "an anonymous body was accepted: $(cat "$E2E_TMP/flood.out")"
    sleep 0.5
    expect_eq "spool files (h2o.b.*) berthd holds open once the flood is over" 0 \
        "$(find "/proc/$REGISTRY_PID/fd" -lname '*h2o.b.*' | wc -l)"
    req HEAD "/v2/e2e/legit/blobs/$digest" -u "AWS:$pw"
    expect_status 200
}
run_case "--max-spool 16M: of four anonymous 64 MiB bodies at least two are cut, a small authenticated push meanwhile succeeds, no spool file stays" t_spool
unset E2E_BERTH_AUTH

# ---------------------------------------------------------------- descriptor exhaustion

# berthd under a hard limit of 128 descriptors (raising cannot help), the rest of the script without.
cat >"$E2E_TMP/berthd-128" <<EOF
#!/bin/bash
ulimit -n 128 && exec "$BERTHD" "\$@"
EOF
chmod +x "$E2E_TMP/berthd-128"
BERTHD=$E2E_TMP/berthd-128 restart_registry --idle-timeout 3 --threads 2

# served_while_held READY-FILE WHAT: with 300 idle connections held (the holder
# writes READY-FILE once they are open), how long until a new client gets 200, and
# berthd's CPU time meanwhile: at most 8 s (--idle-timeout 3) and under 1.5 s.
served_while_held() {
    local ready=$1 what=$2 holder t0 c0 c1 served="" i code hz cpu_ms
    hz=$(getconf CLK_TCK)
    /usr/bin/python3 "$HELPER" hold "$REGISTRY_PORT" 300 "$ready" &
    holder=$!
    for _ in $(seq 200); do
        [[ -e $ready ]] && break
        sleep 0.05
    done
    c0=$(cpu_ticks "$REGISTRY_PID")
    t0=$(date +%s.%N)
    for ((i = 0; i < 40; i++)); do
        code=$(/usr/bin/curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/v2/") || true
        if [[ $code == 200 ]]; then
            served=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
            break
        fi
        sleep 0.25
    done
    c1=$(cpu_ticks "$REGISTRY_PID")
    kill "$holder"
    wait "$holder" 2>/dev/null || true
    cpu_ms=$(((c1 - c0) * 1000 / hz))
    note "$what, 300 idle connections: new client served after ${served:-never} s; berthd CPU meanwhile $cpu_ms ms"
    awk -v t="${served:-99}" 'BEGIN { exit !(t <= 8) }' ||
        fail_diff "seconds until a new client is served ($what, --idle-timeout 3)" "at most 8" "${served:-never}"
    ((cpu_ms < 1500)) || fail_diff "berthd CPU time ($what)" "under 1500 ms" "$cpu_ms ms"
}

t_fd_exhaustion() {
    served_while_held "$E2E_TMP/held300" "a 128-descriptor limit"
}
run_case "ulimit -n 128 and 300 idle connections: a new client is served within 8 s and berthd uses under 1.5 s of CPU meanwhile" t_fd_exhaustion


# The same berthd with its descriptors taken away at run time (prlimit): the cap, set at
# start, no longer keeps accept from failing, so the spare descriptor and the back-off must.
t_fd_taken() {
    local n
    n=$(find "/proc/$REGISTRY_PID/fd" -mindepth 1 | wc -l)
    # room for 8 more: accept fails long before the cap
    prlimit --pid "$REGISTRY_PID" --nofile=$((n + 8)):$((n + 8)) || { fail "prlimit failed"; return; }
    served_while_held "$E2E_TMP/held300b" "the descriptor limit lowered to $((n + 8))"
}
run_case "descriptors taken at run time (prlimit: 8 left) and 300 idle connections: accept neither spins nor leaves the backlog waiting; a new client is served within 8 s" t_fd_taken

finish
