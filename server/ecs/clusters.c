/* ECS's operations on clusters: CreateCluster, DescribeClusters, ListClusters, DeleteCluster; and on any resource's tags:
 * TagResource, UntagResource, ListTagsForResource. Each is validated, authorized and run by ecs_handle (server/ecs/ecs.c). */
#include "server/server_internal.h"

const aws_operation_t ecs_clusters_operations[] = {
    {ECS_SERVICE, "CreateCluster", "ecs", ecs_handle},       {ECS_SERVICE, "DescribeClusters", "ecs", ecs_handle},
    {ECS_SERVICE, "ListClusters", "ecs", ecs_handle},        {ECS_SERVICE, "DeleteCluster", "ecs", ecs_handle},
    {ECS_SERVICE, "TagResource", "ecs", ecs_handle},         {ECS_SERVICE, "UntagResource", "ecs", ecs_handle},
    {ECS_SERVICE, "ListTagsForResource", "ecs", ecs_handle}, {NULL, NULL, NULL, NULL},
};
