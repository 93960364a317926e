/*
 * server/http_parse.c — the header and query values the registry API reads:
 * Range (RFC 9110 14.2), Content-Range of a chunked upload (distribution spec),
 * Accept (RFC 9110 12.5.1) and query parameters (RFC 3986 percent-encoding).
 *
 * Every input is a (pointer, length) span straight from h2o, not NUL-terminated
 * and fully attacker-controlled: nothing here reads past `len`, allocates, or
 * trusts a number before checking it for overflow.
 */
#include "server/http_parse.h"

#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "oci/oci.h"

/* RFC 9110 14.1: the only range unit the registry serves */
#define HTTP_RANGE_UNIT "bytes"
#define HTTP_RANGE_UNIT_LEN (sizeof(HTTP_RANGE_UNIT) - 1)

static bool http_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool http_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Strips optional whitespace (RFC 9110 5.6.3) from both ends of a span. */
static void http_trim(const char **s, size_t *len)
{
    while (*len > 0 && http_is_ows(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && http_is_ows((*s)[*len - 1]))
        (*len)--;
}

bool http_parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (s == NULL || len == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!http_is_digit(s[i]))
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (out != NULL)
        *out = v;
    return true;
}

/* Splits "<first>-<last>" at its one '-' and parses both numbers. An empty side
 * is reported through *has_first / *has_last rather than refused, because the
 * Range grammar allows "a-" and "-n". */
static bool http_parse_span(const char *s, size_t len, bool *has_first, uint64_t *first, bool *has_last, uint64_t *last)
{
    const char *dash = memchr(s, '-', len);
    if (dash == NULL)
        return false;
    size_t flen = (size_t)(dash - s);
    size_t llen = len - flen - 1;
    *has_first = flen > 0;
    *has_last = llen > 0;
    if (*has_first && !http_parse_u64(s, flen, first))
        return false;
    if (*has_last && !http_parse_u64(dash + 1, llen, last))
        return false;
    return *has_first || *has_last;
}

/* Case-insensitive "bytes" followed by `sep` at the start of a span. */
static bool http_has_unit(const char *s, size_t len, char sep)
{
    return len > HTTP_RANGE_UNIT_LEN && strncasecmp(s, HTTP_RANGE_UNIT, HTTP_RANGE_UNIT_LEN) == 0 && s[HTTP_RANGE_UNIT_LEN] == sep;
}

http_range_status_t http_range_parse(const char *s, size_t len, uint64_t size, http_range_t *out)
{
    if (s == NULL)
        return HTTP_RANGE_IGNORE;
    http_trim(&s, &len);
    /* range unit is case-insensitive (RFC 9110 14.1), with no space before '=' */
    if (!http_has_unit(s, len, '='))
        return HTTP_RANGE_IGNORE;
    s += HTTP_RANGE_UNIT_LEN + 1;
    len -= HTTP_RANGE_UNIT_LEN + 1;

    /* range-set = 1#range-spec: find the one non-empty element. Empty list
     * elements (", ,") must be tolerated (RFC 9110 5.6.1.2); a second real
     * element makes it a multi-range request, which we may and do ignore
     * rather than answer with multipart/byteranges. */
    const char *spec = NULL;
    size_t spec_len = 0;
    size_t pos = 0;
    while (pos <= len) {
        const char *comma = memchr(s + pos, ',', len - pos);
        size_t end = comma != NULL ? (size_t)(comma - s) : len;
        const char *el = s + pos;
        size_t el_len = end - pos;
        http_trim(&el, &el_len);
        if (el_len > 0) {
            if (spec != NULL)
                return HTTP_RANGE_IGNORE;
            spec = el;
            spec_len = el_len;
        }
        pos = end + 1;
    }
    if (spec == NULL)
        return HTTP_RANGE_IGNORE;

    bool has_first, has_last;
    uint64_t first = 0, last = 0;
    if (!http_parse_span(spec, spec_len, &has_first, &first, &has_last, &last))
        return HTTP_RANGE_IGNORE;

    if (!has_first) {
        /* suffix-range "-n": the last n bytes; n = 0, or an empty body, selects nothing */
        if (last == 0 || size == 0)
            return HTTP_RANGE_UNSATISFIABLE;
        first = last >= size ? 0 : size - last;
        last = size - 1;
    } else {
        if (has_last && first > last)
            return HTTP_RANGE_UNSATISFIABLE;
        if (first >= size)
            return HTTP_RANGE_UNSATISFIABLE;
        if (!has_last || last >= size)
            last = size - 1; /* "a-" and a last position past the end both mean "to the end" */
    }
    if (out != NULL) {
        out->first = first;
        out->last = last;
    }
    return HTTP_RANGE_OK;
}

