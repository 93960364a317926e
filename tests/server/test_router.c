/*
 * tests/server/test_router.c — what a /v2/ request is before any handler runs:
 * the split of its decoded path into repository name, resource and argument
 * (server/router.c's v2_route_split), and the ECR action that governs a
 * method on that resource (v2_route_action). A path the split does not know
 * is the router's 404; /v2/, /v2/token and /v2/_catalog are matched before
 * the split, and 405 is decided by the handler dispatch, which needs h2o.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "server/server_internal.h"

typedef struct {
    route_t route;
    char name[OCI_NAME_MAX + 256];
    char arg[256];
    bool has_arg;
} split_t;

/* splits s, the decoded path after "/v2/" */
static split_t split(const char *s)
{
    split_t out = {0};
    size_t name_len = 0, arg_len = 0;
    const char *arg = NULL;
    out.route = v2_route_split(s, strlen(s), &name_len, &arg, &arg_len);
    if (out.route != R_NONE) {
        cr_assert_leq(name_len, strlen(s), "%s", s);
        memcpy(out.name, s, name_len);
        out.has_arg = arg != NULL;
        if (arg) {
            cr_assert(arg >= s && arg + arg_len == s + strlen(s), "%s: the argument is the path's tail", s);
            memcpy(out.arg, arg, arg_len);
        }
    }
    return out;
}

static void expect_split(const char *path, route_t route, const char *name, const char *arg)
{
    split_t s = split(path);
    cr_expect_eq(s.route, route, "%s: route %d, expected %d", path, (int)s.route, (int)route);
    cr_expect_str_eq(s.name, name, "%s: name", path);
    if (arg) {
        cr_expect(s.has_arg, "%s: an argument", path);
        cr_expect_str_eq(s.arg, arg, "%s: argument", path);
    } else {
        cr_expect(!s.has_arg, "%s: no argument, got '%s'", path, s.arg);
    }
}

/* what route_v2 does first: percent-decode the raw path, then split past "/v2/" */
static split_t split_raw(const char *raw)
{
    char path[OCI_NAME_MAX + 256];
    size_t len;
    cr_assert(http_path_decode(raw, strlen(raw), path, sizeof path, &len), "%s decodes", raw);
    cr_assert(len > 4 && memcmp(path, "/v2/", 4) == 0, "%s", raw);
    return split(path + 4);
}

static const char *action(route_t route, const char *method, bool *is_push)
{
    *is_push = !*is_push; /* must be set either way */
    return v2_route_action(route, h2o_iovec_init(method, strlen(method)), is_push);
}

static void expect_action(route_t route, const char *method, const char *want, bool push)
{
    for (int start = 0; start < 2; start++) {
        bool is_push = start;
        const char *got = action(route, method, &is_push);
        cr_expect_str_eq(got, want, "route %d %s", (int)route, method);
        cr_expect_eq(is_push, push, "route %d %s: push", (int)route, method);
    }
}

/* ------------------------------------------------------- each route */

Test(split, tags_list_names_the_repository)
{
    expect_split("library/alpine/tags/list", R_TAGS, "library/alpine", NULL);
}

Test(split, a_manifest_by_tag_or_digest)
{
    expect_split("library/alpine/manifests/latest", R_MANIFEST, "library/alpine", "latest");
    expect_split("app/manifests/sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945", R_MANIFEST, "app",
                 "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945");
}

Test(split, a_blob_by_digest)
{
    expect_split("team/app/blobs/sha256:abc", R_BLOB, "team/app", "sha256:abc");
}

Test(split, uploads_start_with_or_without_the_trailing_slash)
{
    expect_split("team/app/blobs/uploads/", R_UPLOADS, "team/app", NULL);
    expect_split("team/app/blobs/uploads", R_UPLOADS, "team/app", NULL);
}

Test(split, an_upload_by_id)
{
    expect_split("team/app/blobs/uploads/0f1e2d3c-id", R_UPLOAD, "team/app", "0f1e2d3c-id");
}

Test(split, referrers_of_a_digest)
{
    expect_split("team/app/referrers/sha256:abc", R_REFERRERS, "team/app", "sha256:abc");
}

/* ------------------------------------------------------- names that look like routes */

Test(split, a_name_with_blobs_or_manifests_components_is_split_from_the_right)
{
    expect_split("team/blobs/app/manifests/v1", R_MANIFEST, "team/blobs/app", "v1");
    expect_split("team/manifests/app/blobs/sha256:abc", R_BLOB, "team/manifests/app", "sha256:abc");
    expect_split("blobs/blobs/sha256:abc", R_BLOB, "blobs", "sha256:abc");
    expect_split("manifests/manifests/latest", R_MANIFEST, "manifests", "latest");
    expect_split("blobs/uploads/blobs/uploads/", R_UPLOADS, "blobs/uploads", NULL);
    expect_split("blobs/uploads/blobs/uploads/id", R_UPLOAD, "blobs/uploads", "id");
    expect_split("tags/list/tags/list", R_TAGS, "tags/list", NULL);
    expect_split("referrers/referrers/sha256:abc", R_REFERRERS, "referrers", "sha256:abc");
}

