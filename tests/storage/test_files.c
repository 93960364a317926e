/* Big blobs in files: the tier an upload lands in, crossing the threshold,
 * dedupe, concurrency, deletion under a reader, start-up cleaning, old
 * stores, ranged reads, and the disk given back after deletes. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage_internal.h"
#include "tests/storage/helpers.h"

TEST_STORE_SUITE(files);

#define MIB ((size_t)1 << 20)

static unsigned char *pattern(size_t len, unsigned seed)
{
    unsigned char *p = malloc(len);
    cr_assert_not_null(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

static void begin(const char *repo, char id[STORAGE_UPLOAD_ID_LEN + 1])
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_BEGIN);
    strcpy(op.repo, repo);
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    memcpy(id, op.upload_id, STORAGE_UPLOAD_ID_LEN + 1);
}

static storage_status_t append(const char *repo, const char *id, const void *data, size_t len, uint64_t *end)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
    strcpy(op.repo, repo);
    strcpy(op.upload_id, id);
    op.data = data;
    op.len = len;
    storage_status_t s = storage_execute(st, &op);
    cr_assert(s == STORAGE_OK || s == STORAGE_RANGE, "%s", op.err.msg);
    if (end)
        *end = op.result_offset;
    return s;
}

static storage_status_t commit(const char *repo, const char *id, const void *data, size_t len, const oci_digest_t *d)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_COMMIT);
    strcpy(op.repo, repo);
    strcpy(op.upload_id, id);
    op.data = data;
    op.len = len;
    op.digest = *d;
    return storage_execute(st, &op);
}

static storage_status_t put(const char *repo, const void *data, size_t len, const oci_digest_t *d)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_BLOB_PUT);
    strcpy(op.repo, repo);
    op.data = data;
    op.len = len;
    op.digest = *d;
    return storage_execute(st, &op);
}

static storage_status_t blob_delete(const oci_digest_t *d)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_BLOB_DELETE);
    op.digest = *d;
    return storage_execute(st, &op);
}

/* Regular files under dir/sub, recursively. */
static size_t count_files(const char *sub)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char child[512];
        snprintf(child, sizeof(child), "%s/%s", sub, de->d_name);
        char full[1024];
        snprintf(full, sizeof(full), "%s/%s", dir, child);
        struct stat sb;
        if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode))
            n += count_files(child);
        else
            n++;
    }
    closedir(d);
    return n;
}

