"""memories optimizer: an operator and sidecar agent that bring caching, pooling,
compression, deduplication and predictive prefetch to Kubernetes workloads.

The engine lives in :mod:`memories.optimization`; the agent in :mod:`memories.sidecar`;
the Kubernetes operator in :mod:`memories.operator`.
"""

__version__ = "0.1.0"
