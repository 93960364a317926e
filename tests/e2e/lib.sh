# shellcheck shell=bash
# Shared helpers for Berth's end-to-end tests.  Source it; do not run it.
#
#   E2E_TARGET=berth      start $BERTHD (--insecure-no-auth) on a free loopback port
#   E2E_BERTH_AUTH=1      ... without --insecure-no-auth: authentication and policies on
#   E2E_BERTH_TLS=CERT:KEY ... serving HTTPS with these PEM files (BASE is https://; curl
#                         trusts the CA through CURL_CA_BUNDLE, which the caller sets)
#   E2E_TARGET=reference  start Debian's docker-registry (CNCF distribution 2.8.2)
#   E2E_TARGET=external   use the registry already listening at $E2E_REGISTRY (host:port),
#                         judged by Berth's expectations unless E2E_EXPECT=reference
#   E2E_KEEP=1            keep the temp dir (registry data, logs, responses) after exit
#   E2E_VERBOSE=1         print every request line as it is sent
#   E2E_FORCE_BERTH_ONLY=1  run Berth-only cases on the reference too (they fail there)
#
# A test script is a list of cases.  A case is a shell function run in a subshell by
# `run_case "sentence saying what it pins" fn`; inside it, `req` sends one request and
# the expect_* helpers check the reply.  A failed expectation prints a diff
# (- expected / + actual) and marks the case FAILED, but the case goes on so that one run
# shows every difference.  `finish` prints "N passed, N failed, N skipped" and exits.

set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_TARGET=${E2E_TARGET:-reference}
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-e2e.XXXXXX")
# Whose expectations apply: Berth's, or the reference's where it is known to differ.
case $E2E_TARGET in
reference) E2E_EXPECT=reference ;;
external) E2E_EXPECT=${E2E_EXPECT:-berth} ;;
*) E2E_EXPECT=berth ;;
esac
export E2E_DIR E2E_TARGET E2E_TMP E2E_EXPECT

# Go clients canonicalise header names; we compare names case-insensitively everywhere.
readonly E2E_API_VERSION_HEADER="Docker-Distribution-API-Version"
readonly E2E_API_VERSION="registry/2.0"
# How long a registry may take to answer GET /v2/ after it is started.
readonly E2E_START_TIMEOUT_TENTHS=150
# Longest a single curl request may take (the biggest body here is 4 MiB on loopback).
readonly E2E_REQUEST_TIMEOUT=60

E2E_PASSED=0
E2E_FAILED=0
E2E_SKIPPED=0
E2E_FAILED_NAMES=()
E2E_CLEANUPS=()
REGISTRY_PID=""
REGISTRY_LOG=""
REGISTRY_PORT=""
REGISTRY=""  # host:port
BASE=""      # http://host:port

# ---------------------------------------------------------------- cleanup

# at_exit CMD...: run CMD when the script exits (last registered runs first).
at_exit() {
    E2E_CLEANUPS+=("$*")
}

