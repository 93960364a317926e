/*
 * auth/auth.h — who is calling: AWS Signature Version 4, registry tokens,
 * the Authorization header's Basic and Bearer schemes, sealing of stored
 * secrets, and STS: role sessions' temporary credentials, trust policies
 * and iam:PassRole.
 *
 * The functions of the first sections are pure (no I/O, no globals, no
 * clock: the caller passes `now`), except that issuing randomness comes from
 * OpenSSL's RAND_bytes. The last section is the identity store (the account,
 * users, roles, access keys, policies), kept as storage records.
 *
 * Failure: functions return an auth_status_t (the identity store an
 * auth_identity_status_t) and, when given an auth_err_t, fill it with a
 * message a user can act on. As in every part's header, 0 is success and
 * every failure is negative; auth_status_name and auth_identity_status_name
 * give a code's words. Messages never contain a secret, a signature or a
 * token.
 */
#ifndef BERTH_AUTH_H
#define BERTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policies/policies.h"
#include "storage/storage.h"

typedef enum {
    AUTH_OK = 0,
    AUTH_EMALFORMED = -1, /* the header, token or request cannot be parsed */
    AUTH_EEXPIRED = -2,   /* a token past its expiry; a SigV4 date outside the allowed skew */
    AUTH_EBADSIG = -3,    /* well-formed, but the signature does not verify */
    AUTH_ENOMEM = -4,
    AUTH_ECRYPTO = -5, /* OpenSSL failed */
} auth_status_t;

typedef struct {
    char msg[256];
} auth_err_t;

/* A code in a few words ("bad signature"); "unknown" for a value that is not one. */
const char *auth_status_name(auth_status_t s);

/* ---- hex and base64 (shared with server/) -------------------------------- */

/* The value of a hex digit of either case, or -1. */
int auth_hex_value(unsigned char c);
/* Lowercase hex of len bytes: 2 * len characters and a NUL. */
void auth_hex_encode(const unsigned char *in, size_t len, char *out);

/* Characters base64 needs for n bytes, without the terminating NUL. */
#define AUTH_B64_LEN(n) ((((n) + 2) / 3) * 4)

/* Standard base64 with padding (RFC 4648 §4); writes AUTH_B64_LEN(len)
 * characters and a NUL. Returns the number of characters, or -1 when len is
 * over 1 MiB. */
int auth_b64_encode(const unsigned char *in, size_t len, char *out);
/* Strict standard base64 (RFC 4648 §4, padded): only the alphabet, '=' only as
 * the final one or two characters, unused bits zero, so one byte sequence has
 * one text. Writes at most len / 4 * 3 bytes; returns the decoded length, or
 * -1 for anything else or more than cap bytes. */
int auth_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap);
/* base64url without padding (RFC 4648 §5), for tokens: writes the characters
 * and a NUL; -1 when cap is short or len over 1 MiB. */
int auth_b64url_encode(const unsigned char *in, size_t len, char *out, size_t cap);
/* Strict, as auth_b64_decode (no padding, no '+' or '/'), so a token's text
 * cannot be varied without changing what it decodes to. -1 also past 4096
 * characters. */
int auth_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/* Compares secrets without leaking where they differ (CRYPTO_memcmp). */
bool auth_secret_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* ---- the Authorization header ----------------------------------------- */

/* Authorization values are capped before parsing: real ones are < 2 KiB. */
#define AUTH_HEADER_MAX_BYTES 8192
#define AUTH_USER_MAX 128
#define AUTH_PASSWORD_MAX 4096

typedef enum { AUTH_SCHEME_NONE, AUTH_SCHEME_BASIC, AUTH_SCHEME_BEARER, AUTH_SCHEME_SIGV4 } auth_scheme_t;

typedef struct {
    auth_scheme_t scheme;
    /* Basic: the decoded user and password, NUL-terminated. */
    char user[AUTH_USER_MAX + 1];
    char password[AUTH_PASSWORD_MAX + 1];
    size_t password_len;
    /* Bearer: the token, pointing into the header value given to the parser. */
    const char *token;
    size_t token_len;
} auth_credentials_t;

/* Parses an Authorization header value: "Basic <base64(user:password)>",
 * "Bearer <token>", or "AWS4-HMAC-SHA256 ..." (scheme only: see
 * auth_sigv4_parse). Scheme names are case-insensitive. AUTH_EMALFORMED for
 * anything else, bad base64, a user:password without ':' or over the caps. */
auth_status_t auth_parse_authorization(const char *value, size_t len, auth_credentials_t *out, auth_err_t *err);

/* ---- the AWS shared credentials file (the CLI's side) ----------------- */

/* AWS's own session tokens run to a few KiB; Berth's are under 400 bytes. */
#define AUTH_FILE_SESSION_TOKEN_MAX 4096

/* The keys of one profile of an AWS credentials file (what auth_bootstrap
 * writes to <data>/admin-credentials, and ~/.aws/credentials), with the
 * session token of temporary credentials ("" when the profile has none). */
