/*
 * cli/agent.c — `berth agent`: a container instance's agent, speaking the
 * agent protocol of scheduler/scheduler.h to berthd. It registers the
 * instance (or re-attaches to the one its state directory names), then
 * loops: report what is not reported yet, long-poll for work (the poll is
 * the heartbeat and carries the layers the cache holds), start the new
 * tasks (pull, then run) and stop the ones berthd says to stop.
 *
 * What it must not forget survives in STATE_DIR/state.json (written whole,
 * by rename): the instance ARN and each task with its status and whether
 * berthd has acknowledged it. After a restart the tasks it was running are
 * reported again. berthd unreachable: retries with backoff (0.5 s to 8 s);
 * an expired session is assumed again at once.
 * SIGTERM/SIGINT: stops polling and exits 0; tasks stay as they are, as with
 * ECS, whose containers keep running when its agent stops (the instance
 * shows agentConnected false until an agent polls again).
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cli/cli_internal.h"

#define AGENT_VERSION "berth-agent 0.1.0"
#define ECS_TARGET "AmazonEC2ContainerServiceV20141113"
#define ECR_TARGET "AmazonEC2ContainerRegistry_V20150921"
#define REPLY_MAX (16u << 20)
#define MAX_ATTRIBUTES 64
#define MAX_LAYERS 4096 /* SCHED_ECS_MAX_LAYERS */
#define BACKOFF_MAX_MS 8000

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

typedef struct {
    const char *endpoint, *cluster, *runtime, *region, *ca_bundle, *profile, *role_arn;
    const char *docker_host, *docker_network; /* --runtime docker */
    long long stop_timeout;
    long long poll_seconds; /* 0: berthd's default wait */
    char state_dir[2048], cache_dir[2048];
    long long cpu, memory;
    const char *attributes[MAX_ATTRIBUTES];
    size_t nattributes;
    const char *ports;
    int credentials_port; /* --credentials-port; 0: one the kernel picks */
} options_t;

typedef struct {
    options_t o;
    auth_file_credentials_t keys; /* from the environment or the credentials file */
    auth_file_credentials_t cred; /* what signs: base, or --role-arn's session */
    time_t cred_until;            /* a session's expiry (0: base credentials, which do not expire here) */
    char authority[512], base[600];
    CURL *curl;
    json_t *state; /* {"cluster", "containerInstanceArn", "tasks": {arn: {...}}} */
    char password[4096];
    time_t password_until;
    agent_creds_t *creds; /* the task role credentials endpoint (cli/agent_creds.c) */
} agent_t;

/* ------------------------------------------------------------ the state */

static int save_state(agent_t *ag, cli_err_t *e)
{
    char path[2200], tmp[2300];
    snprintf(path, sizeof(path), "%s/state.json", ag->o.state_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return cli_fail(e, "cannot write %s: %s", tmp, strerror(errno));
    /* it holds the tasks' credentials tokens */
    int bad = fchmod(fileno(f), 0600) != 0;
    bad |= json_dumpf(ag->state, f, JSON_INDENT(1) | JSON_SORT_KEYS) != 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0)
        return cli_fail(e, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

static int load_state(agent_t *ag, cli_err_t *e)
{
    char path[2200];
    snprintf(path, sizeof(path), "%s/state.json", ag->o.state_dir);
    json_error_t je;
    json_t *s = json_load_file(path, 0, &je);
    if (!s) {
        if (access(path, F_OK) == 0)
            return cli_fail(e, "%s: %s (line %d): remove it to start as a new instance", path, je.text, je.line);
        s = json_object();
    }
    if (!json_is_object(s) || (json_object_get(s, "tasks") && !json_is_object(json_object_get(s, "tasks"))))
        return json_decref(s), cli_fail(e, "%s: not the state of a berth agent: remove it to start as a new instance", path);
    const char *cl = json_string_value(json_object_get(s, "cluster"));
    if (cl && strcmp(cl, ag->o.cluster) != 0) {
        json_decref(s);
        return cli_fail(e, "%s belongs to an instance of cluster %s, not %s: use another --state-dir", path, cl, ag->o.cluster);
    }
    if (!json_object_get(s, "tasks"))
        json_object_set_new(s, "tasks", json_object());
    json_object_set_new(s, "cluster", json_string(ag->o.cluster));
    ag->state = s;
    return 0;
}

static json_t *tasks_of(agent_t *ag)
{
    return json_object_get(ag->state, "tasks");
}

/* --------------------------------------------------------- the ECS calls */

typedef struct {
    char *p;
    size_t len;
} buf_t;

static size_t on_reply(char *data, size_t size, size_t n, void *user)
{
    buf_t *b = user;
    size_t add = size * n;
    if (b->len + add > REPLY_MAX)
        return 0;
    char *p = realloc(b->p, b->len + add + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, add);
    b->p = p;
    b->len += add;
    p[b->len] = '\0';
    return add;
}

static int on_progress(void *p, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)p, (void)a, (void)b, (void)c, (void)d;
    return stopping ? 1 : 0; /* SIGTERM cuts a long poll short */
}

/* One signed POST to the endpoint: body_text with content type ctype,
 * X-Amz-Target target (NULL: none), signed for `signing` with credentials c.
 * 0 with *reply (the JSON document); 1: the service refused (etype and e->msg
 * say why); -1: unreachable, or a reply that is not one. */
static int post(agent_t *ag, const auth_file_credentials_t *c, const char *signing, const char *target, const char *ctype,
                const char *body_text, long timeout_s, json_t **reply, char *etype, size_t etlen, const char *what, cli_err_t *e)
{
    *reply = NULL;
    if (etype)
        etype[0] = '\0';
    bool tok = c->session_token[0] != '\0';
    auth_header_t sh[4] = {{"host", 4, ag->authority, strlen(ag->authority)}, {"content-type", 12, ctype, strlen(ctype)}};
    size_t nsh = 2;
    if (target)
        sh[nsh++] = (auth_header_t){"x-amz-target", 12, target, strlen(target)};
    if (tok)
        sh[nsh++] = (auth_header_t){"x-amz-security-token", 20, c->session_token, strlen(c->session_token)};
    auth_http_request_t hr = {.method = "POST",
                              .path = "/",
                              .path_len = 1,
                              .headers = sh,
                              .n_headers = nsh,
                              .body = body_text,
                              .body_len = strlen(body_text)};
    char amz_date[17], authorization[1024];
    auth_err_t aerr;
    if (auth_sigv4_sign(&hr, c->access_key_id, c->secret, strlen(c->secret), ag->o.region, signing, (int64_t)time(NULL), amz_date,
                        authorization, sizeof(authorization), &aerr) != AUTH_OK)
        return cli_fail(e, "cannot sign %s: %s", what, aerr.msg), -1;
    char line[AUTH_FILE_SESSION_TOKEN_MAX + 64];
    struct curl_slist *h = NULL;
    const char *fmt[] = {"Host: %s",         "Content-Type: %s",         "X-Amz-Date: %s", "Authorization: %s",
                         "X-Amz-Target: %s", "X-Amz-Security-Token: %s", "Accept: %s",     "Expect:%s"};
    const char *val[] = {ag->authority, ctype, amz_date, authorization, target, c->session_token, "application/json", ""};
    for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
        if ((i == 4 && !target) || (i == 5 && !tok))
            continue;
        snprintf(line, sizeof(line), fmt[i], val[i]);
        struct curl_slist *n = curl_slist_append(h, line);
        if (!n) {
            curl_slist_free_all(h);
            return cli_fail(e, "out of memory"), -1;
        }
        h = n;
    }
    OPENSSL_cleanse(authorization, sizeof(authorization));
    OPENSSL_cleanse(line, sizeof(line));
    buf_t b = {0};
    char cerr[CURL_ERROR_SIZE] = "";
    CURL *cu = ag->curl;
    curl_easy_reset(cu);
    curl_easy_setopt(cu, CURLOPT_URL, ag->base);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body_text);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    if (ag->o.ca_bundle)
        curl_easy_setopt(cu, CURLOPT_CAINFO, ag->o.ca_bundle);
    CURLcode cc = curl_easy_perform(cu);
    long status = 0;
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    int rc;
    json_t *doc = cc == CURLE_OK && b.p ? json_loadb(b.p, b.len, 0, NULL) : NULL;
    /* the JSON protocol's error, or the query protocol's {"Error": {"Code", "Message"}} */
    json_t *qerr = json_object_get(doc, "Error");
    const char *type = json_string_value(json_object_get(doc, "__type")) ?: json_string_value(json_object_get(qerr, "Code"));
    const char *msg = json_string_value(json_object_get(doc, "message")) ?: json_string_value(json_object_get(qerr, "Message"));
    if (cc != CURLE_OK) {
        rc = -1;
        cli_fail(e, "%s %s: %s", ag->base, what, cerr[0] ? cerr : curl_easy_strerror(cc));
    } else if (!json_is_object(doc)) {
        rc = -1; /* a proxy's page, a half reply: try again later */
        cli_fail(e, "%s %s: HTTP %ld and not an AWS reply", ag->base, what, status);
    } else if (status != 200) {
        rc = status >= 500 ? -1 : 1;
        if (etype)
            snprintf(etype, etlen, "%s", type ? type : "");
        cli_fail(e, "%s: %s: %s", what, type ? type : "error", msg ? msg : "(no message)");
        if (type && strcmp(type, "ExpiredTokenException") == 0)
            ag->cred_until = 1; /* the session is over: the next call assumes the role again */
    } else {
        rc = 0;
        *reply = json_incref(doc);
    }
    json_decref(doc);
    if (b.p)
        OPENSSL_cleanse(b.p, b.len); /* AssumeRole's and GetAuthorizationToken's replies are credentials */
    free(b.p);
    return rc;
}

