"""Readers for access traces and plain access logs, streaming with bounded memory.

Formats (chosen by file name, or explicitly with ``trace_format`` / ``--trace-format``):

- ``"int32be"`` (``*.trace``): a sequence of big-endian int32 keys (the cache2k traces).
- ``"int64be"`` (no name of its own): a sequence of big-endian int64 keys.
- ``"arc"`` (``*.lis``): the ARC paper's traces, text lines ``start count …``; each line stands for
  ``count`` requests of the keys ``start, start+1, …, start+count-1`` (further fields are ignored).
- ``"oracleGeneral"`` (``*.oracleGeneral*``): little-endian 24-byte records: uint32 timestamp
  (seconds), uint64 object id, uint32 object size (bytes), int64 next access (ignored).
- ``"csv"`` (``*.csv``): a header row with a ``key`` column and optional ``time``, ``location``,
  ``type``, ``size`` columns.
- ``"jsonl"`` (``*.jsonl``, ``*.ndjson``): one JSON object per line with the same fields.

Any of them may be xz- (``.xz``) or zstd-compressed (``.zst``); the suffix after it names the
format. Formats without timestamps give record ``i`` the time ``i`` seconds.

A binary file whose size is not a whole number of records, or int32 keys whose every other value is
0 (the high halves of int64 keys), gives a :class:`TraceFormatWarning` before reading; a truncated
last record raises CorruptDataError; unknown formats and bad rows raise ConfigError.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import lzma
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy
import zstandard

from memories.errors import ConfigError, CorruptDataError
from memories.optimization.predictive.records import AccessColumns, AccessRecord, normalize_record

#: Called with the number of records read so far (about every ``CHUNK_RECORDS`` records).
ProgressCallback = Callable[[int], None]

CHUNK_RECORDS = 65_536
ORACLE_GENERAL_RECORD = numpy.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
BINARY_FORMATS: dict[str, numpy.dtype] = {
    "int32be": numpy.dtype(">i4"),
    "int64be": numpy.dtype(">i8"),
    "oracleGeneral": ORACLE_GENERAL_RECORD,
}
TEXT_FORMATS = ("arc", "csv", "jsonl")
TRACE_FORMATS = (*BINARY_FORMATS, *TEXT_FORMATS)
COMPRESSIONS = (".xz", ".zst")
_NAME_SUFFIXES = {".trace": "int32be", ".lis": "arc", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class TraceFormatWarning(UserWarning):
    """The file does not look like the format it is read as (size or content)."""


def _uncompressed_name(path: Path) -> str:
    name = path.name.lower()
    for suffix in COMPRESSIONS:
        name = name.removesuffix(suffix)
    return name


def detect_format(path: Path) -> str:
    """Return the trace format implied by ``path``'s name; ConfigError when it implies none."""
    name = _uncompressed_name(path)
    if "oraclegeneral" in name:
        return "oracleGeneral"
    for suffix, trace_format in _NAME_SUFFIXES.items():
        if name.endswith(suffix):
            return trace_format
    raise ConfigError(
        f"trace {path}: cannot tell the format from the name; pass --trace-format (trace_format=) "
        f"with one of {', '.join(TRACE_FORMATS)}"
    )


