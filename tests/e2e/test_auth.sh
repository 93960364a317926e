#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# Authentication with real clients: berthd without --insecure-no-auth, its
# first-start administrator key, the real AWS CLI's get-authorization-token /
# get-login-password (SigV4), docker/skopeo/podman login with that password,
# pushes and pulls with it, and every way of being refused (no credentials,
# a wrong password, a forged token, an unknown access key, a wrong secret),
# IAM users with identity policies, repository policies, the token flow.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_auth.sh
#   E2E_AUTH_TLS=1 ... the same over HTTPS (a CA made here; clients trust it)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws skopeo podman docker curl jq base64
is_berth || skip_all "authentication is Berth's (the reference registry runs without it here)"

start_authenticated_registry

password() {
    "${AWS[@]}" ecr get-login-password 2>"$E2E_TMP/pw.err"
}

# ================================================================ first start

t_admin_credentials_file() {
    [[ -f $CREDS ]] || { fail "no $CREDS after the first start"; return; }
    expect_eq "mode of admin-credentials" 600 "$(stat -c %a "$CREDS")"
    expect_eq "mode of master.key" 600 "$(stat -c %a "$REGISTRY_DATA/master.key")"
    local id secret
    id=$(sed -n 's/^aws_access_key_id = //p' "$CREDS")
    secret=$(sed -n 's/^aws_secret_access_key = //p' "$CREDS")
    [[ $id =~ ^AKIA[A-Z2-7]{16}$ ]] || fail_diff "access key id" "AKIA + 16 of [A-Z2-7]" "$id"
    expect_eq "secret length" 40 "${#secret}"
    expect_eq "[default] section" "[default]" "$(head -1 "$CREDS")"
    if grep -qF -- "$secret" "$REGISTRY_LOG"; then fail "the secret access key appears in berthd's log"; fi
    grep -q "admin-credentials" "$REGISTRY_LOG" || fail "the log does not say where the administrator's key is"
}
run_case "first start writes the administrator's key to <data>/admin-credentials (0600, AWS format) and never logs the secret" t_admin_credentials_file

# ================================================================ the registry challenge

t_no_credentials_401() {
    local what
    for what in "GET /v2/" "HEAD /v2/e2e/app/manifests/v1" "GET /v2/e2e/app/manifests/v1" "HEAD /v2/e2e/app/blobs/$AMD64_LAYER_DIGEST" \
        "POST /v2/e2e/app/blobs/uploads/" "GET /v2/_catalog" "GET /v2/e2e/app/tags/list"; do
        req ${what% *} "${what#* }"
        expect_status 401
        expect_header WWW-Authenticate 'Basic realm="berth"'
        [[ ${what% *} == HEAD ]] || expect_json_error UNAUTHORIZED
    done
}
run_case "every /v2/ request without credentials → 401 with WWW-Authenticate: Basic (HEAD included) and the OCI error JSON" t_no_credentials_401

# ================================================================ ECR's token endpoint with the AWS CLI

t_get_authorization_token() {
    run "${AWS[@]}" ecr get-authorization-token --output json
    expect_success
    local tok user exp now
    tok=$(jq -r '.authorizationData[0].authorizationToken' "$E2E_TMP/cmd.out")
    user=$(printf '%s' "$tok" | base64 -d | cut -d: -f1)
    expect_eq "user in the decoded authorizationToken" AWS "$user"
    expect_out_jq '.authorizationData[0].proxyEndpoint' "\"$BASE\""
    exp=$(jq -r '.authorizationData[0].expiresAt' "$E2E_TMP/cmd.out")
    now=$(date +%s)
    # the CLI prints expiresAt as an ISO time; 12 h from now, give or take a minute
    exp=$(date -d "$exp" +%s 2>/dev/null || echo 0)
    ((exp > now + 43200 - 120 && exp < now + 43200 + 120)) || fail_diff "expiresAt" "now + 12 h" "$(jq -r '.authorizationData[0].expiresAt' "$E2E_TMP/cmd.out")"
}
run_case "aws ecr get-authorization-token (SigV4, the real AWS CLI) → base64(AWS:password), expiresAt 12 h ahead, proxyEndpoint" t_get_authorization_token

t_docker_login() {
    local pw
    pw=$(password) || { fail "get-login-password failed: $(cat "$E2E_TMP/pw.err")"; return; }
    mkdir -p "$E2E_TMP/docker-config"
    # the docker CLI logs in by itself (GET /v2/ with Basic), no daemon needed
    printf '%s' "$pw" >"$E2E_TMP/pw"
    DOCKER_CONFIG=$E2E_TMP/docker-config DOCKER_HOST=unix:///nonexistent run sh -c "docker login --username AWS --password-stdin $REGISTRY <'$E2E_TMP/pw'"
    expect_success
    expect_eq "docker config.json auth" "$(printf 'AWS:%s' "$pw" | base64 -w0)" \
        "$(jq -r --arg r "$REGISTRY" '.auths[$r].auth' "$E2E_TMP/docker-config/config.json")"
}
run_case "aws ecr get-login-password | docker login --username AWS --password-stdin REG succeeds" t_docker_login

t_skopeo_podman_login() {
    local pw
    pw=$(password) || { fail "get-login-password failed"; return; }
    printf '%s' "$pw" >"$E2E_TMP/pw"
    run sh -c "skopeo login --tls-verify=false --username AWS --password-stdin --authfile '$E2E_TMP/skopeo-auth.json' $REGISTRY <'$E2E_TMP/pw'"
    expect_success
    run sh -c "podman login --tls-verify=false --username AWS --password-stdin --authfile '$E2E_TMP/podman-auth.json' $REGISTRY <'$E2E_TMP/pw'"
    expect_success
}
run_case "skopeo login and podman login with the same password succeed" t_skopeo_podman_login

t_push_pull_with_password() {
    local pw
    pw=$(password) || { fail "get-login-password failed"; return; }
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/auth-app:v1"
    expect_success
    run "${SKOPEO[@]}" inspect --raw --tls-verify=false --creds "AWS:$pw" "docker://$REGISTRY/e2e/auth-app:v1"
    expect_success
    expect_out_file "$AMD64_MANIFEST_FILE"
    req GET "/v2/e2e/auth-app/blobs/$AMD64_LAYER_DIGEST" -u "AWS:$pw"
    expect_status 200
    expect_eq "pulled layer digest" "${AMD64_LAYER_DIGEST#sha256:}" "$(sha256_file "$E2E_TMP/resp.body")"
    req GET /v2/_catalog -u "AWS:$pw"
    expect_status 200
    expect_jq .repositories '["e2e/auth-app"]'
}
run_case "with the password: skopeo push, pull byte for byte, blob GET and catalog (the administrator may do everything)" t_push_pull_with_password

