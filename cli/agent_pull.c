/*
 * cli/agent_pull.c — `berth agent --runtime none`'s pull: an image from
 * Berth's own /v2/ (Basic credentials AWS:<registry password>), manifest
 * first (an index picks linux/amd64), then the config and each layer the
 * cache does not hold yet. Every digest is checked as the bytes arrive; a
 * blob enters the cache (DIR/blobs/sha256/<hex>) only verified, by rename,
 * so whatever the cache holds is what its name says.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cli/cli_internal.h"

/* a manifest or index larger than this is not one Berth would have accepted */
#define MANIFEST_MAX (4u << 20)
#define ACCEPT_MANIFESTS                                                                                                           \
    "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, "                   \
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"

/* A layer goes to its cache file through an aligned buffer of SINK_BLOCK_BYTES written with O_DIRECT:
 * copying a storm's bytes into new page cache cost the agents more than receiving them (see
 * bench/placement/README.md), and nothing reads a layer back right after its pull. */
#define SINK_ALIGN 4096u
#define SINK_BLOCK_BYTES (4u << 20)

typedef struct {
    EVP_MD_CTX *md;
    int fd;               /* a blob's temp file, or -1: into buf */
    bool direct;          /* fd has O_DIRECT (cleared where the file system refuses it) */
    unsigned char *block; /* fd's aligned buffer, fill bytes used */
    size_t fill;
    uint64_t written; /* bytes of the file written so far */
    int write_errno;
    char *buf;       /* a manifest */
    size_t len, max; /* bytes so far; the most allowed */
    bool too_big;
    char digest_header[128];
} sink_t;

static int write_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        p += w, n -= (size_t)w, off += (uint64_t)w;
    }
    return 0;
}

/* The block's bytes to the file: whole blocks with O_DIRECT, a tail (final only) buffered. */
static int sink_flush(sink_t *s, bool final)
{
    size_t whole = s->fill & ~(size_t)(SINK_ALIGN - 1);
    if (s->direct && whole) {
        int err = write_all(s->fd, s->block, whole, s->written);
        if (err == EINVAL) { /* O_DIRECT refused: the rest buffered */
            s->direct = false;
            int flags = fcntl(s->fd, F_GETFL);
            if (flags < 0 || fcntl(s->fd, F_SETFL, flags & ~O_DIRECT) != 0)
                return errno;
        } else if (err)
            return err;
        else {
            s->written += whole;
            memmove(s->block, s->block + whole, s->fill - whole);
            s->fill -= whole;
        }
    }
    if (!s->direct || final) {
        if (s->direct) {
            int flags = fcntl(s->fd, F_GETFL);
            if (flags < 0 || fcntl(s->fd, F_SETFL, flags & ~O_DIRECT) != 0)
                return errno;
            s->direct = false;
        }
        int err = write_all(s->fd, s->block, s->fill, s->written);
        if (err)
            return err;
        s->written += s->fill;
        s->fill = 0;
    }
    return 0;
}

static size_t on_data(char *data, size_t size, size_t n, void *user)
{
    sink_t *s = user;
    size_t add = size * n;
    if (s->len + add > s->max) {
        s->too_big = true;
        return 0;
    }
    if (EVP_DigestUpdate(s->md, data, add) != 1)
        return 0;
    if (s->fd >= 0 && !s->direct) {
        if ((s->write_errno = write_all(s->fd, (const unsigned char *)data, add, s->written)) != 0)
            return 0;
        s->written += add;
    } else if (s->fd >= 0) {
        for (size_t done = 0; done < add;) {
            size_t take = SINK_BLOCK_BYTES - s->fill < add - done ? SINK_BLOCK_BYTES - s->fill : add - done;
            memcpy(s->block + s->fill, data + done, take);
            s->fill += take, done += take;
            if (s->fill == SINK_BLOCK_BYTES && (s->write_errno = sink_flush(s, false)) != 0)
                return 0;
        }
    } else {
        char *p = realloc(s->buf, s->len + add + 1);
        if (!p)
            return 0;
        memcpy(p + s->len, data, add);
        p[s->len + add] = '\0';
        s->buf = p;
    }
    s->len += add;
    return add;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
    sink_t *s = user;
    size_t len = size * n;
    static const char name[] = "docker-content-digest:";
    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        size_t vl = len - (sizeof(name) - 1);
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        snprintf(s->digest_header, sizeof(s->digest_header), "%.*s", (int)vl, v);
    }
    return len;
}

