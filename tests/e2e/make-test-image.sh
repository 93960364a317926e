#!/bin/bash
# make-test-image.sh OUTDIR — build small test images offline, byte-for-byte reproducibly.
#
# Writes:
#   OUTDIR/oci/                 an OCI image layout (oci-layout, index.json, blobs/sha256/…)
#                               with three references (org.opencontainers.image.ref.name):
#                                 v1        image manifest, linux/amd64, one gzip layer
#                                 multi     image index: linux/amd64 (= v1) and linux/arm64
#                                 artifact  OCI 1.1 artifact: artifactType, empty config,
#                                           one layer, subject = v1's manifest
#   OUTDIR/oci-archive.tar      the layout with v1 alone, as a tar (`podman load -i`)
#   OUTDIR/docker-archive.tar   `docker load` archive of v1 (RepoTags e2e/test:v1)
#   OUTDIR/digests.env          shell assignments of every digest and size (source it)
#
# Only tar, gzip, sha256sum and jq: no network, no umoci (its `insert` writes layer tars
# without end-of-archive blocks).  Fixed mtimes, owners and ordering make the digests the
# same on every run.
set -euo pipefail

out=${1:?usage: make-test-image.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
layout="$out/oci"
work="$out/work"
rm -rf "$layout" "$work"
mkdir -p "$layout/blobs/sha256" "$work"

readonly MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
readonly MT_INDEX=application/vnd.oci.image.index.v1+json
readonly MT_CONFIG=application/vnd.oci.image.config.v1+json
readonly MT_LAYER=application/vnd.oci.image.layer.v1.tar+gzip
readonly MT_EMPTY=application/vnd.oci.empty.v1+json
readonly ARTIFACT_TYPE=application/vnd.berth.e2e.signature.v1
readonly SOURCE_DATE=2024-01-01T00:00:00Z

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }

# add_blob FILE: copy FILE into the layout's blob store; print its hex digest.
add_blob() {
    local hex
    hex=$(sha256_of "$1")
    cp "$1" "$layout/blobs/sha256/$hex"
    echo "$hex"
}

# descriptor MEDIATYPE FILE [EXTRA-JSON]: add FILE as a blob, print its descriptor.
descriptor() {
    local mt=$1 file=$2 extra=${3:-"{}"} hex
    hex=$(add_blob "$file")
    jq -cn --arg mt "$mt" --arg d "sha256:$hex" --argjson s "$(size_of "$file")" --argjson x "$extra" \
        '{mediaType: $mt, digest: $d, size: $s} + $x'
}

# make_rootfs ARCH DIR: a tiny root file system that differs per architecture.
make_rootfs() {
    local arch=$1 dir=$2
    mkdir -p "$dir/etc" "$dir/srv"
    printf 'hello from the berth e2e image (%s)\n' "$arch" >"$dir/srv/hello.txt"
    printf 'NAME=berth-e2e\nARCH=%s\n' "$arch" >"$dir/etc/e2e-release"
}

# make_image ARCH: build layer + config + manifest for ARCH; sets M_<ARCH>_* variables.
make_image() {
    local arch=$1 dir="$work/$1" diff_id layer_desc config_desc
    make_rootfs "$arch" "$dir/rootfs"
    tar --create --file "$dir/layer.tar" --directory "$dir/rootfs" --sort=name \
        --mtime="$SOURCE_DATE" --owner=0 --group=0 --numeric-owner --format=posix \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime .
    gzip -9 -n -c "$dir/layer.tar" >"$dir/layer.tar.gz"
    diff_id="sha256:$(sha256_of "$dir/layer.tar")"
    layer_desc=$(descriptor "$MT_LAYER" "$dir/layer.tar.gz")

    jq -cn --arg arch "$arch" --arg diff "$diff_id" --arg created "$SOURCE_DATE" '{
        created: $created,
        architecture: $arch,
        os: "linux",
        config: {Env: ["PATH=/usr/bin:/bin"], Cmd: ["/srv/hello.txt"], WorkingDir: "/srv"},
        rootfs: {type: "layers", diff_ids: [$diff]},
        history: [{created: $created, created_by: "make-test-image.sh"}]
    }' | tr -d '\n' >"$dir/config.json"
    config_desc=$(descriptor "$MT_CONFIG" "$dir/config.json")

    jq -cn --arg mt "$MT_MANIFEST" --argjson c "$config_desc" --argjson l "$layer_desc" \
        '{schemaVersion: 2, mediaType: $mt, config: $c, layers: [$l]}' | tr -d '\n' >"$dir/manifest.json"
    add_blob "$dir/manifest.json" >/dev/null
}

make_image amd64
make_image arm64
AMD64_HEXES=("$(sha256_of "$work/amd64/manifest.json")" "$(sha256_of "$work/amd64/config.json")"
    "$(sha256_of "$work/amd64/layer.tar.gz")")

# The multi-arch index.
platform_desc() {
    local arch=$1
    descriptor "$MT_MANIFEST" "$work/$arch/manifest.json" \
        "$(jq -cn --arg a "$arch" '{platform: {architecture: $a, os: "linux"}}')"
}
jq -cn --arg mt "$MT_INDEX" --argjson a "$(platform_desc amd64)" --argjson b "$(platform_desc arm64)" \
    '{schemaVersion: 2, mediaType: $mt, manifests: [$a, $b]}' | tr -d '\n' >"$work/index.json"
add_blob "$work/index.json" >/dev/null

