"""Latency histograms (HdrHistogram): record nanoseconds, read percentiles, merge.

One histogram per measured path (a bus hop, tick-to-trade): constant memory
whatever the count, 3 significant digits from 1 ns to an hour, mergeable across
workers (`encode` / `decode` / `merge`). Costs in CPython (hdrhistogram 0.10, timeit
on this project's 2-core host, load average 2): recording 1.1-2.0 us, so hot paths
sample 1 in N; reading the percentiles (`summary`) about 1 ms and `encode` about
0.1 ms, so a worker ships encoded histograms and the supervisor reads them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hdrh.histogram import HdrHistogram

__all__ = ["HIGHEST_NS", "PERCENTILES", "EncodedHistograms", "LatencyHistogram", "TailHistogram"]

HIGHEST_NS = 3_600_000_000_000  # one hour: anything slower is recorded as an hour
#: The percentiles every summary carries (name -> percentile).
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9}


class LatencyHistogram:
    """Nanosecond latencies with 3 significant digits."""

    __slots__ = ("_h",)

    def __init__(self) -> None:
        self._h = HdrHistogram(1, HIGHEST_NS, 3)

    @property
    def count(self) -> int:
        """How many values were recorded."""
        return int(self._h.get_total_count())

    def record(self, ns: int) -> None:
        """Record one latency (clamped to 1 ns .. `HIGHEST_NS`: clocks of two
        processes can disagree by a little, never by a negative hop)."""
        self._h.record_value(1 if ns < 1 else HIGHEST_NS if ns > HIGHEST_NS else ns)

    def summary(self) -> dict[str, int]:
        """``count``, ``p50`` .. ``p99.9`` and ``max`` in nanoseconds (empty: count 0)."""
        h = self._h
        out = {"count": self.count}
        if out["count"]:
            for name, pct in PERCENTILES.items():
                out[name] = int(h.get_value_at_percentile(pct))
            out["max"] = int(h.get_max_value())
        return out

    def cumulative_counts(self, bounds_ns: list[int]) -> tuple[list[int], int]:
        """How many values are at most each of `bounds_ns` (ascending), and the sum
        of all values (ns): what a Prometheus histogram exports. A value counts as
        its HdrHistogram bucket's highest equivalent value (3 significant digits).

        Reads the counts array with C-level slicing and `itertools.compress` (about
        1 ms): hdrh's own recorded-value iterator walks every slot in Python (~50 ms).
        """
        h = self._h
        counts = list(h.counts[: h.counts_len])
        last = len(counts)
        cumulative: list[int] = []
        start, running = 0, 0
        for bound in bounds_ns:
            if bound >= HIGHEST_NS:
                end = last
            else:
                index = h.get_counts_array_index(bound)
                # The slot holding `bound` is at most `bound` only when `bound` is
                # its highest equivalent value.
                end = index + 1 if h.get_highest_equivalent_value(bound) == bound else index
                end = min(max(end, start), last)
            running += sum(counts[start:end])
            cumulative.append(running)
            start = end
        total = sum(
            counts[i] * h.get_highest_equivalent_value(h.get_value_from_index(i))
            for i in itertools.compress(range(last), counts)
        )
        return cumulative, total

    def merge(self, other: LatencyHistogram) -> None:
        """Add `other`'s values to this one."""
        self._h.add(other._h)

    def encode(self) -> bytes:
        """The compressed, base64 form (HdrHistogram's own), to send or store."""
        encoded: bytes = self._h.encode()
        return encoded

    @classmethod
    def decode(cls, data: bytes) -> LatencyHistogram:
        """A histogram from `encode`'s output."""
        histogram = cls()
        histogram._h = HdrHistogram.decode(data)
        return histogram


class EncodedHistograms:
    """The encoded form of named histograms, to ship: a histogram is encoded again
    only when it recorded something since (encoding costs ~0.1 ms each)."""

    __slots__ = ("_counts", "encoded")

    def __init__(self) -> None:
        self.encoded: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def refresh(self, histograms: dict[str, LatencyHistogram]) -> dict[str, str]:
        """Bring `encoded` up to date with `histograms` and return it."""
        for name, histogram in histograms.items():
            count = histogram.count
            if self._counts.get(name) != count:
                self._counts[name] = count
                self.encoded[name] = histogram.encode().decode("ascii")
        return self.encoded


class TailHistogram:
    """A histogram of every sample a hot path appends to a bounded sequence, filled at
    read time: the hot path pays one append (recording costs 1-2 us), and the samples
    that fell out of the sequence before a read are counted as lost, not guessed."""

    __slots__ = ("_seen", "histogram", "lost")

    def __init__(self) -> None:
        self.histogram = LatencyHistogram()
        self.lost = 0  # samples appended and dropped by the sequence between two reads
        self._seen = 0

    def catch_up(self, samples: Sequence[int], appended: int) -> LatencyHistogram:
        """Record the samples appended since the last call: `appended` is how many
        were ever appended to `samples` (whose newest are last); return the histogram."""
        new = appended - self._seen
        if new <= 0:
            return self.histogram
        kept = min(new, len(samples))
        self.lost += new - kept
        record = self.histogram.record
        for ns in itertools.islice(reversed(samples), kept):  # newest first: order is moot
            record(ns)
        self._seen = appended
        return self.histogram
