#!/usr/bin/env bash
# Builds the OCI image of kleak (FROM scratch: nothing to pull, works offline, no RUN step, so
# no emulation is needed to build another arch's image) from a static kleak binary.
#   deploy/container/build.sh [KLEAK_BIN] [TAG]
#       one image for the binary's arch; default build-static/kleak, localhost/kleak:<version>
#       (localhost/kleak-arm64:<version> for an arm64 binary on an amd64 host)
#   deploy/container/build.sh --manifest [OCI_ARCHIVE [AMD64_KLEAK ARM64_KLEAK [REPO]]]
#       both arches (tools/build-static.sh and tools/build-static.sh --arch aarch64): the images
#       REPO:<version> (amd64) and REPO-arm64:<version> (REPO: localhost/kleak), and their manifest
#       list written as an OCI archive (default build-image/kleak_<version>.oci.tar), which a
#       registry takes with both arches: skopeo copy --all oci-archive:FILE docker://REGISTRY/kleak:<version>
# The manifest list is not kept in local storage: podman 4.3 (Debian 12) then fails every
# `podman images` ("fetching target platform image selected from image index", podman#19757),
# which deploy/container/run.sh uses.
# An image already built from the same binary (label kleak.binary.sha256) is kept as it is.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)

# platform_of BIN: the Debian/OCI name of a static binary's arch.
platform_of() {
  local desc
  desc=$(file -L "$1")
  case $desc in
    *x86-64*) echo amd64 ;;
    *'ARM aarch64'*) echo arm64 ;;
    *) echo "container: $1 is neither x86-64 nor aarch64: $desc" >&2; exit 1 ;;
  esac
}
# version_of BIN: `kleak --version`'s number; an arm64 binary runs under qemu-user.
version_of() {
  local run=("$1")
  [ "$(platform_of "$1")" = "$(dpkg --print-architecture)" ] || run=(qemu-aarch64-static "$1")
  "${run[@]}" --version | awk 'NR == 1 { print $2 }'
}
# build_image BIN [TAG]: prints the tag of the image of BIN (built, or kept when already built).
build_image() {
  local bin=$1 tag=${2:-} version arch sum ctx
  [ -x "$bin" ] || { echo "container: $bin is missing: run tools/build-static.sh" >&2; exit 1; }
  # FROM scratch has no loader and no libraries: only a static binary runs there.
  if readelf -l "$bin" | grep -q 'INTERP'; then
    echo "container: $bin is dynamically linked; the image needs the static build (tools/build-static.sh)" >&2
    exit 1
  fi
  version=$(version_of "$bin") arch=$(platform_of "$bin")
  # The host's arch is localhost/kleak (deploy/container/run.sh runs the newest of those).
  if [ -z "$tag" ]; then
    tag=localhost/kleak:$version
    [ "$arch" = "$(dpkg --print-architecture)" ] || tag=localhost/kleak-$arch:$version
  fi
  sum=$(sha256sum "$bin" | cut -d' ' -f1)
  if [ "$(podman image inspect --format '{{ index .Labels "kleak.binary.sha256" }}' "$tag" 2>/dev/null)" = "$sum" ]; then
    echo "$tag"
    return
  fi
  ctx=$(mktemp -d)
  install -m 0755 "$bin" "$ctx/kleak"
  install -m 0644 "$here/deploy/debian/copyright" "$ctx/copyright"
  podman build --quiet --pull=never --platform "linux/$arch" --build-arg VERSION="$version" \
    --label kleak.binary.sha256="$sum" -f "$here/deploy/container/Containerfile" -t "$tag" "$ctx" >/dev/null
  rm -rf "$ctx"
  echo "$tag"
}

if [ "${1:-}" != --manifest ]; then
  build_image "${1:-$here/build-static/kleak}" "${2:-}"
  exit 0
fi
amd64_bin=${3:-$here/build-static/kleak} arm64_bin=${4:-$here/build-static-aarch64/kleak}
[ -x "$arm64_bin" ] || { echo "container: $arm64_bin is missing: run tools/build-static.sh --arch aarch64" >&2; exit 1; }
[ "$(platform_of "$amd64_bin")" = amd64 ] || { echo "container: $amd64_bin is not an x86-64 binary" >&2; exit 1; }
[ "$(platform_of "$arm64_bin")" = arm64 ] || { echo "container: $arm64_bin is not an aarch64 binary" >&2; exit 1; }
version=$(version_of "$amd64_bin")
[ "$(version_of "$arm64_bin")" = "$version" ] ||
  { echo "container: $amd64_bin is $version, $arm64_bin $(version_of "$arm64_bin")" >&2; exit 1; }
out=$(realpath -m "${2:-$here/build-image/kleak_$version.oci.tar}")
repo=${5:-localhost/kleak}
amd64_tag=$(build_image "$amd64_bin" "$repo:$version")
arm64_tag=$(build_image "$arm64_bin" "$repo-arm64:$version")
list=$repo-manifest-$$:$version
trap 'podman manifest rm "$list" >/dev/null 2>&1 || true' EXIT
podman manifest create "$list" >/dev/null
podman manifest add "$list" "containers-storage:$amd64_tag" >/dev/null
podman manifest add "$list" "containers-storage:$arm64_tag" >/dev/null
mkdir -p "$(dirname "$out")"
rm -f "$out"
podman manifest push --quiet --all "$list" "oci-archive:$out"
echo "$out"
