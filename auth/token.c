/*
 * auth/token.c — registry tokens: the password `berth get-login-password`
 * hands to docker login, and the Bearer tokens of the token endpoint.
 *
 * A token is three dot-separated fields, only [A-Za-z0-9._-]:
 *
 *   v2 . base64url(payload) . base64url(HMAC-SHA256(key, "v2." + base64url(payload)))
 *
 * base64url without padding, and decoded strictly (unused bits zero), so each
 * token has exactly one spelling. The payload is a fixed binary layout,
 * integers big-endian:
 *
 *   u8 key id length (1..16), key id
 *   u8 kind: 0 a registry password, 1 a Bearer token of /v2/token
 *   i64 issued_at, i64 expires_at          Unix seconds
 *   u16 principal ARN length (0..256), ARN
 *   u8 principal id length (0..23), id     "AIDA…"/"AROA…": never reused
 *   u8 scope count (0..8), then per scope:
 *       u8 actions (bit 0 pull, bit 1 push, bit 2 delete; other bits zero)
 *       u8 repository length (1..255), repository
 *
 * A password names its principal by ARN and id and has no scopes; a Bearer
 * token names both or neither (an anonymous caller's), with 0 to 8 scopes.
 * The id binds a token to the principal it was issued to: a user deleted and
 * created again under the same name (the same ARN) gets a new id, so the old
 * user's tokens stay dead. Version 1 named the principal by ARN only; its
 * tokens are refused as an unknown version.
 *
 * Why binary and not JSON: the layout has one encoding per set of claims (JSON
 * has many: key order, spacing, escapes), it is a third of the size (tokens
 * travel in every request and in docker's config.json), and reading it takes
 * a dozen bounds-checked lines instead of a JSON parser. A later version can
 * change the layout under a new version field. The MAC is checked, in
 * constant time, before any byte of the payload is interpreted; the key id
 * inside the signed payload must then be the verifying key's.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth/auth_internal.h"

#define TOKEN_VERSION "v2"
#define TOKEN_MAC_BYTES 32
/* The largest payload the layout above can hold: the decode buffer's size. */
#define TOKEN_PAYLOAD_MAX                                                                                                          \
    (1 + AUTH_TOKEN_KEY_ID_MAX + 1 + 8 + 8 + 2 + AUTH_PRINCIPAL_ARN_MAX + 1 + AUTH_PRINCIPAL_ID_MAX + 1 +                          \
     AUTH_TOKEN_MAX_SCOPES * (2 + 255))

enum { SCOPE_PULL = 1, SCOPE_PUSH = 2, SCOPE_DELETE = 4 };
enum { KIND_PASSWORD = 0, KIND_BEARER = 1 };

/* Whether a kind of token may name this principal and carry this many
 * scopes: a password names one and has no scopes; a Bearer token names one
 * fully or not at all. */
static bool claims_shape_ok(bool bearer, size_t arn_len, size_t id_len, size_t n_scopes)
{
    if (n_scopes > AUTH_TOKEN_MAX_SCOPES || (arn_len == 0) != (id_len == 0))
        return false;
    return bearer || (arn_len > 0 && n_scopes == 0);
}

static bool token_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Key ids appear in tokens and in log lines: keep them to a safe set. */
static bool key_id_ok(const char *id, size_t *len)
{
    if (id == NULL)
        return false;
    size_t n = strnlen(id, AUTH_TOKEN_KEY_ID_MAX + 1);
    if (n == 0 || n > AUTH_TOKEN_KEY_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    *len = n;
    return true;
}

auth_status_t auth_token_key_generate(const char *id, auth_token_key_t *key, auth_err_t *err)
{
    size_t n;
    if (key == NULL || !key_id_ok(id, &n)) {
        auth_set_err(err, "token key id must be 1 to %d of [A-Za-z0-9_-]", AUTH_TOKEN_KEY_ID_MAX);
        return AUTH_EMALFORMED;
    }
    memset(key, 0, sizeof(*key));
    memcpy(key->id, id, n);
    if (RAND_bytes(key->secret, sizeof(key->secret)) != 1) {
        OPENSSL_cleanse(key, sizeof(*key));
        auth_set_err(err, "no randomness for a token key");
        return AUTH_ECRYPTO;
    }
    return AUTH_OK;
}

static bool token_mac(const auth_token_key_t *key, const char *data, size_t len, unsigned char mac[TOKEN_MAC_BYTES])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key->secret, sizeof(key->secret), (const unsigned char *)data, len, mac, &n) != NULL &&
           n == TOKEN_MAC_BYTES;
}

