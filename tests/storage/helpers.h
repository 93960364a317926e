#ifndef TEST_STORAGE_HELPERS_H
#define TEST_STORAGE_HELPERS_H
#include "storage/storage.h"

/* A fresh store in a new temp dir; the dir is removed by test_store_close. */
storage_t *test_store_open(char *dir_out, size_t cap);
void test_store_close(storage_t *st, const char *dir);
void test_digest(const void *data, size_t len, oci_digest_t *out);
/* Uploads data as a blob into repo through begin/append(s)/commit. */
storage_status_t test_push_blob(storage_t *st, const char *repo, const void *data, size_t len, oci_digest_t *out);
/* Reads a whole blob back through the reader API; caller frees. */
void *test_read_blob(storage_t *st, const char *repo, const oci_digest_t *d, size_t *len);
size_t test_count_chunks(storage_t *st);
storage_status_t test_put_manifest(storage_t *st, const char *repo, const char *tag, const char *body, oci_manifest_t *m,
                                   oci_digest_t *out);
#endif
