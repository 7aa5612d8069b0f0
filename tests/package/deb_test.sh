#!/usr/bin/env bash
# The .deb: CPack builds it from the static build (STATIC_BUILD_DIR, tools/build-static.sh) or,
# where there is none, from BUILD_DIR (dynamic: Depends from dpkg-shlibdeps); lintian finds no
# error in it, and it installs into a clean Debian 12 root that has none of kleak's build
# dependencies, where `kleak --version` and `kleak meminfo` run.
#   deb_test.sh STATIC_BUILD_DIR BUILD_DIR CACHE_DIR
# CACHE_DIR keeps the pristine root (mmdebstrap, ~1.5 min once) as a tarball; every run unpacks a
# fresh copy.
set -euo pipefail
# Root only (chroot, mounts, podman, BPF): skipped (77) elsewhere, a failure under KLEAK_REQUIRE_BPF (CI).
if [ "$(id -u)" -ne 0 ]; then
  [ -n "${KLEAK_REQUIRE_BPF:-}" ] && { echo "FAIL: needs root and KLEAK_REQUIRE_BPF is set"; exit 1; }
  echo "skipped: needs root"; exit 77
fi
build=$(realpath "$1") cache=$(realpath -m "$3")
if [ ! -s "$build/CPackConfig.cmake" ]; then
  echo "no static build in $build: packaging the dynamic build $2"
  build=$(realpath "$2")
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$work"' EXIT

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log") || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/out/kleak_*.deb)
echo "built $(basename "$deb"): $(du -k "$deb" | cut -f1) KiB; Depends: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb -c "$deb" | awk '{ print "  " $1, $6 }'

# lintian: any error fails (warnings are printed).
lintian --fail-on error --tag-display-limit 0 "$deb"

# A clean Debian 12 root: essential packages plus apt (apt resolves Depends of a dynamic build).
root_tar=$cache/bookworm-apt.tar
if [ ! -s "$root_tar" ]; then
  # (mmdebstrap picks the format from the name: keep .tar at the end)
  # The same Debian mirror this machine's apt uses.
  mirror=$("$(dirname "$0")/../../tools/debian-mirror.sh")
  mmdebstrap --variant=apt --quiet bookworm "$cache/partial-bookworm-apt.tar" "$mirror"
  mv "$cache/partial-bookworm-apt.tar" "$root_tar"
fi
root=$work/root
mkdir "$root"
tar -C "$root" -xf "$root_tar"
for lib in libbpf1 libelf1 libfmt9 libprotobuf32; do
  if chroot "$root" dpkg-query -W "$lib" >/dev/null 2>&1; then echo "FAIL: the clean root has $lib"; exit 1; fi
done
cp "$deb" "$root/tmp/kleak.deb"
if [ -n "$(dpkg-deb -f "$deb" Depends)" ]; then
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq /tmp/kleak.deb >/dev/null
else
  chroot "$root" dpkg -i /tmp/kleak.deb
fi

# In a private mount namespace: /proc and /sys of this kernel, gone when the namespace ends.
unshare --mount --propagation private sh -euc '
  root=$1
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  chroot "$root" kleak --version
  chroot "$root" kleak meminfo --format json > "$root/tmp/meminfo.json"
  chroot "$root" kleak meminfo | head -5
' sh "$root"
want="kleak $(dpkg-deb -f "$deb" Version)"
got=$(chroot "$root" kleak --version)
[ "$got" = "$want" ] || { echo "FAIL: kleak --version says '$got', the package is '$want'"; exit 1; }
python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j, "empty"; print("meminfo json keys:", sorted(j)[:8])' "$root/tmp/meminfo.json"
for f in /usr/share/man/man1/kleak.1.gz /usr/share/bash-completion/completions/kleak \
         /usr/lib/systemd/system/kleak.service /usr/share/doc/kleak/copyright; do
  [ -s "$root$f" ] || { echo "FAIL: the package did not install $f"; exit 1; }
done
echo "deb: installed and ran in a clean Debian 12 root"
