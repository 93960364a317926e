/*
 * STS over the query protocol (`aws sts … --endpoint-url URL`), told apart
 * from IAM by the SigV4 scope's service: AssumeRole and GetCallerIdentity.
 *
 * AssumeRole: parameters (STS's lengths, pattern and range, with STS's
 * ValidationError words) → the role and its trust policy → sts:AssumeRole
 * judged by the caller's identity policies and the trust policy, as IAM
 * judges it → temporary credentials minted from a sealed session token
 * (auth/session.c): nothing is written to the store.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

/* STS: RoleArn is 20 to 2048 characters */
#define ROLE_ARN_MIN 20
#define ROLE_ARN_MAX 2048
/* IAM: a session assumed with a session's credentials (role chaining) lasts at most an hour */
#define CHAINED_SESSION_MAX_SECONDS 3600

static void validation(aws_req_t *a, const char *value, const char *member, const char *constraint)
{
    aws_send_error(a, 400, "ValidationError",
                   "1 validation error detected: Value '%.80s' at '%s' failed to satisfy constraint: Member must %s", value, member,
                   constraint);
}

/* DurationSeconds: absent → the default; false after sending the error. */
static bool duration_param(aws_req_t *a, int64_t *out)
{
    const char *d;
    if (!aws_param_optional(a, "DurationSeconds", &d))
        return false;
    if (!d) {
        *out = AUTH_SESSION_DEFAULT_SECONDS;
        return true;
    }
    char *end;
    errno = 0;
    long long v = strtoll(d, &end, 10);
    if (errno || end == d || *end || strspn(d, "-0123456789") != strlen(d)) {
        aws_send_error(a, 400, "ValidationError", "Value '%.40s' for parameter DurationSeconds is invalid: it must be an integer",
                       d);
        return false;
    }
    if (v < AUTH_SESSION_MIN_SECONDS) {
        validation(a, d, "durationSeconds", "have value greater than or equal to 900");
        return false;
    }
    if (v > AUTH_SESSION_MAX_SECONDS) {
        validation(a, d, "durationSeconds", "have value less than or equal to 43200");
        return false;
    }
    *out = (int64_t)v;
    return true;
}

/* AssumeRole's parameters Berth does not implement. Session policies and
 * tags would narrow or label a session: ignoring them would hand out more
 * than the caller asked for, so a request carrying one is refused whole.
 * Matched by prefix: "Policy" is also PolicyArns.member.N.arn, lists arrive
 * as Name.member.N[.Field]. */
static bool unsupported_absent(aws_req_t *a)
{
    static const char *const prefixes[] = {"Policy",    "Tags.",          "TransitiveTagKeys.", "SerialNumber",
                                           "TokenCode", "SourceIdentity", "ProvidedContexts."};
    for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
        if (http_form_has_key_prefix(a->form, a->form_len, prefixes[k])) {
            aws_send_error(a, 400, "ValidationError",
                           "%s%s is not supported by this server's STS: session policies, tags, MFA and source identity are "
                           "not implemented, and a session is never made without what was asked of it",
                           prefixes[k], prefixes[k][strlen(prefixes[k]) - 1] == '.' ? "*" : "");
            return false;
        }
    }
    return true;
}

