#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# Connection limits, with real clients: h2c is never served.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_limits.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/curl
is_berth || skip_all "Berth's own connection limits (flags the reference registry does not have)"

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

finish
