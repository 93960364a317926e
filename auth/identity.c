/*
 * auth/identity.c — the account, users, roles, access keys and policies, kept
 * as records in storage's "iam" key space:
 *
 *   account               {"id": "123456789012", "created": <unix s>}
 *   token-key             {"id": "k1", "sealed": b64}     registry token signing key, sealed
 *   user/<name>           {"arn", "id", "created", "policies": [names], "keys": [ids]}
 *   role/<name>           the same, for roles
 *   access-key/<id>       {"principal": arn, "status": "Active", "created", "sealed": b64}
 *   policy/<name>         {"arn", "created", "updated"}
 *   policy-doc/<name>     the policy document as put: its own record, so that a
 *                         read hands it out from the snapshot without copying
 *   repo-policy/<repo>    the repository policy document as set
 *   admin-credentials     "pending" until <data>/admin-credentials is written, then "written"
 *   generation            u64, little-endian: bumped by every change, so caches
 *                         of parsed policies know when to reload
 *
 * User, role and policy names are unique whatever their case, as IAM's are
 * ("Names are not distinguished by case", IAM API reference, CreateUser and
 * CreatePolicy): creating ALICE beside alice is refused, and a lookup by name
 * finds the record whatever the case asked for. Keys keep the case the name
 * was created with; a lookup tries that exact key first, so records written
 * before names were compared this way (ALICE and alice both, perhaps) each
 * stay reachable by their own spelling.
 *
 * Secrets (access-key secrets, the token key) are sealed with the master key
 * in <data>/master.key, so a copy of the database alone does not give them
 * away. Every change is a closure run by storage's writer: atomic, durable
 * when it returns, and free of I/O and randomness (both happen before), so a
 * future backend may run it twice.
 *
 * The records every start needs (master key, account, token key, the first
 * administrator) are created by auth/bootstrap.c.
 */
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/auth_internal.h"
#include "policies/policies.h"

auth_identity_status_t iam_fail(auth_err_t *err, auth_identity_status_t s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return s;
}

static auth_identity_status_t from_storage(storage_status_t s, const storage_err_t *serr, auth_err_t *err)
{
    switch (s) {
    case STORAGE_OK:
        return AUTH_IDENTITY_OK;
    case STORAGE_NOT_FOUND:
        return iam_fail(err, AUTH_IDENTITY_NOT_FOUND, "%s", serr->msg);
    case STORAGE_EXISTS:
        return iam_fail(err, AUTH_IDENTITY_EXISTS, "%s", serr->msg);
    default:
        return iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "the store failed: %s", serr->msg);
    }
}

/* ---- names and ARNs ---------------------------------------------------------- */

static bool iam_name_valid(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("+=,.@_-", c)))
            return false;
    }
    return true;
}

/* "arn:aws:iam::<account>:user/<name>" → record key "user/<name>"; false if not ours. */
static bool principal_key(const char *account, const char *arn, char *key, size_t cap)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "arn:aws:iam::%s:", account);
    size_t pl = strlen(prefix);
    if (strncmp(arn, prefix, pl) != 0)
        return false;
    const char *rest = arn + pl;
    const char *name = NULL;
    if (strncmp(rest, "user/", 5) == 0)
        name = rest + 5;
    else if (strncmp(rest, "role/", 5) == 0)
        name = rest + 5;
    if (!name || !iam_name_valid(name, AUTH_NAME_MAX))
        return false;
    return (size_t)snprintf(key, cap, "%s", rest) < cap;
}

/* ---- small record helpers ------------------------------------------------------ */

json_t *iam_record_json(storage_records_t *rs, const char *key, storage_status_t *st, storage_err_t *serr)
{
    const void *v;
    size_t n;
    *st = storage_record_get(rs, IAM_SPACE, key, &v, &n, serr);
    if (*st != STORAGE_OK)
        return NULL;
    json_t *j = json_loadb(v, n, 0, NULL);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        *st = STORAGE_IO;
        /* a key may be longer than the message: its first 200 bytes name it */
        snprintf(serr->msg, sizeof(serr->msg), "the record iam/%.200s is damaged", key);
        return NULL;
    }
    return j;
}

storage_status_t iam_put_json(storage_records_t *rs, const char *key, json_t *j, bool only_if_absent, storage_err_t *serr)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        snprintf(serr->msg, sizeof(serr->msg), "out of memory");
        return STORAGE_NOMEM;
    }
    storage_status_t s = storage_record_put(rs, IAM_SPACE, key, text, strlen(text), only_if_absent, serr);
    free(text);
    return s;
}

const char *iam_jstr(json_t *obj, const char *field)
{
    const char *s = json_string_value(json_object_get(obj, field));
    return s ? s : "";
}

typedef struct {
    size_t prefix_len;
    const char *name;
    size_t name_len;
    char *out;
    size_t cap;
    bool found;
} name_scan_t;

static bool name_scan(void *ctx, const char *key, size_t key_len, const void *val, size_t len)
{
    (void)val, (void)len;
    name_scan_t *c = ctx;
    if (key_len != c->prefix_len + c->name_len || strncasecmp(key + c->prefix_len, c->name, c->name_len) != 0)
        return true;
    c->found = key_len < c->cap;
    if (c->found)
        snprintf(c->out, c->cap, "%.*s", (int)key_len, key);
    return false;
}

/* The key of the record "<prefix><name>" whose name is `name` ignoring ASCII
 * case (IAM's names are unique that way): the exact key when it exists, else
 * the first match of a scan of the prefix. STORAGE_NOT_FOUND when there is
 * none. Writes the key into out (cap bytes). */
