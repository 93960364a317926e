/*
 * tests/fuzz/fuzz_ecr_request.c — the ECR API's request shapes
 * (server/ecr/request.c). Input: an operation name, a newline, then the JSON
 * body. Any body is accepted or refused with a message; a refusal names a
 * member of the body (or a required one it lacks, or "" for a body that is
 * not an object); never a crash. An accepted repositoryName always matches
 * ECR's pattern, so the handlers never see another.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "server/ecr/ecr_request.h"

/* UploadLayerPart's fast path (ecr_part_blob_find) agrees with jansson: when
 * it finds a span, a body jansson reads as an object has that very string as
 * its layerPartBlob, and the body without the span reads as the same object
 * with layerPartBlob "". */
static void part_blob_agrees(const char *b, size_t len)
{
    size_t off = 0, n = 0;
    if (!ecr_part_blob_find(b, len, &off, &n))
        return;
    FUZZ_CHECK(off >= 1 && off + n < len && b[off - 1] == '"' && b[off + n] == '"');
    json_t *whole = json_loadb(b, len, 0, NULL);
    if (!json_is_object(whole)) {
        json_decref(whole);
        return;
    }
    json_t *v = json_object_get(whole, "layerPartBlob");
    FUZZ_CHECK(json_is_string(v) && json_string_length(v) == n && memcmp(json_string_value(v), b + off, n) == 0);
    char *rest = malloc(len - n + 1);
    FUZZ_CHECK(rest != NULL);
    memcpy(rest, b, off);
    memcpy(rest + off, b + off + n, len - off - n);
    json_t *trimmed = json_loadb(rest, len - n, 0, NULL);
    free(rest);
    FUZZ_CHECK(json_is_object(trimmed));
    FUZZ_CHECK(json_object_set_new(trimmed, "layerPartBlob", json_stringn(b + off, n)) == 0);
    FUZZ_CHECK(json_equal(whole, trimmed));
    json_decref(trimmed);
    json_decref(whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl || nl - data > 64)
        return 0;
    char op[65];
    memcpy(op, data, (size_t)(nl - data));
    op[nl - data] = '\0';
    json_t *body = json_loadb((const char *)nl + 1, size - (size_t)(nl + 1 - data), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!body)
        return 0;
    ecr_request_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = ecr_request_check(op, body, &err);
    FUZZ_CHECK(rc == -1 || rc == 0 || rc == 1);
    if (rc < 0) {
        FUZZ_CHECK(err.msg[0] != '\0');
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        if (json_is_object(body)) {
            FUZZ_CHECK(err.field[0] != '\0');
            FUZZ_CHECK(strstr(err.msg, err.field) != NULL);
        } else {
            FUZZ_CHECK(err.field[0] == '\0');
        }
    } else if (rc == 0) {
        FUZZ_CHECK(json_is_object(body));
        json_t *name = json_object_get(body, "repositoryName");
        if (name)
            FUZZ_CHECK(json_is_string(name) && ecr_name_valid(json_string_value(name)));
        json_t *max = json_object_get(body, "maxResults");
        if (max)
            FUZZ_CHECK(json_is_integer(max) && json_integer_value(max) >= 1 && json_integer_value(max) <= 1000);
    }
    json_decref(body);
    part_blob_agrees((const char *)nl + 1, size - (size_t)(nl + 1 - data));
    return 0;
}
