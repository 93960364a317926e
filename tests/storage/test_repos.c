/* Repositories as wholes: create with settings, delete with everything in
 * one commit (force), refusal of a non-empty delete, tag immutability. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tests/storage/helpers.h"

TEST_STORE_SUITE(repos);

static oci_descriptor_t blobs[2];

/* Pushes config "{}" and layer `layer` into repo and returns their manifest. */
static oci_manifest_t image(const char *repo, const char *layer)
{
    oci_digest_t c, l;
    cr_assert_eq(test_push_blob(st, repo, "{}", 2, &c), STORAGE_OK);
    cr_assert_eq(test_push_blob(st, repo, layer, strlen(layer), &l), STORAGE_OK);
    memset(blobs, 0, sizeof(blobs));
    blobs[0].digest = c;
    blobs[0].size = 2;
    blobs[1].digest = l;
    blobs[1].size = strlen(layer);
    oci_manifest_t m = {.kind = OCI_MT_OCI_MANIFEST, .nblobs = 2, .blobs = blobs};
    strcpy(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    return m;
}

static storage_status_t settings(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    const char *v = ctx;
    if (strcmp(v, "fail") == 0)
        return STORAGE_INVALID;
    return strcmp(v, "del") == 0 ? storage_record_del(rs, "test", "settings", err)
                                 : storage_record_put(rs, "test", "settings", v, strlen(v), false, err);
}

static storage_status_t repo_op(storage_op_kind_t kind, const char *repo, unsigned flags, const char *records, uint64_t *count)
{
    storage_op_t op;
    storage_op_init(&op, kind);
    snprintf(op.repo, sizeof(op.repo), "%s", repo);
    op.flags = flags;
    if (records) {
        op.records_fn = settings;
        op.records_ctx = (void *)records;
    }
    storage_status_t s = storage_execute(st, &op);
    if (count)
        *count = op.result_offset;
    return s;
}

static bool exists(const char *repo)
{
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    bool e = storage_repo_exists(rd, repo);
    storage_reader_end(rd);
    return e;
}

static bool has_settings(void)
{
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    const void *v;
    size_t n;
    bool found = storage_record_get(storage_reader_records(rd), "test", "settings", &v, &n, NULL) == STORAGE_OK;
    storage_reader_end(rd);
    return found;
}

static storage_status_t get(const char *repo, const char *ref)
{
    oci_reference_t r;
    cr_assert_eq(oci_reference_parse(ref, strlen(ref), &r, NULL), OCI_OK);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    storage_manifest_t m;
    storage_status_t s = storage_manifest_get(rd, repo, &r, &m, NULL);
    storage_reader_end(rd);
    return s;
}

Test(repos, create_writes_the_repository_and_its_settings_in_one_commit_and_refuses_a_second)
{
    uint64_t before = (uint64_t)time(NULL);
    cr_assert_eq(repo_op(STORAGE_OP_REPO_CREATE, "team/app", 0, "MUTABLE", NULL), STORAGE_OK);
    cr_assert(exists("team/app"));
    cr_assert(has_settings());
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    uint64_t at = 0;
    cr_assert_eq(storage_repo_created_at(rd, "team/app", &at, NULL), STORAGE_OK);
    cr_assert_geq(at, before);
    cr_assert_eq(storage_repo_created_at(rd, "team", &at, NULL), STORAGE_NOT_FOUND);
    storage_reader_end(rd);
    cr_assert_eq(repo_op(STORAGE_OP_REPO_CREATE, "team/app", 0, NULL, NULL), STORAGE_EXISTS);
    /* a failing closure undoes the creation */
    cr_assert_eq(repo_op(STORAGE_OP_REPO_CREATE, "other", 0, "fail", NULL), STORAGE_INVALID);
    cr_assert_not(exists("other"));
}

Test(repos, delete_refuses_a_repository_holding_images_unless_forced)
{
    oci_manifest_t m = image("app", "layer");
    oci_digest_t d;
    cr_assert_eq(test_put_manifest(st, "app", "v1", "{\"m\":1}", &m, &d), STORAGE_OK);
    cr_assert_eq(repo_op(STORAGE_OP_REPO_DELETE, "app", 0, NULL, NULL), STORAGE_INVALID);
    cr_assert(exists("app"));
    cr_assert_eq(get("app", "v1"), STORAGE_OK);
    cr_assert_eq(repo_op(STORAGE_OP_REPO_DELETE, "nope", STORAGE_OP_FORCE, NULL, NULL), STORAGE_NOT_FOUND);
}

Test(repos, an_empty_repository_is_deleted_without_force)
{
    cr_assert_eq(repo_op(STORAGE_OP_REPO_CREATE, "empty", 0, NULL, NULL), STORAGE_OK);
    cr_assert_eq(repo_op(STORAGE_OP_REPO_DELETE, "empty", 0, NULL, NULL), STORAGE_OK);
    cr_assert_not(exists("empty"));
}

Test(repos, forced_delete_removes_tags_manifests_links_referrers_and_records_but_not_a_neighbour)
{
    oci_manifest_t m = image("a", "layer-a");
    oci_digest_t d1, d2, dn;
    cr_assert_eq(test_put_manifest(st, "a", "v1", "{\"m\":1}", &m, &d1), STORAGE_OK);
    oci_manifest_t r = m;
    r.has_subject = true;
    r.subject.digest = d1;
    cr_assert_eq(test_put_manifest(st, "a", NULL, "{\"sig\":1}", &r, &d2), STORAGE_OK);
    /* "a/b" and "a-b" share a's name as a prefix: they must stay */
    oci_manifest_t n = image("a/b", "layer-a");
    cr_assert_eq(test_put_manifest(st, "a/b", "v1", "{\"m\":1}", &n, &dn), STORAGE_OK);
    n = image("a-b", "layer-b");
    cr_assert_eq(test_put_manifest(st, "a-b", "v1", "{\"m\":2}", &n, &dn), STORAGE_OK);
    cr_assert_eq(repo_op(STORAGE_OP_REPO_CREATE, "settings-holder", 0, "x", NULL), STORAGE_OK);
    uint64_t count = 0;
    cr_assert_eq(repo_op(STORAGE_OP_REPO_DELETE, "a", STORAGE_OP_FORCE, "del", &count), STORAGE_OK);
    cr_assert_eq(count, 2);
    cr_assert_not(exists("a"));
    cr_assert_not(has_settings(), "the closure ran in the delete's transaction");
    cr_assert_eq(get("a", "v1"), STORAGE_NOT_FOUND);
    cr_assert_eq(get("a", d1.str), STORAGE_NOT_FOUND);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    storage_blob_t b;
    cr_assert_eq(storage_blob_stat(rd, "a", &blobs[1].digest, &b, NULL), STORAGE_NOT_FOUND, "links gone");
    cr_assert_eq(storage_blob_stat(rd, NULL, &blobs[1].digest, &b, NULL), STORAGE_OK, "the blob waits for collection");
    storage_reader_end(rd);
    cr_assert_eq(get("a/b", "v1"), STORAGE_OK);
    cr_assert_eq(get("a-b", "v1"), STORAGE_OK);
    /* the name can be used again, empty */
    cr_assert_eq(repo_op(STORAGE_OP_REPO_CREATE, "a", 0, NULL, NULL), STORAGE_OK);
    cr_assert_eq(get("a", "v1"), STORAGE_NOT_FOUND);
}

Test(repos, a_failing_closure_undoes_the_whole_delete)
{
    oci_manifest_t m = image("a", "layer");
    oci_digest_t d;
    cr_assert_eq(test_put_manifest(st, "a", "v1", "{\"m\":1}", &m, &d), STORAGE_OK);
    cr_assert_eq(repo_op(STORAGE_OP_REPO_DELETE, "a", STORAGE_OP_FORCE, "fail", NULL), STORAGE_INVALID);
    cr_assert(exists("a"));
    cr_assert_eq(get("a", "v1"), STORAGE_OK);
}

static storage_status_t put_tag(const char *repo, const char *tag, const char *body, oci_manifest_t *m, bool immutable)
{
    oci_digest_t d;
    test_digest(body, strlen(body), &d);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_MANIFEST_PUT);
    snprintf(op.repo, sizeof(op.repo), "%s", repo);
    snprintf(op.tag, sizeof(op.tag), "%s", tag);
    op.digest = d;
    op.data = body;
    op.len = strlen(body);
    op.manifest = m;
    op.flags = immutable ? STORAGE_OP_IMMUTABLE_TAG : 0;
    storage_status_t s = storage_execute(st, &op);
    if (s == STORAGE_EXISTS)
        cr_assert(strstr(op.err.msg, tag) && strstr(op.err.msg, "immutable"), "%s", op.err.msg);
    return s;
}

