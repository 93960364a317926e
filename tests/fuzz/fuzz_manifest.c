/*
 * tests/fuzz/fuzz_manifest.c — manifest documents. The input is the body; it is
 * parsed once per Content-Type a client may send (none, each manifest type, a
 * parameterised one, a non-manifest one), and every success is checked for the
 * promises oci.h makes about what it hands back.
 */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_check.h"
#include "oci/oci.h"

static const char *const content_types[] = {
    NULL,
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
    "application/octet-stream",
};

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static void check_descriptor(const oci_descriptor_t *d)
{
    oci_digest_t back;
    FUZZ_CHECK(d->digest.alg == OCI_ALG_SHA256 || d->digest.alg == OCI_ALG_SHA512);
    FUZZ_CHECK(oci_digest_parse(d->digest.str, d->digest.len, &back, NULL) == OCI_OK);
    FUZZ_CHECK(strcmp(back.str, d->digest.str) == 0);
    FUZZ_CHECK(terminated(d->media_type, sizeof(d->media_type)) && d->media_type[0] != '\0');
    FUZZ_CHECK(terminated(d->artifact_type, sizeof(d->artifact_type)));
    FUZZ_CHECK(d->size <= INT64_MAX);
    for (const char *p = d->media_type; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f); /* safe to put in a header */
}

static void check_success(const oci_manifest_t *m)
{
    bool image = m->kind == OCI_MT_OCI_MANIFEST || m->kind == OCI_MT_DOCKER_MANIFEST;
    bool index = m->kind == OCI_MT_OCI_INDEX || m->kind == OCI_MT_DOCKER_LIST;
    FUZZ_CHECK(image || index);
    FUZZ_CHECK(strcmp(m->media_type, oci_media_kind_name(m->kind)) == 0);
    FUZZ_CHECK(terminated(m->artifact_type, sizeof(m->artifact_type)));
    if (image) {
        FUZZ_CHECK(m->nblobs >= 1 && m->blobs != NULL && m->nmanifests == 0 && m->manifests == NULL);
    } else {
        FUZZ_CHECK(m->nblobs == 0 && m->blobs == NULL && (m->nmanifests == 0) == (m->manifests == NULL));
    }
    for (size_t i = 0; i < m->nblobs; i++)
        check_descriptor(&m->blobs[i]);
    for (size_t i = 0; i < m->nmanifests; i++)
        check_descriptor(&m->manifests[i]);
    if (m->has_subject)
        check_descriptor(&m->subject);
    if (m->annotations_json != NULL) {
        json_t *a = json_loads(m->annotations_json, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(a != NULL && json_is_object(a) && json_object_size(a) > 0);
        json_decref(a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++) {
        const char *ct = content_types[i];
        oci_manifest_t m;
        oci_err_t err;
        memset(&err, 0xff, sizeof(err));
        oci_status_t st = oci_manifest_parse(data, size, ct, ct != NULL ? strlen(ct) : 0, &m, &err);
        if (st == OCI_OK) {
            check_success(&m);
            oci_manifest_free(&m);
            FUZZ_CHECK(m.blobs == NULL && m.manifests == NULL && m.annotations_json == NULL);
        } else {
            FUZZ_CHECK(st == OCI_EINVAL || st == OCI_EUNSUPPORTED);
            FUZZ_CHECK(terminated(err.msg, sizeof(err.msg)));
            FUZZ_CHECK(m.blobs == NULL && m.manifests == NULL && m.annotations_json == NULL);
            FUZZ_CHECK(m.nblobs == 0 && m.nmanifests == 0);
        }
    }
    return 0;
}
