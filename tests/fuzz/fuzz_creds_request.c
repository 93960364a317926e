/*
 * tests/fuzz/fuzz_creds_request.c — the request head parser of the agent's
 * task role credentials endpoint (agent_creds_parse_request,
 * cli/agent_creds.c), which any local process can reach. Any head either is
 * GET /v1/credentials over HTTP/1.x, with a token that fits the caller's
 * buffer and holds no line break, or gets 400, 404 or 405; never a crash,
 * never a read past the head.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) /* the endpoint reads at most 8 KiB */
        return 0;
    char *head = malloc(size + 1);
    if (!head)
        return 0;
    memcpy(head, data, size);
    head[size] = '\0';
    char token[AGENT_CREDS_TOKEN_MAX + 1];
    memset(token, 'x', sizeof(token));
    int status = agent_creds_parse_request(head, token);
    FUZZ_CHECK(status == 200 || status == 400 || status == 404 || status == 405);
    FUZZ_CHECK(memchr(token, '\0', sizeof(token)) != NULL);
    if (status == 200) {
        FUZZ_CHECK(strncmp(head, "GET /v1/credentials HTTP/1.", 27) == 0);
        FUZZ_CHECK(strcspn(token, "\r\n") == strlen(token));
    } else {
        FUZZ_CHECK(token[0] == '\0');
    }
    free(head);
    return 0;
}
