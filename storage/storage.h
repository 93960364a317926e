/*
 * storage/storage.h — everything another part may see of Berth's store.
 *
 * The shape is the backend-neutral one DESIGN.md asks for, so that an S3 +
 * PostgreSQL backend can slot in later without touching server/:
 *
 *  - Reads go through a reader: a consistent snapshot. Pointers it hands out
 *    (manifest bodies, blob bytes) stay valid until the reader is released,
 *    refreshed or ended. On LMDB they point straight into the map.
 *  - Every change is an operation (storage_op_t) submitted to the store's one
 *    writer. The writer gathers the pending operations of many requests into
 *    one transaction and one sync (group commit) and then calls each op's
 *    `done` callback ON THE WRITER THREAD. When `done` runs with STORAGE_OK,
 *    the change is committed and synced: it may be acknowledged.
 *  - Blobs are immutable and keyed by digest; uploads are durable handles
 *    (begin, append, commit with the expected digest, abort) whose state is
 *    in the store, so they survive a restart and resume at their offset.
 *
 * Failure: functions return a storage_status_t and fill a storage_err_t whose
 * message is meant for the user at the edge (it names what was missing or
 * wrong and never contains secrets). As in every part's header, 0 is success
 * and every failure is negative; storage_status_name gives a code's words.
 * Each call below names the failures it returns; any call that reads or
 * writes the store may also return STORAGE_IO (the store cannot be read or
 * written, or holds a damaged record) and STORAGE_NOMEM.
 */
#ifndef BERTH_STORAGE_H
#define BERTH_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/oci.h"

typedef enum {
    STORAGE_OK = 0,
    STORAGE_NOT_FOUND = -1,       /* the blob, manifest, tag, upload or repository does not exist */
    STORAGE_DIGEST_MISMATCH = -2, /* the uploaded bytes do not hash to the digest given */
    STORAGE_RANGE = -3,           /* an append did not start at the upload's current offset */
    STORAGE_REFERENCE = -4,       /* a manifest references a blob or manifest the repository lacks */
    STORAGE_INVALID = -5,         /* the request contradicts the stored state (e.g. upload of another repository,
                                   * a manifest descriptor whose size is not the stored blob's or manifest's) */
    STORAGE_FULL = -6,            /* the disk or the reserved map is full; the store remains usable */
    STORAGE_IO = -7,              /* an I/O or database error, or a damaged record; see the message */
    STORAGE_NOMEM = -8,
    STORAGE_CANCELLED = -9, /* the submitter cancelled the op before it ran to the end */
    STORAGE_EXISTS = -10,   /* a put that must create found the record already there */
} storage_status_t;

typedef struct {
    storage_status_t status;
    char msg[256];
} storage_err_t;

/* Upload ids are 32 lowercase hex digits (128 random bits). */
#define STORAGE_UPLOAD_ID_LEN 32

typedef struct storage storage_t;

typedef struct {
    /* Address space reserved for the database. The file grows only as data
     * arrives; the reservation only bounds it. 0: STORAGE_DEFAULT_MAP_SIZE. */
    uint64_t map_size;
    /* Concurrent read snapshots (open blob streams hold one each). 0: default. */
    unsigned max_readers;
    /* For tests: sync commits (the default) or not. Never off in production. */
    bool no_sync;
} storage_options_t;

/* 1 TiB: address space is free on 64-bit Linux; the data file only grows as
 * used. A bigger store needs --map-size. */
#define STORAGE_DEFAULT_MAP_SIZE ((uint64_t)1 << 40)

/* Opens (creating if needed) the store in directory `dir`. NULL on failure,
 * with err->status STORAGE_FULL (the map or disk is too small), STORAGE_NOMEM
 * or STORAGE_IO (dir cannot be created or opened, is another version's store,
 * or is already open) and the reason in err. */
storage_t *storage_open(const char *dir, const storage_options_t *opt, storage_err_t *err);
/* Stops the writer after it has finished every submitted op, then closes. */
void storage_close(storage_t *st);

