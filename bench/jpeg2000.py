"""JPEG 2000 benchmark: Jpeg2000Codec against the opj_compress CLI, at equal PSNR, for 1 to 16 bands.

Run on demand (not part of the test suite), under the shared benchmark lock::

    flock /tmp/memories-bench.lock nice -n 10 .venv/bin/python bench/jpeg2000.py \\
        [--size 512] [--bands 1,2,3,4,8,13,16] [--runs 3] [--scene correlated|independent]

For each band count and target (40 dB, 54 dB, lossless) both encoders code the same synthetic
uint16 scene with the same thread count. OpenJPEG's fixed-quality mode lands a few hundredths of a
dB off the target, differently for each encoder, so each lossy size is read at exactly the target:
a second encode one quality step (0.4 dB) higher gives the local slope of log(size) against
PSNR, and the size is interpolated there. Ratios are original bytes over that size, ours without the ~250-byte metadata
box (``preserve_metadata=False``: codestream against codestream) and, in its own column, with it
(what ``preserve_metadata=True`` stores; opj_compress stores no band names or georeferencing).
Our times include the decode that measures the achieved PSNR. Times are medians of ``--runs`` encodes, ours and the
peer's taking turns; the peer's include starting the process and reading the raw file.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import imagecodecs
import numpy

from memories.optimization.compression.images import Jpeg2000Codec
from memories.optimization.compression.jpeg2000_encoder import COMPILED_ENCODER
from memories.optimization.compression.jpeg2000_rate import peak_signal_to_noise_ratio

QUALITY_STEP_DB = 0.4  # one quality step (20 + 0.4 × quality dB)
TARGETS: tuple[tuple[str, int, float | None], ...] = (("40 dB", 50, 40.0), ("54 dB", 85, 54.0), ("lossless", 100, None))


def synthetic_scene(size: int, bands: int, *, correlated: bool = True, seed: int = 0) -> numpy.ndarray[Any, Any]:
    """Terrain-like smooth structure, field-scale texture, independent sensor noise; uint16 H×W×bands.

    ``correlated``: the terrain and texture are shared by all bands at band-dependent gains (as in
    multispectral imagery); otherwise each band has its own.
    """
    generator = numpy.random.default_rng(seed)
    rows, columns = numpy.mgrid[0:size, 0:size].astype(numpy.float64)

    def terrain() -> numpy.ndarray[Any, Any]:
        field = numpy.zeros((size, size))
        for octave in range(6):  # sum of random sinusoids at growing frequency, shrinking amplitude
            frequency = 2.0**octave / size * 2 * math.pi
            phase_rows, phase_columns, angle = generator.uniform(0, 2 * math.pi, 3)
            field += (
                (0.6**octave)
                * numpy.sin(frequency * (rows * math.cos(angle) + columns * math.sin(angle)) + phase_rows)
                * numpy.cos(frequency * columns + phase_columns)
            )
        return field

    shared_terrain, shared_texture = terrain(), generator.normal(0, 1300, (size, size))
    layers = []
    for band in range(bands):
        band_terrain = shared_terrain if correlated else terrain()
        texture = shared_texture if correlated else generator.normal(0, 1300, (size, size))
        layers.append(
            (0.3 + 0.1 * band / bands + 0.12 * band_terrain * (1 + 0.05 * band)) * 65535
            + texture * (0.8 + 0.4 * band / bands)
            + generator.normal(0, 100, (size, size))  # independent sensor noise per band
        )
    return numpy.stack(layers, axis=-1).clip(0, 65535).astype(numpy.uint16)


def opj_compress(image: numpy.ndarray[Any, Any], psnr_db: float | None, directory: Path, threads: int) -> bytes:
    height, width, bands = image.shape
    raw, output = directory / "scene.rawl", directory / "scene.jp2"
    image.transpose(2, 0, 1).astype("<u2").tofile(raw)  # RAWL: planar, little endian
    command = ["opj_compress", "-i", str(raw), "-o", str(output), "-F", f"{width},{height},{bands},16,u"]
    command += ["-threads", str(threads)]
    if psnr_db is not None:
        command += ["-I", "-q", f"{psnr_db:g}"]
    subprocess.run(command, check=True, capture_output=True)
    return output.read_bytes()


def ours(image: numpy.ndarray[Any, Any], quality: int, threads: int, *, metadata: bool = False) -> bytes:
    return Jpeg2000Codec(quality=quality, workers=threads).encode(image, preserve_metadata=metadata).images[0].jp2


def encoded(codec: Jpeg2000Codec, image: numpy.ndarray[Any, Any]) -> bytes:
    return bytes(codec.encode(image).images[0].jp2)


def target_size_rows(image: numpy.ndarray[Any, Any], targets: list[str], runs: int, threads: int) -> None:
    """Rate control: quality 85 capped at each per-image ``target_size``."""
    print(f"\nRate control on the {image.shape[2]}-band scene (quality 85, median of {runs} runs)")
    print("| target_size | bytes | ratio | PSNR dB | seconds |")
    print("|---|---:|---:|---:|---:|")
    for target in targets:
        codec = Jpeg2000Codec(quality=85, target_size=target, workers=threads)
        times = []
        for _ in range(runs):
            seconds, jp2 = timed(functools.partial(encoded, codec, image))
            times.append(seconds)
        print(
            f"| {target} | {len(jp2):,} | {image.nbytes / len(jp2):.1f} | {measured_psnr(image, jp2):.2f} "
            f"| {statistics.median(times):.3f} |"
        )


def measured_psnr(image: numpy.ndarray[Any, Any], jp2: bytes) -> float:
    decoded = numpy.asarray(imagecodecs.jpeg2k_decode(jp2)).reshape(image.shape)
    return peak_signal_to_noise_ratio(image, decoded, 16)


def size_at(target_db: float, first: tuple[float, int], second: tuple[float, int]) -> float:
    """Interpolate log(size) linearly in PSNR between two (PSNR, bytes) points, at ``target_db``."""
    (psnr_a, size_a), (psnr_b, size_b) = first, second
    if math.isclose(psnr_a, psnr_b):
        return float(size_a)
    slope = (math.log(size_b) - math.log(size_a)) / (psnr_b - psnr_a)
    return size_a * math.exp(slope * (target_db - psnr_a))


def timed(function: Callable[[], bytes]) -> tuple[float, bytes]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    parser.add_argument("--bands", default="1,2,3,4,8,13,16", help="comma-separated band counts")
    parser.add_argument("--runs", type=int, default=3, help="timed encodes per encoder; the median is reported")
    parser.add_argument("--scene", choices=["correlated", "independent"], default="correlated")
    parser.add_argument("--target-sizes", default="1MB,256KB,32KB", help="rate-control targets for the 8-band scene")
    arguments = parser.parse_args()
    if COMPILED_ENCODER is None:
        sys.exit("bench/jpeg2000.py: the compiled OpenJPEG encoder is not built (bash scripts/setup installs it)")
    threads = os.cpu_count() or 1
    band_counts = [int(count) for count in arguments.bands.split(",")]
    load = os.getloadavg()
    print(
        f"{arguments.size}×{arguments.size} uint16 {arguments.scene} scene, {threads} threads each, "
        f"median of {arguments.runs} runs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(
        "| bands | target | ours bytes | opj_compress bytes | ours ratio | opj ratio | ratio ours/opj "
        "| ratio ours/opj, ours with metadata box | ours s | opj s | time ours/opj |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as directory:
        workspace = Path(directory)
        for bands in band_counts:
            image = synthetic_scene(arguments.size, bands, correlated=arguments.scene == "correlated")
            for label, quality, psnr_db in TARGETS:
                our_times, peer_times = [], []
                for _ in range(arguments.runs):  # taking turns, so load changes hit both alike
                    seconds, our_file = timed(functools.partial(ours, image, quality, threads))
                    our_times.append(seconds)
                    seconds, peer_file = timed(functools.partial(opj_compress, image, psnr_db, workspace, threads))
                    peer_times.append(seconds)
                box_bytes = len(ours(image, quality, threads, metadata=True)) - len(our_file)
                if psnr_db is None:
                    our_size, peer_size = float(len(our_file)), float(len(peer_file))
                else:
                    our_step = ours(image, quality + 1, threads)
                    our_size = size_at(
                        psnr_db,
                        (measured_psnr(image, our_file), len(our_file)),
                        (measured_psnr(image, our_step), len(our_step)),
                    )
                    peer_step = opj_compress(image, psnr_db + QUALITY_STEP_DB, workspace, threads)
                    peer_size = size_at(
                        psnr_db,
                        (measured_psnr(image, peer_file), len(peer_file)),
                        (measured_psnr(image, peer_step), len(peer_step)),
                    )
                our_seconds, peer_seconds = statistics.median(our_times), statistics.median(peer_times)
                print(
                    f"| {bands} | {label} | {our_size:,.0f} | {peer_size:,.0f} | {image.nbytes / our_size:.2f} "
                    f"| {image.nbytes / peer_size:.2f} | {peer_size / our_size:.3f} "
                    f"| {peer_size / (our_size + box_bytes):.3f} | {our_seconds:.3f} "
                    f"| {peer_seconds:.3f} | {our_seconds / peer_seconds:.2f} |",
                    flush=True,
                )
    if 8 in band_counts and arguments.target_sizes:
        target_size_rows(
            synthetic_scene(arguments.size, 8, correlated=arguments.scene == "correlated"),
            arguments.target_sizes.split(","),
            arguments.runs,
            threads,
        )


if __name__ == "__main__":
    main()
