"""Benchmark: the sidecar's RESP port against redis-server, side by side, plus footprint checks.

Runs ``redis-benchmark -t get,set -c 50`` with 100 B and 4 KiB values, without and with
``-P 16``, alternating redis-server and the sidecar for ``--runs`` rounds, and reports
medians of throughput and p99 and their ratios. Then measures the sidecar's start-to-ready
time and idle RSS, and serves a working set 8x larger than a 64 MiB L1 (spilling to L2)
while sampling RSS.

With ``--baseline PYTHON`` (the interpreter of another checkout's virtualenv, e.g. a worktree at the commit
before a change), a second agent started by that interpreter is measured in the same rounds, in alternating order
with this checkout's, and the table compares the two, including each agent's CPU time per command (user + system
of its process over the run, divided by the run's commands), the steadier figure on a shared machine.

    .venv/bin/python bench/sidecar_resp.py [--runs 3] [--scale 1.0] [--skip-working-set] [--baseline PYTHON]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
from agent_process import AgentProcess  # bench/ is the script's directory, first on sys.path

from memories.local_processes import free_port


def wait_until(condition: Callable[[], object], timeout: float = 30.0) -> float:
    """Call ``condition`` every 10 ms until it is true; return the seconds that took (TimeoutError after ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.01)
    raise TimeoutError("condition not met")


class Sidecar(AgentProcess):
    """A ``python -m memories.sidecar`` process on free loopback ports.

    ``python`` is the interpreter (its environment decides which checkout runs); another checkout's is started in
    ``workdir``, so that ``-m`` does not import this one from the current directory. ``limits`` are added to
    ``server.limits``.
    """

    def __init__(
        self,
        workdir: Path,
        cache: dict[str, object] | None = None,
        python: str = sys.executable,
        limits: dict[str, object] | None = None,
    ) -> None:
        self.resp_port, self.ops_port = free_port(), free_port()
        document = {
            "cache": cache or {},
            "server": {
                "resp": {"port": self.resp_port},
                "http": {"port": free_port()},
                "ops": {"host": "127.0.0.1", "port": self.ops_port},
                "limits": {"maxConnections": 10000, **(limits or {})},
            },
        }
        path = workdir / f"sidecar-{self.resp_port}.yaml"
        super().__init__(
            document, path, self.ops_port, python=python, cwd=None if python == sys.executable else workdir
        )


