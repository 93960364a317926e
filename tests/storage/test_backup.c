/* berth backup and berth fsck as storage calls: a backup of a store opens
 * and serves what the store held, leaves uploads in progress out, and
 * passes fsck; fsck passes a clean store and finds each kind of planted
 * damage; berthd's file sweep waits for another process's snapshot. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "storage/storage_internal.h"

#define REPO "team/app"
#define BIG_BYTES ((size_t)3 << 20) /* past STORE_FILE_MIN_BYTES: a file blob */

static char dir[256], bdir[300];

typedef struct {
    oci_digest_t config, layer, big, manifest;
    unsigned char *big_bytes;
} image_t;

static image_t img;

/* A store holding one image: a compressible LMDB-tier config and layer
 * (zstd chunks) and a file-tier layer, tagged v1. Closed on return. */
static void make_store(void)
{
    storage_t *st = test_store_open(dir, sizeof(dir));
    char config[2048], layer[8192];
    memset(config, 0, sizeof(config));
    snprintf(config, sizeof(config), "{\"architecture\":\"amd64\",\"os\":\"linux\",\"pad\":\"%0900d\"}", 0);
    for (size_t i = 0; i < sizeof(layer); i++)
        layer[i] = (char)('a' + i % 7);
    cr_assert_eq(test_push_blob(st, REPO, config, strlen(config), &img.config), STORAGE_OK);
    cr_assert_eq(test_push_blob(st, REPO, layer, sizeof(layer), &img.layer), STORAGE_OK);
    img.big_bytes = malloc(BIG_BYTES);
    cr_assert_not_null(img.big_bytes);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < BIG_BYTES; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        img.big_bytes[i] = (unsigned char)x;
    }
    cr_assert_eq(test_push_blob(st, REPO, img.big_bytes, BIG_BYTES, &img.big), STORAGE_OK);
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
             "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu},"
             "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu}]}",
             img.config.str, strlen(config), img.layer.str, sizeof(layer), img.big.str, BIG_BYTES);
    oci_manifest_t m;
    cr_assert_eq(oci_manifest_parse(body, strlen(body), NULL, 0, &m, NULL), OCI_OK);
    cr_assert_eq(test_put_manifest(st, REPO, "v1", body, &m, &img.manifest), STORAGE_OK);
    oci_manifest_free(&m);
    storage_stats_t s;
    storage_get_stats(st, &s);
    cr_assert_geq(s.chunks_zstd, 1, "the layer must be stored compressed, so that a flipped byte is in a zstd chunk");
    cr_assert_eq(s.file_blobs, 1);
    storage_close(st);
    snprintf(bdir, sizeof(bdir), "%s.bak", dir);
}

static void remove_store(void)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, bdir);
    cr_assert_eq(system(cmd), 0);
    free(img.big_bytes);
}

TestSuite(backup, .init = make_store, .fini = remove_store);

/* ---- fsck's findings, collected ---- */

#define MAX_FOUND 16
typedef struct {
    int n;
    char kind[MAX_FOUND][32], repo[MAX_FOUND][128], what[MAX_FOUND][300];
} found_t;

static void collect(void *ctx, const storage_fsck_problem_t *p)
{
    found_t *f = ctx;
    if (f->n < MAX_FOUND) {
        snprintf(f->kind[f->n], sizeof(f->kind[0]), "%s", p->kind);
        snprintf(f->repo[f->n], sizeof(f->repo[0]), "%s", p->repo);
        snprintf(f->what[f->n], sizeof(f->what[0]), "%s", p->what);
    }
    f->n++;
}

static found_t fsck(const char *d)
{
    found_t f = {0};
    storage_fsck_report_t rep;
    storage_err_t err = {0};
    cr_assert_eq(storage_fsck(d, collect, &f, &rep, &err), STORAGE_OK, "%s", err.msg);
    cr_assert_eq((int)rep.problems, f.n);
    return f;
}

static bool has(const found_t *f, const char *kind, const char *what)
{
    for (int i = 0; i < f->n && i < MAX_FOUND; i++)
        if (strcmp(f->kind[i], kind) == 0 && (!what || strstr(f->what[i], what)))
            return true;
    return false;
}

/* ---- planting damage straight into the environment ---- */

typedef struct {
    store_offline_t o;
    MDB_txn *txn;
} raw_t;

static void raw_begin(raw_t *r)
{
    storage_err_t err = {0};
    cr_assert_eq(store_offline_open(dir, true, &r->o, &err), 0, "%s", err.msg);
    cr_assert_eq(mdb_txn_begin(r->o.env, NULL, 0, &r->txn), 0);
}

