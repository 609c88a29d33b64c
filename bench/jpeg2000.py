"""JPEG 2000 benchmark: Jpeg2000Codec vs the opj_compress CLI on a synthetic 8-band uint16 scene.

Run on demand (not part of the test suite)::

    .venv/bin/python bench/jpeg2000.py [--size 512] [--bands 8] [--runs 3]

Same image, same target PSNR, same thread count: reports median encode time, size, ratio and the
PSNR measured by decoding (ours with imagecodecs; the CLI's file decoded the same way).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import imagecodecs
import numpy

from memories.optimization.compression.images import Jpeg2000Codec
from memories.optimization.compression.jpeg2000_rate import peak_signal_to_noise_ratio, quality_to_psnr


def synthetic_scene(size: int, bands: int, seed: int = 0) -> numpy.ndarray[Any, Any]:
    """Terrain-like smooth structure, fine land-cover texture shared by all bands, sensor noise; uint16."""
    generator = numpy.random.default_rng(seed)
    rows, columns = numpy.mgrid[0:size, 0:size].astype(numpy.float64)
    terrain = numpy.zeros((size, size))
    for octave in range(6):  # sum of random sinusoids at growing frequency, shrinking amplitude
        frequency = 2.0**octave / size * 2 * math.pi
        phase_rows, phase_columns, angle = generator.uniform(0, 2 * math.pi, 3)
        terrain += (
            (0.6**octave)
            * numpy.sin(frequency * (rows * math.cos(angle) + columns * math.sin(angle)) + phase_rows)
            * numpy.cos(frequency * columns + phase_columns)
        )
    texture = generator.normal(0, 1300, terrain.shape)  # field-scale variation, correlated across bands
    layers = [
        (0.3 + 0.1 * band / bands + 0.12 * terrain * (1 + 0.05 * band)) * 65535
        + texture * (0.8 + 0.4 * band / bands)
        + generator.normal(0, 100, terrain.shape)  # independent sensor noise per band
        for band in range(bands)
    ]
    return numpy.stack(layers, axis=-1).clip(0, 65535).astype(numpy.uint16)


def median_seconds(function: Callable[[], object], runs: int) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings), result


def opj_compress(image: numpy.ndarray[Any, Any], psnr_db: float | None, directory: Path, threads: int) -> bytes:
    height, width, bands = image.shape
    raw = directory / "scene.rawl"
    image.transpose(2, 0, 1).astype("<u2").tofile(raw)  # RAWL: planar, little endian
    output = directory / "scene.jp2"
    command = ["opj_compress", "-i", str(raw), "-o", str(output), "-F", f"{width},{height},{bands},16,u"]
    command += ["-threads", str(threads)]
    if psnr_db is not None:
        command += ["-I", "-q", f"{psnr_db:g}"]
    subprocess.run(command, check=True, capture_output=True)
    return output.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--bands", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    image = synthetic_scene(arguments.size, arguments.bands)
    threads = os.cpu_count() or 1
    print(f"image {image.shape} uint16, {image.nbytes} bytes, {threads} threads, median of {arguments.runs} runs")
    print(f"{'encoder':<34}{'seconds':>9}{'bytes':>10}{'ratio':>8}{'PSNR dB':>9}")

    def report(name: str, seconds: float, jp2: bytes) -> None:
        decoded = numpy.asarray(imagecodecs.jpeg2k_decode(jp2)).reshape(image.shape)
        psnr = peak_signal_to_noise_ratio(image, decoded, 16)
        print(f"{name:<34}{seconds:>9.3f}{len(jp2):>10}{image.nbytes / len(jp2):>8.1f}{psnr:>9.2f}")

    with tempfile.TemporaryDirectory() as directory:
        for quality in (50, 85, 100):
            codec = Jpeg2000Codec(quality=quality)
            seconds, compressed = median_seconds(functools.partial(codec.encode, image), arguments.runs)
            assert hasattr(compressed, "images")
            report(f"Jpeg2000Codec quality={quality}", seconds, compressed.images[0].jp2)
            psnr_db = quality_to_psnr(quality)
            label = "lossless" if psnr_db is None else f"-I -q {psnr_db:g}"
            peer = functools.partial(opj_compress, image, psnr_db, Path(directory), threads)
            seconds, jp2 = median_seconds(peer, arguments.runs)
            assert isinstance(jp2, bytes)
            report(f"opj_compress {label}", seconds, jp2)
        for target in ("1MB", "256KB", "32KB"):
            codec = Jpeg2000Codec(quality=85, target_size=target)
            seconds, compressed = median_seconds(functools.partial(codec.encode, image), arguments.runs)
            assert hasattr(compressed, "images")
            report(f"Jpeg2000Codec q=85 target={target}", seconds, compressed.images[0].jp2)


if __name__ == "__main__":
    main()