class RedisServer:
    def __init__(self, workdir: Path, extra_arguments: list[str] | None = None) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                "--maxclients",
                "10000",
                *(extra_arguments or []),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(lambda: redis.Redis(port=self.port).ping())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def redis_benchmark(
    port: int, size: int, pipeline: int, requests: int, tests: str = "set,get"
) -> dict[str, dict[str, float]]:
    """Run redis-benchmark's ``tests``; returns {"SET": {"rps":..., "p99_latency_ms":...}, "GET": {...}}."""
    command = ["redis-benchmark", "-p", str(port), "-t", tests, "-c", "50", "-d", str(size)]
    command += ["-n", str(requests), "-r", "100000", "-P", str(pipeline), "--csv"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    rows = csv.DictReader(io.StringIO(output))
    return {row["test"]: {key: float(value) for key, value in row.items() if key != "test"} for row in rows}


def compare(workdir: Path, runs: int, scale: float, baseline: str | None) -> list[str]:
    """Medians per test; with ``baseline`` the baseline agent's too, and this checkout's relative to it."""
    pythons = {"sidecar": sys.executable} if baseline is None else {"baseline": baseline, "sidecar": sys.executable}
    server = RedisServer(workdir)
    sidecars = {name: Sidecar(workdir, python=python) for name, python in pythons.items()}
    lines = _table_head(baseline is not None)
    cpu = ["", "| value | pipeline | baseline CPU µs per command | sidecar CPU µs per command | sidecar/baseline |"]
    cpu.append("|---|---|---|---|---|")
    try:
        for size in (100, 4096):
            for pipeline in (1, 16):
                requests = int((100_000 if pipeline == 1 else 400_000) * scale)
                results: dict[str, list[dict[str, dict[str, float]]]] = {"redis": [], **{name: [] for name in pythons}}
                for round_ in range(runs):  # alternate so load drift on the shared machine hits every server
                    results["redis"].append(redis_benchmark(server.port, size, pipeline, requests))
                    for name in list(sidecars)[:: 1 if round_ % 2 == 0 else -1]:
                        cpu_before = sidecars[name].cpu_seconds()
                        result = redis_benchmark(sidecars[name].resp_port, size, pipeline, requests)
                        # SET and GET run in one redis-benchmark call: the CPU time covers both.
                        cpu_per_command = (sidecars[name].cpu_seconds() - cpu_before) / (2 * requests)
                        result["both"] = {"cpu_us": cpu_per_command * 1e6}
                        results[name].append(result)
                for test in ("SET", "GET"):
                    lines.append(_table_row(test, size, pipeline, results))
                    print(lines[-1], flush=True)
                if baseline is not None:
                    cpu.append(_cpu_row(size, pipeline, results))
    finally:
        server.stop()
        for sidecar in sidecars.values():
            sidecar.stop()
    return lines if baseline is None else lines + cpu


def _cpu_row(size: int, pipeline: int, results: dict[str, list[dict[str, dict[str, float]]]]) -> str:
    baseline, sidecar = (
        statistics.median(run["both"]["cpu_us"] for run in results[name]) for name in ("baseline", "sidecar")
    )
    return f"| {size} B | {pipeline} | {baseline:.2f} | {sidecar:.2f} | {sidecar / baseline:.2f} |"


def _table_head(with_baseline: bool) -> list[str]:
    if with_baseline:
        head = "| test | value | pipeline | redis rps | baseline rps | sidecar rps | sidecar/baseline rps | sidecar/redis rps "
        head += "| redis p99 ms | baseline p99 ms | sidecar p99 ms | sidecar/baseline p99 | sidecar rps runs | baseline rps runs |"
        return [head, "|---" * 14 + "|"]
    head = "| test | value | pipeline | redis rps | sidecar rps | ratio | redis p99 ms | sidecar p99 ms | p99 ratio |"
    return [head, "|---|---|---|---|---|---|---|---|---|"]


def _table_row(test: str, size: int, pipeline: int, results: dict[str, list[dict[str, dict[str, float]]]]) -> str:
    medians = {
        name: {field: statistics.median(run[test][field] for run in runs_) for field in ("rps", "p99_latency_ms")}
        for name, runs_ in results.items()
    }
    redis_row, sidecar_row = medians["redis"], medians["sidecar"]
    if "baseline" in medians:
        baseline_row = medians["baseline"]
        runs = {
            name: " / ".join(f"{run[test]['rps']:.0f}" for run in results[name]) for name in ("sidecar", "baseline")
        }
        return (
            f"| {test} | {size} B | {pipeline} | {redis_row['rps']:.0f} | {baseline_row['rps']:.0f} | "
            f"{sidecar_row['rps']:.0f} | {sidecar_row['rps'] / baseline_row['rps']:.2f} | "
            f"{sidecar_row['rps'] / redis_row['rps']:.2f} | {redis_row['p99_latency_ms']:.2f} | "
            f"{baseline_row['p99_latency_ms']:.2f} | {sidecar_row['p99_latency_ms']:.2f} | "
            f"{sidecar_row['p99_latency_ms'] / baseline_row['p99_latency_ms']:.2f} | {runs['sidecar']} | "
            f"{runs['baseline']} |"
        )
    return (
        f"| {test} | {size} B | {pipeline} | {redis_row['rps']:.0f} | {sidecar_row['rps']:.0f} | "
        f"{sidecar_row['rps'] / redis_row['rps']:.2f} | {redis_row['p99_latency_ms']:.2f} | "
        f"{sidecar_row['p99_latency_ms']:.2f} | "
        f"{sidecar_row['p99_latency_ms'] / redis_row['p99_latency_ms']:.2f} |"
    )


def footprint(workdir: Path, runs: int) -> list[str]:
    readiness, idle = [], []
    for _ in range(runs):
        sidecar = Sidecar(workdir)
        readiness.append(sidecar.start_to_ready)
        time.sleep(1.0)
        idle.append(sidecar.rss_bytes())
        sidecar.stop()
    return [
        f"- start to ready (spawn → /readyz 200), median of {runs}: {statistics.median(readiness):.2f} s "
        f"(runs: {', '.join(f'{value:.2f}' for value in readiness)})",
        f"- idle RSS after ready, default config, no prefetch model: {statistics.median(idle) / 2**20:.1f} MiB"
        f" = {statistics.median(idle) / 1e6:.1f} MB",
    ]


def working_set(workdir: Path) -> list[str]:
    l1 = 64 * 2**20
    sidecar = Sidecar(workdir, {"l1Size": "64MB", "l2Size": "1GB", "l2Path": str(workdir / "l2")})
    client = redis.Redis(port=sidecar.resp_port, socket_timeout=60)
    value_size, keys = 4096, (8 * l1) // 4096
    baseline = sidecar.rss_bytes()
    peak, errors, wrong = baseline, 0, 0
    started = time.monotonic()
    for batch in range(0, keys, 512):
        pipeline = client.pipeline(transaction=False)
        for index in range(batch, min(keys, batch + 512)):
            pipeline.set(f"key{index}", index.to_bytes(8, "little") * (value_size // 8))
        errors += sum(1 for reply in pipeline.execute(raise_on_error=False) if reply is not True)
        peak = max(peak, sidecar.rss_bytes())
    write_seconds = time.monotonic() - started
    sample = random.Random(1).sample(range(keys), 20_000)
    started = time.monotonic()
    for batch in range(0, len(sample), 500):
        chosen = sample[batch : batch + 500]
        values = client.mget([f"key{index}" for index in chosen])
        for index, value in zip(chosen, values, strict=True):
            if value is None:
                errors += 1
            elif value != index.to_bytes(8, "little") * (value_size // 8):
                wrong += 1
        peak = max(peak, sidecar.rss_bytes())
    read_seconds = time.monotonic() - started
    info = client.info()
    sidecar.stop()
    return [
        f"- working set {keys * value_size / 2**20:.0f} MiB ({keys} × 4 KiB) through L1 64 MiB + L2 1 GiB: "
        f"written in {write_seconds:.1f} s, 20 000 random reads in {read_seconds:.1f} s",
        f"- errors/misses: {errors}, wrong values: {wrong}; L1 entries {info.get('l1_entries')}, "
        f"L2 entries {info.get('l2_entries')}",
        f"- RSS: idle {baseline / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB "
        f"(= L1 64 MiB + {(peak - l1) / 2**20:.1f} MiB overhead)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies redis-benchmark -n")
    parser.add_argument("--skip-working-set", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--baseline", metavar="PYTHON", help="also measure the agent of this interpreter's checkout")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}", flush=True)
        lines = (
            [] if arguments.skip_throughput else compare(workdir, arguments.runs, arguments.scale, arguments.baseline)
        )
        lines += ["", *footprint(workdir, arguments.runs)]
        print("\n".join(lines[-2:]), flush=True)
        if not arguments.skip_working_set:
            lines += working_set(workdir)
        print("\n".join(lines))


if __name__ == "__main__":
    main()
