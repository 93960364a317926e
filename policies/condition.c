/*
 * policies/condition.c — condition operators and the value types they read.
 *
 * One (operator, key) pair holds when (IAM's documented rules):
 *   - the key is missing: false, except …IfExists (true), the negated
 *     operators (StringNotEquals, NotIpAddress, ArnNotLike, …: true, "the
 *     key does not match"), ForAllValues: (true) and Null (its own test);
 *   - otherwise a context value satisfies a positive operator when it
 *     matches ANY policy value, a negated one when it matches NONE;
 *   - a multi-valued key: ForAnyValue: needs one value to satisfy it,
 *     ForAllValues: every value; without a qualifier a positive operator
 *     needs one value, a negated one every value (so that StringNotEquals
 *     stays the negation of StringEquals).
 * A context value the operator cannot read (NumericLessThan on "abc") never
 * satisfies it, negated or not.
 */
#include "policies/policies_internal.h"

#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const pol_op_info_t ops[] = {
    {"StringEquals", POL_CMP_STRING_EQUALS, false, POL_VT_STRING},
    {"StringNotEquals", POL_CMP_STRING_EQUALS, true, POL_VT_STRING},
    {"StringEqualsIgnoreCase", POL_CMP_STRING_EQUALS_IC, false, POL_VT_STRING},
    {"StringNotEqualsIgnoreCase", POL_CMP_STRING_EQUALS_IC, true, POL_VT_STRING},
    {"StringLike", POL_CMP_STRING_LIKE, false, POL_VT_STRING},
    {"StringNotLike", POL_CMP_STRING_LIKE, true, POL_VT_STRING},
    {"NumericEquals", POL_CMP_NUMERIC_EQ, false, POL_VT_NUMBER},
    {"NumericNotEquals", POL_CMP_NUMERIC_EQ, true, POL_VT_NUMBER},
    {"NumericLessThan", POL_CMP_NUMERIC_LT, false, POL_VT_NUMBER},
    {"NumericLessThanEquals", POL_CMP_NUMERIC_LE, false, POL_VT_NUMBER},
    {"NumericGreaterThan", POL_CMP_NUMERIC_GT, false, POL_VT_NUMBER},
    {"NumericGreaterThanEquals", POL_CMP_NUMERIC_GE, false, POL_VT_NUMBER},
    {"DateEquals", POL_CMP_DATE_EQ, false, POL_VT_DATE},
    {"DateNotEquals", POL_CMP_DATE_EQ, true, POL_VT_DATE},
    {"DateLessThan", POL_CMP_DATE_LT, false, POL_VT_DATE},
    {"DateLessThanEquals", POL_CMP_DATE_LE, false, POL_VT_DATE},
    {"DateGreaterThan", POL_CMP_DATE_GT, false, POL_VT_DATE},
    {"DateGreaterThanEquals", POL_CMP_DATE_GE, false, POL_VT_DATE},
    {"Bool", POL_CMP_BOOL, false, POL_VT_BOOL},
    {"BinaryEquals", POL_CMP_BINARY, false, POL_VT_BASE64},
    {"IpAddress", POL_CMP_IP, false, POL_VT_IP},
    {"NotIpAddress", POL_CMP_IP, true, POL_VT_IP},
    {"ArnEquals", POL_CMP_ARN, false, POL_VT_ARN},
    {"ArnLike", POL_CMP_ARN, false, POL_VT_ARN},
    {"ArnNotEquals", POL_CMP_ARN, true, POL_VT_ARN},
    {"ArnNotLike", POL_CMP_ARN, true, POL_VT_ARN},
    {"Null", POL_CMP_NULL, false, POL_VT_BOOL},
};

const pol_op_info_t *pol_op_lookup(const char *name, pol_qual_t *qual, bool *if_exists)
{
    static const char any[] = "ForAnyValue:", all[] = "ForAllValues:", ifx[] = "IfExists";
    *qual = POL_QUAL_NONE;
    *if_exists = false;
    if (strncmp(name, any, sizeof any - 1) == 0) {
        *qual = POL_QUAL_ANY;
        name += sizeof any - 1;
    } else if (strncmp(name, all, sizeof all - 1) == 0) {
        *qual = POL_QUAL_ALL;
        name += sizeof all - 1;
    }
    size_t len = strlen(name);
    if (len > sizeof ifx - 1 && strcmp(name + len - (sizeof ifx - 1), ifx) == 0) {
        *if_exists = true;
        len -= sizeof ifx - 1;
    }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (strlen(ops[i].name) != len || strncmp(ops[i].name, name, len) != 0)
            continue;
        /* Null asks whether the key exists: neither a qualifier nor IfExists makes sense on it */
        if (ops[i].cmp == POL_CMP_NULL && (*if_exists || *qual != POL_QUAL_NONE))
            return NULL;
        return &ops[i];
    }
    return NULL;
}

