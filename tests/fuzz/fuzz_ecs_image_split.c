/*
 * tests/fuzz/fuzz_ecs_image_split.c — berthd's split of a task definition's
 * image into repository and reference (ecs_image_split, server/ecs/agent.c),
 * which binpack(image) uses to find the layers the task's agent will pull.
 * Input: the image string. Any string either splits into a valid repository
 * name (at most the caller's buffer) that is the input's own text after an
 * optional registry host, and a reference that is the input's tag ("latest"
 * when none) or its sha256 digest; or it is refused. And berthd never names
 * a different image than the agent pulls: whatever berthd splits, the agent's
 * parser (agent_parse_image, cli/agent_pull.c) splits the same way.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "fuzz_check.h"
#include "server/server_internal.h"

/* images past this are not worth a fuzzer's time: a repository name is at most 255 bytes */
#define FUZZ_IMAGE_MAX 4096

/* Whether the n bytes at from are the repository and what follows them is ref. */
static bool split_at(const char *from, const char *repo, size_t n, const oci_reference_t *ref)
{
    if (strncmp(from, repo, n) != 0)
        return false;
    const char *rest = from + n;
    if (ref->is_digest)
        return ref->digest.alg == OCI_ALG_SHA256 && rest[0] == '@' && strcmp(rest + 1, ref->digest.str) == 0;
    if (rest[0] == '\0')
        return strcmp(ref->tag, "latest") == 0;
    return rest[0] == ':' && strcmp(rest + 1, ref->tag) == 0 && oci_tag_valid(ref->tag, strlen(ref->tag));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_IMAGE_MAX)
        return 0;
    char *image = malloc(size + 1);
    if (!image)
        return 0;
    memcpy(image, data, size);
    image[size] = '\0';
    /* a buffer one byte short of the longest name too: the split must refuse, never truncate */
    static const size_t lens[] = {OCI_NAME_MAX + 1, 16};
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        char repo[OCI_NAME_MAX + 1];
        memset(repo, 'Z', sizeof(repo));
        oci_reference_t ref;
        if (!ecs_image_split(image, repo, lens[k], &ref))
            continue;
        size_t n = strlen(repo);
        FUZZ_CHECK(n > 0 && n < lens[k]);
        FUZZ_CHECK(oci_name_valid(repo, n));
        /* the repository is the input's text, from its start or after its first '/' (the
         * host), followed by the reference; either place may start with the same text
         * ("000/000"), so the split must fit at one of them */
        const char *slash = strchr(image, '/');
        FUZZ_CHECK(split_at(image, repo, n, &ref) || (slash && split_at(slash + 1, repo, n, &ref)));
        /* the agent pulls the same repository and reference */
        char arepo[1024], aref[256];
        cli_err_t e = {{0}};
        FUZZ_CHECK(agent_parse_image(image, arepo, sizeof(arepo), aref, sizeof(aref), &e) == 0);
        FUZZ_CHECK(strcmp(arepo, repo) == 0);
        FUZZ_CHECK(strcmp(aref, ref.is_digest ? ref.digest.str : ref.tag) == 0);
    }
    free(image);
    return 0;
}
