"""The benchmark scenario's components now ship with the package, in
`livenode.bench.components` (so an installed node can run ``livenode bench``); this
module keeps the old import path ``bench_components:...`` working for configs that
name it (with ``benchmarks/`` on ``PYTHONPATH``)."""

from livenode.bench.components import (
    EntryStampedSimDataClientFactory,
    QuoteReactor,
    QuoteReactorConfig,
    RateProbe,
    RateProbeConfig,
)

__all__ = [
    "EntryStampedSimDataClientFactory",
    "QuoteReactor",
    "QuoteReactorConfig",
    "RateProbe",
    "RateProbeConfig",
]
