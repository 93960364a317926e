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

/* Sends {"<key>":<name>?, "<list>":[...]} with a Link header when more follow.
 * The Link resumes after the page's last entry, so it never names the page it
 * is on: a page of nothing (?n=0) has no Link, as distribution's catalog does,
 * since a client following one to the same page would never stop. */
static void send_listing(v2_req_t *r, json_t *doc, const char *link_path, bool more, size_t n, const char *last)
{
    if (more && n > 0 && last[0])
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

/* Keeps the repositories the caller may describe (all of them in the open mode). */
struct visible {
    struct collect c;
    v2_req_t *r;
    storage_reader_t *rd;
    size_t want, got;
    bool stopped; /* a page is full while names remain */
};

static bool collect_visible(void *ctx, const char *name, size_t len)
{
    struct visible *v = ctx;
    memcpy(v->c.last, name, len + 1); /* the scan resumes after it, shown or not */
    policy_result_t res;
    if (!v->r->srv->open && server_authorize((server_thread_t *)v->r->req->conn->ctx, v->rd, &v->r->caller, v->r->req,
                                             "ecr:DescribeRepositories", v->c.last, &res) != POLICY_ALLOW)
        return true;
    if (v->got == v->want) {
        v->stopped = true;
        return false;
    }
    json_array_append_new(v->c.array, json_stringn(name, len));
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
    struct visible v = {.c = {.array = json_array()}, .r = r, .rd = rd, .want = n};
    if (n == 0) { /* a page of nothing: no need to look */
        storage_reader_end(rd);
        send_listing(r, json_pack("{s:o}", "repositories", v.c.array), "/v2/_catalog", false, n, "");
        return 0;
    }
    /* One more than a page, so that a full page knows whether more follow;
     * hidden repositories are skipped without counting. */
    storage_err_t err;
    storage_status_t st = storage_catalog_list(rd, last[0] ? last : NULL, SIZE_MAX, collect_visible, &v, &(bool){false}, &err);
    storage_reader_end(rd);
    if (st != STORAGE_OK) {
        json_decref(v.c.array);
        v2_send_storage_error(r->req, &err, ERR_UNKNOWN);
        return 0;
    }
    const char *shown_last = v.got ? json_string_value(json_array_get(v.c.array, v.got - 1)) : "";
    char page_last[OCI_NAME_MAX + 1];
    snprintf(page_last, sizeof(page_last), "%s", shown_last);
    send_listing(r, json_pack("{s:o}", "repositories", v.c.array), "/v2/_catalog", v.stopped, n, page_last);
    return 0;
}
