/*
 * oci/digest.c — content digests: "<algorithm>:<encoded>" per the OCI image
 * spec (descriptor.md, "Digests"), computed with OpenSSL's EVP interface.
 */
#include "oci/oci_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

/* Raw hash sizes of the algorithms we serve. */
#define OCI_SHA256_RAW_BYTES 32
#define OCI_SHA512_RAW_BYTES 64

static const char oci_hex_digits[] = "0123456789abcdef";

oci_status_t oci_fail(oci_err_t *err, oci_status_t status, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *oci_status_name(oci_status_t s)
{
    switch (s) {
    case OCI_OK:
        return "ok";
    case OCI_EINVAL:
        return "malformed";
    case OCI_EUNSUPPORTED:
        return "unsupported";
    }
    return "unknown";
}

static void oci_digest_clear(oci_digest_t *out)
{
    out->alg = OCI_ALG_NONE;
    out->len = 0;
    out->str[0] = '\0';
}

static size_t oci_alg_raw_bytes(oci_digest_alg_t alg)
{
    switch (alg) {
    case OCI_ALG_SHA256:
        return OCI_SHA256_RAW_BYTES;
    case OCI_ALG_SHA512:
        return OCI_SHA512_RAW_BYTES;
    default:
        return 0;
    }
}

static const char *oci_alg_name(oci_digest_alg_t alg)
{
    return alg == OCI_ALG_SHA256 ? "sha256" : alg == OCI_ALG_SHA512 ? "sha512" : "";
}

static bool oci_is_lower_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool oci_is_lower_hex(unsigned char c)
{
    return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9');
}

/* encoded ::= [a-zA-Z0-9=_-]+ */
static bool oci_is_encoded_char(unsigned char c)
{
    return oci_is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '=' || c == '_' || c == '-';
}

/* algorithm ::= component (separator component)*, component ::= [a-z0-9]+,
 * separator ::= [+._-] */
static bool oci_algorithm_valid(const char *s, size_t len)
{
    if (len == 0)
        return false;
    bool after_sep = true; /* a component must start the string and follow every separator */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (oci_is_lower_alnum(c)) {
            after_sep = false;
        } else if (c == '+' || c == '.' || c == '_' || c == '-') {
            if (after_sep)
                return false;
            after_sep = true;
        } else {
            return false;
        }
    }
    return !after_sep;
}

oci_status_t oci_digest_parse(const char *s, size_t len, oci_digest_t *out, oci_err_t *err)
{
    oci_digest_t scratch;
    if (out == NULL)
        out = &scratch;
    oci_digest_clear(out);
    if (s == NULL || len == 0)
        return oci_fail(err, OCI_EINVAL, "digest is empty");

    const char *colon = memchr(s, ':', len);
    if (colon == NULL)
        return oci_fail(err, OCI_EINVAL, "digest has no ':' between algorithm and encoded part");
    size_t alg_len = (size_t)(colon - s);
    const char *enc = colon + 1;
    size_t enc_len = len - alg_len - 1;

    if (!oci_algorithm_valid(s, alg_len))
        return oci_fail(err, OCI_EINVAL, "digest algorithm is not of the form [a-z0-9]+([+._-][a-z0-9]+)*");
    if (enc_len == 0)
        return oci_fail(err, OCI_EINVAL, "digest has an empty encoded part");
    for (size_t i = 0; i < enc_len; i++) {
        if (!oci_is_encoded_char((unsigned char)enc[i]))
            return oci_fail(err, OCI_EINVAL, "digest encoded part has a character outside [a-zA-Z0-9=_-]");
    }

    oci_digest_alg_t alg;
    if (alg_len == 6 && memcmp(s, "sha256", 6) == 0)
        alg = OCI_ALG_SHA256;
    else if (alg_len == 6 && memcmp(s, "sha512", 6) == 0)
        alg = OCI_ALG_SHA512;
    else
        return oci_fail(err, OCI_EUNSUPPORTED, "digest algorithm is not supported (use sha256 or sha512)");

    size_t want = 2 * oci_alg_raw_bytes(alg);
    if (enc_len != want)
        return oci_fail(err, OCI_EINVAL, "%s digest needs %zu hex digits, got %zu", oci_alg_name(alg), want, enc_len);
    for (size_t i = 0; i < enc_len; i++) {
        /* the spec demands lowercase: two spellings of one digest would be two blobs */
        if (!oci_is_lower_hex((unsigned char)enc[i]))
            return oci_fail(err, OCI_EINVAL, "%s digest must be lowercase hex [a-f0-9]", oci_alg_name(alg));
    }

    /* len <= "sha512:" + 128 < OCI_DIGEST_MAX here */
    memcpy(out->str, s, len);
    out->str[len] = '\0';
    out->len = len;
    out->alg = alg;
    return OCI_OK;
}

void oci_digest_from_raw(oci_digest_alg_t alg, const unsigned char *raw, oci_digest_t *out)
{
    if (out == NULL)
        return;
    oci_digest_clear(out);
    size_t n = oci_alg_raw_bytes(alg);
    if (n == 0 || raw == NULL)
        return;
    const char *name = oci_alg_name(alg);
    size_t pos = strlen(name);
    memcpy(out->str, name, pos);
    out->str[pos++] = ':';
    for (size_t i = 0; i < n; i++) {
        out->str[pos++] = oci_hex_digits[raw[i] >> 4];
        out->str[pos++] = oci_hex_digits[raw[i] & 0x0f];
    }
    out->str[pos] = '\0';
    out->len = pos;
    out->alg = alg;
}

void oci_digest_compute(oci_digest_alg_t alg, const void *data, size_t len, oci_digest_t *out)
{
    if (out == NULL)
        return;
    oci_digest_clear(out);
    const EVP_MD *md = alg == OCI_ALG_SHA256 ? EVP_sha256() : alg == OCI_ALG_SHA512 ? EVP_sha512() : NULL;
    if (md == NULL || (data == NULL && len > 0))
        return;
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int raw_len = 0;
    /* an empty input may come as NULL: hand OpenSSL a real pointer all the same */
    if (EVP_Digest(len > 0 ? data : "", len, raw, &raw_len, md, NULL) != 1 || raw_len != oci_alg_raw_bytes(alg))
        return; /* out stays OCI_ALG_NONE: callers compare digests and will see a mismatch */
    oci_digest_from_raw(alg, raw, out);
}
