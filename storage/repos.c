/* Repositories as wholes: creating one with its settings, deleting one with
 * everything it holds in one commit, and when it was created. A
 * repository's rows are the keys "<repo>\0..." of links, manifests, tags and
 * referrers (the NUL ends the name, so "a" never matches "a/b"'s keys) and
 * its key in repos. */
#include <string.h>

#include "storage/storage_internal.h"

#define OP_FAIL(op, st_, ...)                                                                                                      \
    do {                                                                                                                           \
        (op)->status = (st_);                                                                                                      \
        store_err(&(op)->err, (st_), __VA_ARGS__);                                                                                 \
    } while (0)

static run_result_t fail_mdb(storage_op_t *op, int rc, const char *what)
{
    OP_FAIL(op, store_mdb_status(rc), "%s: %s", what,
            rc == MDB_MAP_FULL ? "the store is full (raise --map-size)" : mdb_strerror(rc));
    return RUN_ABORT;
}

/* Deletes every key of `dbi` that starts with prefix; counts them in *n (may be NULL). */
static int delete_prefix(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen, uint64_t *n)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    /* Re-seek after each delete: the next key is the first one >= prefix. */
    for (;;) {
        k.mv_size = plen;
        k.mv_data = (void *)prefix;
        if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) != 0)
            break;
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        if (n)
            (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* True when some key of `dbi` starts with prefix (false also on a read error). */
static bool has_prefix(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, dbi, &cur) != 0)
        return false;
    MDB_val k = {plen, (void *)prefix}, v;
    bool found = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0;
    mdb_cursor_close(cur);
    return found;
}

static run_result_t run_records_too(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    return op->records_fn ? store_run_records(st, txn, op) : RUN_COMMIT;
}

static run_result_t run_create(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    uint64_t now = store_now();
    MDB_val k = {strlen(op->repo), op->repo}, v = {sizeof(now), &now};
    if (k.mv_size == 0) {
        OP_FAIL(op, STORAGE_INVALID, "a repository needs a name");
        return RUN_ABORT;
    }
    int rc = mdb_put(txn, st->dbi_repos, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        OP_FAIL(op, STORAGE_EXISTS, "repository %s already exists", op->repo);
        return RUN_ABORT;
    }
    if (rc)
        return fail_mdb(op, rc, "cannot create the repository");
    return run_records_too(st, txn, op);
}

static run_result_t run_delete(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    MDB_val k = {strlen(op->repo), op->repo}, v;
    int rc = k.mv_size ? mdb_get(txn, st->dbi_repos, &k, &v) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND) {
        OP_FAIL(op, STORAGE_NOT_FOUND, "repository %s does not exist", op->repo);
        return RUN_ABORT;
    }
    if (rc)
        return fail_mdb(op, rc, "cannot read the repository");
    char prefix[OCI_NAME_MAX + 2];
    size_t plen = k.mv_size;
    if (plen + 1 > sizeof(prefix)) {
        OP_FAIL(op, STORAGE_INVALID, "repository name too long");
        return RUN_ABORT;
    }
    memcpy(prefix, op->repo, plen);
    prefix[plen++] = '\0';
    /* A checked read: the check and the delete are one transaction, so a
     * manifest pushed meanwhile either precedes the check or fails on the
     * missing links after it. */
    if (!(op->flags & STORAGE_OP_FORCE) && has_prefix(txn, st->dbi_manifests, prefix, plen)) {
        OP_FAIL(op, STORAGE_INVALID, "repository %s holds images", op->repo);
        return RUN_ABORT;
    }
    uint64_t manifests = 0;
    if ((rc = delete_prefix(txn, st->dbi_manifests, prefix, plen, &manifests)) != 0 ||
        (rc = delete_prefix(txn, st->dbi_tags, prefix, plen, NULL)) != 0 ||
        (rc = delete_prefix(txn, st->dbi_referrers, prefix, plen, NULL)) != 0 ||
        (rc = delete_prefix(txn, st->dbi_links, prefix, plen, NULL)) != 0 || (rc = mdb_del(txn, st->dbi_repos, &k, NULL)) != 0)
        return fail_mdb(op, rc, "cannot delete the repository");
    op->result_offset = manifests;
    return run_records_too(st, txn, op);
}

run_result_t store_run_repo_op(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    return op->kind == STORAGE_OP_REPO_CREATE ? run_create(st, txn, op) : run_delete(st, txn, op);
}

storage_status_t storage_repo_created_at(storage_reader_t *rd, const char *repo, uint64_t *out, storage_err_t *err)
{
    MDB_val k = {strlen(repo), (void *)repo}, v;
    int rc = k.mv_size ? mdb_get(rd->txn, rd->st->dbi_repos, &k, &v) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND) {
        store_err(err, STORAGE_NOT_FOUND, "repository %s does not exist", repo);
        return STORAGE_NOT_FOUND;
    }
    if (rc || v.mv_size != sizeof(uint64_t)) {
        store_err(err, STORAGE_IO, "cannot read repository %s: %s", repo, rc ? mdb_strerror(rc) : "damaged record");
        return STORAGE_IO;
    }
    memcpy(out, v.mv_data, sizeof(*out));
    return STORAGE_OK;
}
