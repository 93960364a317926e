/*
 * oci/manifest.c — manifest media types and manifest documents: OCI image
 * manifest and index (image-spec v1.1), Docker schema 2 manifest and manifest
 * list. Parsing extracts what the registry must check and record: the blobs and
 * child manifests a push references, its subject and artifactType (referrers
 * API) and its annotations.
 *
 * The parser is deliberately strict where leniency has bitten registries before:
 * - duplicate JSON keys are refused, so that no client can read a different
 *   document than the one we validated;
 * - a body that claims one kind but carries another kind's fields (an image
 *   manifest with "manifests", an index with "config"/"layers") is refused,
 *   as distribution does since CVE-2021-41190;
 * - the body's mediaType must agree with a manifest Content-Type.
 * It stays lenient where the spec asks implementations to ignore the unknown:
 * extra fields and unknown descriptor media types are accepted.
 */
#include "oci/oci_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define OCI_MT_NAME_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_NAME_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_NAME_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_NAME_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MT_NAME_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1+json"
#define OCI_MT_NAME_DOCKER_V1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* config media types of ordinary container images: such a manifest is an image,
 * not an artifact, so it has no artifactType for the referrers API */
#define OCI_MT_NAME_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_NAME_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* layers a registry need not hold: their bytes live elsewhere (Windows base layers) */
#define OCI_MT_NAME_DOCKER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define OCI_MT_PREFIX_NONDISTRIBUTABLE "application/vnd.oci.image.layer.nondistributable."

/* RFC 6838 4.2: a type or subtype name is at most 127 characters */
#define OCI_MEDIA_NAME_MAX 127

/* the only manifest schema version this spec generation defines */
#define OCI_SCHEMA_VERSION 2

static const struct {
    oci_media_kind_t kind;
    const char *name;
} oci_media_kinds[] = {
    {OCI_MT_OCI_MANIFEST, OCI_MT_NAME_OCI_MANIFEST},
    {OCI_MT_OCI_INDEX, OCI_MT_NAME_OCI_INDEX},
    {OCI_MT_DOCKER_MANIFEST, OCI_MT_NAME_DOCKER_MANIFEST},
    {OCI_MT_DOCKER_LIST, OCI_MT_NAME_DOCKER_LIST},
    {OCI_MT_DOCKER_V1, OCI_MT_NAME_DOCKER_V1},
    {OCI_MT_DOCKER_V1, OCI_MT_NAME_DOCKER_V1_SIGNED},
};

static bool oci_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

oci_media_kind_t oci_media_kind(const char *s, size_t len)
{
    if (s == NULL)
        return OCI_MT_UNKNOWN;
    const char *semi = memchr(s, ';', len);
    if (semi != NULL)
        len = (size_t)(semi - s);
    while (len > 0 && oci_is_ows(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && oci_is_ows(s[len - 1]))
        len--;
    /* media types compare case-insensitively (RFC 9110 8.3.1) */
    for (size_t i = 0; i < sizeof(oci_media_kinds) / sizeof(oci_media_kinds[0]); i++) {
        const char *name = oci_media_kinds[i].name;
        if (strlen(name) == len && strncasecmp(name, s, len) == 0)
            return oci_media_kinds[i].kind;
    }
    return OCI_MT_UNKNOWN;
}

const char *oci_media_kind_name(oci_media_kind_t kind)
{
    switch (kind) {
    case OCI_MT_OCI_MANIFEST:
        return OCI_MT_NAME_OCI_MANIFEST;
    case OCI_MT_OCI_INDEX:
        return OCI_MT_NAME_OCI_INDEX;
    case OCI_MT_DOCKER_MANIFEST:
        return OCI_MT_NAME_DOCKER_MANIFEST;
    case OCI_MT_DOCKER_LIST:
        return OCI_MT_NAME_DOCKER_LIST;
    case OCI_MT_DOCKER_V1:
        return OCI_MT_NAME_DOCKER_V1_SIGNED; /* what schema 1 pushes carried in practice */
    default:
        return ""; /* never NULL, so a caller may print it unchecked */
    }
}

static bool oci_kind_is_image(oci_media_kind_t kind)
{
    return kind == OCI_MT_OCI_MANIFEST || kind == OCI_MT_DOCKER_MANIFEST;
}

static bool oci_kind_is_index(oci_media_kind_t kind)
{
    return kind == OCI_MT_OCI_INDEX || kind == OCI_MT_DOCKER_LIST;
}

/* RFC 6838 4.2 restricted-name: ALPHA / DIGIT first, then ALPHA / DIGIT and
 * "!#$&-^_.+", 1 to 127 characters */
static size_t oci_restricted_name_len(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && i < OCI_MEDIA_NAME_MAX) {
        unsigned char c = (unsigned char)s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || strchr("!#$&-^_.+", c) == NULL || c == '\0'))
            break;
        i++;
    }
    return i;
}

