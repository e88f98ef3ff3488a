"""Pauses of CPython's cyclic garbage collector, measured in the process that runs.

A collection stops the whole interpreter: on a node's hot path a collection of the
oldest generation over a large heap is a latency spike of tens of milliseconds.
The node freezes its start-up heap (`Kernel.freeze_heap`: `gc.collect()` then
`gc.freeze()`), and its messages are acyclic msgspec structs (``gc=False`` where
they hold no containers), so what is left to collect is small; this watch proves
it. It times every collection through ``gc.callbacks`` (one call at the start and
one at the end of a collection, none per allocation) into a histogram per
generation.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from livenode.core.latency import LatencyHistogram

__all__ = ["GcPauses", "SurvivorFreezer"]

#: A pause longer than this on a trading path is worth counting on its own.
LONG_PAUSE_NS = 5_000_000


class GcPauses:
    """Times the collections of this process while installed.

    Owned by the node (installed at its start, removed at its disposal): the
    callback list is the interpreter's, so exactly one watch per process.
    """

    __slots__ = ("_started", "collected", "histograms", "long_pauses", "max_ns")

    def __init__(self) -> None:
        self.histograms = [LatencyHistogram() for _ in range(3)]
        self.long_pauses = 0
        self.max_ns = 0
        # Unreachable objects the collections found: cyclic garbage (0 means the
        # collections only cost time).
        self.collected = 0
        self._started = 0

    def install(self) -> None:
        """Start timing collections (idempotent)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def remove(self) -> None:
        """Stop timing collections (idempotent)."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
            return
        pause = time.perf_counter_ns() - self._started
        self.histograms[info["generation"]].record(pause)
        self.collected += info["collected"]
        if pause > self.max_ns:
            self.max_ns = pause
        if pause > LONG_PAUSE_NS:
            self.long_pauses += 1

    def summary(self) -> dict[str, Any]:
        """Collections and pause percentiles (ns) per generation, the longest pause,
        how many pauses were over 5 ms, and how many unreachable objects they found."""
        return {
            "generations": {str(gen): h.summary() for gen, h in enumerate(self.histograms)},
            "max_ns": self.max_ns,
            "over_5ms": self.long_pauses,
            "collected": self.collected,
            "frozen_objects": gc.get_freeze_count(),
        }


class SurvivorFreezer:
    """Keeps the collector's generations small while the node runs.

    Every `interval` seconds: a young collection (generations 0 and 1, bounded by
    their thresholds: about a millisecond) then ``gc.freeze()``, which moves every
    survivor out of the collector's reach. The orders, positions and events a node
    keeps would otherwise age into generation 2, and its collections scan them all
    (50-59 ms measured, docs/benchmarks.md). Frozen objects are still freed by their
    reference counts; only a cycle that was alive at a freeze and dies later is
    never collected. `stop` unfreezes and runs one full collection, and its count of
    unreachable objects is exactly what the freezes kept: reported in the summary
    (``gc.{process}.kept_by_freeze``), so a strategy that builds cycles shows.
    """

    __slots__ = ("_handle", "_loop", "interval", "kept_by_freeze", "refreezes")

    def __init__(self, loop: Any, interval: float) -> None:
        self._loop = loop
        self.interval = interval
        self._handle: Any = None
        self.refreezes = 0
        self.kept_by_freeze: int | None = None

    def start(self) -> None:
        """Freeze the survivors every `interval` seconds from now (0: never)."""
        if self.interval > 0 and self._handle is None:
            self._handle = self._loop.call_later(self.interval, self._refreeze)

    def _refreeze(self) -> None:
        gc.collect(1)
        gc.freeze()
        self.refreezes += 1
        self._handle = self._loop.call_later(self.interval, self._refreeze)

    def stop(self) -> None:
        """Stop freezing; if it ever froze, unfreeze and count what it kept alive."""
        if self._handle is None:
            return
        self._handle.cancel()
        self._handle = None
        gc.unfreeze()
        self.kept_by_freeze = gc.collect()
