"""Benchmark: parallel MemoryCompressor vs the single-threaded lz4/zstd CLIs on the same 256 MiB file.

Usage: .venv/bin/python bench/compression.py [--size-mb 256] [--runs 3] [--chunk-size 4MB] [--workers N]

The input is deterministic, compressible and realistic (CSV sensor records, JSON-like log lines
and quantized float32 time series, interleaved in 1 MiB segments), cached under
~/.cache/memories/bench. Each configuration runs ``--runs`` times in this one process, alternating
ours and the CLI; the table reports medians. Throughput is original bytes per second of wall time;
our timing includes reading the file (compress(path)), the CLI's includes reading the file and
writing its output to a file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy

from memories.optimization.compression import MemoryCompressor
from memories.units import format_size, parse_size

SEGMENT = 1 << 20
CONFIGURATIONS = [  # (label, our algorithm, our level, CLI command)
    ("lz4 -1", "lz4", 1, ["lz4", "-1", "-f", "-q"]),
    ("lz4 -6 (HC)", "lz4", 6, ["lz4", "-6", "-f", "-q"]),
    ("zstd -1", "zstd", 1, ["zstd", "-1", "-T1", "-f", "-q"]),
]


def csv_segment(generator: numpy.random.Generator, segment: int) -> bytes:
    rows = []
    stations = generator.integers(0, 400, 20_000)
    temperatures = generator.normal(12, 8, 20_000)
    humidity = generator.uniform(10, 100, 20_000)
    for row in range(20_000):
        seconds = segment * 20_000 + row
        rows.append(
            f"2024-05-{1 + seconds // 86400 % 28:02d}T{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:"
            f"{seconds % 60:02d}Z,station-{stations[row]:04d},temp={temperatures[row]:.2f},"
            f"hum={humidity[row]:.1f},status={'OK' if humidity[row] < 95 else 'WARN'}\n"
        )
    return "".join(rows).encode()[:SEGMENT]


def log_segment(generator: numpy.random.Generator, segment: int) -> bytes:
    levels = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
    paths = ("/api/v1/tiles", "/api/v1/scenes", "/healthz", "/api/v1/query", "/metrics")
    rows = []
    codes = generator.integers(0, 1000, 12_000)
    latencies = generator.exponential(30, 12_000)
    for row in range(12_000):
        code = codes[row]
        rows.append(
            f'{{"ts":{1714521600 + segment * 12_000 + row},"level":"{levels[code % 6]}","path":"{paths[code % 5]}",'
            f'"status":{200 if code < 950 else 500},"latency_ms":{latencies[row]:.1f},"request":"{code * 7919:08x}"}}\n'
        )
    return "".join(rows).encode()[:SEGMENT]


def series_segment(generator: numpy.random.Generator) -> bytes:
    walk = numpy.cumsum(generator.normal(0, 0.05, SEGMENT // 4)) + 300
    return numpy.round(walk, 1).astype("<f4").tobytes()


def bench_file(size_mb: int) -> Path:
    """Return the cached input file, generating it deterministically on first use."""
    path = Path.home() / ".cache" / "memories" / "bench" / f"compression-{size_mb}MB.bin"
    if path.exists() and path.stat().st_size == size_mb * SEGMENT:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = numpy.random.default_rng(20240501)
    temporary = path.with_suffix(".partial")
    with temporary.open("wb") as file:
        for segment in range(size_mb):
            kind = segment % 4
            if kind in (0, 1):
                file.write(csv_segment(generator, segment).ljust(SEGMENT, b"\n"))
            elif kind == 2:
                file.write(log_segment(generator, segment).ljust(SEGMENT, b"\n"))
            else:
                file.write(series_segment(generator))
    os.replace(temporary, path)
    return path


async def ours(path: Path, algorithm: str, level: int, chunk_size: str, workers: int | None) -> tuple[float, int]:
    compressor = MemoryCompressor(algorithm, level, chunk_size, workers=workers)
    await compressor.compress(b"warm up the worker threads")
    started = time.perf_counter()
    compressed = await compressor.compress(path)
    elapsed = time.perf_counter() - started
    compressor.close()
    return elapsed, compressed.compressed_size


def cli(path: Path, command: list[str], output: Path) -> tuple[float, int]:
    started = time.perf_counter()
    destination = [str(output)] if command[0] == "lz4" else ["-o", str(output)]  # lz4 takes the output positionally
    subprocess.run([*command, str(path), *destination], check=True)
    elapsed = time.perf_counter() - started
    return elapsed, output.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-size", default="4MB")
    parser.add_argument("--workers", type=int, default=None)
    arguments = parser.parse_args()
    path = bench_file(arguments.size_mb)
    original = path.stat().st_size
    path.read_bytes()  # warm the page cache so neither side pays for the disk
    workers = arguments.workers or len(os.sched_getaffinity(0))
    print(
        f"input {format_size(original)} at {path}; chunk_size {arguments.chunk_size}; workers {workers}; "
        f"{arguments.runs} runs, medians"
    )
    print("| configuration | ours MB/s | CLI MB/s | throughput ratio | ours ratio | CLI ratio | ratio difference |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for label, algorithm, level, command in CONFIGURATIONS:
            our_runs, cli_runs = [], []
            for _ in range(arguments.runs):
                our_runs.append(asyncio.run(ours(path, algorithm, level, arguments.chunk_size, arguments.workers)))
                cli_runs.append(cli(path, command, Path(directory) / "out"))
            our_seconds = statistics.median(run[0] for run in our_runs)
            cli_seconds = statistics.median(run[0] for run in cli_runs)
            our_ratio, cli_ratio = original / our_runs[0][1], original / cli_runs[0][1]
            megabytes = original / parse_size("1MB")
            print(
                f"| {label} | {megabytes / our_seconds:.0f} | {megabytes / cli_seconds:.0f} | "
                f"{cli_seconds / our_seconds:.2f}x | {our_ratio:.3f} | {cli_ratio:.3f} | "
                f"{(our_ratio - cli_ratio) / cli_ratio * 100:+.2f}% |",
                flush=True,
            )


if __name__ == "__main__":
    main()
