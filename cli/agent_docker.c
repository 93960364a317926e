/*
 * cli/agent_docker.c — `berth agent --runtime docker`: a task's containers
 * run on a Docker engine, driven through its API (pinned to /v1.41, what
 * dockerd 20.10 speaks) on its unix socket with libcurl, as ECS's own agent
 * does.
 *
 *   pull   POST /images/create with X-Registry-Auth: user AWS and a registry
 *          password of the instance role (the agent mints it). The engine
 *          pulls from Berth: an image naming another host is pulled from the
 *          Berth the agent speaks to, as --runtime none does. The reply is a
 *          stream of JSON lines; an "error" line is a refused pull.
 *   start  POST /containers/create?name=berth-<task id>-<container>, then
 *          /start. Labels name the task ARN, the container, the cluster and
 *          the container instance, so an agent that restarts finds its
 *          containers (GET /containers/json filtered by label) and agents
 *          sharing one engine keep to their own. A name already taken by the
 *          same task's container is that container: a start repeated after a
 *          restart adopts it instead of running it twice.
 *   bridge one user-defined bridge network (--docker-network, created when
 *          absent), each portMapping published on the host port the definition
 *          fixes or, for 0, one the engine picks; the port it picked is
 *          read back with GET /containers/{id}/json and reported.
 *   stop   POST /containers/{id}/stop?t=N (the image's stop signal, SIGTERM
 *          by default, then SIGKILL after N s: the container's stopTimeout,
 *          else the agent's), the exit code read, then DELETE.
 *   check  an essential container that exited stops the task: the others
 *          are stopped, every exit code reported, "Essential container in
 *          task exited"; a non-essential one's exit is reported alone.
 *
 * Credentials: the X-Registry-Auth value is cleansed after each pull and
 * never logged.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "cli/cli_internal.h"

#define DOCKER_API "http://docker/v1.41"
/* an inspect, or a list of one instance's containers: far below this */
#define DOCKER_REPLY_MAX (8u << 20)
/* one line of a pull's progress stream (a status or an error message) */
#define DOCKER_LINE_MAX (64u << 10)
/* a pull of a big image over a slow disk (vfs copies every layer) */
#define DOCKER_PULL_TIMEOUT_S 1800L
/* create, start, inspect, list, remove: the engine answers these at once unless it is stuck */
#define DOCKER_CALL_TIMEOUT_S 60L
/* ECS allows at most 10 containers per task */
#define MAX_CONTAINERS 10
/* how often the agent looks at its running tasks: how long an exited essential container can go unnoticed */
#define DOCKER_CHECK_SECONDS 2

typedef struct {
    agent_runtime_t base;
    agent_docker_config_t cfg;
    char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char network[256];
    char network_id[130]; /* what bridge-mode containers join: ensure_network's choice */
    CURL *curl;
} docker_rt_t;

static docker_rt_t *dk(agent_runtime_t *rt)
{
    return (docker_rt_t *)rt;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* e->msg behind a prefix formatted from fmt (cli_fail cannot take e->msg as its own argument). -1 */
static int wrap(cli_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int wrap(cli_err_t *e, const char *fmt, ...)
{
    char old[sizeof(e->msg)], prefix[sizeof(e->msg)];
    memcpy(old, e->msg, sizeof(old));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    return cli_fail(e, "%s%s", prefix, old);
}

/* ---------------------------------------------------------------- pure */

int agent_docker_socket_path(const char *docker_host, char *path, size_t len, cli_err_t *e)
{
    if (!docker_host || strncmp(docker_host, "unix://", 7) != 0 || docker_host[7] != '/')
        return cli_fail(e, "--docker-host: unix:///path/to/docker.sock (the engine's unix socket), not '%.200s'",
                        docker_host ? docker_host : "");
    const char *p = docker_host + 7;
    if (strlen(p) >= len || strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return cli_fail(e, "--docker-host: the socket path is longer than a unix socket allows (%zu bytes)",
                        sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    snprintf(path, len, "%s", p);
    return 0;
}

char *agent_docker_registry_auth(const char *username, const char *password, const char *server)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "username", username, "password", password, "serveraddress", server);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out) {
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n);
        for (char *p = out; *p; p++) /* the engine decodes base64url */
            *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    }
    OPENSSL_cleanse(text, n);
    free(text);
    return out;
}

static json_t *override_of(const json_t *task, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(json_object_get(task, "overrides"), "containerOverrides"), i, o)
    {
        if (strcmp(jstr(o, "name"), name) == 0)
            return o;
    }
    return NULL;
}

