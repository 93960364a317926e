/*
 * server/ecr/ecr_request.h — the shapes of the ECR operations' request
 * bodies, checked before a handler reads them: member names, JSON types,
 * enums, ECR's repository name pattern, the bounds of lists and pages.
 * Pure (jansson and oci/ only), so that a fuzz target can drive it; the
 * handlers (repos.c, images.c) then check what needs the store.
 */
#ifndef BERTH_SERVER_ECR_REQUEST_H
#define BERTH_SERVER_ECR_REQUEST_H

#include <jansson.h>
#include <stdbool.h>

typedef struct {
    char field[64]; /* the member at fault ("" when the body is not an object) */
    char msg[384];  /* "Invalid parameter at 'field': ..." or "field is required" */
} ecr_request_err_t;

/* UploadLayerPart: ECR's API takes a layerPartBlob of up to 20 MiB (its
 * model's bound). A part arrives base64-encoded in the JSON body, so the
 * envelope lets that operation's body be as large as such a part encoded,
 * plus room for the other members; every other operation keeps its 4 MiB. */
#define ECR_LAYER_PART_MAX_BYTES ((size_t)20 << 20)
#define ECR_LAYER_PART_MAX_B64 ((ECR_LAYER_PART_MAX_BYTES + 2) / 3 * 4)
#define ECR_LAYER_PART_MAX_BODY (ECR_LAYER_PART_MAX_B64 + 64 * 1024)

/* UploadLayerPart's fast path: jansson needs ~1.4 s to parse a 28 MB
 * string, on the event loop. This finds, without parsing, the content of the
 * top-level member "layerPartBlob" of the raw JSON body `b`, when it is a
 * string without escapes: 1 with its offset and length (between the quotes),
 * so that the body can be parsed without it and the part decoded in place;
 * 0 when there is none, it is given twice, holds an escape, or the body is
 * cut short (then the body is parsed whole, slowly but correctly). */
int ecr_part_blob_find(const char *b, size_t len, size_t *off, size_t *n);

/* 0 when body has the shape operation `op` takes; -1 with err filled when it
 * does not; 1 when op is not one of the operations described here. */
int ecr_request_check(const char *op, const json_t *body, ecr_request_err_t *err);

/* ECR's repository name: (?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*, 2 to 255
 * characters (ECR's 256 less one: OCI_NAME_MAX, the store's bound). */
bool ecr_name_valid(const char *s);

#endif
