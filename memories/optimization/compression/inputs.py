"""Turn what callers pass to ``compress`` into byte chunks, and arrays back from bytes.

Accepted: bytes-like objects (any buffer), numpy arrays (any dtype except object, any
layout; stored as C-order bytes plus dtype and shape), file paths (``str`` or ``os.PathLike``)
and binary file objects. In-memory data is cut into zero-copy memoryview slices.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, BinaryIO, TypeGuard

import numpy
import numpy.lib.format

from memories.errors import ConfigError, CorruptDataError

NDArray = numpy.ndarray[Any, Any]


def array_bytes(array: NDArray) -> memoryview:
    """Return the array's C-order bytes; a copy is made only when it is not C-contiguous."""
    if array.dtype.hasobject:
        raise TypeError("data: arrays of Python objects cannot be compressed as bytes; convert them first")
    contiguous = numpy.ascontiguousarray(array)
    return contiguous.reshape(-1).view(numpy.uint8).data


def array_info(array: NDArray) -> dict[str, Any]:
    """Return the JSON-ready description (dtype descriptor, shape) that restores ``array``."""
    return {"dtype": repr(numpy.lib.format.dtype_to_descr(array.dtype)), "shape": list(array.shape)}


def array_layout(info: Mapping[str, Any]) -> tuple[numpy.dtype[Any], tuple[int, ...]] | None:
    """Return (dtype, shape) recorded in a container's descriptive info, or None for plain bytes.

    Raises CorruptDataError when the description is malformed.
    """
    if "dtype" not in info:
        return None
    try:
        dtype = numpy.lib.format.descr_to_dtype(ast.literal_eval(info["dtype"]))
        shape = tuple(int(dimension) for dimension in info["shape"])
    except (KeyError, TypeError, ValueError, SyntaxError) as error:
        raise CorruptDataError(f"malformed array description: {error}", location="header") from error
    return dtype, shape


def restore_array(buffer: bytearray, dtype: numpy.dtype[Any], shape: tuple[int, ...]) -> NDArray:
    """Rebuild an array of ``dtype`` and ``shape`` over ``buffer`` (no copy; the array is writable).

    Raises CorruptDataError when the size of ``buffer`` disagrees with the description.
    """
    try:
        if dtype.itemsize == 0:
            return numpy.empty(shape, dtype=dtype)
        return numpy.frombuffer(buffer, dtype=dtype).reshape(shape)
    except ValueError as error:
        raise CorruptDataError(f"array description does not match the data: {error}", location="header") from error


def user_info(metadata: bool | Mapping[str, Any]) -> dict[str, Any]:
    """Return the user's metadata mapping (empty for a bool); raise ConfigError if it is not JSON-serializable."""
    if isinstance(metadata, bool):
        return {}
    if not isinstance(metadata, Mapping):
        raise ConfigError(f"metadata: expected a bool or a mapping, got {type(metadata).__name__}")
    try:
        json.dumps(dict(metadata))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"metadata: user metadata must be JSON-serializable: {error}") from error
    return dict(metadata)


def buffer_bytes(data: object) -> memoryview:
    """Return a flat byte view of any buffer; raise TypeError for objects that are not buffers."""
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError as error:
        raise TypeError(
            f"data: expected bytes-like, a numpy array, a path or a binary file, got {type(data).__name__}"
        ) from error
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def chunk_views(view: memoryview, chunk_size: int) -> Iterator[memoryview]:
    """Yield consecutive zero-copy slices of at most ``chunk_size`` bytes."""
    for start in range(0, len(view), chunk_size):
        yield view[start : start + chunk_size]


def is_path(data: object) -> TypeGuard[str | os.PathLike[str]]:
    """True when ``data`` names a file (``str`` or ``os.PathLike``)."""
    return isinstance(data, str | os.PathLike)


def is_binary_file(data: object) -> TypeGuard[BinaryIO]:
    """True when ``data`` looks like a readable file object."""
    return callable(getattr(data, "read", None)) and not isinstance(data, bytes | bytearray | memoryview)


def read_exactly(file: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, retrying short reads (pipes, sockets); fewer only at end of file."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = file.read(remaining)
        if not part:
            break
        if not isinstance(part, bytes | bytearray):
            raise TypeError("data: file objects must be opened in binary mode")
        parts.append(bytes(part))
        remaining -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def file_chunks(file: BinaryIO, chunk_size: int) -> AsyncIterator[bytes]:
    """Yield the file's contents in ``chunk_size`` pieces, reading in a thread so the event loop never blocks."""
    while True:
        piece = await asyncio.to_thread(read_exactly, file, chunk_size)
        if not piece:
            return
        yield piece
        if len(piece) < chunk_size:
            return
