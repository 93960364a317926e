/* Uploads: begin/append/commit, offsets, digests, cancel, resume after restart. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "tests/storage/helpers.h"

TEST_STORE_SUITE(uploads);

static void begin(const char *repo, char id[STORAGE_UPLOAD_ID_LEN + 1])
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_BEGIN);
    strcpy(op.repo, repo);
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    cr_assert_eq(strlen(op.upload_id), STORAGE_UPLOAD_ID_LEN);
    memcpy(id, op.upload_id, STORAGE_UPLOAD_ID_LEN + 1);
}

static storage_status_t append(const char *repo, const char *id, uint64_t offset, const void *data, size_t len, uint64_t *end)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
    strcpy(op.repo, repo);
    strcpy(op.upload_id, id);
    op.offset = offset;
    op.data = data;
    op.len = len;
    storage_status_t s = storage_execute(st, &op);
    if (end)
        *end = op.result_offset;
    return s;
}

static storage_status_t commit(const char *repo, const char *id, const oci_digest_t *d)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_COMMIT);
    strcpy(op.repo, repo);
    strcpy(op.upload_id, id);
    op.digest = *d;
    return storage_execute(st, &op);
}

static uint64_t upload_offset(const char *id, bool *found)
{
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    storage_upload_t up;
    *found = storage_upload_stat(rd, id, &up, &err) == STORAGE_OK;
    storage_reader_end(rd);
    return *found ? up.offset : 0;
}

Test(uploads, chunked_appends_at_the_right_offsets_make_the_blob)
{
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("a/b", id);
    uint64_t end;
    cr_assert_eq(append("a/b", id, 0, "hello ", 6, &end), STORAGE_OK);
    cr_assert_eq(end, 6);
    cr_assert_eq(append("a/b", id, 6, "world", 5, &end), STORAGE_OK);
    cr_assert_eq(end, 11);
    bool found;
    cr_assert_eq(upload_offset(id, &found), 11);
    oci_digest_t d;
    test_digest("hello world", 11, &d);
    cr_assert_eq(commit("a/b", id, &d), STORAGE_OK);
    size_t len;
    char *got = test_read_blob(st, "a/b", &d, &len);
    cr_assert_not_null(got);
    cr_assert_eq(len, 11);
    cr_assert_arr_eq(got, "hello world", 11);
    free(got);
    upload_offset(id, &found);
    cr_assert_not(found, "a committed upload must be gone");
}

Test(uploads, an_out_of_order_chunk_is_refused_and_changes_nothing)
{
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("r", id);
    cr_assert_eq(append("r", id, 0, "abc", 3, NULL), STORAGE_OK);
    uint64_t end = 0;
    cr_assert_eq(append("r", id, 5, "xyz", 3, &end), STORAGE_RANGE);
    cr_assert_eq(end, 3, "the error reports where the upload really is");
    cr_assert_eq(append("r", id, 0, "xyz", 3, NULL), STORAGE_RANGE);
    bool found;
    cr_assert_eq(upload_offset(id, &found), 3);
}

Test(uploads, a_wrong_digest_is_refused_and_ends_the_upload)
{
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("r", id);
    cr_assert_eq(append("r", id, STORAGE_OFFSET_ANY, "abc", 3, NULL), STORAGE_OK);
    oci_digest_t wrong;
    test_digest("abd", 3, &wrong);
    cr_assert_eq(commit("r", id, &wrong), STORAGE_DIGEST_MISMATCH);
    bool found;
    upload_offset(id, &found);
    cr_assert_not(found);
    cr_assert_eq(test_count_chunks(st), 0, "its chunks are deleted with it");
    size_t len;
    cr_assert_null(test_read_blob(st, "r", &wrong, &len));
}

Test(uploads, an_upload_belongs_to_its_repository)
{
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("one", id);
    cr_assert_eq(append("two", id, STORAGE_OFFSET_ANY, "abc", 3, NULL), STORAGE_NOT_FOUND);
    cr_assert_eq(append("one", "0123456789abcdef0123456789abcdef", STORAGE_OFFSET_ANY, "abc", 3, NULL), STORAGE_NOT_FOUND);
}

Test(uploads, cancel_deletes_the_session_and_its_chunks)
{
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("r", id);
    size_t len = 300 << 10; /* below STORE_FILE_MIN_BYTES: in LMDB chunks */
    char *data = malloc(len);
    memset(data, 'x', len);
    cr_assert_eq(append("r", id, 0, data, len, NULL), STORAGE_OK);
    cr_assert_gt(test_count_chunks(st), 0);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_ABORT);
    strcpy(op.repo, "r");
    strcpy(op.upload_id, id);
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
    cr_assert_eq(test_count_chunks(st), 0);
    cr_assert_eq(storage_execute(st, &op), STORAGE_NOT_FOUND, "a second cancel finds nothing");
    free(data);
}