Test(repos, an_immutable_tag_is_not_moved_but_the_same_digest_may_be_pushed_again)
{
    oci_manifest_t m = image("app", "layer");
    cr_assert_eq(put_tag("app", "v1", "{\"m\":1}", &m, true), STORAGE_OK, "a new tag");
    cr_assert_eq(put_tag("app", "v1", "{\"m\":1}", &m, true), STORAGE_OK, "the same digest again");
    cr_assert_eq(put_tag("app", "v1", "{\"m\":2}", &m, true), STORAGE_EXISTS, "a move");
    cr_assert_eq(get("app", "v1"), STORAGE_OK);
    oci_digest_t d2;
    test_digest("{\"m\":2}", 7, &d2);
    cr_assert_eq(get("app", d2.str), STORAGE_NOT_FOUND, "the refused manifest was not stored");
    cr_assert_eq(put_tag("app", "v1", "{\"m\":2}", &m, false), STORAGE_OK, "a mutable push moves it");
}

/* Collects "digest-prefix:pushed_at>0" per image into a string. */
static bool collect_image(void *ctx, const storage_image_t *im)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 1024 - n, "%.12s(%zu)%s ", im->digest, im->len, im->pushed_at > 0 ? "" : "!");
    return true;
}

static bool collect_tag(void *ctx, const char *tag, const char *digest)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 1024 - n, "%s=%.12s ", tag, digest);
    return true;
}