# The artifact: empty config, one layer, subject = the amd64 image (v1).
printf '{}' >"$work/empty.json"
printf 'berth e2e signature over v1\n' >"$work/signature.txt"
subject_desc=$(descriptor "$MT_MANIFEST" "$work/amd64/manifest.json")
jq -cn --arg mt "$MT_MANIFEST" --arg at "$ARTIFACT_TYPE" \
    --argjson c "$(descriptor "$MT_EMPTY" "$work/empty.json")" \
    --argjson l "$(descriptor "application/vnd.berth.e2e.signature.layer.v1" "$work/signature.txt" \
        '{"annotations":{"org.opencontainers.image.title":"signature.txt"}}')" \
    --argjson s "$subject_desc" \
    '{schemaVersion: 2, mediaType: $mt, artifactType: $at, config: $c, layers: [$l], subject: $s,
      annotations: {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}' | tr -d '\n' >"$work/artifact.json"
add_blob "$work/artifact.json" >/dev/null

# index.json + oci-layout
ref() {
    local mt=$1 file=$2 name=$3 extra=${4:-"{}"}
    descriptor "$mt" "$file" \
        "$(jq -cn --arg n "$name" --argjson x "$extra" '{annotations: {"org.opencontainers.image.ref.name": $n}} + $x')"
}
jq -cn --argjson v1 "$(ref "$MT_MANIFEST" "$work/amd64/manifest.json" v1)" \
    --argjson multi "$(ref "$MT_INDEX" "$work/index.json" multi)" \
    --argjson art "$(ref "$MT_MANIFEST" "$work/artifact.json" artifact "$(jq -cn --arg at "$ARTIFACT_TYPE" '{artifactType: $at}')")" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [$v1, $multi, $art]}' \
    >"$layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

# oci-archive of v1 alone (`podman load` takes one image from an archive): the layout
# with an index.json that names only v1.
arc_dir="$work/oci-archive"
mkdir -p "$arc_dir/blobs/sha256"
cp "$layout/oci-layout" "$arc_dir/"
jq -c '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == "v1"))' "$layout/index.json" \
    >"$arc_dir/index.json"
for hex in "${AMD64_HEXES[@]}"; do
    cp "$layout/blobs/sha256/$hex" "$arc_dir/blobs/sha256/"
done
tar --create --file "$out/oci-archive.tar" --directory "$arc_dir" --sort=name \
    --mtime="$SOURCE_DATE" --owner=0 --group=0 --numeric-owner .

# docker-archive of v1 (what `docker save` writes: config, uncompressed layer, manifest.json).
arch_dir="$work/docker-archive"
mkdir -p "$arch_dir"
cfg_hex=$(sha256_of "$work/amd64/config.json")
layer_hex=$(sha256_of "$work/amd64/layer.tar")
cp "$work/amd64/config.json" "$arch_dir/$cfg_hex.json"
mkdir -p "$arch_dir/$layer_hex"
cp "$work/amd64/layer.tar" "$arch_dir/$layer_hex/layer.tar"
jq -cn --arg c "$cfg_hex.json" --arg l "$layer_hex/layer.tar" \
    '[{Config: $c, RepoTags: ["e2e/test:v1"], Layers: [$l]}]' >"$arch_dir/manifest.json"
tar --create --file "$out/docker-archive.tar" --directory "$arch_dir" --sort=name \
    --mtime="$SOURCE_DATE" --owner=0 --group=0 --numeric-owner .

# digests.env
{
    for arch in amd64 arm64; do
        up=${arch^^}
        m="$work/$arch/manifest.json"
        echo "${up}_MANIFEST_DIGEST=sha256:$(sha256_of "$m")"
        echo "${up}_MANIFEST_SIZE=$(size_of "$m")"
        echo "${up}_MANIFEST_FILE=$m"
        echo "${up}_CONFIG_DIGEST=sha256:$(sha256_of "$work/$arch/config.json")"
        echo "${up}_CONFIG_SIZE=$(size_of "$work/$arch/config.json")"
        echo "${up}_CONFIG_FILE=$work/$arch/config.json"
        echo "${up}_LAYER_DIGEST=sha256:$(sha256_of "$work/$arch/layer.tar.gz")"
        echo "${up}_LAYER_SIZE=$(size_of "$work/$arch/layer.tar.gz")"
        echo "${up}_LAYER_FILE=$work/$arch/layer.tar.gz"
        echo "${up}_DIFF_ID=sha256:$(sha256_of "$work/$arch/layer.tar")"
    done
    echo "INDEX_DIGEST=sha256:$(sha256_of "$work/index.json")"
    echo "INDEX_SIZE=$(size_of "$work/index.json")"
    echo "INDEX_FILE=$work/index.json"
    echo "ARTIFACT_DIGEST=sha256:$(sha256_of "$work/artifact.json")"
    echo "ARTIFACT_SIZE=$(size_of "$work/artifact.json")"
    echo "ARTIFACT_FILE=$work/artifact.json"
    echo "ARTIFACT_TYPE=$ARTIFACT_TYPE"
    echo "ARTIFACT_LAYER_DIGEST=sha256:$(sha256_of "$work/signature.txt")"
    echo "ARTIFACT_LAYER_SIZE=$(size_of "$work/signature.txt")"
    echo "ARTIFACT_LAYER_FILE=$work/signature.txt"
    echo "EMPTY_CONFIG_DIGEST=sha256:$(sha256_of "$work/empty.json")"
    echo "EMPTY_CONFIG_FILE=$work/empty.json"
    echo "OCI_LAYOUT=$layout"
    echo "OCI_ARCHIVE=$out/oci-archive.tar"
    echo "DOCKER_ARCHIVE=$out/docker-archive.tar"
    echo "DOCKER_ARCHIVE_TAG=e2e/test:v1"
} >"$out/digests.env"
