"""The RESP error reply for an exception a command raised."""

from __future__ import annotations

import logging

from memories.errors import MemoriesError, WrongValueType
from memories.sidecar.resp.protocol import encode_error

logger = logging.getLogger("memories.sidecar.resp.commands")  # where these were logged before they moved here


def error_reply(error: BaseException) -> bytes:
    """The RESP error for an exception a command raised (engine errors keep their message)."""
    if isinstance(error, WrongValueType):
        return encode_error(str(error))  # already Redis' own wording, with its code
    if isinstance(error, MemoriesError | ValueError):
        return encode_error(f"ERR {error}")
    logger.exception("RESP command failed", exc_info=error)
    return encode_error(f"ERR internal error: {type(error).__name__}")
