/* Task roles and the agent's identity on the cluster state (scheduler/ecs_agent.c,
 * ecs_state.c, ecs_request.c): a container instance belongs to the principal
 * that registered it, BerthGetTaskCredentials names a live task's role only to
 * its own instance's agent, and a task definition's roles go through the
 * caller's check (env.check_roles: iam:PassRole and the trust policy, berthd's). */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/scheduler.h"
#include "storage/storage.h"
#include "ecs_fixture.h"

TestSuite(ecs_task_roles, .init = ecs_fixture_open, .fini = ecs_fixture_close);

#define ROLE "arn:aws:iam::123456789012:role/app"
static const char TD_ROLE[] = "{\"family\":\"app\",\"networkMode\":\"host\",\"taskRoleArn\":\"" ROLE "\","
                              "\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}";
static const char TD_PLAIN[] = "{\"family\":\"plain\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}";

static char *run_one(const char *family, const char *instance, char *task, size_t len)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"taskDefinition\":\"%s\",\"containerInstances\":[\"%s\"]}", family, instance);
    json_t *out = ok("StartTask", body);
    cr_assert_eq(json_array_size(at(out, "tasks")), 1, "%s", json_dumps(out, 0));
    snprintf(task, len, "%s", str(out, "tasks.0.taskArn"));
    json_decref(out);
    return task;
}

static json_t *creds(const char *instance, const char *task, sched_ecs_err_t *err)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstance\":\"%s\",\"task\":\"%s\"}", instance, task);
    return call("BerthGetTaskCredentials", body, err);
}

static void creds_fail(const char *instance, const char *task, const char *type, const char *needle)
{
    sched_ecs_err_t err = {0};
    json_t *out = creds(instance, task, &err);
    cr_assert_null(out, "expected %s", type);
    cr_expect_str_eq(err.type, type, "%s", err.msg);
    cr_expect(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
}

Test(ecs_task_roles, a_task_role_needs_host_network_mode)
{
    fails("RegisterTaskDefinition",
          "{\"family\":\"b\",\"networkMode\":\"bridge\",\"taskRoleArn\":\"" ROLE "\","
          "\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}",
          "ClientException", "task roles need networkMode host");
    fails("RegisterTaskDefinition",
          "{\"family\":\"b\",\"taskRoleArn\":\"" ROLE
          "\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}",
          "ClientException", "bridge by default");
    /* an execution role is the agent's, not the container's: bridge is fine */
    json_decref(ok("RegisterTaskDefinition", "{\"family\":\"b\",\"executionRoleArn\":\"" ROLE "\","
                                             "\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}"));
}

static int checks;
static char seen[2][256];
static int refuse_denied(void *ctx, struct storage_records *rs, const char *task_role, const char *exec_role, sched_ecs_err_t *err)
{
    (void)ctx;
    cr_assert_not_null(rs);
    checks++;
    snprintf(seen[0], sizeof(seen[0]), "%s", task_role ? task_role : "-");
    snprintf(seen[1], sizeof(seen[1]), "%s", exec_role ? exec_role : "-");
    if ((task_role && strstr(task_role, "denied")) || (exec_role && strstr(exec_role, "denied"))) {
        err->type = "AccessDeniedException";
        err->http_status = 400;
        snprintf(err->msg, sizeof(err->msg), "not authorized to perform: iam:PassRole");
        return SCHED_EINVAL;
    }
    return 0;
}

Test(ecs_task_roles, the_callers_role_check_decides_registration_and_every_start_of_a_task)
{
    env.check_roles = refuse_denied;
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD_PLAIN));
    cr_expect_eq(checks, 0, "a task definition without roles needs no check");
    json_decref(ok("RegisterTaskDefinition", TD_ROLE));
    cr_expect_eq(checks, 1);
    cr_expect_str_eq(seen[0], ROLE);
    cr_expect_str_eq(seen[1], "-");
    fails("RegisterTaskDefinition",
          "{\"family\":\"app\",\"networkMode\":\"host\",\"executionRoleArn\":\"arn:aws:iam::123456789012:role/denied\","
          "\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}",
          "AccessDeniedException", "iam:PassRole");
    json_t *d = ok("DescribeTaskDefinition", "{\"taskDefinition\":\"app\"}");
    cr_expect_eq(num(d, "taskDefinition.revision"), 1, "the refused registration wrote no revision");
    json_decref(d);
    /* a role named by its short name is checked and kept as its ARN */
    json_decref(ok("RegisterTaskDefinition", "{\"family\":\"short\",\"networkMode\":\"host\",\"taskRoleArn\":\"app\","
                                             "\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}"));
    cr_expect_str_eq(seen[0], ROLE);
    d = ok("DescribeTaskDefinition", "{\"taskDefinition\":\"short\"}");
    cr_expect_str_eq(str(d, "taskDefinition.taskRoleArn"), ROLE);
    json_decref(d);

    /* RunTask and StartTask check the roles of the definition they start */
    checks = 0;
    json_decref(ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"app\"}"));
    cr_expect_eq(checks, 1);
    char body[512];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"taskDefinition\":\"app:1\",\"containerInstances\":[\"%s\"]}", ci);
    json_decref(ok("StartTask", body));
    cr_expect_eq(checks, 2);
    /* a definition the check now refuses starts nothing */
    env.check_roles = NULL;
    json_decref(ok("RegisterTaskDefinition",
                   "{\"family\":\"later\",\"networkMode\":\"host\",\"taskRoleArn\":\"arn:aws:iam::123456789012:role/denied\","
                   "\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}"));
    env.check_roles = refuse_denied;
    fails("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"later\"}", "AccessDeniedException", "iam:PassRole");
    json_t *l = ok("ListTasks", "{\"cluster\":\"c\",\"family\":\"later\"}");
    cr_expect_eq(json_array_size(at(l, "taskArns")), 0);
    json_decref(l);
    free(ci);
}

