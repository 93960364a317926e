#!/usr/bin/env bash
# End to end through `berth policy simulate` with the fixture policies.
#
#   cli_e2e.sh BERTH FIXTURES_DIR
#
# Each case names the command line and the exact exit status and output facts
# it must see; a failure prints what differed. Needs jq.
set -uo pipefail

BERTH=${1:?usage: cli_e2e.sh BERTH FIXTURES_DIR}
FX=${2:?usage: cli_e2e.sh BERTH FIXTURES_DIR}
CLI_E2E_NAME=policy
# shellcheck source-path=SCRIPTDIR source=../cli_harness.sh
source "$(dirname "$0")/../cli_harness.sh"

REPO=arn:aws:ecr:us-east-1:123456789012:repository/team/app
ALICE=arn:aws:iam::123456789012:user/alice

# sim ARGS... : runs the command; sets RC, with stdout in $OUT and stderr in $ERR
sim() {
    "$BERTH" policy simulate "$@" >"$OUT" 2>"$ERR"
    RC=$?
}

PUSHER=arn:aws:iam::123456789012:user/push-pull-user-1

allowed_by_repository_policy() {
    sim --repository-policy-file "$FX/repo_allow_user_push_pull.json" --action ecr:PutImage --resource "$REPO" \
        --principal "$PUSHER"
    expect_eq "exit status" 0 "$RC"
    expect_stdout_line 1 "ALLOWED"
    expect_stdout_line 2 "  statement: 'AllowPushPull' (#0) of $FX/repo_allow_user_push_pull.json (repository policy)"
}

allowed_json_names_the_statement() {
    sim --repository-policy-file "file://$FX/repo_allow_user_push_pull.json" --action ecr:PutImage --resource "$REPO" \
        --principal "$PUSHER" --json
    expect_eq "exit status" 0 "$RC"
    expect_jq '.decision' '"allowed"'
    expect_jq '.matchedStatement' "{\"policy\":\"$FX/repo_allow_user_push_pull.json\",\"sid\":\"AllowPushPull\",\"index\":0,\"source\":\"resource\"}"
    expect_jq '.reason' "\"allowed by statement 'AllowPushPull' (#0) of $FX/repo_allow_user_push_pull.json\""
}

# IAM: a repository policy naming the account delegates to the account's
# identity policies; it allows nothing by itself (the server decides the same)
account_principal_delegates() {
    sim --repository-policy-file "$FX/repo_allow_account_pull.json" --action ecr:BatchGetImage --resource "$REPO" \
        --principal "$ALICE" --json
    expect_eq "without an identity policy: exit status" 1 "$RC"
    expect_jq '.decision' '"implicitDeny"'
    expect_jq '.reason' "\"denied: no statement allows ecr:BatchGetImage on $REPO (statement 'AllowPull' (#0) of $FX/repo_allow_account_pull.json names the account 123456789012: that delegates to the account, and none of the caller's identity policies allows it)\""
    sim --repository-policy-file "$FX/repo_allow_account_pull.json" --policy-file "$FX/id_readonly.json" \
        --action ecr:BatchGetImage --resource "$REPO" --principal "$ALICE" --json
    expect_eq "with one: exit status" 0 "$RC"
    expect_jq '.matchedStatement.source' '"identity"'
}

implicit_deny_exits_1_and_says_nothing_matched() {
    sim --policy-file "$FX/id_readonly.json" --action ecr:PutImage --resource "$REPO" --principal "$ALICE" --json
    expect_eq "exit status" 1 "$RC"
    expect_jq '.decision' '"implicitDeny"'
    expect_jq '.matchedStatement' 'null'
    expect_jq '.reason' "\"denied: no statement allows ecr:PutImage on $REPO\""
    sim --policy-file "$FX/id_readonly.json" --action ecr:PutImage --resource "$REPO" --principal "$ALICE"
    expect_eq "exit status (text)" 1 "$RC"
    expect_stdout_line 1 "DENIED (implicit)"
}

