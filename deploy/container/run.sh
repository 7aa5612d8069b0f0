#!/usr/bin/env bash
# Runs the kleak image (deploy/container/build.sh) on this host with the flags it needs, so that
# no operator has to assemble them (tests/package/container_test.sh runs the image through this
# script, so these flags are the tested ones):
#
#   deploy/container/run.sh [KLEAK ARGS...]                   e.g. trace --duration 60s
#   deploy/container/run.sh [PODMAN RUN OPTIONS...] -- [KLEAK ARGS...]
#
# Without KLEAK ARGS the image's default runs: trace --duration 7d --serve 0.0.0.0:9464 (a daemon;
# publish the port, e.g. `-p 127.0.0.1:9464:9464 --`, or use `--network host --` to reach it).
#   KLEAK_IMAGE    the image (default: the newest localhost/kleak:* that build.sh made)
#   KLEAK_CAPS     capabilities added after --cap-drop all (default BPF,PERFMON,SYSLOG,DAC_READ_SEARCH,
#                  what `kleak doctor` lists as required: tests/package/capabilities_test.sh);
#                  `none` or empty: none (kleak then refuses with one line)
#   KLEAK_DRY_RUN  1: print the podman command instead of running it
#
# The flags, and why each:
# - --pid host: kleak names the host's processes, and excludes itself by its host pid;
# - /sys/kernel read-only: the kernel's BTF and tracefs;
# - --security-opt seccomp=deploy/container/seccomp.json: podman's default profile on Debian 12
#   lets bpf() and perf_event_open() through only with CAP_SYS_ADMIN;
# - --ulimit nofile=1024:1024 nproc=1024:1024: podman's defaults (nofile 1048576, nproc above
#   conmon's own limit) are more than root may set without CAP_SYS_RESOURCE (in a container or a
#   sandboxed VM), which fails with `error setting rlimit type 7: operation not permitted`
#   (exit 126). kleak needs far fewer descriptors (at most 256 connections, its BPF objects), and
#   uid 0 is exempt from nproc;
# - runc, where installed (`apt-get install podman runc`): the runtime the tests use (crun refuses
#   a hybrid cgroup v1/v2 layout); --cgroup-manager cgroupfs: works whether or not systemd manages
#   this host's cgroups.
# Other limits are inherited: on a kernel before 5.11, raise the memlock limit first
# (`ulimit -l unlimited`; BPF maps count against it there).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

podman_opts=()
if [ $# -gt 0 ]; then
  for arg in "$@"; do
    if [ "$arg" = -- ]; then
      while [ "$1" != -- ]; do podman_opts+=("$1"); shift; done
      shift
      break
    fi
  done
fi

image=${KLEAK_IMAGE:-}
if [ -z "$image" ]; then
  image=$(podman images --format '{{.Repository}}:{{.Tag}}' --filter reference=localhost/kleak | head -n 1)
  [ -n "$image" ] || { echo "run.sh: no localhost/kleak image: build one with deploy/container/build.sh" >&2; exit 1; }
fi
caps=${KLEAK_CAPS-BPF,PERFMON,SYSLOG,DAC_READ_SEARCH}
[ "$caps" != none ] || caps=

global=(--cgroup-manager cgroupfs)
! command -v runc >/dev/null || global=(--runtime runc "${global[@]}")
cmd=(podman "${global[@]}" run --rm --pid host
  --cap-drop all ${caps:+--cap-add "$caps"}
  --security-opt seccomp="$here/seccomp.json"
  --ulimit nofile=1024:1024 --ulimit nproc=1024:1024
  -v /sys/kernel:/sys/kernel:ro
  "${podman_opts[@]}" "$image" "$@")
if [ "${KLEAK_DRY_RUN:-}" = 1 ]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
exec "${cmd[@]}"
