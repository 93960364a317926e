/* Upload sessions as stored: a fixed little header, the hash midstate, the
 * repository name. Decoding trusts nothing: the bytes may come from an older
 * or damaged file (and the fuzzer feeds it anything). */
#include <string.h>

#include "storage/storage_internal.h"

typedef struct {
    uint32_t magic;
    uint16_t version;
    uint16_t repo_len;
    uint32_t ctx_len;
    uint32_t flags; /* version 1: pad, always 0 */
    uint64_t blob_id;
    uint64_t offset;
    uint64_t created;
    uint64_t updated;
} session_hdr_t;

size_t session_encoded_size(const session_t *s)
{
    return sizeof(session_hdr_t) + sizeof(SHA256_CTX) + strlen(s->repo);
}

void session_encode(const session_t *s, unsigned char *out)
{
    session_hdr_t h = {.magic = SESSION_MAGIC,
                       .version = SESSION_VERSION,
                       .repo_len = (uint16_t)strlen(s->repo),
                       .ctx_len = sizeof(SHA256_CTX),
                       .flags = s->flags,
                       .blob_id = s->blob_id,
                       .offset = s->offset,
                       .created = s->created,
                       .updated = s->updated};
    memcpy(out, &h, sizeof(h));
    memcpy(out + sizeof(h), &s->sha256, sizeof(SHA256_CTX));
    memcpy(out + sizeof(h) + sizeof(SHA256_CTX), s->repo, h.repo_len);
}

bool session_decode(const void *buf, size_t len, session_t *out)
{
    session_hdr_t h;
    if (!buf || len < sizeof(h))
        return false;
    memcpy(&h, buf, sizeof(h));
    uint32_t known = h.version == 1 ? 0 : SESSION_IN_FILE;
    if (h.magic != SESSION_MAGIC || (h.version != 1 && h.version != SESSION_VERSION) || (h.flags & ~known) != 0 ||
        h.ctx_len != sizeof(SHA256_CTX) || h.repo_len == 0 || h.repo_len > OCI_NAME_MAX ||
        len != sizeof(h) + h.ctx_len + h.repo_len)
        return false;
    const unsigned char *p = (const unsigned char *)buf + sizeof(h);
    memcpy(&out->sha256, p, sizeof(SHA256_CTX));
    memcpy(out->repo, p + sizeof(SHA256_CTX), h.repo_len);
    out->repo[h.repo_len] = '\0';
    if (!oci_name_valid(out->repo, h.repo_len))
        return false;
    /* The midstate must describe exactly `offset` bytes, or resuming would
     * produce a wrong digest that we would then compare against. */
    uint64_t bits = ((uint64_t)out->sha256.Nh << 32) | out->sha256.Nl;
    if (h.offset > UINT64_MAX / 8 || bits != h.offset * 8 || out->sha256.num != h.offset % SHA256_CBLOCK ||
        out->sha256.md_len != SHA256_DIGEST_LENGTH)
        return false;
    out->flags = h.flags;
    out->blob_id = h.blob_id;
    out->offset = h.offset;
    out->created = h.created;
    out->updated = h.updated;
    return true;
}
