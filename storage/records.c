/* Records: the metadata of the parts above storage, in named key spaces of
 * one LMDB database ("records": "<space>\0<key>" -> bytes). */
#include <string.h>

#include "storage/storage_internal.h"

storage_records_t *storage_reader_records(storage_reader_t *rd)
{
    rd->records.st = rd->st;
    rd->records.txn = rd->txn;
    rd->records.writable = false;
    return &rd->records;
}

/* Builds "<space>\0<key>"; 0 when either is empty or too long. */
static size_t record_key(char buf[STORAGE_RECORD_SPACE_MAX + 1 + STORAGE_RECORD_KEY_MAX], const char *space, const char *key,
                         bool key_may_be_empty, storage_err_t *err)
{
    size_t ls = strlen(space), lk = strlen(key);
    if (ls == 0 || ls > STORAGE_RECORD_SPACE_MAX || (lk == 0 && !key_may_be_empty) || lk > STORAGE_RECORD_KEY_MAX) {
        store_err(err, STORAGE_INVALID, "record key %.40s/%.40s is empty or longer than %u bytes", space, key,
                  STORAGE_RECORD_KEY_MAX);
        return 0;
    }
    memcpy(buf, space, ls);
    buf[ls] = '\0';
    memcpy(buf + ls + 1, key, lk);
    return ls + 1 + lk;
}

static storage_status_t mdb_fail(int rc, storage_err_t *err, const char *what)
{
    storage_status_t s = store_mdb_status(rc);
    store_err(err, s, "cannot %s a record: %s", what, mdb_strerror(rc));
    return s;
}

storage_status_t storage_record_get(storage_records_t *rs, const char *space, const char *key, const void **val, size_t *len,
                                    storage_err_t *err)
{
    char buf[STORAGE_RECORD_SPACE_MAX + 1 + STORAGE_RECORD_KEY_MAX];
    MDB_val k = {record_key(buf, space, key, false, err), buf}, v;
    if (k.mv_size == 0)
        return STORAGE_INVALID;
    int rc = mdb_get(rs->txn, rs->st->dbi_records, &k, &v);
    if (rc == MDB_NOTFOUND) {
        store_err(err, STORAGE_NOT_FOUND, "no record %s/%s", space, key);
        return STORAGE_NOT_FOUND;
    }
    if (rc)
        return mdb_fail(rc, err, "read");
    *val = v.mv_data;
    *len = v.mv_size;
    return STORAGE_OK;
}

storage_status_t storage_record_put(storage_records_t *rs, const char *space, const char *key, const void *val, size_t len,
                                    bool only_if_absent, storage_err_t *err)
{
    if (!rs->writable) {
        store_err(err, STORAGE_INVALID, "records are read-only outside a STORAGE_OP_RECORDS transaction");
        return STORAGE_INVALID;
    }
    if (len > STORAGE_RECORD_VALUE_MAX) {
        store_err(err, STORAGE_INVALID, "record %s/%s: %zu bytes is more than the %u a record may hold", space, key, len,
                  STORAGE_RECORD_VALUE_MAX);
        return STORAGE_INVALID;
    }
    char buf[STORAGE_RECORD_SPACE_MAX + 1 + STORAGE_RECORD_KEY_MAX];
    MDB_val k = {record_key(buf, space, key, false, err), buf}, v = {len, (void *)val};
    if (k.mv_size == 0)
        return STORAGE_INVALID;
    int rc = mdb_put(rs->txn, rs->st->dbi_records, &k, &v, only_if_absent ? MDB_NOOVERWRITE : 0);
    if (rc == MDB_KEYEXIST) {
        store_err(err, STORAGE_EXISTS, "%s/%s already exists", space, key);
        return STORAGE_EXISTS;
    }
    return rc ? mdb_fail(rc, err, "write") : STORAGE_OK;
}

storage_status_t storage_record_del(storage_records_t *rs, const char *space, const char *key, storage_err_t *err)
{
    if (!rs->writable) {
        store_err(err, STORAGE_INVALID, "records are read-only outside a STORAGE_OP_RECORDS transaction");
        return STORAGE_INVALID;
    }
    char buf[STORAGE_RECORD_SPACE_MAX + 1 + STORAGE_RECORD_KEY_MAX];
    MDB_val k = {record_key(buf, space, key, false, err), buf};
    if (k.mv_size == 0)
        return STORAGE_INVALID;
    int rc = mdb_del(rs->txn, rs->st->dbi_records, &k, NULL);
    if (rc == MDB_NOTFOUND) {
        store_err(err, STORAGE_NOT_FOUND, "no record %s/%s", space, key);
        return STORAGE_NOT_FOUND;
    }
    return rc ? mdb_fail(rc, err, "delete") : STORAGE_OK;
}

storage_status_t storage_record_scan(storage_records_t *rs, const char *space, const char *prefix, storage_record_cb cb, void *ctx,
                                     storage_err_t *err)
{
    char buf[STORAGE_RECORD_SPACE_MAX + 1 + STORAGE_RECORD_KEY_MAX];
    size_t plen = record_key(buf, space, prefix, true, err);
    if (plen == 0)
        return STORAGE_INVALID;
    size_t skip = strlen(space) + 1;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(rs->txn, rs->st->dbi_records, &cur);
    if (rc)
        return mdb_fail(rc, err, "scan");
    MDB_val k = {plen, buf}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, buf, plen) != 0)
            break;
        if (!cb(ctx, (const char *)k.mv_data + skip, k.mv_size - skip, v.mv_data, v.mv_size))
            break;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return mdb_fail(rc, err, "scan");
    return STORAGE_OK;
}

run_result_t store_run_records(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    storage_records_t rs = {.st = st, .txn = txn, .writable = true};
    if (!op->records_fn) {
        op->status = STORAGE_INVALID;
        store_err(&op->err, STORAGE_INVALID, "a records operation without a function");
        return RUN_ABORT;
    }
    storage_status_t s = op->records_fn(&rs, op->records_ctx, &op->err);
    if (s != STORAGE_OK) {
        op->status = s;
        op->err.status = s;
        if (op->err.msg[0] == '\0') /* the closure may have said why */
            store_err(&op->err, s, "%s", storage_status_name(s));
        return RUN_ABORT;
    }
    return RUN_COMMIT;
}
