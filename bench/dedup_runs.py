"""Would cutting runs of one repeated byte apart close the image's dedup gap to restic? A measurement.

FastCDC's gear hash over a run of one byte settles on a constant that (for zeros) has no cut, so a
zero run of the VM-like image of bench/dedup_backup.py lands in chunks of up to 8 MiB together with
the unique data around it, while restic (Rabin: a window of zeros hashes to 0, a cut) cuts zero runs
into minimum-size chunks that all deduplicate. This script measures, on the same generated data as
bench/dedup_backup.py (same seeds), the dedup ratio (logical bytes of all versions / bytes of the
distinct chunks) of:

* ``fastcdc``: FastCDC alone, ``Deduplicator("1MB", chunking="cdc")`` before run-aware CDC (256 KiB to 8 MiB);
* ``runs L/P``: runs of one byte of at least L bytes cut out (a cut where the run starts and where it
  ends, the run cut into pieces of P bytes from its start), FastCDC as today between runs, each stretch
  chunked from its own start. Cuts stay content-defined: where a run starts and ends does not depend
  on anything before it.

The Deduplicator's ``chunking="cdc"`` now makes the ``runs 64 KiB / 256 KiB`` cuts (runs.py).

Chunk metadata (restic's and borg's per-file records, our recipes) is not counted: this compares chunkings.

    .venv/bin/python bench/dedup_runs.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt
import xxhash
from dedup_backup import SEED, make_image, make_tree, next_image, next_tree

from memories.optimization.dedup.chunking import cdc_boundaries
from memories.units import parse_size

AVERAGE = 1024**2
PAGE = 4096
Chunker = Callable[[npt.NDArray[np.uint8]], list[int]]


def fastcdc(data: npt.NDArray[np.uint8]) -> list[int]:
    """Today's chunk ends."""
    ends: list[int] = cdc_boundaries(data, AVERAGE).tolist()
    return ends


def long_runs(data: npt.NDArray[np.uint8], least: int) -> list[tuple[int, int]]:
    """(start, end) of the runs of one byte value at least ``least`` (>= 2 pages) bytes long, in order."""
    pages = len(data) // PAGE
    blocks = data[: pages * PAGE].reshape(pages, PAGE)
    uniform = blocks.min(axis=1) == blocks.max(axis=1)
    runs: list[tuple[int, int]] = []
    page = 0
    uniform_pages = np.flatnonzero(uniform).tolist()
    index = 0
    while index < len(uniform_pages):
        page = uniform_pages[index]
        value = data[page * PAGE]
        last = page
        while (
            index + 1 < len(uniform_pages) and uniform_pages[index + 1] == last + 1 and data[(last + 1) * PAGE] == value
        ):
            index += 1
            last = uniform_pages[index]
        index += 1
        start, end = page * PAGE, (last + 1) * PAGE
        while start > 0 and data[start - 1] == value and (not runs or start > runs[-1][1]):
            start -= 1
        while end < len(data) and data[end] == value:
            end += 1
        if end - start >= least:
            runs.append((start, end))
    return runs


def runs_cut(least: int, piece: int) -> Chunker:
    def chunker(data: npt.NDArray[np.uint8]) -> list[int]:
        ends: list[int] = []
        position = 0
        for start, end in [*long_runs(data, least), (len(data), len(data))]:
            if start > position:
                ends += (cdc_boundaries(data[position:start], AVERAGE) + position).tolist()
            ends += list(range(start + piece, end, piece))
            if end > start:
                ends.append(end)
            position = end
        return ends

    return chunker


def ratio(versions: Iterable[Iterable[npt.NDArray[np.uint8]]], chunker: Chunker) -> tuple[float, int]:
    """(logical / distinct chunk bytes, chunks) over every input of every version."""
    distinct: dict[bytes, int] = {}
    logical = chunks = 0
    for inputs in versions:
        for data in inputs:
            logical += len(data)
            start = 0
            for end in chunker(data):
                distinct[xxhash.xxh3_128_digest(data[start:end].data)] = end - start
                start = end
                chunks += 1
    return logical / sum(distinct.values()), chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", default="1GiB")
    arguments = parser.parse_args()
    rng = np.random.default_rng([SEED, 1])
    images = [make_image(rng, parse_size(arguments.image_size, field="--image-size", allow_zero=False))]
    for _ in range(2):
        images.append(next_image(rng, images[-1]))
    rng = np.random.default_rng([SEED, 0])
    trees = [make_tree(rng, 3000)]
    for version in range(1, 4):
        trees.append(next_tree(rng, trees[-1], version))
    tree_arrays = [[np.frombuffer(content, dtype=np.uint8) for content in tree.values()] for tree in trees]
    chunkers: dict[str, Chunker] = {"fastcdc": fastcdc}
    for least, piece in ((64 * 1024, 256 * 1024), (64 * 1024, 1024**2), (256 * 1024, 256 * 1024), (8192, 256 * 1024)):
        chunkers[f"runs {least // 1024} KiB / {piece // 1024} KiB"] = runs_cut(least, piece)
    print("| chunking | image dedup ratio | image chunks | tree dedup ratio | tree chunks | seconds |")
    print("|---|---|---|---|---|---|")
    for name, chunker in chunkers.items():
        started = time.perf_counter()
        image_ratio, image_chunks = ratio([[image] for image in images], chunker)
        tree_ratio, tree_chunks = ratio(tree_arrays, chunker)
        print(
            f"| {name} | {image_ratio:.2f} | {image_chunks} | {tree_ratio:.3f} | {tree_chunks} "
            f"| {time.perf_counter() - started:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