def _open_binary(path: Path) -> IO[bytes]:
    if not path.is_file():
        raise ConfigError(f"trace {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".xz":
        return lzma.open(path, "rb")
    if suffix == ".zst":
        return zstandard.ZstdDecompressor().stream_reader(path.open("rb"), closefd=True)
    return path.open("rb")


def _check_size(path: Path, trace_format: str, dtype: numpy.dtype) -> None:
    """Warn when an uncompressed file's size is no whole number of ``dtype`` records."""
    if path.suffix.lower() in COMPRESSIONS:
        return  # the uncompressed size is only known at the end (a cut record then raises)
    size = path.stat().st_size
    if size % dtype.itemsize:
        fitting = [name for name, other in BINARY_FORMATS.items() if size % other.itemsize == 0]
        warnings.warn(
            f"trace {path}: {size} bytes is not a whole number of {dtype.itemsize}-byte {trace_format} records"
            + (f"; the size fits {', '.join(fitting)}" if fitting else ""),
            TraceFormatWarning,
            stacklevel=4,
        )


def _check_int32_content(path: Path, keys: numpy.ndarray) -> None:
    """Warn when int32 keys look like int64 ones: every other value 0 (their high halves)."""
    pairs = len(keys) // 2
    if pairs >= 8 and not numpy.any(keys[: 2 * pairs : 2]) and numpy.any(keys[1 : 2 * pairs : 2]):
        warnings.warn(
            f"trace {path}: every other int32 key is 0, as when int64 keys are read as int32 "
            "(each key would count twice); is this an int64be trace?",
            TraceFormatWarning,
            stacklevel=4,
        )


def _binary_chunks(path: Path, trace_format: str, max_records: int | None) -> Iterator[numpy.ndarray]:
    dtype = BINARY_FORMATS[trace_format]
    _check_size(path, trace_format, dtype)
    remaining = max_records
    offset = 0
    with _open_binary(path) as stream:
        while remaining is None or remaining > 0:
            count = CHUNK_RECORDS if remaining is None else min(CHUNK_RECORDS, remaining)
            data = _read_full(stream, count * dtype.itemsize)
            if not data:
                return
            if len(data) % dtype.itemsize:
                raise CorruptDataError(
                    f"truncated record ({len(data) % dtype.itemsize} stray bytes)", location=f"{path} byte {offset}"
                )
            chunk = numpy.frombuffer(data, dtype=dtype)
            if offset == 0 and trace_format == "int32be":
                _check_int32_content(path, chunk)
            offset += len(data)
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _read_full(stream: IO[bytes], size: int) -> bytes:
    """Read ``size`` bytes unless the stream ends first (decompressing readers return short reads)."""
    parts = []
    while size > 0:
        part = stream.read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[IO[str]]:
    with _open_binary(path) as raw:
        yield io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _text_records(path: Path, trace_format: str, max_records: int | None) -> Iterator[AccessRecord]:
    with _open_text(path) as stream:
        rows: Iterator[object]
        if trace_format == "arc":
            rows = _arc_keys(stream, path)
        elif trace_format == "csv":
            rows = iter(csv.DictReader(stream))
        else:
            rows = (_json_line(line, path, number) for number, line in enumerate(stream, 1) if line.strip())
        for index, row in enumerate(rows):
            if max_records is not None and index >= max_records:
                return
            yield normalize_record(_typed_row(row), index=index)


def _arc_keys(stream: IO[str], path: Path) -> Iterator[object]:
    for number, line in enumerate(stream, 1):
        fields = line.split()
        if not fields:
            continue
        try:
            start, count = int(fields[0]), int(fields[1])
        except (IndexError, ValueError):
            raise ConfigError(
                f"trace {path} line {number}: expected 'start count …' integers, got {line.strip()!r}"
            ) from None
        if count < 0:
            raise ConfigError(f"trace {path} line {number}: negative block count {count}")
        yield from range(start, start + count)


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
    format, bad row) or CorruptDataError (truncated binary record); warns with
    :class:`TraceFormatWarning` when the file does not fit the format.
    """
    path = Path(path)
    trace_format = trace_format or detect_format(path)
    if trace_format not in TRACE_FORMATS:
        raise ConfigError(f"trace_format: expected one of {', '.join(TRACE_FORMATS)}, got {trace_format!r}")
    count = 0
    if trace_format in TEXT_FORMATS:
        for record in _text_records(path, trace_format, max_records):
            yield record
            count += 1
            if progress is not None and count % CHUNK_RECORDS == 0:
                progress(count)
    elif trace_format == "oracleGeneral":
        for chunk in _binary_chunks(path, trace_format, max_records):
            for time, key, size in zip(
                chunk["time"].tolist(), chunk["id"].tolist(), chunk["size"].tolist(), strict=True
            ):
                yield AccessRecord(str(key), float(time), size=size)
            count += len(chunk)
            if progress is not None:
                progress(count)
    else:
        for chunk in _binary_chunks(path, trace_format, max_records):
            for key in chunk.tolist():
                yield AccessRecord(str(key), float(count))
                count += 1
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
