/* Blobs: chunking, compression, dedupe, links, mount, unlink, ranged reads. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "tests/storage/helpers.h"

TEST_STORE_SUITE(blobs);

static unsigned char *random_bytes(size_t len, unsigned seed)
{
    unsigned char *p = malloc(len);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (unsigned char)x;
    }
    return p;
}

Test(blobs, compressible_chunks_are_stored_compressed_and_read_back_exactly)
{
    size_t len = 5 * STORE_CHUNK_BYTES / 2;
    char *text = malloc(len);
    for (size_t i = 0; i < len; i++)
        text[i] = "tar header and some json {\"a\": 1}\n"[i % 35];
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "c", text, len, &d), STORAGE_OK);
    storage_stats_t s;
    storage_get_stats(st, &s);
    cr_assert_gt(s.chunks_zstd, 0);
    cr_assert_eq(s.chunks_raw, 0);
    cr_assert_lt(s.bytes_stored, s.bytes_in / 10);
    size_t got_len;
    char *got = test_read_blob(st, "c", &d, &got_len);
    cr_assert_eq(got_len, len);
    cr_assert(memcmp(got, text, len) == 0);
    free(got);
    free(text);
}

Test(blobs, incompressible_chunks_are_stored_as_pushed)
{
    size_t len = 3 * STORE_CHUNK_BYTES + 7;
    unsigned char *data = random_bytes(len, 1);
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "c", data, len, &d), STORAGE_OK);
    storage_stats_t s;
    storage_get_stats(st, &s);
    cr_assert_eq(s.chunks_zstd, 0);
    cr_assert_eq(s.bytes_stored, s.bytes_in);
    free(data);
}

Test(blobs, reads_at_any_offset_return_the_right_bytes)
{
    size_t len = 2 * STORE_CHUNK_BYTES + 999;
    unsigned char *data = random_bytes(len, 2);
    memset(data + STORE_CHUNK_BYTES, 'z', STORE_CHUNK_BYTES); /* one compressed chunk in the middle */
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "r", data, len, &d), STORAGE_OK);
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    storage_blob_t b;
    cr_assert_eq(storage_blob_stat(rd, "r", &d, &b, &err), STORAGE_OK);
    uint64_t offsets[] = {0, 1, STORE_CHUNK_BYTES - 1, STORE_CHUNK_BYTES, STORE_CHUNK_BYTES + 5, len / 3, len - 1};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        const void *p;
        size_t n;
        cr_assert_eq(storage_blob_read(rd, &b, offsets[i], &p, &n, &err), STORAGE_OK, "offset %llu: %s",
                     (unsigned long long)offsets[i], err.msg);
        cr_assert_gt(n, 0);
        cr_assert_leq(offsets[i] + n, len);
        cr_assert(memcmp(p, data + offsets[i], n) == 0, "bytes at offset %llu", (unsigned long long)offsets[i]);
    }
    const void *p;
    size_t n;
    cr_assert_eq(storage_blob_read(rd, &b, len, &p, &n, &err), STORAGE_INVALID, "reading past the end is refused");
    storage_reader_end(rd);
    free(data);
}

Test(blobs, a_digest_pushed_twice_is_stored_once)
{
    size_t len = STORE_CHUNK_BYTES + 10;
    unsigned char *data = random_bytes(len, 3);
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "a", data, len, &d), STORAGE_OK);
    size_t chunks = test_count_chunks(st);
    cr_assert_eq(test_push_blob(st, "b", data, len, &d), STORAGE_OK);
    cr_assert_eq(test_count_chunks(st), chunks, "the second upload's chunks are dropped");
    size_t got_len;
    unsigned char *got = test_read_blob(st, "b", &d, &got_len);
    cr_assert_not_null(got, "but the blob is linked into the second repository");
    free(got);
    free(data);
}

Test(blobs, a_blob_is_visible_only_where_it_was_pushed_or_mounted)
{
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "src", "payload", 7, &d), STORAGE_OK);
    size_t len;
    cr_assert_null(test_read_blob(st, "dst", &d, &len));
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_BLOB_MOUNT);
    strcpy(op.repo, "dst");
    strcpy(op.from_repo, "nowhere");
    op.digest = d;
    cr_assert_eq(storage_execute(st, &op), STORAGE_NOT_FOUND, "mounting from a repository without the blob fails");
    strcpy(op.from_repo, "src");
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
    cr_assert_eq(op.result_offset, 7);
    void *got = test_read_blob(st, "dst", &d, &len);
    cr_assert_not_null(got);
    free(got);
}

Test(blobs, unlinking_removes_the_blob_from_one_repository_only)
{
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "a", "shared", 6, &d), STORAGE_OK);
    cr_assert_eq(test_push_blob(st, "b", "shared", 6, &d), STORAGE_OK);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_BLOB_UNLINK);
    strcpy(op.repo, "a");
    op.digest = d;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
    cr_assert_eq(storage_execute(st, &op), STORAGE_NOT_FOUND);
    size_t len;
    cr_assert_null(test_read_blob(st, "a", &d, &len));
    void *got = test_read_blob(st, "b", &d, &len);
    cr_assert_not_null(got);
    free(got);
}

Test(blobs, an_empty_blob_can_be_pushed_and_stat_ed)
{
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "e", "", 0, &d), STORAGE_OK);
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    storage_blob_t b;
    cr_assert_eq(storage_blob_stat(rd, "e", &d, &b, &err), STORAGE_OK);
    cr_assert_eq(b.size, 0);
    storage_reader_end(rd);
}