static storage_status_t find_name(storage_records_t *rs, const char *prefix, const char *name, char *out, size_t cap,
                                  storage_err_t *serr)
{
    const void *v;
    size_t n;
    if ((size_t)snprintf(out, cap, "%s%s", prefix, name) >= cap)
        return STORAGE_NOT_FOUND;
    storage_status_t s = storage_record_get(rs, IAM_SPACE, out, &v, &n, serr);
    if (s != STORAGE_NOT_FOUND)
        return s;
    name_scan_t c = {.prefix_len = strlen(prefix), .name = name, .name_len = strlen(name), .out = out, .cap = cap};
    s = storage_record_scan(rs, IAM_SPACE, prefix, name_scan, &c, serr);
    if (s != STORAGE_OK)
        return s;
    if (!c.found) {
        snprintf(serr->msg, sizeof(serr->msg), "no %.20s%.128s", prefix, name);
        return STORAGE_NOT_FOUND;
    }
    return STORAGE_OK;
}

storage_status_t iam_bump_generation(storage_records_t *rs, storage_err_t *serr)
{
    uint64_t g = auth_generation(rs) + 1;
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(g >> (8 * i));
    return storage_record_put(rs, IAM_SPACE, "generation", b, sizeof(b), false, serr);
}

uint64_t auth_generation(storage_records_t *rs)
{
    const void *v;
    size_t n;
    if (storage_record_get(rs, IAM_SPACE, "generation", &v, &n, NULL) != STORAGE_OK || n != 8)
        return 0;
    uint64_t g = 0;
    for (int i = 7; i >= 0; i--)
        g = (g << 8) | ((const unsigned char *)v)[i];
    return g;
}

/* Runs a closure as one durable transaction. A closure refuses a change
 * that IAM would refuse (a conflict, a limit) by setting *refusal and
 * returning STORAGE_INVALID with the reason in its error. */
auth_identity_status_t iam_run(storage_t *st, storage_records_fn fn, void *ctx, const auth_identity_status_t *refusal,
                               auth_err_t *err)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_RECORDS);
    op.records_fn = fn;
    op.records_ctx = ctx;
    storage_status_t s = storage_execute(st, &op);
    if (s == STORAGE_INVALID && refusal && *refusal != AUTH_IDENTITY_OK)
        return iam_fail(err, *refusal, "%s", op.err.msg);
    return s == STORAGE_OK ? AUTH_IDENTITY_OK : from_storage(s, &op.err, err);
}

/* ---- sealing to and from base64 ------------------------------------------------- */

bool iam_seal_b64(const unsigned char master[AUTH_SEAL_KEY_BYTES], const char *aad, const void *plain, size_t len,
                  char out[IAM_SEALED_B64_MAX + 1], auth_err_t *err)
{
    unsigned char sealed[64 + AUTH_SEAL_OVERHEAD];
    if (len > 64 || auth_seal(master, aad, strlen(aad), plain, len, sealed, err) != AUTH_OK)
        return false;
    auth_b64_encode(sealed, len + AUTH_SEAL_OVERHEAD, out);
    return true;
}

/* Unseals base64 `b64` into out (cap bytes); returns the length or -1. */
long iam_unseal_b64(const unsigned char master[AUTH_SEAL_KEY_BYTES], const char *aad, const char *b64, unsigned char *out,
                    size_t cap, auth_err_t *err)
{
    unsigned char raw[IAM_SEALED_B64_MAX];
    int got = auth_b64_decode(b64, strlen(b64), raw, sizeof(raw));
    if (got <= AUTH_SEAL_OVERHEAD || (size_t)got - AUTH_SEAL_OVERHEAD > cap)
        return -1;
    size_t len = (size_t)got;
    if (auth_unseal(master, aad, strlen(aad), raw, len, out, err) != AUTH_OK)
        return -1;
    return (long)(len - AUTH_SEAL_OVERHEAD);
}

/* ---- reads ------------------------------------------------------------------------ */

/* A principal's record ("user/<name>" or "role/<name>" → JSON) into *out. */
static void principal_from_json(json_t *j, const char *key, size_t key_len, auth_principal_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *slash = memchr(key, '/', key_len);
    snprintf(out->arn, sizeof(out->arn), "%s", iam_jstr(j, "arn"));
    if (slash)
        snprintf(out->name, sizeof(out->name), "%.*s", (int)(key_len - (size_t)(slash + 1 - key)), slash + 1);
    snprintf(out->id, sizeof(out->id), "%s", iam_jstr(j, "id"));
    out->is_role = key_len > 5 && strncmp(key, "role/", 5) == 0;
    out->created = (int64_t)json_integer_value(json_object_get(j, "created"));
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(j, "policies"), i, p)
    {
        if (out->n_policies < AUTH_MAX_ATTACHED_POLICIES && json_is_string(p))
            snprintf(out->policies[out->n_policies++], AUTH_POLICY_NAME_MAX + 1, "%s", json_string_value(p));
    }
    json_array_foreach(json_object_get(j, "keys"), i, p)
    {
        if (out->n_keys < AUTH_MAX_ACCESS_KEYS && json_is_string(p))
            snprintf(out->keys[out->n_keys++], AUTH_ACCESS_KEY_ID_LEN + 1, "%s", json_string_value(p));
    }
}

void auth_principal_arn(const auth_keys_t *keys, const char *name, bool role, char out[AUTH_PRINCIPAL_ARN_MAX + 1])
{
    snprintf(out, AUTH_PRINCIPAL_ARN_MAX + 1, "arn:aws:iam::%s:%s/%s", keys->account_id, role ? "role" : "user", name);
}

static void policy_info_from_json(json_t *j, const char *name, size_t name_len, auth_policy_info_t *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%.*s", (int)name_len, name);
    snprintf(out->arn, sizeof(out->arn), "%s", iam_jstr(j, "arn"));
    out->created = (int64_t)json_integer_value(json_object_get(j, "created"));
    out->updated = (int64_t)json_integer_value(json_object_get(j, "updated"));
}

/* A listing of principals (principal_cb) or managed policies (policy_cb):
 * the adapter storage_record_scan calls for each record. A damaged record is
 * skipped, not fatal to the listing. */
