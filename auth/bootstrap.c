/*
 * auth/bootstrap.c — what every start of berthd needs from the identity
 * store, created on the first: <data>/master.key, the account, the registry
 * token signing key (and its rotation), and the administrator user with
 * AdministratorAccess and one access key, whose credentials file
 * <data>/admin-credentials is written once. The records are those drawn at
 * the top of auth/identity.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_internal.h"

#define TOKEN_KEY_ID "k1"
#define TOKEN_KEY_AAD "token-key"
#define ADMIN_POLICY_DOCUMENT                                                                                                      \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"FullAccess\",\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}" \
    "]}"

/* Writes `len` bytes to path via a temp file, fsync and rename: the file is
 * either absent or whole, never half-written. Mode 0600. */
static bool write_file_atomically(const char *path, const void *data, size_t len, auth_err_t *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "cannot create %s: %s", tmp, strerror(errno));
        return false;
    }
    bool ok = fchmod(fd, 0600) == 0 && write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "cannot write %s: %s", path, strerror(ok ? errno : saved));
        unlink(tmp);
        return false;
    }
    return true;
}

static bool load_master_key(const char *data_dir, bool store_is_new, unsigned char key[AUTH_SEAL_KEY_BYTES], auth_err_t *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/master.key", data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat sb;
        ssize_t n = fstat(fd, &sb) == 0 && sb.st_size == AUTH_SEAL_KEY_BYTES ? read(fd, key, AUTH_SEAL_KEY_BYTES) : -1;
        close(fd);
        if (n != AUTH_SEAL_KEY_BYTES) {
            iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "%s must hold exactly %d bytes", path, AUTH_SEAL_KEY_BYTES);
            return false;
        }
        return true;
    }
    if (errno != ENOENT || !store_is_new) {
        iam_fail(err, AUTH_IDENTITY_STORE_ERROR,
                 "cannot read %s (%s): the store's secrets are sealed with it; restore it from a backup of the data directory",
                 path, strerror(errno));
        return false;
    }
    if (RAND_bytes(key, AUTH_SEAL_KEY_BYTES) != 1) {
        iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "OpenSSL could not generate a master key");
        return false;
    }
    return write_file_atomically(path, key, AUTH_SEAL_KEY_BYTES, err);
}

typedef struct {
    const auth_keys_t *keys;
    const char *token_key_sealed;
    const char *admin_id;
    const char *admin_key_id;
    const char *admin_key_sealed;
    int64_t now;
} init_t;

static storage_status_t do_init(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    init_t *c = ctx;
    json_t *acct = json_pack("{s:s,s:I}", "id", c->keys->account_id, "created", (json_int_t)c->now);
    json_t *tk = json_pack("{s:s,s:s}", "id", TOKEN_KEY_ID, "sealed", c->token_key_sealed);
    if (!acct || !tk) {
        json_decref(acct);
        json_decref(tk);
        return STORAGE_NOMEM;
    }
    storage_status_t s = iam_put_json(rs, "account", acct, true, serr);
    if (s == STORAGE_OK)
        s = iam_put_json(rs, "token-key", tk, true, serr);
    json_decref(acct);
    json_decref(tk);
    if (s != STORAGE_OK)
        return s;
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1], parn[AUTH_PRINCIPAL_ARN_MAX + 1];
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:user/%s", c->keys->account_id, AUTH_ADMIN_USER);
    snprintf(parn, sizeof(parn), "arn:aws:iam::%s:policy/%s", c->keys->account_id, AUTH_ADMIN_POLICY);
    json_t *user = json_pack("{s:s,s:s,s:I,s:[s],s:[s]}", "arn", arn, "id", c->admin_id, "created", (json_int_t)c->now, "policies",
                             AUTH_ADMIN_POLICY, "keys", c->admin_key_id);
    json_t *pol = json_pack("{s:s,s:I,s:I}", "arn", parn, "created", (json_int_t)c->now, "updated", (json_int_t)c->now);
    json_t *key = json_pack("{s:s,s:s,s:I,s:s}", "principal", arn, "status", "Active", "created", (json_int_t)c->now, "sealed",
                            c->admin_key_sealed);
    char kk[IAM_RECORD_KEY_MAX];
    snprintf(kk, sizeof(kk), "access-key/%s", c->admin_key_id);
    if (!user || !pol || !key)
        s = STORAGE_NOMEM;
    if (s == STORAGE_OK)
        s = iam_put_json(rs, "user/" AUTH_ADMIN_USER, user, true, serr);
    if (s == STORAGE_OK)
        s = iam_put_json(rs, "policy/" AUTH_ADMIN_POLICY, pol, true, serr);
    if (s == STORAGE_OK)
        s = storage_record_put(rs, IAM_SPACE, "policy-doc/" AUTH_ADMIN_POLICY, ADMIN_POLICY_DOCUMENT, strlen(ADMIN_POLICY_DOCUMENT),
                               true, serr);
    if (s == STORAGE_OK)
        s = iam_put_json(rs, kk, key, true, serr);
    if (s == STORAGE_OK)
        s = storage_record_put(rs, IAM_SPACE, "admin-credentials", "pending", 7, true, serr);
    if (s == STORAGE_OK)
        s = iam_bump_generation(rs, serr);
    json_decref(user);
    json_decref(pol);
    json_decref(key);
    return s;
}

