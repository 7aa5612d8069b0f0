#!/usr/bin/env python3
"""Writes the seccomp profile kleak's container runs with: the container runtime's default profile
with bpf() allowed under CAP_BPF and perf_event_open() under CAP_PERFMON, as newer defaults do.
Debian 12's default (containers-common 0.50, /usr/share/containers/seccomp.json) allows both only
with CAP_SYS_ADMIN, so kleak with exactly its capabilities got EPERM from its first bpf() call.

  seccomp.py [DEFAULT_PROFILE] > deploy/container/seccomp.json
"""
import json
import sys

WIDEN = {"bpf": "CAP_BPF", "perf_event_open": "CAP_PERFMON"}


def widen(profile):
    out = []
    for rule in profile["syscalls"]:
        names = [n for n in rule["names"] if n in WIDEN]
        rest = [n for n in rule["names"] if n not in WIDEN]
        if not names:
            out.append(rule)
            continue
        if rest:
            out.append(dict(rule, names=rest))
        for name in names:
            r = dict(rule, names=[name])
            # The "deny unless CAP_SYS_ADMIN" rule: also not when the narrower capability is there.
            if r["action"] != "SCMP_ACT_ALLOW" and "CAP_SYS_ADMIN" in r.get("excludes", {}).get("caps", []):
                r["excludes"] = dict(r["excludes"], caps=r["excludes"]["caps"] + [WIDEN[name]])
            out.append(r)
    for name, cap in WIDEN.items():
        out.append({"names": [name], "action": "SCMP_ACT_ALLOW", "args": [], "comment": "",
                    "includes": {"caps": [cap]}, "excludes": {}})
    return dict(profile, syscalls=out)


src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/containers/seccomp.json"
json.dump(widen(json.load(open(src))), sys.stdout, indent=1)
print()
