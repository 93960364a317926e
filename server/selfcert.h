/*
 * server/selfcert.h — berthd's own TLS certificate for --tls-self-signed,
 * kept in <data>/tls/. Internal to server/ (main.c, its tests and fuzz
 * target); needs only OpenSSL, so that they build it without the rest of
 * server/ (server/selfcert.cmake).
 */
#ifndef BERTH_SERVER_SELFCERT_H
#define BERTH_SERVER_SELFCERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define SELFCERT_NAMES_MAX 16 /* SANs a --tls-hostname list may name */
#define SELFCERT_NAME_MAX 253 /* a DNS name's longest text form */
typedef struct {
    char names[SELFCERT_NAMES_MAX][SELFCERT_NAME_MAX + 1];
    size_t n;
} selfcert_names_t;
typedef struct {
    char cert[FILENAME_MAX];
    char key[FILENAME_MAX];
} selfcert_paths_t;
/* Splits "name,10.0.0.5,..." into DNS names and IP addresses; 0, or -1
 * with a message for --tls-hostname in err. */
int selfcert_parse_hostnames(const char *list, selfcert_names_t *out, char *err, size_t errlen);
/* Fills paths with <data>/tls/cert.pem and key.pem, making both (EC P-256,
 * SANs from names, key 0600) when there is no certificate yet (*created).
 * A kept pair is used as it is; note says (or is "") what it lacks: a
 * requested name, or more than 30 days of validity. 0, or -1 with err. */
int selfcert_ensure(const char *data_dir, const selfcert_names_t *names, selfcert_paths_t *paths, bool *created, char *note,
                    size_t notelen, char *err, size_t errlen);

#endif
