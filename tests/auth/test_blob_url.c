/*
 * tests/auth/test_blob_url.c — signed blob URLs (GetDownloadUrlForLayer):
 * a URL opens exactly the repository and digest it was signed for, until
 * its expiry, under the master key that signed it; any change to the query
 * or to what it names is refused.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

static const unsigned char key[AUTH_SEAL_KEY_BYTES] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                                       17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
#define REPO "team/app"
#define DIGEST "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define OTHER_DIGEST "sha256:0f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define NOW 1800000000LL

static void sign(int64_t expires, char q[AUTH_BLOB_URL_QUERY_MAX + 1])
{
    auth_err_t err;
    cr_assert_eq(auth_blob_url_sign(key, REPO, DIGEST, expires, q, AUTH_BLOB_URL_QUERY_MAX + 1, &err), AUTH_OK, "%s", err.msg);
}

static auth_status_t verify(const unsigned char *k, const char *repo, const char *digest, const char *q, int64_t now)
{
    auth_err_t err = {{0}};
    auth_status_t st = auth_blob_url_verify(k, repo, digest, q, strlen(q), now, &err);
    if (st != AUTH_OK)
        cr_assert(err.msg[0], "a refusal says why");
    return st;
}

Test(blob_url, a_url_opens_its_blob_until_it_expires)
{
    char q[AUTH_BLOB_URL_QUERY_MAX + 1];
    sign(NOW + AUTH_BLOB_URL_SECONDS, q);
    cr_assert(auth_blob_url_signed(q, strlen(q)));
    cr_assert_eq(verify(key, REPO, DIGEST, q, NOW), AUTH_OK);
    cr_assert_eq(verify(key, REPO, DIGEST, q, NOW + AUTH_BLOB_URL_SECONDS - 1), AUTH_OK);
    cr_assert_eq(verify(key, REPO, DIGEST, q, NOW + AUTH_BLOB_URL_SECONDS), AUTH_EEXPIRED);
    cr_assert_eq(verify(key, REPO, DIGEST, q, NOW + 86400), AUTH_EEXPIRED);
}

Test(blob_url, a_url_opens_no_other_repository_or_digest)
{
    char q[AUTH_BLOB_URL_QUERY_MAX + 1];
    sign(NOW + 60, q);
    cr_assert_eq(verify(key, "team/other", DIGEST, q, NOW), AUTH_EBADSIG);
    cr_assert_eq(verify(key, "team/ap", DIGEST, q, NOW), AUTH_EBADSIG);
    cr_assert_eq(verify(key, REPO, OTHER_DIGEST, q, NOW), AUTH_EBADSIG);
    /* the boundary between the names is signed: moving a byte across it is another URL */
    cr_assert_eq(verify(key, "team/apps", &DIGEST[1], q, NOW), AUTH_EBADSIG);
}

Test(blob_url, another_master_key_does_not_verify)
{
    char q[AUTH_BLOB_URL_QUERY_MAX + 1];
    sign(NOW + 60, q);
    unsigned char other[AUTH_SEAL_KEY_BYTES];
    memcpy(other, key, sizeof(other));
    other[31] ^= 1;
    cr_assert_eq(verify(other, REPO, DIGEST, q, NOW), AUTH_EBADSIG);
}

Test(blob_url, a_moved_expiry_or_changed_signature_is_refused_and_expiry_is_said_only_of_a_good_signature)
{
    char q[AUTH_BLOB_URL_QUERY_MAX + 1], t[AUTH_BLOB_URL_QUERY_MAX + 1];
    sign(NOW + 60, q);
    /* a later expiry with the old signature */
    const char *sig = strstr(q, "X-Berth-Signature=");
    cr_assert(sig);
    snprintf(t, sizeof(t), "X-Berth-Expires=%lld&%s", NOW + 100000, sig);
    cr_assert_eq(verify(key, REPO, DIGEST, t, NOW), AUTH_EBADSIG);
    /* every hex digit of the signature matters */
    size_t at = (size_t)(sig - q) + strlen("X-Berth-Signature=");
    for (size_t i = at; i < strlen(q); i++) {
        strcpy(t, q);
        t[i] = t[i] == '0' ? '1' : '0';
        cr_assert_eq(verify(key, REPO, DIGEST, t, NOW), AUTH_EBADSIG, "digit %zu", i - at);
    }
    /* tampered and expired: the tampering is what is reported */
    strcpy(t, q);
    t[at] = t[at] == '0' ? '1' : '0';
    cr_assert_eq(verify(key, REPO, DIGEST, t, NOW + 1000), AUTH_EBADSIG);
}

Test(blob_url, the_parameters_may_come_in_either_order_but_nothing_else_is_taken)
{
    char q[AUTH_BLOB_URL_QUERY_MAX + 1], t[2 * AUTH_BLOB_URL_QUERY_MAX];
    sign(NOW + 60, q);
    const char *amp = strchr(q, '&');
    snprintf(t, sizeof(t), "%s&%.*s", amp + 1, (int)(amp - q), q);
    cr_assert_eq(verify(key, REPO, DIGEST, t, NOW), AUTH_OK);
    const char *bad[] = {
        "",
        "X-Berth-Signature=",
        "X-Berth-Expires=1900000000",
        "X-Berth-Expires=01900000000&X-Berth-Signature=0000000000000000000000000000000000000000000000000000000000000000",
        "X-Berth-Expires=-5&X-Berth-Signature=0000000000000000000000000000000000000000000000000000000000000000",
        "X-Berth-Expires=99999999999999999999&X-Berth-Signature=0000000000000000000000000000000000000000000000000000000000000000",
        "X-Berth-Expires=1900000000&X-Berth-Signature=000000000000000000000000000000000000000000000000000000000000000",
        "X-Berth-Expires=1900000000&X-Berth-Signature=000000000000000000000000000000000000000000000000000000000000000g",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(verify(key, REPO, DIGEST, bad[i], NOW), AUTH_EMALFORMED, "%s", bad[i]);
    /* a parameter given twice, or one more parameter */
    snprintf(t, sizeof(t), "%s&%s", q, amp + 1);
    cr_assert_eq(verify(key, REPO, DIGEST, t, NOW), AUTH_EMALFORMED);
    snprintf(t, sizeof(t), "%s&x=1", q);
    cr_assert_eq(verify(key, REPO, DIGEST, t, NOW), AUTH_EMALFORMED);
    cr_assert_not(auth_blob_url_signed("X-Berth-Expires=5", 17));
    cr_assert_not(auth_blob_url_signed("digest=sha256:00", 16));
}

Test(blob_url, signing_refuses_what_cannot_be_a_url)
{
    char q[AUTH_BLOB_URL_QUERY_MAX + 1], small[16];
    auth_err_t err;
    cr_assert_eq(auth_blob_url_sign(key, "", DIGEST, NOW, q, sizeof(q), &err), AUTH_EMALFORMED);
    cr_assert_eq(auth_blob_url_sign(key, REPO, DIGEST, 0, q, sizeof(q), &err), AUTH_EMALFORMED);
    cr_assert_eq(auth_blob_url_sign(key, REPO, DIGEST, NOW, small, sizeof(small), &err), AUTH_EMALFORMED);
    cr_assert_str_empty(small);
}
