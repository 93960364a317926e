/*
 * cli/cli_internal.h — what the `berth` subcommands share. Internal to cli/.
 */
#ifndef BERTH_CLI_INTERNAL_H
#define BERTH_CLI_INTERNAL_H

#include <stdbool.h>

/* A message for the user about bad input, printed by the subcommand. */
typedef struct {
    char msg[512];
} cli_err_t;

/* Fills e->msg and returns -1, so that a parser can `return cli_fail(e, ...)`. */
int cli_fail(cli_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The subcommands, one file each. Each returns the process exit status; they
 * receive argv starting after the verb. */
int berth_placement_simulate(int argc, char **argv);
int berth_policy_simulate(int argc, char **argv);
/* cli/admin.c: `berth iam|ecr <subcommand>`, calls to a running berthd; argv starts at the subcommand */
bool berth_admin_group(const char *group);
int berth_admin(const char *group, int argc, char **argv);
/* cli/admin.c: `berth gc [--dry-run] [--grace SECONDS]`; argv starts after "gc" */
int berth_gc(int argc, char **argv);
/* cli/store_admin.c: `berth backup [--data DIR] [--copy] DEST` and `berth fsck [--json] DATA` */
int berth_backup(int argc, char **argv);
int berth_fsck(int argc, char **argv);

/* ---- `berth agent` (cli/agent*.c) ---- */

int berth_agent(int argc, char **argv);

#include <jansson.h>
#include <stdint.h>

/* Pulling an image from Berth's /v2/ into a cache directory (cli/agent_pull.c). */
typedef struct {
    const char *endpoint;  /* "http://host:port", no trailing slash */
    const char *cache_dir; /* blobs in DIR/blobs/sha256/<hex>, only verified */
    const char *password;  /* the registry password (user AWS) */
    const char *ca_bundle; /* or NULL */
} agent_pull_t;
/* 0, or -1 with e->msg "CannotPullContainerError: ..." as ECS words it. *fetched: bytes moved. */
int agent_pull_image(const agent_pull_t *p, const char *image, uint64_t *fetched, cli_err_t *e);
/* A task definition's image ("host:port/repo/name:tag", "name@sha256:...", "name") into the repository
 * and the tag or digest (default "latest"); the host is dropped: the agent pulls from the Berth it
 * speaks to. 0, or -1 with e->msg "CannotPullContainerError: ...". */
int agent_parse_image(const char *image, char *repo, size_t rlen, char *ref, size_t flen, cli_err_t *e);
/* The digests the cache holds (at most max), as the agent reports them. */
json_t *agent_cache_layers(const char *cache_dir, size_t max);

/* What runs a task's containers. `none` (cli/agent.c) pulls and verifies the
 * images and holds the task as running; `docker` (cli/agent_docker.c) runs
 * them through a Docker engine's API. Each runtime's state embeds
 * agent_runtime_t first (as h2o's handlers embed h2o_handler_t). */
typedef struct agent_runtime_ops agent_runtime_ops_t;
typedef struct {
    const agent_runtime_ops_t *ops;
} agent_runtime_t;

struct agent_runtime_ops {
    const char *name;
    /* > 0: the agent looks at its running tasks (check) at least this often, by shortening its poll */
    int check_seconds;
    /* every container's image of `task` (BerthPollWork's shape). 0, or -1 with e->msg "CannotPullContainerError: ..." */
    int (*pull)(agent_runtime_t *rt, const json_t *task, cli_err_t *e);
    /* starts the containers; *containers: ECS containers[] of a SubmitTaskStateChange (runtimeId, networkBindings).
     * 0, or -1 with e->msg (nothing of the task is left running) */
    int (*start)(agent_runtime_t *rt, const json_t *task, json_t **containers, cli_err_t *e);
    /* stops the task's containers (SIGTERM, SIGKILL after the stop timeout) and removes them; *containers as
     * above, with exit codes. Works from the ARN alone: after a restart the runtime finds them itself. */
    int (*stop)(agent_runtime_t *rt, const char *task_arn, json_t **containers, cli_err_t *e);
    /* a RUNNING task as the agent holds it ({"task": BerthPollWork's task, "containers": last reported}):
     * 0 still running (*containers NULL, or a change to report: a non-essential container exited);
     * 1 over: the rest was stopped and removed, *containers has the exit codes, `reason` says why
     * ("Essential container in task exited"); -1: cannot tell now (e->msg) */
    int (*check)(agent_runtime_t *rt, const json_t *held, json_t **containers, char *reason, size_t rlen, cli_err_t *e);
    /* the task ARNs the runtime holds (by label): what survives an agent restart */
    json_t *(*list)(agent_runtime_t *rt);
    void (*destroy)(agent_runtime_t *rt);
};

/* What a runtime asks of the agent that runs it. */
typedef struct {
    void *ctx;
    const char *cluster;
    /* Berth's "host:port", from which the engine pulls every image (the host an image names is replaced, as
     * --runtime none pulls from the Berth it speaks to) */
    const char *registry;
    /* the container instance's ARN, or NULL before the first registration: labels tell agents apart */
    const char *(*instance_arn)(void *ctx);
    /* a registry password (user AWS) of the agent's current credentials, the instance role's, minted as
     * get-login-password does. 0 with *password (valid until the next call), or -1 with e->msg */
    int (*password)(void *ctx, const char **password, cli_err_t *e);
    /* THE HOOK FOR TASK ROLES: extra environment for container `name` of `task` (BerthPollWork's shape), ECS's
     * [{"name", "value"}], set after the definition's and the overrides' (so it wins); NULL for none. The
     * runtime takes the reference. e.g. AWS_CONTAINER_CREDENTIALS_FULL_URI and
     * AWS_CONTAINER_AUTHORIZATION_TOKEN of a host-network task with a task role. */
    json_t *(*extra_env)(void *ctx, const json_t *task, const char *name);
} agent_host_t;

/* ---- --runtime docker (cli/agent_docker.c) ---- */

typedef struct {
    const char *docker_host; /* "unix:///var/run/docker.sock" */
    const char *network;     /* the user-defined bridge network of bridge-mode tasks, created if absent */
    int stop_timeout;        /* seconds between SIGTERM and SIGKILL when a container has no stopTimeout */
    agent_host_t host;
} agent_docker_config_t;

/* A runtime on the engine at cfg->docker_host (checked with GET /version), or NULL with e->msg. */
agent_runtime_t *agent_docker_new(const agent_docker_config_t *cfg, cli_err_t *e);

/* The pure parts, for the tests. */
#define AGENT_DOCKER_LABEL_TASK "com.berth.ecs.task-arn"
#define AGENT_DOCKER_LABEL_CONTAINER "com.berth.ecs.container-name"
#define AGENT_DOCKER_LABEL_CLUSTER "com.berth.ecs.cluster"
#define AGENT_DOCKER_LABEL_INSTANCE "com.berth.ecs.container-instance-arn"
#define AGENT_DOCKER_LABEL_STOP "com.berth.ecs.stop-timeout"
#define AGENT_DOCKER_LABEL_ESSENTIAL "com.berth.ecs.essential"
/* "unix:///path" into the socket's path. 0, or -1 with e->msg */
int agent_docker_socket_path(const char *docker_host, char *path, size_t len, cli_err_t *e);
/* The body of POST /containers/create for container `index` of `task` (BerthPollWork's shape): image
 * (the engine's reference), labels, CpuShares, Memory, MemoryReservation, Env (definition, then the
 * overrides, then extra_env), Cmd, Entrypoint, NetworkMode (`network` for bridge, "host" for host) and
 * PortBindings (host port "" for 0: the engine picks). NULL with e->msg on a task it cannot run. */
json_t *agent_docker_create_body(const json_t *task, size_t index, const char *image, const char *cluster, const char *instance_arn,
                                 const char *network, int stop_timeout, const json_t *extra_env, cli_err_t *e);
/* A container's inspect (GET /containers/{id}/json) as one ECS containers[] entry: containerName (its label),
 * runtimeId, status RUNNING or STOPPED, exitCode when stopped, networkBindings (IPv4) when running. NULL if
 * it is not one of ours. */
json_t *agent_docker_container_report(const json_t *inspect);
/* X-Registry-Auth's value: base64url of {"username", "password", "serveraddress"}; NULL on no memory */
char *agent_docker_registry_auth(const char *username, const char *password, const char *server);

/* The task role credentials endpoint on 127.0.0.1 (cli/agent_creds.c): the
 * container-credentials protocol, one token per task with a role. The agent's
 * loop owns it and feeds it; its own thread only answers from memory. */
#define AGENT_CREDS_ARN_MAX 640
#define AGENT_CREDS_TOKEN_MAX 64
typedef struct agent_creds agent_creds_t;
/* Listens on 127.0.0.1:port (0: a port the kernel picks). NULL with e->msg. */
agent_creds_t *agent_creds_start(int port, cli_err_t *e);
int agent_creds_port(const agent_creds_t *c);
/* Gives task_arn its token (`token`, one this file made before and the state
 * kept, or NULL for a fresh random one; a task that has one keeps it) into out. */
int agent_creds_add(agent_creds_t *c, const char *task_arn, const char *token, char out[AGENT_CREDS_TOKEN_MAX + 1], cli_err_t *e);
/* The credentials of BerthGetTaskCredentials' reply, served from now on to the task's token. */
int agent_creds_set(agent_creds_t *c, const char *task_arn, const json_t *reply, cli_err_t *e);
/* When the task's credentials expire (Unix seconds; 0: it has none yet). */
int64_t agent_creds_expiry(agent_creds_t *c, const char *task_arn);
/* The task stopped: its token gets nothing from now on. */
void agent_creds_remove(agent_creds_t *c, const char *task_arn);
/* What a task's containers need in their environment to find the endpoint:
 * [{"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", ...}, {"name":
 * "AWS_CONTAINER_AUTHORIZATION_TOKEN", "value": token}] (NULL: no memory). */
json_t *agent_creds_task_env(const agent_creds_t *c, const char *token);
/* A request head (NUL-terminated): 200 for GET /v1/credentials over HTTP/1.0 or
 * 1.1, with token its Authorization value ("" when absent or longer than
 * AGENT_CREDS_TOKEN_MAX); else the status to answer: 400 (not an HTTP/1
 * request line), 405 (another method), 404 (another path). */
int agent_creds_parse_request(const char *head, char token[AGENT_CREDS_TOKEN_MAX + 1]);
/* Stops the thread and wipes every credential it held. NULL is allowed. */
void agent_creds_stop(agent_creds_t *c);

#endif