Test(split, a_manifest_named_like_a_route_is_a_reference)
{
    /* the last component is the reference, whatever it spells */
    expect_split("app/manifests/blobs", R_MANIFEST, "app", "blobs");
    expect_split("app/manifests/list", R_MANIFEST, "app", "list");
}

/* ------------------------------------------------------- no such endpoint (404) */

Test(split, paths_without_a_route_are_no_endpoint)
{
    const char *none[] = {
        "app",                    /* no slash */
        "app/latest",             /* no resource */
        "app/unknown/x",          /* an unknown resource */
        "manifests/latest",       /* a resource with no name before it */
        "app/tags/list/",         /* a trailing slash after tags/list */
        "app/tags",               /* tags without list */
        "app/blobs/uploads/id/x", /* past an upload id */
        "app/manifest/latest",    /* singular */
        "app/Manifests/latest",   /* resources are lowercase */
        "app/manifestslatest",    /* no separator */
        "",
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        split_t s = split(none[i]);
        cr_expect_eq(s.route, R_NONE, "'%s': route %d", none[i], (int)s.route);
    }
}

Test(split, an_empty_name_or_argument_is_left_to_the_checks_after_it)
{
    /* the name is checked by oci_name_valid (NAME_INVALID), the argument by the handler */
    expect_split("/manifests/latest", R_MANIFEST, "", "latest");
    expect_split("app/manifests/", R_MANIFEST, "app", "");
    expect_split("app/blobs/", R_BLOB, "app", "");
}

/* ------------------------------------------------------- percent-encoding */

Test(split, the_path_is_decoded_before_it_is_split)
{
    split_t s = split_raw("/v2/team%2Fapp/manifests/latest");
    cr_expect_eq(s.route, R_MANIFEST);
    cr_expect_str_eq(s.name, "team/app");
    cr_expect_str_eq(s.arg, "latest");

    s = split_raw("/v2/app/manifests%2Flatest");
    cr_expect_eq(s.route, R_MANIFEST);
    cr_expect_str_eq(s.name, "app");
    cr_expect_str_eq(s.arg, "latest");

    s = split_raw("/v2/app/%62lobs/sha256%3Aabc");
    cr_expect_eq(s.route, R_BLOB);
    cr_expect_str_eq(s.name, "app");
    cr_expect_str_eq(s.arg, "sha256:abc");

    s = split_raw("/v2/app/tags%2flist");
    cr_expect_eq(s.route, R_TAGS);
    cr_expect_str_eq(s.name, "app");
}

Test(split, a_malformed_or_nul_escape_is_refused_before_the_split)
{
    char out[64];
    size_t len;
    const char *bad[] = {"/v2/app/manifests/%zz", "/v2/app/manifests/%4", "/v2/app%00/manifests/latest"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect(!http_path_decode(bad[i], strlen(bad[i]), out, sizeof out, &len), "%s", bad[i]);
}

/* ------------------------------------------------------- the action of each request */

Test(action, pulls)
{
    expect_action(R_MANIFEST, "GET", "ecr:BatchGetImage", false);
    expect_action(R_MANIFEST, "HEAD", "ecr:BatchGetImage", false);
    expect_action(R_BLOB, "GET", "ecr:GetDownloadUrlForLayer", false);
    expect_action(R_BLOB, "HEAD", "ecr:BatchCheckLayerAvailability", false);
    expect_action(R_REFERRERS, "GET", "ecr:BatchGetImage", false);
    expect_action(R_TAGS, "GET", "ecr:ListImages", false);
}

Test(action, pushes_need_the_push_actions_and_say_so)
{
    expect_action(R_MANIFEST, "PUT", "ecr:PutImage", true);
    expect_action(R_UPLOADS, "POST", "ecr:InitiateLayerUpload", true);
    expect_action(R_UPLOAD, "PATCH", "ecr:UploadLayerPart", true);
    expect_action(R_UPLOAD, "GET", "ecr:UploadLayerPart", true);
    expect_action(R_UPLOAD, "DELETE", "ecr:UploadLayerPart", true);
    expect_action(R_UPLOAD, "PUT", "ecr:CompleteLayerUpload", true);
}

Test(action, deletes)
{
    expect_action(R_MANIFEST, "DELETE", "ecr:BatchDeleteImage", false);
    expect_action(R_BLOB, "DELETE", "ecr:BatchDeleteImage", false);
}

Test(action, no_endpoint_has_no_action)
{
    bool is_push = true;
    cr_expect_null(action(R_NONE, "GET", &is_push));
    cr_expect(!is_push);
}

Test(action, a_method_a_resource_does_not_serve_is_authorized_as_its_strictest_before_the_405)
{
    /* the method is compared exactly: "get" is not GET */
    expect_action(R_MANIFEST, "POST", "ecr:PutImage", true);
    expect_action(R_MANIFEST, "get", "ecr:PutImage", true);
    expect_action(R_BLOB, "PUT", "ecr:GetDownloadUrlForLayer", false);
    expect_action(R_UPLOADS, "GET", "ecr:InitiateLayerUpload", true);
    expect_action(R_TAGS, "DELETE", "ecr:ListImages", false);
    expect_action(R_REFERRERS, "DELETE", "ecr:BatchGetImage", false);
}
