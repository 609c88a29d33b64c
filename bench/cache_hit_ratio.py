"""Miss ratios of our eviction policies next to the best published implementations, on real traces.

    .venv/bin/python bench/cache_hit_ratio.py [--trace PATH ...] [--max-records 1000000] [--seeds 5] [--plot DIR]

Peers, in the same run and on the same requests (count-based caches, object sizes ignored, cache sizes as
shares of the distinct keys truncated as libcachesim does):

- libcachesim 0.3.5 (C): LRU, S3-FIFO, W-TinyLFU (static 1 % window) and Belady's optimum;
- Caffeine 3.3.1 (Java, the real library from Maven Central, adaptive W-TinyLFU) through
  ``bench/peers/CaffeineReplay.java``, when ``java``, ``javac`` and ``mvn`` are on the PATH;
- BitFaster.Caching's ConcurrentLfu (C#, hill-climbing W-TinyLFU), replayed by the port in
  ``bench/reference_concurrent_lfu.py`` (no .NET runtime here).

Our policies hash keys with Python's ``hash()``, randomised per process, so each of them runs under
``--seeds`` values of PYTHONHASHSEED (one subprocess each); the table shows the median and the range.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy
from bench_traces import (
    add_trace_arguments,
    libcachesim_miss_ratios,
    load_keys,
    require_libcachesim,
    trace_name,
    trace_paths,
)
from reference_concurrent_lfu import ConcurrentLfu

from memories.optimization.cache.policies import create_policy
from memories.optimization.predictive.evaluation.simulation import capacity_for

OURS = ("lru", "s3fifo", "wtinylfu")
LIBCACHESIM = ("LRU", "S3FIFO", "WTinyLFU", "Belady")
CAFFEINE_VERSION = "3.3.1"
PEERS_DIRECTORY = Path(__file__).resolve().parent / "peers"
CURVE_SHARES = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def our_miss_ratio(policy_name: str, keys: list[str], capacity: int) -> float:
    """Replay ``keys`` through our policy object directly (as MemoryTier drives it, entries of size 1)."""
    policy = create_policy(policy_name)
    misses = 0
    for key in keys:
        if key in policy:
            policy.record_access(key)
            continue
        misses += 1
        if len(policy) >= capacity:
            policy.remove(policy.choose_victim(), evicted=True)
        policy.record_insert(key)
    return misses / len(keys)


def ours_under_seeds(
    path: Path, arguments: argparse.Namespace, capacities: list[int], seeds: int
) -> dict[str, list[list[float]]]:
    """policy -> per capacity, the miss ratios under PYTHONHASHSEED 0..seeds-1 (each in its own process)."""
    runs: dict[str, list[list[float]]] = {name: [[] for _ in capacities] for name in OURS}
    for seed in range(seeds):
        command = [sys.executable, __file__, "--worker", "--trace", str(path), "--capacities", json.dumps(capacities)]
        if arguments.trace_format:
            command += ["--trace-format", arguments.trace_format]
        if arguments.max_records:
            command += ["--max-records", str(arguments.max_records)]
        output = subprocess.run(
            command, env={**os.environ, "PYTHONHASHSEED": str(seed)}, capture_output=True, text=True, check=True
        ).stdout
        for name, ratios in json.loads(output).items():
            for index, ratio in enumerate(ratios):
                runs[name][index].append(ratio)
    return runs


def bitfaster_miss_ratio(ids: list[int], capacity: int) -> float:
    cache = ConcurrentLfu(max(capacity, 3))
    hits = sum(cache.request(key) for key in ids)
    return 1.0 - hits / len(ids)


def caffeine_classpath(work: Path) -> str | None:
    """Compile the Caffeine replayer against the real jar (fetched by Maven); None when Java or Maven is missing."""
    if not all(shutil.which(tool) for tool in ("java", "javac", "mvn")):
        print("Caffeine skipped: java, javac and mvn are needed", file=sys.stderr)
        return None
    artifact = f"com.github.ben-manes.caffeine:caffeine:{CAFFEINE_VERSION}"
    subprocess.run(["mvn", "-q", "-B", "dependency:get", f"-Dartifact={artifact}"], check=True)
    jar = Path.home() / f".m2/repository/com/github/ben-manes/caffeine/caffeine/{CAFFEINE_VERSION}"
    jar /= f"caffeine-{CAFFEINE_VERSION}.jar"
    subprocess.run(
        ["javac", "-cp", str(jar), "-d", str(work), str(PEERS_DIRECTORY / "CaffeineReplay.java")], check=True
    )
    return f"{jar}{os.pathsep}{work}"


def caffeine_miss_ratios(classpath: str, ids: list[int], capacities: list[int], work: Path) -> list[float]:
    keys_file = work / "keys.i64"
    numpy.asarray(ids, dtype="<i8").tofile(keys_file)
    command = ["java", "-cp", classpath, "CaffeineReplay", str(keys_file), *map(str, capacities)]
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split("\n")
    ratios = {}
    for line in filter(None, lines):
        capacity, hits, requests = map(int, line.split())
        ratios[capacity] = 1.0 - hits / requests
    return [ratios[capacity] for capacity in capacities]


def dense_ids(keys: list[str]) -> list[int]:
    ids: dict[str, int] = {}
    return [ids.setdefault(key, len(ids) + 1) for key in keys]


def cell(ratios: list[float]) -> str:
    if len(ratios) == 1:
        return f"{ratios[0]:.4f}"
    return f"{statistics.median(ratios):.4f} ({min(ratios):.4f}–{max(ratios):.4f})"


def compare_trace(path: Path, arguments: argparse.Namespace, classpath: str | None, work: Path) -> None:
    started = time.perf_counter()
    keys = load_keys(path, arguments)
    distinct = len(set(keys))
    shares = [float(share) for share in arguments.shares.split(",")]
    capacities = [capacity_for(share, distinct) for share in shares]
    ids = dense_ids(keys)
    ours = ours_under_seeds(path, arguments, capacities, arguments.seeds)
    libcachesim = libcachesim_miss_ratios(keys, capacities, LIBCACHESIM)
    bitfaster = [bitfaster_miss_ratio(ids, capacity) for capacity in capacities]
    caffeine = caffeine_miss_ratios(classpath, ids, capacities, work) if classpath else None
    for index, (share, capacity) in enumerate(zip(shares, capacities, strict=True)):
        lru, belady = libcachesim["LRU"][index], libcachesim["Belady"][index]
        row = [cell(ours[name][index]) for name in OURS]
        row += [f"{libcachesim[name][index]:.4f}" for name in LIBCACHESIM[:3]]
        row += [f"{caffeine[index]:.4f}" if caffeine else "—", f"{bitfaster[index]:.4f}", f"{belady:.4f}"]
        gap = lru - belady
        closed = [f"{(lru - statistics.median(ours[name][index])) / gap:.0%}" for name in ("s3fifo", "wtinylfu")]
        print(
            f"| {trace_name(path)} | {len(keys):,} | {share:.0%} ({capacity:,}) | "
            + " | ".join(row)
            + f" | {' / '.join(closed)} |",
            flush=True,
        )
    print(f"<!-- {trace_name(path)}: {time.perf_counter() - started:.0f} s -->", flush=True)
    if arguments.plot:
        plot_curves(path, keys, ids, distinct, classpath, work, Path(arguments.plot))


def plot_curves(
    path: Path, keys: list[str], ids: list[int], distinct: int, classpath: str | None, work: Path, directory: Path
) -> None:
    """Miss-ratio curves: ours (this process's hash seed), libcachesim S3-FIFO, the W-TinyLFU peers, Belady."""
    from memories.optimization.predictive.evaluation.curves import MissRatioCurve, plot_miss_ratio_curves

    sizes = sorted({capacity_for(share, distinct) for share in CURVE_SHARES})
    curves = []
    for name in OURS:
        curve = MissRatioCurve(f"ours {name}", "eviction", name)
        for size in sizes:
            curve.add(size, our_miss_ratio(name, keys, size))
        curves.append(curve)
    peers = libcachesim_miss_ratios(keys, sizes, ("S3FIFO", "Belady"))
    curves.append(MissRatioCurve("libcachesim S3-FIFO", "peer", "s3fifo", sizes, peers["S3FIFO"]))
    if classpath:
        curves.append(
            MissRatioCurve(
                "Caffeine W-TinyLFU", "peer", "wtinylfu", sizes, caffeine_miss_ratios(classpath, ids, sizes, work)
            )
        )
    bitfaster = [bitfaster_miss_ratio(ids, size) for size in sizes]
    curves.append(MissRatioCurve("BitFaster ConcurrentLfu (port)", "peer", "bitfaster", sizes, bitfaster))
    curves.append(MissRatioCurve("Belady (optimum)", "optimum", "belady", sizes, peers["Belady"]))
    directory.mkdir(parents=True, exist_ok=True)
    image = directory / f"eviction-{trace_name(path)}.png"
    plot_miss_ratio_curves(curves, image, title=f"{trace_name(path)}: {len(keys):,} requests", distinct_keys=distinct)
    print(f"<!-- curves: {image} -->", flush=True)


def worker(arguments: argparse.Namespace) -> None:
    keys = load_keys(Path(arguments.trace[0]), arguments)
    capacities = json.loads(arguments.capacities)
    print(json.dumps({name: [our_miss_ratio(name, keys, capacity) for capacity in capacities] for name in OURS}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_trace_arguments(parser, default_max_records=1_000_000)
    parser.add_argument("--shares", default="0.01,0.1", help="cache sizes as shares of the distinct keys")
    parser.add_argument("--seeds", type=int, default=5, help="PYTHONHASHSEED values our policies run under")
    parser.add_argument("--plot", help="directory for miss-ratio curve PNGs (one per trace)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--capacities", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        worker(arguments)
        return
    require_libcachesim()
    print(f"load average {os.getloadavg()[0]:.1f}; ours: median (range) of {arguments.seeds} hash seeds\n")
    print(
        "| trace | requests | cache | ours lru | ours s3fifo | ours wtinylfu | lcs LRU | lcs S3-FIFO | lcs W-TinyLFU "
        "| Caffeine | BitFaster (port) | Belady | gap closed s3fifo / wtinylfu |"
    )
    print("|---" * 13 + "|")
    with tempfile.TemporaryDirectory() as directory:
        classpath = caffeine_classpath(Path(directory))
        for path in trace_paths(arguments):
            compare_trace(path, arguments, classpath, Path(directory))


if __name__ == "__main__":
    main()
