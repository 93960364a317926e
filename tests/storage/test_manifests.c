/* Manifests, tags, referrers, catalog: references, pagination, delete semantics. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "tests/storage/helpers.h"

TEST_STORE_SUITE(manifests);

static oci_manifest_t image_manifest_sized(const oci_digest_t *config, uint64_t config_size, const oci_digest_t *layer,
                                           uint64_t layer_size)
{
    static oci_descriptor_t blobs[2];
    memset(blobs, 0, sizeof(blobs));
    blobs[0].digest = *config;
    blobs[0].size = config_size;
    blobs[1].digest = *layer;
    blobs[1].size = layer_size;
    oci_manifest_t m = {.kind = OCI_MT_OCI_MANIFEST, .nblobs = 2, .blobs = blobs};
    strcpy(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    return m;
}

/* The config "{}" (2 bytes) and the layer "layer" (5 bytes) of most tests here. */
static oci_manifest_t image_manifest(const oci_digest_t *config, const oci_digest_t *layer)
{
    return image_manifest_sized(config, 2, layer, 5);
}

static storage_status_t get(const char *repo, const char *ref, char *body_out, size_t cap, char *type_out)
{
    oci_reference_t r;
    cr_assert_eq(oci_reference_parse(ref, strlen(ref), &r, NULL), OCI_OK);
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    storage_manifest_t m;
    storage_status_t s = storage_manifest_get(rd, repo, &r, &m, &err);
    if (s == STORAGE_OK) {
        cr_assert_lt(m.len, cap);
        memcpy(body_out, m.body, m.len);
        body_out[m.len] = '\0';
        if (type_out)
            strcpy(type_out, m.media_type);
    }
    storage_reader_end(rd);
    return s;
}

static storage_status_t del(const char *repo, const char *ref)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_MANIFEST_DELETE);
    strcpy(op.repo, repo);
    cr_assert_eq(oci_reference_parse(ref, strlen(ref), &op.reference, NULL), OCI_OK);
    return storage_execute(st, &op);
}

Test(manifests, a_manifest_needs_its_blobs_in_the_repository)
{
    oci_digest_t cfg, layer, md;
    cr_assert_eq(test_push_blob(st, "app", "{}", 2, &cfg), STORAGE_OK);
    test_digest("layer", 5, &layer);
    oci_manifest_t m = image_manifest(&cfg, &layer);
    cr_assert_eq(test_put_manifest(st, "app", "v1", "{\"m\":1}", &m, &md), STORAGE_REFERENCE);
    cr_assert_eq(test_push_blob(st, "other", "layer", 5, &layer), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "v1", "{\"m\":1}", &m, &md), STORAGE_REFERENCE,
                 "a blob in another repository does not count");
    cr_assert_eq(test_push_blob(st, "app", "layer", 5, &layer), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "v1", "{\"m\":1}", &m, &md), STORAGE_OK);
    char body[64], type[128];
    cr_assert_eq(get("app", "v1", body, sizeof(body), type), STORAGE_OK);
    cr_assert_str_eq(body, "{\"m\":1}");
    cr_assert_str_eq(type, "application/vnd.oci.image.manifest.v1+json");
    cr_assert_eq(get("app", md.str, body, sizeof(body), NULL), STORAGE_OK);
    cr_assert_eq(get("other", md.str, body, sizeof(body), NULL), STORAGE_NOT_FOUND);
}

Test(manifests, a_descriptor_size_must_be_the_stored_blob_size)
{
    oci_digest_t cfg, layer, md;
    cr_assert_eq(test_push_blob(st, "app", "{}", 2, &cfg), STORAGE_OK);
    cr_assert_eq(test_push_blob(st, "app", "layer", 5, &layer), STORAGE_OK);
    oci_manifest_t m = image_manifest_sized(&cfg, 1, &layer, 5);
    cr_assert_eq(test_put_manifest(st, "app", "v1", "{\"m\":1}", &m, &md), STORAGE_INVALID, "config size 1 for a 2-byte blob");
    m = image_manifest_sized(&cfg, 2, &layer, 4);
    cr_assert_eq(test_put_manifest(st, "app", "v1", "{\"m\":1}", &m, &md), STORAGE_INVALID, "layer size 4 for a 5-byte blob");
    m = image_manifest_sized(&cfg, 2, &layer, UINT64_MAX);
    cr_assert_eq(test_put_manifest(st, "app", "v1", "{\"m\":1}", &m, &md), STORAGE_INVALID);
    cr_assert_eq(get("app", "v1", (char[8]){0}, 8, NULL), STORAGE_NOT_FOUND, "nothing stored");
    m = image_manifest_sized(&cfg, 2, &layer, 5);
    cr_assert_eq(test_put_manifest(st, "app", "v1", "{\"m\":1}", &m, &md), STORAGE_OK);
}

