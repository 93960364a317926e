/*
 * tests/fuzz/fuzz_tls_hostname.c — berthd's --tls-hostname list
 * (selfcert_parse_hostnames). The input is the option's value. Accepted: 1 to
 * SELFCERT_NAMES_MAX names, each non-empty, at most SELFCERT_NAME_MAX
 * characters, without a comma or a byte OpenSSL's SAN syntax would read
 * (a colon only in an IPv6 address), that joined with commas give the input
 * back. Refused: a message.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "server/selfcert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an option's value is a C string */
    char *list = malloc(size + 1);
    if (!list)
        return 0;
    memcpy(list, data, size);
    list[size] = '\0';
    static selfcert_names_t names; /* 4 KB: off the stack */
    char err[160] = "";
    if (selfcert_parse_hostnames(list, &names, err, sizeof(err)) != 0) {
        FUZZ_CHECK(err[0] != '\0');
        free(list);
        return 0;
    }
    FUZZ_CHECK(names.n >= 1 && names.n <= SELFCERT_NAMES_MAX);
    size_t at = 0;
    for (size_t i = 0; i < names.n; i++) {
        const char *n = names.names[i];
        size_t len = strlen(n);
        FUZZ_CHECK(len >= 1 && len <= SELFCERT_NAME_MAX);
        FUZZ_CHECK(strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*:") == len);
        unsigned char addr[16];
        if (strchr(n, ':'))
            FUZZ_CHECK(inet_pton(AF_INET6, n, addr) == 1);
        FUZZ_CHECK(memcmp(list + at, n, len) == 0);
        at += len;
        FUZZ_CHECK(list[at] == (i + 1 < names.n ? ',' : '\0'));
        at++;
    }
    FUZZ_CHECK(at == strlen(list) + 1);
    free(list);
    return 0;
}
