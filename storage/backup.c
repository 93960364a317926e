/* storage_backup: a consistent copy of a data directory, also while a
 * berthd serves it (storage.h, "backup and check").
 *
 * Why it is consistent:
 *  1. A pin snapshot is taken first and held to the end. Its slot in LMDB's
 *     reader table holds back berthd's unlinks of file blobs deleted after
 *     it (files.c, foreign_oldest), as it holds back LMDB's reuse of pages.
 *  2. mdb_env_copy2 with MDB_CP_COMPACT writes the environment as of its own
 *     read snapshot, at or after the pin: the copy is one committed state.
 *  3. The file blobs the copy's records name are then hard-linked (or
 *     copied) from the store. Each was in place and durable before the
 *     commit that recorded it, and cannot have been unlinked since the pin:
 *     a missing one means a berthd that does not honour the pin (an older
 *     one), and the backup fails rather than produce a store with holes.
 *     Blob files are never written once in place, so sharing their inodes
 *     with the store is safe.
 *  4. Upload sessions are dropped from the copy with their chunks: an
 *     upload in progress is not part of a backup (its file may be written
 *     at any moment); a client restarts it after a restore. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage_internal.h"

/* Bytes per read/write when a blob file is copied rather than linked. */
#define BACKUP_COPY_BYTES (1u << 20)

static int fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

/* Copies src to a new file dst (mode `mode`), synced. 0 or an errno. */
static int copy_file(const char *src, const char *dst, mode_t mode, void *buf, uint64_t *bytes)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0) {
        int e = errno;
        close(in);
        return e;
    }
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, BACKUP_COPY_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = errno;
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, (char *)buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = errno;
                break;
            }
            off += w;
            *bytes += (uint64_t)w;
        }
        if (rc)
            break;
    }
    if (!rc && fsync(out) != 0)
        rc = errno;
    if (close(out) != 0 && !rc)
        rc = errno;
    close(in);
    if (rc)
        unlink(dst);
    return rc;
}

static int mkdir_one(const char *path)
{
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : errno;
}

/* <dest>/blobs/<alg>/<2 hex>, created as needed. */
static int blob_dirs(const char *dest, const char *digest, char *file, size_t cap)
{
    const char *colon = strchr(digest, ':');
    if (!colon || strlen(colon + 1) < 2 || strchr(digest, '/') || strchr(digest, '.'))
        return EINVAL;
    char d[4200];
    int alg = (int)(colon - digest);
    store_pathf(d, sizeof(d), "%s/blobs", dest);
    int rc = mkdir_one(d);
    if (!rc) {
        store_pathf(d, sizeof(d), "%s/blobs/%.*s", dest, alg, digest);
        rc = mkdir_one(d);
    }
    if (!rc) {
        store_pathf(d, sizeof(d), "%s/blobs/%.*s/%.2s", dest, alg, digest, colon + 1);
        rc = mkdir_one(d);
    }
    int n = snprintf(file, cap, "%s/blobs/%.*s/%.2s/%s", dest, alg, digest, colon + 1, colon + 1);
    if (!rc && (n < 0 || (size_t)n >= cap))
        rc = ENAMETOOLONG;
    return rc;
}

/* fsyncs every directory under <dest>/blobs (the links' names). */
static int sync_tree(const char *path, int depth)
{
    if (depth < 2) {
        DIR *d = opendir(path);
        if (!d)
            return errno == ENOENT ? 0 : errno;
        int rc = 0;
        for (struct dirent *e; !rc && (e = readdir(d));) {
            if (e->d_name[0] == '.')
                continue;
            char sub[4200];
            store_pathf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            rc = sync_tree(sub, depth + 1);
        }
        closedir(d);
        if (rc)
            return rc;
    }
    return fsync_path(path, true);
}

