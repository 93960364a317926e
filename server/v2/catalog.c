/* GET /v2/_catalog?n=&last= : the repositories the caller may describe, in
 * byte order. */
#include <jansson.h>
#include <string.h>

#include "server/server_internal.h"

/* Without ?n= the catalog pages by 1000, as distribution does. */
#define CATALOG_DEFAULT_N 1000

/* Keeps the repositories the caller may describe (all of them in the open mode). */
struct visible {
    json_t *array;
    char last[OCI_NAME_MAX + 1]; /* the last name scanned, shown or not */
    v2_req_t *r;
    storage_reader_t *rd;
    size_t want, got;
    bool stopped;   /* a page is full while names remain */
    bool no_memory; /* a name could not be added: the page would be short */
};

static bool collect_visible(void *ctx, const char *name, size_t len)
{
    struct visible *v = ctx;
    memcpy(v->last, name, len + 1); /* the scan resumes after it, shown or not */
    policy_result_t res;
    if (!v->r->srv->open && server_authorize((server_thread_t *)v->r->req->conn->ctx, v->rd, &v->r->caller, v->r->req,
                                             "ecr:DescribeRepositories", v->last, &res) != POLICY_ALLOW)
        return true;
    if (v->got == v->want) {
        v->stopped = true;
        return false;
    }
    if (json_array_append_new(v->array, json_stringn(name, len)) != 0) {
        v->no_memory = true;
        return false;
    }
    v->got++;
    return true;
}

int v2_catalog(v2_req_t *r)
{
    size_t n;
    bool has_n;
    char last[OCI_NAME_MAX + 2];
    if (!v2_pagination(r, &n, &has_n, last, sizeof(last), CATALOG_DEFAULT_N))
        return 0;
    storage_reader_t *rd = v2_reader(r);
    if (!rd)
        return 0;
    struct visible v = {.array = json_array(), .r = r, .rd = rd, .want = n};
    if (!v.array) {
        storage_reader_end(rd);
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return 0;
    }
    if (n == 0) { /* a page of nothing: no need to look */
        storage_reader_end(rd);
        v2_send_listing(r, json_pack("{s:o}", "repositories", v.array), "/v2/_catalog", false, n, "");
        return 0;
    }
    /* Names are scanned until a page is full and one more visible name
     * shows that more follow; hidden repositories are skipped without counting. */
    storage_err_t err;
    storage_status_t st = storage_catalog_list(rd, last[0] ? last : NULL, SIZE_MAX, collect_visible, &v, &(bool){false}, &err);
    storage_reader_end(rd);
    if (!v2_listing_scanned(r, v.array, v.no_memory, st, &err, ERR_UNKNOWN))
        return 0;
    const char *shown_last = v.got ? json_string_value(json_array_get(v.array, v.got - 1)) : "";
    char page_last[OCI_NAME_MAX + 1];
    snprintf(page_last, sizeof(page_last), "%s", shown_last);
    v2_send_listing(r, json_pack("{s:o}", "repositories", v.array), "/v2/_catalog", v.stopped, n, page_last);
    return 0;
}
