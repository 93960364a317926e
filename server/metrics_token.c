/* GET /metrics's access, and scrapers' tokens.
 *
 * Prometheus can neither sign SigV4 nor renew a 12-hour registry password,
 * so a scraper presents a long-lived token (Authorization: Bearer, from
 * Prometheus's `authorization: credentials_file`) that grants reading
 * /metrics and nothing else: /v2/ and the AWS APIs do not know it (a
 * registry token is a signed claim set; this is not one: 401).
 *
 *   X-Amz-Target: BerthAdmin_20261207.CreateMetricsToken  {"description"?}
 *     -> {"tokenId", "token", "createdAt"}   the token is shown only now
 *   ...DeleteMetricsToken {"tokenId"}  -> {}  (revoked at once: the next scrape reads the store)
 *   ...ListMetricsTokens {}            -> {"tokens": [{"tokenId", "description", "createdAt"}]}
 *
 * IAM actions berth:CreateMetricsToken, berth:DeleteMetricsToken,
 * berth:ListMetricsTokens on "*" (administrators: ecr:* does not match).
 *
 * Stored: record space "metrics-tokens", key the id, value JSON
 * {"sha256": hex SHA-256 of the secret, "description", "createdAt"}. A
 * scrape hashes the presented secret and compares the hex digests in
 * constant time (CRYPTO_memcmp). The secret is never stored, logged or
 * echoed: the access log names the caller "metrics-token/<id>". */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/metrics_internal.h"

#define TOKEN_SPACE "metrics-tokens"
/* A description is a note for the operator ("prometheus on host a"). */
#define TOKEN_DESCRIPTION_MAX 256
/* Tokens a store keeps at most: a scraper each, revoked ones deleted. */
#define TOKEN_MAX_COUNT 1000
#define TOKEN_RECORD_MAX 1024

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool metrics_token_split(const char *tok, size_t len, char id[METRICS_TOKEN_ID_HEX + 1], const char **secret)
{
    const size_t pre = sizeof(METRICS_TOKEN_PREFIX) - 1;
    if (len != METRICS_TOKEN_LEN || memcmp(tok, METRICS_TOKEN_PREFIX, pre) != 0 || tok[pre + METRICS_TOKEN_ID_HEX] != '_' ||
        !is_hex(tok + pre, METRICS_TOKEN_ID_HEX) || !is_hex(tok + pre + METRICS_TOKEN_ID_HEX + 1, METRICS_TOKEN_SECRET_HEX))
        return false;
    memcpy(id, tok + pre, METRICS_TOKEN_ID_HEX);
    id[METRICS_TOKEN_ID_HEX] = '\0';
    *secret = tok + pre + METRICS_TOKEN_ID_HEX + 1;
    return true;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void secret_hash(const char *secret, char out[2 * SHA256_DIGEST_LENGTH + 1])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)secret, METRICS_TOKEN_SECRET_HEX, d);
    hex(d, sizeof(d), out);
}

/* Whether `tok` is a stored token: its id's record holds its secret's hash. */
static bool token_valid(storage_reader_t *rd, const char *tok, size_t len, char id[METRICS_TOKEN_ID_HEX + 1])
{
    const char *secret;
    if (!metrics_token_split(tok, len, id, &secret))
        return false;
    const void *val;
    size_t vlen;
    storage_err_t err;
    if (storage_record_get(storage_reader_records(rd), TOKEN_SPACE, id, &val, &vlen, &err) != STORAGE_OK)
        return false;
    json_t *rec = json_loadb(val, vlen, 0, NULL);
    const char *want = json_string_value(json_object_get(rec, "sha256"));
    char got[2 * SHA256_DIGEST_LENGTH + 1];
    secret_hash(secret, got);
    bool ok = want && strlen(want) == sizeof(got) - 1 && CRYPTO_memcmp(want, got, sizeof(got) - 1) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    json_decref(rec);
    return ok;
}

static void send_text(h2o_req_t *req, int status, const char *reason, const char *body, size_t len, bool challenge)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    if (challenge)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"berth metrics\""));
    h2o_send_inline(req, body, len);
}

