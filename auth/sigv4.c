/*
 * auth/sigv4.c — AWS Signature Version 4: parsing the Authorization header,
 * verifying a request against it, and signing a request the way botocore (the
 * AWS CLI) does.
 *
 * The canonical request follows AWS's "Create a canonical request for
 * Signature Version 4" for services other than S3, and is checked against
 * botocore at test time (tests/auth/sigv4_vectors.py):
 *
 *   METHOD            upper case
 *   canonical URI     the raw (already percent-encoded) path with dot segments
 *                     and empty segments removed (botocore's
 *                     remove_dot_segments), then every byte but the RFC 3986
 *                     unreserved set and '/' percent-encoded once more: the
 *                     "double encoding" of non-S3 services
 *   canonical query   each name and value percent-decoded, encoded again with
 *                     the unreserved set (upper-case hex), sorted by name then
 *                     value, "name=value" joined by '&' ('=' even when empty);
 *                     '+' is a literal plus, as AWS signs it, not a space
 *   canonical headers the signed headers, sorted, "name:value\n", the value
 *                     trimmed and runs of white space collapsed, repeated
 *                     headers joined by ','
 *   signed headers    as in the Authorization header
 *   hashed payload    lower-case hex SHA-256 of the body
 *
 * Payload: when x-amz-content-sha256 is present it must be the body's hash.
 * UNSIGNED-PAYLOAD and the streaming forms are refused: every request Berth
 * verifies carries a small body held in memory, and an unsigned body would let
 * anyone who captured a request replay its headers with another body.
 *
 * The canonical request is never built in memory: it is streamed into
 * SHA-256, so its size needs no cap beyond those on its inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/auth_internal.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* A path longer than this is not a request any AWS client sends to us; h2o
 * itself refuses request lines much longer. */
#define SIGV4_MAX_PATH_BYTES 8192
/* Query strings on the APIs we sign are short; this bounds the decode buffers. */
#define SIGV4_MAX_QUERY_BYTES 16384
/* Bounds the sort of the canonical query string. */
#define SIGV4_MAX_QUERY_PARAMS 256
/* AWS secrets are 40 characters; leave room for foreign ones, refuse abuse. */
#define SIGV4_MAX_SECRET_BYTES 128
/* Header names are tokens; real ones are under 40 characters. */
#define SIGV4_MAX_HEADER_NAME 64
/* Methods are short tokens ("POST"); the cap keeps the upper-casing local. */
#define SIGV4_MAX_METHOD 32
/* 9999-12-31T23:59:59Z: the last instant X-Amz-Date can express. */
#define SIGV4_MAX_TIME INT64_C(253402300799)

static const char HEXDIG[] = "0123456789ABCDEF";

/* ---- small helpers --------------------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

/* RFC 9110 tchar, lower case only (signed header names are lower case). */
static bool is_lower_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* White space as botocore's str.split() sees it in ASCII: trimmed at both ends
 * of a header value and collapsed to one space inside it. */
static bool is_ws(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static bool name_eq(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++) {
        if (lower(a[i]) != lower(b[i]))
            return false;
    }
    return true;
}

static bool sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32;
}

static bool hmac256(const void *key, size_t key_len, const void *msg, size_t msg_len, unsigned char out[32])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n) != NULL && n == 32;
}

/* ---- dates (proleptic Gregorian, UTC; no libc time zone involved) --------- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool valid_ymd(int y, int m, int d)
{
    return y >= 1970 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* "YYYYMMDD" */
static bool parse_scope_date(const char *s, size_t len)
{
    int y, m, d;
    return len == 8 && digits(s, 4, &y) && digits(s + 4, 2, &m) && digits(s + 6, 2, &d) && valid_ymd(y, m, d);
}

