"""The agent in its image: image size, start time and idle RSS, for one or more images side by side.

For each image (a name in the buildah storage ``scripts/node-images`` fills) and each run, a container of the image
runs (``buildah run``, chroot isolation, the image's user) a small probe with the image's own Python: it starts
``memories sidecar`` on free loopback ports with a 64 MiB L1 and a 256 MiB L2, times spawn → ``/readyz`` answering
200 (polled every 10 ms), waits ``--idle`` seconds, and reads the agent process's VmRSS and Pss (``/proc``).
The runs alternate between the images; the medians are printed with the image sizes (``buildah images``).

Run: ``flock /tmp/memories-bench.lock .venv/bin/python bench/agent_image.py IMAGE [IMAGE ...] --runs 5`` (root,
after ``scripts/node-images``). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Any

from memories.controlplane.node.image_build import buildah_command

PROBE = """
import json, subprocess, sys, time, urllib.request

from memories.local_processes import free_port

resp, http, ops = free_port(), free_port(), free_port()
config = {"cache": {"l1Size": "64MB", "l2Size": "256MB", "l2Path": "/tmp/agent-l2"},
          "server": {"resp": {"host": "127.0.0.1", "port": resp}, "http": {"host": "127.0.0.1", "port": http},
                     "ops": {"host": "127.0.0.1", "port": ops}}}
with open("/tmp/agent.json", "w") as file:
    json.dump(config, file)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
began = time.monotonic()
agent = subprocess.Popen(["memories", "sidecar", "--config", "/tmp/agent.json"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
while True:
    if agent.poll() is not None:
        sys.exit("agent exited: " + agent.stderr.read().decode()[-2000:])
    try:
        if opener.open(f"http://127.0.0.1:{ops}/readyz", timeout=1).status == 200:
            break
    except OSError:
        pass
    time.sleep(0.01)
ready = time.monotonic() - began
time.sleep(float(sys.argv[1]))
status = dict(line.split(":", 1) for line in open(f"/proc/{agent.pid}/status"))
rollup = dict(line.split(":", 1) for line in open(f"/proc/{agent.pid}/smaps_rollup").read().splitlines()[1:])
agent.terminate()
agent.wait(timeout=60)
kib = lambda value: int(value.split()[0]) / 1024
print(json.dumps({"ready_s": ready, "rss_mib": kib(status["VmRSS"]), "pss_mib": kib(rollup["Pss"])}))
"""


def parse_size_mb(size: str) -> float:
    """``buildah images`` sizes ("635 MB", "2.1 GB", "700 kB": decimal units) in MB."""
    number, unit = size.split()
    return float(number) * {"B": 1e-6, "kB": 1e-3, "KB": 1e-3, "MB": 1.0, "GB": 1e3}[unit]


def image_size_mb(image: str) -> float:
    """The image's size as ``buildah images`` reports it (uncompressed, MB = 10^6 bytes)."""
    listing = subprocess.run(buildah_command("images", "--json"), capture_output=True, text=True, check=True)
    for entry in json.loads(listing.stdout):
        if image in (entry.get("names") or []):
            return parse_size_mb(str(entry["size"]))
    raise SystemExit(f"{image} is not in buildah's storage (scripts/node-images builds it)")


def probe(image: str, idle_seconds: float) -> dict[str, float]:
    """One container of ``image`` running the probe; its report."""
    container = subprocess.run(buildah_command("from", "--pull=never", image), capture_output=True, text=True,
                               check=True, timeout=300).stdout.strip()  # fmt: skip
    try:
        completed = subprocess.run(
            buildah_command("run", "--isolation=chroot", container, "--", "python", "-c", PROBE, str(idle_seconds)),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        subprocess.run(buildah_command("rm", container), capture_output=True, timeout=120, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"probe in {image} failed: {completed.stderr[-3000:]}")
    report: dict[str, float] = json.loads(completed.stdout.splitlines()[-1])
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+", help="image names in buildah's storage")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds the agent idles before its RSS is read")
    arguments = parser.parse_args()
    samples: dict[str, list[dict[str, float]]] = {image: [] for image in arguments.images}
    for run in range(arguments.runs):
        order = arguments.images if run % 2 == 0 else list(reversed(arguments.images))
        for image in order:
            samples[image].append(probe(image, arguments.idle))
            print(json.dumps({"run": run, "image": image, **samples[image][-1]}), file=sys.stderr, flush=True)
    summary: dict[str, Any] = {"load_average": os.getloadavg(), "runs": arguments.runs, "images": {}}
    for image, reports in samples.items():
        summary["images"][image] = {
            "size_mb": image_size_mb(image),
            **{f"median_{key}": statistics.median(report[key] for report in reports) for key in reports[0]},
        }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