# ================================================================ refusals

t_wrong_password_401() {
    local pw
    pw=$(password) || { fail "get-login-password failed"; return; }
    req GET /v2/ -u "AWS:wrong"
    expect_status 401
    expect_header WWW-Authenticate 'Basic realm="berth"'
    expect_json_error UNAUTHORIZED
    # a valid token with one character changed, in its signature and in its payload
    req GET /v2/ -u "AWS:$(changed_at "$pw" -1)"
    expect_status 401
    req HEAD /v2/e2e/auth-app/manifests/v1 -u "AWS:$(changed_at "$pw" 10)"
    expect_status 401
    run sh -c "printf wrong | skopeo login --tls-verify=false --username AWS --password-stdin --authfile '$E2E_TMP/bad-auth.json' $REGISTRY"
    expect_exit 1
    expect_stderr_match "401|nauthorized|invalid username"
}
run_case "a wrong or tampered password → 401 on every request, and skopeo login fails" t_wrong_password_401

t_sigv4_refusals() {
    local id secret
    id=$(sed -n 's/^aws_access_key_id = //p' "$CREDS")
    secret=$(sed -n 's/^aws_secret_access_key = //p' "$CREDS")
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$id" "$(changed_at "$secret" -1)" >"$E2E_TMP/wrong-secret"
    AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/wrong-secret run "${AWS[@]}" ecr get-login-password
    expect_exit 254
    expect_stderr_match "InvalidSignatureException"
    printf '[default]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\naws_secret_access_key = %s\n' "$secret" >"$E2E_TMP/unknown-key"
    AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/unknown-key run "${AWS[@]}" ecr get-login-password
    expect_exit 254
    expect_stderr_match "UnrecognizedClientException"
    run curl -s -X POST -H 'X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken' \
        -H 'Content-Type: application/x-amz-json-1.1' -d '{}' "$BASE/"
    expect_out_jq .__type '"MissingAuthenticationTokenException"'
    run "${AWS[@]}" ecr describe-pull-through-cache-rules
    expect_exit 254
    expect_stderr_match "UnknownOperationException|not.*support"
}
run_case "SigV4: a wrong secret → InvalidSignatureException, an unknown key → UnrecognizedClientException, none → MissingAuthenticationToken" t_sigv4_refusals

# ================================================================ repository policies

t_repository_policy_round_trip() {
    echo '{"Version":"2012-10-17","Statement":[{"Sid":"NoPushHere","Effect":"Deny","Principal":"*","Action":["ecr:PutImage","ecr:InitiateLayerUpload"]}]}' \
        >"$E2E_TMP/deny-push.json"
    run "${AWS[@]}" ecr set-repository-policy --repository-name e2e/auth-app --policy-text "file://$E2E_TMP/deny-push.json"
    expect_success
    expect_out_jq .repositoryName '"e2e/auth-app"'
    run "${AWS[@]}" ecr get-repository-policy --repository-name e2e/auth-app
    expect_success
    expect_out_jq '.policyText | fromjson | .Statement[0].Sid' '"NoPushHere"'
    echo '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*"}]}' >"$E2E_TMP/no-principal.json"
    run "${AWS[@]}" ecr set-repository-policy --repository-name e2e/auth-app --policy-text "file://$E2E_TMP/no-principal.json"
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*Principal"
    run "${AWS[@]}" ecr get-repository-policy --repository-name e2e/nonexistent
    expect_exit 254
    expect_stderr_match "RepositoryNotFoundException"
}
run_case "aws ecr set/get-repository-policy round trip; a policy without Principal is refused naming it; unknown repository → RepositoryNotFoundException" t_repository_policy_round_trip

t_explicit_deny_in_repository_policy() {
    local pw
    pw=$(password) || { fail "get-login-password failed"; return; }
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/auth-app:v2"
    expect_exit 1
    expect_stderr_match "denied"
    req PUT /v2/e2e/auth-app/manifests/v3 -u "AWS:$pw" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
        --data-binary "@$AMD64_MANIFEST_FILE"
    expect_status 403
    expect_json_error DENIED
    grep -q 'ecr:PutImage' "$E2E_TMP/resp.body" || fail "the DENIED detail does not name the action: $(body)"
    # pulling is still allowed: the deny names push actions only
    req GET /v2/e2e/auth-app/manifests/v1 -u "AWS:$pw" -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 200
    run "${AWS[@]}" ecr delete-repository-policy --repository-name e2e/auth-app
    expect_success
    req PUT /v2/e2e/auth-app/manifests/v3 -u "AWS:$pw" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
        --data-binary "@$AMD64_MANIFEST_FILE"
    expect_status 201
}
run_case "an explicit Deny in the repository policy beats the administrator's Allow (403 DENIED naming ecr:PutImage); deleting it restores push" t_explicit_deny_in_repository_policy

t_anonymous_pull_only_where_granted() {
    local pw
    pw=$(password) || { fail "get-login-password failed"; return; }
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/public:v1"
    expect_success
    req GET /v2/e2e/public/manifests/v1 -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 401
    echo '{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"]}]}' \
        >"$E2E_TMP/public.json"
    run "${AWS[@]}" ecr set-repository-policy --repository-name e2e/public --policy-text "file://$E2E_TMP/public.json"
    expect_success
    run "${SKOPEO[@]}" copy --src-tls-verify=false --src-no-creds "docker://$REGISTRY/e2e/public:v1" "oci:$E2E_TMP/anon-pull:v1"
    expect_success
    req HEAD "/v2/e2e/public/blobs/$AMD64_LAYER_DIGEST"
    expect_status 200
    req POST /v2/e2e/public/blobs/uploads/
    expect_status 401
    req GET /v2/e2e/auth-app/manifests/v1 -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 401
}
run_case "anonymous pulls only where a repository policy grants them to \"*\": skopeo pulls e2e/public without credentials; push there and pulls elsewhere → 401" t_anonymous_pull_only_where_granted

