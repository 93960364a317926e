#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# STS and temporary credentials with real clients: `aws sts assume-role` and
# `get-caller-identity` (a user, a role's session), `aws iam create-role`
# with a trust policy, every API and `get-login-password` with the temporary
# credentials (the role's policies apply: allowed and denied), skopeo with
# that password, refusals (a trust policy that does not name the caller, a
# tampered token, a deleted and re-created role, STS's ValidationErrors),
# expiry (berthd restarted with --clock-offset, the documented test-only
# clock), and boto3.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd BERTH_CLI=build/cli/berth tests/e2e/test_sts.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws /usr/bin/python3 skopeo curl jq base64
is_berth || skip_all "STS is Berth's (the reference registry has no AWS APIs)"

start_authenticated_registry
ACCOUNT=$(sed -n 's/.*created account \([0-9]*\).*/\1/p' "$REGISTRY_LOG" | head -1)
IAM=("${AWS[@]}" iam)
STS=("${AWS[@]}" sts)
ROLE_ARN="arn:aws:iam::$ACCOUNT:role"

# trust DOC-PRINCIPAL: a trust policy allowing sts:AssumeRole to one Principal value (JSON).
trust() {
    printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":%s,"Action":"sts:AssumeRole"}]}' "$1"
}

# session_creds FILE: the credentials of the last `run ... sts assume-role`, as a credentials file.
session_creds() {
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n' \
        "$(jq -r .Credentials.AccessKeyId "$E2E_TMP/cmd.out")" "$(jq -r .Credentials.SecretAccessKey "$E2E_TMP/cmd.out")" \
        "$(jq -r .Credentials.SessionToken "$E2E_TMP/cmd.out")" >"$1"
}

# as FILE CMD...: run CMD with the credentials file FILE.
as() {
    local f=$1
    shift
    AWS_SHARED_CREDENTIALS_FILE=$f run "$@"
}

PULLER_CREDS=$E2E_TMP/puller-session
SESSION_PW=$E2E_TMP/puller-password

t_setup() {
    # the administrator pushes the image the role will pull
    local pw
    pw=$("${AWS[@]}" ecr get-login-password) || { fail "no administrator password"; return; }
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/sts-app:v1"
    expect_success
    echo '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability","ecr:GetRepositoryPolicy"],"Resource":"*"}]}' \
        >"$E2E_TMP/pull.json"
    run "${IAM[@]}" create-policy --policy-name RolePull --policy-document "file://$E2E_TMP/pull.json"
    expect_success
    trust "{\"AWS\":\"arn:aws:iam::$ACCOUNT:user/admin\"}" >"$E2E_TMP/trust-admin.json"
    run "${IAM[@]}" create-role --role-name puller --assume-role-policy-document "file://$E2E_TMP/trust-admin.json"
    expect_success
    expect_out_jq .Role.Arn "\"$ROLE_ARN/puller\""
    expect_out_jq .Role.AssumeRolePolicyDocument.Statement[0].Principal.AWS "\"arn:aws:iam::$ACCOUNT:user/admin\""
    expect_out_jq .Role.MaxSessionDuration 3600
    run "${IAM[@]}" attach-role-policy --role-name puller --policy-arn "arn:aws:iam::$ACCOUNT:policy/RolePull"
    expect_success
    trust "{\"AWS\":\"arn:aws:iam::$ACCOUNT:user/someone-else\"}" >"$E2E_TMP/trust-other.json"
    run "${IAM[@]}" create-role --role-name not-for-admin --assume-role-policy-document "file://$E2E_TMP/trust-other.json"
    expect_success
    trust '{"Service":"ecs-tasks.amazonaws.com"}' >"$E2E_TMP/trust-task.json"
    run "${IAM[@]}" create-role --role-name task-only --assume-role-policy-document "file://$E2E_TMP/trust-task.json"
    expect_success
    # a trust policy is validated as IAM validates it
    run "${IAM[@]}" create-role --role-name broken --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}'
    expect_exit 254
    expect_stderr_match "MalformedPolicyDocument"
    run "${IAM[@]}" create-role --role-name too-long --assume-role-policy-document "file://$E2E_TMP/trust-admin.json" --max-session-duration 50000
    expect_exit 254
    expect_stderr_match "ValidationError"
}
run_case "setup: the administrator pushes e2e/sts-app:v1; aws iam create-role keeps trust policies (answered decoded, with MaxSessionDuration) (a malformed one and a MaxSessionDuration past 12 h refused)" t_setup