explicit_deny_beats_identity_allow() {
    sim --policy-file "$FX/id_poweruser.json" --repository-policy-file "$FX/repo_deny_all.json" \
        --action ecr:BatchGetImage --resource "$REPO" --principal "$ALICE" --json
    expect_eq "exit status" 1 "$RC"
    expect_jq '.decision' '"explicitDeny"'
    expect_jq '.matchedStatement.sid' '"DenyAll"'
    expect_jq '.matchedStatement.source' '"resource"'
    sim --policy-file "$FX/id_poweruser.json" --repository-policy-file "$FX/repo_deny_all.json" \
        --action ecr:BatchGetImage --resource "$REPO" --principal "$ALICE"
    expect_stdout_line 1 "DENIED (explicit)"
}

deny_in_a_second_identity_policy_is_found() {
    sim --policy-file "$FX/id_readonly.json" --policy-file "$FX/id_deny_delete.json" \
        --action ecr:BatchDeleteImage --resource arn:aws:ecr:us-east-1:123456789012:repository/prod/api --principal "$ALICE" --json
    expect_eq "exit status" 1 "$RC"
    expect_jq '.matchedStatement' "{\"policy\":\"$FX/id_deny_delete.json\",\"sid\":\"DenyDeleteInProd\",\"index\":1,\"source\":\"identity\"}"
}

username_defaults_to_the_principals_user_name() {
    sim --policy-file "$FX/id_own_repositories.json" --action ecr:PutImage \
        --resource arn:aws:ecr:us-east-1:123456789012:repository/alice/tools --principal "$ALICE"
    expect_eq "own repository" 0 "$RC"
    sim --policy-file "$FX/id_own_repositories.json" --action ecr:PutImage \
        --resource arn:aws:ecr:us-east-1:123456789012:repository/bob/tools --principal "$ALICE"
    expect_eq "someone else's" 1 "$RC"
    sim --policy-file "$FX/id_own_repositories.json" --action ecr:PutImage \
        --resource arn:aws:ecr:us-east-1:123456789012:repository/bob/tools --principal "$ALICE" --context aws:username=bob
    expect_eq "--context overrides the default" 0 "$RC"
}

anonymous_caller_matches_only_star() {
    sim --repository-policy-file "$FX/repo_public_read.json" --action ecr:BatchGetImage --resource "$REPO"
    expect_eq "public read" 0 "$RC"
    sim --repository-policy-file "$FX/repo_allow_account_pull.json" --action ecr:BatchGetImage --resource "$REPO"
    expect_eq "account only" 1 "$RC"
}

context_keys_and_conditions() {
    sim --repository-policy-file "$FX/repo_deny_outside_network.json" --policy-file "$FX/id_poweruser.json" \
        --action ecr:PutImage --resource "$REPO" --principal "$ALICE" --context aws:SourceIp=203.0.113.7
    expect_eq "inside the office" 0 "$RC"
    sim --repository-policy-file "$FX/repo_deny_outside_network.json" --policy-file "$FX/id_poweruser.json" \
        --action ecr:PutImage --resource "$REPO" --principal "$ALICE" --context aws:SourceIp=198.51.100.1 --json
    expect_eq "outside" 1 "$RC"
    expect_jq '.matchedStatement.sid' '"DenyPushOutsideOffice"'
}