bool http_content_range_parse(const char *s, size_t len, uint64_t *first, uint64_t *last)
{
    if (s == NULL)
        return false;
    http_trim(&s, &len);
    /* RFC 9110 writes "bytes 0-9/10"; some clients send "bytes=0-9"; docker sends "0-9" */
    if (http_has_unit(s, len, ' ') || http_has_unit(s, len, '=')) {
        s += HTTP_RANGE_UNIT_LEN + 1;
        len -= HTTP_RANGE_UNIT_LEN + 1;
    }

    size_t span_len = len;
    const char *slash = memchr(s, '/', len);
    if (slash != NULL)
        span_len = (size_t)(slash - s);

    bool has_first, has_last;
    uint64_t f = 0, l = 0;
    if (!http_parse_span(s, span_len, &has_first, &f, &has_last, &l) || !has_first || !has_last || f > l)
        return false;
    /* A chunk ending at byte 2^64-1 would end the upload at offset 2^64, past
     * what any offset can hold, and its length l - f + 1 wraps (to 0 or 1). */
    if (l == UINT64_MAX)
        return false;

    if (slash != NULL) {
        const char *total = slash + 1;
        size_t total_len = len - span_len - 1;
        if (!(total_len == 1 && total[0] == '*')) {
            uint64_t t;
            /* RFC 9110 14.4: a complete length at or below last-pos makes the field invalid */
            if (!http_parse_u64(total, total_len, &t) || t <= l)
                return false;
        }
    }
    if (first != NULL)
        *first = f;
    if (last != NULL)
        *last = l;
    return true;
}

/* The end of one list element starting at `pos`: the next ',' that is not inside
 * a quoted-string parameter value (RFC 9110 5.6.4), or `len`. */
static size_t http_list_element_end(const char *s, size_t len, size_t pos)
{
    bool quoted = false;
    for (; pos < len; pos++) {
        char c = s[pos];
        if (quoted && c == '\\') {
            pos++; /* quoted-pair: the next byte is literal, even a '"' or ',' */
        } else if (c == '"') {
            quoted = !quoted;
        } else if (c == ',' && !quoted) {
            return pos;
        }
    }
    return len;
}

/* "*\/\*" or "application/\*", with any parameters after ';' */
static bool http_is_wildcard(const char *s, size_t len)
{
    const char *semi = memchr(s, ';', len);
    if (semi != NULL)
        len = (size_t)(semi - s);
    http_trim(&s, &len);
    return (len == 3 && memcmp(s, "*/*", 3) == 0) || (len == 13 && strncasecmp(s, "application/*", 13) == 0);
}

unsigned http_accept_parse(const char *s, size_t len, bool *any)
{
    if (s == NULL)
        return 0;
    unsigned kinds = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t end = http_list_element_end(s, len, pos);
        const char *el = s + pos;
        size_t el_len = end - pos;
        /* oci_media_kind ignores parameters, so "...;q=0.9" still counts: the
         * registry only needs to know which kinds a client can read at all */
        kinds |= (unsigned)oci_media_kind(el, el_len);
        /* only ever set, never cleared: the caller gathers several lines in one flag */
        if (any != NULL && http_is_wildcard(el, el_len))
            *any = true;
        pos = end + 1;
    }
    return kinds;
}

/* Decodes one byte of a percent-encoded span at *i, advancing *i.
 * Returns the byte, or -1 for a '%' not followed by two hex digits. With
 * plus_is_space (application/x-www-form-urlencoded), a literal '+' is a
 * space; "%2B" is always '+'. */
static int http_pct_next(const char *s, size_t len, size_t *i, bool plus_is_space)
{
    if (plus_is_space && s[*i] == '+') {
        (*i)++;
        return ' ';
    }
    if (s[*i] != '%')
        return (unsigned char)s[(*i)++];
    if (len - *i < 3)
        return -1;
    int hi = auth_hex_value((unsigned char)s[*i + 1]), lo = auth_hex_value((unsigned char)s[*i + 2]);
    if (hi < 0 || lo < 0)
        return -1;
    *i += 3;
    return hi << 4 | lo;
}

