/* berthd's config file (server/config.h): `key = value` lines read through
 * the command line's option table; every refusal names the line and the key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"

enum { O_LISTEN = 1, O_THREADS, O_HTTP2, O_HELP };
static const server_option_t opts[] = {
    {"listen", true, false, O_LISTEN},
    {"threads", true, false, O_THREADS},
    {"http2", false, false, O_HTTP2},
    {"help", false, true, O_HELP},
};
#define N (sizeof(opts) / sizeof(opts[0]))

typedef struct {
    const char *listen, *threads, *http2;
    int calls;
} got_t;

/* refuses a threads value that is not all digits, as berthd's would */
static int apply(void *ctx, const server_option_t *opt, const char *value, char *msg, size_t cap)
{
    got_t *g = ctx;
    g->calls++;
    switch (opt->code) {
    case O_LISTEN:
        g->listen = value;
        return 0;
    case O_THREADS:
        if (strspn(value, "0123456789") != strlen(value)) {
            snprintf(msg, cap, "takes a number from 1 to 64");
            return -1;
        }
        g->threads = value;
        return 0;
    case O_HTTP2:
        g->http2 = value;
        return 0;
    }
    return -1;
}

static int parse(const char *text, got_t *g, char *err, size_t cap)
{
    /* parsed in place, and the values point into it: one buffer per call site's test process */
    static char copy[4096];
    size_t len = strlen(text);
    cr_assert_lt(len, sizeof(copy));
    memcpy(copy, text, len + 1);
    memset(g, 0, sizeof(*g));
    err[0] = '\0';
    return server_config_parse(copy, len, opts, N, apply, g, err, cap);
}

Test(config, key_value_lines_comments_blanks_and_crlf_are_read)
{
    got_t g;
    char err[256];
    cr_assert_eq(
        parse("# berthd\r\n\n   listen =  127.0.0.1:5000  \r\n\t# indented comment\nthreads=4\nhttp2 = true", &g, err, sizeof(err)),
        0, "%s", err);
    cr_assert_str_eq(g.listen, "127.0.0.1:5000");
    cr_assert_str_eq(g.threads, "4");
    cr_assert_str_eq(g.http2, "true");
    cr_assert_eq(g.calls, 3);
}

Test(config, an_empty_file_sets_nothing)
{
    got_t g;
    char err[256];
    cr_assert_eq(parse("", &g, err, sizeof(err)), 0);
    cr_assert_eq(parse("\n\n# only comments\n", &g, err, sizeof(err)), 0);
    cr_assert_eq(g.calls, 0);
}

Test(config, a_hash_after_the_value_is_part_of_the_value)
{
    got_t g;
    char err[256];
    cr_assert_eq(parse("listen = a#b\n", &g, err, sizeof(err)), 0);
    cr_assert_str_eq(g.listen, "a#b");
}

Test(config, an_unknown_key_is_named_with_its_line)
{
    got_t g;
    char err[256];
    cr_assert_eq(parse("listen = x\n\nthread = 4\n", &g, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "line 3: unknown key thread");
}

Test(config, a_bad_value_is_named_with_its_key_and_line_and_the_reason)
{
    got_t g;
    char err[256];
    cr_assert_eq(parse("# c\nthreads = four\n", &g, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "line 2: threads takes a number from 1 to 64");
}

Test(config, a_flag_takes_true_or_false_only)
{
    got_t g;
    char err[256];
    cr_assert_eq(parse("http2 = false\n", &g, err, sizeof(err)), 0);
    cr_assert_str_eq(g.http2, "false");
    cr_assert_eq(parse("http2 = yes\n", &g, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "line 1: http2 takes true or false");
}

Test(config, command_line_only_options_are_not_keys)
{
    got_t g;
    char err[256];
    cr_assert_eq(parse("help = true\n", &g, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "line 1: unknown key help (a command-line option only)");
}

Test(config, a_key_set_twice_is_refused)
{
    got_t g;
    char err[256];
    cr_assert_eq(parse("threads = 1\nthreads = 2\n", &g, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "line 2: threads is set twice (first on line 1)");
}

Test(config, malformed_lines_are_refused_with_their_line)
{
    got_t g;
    char err[256];
    cr_assert_eq(parse("listen\n", &g, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "line 1: listen: expected `listen = value`");
    cr_assert_eq(parse("\nlisten =\n", &g, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "line 2: listen has no value");
    cr_assert_eq(parse("= 4\n", &g, err, sizeof(err)), -1);
    cr_assert(strstr(err, "line 1: expected `key = value`"), "%s", err);
    cr_assert_eq(parse("--listen = x\n", &g, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "line 1: unknown key --listen");
    cr_assert_eq(parse("li\x1bsten = x\n", &g, err, sizeof(err)), -1);
    cr_assert(strstr(err, "line 1: expected"), "a control character is not echoed: %s", err);
}

Test(config, a_nul_byte_is_refused_with_its_line)
{
    got_t g;
    char err[256];
    char text[] = "listen = x\nthr\0eads = 4\n";
    char *copy = malloc(sizeof(text));
    memcpy(copy, text, sizeof(text));
    memset(&g, 0, sizeof(g));
    cr_assert_eq(server_config_parse(copy, sizeof(text) - 1, opts, N, apply, &g, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "line 2: contains a NUL byte (is this a text file?)");
    cr_assert_eq(g.calls, 0, "nothing is applied from a file with a NUL byte");
    free(copy);
}

Test(config, load_names_the_file_and_refuses_what_is_not_a_small_regular_file)
{
    got_t g = {0};
    char err[512], *text;
    cr_assert_eq(server_config_load("/nonexistent/berthd.conf", &text, opts, N, apply, &g, err, sizeof(err)), -1);
    cr_assert(strstr(err, "cannot open the config file /nonexistent/berthd.conf"), "%s", err);
    cr_assert_null(text);
    cr_assert_eq(server_config_load("/tmp", &text, opts, N, apply, &g, err, sizeof(err)), -1);
    cr_assert(strstr(err, "must be a regular file"), "%s", err);

    char path[] = "/tmp/berth-config-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char body[] = "listen = 127.0.0.1:1\nthreads = x\n";
    cr_assert_eq(write(fd, body, sizeof(body) - 1), (ssize_t)sizeof(body) - 1);
    cr_assert_eq(server_config_load(path, &text, opts, N, apply, &g, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want), "%s line 2: threads takes a number from 1 to 64", path);
    cr_assert_str_eq(err, want);
    free(text);

    cr_assert_eq(ftruncate(fd, SERVER_CONFIG_MAX_BYTES + 1), 0);
    cr_assert_eq(server_config_load(path, &text, opts, N, apply, &g, err, sizeof(err)), -1);
    cr_assert(strstr(err, "at most"), "%s", err);
    close(fd);
    unlink(path);
}