/*
 * A descriptor's or artifact's media type: "type/subtype" by RFC 6838 4.2, as the
 * image spec requires, optionally followed by ";" parameters of printable ASCII.
 * These strings come back out in referrers responses and headers, so control
 * characters (CR, LF, NUL) must never get in.
 */
static bool oci_media_type_valid(const char *s, size_t len)
{
    if (len == 0 || len >= OCI_MEDIA_TYPE_MAX)
        return false;
    size_t t = oci_restricted_name_len(s, len);
    if (t == 0 || t >= len || s[t] != '/')
        return false;
    size_t st = oci_restricted_name_len(s + t + 1, len - t - 1);
    if (st == 0)
        return false;
    size_t i = t + 1 + st;
    if (i == len)
        return true;
    while (i < len && oci_is_ows(s[i]))
        i++;
    if (i >= len || s[i] != ';')
        return false;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e)
            return false;
    }
    return true;
}

/* Names the JSON path of the field at fault, e.g. "layers[3]", for messages. */
typedef struct {
    const char *field;
    size_t index; /* SIZE_MAX: not an array element */
} oci_where_t;

#define OCI_NOT_ELEMENT SIZE_MAX

/* oci_fail with the descriptor's path put in front of the message. */
static oci_status_t oci_fail_at(oci_err_t *err, oci_status_t st, oci_where_t w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static oci_status_t oci_fail_at(oci_err_t *err, oci_status_t st, oci_where_t w, const char *fmt, ...)
{
    char msg[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (w.index == OCI_NOT_ELEMENT)
        return oci_fail(err, st, "%s%s", w.field, msg);
    return oci_fail(err, st, "%s[%zu]%s", w.field, w.index, msg);
}

typedef enum { OCI_FIELD_ABSENT = 0, OCI_FIELD_PRESENT = 1, OCI_FIELD_BAD = -1 } oci_field_t;

/* An optional string member. JSON null counts as absent, as it does for the Go
 * clients that write these documents. A string with a NUL byte is BAD: jansson
 * refuses \u0000 unless asked, but the check keeps that assumption local. */
static oci_field_t oci_get_string(const json_t *obj, const char *key, const char **val, size_t *len)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return OCI_FIELD_ABSENT;
    if (!json_is_string(v))
        return OCI_FIELD_BAD;
    *val = json_string_value(v);
    *len = json_string_length(v);
    if (memchr(*val, '\0', *len) != NULL)
        return OCI_FIELD_BAD;
    return OCI_FIELD_PRESENT;
}

/* annotations: a string-to-string map (image-spec annotations.md) */
static bool oci_annotations_valid(const json_t *v)
{
    if (!json_is_object(v))
        return false;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        if (!json_is_string(val) || memchr(json_string_value(val), '\0', json_string_length(val)) != NULL)
            return false;
    }
    return true;
}

