/*
 * bench/ecr/ecr_page_bench.c — DescribeImages and ListImages pages of a big
 * repository through berthd's ECR API, from C so that the client does not
 * eat the 2 cores: each call signed with SigV4 by libcurl itself
 * (CURLOPT_AWS_SIGV4, service ecr), one connection kept alive.
 *
 *   ecr_page_bench URL CREDS-FILE BERTHD-PID populate IMAGES [CONC]
 *   ecr_page_bench URL CREDS-FILE BERTHD-PID measure ROUNDS LABEL
 *
 * populate: repository "bench/app" through the API: a config blob and five
 * layers by InitiateLayerUpload/UploadLayerPart/CompleteLayerUpload, then
 * IMAGES PutImage calls (CONC in flight), each a distinct manifest of those
 * six blobs (an annotation numbers it) tagged "vNNNNNN".
 * measure: ROUNDS walks of the whole repository by pages of 1,000 and as
 * many by pages of 100 (nextToken chained, one call at a time),
 * for ListImages and for DescribeImages; prints p50/p99 per page size, the
 * CPU time berthd spent per page and per image listed, and this client's.
 * Equal cost per image at both page sizes means a page is O(page); a page of
 * 100 costing per image several times what a page of 1,000 does means each
 * page pays for the whole repository. Not a test.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/aws_json_load.h"

static ajl_api_t api;
static ajl_req_t conn; /* the one kept-alive connection of the sequential calls */

/* the six blobs: content, base64, sha256 */
static const struct {
    const char *data, *b64, *sha;
} blobs[] = {
    {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
     "eyJhcmNoaXRlY3R1cmUiOiJhbWQ2NCIsIm9zIjoibGludXgiLCJyb290ZnMiOnsidHlwZSI6ImxheWVycyIsImRpZmZfaWRzIjpbXX19",
     "c5b1d63604f273462ef36fadac3182d43ae6a6138731cf594b314835cf1c034f"},
    {"layer-1", "bGF5ZXItMQ==", "922badbaf192e1a4a5af64df422de6d73e96e70d0ab52245bd3d692bcea9cfad"},
    {"layer-2", "bGF5ZXItMg==", "6bdb18f83935f1d97220ee8035e6ccd7e764c32102587be4488f940f943ebda6"},
    {"layer-3", "bGF5ZXItMw==", "da0002e0cd62c639edf0b88ba0216b00084f5abf275328f44d39784450a625f4"},
    {"layer-4", "bGF5ZXItNA==", "fcbf34398fabf8767b2eaac8abbe8e29a8f8b495b0c0b6da88c674f14f31ff5d"},
    {"layer-5", "bGF5ZXItNQ==", "c5d3f6205de1b7d5976d0a25ccd92797092edf5a7142fae3736179d68c92ef62"},
};
#define NBLOBS (sizeof(blobs) / sizeof(blobs[0]))

static char *put_image_body(size_t i, void *user)
{
    (void)user;
    char layers[1024] = "";
    size_t off = 0;
    for (size_t b = 1; b < NBLOBS; b++)
        off += (size_t)snprintf(layers + off, sizeof(layers) - off,
                                "%s{\\\"mediaType\\\":\\\"application/vnd.oci.image.layer.v1.tar+gzip\\\",\\\"digest\\\":"
                                "\\\"sha256:%s\\\",\\\"size\\\":%zu}",
                                b > 1 ? "," : "", blobs[b].sha, strlen(blobs[b].data));
    return ajl_strdupf("{\"repositoryName\":\"bench/app\",\"imageTag\":\"v%06zu\",\"imageManifest\":\"{\\\"schemaVersion\\\":2,"
                       "\\\"mediaType\\\":\\\"application/vnd.oci.image.manifest.v1+json\\\",\\\"config\\\":{\\\"mediaType\\\":"
                       "\\\"application/vnd.oci.image.config.v1+json\\\",\\\"digest\\\":\\\"sha256:%s\\\",\\\"size\\\":%zu},"
                       "\\\"layers\\\":[%s],\\\"annotations\\\":{\\\"n\\\":\\\"%zu\\\"}}\"}",
                       i, blobs[0].sha, strlen(blobs[0].data), layers, i);
}

