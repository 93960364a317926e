/*
 * scheduler/cql.c — the Cluster Query Language, as the ECS developer guide
 * defines it:
 *
 *   expr       := or
 *   or         := and { ("or" | "||") and }
 *   and        := unary { ("and" | "&&") unary }
 *   unary      := ("not" | "!") unary | "(" expr ")" | comparison
 *   comparison := subject operator [argument]
 *   subject    := attribute:NAME | ec2InstanceId | agentConnected | agentVersion
 *               | registeredAt | runningTasksCount | task:group
 *   argument   := value | "[" value { "," value } "]"      (lists for in / not_in)
 *   value      := bare word | 'single quoted' | "double quoted"
 *
 * `not` binds tightest, then `and`, then `or`. Keywords are case-insensitive.
 * Values may contain `*` wildcards for ==, !=, in and not_in; =~ and !~ take
 * a regular expression that must match the whole value (Java's
 * Pattern.matches, which ECS documents), run here as POSIX ERE with \d, \D,
 * \w, \s translated.
 *
 * A subject can have several values (task:group: one per task on the
 * instance) or none (an absent attribute). A comparison holds when some
 * value satisfies it, so every comparison but `!exists` is false for an
 * absent subject: `attribute:stack != prod` selects instances that have a
 * stack attribute other than prod, as the guide's example says, and task
 * anti-affinity is written `not(task:group == database)`.
 */
#include "scheduler/scheduler_internal.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* nesting deeper than this is surely a mistake (or a fuzzer), and would cost stack */
#define CQL_MAX_DEPTH 64
/* an `in` list longer than this is surely a mistake */
#define CQL_MAX_LIST 1024
/* seconds in a day: a date-only value under == names a whole UTC day */
#define SECONDS_PER_DAY 86400

typedef enum {
    SUBJ_ATTRIBUTE,
    SUBJ_EC2_ID,
    SUBJ_AGENT_CONNECTED,
    SUBJ_AGENT_VERSION,
    SUBJ_REGISTERED_AT,
    SUBJ_RUNNING_TASKS,
    SUBJ_TASK_GROUP,
} subject_t;

typedef enum {
    OP_EQ,
    OP_NE,
    OP_GT,
    OP_GE,
    OP_LT,
    OP_LE,
    OP_EXISTS,
    OP_NOT_EXISTS,
    OP_IN,
    OP_NOT_IN,
    OP_MATCHES,
    OP_NOT_MATCHES,
    OP_COUNT
} op_t;

static const char *const op_names[OP_COUNT] = {"==", "!=", ">", ">=", "<", "<=", "exists", "!exists", "in", "not_in", "=~", "!~"};

#define B(op) (1u << (op))
/* the operators the guide lists for each subject; attribute and task:group take all */
static const unsigned subject_ops[] = {
    [SUBJ_ATTRIBUTE] = (1u << OP_COUNT) - 1,
    [SUBJ_EC2_ID] = B(OP_EQ) | B(OP_NE) | B(OP_IN) | B(OP_NOT_IN) | B(OP_MATCHES) | B(OP_NOT_MATCHES),
    [SUBJ_AGENT_CONNECTED] = B(OP_EQ) | B(OP_NE) | B(OP_IN) | B(OP_NOT_IN) | B(OP_MATCHES) | B(OP_NOT_MATCHES),
    [SUBJ_AGENT_VERSION] = B(OP_EQ) | B(OP_NE) | B(OP_GT) | B(OP_GE) | B(OP_LT) | B(OP_LE),
    [SUBJ_REGISTERED_AT] = B(OP_EQ) | B(OP_NE) | B(OP_GT) | B(OP_GE) | B(OP_LT) | B(OP_LE),
    [SUBJ_RUNNING_TASKS] = B(OP_EQ) | B(OP_NE) | B(OP_GT) | B(OP_GE) | B(OP_LT) | B(OP_LE),
    [SUBJ_TASK_GROUP] = (1u << OP_COUNT) - 1,
};
static const char *const subject_names[] = {
    [SUBJ_ATTRIBUTE] = "attribute",        [SUBJ_EC2_ID] = "ec2InstanceId",       [SUBJ_AGENT_CONNECTED] = "agentConnected",
    [SUBJ_AGENT_VERSION] = "agentVersion", [SUBJ_REGISTERED_AT] = "registeredAt", [SUBJ_RUNNING_TASKS] = "runningTasksCount",
    [SUBJ_TASK_GROUP] = "task:group",
};

typedef struct {
    char *text;
    bool wildcard;  /* contains '*' */
    int64_t number; /* registeredAt: seconds; runningTasksCount: count */
    bool date_only; /* registeredAt given as a bare date */
} value_t;

typedef enum { N_OR, N_AND, N_NOT, N_CMP } node_kind_t;

typedef struct node {
    node_kind_t kind;
    struct node *l, *r; /* N_NOT uses l */
    subject_t subject;
    char *attr_name; /* SUBJ_ATTRIBUTE */
    op_t op;
    value_t *vals;
    size_t nvals;
    regex_t re;
    bool has_re;
} node_t;

struct sched_cql {
    node_t *root;
    bool depends_on_tasks;
    bool reads_agent; /* agentConnected: moves with the clock */
};

