/*
 * tests/scheduler/test_cql.c — the Cluster Query Language: every example of
 * the ECS developer guide selects what the guide says, every operator and
 * precedence rule, and malformed expressions name the position and what was
 * expected.
 */
#include "fixture.h"

static sched_cluster_t *cl;
static char buf[256];

/* A cluster the guide's examples can be read against:
 *   0  t2.small   us-east-1a  agent 1.14.4  registered 2018-02-01           i-abcd1234  task service:production
 *   1  g2.2xlarge us-east-1b  agent 1.14.5  registered 2018-03-01           i-wxyx7890  task database
 *   2  g2.2xlarge us-east-1d  agent 1.20.0  registered 2018-06-18T22:28:28Z i-0000      no tasks
 *   3  t2.medium  us-east-1c  agent 1.9.0   registered 2018-02-13           i-3333      two tasks, disconnected, stack=prod
 *   4  m5.large   us-east-1a  agent 1.70.0  registered 2018-06-03           i-4444      no tasks, stack=dev
 */
static void setup(void)
{
    cl = sched_cluster_new();
    cr_assert_not_null(cl);
    fx_add(cl, (fx_instance_t){.name = "i0",
                               .az = "us-east-1a",
                               .type = "t2.small",
                               .agent_version = "1.14.4",
                               .registered_at = 1517443200,
                               .ec2_id = "i-abcd1234"});
    fx_add(cl, (fx_instance_t){.name = "i1",
                               .az = "us-east-1b",
                               .type = "g2.2xlarge",
                               .agent_version = "1.14.5",
                               .registered_at = 1519862400,
                               .ec2_id = "i-wxyx7890"});
    fx_add(cl, (fx_instance_t){.name = "i2",
                               .az = "us-east-1d",
                               .type = "g2.2xlarge",
                               .agent_version = "1.20.0",
                               .registered_at = 1529360908,
                               .ec2_id = "i-0000"});
    fx_add(cl, (fx_instance_t){.name = "i3",
                               .az = "us-east-1c",
                               .type = "t2.medium",
                               .agent_version = "1.9.0",
                               .registered_at = 1518480000,
                               .ec2_id = "i-3333",
                               .disconnected = true,
                               .custom_name = "stack",
                               .custom_value = "prod"});
    fx_add(cl, (fx_instance_t){.name = "i4",
                               .az = "us-east-1a",
                               .type = "m5.large",
                               .ec2_id = "i-4444",
                               .custom_name = "stack",
                               .custom_value = "dev"});
    fx_add_task(cl, 0, "service:production");
    fx_add_task(cl, 1, "database");
    fx_add_task(cl, 3, "service:production");
    fx_add_task(cl, 3, "database");
}

static void teardown(void)
{
    sched_cluster_free(cl);
}

#define SELECTS(expr, want) cr_expect_str_eq(fx_select(cl, expr, buf, sizeof buf), want, "%s", expr)

TestSuite(cql_guide_examples, .init = setup, .fini = teardown);

Test(cql_guide_examples, string_equality_selects_the_instance_type)
{
    SELECTS("attribute:ecs.instance-type == t2.small", "0");
}

Test(cql_guide_examples, argument_list_selects_either_availability_zone)
{
    SELECTS("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", "0,1,4");
}

Test(cql_guide_examples, compound_selects_g2_outside_us_east_1d)
{
    SELECTS("attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", "1");
}

Test(cql_guide_examples, task_affinity_selects_hosts_of_the_group)
{
    SELECTS("task:group == service:production", "0,3");
}

Test(cql_guide_examples, task_anti_affinity_excludes_hosts_of_the_group)
{
    SELECTS("not(task:group == database)", "0,2,4");
}

Test(cql_guide_examples, running_task_count_selects_instances_with_one_task)
{
    SELECTS("runningTasksCount == 1", "0,1");
}

Test(cql_guide_examples, agent_version_below_compares_versions_numerically)
{
    /* 1.9.0 < 1.14.5 although "1.9.0" > "1.14.5" as text */
    SELECTS("agentVersion < 1.14.5", "0,3");
}

Test(cql_guide_examples, registered_before_a_date)
{
    SELECTS("registeredAt < 2018-02-13", "0");
}

Test(cql_guide_examples, ec2_instance_ids_in_a_quoted_list)
{
    SELECTS("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", "0,1");
}

