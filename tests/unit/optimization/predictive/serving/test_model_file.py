from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import onnx
import pytest

from memories.errors import ModelError
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.records import AccessColumns, AccessRecord
from memories.optimization.predictive.serving.lstm_predictor import LstmPredictor
from memories.optimization.predictive.serving.model_file import load_predictor
from memories.optimization.predictive.training.export import save_lstm, save_markov
from memories.optimization.predictive.training.fit import train_lstm
from memories.optimization.predictive.training.network import LSTMConfig

if TYPE_CHECKING:
    from tests.unit.optimization.predictive.conftest import PeriodicLog


def test_lstm_round_trip_predicts_the_same(tmp_path: Path, tiny_config: LSTMConfig, periodic_log: PeriodicLog) -> None:
    columns = AccessColumns.from_records(periodic_log(4, 40))
    trained = train_lstm(columns, features=["time"], epochs=3, target="key", config=tiny_config, progress=False)
    path = tmp_path / "model.onnx"
    save_lstm(path, trained.network, trained.encoder)
    loaded = load_predictor(path)
    assert isinstance(loaded, LstmPredictor)
    for record in list(columns.records())[:6]:
        loaded.observe(record)
    assert loaded.predict(1)[0][0] == "k2"


def test_markov_round_trip(tmp_path: Path) -> None:
    predictor = MarkovPredictor()
    predictor.train(["a", "b", "a", "b"])
    save_markov(tmp_path / "markov.onnx", predictor)
    loaded = load_predictor(tmp_path / "markov.onnx")
    assert isinstance(loaded, MarkovPredictor)
    loaded.observe(AccessRecord("a", 0.0))
    assert loaded.predict(1)[0][0] == "b"


def test_missing_model_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_predictor(tmp_path / "absent.onnx")


def test_garbage_bytes_are_model_error(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00\xffnot a protobuf at all" * 10)
    with pytest.raises(ModelError, match=str(path)):
        load_predictor(path)


def test_foreign_onnx_model_is_model_error(tmp_path: Path) -> None:
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "foreign",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "foreign.onnx"
    onnx.save(onnx.helper.make_model(graph), path)
    with pytest.raises(ModelError, match="not a memories predictor"):
        load_predictor(path)


def test_truncated_lstm_file_is_model_error(tmp_path: Path, tiny_config: LSTMConfig, periodic_log: PeriodicLog) -> None:
    columns = AccessColumns.from_records(periodic_log(4, 10))
    trained = train_lstm(columns, features=[], epochs=1, target="key", config=tiny_config, progress=False)
    path = tmp_path / "model.onnx"
    save_lstm(path, trained.network, trained.encoder)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ModelError):
        load_predictor(path)
