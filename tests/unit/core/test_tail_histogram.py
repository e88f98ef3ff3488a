"""`TailHistogram`: the samples a hot path appended to a bounded deque, recorded at
read time, each once; the ones the deque dropped between two reads counted as lost."""

from __future__ import annotations

from collections import deque

from livenode.core.latency import TailHistogram


def test_each_sample_is_recorded_once_across_reads() -> None:
    samples: deque[int] = deque(maxlen=100)
    tail = TailHistogram()
    appended = 0
    for ns in (1_000, 2_000, 3_000):
        samples.append(ns)
        appended += 1
    assert tail.catch_up(samples, appended).count == 3
    assert tail.catch_up(samples, appended).count == 3  # nothing new: nothing twice
    samples.append(50_000)
    appended += 1
    histogram = tail.catch_up(samples, appended)
    assert histogram.count == 4 and tail.lost == 0
    assert histogram.summary()["max"] >= 49_000  # the new one, not an old one again


def test_samples_dropped_by_the_deque_between_reads_are_counted_as_lost() -> None:
    samples: deque[int] = deque(maxlen=10)
    tail = TailHistogram()
    for ns in range(1, 26):  # 25 appended, the deque keeps the last 10
        samples.append(ns * 1_000)
    histogram = tail.catch_up(samples, 25)
    assert histogram.count == 10 and tail.lost == 15
    assert histogram.summary()["p50"] >= 15_000  # the newest ten: 16..25 us