typedef struct {
    auth_principal_cb principal_cb;
    auth_policy_cb policy_cb;
    void *ctx;
} listing_t;

static bool listing_scan(void *ctx, const char *key, size_t key_len, const void *val, size_t len)
{
    listing_t *c = ctx;
    json_t *j = json_loadb(val, len, 0, NULL);
    if (!j)
        return true;
    bool more;
    if (c->principal_cb) {
        auth_principal_t p;
        principal_from_json(j, key, key_len, &p);
        more = c->principal_cb(c->ctx, &p);
    } else {
        auth_policy_info_t p;
        policy_info_from_json(j, key + 7, key_len - 7, &p); /* after "policy/" */
        more = c->policy_cb(c->ctx, &p);
    }
    json_decref(j);
    return more;
}

auth_identity_status_t auth_principals_list(storage_records_t *rs, bool roles, auth_principal_cb cb, void *ctx, auth_err_t *err)
{
    listing_t c = {.principal_cb = cb, .ctx = ctx};
    storage_err_t serr;
    storage_status_t s = storage_record_scan(rs, IAM_SPACE, roles ? "role/" : "user/", listing_scan, &c, &serr);
    return from_storage(s, &serr, err);
}

auth_identity_status_t auth_access_key_info(storage_records_t *rs, const char *access_key_id, auth_access_key_info_t *out,
                                            auth_err_t *err)
{
    char key[IAM_RECORD_KEY_MAX];
    snprintf(key, sizeof(key), "access-key/%s", access_key_id);
    storage_err_t serr;
    storage_status_t s;
    json_t *j = iam_record_json(rs, key, &s, &serr);
    if (!j)
        return from_storage(s, &serr, err);
    snprintf(out->id, sizeof(out->id), "%s", access_key_id);
    out->active = strcmp(iam_jstr(j, "status"), "Active") == 0;
    out->created = (int64_t)json_integer_value(json_object_get(j, "created"));
    json_decref(j);
    return AUTH_IDENTITY_OK;
}

auth_identity_status_t auth_policy_info(storage_records_t *rs, const char *name, auth_policy_info_t *out, auth_err_t *err)
{
    char key[IAM_RECORD_KEY_MAX];
    storage_err_t serr;
    storage_status_t s = find_name(rs, "policy/", name, key, sizeof(key), &serr);
    json_t *j = s == STORAGE_OK ? iam_record_json(rs, key, &s, &serr) : NULL;
    if (!j)
        return from_storage(s, &serr, err);
    policy_info_from_json(j, key + 7, strlen(key + 7), out); /* the name as created */
    json_decref(j);
    return AUTH_IDENTITY_OK;
}

auth_identity_status_t auth_policies_list(storage_records_t *rs, auth_policy_cb cb, void *ctx, auth_err_t *err)
{
    listing_t c = {.policy_cb = cb, .ctx = ctx};
    storage_err_t serr;
    storage_status_t s = storage_record_scan(rs, IAM_SPACE, "policy/", listing_scan, &c, &serr);
    return from_storage(s, &serr, err);
}

/* any_case: a name a client typed, found whatever its case (a scan of the
 * names when the exact key misses); else an ARN the server wrote itself,
 * exact, so a request carrying a deleted principal's token costs one lookup,
 * not a scan of every user. */
static auth_identity_status_t principal_get(storage_records_t *rs, const char *arn, bool any_case, auth_principal_t *out,
                                            auth_err_t *err)
{
    storage_err_t serr;
    storage_status_t s;
    json_t *acct = iam_record_json(rs, "account", &s, &serr);
    if (!acct)
        return iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "%s", s == STORAGE_NOT_FOUND ? "the account is not set up" : serr.msg);
    char account[AUTH_ACCOUNT_ID_LEN + 1];
    snprintf(account, sizeof(account), "%s", iam_jstr(acct, "id"));
    json_decref(acct);
    char key[IAM_RECORD_KEY_MAX], found[IAM_RECORD_KEY_MAX];
    if (!principal_key(account, arn, key, sizeof(key)))
        return iam_fail(err, AUTH_IDENTITY_NOT_FOUND, "%.200s is not a user or role of account %s", arn, account);
    const char *prefix = strncmp(key, "role/", 5) == 0 ? "role/" : "user/"; /* principal_key wrote one of them */
    const char *rec = key;
    s = STORAGE_OK;
    if (any_case) {
        s = find_name(rs, prefix, key + 5, found, sizeof(found), &serr);
        rec = found;
    }
    json_t *j = s == STORAGE_OK ? iam_record_json(rs, rec, &s, &serr) : NULL;
    if (!j)
        return from_storage(s, &serr, err);
    principal_from_json(j, rec, strlen(rec), out);
    json_decref(j);
    return AUTH_IDENTITY_OK;
}

auth_identity_status_t auth_principal_get(storage_records_t *rs, const char *arn, auth_principal_t *out, auth_err_t *err)
{
    return principal_get(rs, arn, true, out, err);
}

auth_identity_status_t auth_principal_get_stored(storage_records_t *rs, const char *arn, auth_principal_t *out, auth_err_t *err)
{
    return principal_get(rs, arn, false, out, err);
}

auth_identity_status_t auth_policy_get(storage_records_t *rs, const char *name, const char **doc, size_t *len, auth_err_t *err)
{
    char key[IAM_RECORD_KEY_MAX];
    storage_err_t serr;
    storage_status_t s = find_name(rs, "policy/", name, key, sizeof(key), &serr);
    if (s != STORAGE_OK)
        return from_storage(s, &serr, err);
    /* The document is stored as its own record so that it can be handed out
     * without copying; the JSON record carries its metadata. */
    char canonical[AUTH_POLICY_NAME_MAX + 1];
    snprintf(canonical, sizeof(canonical), "%.*s", AUTH_POLICY_NAME_MAX, key + 7);
    snprintf(key, sizeof(key), "policy-doc/%s", canonical);
    const void *v;
    s = storage_record_get(rs, IAM_SPACE, key, &v, len, &serr);
    if (s != STORAGE_OK)
        return from_storage(s, &serr, err);
    *doc = v;
    return AUTH_IDENTITY_OK;
}

