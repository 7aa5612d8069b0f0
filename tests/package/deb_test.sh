#!/usr/bin/env bash
# The .deb: CPack builds it from the static build (STATIC_BUILD_DIR, tools/build-static.sh) or,
# where there is none, from BUILD_DIR (dynamic: Depends from dpkg-shlibdeps); lintian finds no
# error in it, and it installs into a clean Debian 12 root that has none of kleak's build
# dependencies, where `kleak --version` and `kleak meminfo` run. Then its maintainer scripts
# (deploy/debian/) through install -> upgrade -> remove -> purge, with versions 2 and 3 of the
# package made here: first as in a chroot, without systemd, then as on a box running systemd,
# where a stand-in systemctl records what the scripts asked of it.
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
got=$(chroot "$root" kleak --version | sed -n 1p)
[ "$got" = "$want" ] || { echo "FAIL: kleak --version says '$got', the package is '$want'"; exit 1; }
python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j, "empty"; print("meminfo json keys:", sorted(j)[:8])' "$root/tmp/meminfo.json"
for f in /usr/share/man/man8/kleak.8.gz /usr/share/bash-completion/completions/kleak \
         /usr/share/zsh/vendor-completions/_kleak /usr/share/fish/vendor_completions.d/kleak.fish \
         /usr/lib/systemd/system/kleak.service /usr/share/doc/kleak/copyright; do
  [ -s "$root$f" ] || { echo "FAIL: the package did not install $f"; exit 1; }
done
echo "deb: installed and ran in a clean Debian 12 root"

# ---- the maintainer scripts ------------------------------------------------------------------
fail() { echo "FAIL: $*"; exit 1; }
in_root() { chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
# dpkg ARGS in the root: exit 0, and no maintainer script said anything (theirs go to /dev/null
# unless they fail; a missing command would say "not found").
dpkg_step() {
  local out
  out=$(in_root dpkg "$@" 2>&1) || { echo "$out"; fail "dpkg $* failed"; }
  if grep -Ei 'not found|error|warning|postinst|prerm|postrm' <<<"$out"; then fail "dpkg $*: the output above"; fi
  echo "dpkg $*: ok"
}
# "install ok installed VERSION", or not-installed (dpkg may forget a purged package or keep it so).
status() {
  local s
  s=$(in_root dpkg-query -W -f="\${Status} \${Version}" kleak 2>/dev/null) || s=not-installed
  case "$s" in *not-installed*) echo not-installed ;; *) echo "$s" ;; esac
}
expect_status() { [ "$(status)" = "$1" ] || fail "after $2: dpkg says '$(status)', not '$1'"; }
# The package again with another version (its files and scripts unchanged).
rebuild() {
  rm -rf "$work/pkg" && dpkg-deb -R "$deb" "$work/pkg"
  sed -i "s/^Version: .*/Version: $1/" "$work/pkg/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz -b "$work/pkg" "$root/tmp/kleak_$1.deb" >/dev/null
}
v1=$(dpkg-deb -f "$deb" Version) v2="$v1+test2" v3="$v1+test3"
rebuild "$v2"
rebuild "$v3"
cp "$deb" "$root/tmp/kleak_$v1.deb"

state=/var/lib/kleak wants=/etc/systemd/system/multi-user.target.wants/kleak.service
dsh=/var/lib/systemd/deb-systemd-helper-enabled/kleak.service.dsh-also
[ ! -e "$root/run/systemd/system" ] || fail "the clean root has /run/systemd/system"
# systemctl and deb-systemd-invoke's questions (is-enabled, is-active) answered from
# /tmp/unit-state: disabled (the default), enabled, active. Every call is logged.
mkdir -p "$root/usr/local/sbin"
cat >"$root/usr/local/sbin/systemctl" <<'SH'
#!/bin/sh
echo "$*" >> /tmp/systemctl.log
state=$(cat /tmp/unit-state 2>/dev/null || echo disabled)
case " $* " in
  *" is-enabled "*) echo "$state" | sed s/active/enabled/; [ "$state" != disabled ] ;;
  *" is-active "*) [ "$state" = active ] ;;
  *) exit 0 ;;
