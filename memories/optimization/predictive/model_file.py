"""Model files: save and load trained predictors.

- LSTM: an ONNX file; the feature configuration and vocabularies are JSON in the model's
  ``metadata_props`` under ``memories.predictive`` (one file, nothing to keep in sync).
- Markov: a JSON file (whatever its suffix) with ``{"kind": "markov", "successors": ...}``.

Loading a missing, truncated or foreign file raises ModelError with the path and the reason.
Files are written to a temporary name and renamed, so a reader never sees half a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import onnx

from memories.errors import ModelError
from memories.optimization.predictive.features import FeatureEncoder
from memories.optimization.predictive.inference import OnnxSequenceModel
from memories.optimization.predictive.lstm_numpy import LSTMNetwork
from memories.optimization.predictive.lstm_predictor import LstmPredictor
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.onnx_export import export_network

METADATA_KEY = "memories.predictive"
FORMAT_VERSION = 1

Predictor = LstmPredictor | MarkovPredictor


def _write_atomically(path: Path, data: bytes) -> None:
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


def load_predictor(path: str | Path) -> Predictor:
    """Load a model file written by :func:`save_lstm` or :func:`save_markov`. Raises ModelError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model file {path}: not found") from None
    except OSError as error:
        raise ModelError(f"model file {path}: cannot read ({error.strerror})") from None
    if data.lstrip()[:1] == b"{":
        try:
            return MarkovPredictor.from_json(json.loads(data))
        except (ValueError, ModelError) as error:
            raise ModelError(f"model file {path}: not a valid markov model ({error})") from None
    return _load_lstm(path, data)


def _load_lstm(path: Path, data: bytes) -> LstmPredictor:
    try:
        model = onnx.load_from_string(data)
    except Exception as error:  # protobuf raises DecodeError and others for foreign bytes
        raise ModelError(f"model file {path}: not an ONNX model ({type(error).__name__})") from None
    properties = {entry.key: entry.value for entry in model.metadata_props}
    if METADATA_KEY not in properties:
        raise ModelError(f"model file {path}: ONNX model without '{METADATA_KEY}' metadata (not a memories predictor)")
    try:
        metadata = json.loads(properties[METADATA_KEY])
    except ValueError:
        raise ModelError(f"model file {path}: metadata is not JSON") from None
    if not isinstance(metadata, dict) or metadata.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"model file {path}: unsupported model format version (expected {FORMAT_VERSION})")
    encoder = FeatureEncoder.from_json(metadata.get("encoder"))
    try:
        return LstmPredictor(encoder, OnnxSequenceModel(data))
    except ModelError as error:
        raise ModelError(f"model file {path}: {error}") from None