/* ------------------------------------------------------------------ lexer */

typedef enum { T_EOF, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA, T_AND, T_OR, T_BANG, T_OP, T_WORD, T_STRING } tok_kind_t;

typedef struct {
    tok_kind_t kind;
    size_t pos, len; /* the token's bytes in the source; for T_STRING, between the quotes */
    op_t op;         /* T_OP */
} tok_t;

typedef struct {
    const char *src;
    size_t len;
    size_t pos;
    sched_err_t *err;
    int depth;
    bool depends_on_tasks;
    bool reads_agent;
} parser_t;

static bool is_word_char(char ch)
{
    return ch && !isspace((unsigned char)ch) && !strchr("()[],'\"=!<>&|~", ch);
}

static void skip_space(parser_t *p)
{
    while (p->pos < p->len && isspace((unsigned char)p->src[p->pos]))
        p->pos++;
}

/* whether the source at i holds the keyword kw as a whole word */
static bool word_at(const parser_t *p, size_t i, const char *kw)
{
    size_t n = strlen(kw);
    return i + n <= p->len && strncmp(p->src + i, kw, n) == 0 && !is_word_char(i + n < p->len ? p->src[i + n] : 0);
}

static const char *tok_desc(const parser_t *p, const tok_t *t, char *buf, size_t len)
{
    switch (t->kind) {
    case T_EOF:
        return "the end of the expression";
    case T_STRING:
        snprintf(buf, len, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), p->src + t->pos);
        return buf;
    default:
        snprintf(buf, len, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), p->src + t->pos);
        return buf;
    }
}

static sched_status_t syntax(parser_t *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static sched_status_t syntax(parser_t *p, size_t pos, const char *fmt, ...)
{
    if (p->err) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        sched_err_set(p->err, SCHED_ESYNTAX, pos, "position %zu: %s", pos, msg);
    }
    return SCHED_ESYNTAX;
}

/* Lexes the next token without consuming it. Errors (an unterminated string,
 * a lone '&') come back as SCHED_ESYNTAX. */
static sched_status_t peek(parser_t *p, tok_t *t)
{
    skip_space(p);
    size_t i = p->pos;
    memset(t, 0, sizeof *t);
    t->pos = i;
    if (i >= p->len) {
        t->kind = T_EOF;
        return SCHED_OK;
    }
    const char *s = p->src;
    char ch = s[i];
    char nx = i + 1 < p->len ? s[i + 1] : 0;
    t->len = 1;
    switch (ch) {
    case '(':
        t->kind = T_LPAREN;
        return SCHED_OK;
    case ')':
        t->kind = T_RPAREN;
        return SCHED_OK;
    case '[':
        t->kind = T_LBRACK;
        return SCHED_OK;
    case ']':
        t->kind = T_RBRACK;
        return SCHED_OK;
    case ',':
        t->kind = T_COMMA;
        return SCHED_OK;
    case '&':
        if (nx != '&')
            return syntax(p, i, "expected '&&', found a single '&'");
        t->kind = T_AND;
        t->len = 2;
        return SCHED_OK;
    case '|':
        if (nx != '|')
            return syntax(p, i, "expected '||', found a single '|'");
        t->kind = T_OR;
        t->len = 2;
        return SCHED_OK;
    case '=':
        t->kind = T_OP;
        t->len = 2;
        if (nx == '=')
            t->op = OP_EQ;
        else if (nx == '~')
            t->op = OP_MATCHES;
        else
            return syntax(p, i, "expected '==' or '=~', found a single '='");
        return SCHED_OK;
    case '>':
    case '<':
        t->kind = T_OP;
        t->len = nx == '=' ? 2 : 1;
        t->op = ch == '>' ? (nx == '=' ? OP_GE : OP_GT) : (nx == '=' ? OP_LE : OP_LT);
        return SCHED_OK;
    case '!':
        t->kind = T_OP;
        t->len = 2;
        if (nx == '=') {
            t->op = OP_NE;
        } else if (nx == '~') {
            t->op = OP_NOT_MATCHES;
        } else if (word_at(p, i + 1, "exists")) {
            t->op = OP_NOT_EXISTS;
            t->len = 7;
        } else if (word_at(p, i + 1, "in")) {
            t->op = OP_NOT_IN;
            t->len = 3;
        } else {
            t->kind = T_BANG;
            t->len = 1;
        }
        return SCHED_OK;
    case '\'':
    case '"': {
        size_t j = i + 1;
        while (j < p->len && s[j] != ch)
            j++;
        if (j >= p->len)
            return syntax(p, i, "expected a closing %c for the string that starts here", ch);
        t->kind = T_STRING;
        t->pos = i + 1;
        t->len = j - i - 1;
        return SCHED_OK;
    }
    default:
        break;
    }
    if (!is_word_char(ch))
        return syntax(p, i, "unexpected character '%c'", ch);
    size_t j = i;
    while (j < p->len && is_word_char(s[j]))
        j++;
    t->kind = T_WORD;
    t->len = j - i;
    return SCHED_OK;
}

static void consume(parser_t *p, const tok_t *t)
{
    p->pos = t->pos + t->len + (t->kind == T_STRING ? 1 : 0);
}

