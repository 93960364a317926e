/*
 * tests/oci/test_manifest.c — manifest media types and documents: real
 * manifests as docker, buildx, skopeo, helm, cosign and notation push them
 * (tests/oci/fixtures/), then every way a body can be wrong.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "oci/oci.h"
#include "fixture.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define MT_OCI "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER "application/vnd.docker.distribution.manifest.v2+json"
#define MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define CFG "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1 "\",\"size\":10}"
#define LAYER "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2 "\",\"size\":20}"
/* an OCI image manifest with `extra` spliced in after schemaVersion */
#define OCI_WITH(extra) "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\"," extra "\"config\":" CFG ",\"layers\":[" LAYER "]}"
/* an image manifest whose single layer is `layer` */
#define OCI_LAYER(layer) "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[" layer "]}"

/* Parses a heap copy of exactly strlen(json) bytes: the parser must never need a NUL. */
static oci_status_t parse_ct(const char *json, const char *ct, oci_manifest_t *m, oci_err_t *err)
{
    size_t n = strlen(json);
    char *copy = malloc(n > 0 ? n : 1);
    memcpy(copy, json, n);
    oci_status_t st = oci_manifest_parse(copy, n, ct, ct != NULL ? strlen(ct) : 0, m, err);
    free(copy);
    return st;
}

static oci_status_t parse(const char *json, oci_manifest_t *m, oci_err_t *err)
{
    return parse_ct(json, NULL, m, err);
}

static oci_status_t parse_fixture(const char *name, const char *ct, oci_manifest_t *m, oci_err_t *err)
{
    size_t n;
    char *body = fixture_read(name, &n);
    oci_status_t st = oci_manifest_parse(body, n, ct, ct != NULL ? strlen(ct) : 0, m, err);
    free(body);
    return st;
}

/* Expects `json` to fail with `want` and a message containing `needle`, leaving nothing to free. */
static void expect_fail(const char *json, oci_status_t want, const char *needle)
{
    oci_manifest_t m;
    oci_err_t err = {{0}};
    oci_status_t st = parse(json, &m, &err);
    cr_assert_eq(st, want, "status %d, want %d for %s (%s)", st, want, json, err.msg);
    cr_assert(needle == NULL || strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
    cr_assert_null(m.blobs);
    cr_assert_null(m.manifests);
    cr_assert_null(m.annotations_json);
    cr_assert_eq(m.nblobs + m.nmanifests, 0);
}

/* ---- media types ---- */

Test(media_kind, each_manifest_type_is_recognised)
{
    cr_assert_eq(oci_media_kind(MT_OCI, strlen(MT_OCI)), OCI_MT_OCI_MANIFEST);
    cr_assert_eq(oci_media_kind(MT_INDEX, strlen(MT_INDEX)), OCI_MT_OCI_INDEX);
    cr_assert_eq(oci_media_kind(MT_DOCKER, strlen(MT_DOCKER)), OCI_MT_DOCKER_MANIFEST);
    cr_assert_eq(oci_media_kind(MT_LIST, strlen(MT_LIST)), OCI_MT_DOCKER_LIST);
    const char *v1 = "application/vnd.docker.distribution.manifest.v1+json";
    const char *v1s = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    cr_assert_eq(oci_media_kind(v1, strlen(v1)), OCI_MT_DOCKER_V1);
    cr_assert_eq(oci_media_kind(v1s, strlen(v1s)), OCI_MT_DOCKER_V1);
}

Test(media_kind, parameters_whitespace_and_case_are_ignored)
{
    const char *s[] = {MT_OCI "; charset=utf-8", "  " MT_OCI "\t", MT_OCI ";", "APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON",
                       MT_OCI " ; q=0.5"};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        cr_assert_eq(oci_media_kind(s[i], strlen(s[i])), OCI_MT_OCI_MANIFEST, "%s", s[i]);
}

Test(media_kind, near_misses_are_unknown)
{
    const char *s[] = {"",
                       "application/json",
                       MT_OCI "x",
                       "application/vnd.oci.image.manifest.v1",
                       "*/*",
                       "application/vnd.oci.image.config.v1+json",
                       "application/vnd.oci.image.manifest.v1+json\r\n"};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        cr_assert_eq(oci_media_kind(s[i], strlen(s[i])), OCI_MT_UNKNOWN, "%s", s[i]);
    cr_assert_eq(oci_media_kind(NULL, 4), OCI_MT_UNKNOWN);
    cr_assert_eq(oci_media_kind(MT_OCI, strlen(MT_OCI) - 1), OCI_MT_UNKNOWN, "the length bounds the read");
}

Test(media_kind, names_are_canonical_and_never_null)
{
    cr_assert_str_eq(oci_media_kind_name(OCI_MT_OCI_MANIFEST), MT_OCI);
    cr_assert_str_eq(oci_media_kind_name(OCI_MT_OCI_INDEX), MT_INDEX);
    cr_assert_str_eq(oci_media_kind_name(OCI_MT_DOCKER_MANIFEST), MT_DOCKER);
    cr_assert_str_eq(oci_media_kind_name(OCI_MT_DOCKER_LIST), MT_LIST);
    cr_assert_str_eq(oci_media_kind_name(OCI_MT_DOCKER_V1), "application/vnd.docker.distribution.manifest.v1+prettyjws");
    cr_assert_str_eq(oci_media_kind_name(OCI_MT_UNKNOWN), "");
    cr_assert_str_eq(oci_media_kind_name(OCI_MT_OCI_MANIFEST | OCI_MT_OCI_INDEX), "");
}

/* ---- real manifests ---- */

Test(real_manifests, docker_push_schema2_lists_config_then_layers)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("docker_schema2.json", MT_DOCKER, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_eq(m.kind, OCI_MT_DOCKER_MANIFEST);
    cr_assert_str_eq(m.media_type, MT_DOCKER);
    cr_assert_eq(m.nblobs, 3);
    cr_assert_str_eq(m.blobs[0].media_type, "application/vnd.docker.container.image.v1+json");
    cr_assert_eq(m.blobs[0].size, 1471);
    cr_assert_eq(m.blobs[1].size, 3408729);
    cr_assert_str_eq(m.blobs[1].media_type, "application/vnd.docker.image.rootfs.diff.tar.gzip");
    cr_assert_eq(m.blobs[2].digest.alg, OCI_ALG_SHA256);
    cr_assert_not(m.blobs[1].foreign);
    cr_assert_str_eq(m.artifact_type, "", "a plain image is no artifact");
    cr_assert_not(m.has_subject);
    cr_assert_eq(m.nmanifests, 0);
    cr_assert_null(m.manifests);
    cr_assert_null(m.annotations_json);
    oci_manifest_free(&m);
}

Test(real_manifests, docker_hub_manifest_list_with_escaped_slashes_lists_children)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("docker_manifest_list.json", NULL, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_eq(m.kind, OCI_MT_DOCKER_LIST);
    cr_assert_str_eq(m.media_type, MT_LIST);
    cr_assert_eq(m.nmanifests, 3);
    cr_assert_eq(m.nblobs, 0);
    cr_assert_null(m.blobs);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(m.manifests[i].media_type, MT_DOCKER);
        cr_assert_eq(m.manifests[i].size, 528);
    }
    cr_assert_str_eq(m.artifact_type, "");
    oci_manifest_free(&m);
}

