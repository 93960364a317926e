/*
 * auth/session.c — STS role sessions' temporary credentials: the sealed
 * session token and what it carries. Pure but for randomness.
 *
 * Token text: "bst1_" + base64url(sealed), sealed = auth_seal(session key,
 * aad, payload), where
 *
 *   session key = HMAC-SHA256(master key, "berth sts session token key v1")
 *                 (a key of its own: a sealed stored secret can never be
 *                 passed off as a token, nor a token as a stored secret)
 *   aad         = "berth-sts-v1:" + the access key id ("ASIA…"), so a token
 *                 works only with the key id it was issued with
 *   payload     = u8 version (1)
 *                 i64 issued_at, i64 expires_at      Unix seconds, big-endian
 *                 u8 role name length (1..64), role name
 *                 u8 role id length (1..23), role id
 *                 u8 session name length (2..64), session name
 *                 40 bytes: the secret access key
 *
 * Why sealed (encrypted), not only signed like registry tokens: the token
 * carries the secret that signs requests; whoever sees a token (it travels
 * in every request, the secret never does) must not learn the secret. The
 * GCM tag is checked before any byte of the payload is read.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth/auth_internal.h"

#define TOKEN_PREFIX "bst1_"
#define TOKEN_PREFIX_LEN (sizeof(TOKEN_PREFIX) - 1)
#define PAYLOAD_VERSION 1
#define PAYLOAD_MAX (1 + 16 + 1 + AUTH_NAME_MAX + 1 + AUTH_PRINCIPAL_ID_MAX + 1 + AUTH_SESSION_NAME_MAX + AUTH_SECRET_KEY_LEN)
#define SEALED_MAX (PAYLOAD_MAX + AUTH_SEAL_OVERHEAD)
#define AAD_PREFIX "berth-sts-v1:"
#define KEY_LABEL "berth sts session token key v1"
/* RFC 4648 base32, as access key ids use; 32 symbols: a byte's low 5 bits pick one without bias */
static const char key_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
#define KEY_RANDOM_CHARS (AUTH_ACCESS_KEY_ID_LEN - 4)
#define SECRET_RANDOM_BYTES 30

_Static_assert(TOKEN_PREFIX_LEN + AUTH_B64_LEN(SEALED_MAX) < AUTH_SESSION_TOKEN_MAX, "session token fits");
_Static_assert(AUTH_B64_LEN(SECRET_RANDOM_BYTES) == AUTH_SECRET_KEY_LEN, "secret length");

static bool session_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_+=,.@-", c) != NULL;
}

bool auth_session_name_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t n = strnlen(name, AUTH_SESSION_NAME_MAX + 1);
    if (n < AUTH_SESSION_NAME_MIN || n > AUTH_SESSION_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!session_char(name[i]))
            return false;
    return true;
}

bool auth_session_key_id(const char *id)
{
    if (id == NULL || strlen(id) != AUTH_ACCESS_KEY_ID_LEN || strncmp(id, AUTH_SESSION_KEY_PREFIX, 4) != 0)
        return false;
    for (size_t i = 4; i < AUTH_ACCESS_KEY_ID_LEN; i++)
        if (strchr(key_alphabet, id[i]) == NULL || id[i] == '\0')
            return false;
    return true;
}

/* IAM names ([A-Za-z0-9+=,.@_-]) and unique ids ([A-Z0-9]) */
static bool name_ok(const char *s, size_t min, size_t max, size_t *len)
{
    size_t n = strnlen(s, max + 1);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!session_char(s[i]))
            return false;
    *len = n;
    return true;
}

static bool session_key(const unsigned char master[AUTH_SEAL_KEY_BYTES], unsigned char out[AUTH_SEAL_KEY_BYTES])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), master, AUTH_SEAL_KEY_BYTES, (const unsigned char *)KEY_LABEL, sizeof(KEY_LABEL) - 1, out, &n) !=
               NULL &&
           n == AUTH_SEAL_KEY_BYTES;
}

static void put_i64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

static int64_t get_i64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | p[i];
    return (int64_t)u;
}

static size_t aad_for(const char *access_key_id, char out[sizeof(AAD_PREFIX) + AUTH_ACCESS_KEY_ID_LEN])
{
    memcpy(out, AAD_PREFIX, sizeof(AAD_PREFIX) - 1);
    memcpy(out + sizeof(AAD_PREFIX) - 1, access_key_id, AUTH_ACCESS_KEY_ID_LEN);
    out[sizeof(AAD_PREFIX) - 1 + AUTH_ACCESS_KEY_ID_LEN] = '\0';
    return sizeof(AAD_PREFIX) - 1 + AUTH_ACCESS_KEY_ID_LEN;
}

