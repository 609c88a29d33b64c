"""The Deduplicator's pack store side by side with restic and borg, on the same generated data.

Two data sets, made here from a fixed seed (the same bytes on every machine):

* ``tree``: successive versions of a source tree of text files (a few large ones); each version
  edits, inserts into and cuts from some files, deletes some, adds some and renames some.
* ``image``: successive versions of a VM-like disk image (zero runs, random data, text, repeated
  extents), each version rewriting 100 scattered 4 KiB blocks and three 1 to 8 MiB extents in place.

For each tool and data set, every run starts from an empty repository, backs up every version
(one snapshot/archive each; ours: one ``Deduplicator.ingest`` per file, named ``version/path``),
then restores every version into an empty directory and compares it byte for byte with the
source. Reported: dedup ratio (logical bytes of all versions / bytes of the repository's files
after the last backup), ingest and restore throughput (logical bytes / wall seconds of the
backups or restores), medians of ``--runs`` runs, and ours/peer ratios.

Settings, chosen to compare the same work:

* chunk size ~1 MiB average everywhere: restic's is fixed (Rabin, 512 KiB to 8 MiB, ~1 MiB);
  borg ``--chunker-params buzhash,19,23,20,4095`` (512 KiB to 8 MiB, ~1 MiB; its default is 2 MiB);
  ours ``Deduplicator("1MB", chunking="cdc")`` (FastCDC, 256 KiB to 8 MiB, ~1 MiB; runs of one byte of 64 KiB or more cut into 256 KiB pieces).
* no compression: restic ``--compression off`` (repository format 2), borg ``--compression none``.
* encryption: borg ``--encryption=none``; restic cannot turn it off (AES-256-CTR + Poly1305 always).
  The test password is ``memories-bench``.
* every file read again for every version: restic ``--force``, borg ``--files-cache=disabled``
  (otherwise both skip files whose size/mtime/inode did not change, which measures no dedup).
* block ids: restic and borg SHA-256, ours XXH3-128.

Needs the ``restic`` and ``borg`` commands (Debian: ``apt-get install restic borgbackup``).
Data, repositories and restores live under ``/tmp/dedup-bench-<pid>`` (removed at the end).

    flock /tmp/memories-bench.lock .venv/bin/python bench/dedup_backup.py --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from memories.optimization import Deduplicator
from memories.units import parse_size

SEED = 20261202
RESTIC_PASSWORD = "memories-bench"
BORG_CHUNKER = "buzhash,19,23,20,4095"
OUR_CHUNK = "1MB"
IMAGE_NAME = "disk.img"
Tree = dict[str, bytes]


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- data ------------------------------------------------------------------------------


def text_bytes(rng: np.random.Generator, size: int) -> bytes:
    """Random lowercase words separated by spaces and newlines (source-like, for dedup purposes)."""
    characters = rng.integers(97, 123, size, dtype=np.uint8)
    draws = rng.random(size)
    characters[draws < 0.16] = 32
    characters[draws < 0.02] = 10
    return characters.tobytes()


def make_tree(rng: np.random.Generator, files: int) -> Tree:
    """``files`` text files of 200 B to ~300 KiB (log-normal), plus a few of 2 to 12 MiB, in nested directories."""
    sizes = np.clip(rng.lognormal(9.0, 1.3, files), 200, 300_000).astype(int)
    sizes[rng.choice(files, max(1, files // 400), replace=False)] = rng.integers(
        2 << 20, 12 << 20, max(1, files // 400)
    )
    tree: Tree = {}
    for index, size in enumerate(sizes.tolist()):
        tree[f"pkg{index % 23}/mod{index % 7}/file{index}.txt"] = text_bytes(rng, size)
    return tree


def edit(rng: np.random.Generator, content: bytes) -> bytes:
    """One to three small edits: replace, insert or cut up to a few hundred bytes at random places."""
    for _ in range(int(rng.integers(1, 4))):
        position = int(rng.integers(0, len(content) + 1))
        kind = int(rng.integers(0, 3))
        length = int(rng.integers(1, 400))
        if kind == 0:
            content = content[:position] + text_bytes(rng, length) + content[position + length :]
        elif kind == 1:
            content = content[:position] + text_bytes(rng, length) + content[position:]
        else:
            content = content[:position] + content[position + length :]
    return content or b"\n"


def next_tree(rng: np.random.Generator, tree: Tree, version: int) -> Tree:
    """The next version: 3% of files edited (large files more often), 1% deleted, 1% renamed, 1% added."""
    paths = sorted(tree)
    count = len(paths)
    result = dict(tree)
    for path in rng.choice(paths, max(1, count * 3 // 100), replace=False).tolist():
        result[path] = edit(rng, result[path])
    for path in (path for path in paths if len(tree[path]) > 1 << 20 and rng.random() < 0.5):
        result[path] = edit(rng, result[path])
    for path in rng.choice(paths, max(1, count // 100), replace=False).tolist():
        result.pop(path, None)
    for path in rng.choice(sorted(result), max(1, count // 100), replace=False).tolist():
        result[f"moved{version}/{path.replace('/', '_')}"] = result.pop(path)
    for index in range(max(1, count // 100)):
        result[f"new{version}/file{index}.txt"] = text_bytes(rng, int(rng.integers(200, 60_000)))
    return result


def make_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` bytes of 64 KiB to 4 MiB extents: zeros, random, text, or a copy of an earlier extent."""
    image = np.zeros(size, dtype=np.uint8)
    position = 0
    while position < size:
        length = min(int(rng.integers(1, 65)) * 65536, size - position)
        kind = rng.choice(4, p=[0.3, 0.3, 0.25, 0.15])
        if kind == 1:
            image[position : position + length] = rng.integers(0, 256, length, dtype=np.uint8)
        elif kind == 2:
            image[position : position + length] = np.frombuffer(text_bytes(rng, length), dtype=np.uint8)
        elif kind == 3 and position > length:
            source = int(rng.integers(0, position - length)) // 4096 * 4096
            image[position : position + length] = image[source : source + length]
        position += length
    return image