Test(real_manifests, skopeo_oci_image_keeps_sorted_compact_annotations)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("oci_image_skopeo.json", MT_OCI, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_eq(m.kind, OCI_MT_OCI_MANIFEST);
    cr_assert_eq(m.nblobs, 2);
    cr_assert_str_eq(m.blobs[0].media_type, "application/vnd.oci.image.config.v1+json");
    cr_assert_eq(m.blobs[1].size, 3348226);
    cr_assert_str_eq(m.artifact_type, "");
    cr_assert_str_eq(m.annotations_json,
                     "{\"org.opencontainers.image.base.digest\":\"\",\"org.opencontainers.image.base.name\":\"\"}");
    oci_manifest_free(&m);
}

Test(real_manifests, buildx_index_with_attestation_lists_both_children)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("oci_index_buildx.json", MT_INDEX, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_eq(m.kind, OCI_MT_OCI_INDEX);
    cr_assert_eq(m.nmanifests, 2);
    cr_assert_eq(m.manifests[0].size, 1050);
    cr_assert_eq(m.manifests[1].size, 566);
    cr_assert_not(m.manifests[1].foreign);
    cr_assert_str_eq(m.artifact_type, "", "an index without artifactType has none");
    cr_assert_null(m.annotations_json);
    oci_manifest_free(&m);
}