/* --role-arn: the role's session, assumed with the base credentials. 0, 1 refused, -1 unreachable. */
static int assume_role(agent_t *ag, cli_err_t *e)
{
    CURL *cu = ag->curl;
    char *arn = curl_easy_escape(cu, ag->o.role_arn, 0);
    char form[4096], host[64] = "";
    gethostname(host, sizeof(host) - 1);
    for (char *p = host; *p; p++) /* a session name is [\w+=,.@-]* */
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-", *p))
            *p = '-';
    snprintf(form, sizeof(form), "Action=AssumeRole&Version=2011-06-15&RoleArn=%s&RoleSessionName=berth-agent-%.32s-%ld",
             arn ? arn : "", host[0] ? host : "host", (long)getpid());
    curl_free(arn);
    json_t *r;
    char etype[128];
    int rc = post(ag, &ag->keys, "sts", NULL, "application/x-www-form-urlencoded; charset=utf-8", form, 30, &r, etype,
                  sizeof(etype), "AssumeRole", e);
    if (rc)
        return rc;
    json_t *c = json_object_get(json_object_get(json_object_get(r, "AssumeRoleResponse"), "AssumeRoleResult"), "Credentials");
    const char *id = json_string_value(json_object_get(c, "AccessKeyId")),
               *secret = json_string_value(json_object_get(c, "SecretAccessKey")),
               *token = json_string_value(json_object_get(c, "SessionToken")),
               *exp = json_string_value(json_object_get(c, "Expiration"));
    struct tm tm = {0};
    const char *end = exp ? strptime(exp, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!id || !secret || !token || !end || strlen(id) >= sizeof(ag->cred.access_key_id) ||
        strlen(secret) >= sizeof(ag->cred.secret) || strlen(token) >= sizeof(ag->cred.session_token)) {
        json_decref(r);
        return cli_fail(e, "AssumeRole's reply carries no usable credentials"), 1;
    }
    OPENSSL_cleanse(&ag->cred, sizeof(ag->cred));
    strcpy(ag->cred.access_key_id, id);
    strcpy(ag->cred.secret, secret);
    strcpy(ag->cred.session_token, token);
    ag->cred_until = timegm(&tm);
    fprintf(stderr, "berth agent: assumed %s until %.40s\n", ag->o.role_arn, exp);
    json_decref(r);         /* exp pointed into it */
    ag->password[0] = '\0'; /* a registry password of the old session expires with it */
    return 0;
}

/* The credentials to sign with: with --role-arn, a session refreshed 5 minutes before it expires. */
static int fresh_credentials(agent_t *ag, cli_err_t *e)
{
    if (!ag->o.role_arn || (ag->cred_until && time(NULL) < ag->cred_until - 300))
        return 0;
    return assume_role(ag, e);
}

