/*
 * tests/fuzz/fuzz_policy.c — policy documents. The input's last
 * REQUEST_BYTES bytes choose a request (action, resource, caller, context
 * values) from small tables, so that mutations of the document and of the
 * request stay independent; the rest is the document, parsed as both an
 * identity and a resource policy. Every accepted document is evaluated, and
 * the result must keep the promises policies.h makes:
 *   - the decision is one of three; an Allow or explicit Deny names a policy,
 *     a Sid and a statement index within that policy; an implicit deny none;
 *   - the reason is a non-empty, terminated line;
 *   - evaluating twice gives the same answer (no hidden state);
 *   - identity + resource policy together decide what IAM's combination of
 *     the two alone decides (explicit deny wins, else any allow).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_check.h"
#include "policies/policies.h"

#define REQUEST_BYTES 6
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const actions[] = {"ecr:BatchGetImage",
                                      "ecr:PutImage",
                                      "ecr:GetDownloadUrlForLayer",
                                      "ecr:ListImages",
                                      "s3:GetObject",
                                      "ECR:putimage",
                                      "ecr:",
                                      "*"};
static const char *const resources[] = {"arn:aws:ecr:us-east-1:123456789012:repository/team/app",
                                        "arn:aws:ecr:us-west-2:123456789012:repository/alice/x",
                                        "arn:aws:ecr:us-east-1:444455556666:repository/other",
                                        "*",
                                        "arn:aws:iam::123456789012:user/alice",
                                        "not an arn",
                                        "arn:::::",
                                        "arn:aws:ecr:us-east-1:123456789012:repository/a*b?\\"};
static const char *const principals[] = {"arn:aws:iam::123456789012:user/alice", "arn:aws:iam::444455556666:role/ci",
                                         "arn:aws:sts::123456789012:assumed-role/ci/s1", "ecs-tasks.amazonaws.com", NULL};
static const char *const keys[] = {"aws:username",         "aws:SourceIp",        "aws:CurrentTime", "aws:EpochTime", "aws:TagKeys",
                                   "ecr:ResourceTag/team", "aws:SecureTransport", "s3:max-keys",     "aws:SourceArn", "a:bin"};
static const char *const values[] = {"alice",
                                     "",
                                     "203.0.113.9",
                                     "2001:db8::1",
                                     "2026-11-28T12:00:00Z",
                                     "1795867200",
                                     "team",
                                     "true",
                                     "10",
                                     "arn:aws:codebuild:us-east-1:123456789012:project/x",
                                     "aGk=",
                                     "*",
                                     "${aws:username}",
                                     "1e999",
                                     "2026-02-30",
                                     "::ffff:1.2.3.4"};

/* the number of statements of a document policy_parse accepted */
static size_t statement_count(const uint8_t *data, size_t len)
{
    json_t *doc = json_loadb((const char *)data, len, 0, NULL);
    FUZZ_CHECK(doc != NULL);
    const json_t *st = json_object_get(doc, "Statement");
    size_t n = json_is_array(st) ? json_array_size(st) : 1;
    json_decref(doc);
    return n;
}

static void check_result(policy_decision_t d, const policy_result_t *r, const policy_named_t *id, size_t nid, size_t id_statements,
                         const policy_named_t *res, size_t res_statements)
{
    FUZZ_CHECK(d == POLICY_IMPLICIT_DENY || d == POLICY_ALLOW || d == POLICY_EXPLICIT_DENY);
    FUZZ_CHECK(r->decision == d);
    FUZZ_CHECK(memchr(r->reason, '\0', sizeof r->reason) != NULL && r->reason[0] != '\0');
    FUZZ_CHECK(strcmp(policy_decision_name(d), "") != 0);
    if (d == POLICY_IMPLICIT_DENY) {
        FUZZ_CHECK(r->policy_name == NULL);
        return;
    }
    FUZZ_CHECK(r->policy_name != NULL && r->sid != NULL);
    if (r->from_resource_policy) {
        FUZZ_CHECK(res != NULL && r->policy_name == res->name);
        FUZZ_CHECK(r->statement_index < res_statements);
    } else {
        FUZZ_CHECK(nid > 0 && r->policy_name == id[0].name);
        FUZZ_CHECK(r->statement_index < id_statements);
    }
}

/* The account field of an ARN (the fifth, "" for "*" or no ARN), into out. */
static void arn_account(const char *arn, char out[16])
{
    out[0] = '\0';
    for (int field = 0; arn && *arn && field < 4; arn++)
        if (*arn == ':' && ++field == 4) {
            size_t n = strcspn(arn + 1, ":");
            if (n < 16) {
                memcpy(out, arn + 1, n);
                out[n] = '\0';
            }
            return;
        }
}