Test(real_manifests, notation_signature_has_artifact_type_and_subject)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("oci_artifact_notation.json", MT_OCI, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_str_eq(m.artifact_type, "application/vnd.cncf.notary.signature");
    cr_assert(m.has_subject);
    cr_assert_str_eq(m.subject.media_type, MT_OCI);
    cr_assert_eq(m.subject.size, 1050);
    cr_assert_eq(m.nblobs, 2);
    cr_assert_str_eq(m.blobs[0].digest.str, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    cr_assert_str_eq(m.blobs[0].media_type, "application/vnd.oci.empty.v1+json");
    cr_assert_not_null(m.annotations_json);
    /* sorted: io.cncf… before org.opencontainers…; the escaped quotes survive */
    cr_assert(strncmp(m.annotations_json, "{\"io.cncf.notary.x509chain.thumbprint#S256\":\"[\\\"", 48) == 0, "%s",
              m.annotations_json);
    cr_assert(strstr(m.annotations_json, "\"org.opencontainers.image.created\":\"2024-01-10T12:00:00Z\"}") != NULL);
    oci_manifest_free(&m);
}

Test(real_manifests, helm_chart_without_body_media_type_takes_the_content_type)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("helm_chart.json", MT_OCI, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_eq(m.kind, OCI_MT_OCI_MANIFEST);
    cr_assert_str_eq(m.media_type, MT_OCI);
    cr_assert_str_eq(m.artifact_type, "application/vnd.cncf.helm.config.v1+json", "config mediaType is the artifactType");
    cr_assert_eq(m.nblobs, 2);
    oci_manifest_free(&m);

    cr_assert_eq(parse_fixture("helm_chart.json", MT_OCI "; charset=utf-8", &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_str_eq(m.media_type, MT_OCI, "the stored type is canonical, without parameters");
    oci_manifest_free(&m);
}

Test(real_manifests, helm_chart_without_any_media_type_is_refused)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("helm_chart.json", NULL, &m, &err), OCI_EINVAL);
    cr_assert(strstr(err.msg, "media type") != NULL, "%s", err.msg);
    cr_assert_eq(parse_fixture("helm_chart.json", "application/octet-stream", &m, &err), OCI_EINVAL);
}

Test(real_manifests, cosign_signature_with_image_config_is_no_artifact)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("cosign_signature.json", NULL, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_str_eq(m.artifact_type, "");
    cr_assert_str_eq(m.blobs[1].media_type, "application/vnd.dev.cosign.simplesigning.v1+json");
    cr_assert_null(m.annotations_json, "layer annotations are not the manifest's");
    oci_manifest_free(&m);
}

Test(real_manifests, windows_foreign_layer_with_urls_is_foreign)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("docker_windows_foreign.json", NULL, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_eq(m.nblobs, 3);
    cr_assert_not(m.blobs[0].foreign);
    cr_assert(m.blobs[1].foreign);
    cr_assert_eq(m.blobs[1].size, 1654613204u);
    cr_assert_not(m.blobs[2].foreign);
    oci_manifest_free(&m);
}

/* Every client that runs the image reads its config from the registry: urls
 * on a config do not make it foreign (only layers may live elsewhere), so the
 * registry still requires it, as distribution's schema 2 handler does. */
Test(real_manifests, a_config_with_urls_is_not_foreign)
{
    oci_manifest_t m;
    oci_err_t err;
    const char *json = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                       "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":2,"
                       "\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
                       "\"urls\":[\"https://example.com/config\"]},"
                       "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":5,"
                       "\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
                       "\"urls\":[\"https://example.com/layer\"]}]}";
    cr_assert_eq(parse(json, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_not(m.blobs[0].foreign);
    cr_assert(m.blobs[1].foreign, "a layer with urls stays foreign");
    oci_manifest_free(&m);
}

Test(real_manifests, nondistributable_oci_layer_is_foreign_and_zstd_is_not)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("oci_nondistributable.json", NULL, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert(m.blobs[1].foreign);
    cr_assert_not(m.blobs[2].foreign);
    cr_assert_str_eq(m.blobs[2].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
    oci_manifest_free(&m);
}

Test(real_manifests, signed_schema1_is_unsupported_with_or_without_content_type)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("docker_schema1_signed.json", NULL, &m, &err), OCI_EUNSUPPORTED);
    cr_assert(strstr(err.msg, "schema 1") != NULL, "%s", err.msg);
    cr_assert_eq(parse_fixture("docker_schema1_signed.json", "application/vnd.docker.distribution.manifest.v1+prettyjws", &m, &err),
                 OCI_EUNSUPPORTED);
}

Test(real_manifests, oras_index_artifact_keeps_artifact_types_and_subject)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_fixture("oci_index_artifact_subject.json", MT_INDEX, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_str_eq(m.artifact_type, "application/vnd.example.sbom.bundle");
    cr_assert(m.has_subject);
    cr_assert_str_eq(m.subject.media_type, MT_INDEX);
    cr_assert_eq(m.nmanifests, 1);
    cr_assert_str_eq(m.manifests[0].artifact_type, "application/spdx+json");
    cr_assert_str_eq(m.annotations_json, "{\"org.opencontainers.image.created\":\"2024-03-05T08:00:00Z\"}");
    oci_manifest_free(&m);
}

/* ---- media type agreement ---- */

Test(media_type_agreement, body_and_content_type_that_disagree_are_refused)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse_ct(OCI_WITH(""), MT_DOCKER, &m, &err), OCI_EINVAL);
    cr_assert(strstr(err.msg, "disagrees") != NULL, "%s", err.msg);
    cr_assert_eq(parse_ct(OCI_WITH(""), MT_INDEX, &m, &err), OCI_EINVAL);
    cr_assert_eq(parse_ct(OCI_WITH(""), "application/vnd.docker.distribution.manifest.v1+json", &m, &err), OCI_EINVAL);
}