static void hex_digest(EVP_MD_CTX *md, char out[72])
{
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(md, d, &dl);
    strcpy(out, "sha256:");
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

static bool digest_ok(const char *s)
{
    if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
        return false;
    return strspn(s + 7, "0123456789abcdef") == 64;
}

/* GET url into s; 0, or -1 with e->msg "CannotPullContainerError: ..." */
static int get(const agent_pull_t *p, const char *url, const char *accept, sink_t *s, const char *what, cli_err_t *e)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = accept ? curl_slist_append(NULL, accept) : NULL;
    if (!c || (accept && !h)) {
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        return cli_fail(e, "CannotPullContainerError: out of memory");
    }
    char userpwd[4200];
    snprintf(userpwd, sizeof(userpwd), "AWS:%s", p->password);
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* 512 KiB a read instead of libcurl's 16 KiB: a storm of 12 agents pulling 256 MiB each
     * went from 1,014-1,059 to 1,100-1,276 MB/s (bench/placement/README.md) */
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled transfer fails after a minute */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 0L);
    if (p->ca_bundle)
        curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_bundle);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    memset(userpwd, 0, sizeof(userpwd));
    if (cc != CURLE_OK && !(status >= 400 && cc == CURLE_WRITE_ERROR))
        return cli_fail(e, "CannotPullContainerError: %s: %s", what,
                        s->too_big ? "larger than allowed"
                        : cerr[0]  ? cerr
                                   : curl_easy_strerror(cc));
    if (status != 200) {
        const char *why = status == 401 || status == 403 ? "access denied (does the instance's identity have pull permission?)"
                          : status == 404                ? "not found"
                                                         : "refused";
        return cli_fail(e, "CannotPullContainerError: %s: HTTP %ld, %s", what, status, why);
    }
    return 0;
}

/* "host:port/repo/name:tag" or "repo@sha256:..." into repo and reference; the host part is dropped:
 * the agent pulls from the Berth it speaks to. */
