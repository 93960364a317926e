/*
 * tests/fuzz/fuzz_gc_request.c — BerthAdmin_20261207.RunGarbageCollection's
 * parameters (server/berth/gc.c, berth_gc_parse_request). Input: the JSON
 * body. Any body either parses, with a grace period within bounds, or is
 * refused with a message; never a crash.
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "server/server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!body)
        return 0;
    storage_gc_options_t opt;
    char msg[200] = "";
    int rc = berth_gc_parse_request(body, &opt, msg, sizeof(msg));
    if (rc == 0) {
        FUZZ_CHECK(json_is_object(body));
        FUZZ_CHECK(opt.grace_seconds <= BERTH_GC_MAX_GRACE_SECONDS);
        FUZZ_CHECK(opt.dry_run == json_is_true(json_object_get(body, "dryRun")));
        FUZZ_CHECK(json_object_size(body) <= 2);
        FUZZ_CHECK(opt.duty_pct == 0 && opt.stop == NULL && opt.after_mark == NULL);
    } else {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(msg[0] != '\0');
    }
    json_decref(body);
    return 0;
}
