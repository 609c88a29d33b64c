"""Progress of long offline work (reading traces, training, replays) on stderr.

On a terminal a line is redrawn in place (carriage return, at most 10 times a second); anywhere else
(a log file, a pipe, CI) transient updates are left out and each finished step is one plain line, so
a captured log reads line by line instead of hundreds of updates run together.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

REDRAW_SECONDS = 0.1


class Progress:
    """Reports progress on ``stream`` (default stderr); ``interactive`` defaults to ``stream.isatty()``."""

    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty()) if callable(isatty) else False
        self.interactive = interactive
        self._last_draw = 0.0
        self._drawn_width = 0

    def update(self, text: str, *, force: bool = False) -> None:
        """Show ``text`` as the current state (terminals only; redrawn at most 10 times a second unless ``force``)."""
        if not self.interactive:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < REDRAW_SECONDS:
            return
        self._last_draw = now
        self.stream.write("\r" + text.ljust(self._drawn_width))
        self._drawn_width = len(text)
        self.stream.flush()

    def done(self, text: str) -> None:
        """Finish a step with ``text`` as one line (replacing the redrawn one on a terminal)."""
        if self.interactive and self._drawn_width:
            self.stream.write("\r" + text.ljust(self._drawn_width) + "\n")
        else:
            self.stream.write(text + "\n")
        self._drawn_width = 0
        self.stream.flush()
