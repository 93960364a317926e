/* What the listings (tags, catalog) share: pagination, the check after the scan and the Link header. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

bool v2_pagination(v2_req_t *r, size_t *n, bool *has_n, char *last, size_t last_cap, size_t default_n)
{
    char buf[32];
    long len = http_query_param(r->query, r->query_len, "n", buf, sizeof(buf));
    uint64_t v = default_n;
    *has_n = len >= 0;
    if (len == -2 || (len >= 0 && !http_parse_u64(buf, (size_t)len, &v))) {
        v2_send_error(r->req, ERR_PAGINATION_NUMBER_INVALID, "n must be a non-negative integer");
        return false;
    }
    *n = v > SIZE_MAX ? SIZE_MAX : (size_t)v;
    len = http_query_param(r->query, r->query_len, "last", last, last_cap);
    if (len == -2) {
        v2_send_error(r->req, ERR_PAGINATION_NUMBER_INVALID, "last is malformed or too long");
        return false;
    }
    if (len < 0)
        last[0] = '\0';
    return true;
}

static void add_next_link(h2o_req_t *req, const char *path, size_t n, const char *last)
{
    v2_add_headerf(req, "link", "<%s?n=%zu&last=%s>; rel=\"next\"", path, n, last);
}

/* The Link resumes after the page's last entry, so it never names the page it
 * is on: a page of nothing (?n=0) has no Link, as distribution's catalog does,
 * since a client following one to the same page would never stop. */
void v2_send_listing(v2_req_t *r, json_t *doc, const char *link_path, bool more, size_t n, const char *last)
{
    if (more && n > 0 && last[0])
        add_next_link(r->req, link_path, n, last);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!body) {
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return;
    }
    v2_send_json(r->req, 200, "application/json", body, strlen(body));
    free(body);
}

bool v2_listing_scanned(v2_req_t *r, json_t *array, bool no_memory, storage_status_t st, const storage_err_t *err,
                        v2_error_t not_found)
{
    if (no_memory) { /* never a 200 with a shortened list */
        json_decref(array);
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return false;
    }
    if (st != STORAGE_OK) {
        json_decref(array);
        v2_send_storage_error(r->req, err, not_found);
        return false;
    }
    return true;
}