/* ECS's [{"name", "value"}] into env (name -> value, later ones win) */
static int add_env(json_t *env, const json_t *list, const char *what, cli_err_t *e)
{
    size_t i;
    json_t *kv;
    json_array_foreach(list, i, kv)
    {
        const char *n = json_string_value(json_object_get(kv, "name"));
        json_t *v = json_object_get(kv, "value");
        if (!n || !*n || strchr(n, '='))
            return cli_fail(e, "CannotCreateContainerError: %s[%zu]: a variable needs a name without '='", what, i);
        json_object_del(env, n); /* a replaced one moves to the end, as the engine would see it set last */
        if (json_object_set_new(env, n, json_string(json_string_value(v) ? json_string_value(v) : "")))
            return cli_fail(e, "out of memory");
    }
    return 0;
}

static bool is_string_list(const json_t *list)
{
    if (!json_is_array(list))
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v))
            return false;
    }
    return true;
}

json_t *agent_docker_create_body(const json_t *task, size_t index, const char *image, const char *cluster, const char *instance_arn,
                                 const char *network, int stop_timeout, const json_t *extra_env, cli_err_t *e)
{
    const json_t *c = json_array_get(json_object_get(task, "containers"), index);
    const char *name = jstr(c, "name");
    const char *mode = json_string_value(json_object_get(task, "networkMode")) ?: "bridge";
    if (!*name)
        return cli_fail(e, "CannotCreateContainerError: container %zu has no name", index), NULL;
    if (strcmp(mode, "bridge") != 0 && strcmp(mode, "host") != 0)
        return cli_fail(e, "CannotCreateContainerError: networkMode %.32s: the docker runtime runs bridge and host", mode), NULL;
    bool host = strcmp(mode, "host") == 0;
    json_t *st = json_object_get(c, "stopTimeout");
    long long stop = json_is_integer(st) ? json_integer_value(st) : stop_timeout;
    char stop_s[24];
    snprintf(stop_s, sizeof(stop_s), "%lld", stop);
    json_t *o = override_of(task, name);
    json_t *env = json_object(), *envl = json_array(),
           *labels = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", AGENT_DOCKER_LABEL_TASK, jstr(task, "taskArn"),
                               AGENT_DOCKER_LABEL_CONTAINER, name, AGENT_DOCKER_LABEL_CLUSTER, cluster ? cluster : "",
                               AGENT_DOCKER_LABEL_INSTANCE, instance_arn ? instance_arn : "", AGENT_DOCKER_LABEL_STOP, stop_s,
                               AGENT_DOCKER_LABEL_ESSENTIAL, json_is_false(json_object_get(c, "essential")) ? "false" : "true");
    json_t *hc = json_object(), *body = json_pack("{s:s}", "Image", image);
    json_t *exposed = json_object(), *bindings = json_object();
    if (!env || !envl || !labels || !hc || !body || !exposed || !bindings) {
        cli_fail(e, "out of memory");
        goto fail;
    }
    if (add_env(env, json_object_get(c, "environment"), "environment", e) ||
        add_env(env, json_object_get(o, "environment"), "overrides.environment", e) ||
        add_env(env, extra_env, "extra environment", e))
        goto fail;
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v)
    {
        char *kv;
        if (asprintf(&kv, "%s=%s", k, json_string_value(v)) < 0 || json_array_append_new(envl, json_string(kv))) {
            cli_fail(e, "out of memory");
            goto fail;
        }
        free(kv);
    }
    json_t *cmd = json_object_get(o, "command") ? json_object_get(o, "command") : json_object_get(c, "command");
    json_t *entry = json_object_get(c, "entryPoint");
    if ((cmd && !json_is_null(cmd) && !is_string_list(cmd)) || (entry && !json_is_null(entry) && !is_string_list(entry))) {
        cli_fail(e, "CannotCreateContainerError: %s: command and entryPoint must be lists of strings", name);
        goto fail;
    }
    if (cmd && !json_is_null(cmd))
        json_object_set_new(body, "Cmd", json_deep_copy(cmd));
    if (entry && !json_is_null(entry))
        json_object_set_new(body, "Entrypoint", json_deep_copy(entry));
    /* CPU units are the engine's shares (1024 a core); its least is 2, as ECS's agent sets for 0 and 1 */
    long long cpu = json_integer_value(json_object_get(c, "cpu"));
    json_object_set_new(hc, "CpuShares", json_integer(cpu < 2 ? 2 : cpu));
    long long mem = json_integer_value(json_object_get(c, "memory")),
              res = json_integer_value(json_object_get(c, "memoryReservation"));
    if (mem > 0)
        json_object_set_new(hc, "Memory", json_integer(mem << 20));
    if (res > 0)
        json_object_set_new(hc, "MemoryReservation", json_integer(res << 20));
    json_object_set_new(hc, "NetworkMode", json_string(host ? "host" : network));
    size_t i;
    json_t *pm;
    json_array_foreach(json_object_get(c, "portMappings"), i, pm)
    {
        long long cp = json_integer_value(json_object_get(pm, "containerPort")),
                  hp = json_integer_value(json_object_get(pm, "hostPort"));
        const char *proto = json_string_value(json_object_get(pm, "protocol")) ?: "tcp";
        if (cp < 1 || cp > 65535 || hp < 0 || hp > 65535 || (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)) {
            cli_fail(e, "CannotCreateContainerError: %s: portMappings[%zu] is not a port mapping", name, i);
            goto fail;
        }
        if (host)
            continue; /* the host's network: the container's ports are the host's */
        char key[32], hps[8] = "";
        snprintf(key, sizeof(key), "%lld/%s", cp, proto);
        if (hp > 0)
            snprintf(hps, sizeof(hps), "%lld", hp);
        json_t *list = json_object_get(bindings, key);
        if (!list)
            json_object_set_new(bindings, key, list = json_array());
        json_object_set_new(exposed, key, json_object());
        json_array_append_new(list, json_pack("{s:s,s:s}", "HostIp", "", "HostPort", hps));
    }
    if (!host)
        json_object_set(hc, "PortBindings", bindings);
    if (json_object_set(body, "Env", envl) || json_object_set(body, "Labels", labels) ||
        json_object_set(body, "ExposedPorts", exposed) || json_object_set(body, "HostConfig", hc)) {
        cli_fail(e, "out of memory");
        goto fail;
    }
    json_decref(env), json_decref(envl), json_decref(labels), json_decref(hc), json_decref(exposed), json_decref(bindings);
    return body;