static bool tok_is_kw(const parser_t *p, const tok_t *t, const char *kw)
{
    return t->kind == T_WORD && t->len == strlen(kw) && strncasecmp(p->src + t->pos, kw, t->len) == 0;
}

/* ------------------------------------------------------------------ nodes */

static void node_free(node_t *n)
{
    if (!n)
        return;
    node_free(n->l);
    node_free(n->r);
    free(n->attr_name);
    for (size_t i = 0; i < n->nvals; i++)
        free(n->vals[i].text);
    free(n->vals);
    if (n->has_re)
        regfree(&n->re);
    free(n);
}

static sched_status_t nomem(parser_t *p)
{
    sched_err_set(p->err, SCHED_ENOMEM, SIZE_MAX, "out of memory parsing a CQL expression");
    return SCHED_ENOMEM;
}

/* ------------------------------------------------------------------ dates */

/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm) */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Parses the four formats the guide lists, plus fractional seconds:
 * 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28, 2018-06-18 */
bool sched_time_parse(const char *s, int64_t *out, bool *date_only)
{
    bool ignored;
    if (!date_only)
        date_only = &ignored;
    size_t n = strlen(s);
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    *date_only = n == 10;
    size_t i = 10;
    int64_t offset = 0;
    if (n > 10) {
        if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || n < 19 || !digits(s + 11, 2, &h) || s[13] != ':' ||
            !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
            return false;
        if (h > 23 || mi > 59 || sec > 60)
            return false;
        i = 19;
        if (i < n && s[i] == '.') {
            i++;
            size_t start = i;
            while (i < n && isdigit((unsigned char)s[i]))
                i++;
            if (i == start)
                return false;
        }
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
            int oh, om;
            if (n - i != 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
                return false;
            offset = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
            i = n;
        }
        if (i != n)
            return false;
    }
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * SECONDS_PER_DAY + h * 3600 + mi * 60 + sec - offset;
    return true;
}

/* ----------------------------------------------------------------- parser */

static sched_status_t parse_or(parser_t *p, node_t **out);

/* glibc's regcomp copies a subexpression once per repetition bound and once per
 * stacked quantifier, so both are capped to keep a hostile pattern from costing
 * gigabytes (found by fuzzing: "s+++++..." doubles the tree per '+') */
#define REGEX_MAX_BOUND 16
#define REGEX_MAX_BOUNDED 2
/* '+' or {n,m} after a group copies the group: nested, each level doubles it */
#define REGEX_MAX_GROUP_REPEATS 4
/* glibc's parser and its epsilon-closure pass recurse over the tree: both are
 * kept shallow and small (an ECS attribute value is at most 128 characters) */
#define REGEX_MAX_LEN 256
#define REGEX_MAX_DEPTH 8

/* One open group of the translator: whether the alternative being read, and
 * any finished one, can match the empty string. */
typedef struct {
    bool alt_nullable;
    bool any_alt_nullable;
} regex_group_t;

/* The translator's walk over a pattern: the atom just read (its quantifier
 * may still follow) and the stack of open groups. */
typedef struct {
    regex_group_t groups[REGEX_MAX_DEPTH + 1];
    int depth;
    bool atom_pending;
    bool atom_nullable;
} regex_walk_t;

/* the pending atom joins its alternative: the alternative stays nullable only if the atom is */
static void regex_walk_commit(regex_walk_t *w)
{
    if (w->atom_pending)
        w->groups[w->depth].alt_nullable = w->groups[w->depth].alt_nullable && w->atom_nullable;
    w->atom_pending = false;
}

static void regex_walk_atom(regex_walk_t *w, bool nullable)
{
    regex_walk_commit(w);
    w->atom_pending = true;
    w->atom_nullable = nullable;
}

/* Translates a Java regex into an anchored POSIX ERE: Java's shorthand classes
 * become bracket expressions; the lazy and possessive markers (+? ++ *? ...)
 * are dropped, which cannot change whether a whole value matches except for
 * possessive backtracking. Refused, because glibc's compile time explodes on
 * them (fuzzing found each): a quantifier on a quantifier, large or many
 * {n,m} bounds, many repeated groups, a repeated part that can match the
 * empty string ("(a|)+", "(a*)*": glibc's epsilon closures then recurse
 * exponentially), deep nesting, long patterns. Back-references are refused
 * (they make matching exponential) and parentheses must balance (an
 * unmatched ')' would close the anchoring group). NULL with *why set on a
 * refusal, NULL alone when out of memory; *where gets the offset of the
 * refused character. */
