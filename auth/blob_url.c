/*
 * Signed, expiring blob URLs: what ECR's GetDownloadUrlForLayer hands out,
 * so that whoever holds the URL may GET exactly one blob of one repository
 * until it expires, without further credentials.
 *
 *   key       = HMAC-SHA256(master key, "berth blob download url key v1")
 *   signature = HMAC-SHA256(key, "berth-blob-url-v1" 0x00
 *                                 u32be(len repo) repo u32be(len digest) digest
 *                                 i64be(expires))
 *   query     = "X-Berth-Expires=<unix seconds>&X-Berth-Signature=<64 hex>"
 *
 * The lengths make the message unambiguous whatever the names hold; the key
 * is derived so that no other use of the master key (sealing, STS sessions)
 * ever signs the same bytes.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth_internal.h"

#define KEY_LABEL "berth blob download url key v1"
#define MSG_LABEL "berth-blob-url-v1"
#define P_EXPIRES "X-Berth-Expires="
#define P_SIGNATURE "X-Berth-Signature="
/* OCI names are at most 255 bytes and digests ~140: a message fits in 512 */
#define MSG_MAX 512
/* 19 digits hold any positive int64 */
#define EXPIRES_DIGITS_MAX 19

static bool mac(const unsigned char master[AUTH_SEAL_KEY_BYTES], const char *repo, const char *digest, int64_t expires,
                unsigned char out[32])
{
    size_t rl = strlen(repo), dl = strlen(digest);
    unsigned char key[32], msg[MSG_MAX];
    size_t n = 0;
    unsigned int klen = 0, mlen = 0;
    if (rl > 255 || dl > 200 || sizeof(MSG_LABEL) + 8 + rl + dl + 8 > sizeof(msg))
        return false;
    memcpy(msg, MSG_LABEL, sizeof(MSG_LABEL)); /* with its NUL */
    n = sizeof(MSG_LABEL);
    for (int i = 3; i >= 0; i--)
        msg[n++] = (unsigned char)(rl >> (8 * i));
    memcpy(msg + n, repo, rl);
    n += rl;
    for (int i = 3; i >= 0; i--)
        msg[n++] = (unsigned char)(dl >> (8 * i));
    memcpy(msg + n, digest, dl);
    n += dl;
    auth_put_i64(msg + n, expires);
    n += 8;
    bool ok =
        HMAC(EVP_sha256(), master, AUTH_SEAL_KEY_BYTES, (const unsigned char *)KEY_LABEL, sizeof(KEY_LABEL) - 1, key, &klen) &&
        klen == 32 && HMAC(EVP_sha256(), key, sizeof(key), msg, n, out, &mlen) && mlen == 32;
    OPENSSL_cleanse(key, sizeof(key));
    return ok;
}

auth_status_t auth_blob_url_sign(const unsigned char master_key[AUTH_SEAL_KEY_BYTES], const char *repo, const char *digest,
                                 int64_t expires, char *query_out, size_t cap, auth_err_t *err)
{
    unsigned char sig[32];
    char hex[65];
    if (cap)
        query_out[0] = '\0';
    if (expires <= 0 || !repo[0] || !digest[0]) {
        auth_set_err(err, "a blob URL needs a repository, a digest and a positive expiry");
        return AUTH_EMALFORMED;
    }
    if (!mac(master_key, repo, digest, expires, sig)) {
        auth_set_err(err, "HMAC-SHA256 failed or the repository or digest is too long");
        return AUTH_ECRYPTO;
    }
    auth_hex_encode(sig, sizeof(sig), hex);
    int w = snprintf(query_out, cap, P_EXPIRES "%lld&" P_SIGNATURE "%s", (long long)expires, hex);
    if (w < 0 || (size_t)w >= cap) {
        if (cap)
            query_out[0] = '\0';
        auth_set_err(err, "the query does not fit");
        return AUTH_EMALFORMED;
    }
    return AUTH_OK;
}

