#!/bin/bash
# Operating berthd (issue 18): --config FILE (the command line overrides it;
# a bad key or value is named with its line), GET /healthz and /readyz
# without credentials or detail, the access log (one JSON line per request,
# never a secret or a query), SIGHUP under load (the log reopened after
# logrotate's rename, the TLS certificate reloaded for new handshakes, open
# connections kept; a bad certificate keeps the old one), SIGTERM exits 0.
# One berthd, one python process (ops_check.py) for the load and boto3.
#   BERTHD=build/server/berthd tests/e2e/test_ops.sh
set -euo pipefail
BERTHD=${BERTHD:?set BERTHD to the berthd binary}
dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../ports.sh
source "$dir/../ports.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-ops.XXXXXX")
pid=""
cleanup() {
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
    if "$@" >/dev/null; then pass "$what"; else fail "$what"; fi
}

# --- the config file's refusals name the file, the line and the key
printf '# berthd\nlisten = 127.0.0.1:1\n\nthreads = 0\n' >"$work/bad.conf"
rc=0
"$BERTHD" --config "$work/bad.conf" 2>"$work/err" || rc=$?
expect "a bad value: exit 2 naming the line and the key" \
    [ "$rc:$(cat "$work/err")" == "2:berthd: $work/bad.conf line 4: threads takes a number from 1 to 64" ]
printf 'listen = 127.0.0.1:1\ntls-certificate = x\n' >"$work/bad.conf"
rc=0
"$BERTHD" --config "$work/bad.conf" 2>"$work/err" || rc=$?
expect "an unknown key: exit 2 naming the line and the key" \
    [ "$rc:$(cat "$work/err")" == "2:berthd: $work/bad.conf line 2: unknown key tls-certificate" ]

# --- two certificates for 127.0.0.1 from one CA
pki=$work/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=Berth ops CA" \
    -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$pki/ext"
for n in a b; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1 $n" \
        -keyout "$pki/$n.key" -out "$pki/$n.csr" 2>/dev/null
    openssl x509 -req -in "$pki/$n.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -days 1 \
        -extfile "$pki/ext" -out "$pki/$n.pem" 2>/dev/null
done
cp "$pki/a.pem" "$pki/server.pem"
cp "$pki/a.key" "$pki/server.key"
fingerprint() { openssl x509 -noout -fingerprint -sha256; }
served() { openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | fingerprint; }

# --- berthd from a config file; --threads on the command line overrides the file's
port=$(free_port)
base=https://127.0.0.1:$port
log=$work/access.log
cat >"$work/berthd.conf" <<CONF
# berthd for test_ops.sh
listen = 127.0.0.1:$port
data = $work/data
tls-cert = $pki/server.pem
tls-key = $pki/server.key
access-log = $log
threads = 1
shutdown-timeout = 5
gc-interval = 0
CONF
"$BERTHD" --config "$work/berthd.conf" --threads 2 2>"$work/berthd.log" &
pid=$!
export CURL_CA_BUNDLE=$pki/ca.pem
for _ in $(seq 100); do
    curl -fs -o /dev/null "$base/readyz" && break
    sleep 0.05
done
expect "berthd serves https as the config file says, with the command line's --threads 2" \
    grep -q "on https://127.0.0.1:$port, data in $work/data, 2 threads" "$work/berthd.log"

# --- health: no credentials, no detail
for p in healthz readyz; do
    got=$(curl -s -D "$work/h" "$base/$p")
    expect "GET /$p without credentials: 200 ok" [ "$(head -1 "$work/h" | tr -d '\r')$got" == "HTTP/1.1 200 OKok" ]
    expect "GET /$p says nothing of the version or the data directory" \
        bash -c "! grep -qiE '0\.1\.0|$work|berth-data|docker-distribution' '$work/h'"
done
expect "HEAD /healthz: 200" [ "$(curl -s -o /dev/null -w '%{http_code}' -I "$base/healthz")" == 200 ]
expect "POST /healthz is not a probe (no credentials: refused)" [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/healthz")" != 200 ]

