#!/usr/bin/env bash
# Prints the Debian archive URI this machine's apt uses for its Debian 12 (bookworm) entries, so
# that other suites (bullseye's kernel, source packages) come from the same mirror. Reads
# /etc/apt/sources.list and /etc/apt/sources.list.d/ (one-line and deb822 formats).
set -euo pipefail
shopt -s nullglob
{
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    # deb [options] URI bookworm component...
    sed -n 's/^[[:space:]]*deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\)[[:space:]]\+bookworm[[:space:]].*/\2/p' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    # deb822 stanzas: the URIs of a stanza whose Suites name bookworm.
    awk 'BEGIN { RS = ""; FS = "\n" }
      { uris = ""; deb = 0; bookworm = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/ && $i ~ /[[:space:]]deb([[:space:]]|$)/) deb = 1
          if ($i ~ /^Suites:/ && $i ~ /[[:space:]]bookworm([[:space:]]|$)/) bookworm = 1
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[[:space:]]*/, "", uris) }
        }
        if (deb && bookworm && uris != "") { split(uris, u, /[[:space:]]+/); print u[1] } }' "$f"
  done
} | head -n1 | grep . || { echo "debian-mirror: no bookworm entry in /etc/apt/sources.list(.d)" >&2; exit 1; }