/* --------------------------------------------------------------- values */

bool pol_parse_number(const char *s, double *out)
{
    /* strtod alone would take "inf", "0x1p3" and leading spaces */
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    size_t ndigits = 0;
    while (*p >= '0' && *p <= '9')
        p++, ndigits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, ndigits++;
    }
    if (ndigits == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return false;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* reads exactly n digits */
static bool digits(const char **pp, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*pp)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *pp += n;
    *out = v;
    return true;
}

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm) */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Epoch seconds beyond 12 digits (year 33658) are not dates anyone means. */
#define EPOCH_MAX_DIGITS 12
/* nanoseconds: fractional seconds beyond 9 digits carry nothing */
#define FRACTION_MAX_DIGITS 9

bool pol_parse_date(const char *s, pol_time_t *out)
{
    const char *p = s;
    size_t n = strspn(s, "0123456789");
    if (n > 0 && (s[n] == '\0' || s[n] == '.') && n <= EPOCH_MAX_DIGITS) {
        /* epoch seconds, as aws:EpochTime carries them */
        int64_t sec = 0;
        for (size_t i = 0; i < n; i++)
            sec = sec * 10 + (s[i] - '0');
        int32_t ns = 0;
        p = s + n;
        if (*p == '.') {
            p++;
            size_t f = strspn(p, "0123456789");
            if (f == 0 || p[f] != '\0')
                return false;
            int32_t scale = 100000000;
            for (size_t i = 0; i < f && i < FRACTION_MAX_DIGITS; i++, scale /= 10)
                ns += (p[i] - '0') * scale;
        }
        out->sec = sec;
        out->nsec = ns;
        return true;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int32_t ns = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return false;
    int64_t offset = 0;
    if (*p == 'T') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return false;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return false;
            if (*p == '.') {
                p++;
                size_t f = strspn(p, "0123456789");
                if (f == 0)
                    return false;
                int32_t scale = 100000000;
                for (size_t i = 0; i < f && i < FRACTION_MAX_DIGITS; i++, scale /= 10)
                    ns += (p[i] - '0') * scale;
                p += f;
            }
        }
        if (h > 23 || mi > 59 || sec > 59)
            return false;
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            if (!digits(&p, 2, &oh))
                return false;
            if (*p == ':' && !(p++, digits(&p, 2, &om)))
                return false;
            if (*p >= '0' && *p <= '9' && !digits(&p, 2, &om))
                return false;
            if (oh > 23 || om > 59)
                return false;
            offset = sign * (oh * 3600 + om * 60);
        }
    }
    if (*p)
        return false;
    out->sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    out->nsec = ns;
    return true;
}

static int time_cmp(pol_time_t a, pol_time_t b)
{
    if (a.sec != b.sec)
        return a.sec < b.sec ? -1 : 1;
    return a.nsec < b.nsec ? -1 : a.nsec > b.nsec;
}

bool pol_parse_bool(const char *s, bool *out)
{
    if (strcasecmp(s, "true") == 0)
        *out = true;
    else if (strcasecmp(s, "false") == 0)
        *out = false;
    else
        return false;
    return true;
}

bool pol_parse_ip(const char *s, bool allow_prefix, pol_cidr_t *out)
{
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof addr || (slash && !allow_prefix))
        return false;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    memset(out->addr, 0, sizeof out->addr);
    if (memchr(addr, ':', alen)) {
        out->family = 6;
        if (inet_pton(AF_INET6, addr, out->addr) != 1)
            return false;
    } else {
        out->family = 4;
        if (inet_pton(AF_INET, addr, out->addr) != 1)
            return false;
    }
    unsigned max = out->family == 4 ? 32 : 128;
    out->prefix = max;
    if (slash) {
        const char *p = slash + 1;
        size_t n = strspn(p, "0123456789");
        if (n == 0 || n > 3 || p[n] != '\0')
            return false;
        unsigned v = (unsigned)strtoul(p, NULL, 10);
        if (v > max)
            return false;
        out->prefix = v;
    }
    return true;
}

