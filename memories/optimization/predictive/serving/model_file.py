"""Model files: load a trained predictor (files are written by :mod:`memories.optimization.predictive.training.export`).

- LSTM: an ONNX file; the feature configuration and vocabularies are JSON in the model's
  ``metadata_props`` under ``memories.predictive`` (one file, nothing to keep in sync). It is read
  through onnxruntime alone: the ``onnx`` package is not needed to serve.
- Markov: a JSON file (whatever its suffix) with ``{"kind": "markov", "successors": ...}``.

Loading a missing, truncated or foreign file raises ModelError with the path and the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

from memories.errors import ModelError
from memories.optimization.predictive.features import FeatureEncoder
from memories.optimization.predictive.markov import MarkovPredictor
from memories.optimization.predictive.serving.inference import OnnxSequenceModel
from memories.optimization.predictive.serving.lstm_predictor import LstmPredictor

METADATA_KEY = "memories.predictive"
FORMAT_VERSION = 1

Predictor = LstmPredictor | MarkovPredictor


def load_predictor(path: str | Path) -> Predictor:
    """Load a model file written by ``save_lstm`` or ``save_markov``. Raises ModelError."""
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
        model = OnnxSequenceModel(data)
    except ModelError as error:
        raise ModelError(f"model file {path}: not a memories predictor ONNX model ({error})") from None
    properties = model.metadata()
    if METADATA_KEY not in properties:
        raise ModelError(f"model file {path}: ONNX model without '{METADATA_KEY}' metadata (not a memories predictor)")
    try:
        metadata = json.loads(properties[METADATA_KEY])
    except ValueError:
        raise ModelError(f"model file {path}: metadata is not JSON") from None
    if not isinstance(metadata, dict) or metadata.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"model file {path}: unsupported model format version (expected {FORMAT_VERSION})")
    encoder = FeatureEncoder.from_json(metadata.get("encoder"))
    return LstmPredictor(encoder, model)