static void listing(const char *repo, const char *after, char *images, char *tags)
{
    images[0] = tags[0] = '\0';
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    cr_assert_eq(storage_images_list(rd, repo, after, collect_image, images, NULL), STORAGE_OK);
    cr_assert_eq(storage_tag_entries(rd, repo, collect_tag, tags, NULL), STORAGE_OK);
    storage_reader_end(rd);
}

Test(repos, images_list_in_digest_order_after_a_digest_and_tags_with_their_digests)
{
    oci_manifest_t m = image("app", "layer");
    oci_digest_t d[3];
    const char *bodies[3] = {"{\"m\":1}", "{\"m\":22}", "{\"m\":333}"};
    const char *tags[3] = {"b", "a", NULL};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(test_put_manifest(st, "app", tags[i], bodies[i], &m, &d[i]), STORAGE_OK);
    oci_manifest_t n = image("app/x", "layer");
    oci_digest_t other;
    cr_assert_eq(test_put_manifest(st, "app/x", "z", "{\"other\":1}", &n, &other), STORAGE_OK);
    /* the expected order is the digests' */
    const oci_digest_t *sorted[3] = {&d[0], &d[1], &d[2]};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (strcmp(sorted[j]->str, sorted[i]->str) < 0) {
                const oci_digest_t *t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
    char want[1024] = "", images[1024], tagl[1024];
    for (int i = 0; i < 3; i++) {
        size_t len = sorted[i] == &d[0] ? 7 : sorted[i] == &d[1] ? 8 : 9;
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%.12s(%zu) ", sorted[i]->str, len);
    }
    listing("app", NULL, images, tagl);
    cr_assert_str_eq(images, want);
    char want_tags[256];
    snprintf(want_tags, sizeof(want_tags), "a=%.12s b=%.12s ", d[1].str, d[0].str);
    cr_assert_str_eq(tagl, want_tags);
    listing("app", sorted[1]->str, images, tagl);
    snprintf(want, sizeof(want), "%.12s(%zu) ", sorted[2]->str,
             sorted[2] == &d[0]   ? (size_t)7
             : sorted[2] == &d[1] ? (size_t)8
                                  : (size_t)9);
    cr_assert_str_eq(images, want);
    listing("nope", NULL, images, tagl);
    cr_assert_str_eq(images, "");
    cr_assert_str_eq(tagl, "");
}

static storage_status_t images_delete(const char *repo, const char *const *refs, size_t n, storage_image_ref_t *out)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_IMAGES_DELETE);
    snprintf(op.repo, sizeof(op.repo), "%s", repo);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(oci_reference_parse(refs[i], strlen(refs[i]), &out[i].ref, NULL), OCI_OK);
    op.images = out;
    op.nimages = n;
    return storage_execute(st, &op);
}