static bool cidr_contains(const pol_cidr_t *net, const pol_cidr_t *a)
{
    if (net->family != a->family)
        return false;
    unsigned full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(net->addr, a->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (net->addr[full] & mask) == (a->addr[full] & mask);
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long pol_base64_decode(const char *s, unsigned char *out, size_t cap)
{
    size_t total = strlen(s), len = total, pad = 0;
    while (len > 0 && s[len - 1] == '=' && pad < 2)
        len--, pad++;
    if (len % 4 == 1 || (pad && total % 4 != 0) || total > (size_t)LONG_MAX)
        return -1;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (out) {
                if (n >= cap)
                    return -1;
                out[n] = (unsigned char)(acc >> bits);
            }
            n++;
        }
    }
    return (long)n;
}

bool pol_value_valid(pol_vtype_t t, const char *s)
{
    double d;
    pol_time_t tm;
    bool b;
    pol_cidr_t c;
    switch (t) {
    case POL_VT_NUMBER:
        return pol_parse_number(s, &d);
    case POL_VT_DATE:
        return pol_parse_date(s, &tm);
    case POL_VT_BOOL:
        return pol_parse_bool(s, &b);
    case POL_VT_BASE64:
        return pol_base64_decode(s, NULL, 0) >= 0;
    case POL_VT_IP:
        return pol_parse_ip(s, true, &c);
    case POL_VT_STRING:
    case POL_VT_ARN:
        break;
    }
    return true;
}

/* ----------------------------------------------------------- evaluation */

/* a context value as the operator reads it */
typedef struct {
    const char *s;
    double num;
    pol_time_t time;
    bool b;
    pol_cidr_t ip;
    unsigned char *bin;
    long binlen;
} ctx_value_t;

/* false when the operator cannot read the value */
static int read_ctx_value(pol_cmp_t cmp, const char *s, ctx_value_t *v)
{
    v->s = s;
    v->bin = NULL;
    switch (cmp) {
    case POL_CMP_NUMERIC_EQ:
    case POL_CMP_NUMERIC_LT:
    case POL_CMP_NUMERIC_LE:
    case POL_CMP_NUMERIC_GT:
    case POL_CMP_NUMERIC_GE:
        return pol_parse_number(s, &v->num);
    case POL_CMP_DATE_EQ:
    case POL_CMP_DATE_LT:
    case POL_CMP_DATE_LE:
    case POL_CMP_DATE_GT:
    case POL_CMP_DATE_GE:
        return pol_parse_date(s, &v->time);
    case POL_CMP_BOOL:
        return pol_parse_bool(s, &v->b);
    case POL_CMP_IP:
        return pol_parse_ip(s, false, &v->ip);
    case POL_CMP_BINARY:
        v->binlen = pol_base64_decode(s, NULL, 0);
        if (v->binlen < 0)
            return 0;
        v->bin = malloc((size_t)v->binlen + 1);
        if (!v->bin)
            return -1;
        pol_base64_decode(s, v->bin, (size_t)v->binlen);
        return 1;
    case POL_CMP_STRING_EQUALS:
    case POL_CMP_STRING_EQUALS_IC:
    case POL_CMP_STRING_LIKE:
    case POL_CMP_ARN:
    case POL_CMP_NULL:
        break;
    }
    return 1;
}

