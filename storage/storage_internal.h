/*
 * storage/storage_internal.h — shared by the files of storage/ (and its
 * tests and fuzz targets); no other part includes it.
 *
 * The data model, one LMDB environment (<data>/store/data.mdb), named databases:
 *
 *   meta       "next-blob-id"              -> u64              (blob id allocator)
 *              "format"                    -> u32              (STORE_LAYOUT)
 *   blobs      "<alg>:<hex>"               -> blob_rec         (size, blob id)
 *   chunks     u64be blob id | u64be start -> chunk_hdr + bytes (raw or one zstd frame)
 *   links      "<repo>\0<digest>"          -> u64 linked-at    (blob visible in repo)
 *   manifests  "<repo>\0<digest>"          -> manifest_rec + media type + artifact type
 *                                              + subject + body (bytes as pushed)
 *   tags       "<repo>\0<tag>"             -> "<digest>"       (byte order = listing order)
 *   referrers  "<repo>\0<subject>\0<digest>" -> artifact type "\0" descriptor JSON
 *   repos      "<repo>"                    -> u64 created-at   (catalog)
 *   uploads    "<upload id>"               -> session (see session_encode)
 *   records    "<space>\0<key>"             -> bytes            (other parts' metadata:
 *                                              "iam" = auth's identities, see auth/;
 *                                              "ecr" = repository settings and pull
 *                                              times, see server/ecr/)
 *
 * A repository as a whole (repos.c): its key in repos and every key
 * "<repo>\0..." of links, manifests, tags and referrers; STORAGE_OP_REPO_DELETE
 * removes them and runs the caller's records closure in one transaction.
 *
 * Why chunks are keyed by blob id and start offset, not by digest: an upload
 * writes its chunks under a fresh blob id before the digest is known; on
 * commit the digest record simply points at that id, so no byte is copied,
 * and when the digest is already stored the new chunks are deleted (dedupe).
 * Keys carry the start offset so that chunks can have any size (a client's
 * PATCH boundaries) and a ranged read finds its chunk with one cursor seek.
 *
 * A blob is reachable in a repository only through its link: a digest stored
 * for one repository is not readable from another until pushed or mounted there.
 *
 * Two tiers of blob bytes (blob_rec.flags says which; storage.h hides it):
 *
 *   <data>/store/data.mdb            the environment above; blobs below
 *                                    STORE_FILE_MIN_BYTES as chunks (flags 0,
 *                                    also every blob of a store written before files)
 *   <data>/blobs/<alg>/<2 hex>/<hex>  a blob of STORE_FILE_MIN_BYTES or more
 *                                    (BLOB_IN_FILE), bytes as pushed; the name is
 *                                    the content, so two files of one digest hold
 *                                    the same bytes
 *   <data>/uploads/<upload id>       the bytes of an upload that crossed the
 *                                    threshold (its session has SESSION_IN_FILE);
 *                                    only the first `offset` bytes are acknowledged
 *   <data>/uploads/put-<hex>.tmp     a big monolithic put being written
 *
 * Order of durability: an upload file's bytes are fdatasync'ed before its
 * session records the new offset; a blob file is hard-linked (or renamed) to
 * its content address and the fan-out directory fsync'ed before the record
 * that names it commits; a file is unlinked only after the commit that drops
 * its record (or session), and after every reader snapshot that could still
 * see the record has ended (files.c). At open, a file in blobs/ without a
 * BLOB_IN_FILE record and a file in uploads/ without a file-tier session is
 * removed before anything is served.
 *
 * File I/O runs on a small pool of file threads (files.c), never on the
 * writer: an fdatasync there would hold every other request's group commit.
 */
#ifndef BERTH_STORAGE_INTERNAL_H
#define BERTH_STORAGE_INTERNAL_H

/* SHA256_CTX is the only hash midstate OpenSSL 3 lets us serialize; storage/
 * is compiled with OPENSSL_SUPPRESS_DEPRECATED for it (see CMakeLists.txt). */
#include <lmdb.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <zstd.h>

#include "storage/storage.h"

/* Largest chunk: big enough that a stream is a few hundred LMDB lookups per
 * GiB, small enough that decompressing one for a ranged read is cheap. */