Test(repos, images_delete_drops_a_tag_alone_the_image_with_its_last_tag_and_a_digest_with_its_tags)
{
    oci_manifest_t m = image("app", "layer");
    oci_digest_t d1, d2, d3;
    cr_assert_eq(test_put_manifest(st, "app", "one", "{\"m\":1}", &m, &d1), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "uno", "{\"m\":1}", &m, &d1), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "two", "{\"m\":2}", &m, &d2), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "three", "{\"m\":3}", &m, &d3), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "tres", "{\"m\":3}", &m, &d3), STORAGE_OK);
    storage_image_ref_t out[4];
    memset(out, 0, sizeof(out));
    const char *refs[4] = {"one", "two", d3.str, "missing"};
    cr_assert_eq(images_delete("app", refs, 4, out), STORAGE_OK);
    cr_assert_eq(out[0].status, STORAGE_OK);
    cr_assert_str_eq(out[0].digest.str, d1.str);
    cr_assert_eq(out[1].status, STORAGE_OK);
    cr_assert_eq(out[2].status, STORAGE_OK);
    cr_assert_eq(out[3].status, STORAGE_NOT_FOUND);
    cr_assert_eq(get("app", "one"), STORAGE_NOT_FOUND);
    cr_assert_eq(get("app", "uno"), STORAGE_OK, "another tag keeps the image");
    cr_assert_eq(get("app", d1.str), STORAGE_OK);
    cr_assert_eq(get("app", d2.str), STORAGE_NOT_FOUND, "its last tag took the image");
    cr_assert_eq(get("app", d3.str), STORAGE_NOT_FOUND);
    cr_assert_eq(get("app", "tres"), STORAGE_NOT_FOUND, "a digest takes its tags");
    memset(out, 0, sizeof(out));
    const char *again[1] = {d3.str};
    cr_assert_eq(images_delete("app", again, 1, out), STORAGE_OK);
    cr_assert_eq(out[0].status, STORAGE_NOT_FOUND);
}