typedef struct {
    const char *id;
    const char *sealed;
} rotate_t;

static storage_status_t do_rotate(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    rotate_t *c = ctx;
    json_t *tk = json_pack("{s:s,s:s}", "id", c->id, "sealed", c->sealed);
    if (!tk)
        return STORAGE_NOMEM;
    storage_status_t s = iam_put_json(rs, "token-key", tk, false, serr);
    json_decref(tk);
    return s == STORAGE_OK ? iam_bump_generation(rs, serr) : s;
}

auth_identity_status_t auth_token_key_rotate(storage_t *st, auth_keys_t *keys, auth_err_t *err)
{
    /* ids count up ("k1", "k2", ...), so a token names the key generation it came from */
    unsigned long n = strtoul(keys->token_key.id[0] == 'k' ? keys->token_key.id + 1 : "0", NULL, 10);
    char id[AUTH_TOKEN_KEY_ID_MAX + 1], sealed[IAM_SEALED_B64_MAX + 1];
    snprintf(id, sizeof(id), "k%lu", n + 1);
    auth_token_key_t fresh;
    if (auth_token_key_generate(id, &fresh, err) != AUTH_OK ||
        !iam_seal_b64(keys->master_key, TOKEN_KEY_AAD, fresh.secret, AUTH_TOKEN_KEY_BYTES, sealed, err)) {
        OPENSSL_cleanse(&fresh, sizeof(fresh));
        return AUTH_IDENTITY_STORE_ERROR;
    }
    rotate_t c = {.id = id, .sealed = sealed};
    auth_identity_status_t r = iam_run(st, do_rotate, &c, NULL, err);
    if (r == AUTH_IDENTITY_OK)
        keys->token_key = fresh;
    OPENSSL_cleanse(&fresh, sizeof(fresh));
    return r;
}

static storage_status_t do_mark_written(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    (void)ctx;
    return storage_record_put(rs, IAM_SPACE, "admin-credentials", "written", 7, false, serr);
}

/* The admin key id from the admin user's record (its first key). */
static bool admin_key_id(storage_records_t *rs, char id[AUTH_ACCESS_KEY_ID_LEN + 1])
{
    storage_err_t serr;
    storage_status_t s;
    json_t *u = iam_record_json(rs, "user/" AUTH_ADMIN_USER, &s, &serr);
    const char *k = u ? json_string_value(json_array_get(json_object_get(u, "keys"), 0)) : NULL;
    bool ok = k && strlen(k) == AUTH_ACCESS_KEY_ID_LEN;
    if (ok)
        memcpy(id, k, AUTH_ACCESS_KEY_ID_LEN + 1);
    json_decref(u);
    return ok;
}