auth_status_t auth_token_issue(const auth_token_key_t *key, const auth_token_claims_t *claims, char *out, size_t cap,
                               auth_err_t *err)
{
    size_t id_len;
    if (key == NULL || claims == NULL || out == NULL || !key_id_ok(key->id, &id_len)) {
        auth_set_err(err, "missing or bad token key");
        return AUTH_EMALFORMED;
    }
    if (cap > 0)
        out[0] = '\0';
    size_t arn_len = strnlen(claims->principal_arn, sizeof(claims->principal_arn));
    size_t pid_len = strnlen(claims->principal_id, sizeof(claims->principal_id));
    if (arn_len == sizeof(claims->principal_arn) || pid_len == sizeof(claims->principal_id) ||
        claims->n_scopes > AUTH_TOKEN_MAX_SCOPES) {
        auth_set_err(err, "principal ARN over %d bytes, id over %d or more than %d scopes", AUTH_PRINCIPAL_ARN_MAX,
                     AUTH_PRINCIPAL_ID_MAX, AUTH_TOKEN_MAX_SCOPES);
        return AUTH_EMALFORMED;
    }
    if (!claims_shape_ok(claims->bearer, arn_len, pid_len, claims->n_scopes)) {
        auth_set_err(err, "%s",
                     claims->bearer ? "a Bearer token names its principal by both ARN and id, or neither"
                                    : "a password names its principal by ARN and id, and has no scopes");
        return AUTH_EMALFORMED;
    }
    unsigned char p[TOKEN_PAYLOAD_MAX];
    size_t n = 0;
    p[n++] = (unsigned char)id_len;
    memcpy(p + n, key->id, id_len);
    n += id_len;
    p[n++] = claims->bearer ? KIND_BEARER : KIND_PASSWORD;
    auth_put_i64(p + n, claims->issued_at);
    auth_put_i64(p + n + 8, claims->expires_at);
    n += 16;
    p[n++] = (unsigned char)(arn_len >> 8);
    p[n++] = (unsigned char)(arn_len & 0xff);
    memcpy(p + n, claims->principal_arn, arn_len);
    n += arn_len;
    p[n++] = (unsigned char)pid_len;
    memcpy(p + n, claims->principal_id, pid_len);
    n += pid_len;
    p[n++] = (unsigned char)claims->n_scopes;
    for (size_t i = 0; i < claims->n_scopes; i++) {
        const auth_token_scope_t *s = &claims->scopes[i];
        size_t rl = strnlen(s->repository, sizeof(s->repository));
        if (rl == 0 || rl == sizeof(s->repository)) {
            auth_set_err(err, "scope %zu: repository empty or over %zu bytes", i, sizeof(s->repository) - 1);
            return AUTH_EMALFORMED;
        }
        p[n++] = (unsigned char)((s->pull ? SCOPE_PULL : 0) | (s->push ? SCOPE_PUSH : 0) | (s->delete_ ? SCOPE_DELETE : 0));
        p[n++] = (unsigned char)rl;
        memcpy(p + n, s->repository, rl);
        n += rl;
    }

    char tok[AUTH_TOKEN_MAX_BYTES + AUTH_B64_LEN(TOKEN_PAYLOAD_MAX) + AUTH_B64_LEN(TOKEN_MAC_BYTES) + 8];
    size_t t = sizeof(TOKEN_VERSION) - 1;
    memcpy(tok, TOKEN_VERSION ".", t + 1);
    t++;
    int pl = auth_b64url_encode(p, n, tok + t, sizeof(tok) - t);
    if (pl < 0) {
        auth_set_err(err, "token encoding failed");
        return AUTH_ECRYPTO;
    }
    t += (size_t)pl;
    unsigned char mac[TOKEN_MAC_BYTES];
    if (!token_mac(key, tok, t, mac)) {
        auth_set_err(err, "HMAC-SHA256 failed");
        return AUTH_ECRYPTO;
    }
    tok[t++] = '.';
    int ml = auth_b64url_encode(mac, sizeof(mac), tok + t, sizeof(tok) - t);
    if (ml < 0) {
        auth_set_err(err, "token encoding failed");
        return AUTH_ECRYPTO;
    }
    t += (size_t)ml;
    if (t > AUTH_TOKEN_MAX_BYTES) {
        auth_set_err(err, "claims too large: the token would be %zu bytes, over %d", t, AUTH_TOKEN_MAX_BYTES);
        return AUTH_EMALFORMED;
    }
    if (t + 1 > cap) {
        auth_set_err(err, "token buffer too small (%zu bytes needed)", t + 1);
        return AUTH_EMALFORMED;
    }
    memcpy(out, tok, t + 1);
    return AUTH_OK;
}