auth_identity_status_t auth_repository_policy_get(storage_records_t *rs, const char *repo, const char **doc, size_t *len,
                                                  auth_err_t *err)
{
    char key[IAM_RECORD_KEY_MAX + OCI_NAME_MAX];
    snprintf(key, sizeof(key), "repo-policy/%s", repo);
    storage_err_t serr;
    const void *v;
    storage_status_t s = storage_record_get(rs, IAM_SPACE, key, &v, len, &serr);
    if (s != STORAGE_OK)
        return from_storage(s, &serr, err);
    *doc = v;
    return AUTH_IDENTITY_OK;
}

auth_identity_status_t auth_access_key_get(storage_records_t *rs, const auth_keys_t *keys, const char *access_key_id,
                                           auth_principal_t *principal, char secret[AUTH_SECRET_KEY_LEN + 1], auth_err_t *err)
{
    char key[IAM_RECORD_KEY_MAX];
    if (strlen(access_key_id) != AUTH_ACCESS_KEY_ID_LEN || !iam_name_valid(access_key_id, AUTH_ACCESS_KEY_ID_LEN))
        return iam_fail(err, AUTH_IDENTITY_NOT_FOUND, "the access key id is not valid");
    snprintf(key, sizeof(key), "access-key/%s", access_key_id);
    storage_err_t serr;
    storage_status_t s;
    json_t *j = iam_record_json(rs, key, &s, &serr);
    if (!j)
        return s == STORAGE_NOT_FOUND ? iam_fail(err, AUTH_IDENTITY_NOT_FOUND, "the access key %s does not exist", access_key_id)
                                      : from_storage(s, &serr, err);
    auth_identity_status_t r = AUTH_IDENTITY_OK;
    unsigned char plain[AUTH_SECRET_KEY_LEN];
    if (strcmp(iam_jstr(j, "status"), "Active") != 0) {
        r = iam_fail(err, AUTH_IDENTITY_NOT_FOUND, "the access key %s is inactive", access_key_id);
    } else if (iam_unseal_b64(keys->master_key, access_key_id, iam_jstr(j, "sealed"), plain, sizeof(plain), err) !=
               AUTH_SECRET_KEY_LEN) {
        r = iam_fail(err, AUTH_IDENTITY_STORE_ERROR,
                     "the secret of access key %s cannot be unsealed (is master.key the right one?)", access_key_id);
    } else {
        memcpy(secret, plain, AUTH_SECRET_KEY_LEN);
        secret[AUTH_SECRET_KEY_LEN] = '\0';
        r = auth_principal_get_stored(rs, iam_jstr(j, "principal"), principal, err);
    }
    OPENSSL_cleanse(plain, sizeof(plain));
    json_decref(j);
    return r;
}

/* ---- changes ----------------------------------------------------------------------- */

/* A prepared change: its inputs (copied), its closure, its outputs. The
 * closure does no I/O and draws no randomness (both happen when the change is
 * made), so a future backend may run it twice. */
struct auth_change {
    storage_records_fn fn;
    auth_identity_status_t refusal; /* set by a closure that refuses as IAM would */
    char name[AUTH_POLICY_NAME_MAX + 1];
    char key[IAM_RECORD_KEY_MAX + OCI_NAME_MAX]; /* the record the change is about */
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    char id[24]; /* a new user's id, or an access key's */
    bool role, attach, create_only;
    int64_t now;
    char sealed[IAM_SEALED_B64_MAX + 1];
    char *doc; /* a policy document (owned), or NULL */
    size_t len;
    size_t attached;
    char damaged[IAM_RECORD_KEY_MAX]; /* a record a scan could not read, or "" */
    auth_principal_t principal;
    char secret[AUTH_SECRET_KEY_LEN + 1];
    int64_t max_session; /* a new role's MaxSessionDuration */
};

void iam_random_id(const char *prefix, char *out, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char r[32];
    size_t pl = strlen(prefix);
    RAND_bytes(r, sizeof(r));
    memcpy(out, prefix, pl);
    for (size_t i = pl; i < len; i++)
        out[i] = alphabet[r[i % sizeof(r)] & 31];
    out[len] = '\0';
}

static auth_change_t *change_new(storage_records_fn fn, auth_identity_status_t *status, auth_err_t *err)
{
    auth_change_t *c = calloc(1, sizeof(*c));
    if (!c) {
        *status = iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "out of memory");
        return NULL;
    }
    c->fn = fn;
    c->now = (int64_t)time(NULL);
    return c;
}

/* Refuses to make a change: NULL with the status and the reason. */
static auth_change_t *refuse(auth_change_t *c, auth_identity_status_t *status, auth_identity_status_t s, auth_err_t *err,
                             const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static auth_change_t *refuse(auth_change_t *c, auth_identity_status_t *status, auth_identity_status_t s, auth_err_t *err,
                             const char *fmt, ...)
{
    if (err && fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    *status = s;
    auth_change_free(c);
    return NULL;
}

void auth_change_bind(auth_change_t *c, storage_op_t *op)
{
    op->records_fn = c->fn;
    op->records_ctx = c;
}

auth_identity_status_t auth_change_finish(auth_change_t *c, const storage_op_t *op, auth_err_t *err)
{
    auth_identity_status_t r;
    if (op->status == STORAGE_INVALID && c->refusal != AUTH_IDENTITY_OK)
        r = iam_fail(err, c->refusal, "%s", op->err.msg);
    else
        r = op->status == STORAGE_OK ? AUTH_IDENTITY_OK : from_storage(op->status, &op->err, err);
    if (r != AUTH_IDENTITY_OK) /* a key that was not stored is never handed out */
        OPENSSL_cleanse(c->secret, sizeof(c->secret));
    return r;
}

void auth_change_free(auth_change_t *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c->secret, sizeof(c->secret));
    OPENSSL_cleanse(c->sealed, sizeof(c->sealed));
    free(c->doc);
    free(c);
}

const auth_principal_t *auth_change_principal(const auth_change_t *c)
{
    return &c->principal;
}

const char *auth_change_access_key_id(const auth_change_t *c)
{
    return c->id;
}

const char *auth_change_secret(const auth_change_t *c)
{
    return c->secret;
}

auth_identity_status_t auth_change_run(storage_t *st, auth_change_t *c, auth_err_t *err)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_RECORDS);
    auth_change_bind(c, &op);
    storage_execute(st, &op);
    return auth_change_finish(c, &op, err);
}