typedef struct {
    char access_key_id[129];
    char secret[129];
    char session_token[AUTH_FILE_SESSION_TOKEN_MAX + 1];
} auth_file_credentials_t;

/* Finds `profile`'s aws_access_key_id, aws_secret_access_key and (optional)
 * aws_session_token in the text of a credentials file. AUTH_EMALFORMED, naming the line or what is missing,
 * for a malformed file, a missing profile or a profile without both keys;
 * then *out is all zeros. */
auth_status_t auth_credentials_file_find(const char *text, size_t len, const char *profile, auth_file_credentials_t *out,
                                         auth_err_t *err);

/* ---- AWS Signature Version 4 ------------------------------------------- */

#define AUTH_ACCESS_KEY_ID_LEN 20 /* "AKIA" + 16 of [A-Z2-7], as AWS's */
#define AUTH_SECRET_KEY_LEN 40    /* 30 random bytes in base64 */
/* AWS refuses requests whose X-Amz-Date is more than 5 minutes off. */
#define AUTH_SIGV4_MAX_SKEW_SECONDS 300
#define AUTH_SIGV4_MAX_SIGNED_HEADERS 32

/* A request as SigV4 sees it. Header names compare case-insensitively; a
 * header that appears several times is given once per line, in order. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} auth_header_t;

typedef struct {
    const char *method; /* "POST" */
    const char *path;   /* the raw request path as sent, percent-encoded, without the query: "/" */
    size_t path_len;
    const char *query; /* the raw query string without '?', or NULL */
    size_t query_len;
    const auth_header_t *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
} auth_http_request_t;

/* The parts of "AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws4_request,
 * SignedHeaders=host;x-amz-date, Signature=<64 hex>". */
typedef struct {
    char access_key_id[AUTH_ACCESS_KEY_ID_LEN + 12]; /* room for foreign ids, to name them in errors */
    char date[9];                                    /* YYYYMMDD */
    char region[32];
    char service[32];
    char signed_headers[512]; /* lowercase, ';'-separated, as in the header */
    char signature[65];       /* lowercase hex */
} auth_sigv4_t;

/* Parses the Authorization header value. AUTH_EMALFORMED names what is wrong. */
auth_status_t auth_sigv4_parse(const char *value, size_t len, auth_sigv4_t *out, auth_err_t *err);

/* Verifies a parsed signature against the request and the key's secret:
 * the credential scope's service must be `service` (any region is accepted),
 * X-Amz-Date (or Date) must be a signed header within
 * AUTH_SIGV4_MAX_SKEW_SECONDS of `now` and on the scope's date, host must be
 * signed, and x-amz-content-sha256, when present, must match the body
 * (UNSIGNED-PAYLOAD and streaming payloads are refused: AUTH_EMALFORMED).
 * When X-Amz-Date is on the request it is the request time and must be
 * signed; Date is read only without it. The signature is checked before the
 * clock, so AUTH_EEXPIRED is only said of correctly signed requests.
 * AUTH_EEXPIRED for a date outside the window, AUTH_EBADSIG for a signature
 * that does not match, AUTH_EMALFORMED for anything else. */
auth_status_t auth_sigv4_verify(const auth_sigv4_t *sig, const auth_http_request_t *req, const char *secret, size_t secret_len,
                                const char *service, int64_t now, auth_err_t *err);

/* Signs a request as the AWS CLI does (for the berth CLI): writes the
 * X-Amz-Date value (16 bytes + NUL) and the Authorization value. The request's
 * headers must already contain host and every header to be signed; x-amz-date
 * is added to the signature from `amz_date_out`. Like botocore, it signs every
 * given header but user-agent, expect and x-amzn-trace-id (and ignores a
 * given Authorization or X-Amz-Date), and signs an x-amz-content-sha256 value
 * as given. Unlike botocore, a Date header is signed as an ordinary header
 * (botocore would rewrite it and sign it instead of X-Amz-Date).
 * AUTH_EMALFORMED when the request cannot be signed or the output does not
 * fit (then authorization_out is ""). */
auth_status_t auth_sigv4_sign(const auth_http_request_t *req, const char *access_key_id, const char *secret, size_t secret_len,
                              const char *region, const char *service, int64_t now, char amz_date_out[17], char *authorization_out,
                              size_t authorization_cap, auth_err_t *err);

/* ---- registry tokens ------------------------------------------------------ */

/* The registry password and the Docker Bearer token: a self-contained,
 * HMAC-SHA256-signed token, verified without any database access. */
#define AUTH_TOKEN_KEY_BYTES 32
#define AUTH_TOKEN_KEY_ID_MAX 16
#define AUTH_TOKEN_MAX_BYTES 2048
#define AUTH_PRINCIPAL_ARN_MAX 256
/* A principal's unique id: "AIDA"/"AROA" + 17 characters, with room. */
#define AUTH_PRINCIPAL_ID_MAX 23
#define AUTH_TOKEN_MAX_SCOPES 8
#define AUTH_DEFAULT_TOKEN_SECONDS (12 * 3600)
/* Docker's token spec: tokens live at least 60 s; a pull needs a few minutes. */
#define AUTH_BEARER_TOKEN_SECONDS 900