Test(repos, images_delete_keeps_what_an_index_that_stays_references)
{
    oci_manifest_t m = image("app", "layer");
    oci_digest_t c1, c2, other, idx;
    cr_assert_eq(test_put_manifest(st, "app", "", "{\"m\":1}", &m, &c1), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "two", "{\"m\":2}", &m, &c2), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "", "{\"m\":3}", &m, &other), STORAGE_OK);
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
             "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":7},"
             "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":7}]}",
             c1.str, c2.str);
    oci_manifest_t index;
    cr_assert_eq(oci_manifest_parse(body, strlen(body), NULL, 0, &index, NULL), OCI_OK);
    cr_assert_eq(test_put_manifest(st, "app", "multi", body, &index, &idx), STORAGE_OK);
    oci_manifest_free(&index);

    /* by digest: refused (ECR's ImageReferencedByManifestList), the others of the batch go */
    storage_image_ref_t out[2];
    memset(out, 0, sizeof(out));
    const char *first[2] = {c1.str, other.str};
    cr_assert_eq(images_delete("app", first, 2, out), STORAGE_OK);
    cr_assert_eq(out[0].status, STORAGE_REFERENCE);
    cr_assert_eq(out[1].status, STORAGE_OK);
    cr_assert_eq(get("app", c1.str), STORAGE_OK, "the index still finds its child");
    cr_assert_eq(get("app", other.str), STORAGE_NOT_FOUND);
    /* by its last tag: the tag goes, the image stays */
    memset(out, 0, sizeof(out));
    const char *tag[1] = {"two"};
    cr_assert_eq(images_delete("app", tag, 1, out), STORAGE_OK);
    cr_assert_eq(out[0].status, STORAGE_OK);
    cr_assert_eq(get("app", "two"), STORAGE_NOT_FOUND);
    cr_assert_eq(get("app", c2.str), STORAGE_OK, "an image an index references outlives its last tag");
    /* with the index in the same batch, after its children: all go */
    memset(out, 0, sizeof(out));
    const char *all[2] = {c1.str, idx.str};
    cr_assert_eq(images_delete("app", all, 2, out), STORAGE_OK);
    cr_assert_eq(out[0].status, STORAGE_OK);
    cr_assert_eq(out[1].status, STORAGE_OK);
    cr_assert_eq(get("app", c1.str), STORAGE_NOT_FOUND);
    cr_assert_eq(get("app", "multi"), STORAGE_NOT_FOUND);
    memset(out, 0, sizeof(out));
    const char *last[1] = {c2.str};
    cr_assert_eq(images_delete("app", last, 1, out), STORAGE_OK);
    cr_assert_eq(out[0].status, STORAGE_OK, "once the index is gone, so may its children");
}

Test(repos, images_delete_of_a_digest_and_then_its_tag_finds_the_tag_gone_with_it)
{
    oci_manifest_t m = image("app", "layer");
    oci_digest_t d, keep;
    cr_assert_eq(test_put_manifest(st, "app", "a", "{\"m\":1}", &m, &d), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "b", "{\"m\":1}", &m, &d), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "c", "{\"m\":2}", &m, &keep), STORAGE_OK);
    storage_image_ref_t out[4];
    memset(out, 0, sizeof(out));
    const char *refs[4] = {d.str, "a", d.str, "c"};
    cr_assert_eq(images_delete("app", refs, 4, out), STORAGE_OK);
    cr_assert_eq(out[0].status, STORAGE_OK);
    cr_assert_eq(out[1].status, STORAGE_NOT_FOUND, "the tag went with its image");
    cr_assert_eq(out[2].status, STORAGE_NOT_FOUND, "deleted once");
    cr_assert_eq(out[3].status, STORAGE_OK);
    cr_assert_eq(get("app", "a"), STORAGE_NOT_FOUND);
    cr_assert_eq(get("app", "b"), STORAGE_NOT_FOUND);
    cr_assert_eq(get("app", keep.str), STORAGE_NOT_FOUND, "its last tag took it");
}

