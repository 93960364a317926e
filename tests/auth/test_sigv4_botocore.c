/*
 * tests/auth/test_sigv4_botocore.c — SigV4 against vectors botocore computes
 * at test time (sigv4_vectors.py, run by the auth_sigv4_vectors test first):
 * botocore's signer, the CRT signer the AWS CLI uses when awscrt is installed,
 * and requests captured from a real botocore ECR client.
 *
 * For every vector: auth_sigv4_sign writes the same Authorization, and
 * auth_sigv4_verify accepts the request and refuses every one-byte change of
 * its signature, body, signed header values, path and query, a date 301 s
 * off, another service and another secret.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

#define MAX_HEADERS 40

typedef struct {
    const char *name, *signer, *method, *path, *query, *service, *region, *akid, *secret, *amz_date, *authorization;
    auth_header_t headers[MAX_HEADERS], wire[MAX_HEADERS];
    size_t n_headers, n_wire;
    unsigned char body[1024];
    size_t body_len;
    int64_t now;
    bool exact, verify_only;
} vec_t;

static json_t *root;
static vec_t vecs[128];
static size_t nvec;

static const char *str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static size_t load_headers(json_t *arr, auth_header_t *out)
{
    size_t n = json_array_size(arr);
    cr_assert_leq(n, MAX_HEADERS);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(arr, i);
        out[i].name = json_string_value(json_array_get(p, 0));
        out[i].name_len = strlen(out[i].name);
        out[i].value = json_string_value(json_array_get(p, 1));
        out[i].value_len = strlen(out[i].value);
    }
    return n;
}

static void load(void)
{
    json_error_t e;
    root = json_load_file(SIGV4_VECTORS_JSON, 0, &e);
    cr_assert_not_null(root, "cannot read %s (%s): run the auth_sigv4_vectors test first", SIGV4_VECTORS_JSON, e.text);
    nvec = json_array_size(root);
    cr_assert_leq(nvec, sizeof(vecs) / sizeof(vecs[0]));
    for (size_t i = 0; i < nvec; i++) {
        json_t *o = json_array_get(root, i);
        vec_t *v = &vecs[i];
        v->name = str(o, "name");
        v->signer = str(o, "signer");
        v->method = str(o, "method");
        v->path = str(o, "path");
        v->query = str(o, "query");
        v->service = str(o, "service");
        v->region = str(o, "region");
        v->akid = str(o, "access_key");
        v->secret = str(o, "secret_key");
        v->amz_date = str(o, "amz_date");
        v->authorization = str(o, "authorization");
        v->now = json_integer_value(json_object_get(o, "now"));
        v->exact = json_is_true(json_object_get(o, "exact_headers"));
        v->verify_only = json_is_true(json_object_get(o, "verify_only"));
        v->n_headers = load_headers(json_object_get(o, "headers"), v->headers);
        v->n_wire = load_headers(json_object_get(o, "wire_headers"), v->wire);
        const char *hex = str(o, "body_hex");
        v->body_len = strlen(hex) / 2;
        cr_assert_leq(v->body_len, sizeof(v->body));
        for (size_t k = 0; k < v->body_len; k++) {
            unsigned x;
            cr_assert_eq(sscanf(hex + 2 * k, "%2x", &x), 1);
            v->body[k] = (unsigned char)x;
        }
    }
}

static void unload(void)
{
    json_decref(root);
}

TestSuite(sigv4_botocore, .init = load, .fini = unload);

static auth_http_request_t request_of(const vec_t *v, const auth_header_t *h, size_t nh)
{
    return (auth_http_request_t){.method = v->method,
                                 .path = v->path,
                                 .path_len = strlen(v->path),
                                 .query = v->query,
                                 .query_len = v->query ? strlen(v->query) : 0,
                                 .headers = h,
                                 .n_headers = nh,
                                 .body = v->body,
                                 .body_len = v->body_len};
}

static auth_status_t verify(const vec_t *v, const auth_http_request_t *req, const char *authorization, const char *secret,
                            const char *service, int64_t now)
{
    auth_sigv4_t sig;
    auth_err_t err = {{0}};
    auth_status_t st = auth_sigv4_parse(authorization, strlen(authorization), &sig, &err);
    if (st != AUTH_OK)
        return st;
    (void)v;
    return auth_sigv4_verify(&sig, req, secret, strlen(secret), service, now, &err);
}

static auth_status_t verify_plain(const vec_t *v, const auth_http_request_t *req)
{
    return verify(v, req, v->authorization, v->secret, v->service, v->now);
}

static bool is_signed(const vec_t *v, const char *name, size_t len)
{
    const char *sh = strstr(v->authorization, "SignedHeaders=") + 14;
    for (const char *p = sh; *p && *p != ',';) {
        const char *q = p;
        while (*q && *q != ';' && *q != ',')
            q++;
        if ((size_t)(q - p) == len && strncasecmp(p, name, len) == 0)
            return true;
        p = *q == ';' ? q + 1 : q;
    }
    return false;
}

Test(sigv4_botocore, the_vectors_cover_botocore_and_captured_ecr_clients)
{
    size_t boto = 0, client = 0, date = 0;
    for (size_t i = 0; i < nvec; i++) {
        boto += strcmp(vecs[i].signer, "botocore") == 0;
        client += strcmp(vecs[i].signer, "client") == 0;
        date += strcmp(vecs[i].signer, "botocore-date") == 0;
    }
    cr_assert_geq(boto, 18);
    cr_assert_eq(client, 3);
    cr_assert_eq(date, 1);
}

Test(sigv4_botocore, sign_writes_exactly_the_authorization_botocore_writes)
{
    for (size_t i = 0; i < nvec; i++) {
        const vec_t *v = &vecs[i];
        if (v->verify_only)
            continue;
        auth_header_t h[MAX_HEADERS];
        size_t nh = 0;
        if (v->exact) {
            memcpy(h, v->headers, v->n_headers * sizeof(h[0]));
            nh = v->n_headers;
        } else {
            for (size_t k = 0; k < v->n_wire; k++) {
                if (is_signed(v, v->wire[k].name, v->wire[k].name_len))
                    h[nh++] = v->wire[k];
            }
        }
        auth_http_request_t req = request_of(v, h, nh);
        char date[17], out[1024];
        auth_err_t err = {{0}};
        auth_status_t st = auth_sigv4_sign(&req, v->akid, v->secret, strlen(v->secret), v->region, v->service, v->now, date, out,
                                           sizeof(out), &err);
        cr_assert_eq(st, AUTH_OK, "[%s] %s: %s", v->signer, v->name, err.msg);
        cr_expect_str_eq(date, v->amz_date, "[%s] %s", v->signer, v->name);
        cr_expect_str_eq(out, v->authorization, "[%s] %s", v->signer, v->name);
    }
}

Test(sigv4_botocore, verify_accepts_every_botocore_signed_request)
{
    for (size_t i = 0; i < nvec; i++) {
        const vec_t *v = &vecs[i];
        auth_http_request_t req = request_of(v, v->wire, v->n_wire);
        auth_sigv4_t sig;
        auth_err_t err = {{0}};
        cr_assert_eq(auth_sigv4_parse(v->authorization, strlen(v->authorization), &sig, &err), AUTH_OK, "%s: %s", v->name, err.msg);
        cr_expect_eq(auth_sigv4_verify(&sig, &req, v->secret, strlen(v->secret), v->service, v->now, &err), AUTH_OK, "[%s] %s: %s",
                     v->signer, v->name, err.msg);
    }
}

Test(sigv4_botocore, verify_refuses_every_one_byte_change_of_the_signature)
{
    for (size_t i = 0; i < nvec; i++) {
        const vec_t *v = &vecs[i];
        auth_http_request_t req = request_of(v, v->wire, v->n_wire);
        char a[1024];
        snprintf(a, sizeof(a), "%s", v->authorization);
        char *s = strstr(a, "Signature=") + 10;
        for (size_t k = 0; k < 64; k++) {
            char was = s[k];
            s[k] = was == '0' ? '1' : '0';
            cr_expect_eq(verify(v, &req, a, v->secret, v->service, v->now), AUTH_EBADSIG, "%s: signature byte %zu", v->name, k);
            s[k] = was;
        }
    }
}

Test(sigv4_botocore, verify_refuses_every_one_byte_change_of_the_body)
{
    for (size_t i = 0; i < nvec; i++) {
        vec_t v = vecs[i];
        bool has_sha = false;
        for (size_t k = 0; k < v.n_wire; k++)
            has_sha = has_sha || strcasecmp(v.wire[k].name, "x-amz-content-sha256") == 0;
        auth_status_t want = has_sha ? AUTH_EMALFORMED : AUTH_EBADSIG;
        auth_http_request_t req = request_of(&v, v.wire, v.n_wire);
        for (size_t k = 0; k < v.body_len; k++) {
            v.body[k] ^= 1;
            cr_expect_eq(verify_plain(&v, &req), want, "%s: body byte %zu", v.name, k);
            v.body[k] ^= 1;
        }
        v.body[v.body_len] = 'x';
        req.body_len++;
        cr_expect_eq(verify_plain(&v, &req), want, "%s: one byte appended", v.name);
    }
}

Test(sigv4_botocore, verify_refuses_every_one_byte_change_of_a_signed_header_value)
{
    for (size_t i = 0; i < nvec; i++) {
        const vec_t *v = &vecs[i];
        for (size_t k = 0; k < v->n_wire; k++) {
            if (!is_signed(v, v->wire[k].name, v->wire[k].name_len))
                continue;
            auth_header_t h[MAX_HEADERS];
            memcpy(h, v->wire, v->n_wire * sizeof(h[0]));
            char val[512];
            cr_assert_lt(h[k].value_len, sizeof(val));
            memcpy(val, h[k].value, h[k].value_len);
            h[k].value = val;
            auth_http_request_t req = request_of(v, h, v->n_wire);
            for (size_t b = 0; b < h[k].value_len; b++) {
                val[b] ^= 1;
                cr_expect_neq(verify_plain(v, &req), AUTH_OK, "%s: header %s byte %zu", v->name, h[k].name, b);
                val[b] ^= 1;
            }
        }
    }
}

Test(sigv4_botocore, verify_refuses_every_one_byte_change_of_the_path)
{
    for (size_t i = 0; i < nvec; i++) {
        const vec_t *v = &vecs[i];
        /* Dot segments and doubled slashes normalise away: changing one of
         * those bytes can legitimately give the same canonical path. */
        if (strstr(v->path, "/.") != NULL || strstr(v->path, "//") != NULL)
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s", v->path);
        auth_http_request_t req = request_of(v, v->wire, v->n_wire);
        req.path = p;
        for (size_t b = 0; b < req.path_len; b++) {
            p[b] ^= 1;
            cr_expect_neq(verify_plain(v, &req), AUTH_OK, "%s: path byte %zu", v->name, b);
            p[b] ^= 1;
        }
    }
}