/* One JSON 1.1 call. 0 with *reply; 1: the service refused (etype and e->msg say why); -1: unreachable. */
static int call(agent_t *ag, const char *prefix, const char *signing, const char *op, json_t *body, long timeout_s, json_t **reply,
                char *etype, size_t etlen, cli_err_t *e)
{
    *reply = NULL;
    int rc = fresh_credentials(ag, e);
    if (rc)
        return rc < 0 ? -1 : 1;
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return cli_fail(e, "out of memory"), -1;
    char target[160];
    snprintf(target, sizeof(target), "%s.%s", prefix, op);
    rc = post(ag, &ag->cred, signing, target, "application/x-amz-json-1.1", text, timeout_s, reply, etype, etlen, op, e);
    free(text);
    return rc;
}

/* The registry password for the pulls, from GetAuthorizationToken, kept until shortly before it expires. */
static int registry_password(agent_t *ag, cli_err_t *e)
{
    if (ag->password[0] && time(NULL) < ag->password_until)
        return 0;
    json_t *body = json_object(), *r;
    int rc = call(ag, ECR_TARGET, "ecr", "GetAuthorizationToken", body, 30, &r, NULL, 0, e);
    json_decref(body);
    if (rc)
        return cli_fail(e, "CannotPullContainerError: no registry password: %.400s", e->msg), -1;
    json_t *d = json_array_get(json_object_get(r, "authorizationData"), 0);
    const char *tok = json_string_value(json_object_get(d, "authorizationToken"));
    json_t *exp = json_object_get(d, "expiresAt");
    unsigned char dec[sizeof(ag->password) + 16];
    size_t len = tok ? strlen(tok) : 0;
    int n = tok && len <= 4 * ((sizeof(dec) - 16) / 3) ? EVP_DecodeBlock(dec, (const unsigned char *)tok, (int)len) : -1;
    while (n > 0 && len > 0 && tok[len - 1] == '=')
        n--, len--;
    if (n < 5 || memcmp(dec, "AWS:", 4) != 0 || (size_t)(n - 4) >= sizeof(ag->password)) {
        json_decref(r);
        return cli_fail(e, "CannotPullContainerError: GetAuthorizationToken's token is not base64 of AWS:<password>");
    }
    memcpy(ag->password, dec + 4, (size_t)n - 4);
    ag->password[n - 4] = '\0';
    OPENSSL_cleanse(dec, sizeof(dec));
    time_t until = json_is_number(exp) ? (time_t)json_number_value(exp) : time(NULL) + 600;
    ag->password_until = until - 60 > time(NULL) ? until - 60 : time(NULL) + 30;
    json_decref(r);
    return 0;
}

/* ------------------------------------------------ task role credentials */

/* a task's credentials are fetched again this long before they expire (they last an hour) */
#define CREDS_REFRESH_BEFORE_S 900

/* BerthGetTaskCredentials for a task that has a token; 0, 1 refused, -1 unreachable */
static int fetch_task_credentials(agent_t *ag, const char *arn, cli_err_t *e)
{
    json_t *body = json_pack("{s:s,s:s,s:s}", "cluster", ag->o.cluster, "containerInstance",
                             json_string_value(json_object_get(ag->state, "containerInstanceArn")) ?: "", "task", arn);
    if (!body)
        return cli_fail(e, "out of memory"), -1;
    json_t *r;
    char etype[128];
    int rc = call(ag, ECS_TARGET, "ecs", "BerthGetTaskCredentials", body, 30, &r, etype, sizeof(etype), e);
    json_decref(body);
    if (rc == 0) {
        rc = agent_creds_set(ag->creds, arn, r, e) ? 1 : 0;
        json_decref(r); /* its strings are credentials */
    }
    return rc;
}

/* A task whose definition names a taskRoleArn gets its token (kept in the
 * state, so that its containers' environment stays valid across an agent
 * restart), the environment its containers find the endpoint with (in the
 * task as "extraEnvironment", for the runtime, and in the state), and its
 * first credentials. */
static void task_credentials_begin(agent_t *ag, const char *arn, json_t *t, json_t *task)
{
    if (!json_string_value(json_object_get(task, "taskRoleArn")))
        return;
    char token[AGENT_CREDS_TOKEN_MAX + 1];
    cli_err_t e = {{0}};
    if (agent_creds_add(ag->creds, arn, json_string_value(json_object_get(t, "credentialsToken")), token, &e) != 0) {
        fprintf(stderr, "berth agent: %s: %s\n", arn, e.msg);
        return;
    }
    json_t *env = agent_creds_task_env(ag->creds, token);
    json_object_set_new(t, "credentialsToken", json_string(token));
    if (env) {
        json_object_set(task, "extraEnvironment", env);
        json_object_set_new(t, "environment", env); /* --runtime none: recorded, as a container would get it */
    }
    OPENSSL_cleanse(token, sizeof(token));
    if (fetch_task_credentials(ag, arn, &e) != 0)
        fprintf(stderr, "berth agent: %s: its role's credentials: %s (tried again with the next poll)\n", arn, e.msg);
}

/* Fetches every live task's credentials that are missing or end within CREDS_REFRESH_BEFORE_S. 0, -1 unreachable. */
static int refresh_task_credentials(agent_t *ag, cli_err_t *e)
{
    const char *arn;
    json_t *t;
    int64_t now = (int64_t)time(NULL);
    json_object_foreach(tasks_of(ag), arn, t)
    {
        if (!json_object_get(t, "credentialsToken") ||
            strcmp(json_string_value(json_object_get(t, "status")) ?: "", "STOPPED") == 0)
            continue;
        int64_t until = agent_creds_expiry(ag->creds, arn);
        if (until && until - now > CREDS_REFRESH_BEFORE_S)
            continue;
        int rc = fetch_task_credentials(ag, arn, e);
        if (rc < 0)
            return -1;
        if (rc > 0)
            fprintf(stderr, "berth agent: %s: its role's credentials: %s\n", arn, e->msg);
    }
    return 0;
}

/* ------------------------------------------------------ the runtime none */

typedef struct {
    agent_runtime_t base;
    agent_t *ag;
} none_rt_t;

static agent_t *agent_of(agent_runtime_t *rt)
{
    return ((none_rt_t *)rt)->ag;
}

