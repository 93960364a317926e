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
#include <string.h>

#include "fuzz_check.h"
#include "server/ecr/ecr_request.h"

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
    return 0;
}
