"""The RESP batch latency histogram."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from memories.sidecar.resp.state import LatencyHistogram


def test_observation_lands_in_the_first_bucket_at_or_above_it() -> None:
    histogram = LatencyHistogram((0.001, 0.01))
    histogram.observe(0.001)
    histogram.observe(0.005)
    histogram.observe(5.0)
    assert histogram.cumulative() == [("0.001", 1), ("0.01", 2), ("+Inf", 3)]


def test_sum_adds_the_observed_seconds() -> None:
    histogram = LatencyHistogram()
    histogram.observe(0.25)
    histogram.observe(0.5)
    assert histogram.sum == 0.75


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=10), max_size=30))
def test_cumulative_counts_match_a_direct_count(observations: list[float]) -> None:
    histogram = LatencyHistogram()
    for seconds in observations:
        histogram.observe(seconds)
    for bound, count in histogram.cumulative():
        limit = float("inf") if bound == "+Inf" else float(bound)
        assert count == sum(1 for seconds in observations if seconds <= limit)