typedef struct {
    char id[AUTH_TOKEN_KEY_ID_MAX + 1]; /* names the key in the token, so a rotated key is recognised as such */
    unsigned char secret[AUTH_TOKEN_KEY_BYTES];
} auth_token_key_t;

/* What a Bearer token may do: "repository:team/app:pull,push". A password
 * has none: it carries the principal's whole identity instead. */
typedef struct {
    char repository[256];
    bool pull, push, delete_;
} auth_token_scope_t;

/* A password (bearer false) names its principal by ARN and id and has no
 * scopes; a Bearer token (bearer true) names both or neither (an anonymous
 * caller's) and is bounded by 0 to AUTH_TOKEN_MAX_SCOPES scopes (none: it may
 * do nothing beyond GET /v2/). auth_token_issue refuses other shapes. */
typedef struct {
    bool bearer;
    char principal_arn[AUTH_PRINCIPAL_ARN_MAX + 1]; /* "arn:aws:iam::123456789012:user/alice" */
    /* the principal's unique id ("AIDA…", "AROA…"): a user deleted and created
     * again under the same name has a new one, so tokens stay with the old */
    char principal_id[AUTH_PRINCIPAL_ID_MAX + 1];
    int64_t issued_at; /* Unix seconds */
    int64_t expires_at;
    size_t n_scopes;
    auth_token_scope_t scopes[AUTH_TOKEN_MAX_SCOPES];
} auth_token_claims_t;

/* Fills `key` with a fresh random secret and the given id. */
auth_status_t auth_token_key_generate(const char *id, auth_token_key_t *key, auth_err_t *err);

/* Writes a NUL-terminated token (only [A-Za-z0-9._-]) of at most
 * AUTH_TOKEN_MAX_BYTES. */
auth_status_t auth_token_issue(const auth_token_key_t *key, const auth_token_claims_t *claims, char *out, size_t cap,
                               auth_err_t *err);

/* Verifies a token signed by `key`: AUTH_EBADSIG for anything it did not sign
 * (another key id included), AUTH_EEXPIRED when now >= expires_at,
 * AUTH_EMALFORMED when it cannot be parsed. Fills `out` only on AUTH_OK. */
auth_status_t auth_token_verify(const auth_token_key_t *key, const char *token, size_t len, int64_t now, auth_token_claims_t *out,
                                auth_err_t *err);

/* Whether verified claims name `p` — its ARN and its unique id — so that a
 * token never passes to another principal of the same name. */
typedef struct auth_principal auth_principal_t;
bool auth_token_names(const auth_token_claims_t *claims, const auth_principal_t *p);

/* The expiry of a Bearer token minted at `now`: AUTH_BEARER_TOKEN_SECONDS
 * later, but never after the password it was minted from
 * (`password_expires_at`: the expires_at of the caller's verified Basic
 * credential; NULL for an anonymous caller, whose token has no password to
 * end with). */
int64_t auth_bearer_expiry(int64_t now, const int64_t *password_expires_at);

/* Reads the key id a token names, WITHOUT verifying anything: only for
 * choosing which key to pass to auth_token_verify while keys rotate. Never
 * trust the id for anything else. AUTH_EMALFORMED when the token's shape or
 * key id is wrong. */
auth_status_t auth_token_key_id(const char *token, size_t len, char id[AUTH_TOKEN_KEY_ID_MAX + 1], auth_err_t *err);

/* ---- sealed secrets ------------------------------------------------------ */

/* Access-key secrets must be kept in a form SigV4 can use (it needs the
 * secret itself), so they are stored sealed: AES-256-GCM under a master key
 * kept outside the database (<data>/master.key, mode 0600), with the access
 * key id as associated data so a sealed secret cannot be moved to another key. */
#define AUTH_SEAL_KEY_BYTES 32
#define AUTH_SEAL_OVERHEAD 28 /* 12-byte nonce + 16-byte tag */

auth_status_t auth_seal(const unsigned char key[AUTH_SEAL_KEY_BYTES], const void *aad, size_t aad_len, const void *plain,
                        size_t len, unsigned char *out /* len + AUTH_SEAL_OVERHEAD */, auth_err_t *err);
/* AUTH_EBADSIG when the tag does not verify (wrong key, wrong aad, tampering). */
auth_status_t auth_unseal(const unsigned char key[AUTH_SEAL_KEY_BYTES], const void *aad, size_t aad_len, const void *sealed,
                          size_t len, unsigned char *out /* len - AUTH_SEAL_OVERHEAD */, auth_err_t *err);

/* New access key id ("AKIA" + 16 of [A-Z2-7]) and secret (40 characters). */
auth_status_t auth_access_key_generate(char id[AUTH_ACCESS_KEY_ID_LEN + 1], char secret[AUTH_SECRET_KEY_LEN + 1], auth_err_t *err);

