/* The agent's reports, ECS's SubmitTaskStateChange and SubmitContainerStateChange. Each is validated, authorized and run by
 * ecs_handle (server/ecs/ecs.c); the state machine is scheduler/ecs_agent.c's. */
#include "server/server_internal.h"

const aws_operation_t ecs_agent_operations[] = {
    {ECS_SERVICE, "SubmitTaskStateChange", "ecs", ecs_handle},
    {ECS_SERVICE, "SubmitContainerStateChange", "ecs", ecs_handle},
    {NULL, NULL, NULL, NULL},
};
