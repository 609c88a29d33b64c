"""Training loop: stateful truncated BPTT over parallel streams, early stopping on a held-out tail."""

from __future__ import annotations

from collections.abc import Callable

import numpy

from memories.optimization.predictive.features import EncodedLog
from memories.optimization.predictive.reports import EpochResult, TrainingHistory
from memories.optimization.predictive.training.network import (
    AdamOptimizer,
    LSTMNetwork,
    TrainProgress,
    check_trainable,
    sample_candidates,
)

VALIDATION_STREAMS = 8


def _as_streams(encoded: EncodedLog, start: int, stop: int, streams: int) -> EncodedLog:
    """Cut positions ``start:stop`` into ``streams`` equal consecutive rows (``[streams, L]``)."""
    length = (stop - start) // streams
    end = start + length * streams
    return EncodedLog(
        {name: ids[start:end].reshape(streams, length) for name, ids in encoded.categorical.items()},
        encoded.continuous[start:end].reshape(streams, length, -1),
        encoded.targets[start:end].reshape(streams, length),
    )


def _window(streams: EncodedLog, start: int, stop: int) -> EncodedLog:
    return EncodedLog(
        {name: ids[:, start:stop] for name, ids in streams.categorical.items()},
        streams.continuous[:, start:stop],
        streams.targets[:, start:stop],
    )


def split_for_validation(length: int, fraction: float) -> int:
    """Return the number of leading positions used for training (the rest is held out)."""
    held_out = max(int(length * fraction), min(length // 4, 64))
    return length - held_out


def evaluate_network(network: LSTMNetwork, encoded: EncodedLog, start: int, stop: int) -> tuple[float, float]:
    """Mean cross-entropy and top-1 accuracy (0..1) on positions ``start:stop`` (stateful, no updates)."""
    streams_count = max(1, min(VALIDATION_STREAMS, (stop - start) // network.config.window))
    streams = _as_streams(encoded, start, stop, streams_count)
    state = network.zero_state(streams_count)
    total_loss, correct, count = 0.0, 0, 0
    length = streams.targets.shape[1]
    for offset in range(0, length, network.config.window):
        window = _window(streams, offset, offset + network.config.window)
        logits, state, _ = network.forward(window.categorical, window.continuous, state)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probabilities = shifted - numpy.log(numpy.exp(shifted).sum(axis=-1, keepdims=True))
        picked = numpy.take_along_axis(log_probabilities, window.targets[..., None], axis=-1)
        total_loss -= float(picked.sum())
        correct += int(((logits.argmax(axis=-1) == window.targets) & (window.targets != 0)).sum())
        count += window.targets.size
    return total_loss / max(count, 1), correct / max(count, 1)


def train_network(
    network: LSTMNetwork,
    encoded: EncodedLog,
    epochs: int,
    progress: TrainProgress | None = None,
    epoch_done: Callable[[EpochResult], None] | None = None,
) -> TrainingHistory:
    """Train ``network`` in place for up to ``epochs`` epochs; keep the weights of the best held-out epoch.

    Deterministic for a given ``network.config.seed`` and input. Raises ConfigError for logs
    shorter than 16 accesses.
    """
    usable = len(encoded) - 1  # the last access has no successor to learn from
    check_trainable(usable)
    config = network.config
    train_end = split_for_validation(usable, config.validation_fraction)
    window = min(config.window, max(train_end // 2, 1))
    streams_count = max(1, min(config.batch_size, train_end // (window * config.min_steps_per_epoch)))
    streams = _as_streams(encoded, 0, train_end, streams_count)
    steps = streams.targets.shape[1] // window
    optimizer = AdamOptimizer(network.parameters, config.learning_rate, config.clip_norm)
    history = TrainingHistory()
    best_loss = float("inf")
    best_parameters = {name: value.copy() for name, value in network.parameters.items()}
    sampled = network.output_size > config.full_softmax_limit
    rng = numpy.random.default_rng(config.seed + 1)
    for epoch in range(1, epochs + 1):
        state = network.zero_state(streams_count)
        running = 0.0
        for step in range(steps):
            batch = _window(streams, step * window, (step + 1) * window)
            candidates = (
                sample_candidates(batch.targets, network.output_size, config.sampled_negatives, rng)
                if sampled
                else None
            )
            loss, gradients, state = network.loss_and_gradients(
                batch.categorical, batch.continuous, batch.targets, state, candidates=candidates
            )
            optimizer.update(network.parameters, gradients)
            running += loss
            if progress is not None:
                progress(epoch, epochs, step + 1, steps, running / (step + 1))
        validation_loss, accuracy = evaluate_network(network, encoded, train_end, usable)
        history.epochs.append(EpochResult(epoch, running / max(steps, 1), validation_loss, accuracy))
        if epoch_done is not None:
            epoch_done(history.epochs[-1])
        if validation_loss < best_loss:
            best_loss = validation_loss
            history.best_epoch = epoch
            best_parameters = {name: value.copy() for name, value in network.parameters.items()}
        elif epoch - history.best_epoch >= config.patience:
            history.stopped_early = epoch < epochs
            break
    network.parameters.update(best_parameters)
    return history