/* ---- signed blob URLs (ECR's GetDownloadUrlForLayer) ----------------------- */

/* A download URL lives 15 minutes: long enough to start a pull of a big
 * layer (a started GET is served to its end), short enough that a leaked URL
 * soon stops working. It grants one blob of one repository and nothing else. */
#define AUTH_BLOB_URL_SECONDS 900
/* "X-Berth-Expires=<19 digits>&X-Berth-Signature=<64 hex>" is 117 bytes */
#define AUTH_BLOB_URL_QUERY_MAX 128

/* Writes the query (NUL-terminated, at most AUTH_BLOB_URL_QUERY_MAX bytes)
 * that lets anyone holding it GET blob `digest` ("sha256:…", canonical) of
 * repository `repo` until Unix second `expires`: an HMAC-SHA256 over the
 * three under a key derived from the master key. AUTH_EMALFORMED for an
 * empty name or digest, expires <= 0 or a short `cap`; AUTH_ECRYPTO when
 * OpenSSL fails or a name is over OCI's lengths. */
auth_status_t auth_blob_url_sign(const unsigned char master_key[AUTH_SEAL_KEY_BYTES], const char *repo, const char *digest,
                                 int64_t expires, char *query_out, size_t cap, auth_err_t *err);
/* Whether a query carries an X-Berth-Signature parameter at all: then the
 * request is judged by that signature alone (auth_blob_url_verify). */
bool auth_blob_url_signed(const char *query, size_t len);
/* The query's expiry and signature bytes, without checking them: exactly the
 * two parameters, once each, in either order (AUTH_EMALFORMED otherwise). */
auth_status_t auth_blob_url_parse(const char *query, size_t len, int64_t *expires, unsigned char sig[32], auth_err_t *err);
/* Verifies a query against the blob the request names: AUTH_EMALFORMED as
 * auth_blob_url_parse; AUTH_EBADSIG when the signature is not this key's
 * for exactly this repository, digest and expiry (compared in constant
 * time); AUTH_EEXPIRED when now >= expires (said only of a correct
 * signature); AUTH_ECRYPTO when OpenSSL fails. */
auth_status_t auth_blob_url_verify(const unsigned char master_key[AUTH_SEAL_KEY_BYTES], const char *repo, const char *digest,
                                   const char *query, size_t len, int64_t now, auth_err_t *err);

/* ---- identities: the account, users, roles, access keys, policies -------- */

/* Kept as records in storage's "iam" key space (see auth/identity.c for the
 * layout). Reads take the caller's snapshot (storage_reader_records); changes
 * are closures run by storage's writer, so each is atomic and durable when it
 * returns. */

#define AUTH_ACCOUNT_ID_LEN 12
/* IAM: user and role names are at most 64 characters of [A-Za-z0-9+=,.@_-] */
#define AUTH_NAME_MAX 64
/* IAM: managed policy names are at most 128 characters of the same set */
#define AUTH_POLICY_NAME_MAX 128
/* IAM's hard limit of managed policies attached to one user or role */
#define AUTH_MAX_ATTACHED_POLICIES 20
/* IAM: two access keys per user */
#define AUTH_MAX_ACCESS_KEYS 2
#define AUTH_ADMIN_USER "admin"
#define AUTH_ADMIN_POLICY "AdministratorAccess"

typedef enum {
    AUTH_IDENTITY_OK = 0,
    AUTH_IDENTITY_NOT_FOUND = -1,   /* NoSuchEntity */
    AUTH_IDENTITY_EXISTS = -2,      /* EntityAlreadyExists */
    AUTH_IDENTITY_INVALID = -3,     /* a malformed name or document: ValidationError / MalformedPolicyDocument */
    AUTH_IDENTITY_CONFLICT = -4,    /* DeleteConflict: keys or policies still attached */
    AUTH_IDENTITY_LIMIT = -5,       /* LimitExceeded */
    AUTH_IDENTITY_STORE_ERROR = -6, /* the store failed or holds a damaged record; see the message */
} auth_identity_status_t;

/* A code in a few words ("not found"); "unknown" for a value that is not one. */
const char *auth_identity_status_name(auth_identity_status_t s);

/* What every request needs, loaded once at start-up. */
typedef struct {
    char account_id[AUTH_ACCOUNT_ID_LEN + 1];
    auth_token_key_t token_key;
    unsigned char master_key[AUTH_SEAL_KEY_BYTES];
} auth_keys_t;

struct auth_principal {
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    char name[AUTH_NAME_MAX + 1];
    char id[AUTH_PRINCIPAL_ID_MAX + 1]; /* "AIDA…" for users, "AROA…" for roles */
    bool is_role;
    int64_t created; /* Unix seconds */
    size_t n_policies;
    char policies[AUTH_MAX_ATTACHED_POLICIES][AUTH_POLICY_NAME_MAX + 1];
    size_t n_keys;
    char keys[AUTH_MAX_ACCESS_KEYS][AUTH_ACCESS_KEY_ID_LEN + 1];
};