fail:
    json_decref(env), json_decref(envl), json_decref(labels), json_decref(hc), json_decref(exposed), json_decref(bindings);
    json_decref(body);
    return NULL;
}

json_t *agent_docker_container_report(const json_t *inspect)
{
    json_t *labels = json_object_get(json_object_get(inspect, "Config"), "Labels");
    const char *name = json_string_value(json_object_get(labels, AGENT_DOCKER_LABEL_CONTAINER));
    const char *id = json_string_value(json_object_get(inspect, "Id"));
    if (!name || !id)
        return NULL;
    json_t *state = json_object_get(inspect, "State");
    bool running = json_is_true(json_object_get(state, "Running"));
    const char *status = jstr(state, "Status");
    const char *ecs = running ? "RUNNING" : strcmp(status, "created") == 0 ? "PENDING" : "STOPPED";
    json_t *out = json_pack("{s:s,s:s,s:s}", "containerName", name, "runtimeId", id, "status", ecs);
    if (!out)
        return NULL;
    if (strcmp(ecs, "STOPPED") == 0) {
        json_object_set_new(out, "exitCode", json_integer(json_integer_value(json_object_get(state, "ExitCode"))));
        /* ECS's words for the engine's reasons */
        if (json_is_true(json_object_get(state, "OOMKilled")))
            json_object_set_new(out, "reason", json_string("OutOfMemoryError: Container killed due to memory usage"));
        else if (*jstr(state, "Error"))
            json_object_set_new(out, "reason", json_sprintf("CannotStartContainerError: %.900s", jstr(state, "Error")));
    }
    if (!running)
        return out;
    json_t *nb = json_array();
    const char *key;
    json_t *list;
    json_object_foreach(json_object_get(json_object_get(inspect, "NetworkSettings"), "Ports"), key, list)
    {
        unsigned cp;
        char proto[8];
        if (sscanf(key, "%u/%7s", &cp, proto) != 2)
            continue;
        size_t i;
        json_t *b;
        json_array_foreach(list, i, b)
        {
            const char *ip = jstr(b, "HostIp");
            long hp = strtol(jstr(b, "HostPort"), NULL, 10);
            if (strchr(ip, ':') || hp < 1 || hp > 65535) /* ECS's bindings are IPv4; the engine adds [::] twins */
                continue;
            json_array_append_new(nb, json_pack("{s:s,s:I,s:I,s:s}", "bindIP", *ip ? ip : "0.0.0.0", "containerPort",
                                                (json_int_t)cp, "hostPort", (json_int_t)hp, "protocol", proto));
        }
    }
    json_object_set_new(out, "networkBindings", nb);
    return out;
}

/* ------------------------------------------------------------ the API */

typedef struct {
    char *p;
    size_t len;
    /* a pull's stream: complete lines are looked at as they come, an error kept */
    bool stream;
    char error[900];
} reply_t;

static void stream_line(reply_t *r, const char *line, size_t n)
{
    json_t *o = json_loadb(line, n, 0, NULL);
    const char *err = json_string_value(json_object_get(o, "error"));
    if (!err)
        err = json_string_value(json_object_get(json_object_get(o, "errorDetail"), "message"));
    if (!err) /* a refusal before the stream began: {"message": ...} */
        err = json_string_value(json_object_get(o, "message"));
    if (err && !r->error[0])
        snprintf(r->error, sizeof(r->error), "%s", err);
    json_decref(o);
}

