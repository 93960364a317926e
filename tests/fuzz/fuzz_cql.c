/*
 * tests/fuzz/fuzz_cql.c — the Cluster Query Language parser and evaluator.
 * Any input either parses or fails with SCHED_ESYNTAX at a position inside
 * the input and a message; what parses evaluates on a small cluster without
 * crashing, and `not(<input>)` selects exactly the other instances.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "scheduler/scheduler.h"

/* "not(" + "\n" + ")" around the input; the newline keeps a trailing bare regex from swallowing ')' */
#define WRAP_EXTRA 6

static sched_cluster_t *cluster;

/* three instances that differ in every subject CQL can name */
static void build_once(void)
{
    if (cluster)
        return;
    cluster = sched_cluster_new();
    FUZZ_CHECK(cluster != NULL);
    static const struct {
        const char *arn, *id, *az, *type, *version, *group;
        bool connected;
        int64_t registered;
    } rows[] = {
        {"ci/0", "i-abcd1234", "us-east-1a", "t2.small", "1.14.4", "service:production", true, 1518480000},
        {"ci/1", "i-wxyx7890", "us-east-1b", "g2.2xlarge", "1.20.0", "database", false, 1529360908},
        {"ci/2", "i-0000", "us-east-1d", "m5.large", "1.9.0", NULL, true, SCHED_TIME_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sched_attribute_t attrs[] = {{"ecs.availability-zone", rows[i].az}, {"ecs.instance-type", rows[i].type}, {"flag", NULL}};
        sched_instance_spec_t spec = {.arn = rows[i].arn,
                                      .ec2_instance_id = rows[i].id,
                                      .agent_connected = rows[i].connected,
                                      .agent_version = rows[i].version,
                                      .registered_at = rows[i].registered,
                                      .remaining_cpu = 1024,
                                      .remaining_memory = 1024,
                                      .attributes = attrs,
                                      .nattributes = i == 2 ? 3 : 2};
        FUZZ_CHECK(sched_cluster_add_instance(cluster, &spec, NULL, NULL) == SCHED_OK);
        if (rows[i].group) {
            sched_task_spec_t t = {.family = "f", .group = rows[i].group};
            FUZZ_CHECK(sched_cluster_add_task(cluster, i, &t, NULL) == SCHED_OK);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    build_once();
    if (size > SCHED_CQL_MAX_LEN + 1)
        return 0;
    char *text = malloc(size + WRAP_EXTRA + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    size_t len = strlen(text); /* an embedded NUL ends the expression */

    sched_cql_t *q = NULL;
    sched_err_t err = {0};
    sched_status_t st = sched_cql_parse(text, &q, &err);
    if (st != SCHED_OK) {
        FUZZ_CHECK(st == SCHED_ESYNTAX || st == SCHED_ENOMEM);
        FUZZ_CHECK(q == NULL);
        if (st == SCHED_ESYNTAX) {
            FUZZ_CHECK(err.position <= len);
            FUZZ_CHECK(err.msg[0] != 0);
        }
        free(text);
        return 0;
    }
    bool match[3];
    for (size_t i = 0; i < 3; i++) {
        match[i] = sched_cql_matches(q, cluster, i);
        FUZZ_CHECK(match[i] == sched_cql_matches(q, cluster, i)); /* evaluation is pure */
    }
    sched_cql_free(q);

    /* the negation selects the complement; skipped where wrapping would cross the limits */
    if (len + WRAP_EXTRA <= SCHED_CQL_MAX_LEN) {
        memmove(text + 4, text, len);
        memcpy(text, "not(", 4);
        text[len + 4] = '\n';
        text[len + 5] = ')';
        text[len + 6] = 0;
        sched_cql_t *nq = NULL;
        if (sched_cql_parse(text, &nq, NULL) == SCHED_OK) {
            for (size_t i = 0; i < 3; i++)
                FUZZ_CHECK(sched_cql_matches(nq, cluster, i) == !match[i]);
            sched_cql_free(nq);
        }
    }
    free(text);
    return 0;
}
