#!/usr/bin/env python3
"""The capability sets kleak is deployed with, read from each place that states one.

  caps.py doctor KLEAK_BIN      what kleak says it needs (`kleak doctor --format json`)
  caps.py doctor-json FILE      the same from a saved doctor JSON
  caps.py unit FILE KEY         a systemd unit's KEY= (AmbientCapabilities, CapabilityBoundingSet)
  caps.py daemonset FILE        the capabilities a Kubernetes manifest's containers add
  caps.py wrapper FILE          what deploy/container/run.sh adds (its KLEAK_DRY_RUN command)

Each prints the set sorted, one CAP_NAME a line; exits 1 with `caps: ...` when it cannot tell.
"""
import json
import os
import shlex
import subprocess
import sys

import yaml


def fail(msg):
    sys.exit(f"caps: {msg}")


def from_doctor_json(text):
    try:
        required = json.loads(text)["capabilities"]["required"]
    except (ValueError, KeyError, TypeError) as e:
        fail(f"doctor JSON has no capabilities.required: {e!r}")
    if not required or not all(isinstance(c, str) and c.startswith("CAP_") for c in required):
        fail(f"doctor's capabilities.required is not a list of CAP_ names: {required!r}")
    return set(required)


def from_doctor(kleak):
    # doctor exits non-zero when this box lacks something; its JSON still lists what is required.
    r = subprocess.run([kleak, "doctor", "--format", "json"], capture_output=True, text=True)
    if not r.stdout.strip():
        fail(f"`{kleak} doctor --format json` printed nothing (exit {r.returncode}): {r.stderr.strip()}")
    return from_doctor_json(r.stdout)


def from_unit(path, key):
    # systemd: the assignments of one key accumulate; an empty one resets the list.
    caps, seen = set(), False
    for line in open(path):
        name, eq, value = line.strip().partition("=")
        if eq and name.strip() == key:
            seen = True
            words = value.split()
            caps = set() if not words else caps | set(words)
    if not seen:
        fail(f"{path} has no {key}=")
    return caps


def from_daemonset(path):
    caps = set()
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    containers = [c for d in docs for c in d["spec"]["template"]["spec"]["containers"]]
    if not containers:
        fail(f"{path} has no containers")
    for c in containers:
        sc = c.get("securityContext", {})
        if sc.get("privileged"):
            fail(f"{path}: container {c['name']} is privileged")
        cap = sc.get("capabilities", {})
        if cap.get("drop") != ["ALL"]:
            fail(f"{path}: container {c['name']} does not drop ALL capabilities")
        caps |= {"CAP_" + a.upper() for a in cap.get("add", [])}
    return caps


def from_wrapper(path):
    # The podman command the wrapper would run, with its defaults (no podman call: a dry run).
    env = dict(os.environ, KLEAK_DRY_RUN="1", KLEAK_IMAGE="kleak-image")
    env.pop("KLEAK_CAPS", None)
    r = subprocess.run([path, "version"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        fail(f"`KLEAK_DRY_RUN=1 {path}` exited {r.returncode}: {r.stderr.strip()}")
    words = shlex.split(r.stdout)
    pairs = list(zip(words, words[1:]))
    if ("--cap-drop", "all") not in pairs:
        fail(f"{path} does not drop all capabilities: {r.stdout.strip()}")
    caps = set()
    for flag, value in pairs:
        if flag == "--cap-add":
            caps |= {"CAP_" + c.strip().upper() for c in value.split(",") if c.strip()}
    return caps


def main(argv):
    what = argv[1] if len(argv) > 1 else ""
    if what == "doctor" and len(argv) == 3:
        caps = from_doctor(argv[2])
    elif what == "doctor-json" and len(argv) == 3:
        caps = from_doctor_json(open(argv[2]).read())
    elif what == "unit" and len(argv) == 4:
        caps = from_unit(argv[2], argv[3])
    elif what == "daemonset" and len(argv) == 3:
        caps = from_daemonset(argv[2])
    elif what == "wrapper" and len(argv) == 3:
        caps = from_wrapper(argv[2])
    else:
        fail("usage: caps.py doctor BIN | doctor-json FILE | unit FILE KEY | daemonset FILE | wrapper FILE")
    print("\n".join(sorted(caps)))


if __name__ == "__main__":
    main(sys.argv)
