"""`LatencyHistogram.cumulative_counts`: Prometheus buckets from an HdrHistogram."""

from __future__ import annotations

import random

from livenode.core.latency import HIGHEST_NS, LatencyHistogram


def test_cumulative_counts_match_the_recorded_values() -> None:
    rng = random.Random(7)
    h = LatencyHistogram()
    values = [int(rng.lognormvariate(11, 1.5)) for _ in range(3000)] + [999, 1000, 10**9]
    for v in values:
        h.record(v)
    bounds = [1000, 5000, 50_000, 1_000_000, 10**9, HIGHEST_NS]
    cumulative, total = h.cumulative_counts(bounds)
    # Against hdrh's own walk over the recorded values (each at its bucket's top).
    expected = [0] * len(bounds)
    expected_total = 0
    for item in h._h.get_recorded_iterator():
        value, count = item.value_iterated_to, item.count_added_in_this_iter_step
        expected_total += value * count
        for i, bound in enumerate(bounds):
            if value <= bound:
                expected[i] += count
    assert cumulative == expected
    assert total == expected_total
    # Exact below 2048 ns (one slot per ns), within 0.1 % above.
    assert cumulative[0] == sum(1 for v in values if v <= 1000)
    assert cumulative[-1] == h.count == len(values)
    assert abs(total - sum(values)) < 0.001 * sum(values)


def test_an_empty_histogram_has_empty_buckets() -> None:
    assert LatencyHistogram().cumulative_counts([1000, 10**6]) == ([0, 0], 0)