Test(media_type_agreement, a_non_manifest_content_type_defers_to_the_body)
{
    oci_manifest_t m;
    oci_err_t err;
    const char *cts[] = {"application/octet-stream", "application/json", "", "text/plain; charset=utf-8",
                         "APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON"};
    for (size_t i = 0; i < sizeof(cts) / sizeof(cts[0]); i++) {
        cr_assert_eq(parse_ct(OCI_WITH(""), cts[i], &m, &err), OCI_OK, "%s: %s", cts[i], err.msg);
        cr_assert_eq(m.kind, OCI_MT_OCI_MANIFEST);
        oci_manifest_free(&m);
    }
}

Test(media_type_agreement, the_content_type_length_bounds_its_read)
{
    oci_manifest_t m;
    const char *json = OCI_WITH("");
    /* "…manifest.v1+json" cut one byte short is unknown, hence ignored */
    cr_assert_eq(oci_manifest_parse(json, strlen(json), MT_DOCKER "x", strlen(MT_DOCKER), &m, NULL), OCI_EINVAL);
    cr_assert_eq(oci_manifest_parse(json, strlen(json), MT_DOCKER, strlen(MT_DOCKER) - 1, &m, NULL), OCI_OK);
    oci_manifest_free(&m);
}

Test(media_type_agreement, unknown_or_mistyped_body_media_type_is_refused)
{
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example+json\",\"config\":" CFG ",\"layers\":[]}", OCI_EINVAL,
                "mediaType");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":7,\"config\":" CFG ",\"layers\":[]}", OCI_EINVAL, "mediaType");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":[],\"config\":" CFG ",\"layers\":[]}", OCI_EINVAL, "mediaType");
    expect_fail("{\"schemaVersion\":1,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+json\"}", OCI_EUNSUPPORTED,
                "schema 1");
}

Test(media_type_agreement, an_empty_body_media_type_counts_as_absent)
{
    oci_manifest_t m;
    cr_assert_eq(parse_ct("{\"schemaVersion\":2,\"mediaType\":\"\",\"config\":" CFG ",\"layers\":[]}", MT_OCI, &m, NULL), OCI_OK);
    cr_assert_str_eq(m.media_type, MT_OCI);
    oci_manifest_free(&m);
}

/* ---- structure ---- */

Test(structure, malformed_json_is_invalid_and_says_where)
{
    expect_fail("{", OCI_EINVAL, "not valid JSON");
    expect_fail("{\"schemaVersion\":2,}", OCI_EINVAL, "not valid JSON");
    expect_fail(OCI_WITH("") "x", OCI_EINVAL, "not valid JSON");
    expect_fail(OCI_WITH("") "{}", OCI_EINVAL, "not valid JSON");
    expect_fail("{'schemaVersion':2}", OCI_EINVAL, "not valid JSON");
    expect_fail("\xef\xbb\xbf" OCI_WITH(""), OCI_EINVAL, "not valid JSON");
    expect_fail("   ", OCI_EINVAL, "not valid JSON");
    expect_fail("{\"a\":\"\xff\"}", OCI_EINVAL, "not valid JSON");
    expect_fail("{\"a\":\"\xc0\xaf\"}", OCI_EINVAL, "not valid JSON");
}

Test(structure, jansson_error_text_never_carries_raw_bytes)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse("{\"k\":\x01\x02\x7f\xfe}", &m, &err), OCI_EINVAL);
    for (const char *p = err.msg; *p; p++)
        cr_assert((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f, "byte 0x%02x in \"%s\"", (unsigned char)*p, err.msg);
}

Test(structure, non_objects_are_invalid)
{
    expect_fail("[]", OCI_EINVAL, "JSON object");
    expect_fail("\"manifest\"", OCI_EINVAL, "JSON object");
    expect_fail("2", OCI_EINVAL, "JSON object");
    expect_fail("null", OCI_EINVAL, "JSON object");
}

Test(structure, empty_or_null_body_is_invalid)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(oci_manifest_parse(NULL, 10, MT_OCI, strlen(MT_OCI), &m, &err), OCI_EINVAL);
    cr_assert_eq(oci_manifest_parse("{}", 0, MT_OCI, strlen(MT_OCI), &m, &err), OCI_EINVAL);
    cr_assert_eq(oci_manifest_parse("{}", 2, NULL, 0, NULL, &err), OCI_EINVAL);
    cr_assert_eq(oci_manifest_parse("{}", 2, NULL, 0, &m, NULL), OCI_EINVAL, "a NULL err is allowed");
}

Test(structure, duplicate_keys_are_refused_so_no_reader_sees_another_document)
{
    expect_fail("{\"schemaVersion\":2,\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[]}",
                OCI_EINVAL, "duplicate");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"digest\":\"" D3 "\",\"size\":1}"), OCI_EINVAL,
                "duplicate");
}