esac
SH
chmod 0755 "$root/usr/local/sbin/systemctl"
calls() { cat "$root/tmp/systemctl.log" 2>/dev/null; }
expect_call() { calls | grep -qx -- "$1" || { calls; fail "$2: no systemctl $1"; }; }
expect_no_call() { if calls | grep -E -- "$1"; then fail "$2: systemctl was asked the line above"; fi; }

# Installed (above): the state directory is root's and private; the unit is not enabled, but
# deb-systemd-helper knows what enabling it makes (purge removes that).
[ "$(stat -c '%U:%G %a %F' "$root$state")" = "root:root 700 directory" ] ||
  fail "$state after install: $(stat -c '%U:%G %a %F' "$root$state")"
[ ! -e "$root$wants" ] || fail "the install enabled kleak.service"
[ -s "$root$dsh" ] || fail "no deb-systemd-helper state ($dsh) after install"
echo "a window's report" >"$root$state/kleak-report-20261207T121000.000Z.txt"

# Without systemd: the admin enabled the unit (what systemctl enable makes); the upgrade keeps
# it enabled and the reports, and nothing asks systemd anything.
mkdir -p "$(dirname "$root$wants")" && ln -s /usr/lib/systemd/system/kleak.service "$root$wants"
dpkg_step -i "/tmp/kleak_$v2.deb"
expect_status "install ok installed $v2" "the upgrade"
[ -L "$root$wants" ] || fail "the upgrade lost the admin's enable"
[ -s "$root$state/kleak-report-20261207T121000.000Z.txt" ] || fail "the upgrade lost $state's report"
dpkg_step --remove kleak
expect_status "deinstall ok config-files $v2" "remove"
for f in /usr/bin/kleak /usr/lib/systemd/system/kleak.service; do [ ! -e "$root$f" ] || fail "remove left $f"; done
[ -s "$root$state/kleak-report-20261207T121000.000Z.txt" ] || fail "remove took $state's report"
# What DynamicUser= leaves once the unit ran: the directory under private/, a symlink here.
mkdir -m 0700 "$root/var/lib/private"
mv "$root$state" "$root/var/lib/private/kleak" && ln -s private/kleak "$root$state"
dpkg_step --purge kleak
expect_status "not-installed" "purge"
for f in "$state" /var/lib/private/kleak "$wants" "$dsh"; do
  if [ -e "$root$f" ] || [ -L "$root$f" ]; then fail "purge left $f"; fi
done
[ -z "$(calls)" ] || { calls; fail "without systemd, the scripts called systemctl"; }
echo "deb: install, upgrade, remove, purge without systemd: files, $state and the enable as dh's scripts keep them"

# As under a running systemd: the scripts reload it, leave the disabled unit stopped, restart the
# enabled one on upgrade (deb-systemd-invoke), stop it on remove.
mkdir -p "$root/run/systemd/system"
dpkg_step -i "/tmp/kleak_$v1.deb"
expect_call "--system daemon-reload" "install"
expect_no_call "(start|restart) kleak" "install of a disabled unit"
dpkg_step -i "/tmp/kleak_$v2.deb"
expect_no_call "(start|restart) kleak" "upgrade of a disabled, stopped unit"
echo active >"$root/tmp/unit-state"
: >"$root/tmp/systemctl.log"
dpkg_step -i "/tmp/kleak_$v3.deb"
expect_call "--system daemon-reload" "upgrade"
expect_call "--quiet --system restart kleak.service" "upgrade of the enabled, running unit"
: >"$root/tmp/systemctl.log"
dpkg_step --remove kleak
expect_call "stop kleak.service" "remove"
[ "$(calls | tail -1)" = "--system daemon-reload" ] || { calls; fail "remove: no daemon-reload after the stop"; }
dpkg_step --purge kleak
expect_status "not-installed" "purge"
[ ! -e "$root$state" ] || fail "purge left $state"
echo "deb: under systemd: reloaded, restarted on upgrade only when enabled and running, stopped on remove"