int agent_parse_image(const char *image, char *repo, size_t rlen, char *ref, size_t flen, cli_err_t *e)
{
    const char *s = image;
    const char *slash = strchr(s, '/');
    /* a registry host has a dot, a port or is localhost, and never an @ (that is a digest's) */
    if (slash && !memchr(s, '@', (size_t)(slash - s)) &&
        (memchr(s, '.', (size_t)(slash - s)) || memchr(s, ':', (size_t)(slash - s)) ||
         ((size_t)(slash - s) == 9 && strncmp(s, "localhost", 9) == 0)))
        s = slash + 1;
    const char *at = strchr(s, '@');
    const char *last_slash = strrchr(s, '/');
    const char *colon = strrchr(last_slash ? last_slash : s, ':');
    size_t n;
    if (at) {
        n = (size_t)(at - s);
        snprintf(ref, flen, "%s", at + 1);
        if (!digest_ok(ref))
            return cli_fail(e, "CannotPullContainerError: %s: the digest is not sha256:<64 hex digits>", image);
    } else if (colon) {
        n = (size_t)(colon - s);
        snprintf(ref, flen, "%s", colon + 1);
    } else {
        n = strlen(s);
        snprintf(ref, flen, "latest");
    }
    if (n == 0 || n >= rlen || !*ref ||
        strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:") != strlen(ref))
        return cli_fail(e, "CannotPullContainerError: %s: not an image reference", image);
    memcpy(repo, s, n);
    repo[n] = '\0';
    if (strspn(repo, "abcdefghijklmnopqrstuvwxyz0123456789_.-/") != n)
        return cli_fail(e, "CannotPullContainerError: %s: not an image reference", image);
    return 0;
}

/* The manifest at reference ref, verified: its digest into digest. */
static int get_manifest(const agent_pull_t *p, const char *repo, const char *ref, json_t **out, char digest[72], cli_err_t *e)
{
    char url[2048], what[1200];
    snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", p->endpoint, repo, ref);
    snprintf(what, sizeof(what), "%s:%s manifest", repo, ref);
    sink_t s = {.md = EVP_MD_CTX_new(), .max = MANIFEST_MAX, .fd = -1};
    int rc = -1;
    *out = NULL;
    if (!s.md || EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
        cli_fail(e, "CannotPullContainerError: out of memory");
        goto done;
    }
    if (get(p, url, ACCEPT_MANIFESTS, &s, what, e) != 0)
        goto done;
    hex_digest(s.md, digest);
    if ((digest_ok(ref) && strcmp(ref, digest) != 0) || (s.digest_header[0] && strcmp(s.digest_header, digest) != 0)) {
        cli_fail(e, "CannotPullContainerError: %s: its bytes hash to %s, not %s", what, digest,
                 digest_ok(ref) ? ref : s.digest_header);
        goto done;
    }
    if (!(*out = json_loadb(s.buf ? s.buf : "", s.len, 0, NULL)) || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        cli_fail(e, "CannotPullContainerError: %s: not a JSON manifest", what);
        goto done;
    }
    rc = 0;
done:
    EVP_MD_CTX_free(s.md);
    free(s.buf);
    return rc;
}

static int mkdirs(const char *dir, cli_err_t *e)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *q = path + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return cli_fail(e, "cannot create %s: %s", path, strerror(errno));
        *q = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return cli_fail(e, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

/* One blob into the cache unless it is there; *fetched: bytes moved. */
static int get_blob(const agent_pull_t *p, const char *repo, const json_t *desc, uint64_t *fetched, cli_err_t *e)
{
    const char *digest = json_string_value(json_object_get(desc, "digest"));
    json_t *size = json_object_get(desc, "size");
    if (!digest_ok(digest) || !json_is_integer(size) || json_integer_value(size) < 0)
        return cli_fail(e, "CannotPullContainerError: %s: a descriptor without a sha256 digest and a size", repo);
    char final[4096], tmp[4200], url[2048], what[512];
    snprintf(final, sizeof(final), "%s/blobs/sha256/%s", p->cache_dir, digest + 7);
    struct stat st;
    if (stat(final, &st) == 0 && st.st_size == json_integer_value(size))
        return 0; /* verified when it entered the cache */
    snprintf(tmp, sizeof(tmp), "%s/tmp/%s.%ld", p->cache_dir, digest + 7, (long)getpid());
    snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", p->endpoint, repo, digest);
    snprintf(what, sizeof(what), "%s@%s", repo, digest);
    sink_t s = {.md = EVP_MD_CTX_new(),
                .max = (size_t)json_integer_value(size),
                .fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0600),
                .direct = true};
    if (s.fd < 0 && errno == EINVAL) { /* a file system without O_DIRECT */
        s.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        s.direct = false;
    }
    struct statfs sfs;
    if (s.fd >= 0 && s.direct && fstatfs(s.fd, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
        /* tmpfs takes O_DIRECT but its page cache is the storage: the bounce would only add a copy */
        int flags = fcntl(s.fd, F_GETFL);
        s.direct = !(flags >= 0 && fcntl(s.fd, F_SETFL, flags & ~O_DIRECT) == 0);
    }
    int rc = -1;
    if (s.fd < 0) {
        cli_fail(e, "CannotPullContainerError: %s: cannot write %s: %s", what, tmp, strerror(errno));
        goto done;
    }
    s.block = aligned_alloc(SINK_ALIGN, SINK_BLOCK_BYTES);
    if (!s.md || !s.block || EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
        cli_fail(e, "CannotPullContainerError: %s: out of memory", what);
        goto done;
    }
    if (get(p, url, NULL, &s, what, e) != 0) {
        if (s.write_errno)
            cli_fail(e, "CannotPullContainerError: %s: cannot write %s: %s", what, tmp, strerror(s.write_errno));
        goto done;
    }
    char got[72];
    hex_digest(s.md, got);
    if (strcmp(got, digest) != 0 || (json_int_t)s.len != json_integer_value(size)) {
        cli_fail(e, "CannotPullContainerError: %s: %zu bytes hashing to %s, not %lld bytes of %s", what, s.len, got,
                 (long long)json_integer_value(size), digest);
        goto done;
    }
    int werr = sink_flush(&s, true);
    if (!werr && fdatasync(s.fd) != 0)
        werr = errno;
    if (close(s.fd) != 0 && !werr)
        werr = errno;
    s.fd = -1;
    if (werr) {
        cli_fail(e, "CannotPullContainerError: %s: cannot write %s: %s", what, tmp, strerror(werr));
        goto done;
    }
    if (rename(tmp, final) != 0) {
        cli_fail(e, "CannotPullContainerError: %s: cannot store %s: %s", what, final, strerror(errno));
        goto done;
    }
    *fetched += s.len;
    rc = 0;
done:
    if (s.fd >= 0)
        close(s.fd);
    if (rc)
        unlink(tmp);
    free(s.block);
    EVP_MD_CTX_free(s.md);
    return rc;
}

int agent_pull_image(const agent_pull_t *p, const char *image, uint64_t *fetched, cli_err_t *e)
{
    char repo[1024], ref[256], digest[72], dir[4200];
    *fetched = 0;
    if (agent_parse_image(image, repo, sizeof(repo), ref, sizeof(ref), e) != 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s/blobs/sha256", p->cache_dir);
    if (mkdirs(dir, e) != 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s/tmp", p->cache_dir);
    if (mkdirs(dir, e) != 0)
        return -1;
    json_t *m;
    if (get_manifest(p, repo, ref, &m, digest, e) != 0)
        return -1;
    json_t *list = json_object_get(m, "manifests");
    if (json_is_array(list)) { /* an index: linux/amd64, else the first */
        json_t *pick = json_array_get(list, 0), *d;
        size_t i;
        json_array_foreach(list, i, d)
        {
            json_t *pl = json_object_get(d, "platform");
            if (strcmp(json_string_value(json_object_get(pl, "os")) ?: "", "linux") == 0 &&
                strcmp(json_string_value(json_object_get(pl, "architecture")) ?: "", "amd64") == 0) {
                pick = d;
                break;
            }
        }
        const char *child = json_string_value(json_object_get(pick, "digest"));
        char want[80];
        snprintf(want, sizeof(want), "%s", child ? child : "");
        json_decref(m);
        if (!digest_ok(want))
            return cli_fail(e, "CannotPullContainerError: %s:%s: an index without a usable manifest", repo, ref);
        if (get_manifest(p, repo, want, &m, digest, e) != 0)
            return -1;
    }
    int rc = 0;
    json_t *config = json_object_get(m, "config");
    if (config && (rc = get_blob(p, repo, config, fetched, e)) != 0)
        goto done;
    size_t i;
    json_t *layer;
    json_array_foreach(json_object_get(m, "layers"), i, layer)
    {
        if ((rc = get_blob(p, repo, layer, fetched, e)) != 0)
            goto done;
    }
done:
    json_decref(m);
    return rc;
}

json_t *agent_cache_layers(const char *cache_dir, size_t max)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/blobs/sha256", cache_dir);
    json_t *out = json_array();
    DIR *d = opendir(dir);
    if (!d || !out)
        return out;
    for (struct dirent *de; (de = readdir(d)) && json_array_size(out) < max;) {
        if (strlen(de->d_name) != 64 || strspn(de->d_name, "0123456789abcdef") != 64)
            continue;
        char digest[72];
        snprintf(digest, sizeof(digest), "sha256:%.64s", de->d_name);
        json_array_append_new(out, json_string(digest));
    }
    closedir(d);
    return out;
}
