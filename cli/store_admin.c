/*
 * cli/store_admin.c — `berth backup` and `berth fsck`: thin wrappers around
 * storage_backup and storage_fsck, which read a data directory directly
 * (not through a running berthd's HTTP API).
 *
 * Why backup runs beside berthd rather than inside it: it needs nothing of
 * berthd's but the files (LMDB lets another process read the environment,
 * and berthd holds back unlinks while this process's snapshot could name a
 * file), it writes DEST as the operator running it, who may be another user
 * than the service with other paths writable, and it works whether berthd
 * runs or not.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "storage/storage.h"

/* exit statuses: 1 the check found problems, 2 bad usage, 3 the work could not be done */
#define EXIT_PROBLEMS 1
#define EXIT_USAGE 2
#define EXIT_FAILED 3

#define DEFAULT_DATA "./berth-data"

static void backup_usage(FILE *out)
{
    fprintf(out, "usage: berth backup [--data DIR] [--copy] DEST\n"
                 "  Copies the data directory DIR (default " DEFAULT_DATA "), while berthd serves it or not, into DEST,\n"
                 "  a new directory: the store compacted as of one snapshot, the blob files it names (hard links\n"
                 "  when DEST is on the same file system, copies otherwise) and master.key. Uploads in progress\n"
                 "  are left out. To restore, stop berthd and start it with --data on a copy of DEST.\n"
                 "  --copy   copy every blob file, never hard-link (a backup that shares no inode with the store)\n");
}

int berth_backup(int argc, char **argv)
{
    const char *data = DEFAULT_DATA, *dest = NULL;
    storage_backup_options_t opt = {0};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            backup_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--copy") == 0) {
            opt.copy = true;
        } else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (argv[i][0] == '-' || dest) {
            fprintf(stderr, "berth backup: unexpected argument '%s'\n", argv[i]);
            backup_usage(stderr);
            return EXIT_USAGE;
        } else {
            dest = argv[i];
        }
    }
    if (!dest || !dest[0]) {
        fprintf(stderr, "berth backup: missing DEST\n");
        backup_usage(stderr);
        return EXIT_USAGE;
    }
    storage_backup_report_t rep;
    storage_err_t err = {0};
    storage_status_t s = storage_backup(data, dest, &opt, &rep, &err);
    if (s != STORAGE_OK) {
        fprintf(stderr, "berth backup: %s\n", err.msg);
        return s == STORAGE_EXISTS ? EXIT_USAGE : EXIT_FAILED;
    }
    printf("backed up %s into %s: %llu blobs (%llu in files: %llu linked, %llu copied, %llu bytes), store %llu bytes, "
           "%llu uploads in progress left out%s\n",
           data, dest, (unsigned long long)rep.blobs, (unsigned long long)rep.file_blobs, (unsigned long long)rep.files_linked,
           (unsigned long long)rep.files_copied, (unsigned long long)rep.bytes_copied, (unsigned long long)rep.db_bytes,
           (unsigned long long)rep.uploads_dropped, rep.master_key ? "" : "; no master.key to copy");
    return 0;
}

static void fsck_usage(FILE *out)
{
    fprintf(out, "usage: berth fsck [--json] DATA\n"
                 "  Checks the stopped store in DATA: every blob's bytes hash to its digest, every manifest's\n"
                 "  config, layers and children are in its repository, every tag names a manifest, every link a\n"
                 "  blob, and no file is left that no record names. One line per problem (kind, repository or -,\n"
                 "  digest, tag or path, detail), or with --json one JSON object per line. Refuses while a berthd\n"
                 "  serves DATA: check a backup instead.\n"
                 "  exit status: 0 clean, 1 problems found, 2 bad usage or DATA in use, 3 DATA cannot be read\n");
}

typedef struct {
    bool json;
} fsck_out_t;

static void print_problem(void *ctx, const storage_fsck_problem_t *p)
{
    fsck_out_t *o = ctx;
    if (o->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "kind", p->kind, "repository", p->repo, "what", p->what, "detail", p->detail);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
        return;
    }
    printf("%s %s %s: %s\n", p->kind, p->repo[0] ? p->repo : "-", p->what[0] ? p->what : "-", p->detail);
}

int berth_fsck(int argc, char **argv)
{
    const char *data = NULL;
    fsck_out_t o = {false};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fsck_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (argv[i][0] == '-' || data) {
            fprintf(stderr, "berth fsck: unexpected argument '%s'\n", argv[i]);
            fsck_usage(stderr);
            return EXIT_USAGE;
        } else {
            data = argv[i];
        }
    }
    if (!data || !data[0]) {
        fprintf(stderr, "berth fsck: missing DATA\n");
        fsck_usage(stderr);
        return EXIT_USAGE;
    }
    storage_fsck_report_t rep;
    storage_err_t err = {0};
    storage_status_t s = storage_fsck(data, print_problem, &o, &rep, &err);
    fflush(stdout);
    if (s != STORAGE_OK) {
        fprintf(stderr, "berth fsck: %s\n", err.msg);
        return s == STORAGE_EXISTS ? EXIT_USAGE : EXIT_FAILED;
    }
    fprintf(stderr, "berth fsck: %s: %llu blobs (%llu bytes), %llu manifests, %llu tags, %llu links, %llu files: %llu problem%s\n",
            data, (unsigned long long)rep.blobs, (unsigned long long)rep.blob_bytes, (unsigned long long)rep.manifests,
            (unsigned long long)rep.tags, (unsigned long long)rep.links, (unsigned long long)rep.files,
            (unsigned long long)rep.problems, rep.problems == 1 ? "" : "s");
    return rep.problems ? EXIT_PROBLEMS : 0;
}
