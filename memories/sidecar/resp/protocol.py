"""RESP2 (the Redis protocol): an incremental request parser and the reply encoders.

:class:`RespParser` takes bytes as they arrive (partial frames, many pipelined commands in
one read, inline commands typed by hand) and returns complete commands as lists of bytes.
Any malformed input raises :class:`RespProtocolError` and nothing else; its ``recoverable``
flag says whether the parser skipped the bad frame and can go on, or lost the framing (the
connection must then be closed after the error reply, as Redis does).
"""

from __future__ import annotations

import re

from memories.errors import MemoriesError
from memories.optimization.cache.integers import parse_integer

#: Redis' own limit for one inline command (bytes).
MAX_INLINE_LENGTH = 64 * 1024
#: What redis-server accepts from a client that must authenticate first: arguments of one command, bytes of one.
UNAUTHENTICATED_ARRAY_LENGTH = 10
UNAUTHENTICATED_BULK_LENGTH = 16 * 1024
_AUTHENTICATING = frozenset({b"AUTH", b"HELLO"})
#: Reads up to this many bytes first go through the split-based fast path; larger reads carry large values,
#: which the general parser skips over instead of scanning them for CRLF.
_SIMPLE_PATH_MAX = 4096

OK = b"+OK\r\n"
PONG = b"+PONG\r\n"
NULL_BULK = b"$-1\r\n"
RESP3_NULL = b"_\r\n"
EMPTY_ARRAY = b"*0\r\n"


class RespProtocolError(MemoriesError):
    """A request violated RESP framing or a size limit.

    ``recoverable`` is True when the parser has skipped the bad request and later bytes can
    still be parsed; False when the connection must be closed after replying.
    """

    def __init__(self, message: str, *, recoverable: bool) -> None:
        super().__init__(message)
        self.recoverable = recoverable


