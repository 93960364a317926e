/* Records: other parts' metadata in named key spaces, changed only by
 * closures run in one transaction. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tests/storage/helpers.h"

TEST_STORE_SUITE(records);

/* A closure that applies a small script of puts and deletes, then fails on purpose when asked. */
typedef struct {
    const char *space;
    const char *puts[4][2];
    const char *dels[2];
    bool create_only;
    storage_status_t fail_with;
} script_t;

static storage_status_t run_script(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    script_t *s = ctx;
    for (size_t i = 0; i < 4 && s->puts[i][0]; i++) {
        storage_status_t r =
            storage_record_put(rs, s->space, s->puts[i][0], s->puts[i][1], strlen(s->puts[i][1]), s->create_only, err);
        if (r != STORAGE_OK)
            return r;
    }
    for (size_t i = 0; i < 2 && s->dels[i]; i++) {
        storage_status_t r = storage_record_del(rs, s->space, s->dels[i], err);
        if (r != STORAGE_OK)
            return r;
    }
    return s->fail_with;
}

static storage_status_t apply(script_t *s, storage_err_t *err)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_RECORDS);
    op.records_fn = run_script;
    op.records_ctx = s;
    storage_status_t r = storage_execute(st, &op);
    if (err)
        *err = op.err;
    return r;
}

/* The value of space/key as a string ("" when absent). */
static const char *get(const char *space, const char *key, char *buf, size_t cap)
{
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    cr_assert_not_null(rd);
    const void *v;
    size_t n;
    buf[0] = '\0';
    if (storage_record_get(storage_reader_records(rd), space, key, &v, &n, NULL) == STORAGE_OK)
        snprintf(buf, cap, "%.*s", (int)n, (const char *)v);
    storage_reader_end(rd);
    return buf;
}

Test(records, a_committed_closure_is_visible_to_readers_that_start_after_it)
{
    char buf[64];
    storage_reader_t *before = storage_reader_begin(st, NULL);
    script_t s = {.space = "iam", .puts = {{"user/alice", "A"}, {"user/bob", "B"}}};
    cr_assert_eq(apply(&s, NULL), STORAGE_OK);
    cr_assert_str_eq(get("iam", "user/alice", buf, sizeof buf), "A");
    cr_assert_str_eq(get("iam", "user/bob", buf, sizeof buf), "B");
    const void *v;
    size_t n;
    cr_assert_eq(storage_record_get(storage_reader_records(before), "iam", "user/alice", &v, &n, NULL), STORAGE_NOT_FOUND,
                 "a snapshot taken before the commit does not see it");
    storage_reader_end(before);
}

Test(records, a_failing_closure_leaves_nothing_behind)
{
    char buf[64];
    script_t ok = {.space = "iam", .puts = {{"user/alice", "A"}}};
    cr_assert_eq(apply(&ok, NULL), STORAGE_OK);
    script_t bad = {.space = "iam", .puts = {{"user/carol", "C"}, {"user/alice", "changed"}}, .fail_with = STORAGE_INVALID};
    cr_assert_eq(apply(&bad, NULL), STORAGE_INVALID);
    cr_assert_str_eq(get("iam", "user/carol", buf, sizeof buf), "");
    cr_assert_str_eq(get("iam", "user/alice", buf, sizeof buf), "A");
}

Test(records, create_only_put_refuses_an_existing_key_and_writes_nothing)
{
    char buf[64];
    script_t first = {.space = "iam", .puts = {{"key/AKIA1", "alice"}}, .create_only = true};
    cr_assert_eq(apply(&first, NULL), STORAGE_OK);
    script_t again = {.space = "iam", .puts = {{"key/AKIA2", "bob"}, {"key/AKIA1", "mallory"}}, .create_only = true};
    storage_err_t err;
    cr_assert_eq(apply(&again, &err), STORAGE_EXISTS);
    cr_assert(strstr(err.msg, "key/AKIA1") != NULL, "the message names the key: %s", err.msg);
    cr_assert_str_eq(get("iam", "key/AKIA1", buf, sizeof buf), "alice");
    cr_assert_str_eq(get("iam", "key/AKIA2", buf, sizeof buf), "", "the whole closure was undone");
}