/* Who may read: true to go on; false once 401/403 has been sent. */
static bool allowed(server_t *srv, h2o_req_t *req)
{
    if (metrics_public() || srv->open)
        return true;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0) {
        send_text(req, 401, "Unauthorized", H2O_STRLIT("credentials required: a metrics token or a registry password\n"), true);
        return false;
    }
    storage_err_t serr;
    storage_reader_t *rd = storage_reader_begin(srv->storage, &serr);
    if (!rd) {
        send_text(req, 503, "Service Unavailable", H2O_STRLIT("the store cannot be read\n"), false);
        return false;
    }
    h2o_iovec_t v = req->headers.entries[i].value;
    bool ok = false;
    if (v.len > 7 && h2o_lcstris(v.base, 7, H2O_STRLIT("bearer ")) && v.len - 7 >= sizeof(METRICS_TOKEN_PREFIX) - 1 &&
        memcmp(v.base + 7, METRICS_TOKEN_PREFIX, sizeof(METRICS_TOKEN_PREFIX) - 1) == 0) {
        char id[METRICS_TOKEN_ID_HEX + 1];
        ok = token_valid(rd, v.base + 7, v.len - 7, id);
        metrics_note_authz(req, "berth:GetMetrics", ok);
        if (ok) {
            char who[64];
            snprintf(who, sizeof(who), "metrics-token/%s", id);
            server_note_authz(req, who, "berth:GetMetrics", NULL);
        } else {
            send_text(req, 401, "Unauthorized", H2O_STRLIT("the metrics token is unknown or revoked\n"), true);
        }
    } else {
        server_caller_t who;
        char why[256];
        server_identify_t id = server_identify_registry(srv, rd, req, &who, why, sizeof(why));
        policy_result_t res;
        if (id != SERVER_ID_OK || who.anonymous) {
            send_text(req, 401, "Unauthorized", H2O_STRLIT("invalid credentials\n"), true);
        } else if (who.scoped) {
            /* a scoped Bearer token names repositories, not this */
            send_text(req, 403, "Forbidden", H2O_STRLIT("a scoped registry token does not cover berth:GetMetrics\n"), false);
        } else if (server_authorize((server_thread_t *)req->conn->ctx, rd, &who, req, "berth:GetMetrics", NULL, &res) !=
                   POLICY_ALLOW) {
            send_text(req, 403, "Forbidden", H2O_STRLIT("not authorized to perform berth:GetMetrics\n"), false);
        } else {
            ok = true;
        }
    }
    storage_reader_end(rd);
    return ok;
}

int metrics_handle(server_t *srv, h2o_req_t *req)
{
    if (!allowed(srv, req))
        return 0;
    size_t len;
    char *body = metrics_render(srv->storage, &len);
    if (!body) {
        send_text(req, 500, "Internal Server Error", H2O_STRLIT("out of memory\n"), false);
        return 0;
    }
    h2o_iovec_t copy = h2o_strdup(&req->pool, body, len);
    free(body);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = copy.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, copy.base, copy.len);
    return 0;
}

/* ---- the admin operations ---- */

typedef struct {
    aws_req_t a; /* minus its snapshot and body */
    char id[METRICS_TOKEN_ID_HEX + 1];
    char token[METRICS_TOKEN_LEN + 1]; /* create: what the reply shows once */
    char *record;                      /* create: the record to put */
    bool del;
    int64_t created_at;
    bool missing, full;
} token_op_t;

static void token_op_free(void *p)
{
    token_op_t *t = p;
    OPENSSL_cleanse(t->token, sizeof(t->token));
    free(t->record);
    free(t);
}

typedef struct {
    size_t n;
} count_t;

static bool count_one(void *ctx, const char *key, size_t key_len, const void *val, size_t len)
{
    (void)key;
    (void)key_len;
    (void)val;
    (void)len;
    ((count_t *)ctx)->n++;
    return true;
}

static storage_status_t token_apply(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    token_op_t *t = ctx;
    const void *val;
    size_t len;
    if (t->del) {
        storage_status_t s = storage_record_get(rs, TOKEN_SPACE, t->id, &val, &len, err);
        if (s == STORAGE_NOT_FOUND) {
            t->missing = true;
            return STORAGE_OK;
        }
        if (s != STORAGE_OK)
            return s;
        return storage_record_del(rs, TOKEN_SPACE, t->id, err);
    }
    count_t c = {0};
    storage_status_t s = storage_record_scan(rs, TOKEN_SPACE, "", count_one, &c, err);
    if (s != STORAGE_OK)
        return s;
    if (c.n >= TOKEN_MAX_COUNT) {
        t->full = true;
        return STORAGE_OK;
    }
    return storage_record_put(rs, TOKEN_SPACE, t->id, t->record, strlen(t->record), true, err);
}

static void token_done(server_op_t *sop, h2o_req_t *req)
{
    token_op_t *t = sop->user;
    t->a.req = req;
    if (sop->op.status != STORAGE_OK) {
        aws_send_error(&t->a, 500, "ServerException", "the store: %s", sop->op.err.msg);
    } else if (t->missing) {
        aws_send_error(&t->a, 400, "ResourceNotFoundException", "no metrics token %s", t->id);
    } else if (t->full) {
        aws_send_error(&t->a, 400, "LimitExceededException", "%d metrics tokens exist already: delete unused ones",
                       TOKEN_MAX_COUNT);
    } else if (t->del) {
        aws_send_result(&t->a, json_object());
    } else {
        aws_send_result(&t->a,
                        json_pack("{s:s,s:s,s:I}", "tokenId", t->id, "token", t->token, "createdAt", (json_int_t)t->created_at));
    }
}

