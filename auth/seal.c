/*
 * auth/seal.c — sealing stored secrets (AES-256-GCM) and generating access
 * keys.
 *
 * Sealed layout: nonce (12 random bytes) || ciphertext || tag (16 bytes).
 * Random 96-bit nonces are safe for far more seals than Berth will ever make
 * under one master key (NIST SP 800-38D's 2^32 limit).
 */
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/auth_internal.h"

#define SEAL_NONCE_BYTES 12
#define SEAL_TAG_BYTES 16
/* What is sealed is an access-key secret (40 bytes) or another small secret;
 * the cap keeps every length well inside OpenSSL's int. */
#define SEAL_MAX_BYTES (64 * 1024)
/* The associated data is an access key id or a similar short label. */
#define SEAL_MAX_AAD_BYTES 4096

_Static_assert(SEAL_NONCE_BYTES + SEAL_TAG_BYTES == AUTH_SEAL_OVERHEAD, "sealed layout");

/* The access key id alphabet: RFC 4648 base32, as AWS's ids use. 32 symbols,
 * so a random byte's low five bits pick one without bias. */
static const char key_id_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
#define KEY_ID_PREFIX "AKIA"
#define KEY_ID_RANDOM_CHARS (AUTH_ACCESS_KEY_ID_LEN - 4)
/* 30 bytes are exactly 40 base64 characters, no padding. */
#define SECRET_RANDOM_BYTES 30

_Static_assert(sizeof(key_id_alphabet) - 1 == 32, "unbiased base32");
_Static_assert(AUTH_B64_LEN(SECRET_RANDOM_BYTES) == AUTH_SECRET_KEY_LEN, "secret length");

static bool seal_args_ok(const unsigned char *key, const void *aad, size_t aad_len, const void *in, size_t len,
                         const unsigned char *out, auth_err_t *err)
{
    if (key == NULL || out == NULL || (aad == NULL && aad_len > 0) || (in == NULL && len > 0)) {
        auth_set_err(err, "missing argument");
        return false;
    }
    if (len > SEAL_MAX_BYTES + AUTH_SEAL_OVERHEAD || aad_len > SEAL_MAX_AAD_BYTES) {
        auth_set_err(err, "sealed data over %d bytes or associated data over %d bytes", SEAL_MAX_BYTES, SEAL_MAX_AAD_BYTES);
        return false;
    }
    return true;
}

auth_status_t auth_seal(const unsigned char key[AUTH_SEAL_KEY_BYTES], const void *aad, size_t aad_len, const void *plain,
                        size_t len, unsigned char *out, auth_err_t *err)
{
    if (!seal_args_ok(key, aad, aad_len, plain, len, out, err))
        return AUTH_EMALFORMED;
    if (len > SEAL_MAX_BYTES) {
        auth_set_err(err, "sealed data over %d bytes", SEAL_MAX_BYTES);
        return AUTH_EMALFORMED;
    }
    if (RAND_bytes(out, SEAL_NONCE_BYTES) != 1) {
        auth_set_err(err, "no randomness for a nonce");
        return AUTH_ECRYPTO;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok = ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_BYTES, NULL) == 1 &&
              EVP_EncryptInit_ex(ctx, NULL, NULL, key, out) == 1 &&
              (aad_len == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
              (len == 0 || EVP_EncryptUpdate(ctx, out + SEAL_NONCE_BYTES, &n, plain, (int)len) == 1) &&
              EVP_EncryptFinal_ex(ctx, out + SEAL_NONCE_BYTES + (len == 0 ? 0 : n), &fin) == 1 && fin == 0 &&
              (len == 0 || (size_t)n == len) &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_BYTES, out + SEAL_NONCE_BYTES + len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, len + AUTH_SEAL_OVERHEAD);
        auth_set_err(err, "AES-256-GCM encryption failed");
        return AUTH_ECRYPTO;
    }
    return AUTH_OK;
}

auth_status_t auth_unseal(const unsigned char key[AUTH_SEAL_KEY_BYTES], const void *aad, size_t aad_len, const void *sealed,
                          size_t len, unsigned char *out, auth_err_t *err)
{
    if (!seal_args_ok(key, aad, aad_len, sealed, len, out, err))
        return AUTH_EMALFORMED;
    if (len < AUTH_SEAL_OVERHEAD) {
        auth_set_err(err, "sealed data shorter than %d bytes", AUTH_SEAL_OVERHEAD);
        return AUTH_EMALFORMED;
    }
    const unsigned char *s = sealed;
    size_t clen = len - AUTH_SEAL_OVERHEAD;
    unsigned char tag[SEAL_TAG_BYTES];
    memcpy(tag, s + SEAL_NONCE_BYTES + clen, sizeof(tag));
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool setup = ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
                 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_BYTES, NULL) == 1 &&
                 EVP_DecryptInit_ex(ctx, NULL, NULL, key, s) == 1 &&
                 (aad_len == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
                 (clen == 0 || EVP_DecryptUpdate(ctx, out, &n, s + SEAL_NONCE_BYTES, (int)clen) == 1) &&
                 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_BYTES, tag) == 1;
    /* EVP_DecryptFinal_ex is where GCM checks the tag. */
    bool tag_ok = setup && EVP_DecryptFinal_ex(ctx, out + (clen == 0 ? 0 : n), &fin) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!tag_ok) {
        OPENSSL_cleanse(out, clen);
        if (!setup) {
            auth_set_err(err, "AES-256-GCM decryption failed");
            return AUTH_ECRYPTO;
        }
        auth_set_err(err, "sealed data does not verify (wrong master key, wrong access key id, or altered data)");
        return AUTH_EBADSIG;
    }
    return AUTH_OK;
}

auth_status_t auth_access_key_generate(char id[AUTH_ACCESS_KEY_ID_LEN + 1], char secret[AUTH_SECRET_KEY_LEN + 1], auth_err_t *err)
{
    if (id == NULL || secret == NULL) {
        auth_set_err(err, "missing argument");
        return AUTH_EMALFORMED;
    }
    unsigned char r[KEY_ID_RANDOM_CHARS], s[SECRET_RANDOM_BYTES];
    if (RAND_bytes(r, sizeof(r)) != 1 || RAND_bytes(s, sizeof(s)) != 1) {
        OPENSSL_cleanse(s, sizeof(s));
        auth_set_err(err, "no randomness for an access key");
        return AUTH_ECRYPTO;
    }
    memcpy(id, KEY_ID_PREFIX, 4);
    for (size_t i = 0; i < sizeof(r); i++)
        id[4 + i] = key_id_alphabet[r[i] & 31];
    id[AUTH_ACCESS_KEY_ID_LEN] = '\0';
    int n = auth_b64_encode(s, sizeof(s), secret);
    OPENSSL_cleanse(s, sizeof(s));
    if (n != AUTH_SECRET_KEY_LEN) {
        OPENSSL_cleanse(secret, AUTH_SECRET_KEY_LEN + 1);
        auth_set_err(err, "base64 encoding failed");
        return AUTH_ECRYPTO;
    }
    return AUTH_OK;
}

/* ---- big-endian int64 -------------------------------------------------------- */

void auth_put_i64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

int64_t auth_get_i64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | p[i];
    return (int64_t)u;
}