/* A code in a few words ("not found"); "unknown" for a value that is not one. */
const char *storage_status_name(storage_status_t s);

/* ---- reads ------------------------------------------------------------ */

typedef struct storage_reader storage_reader_t;

/* A snapshot of the store as of now. NULL on failure, with err->status
 * STORAGE_NOMEM, or STORAGE_IO when no read transaction can begin (e.g. all
 * max_readers slots are taken). */
storage_reader_t *storage_reader_begin(storage_t *st, storage_err_t *err);
void storage_reader_end(storage_reader_t *rd);
/* Drops the snapshot (and every pointer from it) but keeps the handle, so a
 * long stream does not pin old pages; refresh takes a new snapshot. */
void storage_reader_release(storage_reader_t *rd);
/* STORAGE_IO (or STORAGE_NOMEM) when no new snapshot can be taken; the
 * reader then holds none and only storage_reader_refresh or _end may follow. */
storage_status_t storage_reader_refresh(storage_reader_t *rd, storage_err_t *err);

typedef struct {
    uint64_t size;
    uint64_t id_; /* backend's handle for the bytes */
} storage_blob_t;

/* A blob as seen from repository `repo` (linked there), or from the whole
 * store when repo is NULL. STORAGE_NOT_FOUND when absent. A big blob's file
 * is opened here and stays open in the reader (across release and refresh)
 * until the reader ends or stats another blob: a stream keeps reading the
 * bytes it stat'ed even if the blob is deleted meanwhile. STORAGE_NOMEM
 * also when no file descriptor is left. */
storage_status_t storage_blob_stat(storage_reader_t *rd, const char *repo, const oci_digest_t *digest, storage_blob_t *out,
                                   storage_err_t *err);

/* Points *data at up to *len contiguous bytes of the blob starting at
 * `offset` (< blob->size): one stored chunk, decompressed if it was stored
 * compressed, or up to 512 KiB read from a big blob's file into the
 * reader's buffer. Valid until the reader is released, refreshed, ended or
 * used for the next storage_blob_read. A big blob must have been stat'ed
 * with this reader, last. STORAGE_INVALID when offset is not below the
 * blob's size (or the blob was not stat'ed here); STORAGE_IO when its bytes
 * are missing or damaged. */
storage_status_t storage_blob_read(storage_reader_t *rd, const storage_blob_t *blob, uint64_t offset, const void **data,
                                   size_t *len, storage_err_t *err);

typedef struct {
    oci_digest_t digest;
    const char *media_type; /* NUL-terminated */
    const void *body;
    size_t len;
} storage_manifest_t;

/* A manifest of `repo` by tag or digest. STORAGE_NOT_FOUND when absent;
 * STORAGE_IO when its record is damaged. */
storage_status_t storage_manifest_get(storage_reader_t *rd, const char *repo, const oci_reference_t *ref, storage_manifest_t *out,
                                      storage_err_t *err);

/* false also when the store cannot be read. */
bool storage_repo_exists(storage_reader_t *rd, const char *repo);
/* When `repo` was created (seconds since the epoch). STORAGE_NOT_FOUND when
 * it does not exist; STORAGE_IO when its record is damaged. */
storage_status_t storage_repo_created_at(storage_reader_t *rd, const char *repo, uint64_t *out, storage_err_t *err);

/* A manifest of a repository as listed by storage_images_list: the
 * pointers are into the reader's snapshot. */
typedef struct {
    const char *digest; /* NUL-terminated copy, valid during the callback */
    const char *media_type;
    const char *artifact_type; /* "" when none */
    const char *subject;       /* "" when none */
    uint64_t pushed_at;        /* seconds since the epoch */
    const void *body;
    size_t len;
} storage_image_t;
typedef bool (*storage_image_cb)(void *ctx, const storage_image_t *img);
/* Manifests of `repo` in the byte order of their digests, strictly after
 * digest `after` (NULL or "": from the first); return false from cb to stop.
 * An unknown repository lists nothing. STORAGE_IO when a record is damaged
 * or the store cannot be read (cb may have seen some). */