# --- boto3, registry calls, rotation and reload under load
/usr/bin/python3 "$dir/ops_check.py" "$base" "$work/data/admin-credentials" "$pki/ca.pem" "$log" "$pid" \
    "$pki/server.pem" "$pki/server.key" "$pki/b.pem" "$pki/b.key" >"$work/py.out" 2>"$work/py.err" || true
grep -E '^(PASS|FAIL)' "$work/py.out" || true
failures=$((failures + $(grep -c '^FAIL' "$work/py.out" || true)))
result=$(grep '^{' "$work/py.out" || true)
[[ -n $result ]] || fail "ops_check.py did not finish: $(tail -5 "$work/py.err")"
expect "openssl s_client sees the new certificate" [ "$(served)" == "$(fingerprint <"$pki/b.pem")" ]

# --- a certificate that does not load keeps the one in use
echo "not a certificate" >"$pki/server.pem"
kill -HUP "$pid"
sleep 0.5
expect "a bad certificate at SIGHUP: berthd says why and keeps the old one" \
    grep -q "SIGHUP: kept the TLS certificate in use: cannot use $pki/server.pem" "$work/berthd.log"
expect "... and s_client still sees it" [ "$(served)" == "$(fingerprint <"$pki/b.pem")" ]

rc=0
kill -TERM "$pid"
wait "$pid" || rc=$?
pid=""
expect "SIGTERM: exit 0" [ $rc == 0 ]

# --- the access log, now that every loop has written its buffer
cat "$log.1" "$log" >"$work/all.log"
expect "every access log line is a JSON object with exactly the documented fields" \
    jq -se 'length > 0 and all(.[]; (keys - ["request_id"]) == (["action","bytes_in","bytes_out","duration_ms","method","path","principal","repository","status","time"] | sort)
        and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")))' "$work/all.log"
n=$(jq -r '.healthz_requests // 0' <<<"${result:-{\}}")
h1=$(grep -c '"path":"/healthz"' "$log.1" || true)
h2=$(grep -c '"path":"/healthz"' "$log" || true)
# the shell's own two GET /healthz and one HEAD come before the load, in the first file
expect "rotation: both files have lines and none is lost ($h1 + $h2 = $n + 3)" [ "$h1" -gt 3 -a "$h2" -gt 0 -a $((h1 + h2)) == $((n + 3)) ]
expect "an ECR call's line: the principal's ARN, the action, its request id" \
    jq -se 'any(.[]; .action == "ecr:GetAuthorizationToken" and (.principal | startswith("arn:aws:iam::")) and .status == 200
        and (.request_id | length) > 8 and .method == "POST" and .path == "/")' "$work/all.log"
expect "a registry call's line: principal, action, repository, path without its query" \
    jq -se 'any(.[]; .action == "ecr:BatchGetImage" and .repository == "ops/app" and .path == "/v2/ops/app/manifests/latest"
        and (.principal | startswith("arn:aws:iam::")) and .status == 404)' "$work/all.log"
expect "an anonymous call's line: principal, action and repository are -" \
    jq -se 'any(.[]; .path == "/readyz" and .principal == "-" and .action == "-" and .repository == "-" and .status == 200)' "$work/all.log"
expect "a 2000-byte path of a quote, a backslash and a byte past ASCII: cut at 1024 and escaped, still JSON" \
    jq -se 'any(.[]; .path == "/v2/\"\\\u00ff" + ("a" * 1017) + "...")' "$work/all.log"
secret=$(sed -n 's/^aws_secret_access_key *= *//p' "$work/data/admin-credentials")
password=$(jq -r '.password // "no-password"' <<<"${result:-{\}}")
expect "no secret in the log: no password, secret key, signature, credential, query or Authorization header" \
    bash -c "! grep -qF -e '$password' -e '$secret' -e SECRETSIG -e SECRETCRED -e '?' -e 'Basic ' -e AWS4-HMAC-SHA256 -e 'Signature=' '$work/all.log'"

if ((failures > 0)); then
    echo "test_ops: $failures failures"
    exit 1
fi
echo "test_ops: all checks passed"