typedef struct {
    char id[AUTH_ACCESS_KEY_ID_LEN + 1];
    bool active;
    int64_t created;
} auth_access_key_info_t;

typedef struct {
    char name[AUTH_POLICY_NAME_MAX + 1];
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    int64_t created, updated;
} auth_policy_info_t;

/* Every identity call returns AUTH_IDENTITY_OK or one of the failures its
 * comment names; each may also return AUTH_IDENTITY_STORE_ERROR when the
 * store cannot be read or written, holds a damaged record, or memory runs
 * out. err then says which. */

/* Every start: creates what is missing — <data>/master.key (mode 0600), the
 * account id, the token signing key, and on first start the administrator
 * user with AdministratorAccess and one access key, written to
 * <data>/admin-credentials (mode 0600, AWS credentials-file format). The
 * secret is never logged. *created_admin tells whether that file was written now.
 * AUTH_IDENTITY_STORE_ERROR also when master.key is missing beside a store
 * that has an account, or cannot unseal the token key (the wrong master.key),
 * or a file cannot be written. */
auth_identity_status_t auth_bootstrap(storage_t *st, const char *data_dir, auth_keys_t *keys, bool *created_admin, auth_err_t *err);

/* Replaces the registry token signing key with a fresh one (id "k<n+1>"):
 * every registry password and Bearer token issued before stops verifying.
 * Only AUTH_IDENTITY_STORE_ERROR; then keys is unchanged. */
auth_identity_status_t auth_token_key_rotate(storage_t *st, auth_keys_t *keys, auth_err_t *err);

/* Reads, from a snapshot. */

/* AUTH_IDENTITY_NOT_FOUND when arn is not a user or role of this account or
 * there is none by that name (found whatever its case);
 * AUTH_IDENTITY_STORE_ERROR also when the account is not set up. */
auth_identity_status_t auth_principal_get(storage_records_t *rs, const char *arn, auth_principal_t *out, auth_err_t *err);
/* The same for an ARN the server wrote itself (a token's, an access key's),
 * as created: the exact record only, never a scan of the names. For the
 * request path. The same failures. */
auth_identity_status_t auth_principal_get_stored(storage_records_t *rs, const char *arn, auth_principal_t *out, auth_err_t *err);
/* "arn:aws:iam::<account>:user/<name>" (or role/) of this account. */
void auth_principal_arn(const auth_keys_t *keys, const char *name, bool role, char out[AUTH_PRINCIPAL_ARN_MAX + 1]);
/* Users (or roles) in name order; return false from cb to stop. A record
 * that cannot be read is left out of the listing. */
typedef bool (*auth_principal_cb)(void *ctx, const auth_principal_t *p);
auth_identity_status_t auth_principals_list(storage_records_t *rs, bool roles, auth_principal_cb cb, void *ctx, auth_err_t *err);
/* AUTH_IDENTITY_NOT_FOUND when there is no such key. */
auth_identity_status_t auth_access_key_info(storage_records_t *rs, const char *access_key_id, auth_access_key_info_t *out,
                                            auth_err_t *err);
/* AUTH_IDENTITY_NOT_FOUND when there is no policy by that name (whatever its case). */
auth_identity_status_t auth_policy_info(storage_records_t *rs, const char *name, auth_policy_info_t *out, auth_err_t *err);
/* Managed policies in name order, as auth_principals_list. */
typedef bool (*auth_policy_cb)(void *ctx, const auth_policy_info_t *p);
auth_identity_status_t auth_policies_list(storage_records_t *rs, auth_policy_cb cb, void *ctx, auth_err_t *err);
/* The document of a managed policy (points into the snapshot).
 * AUTH_IDENTITY_NOT_FOUND when there is no policy by that name. */
auth_identity_status_t auth_policy_get(storage_records_t *rs, const char *name, const char **doc, size_t *len, auth_err_t *err);
/* AUTH_IDENTITY_NOT_FOUND when the repository has no policy. */
auth_identity_status_t auth_repository_policy_get(storage_records_t *rs, const char *repo, const char **doc, size_t *len,
                                                  auth_err_t *err);
/* Bumped by every change of identities or policies: caches compare it. 0
 * when nothing was ever changed or the counter cannot be read. */
uint64_t auth_generation(storage_records_t *rs);
/* The principal and unsealed secret of an active access key.
 * AUTH_IDENTITY_NOT_FOUND for a malformed id, an unknown or inactive key, or
 * a key whose principal is gone; AUTH_IDENTITY_STORE_ERROR also when the
 * secret cannot be unsealed (another master.key). */
auth_identity_status_t auth_access_key_get(storage_records_t *rs, const auth_keys_t *keys, const char *access_key_id,
                                           auth_principal_t *principal, char secret[AUTH_SECRET_KEY_LEN + 1], auth_err_t *err);