static bool oci_media_type_is_foreign(const char *mt)
{
    return strcasecmp(mt, OCI_MT_NAME_DOCKER_FOREIGN) == 0 ||
           strncasecmp(mt, OCI_MT_PREFIX_NONDISTRIBUTABLE, strlen(OCI_MT_PREFIX_NONDISTRIBUTABLE)) == 0;
}

static oci_status_t oci_descriptor_parse(const json_t *j, oci_where_t w, oci_descriptor_t *d, oci_err_t *err)
{
    memset(d, 0, sizeof(*d));
    if (!json_is_object(j))
        return oci_fail_at(err, OCI_EINVAL, w, " must be a descriptor object");

    const char *s = NULL;
    size_t n = 0;
    switch (oci_get_string(j, "mediaType", &s, &n)) {
    case OCI_FIELD_ABSENT:
        return oci_fail_at(err, OCI_EINVAL, w, ".mediaType is missing");
    case OCI_FIELD_BAD:
        return oci_fail_at(err, OCI_EINVAL, w, ".mediaType must be a string");
    case OCI_FIELD_PRESENT:
        break;
    }
    if (!oci_media_type_valid(s, n))
        return oci_fail_at(err, OCI_EINVAL, w, ".mediaType is not a media type (RFC 6838, under %d bytes)", OCI_MEDIA_TYPE_MAX);
    memcpy(d->media_type, s, n + 1);

    switch (oci_get_string(j, "digest", &s, &n)) {
    case OCI_FIELD_ABSENT:
        return oci_fail_at(err, OCI_EINVAL, w, ".digest is missing");
    case OCI_FIELD_BAD:
        return oci_fail_at(err, OCI_EINVAL, w, ".digest must be a string");
    case OCI_FIELD_PRESENT:
        break;
    }
    oci_err_t derr;
    oci_status_t st = oci_digest_parse(s, n, &d->digest, &derr);
    if (st != OCI_OK)
        return oci_fail_at(err, st, w, ".digest: %s", derr.msg);

    const json_t *size = json_object_get(j, "size");
    if (size == NULL || json_is_null(size))
        return oci_fail_at(err, OCI_EINVAL, w, ".size is missing");
    /* int64 in the spec; a real such as 1.0 or 1e3 is not an integer */
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return oci_fail_at(err, OCI_EINVAL, w, ".size must be a non-negative integer");
    d->size = (uint64_t)json_integer_value(size);

    switch (oci_get_string(j, "artifactType", &s, &n)) {
    case OCI_FIELD_BAD:
        return oci_fail_at(err, OCI_EINVAL, w, ".artifactType must be a string");
    case OCI_FIELD_PRESENT:
        if (n > 0) { /* "" is what a careless writer emits for "none" */
            if (!oci_media_type_valid(s, n))
                return oci_fail_at(err, OCI_EINVAL, w, ".artifactType is not a media type");
            memcpy(d->artifact_type, s, n + 1);
        }
        break;
    case OCI_FIELD_ABSENT:
        break;
    }

    const json_t *urls = json_object_get(j, "urls");
    if (urls != NULL && !json_is_null(urls)) {
        if (!json_is_array(urls))
            return oci_fail_at(err, OCI_EINVAL, w, ".urls must be an array of strings");
        for (size_t i = 0; i < json_array_size(urls); i++) {
            const json_t *u = json_array_get(urls, i);
            if (!json_is_string(u) || json_string_length(u) == 0 ||
                memchr(json_string_value(u), '\0', json_string_length(u)) != NULL)
                return oci_fail_at(err, OCI_EINVAL, w, ".urls must hold non-empty strings");
        }
        d->foreign = json_array_size(urls) > 0;
    }
    if (oci_media_type_is_foreign(d->media_type))
        d->foreign = true;

    const json_t *ann = json_object_get(j, "annotations");
    if (ann != NULL && !json_is_null(ann) && !oci_annotations_valid(ann))
        return oci_fail_at(err, OCI_EINVAL, w, ".annotations must map strings to strings");

    const json_t *data = json_object_get(j, "data");
    if (data != NULL && !json_is_null(data) && !json_is_string(data))
        return oci_fail_at(err, OCI_EINVAL, w, ".data must be a base64 string");

    const json_t *platform = json_object_get(j, "platform");
    if (platform != NULL && !json_is_null(platform)) {
        if (!json_is_object(platform))
            return oci_fail_at(err, OCI_EINVAL, w, ".platform must be an object");
        const char *key;
        const json_t *pv;
        json_object_foreach((json_t *)platform, key, pv)
        {
            bool want_string = strcmp(key, "architecture") == 0 || strcmp(key, "os") == 0 || strcmp(key, "os.version") == 0 ||
                               strcmp(key, "variant") == 0;
            if (want_string && !json_is_string(pv))
                return oci_fail_at(err, OCI_EINVAL, w, ".platform.%s must be a string", key);
        }
    }
    return OCI_OK;
}

