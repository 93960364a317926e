#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# contrib/: the systemd unit passes `systemd-analyze verify` (with ExecStart pointed at the
# berthd under test, since verify checks that the binary exists), its stop timeout leaves
# berthd its --shutdown-timeout, and contrib/berthd.conf, the unit's config file, is one
# berthd takes as it is: every key known, every value good; berthd serves HTTPS from it.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_contrib.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
TOP=$(cd "$E2E_DIR/../.." && pwd)
UNIT=$TOP/contrib/berthd.service
CONF=$TOP/contrib/berthd.conf
is_berth || skip_all "contrib/ is Berth's"
[[ -n ${BERTHD:-} && -x ${BERTHD:-} ]] || skip_all "BERTHD (the berthd binary) is not set"
need /usr/bin/systemd-analyze curl

# unit_value KEY: the unit's last KEY= line's value
unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -1; }

t_unit_verifies() {
    mkdir -p "$E2E_TMP/unit"
    sed "s|^ExecStart=/usr/local/bin/berthd |ExecStart=$BERTHD |" "$UNIT" >"$E2E_TMP/unit/berthd.service"
    run /usr/bin/systemd-analyze verify "$E2E_TMP/unit/berthd.service"
    expect_success
    # verify prints unknown keys and bad values as warnings, and still exits 0
    expect_eq "systemd-analyze verify's findings" "" "$(cat "$E2E_TMP/cmd.out" "$E2E_TMP/cmd.err")"
    expect_eq "ExecStart reads the config file" "/usr/local/bin/berthd --config /etc/berth/berthd.conf" \
        "$(unit_value ExecStart)"
    expect_eq "a dedicated user" "berth berth" "$(unit_value User) $(unit_value Group)"
    expect_eq "hardening" "yes strict yes" \
        "$(unit_value NoNewPrivileges) $(unit_value ProtectSystem) $(unit_value ProtectHome)"
    expect_eq "the store is the unit's state directory, writable" "/var/lib/berth berth" \
        "$(sed -n 's/^data = //p' "$CONF") $(unit_value StateDirectory)"
    local stop shutdown
    stop=$(unit_value TimeoutStopSec)
    shutdown=$(sed -n 's/^shutdown-timeout = //p' "$CONF")
    expect_eq "TimeoutStopSec ($stop) leaves berthd its shutdown-timeout ($shutdown) and more" yes \
        "$([[ $stop -gt $((shutdown + 5)) ]] && echo yes || echo no)"
}

t_conf_starts_berthd() {
    local port data=$E2E_TMP/data pid
    port=$(free_port)
    # the command line overrides the file's paths and address, nothing else
    "$BERTHD" --config "$CONF" --data "$data" --listen "127.0.0.1:$port" --access-log "$E2E_TMP/access.log" \
        >"$E2E_TMP/berthd.log" 2>&1 &
    pid=$!
    at_exit "kill $pid"
    local code=000
    for _ in $(seq 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/tls/cert.pem" --max-time 2 \
            "https://127.0.0.1:$port/healthz" 2>/dev/null) || code=000
        [[ $code == 200 ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    expect_eq "GET /healthz over TLS with the certificate berthd made (log: $(tail -3 "$E2E_TMP/berthd.log"))" 200 "$code"
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    expect_eq "SIGTERM: exit 0" 0 "$rc"
    expect_eq "the access log has the probe's line" 1 "$(grep -c '"/healthz"' "$E2E_TMP/access.log" || true)"
}

run_case "contrib/berthd.service passes systemd-analyze verify; a dedicated user, ProtectSystem=strict, its stop timeout above berthd's" t_unit_verifies
run_case "berthd takes contrib/berthd.conf as it is (paths overridden) and serves HTTPS with its own certificate" t_conf_starts_berthd

finish
