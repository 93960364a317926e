/* berthd's config file: `key = value` lines read through the same option
 * table as the command line (server/config.h). */
#include "server/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const server_option_t *server_option_find(const server_option_t *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* s[0..*len) without its leading and trailing blanks */
static char *trim(char *s, size_t *len)
{
    while (*len && blank(s[0])) {
        s++;
        (*len)--;
    }
    while (*len && blank(s[*len - 1]))
        (*len)--;
    return s;
}

/* Keys are printed in messages: only the characters option names use, so a
 * line of binary noise is not echoed to a terminal. */
static bool key_chars(const char *k, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '-' || k[i] == '_'))
            return false;
    return len > 0;
}

int server_config_parse(char *text, size_t len, const server_option_t *opts, size_t n, server_option_apply_cb apply, void *ctx,
                        char *err, size_t cap)
{
    unsigned seen[SERVER_CONFIG_MAX_OPTIONS] = {0}; /* the line an option was set on; 0: not yet */
    if (n > SERVER_CONFIG_MAX_OPTIONS) {
        snprintf(err, cap, "the option table is larger than SERVER_CONFIG_MAX_OPTIONS");
        return -1;
    }
    if (memchr(text, '\0', len)) {
        unsigned line = 1;
        for (const char *p = text; *p; p++)
            line += *p == '\n';
        snprintf(err, cap, "line %u: contains a NUL byte (is this a text file?)", line);
        return -1;
    }
    unsigned line = 0;
    size_t pos = 0;
    while (pos < len) {
        line++;
        char *start = text + pos;
        char *nl = memchr(start, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - start) : len - pos;
        pos += llen + (nl ? 1 : 0);
        char *s = trim(start, &llen);
        if (llen == 0 || s[0] == '#')
            continue;
        char *eq = memchr(s, '=', llen);
        size_t klen = eq ? (size_t)(eq - s) : llen;
        char *key = trim(s, &klen);
        if (!key_chars(key, klen)) {
            snprintf(err, cap, "line %u: expected `key = value`, the key an option's long name (listen, data, ...)", line);
            return -1;
        }
        const server_option_t *opt = server_option_find(opts, n, key, klen);
        if (!opt || opt->cli_only) {
            if (klen > 64)
                snprintf(err, cap, "line %u: unknown key %.64s...", line, key);
            else
                snprintf(err, cap, "line %u: unknown key %.*s%s", line, (int)klen, key, opt ? " (a command-line option only)" : "");
            return -1;
        }
        if (!eq) {
            snprintf(err, cap, "line %u: %s: expected `%s = value`", line, opt->name, opt->name);
            return -1;
        }
        size_t idx = (size_t)(opt - opts);
        if (seen[idx]) {
            snprintf(err, cap, "line %u: %s is set twice (first on line %u)", line, opt->name, seen[idx]);
            return -1;
        }
        seen[idx] = line;
        size_t vlen = llen - (size_t)(eq + 1 - s);
        char *value = trim(eq + 1, &vlen);
        if (vlen == 0) {
            snprintf(err, cap, "line %u: %s has no value", line, opt->name);
            return -1;
        }
        key[klen] = '\0';
        value[vlen] = '\0';
        if (!opt->takes_value && strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
            snprintf(err, cap, "line %u: %s takes true or false", line, opt->name);
            return -1;
        }
        char msg[256] = "";
        if (apply(ctx, opt, value, msg, sizeof(msg)) != 0) {
            snprintf(err, cap, "line %u: %s %s", line, opt->name, msg[0] ? msg : "has a bad value");
            return -1;
        }
    }
    return 0;
}

int server_config_load(const char *path, char **text, const server_option_t *opts, size_t n, server_option_apply_cb apply,
                       void *ctx, char *err, size_t cap)
{
    *text = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "cannot open the config file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > SERVER_CONFIG_MAX_BYTES) {
        snprintf(err, cap, "the config file %s must be a regular file of at most %d bytes", path, SERVER_CONFIG_MAX_BYTES);
        close(fd);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        snprintf(err, cap, "out of memory reading %s", path);
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *text = buf;
    char perr[384];
    if (server_config_parse(buf, got, opts, n, apply, ctx, perr, sizeof(perr)) != 0) {
        snprintf(err, cap, "%s %s", path, perr);
        return -1;
    }
    return 0;
}
