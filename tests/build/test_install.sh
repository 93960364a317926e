#!/bin/bash
# `cmake --install` of a build puts berthd and berth, and nothing else, in
# <prefix>/bin; both run from there. Installs into a temporary DESTDIR.
#   test_install.sh BUILD_DIR PREFIX
set -euo pipefail

build=$1
prefix=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

DESTDIR=$dest "${CMAKE:-cmake}" --install "$build" >/dev/null

want="$prefix/bin/berth
$prefix/bin/berthd"
got=$(cd "$dest" && find . -type f -printf '/%P\n' | sort)
if [ "$got" != "$want" ]; then
    echo "FAIL installed files:"
    echo "$got"
    echo "expected:"
    echo "$want"
    exit 1
fi
echo "PASS cmake --install puts exactly berth and berthd in $prefix/bin"

for exe in berthd berth; do
    if ! out=$("$dest$prefix/bin/$exe" --help 2>&1) || ! grep -q "^usage: $exe" <<<"$out"; then
        echo "FAIL $prefix/bin/$exe --help:"
        echo "$out"
        exit 1
    fi
    echo "PASS the installed $exe runs (--help)"
done
