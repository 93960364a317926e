/*
 * server/http_parse.h — parsers for the HTTP header and query values the
 * registry API reads. Pure functions over (pointer, length) pairs that are
 * not NUL-terminated; internal to server/ (and its tests and fuzz targets).
 */
#ifndef BERTH_SERVER_HTTP_PARSE_H
#define BERTH_SERVER_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t first, last; /* inclusive byte positions */
} http_range_t;

typedef enum {
    HTTP_RANGE_IGNORE = 0,         /* no usable single byte range: serve the whole body with 200 */
    HTTP_RANGE_OK = 1,             /* serve *out with 206 */
    HTTP_RANGE_UNSATISFIABLE = -1, /* 416 with Content-Range: bytes * /size */
} http_range_status_t;

/* A request's Range header against a body of `size` bytes: "bytes=a-b",
 * "bytes=a-" and "bytes=-n" (suffix). A last position past the end is clipped.
 * Multiple ranges, other units and malformed values are ignored (RFC 9110
 * lets a server ignore Range). first > last, or first >= size, is unsatisfiable. */
http_range_status_t http_range_parse(const char *s, size_t len, uint64_t size, http_range_t *out);

/* A PATCH's Content-Range: "<first>-<last>", also accepting a "bytes " or
 * "bytes=" prefix and a "/<total>" or "/ *" suffix. Returns false when malformed,
 * first > last, or last is UINT64_MAX; so last - first + 1, the chunk's length,
 * and last + 1, the upload's offset after it, never wrap. */
bool http_content_range_parse(const char *s, size_t len, uint64_t *first, uint64_t *last);

/* One Accept header line (comma-joined list, parameters and q-values ignored):
 * the OR of oci_media_kind_t bits it names. *any is set when it contains
 * "*\/\*" or "application/\*". Call once per header line and OR the results. */
unsigned http_accept_parse(const char *s, size_t len, bool *any);

/* Finds query parameter `name` in a query string (without the leading '?'),
 * percent-decodes its value ('+' is kept as '+') into out (NUL-terminated).
 * Returns the decoded length, -1 when absent, -2 when malformed (bad % escape,
 * decoded NUL) or longer than out_size - 1. A parameter present without '='
 * has the empty value. */
long http_query_param(const char *query, size_t query_len, const char *name, char *out, size_t out_size);

/* The same for an application/x-www-form-urlencoded body (the AWS query
 * protocol's): as the URL Standard's form parser and HTML say, a '+' in a
 * name or value is a space ("%2B" is a '+'); otherwise as http_query_param.
 * Only for form bodies: SigV4 hashes the body's raw bytes, and the request
 * path and a registry query keep '+'. */
long http_form_param(const char *form, size_t form_len, const char *name, char *out, size_t out_size);

/* Whether some key of a form body starts with `prefix` once decoded as
 * http_form_param decodes keys ("Tags." finds "Tags.member.1.Key"): for the
 * query protocol's lists, whose members are numbered. A malformed key
 * matches nothing. */
bool http_form_has_key_prefix(const char *form, size_t form_len, const char *prefix);

/* Percent-decodes a request path into dst (NUL-terminated, *out_len bytes);
 * false on a '%' not followed by two hex digits, a NUL (literal or encoded)
 * or a result that does not fit in cap - 1 bytes. */
bool http_path_decode(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);

/* Parses a non-negative decimal integer that must fill the whole span, with no
 * sign, no spaces and no overflow. */
bool http_parse_u64(const char *s, size_t len, uint64_t *out);

#endif
