"""What the agent runs: load a model file, predict the next accesses, prefetch them into a cache.

Nothing here imports the training code (numpy LSTM, ONNX export, the ``onnx`` package);
``tests/unit/optimization/predictive/test_import_graph.py`` checks it.
"""