Test(cql_guide_examples, filtering_examples_of_the_attributes_page)
{
    SELECTS("attribute:ecs.instance-type == g2.2xlarge", "1,2");
    SELECTS("attribute:stack == prod", "3");
    SELECTS("attribute:stack != prod", "4"); /* only instances with a stack attribute */
    SELECTS("attribute:ecs.instance-type in [t2.small, t2.medium]", "0,3");
    SELECTS("attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a", "0");
}

Test(cql_guide_examples, constraint_examples_of_the_constraints_page)
{
    SELECTS("attribute:ecs.instance-type =~ t2.*", "0,3");
    SELECTS("task:group == databases", "");
}

Test(cql_guide_examples, precedence_example_with_parentheses)
{
    SELECTS("(attribute:ecs.instance-type == t2.small or attribute:ecs.instance-type == g2.2xlarge) and "
            "attribute:ecs.availability-zone == us-east-1b",
            "1");
}

TestSuite(cql_operators, .init = setup, .fini = teardown);

Test(cql_operators, equality_symbol_and_word)
{
    SELECTS("attribute:ecs.availability-zone == us-east-1a", "0,4");
    SELECTS("attribute:ecs.availability-zone equals us-east-1a", "0,4");
}

Test(cql_operators, inequality_symbol_and_word)
{
    SELECTS("attribute:ecs.availability-zone != us-east-1a", "1,2,3");
    SELECTS("attribute:ecs.availability-zone not_equals us-east-1a", "1,2,3");
}

Test(cql_operators, ordering_symbols_and_words)
{
    SELECTS("runningTasksCount > 1", "3");
    SELECTS("runningTasksCount greater_than 1", "3");
    SELECTS("runningTasksCount >= 1", "0,1,3");
    SELECTS("runningTasksCount greater_than_equal 1", "0,1,3");
    SELECTS("runningTasksCount < 1", "2,4");
    SELECTS("runningTasksCount less_than 1", "2,4");
    SELECTS("runningTasksCount <= 1", "0,1,2,4");
    SELECTS("runningTasksCount less_than_equal 1", "0,1,2,4");
    SELECTS("agentVersion >= 1.14.5", "1,2,4");
    SELECTS("agentVersion != 1.14.5", "0,2,3,4");
}

Test(cql_operators, exists_and_not_exists)
{
    SELECTS("attribute:stack exists", "3,4");
    SELECTS("attribute:stack !exists", "0,1,2");
    SELECTS("attribute:stack not_exists", "0,1,2");
    SELECTS("task:group exists", "0,1,3");
}

Test(cql_operators, in_and_not_in)
{
    SELECTS("attribute:ecs.instance-type in [m5.large]", "4");
    SELECTS("attribute:ecs.instance-type not_in [t2.small, g2.2xlarge]", "3,4");
    SELECTS("attribute:ecs.instance-type !in [t2.small, g2.2xlarge]", "3,4");
    SELECTS("agentConnected in [false]", "3");
}

Test(cql_operators, matches_and_not_matches)
{
    SELECTS("attribute:ecs.instance-type =~ .*large", "1,2,4");
    SELECTS("attribute:ecs.instance-type matches .*large", "1,2,4");
    SELECTS("attribute:ecs.instance-type !~ .*large", "0,3");
    SELECTS("attribute:ecs.instance-type not_matches .*large", "0,3");
    /* whole-value match, as Java's Pattern.matches */
    SELECTS("attribute:ecs.instance-type =~ large", "");
    SELECTS("ec2InstanceId =~ i-\\d+", "2,3,4");
    SELECTS("attribute:ecs.instance-type =~ (t2|m5)\\..*", "0,3,4");
    SELECTS("attribute:ecs.instance-type =~ '(g2|m5).*'", "1,2,4");
}

Test(cql_operators, agent_connected)
{
    SELECTS("agentConnected == false", "3");
    SELECTS("agentConnected == true", "0,1,2,4");
}

Test(cql_operators, wildcards_in_values)
{
    SELECTS("attribute:ecs.instance-type == t2.*", "0,3");
    SELECTS("attribute:ecs.instance-type != *.2xlarge", "0,3,4");
    SELECTS("ec2InstanceId in [i-abcd*, i-0*]", "0,2");
    SELECTS("task:group == service:*", "0,3");
}