Test(structure, nul_in_strings_is_refused)
{
    expect_fail(OCI_WITH("\"annotations\":{\"a\":\"x\\u0000y\"},"), OCI_EINVAL, NULL);
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\\u0000c\",\"digest\":\"" D2 "\",\"size\":1}"), OCI_EINVAL, NULL);
    expect_fail(OCI_WITH("\"annotations\":{\"a\\u0000b\":\"x\"},"), OCI_EINVAL, NULL);
    /* a raw NUL byte inside the span */
    const char raw[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"annotations\":{\"a\":\"x\0y\"},\"config\":" CFG ",\"layers\":[]}";
    oci_manifest_t m;
    cr_assert_eq(oci_manifest_parse(raw, sizeof(raw) - 1, NULL, 0, &m, NULL), OCI_EINVAL);
}

Test(structure, schema_version_must_be_the_integer_2)
{
    expect_fail("{\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[]}", OCI_EINVAL, "schemaVersion");
    expect_fail("{\"schemaVersion\":\"2\",\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[]}", OCI_EINVAL,
                "schemaVersion");
    expect_fail("{\"schemaVersion\":2.0,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[]}", OCI_EINVAL,
                "schemaVersion");
    expect_fail("{\"schemaVersion\":3,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[]}", OCI_EINVAL, "schemaVersion");
    expect_fail("{\"schemaVersion\":1,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[]}", OCI_EINVAL, "schemaVersion");
    expect_fail("{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"y\",\"fsLayers\":[]}", OCI_EUNSUPPORTED, "schema 1");
}

Test(structure, image_manifest_needs_config_and_layers)
{
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"layers\":[]}", OCI_EINVAL, "config");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":null,\"layers\":[]}", OCI_EINVAL, "config");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":[],\"layers\":[]}", OCI_EINVAL, "config");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG "}", OCI_EINVAL, "layers");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":{}}", OCI_EINVAL, "layers");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[1]}", OCI_EINVAL, "layers[0]");
}

Test(structure, image_manifest_with_no_layers_is_an_artifact_and_valid)
{
    oci_manifest_t m;
    cr_assert_eq(parse("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[]}", &m, NULL), OCI_OK);
    cr_assert_eq(m.nblobs, 1);
    oci_manifest_free(&m);
}

Test(structure, index_needs_manifests_and_may_be_empty)
{
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX "\"}", OCI_EINVAL, "manifests");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX "\",\"manifests\":{}}", OCI_EINVAL, "manifests");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_LIST "\",\"manifests\":[\"" D1 "\"]}", OCI_EINVAL, "manifests[0]");
    oci_manifest_t m;
    cr_assert_eq(parse("{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX "\",\"manifests\":[]}", &m, NULL), OCI_OK);
    cr_assert_eq(m.nmanifests, 0);
    cr_assert_null(m.manifests);
    oci_manifest_free(&m);
}

Test(structure, a_document_of_two_kinds_is_refused)
{
    /* CVE-2021-41190: one body readable as both an image and an index */
    expect_fail(OCI_WITH("\"manifests\":[],"), OCI_EINVAL, "manifests");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX "\",\"manifests\":[],\"layers\":[]}", OCI_EINVAL, "layers");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX "\",\"manifests\":[],\"config\":" CFG "}", OCI_EINVAL, "config");
    oci_manifest_t m;
    cr_assert_eq(parse(OCI_WITH("\"manifests\":null,"), &m, NULL), OCI_OK, "null is absent");
    oci_manifest_free(&m);
}

Test(structure, size_limit_is_4_mib)
{
    size_t n = OCI_MANIFEST_MAX_BYTES + 1;
    char *big = malloc(n);
    const char *json = OCI_WITH("");
    size_t jl = strlen(json);
    memcpy(big, json, jl);
    memset(big + jl, ' ', n - jl);
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(oci_manifest_parse(big, n, NULL, 0, &m, &err), OCI_EINVAL);
    cr_assert(strstr(err.msg, "limit") != NULL, "%s", err.msg);
    cr_assert_eq(oci_manifest_parse(big, n - 1, NULL, 0, &m, &err), OCI_OK, "exactly 4 MiB is fine: %s", err.msg);
    oci_manifest_free(&m);
    free(big);
}

Test(structure, deep_nesting_fails_cleanly)
{
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 64);
    size_t n = 0;
    n += (size_t)sprintf(deep, "{\"schemaVersion\":2,\"x\":");
    memset(deep + n, '[', depth);
    n += depth;
    oci_manifest_t m;
    cr_assert_eq(oci_manifest_parse(deep, n, MT_OCI, strlen(MT_OCI), &m, NULL), OCI_EINVAL);
    free(deep);
}

/* ---- descriptors ---- */