Test(records, delete_of_an_absent_key_is_not_found)
{
    script_t s = {.space = "iam", .dels = {"user/nobody"}};
    cr_assert_eq(apply(&s, NULL), STORAGE_NOT_FOUND);
}

static bool collect(void *ctx, const char *key, size_t key_len, const void *val, size_t len)
{
    char *out = ctx;
    size_t used = strlen(out);
    snprintf(out + used, 256 - used, "%.*s=%.*s,", (int)key_len, key, (int)len, (const char *)val);
    return strncmp(key, "user/stop", key_len) != 0;
}

Test(records, scan_lists_one_space_by_prefix_in_key_order_and_can_stop)
{
    script_t a = {.space = "iam", .puts = {{"user/b", "2"}, {"user/a", "1"}, {"role/r", "3"}, {"users", "4"}}};
    script_t b = {.space = "iamx", .puts = {{"user/z", "other space"}}};
    script_t c = {.space = "iam", .puts = {{"user/stop", "5"}, {"user/zz", "6"}}};
    cr_assert_eq(apply(&a, NULL), STORAGE_OK);
    cr_assert_eq(apply(&b, NULL), STORAGE_OK);
    cr_assert_eq(apply(&c, NULL), STORAGE_OK);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    char out[256] = "";
    cr_assert_eq(storage_record_scan(storage_reader_records(rd), "iam", "user/", collect, out, NULL), STORAGE_OK);
    cr_assert_str_eq(out, "user/a=1,user/b=2,user/stop=5,");
    out[0] = '\0';
    cr_assert_eq(storage_record_scan(storage_reader_records(rd), "iam", "", collect, out, NULL), STORAGE_OK);
    cr_assert_str_eq(out, "role/r=3,user/a=1,user/b=2,user/stop=5,", "an empty prefix is the whole space, and only it");
    storage_reader_end(rd);
}

Test(records, a_reader_cannot_write_and_bad_keys_are_refused)
{
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    storage_err_t err;
    cr_assert_eq(storage_record_put(storage_reader_records(rd), "iam", "k", "v", 1, false, &err), STORAGE_INVALID);
    cr_assert_eq(storage_record_del(storage_reader_records(rd), "iam", "k", &err), STORAGE_INVALID);
    const void *v;
    size_t n;
    cr_assert_eq(storage_record_get(storage_reader_records(rd), "", "k", &v, &n, &err), STORAGE_INVALID);
    cr_assert_eq(storage_record_get(storage_reader_records(rd), "iam", "", &v, &n, &err), STORAGE_INVALID);
    char longkey[STORAGE_RECORD_KEY_MAX + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    cr_assert_eq(storage_record_get(storage_reader_records(rd), "iam", longkey, &v, &n, &err), STORAGE_INVALID);
    longkey[STORAGE_RECORD_KEY_MAX] = '\0';
    cr_assert_eq(storage_record_get(storage_reader_records(rd), "iam", longkey, &v, &n, &err), STORAGE_NOT_FOUND,
                 "a key of exactly the maximum length is fine");
    storage_reader_end(rd);
}

Test(records, records_survive_a_reopen)
{
    char buf[64];
    script_t s = {.space = "iam", .puts = {{"account", "123456789012"}}};
    cr_assert_eq(apply(&s, NULL), STORAGE_OK);
    storage_close(st);
    storage_err_t err;
    char path[300];
    snprintf(path, sizeof path, "%s", dir);
    st = storage_open(path, NULL, &err);
    cr_assert_not_null(st, "%s", err.msg);
    cr_assert_str_eq(get("iam", "account", buf, sizeof buf), "123456789012");
}