#define STORE_CHUNK_BYTES (1u << 20)
/* Bytes an op may write in one transaction. LMDB keeps a write txn's dirty
 * pages in malloc'ed memory until the commit, so a piece is what a big push
 * costs in anonymous memory: with 8 MiB berthd's RssAnon stays near 10 MB
 * while it stores a push, where 32 MiB cost 35 MB. The extra commits are
 * cheap: a piece that acknowledges nothing skips the meta page's sync (see
 * writer.c); 4, 8 and 16 MiB pushed 256 MiB equally fast (within noise). */
#define STORE_PIECE_BYTES (8u << 20)
/* Pieces at least this big are hashed on the hasher thread while the writer
 * copies them into the store (SHA-256 runs ~1.8 GB/s, as fast as the copy);
 * below it the hand-over costs more than it saves. */
#define STORE_HASH_OFFLOAD_MIN (256u << 10)
/* A chunk is kept compressed only if zstd saves at least 10%. */
#define STORE_COMPRESS_MIN_SAVING_PCT 10
/* Probe this many bytes first: compressed layers fail the probe cheaply. */
#define STORE_COMPRESS_PROBE_BYTES (64u << 10)
/* Chunks smaller than this are stored raw: zstd's frame overhead eats the gain. */
#define STORE_COMPRESS_MIN_BYTES 512
/* zstd level 1: ~400 MB/s here, most of the ratio on tar and JSON. */
#define STORE_ZSTD_LEVEL 1
/* At most this many ops share one transaction and one sync. */
#define STORE_MAX_BATCH 256
/* The version of each record's layout (blob_rec_t, manifest_rec_t). */
#define STORE_FORMAT 1u
/* The version of the store as a whole, in meta "format": 1 kept every blob
 * in LMDB chunks; 2 may keep blobs in files (BLOB_IN_FILE). A layout-1 store
 * is opened and raised to 2; a berthd that knows only layout 1 refuses a
 * layout-2 store instead of serving its file blobs as missing chunks. */
#define STORE_LAYOUT 2u
#define STORE_LAYOUT_MIN 1u
/* A failed write with less free space than this on the store's file system
 * is reported as "full": one more piece (and LMDB's own pages) would not
 * have fitted. */
#define STORE_FULL_MARGIN_BYTES ((uint64_t)2 * STORE_PIECE_BYTES)
/* Blobs and uploads from this size on live in files. Measured with
 * bench/store/run.sh: LMDB with 16 ops per synced commit wins up to 128 KiB
 * (87 against 457 us at 64 KiB), the tiers tie from 256 KiB to 4 MiB, files
 * are 2.3-3.8x faster from 16 MiB. 1 MiB keeps small layers sharing syncs
 * and big ones out of LMDB's overflow pages (which the file never gives back). */
#define STORE_FILE_MIN_BYTES ((uint64_t)1 << 20)
/* File threads: they mostly wait on fdatasync; 2 cores here. */
#define STORE_FILE_THREADS 3
/* A reader's buffer for a file blob: one pread per 512 KiB sent. */
#define STORE_READ_BUF_BYTES (512u << 10)
/* blob_rec_t.flags */
#define BLOB_IN_FILE 1u
/* storage_blob_t.id_ of a file blob: its record's id with this bit. */
#define STORE_FILE_ID_BIT ((uint64_t)1 << 63)

enum { CHUNK_RAW = 0, CHUNK_ZSTD = 1 };

typedef struct {
    uint8_t codec;
    uint8_t pad[3];
    uint32_t raw_len;
} chunk_hdr_t;

typedef struct {
    uint32_t format;
    uint32_t flags;
    uint64_t size;
    uint64_t id;
    uint64_t created;
} blob_rec_t;

typedef struct {
    uint32_t format;
    uint32_t flags;
    uint64_t pushed_at;
    uint16_t media_type_len;
    uint16_t artifact_type_len;
    uint16_t subject_len;
    uint16_t pad;
    uint32_t body_len;
    /* then media type NUL, artifact type NUL, subject NUL, body */
} manifest_rec_t;

/* A manifest record's parts, pointing into its value (valid as long as the
 * value is); the strings are NUL-terminated. */
