/*
 * policies/match.c — wildcards, ARNs, principals and policy variables.
 *
 * Patterns that went through pol_expand() carry '\' escapes, so that a
 * variable's value ("${aws:username}" = "a*b") and the escapes ${*} ${?} are
 * matched literally while the policy author's own `*` and `?` stay wildcards.
 */
#include "policies/policies_internal.h"

#include <stdlib.h>
#include <string.h>

/* An ARN is arn:partition:service:region:account:resource; the resource part
 * may itself hold ':'. */
#define ARN_SEGMENTS 6

static unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

bool pol_glob(const char *pat, size_t plen, const char *s, size_t slen, unsigned flags)
{
    bool icase = flags & POL_GLOB_ICASE;
    bool esc = flags & POL_GLOB_ESCAPES;
    size_t p = 0, i = 0;
    size_t star_p = 0, star_i = 0;
    bool have_star = false;
    /* classic single-backtrack matcher: on a mismatch after a `*`, let the
     * star swallow one more character; linear space, O(plen*slen) worst */
    while (i < slen) {
        if (p < plen) {
            unsigned char c = (unsigned char)pat[p];
            size_t adv = 1;
            if (c == '*') {
                have_star = true;
                star_p = ++p;
                star_i = i;
                continue;
            }
            if (c == '?') {
                p++;
                i++;
                continue;
            }
            if (c == '\\' && esc && p + 1 < plen) {
                c = (unsigned char)pat[p + 1];
                adv = 2;
            }
            unsigned char d = (unsigned char)s[i];
            if (icase ? fold(c) == fold(d) : c == d) {
                p += adv;
                i++;
                continue;
            }
        }
        if (!have_star)
            return false;
        p = star_p;
        i = ++star_i;
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

/* Splits at the first five ':' (not escaped ones when `esc`); false when
 * there are fewer. */
static bool arn_split(const char *s, size_t len, bool esc, const char *seg[ARN_SEGMENTS], size_t seglen[ARN_SEGMENTS])
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i < len && n < ARN_SEGMENTS - 1; i++) {
        if (esc && s[i] == '\\' && i + 1 < len) {
            i++;
            continue;
        }
        if (s[i] == ':') {
            seg[n] = s + start;
            seglen[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    if (n < ARN_SEGMENTS - 1)
        return false;
    seg[n] = s + start;
    seglen[n] = len - start;
    return true;
}

bool pol_arn_match(const char *pat, size_t plen, const char *arn)
{
    size_t alen = strlen(arn);
    const char *ps[ARN_SEGMENTS], *as[ARN_SEGMENTS];
    size_t pl[ARN_SEGMENTS], al[ARN_SEGMENTS];
    if (!arn_split(pat, plen, true, ps, pl) || !arn_split(arn, alen, false, as, al))
        return pol_glob(pat, plen, arn, alen, POL_GLOB_ESCAPES);
    for (size_t k = 0; k < ARN_SEGMENTS; k++)
        if (!pol_glob(ps[k], pl[k], as[k], al[k], POL_GLOB_ESCAPES))
            return false;
    return true;
}

bool pol_action_match(const char *pat, const char *action)
{
    return pol_glob(pat, strlen(pat), action, strlen(action), POL_GLOB_ICASE);
}

/* ------------------------------------------------------------ context */

static bool key_eq(const char *a, const char *b, size_t blen)
{
    for (size_t i = 0; i < blen; i++)
        if (a[i] == '\0' || fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
            return false;
    return a[blen] == '\0';
}

static const policy_context_entry_t *ctx_find_n(const policy_request_t *req, const char *key, size_t len)
{
    if (!req->context)
        return NULL;
    for (size_t i = 0; i < req->n_context; i++) {
        const policy_context_entry_t *e = &req->context[i];
        if (e->key && key_eq(e->key, key, len))
            return e;
    }
    return NULL;
}

const policy_context_entry_t *pol_ctx_find(const policy_request_t *req, const char *key)
{
    return ctx_find_n(req, key, strlen(key));
}

/* ---------------------------------------------------------- variables */

typedef struct {
    const char *key;
    size_t keylen;
    const char *def; /* NULL without a default */
    size_t deflen;
    const char *end; /* just past the closing '}' */
} var_t;

static const char *skip_spaces(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* s points at "${": ${key} or ${key, 'default'} */
static bool parse_var(const char *s, var_t *v)
{
    const char *p = skip_spaces(s + 2);
    v->key = p;
    if (p[0] == '$' && p[1] == '}') {
        p++; /* ${$} is an escape, the only key that may be a '$' */
    } else {
        while (*p && *p != ',' && *p != '}' && *p != '$' && *p != '{' && *p != '\'')
            p++;
    }
    size_t klen = (size_t)(p - v->key);
    while (klen > 0 && v->key[klen - 1] == ' ')
        klen--;
    if (klen == 0)
        return false;
    v->keylen = klen;
    v->def = NULL;
    v->deflen = 0;
    if (*p == ',') {
        p = skip_spaces(p + 1);
        if (*p != '\'')
            return false;
        v->def = ++p;
        while (*p && *p != '\'')
            p++;
        if (*p != '\'')
            return false;
        v->deflen = (size_t)(p - v->def);
        p = skip_spaces(p + 1);
    }
    if (*p != '}')
        return false;
    v->end = p + 1;
    return true;
}

long pol_variables_check(const char *s)
{
    for (const char *p = s; (p = strstr(p, "${")) != NULL;) {
        var_t v;
        if (!parse_var(p, &v))
            return (long)(p - s);
        p = v.end;
    }
    return -1;
}

bool pol_has_variable(const char *s)
{
    return strstr(s, "${") != NULL;
}

static int buf_put(pol_buf_t *b, const char *s, size_t n, bool glob)
{
    /* worst case every character is escaped, plus the NUL */
    if (n > (SIZE_MAX - 1) / 2 - b->len)
        return -1;
    size_t need = b->len + 2 * n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        if (glob && (s[i] == '*' || s[i] == '?' || s[i] == '\\'))
            b->p[b->len++] = '\\';
        b->p[b->len++] = s[i];
    }
    b->p[b->len] = '\0';
    return 0;
}

int pol_expand(const char *tmpl, bool variables, bool glob, const policy_request_t *req, pol_buf_t *out)
{
    out->len = 0;
    if (buf_put(out, "", 0, false))
        return -1;
    const char *s = tmpl;
    while (*s) {
        var_t v;
        if (variables && s[0] == '$' && s[1] == '{' && parse_var(s, &v)) {
            const char *val = NULL;
            size_t vlen = 0;
            if (v.keylen == 1 && (v.key[0] == '*' || v.key[0] == '?' || v.key[0] == '$')) {
                val = v.key;
                vlen = 1;
            } else {
                const policy_context_entry_t *e = ctx_find_n(req, v.key, v.keylen);
                /* a multi-valued key has no single value to put in a string */
                if (e && e->n_values == 1 && e->values && e->values[0]) {
                    val = e->values[0];
                    vlen = strlen(val);
                } else if (v.def) {
                    val = v.def;
                    vlen = v.deflen;
                }
            }
            if (!val)
                return 0;
            if (buf_put(out, val, vlen, glob))
                return -1;
            s = v.end;
            continue;
        }
        /* the template's own wildcards stay wildcards; its backslashes are literal */
        size_t run = 1;
        if (glob && *s == '\\') {
            if (buf_put(out, s, 1, true))
                return -1;
        } else {
            while (s[run] && s[run] != '$' && s[run] != '\\')
                run++;
            if (buf_put(out, s, run, false))
                return -1;
        }
        s += run;
    }
    return 1;
}

/* --------------------------------------------------------- principals */

bool pol_is_account_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9')
            return false;
    return n == 12;
}

bool pol_arn_account(const char *arn, char *out, size_t cap)
{
    const char *seg[ARN_SEGMENTS];
    size_t len[ARN_SEGMENTS];
    if (!arn_split(arn, strlen(arn), false, seg, len) || len[0] != 3 || memcmp(seg[0], "arn", 3) != 0 || len[4] >= cap)
        return false;
    memcpy(out, seg[4], len[4]);
    out[len[4]] = '\0';
    return true;
}

static bool seg_is(const char *seg, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(seg, lit, len) == 0;
}

static bool seg_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* A role named in a policy covers its sessions: arn:P:iam::A:role/path/NAME
 * matches the caller arn:P:sts::A:assumed-role/NAME/SESSION. */
static bool role_covers_session(const char *role, const char *caller)
{
    const char *r[ARN_SEGMENTS], *c[ARN_SEGMENTS];
    size_t rl[ARN_SEGMENTS], cl[ARN_SEGMENTS];
    if (!arn_split(role, strlen(role), false, r, rl) || !arn_split(caller, strlen(caller), false, c, cl))
        return false;
    if (!seg_is(r[2], rl[2], "iam") || !seg_is(c[2], cl[2], "sts") || !seg_eq(r[1], rl[1], c[1], cl[1]) ||
        !seg_eq(r[4], rl[4], c[4], cl[4]))
        return false;
    static const char role_prefix[] = "role/", session_prefix[] = "assumed-role/";
    if (rl[5] <= sizeof role_prefix - 1 || memcmp(r[5], role_prefix, sizeof role_prefix - 1) != 0)
        return false;
    if (cl[5] <= sizeof session_prefix - 1 || memcmp(c[5], session_prefix, sizeof session_prefix - 1) != 0)
        return false;
    const char *name = r[5] + rl[5];
    while (name[-1] != '/')
        name--;
    size_t nlen = (size_t)(r[5] + rl[5] - name);
    const char *sname = c[5] + sizeof session_prefix - 1;
    const char *slash = memchr(sname, '/', (size_t)(c[5] + cl[5] - sname));
    return slash && seg_eq(name, nlen, sname, (size_t)(slash - sname));
}

/* arn:P:iam::ACCOUNT:root names the whole account */
static bool root_arn_account(const char *v, char *acct, size_t cap)
{
    const char *seg[ARN_SEGMENTS];
    size_t len[ARN_SEGMENTS];
    if (!arn_split(v, strlen(v), false, seg, len) || !seg_is(seg[0], len[0], "arn") || !seg_is(seg[2], len[2], "iam") ||
        !seg_is(seg[5], len[5], "root") || len[4] >= cap)
        return false;
    memcpy(acct, seg[4], len[4]);
    acct[len[4]] = '\0';
    return true;
}

static bool in_list(const pol_strs_t *l, const char *who)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], who) == 0)
            return true;
    return false;
}