static void blob_file(const oci_digest_t *d, char *buf, size_t cap)
{
    cr_assert(store_blob_path(st, d->str, buf, cap));
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Unlinks happen on a file thread after the commit: wait a little for them. */
static bool gone_soon(const char *path)
{
    for (int i = 0; i < 400; i++) {
        if (!exists(path))
            return true;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void check_blob(const char *repo, const oci_digest_t *d, const void *want, size_t len)
{
    size_t got_len;
    unsigned char *got = test_read_blob(st, repo, d, &got_len);
    cr_assert_not_null(got, "blob %s in %s", d->str, repo);
    cr_assert_eq(got_len, len);
    cr_assert(memcmp(got, want, len) == 0, "bytes of %s", d->str);
    free(got);
}

Test(files, a_big_upload_lands_in_one_blob_file_and_leaves_no_upload_file)
{
    size_t len = 3 * MIB + 5;
    unsigned char *data = pattern(len, 1);
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "r", data, len, &d), STORAGE_OK);
    char path[512];
    blob_file(&d, path, sizeof(path));
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s", path);
    cr_assert_eq((size_t)sb.st_size, len);
    cr_assert_eq(test_count_chunks(st), 0);
    for (int i = 0; i < 400 && count_files("uploads"); i++)
        usleep(5000); /* the upload file is unlinked on a file thread after the commit */
    cr_assert_eq(count_files("uploads"), 0);
    check_blob("r", &d, data, len);
    storage_stats_t s;
    storage_get_stats(st, &s);
    cr_assert_eq(s.file_blobs, 1);
    free(data);
}

Test(files, chunks_of_mixed_sizes_cross_the_threshold_and_keep_every_byte)
{
    size_t sizes[] = {100 << 10, 300 << 10, 500 << 10, 2 * MIB, 7, 0, 64 << 10};
    size_t total = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        total += sizes[i];
    unsigned char *data = pattern(total, 2);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("mixed", id);
    size_t off = 0;
    for (size_t i = 0; i + 1 < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t end;
        cr_assert_eq(append("mixed", id, data + off, sizes[i], &end), STORAGE_OK);
        off += sizes[i];
        cr_assert_eq(end, off);
        if (off < STORE_FILE_MIN_BYTES)
            cr_assert_gt(test_count_chunks(st), 0, "below the threshold the upload is in LMDB");
        else
            cr_assert_eq(test_count_chunks(st), 0, "past it its chunks moved into the file");
    }
    oci_digest_t d;
    test_digest(data, total, &d);
    cr_assert_eq(commit("mixed", id, data + off, total - off, &d), STORAGE_OK);
    check_blob("mixed", &d, data, total);
    free(data);
}

/* Bodies of 8 MiB and more go to the disk with O_DIRECT for their whole
 * blocks and through the page cache for the partial blocks at either end:
 * odd sizes put every append's start and end inside a block, where the two
 * kinds of write meet. */
Test(files, big_appends_at_unaligned_offsets_keep_every_byte)
{
    size_t sizes[] = {MIB + 3, 9 * MIB + 4093, 16 * MIB + 1, 5, 12 * MIB, 8 * MIB + 17};
    size_t n = sizeof(sizes) / sizeof(sizes[0]), total = 0;
    for (size_t i = 0; i < n; i++)
        total += sizes[i];
    unsigned char *data = pattern(total, 9);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("odd", id);
    size_t off = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        uint64_t end;
        cr_assert_eq(append("odd", id, data + off, sizes[i], &end), STORAGE_OK);
        off += sizes[i];
        cr_assert_eq(end, off);
    }
    oci_digest_t d;
    test_digest(data, total, &d);
    cr_assert_eq(commit("odd", id, data + off, total - off, &d), STORAGE_OK);
    check_blob("odd", &d, data, total);
    /* and a monolithic push whose length is no multiple of a block */
    size_t mono = 10 * MIB + 11;
    unsigned char *other = pattern(mono, 10);
    oci_digest_t d2;
    cr_assert_eq(test_push_blob(st, "odd", other, mono, &d2), STORAGE_OK);
    check_blob("odd", &d2, other, mono);
    free(other);
    free(data);
}

Test(files, a_commit_that_crosses_the_threshold_with_its_final_bytes)
{
    size_t len = 2 * MIB;
    unsigned char *data = pattern(len, 3);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("c", id);
    cr_assert_eq(append("c", id, data, 200 << 10, NULL), STORAGE_OK);
    oci_digest_t d;
    test_digest(data, len, &d);
    cr_assert_eq(commit("c", id, data + (200 << 10), len - (200 << 10), &d), STORAGE_OK);
    check_blob("c", &d, data, len);
    cr_assert_eq(test_count_chunks(st), 0);
    free(data);
}

Test(files, the_same_big_blob_pushed_twice_is_one_file_linked_twice)
{
    size_t len = 2 * MIB + 1;
    unsigned char *data = pattern(len, 4);
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "a", data, len, &d), STORAGE_OK);
    cr_assert_eq(test_push_blob(st, "b", data, len, &d), STORAGE_OK);
    cr_assert_eq(put("c", data, len, &d), STORAGE_OK, "a monolithic put of it too");
    cr_assert_eq(count_files("blobs"), 1);
    check_blob("a", &d, data, len);
    check_blob("b", &d, data, len);
    check_blob("c", &d, data, len);
    free(data);
}

Test(files, a_big_monolithic_put_is_a_file_and_a_wrong_digest_leaves_nothing)
{
    size_t len = 5 * MIB;
    unsigned char *data = pattern(len, 5);
    oci_digest_t d, wrong;
    test_digest(data, len, &d);
    test_digest("x", 1, &wrong);
    cr_assert_eq(put("p", data, len, &wrong), STORAGE_DIGEST_MISMATCH);
    cr_assert_eq(count_files("blobs") + count_files("uploads"), 0);
    cr_assert_eq(put("p", data, len, &d), STORAGE_OK);
    cr_assert_eq(count_files("blobs"), 1);
    cr_assert_eq(count_files("uploads"), 0, "no temp file is left");
    check_blob("p", &d, data, len);
    free(data);
}

