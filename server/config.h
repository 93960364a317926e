/*
 * server/config.h — berthd's options as one table, read from the command
 * line and from a config file (`berthd --config FILE`) alike, so that the two
 * cannot drift: every long option is a key of the file under the same name.
 * Pure (no I/O but server_config_load's read), for the unit tests and the
 * fuzz target.
 */
#ifndef BERTH_SERVER_CONFIG_H
#define BERTH_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* A config file larger than this is refused: a few dozen options fit in 2 KiB. */
#define SERVER_CONFIG_MAX_BYTES (64 * 1024)
/* The table holds at most this many options (the duplicate check's array). */
#define SERVER_CONFIG_MAX_OPTIONS 96

typedef struct {
    const char *name; /* the long option without "--", and the file's key */
    bool takes_value; /* false: a flag (the file says `name = true` or `name = false`) */
    bool cli_only;    /* --help, --version, --config: not a key of the file */
    int code;         /* what the caller switches on */
} server_option_t;

/* Applies one option: value is the option's argument, NULL for a flag given
 * on the command line, "true" or "false" for a flag given in the file. 0, or
 * -1 with msg saying what the value should be ("takes a number from 1 to 64"). */
typedef int (*server_option_apply_cb)(void *ctx, const server_option_t *opt, const char *value, char *msg, size_t cap);

/* The option named name[0..len) in opts[0..n), or NULL. */
const server_option_t *server_option_find(const server_option_t *opts, size_t n, const char *name, size_t len);

/* Parses a config file's text in place (keys and values become NUL-terminated
 * strings inside text, which must outlive the values applied): `key = value`
 * lines, blank lines and lines whose first non-blank character is '#'
 * (a '#' later on a line is part of the value); blanks around keys and values
 * are trimmed; CRLF line ends are taken. Each option is applied through
 * apply. 0, or -1 with err naming the line and the key: an unknown key, a key
 * set twice, a line without '=', a missing value, a flag that is not true or
 * false, a NUL byte, or a value apply refuses (apply's message follows). */
int server_config_parse(char *text, size_t len, const server_option_t *opts, size_t n, server_option_apply_cb apply, void *ctx,
                        char *err, size_t cap);

/* Reads path (at most SERVER_CONFIG_MAX_BYTES) and parses it as above;
 * *text is the buffer the values point into, the caller's to free after
 * they are no longer used (also set on a parse failure; NULL on a read
 * failure). 0, or -1 with err naming the file. */
int server_config_load(const char *path, char **text, const server_option_t *opts, size_t n, server_option_apply_cb apply,
                       void *ctx, char *err, size_t cap);

#endif
