"""The command table of the RESP server: dispatch, auth, and the connection and server commands.

The key and value commands live in :mod:`memories.sidecar.resp.key_commands`, the expiry commands in
:mod:`memories.sidecar.resp.expire_commands`. A handler
returns the encoded reply as ``bytes`` when it can answer at once, or a coroutine producing
it when it must wait for the cache; the server keeps pipelined replies in order (and may run
commands on different keys at the same time: :mod:`memories.sidecar.resp.in_flight`). Errors follow Redis' wording so clients map them to the usual exceptions.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from memories.sidecar.resp.arguments import NOT_INTEGER, SYNTAX_ERROR, parse_integer
from memories.sidecar.resp.error_replies import error_reply
from memories.sidecar.resp.expire_commands import ExpireCommands
from memories.sidecar.resp.fast_path import load_collect_sets, load_fast_run
from memories.sidecar.resp.info import render_info
from memories.sidecar.resp.key_commands import WRONG_TYPE, KeyCommands
from memories.sidecar.resp.protocol import (
    EMPTY_ARRAY,
    NULL_BULK,
    OK,
    PONG,
    RESP3_NULL,
    encode_bulk,
    encode_error,
    encode_integer,
    encode_reply_array,
)
from memories.sidecar.resp.set_batch import SetBatches
from memories.sidecar.resp.state import Handler, Reply, RespLimits, RespSession, RespStatistics

if TYPE_CHECKING:
    from memories.optimization.cache import CacheManager

logger = logging.getLogger(__name__)

__all__ = [
    "WRONG_TYPE",
    "CommandTable",
    "Reply",
    "RespLimits",
    "RespSession",
    "RespStatistics",
    "error_reply",
]

NO_AUTH = b"-NOAUTH Authentication required.\r\n"
WRONG_PASSWORD = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
#: The one user name the agent knows, redis-server's own.
DEFAULT_USER = b"default"
_UNAUTHENTICATED_ALLOWED = frozenset({b"AUTH", b"HELLO", b"QUIT"})


class _Command:
    __slots__ = ("arity", "calls", "handler", "name")

    def __init__(self, name: str, arity: int, handler: Handler) -> None:
        self.name = name
        self.arity = arity  # Redis convention: exact when positive, minimum when negative
        self.handler = handler
        self.calls = 0


class CommandTable:
    """Dispatches parsed commands to handlers bound to one cache; ``token`` None means no auth.

    With ``accelerate`` (and the extension built) :meth:`run_fast` answers plain GET and SET
    commands in compiled code; otherwise every command goes through :meth:`dispatch`.
    """

    def __init__(
        self,
        cache: CacheManager,
        limits: RespLimits,
        statistics: RespStatistics,
        token: str | None,
        *,
        accelerate: bool = True,
    ) -> None:
        self._cache = cache
        self._keys = KeyCommands(cache, limits)
        self._expiry = ExpireCommands(cache)
        self.statistics = statistics
        #: The auth token (None = no auth); the agent replaces it on a config reload. A plain
        #: attribute, not a callable: it is read for every command.
        self.token = token
        self._commands: dict[bytes, _Command] = {}
        for name, arity, handler in self._definitions():
            command = _Command(name, arity, handler)
            self._commands[name.encode()] = command
            self._commands[name.upper().encode()] = command
        self._fast_run = load_fast_run() if accelerate else None
        collect = load_collect_sets() if accelerate else None
        self._set_batches = SetBatches(cache, collect) if collect is not None else None
        self._get_command, self._set_command = self._commands[b"get"], self._commands[b"set"]

    @property
    def sets_wait_for_l3(self) -> bool:
        """True when a plain SET is answered only once L3 has it and :meth:`start_sets` can start it: the fast path
        would only stop at such a SET, so a read that begins with one goes to :meth:`start_sets` first."""
        return self._set_batches is not None and self._cache.writes_wait_for_l3

    @property
    def accelerated(self) -> bool:
        """True when :meth:`run_fast` answers commands in compiled code."""
        return self._fast_run is not None

    def cancel_set_batches(self) -> None:
        """Cancel the batches of SETs still going through the cache one by one (see :meth:`SetBatches.close
        <memories.sidecar.resp.set_batch.SetBatches.close>`): the server is closing."""
        if self._set_batches is not None:
            self._set_batches.close()

    @property
    def limits(self) -> RespLimits:
        """Limits applied to writes; assign to change them (config reload)."""
        return self._keys.limits

    @limits.setter
    def limits(self, limits: RespLimits) -> None:
        self._keys.limits = limits

    def dispatch(self, arguments: list[bytes], session: RespSession) -> Reply:
        """Run one command; returns the reply or a coroutine producing it. Never raises for bad input."""
        command = self._commands.get(arguments[0])
        if command is None:
            command = self._commands.get(arguments[0].lower())
            if command is None:
                return self._unknown(arguments)
        if (
            not session.authenticated
            and self.token is not None
            and arguments[0].upper() not in _UNAUTHENTICATED_ALLOWED
        ):
            return NO_AUTH
        arity = command.arity
        count = len(arguments)
        if (arity > 0 and count != arity) or count < -arity:
            return encode_error(f"ERR wrong number of arguments for '{command.name}' command")
        command.calls += 1
        return command.handler(arguments, session)

    def run_fast(
        self, data: bytes, start: int, budget: int, output_budget: int, session: RespSession, max_bulk_length: int
    ) -> tuple[bytes, int, bool]:
        """Answer the leading plain GET and SET commands of ``data[start:]`` at once, in compiled code.

        Starts no command once ``budget`` bytes are consumed or ``output_budget`` bytes of replies encoded.
        Returns the encoded replies, the offset in ``data`` where it stopped (``start`` when the fast path is
        off, the session must authenticate first, or ``data[start:]`` does not begin with such a command), and
        whether the rest is the well-formed beginning of a command that needs more bytes. The caller parses the rest as usual.
        ``budget``, ``output_budget`` and ``max_bulk_length`` are in bytes.
        """
        run = self._fast_run
        if run is None or (self.token is not None and not session.authenticated):
            return b"", start, False
        replies, consumed, gets, sets, incomplete = self._keys.run_fast(
            run, data, start, budget, output_budget, session.null, max_bulk_length
        )
        self._get_command.calls += gets
        self._set_command.calls += sets
        return replies, consumed, incomplete

    def start_sets(
        self,
        data: bytes,
        start: int,
        budget: int,
        session: RespSession,
        max_bulk_length: int,
        taken: set[str],
        answer: Callable[[bytes], None],
    ) -> int | None:
        """Start the plain SETs at the beginning of ``data[start:]`` together, as one run of this turn's batch that
        waits for L3 (:mod:`memories.sidecar.resp.set_batch`; none past ``budget`` bytes, at least one, up to the
        first whose key is in ``taken``: the keys of the connection's runs in flight, to which this run's are added).

        Returns the offset where they end (``answer`` gets their replies, in order, once Redis answered), or None
        when the batch path is off (no compiled extension, or the session must authenticate first) or
        ``data[start:]`` does not begin with such a SET: then nothing happened. Lengths are bytes.
        """
        batches = self._set_batches
        if batches is None or (self.token is not None and not session.authenticated):
            return None
        started = batches.start(data, start, budget, max_bulk_length, self._keys.limits, taken, answer)
        if started is None:
            return None
        consumed, count = started
        self._set_command.calls += count
        return consumed

    def call_counts(self) -> dict[str, int]:
        """Calls per command name since start."""
        return {command.name: command.calls for command in set(self._commands.values()) if command.calls}

    def command_count(self) -> int:
        """How many commands this table serves."""
        return len(self.names())

    def names(self) -> list[str]:
        """The names (lower case) of the commands this table serves."""
        return sorted({command.name for command in self._commands.values()})

    def _unknown(self, arguments: list[bytes]) -> bytes:
        # redis-server's words: the name and the first 128 bytes of arguments, each as C strings (up to a NUL).
        described = b""
        for argument in arguments[1:]:
            if len(described) >= 128:
                break
            described += b"'" + argument.split(b"\0", 1)[0][: 128 - len(described)] + b"' "
        name = arguments[0].split(b"\0", 1)[0][:128]
        message = b"-ERR unknown command '" + name + b"', with args beginning with: " + described
        return message.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"

    def _definitions(self) -> list[tuple[str, int, Handler]]:
        return [
            *self._keys.definitions(),
            *self._expiry.definitions(),
            ("ping", -1, self._ping),
            ("echo", 2, lambda arguments, session: encode_bulk(arguments[1])),
            ("info", -1, self._info),
            ("quit", -1, self._quit),
            ("command", -1, self._command),
            ("config", -2, lambda arguments, session: EMPTY_ARRAY),
            ("client", -2, self._client),
            ("hello", -1, self._hello),
            ("select", 2, self._select),
            ("auth", -2, self._auth),
        ]

    # --- connection and server ------------------------------------------------------------

    def _ping(self, arguments: list[bytes], session: RespSession) -> bytes:
        if len(arguments) > 2:
            return encode_error("ERR wrong number of arguments for 'ping' command")
        return PONG if len(arguments) == 1 else encode_bulk(arguments[1])

    def _info(self, arguments: list[bytes], session: RespSession) -> bytes:
        sections = [argument.decode("utf-8", "replace").lower() for argument in arguments[1:]]
        return encode_bulk(render_info(self._cache, self.statistics, self.call_counts(), sections).encode())

    def _quit(self, arguments: list[bytes], session: RespSession) -> bytes:
        session.closing = True
        return OK

    def _command(self, arguments: list[bytes], session: RespSession) -> bytes:
        # redis-cli asks for COMMAND DOCS at start; an empty answer makes it skip hints.
        if len(arguments) > 1 and arguments[1].lower() == b"count":
            return encode_integer(self.command_count())
        return EMPTY_ARRAY

    def _client(self, arguments: list[bytes], session: RespSession) -> bytes:
        subcommand = arguments[1].lower()
        if subcommand == b"setname" and len(arguments) == 3:
            session.name = arguments[2] or None
            return OK
        if subcommand in (b"setinfo", b"no-evict", b"no-touch", b"reply") and len(arguments) >= 3:
            return OK
        if subcommand == b"getname":
            return session.null if session.name is None else encode_bulk(session.name)
        if subcommand == b"id":
            return encode_integer(session.client_id)
        name = subcommand.decode("utf-8", "replace")
        return encode_error(f"ERR unknown subcommand or wrong number of arguments for '{name}'. Try CLIENT HELP.")

    def _hello(self, arguments: list[bytes], session: RespSession) -> bytes:
        # redis-py 8 defaults to RESP3 and does not fall back, so HELLO 3 is accepted: every reply
        # this server sends is valid RESP3 once nulls use "_" (session.null).
        protocol = parse_integer(arguments[1]) if len(arguments) > 1 else 2
        if protocol not in (2, 3):
            return encode_error("NOPROTO unsupported protocol version")
        options = arguments[2:]
        while options:
            option = options[0].lower()
            if option == b"auth" and len(options) >= 3:
                refused = self._authenticate(options[1], options[2], session)
                if refused is not None:
                    return refused
                options = options[3:]
            elif option == b"setname" and len(options) >= 2:
                session.name = options[1]
                options = options[2:]
            else:
                return SYNTAX_ERROR
        if not session.authenticated and self.token is not None:
            return NO_AUTH
        session.null = RESP3_NULL if protocol == 3 else NULL_BULK
        fields: list[tuple[bytes, bytes]] = [
            (b"server", encode_bulk(b"memories")),
            (b"version", encode_bulk(b"7.0.0")),
            (b"proto", encode_integer(protocol)),
            (b"id", encode_integer(session.client_id)),
            (b"mode", encode_bulk(b"standalone")),
            (b"role", encode_bulk(b"master")),
            (b"modules", EMPTY_ARRAY),
        ]
        flat = [part for name, value in fields for part in (encode_bulk(name), value)]
        if protocol == 3:
            return b"%%%d\r\n" % len(fields) + b"".join(flat)
        return encode_reply_array(flat)

    def _select(self, arguments: list[bytes], session: RespSession) -> bytes:
        index = parse_integer(arguments[1])
        if index is None:
            return NOT_INTEGER
        return OK if index == 0 else encode_error("ERR DB index is out of range")

    def _auth(self, arguments: list[bytes], session: RespSession) -> bytes:
        if len(arguments) > 3:
            return SYNTAX_ERROR
        if len(arguments) == 2 and self.token is None:
            return encode_error(
                "ERR AUTH <password> called without any password configured for the default user. "
                "Are you sure your configuration is correct?"
            )
        user = arguments[1] if len(arguments) == 3 else DEFAULT_USER
        refused = self._authenticate(user, arguments[-1], session)
        return OK if refused is None else refused

    def _authenticate(self, user: bytes, password: bytes, session: RespSession) -> bytes | None:
        """None when ``user`` and ``password`` are accepted (the session is then authenticated), else the reply.

        The agent has redis-server's ``default`` user only, with the token as its password (none: any password).
        """
        token = self.token
        if user == DEFAULT_USER and (token is None or hmac.compare_digest(password, token.encode())):
            session.authenticated = True
            return None
        return WRONG_PASSWORD