Test(uploads, a_big_upload_is_stored_as_one_file_and_hashes_right)
{
    size_t len = STORE_PIECE_BYTES * 2 + 12345;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "big", data, len, &d), STORAGE_OK);
    storage_stats_t s;
    storage_get_stats(st, &s);
    cr_assert_eq(s.file_blobs, 1);
    cr_assert_geq(s.file_bytes, len);
    cr_assert_eq(test_count_chunks(st), 0, "no byte of it in LMDB");
    size_t got_len;
    unsigned char *got = test_read_blob(st, "big", &d, &got_len);
    cr_assert_not_null(got);
    cr_assert_eq(got_len, len);
    cr_assert(memcmp(got, data, len) == 0);
    free(got);
    free(data);
}

Test(uploads, an_upload_resumes_at_its_offset_after_a_restart)
{
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("r/s", id);
    cr_assert_eq(append("r/s", id, 0, "first part, ", 12, NULL), STORAGE_OK);
    storage_close(st);
    st = test_store_reopen(dir);
    bool found;
    cr_assert_eq(upload_offset(id, &found), 12);
    cr_assert(found);
    cr_assert_eq(append("r/s", id, 12, "second part", 11, NULL), STORAGE_OK);
    oci_digest_t d;
    test_digest("first part, second part", 23, &d);
    cr_assert_eq(commit("r/s", id, &d), STORAGE_OK, "the stored hash midstate continues correctly");
}

Test(uploads, sha512_digests_are_verified_from_the_stored_chunks)
{
    const char *text = "sha512 content";
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("r", id);
    cr_assert_eq(append("r", id, 0, text, strlen(text), NULL), STORAGE_OK);
    oci_digest_t d;
    oci_digest_compute(OCI_ALG_SHA512, text, strlen(text), &d);
    cr_assert_eq(commit("r", id, &d), STORAGE_OK);
    size_t len;
    char *got = test_read_blob(st, "r", &d, &len);
    cr_assert_not_null(got);
    cr_assert_eq(len, strlen(text));
    free(got);
}

Test(uploads, monolithic_put_with_the_wrong_digest_leaves_nothing)
{
    oci_digest_t wrong;
    test_digest("other", 5, &wrong);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_BLOB_PUT);
    strcpy(op.repo, "r");
    op.data = "content";
    op.len = 7;
    op.digest = wrong;
    cr_assert_eq(storage_execute(st, &op), STORAGE_DIGEST_MISMATCH);
    cr_assert_eq(test_count_chunks(st), 0);
    bool found;
    upload_offset(op.upload_id, &found);
    cr_assert_not(found);
}

/* A session record that cannot be decoded fails closed: not "no such upload",
 * which would let a client start over unaware its upload was lost. */
Test(uploads, a_damaged_session_record_is_an_error_not_an_unknown_upload)
{
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("r", id);
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    MDB_val k = {strlen(id), id}, v = {5, "junk!"};
    cr_assert_eq(mdb_put(txn, st->dbi_uploads, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);

    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    storage_upload_t up;
    cr_assert_eq(storage_upload_stat(rd, id, &up, &err), STORAGE_IO, "%s", storage_status_name(err.status));
    cr_assert(strstr(err.msg, "damaged"), "%s", err.msg);
    cr_assert_eq(storage_upload_stat(rd, "00000000000000000000000000000000", &up, &err), STORAGE_NOT_FOUND);
    storage_reader_end(rd);
}
