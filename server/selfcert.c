/*
 * server/selfcert.c — --tls-self-signed: berthd's own certificate, made on
 * the first start and kept in the data directory, for deployments where
 * nothing else provides one (the container image, whose root file system is
 * read-only: the data volume is the only place a key can live).
 *
 *   <data>/tls/           0700
 *   <data>/tls/key.pem    0600  EC P-256 private key (PKCS#8 PEM)
 *   <data>/tls/cert.pem   0644  self-signed X.509 v3: SAN = --tls-hostname's
 *                               names and addresses, serverAuth, 825 days
 *
 * Clients trust it by taking cert.pem as their CA file (curl --cacert,
 * skopeo --cert-dir, docker's certs.d/<host>/ca.crt, berth --ca-bundle).
 * A kept certificate is never replaced: clients pinned to it would stop
 * working. When it does not name a requested host, or is near its end,
 * berthd says so and the operator removes <data>/tls to get a new one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "server/selfcert.h"

/* 825 days: the longest validity Apple's clients accept for any TLS server
 * certificate, trusted by the user or not; other clients accept longer. */
#define SELFCERT_DAYS 825
/* Warn this long before the kept certificate ends. */
#define SELFCERT_WARN_DAYS 30
/* 128 random bits: RFC 5280 allows 20 octets; a positive integer. */
#define SELFCERT_SERIAL_BYTES 16

static void fail(char *err, size_t errlen, const char *what, const char *path)
{
    char ossl[200] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, ossl, sizeof(ossl));
    ERR_clear_error();
    snprintf(err, errlen, "%s%s%s%s%s%s", what, path ? " " : "", path ? path : "", ossl[0] ? " (" : "", ossl, ossl[0] ? ")" : "");
}

static bool is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A DNS name as certificates carry it: labels of letters, digits and
 * hyphens (a leading "*." for a wildcard), none empty or over 63, at most
 * 253 characters. */
static bool is_dns_name(const char *s, size_t len)
{
    if (len == 0 || len > SELFCERT_NAME_MAX)
        return false;
    if (len > 2 && s[0] == '*' && s[1] == '.') {
        s += 2;
        len -= 2;
    }
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && label > 0))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && s[len - 1] != '-';
}

int selfcert_parse_hostnames(const char *list, selfcert_names_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0) {
            snprintf(err, errlen, "--tls-hostname takes names and addresses separated by commas, e.g. registry.example,10.0.0.5");
            return -1;
        }
        if (out->n == SELFCERT_NAMES_MAX) {
            snprintf(err, errlen, "--tls-hostname takes at most %d names", SELFCERT_NAMES_MAX);
            return -1;
        }
        if (len > SELFCERT_NAME_MAX) {
            snprintf(err, errlen, "--tls-hostname: a name is at most %d characters", SELFCERT_NAME_MAX);
            return -1;
        }
        char *name = out->names[out->n];
        memcpy(name, p, len);
        name[len] = '\0';
        if (!is_ip(name) && !is_dns_name(name, len)) {
            snprintf(err, errlen, "--tls-hostname: '%.64s%s' is neither a DNS name nor an IP address", name, len > 64 ? "..." : "");
            return -1;
        }
        out->n++;
        if (!p[len])
            return 0;
        p += len + 1;
    }
}

/* Writes a PEM object to path through path.tmp, fsync and rename, with
 * mode: the file is whole or absent. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *err, size_t errlen)
{
    char tmp[FILENAME_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    bool ok = fchmod(fd, mode) == 0 &&
              (key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert)) == 1 && fflush(f) == 0 &&
              fsync(fd) == 0;
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(ok ? errno : saved));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static bool add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return false;
    bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* The certificate for key: subject and issuer CN = the first name, SANs
 * for every name, valid from an hour ago (clients' clocks drift) for
 * SELFCERT_DAYS. NULL on failure. */