static storage_status_t do_user_create(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    auth_change_t *c = ctx;
    char existing[IAM_RECORD_KEY_MAX];
    storage_status_t found = find_name(rs, c->role ? "role/" : "user/", c->name, existing, sizeof(existing), serr);
    if (found == STORAGE_OK) {
        snprintf(serr->msg, sizeof(serr->msg), "the %s %s already exists (IAM names are unique whatever their case)",
                 c->role ? "role" : "user", existing + 5);
        return STORAGE_EXISTS;
    }
    if (found != STORAGE_NOT_FOUND)
        return found;
    json_t *j = json_pack("{s:s,s:s,s:I,s:[],s:[]}", "arn", c->arn, "id", c->id, "created", (json_int_t)c->now, "policies", "keys");
    if (!j)
        return STORAGE_NOMEM;
    /* a role's trust policy and MaxSessionDuration live in its record: AssumeRole reads them with the role */
    if (c->doc && (json_object_set_new(j, "trust", json_stringn(c->doc, c->len)) != 0 ||
                   json_object_set_new(j, "max_session", json_integer(c->max_session)) != 0)) {
        json_decref(j);
        return STORAGE_NOMEM;
    }
    storage_status_t s = iam_put_json(rs, c->key, j, true, serr);
    json_decref(j);
    if (s == STORAGE_EXISTS)
        snprintf(serr->msg, sizeof(serr->msg), "the %s %s already exists", c->role ? "role" : "user", c->name);
    return s == STORAGE_OK ? iam_bump_generation(rs, serr) : s;
}

auth_change_t *auth_change_user_create(const auth_keys_t *keys, const char *name, bool role, auth_identity_status_t *status,
                                       auth_err_t *err)
{
    auth_change_t *c = change_new(do_user_create, status, err);
    if (!c)
        return NULL;
    if (!iam_name_valid(name, AUTH_NAME_MAX))
        return refuse(c, status, AUTH_IDENTITY_INVALID, err, "a %s name is 1 to %d characters of A-Z a-z 0-9 and +=,.@_-",
                      role ? "role" : "user", AUTH_NAME_MAX);
    c->role = role;
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->key, sizeof(c->key), "%s/%s", role ? "role" : "user", name);
    auth_principal_arn(keys, name, role, c->arn);
    iam_random_id(role ? "AROA" : "AIDA", c->id, 21);
    auth_principal_t *p = &c->principal;
    snprintf(p->arn, sizeof(p->arn), "%s", c->arn);
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->id, sizeof(p->id), "%s", c->id);
    p->is_role = role;
    p->created = c->now;
    return c;
}

static storage_status_t do_user_delete(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    auth_change_t *c = ctx;
    char key[IAM_RECORD_KEY_MAX];
    storage_status_t s = find_name(rs, c->role ? "role/" : "user/", c->name, key, sizeof(key), serr);
    json_t *j = s == STORAGE_OK ? iam_record_json(rs, key, &s, serr) : NULL;
    if (!j)
        return s;
    size_t keys = json_array_size(json_object_get(j, "keys")), policies = json_array_size(json_object_get(j, "policies"));
    json_decref(j);
    if (keys || policies) {
        c->refusal = AUTH_IDENTITY_CONFLICT;
        snprintf(serr->msg, sizeof(serr->msg), "%.120s still has %zu access keys and %zu attached policies: remove them first", key,
                 keys, policies);
        return STORAGE_INVALID;
    }
    s = storage_record_del(rs, IAM_SPACE, key, serr);
    return s == STORAGE_OK ? iam_bump_generation(rs, serr) : s;
}

auth_change_t *auth_change_user_delete(const char *name, bool role, auth_identity_status_t *status, auth_err_t *err)
{
    auth_change_t *c = change_new(do_user_delete, status, err);
    if (!c)
        return NULL;
    if (!iam_name_valid(name, AUTH_NAME_MAX))
        return refuse(c, status, AUTH_IDENTITY_INVALID, err, "%.80s is not a valid name", name);
    c->role = role;
    snprintf(c->name, sizeof(c->name), "%s", name);
    return c;
}

static storage_status_t do_key_create(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    auth_change_t *c = ctx;
    storage_status_t s;
    json_t *p = iam_record_json(rs, c->key, &s, serr);
    if (!p)
        return s;
    json_t *list = json_object_get(p, "keys");
    if (!json_is_array(list) || json_array_size(list) >= AUTH_MAX_ACCESS_KEYS) {
        json_decref(p);
        c->refusal = AUTH_IDENTITY_LIMIT;
        snprintf(serr->msg, sizeof(serr->msg), "%.150s already has %d access keys, the most it may have", c->arn,
                 AUTH_MAX_ACCESS_KEYS);
        return STORAGE_INVALID;
    }
    json_array_append_new(list, json_string(c->id));
    s = iam_put_json(rs, c->key, p, false, serr);
    json_decref(p);
    if (s != STORAGE_OK)
        return s;
    char key[IAM_RECORD_KEY_MAX];
    snprintf(key, sizeof(key), "access-key/%s", c->id);
    json_t *k =
        json_pack("{s:s,s:s,s:I,s:s}", "principal", c->arn, "status", "Active", "created", (json_int_t)c->now, "sealed", c->sealed);
    if (!k)
        return STORAGE_NOMEM;
    s = iam_put_json(rs, key, k, true, serr);
    json_decref(k);
    return s == STORAGE_OK ? iam_bump_generation(rs, serr) : s;
}

