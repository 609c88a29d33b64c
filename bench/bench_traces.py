"""Shared by the trace benchmarks (cache_hit_ratio.py, predictive.py): which traces to read, and libcachesim.

Any trace the engine's readers know can be given with ``--trace PATH`` (repeatable; ``--trace-format`` for a
name that does not tell its format); without one, the traces in ``../shared/traces`` are used.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy

from memories.optimization.predictive.evaluation.traces import ORACLE_GENERAL_RECORD, TRACE_FORMATS, load_trace

SHARED_TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "traces"
DEFAULT_TRACES = ("orm-busy.trace.xz", "cloudPhysicsIO.oracleGeneral.bin")
LIBCACHESIM_INSTALL = "pip install --no-deps libcachesim==0.3.5"


def add_trace_arguments(parser: argparse.ArgumentParser, *, default_max_records: int | None) -> None:
    """``--trace`` (repeatable), ``--trace-format`` and ``--max-records``."""
    parser.add_argument(
        "--trace",
        action="append",
        help=f"trace file (repeatable; default: {', '.join(DEFAULT_TRACES)} in {SHARED_TRACES})",
    )
    parser.add_argument("--trace-format", choices=TRACE_FORMATS, help="format of traces whose name does not tell it")
    parser.add_argument(
        "--max-records", type=int, default=default_max_records, help="read only the first N requests of each trace"
    )


def trace_paths(arguments: argparse.Namespace) -> list[Path]:
    """The traces asked for, or the shared ones; exits with a message naming a missing file."""
    paths = [Path(name) for name in arguments.trace] if arguments.trace else [SHARED_TRACES / n for n in DEFAULT_TRACES]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        sys.exit(f"trace not found: {', '.join(missing)}")
    return paths


def load_keys(path: Path, arguments: argparse.Namespace) -> list[str]:
    """The keys of the first ``--max-records`` requests of ``path``."""
    return load_trace(path, max_records=arguments.max_records, trace_format=arguments.trace_format).keys


def trace_name(path: Path) -> str:
    """A short name for tables: the file name up to its first dot."""
    return path.name.split(".", 1)[0]


def require_libcachesim() -> ModuleType:
    """Import libcachesim, or exit saying how to install it."""
    try:
        return importlib.import_module("libcachesim")
    except ImportError:
        sys.exit(
            f"{Path(sys.argv[0]).name} compares against libcachesim, which is not installed. "
            f"Install the benchmark peers: .venv/bin/pip install -e '.[bench]' && .venv/bin/{LIBCACHESIM_INSTALL}"
        )


def libcachesim_miss_ratios(
    keys: Sequence[str], capacities: Sequence[int], names: Sequence[str]
) -> dict[str, list[float]]:
    """Miss ratios of libcachesim's ``names`` (e.g. "LRU", "S3FIFO", "WTinyLFU", "Belady") at each capacity,
    object sizes ignored, on ``keys`` written as an oracleGeneral trace (dense ids, next-access times for Belady)."""
    libcachesim = require_libcachesim()
    ids: dict[str, int] = {}
    dense = numpy.fromiter((ids.setdefault(key, len(ids) + 1) for key in keys), dtype=numpy.uint64, count=len(keys))
    next_access = numpy.full(len(keys), -1, dtype=numpy.int64)
    last_seen: dict[int, int] = {}
    for index in range(len(keys) - 1, -1, -1):
        key = int(dense[index])
        next_access[index] = last_seen.get(key, -1)
        last_seen[key] = index
    records = numpy.zeros(len(keys), dtype=ORACLE_GENERAL_RECORD)
    records["time"] = numpy.arange(len(keys), dtype=numpy.uint32)
    records["id"], records["size"], records["next"] = dense, 1, next_access
    results: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "trace.oracleGeneral.bin"
        records.tofile(path)
        for name in names:
            for capacity in capacities:
                parameters = libcachesim.ReaderInitParam(ignore_obj_size=True)
                reader = libcachesim.TraceReader(str(path), libcachesim.TraceType.ORACLE_GENERAL_TRACE, parameters)
                miss_ratio, _bytes = getattr(libcachesim, name)(capacity).process_trace(reader)
                results[name].append(float(miss_ratio))
    return results