storage_status_t storage_images_list(storage_reader_t *rd, const char *repo, const char *after, storage_image_cb cb, void *ctx,
                                     storage_err_t *err);
/* Tags of `repo` with the digest each names, in tag byte order; as above. */
typedef bool (*storage_tag_cb)(void *ctx, const char *tag, const char *digest);
storage_status_t storage_tag_entries(storage_reader_t *rd, const char *repo, storage_tag_cb cb, void *ctx, storage_err_t *err);

/* Called once per item in order; return false to stop early. */
typedef bool (*storage_name_cb)(void *ctx, const char *name, size_t len);

/* Tags of `repo` in byte order, strictly after `last` (NULL: from the start),
 * at most `n` of them. *more tells whether any follow. STORAGE_NOT_FOUND
 * when the repository does not exist; STORAGE_IO when the store cannot be
 * read, also part-way through (then cb may have seen only some). */
storage_status_t storage_tags_list(storage_reader_t *rd, const char *repo, const char *last, size_t n, storage_name_cb cb,
                                   void *ctx, bool *more, storage_err_t *err);
/* Repositories in byte order, likewise (an empty store lists nothing). */
storage_status_t storage_catalog_list(storage_reader_t *rd, const char *last, size_t n, storage_name_cb cb, void *ctx, bool *more,
                                      storage_err_t *err);

/* Referrers of `subject` in `repo`, in the byte order of their digests,
 * starting after the referrer whose digest is `last` (NULL or "": from the
 * first), so that a listing can be paged: each a JSON descriptor object
 * (compact) with mediaType, digest, size and, when present, artifactType and
 * annotations. digest, artifact_type and descriptor_json point into the
 * reader's snapshot and stay valid until storage_reader_end; return false
 * from cb to stop. An unknown repository or subject lists nothing
 * (STORAGE_OK). STORAGE_IO (or STORAGE_NOMEM) when the store cannot be read,
 * also part-way through: then cb may have seen only some of them. */
typedef bool (*storage_referrer_cb)(void *ctx, const char *digest, size_t digest_len, const char *artifact_type,
                                    const char *descriptor_json, size_t len);
storage_status_t storage_referrers_list(storage_reader_t *rd, const char *repo, const oci_digest_t *subject, const char *last,
                                        storage_referrer_cb cb, void *ctx, storage_err_t *err);

typedef struct {
    char repo[OCI_NAME_MAX + 1];
    uint64_t offset; /* bytes received and durable */
} storage_upload_t;

/* The repository and durable offset of an upload. STORAGE_NOT_FOUND when no
 * upload has this id (never begun, committed, aborted or swept); STORAGE_IO
 * when its session record is damaged or the store cannot be read, so that a
 * lost upload is never mistaken for an unknown one. */
storage_status_t storage_upload_stat(storage_reader_t *rd, const char *upload_id, storage_upload_t *out, storage_err_t *err);

/* ---- records: the metadata of the parts above storage ------------------ */

/* Small records of other parts (auth's identities and keys; later ECR
 * settings and cluster state), in key spaces each part names ("iam"). Keys
 * are strings, values bytes. Reads see the reader's snapshot; changes are a
 * closure run in one transaction (STORAGE_OP_RECORDS) that may get, put,
 * create-if-absent, delete and scan. The closure does no I/O and sends
 * nothing: a future PostgreSQL backend may run it again after a
 * serialization conflict. On LMDB it runs once, under the single writer. */
typedef struct storage_records storage_records_t;

/* LMDB's keys are at most 511 bytes: space, NUL and key must fit. */
#define STORAGE_RECORD_SPACE_MAX 31
#define STORAGE_RECORD_KEY_MAX 447
/* Records are metadata: policies, key records, settings. */
#define STORAGE_RECORD_VALUE_MAX (1u << 20)

