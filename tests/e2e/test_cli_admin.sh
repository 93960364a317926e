#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# The berth CLI's administration commands against a running berthd with
# authentication on: users, roles, access keys, managed policies and their
# attachments, repository policies and get-login-password, each checked by its
# effect on what real clients (skopeo, curl, the AWS CLI) may then do; and
# every way a call is refused, with berth's exit status (0 done, 1 refused by
# the server, 2 bad usage or configuration, 3 server unreachable).
#
#   E2E_TARGET=berth BERTHD=build/server/berthd BERTH_CLI=build/cli/berth tests/e2e/test_cli_admin.sh
#   E2E_AUTH_TLS=1 ... the same over HTTPS (a CA made here; berth trusts it through AWS_CA_BUNDLE)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws skopeo curl jq
is_berth || skip_all "the berth CLI administers Berth"
[[ -n ${BERTH_CLI:-} && -x ${BERTH_CLI:-} ]] || { echo "needs BERTH_CLI=/path/to/berth" >&2; exit 2; }

start_authenticated_registry
export BERTH_ENDPOINT_URL=$BASE
unset AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL
ACCOUNT=$(sed -n 's/.*created account \([0-9]*\).*/\1/p' "$REGISTRY_LOG" | head -1)
BERTH=("$BERTH_CLI")
ALICE_CREDS=$E2E_TMP/alice-credentials
ACCEPT_OCI=(-H "Accept: application/vnd.oci.image.manifest.v1+json")
IAM=("${AWS_CLI[@]}" --endpoint-url "$BASE" --region us-east-1 iam)

# as_alice CMD...: run CMD with alice's key (written by the first case).
as_alice() { AWS_SHARED_CREDENTIALS_FILE=$ALICE_CREDS "$@"; }

t_users_and_keys() {
    run "${BERTH[@]}" iam create-user --user-name alice
    expect_success
    expect_out_jq .User.Arn "\"arn:aws:iam::$ACCOUNT:user/alice\""
    expect_out_jq .User.UserName '"alice"'
    run "${BERTH[@]}" iam create-user --user-name alice
    expect_exit 1
    expect_stderr_match "An error occurred \(EntityAlreadyExists\) when calling the CreateUser operation"
    run "${BERTH[@]}" iam create-access-key --user-name alice
    expect_success
    local id secret
    id=$(jq -r .AccessKey.AccessKeyId "$E2E_TMP/cmd.out")
    secret=$(jq -r .AccessKey.SecretAccessKey "$E2E_TMP/cmd.out")
    [[ $id =~ ^AKIA[A-Z2-7]{16}$ ]] || fail_diff "access key id" "AKIA + 16 of [A-Z2-7]" "$id"
    expect_eq "secret length" 40 "${#secret}"
    printf '[other]\naws_access_key_id = nope\n\n[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$id" "$secret" \
        >"$ALICE_CREDS"
    run "${BERTH[@]}" iam list-access-keys --user-name alice
    expect_success
    expect_out_jq '[.AccessKeyMetadata[] | [.AccessKeyId, .Status]]' "[[\"$id\",\"Active\"]]"
    grep -qF -- "$secret" "$E2E_TMP/cmd.out" && fail "list-access-keys shows the secret"
    # the key signs as alice, who has no policy yet: even reading herself is denied, as in IAM
    as_alice run "${BERTH[@]}" iam get-user
    expect_exit 1
    expect_stderr_match "\(AccessDenied\).*user/alice is not authorized to perform: iam:GetUser on resource: arn:aws:iam::$ACCOUNT:user/alice"
    as_alice run "${BERTH[@]}" iam list-users
    expect_exit 1
    expect_stderr_match "\(AccessDenied\).*user/alice is not authorized to perform: iam:ListUsers"
    # berth and the AWS CLI see the same users
    run "${BERTH[@]}" iam list-users
    expect_out_jq '[.Users[].UserName] | sort' '["admin","alice"]'
    run "${IAM[@]}" list-users
    expect_out_jq '[.Users[].UserName] | sort' '["admin","alice"]'
    if grep -qF -- "$secret" "$REGISTRY_LOG"; then fail "the new secret access key appears in berthd's log"; fi
}
run_case "berth iam create-user, create-access-key, list-access-keys, list-users: the new key signs as alice, who may do nothing yet (not even get-user)" t_users_and_keys

