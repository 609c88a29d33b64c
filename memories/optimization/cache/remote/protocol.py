"""The client side of the Redis protocol: commands encoded as RESP arrays, replies (RESP2 and RESP3) parsed
incrementally.

:class:`ReplyParser` takes bytes as they arrive and returns complete replies: ``bytes`` for simple and bulk
strings, ``int``, ``float``, ``bool``, ``None`` (null of any kind), ``list`` (arrays and sets), ``dict`` (maps),
:class:`ReplyError` for error replies (returned, not raised: an error is the answer to one command) and
:class:`Push` for out-of-band push messages such as client-side-caching invalidations. Attributes (``|``) are
skipped. Malformed input raises :class:`ProtocolViolation`: the connection can no longer be trusted.
"""

from __future__ import annotations

from typing import Final

from memories.errors import CacheError

#: The largest bulk string or aggregate a reply may declare (Redis' own proto-max-bulk-len default).
MAX_DECLARED_LENGTH: Final = 512 * 1024 * 1024
#: Deepest nesting of aggregates accepted (Redis replies nest a handful of levels at most).
MAX_DEPTH: Final = 32


class ProtocolViolation(CacheError):
    """The server sent bytes that are not a valid reply."""


class ReplyError:
    """An error reply (``-ERR ...`` or a blob error); ``code`` is its first word, e.g. ``MOVED`` or ``NOPERM``."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    @property
    def code(self) -> str:
        return self.message.split(" ", 1)[0]

    def __repr__(self) -> str:
        return f"ReplyError({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReplyError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


class Push(list[object]):
    """An out-of-band push message (RESP3 ``>``), e.g. ``[b"invalidate", [b"key", ...]]``."""


Reply = object


def encode_command(*arguments: bytes | str | int | float) -> bytes:
    """Return ``arguments`` as one RESP array of bulk strings (str as UTF-8, numbers in decimal)."""
    parts = [b"*%d\r\n" % len(arguments)]
    append = parts.append
    for argument in arguments:
        data = argument if type(argument) is bytes else _argument_bytes(argument)
        if len(data) <= 4096:  # one part per argument; a large value is not copied once more into it
            append(b"$%d\r\n%b\r\n" % (len(data), data))
        else:
            append(b"$%d\r\n" % len(data))
            append(data)
            append(b"\r\n")
    return b"".join(parts)


def _argument_bytes(argument: bytes | str | int | float) -> bytes:
    if isinstance(argument, bytes):
        return argument
    if isinstance(argument, str):
        return argument.encode("utf-8", "surrogateescape")
    if isinstance(argument, bool):
        raise TypeError("booleans are not Redis arguments")
    if isinstance(argument, int):
        return b"%d" % argument
    return repr(float(argument)).encode()


_OK: Final = b"+OK\r\n"


class _NeedMore(Exception):
    """Internal: the buffer ends inside a reply; ``needed`` is the buffer length known to be required."""

    def __init__(self, needed: int) -> None:
        self.needed = needed


class ReplyParser:
    """Incremental reply parser: :meth:`feed` bytes, then take replies with :meth:`next` until it returns
    :data:`INCOMPLETE`. A large bulk string arriving in many reads is not re-parsed per read."""

    __slots__ = ("_buffer", "_needed", "_position")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._position = 0
        self._needed = 0

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a reply."""
        return len(self._buffer) - self._position

    def next(self) -> Reply:
        """Return the next complete reply, or :data:`INCOMPLETE`. Raises ProtocolViolation on malformed input."""
        buffer = self._buffer
        if buffer.startswith(_OK, self._position):  # the answer to most writes, parsed without _parse
            self._needed = 0  # what an earlier read of part of this reply asked for is met
            self._position += 5
            if self._position == len(buffer):
                buffer.clear()
                self._position = 0
            return b"OK"
        if len(buffer) < self._needed:
            return INCOMPLETE
        try:
            reply, end = self._parse(self._position, 0)
        except _NeedMore as more:
            self._needed = more.needed
            if self._position:
                del self._buffer[: self._position]
                self._needed -= self._position
                self._position = 0
            return INCOMPLETE
        self._needed = 0
        self._position = end
        if end == len(self._buffer):
            self._buffer.clear()
            self._position = 0
        return reply

    def take_ok(self, limit: int) -> list[Reply]:
        """Take the ``+OK`` replies at the head of the buffer, at most ``limit`` (the replies of a batch of SETs):
        the same as calling :meth:`next` while it returns ``b"OK"``, without a call per reply."""
        buffer, start = self._buffer, self._position
        count = min(limit, (len(buffer) - start) // 5)
        if count <= 0:
            return []
        if not buffer.startswith(_OK * count, start):  # an error or a split reply among them: count the OKs
            taken = 0
            while taken < count and buffer.startswith(_OK, start + 5 * taken):
                taken += 1
            count = taken
        self._needed = 0
        self._position = start + 5 * count
        if self._position == len(buffer):
            buffer.clear()
            self._position = 0
        return [b"OK"] * count

    def _line(self, start: int) -> tuple[bytes, int]:
        end = self._buffer.find(b"\r\n", start)
        if end < 0:
            if len(self._buffer) - start > 64 * 1024:
                raise ProtocolViolation("reply line longer than 64 KiB")
            raise _NeedMore(len(self._buffer) + 1)
        return bytes(self._buffer[start:end]), end + 2

    def _length(self, text: bytes) -> int:
        try:
            length = int(text)
        except ValueError:
            raise ProtocolViolation(f"invalid length {text[:32]!r}") from None
        if length > MAX_DECLARED_LENGTH:
            raise ProtocolViolation(f"declared length {length} exceeds {MAX_DECLARED_LENGTH}")
        return length

    def _parse(self, start: int, depth: int) -> tuple[Reply, int]:
        if depth > MAX_DEPTH:
            raise ProtocolViolation(f"replies nested deeper than {MAX_DEPTH}")
        if start >= len(self._buffer):
            raise _NeedMore(start + 1)
        kind = self._buffer[start]
        line, position = self._line(start + 1)
        if kind == 0x2B:  # + simple string
            return line, position
        if kind == 0x2D:  # - error
            return ReplyError(line.decode("utf-8", "replace")), position
        if kind in (0x3A, 0x28):  # : integer, ( big number
            try:
                return int(line), position
            except ValueError:
                raise ProtocolViolation(f"invalid integer {line[:32]!r}") from None
        if kind in (0x24, 0x21, 0x3D):  # $ bulk, ! blob error, = verbatim
            length = self._length(line)
            if length < 0:
                if kind != 0x24 or length != -1:
                    raise ProtocolViolation(f"invalid length {length}")
                return None, position
            end = position + length
            if len(self._buffer) < end + 2:
                raise _NeedMore(end + 2)
            if self._buffer[end : end + 2] != b"\r\n":
                raise ProtocolViolation("bulk string not terminated by CRLF")
            data = bytes(self._buffer[position:end])
            if kind == 0x21:
                return ReplyError(data.decode("utf-8", "replace")), end + 2
            return (data[4:] if kind == 0x3D else data), end + 2
        if kind == 0x5F:  # _ null
            if line:
                raise ProtocolViolation("null with a payload")
            return None, position
        if kind == 0x2C:  # , double
            try:
                return float(line), position
            except ValueError:
                raise ProtocolViolation(f"invalid double {line[:32]!r}") from None
        if kind == 0x23:  # # boolean
            if line not in (b"t", b"f"):
                raise ProtocolViolation(f"invalid boolean {line[:8]!r}")
            return line == b"t", position
        if kind in (0x2A, 0x7E, 0x3E, 0x25, 0x7C):  # * array, ~ set, > push, % map, | attribute
            count = self._length(line)
            if count < 0:
                if kind != 0x2A or count != -1:
                    raise ProtocolViolation(f"invalid length {count}")
                return None, position
            items: list[Reply] = []
            for _ in range(count * 2 if kind in (0x25, 0x7C) else count):
                item, position = self._parse(position, depth + 1)
                items.append(item)
            if kind == 0x7C:  # attributes annotate the reply that follows: skip them
                return self._parse(position, depth)
            if kind == 0x25:
                return _as_map(items), position
            if kind == 0x3E:
                return Push(items), position
            return items, position
        raise ProtocolViolation(f"unknown reply type {bytes([kind])!r}")


def _as_map(items: list[Reply]) -> dict[object, Reply]:
    mapping: dict[object, Reply] = {}
    for index in range(0, len(items), 2):
        key = items[index]
        mapping[tuple(key) if isinstance(key, list) else key] = items[index + 1]
    return mapping


class _Incomplete:
    def __repr__(self) -> str:
        return "INCOMPLETE"


#: Returned by :meth:`ReplyParser.next` when no complete reply is buffered.
INCOMPLETE: Final = _Incomplete()
