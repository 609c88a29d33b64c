"""Image metadata carried inside a standard JP2 file, in an XML box.

JP2 (ISO/IEC 15444-1, annex I) is a sequence of boxes: ``length (4 bytes, big endian) |
type (4 bytes) | content``. The format defines an XML box (type ``"xml "``) that may appear
at the top level anywhere after the File Type box; readers that do not understand it skip
it. We insert one XML box just before the contiguous codestream box (``"jp2c"``), so every
JP2 reader (OpenJPEG's ``opj_decompress``, GDAL, Kakadu) still decodes the image, while the
metadata travels with the file.

The box holds one element whose text is JSON (so arbitrary georeferencing dicts survive
exactly)::

    <memories-image-metadata xmlns="urn:memories:jp2-metadata:1" encoding="application/json">
      {"band_names": [...], "bit_depth": 16, "dtype": "uint16", "georeference": {...}, "shape": [512, 512, 8]}
    </memories-image-metadata>
"""

from __future__ import annotations

import json
import struct
from typing import Any
from xml.etree import ElementTree

from memories.errors import CorruptDataError

XML_NAMESPACE = "urn:memories:jp2-metadata:1"
_ROOT_TAG = f"{{{XML_NAMESPACE}}}memories-image-metadata"
_BOX_HEADER = struct.Struct(">I4s")
_XML_BOX_TYPE = b"xml "
_CODESTREAM_BOX_TYPE = b"jp2c"


def _iterate_boxes(jp2: bytes) -> list[tuple[int, bytes, int]]:
    """Return ``(offset, box type, total length)`` for each top-level box.

    Raises CorruptDataError when a box header is truncated or its length is impossible.
    """
    boxes: list[tuple[int, bytes, int]] = []
    offset = 0
    while offset < len(jp2):
        if offset + _BOX_HEADER.size > len(jp2):
            raise CorruptDataError("truncated JP2 box header", location=f"offset {offset}")
        length, box_type = _BOX_HEADER.unpack_from(jp2, offset)
        header_size = _BOX_HEADER.size
        if length == 1:  # 64-bit extended length follows the type
            if offset + 16 > len(jp2):
                raise CorruptDataError("truncated JP2 extended box length", location=f"offset {offset}")
            (length,) = struct.unpack_from(">Q", jp2, offset + 8)
            header_size = 16
        elif length == 0:  # box extends to the end of the file
            length = len(jp2) - offset
        if length < header_size or offset + length > len(jp2):
            raise CorruptDataError(f"JP2 box {box_type!r} has invalid length {length}", location=f"offset {offset}")
        boxes.append((offset, box_type, length))
        offset += length
    return boxes


def insert_metadata_box(jp2: bytes, metadata: dict[str, Any]) -> bytes:
    """Return ``jp2`` with an XML box holding ``metadata`` placed before the codestream box.

    ``metadata`` must be JSON-serializable. Raises CorruptDataError if ``jp2`` has no
    codestream box (it is not a JP2 file).
    """
    root = ElementTree.Element(_ROOT_TAG, {"encoding": "application/json"})
    root.text = json.dumps(metadata, sort_keys=True, separators=(",", ":"))
    ElementTree.register_namespace("", XML_NAMESPACE)
    payload: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    box = _BOX_HEADER.pack(_BOX_HEADER.size + len(payload), _XML_BOX_TYPE) + payload
    for offset, box_type, _length in _iterate_boxes(jp2):
        if box_type == _CODESTREAM_BOX_TYPE:
            return jp2[:offset] + box + jp2[offset:]
    raise CorruptDataError("not a JP2 file: no codestream box ('jp2c')")


def read_metadata_box(jp2: bytes) -> dict[str, Any] | None:
    """Return the metadata stored by :func:`insert_metadata_box`, or None if the file has none.

    XML boxes written by other tools are ignored. Raises CorruptDataError when our box is
    present but malformed, or when the box structure itself is broken.
    """
    for offset, box_type, length in _iterate_boxes(jp2):
        if box_type != _XML_BOX_TYPE:
            continue
        payload = jp2[offset + _BOX_HEADER.size : offset + length]
        try:
            root = ElementTree.fromstring(payload)
        except ElementTree.ParseError:
            continue  # someone else's malformed XML is not our metadata
        if root.tag != _ROOT_TAG:
            continue
        try:
            metadata = json.loads(root.text or "")
        except json.JSONDecodeError as error:
            raise CorruptDataError(
                f"JP2 metadata box holds invalid JSON: {error}", location=f"offset {offset}"
            ) from None
        if not isinstance(metadata, dict):
            raise CorruptDataError("JP2 metadata box does not hold a JSON object", location=f"offset {offset}")
        return metadata
    return None