static bool make_time(int y, int mo, int d, int h, int mi, int s, int64_t *out)
{
    if (!valid_ymd(y, mo, d) || h > 23 || mi > 59 || s > 59)
        return false;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

/* X-Amz-Date: "YYYYMMDDTHHMMSSZ" */
static bool parse_amz_date(const char *s, size_t len, int64_t *out)
{
    int y, mo, d, h, mi, sec;
    if (len != 16 || s[8] != 'T' || s[15] != 'Z')
        return false;
    return digits(s, 4, &y) && digits(s + 4, 2, &mo) && digits(s + 6, 2, &d) && digits(s + 9, 2, &h) && digits(s + 11, 2, &mi) &&
           digits(s + 13, 2, &sec) && make_time(y, mo, d, h, mi, sec, out);
}

/* Date: the IMF-fixdate of RFC 9110, "Sun, 06 Nov 1994 08:49:37 GMT", or with
 * a numeric zero offset as Python's email.utils.formatdate writes it. */
static bool parse_http_date(const char *s, size_t len, int64_t *out)
{
    static const char *const wdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (len < 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
        s[25] != ' ')
        return false;
    const char *zone = s + 26;
    size_t zlen = len - 26;
    if (!((zlen == 3 && (memcmp(zone, "GMT", 3) == 0 || memcmp(zone, "UTC", 3) == 0)) ||
          (zlen == 5 && (memcmp(zone, "+0000", 5) == 0 || memcmp(zone, "-0000", 5) == 0))))
        return false;
    bool wd = false;
    for (int i = 0; i < 7; i++)
        wd = wd || memcmp(s, wdays[i], 3) == 0;
    int mo = 0;
    for (int i = 0; i < 12; i++) {
        if (memcmp(s + 8, months[i], 3) == 0)
            mo = i + 1;
    }
    int y, d, h, mi, sec;
    return wd && mo != 0 && digits(s + 5, 2, &d) && digits(s + 12, 4, &y) && digits(s + 17, 2, &h) && digits(s + 20, 2, &mi) &&
           digits(s + 23, 2, &sec) && make_time(y, mo, d, h, mi, sec, out);
}

/* t must be within 1970..9999 (both callers check). */
static void format_amz_date(int64_t t, char out[17])
{
    int64_t days = t / 86400, rem = t % 86400;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    const int f[6] = {y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60)};
    const int w[6] = {4, 2, 2, 2, 2, 2};
    size_t o = 0;
    for (int k = 0; k < 6; k++) {
        if (k == 3)
            out[o++] = 'T';
        for (int q = w[k] - 1, v = f[k]; q >= 0; q--, v /= 10)
            out[o + (size_t)q] = (char)('0' + v % 10);
        o += (size_t)w[k];
    }
    out[o++] = 'Z';
    out[o] = '\0';
}

/* ---- streaming the canonical request into SHA-256 -------------------------- */

typedef struct {
    EVP_MD_CTX *ctx;
    unsigned char buf[512];
    size_t n;
    bool failed;
} sink_t;

static void sink_flush(sink_t *s)
{
    if (s->n > 0 && !s->failed)
        s->failed = EVP_DigestUpdate(s->ctx, s->buf, s->n) != 1;
    s->n = 0;
}

static void sink_putc(sink_t *s, char c)
{
    if (s->n == sizeof(s->buf))
        sink_flush(s);
    s->buf[s->n++] = (unsigned char)c;
}

static void sink_put(sink_t *s, const void *p, size_t len)
{
    const char *c = p;
    for (size_t i = 0; i < len; i++)
        sink_putc(s, c[i]);
}

static void sink_puts(sink_t *s, const char *str)
{
    sink_put(s, str, strlen(str));
}

static void sink_put_encoded(sink_t *s, unsigned char c, bool keep_slash)
{
    if (is_unreserved(c) || (keep_slash && c == '/')) {
        sink_putc(s, (char)c);
    } else {
        sink_putc(s, '%');
        sink_putc(s, HEXDIG[c >> 4]);
        sink_putc(s, HEXDIG[c & 15]);
    }
}

/* ---- canonical URI ------------------------------------------------------- */

