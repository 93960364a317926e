/*
 * Who is calling, and may they? The registry API's credentials (Basic with a
 * registry token as password, or Bearer with the same token) become a
 * principal; the principal's identity policies and the repository's policy
 * decide each action, with the request's context.
 *
 * Parsed policies are cached per event-loop thread (no locks) and keyed by
 * the identity store's generation, which every change of a user, key or
 * policy bumps: a request reads the generation from its own snapshot, so it
 * never evaluates a policy older than the snapshot it reads data from.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "server/metrics_internal.h"

/* Parsed policies a thread keeps, in two pools: the identity policies of
 * principals, and repositories' policies. One check uses one entry of each,
 * so a lookup in one pool can never evict the entry the other just returned
 * (with one shared pool, the repository lookup recycled the caller's own
 * identity entry under churn, and the request was judged on the repository
 * policy alone: an explicit Deny stopped applying). */
#define AUTHZ_IDENTITY_ENTRIES 64
#define AUTHZ_REPOSITORY_ENTRIES 256

typedef struct {
    char key[AUTH_PRINCIPAL_ARN_MAX + 8]; /* the principal's ARN or the repository's name; "" when free */
    size_t n;
    policy_named_t named[AUTH_MAX_ATTACHED_POLICIES];
    char names[AUTH_MAX_ATTACHED_POLICIES][AUTH_POLICY_NAME_MAX + 16];
    policy_t *policies[AUTH_MAX_ATTACHED_POLICIES];
} cache_entry_t;

/* Round-robin replacement; an entry returned by pool_get stays valid until
 * the next pool_get on the same pool. */
typedef struct {
    size_t size;
    size_t next_victim;
    cache_entry_t *entries;
} cache_pool_t;

/* Principals a thread keeps: a token names its principal by ARN, and reading
 * and parsing its record on every request cost a third of a manifest GET. */
#define AUTHZ_PRINCIPALS 64

struct authz_cache {
    uint64_t generation;
    cache_pool_t identities, repositories;
    cache_entry_t identity_entries[AUTHZ_IDENTITY_ENTRIES];
    cache_entry_t repository_entries[AUTHZ_REPOSITORY_ENTRIES];
    size_t next_principal;
    bool principal_used[AUTHZ_PRINCIPALS];
    auth_principal_t principals[AUTHZ_PRINCIPALS];
};

static void entry_clear(cache_entry_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        policy_free(e->policies[i]);
    e->n = 0;
    e->key[0] = '\0';
}

static void pool_clear(cache_pool_t *p)
{
    for (size_t i = 0; i < p->size; i++)
        entry_clear(&p->entries[i]);
}

authz_cache_t *authz_cache_new(void)
{
    authz_cache_t *c = calloc(1, sizeof(authz_cache_t));
    if (!c)
        return NULL;
    c->identities = (cache_pool_t){.size = AUTHZ_IDENTITY_ENTRIES, .entries = c->identity_entries};
    c->repositories = (cache_pool_t){.size = AUTHZ_REPOSITORY_ENTRIES, .entries = c->repository_entries};
    return c;
}

void authz_cache_free(authz_cache_t *c)
{
    if (!c)
        return;
    pool_clear(&c->identities);
    pool_clear(&c->repositories);
    free(c);
}

/* The entry for `key`; `*fresh` when it was just made (empty, to be filled). */
static cache_entry_t *pool_get(cache_pool_t *p, const char *key, bool *fresh)
{
    for (size_t i = 0; i < p->size; i++) {
        if (strcmp(p->entries[i].key, key) == 0) {
            *fresh = false;
            return &p->entries[i];
        }
    }
    cache_entry_t *e = &p->entries[p->next_victim];
    p->next_victim = (p->next_victim + 1) % p->size;
    entry_clear(e);
    snprintf(e->key, sizeof(e->key), "%s", key);
    *fresh = true;
    return e;
}