/* A read-only view of the reader's snapshot (put and del fail with STORAGE_INVALID).
 * In every records call, STORAGE_INVALID also for an empty or over-long
 * space or key (see the limits above). */
storage_records_t *storage_reader_records(storage_reader_t *rd);

/* *val points into the snapshot or transaction, valid until it ends (or the
 * next put/del in the same transaction). STORAGE_NOT_FOUND when absent. */
storage_status_t storage_record_get(storage_records_t *rs, const char *space, const char *key, const void **val, size_t *len,
                                    storage_err_t *err);
/* only_if_absent: STORAGE_EXISTS, and nothing written, when the key exists.
 * STORAGE_INVALID for a value over STORAGE_RECORD_VALUE_MAX; STORAGE_FULL
 * when the store is full. */
storage_status_t storage_record_put(storage_records_t *rs, const char *space, const char *key, const void *val, size_t len,
                                    bool only_if_absent, storage_err_t *err);
/* STORAGE_NOT_FOUND when absent. */
storage_status_t storage_record_del(storage_records_t *rs, const char *space, const char *key, storage_err_t *err);
/* Records of `space` whose key starts with `prefix`, in key byte order;
 * return false from cb to stop. STORAGE_IO when the store cannot be read,
 * also part-way through. */
typedef bool (*storage_record_cb)(void *ctx, const char *key, size_t key_len, const void *val, size_t len);
storage_status_t storage_record_scan(storage_records_t *rs, const char *space, const char *prefix, storage_record_cb cb, void *ctx,
                                     storage_err_t *err);

/* The closure of a STORAGE_OP_RECORDS: anything but STORAGE_OK undoes all it
 * did and becomes the op's status (fill err with the reason). */
typedef storage_status_t (*storage_records_fn)(storage_records_t *rs, void *ctx, storage_err_t *err);

/* ---- writes ----------------------------------------------------------- */

/* The kinds of op, their inputs and outputs, and the failures each may end
 * with besides STORAGE_IO, STORAGE_NOMEM, STORAGE_FULL and STORAGE_CANCELLED.
 * "Upload unknown" (NOT_FOUND) includes an upload of another repository. */