Test(sigv4_botocore, verify_refuses_every_one_byte_change_of_the_query)
{
    size_t tried = 0;
    for (size_t i = 0; i < nvec; i++) {
        const vec_t *v = &vecs[i];
        if (v->query == NULL)
            continue;
        char q[1024];
        snprintf(q, sizeof(q), "%s", v->query);
        auth_http_request_t req = request_of(v, v->wire, v->n_wire);
        req.query = q;
        for (size_t b = 0; b < req.query_len; b++, tried++) {
            q[b] ^= 1;
            cr_expect_neq(verify_plain(v, &req), AUTH_OK, "%s: query byte %zu ('%s')", v->name, b, q);
            q[b] ^= 1;
        }
        /* and a query added to, or dropped from, the request */
        req.query_len = 0;
        cr_expect_neq(verify_plain(v, &req), AUTH_OK, "%s: query dropped", v->name);
    }
    cr_assert_gt(tried, 100);
}

Test(sigv4_botocore, verify_refuses_a_clock_301_seconds_off_either_way_and_accepts_300)
{
    for (size_t i = 0; i < nvec; i++) {
        const vec_t *v = &vecs[i];
        auth_http_request_t req = request_of(v, v->wire, v->n_wire);
        cr_expect_eq(verify(v, &req, v->authorization, v->secret, v->service, v->now + 301), AUTH_EEXPIRED, "%s", v->name);
        cr_expect_eq(verify(v, &req, v->authorization, v->secret, v->service, v->now - 301), AUTH_EEXPIRED, "%s", v->name);
        cr_expect_eq(verify(v, &req, v->authorization, v->secret, v->service, v->now + 300), AUTH_OK, "%s", v->name);
        cr_expect_eq(verify(v, &req, v->authorization, v->secret, v->service, v->now - 300), AUTH_OK, "%s", v->name);
    }
}

