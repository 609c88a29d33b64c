"""Export a trained :class:`LSTMNetwork` as an ONNX graph of standard operators, and write model files.

Graph (time-major, dynamic sequence length T and batch B)::

    <name>_ids [T,B] int64 --Gather(embedding)--+
    time_features [T,B,F] float ----------------+--Concat--> LSTM(initial_h, initial_c)
    --> Squeeze --> MatMul + Add --> LogSoftmax --> TopK(k)
    outputs: top_log_probabilities [T,B,k], top_ids [T,B,k] int64, final_h, final_c [1,B,H]

The state outputs let a caller feed one access at a time and carry the LSTM state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy
import onnx
from onnx import TensorProto, helper, numpy_helper

from memories.optimization.predictive.features import FeatureEncoder
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.serving.inference import TIME_FEATURES_INPUT, input_name
from memories.optimization.predictive.serving.model_file import FORMAT_VERSION, METADATA_KEY
from memories.optimization.predictive.training.network import LSTMNetwork

OPSET = 17


def export_network(network: LSTMNetwork) -> onnx.ModelProto:
    """Return the ONNX model computing the same outputs as ``network`` (float32 weights)."""
    hidden = network.config.hidden_size
    parameters = {name: value.astype(numpy.float32) for name, value in network.parameters.items()}
    initializers = [
        numpy_helper.from_array(parameters["lstm.W"].T[None].copy(), "lstm_W"),
        numpy_helper.from_array(parameters["lstm.U"].T[None].copy(), "lstm_R"),
        numpy_helper.from_array(
            numpy.concatenate([parameters["lstm.b"], numpy.zeros(4 * hidden, numpy.float32)])[None], "lstm_B"
        ),
        numpy_helper.from_array(parameters["output.W"], "output_W"),
        numpy_helper.from_array(parameters["output.b"], "output_b"),
        numpy_helper.from_array(numpy.array([1], numpy.int64), "squeeze_axes"),
    ]
    inputs = []
    nodes = []
    concatenated = []
    for name in network.categorical_sizes:
        inputs.append(helper.make_tensor_value_info(input_name(name), TensorProto.INT64, ["T", "B"]))
        initializers.append(numpy_helper.from_array(parameters[f"embedding.{name}"], f"embedding_{name}"))
        nodes.append(helper.make_node("Gather", [f"embedding_{name}", input_name(name)], [f"embedded_{name}"]))
        concatenated.append(f"embedded_{name}")
    if network.continuous_size:
        inputs.append(
            helper.make_tensor_value_info(TIME_FEATURES_INPUT, TensorProto.FLOAT, ["T", "B", network.continuous_size])
        )
        concatenated.append(TIME_FEATURES_INPUT)
    inputs += [
        helper.make_tensor_value_info("initial_h", TensorProto.FLOAT, [1, "B", hidden]),
        helper.make_tensor_value_info("initial_c", TensorProto.FLOAT, [1, "B", hidden]),
        helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
    ]
    nodes += [
        helper.make_node("Concat", concatenated, ["lstm_input"], axis=2),
        helper.make_node(
            "LSTM",
            ["lstm_input", "lstm_W", "lstm_R", "lstm_B", "", "initial_h", "initial_c"],
            ["lstm_Y", "final_h", "final_c"],
            hidden_size=hidden,
        ),
        helper.make_node("Squeeze", ["lstm_Y", "squeeze_axes"], ["hidden_states"]),
        helper.make_node("MatMul", ["hidden_states", "output_W"], ["projected"]),
        helper.make_node("Add", ["projected", "output_b"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["log_probabilities"], axis=-1),
        helper.make_node("TopK", ["log_probabilities", "k"], ["top_log_probabilities", "top_ids"], axis=-1),
    ]
    outputs = [
        helper.make_tensor_value_info("top_log_probabilities", TensorProto.FLOAT, ["T", "B", "K"]),
        helper.make_tensor_value_info("top_ids", TensorProto.INT64, ["T", "B", "K"]),
        helper.make_tensor_value_info("final_h", TensorProto.FLOAT, [1, "B", hidden]),
        helper.make_tensor_value_info("final_c", TensorProto.FLOAT, [1, "B", hidden]),
    ]
    graph = helper.make_graph(nodes, "memories_predictive_lstm", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="memories")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary name and rename, so a reader never sees half a model."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def save_lstm(path: str | Path, network: LSTMNetwork, encoder: FeatureEncoder) -> None:
    """Export ``network`` to ONNX with ``encoder``'s configuration embedded, at ``path``."""
    model = export_network(network)
    metadata = {"format_version": FORMAT_VERSION, "kind": "lstm", "encoder": encoder.to_json()}
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    _write_atomically(Path(path), model.SerializeToString())


def save_markov(path: str | Path, predictor: MarkovPredictor) -> None:
    """Write ``predictor``'s transition table as JSON at ``path``."""
    _write_atomically(Path(path), json.dumps(predictor.to_json()).encode())
