"""Miss ratios of our eviction policies vs libcachesim's LRU, S3-FIFO and Belady on real traces.

Run: .venv/bin/python bench/cache_hit_ratio.py [--requests 1000000]

Traces (../shared/traces): orm-busy (xz of big-endian int32 keys; first ``--requests``) and
cloudPhysicsIO (libcachesim oracleGeneral records). Caches are count-based (object sizes
ignored) at 1% and 10% of the distinct keys. Our policy objects are replayed directly (no async
manager); libcachesim reads the same requests from an oracleGeneral file.
"""

from __future__ import annotations

import argparse
import lzma
import tempfile
import time
from pathlib import Path

import libcachesim as lcs
import numpy

from memories.optimization.cache.policies import POLICIES, create_policy

TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"
ORACLE_GENERAL = numpy.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])


def load_orm_busy(limit: int) -> numpy.ndarray:
    raw = lzma.decompress((TRACES / "orm-busy.trace.xz").read_bytes())
    return numpy.frombuffer(raw, dtype=">i4")[:limit].astype(numpy.int64)


def load_cloud_physics() -> numpy.ndarray:
    records = numpy.fromfile(TRACES / "cloudPhysicsIO.oracleGeneral.bin", dtype=ORACLE_GENERAL)
    return records["id"].astype(numpy.int64)


def write_oracle_general(keys: numpy.ndarray, path: Path) -> None:
    """Write ``keys`` as an oracleGeneral trace (size 1, next-access request index for Belady)."""
    next_access = numpy.full(len(keys), -1, dtype=numpy.int64)
    last_seen: dict[int, int] = {}
    for index in range(len(keys) - 1, -1, -1):
        key = int(keys[index])
        next_access[index] = last_seen.get(key, -1)
        last_seen[key] = index
    records = numpy.zeros(len(keys), dtype=ORACLE_GENERAL)
    records["time"] = numpy.arange(len(keys), dtype=numpy.uint32)
    records["id"] = keys.astype(numpy.uint64)
    records["size"] = 1
    records["next"] = next_access
    records.tofile(path)


def our_miss_ratio(policy_name: str, keys: list[int], capacity: int) -> float:
    policy = create_policy(policy_name)
    misses = 0
    for key in keys:
        if key in policy:
            policy.record_access(key)
            continue
        misses += 1
        if len(policy) >= capacity:
            victim = policy.choose_victim()
            policy.remove(victim, evicted=True)  # type: ignore[arg-type]
        policy.record_insert(key)
    return misses / len(keys)


def reference_miss_ratio(name: str, trace_path: Path, capacity: int) -> float:
    parameters = lcs.ReaderInitParam(ignore_obj_size=True)
    reader = lcs.TraceReader(str(trace_path), lcs.TraceType.ORACLE_GENERAL_TRACE, parameters)
    cache = {"LRU": lcs.LRU, "LFU": lcs.LFU, "S3-FIFO": lcs.S3FIFO, "W-TinyLFU": lcs.WTinyLFU, "Belady": lcs.Belady}[
        name
    ](capacity)
    miss_ratio, _byte_miss_ratio = cache.process_trace(reader)
    return float(miss_ratio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000, help="orm-busy requests replayed")
    arguments = parser.parse_args()
    traces = {"orm-busy": load_orm_busy(arguments.requests), "cloudPhysicsIO": load_cloud_physics()}
    ours = sorted(POLICIES)
    references = ["LRU", "LFU", "S3-FIFO", "W-TinyLFU", "Belady"]
    print(
        "| trace | requests | cache | "
        + " | ".join([f"ours {n}" for n in ours] + [f"lcs {n}" for n in references])
        + " |"
    )
    print("|---" * (3 + len(ours) + len(references)) + "|")
    with tempfile.TemporaryDirectory() as directory:
        for trace_name, keys in traces.items():
            path = Path(directory) / f"{trace_name}.oracleGeneral"
            write_oracle_general(keys, path)
            key_list = keys.tolist()
            distinct = len(set(key_list))
            for share in (0.01, 0.10):
                capacity = max(1, int(distinct * share))
                started = time.perf_counter()
                row = [our_miss_ratio(name, key_list, capacity) for name in ours]
                row += [reference_miss_ratio(name, path, capacity) for name in references]
                cells = " | ".join(f"{ratio:.4f}" for ratio in row)
                print(f"| {trace_name} | {len(keys):,} | {share:.0%} ({capacity:,}) | {cells} |", flush=True)
                print(f"<!-- {time.perf_counter() - started:.1f} s -->", flush=True)


if __name__ == "__main__":
    main()
