"""Offline training of the LSTM predictor: the numpy network (:mod:`.network`), the optimisation loop
(:mod:`.loop`), the pipeline from an access log to a trained model (:mod:`.fit`) and the export to an
ONNX model file (:mod:`.export`). The agent never imports this package."""