# ================================================================ users, keys and identity policies (aws iam)

IAM=("${AWS_CLI[@]}" --endpoint-url "$BASE" --region us-east-1 iam)
ACCOUNT=$(sed -n 's/.*created account \([0-9]*\).*/\1/p' "$REGISTRY_LOG" | head -1)
PULLER_CREDS=$E2E_TMP/puller-credentials

t_iam_create_pull_only_user() {
    run "${IAM[@]}" create-user --user-name ci-puller
    expect_success
    expect_out_jq .User.Arn "\"arn:aws:iam::$ACCOUNT:user/ci-puller\""
    run "${IAM[@]}" create-user --user-name ci-puller
    expect_exit 254
    expect_stderr_match "EntityAlreadyExists"
    run "${IAM[@]}" create-access-key --user-name ci-puller
    expect_success
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$(jq -r .AccessKey.AccessKeyId "$E2E_TMP/cmd.out")" \
        "$(jq -r .AccessKey.SecretAccessKey "$E2E_TMP/cmd.out")" >"$PULLER_CREDS"
    echo '{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"],"Resource":"*"},{"Sid":"SeePublicOnly","Effect":"Allow","Action":"ecr:DescribeRepositories","Resource":"arn:aws:ecr:us-east-1:*:repository/e2e/pub*"}]}' \
        >"$E2E_TMP/pull-only.json"
    run "${IAM[@]}" create-policy --policy-name PullOnly --policy-document "file://$E2E_TMP/pull-only.json"
    expect_success
    run "${IAM[@]}" attach-user-policy --user-name ci-puller --policy-arn "arn:aws:iam::$ACCOUNT:policy/PullOnly"
    expect_success
    run "${IAM[@]}" list-attached-user-policies --user-name ci-puller
    expect_out_jq '[.AttachedPolicies[].PolicyName]' '["PullOnly"]'
    echo '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*"}]}' >"$E2E_TMP/no-resource.json"
    run "${IAM[@]}" create-policy --policy-name Broken --policy-document "file://$E2E_TMP/no-resource.json"
    expect_exit 254
    expect_stderr_match "MalformedPolicyDocument.*Resource"
}
run_case "aws iam create-user, create-access-key, create-policy, attach-user-policy; duplicates and malformed documents refused as IAM does" t_iam_create_pull_only_user

puller_password() {
    AWS_SHARED_CREDENTIALS_FILE=$PULLER_CREDS "${AWS_CLI[@]}" --endpoint-url "$BASE" --region us-east-1 ecr get-login-password 2>"$E2E_TMP/pw.err"
}

t_pull_only_user() {
    local pw
    pw=$(puller_password) || { fail "the pull-only user cannot get a password: $(cat "$E2E_TMP/pw.err")"; return; }
    run "${SKOPEO[@]}" copy --src-tls-verify=false --src-creds "AWS:$pw" "docker://$REGISTRY/e2e/auth-app:v1" "oci:$E2E_TMP/puller:v1"
    expect_success
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/auth-app:puller"
    expect_exit 1
    expect_stderr_match "denied"
    mkdir -p "$E2E_TMP/podman/tmp"
    local podman=(podman --root "$E2E_TMP/podman/root" --runroot "$E2E_TMP/podman/run" --storage-driver vfs
        --tmpdir "$E2E_TMP/podman/tmp" --events-backend file --cgroup-manager cgroupfs)
    run "${podman[@]}" pull --tls-verify=false --creds "AWS:$pw" "$REGISTRY/e2e/auth-app:v1"
    expect_success
    run "${podman[@]}" push --tls-verify=false --creds "AWS:$pw" "$REGISTRY/e2e/auth-app:v1" "$REGISTRY/e2e/auth-app:podman"
    expect_exit 125
    expect_stderr_match "denied"
    req POST /v2/e2e/auth-app/blobs/uploads/ -u "AWS:$pw"
    expect_status 403
    expect_json_error DENIED
    grep -q "ecr:InitiateLayerUpload" "$E2E_TMP/resp.body" || fail "the DENIED detail does not name the action: $(body)"
    req GET /v2/_catalog -u "AWS:$pw"
    expect_status 200
    expect_jq .repositories '["e2e/public"]'
    AWS_SHARED_CREDENTIALS_FILE=$PULLER_CREDS run "${IAM[@]}" create-user --user-name mallory
    expect_exit 254
    expect_stderr_match "AccessDenied"
}
run_case "a pull-only user: skopeo pull works; skopeo and podman push are refused (403 DENIED naming the action); the catalog shows only what it may describe; IAM refuses it" t_pull_only_user

t_policy_changes_apply_at_once() {
    local pw
    pw=$(puller_password) || { fail "no password"; return; }
    req HEAD /v2/e2e/auth-app/manifests/v1 -u "AWS:$pw"
    expect_status 200
    run "${IAM[@]}" detach-user-policy --user-name ci-puller --policy-arn "arn:aws:iam::$ACCOUNT:policy/PullOnly"
    expect_success
    req HEAD /v2/e2e/auth-app/manifests/v1 -u "AWS:$pw"
    expect_status 403
    run "${IAM[@]}" delete-user --user-name ci-puller
    expect_exit 254
    expect_stderr_match "DeleteConflict"
    local key
    key=$(sed -n 's/^aws_access_key_id = //p' "$PULLER_CREDS")
    run "${IAM[@]}" delete-access-key --user-name ci-puller --access-key-id "$key"
    expect_success
    AWS_SHARED_CREDENTIALS_FILE=$PULLER_CREDS run "${AWS_CLI[@]}" --endpoint-url "$BASE" --region us-east-1 ecr get-login-password
    expect_exit 254
    expect_stderr_match "UnrecognizedClientException"
    run "${IAM[@]}" delete-user --user-name ci-puller
    expect_success
    req HEAD /v2/e2e/auth-app/manifests/v1 -u "AWS:$pw"
    expect_status 401
    run "${IAM[@]}" delete-policy --policy-arn "arn:aws:iam::$ACCOUNT:policy/PullOnly"
    expect_success
}
run_case "policy changes apply at once: detaching the policy → 403 with the same token; a deleted key is unrecognized; a deleted user's token → 401" t_policy_changes_apply_at_once