/* one (context value, expanded policy value) pair, before negation: 1, 0, or -1 (out of memory) */
static int compare(pol_cmp_t cmp, const ctx_value_t *cv, const char *pv)
{
    double d;
    pol_time_t t;
    bool b;
    pol_cidr_t net;
    switch (cmp) {
    case POL_CMP_STRING_EQUALS:
        return strcmp(cv->s, pv) == 0;
    case POL_CMP_STRING_EQUALS_IC:
        return strcasecmp(cv->s, pv) == 0;
    case POL_CMP_STRING_LIKE:
        return pol_glob(pv, strlen(pv), cv->s, strlen(cv->s), POL_GLOB_ESCAPES);
    case POL_CMP_ARN:
        return pol_arn_match(pv, strlen(pv), cv->s);
    case POL_CMP_NUMERIC_EQ:
        return pol_parse_number(pv, &d) && cv->num == d;
    case POL_CMP_NUMERIC_LT:
        return pol_parse_number(pv, &d) && cv->num < d;
    case POL_CMP_NUMERIC_LE:
        return pol_parse_number(pv, &d) && cv->num <= d;
    case POL_CMP_NUMERIC_GT:
        return pol_parse_number(pv, &d) && cv->num > d;
    case POL_CMP_NUMERIC_GE:
        return pol_parse_number(pv, &d) && cv->num >= d;
    case POL_CMP_DATE_EQ:
        return pol_parse_date(pv, &t) && time_cmp(cv->time, t) == 0;
    case POL_CMP_DATE_LT:
        return pol_parse_date(pv, &t) && time_cmp(cv->time, t) < 0;
    case POL_CMP_DATE_LE:
        return pol_parse_date(pv, &t) && time_cmp(cv->time, t) <= 0;
    case POL_CMP_DATE_GT:
        return pol_parse_date(pv, &t) && time_cmp(cv->time, t) > 0;
    case POL_CMP_DATE_GE:
        return pol_parse_date(pv, &t) && time_cmp(cv->time, t) >= 0;
    case POL_CMP_BOOL:
        return pol_parse_bool(pv, &b) && b == cv->b;
    case POL_CMP_IP:
        return pol_parse_ip(pv, true, &net) && cidr_contains(&net, &cv->ip);
    case POL_CMP_BINARY: {
        long n = pol_base64_decode(pv, NULL, 0);
        if (n < 0 || n != cv->binlen)
            return 0;
        unsigned char *buf = malloc((size_t)n + 1);
        if (!buf)
            return -1;
        pol_base64_decode(pv, buf, (size_t)n);
        int eq = memcmp(buf, cv->bin, (size_t)n) == 0;
        free(buf);
        return eq;
    }
    case POL_CMP_NULL:
        break;
    }
    return 0;
}

/* whether one context value satisfies the operator, negation included */
static int value_satisfies(const policy_t *p, const pol_cond_t *c, const char *s, const policy_request_t *req, pol_buf_t *b)
{
    ctx_value_t cv;
    int r = read_ctx_value(c->op->cmp, s, &cv);
    if (r <= 0)
        return r;
    bool glob = c->op->cmp == POL_CMP_STRING_LIKE || c->op->cmp == POL_CMP_ARN;
    bool any = false;
    for (size_t i = 0; i < c->values.n && !any; i++) {
        r = pol_expand(c->values.v[i], p->version_2012, glob, req, b);
        if (r < 0)
            break;
        if (r == 0)
            continue; /* a variable without a value: this policy value matches nothing */
        r = compare(c->op->cmp, &cv, b->p);
        if (r < 0)
            break;
        any = r == 1;
    }
    free(cv.bin);
    if (r < 0)
        return -1;
    return c->op->negated ? !any : any;
}

int pol_cond_eval(const policy_t *p, const pol_cond_t *c, const policy_request_t *req, pol_buf_t *scratch)
{
    const policy_context_entry_t *e = pol_ctx_find(req, c->key);
    size_t n = e && e->values ? e->n_values : 0;
    if (c->op->cmp == POL_CMP_NULL) {
        bool absent = n == 0;
        for (size_t i = 0; i < c->values.n; i++) {
            int r = pol_expand(c->values.v[i], p->version_2012, false, req, scratch);
            if (r < 0)
                return -1;
            bool want;
            if (r == 1 && pol_parse_bool(scratch->p, &want) && want == absent)
                return 1;
        }
        return 0;
    }
    if (n == 0) {
        if (c->qual == POL_QUAL_ALL)
            return 1;
        if (c->qual == POL_QUAL_ANY)
            return 0;
        return c->if_exists || c->op->negated;
    }
    bool need_all = c->qual == POL_QUAL_ALL || (c->qual == POL_QUAL_NONE && c->op->negated);
    for (size_t i = 0; i < n; i++) {
        int r = e->values[i] ? value_satisfies(p, c, e->values[i], req, scratch) : 0;
        if (r < 0)
            return -1;
        if (need_all && !r)
            return 0;
        if (!need_all && r)
            return 1;
    }
    return need_all;
}
