/* GET /v2/<name>/tags/list?n=&last= : a range scan in byte order. */
#include <jansson.h>
#include <string.h>

#include "server/server_internal.h"

/* Without ?n= every tag is listed, as distribution does. */
#define TAGS_DEFAULT_N SIZE_MAX

struct collect {
    json_t *array;
    char last[OCI_NAME_MAX + 1];
};

static bool collect_name(void *ctx, const char *name, size_t len)
{
    struct collect *c = ctx;
    json_array_append_new(c->array, json_stringn(name, len));
    memcpy(c->last, name, len + 1);
    return true;
}

/* Sends {"<key>":<name>?, "<list>":[...]} with a Link header when more follow. */
static void send_listing(v2_req_t *r, json_t *doc, const char *link_path, bool more, size_t n, const char *last)
{
    if (more)
        v2_add_next_link(r->req, link_path, n, last);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!body) {
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return;
    }
    v2_send_json(r->req, 200, "application/json", body, strlen(body));
    free(body);
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
    bool more = false;
    storage_err_t err;
    storage_status_t st = storage_tags_list(rd, r->name, last[0] ? last : NULL, n, collect_name, &c, &more, &err);
    storage_reader_end(rd);
    if (st != STORAGE_OK) {
        json_decref(c.array);
        v2_send_storage_error(r->req, &err, ERR_NAME_UNKNOWN);
        return 0;
    }
    json_t *doc = json_pack("{s:s,s:o}", "name", r->name, "tags", c.array);
    char path[OCI_NAME_MAX + 32];
    snprintf(path, sizeof(path), "/v2/%s/tags/list", r->name);
    send_listing(r, doc, path, more, n, c.last);
    return 0;
}

/* Without ?n= the catalog pages by 1000, as distribution does. */
#define CATALOG_DEFAULT_N 1000

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
    struct collect c = {.array = json_array()};
    bool more = false;
    storage_err_t err;
    storage_status_t st = storage_catalog_list(rd, last[0] ? last : NULL, n, collect_name, &c, &more, &err);
    storage_reader_end(rd);
    if (st != STORAGE_OK) {
        json_decref(c.array);
        v2_send_storage_error(r->req, &err, ERR_UNKNOWN);
        return 0;
    }
    send_listing(r, json_pack("{s:o}", "repositories", c.array), "/v2/_catalog", more, n, c.last);
    return 0;
}
