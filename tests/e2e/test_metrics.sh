#!/bin/bash
# GET /metrics (issue 18): counters move as a scripted workload says
# (metrics_check.py: 3 pushes, 5 manifest GETs, a 404, a denied request),
# `promtool check metrics` finds nothing to lint, a real Prometheus scrapes
# berthd with a token file from `berth metrics-token create` (up == 1 and
# one of our series in its API), the token does nothing else, a deleted
# token is refused, --metrics-public needs no credentials, --no-metrics
# answers 404. One berthd with authentication, one python process.
#   BERTHD=build/server/berthd BERTH_CLI=build/cli/berth tests/e2e/test_metrics.sh
set -euo pipefail
BERTHD=${BERTHD:?set BERTHD to the berthd binary}
BERTH_CLI=${BERTH_CLI:?set BERTH_CLI to the berth binary}
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../ports.sh
source "$dir/../ports.sh"
for tool in "$PROMETHEUS" "$PROMTOOL"; do
    if [[ ! -x $tool ]]; then
        if [[ ${E2E_REQUIRE_ALL:-0} == 1 ]]; then
            echo "FAIL  $tool is not installed (Debian's prometheus package)"
            exit 1
        fi
        echo "SKIP  $tool is not installed (Debian's prometheus package)"
        exit 77
    fi
done
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-metrics.XXXXXX")
pid=""
prom=""
cleanup() {
    [[ -n $prom ]] && kill "$prom" 2>/dev/null && wait "$prom" 2>/dev/null
    [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null
    [[ ${KEEP:-0} == 1 ]] && echo "# kept $work" || rm -rf "$work"
}
trap cleanup EXIT
failures=0
pass() { echo "PASS  $*"; }
fail() {
    echo "FAIL  $*"
    failures=$((failures + 1))
}
expect() { # what command...: pass if the command succeeds
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
start_berthd() { # data-dir extra-options...: sets pid, port, base
    local data=$1
    shift
    port=$(free_port)
    base=http://127.0.0.1:$port
    "$BERTHD" --listen "127.0.0.1:$port" --data "$data" --threads 2 --gc-interval 0 "$@" 2>>"$work/berthd.log" &
    pid=$!
    for _ in $(seq 100); do
        curl -fs -o /dev/null "$base/healthz" && return 0
        sleep 0.05
    done
    fail "berthd did not start: $(tail -3 "$work/berthd.log")"
    exit 1
}
stop_berthd() {
    kill -TERM "$pid"
    wait "$pid" || true
    pid=""
}
status_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

start_berthd "$work/data" --access-log "$work/access.log"
export AWS_SHARED_CREDENTIALS_FILE=$work/data/admin-credentials AWS_CONFIG_FILE=/dev/null BERTH_ENDPOINT_URL=$base
expect "berth metrics-token create --token-file: the file is written mode 0600" \
    "$BERTH_CLI" metrics-token create --description prometheus --token-file "$work/token"
expect "... mode 0600" [ "$(stat -c %a "$work/token")" == 600 ]
token_id=$("$BERTH_CLI" metrics-token list | jq -r '.tokens[0].tokenId')
expect "berth metrics-token list shows its id and description, never the token" \
    bash -c "'$BERTH_CLI' metrics-token list | jq -e '.tokens | length == 1 and .[0].description == \"prometheus\" and (.[0] | has(\"token\") | not)'"

# --- the workload and its counters (boto3 and the registry API from one process)
/usr/bin/python3 "$dir/metrics_check.py" "$base" "$work/data/admin-credentials" "$work/token" >"$work/py.out" 2>"$work/py.err" || true
grep -E '^(PASS|FAIL)' "$work/py.out" || true
failures=$((failures + $(grep -c '^FAIL' "$work/py.out" || true)))
grep -q '^PASS  GET /metrics with a bad password' "$work/py.out" || fail "metrics_check.py did not finish: $(tail -5 "$work/py.err")"

# --- a garbage collection counts (its report is berth gc's output)
"$BERTH_CLI" gc --grace 0 >"$work/gc.json"
scrape=$(curl -s -H "Authorization: Bearer $(cat "$work/token")" "$base/metrics")
expect "berth gc: berth_gc_runs_total 1" grep -qx 'berth_gc_runs_total 1' <<<"$scrape"
expect "... it collected metrics_check.py's orphan blob (1 blob, 1000 bytes)" \
    jq -e '.blobsCollected == 1 and .bytesFreed == 1000' "$work/gc.json"
expect "... and berth_gc_blobs_collected_total 1, berth_gc_bytes_collected_total 1000" \
    bash -c 'grep -qx "berth_gc_blobs_collected_total 1" <<<"$1" && grep -qx "berth_gc_bytes_collected_total 1000" <<<"$1"' _ "$scrape"

# --- promtool's lint: any finding fails
curl -s -H "Authorization: Bearer $(cat "$work/token")" "$base/metrics" >"$work/metrics.txt"
if "$PROMTOOL" check metrics <"$work/metrics.txt" >"$work/promtool.out" 2>&1; then
    pass "promtool check metrics: no findings"
else
    fail "promtool check metrics: $(head -5 "$work/promtool.out")"
fi

# --- a real Prometheus scraping with the token file
pport=$(free_port)
cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: berth
    authorization:
      credentials_file: $work/token
    static_configs:
      - targets: ["127.0.0.1:$port"]
YML
"$PROMETHEUS" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom=$!
query() { curl -s --get "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1"; }
up="" series=""
for _ in $(seq 150); do
    up=$(query 'up{job="berth"}' 2>/dev/null | jq -r '.data.result[0].value[1] // empty' 2>/dev/null || true)
    series=$(query 'berth_http_requests_total{route="manifest",method="GET",status="200"}' 2>/dev/null |
        jq -r '.data.result[0].value[1] // empty' 2>/dev/null || true)
    [[ $up == 1 && -n $series ]] && break
    sleep 0.1
done
expect "Prometheus scrapes berthd with the token file: up == 1" [ "$up" == 1 ]
expect "... and has our series: manifest GETs 200 == 5 (got '$series')" [ "$series" == 5 ]
kill "$prom"
wait "$prom" 2>/dev/null || true
prom=""

# --- a deleted token is refused at once
expect "berth metrics-token delete" "$BERTH_CLI" metrics-token delete --token-id "$token_id"
expect "the deleted token: GET /metrics 401" \
    [ "$(status_of -H "Authorization: Bearer $(cat "$work/token")" "$base/metrics")" == 401 ]
expect "berth metrics-token delete of an unknown id: refused (exit 1)" \
    bash -c "'$BERTH_CLI' metrics-token delete --token-id $token_id; [ \$? == 1 ]"
stop_berthd
expect "the access log names a scrape's token by its id ..." grep -q "\"principal\":\"metrics-token/$token_id\"" "$work/access.log"
expect "... and never holds a token, nor does berthd's log" bash -c "! grep -q berthm_ '$work/access.log' '$work/berthd.log'"

# --- --metrics-public: no credentials needed; --no-metrics: no endpoint
start_berthd "$work/data" --metrics-public
expect "--metrics-public: GET /metrics without credentials 200" [ "$(status_of "$base/metrics")" == 200 ]
expect "... and the registry still wants credentials" [ "$(status_of "$base/v2/")" == 401 ]
stop_berthd
start_berthd "$work/data" --no-metrics
expect "--no-metrics: GET /metrics answers 404, as --help says" [ "$(status_of "$base/metrics")" == 404 ]
stop_berthd

echo "$failures failed"
[[ $failures == 0 ]]