t_policies_grant_push() {
    cat >"$E2E_TMP/push-app.json" <<'EOF'
{"Version":"2012-10-17","Statement":[
 {"Sid":"Login","Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"},
 {"Sid":"PushApp","Effect":"Allow","Action":["ecr:*"],"Resource":"arn:aws:ecr:*:*:repository/team/app"}]}
EOF
    run "${BERTH[@]}" iam create-policy --policy-name PushApp --policy-document "file://$E2E_TMP/push-app.json"
    expect_success
    expect_out_jq .Policy.Arn "\"arn:aws:iam::$ACCOUNT:policy/PushApp\""
    run "${BERTH[@]}" iam attach-user-policy --user-name alice --policy-arn "arn:aws:iam::$ACCOUNT:policy/PushApp"
    expect_success
    expect_eq "attach-user-policy prints nothing" "" "$(cmd_out)"
    run "${BERTH[@]}" iam list-attached-user-policies --user-name alice
    expect_out_jq '[.AttachedPolicies[].PolicyArn]' "[\"arn:aws:iam::$ACCOUNT:policy/PushApp\"]"
    run "${BERTH[@]}" iam list-policies
    expect_out_jq '[.Policies[].PolicyName] | index("PushApp") != null' true
    local pw
    pw=$(as_alice "${BERTH[@]}" ecr get-login-password) || { fail "alice's get-login-password failed"; return; }
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/team/app:v1"
    expect_success
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/team/other:v1"
    expect_exit 1
    expect_stderr_match "denied|403"
    req POST /v2/team/other/blobs/uploads/ -u "AWS:$pw"
    expect_status 403
    expect_json_error DENIED
    # the administrator's password (berth ecr get-login-password) logs in too
    pw=$("${BERTH[@]}" ecr get-login-password) || { fail "get-login-password failed"; return; }
    req GET /v2/team/app/manifests/v1 -u "AWS:$pw" "${ACCEPT_OCI[@]}"
    expect_status 200
    req GET /v2/ -u "AWS:${pw}x"
    expect_status 401
}
run_case "berth iam create-policy, attach-user-policy, list-attached-user-policies; berth ecr get-login-password: alice pushes team/app with skopeo, team/other is denied" t_policies_grant_push

t_repository_policy() {
    req GET /v2/team/app/manifests/v1 "${ACCEPT_OCI[@]}"
    expect_status 401
    echo '{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"]}]}' \
        >"$E2E_TMP/public.json"
    run "${BERTH[@]}" ecr set-repository-policy --repository-name team/app --policy-text "file://$E2E_TMP/public.json"
    expect_success
    expect_out_jq .repositoryName '"team/app"'
    expect_out_jq '.policyText | fromjson | .Statement[0].Sid' '"PublicRead"'
    req GET /v2/team/app/manifests/v1 "${ACCEPT_OCI[@]}"
    expect_status 200
    run "${BERTH[@]}" ecr get-repository-policy --repository-name team/app
    expect_success
    expect_out_jq '.policyText | fromjson | .Statement[0].Principal' '"*"'
    # the AWS CLI reads the same policy
    run "${AWS[@]}" ecr get-repository-policy --repository-name team/app
    expect_out_jq '.policyText | fromjson | .Statement[0].Sid' '"PublicRead"'
    run "${BERTH[@]}" ecr delete-repository-policy --repository-name team/app
    expect_success
    req GET /v2/team/app/manifests/v1 "${ACCEPT_OCI[@]}"
    expect_status 401
    run "${BERTH[@]}" ecr get-repository-policy --repository-name team/app
    expect_exit 1
    expect_stderr_match "RepositoryPolicyNotFoundException"
    run "${BERTH[@]}" ecr set-repository-policy --repository-name team/nothing-here --policy-text "file://$E2E_TMP/public.json"
    expect_exit 1
    expect_stderr_match "RepositoryNotFoundException"
    run "${BERTH[@]}" ecr set-repository-policy --repository-name team/app --policy-text '{"Version":"2012-10-17","Statement":[]'
    expect_exit 1
    expect_stderr_match "InvalidParameterException"
}
run_case "berth ecr set/get/delete-repository-policy: a public-read policy lets anonymous pulls in, and deleting it shuts them out" t_repository_policy

t_roles() {
    echo '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}' \
        >"$E2E_TMP/trust.json"
    run "${BERTH[@]}" iam create-role --role-name builder --assume-role-policy-document "file://$E2E_TMP/trust.json"
    expect_success
    expect_out_jq .Role.Arn "\"arn:aws:iam::$ACCOUNT:role/builder\""
    run "${BERTH[@]}" iam attach-role-policy --role-name builder --policy-arn "arn:aws:iam::$ACCOUNT:policy/PushApp"
    expect_success
    run "${BERTH[@]}" iam list-attached-role-policies --role-name builder
    expect_out_jq '[.AttachedPolicies[].PolicyName]' '["PushApp"]'
    run "${BERTH[@]}" iam list-roles
    expect_out_jq '[.Roles[].RoleName]' '["builder"]'
    run "${BERTH[@]}" iam delete-role --role-name builder
    expect_exit 1
    expect_stderr_match "DeleteConflict"
    run "${BERTH[@]}" iam detach-role-policy --role-name builder --policy-arn "arn:aws:iam::$ACCOUNT:policy/PushApp"
    expect_success
    run "${BERTH[@]}" iam delete-role --role-name builder
    expect_success
    run "${BERTH[@]}" iam get-role --role-name builder
    expect_exit 1
    expect_stderr_match "NoSuchEntity"
}
run_case "berth iam create-role, attach/detach-role-policy, list-roles, delete-role (refused while a policy is attached)" t_roles