/* The image spec lets a layer with urls (or a non-distributable type) live
 * outside the registry: it need not be pushed. When it was pushed anyway, its
 * size is checked like any other. */
Test(manifests, a_foreign_layer_needs_no_blob_but_a_pushed_one_must_match_its_size)
{
    oci_digest_t cfg, layer, md;
    cr_assert_eq(test_push_blob(st, "app", "{}", 2, &cfg), STORAGE_OK);
    test_digest("layer", 5, &layer);
    oci_manifest_t m = image_manifest(&cfg, &layer);
    m.blobs[1].foreign = true;
    cr_assert_eq(test_put_manifest(st, "app", "v1", "{\"m\":1}", &m, &md), STORAGE_OK);
    cr_assert_eq(test_push_blob(st, "app", "layer", 5, &layer), STORAGE_OK);
    m.blobs[1].size = 6;
    cr_assert_eq(test_put_manifest(st, "app", "v2", "{\"m\":2}", &m, &md), STORAGE_INVALID);
}

Test(manifests, an_index_child_size_must_be_the_stored_manifest_size)
{
    oci_manifest_t leaf = {.kind = OCI_MT_OCI_MANIFEST};
    strcpy(leaf.media_type, "application/vnd.oci.image.manifest.v1+json");
    oci_digest_t d;
    cr_assert_eq(test_put_manifest(st, "x", NULL, "{\"child\":1}", &leaf, &d), STORAGE_OK);
    oci_descriptor_t child = {.digest = d, .size = 10};
    oci_manifest_t idx = {.kind = OCI_MT_OCI_INDEX, .nmanifests = 1, .manifests = &child};
    strcpy(idx.media_type, "application/vnd.oci.image.index.v1+json");
    cr_assert_eq(test_put_manifest(st, "x", "latest", "{\"index\":1}", &idx, &d), STORAGE_INVALID, "size 10 for 11 bytes");
    child.size = 11;
    cr_assert_eq(test_put_manifest(st, "x", "latest", "{\"index\":1}", &idx, &d), STORAGE_OK);
}

Test(manifests, an_index_needs_its_child_manifests)
{
    oci_descriptor_t child = {.size = 11};
    test_digest("{\"child\":1}", 11, &child.digest);
    oci_manifest_t idx = {.kind = OCI_MT_OCI_INDEX, .nmanifests = 1, .manifests = &child};
    strcpy(idx.media_type, "application/vnd.oci.image.index.v1+json");
    oci_digest_t d;
    cr_assert_eq(test_put_manifest(st, "x", "latest", "{\"index\":1}", &idx, &d), STORAGE_REFERENCE);
    oci_manifest_t leaf = {.kind = OCI_MT_OCI_MANIFEST};
    strcpy(leaf.media_type, "application/vnd.oci.image.manifest.v1+json");
    cr_assert_eq(test_put_manifest(st, "x", NULL, "{\"child\":1}", &leaf, &d), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "x", "latest", "{\"index\":1}", &idx, &d), STORAGE_OK);
}

static bool collect(void *ctx, const char *name, size_t len)
{
    char *out = ctx;
    strncat(out, name, len);
    strcat(out, ",");
    return true;
}

Test(manifests, tags_list_in_byte_order_with_n_and_last)
{
    oci_manifest_t m = {.kind = OCI_MT_OCI_MANIFEST};
    strcpy(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    const char *tags[] = {"v2", "latest", "v10", "V1", "a"};
    oci_digest_t d;
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(test_put_manifest(st, "repo", tags[i], "{}", &m, &d), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "repo2", "zz", "{}", &m, &d), STORAGE_OK);
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    char out[256] = "";
    bool more;
    cr_assert_eq(storage_tags_list(rd, "repo", NULL, 100, collect, out, &more, &err), STORAGE_OK);
    cr_assert_str_eq(out, "V1,a,latest,v10,v2,");
    cr_assert_not(more);
    out[0] = '\0';
    cr_assert_eq(storage_tags_list(rd, "repo", NULL, 2, collect, out, &more, &err), STORAGE_OK);
    cr_assert_str_eq(out, "V1,a,");
    cr_assert(more);
    out[0] = '\0';
    cr_assert_eq(storage_tags_list(rd, "repo", "a", 2, collect, out, &more, &err), STORAGE_OK);
    cr_assert_str_eq(out, "latest,v10,");
    cr_assert(more);
    out[0] = '\0';
    cr_assert_eq(storage_tags_list(rd, "repo", "v10", 2, collect, out, &more, &err), STORAGE_OK);
    cr_assert_str_eq(out, "v2,");
    cr_assert_not(more);
    out[0] = '\0';
    cr_assert_eq(storage_tags_list(rd, "repo", "b", 0, collect, out, &more, &err), STORAGE_OK);
    cr_assert_str_eq(out, "");
    cr_assert(more, "n=0 lists nothing but says more follow");
    cr_assert_eq(storage_tags_list(rd, "nope", NULL, 10, collect, out, &more, &err), STORAGE_NOT_FOUND);
    out[0] = '\0';
    cr_assert_eq(storage_catalog_list(rd, NULL, 10, collect, out, &more, &err), STORAGE_OK);
    cr_assert_str_eq(out, "repo,repo2,");
    out[0] = '\0';
    cr_assert_eq(storage_catalog_list(rd, "repo", 10, collect, out, &more, &err), STORAGE_OK);
    cr_assert_str_eq(out, "repo2,");
    storage_reader_end(rd);
}

