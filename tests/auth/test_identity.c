/* The identity store: first-start bootstrap, users and roles, access keys,
 * managed policies and their attachments, repository policies — on a real
 * LMDB store in a temp dir. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "tests/storage/helpers.h"

static char dir[256];
static storage_t *st;
static auth_keys_t keys;

static void setup(void)
{
    st = test_store_open(dir, sizeof(dir));
    bool created;
    auth_err_t err;
    cr_assert_eq(auth_bootstrap(st, dir, &keys, &created, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert(created);
}

static void teardown(void)
{
    test_store_close(st, dir);
}

TestSuite(identity, .init = setup, .fini = teardown);

/* The maker's status, when it refuses a change before it runs. */
static auth_identity_status_t made;

/* Runs a prepared change, or gives the refusal of the maker that returned
 * NULL, and frees it. */
static auth_identity_status_t run(auth_change_t *c, auth_err_t *err)
{
    if (!c)
        return made;
    auth_identity_status_t s = auth_change_run(st, c, err);
    auth_change_free(c);
    return s;
}

/* Creates a user or role; *out (when given) is the new one. */
static auth_identity_status_t user_create(const char *name, bool role, auth_principal_t *out, auth_err_t *err)
{
    auth_change_t *c = auth_change_user_create(&keys, name, role, &made, err);
    if (!c)
        return made;
    auth_identity_status_t s = auth_change_run(st, c, err);
    if (s == AUTH_IDENTITY_OK && out)
        *out = *auth_change_principal(c);
    auth_change_free(c);
    return s;
}

/* Creates an access key of a principal; id and secret are the new key's. */
static auth_identity_status_t key_create(const char *arn, char id[AUTH_ACCESS_KEY_ID_LEN + 1], char secret[AUTH_SECRET_KEY_LEN + 1],
                                         auth_err_t *err)
{
    id[0] = secret[0] = '\0';
    auth_change_t *c = auth_change_access_key_create(&keys, arn, &made, err);
    if (!c)
        return made;
    auth_identity_status_t s = auth_change_run(st, c, err);
    /* copied whatever the outcome: a refused change must hold no secret */
    snprintf(id, AUTH_ACCESS_KEY_ID_LEN + 1, "%s", auth_change_access_key_id(c));
    snprintf(secret, AUTH_SECRET_KEY_LEN + 1, "%s", auth_change_secret(c));
    auth_change_free(c);
    return s;
}

static char *read_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static mode_t file_mode(const char *name)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert_eq(stat(path, &sb), 0, "%s is missing", name);
    return sb.st_mode & 0777;
}

/* The principal and secret of the administrator's key, from its file. */
static void admin_key(char id[AUTH_ACCESS_KEY_ID_LEN + 1], char secret[AUTH_SECRET_KEY_LEN + 1])
{
    char *text = read_file("admin-credentials");
    cr_assert_not_null(text);
    cr_assert_eq(sscanf(text, "[default]\naws_access_key_id = %20s\naws_secret_access_key = %40s", id, secret), 2, "%s", text);
}

