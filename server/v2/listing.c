/* What the listings (tags, catalog) share: pagination and the Link header. */
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"

storage_reader_t *v2_reader(v2_req_t *r)
{
    if (r->rd) {
        storage_reader_t *rd = r->rd;
        r->rd = NULL;
        return rd;
    }
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(r->srv->storage, &err);
    if (!rd)
        v2_send_storage_error(r->req, &err, ERR_UNKNOWN);
    return rd;
}

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

void v2_add_next_link(h2o_req_t *req, const char *path, size_t n, const char *last)
{
    v2_add_headerf(req, "link", "<%s?n=%zu&last=%s>; rel=\"next\"", path, n, last);
}