static char *java_regex_to_posix(const char *re, const char **why, size_t *where)
{
    size_t n = strlen(re);
    *why = NULL;
    if (n > REGEX_MAX_LEN) {
        *why = "a regular expression may be at most 256 characters long";
        *where = REGEX_MAX_LEN;
        return NULL;
    }
    /* the longest expansion, "\\D" -> "[^[:digit:]]", grows 2 bytes into 12; plus "^(" ")$" */
    char *out = malloc(n * 6 + 8);
    if (!out)
        return NULL;
    char *o = out;
    *o++ = '^';
    *o++ = '(';
    bool prev_quant = false, prev_close = false;
    int bounded = 0, group_repeats = 0;
    regex_walk_t w = {.groups = {{.alt_nullable = true}}};
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        bool after_group = prev_close;
        prev_close = false;
        if (c == '\\' && i + 1 < n) {
            const char *rep = NULL;
            char e = re[i + 1];
            switch (e) {
            case 'd':
                rep = "[[:digit:]]";
                break;
            case 'D':
                rep = "[^[:digit:]]";
                break;
            case 'w':
                rep = "[[:alnum:]_]";
                break;
            case 'W':
                rep = "[^[:alnum:]_]";
                break;
            case 's':
                rep = "[[:space:]]";
                break;
            case 'S':
                rep = "[^[:space:]]";
                break;
            default:
                break;
            }
            if (e >= '1' && e <= '9') {
                *why = "back-references are not supported";
                *where = i;
                free(out);
                return NULL;
            }
            if (rep) {
                size_t k = strlen(rep);
                memcpy(o, rep, k);
                o += k;
            } else {
                *o++ = re[i];
                *o++ = re[i + 1];
            }
            /* glibc's \b \B \< \> \` \' match a position, not a character */
            regex_walk_atom(&w, strchr("bB<>`'", e) != NULL);
            i++;
            prev_quant = false;
            continue;
        }
        if (c == '[') {
            /* a bracket expression is copied as is: ']' first is literal, [:class:] holds a ']' */
            size_t j = i + 1;
            if (j < n && re[j] == '^')
                j++;
            if (j < n && re[j] == ']')
                j++;
            while (j < n && re[j] != ']') {
                if (re[j] == '[' && j + 1 < n && (re[j + 1] == ':' || re[j + 1] == '.' || re[j + 1] == '=')) {
                    const char *close = strstr(re + j + 2, (char[]){re[j + 1], ']', 0});
                    j = close ? (size_t)(close - re) + 2 : n;
                    continue;
                }
                j++;
            }
            size_t stop = j < n ? j + 1 : n; /* an unclosed bracket is left for regcomp to refuse */
            memcpy(o, re + i, stop - i);
            o += stop - i;
            i = stop - 1;
            regex_walk_atom(&w, false);
            prev_quant = false;
            continue;
        }
        if ((c == '+' || c == '{') && after_group && ++group_repeats > REGEX_MAX_GROUP_REPEATS) {
            *why = "at most 4 groups may be repeated with + or {n,m}";
            *where = i;
            free(out);
            return NULL;
        }
        if ((c == '*' || c == '+' || c == '{') && !prev_quant && w.atom_pending && w.atom_nullable) {
            *why = "a repeated part must not be able to match the empty string";
            *where = i;
            free(out);
            return NULL;
        }
        if (c == '*' || c == '+' || c == '?') {
            if (prev_quant && c == '*') {
                *why = "a quantifier cannot follow another";
                *where = i;
                free(out);
                return NULL;
            }
            if (!prev_quant) {
                *o++ = c;
                if (c != '+')
                    w.atom_nullable = true;
            }
            prev_quant = true;
            continue;
        }
        if (c == '{') {
            size_t j = i + 1;
            unsigned long lo = 0, hi = 0;
            bool digits_lo = false, digits_hi = false;
            while (j < n && re[j] >= '0' && re[j] <= '9' && lo <= REGEX_MAX_BOUND)
                lo = lo * 10 + (unsigned long)(re[j++] - '0'), digits_lo = true;
            hi = lo;
            if (j < n && re[j] == ',') {
                j++;
                hi = 0;
                while (j < n && re[j] >= '0' && re[j] <= '9' && hi <= REGEX_MAX_BOUND)
                    hi = hi * 10 + (unsigned long)(re[j++] - '0'), digits_hi = true;
                if (!digits_hi)
                    hi = lo; /* {n,} is open-ended: it costs like {n} */
            }
            if (prev_quant || !digits_lo || j >= n || re[j] != '}' || lo > REGEX_MAX_BOUND || hi > REGEX_MAX_BOUND ||
                ++bounded > REGEX_MAX_BOUNDED) {
                *why = prev_quant ? "a quantifier cannot follow another"
                                  : "a {n,m} bound must be well formed, at most 16, and used at most twice";
                *where = i;
                free(out);
                return NULL;
            }
            memcpy(o, re + i, j + 1 - i);
            o += j + 1 - i;
            i = j;
            if (lo == 0)
                w.atom_nullable = true;
            prev_quant = true;
            continue;
        }
        if (c == '(') {
            regex_walk_commit(&w);
            if (w.depth == REGEX_MAX_DEPTH) {
                *why = "groups may be nested at most 8 deep";
                *where = i;
                free(out);
                return NULL;
            }
            w.groups[++w.depth] = (regex_group_t){.alt_nullable = true};
        } else if (c == '|') {
            regex_walk_commit(&w);
            regex_group_t *g = &w.groups[w.depth];
            g->any_alt_nullable = g->any_alt_nullable || g->alt_nullable;
            g->alt_nullable = true;
        } else if (c == ')') {
            regex_walk_commit(&w);
            if (w.depth == 0) {
                *why = "a ')' has no '(' to close";
                *where = i;
                free(out);
                return NULL;
            }
            regex_group_t *g = &w.groups[w.depth--];
            regex_walk_atom(&w, g->any_alt_nullable || g->alt_nullable);
        } else {
            /* ^ and $ match a position; anything else one character */
            regex_walk_atom(&w, c == '^' || c == '$');
        }
        *o++ = c;
        prev_quant = false;
        prev_close = c == ')';
    }
    if (w.depth != 0) {
        *why = "a '(' is never closed";
        *where = n;
        free(out);
        return NULL;
    }
    *o++ = ')';
    *o++ = '$';
    *o = 0;
    return out;
}