/* Whether a percent-encoded key equals `name` once decoded ("%64igest" is "digest").
 * A malformed key matches nothing: it is someone else's problem, not this lookup's. */
static bool http_key_equals(const char *key, size_t key_len, const char *name, size_t name_len, bool plus_is_space)
{
    size_t i = 0, j = 0;
    while (i < key_len) {
        int c = http_pct_next(key, key_len, &i, plus_is_space);
        if (c < 0 || j >= name_len || (unsigned char)name[j] != c)
            return false;
        j++;
    }
    return j == name_len;
}

/* Whether a percent-encoded key starts with `prefix` once decoded; a malformed key matches nothing. */
static bool http_key_starts(const char *key, size_t key_len, const char *prefix, size_t prefix_len, bool plus_is_space)
{
    size_t i = 0, j = 0;
    while (i < key_len && j < prefix_len) {
        int c = http_pct_next(key, key_len, &i, plus_is_space);
        if (c < 0 || (unsigned char)prefix[j] != c)
            return false;
        j++;
    }
    return j == prefix_len;
}

bool http_form_has_key_prefix(const char *form, size_t form_len, const char *prefix)
{
    if (form == NULL || prefix == NULL)
        return false;
    size_t prefix_len = strlen(prefix);
    for (size_t pos = 0; pos < form_len;) {
        const char *amp = memchr(form + pos, '&', form_len - pos);
        size_t end = amp != NULL ? (size_t)(amp - form) : form_len;
        const char *pair = form + pos;
        size_t pair_len = end - pos;
        pos = end + 1;
        const char *eq = memchr(pair, '=', pair_len);
        size_t key_len = eq != NULL ? (size_t)(eq - pair) : pair_len;
        if (pair_len > 0 && http_key_starts(pair, key_len, prefix, prefix_len, true))
            return true;
    }
    return false;
}

bool http_path_decode(const char *src, size_t len, char *dst, size_t cap, size_t *out_len)
{
    if (cap == 0)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        int c = http_pct_next(src, len, &i, false); /* in a path, '+' is data (RFC 3986) */
        if (c <= 0 || o + 1 >= cap)
            return false;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    *out_len = o;
    return true;
}

/* http_query_param and http_form_param: they differ only in what '+' means. */
static long http_param(const char *query, size_t query_len, const char *name, char *out, size_t out_size, bool plus_is_space)
{
    if (out != NULL && out_size > 0)
        out[0] = '\0';
    if (query == NULL || name == NULL)
        return -1;
    size_t name_len = strlen(name);
    size_t pos = 0;
    while (pos < query_len) {
        const char *amp = memchr(query + pos, '&', query_len - pos);
        size_t end = amp != NULL ? (size_t)(amp - query) : query_len;
        const char *pair = query + pos;
        size_t pair_len = end - pos;
        pos = end + 1;

        const char *eq = memchr(pair, '=', pair_len);
        size_t key_len = eq != NULL ? (size_t)(eq - pair) : pair_len;
        if (pair_len == 0 || !http_key_equals(pair, key_len, name, name_len, plus_is_space))
            continue;

        /* the first occurrence wins, as in Go's url.Values.Get that clients test against */
        const char *val = eq != NULL ? eq + 1 : pair + pair_len;
        size_t val_len = eq != NULL ? pair_len - key_len - 1 : 0;
        if (out == NULL || out_size == 0)
            return -2;
        size_t n = 0;
        for (size_t i = 0; i < val_len;) {
            int c = http_pct_next(val, val_len, &i, plus_is_space);
            /* a decoded NUL would cut the value short for every C consumer after us */
            if (c <= 0 || n + 1 >= out_size) {
                out[0] = '\0';
                return -2;
            }
            out[n++] = (char)c;
        }
        out[n] = '\0';
        return (long)n;
    }
    return -1;
}

long http_query_param(const char *query, size_t query_len, const char *name, char *out, size_t out_size)
{
    return http_param(query, query_len, name, out, out_size, false); /* '+' is data in a registry query */
}

long http_form_param(const char *form, size_t form_len, const char *name, char *out, size_t out_size)
{
    return http_param(form, form_len, name, out, out_size, true);
}
