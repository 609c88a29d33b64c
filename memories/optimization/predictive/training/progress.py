"""A plain stderr progress bar for training (no dependencies)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from memories.optimization.predictive.reports import EpochResult

BAR_WIDTH = 30


class ProgressBar:
    """Draws ``epoch e/E [####----] step/steps loss L`` on one line, redrawn at most 10 times a second."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._last_draw = 0.0

    def __call__(self, epoch: int, epochs: int, step: int, steps: int, loss: float) -> None:
        """Redraw for training step ``step`` of ``steps`` in ``epoch``; ``loss`` is the running mean."""
        now = time.monotonic()
        if step != steps and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        filled = BAR_WIDTH * step // max(steps, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(f"\repoch {epoch}/{epochs} [{bar}] {step}/{steps} loss {loss:.4f}")
        self.stream.flush()

    def epoch_done(self, result: EpochResult) -> None:
        """End the bar's line with the epoch's held-out figures."""
        self.stream.write(
            f"  held-out loss {result.validation_loss:.4f} top-1 {100 * result.validation_accuracy:.1f}%\n"
        )
        self.stream.flush()