typedef struct {
    const char *media_type, *artifact_type, *subject, *body;
    size_t media_type_len, artifact_type_len, subject_len, body_len;
    uint64_t pushed_at;
} store_manifest_view_t;
/* store.c: false when v is not one whole manifest record of STORE_FORMAT */
bool store_manifest_decode(const MDB_val *v, store_manifest_view_t *out);
/* repos.c: its subject digest into out ("" when none, or the record is damaged) */
void store_manifest_subject(const MDB_val *v, char *out, size_t cap);

/* An upload session as stored. */
typedef struct {
    char repo[OCI_NAME_MAX + 1];
    uint64_t blob_id; /* its chunks live under this id */
    uint64_t offset;  /* bytes stored */
    uint64_t created;
    uint64_t updated;
    SHA256_CTX sha256; /* midstate after `offset` bytes */
    uint32_t flags;    /* SESSION_IN_FILE */
} session_t;

/* The upload's bytes are in <data>/uploads/<id>, not in chunks. */
#define SESSION_IN_FILE 1u

/* Serialized session: magic, version, lengths, then the fields. Version 2
 * adds the flags (in version 1's pad word, which had to be 0); version 1
 * records still decode, with flags 0. */
#define SESSION_MAGIC 0x4c505542u /* "BUPL" */
#define SESSION_VERSION 2u
size_t session_encoded_size(const session_t *s);
void session_encode(const session_t *s, unsigned char *out);
/* Validates everything (lengths, repository name, hash state against offset);
 * false on any inconsistency. */
bool session_decode(const void *buf, size_t len, session_t *out);

struct storage {
    MDB_env *env;
    MDB_dbi dbi_meta, dbi_blobs, dbi_chunks, dbi_links, dbi_manifests, dbi_tags, dbi_referrers, dbi_repos, dbi_uploads, dbi_records;

    pthread_t writer;
    bool writer_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* the writer: work arrived, or stop */
    pthread_cond_t progress; /* cancellers: the writer moved on */
    storage_op_t *head, *tail;
    storage_op_t *running; /* the op whose inputs the writer reads right now */
    bool in_batch;         /* the writer is working on a batch (files.c waits for it to be idle) */
    bool stopping;

    /* the hasher: hashes the piece the writer is storing (store_hash_*) */
    struct {
        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t wake; /* the hasher: a job arrived, or stop */
        pthread_cond_t done; /* the writer: the job is finished */
        SHA256_CTX *ctx;     /* the job: hash data/len into *ctx; NULL when none */
        const void *data;
        size_t len;
        bool owned; /* a thread has handed it a piece and not yet waited for it */
        bool stopping;
    } hasher;

    /* writer-only state */
    bool no_sync; /* storage_options_t.no_sync: tests only */
    ZSTD_CCtx *cctx;
    void *zbuf;
    size_t zbuf_size;

    char *dir; /* the data directory */
    bool files_init;

    /* files.c: the file threads and the bookkeeping of files in flight */
    struct {
        struct store_file_thread {
            storage_t *st;
            unsigned index;
            pthread_t thread;
        } th[STORE_FILE_THREADS];
        unsigned nthreads;
        pthread_cond_t wake;                       /* work arrived, a sweep is due, or stop */
        storage_op_t *head, *tail;                 /* under st->lock */
        storage_op_t *running[STORE_FILE_THREADS]; /* under st->lock: ops whose inputs are being read */
        bool stopping, sweep_due;                  /* under st->lock */
        /* the rest under `lock` */
        pthread_mutex_t lock;
        struct store_name *busy;    /* upload ids a file thread or the writer is working on */
        struct store_name *placing; /* blob paths being put into place, not committed yet */
        struct store_name *pending; /* blob paths to unlink once no snapshot older than .txn_id lives */
        storage_reader_t *readers;  /* live reader snapshots */
        _Atomic unsigned npending;
        _Atomic bool foreign_wait;        /* a pending unlink waits for another process's snapshot: sweep again soon */
        _Atomic uint64_t pending_max_txn; /* no pending unlink waits for a snapshot at or past this */
    } files;

    /* gc.c: while a collection runs, the writer notes every digest a manifest
     * put references or a link names (writer thread only), so that the
     * sweep's re-check sees what changed since the mark. */
    struct store_gc_track *gc_track;
    _Atomic bool gc_running; /* one collection at a time */