def next_image(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """The next version: 100 scattered 4 KiB blocks and three 1 to 8 MiB extents rewritten in place."""
    result = image.copy()
    blocks = len(image) // 4096
    for block in rng.choice(blocks, min(100, blocks), replace=False).tolist():
        result[block * 4096 : (block + 1) * 4096] = rng.integers(0, 256, 4096, dtype=np.uint8)
    for _ in range(3):
        length = min(int(rng.integers(1, 9)) << 20, len(image))
        start = int(rng.integers(0, len(image) - length + 1)) // 4096 * 4096
        result[start : start + length] = rng.integers(0, 256, length, dtype=np.uint8)
    return result


@dataclass
class DataSet:
    """Versions on disk (``root/v0``, ``root/v1``...) and the xxh3-128 of each version's files."""

    name: str
    root: Path
    versions: list[str]
    digests: dict[str, dict[str, bytes]]
    logical_bytes: int


def write_tree(directory: Path, tree: Tree) -> dict[str, bytes]:
    for path, content in tree.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return {path: xxhash.xxh3_128_digest(content) for path, content in tree.items()}


def generate(name: str, root: Path, versions: int, tree_files: int, image_bytes: int) -> DataSet:
    rng = np.random.default_rng([SEED, 0 if name == "tree" else 1])
    digests: dict[str, dict[str, bytes]] = {}
    logical = 0
    if name == "tree":
        tree = make_tree(rng, tree_files)
        for version in range(versions):
            if version:
                tree = next_tree(rng, tree, version)
            digests[f"v{version}"] = write_tree(root / f"v{version}", tree)
            logical += sum(map(len, tree.values()))
            progress(f"tree v{version}: {len(tree)} files, {sum(map(len, tree.values())) / 1e6:.1f} MB")
    else:
        image = make_image(rng, image_bytes)
        for version in range(versions):
            if version:
                image = next_image(rng, image)
            digests[f"v{version}"] = write_tree(root / f"v{version}", {IMAGE_NAME: image.tobytes()})
            logical += len(image)
            progress(f"image v{version}: {len(image) / 1e6:.1f} MB")
    return DataSet(name, root, list(digests), digests, logical)


def verify(restored: Path, expected: dict[str, bytes], label: str) -> None:
    """Raise if ``restored`` does not hold exactly the expected files with the expected bytes."""
    found = {str(path.relative_to(restored)) for path in restored.rglob("*") if path.is_file()}
    if found != set(expected):
        raise SystemExit(f"{label}: restored files differ: {sorted(found ^ set(expected))[:5]}")
    for path, digest in expected.items():
        if xxhash.xxh3_128_digest((restored / path).read_bytes()) != digest:
            raise SystemExit(f"{label}: restored {path} differs from the source")


def tree_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


# -- tools -----------------------------------------------------------------------------


def run(command: list[str], cwd: Path, environment: dict[str, str]) -> None:
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")


class Tool:
    """One backup tool: a repository under ``repository``, backups and restores of directories."""

    name = ""
    chunking = ""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.repository = work / f"repository-{self.name}"

    def initialize(self) -> None:
        raise NotImplementedError

    def backup(self, source: Path, version: str) -> None:
        raise NotImplementedError

    def restore(self, version: str, target: Path) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Close what the tool holds open (before the repository's size is read)."""


class Restic(Tool):
    name = "restic"
    chunking = "Rabin CDC, 512 KiB-8 MiB, ~1 MiB (fixed by restic)"

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.environment = dict(
            os.environ, RESTIC_PASSWORD=RESTIC_PASSWORD, RESTIC_CACHE_DIR=str(work / "restic-cache")
        )

    def _restic(self, *arguments: str, cwd: Path | None = None) -> None:
        run(["restic", "-r", str(self.repository), "-q", *arguments], cwd or self.work, self.environment)

    def initialize(self) -> None:
        self._restic("init", "--repository-version", "2")

    def backup(self, source: Path, version: str) -> None:
        self._restic("backup", "--force", "--compression", "off", "--host", "bench", "--tag", version, ".", cwd=source)

    def restore(self, version: str, target: Path) -> None:
        self._restic("restore", "latest", "--tag", version, "--target", str(target))


class Borg(Tool):
    name = "borg"
    chunking = f"buzhash CDC {BORG_CHUNKER}: 512 KiB-8 MiB, ~1 MiB"

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.environment = dict(
            os.environ,
            BORG_BASE_DIR=str(work / "borg-home"),
            BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes",
            BORG_RELOCATED_REPO_ACCESS_IS_OK="yes",
        )

    def initialize(self) -> None:
        run(["borg", "init", "--encryption=none", str(self.repository)], self.work, self.environment)

    def backup(self, source: Path, version: str) -> None:
        command = ["borg", "create", "--compression", "none", "--files-cache=disabled"]
        command += ["--chunker-params", BORG_CHUNKER, f"{self.repository}::{version}", "."]
        run(command, source, self.environment)

    def restore(self, version: str, target: Path) -> None:
        run(["borg", "extract", f"{self.repository}::{version}"], target, self.environment)


class Ours(Tool):
    name = "ours"
    chunking = f"FastCDC {OUR_CHUNK} average: 256 KiB-8 MiB, runs of one byte >= 64 KiB in 256 KiB pieces (Deduplicator pack store, XXH3-128)"

    def initialize(self) -> None:
        self.dedup = Deduplicator(OUR_CHUNK, "xxhash", chunking="cdc", store_path=self.repository)

    def backup(self, source: Path, version: str) -> None:
        files = sorted(item for item in source.rglob("*") if item.is_file())

        async def ingest_all() -> None:
            async with self.dedup.batch() as batch:  # one pack fsync + index transaction per checkpoint
                await batch.ingest_files((path, f"{version}/{path.relative_to(source)}") for path in files)

        asyncio.run(ingest_all())

    def restore(self, version: str, target: Path) -> None:
        prefix = f"{version}/"

        async def restore_all() -> None:
            await self.dedup.restore_files(
                (input_id, target / input_id[len(prefix) :])
                for input_id in self.dedup.input_ids()
                if input_id.startswith(prefix)
            )

        asyncio.run(restore_all())

    def finish(self) -> None:
        self.dedup.close()


TOOLS: dict[str, Callable[[Path], Tool]] = {"ours": Ours, "restic": Restic, "borg": Borg}


@dataclass
class RunResult:
    stored_bytes: int
    ingest_seconds: float
    restore_seconds: float


def measure(tool: Tool, data: DataSet, run_number: int) -> RunResult:
    """Back up every version into a fresh repository, then restore and verify every version."""
    shutil.rmtree(tool.repository, ignore_errors=True)
    tool.initialize()
    ingest = 0.0
    for version in data.versions:
        start = time.perf_counter()
        tool.backup(data.root / version, version)
        ingest += time.perf_counter() - start
    restore = 0.0
    for version in data.versions:
        target = tool.work / "restore"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        start = time.perf_counter()
        tool.restore(version, target)
        restore += time.perf_counter() - start
        verify(target, data.digests[version], f"{tool.name} {data.name} {version}")
        shutil.rmtree(target)
    tool.finish()
    stored = tree_bytes(tool.repository)
    progress(
        f"{data.name} run {run_number} {tool.name}: stored {stored / 1e6:.1f} MB, "
        f"ingest {ingest:.2f} s, restore {restore:.2f} s (all versions restored and verified)"
    )
    shutil.rmtree(tool.repository)
    return RunResult(stored, ingest, restore)


def report(data: DataSet, results: dict[str, list[RunResult]]) -> None:
    gigabytes = data.logical_bytes / 1e9
    print(f"\n{data.name}: {len(data.versions)} versions, {data.logical_bytes / 1e6:.1f} MB logical in all")
    print("| tool | dedup ratio | stored MB | ingest GB/s | restore GB/s | ratio ours/tool (dedup, ingest, restore) |")
    print("|---|---|---|---|---|---|")
    medians = {
        name: (
            statistics.median(run.stored_bytes for run in runs),
            statistics.median(run.ingest_seconds for run in runs),
            statistics.median(run.restore_seconds for run in runs),
        )
        for name, runs in results.items()
    }
    ours = medians.get("ours")
    for name, (stored, ingest, restore) in medians.items():
        ratios = "-"
        if ours is not None and name != "ours":
            ratios = f"{stored / ours[0]:.2f}, {ingest / ours[1]:.2f}, {restore / ours[2]:.2f}"
        print(
            f"| {name} | {data.logical_bytes / stored:.2f} | {stored / 1e6:.1f} | {gigabytes / ingest:.3f} "
            f"| {gigabytes / restore:.3f} | {ratios} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per tool and data set; medians are reported")
    parser.add_argument("--tools", default="ours,restic,borg", help="comma-separated: ours, restic, borg")
    parser.add_argument("--data", default="tree,image", help="comma-separated: tree, image")
    parser.add_argument("--tree-files", type=int, default=3000, help="files in the first tree version")
    parser.add_argument("--tree-versions", type=int, default=4)
    parser.add_argument("--image-size", default="1GiB", help="size of the VM-like image")
    parser.add_argument("--image-versions", type=int, default=3)
    arguments = parser.parse_args()
    tool_names = arguments.tools.split(",")
    for name in tool_names:
        if name not in TOOLS:
            raise SystemExit(f"--tools: unknown tool {name!r}; expected ours, restic or borg")
        if name != "ours" and shutil.which(name) is None:
            package = "borgbackup" if name == "borg" else "restic"
            raise SystemExit(f"{name} is not installed: apt-get install -y {package} (or drop it from --tools)")
    work = Path(f"/tmp/dedup-bench-{os.getpid()}")
    work.mkdir()
    try:
        for name in tool_names:
            if name != "ours":
                command = [name, "version"] if name == "restic" else [name, "--version"]
                version = subprocess.run(command, capture_output=True, text=True, check=True)
                print(f"{name}: {version.stdout.splitlines()[0]}")
        tools = [TOOLS[name](work) for name in tool_names]
        for tool in tools:
            print(f"- {tool.name}: {tool.chunking}")
        for data_name in arguments.data.split(","):
            versions = arguments.tree_versions if data_name == "tree" else arguments.image_versions
            image_bytes = parse_size(arguments.image_size, field="--image-size", allow_zero=False)
            data = generate(data_name, work / data_name, versions, arguments.tree_files, image_bytes)
            results: dict[str, list[RunResult]] = {tool.name: [] for tool in tools}
            for run_number in range(1, arguments.runs + 1):
                for tool in tools:  # interleaved, so load changes hit every tool alike
                    results[tool.name].append(measure(tool, data, run_number))
            report(data, results)
            shutil.rmtree(data.root)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