static int none_pull(agent_runtime_t *rt, const json_t *task, cli_err_t *e)
{
    agent_t *ag = agent_of(rt);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(task, "containers"), i, c)
    {
        const char *image = json_string_value(json_object_get(c, "image"));
        if (!image)
            return cli_fail(e, "CannotPullContainerError: container %zu has no image", i);
        if (registry_password(ag, e) != 0)
            return -1;
        agent_pull_t p = {
            .endpoint = ag->base, .cache_dir = ag->o.cache_dir, .password = ag->password, .ca_bundle = ag->o.ca_bundle};
        uint64_t fetched;
        /* the base URL ends in '/': the pull adds its own */
        char endpoint[600];
        snprintf(endpoint, sizeof(endpoint), "%.*s", (int)strlen(ag->base) - 1, ag->base);
        p.endpoint = endpoint;
        if (agent_pull_image(&p, image, &fetched, e) != 0)
            return -1;
        fprintf(stderr, "berth agent: pulled %s (%llu bytes fetched, the rest from the cache)\n", image,
                (unsigned long long)fetched);
    }
    return 0;
}

/* ECS's containers[] of a state change: every container at `status` */
static json_t *containers_at(const json_t *task, const char *status, bool exit_code)
{
    json_t *out = json_array();
    size_t i;
    json_t *c;
    char id[80];
    const char *arn = json_string_value(json_object_get(task, "taskArn"));
    const char *slash = arn ? strrchr(arn, '/') : NULL;
    json_array_foreach(json_object_get(task, "containers"), i, c)
    {
        snprintf(id, sizeof(id), "none-%.32s-%zu", slash ? slash + 1 : "", i);
        json_t *e = json_pack("{s:s,s:s,s:s}", "containerName", json_string_value(json_object_get(c, "name")) ?: "", "status",
                              status, "runtimeId", id);
        if (e && exit_code)
            json_object_set_new(e, "exitCode", json_integer(0));
        json_t *nb = json_object_get(c, "networkBindings");
        if (e && nb)
            json_object_set(e, "networkBindings", nb); /* --runtime none: the planned ports are the ports */
        if (!e || json_array_append_new(out, e)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static int none_start(agent_runtime_t *rt, const json_t *task, json_t **containers, cli_err_t *e)
{
    (void)rt;
    if (!(*containers = containers_at(task, "RUNNING", false)))
        return cli_fail(e, "out of memory");
    return 0;
}

static int none_stop(agent_runtime_t *rt, const char *task_arn, json_t **containers, cli_err_t *e)
{
    json_t *t = json_object_get(tasks_of(agent_of(rt)), task_arn);
    if (!(*containers = containers_at(json_object_get(t, "task"), "STOPPED", true)))
        return cli_fail(e, "out of memory");
    return 0;
}

static int none_check(agent_runtime_t *rt, const json_t *held, json_t **containers, char *reason, size_t rlen, cli_err_t *e)
{
    (void)rt, (void)held, (void)reason, (void)rlen, (void)e;
    *containers = NULL; /* nothing runs: a task holds until it is stopped */
    return 0;
}

static json_t *none_list(agent_runtime_t *rt)
{
    json_t *out = json_array();
    const char *arn;
    json_t *t;
    json_object_foreach(tasks_of(agent_of(rt)), arn, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "status")) ?: "", "RUNNING") == 0)
            json_array_append_new(out, json_string(arn));
    }
    return out;
}

static void none_destroy(agent_runtime_t *rt)
{
    (void)rt;
}

static const agent_runtime_ops_t runtime_none = {"none", 0, none_pull, none_start, none_stop, none_check, none_list, none_destroy};

/* ------------------------------------------- what a runtime asks of the agent */

static const char *host_instance_arn(void *ctx)
{
    return json_string_value(json_object_get(((agent_t *)ctx)->state, "containerInstanceArn"));
}

static int host_password(void *ctx, const char **password, cli_err_t *e)
{
    agent_t *ag = ctx;
    if (registry_password(ag, e) != 0)
        return -1;
    *password = ag->password;
    return 0;
}

/* Task roles: a task with a taskRoleArn carries the environment its containers find the
 * credentials endpoint with (task_credentials_begin); every container of it gets it. */
static json_t *host_extra_env(void *ctx, const json_t *task, const char *name)
{
    (void)ctx, (void)name;
    json_t *env = json_object_get(task, "extraEnvironment");
    return env ? json_incref(env) : NULL;
}

/* ------------------------------------------------------------ the loop */

