/*
 * tests/fuzz/fuzz_digest.c — digests, three ways:
 * 1. differential: oci_digest_compute of the input equals OpenSSL's one-shot
 *    SHA256()/SHA512(), formatted here independently;
 * 2. round trip: the computed string parses back to itself;
 * 3. the input as a digest string: oci_digest_parse agrees with the spec
 *    grammar as a POSIX regex, and what it accepts it keeps byte for byte.
 */
#include <regex.h>
#include <stdint.h>
#include <string.h>

#include <openssl/sha.h>

#include "fuzz_check.h"
#include "oci/oci.h"

/* image-spec descriptor.md; anchored, POSIX ERE ('-' last in a bracket is literal) */
#define DIGEST_GRAMMAR "^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"
#define SHA256_ENCODED "^[a-f0-9]{64}$"
#define SHA512_ENCODED "^[a-f0-9]{128}$"
/* inputs longer than this skip the regex: it is the slow half, and length rules are covered below */
#define DIGEST_REGEX_MAX_INPUT 4096

static void hex(const unsigned char *raw, size_t n, const char *prefix, char *out)
{
    size_t pos = (size_t)sprintf(out, "%s:", prefix);
    for (size_t i = 0; i < n; i++)
        pos += (size_t)sprintf(out + pos, "%02x", raw[i]);
}

static void check_compute(const uint8_t *data, size_t size)
{
    unsigned char raw[SHA512_DIGEST_LENGTH];
    char want[OCI_DIGEST_MAX];
    oci_digest_t got, back;

    SHA256(data, size, raw);
    hex(raw, SHA256_DIGEST_LENGTH, "sha256", want);
    oci_digest_compute(OCI_ALG_SHA256, data, size, &got);
    FUZZ_CHECK(got.alg == OCI_ALG_SHA256);
    FUZZ_CHECK(strcmp(got.str, want) == 0);
    FUZZ_CHECK(got.len == strlen(want));
    FUZZ_CHECK(oci_digest_parse(got.str, got.len, &back, NULL) == OCI_OK);
    FUZZ_CHECK(back.alg == got.alg && back.len == got.len && strcmp(back.str, got.str) == 0);

    SHA512(data, size, raw);
    hex(raw, SHA512_DIGEST_LENGTH, "sha512", want);
    oci_digest_compute(OCI_ALG_SHA512, data, size, &got);
    FUZZ_CHECK(got.alg == OCI_ALG_SHA512);
    FUZZ_CHECK(strcmp(got.str, want) == 0);
    FUZZ_CHECK(oci_digest_parse(got.str, got.len, &back, NULL) == OCI_OK);
    FUZZ_CHECK(strcmp(back.str, got.str) == 0);
}

static bool matches(const char *pattern, const char *s)
{
    static regex_t compiled[3];
    static const char *patterns[3] = {DIGEST_GRAMMAR, SHA256_ENCODED, SHA512_ENCODED};
    static bool ready;
    if (!ready) {
        for (int i = 0; i < 3; i++)
            FUZZ_CHECK(regcomp(&compiled[i], patterns[i], REG_EXTENDED | REG_NOSUB) == 0);
        ready = true;
    }
    for (int i = 0; i < 3; i++) {
        if (patterns[i] == pattern)
            return regexec(&compiled[i], s, 0, NULL, 0) == 0;
    }
    abort();
}

static void check_parse(const uint8_t *data, size_t size)
{
    oci_digest_t d;
    oci_err_t err;
    memset(&err, 0xff, sizeof(err)); /* the message must come back NUL-terminated */
    oci_status_t st = oci_digest_parse((const char *)data, size, &d, &err);
    FUZZ_CHECK(st == OCI_OK || st == OCI_EINVAL || st == OCI_EUNSUPPORTED);
    if (st == OCI_OK) {
        FUZZ_CHECK(d.len == size && memcmp(d.str, data, size) == 0 && d.str[size] == '\0');
        FUZZ_CHECK((d.alg == OCI_ALG_SHA256 && size == 71) || (d.alg == OCI_ALG_SHA512 && size == 135));
    } else {
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        FUZZ_CHECK(d.alg == OCI_ALG_NONE && d.len == 0 && d.str[0] == '\0');
    }

    if (size > DIGEST_REGEX_MAX_INPUT || memchr(data, '\0', size) != NULL) {
        if (memchr(data, '\0', size) != NULL)
            FUZZ_CHECK(st == OCI_EINVAL);
        return;
    }
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    oci_status_t want;
    if (!matches(DIGEST_GRAMMAR, s))
        want = OCI_EINVAL;
    else if (strncmp(s, "sha256:", 7) == 0)
        want = matches(SHA256_ENCODED, s + 7) ? OCI_OK : OCI_EINVAL;
    else if (strncmp(s, "sha512:", 7) == 0)
        want = matches(SHA512_ENCODED, s + 7) ? OCI_OK : OCI_EINVAL;
    else
        want = OCI_EUNSUPPORTED;
    if (st != want) {
        fprintf(stderr, "digest_parse(\"%s\") = %d, grammar says %d\n", s, st, want);
        abort();
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_compute(data, size);
    check_parse(data, size);
    return 0;
}