Test(files, a_wrong_digest_ends_a_file_upload_and_removes_its_file)
{
    size_t len = 2 * MIB;
    unsigned char *data = pattern(len, 6);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("w", id);
    cr_assert_eq(append("w", id, data, len, NULL), STORAGE_OK);
    char up[512];
    cr_assert(store_upload_path(st, id, up, sizeof(up)));
    cr_assert(exists(up), "the upload is in a file");
    oci_digest_t wrong;
    test_digest("x", 1, &wrong);
    cr_assert_eq(commit("w", id, NULL, 0, &wrong), STORAGE_DIGEST_MISMATCH);
    cr_assert(gone_soon(up));
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
    strcpy(op.repo, "w");
    strcpy(op.upload_id, id);
    op.data = "x";
    op.len = 1;
    cr_assert_eq(storage_execute(st, &op), STORAGE_NOT_FOUND, "the upload ended");
    free(data);
}

Test(files, an_aborted_file_upload_removes_its_file)
{
    size_t len = 2 * MIB;
    unsigned char *data = pattern(len, 7);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("ab", id);
    cr_assert_eq(append("ab", id, data, len, NULL), STORAGE_OK);
    char up[512];
    cr_assert(store_upload_path(st, id, up, sizeof(up)));
    cr_assert(exists(up));
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_ABORT);
    strcpy(op.repo, "ab");
    strcpy(op.upload_id, id);
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    cr_assert(gone_soon(up));
    free(data);
}

Test(files, a_file_upload_resumes_after_a_restart_at_its_acknowledged_offset)
{
    size_t len = 3 * MIB;
    unsigned char *data = pattern(len, 8);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("rs", id);
    cr_assert_eq(append("rs", id, data, 2 * MIB, NULL), STORAGE_OK);
    storage_close(st);
    /* bytes past the acknowledged offset, as a write cut short by a crash leaves them */
    char up[512];
    snprintf(up, sizeof(up), "%s/uploads/%s", dir, id);
    int fd = open(up, O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "garbage", 7), 7);
    close(fd);
    st = test_store_reopen(dir);
    cr_assert(exists(up), "an upload file with its session is kept");
    oci_digest_t d;
    test_digest(data, len, &d);
    cr_assert_eq(commit("rs", id, data + 2 * MIB, MIB, &d), STORAGE_OK, "the unacknowledged bytes were cut off");
    check_blob("rs", &d, data, len);
    free(data);
}

Test(files, a_file_upload_whose_file_is_gone_fails_closed)
{
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("m", id);
    unsigned char *data = pattern(2 * MIB, 9);
    cr_assert_eq(append("m", id, data, 2 * MIB, NULL), STORAGE_OK);
    char up[512];
    cr_assert(store_upload_path(st, id, up, sizeof(up)));
    cr_assert_eq(truncate(up, 10), 0);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
    strcpy(op.repo, "m");
    strcpy(op.upload_id, id);
    op.data = data;
    op.len = 10;
    cr_assert_eq(storage_execute(st, &op), STORAGE_INVALID, "never resume over missing bytes: %s", op.err.msg);
    free(data);
}

struct appender {
    const char *id;
    const unsigned char *data;
    size_t len;
    storage_status_t status;
};

static void *append_thread(void *arg)
{
    struct appender *a = arg;
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
    strcpy(op.repo, "cc");
    strcpy(op.upload_id, a->id);
    op.data = a->data;
    op.len = a->len;
    a->status = storage_execute(st, &op);
    return NULL;
}

Test(files, concurrent_appends_to_one_upload_never_interleave)
{
    size_t len = 16 * MIB;
    unsigned char *a = pattern(len, 10), *b = pattern(len, 11);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("cc", id);
    cr_assert_eq(append("cc", id, a, 2 * MIB, NULL), STORAGE_OK, "in a file already");
    struct appender x = {id, a, len, STORAGE_OK}, y = {id, b, len, STORAGE_OK};
    pthread_t tx, ty;
    pthread_create(&tx, NULL, append_thread, &x);
    pthread_create(&ty, NULL, append_thread, &y);
    pthread_join(tx, NULL);
    pthread_join(ty, NULL);
    cr_assert(x.status == STORAGE_OK || x.status == STORAGE_RANGE);
    cr_assert(y.status == STORAGE_OK || y.status == STORAGE_RANGE);
    cr_assert(x.status == STORAGE_OK || y.status == STORAGE_OK, "one of them gets through");
    /* the upload holds the first 2 MiB and then whole appends, in some order */
    size_t total = 2 * MIB + (x.status == STORAGE_OK ? len : 0) + (y.status == STORAGE_OK ? len : 0);
    unsigned char *want = malloc(total);
    memcpy(want, a, 2 * MIB);
    oci_digest_t d1, d2;
    if (x.status == STORAGE_OK && y.status == STORAGE_OK) {
        memcpy(want + 2 * MIB, a, len), memcpy(want + 2 * MIB + len, b, len);
        test_digest(want, total, &d1);
        memcpy(want + 2 * MIB, b, len), memcpy(want + 2 * MIB + len, a, len);
        test_digest(want, total, &d2);
    } else {
        memcpy(want + 2 * MIB, x.status == STORAGE_OK ? a : b, len);
        test_digest(want, total, &d1);
        d2 = d1;
    }
    storage_status_t s1 = commit("cc", id, NULL, 0, &d1);
    if (s1 != STORAGE_OK) {
        cr_assert_eq(s1, STORAGE_DIGEST_MISMATCH);
        /* the mismatch ended the upload; only the other order can be the truth, and it is lost: fail */
        cr_assert_fail("the stored bytes are neither order of whole appends (x %d, y %d)", x.status, y.status);
    }
    (void)d2;
    free(want);
    free(a);
    free(b);
}