Test(identity, first_start_writes_the_admin_key_file_0600_and_its_secret_unseals_from_the_store)
{
    cr_assert_eq(file_mode("admin-credentials"), 0600);
    cr_assert_eq(file_mode("master.key"), 0600);
    char id[AUTH_ACCESS_KEY_ID_LEN + 1], secret[AUTH_SECRET_KEY_LEN + 1], got[AUTH_SECRET_KEY_LEN + 1];
    admin_key(id, secret);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    auth_principal_t p;
    auth_err_t err;
    cr_assert_eq(auth_access_key_get(storage_reader_records(rd), &keys, id, &p, got, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    storage_reader_end(rd);
    cr_assert_str_eq(got, secret);
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    auth_principal_arn(&keys, AUTH_ADMIN_USER, false, arn);
    cr_assert_str_eq(p.arn, arn);
    cr_assert_eq(p.n_policies, 1);
    cr_assert_str_eq(p.policies[0], AUTH_ADMIN_POLICY);
    cr_assert_eq(strlen(keys.account_id), AUTH_ACCOUNT_ID_LEN);
    cr_assert_neq(keys.account_id[0], '0', "an account id does not start with 0");
}

Test(identity, a_restart_loads_the_same_account_and_token_key_and_does_not_rewrite_a_deleted_credentials_file)
{
    auth_keys_t before = keys;
    char path[512];
    snprintf(path, sizeof(path), "%s/admin-credentials", dir);
    cr_assert_eq(unlink(path), 0);
    bool created;
    auth_err_t err;
    cr_assert_eq(auth_bootstrap(st, dir, &keys, &created, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_not(created);
    cr_assert_str_eq(keys.account_id, before.account_id);
    cr_assert_str_eq(keys.token_key.id, before.token_key.id);
    cr_assert(memcmp(keys.token_key.secret, before.token_key.secret, AUTH_TOKEN_KEY_BYTES) == 0);
    cr_assert_null(read_file("admin-credentials"), "the administrator deleted it on purpose: it stays deleted");
}

Test(identity, a_store_whose_master_key_is_missing_refuses_to_start_instead_of_making_a_new_one)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/master.key", dir);
    cr_assert_eq(unlink(path), 0);
    bool created;
    auth_err_t err;
    cr_assert_eq(auth_bootstrap(st, dir, &keys, &created, &err), AUTH_IDENTITY_STORE_ERROR);
    cr_assert(strstr(err.msg, "master.key") != NULL, "%s", err.msg);
    cr_assert_eq(access(path, F_OK), -1, "no new master key was written over the old secrets");
}

Test(identity, a_wrong_master_key_cannot_unseal_the_token_key)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/master.key", dir);
    int fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_geq(fd, 0);
    unsigned char other[AUTH_SEAL_KEY_BYTES] = {1, 2, 3};
    cr_assert_eq(write(fd, other, sizeof(other)), (ssize_t)sizeof(other));
    close(fd);
    bool created;
    auth_err_t err;
    cr_assert_eq(auth_bootstrap(st, dir, &keys, &created, &err), AUTH_IDENTITY_STORE_ERROR);
    cr_assert(strstr(err.msg, "master.key") != NULL, "%s", err.msg);
}

Test(identity, users_are_unique_named_as_iam_names_them_and_listed_in_order)
{
    auth_principal_t p;
    auth_err_t err;
    cr_assert_eq(user_create("zoe", false, &p, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(user_create("bob", false, &p, &err), AUTH_IDENTITY_OK);
    cr_assert(strncmp(p.id, "AIDA", 4) == 0);
    cr_assert_eq(user_create("bob", false, &p, &err), AUTH_IDENTITY_EXISTS);
    cr_assert_eq(user_create("bob", true, &p, &err), AUTH_IDENTITY_OK, "a role may share a user's name");
    cr_assert(strncmp(p.id, "AROA", 4) == 0);
    cr_assert_eq(user_create("bad/name", false, &p, &err), AUTH_IDENTITY_INVALID);
    cr_assert_eq(user_create("", false, &p, &err), AUTH_IDENTITY_INVALID);
    char longname[AUTH_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    cr_assert_eq(user_create(longname, false, &p, &err), AUTH_IDENTITY_INVALID);
}

static bool collect_names(void *ctx, const auth_principal_t *p)
{
    strcat(ctx, p->name);
    strcat(ctx, ",");
    return true;
}

Test(identity, listing_users_gives_every_user_in_name_order_and_no_roles)
{
    auth_err_t err;
    cr_assert_eq(user_create("carol", false, NULL, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(user_create("bob", false, NULL, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(user_create("agent", true, NULL, &err), AUTH_IDENTITY_OK);
    char names[256] = "";
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_principals_list(storage_reader_records(rd), false, collect_names, names, &err), AUTH_IDENTITY_OK);
    cr_assert_str_eq(names, "admin,bob,carol,");
    names[0] = '\0';
    cr_assert_eq(auth_principals_list(storage_reader_records(rd), true, collect_names, names, &err), AUTH_IDENTITY_OK);
    cr_assert_str_eq(names, "agent,");
    storage_reader_end(rd);
}

Test(identity, a_user_has_at_most_two_keys_and_cannot_be_deleted_while_it_has_keys_or_policies)
{
    auth_principal_t p;
    auth_err_t err;
    cr_assert_eq(user_create("ci", false, &p, &err), AUTH_IDENTITY_OK);
    char id1[AUTH_ACCESS_KEY_ID_LEN + 1], id2[AUTH_ACCESS_KEY_ID_LEN + 1], id3[AUTH_ACCESS_KEY_ID_LEN + 1];
    char s1[AUTH_SECRET_KEY_LEN + 1], s2[AUTH_SECRET_KEY_LEN + 1], s3[AUTH_SECRET_KEY_LEN + 1];
    cr_assert_eq(key_create(p.arn, id1, s1, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(key_create(p.arn, id2, s2, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(key_create(p.arn, id3, s3, &err), AUTH_IDENTITY_LIMIT);
    cr_assert_str_eq(s3, "", "a refused key's secret is not handed out");
    cr_assert_eq(run(auth_change_user_delete("ci", false, &made, &err), &err), AUTH_IDENTITY_CONFLICT);
    cr_assert(strstr(err.msg, "access keys") != NULL, "%s", err.msg);
    cr_assert_eq(run(auth_change_access_key_delete(id1, &made, &err), &err), AUTH_IDENTITY_OK);
    cr_assert_eq(run(auth_change_access_key_delete(id2, &made, &err), &err), AUTH_IDENTITY_OK);
    cr_assert_eq(run(auth_change_access_key_delete(id2, &made, &err), &err), AUTH_IDENTITY_NOT_FOUND);
    cr_assert_eq(run(auth_change_user_delete("ci", false, &made, &err), &err), AUTH_IDENTITY_OK);
    cr_assert_eq(run(auth_change_user_delete("ci", false, &made, &err), &err), AUTH_IDENTITY_NOT_FOUND);
}

Test(identity, a_deleted_key_no_longer_authenticates)
{
    auth_principal_t p;
    auth_err_t err;
    cr_assert_eq(user_create("ci", false, &p, &err), AUTH_IDENTITY_OK);
    char id[AUTH_ACCESS_KEY_ID_LEN + 1], secret[AUTH_SECRET_KEY_LEN + 1], got[AUTH_SECRET_KEY_LEN + 1];
    cr_assert_eq(key_create(p.arn, id, secret, &err), AUTH_IDENTITY_OK);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_access_key_get(storage_reader_records(rd), &keys, id, &p, got, &err), AUTH_IDENTITY_OK);
    cr_assert_str_eq(got, secret);
    storage_reader_end(rd);
    cr_assert_eq(run(auth_change_access_key_delete(id, &made, &err), &err), AUTH_IDENTITY_OK);
    rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_access_key_get(storage_reader_records(rd), &keys, id, &p, got, &err), AUTH_IDENTITY_NOT_FOUND);
    storage_reader_end(rd);
}

#define PULL_POLICY                                                                                                                \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:BatchGetImage\",\"Resource\":\"*\"}]}"

Test(identity, a_policy_is_validated_attached_at_most_once_and_not_deleted_while_attached)
{
    auth_principal_t p;
    auth_err_t err;
    cr_assert_eq(user_create("ci", false, &p, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(
        run(auth_change_policy_put(&keys, "Pull", "{\"Statement\":[{\"Effect\":\"Allow\"}]}", 33, true, &made, &err), &err),
        AUTH_IDENTITY_INVALID);
    cr_assert(strstr(err.msg, "MalformedPolicyDocument") != NULL, "%s", err.msg);
    cr_assert_eq(run(auth_change_policy_put(&keys, "Pull", PULL_POLICY, strlen(PULL_POLICY), true, &made, &err), &err),
                 AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(run(auth_change_policy_put(&keys, "Pull", PULL_POLICY, strlen(PULL_POLICY), true, &made, &err), &err),
                 AUTH_IDENTITY_EXISTS);
    cr_assert_eq(run(auth_change_policy_attach(&keys, p.arn, "Nope", true, &made, &err), &err), AUTH_IDENTITY_NOT_FOUND);
    cr_assert_eq(run(auth_change_policy_attach(&keys, p.arn, "Pull", true, &made, &err), &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(run(auth_change_policy_attach(&keys, p.arn, "Pull", true, &made, &err), &err), AUTH_IDENTITY_OK,
                 "attaching twice is a no-op");
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    auth_principal_t again;
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), p.arn, &again, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(again.n_policies, 1);
    const char *doc;
    size_t len;
    cr_assert_eq(auth_policy_get(storage_reader_records(rd), "Pull", &doc, &len, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(len, strlen(PULL_POLICY));
    cr_assert(memcmp(doc, PULL_POLICY, len) == 0);
    storage_reader_end(rd);
    cr_assert_eq(run(auth_change_policy_delete("Pull", &made, &err), &err), AUTH_IDENTITY_CONFLICT);
    cr_assert_eq(run(auth_change_policy_attach(&keys, p.arn, "Pull", false, &made, &err), &err), AUTH_IDENTITY_OK);
    cr_assert_eq(run(auth_change_policy_attach(&keys, p.arn, "Pull", false, &made, &err), &err), AUTH_IDENTITY_NOT_FOUND);
    cr_assert_eq(run(auth_change_policy_delete("Pull", &made, &err), &err), AUTH_IDENTITY_OK);
}

Test(identity, every_change_bumps_the_generation_and_a_refused_one_does_not)
{
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    uint64_t g0 = auth_generation(storage_reader_records(rd));
    storage_reader_end(rd);
    auth_err_t err;
    cr_assert_eq(user_create("ci", false, NULL, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(user_create("ci", false, NULL, &err), AUTH_IDENTITY_EXISTS);
    rd = storage_reader_begin(st, NULL);
    uint64_t g1 = auth_generation(storage_reader_records(rd));
    storage_reader_end(rd);
    cr_assert_eq(g1, g0 + 1);
}

Test(identity, a_repository_policy_must_name_a_principal_and_can_be_deleted)
{
    auth_err_t err;
    cr_assert_eq(run(auth_change_repository_policy_set("team/app", PULL_POLICY, strlen(PULL_POLICY), &made, &err), &err),
                 AUTH_IDENTITY_INVALID);
    const char *rp =
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:BatchGetImage\"}]}";
    cr_assert_eq(run(auth_change_repository_policy_set("team/app", rp, strlen(rp), &made, &err), &err), AUTH_IDENTITY_OK, "%s",
                 err.msg);
    cr_assert_eq(run(auth_change_repository_policy_set("../etc", rp, strlen(rp), &made, &err), &err), AUTH_IDENTITY_INVALID);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    const char *doc;
    size_t len;
    cr_assert_eq(auth_repository_policy_get(storage_reader_records(rd), "team/app", &doc, &len, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(len, strlen(rp));
    storage_reader_end(rd);
    cr_assert_eq(run(auth_change_repository_policy_set("team/app", NULL, 0, &made, &err), &err), AUTH_IDENTITY_OK);
    cr_assert_eq(run(auth_change_repository_policy_set("team/app", NULL, 0, &made, &err), &err), AUTH_IDENTITY_NOT_FOUND);
}

Test(identity, rotating_the_token_key_voids_every_token_issued_before_and_survives_a_restart)
{
    auth_token_claims_t claims = {.issued_at = 1000, .expires_at = 2000, .principal_id = "AIDAAAAAAAAAAAAAAAAAA"};
    auth_principal_arn(&keys, AUTH_ADMIN_USER, false, claims.principal_arn);
    char token[AUTH_TOKEN_MAX_BYTES + 1];
    auth_err_t err;
    cr_assert_eq(auth_token_issue(&keys.token_key, &claims, token, sizeof(token), &err), AUTH_OK);
    auth_token_claims_t out;
    cr_assert_eq(auth_token_verify(&keys.token_key, token, strlen(token), 1500, &out, &err), AUTH_OK);
    auth_keys_t before = keys;
    cr_assert_eq(auth_token_key_rotate(st, &keys, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_str_eq(before.token_key.id, "k1");
    cr_assert_str_eq(keys.token_key.id, "k2");
    cr_assert(memcmp(before.token_key.secret, keys.token_key.secret, AUTH_TOKEN_KEY_BYTES) != 0);
    cr_assert_eq(auth_token_verify(&keys.token_key, token, strlen(token), 1500, &out, &err), AUTH_EBADSIG);
    bool created;
    auth_keys_t reloaded;
    cr_assert_eq(auth_bootstrap(st, dir, &reloaded, &created, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_str_eq(reloaded.token_key.id, "k2");
    cr_assert(memcmp(reloaded.token_key.secret, keys.token_key.secret, AUTH_TOKEN_KEY_BYTES) == 0);
}

Test(identity, a_user_deleted_and_created_again_is_not_named_by_the_first_ones_token)
{
    auth_principal_t first, second, got;
    auth_err_t err;
    cr_assert_eq(user_create("carol", false, &first, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    auth_token_claims_t claims = {.issued_at = 1000, .expires_at = 2000};
    snprintf(claims.principal_arn, sizeof(claims.principal_arn), "%s", first.arn);
    snprintf(claims.principal_id, sizeof(claims.principal_id), "%s", first.id);
    char token[AUTH_TOKEN_MAX_BYTES + 1];
    cr_assert_eq(auth_token_issue(&keys.token_key, &claims, token, sizeof(token), &err), AUTH_OK, "%s", err.msg);
    auth_token_claims_t out;
    cr_assert_eq(auth_token_verify(&keys.token_key, token, strlen(token), 1500, &out, &err), AUTH_OK, "%s", err.msg);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), out.principal_arn, &got, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    storage_reader_end(rd);
    cr_assert(auth_token_names(&out, &got));

    cr_assert_eq(run(auth_change_user_delete("carol", false, &made, &err), &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(user_create("carol", false, &second, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_str_eq(second.arn, first.arn, "the same name, the same ARN");
    cr_assert_str_neq(second.id, first.id);
    rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), out.principal_arn, &got, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    storage_reader_end(rd);
    cr_assert_not(auth_token_names(&out, &got), "the first carol's token must not name the second");
}

/* Writes user/ALICE as an older berthd could have, beside user/alice. */
static storage_status_t put_old_record(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    const char *rec = *(const char *const *)ctx;
    return storage_record_put(rs, "iam", "user/ALICE", rec, strlen(rec), true, serr);
}

/* IAM API reference, CreateUser / CreateRole / CreatePolicy: "IAM user, group, role, and policy
 * names must be unique within the account. Names are not distinguished by case. For example, you
 * cannot create resources named both "MyResource" and "myresource"." */
/* A token's or an access key's ARN is the one the server wrote: it is looked up
 * exactly, so a stale token costs one read, never a scan of every name. */
Test(identity, a_stored_arn_is_looked_up_exactly)
{
    auth_principal_t p, got;
    auth_err_t err;
    cr_assert_eq(user_create("carol", false, &p, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    char upper[AUTH_PRINCIPAL_ARN_MAX + 1];
    auth_principal_arn(&keys, "CAROL", false, upper);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_principal_get_stored(storage_reader_records(rd), p.arn, &got, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_str_eq(got.id, p.id);
    cr_assert_eq(auth_principal_get_stored(storage_reader_records(rd), upper, &got, &err), AUTH_IDENTITY_NOT_FOUND);
    storage_reader_end(rd);
}

Test(identity, names_are_unique_whatever_their_case_and_found_whatever_the_case_asked)
{
    auth_principal_t p, got;
    auth_err_t err;
    cr_assert_eq(user_create("alice", false, &p, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(user_create("ALICE", false, &got, &err), AUTH_IDENTITY_EXISTS);
    cr_assert(strstr(err.msg, "alice") != NULL, "the refusal names the existing user: %s", err.msg);
    cr_assert_eq(user_create("Alice", true, &got, &err), AUTH_IDENTITY_OK, "a role is another namespace");
    cr_assert_eq(user_create("aLiCe", true, &got, &err), AUTH_IDENTITY_EXISTS);

    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    auth_principal_arn(&keys, "ALICE", false, arn);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), arn, &got, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    storage_reader_end(rd);
    cr_assert_str_eq(got.name, "alice", "found as created");
    cr_assert_str_eq(got.arn, p.arn);
    cr_assert_str_eq(got.id, p.id);

    const char *doc = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}]}";
    cr_assert_eq(run(auth_change_policy_put(&keys, "PullOnly", doc, strlen(doc), true, &made, &err), &err), AUTH_IDENTITY_OK, "%s",
                 err.msg);
    cr_assert_eq(run(auth_change_policy_put(&keys, "pullonly", doc, strlen(doc), true, &made, &err), &err), AUTH_IDENTITY_EXISTS);
    auth_policy_info_t info;
    rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_policy_info(storage_reader_records(rd), "PULLONLY", &info, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_str_eq(info.name, "PullOnly");
    const char *got_doc;
    size_t len;
    cr_assert_eq(auth_policy_get(storage_reader_records(rd), "pullONLY", &got_doc, &len, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(len, strlen(doc));
    storage_reader_end(rd);

    /* attached by another spelling: the principal's record names the policy as created */
    cr_assert_eq(run(auth_change_policy_attach(&keys, arn, "pullonly", true, &made, &err), &err), AUTH_IDENTITY_OK, "%s", err.msg);
    rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), p.arn, &got, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    storage_reader_end(rd);
    cr_assert_eq(got.n_policies, 1);
    cr_assert_str_eq(got.policies[0], "PullOnly");
    cr_assert_eq(run(auth_change_policy_attach(&keys, arn, "PULLONLY", false, &made, &err), &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(run(auth_change_user_delete("Alice", false, &made, &err), &err), AUTH_IDENTITY_OK, "%s", err.msg);
    rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), p.arn, &got, &err), AUTH_IDENTITY_NOT_FOUND);
    storage_reader_end(rd);
}

/* A store written before names were compared without case may hold both ALICE and alice:
 * each stays reachable by its own spelling. */
Test(identity, records_that_differ_only_in_case_from_before_stay_reachable_by_their_own_spelling)
{
    auth_principal_t first, got;
    auth_err_t err;
    cr_assert_eq(user_create("alice", false, &first, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    /* what an older berthd could write: a second record under another case */
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    auth_principal_arn(&keys, "ALICE", false, arn);
    char rec[512];
    snprintf(rec, sizeof(rec), "{\"arn\":\"%s\",\"created\":1,\"id\":\"AIDAOLDOLDOLDOLDOLDOL\",\"keys\":[],\"policies\":[]}", arn);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_RECORDS);
    struct {
        const char *rec;
    } ctx = {rec};
    op.records_fn = put_old_record;
    op.records_ctx = &ctx;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), arn, &got, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_str_eq(got.id, "AIDAOLDOLDOLDOLDOLDOL");
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), first.arn, &got, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_str_eq(got.id, first.id);
    storage_reader_end(rd);
    cr_assert_eq(run(auth_change_user_delete("ALICE", false, &made, &err), &err), AUTH_IDENTITY_OK, "%s", err.msg);
    rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), first.arn, &got, &err), AUTH_IDENTITY_OK, "alice is still there");
    cr_assert_str_eq(got.id, first.id);
    storage_reader_end(rd);
}

/* Overwrites (or writes) the record iam/<key> with raw bytes, as damage would. */
struct raw_record {
    const char *key, *val;
};

static storage_status_t put_raw(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    const struct raw_record *r = ctx;
    return storage_record_put(rs, "iam", r->key, r->val, strlen(r->val), false, serr);
}

static void damage(const char *key)
{
    struct raw_record r = {key, "{not json"};
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_RECORDS);
    op.records_fn = put_raw;
    op.records_ctx = &r;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
}

Test(identity, a_damaged_account_record_is_a_store_error_not_an_unknown_principal)
{
    auth_principal_t p;
    auth_err_t err;
    cr_assert_eq(user_create("dora", false, &p, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    damage("account");
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), p.arn, &p, &err), AUTH_IDENTITY_STORE_ERROR, "%s", err.msg);
    cr_assert(strstr(err.msg, "iam/account is damaged"), "%s", err.msg);
    storage_reader_end(rd);
}

Test(identity, a_policy_is_not_deleted_while_a_damaged_principal_record_might_have_it_attached)
{
    const char *doc = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}]}";
    auth_principal_t p;
    auth_err_t err;
    cr_assert_eq(run(auth_change_policy_put(&keys, "Pull", doc, strlen(doc), true, &made, &err), &err), AUTH_IDENTITY_OK, "%s",
                 err.msg);
    cr_assert_eq(user_create("erin", false, &p, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(run(auth_change_policy_attach(&keys, p.arn, "Pull", true, &made, &err), &err), AUTH_IDENTITY_OK, "%s", err.msg);
    damage("user/erin");
    cr_assert_eq(run(auth_change_policy_delete("Pull", &made, &err), &err), AUTH_IDENTITY_STORE_ERROR, "%s", err.msg);
    cr_assert(strstr(err.msg, "iam/user/erin is damaged"), "%s", err.msg);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    const char *got;
    size_t len;
    cr_assert_eq(auth_policy_get(storage_reader_records(rd), "Pull", &got, &len, &err), AUTH_IDENTITY_OK, "still there");
    storage_reader_end(rd);
}

static bool collect_policy_names(void *ctx, const auth_policy_info_t *p)
{
    strcat(ctx, p->name);
    strcat(ctx, ",");
    return true;
}

Test(identity, listings_give_policies_in_name_order_and_skip_a_damaged_record)
{
    auth_err_t err;
    cr_assert_eq(run(auth_change_policy_put(&keys, "Zeta", PULL_POLICY, strlen(PULL_POLICY), true, &made, &err), &err),
                 AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(run(auth_change_policy_put(&keys, "Beta", PULL_POLICY, strlen(PULL_POLICY), true, &made, &err), &err),
                 AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(user_create("bob", false, NULL, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(user_create("carol", false, NULL, &err), AUTH_IDENTITY_OK);
    damage("policy/Beta");
    damage("user/bob");
    char names[256] = "";
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_policies_list(storage_reader_records(rd), collect_policy_names, names, &err), AUTH_IDENTITY_OK);
    cr_assert_str_eq(names, AUTH_ADMIN_POLICY ",Zeta,");
    names[0] = '\0';
    cr_assert_eq(auth_principals_list(storage_reader_records(rd), false, collect_names, names, &err), AUTH_IDENTITY_OK);
    cr_assert_str_eq(names, "admin,carol,");
    storage_reader_end(rd);
}