/* Puts every file blob the copy's records name into dest. */
static storage_status_t place_blobs(store_offline_t *copy, const char *src_dir, const char *dest,
                                    const storage_backup_options_t *opt, storage_backup_report_t *rep, storage_err_t *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(copy->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot read the copy: %s", mdb_strerror(rc));
        return STORAGE_IO;
    }
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, copy->blobs, &cur)) != 0) {
        mdb_txn_abort(txn);
        store_err(err, STORAGE_IO, "cannot read the copy: %s", mdb_strerror(rc));
        return STORAGE_IO;
    }
    void *buf = NULL;
    storage_status_t status = STORAGE_OK;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && status == STORAGE_OK; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        blob_rec_t rec;
        if (v.mv_size != sizeof(rec) || k.mv_size >= OCI_DIGEST_MAX) {
            store_err(err, STORAGE_IO, "a blob record is damaged (run berth fsck on the store)");
            status = STORAGE_IO;
            break;
        }
        memcpy(&rec, v.mv_data, sizeof(rec));
        rep->blobs++;
        if (!(rec.flags & BLOB_IN_FILE))
            continue;
        char digest[OCI_DIGEST_MAX], src[4200], dst[4200];
        memcpy(digest, k.mv_data, k.mv_size);
        digest[k.mv_size] = '\0';
        const char *hex = strchr(digest, ':');
        int e = blob_dirs(dest, digest, dst, sizeof(dst));
        if (e || !hex) {
            store_err(err, STORAGE_IO, "cannot make the directory of blob %s in %s: %s", digest, dest, strerror(e ? e : EINVAL));
            status = STORAGE_IO;
            break;
        }
        store_pathf(src, sizeof(src), "%s/blobs/%.*s/%.2s/%s", src_dir, (int)(hex - digest), digest, hex + 1, hex + 1);
        struct stat sb;
        if (stat(src, &sb) != 0 || (uint64_t)sb.st_size != rec.size) {
            e = errno;
            store_err(err, STORAGE_IO,
                      "the file of blob %s %s: the store is damaged (run berth fsck) or its berthd removed it during the "
                      "backup (a berthd older than this berth); %s is incomplete",
                      digest, e == ENOENT ? "is missing" : "has the wrong size", dest);
            status = STORAGE_IO;
            break;
        }
        rep->file_blobs++;
        if (!opt->copy && link(src, dst) == 0) {
            rep->files_linked++;
            continue;
        }
        if (!opt->copy && errno != EXDEV && errno != EPERM && errno != EMLINK && errno != EACCES) {
            store_err(err, STORAGE_IO, "cannot link blob %s into %s: %s", digest, dest, strerror(errno));
            status = STORAGE_IO;
            break;
        }
        if (!buf && !(buf = malloc(BACKUP_COPY_BYTES))) {
            store_err(err, STORAGE_NOMEM, "out of memory");
            status = STORAGE_NOMEM;
            break;
        }
        if ((e = copy_file(src, dst, 0600, buf, &rep->bytes_copied)) != 0) {
            store_err(err, e == ENOSPC || e == EDQUOT ? STORAGE_FULL : STORAGE_IO, "cannot copy blob %s into %s: %s", digest, dest,
                      strerror(e));
            status = err ? err->status : STORAGE_IO;
            break;
        }
        rep->files_copied++;
    }
    if (status == STORAGE_OK && rc != MDB_NOTFOUND) {
        store_err(err, STORAGE_IO, "cannot read the copy: %s", mdb_strerror(rc));
        status = STORAGE_IO;
    }
    free(buf);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return status;
}

/* Removes the upload sessions (and an LMDB-tier upload's chunks) from the copy. */
static storage_status_t drop_uploads(store_offline_t *copy, storage_backup_report_t *rep, storage_err_t *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(copy->env, NULL, 0, &txn);
    MDB_cursor *cur = NULL;
    if (!rc)
        rc = mdb_cursor_open(txn, copy->uploads, &cur);
    MDB_val k, v;
    while (!rc && (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        session_t s;
        if (session_decode(v.mv_data, v.mv_size, &s) && !(s.flags & SESSION_IN_FILE))
            rc = store_chunks_delete_in(txn, copy->chunks, s.blob_id);
        /* a damaged session's chunks stay: fsck names them */
        if (!rc)
            rc = mdb_cursor_del(cur, 0);
        rep->uploads_dropped++;
    }
    if (cur)
        mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (!rc)
        rc = mdb_env_sync(copy->env, 1);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot drop the upload sessions from the copy: %s", mdb_strerror(rc));
        return store_mdb_status(rc) == STORAGE_FULL ? STORAGE_FULL : STORAGE_IO;
    }
    return STORAGE_OK;
}