static size_t on_reply(char *data, size_t size, size_t n, void *user)
{
    reply_t *r = user;
    size_t add = size * n;
    if (r->len + add > (r->stream ? DOCKER_LINE_MAX : DOCKER_REPLY_MAX))
        return 0;
    char *p = realloc(r->p, r->len + add + 1);
    if (!p)
        return 0;
    memcpy(p + r->len, data, add);
    r->p = p;
    r->len += add;
    p[r->len] = '\0';
    if (r->stream) { /* keep only the unfinished line */
        char *start = r->p, *nl;
        while ((nl = memchr(start, '\n', r->len - (size_t)(start - r->p)))) {
            stream_line(r, start, (size_t)(nl - start));
            start = nl + 1;
        }
        r->len -= (size_t)(start - r->p);
        memmove(r->p, start, r->len + 1);
    }
    return add;
}

/* One call to the engine. 0 with *status and *reply (the JSON document, or NULL for none), or -1 with e->msg
 * when the engine could not be reached. auth: an X-Registry-Auth value or NULL. */
static int call(docker_rt_t *d, const char *method, const char *path, const json_t *body, const char *auth, long timeout_s,
                reply_t *rep, long *status, json_t **reply, cli_err_t *e)
{
    reply_t own = {0};
    if (!rep)
        rep = &own;
    if (reply)
        *reply = NULL;
    *status = 0;
    char url[4096], *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text)
        return cli_fail(e, "out of memory");
    snprintf(url, sizeof(url), "%s%s", DOCKER_API, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
    char *authline = NULL;
    if (h2 && auth && asprintf(&authline, "X-Registry-Auth: %s", auth) < 0)
        authline = NULL;
    struct curl_slist *h3 = h2 && (!auth || authline) ? (auth ? curl_slist_append(h2, authline) : h2) : NULL;
    if (authline) {
        OPENSSL_cleanse(authline, strlen(authline));
        free(authline);
    }
    if (!h3) {
        curl_slist_free_all(h2 ? h2 : h);
        free(text);
        return cli_fail(e, "out of memory");
    }
    char cerr[CURL_ERROR_SIZE] = "";
    CURL *cu = d->curl;
    curl_easy_reset(cu);
    curl_easy_setopt(cu, CURLOPT_UNIX_SOCKET_PATH, d->socket);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h3);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, text ? text : "");
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, rep);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http");
    CURLcode cc = curl_easy_perform(cu);
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h3);
    free(text);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = cli_fail(e, "the Docker engine at unix://%s: %s %s: %s", d->socket, method, path,
                      cerr[0] ? cerr : curl_easy_strerror(cc));
    } else if (reply && rep->p && rep->len) {
        *reply = json_loadb(rep->p, rep->len, 0, NULL);
    }
    if (*status >= 400 && rc == 0) {
        json_t *m = reply ? *reply : (rep->p ? json_loadb(rep->p, rep->len, 0, NULL) : NULL);
        cli_fail(e, "%s", json_string_value(json_object_get(m, "message")) ?: "the engine gave no reason");
        if (!reply)
            json_decref(m);
    }
    free(own.p);
    return rc;
}

/* the engine's reference of a task image: Berth's host, the repository, the tag or digest */
static int engine_image(docker_rt_t *d, const char *image, char *out, size_t len, cli_err_t *e)
{
    char repo[1024], ref[160];
    if (agent_parse_image(image, repo, sizeof(repo), ref, sizeof(ref), e) != 0)
        return -1;
    snprintf(out, len, "%s/%s%s%s", d->cfg.host.registry, repo, strncmp(ref, "sha256:", 7) == 0 ? "@" : ":", ref);
    return 0;
}

static int docker_pull(agent_runtime_t *rt, const json_t *task, cli_err_t *e)
{
    docker_rt_t *d = dk(rt);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(task, "containers"), i, c)
    {
        const char *image = json_string_value(json_object_get(c, "image")), *password;
        char ref[1400], path[4200];
        if (!image)
            return cli_fail(e, "CannotPullContainerError: container %zu has no image", i);
        if (engine_image(d, image, ref, sizeof(ref), e) != 0)
            return -1;
        bool again = false; /* one pull per image of the task */
        for (size_t k = 0; k < i; k++)
            again |= strcmp(jstr(json_array_get(json_object_get(task, "containers"), k), "image"), image) == 0;
        if (again)
            continue;
        if (d->cfg.host.password(d->cfg.host.ctx, &password, e) != 0)
            return -1;
        char *auth = agent_docker_registry_auth("AWS", password, d->cfg.host.registry);
        char *q = curl_easy_escape(d->curl, ref, 0);
        if (!auth || !q) {
            free(auth);
            curl_free(q);
            return cli_fail(e, "out of memory");
        }
        snprintf(path, sizeof(path), "/images/create?fromImage=%s", q);
        curl_free(q);
        reply_t rep = {.stream = true};
        long status;
        int rc = call(d, "POST", path, NULL, auth, DOCKER_PULL_TIMEOUT_S, &rep, &status, NULL, e);
        OPENSSL_cleanse(auth, strlen(auth));
        free(auth);
        if (rc == 0 && rep.len)
            stream_line(&rep, rep.p, rep.len); /* the last line, if it had no newline */
        free(rep.p);
        if (rc != 0)
            return wrap(e, "CannotPullContainerError: ");
        if (status != 200)
            return cli_fail(e, "CannotPullContainerError: Error response from daemon: %.440s",
                            rep.error[0] ? rep.error : "(no message)");
        if (rep.error[0])
            return cli_fail(e, "CannotPullContainerError: %s: %.440s", ref, rep.error);
        fprintf(stderr, "berth agent: the engine pulled %s\n", ref);
    }
    return 0;
}