/* Parses each element of `arr` into dst[offset...]. */
static oci_status_t oci_descriptor_array(const json_t *arr, const char *field, oci_descriptor_t *dst, oci_err_t *err)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        oci_where_t w = {field, i};
        oci_status_t st = oci_descriptor_parse(json_array_get(arr, i), w, &dst[i], err);
        if (st != OCI_OK)
            return st;
    }
    return OCI_OK;
}

/* A member that must be absent or null, because its presence would make the
 * document readable as another kind. */
static bool oci_absent(const json_t *root, const char *key)
{
    const json_t *v = json_object_get(root, key);
    return v == NULL || json_is_null(v);
}

static oci_status_t oci_parse_image(const json_t *root, oci_manifest_t *out, oci_err_t *err)
{
    if (!oci_absent(root, "manifests"))
        return oci_fail(err, OCI_EINVAL, "an image manifest must not have \"manifests\" (is it an index?)");
    const json_t *config = json_object_get(root, "config");
    if (config == NULL || json_is_null(config))
        return oci_fail(err, OCI_EINVAL, "image manifest has no \"config\" descriptor");
    const json_t *layers = json_object_get(root, "layers");
    if (layers == NULL || json_is_null(layers))
        return oci_fail(err, OCI_EINVAL, "image manifest has no \"layers\" array");
    if (!json_is_array(layers))
        return oci_fail(err, OCI_EINVAL, "\"layers\" must be an array of descriptors");

    size_t n = json_array_size(layers) + 1;
    out->blobs = calloc(n, sizeof(*out->blobs));
    if (out->blobs == NULL)
        return oci_fail(err, OCI_EINVAL, "out of memory for %zu descriptors", n);
    out->nblobs = n;
    oci_status_t st = oci_descriptor_parse(config, (oci_where_t){"config", OCI_NOT_ELEMENT}, &out->blobs[0], err);
    if (st != OCI_OK)
        return st;
    /* Only layers may live outside the registry: every client that runs the
     * image reads its config from here, urls or not. */
    out->blobs[0].foreign = false;
    return oci_descriptor_array(layers, "layers", out->blobs + 1, err);
}

static oci_status_t oci_parse_index(const json_t *root, oci_manifest_t *out, oci_err_t *err)
{
    if (!oci_absent(root, "config") || !oci_absent(root, "layers"))
        return oci_fail(err, OCI_EINVAL, "an index must not have \"config\" or \"layers\" (is it an image manifest?)");
    const json_t *children = json_object_get(root, "manifests");
    if (children == NULL || json_is_null(children))
        return oci_fail(err, OCI_EINVAL, "index has no \"manifests\" array");
    if (!json_is_array(children))
        return oci_fail(err, OCI_EINVAL, "\"manifests\" must be an array of descriptors");
    size_t n = json_array_size(children);
    if (n == 0)
        return OCI_OK; /* an empty index is valid: a placeholder to hang referrers or annotations on */
    out->manifests = calloc(n, sizeof(*out->manifests));
    if (out->manifests == NULL)
        return oci_fail(err, OCI_EINVAL, "out of memory for %zu descriptors", n);
    out->nmanifests = n;
    return oci_descriptor_array(children, "manifests", out->manifests, err);
}

