#!/usr/bin/env bash
# Builds the OCI image localhost/kleak:VERSION (FROM scratch: nothing to pull, works offline)
# from a static kleak binary.
#   deploy/container/build.sh [KLEAK_BIN] [TAG]    default: build-static/kleak, localhost/kleak:<version>
# An image already built from the same binary (label kleak.binary.sha256) is kept as it is.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$here/build-static/kleak}
[ -x "$bin" ] || { echo "container: $bin is missing: run tools/build-static.sh" >&2; exit 1; }
# FROM scratch has no loader and no libraries: only a static binary runs there.
if readelf -l "$bin" | grep -q 'INTERP'; then
  echo "container: $bin is dynamically linked; the image needs the static build (tools/build-static.sh)" >&2
  exit 1
fi
version=$("$bin" --version | awk 'NR == 1 { print $2 }')
tag=${2:-localhost/kleak:$version}
sum=$(sha256sum "$bin" | cut -d' ' -f1)
if [ "$(podman image inspect --format '{{ index .Labels "kleak.binary.sha256" }}' "$tag" 2>/dev/null)" = "$sum" ]; then
  echo "$tag"
  exit 0
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
install -m 0755 "$bin" "$ctx/kleak"
install -m 0644 "$here/deploy/debian/copyright" "$ctx/copyright"
podman build --quiet --pull=never --build-arg VERSION="$version" --label kleak.binary.sha256="$sum" \
  -f "$here/deploy/container/Containerfile" -t "$tag" "$ctx" >/dev/null
echo "$tag"