static void raw_commit(raw_t *r)
{
    cr_assert_eq(mdb_txn_commit(r->txn), 0);
    store_offline_close(&r->o);
}

static blob_rec_t raw_blob(raw_t *r, const oci_digest_t *d)
{
    MDB_val k = {d->len, (void *)d->str}, v;
    cr_assert_eq(mdb_get(r->txn, r->o.blobs, &k, &v), 0);
    blob_rec_t rec;
    memcpy(&rec, v.mv_data, sizeof(rec));
    return rec;
}

static void raw_del2(raw_t *r, MDB_dbi dbi, const char *a, const char *b)
{
    char key[512];
    MDB_val k = {store_key2(key, sizeof(key), a, b), key};
    cr_assert_eq(mdb_del(r->txn, dbi, &k, NULL), 0);
}

Test(backup, fsck_passes_a_clean_store)
{
    found_t f = fsck(dir);
    cr_assert_eq(f.n, 0, "first finding: %s %s %s", f.kind[0], f.repo[0], f.what[0]);
}

Test(backup, fsck_finds_a_flipped_byte_in_a_zstd_chunk)
{
    raw_t r;
    raw_begin(&r);
    blob_rec_t rec = raw_blob(&r, &img.layer);
    unsigned char key[16];
    store_chunk_key(key, rec.id, 0);
    MDB_val k = {16, key}, v;
    cr_assert_eq(mdb_get(r.txn, r.o.chunks, &k, &v), 0);
    chunk_hdr_t hdr;
    memcpy(&hdr, v.mv_data, sizeof(hdr));
    cr_assert_eq(hdr.codec, CHUNK_ZSTD);
    unsigned char *copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size / 2] ^= 0x10;
    MDB_val nv = {v.mv_size, copy};
    cr_assert_eq(mdb_put(r.txn, r.o.chunks, &k, &nv, 0), 0);
    raw_commit(&r);
    free(copy);
    found_t f = fsck(dir);
    cr_assert_eq(f.n, 1);
    cr_assert(has(&f, "blob-digest", img.layer.str), "%s %s", f.kind[0], f.what[0]);
}

Test(backup, fsck_finds_a_flipped_byte_in_a_file_blob)
{
    char path[512];
    const char *hex = strchr(img.big.str, ':') + 1;
    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", dir, hex, hex);
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char b;
    cr_assert_eq(pread(fd, &b, 1, 12345), 1);
    b ^= 1;
    cr_assert_eq(pwrite(fd, &b, 1, 12345), 1);
    close(fd);
    found_t f = fsck(dir);
    cr_assert_eq(f.n, 1);
    cr_assert(has(&f, "blob-digest", img.big.str));
}

Test(backup, fsck_finds_a_dangling_tag)
{
    raw_t r;
    raw_begin(&r);
    char key[128];
    const char *ghost = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    MDB_val k = {store_key2(key, sizeof(key), REPO, "ghost"), key}, v = {strlen(ghost), (void *)ghost};
    cr_assert_eq(mdb_put(r.txn, r.o.tags, &k, &v, 0), 0);
    raw_commit(&r);
    found_t f = fsck(dir);
    cr_assert_eq(f.n, 1);
    cr_assert(has(&f, "tag-dangling", "ghost"));
    cr_assert_str_eq(f.repo[0], REPO);
}

Test(backup, fsck_finds_a_missing_layer)
{
    raw_t r;
    raw_begin(&r);
    blob_rec_t rec = raw_blob(&r, &img.layer);
    MDB_val k = {img.layer.len, img.layer.str};
    cr_assert_eq(mdb_del(r.txn, r.o.blobs, &k, NULL), 0);
    raw_del2(&r, r.o.links, REPO, img.layer.str);
    MDB_cursor *cur;
    cr_assert_eq(mdb_cursor_open(r.txn, r.o.chunks, &cur), 0);
    unsigned char ck[16];
    store_chunk_key(ck, rec.id, 0);
    MDB_val c = {16, ck}, cv;
    int gone = 0;
    while (mdb_cursor_get(cur, &c, &cv, MDB_SET_RANGE) == 0 && memcmp(c.mv_data, ck, 8) == 0) {
        cr_assert_eq(mdb_cursor_del(cur, 0), 0);
        gone++;
        c.mv_size = 16;
        c.mv_data = ck;
    }
    mdb_cursor_close(cur);
    cr_assert_geq(gone, 1);
    raw_commit(&r);
    found_t f = fsck(dir);
    cr_assert_eq(f.n, 1, "%s %s / %s %s", f.kind[0], f.what[0], f.kind[1], f.what[1]);
    cr_assert(has(&f, "manifest-ref", img.manifest.str));
}

