#!/usr/bin/env bash
# Runs apt-get against one extra Debian suite without touching the machine's apt configuration:
#   tools/apt-suite.sh STATE_DIR "deb|deb-src SUITE COMPONENT" apt-get-args...
# The suite comes from the same mirror as this machine's Debian 12 entries (tools/debian-mirror.sh).
# Its package lists live in STATE_DIR (fetched once; delete the directory to refresh them), so
# `apt-get download` / `apt-get source` see only that suite. Used for cpp-httplib's source
# (tools/build-static.sh) and bullseye's 5.10 kernel (tools/qemu/install.sh).
set -euo pipefail
state=$1 entry=$2; shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
read -r type suite components <<<"$entry"
mirror=$("$here/tools/debian-mirror.sh")
mkdir -p "$state/lists/partial" "$state/archives/partial"
echo "$type $mirror $suite $components" >"$state/sources.list"
opts=(-o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$state/lists" -o "Dir::Cache::Archives=$state/archives"
      -o APT::Sandbox::User=root -o Debug::NoLocking=1)
if [ ! -e "$state/.updated" ]; then
  apt-get "${opts[@]}" -qq update >&2
  touch "$state/.updated"
fi
exec apt-get "${opts[@]}" "$@"
