"""The kopf operator: reconciles CachePolicy, MemoryPool and CompressionProfile into sidecar agents.

Handlers (``handlers.py``) stay thin: they call pure functions that render the sidecar's config
(``render.py``) and build the pod patch (``injection.py``), which are tested without an API server.
"""