struct pusher {
    const char *repo;
    const unsigned char *data;
    size_t len;
    bool monolithic;
    storage_status_t status;
};

static void *push_thread(void *arg)
{
    struct pusher *p = arg;
    oci_digest_t d;
    if (p->monolithic) {
        test_digest(p->data, p->len, &d);
        storage_op_t op;
        storage_op_init(&op, STORAGE_OP_BLOB_PUT);
        strcpy(op.repo, p->repo);
        op.data = p->data;
        op.len = p->len;
        op.digest = d;
        p->status = storage_execute(st, &op);
    } else {
        p->status = test_push_blob(st, p->repo, p->data, p->len, &d);
    }
    return NULL;
}

Test(files, concurrent_uploads_of_one_digest_both_succeed_with_one_file)
{
    size_t len = 6 * MIB;
    unsigned char *data = pattern(len, 12);
    struct pusher p[4] = {
        {"x", data, len, false, 0}, {"y", data, len, false, 0}, {"z", data, len, true, 0}, {"w", data, len, true, 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, push_thread, &p[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    oci_digest_t d;
    test_digest(data, len, &d);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(p[i].status, STORAGE_OK, "push %d", i);
        check_blob(p[i].repo, &d, data, len);
    }
    cr_assert_eq(count_files("blobs"), 1);
    free(data);
}

Test(files, a_blob_deleted_under_a_reader_is_read_to_the_end_and_then_its_file_goes)
{
    size_t len = 3 * MIB + 77;
    unsigned char *data = pattern(len, 13);
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "del", data, len, &d), STORAGE_OK);
    char path[512];
    blob_file(&d, path, sizeof(path));
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    storage_blob_t b;
    cr_assert_eq(storage_blob_stat(rd, "del", &d, &b, &err), STORAGE_OK);
    /* a stream drops its snapshot between sends: the file must stay readable */
    storage_reader_release(rd);

    cr_assert_eq(blob_delete(&d), STORAGE_OK);
    cr_assert_eq(blob_delete(&d), STORAGE_NOT_FOUND, "deleted once");
    size_t l;
    cr_assert_null(test_read_blob(st, "del", &d, &l), "new readers do not see it");

    uint64_t pos = 0;
    while (pos < b.size) {
        cr_assert_eq(storage_reader_refresh(rd, &err), STORAGE_OK);
        const void *p;
        size_t n;
        cr_assert_eq(storage_blob_read(rd, &b, pos, &p, &n, &err), STORAGE_OK, "%s", err.msg);
        cr_assert_gt(n, 0);
        cr_assert(memcmp(p, data + pos, n) == 0, "bytes at %llu", (unsigned long long)pos);
        pos += n;
        storage_reader_release(rd);
    }
    storage_reader_end(rd);
    cr_assert(gone_soon(path), "the file is unlinked once no reader can need it");
    free(data);
}

Test(files, a_snapshot_older_than_the_delete_keeps_the_file_until_it_ends)
{
    size_t len = 2 * MIB;
    unsigned char *data = pattern(len, 14);
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "old", data, len, &d), STORAGE_OK);
    char path[512];
    blob_file(&d, path, sizeof(path));
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err); /* sees the record, has not opened the file */
    cr_assert_eq(blob_delete(&d), STORAGE_OK);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    cr_assert(exists(path), "a snapshot that can see the record keeps the file");
    storage_blob_t b;
    cr_assert_eq(storage_blob_stat(rd, "old", &d, &b, &err), STORAGE_OK, "%s", err.msg);
    const void *p;
    size_t n;
    cr_assert_eq(storage_blob_read(rd, &b, len - 1, &p, &n, &err), STORAGE_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(*(const unsigned char *)p, data[len - 1]);
    storage_reader_end(rd);
    cr_assert(gone_soon(path));
    free(data);
}