/* rounds walks of the repository by pages of `page`; prints p50/p99 and the cost per image. */
static void measure(const char *label, int pid, const char *op, const char *list_key, size_t page, size_t rounds)
{
    size_t cap = 64, n = 0, items = 0;
    double *lat = malloc(cap * sizeof(double));
    if (!lat)
        exit(1);
    double cpu0 = ajl_cpu_s(pid), self0 = ajl_self_cpu_s(), t0 = ajl_now();
    for (size_t r = 0; r < rounds; r++) {
        char *token = NULL;
        do {
            char *body =
                token ? ajl_strdupf("{\"repositoryName\":\"bench/app\",\"maxResults\":%zu,\"nextToken\":\"%s\"}", page, token)
                      : ajl_strdupf("{\"repositoryName\":\"bench/app\",\"maxResults\":%zu}", page);
            free(token);
            token = NULL;
            if (n == cap && !(lat = realloc(lat, (cap *= 2) * sizeof(double))))
                exit(1);
            json_t *out = ajl_call(&api, &conn, op, body, &lat[n++]);
            items += json_array_size(json_object_get(out, list_key));
            const char *t = json_string_value(json_object_get(out, "nextToken"));
            if (t)
                token = strdup(t);
            json_decref(out);
        } while (token);
    }
    double wall = ajl_now() - t0, cpu = ajl_cpu_s(pid) - cpu0, self = ajl_self_cpu_s() - self0;
    qsort(lat, n, sizeof(double), ajl_cmp_double);
    double per_page_cpu = cpu / (double)n;
    printf("| %-6s | %-14s | %4zu | %5zu | %6.2f | %6.2f | %6.2f | %6.2f | %5.2f | %5.2f | %5.1f |\n", label, op, page, n,
           lat[n / 2] * 1e3, lat[(n * 99) / 100] * 1e3, per_page_cpu * 1e3, per_page_cpu * 1e6 / ((double)items / (double)n), cpu,
           self, wall);
    free(lat);
}

static void populate(size_t images, int conc, int pid)
{
    json_decref(ajl_call(&api, &conn, "CreateRepository", strdup("{\"repositoryName\":\"bench/app\"}"), NULL));
    for (size_t b = 0; b < NBLOBS; b++) {
        json_t *up = ajl_call(&api, &conn, "InitiateLayerUpload", strdup("{\"repositoryName\":\"bench/app\"}"), NULL);
        const char *id = json_string_value(json_object_get(up, "uploadId"));
        json_decref(
            ajl_call(&api, &conn, "UploadLayerPart",
                     ajl_strdupf("{\"repositoryName\":\"bench/app\",\"uploadId\":\"%s\",\"partFirstByte\":0,\"partLastByte\":%zu,"
                                 "\"layerPartBlob\":\"%s\"}",
                                 id, strlen(blobs[b].data) - 1, blobs[b].b64),
                     NULL));
        json_decref(ajl_call(&api, &conn, "CompleteLayerUpload",
                             ajl_strdupf("{\"repositoryName\":\"bench/app\",\"uploadId\":\"%s\",\"layerDigests\":[\"sha256:%s\"]}",
                                         id, blobs[b].sha),
                             NULL));
        json_decref(up);
    }
    double cpu0 = ajl_cpu_s(pid);
    double t = ajl_run_many(&api, "PutImage", put_image_body, NULL, NULL, images, conc, true, NULL);
    printf("populated: %zu PutImage calls (%d in flight) in %.1f s = %.0f/s, berthd CPU %.1f s\n", images, conc, t,
           (double)images / t, ajl_cpu_s(pid) - cpu0);
}

int main(int argc, char **argv)
{
    bool pop = argc >= 6 && strcmp(argv[4], "populate") == 0, meas = argc >= 7 && strcmp(argv[4], "measure") == 0;
    if (!pop && !meas) {
        fprintf(stderr, "usage: ecr_page_bench URL CREDS-FILE BERTHD-PID populate IMAGES [CONC]\n"
                        "       ecr_page_bench URL CREDS-FILE BERTHD-PID measure ROUNDS LABEL\n");
        return 2;
    }
    int pid = atoi(argv[3]);
    size_t n = strtoul(argv[5], NULL, 10);
    if (n < 1) {
        fprintf(stderr, "IMAGES and ROUNDS must be at least 1\n");
        return 2;
    }
    ajl_api_init(&api, argv[1], argv[2], "AmazonEC2ContainerRegistry_V20150921.", "ecr");
    if (pop) {
        int conc = argc > 6 ? atoi(argv[6]) : 8;
        populate(n, conc < 1 || conc > AJL_MAX_CONC ? 8 : conc, pid);
    } else {
        static const struct {
            const char *op, *key;
        } ops[] = {{"ListImages", "imageIds"}, {"DescribeImages", "imageDetails"}};
        json_decref(
            ajl_call(&api, &conn, "ListImages", strdup("{\"repositoryName\":\"bench/app\",\"maxResults\":1}"), NULL)); /* warm */
        for (size_t o = 0; o < 2; o++) {
            measure(argv[6], pid, ops[o].op, ops[o].key, 1000, n);
            measure(argv[6], pid, ops[o].op, ops[o].key, 100, n);
        }
    }
    ajl_req_free(&conn, false);
    curl_global_cleanup();
    return 0;
}
