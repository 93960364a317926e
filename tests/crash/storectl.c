/* storectl: the store's own calls that the HTTP API does not offer, for the
 * crash and e2e scripts only (garbage collection will call them in berthd).
 *
 *   storectl DATA-DIR delete DIGEST   STORAGE_OP_BLOB_DELETE; exit 0, or 1 with the reason
 *
 * It opens the store beside a running berthd (LMDB allows several
 * processes). Not for production: its start-up cleaning would remove the
 * file of an upload berthd is moving into a file at that moment. */
#include <stdio.h>
#include <string.h>

#include "storage/storage.h"

int main(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[2], "delete") != 0) {
        fprintf(stderr, "usage: storectl DATA-DIR delete DIGEST\n");
        return 2;
    }
    oci_digest_t d;
    oci_err_t oerr;
    if (oci_digest_parse(argv[3], strlen(argv[3]), &d, &oerr) != OCI_OK) {
        fprintf(stderr, "storectl: %s\n", oerr.msg);
        return 2;
    }
    storage_err_t err;
    storage_t *st = storage_open(argv[1], NULL, &err);
    if (!st) {
        fprintf(stderr, "storectl: %s\n", err.msg);
        return 1;
    }
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_BLOB_DELETE);
    op.digest = d;
    storage_status_t s = storage_execute(st, &op);
    if (s != STORAGE_OK)
        fprintf(stderr, "storectl: delete %s: %s\n", argv[3], op.err.msg);
    storage_close(st);
    return s == STORAGE_OK ? 0 : 1;
}
