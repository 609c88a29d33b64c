"""The agent's Redis-protocol (RESP2/RESP3) listener: wire format, connections, command table and C fast path.

:mod:`.protocol` parses and encodes frames, :mod:`.server` holds the connections and the listener,
:mod:`.commands` (with :mod:`.key_commands`, :mod:`.expire_commands`) answers commands, :mod:`.in_flight` keeps
pipelined replies in order while commands wait on the cache, and :mod:`.fast_path` loads ``_fast.c``, the compiled
parser of plain GET/SET.
"""