/* reads one value token into v; `what` names the context for errors */
static sched_status_t parse_value(parser_t *p, node_t *n, value_t *v, const char *what)
{
    tok_t t;
    sched_status_t st = peek(p, &t);
    if (st)
        return st;
    char buf[64];
    if (t.kind != T_WORD && t.kind != T_STRING)
        return syntax(p, t.pos, "expected %s after '%s', found %s", what, op_names[n->op], tok_desc(p, &t, buf, sizeof buf));
    consume(p, &t);
    v->text = strndup(p->src + t.pos, t.len);
    if (!v->text)
        return nomem(p);
    v->wildcard = strchr(v->text, '*') != NULL;
    if (n->subject == SUBJ_REGISTERED_AT) {
        if (!sched_time_parse(v->text, &v->number, &v->date_only))
            return syntax(p, t.pos,
                          "expected a date like 2018-06-18, 2018-06-18T22:28:28, 2018-06-18T22:28:28Z or "
                          "2018-06-18T22:28:28+00:00, found '%.40s'",
                          v->text);
    } else if (n->subject == SUBJ_RUNNING_TASKS) {
        char *end;
        errno = 0;
        long long x = strtoll(v->text, &end, 10);
        if (errno || *end || end == v->text || x < 0)
            return syntax(p, t.pos, "expected a whole number of tasks, found '%.40s'", v->text);
        v->number = x;
    }
    return SCHED_OK;
}

/* The subject: attribute:NAME or one of subject_names, into n; *subject_pos
 * is where it starts, for the operator's messages. */
static sched_status_t parse_subject(parser_t *p, node_t *n, size_t *subject_pos)
{
    tok_t t;
    sched_status_t st = peek(p, &t);
    if (st)
        return st;
    char buf[64];
    static const char expected_subject[] = "a subject (attribute:NAME, ec2InstanceId, agentConnected, agentVersion, "
                                           "registeredAt, runningTasksCount, task:group), 'not' or '('";
    if (t.kind != T_WORD)
        return syntax(p, t.pos, "expected %s, found %s", expected_subject, tok_desc(p, &t, buf, sizeof buf));
    const char *w = p->src + t.pos;
    *subject_pos = t.pos;
    static const char attr_prefix[] = "attribute:";
    if (t.len > sizeof attr_prefix - 1 && strncmp(w, attr_prefix, sizeof attr_prefix - 1) == 0) {
        n->subject = SUBJ_ATTRIBUTE;
        n->attr_name = strndup(w + sizeof attr_prefix - 1, t.len - (sizeof attr_prefix - 1));
        if (!n->attr_name)
            return nomem(p);
    } else {
        bool found = false;
        for (subject_t s = SUBJ_EC2_ID; s <= SUBJ_TASK_GROUP; s++) {
            if (t.len == strlen(subject_names[s]) && strncmp(w, subject_names[s], t.len) == 0) {
                n->subject = s;
                found = true;
            }
        }
        if (!found) {
            if (t.len == sizeof attr_prefix - 1 && strncmp(w, attr_prefix, t.len) == 0)
                return syntax(p, t.pos, "expected an attribute name after 'attribute:'");
            return syntax(p, t.pos, "expected %s, found %s", expected_subject, tok_desc(p, &t, buf, sizeof buf));
        }
    }
    if (n->subject == SUBJ_TASK_GROUP || n->subject == SUBJ_RUNNING_TASKS)
        p->depends_on_tasks = true;
    if (n->subject == SUBJ_AGENT_CONNECTED)
        p->reads_agent = true;
    consume(p, &t);
    return SCHED_OK;
}

/* The operator after the subject: a symbol or a word, valid for the subject. */
static sched_status_t parse_operator(parser_t *p, node_t *n, size_t subject_pos)
{
    tok_t t;
    sched_status_t st = peek(p, &t);
    if (st)
        return st;
    char buf[64];
    static const struct {
        const char *word;
        op_t op;
    } op_words[] = {
        {"equals", OP_EQ},    {"not_equals", OP_NE},      {"greater_than", OP_GT}, {"greater_than_equal", OP_GE},
        {"less_than", OP_LT}, {"less_than_equal", OP_LE}, {"exists", OP_EXISTS},   {"not_exists", OP_NOT_EXISTS},
        {"in", OP_IN},        {"not_in", OP_NOT_IN},      {"matches", OP_MATCHES}, {"not_matches", OP_NOT_MATCHES},
    };
    bool have_op = false;
    if (t.kind == T_OP) {
        n->op = t.op;
        have_op = true;
    } else if (t.kind == T_WORD) {
        for (size_t i = 0; i < sizeof op_words / sizeof op_words[0]; i++) {
            if (tok_is_kw(p, &t, op_words[i].word)) {
                n->op = op_words[i].op;
                have_op = true;
            }
        }
    }
    if (!have_op)
        return syntax(
            p, t.pos, "expected an operator (==, !=, >, >=, <, <=, exists, !exists, in, not_in, =~, !~) after %.*s, found %s",
            (int)(t.pos - subject_pos > 60 ? 60 : t.pos - subject_pos), p->src + subject_pos, tok_desc(p, &t, buf, sizeof buf));
    if (!(subject_ops[n->subject] & B(n->op))) {
        char valid[128] = "";
        for (op_t o = 0; o < OP_COUNT; o++) {
            if (subject_ops[n->subject] & B(o)) {
                strcat(valid, *valid ? ", " : "");
                strcat(valid, op_names[o]);
            }
        }
        return syntax(p, t.pos, "operator '%s' is not valid for %s; expected one of %s", op_names[n->op], subject_names[n->subject],
                      valid);
    }
    consume(p, &t);
    return SCHED_OK;
}

