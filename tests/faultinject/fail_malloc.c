/*
 * tests/faultinject/fail_malloc.c — an LD_PRELOAD shim for out-of-memory
 * tests of whole programs. Calls of malloc, calloc and realloc are counted
 * together; with FAIL_MALLOC_AFTER=N in the environment the first N succeed
 * and every later one returns NULL with errno ENOMEM; with FAIL_MALLOC_NTH=N
 * only the Nth fails (a single failure that later allocations would not
 * cover up: a caller that ignores it goes on with a hole in its data). With
 * FAIL_MALLOC_REPORT=1 it
 * prints "fail_malloc: <calls>" to stderr at exit, so a test can learn how
 * many allocations a run makes and sweep N over the part it cares about.
 *
 * The real allocator is glibc's __libc_* entry points, not dlsym (which
 * itself allocates). Not for sanitizer builds: ASan replaces malloc too.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);

static unsigned long calls;
static unsigned long limit;
static enum { UNREAD, NEVER, AFTER, NTH } mode;

/* A decimal count from the environment (getenv does not allocate). */
static int env_count(const char *name, unsigned long *out)
{
    const char *v = getenv(name);
    char *end;
    if (!v || !*v)
        return 0;
    *out = strtoul(v, &end, 10);
    return !*end;
}

static int fail_now(void)
{
    if (mode == UNREAD)
        mode = env_count("FAIL_MALLOC_AFTER", &limit) ? AFTER : env_count("FAIL_MALLOC_NTH", &limit) ? NTH : NEVER;
    calls++;
    if ((mode == AFTER && calls > limit) || (mode == NTH && calls == limit)) {
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *malloc(size_t size)
{
    return fail_now() ? NULL : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    return fail_now() ? NULL : __libc_realloc(p, size);
}

__attribute__((destructor)) static void report(void)
{
    const char *r = getenv("FAIL_MALLOC_REPORT");
    if (r && r[0] == '1')
        fprintf(stderr, "fail_malloc: %lu\n", calls);
}
