/* ECS's operations on tasks: placement (RunTask, StartTask), StopTask, ListTasks, DescribeTasks. Each is validated, authorized and
 * run by ecs_handle (server/ecs/ecs.c). */
#include "server/server_internal.h"

const aws_operation_t ecs_tasks_operations[] = {
    {ECS_SERVICE, "RunTask", "ecs", ecs_handle},       {ECS_SERVICE, "StartTask", "ecs", ecs_handle},
    {ECS_SERVICE, "StopTask", "ecs", ecs_handle},      {ECS_SERVICE, "ListTasks", "ecs", ecs_handle},
    {ECS_SERVICE, "DescribeTasks", "ecs", ecs_handle}, {NULL, NULL, NULL, NULL},
};
