/*
 * cli/cli_internal.h — what the `berth` subcommands share. Internal to cli/.
 */
#ifndef BERTH_CLI_INTERNAL_H
#define BERTH_CLI_INTERNAL_H

/* A message for the user about bad input, printed by the subcommand. */
typedef struct {
    char msg[512];
} cli_err_t;

/* Fills e->msg and returns -1, so that a parser can `return cli_fail(e, ...)`. */
int cli_fail(cli_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