# ================================================================ more users, more policies

# make_user NAME POLICY-JSON: an IAM user with one access key ($E2E_TMP/NAME.creds) and
# the policy NAME-policy attached. Run at the top level (not in a case).
make_user() {
    local name=$1 out=$E2E_TMP/$1.key.json
    printf '%s' "$2" >"$E2E_TMP/$name.policy.json"
    "${IAM[@]}" create-user --user-name "$name" >/dev/null &&
        "${IAM[@]}" create-access-key --user-name "$name" >"$out" &&
        "${IAM[@]}" create-policy --policy-name "$name-policy" --policy-document "file://$E2E_TMP/$name.policy.json" >/dev/null &&
        "${IAM[@]}" attach-user-policy --user-name "$name" --policy-arn "arn:aws:iam::$ACCOUNT:policy/$name-policy" ||
        { echo "make_user $name failed" >&2; exit 1; }
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$(jq -r .AccessKey.AccessKeyId "$out")" \
        "$(jq -r .AccessKey.SecretAccessKey "$out")" >"$E2E_TMP/$name.creds"
}
user_password() {
    AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/$1.creds "${AWS_CLI[@]}" --endpoint-url "$BASE" --region us-east-1 ecr get-login-password 2>"$E2E_TMP/pw.err"
}

make_user ci-pusher '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:PutImage"],"Resource":"*"}]}'
make_user team-a '{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Action":"ecr:*","Resource":"*"},{"Sid":"NotTheSecrets","Effect":"Deny","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/e2e/secret*"}]}'
make_user office '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"},{"Sid":"FromLoopback","Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"],"Resource":"arn:aws:ecr:*:*:repository/e2e/auth-app","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}},{"Sid":"FromTheOffice","Effect":"Allow","Action":["ecr:BatchGetImage","ecr:BatchCheckLayerAvailability"],"Resource":"arn:aws:ecr:*:*:repository/e2e/team-a","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}'

t_push_only_user() {
    local pw
    pw=$(user_password ci-pusher) || { fail "no password: $(cat "$E2E_TMP/pw.err")"; return; }
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/auth-app:pushed"
    expect_success
    run "${SKOPEO[@]}" inspect --raw --tls-verify=false --creds "AWS:$pw" "docker://$REGISTRY/e2e/auth-app:pushed"
    expect_exit 1
    expect_stderr_match "denied"
    req GET "/v2/e2e/auth-app/blobs/$AMD64_LAYER_DIGEST" -u "AWS:$pw"
    expect_status 403
    expect_json_error DENIED
    # a new repository is created by its first push: that needs ecr:CreateRepository, which it lacks
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/pusher-new:v1"
    expect_exit 1
    req POST /v2/e2e/pusher-new/blobs/uploads/ -u "AWS:$pw"
    expect_status 403
    grep -q "ecr:CreateRepository" "$E2E_TMP/resp.body" || fail "the refusal does not name ecr:CreateRepository: $(body)"
}
run_case "a push-only user: skopeo push works; pulling is refused (403 DENIED); a first push to a new repository needs ecr:CreateRepository" t_push_only_user

t_identity_deny_on_one_repository() {
    local pw
    pw=$(user_password team-a) || { fail "no password"; return; }
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/team-a:v1"
    expect_success
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/secret-stuff:v1"
    expect_exit 1
    expect_stderr_match "denied|403 \\(Forbidden\\)"
    req HEAD "/v2/e2e/secret-stuff/manifests/v1" -u "AWS:$pw"
    expect_status 403
    req GET "/v2/e2e/secret-stuff/tags/list" -u "AWS:$pw"
    expect_status 403
    grep -q "explicit deny" "$E2E_TMP/resp.body" || fail "the refusal does not say it is an explicit deny: $(body)"
    req GET /v2/_catalog -u "AWS:$pw"
    jq -e '.repositories | index("e2e/secret-stuff") == null and index("e2e/team-a") != null' "$E2E_TMP/resp.body" >/dev/null ||
        fail "the catalog shows a denied repository or hides an allowed one: $(body)"
}
run_case "an identity policy's explicit Deny on e2e/secret* beats its Allow ecr:*: that repository is refused (and hidden), others work" t_identity_deny_on_one_repository

# statuses_all_equal FILE WANT WHAT: every "i status" line of FILE has status WANT.
statuses_all_equal() {
    local n bad
    n=$(wc -l <"$1")
    bad=$(awk -v want="$2" '$2 != want' "$1" | head -5 | tr '\n' ' ')
    [[ -z $bad && $n -gt 0 ]] || fail "$3: $n requests, not all $2 (i status: ${bad:-none})"
}