/* Decides the manifest's kind from the body's mediaType and the Content-Type. */
static oci_status_t oci_manifest_kind(const json_t *root, const char *ct, size_t ct_len, oci_media_kind_t *kind, oci_err_t *err)
{
    const char *mt = NULL;
    size_t mt_len = 0;
    oci_field_t f = oci_get_string(root, "mediaType", &mt, &mt_len);
    if (f == OCI_FIELD_BAD)
        return oci_fail(err, OCI_EINVAL, "\"mediaType\" must be a string");
    oci_media_kind_t ct_kind = ct != NULL ? oci_media_kind(ct, ct_len) : OCI_MT_UNKNOWN;

    if (f == OCI_FIELD_PRESENT && mt_len > 0) {
        *kind = oci_media_kind(mt, mt_len);
        if (*kind == OCI_MT_UNKNOWN)
            return oci_fail(err, OCI_EINVAL, "\"mediaType\" is not a manifest media type this registry accepts");
        /* a client that says one thing in the header and another in the body would
         * have the stored manifest served under a type it did not push */
        if (ct_kind != OCI_MT_UNKNOWN && ct_kind != *kind)
            return oci_fail(err, OCI_EINVAL, "\"mediaType\" (%s) disagrees with the Content-Type (%s)", oci_media_kind_name(*kind),
                            oci_media_kind_name(ct_kind));
    } else {
        *kind = ct_kind;
    }

    const json_t *sv = json_object_get(root, "schemaVersion");
    bool schema1 = json_is_integer(sv) && json_integer_value(sv) == 1;
    if (*kind == OCI_MT_DOCKER_V1 || (*kind == OCI_MT_UNKNOWN && schema1))
        return oci_fail(err, OCI_EUNSUPPORTED, "Docker schema 1 manifests are not supported; push schema 2 or OCI");
    if (*kind == OCI_MT_UNKNOWN)
        return oci_fail(err, OCI_EINVAL, "unknown manifest media type: set \"mediaType\" or a manifest Content-Type");
    if (!json_is_integer(sv) || json_integer_value(sv) != OCI_SCHEMA_VERSION)
        return oci_fail(err, OCI_EINVAL, "\"schemaVersion\" must be the integer 2");
    return OCI_OK;
}

/* Copies jansson's error text, replacing anything unprintable: the text can
 * quote a token of the body, and the message ends up in a response. */
