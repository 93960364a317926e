/*
 * cli/cli_internal.h — what the `berth` subcommands share. Internal to cli/.
 */
#ifndef BERTH_CLI_INTERNAL_H
#define BERTH_CLI_INTERNAL_H

#include <stdbool.h>

/* A message for the user about bad input, printed by the subcommand. */
typedef struct {
    char msg[512];
} cli_err_t;

/* Fills e->msg and returns -1, so that a parser can `return cli_fail(e, ...)`. */
int cli_fail(cli_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The subcommands, one file each. Each returns the process exit status; they
 * receive argv starting after the verb. */
int berth_placement_simulate(int argc, char **argv);
int berth_policy_simulate(int argc, char **argv);
/* cli/admin.c: `berth iam|ecr <subcommand>`, calls to a running berthd; argv starts at the subcommand */
bool berth_admin_group(const char *group);
int berth_admin(const char *group, int argc, char **argv);

#endif