t_policy_cache_never_changes_a_decision() {
    # 300 repositories named e2e/secret-churn-*: team-a's identity policy denies them
    # explicitly, and each one's repository policy allows team-a by name. More
    # repositories than a thread caches, all asked over ONE connection (one event
    # loop, one cache): the cache is thrashed, and every decision must still be
    # the cold one. berthd once judged a request on the repository policy alone
    # when looking that policy up evicted the caller's own identity policies.
    local pw admin_pw count=300 churn=$E2E_DIR/authz_churn.py
    admin_pw=$(password) || { fail "no administrator password"; return; }
    pw=$(user_password team-a) || { fail "no team-a password"; return; }
    run /usr/bin/python3 "$churn" push "$BASE" "AWS:$admin_pw" e2e/secret-churn $count
    expect_success
    printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:user/team-a"},"Action":"ecr:*"}]}' \
        "$ACCOUNT" >"$E2E_TMP/allow-team-a.json"
    run /usr/bin/python3 "$churn" policy "$BASE" "$CREDS" e2e/secret-churn $count "$E2E_TMP/allow-team-a.json"
    expect_success

    # Deny: cold (a fresh connection, the first request naming the repository) then thrashed
    req GET /v2/e2e/secret-churn-000/manifests/v1 -u "AWS:$pw"
    expect_status 403
    run /usr/bin/python3 "$churn" get "$BASE" "AWS:$pw" GET "/v2/e2e/secret-churn-{i}/manifests/v1" $count
    expect_success
    statuses_all_equal "$E2E_TMP/cmd.out" 403 "team-a's explicit Deny under a thrashed cache"
    # Allow: the administrator's identity policy allows everything; no repository
    # policy exists for these names, so a decision without it would be 403
    req GET /v2/e2e/fresh-000/tags/list -u "AWS:$admin_pw"
    expect_status 404
    run /usr/bin/python3 "$churn" get "$BASE" "AWS:$admin_pw" GET "/v2/e2e/fresh-{i}/tags/list" $count
    expect_success
    statuses_all_equal "$E2E_TMP/cmd.out" 404 "the administrator's Allow under a thrashed cache"
    run /usr/bin/python3 "$churn" get "$BASE" "AWS:$admin_pw" GET "/v2/e2e/secret-churn-{i}/manifests/v1" $count
    expect_success
    statuses_all_equal "$E2E_TMP/cmd.out" 200 "the administrator's pulls under a thrashed cache"
    # the catalog asks about every repository in one request: none may go missing
    local i listed
    for i in 1 2 3; do
        req GET "/v2/_catalog?n=10000" -u "AWS:$admin_pw"
        expect_status 200
        listed=$(jq '[.repositories[] | select(startswith("e2e/secret-churn-"))] | length' "$E2E_TMP/resp.body")
        expect_eq "repositories e2e/secret-churn-* in the administrator's catalog (call $i)" $count "$listed"
    done
    req GET "/v2/_catalog?n=10000" -u "AWS:$pw"
    expect_status 200
    jq -e '[.repositories[] | select(startswith("e2e/secret"))] | length == 0' "$E2E_TMP/resp.body" >/dev/null ||
        fail "team-a's catalog shows repositories its identity policy denies: $(body)"
}
t_account_principal_delegates() {
    # ci-pusher's identity policy allows pushing only. A repository policy naming the
    # account (arn:aws:iam::ACCOUNT:root) delegates to the account's identity policies
    # and grants it nothing; naming ci-pusher's own ARN grants it directly (IAM's rules).
    local pw
    pw=$(user_password ci-pusher) || { fail "no password"; return; }
    printf '{"Version":"2012-10-17","Statement":[{"Sid":"AccountPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}' \
        "$ACCOUNT" >"$E2E_TMP/account-pull.json"
    run "${AWS[@]}" ecr set-repository-policy --repository-name e2e/auth-app --policy-text "file://$E2E_TMP/account-pull.json"
    expect_success
    req GET "/v2/e2e/auth-app/manifests/v1" -u "AWS:$pw"
    expect_status 403
    expect_json_error DENIED
    req GET "/v2/e2e/auth-app/blobs/$AMD64_LAYER_DIGEST" -u "AWS:$pw"
    expect_status 403
    # the same statement naming the user itself
    sed "s|:root\"|:user/ci-pusher\"|" "$E2E_TMP/account-pull.json" >"$E2E_TMP/user-pull.json"
    run "${AWS[@]}" ecr set-repository-policy --repository-name e2e/auth-app --policy-text "file://$E2E_TMP/user-pull.json"
    expect_success
    req GET "/v2/e2e/auth-app/blobs/$AMD64_LAYER_DIGEST" -u "AWS:$pw"
    expect_status 200
    run "${AWS[@]}" ecr delete-repository-policy --repository-name e2e/auth-app
    expect_success
    req GET "/v2/e2e/auth-app/blobs/$AMD64_LAYER_DIGEST" -u "AWS:$pw"
    expect_status 403
}
run_case "a repository policy naming the account (:root) grants a user nothing without an identity Allow; naming the user's ARN grants it directly" t_account_principal_delegates

run_case "a thrashed policy cache never changes a decision: an identity Deny holds on 300 repositories whose policies allow, an Allow holds on 300 new ones, the catalog lists them all, over one connection" t_policy_cache_never_changes_a_decision

t_ip_condition() {
    local pw
    pw=$(user_password office) || { fail "no password"; return; }
    req HEAD /v2/e2e/auth-app/manifests/v1 -u "AWS:$pw"
    expect_status 200
    req HEAD /v2/e2e/team-a/manifests/v1 -u "AWS:$pw"
    expect_status 403
}
run_case "an aws:SourceIp condition: allowed from 127.0.0.0/8, refused where the policy wants 10.0.0.0/8" t_ip_condition

SIGNED=(/usr/bin/python3 "$E2E_DIR/aws_signed.py" "$BASE" "$CREDS")
ECR_TARGET="X-Amz-Target:AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
ECR_JSON="Content-Type:application/x-amz-json-1.1"
IAM_FORM="Content-Type:application/x-www-form-urlencoded; charset=utf-8"

t_sigv4_expired_signature() {
    # botocore signs as the AWS CLI does, with a clock 10 minutes behind
    run "${SIGNED[@]}" ecr '{}' "$ECR_TARGET" "$ECR_JSON" --skew-minutes 10
    expect_success
    expect_out_jq '[.status, .body.__type]' '[403,"InvalidSignatureException"]'
}
run_case "SigV4 with a clock 10 minutes behind (botocore) → 403 InvalidSignatureException: outside the 5-minute window" t_sigv4_expired_signature