static policy_decision_t combine(policy_decision_t a, policy_decision_t b)
{
    if (a == POLICY_EXPLICIT_DENY || b == POLICY_EXPLICIT_DENY)
        return POLICY_EXPLICIT_DENY;
    if (a == POLICY_ALLOW || b == POLICY_ALLOW)
        return POLICY_ALLOW;
    return POLICY_IMPLICIT_DENY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < REQUEST_BYTES)
        return 0;
    const uint8_t *rq = data + size - REQUEST_BYTES;
    size_t doclen = size - REQUEST_BYTES;

    policy_err_t err;
    memset(&err, 0xff, sizeof err);
    policy_t *idp = policy_parse((const char *)data, doclen, POLICY_KIND_IDENTITY, &err);
    if (!idp)
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL && err.msg[0] != '\0');
    memset(&err, 0xff, sizeof err);
    policy_t *resp = policy_parse((const char *)data, doclen, POLICY_KIND_RESOURCE, &err);
    if (!resp)
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL && err.msg[0] != '\0');
    /* a document cannot be both: one needs a Principal, the other refuses it */
    FUZZ_CHECK(!(idp && resp));
    if (!idp && !resp)
        return 0;
    size_t nst = statement_count(data, doclen);

    /* the request: two values per key at most; bit 7 of a key's byte leaves it out */
    const char *vals[N(keys)][2];
    policy_context_entry_t ctx[N(keys)];
    size_t nctx = 0;
    for (size_t k = 0; k < 3; k++) {
        uint8_t b = rq[3 + k];
        if (b & 0x80)
            continue;
        size_t key = (b & 0x0f) % N(keys);
        size_t nv = (b >> 4) & 3; /* 0..3, 3 meaning one */
        vals[nctx][0] = values[(b + k * 7) % N(values)];
        vals[nctx][1] = values[(b * 3 + rq[0]) % N(values)];
        ctx[nctx] = (policy_context_entry_t){keys[key], vals[nctx], nv == 3 ? 1 : nv};
        nctx++;
    }
    policy_request_t req = {.action = actions[rq[0] % N(actions)],
                            .resource = resources[rq[1] % N(resources)],
                            .principal_arn = principals[rq[2] % N(principals)],
                            .principal_account = (rq[2] & 0x80) ? "123456789012" : NULL,
                            .context = ctx,
                            .n_context = nctx};

    policy_named_t res = {"resource", resp};
    policy_result_t r1, r2;
    if (idp) {
        policy_named_t id[1] = {{"identity", idp}};
        policy_decision_t d = policy_evaluate(id, 1, NULL, &req, &r1);
        check_result(d, &r1, id, 1, nst, NULL, 0);
        policy_decision_t again = policy_evaluate(id, 1, NULL, &req, &r2);
        FUZZ_CHECK(again == d && strcmp(r1.reason, r2.reason) == 0);
        /* the same policy twice: same decision */
        policy_named_t twice[2] = {{"identity", idp}, {"identity", idp}};
        FUZZ_CHECK(policy_evaluate(twice, 2, NULL, &req, NULL) == d);
    } else {
        policy_decision_t d = policy_evaluate(NULL, 0, &res, &req, &r1);
        check_result(d, &r1, NULL, 0, 0, &res, nst);
        policy_decision_t again = policy_evaluate(NULL, 0, &res, &req, &r2);
        FUZZ_CHECK(again == d && strcmp(r1.reason, r2.reason) == 0);
        /* combined with a fixed identity policy: IAM's combination of the two alone */
        static const char fixed[] = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:*\","
                                    "\"Resource\":\"arn:aws:ecr:*:*:repository/team/*\"},{\"Effect\":\"Deny\",\"Action\":"
                                    "\"ecr:PutImage\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"aws:username\":"
                                    "\"alice\"}}}]}";
        policy_t *fp = policy_parse(fixed, sizeof fixed - 1, POLICY_KIND_IDENTITY, &err);
        FUZZ_CHECK(fp != NULL);
        policy_named_t fid[1] = {{"fixed", fp}};
        policy_decision_t a = policy_evaluate(fid, 1, NULL, &req, NULL);
        policy_decision_t both = policy_evaluate(fid, 1, &res, &req, &r2);
        /* Within one account a resource policy and the identity policies
         * each allow alone. Across accounts IAM needs both sides, so neither
         * alone decides what the two together do: only the deny is checked. */
        char caller_account[16], resource_account[16];
        arn_account(req.principal_account ? "arn:aws:iam::" : req.principal_arn, caller_account);
        if (req.principal_account)
            snprintf(caller_account, sizeof caller_account, "%s", req.principal_account);
        arn_account(req.resource, resource_account);
        bool cross = caller_account[0] && resource_account[0] && strcmp(caller_account, resource_account) != 0;
        if (!cross)
            FUZZ_CHECK(both == combine(a, d));
        else
            FUZZ_CHECK(combine(a, d) != POLICY_EXPLICIT_DENY || both == POLICY_EXPLICIT_DENY);
        check_result(both, &r2, fid, 1, 2, &res, nst);
        policy_free(fp);
    }
    policy_free(idp);
    policy_free(resp);
    return 0;
}
