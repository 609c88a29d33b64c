"""The live status table of ``memories dev``: policies, their pods, and the local sidecar's hit rates."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_SAMPLE = re.compile(r'^memories_cache_(hits|misses)_total\{[^}]*tier="(\w+)"[^}]*\}\s+([0-9.eE+-]+)$')


@dataclass(frozen=True)
class PolicyRow:
    """One CachePolicy as ``kubectl get memories`` would show it, plus its pod counts."""

    namespace: str
    name: str
    ready: str
    reason: str
    matched_pods: int
    injected_pods: int


def policy_rows(listing: Mapping[str, Any]) -> list[PolicyRow]:
    """Rows from ``kubectl get cachepolicies -A -o json`` output."""
    rows = []
    for item in listing.get("items", []):
        status = item.get("status") or {}
        ready: dict[str, Any] = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), {})
        rows.append(
            PolicyRow(
                namespace=item["metadata"]["namespace"],
                name=item["metadata"]["name"],
                ready=ready.get("status", "Unknown"),
                reason=ready.get("reason", ""),
                matched_pods=int(status.get("matchedPods", 0)),
                injected_pods=int(status.get("injectedPods", 0)),
            )
        )
    return sorted(rows, key=lambda row: (row.namespace, row.name))


def hit_rates(metrics_text: str) -> dict[str, float]:
    """Per-tier hit rate (0..1) from the sidecar's Prometheus text; tiers with no traffic are left out."""
    counts: dict[str, dict[str, float]] = {}
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            kind, tier, value = match.groups()
            counts.setdefault(tier, {}).setdefault(kind, 0.0)
            counts[tier][kind] += float(value)
    return {
        tier: values.get("hits", 0.0) / total
        for tier, values in counts.items()
        if (total := values.get("hits", 0.0) + values.get("misses", 0.0)) > 0
    }


def scrape(url: str) -> str:
    """The text at ``url``, or an empty string if it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, OSError):
        return ""


def render_table(rows: Sequence[PolicyRow], rates: Mapping[str, float]) -> str:
    """The table printed on every refresh."""
    header = f"{'NAMESPACE':<20} {'POLICY':<16} {'READY':<6} {'REASON':<28} {'PODS':>5} {'INJECTED':>9}"
    lines = [header]
    lines += [
        f"{row.namespace:<20} {row.name:<16} {row.ready:<6} {row.reason:<28} {row.matched_pods:>5} {row.injected_pods:>9}"
        for row in rows
    ]
    tiers = ", ".join(f"{tier} {rate:.0%}" for tier, rate in sorted(rates.items())) or "no traffic yet"
    lines.append(f"local sidecar hit rate: {tiers}")
    return "\n".join(lines)