static bool entry_add(cache_entry_t *e, const char *name, const char *doc, size_t len, policy_kind_t kind)
{
    if (e->n >= AUTH_MAX_ATTACHED_POLICIES)
        return false;
    policy_err_t perr;
    policy_t *p = policy_parse(doc, len, kind, &perr);
    if (!p) {
        /* stored documents were validated when set; one that no longer parses
         * (an older engine's document) grants nothing rather than failing all */
        fprintf(stderr, "berthd: ignoring the stored policy %s: %s\n", name, perr.msg);
        return false;
    }
    snprintf(e->names[e->n], sizeof(e->names[e->n]), "%s", name);
    e->policies[e->n] = p;
    e->named[e->n].name = e->names[e->n];
    e->named[e->n].policy = p;
    e->n++;
    return true;
}

/* The identity policies of `who`, parsed. */
static cache_entry_t *identity_policies(authz_cache_t *c, storage_records_t *rs, const auth_principal_t *who)
{
    bool fresh;
    cache_entry_t *e = pool_get(&c->identities, who->arn, &fresh);
    if (!fresh)
        return e;
    for (size_t i = 0; i < who->n_policies; i++) {
        const char *doc;
        size_t len;
        if (auth_policy_get(rs, who->policies[i], &doc, &len, NULL) == AUTH_IDENTITY_OK)
            entry_add(e, who->policies[i], doc, len, POLICY_KIND_IDENTITY);
    }
    return e;
}

static cache_entry_t *repository_policy(authz_cache_t *c, storage_records_t *rs, const char *repo)
{
    bool fresh;
    cache_entry_t *e = pool_get(&c->repositories, repo, &fresh);
    if (!fresh)
        return e;
    const char *doc;
    size_t len;
    if (auth_repository_policy_get(rs, repo, &doc, &len, NULL) == AUTH_IDENTITY_OK) {
        char name[AUTH_POLICY_NAME_MAX + 16];
        snprintf(name, sizeof(name), "repository policy of %s", repo);
        entry_add(e, name, doc, len, POLICY_KIND_RESOURCE);
    }
    return e;
}

static policy_decision_t authorize(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                   const char *action, const char *repo, const char *resource, const auth_role_trust_t *trust,
                                   const policy_context_entry_t *extra, size_t n_extra, policy_result_t *out);

/* Forgets everything parsed from an older state of the identity store. */
static void sync_generation(authz_cache_t *c, storage_records_t *rs)
{
    uint64_t gen = auth_generation(rs);
    if (gen == c->generation)
        return;
    pool_clear(&c->identities);
    pool_clear(&c->repositories);
    memset(c->principal_used, 0, sizeof(c->principal_used));
    c->generation = gen;
}

/* The principal named `arn`, as of the snapshot's generation. */
static auth_identity_status_t cached_principal(authz_cache_t *c, storage_records_t *rs, const char *arn, auth_principal_t *out,
                                               auth_err_t *err)
{
    sync_generation(c, rs);
    for (size_t i = 0; i < AUTHZ_PRINCIPALS; i++) {
        if (c->principal_used[i] && strcmp(c->principals[i].arn, arn) == 0) {
            *out = c->principals[i];
            return AUTH_IDENTITY_OK;
        }
    }
    auth_identity_status_t s = auth_principal_get_stored(rs, arn, out, err);
    if (s == AUTH_IDENTITY_OK) {
        size_t slot = c->next_principal++ % AUTHZ_PRINCIPALS;
        c->principals[slot] = *out;
        c->principal_used[slot] = true;
    }
    return s;
}

void server_resource_arn(const server_t *srv, const char *repo, char *out, size_t cap)
{
    if (repo)
        snprintf(out, cap, "arn:aws:ecr:%s:%s:repository/%s", srv->region, srv->keys.account_id, repo);
    else
        snprintf(out, cap, "*");
}

/* The peer's address as text, for aws:SourceIp. */
static void peer_ip(h2o_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    out[0] = '\0';
    if (len == 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)cap);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)cap);
}

policy_decision_t server_authorize(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                   const char *action, const char *repo, policy_result_t *out)
{
    char resource[OCI_NAME_MAX + 96];
    server_resource_arn(t->srv, repo, resource, sizeof(resource));
    return authorize(t, rd, who, req, action, repo, resource, NULL, NULL, 0, out);
}