auth_change_t *auth_change_access_key_create(const auth_keys_t *keys, const char *principal_arn, auth_identity_status_t *status,
                                             auth_err_t *err)
{
    auth_change_t *c = change_new(do_key_create, status, err);
    if (!c)
        return NULL;
    if (!principal_key(keys->account_id, principal_arn, c->key, sizeof(c->key)))
        return refuse(c, status, AUTH_IDENTITY_NOT_FOUND, err, "%.200s is not a user or role of this account", principal_arn);
    snprintf(c->arn, sizeof(c->arn), "%s", principal_arn);
    char id[AUTH_ACCESS_KEY_ID_LEN + 1];
    if (auth_access_key_generate(id, c->secret, err) != AUTH_OK ||
        !iam_seal_b64(keys->master_key, id, c->secret, AUTH_SECRET_KEY_LEN, c->sealed, err))
        return refuse(c, status, AUTH_IDENTITY_STORE_ERROR, err, NULL);
    snprintf(c->id, sizeof(c->id), "%s", id);
    return c;
}

static storage_status_t do_key_delete(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    auth_change_t *c = ctx;
    char key[IAM_RECORD_KEY_MAX], pkey[IAM_RECORD_KEY_MAX];
    snprintf(key, sizeof(key), "access-key/%s", c->id);
    storage_status_t s;
    json_t *k = iam_record_json(rs, key, &s, serr);
    if (!k)
        return s;
    const char *arn = iam_jstr(k, "principal");
    const char *slash = strrchr(arn, ':');
    snprintf(pkey, sizeof(pkey), "%s", slash ? slash + 1 : "");
    json_decref(k);
    json_t *p = iam_record_json(rs, pkey, &s, serr);
    if (p) {
        json_t *list = json_object_get(p, "keys"), *v;
        size_t i;
        json_array_foreach(list, i, v)
        {
            if (strcmp(json_string_value(v) ? json_string_value(v) : "", c->id) == 0) {
                json_array_remove(list, i);
                break;
            }
        }
        s = iam_put_json(rs, pkey, p, false, serr);
        json_decref(p);
        if (s != STORAGE_OK)
            return s;
    }
    s = storage_record_del(rs, IAM_SPACE, key, serr);
    return s == STORAGE_OK ? iam_bump_generation(rs, serr) : s;
}

auth_change_t *auth_change_access_key_delete(const char *access_key_id, auth_identity_status_t *status, auth_err_t *err)
{
    auth_change_t *c = change_new(do_key_delete, status, err);
    if (!c)
        return NULL;
    if (strlen(access_key_id) != AUTH_ACCESS_KEY_ID_LEN || !iam_name_valid(access_key_id, AUTH_ACCESS_KEY_ID_LEN))
        return refuse(c, status, AUTH_IDENTITY_INVALID, err, "not an access key id");
    snprintf(c->id, sizeof(c->id), "%s", access_key_id);
    return c;
}

static storage_status_t do_policy_put(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    auth_change_t *c = ctx;
    char key[IAM_RECORD_KEY_MAX];
    /* a policy whose name differs only in case is this one (IAM's names are unique whatever their case) */
    storage_status_t s = find_name(rs, "policy/", c->name, key, sizeof(key), serr);
    json_t *j = s == STORAGE_OK ? iam_record_json(rs, key, &s, serr) : NULL;
    if (!j && s != STORAGE_NOT_FOUND)
        return s;
    if (j && c->create_only) {
        json_decref(j);
        snprintf(serr->msg, sizeof(serr->msg), "A policy called %s already exists.", key + 7);
        return STORAGE_EXISTS;
    }
    if (!j)
        snprintf(key, sizeof(key), "policy/%s", c->name);
    if (!j && !(j = json_pack("{s:s,s:I}", "arn", c->arn, "created", (json_int_t)c->now)))
        return STORAGE_NOMEM;
    json_object_set_new(j, "updated", json_integer(c->now));
    s = iam_put_json(rs, key, j, false, serr);
    json_decref(j);
    if (s != STORAGE_OK)
        return s;
    char name[AUTH_POLICY_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%.*s", AUTH_POLICY_NAME_MAX, key + 7);
    snprintf(key, sizeof(key), "policy-doc/%s", name);
    s = storage_record_put(rs, IAM_SPACE, key, c->doc, c->len, false, serr);
    return s == STORAGE_OK ? iam_bump_generation(rs, serr) : s;
}

/* A copy of a policy document that parses as `kind`; false after refusing. */
static bool take_document(auth_change_t *c, const char *doc, size_t len, policy_kind_t kind, auth_err_t *err)
{
    policy_err_t perr;
    policy_t *p = policy_parse(doc, len, kind, &perr);
    if (!p) {
        iam_fail(err, AUTH_IDENTITY_INVALID, "MalformedPolicyDocument: %s", perr.msg);
        return false;
    }
    policy_free(p);
    if (!(c->doc = malloc(len ? len : 1))) {
        iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "out of memory");
        return false;
    }
    memcpy(c->doc, doc, len);
    c->len = len;
    return true;
}

auth_change_t *auth_change_policy_put(const auth_keys_t *keys, const char *name, const char *doc, size_t len, bool create_only,
                                      auth_identity_status_t *status, auth_err_t *err)
{
    auth_change_t *c = change_new(do_policy_put, status, err);
    if (!c)
        return NULL;
    if (!iam_name_valid(name, AUTH_POLICY_NAME_MAX))
        return refuse(c, status, AUTH_IDENTITY_INVALID, err, "a policy name is 1 to %d characters of A-Z a-z 0-9 and +=,.@_-",
                      AUTH_POLICY_NAME_MAX);
    if (!take_document(c, doc, len, POLICY_KIND_IDENTITY, err))
        return refuse(c, status, c->doc ? AUTH_IDENTITY_STORE_ERROR : AUTH_IDENTITY_INVALID, err, NULL);
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->arn, sizeof(c->arn), "arn:aws:iam::%s:policy/%s", keys->account_id, name);
    c->create_only = create_only;
    return c;
}

