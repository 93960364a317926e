/* ECS's operations on task definitions. Each is validated, authorized and run by ecs_handle (server/ecs/ecs.c). */
#include "server/server_internal.h"

const aws_operation_t ecs_taskdefs_operations[] = {
    {ECS_SERVICE, "RegisterTaskDefinition", "ecs", ecs_handle},   {ECS_SERVICE, "DescribeTaskDefinition", "ecs", ecs_handle},
    {ECS_SERVICE, "ListTaskDefinitions", "ecs", ecs_handle},      {ECS_SERVICE, "ListTaskDefinitionFamilies", "ecs", ecs_handle},
    {ECS_SERVICE, "DeregisterTaskDefinition", "ecs", ecs_handle}, {NULL, NULL, NULL, NULL},
};
