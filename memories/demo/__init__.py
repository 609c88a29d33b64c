"""``memories demo``: a tour of the engine on an embedded, generated dataset."""
