/*
 * tests/fuzz/fuzz_image_ref.c — the agent's image reference parser
 * (agent_parse_image, cli/agent_pull.c), which turns a task definition's
 * `image` into the repository and reference it pulls. Any string either
 * parses into a non-empty repository of the registry's name characters and
 * a tag or sha256 digest that fits a URL path unescaped, or is refused with
 * a CannotPullContainerError message; never a crash, never an overflow of
 * the caller's buffers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *image = malloc(size + 1);
    if (!image)
        return 0;
    memcpy(image, data, size);
    image[size] = '\0';
    char repo[1024], ref[256];
    cli_err_t e = {{0}};
    if (agent_parse_image(image, repo, sizeof(repo), ref, sizeof(ref), &e) == 0) {
        FUZZ_CHECK(repo[0] != '\0' && strlen(repo) < sizeof(repo));
        FUZZ_CHECK(strspn(repo, "abcdefghijklmnopqrstuvwxyz0123456789_.-/") == strlen(repo));
        FUZZ_CHECK(ref[0] != '\0');
        FUZZ_CHECK(strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:") == strlen(ref));
        if (strchr(image, '@'))
            FUZZ_CHECK(strncmp(ref, "sha256:", 7) == 0 && strlen(ref) == 71);
    } else {
        FUZZ_CHECK(strncmp(e.msg, "CannotPullContainerError: ", 26) == 0);
    }
    free(image);
    return 0;
}
