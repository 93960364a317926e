/*
 * server/ecr/ecr_cache.h — what the ECR handlers learn by parsing a
 * manifest, remembered by key (the table is at the end of images.c): a
 * manifest's bytes never change under its digest, and parsing one of 4 MiB
 * takes jansson ~90 ms on
 * the event loop. DescribeImages parsed every manifest of its page on every
 * call, and GetDownloadUrlForLayer every manifest that names the layer's
 * digest: a repository of a hundred such manifests cost each call seconds.
 * Now each is parsed once, as its push did.
 *
 * One table for the process, shared by the loops (a mutex); values are
 * copied in and out. Past ECR_CACHE_BYTES it starts afresh: a bound on its
 * memory, never a wrong answer.
 */
#ifndef BERTH_SERVER_ECR_CACHE_H
#define BERTH_SERVER_ECR_CACHE_H

#include <stddef.h>

/* A malloc'd copy of key's value (its length in *len), or NULL when absent (or no memory). */
void *ecr_cache_get(const char *key, size_t *len);
/* Remembers len bytes of val under key (replacing any); nothing when out of memory. */
void ecr_cache_put(const char *key, const void *val, size_t len);

#endif