static bool count_attachments(void *ctx, const char *key, size_t key_len, const void *val, size_t len)
{
    auth_change_t *c = ctx;
    json_t *j = json_loadb(val, len, 0, NULL), *e;
    if (!j) { /* it may name the policy: fail closed */
        snprintf(c->damaged, sizeof(c->damaged), "%.*s", (int)key_len, key);
        return false;
    }
    size_t i;
    json_array_foreach(json_object_get(j, "policies"), i, e)
    {
        if (json_is_string(e) && strcmp(json_string_value(e), c->name) == 0)
            c->attached++;
    }
    json_decref(j);
    return true;
}

static storage_status_t do_policy_delete(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    auth_change_t *c = ctx;
    c->attached = 0;
    c->damaged[0] = '\0';
    storage_status_t s = storage_record_scan(rs, IAM_SPACE, "user/", count_attachments, c, serr);
    if (s == STORAGE_OK && !c->damaged[0])
        s = storage_record_scan(rs, IAM_SPACE, "role/", count_attachments, c, serr);
    if (s != STORAGE_OK)
        return s;
    if (c->damaged[0]) {
        snprintf(serr->msg, sizeof(serr->msg), "the record iam/%.160s is damaged: cannot tell whether it has the policy attached",
                 c->damaged);
        return STORAGE_IO;
    }
    if (c->attached) {
        c->refusal = AUTH_IDENTITY_CONFLICT;
        snprintf(serr->msg, sizeof(serr->msg), "Cannot delete a policy attached to entities (%zu): detach it first", c->attached);
        return STORAGE_INVALID;
    }
    char key[IAM_RECORD_KEY_MAX];
    snprintf(key, sizeof(key), "policy/%s", c->name);
    if ((s = storage_record_del(rs, IAM_SPACE, key, serr)) != STORAGE_OK)
        return s;
    snprintf(key, sizeof(key), "policy-doc/%s", c->name);
    s = storage_record_del(rs, IAM_SPACE, key, serr);
    return s == STORAGE_OK || s == STORAGE_NOT_FOUND ? iam_bump_generation(rs, serr) : s;
}

auth_change_t *auth_change_policy_delete(const char *name, auth_identity_status_t *status, auth_err_t *err)
{
    auth_change_t *c = change_new(do_policy_delete, status, err);
    if (!c)
        return NULL;
    if (!iam_name_valid(name, AUTH_POLICY_NAME_MAX))
        return refuse(c, status, AUTH_IDENTITY_INVALID, err, "not a policy name");
    snprintf(c->name, sizeof(c->name), "%s", name);
    return c;
}

static storage_status_t do_attach(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    auth_change_t *c = ctx;
    char key[IAM_RECORD_KEY_MAX], pkey[IAM_RECORD_KEY_MAX];
    storage_status_t s = find_name(rs, "policy/", c->name, key, sizeof(key), serr);
    if (s != STORAGE_OK) {
        if (s == STORAGE_NOT_FOUND)
            snprintf(serr->msg, sizeof(serr->msg), "no policy named %s", c->name);
        return s;
    }
    const char *policy = key + 7;                                              /* the name as created */
    const char *prefix = strncmp(c->key, "role/", 5) == 0 ? "role/" : "user/"; /* principal_key wrote one of them */
    s = find_name(rs, prefix, c->key + 5, pkey, sizeof(pkey), serr);
    json_t *p = s == STORAGE_OK ? iam_record_json(rs, pkey, &s, serr) : NULL;
    if (!p)
        return s;
    json_t *list = json_object_get(p, "policies"), *e;
    size_t i, found = SIZE_MAX;
    json_array_foreach(list, i, e)
    {
        if (json_is_string(e) && strcmp(json_string_value(e), policy) == 0)
            found = i;
    }
    if (c->attach && found == SIZE_MAX) {
        if (json_array_size(list) >= AUTH_MAX_ATTACHED_POLICIES) {
            json_decref(p);
            c->refusal = AUTH_IDENTITY_LIMIT;
            snprintf(serr->msg, sizeof(serr->msg), "%.150s already has %d policies attached", pkey, AUTH_MAX_ATTACHED_POLICIES);
            return STORAGE_INVALID;
        }
        json_array_append_new(list, json_string(policy));
    } else if (!c->attach && found != SIZE_MAX) {
        json_array_remove(list, found);
    } else if (!c->attach) {
        json_decref(p);
        snprintf(serr->msg, sizeof(serr->msg), "the policy %.100s is not attached to %.100s", policy, pkey);
        return STORAGE_NOT_FOUND;
    }
    s = iam_put_json(rs, pkey, p, false, serr);
    json_decref(p);
    return s == STORAGE_OK ? iam_bump_generation(rs, serr) : s;
}

auth_change_t *auth_change_policy_attach(const auth_keys_t *keys, const char *principal_arn, const char *policy, bool attach,
                                         auth_identity_status_t *status, auth_err_t *err)
{
    auth_change_t *c = change_new(do_attach, status, err);
    if (!c)
        return NULL;
    if (!iam_name_valid(policy, AUTH_POLICY_NAME_MAX) || !principal_key(keys->account_id, principal_arn, c->key, sizeof(c->key)))
        return refuse(c, status, AUTH_IDENTITY_INVALID, err, "expected a user or role ARN of this account and a policy name");
    snprintf(c->name, sizeof(c->name), "%s", policy);
    c->attach = attach;
    return c;
}