Test(descriptors, media_type_is_required_and_must_be_a_media_type)
{
    expect_fail(OCI_LAYER("{\"digest\":\"" D2 "\",\"size\":1}"), OCI_EINVAL, "layers[0].mediaType is missing");
    expect_fail(OCI_LAYER("{\"mediaType\":1,\"digest\":\"" D2 "\",\"size\":1}"), OCI_EINVAL, "layers[0].mediaType");
    expect_fail(OCI_LAYER("{\"mediaType\":\"\",\"digest\":\"" D2 "\",\"size\":1}"), OCI_EINVAL, "layers[0].mediaType");
    expect_fail(OCI_LAYER("{\"mediaType\":\"layer\",\"digest\":\"" D2 "\",\"size\":1}"), OCI_EINVAL, "mediaType");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\\r\\nX-Injected: 1\",\"digest\":\"" D2 "\",\"size\":1}"), OCI_EINVAL, "mediaType");
    expect_fail(OCI_LAYER("{\"mediaType\":\"/b\",\"digest\":\"" D2 "\",\"size\":1}"), OCI_EINVAL, "mediaType");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/\",\"digest\":\"" D2 "\",\"size\":1}"), OCI_EINVAL, "mediaType");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a b/c\",\"digest\":\"" D2 "\",\"size\":1}"), OCI_EINVAL, "mediaType");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b/c\",\"digest\":\"" D2 "\",\"size\":1}"), OCI_EINVAL, "mediaType");
}

Test(descriptors, media_type_parameters_and_255_bytes_are_accepted_256_are_not)
{
    char json[2048], mt[300];
    oci_manifest_t m;
    oci_err_t err;
    /* 127 + '/' + 127 = 255: the longest RFC 6838 name */
    memset(mt, 'a', 127);
    mt[127] = '/';
    memset(mt + 128, 'b', 127);
    mt[255] = '\0';
    snprintf(json, sizeof(json), OCI_LAYER("{\"mediaType\":\"%s\",\"digest\":\"" D2 "\",\"size\":1}"), mt);
    cr_assert_eq(parse(json, &m, &err), OCI_OK, "%s", err.msg);
    cr_assert_str_eq(m.blobs[1].media_type, mt);
    oci_manifest_free(&m);
    snprintf(json, sizeof(json), OCI_LAYER("{\"mediaType\":\"%s;\",\"digest\":\"" D2 "\",\"size\":1}"), mt);
    cr_assert_eq(parse(json, &m, &err), OCI_EINVAL, "256 bytes do not fit");
    memset(mt, 'a', 128);
    memcpy(mt + 128, "/b", 3);
    snprintf(json, sizeof(json), OCI_LAYER("{\"mediaType\":\"%s\",\"digest\":\"" D2 "\",\"size\":1}"), mt);
    cr_assert_eq(parse(json, &m, &err), OCI_EINVAL, "a 128-byte type name is too long");

    cr_assert_eq(parse(OCI_LAYER("{\"mediaType\":\"text/plain; charset=utf-8\",\"digest\":\"" D2 "\",\"size\":1}"), &m, &err),
                 OCI_OK, "%s", err.msg);
    cr_assert_str_eq(m.blobs[1].media_type, "text/plain; charset=utf-8");
    oci_manifest_free(&m);
}

Test(descriptors, digest_is_required_and_checked)
{
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"size\":1}"), OCI_EINVAL, "layers[0].digest is missing");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":5,\"size\":1}"), OCI_EINVAL, "layers[0].digest");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"sha256:abc\",\"size\":1}"), OCI_EINVAL, "layers[0].digest");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\\n\",\"size\":1}"), OCI_EINVAL, "layers[0].digest");
    expect_fail(
        OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"sha256:AAAA111111111111111111111111111111111111111111111111111111111111\","
                  "\"size\":1}"),
        OCI_EINVAL, "lowercase");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"sha384:abcd\",\"size\":1}"), OCI_EUNSUPPORTED, "not supported");
}

Test(descriptors, size_must_be_a_non_negative_integer)
{
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\"}"), OCI_EINVAL, "layers[0].size is missing");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":null}"), OCI_EINVAL, "size is missing");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":-1}"), OCI_EINVAL, "non-negative");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1.5}"), OCI_EINVAL, "non-negative integer");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1.0}"), OCI_EINVAL, "integer");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1e3}"), OCI_EINVAL, "integer");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":\"12\"}"), OCI_EINVAL, "integer");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":true}"), OCI_EINVAL, "integer");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":9223372036854775808}"), OCI_EINVAL, NULL);
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":-9223372036854775808}"), OCI_EINVAL, NULL);
}

Test(descriptors, sizes_up_to_int64_max_and_zero_are_kept)
{
    oci_manifest_t m;
    cr_assert_eq(parse(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":9223372036854775807}"), &m, NULL), OCI_OK);
    cr_assert_eq(m.blobs[1].size, 9223372036854775807ull);
    oci_manifest_free(&m);
    cr_assert_eq(parse(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":0}"), &m, NULL), OCI_OK);
    cr_assert_eq(m.blobs[1].size, 0);
    oci_manifest_free(&m);
}

