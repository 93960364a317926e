/*
 * auth/auth_internal.h — helpers shared by the files of auth/ and nothing
 * else: error messages and the base64 codecs (the Basic scheme, tokens and
 * access-key secrets all need one).
 */
#ifndef BERTH_AUTH_INTERNAL_H
#define BERTH_AUTH_INTERNAL_H

#include "auth/auth.h"

/* Fills err (when given) with a message. Callers never pass a secret. */
void auth_set_err(auth_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Characters base64 needs for n bytes, without the terminating NUL. */
#define AUTH_B64_LEN(n) ((((n) + 2) / 3) * 4)

/* Standard base64 with padding; writes AUTH_B64_LEN(len) characters and a NUL.
 * Returns the number of characters, or -1 when len is too large for OpenSSL. */
int auth_b64_encode(const unsigned char *in, size_t len, char *out);

/* Strict standard base64 (RFC 4648 §4, padded): only the alphabet, '=' only as
 * the final one or two characters, unused bits zero. Writes at most
 * len / 4 * 3 bytes; returns the decoded length, or -1. */
int auth_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/* base64url without padding (RFC 4648 §5), for tokens. */
int auth_b64url_encode(const unsigned char *in, size_t len, char *out, size_t cap);
/* Strict: one string per byte sequence (unused bits must be zero), so a token's
 * text cannot be varied without changing what it decodes to. */
int auth_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);

#endif