/* the engine's inspect of container `id`. 0, 1 absent, -1 (e->msg) */
static int inspect(docker_rt_t *d, const char *id, json_t **out, cli_err_t *e)
{
    char path[512];
    long status;
    snprintf(path, sizeof(path), "/containers/%.300s/json", id);
    if (call(d, "GET", path, NULL, NULL, DOCKER_CALL_TIMEOUT_S, NULL, &status, out, e) != 0)
        return -1;
    if (status == 404) {
        json_decref(*out), *out = NULL;
        return 1;
    }
    if (status != 200 || !json_is_object(*out)) {
        json_decref(*out), *out = NULL;
        return wrap(e, "inspect %.100s: HTTP %ld: ", id, status);
    }
    return 0;
}

/* the containers of one task (label), or of the whole instance (task NULL): the engine's list entries */
static json_t *list_containers(docker_rt_t *d, const char *task_arn, cli_err_t *e)
{
    const char *inst = d->cfg.host.instance_arn(d->cfg.host.ctx);
    json_t *f = json_pack("{s:[s+]}", "label", task_arn ? AGENT_DOCKER_LABEL_TASK "=" : AGENT_DOCKER_LABEL_INSTANCE "=",
                          task_arn ? task_arn
                          : inst   ? inst
                                   : "");
    if (!task_arn && !inst) { /* never registered: nothing can be ours */
        json_decref(f);
        return json_array();
    }
    char *text = f ? json_dumps(f, JSON_COMPACT) : NULL;
    json_decref(f);
    char *q = text ? curl_easy_escape(d->curl, text, 0) : NULL;
    free(text);
    if (!q)
        return cli_fail(e, "out of memory"), NULL;
    char path[4096];
    snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s", q);
    curl_free(q);
    long status;
    json_t *r;
    if (call(d, "GET", path, NULL, NULL, DOCKER_CALL_TIMEOUT_S, NULL, &status, &r, e) != 0)
        return NULL;
    if (status != 200 || !json_is_array(r)) {
        json_decref(r);
        return wrap(e, "listing containers: HTTP %ld: ", status), NULL;
    }
    return r;
}

static void remove_container(docker_rt_t *d, const char *id)
{
    char path[512];
    long status;
    cli_err_t e;
    snprintf(path, sizeof(path), "/containers/%.300s?force=1&v=1", id);
    if (call(d, "DELETE", path, NULL, NULL, DOCKER_CALL_TIMEOUT_S, NULL, &status, NULL, &e) != 0 ||
        (status != 204 && status != 404))
        fprintf(stderr, "berth agent: cannot remove container %.64s: %s\n", id, e.msg);
}

/* Stops (SIGTERM, SIGKILL after its stop timeout) and removes one container; its report with the exit code. */
static json_t *stop_container(docker_rt_t *d, const char *id, cli_err_t *e)
{
    json_t *in;
    int rc = inspect(d, id, &in, e);
    if (rc)
        return NULL;
    long t = strtol(jstr(json_object_get(json_object_get(in, "Config"), "Labels"), AGENT_DOCKER_LABEL_STOP), NULL, 10);
    if (t < 0 || t > 3600)
        t = d->cfg.stop_timeout;
    if (json_is_true(json_object_get(json_object_get(in, "State"), "Running"))) {
        char path[512];
        long status;
        snprintf(path, sizeof(path), "/containers/%.300s/stop?t=%ld", id, t);
        if (call(d, "POST", path, NULL, NULL, t + DOCKER_CALL_TIMEOUT_S, NULL, &status, NULL, e) != 0 ||
            (status != 204 && status != 304 && status != 404))
            fprintf(stderr, "berth agent: stopping container %.64s: %s\n", id, e->msg);
        json_decref(in);
        if (inspect(d, id, &in, e) != 0)
            return NULL;
    }
    json_t *r = agent_docker_container_report(in);
    json_decref(in);
    remove_container(d, id);
    return r;
}

/* Stops and removes every container of the task; their reports. */
static json_t *stop_all(docker_rt_t *d, const char *task_arn, cli_err_t *e)
{
    json_t *list = list_containers(d, task_arn, e), *out = json_array();
    if (!list || !out) {
        json_decref(list);
        json_decref(out);
        return NULL;
    }
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        json_t *r = stop_container(d, jstr(c, "Id"), e);
        if (r)
            json_array_append_new(out, r);
    }
    json_decref(list);
    return out;
}