Test(descriptors, errors_name_the_descriptor_at_fault)
{
    oci_manifest_t m;
    oci_err_t err;
    cr_assert_eq(parse("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[" LAYER "," LAYER
                       ",{\"mediaType\":\"a/b\",\"digest\":\"" D3 "\",\"size\":-5}]}",
                       &m, &err),
                 OCI_EINVAL);
    cr_assert(strstr(err.msg, "layers[2].size") != NULL, "%s", err.msg);
    cr_assert_eq(parse("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI
                       "\",\"config\":{\"mediaType\":\"a/b\",\"digest\":\"x\",\"size\":1},\"layers\":[]}",
                       &m, &err),
                 OCI_EINVAL);
    cr_assert(strncmp(err.msg, "config.digest", 13) == 0, "%s", err.msg);
}

Test(descriptors, urls_make_a_layer_foreign_and_must_be_strings)
{
    oci_manifest_t m;
    cr_assert_eq(parse(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1,\"urls\":[\"https://x/y\"]}"), &m, NULL),
                 OCI_OK);
    cr_assert(m.blobs[1].foreign);
    oci_manifest_free(&m);
    cr_assert_eq(parse(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1,\"urls\":[]}"), &m, NULL), OCI_OK);
    cr_assert_not(m.blobs[1].foreign, "an empty list names nowhere else");
    oci_manifest_free(&m);
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1,\"urls\":\"https://x\"}"), OCI_EINVAL, "urls");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1,\"urls\":[1]}"), OCI_EINVAL, "urls");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1,\"urls\":[\"\"]}"), OCI_EINVAL, "urls");
}

Test(descriptors, foreign_media_types_are_foreign_without_urls)
{
    const char *types[] = {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                           "application/vnd.oci.image.layer.nondistributable.v1.tar",
                           "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                           "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char json[1024];
        snprintf(json, sizeof(json), OCI_LAYER("{\"mediaType\":\"%s\",\"digest\":\"" D2 "\",\"size\":1}"), types[i]);
        oci_manifest_t m;
        cr_assert_eq(parse(json, &m, NULL), OCI_OK);
        cr_assert(m.blobs[1].foreign, "%s", types[i]);
        oci_manifest_free(&m);
    }
}

Test(descriptors, optional_fields_of_the_wrong_type_are_refused)
{
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1,\"annotations\":[]}"), OCI_EINVAL,
                "annotations");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1,\"annotations\":{\"k\":1}}"), OCI_EINVAL,
                "annotations");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1,\"artifactType\":3}"), OCI_EINVAL,
                "artifactType");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1,\"artifactType\":\"nope\"}"), OCI_EINVAL,
                "artifactType");
    expect_fail(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2 "\",\"size\":1,\"data\":{}}"), OCI_EINVAL, "data");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX "\",\"manifests\":[{\"mediaType\":\"" MT_OCI "\",\"digest\":\"" D1
                "\",\"size\":1,\"platform\":\"linux/amd64\"}]}",
                OCI_EINVAL, "platform");
    expect_fail("{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX "\",\"manifests\":[{\"mediaType\":\"" MT_OCI "\",\"digest\":\"" D1
                "\",\"size\":1,\"platform\":{\"os\":1}}]}",
                OCI_EINVAL, "platform.os");
}

Test(descriptors, unknown_fields_are_ignored)
{
    oci_manifest_t m;
    cr_assert_eq(parse(OCI_LAYER("{\"mediaType\":\"a/b\",\"digest\":\"" D2
                                 "\",\"size\":1,\"x-vendor\":{\"deep\":[1,2,3]},\"data\":\"e30=\"}"),
                       &m, NULL),
                 OCI_OK);
    oci_manifest_free(&m);
    cr_assert_eq(parse(OCI_WITH("\"x-top\":[null,true],"), &m, NULL), OCI_OK);
    oci_manifest_free(&m);
}

/* ---- artifactType, subject, annotations ---- */

Test(artifact_type, explicit_artifact_type_wins_over_config)
{
    oci_manifest_t m;
    cr_assert_eq(parse(OCI_WITH("\"artifactType\":\"application/vnd.example.thing\","), &m, NULL), OCI_OK);
    cr_assert_str_eq(m.artifact_type, "application/vnd.example.thing");
    oci_manifest_free(&m);
}

