/*
 * ECR's authorization operations: GetAuthorizationToken, whose token is what
 * `aws ecr get-login-password` prints and `docker login` sends back as the
 * password of user AWS.
 */
#include <jansson.h>
#include <openssl/crypto.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

static void get_authorization_token(aws_req_t *a)
{
    if (!aws_allowed(a, "ecr:GetAuthorizationToken", NULL))
        return;
    auth_token_claims_t claims = {0};
    snprintf(claims.principal_arn, sizeof(claims.principal_arn), "%s", a->caller.principal.arn);
    snprintf(claims.principal_id, sizeof(claims.principal_id), "%s", a->caller.principal.id);
    claims.issued_at = server_auth_now(a->srv);
    claims.expires_at = claims.issued_at + a->srv->token_seconds;
    /* a password minted with temporary credentials ends with them; it names
     * the session's role (ARN and unique id), whose policies then apply */
    if (a->caller.expires_at > 0 && a->caller.expires_at < claims.expires_at)
        claims.expires_at = a->caller.expires_at;
    char token[AUTH_TOKEN_MAX_BYTES + 1], userpass[AUTH_TOKEN_MAX_BYTES + 8];
    auth_err_t err;
    if (auth_token_issue(&a->srv->keys.token_key, &claims, token, sizeof(token), &err) != AUTH_OK) {
        aws_send_error(a, 500, "ServerException", "cannot issue a token: %s", err.msg);
        return;
    }
    int n = snprintf(userpass, sizeof(userpass), "AWS:%s", token);
    char b64[AUTH_B64_LEN(AUTH_TOKEN_MAX_BYTES + 8) + 1];
    auth_b64_encode((const unsigned char *)userpass, (size_t)n, b64);
    OPENSSL_cleanse(userpass, sizeof(userpass));
    OPENSSL_cleanse(token, sizeof(token));
    char endpoint[300];
    snprintf(endpoint, sizeof(endpoint), "%s://%.*s", a->req->scheme == &H2O_URL_SCHEME_HTTPS ? "https" : "http",
             (int)a->req->authority.len, a->req->authority.base);
    /* JSON 1.1 timestamps are epoch seconds, as numbers */
    aws_send_result(a, json_pack("{s:[{s:s,s:f,s:s}]}", "authorizationData", "authorizationToken", b64, "expiresAt",
                                 (double)claims.expires_at, "proxyEndpoint", endpoint));
    OPENSSL_cleanse(b64, sizeof(b64));
}

const aws_operation_t ecr_operations[] = {
    {ECR_SERVICE, "GetAuthorizationToken", "ecr", get_authorization_token},
    {NULL, NULL, NULL, NULL},
};
