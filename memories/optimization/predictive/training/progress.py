"""The training progress bar: ``epoch e/E [####----] step/steps loss L``, one plain line per epoch off a terminal."""

from __future__ import annotations

from typing import TextIO

from memories.optimization.predictive.progress import Progress
from memories.optimization.predictive.reports import EpochResult

BAR_WIDTH = 30


class ProgressBar:
    """Draws the bar for each training step on a terminal; ends each epoch with its held-out figures."""

    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None) -> None:
        self._progress = Progress(stream, interactive=interactive)
        self._epochs = 0
        self._steps = 0
        self._loss = 0.0

    def __call__(self, epoch: int, epochs: int, step: int, steps: int, loss: float) -> None:
        """Redraw for training step ``step`` of ``steps`` in ``epoch``; ``loss`` is the running mean."""
        self._epochs, self._steps, self._loss = epochs, steps, loss
        filled = BAR_WIDTH * step // max(steps, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self._progress.update(f"epoch {epoch}/{epochs} [{bar}] {step}/{steps} loss {loss:.4f}", force=step == steps)

    def epoch_done(self, result: EpochResult) -> None:
        """One line for the epoch: training loss, held-out loss and top-1 accuracy."""
        self._progress.done(
            f"epoch {result.epoch}/{self._epochs} {self._steps} steps loss {result.train_loss:.4f}"
            f"  held-out loss {result.validation_loss:.4f} top-1 {100 * result.validation_accuracy:.1f}%"
        )