Test(files, a_deleted_blob_can_be_pushed_again)
{
    size_t len = 2 * MIB;
    unsigned char *data = pattern(len, 15);
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "again", data, len, &d), STORAGE_OK);
    cr_assert_eq(blob_delete(&d), STORAGE_OK);
    cr_assert_eq(test_push_blob(st, "again", data, len, &d), STORAGE_OK);
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL); /* a late unlink of the old incarnation would show now */
    check_blob("again", &d, data, len);
    char path[512];
    blob_file(&d, path, sizeof(path));
    cr_assert(exists(path));
    free(data);
}

Test(files, delete_removes_small_blobs_and_every_link)
{
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "s1", "small", 5, &d), STORAGE_OK);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_BLOB_MOUNT);
    strcpy(op.repo, "s2");
    strcpy(op.from_repo, "s1");
    op.digest = d;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
    cr_assert_gt(test_count_chunks(st), 0);
    cr_assert_eq(blob_delete(&d), STORAGE_OK);
    cr_assert_eq(test_count_chunks(st), 0);
    size_t l;
    cr_assert_null(test_read_blob(st, "s1", &d, &l));
    cr_assert_null(test_read_blob(st, "s2", &d, &l));
    cr_assert_eq(test_push_blob(st, "s3", "small", 5, &d), STORAGE_OK);
    cr_assert_null(test_read_blob(st, "s1", &d, &l), "links do not come back with the blob");
}