Test(artifact_type, empty_config_without_artifact_type_reports_the_empty_type)
{
    oci_manifest_t m;
    cr_assert_eq(parse("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":{\"mediaType\":\"application/"
                       "vnd.oci.empty.v1+json\",\"digest\":\"" D1 "\",\"size\":2},\"layers\":[]}",
                       &m, NULL),
                 OCI_OK);
    cr_assert_str_eq(m.artifact_type, "application/vnd.oci.empty.v1+json");
    oci_manifest_free(&m);
}

Test(artifact_type, plain_image_configs_of_either_family_give_none)
{
    oci_manifest_t m;
    cr_assert_eq(parse("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":{\"mediaType\":\"application/"
                       "vnd.docker.container.image.v1+json\",\"digest\":\"" D1 "\",\"size\":2},\"layers\":[]}",
                       &m, NULL),
                 OCI_OK);
    cr_assert_str_eq(m.artifact_type, "");
    oci_manifest_free(&m);
    cr_assert_eq(parse(OCI_WITH("\"artifactType\":\"\","), &m, NULL), OCI_OK, "an empty artifactType is none");
    cr_assert_str_eq(m.artifact_type, "");
    oci_manifest_free(&m);
}

Test(artifact_type, malformed_artifact_type_is_refused)
{
    expect_fail(OCI_WITH("\"artifactType\":5,"), OCI_EINVAL, "artifactType");
    expect_fail(OCI_WITH("\"artifactType\":\"signature\","), OCI_EINVAL, "artifactType");
    expect_fail(OCI_WITH("\"artifactType\":\"a/b\\nc\","), OCI_EINVAL, "artifactType");
}

Test(subject, subject_must_be_a_valid_descriptor_and_null_is_none)
{
    expect_fail(OCI_WITH("\"subject\":\"" D3 "\","), OCI_EINVAL, "subject");
    expect_fail(OCI_WITH("\"subject\":{\"mediaType\":\"" MT_OCI "\",\"size\":3},"), OCI_EINVAL, "subject.digest");
    oci_manifest_t m;
    cr_assert_eq(parse(OCI_WITH("\"subject\":null,"), &m, NULL), OCI_OK);
    cr_assert_not(m.has_subject);
    oci_manifest_free(&m);
    cr_assert_eq(parse(OCI_WITH("\"subject\":{\"mediaType\":\"" MT_OCI "\",\"digest\":\"" D3 "\",\"size\":3},"), &m, NULL), OCI_OK);
    cr_assert(m.has_subject);
    cr_assert_str_eq(m.subject.digest.str, D3);
    oci_manifest_free(&m);
}

Test(annotations, must_map_strings_to_strings)
{
    expect_fail(OCI_WITH("\"annotations\":[\"a\"],"), OCI_EINVAL, "annotations");
    expect_fail(OCI_WITH("\"annotations\":{\"a\":1},"), OCI_EINVAL, "annotations");
    expect_fail(OCI_WITH("\"annotations\":{\"a\":null},"), OCI_EINVAL, "annotations");
    expect_fail(OCI_WITH("\"annotations\":\"a=b\","), OCI_EINVAL, "annotations");
}

Test(annotations, empty_or_null_map_is_none)
{
    oci_manifest_t m;
    cr_assert_eq(parse(OCI_WITH("\"annotations\":{},"), &m, NULL), OCI_OK);
    cr_assert_null(m.annotations_json);
    oci_manifest_free(&m);
    cr_assert_eq(parse(OCI_WITH("\"annotations\":null,"), &m, NULL), OCI_OK);
    cr_assert_null(m.annotations_json);
    oci_manifest_free(&m);
}

Test(annotations, are_dumped_sorted_and_compact_with_unicode_intact)
{
    oci_manifest_t m;
    cr_assert_eq(parse(OCI_WITH("\"annotations\":{ \"z\" : \"last\", \"a\" : \"caf\\u00e9 \\\"q\\\"\", \"m\":\"\xe2\x9c\x93\" },"),
                       &m, NULL),
                 OCI_OK);
    cr_assert_str_eq(m.annotations_json, "{\"a\":\"caf\xc3\xa9 \\\"q\\\"\",\"m\":\"\xe2\x9c\x93\",\"z\":\"last\"}");
    oci_manifest_free(&m);
}

Test(lifetime, free_is_safe_on_a_zeroed_or_already_freed_manifest)
{
    oci_manifest_t m;
    memset(&m, 0, sizeof(m));
    oci_manifest_free(&m);
    oci_manifest_free(NULL);
    cr_assert_eq(parse(OCI_WITH("\"annotations\":{\"a\":\"b\"},"), &m, NULL), OCI_OK);
    oci_manifest_free(&m);
    oci_manifest_free(&m);
    cr_assert_null(m.blobs);
}

Test(lifetime, a_failure_after_allocation_leaves_nothing_behind)
{
    oci_manifest_t m;
    /* blobs are allocated, then the second layer fails */
    cr_assert_eq(parse("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI "\",\"config\":" CFG ",\"layers\":[" LAYER ",{}]}", &m, NULL),
                 OCI_EINVAL);
    cr_assert_null(m.blobs);
    cr_assert_eq(m.nblobs, 0);
    /* a bad subject fails after the blobs are allocated */
    cr_assert_eq(parse(OCI_WITH("\"annotations\":{\"a\":\"b\"},\"subject\":{},"), &m, NULL), OCI_EINVAL);
    cr_assert_null(m.annotations_json);
    cr_assert_null(m.blobs);
}
