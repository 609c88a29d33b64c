"""The agent's Redis-protocol (RESP2/RESP3) listener: wire format, connections, command table and C fast path.

:mod:`.protocol` parses and encodes frames; :mod:`.connection` serves one client, deciding whether it reads in one
place from the state of :mod:`.reading`; :mod:`.server` listens and keeps the connections' bookkeeping;
:mod:`.commands` (with :mod:`.key_commands` and :mod:`.expire_commands`) answers commands; :mod:`.in_flight` keeps
pipelined replies in order while commands wait on the cache; :mod:`.fast_path` loads ``_fast.c``, the compiled
answer to plain GET and SET.
"""
