"""The collector-pause watch: every collection while installed is timed, by
generation; none after it is removed."""

from __future__ import annotations

import gc

from livenode.core.gc_pauses import GcPauses


def test_collections_are_timed_by_generation_while_installed() -> None:
    pauses = GcPauses()
    pauses.install()
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle  # one unreachable list for the collections to find
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
    assert summary["collected"] >= 1
    assert summary["generations"]["2"]["max"] >= summary["generations"]["2"]["p50"] > 0
    assert pauses._on_gc not in gc.callbacks


async def test_the_freezer_freezes_survivors_and_counts_the_cycles_it_kept() -> None:
    import asyncio

    from livenode.core.gc_pauses import SurvivorFreezer

    loop = asyncio.get_running_loop()
    freezer = SurvivorFreezer(loop, 0.01)
    cycle: list[object] = []
    cycle.append(cycle)  # alive at the freezes, garbage after them
    freezer.start()
    try:
        while freezer.refreezes < 2:
            await asyncio.sleep(0.005)
        assert gc.get_freeze_count() > 0
        del cycle  # a frozen cycle: no collection reaches it until the unfreeze
        gc.collect()  # other garbage may be found here; the frozen cycle cannot be
    finally:
        freezer.stop()
    assert freezer.kept_by_freeze is not None and freezer.kept_by_freeze >= 1
    assert gc.get_freeze_count() == 0
    assert freezer._handle is None  # no further freeze is scheduled


def test_a_freezer_with_interval_0_never_freezes() -> None:
    from livenode.core.gc_pauses import SurvivorFreezer

    freezer = SurvivorFreezer(None, 0.0)
    freezer.start()
    freezer.stop()
    assert freezer.refreezes == 0 and freezer.kept_by_freeze is None
