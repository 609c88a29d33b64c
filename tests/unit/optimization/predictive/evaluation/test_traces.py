from __future__ import annotations

import json
import subprocess
from itertools import islice
from pathlib import Path

import numpy
import pytest
import zstandard

from memories.errors import ConfigError, CorruptDataError
from memories.optimization.predictive.evaluation.traces import (
    ORACLE_GENERAL_RECORD,
    TraceFormatWarning,
    detect_format,
    load_trace,
    read_trace,
)

TRACES = Path(__file__).resolve().parents[5].parent / "shared" / "traces"
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
    with pytest.raises(CorruptDataError, match="truncated"), pytest.warns(TraceFormatWarning):
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


def test_int64be_trace_reads_each_key_once(tmp_path: Path) -> None:
    keys = numpy.array([1, 2**40, 3, -5], dtype=">i8")
    path = tmp_path / "keys.bin"
    path.write_bytes(keys.tobytes())
    assert load_trace(path, trace_format="int64be").keys == ["1", str(2**40), "3", "-5"]


def test_int64_keys_read_as_int32_warn(tmp_path: Path) -> None:
    path = tmp_path / "keys.trace"
    path.write_bytes(numpy.arange(1, 101, dtype=">i8").tobytes())
    with pytest.warns(TraceFormatWarning, match="int64be"):
        load_trace(path)


def test_size_that_fits_no_whole_record_warns_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "keys.bin"
    path.write_bytes(bytes(8 * 10 + 4))
    with pytest.warns(TraceFormatWarning, match="84 bytes is not a whole number of 8-byte int64be records"):
        records = read_trace(path, trace_format="int64be")
        with pytest.raises(CorruptDataError, match="truncated"):
            list(records)


def test_arc_lines_expand_to_consecutive_blocks(tmp_path: Path) -> None:
    path = tmp_path / "P1.lis"
    path.write_text("100 3 0 1\n7 1 0 2\n\n42 2\n")
    columns = load_trace(path)
    assert columns.keys == ["100", "101", "102", "7", "42", "43"]
    assert columns.times == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_arc_bad_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.lis"
    path.write_text("1 2 0 0\nabc 1 0 0\n")
    with pytest.raises(ConfigError, match="line 2"):
        list(read_trace(path))


@pytest.mark.parametrize("compression", ["xz", "zst"])
@pytest.mark.parametrize(
    ("name", "trace_format", "data", "expected"),
    [
        ("keys.trace", None, numpy.array([5, 6, 5], ">i4").tobytes(), ["5", "6", "5"]),
        ("keys.bin", "int64be", numpy.array([5, 2**33], ">i8").tobytes(), ["5", str(2**33)]),
        ("OLTP.lis", None, b"10 2 0 0\n3 1 0 0\n", ["10", "11", "3"]),
        ("log.csv", None, b"key,time\na,1\nb,2\n", ["a", "b"]),
        ("log.jsonl", None, b'{"key": "a"}\n{"key": "b"}\n', ["a", "b"]),
    ],
)
def test_compressed_traces_read_as_the_plain_ones(
    compression: str, name: str, trace_format: str | None, data: bytes, expected: list[str], tmp_path: Path
) -> None:
    plain = tmp_path / name
    plain.write_bytes(data)
    subprocess.run([compression if compression == "xz" else "zstd", "-q", "-k", str(plain)], check=True)
    compressed = tmp_path / f"{name}.{compression}"
    assert load_trace(compressed, trace_format=trace_format).keys == expected


def test_oracle_general_zst_reads_records(tmp_path: Path) -> None:
    records = numpy.zeros(3, dtype=ORACLE_GENERAL_RECORD)
    records["id"] = [7, 8, 7]
    path = tmp_path / "sample.oracleGeneral.bin.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(records.tobytes()))
    assert load_trace(path).keys == ["7", "8", "7"]
