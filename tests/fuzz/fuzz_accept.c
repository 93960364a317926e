/*
 * tests/fuzz/fuzz_accept.c — Accept header values and the media type
 * classifier under them.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "oci/oci.h"
#include "server/http_parse.h"

#define ALL_KINDS (OCI_MT_OCI_MANIFEST | OCI_MT_OCI_INDEX | OCI_MT_DOCKER_MANIFEST | OCI_MT_DOCKER_LIST | OCI_MT_DOCKER_V1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;

    bool any = false;
    unsigned kinds = http_accept_parse(s, size, &any);
    FUZZ_CHECK((kinds & ~(unsigned)ALL_KINDS) == 0);

    /* "any" only ever goes from false to true */
    bool still = true;
    FUZZ_CHECK(http_accept_parse(s, size, &still) == kinds && still);
    FUZZ_CHECK(http_accept_parse(s, size, NULL) == kinds);

    /* a value without a comma is one element: the list parse is the classifier */
    oci_media_kind_t k = oci_media_kind(s, size);
    if (memchr(s, ',', size) == NULL)
        FUZZ_CHECK(kinds == (unsigned)k);
    if (k != OCI_MT_UNKNOWN) {
        FUZZ_CHECK(k == OCI_MT_OCI_MANIFEST || k == OCI_MT_OCI_INDEX || k == OCI_MT_DOCKER_MANIFEST || k == OCI_MT_DOCKER_LIST ||
                   k == OCI_MT_DOCKER_V1);
        const char *name = oci_media_kind_name(k);
        FUZZ_CHECK(oci_media_kind(name, strlen(name)) == k);
    }
    return 0;
}
