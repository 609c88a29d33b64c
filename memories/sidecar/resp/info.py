"""The INFO reply: the sidecar's state in Redis' ``# Section`` / ``field:value`` text format."""

from __future__ import annotations

import os
import resource
import time
from typing import TYPE_CHECKING, Protocol

from memories import __version__

if TYPE_CHECKING:
    from memories.optimization.cache import CacheManager


class _Counters(Protocol):
    started_at: float
    connections_current: int
    connections_total: int
    connections_rejected: int
    protocol_errors: int


def _server(statistics: _Counters) -> dict[str, object]:
    uptime = int(time.time() - statistics.started_at)
    return {
        "redis_version": "7.0.0",
        "memories_version": __version__,
        "redis_mode": "standalone",
        "process_id": os.getpid(),
        "uptime_in_seconds": uptime,
        "uptime_in_days": uptime // 86400,
    }


def _memory() -> dict[str, object]:
    # ru_maxrss is KiB on Linux; the current RSS comes from /proc when available.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    current = peak
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            current = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        pass
    return {"used_memory_rss": current, "used_memory_peak": peak}


def render_info(
    cache: CacheManager,
    statistics: _Counters,
    call_counts: dict[str, int],
    sections: list[str],
) -> str:
    """Return INFO text for ``sections`` (empty, ``all`` or ``everything`` = every section)."""
    stats = cache.stats()
    tiers: dict[str, object] = {}
    for name, tier in stats.tiers.items():
        tiers.update(
            {
                f"{name}_hits": tier.hits,
                f"{name}_misses": tier.misses,
                f"{name}_evictions": tier.evictions,
                f"{name}_entries": tier.entries,
                f"{name}_bytes_used": tier.bytes_used,
                f"{name}_capacity_bytes": tier.capacity_bytes,
            }
        )
    every: dict[str, dict[str, object]] = {
        "server": _server(statistics),
        "clients": {"connected_clients": statistics.connections_current},
        "memory": _memory(),
        "stats": {
            "total_connections_received": statistics.connections_total,
            "rejected_connections": statistics.connections_rejected,
            "total_commands_processed": sum(call_counts.values()),
            "total_protocol_errors": statistics.protocol_errors,
            "keyspace_hits": stats.hits,
            "keyspace_misses": stats.misses,
            "cache_hit_rate": f"{stats.hit_rate:.4f}",
        },
        "cache": tiers,
        "commandstats": {f"cmdstat_{name}": f"calls={calls}" for name, calls in sorted(call_counts.items())},
        "keyspace": {"db0": f"keys={len(cache)},expires=0,avg_ttl=0"},
    }
    wanted = [section for section in sections if section not in ("all", "everything", "default")]
    chosen = wanted or list(every)
    lines: list[str] = []
    for section in chosen:
        fields = every.get(section)
        if fields is None:
            continue
        lines.append(f"# {section.capitalize()}")
        lines.extend(f"{key}:{value}" for key, value in fields.items())
        lines.append("")
    return "\r\n".join(lines)