/* ---- temporary credentials (STS role sessions) ----------------------------- */

/* A role session's credentials: an access key id "ASIA" + 16 of [A-Z2-7], a
 * 40-character secret, and a session token that carries, sealed
 * (AES-256-GCM under a key derived from the master key, the access key id as
 * associated data), the role's name and unique id, the session's name, its
 * times and the secret. Any berthd thread verifies a request signed with
 * them from the token alone: no store write per AssumeRole, none per request.
 * A role deleted (or deleted and created again: a new unique id) takes its
 * sessions with it, since the request path looks the role up by name and
 * compares the id (auth_session_principal). */
#define AUTH_SESSION_KEY_PREFIX "ASIA"
/* STS: RoleSessionName is 2 to 64 characters of [\w+=,.@-] */
#define AUTH_SESSION_NAME_MIN 2
#define AUTH_SESSION_NAME_MAX 64
/* STS's DurationSeconds: at least 15 minutes, at most the role's
 * MaxSessionDuration (1 to 12 hours; 1 hour unless the role says otherwise),
 * 1 hour when not given. */
#define AUTH_SESSION_MIN_SECONDS 900
#define AUTH_SESSION_MAX_SECONDS 43200
#define AUTH_SESSION_DEFAULT_SECONDS 3600
#define AUTH_ROLE_DEFAULT_MAX_SESSION_SECONDS 3600
/* A session token's text: sealed claims of at most ~230 bytes in base64url, with room. */
#define AUTH_SESSION_TOKEN_MAX 1024
/* "arn:aws:sts::<account>:assumed-role/<role>/<session>" */
#define AUTH_SESSION_ARN_MAX (AUTH_PRINCIPAL_ARN_MAX + AUTH_SESSION_NAME_MAX + 16)

typedef struct {
    char role_name[AUTH_NAME_MAX + 1];
    char role_id[AUTH_PRINCIPAL_ID_MAX + 1]; /* the role's unique id ("AROA…") when the session was made */
    char session_name[AUTH_SESSION_NAME_MAX + 1];
    int64_t issued_at, expires_at; /* Unix seconds */
} auth_session_t;

typedef struct {
    char access_key_id[AUTH_ACCESS_KEY_ID_LEN + 1];
    char secret[AUTH_SECRET_KEY_LEN + 1];
    char token[AUTH_SESSION_TOKEN_MAX + 1];
    int64_t expires_at;
} auth_session_credentials_t;

/* Whether `name` is a valid RoleSessionName (length and characters, as STS). */
bool auth_session_name_valid(const char *name);
/* Whether an access key id is a session's ("ASIA…") rather than a stored key's. */
bool auth_session_key_id(const char *access_key_id);

/* Mints credentials for `s` (role name, role id, session name, times; the
 * caller checks the role and the duration): a fresh key id and secret, and
 * the sealed token. AUTH_EMALFORMED for a claim out of shape (empty or
 * over-long names, a session name STS refuses, expiry not after issue),
 * AUTH_ECRYPTO when no randomness or sealing fails; then *out is zeroed. */
auth_status_t auth_session_issue(const unsigned char master[AUTH_SEAL_KEY_BYTES], const auth_session_t *s,
                                 auth_session_credentials_t *out, auth_err_t *err);

/* Opens a session token presented with access key id `access_key_id`:
 * AUTH_EBADSIG when it does not verify (another key id, another master key,
 * any byte changed or cut), AUTH_EMALFORMED when it is not a session token
 * at all, AUTH_EEXPIRED when now >= expires_at. On AUTH_OK and
 * AUTH_EEXPIRED fills *out and the secret (so that the caller can check the
 * request's signature before saying the token expired); else zeroes both. */
auth_status_t auth_session_open(const unsigned char master[AUTH_SEAL_KEY_BYTES], const char *access_key_id, const char *token,
                                size_t len, int64_t now, auth_session_t *out, char secret[AUTH_SECRET_KEY_LEN + 1],
                                auth_err_t *err);

/* "arn:aws:sts::<account>:assumed-role/<role>/<session>" and the session's
 * user id "<role id>:<session>", as STS names them. */
void auth_session_arn(const auth_keys_t *keys, const auth_session_t *s, char out[AUTH_SESSION_ARN_MAX + 1]);
void auth_session_user_id(const auth_session_t *s, char out[AUTH_PRINCIPAL_ID_MAX + AUTH_SESSION_NAME_MAX + 2]);

/* A role's trust policy (IAM's AssumeRolePolicyDocument) and its
 * MaxSessionDuration, as stored with the role. */
typedef struct {
    int64_t max_session_seconds;
    size_t trust_len; /* 0: the role has none (made before roles kept one): nobody may assume it */
    char trust[POLICY_MAX_BYTES + 1];
} auth_role_trust_t;

/* The role `role_arn` (found whatever its case) and its trust policy.
 * AUTH_IDENTITY_NOT_FOUND when there is no such role. */