/* The ids of the networks named exactly d->network, sorted. 0, or -1 (e->msg) */
static int networks_named(docker_rt_t *d, json_t **ids, cli_err_t *e)
{
    json_t *f = json_pack("{s:{s:b}}", "name", d->network, 1);
    char *text = f ? json_dumps(f, JSON_COMPACT) : NULL;
    json_decref(f);
    char *q = text ? curl_easy_escape(d->curl, text, 0) : NULL;
    free(text);
    if (!q)
        return cli_fail(e, "out of memory");
    char path[1024];
    snprintf(path, sizeof(path), "/networks?filters=%s", q);
    curl_free(q);
    long status;
    json_t *r;
    if (call(d, "GET", path, NULL, NULL, DOCKER_CALL_TIMEOUT_S, NULL, &status, &r, e) != 0)
        return -1;
    if (status != 200 || !json_is_array(r)) {
        json_decref(r);
        return wrap(e, "listing networks: HTTP %ld: ", status);
    }
    *ids = json_array();
    size_t i;
    json_t *n;
    json_array_foreach(r, i, n)
    {
        if (strcmp(jstr(n, "Name"), d->network) != 0) /* the engine's filter matches parts of names */
            continue;
        size_t at = 0;
        while (at < json_array_size(*ids) && strcmp(json_string_value(json_array_get(*ids, at)), jstr(n, "Id")) < 0)
            at++;
        json_array_insert_new(*ids, at, json_string(jstr(n, "Id")));
    }
    json_decref(r);
    return 0;
}

/* The bridge network of bridge-mode tasks into d->network_id, made if absent. Agents sharing the engine
 * may create it at once, and the engine's CheckDuplicate does not stop that: every agent then uses the
 * lowest id of that name, and empty twins are removed. */
static int ensure_network(docker_rt_t *d, cli_err_t *e)
{
    json_t *ids;
    if (networks_named(d, &ids, e) != 0)
        return -1;
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        json_t *body = json_pack("{s:s,s:s,s:b,s:{s:s}}", "Name", d->network, "Driver", "bridge", "CheckDuplicate", 1, "Labels",
                                 "com.berth.ecs.network", "true");
        long status;
        int rc = body ? call(d, "POST", "/networks/create", body, NULL, DOCKER_CALL_TIMEOUT_S, NULL, &status, NULL, e) : -1;
        json_decref(body);
        if (rc != 0)
            return -1;
        if (status != 201 && status != 409) /* 409: another agent on this engine made it first */
            return wrap(e, "network %s: HTTP %ld: ", d->network, status);
        if (status == 201)
            fprintf(stderr, "berth agent: created the bridge network %s\n", d->network);
        if (networks_named(d, &ids, e) != 0)
            return -1;
    }
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        return cli_fail(e, "network %s: made, then gone", d->network);
    }
    snprintf(d->network_id, sizeof(d->network_id), "%s", json_string_value(json_array_get(ids, 0)));
    for (size_t i = 1; i < json_array_size(ids); i++) {
        char path[256];
        long status;
        cli_err_t ignored;
        snprintf(path, sizeof(path), "/networks/%.128s", json_string_value(json_array_get(ids, i)));
        call(d, "DELETE", path, NULL, NULL, DOCKER_CALL_TIMEOUT_S, NULL, &status, NULL, &ignored); /* in use: stays */
    }
    json_decref(ids);
    return 0;
}

/* the bindings of a host-network container: its mappings as they are */
static json_t *host_bindings(const json_t *c)
{
    json_t *nb = json_array();
    size_t i;
    json_t *pm;
    json_array_foreach(json_object_get(c, "portMappings"), i, pm)
    {
        json_int_t cp = json_integer_value(json_object_get(pm, "containerPort"));
        json_int_t hp = json_integer_value(json_object_get(pm, "hostPort"));
        json_array_append_new(nb, json_pack("{s:s,s:I,s:I,s:s}", "bindIP", "0.0.0.0", "containerPort", cp, "hostPort", hp ? hp : cp,
                                            "protocol", jstr(pm, "protocol")[0] ? jstr(pm, "protocol") : "tcp"));
    }
    return nb;
}