/* The argument list of in and not_in: [value, ...]. */
static sched_status_t parse_list(parser_t *p, node_t *n)
{
    tok_t t;
    sched_status_t st;
    char buf[64];
    if ((st = peek(p, &t)))
        return st;
    if (t.kind != T_LBRACK)
        return syntax(p, t.pos, "expected '[' to start the argument list of '%s', found %s", op_names[n->op],
                      tok_desc(p, &t, buf, sizeof buf));
    consume(p, &t);
    size_t cap = 0;
    for (;;) {
        if (n->nvals == cap) {
            if (cap >= CQL_MAX_LIST)
                return syntax(p, p->pos, "argument list longer than %d values", CQL_MAX_LIST);
            cap = cap ? cap * 2 : 4;
            value_t *vals = realloc(n->vals, cap * sizeof *vals);
            if (!vals)
                return nomem(p);
            n->vals = vals;
        }
        memset(&n->vals[n->nvals], 0, sizeof n->vals[0]);
        n->nvals++;
        if ((st = parse_value(p, n, &n->vals[n->nvals - 1], "a value")))
            return st;
        if ((st = peek(p, &t)))
            return st;
        if (t.kind == T_RBRACK) {
            consume(p, &t);
            break;
        }
        if (t.kind != T_COMMA)
            return syntax(p, t.pos, "expected ',' or ']' in the argument list, found %s", tok_desc(p, &t, buf, sizeof buf));
        consume(p, &t);
    }
    return SCHED_OK;
}

/* The regular expression of matches and not_matches, quoted or bare, compiled into n. */
static sched_status_t parse_regex(parser_t *p, node_t *n)
{
    tok_t t;
    sched_status_t st;
    char buf[64];
    /* a bare regex runs to the next space outside parentheses, so (a|b).* needs no quotes */
    skip_space(p);
    size_t start = p->pos;
    if ((st = peek(p, &t)))
        return st;
    char *text;
    if (t.kind == T_STRING) {
        consume(p, &t);
        text = strndup(p->src + t.pos, t.len);
    } else {
        size_t j = start;
        int depth = 0;
        while (j < p->len && !isspace((unsigned char)p->src[j])) {
            if (p->src[j] == '\\' && j + 1 < p->len && !isspace((unsigned char)p->src[j + 1])) {
                j += 2;
                continue;
            }
            if (p->src[j] == '(')
                depth++;
            if (p->src[j] == ')' && --depth < 0)
                break;
            j++;
        }
        if (j == start)
            return syntax(p, start, "expected a regular expression after '%s', found %s", op_names[n->op],
                          tok_desc(p, &t, buf, sizeof buf));
        text = strndup(p->src + start, j - start);
        p->pos = j;
    }
    if (!text)
        return nomem(p);
    n->vals[0].text = text;
    const char *refused;
    size_t at = 0;
    char *posix = java_regex_to_posix(text, &refused, &at);
    if (!posix && refused)
        return syntax(p, start + (t.kind == T_STRING ? 1 : 0) + at, "expected a simpler regular expression: %s", refused);
    if (!posix)
        return nomem(p);
    int rc = regcomp(&n->re, posix, REG_EXTENDED | REG_NOSUB);
    free(posix);
    if (rc != 0) {
        char why[96];
        regerror(rc, &n->re, why, sizeof why);
        return syntax(p, start, "expected a valid regular expression: %s", why);
    }
    n->has_re = true;
    return SCHED_OK;
}

/* subject operator [argument] */
static sched_status_t parse_comparison(parser_t *p, node_t **out)
{
    node_t *n = calloc(1, sizeof *n);
    if (!n)
        return nomem(p);
    n->kind = N_CMP;
    size_t subject_pos = 0;
    sched_status_t st = parse_subject(p, n, &subject_pos);
    if (!st)
        st = parse_operator(p, n, subject_pos);
    if (st || n->op == OP_EXISTS || n->op == OP_NOT_EXISTS) {
        /* no argument */
    } else if (n->op == OP_IN || n->op == OP_NOT_IN) {
        st = parse_list(p, n);
    } else if (!(n->vals = calloc(1, sizeof *n->vals))) {
        st = nomem(p);
    } else {
        n->nvals = 1;
        st = n->op == OP_MATCHES || n->op == OP_NOT_MATCHES ? parse_regex(p, n) : parse_value(p, n, &n->vals[0], "a value");
    }
    if (st) {
        node_free(n);
        return st;
    }
    *out = n;
    return SCHED_OK;
}