class RespParser:
    """Incremental RESP2 request parser.

    ``max_bulk_length`` bounds one argument (bytes), ``max_array_length`` the number of
    arguments of one command, ``max_buffer_length`` the bytes held for one incomplete command.

    Until :meth:`lift_authentication_limits` (after :meth:`require_authentication`) the parser holds a client
    to what redis-server accepts before AUTH — ``UNAUTHENTICATED_ARRAY_LENGTH`` arguments of at most
    ``UNAUTHENTICATED_BULK_LENGTH`` bytes — and stops after each AUTH or HELLO (``held_after_auth``), so
    the requests pipelined behind it are parsed under the limits the AUTH decides.
    """

    __slots__ = (
        "_buffer",
        "_limits",
        "_needed",
        "_parsed",
        "_skip_to",
        "held_after_auth",
        "max_array_length",
        "max_buffer_length",
        "max_bulk_length",
        "unauthenticated",
    )

    def __init__(
        self,
        *,
        max_bulk_length: int = 512 * 1024 * 1024,
        max_array_length: int = 1024 * 1024,
        max_buffer_length: int = 1024 * 1024 * 1024,
    ) -> None:
        self._buffer = bytearray()
        # Bytes the incomplete command needs at least: a large value arriving in many reads is
        # appended without re-parsing, so receiving it stays linear in its size.
        self._needed = 0
        self._parsed: list[list[bytes]] = []
        self._skip_to = 0
        self.max_bulk_length = max_bulk_length
        self.max_array_length = max_array_length
        self.max_buffer_length = max_buffer_length
        self._limits = (max_bulk_length, max_array_length)
        self.unauthenticated = False
        #: True when the last feed stopped after an AUTH or HELLO, the rest kept for ``feed(b"")``.
        self.held_after_auth = False

    def require_authentication(self) -> None:
        """Hold the client to redis-server's limits before AUTH."""
        self._limits = (self.max_bulk_length, self.max_array_length)
        self.max_bulk_length = min(self.max_bulk_length, UNAUTHENTICATED_BULK_LENGTH)
        self.max_array_length = min(self.max_array_length, UNAUTHENTICATED_ARRAY_LENGTH)
        self.unauthenticated = True

    def lift_authentication_limits(self) -> None:
        """The client has authenticated: back to the limits the parser was made with."""
        self.max_bulk_length, self.max_array_length = self._limits
        self.unauthenticated = False

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete command."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Add ``data`` and return every command now complete, in order.

        Raises RespProtocolError. Commands completed before the bad frame are then available
        from :meth:`take_parsed` (reply to them first); after a recoverable error call
        ``feed(b"")`` to parse what followed the bad request.
        """
        self.held_after_auth = False
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < self._needed:
                self._check_buffer_size()
                return []
            data = bytes(buffer)
            buffer.clear()
        length = len(data)
        commands: list[list[bytes]] = []
        unauthenticated = self.unauthenticated
        simple = length <= _SIMPLE_PATH_MAX and data[:1] == b"*" and not unauthenticated
        position = self._parse_simple(data, commands) if simple else 0
        try:
            while position < length:
                if data[position] == 42:  # "*"
                    end = self._parse_array(data, position, length, commands)
                else:
                    end = self._parse_inline(data, position, length, commands)
                if end < 0:
                    break
                position = end
                if unauthenticated and commands and commands[-1][0].upper() in _AUTHENTICATING:
                    self.held_after_auth = position < length
                    self._needed = 0
                    break
        except RespProtocolError as error:
            if error.recoverable:
                buffer += data[self._skip_to :]
            self._needed = 0
            self._parsed = commands
            raise
        if position < length:
            buffer += data[position:]
            self._needed -= position
            self._check_buffer_size()
        return commands

    def _parse_simple(self, data: bytes, commands: list[list[bytes]]) -> int:
        """Parse the leading complete, well-formed arrays of bulk strings in one ``split``; return where it stopped.

        The fast path for the usual pipelined traffic. Anything else (a value containing CRLF,
        an incomplete or malformed frame, an inline command, a limit exceeded) stops it at the
        last command boundary, and the general parser takes over from there, so the result is
        always the same as the general parser's.
        """
        tokens = data.split(b"\r\n")
        last = len(tokens) - 1  # tokens[last] is not followed by CRLF
        index = position = 0
        max_bulk_length = self.max_bulk_length
        while index < last:
            header = tokens[index]
            digits = header[1:]
            if header[:1] != b"*" or not digits.isdigit() or len(digits) > 18 or digits[0] == 48:
                break
            count = int(digits)
            if not 0 < count <= self.max_array_length or index + 2 * count >= last:
                break
            cursor = index + 1
            end = position + len(header) + 2
            arguments: list[bytes] = []
            append = arguments.append
            for _ in range(count):
                header = tokens[cursor]
                value = tokens[cursor + 1]
                digits = header[1:]
                if not (header[:1] == b"$" and digits.isdigit() and len(digits) <= 18):
                    return position
                if digits[0] == 48 and len(digits) > 1:  # a leading zero: the general parser refuses it
                    return position
                size = int(digits)
                if len(value) != size or size > max_bulk_length:
                    return position
                append(value)
                cursor += 2
                end += len(header) + size + 4
            commands.append(arguments)
            index, position = cursor, end
        return position

    def take_parsed(self) -> list[list[bytes]]:
        """Commands that were complete before the last RespProtocolError."""
        commands = self._parsed
        self._parsed = []
        return commands

    def _check_buffer_size(self) -> None:
        if len(self._buffer) > self.max_buffer_length:
            self._buffer.clear()
            self._needed = 0
            raise RespProtocolError(
                f"Protocol error: request larger than the limit of {self.max_buffer_length} bytes",
                recoverable=False,
            )

    def _parse_array(self, data: bytes, position: int, length: int, commands: list[list[bytes]]) -> int:
        # The hot path: every argument costs one find, two slices and a few comparisons.
        find = data.find
        newline = find(b"\r\n", position)
        if newline < 0:
            return self._incomplete_header(position, length, position)
        count = data[position + 1] - 48  # one digit: most commands
        if newline != position + 2 or not 0 <= count <= 9:
            digits = data[position + 1 : newline]
            count = (
                int(digits)
                if digits.isdigit() and newline - position <= 19 and digits[0] != 48
                else _length(data, position + 1, newline, "multibulk")  # a negative count is skipped, as in redis
            )
        if count > self.max_array_length:
            what = "unauthenticated" if self.unauthenticated else "invalid"
            raise RespProtocolError(f"Protocol error: {what} multibulk length", recoverable=False)
        cursor = newline + 2
        if count <= 0:
            return cursor
        max_bulk_length = self.max_bulk_length
        arguments: list[bytes] = []
        append = arguments.append
        for _ in range(count):
            newline = find(b"\r\n", cursor)
            if newline < 0:
                if cursor >= length:
                    return self._incomplete_header(cursor, length, position)
                if data[cursor] != 36:  # "$"
                    self._unexpected(data[cursor])
                return self._incomplete_header(cursor, length, position)
            if data[cursor] != 36:  # "$"
                self._unexpected(data[cursor])
            digits = data[cursor + 1 : newline]
            if digits.isdigit() and newline - cursor <= 19 and (digits[0] != 48 or newline - cursor == 2):
                size = int(digits)
            else:
                size = _length(data, cursor + 1, newline, "bulk")
                if size < 0:
                    raise RespProtocolError("Protocol error: invalid bulk length", recoverable=False)
            cursor = newline + 2 + size
            if size > max_bulk_length:
                self._too_long(size)
            if cursor + 2 > length:  # the value and the two bytes after it, which redis-server skips unread
                self._needed = cursor + 2
                return -1
            append(data[newline + 2 : cursor])
            cursor += 2
        commands.append(arguments)
        return cursor

    @staticmethod
    def _unexpected(byte: int) -> None:
        raise RespProtocolError(f"Protocol error: expected '$', got '{chr(byte)}'", recoverable=False)

    def _too_long(self, size: int) -> None:
        if self.unauthenticated:
            raise RespProtocolError("Protocol error: unauthenticated bulk length", recoverable=False)
        raise RespProtocolError(
            f"Protocol error: argument of {size} bytes is larger than the limit of {self.max_bulk_length} bytes",
            recoverable=False,
        )

    def _incomplete_header(self, header_start: int, length: int, command_start: int) -> int:
        # A header line ("*3" or "$5") longer than any valid number means garbage, not a slow client.
        if length - header_start > 32:
            raise RespProtocolError("Protocol error: length line too long", recoverable=False)
        self._needed = 0
        return -1

    def _parse_inline(self, data: bytes, position: int, length: int, commands: list[list[bytes]]) -> int:
        newline = data.find(b"\n", position)
        if newline < 0:
            if length - position > MAX_INLINE_LENGTH:
                raise RespProtocolError("Protocol error: too big inline request", recoverable=False)
            self._needed = 0
            return -1
        line = data[position:newline].rstrip(b"\r")
        self._skip_to = newline + 1
        arguments = split_quoted(line) if b'"' in line or b"'" in line else _PLAIN_ARGUMENT.findall(line)
        if arguments:
            commands.append(arguments)
        return newline + 1


def _length(data: bytes, start: int, end: int, what: str) -> int:
    """A length line as redis-server's string2ll reads it: canonical decimal (no '+', no leading zeros, no '-0')
    within 64 bits; raises RespProtocolError otherwise."""
    length = parse_integer(data[start:end])
    if length is None:
        raise RespProtocolError(f"Protocol error: invalid {what} length", recoverable=False)
    return length


#: How redis-server's sdssplitargs splits an inline command: blanks (isspace) are skipped before an argument, and
#: an unquoted argument ends at a space, tab, CR or LF only (a vertical tab or form feed inside it is kept).
_SKIPPED = b" \t\n\v\f\r"
_ENDS_ARGUMENT = b" \t\n\r"
_PLAIN_ARGUMENT = re.compile(rb"[^ \t\n\v\f\r][^ \t\n\r]*")

_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_HEX_DIGITS = b"0123456789abcdefABCDEF"


def split_quoted(line: bytes) -> list[bytes]:
    """Split an inline command like redis-cli does (double quotes with escapes, single quotes literal).

    Raises a recoverable RespProtocolError for unbalanced quotes.
    """
    arguments: list[bytes] = []
    index = 0
    length = len(line)
    while index < length:
        while index < length and line[index] in _SKIPPED:
            index += 1
        if index >= length:
            break
        current = bytearray()
        quote = 0
        while True:
            if index >= length:
                if quote:
                    raise RespProtocolError("Protocol error: unbalanced quotes in request", recoverable=True)
                break
            byte = line[index]
            if quote == 34:  # inside "..."
                if byte == 92 and index + 3 < length and line[index + 1] == 120 and _is_hex_pair(line, index + 2):
                    current.append(int(line[index + 2 : index + 4], 16))
                    index += 3
                elif byte == 92 and index + 1 < length:
                    index += 1
                    current += _ESCAPES.get(line[index], bytes([line[index]]))
                elif byte == 34:
                    if index + 1 < length and line[index + 1] not in _SKIPPED:
                        raise RespProtocolError("Protocol error: unbalanced quotes in request", recoverable=True)
                    quote = 0
                else:
                    current.append(byte)
            elif quote == 39:  # inside '...'
                if byte == 92 and index + 1 < length and line[index + 1] == 39:
                    index += 1
                    current.append(39)
                elif byte == 39:
                    if index + 1 < length and line[index + 1] not in _SKIPPED:
                        raise RespProtocolError("Protocol error: unbalanced quotes in request", recoverable=True)
                    quote = 0
                else:
                    current.append(byte)
            elif byte in _ENDS_ARGUMENT:
                break
            elif byte in (34, 39):
                quote = byte
            else:
                current.append(byte)
            index += 1
        arguments.append(bytes(current))
    return arguments


def _is_hex_pair(line: bytes, index: int) -> bool:
    return index + 1 < len(line) and line[index] in _HEX_DIGITS and line[index + 1] in _HEX_DIGITS


def encode_bulk(value: bytes) -> bytes:
    """A bulk string reply."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def encode_integer(value: int) -> bytes:
    """An integer reply."""
    return b":%d\r\n" % value


def encode_simple(text: str) -> bytes:
    """A status reply such as ``+OK`` (CR and LF are replaced by spaces)."""
    return b"+" + text.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def encode_error(message: str) -> bytes:
    """An error reply; ``message`` starts with its code (``ERR``, ``WRONGTYPE``, ...)."""
    return b"-" + message.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace") + b"\r\n"


def encode_array(items: list[bytes | None], null: bytes = NULL_BULK) -> bytes:
    """An array of bulk strings; None items become ``null``."""
    parts = [b"*%d\r\n" % len(items)]
    for item in items:
        parts.append(null if item is None else b"$%d\r\n%b\r\n" % (len(item), item))
    return b"".join(parts)


def encode_reply_array(replies: list[bytes]) -> bytes:
    """An array of already encoded replies (for nested or mixed-type arrays)."""
    return b"*%d\r\n" % len(replies) + b"".join(replies)
