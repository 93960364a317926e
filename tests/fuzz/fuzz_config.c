/*
 * tests/fuzz/fuzz_config.c — berthd's config file parser (server/config.h).
 * The input is the file's text, parsed against a table shaped like berthd's
 * (values, flags, a command-line-only option). Checks: a success applied
 * only known, file-settable keys with NUL-terminated values inside the
 * buffer, each at most once, flags only true or false; a failure says
 * which line.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "server/config.h"

static const server_option_t opts[] = {
    {"listen", true, false, 1}, {"threads", true, false, 2}, {"http2", false, false, 3},
    {"config", true, true, 4},  {"data", true, false, 5},    {"no-create-on-push", false, false, 6},
};
#define N (sizeof(opts) / sizeof(opts[0]))

typedef struct {
    const char *buf;
    size_t len;
    unsigned count[N + 1];
    bool refuse_digits; /* the callback refuses values starting with a digit: the failure path */
} state_t;

static int apply(void *ctx, const server_option_t *opt, const char *value, char *msg, size_t cap)
{
    state_t *s = ctx;
    FUZZ_CHECK(opt >= opts && opt < opts + N);
    FUZZ_CHECK(!opt->cli_only);
    FUZZ_CHECK(value >= s->buf && value < s->buf + s->len);
    size_t vlen = strlen(value);
    FUZZ_CHECK(vlen > 0 && value + vlen <= s->buf + s->len);
    FUZZ_CHECK(value[0] != ' ' && value[vlen - 1] != ' ' && !strchr(value, '\n'));
    if (!opt->takes_value)
        FUZZ_CHECK(strcmp(value, "true") == 0 || strcmp(value, "false") == 0);
    FUZZ_CHECK(++s->count[opt->code] == 1);
    if (s->refuse_digits && value[0] >= '0' && value[0] <= '9') {
        snprintf(msg, cap, "takes no digits");
        return -1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SERVER_CONFIG_MAX_BYTES)
        return 0;
    for (int pass = 0; pass < 2; pass++) {
        char *buf = malloc(size + 1);
        if (!buf)
            return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        state_t s = {.buf = buf, .len = size, .refuse_digits = pass == 1};
        char err[512] = "";
        int rc = server_config_parse(buf, size, opts, N, apply, &s, err, sizeof(err));
        FUZZ_CHECK(rc == 0 || rc == -1);
        if (rc != 0)
            FUZZ_CHECK(strncmp(err, "line ", 5) == 0 && strlen(err) < sizeof(err));
        free(buf);
    }
    return 0;
}