static void sleep_ms(long ms)
{
    while (ms > 0 && !stopping) {
        long step = ms > 100 ? 100 : ms;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int register_instance(agent_t *ag, cli_err_t *e)
{
    json_t *attrs = json_array(), *ports = json_array();
    for (size_t i = 0; i < ag->o.nattributes; i++) {
        const char *eq = strchr(ag->o.attributes[i], '=');
        json_array_append_new(
            attrs, json_pack("{s:s%,s:s}", "name", ag->o.attributes[i], (size_t)(eq - ag->o.attributes[i]), "value", eq + 1));
    }
    if (ag->o.ports) {
        char buf[4096];
        snprintf(buf, sizeof(buf), "%s", ag->o.ports);
        for (char *save, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
            json_array_append_new(ports, json_string(p));
    }
    json_t *body =
        json_pack("{s:s,s:[{s:s,s:s,s:I},{s:s,s:s,s:I},{s:s,s:s,s:o}],s:o,s:{s:s}}", "cluster", ag->o.cluster, "totalResources",
                  "name", "CPU", "type", "INTEGER", "integerValue", (json_int_t)ag->o.cpu, "name", "MEMORY", "type", "INTEGER",
                  "integerValue", (json_int_t)ag->o.memory, "name", "PORTS", "type", "STRINGSET", "stringSetValue", ports,
                  "attributes", attrs, "versionInfo", "agentVersion", AGENT_VERSION);
    const char *arn = json_string_value(json_object_get(ag->state, "containerInstanceArn"));
    if (body && arn)
        json_object_set_new(body, "containerInstanceArn", json_string(arn));
    json_t *r;
    char etype[128];
    int rc = body ? call(ag, ECS_TARGET, "ecs", "RegisterContainerInstance", body, 30, &r, etype, sizeof(etype), e) : -1;
    if (rc == 1 && arn) {
        /* the instance is gone (berthd's data was reset, or it was deregistered): a new one, without the old tasks */
        fprintf(stderr, "berth agent: %s; registering as a new instance\n", e->msg);
        json_object_del(body, "containerInstanceArn");
        json_object_set_new(ag->state, "tasks", json_object());
        rc = call(ag, ECS_TARGET, "ecs", "RegisterContainerInstance", body, 30, &r, etype, sizeof(etype), e);
    }
    json_decref(body);
    if (rc)
        return rc;
    const char *got = json_string_value(json_object_get(json_object_get(r, "containerInstance"), "containerInstanceArn"));
    if (!got) {
        json_decref(r);
        return cli_fail(e, "RegisterContainerInstance's reply has no containerInstanceArn"), -1;
    }
    fprintf(stderr, "berth agent: %s container instance %s\n", arn && strcmp(arn, got) == 0 ? "re-attached to" : "registered as",
            got);
    json_object_set_new(ag->state, "containerInstanceArn", json_string(got));
    json_decref(r);
    return save_state(ag, e) ? 1 : 0;
}

/* Sends the task's unreported status. 0 sent (or moot), -1 unreachable. */
static int report(agent_t *ag, const char *arn, json_t *t, cli_err_t *e)
{
    const char *status = json_string_value(json_object_get(t, "status"));
    json_t *body = json_pack("{s:s,s:s,s:s}", "cluster", ag->o.cluster, "task", arn, "status", status);
    if (!body)
        return cli_fail(e, "out of memory"), -1;
    static const char *const copy[] = {"reason", "containers", "pullStartedAt", "pullStoppedAt", "executionStoppedAt"};
    for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++) {
        json_t *v = json_object_get(t, copy[i]);
        if (v)
            json_object_set(body, copy[i], v);
    }
    json_t *r;
    char etype[128];
    int rc = call(ag, ECS_TARGET, "ecs", "SubmitTaskStateChange", body, 30, &r, etype, sizeof(etype), e);
    json_decref(body);
    json_decref(r);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        /* refused: the task was stopped (or lost) without us, or is gone. Stop holding it. */
        fprintf(stderr, "berth agent: %s: %s\n", arn, e->msg);
        json_object_set_new(t, "status", json_string("STOPPED"));
    }
    json_object_set_new(t, "reported", json_true());
    return 0;
}

/* Reports every unreported task; forgets STOPPED tasks berthd has heard of. */
static int flush(agent_t *ag, cli_err_t *e)
{
    const char *arn;
    json_t *t, *tmp;
    bool changed = false;
    json_object_foreach_safe(tasks_of(ag), tmp, arn, t)
    {
        if (!json_is_true(json_object_get(t, "reported"))) {
            if (report(ag, arn, t, e) != 0)
                return -1;
            changed = true;
        }
        if (json_is_true(json_object_get(t, "reported")) &&
            strcmp(json_string_value(json_object_get(t, "status")) ?: "", "STOPPED") == 0) {
            agent_creds_remove(ag->creds, arn);
            json_object_del(tasks_of(ag), arn);
            changed = true;
        }
    }
    return changed && save_state(ag, e) ? 1 : 0;
}

static void start_task(agent_t *ag, agent_runtime_t *rt, const agent_runtime_ops_t *ops, json_t *task)
{
    const char *arn = json_string_value(json_object_get(task, "taskArn"));
    if (!arn)
        return;
    json_t *t = json_pack("{s:s,s:O,s:b,s:f}", "status", "PENDING", "task", task, "reported", 1, "pullStartedAt", now_s());
    if (!t || json_object_set_new(tasks_of(ag), arn, t))
        return;
    task_credentials_begin(ag, arn, t, task);
    cli_err_t e = {{0}};
    json_t *containers = NULL;
    if (ops->pull(rt, task, &e) != 0) {
        fprintf(stderr, "berth agent: %s: %s\n", arn, e.msg);
        json_object_set_new(t, "status", json_string("STOPPED"));
        json_object_set_new(t, "reason", json_string(e.msg));
        json_t *cs = containers_at(task, "STOPPED", false);
        size_t i;
        json_t *c;
        json_array_foreach(cs, i, c) if (ops != &runtime_none) json_object_del(c, "runtimeId"); /* nothing ran */
        json_object_set_new(t, "containers", cs);
    } else if (ops->start(rt, task, &containers, &e) != 0) {
        fprintf(stderr, "berth agent: %s: %s\n", arn, e.msg);
        json_object_set_new(t, "status", json_string("STOPPED"));
        json_object_set_new(t, "reason", json_string(e.msg));
    } else {
        json_object_set_new(t, "status", json_string("RUNNING"));
        json_object_set_new(t, "containers", containers);
    }
    json_object_set_new(t, "pullStoppedAt", json_real(now_s()));
    json_object_set_new(t, "reported", json_false());
}

static void stop_task(agent_t *ag, agent_runtime_t *rt, const agent_runtime_ops_t *ops, const char *arn)
{
    json_t *t = json_object_get(tasks_of(ag), arn);
    if (!t)
        return;
    agent_creds_remove(ag->creds, arn); /* a stopped task's token gets nothing from now on */
    cli_err_t e = {{0}};
    json_t *containers = NULL;
    if (ops->stop(rt, arn, &containers, &e) != 0)
        fprintf(stderr, "berth agent: %s: %s\n", arn, e.msg);
    json_object_set_new(t, "status", json_string("STOPPED"));
    json_object_del(t, "reason"); /* berthd keeps StopTask's reason */
    json_object_del(t, "pullStartedAt");
    json_object_del(t, "pullStoppedAt");
    if (containers)
        json_object_set_new(t, "containers", containers);
    json_object_set_new(t, "executionStoppedAt", json_real(now_s()));
    json_object_set_new(t, "reported", json_false());
}

/* One poll. 0: done (work handled or none), -1 unreachable, 1 the instance is gone. */
static int poll_once(agent_t *ag, agent_runtime_t *rt, const agent_runtime_ops_t *ops, cli_err_t *e)
{
    json_t *known = json_array(), *layers = agent_cache_layers(ag->o.cache_dir, MAX_LAYERS);
    const char *arn;
    json_t *t;
    json_object_foreach(tasks_of(ag), arn, t) json_array_append_new(known, json_string(arn));
    json_t *body = json_pack("{s:s,s:s,s:o,s:o}", "cluster", ag->o.cluster, "containerInstance",
                             json_string_value(json_object_get(ag->state, "containerInstanceArn")), "knownTasks", known, "layers",
                             layers ? layers : json_array());
    if (!body)
        return cli_fail(e, "out of memory"), -1;
    /* a runtime whose containers can exit on their own is looked at between shorter polls */
    bool running = false;
    json_object_foreach(tasks_of(ag), arn, t) running |=
        strcmp(json_string_value(json_object_get(t, "status")) ?: "", "RUNNING") == 0;
    long long wait = ag->o.poll_seconds;
    if (ops->check_seconds > 0 && running && (!wait || ops->check_seconds < wait))
        wait = ops->check_seconds;
    if (wait)
        json_object_set_new(body, "waitSeconds", json_integer(wait));
    json_t *r;
    char etype[128];
    int rc = call(ag, ECS_TARGET, "ecs", "BerthPollWork", body, 60, &r, etype, sizeof(etype), e);
    json_decref(body);
    if (rc == 1 && strcmp(etype, "ClientException") == 0 && strstr(e->msg, "is not registered"))
        return 1;
    if (rc)
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r, "stopTasks"), i, v)
    {
        if (json_string_value(v))
            stop_task(ag, rt, ops, json_string_value(v));
    }
    json_array_foreach(json_object_get(r, "tasks"), i, v)
    {
        const char *a = json_string_value(json_object_get(v, "taskArn"));
        if (a && !json_object_get(tasks_of(ag), a))
            start_task(ag, rt, ops, v);
    }
    json_decref(r);
    return save_state(ag, e) ? -1 : 0;
}

