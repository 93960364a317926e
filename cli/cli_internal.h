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
 * images and holds the task as running; a Docker runtime would implement the
 * same five calls on the engine's API (pull through the engine, containers
 * labelled with the task ARN, list-by-label to find them after a restart). */
typedef struct agent_runtime agent_runtime_t;
typedef struct {
    const char *name;
    /* every container's image of `task` (BerthPollWork's shape) */
    int (*pull)(agent_runtime_t *rt, const json_t *task, cli_err_t *e);
    /* starts the containers; *containers: ECS containers[] of a SubmitTaskStateChange (runtimeId, networkBindings) */
    int (*start)(agent_runtime_t *rt, const json_t *task, json_t **containers, cli_err_t *e);
    /* stops them; *containers as above, with exit codes */
    int (*stop)(agent_runtime_t *rt, const char *task_arn, json_t **containers, cli_err_t *e);
    /* "RUNNING", "STOPPED" or NULL when the runtime holds no such task */
    const char *(*inspect)(agent_runtime_t *rt, const char *task_arn);
    /* the task ARNs the runtime holds (by label): what survives an agent restart */
    json_t *(*list)(agent_runtime_t *rt);
} agent_runtime_ops_t;

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