Test(backup, fsck_finds_a_link_to_a_blob_the_store_lacks_and_its_orphan_chunks)
{
    raw_t r;
    raw_begin(&r);
    MDB_val k = {img.config.len, img.config.str};
    cr_assert_eq(mdb_del(r.txn, r.o.blobs, &k, NULL), 0);
    raw_commit(&r);
    found_t f = fsck(dir);
    cr_assert_eq(f.n, 2);
    cr_assert(has(&f, "link-dangling", img.config.str));
    cr_assert(has(&f, "orphan-chunks", NULL));
}

Test(backup, fsck_finds_orphan_files)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/blobs/sha256/ab", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/blobs/sha256/ab/ab%062d", dir, 0);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs("stray", fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/uploads", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/uploads/0123456789abcdef0123456789abcdef", dir);
    cr_assert_not_null(fp = fopen(path, "w"));
    fclose(fp);
    found_t f = fsck(dir);
    cr_assert_eq(f.n, 2);
    cr_assert(has(&f, "orphan-file", "/blobs/sha256/ab/ab00"));
    cr_assert(has(&f, "orphan-file", "/uploads/0123456789abcdef"));
}

Test(backup, fsck_refuses_a_store_a_berthd_holds)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/berthd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    storage_fsck_report_t rep;
    storage_err_t err = {0};
    cr_assert_eq(storage_fsck(dir, NULL, NULL, &rep, &err), STORAGE_EXISTS);
    cr_assert(strstr(err.msg, "in use by a running berthd"), "%s", err.msg);
    close(fd);
}

Test(backup, fsck_and_backup_refuse_what_is_not_a_store)
{
    storage_fsck_report_t rep;
    storage_backup_report_t brep;
    storage_err_t err = {0};
    cr_assert_eq(storage_fsck("/nonexistent/berth", NULL, NULL, &rep, &err), STORAGE_IO);
    cr_assert(strstr(err.msg, "not a Berth data directory"), "%s", err.msg);
    cr_assert_eq(storage_backup("/nonexistent/berth", bdir, NULL, &brep, &err), STORAGE_IO);
    cr_assert_eq(access(bdir, F_OK), -1, "nothing is created for a source that is not a store");
}

/* Reads blob d from the store in `d` through the storage API. */
static void assert_blob(storage_t *st, const oci_digest_t *d, const void *want, size_t len)
{
    size_t got_len = 0;
    void *got = test_read_blob(st, REPO, d, &got_len);
    cr_assert_not_null(got);
    cr_assert_eq(got_len, len);
    cr_assert_eq(memcmp(got, want, len), 0);
    free(got);
}

Test(backup, a_backup_opens_serves_the_image_and_passes_fsck)
{
    storage_backup_report_t rep;
    storage_err_t err = {0};
    cr_assert_eq(storage_backup(dir, bdir, NULL, &rep, &err), STORAGE_OK, "%s", err.msg);
    cr_assert_eq(rep.blobs, 3);
    cr_assert_eq(rep.file_blobs, 1);
    cr_assert_eq(rep.files_linked, 1, "same file system: a hard link");
    cr_assert_eq(rep.files_copied, 0);
    char p[512];
    snprintf(p, sizeof(p), "%s/store/lock.mdb", bdir);
    cr_assert_eq(access(p, F_OK), -1);
    cr_assert_eq(fsck(bdir).n, 0);
    storage_t *st = test_store_reopen(bdir);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    oci_reference_t ref = {.is_digest = false};
    strcpy(ref.tag, "v1");
    storage_manifest_t m;
    cr_assert_eq(storage_manifest_get(rd, REPO, &ref, &m, NULL), STORAGE_OK);
    cr_assert_str_eq(m.digest.str, img.manifest.str);
    storage_reader_end(rd);
    assert_blob(st, &img.big, img.big_bytes, BIG_BYTES);
    storage_close(st);
    /* a second backup into the same place is refused */
    storage_backup_report_t again;
    cr_assert_eq(storage_backup(dir, bdir, NULL, &again, &err), STORAGE_EXISTS);
}

