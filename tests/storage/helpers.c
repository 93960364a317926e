#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "tests/storage/helpers.h"

storage_t *test_store_reopen(const char *dir)
{
    storage_err_t err;
    storage_options_t opt = {.map_size = (uint64_t)1 << 32, .no_sync = true};
    storage_t *st = storage_open(dir, &opt, &err);
    cr_assert_not_null(st, "storage_open: %s", err.msg);
    return st;
}

storage_t *test_store_open(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/berth-test-storage-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return test_store_reopen(dir);
}

void test_store_close(storage_t *st, const char *dir)
{
    storage_close(st);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

void test_digest(const void *data, size_t len, oci_digest_t *out)
{
    oci_digest_compute(OCI_ALG_SHA256, data, len, out);
}

storage_status_t test_push_blob(storage_t *st, const char *repo, const void *data, size_t len, oci_digest_t *out)
{
    test_digest(data, len, out);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_BEGIN);
    snprintf(op.repo, sizeof(op.repo), "%s", repo);
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    memcpy(id, op.upload_id, sizeof(id));
    /* two appends, to exercise chunk boundaries that are not the client's */
    size_t half = len / 3;
    storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
    snprintf(op.repo, sizeof(op.repo), "%s", repo);
    memcpy(op.upload_id, id, sizeof(id));
    op.data = data;
    op.len = half;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    storage_op_init(&op, STORAGE_OP_UPLOAD_COMMIT);
    snprintf(op.repo, sizeof(op.repo), "%s", repo);
    memcpy(op.upload_id, id, sizeof(id));
    op.data = (const char *)data + half;
    op.len = len - half;
    op.digest = *out;
    return storage_execute(st, &op);
}

void *test_read_blob(storage_t *st, const char *repo, const oci_digest_t *d, size_t *len)
{
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    cr_assert_not_null(rd);
    storage_blob_t b;
    if (storage_blob_stat(rd, repo, d, &b, &err) != STORAGE_OK) {
        storage_reader_end(rd);
        return NULL;
    }
    char *buf = malloc(b.size + 1);
    uint64_t pos = 0;
    while (pos < b.size) {
        const void *p;
        size_t n;
        cr_assert_eq(storage_blob_read(rd, &b, pos, &p, &n, &err), STORAGE_OK, "%s", err.msg);
        cr_assert_gt(n, 0);
        memcpy(buf + pos, p, n);
        pos += n;
    }
    storage_reader_end(rd);
    *len = b.size;
    return buf;
}

size_t test_count_chunks(storage_t *st)
{
    MDB_txn *txn;
    MDB_stat s;
    cr_assert_eq(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_stat(txn, st->dbi_chunks, &s), 0);
    mdb_txn_abort(txn);
    return s.ms_entries;
}

storage_status_t test_put_manifest(storage_t *st, const char *repo, const char *tag, const char *body, oci_manifest_t *m,
                                   oci_digest_t *out)
{
    test_digest(body, strlen(body), out);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_MANIFEST_PUT);
    snprintf(op.repo, sizeof(op.repo), "%s", repo);
    snprintf(op.tag, sizeof(op.tag), "%s", tag ? tag : "");
    op.digest = *out;
    op.data = body;
    op.len = strlen(body);
    op.manifest = m;
    char json[512];
    if (m->has_subject) {
        snprintf(json, sizeof(json), "{\"digest\":\"%s\"}", out->str);
        op.referrer_json = json;
        op.referrer_json_len = strlen(json);
    }
    return storage_execute(st, &op);
}

uint64_t test_du_kib(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "du -sk '%s'", dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    unsigned long long k = 0;
    cr_assert_eq(fscanf(p, "%llu", &k), 1);
    pclose(p);
    return k;
}
