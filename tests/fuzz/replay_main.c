/*
 * tests/fuzz/replay_main.c — a main() for fuzz targets built without libFuzzer:
 * feeds every file named on the command line, or found in a directory named
 * there, to LLVMFuzzerTestOneInput. The normal test suite uses it to replay
 * the seed corpora and every crash input kept as a regression, with whatever
 * compiler and sanitizers the build has.
 *
 * Exit status: 0 when every input ran; 1 when an input could not be read or no
 * input was found (an empty corpus would make the test pass vacuously). A bug
 * the target detects aborts the process, which fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_check.h"

/* the largest input worth replaying; fuzzers run with far smaller -max_len */
#define REPLAY_MAX_INPUT_BYTES (64u << 20)

static int replay_file(const char *path, size_t *count)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX_INPUT_BYTES) {
        fprintf(stderr, "%s: cannot size, or larger than %u bytes\n", path, REPLAY_MAX_INPUT_BYTES);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    /* exactly `size` bytes, never padded: a read past the end is an ASan error */
    uint8_t *data = malloc(size > 0 ? size : 1);
    if (data == NULL || fread(data, 1, size, f) != size) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    (*count)++;
    return 0;
}

static int replay_dir(const char *dir, size_t *count)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort); /* sorted: a failure names the same file every run */
    if (n < 0) {
        perror(dir);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && replay_file(path, count) != 0)
                rc = -1;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            rc = 1;
        } else if (S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count) != 0 : replay_file(argv[i], &count) != 0) {
            rc = 1;
        }
    }
    if (count == 0) {
        fprintf(stderr, "usage: %s <corpus dir or file>...: no input found\n", argv[0]);
        return 1;
    }
    printf("replayed %zu inputs\n", count);
    return rc;
}
