/*
 * cli/berth.c — the `berth` command: a small table of "GROUP VERB" pairs,
 * each handled by a function in its own file. Adding a subcommand is adding
 * its prototype (cli/cli_internal.h) and one row.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_internal.h"

typedef struct {
    const char *group;
    const char *verb;
    int (*run)(int argc, char **argv);
    const char *summary;
} command_t;

static const command_t commands[] = {
    {"placement", "simulate", berth_placement_simulate,
     "place tasks on ECS-shaped container instances and show where they land, offline"},
    {"policy", "simulate", berth_policy_simulate, "decide whether a principal may do an action on a repository, and say why"},
};

/* exit status for usage errors, shared with the subcommands' "bad input" */
#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out, "usage: berth <command> <subcommand> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %s %-10s %s\n", commands[i].group, commands[i].verb, commands[i].summary);
    fprintf(out, "  iam <subcommand>     manage a running berthd's users, roles, access keys and policies ('berth iam help')\n"
                 "  ecr <subcommand>     manage repositories, images, repository and lifecycle policies; get-login-password\n"
                 "                       ('berth ecr help')\n"
                 "  agent                run a container instance's agent ('berth agent --help')\n"
                 "  metrics-token create|delete|list\n"
                 "                       tokens for Prometheus to read GET /metrics ('berth metrics-token help')\n"
                 "  gc [--dry-run] [--grace SECONDS]\n"
                 "                       collect unreferenced blobs and abandoned uploads now ('berth gc --help')\n"
                 "  backup [--data DIR] [--copy] DEST\n"
                 "                       copy a data directory, also while berthd serves it ('berth backup --help')\n"
                 "  fsck [--json] DATA   check a stopped data directory ('berth fsck --help')\n");
    fprintf(out, "\n'berth <command> <subcommand> --help' shows a subcommand's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "agent") == 0) /* one verb, no subcommand */
        return berth_agent(argc - 2, argv + 2);
    if (strcmp(argv[1], "gc") == 0)
        return berth_gc(argc - 2, argv + 2);
    if (strcmp(argv[1], "backup") == 0)
        return berth_backup(argc - 2, argv + 2);
    if (strcmp(argv[1], "fsck") == 0)
        return berth_fsck(argc - 2, argv + 2);
    if (berth_admin_group(argv[1]))
        return berth_admin(argv[1], argc - 2, argv + 2);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].group) != 0)
            continue;
        if (argc < 3) {
            fprintf(stderr, "berth %s: missing subcommand\n", argv[1]);
            usage(stderr);
            return EXIT_USAGE;
        }
        if (strcmp(argv[2], commands[i].verb) == 0)
            return commands[i].run(argc - 3, argv + 3);
    }
    fprintf(stderr, "berth: unknown command '%s%s%s'\n", argv[1], argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
    usage(stderr);
    return EXIT_USAGE;
}