Test(ecs_task_roles, an_instance_answers_only_to_the_principal_that_registered_it)
{
    env.caller = "arn:aws:iam::123456789012:user/agent-a#AIDAAAAAAAAAAAAAAAAAA";
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD_ROLE));
    char task[256], body[2048];
    run_one("app", ci, task, sizeof(task));
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstance\":\"%s\",\"waitSeconds\":0}", ci);
    json_t *w = ok("BerthPollWork", body);
    cr_expect_str_eq(str(w, "tasks.0.taskRoleArn"), ROLE, "the agent learns the task's role with its work");
    json_decref(w);

    env.caller = "arn:aws:iam::123456789012:user/agent-b#AIDABBBBBBBBBBBBBBBBB";
    fails("BerthPollWork", body, "AccessDeniedException", "registered by another principal");
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\"}", task);
    fails("SubmitTaskStateChange", body, "AccessDeniedException", "registered by another principal");
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"containerName\":\"a\",\"status\":\"RUNNING\"}", task);
    fails("SubmitContainerStateChange", body, "AccessDeniedException", "registered by another principal");
    creds_fail(ci, task, "AccessDeniedException", "registered by another principal");
    snprintf(body, sizeof(body),
             "{\"cluster\":\"c\",\"containerInstanceArn\":\"%s\",\"totalResources\":[{\"name\":\"CPU\",\"type\":\"INTEGER\","
             "\"integerValue\":1024},{\"name\":\"MEMORY\",\"type\":\"INTEGER\",\"integerValue\":1024}]}",
             ci);
    fails("RegisterContainerInstance", body, "AccessDeniedException", "only its own agent may re-attach");
    /* the same user made again has a new unique id: not the owner either */
    env.caller = "arn:aws:iam::123456789012:user/agent-a#AIDACCCCCCCCCCCCCCCCC";
    creds_fail(ci, task, "AccessDeniedException", "registered by another principal");

    env.caller = "arn:aws:iam::123456789012:user/agent-a#AIDAAAAAAAAAAAAAAAAAA";
    json_decref(ok("RegisterContainerInstance", body));
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\"}", task);
    json_decref(ok("SubmitTaskStateChange", body));
    sched_ecs_err_t err = {0};
    json_t *c = creds(ci, task, &err);
    cr_assert_not_null(c, "%s", err.msg);
    json_decref(c);
    /* berthd's own steps (no caller) are not bound */
    env.caller = NULL;
    json_decref(ok("SubmitTaskStateChange", body));
    free(ci);
}