Test(sigv4_botocore, verify_refuses_a_request_date_moved_by_301_seconds)
{
    /* Every vector is signed at 09:00:00: 08:54:59 and 09:05:01 stay on the
     * scope's day, so only the signature can refuse them. */
    const char *moved[] = {"20261128T085459Z", "20261128T090501Z"};
    const char *moved_http[] = {"Sat, 28 Nov 2026 08:54:59 GMT", "Sat, 28 Nov 2026 09:05:01 GMT"};
    for (size_t i = 0; i < nvec; i++) {
        const vec_t *v = &vecs[i];
        cr_assert_str_eq(v->amz_date, "20261128T090000Z");
        for (size_t m = 0; m < 2; m++) {
            auth_header_t h[MAX_HEADERS];
            memcpy(h, v->wire, v->n_wire * sizeof(h[0]));
            bool changed = false;
            for (size_t k = 0; k < v->n_wire; k++) {
                const char *nv = strcasecmp(h[k].name, "x-amz-date") == 0 ? moved[m]
                                 : strcasecmp(h[k].name, "date") == 0     ? moved_http[m]
                                                                          : NULL;
                if (nv != NULL) {
                    h[k].value = nv;
                    h[k].value_len = strlen(nv);
                    changed = true;
                }
            }
            cr_assert(changed, "%s has no date header", v->name);
            auth_http_request_t req = request_of(v, h, v->n_wire);
            cr_expect_eq(verify_plain(v, &req), AUTH_EBADSIG, "%s: %s", v->name, moved[m]);
        }
    }
}

Test(sigv4_botocore, verify_refuses_another_service_and_another_secret)
{
    for (size_t i = 0; i < nvec; i++) {
        const vec_t *v = &vecs[i];
        auth_http_request_t req = request_of(v, v->wire, v->n_wire);
        const char *other = strcmp(v->service, "ecr") == 0 ? "ecs" : "ecr";
        cr_expect_eq(verify(v, &req, v->authorization, v->secret, other, v->now), AUTH_EMALFORMED, "%s", v->name);
        char secret[64];
        snprintf(secret, sizeof(secret), "%s", v->secret);
        secret[0] ^= 1;
        cr_expect_eq(verify(v, &req, v->authorization, secret, v->service, v->now), AUTH_EBADSIG, "%s", v->name);
        secret[0] ^= 1;
        secret[strlen(secret) - 1] ^= 1;
        cr_expect_eq(verify(v, &req, v->authorization, secret, v->service, v->now), AUTH_EBADSIG, "%s", v->name);
    }
}