    _Atomic uint64_t st_commits, st_ops, st_chunks_raw, st_chunks_zstd, st_bytes_in, st_bytes_stored, st_file_blobs, st_file_bytes;
    /* the writer's commits: how many synced, and how long each took (writer thread writes, a scrape reads) */
    _Atomic uint64_t st_syncs, st_commit_us_sum, st_commit_hist[STORAGE_COMMIT_BUCKETS];
};

/* A name in one of files' lists (an upload id or a blob path). */
struct store_name {
    struct store_name *next;
    uint64_t txn_id;
    unsigned count;
    char name[];
};

/* A view of records inside a transaction: the writer's (writable) or a reader's. */
struct storage_records {
    storage_t *st;
    MDB_txn *txn;
    bool writable;
};

struct storage_reader {
    storage_t *st;
    MDB_txn *txn;
    storage_records_t records;
    bool live;
    ZSTD_DCtx *dctx;
    void *scratch; /* a decompressed chunk */
    uint64_t scratch_id, scratch_start;
    size_t scratch_len;
    bool scratch_valid;
    /* a file blob: the open file of the last one stat'ed (it outlives
     * release/refresh, so a stream keeps reading what it stat'ed) */
    int fd;
    uint64_t fd_id;
    void *fbuf;
    uint64_t fbuf_start;
    size_t fbuf_len;
    /* files.c's list of live snapshots */
    storage_reader_t *prev_, *next_;
    uint64_t txn_id;
    int begin_rc; /* store_reader_register's mdb_txn_begin/renew */
};