/* Asks the runtime about each running task: an exited essential container stops the task. */
static void check_tasks(agent_t *ag, agent_runtime_t *rt, const agent_runtime_ops_t *ops)
{
    const char *arn;
    json_t *t;
    json_object_foreach(tasks_of(ag), arn, t)
    {
        /* a task berthd has not heard RUNNING yet waits for the next round: an exit now is still an exit after running */
        if (strcmp(json_string_value(json_object_get(t, "status")) ?: "", "RUNNING") != 0 ||
            !json_is_true(json_object_get(t, "reported")))
            continue;
        cli_err_t e = {{0}};
        json_t *containers = NULL;
        char reason[256] = "";
        int rc = ops->check(rt, t, &containers, reason, sizeof(reason), &e);
        if (rc < 0) {
            fprintf(stderr, "berth agent: %s: %s\n", arn, e.msg);
            continue;
        }
        if (rc == 1) {
            fprintf(stderr, "berth agent: %s: %s\n", arn, reason);
            json_object_set_new(t, "status", json_string("STOPPED"));
            json_object_set_new(t, "reason", json_string(reason));
            json_object_set_new(t, "executionStoppedAt", json_real(now_s()));
        }
        if (containers) {
            json_object_set_new(t, "containers", containers);
            json_object_set_new(t, "reported", json_false());
        } else if (rc == 1) {
            json_object_set_new(t, "reported", json_false());
        }
    }
}

/* Containers the runtime holds for tasks the agent does not (berthd did not give them back after a
 * restart: stopped or lost meanwhile) are stopped and removed. */
static void drop_orphans(agent_t *ag, agent_runtime_t *rt, const agent_runtime_ops_t *ops)
{
    json_t *held = ops->list(rt);
    size_t i;
    json_t *v;
    json_array_foreach(held, i, v)
    {
        const char *arn = json_string_value(v);
        if (!arn || json_object_get(tasks_of(ag), arn))
            continue;
        cli_err_t e = {{0}};
        json_t *containers = NULL;
        fprintf(stderr, "berth agent: %s: not this instance's task any more: stopping its containers\n", arn);
        if (ops->stop(rt, arn, &containers, &e) != 0)
            fprintf(stderr, "berth agent: %s: %s\n", arn, e.msg);
        json_decref(containers);
    }
    json_decref(held);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: berth agent --endpoint-url URL --cluster NAME --cpu N --memory MIB --runtime docker|none [options]\n"
                 "\n"
                 "Runs a container instance's agent: registers the instance in the cluster (or re-attaches to the one\n"
                 "the state directory names), long-polls berthd for its tasks, pulls each task's image from Berth with\n"
                 "the instance's credentials and reports PENDING -> RUNNING -> STOPPED.\n"
                 "\n"
                 "  --endpoint-url URL   berthd, e.g. http://127.0.0.1:5000 (else $BERTH_ENDPOINT_URL)\n"
                 "  --cluster NAME       the cluster to join\n"
                 "  --cpu N              CPU units the instance offers (1024 per core)\n"
                 "  --memory MIB         memory it offers\n"
                 "  --attribute K=V      an attribute (repeatable), e.g. ecs.availability-zone=az-1\n"
                 "  --ports P,P...       host ports reserved on the instance (no task gets them)\n"
                 "  --runtime docker     run the containers on a Docker engine (dockerd 20.10's API, /v1.41)\n"
                 "  --runtime none       pull and verify the images, hold the tasks as running, run nothing\n"
                 "  --docker-host URL    the engine's socket, unix:///PATH (else $DOCKER_HOST, else\n"
                 "                       unix:///var/run/docker.sock)\n"
                 "  --docker-network N   the user-defined bridge network of bridge-mode tasks (default berth;\n"
                 "                       created when absent, shared by the agents of one engine)\n"
                 "  --stop-timeout S     seconds from SIGTERM to SIGKILL for a container without stopTimeout (default 30)\n"
                 "  --poll-seconds S     the longest a poll waits for work (1-20; default berthd's, 20)\n"
                 "  --state-dir DIR      where the agent keeps its identity and tasks (default ./berth-agent)\n"
                 "  --cache-dir DIR      the image layers it holds (default STATE-DIR/cache)\n"
                 "  --region NAME        SigV4 region (else $AWS_REGION, us-east-1)\n"
                 "  --profile NAME       the credentials file's profile (else $AWS_PROFILE, default)\n"
                 "  --role-arn ARN       the instance role: assumed with the credentials below at start (sts:AssumeRole)\n"
                 "                       and again 5 minutes before each session expires; every call and pull uses it\n"
                 "  --ca-bundle FILE     CA certificates for an https endpoint\n"
                 "  --credentials-port N the task role credentials endpoint's port on 127.0.0.1 (default: one the\n"
                 "                       kernel picks); tasks with a taskRoleArn get AWS_CONTAINER_CREDENTIALS_FULL_URI\n"
                 "                       and their own AWS_CONTAINER_AUTHORIZATION_TOKEN\n"
                 "\n"
                 "credentials: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY ($AWS_SESSION_TOKEN), else the profile in\n"
                 "$AWS_SHARED_CREDENTIALS_FILE (else ~/.aws/credentials). SIGTERM: the agent stops polling and exits;\n"
                 "its tasks stay as they are.\n");
}