static void assume_role(aws_req_t *a)
{
    const char *role_arn = aws_param_string(a, "RoleArn", true);
    if (!role_arn)
        return;
    const char *session = aws_param_string(a, "RoleSessionName", true);
    if (!session)
        return;
    size_t rl = strlen(role_arn), sl = strlen(session);
    if (rl < ROLE_ARN_MIN || rl > ROLE_ARN_MAX) {
        validation(a, role_arn, "roleArn",
                   rl < ROLE_ARN_MIN ? "have length greater than or equal to 20" : "have length less than or equal to 2048");
        return;
    }
    if (sl < AUTH_SESSION_NAME_MIN || sl > AUTH_SESSION_NAME_MAX) {
        validation(a, session, "roleSessionName",
                   sl < AUTH_SESSION_NAME_MIN ? "have length greater than or equal to 2" : "have length less than or equal to 64");
        return;
    }
    if (!auth_session_name_valid(session)) {
        validation(a, session, "roleSessionName", "satisfy regular expression pattern: [\\w+=,.@-]*");
        return;
    }
    int64_t duration;
    if (!duration_param(a, &duration) || !unsupported_absent(a))
        return;
    const char *external_id;
    if (!aws_param_optional(a, "ExternalId", &external_id))
        return;
    if (external_id && (strlen(external_id) < 2 || strlen(external_id) > 1224)) {
        validation(a, external_id, "externalId",
                   strlen(external_id) < 2 ? "have length greater than or equal to 2" : "have length less than or equal to 1224");
        return;
    }

    auth_principal_t role;
    auth_role_trust_t *trust = h2o_mem_alloc_pool(&a->req->pool, sizeof(*trust));
    auth_err_t err;
    auth_identity_status_t s = auth_role_get(storage_reader_records(a->rd), role_arn, &role, trust, &err);
    if (s == AUTH_IDENTITY_NOT_FOUND) {
        /* as STS: a role that does not exist is access denied, not a lookup the caller can probe */
        aws_send_denied(a, "sts:AssumeRole", role_arn, POLICY_IMPLICIT_DENY);
        return;
    }
    if (s != AUTH_IDENTITY_OK) {
        aws_send_error(a, 500, "InternalFailure", "%s", err.msg);
        return;
    }
    /* what a trust policy's conditions may test, as STS offers them */
    char duration_text[24];
    snprintf(duration_text, sizeof(duration_text), "%lld", (long long)duration);
    const char *const v_session[] = {session}, *const v_external[] = {external_id}, *const v_duration[] = {duration_text};
    policy_context_entry_t extra[3] = {{"sts:RoleSessionName", v_session, 1}, {"sts:DurationSeconds", v_duration, 1}};
    size_t n_extra = 2;
    if (external_id)
        extra[n_extra++] = (policy_context_entry_t){"sts:ExternalId", v_external, 1};
    policy_result_t res;
    policy_decision_t d = server_authorize_trust((server_thread_t *)a->req->conn->ctx, a->rd, &a->caller, a->req, role.arn, trust,
                                                 extra, n_extra, &res);
    if (d != POLICY_ALLOW) {
        aws_send_denied(a, "sts:AssumeRole", role.arn, res.decision);
        return;
    }
    if (duration > trust->max_session_seconds) {
        aws_send_error(a, 400, "ValidationError",
                       "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
        return;
    }
    if (a->caller.session_arn[0] && duration > CHAINED_SESSION_MAX_SECONDS) {
        aws_send_error(a, 400, "ValidationError",
                       "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.");
        return;
    }

    auth_session_t sess = {.issued_at = server_auth_now(a->srv)};
    sess.expires_at = sess.issued_at + duration;
    snprintf(sess.role_name, sizeof(sess.role_name), "%s", role.name);
    snprintf(sess.role_id, sizeof(sess.role_id), "%s", role.id);
    snprintf(sess.session_name, sizeof(sess.session_name), "%s", session);
    auth_session_credentials_t creds;
    if (auth_session_issue(a->srv->keys.master_key, &sess, &creds, &err) != AUTH_OK) {
        aws_send_error(a, 500, "InternalFailure", "cannot mint temporary credentials: %s", err.msg);
        return;
    }
    char arn[AUTH_SESSION_ARN_MAX + 1], id[AUTH_PRINCIPAL_ID_MAX + AUTH_SESSION_NAME_MAX + 2], expiration[32];
    auth_session_arn(&a->srv->keys, &sess, arn);
    auth_session_user_id(&sess, id);
    iam_format_date(creds.expires_at, expiration);
    /* element order as STS sends it; the reply's strings are wiped once sent */
    aws_send_result(a, json_pack("{s:{s:s,s:s},s:{s:s,s:s,s:s,s:s}}", "AssumedRoleUser", "Arn", arn, "AssumedRoleId", id,
                                 "Credentials", "AccessKeyId", creds.access_key_id, "SecretAccessKey", creds.secret, "SessionToken",
                                 creds.token, "Expiration", expiration));
    OPENSSL_cleanse(&creds, sizeof(creds));
}

/* Needs no permission, as in STS: it says who the credentials are. */
static void get_caller_identity(aws_req_t *a)
{
    const char *arn = server_caller_arn(&a->caller);
    const char *id = a->caller.session_user_id[0] ? a->caller.session_user_id : a->caller.principal.id;
    aws_send_result(a, json_pack("{s:s,s:s,s:s}", "Arn", arn, "UserId", id, "Account", a->srv->keys.account_id));
}

const aws_operation_t sts_operations[] = {
    {"sts", "AssumeRole", "sts", assume_role},
    {"sts", "GetCallerIdentity", "sts", get_caller_identity},
    {NULL, NULL, NULL, NULL},
};