static auth_status_t put_canonical_uri(sink_t *s, const char *path, size_t len, auth_err_t *err)
{
    if (len == 0) {
        sink_putc(s, '/');
        return AUTH_OK;
    }
    if (path == NULL || path[0] != '/') {
        auth_set_err(err, "request path does not start with '/'");
        return AUTH_EMALFORMED;
    }
    if (len > SIGV4_MAX_PATH_BYTES) {
        auth_set_err(err, "request path longer than %d bytes", SIGV4_MAX_PATH_BYTES);
        return AUTH_EMALFORMED;
    }
    /* botocore's remove_dot_segments: empty and "." segments vanish, ".."
     * removes the one before it, a trailing '/' survives only if a segment
     * does. `norm` holds "/seg/seg". */
    char *norm = malloc(len + 1);
    if (norm == NULL) {
        auth_set_err(err, "out of memory");
        return AUTH_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t seg = j - i;
        if (seg == 0 || (seg == 1 && path[i] == '.')) {
            /* skip */
        } else if (seg == 2 && path[i] == '.' && path[i + 1] == '.') {
            while (n > 0 && norm[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else {
            norm[n++] = '/';
            memcpy(norm + n, path + i, seg);
            n += seg;
        }
        i = j + 1;
    }
    if (n == 0) {
        sink_putc(s, '/');
    } else {
        for (size_t i = 0; i < n; i++)
            sink_put_encoded(s, (unsigned char)norm[i], true);
        if (path[len - 1] == '/')
            sink_putc(s, '/');
    }
    free(norm);
    return AUTH_OK;
}

/* ---- canonical query string ------------------------------------------------ */

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} qparam_t;

/* Percent-decodes src and encodes it again with the unreserved set into dst
 * (room for 3 * len). Returns the length written, or -1 on a bad escape. */
static long reencode(const char *src, size_t len, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = auth_hex_value((unsigned char)src[i + 1]), lo = auth_hex_value((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (is_unreserved(c)) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '%';
            dst[o++] = HEXDIG[c >> 4];
            dst[o++] = HEXDIG[c & 15];
        }
    }
    return (long)o;
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static int qparam_cmp(const void *pa, const void *pb)
{
    const qparam_t *a = pa, *b = pb;
    int c = bytes_cmp(a->name, a->name_len, b->name, b->name_len);
    return c != 0 ? c : bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

static auth_status_t put_canonical_query(sink_t *s, const char *query, size_t len, auth_err_t *err)
{
    if (query == NULL || len == 0)
        return AUTH_OK;
    if (len > SIGV4_MAX_QUERY_BYTES) {
        auth_set_err(err, "query string longer than %d bytes", SIGV4_MAX_QUERY_BYTES);
        return AUTH_EMALFORMED;
    }
    size_t count = 1;
    for (size_t i = 0; i < len; i++)
        count += query[i] == '&';
    if (count > SIGV4_MAX_QUERY_PARAMS) {
        auth_set_err(err, "more than %d query parameters", SIGV4_MAX_QUERY_PARAMS);
        return AUTH_EMALFORMED;
    }
    qparam_t *params = calloc(count, sizeof(*params));
    char *buf = malloc(3 * len + 1);
    if (params == NULL || buf == NULL) {
        free(params);
        free(buf);
        auth_set_err(err, "out of memory");
        return AUTH_ENOMEM;
    }
    auth_status_t st = AUTH_OK;
    size_t np = 0, o = 0;
    for (size_t i = 0; i <= len && np < count;) {
        size_t j = i;
        while (j < len && query[j] != '&')
            j++;
        /* botocore splits the raw query on '&' and '=' and signs what it
         * finds, so "a&&b" signs an empty name: keep every component. */
        size_t eq = i;
        while (eq < j && query[eq] != '=')
            eq++;
        long nl = reencode(query + i, eq - i, buf + o);
        long vl = nl < 0 ? -1 : reencode(query + eq + (eq < j), j - eq - (eq < j), buf + o + (size_t)nl);
        if (nl < 0 || vl < 0) {
            auth_set_err(err, "query string has a bad %%-escape");
            st = AUTH_EMALFORMED;
            goto out;
        }
        params[np].name = buf + o;
        params[np].name_len = (size_t)nl;
        params[np].value = buf + o + (size_t)nl;
        params[np].value_len = (size_t)vl;
        o += (size_t)nl + (size_t)vl;
        np++;
        i = j + 1;
    }
    qsort(params, np, sizeof(*params), qparam_cmp);
    for (size_t k = 0; k < np; k++) {
        if (k > 0)
            sink_putc(s, '&');
        sink_put(s, params[k].name, params[k].name_len);
        sink_putc(s, '=');
        sink_put(s, params[k].value, params[k].value_len);
    }
out:
    free(params);
    free(buf);
    return st;
}

/* ---- canonical headers ----------------------------------------------------- */

typedef struct {
    const char *name; /* lower case */
    size_t len;
} hname_t;

/* Trims and collapses white space (botocore: ' '.join(value.split())). */
static void put_trimmed(sink_t *s, const char *v, size_t len)
{
    size_t i = 0, end = len;
    while (i < end && is_ws((unsigned char)v[i]))
        i++;
    while (end > i && is_ws((unsigned char)v[end - 1]))
        end--;
    bool space = false;
    for (; i < end; i++) {
        if (is_ws((unsigned char)v[i])) {
            space = true;
            continue;
        }
        if (space)
            sink_putc(s, ' ');
        space = false;
        sink_putc(s, v[i]);
    }
}

static void trim(const char **v, size_t *len)
{
    while (*len > 0 && is_ws((unsigned char)(*v)[0])) {
        (*v)++;
        (*len)--;
    }
    while (*len > 0 && is_ws((unsigned char)(*v)[*len - 1]))
        (*len)--;
}

static bool headers_ok(const auth_http_request_t *req)
{
    if (req->headers == NULL)
        return req->n_headers == 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const auth_header_t *h = &req->headers[i];
        if ((h->name == NULL && h->name_len > 0) || (h->value == NULL && h->value_len > 0))
            return false;
    }
    return true;
}

static size_t count_headers(const auth_http_request_t *req, const char *name, size_t len, const auth_header_t **last)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (name_eq(req->headers[i].name, req->headers[i].name_len, name, len)) {
            n++;
            *last = &req->headers[i];
        }
    }
    return n;
}

/* "name:value\n" for each signed header; amz_date, when given, stands in for
 * the request's x-amz-date (signing adds it). */
static void put_canonical_headers(sink_t *s, const hname_t *names, size_t n, const auth_http_request_t *req, const char *amz_date)
{
    for (size_t k = 0; k < n; k++) {
        sink_put(s, names[k].name, names[k].len);
        sink_putc(s, ':');
        if (amz_date != NULL && name_eq(names[k].name, names[k].len, "x-amz-date", 10)) {
            sink_puts(s, amz_date);
        } else {
            bool first = true;
            for (size_t i = 0; i < req->n_headers; i++) {
                const auth_header_t *h = &req->headers[i];
                if (!name_eq(h->name, h->name_len, names[k].name, names[k].len))
                    continue;
                if (!first)
                    sink_putc(s, ',');
                first = false;
                put_trimmed(s, h->value, h->value_len);
            }
        }
        sink_putc(s, '\n');
    }
}

/* ---- the signature --------------------------------------------------------- */

typedef struct {
    const hname_t *names;
    size_t n_names;
    const char *signed_headers; /* "a;b;c" */
    const char *payload_hash;   /* 64 hex, or the x-amz-content-sha256 value when signing */
    size_t payload_hash_len;
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ" */
    const char *amz_date_override;
    const char *region;
    const char *service;
} sign_input_t;

static auth_status_t compute_signature(const auth_http_request_t *req, const sign_input_t *in, const char *secret,
                                       size_t secret_len, char sig_hex[65], auth_err_t *err)
{
    char method[SIGV4_MAX_METHOD + 1];
    size_t ml = req->method != NULL ? strnlen(req->method, sizeof(method)) : 0;
    if (ml == 0 || ml == sizeof(method)) {
        auth_set_err(err, "request method missing or longer than %d bytes", SIGV4_MAX_METHOD);
        return AUTH_EMALFORMED;
    }
    for (size_t i = 0; i < ml; i++) {
        char c = req->method[i];
        method[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    method[ml] = '\0';

    sink_t s = {.ctx = EVP_MD_CTX_new()};
    if (s.ctx == NULL || EVP_DigestInit_ex(s.ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(s.ctx);
        auth_set_err(err, "SHA-256 unavailable");
        return AUTH_ECRYPTO;
    }
    sink_puts(&s, method);
    sink_putc(&s, '\n');
    auth_status_t st = put_canonical_uri(&s, req->path, req->path_len, err);
    if (st == AUTH_OK) {
        sink_putc(&s, '\n');
        st = put_canonical_query(&s, req->query, req->query_len, err);
    }
    unsigned char creq_hash[32];
    unsigned int hl = 0;
    if (st == AUTH_OK) {
        sink_putc(&s, '\n');
        put_canonical_headers(&s, in->names, in->n_names, req, in->amz_date_override);
        sink_putc(&s, '\n');
        sink_puts(&s, in->signed_headers);
        sink_putc(&s, '\n');
        sink_put(&s, in->payload_hash, in->payload_hash_len);
        sink_flush(&s);
        if (s.failed || EVP_DigestFinal_ex(s.ctx, creq_hash, &hl) != 1 || hl != 32) {
            auth_set_err(err, "SHA-256 failed");
            st = AUTH_ECRYPTO;
        }
    }
    EVP_MD_CTX_free(s.ctx);
    if (st != AUTH_OK)
        return st;

    char creq_hex[65];
    auth_hex_encode(creq_hash, 32, creq_hex);
    char sts[256];
    int sl = snprintf(sts, sizeof(sts), SIGV4_ALGORITHM "\n%s\n%.8s/%s/%s/aws4_request\n%s", in->amz_date, in->amz_date, in->region,
                      in->service, creq_hex);
    if (sl < 0 || (size_t)sl >= sizeof(sts)) {
        auth_set_err(err, "credential scope too long");
        return AUTH_EMALFORMED;
    }

    unsigned char kbuf[4 + SIGV4_MAX_SECRET_BYTES];
    unsigned char k[32], sig[32];
    memcpy(kbuf, "AWS4", 4);
    memcpy(kbuf + 4, secret, secret_len);
    bool ok = hmac256(kbuf, 4 + secret_len, in->amz_date, 8, k) && hmac256(k, 32, in->region, strlen(in->region), k) &&
              hmac256(k, 32, in->service, strlen(in->service), k) && hmac256(k, 32, "aws4_request", 12, k) &&
              hmac256(k, 32, sts, (size_t)sl, sig);
    OPENSSL_cleanse(kbuf, sizeof(kbuf));
    OPENSSL_cleanse(k, sizeof(k));
    if (!ok) {
        auth_set_err(err, "HMAC-SHA256 failed");
        return AUTH_ECRYPTO;
    }
    auth_hex_encode(sig, 32, sig_hex);
    return AUTH_OK;
}

/* ---- parsing the Authorization header -------------------------------------- */

static bool scope_part_ok(const char *s, size_t len, size_t cap)
{
    if (len == 0 || len >= cap)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool akid_ok(const char *s, size_t len)
{
    if (len == 0 || len >= sizeof(((auth_sigv4_t *)0)->access_key_id))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* Splits "a;b;c" into names; checks each is a lower-case token and that they
 * are sorted and distinct, as every SigV4 signer writes them. */
static bool split_signed_headers(const char *s, size_t len, hname_t names[AUTH_SIGV4_MAX_SIGNED_HEADERS], size_t *n)
{
    *n = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i <= len;) {
        size_t j = i;
        while (j < len && s[j] != ';')
            j++;
        if (j == i || j - i > SIGV4_MAX_HEADER_NAME || *n == AUTH_SIGV4_MAX_SIGNED_HEADERS)
            return false;
        for (size_t k = i; k < j; k++) {
            if (!is_lower_tchar((unsigned char)s[k]))
                return false;
        }
        if (*n > 0 && bytes_cmp(names[*n - 1].name, names[*n - 1].len, s + i, j - i) >= 0)
            return false;
        names[*n].name = s + i;
        names[*n].len = j - i;
        (*n)++;
        i = j + 1;
    }
    return true;
}

static void copy_field(char *dst, const char *src, size_t len)
{
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static auth_status_t parse_credential(const char *v, size_t len, auth_sigv4_t *out, auth_err_t *err)
{
    const char *parts[5];
    size_t lens[5], np = 0;
    for (size_t i = 0; i <= len;) {
        size_t j = i;
        while (j < len && v[j] != '/')
            j++;
        if (np == 5) {
            auth_set_err(err, "Credential has more than 5 '/'-separated parts");
            return AUTH_EMALFORMED;
        }
        parts[np] = v + i;
        lens[np++] = j - i;
        i = j + 1;
    }
    if (np != 5) {
        auth_set_err(err, "Credential is not KEYID/YYYYMMDD/REGION/SERVICE/aws4_request");
        return AUTH_EMALFORMED;
    }
    if (!akid_ok(parts[0], lens[0])) {
        auth_set_err(err, "Credential has a bad access key id");
        return AUTH_EMALFORMED;
    }
    if (!parse_scope_date(parts[1], lens[1])) {
        auth_set_err(err, "Credential scope has a bad date (expected YYYYMMDD)");
        return AUTH_EMALFORMED;
    }
    if (!scope_part_ok(parts[2], lens[2], sizeof(out->region))) {
        auth_set_err(err, "Credential scope has a bad region");
        return AUTH_EMALFORMED;
    }
    if (!scope_part_ok(parts[3], lens[3], sizeof(out->service))) {
        auth_set_err(err, "Credential scope has a bad service");
        return AUTH_EMALFORMED;
    }
    if (lens[4] != 12 || memcmp(parts[4], "aws4_request", 12) != 0) {
        auth_set_err(err, "Credential scope does not end in aws4_request");
        return AUTH_EMALFORMED;
    }
    copy_field(out->access_key_id, parts[0], lens[0]);
    copy_field(out->date, parts[1], lens[1]);
    copy_field(out->region, parts[2], lens[2]);
    copy_field(out->service, parts[3], lens[3]);
    return AUTH_OK;
}

auth_status_t auth_sigv4_parse(const char *value, size_t len, auth_sigv4_t *out, auth_err_t *err)
{
    if (value == NULL || out == NULL) {
        auth_set_err(err, "no Authorization header");
        return AUTH_EMALFORMED;
    }
    memset(out, 0, sizeof(*out));
    if (len > AUTH_HEADER_MAX_BYTES) {
        auth_set_err(err, "Authorization header longer than %d bytes", AUTH_HEADER_MAX_BYTES);
        return AUTH_EMALFORMED;
    }
    size_t i = 0, end = len;
    while (i < end && (value[i] == ' ' || value[i] == '\t'))
        i++;
    while (end > i && (value[end - 1] == ' ' || value[end - 1] == '\t'))
        end--;
    const size_t alg_len = sizeof(SIGV4_ALGORITHM) - 1;
    /* cppcheck misreads the trimming loops above as always emptying it */
    // cppcheck-suppress knownConditionTrueFalse
    if (end - i < alg_len || strncasecmp(value + i, SIGV4_ALGORITHM, alg_len) != 0 ||
        (end - i > alg_len && value[i + alg_len] != ' ' && value[i + alg_len] != '\t')) {
        auth_set_err(err, "not an AWS4-HMAC-SHA256 Authorization header");
        return AUTH_EMALFORMED;
    }
    i += alg_len;
    bool have_cred = false, have_sh = false, have_sig = false;
    auth_status_t st = AUTH_OK;
    while (i < end) {
        while (i < end && (value[i] == ' ' || value[i] == '\t'))
            i++;
        size_t j = i;
        while (j < end && value[j] != ',')
            j++;
        size_t ce = j;
        while (ce > i && (value[ce - 1] == ' ' || value[ce - 1] == '\t'))
            ce--;
        const char *c = value + i;
        size_t cl = ce - i;
        const char *eq = memchr(c, '=', cl);
        if (eq == NULL) {
            auth_set_err(err, "Authorization component without '=' (expected Credential=, SignedHeaders=, Signature=)");
            return AUTH_EMALFORMED;
        }
        size_t kl = (size_t)(eq - c);
        const char *v = eq + 1;
        size_t vl = cl - kl - 1;
        if (kl == 10 && memcmp(c, "Credential", 10) == 0) {
            if (have_cred) {
                auth_set_err(err, "Credential given twice");
                return AUTH_EMALFORMED;
            }
            have_cred = true;
            st = parse_credential(v, vl, out, err);
        } else if (kl == 13 && memcmp(c, "SignedHeaders", 13) == 0) {
            if (have_sh) {
                auth_set_err(err, "SignedHeaders given twice");
                return AUTH_EMALFORMED;
            }
            have_sh = true;
            hname_t names[AUTH_SIGV4_MAX_SIGNED_HEADERS];
            size_t n;
            if (vl >= sizeof(out->signed_headers) || !split_signed_headers(v, vl, names, &n)) {
                auth_set_err(err, "SignedHeaders is not a sorted ';'-separated list of at most %d distinct lower-case header names",
                             AUTH_SIGV4_MAX_SIGNED_HEADERS);
                return AUTH_EMALFORMED;
            }
            copy_field(out->signed_headers, v, vl);
        } else if (kl == 9 && memcmp(c, "Signature", 9) == 0) {
            if (have_sig) {
                auth_set_err(err, "Signature given twice");
                return AUTH_EMALFORMED;
            }
            have_sig = true;
            bool hex = vl == 64;
            for (size_t k = 0; hex && k < 64; k++)
                hex = (v[k] >= '0' && v[k] <= '9') || (v[k] >= 'a' && v[k] <= 'f');
            if (!hex) {
                auth_set_err(err, "Signature is not 64 lower-case hex digits");
                return AUTH_EMALFORMED;
            }
            copy_field(out->signature, v, vl);
        } else {
            auth_set_err(err, "unknown Authorization component (expected Credential=, SignedHeaders=, Signature=)");
            return AUTH_EMALFORMED;
        }
        if (st != AUTH_OK)
            return st;
        i = j < end ? j + 1 : j;
        if (j < end && i == end) {
            auth_set_err(err, "Authorization header ends with ','");
            return AUTH_EMALFORMED;
        }
    }
    if (!have_cred || !have_sh || !have_sig) {
        auth_set_err(err, "Authorization header is missing %s",
                     !have_cred ? "Credential"
                     : !have_sh ? "SignedHeaders"
                                : "Signature");
        return AUTH_EMALFORMED;
    }
    return AUTH_OK;
}

/* ---- verifying -------------------------------------------------------------- */

static bool field_ok(const char *f, size_t cap)
{
    size_t n = strnlen(f, cap);
    return n > 0 && n < cap;
}

static bool has_name(const hname_t *names, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++) {
        if (names[k].len == strlen(name) && memcmp(names[k].name, name, names[k].len) == 0)
            return true;
    }
    return false;
}

auth_status_t auth_sigv4_verify(const auth_sigv4_t *sig, const auth_http_request_t *req, const char *secret, size_t secret_len,
                                const char *service, int64_t now, auth_err_t *err)
{
    if (sig == NULL || req == NULL || secret == NULL || service == NULL || !headers_ok(req) ||
        (req->body == NULL && req->body_len > 0)) {
        auth_set_err(err, "missing argument");
        return AUTH_EMALFORMED;
    }
    if (secret_len == 0 || secret_len > SIGV4_MAX_SECRET_BYTES) {
        auth_set_err(err, "secret key empty or longer than %d bytes", SIGV4_MAX_SECRET_BYTES);
        return AUTH_EMALFORMED;
    }
    /* The struct may have been filled by hand: check it as the parser would. */
    hname_t names[AUTH_SIGV4_MAX_SIGNED_HEADERS];
    size_t n_names = 0;
    if (!field_ok(sig->date, sizeof(sig->date)) || !parse_scope_date(sig->date, strlen(sig->date)) ||
        !field_ok(sig->region, sizeof(sig->region)) || !scope_part_ok(sig->region, strlen(sig->region), sizeof(sig->region)) ||
        !field_ok(sig->service, sizeof(sig->service)) || !field_ok(sig->signed_headers, sizeof(sig->signed_headers)) ||
        !split_signed_headers(sig->signed_headers, strlen(sig->signed_headers), names, &n_names) ||
        strnlen(sig->signature, sizeof(sig->signature)) != 64) {
        auth_set_err(err, "malformed SigV4 credentials");
        return AUTH_EMALFORMED;
    }
    if (strcmp(sig->service, service) != 0) {
        auth_set_err(err, "credential scope is for service '%s', this endpoint is '%s'", sig->service, service);
        return AUTH_EMALFORMED;
    }
    if (!has_name(names, n_names, "host")) {
        auth_set_err(err, "the host header is not signed");
        return AUTH_EMALFORMED;
    }
    for (size_t k = 0; k < n_names; k++) {
        const auth_header_t *h = NULL;
        if (count_headers(req, names[k].name, names[k].len, &h) == 0) {
            auth_set_err(err, "signed header '%.*s' is not in the request", (int)names[k].len, names[k].name);
            return AUTH_EMALFORMED;
        }
    }

    /* The request time: X-Amz-Date when present (then it must be signed),
     * otherwise a signed Date. */
    const auth_header_t *dh = NULL;
    size_t nd = count_headers(req, "x-amz-date", 10, &dh);
    int64_t t = 0;
    if (nd > 0) {
        if (nd > 1 || !has_name(names, n_names, "x-amz-date")) {
            auth_set_err(err, nd > 1 ? "X-Amz-Date given more than once" : "the x-amz-date header is not signed");
            return AUTH_EMALFORMED;
        }
        const char *v = dh->value;
        size_t vl = dh->value_len;
        trim(&v, &vl);
        if (!parse_amz_date(v, vl, &t)) {
            auth_set_err(err, "X-Amz-Date is not YYYYMMDDTHHMMSSZ");
            return AUTH_EMALFORMED;
        }
    } else {
        nd = count_headers(req, "date", 4, &dh);
        if (nd == 0 || !has_name(names, n_names, "date")) {
            auth_set_err(err, "neither X-Amz-Date nor Date is a signed header");
            return AUTH_EMALFORMED;
        }
        const char *v = dh->value;
        size_t vl = dh->value_len;
        trim(&v, &vl);
        if (nd > 1 || !parse_http_date(v, vl, &t)) {
            auth_set_err(err, "Date is not one IMF-fixdate (\"Sun, 06 Nov 1994 08:49:37 GMT\")");
            return AUTH_EMALFORMED;
        }
    }
    char amz_date[17];
    format_amz_date(t, amz_date);
    if (memcmp(amz_date, sig->date, 8) != 0) {
        auth_set_err(err, "request date %.8s is not the credential scope's date %s", amz_date, sig->date);
        return AUTH_EMALFORMED;
    }

    unsigned char body_hash[32];
    char body_hex[65];
    if (!sha256(req->body != NULL ? req->body : "", req->body_len, body_hash)) {
        auth_set_err(err, "SHA-256 failed");
        return AUTH_ECRYPTO;
    }
    auth_hex_encode(body_hash, 32, body_hex);
    const auth_header_t *ph = NULL;
    size_t npay = count_headers(req, "x-amz-content-sha256", 20, &ph);
    if (npay > 0) {
        const char *v = ph->value;
        size_t vl = ph->value_len;
        trim(&v, &vl);
        if (npay > 1 || vl != 64 || memcmp(v, body_hex, 64) != 0) {
            auth_set_err(err, "x-amz-content-sha256 is not the SHA-256 of the body (unsigned payloads are not accepted)");
            return AUTH_EMALFORMED;
        }
    }

    sign_input_t in = {.names = names,
                       .n_names = n_names,
                       .signed_headers = sig->signed_headers,
                       .payload_hash = body_hex,
                       .payload_hash_len = 64,
                       .amz_date = amz_date,
                       .region = sig->region,
                       .service = sig->service};
    char want[65];
    auth_status_t st = compute_signature(req, &in, secret, secret_len, want, err);
    if (st != AUTH_OK)
        return st;
    bool match = CRYPTO_memcmp(want, sig->signature, 64) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    if (!match) {
        auth_set_err(err, "the request signature does not match (check the secret key and the signing method)");
        return AUTH_EBADSIG;
    }
    /* Checked after the signature, so "expired" is only ever said of a request
     * the caller really signed: the fix is the clock, not the key. */
    if (t > now + AUTH_SIGV4_MAX_SKEW_SECONDS || t < now - AUTH_SIGV4_MAX_SKEW_SECONDS) {
        auth_set_err(err, "request time %s is more than %d seconds from the server's clock", amz_date, AUTH_SIGV4_MAX_SKEW_SECONDS);
        return AUTH_EEXPIRED;
    }
    return AUTH_OK;
}

/* ---- signing ---------------------------------------------------------------- */

/* Headers botocore never signs (SIGNED_HEADERS_BLACKLIST), and the two that
 * signing itself writes. */
static bool unsigned_header(const char *name, size_t len)
{
    static const char *const skip[] = {"expect", "user-agent", "x-amzn-trace-id", "authorization", "x-amz-date"};
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
        if (name_eq(name, len, skip[i], strlen(skip[i])))
            return true;
    }
    return false;
}

static int hname_cmp(const void *pa, const void *pb)
{
    const hname_t *a = pa, *b = pb;
    return bytes_cmp(a->name, a->len, b->name, b->len);
}

auth_status_t auth_sigv4_sign(const auth_http_request_t *req, const char *access_key_id, const char *secret, size_t secret_len,
                              const char *region, const char *service, int64_t now, char amz_date_out[17], char *authorization_out,
                              size_t authorization_cap, auth_err_t *err)
{
    if (req == NULL || access_key_id == NULL || secret == NULL || region == NULL || service == NULL || amz_date_out == NULL ||
        authorization_out == NULL || !headers_ok(req) || (req->body == NULL && req->body_len > 0)) {
        auth_set_err(err, "missing argument");
        return AUTH_EMALFORMED;
    }
    if (!akid_ok(access_key_id, strnlen(access_key_id, 64))) {
        auth_set_err(err, "bad access key id");
        return AUTH_EMALFORMED;
    }
    if (secret_len == 0 || secret_len > SIGV4_MAX_SECRET_BYTES) {
        auth_set_err(err, "secret key empty or longer than %d bytes", SIGV4_MAX_SECRET_BYTES);
        return AUTH_EMALFORMED;
    }
    if (!scope_part_ok(region, strnlen(region, 32), 32) || !scope_part_ok(service, strnlen(service, 32), 32)) {
        auth_set_err(err, "region and service must be 1 to 31 of [A-Za-z0-9_-]");
        return AUTH_EMALFORMED;
    }
    if (now < 0 || now > SIGV4_MAX_TIME) {
        auth_set_err(err, "time out of range");
        return AUTH_EMALFORMED;
    }
    format_amz_date(now, amz_date_out);

    /* Every header but the unsigned ones, lower-cased, sorted, once each. */
    hname_t names[AUTH_SIGV4_MAX_SIGNED_HEADERS];
    char lowered[AUTH_SIGV4_MAX_SIGNED_HEADERS][SIGV4_MAX_HEADER_NAME];
    size_t n = 0;
    bool host = false;
    const char *pay = NULL;
    size_t pay_len = 0;
    for (size_t i = 0; i <= req->n_headers; i++) {
        const char *name = i < req->n_headers ? req->headers[i].name : "x-amz-date";
        size_t len = i < req->n_headers ? req->headers[i].name_len : 10;
        if (name == NULL || (i < req->n_headers && unsigned_header(name, len)))
            continue;
        if (len == 0 || len > SIGV4_MAX_HEADER_NAME) {
            auth_set_err(err, "header name empty or longer than %d bytes", SIGV4_MAX_HEADER_NAME);
            return AUTH_EMALFORMED;
        }
        bool dup = false;
        for (size_t k = 0; k < n && !dup; k++)
            dup = name_eq(names[k].name, names[k].len, name, len);
        if (dup)
            continue;
        if (n == AUTH_SIGV4_MAX_SIGNED_HEADERS) {
            auth_set_err(err, "more than %d headers to sign", AUTH_SIGV4_MAX_SIGNED_HEADERS);
            return AUTH_EMALFORMED;
        }
        for (size_t k = 0; k < len; k++) {
            lowered[n][k] = lower(name[k]);
            if (!is_lower_tchar((unsigned char)lowered[n][k])) {
                auth_set_err(err, "header name is not a token");
                return AUTH_EMALFORMED;
            }
        }
        names[n].name = lowered[n];
        names[n].len = len;
        host = host || name_eq(name, len, "host", 4);
        if (name_eq(name, len, "x-amz-content-sha256", 20)) {
            pay = req->headers[i].value;
            pay_len = req->headers[i].value_len;
        }
        n++;
    }
    if (!host) {
        auth_set_err(err, "the request has no host header to sign");
        return AUTH_EMALFORMED;
    }
    qsort(names, n, sizeof(names[0]), hname_cmp);
    char signed_headers[sizeof(((auth_sigv4_t *)0)->signed_headers)];
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        if (o + names[k].len + 2 > sizeof(signed_headers)) {
            auth_set_err(err, "signed header names longer than %d bytes", (int)sizeof(signed_headers) - 1);
            return AUTH_EMALFORMED;
        }
        if (k > 0)
            signed_headers[o++] = ';';
        memcpy(signed_headers + o, names[k].name, names[k].len);
        o += names[k].len;
    }
    signed_headers[o] = '\0';

    /* botocore signs an x-amz-content-sha256 value as given; otherwise the
     * body's hash. */
    char body_hex[65];
    if (pay != NULL) {
        trim(&pay, &pay_len);
    } else {
        unsigned char h[32];
        if (!sha256(req->body != NULL ? req->body : "", req->body_len, h)) {
            auth_set_err(err, "SHA-256 failed");
            return AUTH_ECRYPTO;
        }
        auth_hex_encode(h, 32, body_hex);
        pay = body_hex;
        pay_len = 64;
    }
    sign_input_t in = {.names = names,
                       .n_names = n,
                       .signed_headers = signed_headers,
                       .payload_hash = pay,
                       .payload_hash_len = pay_len,
                       .amz_date = amz_date_out,
                       .amz_date_override = amz_date_out,
                       .region = region,
                       .service = service};
    char sig[65];
    auth_status_t st = compute_signature(req, &in, secret, secret_len, sig, err);
    if (st != AUTH_OK)
        return st;
    int w = snprintf(authorization_out, authorization_cap,
                     SIGV4_ALGORITHM " Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s", access_key_id,
                     amz_date_out, region, service, signed_headers, sig);
    if (w < 0 || (size_t)w >= authorization_cap) {
        if (authorization_cap > 0)
            authorization_out[0] = '\0';
        auth_set_err(err, "Authorization buffer too small (%d bytes needed)", w + 1);
        return AUTH_EMALFORMED;
    }
    return AUTH_OK;
}