Test(backup, a_copying_backup_shares_no_inode_and_keeps_master_key_private)
{
    char p[512], q[600];
    snprintf(p, sizeof(p), "%s/master.key", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "0123456789abcdef0123456789abcdef", 32), 32);
    close(fd);
    storage_backup_options_t opt = {.copy = true};
    storage_backup_report_t rep;
    storage_err_t err = {0};
    cr_assert_eq(storage_backup(dir, bdir, &opt, &rep, &err), STORAGE_OK, "%s", err.msg);
    cr_assert_eq(rep.files_copied, 1);
    cr_assert_eq(rep.files_linked, 0);
    cr_assert_eq(rep.bytes_copied, BIG_BYTES);
    cr_assert(rep.master_key);
    struct stat a, b;
    snprintf(q, sizeof(q), "%s/master.key", bdir);
    cr_assert_eq(stat(q, &b), 0);
    cr_assert_eq(b.st_mode & 0777, 0600);
    const char *hex = strchr(img.big.str, ':') + 1;
    snprintf(p, sizeof(p), "%s/blobs/sha256/%.2s/%s", dir, hex, hex);
    snprintf(q, sizeof(q), "%s/blobs/sha256/%.2s/%s", bdir, hex, hex);
    cr_assert_eq(stat(p, &a), 0);
    cr_assert_eq(stat(q, &b), 0);
    cr_assert_neq(a.st_ino, b.st_ino);
    cr_assert_eq(fsck(bdir).n, 0);
}

Test(backup, uploads_in_progress_are_left_out)
{
    storage_t *st = test_store_reopen(dir);
    const char *tiers[] = {"small", NULL};
    for (int i = 0; i < 2; i++) {
        storage_op_t op;
        storage_op_init(&op, STORAGE_OP_UPLOAD_BEGIN);
        strcpy(op.repo, REPO);
        cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
        char id[STORAGE_UPLOAD_ID_LEN + 1];
        strcpy(id, op.upload_id);
        storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
        strcpy(op.repo, REPO);
        strcpy(op.upload_id, id);
        op.offset = 0;
        op.data = tiers[i] ? (const void *)tiers[i] : img.big_bytes; /* an LMDB-tier and a file-tier upload */
        op.len = tiers[i] ? strlen(tiers[i]) : BIG_BYTES;
        cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    }
    storage_close(st);
    storage_backup_report_t rep;
    storage_err_t err = {0};
    cr_assert_eq(storage_backup(dir, bdir, NULL, &rep, &err), STORAGE_OK, "%s", err.msg);
    cr_assert_eq(rep.uploads_dropped, 2);
    storage_fsck_report_t frep;
    found_t f = {0};
    cr_assert_eq(storage_fsck(bdir, collect, &f, &frep, &err), STORAGE_OK);
    cr_assert_eq(f.n, 0, "%s %s", f.kind[0], f.what[0]);
    cr_assert_eq(frep.uploads, 0);
    cr_assert_eq(fsck(dir).n, 0, "the source keeps its uploads");
}

/* A snapshot of another process (a backup) holds back the unlink of a file
 * blob deleted after it; the file goes once that snapshot ends. */
Test(backup, a_deleted_file_blob_stays_while_another_process_reads_the_store)
{
    int up[2], down[2];
    cr_assert_eq(pipe(up), 0);
    cr_assert_eq(pipe(down), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* only the parent's ends stay open elsewhere: if it dies, read() sees EOF */
        close(up[0]);
        close(down[1]);
        store_offline_t o;
        MDB_txn *txn;
        if (store_offline_open(dir, false, &o, NULL) != 0 || mdb_txn_begin(o.env, NULL, MDB_RDONLY, &txn) != 0)
            _exit(1);
        char c = 'r';
        if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
            _exit(1);
        mdb_txn_abort(txn);
        store_offline_close(&o);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    char c;
    cr_assert_eq(read(up[0], &c, 1), 1);
    storage_t *st = test_store_reopen(dir);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_BLOB_DELETE);
    op.digest = img.big;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
    char path[512];
    const char *hex = strchr(img.big.str, ':') + 1;
    snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", dir, hex, hex);
    usleep(300 * 1000);
    cr_assert_eq(access(path, F_OK), 0, "unlinked under another process's snapshot");
    cr_assert_eq(write(down[1], "x", 1), 1);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int waited = 0;
    while (access(path, F_OK) == 0 && waited < 60) {
        usleep(100 * 1000);
        waited++;
    }
    cr_assert_neq(access(path, F_OK), 0, "the file stays after the other snapshot ended");
    storage_close(st);
}
