/*
 * tests/fuzz/fuzz_session.c — the upload session record as stored in LMDB.
 * The bytes may come from an older or damaged store, so decode must refuse
 * whatever is inconsistent; what it accepts must re-encode to the same bytes
 * and be safe to resume hashing from (the hash state's buffer index in range).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "storage/storage_internal.h"

/* A session record is a small header, a SHA-256 state and a name: 1 KiB is plenty. */
#define SESSION_FUZZ_MAX_BYTES 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    session_t s;
    memset(&s, 0xa5, sizeof(s));
    if (!session_decode(data, size, &s))
        return 0;

    FUZZ_CHECK(size <= SESSION_FUZZ_MAX_BYTES);
    size_t repo_len = strnlen(s.repo, sizeof(s.repo));
    FUZZ_CHECK(repo_len > 0 && repo_len < sizeof(s.repo));
    FUZZ_CHECK(oci_name_valid(s.repo, repo_len));
    FUZZ_CHECK(s.sha256.num < SHA256_CBLOCK && s.sha256.num == s.offset % SHA256_CBLOCK);

    /* what decode accepts, encode writes back byte for byte, but as the
     * current version (a version-1 record becomes version 2, flags 0) */
    FUZZ_CHECK(session_encoded_size(&s) == size);
    unsigned char again[SESSION_FUZZ_MAX_BYTES], want[SESSION_FUZZ_MAX_BYTES];
    memcpy(want, data, size);
    uint16_t version;
    memcpy(&version, want + 4, sizeof(version));
    FUZZ_CHECK(version == 1 || version == SESSION_VERSION);
    FUZZ_CHECK(version != 1 || s.flags == 0);
    version = SESSION_VERSION;
    memcpy(want + 4, &version, sizeof(version));
    session_encode(&s, again);
    FUZZ_CHECK(memcmp(again, want, size) == 0);

    /* resuming the hash from the decoded midstate stays inside its buffer */
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256_Update(&s.sha256, data, size);
    SHA256_Final(md, &s.sha256);
    return 0;
}