auth_identity_status_t auth_bootstrap(storage_t *st, const char *data_dir, auth_keys_t *keys, bool *created_admin, auth_err_t *err)
{
    *created_admin = false;
    memset(keys, 0, sizeof(*keys));
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    if (!rd)
        return iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "cannot read the store");
    const void *v;
    size_t n;
    bool is_new = storage_record_get(storage_reader_records(rd), IAM_SPACE, "account", &v, &n, NULL) == STORAGE_NOT_FOUND;
    storage_reader_end(rd);
    if (!load_master_key(data_dir, is_new, keys->master_key, err))
        return AUTH_IDENTITY_STORE_ERROR;

    auth_identity_status_t r = AUTH_IDENTITY_OK;
    if (is_new) {
        /* randomness first: the closure itself must be deterministic */
        unsigned char digits[AUTH_ACCOUNT_ID_LEN];
        RAND_bytes(digits, sizeof(digits));
        for (size_t i = 0; i < AUTH_ACCOUNT_ID_LEN; i++)
            keys->account_id[i] = (char)('0' + (i == 0 ? 1 + digits[i] % 9 : digits[i] % 10));
        auth_token_key_t tk;
        char tk_sealed[IAM_SEALED_B64_MAX + 1], admin_id[24], key_id[AUTH_ACCESS_KEY_ID_LEN + 1], secret[AUTH_SECRET_KEY_LEN + 1],
            key_sealed[IAM_SEALED_B64_MAX + 1];
        iam_random_id("AIDA", admin_id, 21);
        if (auth_token_key_generate(TOKEN_KEY_ID, &tk, err) != AUTH_OK ||
            !iam_seal_b64(keys->master_key, TOKEN_KEY_AAD, tk.secret, AUTH_TOKEN_KEY_BYTES, tk_sealed, err) ||
            auth_access_key_generate(key_id, secret, err) != AUTH_OK ||
            !iam_seal_b64(keys->master_key, key_id, secret, AUTH_SECRET_KEY_LEN, key_sealed, err))
            r = AUTH_IDENTITY_STORE_ERROR;
        OPENSSL_cleanse(&tk, sizeof(tk));
        OPENSSL_cleanse(secret, sizeof(secret));
        init_t c = {.keys = keys,
                    .token_key_sealed = tk_sealed,
                    .admin_id = admin_id,
                    .admin_key_id = key_id,
                    .admin_key_sealed = key_sealed,
                    .now = (int64_t)time(NULL)};
        if (r == AUTH_IDENTITY_OK)
            r = iam_run(st, do_init, &c, NULL, err);
        if (r != AUTH_IDENTITY_OK)
            return r;
    }

    /* load what every request needs */
    rd = storage_reader_begin(st, NULL);
    if (!rd)
        return iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "cannot read the store");
    storage_records_t *rs = storage_reader_records(rd);
    storage_err_t serr;
    storage_status_t s;
    json_t *acct = iam_record_json(rs, "account", &s, &serr), *tk = iam_record_json(rs, "token-key", &s, &serr);
    bool pending = storage_record_get(rs, IAM_SPACE, "admin-credentials", &v, &n, NULL) == STORAGE_OK && n == 7 &&
                   memcmp(v, "pending", 7) == 0;
    if (!acct || !tk || strlen(iam_jstr(acct, "id")) != AUTH_ACCOUNT_ID_LEN) {
        r = iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "the store's account records are missing or damaged");
    } else {
        snprintf(keys->account_id, sizeof(keys->account_id), "%s", iam_jstr(acct, "id"));
        snprintf(keys->token_key.id, sizeof(keys->token_key.id), "%s", iam_jstr(tk, "id"));
        if (iam_unseal_b64(keys->master_key, TOKEN_KEY_AAD, iam_jstr(tk, "sealed"), keys->token_key.secret, AUTH_TOKEN_KEY_BYTES,
                           err) != AUTH_TOKEN_KEY_BYTES)
            r = iam_fail(err, AUTH_IDENTITY_STORE_ERROR,
                         "the token key cannot be unsealed: %s/master.key is not the key of this store", data_dir);
    }
    json_decref(acct);
    json_decref(tk);

    /* First start, or a crash before the credentials file was written: write
     * it from the sealed secret, then remember that it was written (so a file
     * the administrator deleted on purpose stays deleted). */
    char key_id[AUTH_ACCESS_KEY_ID_LEN + 1], secret[AUTH_SECRET_KEY_LEN + 1];
    auth_principal_t admin;
    if (r == AUTH_IDENTITY_OK && pending) {
        if (!admin_key_id(rs, key_id))
            r = iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "the administrator's access key is missing");
        else
            r = auth_access_key_get(rs, keys, key_id, &admin, secret, err);
    }
    storage_reader_end(rd);
    if (r != AUTH_IDENTITY_OK || !pending)
        return r;
    char path[4096], text[256];
    snprintf(path, sizeof(path), "%s/admin-credentials", data_dir);
    int len = snprintf(text, sizeof(text), "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", key_id, secret);
    bool ok = write_file_atomically(path, text, (size_t)len, err);
    OPENSSL_cleanse(text, sizeof(text));
    OPENSSL_cleanse(secret, sizeof(secret));
    if (!ok)
        return AUTH_IDENTITY_STORE_ERROR;
    *created_admin = true;
    return iam_run(st, do_mark_written, NULL, NULL, err);
}