e2e_cleanup() {
    local i
    for ((i = ${#E2E_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${E2E_CLEANUPS[$i]}" >/dev/null 2>&1 || true
    done
    if [[ -n $REGISTRY_PID ]]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
    fi
    if [[ ${E2E_KEEP:-0} == 1 ]]; then
        echo "# kept $E2E_TMP" >&2
    else
        rm -rf "$E2E_TMP"
    fi
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

note() { printf '# %s\n' "$*"; }

# skip_all REASON: the whole script cannot run here; ctest maps exit 77 to "skipped".
# Under E2E_REQUIRE_ALL=1 (scripts/test-all, so CI) a script that cannot run fails:
# a missing client or a dockerd that does not start must not pass as a skip.
# A reference-registry run of a Berth-only script still skips.
skip_all() {
    if [[ ${E2E_REQUIRE_ALL:-0} == 1 ]] && [[ ${E2E_TARGET:-berth} == berth ]]; then
        printf 'FAIL  (all) %s (E2E_REQUIRE_ALL=1: a script that cannot run fails)\n' "$*"
        printf '0 passed, 1 failed, 0 skipped\n'
        exit 1
    fi
    printf 'SKIP  (all) %s\n' "$*"
    printf '0 passed, 0 failed, 1 skipped\n'
    exit 77
}

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || skip_all "required tool '$tool' is not installed"
    done
}

is_berth() { [[ $E2E_EXPECT == berth ]]; }
is_reference() { [[ $E2E_EXPECT == reference ]]; }

# ---------------------------------------------------------------- registry

# shellcheck source=../ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/../ports.sh"

# wait_http URL: wait until URL answers any HTTP status; fail after the start timeout.
wait_http() {
    local url=$1 pid=${2:-} i code
    for ((i = 0; i < E2E_START_TIMEOUT_TENTHS; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null) || code=000
        [[ $code != 000 ]] && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

write_reference_config() {
    local root=$1 port=$2
    cat <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $root
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
EOF
}

# make_test_pki DIR: a CA (DIR/ca.pem, and DIR/certs.d/ca.crt for containers/image's
# cert dirs) and a server certificate for 127.0.0.1 (DIR/server.pem, DIR/server.key),
# valid one day.
make_test_pki() {
    local d=$1
    mkdir -p "$d/certs.d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=Berth e2e CA" \
        -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 1 \
        -extfile "$d/ext" -out "$d/server.pem" 2>/dev/null
    cp "$d/ca.pem" "$d/certs.d/ca.crt"
}

# AWS_CLI: the command that runs Debian's AWS CLI. Each /usr/bin/aws process spends
# about a second of CPU importing awscli before it sends anything, and the suites make
# hundreds of calls in each of two builds on CI's two cores; so unless E2E_AWS_COLD=1,
# aws_cli_warm starts aws_warm.py once per script, which imports Debian's awscli once
# and forks a child per call that runs the same awscli.clidriver.main with the
# caller's environment, working directory and file descriptors.
AWS_CLI=(/usr/bin/aws)
AWS_WARM_PID=""
aws_cli_warm() {
    [[ ${E2E_AWS_COLD:-0} == 1 || -n $AWS_WARM_PID ]] && return 0
    local sock=$E2E_TMP/aws-warm.sock i
    /usr/bin/python3 -I "$E2E_DIR/aws_warm.py" serve "$sock" >"$E2E_TMP/aws-warm.log" 2>&1 &
    AWS_WARM_PID=$!
    at_exit "kill $AWS_WARM_PID"
    for ((i = 0; i < 600; i++)); do
        [[ -S $sock ]] && break
        kill -0 "$AWS_WARM_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! -S $sock ]]; then
        note "aws_warm.py did not start ($(tail -n 3 "$E2E_TMP/aws-warm.log" | tr '\n' ' ')): calling /usr/bin/aws"
        return 0
    fi
    AWS_CLI=(/usr/bin/python3 -I "$E2E_DIR/aws_warm.py" call "$sock")
}

# client_env: after start_registry with E2E_BERTH_AUTH=1, point the clients at this
# registry and nothing else: the AWS CLI at the first-start administrator's key
# (CREDS) through AWS (Debian's AWS CLI v2: a pip-installed v1 earlier on PATH prints
# other formats and exit codes), skopeo at an empty auth file and an accept-all
# policy through SKOPEO.
client_env() {
    CREDS=$REGISTRY_DATA/admin-credentials
    export AWS_SHARED_CREDENTIALS_FILE=$CREDS AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
    aws_cli_warm
    AWS=("${AWS_CLI[@]}" --endpoint-url "$BASE" --region us-east-1)
    export REGISTRY_AUTH_FILE="$E2E_TMP/auth.json"
    echo '{}' >"$REGISTRY_AUTH_FILE"
    echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$E2E_TMP/policy.json"
    SKOPEO=(skopeo --policy "$E2E_TMP/policy.json")
}

# changed_at STRING INDEX: STRING with its character at INDEX (negative: from the
# end) replaced by a different one. Replacing it with a fixed character would leave
# the string unchanged whenever it already was that character (1 time in 64 for a
# base64 secret or token), and a test of a forged credential would then flake. As a
# base64 digit the new one differs in its top bit, so even the last digit of an
# encoding (whose low bits may be padding) changes the decoded bytes.
changed_at() {
    local s=$1 i=$2 r=A
    ((i < 0)) && i=$((${#s} + i))
    [[ ${s:i:1} == [A-Za-f] ]] && r=g
    printf '%s' "${s:0:i}$r${s:i+1}"
}

# start_authenticated_registry: start berthd with authentication on (over HTTPS with a
# CA made here when E2E_AUTH_TLS=1; curl and the AWS CLI trust it), build the test
# image (its digests.env sourced), and set up the clients (client_env).
start_authenticated_registry() {
    export E2E_BERTH_AUTH=1
    if [[ ${E2E_AUTH_TLS:-0} == 1 ]]; then
        need openssl
        make_test_pki "$E2E_TMP/pki"
        export E2E_BERTH_TLS=$E2E_TMP/pki/server.pem:$E2E_TMP/pki/server.key
        export CURL_CA_BUNDLE=$E2E_TMP/pki/ca.pem AWS_CA_BUNDLE=$E2E_TMP/pki/ca.pem
    fi
    start_registry
    "$E2E_DIR/make-test-image.sh" "$E2E_TMP/img" >/dev/null
    # shellcheck source=/dev/null
    source "$E2E_TMP/img/digests.env"
    client_env
}

# berth_mode_flags: BERTH_MODE_FLAGS=(berthd's flags for E2E_BERTH_AUTH and E2E_BERTH_TLS).
berth_mode_flags() {
    BERTH_MODE_FLAGS=(--insecure-no-auth)
    [[ ${E2E_BERTH_AUTH:-0} == 1 ]] && BERTH_MODE_FLAGS=()
    [[ -n ${E2E_BERTH_TLS:-} ]] && BERTH_MODE_FLAGS+=(--tls-cert "${E2E_BERTH_TLS%%:*}" --tls-key "${E2E_BERTH_TLS#*:}")
    return 0
}

# start_registry: start the target registry with a fresh data dir, wait for GET /v2/,
# set REGISTRY (host:port) and BASE (http://host:port).  The EXIT trap stops it.
start_registry() {
    local attempt port data log
    if [[ $E2E_TARGET == external ]]; then
        [[ -n ${E2E_REGISTRY:-} ]] || { echo "E2E_TARGET=external needs E2E_REGISTRY=host:port" >&2; exit 2; }
        REGISTRY=$E2E_REGISTRY
        BASE="http://$REGISTRY"
        REGISTRY_PORT=${REGISTRY##*:}
        export REGISTRY REGISTRY_PORT BASE
        wait_http "$BASE/v2/" || { echo "no registry answers at $BASE/v2/" >&2; exit 1; }
        note "target external at $REGISTRY"
        return 0
    fi
    case $E2E_TARGET in
    berth)
        [[ -n ${BERTHD:-} && -x ${BERTHD:-} ]] || { echo "E2E_TARGET=berth needs BERTHD=/path/to/berthd" >&2; exit 2; } ;;
    reference)
        command -v docker-registry >/dev/null 2>&1 || skip_all "docker-registry (the reference registry) is not installed" ;;
    *)
        echo "unknown E2E_TARGET '$E2E_TARGET' (berth, reference or external)" >&2
        exit 2 ;;
    esac
    for ((attempt = 0; attempt < 5; attempt++)); do
        port=$(free_port)
        data="$E2E_TMP/registry-data.$attempt"
        log="$E2E_TMP/registry.$attempt.log"
        mkdir -p "$data"
        if is_berth; then
            berth_mode_flags
            "$BERTHD" --listen "127.0.0.1:$port" --data "$data" "${BERTH_MODE_FLAGS[@]}" >"$log" 2>&1 &
        else
            write_reference_config "$data" "$port" >"$E2E_TMP/config.$attempt.yml"
            docker-registry serve "$E2E_TMP/config.$attempt.yml" >"$log" 2>&1 &
        fi
        REGISTRY_PID=$!
        local scheme=http
        [[ -n ${E2E_BERTH_TLS:-} ]] && is_berth && scheme=https
        if wait_http "$scheme://127.0.0.1:$port/v2/" "$REGISTRY_PID"; then
            REGISTRY_PORT=$port
            REGISTRY="127.0.0.1:$port"
            BASE="$scheme://$REGISTRY"
            REGISTRY_LOG=$log
            REGISTRY_DATA=$data
            export REGISTRY REGISTRY_PORT REGISTRY_LOG REGISTRY_DATA BASE
            note "target $E2E_TARGET at $REGISTRY (pid $REGISTRY_PID, data $data)"
            return 0
        fi
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
        REGISTRY_PID=""
        echo "registry did not come up on port $port; its log:" >&2
        sed 's/^/    /' "$log" >&2 || true
    done
    echo "start_registry: giving up" >&2
    exit 1
}

# restart_registry [FLAGS...]: stop berthd (SIGTERM) and start it again on the same port
# and data dir, with FLAGS added.  Call it between cases, not inside one (a case runs
# in a subshell).
restart_registry() {
    is_berth && [[ $E2E_TARGET == berth ]] || { echo "restart_registry: only for E2E_TARGET=berth" >&2; exit 2; }
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
    berth_mode_flags
    "$BERTHD" --listen "$REGISTRY" --data "$REGISTRY_DATA" "${BERTH_MODE_FLAGS[@]}" "$@" >>"$REGISTRY_LOG" 2>&1 &
    REGISTRY_PID=$!
    wait_http "$BASE/v2/" "$REGISTRY_PID" || { echo "restart_registry: berthd did not come back" >&2; exit 1; }
    note "restarted berthd (pid $REGISTRY_PID)"
}

# ---------------------------------------------------------------- cases

# run_case NAME FN [ARGS...]: run FN in a subshell; PASS if it ran to the end and no
# expectation failed, SKIP if it called skip_case/berth_only on this target.
run_case() {
    local name=$1 rc
    shift
    : >"$E2E_TMP/case.failures"
    : >"$E2E_TMP/case.skip"
    set +e
    (
        set -euo pipefail
        export E2E_CASE=$name
        "$@"
    ) >"$E2E_TMP/case.out" 2>&1
    rc=$?
    set -e
    if [[ ${E2E_VERBOSE:-0} == 1 ]]; then
        sed 's/^/      . /' "$E2E_TMP/case.out"
    fi
    if [[ $rc == 77 ]]; then
        E2E_SKIPPED=$((E2E_SKIPPED + 1))
        printf 'SKIP  %s  (%s)\n' "$name" "$(cat "$E2E_TMP/case.skip")"
    elif [[ $rc == 0 && ! -s $E2E_TMP/case.failures ]]; then
        E2E_PASSED=$((E2E_PASSED + 1))
        printf 'PASS  %s\n' "$name"
    else
        E2E_FAILED=$((E2E_FAILED + 1))
        E2E_FAILED_NAMES+=("$name")
        printf 'FAIL  %s\n' "$name"
        if [[ $rc != 0 ]]; then
            printf '      case aborted with exit status %s; its output:\n' "$rc"
            sed 's/^/      | /' "$E2E_TMP/case.out"
        fi
        sed 's/^/      /' "$E2E_TMP/case.failures"
    fi
    return 0
}

# fail MESSAGE...: record a failed expectation (the case goes on).
fail() {
    {
        if [[ -n ${E2E_LAST_REQUEST:-} ]]; then
            printf '> %s\n' "$E2E_LAST_REQUEST"
        fi
        printf '%s\n' "$@"
    } >>"$E2E_TMP/case.failures"
}

# fail_diff WHAT EXPECTED ACTUAL [MORE-LINES...]
fail_diff() {
    fail "$1" "- expected: $2" "+ actual:   $3" "${@:4}"
}

# skip_case REASON: end the case as skipped.
skip_case() {
    printf '%s' "$*" >"$E2E_TMP/case.skip"
    exit 77
}

# Differences between the reference registry and what Berth must do are recorded once,
# printed at the end of a reference run.  On the reference, a Berth-only case is skipped.
E2E_DIFFS_FILE="$E2E_TMP/differences"
: >"$E2E_DIFFS_FILE"

# differs NOTE: record a known reference-vs-Berth difference (no-op on Berth).
differs() {
    if ! is_berth; then
        printf '%s\n' "$*" >>"$E2E_DIFFS_FILE"
    fi
}

# berth_only NOTE: the rest of this case pins a Berth requirement the reference lacks.
# E2E_FORCE_BERTH_ONLY=1 runs them anyway (to see the reference's answers as diffs).
berth_only() {
    if ! is_berth && [[ ${E2E_FORCE_BERTH_ONLY:-0} != 1 ]]; then
        differs "$*"
        skip_case "Berth-only; reference: $*"
    fi
}

# finish: summary line (the "N passed, N failed" line CI reads) and exit status.
finish() {
    local n
    if [[ -s $E2E_DIFFS_FILE ]] && ! is_berth; then
        echo "# Known differences of the reference registry from Berth's requirements:"
        sort -u "$E2E_DIFFS_FILE" | sed 's/^/#   - /'
    fi
    if ((E2E_FAILED > 0)); then
        echo "# failed cases:"
        for n in "${E2E_FAILED_NAMES[@]}"; do
            echo "#   $n"
        done
        if [[ -s ${REGISTRY_LOG:-} ]]; then
            echo "# last lines of the registry's log ($REGISTRY_LOG):"
            tail -n 20 "$REGISTRY_LOG" | cut -c1-300 | sed 's/^/#   /'
        fi
    fi
    printf '%d passed, %d failed, %d skipped\n' "$E2E_PASSED" "$E2E_FAILED" "$E2E_SKIPPED"
    ((E2E_FAILED == 0))
    exit $?
}

# ---------------------------------------------------------------- requests

# req METHOD PATH-OR-URL [CURL-ARGS...]: send one request; the reply goes to
# $RESP_STATUS, $E2E_TMP/resp.headers (last response's header block, CR stripped)
# and $E2E_TMP/resp.body.  Every reply must carry Docker-Distribution-API-Version.
req() {
    local method=$1 target=$2 url
    shift 2
    url=$(abs_url "$target")
    E2E_LAST_REQUEST="$method $target${*:+  [curl $*]}"
    [[ ${E2E_VERBOSE:-0} == 1 ]] && printf '> %s\n' "$E2E_LAST_REQUEST"
    # HEAD: --head (with -X HEAD curl would wait for the body Content-Length announces);
    # curl then writes the headers to -o as well, so the body of a HEAD reply is not seen.
    local -a how=(-X "$method" -o "$E2E_TMP/resp.body")
    [[ $method == HEAD ]] && how=(--head -o /dev/null)
    : >"$E2E_TMP/resp.body"
    # curl exits non-zero on some valid replies (e.g. a 416 to a Range request); the
    # status it printed still stands.  No status at all means no reply.
    RESP_STATUS=$(curl -sS --path-as-is --max-time "$E2E_REQUEST_TIMEOUT" "${how[@]}" -D "$E2E_TMP/resp.raw" \
        -w '%{http_code}' "$@" "$url" \
        2>"$E2E_TMP/resp.curlerr") || true
    [[ -n $RESP_STATUS ]] || RESP_STATUS=000
    # Keep only the last header block (a 100 Continue may precede the real one).
    tr -d '\r' <"$E2E_TMP/resp.raw" | awk '/^HTTP\//{n++; buf=""} {buf = buf $0 "\n"} END{printf "%s", buf}' \
        >"$E2E_TMP/resp.headers"
    if [[ $RESP_STATUS == 000 ]]; then
        fail "no HTTP reply: $(cat "$E2E_TMP/resp.curlerr")"
        return 0
    fi
    local v
    v=$(header "$E2E_API_VERSION_HEADER")
    if [[ $v != "$E2E_API_VERSION" ]]; then
        fail_diff "header $E2E_API_VERSION_HEADER (required on every reply, status $RESP_STATUS)" \
            "$E2E_API_VERSION" "${v:-(absent)}"
    fi
}

# abs_url PATH-OR-URL: resolve a path (or a relative Location) against $BASE.
abs_url() {
    case $1 in
    http://* | https://*) printf '%s' "$1" ;;
    /*) printf '%s%s' "$BASE" "$1" ;;
    *) printf '%s/%s' "$BASE" "$1" ;;
    esac
}

# header NAME: value of header NAME in the last reply (first occurrence), empty if absent.
header() {
    awk -v want="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
        NR > 1 {
            i = index($0, ":"); if (i == 0) next
            name = tolower(substr($0, 1, i - 1))
            if (name == want) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); print v; exit }
        }' "$E2E_TMP/resp.headers"
}

has_header() {
    grep -qi "^$1:" <(tail -n +2 "$E2E_TMP/resp.headers")
}

body() { cat "$E2E_TMP/resp.body"; }

# ---------------------------------------------------------------- expectations

expect_status() {
    local want=$1
    if [[ $RESP_STATUS != "$want" ]]; then
        fail_diff "status" "$want" "$RESP_STATUS$(body_hint)"
    fi
}

# expect_status_line LINE: the reply's status line as sent, reason phrase included
# (ask curl for --http1.1: HTTP/2 has no reason phrase).
expect_status_line() {
    local want=$1 got
    got=$(head -n 1 "$E2E_TMP/resp.headers")
    [[ $got == "$want" ]] || fail_diff "status line" "$want" "$got"
}

# expect_status_target BERTH REFERENCE NOTE: the reference is known to answer differently.
expect_status_target() {
    local berth=$1 ref=$2 why=$3
    if is_berth; then
        expect_status "$berth"
    else
        differs "$why (Berth: $berth, reference: $ref)"
        expect_status "$ref"
    fi
}

body_hint() {
    local b
    b=$(head -c 300 "$E2E_TMP/resp.body" | tr -d '\n' | tr -c '[:print:]' '?')
    [[ -n $b ]] && printf '  body: %s' "$b"
    return 0
}

# expect_header NAME VALUE: header present with exactly VALUE.
expect_header() {
    local name=$1 want=$2 got
    if ! has_header "$name"; then
        fail_diff "header $name" "$want" "(absent)"
        return 0
    fi
    got=$(header "$name")
    [[ $got == "$want" ]] || fail_diff "header $name" "$want" "$got"
}

# expect_header_match NAME ERE: header present and matching the extended regex.
expect_header_match() {
    local name=$1 re=$2 got
    if ! has_header "$name"; then
        fail_diff "header $name" "/$re/" "(absent)"
        return 0
    fi
    got=$(header "$name")
    [[ $got =~ $re ]] || fail_diff "header $name" "/$re/" "$got"
}

expect_header_present() {
    has_header "$1" || fail_diff "header $1" "(present)" "(absent)"
}

expect_header_absent() {
    has_header "$1" && fail_diff "header $1" "(absent)" "$(header "$1")"
    return 0
}

# expect_json_error CODE: body is {"errors":[{"code":CODE,"message":"…",…},…]} and a
# JSON Content-Type.  "detail" may be any JSON value (the spec makes it optional).
expect_json_error() {
    local want=$1 codes ct
    if ! jq -e 'type == "object" and (.errors | type == "array" and length > 0)
                and all(.errors[]; (.code | type == "string") and (.message | type == "string"))' \
        "$E2E_TMP/resp.body" >/dev/null 2>&1; then
        fail_diff "error body shape" '{"errors":[{"code":"'"$want"'","message":"…","detail":…}]}' \
            "$(head -c 300 "$E2E_TMP/resp.body")"
        return 0
    fi
    codes=$(jq -r '[.errors[].code] | join(",")' "$E2E_TMP/resp.body")
    # WANT may list alternatives the spec allows: "BLOB_UNKNOWN|NAME_UNKNOWN".
    jq -e --arg c "$want" 'any(.errors[]; .code as $x | $c | split("|") | index($x) != null)' \
        "$E2E_TMP/resp.body" >/dev/null || fail_diff "error code" "$want" "$codes"
    # Berth always sends "detail" (any JSON value); the reference omits it on some errors.
    if ! jq -e 'all(.errors[]; has("detail"))' "$E2E_TMP/resp.body" >/dev/null; then
        if is_berth; then
            fail_diff "error body: every error has a \"detail\" member" '"detail": …' "$(head -c 300 "$E2E_TMP/resp.body")"
        else
            differs "error bodies: the reference omits \"detail\" on some errors (BLOB_UNKNOWN, DIGEST_INVALID, MANIFEST_UNKNOWN, …); Berth always sends it"
        fi
    fi
    ct=$(header Content-Type)
    [[ $ct == application/json* ]] || fail_diff "header Content-Type of an error" "application/json…" "${ct:-(absent)}"
}

# expect_json_error_target BERTH-CODE REFERENCE-CODE NOTE: the reference answers another code.
expect_json_error_target() {
    if is_berth; then
        expect_json_error "$1"
    else
        differs "$3 (Berth: $1, reference: $2)"
        expect_json_error "$2"
    fi
}

# expect_body_file FILE: body is byte-for-byte FILE.
expect_body_file() {
    if ! cmp -s "$1" "$E2E_TMP/resp.body"; then
        fail_diff "body" "$(wc -c <"$1") bytes, sha256:$(sha256_file "$1")" \
            "$(wc -c <"$E2E_TMP/resp.body") bytes, sha256:$(sha256_file "$E2E_TMP/resp.body")$(body_hint)"
    fi
}

# expect_body TEXT: body is exactly TEXT (no trailing newline added).
expect_body() {
    local got
    got=$(cat "$E2E_TMP/resp.body"; printf x)
    got=${got%x}
    [[ $got == "$1" ]] || fail_diff "body" "$1" "$got"
}

expect_body_empty() {
    [[ ! -s $E2E_TMP/resp.body ]] || fail_diff "body" "(empty)" "$(head -c 300 "$E2E_TMP/resp.body")"
}

# expect_jq FILTER VALUE: `jq -c FILTER` on the body prints VALUE.
expect_jq() {
    local filter=$1 want=$2 got
    got=$(jq -c "$filter" "$E2E_TMP/resp.body" 2>&1) || got="(jq failed: $got) body: $(head -c 300 "$E2E_TMP/resp.body")"
    [[ $got == "$want" ]] || fail_diff "json $filter" "$want" "$got"
}

# expect_eq WHAT EXPECTED ACTUAL: a general comparison with a diff.
expect_eq() {
    [[ $2 == "$3" ]] || fail_diff "$1" "$2" "$3"
}

# ---------------------------------------------------------------- content

sha256_file() { sha256sum "$1" | cut -d' ' -f1; }
sha256_str() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
file_size() { stat -c %s "$1"; }

# ---------------------------------------------------------------- a private dockerd

# How long a private dockerd may take to answer on its socket.
readonly E2E_DOCKERD_START_TENTHS=300

# dockerd_start [DOCKERD FLAGS...]: starts a dockerd of the script's own under
# $E2E_TMP/docker (DK): vfs storage, no iptables, no default bridge, its own socket
# (DOCKER_HOST) and client config (DOCKER_CONFIG), both exported; DOCKERD_PID. It does
# not wait (dockerd_wait), so the caller can start berthd meanwhile, and registers
# dockerd_stop at exit unless the caller passes E2E_DOCKERD_OWN_STOP=1 (and calls it).
dockerd_start() {
    DK=$E2E_TMP/docker
    mkdir -p "$DK/data" "$DK/exec" "$DK/config"
    export DOCKER_HOST="unix://$DK/docker.sock" DOCKER_CONFIG="$DK/config"
    echo '{}' >"$DOCKER_CONFIG/config.json"
    dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
        --host "$DOCKER_HOST" --data-root "$DK/data" --exec-root "$DK/exec" --pidfile "$DK/pid" "$@" \
        >"$DK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    [[ ${E2E_DOCKERD_OWN_STOP:-0} == 1 ]] || at_exit dockerd_stop
}

# dockerd_wait: until the private dockerd answers; the script is skipped (its log's last
# lines in the reason) when it exits or does not answer in time.
dockerd_wait() {
    local i
    for ((i = 0; i < E2E_DOCKERD_START_TENTHS; i++)); do
        docker version >/dev/null 2>&1 && break
        if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
            skip_all "dockerd exited during start-up; its log ends with: $(tail -n 5 "$DK/dockerd.log" | tr '\n' ' ')"
        fi
        sleep 0.1
    done
    docker version >/dev/null 2>&1 ||
        skip_all "dockerd did not answer on $DOCKER_HOST within $((E2E_DOCKERD_START_TENTHS / 10)) s; its log ends with: $(tail -n 5 "$DK/dockerd.log" | tr '\n' ' ')"
    note "dockerd $(docker version --format '{{.Server.Version}}') on $DOCKER_HOST (pid $DOCKERD_PID)"
}

# dockerd_stop: the containers and bridge networks go first (dockerd would leave their
# bridges behind), then dockerd (it stops its own containerd), and the bind mounts of the
# host's netns that a bridge network leaves in the exec root.
dockerd_stop() {
    local i
    docker ps -aq 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
    docker network ls -q --filter driver=bridge 2>/dev/null | xargs -r docker network rm >/dev/null 2>&1
    kill "$DOCKERD_PID" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    grep -o " $DK/[^ ]*" /proc/mounts | sort -r | xargs -r umount -l
}

# ---------------------------------------------------------------- client commands

# run CMD...: run a client command (bounded by E2E_CMD_TIMEOUT seconds, default 120);
# its exit status goes to $CMD_STATUS, stdout to $E2E_TMP/cmd.out, stderr to cmd.err.
run() {
    E2E_LAST_REQUEST="\$ $*"
    [[ ${E2E_VERBOSE:-0} == 1 ]] && printf '%s\n' "$E2E_LAST_REQUEST"
    CMD_STATUS=0
    timeout "${E2E_CMD_TIMEOUT:-120}" "$@" >"$E2E_TMP/cmd.out" 2>"$E2E_TMP/cmd.err" </dev/null || CMD_STATUS=$?
}

# run_stdin CMD...: as run, but CMD reads this shell's stdin (a here-document: run
# itself gives its command /dev/null, so `run python3 - <<EOF` would run nothing).
run_stdin() {
    E2E_LAST_REQUEST="\$ $* <stdin"
    [[ ${E2E_VERBOSE:-0} == 1 ]] && printf '%s\n' "$E2E_LAST_REQUEST"
    CMD_STATUS=0
    timeout "${E2E_CMD_TIMEOUT:-120}" "$@" >"$E2E_TMP/cmd.out" 2>"$E2E_TMP/cmd.err" || CMD_STATUS=$?
}

cmd_out() { cat "$E2E_TMP/cmd.out"; }

# expect_exit N: the last `run` exited with N (a diff shows the end of its stderr).
expect_exit() {
    if [[ $CMD_STATUS != "$1" ]]; then
        fail_diff "exit status" "$1" "$CMD_STATUS" "  stderr (last lines):" \
            "$(tail -n 5 "$E2E_TMP/cmd.err" | cut -c1-400 | sed 's/^/    /')"
    fi
}

# expect_success: `run` exited 0; otherwise the case stops here (nothing after it can hold).
expect_success() {
    if [[ $CMD_STATUS != 0 ]]; then
        expect_exit 0
        exit 1
    fi
}

# expect_stderr_match ERE: the last command's stderr matches (e.g. an error code it printed).
expect_stderr_match() {
    grep -Eq -- "$1" "$E2E_TMP/cmd.err" ||
        fail_diff "stderr" "/$1/" "$(tail -n 3 "$E2E_TMP/cmd.err" | cut -c1-400)"
}

# expect_stderr_no_match ERE: the last command's stderr has no line matching ERE.
expect_stderr_no_match() {
    if grep -Eq -- "$1" "$E2E_TMP/cmd.err"; then
        fail_diff "stderr" "no line matching /$1/" "$(grep -E -m 3 -- "$1" "$E2E_TMP/cmd.err" | cut -c1-400)"
    fi
    return 0
}

# expect_out_jq FILTER VALUE: `jq -c FILTER` on the last command's stdout prints VALUE.
expect_out_jq() {
    local got
    got=$(jq -c "$1" "$E2E_TMP/cmd.out" 2>&1) || got="(jq failed: $got) stdout: $(head -c 300 "$E2E_TMP/cmd.out")"
    [[ $got == "$2" ]] || fail_diff "stdout | jq $1" "$2" "$got"
}

# expect_out_file FILE: the last command's stdout is byte-for-byte FILE.
expect_out_file() {
    cmp -s "$1" "$E2E_TMP/cmd.out" ||
        fail_diff "stdout" "$(wc -c <"$1") bytes, sha256:$(sha256_file "$1")" \
            "$(wc -c <"$E2E_TMP/cmd.out") bytes, sha256:$(sha256_file "$E2E_TMP/cmd.out")"
}
