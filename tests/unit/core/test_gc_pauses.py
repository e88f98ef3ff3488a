"""The collector-pause watch: every collection while installed is timed, by
generation; none after it is removed."""

from __future__ import annotations

import gc

from livenode.core.gc_pauses import GcPauses


def test_collections_are_timed_by_generation_while_installed() -> None:
    pauses = GcPauses()
    pauses.install()
    pauses.install()  # idempotent: one callback, each collection counted once
    try:
        gc.collect(0)
        gc.collect(2)
        gc.collect(2)
    finally:
        pauses.remove()
    gc.collect(2)  # not counted any more
    summary = pauses.summary()
    counts = {gen: figures["count"] for gen, figures in summary["generations"].items()}
    # Automatic collections may run in between; the explicit ones are all there.
    assert counts["0"] >= 1 and counts["2"] == 2, counts
    assert summary["max_ns"] > 0
    assert summary["generations"]["2"]["max"] >= summary["generations"]["2"]["p50"] > 0
    assert pauses._on_gc not in gc.callbacks