/* The three fields, checked for characters and shape only. */
static bool split_token(const char *token, size_t len, size_t *dot1, size_t *dot2)
{
    size_t dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (!token_char((unsigned char)token[i]))
            return false;
        if (token[i] == '.') {
            if (dots == 0)
                *dot1 = i;
            else if (dots == 1)
                *dot2 = i;
            dots++;
        }
    }
    return dots == 2;
}

/* Reads the payload layout; false when it is not exactly that layout. */
static bool parse_payload(const unsigned char *p, size_t n, char id[AUTH_TOKEN_KEY_ID_MAX + 1], auth_token_claims_t *c)
{
    size_t o = 0;
    if (n < 1 || p[0] == 0 || p[0] > AUTH_TOKEN_KEY_ID_MAX || n < 1 + (size_t)p[0])
        return false;
    size_t il = p[o++];
    memcpy(id, p + o, il);
    id[il] = '\0';
    if (memchr(id, '\0', il) != NULL)
        return false;
    o += il;
    if (n - o < 1 + 16 + 2 || p[o] > KIND_BEARER)
        return false;
    c->bearer = p[o++] == KIND_BEARER;
    c->issued_at = auth_get_i64(p + o);
    c->expires_at = auth_get_i64(p + o + 8);
    o += 16;
    size_t al = (size_t)p[o] << 8 | p[o + 1];
    o += 2;
    if (al > AUTH_PRINCIPAL_ARN_MAX || n - o < al + 1)
        return false;
    memcpy(c->principal_arn, p + o, al);
    c->principal_arn[al] = '\0';
    if (memchr(c->principal_arn, '\0', al) != NULL)
        return false;
    o += al;
    size_t pl = p[o++];
    if (pl > AUTH_PRINCIPAL_ID_MAX || n - o < pl + 1)
        return false;
    memcpy(c->principal_id, p + o, pl);
    c->principal_id[pl] = '\0';
    if (memchr(c->principal_id, '\0', pl) != NULL)
        return false;
    o += pl;
    c->n_scopes = p[o++];
    if (!claims_shape_ok(c->bearer, al, pl, c->n_scopes))
        return false;
    for (size_t i = 0; i < c->n_scopes; i++) {
        auth_token_scope_t *s = &c->scopes[i];
        if (n - o < 2)
            return false;
        unsigned actions = p[o], rl = p[o + 1];
        o += 2;
        if ((actions & ~(unsigned)(SCOPE_PULL | SCOPE_PUSH | SCOPE_DELETE)) != 0 || rl == 0 || n - o < rl)
            return false;
        memcpy(s->repository, p + o, rl);
        s->repository[rl] = '\0';
        if (memchr(s->repository, '\0', rl) != NULL)
            return false;
        o += rl;
        s->pull = actions & SCOPE_PULL;
        s->push = actions & SCOPE_PUSH;
        s->delete_ = actions & SCOPE_DELETE;
    }
    return o == n;
}