static int docker_start(agent_runtime_t *rt, const json_t *task, json_t **containers, cli_err_t *e)
{
    docker_rt_t *d = dk(rt);
    const char *arn = jstr(task, "taskArn");
    const char *slash = strrchr(arn, '/');
    json_t *defs = json_object_get(task, "containers");
    size_t n = json_array_size(defs);
    bool host = strcmp(json_string_value(json_object_get(task, "networkMode")) ?: "bridge", "host") == 0;
    char ids[MAX_CONTAINERS][80];
    size_t made = 0;
    *containers = NULL;
    if (n == 0 || n > MAX_CONTAINERS)
        return cli_fail(e, "CannotCreateContainerError: a task has 1 to %d containers, not %zu", MAX_CONTAINERS, n);
    if (!host && ensure_network(d, e) != 0)
        return wrap(e, "CannotCreateContainerError: ");
    json_t *out = json_array();
    if (!out)
        return cli_fail(e, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(defs, i);
        char image[1400], path[1024];
        if (engine_image(d, jstr(c, "image"), image, sizeof(image), e) != 0)
            goto fail;
        json_t *extra = d->cfg.host.extra_env ? d->cfg.host.extra_env(d->cfg.host.ctx, task, jstr(c, "name")) : NULL;
        json_t *body = agent_docker_create_body(task, i, image, d->cfg.host.cluster, d->cfg.host.instance_arn(d->cfg.host.ctx),
                                                d->network_id, d->cfg.stop_timeout, extra, e);
        json_decref(extra);
        if (!body)
            goto fail;
        /* ECS's names run to 255 characters; the engine's container names are the same characters */
        snprintf(path, sizeof(path), "/containers/create?name=berth-%.32s-%.255s", slash ? slash + 1 : arn, jstr(c, "name"));
        long status;
        json_t *r;
        int rc = call(d, "POST", path, body, NULL, DOCKER_CALL_TIMEOUT_S, NULL, &status, &r, e);
        json_decref(body);
        if (rc != 0) {
            json_decref(r);
            wrap(e, "CannotCreateContainerError: ");
            goto fail;
        }
        if (status == 409) { /* made before a restart: the same task's container is adopted */
            json_decref(r);
            json_t *in;
            if (inspect(d, strchr(path, '=') + 1, &in, e) != 0) {
                wrap(e, "CannotCreateContainerError: ");
                goto fail;
            }
            bool ours = strcmp(jstr(json_object_get(json_object_get(in, "Config"), "Labels"), AGENT_DOCKER_LABEL_TASK), arn) == 0;
            r = json_pack("{s:s}", "Id", jstr(in, "Id"));
            json_decref(in);
            if (!ours) {
                json_decref(r);
                cli_fail(e, "CannotCreateContainerError: the engine holds another container named %s", strchr(path, '=') + 1);
                goto fail;
            }
            fprintf(stderr, "berth agent: %s: adopted the engine's container %s\n", arn, strchr(path, '=') + 1);
            status = 201;
        }
        if (status != 201 || !json_string_value(json_object_get(r, "Id"))) {
            json_decref(r);
            wrap(e, "CannotCreateContainerError: Error response from daemon: ");
            goto fail;
        }
        snprintf(ids[made++], sizeof(ids[0]), "%.79s", jstr(r, "Id"));
        json_decref(r);
    }
    for (size_t i = 0; i < n; i++) {
        char path[256];
        long status;
        snprintf(path, sizeof(path), "/containers/%.79s/start", ids[i]);
        if (call(d, "POST", path, NULL, NULL, DOCKER_CALL_TIMEOUT_S, NULL, &status, NULL, e) != 0 ||
            (status != 204 && status != 304)) {
            wrap(e, "CannotStartContainerError: Error response from daemon: ");
            goto fail;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *in, *r;
        if (inspect(d, ids[i], &in, e) != 0 || !(r = agent_docker_container_report(in))) {
            json_decref(in);
            wrap(e, "CannotStartContainerError: ");
            goto fail;
        }
        json_decref(in);
        if (host)
            json_object_set_new(r, "networkBindings", host_bindings(json_array_get(defs, i)));
        json_array_append_new(out, r);
    }
    *containers = out;
    return 0;
fail:
    for (size_t i = 0; i < made; i++)
        remove_container(d, ids[i]);
    json_decref(out);
    return -1;
}

static int docker_stop(agent_runtime_t *rt, const char *task_arn, json_t **containers, cli_err_t *e)
{
    *containers = stop_all(dk(rt), task_arn, e);
    return *containers ? 0 : -1;
}

static const json_t *find_named(const json_t *list, const char *key, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        if (strcmp(jstr(c, key), name) == 0)
            return c;
    }
    return NULL;
}