Test(cql_operators, dates_in_every_documented_format)
{
    SELECTS("registeredAt == 2018-06-18", "2"); /* a bare date under == is the whole day */
    SELECTS("registeredAt >= 2018-06-18T22:28:28+00:00", "2");
    SELECTS("registeredAt > 2018-06-18T22:28:27Z", "2");
    SELECTS("registeredAt == 2018-06-18T22:28:28", "2");
    SELECTS("registeredAt == 2018-06-19T00:28:28+02:00", "2");
    SELECTS("registeredAt <= 2018-02-13", "0,3");
    SELECTS("registeredAt != 2018-06-18", "0,1,3,4");
}

Test(cql_operators, boolean_words_and_symbols)
{
    SELECTS("attribute:stack exists and runningTasksCount == 0", "4");
    SELECTS("attribute:stack exists && runningTasksCount == 0", "4");
    SELECTS("attribute:stack == prod or runningTasksCount == 0", "2,3,4");
    SELECTS("attribute:stack == prod || runningTasksCount == 0", "2,3,4");
    SELECTS("not attribute:stack exists", "0,1,2");
    SELECTS("!attribute:stack exists", "0,1,2");
    SELECTS("! (attribute:stack exists)", "0,1,2");
    SELECTS("attribute:stack exists AND runningTasksCount == 0", "4");
}

Test(cql_operators, and_binds_tighter_than_or)
{
    /* a or b and c == a or (b and c) */
    SELECTS("attribute:stack == prod or attribute:ecs.availability-zone == us-east-1a and runningTasksCount == 0", "3,4");
    SELECTS("(attribute:stack == prod or attribute:ecs.availability-zone == us-east-1a) and runningTasksCount == 0", "4");
}

Test(cql_operators, not_binds_tighter_than_and)
{
    /* not a and b == (not a) and b */
    SELECTS("not attribute:stack exists and runningTasksCount == 0", "2");
    SELECTS("not (attribute:stack exists and runningTasksCount == 0)", "0,1,2,3");
}

Test(cql_operators, task_dependence_is_reported)
{
    sched_cql_t *q = NULL;
    cr_assert_eq(sched_cql_parse("attribute:a exists", &q, NULL), SCHED_OK);
    cr_expect_not(sched_cql_depends_on_tasks(q));
    sched_cql_free(q);
    cr_assert_eq(sched_cql_parse("attribute:a exists or runningTasksCount > 2", &q, NULL), SCHED_OK);
    cr_expect(sched_cql_depends_on_tasks(q));
    sched_cql_free(q);
}

/* ------------------------------------------------------------ malformed */

static void expect_syntax(const char *expr, size_t pos, const char *needle)
{
    sched_cql_t *q = NULL;
    sched_err_t err = {0};
    cr_assert_eq(sched_cql_parse(expr, &q, &err), SCHED_ESYNTAX, "'%s' should not parse", expr);
    cr_expect_null(q);
    cr_expect_eq(err.position, pos, "'%s': position %zu, want %zu (%s)", expr, err.position, pos, err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "'%s': message '%s' lacks '%s'", expr, err.msg, needle);
}

Test(cql_malformed, empty_expression_expects_a_subject)
{
    expect_syntax("", 0, "expected a subject");
}

Test(cql_malformed, unknown_subject)
{
    expect_syntax("foo == bar", 0, "expected a subject");
    expect_syntax("attribute: == x", 0, "attribute name");
}

Test(cql_malformed, missing_operator)
{
    expect_syntax("attribute:ecs.instance-type", 27, "expected an operator");
    expect_syntax("attribute:a is b", 12, "expected an operator");
}

Test(cql_malformed, missing_value)
{
    expect_syntax("attribute:x == ", 15, "expected a value");
    expect_syntax("attribute:x == )", 15, "expected a value");
}

Test(cql_malformed, unclosed_parenthesis)
{
    expect_syntax("(attribute:a exists", 19, "expected ')'");
}

Test(cql_malformed, lists)
{
    expect_syntax("attribute:a in t2", 15, "expected '['");
    expect_syntax("attribute:a in [a b]", 18, "expected ',' or ']'");
    expect_syntax("attribute:a in [a,", 18, "expected a value");
}

Test(cql_malformed, trailing_tokens)
{
    expect_syntax("attribute:a == b c", 17, "expected 'and', 'or'");
    expect_syntax("attribute:a exists)", 18, "expected 'and', 'or'");
}

Test(cql_malformed, dangling_boolean)
{
    expect_syntax("attribute:a exists and", 22, "expected a subject");
    expect_syntax("not", 3, "expected a subject");
}

Test(cql_malformed, operator_not_valid_for_subject)
{
    expect_syntax("runningTasksCount =~ 1", 18, "not valid for runningTasksCount");
    expect_syntax("ec2InstanceId > i-1", 14, "not valid for ec2InstanceId");
}