storage_status_t storage_backup(const char *data_dir, const char *dest, const storage_backup_options_t *opt,
                                storage_backup_report_t *out, storage_err_t *err)
{
    storage_backup_options_t defaults = {0};
    if (!opt)
        opt = &defaults;
    memset(out, 0, sizeof(*out));
    char path[4200], src[4200];
    if (strlen(dest) > 4000 || strlen(data_dir) > 4000) {
        store_err(err, STORAGE_INVALID, "path too long");
        return STORAGE_INVALID;
    }
    store_offline_t live;
    if (store_offline_open(data_dir, false, &live, err) != 0)
        return STORAGE_IO;
    if (mkdir(dest, 0700) != 0) {
        int e = errno;
        store_offline_close(&live);
        store_err(err, e == EEXIST ? STORAGE_EXISTS : STORAGE_IO, "cannot create %s: %s%s", dest, strerror(e),
                  e == EEXIST ? " (a backup goes into a new directory)" : "");
        return e == EEXIST ? STORAGE_EXISTS : STORAGE_IO;
    }
    store_pathf(path, sizeof(path), "%s/store", dest);
    MDB_txn *pin = NULL;
    int rc = mkdir(path, 0700) == 0 ? 0 : errno;
    if (!rc)
        rc = mdb_txn_begin(live.env, NULL, MDB_RDONLY, &pin);
    if (!rc)
        rc = mdb_env_copy2(live.env, path, MDB_CP_COMPACT);
    storage_status_t status = STORAGE_OK;
    if (rc) {
        status = rc == ENOSPC || rc == EDQUOT ? STORAGE_FULL : STORAGE_IO;
        store_err(err, status, "cannot copy the store into %s: %s", path, mdb_strerror(rc));
    }
    store_offline_t copy = {0};
    if (status == STORAGE_OK) {
        store_pathf(src, sizeof(src), "%s/data.mdb", path);
        struct stat sb;
        if (stat(src, &sb) == 0)
            out->db_bytes = (uint64_t)sb.st_size;
        if (store_offline_open(dest, true, &copy, err) != 0)
            status = STORAGE_IO;
    }
    if (status == STORAGE_OK)
        status = place_blobs(&copy, data_dir, dest, opt, out, err);
    if (pin)
        mdb_txn_abort(pin); /* every file the copy names is in dest now */
    store_offline_close(&live);
    if (status == STORAGE_OK)
        status = drop_uploads(&copy, out, err);
    store_offline_close(&copy);
    /* LMDB's lock file belongs to the environment, not to the backup */
    store_pathf(src, sizeof(src), "%s/store/lock.mdb", dest);
    unlink(src);
    /* The key that seals the store's secrets (without it the copy's access
     * keys and token key cannot be opened), and the first start's
     * administrator credentials if they are still there; both 0600. */
    static const char *const keys[] = {"master.key", "admin-credentials"};
    for (size_t i = 0; status == STORAGE_OK && i < sizeof(keys) / sizeof(keys[0]); i++) {
        store_pathf(src, sizeof(src), "%s/%s", data_dir, keys[i]);
        store_pathf(path, sizeof(path), "%s/%s", dest, keys[i]);
        void *buf = malloc(BACKUP_COPY_BYTES);
        uint64_t n = 0;
        int e = buf ? copy_file(src, path, 0600, buf, &n) : ENOMEM;
        free(buf);
        if (i == 0)
            out->master_key = e == 0;
        if (e && e != ENOENT) { /* absent: nothing sealed to open, or deleted on purpose */
            store_err(err, e == ENOSPC ? STORAGE_FULL : STORAGE_IO, "cannot copy %s into %s: %s", src, dest, strerror(e));
            status = err ? err->status : STORAGE_IO;
        }
    }
    if (status == STORAGE_OK) {
        store_pathf(path, sizeof(path), "%s/blobs", dest);
        int e = sync_tree(path, 0);
        store_pathf(path, sizeof(path), "%s/store", dest);
        if (!e)
            e = fsync_path(path, true);
        if (!e)
            e = fsync_path(dest, true);
        if (e) {
            store_err(err, STORAGE_IO, "cannot sync %s: %s", dest, strerror(e));
            status = STORAGE_IO;
        }
    }
    return status;
}