policy_decision_t server_authorize_arn(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                       const char *action, const char *resource_arn, policy_result_t *out)
{
    return authorize(t, rd, who, req, action, NULL, resource_arn, NULL, NULL, 0, out);
}

policy_decision_t server_authorize_arn_ctx(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                           const char *action, const char *resource_arn, const policy_context_entry_t *extra,
                                           size_t n_extra, policy_result_t *out)
{
    return authorize(t, rd, who, req, action, NULL, resource_arn, NULL, extra, n_extra, out);
}

policy_decision_t server_authorize_trust(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                         const char *role_arn, const auth_role_trust_t *trust, const policy_context_entry_t *extra,
                                         size_t n_extra, policy_result_t *out)
{
    return authorize(t, rd, who, req, "sts:AssumeRole", NULL, role_arn, trust, extra, n_extra, out);
}

const char *server_caller_arn(const server_caller_t *who)
{
    return who->session_arn[0] ? who->session_arn : who->principal.arn;
}

int64_t server_auth_now(const server_t *srv)
{
    return (int64_t)time(NULL) + srv->clock_offset;
}

/* `repo`, when not NULL, brings its repository policy in; `trust`, when not
 * NULL, is a role's trust policy, judged as trust policies are (auth_trust_evaluate). */
static policy_decision_t decide(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                const char *action, const char *repo, const char *resource, const auth_role_trust_t *trust,
                                const policy_context_entry_t *extra, size_t n_extra, policy_result_t *out);

/* Every policy decision goes through here, to be counted (GET /metrics). */
static policy_decision_t authorize(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                   const char *action, const char *repo, const char *resource, const auth_role_trust_t *trust,
                                   const policy_context_entry_t *extra, size_t n_extra, policy_result_t *out)
{
    policy_decision_t d = decide(t, rd, who, req, action, repo, resource, trust, extra, n_extra, out);
    metrics_note_authz(req, action, d == POLICY_ALLOW);
    return d;
}

static policy_decision_t decide(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                const char *action, const char *repo, const char *resource, const auth_role_trust_t *trust,
                                const policy_context_entry_t *extra, size_t n_extra, policy_result_t *out)
{
    server_note_authz(req, who->anonymous ? NULL : server_caller_arn(who), action, repo); /* the access log's line */
    storage_records_t *rs = storage_reader_records(rd);
    authz_cache_t *c = t->authz;
    sync_generation(c, rs);
    cache_entry_t *ids = who->anonymous ? NULL : identity_policies(c, rs, &who->principal);
    cache_entry_t *rp = repo ? repository_policy(c, rs, repo) : NULL;

    char ip[INET6_ADDRSTRLEN], now_iso[32], epoch[24];
    peer_ip(req, ip, sizeof(ip));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(now_iso, sizeof(now_iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(epoch, sizeof(epoch), "%lld", (long long)now);
    const char *secure = req->scheme == &H2O_URL_SCHEME_HTTPS ? "true" : "false";
    const char *username = !who->anonymous && !who->principal.is_role ? who->principal.name : NULL;
    /* a role session: aws:userid is "AROA…:session" and aws:PrincipalArn the
     * role's ARN, as in IAM; resource policies match the session's ARN (a
     * Principal naming the role covers its sessions) */
    const char *userid = who->anonymous ? NULL : who->session_user_id[0] ? who->session_user_id : who->principal.id;
    const char *parn = who->anonymous ? NULL : who->principal.arn;
    const char *caller_arn = who->anonymous ? NULL : server_caller_arn(who);

    policy_context_entry_t ctx[8 + SERVER_EXTRA_CONTEXT_MAX];
    size_t n = 0;
    const char *const v_ip[] = {ip}, *const v_now[] = {now_iso}, *const v_epoch[] = {epoch}, *const v_secure[] = {secure};
    const char *const v_user[] = {username}, *const v_uid[] = {userid}, *const v_parn[] = {parn};
    struct {
        const char *key;
        const char *const *values;
        bool present;
    } all[] = {{"aws:SourceIp", v_ip, ip[0] != '\0'},   {"aws:CurrentTime", v_now, true},   {"aws:EpochTime", v_epoch, true},
               {"aws:SecureTransport", v_secure, true}, {"aws:username", v_user, username}, {"aws:userid", v_uid, userid},
               {"aws:PrincipalArn", v_parn, parn}};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i].present) {
            ctx[n].key = all[i].key;
            ctx[n].values = all[i].values;
            ctx[n].n_values = 1;
            n++;
        }
    }
    for (size_t i = 0; i < n_extra && i < SERVER_EXTRA_CONTEXT_MAX; i++)
        ctx[n++] = extra[i];
    policy_request_t preq = {.action = action,
                             .resource = resource,
                             .principal_arn = caller_arn,
                             .principal_account = t->srv->keys.account_id,
                             .context = ctx,
                             .n_context = n};
    if (trust)
        return auth_trust_evaluate(trust, resource, t->srv->keys.account_id, ids ? ids->named : NULL, ids ? ids->n : 0, action,
                                   caller_arn, ctx, n, out);
    return policy_evaluate(ids ? ids->named : NULL, ids ? ids->n : 0, rp && rp->n ? &rp->named[0] : NULL, &preq, out);
}

