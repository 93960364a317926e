/* The stored upload session: encode/decode round trip and refusal of damage. */
#include <criterion/criterion.h>
#include <string.h>

#include "storage/storage_internal.h"

static session_t sample(void)
{
    session_t s = {0};
    strcpy(s.repo, "library/alpine");
    s.blob_id = 42;
    s.created = 1000;
    s.updated = 2000;
    SHA256_Init(&s.sha256);
    SHA256_Update(&s.sha256, "abcdefghij", 10);
    s.offset = 10;
    return s;
}

Test(session, round_trips)
{
    session_t s = sample(), back;
    unsigned char buf[512];
    size_t n = session_encoded_size(&s);
    cr_assert_leq(n, sizeof(buf));
    session_encode(&s, buf);
    cr_assert(session_decode(buf, n, &back));
    cr_assert_str_eq(back.repo, "library/alpine");
    cr_assert_eq(back.blob_id, 42);
    cr_assert_eq(back.offset, 10);
    cr_assert(memcmp(&back.sha256, &s.sha256, sizeof(SHA256_CTX)) == 0);
}

Test(session, refuses_truncation_and_a_hash_state_that_disagrees_with_the_offset)
{
    session_t s = sample(), back;
    unsigned char buf[512];
    size_t n = session_encoded_size(&s);
    session_encode(&s, buf);
    for (size_t cut = 0; cut < n; cut++)
        cr_assert_not(session_decode(buf, cut, &back), "truncated to %zu", cut);
    s.offset = 11;
    session_encode(&s, buf);
    cr_assert_not(session_decode(buf, n, &back));
    s = sample();
    strcpy(s.repo, "../etc");
    n = session_encoded_size(&s);
    session_encode(&s, buf);
    cr_assert_not(session_decode(buf, n, &back), "an invalid repository name is refused");
}
