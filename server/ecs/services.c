/* ECS's operations on services: CreateService, UpdateService, DeleteService, DescribeServices, ListServices. Each is validated,
 * authorized and run by ecs_handle (server/ecs/ecs.c); the service scheduler's periodic step is ecs.c's timer. */
#include "server/server_internal.h"

const aws_operation_t ecs_services_operations[] = {
    {ECS_SERVICE, "CreateService", "ecs", ecs_handle}, {ECS_SERVICE, "UpdateService", "ecs", ecs_handle},
    {ECS_SERVICE, "DeleteService", "ecs", ecs_handle}, {ECS_SERVICE, "DescribeServices", "ecs", ecs_handle},
    {ECS_SERVICE, "ListServices", "ecs", ecs_handle},  {NULL, NULL, NULL, NULL},
};
