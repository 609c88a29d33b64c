"""Performance monitoring: memory, cpu and io relative to cgroup v2 limits, with host fallbacks."""

from memories.optimization.monitor.monitor import PerformanceMonitor
from memories.optimization.monitor.sampler import PerformanceMetrics

__all__ = ["PerformanceMetrics", "PerformanceMonitor"]