static bool parse_num(const char *s, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_options(int argc, char **argv, options_t *o, cli_err_t *e)
{
    const char *state = "./berth-agent", *cache = NULL;
    o->endpoint = getenv("BERTH_ENDPOINT_URL");
    o->region = getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1";
    o->docker_host = getenv("DOCKER_HOST") && *getenv("DOCKER_HOST") ? getenv("DOCKER_HOST") : "unix:///var/run/docker.sock";
    o->stop_timeout = 30; /* ECS_CONTAINER_STOP_TIMEOUT's default */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (i + 1 >= argc)
            return cli_fail(e, "%s: needs a value (or is not an option)", a);
        const char *v = argv[++i];
        if (strcmp(a, "--endpoint-url") == 0)
            o->endpoint = v;
        else if (strcmp(a, "--cluster") == 0)
            o->cluster = v;
        else if (strcmp(a, "--runtime") == 0)
            o->runtime = v;
        else if (strcmp(a, "--docker-host") == 0)
            o->docker_host = v;
        else if (strcmp(a, "--docker-network") == 0)
            o->docker_network = v;
        else if (strcmp(a, "--poll-seconds") == 0) {
            if (!parse_num(v, 20, &o->poll_seconds)) /* SCHED_ECS_POLL_WAIT_MAX */
                return cli_fail(e, "--poll-seconds: 1 to 20, not '%s'", v);
        } else if (strcmp(a, "--stop-timeout") == 0) {
            char *end;
            errno = 0;
            o->stop_timeout = strtoll(v, &end, 10);
            if (errno || end == v || *end || o->stop_timeout < 0 || o->stop_timeout > 3600)
                return cli_fail(e, "--stop-timeout: seconds, 0 to 3600, not '%s'", v);
        } else if (strcmp(a, "--region") == 0)
            o->region = v;
        else if (strcmp(a, "--profile") == 0)
            o->profile = v;
        else if (strcmp(a, "--role-arn") == 0) {
            if (strncmp(v, "arn:aws:iam::", 13) != 0 || !strstr(v, ":role/") || strlen(v) > 2048)
                return cli_fail(e, "--role-arn: an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), not '%s'", v);
            o->role_arn = v;
        } else if (strcmp(a, "--ca-bundle") == 0)
            o->ca_bundle = v;
        else if (strcmp(a, "--credentials-port") == 0) {
            long long port = 0;
            if (strcmp(v, "0") != 0 && !parse_num(v, 65535, &port))
                return cli_fail(e, "--credentials-port: a port number (0-65535), not '%s'", v);
            o->credentials_port = (int)port;
        } else if (strcmp(a, "--state-dir") == 0)
            state = v;
        else if (strcmp(a, "--cache-dir") == 0)
            cache = v;
        else if (strcmp(a, "--ports") == 0) {
            if (strlen(v) > 4000 || strspn(v, "0123456789,") != strlen(v))
                return cli_fail(e, "--ports: a comma-separated list of port numbers, e.g. 22,2375");
            o->ports = v;
        } else if (strcmp(a, "--cpu") == 0 || strcmp(a, "--memory") == 0) {
            if (!parse_num(v, 1LL << 40, strcmp(a, "--cpu") == 0 ? &o->cpu : &o->memory))
                return cli_fail(e, "%s: a positive whole number, not '%s'", a, v);
        } else if (strcmp(a, "--attribute") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || eq - v > 128 || strlen(eq + 1) > 128)
                return cli_fail(e, "--attribute: NAME=VALUE (each at most 128 characters), not '%s'", v);
            if (o->nattributes == MAX_ATTRIBUTES)
                return cli_fail(e, "--attribute: at most %d", MAX_ATTRIBUTES);
            o->attributes[o->nattributes++] = v;
        } else {
            return cli_fail(e, "unknown option %s", a);
        }
    }
    if (!o->endpoint)
        return cli_fail(e, "--endpoint-url: required (or $BERTH_ENDPOINT_URL)");
    if (!o->cluster || !*o->cluster || strlen(o->cluster) > 255 ||
        strspn(o->cluster, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != strlen(o->cluster))
        return cli_fail(e, "--cluster: a cluster name (1-255 letters, digits, - and _) is required");
    if (!o->cpu || !o->memory)
        return cli_fail(e, "--cpu and --memory: required");
    if (!o->runtime || (strcmp(o->runtime, "none") != 0 && strcmp(o->runtime, "docker") != 0))
        return cli_fail(e, "--runtime: docker or none");
    char sock[256];
    if (strcmp(o->runtime, "docker") == 0 && agent_docker_socket_path(o->docker_host, sock, sizeof(sock), e) != 0)
        return -1;
    snprintf(o->state_dir, sizeof(o->state_dir), "%s", state);
    if (cache)
        snprintf(o->cache_dir, sizeof(o->cache_dir), "%s", cache);
    else
        snprintf(o->cache_dir, sizeof(o->cache_dir), "%.2000s/cache", state);
    return 0;
}

static int load_base_credentials(agent_t *ag, cli_err_t *e)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY"), *tok = getenv("AWS_SESSION_TOKEN");
    if (id && *id && secret && *secret && !ag->o.profile) {
        if (strlen(id) >= sizeof(ag->keys.access_key_id) || strlen(secret) >= sizeof(ag->keys.secret) ||
            (tok && strlen(tok) >= sizeof(ag->keys.session_token)))
            return cli_fail(e, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN is too long");
        strcpy(ag->keys.access_key_id, id);
        strcpy(ag->keys.secret, secret);
        snprintf(ag->keys.session_token, sizeof(ag->keys.session_token), "%s", tok ? tok : "");
        return 0;
    }
    char path[4096];
    const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home = getenv("HOME");
    if (file && *file)
        snprintf(path, sizeof(path), "%s", file);
    else if (home)
        snprintf(path, sizeof(path), "%s/.aws/credentials", home);
    else
        return cli_fail(e, "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_SHARED_CREDENTIALS_FILE");
    FILE *f = fopen(path, "r");
    if (!f)
        return cli_fail(e, "no credentials: %s: %s", path, strerror(errno));
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    bool big = !feof(f);
    fclose(f);
    if (big)
        return cli_fail(e, "%s: larger than 1 MiB", path);
    const char *profile = ag->o.profile ? ag->o.profile : getenv("AWS_PROFILE");
    auth_err_t aerr;
    auth_status_t s = auth_credentials_file_find(text, len, profile && *profile ? profile : "default", &ag->keys, &aerr);
    OPENSSL_cleanse(text, len);
    return s == AUTH_OK ? 0 : cli_fail(e, "%s: %s", path, aerr.msg);
}

static int load_credentials(agent_t *ag, cli_err_t *e)
{
    if (load_base_credentials(ag, e) != 0)
        return -1;
    ag->cred = ag->keys; /* until --role-arn's session replaces them */
    return 0;
}

