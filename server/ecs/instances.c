/* ECS's operations on container instances and their attributes. Each is validated, authorized and run by ecs_handle
 * (server/ecs/ecs.c). */
#include "server/server_internal.h"

const aws_operation_t ecs_instances_operations[] = {
    {ECS_SERVICE, "RegisterContainerInstance", "ecs", ecs_handle},
    {ECS_SERVICE, "DeregisterContainerInstance", "ecs", ecs_handle},
    {ECS_SERVICE, "ListContainerInstances", "ecs", ecs_handle},
    {ECS_SERVICE, "DescribeContainerInstances", "ecs", ecs_handle},
    {ECS_SERVICE, "UpdateContainerInstancesState", "ecs", ecs_handle},
    {ECS_SERVICE, "PutAttributes", "ecs", ecs_handle},
    {ECS_SERVICE, "DeleteAttributes", "ecs", ecs_handle},
    {ECS_SERVICE, "ListAttributes", "ecs", ecs_handle},
    {NULL, NULL, NULL, NULL},
};
