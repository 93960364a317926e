/*
 * tests/server/test_selfcert.c — --tls-self-signed's certificate
 * (server/selfcert.c): the --tls-hostname list, the pair made on the first
 * start, kept after, and what a damaged directory gets.
 */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/selfcert.h"

static char err[512], note[512];

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(c);
    return c;
}

static EVP_PKEY *read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(k);
    return k;
}

static char *temp_dir(void)
{
    static char dir[64];
    strcpy(dir, "/tmp/berth-selfcert.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static void remove_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static selfcert_names_t parse_ok(const char *list)
{
    selfcert_names_t n;
    cr_assert_eq(selfcert_parse_hostnames(list, &n, err, sizeof(err)), 0, "%s: %s", list, err);
    return n;
}

Test(tls_hostname, a_list_of_names_and_addresses_splits_at_commas)
{
    selfcert_names_t n = parse_ok("berthd,*.example.com,127.0.0.1,::1,xn--bcher-kva.example");
    cr_assert_eq(n.n, 5);
    cr_assert_str_eq(n.names[0], "berthd");
    cr_assert_str_eq(n.names[1], "*.example.com");
    cr_assert_str_eq(n.names[2], "127.0.0.1");
    cr_assert_str_eq(n.names[3], "::1");
    cr_assert_str_eq(n.names[4], "xn--bcher-kva.example");
}

Test(tls_hostname, empty_names_bad_characters_and_long_labels_are_refused)
{
    const char *bad[] = {"",
                         ",",
                         "a,",
                         ",a",
                         "a,,b",
                         "bad_name",
                         "a b",
                         "-a.example",
                         "a-.example",
                         "a..example",
                         "a.example.",
                         "*",
                         "a.*.com",
                         "fe80::1%eth0",
                         "a:b",
                         "DNS:x",
                         "x,IP:1.2.3.4",
                         "héllo.example",
                         "a\nb.example"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        selfcert_names_t n;
        err[0] = '\0';
        cr_expect_eq(selfcert_parse_hostnames(bad[i], &n, err, sizeof(err)), -1, "accepted '%s'", bad[i]);
        cr_expect(strncmp(err, "--tls-hostname", 14) == 0, "message for '%s': %s", bad[i], err);
    }
    char label[80];
    memset(label, 'a', 64);
    strcpy(label + 64, ".example");
    selfcert_names_t n;
    cr_expect_eq(selfcert_parse_hostnames(label, &n, err, sizeof(err)), -1, "a 64-character label");
    memmove(label + 63, label + 64, strlen(label + 64) + 1); /* 63 a's, then .example */
    cr_expect_eq(selfcert_parse_hostnames(label, &n, err, sizeof(err)), 0, "63 characters: %s", err);
}

Test(tls_hostname, at_most_sixteen_names_of_253_characters)
{
    char list[512] = "";
    for (int i = 0; i < 16; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%sh%d", i ? "," : "", i);
    selfcert_names_t n = parse_ok(list);
    cr_assert_eq(n.n, 16);
    strcat(list, ",h16");
    cr_assert_eq(selfcert_parse_hostnames(list, &n, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "--tls-hostname takes at most 16 names");

    char name[300];
    memset(name, 0, sizeof(name));
    for (size_t i = 0; i < 253; i += 2)
        memcpy(name + i, i + 1 < 253 ? "a." : "a", i + 1 < 253 ? 2 : 1);
    name[253] = '\0';
    name[252] = 'a';
    cr_assert_eq(strlen(name), 253);
    parse_ok(name);
    strcat(name, "a");
    cr_assert_eq(selfcert_parse_hostnames(name, &n, err, sizeof(err)), -1);
}

Test(selfcert, the_first_start_makes_a_p256_pair_for_the_names_and_the_next_keeps_it)
{
    char *dir = temp_dir();
    selfcert_names_t names = parse_ok("berthd,localhost,10.0.0.5");
    selfcert_paths_t p;
    bool created;
    cr_assert_eq(selfcert_ensure(dir, &names, &p, &created, note, sizeof(note), err, sizeof(err)), 0, "%s", err);
    cr_assert(created);
    cr_assert_str_eq(note, "");
    struct stat st;
    cr_assert_eq(stat(p.key, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(stat(p.cert, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);

    X509 *cert = read_cert(p.cert);
    EVP_PKEY *key = read_key(p.key);
    cr_assert_eq(X509_check_private_key(cert, key), 1);
    char group[64];
    size_t glen;
    cr_assert_eq(EVP_PKEY_get_group_name(key, group, sizeof(group), &glen), 1);
    cr_assert_str_eq(group, "prime256v1");
    cr_assert_eq(X509_check_host(cert, "berthd", 0, 0, NULL), 1);
    cr_assert_eq(X509_check_host(cert, "localhost", 0, 0, NULL), 1);
    cr_assert_eq(X509_check_ip_asc(cert, "10.0.0.5", 0), 1);
    cr_assert_neq(X509_check_host(cert, "other.example", 0, 0, NULL), 1);
    cr_assert_eq(X509_check_ca(cert), 0, "a leaf, not a CA");
    cr_assert_eq(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0), 1);
    /* self-signed: it verifies itself */
    cr_assert_eq(X509_verify(cert, key), 1);
    /* valid now, and for 825 days */
    int days, secs;
    cr_assert_eq(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)), 1);
    cr_assert(days >= 824 && days <= 825, "%d days", days);
    cr_assert_lt(X509_cmp_current_time(X509_get0_notBefore(cert)), 0);

    /* a restart keeps it, and says what a new name lacks */
    selfcert_names_t more = parse_ok("berthd,registry.example,10.0.0.6");
    cr_assert_eq(selfcert_ensure(dir, &more, &p, &created, note, sizeof(note), err, sizeof(err)), 0, "%s", err);
    cr_assert(!created);
    X509 *again = read_cert(p.cert);
    cr_assert_eq(X509_cmp(cert, again), 0);
    cr_assert(strstr(note, "does not name registry.example, 10.0.0.6 (remove "), "%s", note);
    X509_free(again);
    X509_free(cert);
    EVP_PKEY_free(key);
    remove_dir(dir);
}

Test(selfcert, a_key_alone_gets_a_new_pair_a_certificate_alone_is_refused)
{
    char *dir = temp_dir();
    selfcert_names_t names = parse_ok("localhost");
    selfcert_paths_t p;
    bool created;
    cr_assert_eq(selfcert_ensure(dir, &names, &p, &created, note, sizeof(note), err, sizeof(err)), 0, "%s", err);
    X509 *first = read_cert(p.cert);
    cr_assert_eq(unlink(p.cert), 0);
    cr_assert_eq(selfcert_ensure(dir, &names, &p, &created, note, sizeof(note), err, sizeof(err)), 0, "%s", err);
    cr_assert(created);
    X509 *second = read_cert(p.cert);
    EVP_PKEY *key = read_key(p.key);
    cr_assert_neq(X509_cmp(first, second), 0);
    cr_assert_eq(X509_check_private_key(second, key), 1);

    cr_assert_eq(unlink(p.key), 0);
    cr_assert_eq(selfcert_ensure(dir, &names, &p, &created, note, sizeof(note), err, sizeof(err)), -1);
    cr_assert(strstr(err, "cert.pem is there but ") && strstr(err, "key.pem is not"), "%s", err);
    cr_assert_eq(access(p.key, F_OK), -1, "no key was made for a certificate it does not match");
    X509_free(first);
    X509_free(second);
    EVP_PKEY_free(key);
    remove_dir(dir);
}

Test(selfcert, a_kept_certificate_that_is_not_pem_is_an_error_naming_it)
{
    char *dir = temp_dir();
    selfcert_names_t names = parse_ok("localhost");
    selfcert_paths_t p;
    bool created;
    cr_assert_eq(selfcert_ensure(dir, &names, &p, &created, note, sizeof(note), err, sizeof(err)), 0, "%s", err);
    FILE *f = fopen(p.cert, "w");
    cr_assert_not_null(f);
    fputs("not a certificate\n", f);
    fclose(f);
    cr_assert_eq(selfcert_ensure(dir, &names, &p, &created, note, sizeof(note), err, sizeof(err)), -1);
    cr_assert(strstr(err, "cannot read the kept certificate ") && strstr(err, "cert.pem"), "%s", err);
    remove_dir(dir);
}

Test(selfcert, a_data_dir_that_cannot_hold_tls_is_an_error)
{
    selfcert_names_t names = parse_ok("localhost");
    selfcert_paths_t p;
    bool created;
    cr_assert_eq(selfcert_ensure("/nonexistent/berth", &names, &p, &created, note, sizeof(note), err, sizeof(err)), -1);
    cr_assert(strstr(err, "cannot create /nonexistent/berth/tls"), "%s", err);
    cr_assert(!created);
}
