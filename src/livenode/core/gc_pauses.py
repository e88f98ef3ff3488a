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

__all__ = ["GcPauses"]

#: A pause longer than this on a trading path is worth counting on its own.
LONG_PAUSE_NS = 5_000_000


class GcPauses:
    """Times the collections of this process while installed.

    Owned by the node (installed at its start, removed at its disposal): the
    callback list is the interpreter's, so exactly one watch per process.
    """

    __slots__ = ("_started", "histograms", "long_pauses", "max_ns")

    def __init__(self) -> None:
        self.histograms = [LatencyHistogram() for _ in range(3)]
        self.long_pauses = 0
        self.max_ns = 0
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
        if pause > self.max_ns:
            self.max_ns = pause
        if pause > LONG_PAUSE_NS:
            self.long_pauses += 1

    def summary(self) -> dict[str, Any]:
        """Collections and pause percentiles (ns) per generation, the longest pause,
        and how many pauses were over 5 ms."""
        return {
            "generations": {str(gen): h.summary() for gen, h in enumerate(self.histograms)},
            "max_ns": self.max_ns,
            "over_5ms": self.long_pauses,
            "frozen_objects": gc.get_freeze_count(),
        }
