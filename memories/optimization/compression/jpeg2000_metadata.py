"""Image metadata carried inside a standard JP2 file, in an XML box.

JP2 (ISO/IEC 15444-1, annex I) defines an XML box (type ``"xml "``) that may appear at the top
level anywhere after the File Type box; readers that do not understand it skip it. We insert
one just before the contiguous codestream box (see
:mod:`~memories.optimization.compression.jp2_boxes`), so JP2 readers (OpenJPEG's
``opj_decompress``, GDAL) still decode the image, while the metadata travels with the file.

The box holds one element whose text is JSON (so arbitrary georeferencing dicts survive
exactly)::

    <memories-image-metadata xmlns="urn:memories:jp2-metadata:1" encoding="application/json">
      {"band_names": [...], "bit_depth": 16, "dtype": "uint16", "georeference": {...}, "shape": [512, 512, 8]}
    </memories-image-metadata>
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

from memories.errors import CorruptDataError
from memories.optimization.compression.jp2_boxes import BOX_HEADER, insert_before_codestream, iterate_boxes, make_box

XML_NAMESPACE = "urn:memories:jp2-metadata:1"
_ROOT_TAG = f"{{{XML_NAMESPACE}}}memories-image-metadata"
_XML_BOX_TYPE = b"xml "


def insert_metadata_box(jp2: bytes, metadata: dict[str, Any]) -> bytes:
    """Return ``jp2`` with an XML box holding ``metadata`` placed before the codestream box.

    ``metadata`` must be JSON-serializable. Raises CorruptDataError if ``jp2`` has no
    codestream box (it is not a JP2 file).
    """
    root = ElementTree.Element(_ROOT_TAG, {"encoding": "application/json"})
    root.text = json.dumps(metadata, sort_keys=True, separators=(",", ":"))
    ElementTree.register_namespace("", XML_NAMESPACE)
    payload: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return insert_before_codestream(jp2, make_box(_XML_BOX_TYPE, payload))


def read_metadata_box(jp2: bytes) -> dict[str, Any] | None:
    """Return the metadata stored by :func:`insert_metadata_box`, or None if the file has none.

    XML boxes written by other tools are ignored. Raises CorruptDataError when our box is
    present but malformed, or when the box structure itself is broken.
    """
    for offset, box_type, length in iterate_boxes(jp2):
        if box_type != _XML_BOX_TYPE:
            continue
        payload = jp2[offset + BOX_HEADER.size : offset + length]
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