static int docker_check(agent_runtime_t *rt, const json_t *held, json_t **containers, char *reason, size_t rlen, cli_err_t *e)
{
    docker_rt_t *d = dk(rt);
    const json_t *task = json_object_get(held, "task");
    const char *arn = jstr(task, "taskArn");
    *containers = NULL;
    json_t *list = list_containers(d, arn, e);
    if (!list)
        return -1;
    bool essential_exited = false, running = false, changed = false;
    json_t *now = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(task, "containers"), i, c)
    {
        const char *name = jstr(c, "name");
        const json_t *l = NULL, *x;
        size_t k;
        json_array_foreach(list, k, x)
        {
            if (strcmp(jstr(json_object_get(x, "Labels"), AGENT_DOCKER_LABEL_CONTAINER), name) == 0)
                l = x;
        }
        json_t *r;
        if (l && strcmp(jstr(l, "State"), "running") == 0) {
            running = true;
            continue;
        }
        if (l) {
            json_t *in;
            int rc = inspect(d, jstr(l, "Id"), &in, e);
            if (rc < 0) {
                json_decref(list), json_decref(now);
                return -1;
            }
            r = rc == 0 ? agent_docker_container_report(in) : NULL;
            json_decref(in);
        } else {
            r = NULL;
        }
        if (!r) /* removed behind the agent's back */
            r = json_pack("{s:s,s:s,s:s}", "containerName", name, "status", "STOPPED", "reason",
                          "DockerContainerRemoved: the engine no longer holds the container");
        if (strcmp(jstr(r, "status"), "STOPPED") != 0) { /* running, or created and not started yet */
            running = true;
            json_decref(r);
            continue;
        }
        if (!json_is_false(json_object_get(c, "essential")))
            essential_exited = true;
        const json_t *last = find_named(json_object_get(held, "containers"), "containerName", name);
        if (strcmp(jstr(last, "status"), "STOPPED") != 0)
            changed = true;
        json_array_append_new(now, r);
    }
    json_decref(list);
    if (essential_exited || !running) {
        json_decref(now);
        snprintf(reason, rlen, "Essential container in task exited");
        json_t *all = stop_all(d, arn, e);
        if (!all)
            return -1;
        /* containers that were already gone keep what was last known of them */
        json_array_foreach(json_object_get(held, "containers"), i, c)
        {
            if (!find_named(all, "containerName", jstr(c, "containerName"))) {
                json_t *r = json_deep_copy(c);
                if (r && strcmp(jstr(r, "status"), "STOPPED") != 0) {
                    json_object_set_new(r, "status", json_string("STOPPED"));
                    json_object_del(r, "networkBindings");
                }
                json_array_append_new(all, r);
            }
        }
        *containers = all;
        return 1;
    }
    if (changed) {
        /* a non-essential container exited: report it with the others as they were */
        json_array_foreach(json_object_get(held, "containers"), i, c)
        {
            if (!find_named(now, "containerName", jstr(c, "containerName")))
                json_array_append(now, c);
        }
        *containers = now;
        return 0;
    }
    json_decref(now);
    return 0;
}

static json_t *docker_list(agent_runtime_t *rt)
{
    docker_rt_t *d = dk(rt);
    cli_err_t e;
    json_t *list = list_containers(d, NULL, &e), *seen = json_object(), *out = json_array();
    if (!list)
        fprintf(stderr, "berth agent: cannot list the engine's containers: %s\n", e.msg);
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *arn = jstr(json_object_get(c, "Labels"), AGENT_DOCKER_LABEL_TASK);
        if (*arn && !json_object_get(seen, arn)) {
            json_object_set_new(seen, arn, json_true());
            json_array_append_new(out, json_string(arn));
        }
    }
    json_decref(list);
    json_decref(seen);
    return out;
}

static void docker_destroy(agent_runtime_t *rt)
{
    docker_rt_t *d = dk(rt);
    if (!d)
        return;
    curl_easy_cleanup(d->curl);
    free(d);
}

static const agent_runtime_ops_t runtime_docker = {"docker",    DOCKER_CHECK_SECONDS, docker_pull, docker_start,
                                                   docker_stop, docker_check,         docker_list, docker_destroy};

agent_runtime_t *agent_docker_new(const agent_docker_config_t *cfg, cli_err_t *e)
{
    docker_rt_t *d = calloc(1, sizeof(*d));
    if (!d)
        return cli_fail(e, "out of memory"), NULL;
    d->base.ops = &runtime_docker;
    d->cfg = *cfg;
    const char *net = cfg->network ? cfg->network : "berth";
    if (!*net || strlen(net) >= sizeof(d->network) ||
        strspn(net, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(net)) {
        free(d);
        return cli_fail(e, "--docker-network: a network name (letters, digits, _ . -), not '%.100s'", net), NULL;
    }
    snprintf(d->network, sizeof(d->network), "%s", net);
    if (agent_docker_socket_path(cfg->docker_host, d->socket, sizeof(d->socket), e) != 0 || !(d->curl = curl_easy_init())) {
        if (!d->curl && !e->msg[0])
            cli_fail(e, "cannot initialise libcurl");
        free(d);
        return NULL;
    }
    long status;
    json_t *v;
    if (call(d, "GET", "/version", NULL, NULL, 10, NULL, &status, &v, e) != 0 || status != 200) {
        json_decref(v);
        if (status)
            cli_fail(e, "the Docker engine at %s answered /v1.41/version with HTTP %ld (dockerd 20.10 or later speaks it)",
                     cfg->docker_host, status);
        docker_destroy(&d->base);
        return NULL;
    }
    fprintf(stderr, "berth agent: Docker engine %s (API %s) at %s\n", jstr(v, "Version"), jstr(v, "ApiVersion"), cfg->docker_host);
    json_decref(v);
    return &d->base;
}