auth_identity_status_t auth_role_get(storage_records_t *rs, const char *role_arn, auth_principal_t *role, auth_role_trust_t *trust,
                                     auth_err_t *err);

/* The role a session of `s` acts as, from the snapshot: the stored role of
 * that name whose unique id is still the session's. AUTH_IDENTITY_NOT_FOUND
 * when the role is gone or is another role now (deleted and created again). */
auth_identity_status_t auth_session_principal(storage_records_t *rs, const auth_keys_t *keys, const auth_session_t *s,
                                              auth_principal_t *role, auth_err_t *err);

/* Whether a trust policy lets `principal_arn` (a user's or role's ARN, a
 * role session's arn:aws:sts::…:assumed-role/… ARN, or a service principal
 * such as "ecs-tasks.amazonaws.com") perform `action` (sts:AssumeRole) on
 * the role `role_arn`, with the caller's identity policies (NULL, 0 for a
 * service) and context as the server evaluates any request: the trust policy
 * naming the caller allows on its own; naming only the caller's account
 * needs an identity policy that allows the action too, as in IAM. A trust
 * policy that does not parse allows nothing (out says why). */
policy_decision_t auth_trust_evaluate(const auth_role_trust_t *trust, const char *role_arn, const char *account_id,
                                      const policy_named_t *identity, size_t n_identity, const char *action,
                                      const char *principal_arn, const policy_context_entry_t *ctx, size_t n_ctx,
                                      policy_result_t *out);

/* For task roles (ECS: a task definition's taskRoleArn): whether role_arn's
 * trust policy allows the service principal `service`
 * ("ecs-tasks.amazonaws.com") to assume it. AUTH_IDENTITY_OK with *allowed
 * set (false also for a role without a trust policy);
 * AUTH_IDENTITY_NOT_FOUND when there is no such role. */
auth_identity_status_t auth_role_trusts_service(storage_records_t *rs, const char *role_arn, const char *service, bool *allowed,
                                                auth_err_t *err);

/* Whether `caller` (a user or role as stored; a role session passes its
 * role) may pass role_arn to `service` ("ecs-tasks.amazonaws.com"; NULL: no
 * iam:PassedToService in the context): iam:PassRole on the role's ARN,
 * decided by the caller's identity policies alone, as IAM decides it. The
 * role need not exist (IAM checks the permission on the ARN). AUTH_IDENTITY_OK
 * with *allowed set and, when out is given, the deciding statement; a
 * failure only when the caller's policies cannot be read. */
auth_identity_status_t auth_pass_role_allowed(storage_records_t *rs, const auth_principal_t *caller, const char *role_arn,
                                              const char *service, bool *allowed, policy_result_t *out, auth_err_t *err);

/* Temporary credentials for a session of role_arn named session_name,
 * lasting duration_seconds from now, on berthd's own authority (no caller,
 * no trust policy: for the agent fetching a task role's credentials; AssumeRole
 * checks the trust policy first). AUTH_IDENTITY_NOT_FOUND when there is no
 * such role; AUTH_IDENTITY_INVALID for a session name STS refuses or a
 * duration outside AUTH_SESSION_MIN_SECONDS to the role's
 * MaxSessionDuration; AUTH_IDENTITY_STORE_ERROR also when no credentials can
 * be drawn. *session (when given) receives the session's claims. */
auth_identity_status_t auth_role_session_mint(storage_records_t *rs, const auth_keys_t *keys, const char *role_arn,
                                              const char *session_name, int64_t duration_seconds, int64_t now,
                                              auth_session_credentials_t *out, auth_session_t *session, auth_err_t *err);

/* ---- changes ------------------------------------------------------------- */

/* Each change is prepared first: making it validates the inputs (copying
 * them) and draws its randomness, so that the transaction itself does neither.
 * A maker returns NULL with *status and err set when the change is refused
 * before it runs (its comment says with what; AUTH_IDENTITY_STORE_ERROR when
 * memory runs out). A made change then runs either
 *  - waited for, with auth_change_run (start-up, tools, tests), or
 *  - without waiting (the server's event loops, which never wait for the
 *    writer): auth_change_bind points a STORAGE_OP_RECORDS op at it, the
 *    caller submits the op, and once it is done auth_change_finish gives the
 *    outcome.
 * Either way the outcome is AUTH_IDENTITY_OK once the change is durable, or a
 * failure its maker's comment names for the run. Free it with auth_change_free. */
typedef struct auth_change auth_change_t;

/* Makes: AUTH_IDENTITY_INVALID for a malformed name. Runs: AUTH_IDENTITY_EXISTS
 * when a user (or role) has the name, whatever its case. */
auth_change_t *auth_change_user_create(const auth_keys_t *keys, const char *name, bool role, auth_identity_status_t *status,
                                       auth_err_t *err);
/* Creates a role with its trust policy (AssumeRolePolicyDocument) and its
 * MaxSessionDuration (0: AUTH_ROLE_DEFAULT_MAX_SESSION_SECONDS). Makes:
 * AUTH_IDENTITY_INVALID for a malformed name, a trust policy that does not
 * parse as a resource policy ("MalformedPolicyDocument: …"), or a duration
 * outside 3600 to 43200. Runs: AUTH_IDENTITY_EXISTS as auth_change_user_create. */
