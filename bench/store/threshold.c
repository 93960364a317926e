/*
 * bench/store/threshold.c — the measurement behind the big-blob threshold
 * (issue 15): how long it takes to make one blob of size S durable
 *   - in LMDB, as the store keeps blobs today: 1 MiB chunk values, one
 *     synced commit per blob ("lmdb 1/commit"), or 16 blobs per synced commit
 *     ("lmdb 16/commit": concurrent small pushes sharing the group commit);
 *   - as a file: written in 1 MiB writes, fdatasync, renamed into a fan-out
 *     directory, the directory fsynced ("file").
 * Prints the median microseconds per blob and MB/s for each size. Not a test.
 *
 *   threshold DIR [SIZES_KIB...]
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 20)
#define REPS 5

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "threshold: %s: %s\n", what, rc > 0 ? mdb_strerror(rc) : strerror(errno));
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Puts `per_commit` blobs of `size` bytes per synced commit, `n` blobs in all;
 * returns the microseconds per blob. */
static double lmdb_run(MDB_env *env, MDB_dbi dbi, const unsigned char *data, size_t size, unsigned n, unsigned per_commit,
                       uint64_t *key_seq)
{
    double t0 = now_us();
    for (unsigned done = 0; done < n;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(env, NULL, 0, &txn);
        if (rc)
            die("mdb_txn_begin", rc);
        for (unsigned b = 0; b < per_commit && done < n; b++, done++) {
            uint64_t blob = (*key_seq)++;
            for (size_t off = 0, i = 0; off < size; off += CHUNK, i++) {
                uint64_t k[2] = {__builtin_bswap64(blob), __builtin_bswap64(i)};
                MDB_val key = {sizeof(k), k}, val = {size - off < CHUNK ? size - off : CHUNK, (void *)(data + off)};
                if ((rc = mdb_put(txn, dbi, &key, &val, 0)))
                    die("mdb_put", rc);
            }
        }
        if ((rc = mdb_txn_commit(txn)))
            die("mdb_txn_commit", rc);
    }
    return (now_us() - t0) / n;
}

static double file_run(const char *dir, const unsigned char *data, size_t size, unsigned n, uint64_t *seq)
{
    char tmp[4096], dst[4096 + 32], fan[4096];
    double t0 = now_us();
    for (unsigned b = 0; b < n; b++) {
        uint64_t id = (*seq)++;
        snprintf(tmp, sizeof(tmp), "%s/uploads/%llu", dir, (unsigned long long)id);
        snprintf(fan, sizeof(fan), "%s/blobs/%02x", dir, (unsigned)(id % 256));
        snprintf(dst, sizeof(dst), "%s/%llu", fan, (unsigned long long)id);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            die(tmp, 0);
        for (size_t off = 0; off < size; off += CHUNK) {
            size_t len = size - off < CHUNK ? size - off : CHUNK;
            if (write(fd, data + off, len) != (ssize_t)len)
                die("write", 0);
        }
        if (fdatasync(fd) != 0)
            die("fdatasync", 0);
        close(fd);
        if (rename(tmp, dst) != 0)
            die("rename", 0);
        int dfd = open(fan, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            die("fsync dir", 0);
        close(dfd);
    }
    return (now_us() - t0) / n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: threshold DIR [SIZES_KIB...]\n");
        return 2;
    }
    static const unsigned default_kib[] = {16, 64, 128, 256, 512, 1024, 2048, 4096, 16384, 65536};
    unsigned nsizes = argc > 2 ? (unsigned)(argc - 2) : sizeof(default_kib) / sizeof(default_kib[0]);
    char path[4096];
    const char *dir = argv[1];
    if (strlen(dir) > 3000) {
        fprintf(stderr, "threshold: DIR is too long\n");
        return 2;
    }
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/lmdb", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/uploads", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/blobs", dir);
    mkdir(path, 0700);
    for (unsigned i = 0; i < 256; i++) {
        snprintf(path, sizeof(path), "%s/blobs/%02x", dir, i);
        mkdir(path, 0700);
    }
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    int rc;
    snprintf(path, sizeof(path), "%s/lmdb", dir);
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_mapsize(env, (size_t)64 << 30)) || (rc = mdb_env_open(env, path, 0, 0600)))
        die("mdb_env_open", rc);
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) || (rc = mdb_txn_commit(txn)))
        die("mdb_dbi_open", rc);

    size_t max = 0;
    for (unsigned i = 0; i < nsizes; i++) {
        size_t s = (size_t)(argc > 2 ? strtoul(argv[2 + i], NULL, 10) : default_kib[i]) << 10;
        max = s > max ? s : max;
    }
    unsigned char *data = malloc(max);
    if (!data)
        die("malloc", 0);
    for (size_t i = 0; i < max; i++)
        data[i] = (unsigned char)(rand() >> 7);

    printf("%10s %8s  %14s %14s %14s   %s\n", "size_KiB", "blobs", "lmdb 1/commit", "lmdb 16/commit", "file",
           "(median us per blob; MB/s)");
    uint64_t key_seq = 0, file_seq = 0;
    for (unsigned i = 0; i < nsizes; i++) {
        size_t size = (size_t)(argc > 2 ? strtoul(argv[2 + i], NULL, 10) : default_kib[i]) << 10;
        /* about 64 MiB per repetition, at least 16 blobs, at most 512 */
        unsigned n = (unsigned)(((size_t)64 << 20) / size);
        n = n < 16 ? 16 : n > 512 ? 512 : n;
        double a[REPS], b[REPS], c[REPS];
        for (int r = 0; r < REPS; r++) {
            a[r] = lmdb_run(env, dbi, data, size, n, 1, &key_seq);
            b[r] = lmdb_run(env, dbi, data, size, n, 16, &key_seq);
            c[r] = file_run(dir, data, size, n, &file_seq);
        }
        qsort(a, REPS, sizeof(double), cmp_double);
        qsort(b, REPS, sizeof(double), cmp_double);
        qsort(c, REPS, sizeof(double), cmp_double);
        double mb = (double)size / 1e6;
        printf("%10zu %8u  %7.0f %6.0f %7.0f %6.0f %7.0f %6.0f\n", size >> 10, n, a[REPS / 2], mb / (a[REPS / 2] / 1e6),
               b[REPS / 2], mb / (b[REPS / 2] / 1e6), c[REPS / 2], mb / (c[REPS / 2] / 1e6));
        fflush(stdout);
    }
    mdb_env_close(env);
    free(data);
    return 0;
}