typedef enum {
    STORAGE_OP_UPLOAD_BEGIN,    /* in: repo. out: upload_id */
    STORAGE_OP_UPLOAD_APPEND,   /* in: upload_id, repo, offset, data/len. out: offset.
                                 * NOT_FOUND: upload unknown; RANGE: offset is not the upload's end;
                                 * INVALID: its session record is damaged (start again) */
    STORAGE_OP_UPLOAD_COMMIT,   /* in: upload_id, repo, digest, data/len (final bytes, may be 0). out: size.
                                 * As APPEND, and DIGEST_MISMATCH: the bytes have another digest (the upload ends) */
    STORAGE_OP_UPLOAD_ABORT,    /* in: upload_id, repo. NOT_FOUND: upload unknown; INVALID: as APPEND */
    STORAGE_OP_BLOB_PUT,        /* in: repo, digest, data/len (monolithic upload). out: size.
                                 * DIGEST_MISMATCH: the bytes have another digest */
    STORAGE_OP_BLOB_MOUNT,      /* in: repo, from_repo, digest. out: size. NOT_FOUND: the blob is not in from_repo */
    STORAGE_OP_BLOB_UNLINK,     /* in: repo, digest. NOT_FOUND: the blob is not in repo */
    STORAGE_OP_MANIFEST_PUT,    /* in: repo, tag ("" for by-digest), digest, data/len, manifest.
                                 * REFERENCE: a blob (not foreign) or child manifest is not in repo;
                                 * INVALID: a descriptor's size is not the stored one;
                                 * EXISTS: STORAGE_OP_IMMUTABLE_TAG and the tag names another digest */
    STORAGE_OP_MANIFEST_DELETE, /* in: repo, reference (tag: only the tag; digest: manifest and its tags).
                                 * NOT_FOUND: no such tag or manifest in repo */
    STORAGE_OP_RECORDS,         /* in: records_fn, records_ctx. Whatever the closure returns;
                                 * INVALID: no records_fn */
    STORAGE_OP_BLOB_DELETE,     /* in: digest. Removes the blob from the whole store: its record, its
                                 * bytes and its link in every repository (garbage collection; the
                                 * HTTP API only unlinks). NOT_FOUND: no such blob. A reader that
                                 * stat'ed the blob before keeps reading it to the end; the space of
                                 * a file blob returns once the last such reader ends. */
    STORAGE_OP_REPO_CREATE,     /* in: repo, records_fn (optional, run in the same transaction: the
                                 * repository's settings). EXISTS: the repository exists */
    STORAGE_OP_REPO_UPDATE,     /* in: repo, records_fn: the closure runs only while the repository
                                 * exists (its settings never outlive it). NOT_FOUND: no such repository */
    STORAGE_OP_IMAGES_DELETE,   /* in: repo, images/nimages. ECR's BatchDeleteImage: a tag goes alone, and
                                 * its manifest with it when no other tag names it; a digest takes its
                                 * manifest, tags and referrer record. Each image's status and digest are
                                 * written to its entry (NOT_FOUND: no such tag or manifest;
                                 * REFERENCE: an index that stays references it, so it stays too,
                                 * as ECR's ImageReferencedByManifestList: by digest it is refused,
                                 * by its last tag the tag goes and the image stays); the op
                                 * itself fails only as a whole (IO, FULL, ...) */
    STORAGE_OP_REPO_DELETE,     /* in: repo, flags (STORAGE_OP_FORCE), records_fn (optional, run in the
                                 * same transaction). Removes the repository with its tags, manifests,
                                 * links and referrers in one commit (its blobs stay for collection).
                                 * out: result_offset = manifests removed. NOT_FOUND: no such
                                 * repository; INVALID: it holds manifests and STORAGE_OP_FORCE is unset */
} storage_op_kind_t;

/* storage_op_t.flags */
#define STORAGE_OP_FORCE 1u         /* REPO_DELETE: also when the repository holds images */
#define STORAGE_OP_IMMUTABLE_TAG 2u /* MANIFEST_PUT: EXISTS when op->tag already names another digest */
/* IMAGES_DELETE by digest: only while the image has the very tags the caller saw
 * (storage_image_ref_t.tags and .tag_set), else that image's status is INVALID and
 * it stays: a lifecycle run never deletes an image tagged after it was evaluated,
 * also when a tag moved away meanwhile and left it as many tags as before */
#define STORAGE_OP_IF_TAGS_UNCHANGED 4u
/* UPLOAD_APPEND, UPLOAD_COMMIT, BLOB_PUT: the caller never reads data again,
 * whatever the op's outcome. The store may then drop the pages of data that
 * it has stored when data is a shared file mapping (an HTTP/1 body spooled
 * by h2o): that memory goes back while the rest is written, and the blob
 * file's new page cache reuses it. Other memory is left as it is. */
#define STORAGE_OP_DATA_SPENT 8u

/* Append at the upload's current end, whatever it is (a streamed PATCH). */
#define STORAGE_OFFSET_ANY UINT64_MAX

/* `set` with `tag` added: a fingerprint of a set of tags (FNV-1a of each,
 * summed: the order does not count), for STORAGE_OP_IF_TAGS_UNCHANGED. Pure. */
uint64_t storage_tag_set_add(uint64_t set, const char *tag);

/* One image of STORAGE_OP_IMAGES_DELETE. */
typedef struct {
    oci_reference_t ref;     /* in */
    uint32_t tags;           /* in, with STORAGE_OP_IF_TAGS_UNCHANGED: how many tags the caller saw on it */
    uint64_t tag_set;        /* in, with STORAGE_OP_IF_TAGS_UNCHANGED: those tags, by storage_tag_set_add (0: none) */
    storage_status_t status; /* out */
    oci_digest_t digest;     /* out: the manifest the tag named (by digest: ref's) */
} storage_image_ref_t;