Test(manifests, deleting_by_digest_removes_its_tags_and_by_tag_only_the_tag)
{
    oci_manifest_t m = {.kind = OCI_MT_OCI_MANIFEST};
    strcpy(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    oci_digest_t d1, d2;
    cr_assert_eq(test_put_manifest(st, "r", "a", "{\"one\":1}", &m, &d1), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "r", "b", "{\"one\":1}", &m, &d1), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "r", "c", "{\"two\":2}", &m, &d2), STORAGE_OK);
    char body[64];
    cr_assert_eq(del("r", "a"), STORAGE_OK);
    cr_assert_eq(get("r", "a", body, sizeof(body), NULL), STORAGE_NOT_FOUND);
    cr_assert_eq(get("r", "b", body, sizeof(body), NULL), STORAGE_OK, "the other tag stays");
    cr_assert_eq(get("r", d1.str, body, sizeof(body), NULL), STORAGE_OK, "the manifest stays");
    cr_assert_eq(del("r", "a"), STORAGE_NOT_FOUND);
    cr_assert_eq(del("r", d1.str), STORAGE_OK);
    cr_assert_eq(get("r", d1.str, body, sizeof(body), NULL), STORAGE_NOT_FOUND);
    cr_assert_eq(get("r", "b", body, sizeof(body), NULL), STORAGE_NOT_FOUND, "tags on a deleted manifest go");
    cr_assert_eq(get("r", "c", body, sizeof(body), NULL), STORAGE_OK, "other manifests' tags stay");
    cr_assert_eq(del("r", d1.str), STORAGE_NOT_FOUND);
}

Test(manifests, an_overwritten_tag_leaves_the_old_manifest_by_digest)
{
    oci_manifest_t m = {.kind = OCI_MT_OCI_MANIFEST};
    strcpy(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    oci_digest_t d1, d2;
    cr_assert_eq(test_put_manifest(st, "r", "t", "{\"v\":1}", &m, &d1), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "r", "t", "{\"v\":2}", &m, &d2), STORAGE_OK);
    char body[64];
    cr_assert_eq(get("r", "t", body, sizeof(body), NULL), STORAGE_OK);
    cr_assert_str_eq(body, "{\"v\":2}");
    cr_assert_eq(get("r", d1.str, body, sizeof(body), NULL), STORAGE_OK);
    cr_assert_str_eq(body, "{\"v\":1}");
}

struct refs {
    int count;
    char types[256];
};

static bool collect_ref(void *ctx, const char *digest, size_t digest_len, const char *artifact_type, const char *json, size_t len)
{
    struct refs *r = ctx;
    (void)json;
    cr_assert_gt(digest_len, 0);
    cr_assert_eq(digest[0], 's', "a digest: sha256:…");
    cr_assert_gt(len, 0);
    r->count++;
    strcat(r->types, artifact_type);
    strcat(r->types, ";");
    return true;
}