t_caller_identity_user() {
    run "${STS[@]}" get-caller-identity
    expect_success
    expect_out_jq .Arn "\"arn:aws:iam::$ACCOUNT:user/admin\""
    expect_out_jq .Account "\"$ACCOUNT\""
    [[ $(jq -r .UserId "$E2E_TMP/cmd.out") =~ ^AIDA[A-Z2-7]{17}$ ]] || fail "UserId is not AIDA…: $(cmd_out)"
}
run_case "aws sts get-caller-identity with an access key: the user's ARN, its AIDA… id and the account" t_caller_identity_user

t_assume_role() {
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/puller" --role-session-name ci-run.1@e2e
    expect_success
    session_creds "$PULLER_CREDS"
    local id secret token exp now
    id=$(jq -r .Credentials.AccessKeyId "$E2E_TMP/cmd.out")
    secret=$(jq -r .Credentials.SecretAccessKey "$E2E_TMP/cmd.out")
    token=$(jq -r .Credentials.SessionToken "$E2E_TMP/cmd.out")
    [[ $id =~ ^ASIA[A-Z2-7]{16}$ ]] || fail_diff "AccessKeyId" "ASIA + 16 of [A-Z2-7]" "$id"
    expect_eq "secret length" 40 "${#secret}"
    [[ ${#token} -gt 100 ]] || fail "SessionToken is too short to carry anything: $token"
    exp=$(date -d "$(jq -r .Credentials.Expiration "$E2E_TMP/cmd.out")" +%s)
    now=$(date +%s)
    ((exp - now > 3500 && exp - now <= 3600)) || fail_diff "lifetime (default 3600 s)" "3600" "$((exp - now))"
    expect_out_jq .AssumedRoleUser.Arn "\"arn:aws:sts::$ACCOUNT:assumed-role/puller/ci-run.1@e2e\""
    [[ $(jq -r .AssumedRoleUser.AssumedRoleId "$E2E_TMP/cmd.out") =~ ^AROA[A-Z2-7]{17}:ci-run\.1@e2e$ ]] ||
        fail "AssumedRoleId is not AROA…:session: $(cmd_out)"
    if grep -qF -- "$secret" "$REGISTRY_LOG"; then fail "the session's secret appears in berthd's log"; fi
    as "$PULLER_CREDS" "${STS[@]}" get-caller-identity
    expect_success
    expect_out_jq .Arn "\"arn:aws:sts::$ACCOUNT:assumed-role/puller/ci-run.1@e2e\""
    expect_out_jq .Account "\"$ACCOUNT\""
    [[ $(jq -r .UserId "$E2E_TMP/cmd.out") =~ ^AROA[A-Z2-7]{17}:ci-run\.1@e2e$ ]] || fail "UserId is not AROA…:session: $(cmd_out)"
}
run_case "aws sts assume-role (trust policy names the user): ASIA… key, 40-character secret, session token, 1 h expiry, the assumed-role ARN and AROA…:session; get-caller-identity with them names the session" t_assume_role

t_role_policies_apply() {
    as "$PULLER_CREDS" "${AWS[@]}" ecr get-authorization-token
    expect_success
    local exp
    exp=$(date -d "$(jq -r '.authorizationData[0].expiresAt' "$E2E_TMP/cmd.out")" +%s)
    ((exp <= $(date +%s) + 3600)) || fail "a password minted with 1 h credentials expires at $exp, after them (12 h default)"
    as "$PULLER_CREDS" "${AWS[@]}" ecr get-login-password
    expect_success
    cp "$E2E_TMP/cmd.out" "$SESSION_PW"
    local pw
    pw=$(cat "$SESSION_PW")
    run sh -c "skopeo login --tls-verify=false --username AWS --password-stdin --authfile '$E2E_TMP/sts-auth.json' $REGISTRY <'$SESSION_PW'"
    expect_success
    run "${SKOPEO[@]}" copy --src-tls-verify=false --src-creds "AWS:$pw" "docker://$REGISTRY/e2e/sts-app:v1" "oci:$E2E_TMP/role-pull:v1"
    expect_success
    run "${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/sts-app:role-push"
    expect_exit 1
    expect_stderr_match "denied"
    req POST /v2/e2e/sts-app/blobs/uploads/ -u "AWS:$pw"
    expect_status 403
    grep -q "role/puller is not authorized to perform: ecr:InitiateLayerUpload" "$E2E_TMP/resp.body" ||
        fail "the DENIED detail does not name the role and the action: $(body)"
    # the role may read repository policies (none here) but not set one
    as "$PULLER_CREDS" "${AWS[@]}" ecr get-repository-policy --repository-name e2e/sts-app
    expect_exit 254
    expect_stderr_match "RepositoryPolicyNotFoundException"
    as "$PULLER_CREDS" "${AWS[@]}" ecr set-repository-policy --repository-name e2e/sts-app --policy-text "file://$E2E_TMP/trust-admin.json"
    expect_exit 254
    expect_stderr_match "AccessDeniedException.*assumed-role/puller/ci-run.1@e2e is not authorized to perform: ecr:SetRepositoryPolicy"
    as "$PULLER_CREDS" "${IAM[@]}" list-users
    expect_exit 254
    expect_stderr_match "AccessDenied.*iam:ListUsers"
}
run_case "with the temporary credentials the role's policies apply: get-login-password (expiring no later than them), skopeo login and pull; push, SetRepositoryPolicy and IAM refused naming the session" t_role_policies_apply

t_assume_refused() {
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/not-for-admin" --role-session-name s1
    expect_exit 254
    expect_stderr_match "AccessDenied.*user/admin is not authorized to perform: sts:AssumeRole on resource: $ROLE_ARN/not-for-admin"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/task-only" --role-session-name s1
    expect_exit 254
    expect_stderr_match "AccessDenied"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/no-such-role" --role-session-name s1
    expect_exit 254
    expect_stderr_match "AccessDenied"
    # the role's own session is not named by puller's trust policy (it names the user)
    as "$PULLER_CREDS" "${STS[@]}" assume-role --role-arn "$ROLE_ARN/puller" --role-session-name again
    expect_exit 254
    expect_stderr_match "AccessDenied.*assumed-role/puller/ci-run.1@e2e"
    # UpdateAssumeRolePolicy: now the administrator is named
    run "${IAM[@]}" update-assume-role-policy --role-name not-for-admin --policy-document "file://$E2E_TMP/trust-admin.json"
    expect_success
    run "${IAM[@]}" get-role --role-name not-for-admin
    expect_success
    expect_out_jq .Role.AssumeRolePolicyDocument.Statement[0].Principal.AWS "\"arn:aws:iam::$ACCOUNT:user/admin\""
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/not-for-admin" --role-session-name s1
    expect_success
}
run_case "AssumeRole refused with AccessDenied where the trust policy does not name the caller (another user, a service only, no such role, a session of the role); update-assume-role-policy changes that (get-role shows it)" t_assume_refused

t_validation_errors() {
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/puller" --role-session-name s1 --duration-seconds 43201
    expect_exit 254
    expect_stderr_match "ValidationError.*durationSeconds.*less than or equal to 43200"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/puller" --role-session-name s1 --duration-seconds 7200
    expect_exit 254
    expect_stderr_match "ValidationError.*DurationSeconds exceeds the MaxSessionDuration"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/puller" --role-session-name "$(printf 'x%.0s' {1..65})"
    expect_exit 254
    expect_stderr_match "ValidationError.*roleSessionName.*less than or equal to 64"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/puller" --role-session-name "has space"
    expect_exit 254
    expect_stderr_match "ValidationError.*roleSessionName.*regular expression"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/puller" --role-session-name "slash/no"
    expect_exit 254
    expect_stderr_match "ValidationError"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/puller" --role-session-name s1 --duration-seconds 900
    expect_success
}
run_case "bad DurationSeconds (past 43200, past the role's 3600) and RoleSessionName (65 characters, a space, a slash) → ValidationError; 900 s is accepted" t_validation_errors

t_external_id_and_session_policies() {
    printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:user/admin"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-42"},"StringLike":{"sts:RoleSessionName":"ci-*"}}}]}' \
        "$ACCOUNT" >"$E2E_TMP/trust-external.json"
    run "${IAM[@]}" create-role --role-name third-party --assume-role-policy-document "file://$E2E_TMP/trust-external.json"
    expect_success
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/third-party" --role-session-name ci-1
    expect_exit 254
    expect_stderr_match "AccessDenied"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/third-party" --role-session-name ci-1 --external-id wrong
    expect_exit 254
    expect_stderr_match "AccessDenied"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/third-party" --role-session-name other-1 --external-id ext-42
    expect_exit 254
    expect_stderr_match "AccessDenied"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/third-party" --role-session-name ci-1 --external-id ext-42
    expect_success
    # a session policy would narrow the session: never silently dropped
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/puller" --role-session-name s1 --policy "file://$E2E_TMP/pull.json"
    expect_exit 254
    expect_stderr_match "ValidationError.*Policy is not supported"
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/puller" --role-session-name s1 --tags Key=team,Value=a
    expect_exit 254
    expect_stderr_match "ValidationError.*Tags.\* is not supported"
}
run_case "trust-policy conditions see sts:ExternalId and sts:RoleSessionName (missing, wrong, right); a session policy or tags → ValidationError, never silently ignored" t_external_id_and_session_policies

