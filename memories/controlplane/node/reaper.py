"""``python -m memories.controlplane.node.reaper RECORD``: tears a node down once the process that started it dies.

Started by the node in its own session with a pipe as standard input; the node's process keeps the write end
open and never writes. End of file therefore means the owner is gone, normally after its own teardown (then the
record is gone as well and there is nothing to do), or killed (then this process undoes what the record names).
SIGINT and SIGHUP are ignored (a Ctrl-C in the owner's terminal must not take the reaper with it). A SIGTERM
(everything being stopped at once) gives the owner a few seconds to go first, then tears down if it went.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path

from memories.controlplane.node.instance import NodeInstance
from memories.controlplane.node.teardown import teardown

#: Seconds a SIGTERM'd reaper waits for the owner to exit (it may be tearing the node down itself).
OWNER_GRACE_SECONDS = 10.0


class _Terminated(Exception):
    pass


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: list[str]) -> int:
    """Wait for end of file on stdin, then tear down the node of ``argv[0]`` (a record path) if it still exists."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s reaper %(levelname)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminated)
    record = Path(argv[0])
    while True:
        try:
            while sys.stdin.buffer.read(4096):
                pass
            break
        except _Terminated:
            if _owner_gone_within(record, OWNER_GRACE_SECONDS):
                break
            logging.warning("SIGTERM, but the node's owner still runs: waiting for it")
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish the teardown once started
    if not record.exists():
        return 0
    instance = NodeInstance.load(record)
    logging.warning("the process that started node %s is gone: tearing the node down", instance.id)
    teardown(instance)
    return 0


def _owner_gone_within(record: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while record.exists() and NodeInstance.load(record).owner.alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
