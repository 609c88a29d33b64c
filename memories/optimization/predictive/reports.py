"""What training reports back: per-epoch figures and the summary of one :meth:`PredictiveCache.train` call.

Plain dataclasses, shared by the training code that fills them and the serving side that returns them,
so that importing the agent's side never imports the training code.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class EpochResult:
    """Mean training loss, held-out loss and held-out top-1 accuracy (0..1) of one epoch."""

    epoch: int
    train_loss: float
    validation_loss: float
    validation_accuracy: float


@dataclass(slots=True)
class TrainingHistory:
    """Per-epoch results; ``best_epoch`` is the one whose weights were kept (early stopping)."""

    epochs: list[EpochResult] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False


@dataclass(frozen=True, slots=True)
class TrainingReport:
    """Result of :meth:`PredictiveCache.train`: records used, seconds taken, target, epochs."""

    model: str
    records: int
    seconds: float
    target: str | None = None
    history: TrainingHistory | None = None
