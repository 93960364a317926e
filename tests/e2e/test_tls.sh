#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# HTTPS: berthd with --tls-cert/--tls-key (a certificate for 127.0.0.1 from a
# CA made here), authentication on. curl over HTTP/1.1 (and h2 by ALPN with --http2), the AWS
# CLI trusting the CA, skopeo and podman with --tls-verify=true and the CA in
# a cert dir; a client that does not trust the CA is refused.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_tls.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws openssl skopeo podman curl jq
is_berth || skip_all "TLS termination is Berth's own (the reference registry runs on plain http here)"

PKI=$E2E_TMP/pki
make_test_pki "$PKI"

export E2E_BERTH_AUTH=1 E2E_BERTH_TLS=$PKI/server.pem:$PKI/server.key CURL_CA_BUNDLE=$PKI/ca.pem
start_registry
"$E2E_DIR/make-test-image.sh" "$E2E_TMP/img" >/dev/null
# shellcheck source=/dev/null
source "$E2E_TMP/img/digests.env"

export AWS_CA_BUNDLE=$PKI/ca.pem
client_env

t_http_versions() {
    # HTTP/2 is off by default (berthd --help says why): a client offering h2 by ALPN settles on http/1.1
    run curl -s -o /dev/null -w '%{http_code} %{http_version} %{scheme}' --http2 "$BASE/v2/"
    expect_success
    expect_eq "curl --http2: status, version (ALPN), scheme" "401 1.1 HTTPS" "$(cmd_out)"
    run curl -s -o /dev/null -w '%{http_code} %{http_version}' --http1.1 "$BASE/v2/"
    expect_success
    expect_eq "curl --http1.1" "401 1.1" "$(cmd_out)"
    # plain http on the TLS port is not served
    run curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/"
    [[ $(cmd_out) == 200 || $(cmd_out) == 401 ]] && fail "plain http answered $(cmd_out) on the TLS port"
    return 0
}
run_case "HTTPS answers HTTP/1.1 only by default (curl --http2 negotiates http/1.1) with the CA's certificate for 127.0.0.1; plain http is not served there" t_http_versions

t_untrusted_ca_refused() {
    run env -u CURL_CA_BUNDLE curl -s -o /dev/null --cacert /etc/ssl/certs/ca-certificates.crt "$BASE/v2/"
    [[ $CMD_STATUS == 60 ]] || fail_diff "curl exit status without the CA" "60 (certificate problem)" "$CMD_STATUS"
    run "${SKOPEO[@]}" inspect --tls-verify=true "docker://$REGISTRY/e2e/none:v1"
    expect_exit 1
    expect_stderr_match "x509|certificate"
}
run_case "a client that does not trust the CA is refused (curl exit 60, skopeo x509 error)" t_untrusted_ca_refused

t_login_and_push_verified() {
    run "${AWS[@]}" ecr get-authorization-token
    expect_success
    expect_out_jq '.authorizationData[0].proxyEndpoint' "\"https://$REGISTRY\""
    local pw
    pw=$("${AWS[@]}" ecr get-login-password) || { fail "get-login-password over https failed"; return; }
    printf '%s' "$pw" >"$E2E_TMP/pw"
    run sh -c "skopeo login --tls-verify=true --cert-dir '$PKI/certs.d' --username AWS --password-stdin $REGISTRY <'$E2E_TMP/pw'"
    expect_success
    run sh -c "podman login --tls-verify=true --cert-dir '$PKI/certs.d' --username AWS --password-stdin --authfile '$E2E_TMP/podman-auth.json' $REGISTRY <'$E2E_TMP/pw'"
    expect_success
    run "${SKOPEO[@]}" copy --dest-tls-verify=true --dest-cert-dir "$PKI/certs.d" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/tls:v1"
    expect_success
    run "${SKOPEO[@]}" inspect --raw --tls-verify=true --cert-dir "$PKI/certs.d" "docker://$REGISTRY/e2e/tls:v1"
    expect_success
    expect_out_file "$AMD64_MANIFEST_FILE"
}
run_case "over verified TLS: aws ecr get-login-password, skopeo and podman login, skopeo push and pull byte for byte" t_login_and_push_verified

restart_registry --http2

t_http2_opt_in() {
    run curl -s -o /dev/null -w '%{http_code} %{http_version}' --http2 "$BASE/v2/"
    expect_success
    expect_eq "curl --http2 against berthd --http2: status, version (ALPN)" "401 2" "$(cmd_out)"
    run curl -s -o /dev/null -w '%{http_code} %{http_version}' --http1.1 "$BASE/v2/"
    expect_success
    expect_eq "curl --http1.1 against berthd --http2" "401 1.1" "$(cmd_out)"
}
run_case "with --http2, HTTPS offers h2 by ALPN (curl --http2 gets HTTP/2) and still HTTP/1.1" t_http2_opt_in

finish