t_malformed_aws_requests() {
    run "${SIGNED[@]}" ecr '[1,2' "$ECR_TARGET" "$ECR_JSON"
    expect_success
    expect_out_jq '[.status, .body.__type]' '[400,"SerializationException"]'
    run "${SIGNED[@]}" ecr '{}' "X-Amz-Target:AmazonEC2ContainerRegistry_V20150921.NoSuchThing" "$ECR_JSON"
    expect_out_jq '[.status, .body.__type]' '[400,"UnknownOperationException"]'
    run "${SIGNED[@]}" ecr '{"repositoryName": 7, "policyText": "{}"}' \
        "X-Amz-Target:AmazonEC2ContainerRegistry_V20150921.SetRepositoryPolicy" "$ECR_JSON"
    expect_out_jq '[.status, .body.__type]' '[400,"InvalidParameterException"]'
    run "${SIGNED[@]}" ecr '{"repositoryName": "../../etc", "policyText": "{}"}' \
        "X-Amz-Target:AmazonEC2ContainerRegistry_V20150921.SetRepositoryPolicy" "$ECR_JSON"
    expect_out_jq '[.status, .body.__type]' '[400,"InvalidParameterException"]'
    # IAM's query protocol: errors in IAM's XML
    run "${SIGNED[@]}" iam 'Version=2010-05-08&UserName=x' "$IAM_FORM"
    expect_out_jq '[.status, (.body | test("<Code>InvalidAction</Code>"))]' '[400,true]'
    run "${SIGNED[@]}" iam 'Action=CreateUser&Version=2010-05-08' "$IAM_FORM"
    expect_out_jq '[.status, (.body | test("<Code>MissingParameter</Code>"))]' '[400,true]'
    run "${SIGNED[@]}" iam 'Action=CreateUser&Version=2010-05-08&UserName=a%2Fb' "$IAM_FORM"
    expect_out_jq '[.status, (.body | test("<Code>ValidationError</Code>"))]' '[400,true]'
    run "${SIGNED[@]}" iam 'Action=CreateUser&Version=2010-05-08&UserName=%ZZ' "$IAM_FORM"
    expect_out_jq '.status' '400'
    run "${SIGNED[@]}" iam 'Action=DeleteUser&Version=2010-05-08&UserName=nobody' "$IAM_FORM"
    expect_out_jq '[.status, (.body | test("<Code>NoSuchEntity</Code>"))]' '[404,true]'
    # an unsigned body past the limit is refused before anything else
    head -c $((5 << 20)) /dev/zero | tr '\0' 'a' >"$E2E_TMP/big.json"
    run curl -s -o "$E2E_TMP/big.out" -w '%{http_code}' -X POST -H "$ECR_TARGET" -H "$ECR_JSON" --data-binary "@$E2E_TMP/big.json" "$BASE/"
    expect_eq "status of a 5 MiB AWS request" 413 "$(cmd_out)"
}
run_case "malformed AWS requests, signed: bad JSON, unknown operation, wrong types, a path as a repository name, IAM without Action or parameters, bad escapes; a 5 MiB body → 413" t_malformed_aws_requests

# ================================================================ the Docker token flow

t_bearer_token_flow() {
    local pw tok
    pw=$(password) || { fail "no password"; return; }
    req GET "/v2/token?service=berth&scope=repository%3Ae2e%2Fauth-app%3Apull" -u "AWS:$pw"
    expect_status 200
    expect_jq '[has("token"), has("access_token"), .expires_in, (.issued_at | test("^[0-9-]+T[0-9:]+Z$"))]' '[true,true,900,true]'
    tok=$(jq -r .token "$E2E_TMP/resp.body")
    expect_eq "access_token = token" "$tok" "$(jq -r .access_token "$E2E_TMP/resp.body")"
    req GET /v2/e2e/auth-app/manifests/v1 -H "Authorization: Bearer $tok" -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 200
    req POST /v2/e2e/auth-app/blobs/uploads/ -H "Authorization: Bearer $tok"
    expect_status 403
    expect_json_error DENIED
    req GET /v2/e2e/public/manifests/v1 -H "Authorization: Bearer $tok" -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 403
    req GET /v2/_catalog -H "Authorization: Bearer $tok"
    expect_status 401
    req GET "/v2/token?scope=repository:e2e/auth-app:pull" -H "Authorization: Bearer $tok"
    expect_status 401
    # push scope: a whole monolithic blob upload with the Bearer token
    req GET "/v2/token?service=berth&scope=repository:e2e/bearer:pull,push" -u "AWS:$pw"
    tok=$(jq -r .token "$E2E_TMP/resp.body")
    printf 'bearer bytes' >"$E2E_TMP/bearer.blob"
    req POST "/v2/e2e/bearer/blobs/uploads/?digest=sha256:$(sha256_file "$E2E_TMP/bearer.blob")" -H "Authorization: Bearer $tok" \
        --data-binary "@$E2E_TMP/bearer.blob"
    expect_status 201
    # anonymous: a token only for what repository policies grant to "*"
    req GET "/v2/token?scope=repository:e2e/public:pull&scope=repository:e2e/auth-app:pull"
    expect_status 200
    tok=$(jq -r .token "$E2E_TMP/resp.body")
    req GET /v2/e2e/public/manifests/v1 -H "Authorization: Bearer $tok" -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 200
    req GET /v2/e2e/auth-app/manifests/v1 -H "Authorization: Bearer $tok" -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 403
    req GET /v2/ -H "Authorization: Bearer $(changed_at "$tok" -1)"
    expect_status 401
    req GET /v2/token -u "AWS:wrong"
    expect_status 401
}
run_case "GET /v2/token: Bearer tokens limited to the granted scope (pull-only refuses a push, other repositories and the catalog); anonymous tokens only for public repositories" t_bearer_token_flow

t_token_without_scope() {
    local pw tok
    pw=$(password) || { fail "no password"; return; }
    # docker login asks /v2/token with the password and no scope, and wants 200 and a token
    req GET "/v2/token?account=AWS&client_id=docker&offline_token=true&service=berth" -u "AWS:$pw"
    expect_status 200
    expect_jq '[(.token | length > 0), (.access_token == .token), .expires_in]' '[true,true,900]'
    tok=$(jq -r .token "$E2E_TMP/resp.body")
    req GET /v2/ -H "Authorization: Bearer $tok"
    expect_status 200
    # a token with empty access: no repository, whatever the policies allow
    req GET /v2/e2e/auth-app/manifests/v1 -H "Authorization: Bearer $tok" -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 403
    expect_json_error DENIED
    # anonymously: still a token, with no access
    req GET "/v2/token?service=berth"
    expect_status 200
    expect_jq '[(.token | length > 0), .expires_in]' '[true,900]'
    # registry:catalog:* is not a repository scope: distribution's token servers answer 200 with
    # the access they grant; Berth's catalog takes the password, so the token grants nothing
    req GET "/v2/token?service=berth&scope=registry%3Acatalog%3A%2A" -u "AWS:$pw"
    expect_status 200
    tok=$(jq -r .token "$E2E_TMP/resp.body")
    req GET /v2/_catalog -H "Authorization: Bearer $tok"
    expect_status 401
    req GET "/v2/token?service=berth&scope=registry:catalog:*"
    expect_status 200
}
run_case "GET /v2/token with no scope (docker login), anonymously, or with scope registry:catalog:* → 200 and a token with no access (was 500)" t_token_without_scope