Test(manifests, referrers_are_listed_by_subject_and_go_with_their_manifest)
{
    oci_manifest_t m = {.kind = OCI_MT_OCI_MANIFEST, .has_subject = true};
    strcpy(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    strcpy(m.artifact_type, "application/vnd.example.sbom");
    test_digest("subject", 7, &m.subject.digest);
    oci_digest_t d;
    cr_assert_eq(test_put_manifest(st, "r", NULL, "{\"sbom\":1}", &m, &d), STORAGE_OK);
    struct refs refs = {0};
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    cr_assert_eq(storage_referrers_list(rd, "r", &m.subject.digest, NULL, collect_ref, &refs, &err), STORAGE_OK);
    cr_assert_eq(refs.count, 1);
    cr_assert_str_eq(refs.types, "application/vnd.example.sbom;");
    refs.count = 0;
    cr_assert_eq(storage_referrers_list(rd, "other", &m.subject.digest, NULL, collect_ref, &refs, &err), STORAGE_OK);
    cr_assert_eq(refs.count, 0);
    storage_reader_end(rd);
    cr_assert_eq(del("r", d.str), STORAGE_OK);
    rd = storage_reader_begin(st, &err);
    refs.count = 0;
    cr_assert_eq(storage_referrers_list(rd, "r", &m.subject.digest, NULL, collect_ref, &refs, &err), STORAGE_OK);
    cr_assert_eq(refs.count, 0);
    storage_reader_end(rd);
}

struct ref_digests {
    char list[1024];   /* "d1,d2," */
    size_t stop_after; /* 0: never */
    size_t seen;
};

static bool collect_ref_digest(void *ctx, const char *digest, size_t digest_len, const char *artifact_type, const char *json,
                               size_t len)
{
    struct ref_digests *r = ctx;
    (void)artifact_type;
    (void)json;
    (void)len;
    strncat(r->list, digest, digest_len);
    strcat(r->list, ",");
    return ++r->seen != r->stop_after;
}

/* Pages of referrers: each resumes after the digest the previous one ended
 * on, so following them lists every referrer once, in digest order. */
Test(manifests, referrers_resume_after_last_in_digest_order)
{
    oci_manifest_t m = {.kind = OCI_MT_OCI_MANIFEST, .has_subject = true};
    strcpy(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    test_digest("subject", 7, &m.subject.digest);
    oci_digest_t d[3];
    const char *bodies[] = {"{\"a\":1}", "{\"a\":2}", "{\"a\":3}"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(test_put_manifest(st, "r", NULL, bodies[i], &m, &d[i]), STORAGE_OK);
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    struct ref_digests all = {.stop_after = 0};
    cr_assert_eq(storage_referrers_list(rd, "r", &m.subject.digest, NULL, collect_ref_digest, &all, &err), STORAGE_OK);
    cr_assert_eq(all.seen, 3);
    char *second = strchr(all.list, ',') + 1, *third = strchr(second, ',') + 1;
    cr_assert_lt(strncmp(all.list, second, 71), 0, "in digest order");
    cr_assert_lt(strncmp(second, third, 71), 0, "in digest order");

    struct ref_digests page = {.stop_after = 1};
    cr_assert_eq(storage_referrers_list(rd, "r", &m.subject.digest, NULL, collect_ref_digest, &page, &err), STORAGE_OK);
    char last[OCI_DIGEST_MAX + 1] = {0};
    memcpy(last, page.list, strlen(page.list) - 1);
    struct ref_digests rest = {.stop_after = 0};
    cr_assert_eq(storage_referrers_list(rd, "r", &m.subject.digest, last, collect_ref_digest, &rest, &err), STORAGE_OK);
    cr_assert_str_eq(rest.list, second, "after the first: the second and the third");

    struct ref_digests none = {.stop_after = 0};
    char third_digest[OCI_DIGEST_MAX + 1] = {0};
    memcpy(third_digest, third, strlen(third) - 1);
    cr_assert_eq(storage_referrers_list(rd, "r", &m.subject.digest, third_digest, collect_ref_digest, &none, &err), STORAGE_OK);
    cr_assert_eq(none.seen, 0, "nothing after the last");
    cr_assert_eq(storage_referrers_list(rd, "r", &m.subject.digest, "sha256:", collect_ref_digest, &none, &err), STORAGE_OK);
    cr_assert_eq(none.seen, 3, "a last before every digest lists them all");
    storage_reader_end(rd);
}

/* A callback that drops the reader's snapshot mid-listing. */
static bool release_reader(void *ctx, const char *digest, size_t digest_len, const char *artifact_type, const char *json,
                           size_t len)
{
    (void)digest, (void)digest_len, (void)artifact_type, (void)json, (void)len;
    storage_reader_release(ctx);
    return true;
}

/* A cursor that fails part-way through the referrers is an error, not the
 * end of a shorter list. */
Test(manifests, a_cursor_error_while_listing_referrers_is_reported)
{
    oci_manifest_t m = {.kind = OCI_MT_OCI_MANIFEST, .has_subject = true};
    strcpy(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    test_digest("subject", 7, &m.subject.digest);
    oci_digest_t d;
    cr_assert_eq(test_put_manifest(st, "r", NULL, "{\"a\":1}", &m, &d), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "r", NULL, "{\"a\":2}", &m, &d), STORAGE_OK);
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    cr_assert_eq(storage_referrers_list(rd, "r", &m.subject.digest, NULL, release_reader, rd, &err), STORAGE_IO);
    cr_assert(strstr(err.msg, "referrers"), "%s", err.msg);
    storage_reader_end(rd);
}