static X509 *make_cert(EVP_PKEY *key, const selfcert_names_t *names)
{
    X509 *cert = X509_new();
    unsigned char serial[SELFCERT_SERIAL_BYTES];
    BIGNUM *bn = NULL;
    X509_NAME *subject = NULL;
    /* "DNS:" or "IP:" per name, commas between */
    char san[SELFCERT_NAMES_MAX * (SELFCERT_NAME_MAX + 8)];
    size_t used = 0;
    for (size_t i = 0; i < names->n; i++)
        used += (size_t)snprintf(san + used, sizeof(san) - used, "%s%s:%s", i ? "," : "", is_ip(names->names[i]) ? "IP" : "DNS",
                                 names->names[i]);
    bool ok = cert && RAND_bytes(serial, sizeof(serial)) == 1;
    if (ok) {
        serial[0] &= 0x7f; /* positive */
        serial[0] |= 0x40; /* and of full length */
        ok = (bn = BN_bin2bn(serial, sizeof(serial), NULL)) && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    }
    ok = ok && X509_set_version(cert, X509_VERSION_3) == 1 && X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
         X509_time_adj_ex(X509_getm_notAfter(cert), SELFCERT_DAYS, 0, NULL) && (subject = X509_NAME_new()) &&
         X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, (const unsigned char *)"Berth (self-signed)", -1, -1, 0) == 1 &&
         X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)names->names[0], -1, -1, 0) == 1 &&
         X509_set_subject_name(cert, subject) == 1 && X509_set_issuer_name(cert, subject) == 1 && X509_set_pubkey(cert, key) == 1;
    /* A leaf that clients take as its own trust anchor: CA:FALSE keeps it
     * from signing anything else if its key leaks. */
    ok = ok && add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(cert, NID_key_usage, "critical,digitalSignature") && add_ext(cert, NID_ext_key_usage, "serverAuth") &&
         add_ext(cert, NID_subject_key_identifier, "hash") && add_ext(cert, NID_subject_alt_name, san) &&
         X509_sign(cert, key, EVP_sha256()) > 0;
    X509_NAME_free(subject);
    BN_free(bn);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static int create_pair(const char *cert_path, const char *key_path, const selfcert_names_t *names, char *err, size_t errlen)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key) {
        fail(err, errlen, "OpenSSL cannot make an EC P-256 key for", cert_path);
        return -1;
    }
    X509 *cert = make_cert(key, names);
    int rc = -1;
    if (!cert)
        fail(err, errlen, "OpenSSL cannot make the certificate", cert_path);
    /* the key first: a certificate on disk always has its key beside it */
    else if (write_pem(key_path, 0600, key, NULL, err, errlen) == 0 && write_pem(cert_path, 0644, NULL, cert, err, errlen) == 0)
        rc = 0;
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* Notes what a kept certificate lacks: requested names it does not carry,
 * an end within SELFCERT_WARN_DAYS. Its pairing with the key is checked when
 * TLS loads both. */
static int check_kept(const char *cert_path, const char *dir, const selfcert_names_t *names, char *note, size_t notelen, char *err,
                      size_t errlen)
{
    FILE *f = fopen(cert_path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", cert_path, strerror(errno));
        return -1;
    }
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!cert) {
        fail(err, errlen, "cannot read the kept certificate", cert_path);
        return -1;
    }
    size_t used = 0;
    for (size_t i = 0; i < names->n && used < notelen; i++) {
        const char *n = names->names[i];
        int match =
            is_ip(n) ? X509_check_ip_asc(cert, n, 0) : X509_check_host(cert, n, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
        if (match != 1)
            used += (size_t)snprintf(note + used, notelen - used, "%s%s", used ? ", " : "the kept certificate does not name ", n);
    }
    if (used && used < notelen)
        used += (size_t)snprintf(note + used, notelen - used, " (remove %s to make a new one)", dir);
    time_t soon = time(NULL) + (time_t)SELFCERT_WARN_DAYS * 86400;
    if (used < notelen && X509_cmp_time(X509_get0_notAfter(cert), &soon) < 0)
        snprintf(note + used, notelen - used, "%s%s ends within %d days: remove %s to make a new one", used ? "; " : "", cert_path,
                 SELFCERT_WARN_DAYS, dir);
    X509_free(cert);
    return 0;
}

int selfcert_ensure(const char *data_dir, const selfcert_names_t *names, selfcert_paths_t *paths, bool *created, char *note,
                    size_t notelen, char *err, size_t errlen)
{
    *created = false;
    if (notelen)
        note[0] = '\0';
    if (names->n == 0) {
        snprintf(err, errlen, "--tls-self-signed needs at least one --tls-hostname");
        return -1;
    }
    char dir[sizeof(paths->cert) - 16]; /* room for "/cert.pem" */
    if ((size_t)snprintf(dir, sizeof(dir), "%s/tls", data_dir) >= sizeof(dir)) {
        snprintf(err, errlen, "data directory path too long");
        return -1;
    }
    snprintf(paths->cert, sizeof(paths->cert), "%s/cert.pem", dir);
    snprintf(paths->key, sizeof(paths->key), "%s/key.pem", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    bool have_key = access(paths->key, F_OK) == 0, have_cert = access(paths->cert, F_OK) == 0;
    if (have_key && have_cert)
        return check_kept(paths->cert, dir, names, note, notelen, err, errlen);
    if (have_cert) {
        /* A certificate without its key is not ours to overwrite blindly:
         * clients may trust it, and the key may have been moved by hand. */
        snprintf(err, errlen, "%s is there but %s is not: restore the key, or remove %s to make a new pair", paths->cert,
                 paths->key, dir);
        return -1;
    }
    /* No certificate (a key alone is what a start cut short between the
     * two writes leaves): make both. */
    if (create_pair(paths->cert, paths->key, names, err, errlen) != 0)
        return -1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        snprintf(err, errlen, "cannot sync %s: %s", dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    close(dfd);
    *created = true;
    return 0;
}