typedef struct storage_op storage_op_t;
struct storage_op {
    storage_op_kind_t kind;
    /* Called exactly once, on the writer thread, when the op is durable or has failed. */
    void (*done)(storage_op_t *op);
    void *user;

    /* inputs: the caller keeps them valid until done (or storage_op_cancel) */
    char repo[OCI_NAME_MAX + 1];
    char from_repo[OCI_NAME_MAX + 1];
    char upload_id[STORAGE_UPLOAD_ID_LEN + 1];
    char tag[OCI_TAG_MAX + 1];
    oci_digest_t digest;
    oci_reference_t reference;
    uint64_t offset;
    const void *data;
    size_t len;
    const oci_manifest_t *manifest;
    /* MANIFEST_PUT with a subject: the referrer descriptor to list (compact JSON) */
    const char *referrer_json;
    size_t referrer_json_len;
    storage_records_fn records_fn;
    void *records_ctx;
    unsigned flags;              /* STORAGE_OP_FORCE, STORAGE_OP_IMMUTABLE_TAG */
    storage_image_ref_t *images; /* IMAGES_DELETE: the caller's array, written back */
    size_t nimages;

    /* outputs */
    storage_status_t status;
    storage_err_t err;
    uint64_t result_offset; /* APPEND: new end; COMMIT/PUT/MOUNT: blob size */

    /* the writer's bookkeeping */
    storage_op_t *next_;
    size_t progress_;
    int stage_;
    int cancelled_;
    void *job_;      /* a file thread's result, for the writer to commit */
    unsigned after_; /* what to do once the op's transaction has committed (or failed) */
};

/* Initialises an op of `kind` (zeroes everything else). */
void storage_op_init(storage_op_t *op, storage_op_kind_t kind);
/* Queues op for the writer (appends, completions and big monolithic puts
 * first pass through a file thread, which stores big blobs' bytes in files);
 * never blocks on I/O. */
void storage_submit(storage_t *st, storage_op_t *op);
/* Submits and waits for completion (tests, CLI, start-up). Ignores op->done.
 * Returns op->status: the failures of each kind are noted in the list of
 * kinds above and in storage_op_kind_t's comments; STORAGE_FULL when the
 * store or disk is full. */
storage_status_t storage_execute(storage_t *st, storage_op_t *op);
/* Tells the writer to stop using op's inputs; returns once it no longer
 * reads them. done is still called (STORAGE_CANCELLED unless it had finished). */
void storage_op_cancel(storage_t *st, storage_op_t *op);

/* Upper bounds (microseconds) of the commit latency histogram's buckets; a
 * commit slower than the last one counts only in commits. From an empty
 * commit (no sync, ~10 µs) to a sync stuck behind a busy disk (1 s). */
#define STORAGE_COMMIT_BUCKETS 12
#define STORAGE_COMMIT_BUCKET_US                                                                                                   \
    {                                                                                                                              \
        50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 250000, 1000000                                                  \
    }

/* Counters for tests, benchmarks and GET /metrics. */
typedef struct {
    uint64_t commits;                             /* write transactions committed */
    uint64_t ops;                                 /* ops completed */
    uint64_t chunks_raw;                          /* chunks stored as pushed */
    uint64_t chunks_zstd;                         /* chunks stored compressed */
    uint64_t bytes_in;                            /* blob bytes received */
    uint64_t bytes_stored;                        /* blob bytes written after compression */
    uint64_t file_blobs;                          /* blobs stored as files */
    uint64_t file_bytes;                          /* bytes written to upload and blob files */
    uint64_t syncs;                               /* commits that synced (the others acknowledged nothing) */
    uint64_t commit_us_sum;                       /* time spent committing, syncs included */
    uint64_t commit_hist[STORAGE_COMMIT_BUCKETS]; /* commits per bucket (not cumulative) */
    uint64_t map_size;                            /* the LMDB map's reservation, bytes */
    uint64_t page_size;                           /* LMDB's page size, bytes */
    uint64_t pages_used; /* pages of the map in use (last page number + 1): the file's size, free pages included */
} storage_stats_t;
/* Reads counters only (and LMDB's environment info): safe from any thread, never waits on the writer. */
void storage_get_stats(storage_t *st, storage_stats_t *out);