t_malformed_optional_parameters() {
    local body service
    for body in "iam Action=GetUser&Version=2010-05-08&UserName=%ZZ" \
        "iam Action=CreateAccessKey&Version=2010-05-08&UserName=%00" \
        "iam Action=CreateRole&Version=2010-05-08&RoleName=x&AssumeRolePolicyDocument=%7B%7D&MaxSessionDuration=%ZZ" \
        "sts Action=AssumeRole&Version=2011-06-15&RoleArn=$ROLE_ARN/puller&RoleSessionName=abc&DurationSeconds=%ZZ" \
        "sts Action=AssumeRole&Version=2011-06-15&RoleArn=$ROLE_ARN/puller&RoleSessionName=abc&ExternalId=%G1"; do
        service=${body%% *}
        run /usr/bin/python3 "$E2E_DIR/aws_signed.py" "$BASE" "$CREDS" "$service" "${body#* }" \
            "Content-Type:application/x-www-form-urlencoded; charset=utf-8"
        expect_success
        expect_out_jq .status 400
        grep -q "<Code>ValidationError</Code>" "$E2E_TMP/cmd.out" || fail "no ValidationError for ${body#* }: $(cmd_out)"
        # one response, and berthd still serving (a second response aborted it in h2o)
        req GET /v2/
        expect_status 401
    done
}
run_case "a malformed optional parameter (UserName, MaxSessionDuration, DurationSeconds, ExternalId) → one 400 ValidationError, and berthd goes on serving" t_malformed_optional_parameters

