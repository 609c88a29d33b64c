from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import numpy
import pytest

from memories.errors import ConfigError, CorruptDataError
from memories.optimization.predictive.evaluation.traces import (
    ORACLE_GENERAL_RECORD,
    detect_format,
    load_trace,
    read_trace,
)

TRACES = Path("/work/shared/traces")
ORM = TRACES / "orm-busy.trace.xz"
CLOUD = TRACES / "cloudPhysicsIO.oracleGeneral.bin"
needs_traces = pytest.mark.skipif(not ORM.exists() or not CLOUD.exists(), reason="shared traces not present")


@needs_traces
def test_orm_trace_reads_big_endian_keys_with_index_time() -> None:
    records = list(read_trace(ORM, max_records=3000))
    assert len(records) == 3000
    assert all(record.key.lstrip("-").isdigit() for record in records)
    assert [record.time for record in records[:3]] == [0.0, 1.0, 2.0]


@needs_traces
def test_orm_trace_matches_numpy_decoding() -> None:
    import lzma

    with lzma.open(ORM) as stream:
        expected = numpy.frombuffer(stream.read(4 * 2000), dtype=">i4")
    assert [record.key for record in read_trace(ORM, max_records=2000)] == [str(key) for key in expected]


@needs_traces
def test_oracle_general_reads_time_key_and_size() -> None:
    raw = numpy.fromfile(CLOUD, dtype=ORACLE_GENERAL_RECORD, count=2500)
    records = load_trace(CLOUD, max_records=2500)
    assert records.keys == [str(key) for key in raw["id"]]
    assert records.times == [float(time) for time in raw["time"]]
    assert records.sizes == [int(size) for size in raw["size"]]


def test_truncated_oracle_record_is_corrupt_data(tmp_path: Path) -> None:
    path = tmp_path / "cut.oracleGeneral.bin"
    path.write_bytes(bytes(24 * 3 + 5))
    with pytest.raises(CorruptDataError, match="truncated"):
        list(read_trace(path))


def test_csv_log_reads_optional_columns(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("key,time,location,type\na,10,eu,tile\nb,11.5,,\n")
    records = list(read_trace(path))
    assert [(record.key, record.time, record.location, record.type) for record in records] == [
        ("a", 10.0, "eu", "tile"),
        ("b", 11.5, None, None),
    ]


def test_jsonl_log_streams_lazily(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps({"key": f"k{index}", "time": index}) + "\n" for index in range(100)))
    first = list(islice(read_trace(path), 3))
    assert [record.key for record in first] == ["k0", "k1", "k2"]


def test_jsonl_bad_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"key": "a"}\nnot json\n')
    with pytest.raises(ConfigError, match="line 2"):
        list(read_trace(path))


def test_unknown_name_needs_explicit_format() -> None:
    with pytest.raises(ConfigError, match="format"):
        detect_format(Path("access.log"))


def test_missing_trace_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        list(read_trace(tmp_path / "none.csv"))


def test_progress_reports_records_read(tmp_path: Path) -> None:
    path = tmp_path / "keys.trace"
    path.write_bytes(numpy.arange(70_000, dtype=">i4").tobytes())
    seen: list[int] = []
    assert len(load_trace(path, progress=seen.append)) == 70_000
    assert seen[-1] == 70_000 and seen == sorted(seen)