/* "http://host:port" into the Host header's authority and the base URL "http://host:port/" */
static int endpoint_parts(agent_t *ag, cli_err_t *e)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = 0;
    if (!u || curl_url_set(u, CURLUPART_URL, ag->o.endpoint, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        rc = cli_fail(e, "--endpoint-url: '%s' is not an http:// or https:// URL", ag->o.endpoint);
    } else {
        bool has_port = curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK;
        snprintf(ag->authority, sizeof(ag->authority), "%s%s%s", host, has_port ? ":" : "", has_port ? port : "");
        snprintf(ag->base, sizeof(ag->base), "%s://%s/", scheme, ag->authority);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

int berth_agent(int argc, char **argv)
{
    static agent_t ag; /* big (the credentials file buffer is static too); one per process */
    cli_err_t e = {{0}};
    int rc = parse_options(argc, argv, &ag.o, &e);
    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (rc || endpoint_parts(&ag, &e) || load_credentials(&ag, &e)) {
        fprintf(stderr, "berth agent: %s\n", e.msg);
        return 2;
    }
    if ((mkdir(ag.o.state_dir, 0700) != 0 && errno != EEXIST) || (mkdir(ag.o.cache_dir, 0700) != 0 && errno != EEXIST)) {
        fprintf(stderr, "berth agent: cannot create %s or %s: %s\n", ag.o.state_dir, ag.o.cache_dir, strerror(errno));
        return 2;
    }
    if (load_state(&ag, &e) != 0) {
        fprintf(stderr, "berth agent: %s\n", e.msg);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ag.curl = curl_easy_init();
    if (!ag.curl) {
        fprintf(stderr, "berth agent: cannot initialise libcurl\n");
        return 1;
    }
    if (!(ag.creds = agent_creds_start(ag.o.credentials_port, &e))) {
        fprintf(stderr, "berth agent: %s\n", e.msg);
        return 2;
    }
    fprintf(stderr, "berth agent: task role credentials endpoint on http://127.0.0.1:%d/v1/credentials\n",
            agent_creds_port(ag.creds));
    none_rt_t none = {{&runtime_none}, &ag};
    agent_runtime_t *rt = &none.base;
    if (strcmp(ag.o.runtime, "docker") == 0) {
        agent_docker_config_t dc = {.docker_host = ag.o.docker_host,
                                    .network = ag.o.docker_network,
                                    .stop_timeout = (int)ag.o.stop_timeout,
                                    .host = {.ctx = &ag,
                                             .cluster = ag.o.cluster,
                                             .registry = ag.authority,
                                             .instance_arn = host_instance_arn,
                                             .password = host_password,
                                             .extra_env = host_extra_env}};
        if (!(rt = agent_docker_new(&dc, &e))) {
            fprintf(stderr, "berth agent: %s\n", e.msg);
            curl_easy_cleanup(ag.curl);
            curl_global_cleanup();
            json_decref(ag.state);
            return 1;
        }
    }
    const agent_runtime_ops_t *ops = rt->ops;
    /* tasks held before a restart are reported again: berthd may have missed their last change */
    json_t *held = ops->list(rt);
    size_t i;
    json_t *v;
    if (json_array_size(held))
        fprintf(stderr, "berth agent: the %s runtime holds %zu tasks of this instance\n", ops->name, json_array_size(held));
    json_array_foreach(held, i, v)
    {
        json_t *t = json_object_get(tasks_of(&ag), json_string_value(v));
        json_object_set_new(t, "reported", json_false());
        /* its containers keep the token they were given: the endpoint honours it again once credentials come */
        const char *tok = json_string_value(json_object_get(t, "credentialsToken"));
        char token[AGENT_CREDS_TOKEN_MAX + 1];
        if (tok && agent_creds_add(ag.creds, json_string_value(v), tok, token, &e) != 0)
            fprintf(stderr, "berth agent: %s\n", e.msg);
    }
    json_decref(held);

    bool registered = false, reconciled = false, renewed = false;
    long backoff = 0;
    while (!stopping) {
        int r;
        if (!registered) {
            r = register_instance(&ag, &e);
            registered = r == 0;
            /* tasks held across a restart: their containers ask before the first long poll ends */
            if (registered)
                r = refresh_task_credentials(&ag, &e);
        } else if ((r = flush(&ag, &e)) == 0) {
            r = poll_once(&ag, rt, ops, &e);
            /* after the first poll berthd has given back what it still wants; a runtime that runs containers is
             * looked at after every poll, for tasks berthd refused meanwhile (stopped or lost without the agent) */
            if (r == 0 && (!reconciled || ops->check_seconds > 0)) {
                drop_orphans(&ag, rt, ops);
                reconciled = true;
            }
            if (r == 0)
                check_tasks(&ag, rt, ops);
            if (r == 1) {
                fprintf(stderr, "berth agent: %s\n", e.msg);
                registered = false; /* registers again, keeping the ARN: berthd says whether it is still there */
                r = 0;
            }
            if (r == 0)
                r = flush(&ag, &e);
            if (r == 0)
                r = refresh_task_credentials(&ag, &e);
        }
        if (r != 0 && !stopping && ag.cred_until == 1 && !renewed) {
            /* the session expired (berthd said so): the next call assumes the role again, at once. The
             * backoff, grown while berthd was away (a restart), would keep the instance silent past
             * berthd's task-lost timeout for nothing; once per expiry, in case berthd keeps refusing. */
            fprintf(stderr, "berth agent: %s; assuming the role again now\n", e.msg);
            renewed = true;
        } else if (r != 0 && !stopping) {
            backoff = backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2) : 500;
            fprintf(stderr, "berth agent: %s; again in %ld ms\n", e.msg, backoff);
            sleep_ms(backoff);
        } else if (r == 0) {
            backoff = 0;
            renewed = false;
        }
    }
    fprintf(stderr, "berth agent: stopping: tasks stay as they are\n");
    save_state(&ag, &e);
    ops->destroy(rt);
    agent_creds_stop(ag.creds);
    curl_easy_cleanup(ag.curl);
    curl_global_cleanup();
    json_decref(ag.state);
    OPENSSL_cleanse(&ag.cred, sizeof(ag.cred));
    OPENSSL_cleanse(&ag.keys, sizeof(ag.keys));
    OPENSSL_cleanse(ag.password, sizeof(ag.password));
    return 0;
}