static sched_status_t parse_unary(parser_t *p, node_t **out)
{
    tok_t t;
    sched_status_t st = peek(p, &t);
    if (st)
        return st;
    if (++p->depth > CQL_MAX_DEPTH)
        return syntax(p, t.pos, "expressions nested deeper than %d levels", CQL_MAX_DEPTH);
    if (t.kind == T_BANG || tok_is_kw(p, &t, "not")) {
        consume(p, &t);
        node_t *inner = NULL;
        if ((st = parse_unary(p, &inner)))
            return st;
        node_t *n = calloc(1, sizeof *n);
        if (!n) {
            node_free(inner);
            return nomem(p);
        }
        n->kind = N_NOT;
        n->l = inner;
        *out = n;
        p->depth--;
        return SCHED_OK;
    }
    if (t.kind == T_LPAREN) {
        consume(p, &t);
        node_t *inner = NULL;
        if ((st = parse_or(p, &inner)))
            return st;
        tok_t c;
        if ((st = peek(p, &c))) {
            node_free(inner);
            return st;
        }
        if (c.kind != T_RPAREN) {
            char buf[64];
            node_free(inner);
            return syntax(p, c.pos, "expected ')' to close the '(' at position %zu, found %s", t.pos,
                          tok_desc(p, &c, buf, sizeof buf));
        }
        consume(p, &c);
        *out = inner;
        p->depth--;
        return SCHED_OK;
    }
    st = parse_comparison(p, out);
    p->depth--;
    return st;
}

static sched_status_t parse_binary(parser_t *p, node_t **out, bool is_or)
{
    node_t *left = NULL;
    sched_status_t st = is_or ? parse_binary(p, &left, false) : parse_unary(p, &left);
    if (st)
        return st;
    for (;;) {
        tok_t t;
        if ((st = peek(p, &t))) {
            node_free(left);
            return st;
        }
        bool match = is_or ? (t.kind == T_OR || tok_is_kw(p, &t, "or")) : (t.kind == T_AND || tok_is_kw(p, &t, "and"));
        if (!match)
            break;
        consume(p, &t);
        node_t *right = NULL;
        st = is_or ? parse_binary(p, &right, false) : parse_unary(p, &right);
        if (st) {
            node_free(left);
            return st;
        }
        node_t *n = calloc(1, sizeof *n);
        if (!n) {
            node_free(left);
            node_free(right);
            return nomem(p);
        }
        n->kind = is_or ? N_OR : N_AND;
        n->l = left;
        n->r = right;
        left = n;
    }
    *out = left;
    return SCHED_OK;
}

static sched_status_t parse_or(parser_t *p, node_t **out)
{
    return parse_binary(p, out, true);
}

sched_status_t sched_cql_parse(const char *text, sched_cql_t **out, sched_err_t *err)
{
    *out = NULL;
    parser_t p = {.src = text, .len = strlen(text), .err = err};
    if (p.len > SCHED_CQL_MAX_LEN) {
        sched_err_set(err, SCHED_ESYNTAX, SCHED_CQL_MAX_LEN, "expression is %zu characters long; at most %u are allowed", p.len,
                      SCHED_CQL_MAX_LEN);
        return SCHED_ESYNTAX;
    }
    node_t *root = NULL;
    sched_status_t st = parse_or(&p, &root);
    if (st)
        return st;
    tok_t t;
    if ((st = peek(&p, &t))) {
        node_free(root);
        return st;
    }
    if (t.kind != T_EOF) {
        char buf[64];
        node_free(root);
        return syntax(&p, t.pos, "expected 'and', 'or', ')' or the end of the expression, found %s",
                      tok_desc(&p, &t, buf, sizeof buf));
    }
    sched_cql_t *q = malloc(sizeof *q);
    if (!q) {
        node_free(root);
        return nomem(&p);
    }
    q->root = root;
    q->depends_on_tasks = p.depends_on_tasks;
    q->reads_agent = p.reads_agent;
    *out = q;
    return SCHED_OK;
}

void sched_cql_free(sched_cql_t *q)
{
    if (!q)
        return;
    node_free(q->root);
    free(q);
}

bool sched_cql_depends_on_tasks(const sched_cql_t *q)
{
    return q->depends_on_tasks;
}

bool sched_cql_is_static(const sched_cql_t *q)
{
    return !q->depends_on_tasks && !q->reads_agent;
}

/* ------------------------------------------------------------- evaluation */

/* glob with '*' only, the wildcard ECS documents for values */
static bool glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == *s) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == 0;
}

static bool parse_number(const char *s, double *out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno)
        return false;
    *out = d;
    return true;
}

static bool is_version(const char *s)
{
    if (!isdigit((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && *s != '.')
            return false;
    return true;
}

/* 1.14.5 < 1.14.10: numeric per component, missing components are 0 */
static int version_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        unsigned long long x = strtoull(a, (char **)&a, 10), y = strtoull(b, (char **)&b, 10);
        if (x != y)
            return x < y ? -1 : 1;
        if (*a == '.')
            a++;
        if (*b == '.')
            b++;
    }
    return 0;
}