static void submit(aws_req_t *a, token_op_t *t)
{
    v2_req_t r = {.req = a->req, .srv = a->srv};
    server_op_t *sop = server_op_new(&r, STORAGE_OP_RECORDS, token_done);
    if (!sop) {
        token_op_free(t);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    t->a = *a;
    t->a.rd = NULL;
    t->a.body = NULL;
    sop->user = t;
    sop->free_user = token_op_free;
    sop->op.records_fn = token_apply;
    sop->op.records_ctx = t;
    server_op_submit(sop);
}

static bool only(aws_req_t *a, const char *allowed_key)
{
    const char *key;
    json_t *v;
    if (!json_is_object(a->body)) {
        aws_send_error(a, 400, "InvalidParameterException", "the request must be a JSON object");
        return false;
    }
    json_object_foreach(a->body, key, v)
    {
        if (!allowed_key || strcmp(key, allowed_key) != 0) {
            aws_send_error(a, 400, "InvalidParameterException", "unknown parameter %.64s", key);
            return false;
        }
    }
    return true;
}

static void create_token(aws_req_t *a)
{
    if (!aws_allowed(a, "berth:CreateMetricsToken", NULL) || !only(a, "description"))
        return;
    json_t *d = json_object_get(a->body, "description");
    if (d && (!json_is_string(d) || json_string_length(d) > TOKEN_DESCRIPTION_MAX)) {
        aws_send_error(a, 400, "InvalidParameterException", "description must be a string of at most %d bytes",
                       TOKEN_DESCRIPTION_MAX);
        return;
    }
    token_op_t *t = calloc(1, sizeof(*t));
    unsigned char raw[METRICS_TOKEN_ID_HEX / 2 + METRICS_TOKEN_SECRET_HEX / 2];
    if (!t || RAND_bytes(raw, sizeof(raw)) != 1) {
        free(t);
        aws_send_error(a, 500, "ServerException", "out of memory or randomness");
        return;
    }
    char secret[METRICS_TOKEN_SECRET_HEX + 1], digest[2 * SHA256_DIGEST_LENGTH + 1];
    hex(raw, METRICS_TOKEN_ID_HEX / 2, t->id);
    hex(raw + METRICS_TOKEN_ID_HEX / 2, METRICS_TOKEN_SECRET_HEX / 2, secret);
    OPENSSL_cleanse(raw, sizeof(raw));
    snprintf(t->token, sizeof(t->token), "%s%s_%s", METRICS_TOKEN_PREFIX, t->id, secret);
    secret_hash(secret, digest);
    OPENSSL_cleanse(secret, sizeof(secret));
    t->created_at = (int64_t)time(NULL);
    json_t *rec = json_pack("{s:s,s:s,s:I}", "sha256", digest, "description", d ? json_string_value(d) : "", "createdAt",
                            (json_int_t)t->created_at);
    t->record = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (!t->record) {
        token_op_free(t);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    submit(a, t);
}

static void delete_token(aws_req_t *a)
{
    if (!aws_allowed(a, "berth:DeleteMetricsToken", NULL) || !only(a, "tokenId"))
        return;
    const char *id = json_string_value(json_object_get(a->body, "tokenId"));
    if (!id || strlen(id) != METRICS_TOKEN_ID_HEX || !is_hex(id, METRICS_TOKEN_ID_HEX)) {
        aws_send_error(a, 400, "InvalidParameterException", "tokenId must be the %d hex digits CreateMetricsToken returned",
                       METRICS_TOKEN_ID_HEX);
        return;
    }
    token_op_t *t = calloc(1, sizeof(*t));
    if (!t) {
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    memcpy(t->id, id, sizeof(t->id));
    t->del = true;
    submit(a, t);
}

typedef struct {
    json_t *arr;
    bool failed;
} list_t;

static bool list_one(void *ctx, const char *key, size_t key_len, const void *val, size_t len)
{
    list_t *l = ctx;
    json_t *rec = len <= TOKEN_RECORD_MAX ? json_loadb(val, len, 0, NULL) : NULL;
    json_t *item = json_pack("{s:s%,s:s,s:I}", "tokenId", key, key_len, "description",
                             json_string_value(json_object_get(rec, "description")) ?: "", "createdAt",
                             json_integer_value(json_object_get(rec, "createdAt")));
    json_decref(rec);
    if (!item || json_array_append_new(l->arr, item) != 0) {
        l->failed = true;
        return false;
    }
    return true;
}

static void list_tokens(aws_req_t *a)
{
    if (!aws_allowed(a, "berth:ListMetricsTokens", NULL) || !only(a, NULL))
        return;
    list_t l = {.arr = json_array()};
    storage_err_t err;
    if (!l.arr || storage_record_scan(storage_reader_records(a->rd), TOKEN_SPACE, "", list_one, &l, &err) != STORAGE_OK ||
        l.failed) {
        json_decref(l.arr);
        aws_send_error(a, 500, "ServerException", "cannot list the metrics tokens");
        return;
    }
    aws_send_result(a, json_pack("{s:o}", "tokens", l.arr));
}

const aws_operation_t metrics_token_operations[] = {
    {BERTH_ADMIN_SERVICE, "CreateMetricsToken", "ecr", create_token},
    {BERTH_ADMIN_SERVICE, "DeleteMetricsToken", "ecr", delete_token},
    {BERTH_ADMIN_SERVICE, "ListMetricsTokens", "ecr", list_tokens},
    {NULL, NULL, NULL, NULL},
};