/* helpers shared by the storage files */
void store_err(storage_err_t *err, storage_status_t st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
storage_status_t store_mdb_status(int rc);
/* "<a>\0<b>" into buf; returns its length or 0 when it does not fit */
size_t store_key2(char *buf, size_t cap, const char *a, const char *b);
size_t store_key3(char *buf, size_t cap, const char *a, const char *b, const char *c);
void store_chunk_key(unsigned char key[16], uint64_t id, uint64_t start);
uint64_t store_now(void);

/* writer.c: the hasher. store_hash_begin hashes len bytes at data into *ctx,
 * on the hasher thread when the piece is big enough and the thread is free
 * (then it returns true), inline otherwise; store_hash_end(st, what begin
 * returned) waits until that is done. Between the two the caller must not
 * touch *ctx or free data; every begin needs its end, also on error paths,
 * so that the hasher never reads an op's input after the writer or a file
 * thread has let go of the op (storage_op_cancel relies on that). */
bool store_hash_begin(storage_t *st, SHA256_CTX *ctx, const void *data, size_t len);
void store_hash_end(storage_t *st, bool offloaded);

/* writer.c: starts the writer and hasher threads (err says why not), and stops them */
void store_writer_start(storage_t *st, storage_err_t *err);
void store_writer_stop(storage_t *st);
/* writer.c: queues an op for the writer as it is (a file thread's hand-over) */
void store_writer_enqueue(storage_t *st, storage_op_t *op);

/* writer.c: runs one op's next step inside a child transaction */
typedef enum { RUN_COMMIT, RUN_ABORT, RUN_AGAIN } run_result_t;
run_result_t store_run_op(storage_t *st, MDB_txn *txn, storage_op_t *op);

/* repos.c: runs STORAGE_OP_REPO_CREATE and STORAGE_OP_REPO_DELETE */
run_result_t store_run_repo_op(storage_t *st, MDB_txn *txn, storage_op_t *op);

/* records.c: runs a STORAGE_OP_RECORDS closure */
run_result_t store_run_records(storage_t *st, MDB_txn *txn, storage_op_t *op);

/* files.c: the file tier */
/* Starts the file threads; false when none could start (then every op goes
 * straight to the writer and big blobs are stored in LMDB, as before). */
bool store_files_start(storage_t *st, storage_err_t *err);
void store_files_stop(storage_t *st);
/* At close, after the writer stopped: unlinks what is pending (no reader is
 * left) and frees the bookkeeping. */
void store_files_final_sweep(storage_t *st);
/* Removes blob files without a record, upload files without a file-tier
 * session, and temp files (before anything is served). */
storage_status_t store_files_clean(storage_t *st, storage_err_t *err);
/* storage_submit's router: true when a file thread takes the op. */
bool store_files_submit(storage_t *st, storage_op_t *op);
/* The writer's half of a file thread's op (op->job_). */
run_result_t store_run_file_job(storage_t *st, MDB_txn *txn, storage_op_t *op);
/* After the op's transaction committed (or not), with the batch's txn id:
 * releases marks, schedules unlinks, frees the job. */
void store_after_op(storage_t *st, storage_op_t *op, bool committed, uint64_t txn_id);
/* Asks a file thread to unlink what no snapshot can see any more. */
void store_files_kick(storage_t *st);
/* "<dir>/blobs/<alg>/<2 hex>/<hex>"; false when it does not fit */
bool store_blob_path(const storage_t *st, const char *digest, char *buf, size_t cap);
bool store_upload_path(const storage_t *st, const char *upload_id, char *buf, size_t cap);
/* The reader snapshot registry: call with the reader's txn begun/renewed, or before reset/abort. */
void store_reader_register(storage_reader_t *rd);
void store_reader_unregister(storage_reader_t *rd);
/* after_ bits */
#define AFTER_UNLINK_UPLOAD 1u /* unlink uploads/<op->upload_id> once committed */
#define AFTER_UNBUSY 2u        /* drop op->upload_id's busy mark (whatever happened) */
#define AFTER_UNPLACE 4u       /* drop op->digest's placing mark; unlink its file if not committed */
#define AFTER_UNLINK_BLOB 8u   /* unlink op->digest's file once committed and no older snapshot lives */
/* ops.c, for files.c */
int store_chunks_delete(storage_t *st, MDB_txn *txn, uint64_t id);
int store_chunks_delete_in(MDB_txn *txn, MDB_dbi chunks, uint64_t id);
int store_session_get(storage_t *st, MDB_txn *txn, const char *id, session_t *s);
int store_session_put(storage_t *st, MDB_txn *txn, const char *id, session_t *s);
int store_link_put(storage_t *st, MDB_txn *txn, const char *repo, const char *digest);
int store_next_blob_id(storage_t *st, MDB_txn *txn, uint64_t *out);

/* gc.c, for ops.c (writer thread): notes a digest referenced or linked while a collection runs */
void store_gc_note(storage_t *st, const char *digest, size_t len);
/* gc.c, for ops.c: deletes `digest`'s link in every repository (a point
 * lookup per repository; MDB_ codes) */
int store_links_delete(storage_t *st, MDB_txn *txn, const char *digest);

/* store.c: opens the store's named databases (flags: MDB_CREATE or 0) into
 * dbis, in the order meta, blobs, chunks, links, manifests, tags, referrers,
 * repos, uploads, records; and reads the layout version ("format" in meta):
 * MDB_NOTFOUND when there is none yet, MDB_VERSION_MISMATCH for one this
 * berthd cannot read. Shared by storage_open and offline.c, so that a new
 * database is opened by both. */
#define STORE_NDBS 10
int store_dbs_open(MDB_txn *txn, unsigned flags, MDB_dbi *const dbis[STORE_NDBS]);
int store_layout_get(MDB_txn *txn, MDB_dbi meta, uint32_t *layout);

/* offline.c: a data directory's environment opened without a storage_t
 * (backup.c, fsck.c): no writer, no file threads, no clean-up at open.
 * 0, or -1 with err filled (not a store, another version's, unreadable). */
typedef struct {
    MDB_env *env;
    MDB_dbi meta, blobs, chunks, links, manifests, tags, referrers, repos, uploads, records;
} store_offline_t;
int store_offline_open(const char *dir, bool writable, store_offline_t *o, storage_err_t *err);
void store_offline_close(store_offline_t *o);
/* vsnprintf into buf; false when the result did not fit (then a path is
 * cut short and opening it fails) */
bool store_pathf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

bool store_link_exists(storage_t *st, MDB_txn *txn, const char *repo, const char *digest);
int store_blob_get(storage_t *st, MDB_txn *txn, const char *digest, blob_rec_t *out);

#endif