/* ---- garbage collection (gc.c) --------------------------------------------
 *
 * Online mark and sweep. The mark reads every manifest of every repository
 * (in short snapshots) and keeps the digests they reference: config and
 * layers, an index's children, the manifests' own digests; a subject does
 * not keep its referrer, a referrer keeps its own blobs. A blob no manifest
 * references whose newest link (or, without any link, its record) is older
 * than the grace period is collected with its links; an upload session not
 * touched for the grace period is aborted with its bytes. The sweep runs
 * through the writer in small batches, re-checking each candidate in the
 * deleting transaction: a link newer than the cutoff, or any manifest
 * committed or blob linked since the collection began (the writer notes
 * those digests while a collection runs), saves it. A reader that stat'ed
 * a collected blob keeps reading it (storage.h, STORAGE_OP_BLOB_DELETE).
 *
 * Memory: 32 bytes per distinct referenced digest (the mark set) plus 32
 * per digest noted during the run; candidates are found and swept a batch
 * at a time. */
typedef struct {
    uint64_t grace_seconds; /* candidates were last linked (or updated) at least this long before the start */
    bool dry_run;           /* report what would go, delete nothing */
    /* Percent of one core the collection may use (1-100; 0: the default, 20):
     * its work is its own CPU time plus the time its sweep ops hold the
     * writer; after each snapshot or batch it sleeps so that this stays
     * within duty_pct of the time that passed. */
    unsigned duty_pct;
    /* When set and true, the collection stops at its next batch with
     * STORAGE_CANCELLED (berthd shutting down); what it deleted stays deleted. */
    const _Atomic bool *stop;
    /* For tests: called once the mark is complete, before any candidate is found. */
    void (*after_mark)(void *ctx);
    void *after_mark_ctx;
} storage_gc_options_t;

#define STORAGE_GC_DEFAULT_GRACE_SECONDS 3600u

typedef struct {
    bool dry_run;
    uint64_t manifests;              /* manifests marked from */
    uint64_t referenced;             /* distinct digests they reference */
    uint64_t blobs_scanned;          /* blob records looked at */
    uint64_t blobs_lmdb, bytes_lmdb; /* collected (or, dry, to be) from the LMDB tier */
    uint64_t blobs_file, bytes_file; /* ... from the file tier */
    uint64_t blobs_saved;            /* candidates a re-check kept (relinked or referenced meanwhile) */
    uint64_t uploads_aborted, upload_bytes;
    uint64_t duration_ms;
    uint64_t cpu_ms;    /* the collecting thread's own CPU time (mark, candidate search) */
    uint64_t writer_ms; /* writer time of its sweep batches, first op to commit, sync included */
    uint64_t paced_ms;  /* time it slept to stay within duty_pct */
} storage_gc_report_t;

/* Runs one collection on the calling thread (it waits for the writer; never
 * call it from the writer or an event loop). STORAGE_EXISTS when another
 * collection is running; STORAGE_IO when a manifest cannot be read or parsed
 * (then nothing more is collected: what it references is unknown);
 * STORAGE_INVALID for a duty_pct over 100; STORAGE_CANCELLED when opt->stop
 * was raised. *out holds what was done so far
 * also on failure. */
storage_status_t storage_gc_run(storage_t *st, const storage_gc_options_t *opt, storage_gc_report_t *out, storage_err_t *err);