pol_principal_match_t pol_principal_match(const pol_principal_t *pr, const policy_request_t *req)
{
    if (pr->any)
        return POL_PRINCIPAL_DIRECT;
    const char *arn = req->principal_arn;
    if (!arn)
        return POL_PRINCIPAL_NO; /* anonymous matches only "*" */
    char derived[64];
    const char *account = req->principal_account;
    if ((!account || !*account) && pol_arn_account(arn, derived, sizeof derived))
        account = derived;
    bool via_account = false;
    for (size_t i = 0; i < pr->aws.n; i++) {
        const char *v = pr->aws.v[i];
        char root[64];
        if (pol_is_account_id(v)) {
            via_account |= account && strcmp(v, account) == 0;
        } else if (root_arn_account(v, root, sizeof root)) {
            via_account |= account && strcmp(root, account) == 0;
        } else if (strcmp(v, arn) == 0 || role_covers_session(v, arn)) {
            return POL_PRINCIPAL_DIRECT;
        }
    }
    /* a service, web identity or canonical user is passed as principal_arn */
    if (in_list(&pr->service, arn) || in_list(&pr->federated, arn) || in_list(&pr->canonical, arn))
        return POL_PRINCIPAL_DIRECT;
    return via_account ? POL_PRINCIPAL_ACCOUNT : POL_PRINCIPAL_NO;
}