t_tampered() {
    local id secret token f=$E2E_TMP/tampered
    id=$(sed -n 's/^aws_access_key_id = //p' "$PULLER_CREDS")
    secret=$(sed -n 's/^aws_secret_access_key = //p' "$PULLER_CREDS")
    token=$(sed -n 's/^aws_session_token = //p' "$PULLER_CREDS")
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n' "$id" "$secret" \
        "$(changed_at "$token" 40)" >"$f"
    as "$f" "${STS[@]}" get-caller-identity
    expect_exit 254
    expect_stderr_match "InvalidClientTokenId"
    as "$f" "${AWS[@]}" ecr get-login-password
    expect_exit 254
    expect_stderr_match "UnrecognizedClientException"
    # the token of these credentials with another session's key id
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n' \
        "$(changed_at "$id" 10)" "$secret" "$token" >"$f"
    as "$f" "${STS[@]}" get-caller-identity
    expect_exit 254
    expect_stderr_match "InvalidClientTokenId"
    # no token at all
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$id" "$secret" >"$f"
    as "$f" "${STS[@]}" get-caller-identity
    expect_exit 254
    expect_stderr_match "InvalidClientTokenId"
    # the right token, a wrong secret
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n' "$id" \
        "$(changed_at "$secret" 5)" "$token" >"$f"
    as "$f" "${STS[@]}" get-caller-identity
    expect_exit 254
    expect_stderr_match "SignatureDoesNotMatch"
}
run_case "a tampered session token, another key id with the token, no token, or a wrong secret → InvalidClientTokenId / UnrecognizedClientException / SignatureDoesNotMatch" t_tampered

