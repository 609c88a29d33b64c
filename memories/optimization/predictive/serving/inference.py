"""Inference through onnxruntime: step an exported model one access (or a chunk) at a time."""

from __future__ import annotations

import numpy
import onnxruntime

from memories.errors import ModelError

State = tuple[numpy.ndarray, numpy.ndarray]

#: Graph input names shared with the exporter (``training.export``): ``<name>_ids`` per categorical input.
TIME_FEATURES_INPUT = "time_features"


def input_name(categorical: str) -> str:
    """Graph input name of categorical input ``categorical`` (e.g. ``key_ids``)."""
    return f"{categorical}_ids"


class OnnxSequenceModel:
    """An onnxruntime session over a model from :func:`export_network`, with its LSTM state shape."""

    def __init__(self, model_bytes: bytes, *, threads: int = 1) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(
                model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors for bad graphs
            raise ModelError(f"onnxruntime cannot load the model: {error}") from None
        names = {value.name: value for value in self.session.get_inputs()}
        if "initial_h" not in names or "k" not in names:
            raise ModelError("model graph lacks the initial_h/k inputs of a memories predictor")
        self._metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.hidden_size = int(names["initial_h"].shape[2])
        self.input_names = set(names)

    def metadata(self) -> dict[str, str]:
        """The model's ``metadata_props`` (key → text)."""
        return dict(self._metadata)

    def zero_state(self, batch: int = 1) -> State:
        """Return zero (h, c), each ``[1, batch, hidden]`` float32."""
        shape = (1, batch, self.hidden_size)
        return numpy.zeros(shape, numpy.float32), numpy.zeros(shape, numpy.float32)

    def run(
        self,
        categorical: dict[str, numpy.ndarray],
        continuous: numpy.ndarray | None,
        state: State,
        k: int,
    ) -> tuple[numpy.ndarray, numpy.ndarray, State]:
        """Feed ``[T, B]`` ids (time-major) from ``state``; return top-k log-probabilities, ids ``[T,B,k]``, new state."""
        feeds: dict[str, numpy.ndarray] = {
            input_name(name): numpy.ascontiguousarray(ids, dtype=numpy.int64) for name, ids in categorical.items()
        }
        if TIME_FEATURES_INPUT in self.input_names:
            if continuous is None:
                raise ModelError("the model expects time features")
            feeds[TIME_FEATURES_INPUT] = numpy.ascontiguousarray(continuous, dtype=numpy.float32)
        feeds["initial_h"], feeds["initial_c"] = state
        feeds["k"] = numpy.array([k], numpy.int64)
        log_probabilities, ids, final_h, final_c = self.session.run(None, feeds)
        return log_probabilities, ids, (final_h, final_c)