t_delete_user_and_key() {
    local id
    id=$(sed -n 's/^aws_access_key_id = //p' "$ALICE_CREDS" | tail -1)
    run "${BERTH[@]}" iam delete-user --user-name alice
    expect_exit 1
    expect_stderr_match "DeleteConflict"
    run "${BERTH[@]}" iam delete-policy --policy-arn "arn:aws:iam::$ACCOUNT:policy/PushApp"
    expect_exit 1
    expect_stderr_match "DeleteConflict"
    run "${BERTH[@]}" iam detach-user-policy --user-name alice --policy-arn "arn:aws:iam::$ACCOUNT:policy/PushApp"
    expect_success
    run "${BERTH[@]}" iam delete-access-key --user-name alice --access-key-id "$id"
    expect_success
    as_alice run "${BERTH[@]}" iam get-user
    expect_exit 1
    expect_stderr_match "InvalidClientTokenId"
    run "${BERTH[@]}" iam delete-user --user-name alice
    expect_success
    run "${BERTH[@]}" iam get-user --user-name alice
    expect_exit 1
    expect_stderr_match "NoSuchEntity"
    run "${BERTH[@]}" iam delete-policy --policy-arn "arn:aws:iam::$ACCOUNT:policy/PushApp"
    expect_success
    run "${BERTH[@]}" iam get-policy --policy-arn "arn:aws:iam::$ACCOUNT:policy/PushApp"
    expect_exit 1
    expect_stderr_match "NoSuchEntity"
}
run_case "berth iam delete-user and delete-policy refuse while attached; after detach-user-policy and delete-access-key they succeed, and the deleted key no longer signs" t_delete_user_and_key

t_bad_usage() {
    run "${BERTH[@]}" iam create-user
    expect_exit 2
    expect_stderr_match "--user-name is required"
    run "${BERTH[@]}" iam create-user --user-name bob --colour blue
    expect_exit 2
    expect_stderr_match "unknown option '--colour'"
    run "${BERTH[@]}" iam frobnicate
    expect_exit 2
    expect_stderr_match "unknown subcommand 'frobnicate'"
    run "${BERTH[@]}" iam create-policy --policy-name P --policy-document "file://$E2E_TMP/does-not-exist.json"
    expect_exit 2
    expect_stderr_match "cannot open .*does-not-exist.json"
    run "${BERTH[@]}" iam create-policy --policy-name Broken --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*"}]}'
    expect_exit 1
    expect_stderr_match "MalformedPolicyDocument.*Resource"
    run "${BERTH[@]}" iam create-user --user-name 'bad/name'
    expect_exit 1
    expect_stderr_match "ValidationError"
    BERTH_ENDPOINT_URL='' run "${BERTH[@]}" iam list-users
    expect_exit 2
    expect_stderr_match "no endpoint"
    run "${BERTH[@]}" iam list-users --endpoint-url "http://127.0.0.1:$(free_port)"
    expect_exit 3
    run "${BERTH[@]}" iam list-users --endpoint-url "$BASE/v2/"
    expect_exit 2
    expect_stderr_match "has a path"
    run "${BERTH[@]}" iam list-users --profile missing
    expect_exit 2
    expect_stderr_match "no \[missing\] profile"
    AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/nothing run "${BERTH[@]}" iam list-users
    expect_exit 2
    expect_stderr_match "no credentials: cannot open .*/nothing: No such file"
    run "${BERTH[@]}" ecr set-repository-policy --repository-name team/app --policy-text x --force=yes
    expect_exit 2
    expect_stderr_match "--force takes no value"
    # the AWS CLI's --name=value form
    BERTH_ENDPOINT_URL='' run "${BERTH[@]}" iam list-users --endpoint-url="$BASE"
    expect_success
    expect_out_jq '[.Users[].UserName] | index("admin") != null' true
    local id
    id=$(sed -n 's/^aws_access_key_id = //p' "$CREDS")
    AWS_ACCESS_KEY_ID=$id AWS_SECRET_ACCESS_KEY=0123456789012345678901234567890123456789 run "${BERTH[@]}" iam list-users
    expect_exit 1
    expect_stderr_match "SignatureDoesNotMatch"
    AWS_ACCESS_KEY_ID=AKIAAAAAAAAAAAAAAAAA AWS_SECRET_ACCESS_KEY=0123456789012345678901234567890123456789 \
        run "${BERTH[@]}" ecr get-login-password
    expect_exit 1
    expect_stderr_match "UnrecognizedClientException"
}
run_case "berth's refusals: a missing or unknown option, an unknown subcommand, a missing file (2); a malformed document or name, a wrong secret, an unknown key (1); no endpoint or credentials (2); nobody listening (3)" t_bad_usage

finish