Test(repos, images_delete_if_tags_unchanged_spares_an_image_whose_tags_changed)
{
    oci_manifest_t m = image("app", "layer");
    oci_digest_t d1, d2, d3;
    cr_assert_eq(test_put_manifest(st, "app", "", "{\"m\":1}", &m, &d1), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "", "{\"m\":2}", &m, &d2), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "rel-3", "{\"m\":3}", &m, &d3), STORAGE_OK);
    /* evaluated untagged, d2 since tagged: it stays; d1 (untagged) and d3 (one tag, as seen) go */
    cr_assert_eq(test_put_manifest(st, "app", "promoted", "{\"m\":2}", &m, &d2), STORAGE_OK);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_IMAGES_DELETE);
    snprintf(op.repo, sizeof(op.repo), "app");
    op.flags = STORAGE_OP_IF_TAGS_UNCHANGED;
    storage_image_ref_t out[3];
    memset(out, 0, sizeof(out));
    const oci_digest_t *ds[3] = {&d1, &d2, &d3};
    const uint32_t seen[3] = {0, 0, 1};
    for (int i = 0; i < 3; i++) {
        out[i].ref.is_digest = true;
        out[i].ref.digest = *ds[i];
        out[i].tags = seen[i];
    }
    out[2].tag_set = storage_tag_set_add(0, "rel-3");
    op.images = out;
    op.nimages = 3;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
    cr_assert_eq(out[0].status, STORAGE_OK);
    cr_assert_eq(out[1].status, STORAGE_INVALID);
    cr_assert_eq(out[2].status, STORAGE_OK);
    cr_assert_eq(get("app", d1.str), STORAGE_NOT_FOUND);
    cr_assert_eq(get("app", "promoted"), STORAGE_OK, "the image tagged after its evaluation stays, with its tag");
    cr_assert_eq(get("app", d3.str), STORAGE_NOT_FOUND);
    cr_assert_eq(get("app", "rel-3"), STORAGE_NOT_FOUND);
}

Test(repos, images_delete_if_tags_unchanged_spares_an_image_whose_tags_were_swapped)
{
    oci_manifest_t m = image("app", "layer");
    oci_digest_t x, y;
    cr_assert_eq(test_put_manifest(st, "app", "old", "{\"m\":1}", &m, &x), STORAGE_OK);
    /* evaluated with its one tag "old"; then "old" moved to another image and "prod"
     * was pushed onto it: one tag still, but not the one evaluated */
    cr_assert_eq(test_put_manifest(st, "app", "old", "{\"m\":2}", &m, &y), STORAGE_OK);
    cr_assert_eq(test_put_manifest(st, "app", "prod", "{\"m\":1}", &m, &x), STORAGE_OK);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_IMAGES_DELETE);
    snprintf(op.repo, sizeof(op.repo), "app");
    op.flags = STORAGE_OP_IF_TAGS_UNCHANGED;
    storage_image_ref_t out[1];
    memset(out, 0, sizeof(out));
    out[0].ref.is_digest = true;
    out[0].ref.digest = x;
    out[0].tags = 1;
    out[0].tag_set = storage_tag_set_add(0, "old");
    op.images = out;
    op.nimages = 1;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
    cr_assert_eq(out[0].status, STORAGE_INVALID);
    cr_assert_eq(get("app", "prod"), STORAGE_OK, "the tag pushed after the evaluation stays, with its image");
    /* as evaluated now ("prod"): it goes */
    out[0].tag_set = storage_tag_set_add(0, "prod");
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
    cr_assert_eq(out[0].status, STORAGE_OK);
    cr_assert_eq(get("app", "prod"), STORAGE_NOT_FOUND);
    cr_assert_eq(storage_tag_set_add(storage_tag_set_add(0, "a"), "b"), storage_tag_set_add(storage_tag_set_add(0, "b"), "a"),
                 "a set: the order of its tags does not count");
}

Test(repos, an_update_runs_only_while_the_repository_exists)
{
    cr_assert_eq(repo_op(STORAGE_OP_REPO_UPDATE, "later", 0, "x", NULL), STORAGE_NOT_FOUND);
    cr_assert_not(has_settings(), "nothing written for a missing repository");
    cr_assert_eq(repo_op(STORAGE_OP_REPO_CREATE, "later", 0, NULL, NULL), STORAGE_OK);
    cr_assert_eq(repo_op(STORAGE_OP_REPO_UPDATE, "later", 0, "x", NULL), STORAGE_OK);
    cr_assert(has_settings());
    cr_assert_eq(repo_op(STORAGE_OP_REPO_UPDATE, "later", 0, NULL, NULL), STORAGE_INVALID, "an update needs its closure");
}