/* ordering for > >= < <=: numbers as numbers, versions as versions, else bytes */
static int value_cmp(const char *a, const char *b)
{
    double x, y;
    if (parse_number(a, &x) && parse_number(b, &y))
        return x < y ? -1 : x > y;
    if (is_version(a) && is_version(b))
        return version_cmp(a, b);
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

static bool text_eq(const node_t *n, const value_t *v, const char *s)
{
    if (v->wildcard)
        return glob_match(v->text, s);
    if (n->subject == SUBJ_AGENT_CONNECTED)
        return strcasecmp(v->text, s) == 0;
    if (n->subject == SUBJ_AGENT_VERSION)
        return is_version(v->text) && is_version(s) ? version_cmp(v->text, s) == 0 : strcmp(v->text, s) == 0;
    if (n->subject == SUBJ_RUNNING_TASKS)
        return strtoll(s, NULL, 10) == v->number;
    return strcmp(v->text, s) == 0;
}

static bool ordered(op_t op, int c)
{
    switch (op) {
    case OP_GT:
        return c > 0;
    case OP_GE:
        return c >= 0;
    case OP_LT:
        return c < 0;
    case OP_LE:
        return c <= 0;
    default:
        return false;
    }
}

/* one value of the subject against the comparison */
static bool cmp_one(const node_t *n, const char *s, int64_t num)
{
    switch (n->op) {
    case OP_EQ:
    case OP_NE: {
        bool eq;
        if (n->subject == SUBJ_REGISTERED_AT)
            eq = n->vals[0].date_only ? num >= n->vals[0].number && num < n->vals[0].number + SECONDS_PER_DAY
                                      : num == n->vals[0].number;
        else
            eq = text_eq(n, &n->vals[0], s);
        return n->op == OP_EQ ? eq : !eq;
    }
    case OP_GT:
    case OP_GE:
    case OP_LT:
    case OP_LE: {
        int c;
        if (n->subject == SUBJ_REGISTERED_AT || n->subject == SUBJ_RUNNING_TASKS)
            c = num < n->vals[0].number ? -1 : num > n->vals[0].number;
        else if (n->subject == SUBJ_AGENT_VERSION && is_version(s) && is_version(n->vals[0].text))
            c = version_cmp(s, n->vals[0].text);
        else
            c = value_cmp(s, n->vals[0].text);
        return ordered(n->op, c);
    }
    case OP_IN:
    case OP_NOT_IN: {
        bool any = false;
        for (size_t i = 0; i < n->nvals && !any; i++) {
            if (n->subject == SUBJ_REGISTERED_AT)
                any = num == n->vals[i].number;
            else
                any = text_eq(n, &n->vals[i], s);
        }
        return n->op == OP_IN ? any : !any;
    }
    case OP_MATCHES:
    case OP_NOT_MATCHES: {
        bool m = regexec(&n->re, s, 0, NULL, 0) == 0;
        return n->op == OP_MATCHES ? m : !m;
    }
    default:
        return false;
    }
}

static bool eval_cmp(const node_t *n, const sched_instance_t *in)
{
    char buf[32];
    const char *s = NULL;
    int64_t num = 0;
    switch (n->subject) {
    case SUBJ_ATTRIBUTE: {
        const sched_attr_t *a = sched_instance_find_attr(in, n->attr_name);
        if (!a)
            return n->op == OP_NOT_EXISTS;
        s = a->value ? a->value : "";
        break;
    }
    case SUBJ_EC2_ID:
        s = in->ec2_id;
        break;
    case SUBJ_AGENT_CONNECTED:
        s = in->agent_connected ? "true" : "false";
        break;
    case SUBJ_AGENT_VERSION:
        s = in->agent_version;
        break;
    case SUBJ_REGISTERED_AT:
        if (in->registered_at == SCHED_TIME_UNKNOWN)
            return n->op == OP_NOT_EXISTS;
        num = in->registered_at;
        s = "";
        break;
    case SUBJ_RUNNING_TASKS:
        num = (int64_t)(in->ntasks + in->untracked_running);
        snprintf(buf, sizeof buf, "%lld", (long long)num);
        s = buf;
        break;
    case SUBJ_TASK_GROUP: {
        if (n->op == OP_EXISTS || n->op == OP_NOT_EXISTS)
            return (in->ntasks > 0) == (n->op == OP_EXISTS);
        for (size_t i = 0; i < in->ntasks; i++)
            if (cmp_one(n, in->tasks[i].group, 0))
                return true;
        return false;
    }
    }
    if (!s)
        return n->op == OP_NOT_EXISTS;
    if (n->op == OP_EXISTS)
        return true;
    if (n->op == OP_NOT_EXISTS)
        return false;
    return cmp_one(n, s, num);
}

static bool eval(const node_t *n, const sched_instance_t *in)
{
    switch (n->kind) {
    case N_OR:
        return eval(n->l, in) || eval(n->r, in);
    case N_AND:
        return eval(n->l, in) && eval(n->r, in);
    case N_NOT:
        return !eval(n->l, in);
    case N_CMP:
        return eval_cmp(n, in);
    }
    return false;
}

bool sched_cql_matches(const sched_cql_t *q, const sched_cluster_t *c, size_t i)
{
    if (!q || i >= c->n)
        return false;
    return eval(q->root, &c->inst[i]);
}
