/*
 * server/metrics_internal.h — GET /metrics (server/metrics.c) and the
 * scrapers' tokens (server/metrics_token.c). Included by server/ files only.
 */
#ifndef BERTH_METRICS_INTERNAL_H
#define BERTH_METRICS_INTERNAL_H

#include "server/server_internal.h"

/* The routes requests are counted by: a fixed set, never a path. */
typedef enum {
    MR_OTHER,
    MR_HEALTHZ,
    MR_READYZ,
    MR_METRICS,
    MR_AWS,
    MR_V2_BASE,
    MR_TOKEN,
    MR_CATALOG,
    MR_MANIFEST,
    MR_BLOB,
    MR_UPLOAD,
    MR_TAGS,
    MR_REFERRERS,
    METRICS_N_ROUTES
} metrics_route_t;

/* The route of a raw request path (its query ignored) and method. Pure. */
metrics_route_t metrics_classify(const char *path, size_t len, const char *method, size_t mlen);

/* Registers the completion hook that counts requests (when enabled: with
 * --no-metrics nothing is counted and /metrics answers 404). */
void metrics_register(server_t *srv, h2o_pathconf_t *path, bool enabled, bool public_);
bool metrics_enabled(void);
bool metrics_public(void);
/* After the loops have stopped. */
void metrics_close(void);
/* From the router, before a request is handled: notes an upload in flight. */
void metrics_request_start(h2o_req_t *req);
/* A policy decision on `action` for req (NULL: not on a loop). */
void metrics_note_authz(h2o_req_t *req, const char *action, bool allowed);
/* A committed RunTask on req's loop: tasks placed and failures. */
void metrics_note_runtask(h2o_req_t *req, size_t placed, size_t failures);
/* A garbage collection's end, from the collector's thread. */
void metrics_note_gc(bool ok, uint64_t blobs, uint64_t bytes, uint64_t duration_ms);
/* The exposition (malloc'd, *len bytes); NULL: out of memory. */
char *metrics_render(storage_t *st, size_t *len);

/* GET /metrics: access checks, then the exposition (server/metrics_token.c). */
int metrics_handle(server_t *srv, h2o_req_t *req);

/* A scraper's token: "berthm_" + 16 hex (its id) + "_" + 64 hex (its secret).
 * The store keeps the id and the SHA-256 of the secret. */
#define METRICS_TOKEN_PREFIX "berthm_"
#define METRICS_TOKEN_ID_HEX 16
#define METRICS_TOKEN_SECRET_HEX 64
#define METRICS_TOKEN_LEN (sizeof(METRICS_TOKEN_PREFIX) - 1 + METRICS_TOKEN_ID_HEX + 1 + METRICS_TOKEN_SECRET_HEX)
/* Splits a token into its id and secret: false when it is not one. Pure. */
bool metrics_token_split(const char *tok, size_t len, char id[METRICS_TOKEN_ID_HEX + 1], const char **secret);

/* CreateMetricsToken, DeleteMetricsToken, ListMetricsTokens (BerthAdmin). */
extern const aws_operation_t metrics_token_operations[];

#endif