Test(cql_malformed, bad_values_for_typed_subjects)
{
    expect_syntax("registeredAt < yesterday", 15, "expected a date");
    expect_syntax("registeredAt < 2018-13-01", 15, "expected a date");
    expect_syntax("runningTasksCount == many", 21, "whole number");
}

Test(cql_malformed, lexical_errors)
{
    expect_syntax("attribute:a == 'unterminated", 15, "closing");
    expect_syntax("attribute:a exists & attribute:b exists", 19, "'&&'");
    expect_syntax("attribute:a = b", 12, "'=='");
}

Test(cql_malformed, invalid_regex)
{
    expect_syntax("attribute:a =~ [", 15, "regular expression");
}

Test(cql_malformed, nesting_limit)
{
    char expr[400];
    memset(expr, '(', 100);
    strcpy(expr + 100, "attribute:a exists");
    expect_syntax(expr, 64, "nested deeper");
}

Test(cql_malformed, length_limit)
{
    static char expr[SCHED_CQL_MAX_LEN + 10];
    memset(expr, 'a', sizeof expr - 1);
    expect_syntax(expr, SCHED_CQL_MAX_LEN, "at most");
}

Test(cql_malformed, regexes_that_would_explode_are_refused)
{
    /* glibc's regcomp copies the tree per stacked quantifier: found by fuzzing */
    expect_syntax("attribute:a =~ a+*", 17, "cannot follow another");
    expect_syntax("attribute:a =~ a{100}", 16, "{n,m}");
    expect_syntax("attribute:a =~ a{2}b{2}c{2}", 24, "{n,m}");
    expect_syntax("attribute:a =~ ((((((a)+)+)+)+)+)+", 31, "groups");
}

Test(cql_malformed, regexes_whose_repeated_part_can_be_empty_are_refused)
{
    /* empty alternatives under nested '+' sent glibc's epsilon closures into
     * exponential recursion: the fuzzer's input held CI's fuzzing past its timeout */
    expect_syntax("attribute:a =~ '((((((a)+||||||||||||||||||||||||||||||||||||||||||)+)+)))+'", 68, "empty string");
    expect_syntax("attribute:a =~ (a|)+", 19, "empty string");
    expect_syntax("attribute:a =~ (a*)*", 19, "empty string");
    expect_syntax("attribute:a =~ ()+", 17, "empty string");
    expect_syntax("attribute:a =~ (b?|c){2}", 21, "empty string");
    expect_syntax("attribute:a =~ '\\b+'", 18, "empty string");
    expect_syntax("attribute:a =~ ^*", 16, "empty string");
}

Test(cql_malformed, regex_shape_limits)
{
    expect_syntax("attribute:a =~ '(a)\\1'", 19, "back-references");
    expect_syntax("attribute:a =~ 'a)|(b'", 17, "no '('");
    expect_syntax("attribute:a =~ '(a'", 18, "never closed");
    expect_syntax("attribute:a =~ (((((((((a)))))))))", 23, "nested at most 8");
    static char expr[400];
    strcpy(expr, "attribute:a =~ ");
    memset(expr + 15, 'x', 300);
    expect_syntax(expr, 15 + 256, "256 characters");
}

Test(cql_operators, regexes_within_the_shape_limits_are_accepted)
{
    /* a part that must consume a character may repeat; groups may nest 8 deep */
    SELECTS("attribute:ecs.instance-type =~ '(t|m)+[0-9]\\.(x?l|sm)+.*'", "0,4");
    SELECTS("attribute:ecs.instance-type =~ '(a*b|t2|c?m5)+.*'", "0,3,4");
    SELECTS("attribute:ecs.instance-type =~ ((((((((t2.small))))))))", "0");
}

Test(cql_operators, java_regex_markers_are_accepted)
{
    /* lazy and possessive markers do not change whether a whole value matches */
    SELECTS("attribute:ecs.instance-type =~ t2.+?", "0,3");
    /* a run of them is one quantifier, so it costs nothing (the fuzzer's "s+++++..." took gigabytes) */
    SELECTS("attribute:ecs.instance-type =~ t2.s++++++++++++++++++++++++++++++++++++++++++++++mall", "0");
    SELECTS("attribute:ecs.instance-type =~ '[tg]2\\.[a-z0-9]{5,6}'", "0,3");
    SELECTS("attribute:ecs.instance-type =~ [[:alpha:]]5.large", "4");
}