static void plant(const char *rel, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
    cr_assert_eq(system(cmd), 0);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

Test(files, orphan_files_are_removed_at_open_and_never_served)
{
    size_t len = 2 * MIB;
    unsigned char *data = pattern(len, 16);
    oci_digest_t d;
    test_digest(data, len, &d);
    storage_close(st);
    char rel[300];
    snprintf(rel, sizeof(rel), "blobs/sha256/%.2s/%s", d.str + 7, d.str + 7);
    plant(rel, data, len);
    plant("uploads/0123456789abcdef0123456789abcdef", data, 100);
    plant("uploads/put-0011223344556677.tmp", data, 100);
    plant("blobs/sha256/zz/junk", data, 10);
    st = test_store_reopen(dir);
    cr_assert_eq(count_files("blobs"), 0, "a blob file without a record goes");
    cr_assert_eq(count_files("uploads"), 0, "upload files without sessions and temp files go");
    size_t l;
    cr_assert_null(test_read_blob(st, NULL, &d, &l));
    /* and a push of the same digest afterwards stores it properly */
    cr_assert_eq(test_push_blob(st, "o", data, len, &d), STORAGE_OK);
    check_blob("o", &d, data, len);
    free(data);
}

/* A store written before files existed: every blob in LMDB chunks, sessions
 * of version 1. Made here by holding the file threads off. */
Test(files, a_store_with_big_blobs_in_lmdb_is_served_and_its_uploads_continue)
{
    unsigned nthreads = st->files.nthreads;
    st->files.nthreads = 0; /* storage_submit sends everything to the writer, as before */
    size_t len = 3 * MIB;
    unsigned char *data = pattern(len, 17);
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "v1", data, len, &d), STORAGE_OK);
    cr_assert_gt(test_count_chunks(st), 2);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("v1", id);
    cr_assert_eq(append("v1", id, data, 700 << 10, NULL), STORAGE_OK);
    st->files.nthreads = nthreads;
    /* the session as version 1 wrote it */
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    MDB_val k = {strlen(id), id}, v;
    cr_assert_eq(mdb_get(txn, st->dbi_uploads, &k, &v), 0);
    unsigned char rec[1024];
    cr_assert_leq(v.mv_size, sizeof(rec));
    memcpy(rec, v.mv_data, v.mv_size);
    uint16_t one = 1;
    memcpy(rec + 4, &one, sizeof(one));
    v.mv_data = rec;
    cr_assert_eq(mdb_put(txn, st->dbi_uploads, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    storage_close(st);
    st = test_store_reopen(dir);

    check_blob("v1", &d, data, len);
    cr_assert_eq(count_files("blobs"), 0, "served in place, from LMDB");
    oci_digest_t d2;
    unsigned char *more = pattern(2 * MIB, 18);
    memcpy(more, data, 700 << 10);
    test_digest(more, 2 * MIB, &d2);
    cr_assert_eq(commit("v1", id, more + (700 << 10), 2 * MIB - (700 << 10), &d2), STORAGE_OK,
                 "a version-1 session crosses into a file");
    check_blob("v1", &d2, more, 2 * MIB);
    cr_assert_eq(count_files("blobs"), 1);
    /* the same digest pushed again now is linked to the LMDB copy */
    cr_assert_eq(test_push_blob(st, "v1b", data, len, &d), STORAGE_OK);
    check_blob("v1b", &d, data, len);
    free(more);
    free(data);
}

/* Writes meta "format" as another berthd would have left it. */
static void set_layout(uint32_t layout)
{
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    MDB_val k = {6, "format"}, v = {sizeof(layout), &layout};
    cr_assert_eq(mdb_put(txn, st->dbi_meta, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
}

static uint32_t get_layout(void)
{
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
    MDB_val k = {6, "format"}, v;
    cr_assert_eq(mdb_get(txn, st->dbi_meta, &k, &v), 0);
    uint32_t layout;
    cr_assert_eq(v.mv_size, sizeof(layout));
    memcpy(&layout, v.mv_data, sizeof(layout));
    mdb_txn_abort(txn);
    return layout;
}

Test(files, a_layout_1_store_is_raised_to_2_and_an_unknown_layout_is_refused)
{
    cr_assert_eq(get_layout(), STORE_LAYOUT, "a new store is written as layout %u", STORE_LAYOUT);
    set_layout(1);
    storage_close(st);
    st = test_store_reopen(dir);
    cr_assert_eq(get_layout(), 2, "opening a layout-1 store raises it, so that an older berthd refuses it");
    set_layout(STORE_LAYOUT + 1);
    storage_close(st);
    storage_err_t err;
    st = storage_open(dir, &(storage_options_t){.no_sync = true}, &err);
    cr_assert_null(st, "a store of a newer layout must not be opened");
    cr_assert_eq(err.status, STORAGE_IO);
    cr_assert(strstr(err.msg, "incompatible version") != NULL, "%s", err.msg);
    st = NULL;
}

Test(files, ranged_reads_of_a_file_blob)
{
    size_t len = 3 * MIB + 333;
    unsigned char *data = pattern(len, 19);
    oci_digest_t d;
    cr_assert_eq(test_push_blob(st, "rg", data, len, &d), STORAGE_OK);
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    storage_blob_t b;
    cr_assert_eq(storage_blob_stat(rd, "rg", &d, &b, &err), STORAGE_OK);
    cr_assert_eq(b.size, len);
    uint64_t offs[] = {0, 1, STORE_READ_BUF_BYTES - 1, STORE_READ_BUF_BYTES, 2 * MIB + 7, len - 1, 5};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        const void *p;
        size_t n;
        cr_assert_eq(storage_blob_read(rd, &b, offs[i], &p, &n, &err), STORAGE_OK, "%s", err.msg);
        cr_assert_gt(n, 0);
        cr_assert_leq(offs[i] + n, len);
        cr_assert(memcmp(p, data + offs[i], n) == 0, "at %llu", (unsigned long long)offs[i]);
    }
    const void *p;
    size_t n;
    cr_assert_eq(storage_blob_read(rd, &b, len, &p, &n, &err), STORAGE_INVALID, "past the end");
    /* another blob stat'ed with the same reader replaces the open file */
    oci_digest_t small;
    cr_assert_eq(test_push_blob(st, "rg", "tiny", 4, &small), STORAGE_OK);
    cr_assert_eq(storage_reader_refresh(rd, &err), STORAGE_OK);
    storage_blob_t sb;
    cr_assert_eq(storage_blob_stat(rd, "rg", &small, &sb, &err), STORAGE_OK);
    cr_assert_eq(storage_blob_read(rd, &sb, 0, &p, &n, &err), STORAGE_OK);
    cr_assert(n >= 1 && n <= 4 && memcmp(p, "tiny", n) == 0);
    storage_reader_end(rd);
    free(data);
}

/* Push BERTH_TEST_SCALE MiB (default 4096) of big blobs, delete them all:
 * the data directory's disk use returns to within 64 MiB of the start. */
Test(files, deleting_every_big_blob_gives_the_disk_back, .timeout = 300)
{
    const char *scale = getenv("BERTH_TEST_SCALE");
    size_t total_mib = scale ? (size_t)strtoul(scale, NULL, 10) : 4096;
    size_t blob = 64 * MIB, n = total_mib * MIB / blob;
    if (n == 0)
        n = 1;
    unsigned char *data = pattern(blob, 20);
    uint64_t before = test_du_kib(dir);
    oci_digest_t *ds = calloc(n, sizeof(*ds));
    for (size_t i = 0; i < n; i++) {
        memcpy(data, &i, sizeof(i)); /* a distinct blob each time */
        test_digest(data, blob, &ds[i]);
        cr_assert_eq(put("disk", data, blob, &ds[i]), STORAGE_OK);
    }
    uint64_t full = test_du_kib(dir);
    cr_assert_geq(full - before, (uint64_t)n * blob / 1024 * 9 / 10, "the blobs took room: %llu KiB",
                  (unsigned long long)(full - before));
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(blob_delete(&ds[i]), STORAGE_OK);
    for (size_t i = 0; i < n; i++) {
        char path[512];
        blob_file(&ds[i], path, sizeof(path));
        cr_assert(gone_soon(path), "%s", path);
    }
    /* the trash names a sweep unlinks last; on a loaded machine (CI runs two builds' tests at once) a sweep
     * can take seconds */
    for (int i = 0; i < 6000 && count_files("uploads"); i++)
        usleep(5000);
    cr_assert_eq(count_files("uploads"), 0, "the sweep left trash in uploads/ after 30 s");
    uint64_t after = test_du_kib(dir);
    cr_assert_leq(after, before + 64 * 1024, "du: %llu KiB before, %llu full, %llu after deleting", (unsigned long long)before,
                  (unsigned long long)full, (unsigned long long)after);
    free(ds);
    free(data);
}

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
} waiter_t;

static void on_done(storage_op_t *op)
{
    waiter_t *w = op->user;
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

Test(files, a_cancelled_big_append_stops_reading_its_body_and_still_completes)
{
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("cx", id);
    size_t len = 64 * MIB;
    unsigned char *body = pattern(len, 21);
    waiter_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
    strcpy(op.repo, "cx");
    strcpy(op.upload_id, id);
    op.data = body;
    op.len = len;
    op.done = on_done;
    op.user = &w;
    storage_submit(st, &op);
    usleep(2000);
    storage_op_cancel(st, &op);
    free(body); /* as the server does: ASan catches any read after this */
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    cr_assert(op.status == STORAGE_CANCELLED || op.status == STORAGE_OK, "%s", op.err.msg);
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    storage_upload_t up;
    cr_assert_eq(storage_upload_stat(rd, id, &up, &err), STORAGE_OK);
    storage_reader_end(rd);
    cr_assert_eq(up.offset, op.status == STORAGE_OK ? len : 0, "a cancelled append leaves the upload where it was");
    /* and the upload goes on from there */
    unsigned char *again = pattern(2 * MIB, 22);
    uint64_t end;
    cr_assert_eq(append("cx", id, again, 2 * MIB, &end), STORAGE_OK);
    cr_assert_eq(end, up.offset + 2 * MIB);
    free(again);
}

/* A body as h2o spools it: a shared mapping of a file in the data dir, the
 * body after some header bytes (so not page-aligned), written but mapped
 * afresh (in the page cache, not in the page tables). */
static unsigned char *spool(const char *name, const unsigned char *body, size_t len, int *fd, unsigned char **map, size_t *maplen)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    *fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(*fd, 0);
    unlink(path);
    char header[100];
    memset(header, 'h', sizeof(header));
    cr_assert_eq(write(*fd, header, sizeof(header)), (ssize_t)sizeof(header));
    cr_assert_eq(write(*fd, body, len), (ssize_t)len);
    *maplen = sizeof(header) + len;
    *map = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    cr_assert_neq(*map, MAP_FAILED);
    return *map + sizeof(header);
}

static uint64_t allocated_bytes(int fd)
{
    struct stat sb;
    cr_assert_eq(fstat(fd, &sb), 0);
    return (uint64_t)sb.st_blocks * 512;
}

Test(files, spent_data_in_a_mapped_file_is_given_back_as_it_is_stored_and_other_data_is_left_alone)
{
    size_t len = 20 * MIB + 3;
    unsigned char *body = pattern(len, 31), *tail = pattern(2 * MIB, 32), *all = malloc(len + 2 * MIB);
    cr_assert_not_null(all);
    memcpy(all, body, len);
    memcpy(all + len, tail, 2 * MIB);
    oci_digest_t d;
    test_digest(all, len + 2 * MIB, &d);

    /* the caller keeps this one: not a byte of its file goes */
    int kfd;
    unsigned char *kmap;
    size_t kmaplen;
    const unsigned char *kept = spool("kept", body, len, &kfd, &kmap, &kmaplen);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    begin("sp", id);
    cr_assert_eq(append("sp", id, kept, len, NULL), STORAGE_OK);
    cr_assert_geq(allocated_bytes(kfd), len);
    cr_assert(memcmp(kept, body, len) == 0);

    /* the same bytes spent: stored whole, and the file keeps at most the pages at the edges */
    int fd;
    unsigned char *map;
    size_t maplen;
    const unsigned char *spent = spool("spent", body, len, &fd, &map, &maplen);
    char id2[STORAGE_UPLOAD_ID_LEN + 1];
    begin("sp", id2);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
    strcpy(op.repo, "sp");
    strcpy(op.upload_id, id2);
    op.data = spent;
    op.len = len;
    op.flags = STORAGE_OP_DATA_SPENT;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    cr_assert_eq(op.result_offset, len);
    cr_assert_leq(allocated_bytes(fd), 64 << 10, "%llu bytes of the spool file are still allocated",
                  (unsigned long long)allocated_bytes(fd));

    /* heap memory marked spent is read as usual (the kernel refuses to drop it) */
    storage_op_init(&op, STORAGE_OP_UPLOAD_COMMIT);
    strcpy(op.repo, "sp");
    strcpy(op.upload_id, id2);
    op.data = tail;
    op.len = 2 * MIB;
    op.digest = d;
    op.flags = STORAGE_OP_DATA_SPENT;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    check_blob("sp", &d, all, len + 2 * MIB);
    cr_assert(memcmp(tail, all + len, 2 * MIB) == 0);

    munmap(kmap, kmaplen);
    munmap(map, maplen);
    close(kfd);
    close(fd);
    free(body);
    free(tail);
    free(all);
}

struct churn {
    const unsigned char *data;
    size_t len;
    oci_digest_t d;
    int rounds;
    int ok;
};

static void *churn_put(void *arg)
{
    struct churn *c = arg;
    for (int i = 0; i < c->rounds; i++)
        if (put("churn", c->data, c->len, &c->d) == STORAGE_OK)
            c->ok++;
    return NULL;
}

static void *churn_delete(void *arg)
{
    struct churn *c = arg;
    for (int i = 0; i < c->rounds; i++) {
        storage_status_t s = blob_delete(&c->d);
        cr_assert(s == STORAGE_OK || s == STORAGE_NOT_FOUND);
        usleep(500);
    }
    return NULL;
}

/* Pushes and deletes of one digest racing: whenever the record exists, its
 * file is there with the right bytes; when it does not, the file goes. */
Test(files, racing_pushes_and_deletes_of_one_digest_never_leave_a_record_without_its_file, .timeout = 120)
{
    size_t len = 2 * MIB;
    unsigned char *data = pattern(len, 23);
    struct churn c = {data, len, {0}, 40, 0};
    test_digest(data, len, &c.d);
    pthread_t p1, p2, del;
    pthread_create(&p1, NULL, churn_put, &c);
    pthread_create(&p2, NULL, churn_put, &c);
    pthread_create(&del, NULL, churn_delete, &c);
    for (int i = 0; i < 200; i++) {
        size_t l;
        unsigned char *got = test_read_blob(st, NULL, &c.d, &l);
        if (got) {
            cr_assert_eq(l, len);
            cr_assert(memcmp(got, data, len) == 0, "a served blob has its bytes");
            free(got);
        }
        usleep(300);
    }
    pthread_join(p1, NULL);
    pthread_join(p2, NULL);
    pthread_join(del, NULL);
    cr_assert_gt(c.ok, 0);
    char path[512];
    blob_file(&c.d, path, sizeof(path));
    size_t l;
    unsigned char *got = test_read_blob(st, NULL, &c.d, &l);
    if (got) {
        usleep(200000); /* a late unlink would show */
        cr_assert(exists(path), "the record exists, so must its file");
        free(got);
        got = test_read_blob(st, NULL, &c.d, &l);
        cr_assert_not_null(got, "still served after any late unlink");
        cr_assert(memcmp(got, data, len) == 0);
        free(got);
    } else {
        cr_assert(gone_soon(path), "no record: the file goes");
    }
    free(data);
}