static oci_status_t oci_json_error(oci_err_t *err, const json_error_t *jerr)
{
    char text[sizeof(jerr->text)];
    size_t i = 0;
    for (; i + 1 < sizeof(text) && jerr->text[i] != '\0'; i++) {
        unsigned char c = (unsigned char)jerr->text[i];
        text[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    text[i] = '\0';
    return oci_fail(err, OCI_EINVAL, "manifest is not valid JSON at byte %d: %s", jerr->position, text);
}

static oci_status_t oci_manifest_fill(const json_t *root, const char *ct, size_t ct_len, oci_manifest_t *out, oci_err_t *err)
{
    if (!json_is_object(root))
        return oci_fail(err, OCI_EINVAL, "manifest must be a JSON object");
    oci_status_t st = oci_manifest_kind(root, ct, ct_len, &out->kind, err);
    if (st != OCI_OK)
        return st;
    /* the canonical spelling: it is served back as Content-Type, so never the raw input */
    snprintf(out->media_type, sizeof(out->media_type), "%s", oci_media_kind_name(out->kind));

    if (oci_kind_is_image(out->kind))
        st = oci_parse_image(root, out, err);
    else if (oci_kind_is_index(out->kind))
        st = oci_parse_index(root, out, err);
    else
        st = oci_fail(err, OCI_EINVAL, "manifest kind has no parser"); /* unreachable: kind was checked above */
    if (st != OCI_OK)
        return st;

    const json_t *subject = json_object_get(root, "subject");
    if (subject != NULL && !json_is_null(subject)) {
        st = oci_descriptor_parse(subject, (oci_where_t){"subject", OCI_NOT_ELEMENT}, &out->subject, err);
        if (st != OCI_OK)
            return st;
        out->has_subject = true;
    }

    const char *at = NULL;
    size_t at_len = 0;
    oci_field_t f = oci_get_string(root, "artifactType", &at, &at_len);
    if (f == OCI_FIELD_BAD)
        return oci_fail(err, OCI_EINVAL, "\"artifactType\" must be a string");
    if (f == OCI_FIELD_PRESENT && at_len > 0) {
        if (!oci_media_type_valid(at, at_len))
            return oci_fail(err, OCI_EINVAL, "\"artifactType\" is not a media type (RFC 6838, under %d bytes)", OCI_MEDIA_TYPE_MAX);
        memcpy(out->artifact_type, at, at_len + 1);
    } else if (oci_kind_is_image(out->kind)) {
        /* referrers rule (distribution-spec 1.1): else the config's media type,
         * unless the config is a plain image config, which makes it no artifact */
        const char *cfg = out->blobs[0].media_type;
        if (strcasecmp(cfg, OCI_MT_NAME_OCI_CONFIG) != 0 && strcasecmp(cfg, OCI_MT_NAME_DOCKER_CONFIG) != 0)
            memcpy(out->artifact_type, cfg, strlen(cfg) + 1);
    }

    const json_t *ann = json_object_get(root, "annotations");
    if (ann != NULL && !json_is_null(ann)) {
        if (!oci_annotations_valid(ann))
            return oci_fail(err, OCI_EINVAL, "\"annotations\" must map strings to strings");
        if (json_object_size(ann) > 0) { /* an empty map is no annotations: keep NULL */
            /* json_dumpb into our own malloc'd buffer, so that oci_manifest_free may
             * free() it even if someone installs other jansson allocators */
            size_t need = json_dumpb(ann, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
            out->annotations_json = need > 0 ? malloc(need + 1) : NULL;
            if (out->annotations_json == NULL)
                return oci_fail(err, OCI_EINVAL, "out of memory for annotations");
            if (json_dumpb(ann, out->annotations_json, need, JSON_COMPACT | JSON_SORT_KEYS) != need)
                return oci_fail(err, OCI_EINVAL, "annotations could not be serialised");
            out->annotations_json[need] = '\0';
        }
    }
    return OCI_OK;
}

oci_status_t oci_manifest_parse(const void *body, size_t len, const char *content_type, size_t content_type_len,
                                oci_manifest_t *out, oci_err_t *err)
{
    if (out == NULL)
        return oci_fail(err, OCI_EINVAL, "no manifest to fill");
    memset(out, 0, sizeof(*out));
    if (body == NULL || len == 0)
        return oci_fail(err, OCI_EINVAL, "manifest body is empty");
    if (len > OCI_MANIFEST_MAX_BYTES)
        return oci_fail(err, OCI_EINVAL, "manifest is %zu bytes, above the %u byte limit", len, OCI_MANIFEST_MAX_BYTES);

    json_error_t jerr;
    /* no JSON_ALLOW_NUL: a "\u0000" in any string fails the parse; DECODE_ANY lets
     * "[]" or "2" through to the clearer "must be a JSON object" below */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL)
        return oci_json_error(err, &jerr);
    oci_status_t st = oci_manifest_fill(root, content_type, content_type_len, out, err);
    json_decref(root);
    if (st != OCI_OK)
        oci_manifest_free(out); /* on failure nothing is left for the caller to free */
    return st;
}

void oci_manifest_free(oci_manifest_t *m)
{
    if (m == NULL)
        return;
    free(m->blobs);
    free(m->manifests);
    free(m->annotations_json);
    memset(m, 0, sizeof(*m));
}
