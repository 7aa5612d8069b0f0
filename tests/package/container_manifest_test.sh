#!/usr/bin/env bash
# The image for a mixed fleet: deploy/container/build.sh --manifest makes one manifest list (an
# OCI archive) with exactly linux/amd64 and linux/arm64, each image's config naming its arch and
# its layers holding that arch's static kleak byte for byte and the license, nothing else; each
# kleak says the version (the arm64 one under qemu-aarch64-static: binfmt_misc is not mounted on
# this host, so `podman run --platform linux/arm64` cannot run it). Local storage keeps no
# manifest list (podman 4.3's `podman images` fails on one), and the DaemonSet names no arch or
# per-arch image, so one image reference serves amd64 and arm64 nodes.
# Never builds a binary: build-static-aarch64 comes from tools/test.sh (see arm64_test.sh);
# without it the test skips (77), a failure under KLEAK_REQUIRE_TOOLS (CI).
#   container_manifest_test.sh AMD64_STATIC_KLEAK ARM64_STATIC_KLEAK SOURCE_DIR
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
if [ "$(id -u)" -ne 0 ]; then
  [ -n "${KLEAK_REQUIRE_BPF:-}" ] && fail "needs root (podman) and KLEAK_REQUIRE_BPF is set"
  echo "skipped: needs root"; exit 77
fi
amd64=$(realpath -m "$1") arm64=$(realpath -m "$2") src=$(realpath "$3")
for bin in "$amd64" "$arm64"; do
  [ -x "$bin" ] && continue
  [ -n "${KLEAK_REQUIRE_TOOLS:-}" ] && fail "no $bin (tools/build-static.sh [--arch aarch64]) and KLEAK_REQUIRE_TOOLS is set"
  echo "skipped: no $bin (tools/build-static.sh [--arch aarch64])"; exit 77
done
work=$(mktemp -d)
repo=localhost/kleak-manifest-test
cleanup() { podman rmi "$repo:$version" "$repo-arm64:$version" >/dev/null 2>&1 || true; rm -rf "$work"; }
version=$("$amd64" --version | awk 'NR == 1 { print $2 }')
trap cleanup EXIT

archive=$("$src/deploy/container/build.sh" --manifest "$work/kleak.oci.tar" "$amd64" "$arm64" "$repo")
[ "$archive" = "$work/kleak.oci.tar" ] || fail "build.sh --manifest printed '$archive'"
podman images >/dev/null || fail "podman images fails after build.sh --manifest (a manifest list left in storage?)"
if podman images --format '{{.Repository}}' | grep -qF -- "$repo-manifest-"; then fail "build.sh left its manifest list in storage"; fi

mkdir "$work/oci"
tar -C "$work/oci" -xf "$archive"
# Each platform's files, unpacked from its layers into $work/<arch>/, and its config's arch.
python3 - "$work/oci" "$work" <<'EOF'
import json, os, subprocess, sys
oci, work = sys.argv[1], sys.argv[2]
blob = lambda d: os.path.join(oci, 'blobs', *d.split(':'))
top = json.load(open(os.path.join(oci, 'index.json')))['manifests']
assert len(top) == 1 and top[0]['mediaType'] == 'application/vnd.oci.image.index.v1+json', top
index = json.load(open(blob(top[0]['digest'])))
platforms = sorted((m['platform']['os'], m['platform']['architecture']) for m in index['manifests'])
assert platforms == [('linux', 'amd64'), ('linux', 'arm64')], platforms
for m in index['manifests']:
    arch = m['platform']['architecture']
    manifest = json.load(open(blob(m['digest'])))
    config = json.load(open(blob(manifest['config']['digest'])))
    assert (config['os'], config['architecture']) == ('linux', arch), (arch, config['architecture'])
    root = os.path.join(work, arch)
    os.makedirs(root)
    for layer in manifest['layers']:
        subprocess.run(['tar', '-C', root, '-xf', blob(layer['digest'])], check=True)
    print(f"manifest list: linux/{arch}, {len(manifest['layers'])} layers, config {config['architecture']}")
EOF
for arch in amd64 arm64; do
  files=$(cd "$work/$arch" && find . -type f | sort | paste -sd' ')
  [ "$files" = "./usr/bin/kleak ./usr/share/doc/kleak/copyright" ] || fail "linux/$arch holds: $files"
done
cmp "$work/amd64/usr/bin/kleak" "$amd64" || fail "linux/amd64's kleak is not $amd64"
cmp "$work/arm64/usr/bin/kleak" "$arm64" || fail "linux/arm64's kleak is not $arm64"
file "$work/amd64/usr/bin/kleak" | grep 'x86-64' | grep -q 'statically linked' || fail "linux/amd64: $(file "$work/amd64/usr/bin/kleak")"
file "$work/arm64/usr/bin/kleak" | grep 'ARM aarch64' | grep -q 'statically linked' || fail "linux/arm64: $(file "$work/arm64/usr/bin/kleak")"
got_amd64=$("$work/amd64/usr/bin/kleak" --version | head -1)
got_arm64=$(qemu-aarch64-static "$work/arm64/usr/bin/kleak" --version | head -1)
[ "$got_amd64" = "kleak $version" ] && [ "$got_arm64" = "kleak $version" ] ||
  fail "--version: linux/amd64 '$got_amd64', linux/arm64 '$got_arm64', want 'kleak $version'"
echo "linux/amd64: $got_amd64 (native); linux/arm64: $got_arm64 (qemu-aarch64-static)"

# One DaemonSet for a mixed fleet: nothing in it picks an arch.
ds=$src/deploy/kubernetes/kleak-daemonset.yaml
if grep -nEi 'amd64|arm64|x86|aarch64|kubernetes.io/arch|nodeSelector|nodeAffinity' "$ds"; then
  fail "$ds names an arch (the lines above): it must run on amd64 and arm64 nodes from one manifest list"
fi
echo "DaemonSet: no arch in $(basename "$ds")"