/* ---- the caller of the registry API ------------------------------------------------ */

server_identify_t server_identify_registry(server_t *srv, storage_reader_t *rd, h2o_req_t *req, server_caller_t *who, char *why,
                                           size_t why_cap)
{
    memset(who, 0, sizeof(*who));
    who->anonymous = true;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return SERVER_ID_NONE;
    h2o_iovec_t v = req->headers.entries[i].value;
    auth_credentials_t cred;
    auth_err_t aerr;
    if (v.len > AUTH_HEADER_MAX_BYTES || auth_parse_authorization(v.base, v.len, &cred, &aerr) != AUTH_OK) {
        snprintf(why, why_cap, "the Authorization header is malformed");
        return SERVER_ID_INVALID;
    }
    const char *token = NULL;
    size_t token_len = 0;
    if (cred.scheme == AUTH_SCHEME_BASIC && cred.user[0] == '\0' && cred.password_len == 0) {
        /* containers/image (skopeo, podman) answers a Basic challenge it has
         * no credentials for with an empty user and password: anonymous */
        return SERVER_ID_NONE;
    }
    if (cred.scheme == AUTH_SCHEME_BASIC) {
        token = cred.password;
        token_len = cred.password_len;
    } else if (cred.scheme == AUTH_SCHEME_BEARER) {
        token = cred.token;
        token_len = cred.token_len;
    } else {
        snprintf(why, why_cap,
                 "the registry takes Basic credentials (user AWS, password from 'aws ecr get-login-password') or a "
                 "Bearer token");
        return SERVER_ID_INVALID;
    }
    auth_token_claims_t claims;
    auth_status_t st = auth_token_verify(&srv->keys.token_key, token, token_len, server_auth_now(srv), &claims, &aerr);
    OPENSSL_cleanse(cred.password, cred.password_len); /* the token; the rest of the 4 KiB buffer is unused */
    if (st != AUTH_OK) {
        snprintf(why, why_cap, "%s",
                 st == AUTH_EEXPIRED ? "the registry token has expired: log in again" : "invalid username or password");
        return SERVER_ID_INVALID;
    }
    if (claims.bearer) {
        who->scoped = true;
        who->n_scopes = claims.n_scopes;
        memcpy(who->scopes, claims.scopes, claims.n_scopes * sizeof(claims.scopes[0]));
        if (claims.principal_arn[0] == '\0')
            return SERVER_ID_OK; /* an anonymous caller's Bearer token */
    }
    server_thread_t *t = (server_thread_t *)req->conn->ctx;
    /* the token names the principal by ARN and by its unique id: a principal
     * deleted and created again under the same name is another principal */
    if (cached_principal(t->authz, storage_reader_records(rd), claims.principal_arn, &who->principal, &aerr) != AUTH_IDENTITY_OK ||
        !auth_token_names(&claims, &who->principal)) {
        memset(&who->principal, 0, sizeof(who->principal));
        snprintf(why, why_cap, "the principal of this token no longer exists");
        return SERVER_ID_INVALID;
    }
    who->expires_at = claims.expires_at;
    who->anonymous = false;
    return SERVER_ID_OK;
}