/* The value of parameter `p` ("name=") in query, once exactly; false when absent. *dup when given twice. */
static bool param(const char *q, size_t len, const char *p, const char **val, size_t *vlen, bool *dup)
{
    size_t pl = strlen(p);
    bool found = false;
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(q + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - q) : len;
        if (end - i >= pl && memcmp(q + i, p, pl) == 0) {
            if (found)
                *dup = true;
            found = true;
            *val = q + i + pl;
            *vlen = end - i - pl;
        }
        i = end + 1;
    }
    return found;
}

bool auth_blob_url_signed(const char *query, size_t len)
{
    const char *v;
    size_t vl;
    bool dup = false;
    return query && param(query, len, P_SIGNATURE, &v, &vl, &dup);
}

auth_status_t auth_blob_url_parse(const char *query, size_t len, int64_t *expires, unsigned char sig[32], auth_err_t *err)
{
    const char *ev = NULL, *sv = NULL;
    size_t el = 0, sl = 0;
    bool dup = false;
    if (!query || len > AUTH_BLOB_URL_QUERY_MAX) {
        auth_set_err(err, "the URL's query is missing or longer than a signed blob URL's");
        return AUTH_EMALFORMED;
    }
    if (!param(query, len, P_EXPIRES, &ev, &el, &dup) || !param(query, len, P_SIGNATURE, &sv, &sl, &dup) || dup) {
        auth_set_err(err, "a signed blob URL has X-Berth-Expires and X-Berth-Signature, once each");
        return AUTH_EMALFORMED;
    }
    /* nothing else: the two parameters and one '&' between them */
    if (len != strlen(P_EXPIRES) + el + strlen(P_SIGNATURE) + sl + 1) {
        auth_set_err(err, "a signed blob URL has no parameters but X-Berth-Expires and X-Berth-Signature");
        return AUTH_EMALFORMED;
    }
    if (el == 0 || el > EXPIRES_DIGITS_MAX || ev[0] == '0') {
        auth_set_err(err, "X-Berth-Expires must be Unix seconds");
        return AUTH_EMALFORMED;
    }
    int64_t e = 0;
    for (size_t i = 0; i < el; i++) {
        if (ev[i] < '0' || ev[i] > '9' || e > (INT64_MAX - (ev[i] - '0')) / 10) {
            auth_set_err(err, "X-Berth-Expires must be Unix seconds");
            return AUTH_EMALFORMED;
        }
        e = e * 10 + (ev[i] - '0');
    }
    if (sl != 64) {
        auth_set_err(err, "X-Berth-Signature must be 64 hex digits");
        return AUTH_EMALFORMED;
    }
    for (size_t i = 0; i < 32; i++) {
        int hi = auth_hex_value((unsigned char)sv[2 * i]), lo = auth_hex_value((unsigned char)sv[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            auth_set_err(err, "X-Berth-Signature must be 64 hex digits");
            return AUTH_EMALFORMED;
        }
        sig[i] = (unsigned char)(hi << 4 | lo);
    }
    *expires = e;
    return AUTH_OK;
}

auth_status_t auth_blob_url_verify(const unsigned char master_key[AUTH_SEAL_KEY_BYTES], const char *repo, const char *digest,
                                   const char *query, size_t len, int64_t now, auth_err_t *err)
{
    int64_t expires;
    unsigned char got[32], want[32];
    auth_status_t st = auth_blob_url_parse(query, len, &expires, got, err);
    if (st != AUTH_OK)
        return st;
    if (!mac(master_key, repo, digest, expires, want)) {
        auth_set_err(err, "HMAC-SHA256 failed or the repository or digest is too long");
        return AUTH_ECRYPTO;
    }
    bool same = CRYPTO_memcmp(got, want, sizeof(want)) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    if (!same) {
        auth_set_err(err, "the URL's signature does not match this repository, blob and expiry");
        return AUTH_EBADSIG;
    }
    /* said only of a URL this registry signed */
    if (now >= expires) {
        auth_set_err(err, "the URL has expired: ask GetDownloadUrlForLayer for a new one");
        return AUTH_EEXPIRED;
    }
    return AUTH_OK;
}