auth_change_t *auth_change_role_create(const auth_keys_t *keys, const char *name, const char *trust, size_t trust_len,
                                       int64_t max_session_seconds, auth_identity_status_t *status, auth_err_t *err);
/* Replaces a role's trust policy (UpdateAssumeRolePolicy). Makes: as
 * auth_change_role_create for the name and document. Runs:
 * AUTH_IDENTITY_NOT_FOUND when there is no such role. */
auth_change_t *auth_change_role_trust_set(const char *name, const char *trust, size_t trust_len, auth_identity_status_t *status,
                                          auth_err_t *err);
/* Makes: AUTH_IDENTITY_INVALID for a malformed name. Runs: AUTH_IDENTITY_NOT_FOUND
 * when there is none; AUTH_IDENTITY_CONFLICT while it has access keys or
 * attached policies. */
auth_change_t *auth_change_user_delete(const char *name, bool role, auth_identity_status_t *status, auth_err_t *err);
/* Makes: AUTH_IDENTITY_NOT_FOUND when principal_arn is not a user or role of
 * this account; AUTH_IDENTITY_STORE_ERROR when no key can be drawn or sealed.
 * Runs: AUTH_IDENTITY_NOT_FOUND when the principal does not exist;
 * AUTH_IDENTITY_LIMIT when it has AUTH_MAX_ACCESS_KEYS already. */
auth_change_t *auth_change_access_key_create(const auth_keys_t *keys, const char *principal_arn, auth_identity_status_t *status,
                                             auth_err_t *err);
/* Makes: AUTH_IDENTITY_INVALID for a malformed id. Runs: AUTH_IDENTITY_NOT_FOUND
 * when there is no such key. */
auth_change_t *auth_change_access_key_delete(const char *access_key_id, auth_identity_status_t *status, auth_err_t *err);
/* Creates (create_only) or replaces a managed policy. Makes:
 * AUTH_IDENTITY_INVALID for a malformed name or a document that does not
 * parse as an identity policy. Runs: AUTH_IDENTITY_EXISTS, with create_only,
 * when a policy has the name, whatever its case. */
auth_change_t *auth_change_policy_put(const auth_keys_t *keys, const char *name, const char *doc, size_t len, bool create_only,
                                      auth_identity_status_t *status, auth_err_t *err);
/* Makes: AUTH_IDENTITY_INVALID for a malformed name. Runs:
 * AUTH_IDENTITY_NOT_FOUND when there is none; AUTH_IDENTITY_CONFLICT while it
 * is attached to anyone; AUTH_IDENTITY_STORE_ERROR also when a user or role
 * record is damaged (it might have the policy attached). */
auth_change_t *auth_change_policy_delete(const char *name, auth_identity_status_t *status, auth_err_t *err);
/* Attaches (attach) or detaches a managed policy; attaching one already
 * attached changes nothing. Makes: AUTH_IDENTITY_INVALID unless principal_arn
 * is a user or role ARN of this account and policy a well-formed name. Runs:
 * AUTH_IDENTITY_NOT_FOUND when the policy or the principal does not exist, or
 * when detaching a policy that is not attached; AUTH_IDENTITY_LIMIT when the
 * principal has AUTH_MAX_ATTACHED_POLICIES already. */
auth_change_t *auth_change_policy_attach(const auth_keys_t *keys, const char *principal_arn, const char *policy, bool attach,
                                         auth_identity_status_t *status, auth_err_t *err);
/* Sets a repository's policy, or deletes it when doc is NULL. Makes:
 * AUTH_IDENTITY_INVALID for a malformed repository name or a document that
 * does not parse as a resource policy. Runs: AUTH_IDENTITY_NOT_FOUND when
 * deleting a policy the repository does not have. */
auth_change_t *auth_change_repository_policy_set(const char *repo, const char *doc, size_t len, auth_identity_status_t *status,
                                                 auth_err_t *err);

/* Runs a made change as one transaction of st's writer and waits until it is
 * durable or has failed; returns its outcome (above). */
auth_identity_status_t auth_change_run(storage_t *st, auth_change_t *c, auth_err_t *err);
void auth_change_bind(auth_change_t *c, storage_op_t *op);
auth_identity_status_t auth_change_finish(auth_change_t *c, const storage_op_t *op, auth_err_t *err);
/* Outputs once the change has run with AUTH_IDENTITY_OK, valid until
 * auth_change_free: the new user or role; the new access key and its secret. */
const auth_principal_t *auth_change_principal(const auth_change_t *c);
const char *auth_change_access_key_id(const auth_change_t *c);
const char *auth_change_secret(const auth_change_t *c);
/* Wipes the secret it may hold. NULL is allowed. */
void auth_change_free(auth_change_t *c);

#endif