/* ---- backup and check (backup.c, fsck.c) ------------------------------------
 *
 * Both work on a data directory by path, without storage_open: a backup
 * reads beside a running berthd (another process may read an LMDB
 * environment; berthd holds back the unlink of any file blob that this
 * process's snapshot may still name), a check runs with no berthd at all. */

typedef struct {
    bool copy; /* copy every blob file, never hard-link (a backup that shares no inode with the store) */
} storage_backup_options_t;

typedef struct {
    uint64_t blobs;           /* blob records in the copy */
    uint64_t file_blobs;      /* of which in files */
    uint64_t files_linked;    /* hard-linked from the store (same file system) */
    uint64_t files_copied;    /* copied (another file system, or opt->copy) */
    uint64_t bytes_copied;    /* bytes of the copied files */
    uint64_t uploads_dropped; /* upload sessions in progress, left out */
    uint64_t db_bytes;        /* the compacted environment's size */
    bool master_key;          /* master.key was copied (mode 0600) */
} storage_backup_report_t;

/* Copies the store in data_dir (running or not) into dest, a directory this
 * call creates: the environment compacted as of one snapshot
 * (mdb_env_copy2, MDB_CP_COMPACT), the file blobs that snapshot names
 * (hard-linked when dest is on the same file system, else copied),
 * master.key and admin-credentials when present (0600). Uploads in progress are left out. dest is then a data
 * directory: berthd --data dest serves what the store held at the snapshot.
 * STORAGE_EXISTS when dest exists; STORAGE_FULL when dest's file system is
 * full; STORAGE_IO when data_dir is not a store (or another version's), a
 * blob file the snapshot names is missing, or a write fails (dest is then
 * incomplete: remove it). *out holds what was done, also on failure. */
storage_status_t storage_backup(const char *data_dir, const char *dest, const storage_backup_options_t *opt,
                                storage_backup_report_t *out, storage_err_t *err);

/* One problem found by storage_fsck. `kind` is one of:
 *   blob-digest       the blob's bytes (chunks or file) do not hash to its digest, or have another size
 *   blob-missing      a chunk or the file of a blob is missing or unreadable
 *   manifest-digest   a manifest's body does not hash to its digest
 *   manifest-damaged  a manifest record or body cannot be read
 *   manifest-ref      a manifest's config, layer or child is not in its repository
 *   tag-dangling      a tag names a manifest its repository lacks
 *   link-dangling     a repository links a blob the store lacks
 *   referrer-dangling a referrer entry names a manifest its repository lacks
 *   repo-missing      records of a repository the catalog lacks
 *   upload-missing    an upload session's file is missing or short
 *   orphan-file       a file under blobs/ or uploads/ that no record names
 *   orphan-chunks     chunks of a blob id no blob or upload owns
 *   record-damaged    a record of another kind cannot be decoded
 * repo is "" when the problem belongs to none; what is a digest, tag, upload
 * id or path. The strings are valid during the callback. */
typedef struct {
    const char *kind;
    const char *repo;
    const char *what;
    const char *detail;
} storage_fsck_problem_t;
typedef void (*storage_fsck_cb)(void *ctx, const storage_fsck_problem_t *p);

typedef struct {
    uint64_t blobs, blob_bytes, manifests, tags, links, referrers, uploads, files;
    uint64_t problems;
} storage_fsck_report_t;

/* Checks the store in data_dir offline, calling cb once per problem (see
 * above). Holds data_dir's berthd.lock while it runs, so no berthd starts
 * meanwhile. STORAGE_OK when the check ran to the end (out->problems says
 * whether it found any); STORAGE_EXISTS when a berthd holds the lock (stop
 * it first, or check a backup); STORAGE_IO when data_dir is not a store or
 * cannot be read. */
storage_status_t storage_fsck(const char *data_dir, storage_fsck_cb cb, void *ctx, storage_fsck_report_t *out, storage_err_t *err);

#endif