Test(ecs_task_roles, credentials_name_a_live_tasks_role_on_its_own_instance_only)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024), *other = register_instance("c", "az-2", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD_ROLE));
    json_decref(ok("RegisterTaskDefinition", TD_PLAIN));
    char task[256], plain[256], body[1024];
    run_one("app", ci, task, sizeof(task));
    run_one("plain", ci, plain, sizeof(plain));

    sched_ecs_err_t err = {0};
    json_t *c = creds(ci, task, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_expect_str_eq(str(c, "roleArn"), ROLE);
    cr_expect_str_eq(str(c, "taskArn"), task);
    cr_expect_str_eq(str(c, "sessionName"), strrchr(task, '/') + 1, "the session is named after the task's id");
    json_decref(c);

    creds_fail(other, task, "ClientException", "does not run on container instance");
    creds_fail(ci, plain, "ClientException", "has no task role");
    creds_fail(ci, "0123456789abcdef0123456789abcdef", "ClientException", "is not a task of cluster c");
    fails("BerthGetTaskCredentials",
          "{\"cluster\":\"c\",\"containerInstance\":\"x\",\"task\":\"0123456789abcdef0123456789abcdef\"}",
          "InvalidParameterException", "containerInstance");
    fails("BerthGetTaskCredentials", "{\"cluster\":\"c\",\"containerInstance\":\"x\"}", "InvalidParameterException", "task");
    fails("BerthGetTaskCredentials", "{\"cluster\":\"c\",\"containerInstance\":\"x\",\"task\":\"y\",\"more\":1}",
          "InvalidParameterException", "more");

    /* StopTask: the task gets nothing from then on, even before its agent reports it stopped */
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"reason\":\"done\"}", task);
    json_decref(ok("StopTask", body));
    creds_fail(ci, task, "ClientException", "stopped or stopping");
    free(ci);
    free(other);
}

/* A service's tasks are placed by berthd's own steps, with no caller to check:
 * CreateService and an UpdateService naming a task definition check the caller
 * passing its roles, as RunTask does, and a refusal creates or rolls nothing. */
Test(ecs_task_roles, create_and_update_service_check_the_callers_role_check)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD_ROLE));
    json_decref(ok("RegisterTaskDefinition", TD_PLAIN));
    json_decref(ok("RegisterTaskDefinition",
                   "{\"family\":\"later\",\"networkMode\":\"host\",\"taskRoleArn\":\"arn:aws:iam::123456789012:role/denied\","
                   "\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}"));
    env.check_roles = refuse_denied;

    checks = 0;
    fails("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"later\",\"desiredCount\":1}",
          "AccessDeniedException", "iam:PassRole");
    cr_expect_eq(checks, 1);
    json_t *l = ok("ListServices", "{\"cluster\":\"c\"}");
    cr_expect_eq(json_array_size(at(l, "serviceArns")), 0, "the refused CreateService made no service");
    json_decref(l);
    l = ok("ListTasks", "{\"cluster\":\"c\"}");
    cr_expect_eq(json_array_size(at(l, "taskArns")), 0, "... and started no task");
    json_decref(l);

    json_decref(ok("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"app\",\"desiredCount\":1}"));
    cr_expect_eq(checks, 2);
    cr_expect_str_eq(seen[0], ROLE);
    json_decref(ok("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"p\",\"taskDefinition\":\"plain\",\"desiredCount\":1}"));
    cr_expect_eq(checks, 2, "a definition without roles needs no check");

    /* a new count alone passes nothing new */
    json_decref(ok("UpdateService", "{\"cluster\":\"c\",\"service\":\"s\",\"desiredCount\":2}"));
    cr_expect_eq(checks, 2);
    fails("UpdateService", "{\"cluster\":\"c\",\"service\":\"s\",\"taskDefinition\":\"later\"}", "AccessDeniedException",
          "iam:PassRole");
    cr_expect_eq(checks, 3);
    json_t *d = ok("DescribeServices", "{\"cluster\":\"c\",\"services\":[\"s\"]}");
    cr_expect(strstr(str(d, "services.0.taskDefinition"), "task-definition/app:1"), "the refused update rolled nothing: %s",
              str(d, "services.0.taskDefinition"));
    cr_expect_eq(json_array_size(at(d, "services.0.deployments")), 1);
    cr_expect_eq(num(d, "services.0.desiredCount"), 2, "the refused update changed nothing, its count included");
    json_decref(d);
    /* the plain service moving to a definition with a role is checked too */
    json_decref(ok("UpdateService", "{\"cluster\":\"c\",\"service\":\"p\",\"taskDefinition\":\"app\"}"));
    cr_expect_eq(checks, 4);
    free(ci);
}