repeated_context_key_is_multi_valued() {
    cat >"$TMP/tags.json" <<'JSON'
{"Version":"2012-10-17","Statement":{"Sid":"OnlyKnownTags","Effect":"Allow","Action":"ecr:TagResource","Resource":"*",
 "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}}}
JSON
    sim --policy-file "$TMP/tags.json" --action ecr:TagResource --resource "$REPO" --context aws:TagKeys=team --context aws:TagKeys=env
    expect_eq "both known" 0 "$RC"
    sim --policy-file "$TMP/tags.json" --action ecr:TagResource --resource "$REPO" --context aws:TagKeys=team --context aws:TagKeys=cost
    expect_eq "one unknown" 1 "$RC"
}

current_time_defaults_to_now() {
    cat >"$TMP/time.json" <<'JSON'
{"Version":"2012-10-17","Statement":[
 {"Sid":"After2020","Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}},
 {"Sid":"NotBefore2999","Effect":"Deny","Action":"ecr:*","Resource":"*","Condition":{"NumericGreaterThan":{"aws:EpochTime":32503680000}}}]}
JSON
    sim --policy-file "$TMP/time.json" --action ecr:ListImages --resource "$REPO"
    expect_eq "now is after 2020" 0 "$RC"
    sim --policy-file "$TMP/time.json" --action ecr:ListImages --resource "$REPO" --context aws:CurrentTime=2019-06-01T00:00:00Z
    expect_eq "an explicit time wins" 1 "$RC"
}

bad_input_exits_2_naming_the_field() {
    echo '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"},{"Effect":"Allw","Action":"ecr:*","Resource":"*"}]}' >"$TMP/bad.json"
    sim --policy-file "$TMP/bad.json" --action ecr:PutImage --resource "$REPO"
    expect_eq "malformed policy" 2 "$RC"
    expect_stderr_has "$TMP/bad.json: Statement[1]: Effect must be \"Allow\" or \"Deny\""
    echo '{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}}}}' >"$TMP/bad2.json"
    sim --policy-file "$TMP/bad2.json" --action ecr:PutImage --resource "$REPO"
    expect_eq "unknown operator" 2 "$RC"
    expect_stderr_has 'Statement[0].Condition: unknown operator "StringEqualz"'
    sim --policy-file "$FX/repo_public_read.json" --action ecr:PutImage --resource "$REPO"
    expect_eq "resource policy given as identity policy" 2 "$RC"
    expect_stderr_has "Principal is not allowed in an identity policy"
    sim --policy-file "$TMP/missing.json" --action ecr:PutImage --resource "$REPO"
    expect_eq "unreadable file" 2 "$RC"
    expect_stderr_has "$TMP/missing.json: No such file or directory"
    sim --policy-file "$FX/id_readonly.json" --resource "$REPO"
    expect_eq "no --action" 2 "$RC"
    expect_stderr_has "--action: required"
    sim --policy-file "$FX/id_readonly.json" --action PutImage --resource "$REPO"
    expect_eq "action without service" 2 "$RC"
    expect_stderr_has "--action: expected service:action"
    sim --policy-file "$FX/id_readonly.json" --action ecr:PutImage
    expect_eq "no --resource" 2 "$RC"
    sim --action ecr:PutImage --resource "$REPO"
    expect_eq "no policy" 2 "$RC"
    sim --policy-file "$FX/id_readonly.json" --action ecr:PutImage --resource "$REPO" --context novalue
    expect_eq "context without =" 2 "$RC"
    expect_stderr_has "--context: expected KEY=VALUE"
    sim --policy-file "$FX/id_readonly.json" --action ecr:PutImage --resource "$REPO" --frobnicate
    expect_eq "unknown flag" 2 "$RC"
    expect_stderr_has "unknown option '--frobnicate'"
    head -c 10241 /dev/zero | tr '\0' ' ' >"$TMP/big.json"
    sim --policy-file "$TMP/big.json" --action ecr:PutImage --resource "$REPO"
    expect_eq "too big" 2 "$RC"
    expect_stderr_has "limit is 10240"
}

help_exits_0() {
    sim --help
    expect_eq "exit status" 0 "$RC"
    expect_stdout_line 1 "usage: berth policy simulate --policy-file FILE [--policy-file FILE ...] [--repository-policy-file FILE]"
}

run_case "allowed by a repository policy: exit 0, ALLOWED and the statement" allowed_by_repository_policy
run_case "--json names policy, Sid, index and source of the allowing statement" allowed_json_names_the_statement
run_case "a repository policy naming the account allows only with an identity policy (IAM's delegation)" account_principal_delegates
run_case "an implicit deny exits 1 and says no statement allows the action" implicit_deny_exits_1_and_says_nothing_matched
run_case "a repository Deny beats an identity Allow: explicitDeny" explicit_deny_beats_identity_allow
run_case "a Deny in the second --policy-file is the deciding statement" deny_in_a_second_identity_policy_is_found
run_case "aws:username defaults to the user name of --principal" username_defaults_to_the_principals_user_name
run_case "an anonymous caller matches only Principal \"*\"" anonymous_caller_matches_only_star
run_case "--context keys feed the conditions" context_keys_and_conditions
run_case "a --context key given twice is multi-valued" repeated_context_key_is_multi_valued
run_case "aws:CurrentTime and aws:EpochTime default to now" current_time_defaults_to_now
run_case "bad input exits 2 with a message naming the file and field" bad_input_exits_2_naming_the_field
run_case "--help prints the usage and exits 0" help_exits_0

cli_finish
