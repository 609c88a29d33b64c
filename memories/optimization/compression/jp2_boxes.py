"""The box structure of JP2 files (ISO/IEC 15444-1, annex I), and the two boxes we add to OpenJPEG's output.

A JP2 file is a sequence of boxes: ``length (4 bytes, big endian) | type (4 bytes) | content``;
a length of 1 means a 64-bit length follows the type, 0 means the box runs to the end of the
file. The JP2 Header box (``"jp2h"``) is a superbox holding the image header, the colour
specification and, optionally, a Channel Definition box (``"cdef"``, I.5.3.6).

* :func:`insert_before_codestream` adds a top-level box (our XML metadata box) just before the
  contiguous codestream box (``"jp2c"``), where every reader skips boxes it does not know.
* :func:`add_channel_definitions` records that codestream component ``c`` is band ``order[c]``:
  each channel is a colour channel (type 0) associated with colour ``order[c] + 1``, so OpenJPEG's
  decoder (``opj_decompress``, imagecodecs) puts the bands back in their original order. We
  reorder bands so the three that gain most from the component transform come first.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from memories.errors import CorruptDataError

BOX_HEADER = struct.Struct(">I4s")
CODESTREAM_BOX_TYPE = b"jp2c"
HEADER_BOX_TYPE = b"jp2h"
CHANNEL_DEFINITION_BOX_TYPE = b"cdef"
_CHANNEL = struct.Struct(">HHH")  # channel index, type (0 = colour), association (colour index, 1-based)


def iterate_boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, bytes, int]]:
    """Return ``(offset, box type, total length)`` of each box between ``start`` and ``end``.

    Raises CorruptDataError when a box header is truncated or its length is impossible.
    """
    end = len(data) if end is None else end
    boxes: list[tuple[int, bytes, int]] = []
    offset = start
    while offset < end:
        if offset + BOX_HEADER.size > end:
            raise CorruptDataError("truncated JP2 box header", location=f"offset {offset}")
        length, box_type = BOX_HEADER.unpack_from(data, offset)
        header_size = BOX_HEADER.size
        if length == 1:  # 64-bit extended length follows the type
            if offset + 16 > end:
                raise CorruptDataError("truncated JP2 extended box length", location=f"offset {offset}")
            (length,) = struct.unpack_from(">Q", data, offset + 8)
            header_size = 16
        elif length == 0:  # box extends to the end
            length = end - offset
        if length < header_size or offset + length > end:
            raise CorruptDataError(f"JP2 box {box_type!r} has invalid length {length}", location=f"offset {offset}")
        boxes.append((offset, box_type, length))
        offset += length
    return boxes


def make_box(box_type: bytes, content: bytes) -> bytes:
    """Return a box of ``box_type`` holding ``content``."""
    return BOX_HEADER.pack(BOX_HEADER.size + len(content), box_type) + content


def insert_before_codestream(jp2: bytes, box: bytes) -> bytes:
    """Return ``jp2`` with ``box`` placed just before the codestream box.

    Raises CorruptDataError if ``jp2`` has no codestream box (it is not a JP2 file).
    """
    for offset, box_type, _length in iterate_boxes(jp2):
        if box_type == CODESTREAM_BOX_TYPE:
            return jp2[:offset] + box + jp2[offset:]
    raise CorruptDataError("not a JP2 file: no codestream box ('jp2c')")


def add_channel_definitions(jp2: bytes, order: Sequence[int]) -> bytes:
    """Return ``jp2`` with a Channel Definition box saying codestream component ``c`` is band ``order[c]``.

    ``order`` is a permutation of the bands. Raises CorruptDataError if ``jp2`` has no JP2 Header
    box with a 32-bit length, or already has channel definitions.
    """
    content = struct.pack(">H", len(order)) + b"".join(
        _CHANNEL.pack(component, 0, band + 1) for component, band in enumerate(order)
    )
    definitions = make_box(CHANNEL_DEFINITION_BOX_TYPE, content)
    for offset, box_type, length in iterate_boxes(jp2):
        if box_type != HEADER_BOX_TYPE:
            continue
        (declared,) = struct.unpack_from(">I", jp2, offset)
        inner = iterate_boxes(jp2, offset + BOX_HEADER.size, offset + length)
        if declared != length or any(inner_type == CHANNEL_DEFINITION_BOX_TYPE for _, inner_type, _ in inner):
            raise CorruptDataError("JP2 header box cannot take channel definitions", location=f"offset {offset}")
        end = offset + length
        header = BOX_HEADER.pack(length + len(definitions), HEADER_BOX_TYPE)
        return jp2[:offset] + header + jp2[offset + BOX_HEADER.size : end] + definitions + jp2[end:]
    raise CorruptDataError("not a JP2 file: no JP2 header box ('jp2h')")