t_role_deleted_and_recreated() {
    local f=$E2E_TMP/temp-session pw
    run "${IAM[@]}" create-role --role-name temp --assume-role-policy-document "file://$E2E_TMP/trust-admin.json"
    expect_success
    run "${IAM[@]}" attach-role-policy --role-name temp --policy-arn "arn:aws:iam::$ACCOUNT:policy/RolePull"
    expect_success
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/temp" --role-session-name old
    expect_success
    session_creds "$f"
    pw=$(AWS_SHARED_CREDENTIALS_FILE=$f "${AWS[@]}" ecr get-login-password) || fail "no password for the temp role's session"
    req GET /v2/e2e/sts-app/manifests/v1 -u "AWS:$pw"
    expect_status 200
    run "${IAM[@]}" detach-role-policy --role-name temp --policy-arn "arn:aws:iam::$ACCOUNT:policy/RolePull"
    expect_success
    run "${IAM[@]}" delete-role --role-name temp
    expect_success
    as "$f" "${STS[@]}" get-caller-identity
    expect_exit 254
    expect_stderr_match "InvalidClientTokenId"
    req GET /v2/e2e/sts-app/manifests/v1 -u "AWS:$pw"
    expect_status 401
    run "${IAM[@]}" create-role --role-name temp --assume-role-policy-document "file://$E2E_TMP/trust-admin.json"
    expect_success
    run "${IAM[@]}" attach-role-policy --role-name temp --policy-arn "arn:aws:iam::$ACCOUNT:policy/RolePull"
    expect_success
    as "$f" "${STS[@]}" get-caller-identity
    expect_exit 254
    expect_stderr_match "InvalidClientTokenId"
    req GET /v2/e2e/sts-app/manifests/v1 -u "AWS:$pw"
    expect_status 401
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/temp" --role-session-name new
    expect_success
    session_creds "$f"
    as "$f" "${STS[@]}" get-caller-identity
    expect_success
    expect_out_jq .Arn "\"arn:aws:sts::$ACCOUNT:assumed-role/temp/new\""
}
run_case "a deleted role's sessions and their registry passwords are refused, and stay refused when a role of the same name is created again; its new sessions work" t_role_deleted_and_recreated

t_role_chaining() {
    trust "{\"AWS\":\"$ROLE_ARN/puller\"}" >"$E2E_TMP/trust-puller.json"
    run "${IAM[@]}" create-role --role-name chained --assume-role-policy-document "file://$E2E_TMP/trust-puller.json"
    expect_success
    as "$PULLER_CREDS" "${STS[@]}" assume-role --role-arn "$ROLE_ARN/chained" --role-session-name hop
    expect_success
    expect_out_jq .AssumedRoleUser.Arn "\"arn:aws:sts::$ACCOUNT:assumed-role/chained/hop\""
    run "${STS[@]}" assume-role --role-arn "$ROLE_ARN/chained" --role-session-name hop
    expect_exit 254
    expect_stderr_match "AccessDenied"
}
run_case "a trust policy naming a role lets that role's sessions assume it (role chaining), and not the user" t_role_chaining

t_boto3() {
    run /usr/bin/python3 "$E2E_DIR/sts_boto3.py" "$BASE" "$CREDS" "$ROLE_ARN/puller"
    expect_success
    expect_out_jq .assumed_arn "\"arn:aws:sts::$ACCOUNT:assumed-role/puller/boto3-session\""
    expect_out_jq .caller_arn "\"arn:aws:sts::$ACCOUNT:assumed-role/puller/boto3-session\""
    expect_out_jq .key_prefix '"ASIA"'
    local life
    life=$(jq .lifetime "$E2E_TMP/cmd.out")
    ((life > 800 && life <= 900)) || fail_diff "boto3 session lifetime" 900 "$life"
    expect_out_jq '.errors.duration_899[0]' '"ValidationError"'
    expect_out_jq '.errors.duration_899[1] | test("greater than or equal to 900")' true
    expect_out_jq '.errors.session_name_1[0]' '"ValidationError"'
    expect_out_jq '.errors.session_name_1[1] | test("roleSessionName.*greater than or equal to 2")' true
}
run_case "boto3: assume_role for 900 s and get_caller_identity with the temporary credentials; DurationSeconds 899 and a 1-character session name (past botocore's own checks) → ValidationError" t_boto3