auth_status_t auth_token_verify(const auth_token_key_t *key, const char *token, size_t len, int64_t now, auth_token_claims_t *out,
                                auth_err_t *err)
{
    size_t id_len;
    if (key == NULL || out == NULL || !key_id_ok(key->id, &id_len)) {
        auth_set_err(err, "missing or bad token key");
        return AUTH_EMALFORMED;
    }
    size_t dot1 = 0, dot2 = 0;
    if (token == NULL || len == 0 || len > AUTH_TOKEN_MAX_BYTES || !split_token(token, len, &dot1, &dot2)) {
        auth_set_err(err, "not a registry token (expected " TOKEN_VERSION ".<payload>.<signature>, at most %d bytes)",
                     AUTH_TOKEN_MAX_BYTES);
        return AUTH_EMALFORMED;
    }
    if (dot1 != sizeof(TOKEN_VERSION) - 1 || memcmp(token, TOKEN_VERSION, dot1) != 0) {
        auth_set_err(err, "unknown registry token version (a password from before Berth's tokens named the user id is "
                          "refused: log in again)");
        return AUTH_EMALFORMED;
    }
    unsigned char mac[TOKEN_MAC_BYTES], want[TOKEN_MAC_BYTES];
    if (auth_b64url_decode(token + dot2 + 1, len - dot2 - 1, mac, sizeof(mac)) != TOKEN_MAC_BYTES) {
        auth_set_err(err, "registry token signature is not 32 bytes of base64url");
        return AUTH_EMALFORMED;
    }
    if (!token_mac(key, token, dot2, want)) {
        auth_set_err(err, "HMAC-SHA256 failed");
        return AUTH_ECRYPTO;
    }
    bool match = CRYPTO_memcmp(mac, want, sizeof(mac)) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    if (!match) {
        auth_set_err(err, "registry token signature does not verify (wrong or rotated key, or altered token)");
        return AUTH_EBADSIG;
    }

    /* Only now is the payload ours to read. */
    unsigned char p[TOKEN_PAYLOAD_MAX];
    int pn = auth_b64url_decode(token + dot1 + 1, dot2 - dot1 - 1, p, sizeof(p));
    char id[AUTH_TOKEN_KEY_ID_MAX + 1];
    auth_token_claims_t c;
    memset(&c, 0, sizeof(c));
    if (pn < 0 || !parse_payload(p, (size_t)pn, id, &c)) {
        auth_set_err(err, "registry token payload is malformed");
        return AUTH_EMALFORMED;
    }
    if (strcmp(id, key->id) != 0) {
        auth_set_err(err, "registry token was issued under key '%s', not '%s'", id, key->id);
        return AUTH_EBADSIG;
    }
    if (now >= c.expires_at) {
        auth_set_err(err, "registry token expired; log in again");
        return AUTH_EEXPIRED;
    }
    *out = c;
    return AUTH_OK;
}

auth_status_t auth_token_key_id(const char *token, size_t len, char id[AUTH_TOKEN_KEY_ID_MAX + 1], auth_err_t *err)
{
    size_t dot1 = 0, dot2 = 0;
    if (id == NULL || token == NULL || len == 0 || len > AUTH_TOKEN_MAX_BYTES || !split_token(token, len, &dot1, &dot2) ||
        dot1 != sizeof(TOKEN_VERSION) - 1 || memcmp(token, TOKEN_VERSION, dot1) != 0) {
        auth_set_err(err, "not a registry token");
        return AUTH_EMALFORMED;
    }
    /* The key id is the payload's first field: decode only as much as needed
     * (one length byte and up to 16 bytes need at most 24 characters). */
    size_t plen = dot2 - dot1 - 1, take = plen < 24 ? plen : 24;
    unsigned char p[18];
    /* A prefix of a base64url string is base64url only at multiples of 4. */
    if (take < plen)
        take = take / 4 * 4;
    int n = auth_b64url_decode(token + dot1 + 1, take, p, sizeof(p));
    if (n < 1 || p[0] == 0 || p[0] > AUTH_TOKEN_KEY_ID_MAX || (size_t)n < 1 + (size_t)p[0]) {
        auth_set_err(err, "registry token payload is malformed");
        return AUTH_EMALFORMED;
    }
    size_t il;
    memcpy(id, p + 1, p[0]);
    id[p[0]] = '\0';
    if (!key_id_ok(id, &il) || il != p[0]) {
        auth_set_err(err, "registry token names a malformed key id");
        return AUTH_EMALFORMED;
    }
    return AUTH_OK;
}

bool auth_token_names(const auth_token_claims_t *claims, const auth_principal_t *p)
{
    return claims->principal_id[0] != '\0' && strcmp(claims->principal_arn, p->arn) == 0 &&
           strcmp(claims->principal_id, p->id) == 0;
}

int64_t auth_bearer_expiry(int64_t now, const int64_t *password_expires_at)
{
    int64_t exp = now + AUTH_BEARER_TOKEN_SECONDS;
    return password_expires_at && *password_expires_at < exp ? *password_expires_at : exp;
}
