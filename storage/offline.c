/* Opening a data directory's environment beside (or without) a running
 * berthd: what `berth backup` and `berth fsck` read through. Neither starts
 * the writer, the file threads or the clean-up of unrecorded files that
 * storage_open runs, so neither changes the store it looks at. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/storage_internal.h"

int store_offline_open(const char *dir, bool writable, store_offline_t *o, storage_err_t *err)
{
    memset(o, 0, sizeof(*o));
    char path[4096], file[4200];
    if ((size_t)snprintf(path, sizeof(path), "%s/store", dir) >= sizeof(path)) {
        store_err(err, STORAGE_IO, "data directory path too long");
        return -1;
    }
    snprintf(file, sizeof(file), "%s/data.mdb", path);
    struct stat sb;
    if (stat(file, &sb) != 0) {
        store_err(err, STORAGE_IO, "%s is not a Berth data directory (no store/data.mdb: %s)", dir, strerror(errno));
        return -1;
    }
    int rc = mdb_env_create(&o->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(o->env, STORE_NDBS);
    /* A writable open (a backup's own copy) needs room to drop records in;
     * a read-only one maps what the store's meta page says. */
    if (!rc && writable)
        rc = mdb_env_set_mapsize(o->env,
                                 sb.st_size > (off_t)STORAGE_DEFAULT_MAP_SIZE ? (size_t)sb.st_size : STORAGE_DEFAULT_MAP_SIZE);
    /* Not MDB_NOLOCK: berthd uses the lock file, and a running berthd must
     * see this process's snapshot in the reader table (files.c waits for it
     * before unlinking a file the snapshot names). */
    if (!rc)
        rc = mdb_env_open(o->env, path, MDB_NOTLS | (writable ? 0 : MDB_RDONLY), 0600);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_txn_begin(o->env, NULL, writable ? 0 : MDB_RDONLY, &txn);
    MDB_dbi *const dbis[STORE_NDBS] = {&o->meta, &o->blobs,     &o->chunks, &o->links,   &o->manifests,
                                       &o->tags, &o->referrers, &o->repos,  &o->uploads, &o->records};
    uint32_t layout;
    if (!rc && !(rc = store_dbs_open(txn, 0, dbis)))
        rc = store_layout_get(txn, o->meta, &layout);
    if (txn) {
        if (rc)
            mdb_txn_abort(txn);
        else
            rc = mdb_txn_commit(txn); /* keeps the dbi handles open */
    }
    if (rc) {
        store_err(err, store_mdb_status(rc) == STORAGE_NOT_FOUND ? STORAGE_IO : store_mdb_status(rc),
                  "cannot open the store in %s: %s", path,
                  rc == MDB_VERSION_MISMATCH ? "written by an incompatible version of berthd"
                  : rc == MDB_NOTFOUND       ? "a database is missing (not a Berth store?)"
                                             : mdb_strerror(rc));
        if (o->env)
            mdb_env_close(o->env);
        o->env = NULL;
        return -1;
    }
    return 0;
}

void store_offline_close(store_offline_t *o)
{
    if (o->env)
        mdb_env_close(o->env);
    o->env = NULL;
}

bool store_pathf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}
