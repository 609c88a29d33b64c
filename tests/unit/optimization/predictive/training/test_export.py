from __future__ import annotations

import numpy
import onnx

from memories.optimization.predictive.serving.inference import OnnxSequenceModel
from memories.optimization.predictive.training.export import export_network
from memories.optimization.predictive.training.network import LSTMConfig, LSTMNetwork


def _network() -> LSTMNetwork:
    config = LSTMConfig(embedding_size=6, category_embedding_size=3, hidden_size=10, seed=5)
    return LSTMNetwork({"key": 40, "delta": 30, "location": 4}, 5, 30, config)


def _random_inputs(rng: numpy.random.Generator, shape: tuple[int, int]) -> dict[str, numpy.ndarray]:
    return {
        "key": rng.integers(0, 40, shape),
        "delta": rng.integers(0, 30, shape),
        "location": rng.integers(0, 4, shape),
    }


def test_graph_uses_standard_operators_only() -> None:
    model = export_network(_network())
    onnx.checker.check_model(model, full_check=True)
    assert {node.op_type for node in model.graph.node} <= {
        "Gather",
        "Concat",
        "LSTM",
        "Squeeze",
        "MatMul",
        "Add",
        "LogSoftmax",
        "TopK",
    }


def test_onnxruntime_matches_numpy_forward() -> None:
    network = _network()
    rng = numpy.random.default_rng(2)
    categorical = _random_inputs(rng, (3, 9))
    continuous = rng.normal(size=(3, 9, 5)).astype(numpy.float32)
    state = (rng.normal(size=(3, 10)).astype(numpy.float32), rng.normal(size=(3, 10)).astype(numpy.float32))
    logits, (final_h, final_c), _ = network.forward(categorical, continuous, state)
    log_probabilities = logits - numpy.log(numpy.exp(logits).sum(axis=-1, keepdims=True))

    session = OnnxSequenceModel(export_network(network).SerializeToString())
    top_values, top_ids, (onnx_h, onnx_c) = session.run(
        {name: ids.T for name, ids in categorical.items()},
        continuous.transpose(1, 0, 2),
        (state[0][None], state[1][None]),
        k=30,
    )
    expected = numpy.take_along_axis(log_probabilities.transpose(1, 0, 2), top_ids, axis=-1)
    numpy.testing.assert_allclose(top_values, expected, rtol=1e-4, atol=1e-5)
    numpy.testing.assert_allclose(onnx_h[0], final_h, rtol=1e-4, atol=1e-5)
    numpy.testing.assert_allclose(onnx_c[0], final_c, rtol=1e-4, atol=1e-5)
    assert (top_ids[..., 0] == log_probabilities.transpose(1, 0, 2).argmax(axis=-1)).all()


def test_stepping_one_access_at_a_time_equals_one_chunk() -> None:
    network = _network()
    session = OnnxSequenceModel(export_network(network).SerializeToString())
    rng = numpy.random.default_rng(4)
    categorical = _random_inputs(rng, (6, 1))
    continuous = rng.normal(size=(6, 1, 5)).astype(numpy.float32)
    chunk_values, _, _ = session.run(categorical, continuous, session.zero_state(), k=3)
    state = session.zero_state()
    for step in range(6):
        values, _, state = session.run(
            {name: ids[step : step + 1] for name, ids in categorical.items()}, continuous[step : step + 1], state, k=3
        )
        numpy.testing.assert_allclose(values[0], chunk_values[step], rtol=1e-5, atol=1e-6)