t_recreated_user_does_not_inherit_old_password() {
    local old new key
    echo '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchGetImage","ecr:BatchCheckLayerAvailability"],"Resource":"*"}]}' \
        >"$E2E_TMP/carol-pull.json"
    echo '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}' >"$E2E_TMP/carol-all.json"
    run "${IAM[@]}" create-policy --policy-name carol-pull --policy-document "file://$E2E_TMP/carol-pull.json"
    expect_success
    run "${IAM[@]}" create-policy --policy-name carol-all --policy-document "file://$E2E_TMP/carol-all.json"
    expect_success
    run "${IAM[@]}" create-user --user-name carol
    expect_success
    run "${IAM[@]}" attach-user-policy --user-name carol --policy-arn "arn:aws:iam::$ACCOUNT:policy/carol-pull"
    expect_success
    run "${IAM[@]}" create-access-key --user-name carol
    expect_success
    key=$(jq -r .AccessKey.AccessKeyId "$E2E_TMP/cmd.out")
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$key" \
        "$(jq -r .AccessKey.SecretAccessKey "$E2E_TMP/cmd.out")" >"$E2E_TMP/carol.creds"
    old=$(user_password carol) || { fail "carol cannot get a password: $(cat "$E2E_TMP/pw.err")"; return; }
    req HEAD /v2/e2e/auth-app/manifests/v1 -u "AWS:$old"
    expect_status 200
    # delete carol, then make a new carol with more rights
    run "${IAM[@]}" delete-access-key --user-name carol --access-key-id "$key"
    expect_success
    run "${IAM[@]}" detach-user-policy --user-name carol --policy-arn "arn:aws:iam::$ACCOUNT:policy/carol-pull"
    expect_success
    run "${IAM[@]}" delete-user --user-name carol
    expect_success
    run "${IAM[@]}" create-user --user-name carol
    expect_success
    run "${IAM[@]}" attach-user-policy --user-name carol --policy-arn "arn:aws:iam::$ACCOUNT:policy/carol-all"
    expect_success
    # the old carol's password is dead: it does not become the new carol's
    req GET /v2/ -u "AWS:$old"
    expect_status 401
    req HEAD /v2/e2e/auth-app/manifests/v1 -u "AWS:$old"
    expect_status 401
    req POST /v2/e2e/carol/blobs/uploads/ -u "AWS:$old"
    expect_status 401
    req GET "/v2/token?service=berth&scope=repository:e2e/carol:pull,push" -u "AWS:$old"
    expect_status 401
    # the new carol's own password works, with her new rights
    run "${IAM[@]}" create-access-key --user-name carol
    expect_success
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$(jq -r .AccessKey.AccessKeyId "$E2E_TMP/cmd.out")" \
        "$(jq -r .AccessKey.SecretAccessKey "$E2E_TMP/cmd.out")" >"$E2E_TMP/carol.creds"
    new=$(user_password carol) || { fail "the new carol cannot get a password: $(cat "$E2E_TMP/pw.err")"; return; }
    req POST /v2/e2e/carol/blobs/uploads/ -u "AWS:$new"
    expect_status 202
}
run_case "aws iam delete-user carol, create-user carol: the old carol's password → 401 (tokens are bound to the user id, not the name)" t_recreated_user_does_not_inherit_old_password

t_policy_document_with_spaces() {
    # pretty-printed: spaces and newlines, which the AWS CLI form-encodes as '+' and %0A
    cat >"$E2E_TMP/pretty.json" <<'JSON'
{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Pull",
            "Effect": "Allow",
            "Action": [ "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer" ],
            "Resource": "*"
        }
    ]
}
JSON
    run "${IAM[@]}" create-policy --policy-name pretty-printed --policy-document "file://$E2E_TMP/pretty.json"
    expect_success
    expect_out_jq .Policy.PolicyName '"pretty-printed"'
    run "${IAM[@]}" get-policy --policy-arn "arn:aws:iam::$ACCOUNT:policy/pretty-printed"
    expect_success
    # a '+' the CLI sends as %2B stays a '+' (a user name may hold one)
    run "${IAM[@]}" create-user --user-name "build+ci"
    expect_success
    expect_out_jq .User.UserName '"build+ci"'
    run "${IAM[@]}" delete-user --user-name "build+ci"
    expect_success
    run "${IAM[@]}" delete-policy --policy-arn "arn:aws:iam::$ACCOUNT:policy/pretty-printed"
    expect_success
}
run_case "aws iam create-policy with a pretty-printed document (spaces: '+' in the form body) succeeds; an encoded '+' stays '+'" t_policy_document_with_spaces

t_names_are_case_insensitive() {
    # IAM (CreateUser, CreateRole, CreatePolicy in the IAM API reference): "IAM user, group, role,
    # and policy names must be unique within the account. Names are not distinguished by case.
    # For example, you cannot create resources named both "MyResource" and "myresource"."
    run "${IAM[@]}" create-user --user-name dave
    expect_success
    run "${IAM[@]}" create-user --user-name DAVE
    expect_exit 254
    expect_stderr_match "EntityAlreadyExists"
    run "${IAM[@]}" get-user --user-name Dave
    expect_success
    expect_out_jq .User.UserName '"dave"'
    echo '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}' \
        >"$E2E_TMP/trust.json"
    run "${IAM[@]}" create-role --role-name Deployer --assume-role-policy-document "file://$E2E_TMP/trust.json"
    expect_success
    run "${IAM[@]}" create-role --role-name deployer --assume-role-policy-document "file://$E2E_TMP/trust.json"
    expect_exit 254
    expect_stderr_match "EntityAlreadyExists"
    run "${IAM[@]}" create-policy --policy-name CAROL-PULL --policy-document "file://$E2E_TMP/carol-pull.json"
    expect_exit 254
    expect_stderr_match "EntityAlreadyExists"
    run "${IAM[@]}" delete-user --user-name DAVE
    expect_success
    run "${IAM[@]}" get-user --user-name dave
    expect_exit 254
    expect_stderr_match "NoSuchEntity"
    run "${IAM[@]}" delete-role --role-name DEPLOYER
    expect_success
}
run_case "IAM names are unique whatever their case: create-user DAVE beside dave → EntityAlreadyExists; get-user Dave finds dave; the same for roles and policies" t_names_are_case_insensitive