static storage_status_t do_repo_policy(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    auth_change_t *c = ctx;
    storage_status_t s = c->doc ? storage_record_put(rs, IAM_SPACE, c->key, c->doc, c->len, false, serr)
                                : storage_record_del(rs, IAM_SPACE, c->key, serr);
    return s == STORAGE_OK ? iam_bump_generation(rs, serr) : s;
}

auth_change_t *auth_change_repository_policy_set(const char *repo, const char *doc, size_t len, auth_identity_status_t *status,
                                                 auth_err_t *err)
{
    auth_change_t *c = change_new(do_repo_policy, status, err);
    if (!c)
        return NULL;
    if (!oci_name_valid(repo, strlen(repo)))
        return refuse(c, status, AUTH_IDENTITY_INVALID, err, "invalid repository name");
    if (doc && !take_document(c, doc, len, POLICY_KIND_RESOURCE, err))
        return refuse(c, status, c->doc ? AUTH_IDENTITY_STORE_ERROR : AUTH_IDENTITY_INVALID, err, NULL);
    snprintf(c->key, sizeof(c->key), "repo-policy/%s", repo);
    return c;
}

/* ---- roles' trust policies ------------------------------------------------------- */

/* IAM: a role's MaxSessionDuration is 1 to 12 hours */
#define ROLE_MAX_SESSION_MIN 3600

auth_change_t *auth_change_role_create(const auth_keys_t *keys, const char *name, const char *trust, size_t trust_len,
                                       int64_t max_session_seconds, auth_identity_status_t *status, auth_err_t *err)
{
    if (max_session_seconds == 0)
        max_session_seconds = AUTH_ROLE_DEFAULT_MAX_SESSION_SECONDS;
    if (max_session_seconds < ROLE_MAX_SESSION_MIN || max_session_seconds > AUTH_SESSION_MAX_SECONDS) {
        *status = iam_fail(err, AUTH_IDENTITY_INVALID, "MaxSessionDuration must be from %d to %d seconds", ROLE_MAX_SESSION_MIN,
                           AUTH_SESSION_MAX_SECONDS);
        return NULL;
    }
    if (trust == NULL) {
        *status = iam_fail(err, AUTH_IDENTITY_INVALID, "a role needs a trust policy (AssumeRolePolicyDocument)");
        return NULL;
    }
    auth_change_t *c = auth_change_user_create(keys, name, true, status, err);
    if (!c)
        return NULL;
    if (!take_document(c, trust, trust_len, POLICY_KIND_RESOURCE, err))
        return refuse(c, status, c->doc ? AUTH_IDENTITY_STORE_ERROR : AUTH_IDENTITY_INVALID, err, NULL);
    c->max_session = max_session_seconds;
    return c;
}

static storage_status_t do_role_trust_set(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    auth_change_t *c = ctx;
    char key[IAM_RECORD_KEY_MAX];
    storage_status_t s = find_name(rs, "role/", c->name, key, sizeof(key), serr);
    if (s == STORAGE_NOT_FOUND)
        snprintf(serr->msg, sizeof(serr->msg), "The role with name %s cannot be found.", c->name);
    json_t *j = s == STORAGE_OK ? iam_record_json(rs, key, &s, serr) : NULL;
    if (!j)
        return s;
    if (json_object_set_new(j, "trust", json_stringn(c->doc, c->len)) != 0) {
        json_decref(j);
        return STORAGE_NOMEM;
    }
    s = iam_put_json(rs, key, j, false, serr);
    json_decref(j);
    return s == STORAGE_OK ? iam_bump_generation(rs, serr) : s;
}

auth_change_t *auth_change_role_trust_set(const char *name, const char *trust, size_t trust_len, auth_identity_status_t *status,
                                          auth_err_t *err)
{
    auth_change_t *c = change_new(do_role_trust_set, status, err);
    if (!c)
        return NULL;
    if (!iam_name_valid(name, AUTH_NAME_MAX))
        return refuse(c, status, AUTH_IDENTITY_INVALID, err, "%.80s is not a valid role name", name);
    if (trust == NULL || !take_document(c, trust, trust_len, POLICY_KIND_RESOURCE, err))
        return refuse(c, status, c->doc ? AUTH_IDENTITY_STORE_ERROR : AUTH_IDENTITY_INVALID, err, trust ? NULL : "no trust policy");
    snprintf(c->name, sizeof(c->name), "%s", name);
    return c;
}

auth_identity_status_t auth_role_get(storage_records_t *rs, const char *role_arn, auth_principal_t *role, auth_role_trust_t *trust,
                                     auth_err_t *err)
{
    auth_identity_status_t r = auth_principal_get(rs, role_arn, role, err);
    if (r != AUTH_IDENTITY_OK)
        return r;
    if (!role->is_role)
        return iam_fail(err, AUTH_IDENTITY_NOT_FOUND, "%.200s is not a role", role_arn);
    char key[IAM_RECORD_KEY_MAX];
    snprintf(key, sizeof(key), "role/%s", role->name); /* the name as created */
    storage_err_t serr;
    storage_status_t s;
    json_t *j = iam_record_json(rs, key, &s, &serr);
    if (!j)
        return from_storage(s, &serr, err);
    json_t *t = json_object_get(j, "trust");
    json_int_t max = json_integer_value(json_object_get(j, "max_session"));
    trust->max_session_seconds =
        max >= ROLE_MAX_SESSION_MIN && max <= AUTH_SESSION_MAX_SECONDS ? (int64_t)max : AUTH_ROLE_DEFAULT_MAX_SESSION_SECONDS;
    trust->trust_len = 0;
    trust->trust[0] = '\0';
    if (json_is_string(t) && json_string_length(t) <= POLICY_MAX_BYTES) {
        trust->trust_len = json_string_length(t);
        memcpy(trust->trust, json_string_value(t), trust->trust_len);
        trust->trust[trust->trust_len] = '\0';
    }
    json_decref(j);
    return AUTH_IDENTITY_OK;
}
