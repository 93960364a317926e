/*
 * oci/oci.h — the grammar of the OCI distribution spec: digests, repository
 * names, tags and references, manifest media types and manifest documents.
 *
 * Pure: no I/O, no globals, no allocation that outlives the caller's object.
 * Every function that can fail returns an oci_status_t and, when given an
 * oci_err_t, fills it with a message a user can act on.
 */
#ifndef BERTH_OCI_H
#define BERTH_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* distribution caps repository names at 255 bytes in total */
#define OCI_NAME_MAX 255
/* spec: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
#define OCI_TAG_MAX 128
/* "sha512:" + 128 hex digits + NUL */
#define OCI_DIGEST_MAX 136
/* distribution and ECR refuse manifests above 4 MiB */
#define OCI_MANIFEST_MAX_BYTES (4u << 20)
/* the longest media type we keep; RFC 6838 allows 127 + '/' + 127 */
#define OCI_MEDIA_TYPE_MAX 256

typedef enum {
    OCI_OK = 0,
    OCI_EINVAL = -1,      /* malformed input */
    OCI_EUNSUPPORTED = -2 /* well-formed, but not something we serve (digest algorithm, schema 1, ...) */
} oci_status_t;

typedef struct {
    char msg[192];
} oci_err_t;

/* A code in a few words ("malformed"); "unknown" for a value that is not one. */
const char *oci_status_name(oci_status_t s);

typedef enum { OCI_ALG_NONE = 0, OCI_ALG_SHA256 = 1, OCI_ALG_SHA512 = 2 } oci_digest_alg_t;

typedef struct {
    oci_digest_alg_t alg;
    size_t len;               /* strlen(str) */
    char str[OCI_DIGEST_MAX]; /* canonical "sha256:<lowercase hex>", NUL-terminated */
} oci_digest_t;

/* Parses "<algorithm>:<encoded>". sha256 needs 64 and sha512 128 lowercase hex
 * digits. Other algorithms that match the spec's grammar give OCI_EUNSUPPORTED;
 * anything else OCI_EINVAL. */
oci_status_t oci_digest_parse(const char *s, size_t len, oci_digest_t *out, oci_err_t *err);

/* The digest of bytes (OpenSSL). */
void oci_digest_compute(oci_digest_alg_t alg, const void *data, size_t len, oci_digest_t *out);

/* Builds a digest from a raw hash (32 or 64 bytes). */
void oci_digest_from_raw(oci_digest_alg_t alg, const unsigned char *raw, oci_digest_t *out);

/* Repository name per the spec:
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 * and at most OCI_NAME_MAX bytes. */
bool oci_name_valid(const char *s, size_t len);

/* Tag per the spec: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
bool oci_tag_valid(const char *s, size_t len);

typedef struct {
    bool is_digest;
    oci_digest_t digest;       /* when is_digest */
    char tag[OCI_TAG_MAX + 1]; /* when !is_digest, NUL-terminated */
} oci_reference_t;

/* A manifest reference: a digest if it contains ':', else a tag. */
oci_status_t oci_reference_parse(const char *s, size_t len, oci_reference_t *out, oci_err_t *err);

typedef enum {
    OCI_MT_UNKNOWN = 0,
    OCI_MT_OCI_MANIFEST = 1 << 0,    /* application/vnd.oci.image.manifest.v1+json */
    OCI_MT_OCI_INDEX = 1 << 1,       /* application/vnd.oci.image.index.v1+json */
    OCI_MT_DOCKER_MANIFEST = 1 << 2, /* application/vnd.docker.distribution.manifest.v2+json */
    OCI_MT_DOCKER_LIST = 1 << 3,     /* application/vnd.docker.distribution.manifest.list.v2+json */
    OCI_MT_DOCKER_V1 = 1 << 4,       /* schema 1 (...manifest.v1+json / +prettyjws): never served or accepted */
} oci_media_kind_t;

/* The kind of a media type string (parameters such as "; charset=utf-8" ignored). */
oci_media_kind_t oci_media_kind(const char *s, size_t len);
const char *oci_media_kind_name(oci_media_kind_t kind); /* canonical media type string */

typedef struct {
    oci_digest_t digest;
    uint64_t size;
    char media_type[OCI_MEDIA_TYPE_MAX];    /* "" when absent */
    char artifact_type[OCI_MEDIA_TYPE_MAX]; /* "" when absent */
    bool foreign; /* a layer with "urls" or a non-distributable type: need not exist in the registry (never a config) */
} oci_descriptor_t;

/* A parsed manifest: what the registry must check and record. */
typedef struct {
    oci_media_kind_t kind;
    char media_type[OCI_MEDIA_TYPE_MAX]; /* the body's mediaType, else the Content-Type */
    /* For the referrers API: the manifest's artifactType, else (image manifests) its
     * config's mediaType; "" for none. */
    char artifact_type[OCI_MEDIA_TYPE_MAX];
    bool has_subject;
    oci_descriptor_t subject;
    size_t nblobs; /* config first, then layers (image manifests) */
    oci_descriptor_t *blobs;
    size_t nmanifests; /* children (index, manifest list) */
    oci_descriptor_t *manifests;
    char *annotations_json; /* compact JSON object, or NULL when none */
} oci_manifest_t;

/* Validates a manifest body and extracts its references. The media type is the
 * body's "mediaType" when present, else content_type (may be NULL). Rules:
 * - must be a JSON object, at most OCI_MANIFEST_MAX_BYTES;
 * - schemaVersion 2; image manifests need a config descriptor and a layers
 *   array; index/list need a manifests array; every descriptor needs a valid
 *   digest, a non-negative integer size and a mediaType;
 * - if both the body's mediaType and a known manifest Content-Type are given
 *   and they disagree: OCI_EINVAL;
 * - schema 1: OCI_EUNSUPPORTED; an unknown media type: OCI_EINVAL.
 * On success the caller owns *out and frees it with oci_manifest_free. */
oci_status_t oci_manifest_parse(const void *body, size_t len, const char *content_type, size_t content_type_len,
                                oci_manifest_t *out, oci_err_t *err);
void oci_manifest_free(oci_manifest_t *m);

#endif
