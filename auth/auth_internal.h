/*
 * auth/auth_internal.h — helpers shared by the files of auth/ and nothing
 * else: error messages and the identity store's record helpers.
 */
#ifndef BERTH_AUTH_INTERNAL_H
#define BERTH_AUTH_INTERNAL_H

#include "auth/auth.h"

/* Fills err (when given) with a message. Callers never pass a secret. */
void auth_set_err(auth_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the identity store: identity.c's helpers, shared with bootstrap.c ---- */

#include <jansson.h>

/* storage's key space of the identity records (drawn at the top of identity.c) */
#define IAM_SPACE "iam"
/* base64 of a sealed 40-byte secret or 32-byte key, with room to spare */
#define IAM_SEALED_B64_MAX 128
#define IAM_RECORD_KEY_MAX (AUTH_POLICY_NAME_MAX + 32)

/* Fills err (when given) and returns s. */
auth_identity_status_t iam_fail(auth_err_t *err, auth_identity_status_t s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The JSON object of record iam/<key>, or NULL with *st STORAGE_NOT_FOUND, a
 * read failure, or STORAGE_IO when it is not a JSON object (damaged). */
json_t *iam_record_json(storage_records_t *rs, const char *key, storage_status_t *st, storage_err_t *serr);
storage_status_t iam_put_json(storage_records_t *rs, const char *key, json_t *j, bool only_if_absent, storage_err_t *serr);
/* A string field of obj, or "" */
const char *iam_jstr(json_t *obj, const char *field);
storage_status_t iam_bump_generation(storage_records_t *rs, storage_err_t *serr);
/* Runs a closure as one durable transaction; see identity.c. */
auth_identity_status_t iam_run(storage_t *st, storage_records_fn fn, void *ctx, const auth_identity_status_t *refusal,
                               auth_err_t *err);
/* Seals at most 64 bytes under the master key and writes them in base64. */
bool iam_seal_b64(const unsigned char master[AUTH_SEAL_KEY_BYTES], const char *aad, const void *plain, size_t len,
                  char out[IAM_SEALED_B64_MAX + 1], auth_err_t *err);
/* Unseals base64 `b64` into out (cap bytes); returns the length or -1. */
long iam_unseal_b64(const unsigned char master[AUTH_SEAL_KEY_BYTES], const char *aad, const char *b64, unsigned char *out,
                    size_t cap, auth_err_t *err);
/* prefix + random characters of [A-Z2-7], len characters in all, NUL-terminated */
void iam_random_id(const char *prefix, char *out, size_t len);
/* seal.c: an int64 as 8 big-endian bytes (the sealed session and the
 * registry token both carry their times so), and back */
void auth_put_i64(unsigned char *p, int64_t v);
int64_t auth_get_i64(const unsigned char *p);

#endif
