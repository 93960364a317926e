/* GET /v2/<name>/referrers/<digest>[?artifactType=&n=&last=] : an OCI image
 * index of the manifests whose subject is <digest>. A subject nobody refers to
 * (or an unknown repository) has an empty index, not a 404, per the spec.
 *
 * The index is paged, as the spec allows ("a Link header MUST be included in
 * the response when the descriptor list cannot be returned in a single
 * manifest ... with the Relation Type rel=\"next\""): n/last like tags/list,
 * `last` being the digest of the previous page's last referrer. A page is
 * bounded in count and in bytes, because a descriptor carries its manifest's
 * annotations (up to the 4 MiB manifest limit): 30 such referrers and 4
 * concurrent GETs once took the server from 59 to 745 MiB. The stored
 * descriptors are compact JSON written by manifests.c, so a page is their bytes
 * copied once into the request's pool, never parsed or re-serialised. */
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"

/* The most descriptors a page lists, and the page size without ?n= (a larger
 * n is lowered to it): subjects rarely have more (signatures, SBOMs,
 * attestations), and more than that are reached through Link. */
#define REFERRERS_PAGE_MAX_N 100
/* A page stops before its descriptors pass this many bytes, unless it would be
 * empty: one descriptor always goes out, alone if need be (its annotations
 * are bounded by OCI_MANIFEST_MAX_BYTES). So a request holds at most about
 * 1 MiB + one descriptor, however many referrers a subject has. */
#define REFERRERS_PAGE_BYTES ((size_t)1 << 20)

static const char INDEX_HEAD[] = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[";
static const char INDEX_TAIL[] = "]}";

struct page {
    const char *filter; /* NULL: all */
    size_t want;        /* n, at most REFERRERS_PAGE_MAX_N */
    size_t count;
    size_t bytes; /* of the descriptors, plus a ',' each */
    bool more;    /* a matching referrer is left for the next page */
    h2o_iovec_t items[REFERRERS_PAGE_MAX_N];
    h2o_iovec_t last; /* digest of the page's last referrer */
};

/* Takes referrers (pointers into the snapshot) until the page is full. */
static bool collect(void *ctx, const char *digest, size_t digest_len, const char *artifact_type, const char *json, size_t len)
{
    struct page *p = ctx;
    if (p->filter && strcmp(p->filter, artifact_type) != 0)
        return true;
    if (p->count == p->want || (p->count > 0 && p->bytes + len + 1 > REFERRERS_PAGE_BYTES)) {
        p->more = true;
        return false;
    }
    p->items[p->count++] = h2o_iovec_init(json, len);
    p->bytes += len + 1;
    p->last = h2o_iovec_init(digest, digest_len);
    return true;
}

/* Appends s percent-encoded (all but RFC 3986 unreserved) at *o. */
static char *percent_encode(char *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    return o;
}

/* Link: </v2/<name>/referrers/<subject>?n=<n>&last=<digest>[&artifactType=<filter>]>; rel="next".
 * The filter goes along, so every page of a filtered listing is filtered. */
static void add_next_link(v2_req_t *r, const oci_digest_t *subject, const struct page *p)
{
    size_t flen = p->filter ? strlen(p->filter) : 0;
    size_t cap = strlen(r->name) + subject->len + 3 * p->last.len + 3 * flen + 96;
    char *buf = h2o_mem_alloc_pool(&r->req->pool, cap), *o = buf;
    o += snprintf(o, cap, "</v2/%s/referrers/%s?n=%zu&last=", r->name, subject->str, p->want);
    o = percent_encode(o, p->last.base, p->last.len);
    if (p->filter) {
        memcpy(o, "&artifactType=", 14);
        o = percent_encode(o + 14, p->filter, flen);
    }
    memcpy(o, ">; rel=\"next\"", 13);
    o += 13;
    h2o_add_header_by_str(&r->req->pool, &r->req->res.headers, H2O_STRLIT("link"), 0, NULL, buf, (size_t)(o - buf));
}

int v2_referrers(v2_req_t *r)
{
    oci_digest_t d;
    oci_err_t oerr;
    if (oci_digest_parse(r->arg, strlen(r->arg), &d, &oerr) != OCI_OK) {
        v2_send_error(r->req, ERR_DIGEST_INVALID, oerr.msg);
        return 0;
    }
    size_t n;
    bool has_n;
    char last[OCI_DIGEST_MAX + 2];
    if (!v2_pagination(r, &n, &has_n, last, sizeof(last), REFERRERS_PAGE_MAX_N))
        return 0;
    char filter[OCI_MEDIA_TYPE_MAX];
    long flen = http_query_param(r->query, r->query_len, "artifactType", filter, sizeof(filter));
    struct page p = {.filter = flen >= 0 ? filter : NULL, .want = n < REFERRERS_PAGE_MAX_N ? n : REFERRERS_PAGE_MAX_N};
    storage_reader_t *rd = v2_reader(r);
    if (!rd)
        return 0;
    storage_err_t err;
    storage_status_t st = p.want ? storage_referrers_list(rd, r->name, &d, last, collect, &p, &err) : STORAGE_OK;
    if (st != STORAGE_OK) {
        storage_reader_end(rd);
        v2_send_storage_error(r->req, &err, ERR_UNKNOWN);
        return 0;
    }
    /* One copy of the page into the pool, before the snapshot ends. */
    size_t len = sizeof(INDEX_HEAD) - 1 + p.bytes + sizeof(INDEX_TAIL) - 1;
    char *body = h2o_mem_alloc_pool(&r->req->pool, len), *o = body;
    memcpy(o, INDEX_HEAD, sizeof(INDEX_HEAD) - 1);
    o += sizeof(INDEX_HEAD) - 1;
    for (size_t i = 0; i < p.count; i++) {
        if (i)
            *o++ = ',';
        memcpy(o, p.items[i].base, p.items[i].len);
        o += p.items[i].len;
    }
    memcpy(o, INDEX_TAIL, sizeof(INDEX_TAIL) - 1);
    o += sizeof(INDEX_TAIL) - 1;
    /* the Link's last points into the snapshot too */
    if (p.more)
        add_next_link(r, &d, &p);
    storage_reader_end(rd);
    if (p.filter)
        v2_add_header(r->req, "oci-filters-applied", "artifactType", 12);
    v2_send_json_pooled(r->req, 200, "application/vnd.oci.image.index.v1+json", h2o_iovec_init(body, (size_t)(o - body)));
    return 0;
}
