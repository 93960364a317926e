/* GET /v2/<name>/tags/list?n=&last= : a range scan in byte order. */
#include <jansson.h>
#include <string.h>

#include "server/server_internal.h"

/* Without ?n= every tag is listed, as distribution does. */
#define TAGS_DEFAULT_N SIZE_MAX

struct collect {
    json_t *array;
    bool no_memory; /* a name could not be added: the list would be short */
    char last[OCI_NAME_MAX + 1];
};

static bool collect_name(void *ctx, const char *name, size_t len)
{
    struct collect *c = ctx;
    if (json_array_append_new(c->array, json_stringn(name, len)) != 0) {
        c->no_memory = true;
        return false;
    }
    memcpy(c->last, name, len + 1);
    return true;
}

int v2_tags_list(v2_req_t *r)
{
    size_t n;
    bool has_n;
    char last[OCI_TAG_MAX + 2];
    if (!v2_pagination(r, &n, &has_n, last, sizeof(last), TAGS_DEFAULT_N))
        return 0;
    storage_reader_t *rd = v2_reader(r);
    if (!rd)
        return 0;
    struct collect c = {.array = json_array()};
    if (!c.array) {
        storage_reader_end(rd);
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return 0;
    }
    bool more = false;
    storage_err_t err;
    storage_status_t st = storage_tags_list(rd, r->name, last[0] ? last : NULL, n, collect_name, &c, &more, &err);
    storage_reader_end(rd);
    if (!v2_listing_scanned(r, c.array, c.no_memory, st, &err, ERR_NAME_UNKNOWN))
        return 0;
    json_t *doc = json_pack("{s:s,s:o}", "name", r->name, "tags", c.array);
    char path[OCI_NAME_MAX + 32];
    snprintf(path, sizeof(path), "/v2/%s/tags/list", r->name);
    v2_send_listing(r, doc, path, more, n, c.last);
    return 0;
}
