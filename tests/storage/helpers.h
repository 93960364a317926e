#ifndef TEST_STORAGE_HELPERS_H
#define TEST_STORAGE_HELPERS_H
#include "storage/storage.h"

/* A fresh store in a new temp dir; the dir is removed by test_store_close. */
storage_t *test_store_open(char *dir_out, size_t cap);
/* The store in dir opened again, as after a restart (after storage_close). */
storage_t *test_store_reopen(const char *dir);
void test_store_close(storage_t *st, const char *dir);

/* A criterion suite whose every test runs on a fresh store: declares the
 * file's `dir` and `st`, opened before each test and removed after. */
#define TEST_STORE_SUITE(suite)                                                                                                    \
    static char dir[256];                                                                                                          \
    static storage_t *st;                                                                                                          \
    static void suite##_store_open(void)                                                                                           \
    {                                                                                                                              \
        st = test_store_open(dir, sizeof(dir));                                                                                    \
    }                                                                                                                              \
    static void suite##_store_close(void)                                                                                          \
    {                                                                                                                              \
        test_store_close(st, dir);                                                                                                 \
    }                                                                                                                              \
    TestSuite(suite, .init = suite##_store_open, .fini = suite##_store_close)
void test_digest(const void *data, size_t len, oci_digest_t *out);
/* Uploads data as a blob into repo through begin/append(s)/commit. */
storage_status_t test_push_blob(storage_t *st, const char *repo, const void *data, size_t len, oci_digest_t *out);
/* Reads a whole blob back through the reader API; caller frees. */
void *test_read_blob(storage_t *st, const char *repo, const oci_digest_t *d, size_t *len);
size_t test_count_chunks(storage_t *st);
/* The disk use of dir in KiB, as du -sk reports it. */
uint64_t test_du_kib(const char *dir);
storage_status_t test_put_manifest(storage_t *st, const char *repo, const char *tag, const char *body, oci_manifest_t *m,
                                   oci_digest_t *out);
#endif