t_paths() {
    # a path would be part of the ARN in IAM; Berth has none, so it refuses one rather than ignore it
    run "${IAM[@]}" create-user --user-name pathuser --path /team/
    expect_exit 254
    expect_stderr_match "ValidationError.*Path '/team/'.*at path /"
    run "${IAM[@]}" create-policy --policy-name pathuser-pull --path team --policy-document "file://$E2E_TMP/carol-pull.json"
    expect_exit 254
    expect_stderr_match "ValidationError.*at 'path' failed to satisfy constraint"
    run "${IAM[@]}" create-user --user-name pathuser --path /
    expect_success
    expect_out_jq .User.Arn "\"arn:aws:iam::$ACCOUNT:user/pathuser\""
}
run_case "IAM paths: --path / is accepted; any other path is a ValidationError (ARNs have no path here), a malformed one with IAM's pattern message" t_paths

t_several_scopes_in_one_parameter() {
    local pw tok
    pw=$(password) || { fail "no password"; return; }
    # a space between scopes, form-encoded as '+' (Go's url.Values), or as %20
    for sep in + %20; do
        req GET "/v2/token?service=berth&scope=repository:e2e/auth-app:pull${sep}repository:e2e/public:pull" -u "AWS:$pw"
        expect_status 200
        tok=$(jq -r .token "$E2E_TMP/resp.body")
        req HEAD /v2/e2e/auth-app/manifests/v1 -H "Authorization: Bearer $tok"
        expect_status 200
        req HEAD /v2/e2e/public/manifests/v1 -H "Authorization: Bearer $tok"
        expect_status 200
    done
}
run_case "GET /v2/token with two scopes in one scope= parameter, separated by '+' (a form-encoded space) or %20: the token covers both" t_several_scopes_in_one_parameter

t_a_deny_covers_every_spelling_of_a_name() {
    # an IAM operator who may do anything but touch erin or the policy carol-pull
    printf '%s' "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iam:*\",\"Resource\":\"*\"},{\"Effect\":\"Deny\",\"Action\":\"iam:*\",\"Resource\":[\"arn:aws:iam::$ACCOUNT:user/erin\",\"arn:aws:iam::$ACCOUNT:policy/carol-pull\"]}]}" \
        >"$E2E_TMP/iam-op.json"
    run "${IAM[@]}" create-policy --policy-name iam-op --policy-document "file://$E2E_TMP/iam-op.json"
    expect_success
    run "${IAM[@]}" create-user --user-name iam-op
    expect_success
    run "${IAM[@]}" attach-user-policy --user-name iam-op --policy-arn "arn:aws:iam::$ACCOUNT:policy/iam-op"
    expect_success
    run "${IAM[@]}" create-access-key --user-name iam-op
    expect_success
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$(jq -r .AccessKey.AccessKeyId "$E2E_TMP/cmd.out")" \
        "$(jq -r .AccessKey.SecretAccessKey "$E2E_TMP/cmd.out")" >"$E2E_TMP/iam-op.creds"
    run "${IAM[@]}" create-user --user-name erin
    expect_success
    local op=(env AWS_SHARED_CREDENTIALS_FILE="$E2E_TMP/iam-op.creds" "${IAM[@]}")
    # the Deny names user/erin: it refuses ERIN and Erin as well, since they find erin
    run "${op[@]}" delete-user --user-name ERIN
    expect_exit 254
    expect_stderr_match "AccessDenied"
    run "${op[@]}" attach-user-policy --user-name Erin --policy-arn "arn:aws:iam::$ACCOUNT:policy/iam-op"
    expect_exit 254
    expect_stderr_match "AccessDenied"
    run "${op[@]}" delete-policy --policy-arn "arn:aws:iam::$ACCOUNT:policy/CAROL-PULL"
    expect_exit 254
    expect_stderr_match "AccessDenied"
    run "${op[@]}" get-user --user-name ERIN
    expect_exit 254
    expect_stderr_match "AccessDenied"
    run "${IAM[@]}" get-user --user-name erin
    expect_success
    run "${IAM[@]}" delete-user --user-name erin
    expect_success
}
run_case "an IAM Deny on user/erin or policy/carol-pull also refuses ERIN, Erin and CAROL-PULL (the action is authorized on the name as created)" t_a_deny_covers_every_spelling_of_a_name

PW_BEFORE_RESTART=$(password)
restart_registry
t_restart_keeps_identities() {
    req GET /v2/ -u "AWS:$PW_BEFORE_RESTART"
    expect_status 200
    run "${AWS[@]}" ecr get-login-password
    expect_success
    [[ -f $CREDS ]] || fail "admin-credentials is gone after a restart"
}
run_case "after a restart: the same account, key and token key — a password issued before still works" t_restart_keeps_identities

PW_BEFORE_ROTATION=$(password)
restart_registry --rotate-token-key
t_token_key_rotation() {
    req GET /v2/ -u "AWS:$PW_BEFORE_ROTATION"
    expect_status 401
    local pw
    pw=$(password) || { fail "get-login-password after the rotation failed"; return; }
    req GET /v2/ -u "AWS:$pw"
    expect_status 200
    grep -q "rotated the registry token signing key" "$REGISTRY_LOG" || fail "the log does not say the key was rotated"
}
run_case "berthd --rotate-token-key: every password issued before is refused (401); new ones work" t_token_key_rotation

# a short password lifetime (berthd's least): the Bearer tokens minted from a password end with it
restart_registry --token-ttl 60
t_bearer_token_ends_with_its_password() {
    local pw
    pw=$(password) || { fail "no password"; return; }
    req GET "/v2/token?service=berth&scope=repository:e2e/auth-app:pull" -u "AWS:$pw"
    expect_status 200
    jq -e '.expires_in >= 1 and .expires_in <= 60' "$E2E_TMP/resp.body" >/dev/null ||
        fail_diff "expires_in of a token minted from a 60 s password" "1 to 60" "$(jq -c .expires_in "$E2E_TMP/resp.body")"
    # an anonymous token has no password to end with
    req GET "/v2/token?service=berth&scope=repository:e2e/public:pull"
    expect_status 200
    expect_jq .expires_in 900
}
run_case "berthd --token-ttl 60: a Bearer token from /v2/token expires no later than the password it was minted from (expires_in <= 60, not 900)" t_bearer_token_ends_with_its_password


finish