auth_status_t auth_session_issue(const unsigned char master[AUTH_SEAL_KEY_BYTES], const auth_session_t *s,
                                 auth_session_credentials_t *out, auth_err_t *err)
{
    if (master == NULL || s == NULL || out == NULL) {
        auth_set_err(err, "missing argument");
        return AUTH_EMALFORMED;
    }
    memset(out, 0, sizeof(*out));
    size_t rl, il, sl;
    if (!name_ok(s->role_name, 1, AUTH_NAME_MAX, &rl) || !name_ok(s->role_id, 1, AUTH_PRINCIPAL_ID_MAX, &il) ||
        !auth_session_name_valid(s->session_name) || !name_ok(s->session_name, 2, AUTH_SESSION_NAME_MAX, &sl)) {
        auth_set_err(err,
                     "a session names its role (1 to %d characters), the role's id and a session name of %d to %d "
                     "characters of [A-Za-z0-9_+=,.@-]",
                     AUTH_NAME_MAX, AUTH_SESSION_NAME_MIN, AUTH_SESSION_NAME_MAX);
        return AUTH_EMALFORMED;
    }
    if (s->expires_at <= s->issued_at) {
        auth_set_err(err, "a session must expire after it is issued");
        return AUTH_EMALFORMED;
    }
    unsigned char r[KEY_RANDOM_CHARS], sec[SECRET_RANDOM_BYTES];
    if (RAND_bytes(r, sizeof(r)) != 1 || RAND_bytes(sec, sizeof(sec)) != 1) {
        OPENSSL_cleanse(sec, sizeof(sec));
        auth_set_err(err, "no randomness for temporary credentials");
        return AUTH_ECRYPTO;
    }
    memcpy(out->access_key_id, AUTH_SESSION_KEY_PREFIX, 4);
    for (size_t i = 0; i < sizeof(r); i++)
        out->access_key_id[4 + i] = key_alphabet[r[i] & 31];
    out->access_key_id[AUTH_ACCESS_KEY_ID_LEN] = '\0';
    auth_b64_encode(sec, sizeof(sec), out->secret);
    OPENSSL_cleanse(sec, sizeof(sec));

    unsigned char p[PAYLOAD_MAX], sealed[SEALED_MAX], key[AUTH_SEAL_KEY_BYTES];
    size_t n = 0;
    p[n++] = PAYLOAD_VERSION;
    put_i64(p + n, s->issued_at);
    put_i64(p + n + 8, s->expires_at);
    n += 16;
    p[n++] = (unsigned char)rl;
    memcpy(p + n, s->role_name, rl);
    n += rl;
    p[n++] = (unsigned char)il;
    memcpy(p + n, s->role_id, il);
    n += il;
    p[n++] = (unsigned char)sl;
    memcpy(p + n, s->session_name, sl);
    n += sl;
    memcpy(p + n, out->secret, AUTH_SECRET_KEY_LEN);
    n += AUTH_SECRET_KEY_LEN;
    char aad[sizeof(AAD_PREFIX) + AUTH_ACCESS_KEY_ID_LEN];
    size_t aad_len = aad_for(out->access_key_id, aad);
    auth_status_t st = AUTH_ECRYPTO;
    if (!session_key(master, key))
        auth_set_err(err, "HMAC-SHA256 failed");
    else
        st = auth_seal(key, aad, aad_len, p, n, sealed, err);
    OPENSSL_cleanse(p, sizeof(p));
    OPENSSL_cleanse(key, sizeof(key));
    if (st != AUTH_OK) {
        OPENSSL_cleanse(out, sizeof(*out));
        return st;
    }
    memcpy(out->token, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
    if (auth_b64url_encode(sealed, n + AUTH_SEAL_OVERHEAD, out->token + TOKEN_PREFIX_LEN, sizeof(out->token) - TOKEN_PREFIX_LEN) <
        0) {
        OPENSSL_cleanse(out, sizeof(*out));
        auth_set_err(err, "session token encoding failed");
        return AUTH_ECRYPTO;
    }
    out->expires_at = s->expires_at;
    return AUTH_OK;
}

/* Reads a length-prefixed name of min..max bytes of the names' alphabet. */
static bool get_name(const unsigned char *p, size_t n, size_t *o, size_t min, size_t max, char *out)
{
    if (*o >= n)
        return false;
    size_t l = p[(*o)++];
    if (l < min || l > max || n - *o < l)
        return false;
    memcpy(out, p + *o, l);
    out[l] = '\0';
    for (size_t i = 0; i < l; i++)
        if (!session_char(out[i]))
            return false;
    *o += l;
    return true;
}

static bool parse_payload(const unsigned char *p, size_t n, auth_session_t *s, char secret[AUTH_SECRET_KEY_LEN + 1])
{
    size_t o = 0;
    if (n < 1 + 16 || p[0] != PAYLOAD_VERSION)
        return false;
    o = 1;
    s->issued_at = get_i64(p + o);
    s->expires_at = get_i64(p + o + 8);
    o += 16;
    if (!get_name(p, n, &o, 1, AUTH_NAME_MAX, s->role_name) || !get_name(p, n, &o, 1, AUTH_PRINCIPAL_ID_MAX, s->role_id) ||
        !get_name(p, n, &o, AUTH_SESSION_NAME_MIN, AUTH_SESSION_NAME_MAX, s->session_name))
        return false;
    if (n - o != AUTH_SECRET_KEY_LEN)
        return false;
    memcpy(secret, p + o, AUTH_SECRET_KEY_LEN);
    secret[AUTH_SECRET_KEY_LEN] = '\0';
    return true;
}

auth_status_t auth_session_open(const unsigned char master[AUTH_SEAL_KEY_BYTES], const char *access_key_id, const char *token,
                                size_t len, int64_t now, auth_session_t *out, char secret[AUTH_SECRET_KEY_LEN + 1], auth_err_t *err)
{
    if (master == NULL || out == NULL || secret == NULL) {
        auth_set_err(err, "missing argument");
        return AUTH_EMALFORMED;
    }
    memset(out, 0, sizeof(*out));
    memset(secret, 0, AUTH_SECRET_KEY_LEN + 1);
    if (!auth_session_key_id(access_key_id)) {
        auth_set_err(err, "not a temporary access key id (ASIA…)");
        return AUTH_EMALFORMED;
    }
    if (token == NULL || len <= TOKEN_PREFIX_LEN || len > AUTH_SESSION_TOKEN_MAX ||
        memcmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0) {
        auth_set_err(err, "not a session token of this server");
        return AUTH_EMALFORMED;
    }
    unsigned char sealed[SEALED_MAX], p[PAYLOAD_MAX], key[AUTH_SEAL_KEY_BYTES];
    int sn = auth_b64url_decode(token + TOKEN_PREFIX_LEN, len - TOKEN_PREFIX_LEN, sealed, sizeof(sealed));
    if (sn <= AUTH_SEAL_OVERHEAD) {
        auth_set_err(err, "the session token is not sealed data of this server");
        return AUTH_EBADSIG;
    }
    char aad[sizeof(AAD_PREFIX) + AUTH_ACCESS_KEY_ID_LEN];
    size_t aad_len = aad_for(access_key_id, aad);
    if (!session_key(master, key)) {
        auth_set_err(err, "HMAC-SHA256 failed");
        return AUTH_ECRYPTO;
    }
    auth_status_t st = auth_unseal(key, aad, aad_len, sealed, (size_t)sn, p, err);
    OPENSSL_cleanse(key, sizeof(key));
    size_t pn = (size_t)sn - AUTH_SEAL_OVERHEAD;
    if (st != AUTH_OK) {
        auth_set_err(err, "the session token does not verify (another access key id, another server, or altered)");
        return st == AUTH_ECRYPTO ? AUTH_ECRYPTO : AUTH_EBADSIG;
    }
    bool ok = parse_payload(p, pn, out, secret);
    OPENSSL_cleanse(p, sizeof(p));
    if (!ok) {
        /* sealed by us yet unreadable: a layout this build does not know */
        memset(out, 0, sizeof(*out));
        OPENSSL_cleanse(secret, AUTH_SECRET_KEY_LEN + 1);
        auth_set_err(err, "the session token's claims are malformed");
        return AUTH_EMALFORMED;
    }
    if (now >= out->expires_at) {
        auth_set_err(err, "The security token included in the request is expired");
        return AUTH_EEXPIRED;
    }
    return AUTH_OK;
}

void auth_session_arn(const auth_keys_t *keys, const auth_session_t *s, char out[AUTH_SESSION_ARN_MAX + 1])
{
    snprintf(out, AUTH_SESSION_ARN_MAX + 1, "arn:aws:sts::%s:assumed-role/%s/%s", keys->account_id, s->role_name, s->session_name);
}

void auth_session_user_id(const auth_session_t *s, char out[AUTH_PRINCIPAL_ID_MAX + AUTH_SESSION_NAME_MAX + 2])
{
    snprintf(out, AUTH_PRINCIPAL_ID_MAX + AUTH_SESSION_NAME_MAX + 2, "%s:%s", s->role_id, s->session_name);
}
