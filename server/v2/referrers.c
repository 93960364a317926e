/* GET /v2/<name>/referrers/<digest>[?artifactType=] : an OCI image index of
 * the manifests whose subject is <digest>. A subject nobody refers to (or an
 * unknown repository) has an empty index, not a 404, per the spec. */
#include <jansson.h>
#include <string.h>

#include "server/server_internal.h"

struct collect {
    json_t *manifests;
    const char *filter; /* NULL: all */
};

static bool collect(void *ctx, const char *artifact_type, const char *json, size_t len)
{
    struct collect *c = ctx;
    if (c->filter && strcmp(c->filter, artifact_type) != 0)
        return true;
    json_t *d = json_loadb(json, len, 0, NULL);
    if (d)
        json_array_append_new(c->manifests, d);
    return true;
}

int v2_referrers(v2_req_t *r)
{
    oci_digest_t d;
    oci_err_t oerr;
    if (oci_digest_parse(r->arg, strlen(r->arg), &d, &oerr) != OCI_OK) {
        v2_send_error(r->req, ERR_DIGEST_INVALID, oerr.msg);
        return 0;
    }
    char filter[OCI_MEDIA_TYPE_MAX];
    long flen = http_query_param(r->query, r->query_len, "artifactType", filter, sizeof(filter));
    storage_reader_t *rd = v2_reader(r);
    if (!rd)
        return 0;
    struct collect c = {.manifests = json_array(), .filter = flen >= 0 ? filter : NULL};
    storage_err_t err;
    storage_referrers_list(rd, r->name, &d, collect, &c, &err);
    storage_reader_end(rd);
    json_t *doc = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType", "application/vnd.oci.image.index.v1+json",
                            "manifests", c.manifests);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body) {
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return 0;
    }
    if (c.filter)
        v2_add_header(r->req, "oci-filters-applied", "artifactType", 12);
    v2_send_json(r->req, 200, "application/vnd.oci.image.index.v1+json", body, strlen(body));
    free(body);
    return 0;
}
