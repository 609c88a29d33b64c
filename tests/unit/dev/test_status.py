"""The `memories dev` table: policy rows from kubectl JSON, hit rates from Prometheus text."""

from __future__ import annotations

from memories.dev.status import PolicyRow, hit_rates, policy_rows, render_table

METRICS = """# HELP memories_cache_hits_total Cache hits.
# TYPE memories_cache_hits_total counter
memories_cache_hits_total{tier="l1"} 90.0
memories_cache_hits_total{tier="l2"} 0.0
memories_cache_misses_total{tier="l1"} 10.0
memories_cache_misses_total{tier="l2"} 10.0
memories_cache_misses_total{tier="l3"} 0.0
"""


def test_hit_rates_per_tier_skip_tiers_without_traffic() -> None:
    assert hit_rates(METRICS) == {"l1": 0.9, "l2": 0.0}


def test_policy_rows_read_ready_condition_and_counts() -> None:
    listing = {
        "items": [
            {
                "metadata": {"namespace": "b", "name": "web"},
                "status": {"injectedPods": 2, "matchedPods": 3,
                           "conditions": [{"type": "Ready", "status": "False", "reason": "MemoryPoolNotFound"}]},
            },
            {"metadata": {"namespace": "a", "name": "new"}},
        ]
    }  # fmt: skip
    assert policy_rows(listing) == [
        PolicyRow("a", "new", "Unknown", "", 0, 0),
        PolicyRow("b", "web", "False", "MemoryPoolNotFound", 3, 2),
    ]


def test_table_says_when_there_is_no_traffic() -> None:
    assert render_table([], {}).endswith("local sidecar hit rate: no traffic yet")
