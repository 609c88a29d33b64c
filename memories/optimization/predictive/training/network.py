"""A small LSTM next-access model in numpy: forward pass, backprop through time, Adam.

Layout: every categorical input (key, delta, location, type) has an embedding table; the
embeddings and the continuous features are concatenated into ``x`` of size D; one LSTM layer
of H units with gates in ONNX order (input, output, forget, cell); a softmax over the target
vocabulary. Training is stateful truncated BPTT: the log is cut into ``batch_size`` parallel
streams, walked in windows of ``window`` steps, the hidden state carried between windows.
Everything is computed on whole minibatches (no Python loop over the batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy

from memories.errors import ConfigError

Parameters = dict[str, numpy.ndarray]
State = tuple[numpy.ndarray, numpy.ndarray]


@dataclass(frozen=True, slots=True)
class LSTMConfig:
    """Model size and training settings (sizes in units, learning rate per Adam step)."""

    embedding_size: int = 48
    category_embedding_size: int = 8
    hidden_size: int = 96
    window: int = 32
    batch_size: int = 64
    learning_rate: float = 0.004
    clip_norm: float = 5.0
    patience: int = 2
    validation_fraction: float = 0.05
    seed: int = 0
    dtype: str = "float32"
    #: With an output vocabulary larger than this, training scores only the window's targets
    #: plus ``sampled_negatives`` uniformly drawn classes (sampled softmax) instead of all classes.
    full_softmax_limit: int = 4096
    sampled_negatives: int = 1024
    #: Fewer parallel streams than ``batch_size`` are used when a log is too short to give this
    #: many optimizer steps per epoch.
    min_steps_per_epoch: int = 200


#: Called with (epoch, epochs, step, steps, running mean loss).
TrainProgress = Callable[[int, int, int, int, float], None]


def _sigmoid(values: numpy.ndarray) -> numpy.ndarray:
    return 0.5 * (numpy.tanh(0.5 * values) + 1.0)


class LSTMNetwork:
    """Weights and math of the model; ``categorical_sizes`` maps input name → vocabulary size."""

    def __init__(
        self,
        categorical_sizes: dict[str, int],
        continuous_size: int,
        output_size: int,
        config: LSTMConfig,
        parameters: Parameters | None = None,
    ) -> None:
        self.categorical_sizes = dict(categorical_sizes)
        self.continuous_size = continuous_size
        self.output_size = output_size
        self.config = config
        self.dtype = numpy.dtype(config.dtype)
        self.parameters = parameters if parameters is not None else self._initial_parameters()

    def embedding_size_of(self, name: str) -> int:
        """Embedding width of categorical input ``name``."""
        return self.config.embedding_size if name in ("key", "delta") else self.config.category_embedding_size

    @property
    def input_size(self) -> int:
        """Width D of the LSTM input."""
        return sum(self.embedding_size_of(name) for name in self.categorical_sizes) + self.continuous_size

    def _initial_parameters(self) -> Parameters:
        rng = numpy.random.default_rng(self.config.seed)
        hidden = self.config.hidden_size
        parameters: Parameters = {}
        for name, size in self.categorical_sizes.items():
            parameters[f"embedding.{name}"] = rng.normal(0.0, 0.1, (size, self.embedding_size_of(name)))
        parameters["lstm.W"] = rng.normal(0.0, 1.0 / numpy.sqrt(self.input_size), (self.input_size, 4 * hidden))
        parameters["lstm.U"] = rng.normal(0.0, 1.0 / numpy.sqrt(hidden), (hidden, 4 * hidden))
        bias = numpy.zeros(4 * hidden)
        bias[2 * hidden : 3 * hidden] = 1.0  # forget gate starts open
        parameters["lstm.b"] = bias
        parameters["output.W"] = rng.normal(0.0, 1.0 / numpy.sqrt(hidden), (hidden, self.output_size))
        parameters["output.b"] = numpy.zeros(self.output_size)
        return {name: value.astype(self.dtype) for name, value in parameters.items()}

    def zero_state(self, batch: int) -> State:
        """Return zero (h, c), each ``[batch, hidden]``."""
        shape = (batch, self.config.hidden_size)
        return numpy.zeros(shape, self.dtype), numpy.zeros(shape, self.dtype)

    def _inputs(self, categorical: dict[str, numpy.ndarray], continuous: numpy.ndarray) -> numpy.ndarray:
        parts = [self.parameters[f"embedding.{name}"][categorical[name]] for name in self.categorical_sizes]
        if self.continuous_size:
            parts.append(continuous.astype(self.dtype, copy=False))
        return numpy.concatenate(parts, axis=-1)

    def forward(
        self,
        categorical: dict[str, numpy.ndarray],
        continuous: numpy.ndarray,
        state: State,
        candidates: numpy.ndarray | None = None,
    ) -> tuple[numpy.ndarray, State, dict[str, numpy.ndarray]]:
        """Run ``[B, T]`` inputs from ``state``; return logits ``[B, T, V]``, final state and a cache for backward.

        With ``candidates`` (sorted class ids), logits cover only those classes, in that order.
        """
        output_weights, output_bias = self.parameters["output.W"], self.parameters["output.b"]
        if candidates is not None:
            output_weights, output_bias = output_weights[:, candidates], output_bias[candidates]
        hidden = self.config.hidden_size
        x = self._inputs(categorical, continuous)
        batch, steps = x.shape[:2]
        projected = (x.reshape(-1, x.shape[-1]) @ self.parameters["lstm.W"]).reshape(batch, steps, -1)
        projected += self.parameters["lstm.b"]
        recurrent = self.parameters["lstm.U"]
        h, c = state
        shape = (batch, steps, hidden)
        gates = numpy.empty((batch, steps, 4 * hidden), self.dtype)
        cells, cell_tanh, outputs = (numpy.empty(shape, self.dtype) for _ in range(3))
        previous_h = numpy.empty(shape, self.dtype)
        previous_c = numpy.empty(shape, self.dtype)
        for step in range(steps):
            previous_h[:, step], previous_c[:, step] = h, c
            z = projected[:, step] + h @ recurrent
            gate = gates[:, step]
            gate[:, : 3 * hidden] = _sigmoid(z[:, : 3 * hidden])
            gate[:, 3 * hidden :] = numpy.tanh(z[:, 3 * hidden :])
            input_gate, output_gate = gate[:, :hidden], gate[:, hidden : 2 * hidden]
            forget_gate, candidate = gate[:, 2 * hidden : 3 * hidden], gate[:, 3 * hidden :]
            c = forget_gate * c + input_gate * candidate
            cells[:, step] = c
            cell_tanh[:, step] = numpy.tanh(c)
            h = output_gate * cell_tanh[:, step]
            outputs[:, step] = h
        logits = (outputs.reshape(-1, hidden) @ output_weights).reshape(batch, steps, -1)
        logits += output_bias
        cache = {"x": x, "gates": gates, "cell_tanh": cell_tanh, "h": outputs, "h0": previous_h, "c0": previous_c}
        return logits, (h, c), cache

    def loss_and_gradients(
        self,
        categorical: dict[str, numpy.ndarray],
        continuous: numpy.ndarray,
        targets: numpy.ndarray,
        state: State,
        weights: numpy.ndarray | None = None,
        candidates: numpy.ndarray | None = None,
    ) -> tuple[float, Parameters, State]:
        """Mean cross-entropy over ``[B, T]`` targets (optionally weighted), its gradients, final state.

        ``candidates``: sorted class ids that include every target (sampled softmax); None = all classes.
        """
        hidden = self.config.hidden_size
        logits, final_state, cache = self.forward(categorical, continuous, state, candidates)
        if candidates is not None:
            targets = numpy.searchsorted(candidates, targets)
        batch, steps, vocabulary = logits.shape
        weights = numpy.ones((batch, steps), self.dtype) if weights is None else weights.astype(self.dtype)
        total = max(float(weights.sum()), 1.0)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        probabilities = numpy.exp(shifted)
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        flat = probabilities.reshape(-1, vocabulary)
        rows = numpy.arange(flat.shape[0])
        flat_targets = targets.reshape(-1)
        picked = flat[rows, flat_targets]
        loss = float(-(numpy.log(numpy.maximum(picked, 1e-12)) * weights.reshape(-1)).sum() / total)
        flat[rows, flat_targets] -= 1.0
        flat *= (weights.reshape(-1, 1) / total).astype(self.dtype)
        d_logits = flat
        h_all = cache["h"].reshape(-1, hidden)
        if candidates is None:
            gradients: Parameters = {"output.W": h_all.T @ d_logits, "output.b": d_logits.sum(axis=0)}
            output_weights = self.parameters["output.W"]
        else:
            gradients = {
                "output.W": numpy.zeros_like(self.parameters["output.W"]),
                "output.b": numpy.zeros_like(self.parameters["output.b"]),
            }
            gradients["output.W"][:, candidates] = h_all.T @ d_logits
            gradients["output.b"][candidates] = d_logits.sum(axis=0)
            output_weights = self.parameters["output.W"][:, candidates]
        d_h_all = (d_logits @ output_weights.T).reshape(batch, steps, hidden)
        d_projected = self._backward_through_time(d_h_all, cache)
        x = cache["x"]
        gradients["lstm.W"] = x.reshape(-1, x.shape[-1]).T @ d_projected.reshape(-1, 4 * hidden)
        gradients["lstm.b"] = d_projected.sum(axis=(0, 1))
        gradients["lstm.U"] = cache["h0"].reshape(-1, hidden).T @ d_projected.reshape(-1, 4 * hidden)
        d_x = (d_projected.reshape(-1, 4 * hidden) @ self.parameters["lstm.W"].T).reshape(batch, steps, -1)
        offset = 0
        for name, size in self.categorical_sizes.items():
            width = self.embedding_size_of(name)
            table_gradient = numpy.zeros((size, width), self.dtype)
            numpy.add.at(
                table_gradient, categorical[name].reshape(-1), d_x[..., offset : offset + width].reshape(-1, width)
            )
            gradients[f"embedding.{name}"] = table_gradient
            offset += width
        return loss, gradients, final_state

    def _backward_through_time(self, d_h_all: numpy.ndarray, cache: dict[str, numpy.ndarray]) -> numpy.ndarray:
        hidden = self.config.hidden_size
        gates, cell_tanh, previous_c = cache["gates"], cache["cell_tanh"], cache["c0"]
        batch, steps = d_h_all.shape[:2]
        recurrent_t = self.parameters["lstm.U"].T
        d_projected = numpy.empty((batch, steps, 4 * hidden), self.dtype)
        d_h_next = numpy.zeros((batch, hidden), self.dtype)
        d_c_next = numpy.zeros((batch, hidden), self.dtype)
        for step in reversed(range(steps)):
            gate = gates[:, step]
            input_gate, output_gate = gate[:, :hidden], gate[:, hidden : 2 * hidden]
            forget_gate, candidate = gate[:, 2 * hidden : 3 * hidden], gate[:, 3 * hidden :]
            d_h = d_h_all[:, step] + d_h_next
            tanh_c = cell_tanh[:, step]
            d_c = d_c_next + d_h * output_gate * (1.0 - tanh_c * tanh_c)
            d_z = d_projected[:, step]
            d_z[:, :hidden] = d_c * candidate * input_gate * (1.0 - input_gate)
            d_z[:, hidden : 2 * hidden] = d_h * tanh_c * output_gate * (1.0 - output_gate)
            d_z[:, 2 * hidden : 3 * hidden] = d_c * previous_c[:, step] * forget_gate * (1.0 - forget_gate)
            d_z[:, 3 * hidden :] = d_c * input_gate * (1.0 - candidate * candidate)
            d_c_next = d_c * forget_gate
            d_h_next = d_z @ recurrent_t
        return d_projected


def sample_candidates(
    targets: numpy.ndarray, output_size: int, negatives: int, rng: numpy.random.Generator
) -> numpy.ndarray:
    """Sorted unique class ids: every target plus ``negatives`` uniformly drawn classes."""
    drawn = rng.integers(0, output_size, negatives)
    return numpy.unique(numpy.concatenate([targets.reshape(-1), drawn]))


class AdamOptimizer:
    """Adam with global-norm gradient clipping."""

    def __init__(self, parameters: Parameters, learning_rate: float, clip_norm: float) -> None:
        self.learning_rate = learning_rate
        self.clip_norm = clip_norm
        self.first = {name: numpy.zeros_like(value) for name, value in parameters.items()}
        self.second = {name: numpy.zeros_like(value) for name, value in parameters.items()}
        self.steps = 0

    def update(self, parameters: Parameters, gradients: Parameters) -> None:
        """Apply one Adam step in place."""
        norm = float(numpy.sqrt(sum(float((gradient * gradient).sum()) for gradient in gradients.values())))
        scale = min(1.0, self.clip_norm / norm) if norm > 0 else 1.0
        self.steps += 1
        beta1, beta2 = 0.9, 0.999
        correction = numpy.sqrt(1 - beta2**self.steps) / (1 - beta1**self.steps)
        for name, gradient in gradients.items():
            gradient = gradient * scale
            self.first[name] *= beta1
            self.first[name] += (1 - beta1) * gradient
            self.second[name] *= beta2
            self.second[name] += (1 - beta2) * gradient * gradient
            step = self.learning_rate * correction * self.first[name] / (numpy.sqrt(self.second[name]) + 1e-8)
            parameters[name] -= step.astype(parameters[name].dtype, copy=False)


def check_trainable(length: int) -> None:
    """Raise ConfigError when a log is too short to train on."""
    if length < 16:
        raise ConfigError(f"access_patterns: need at least 16 accesses to train, got {length}")
