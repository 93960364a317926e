/*
 * tests/fuzz/fuzz_name.c — repository names, tags and references against the
 * distribution spec's grammars written as POSIX regexes: the hand-written
 * scanners must agree with the regex on every input.
 */
#include <regex.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "oci/oci.h"

#define NAME_GRAMMAR "^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$"
#define TAG_GRAMMAR "^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$"
/* the regex is the slow half; anything longer is invalid by length anyway */
#define NAME_REGEX_MAX_INPUT 1024

static regex_t name_re, tag_re;

static void compile_once(void)
{
    static bool ready;
    if (!ready) {
        FUZZ_CHECK(regcomp(&name_re, NAME_GRAMMAR, REG_EXTENDED | REG_NOSUB) == 0);
        FUZZ_CHECK(regcomp(&tag_re, TAG_GRAMMAR, REG_EXTENDED | REG_NOSUB) == 0);
        ready = true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    bool name = oci_name_valid(s, size);
    bool tag = oci_tag_valid(s, size);
    FUZZ_CHECK(!name || size <= OCI_NAME_MAX);
    FUZZ_CHECK(!tag || size <= OCI_TAG_MAX);

    oci_reference_t ref;
    oci_err_t err;
    oci_status_t st = oci_reference_parse(s, size, &ref, &err);
    bool has_colon = memchr(s, ':', size) != NULL;
    if (!has_colon) {
        FUZZ_CHECK((st == OCI_OK) == tag); /* without ':' a reference is exactly a tag */
        if (st == OCI_OK)
            FUZZ_CHECK(!ref.is_digest && strlen(ref.tag) == size && memcmp(ref.tag, s, size) == 0);
    } else {
        FUZZ_CHECK(!tag);
        oci_digest_t d;
        FUZZ_CHECK(st == oci_digest_parse(s, size, &d, NULL));
        FUZZ_CHECK(ref.is_digest == (st == OCI_OK));
        if (st == OCI_OK)
            FUZZ_CHECK(strcmp(ref.digest.str, d.str) == 0);
    }

    if (size > NAME_REGEX_MAX_INPUT || memchr(s, '\0', size) != NULL) {
        FUZZ_CHECK(!(memchr(s, '\0', size) != NULL && (name || tag)));
        return 0;
    }
    compile_once();
    char *z = malloc(size + 1);
    FUZZ_CHECK(z != NULL);
    memcpy(z, s, size);
    z[size] = '\0';
    bool name_want = size <= OCI_NAME_MAX && regexec(&name_re, z, 0, NULL, 0) == 0;
    bool tag_want = regexec(&tag_re, z, 0, NULL, 0) == 0;
    if (name != name_want || tag != tag_want) {
        fprintf(stderr, "\"%s\": name %d (grammar %d), tag %d (grammar %d)\n", z, name, name_want, tag, tag_want);
        abort();
    }
    free(z);
    return 0;
}
