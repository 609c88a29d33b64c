"""Readers for access traces and plain access logs, streaming with bounded memory.

Formats (chosen by file name, or explicitly with ``trace_format``):

- ``"int32be"`` (``*.trace``, ``*.trace.xz``): a sequence of big-endian int32 keys, optionally
  xz-compressed (the cache2k traces). There are no timestamps: record ``i`` gets time ``i`` seconds.
- ``"oracleGeneral"`` (``*.oracleGeneral*``): little-endian 24-byte records: uint32 timestamp
  (seconds), uint64 object id, uint32 object size (bytes), int64 next access (ignored).
- ``"csv"`` (``*.csv``): a header row with a ``key`` column and optional ``time``, ``location``,
  ``type``, ``size`` columns.
- ``"jsonl"`` (``*.jsonl``, ``*.ndjson``): one JSON object per line with the same fields.

Truncated binary records raise CorruptDataError; unknown formats and bad rows raise ConfigError.
"""

from __future__ import annotations

import csv
import json
import lzma
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy

from memories.errors import ConfigError, CorruptDataError
from memories.optimization.predictive.records import AccessColumns, AccessRecord, normalize_record

#: Called with the number of records read so far (about every ``CHUNK_RECORDS`` records).
ProgressCallback = Callable[[int], None]

CHUNK_RECORDS = 65_536
ORACLE_GENERAL_RECORD = numpy.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
INT32_BIG_ENDIAN = numpy.dtype(">i4")
TRACE_FORMATS = ("int32be", "oracleGeneral", "csv", "jsonl")


def detect_format(path: Path) -> str:
    """Return the trace format implied by ``path``'s name; ConfigError when it implies none."""
    name = path.name.lower()
    if "oraclegeneral" in name:
        return "oracleGeneral"
    if name.endswith((".trace", ".trace.xz")):
        return "int32be"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise ConfigError(f"trace {path}: cannot tell the format from the name; pass one of {TRACE_FORMATS}")


def _open_binary(path: Path) -> IO[bytes]:
    if not path.exists():
        raise ConfigError(f"trace {path}: no such file")
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    return path.open("rb")


def _binary_chunks(path: Path, dtype: numpy.dtype, max_records: int | None) -> Iterator[numpy.ndarray]:
    remaining = max_records
    offset = 0
    with _open_binary(path) as stream:
        while remaining is None or remaining > 0:
            count = CHUNK_RECORDS if remaining is None else min(CHUNK_RECORDS, remaining)
            data = stream.read(count * dtype.itemsize)
            if not data:
                return
            if len(data) % dtype.itemsize:
                raise CorruptDataError(
                    f"truncated record ({len(data) % dtype.itemsize} stray bytes)", location=f"{path} byte {offset}"
                )
            chunk = numpy.frombuffer(data, dtype=dtype)
            offset += len(data)
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _text_records(path: Path, trace_format: str, max_records: int | None) -> Iterator[AccessRecord]:
    if not path.exists():
        raise ConfigError(f"trace {path}: no such file")
    with path.open(newline="", encoding="utf-8") as stream:
        rows: Iterator[object]
        if trace_format == "csv":
            rows = iter(csv.DictReader(stream))
        else:
            rows = (_json_line(line, path, number) for number, line in enumerate(stream, 1) if line.strip())
        for index, row in enumerate(rows):
            if max_records is not None and index >= max_records:
                return
            yield normalize_record(_typed_row(row), index=index)


def _json_line(line: str, path: Path, number: int) -> object:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise ConfigError(f"trace {path} line {number}: not JSON ({error.msg})") from None


def _typed_row(row: object) -> object:
    """CSV cells are text: turn numeric time and size cells into numbers."""
    if not isinstance(row, dict):
        return row
    typed = {name: value for name, value in row.items() if value not in ("", None)}
    if isinstance(typed.get("time"), str):
        typed["time"] = float(typed["time"])
    if isinstance(typed.get("size"), str):
        typed["size"] = int(typed["size"])
    return typed


def read_trace(
    path: str | Path,
    *,
    max_records: int | None = None,
    trace_format: str | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[AccessRecord]:
    """Yield the records of a trace or log file one by one (streaming).

    ``max_records`` stops after that many records. Raises ConfigError (missing file, unknown
    format, bad row) or CorruptDataError (truncated binary record).
    """
    path = Path(path)
    trace_format = trace_format or detect_format(path)
    if trace_format not in TRACE_FORMATS:
        raise ConfigError(f"trace_format: expected one of {TRACE_FORMATS}, got {trace_format!r}")
    count = 0
    if trace_format in ("csv", "jsonl"):
        for record in _text_records(path, trace_format, max_records):
            yield record
            count += 1
            if progress is not None and count % CHUNK_RECORDS == 0:
                progress(count)
    elif trace_format == "int32be":
        for chunk in _binary_chunks(path, INT32_BIG_ENDIAN, max_records):
            for key in chunk.tolist():
                yield AccessRecord(str(key), float(count))
                count += 1
            if progress is not None:
                progress(count)
    else:
        for chunk in _binary_chunks(path, ORACLE_GENERAL_RECORD, max_records):
            for time, key, size in zip(
                chunk["time"].tolist(), chunk["id"].tolist(), chunk["size"].tolist(), strict=True
            ):
                yield AccessRecord(str(key), float(time), size=size)
            count += len(chunk)
            if progress is not None:
                progress(count)
    if progress is not None:
        progress(count)


def load_trace(
    path: str | Path,
    *,
    max_records: int | None = None,
    trace_format: str | None = None,
    progress: ProgressCallback | None = None,
) -> AccessColumns:
    """Read a whole trace (or its first ``max_records``) into memory column-wise. Raises as read_trace."""
    columns = AccessColumns()
    for record in read_trace(path, max_records=max_records, trace_format=trace_format, progress=progress):
        columns.append(record)
    return columns