t_berth_cli() {
    [[ -n ${BERTH_CLI:-} && -x ${BERTH_CLI:-} ]] || skip_case "BERTH_CLI is not set"
    local pw
    as "$PULLER_CREDS" "$BERTH_CLI" ecr get-login-password --endpoint-url "$BASE"
    expect_success
    pw=$(cmd_out)
    req GET /v2/e2e/sts-app/manifests/v1 -u "AWS:$pw"
    expect_status 200
    AWS_ACCESS_KEY_ID=$(sed -n 's/^aws_access_key_id = //p' "$PULLER_CREDS") \
        AWS_SECRET_ACCESS_KEY=$(sed -n 's/^aws_secret_access_key = //p' "$PULLER_CREDS") \
        AWS_SESSION_TOKEN=$(sed -n 's/^aws_session_token = //p' "$PULLER_CREDS") \
        run "$BERTH_CLI" ecr get-login-password --endpoint-url "$BASE"
    expect_success
    # without its token the ASIA key is nobody's
    AWS_ACCESS_KEY_ID=$(sed -n 's/^aws_access_key_id = //p' "$PULLER_CREDS") \
        AWS_SECRET_ACCESS_KEY=$(sed -n 's/^aws_secret_access_key = //p' "$PULLER_CREDS") \
        run "$BERTH_CLI" ecr get-login-password --endpoint-url "$BASE"
    expect_exit 1
    expect_stderr_match "UnrecognizedClientException"
}
run_case "berth ecr get-login-password with temporary credentials (aws_session_token in the file, or AWS_SESSION_TOKEN): a password that pulls; the key without its token is refused" t_berth_cli

t_clock_offset_flag() {
    local v
    for v in abc 12x "" 31622401 -31622401; do
        run "$BERTHD" --clock-offset "$v" --help
        expect_exit 2
        expect_stderr_match "clock-offset takes seconds"
    done
    run "$BERTHD" --clock-offset -60 --help
    expect_success
    grep -q -- "^  --clock-offset SECONDS FOR TESTS ONLY" "$E2E_TMP/cmd.out" || fail "berthd --help does not describe --clock-offset"
}
run_case "berthd --clock-offset takes a signed count of seconds within a year (else exit 2) and --help says it is for tests only" t_clock_offset_flag

# Expiry: berthd's clock for credentials moved past the 1 h session (--clock-offset).
restart_registry --clock-offset 3700

t_expired() {
    as "$PULLER_CREDS" "${STS[@]}" get-caller-identity
    expect_exit 254
    expect_stderr_match "ExpiredToken.*expired"
    as "$PULLER_CREDS" "${AWS[@]}" ecr get-login-password
    expect_exit 254
    expect_stderr_match "ExpiredTokenException"
    as "$PULLER_CREDS" "${IAM[@]}" list-roles
    expect_exit 254
    expect_stderr_match "ExpiredToken"
    local pw
    pw=$(cat "$SESSION_PW")
    req GET /v2/e2e/sts-app/manifests/v1 -u "AWS:$pw"
    expect_status 401
    grep -q "expired" "$E2E_TMP/resp.body" || fail "the 401 does not say the password expired: $(body)"
    run "${SKOPEO[@]}" inspect --raw --tls-verify=false --creds "AWS:$pw" "docker://$REGISTRY/e2e/sts-app:v1"
    expect_exit 1
    # the administrator's access key does not expire
    run "${STS[@]}" get-caller-identity
    expect_success
    grep -q -- "--clock-offset 3700: credentials are issued and checked 3700 seconds off" "$REGISTRY_LOG" ||
        fail "berthd does not say its credentials' clock is moved"
}
run_case "past their expiry (berthd --clock-offset 3700): the session's credentials → ExpiredToken (STS, IAM) and ExpiredTokenException (ECR); the password minted from them → 401 on /v2/ and skopeo fails" t_expired

finish
